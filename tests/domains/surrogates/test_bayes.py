"""Closed-form Bayesian regression in log space (domains/surrogates/objectives.py)."""

import numpy as np
import pytest

from sciPT.domains.surrogates.objectives import GaussianPrior, NoisePrior, fit
from sciPT.errors import DataError

ONE_SIGMA = np.array([1.0])


def test_one_parameter_fit_matches_hand_computation():
    # Prior log C ~ N(0, 1), noise sd 1 (a one-point grid), one observation y = 2:
    # posterior precision 1 + 1 = 2 -> mean (0 * 1 + 2 * 1) / 2 = 1, variance 1/2;
    # evidence y ~ N(0, 1 + 1): log p = -0.5 log(2 pi 2) - 2^2 / (2 * 2).
    prior = GaussianPrior(["log_C"], [0.0], [[1.0]])
    post = fit(np.ones((1, 1)), np.array([2.0]), prior, kappa=1.0, sigma=ONE_SIGMA)
    assert post.mean == pytest.approx([1.0])
    assert post.cov[0, 0] == pytest.approx(0.5)
    assert post.log_evidence == pytest.approx(
        -0.5 * np.log(4 * np.pi) - 1.0 + NoisePrior().log_weights(ONE_SIGMA)[0]
    )
    # predictive at the same x: N(1, 1/2 + 1); its 95 % quantile is 1 + 1.6449 sqrt(1.5)
    assert post.quantile(np.ones((1, 1)), 0.95)[0] == pytest.approx(1 + 1.6448536 * np.sqrt(1.5), abs=1e-6)


def test_two_parameter_fit_matches_normal_equations():
    # log Nu = log C + a log Re with a flat log C and a ~ N(0.8, 0.1^2), noise sd 0.05:
    # posterior mean solves (P + X^T X / s^2) theta = P m + X^T y / s^2.
    X = np.array([[1.0, np.log(1e4)], [1.0, np.log(3e4)], [1.0, np.log(1e5)]])
    y = np.log([60.0, 140.0, 330.0])
    prior = GaussianPrior(["log_C", "Re"], [0.0, 0.8], np.diag([1.0, 0.01]), free=[True, False])
    post = fit(X, y, prior, kappa=1.0, sigma=np.array([0.05]))
    P = np.diag([0.0, 100.0])
    A = P + X.T @ X / 0.05**2
    expected = np.linalg.solve(A, P @ [0.0, 0.8] + X.T @ y / 0.05**2)
    assert post.mean == pytest.approx(expected, rel=1e-10)
    assert post.cov == pytest.approx(np.linalg.inv(A), rel=1e-8)


def test_a_correlated_prior_gives_the_evidence_and_posterior_of_the_marginal_normal():
    # theta ~ N(m, kappa S), y = X theta + N(0, s^2 I): y ~ N(X m, kappa X S X^T + s^2 I) and the
    # posterior precision is S^-1 / kappa + X^T X / s^2, whatever basis the fit computes them in
    X = np.column_stack([np.ones(4), np.log([1e4, 2e4, 5e4, 1e5]), np.log([0.7, 3.0, 0.7, 7.0])])
    y = np.log([40.0, 110.0, 150.0, 400.0])
    m = np.array([-3.5, 0.76, 0.37])
    S = np.array([[2.0, -0.19, 0.01], [-0.19, 0.02, 0.0], [0.01, 0.0, 0.004]])
    kappa, s = 2.5, 0.05
    post = fit(X, y, GaussianPrior(["log_C", "Re", "Pr"], m, S), kappa=kappa, sigma=np.array([s]))
    K = kappa * X @ S @ X.T + s**2 * np.eye(4)
    r = y - X @ m
    log_normal = -0.5 * (4 * np.log(2 * np.pi) + np.linalg.slogdet(K)[1] + r @ np.linalg.solve(K, r))
    assert post.log_evidence == pytest.approx(
        log_normal + NoisePrior().log_weights(np.array([s]))[0], rel=1e-10
    )
    A = np.linalg.inv(S) / kappa + X.T @ X / s**2
    assert post.mean == pytest.approx(
        np.linalg.solve(A, np.linalg.solve(S, m) / kappa + X.T @ y / s**2), rel=1e-9
    )
    assert post.cov == pytest.approx(np.linalg.inv(A), rel=1e-8)


def test_zero_data_returns_the_prior():
    mean = np.array([-3.0, 0.76, 0.37])
    cov = np.array([[2.0, -0.19, 0.01], [-0.19, 0.02, 0.0], [0.01, 0.0, 0.004]])
    prior = GaussianPrior(["log_C", "Re", "Pr"], mean, cov)
    post = fit(np.zeros((0, 3)), np.zeros(0), prior, kappa=1.0)
    assert post.mean == pytest.approx(mean)
    assert post.cov == pytest.approx(cov)
    noise = NoisePrior()
    w = np.exp(noise.log_weights(post.sigma))
    assert post.weights == pytest.approx(w / w.sum(), rel=1e-9)
    # the width integrated out: the prior's covariance times the hyperprior's mean width, for a
    # log-normal exp(sd^2 / 2) = exp(1.125) = 3.08 (3.06 here: the widest 1e-4 of the mass, left
    # out, carries 0.02 of it); the most probable width is the hyperprior's mode, 1
    post = fit(np.zeros((0, 3)), np.zeros(0), prior)
    assert post.kappa == pytest.approx(1.0)
    assert post.mean == pytest.approx(mean)
    assert post.cov == pytest.approx(np.exp(1.5**2 / 2) * cov, rel=0.01)


def test_fixed_parameters_are_held_and_have_no_variance():
    X = np.column_stack([np.ones(3), np.log([1e4, 2e4, 5e4]), np.log([0.7, 0.7, 0.7])])
    y = np.log([40.0, 70.0, 140.0])
    prior = GaussianPrior(
        ["log_C", "Re", "Pr"],
        [0.0, 0.0, 0.4],
        np.zeros((3, 3)),
        free=[True, True, False],
        fixed=[False, False, True],
    )
    post = fit(X, y, prior)
    assert post.means[:, 2] == pytest.approx(np.full(len(post.sigma), 0.4))
    assert post.cov[2] == pytest.approx(np.zeros(3))
    # with b held, the free part is ordinary least squares on y - 0.4 log Pr
    ols, *_ = np.linalg.lstsq(X[:, :2], y - 0.4 * X[:, 2], rcond=None)
    assert post.mean[:2] == pytest.approx(ols, rel=1e-8)


def test_evidence_widens_a_contradicted_prior_and_keeps_a_consistent_one():
    rng = np.random.default_rng(0)
    re = np.geomspace(1e4, 1e5, 12)
    X = np.column_stack([np.ones_like(re), np.log(re)])
    prior = GaussianPrior(["log_C", "Re"], [np.log(0.023), 0.8], np.diag([0.04, 0.0004]))
    consistent = np.log(0.023) + 0.8 * np.log(re) + 0.02 * rng.standard_normal(len(re))
    contradicting = np.log(0.3) + 0.6 * np.log(re) + 0.02 * rng.standard_normal(len(re))
    assert fit(X, consistent, prior).kappa < 3
    assert fit(X, contradicting, prior).kappa > 20


def test_free_parameters_the_points_cannot_determine():
    X = np.column_stack([np.ones(2), np.log([1e4, 1e4])])
    prior = GaussianPrior(["log_C", "Re"], [0.0, 0.0], np.zeros((2, 2)), free=[True, True])
    with pytest.raises(DataError) as err:
        fit(X, np.log([50.0, 51.0]), prior)
    assert str(err.value) == (
        "2 point(s) cannot determine the free parameters log_C, Re: give more "
        "points spread over each variable, or a prior (--init)"
    )


@pytest.mark.parametrize("free", [False, True], ids=["gaussian-prior", "flat-prior"])
def test_interval_coverage_on_simulated_data_is_nominal(free):
    # Parameters and noise drawn from the very prior the fit assumes: the 90 % predictive
    # intervals of new points must then hold 90 % of them (up to Monte Carlo error).
    rng = np.random.default_rng(1)
    noise = NoisePrior(0.05, 4.0)
    mean, cov = np.array([np.log(0.05), 0.7]), np.diag([0.3**2, 0.08**2])
    prior = GaussianPrior(["log_C", "Re"], mean, cov, free=[free, free])
    hits, total = 0, 0
    for _ in range(300):
        theta = rng.multivariate_normal(mean, cov)
        sigma = noise.s0 * np.sqrt(noise.nu0 / rng.chisquare(noise.nu0))
        re = np.exp(rng.uniform(np.log(1e4), np.log(1e5), 7))
        X = np.column_stack([np.ones_like(re), np.log(re)])
        y = X @ theta + sigma * rng.standard_normal(len(re))
        post = fit(X[:4], y[:4], prior, noise, kappa=1.0)
        lo, hi = post.interval(X[4:], 0.9)
        hits += int(((lo <= y[4:]) & (y[4:] <= hi)).sum())
        total += 3
    assert 0.86 <= hits / total <= 0.94


def test_the_prior_width_integrated_out_gives_nominal_coverage():
    # The full model: a width factor kappa drawn from its log-normal hyperprior, the exponents from
    # the prior widened by it, the noise from its prior, one to three points (the few-shot case,
    # where the data say little about kappa). Integrating kappa out must give 90 % intervals that
    # hold 90 % of new points (89 % here); plugging in its most probable value held 84 %.
    rng = np.random.default_rng(0)
    noise = NoisePrior()
    mean, cov = np.array([0.0, 0.8, 0.4]), np.diag([1.0, 0.15**2, 0.1**2])
    prior = GaussianPrior(["log_C", "Re", "Pr"], mean, cov, free=[True, False, False])
    hits, plugged, total = 0, 0, 0
    for _ in range(300):
        kappa = np.exp(rng.normal(0.0, 1.5))
        theta = np.concatenate(
            [[rng.normal(-3.0, 1.0)], rng.multivariate_normal(mean[1:], kappa * cov[1:, 1:])]
        )
        sigma = noise.s0 * np.sqrt(noise.nu0 / rng.chisquare(noise.nu0))
        n = int(rng.integers(1, 4))
        X = np.column_stack(
            [np.ones(n + 5), np.log(rng.uniform(2e4, 2e5, n + 5)), np.log(0.7) + rng.normal(0.0, 0.5, n + 5)]
        )
        y = X @ theta + sigma * rng.standard_normal(n + 5)
        post = fit(X[:n], y[:n], prior, noise)
        lo, hi = post.interval(X[n:], 0.9)
        hits += int(((lo <= y[n:]) & (y[n:] <= hi)).sum())
        # the same points with the width held at its most probable value
        lo, hi = fit(X[:n], y[:n], prior, noise, kappa=post.kappa).interval(X[n:], 0.9)
        plugged += int(((lo <= y[n:]) & (y[n:] <= hi)).sum())
        total += 5
    assert 0.88 <= hits / total <= 0.93
    # the plug-in width under-covers: 1,253 of 1,500 points (84 %) against 1,328 (89 %) here
    assert 0.82 <= plugged / total <= 0.86 < hits / total


def _wide_fit(seed: int, rows: int, fitted: int):
    """A fit with the width and the noise integrated out (many components) on the first ``fitted``
    of ``rows`` points spread over Re and Pr: ``(posterior, X, y)``."""
    rng = np.random.default_rng(seed)
    prior = GaussianPrior(
        ["log_C", "Re", "Pr"], [0.0, 0.8, 0.4], np.diag([1.0, 0.15**2, 0.1**2]), free=[True, False, False]
    )
    X = np.column_stack(
        [np.ones(rows), np.log(rng.uniform(1e4, 3e5, rows)), np.log(rng.uniform(0.5, 10, rows))]
    )
    y = X @ np.array([-3.0, 0.7, 0.4]) + 0.05 * rng.standard_normal(rows)
    return fit(X[:fitted], y[:fitted], prior), X, y


@pytest.mark.parametrize("q", [0.001, 0.05, 0.5, 0.95, 0.999])
def test_the_quantile_inverts_the_predictive_cdf(q):
    # a posterior of many components (the width and the noise integrated out) at points near and
    # far from two calibration points: cdf(quantile(q)) = q, and the quantile is where bisecting the
    # CDF over its whole bracket lands
    from scipy.special import ndtr

    post, X, _ = _wide_fit(3, 12, 2)
    assert len(post.weights) > 500
    x = post.quantile(X[2:], q)
    assert post.cdf(X[2:], x) == pytest.approx(np.full(10, q), abs=1e-12)
    loc, var = post.predictive(X[2:])
    lo, hi = (loc - 10 * np.sqrt(var)).min(1), (loc + 10 * np.sqrt(var)).max(1)
    for _ in range(60):
        mid = (lo + hi) / 2
        below = ndtr((mid[:, None] - loc) / np.sqrt(var)) @ post.weights < q
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    assert x == pytest.approx((lo + hi) / 2, abs=1e-10)


def test_long_inputs_are_predicted_in_chunks_with_the_same_result(monkeypatch):
    # thousands of rows times a thousand components would be gigabytes at once
    import sciPT.domains.surrogates.objectives as ob

    post, X, y = _wide_fit(5, 50, 3)

    def every_prediction():
        return [
            post.predict(X),
            post.predictive_sd(X),
            post.quantile(X, 0.05),
            post.cdf(X, y),
            post.log_density(X, y),
        ]

    whole = every_prediction()
    monkeypatch.setattr(ob, "ROW_ELEMENTS", 7 * len(post.weights))  # 7 rows a chunk
    chunked = every_prediction()
    for a, b in zip(whole, chunked):
        assert a.shape == (50,)
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("s0", [0.05, 0.002, 0.001, 0.0003, 0.2])
def test_a_flat_prior_gives_the_student_t_interval_whatever_the_noise_prior(s0):
    # flat prior on (log C, a), sigma^2 ~ Scale-Inv-chi^2(nu0, s0^2): the predictive is Student-t
    # with nu0 + n - p degrees of freedom and scale^2 = (nu0 s0^2 + RSS) / (nu0 + n - p) (1 + x^T
    # (X^T X)^-1 x). A grid cut at 1e-3 made the interval 1.4 times too wide at s0 = 0.001.
    from scipy.stats import t as student

    rng = np.random.default_rng(3)
    log_re = np.log([1e4, 2e4, 5e4, 1e5])
    X = np.column_stack([np.ones(4), log_re])
    y = -3.0 + 0.8 * log_re + rng.normal(0, s0, 4)
    noise = NoisePrior(s0=s0, nu0=2.0)
    post = fit(X, y, GaussianPrior(["log_C", "Re"], [0.0, 0.0], np.eye(2), free=[True, True]), noise)
    theta, rss = np.linalg.lstsq(X, y, rcond=None)[:2]
    dof = noise.nu0 + 4 - 2
    x = np.array([[1.0, np.log(3e5)]])
    scale = np.sqrt((noise.nu0 * s0**2 + rss[0]) / dof * (1 + x[0] @ np.linalg.inv(X.T @ X) @ x[0]))
    for q in (0.05, 0.95):  # the interval's half-width, to a thousandth of itself
        assert post.quantile(x, q)[0] - x[0] @ theta == pytest.approx(student.ppf(q, dof) * scale, rel=1e-3)


def test_the_point_prediction_is_the_median_inside_every_central_interval():
    """A mixture's mean lies off its median (the guard's blend, the mixture prior): the point
    prediction is the 0.5 quantile, inside the interval at any level; one component: the mean."""
    from scipy.stats import norm

    from sciPT.domains.surrogates.objectives import Posterior

    # log Nu ~ 0.7 N(0, 0.1^2) + 0.3 N(1, 0.1^2): median at 0.7's share of the first, mean 0.3
    mix = Posterior(
        ["log_C"], np.array([0.1, 0.1]), np.array([0.7, 0.3]), np.array([[0.0], [1.0]]), np.zeros((2, 1, 1))
    )
    X = np.ones((1, 1))
    median = mix.median(X)[0]
    assert median == pytest.approx(0.1 * norm.ppf(0.5 / 0.7), abs=1e-9)  # the far component adds ~0
    assert median == mix.quantile(X, 0.5)[0]
    assert mix.predict(X)[0] == pytest.approx(0.3)
    for level in (0.01, 0.5, 0.9, 0.99):
        lo, hi = mix.interval(X, level)
        assert lo[0] <= median <= hi[0]
    lo, hi = mix.interval(X, 0.01)
    assert not lo[0] <= mix.predict(X)[0] <= hi[0]  # the mean, shown before, lay outside
    one = Posterior(
        ["log_C", "Re"], np.array([0.2]), np.array([1.0]), np.array([[0.5, 0.8]]), np.zeros((1, 2, 2))
    )
    Xs = np.array([[1.0, 9.0], [1.0, 11.0]])
    assert one.median(Xs).tolist() == one.predict(Xs).tolist() == [0.5 + 0.8 * 9, 0.5 + 0.8 * 11]


def test_scores_are_the_rmse_of_log_nu_and_the_mape_of_nu():
    """``scores`` returns the root-mean-square log error and the mean absolute percentage error of
    Nu itself (the log error exponentiated), not the mean absolute log error."""
    from sciPT.domains.surrogates.objectives import scores

    # errors 0.1 and -0.3 in log Nu:
    # RMSE = sqrt((0.01 + 0.09) / 2) = sqrt(0.05) = 0.223607 (the MAE would be 0.2)
    # MAPE = (|e^0.1 - 1| + |e^-0.3 - 1|) / 2 * 100 = (0.105171 + 0.259182) / 2 * 100 = 18.2176 %
    # (the absolute log error would give 20 %)
    rmse, mape = scores(np.array([0.1, -0.3]), np.zeros(2))
    assert rmse == pytest.approx(0.2236068, rel=1e-6)
    assert mape == pytest.approx(18.21764, rel=1e-6)


def test_the_posterior_covariance_adds_the_spread_between_components():
    """``Posterior.cov`` is the law of total covariance: the components' mean covariance plus the
    covariance of their means."""
    from sciPT.domains.surrogates.objectives import Posterior

    # two equal components N(0.6, 0.01) and N(1.0, 0.01): mean 0.8,
    # cov = 0.01 + 0.5 * (0.6 - 0.8)^2 + 0.5 * (1.0 - 0.8)^2 = 0.01 + 0.02 + 0.02 = 0.05
    post = Posterior(
        ["log_C"],
        np.array([0.05, 0.05]),
        np.array([0.5, 0.5]),
        np.array([[0.6], [1.0]]),
        np.full((2, 1, 1), 0.01),
    )
    assert post.mean == pytest.approx([0.8])
    assert post.cov[0, 0] == pytest.approx(0.05, rel=1e-12)


def test_the_noise_grid_reaches_far_enough_below_a_small_noise_prior():
    """With ``--noise-sd 0.001`` and many near-exact points the noise posterior sits far below
    ``s0``, near ``s0 sqrt(nu0 / (nu0 + n))``: the grid reaches down to ``s0 / 50`` so that the
    posterior's noise is resolved and the grid's lowest level carries almost no weight."""
    rng = np.random.default_rng(3)
    n = 400
    y = np.log(50.0) + 1e-5 * rng.standard_normal(n)
    prior = GaussianPrior(["log_C"], [0.0], [[0.0]], free=[True])
    noise = NoisePrior(0.001)
    post = fit(np.ones((n, 1)), y, prior, noise)
    # sigma^2 | y ~ Scale-Inv-chi^2(nu0 + n - 1, (nu0 s0^2 + rss) / (nu0 + n - 1)), with
    # rss ~ 400 * 1e-10 = 4e-8 << nu0 s0^2 = 2e-6: sigma ~ s0 sqrt(nu0 / (nu0 + n)) = 1e-3 sqrt(2 / 402)
    # = 7.05e-5, inside the grid only if it reaches below 1e-4 (s0 / 50 = 2e-5; s0 / 5 = 2e-4 would not)
    assert post.noise_sd == pytest.approx(1e-3 * np.sqrt(2 / 402), rel=0.1)
    assert post.sigma.min() < 3e-5
    assert post.weights[np.argmin(post.sigma)] < 1e-6


def test_the_posterior_noise_sd_is_the_weighted_mean_of_the_component_sigmas():
    """``Posterior.noise_sd`` is the posterior mean of sigma (not its root mean square)."""
    from sciPT.domains.surrogates.objectives import Posterior

    # sigma 0.01 and 0.03 at weight 0.5 each: mean 0.02 (the RMS would be sqrt(0.0005) = 0.02236)
    post = Posterior(
        ["log_C"], np.array([0.01, 0.03]), np.array([0.5, 0.5]), np.zeros((2, 1)), np.zeros((2, 1, 1))
    )
    assert post.noise_sd == pytest.approx(0.02, rel=1e-12)


def test_the_predictive_sd_adds_the_spread_between_components():
    """``Posterior.predictive_sd`` is the sd of the whole mixture: the components' mean variance
    plus the variance of their locations."""
    from sciPT.domains.surrogates.objectives import Posterior

    # components N(0, 1) and N(2, 1) at weight 0.5 each (noise sd 1, no parameter variance):
    # mean 1, variance 1 + 0.5 * 1^2 + 0.5 * 1^2 = 2, sd sqrt(2) = 1.41421 (without the spread: 1)
    post = Posterior(
        ["log_C"], np.array([1.0, 1.0]), np.array([0.5, 0.5]), np.array([[0.0], [2.0]]), np.zeros((2, 1, 1))
    )
    assert post.predictive_sd(np.ones((2, 1))) == pytest.approx([np.sqrt(2), np.sqrt(2)], rel=1e-12)


def test_the_default_noise_prior_is_a_five_percent_scatter_worth_two_points():
    """The noise hyperprior's log density of ``log sigma^2`` is Scale-Inv-chi^2(2, 0.05^2) (an
    inverse gamma with shape 1 and scale 0.05^2), times the Jacobian ``sigma^2``: the default belief
    of a 5 % rig scatter every uncalibrated interval rests on."""
    from scipy.stats import invgamma

    sigma = np.array([0.01, 0.05, 0.2])
    expected = invgamma(a=1.0, scale=0.05**2).logpdf(sigma**2) + np.log(sigma**2)
    assert NoisePrior().log_weights(sigma) == pytest.approx(expected, rel=1e-12)
    wider = invgamma(a=3.0 / 2, scale=3.0 * 0.1**2 / 2).logpdf(sigma**2) + np.log(sigma**2)
    assert NoisePrior(0.1, 3.0).log_weights(sigma) == pytest.approx(wider, rel=1e-12)


def test_the_marginal_likelihood_averages_the_evidence_over_the_width_hyperprior():
    """``log_marginal`` (what the evidence guard compares) is log sum_k w_k p(y | kappa_k) with
    w_k the log-normal hyperprior's weights on the grid normalised to one, each evidence that of a
    fit at the width held fixed."""
    X = np.column_stack([np.ones(3), np.log([1e4, 3e4, 1e5])])
    y = np.log([30.0, 75.0, 190.0])
    prior = GaussianPrior(["log_C", "Re"], [np.log(0.023), 0.8], np.diag([0.04, 0.0004]))
    kappas = np.array([0.1, 1.0, 10.0, 100.0])
    post = fit(X, y, prior, kappas=kappas)
    evidence = np.array([fit(X, y, prior, kappa=k).log_evidence for k in kappas])
    w = np.exp(-0.5 * (np.log(kappas) / 1.5) ** 2)
    assert post.log_marginal == pytest.approx(np.log(np.sum(w / w.sum() * np.exp(evidence))), rel=1e-10)
    assert post.kappa == kappas[np.argmax(evidence + np.log(w))]
    # a width held fixed: log p(y) = log N(y; X m, X S X^T + sigma^2 I) on a one-level noise grid
    from scipy.stats import multivariate_normal

    one = fit(X, y, prior, kappa=1.0, sigma=np.array([0.05]))
    cov = X @ prior.cov @ X.T + 0.05**2 * np.eye(3)
    by_hand = (
        multivariate_normal(X @ prior.mean, cov).logpdf(y) + NoisePrior().log_weights(np.array([0.05]))[0]
    )
    assert one.log_marginal == pytest.approx(by_hand, rel=1e-10)
    assert one.log_evidence == pytest.approx(by_hand, rel=1e-10)


def test_the_recalibrated_interval_is_the_predictives_own_at_the_mapped_level():
    """A level map (the export's recalibration) turns a 90 % interval into the predictive's own
    interval at the mapped level, interpolated between the map's levels; ``recalibrated=False`` and
    a posterior without a map give the own 90 % interval."""
    from scipy.stats import norm

    from sciPT.domains.surrogates.objectives import LEVELS, Posterior

    one = Posterior(["log_C"], np.array([0.1]), np.array([1.0]), np.array([[2.0]]), np.zeros((1, 1, 1)))
    X = np.ones((1, 1))
    assert one.nominal_level(0.9) == 0.9
    lo, hi = one.interval(X, 0.9)
    assert (lo[0], hi[0]) == pytest.approx((2.0 - 0.1 * norm.ppf(0.95), 2.0 + 0.1 * norm.ppf(0.95)), rel=1e-9)
    one.level_map = np.minimum(LEVELS + 0.05, 0.999)  # 0.90 -> 0.95, 0.905 -> 0.955
    assert one.nominal_level(0.9) == pytest.approx(0.95)
    assert one.nominal_level(0.905) == pytest.approx(0.955)
    lo, hi = one.interval(X, 0.9)
    assert (lo[0], hi[0]) == pytest.approx(
        (2.0 - 0.1 * norm.ppf(0.975), 2.0 + 0.1 * norm.ppf(0.975)), rel=1e-9
    )
    lo, hi = one.interval(X, 0.9, recalibrated=False)
    assert (lo[0], hi[0]) == pytest.approx((2.0 - 0.1 * norm.ppf(0.95), 2.0 + 0.1 * norm.ppf(0.95)), rel=1e-9)


def test_the_log_density_of_a_mixture_is_the_log_of_its_weighted_normal_densities():
    """``log_density`` scores a calibration's held-out points: for 0.7 N(0, 0.1^2 + 0.2^2 x^2) +
    0.3 N(1, 0.3^2) it is log(0.7 phi_1 + 0.3 phi_2), by hand."""
    from scipy.stats import norm

    from sciPT.domains.surrogates.objectives import Posterior

    mix = Posterior(
        ["log_C", "Re"],
        np.array([0.1, 0.3]),
        np.array([0.7, 0.3]),
        np.array([[0.0, 0.0], [1.0, 0.0]]),
        np.array([np.diag([0.0, 0.04]), np.zeros((2, 2))]),
    )
    X = np.array([[1.0, 1.0], [1.0, 2.0], [1.0, 0.0]])
    y = np.array([0.05, 0.9, -0.4])
    sd1 = np.sqrt(0.01 + 0.04 * X[:, 1] ** 2)
    expected = np.log(0.7 * norm.pdf(y, 0.0, sd1) + 0.3 * norm.pdf(y, 1.0, 0.3))
    assert mix.log_density(X, y) == pytest.approx(expected, rel=1e-12)


def test_two_noise_levels_and_one_point_give_the_conjugate_mixture_by_hand():
    """One point y = 2 at x = 1, log C ~ N(0, 1), noise sd 0.5 or 1 (a two-level grid), the
    default noise hyperprior: each level is the conjugate normal update, weighted by its evidence
    N(2; 0, 1 + sigma^2) times the hyperprior's weight; the log-evidence sums over both."""
    prior = GaussianPrior(["log_C"], [0.0], [[1.0]])
    post = fit(np.ones((1, 1)), np.array([2.0]), prior, kappa=1.0, sigma=np.array([0.5, 1.0]))
    # sigma 0.5: precision 1 + 4 = 5, mean 2 * 4 / 5 = 1.6, variance 0.2, evidence N(2; 0, 1.25)
    # sigma 1:   precision 1 + 1 = 2, mean 2 * 1 / 2 = 1.0, variance 0.5, evidence N(2; 0, 2)
    # hyperprior (nu0 = 2, s0 = 0.05): log w = log(s0^2 / sigma^2) - s0^2 / sigma^2
    log_n = -0.5 * (np.log(2 * np.pi * np.array([1.25, 2.0])) + 4 / np.array([1.25, 2.0]))
    r = 0.05**2 / np.array([0.25, 1.0])
    joint = log_n + np.log(r) - r
    w = np.exp(joint) / np.exp(joint).sum()
    assert post.sigma.tolist() == [0.5, 1.0]
    assert post.weights == pytest.approx(w, rel=1e-12)
    assert post.means[:, 0] == pytest.approx([1.6, 1.0], rel=1e-12)
    assert post.covs[:, 0, 0] == pytest.approx([0.2, 0.5], rel=1e-12)
    mean = w @ [1.6, 1.0]
    assert post.mean[0] == pytest.approx(mean, rel=1e-12)
    assert post.cov[0, 0] == pytest.approx(w @ [0.2, 0.5] + w @ (np.array([1.6, 1.0]) - mean) ** 2, rel=1e-12)
    assert post.log_evidence == pytest.approx(np.log(np.exp(joint).sum()), rel=1e-12)


def test_a_parameter_both_free_and_fixed_is_refused():
    """Free (flat prior) and fixed (held at its mean) exclude each other: the prior says so."""
    with pytest.raises(ValueError) as err:
        GaussianPrior(["log_C", "Re"], [0.0, 0.8], np.eye(2), free=[True, True], fixed=[False, True])
    assert str(err.value) == "a parameter cannot be both free and fixed"


def test_the_default_noise_grid_and_its_extension_below_and_above():
    """The default hyperprior (s0 = 0.05: s0 / 50 = 1e-3, 40 s0 = 2) needs exactly the stored 72
    levels from 1e-3 to 2 (what an export's n_sigma assumes); s0 = 0.0005 extends it down to the
    first level at or below 1e-5 and s0 = 0.2 up to the first at or above 8, at the same spacing
    log(2 / 1e-3) / 71 = 0.10706, the old levels kept."""
    from sciPT.domains.surrogates.objectives import SIGMA_GRID, sigma_grid

    step = np.log(2000.0) / 71
    default = sigma_grid(NoisePrior())
    assert len(default) == 72
    assert default[0] == pytest.approx(1e-3, rel=1e-12) and default[-1] == pytest.approx(2.0, rel=1e-12)
    low = sigma_grid(NoisePrior(s0=0.0005))
    assert 1e-5 * np.exp(-step) < low[0] <= 1e-5
    assert low[-1] == pytest.approx(2.0, rel=1e-12)
    assert np.diff(np.log(low)) == pytest.approx(np.full(len(low) - 1, step), rel=1e-9)
    assert low[-72:] == pytest.approx(SIGMA_GRID, rel=1e-12)
    high = sigma_grid(NoisePrior(s0=0.2))
    assert 8.0 <= high[-1] < 8.0 * np.exp(step)
    assert high[0] == pytest.approx(1e-3, rel=1e-12)
    assert high[:72] == pytest.approx(SIGMA_GRID, rel=1e-12)


def test_predictions_at_no_rows_are_empty():
    """An empty table of new points (a held-out split with nothing in it) gives empty arrays."""
    post, _, _ = _wide_fit(5, 4, 3)
    none = np.zeros((0, 3))
    for out in (post.predict(none), post.quantile(none, 0.5), post.cdf(none, np.zeros(0))):
        assert out.shape == (0,)


def test_a_far_tail_quantile_of_one_normal_is_its_own_quantile():
    """The quantile's bracket reaches 10 sd either side: q = 1e-6 of N(2, 0.1^2) is 2 - 4.7534 *
    0.1, not clipped to a narrower bracket."""
    from scipy.stats import norm

    from sciPT.domains.surrogates.objectives import Posterior

    one = Posterior(["log_C"], np.array([0.1]), np.array([1.0]), np.array([[2.0]]), np.zeros((1, 1, 1)))
    X = np.ones((1, 1))
    assert norm.ppf(1e-6) == pytest.approx(-4.753424, abs=1e-6)
    assert one.quantile(X, 1e-6)[0] == pytest.approx(2.0 + 0.1 * norm.ppf(1e-6), abs=1e-10)
    assert one.quantile(X, 1 - 1e-6)[0] == pytest.approx(2.0 - 0.1 * norm.ppf(1e-6), abs=1e-10)


@pytest.mark.parametrize("level", [0.0, 1.0, 1.5])
def test_an_interval_level_must_lie_strictly_between_zero_and_one(level):
    """A 100 % interval is infinite and a 0 % one empty: both refused, with the level given."""
    from sciPT.domains.surrogates.objectives import Posterior

    one = Posterior(["log_C"], np.array([0.1]), np.array([1.0]), np.array([[2.0]]), np.zeros((1, 1, 1)))
    with pytest.raises(ValueError) as err:
        one.interval(np.ones((1, 1)), level)
    assert str(err.value) == f"level: expected a probability between 0 and 1, got {level}"


def test_the_kept_pairs_are_the_most_probable_ones_holding_the_mass_asked(monkeypatch):
    """The (kappa, sigma) pairs a fit keeps are the fewest most probable ones that hold all but
    DROPPED_MASS: with it at one half, the kept pairs are the top of the full posterior's list up
    to the first that brings their total to 0.5, renormalised."""
    import sciPT.domains.surrogates.objectives as ob

    X = np.column_stack([np.ones(3), np.log([1e4, 3e4, 1e5])])
    y = np.log([30.0, 75.0, 190.0])
    prior = GaussianPrior(["log_C", "Re"], [np.log(0.023), 0.8], np.diag([0.04, 0.0004]))
    monkeypatch.setattr(ob, "DROPPED_MASS", 0.0)
    full = np.sort(fit(X, y, prior).weights)[::-1]
    monkeypatch.setattr(ob, "DROPPED_MASS", 0.5)
    half = fit(X, y, prior)
    k = len(half.weights)
    assert full[: k - 1].sum() < 0.5 <= full[:k].sum()
    assert np.sort(half.weights)[::-1] == pytest.approx(full[:k] / full[:k].sum(), rel=1e-9)
    assert half.weights.sum() == pytest.approx(1.0, rel=1e-12)


def test_a_prior_with_no_gaussian_block_has_no_width():
    """With every parameter free there is no prior width to report: kappa is nan, not 1."""
    X = np.column_stack([np.ones(3), np.log([1e4, 3e4, 1e5])])
    prior = GaussianPrior(["log_C", "Re"], [0.0, 0.0], np.eye(2), free=[True, True])
    assert np.isnan(fit(X, np.log([30.0, 75.0, 190.0]), prior).kappa)


def test_the_reported_evidence_is_that_at_the_most_probable_width():
    """``log_evidence`` of a fit integrating the width is the evidence at the width it reports
    (``kappa``), the same as a fit with that width held fixed; not the grid's first width."""
    X = np.column_stack([np.ones(3), np.log([1e4, 3e4, 1e5])])
    y = np.log([30.0, 75.0, 190.0])
    prior = GaussianPrior(["log_C", "Re"], [np.log(0.023), 0.8], np.diag([0.04, 0.0004]))
    kappas = np.array([0.1, 1.0, 10.0, 100.0])
    post = fit(X, y, prior, kappas=kappas)
    assert post.kappa != kappas[0]
    assert post.log_evidence == pytest.approx(fit(X, y, prior, kappa=post.kappa).log_evidence, rel=1e-12)


def test_the_free_parameters_named_are_the_free_ones_after_a_held_one():
    """With log C held and (a, b) free, points at one Re and one Pr cannot determine a or b: the
    message names Re and Pr, not log C."""
    X = np.column_stack([np.ones(3), np.full(3, np.log(1e4)), np.full(3, np.log(0.7))])
    prior = GaussianPrior(
        ["log_C", "Re", "Pr"],
        [-3.5, 0.0, 0.0],
        np.eye(3),
        free=[False, True, True],
        fixed=[True, False, False],
    )
    with pytest.raises(DataError) as err:
        fit(X, np.log([50.0, 51.0, 52.0]), prior)
    assert str(err.value) == (
        "3 point(s) cannot determine the free parameters Re, Pr: give more "
        "points spread over each variable, or a prior (--init)"
    )


def test_no_chunk_of_a_prediction_exceeds_the_row_elements(monkeypatch):
    """Rows are taken ROW_ELEMENTS // J at a time (J components): with room for 7 rows, 50 rows go
    in chunks of at most 7, every row once."""
    import sciPT.domains.surrogates.objectives as ob

    post, X, _ = _wide_fit(5, 50, 3)
    monkeypatch.setattr(ob, "ROW_ELEMENTS", 7 * len(post.weights) + 3)
    rows = []
    real = post.predictive

    def spy(x):
        rows.append(len(x))
        return real(x)

    post.predictive = spy
    post.predict(X)
    assert max(rows) == 7 and sum(rows) == 50
