"""The guard-at-n benchmark's summary: series means of per-subset figures, by hand."""

from __future__ import annotations

import pytest


def _record(bench) -> dict:
    """Two series at every n: A with two subsets, B with one. Columns after (series, family, n,
    subset): loo_prior, loo_scratch, held_out_prior, held_out_scratch, weight, weight_hindsight,
    mape_prior, mape_scratch, mape_guard, weight_burman, mape_burman."""
    rows = []
    for n in bench.NS:
        rows += [
            ["A", "f", n, [0, 1], 1.0, 0.0, 1.3, 1.0, 0.9, 0.5, 4.0, 3.0, 3.8, 0.8, 3.6],
            ["A", "f", n, [1, 2], 1.2, 0.4, 1.3, 1.0, 0.7, 0.3, 6.0, 5.0, 5.6, 0.6, 5.4],
            ["B", "g", n, [0, 2], 1.0, 0.5, 1.0, 1.3, 0.6, 0.0, 2.0, 1.0, 1.5, 0.5, 1.1],
        ]
    return {"columns": ["series", "family", "n", "subset", *bench.COLUMNS], "rows": rows, "series": 2}


def test_the_summary_averages_subsets_within_a_series_then_over_series(load_benchmark):
    """Per series first: A's leave-one-out prior density 1.1 (1.0 and 1.2), kept 1.3, gain 0.2;
    scratch 0.2 -> 1.0, gain 0.8. B: prior gain 0.0, scratch 0.8. Scratch's minus the prior's gain:
    0.6 and 0.8, mean 0.7, SE sd 0.1414 / sqrt 2 = 0.1. Guard weight minus hindsight: A 0.8 - 0.4 =
    0.4, B 0.6: mean 0.5, SE 0.1. Guard minus scratch MAPE: A 4.7 - 4.0 = 0.7, B 0.5: mean 0.6.
    The corrected guard: A 4.5 - 4.7 = -0.2, B 1.1 - 1.5 = -0.4 against the guard (mean -0.3, SE
    0.1); against scratch A 0.5, B 0.1 (mean 0.3, SE 0.2); its weight A 0.7, B 0.5 (mean 0.6)."""
    bench = load_benchmark("surrogate_guard_n")
    s = bench.summarise(_record(bench))["3"]
    assert (s["series"], s["subsets"]) == (2, 3)
    assert s["loo_prior"]["mean"] == pytest.approx((1.1 + 1.0) / 2)
    assert s["gain_prior"]["mean"] == pytest.approx(0.1)
    assert s["gain_scratch"]["mean"] == pytest.approx(0.8)
    assert s["gain_scratch"]["se"] == pytest.approx(0.0, abs=1e-12)
    assert s["gain_scratch_minus_prior"]["mean"] == pytest.approx(0.7)
    assert s["gain_scratch_minus_prior"]["se"] == pytest.approx(0.1)
    assert s["weight_minus_hindsight"]["mean"] == pytest.approx(0.5)
    assert s["weight_minus_hindsight"]["se"] == pytest.approx(0.1)
    assert s["guard_minus_scratch_mape"]["mean"] == pytest.approx(0.6)
    assert s["burman_minus_guard_mape"]["mean"] == pytest.approx(-0.3)
    assert s["burman_minus_guard_mape"]["se"] == pytest.approx(0.1)
    assert s["burman_minus_scratch_mape"]["mean"] == pytest.approx(0.3)
    assert s["burman_minus_scratch_mape"]["se"] == pytest.approx(0.2)
    assert s["weight_burman"]["mean"] == pytest.approx(0.6)


def test_the_table_gives_each_quantity_and_the_verdict_per_n(load_benchmark, stub_provenance):
    bench = load_benchmark("surrogate_guard_n")
    record = _record(bench)
    record |= {
        "provenance": stub_provenance("python benchmarks/surrogate_guard_n.py"),
        "protocol": {"ns": list(bench.NS), "max_draws": 10},
        "summary": bench.summarise(record),
        "wall_s": 12.0,
    }
    text = bench.render({"surrogate_guard_n": record})
    assert (
        "| scratch's minus the prior's (kept minus leave-one-out) | +0.700 ± 0.100 | +0.700 ± 0.100 "
        "| +0.700 ± 0.100 | +0.700 ± 0.100 |" in text
    )
    # a level unsigned (A 4.7, B 1.5: mean 3.1, SE |4.7 - 1.5| / 2 = 1.6), a difference signed
    assert "| MAPE %, guard | 3.10 ± 1.60 | 3.10 ± 1.60 | 3.10 ± 1.60 | 3.10 ± 1.60 |" in text
    assert (
        "| MAPE %, guard minus scratch | +0.60 ± 0.10 | +0.60 ± 0.10 | +0.60 ± 0.10 | +0.60 ± 0.10 |" in text
    )
    assert (
        "(2-SE rule over series)? n = 2: scratch ahead; n = 3: scratch ahead; n = 4: scratch ahead; "
        "n = 5: scratch ahead." in text
    )
    assert "| MAPE %, corrected minus uncorrected guard | -0.30 ± 0.10 | -0.30 ± 0.10 |" in text
    assert (
        "| guard's weight on the prior, Burman-corrected where scratch's form holds | 0.600 ± 0.100 |" in text
    )
    assert (
        "The guard with Burman's correction where scratch's form holds against the uncorrected guard, in "
        "MAPE (2-SE rule over series): n = 2: ahead; n = 3: ahead; n = 4: ahead; n = 5: ahead." in text
    )
    assert text.rstrip().endswith("Subsets per n: 2: 3, 3: 3, 4: 3, 5: 3.")
