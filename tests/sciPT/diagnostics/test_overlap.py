import numpy as np

from sciPT.diagnostics.overlap import found_in, repeats, strand_keys
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
