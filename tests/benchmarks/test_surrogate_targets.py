"""The surrogate benchmark's target lines: the guard's gap judged with whole series resampled."""

from __future__ import annotations

import pytest

COLUMNS = "split series n draw held_out_points guard_kept_prior mape_scratch mape_prior mape_guard covered_scratch covered_prior covered_guard"


def _config(rows: list[tuple[str, int, int, float, float, float]]) -> dict:
    """A configuration's stored draws from (split, series, n, scratch, prior, guard) MAPEs."""
    return {
        "draws": {
            "columns": COLUMNS,
            "rows": [
                f"{split} {series} {n} {i} 4 0.5 {scratch} {prior} {guard} 4 4 4"
                for i, (split, series, n, scratch, prior, guard) in enumerate(rows)
            ],
        }
    }


def test_the_series_gap_resamples_whole_series_with_every_draw(load_benchmark):
    """Two series, one draw each at n = 3: pooled medians guard 2, scratch 2.5, prior 5, so the
    gap is -0.5 against scratch. A resample holds series 0 twice (gap 1 - 2 = -1), series 1 twice
    (3 - 3 = 0) or one of each (-0.5), a quarter, a quarter and a half of the time: the 95 %
    interval is [-1, 0]. Draws of other n or splits take no part."""
    bench = load_benchmark("surrogate_calibration")
    config = _config(
        [
            ("all", 0, 3, 2.0, 5.0, 1.0),
            ("all", 1, 3, 3.0, 5.0, 3.0),
            ("all", 1, 2, 90.0, 90.0, 0.0),
            ("extrapolation", 0, 3, 0.0, 0.0, 90.0),
        ]
    )
    gap = bench._series_gap(config, "all", 3)
    assert gap == {"better": "scratch", "gap": pytest.approx(-0.5), "lo": -1.0, "hi": 0.0}


def test_a_series_gap_keeps_its_draws_together(load_benchmark):
    """Series 0 has nine draws where the guard is 1 point worse than prior-informed, series 1 one
    draw where it is 1 point better. Resampled by draws, the one draw almost never outnumbers the
    nine, and the interval would be [+1, +1]; resampled by series, series 1 alone (a quarter of the
    resamples) gives -1, and any resample holding series 0 +1 (its nine draws set both medians):
    [-1, +1]."""
    bench = load_benchmark("surrogate_calibration")
    rows = [("all", 0, 3, 9.0, 2.0, 3.0)] * 9 + [("all", 1, 3, 9.0, 4.0, 3.0)]
    gap = bench._series_gap(_config(rows), "all", 3)
    assert gap["better"] == "prior" and gap["gap"] == 1.0
    assert (gap["lo"], gap["hi"]) == (-1.0, 1.0)
