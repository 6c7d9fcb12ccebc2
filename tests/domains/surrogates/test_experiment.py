"""The benchmark protocol (experiment.py): held-out splits, draws, records, summaries and the peers."""

import itertools

import numpy as np
import pytest

from sciPT.domains.surrogates.calibrate import calibrate
from sciPT.domains.surrogates.correlations import CORRELATIONS
from sciPT.domains.surrogates.data import Points
from sciPT.domains.surrogates.experiment import (
    best_zero_shot,
    few_shot_study,
    guard_gap,
    held_out,
    summarise,
    zero_shot,
)
from sciPT.domains.surrogates.objectives import LEVELS, GaussianPrior
from sciPT.domains.surrogates.recalibration import KINDS, IntervalRecalibration


def test_a_correlation_with_no_positive_nu_on_the_points_gives_nan_and_is_no_candidate():
    plate = next(c for c in CORRELATIONS if c.key == "mixed-average")
    re = np.array([2e4, 1e6])
    pts = Points(re, np.full(2, 0.7), np.ones(2), {}, "by hand")
    got = zero_shot(plate, pts)
    # 0.037 Re^0.8 - 871 is negative at Re 2e4 (0.037 x 2,754 = 102): no log; at 1e6 Pr^(1/3) x 1,464
    assert np.isnan(got[0])
    np.testing.assert_allclose(got[1], np.log((0.037 * 1e6**0.8 - 871) * 0.7 ** (1 / 3)), rtol=1e-6)
    records = [{"zero_shot": {"mixed-average": float("nan"), "b": 3.0, "c": 2.0}}]
    assert best_zero_shot(records) == ("c", 2.0)


def test_the_held_out_splits_by_the_calibration_points_re_range():
    """held_out takes the Re values and the chosen indices: calibrated on Re 1 and 4 (indices 0 and
    3) of Re 1-5, all is the rest (1, 2, 4), interpolation the rest strictly inside 1-4 (1, 2) and
    extrapolation the rest above the largest calibration Re, 4 (index 4 only)."""
    re, chosen = np.array([1.0, 2.0, 3.0, 4.0, 5.0]), np.array([0, 3])
    assert held_out(re, chosen, "all").tolist() == [1, 2, 4]
    assert held_out(re, chosen, "interpolation").tolist() == [1, 2]
    assert held_out(re, chosen, "extrapolation").tolist() == [4]
    # calibrated on Re 2 and 3: nothing lies strictly between, 4 and 5 above, 1 below
    assert held_out(re, np.array([1, 2]), "interpolation").tolist() == []
    assert held_out(re, np.array([1, 2]), "extrapolation").tolist() == [3, 4]
    assert held_out(re, np.array([1, 2]), "all").tolist() == [0, 3, 4]


def test_a_rough_correlation_is_applied_zero_shot_at_its_roughness_range_s_bound():
    """A series rougher than a rough correlation's e/D range (Gnielinski-rough: 0.001-0.05) is
    evaluated at e/D = 0.05, one smoother at 0.001; one inside at its own median e_Dh."""
    rough = next(c for c in CORRELATIONS if c.key == "gnielinski-rough")
    re, pr = np.array([2e4, 1e5]), np.full(2, 0.7)

    def series(e):
        return Points(re, pr, np.ones(2), {"e_Dh": np.full(2, e)}, "by hand")

    np.testing.assert_allclose(zero_shot(rough, series(0.1)), np.log(rough(re, pr, 0.05)), rtol=1e-12)
    np.testing.assert_allclose(zero_shot(rough, series(1e-4)), np.log(rough(re, pr, 0.001)), rtol=1e-12)
    np.testing.assert_allclose(zero_shot(rough, series(0.02)), np.log(rough(re, pr, 0.02)), rtol=1e-12)
    # the bound is not the series' own roughness: e/D = 0.1 would give more heat transfer
    assert np.all(rough(re, pr, 0.1) > rough(re, pr, 0.05) * 1.05)


def test_a_replicate_of_a_calibration_re_is_neither_interpolation_nor_extrapolation():
    """Replicates (a rig measures Re 1 twice) are common: one at the lowest or highest calibration
    Re is no point strictly inside the range, nor above it, or both splits would score a point the
    fit has already seen at its own Re."""
    re, chosen = np.array([1.0, 1.0, 2.0, 3.0, 3.0, 4.0]), np.array([0, 4])
    assert held_out(re, chosen, "all").tolist() == [1, 2, 3, 5]
    assert held_out(re, chosen, "interpolation").tolist() == [2]
    assert held_out(re, chosen, "extrapolation").tolist() == [5]


def test_draws_are_every_combination_or_distinct_ones_in_combination_order():
    """The study's draws: all combinations when they are no more than max_draws (10 pairs of 5
    points), else max_draws distinct ones kept in combination order (the records' order)."""
    from sciPT.domains.surrogates.experiment import draws

    every = list(itertools.combinations(range(5), 2))
    assert draws(5, 2, None, np.random.default_rng(0)) == every
    assert draws(5, 2, 10, np.random.default_rng(0)) == every
    for seed in range(5):
        got = draws(5, 2, 9, np.random.default_rng(seed))
        assert len(got) == 9 and len(set(got)) == 9
        assert got == sorted(got) and set(got) <= set(every)


def _record(split, n, method, mape, covered, covered_nominal, points, covered_in, points_in, kept):
    return {
        "series": "a",
        "n": n,
        "split": split,
        "method": method,
        "draw": (0,),
        "mape": mape,
        "covered": covered,
        "covered_nominal": covered_nominal,
        "points": points,
        "covered_in": covered_in,
        "points_in": points_in,
        "guard_kept_prior": kept,
    }


def test_the_summary_pools_coverage_over_points_and_splits_it_inside_and_outside_the_range():
    """The table a user reads: coverage is held-out points inside over held-out points, pooled over
    draws (not a mean of per-draw fractions), inside and outside the calibration range each over
    their own points; MAPE's median and 90th percentile over draws, the prior kept on average."""
    records = [
        _record("all", 2, "guard", 1.0, 1, 1, 2, 1, 1, 1.0),
        _record("all", 2, "guard", 2.0, 3, 3, 4, 1, 2, 0.0),
        _record("all", 2, "guard", 10.0, 0, 1, 1, 0, 0, 0.2),
        _record("extrapolation", 1, "scratch", 4.0, 2, 2, 3, 0, 0, 0.0),
    ]
    table = summarise(records)
    assert [(r["split"], r["n"], r["method"]) for r in table] == [
        ("all", 2, "guard"),
        ("extrapolation", 1, "scratch"),
    ]
    row = table[0]
    assert row["draws"] == 3 and row["points"] == 7
    assert row["mape_median"] == pytest.approx(2.0)
    # 90th percentile of 1, 2, 10 by linear interpolation: 2 + 0.8 x (10 - 2)
    assert row["mape_p90"] == pytest.approx(8.4)
    assert row["coverage"] == pytest.approx(4 / 7)
    assert row["coverage_nominal"] == pytest.approx(5 / 7)
    # inside: 1 + 1 + 0 of 1 + 2 + 0 points; outside: 0 + 2 + 0 of 1 + 2 + 1
    assert (row["points_inside"], row["points_outside"]) == (3, 4)
    assert row["coverage_inside"] == pytest.approx(2 / 3)
    assert row["coverage_outside"] == pytest.approx(2 / 4)
    assert row["prior_kept"] == pytest.approx(0.4)
    # no held-out point inside the range: no coverage there rather than a division by zero
    assert table[1]["coverage_inside"] is None and table[1]["coverage_outside"] == pytest.approx(2 / 3)


def test_the_guard_gap_is_against_the_better_fit_with_a_95_percent_paired_bootstrap():
    """The benchmark says whether the guard costs accuracy: its median MAPE minus that of the better
    (lower median) of scratch and prior, and the 2.5-97.5 % quantiles of that gap over resampled
    draws, here against the exact bootstrap distribution (all 6^6 resamples)."""
    prior = np.array([1.0, 2, 4, 7, 11, 16])
    guard = prior + np.array([0, 1, 3, 6, 10, 15])
    records = []
    for method, values in (("scratch", prior + 30), ("prior", prior), ("guard", guard)):
        records += [
            _record("all", 1, method, v, 0, 0, 1, 0, 0, 0.0) | {"draw": (i,)} for i, v in enumerate(values)
        ]
    got = guard_gap(records, "all", 1, boot=20000)
    assert got["better"] == "prior"
    assert got["gap"] == pytest.approx(np.median(guard) - np.median(prior))
    every = np.array(list(itertools.product(range(6), repeat=6)))
    exact = np.median(guard[every], axis=1) - np.median(prior[every], axis=1)
    # the exact distribution is discrete: 2.5 % and 97.5 % fall on 0.5 and 12.5 (5 % and 95 % do not)
    assert (got["lo"], got["hi"]) == (np.quantile(exact, 0.025), np.quantile(exact, 0.975)) == (0.5, 12.5)
    assert guard_gap(records, "interpolation", 1) == {}


NAMES = ["log_C", "Re", "Pr"]
PRIOR = GaussianPrior(NAMES, np.array([-3.9, 0.8, 0.4]), np.diag([0.5, 0.01, 0.01]))


def _collapsed_maps():
    """A recalibration that maps every level to 0.1 %: its intervals are all but empty."""
    return IntervalRecalibration({k: {n: np.full(len(LEVELS), 1e-3) for n in (1, 2, 3, 4, 5)} for k in KINDS})


def test_few_shot_records_score_held_out_points_with_the_recalibrated_and_the_nominal_interval():
    """Each record: held-out points of its split, how many lie inside the calibration Re range (a
    replicate of a calibration Re is inside), the MAPE of Nu (not the RMSE of log Nu) and coverage
    by the recalibrated interval, the nominal one on the side: with maps that shrink every interval
    to nothing, the recalibrated intervals cover nothing and the nominal 90 % ones most points."""
    re = np.array([1e4, 1e4, 2e4, 4e4, 8e4])
    nu = 0.02 * re**0.8 * 0.7**0.4 * np.exp([0.03, -0.02, 0.01, -0.03, 0.02])
    pts = Points(re, np.full(5, 0.7), nu, {}, "by hand")
    study = few_shot_study({"s": pts}, PRIOR, ns=(2,), recalibration=_collapsed_maps(), progress=False)
    assert {r["draw"] for r in study.records} == set(itertools.combinations(range(5), 2))
    X, y = pts.features(), pts.log_nu
    for r in study.records:
        c = np.array(r["draw"])
        test = held_out(re, c, r["split"])
        assert r["points"] == len(test)
        assert r["points_in"] == int(((re[test] >= re[c].min()) & (re[test] <= re[c].max())).sum())
        assert r["covered"] == r["covered_in"] == 0
        if r["method"] == "guard":
            pred = calibrate(X[c], y[c], NAMES, PRIOR).chosen.predict(X[test])
            assert r["mape"] == pytest.approx(100 * np.mean(np.abs(np.exp(pred) / np.exp(y[test]) - 1)))
    draw = next(r for r in study.records if r["draw"] == (0, 3) and r["split"] == "all")
    assert (draw["points"], draw["points_in"]) == (3, 2)  # Re 1e4 (a replicate) and 2e4 inside, 8e4 not
    nominal = sum(r["covered_nominal"] for r in study.records)
    assert nominal > 0.7 * sum(r["points"] for r in study.records)


def test_lowest_two_scales_k_gnielinski_on_the_two_lowest_points_and_scores_recalibrated_coverage():
    """The user with two measurements: k x Gnielinski takes k from the two lowest-Re points (Nu twice
    Gnielinski there) and is scored on the rest (four times): 50 % off, whatever the points' order;
    the fits' coverage is that of the intervals the user gets, the recalibrated ones."""
    from sciPT.domains.surrogates.experiment import gnielinski, lowest_two_study

    re = np.array([8e4, 1e4, 4e4, 2e4, 1.6e5])
    pr = np.full(5, 0.7)
    factor = np.where(re < 3e4, 2.0, 4.0)
    pts = Points(re, pr, factor * gnielinski(re, pr), {}, "by hand")
    plain = next(c for c in CORRELATIONS if c.key == "gnielinski")
    (rec,) = lowest_two_study({"s": pts}, PRIOR, library=(plain,))
    assert rec["points"] == 3
    assert rec["mape_k_gnielinski"] == pytest.approx(50.0)
    # Gnielinski as is, on the three points at four times it: 75 % off
    assert rec["zero_shot"]["gnielinski"] == pytest.approx(75.0)
    # coverage is the recalibrated interval's: maps that shrink it to nothing cover nothing
    (rec,) = lowest_two_study({"s": pts}, PRIOR, library=(plain,), recalibration=_collapsed_maps())
    assert rec["covered_scratch"] == rec["covered_prior"] == rec["covered_guard"] == 0
    (plain_rec,) = lowest_two_study({"s": pts}, PRIOR, library=(plain,), recalibration=None, level=0.999)
    assert plain_rec["covered_scratch"] > 0


def test_library_validation_calibrates_every_point_every_pair_and_the_two_lowest(monkeypatch):
    """The validation the defaults are chosen on: per synthetic series (the library validation's 3 %
    scatter), every single point, every pair and the two lowest-Re points, scored on the rest; a
    split that dropped pairs or calibrated on the highest points would choose on another protocol."""
    from sciPT.domains.surrogates import experiment
    from sciPT.domains.surrogates.pretrain import fit_systems
    from sciPT.domains.surrogates.recalibration import synthetic_series

    fits = fit_systems(["colburn", "whitaker-sphere"], 50, 0.05, 0)
    assert len({f.correlation.family for f in fits}) == 2
    seen = []

    def spy(X, y, *args, **kw):
        seen.append((np.exp(X[:, 1]), y))
        return calibrate(X, y, *args, **kw)

    monkeypatch.setattr(experiment, "calibrate", spy)
    out = experiment.library_validation(fits, {"g": {}}, seed=2)
    series = synthetic_series(fits, noise=0.03, seed=2)
    assert out["_series"] == 2 and len(seen) == 2 * (7 + 21 + 1)
    for i, (_, pts) in enumerate(series.values()):
        calls = seen[29 * i : 29 * (i + 1)]
        lookup = dict(zip(pts.re, pts.log_nu))
        # the points calibrated on are the series' own (same Re, same scattered Nu)
        assert all(np.allclose(y, [lookup[r] for r in re]) for re, y in calls)
        assert sorted(tuple(re) for re, _ in calls[:7]) == sorted((r,) for r in pts.re)
        assert len({tuple(sorted(re)) for re, _ in calls[7:28]}) == 21
        np.testing.assert_array_equal(np.sort(calls[28][0]), np.sort(pts.re)[:2])
    for label in ("g", "scratch"):
        assert {sp: len(v) for sp, v in out[label]["series_mape"].items()} == {"n1": 2, "n2": 2, "lowest2": 2}
        assert 0 < out[label]["coverage"] <= 1


def test_library_validation_on_request_calibrates_every_triple_and_nothing_else(monkeypatch):
    """``splits=("n3",)`` (the validation's tie-break): per series the 35 subsets of three of its 7
    points, each once, and no split of the rule's; its figures under the n3 keys only."""
    from sciPT.domains.surrogates import experiment
    from sciPT.domains.surrogates.pretrain import fit_systems

    fits = fit_systems(["colburn", "whitaker-sphere"], 50, 0.05, 0)
    seen = []

    def spy(X, y, *args, **kw):
        seen.append(tuple(sorted(np.exp(X[:, 1]))))
        return calibrate(X, y, *args, **kw)

    monkeypatch.setattr(experiment, "calibrate", spy)
    out = experiment.library_validation(fits, {"g": {}}, seed=2, splits=("n3",))
    assert len(seen) == 2 * 35 and len(set(seen)) == 2 * 35 and {len(s) for s in seen} == {3}
    assert set(out["g"]) == {"n3_median", "n3_mean", "series_mape", "coverage"}
    assert [len(v) for v in out["g"]["series_mape"].values()] == [2]
    assert out["g"]["n3_median"] == pytest.approx(np.median(out["g"]["series_mape"]["n3"]))
