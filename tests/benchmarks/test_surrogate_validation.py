"""The surrogate benchmark's library validation: the rule's pick, its tie-break, and their table."""

from __future__ import annotations

import pytest

SPLITS = ("n1", "n2", "lowest2")


def _result(per_split: dict[str, list[float]]) -> dict:
    """A configuration's validation result from its per-series MAPEs, split by split."""
    out = {"series_mape": per_split, "coverage": 0.9}
    for sp, values in per_split.items():
        ordered = sorted(values)
        out[f"{sp}_median"] = ordered[len(ordered) // 2]
        out[f"{sp}_mean"] = sum(values) / len(values)
    return out


def test_the_rule_picks_the_lowest_mean_of_three_medians_and_asks_no_tie_break(load_benchmark):
    """Three series. A: medians 10, 5, 6 (score 7); B: 10, 5, 9 (score 8): A, and the three-point
    comparison is never run."""
    bench = load_benchmark("surrogate_calibration")
    results = {
        "A": _result({"n1": [9, 10, 11], "n2": [4, 5, 6], "lowest2": [5, 6, 7]}),
        "B": _result({"n1": [9, 10, 11], "n2": [4, 5, 6], "lowest2": [8, 9, 10]}),
    }
    assert bench.rule_score(results["A"]) == pytest.approx(7.0)
    assert bench.per_series_score(results["B"]) == pytest.approx([7.0, 8.0, 9.0])

    def never(labels):
        raise AssertionError(f"no tie, yet the three-point comparison was asked for {labels}")

    assert bench.choose(results, ["A", "B"], never) == ("A", {})


def test_configurations_equal_on_every_series_are_told_apart_with_three_points(load_benchmark):
    """A and B score the same on every series (as pseudo-BMA+ and pseudo-BMA do up to two points),
    C scores the same mean with other series (not a tie: its series differ), and the ineligible D
    scores lower: only A and B go to the three-point comparison, where B's median is lower."""
    bench = load_benchmark("surrogate_calibration")
    same = {"n1": [9, 10, 11], "n2": [4, 5, 6], "lowest2": [5, 6, 7]}
    results = {
        "A": _result(same),
        "B": _result(dict(same)),
        "C": _result({"n1": [11, 10, 9], "n2": [6, 5, 4], "lowest2": [7, 6, 5]}),
        "D": _result({"n1": [1, 1, 1], "n2": [1, 1, 1], "lowest2": [1, 1, 1]}),
    }
    asked = []

    def with_three_points(labels):
        asked.append(list(labels))
        return {"A": {"n3_median": 3.1, "n3_mean": 3.4}, "B": {"n3_median": 2.9, "n3_mean": 3.5}}

    chosen, tie_break = bench.choose(results, ["A", "B", "C"], with_three_points)
    assert asked == [["A", "B"]]
    assert chosen == "B"
    assert tie_break == {"A": {"n3_median": 3.1, "n3_mean": 3.4}, "B": {"n3_median": 2.9, "n3_mean": 3.5}}


def test_the_validation_table_names_the_tie_break_and_its_figures(load_benchmark):
    bench = load_benchmark("surrogate_calibration")
    same = {"n1": [9, 10, 11], "n2": [4, 5, 6], "lowest2": [5, 6, 7]}
    record = {
        "validation": {
            "series": 3,
            "wall_s": 12.0,
            "rule": "RULE",
            "eligible": ["A", "B"],
            "chosen": "B",
            "results": {"A": _result(same), "B": _result(same)},
            "score": {"A": 7.0, "B": 7.0},
            "paired_vs_chosen": {"A": {"mean_diff": 0.0, "se": 0.0}, "B": {"mean_diff": 0.0, "se": 0.0}},
            "tie_break": {
                "A": {"n3_median": 3.1, "n3_mean": 3.4},
                "B": {"n3_median": 2.9, "n3_mean": 3.5},
                "scratch": {"n3_median": 3.0, "n3_mean": 3.25},
            },
        }
    }
    text = bench.render_validation({"run": record}, "run")
    assert (
        text.splitlines()[0]
        == "3 synthetic series (one per library system), 12 s. Rule (fixed before the run): RULE. Chosen: **B**."
    )
    assert "| A | yes | 10.00 / 10.00 | 5.00 / 5.00 | 6.00 / 6.00 | 7.000 | +0.00 ± 0.00 | 90% |" in text
    assert text.endswith(
        "Equal scores on every series, told apart with three calibration points (median / mean MAPE %, "
        "every subset of three points of each series): A 3.100 / 3.400; B 2.900 / 3.500 (scratch, for "
        "reference: 3.000 / 3.250).\n"
    )
