"""Masked modelling: corruption statistics, spans, reproducibility, loss at init, sparse head."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from sciPT.errors import ConfigError
from sciPT.nn import TransformerConfig, TransformerEncoder
from sciPT.objectives import MaskedConfig, MaskedLM

PAD, CLS, SEP, MASK = 0, 1, 2, 3
NORMAL = range(5, 69)
VOCAB = 69


def objective(hidden_size=16, **cfg) -> MaskedLM:
    return MaskedLM(
        MaskedConfig(**cfg),
        hidden_size,
        VOCAB,
        mask_id=MASK,
        pad_id=PAD,
        special_ids=[CLS, SEP, 4],
        normal_ids=NORMAL,
    )


def batch(B=64, L=256, seed=0):
    """``[CLS] x ... x [SEP] [PAD]...``: rows of varied length, normal tokens inside."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, VOCAB, (B, L), generator=g)
    lengths = torch.randint(L // 2, L + 1, (B,), generator=g)
    lengths[0] = L
    pos = torch.arange(L)
    ids[:, 0] = CLS
    ids[torch.arange(B), lengths - 1] = SEP
    mask = pos[None, :] < lengths[:, None]
    ids[~mask] = PAD
    return ids, mask


def runs(row: torch.Tensor) -> list[tuple[int, int]]:
    """``(start, length)`` of every maximal run of True in a 1-D bool tensor."""
    out, start = [], None
    for i, v in enumerate(row.tolist() + [False]):
        if v and start is None:
            start = i
        elif not v and start is not None:
            out.append((start, i - start))
            start = None
    return out


def test_corruption_statistics():
    ids, mask = batch()
    mlm = objective()
    corrupted, targets = mlm.corrupt(ids, mask, torch.Generator().manual_seed(0))
    selected = targets != -100
    maskable = mask & (ids >= 5)
    # Exactly round(0.15 * n) selected per sequence (BERT's per-sequence count).
    expected = torch.round(maskable.sum(1) * 0.15).long()
    assert torch.equal(selected.sum(1), expected)
    # Specials and padding are never selected, and never altered.
    assert not (selected & ~maskable).any()
    assert torch.equal(corrupted[~selected], ids[~selected])
    assert torch.equal(targets[selected], ids[selected])
    n = int(selected.sum())
    masked = (corrupted == MASK) & selected
    changed = selected & (corrupted != MASK) & (corrupted != ids)
    kept = selected & (corrupted == ids)
    # 80/10/10 within ~4 standard deviations (n is about 2900).
    assert masked.sum() / n == pytest.approx(0.8, abs=0.03)
    assert changed.sum() / n == pytest.approx(0.1 * (1 - 1 / len(NORMAL)), abs=0.025)
    assert kept.sum() / n == pytest.approx(0.1 + 0.1 / len(NORMAL), abs=0.025)
    assert set(corrupted[changed].tolist()) <= set(NORMAL)


def test_random_replacements_come_from_normal_ids_only():
    ids, mask = batch(B=16)
    mlm = MaskedLM(
        MaskedConfig(mask_prob=0.0, random_prob=1.0),
        16,
        VOCAB,
        mask_id=MASK,
        pad_id=PAD,
        special_ids=[CLS, SEP],
        normal_ids=[7, 8],
    )
    corrupted, targets = mlm.corrupt(ids, mask, torch.Generator().manual_seed(1))
    assert set(corrupted[targets != -100].tolist()) == {7, 8}


@pytest.mark.parametrize("span", [3, 6])
def test_span_masking_selects_whole_spans(span):
    ids, mask = batch(B=32)
    mlm = objective(span=span)
    corrupted, targets = mlm.corrupt(ids, mask, torch.Generator().manual_seed(3))
    selected = targets != -100
    maskable = mask & (ids >= 5)
    assert not (selected & ~maskable).any()
    expected = torch.round(maskable.sum(1) * 0.15 / span).long() * span
    assert torch.equal(selected.sum(1), expected)
    lengths = []
    for b in range(ids.shape[0]):
        for start, length in runs(selected[b]):
            lengths.append(length)
            assert length % span == 0
            # One 80/10/10 decision per span: a span is all [MASK] or has none.
            for s in range(start, start + length, span):
                is_mask = (corrupted[b, s : s + span] == MASK).tolist()
                assert all(is_mask) or not any(is_mask)
    assert min(lengths) == span
    assert selected.sum() / maskable.sum() == pytest.approx(0.15, abs=0.01)


@pytest.mark.parametrize("maskable_tokens", [6, 7, 8, 9, 10, 11])
def test_a_short_sequence_with_a_span_of_maskable_tokens_always_has_one_target(maskable_tokens):
    # [CLS] + n maskable + [SEP]: with s = 6 and n = 7 the blocks of 4 phases in 6 hold no run of
    # 6 (a run of 6 at phase p needs a block inside positions 1..7); each row still gets one span,
    # 6 tokens (round(n * 0.15 / 6) = 0, at least 1), and the rest of the row stays untouched
    ids = torch.full((500, maskable_tokens + 2), 7)
    ids[:, 0], ids[:, -1] = CLS, SEP
    mask = torch.ones_like(ids, dtype=torch.bool)
    _, targets = objective(span=6).corrupt(ids, mask, torch.Generator().manual_seed(0))
    selected = targets != -100
    assert torch.equal(selected.sum(1), torch.full((500,), 6))
    assert not selected[:, [0, -1]].any()
    assert all(len(runs(row)) == 1 for row in selected)


def test_generator_makes_corruption_reproducible():
    ids, mask = batch(B=8)
    mlm = objective(span=2)
    a = mlm.corrupt(ids, mask, torch.Generator().manual_seed(7))
    b = mlm.corrupt(ids, mask, torch.Generator().manual_seed(7))
    c = mlm.corrupt(ids, mask, torch.Generator().manual_seed(8))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[1], c[1])


def test_loss_at_init_is_log_vocab():
    # Logits at init have variance 0.02^2 * hidden_size (decoder std 0.02, LayerNorm output of
    # unit variance), so the expected cross-entropy is about ln V + var/2 = ln 69 + 0.0026.
    torch.manual_seed(0)
    encoder = TransformerEncoder(
        TransformerConfig(vocab_size=VOCAB, d_model=16, n_layers=1, n_heads=2, d_ff=32, pad_id=PAD)
    )
    ids, mask = batch(B=16, L=64)
    loss, metrics = objective()(
        encoder, {"input_ids": ids, "attention_mask": mask}, torch.Generator().manual_seed(0)
    )
    loss = loss.detach()
    assert float(loss) == pytest.approx(math.log(VOCAB), abs=0.03)
    assert float(metrics["perplexity"]) == pytest.approx(math.exp(float(loss)), rel=1e-6)
    assert 0.0 <= float(metrics["accuracy"]) <= 1.0
    # a validation epoch weighs this batch by the tokens it masked: those the same seed selects
    mlm = objective()
    mlm(encoder, {"input_ids": ids, "attention_mask": mask}, torch.Generator().manual_seed(0))
    _, targets = mlm.corrupt(ids, mask, torch.Generator().manual_seed(0))
    n = int((targets != -100).sum())
    assert n > 0 and mlm.metric_counts(None) == {"loss": n, "accuracy": n, "perplexity": n}


class LeafBackbone(nn.Module):
    """Returns fixed hidden states (a leaf tensor) so their gradient can be inspected."""

    def __init__(self, hidden):
        super().__init__()
        self.hidden = hidden

    def forward(self, input_ids, attention_mask=None):
        return self.hidden


def test_head_touches_only_selected_positions():
    ids, mask = batch(B=4, L=32)
    hidden = torch.randn(4, 32, 16, requires_grad=True)
    mlm = objective()
    loss, _ = mlm(
        LeafBackbone(hidden), {"input_ids": ids, "attention_mask": mask}, torch.Generator().manual_seed(0)
    )
    loss.backward()
    _, targets = mlm.corrupt(ids, mask, torch.Generator().manual_seed(0))
    selected = targets != -100
    touched = hidden.grad.abs().sum(-1) > 0
    assert torch.equal(touched, selected)


def test_subset_forward_gives_the_same_loss_and_gradients():
    torch.manual_seed(0)
    encoder = TransformerEncoder(
        TransformerConfig(vocab_size=VOCAB, d_model=16, n_layers=2, n_heads=2, d_ff=32, pad_id=PAD)
    ).double()
    mlm = objective().double()
    ids, mask = batch(B=4, L=32)
    data = {"input_ids": ids, "attention_mask": mask}

    class Full(nn.Module):  # the same encoder without the supports_select fast path
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask=None):
            return self.inner(input_ids, attention_mask)

    results = []
    for backbone in (encoder, Full(encoder)):
        encoder.zero_grad()
        loss, _ = mlm(backbone, data, torch.Generator().manual_seed(5))
        loss.backward()
        results.append((loss.detach(), [p.grad.clone() for p in encoder.parameters()]))
    torch.testing.assert_close(results[0][0], results[1][0])
    for g_subset, g_full in zip(results[0][1], results[1][1]):
        torch.testing.assert_close(g_subset, g_full)


def test_config_errors_name_the_key():
    with pytest.raises(ConfigError) as err:
        MaskedConfig(mask_prob=0.8, random_prob=0.3)
    assert str(err.value) == (
        "objective.masked.mask_prob + objective.masked.random_prob: expected at most 1, got 1.1"
    )
    with pytest.raises(ConfigError) as err:
        MaskedConfig(mask_ratio=0.0)
    assert str(err.value) == "objective.masked.mask_ratio: expected a value in (0, 1), got 0.0"
    with pytest.raises(ConfigError) as err:
        MaskedConfig(span=0)
    assert str(err.value) == "objective.masked.span: expected a positive integer, got 0"


def test_positions_outside_the_attention_mask_are_never_selected_whatever_their_token():
    # a collator may fill padding with any token: the mask alone must keep it out of the loss
    ids = torch.randint(5, VOCAB, (200, 20), generator=torch.Generator().manual_seed(0))
    mask = torch.ones_like(ids, dtype=torch.bool)
    mask[:, 10:] = False
    corrupted, targets = objective(mask_ratio=0.5).corrupt(ids, mask, torch.Generator().manual_seed(0))
    assert (targets[:, :10] != -100).any()
    assert (targets[:, 10:] == -100).all()
    assert torch.equal(corrupted[:, 10:], ids[:, 10:])


def test_padding_is_never_selected_without_an_attention_mask():
    # corrupt(ids) alone must find the padding from pad_id (it is not among special_ids here)
    ids = torch.randint(5, VOCAB, (200, 20), generator=torch.Generator().manual_seed(0))
    ids[:, 12:] = PAD
    mlm = MaskedLM(MaskedConfig(mask_ratio=0.5), 16, VOCAB, MASK, PAD, [CLS, SEP], NORMAL)
    corrupted, targets = mlm.corrupt(ids, None, torch.Generator().manual_seed(0))
    assert (targets[:, :12] != -100).any()
    assert (targets[:, 12:] == -100).all()
    assert torch.equal(corrupted[:, 12:], ids[:, 12:])


def test_span_blocks_start_at_every_phase():
    # the block grid is shifted by a random phase per sequence: with a fixed grid, spans would always
    # start at multiples of s, and a k-mer model would see the same span boundaries in every epoch
    ids = torch.randint(5, VOCAB, (300, 40), generator=torch.Generator().manual_seed(0))
    mask = torch.ones_like(ids, dtype=torch.bool)
    _, targets = objective(span=3).corrupt(ids, mask, torch.Generator().manual_seed(0))
    starts = {start % 3 for row in targets != -100 for start, _ in runs(row)}
    assert starts == {0, 1, 2}


def test_config_bounds_are_exclusive_for_the_ratio_and_inclusive_for_the_probabilities():
    # masking every token leaves no context to predict from: a ratio of 1 is refused, while the
    # 100 % [MASK] corruption (mask_prob=1, random_prob=0) is a legitimate choice
    with pytest.raises(ConfigError) as err:
        MaskedConfig(mask_ratio=1.0)
    assert str(err.value) == "objective.masked.mask_ratio: expected a value in (0, 1), got 1.0"
    MaskedConfig(mask_ratio=0.99, mask_prob=1.0, random_prob=0.0)
    MaskedConfig(mask_prob=0.0, random_prob=1.0)
    with pytest.raises(ConfigError) as err:
        MaskedConfig(random_prob=-0.1)
    assert str(err.value) == "objective.masked.random_prob: expected a value in [0, 1], got -0.1"


def test_the_backbone_reads_the_corrupted_input():
    # a backbone shown the original tokens would learn to copy its input: the loss would fall to
    # zero and the model learn nothing
    seen = {}

    class Spy(nn.Module):
        def forward(self, input_ids, attention_mask=None):
            seen["ids"] = input_ids
            return torch.zeros(*input_ids.shape, 16)

    ids, mask = batch(B=4, L=32)
    mlm = objective()
    mlm(Spy(), {"input_ids": ids, "attention_mask": mask}, torch.Generator().manual_seed(0))
    corrupted, targets = mlm.corrupt(ids, mask, torch.Generator().manual_seed(0))
    assert torch.equal(seen["ids"], corrupted)
    assert (seen["ids"][targets != -100] == MASK).any()


def test_a_row_exactly_one_span_long_is_always_its_own_target():
    # 6 maskable tokens and s = 6 (no [CLS]/[SEP]): whatever phase is drawn, the row gets its span
    ids = torch.full((300, 6), 7)
    mask = torch.ones_like(ids, dtype=torch.bool)
    _, targets = objective(span=6).corrupt(ids, mask, torch.Generator().manual_seed(0))
    assert (targets == 7).all()


def test_a_mask_token_already_in_the_input_is_never_a_target():
    # [MASK] is never a prediction target: a model would learn to predict [MASK] itself
    ids = torch.randint(5, VOCAB, (200, 20), generator=torch.Generator().manual_seed(0))
    ids[:, ::2] = MASK
    mlm = MaskedLM(MaskedConfig(mask_ratio=0.5), 16, VOCAB, MASK, PAD, [CLS, SEP], NORMAL)
    _, targets = mlm.corrupt(ids, torch.ones_like(ids, dtype=torch.bool), torch.Generator().manual_seed(0))
    assert (targets[:, 1::2] != -100).any()
    assert (targets[:, ::2] == -100).all()


def test_the_loss_is_the_mean_cross_entropy_and_accuracy_the_share_predicted():
    # logits given as logs of odds, so each probability is read off by hand: row 0 gives its target
    # 2/4, row 1 gives 1/4, row 2 gives 2/4; the loss is (ln 2 + ln 4 + ln 2) / 3 = 4/3 ln 2 (no
    # smoothing, no sum), and rows 0 and 2 are predicted (their target has the largest logit)
    from sciPT.objectives.masked import token_loss

    logits = torch.tensor([[1.0, 2.0, 1.0], [1.0, 1.0, 2.0], [1.0, 1.0, 2.0]]).log()
    loss, metrics = token_loss(nn.Identity(), logits, torch.tensor([1, 0, 2]))
    assert float(loss) == pytest.approx(4 / 3 * math.log(2), rel=1e-6)
    assert float(metrics["accuracy"]) == pytest.approx(2 / 3)
    assert float(metrics["perplexity"]) == pytest.approx(2 ** (4 / 3), rel=1e-6)


def test_a_batch_without_maskable_tokens_gives_a_zero_loss_that_still_backpropagates():
    # every row [CLS] [SEP] [PAD]...: nothing to predict. The loss is 0, not nan, and backward
    # still runs through the head (DDP ranks stay in step), with no metrics and no tokens counted
    ids = torch.full((3, 8), PAD)
    ids[:, 0], ids[:, 1] = CLS, SEP
    mask = ids != PAD
    hidden = torch.randn(3, 8, 16, requires_grad=True)
    mlm = objective()
    loss, metrics = mlm(LeafBackbone(hidden), {"input_ids": ids, "attention_mask": mask})
    assert float(loss.detach()) == 0.0 and metrics == {}
    loss.backward()
    assert all(p.grad is not None and not p.grad.any() for p in mlm.head.parameters())
    assert mlm.metric_counts(None) == {"loss": 0, "accuracy": 0, "perplexity": 0}


def test_the_head_is_dense_gelu_layernorm_decoder_with_its_epsilon():
    # BERT's order (exported as such, sciPT.export): a swapped GELU and LayerNorm, or an epsilon
    # other than the one asked for (sciPT.naturalness passes the checkpoint's), change every logit.
    # The LayerNorm is written out by hand; eps = 0.5 is large enough to matter.
    from sciPT.objectives.masked import LMHead

    torch.manual_seed(0)
    head = LMHead(8, 5, eps=0.5).double()
    with torch.no_grad():
        for p in head.parameters():
            p.normal_()
    h = torch.randn(4, 8, dtype=torch.double)
    x = h @ head.dense.weight.T + head.dense.bias
    g = 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))
    mean, var = g.mean(-1, keepdim=True), g.var(-1, unbiased=False, keepdim=True)
    n = (g - mean) / torch.sqrt(var + 0.5) * head.norm.weight + head.norm.bias
    torch.testing.assert_close(head(h), n @ head.decoder.weight.T + head.decoder.bias)
    fresh = LMHead(8, 5)
    assert not fresh.dense.bias.any() and not fresh.decoder.bias.any()


def test_masked_lm_needs_a_token_to_draw_replacements_from():
    with pytest.raises(ValueError) as err:
        MaskedLM(MaskedConfig(), 16, VOCAB, MASK, PAD, [CLS, SEP], normal_ids=[])
    assert str(err.value) == "MaskedLM needs at least one normal token for random replacement"


def test_a_token_that_is_neither_special_nor_a_replacement_choice_is_still_a_target():
    # normal_ids are only what random replacements are drawn from: a token outside them (an
    # ambiguous base's k-mer, say) is maskable like any other that is not special or padding
    ids = torch.full((50, 20), 20)
    mlm = MaskedLM(MaskedConfig(mask_ratio=0.5), 16, VOCAB, MASK, PAD, [CLS, SEP], normal_ids=[7, 8])
    _, targets = mlm.corrupt(ids, torch.ones_like(ids, dtype=torch.bool), torch.Generator().manual_seed(0))
    assert torch.equal((targets != -100).sum(1), torch.full((50,), 10))


def test_the_backbone_is_given_the_attention_mask():
    # without it the encoder would attend to the padding of the shorter rows
    seen = {}

    class Spy(nn.Module):
        def forward(self, input_ids, attention_mask=None):
            seen["mask"] = attention_mask
            return torch.zeros(*input_ids.shape, 16)

    ids, mask = batch(B=4, L=32)
    objective()(Spy(), {"input_ids": ids, "attention_mask": mask}, torch.Generator().manual_seed(0))
    assert seen["mask"] is not None and torch.equal(seen["mask"], mask)
