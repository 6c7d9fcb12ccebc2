"""The exported surrogate model and its correction (model.py, export through sciPT.checkpoint)."""

import json

import numpy as np
import pytest
import torch

from sciPT.checkpoint import from_pretrained
from sciPT.domains.surrogates import export_surrogate, prior_posterior
from sciPT.domains.surrogates.law import law_dict, law_string
from sciPT.domains.surrogates.model import RandomFeatureCorrection
from sciPT.domains.surrogates.objectives import GaussianPrior, fit

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
