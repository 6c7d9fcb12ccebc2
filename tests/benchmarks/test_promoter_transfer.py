"""The paired verdicts of the promoter transfer benchmark's tables."""

from __future__ import annotations


def test_paired_difference_is_mean_and_standard_error_of_the_pairs(load_benchmark):
    paired = load_benchmark("promoter_transfer")._paired
    # differences 0.5, 0.4, 0.3: mean 0.4, sample SD 0.1, SE 0.1 / sqrt(3) = 0.0577
    pairs = [(1.0, 0.5), (0.8, 0.4), (0.9, 0.6)]
    assert paired(pairs, 100.0, " pts") == "+40.0 ± 5.8 pts (3): ahead"
    assert paired([(b, a) for a, b in pairs], 1.0, "") == "-0.400 ± 0.058 (3): behind"
    # differences 0.1 and -0.1: mean 0, within twice the SE
    assert paired([(0.6, 0.5), (0.5, 0.6)], 1.0, "") == "+0.000 ± 0.100 (2): tied"
    assert paired([(0.6, 0.5)], 1.0, "") == "—"
