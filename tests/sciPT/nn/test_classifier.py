"""The classifier head (sciPT.nn.classifier): pooling shapes, a hand-computed conv logit, position
handling, padding, the token channels."""

import pytest
import torch

from sciPT.nn.classifier import ClassifierHead, HeadConfig
from sciPT.testing import modules_loaded_by


def _head(**kw) -> ClassifierHead:
    torch.manual_seed(0)
    return ClassifierHead(HeadConfig(dropout=0.0, **kw), hidden_size=3, length=12).eval()


def test_conv_features_follow_the_pool_width():
    head = _head(pooling="conv", filters=5, kernel=4, pool=3)
    assert head.net[-1].in_features == 5 * ((12 - 4 + 1) // 3)
    assert _head(pooling="conv", filters=5, kernel=4, pool=0).net[-1].in_features == 5
    # a kernel wider than the input shrinks to it rather than failing
    assert _head(pooling="conv", filters=5, kernel=40, pool=0).conv.kernel_size == (12,)


def test_conv_logit_by_hand():
    head = _head(pooling="conv", filters=1, kernel=2, pool=0)
    with torch.no_grad():
        head.conv.weight.copy_(torch.tensor([[[1.0, 0.0], [0.0, 2.0], [0.0, 0.0]]]))  # [F, D, k]
        head.conv.bias.fill_(-1.0)
        head.net[-1].weight.fill_(3.0)
        head.net[-1].bias.fill_(0.5)
    hidden = torch.zeros(1, 12, 3)
    hidden[0, 5, 0], hidden[0, 6, 1] = 2.0, 1.5  # window at 5: 1*2 + 2*1.5 - 1 = 4
    mask = torch.ones(1, 12, dtype=torch.bool)
    assert head(hidden, mask).item() == pytest.approx(3.0 * 4.0 + 0.5)


def test_global_max_is_position_free_and_windows_are_not():
    motif = torch.randn(3, 3)
    a, b = torch.zeros(1, 12, 3), torch.zeros(1, 12, 3)
    a[0, 1:4], b[0, 7:10] = motif, motif
    mask = torch.ones(1, 12, dtype=torch.bool)
    free = _head(pooling="conv", filters=4, kernel=3, pool=0)
    assert torch.equal(free(a, mask), free(b, mask))
    placed = _head(pooling="conv", filters=4, kernel=3, pool=2)
    assert not torch.allclose(placed(a, mask), placed(b, mask))


@pytest.mark.parametrize("pooling", ["flatten", "conv"])
def test_short_inputs_equal_their_zero_padded_form(pooling):
    head = _head(pooling=pooling, filters=4, kernel=3, pool=2)
    short = torch.randn(2, 7, 3)
    padded = torch.cat([short, torch.randn(2, 5, 3)], 1)  # junk past the mask must not count
    mask = torch.zeros(2, 12, dtype=torch.bool)
    mask[:, :7] = True
    assert torch.allclose(head(short, mask[:, :7]), head(padded, mask))


def test_tokens_beside_the_hidden_states_by_hand():
    torch.manual_seed(0)
    head = ClassifierHead(HeadConfig(pooling="mean", dropout=0.0, tokens=True), 3, 12, vocab_size=7).eval()
    assert head.net[-1].in_features == 3 + 7
    with torch.no_grad():
        head.net[-1].weight.copy_(torch.tensor([[1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2.0, -4.0]]))
        head.net[-1].bias.fill_(0.5)
    ids = torch.tensor([[5, 6, 5, 5, 0]])  # tokens 5 5 5 6, then padding
    mask = ids != 0
    hidden = torch.zeros(1, 5, 3)
    hidden[0, :4, 0] = 1.0
    # mean over the 4 real positions: hidden channel 0 -> 1, token 5 -> 3/4, token 6 -> 1/4
    assert head(hidden, mask, ids).item() == pytest.approx(1.0 + 2.0 * 0.75 - 4.0 * 0.25 + 0.5)


def test_tokens_refusals():
    from sciPT.errors import ConfigError

    with pytest.raises(ConfigError) as err:
        ClassifierHead(HeadConfig(tokens=True), 3, 12)
    assert (
        str(err.value) == "head.tokens: the head reads the input tokens; it needs the tokenizer's vocabulary"
    )
    with pytest.raises(ConfigError) as err:
        ClassifierHead(HeadConfig(tokens=True), 3, 12, strand_invariant=True, vocab_size=7)
    assert str(err.value) == "head.tokens: a strand-invariant head needs each token's complement"
    head = ClassifierHead(HeadConfig(tokens=True), 3, 12, vocab_size=7)
    with pytest.raises(ValueError) as err:
        head(torch.zeros(1, 12, 3), torch.ones(1, 12, dtype=torch.bool))
    assert str(err.value) == "head.tokens: the head reads the input tokens; pass input_ids"


def test_composition_is_the_mean_over_real_tokens_beside_the_pooled_map():
    head = _head(pooling="conv", filters=4, kernel=3, pool=2, composition=True)
    assert head.net[-1].in_features == 4 * ((12 - 3 + 1) // 2) + 3
    hidden = torch.randn(2, 12, 3)
    mask = torch.zeros(2, 12, dtype=torch.bool)
    mask[0, :12], mask[1, :5] = True, True
    features = head.pooled(hidden, mask)
    plain = _head(pooling="conv", filters=4, kernel=3, pool=2)  # same seed: the same conv weights
    assert torch.equal(features[:, :-3], plain.pooled(hidden, mask))
    assert torch.allclose(features[0, -3:], hidden[0].mean(0))
    assert torch.allclose(features[1, -3:], hidden[1, :5].mean(0))  # padding does not count
    # position-free: the composition part is the same for any order of the real tokens
    shuffled = hidden[:, torch.randperm(12)]
    assert torch.allclose(
        head.pooled(shuffled, torch.ones(2, 12, dtype=torch.bool))[0, -3:], features[0, -3:]
    )


def test_composition_refused_with_mean_pooling():
    from sciPT.errors import ConfigError

    with pytest.raises(ConfigError) as err:
        _head(pooling="mean", composition=True)
    assert str(err.value) == (
        "head.composition: adds the mean over positions to a positional pooling ('conv' or "
        "'flatten'); 'mean' pooling is that mean already"
    )


@pytest.mark.parametrize(
    "vocab, length, composition, pool", [(69, 57, True, 4), (4107, 24, False, 4), (9, 12, False, 0)]
)
def test_the_token_channels_are_the_convolution_of_the_one_hot_tokens(vocab, length, composition, pool):
    """The head computes the one-hot channels as a sum of weight columns; it must equal the plain
    convolution over ``[hidden; one-hot]`` (masked, cut or zero-padded to ``length``)."""
    from torch import nn

    torch.manual_seed(0)
    cfg = HeadConfig(pooling="conv", tokens=True, composition=composition, pool=pool, dropout=0.0)
    head = ClassifierHead(cfg, 16, length, vocab_size=vocab).eval()
    hidden, ids = torch.randn(3, 40, 16), torch.randint(5, vocab, (3, 40))
    mask = torch.ones(3, 40, dtype=torch.bool)
    mask[1, 20:], mask[2, 7:] = False, False
    full = torch.cat([hidden, nn.functional.one_hot(ids, vocab).float()], -1) * mask.unsqueeze(-1)
    h = full[:, :length]
    h = nn.functional.pad(h, (0, 0, 0, length - h.shape[1])) if h.shape[1] < length else h
    motifs = torch.relu(head.conv(h.transpose(1, 2)))
    pooled = nn.functional.max_pool1d(motifs, pool).flatten(1) if pool else motifs.amax(-1)
    if composition:
        pooled = torch.cat([pooled, full.sum(1) / mask.sum(1, keepdim=True)], -1)
    expected = head.net(pooled).squeeze(-1)
    torch.testing.assert_close(head(hidden, mask, ids), expected, rtol=0, atol=1e-6)


def test_the_model_code_imports_no_trainer():
    # an exported classifier is model code: loading it must not need Lightning or the fine-tuning loop
    watched = ("lightning", "sciPT.trainer", "sciPT.finetune", "sciPT.classification")
    assert modules_loaded_by("sciPT.nn.classifier", watched) == []


def test_dropout_drops_the_configured_fraction_of_features_in_training_only():
    # the head's only regulariser on a small labelled set: its rate must be the configured one, and a
    # model in eval mode must give the same logit every call
    d = 4000
    head = ClassifierHead(HeadConfig(pooling="mean", dropout=0.5), hidden_size=d, length=12)
    with torch.no_grad():
        head.net[-1].weight.fill_(1.0)
        head.net[-1].bias.zero_()
    hidden, mask = torch.ones(1, 12, d), torch.ones(1, 12, dtype=torch.bool)
    torch.manual_seed(0)
    kept = head.train()(hidden, mask).item() / 2.0  # a kept feature is scaled by 1 / (1 - 0.5)
    assert kept / d == pytest.approx(0.5, abs=0.05)
    assert head.eval()(hidden, mask).item() == pytest.approx(d)


def test_the_default_head_uses_dropout():
    # a user who leaves head.dropout unset still gets a regularised head (stochastic in training)
    torch.manual_seed(0)
    head = ClassifierHead(HeadConfig(), hidden_size=64, length=12).train()
    hidden, mask = torch.randn(2, 12, 64), torch.ones(2, 12, dtype=torch.bool)
    assert not torch.equal(head(hidden, mask), head(hidden, mask))
    head.eval()
    assert torch.equal(head(hidden, mask), head(hidden, mask))


def test_a_dropout_of_one_is_refused():
    # dropout 1 zeroes every feature: the head would train on nothing and predict a constant
    from sciPT.errors import ConfigError

    with pytest.raises(ConfigError) as err:
        HeadConfig(dropout=1.0)
    assert str(err.value) == "head.dropout: expected a probability in [0, 1), got 1.0"
    assert HeadConfig(dropout=0.0).dropout == 0.0


def test_mlp_head_by_hand():
    # head.hidden > 0 promises a one-hidden-layer MLP (GELU between the layers), not a second linear map
    import math

    torch.manual_seed(0)
    head = ClassifierHead(HeadConfig(pooling="mean", hidden=2, dropout=0.0), hidden_size=2, length=12).eval()
    with torch.no_grad():
        head.net[1].weight.copy_(torch.eye(2))
        head.net[1].bias.zero_()
        head.net[-1].weight.fill_(1.0)
        head.net[-1].bias.fill_(0.25)
    hidden = torch.tensor([[[-3.0, 2.0], [-3.0, 2.0], [9.0, 9.0]]])  # third position is padding
    mask = torch.tensor([[True, True, False]])

    def gelu(x):
        return x * 0.5 * (1 + math.erf(x / math.sqrt(2)))

    assert head(hidden, mask).item() == pytest.approx(gelu(-3.0) + gelu(2.0) + 0.25, rel=1e-6)
