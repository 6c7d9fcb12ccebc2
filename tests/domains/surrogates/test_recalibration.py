"""Interval recalibration: the conformal map, its use by a posterior, and its coverage on systems
it was not learnt on (recalibration.py, Posterior.cdf / interval)."""

import numpy as np
import pytest

from sciPT.domains.surrogates import presets
from sciPT.domains.surrogates.calibrate import calibrate, scratch_prior
from sciPT.domains.surrogates.objectives import LEVELS, GaussianPrior, NoisePrior, fit
from sciPT.domains.surrogates.pretrain import family_mixture, fit_systems
from sciPT.domains.surrogates.recalibration import (
    IntervalRecalibration,
    for_library,
    learn_recalibration,
    nominal_levels,
    synthetic_series,
)

NAMES = ["log_C", "Re", "Pr"]


def features(re, pr=0.7):
    re = np.asarray(re, float)
    return np.column_stack([np.ones_like(re), np.log(re), np.full_like(re, np.log(pr))])


def test_nominal_levels_are_the_split_conformal_quantile_of_the_ranks():
    ranks = np.arange(1, 11) / 10  # 0.1, ..., 1.0 (m = 10)
    table = nominal_levels(ranks[::-1])
    at = dict(zip(np.round(LEVELS, 2), table))
    # level 0.5: k = ceil(11 * 0.5) = 6, the 6th smallest rank; 0.8: k = ceil(8.8) = 9
    assert at[0.5] == pytest.approx(0.6)
    assert at[0.8] == pytest.approx(0.9)
    # 0.9: k = ceil(9.9) = 10 is the largest rank, 1.0: an interval that holds every point
    assert at[0.9] == pytest.approx(0.999)
    # 0.05: k = 1, the smallest
    assert at[0.05] == pytest.approx(0.1)
    assert np.all(np.diff(table) >= 0)
    # an exact product: m = 99, level 0.07: k = 100 * 0.07 = 7 (0.07 * 100 is 7.000000000000001 in
    # floating point, whose ceiling, 8, is one rank too far)
    hundredths = np.arange(1, 100) / 100
    assert dict(zip(np.round(LEVELS, 2), nominal_levels(hundredths)))[0.07] == pytest.approx(0.07)


def test_cdf_inverts_quantile_and_a_level_map_moves_the_interval_to_its_nominal_level():
    rng = np.random.default_rng(0)
    X = features(np.geomspace(1e4, 1e5, 5))
    y = X @ [-3.5, 0.8, 0.4] + 0.03 * rng.standard_normal(5)
    post = fit(X, y, scratch_prior(X, NAMES), NoisePrior())
    new = features([3e4, 2e5])
    for q in (0.05, 0.5, 0.9):
        assert post.cdf(new, post.quantile(new, q)) == pytest.approx([q, q], abs=1e-6)
    plain_lo, plain_hi = post.interval(new, 0.75)
    post.level_map = np.full(len(LEVELS), 0.75)  # every level held by the nominal 75 % interval
    lo, hi = post.interval(new, 0.9)
    assert post.nominal_level(0.9) == pytest.approx(0.75)
    np.testing.assert_allclose([lo, hi], [plain_lo, plain_hi])


def test_a_recalibration_round_trips_and_refuses_another_level_grid():
    maps = {"scratch": {n: np.linspace(0.2, 0.99, len(LEVELS)) for n in (1, 2, 3, 4, 5)}}
    recal = IntervalRecalibration(maps, {"scratch": dict.fromkeys(maps["scratch"], 10)}, "test")
    back = IntervalRecalibration.from_dict(recal.as_dict())
    np.testing.assert_allclose(back.level_map("scratch", 9), maps["scratch"][5])  # n > 5: the last
    bad = recal.as_dict()
    bad["levels"] = bad["levels"][:-1]
    with pytest.raises(ValueError, match="another level grid"):
        IntervalRecalibration.from_dict(bad)


def test_scratch_maps_learnt_on_one_draw_of_series_hold_their_level_on_another():
    cfg = presets.tiny()
    fits = fit_systems(cfg.systems, cfg.points_per_system, cfg.noise, cfg.train.seed)
    recal = learn_recalibration(fits, form=None, max_draws=3, seed=0)
    assert set(recal.maps) == {"scratch"}
    # fresh series (other Re windows and scatter), every pair of points calibrating scratch
    inside = plain = total = 0
    for _, pts in synthetic_series(fits, noise=NoisePrior().s0, seed=1).values():
        X, y = pts.features(), pts.log_nu
        for pair in ([0, 1], [2, 3], [4, 6]):
            cal = calibrate(X[pair], y[pair], NAMES, None, recalibration=recal)
            test = np.setdiff1d(np.arange(len(y)), pair)
            lo, hi = cal.chosen.interval(X[test], 0.9)
            inside += int(((lo <= y[test]) & (y[test] <= hi)).sum())
            cal.chosen.level_map = None
            lo, hi = cal.chosen.interval(X[test], 0.9)
            plain += int(((lo <= y[test]) & (y[test] <= hi)).sum())
            total += len(test)
    # two free parameters on two points: the nominal interval is far too wide; the map fixes it
    assert plain / total > 0.97
    assert 0.85 <= inside / total <= 0.95


def test_a_prior_informed_recalibration_needs_a_family_to_hold_out():
    fits = fit_systems(["rough-pipe"], 50, 0.05, 0)
    with pytest.raises(ValueError, match="needs two or more"):
        learn_recalibration(fits, form="gaussian")


def test_calibrate_gives_each_fit_the_map_of_its_kind_and_size():
    X = features(np.geomspace(1e4, 1e5, 3))
    y = X @ [-3.5, 0.7, 0.4]
    maps = {
        kind: {n: np.full(len(LEVELS), value + n / 100) for n in (1, 2, 3, 4, 5)}
        for kind, value in (("prior", 0.5), ("scratch", 0.7))
    }
    prior = GaussianPrior(NAMES, [-3.0, 0.75, 0.4], np.diag([1.0, 0.02, 0.01]))
    cal = calibrate(X, y, NAMES, prior, recalibration=IntervalRecalibration(maps))
    assert cal.prior_fit.nominal_level(0.9) == pytest.approx(0.53)
    assert cal.scratch_fit.nominal_level(0.9) == pytest.approx(0.73)
    # maps stored before the blend had its own: the blend mixes its members' with its weights
    w = cal.guard.prior_weight
    assert cal.guard.choice == "blend" and 0 < w < 1
    assert cal.blended.nominal_level(0.9) == pytest.approx(w * 0.53 + (1 - w) * 0.73)
    maps["blend"] = {n: np.full(len(LEVELS), 0.6 + n / 100) for n in (1, 2, 3, 4, 5)}
    cal = calibrate(X, y, NAMES, prior, recalibration=IntervalRecalibration(maps))
    assert cal.blended.nominal_level(0.9) == pytest.approx(0.63)


def test_the_blend_learns_its_own_map_and_with_one_point_it_is_the_prior_informed_fit():
    cfg = presets.small()
    fits = fit_systems(cfg.systems, cfg.points_per_system, cfg.noise, cfg.train.seed)
    recal = for_library(cfg, "mixture", "exponents")  # what `scipt finetune surrogate` uses, cached
    assert set(recal.maps) == {"prior", "scratch", "blend"}
    # the guard keeps the prior-informed fit with one point: the same ranks, the same map
    np.testing.assert_array_equal(recal.maps["blend"][1], recal.maps["prior"][1])
    assert recal.points["blend"] == recal.points["prior"]
    # fresh series, two points each, calibrated with the prior of the other families: the blend's
    # own map holds its level where its members' maps, mixed, hold more
    family = {f.correlation.key: f.correlation.family for f in fits}
    own = mixed = total = 0
    rng = np.random.default_rng(1)
    for key, pts in synthetic_series(fits, noise=NoisePrior().s0, seed=1).values():
        X, y = pts.features(), pts.log_nu
        prior = family_mixture([f for f in fits if f.correlation.family != family[key]])
        pair = np.sort(rng.choice(len(y), 2, replace=False))
        cal = calibrate(X[pair], y[pair], NAMES, prior, recalibration=recal)
        test = np.setdiff1d(np.arange(len(y)), pair)
        lo, hi = cal.chosen.interval(X[test], 0.9)
        own += int(((lo <= y[test]) & (y[test] <= hi)).sum())
        w = cal.guard.prior_weight
        cal.chosen.level_map = w * recal.level_map("prior", 2) + (1 - w) * recal.level_map("scratch", 2)
        lo, hi = cal.chosen.interval(X[test], 0.9)
        mixed += int(((lo <= y[test]) & (y[test] <= hi)).sum())
        total += len(test)
    assert 0.85 <= own / total <= 0.95
    assert mixed > own
