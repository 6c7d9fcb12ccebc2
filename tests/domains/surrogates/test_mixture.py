"""The mixture prior and its Bayesian model average (mixture.py, pretrain.family_mixture)."""

import numpy as np
import pytest

from sciPT.domains.surrogates.calibrate import calibrate, transfer_prior
from sciPT.domains.surrogates.mixture import MixturePrior, fit_mixture
from sciPT.domains.surrogates.objectives import GaussianPrior, fit
from sciPT.domains.surrogates.pretrain import family_mixture, fit_systems, population_prior, spread

NAMES = ["log_C", "Re", "Pr"]
COV = np.diag([0.04, 0.02**2, 0.02**2])


def features(re, pr=0.7):
    re = np.asarray(re, float)
    return np.column_stack([np.ones_like(re), np.log(re), np.log(np.broadcast_to(pr, re.shape))])


def two_families(weights=(1.0, 1.0)):
    laminar = GaussianPrior(NAMES, [np.log(0.6), 0.5, 0.33], COV)
    turbulent = GaussianPrior(NAMES, [np.log(0.023), 0.8, 0.4], COV)
    return MixturePrior(["laminar", "turbulent"], [laminar, turbulent], np.array(weights))


def test_one_point_leaves_the_weights_at_the_prior():
    # log C is free: one point is absorbed by C whatever the exponents, every family explains it equally
    mix = transfer_prior(two_families((1.0, 3.0)), "exponents")
    m = fit_mixture(features([3e4]), np.log([120.0]), mix)
    assert m.family_weights == pytest.approx({"laminar": 0.25, "turbulent": 0.75}, abs=1e-9)
    # the predictive is the weighted mixture of the two families' predictives
    X = features([1e5])
    expected = 0.25 * m.components[0].predict(X) + 0.75 * m.components[1].predict(X)
    assert m.posterior.predict(X) == pytest.approx(expected)
    assert len(m.posterior.sigma) == 2 * len(m.components[0].sigma)
    assert m.posterior.weights.sum() == pytest.approx(1.0)


def test_a_slope_picks_the_family_by_its_marginal_likelihood():
    X = features(np.geomspace(2e4, 1.5e5, 4))
    y = np.log(0.6) + 0.5 * X[:, 1] + 0.33 * X[:, 2]  # exactly laminar
    mix = transfer_prior(two_families(), "exponents")
    m = fit_mixture(X, y, mix)
    ev = [fit(X, y, c).log_marginal for c in mix.components]
    # w_f = pi_f p_f(y) / sum_g pi_g p_g(y), by hand
    assert m.family_weights["laminar"] == pytest.approx(1 / (1 + np.exp(ev[1] - ev[0])))
    assert m.family_weights["laminar"] > 0.99
    assert m.posterior.mean[1] == pytest.approx(0.5, abs=0.01)
    assert m.posterior.log_marginal == pytest.approx(np.logaddexp(ev[0], ev[1]) + np.log(0.5))


def test_a_single_component_is_the_gaussian_fit():
    g = GaussianPrior(NAMES, [np.log(0.023), 0.8, 0.4], COV, free=[True, False, False])
    X, y = features([2e4, 8e4]), np.log([60.0, 170.0])
    one = fit_mixture(X, y, MixturePrior(["only"], [g], np.ones(1))).posterior
    plain = fit(X, y, g)
    assert one.predict(features([1e5])) == pytest.approx(plain.predict(features([1e5])))
    assert one.interval(features([1e5]))[1] == pytest.approx(plain.interval(features([1e5]))[1])
    assert one.log_marginal == pytest.approx(plain.log_marginal)


def test_family_mixture_has_one_population_prior_per_family():
    fits = fit_systems(["smooth-pipe", "rough-pipe"], 60, 0.05, 0)
    mix = family_mixture(fits)
    assert mix.labels == ["smooth-pipe", "rough-pipe"]
    assert mix.weights.tolist() == [0.5, 0.5]
    rough = population_prior([f for f in fits if f.correlation.family == "rough-pipe"])
    assert mix.components[1].mean == pytest.approx(rough.mean)
    assert mix.components[1].cov == pytest.approx(rough.cov)
    # the moment-matched mean is the average of the two families' means
    assert mix.mean == pytest.approx((mix.components[0].mean + mix.components[1].mean) / 2)
    lines = spread(mix)
    assert len(lines) == 2 and lines[1].startswith("rough-pipe (0.5): C = ")


def test_calibrate_with_a_mixture_reports_the_family_weights_and_guards_it():
    X = features(np.geomspace(2e4, 1.5e5, 5))
    y = np.log(0.4) + 0.6 * X[:, 1] + 0.4 * X[:, 2]  # a ribbed channel: neither family's slope
    wrong = MixturePrior(
        ["a"], [GaussianPrior(NAMES, [np.log(0.023), 0.95, 0.4], COV)], np.ones(1)
    )  # a confident family far from a = 0.6
    for rule in ("evidence", "loo"):
        cal = calibrate(X, y, NAMES, wrong, guard_rule=rule)
        assert cal.guard.choice == "scratch" and cal.family_weights == {"a": 1.0}
    cal = calibrate(X[:1], y[:1], NAMES, two_families(), guard_rule="evidence")
    assert cal.guard.choice == "prior" and cal.family_weights == pytest.approx(
        {"laminar": 0.5, "turbulent": 0.5}
    )


def test_a_mixture_needs_matching_components():
    g = GaussianPrior(NAMES, [0.0, 0.8, 0.4], COV)
    h = GaussianPrior(["log_C", "Re", "Pr", "e_D"], np.zeros(4), np.eye(4))
    with pytest.raises(ValueError, match="^every component of a mixture must have the same parameter names$"):
        MixturePrior(["g", "h"], [g, h], np.ones(2))
    # as many parameters, another ratio: a family's e_D exponent read as another's Pr exponent
    k = GaussianPrior(["log_C", "Re", "e_D"], [0.0, 0.8, 0.1], COV)
    with pytest.raises(ValueError, match="^every component of a mixture must have the same parameter names$"):
        MixturePrior(["g", "k"], [g, k], np.ones(2))


def test_the_mixture_covariance_adds_the_spread_between_the_families():
    """The moment-matched covariance is the law of total covariance: the weighted within-family
    covariances plus the weighted spread of the family means about the mixture mean."""
    a = GaussianPrior(NAMES, [0.0, 0.5, 0.4], np.eye(3) * 0.01)
    b = GaussianPrior(NAMES, [1.0, 0.8, 0.4], np.eye(3) * 0.01)
    mix = MixturePrior(["laminar", "turbulent"], [a, b], np.ones(2))
    # by hand: mean (0.5, 0.65, 0.4); each family is d = +-(0.5, 0.15, 0) from it, so the between
    # term is d d^T = [[0.25, 0.075, 0], [0.075, 0.0225, 0], [0, 0, 0]]; Var(a) = 0.01 + 0.0225 = 0.0325
    expected = np.array([[0.26, 0.075, 0.0], [0.075, 0.0325, 0.0], [0.0, 0.0, 0.01]])
    assert mix.mean == pytest.approx([0.5, 0.65, 0.4])
    assert mix.cov == pytest.approx(expected, rel=1e-12, abs=1e-15)
    assert mix.as_gaussian().cov == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_the_averaged_posterior_keeps_the_width_factor_of_the_heaviest_family():
    """The combined posterior's kappa is that of the family with the largest posterior weight: on
    exactly laminar points, the laminar family's (its weight > 0.99), not the turbulent one's."""
    X = features(np.geomspace(2e4, 1.5e5, 4))
    y = np.log(0.6) + 0.5 * X[:, 1] + 0.33 * X[:, 2]
    m = fit_mixture(X, y, transfer_prior(two_families(), "exponents"))
    laminar, turbulent = m.components
    assert m.family_weights["laminar"] > 0.99
    assert laminar.kappa != turbulent.kappa  # the test tells the two apart
    assert m.posterior.kappa == laminar.kappa


def test_the_mixture_mean_is_weighted_by_the_prior_weights():
    """A family given three times the weight of another pulls the reported prior mean three times
    as hard: an unweighted average reported a prior the calibration does not use."""
    mix = two_families((1.0, 3.0))
    assert mix.weights.tolist() == [0.25, 0.75]
    laminar, turbulent = (c.mean for c in mix.components)
    assert mix.mean == pytest.approx(0.25 * laminar + 0.75 * turbulent)
    assert mix.mean[1] == pytest.approx(0.25 * 0.5 + 0.75 * 0.8)


def test_each_family_s_log_evidence_is_its_own_marginal_likelihood():
    """The report lists each family's evidence: it is the family's own log p(y), not its log
    posterior weight (which adds the prior weight and depends on the other families)."""
    X = features(np.geomspace(2e4, 1.5e5, 4))
    y = np.log(0.6) + 0.5 * X[:, 1] + 0.33 * X[:, 2]
    mix = transfer_prior(two_families((1.0, 3.0)), "exponents")
    m = fit_mixture(X, y, mix)
    ev = {label: fit(X, y, c).log_marginal for label, c in zip(mix.labels, mix.components)}
    assert m.family_log_evidence == pytest.approx(ev)
    assert m.posterior.n == 4


@pytest.mark.parametrize("labels, weights", [(["a"], np.ones(2)), (["a", "b"], np.ones(3))])
def test_a_mixture_needs_one_label_and_one_weight_per_component(labels, weights):
    """A label or a weight too few (or too many) paired families with another family's name or weight."""
    g = GaussianPrior(NAMES, [0.0, 0.8, 0.4], COV)
    with pytest.raises(ValueError, match="^a mixture needs one label and one weight per component$"):
        MixturePrior(labels, [g, g], weights)


def test_the_moment_matched_gaussian_keeps_the_free_and_fixed_roles():
    """A pre-training export stores the moment-matched Gaussian: a log C free in the mixture made
    Gaussian in the export pulled every later calibration's C towards the library's."""
    g = GaussianPrior(NAMES, [0.0, 0.8, 0.4], COV, free=[True, False, False], fixed=[False, False, True])
    h = GaussianPrior(NAMES, [1.0, 0.5, 0.4], COV, free=[True, False, False], fixed=[False, False, True])
    single = MixturePrior(["g", "h"], [g, h], np.ones(2)).as_gaussian()
    assert single.free.tolist() == [True, False, False]
    assert single.fixed.tolist() == [False, False, True]


def test_the_averaged_predictive_distribution_is_the_weighted_mixture_of_the_families():
    """Each family keeps its own noise levels (the families' grids differ once each fit drops its
    improbable pairs): the averaged cdf is sum_f w_f cdf_f, so its intervals are the mixture's
    quantiles; another family's noise levels gave wrong intervals."""
    X = features(np.geomspace(2e4, 1.5e5, 3))
    y = np.log(0.1) + 0.62 * X[:, 1] + 0.4 * X[:, 2]  # between the families' slopes
    m = fit_mixture(X, y, transfer_prior(two_families(), "exponents"))
    laminar, turbulent = m.components
    assert len(laminar.sigma) != len(turbulent.sigma)  # the test tells the grids apart
    assert m.posterior.sigma.tolist() == [*laminar.sigma, *turbulent.sigma]
    w = m.family_weights
    assert 0.1 < w["laminar"] < 0.9
    Xs, ys = features([1e5, 1e5, 1e5]), np.log([90.0, 109.0, 130.0])
    expected = w["laminar"] * laminar.cdf(Xs, ys) + w["turbulent"] * turbulent.cdf(Xs, ys)
    assert m.posterior.cdf(Xs, ys) == pytest.approx(expected, abs=1e-9)
    assert 0.01 < expected[1] < 0.99  # a value inside both families' spread


def test_the_mixture_covariance_weights_both_terms_by_the_prior_weights():
    """With weights 1:3 and families of different widths, both terms of the total covariance are
    weighted: within = 0.25 S_a + 0.75 S_b and between = sum_f pi_f d_f d_f^T, d_f the family mean's
    offset from the *weighted* mean (0.25, 0.575, 0.4).
    By hand: d_a = (-0.75, -0.225, 0), d_b = (0.25, 0.075, 0); between = 0.25 d_a d_a^T + 0.75 d_b
    d_b^T = [[0.1875, 0.05625, 0], [0.05625, 0.016875, 0], [0, 0, 0]]; within = diag(0.0175)."""
    a = GaussianPrior(NAMES, [-0.5, 0.35, 0.4], np.eye(3) * 0.01)
    b = GaussianPrior(NAMES, [0.5, 0.65, 0.4], np.eye(3) * 0.02)
    mix = MixturePrior(["laminar", "turbulent"], [a, b], np.array([1.0, 3.0]))
    assert mix.mean == pytest.approx([0.25, 0.575, 0.4])
    expected = np.array([[0.205, 0.05625, 0.0], [0.05625, 0.034375, 0.0], [0.0, 0.0, 0.0175]])
    assert mix.cov == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_a_mixture_transfers_every_family_as_asked():
    """``transfer="all"`` reaches every family of a mixture (log C Gaussian too), not only the
    default transfer of the exponents; the weights and labels go through unchanged."""
    mix = two_families((1.0, 3.0))
    for transfer, free in (("all", [False, False, False]), ("exponents", [True, False, False])):
        t = transfer_prior(mix, transfer)
        assert [c.free.tolist() for c in t.components] == [free, free]
        assert t.labels == mix.labels and t.weights.tolist() == [0.25, 0.75]


def test_family_weights_are_normalised_in_log_space():
    """300 exact points on a = 0.6: a family holding a = 0.6 exactly and one holding 0.8 exactly
    have log evidences hundreds of nats above zero and more than 710 apart, past where exp
    overflows. The weights are still (1, 0), with no overflow, and the log marginal is the right
    family's log evidence plus the log of its prior weight (the other's share is below e^-710)."""
    import warnings

    re = np.geomspace(2e4, 1.5e5, 300)
    X, y = features(re), np.log(0.4) + 0.6 * np.log(re) + 0.4 * np.log(0.7)
    held = {"free": [True, False, False], "fixed": [False, True, True]}
    right = GaussianPrior(NAMES, [0.0, 0.6, 0.4], np.zeros((3, 3)), **held)
    wrong = GaussianPrior(NAMES, [0.0, 0.8, 0.4], np.zeros((3, 3)), **held)
    ev = [fit(X, y, c).log_marginal for c in (right, wrong)]
    assert ev[0] > 710 and ev[0] - ev[1] > 710
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = fit_mixture(X, y, MixturePrior(["right", "wrong"], [right, wrong], np.array([1.0, 3.0])))
    assert m.family_weights == {"right": 1.0, "wrong": 0.0}
    assert m.posterior.log_marginal == pytest.approx(ev[0] + np.log(0.25), rel=1e-12)
    assert np.isfinite(m.posterior.weights).all() and m.posterior.weights.sum() == pytest.approx(1.0)


def test_components_with_different_roles_are_refused():
    """The mixture reads its roles from its first component, so a family whose log C is free beside
    one whose log C is Gaussian would be averaged as a model none of them is."""
    laminar, turbulent = two_families().components
    free_c = GaussianPrior(NAMES, turbulent.mean, COV, free=[True, False, False])
    with pytest.raises(ValueError) as e:
        MixturePrior(["laminar", "turbulent"], [laminar, free_c], np.array([1.0, 1.0]))
    assert str(e.value) == "every component of a mixture must have the same free and fixed parameters"
    held_a = GaussianPrior(NAMES, turbulent.mean, COV, fixed=[False, True, False])
    with pytest.raises(ValueError, match="same free and fixed parameters"):
        MixturePrior(["laminar", "turbulent"], [laminar, held_a], np.array([1.0, 1.0]))
