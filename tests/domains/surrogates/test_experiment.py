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


def test_the_held_out_splits_by_the_calibration_points_re_range():
    """held_out takes the Re values and the chosen indices: calibrated on Re 1 and 4 (indices 0 and
    3) of Re 1-5, all is the rest (1, 2, 4), interpolation the rest strictly inside 1-4 (1, 2) and
    extrapolation the rest above the largest calibration Re, 4 (index 4 only)."""
    from sciPT.domains.surrogates.experiment import held_out

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
