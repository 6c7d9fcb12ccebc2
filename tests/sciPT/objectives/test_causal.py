"""Causal modelling: targets, padding, causal backbone call, loss at init, learning."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from sciPT.nn import TransformerConfig, TransformerEncoder
from sciPT.objectives import CausalConfig, CausalLM

PAD, VOCAB = 0, 11


def encoder(seed=0, **overrides):
    torch.manual_seed(seed)
    kwargs = dict(vocab_size=VOCAB, d_model=32, n_layers=1, n_heads=2, d_ff=64, pad_id=PAD)
    kwargs.update(overrides)
    return TransformerEncoder(TransformerConfig(**kwargs))


def objective(hidden_size=32):
    return CausalLM(CausalConfig(), hidden_size, VOCAB, pad_id=PAD)


def test_targets_are_next_real_tokens():
    ids = torch.tensor([[5, 6, 7, 0, 0], [1, 2, 3, 4, 5]])
    mask = ids != PAD
    expected = torch.tensor([[6, 7, -100, -100, -100], [2, 3, 4, 5, -100]])
    assert torch.equal(objective().targets(ids, mask), expected)
    assert torch.equal(objective().targets(ids, None), expected)  # padding found from pad_id


def test_an_ignored_token_is_read_but_never_predicted():
    # 9 plays an unknown residue (N): the step predicting it has no target, the one after it has
    ids = torch.tensor([[5, 9, 9, 6, 0]])
    ignoring = CausalLM(CausalConfig(), 32, VOCAB, pad_id=PAD, ignore_ids=[9])
    assert torch.equal(ignoring.targets(ids, ids != PAD), torch.tensor([[-100, -100, 6, -100, -100]]))


def test_the_sequence_domains_never_score_an_unknown_residue():
    from sciPT.domains.dna import domain as dna
    from sciPT.sequence_config import ObjectiveConfig
    from sciPT.tokenizers import SequenceTokenizer

    tokenizer = SequenceTokenizer(dna.spec.alphabet)
    n = int(tokenizer.encode("N")[0])
    causal = dna.build_objective(ObjectiveConfig(kind="causal"), tokenizer, 32)
    assert sorted(causal.ignore_ids.tolist()) == [tokenizer.unk_id, n]
    masked = dna.build_objective(ObjectiveConfig(), tokenizer, 32)
    assert n in masked.special_ids.tolist()


def test_backbone_is_called_causally():
    seen = {}

    class Spy(nn.Module):
        def forward(self, input_ids, attention_mask=None, causal=False):
            seen["causal"] = causal
            return torch.zeros(*input_ids.shape, 32)

    objective()(Spy(), {"input_ids": torch.tensor([[1, 2, 3]])})
    assert seen["causal"] is True


def test_padding_is_ignored():
    # The loss of a padded batch is the token-weighted mean of the losses of its sequences alone.
    net, lm = encoder(), objective()
    a = torch.tensor([[1, 4, 2, 8, 5, 7, 3]])
    b = torch.tensor([[9, 3, 6, 1]])
    padded = torch.cat([b, torch.full((1, 3), PAD)], dim=1)
    both = {"input_ids": torch.cat([a, padded]), "attention_mask": torch.cat([a, padded]) != PAD}
    loss_both, _ = lm(net, both)
    loss_a, _ = lm(net, {"input_ids": a})
    loss_b, _ = lm(net, {"input_ids": b})
    expected = (6 * loss_a + 3 * loss_b) / 9
    torch.testing.assert_close(loss_both, expected, rtol=1e-5, atol=1e-6)


def test_loss_at_init_is_log_vocab():
    ids = torch.randint(1, VOCAB, (16, 40), generator=torch.Generator().manual_seed(0))
    loss, metrics = objective()(encoder(), {"input_ids": ids})
    # Logit variance at init 0.02^2 * 32: expected loss ln V + 0.0064.
    assert float(loss.detach()) == pytest.approx(math.log(VOCAB), abs=0.03)
    assert float(metrics["perplexity"]) == pytest.approx(math.exp(float(loss.detach())), rel=1e-6)


def test_no_target_gives_zero_loss_that_backpropagates():
    net, lm = encoder(), objective()
    loss, metrics = lm(net, {"input_ids": torch.tensor([[4], [5]])})
    loss.backward()
    assert float(loss.detach()) == 0.0 and metrics == {}
    # a validation epoch's means leave the batch out: it scored no token
    assert lm.metric_counts(None) == {"loss": 0, "accuracy": 0, "perplexity": 0}


def test_learns_a_periodic_sequence():
    # Period-3 sequences with a random start: after the first token the next token is
    # determined, so a working causal model drives the loss far below ln V.
    torch.manual_seed(0)
    net, lm = encoder(), objective()
    params = list(net.parameters()) + list(lm.parameters())
    opt = torch.optim.Adam(params, lr=3e-3)
    starts = torch.randint(0, 3, (16, 1))
    ids = 1 + (starts + torch.arange(12)) % 3
    for _ in range(60):
        opt.zero_grad()
        loss, metrics = lm(net, {"input_ids": ids})
        loss.backward()
        opt.step()
    assert float(loss.detach()) < 0.1 * math.log(VOCAB)
    assert float(metrics["accuracy"]) == 1.0


def test_a_padding_position_never_predicts_the_first_real_token():
    # left padding: the hidden state of a pad position has read nothing, so the first real token is
    # no target (it has no context); only real -> real steps count
    ids = torch.tensor([[0, 0, 5, 6, 7]])
    expected = torch.tensor([[-100, -100, 6, 7, -100]])
    assert torch.equal(objective().targets(ids, ids != PAD), expected)
    assert torch.equal(objective().targets(ids, None), expected)


def test_the_attention_mask_decides_what_is_real_whatever_the_token():
    # a batch whose padding holds ordinary tokens (or a mask cutting a row short): the mask wins
    ids = torch.tensor([[5, 6, 7, 8, 9]])
    mask = torch.tensor([[True, True, True, False, False]])
    assert torch.equal(objective().targets(ids, mask), torch.tensor([[6, 7, -100, -100, -100]]))


def test_left_padding_changes_no_loss():
    # the backbone must get the mask: with left padding, causal attention alone would let every real
    # token read the pad positions before it
    net, lm = encoder(), objective()
    b = torch.tensor([[9, 3, 6, 1, 4]])
    left = torch.cat([torch.full((1, 3), PAD), b], dim=1)
    loss_left, _ = lm(net, {"input_ids": left, "attention_mask": left != PAD})
    loss_b, _ = lm(net, {"input_ids": b})
    torch.testing.assert_close(loss_left, loss_b, rtol=1e-5, atol=1e-6)
