"""The exported surrogate model and its correction (model.py, export through sciPT.checkpoint)."""

import json

import numpy as np
import pytest
import torch

from sciPT.checkpoint import from_pretrained
from sciPT.domains.surrogates import export_surrogate, prior_posterior
from sciPT.domains.surrogates.law import law_dict, law_string
from sciPT.domains.surrogates.model import RandomFeatureCorrection
from sciPT.domains.surrogates.objectives import LEVELS, GaussianPrior, fit

NAMES = ["log_C", "Re", "Pr"]


def test_law_string_and_pasteable_lambda():
    theta = np.array([np.log(0.089), 0.68, 0.4])
    assert law_string(theta, NAMES) == "Nu = 0.089 Re^0.68 Pr^0.4"
    law = law_dict(theta, np.diag([0.01, 0.0004, 0.0001]), NAMES)
    assert law["exponents"] == pytest.approx({"Re": 0.68, "Pr": 0.4})
    assert law["exponents_sd"] == pytest.approx({"Re": 0.02, "Pr": 0.01})
    nu = eval(law["python"])(3e4, 0.7)  # the string is meant to be pasted into code
    assert nu == pytest.approx(0.089 * 3e4**0.68 * 0.7**0.4, rel=1e-5)


def test_the_pasteable_lambda_is_python_whatever_the_column_names():
    """Columns e/Dh and p/e made ``lambda Re, Pr, e/Dh, p/e: ...``, a syntax error, whose body
    pasted alone with p and e defined computed p / e**-0.0216 without a word."""
    theta = np.array([np.log(0.03), 0.8, 0.4, 0.1, -0.02, 0.05, 0.2])
    names = [*NAMES, "e/Dh", "p/e", "p_e", "2nd"]
    law = law_dict(theta, np.eye(7) * 1e-4, names)
    assert law["python"].startswith("lambda Re, Pr, e_Dh, p_e, p_e_2, x_2nd: 0.03 * Re**0.8 * ")
    assert law["arguments"] == {
        "Re": "Re",
        "Pr": "Pr",
        "e_Dh": "e/Dh",
        "p_e": "p/e",
        "p_e_2": "p_e",
        "x_2nd": "2nd",
    }
    nu = eval(law["python"])(1e4, 0.7, 0.05, 10.0, 3.0, 2.0)
    assert nu == pytest.approx(0.03 * 1e4**0.8 * 0.7**0.4 * 0.05**0.1 * 10.0**-0.02 * 3.0**0.05 * 2.0**0.2)
    # characters \w keeps but a Python name refuses (subscripts), and names Python reads alike (NFKC)
    law = law_dict(theta[:5], np.eye(5) * 1e-4, [*NAMES, "d₁/d₂", "ﬁ"])
    assert law["python"].startswith("lambda Re, Pr, d1_d2, fi: ")
    assert eval(law["python"])(1e4, 0.7, 0.5, 2.0) == pytest.approx(
        0.03 * 1e4**0.8 * 0.7**0.4 * 0.5**0.1 * 2.0**-0.02
    )


def test_export_round_trip_keeps_the_distribution(tmp_path):
    prior = GaussianPrior(NAMES + ["e_Dh"], [-3.0, 0.7, 0.35, 0.1], np.diag([1.0, 0.02, 0.003, 0.25]))
    post = prior_posterior(prior)
    export_surrogate(tmp_path / "model", post, ["e_Dh"], {"kind": "prior"})
    config = json.loads((tmp_path / "model/config.json").read_text())
    assert config["domain"] == "surrogates"
    assert config["groups"] == ["e_Dh"]
    loaded = from_pretrained(tmp_path, domain="surrogates").model
    back = loaded.posterior()
    assert back.mean == pytest.approx(post.mean)
    assert back.cov == pytest.approx(post.cov)
    X = np.array([[1.0, np.log(2e4), np.log(0.7), np.log(0.1)]])
    assert loaded(torch.from_numpy(X)).numpy() == pytest.approx(post.predict(X))


def _joint_fit(X, y, width):
    basis = RandomFeatureCorrection.on_points(X, width, seed=0)
    p = X.shape[1]
    cov = np.zeros((p + width, p + width))
    cov[p:, p:] = np.eye(width) * 0.1**2
    prior = GaussianPrior(
        NAMES[:p] + [f"w{j}" for j in range(width)],
        np.zeros(p + width),
        cov,
        free=[True] * p + [False] * width,
    )
    return fit(np.hstack([X, basis.features(X)]), y, prior, kappa=1.0), basis


def test_correction_is_orthogonal_to_the_law_and_vanishes_where_the_law_holds():
    re = np.geomspace(1e4, 1e5, 12)
    pr = np.geomspace(0.7, 5, 12)[np.random.default_rng(0).permutation(12)]
    X = np.column_stack([np.ones(12), np.log(re), np.log(pr)])
    basis = RandomFeatureCorrection.on_points(X, 8, seed=0)
    assert basis.features(X).T @ X == pytest.approx(np.zeros((8, 3)), abs=1e-9)
    exact = X @ [np.log(0.023), 0.8, 0.4]
    post, _ = _joint_fit(X, exact, 8)
    assert post.mean[3:] == pytest.approx(np.zeros(8), abs=1e-9)
    assert post.mean[:3] == pytest.approx([np.log(0.023), 0.8, 0.4], abs=1e-8)


def test_correction_bends_a_curved_law_between_the_points():
    re = np.geomspace(3e3, 5e6, 15)
    X = np.column_stack([np.ones(15), np.log(re)])
    # Gnielinski-like curvature in log-log: no power law fits it exactly
    y = np.log(0.012) + 0.87 * np.log(re) - 0.04 * (np.log(re) - 11) ** 2
    post, basis = _joint_fit(X, y, 8)
    law_only = np.linalg.lstsq(X, y, rcond=None)[0]
    rmse_law = np.sqrt(np.mean((X @ law_only - y) ** 2))
    rmse_corrected = np.sqrt(np.mean((post.predict(np.hstack([X, basis.features(X)])) - y) ** 2))
    assert np.abs(post.mean[2:]).max() > 1e-3
    assert rmse_corrected < 0.5 * rmse_law


def test_the_law_record_holds_c_its_log_its_sd_and_the_covariance_in_order():
    """law.json is what other code reads: a C stored as log C (or the sd of an exponent under
    log_C_sd) is a law off by orders of magnitude, and a covariance without its order unreadable."""
    theta = np.array([np.log(0.0234567), 0.812345, 0.41234])
    cov = np.array([[0.04, 0.001, 0.0], [0.001, 0.0009, 0.0], [0.0, 0.0, 0.0001]])
    law = law_dict(theta, cov, NAMES)
    assert law["C"] == pytest.approx(0.0234567, rel=1e-12)
    assert law["log_C"] == pytest.approx(np.log(0.0234567), rel=1e-12)
    assert law["log_C_sd"] == pytest.approx(0.2)  # sqrt(0.04)
    assert law["exponents_sd"] == pytest.approx({"Re": 0.03, "Pr": 0.01})
    assert law["covariance"] == {"order": ["log_C", "Re", "Pr"], "matrix": cov.tolist()}


def test_the_pasteable_lambda_keeps_six_digits_of_every_coefficient():
    """Three digits (0.0235 Re**0.812) put the pasted law 0.4 % off the fitted one at Re = 3e4;
    six keep it to a few parts per million, as the law's own predictions are."""
    theta = np.array([np.log(0.0234567), 0.812345, 0.41234])
    law = law_dict(theta, np.eye(3) * 1e-4, NAMES)
    assert law["python"] == "lambda Re, Pr: 0.0234567 * Re**0.812345 * Pr**0.41234"
    nu = eval(law["python"])(3e4, 0.7)
    assert nu == pytest.approx(0.0234567 * 3e4**0.812345 * 0.7**0.41234, rel=1e-5)


def test_a_column_named_after_a_python_keyword_gets_a_prefix():
    """A column named ``lambda`` or ``in`` made ``lambda Re, Pr, lambda: ...``, a syntax error."""
    theta = np.array([np.log(0.03), 0.8, 0.4, 0.1, -0.2])
    law = law_dict(theta, np.eye(5) * 1e-4, [*NAMES, "lambda", "in"])
    assert law["python"].startswith("lambda Re, Pr, x_lambda, x_in: ")
    assert law["arguments"] == {"Re": "Re", "Pr": "Pr", "x_lambda": "lambda", "x_in": "in"}
    assert eval(law["python"])(1e4, 0.7, 2.0, 0.5) == pytest.approx(
        0.03 * 1e4**0.8 * 0.7**0.4 * 2.0**0.1 * 0.5**-0.2
    )


def test_a_variance_rounded_below_zero_gives_an_sd_of_zero_not_nan():
    """A parameter held fixed has variance 0, which arithmetic can leave at -1e-20: its sqrt made
    the sd NaN, which strict JSON readers refuse."""
    cov = np.diag([0.01, -1e-20, 0.0001])
    law = law_dict(np.array([np.log(0.023), 0.8, 0.4]), cov, NAMES)
    assert law["exponents_sd"] == {"Re": 0.0, "Pr": pytest.approx(0.01)}


def _curved_points():
    """Fifteen points of a curved (Gnielinski-like) law over Re and Pr: ``(X, y)``."""
    re = np.geomspace(3e3, 5e6, 15)
    pr = np.geomspace(0.7, 7.0, 15)[np.random.default_rng(1).permutation(15)]
    X = np.column_stack([np.ones(15), np.log(re), np.log(pr)])
    return X, np.log(0.012) + 0.87 * X[:, 1] - 0.04 * (X[:, 1] - 11) ** 2 + 0.4 * X[:, 2]


def test_a_fitted_model_predicts_the_mixture_mean_and_reports_its_exponents(tmp_path):
    """A calibrated model stores many components (noise and width integrated out) with different
    means: its point prediction and its exponents are their weighted mean, by hand."""
    X, y = _curved_points()
    prior = GaussianPrior(NAMES, [0.0, 0.8, 0.4], np.diag([1.0, 0.15**2, 0.1**2]), free=[True, False, False])
    post = fit(X[:3], y[:3], prior)
    assert len(post.weights) > 10 and np.ptp(post.means[:, 1]) > 1e-3  # the components differ
    export_surrogate(tmp_path / "model", post, [], {"kind": "calibrated"})
    loaded = from_pretrained(tmp_path, domain="surrogates").model
    by_hand = sum(w * m for w, m in zip(post.weights, post.means))
    assert loaded.theta == pytest.approx(by_hand, rel=1e-12)
    assert loaded(torch.from_numpy(X)).numpy() == pytest.approx(X @ by_hand, rel=1e-12)


def test_an_exported_correction_is_loaded_with_its_width_and_predicts_as_fitted(tmp_path):
    """A model calibrated with a correction must load with it (its width in config.json) and predict
    what the fit predicted, correction included, at points it was not fitted on."""
    X, y = _curved_points()
    post, basis = _joint_fit(X[::2], y[::2], 6)
    assert np.abs(post.mean[3:]).max() > 1e-3  # the correction is not zero
    export_surrogate(tmp_path / "model", post, [], {"kind": "calibrated"}, correction=basis)
    config = json.loads((tmp_path / "model/config.json").read_text())
    assert config["correction_width"] == 6
    loaded = from_pretrained(tmp_path, domain="surrogates").model
    assert loaded.posterior().names == [*NAMES, "w0", "w1", "w2", "w3", "w4", "w5"]
    new = X[1::2]
    expected = post.predict(np.hstack([new, basis.features(new)]))
    assert loaded(torch.from_numpy(new)).numpy() == pytest.approx(expected, rel=1e-12)


def test_the_correction_does_not_depend_on_the_scale_of_the_log_variables():
    """The hidden layer sees standardised log variables: Re**2 in place of Re (log Re doubled) or
    another unit (log Re shifted) gives the same correction features; without the scaling the tanh
    saturates at log Re ~ 10 and the features lose their shape."""
    X, _ = _curved_points()
    Xs = X.copy()
    Xs[:, 1] = 2 * X[:, 1] + 3.0
    a = RandomFeatureCorrection.on_points(X, 8, seed=0)
    b = RandomFeatureCorrection.on_points(Xs, 8, seed=0)
    assert b.features(Xs) == pytest.approx(a.features(X), abs=1e-9)
    assert a.loc.numpy() == pytest.approx(X[:, 1:].mean(0))
    assert a.scale.numpy() == pytest.approx(X[:, 1:].std(0))


def test_a_loaded_model_gives_the_recalibrated_intervals_of_its_export(tmp_path):
    """The export's interval recalibration (config.json ``interval_level_map``) travels with a model
    loaded in Python: its 90 % interval is the predictive's own interval at the mapped level."""
    prior = GaussianPrior(NAMES, [-3.0, 0.7, 0.35], np.diag([1.0, 0.02, 0.003]))
    post = prior_posterior(prior)
    level_map = np.minimum(LEVELS + 0.05, 0.995)  # a 90 % interval is the own 95 % one
    export_surrogate(
        tmp_path / "model", post, [], {"kind": "prior", "interval_level_map": level_map.tolist()}
    )
    back = from_pretrained(tmp_path, domain="surrogates").model.posterior()
    X = np.array([[1.0, np.log(2e4), np.log(0.7)]])
    lo, hi = back.interval(X, 0.9)
    own_lo, own_hi = post.interval(X, 0.95)
    assert (lo[0], hi[0]) == pytest.approx((own_lo[0], own_hi[0]), rel=1e-9)
    plain_lo, plain_hi = post.interval(X, 0.9)  # no map: wider by 1.96 / 1.645
    assert hi[0] - lo[0] > 1.1 * (plain_hi[0] - plain_lo[0])


def test_a_constant_variable_is_not_scaled_and_its_value_does_not_change_the_correction():
    """Points at one Pr (a common calibration) give Pr a standard deviation of 0, or 7e-16 after
    rounding: its scale is then 1, not 0 (NaN features) nor 7e-16 (rounding blown up to order 1),
    so the correction is the same whichever constant Pr the points share."""
    re = np.geomspace(1e4, 1e5, 15)
    at = {pr: np.column_stack([np.ones(15), np.log(re), np.full(15, np.log(pr))]) for pr in (0.7, 7.0)}
    assert np.std(at[7.0][:, 2]) > 0  # the rounding this holds against
    a = RandomFeatureCorrection.on_points(at[0.7], 6, seed=0)
    b = RandomFeatureCorrection.on_points(at[7.0], 6, seed=0)
    assert a.scale.numpy()[1] == 1.0 and b.scale.numpy()[1] == 1.0
    assert np.isfinite(a.features(at[0.7])).all()
    assert b.features(at[7.0]) == pytest.approx(a.features(at[0.7]), abs=1e-9)
    assert a.features(at[0.7]).T @ at[0.7] == pytest.approx(np.zeros((6, 3)), abs=1e-9)


def test_the_correction_of_one_point_given_as_a_row_is_that_point_s_row():
    """``features`` takes one point as a 1-D row ``[1, log Re, log Pr]`` as well as a batch."""
    X, _ = _curved_points()
    basis = RandomFeatureCorrection.on_points(X, 5, seed=0)
    assert basis.features(X[4]) == pytest.approx(basis.features(X)[4:5], abs=1e-12)


def _ratio_posterior():
    """A mixture posterior over ``(log C, a, b, c_p_e, c_e_Dh)`` fitted to points of
    Nu = 0.02 Re^0.8 Pr^0.4 (p/e)^0.3 (e/Dh)^-0.1 with 3 % scatter, groups in that column order."""
    rng = np.random.default_rng(3)
    n = 12
    X = np.column_stack(
        [
            np.ones(n),
            np.log(rng.uniform(1e4, 1e5, n)),
            np.log(rng.uniform(0.7, 7.0, n)),
            np.log(rng.uniform(5.0, 20.0, n)),
            np.log(rng.uniform(0.01, 0.1, n)),
        ]
    )
    y = X @ [np.log(0.02), 0.8, 0.4, 0.3, -0.1] + 0.03 * rng.standard_normal(n)
    names = [*NAMES, "p_e", "e_Dh"]
    prior = GaussianPrior(names, [np.log(0.02), 0.8, 0.4, 0.0, 0.0], np.diag([1.0, 0.02, 0.01, 0.25, 0.25]))
    return fit(X, y, prior), X


def test_a_model_with_ratios_keeps_their_order_and_reports_their_exponents(tmp_path):
    """The ratios' exponents are part of the law: ``theta`` and the posterior's names carry every
    one, in the order of the model's columns (p_e before e_Dh, as given, not sorted), so that
    a user reading exponent k of theta reads the ratio in column k."""
    post, X = _ratio_posterior()
    assert np.ptp(post.means[:, 3]) > 1e-6  # a mixture whose components differ
    export_surrogate(tmp_path / "model", post, ["p_e", "e_Dh"], {"kind": "calibrated"})
    loaded = from_pretrained(tmp_path, domain="surrogates").model
    assert loaded.posterior().names == [*NAMES, "p_e", "e_Dh"]
    by_hand = sum(w * m for w, m in zip(post.weights, post.means))
    assert loaded.theta.shape == (5,)
    assert loaded.theta == pytest.approx(by_hand, rel=1e-12)
    assert loaded.theta[3:] == pytest.approx([0.3, -0.1], abs=0.1)  # the law the points follow
    assert loaded(torch.from_numpy(X)).numpy() == pytest.approx(X @ by_hand, rel=1e-12)


def test_the_exported_law_record_is_the_mixture_s_mean_law_with_every_ratio(tmp_path):
    """config.json's ``law`` is the mixture's mean and total covariance (not one component's) over
    every parameter, ratios included, and names the sciPT version that wrote it."""
    import sciPT

    post, _ = _ratio_posterior()
    export_surrogate(tmp_path / "model", post, ["p_e", "e_Dh"], {"kind": "calibrated"})
    config = json.loads((tmp_path / "model/config.json").read_text())
    assert config["sciPT_version"] == sciPT.__version__
    law = config["law"]
    mean = sum(w * m for w, m in zip(post.weights, post.means))
    d = post.means - mean
    cov = sum(w * (c + np.outer(e, e)) for w, c, e in zip(post.weights, post.covs, d))
    assert law["C"] == pytest.approx(np.exp(mean[0]), rel=1e-9)
    assert law["exponents"] == pytest.approx(dict(zip(["Re", "Pr", "p_e", "e_Dh"], mean[1:])), rel=1e-9)
    sds = np.sqrt(np.diag(cov))
    assert law["exponents_sd"] == pytest.approx(dict(zip(["Re", "Pr", "p_e", "e_Dh"], sds[1:])), rel=1e-9)
    assert np.array(law["covariance"]["matrix"]) == pytest.approx(cov, rel=1e-9, abs=1e-15)
    assert law["covariance"]["order"] == [*NAMES, "p_e", "e_Dh"]


def test_a_loaded_model_s_posterior_is_a_copy():
    """Changing the distribution a model hands out (a caller blending or shifting it) must not
    change the model's own predictions."""
    from sciPT.domains.surrogates.model import PowerLaw

    post, X = _ratio_posterior()
    model = PowerLaw.from_posterior(post, ["p_e", "e_Dh"])
    before = model(torch.from_numpy(X)).numpy().copy()
    out = model.posterior()
    for array in (out.means, out.covs, out.weights, out.sigma):
        array[...] = 0.0
    assert model(torch.from_numpy(X)).numpy() == pytest.approx(before, rel=1e-15)
    assert model.posterior().covs == pytest.approx(post.covs)


def test_a_prior_stored_as_a_posterior_is_the_prior_under_every_noise_level():
    """What a pre-trained model stores: the prior's mean and covariance as they are (width 1) in
    every component, over the noise grid of the given noise prior, each noise level weighted by
    its scaled inverse chi-square density p(log sigma^2) ~ (s0^2 / sigma^2)^(nu0/2)
    exp(-nu0 s0^2 / (2 sigma^2))."""
    from sciPT.domains.surrogates.objectives import NoisePrior, sigma_grid

    cov = np.array([[1.0, -0.05, 0.0], [-0.05, 0.02, 0.001], [0.0, 0.001, 0.003]])
    prior = GaussianPrior(NAMES, [-3.0, 0.7, 0.35], cov)
    noise = NoisePrior(s0=0.2, nu0=4.0)
    post = prior_posterior(prior, noise)
    sigma = sigma_grid(noise)
    assert post.sigma == pytest.approx(sigma)
    assert len(sigma) > 72  # the grid extended up to 40 s0 = 8: not the default noise's
    for m, c in zip(post.means, post.covs):
        assert m == pytest.approx([-3.0, 0.7, 0.35], rel=1e-9)
        assert c == pytest.approx(cov, rel=1e-9, abs=1e-12)
    density = (0.2**2 / sigma**2) ** 2 * np.exp(-4.0 * 0.2**2 / (2 * sigma**2))
    assert post.weights == pytest.approx(density / density.sum(), rel=1e-9, abs=1e-300)


def test_pretrain_refuses_settings_it_cannot_fit_before_writing_anything(tmp_path):
    """Each refusal names the setting and the value; nothing is written. A nan scatter or an
    infinite width compare False with everything, so they must be refused too, not fitted."""
    from sciPT.domains.surrogates import domain
    from sciPT.domains.surrogates.presets import SurrogatePretrainConfig
    from sciPT.errors import UserError
    from sciPT.trainer import SEED_LIMIT

    def refused(**settings):
        cfg = SurrogatePretrainConfig(systems=["colburn"], points_per_system=10)
        seed = settings.pop("seed", 0)
        resume = settings.pop("resume", False)
        for key, value in settings.items():
            setattr(cfg, key, value)
        cfg.train.seed = seed
        with pytest.raises(UserError) as err:
            domain.pretrain(cfg, tmp_path / "run", resume=resume)
        assert not (tmp_path / "run").exists()
        return str(err.value)

    assert refused(points_per_system=3) == "points_per_system: expected at least 4, got 3"
    assert refused(noise=-0.01) == "noise: expected a relative scatter >= 0, got -0.01"
    assert refused(noise=float("nan")) == "noise: expected a relative scatter >= 0, got nan"
    assert refused(noise=float("inf")) == "noise: expected a relative scatter >= 0, got inf"
    assert refused(group_sd=0.0) == "group_sd: expected a standard deviation > 0, got 0.0"
    assert refused(group_sd=float("nan")) == "group_sd: expected a standard deviation > 0, got nan"
    assert refused(group_sd=float("inf")) == "group_sd: expected a standard deviation > 0, got inf"
    assert refused(seed=-1) == f"train.seed: expected an integer from 0 to {SEED_LIMIT - 1}, got -1"
    assert refused(resume=True) == "--resume: surrogates pre-train in closed form, in seconds; run it again"


def test_pretrain_of_one_family_without_scatter_at_four_points_learns_no_recalibration(tmp_path):
    """Four noise-free points per system are enough for a closed-form fit (noise 0 and 4 points are
    the documented bounds, both allowed); with one family there is none to hold out, so no interval
    recalibration is learnt or stored, however many systems the family has."""
    from sciPT.domains.surrogates import domain
    from sciPT.domains.surrogates.presets import SurrogatePretrainConfig

    cfg = SurrogatePretrainConfig(
        systems=["dittus-boelter-heating", "dittus-boelter-cooling"], points_per_system=4, noise=0.0
    )
    run = domain.pretrain(cfg, tmp_path / "run")
    config = json.loads((run.model / "config.json").read_text())
    assert config["interval_recalibration"] is None
    # an exact power law sampled without scatter: Dittus-Boelter heating, Nu = 0.023 Re^0.8 Pr^0.4
    heating = config["systems"][0]
    assert (heating["C"], heating["a"], heating["b"]) == pytest.approx((0.023, 0.8, 0.4), rel=1e-9)


def test_pretrain_writes_the_prior_its_metrics_report_and_recalibration(tmp_path):
    """A two-family pre-training (seed 3): the export is the prior learnt from the seed-3 sample,
    stored with width 1, kind 'prior', each system's validity box and a recalibration learnt with
    the default noise prior; metrics.json gives the prior's mean and sd of log C, a and b; the
    report gives the command, the sample size, the mean law, each parameter's mean and sd and
    their correlation matrix."""
    import yaml

    from sciPT.domains.surrogates import domain
    from sciPT.domains.surrogates.presets import SurrogatePretrainConfig
    from sciPT.domains.surrogates.pretrain import learn_prior, validity_box

    cfg = SurrogatePretrainConfig(systems=["colburn", "whitaker-sphere"], points_per_system=10)
    cfg.train.seed = 3
    run = domain.pretrain(cfg, tmp_path / "run", command="scipt pretrain surrogates --seed 3")
    prior, fits = learn_prior(cfg)
    sd = np.sqrt(np.diag(prior.cov))

    config = json.loads((run.model / "config.json").read_text())
    assert config["kind"] == "prior" and config["groups"] == []
    assert config["validity"] == {"systems": validity_box(fits)}
    assert config["pretrain"]["points_per_system"] == 10 and config["pretrain"]["train"]["seed"] == 3
    recalibration = config["interval_recalibration"]
    assert recalibration["transfer"] == "exponents"
    assert recalibration["noise_prior"] == {"s0": 0.05, "nu0": 2.0}
    stored = from_pretrained(run.path, domain="surrogates").model.posterior()
    assert stored.mean == pytest.approx(prior.mean, rel=1e-9)
    assert stored.cov == pytest.approx(prior.cov, rel=1e-9)
    run_config = yaml.safe_load(run.config.read_text())
    assert run_config["domain"] == "surrogates" and run_config["points_per_system"] == 10

    assert run.read_metrics() == pytest.approx(
        {
            "systems": 2,
            "prior_log_C": prior.mean[0],
            "prior_a": prior.mean[1],
            "prior_b": prior.mean[2],
            "prior_log_C_sd": sd[0],
            "prior_a_sd": sd[1],
            "prior_b_sd": sd[2],
        },
        rel=1e-9,
    )

    report = run.report.read_text()
    assert "Command:\n\n    scipt pretrain surrogates --seed 3\n" in report
    assert "Each correlation sampled at 10 points, log-uniform over its validity range" in report
    assert f"Mean law: `{law_string(prior.mean[:3], NAMES)}`" in report
    for name, m, s in zip(NAMES, prior.mean, sd):
        assert f"| {name} | {m:.4f} | {s:.4f} |" in report
    corr = prior.cov[:3, :3] / np.outer(sd[:3], sd[:3])
    assert np.diag(corr) == pytest.approx(np.ones(3))
    assert "```\n" + np.array2string(corr, precision=3) + "\n```" in report
