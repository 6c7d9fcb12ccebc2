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
