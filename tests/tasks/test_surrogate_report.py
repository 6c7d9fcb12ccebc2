"""What a surrogate calibration says about itself, built from hand-made fits (tasks/surrogate_report.py)."""

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from sciPT.domains.surrogates.calibrate import Calibration, GuardResult
from sciPT.domains.surrogates.data import Points
from sciPT.domains.surrogates.independence import unexplained_fraction
from sciPT.domains.surrogates.objectives import GaussianPrior, Posterior
from sciPT.tasks.surrogate_report import fit_metrics, fit_row, input_warnings, report

NAMES = ["log_C", "Re", "Pr"]


def points(re, pr, nu=None, **groups):
    re = np.asarray(re, float)
    nu = 0.3 * re**0.6 if nu is None else np.asarray(nu, float)
    lines = np.arange(2, len(re) + 2)
    groups = {g: np.asarray(v, float) for g, v in groups.items()}
    return Points(re, np.broadcast_to(np.asarray(pr, float), re.shape).copy(), nu, groups, "t.csv", lines)


def posterior(theta, sd, noise=0.05, kappa=float("nan"), n=3):
    """A one-component posterior with mean ``theta`` and independent sds ``sd``."""
    theta = np.asarray(theta, float)
    cov = np.diag(np.asarray(sd, float) ** 2)
    return Posterior(
        list(NAMES), np.array([noise]), np.array([1.0]), theta[None], cov[None], kappa=kappa, n=n
    )


def test_a_fit_row_gives_each_exponent_its_own_sd_and_the_training_mape():
    """The row of the "Both fits" table: each exponent with its own sd (not its neighbour's), the
    noise, the width factor and the MAPE of Nu in per cent. The fit misses log Nu by -0.1 and +0.1:
    MAPE (|e^-0.1 - 1| + |e^0.1 - 1|) / 2 = 10.02 %, where the RMSE of log Nu would read 0.10."""
    post = posterior([np.log(0.3), 0.6, 0.4], [0.1, 0.02, 0.03], noise=0.05, kappa=1.5)
    X = np.array([[1.0, np.log(2e4), np.log(0.7)], [1.0, np.log(5e4), np.log(0.7)]])
    y = post.predict(X) + np.array([0.1, -0.1])
    assert fit_row("scratch", post, NAMES, X, y) == (
        "| scratch | `Nu = 0.3 Re^0.6 Pr^0.4` | Re 0.600 ± 0.020, Pr 0.400 ± 0.030 | 0.050 | 1.5 | 10.02 |"
    )
    assert fit_row("prior-informed", None, NAMES, X, y) == "| prior-informed | (no prior) | | | | |"


def test_fit_metrics_give_the_prior_width_factor_only_where_the_prior_fit_has_one():
    """``prior_width_factor`` is the prior-informed fit's most probable width; a fit without one
    (nan) or no prior-informed fit leaves the key out rather than writing a number."""
    chosen = SimpleNamespace(mean=np.array([0.0, 0.8, 0.4]), noise_sd=0.1, predict=lambda design: np.zeros(2))
    guard = SimpleNamespace(prior_weight=1.0, elpd={}, loo_rmse={}, log_evidence={})
    X, y = np.ones((2, 3)), np.zeros(2)
    with_width = SimpleNamespace(guard=guard, prior_fit=SimpleNamespace(kappa=2.5))
    assert fit_metrics(with_width, X, y, chosen, None, 0.9)["prior_width_factor"] == 2.5
    without = SimpleNamespace(guard=guard, prior_fit=SimpleNamespace(kappa=float("nan")))
    assert "prior_width_factor" not in fit_metrics(without, X, y, chosen, None, 0.9)


def _report(pts, cal, prior=None, info=None, correction=0, **given):
    """``report.md`` of ``cal`` on ``pts`` with everything else minimal (or as ``given``)."""
    info = info or {"init": "none", "boxes": []}
    kwargs = dict(
        cfg=SimpleNamespace(correction=correction, data=SimpleNamespace(train="t.csv")),
        transfer="exponents",
        points=pts,
        names=NAMES,
        groups=[],
        fixed_groups={},
        prior=prior,
        info=info,
        cal=cal,
        chosen=cal.chosen,
        law={"law": "Nu = 0.3 Re^0.6 Pr^0.4", "python": "lambda Re, Pr: 0.3 * Re**0.6 * Pr**0.4"},
        metrics={},
        warnings=[],
        figure=Path("calibration.png"),
        level=0.9,
        tau=None,
        recal_note="none",
    )
    return report(**{**kwargs, **given})


def _loo_calibration(n):
    guard = GuardResult(
        "prior",
        "reason",
        elpd={"prior": 4.25, "scratch": -1.5},
        loo_rmse={"prior": 0.0123, "scratch": 0.0456},
        rule="loo",
    )
    fit = posterior([np.log(0.3), 0.6, 0.4], [0.1, 0.02, 0.03], n=n)
    return Calibration(fit, posterior([np.log(0.3), 0.6, 0.4], [0.1, 0.02, 0.3], n=n), guard)


def test_the_report_tables_each_fits_held_out_elpd_and_rmse():
    """The leave-one-out table: ELPD and RMSE of log Nu on each fit's own row, and its heading says
    leave-one-out up to 100 points, ten folds above (as the guard did)."""
    pts = points(np.geomspace(2e4, 1e5, 3), 0.7)
    text = _report(pts, _loo_calibration(100))
    assert "| prior | 4.250 | 0.0123 |\n| scratch | -1.500 | 0.0456 |" in text
    assert "\nLeave-one-out (each point predicted from the others, the whole procedure re-run):\n" in text
    text = _report(pts, _loo_calibration(101))
    assert "Leave-one-out (each" not in text
    assert (
        "10-fold cross-validation (each point predicted by the whole procedure re-run without its fold; "
        "over 100 points, in place of leave-one-out):"
    ) in text


def test_the_report_counts_the_points_inside_a_validity_range_and_gives_the_family_weights():
    """Two of three points lie in the one pre-training box (Re 1e4 to 5e4 at Pr 0.5 to 1): the
    report says 2 of 3, not the 1 outside; the mixture's family weights are given to two decimals."""
    pts = points([2e4, 4e4, 9e4], 0.7)
    prior = GaussianPrior(NAMES, [np.log(0.02), 0.8, 0.4], np.diag([0.04, 0.01, 0.01]))
    fit = posterior([np.log(0.3), 0.6, 0.4], [0.1, 0.02, 0.03])
    cal = Calibration(fit, fit, GuardResult("prior", "reason"), {"smooth-pipe": 0.734, "rough-pipe": 0.266})
    info = {"init": "all", "boxes": [{"re": [1e4, 5e4], "pr": [0.5, 1.0]}], "systems": 1, "sources": []}
    text = _report(pts, cal, prior, info)
    assert "- inside the validity range of at least one pre-training system: 2 of 3\n" in text
    assert "equal before them): smooth-pipe 0.73, rough-pipe 0.27.\n" in text


def test_a_warning_names_the_lines_of_the_points_outside_every_validity_range():
    """Only the point outside the box (line 4, Re 9e4) is named: the user checks those lines."""
    pts = points([2e4, 4e4, 9e4], 0.7)
    X = pts.features()
    warnings = input_warnings(pts, X, NAMES, None, {"boxes": [{"re": [1e4, 5e4], "pr": [0.5, 1.0]}]})
    assert "1 point(s) outside every pre-training validity range (lines 4)" in warnings


def test_with_no_point_to_spare_a_varying_pr_is_not_called_lock_step():
    """Two points at two Re and two Pr: scratch frees log C and a, and holds b for want of a third
    point, not because Pr follows Re; the no-prior warning says what is held, and nothing more."""
    pts = points([2e4, 5e4], [0.7, 3.0])
    X = pts.features()
    warnings = input_warnings(pts, X, NAMES, None, {"boxes": []})
    assert warnings == [
        "2 point(s) and no prior: only log_C, Re fitted; Pr held at the Dittus-Boelter values "
        "(Pr = 0.4 ± 0.3; the intervals widen by that uncertainty away from the points)"
    ]


def test_without_a_prior_the_warning_counts_the_points_not_the_fitted_parameters():
    """Three points at one Pr: log C and a fitted, b held; the warning counts 3 points."""
    pts = points([2e4, 5e4, 1e5], 0.7)
    X = pts.features()
    assert input_warnings(pts, X, NAMES, None, {"boxes": []}) == [
        "3 point(s) and no prior: only log_C, Re fitted; Pr held at the Dittus-Boelter values "
        "(Pr = 0.4 ± 0.3; the intervals widen by that uncertainty away from the points)"
    ]


def test_a_ratio_in_lock_step_with_re_and_pr_is_said_with_its_reference_width():
    """A rib height scaled with both Re and Pr over the series: the ratio's exponent cannot be told
    apart from theirs; the warning names both ("they leave") and the held value 0 ± 0.5 that
    scratch gives a ratio (not Re's or Pr's 0.3)."""
    re = np.array([2e4, 3e4, 5e4, 7e4, 1e5, 1.5e5])
    pr = np.array([0.7, 3.0, 1.5, 7.0, 0.9, 4.0])
    e = np.array([float(f"{v:.4g}") for v in 1e-3 * re**0.3 * pr**-0.2])  # typed to 4 digits
    pts = points(re, pr, e_Dh=e)
    names = [*NAMES, "e_Dh"]
    X = pts.features(["e_Dh"])
    left = unexplained_fraction(X[:, :3], X[:, 3])
    assert 0 < left < 1e-3
    prior = GaussianPrior(names, [np.log(0.02), 0.8, 0.4, 0.0], np.diag([0.04, 0.01, 0.01, 0.25]))
    warnings = input_warnings(pts, X, names, prior, {"boxes": []})
    assert warnings == [
        f"e_Dh varies in lock-step with Re, Pr over the 6 points (what they leave of log e_Dh is "
        f"{left:.1g} of its spread): the law cannot tell their exponents apart, so e_Dh's is not "
        "learnt from them; scratch holds it at 0 ± 0.5, the prior-informed fit takes it from the "
        "prior; predictions off that line rest on that (measure at other combinations to learn it)"
    ]


@pytest.mark.parametrize(
    "w, words", [(0.3, "(0.30) and scratch (0.70)"), (0.75, "(0.75) and scratch (0.25)")]
)
def test_kept_words_give_the_prior_informed_share_first(w, words):
    """The Result line: the prior-informed fit's weight, then scratch's."""
    from sciPT.tasks.surrogate_report import kept_words

    cal = SimpleNamespace(guard=GuardResult("blend", "", prior_weight=w))
    assert kept_words(cal) == f"the mixture of the prior-informed {words} fits"


def test_kept_words_name_one_fit_kept_whole_by_a_blend_weight_at_an_end():
    """Stacking's weight is often exactly 1 or 0: that is one fit alone, not 'the mixture of the
    prior-informed (1.00) and scratch (0.00) fits'."""
    from sciPT.tasks.surrogate_report import kept_words

    for w, words in (
        (1.0, "the prior-informed fit alone (the blend's weight 1 on the prior)"),
        (0.0, "the scratch fit alone (the blend's weight 0 on the prior)"),
    ):
        assert kept_words(SimpleNamespace(guard=GuardResult("blend", "", prior_weight=w))) == words


def test_kept_words_name_the_fit_a_hard_guard_kept():
    """A hard rule's choice, in the Result line and on standard output: the fit it kept, by name."""
    from sciPT.tasks.surrogate_report import kept_words

    assert kept_words(SimpleNamespace(guard=GuardResult("prior", ""))) == "the prior-informed fit"
    assert kept_words(SimpleNamespace(guard=GuardResult("scratch", ""))) == "the scratch fit"


@pytest.mark.parametrize(
    "choice, w, correction, words",
    [
        (
            "blend",
            0.3,
            50,
            "the scratch fit, the heavier in the guard's blend (0.70), refitted with a correction of 50",
        ),
        (
            "blend",
            0.75,
            50,
            "the prior-informed fit, the heavier in the guard's blend (0.75), refitted with a correction of 50",
        ),
        ("prior", None, 1, "the prior-informed fit, refitted with a correction of 1"),
        ("scratch", None, 3, "the scratch fit, refitted with a correction of 3"),
    ],
)
def test_kept_words_with_a_correction_name_the_fit_it_rides_on(choice, w, correction, words):
    """A correction is refitted on one fit: a blend's heavier member with that member's own share
    (0.70 for scratch when the prior-informed fit has 0.3), a hard rule's kept fit with no share;
    one random feature is a correction too."""
    from sciPT.tasks.surrogate_report import kept_words

    cal = SimpleNamespace(guard=GuardResult(choice, "", prior_weight=w))
    assert kept_words(cal, correction) == f"{words} random features"


def test_fit_metrics_give_the_kept_fit_its_scores_and_the_guards_numbers_by_name():
    """The kept fit's C (e^log C), a and b, its noise, and its training errors against the points
    (misses of log Nu by -0.1 and +0.1: RMSE 0.1, MAPE (|e^-0.1 - 1| + |e^0.1 - 1|) / 2 in per
    cent); the guard's share and its per-fit ELPD, RMSE and evidence each under its own key."""
    chosen = posterior([np.log(0.3), 0.6, 0.4], [0.1, 0.02, 0.03], noise=0.05)
    X = np.array([[1.0, np.log(2e4), np.log(0.7)], [1.0, np.log(5e4), np.log(0.7)]])
    y = chosen.predict(X) + np.array([0.1, -0.1])
    guard = GuardResult(
        "blend",
        "",
        elpd={"prior": 1.5, "scratch": -2.0},
        loo_rmse={"prior": 0.01, "scratch": 0.02},
        log_evidence={"prior": 3.0, "scratch": 4.0},
        prior_weight=0.25,
    )
    cal = SimpleNamespace(guard=guard, prior_fit=None)
    got = fit_metrics(cal, X, y, chosen, None, 0.9)
    mape = (abs(np.exp(-0.1) - 1) + abs(np.exp(0.1) - 1)) / 2 * 100
    assert got == pytest.approx(
        {
            "points": 2,
            "kept_prior": 0.25,
            "C": 0.3,
            "a": 0.6,
            "b": 0.4,
            "noise_sd_log_nu": 0.05,
            "train_rmse_log_nu": 0.1,
            "train_mape": mape,
            "loo_elpd_prior": 1.5,
            "loo_elpd_scratch": -2.0,
            "loo_rmse_log_nu_prior": 0.01,
            "loo_rmse_log_nu_scratch": 0.02,
            "log_evidence_prior": 3.0,
            "log_evidence_scratch": 4.0,
        }
    )


def test_fit_metrics_score_the_kept_fit_with_its_correction():
    """With a correction the training error is that of the law plus its random features: a fit
    whose features take up the points' offset of 0.1 from the law scores RMSE 0."""
    theta = np.array([np.log(0.3), 0.6, 0.4])
    basis = SimpleNamespace(features=lambda X: np.full((len(X), 1), 0.1))
    chosen = SimpleNamespace(mean=theta, noise_sd=0.05, predict=lambda d: d[:, :3] @ theta + d[:, 3])
    X = np.array([[1.0, np.log(2e4), np.log(0.7)], [1.0, np.log(5e4), np.log(0.7)]])
    y = X @ theta + 0.1
    cal = SimpleNamespace(guard=GuardResult("scratch", ""), prior_fit=None)
    got = fit_metrics(cal, X, y, chosen, basis, 0.9)
    assert got["train_rmse_log_nu"] == pytest.approx(0.0, abs=1e-12)
    assert got["train_mape"] == pytest.approx(0.0, abs=1e-9)


def test_a_fit_row_gives_the_width_factor_to_three_figures():
    """The prior width factor 1.234 reads 1.23 in the "Both fits" table."""
    post = posterior([np.log(0.3), 0.6, 0.4], [0.1, 0.02, 0.03], kappa=1.234)
    X = np.array([[1.0, np.log(2e4), np.log(0.7)]])
    assert fit_row("p", post, NAMES, X, post.predict(X)).endswith("| 0.050 | 1.23 | 0.00 |")


def test_a_warning_says_the_prior_is_extrapolated_when_no_point_is_in_its_range():
    """No point inside any box: the warning says so and which fit to trust."""
    pts = points([6e4, 7e4, 9e4], 0.7)
    warnings = input_warnings(
        pts, pts.features(), NAMES, None, {"boxes": [{"re": [1e4, 5e4], "pr": [0.5, 1.0]}]}
    )
    assert (
        "none of the 3 points lies inside the validity range of any pre-training system: the prior "
        "is extrapolated, trust the guard and the scratch fit more"
    ) in warnings


def test_the_outside_warning_names_the_first_ten_lines_and_counts_them_all():
    """Eleven of twelve points outside the box (lines 3 to 13): all eleven counted, the first ten
    lines named (3 to 12)."""
    pts = points([2e4, *np.geomspace(6e4, 1e5, 11)], 0.7)
    warnings = input_warnings(
        pts, pts.features(), NAMES, None, {"boxes": [{"re": [1e4, 5e4], "pr": [0.5, 1.0]}]}
    )
    assert (
        "11 point(s) outside every pre-training validity range (lines 3, 4, 5, 6, 7, 8, 9, 10, 11, 12)"
        in warnings
    )


class _Match:
    def sentence(self):
        return "2 of 3 points lie on library system x"


def test_the_report_without_a_prior_says_its_data_guard_intervals_correction_and_metrics():
    """Each line of a no-prior report worked out by hand: the guard's rule; a library match after
    it; the warnings as list items; Re to four figures and Pr from its smallest to its largest;
    no ratios; a constant ratio said with its value; the held widths (a 0.8 ± 0.3, b 0.4 ± 0.3,
    a ratio 0 ± 0.5); the intervals' own level (90%) and the recalibrated one it takes (95.0%);
    the correction's features and tau to three figures; metrics to four; no prior section."""
    pts = points([12346, 45678, 98764], [0.712, 3.1, 6.25])
    cal = _loo_calibration(3)
    cal.prior_fit.level_map = np.clip(np.arange(1, 100) / 100 + 0.05, 0, 0.995)
    text = _report(
        pts,
        cal,
        correction=50,
        warnings=["look at line 3"],
        on_library=[_Match()],
        fixed_groups={"L_D": 40.0},
        tau=0.012345,
        metrics={"C": 0.0123456, "points": 3},
    )
    assert (
        "**Nu = 0.3 Re^0.6 Pr^0.4** (kept: the prior-informed fit, refitted with a correction of 50 "
        "random features)\n\nGuard (loo rule): reason.\n\n"
        "Contamination: 2 of 3 points lie on library system x.\n\nPasteable form (law.json): "
    ) in text
    assert "## Warnings\n\n- look at line 3\n\n## Data\n" in text
    assert (
        "- file: `t.csv` (3 points)\n- Re 1.235e+04 to 9.876e+04; Pr 0.712 to 6.25\n"
        "- geometric ratios in the law: none\n"
        "- L_D is constant (40) over the points: its exponent cannot be learnt, its effect is in C, "
        "and the law holds at L_D = 40 only\n\n## Both fits\n\nPrior: `none`\n"
    ) in text
    assert (
        "the rest held at Dittus-Boelter values with the reference prior's width (a = 0.8 ± 0.3, "
        "b = 0.4 ± 0.3, c = 0 ± 0.5), which the intervals carry.\n"
        "Intervals: meant to hold 90% of new points; the central 95.0% of the predictive distribution "
        "of log Nu (noise integrated out under its scaled-inverse-chi-squared prior). "
        "Recalibration: none.\n\n"
        "Correction: 50 random features, width tau = 0.0123 chosen by evidence.\n\n"
        "## Metrics\n\n| metric | value |\n|---|---|\n| C | 0.01235 |\n| points | 3 |\n"
    ) in text
    assert "## What the prior was learnt from" not in text


def test_the_report_with_a_library_prior_gives_the_prior_its_row_spread_and_sources():
    """A library prior (log C 0.02, a 0.8 ± 0.12, b 0.4 ± 0.05, C's sd 0.2 in log: x/÷ e^0.2 =
    1.22): the "Prior" line with the systems and transfer; the pre-trained row with each sd (not
    its variance) and width factor 1; the spread; Pr constant over two points said without the
    one-point caveat; the two correlations behind three systems, each listed."""
    pts = points([2e4, 9e4], 0.7)
    prior = GaussianPrior(NAMES, [np.log(0.02), 0.8, 0.4], np.diag([0.04, 0.0144, 0.0025]))
    fit = posterior([np.log(0.3), 0.6, 0.4], [0.1, 0.02, 0.03], n=2)
    cal = Calibration(fit, fit, GuardResult("prior", "reason"))
    sources = [
        {"correlation": "dittus-boelter-heating", "family": "smooth-pipe", "source": "Dittus & Boelter 1930"},
        {
            "key": "gowen-smith@e/D=0.005",
            "correlation": "gowen-smith",
            "family": "rough-pipe",
            "source": "GS 1968",
        },
        {
            "key": "gowen-smith@e/D=0.01",
            "correlation": "gowen-smith",
            "family": "rough-pipe",
            "source": "GS 1968",
        },
    ]
    info = {"init": "lib", "boxes": [], "systems": 3, "sources": sources}
    text = _report(pts, cal, prior, info)
    assert (
        "- Pr is constant (0.7) over the points: the Pr exponent is not learnt from them but taken "
        "from the prior (scratch holds it at 0.4 ± 0.3), and predictions at another Pr rest on that\n"
    ) in text
    assert "Prior: `lib` (3 systems), transfer: exponents\n" in text
    assert (
        "| pre-trained (before data) | `Nu = 0.02 Re^0.8 Pr^0.4` | Re 0.800 ± 0.120, Pr 0.400 ± 0.050 | | 1 | |\n\n"
        "The prior in the law's own terms (mean ± sd): C = 0.02 (x/÷ 1.22); a = 0.80 ± 0.12; b = 0.40 ± 0.05.\n"
    ) in text
    assert (
        "## What the prior was learnt from\n\n3 systems (`lib`) of 2 textbook correlations, each sampled "
        "over its validity range and fitted by a power law:\n\n"
        "- `dittus-boelter-heating` (smooth-pipe): Dittus & Boelter 1930\n"
        "- `gowen-smith` (rough-pipe): GS 1968\n\n## Metrics\n"
    ) in text


def test_the_report_on_a_calibrated_prior_names_the_calibration_and_its_run():
    """A prior that is an earlier calibration's posterior: named by the file it was calibrated on,
    in the "Prior" line and in the sources section with its run."""
    pts = points([2e4, 5e4, 9e4], [0.7, 2.0, 5.0])
    prior = GaussianPrior(NAMES, [np.log(0.02), 0.8, 0.4], np.diag([0.04, 0.01, 0.01]))
    fit = posterior([np.log(0.3), 0.6, 0.4], [0.1, 0.02, 0.03])
    cal = Calibration(fit, fit, GuardResult("prior", "reason"))
    info = {"init": "runs/a", "kind": "calibrated", "calibrated_on": "first.csv", "boxes": []}
    text = _report(pts, cal, prior, info, transfer="all")
    assert "Prior: `runs/a` (the posterior of a calibration on `first.csv`), transfer: all\n" in text
    assert (
        "## What the prior was learnt from\n\nThe posterior of a calibration on `first.csv` (run "
        "`runs/a`), whose report lists the correlations its own prior was learnt from.\n\n## Metrics\n"
    ) in text
