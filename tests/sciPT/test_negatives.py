"""Hard negatives: dinucleotide shuffles keep every dinucleotide count; GC-matched windows match the
positives' GC histogram and avoid every copy of a positive."""

import numpy as np
import pytest

from sciPT import negatives
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
