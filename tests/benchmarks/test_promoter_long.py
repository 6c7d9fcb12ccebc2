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
