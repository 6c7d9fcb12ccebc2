import numpy as np
import pytest

from sciPT.tokenizers import MASK_ID, PAD_ID, UNK_ID, Alphabet, SequenceTokenizer

DNA = Alphabet("ACGTN", n_core=4)


def test_residue_tokens_are_offset_codes():
    tok = SequenceTokenizer(DNA, k=1)
    assert tok.vocab_size == 5 + 5
    assert tok.encode("ACGTN").tolist() == [5, 6, 7, 8, 9]
    assert tok.tokens()[5:] == list("ACGTN")


def test_a_symbol_outside_the_alphabet_is_named():
    with pytest.raises(ValueError) as err:
        SequenceTokenizer(DNA, k=1).encode("ACGTR")  # a KeyError: 'R' before
    assert str(err.value) == (
        "'R' at position 4 is not one of ACGTN; read sequences with the domain's SequenceSpec.encode, "
        "which maps ambiguity codes"
    )


def test_kmer_ids_by_hand():
    tok = SequenceTokenizer(DNA, k=3)
    assert tok.vocab_size == 5 + 64
    # ACG = 0*16 + 1*4 + 2 = 6; CGT = 1*16 + 2*4 + 3 = 27; GTA = 2*16 + 3*4 + 0 = 44
    assert tok.encode("ACGTA").tolist() == [5 + 6, 5 + 27, 5 + 44]
    assert tok.tokens()[5 + 27] == "CGT"


def test_a_sequence_shorter_than_k_has_no_token():
    tok = SequenceTokenizer(DNA, k=3)
    assert tok.encode("AC").tolist() == [] and tok.n_tokens(2) == 0
    assert tok.batch([np.array([0, 1], np.uint8)])["input_ids"].shape == (1, 0)


def test_kmer_touching_n_is_unknown():
    tok = SequenceTokenizer(DNA, k=3)
    assert tok.encode("ACNTAC").tolist() == [UNK_ID, UNK_ID, UNK_ID, 5 + 3 * 16 + 0 * 4 + 1]


def test_batch_pads_and_masks():
    tok = SequenceTokenizer(DNA, k=1)
    batch = tok.batch([np.array([0, 1, 2], np.uint8), np.array([3], np.uint8)])
    assert batch["input_ids"].tolist() == [[5, 6, 7], [8, PAD_ID, PAD_ID]]
    assert batch["attention_mask"].tolist() == [[True, True, True], [True, False, False]]


def test_special_and_normal_ids_partition_the_vocabulary():
    tok = SequenceTokenizer(DNA, k=2)
    assert sorted(tok.special_ids + tok.normal_ids) == list(range(tok.vocab_size))
    assert MASK_ID in tok.special_ids


def test_round_trip():
    tok = SequenceTokenizer(DNA, k=4)
    again = SequenceTokenizer.from_dict(tok.to_dict())
    assert again.encode("ACGTACGT").tolist() == tok.encode("ACGTACGT").tolist()


def test_rejects_k_zero():
    with pytest.raises(ValueError, match="k must be >= 1"):
        SequenceTokenizer(DNA, k=0)


def test_token_count_is_the_number_of_whole_kmers():
    """W residues give W - k + 1 k-mers: a window sized by n_tokens must match what encode gives."""
    tok = SequenceTokenizer(DNA, k=3)
    assert [tok.n_tokens(w) for w in (0, 1, 2, 3, 4, 7)] == [0, 0, 0, 1, 2, 5]
    assert tok.encode("ACG").tolist() == [5 + 6]  # exactly k residues: one k-mer, ACG = 0*16 + 1*4 + 2
    assert len(tok.encode("ACGTACG")) == tok.n_tokens(7)


def test_lowercase_sequences_encode_like_uppercase():
    """Soft-masked (lowercase) FASTA residues are the same bases, not unknown symbols."""
    tok = SequenceTokenizer(DNA, k=1)
    assert tok.encode("acgtn").tolist() == [5, 6, 7, 8, 9]


def test_kmer_complement_ids_by_hand():
    """A k-mer's partner is the k-mer read on the other strand: AC pairs with GT (reversed, complemented)."""
    tok = SequenceTokenizer(DNA, k=2)
    ids = tok.complement_ids(np.array([3, 2, 1, 0, 4]))
    assert ids[:5] == [0, 1, 2, 3, 4]  # special tokens are their own
    # AC = 0*4 + 1 = 1 -> GT = 2*4 + 3 = 11; AA = 0 -> TT = 15; CG = 6 -> CG = 6
    assert (ids[5 + 1], ids[5 + 0], ids[5 + 6]) == (5 + 11, 5 + 15, 5 + 6)


def test_kmer_complement_outside_the_core_is_refused():
    """A complement sending A to N has no k-mer to map to: refused, not a silently wrong id."""
    tok = SequenceTokenizer(DNA, k=2)
    with pytest.raises(ValueError, match="the complement of a core symbol is not a core symbol"):
        tok.complement_ids(np.array([4, 2, 1, 0, 4]))


def test_batch_crops_to_max_tokens():
    """max_tokens is the model's context: longer sequences are cut to exactly that many tokens."""
    tok = SequenceTokenizer(DNA, k=1)
    codes = [np.array([0, 1, 2, 3], np.uint8), np.array([3], np.uint8)]
    batch = tok.batch(codes, max_tokens=2)
    assert batch["input_ids"].tolist() == [[5, 6], [8, PAD_ID]]
    assert tok.batch(codes, max_tokens=0)["input_ids"].shape == (2, 0)


def test_an_alphabet_with_a_repeated_symbol_is_refused():
    """Two codes for one symbol would make encode's lookup silently drop one of them."""
    with pytest.raises(ValueError, match="alphabet has repeated symbols: ACGA"):
        Alphabet("ACGA", n_core=4)


def test_residue_complement_ids_by_hand():
    """k = 1: a residue token's partner is its complement's token, A (5) <-> T (8), C (6) <-> G (7), N (9)."""
    tok = SequenceTokenizer(DNA, k=1)
    assert tok.complement_ids(np.array([3, 2, 1, 0, 4])) == [0, 1, 2, 3, 4, 8, 7, 6, 5, 9]


def test_a_lowercase_symbol_outside_the_alphabet_is_named_as_written():
    """The message quotes the user's own character, so a search of the file for it finds it."""
    with pytest.raises(ValueError) as err:
        SequenceTokenizer(DNA, k=1).encode("acgtr")
    assert str(err.value) == (
        "'r' at position 4 is not one of ACGTN; read sequences with the domain's SequenceSpec.encode, "
        "which maps ambiguity codes"
    )


def test_an_empty_batch_has_no_columns():
    """No sequences: a [0, 0] batch, not a column of padding."""
    batch = SequenceTokenizer(DNA, k=1).batch([])
    assert batch["input_ids"].shape == (0, 0) and batch["attention_mask"].shape == (0, 0)


def test_the_dict_form_keeps_a_core_that_is_not_four():
    """A 3-symbol core (X outside it): ids are base-3 numbers, and a tokenizer read back is the same one."""
    tok = SequenceTokenizer(Alphabet("ACDX", n_core=3), k=2)
    assert tok.to_dict() == {"symbols": "ACDX", "n_core": 3, "k": 2}
    again = SequenceTokenizer.from_dict(tok.to_dict())
    assert again.vocab_size == 5 + 3**2
    # AC = 0*3 + 1 = 1; CD = 1*3 + 2 = 5; DX and XA hold X, outside the core: [UNK]
    assert again.encode("ACDXA").tolist() == [5 + 1, 5 + 5, UNK_ID, UNK_ID]


@pytest.mark.parametrize("k", [1, 3])
def test_ids_are_int64_as_an_embedding_takes_them(k):
    """uint8 codes in, int64 ids out: a byte tensor of ids is refused by torch's embedding lookup."""
    tok = SequenceTokenizer(DNA, k=k)
    assert tok.encode_codes(np.array([0, 1, 2, 3], np.uint8)).dtype == np.int64


def test_a_stack_of_code_arrays_encodes_row_by_row():
    """Codes [..., W] give ids [..., W - k + 1], also where W < k gives no k-mer at all."""
    tok = SequenceTokenizer(DNA, k=3)
    codes = np.array([[0, 1, 2, 3], [3, 3, 3, 3]], np.uint8)
    # ACG = 6, CGT = 27; TTT = 63
    assert tok.encode_codes(codes).tolist() == [[5 + 6, 5 + 27], [5 + 63, 5 + 63]]
    assert tok.encode_codes(codes[:, :2]).shape == (2, 0)
