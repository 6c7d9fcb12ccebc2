import numpy as np
import pytest

from sciPT.diagnostics.overlap import found_in, repeats, similarity_to, similarity_within, strand_keys
from sciPT.domains.dna.data import DNA_SPEC

COMPLEMENT = DNA_SPEC.complement_codes()


def codes(*texts: str) -> list[np.ndarray]:
    return [np.array(["ACGTN".index(c) for c in t], dtype=np.uint8) for t in texts]


def test_a_sequence_and_its_reverse_complement_share_a_key_unless_compared_as_given():
    aacg, cgtt = codes("AACG", "CGTT")  # each the other's reverse complement
    assert strand_keys([aacg], COMPLEMENT) == strand_keys([cgtt], COMPLEMENT)
    assert strand_keys([aacg], None) != strand_keys([cgtt], None)


def test_codes_built_as_int64_share_their_reverse_complements_key_too():
    """A caller's codes from ``rng.integers`` are int64: their bytes are not the uint8 bytes of the
    complement table, and before, no such sequence shared its strand's key (a CNN's early-stopping
    split then put a sequence and its reverse complement on both sides)."""
    aacg, cgtt = (c.astype(np.int64) for c in codes("AACG", "CGTT"))
    assert strand_keys([aacg], COMPLEMENT) == strand_keys([cgtt], COMPLEMENT)
    assert strand_keys([aacg, cgtt], COMPLEMENT) == strand_keys(codes("AACG", "CGTT"), COMPLEMENT)
    assert strand_keys([aacg], None) == strand_keys(codes("AACG"), None)


def test_repeats_count_contradictions_once_and_every_later_copy():
    # AACG (1), its reverse complement labelled 0 (a contradiction and a copy), AACG again (a copy),
    # GGGG twice with one label (a copy, no contradiction)
    seqs = codes("AACG", "CGTT", "AACG", "GGGG", "GGGG", "ACGA")
    labels = np.array([1, 0, 1, 0, 0, 1])
    found = repeats(seqs, labels, COMPLEMENT)
    assert (found.conflicting, found.repeated) == (1, 3)
    as_given = repeats(seqs, labels, None)  # proteins: CGTT is another sequence
    assert (as_given.conflicting, as_given.repeated) == (0, 2)


def test_found_in_looks_on_either_strand():
    train = codes("AACG", "GGGG")
    test = codes("CGTT", "CCCC", "TTTT", "AACG")
    assert found_in(test, train, COMPLEMENT).tolist() == [True, True, False, True]
    assert found_in(test, train, None).tolist() == [False, False, False, True]


def test_the_key_is_the_bytewise_smaller_strand():
    """The key is the smaller strand's codes (module docstring): the promoter export hashes its
    letters into the shipped training record, so the larger strand would change every hash."""
    (aacg,) = codes("AACG")  # AACG < CGTT bytewise
    assert strand_keys(codes("CGTT", "AACG"), COMPLEMENT) == [aacg.tobytes(), aacg.tobytes()]


def test_similarity_to_counts_kmer_positions_on_the_better_strand():
    """3-mers by hand. AACGTT (4 positions: AAC ACG CGT GTT; its reverse complement is itself)
    against CGTA (CGT GTA) and AAAC (AAA AAC): CGT and AAC, 2/4; against CGTA alone 1/4. TACG
    (TAC ACG) against CGTA as given shares nothing; its reverse complement CGTA shares both: 1; read
    as given only (proteins), 0. A repeated 3-mer counts at each position: AAAA (AAA twice) against
    AAAC is 2/2."""
    query = codes("AACGTT", "TACG", "AAAA")
    sim = similarity_to(query, codes("CGTA", "AAAC"), COMPLEMENT, 3, 4)
    assert sim.tolist() == [0.5, 1.0, 1.0]
    assert similarity_to(query, codes("CGTA"), None, 3, 4).tolist() == [0.25, 0.0, 0.0]


def test_similarity_skips_kmers_with_an_unknown_base_on_both_sides():
    """ACGNACG: the 3-mers ACG, ACG are valid, CGN GNA NAC are not; both ACG found: 2/2 = 1. A
    reference N never matches: NNN against NNN scores 0, as does a sequence shorter than k."""
    sim = similarity_to(codes("ACGNACG", "NNN", "AC"), codes("TACGT", "NNN"), COMPLEMENT, 3, 4)
    assert sim.tolist() == [1.0, 0.0, 0.0]
    assert similarity_to([], codes("ACGT"), COMPLEMENT, 3, 4).shape == (0,)


def test_similarity_within_leaves_out_the_records_own_copies():
    """AACGT and its reverse complement ACGTT are one sequence: against each other they are copies
    (the repeats' business) and score 0; a third record CGTA holds CGT, one of AACGT's three
    3-mers (AAC ACG CGT), so 1/3 with it; CGTA's own CGT and GTA: CGT found in AACGT, 1/2."""
    sim = similarity_within(codes("AACGT", "ACGTT"), COMPLEMENT, 3, 4)
    assert sim.tolist() == [0.0, 0.0]
    sim = similarity_within(codes("AACGT", "ACGTT", "CGTA"), COMPLEMENT, 3, 4)
    assert sim.tolist() == [pytest.approx(1 / 3), pytest.approx(1 / 3), 0.5]
    assert similarity_within([], COMPLEMENT, 3, 4).shape == (0,)
