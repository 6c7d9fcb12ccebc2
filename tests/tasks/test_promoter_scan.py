"""``scipt scan``'s window coordinates (:mod:`sciPT.tasks.promoter_scan`)."""

from sciPT.tasks.promoter_scan import scan_intervals


def test_scan_intervals_by_hand():
    starts, lo, hi = scan_intervals(20, window=8, stride=4)
    assert starts.tolist() == [0, 4, 8, 12]
    # each window's score covers the central 4 bp: offset (8 - 4) // 2 = 2
    assert list(zip(lo.tolist(), hi.tolist())) == [(2, 6), (6, 10), (10, 14), (14, 18)]
    starts, lo, hi = scan_intervals(10, window=3, stride=5)
    assert starts.tolist() == [0, 5] and list(zip(lo.tolist(), hi.tolist())) == [(0, 3), (5, 8)]
