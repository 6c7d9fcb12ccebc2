"""Widening promoter windows from the genome (``benchmarks/promoter_long.py``)."""

from __future__ import annotations


def test_a_window_is_widened_on_its_own_strand(load_benchmark):
    widen = load_benchmark("promoter_long").widen
    genome = "AAAACCCGGTTTTT"
    # forward strand: CCCGG at 4; two bases before it and one after
    assert widen("CCCGG", genome, 2, 1) == "AACCCGGT"
    # ACCGGG is not on the forward strand; its reverse complement CCCGGT is at 4. Upstream of a
    # reverse-strand window lies at higher forward coordinates: ACCCGGTTT (3 to 12), read reversed
    assert widen("ACCGGG", genome, 2, 1) == "AAACCGGGT"
    assert widen("GATTACA", genome, 2, 1) is None  # on neither strand
    assert widen("AAAA", genome, 1, 0) is None  # the window would start before the genome


def test_paired_difference_is_the_mean_and_standard_error_of_per_fold_differences(load_benchmark):
    paired_difference = load_benchmark("promoter_long").paired_difference
    now = {"metrics": {f"pre_trained_mcc_fold{i}": 0.70 + 0.01 * i for i in range(1, 6)}}
    then = {"metrics": {f"scratch_mcc_fold{i}": 0.70 for i in range(1, 6)}}
    # differences 0.01 .. 0.05: mean 0.03, sample SD sqrt(0.00025) = 0.0158, SE 0.0158 / sqrt(5) = 0.00707
    assert paired_difference(now, then, "pre-trained", "scratch") == "+0.030 ± 0.007 (ahead)"
    then = {"metrics": {f"scratch_mcc_fold{i}": 0.73 for i in range(1, 6)}}
    assert paired_difference(now, then, "pre-trained", "scratch") == "+0.000 ± 0.007 (tied)"
    assert paired_difference(then, now, "scratch", "pre-trained") == "+0.000 ± 0.007 (tied)"
    then = {"metrics": {f"scratch_mcc_fold{i}": 0.80 for i in range(1, 6)}}
    assert paired_difference(now, then, "pre-trained", "scratch") == "-0.070 ± 0.007 (behind)"
