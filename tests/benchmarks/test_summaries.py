"""The benchmark tables' mean and standard error (``benchmarks/summaries.py``)."""

from __future__ import annotations

import math


def test_mean_and_standard_error_by_hand(load_benchmark):
    mean_se = load_benchmark("summaries").mean_se
    # values 1, 2, 6: mean 3, sample sd sqrt(((-2)^2 + (-1)^2 + 3^2) / 2) = sqrt(7), SE sqrt(7 / 3)
    mean, se = mean_se([1.0, 2.0, 6.0])
    assert mean == 3.0 and math.isclose(se, math.sqrt(7 / 3))
    # None and NaN are left out, as the library's rule does
    assert mean_se([1.0, None, 2.0, float("nan"), 6.0]) == (mean, se)


def test_one_value_has_no_spread_and_none_has_no_mean(load_benchmark):
    mean_se = load_benchmark("summaries").mean_se
    mean, se = mean_se([0.25])
    assert mean == 0.25 and math.isnan(se)
    assert all(math.isnan(x) for x in mean_se([]))
    assert all(math.isnan(x) for x in mean_se([None]))
