import numpy as np
import pytest
import torch

from sciPT.adaptation import AdaptConfig, adapt_encoder
from sciPT.domains.dna.data import DNA_SPEC
from sciPT.domains.dna.tokenizer import dna_tokenizer
from sciPT.nn import TransformerConfig, TransformerEncoder
from sciPT.objectives.masked import LMHead
from sciPT.sequence_config import TokenizerConfig

COMPLEMENT = DNA_SPEC.complement_codes()


def _start(k: int = 3):
    torch.manual_seed(0)
    tokenizer = dna_tokenizer(TokenizerConfig(kind="kmer", k=k) if k > 1 else TokenizerConfig(kind="residue"))
    cfg = TransformerConfig(
        vocab_size=tokenizer.vocab_size,
        pad_id=tokenizer.pad_id,
        d_model=16,
        n_layers=1,
        n_heads=2,
        d_ff=32,
        max_len=64,
    )
    head = LMHead(16, tokenizer.vocab_size)
    extras = {f"mlm_head.{name}": t.clone() for name, t in head.state_dict().items()}
    return TransformerEncoder(cfg), extras, tokenizer


def _codes(n: int, length: int = 40, seed: int = 1) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 4, length).astype(np.uint8) for _ in range(n)]


@pytest.mark.parametrize("k", [1, 3])
def test_the_masked_loss_falls_on_the_sequences_it_adapts_to(k):
    backbone, extras, tokenizer = _start(k)
    codes = _codes(4)
    losses = adapt_encoder(
        backbone, extras, tokenizer, codes, tokenizer.n_tokens(40), AdaptConfig(steps=300, lr=3e-3), 0
    )
    assert len(losses) == 300
    # four sequences drawn again and again: the encoder learns them, from about ln V (a guess over
    # the vocabulary) to well below it
    assert np.mean(losses[:10]) > np.log(tokenizer.vocab_size) - 0.1
    assert np.mean(losses[-10:]) < 0.6 * np.mean(losses[:10])
    assert not backbone.training


def test_the_same_seed_adapts_to_the_same_weights_and_only_the_encoder_changes():
    states = []
    for _ in range(2):
        backbone, extras, tokenizer = _start()
        before = {k: v.clone() for k, v in extras.items()}
        adapt_encoder(
            backbone,
            extras,
            tokenizer,
            _codes(8),
            tokenizer.n_tokens(40),
            AdaptConfig(steps=5),
            3,
            COMPLEMENT,
        )
        states.append(backbone.state_dict())
        # the pre-trained head in the start's extras is left as it was (a fused likelihood reads it)
        assert all(torch.equal(before[k], extras[k]) for k in before)
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])
    fresh, _, _ = _start()
    assert any(not torch.equal(states[0][k], v) for k, v in fresh.state_dict().items())


def test_both_strands_are_drawn_with_a_complement_table(monkeypatch):
    backbone, extras, tokenizer = _start(k=1)
    seen = []
    batch = tokenizer.batch

    def spy(codes, max_tokens=None):
        seen.extend(bytes(c) for c in codes)
        return batch(codes, max_tokens)

    monkeypatch.setattr(tokenizer, "batch", spy)
    codes = _codes(1)
    adapt_encoder(backbone, extras, tokenizer, codes, 40, AdaptConfig(steps=4, batch_size=8), 0, COMPLEMENT)
    reverse = bytes(COMPLEMENT[codes[0][::-1]])
    assert set(seen) == {bytes(codes[0]), reverse}
    seen.clear()
    adapt_encoder(backbone, extras, tokenizer, codes, 40, AdaptConfig(steps=4, batch_size=8), 0)
    assert set(seen) == {bytes(codes[0])}


def test_a_start_without_a_masked_head_is_refused():
    backbone, _, tokenizer = _start()
    with pytest.raises(ValueError) as error:
        adapt_encoder(backbone, {}, tokenizer, _codes(2), 38, AdaptConfig(steps=1), 0)
    assert str(error.value) == "task-adaptive pre-training needs the start's masked-model head (mlm_head.*)"
