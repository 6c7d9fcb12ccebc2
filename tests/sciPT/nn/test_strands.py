"""Reverse-complement parameter sharing (sciPT.nn.strands and TransformerConfig.rc_equivariant)."""

import numpy as np
import pytest
import torch

from sciPT.domains.dna.data import DNA_SPEC
from sciPT.domains.dna.tokenizer import encode, reverse_complement
from sciPT.errors import ConfigError
from sciPT.nn import TransformerConfig, TransformerEncoder
from sciPT.nn.classifier import ClassifierHead, HeadConfig
from sciPT.nn.strands import reverse_complement_hidden, reverse_complement_ids
from sciPT.testing import assert_rc_equivariant
from sciPT.tokenizers import SequenceTokenizer

COMPLEMENT = DNA_SPEC.complement_codes()


def _batch(k: int, lengths=(30, 23, 17), seed: int = 0):
    tok = SequenceTokenizer(DNA_SPEC.alphabet, k=k)
    rng = np.random.default_rng(seed)
    seqs = [rng.integers(0, 4, n).astype(np.uint8) for n in lengths]
    seqs[1][5] = 4  # an N: [UNK] among k-mers, its own complement among residues
    return tok, seqs, tok.batch(seqs)


def _encoder(tok: SequenceTokenizer, rc: bool = True, **kw) -> TransformerEncoder:
    torch.manual_seed(0)
    cfg = TransformerConfig(
        vocab_size=tok.vocab_size,
        d_model=32,
        n_heads=2,
        d_ff=64,
        n_layers=2,
        rc_equivariant=rc,
        complement_ids=tok.complement_ids(COMPLEMENT),
        **kw,
    )
    return TransformerEncoder(cfg).double().eval()


def test_complement_ids_by_hand():
    tok = SequenceTokenizer(DNA_SPEC.alphabet, k=3)
    ids = tok.complement_ids(COMPLEMENT)
    # ACG = 0*16 + 1*4 + 2 -> id 5 + 6; its reverse complement CGT = 1*16 + 2*4 + 3 -> id 5 + 27
    assert ids[11] == 32 and ids[32] == 11
    assert ids[:5] == [0, 1, 2, 3, 4]  # special tokens are their own
    residues = SequenceTokenizer(DNA_SPEC.alphabet, k=1).complement_ids(COMPLEMENT)
    assert residues[5:] == [5 + 3, 5 + 2, 5 + 1, 5 + 0, 5 + 4]  # A<->T, C<->G, N<->N


@pytest.mark.parametrize("k", [1, 3])
def test_ids_of_the_reverse_complement(k):
    tok, seqs, batch = _batch(k)
    rc = tok.batch([reverse_complement(s) for s in seqs])
    got = reverse_complement_ids(
        batch["input_ids"], batch["attention_mask"], torch.tensor(tok.complement_ids(COMPLEMENT))
    )
    assert torch.equal(got, rc["input_ids"])


@pytest.mark.parametrize("k", [1, 3])
@pytest.mark.parametrize("position", ["rotary", "alibi"])
def test_encoder_is_equivariant_with_padding(k, position):
    tok, _, batch = _batch(k)
    enc = _encoder(tok, position=position)
    assert_rc_equivariant(
        enc, batch["input_ids"], batch["attention_mask"], tok.complement_ids(COMPLEMENT), atol=1e-12
    )


def test_a_plain_encoder_is_not_equivariant():
    tok, _, batch = _batch(1)
    with pytest.raises(AssertionError, match="^not reverse-complement equivariant: max"):
        assert_rc_equivariant(
            _encoder(tok, rc=False),
            batch["input_ids"],
            batch["attention_mask"],
            tok.complement_ids(COMPLEMENT),
        )


def test_embedding_is_the_same_on_both_strands_and_select_matches():
    tok, seqs, batch = _batch(3)
    enc = _encoder(tok)
    rc = tok.batch([reverse_complement(s) for s in seqs])
    ids, mask = batch["input_ids"], batch["attention_mask"]
    torch.testing.assert_close(
        enc.embed(ids, mask), enc.embed(rc["input_ids"], rc["attention_mask"]), rtol=0, atol=1e-12
    )
    select = mask & (torch.arange(ids.shape[1]) % 3 == 0)
    torch.testing.assert_close(enc(ids, mask, select=select), enc(ids, mask)[select], rtol=0, atol=1e-12)


def test_the_strands_share_their_weights():
    tok = SequenceTokenizer(DNA_SPEC.alphabet, k=3)
    rc = _encoder(tok, rc=True)  # 32 channels, 16 per strand
    plain = TransformerEncoder(
        TransformerConfig(vocab_size=tok.vocab_size, d_model=16, n_heads=2, d_ff=32, n_layers=2)
    )
    assert rc.hidden_size == 32
    assert {k: v.shape for k, v in rc.state_dict().items()} == {
        k: v.shape for k, v in plain.state_dict().items()
    }


def test_hidden_of_the_reverse_complement_by_hand():
    hidden = torch.arange(2 * 3 * 2, dtype=torch.float64).view(2, 3, 2)
    mask = torch.tensor([[True, True, True], [True, True, False]])
    out = reverse_complement_hidden(hidden, mask)
    # row 0: positions 2,1,0, channels swapped; row 1: positions 1,0 then the padding in place
    assert out[0].tolist() == [[5, 4], [3, 2], [1, 0]]
    assert out[1].tolist() == [[9, 8], [7, 6], [11, 10]]


def test_strand_invariant_head():
    tok, seqs, batch = _batch(3, lengths=(30, 30, 24))
    enc = _encoder(tok)
    rc = tok.batch([reverse_complement(s) for s in seqs])
    complement = tok.complement_ids(COMPLEMENT)
    for pooling in ("flatten", "conv", "mean"):
        for tokens in (False, True):
            torch.manual_seed(1)
            cfg = HeadConfig(pooling=pooling, dropout=0.0, kernel=5, tokens=tokens)
            head = ClassifierHead(cfg, 32, 28, True, tok.vocab_size, complement).double().eval()
            ids, mask = batch["input_ids"], batch["attention_mask"]
            forward = head(enc(ids, mask), mask, ids)
            backward = head(enc(rc["input_ids"], rc["attention_mask"]), rc["attention_mask"], rc["input_ids"])
            torch.testing.assert_close(forward, backward, rtol=0, atol=1e-12)
            plain = ClassifierHead(cfg, 32, 28, False, tok.vocab_size).double().eval()
            assert not torch.allclose(
                plain(enc(ids, mask), mask, ids),
                plain(enc(rc["input_ids"], rc["attention_mask"]), rc["attention_mask"], rc["input_ids"]),
            )


@pytest.mark.parametrize(
    "kw, message",
    [
        (
            dict(d_model=32, d_ff=63),
            "model.rc_equivariant: d_model and d_ff are split between the two strands; expected even "
            "numbers, got 32 and 63",
        ),
        (
            dict(d_model=24, n_heads=8),
            "model.d_model: each strand's 12 channels are not divisible by model.n_heads (8)",
        ),
        (
            dict(d_model=24, n_heads=4),
            "model.d_model: rotary needs an even head size, got d_model/2/n_heads = 3",
        ),
        (
            dict(complement_ids=[1, 0, 2]),
            "model.complement_ids: expected a permutation of the 9 token ids, got 3 ids",
        ),
    ],
)
def test_bad_configs(kw, message):
    base = dict(vocab_size=9, d_model=32, n_heads=2, d_ff=64, rc_equivariant=True)
    with pytest.raises(ConfigError) as err:
        TransformerConfig(**{**base, **kw})
    assert str(err.value) == message


def test_refusals_at_build_and_run():
    with pytest.raises(ConfigError) as err:
        TransformerEncoder(
            TransformerConfig(vocab_size=9, d_model=32, n_heads=2, d_ff=64, rc_equivariant=True)
        )
    assert str(err.value) == (
        "model.rc_equivariant: needs each token's complement (model.complement_ids), which a domain "
        "with complementary strands (dna) fills in from its tokenizer"
    )
    tok, _, batch = _batch(1)
    with pytest.raises(ConfigError) as err:
        _encoder(tok)(batch["input_ids"], batch["attention_mask"], causal=True)
    assert str(err.value) == (
        "model.rc_equivariant: a strand-equivariant encoder reads both ways; causal attention is not available"
    )


def test_domains_fill_or_refuse_the_complement():
    from sciPT.domains.dna import domain as dna
    from sciPT.domains.protein import domain as protein

    cfg = dna.preset_functions["tiny"]()
    cfg.model.rc_equivariant = True
    exported = dna.export_config_from(cfg)
    assert exported["model"]["complement_ids"][5:] == [8, 7, 6, 5, 9]
    assert TransformerEncoder(TransformerConfig(**exported["model"])).rc_equivariant
    pcfg = protein.preset_functions["tiny"]()
    pcfg.model.rc_equivariant = True
    with pytest.raises(ConfigError) as err:
        protein.export_config_from(pcfg)
    assert str(err.value) == "model.rc_equivariant: protein sequences have no complement"


def test_no_hf_equivalent():
    from sciPT.hf_export import esm_equivalent

    with pytest.raises(ConfigError) as err:
        esm_equivalent({"rc_equivariant": True}, {"k": 1})
    assert str(err.value).startswith("model.rc_equivariant: a reverse-complement equivariant encoder")


def test_encode_helper_roundtrip():
    assert reverse_complement(encode("AACG")).tolist() == encode("CGTT").tolist()


def test_without_a_mask_the_whole_row_is_reverse_complemented():
    # mask=None means every position is real: the same answer as an all-True mask, by hand
    hidden = torch.arange(2 * 3 * 2, dtype=torch.float64).view(2, 3, 2)
    out = reverse_complement_hidden(hidden, None)
    assert out[0].tolist() == [[5, 4], [3, 2], [1, 0]]
    assert torch.equal(out, reverse_complement_hidden(hidden, torch.ones(2, 3, dtype=torch.bool)))
    complement = torch.tensor([0, 1, 2, 3, 4, 8, 7, 6, 5, 9])  # residues A C G T N at 5..9
    ids = torch.tensor([[5, 6, 6, 9], [8, 5, 7, 7]])  # ACCN, TAGG
    rc = reverse_complement_ids(ids, None, complement)
    assert rc.tolist() == [[9, 7, 7, 8], [6, 6, 8, 5]]  # NGGT, CCTA
    assert torch.equal(rc, reverse_complement_ids(ids, torch.ones(2, 4, dtype=torch.bool), complement))
