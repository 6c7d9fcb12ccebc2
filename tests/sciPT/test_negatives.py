"""Hard negatives: dinucleotide shuffles keep every dinucleotide count; GC-matched windows match the
positives' GC histogram and avoid every copy of a positive."""

from collections import Counter

import numpy as np
import pytest

from sciPT import negatives
from sciPT.domains.dna.tokenizer import encode
from sciPT.errors import DataError
from sciPT.sequences import Corpus, SequenceSpec
from sciPT.tokenizers import Alphabet

SPEC = SequenceSpec(Alphabet("ACGTN", n_core=4), {}, "A, C, G, T or N", complement="TGCAN")
COMPLEMENT = SPEC.complement_codes()
GC = [1, 2]


def rc(codes):
    return COMPLEMENT[np.asarray(codes)[::-1]]


def test_shuffle_keeps_every_dinucleotide_count_exactly_differs_and_follows_the_seed():
    rng = np.random.default_rng(0)
    seqs = [rng.integers(0, 4, n).astype(np.uint8) for n in (81, 81, 57, 200, 12)]
    seqs.append(np.array([0, 0, 4, 1, 4, 4, 2, 3, 0, 0, 1, 2, 4, 3], dtype=np.uint8))  # N included
    first = negatives.dinucleotide_shuffles(seqs, seed=3)
    for s, t in zip(seqs, first):
        assert len(t) == len(s) and t.dtype == s.dtype
        assert (negatives.dinucleotide_counts(t, 5) == negatives.dinucleotide_counts(s, 5)).all()
        assert t[0] == s[0] and t[-1] == s[-1]
        assert not np.array_equal(t, s)
    again = negatives.dinucleotide_shuffles(seqs, seed=3)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    other = negatives.dinucleotide_shuffles(seqs, seed=4)
    assert any(not np.array_equal(a, b) for a, b in zip(first, other))


def test_shuffle_draws_every_eulerian_path():
    # ACAGA: the walks A->C->A->G->A and A->G->A->C->A, both must appear, nothing else
    s = np.array([0, 1, 0, 2, 0], dtype=np.uint8)
    rng = np.random.default_rng(0)
    seen = {tuple(negatives._euler_shuffle(s, rng).tolist()) for _ in range(200)}
    assert seen == {(0, 1, 0, 2, 0), (0, 2, 0, 1, 0)}


def test_a_sequence_with_one_eulerian_path_is_returned_unchanged():
    s = np.array([0, 1, 2, 3], dtype=np.uint8)  # ACGT
    assert np.array_equal(negatives.dinucleotide_shuffle(s, np.random.default_rng(0)), s)
    assert np.array_equal(negatives.dinucleotide_shuffle(s[:2], np.random.default_rng(0)), s[:2])


@pytest.fixture
def genome(tmp_path):
    """20 kb in blocks of varied GC, an N run, and 30 planted positives (half reverse-complemented)."""
    rng = np.random.default_rng(5)
    blocks = []
    for gc in (0.2, 0.35, 0.5, 0.65, 0.8) * 4:
        p = [(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2]
        blocks.append(rng.choice(4, 1000, p=p).astype(np.uint8))
    codes = np.concatenate(blocks)
    codes[5000:5100] = 4
    positives, planted = [], []
    for i in range(30):
        p = rng.choice(4, 40, p=[0.3, 0.2, 0.2, 0.3]).astype(np.uint8)
        at = 200 + 600 * i
        codes[at : at + 40] = p if i % 2 else rc(p)
        positives.append(p)
        planted.append(at)
    path = tmp_path / "genome.fa"
    path.write_text(">chr\n" + "".join("ACGTN"[c] for c in codes) + "\n")
    return Corpus([str(path)], SPEC), positives, planted


def test_gc_matched_windows_match_the_histogram_and_avoid_the_positives(genome):
    corpus, positives, planted = genome
    windows = negatives.gc_matched_windows(corpus, positives, gc_codes=GC, seed=1, complement=COMPLEMENT)
    codes = [w[4] for w in windows]
    assert len(codes) == len(positives)
    assert (negatives.gc_histogram(codes, GC) == negatives.gc_histogram(positives, GC)).all()
    seqs = {bytes(p) for p in positives} | {bytes(rc(p)) for p in positives}
    assert not any(bytes(c) in seqs for c in codes)
    genome_codes = corpus.codes(0, 0, int(corpus.lengths[0]))
    taken = np.zeros(len(genome_codes), int)
    for name, start, stop, strand, c in windows:
        assert name == "chr" and stop - start == 40
        window = genome_codes[start:stop]
        assert np.array_equal(c, window if strand == "+" else rc(window))
        assert (window < 4).all()
        assert all(stop <= at or start >= at + 40 for at in planted)
        taken[start:stop] += 1
    assert taken.max() == 1  # no two negatives share a residue
    assert {w[3] for w in windows} == {"+", "-"}
    again = negatives.gc_matched_windows(corpus, positives, gc_codes=GC, seed=1, complement=COMPLEMENT)
    assert [w[:4] for w in again] == [w[:4] for w in windows]


def test_gc_matched_windows_say_which_bin_runs_short(genome):
    corpus, positives, _ = genome
    rich = [np.full(40, 2, dtype=np.uint8)] * 300  # 300 disjoint windows of GC >= 0.9: far too many
    with pytest.raises(
        DataError,
        match=r"^genome: only \d+ free windows of 40 residues with GC fraction in \[0.9, 1\], 300 needed",
    ):
        negatives.gc_matched_windows(corpus, rich, gc_codes=GC, seed=0, complement=COMPLEMENT)


def test_a_short_positive_blocks_its_own_copies_not_every_window_sharing_its_length_of_k_mer(genome):
    # one k for all, the shortest positive's: a 6-bp positive made every 6-mer of the 40-bp ones a
    # copy to avoid, with a 40-bp margin each, and no window was left
    corpus, positives, _ = genome
    short = np.array([0, 3, 3, 1, 2, 0], dtype=np.uint8)
    windows = negatives.gc_matched_windows(
        corpus, [*positives, short], gc_codes=GC, seed=1, complement=COMPLEMENT
    )
    assert len(windows) == len(positives) + 1
    seqs = {bytes(p) for p in positives} | {bytes(rc(p)) for p in positives}
    long_ones = [w[4] for w in windows if len(w[4]) == 40]
    assert not any(bytes(c) in seqs for c in long_ones)
    (six,) = [w for w in windows if len(w[4]) == 6]
    assert bytes(six[4]) not in {bytes(short), bytes(rc(short))}


def test_a_shuffle_is_never_its_input_when_another_eulerian_path_exists():
    """ACAGA has two Eulerian paths: a negative equal to its positive teaches nothing, so every seed
    must give the other one (one try, or keeping the last try instead of the first new one, gives
    the input back half the time)."""
    s = np.array([0, 1, 0, 2, 0], dtype=np.uint8)
    for seed in range(40):
        out = negatives.dinucleotide_shuffle(s, np.random.default_rng(seed))
        assert out.tolist() == [0, 2, 0, 1, 0]


def test_each_sequence_gets_its_own_draw_that_depends_on_its_place_only():
    """Two identical positives drawn from one generator state got identical negatives: a duplicated
    negative, and the set was not as random as the seed promised."""
    x = np.random.default_rng(1).integers(0, 4, 200).astype(np.uint8)
    y, z = (np.random.default_rng(s).integers(0, 4, 150).astype(np.uint8) for s in (2, 3))
    same = negatives.dinucleotide_shuffles([x, x], seed=7)
    assert not np.array_equal(same[0], same[1])
    # the other sequences do not change a sequence's shuffle, its place and the seed do
    assert np.array_equal(
        negatives.dinucleotide_shuffles([y, x], seed=7)[1], negatives.dinucleotide_shuffles([z, x], seed=7)[1]
    )


def test_gc_bins_are_equal_bins_of_0_1_by_hand():
    """A GC fraction in [b/10, (b+1)/10) is bin b (floor, not round), and a fraction of 1 is the last
    bin: a rounded bin would match the positives to windows up to half a bin richer in GC."""
    gc = np.array([0, 3, 4, 7, 8, 36, 39, 40])
    # fractions of 40: 0, 0.075, 0.1, 0.175, 0.2, 0.9, 0.975, 1
    assert negatives.gc_bin(gc, 40, 10).tolist() == [0, 0, 1, 1, 2, 9, 9, 9]
    assert negatives.gc_bin(np.array([1, 2, 3]), 4, 2).tolist() == [0, 1, 1]  # 0.25, 0.5, 0.75


def test_zero_gc_bins_are_refused_in_one_line(genome):
    corpus, positives, _ = genome
    with pytest.raises(DataError) as err:
        negatives.gc_matched_windows(corpus, positives, gc_codes=GC, seed=0, bins=0, complement=COMPLEMENT)
    assert str(err.value) == "--bins: expected a positive number of GC bins, got 0"


@pytest.fixture
def decoys(tmp_path):
    """Spacers of G and C only around one AT island ATTATA, the only GC-free 6-mer window a negative
    for the positive AAAAAA may be, and decoys that are GC-free too but must never be drawn: an N run,
    a T run (reverse-complement copies), an A run (copies), the 6 residues right after a copy (within
    the margin) and a window holding one N."""
    rng = np.random.default_rng(0)
    spacers = ["".join(rng.choice(list("GC"), 30)) for _ in range(7)]
    pieces = ["ATTATA", "N" * 20, "T" * 20, "A" * 20, "AAAAAA" + "TATTAT", "N" + "TATTA"]
    genome = spacers[0] + "".join(p + s for p, s in zip(pieces, spacers[1:]))
    path = tmp_path / "decoys.fa"
    path.write_text(">g\n" + genome + "\n")
    positive = np.array([0, 0, 0, 0, 0, 0], dtype=np.uint8)
    return Corpus([str(path)], SPEC), positive, genome.index("ATTATA")


def test_gc_matched_windows_avoid_unknowns_copies_on_either_strand_and_their_margins(decoys):
    """A negative that is a copy of a positive (either strand), sits next to one, or holds an N
    would be a label error or a shortcut: whatever the seed, only the island may be drawn."""
    corpus, positive, island = decoys
    for seed in range(12):
        (window,) = negatives.gc_matched_windows(
            corpus, [positive], gc_codes=GC, seed=seed, complement=COMPLEMENT
        )
        name, start, stop, strand, codes = window
        assert (name, start, stop) == ("g", island, island + 6)
        expected = np.array([0, 3, 3, 0, 3, 0], dtype=np.uint8)  # ATTATA
        assert np.array_equal(codes, expected if strand == "+" else rc(expected))


@pytest.mark.parametrize("second", ["AAAAAA", "ATTATN"])
def test_the_short_bin_message_gives_the_blocked_share_by_hand(decoys, second):
    """The share blocked tells the user why windows ran out: here 103 of 294 residues are masked, 21
    N, 32 around each of the runs of A and T (their copies from 6 before to 6 after) and 18 around
    the single copy. A positive holding an N has no k-mer of 6 to mask: read as an A, ATTATN would
    mask the island ATTATA."""
    corpus, positive, _ = decoys
    other = encode(second)
    with pytest.raises(DataError) as err:
        negatives.gc_matched_windows(
            corpus, [positive, other], gc_codes=GC, seed=0, complement=COMPLEMENT, source="decoys.fa"
        )
    assert str(err.value) == (
        "decoys.fa: only 1 free windows of 6 residues with GC fraction in [0, 0.1), 2 needed to match "
        "the positives (35% of the genome is unknown residues or copies of a positive with their "
        "margins); use fewer --bins or a larger genome"
    )


def test_dinucleotide_counts_by_hand():
    """ACGAC: AC twice, CG once, GA once, as (first, second) residue."""
    counts = negatives.dinucleotide_counts(np.array([0, 1, 2, 0, 1]), 4)
    expected = np.zeros((4, 4), int)
    expected[0, 1], expected[1, 2], expected[2, 0] = 2, 1, 1
    assert counts.tolist() == expected.tolist()


def test_gc_matched_windows_follow_the_seed_and_keep_the_longest_positives_margin(genome):
    """The seed chooses which windows are drawn (a fixed scan order gave the same windows for every
    seed, crowded at the genome's start), and every k-mer copy of a positive is masked with the
    longest positive's length on both sides, a 6-bp positive among them or not."""
    corpus, positives, planted = genome
    short = np.array([0, 3, 3, 1, 2, 0], dtype=np.uint8)
    runs = [
        negatives.gc_matched_windows(corpus, [*positives, short], gc_codes=GC, seed=s, complement=COMPLEMENT)
        for s in (1, 2)
    ]
    assert {w[1] for w in runs[0]} != {w[1] for w in runs[1]}
    for windows in runs:
        assert max(w[1] for w in windows) > 10_000  # drawn across the genome
        for _, start, stop, _, codes in windows:
            if len(codes) == 40:  # copies' 20-mers start at..at+20: masked from at - 40 to at + 80
                assert all(stop <= at - 40 or start >= at + 80 for at in planted)


def test_a_window_sharing_less_than_20_residues_with_a_positive_is_not_a_copy(tmp_path):
    """Copies are found by 20-mers: an AT island sharing only its first 15 residues with a 40-bp
    positive is a fair negative (shorter k-mers masked every window that shares a motif)."""
    rng = np.random.default_rng(3)
    positive = "".join(rng.choice(list("AT"), 40))
    island = positive[:15] + "".join(rng.choice(list("AT"), 25))
    spacer = "".join(rng.choice(list("GC"), 60))
    path = tmp_path / "g.fa"
    path.write_text(">g\n" + spacer + island + spacer + "\n")
    codes = encode(positive)
    (window,) = negatives.gc_matched_windows(
        Corpus([str(path)], SPEC), [codes], gc_codes=GC, seed=0, bins=40, complement=COMPLEMENT
    )
    assert window[1:3] == (60, 100)  # bins of 1/40: the only GC-free window of 40, the island


def test_a_four_residue_sequence_with_another_eulerian_path_is_shuffled():
    """ACAA holds AC, CA and AA, as does AACA and nothing else: a 4-bp positive has a negative to
    get, and a shuffle equal to its input is drawn again."""
    s = np.array([0, 1, 0, 0], dtype=np.uint8)
    for seed in range(20):
        assert negatives.dinucleotide_shuffle(s, np.random.default_rng(seed)).tolist() == [0, 0, 1, 0]


def test_a_window_ending_in_an_unknown_residue_is_never_drawn(tmp_path):
    """Every residue of a window is checked, its last one too: TATTAN (GC-free, like the island
    ATTATA) would be a negative holding an N, a residue no positive holds."""
    rng = np.random.default_rng(1)
    spacers = ["".join(rng.choice(list("GC"), 30)) for _ in range(3)]
    genome = spacers[0] + "ATTATA" + spacers[1] + "TATTAN" + spacers[2]
    path = tmp_path / "g.fa"
    path.write_text(">g\n" + genome + "\n")
    corpus = Corpus([str(path)], SPEC)
    island = genome.index("ATTATA")
    for seed in range(12):
        (window,) = negatives.gc_matched_windows(
            corpus, [np.zeros(6, dtype=np.uint8)], gc_codes=GC, seed=seed, complement=COMPLEMENT
        )
        assert window[1:3] == (island, island + 6)


def test_gc_histogram_has_one_count_per_bin_by_hand():
    """The histogram has ``bins`` entries whatever bins the sequences fill: AAAA (GC 0) and GGCA
    (GC 0.75) in 10 bins are one count in bins 0 and 7, zeros up to bin 9, so that two histograms
    compare bin for bin."""
    seqs = [encode("AAAA"), encode("GGCA")]
    assert negatives.gc_histogram(seqs, GC).tolist() == [1, 0, 0, 0, 0, 0, 0, 1, 0, 0]
    assert negatives.gc_histogram(seqs[:1], GC, bins=4).tolist() == [1, 0, 0, 0]


def test_a_window_sharing_20_residues_with_a_positive_is_a_copy(tmp_path):
    """k = 20: an AT island holding the first 20 residues of a 40-bp positive (its 21st differs) is a
    near copy and masked, so no GC-free window of 40 is left (a k of 21 let it through)."""
    rng = np.random.default_rng(3)
    positive = "".join(rng.choice(list("AT"), 40))
    island = positive[:20] + ("T" if positive[20] == "A" else "A") + "".join(rng.choice(list("AT"), 19))
    spacer = "GC" * 30
    path = tmp_path / "g.fa"
    path.write_text(">g\n" + spacer + island + spacer + "\n")
    with pytest.raises(
        DataError,
        match=r"^genome: only 0 free windows of 40 residues with GC fraction in \[0, 0\.025\), 1 needed",
    ):
        negatives.gc_matched_windows(
            Corpus([str(path)], SPEC), [encode(positive)], gc_codes=GC, seed=0, bins=40, complement=COMPLEMENT
        )


def test_copies_at_both_ends_of_a_record_are_masked_to_its_ends(tmp_path):
    """A copy of AAAAAA at the record's start (its margin clipped at 0) and a reverse-complement copy
    at its end (clipped at the end) are masked: the island ATTATA between them is the only GC-free
    window to draw. With two to match, the message gives the blocked share by hand: residues 0-11 and
    66-77 of 78, 24/78 = 31 %."""
    genome = "AAAAAA" + "GC" * 15 + "ATTATA" + "GC" * 15 + "TTTTTT"
    path = tmp_path / "ends.fa"
    path.write_text(">e\n" + genome + "\n")
    corpus, positive = Corpus([str(path)], SPEC), np.zeros(6, dtype=np.uint8)
    for seed in range(12):
        (window,) = negatives.gc_matched_windows(
            corpus, [positive], gc_codes=GC, seed=seed, complement=COMPLEMENT
        )
        assert window[:3] == ("e", 36, 42)
    with pytest.raises(DataError) as err:
        negatives.gc_matched_windows(
            corpus, [positive, positive], gc_codes=GC, seed=0, complement=COMPLEMENT, source="ends.fa"
        )
    assert str(err.value) == (
        "ends.fa: only 1 free windows of 6 residues with GC fraction in [0, 0.1), 2 needed to match "
        "the positives (31% of the genome is unknown residues or copies of a positive with their "
        "margins); use fewer --bins or a larger genome"
    )


def test_the_window_ending_a_record_can_be_drawn(tmp_path):
    """The last window of a record (stop = its length) is a window like any other: here the only
    GC-free one."""
    path = tmp_path / "g.fa"
    path.write_text(">g\n" + "GC" * 15 + "ATTATA\n")
    (window,) = negatives.gc_matched_windows(
        Corpus([str(path)], SPEC), [np.zeros(6, dtype=np.uint8)], gc_codes=GC, seed=0, complement=COMPLEMENT
    )
    assert window[:3] == ("g", 30, 36)


def test_one_gc_bin_matches_length_only_and_strands_are_drawn_half_and_half(genome):
    """``bins=1`` is a valid choice (windows matched in length only), and each window is given on the
    reverse strand with probability 1/2: of 200 windows, 100 +- 30 (over 4 standard deviations) are
    '-', each the reverse complement of its genome window."""
    corpus, _, _ = genome
    positives = list(np.random.default_rng(0).integers(0, 4, (200, 8)).astype(np.uint8))
    windows = negatives.gc_matched_windows(
        corpus, positives, gc_codes=GC, seed=2, bins=1, complement=COMPLEMENT
    )
    assert len(windows) == 200 and all(stop - start == 8 for _, start, stop, _, _ in windows)
    genome_codes = corpus.codes(0, 0, int(corpus.lengths[0]))
    minus = [w for w in windows if w[3] == "-"]
    assert 70 <= len(minus) <= 130
    for _, start, stop, strand, codes in windows:
        window = genome_codes[start:stop]
        assert np.array_equal(codes, window if strand == "+" else rc(window))


def test_the_shuffle_is_uniform_over_eulerian_paths_whatever_the_inputs_last_exits():
    """AACAGC (AA, AC, CA, AG, GC) has four Eulerian paths, two in which A is last left for G (as in
    the input) and two for C: AACAGC, ACAAGC, AAGCAC, AGCAAC. Wilson's walk makes A's last exit C or
    G with probability 1/2 and A's other exits come in either order with 1/2, so each path is drawn
    a quarter of the time (keeping the input's last exits draws only the first two): 400 draws give
    100 +- 40 each, over 4 standard deviations."""
    s = encode("AACAGC")
    rng = np.random.default_rng(0)
    drawn = Counter("".join("ACGT"[c] for c in negatives._euler_shuffle(s, rng)) for _ in range(400))
    assert set(drawn) == {"AACAGC", "ACAAGC", "AAGCAC", "AGCAAC"}
    assert all(60 <= n <= 140 for n in drawn.values())
