"""Textbook correlations and the pre-trained prior (correlations.py, pretrain.py)."""

import numpy as np
import pytest

from sciPT.domains.surrogates import correlations
from sciPT.domains.surrogates.pretrain import SystemFit, fit_system, population_prior
from sciPT.errors import ConfigError


def by_key(key):
    return next(c for c in correlations.CORRELATIONS if c.key == key)


def test_correlation_values_against_their_formulas():
    assert by_key("dittus-boelter-heating")([1e4], [0.7])[0] == pytest.approx(0.023 * 1e4**0.8 * 0.7**0.4)
    assert by_key("laminar-average")([1e5], [0.7])[0] == pytest.approx(0.664 * 1e5**0.5 * 0.7 ** (1 / 3))
    # Gnielinski with the Petukhov friction factor at Re = 1e5, Pr = 0.7 (hand computation):
    # f = (0.790 ln 1e5 - 1.64)^-2 = 0.01813; Nu = (f/8)(99000)(0.7) / (1 + 12.7 sqrt(f/8)(0.7^(2/3) - 1))
    f = (0.790 * np.log(1e5) - 1.64) ** -2
    petukhov_friction = (f / 8) * 99000 * 0.7 / (1 + 12.7 * np.sqrt(f / 8) * (0.7 ** (2 / 3) - 1))
    # the package uses the exact smooth-pipe Colebrook friction factor: within 2 % of Petukhov's
    assert by_key("gnielinski")([1e5], [0.7])[0] == pytest.approx(petukhov_friction, rel=0.02)


def test_select_by_family_and_unknown_name():
    assert len(correlations.select(["smooth-pipe"])) == 7
    assert len(correlations.select(["flat-plate"])) == 8
    assert len(correlations.select(["all", "colburn"])) == 15
    with pytest.raises(
        ConfigError, match="^systems: unknown system 'ribbed' \\(expected one of: all, flat-plate"
    ):
        correlations.select(["ribbed"])


def test_noise_free_power_law_is_recovered_exactly():
    fit = fit_system(by_key("laminar-local"), 50, 0.0, np.random.default_rng(0))
    assert fit.theta == pytest.approx([np.log(0.332), 0.5, 1 / 3], abs=1e-10)
    assert fit.residual_sd == pytest.approx(0.0, abs=1e-10)


def test_prior_is_mean_of_fits_plus_spread_and_fit_uncertainty():
    c = by_key("colburn")
    a = SystemFit(c, 10, np.array([-4.0, 0.8, 0.4]), np.eye(3) * 0.01, 0.1)
    b = SystemFit(c, 10, np.array([-3.0, 0.6, 0.3]), np.eye(3) * 0.03, 0.1)
    prior = population_prior([a, b], groups=["e_Dh"], group_sd=0.5)
    assert prior.names == ["log_C", "Re", "Pr", "e_Dh"]
    assert prior.mean == pytest.approx([-3.5, 0.7, 0.35, 0.0])
    d = np.array([-1.0, 0.2, 0.1])  # a - b; sample covariance of two points = d d^T / 2
    expected = np.outer(d, d) / 2 + np.eye(3) * 0.02
    assert prior.cov[:3, :3] == pytest.approx(expected)
    assert prior.cov[3, 3] == pytest.approx(0.25)
    assert prior.cov[3, :3] == pytest.approx(np.zeros(3))
