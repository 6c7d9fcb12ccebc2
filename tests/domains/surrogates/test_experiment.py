"""The benchmark's peers: library correlations applied zero-shot (experiment.py)."""

import numpy as np

from sciPT.domains.surrogates.correlations import CORRELATIONS
from sciPT.domains.surrogates.data import Points
from sciPT.domains.surrogates.experiment import best_zero_shot, zero_shot


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
