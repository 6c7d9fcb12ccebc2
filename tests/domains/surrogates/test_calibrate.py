"""Scratch convention, prior transfer and the negative-transfer guard (calibrate.py)."""

import numpy as np
import pytest

from sciPT.domains.surrogates.calibrate import calibrate, scratch_fit, scratch_prior, transfer_prior
from sciPT.domains.surrogates.objectives import GaussianPrior, NoisePrior, fit

NAMES = ["log_C", "Re", "Pr"]


def features(re, pr=0.7):
    re = np.asarray(re, float)
    return np.column_stack([np.ones_like(re), np.log(re), np.log(np.broadcast_to(pr, re.shape))])


def test_scratch_frees_what_the_points_identify_and_holds_the_rest_at_dittus_boelter():
    one = scratch_prior(features([2e4]), NAMES)
    assert one.free.tolist() == [True, False, False]
    assert one.mean[1:].tolist() == [0.8, 0.4]
    two = scratch_prior(features([2e4, 5e4]), NAMES)
    assert two.free.tolist() == [True, True, False]
    # Pr constant: its exponent stays held however many points there are
    many = scratch_prior(features(np.geomspace(1e4, 1e5, 6)), NAMES)
    assert many.free.tolist() == [True, True, False]
    varied = scratch_prior(features(np.geomspace(1e4, 1e5, 6), [0.7, 7, 2, 1, 5, 3]), NAMES)
    assert varied.free.tolist() == [True, True, True]
    # Pr falling exactly as Re rises: the points cannot tell the two exponents apart
    lockstep = scratch_prior(features(np.geomspace(1e4, 1e5, 6), np.geomspace(0.7, 7, 6)[::-1]), NAMES)
    assert lockstep.free.tolist() == [True, True, False]


def test_pr_typed_to_four_digits_in_lock_step_with_re_is_held_not_fitted_to_its_rounding():
    """Pr = 7 (Re/1e4)^-0.3 written to 4 digits: the rounding leaves 2e-4 of log Pr's spread that
    log Re does not explain, which the rank test took for a direction of its own; scratch then
    fitted Re^-29.7 Pr^-101 (the blend kept it at weight 0.27). Held, the law is the data's."""
    re = np.geomspace(1e4, 1e5, 10)
    pr = np.array([float(f"{v:.4g}") for v in 7 * (re / 1e4) ** -0.3])
    X = features(re, pr)
    y = np.log(0.023) + 0.8 * np.log(re) + 0.4 * np.log(pr) + 0.01 * np.sin(np.arange(10))
    assert scratch_prior(X, NAMES).free.tolist() == [True, True, False]
    post = scratch_fit(X, y, NAMES, NoisePrior())
    # b stays at the reference 0.4 (the points say nothing of it); a and log C then fit the line:
    # log Nu = log C + (a - 0.3 b) log Re + const, slope 0.8 - 0.3 * 0.4 = 0.68 by construction
    assert post.mean[2] == pytest.approx(0.4, abs=1e-3)
    assert post.mean[1] == pytest.approx(0.8, abs=0.02)
    assert post.mean[0] == pytest.approx(np.log(0.023), abs=0.25)


def test_a_held_exponent_keeps_the_reference_width_so_intervals_widen_where_it_acts():
    # four points at Pr 0.7: log C and a fitted, b held at 0.4 +- 0.3 (collinear with log C here)
    re = np.geomspace(2e4, 1e5, 4)
    X = features(re)
    y = np.log(0.05) + 0.7 * np.log(re) + 0.4 * np.log(0.7) + np.array([0.01, -0.02, 0.015, -0.005])
    held = scratch_prior(X, NAMES)
    assert np.sqrt(np.diag(held.cov))[1:].tolist() == [0.3, 0.3]
    post = scratch_fit(X, y, NAMES, NoisePrior())
    assert post.mean[2] == pytest.approx(0.4, abs=1e-9)  # the points say nothing about b
    at = features([5e4], [0.7]), features([5e4], [7.0])
    var_same, var_new = (post.predictive_sd(x)[0] ** 2 for x in at)
    # at Pr 7 the variance grows by b's variance times the Pr distance squared, (0.3 log 10)^2
    assert var_new - var_same == pytest.approx((0.3 * np.log(10)) ** 2, rel=1e-6)
    # and the mean moves by the textbook exponent alone
    assert post.predict(at[1])[0] - post.predict(at[0])[0] == pytest.approx(0.4 * np.log(10))


def test_exponent_transfer_frees_log_c_only():
    prior = GaussianPrior(NAMES, [-3.0, 0.76, 0.37], np.diag([2.0, 0.02, 0.004]))
    assert transfer_prior(prior, "exponents").free.tolist() == [True, False, False]
    assert transfer_prior(prior, "all").free.tolist() == [False, False, False]


def _ribbed(n, seed=0):
    rng = np.random.default_rng(seed)
    re = np.geomspace(2e4, 1.5e5, n)
    return features(re), np.log(0.4) + 0.6 * np.log(re) + 0.02 * rng.standard_normal(n)


def test_guard_chooses_scratch_when_the_prior_is_wrong():
    # a confident smooth-pipe prior (a = 0.80 +- 0.02) against a ribbed channel with a = 0.6
    prior = GaussianPrior(NAMES, [np.log(0.023), 0.80, 0.40], np.diag([0.04, 0.02**2, 0.02**2]))
    X, y = _ribbed(5)
    for rule in ("evidence", "loo"):
        cal = calibrate(X, y, NAMES, prior, guard_rule=rule)
        assert cal.guard.choice == "scratch" and cal.guard.rule == rule
        assert cal.chosen is cal.scratch_fit
        assert cal.chosen.mean[1] == pytest.approx(0.6, abs=0.05)
    assert cal.guard.elpd["scratch"] > cal.guard.elpd["prior"]
    assert cal.guard.reason.endswith("the prior hurts (negative transfer)")
    ev = calibrate(X, y, NAMES, prior, guard_rule="evidence").guard
    assert ev.log_evidence["scratch"] > ev.log_evidence["prior"]
    assert ev.reason.endswith("the prior's exponents are contradicted (negative transfer)")


def test_evidence_guard_judges_a_slope_from_two_points():
    # two points 0.02-exact on a = 0.6: a prior at a = 0.80 +- 0.02 is contradicted, one at 0.6 is not
    X, y = features([2e4, 1e5]), np.log(0.4) + 0.6 * np.log([2e4, 1e5])
    wrong = GaussianPrior(NAMES, [np.log(0.023), 0.80, 0.40], np.diag([0.04, 0.02**2, 0.02**2]))
    right = GaussianPrior(NAMES, [np.log(0.4), 0.60, 0.40], np.diag([0.04, 0.02**2, 0.02**2]))
    assert calibrate(X, y, NAMES, wrong, guard_rule="evidence").guard.choice == "scratch"
    assert calibrate(X, y, NAMES, right, guard_rule="evidence").guard.choice == "prior"
    # leave-one-out re-fits scratch on one point with a held exactly at 0.8: it cannot see the slope
    assert calibrate(X, y, NAMES, wrong, guard_rule="loo").guard.choice == "prior"
    # held with the reference width 0.3 instead, the left-out point (0.2 x log 5 off that slope)
    # is plausible to scratch and not to the confident prior
    loo = calibrate(X, y, NAMES, wrong, guard_rule="loo", loo_held="width").guard
    assert loo.choice == "scratch" and loo.elpd["scratch"] > loo.elpd["prior"]


def test_evidence_guard_judges_the_prior_as_transferred_c_included():
    """With transfer all the kept fit holds the prior's C: the guard judges that model, whose
    evidence is the prior-informed fit's own, not the exponents-only one's (which never weighed
    C). Right exponents with a C e times too large: kept under exponents transfer, dropped under
    all, the reason naming the prior, not its exponents."""
    X, y = features([2e4, 5e4, 1e5]), np.log(0.4) + 0.6 * np.log([2e4, 5e4, 1e5])
    off_c = GaussianPrior(NAMES, [np.log(0.4) + 1.0, 0.60, 0.40], np.diag([0.05**2, 0.02**2, 0.02**2]))
    noise = NoisePrior()
    kept = calibrate(X, y, NAMES, off_c, guard_rule="evidence").guard
    assert kept.choice == "prior"
    assert kept.log_evidence["prior"] == fit(X, y, transfer_prior(off_c, "exponents"), noise).log_marginal
    cal = calibrate(X, y, NAMES, off_c, transfer="all", guard_rule="evidence")
    g = cal.guard
    assert g.log_evidence["prior"] == cal.prior_fit.log_marginal
    assert g.log_evidence["prior"] == fit(X, y, transfer_prior(off_c, "all"), noise).log_marginal
    assert g.log_evidence["prior"] < kept.log_evidence["prior"] - 3  # its width widened, not enough
    assert g.log_evidence["scratch"] == kept.log_evidence["scratch"]
    assert g.choice == "scratch" and cal.chosen is cal.scratch_fit
    assert g.reason.endswith("nats): the prior is contradicted (negative transfer)")
    one = calibrate(X[:1], y[:1], NAMES, off_c, transfer="all", guard_rule="evidence").guard
    assert one.choice == "prior" and one.reason == (
        "evidence: one point is absorbed by scratch's C whatever the exponents; the guard does not "
        "judge the prior on one point, and keeps it"
    )


def test_guard_keeps_a_right_prior():
    prior = GaussianPrior(NAMES, [np.log(0.4), 0.6, 0.40], np.diag([0.04, 0.03**2, 0.02**2]))
    X, y = _ribbed(4)
    cal = calibrate(X, y, NAMES, prior, guard_rule="loo")
    assert cal.guard.choice == "prior"
    # four points at one Pr: scratch fits one form with three as with four, so the default corrects
    assert cal.guard.reason.startswith(
        "leave-one-out with Burman's correction to 4 points: the prior-informed fit"
    )
    ev = calibrate(X, y, NAMES, prior, guard_rule="evidence").guard
    assert ev.choice == "prior" and ev.reason.startswith("evidence: the points are at least as probable")


def test_burmans_correction_is_made_where_scratch_keeps_its_form_two_replicates_included():
    """The default corrects where scratch fits the same form without each point as with all: two
    replicates at one Re (C alone either way) are corrected to 2 points; two points at two Re (a
    free slope, then the fixed-slope convention) are not, nor three with two replicates."""
    cases = {
        (3e4, 3e4): "leave-one-out with Burman's correction to 2 points: ",
        (
            3e4,
            6e4,
        ): "leave-one-out (not corrected to 2 points: scratch fits another form without a held-out point): ",
        (
            3e4,
            3e4,
            6e4,
        ): "leave-one-out (not corrected to 3 points: scratch fits another form without a held-out point): ",
        (3e4, 4e4, 6e4): "leave-one-out with Burman's correction to 3 points: ",
    }
    for re, said in cases.items():
        X = features(list(re))
        y = np.log(0.4) + 0.6 * np.log(re) + 0.02 * np.arange(len(re))
        assert calibrate(X, y, NAMES, RIGHT).guard.reason.startswith(said), re


def test_guard_cannot_check_one_point_and_says_so():
    prior = GaussianPrior(NAMES, [np.log(0.023), 0.8, 0.4], np.diag([0.04, 0.02**2, 0.02**2]))
    X, y = _ribbed(1)
    cal = calibrate(X, y, NAMES, prior, guard_rule="loo")
    assert cal.guard.choice == "prior"
    assert cal.guard.reason == (
        "one point leaves nothing to hold out: the guard cannot check the prior, which is kept"
    )
    ev = calibrate(X, y, NAMES, prior, guard_rule="evidence").guard
    assert ev.log_evidence["prior"] == pytest.approx(ev.log_evidence["scratch"])
    assert ev.choice == "prior" and ev.reason.startswith("evidence: one point is absorbed by C")
    # exponents transfer: the single point sets C, the exponents stay at the prior's
    assert cal.prior_fit.mean[1:] == pytest.approx([0.8, 0.4])
    assert cal.prior_fit.predict(X)[0] == pytest.approx(y[0])


def test_blend_mixes_the_two_fits_by_their_leave_one_out_densities():
    prior = GaussianPrior(NAMES, [np.log(0.1), 0.7, 0.40], np.diag([0.04, 0.05**2, 0.02**2]))
    X, y = _ribbed(3)
    cal = calibrate(X, y, NAMES, prior, guard_rule="blend")
    g = cal.guard
    assert g.choice == "blend" and g.rule == "blend"
    # w = exp(ELPD_prior) / (exp(ELPD_prior) + exp(ELPD_scratch)), the same ELPDs loo compares
    w = 1 / (1 + np.exp(g.elpd["scratch"] - g.elpd["prior"]))
    assert g.prior_weight == pytest.approx(w) and 0.01 < w < 0.99
    assert g.elpd == calibrate(X, y, NAMES, prior, guard_rule="loo").guard.elpd
    new = features([5e4, 3e5])
    mixed = w * cal.prior_fit.predict(new) + (1 - w) * cal.scratch_fit.predict(new)
    np.testing.assert_allclose(cal.chosen.predict(new), mixed, rtol=0, atol=1e-12)
    # the mixture's CDF is the weighted sum of the two, so its median lies between theirs
    grid = np.array([cal.prior_fit.quantile(new, 0.5), cal.scratch_fit.quantile(new, 0.5)])
    median = cal.chosen.quantile(new, 0.5)
    assert np.all((median >= grid.min(axis=0) - 1e-9) & (median <= grid.max(axis=0) + 1e-9))
    for x, m in zip(new, median):
        cdf = w * cal.prior_fit.cdf(x[None], [m]) + (1 - w) * cal.scratch_fit.cdf(x[None], [m])
        assert cdf[0] == pytest.approx(0.5, abs=1e-9)
    assert cal.guard.reason.endswith(f"weighted {w:.2f} and scratch {1 - w:.2f} (pseudo-BMA)")
    one = calibrate(*_ribbed(1), NAMES, prior, guard_rule="blend").guard
    assert (one.choice, one.prior_weight, one.rule) == ("prior", 1.0, "blend")
    # a margin handicaps scratch by margin * n nats in the weights (it was read and ignored)
    handicapped = calibrate(X, y, NAMES, prior, guard_rule="blend", margin=0.5).guard
    w = 1 / (1 + np.exp(g.elpd["scratch"] - g.elpd["prior"] - 0.5 * 3))
    assert handicapped.prior_weight == pytest.approx(w) and w > g.prior_weight + 0.01
    assert handicapped.reason.endswith(
        f"weighted {w:.2f} and scratch {1 - w:.2f} (pseudo-BMA; scratch handicapped by the margin, 1.5 nats)"
    )


def test_no_prior_is_scratch_only():
    X, y = _ribbed(3)
    cal = calibrate(X, y, NAMES, None)
    assert cal.prior_fit is None and cal.guard.choice == "scratch"


def test_the_guard_holds_out_one_point_at_a_time_up_to_100_then_ten_folds():
    from sciPT.domains.surrogates.calibrate import held_out_sets, loo

    assert [h.tolist() for h in held_out_sets(3)] == [[0], [1], [2]]
    assert len(held_out_sets(100)) == 100
    folds = held_out_sets(101)
    assert len(folds) == 10 and folds[3].tolist() == list(range(3, 101, 10))
    assert sorted(np.concatenate(folds).tolist()) == list(range(101))  # each point held out once
    rng = np.random.default_rng(0)
    re = np.exp(rng.uniform(np.log(1e4), np.log(1e5), 150))
    X, y = features(re), np.log(0.023 * re**0.8 * 0.7**0.4) + rng.normal(0, 0.05, 150)
    lpd, err = loo(X, y, lambda Xs, ys: scratch_fit(Xs, ys, NAMES, NoisePrior()))
    for held in [held_out_sets(150)[k] for k in (0, 1, 9)]:  # by hand: the fold's fit without its points
        keep = np.setdiff1d(np.arange(150), held)
        post = scratch_fit(X[keep], y[keep], NAMES, NoisePrior())
        np.testing.assert_allclose(lpd[held], post.log_density(X[held], y[held]), rtol=1e-12)
        np.testing.assert_allclose(err[held], post.predict(X[held]) - y[held], rtol=1e-12, atol=1e-15)


# the two right and wrong priors of the tests above, for the guard's numbers and words below
WRONG = GaussianPrior(NAMES, [np.log(0.023), 0.80, 0.40], np.diag([0.04, 0.02**2, 0.02**2]))
RIGHT = GaussianPrior(NAMES, [np.log(0.4), 0.6, 0.40], np.diag([0.04, 0.03**2, 0.02**2]))


def _by_hand_loo(X, y, prior, correction="burman"):
    """Both procedures' held-out log densities and errors, re-run here one point at a time: the
    prior-informed fit (exponents transferred) and scratch with what it cannot fit held exactly;
    with Burman's correction by default, which the guard makes from three points at one Pr."""
    from sciPT.domains.surrogates.calibrate import informed_fit, loo

    informed = transfer_prior(prior, "exponents")
    p = loo(X, y, lambda Xs, ys: informed_fit(Xs, ys, informed, NoisePrior())[0], correction)
    s = loo(X, y, lambda Xs, ys: scratch_fit(Xs, ys, NAMES, NoisePrior(), "exact"), correction)
    return p, s


def test_the_guard_reports_elpd_and_held_out_rmse_of_each_fit():
    """The ELPD and RMSE the report's table shows are the sum of the held-out log densities and the
    root mean square of the held-out errors, each under its own fit's name (an RMSE left squared,
    0.0001 for 0.01, would make scratch look ten times better than it is)."""
    X, y = _ribbed(5)
    for correction in ("burman-same-form", "none"):  # the default corrects five points at one Pr
        (lpd_p, err_p), (lpd_s, err_s) = _by_hand_loo(X, y, WRONG, correction.split("-")[0])
        g = calibrate(X, y, NAMES, WRONG, guard_rule="loo", loo_correction=correction).guard
        assert g.elpd == pytest.approx({"prior": lpd_p.sum(), "scratch": lpd_s.sum()}, rel=1e-12)
        assert g.loo_rmse == pytest.approx(
            {"prior": np.sqrt(np.mean(err_p**2)), "scratch": np.sqrt(np.mean(err_s**2))}, rel=1e-12
        )
    assert g.loo_rmse["prior"] > 0.05 > g.loo_rmse["scratch"]  # the wrong prior is off by more


def test_the_loo_guard_gives_each_number_under_its_own_fits_name():
    """The reason a user reads pairs each ELPD and RMSE with its fit: word for word, scratch's
    first when it wins, the prior's first when it is kept."""
    X, y = _ribbed(5)
    g = calibrate(X, y, NAMES, WRONG, guard_rule="loo").guard
    e, r = g.elpd, g.loo_rmse
    assert g.reason == (
        "leave-one-out with Burman's correction to 5 points: scratch predicts the held-out points "
        "better than the prior-informed fit "
        f"(ELPD {e['scratch']:.2f} vs {e['prior']:.2f} nats, held-out RMSE of log Nu "
        f"{r['scratch']:.3f} vs {r['prior']:.3f}): the prior hurts (negative transfer)"
    )
    X, y = _ribbed(4)
    g = calibrate(X, y, NAMES, RIGHT, guard_rule="loo").guard
    e, r = g.elpd, g.loo_rmse
    assert e["prior"] > e["scratch"] and r["prior"] != pytest.approx(r["scratch"], abs=1e-3)
    assert g.reason == (
        "leave-one-out with Burman's correction to 4 points: the prior-informed fit predicts the held-out "
        f"points at least as well as scratch (ELPD {e['prior']:.2f} vs {e['scratch']:.2f} nats, held-out RMSE of log Nu "
        f"{r['prior']:.3f} vs {r['scratch']:.3f})"
    )


def test_the_blend_reason_gives_each_number_under_its_own_fits_name():
    """The blend's reason, word for word: the prior's ELPD and RMSE first, then scratch's, then the
    weights (a swap reads as the wrong fit predicting better)."""
    X, y = _ribbed(5)
    g = calibrate(X, y, NAMES, WRONG, guard_rule="blend").guard
    e, r, w = g.elpd, g.loo_rmse, g.prior_weight
    assert e["scratch"] > e["prior"] and r["prior"] > r["scratch"]
    assert g.reason == (
        f"leave-one-out with Burman's correction to 5 points: ELPD {e['prior']:.2f} nats for the "
        f"prior-informed fit, {e['scratch']:.2f} "
        f"for scratch (held-out RMSE of log Nu {r['prior']:.3f} vs {r['scratch']:.3f}), so the kept "
        f"model is their mixture with the prior-informed fit weighted {w:.2f} and scratch "
        f"{1 - w:.2f} (pseudo-BMA)"
    )


def test_a_far_wrong_prior_gets_its_tiny_blend_weight_not_a_floor():
    """Scratch beating the prior by ten nats gives the prior a weight of about exp(-10), not a floor
    of about 1e-3: a slope of 2 where the points say 0.6 would otherwise still pull predictions."""
    far = GaussianPrior(NAMES, [np.log(0.023), 2.0, 0.40], np.diag([0.04, 0.02**2, 0.02**2]))
    X, y = _ribbed(3)
    g = calibrate(X, y, NAMES, far, guard_rule="blend").guard
    d = g.elpd["scratch"] - g.elpd["prior"]
    assert d > 10
    assert g.prior_weight == pytest.approx(1 / (1 + np.exp(d)), rel=1e-9)
    assert g.prior_weight < 1e-4 and g.heavier == "scratch"


def test_the_evidence_guard_gives_the_bayes_factor_in_its_reason():
    """The evidence rule's reason, word for word: the factor by which the points are more probable
    under the winner, exp of the log-evidence difference, then both log evidences, the winner's
    first."""
    X, y = _ribbed(5)
    g = calibrate(X, y, NAMES, WRONG, guard_rule="evidence").guard
    ev = g.log_evidence
    factor = np.exp(ev["scratch"] - ev["prior"])
    assert factor > 10  # by hand: a factor, not its log (3.4) nor its inverse
    assert g.reason == (
        f"evidence: the points are {factor:.3g} times more probable under scratch (log evidence "
        f"{ev['scratch']:.2f} vs {ev['prior']:.2f} nats): the prior's exponents are contradicted "
        "(negative transfer)"
    )
    X, y = _ribbed(4)
    g = calibrate(X, y, NAMES, RIGHT, guard_rule="evidence").guard
    ev = g.log_evidence
    factor = np.exp(ev["prior"] - ev["scratch"])
    assert factor > 2
    assert g.reason == (
        "evidence: the points are at least as probable under the prior-informed model (log "
        f"evidence {ev['prior']:.2f} vs {ev['scratch']:.2f} nats for scratch, Bayes factor "
        f"{factor:.3g} for the prior)"
    )


@pytest.mark.parametrize("rule", ["loo", "evidence"])
def test_the_guard_margin_is_in_nats_per_point(rule):
    """Either rule chooses scratch only when its score (ELPD, log evidence) beats the prior's by
    more than ``margin * n`` nats: a margin just above the per-point difference keeps the prior,
    one just below keeps scratch."""
    X, y = _ribbed(5)
    g = calibrate(X, y, NAMES, WRONG, guard_rule=rule).guard
    score = g.elpd if rule == "loo" else g.log_evidence
    d = score["scratch"] - score["prior"]
    # scratch wins at margin 0 by d nats over n = 5 points, so d / 5 nats per point: a margin of
    # 1.01 d / 5 asks for 1.01 d nats (prior kept), 0.99 d / 5 for 0.99 d (scratch kept); d / 5 < d,
    # so a margin read as total nats would keep scratch at both
    assert g.choice == "scratch" and d > 0
    above = calibrate(X, y, NAMES, WRONG, guard_rule=rule, margin=1.01 * d / 5).guard
    below = calibrate(X, y, NAMES, WRONG, guard_rule=rule, margin=0.99 * d / 5).guard
    assert above.choice == "prior" and below.choice == "scratch"
    if rule == "loo":
        assert above.elpd == pytest.approx(g.elpd)


def test_the_reason_names_ten_fold_cross_validation_only_above_100_points():
    """At 100 points the guard still leaves one out, and says so; above, it says it used folds."""
    from sciPT.domains.surrogates.calibrate import held_out_words

    assert held_out_words(100) == "leave-one-out"
    assert held_out_words(101) == "10-fold cross-validation (over 100 points, in place of leave-one-out)"


def test_each_fit_gets_its_own_recalibration_map_and_the_blend_its_own():
    """The intervals a user reads are recalibrated with the map learnt for that kind of fit on that
    many points: the prior-informed fit's, scratch's, and the blend's own (not its members' mean),
    each at n."""
    from sciPT.domains.surrogates.objectives import LEVELS
    from sciPT.domains.surrogates.recalibration import IntervalRecalibration

    def maps(scale):  # a distinct map per kind and per number of points
        return {n: np.clip(LEVELS * scale * (1 + 0.01 * n), 0, 0.999) for n in range(1, 6)}

    recal = IntervalRecalibration({"prior": maps(0.9), "scratch": maps(0.8), "blend": maps(0.7)})
    X, y = _ribbed(3)
    cal = calibrate(X, y, NAMES, RIGHT, guard_rule="blend", recalibration=recal)
    np.testing.assert_array_equal(cal.prior_fit.level_map, recal.maps["prior"][3])
    np.testing.assert_array_equal(cal.scratch_fit.level_map, recal.maps["scratch"][3])
    np.testing.assert_array_equal(cal.chosen.level_map, recal.maps["blend"][3])
    # a recalibration stored before the blend had a map: the members' maps mixed by the weights
    old = IntervalRecalibration({"prior": maps(0.9), "scratch": maps(0.8)})
    cal = calibrate(X, y, NAMES, RIGHT, guard_rule="blend", recalibration=old)
    w = cal.guard.prior_weight
    assert 0.01 < w < 0.99
    np.testing.assert_allclose(
        cal.chosen.level_map, w * old.maps["prior"][3] + (1 - w) * old.maps["scratch"][3], rtol=1e-12
    )


def test_the_blends_own_map_is_used_only_for_the_guard_it_was_learnt_for():
    """The blend's map was learnt on the default guard's mixtures (blend rule, default correction,
    no margin). Stacking at weight 1 keeps the prior-informed fit whole: its own map, as the loo
    rule keeping the same fit gets, not the blend's (which gave it 77 % for 90 % where the fit's own
    says 87 %); at 0, scratch's. In between (pseudo-BMA+, or a margin, or another correction), the
    members' maps mixed by the weights; each time the calibration says which."""
    from sciPT.domains.surrogates.objectives import LEVELS
    from sciPT.domains.surrogates.recalibration import IntervalRecalibration

    recal = IntervalRecalibration(
        {
            kind: dict.fromkeys(range(1, 6), np.full(len(LEVELS), v))
            for kind, v in (("prior", 0.87), ("scratch", 0.6), ("blend", 0.77))
        }
    )
    X, y = _ribbed(3)
    default = calibrate(X, y, NAMES, RIGHT, recalibration=recal)
    assert 0 < default.guard.prior_weight < 1 and default.chosen.nominal_level(0.9) == 0.77
    assert default.level_map_from == "the blend's own map, learnt on the default guard's blends"
    stacked = calibrate(X, y, NAMES, RIGHT, guard_rule="stacking", recalibration=recal)
    assert stacked.guard.prior_weight == 1.0 and stacked.chosen.nominal_level(0.9) == 0.87
    assert stacked.level_map_from == "the prior-informed fit's own map"
    assert (
        calibrate(X, y, NAMES, RIGHT, guard_rule="loo", recalibration=recal).chosen.nominal_level(0.9) == 0.87
    )
    dropped = calibrate(X, y, NAMES, WRONG, guard_rule="stacking", recalibration=recal)
    assert dropped.guard.prior_weight == 0.0 and dropped.chosen.nominal_level(0.9) == 0.6
    assert dropped.level_map_from == "the scratch fit's own map"
    for kw in ({"guard_rule": "pseudo-bma+"}, {"margin": 0.2}, {"loo_correction": "none"}):
        cal = calibrate(X, y, NAMES, RIGHT, recalibration=recal, **kw)
        w = cal.guard.prior_weight
        assert 0.01 < w < 0.99
        assert cal.chosen.nominal_level(0.9) == pytest.approx(w * 0.87 + (1 - w) * 0.6, rel=1e-12)
        assert cal.level_map_from == (
            f"the mean of the prior-informed and scratch fits' maps weighted as the fits ({w:.2f} and "
            f"{1 - w:.2f}): the blend's own map was learnt on the default guard's blends (blend rule, "
            "burman-same-form correction, no margin), not on this guard's"
        )


def test_a_ratio_exponent_scratch_cannot_fit_is_held_at_zero_with_the_group_width():
    """A geometric ratio constant over the points: scratch holds its exponent at 0 (no effect) with
    the reference width 0.5, so a prediction at another ratio widens but does not move."""
    X = np.column_stack([features(np.geomspace(2e4, 1e5, 4)), np.full(4, np.log(0.1))])
    held = scratch_prior(X, [*NAMES, "e_Dh"])
    assert held.free.tolist() == [True, True, False, False]
    assert held.mean[3] == 0.0
    assert np.sqrt(held.cov[3, 3]) == pytest.approx(0.5)


def test_a_blend_that_ties_rides_a_correction_on_the_prior():
    """``heavier``: the fit with the larger share, the prior-informed one at an even split."""
    from sciPT.domains.surrogates.calibrate import GuardResult

    assert GuardResult("blend", "", prior_weight=0.5).heavier == "prior"
    assert GuardResult("blend", "", prior_weight=0.49).heavier == "scratch"


def test_a_log_range_above_spread_tol_varies():
    """Pr measured at 0.700 and 0.702 (a log range of 0.003) varies; 0.7000 and 0.7005 (7e-4),
    typed twice with a rounding, does not."""
    from sciPT.domains.surrogates.calibrate import varies

    assert varies(np.log([0.700, 0.702]))
    assert not varies(np.log([0.7000, 0.7005]))
    assert not varies(np.array([]))


def test_a_variable_off_lock_step_by_more_than_collinear_tol_is_freed():
    """Pr falling as Re^-0.3 with a wiggle: scratch frees its exponent once what log Re (and log C)
    leave of log Pr exceeds COLLINEAR_TOL (1e-3) of its spread, and holds it below. The fractions
    are computed here by least squares: a wiggle of 5e-4 leaves 2.0e-3, one of 5e-5 leaves 2.0e-4."""
    re = np.geomspace(1e4, 1e5, 6)
    A = np.column_stack([np.ones(6), np.log(re)])
    for wiggle, freed in ((5e-4, True), (5e-5, False)):
        log_pr = np.log(7) - 0.3 * np.log(re / 1e4) + wiggle * np.array([1, -1, 1, -1, 1, -1])
        left = log_pr - A @ np.linalg.lstsq(A, log_pr, rcond=None)[0]
        fraction = np.linalg.norm(left) / np.linalg.norm(log_pr - log_pr.mean())
        assert (fraction > 1e-3) == freed and 1e-4 < fraction < 1e-2
        assert scratch_prior(features(re, np.exp(log_pr)), NAMES).free.tolist() == [True, True, freed]


def test_no_points_free_nothing():
    """Every free parameter needs a point to pay for it: with none, even log C is held (at the
    reference prior's mean), so scratch's prior is the textbook law with its stated widths."""
    held = scratch_prior(features([]), NAMES)
    assert held.free.tolist() == [False, False, False]
    assert held.mean[1:].tolist() == [0.8, 0.4]


def test_two_points_at_one_re_fit_c_to_their_mean_and_keep_the_textbook_slope():
    """Two points at the same Re and Pr cannot see a slope: scratch frees log C only, and log C
    absorbs whatever a and b are, so the prediction at that Re is the mean of the two log Nu and
    the exponents keep the reference means (a shift in a is paid for exactly by log C)."""
    X = features([3e4, 3e4])
    y = np.log([90.0, 110.0])
    assert scratch_prior(X, NAMES).free.tolist() == [True, False, False]
    post = scratch_fit(X, y, NAMES, NoisePrior())
    assert post.predict(features([3e4]))[0] == pytest.approx(np.mean(y), abs=1e-9)
    assert post.mean[1:] == pytest.approx([0.8, 0.4], abs=1e-9)


def test_calibrate_names_its_bad_arguments_word_for_word():
    """A misspelt rule or held mode is refused before any fit, naming the allowed values (a held
    mode that only the leave-one-out rules read was otherwise accepted by the evidence rule)."""
    X, y = _ribbed(3)
    with pytest.raises(
        ValueError,
        match=r"^guard_rule must be one of \('evidence', 'loo', 'blend', 'pseudo-bma\+', 'stacking'\)$",
    ):
        calibrate(X, y, NAMES, RIGHT, guard_rule="bayes")
    for rule in ("evidence", "loo"):
        with pytest.raises(ValueError, match=r"^loo_held must be one of \('width', 'exact'\)$"):
            calibrate(X, y, NAMES, RIGHT, guard_rule=rule, loo_held="fixed")
    with pytest.raises(ValueError, match=r"^transfer must be one of \('exponents', 'all'\)$"):
        calibrate(X, y, NAMES, RIGHT, transfer="constant")
    for rule in ("evidence", "blend"):
        with pytest.raises(
            ValueError, match=r"^loo_correction must be one of \('none', 'burman', 'burman-same-form'\)$"
        ):
            calibrate(X, y, NAMES, RIGHT, guard_rule=rule, loo_correction="bias")


def test_the_kept_scratch_fit_holds_an_unseen_exponent_with_the_reference_width():
    """Only the guard's leave-one-out re-fits hold an exponent exactly (loo_held); the scratch fit
    calibrate keeps, whose intervals users read, holds b at 0.4 +- 0.3: calibrated at Pr 0.7, its
    predictive variance at Pr 7 is larger by (0.3 log 10)^2, whatever loo_held is."""
    X, y = _ribbed(4)
    for held in ("exact", "width"):
        post = calibrate(X, y, NAMES, RIGHT, guard_rule="loo", loo_held=held).scratch_fit
        var_same, var_new = (post.predictive_sd(features([5e4], pr))[0] ** 2 for pr in (0.7, 7.0))
        assert var_new - var_same == pytest.approx((0.3 * np.log(10)) ** 2, rel=1e-6)


def test_the_blend_counts_the_points_it_was_calibrated_on():
    """The blended posterior is a fit on the same n points as its members (a chained calibration
    and the report read its n)."""
    X, y = _ribbed(3)
    cal = calibrate(X, y, NAMES, RIGHT, guard_rule="blend")
    assert cal.guard.choice == "blend" and cal.chosen is cal.blended
    assert cal.chosen.n == cal.prior_fit.n == cal.scratch_fit.n == 3


@pytest.mark.parametrize("rule", ["loo", "evidence"])
def test_a_tie_keeps_the_prior(rule):
    """Scratch must beat the prior by *more* than margin * n: a margin of exactly d / n (n = 4, so
    d / 4 * 4 == d in floating point) is a tie, and a tie keeps the prior."""
    X, y = _ribbed(4)
    g = calibrate(X, y, NAMES, WRONG, guard_rule=rule).guard
    score = g.elpd if rule == "loo" else g.log_evidence
    d = score["scratch"] - score["prior"]
    assert g.choice == "scratch" and d > 0 and d / 4 * 4 == d
    assert calibrate(X, y, NAMES, WRONG, guard_rule=rule, margin=d / 4).guard.choice == "prior"


def test_a_prior_equal_to_the_reference_prior_has_scratch_s_evidence():
    """The evidence guard compares like with like: both models free log C and integrate the width
    factor kappa under the same hyperprior, so a pre-trained prior that *is* the reference prior
    (exponents N(0.8, 0.3^2), N(0.4, 0.3^2)) has exactly scratch's evidence, a tie, and is kept with
    a Bayes factor of 1."""
    from sciPT.domains.surrogates.calibrate import reference_prior

    X, y = _ribbed(4)
    same = GaussianPrior(NAMES, [np.log(0.023), 0.8, 0.4], np.diag([0.04, 0.3**2, 0.3**2]))
    assert reference_prior(NAMES).cov[1:, 1:] == pytest.approx(same.cov[1:, 1:])
    g = calibrate(X, y, NAMES, same, guard_rule="evidence").guard
    assert g.log_evidence["prior"] == pytest.approx(g.log_evidence["scratch"], rel=0, abs=1e-9)
    assert g.choice == "prior" and g.reason.endswith("nats for scratch, Bayes factor 1 for the prior)")


def test_an_overwhelming_bayes_factor_is_capped_not_printed_as_infinity():
    """300 exact points on a = 0.6 against a prior that holds a = 0.8 exactly: scratch's log
    evidence beats it by far more than 710 nats, past where exp overflows; the reason gives the
    factor capped at e^700, without an overflow warning or an 'inf'."""
    import warnings

    re = np.geomspace(2e4, 1.5e5, 300)
    X, y = features(re), np.log(0.4) + 0.6 * np.log(re) + 0.4 * np.log(0.7)
    held = GaussianPrior(NAMES, [np.log(0.023), 0.8, 0.4], np.zeros((3, 3)), fixed=[False, True, True])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        g = calibrate(X, y, NAMES, held, guard_rule="evidence").guard
    assert g.choice == "scratch" and g.log_evidence["scratch"] - g.log_evidence["prior"] > 710
    assert g.reason.startswith(
        f"evidence: the points are {np.exp(700.0):.3g} times more probable under scratch"
    )
    assert "inf" not in g.reason


def test_no_guard_and_no_prior_say_so():
    """Word for word what the report shows when the guard is off (rule "none", the prior kept with
    all the weight) and when there is no prior (scratch only)."""
    X, y = _ribbed(3)
    off = calibrate(X, y, NAMES, WRONG, guard=False)
    assert (off.guard.choice, off.guard.reason, off.guard.rule) == ("prior", "guard switched off", "none")
    assert off.guard.prior_weight == 1.0 and off.chosen is off.prior_fit
    none = calibrate(X, y, NAMES, None)
    assert none.guard.reason == "no prior was given (--init none)"
    assert none.guard.prior_weight == 0.0 and none.chosen is none.scratch_fit


def test_transfer_keeps_the_prior_s_fixed_exponents_and_frees_a_fixed_log_c():
    """A prior holding b exactly keeps holding it under either transfer; a prior holding log C
    exactly has it freed by the transfer of the exponents (it cannot be free and fixed)."""
    b_held = GaussianPrior(NAMES, [-3.0, 0.76, 0.37], np.diag([2.0, 0.02, 0.0]), fixed=[False, False, True])
    for transfer, free in (("exponents", [True, False, False]), ("all", [False, False, False])):
        t = transfer_prior(b_held, transfer)
        assert t.free.tolist() == free and t.fixed.tolist() == [False, False, True]
    c_held = GaussianPrior(NAMES, [-3.0, 0.76, 0.37], np.diag([0.0, 0.02, 0.004]), fixed=[True, False, False])
    t = transfer_prior(c_held, "exponents")
    assert t.free.tolist() == [True, False, False] and t.fixed.tolist() == [False, False, False]


def test_a_blend_weight_beyond_exp_s_range_is_zero_without_an_overflow():
    """300 exact points on a = 0.6 against a prior holding a = 0.8 exactly: the held-out densities
    (ten folds above 100 points) favour scratch by over 1000 nats, where exp overflows. The prior's
    weight is then below 1e-300 and scratch carries the blend, with no overflow warning."""
    import warnings

    re = np.geomspace(2e4, 1.5e5, 300)
    X, y = features(re), np.log(0.4) + 0.6 * np.log(re) + 0.4 * np.log(0.7)
    held = GaussianPrior(NAMES, [np.log(0.023), 0.8, 0.4], np.zeros((3, 3)), fixed=[False, True, True])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cal = calibrate(X, y, NAMES, held, guard_rule="blend")
    g = cal.guard
    assert g.elpd["scratch"] - g.elpd["prior"] > 710
    assert 0 <= g.prior_weight < 1e-300 and g.heavier == "scratch"
    assert cal.chosen.predict(features([5e4])) == pytest.approx(cal.scratch_fit.predict(features([5e4])))


def test_varies_reads_the_range_not_the_scatter():
    """Five points at Pr 0.7 and one at 0.7011: the log range, 1.57e-3, is above SPREAD_TOL (1e-3),
    so Pr varies, though its standard deviation (5.9e-4) is below it."""
    from sciPT.domains.surrogates.calibrate import SPREAD_TOL, varies

    log_pr = np.log([0.7] * 5 + [0.7011])
    assert np.ptp(log_pr) > SPREAD_TOL > np.std(log_pr)
    assert varies(log_pr)


def test_blend_weights_by_each_rule_match_a_hand_computation():
    """Per-point held-out log densities in nats (prior minus scratch) -> the prior's share."""
    from sciPT.domains.surrogates.calibrate import blend_weight

    zeros = np.zeros(2)
    # pseudo-BMA: the sigmoid of the summed gain, 1 + 2 = 3 nats
    assert blend_weight(np.array([1.0, 2.0]), zeros, "blend") == pytest.approx(1 / (1 + np.exp(-3)))
    # stacking, two points with density ratios r1 = e^2, r2 = e^-1: the slope of sum log(w r + 1 - w)
    # vanishes at w = -(a + b) / (2ab), a = r1 - 1, b = r2 - 1
    a, b = np.e**2 - 1, np.exp(-1) - 1
    w = blend_weight(np.array([2.0, -1.0]), zeros, "stacking")
    assert w == pytest.approx(-(a + b) / (2 * a * b), abs=1e-12) and w == pytest.approx(0.7128, abs=1e-4)
    # symmetric disagreement: one half for every rule
    for rule in ("blend", "stacking"):
        assert blend_weight(np.array([1.0, -1.0]), zeros, rule) == pytest.approx(0.5, abs=1e-12)
    assert blend_weight(np.array([1.0, -1.0]), zeros, "pseudo-bma+") == pytest.approx(0.5, abs=0.01)
    # stacking keeps one fit whole where it predicts every point at least as well (a tie keeps the prior)
    assert blend_weight(np.array([0.3, 0.1]), zeros, "stacking") == 1.0
    assert blend_weight(np.array([-0.3, -0.1]), zeros, "stacking") == 0.0
    assert blend_weight(zeros, zeros, "stacking") == 1.0
    # pseudo-BMA+ reweights the points (weights summing to 1): where each point gains the same, every
    # reweighting gives pseudo-BMA's sum, so the two agree exactly
    same = np.full(3, 0.4)
    assert blend_weight(same, np.zeros(3), "pseudo-bma+") == pytest.approx(1 / (1 + np.exp(-1.2)), abs=1e-12)
    # one point against two: pseudo-BMA follows the sum (-1 nat), pseudo-BMA+ moves towards a half
    split = np.array([-3.0, 1.0, 1.0])
    plain = blend_weight(split, np.zeros(3), "blend")
    plus = blend_weight(split, np.zeros(3), "pseudo-bma+")
    assert plain == pytest.approx(1 / (1 + np.e)) and plain < plus < 0.5
    # the weight is reproducible (a fixed seed), and a margin adds its nats to every point's gain
    assert blend_weight(split, np.zeros(3), "pseudo-bma+") == plus
    assert blend_weight(split, np.zeros(3), "stacking", margin=0.5) == blend_weight(
        split + 0.5, np.zeros(3), "stacking"
    )
    with pytest.raises(
        ValueError,
        match=r"^blend_weight: rule must be one of \('blend', 'pseudo-bma\+', 'stacking'\), got 'loo'$",
    ):
        blend_weight(zeros, zeros, "loo")


@pytest.mark.parametrize(("rule", "words"), [("pseudo-bma+", "pseudo-BMA+"), ("stacking", "stacking")])
def test_the_other_blends_weight_the_same_two_fits_by_their_held_out_densities(rule, words):
    """Pseudo-BMA+ and stacking keep the same mixture as the blend, with the weight their rule gives
    the same leave-one-out densities, and say which rule set it (points where neither fit predicts
    every held-out point better, so stacking's weight lies inside (0, 1) too: on the plain
    leave-one-out densities; corrected, stacking keeps scratch whole here)."""
    from sciPT.domains.surrogates.calibrate import blend_weight, loo, scratch_fit

    prior = GaussianPrior(NAMES, [np.log(0.1), 0.7, 0.40], np.diag([0.04, 0.05**2, 0.02**2]))
    X, y = _ribbed(3, seed=3)
    cal = calibrate(X, y, NAMES, prior, guard_rule=rule, loo_correction="none")
    g = cal.guard
    assert (g.choice, g.rule) == ("blend", rule)
    assert g.elpd == calibrate(X, y, NAMES, prior, guard_rule="blend", loo_correction="none").guard.elpd
    lpd_p = loo(X, y, lambda Xs, ys: calibrate(Xs, ys, NAMES, prior, guard=False).prior_fit)[0]
    lpd_s = loo(X, y, lambda Xs, ys: scratch_fit(Xs, ys, NAMES, NoisePrior(), "exact"))[0]
    assert lpd_p.sum() == pytest.approx(g.elpd["prior"]) and lpd_s.sum() == pytest.approx(g.elpd["scratch"])
    w = blend_weight(lpd_p, lpd_s, rule)
    assert g.prior_weight == pytest.approx(w) and 0.01 < w < 0.99
    new = features([5e4, 3e5])
    mixed = w * cal.prior_fit.predict(new) + (1 - w) * cal.scratch_fit.predict(new)
    np.testing.assert_allclose(cal.chosen.predict(new), mixed, rtol=0, atol=1e-12)
    assert g.reason.endswith(f"weighted {w:.2f} and scratch {1 - w:.2f} ({words})")


def test_with_two_points_pseudo_bma_plus_is_pseudo_bma_and_stacking_is_the_hard_rule():
    """Leave-one-out on two points is symmetric: each point is predicted from the other alone by a fit
    whose log C absorbs it, erring by the same slope times the same distance, so both points gain
    alike, every Bayesian-bootstrap reweighting gives the summed gain, and stacking keeps one fit."""
    prior = GaussianPrior(NAMES, [np.log(0.1), 0.7, 0.40], np.diag([0.04, 0.05**2, 0.02**2]))
    for seed in range(3):
        X, y = _ribbed(2, seed)
        g = {
            rule: calibrate(X, y, NAMES, prior, guard_rule=rule).guard
            for rule in ("blend", "pseudo-bma+", "stacking", "loo")
        }
        assert g["pseudo-bma+"].prior_weight == pytest.approx(g["blend"].prior_weight, abs=1e-12)
        assert 0 < g["blend"].prior_weight < 1
        kept = {"prior": 1.0, "scratch": 0.0}[g["loo"].choice]
        assert g["stacking"].prior_weight == kept
        # one fit whole is not called a mixture weighted 1.00 and 0.00
        fit = {"prior": "prior-informed fit", "scratch": "scratch fit"}[g["loo"].choice]
        assert g["stacking"].reason.endswith(f"so the kept model is the {fit} alone, weighted 1 (stacking)")


class _MeanFit:
    """A stand-in fit: predicts the mean of the values it was fitted on, log density minus the
    squared error (so the held-out numbers can be worked by hand)."""

    def __init__(self, ys):
        self.m = float(np.mean(ys))

    def log_density(self, X, y):
        return -((np.asarray(y, float) - self.m) ** 2)

    def predict(self, X):
        return np.full(len(X), self.m)


def test_burman_s_correction_matches_a_hand_computation():
    """y = 0, 1, 3. Held-out means 2, 1.5, 0.5 (without 0, 1, 2); full mean 4/3. Leave-one-out
    densities -4, -1/4, -25/4. Each point under the three held-out fits, averaged: point 0
    -(4 + 9/4 + 1/4)/3 = -13/6, point 1 -(1 + 1/4 + 1/4)/3 = -1/2, point 2 -(1 + 9/4 + 25/4)/3 =
    -19/6; under the full fit -16/9, -1/9, -25/9. Corrected: -4 - 16/9 + 13/6 = -130/36,
    -1/4 - 1/9 + 1/2 = 5/36, -25/4 - 25/9 + 19/6 = -211/36. The errors stay the held-out fits'."""
    from sciPT.domains.surrogates.calibrate import loo

    X, y = np.zeros((3, 1)), np.array([0.0, 1.0, 3.0])
    lpd, err = loo(X, y, lambda Xs, ys: _MeanFit(ys))
    np.testing.assert_allclose(lpd, [-4, -1 / 4, -25 / 4], rtol=1e-12)
    lpd_b, err_b = loo(X, y, lambda Xs, ys: _MeanFit(ys), "burman")
    np.testing.assert_allclose(lpd_b, np.array([-130, 5, -211]) / 36, rtol=1e-12)
    np.testing.assert_allclose(err_b, err, rtol=0)
    np.testing.assert_allclose(err, [2, 0.5, -2.5], rtol=1e-12)
    with pytest.raises(
        ValueError,
        match=r"^loo: correction must be 'none' or 'burman', got 'burman-same-form'$",
    ):
        loo(X, y, lambda Xs, ys: _MeanFit(ys), "burman-same-form")  # needs scratch's form: calibrate's


def test_burman_s_correction_weights_unequal_folds_by_their_size():
    """Above 100 points the held-out sets are ten folds, the first one point larger (101 points:
    11, then 10 each): each fold's fit counts by its share of the points, n_k / n, so a procedure
    that ignores the data is not corrected at all and the correction is the paper's sum."""
    from sciPT.domains.surrogates.calibrate import held_out_sets, loo

    rng = np.random.default_rng(1)
    X, y = np.zeros((101, 1)), rng.normal(size=101)
    lpd, _ = loo(X, y, lambda Xs, ys: _MeanFit(ys))
    fixed = _MeanFit([0.5])
    const, _ = loo(X, y, lambda Xs, ys: fixed, "burman")
    np.testing.assert_allclose(const, -((y - 0.5) ** 2), rtol=1e-12)  # nothing to correct
    lpd_b, _ = loo(X, y, lambda Xs, ys: _MeanFit(ys), "burman")
    folds = held_out_sets(101)
    assert [len(f) for f in folds] == [11] + [10] * 9
    means = [np.mean(np.delete(y, f)) for f in folds]
    averaged = sum(len(f) / 101 * -((y - m) ** 2) for f, m in zip(folds, means))
    np.testing.assert_allclose(lpd_b, lpd - (y - y.mean()) ** 2 - averaged, rtol=1e-10)


def test_the_guard_weighs_burman_corrected_densities_and_says_so():
    """With ``loo_correction="burman"`` the guard's ELPDs are the corrected densities' sums, the
    blend's weight is pseudo-BMA's on them, and the reason says the correction was made."""
    from sciPT.domains.surrogates.calibrate import blend_weight, informed_fit, loo

    X, y = _ribbed(4)
    informed = transfer_prior(RIGHT, "exponents")
    lpd_p, _ = loo(X, y, lambda Xs, ys: informed_fit(Xs, ys, informed, NoisePrior())[0], "burman")
    lpd_s, _ = loo(X, y, lambda Xs, ys: scratch_fit(Xs, ys, NAMES, NoisePrior(), "exact"), "burman")
    g = calibrate(X, y, NAMES, RIGHT, loo_correction="burman").guard
    plain = calibrate(X, y, NAMES, RIGHT, loo_correction="none").guard
    assert g.elpd == pytest.approx({"prior": lpd_p.sum(), "scratch": lpd_s.sum()}, rel=1e-12)
    assert g.elpd != pytest.approx(plain.elpd, rel=1e-3)  # the correction moved them
    assert g.prior_weight == pytest.approx(blend_weight(lpd_p, lpd_s, "blend"), rel=1e-12)
    assert g.reason.startswith("leave-one-out with Burman's correction to 4 points: ELPD ")
    assert plain.reason.startswith("leave-one-out: ELPD ")


def test_burman_same_form_corrects_only_where_scratch_fits_one_form_without_each_point():
    """Two points at one Pr: without either, scratch is the fixed-slope convention, with both a free
    slope, so neither fit's densities are corrected (the guard is the plain blend, and says why).
    Four points at one Pr: scratch frees log C and the Re exponent with three points as with four,
    so both are corrected, as with ``"burman"``. Four points, one at another Pr: without that point
    scratch cannot free the Pr exponent it frees with all four, so nothing is corrected."""
    prior = GaussianPrior(NAMES, [np.log(0.1), 0.7, 0.40], np.diag([0.04, 0.05**2, 0.02**2]))
    X, y = _ribbed(2)
    same, plain = (
        calibrate(X, y, NAMES, prior, loo_correction=c).guard for c in ("burman-same-form", "none")
    )
    assert same.elpd == plain.elpd and same.prior_weight == plain.prior_weight
    assert same.reason.startswith(
        "leave-one-out (not corrected to 2 points: scratch fits another form without a held-out point): ELPD "
    )
    X, y = _ribbed(4)
    same, burman = (
        calibrate(X, y, NAMES, prior, loo_correction=c).guard for c in ("burman-same-form", "burman")
    )
    assert same.elpd == burman.elpd and same.prior_weight == burman.prior_weight
    assert same.reason == burman.reason
    X = X.copy()
    X[3, 2] = np.log(5.0)  # the last point at Pr 5
    same, plain = (
        calibrate(X, y, NAMES, prior, loo_correction=c).guard for c in ("burman-same-form", "none")
    )
    assert calibrate(X, y, NAMES, prior, loo_correction="burman").guard.elpd != pytest.approx(plain.elpd)
    assert same.elpd == plain.elpd and same.prior_weight == plain.prior_weight
    assert "(not corrected to 4 points: scratch fits another form without a held-out point)" in same.reason
