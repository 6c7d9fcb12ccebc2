"""Interval recalibration: the conformal map, its use by a posterior, and its coverage on systems
it was not learnt on (recalibration.py, Posterior.cdf / interval)."""

import itertools
import json
from types import SimpleNamespace

import numpy as np
import pytest

from sciPT.domains.surrogates import presets
from sciPT.domains.surrogates.calibrate import calibrate, scratch_prior
from sciPT.domains.surrogates.correlations import CORRELATIONS
from sciPT.domains.surrogates.objectives import LEVELS, GaussianPrior, NoisePrior, fit
from sciPT.domains.surrogates.pretrain import family_mixture, fit_systems
from sciPT.domains.surrogates.recalibration import (
    IntervalRecalibration,
    calibration_subsets,
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


def _stand_ins():
    """One stand-in system per library correlation (a rough one at the middle of its e/D range):
    synthetic_series reads only a fit's key, correlation and roughness."""
    return [
        SimpleNamespace(key=c.key, correlation=c, ed=float(np.mean(c.ed_range)) if c.rough else None)
        for c in CORRELATIONS
    ]


def test_synthetic_series_are_seven_points_over_a_factor_5_inside_each_systems_range():
    """The maps are learnt on these series: Re beyond a system's validity range (or a window wider
    or narrower than the factor 5 the protocol reports) would learn them on points no user has; Pr
    is 0.7 moved into the system's range (a Pr 5.1-390 correlation at Pr 0.7 is extrapolated)."""
    fits = _stand_ins()
    for seed in range(10):
        series = synthetic_series(fits, seed=seed)
        assert list(series) == [f.key for f in fits]
        for f in fits:
            corr_key, pts = series[f.key]
            c = f.correlation
            assert corr_key == c.key and len(pts) == 7
            assert c.re_range[0] * (1 - 1e-9) <= pts.re.min() and pts.re.max() <= c.re_range[1] * (1 + 1e-9)
            assert pts.re.max() / pts.re.min() == pytest.approx(min(5.0, c.re_range[1] / c.re_range[0]))
            np.testing.assert_allclose(np.diff(np.log(pts.re)), np.log(pts.re[1] / pts.re[0]))
            np.testing.assert_array_equal(pts.pr, np.clip(0.7, *c.pr_range))
    assert {float(np.clip(0.7, *f.correlation.pr_range)) for f in fits} >= {0.7, 1.0, 1.2, 5.1}


def test_synthetic_series_scatter_is_log_normal_with_the_sd_asked_for():
    """The scatter sets how wide the learnt intervals are (a 3 % draw against a 5 % noise prior
    narrowed measured intervals below their level): log Nu scatters about the correlation with sd
    ``noise``, 3 % by default (the library validation's)."""
    fits = _stand_ins()

    def residuals(**kw):
        out = []
        for seed in range(30):
            series = synthetic_series(fits, seed=seed, **kw)
            for f in fits:
                pts = series[f.key][1]
                out.append(pts.log_nu - np.log(f.correlation(pts.re, pts.pr, f.ed)))
        return np.concatenate(out)  # 30 x 34 x 7 = 7,140 draws: the sd within 2 %

    assert np.std(residuals()) == pytest.approx(0.03, rel=0.04)
    assert np.std(residuals(noise=0.05)) == pytest.approx(0.05, rel=0.04)
    assert abs(np.mean(residuals(noise=0.05))) < 0.003


def test_calibration_subsets_are_all_or_distinct_draws_in_combination_order():
    """Every subset when there are no more than max_draws (6 pairs of 4 points), else max_draws
    distinct n-point subsets of the series, sorted: the maps are learnt on what was documented."""
    every = [list(c) for c in itertools.combinations(range(4), 2)]
    assert [c.tolist() for c in calibration_subsets(4, 2, 6, np.random.default_rng(0))] == every
    assert [c.tolist() for c in calibration_subsets(4, 2, 10, np.random.default_rng(0))] == every
    for seed in range(5):
        got = [tuple(c.tolist()) for c in calibration_subsets(7, 3, 5, np.random.default_rng(seed))]
        assert len(set(got)) == 5 and got == sorted(got)
        assert all(len(c) == 3 and len(set(c)) == 3 and set(c) <= set(range(7)) for c in got)


def test_nominal_levels_take_the_largest_rank_when_it_is_the_quantile_and_never_reach_zero():
    """m = 9 ranks 0.01-0.09 (all points held by narrow intervals): level 0.9 needs the 9th rank,
    ceil(10 x 0.9) = 9, which exists, so the map is 0.09 (not the 0.999 reserved for levels beyond
    the last rank, a 90 % interval ten times too wide); ranks of 0 map to 0.1 %, never 0 (a
    zero-width interval)."""
    at = dict(zip(np.round(LEVELS, 2), nominal_levels(np.arange(1, 10) / 100)))
    assert at[0.9] == pytest.approx(0.09)
    assert at[0.91] == pytest.approx(0.999)  # ceil(9.1) = 10 > 9 ranks
    np.testing.assert_array_equal(nominal_levels(np.zeros(20))[:95], 1e-3)


def test_with_99_ranks_of_hundredths_every_level_maps_to_itself():
    """ceil((m + 1) l) with m = 99 is 100 l exactly: the map is the identity at every level, also
    where 100 l is a hair below an integer in floating point (0.29, 0.57, 0.58: truncating would
    take one rank too few)."""
    np.testing.assert_allclose(nominal_levels(np.arange(1, 100) / 100), LEVELS)


def test_level_map_keys_each_n_to_its_own_map_and_clamps_outside_the_buckets():
    """A fit on n points reads the map of n (1-5), n = 0 the first, beyond 5 the last: a map of
    another n would widen or narrow every interval the run reports."""
    maps = {"prior": {n: np.full(len(LEVELS), n / 10) for n in (1, 2, 3, 4, 5)}}
    recal = IntervalRecalibration(maps)
    assert [recal.level_map("prior", n)[0] for n in (0, 1, 2, 3, 4, 5, 6, 40)] == pytest.approx(
        [0.1, 0.1, 0.2, 0.3, 0.4, 0.5, 0.5, 0.5]
    )


def test_a_recalibration_stored_on_a_grid_of_the_same_length_but_other_levels_is_refused():
    """99 levels that are not 0.01-0.99 would apply each map to the wrong level."""
    d = IntervalRecalibration({"scratch": {1: np.linspace(0.2, 0.99, len(LEVELS))}}).as_dict()
    d["levels"] = [float(x) for x in np.linspace(0.005, 0.995, len(LEVELS))]
    with pytest.raises(ValueError, match="another level grid"):
        IntervalRecalibration.from_dict(d)


def test_scratch_recalibration_scores_only_held_out_points_and_says_how_it_was_learnt(monkeypatch):
    """Each map's points: per series, max_draws subsets times the 7 - n points not calibrated on
    (a calibration point scored on its own fit would narrow the intervals); the series scatter is
    the noise prior's s0 and their draw the seed asked for (seed 0's series for every seed would
    learn every seed's maps on the same points); the report's protocol line gives s0 and
    max_draws as asked."""
    from sciPT.domains.surrogates import recalibration

    fits = [f for f in _stand_ins() if f.key in ("gnielinski", "colburn")]
    asked = []

    def spy(fits, noise=recalibration.SERIES_NOISE, seed=0, **kw):
        asked.append((noise, seed))
        return synthetic_series(fits, noise=noise, seed=seed, **kw)

    monkeypatch.setattr(recalibration, "synthetic_series", spy)
    recal = learn_recalibration(fits, form=None, noise=NoisePrior(0.04), max_draws=2, seed=3)
    assert asked == [(0.04, 3)]
    # n = 1-5 of 7 points: 7, 21, 35, 35, 21 subsets, 2 drawn of each, 6, 5, 4, 3, 2 held out
    assert recal.points == {"scratch": {1: 24, 2: 20, 3: 16, 4: 12, 5: 8}}
    assert recal.protocol == (
        "2 synthetic series of the library's systems (7 points over a factor 5 in Re, the noise prior's 4% "
        "scatter), each calibrated from scratch on up to 2 subsets of n = 1, 2, 3, 4, 5 points (seed 3); "
        "split-conformal map from each nominal level to the one that holds it on the series' other points"
    )


def test_for_library_keys_its_cache_on_the_configuration_and_the_noise_prior(monkeypatch):
    """The cached maps must be those of the run's own systems, sampling seed and noise prior: a run
    with seed 7 or s0 = 0.08 given another run's maps reports intervals learnt for other fits."""
    from sciPT.domains.surrogates import recalibration

    calls = []
    monkeypatch.setattr(recalibration, "library_recalibration", lambda *a, **kw: calls.append((a, kw)))
    cfg = presets.tiny()
    cfg.systems, cfg.noise, cfg.train.seed = ["smooth-pipe", "flat-plate"], 0.02, 7
    for_library(cfg, "gaussian", "all", NoisePrior(0.08, 3.0))
    for_library(cfg, None)
    assert calls == [
        ((("smooth-pipe", "flat-plate"), 100, 0.02, 7, "gaussian", "all", 0.08, 3.0), {}),
        ((("smooth-pipe", "flat-plate"), 100, 0.02, 7, None, "exponents", 0.05, 2.0), {}),
    ]


@pytest.mark.parametrize("form, builder", [("gaussian", "population_prior"), ("mixture", "family_mixture")])
def test_each_series_is_calibrated_with_a_prior_of_the_other_families_alone(monkeypatch, form, builder):
    """The maps correct what the prior gets wrong about systems it never saw: a series' prior built
    with its own family in it (or of the other form than asked) would learn maps for a prior that
    already knows the system, and narrow the intervals a user with a new kind of system gets."""
    from sciPT.domains.surrogates import pretrain

    fits = [f for f in _stand_ins() if f.key in ("colburn", "whitaker-sphere")]
    built = []

    def spy(kind):
        def build(rest):
            built.append((kind, [f.key for f in rest]))
            return GaussianPrior(NAMES, np.array([-3.5, 0.7, 0.4]), np.diag([0.5, 0.01, 0.01]))

        return build

    monkeypatch.setattr(pretrain, "population_prior", spy("population_prior"))
    monkeypatch.setattr(pretrain, "family_mixture", spy("family_mixture"))
    recal = learn_recalibration(fits, form=form, max_draws=1)
    assert built == [(builder, ["whitaker-sphere"]), (builder, ["colburn"])]
    assert set(recal.maps) == {"prior", "scratch", "blend"}


def test_the_subsets_drawn_differ_from_series_to_series_and_reach_every_point(monkeypatch):
    """One seeded stream for the whole library: the three single points (or pairs, ...) drawn differ
    between series, so over the library every point of a series calibrates a fit; a stream restarted
    per series would calibrate every series on the same three positions and learn the maps on them."""
    from sciPT.domains.surrogates import recalibration

    drawn = []

    def spy(m, n, max_draws, rng):
        out = calibration_subsets(m, n, max_draws, rng)
        drawn.append((n, [tuple(c.tolist()) for c in out]))
        return out

    monkeypatch.setattr(recalibration, "calibration_subsets", spy)
    fits = _stand_ins()
    learn_recalibration(fits, form=None, max_draws=3, seed=0)
    assert len(drawn) == 5 * len(fits)
    for n in (1, 2):
        per_series = [subsets for k, subsets in drawn if k == n]
        assert len(set(map(tuple, per_series))) > 1
        assert set().union(*(set(itertools.chain(*s)) for s in per_series)) == set(range(7))


SMALL_LIBRARY = (("smooth-pipe", "flat-plate"), 20, 0.02, 0, None, "exponents", 0.05, 2.0, 1)


def learn_small(recalibration):
    """The uncached-per-process learning of a small scratch-only library (a tenth of a second)."""
    return recalibration.library_recalibration.__wrapped__(*SMALL_LIBRARY)


def test_library_maps_are_kept_on_disk_and_a_later_process_reuses_them(monkeypatch, tmp_path, capsys):
    """Learning the maps takes about 17 s for the default library: a user's second calibration
    must read them back, exactly, rather than learn them again."""
    from sciPT.domains.surrogates import recalibration

    monkeypatch.setenv("SCIPT_CACHE", str(tmp_path))
    first = learn_small(recalibration)
    [entry] = (tmp_path / "surrogates").glob("recalibration-*.json")
    assert capsys.readouterr().err == (
        f"learning the interval recalibration on the library's 15 systems (once: kept in {entry.parent})\n"
    )

    def relearn(*args, **kwargs):
        raise AssertionError("learnt again")

    monkeypatch.setattr(recalibration, "learn_recalibration", relearn)
    again = learn_small(recalibration)
    assert capsys.readouterr().err == ""
    assert again.protocol == first.protocol and again.points == first.points
    for n, levels in first.maps["scratch"].items():
        assert np.array_equal(again.maps["scratch"][n], levels)
    # other learning settings, or other code, are another entry: learnt, never read from this one
    with pytest.raises(AssertionError, match="learnt again"):
        recalibration.library_recalibration.__wrapped__(*SMALL_LIBRARY[:-1], 2)
    monkeypatch.setattr(recalibration, "code_fingerprint", lambda: "edited")
    with pytest.raises(AssertionError, match="learnt again"):
        learn_small(recalibration)


def test_learning_shows_a_bar_of_the_series_on_a_terminal_and_none_in_a_log(monkeypatch, tmp_path, capsys):
    """The first calibration on a machine waits some 17 s for the maps: on a terminal a bar counts
    the library's series; written to a file (a batch job's log, this capture) nothing redraws."""
    from sciPT.domains.surrogates import recalibration

    fits = fit_systems(list(SMALL_LIBRARY[0]), 20, 0.02, 0)
    learn_recalibration(fits, form=None, max_draws=1, progress=True)
    err = capsys.readouterr().err
    # the bar opens on the whole count and, left=False, is wiped when done (too quick to redraw here)
    assert err.startswith(f"\rinterval recalibration:   0%|          | 0/{len(fits)} [")
    learn_recalibration(fits, form=None, max_draws=1)
    assert capsys.readouterr().err == ""

    asked = []
    real = recalibration.learn_recalibration
    monkeypatch.setattr(
        recalibration, "learn_recalibration", lambda *a, **kw: asked.append(kw["progress"]) or real(*a, **kw)
    )
    monkeypatch.setenv("SCIPT_CACHE", str(tmp_path / "log"))
    learn_small(recalibration)
    monkeypatch.setattr(recalibration.sys.stderr, "isatty", lambda: True)
    monkeypatch.setenv("SCIPT_CACHE", str(tmp_path / "terminal"))
    learn_small(recalibration)
    assert asked == [False, True]


def test_a_damaged_cache_entry_is_learnt_again_and_replaced(monkeypatch, tmp_path):
    """A cache file cut short (a full disk) must not stop a calibration: it is learnt past."""
    from sciPT.domains.surrogates import recalibration

    monkeypatch.setenv("SCIPT_CACHE", str(tmp_path))
    first = learn_small(recalibration)
    [entry] = (tmp_path / "surrogates").glob("recalibration-*.json")
    entry.write_text('{"levels": [0.1', encoding="utf-8")
    again = learn_small(recalibration)
    assert np.array_equal(again.maps["scratch"][2], first.maps["scratch"][2])
    assert (
        IntervalRecalibration.from_dict(json.loads(entry.read_text(encoding="utf-8"))).protocol
        == first.protocol
    )


def test_a_cache_that_cannot_be_made_is_said_and_the_maps_learnt_all_the_same(monkeypatch, tmp_path, capsys):
    """The cache only saves time: a SCIPT_CACHE that names a file costs a note, not the run."""
    from sciPT.domains.surrogates import recalibration

    blocked = tmp_path / "a_file"
    blocked.write_text("", encoding="utf-8")
    monkeypatch.setenv("SCIPT_CACHE", str(blocked))
    recal = learn_small(recalibration)
    assert set(recal.maps) == {"scratch"}
    assert capsys.readouterr().err == (
        f"note: interval recalibration not cached: the cache {blocked / 'surrogates'} (SCIPT_CACHE): "
        f"cannot be written: {blocked} is a file, not a folder\n"
        "learning the interval recalibration on the library's 15 systems\n"
    )


def test_the_code_fingerprint_follows_every_source_file_of_the_domain_and_the_library_versions(
    monkeypatch, tmp_path
):
    """A map learnt by yesterday's correlations or fits must not be served to today's code: an edit
    to any Python file of the domain, a correlations module included, or another version of a
    numerical library gives another key."""
    from sciPT.domains.surrogates import recalibration

    (tmp_path / "correlations").mkdir()
    (tmp_path / "calibrate.py").write_text("a = 1\n", encoding="utf-8")
    (tmp_path / "correlations" / "rough.py").write_text("b = 2\n", encoding="utf-8")
    (tmp_path / "notes.txt").write_text("not code\n", encoding="utf-8")
    monkeypatch.setattr(recalibration, "__file__", str(tmp_path / "recalibration.py"))
    base = recalibration.code_fingerprint()
    assert recalibration.code_fingerprint() == base
    (tmp_path / "notes.txt").write_text("edited\n", encoding="utf-8")
    assert recalibration.code_fingerprint() == base
    (tmp_path / "correlations" / "rough.py").write_text("b = 3\n", encoding="utf-8")
    edited = recalibration.code_fingerprint()
    assert edited != base
    real_version = recalibration.metadata.version
    monkeypatch.setattr(
        recalibration.metadata, "version", lambda name: "0.0" if name == "ht" else real_version(name)
    )
    assert recalibration.code_fingerprint() not in (base, edited)


def test_a_series_prior_holds_out_its_whole_family_not_its_system_alone(monkeypatch):
    """Two smooth pipes and a sphere: a pipe's series is calibrated with the prior of the sphere
    alone. A prior that left out only the series' own system would still know the other pipe, a
    close relative, and learn maps for a system the prior half knows, not a new kind of system."""
    from sciPT.domains.surrogates import pretrain

    fits = [f for f in _stand_ins() if f.key in ("colburn", "gnielinski", "whitaker-sphere")]
    assert {f.correlation.family for f in fits} == {"smooth-pipe", "bluff-body"}
    built = []

    def build(rest):
        built.append([f.key for f in rest])
        return GaussianPrior(NAMES, np.array([-3.5, 0.7, 0.4]), np.diag([0.5, 0.01, 0.01]))

    monkeypatch.setattr(pretrain, "population_prior", build)
    learn_recalibration(fits, form="gaussian", max_draws=1)
    # one prior per family held out, built once: the pipes' (the sphere) and the sphere's (the pipes)
    assert built == [["whitaker-sphere"], ["colburn", "gnielinski"]]


def test_the_series_are_calibrated_under_the_transfer_asked_for(monkeypatch):
    """With transfer "all" the prior holds log C as well as the exponents: calibrated under the
    default "exponents" instead, log C would be free and the maps learnt for another fit than the
    one a user's `--transfer all` calibration makes."""
    from sciPT.domains.surrogates import pretrain, recalibration

    fits = [f for f in _stand_ins() if f.key in ("colburn", "whitaker-sphere")]
    monkeypatch.setattr(
        pretrain,
        "population_prior",
        lambda rest: GaussianPrior(NAMES, np.array([-3.5, 0.7, 0.4]), np.diag([0.5, 0.01, 0.01])),
    )
    used = []

    def spy(*args, **kw):
        used.append(kw.get("transfer", "exponents"))  # calibrate's default when none is passed
        return calibrate(*args, **kw)

    monkeypatch.setattr(recalibration, "calibrate", spy)
    learn_recalibration(fits, form="gaussian", transfer="all", max_draws=1)
    assert used and set(used) == {"all"}


def test_every_setting_the_maps_depend_on_reaches_the_learning_and_keys_its_own_cache_entry(
    monkeypatch, tmp_path
):
    """The systems are fitted with the configuration's sampling (points, noise, seed), the maps
    learnt with its form, transfer, noise prior (s0 and nu0), max_draws and seed; and each setting
    keys its own cache entry: a run with another seed or sampling noise served this run's maps
    would report intervals learnt for other fits. Learning is replaced by stand-ins that record
    what they were asked."""
    from sciPT.domains.surrogates import pretrain, recalibration

    monkeypatch.setenv("SCIPT_CACHE", str(tmp_path))
    asked = []

    def fit_systems(systems, points_per_system, sampling_noise, seed):
        asked.append([(systems, points_per_system, sampling_noise, seed)])
        return [f"fit of {s}" for s in systems]

    def learn(fits, *, form, transfer, noise, max_draws, seed, progress):
        asked[-1].append((fits, form, transfer, noise.s0, noise.nu0, max_draws, seed))
        return IntervalRecalibration(
            {"scratch": {1: np.full(len(LEVELS), 0.5)}}, {"scratch": {1: 6}}, "stand-in"
        )

    monkeypatch.setattr(pretrain, "fit_systems", fit_systems)
    monkeypatch.setattr(recalibration, "learn_recalibration", learn)
    others = (("smooth-pipe",), 30, 0.03, 1, "gaussian", "all", 0.08, 3.0, 2)
    settings = [SMALL_LIBRARY] + [
        SMALL_LIBRARY[:i] + (value,) + SMALL_LIBRARY[i + 1 :] for i, value in enumerate(others)
    ]
    for systems, points, sampling, seed, form, transfer, s0, nu0, draws in settings:
        recalibration.library_recalibration.__wrapped__(
            systems, points, sampling, seed, form, transfer, s0, nu0, draws
        )
        assert asked[-1] == [
            (list(systems), points, sampling, seed),
            ([f"fit of {s}" for s in systems], form, transfer, s0, nu0, draws, seed),
        ]
    assert len(asked) == 10 and len(list((tmp_path / "surrogates").glob("recalibration-*.json"))) == 10
    for args in settings:  # each read back from its own entry, none learnt again
        assert recalibration.library_recalibration.__wrapped__(*args).protocol == "stand-in"
    assert len(asked) == 10
