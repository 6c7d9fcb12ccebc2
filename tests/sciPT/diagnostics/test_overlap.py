import numpy as np

from sciPT.diagnostics.overlap import copy_groups, found_in, repeats, similarity_to, strand_keys
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


def test_copy_groups_join_near_copies_pairwise_and_chains_of_them():
    """3-mers by hand, threshold 0.6. AACGTA (AAC ACG CGT GTA) and ACGTAC (ACG CGT GTA TAC) share
    3 of 4 either way: near. CGTACC (CGT GTA TAC ACC) shares 3 of 4 with ACGTAC: near, and so in
    AACGTA's group (a chain), though the two share only 2 of 4 on either strand. GGGGGG shares
    nothing. TACGTT is AACGTA's reverse complement: an exact copy in its group, near the others as
    AACGTA is. At 0.8 no pair is near, and only the exact copy joins a group."""
    texts = ("AACGTA", "ACGTAC", "GGGGGG", "CGTACC", "TACGTT")
    groups = copy_groups(codes(*texts), COMPLEMENT, 3, 0.6, 4)
    assert groups.group.tolist() == [0, 0, 1, 0, 0]
    assert groups.near.tolist() == [True, True, False, True, True]
    groups = copy_groups(codes(*texts), COMPLEMENT, 3, 0.8, 4)
    assert groups.group.tolist() == [0, 1, 2, 3, 0] and not groups.near.any()


def test_copy_groups_need_one_record_to_hold_the_threshold_alone():
    """AACGTT (AAC ACG CGT GTT; its own reverse complement) against AACGGGG (AAC ACG CGG GGG GGG)
    and TTTCGTT (TTT TTC TCG CGT GTT): 2 of its 4 3-mers with each, all 4 only with both; each of
    them 2 of its 5 with it (either strand); the two others share 2 of 5 (AACGGGG's reverse
    complement CCCCGTT holds CGT GTT). At 0.6 no pair is near and each is its own group; at 0.5
    AACGTT is near both. Groups are numbered by their first record."""
    texts = ("CATC", "AACGTT", "AACGGGG", "TTTCGTT")
    groups = copy_groups(codes(*texts), COMPLEMENT, 3, 0.6, 4)
    assert groups.group.tolist() == [0, 1, 2, 3] and not groups.near.any()
    groups = copy_groups(codes(*texts), COMPLEMENT, 3, 0.5, 4)
    assert groups.group.tolist() == [0, 1, 1, 1]
    assert groups.near.tolist() == [False, True, True, True]
    # AACG and CGTT are each other's reverse complement: copies; read as given, they share nothing
    assert copy_groups(codes("AACG", "CGTT"), COMPLEMENT, 3, 0.5, 4).group.tolist() == [0, 0]
    assert copy_groups(codes("AACG", "CGTT"), None, 3, 0.5, 4).group.tolist() == [0, 1]
    assert copy_groups([], COMPLEMENT, 3, 0.5, 4).group.shape == (0,)


def test_similarity_to_finds_no_kmer_across_reference_sequences_or_with_an_unknown_base():
    """A k-mer occurs in *some reference sequence*: TAC and GAT hold 3-mers TAC and GAT only, not
    the ACG and CGA that their concatenation TACGAT would, so ACGA (ACG CGA; reverse complement
    TCGT: TCG CGT) shares nothing with them. A reference k-mer with an N is no k-mer: CGTN holds CGT
    alone, not GTA (an N read as its code's A would make GTN that), so GTA scores 0 against it. A
    sequence against no reference shares nothing."""
    assert similarity_to(codes("ACGA"), codes("TAC", "GAT"), COMPLEMENT, 3, 4).tolist() == [0.0]
    assert similarity_to(codes("GTA", "ACGT"), codes("CGTN"), COMPLEMENT, 3, 4).tolist() == [0.0, 0.5]
    assert similarity_to(codes("ACGT"), [], COMPLEMENT, 3, 4).tolist() == [0.0]


def test_a_set_of_copies_holds_the_kmers_of_one_strand():
    """The query reads both strands, so a set of copies holds its first record's k-mers as given
    only: a query strand with k-mers of both strands of AACCC is not more alike for it. AACCC holds
    AAC ACC CCC (its reverse complement GGGTT, the next record, is its copy). AACGGT (AAC ACG CGG
    GGT) shares AAC with it; its reverse complement ACCGTT (ACC CCG CGT GTT) shares ACC: 1 of 4
    either way (0.25), though AAC and GGT of one strand are one of each of AACCC's strands' (0.5).
    AACCC against AACGGT: AAC, 1 of 3; GGGTT: GGT, 1 of 3. At 0.5 no pair is near; at 0.25 AACGGT
    is near the copies."""
    texts = ("AACCC", "GGGTT", "AACGGT")
    groups = copy_groups(codes(*texts), COMPLEMENT, 3, 0.5, 4)
    assert groups.group.tolist() == [0, 0, 1] and not groups.near.any()
    groups = copy_groups(codes(*texts), COMPLEMENT, 3, 0.25, 4)
    assert groups.group.tolist() == [0, 0, 0] and groups.near.all()


def test_a_kmer_held_twice_is_found_once_per_query_position():
    """The fraction is of the query's k-mer positions, whatever the other holds: AAAG (AAA AAG;
    reverse complement CTTT: CTT TTT) against AAAAC (AAA twice, AAC) finds AAA at 1 of its 2
    positions (0.5), not twice; AAAAC against AAAG finds AAA at 2 of its 3 (0.67; its reverse
    complement GTTTT: GTT TTT TTT, none). At 0.75 neither is near; at 0.6 AAAAC is."""
    assert copy_groups(codes("AAAAC", "AAAG"), COMPLEMENT, 3, 0.75, 4).group.tolist() == [0, 1]
    groups = copy_groups(codes("AAAAC", "AAAG"), COMPLEMENT, 3, 0.6, 4)
    assert groups.group.tolist() == [0, 0] and groups.near.all()


def test_a_near_copy_of_a_repeated_record_is_found_in_its_copies():
    """AACG (AAC ACG) twice, then AACGGGG (AAC ACG CGG GGG GGG): AACG shares both its 3-mers with
    AACGGGG (1.0), which shares 2 of its 5 with AACG (0.4). At 0.6 AACGGGG, after two copies, is
    near them: one group of three."""
    groups = copy_groups(codes("AACG", "AACG", "AACGGGG"), COMPLEMENT, 3, 0.6, 4)
    assert groups.group.tolist() == [0, 0, 0] and groups.near.all()


def test_a_reverse_complement_is_an_exact_copy_not_a_near_one():
    """AACG and CGTT are each other's reverse complement: one group, and no near copy (the report
    counts them as a repeat); read as given (proteins) they share no 3-mer and are apart."""
    groups = copy_groups(codes("AACG", "CGTT", "GGGA"), COMPLEMENT, 3, 0.5, 4)
    assert groups.group.tolist() == [0, 0, 1] and not groups.near.any()


def test_copy_groups_read_in_chunks_of_strands_find_the_same_groups(monkeypatch):
    """Strands are compared a chunk at a time to bound memory; a chunk of one strand, or of three
    (a record's two strands split between chunks), gives the groups of one chunk for all."""
    from sciPT.diagnostics import overlap

    texts = ("AACGTA", "ACGTAC", "GGGGGG", "CGTACC", "TACGTT", "AACGGGG", "TTTCGTT")
    whole = copy_groups(codes(*texts), COMPLEMENT, 3, 0.6, 4)
    for size in (1, 3):
        monkeypatch.setattr(overlap, "STRANDS_PER_CHUNK", size)
        chunked = copy_groups(codes(*texts), COMPLEMENT, 3, 0.6, 4)
        # AACGGGG holds all four of GGGGGG's 3-mers (GGG): near, in its group
        assert chunked.group.tolist() == whole.group.tolist() == [0, 0, 1, 0, 0, 1, 2]
        assert chunked.near.tolist() == whole.near.tolist()


def test_the_near_copy_rule_groups_as_copy_groups_and_without_it_by_exact_copies():
    """Windows at 0 and 4 of a 44-bp stretch (21 of 25 16-mers shared), the second's reverse
    complement, and an unrelated record: the rule at 0.5 joins the three windows, at 0.9 only the
    exact pair (either strand); no rule keys by exact copies alone (:func:`strand_keys`)."""
    from sciPT.diagnostics.overlap import NearCopies, split_keys

    rng = np.random.default_rng(0)
    stretch = rng.integers(0, 4, 44).astype(np.uint8)
    codes = [
        stretch[:40],
        stretch[4:],
        COMPLEMENT[stretch[4:][::-1]],
        rng.integers(0, 4, 40).astype(np.uint8),
    ]
    assert NearCopies(16, 0.5).groups(codes, COMPLEMENT, 4).tolist() == [0, 0, 0, 1]
    assert split_keys(codes, COMPLEMENT, 4, NearCopies(16, 0.9)).tolist() == [0, 1, 1, 2]
    assert split_keys(codes, COMPLEMENT, 4, None) == strand_keys(codes, COMPLEMENT)


def test_the_near_copy_rule_joins_by_its_own_k():
    """Windows at 0 and 4 of a 44-bp stretch share 25 - 4 = 21 of their 25 16-mers (0.84) but only
    24 - 4 = 20 of their 24 17-mers (0.833): at threshold 0.835 the rule with k 16 joins them and
    the rule with k 17 does not, so the rule reads its own k, not a neighbour of it."""
    from sciPT.diagnostics.overlap import NearCopies

    rng = np.random.default_rng(0)
    stretch = rng.integers(0, 4, 44).astype(np.uint8)
    windows = [stretch[:40], stretch[4:]]
    assert NearCopies(16, 0.835).groups(windows, COMPLEMENT, 4).tolist() == [0, 0]
    assert NearCopies(17, 0.835).groups(windows, COMPLEMENT, 4).tolist() == [0, 1]
