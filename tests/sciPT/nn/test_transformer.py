"""The shared transformer encoder: shapes, masking, relative positions, causality, layer groups."""

from __future__ import annotations

import math

import pytest
import torch

from sciPT.errors import ConfigError
from sciPT.nn import ALiBi, RotaryEmbedding, TransformerBlock, TransformerConfig, TransformerEncoder
from sciPT.nn import attention as attention_module
from sciPT.nn.position import alibi_slopes

PAD = 0
POSITIONS = ["rotary", "alibi"]


def make_encoder(position="rotary", seed=0, **overrides) -> TransformerEncoder:
    """A small encoder whose weights are perturbed away from the (near-identity) init, so that
    equalities between outputs are not satisfied trivially."""
    torch.manual_seed(seed)
    kwargs = dict(vocab_size=20, d_model=32, n_layers=2, n_heads=4, d_ff=64, position=position, pad_id=PAD)
    kwargs.update(overrides)
    encoder = TransformerEncoder(TransformerConfig(**kwargs)).double().eval()
    with torch.no_grad():
        for p in encoder.parameters():
            p.add_(0.2 * torch.randn_like(p))
    return encoder


def tokens(batch, length, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(1, 20, (batch, length), generator=g)


def test_output_shapes():
    encoder = make_encoder()
    ids = tokens(3, 11)
    assert encoder.hidden_size == 32
    assert encoder(ids).shape == (3, 11, 32)
    assert encoder(ids, causal=True).shape == (3, 11, 32)
    assert encoder.embed(ids).shape == (3, 32)


def test_swiglu_ffn_is_silu_gate_times_value():
    encoder = make_encoder(activation="swiglu")
    ffn = encoder.blocks[0].ffn
    assert ffn.up.weight.shape == (2 * 64, 32)
    x = torch.randn(2, 7, 32, dtype=ffn.up.weight.dtype)
    # Shazeer 2020: down(silu(x W_gate) * (x W_value)); the gate is the first half of `up`
    gate = x @ ffn.up.weight[:64].T + ffn.up.bias[:64]
    value = x @ ffn.up.weight[64:].T + ffn.up.bias[64:]
    expected = (gate * torch.sigmoid(gate) * value) @ ffn.down.weight.T + ffn.down.bias
    torch.testing.assert_close(ffn(x), expected, rtol=1e-5, atol=1e-6)
    assert encoder(tokens(2, 7)).shape == (2, 7, 32)


@pytest.mark.parametrize("position", POSITIONS)
@pytest.mark.parametrize("causal", [False, True])
def test_padding_does_not_change_real_positions(position, causal):
    encoder = make_encoder(position)
    ids = tokens(1, 9)
    alone = encoder(ids, causal=causal)
    padded_ids = torch.cat([ids, torch.full((1, 5), PAD)], dim=1)
    mask = padded_ids != PAD
    padded = encoder(padded_ids, mask, causal=causal)
    torch.testing.assert_close(padded[:, :9], alone, rtol=0, atol=1e-10)


@pytest.mark.parametrize("position", POSITIONS)
@pytest.mark.parametrize("causal", [False, True])
def test_only_relative_positions_matter(position, causal):
    # Left padding moves every real token 5 positions to the right; with relative position
    # encodings (and no absolute embedding) the outputs must not change.
    encoder = make_encoder(position)
    ids = tokens(1, 9)
    right = torch.cat([ids, torch.full((1, 5), PAD)], dim=1)
    left = torch.cat([torch.full((1, 5), PAD), ids], dim=1)
    out_right = encoder(right, right != PAD, causal=causal)[:, :9]
    out_left = encoder(left, left != PAD, causal=causal)[:, 5:]
    torch.testing.assert_close(out_left, out_right, rtol=0, atol=1e-10)


def test_rotary_scores_depend_on_offset_only():
    torch.manual_seed(0)
    rotary = RotaryEmbedding(16)
    q, k = torch.randn(2, 1, 1, 1, 16, dtype=torch.float64)

    def score(m, n):
        qm = rotary(q, positions=torch.tensor([[m]]))
        kn = rotary(k, positions=torch.tensor([[n]]))
        return float((qm * kn).sum())

    assert score(3, 7) == pytest.approx(score(103, 107), abs=1e-9)
    assert score(0, 5) == pytest.approx(score(40, 45), abs=1e-9)
    assert score(3, 7) != pytest.approx(score(3, 8), abs=1e-3)
    # Position 0 is the identity, and rotations preserve norms.
    torch.testing.assert_close(rotary(q, positions=torch.tensor([[0]])), q)
    assert rotary(q, positions=torch.tensor([[57]])).norm() == pytest.approx(float(q.norm()))


def test_fused_rotary_matches_reference_and_gradient():
    rotary = RotaryEmbedding(8)
    x = torch.randn(2, 5, 12, 8, dtype=torch.float64, requires_grad=True)
    reference = torch.cat([rotary(x[:, :, :8]), x[:, :, 8:]], dim=2)
    torch.testing.assert_close(rotary.rotate_qk(x, 4), reference)
    assert torch.autograd.gradcheck(lambda t: rotary.rotate_qk(t, 4), (x,))


def test_alibi_slopes_follow_the_paper():
    # Powers of two: 2^(-8/H), 2^(-16/H), ...; otherwise the closest power of two, then every
    # other slope of twice as many heads.
    assert alibi_slopes(8).tolist() == [2.0**-i for i in range(1, 9)]
    assert alibi_slopes(6).tolist() == [2**-2, 2**-4, 2**-6, 2**-8, 2**-1, 2**-3]


def test_alibi_bias_is_minus_slope_times_distance():
    bias = ALiBi(4)(6, torch.device("cpu"))
    slopes = alibi_slopes(4)
    for h in range(4):
        for i in range(6):
            for j in range(6):
                assert float(bias[0, h, i, j]) == pytest.approx(-float(slopes[h]) * abs(i - j))
    # Shift invariance: the bias depends on i - j only.
    torch.testing.assert_close(bias[0, :, 1:, 1:], bias[0, :, :-1, :-1])
    causal = ALiBi(4)(6, torch.device("cpu"), causal=True)
    assert torch.isinf(causal[0, :, 2, 3:]).all() and torch.isfinite(causal[0, :, 2, :3]).all()


@pytest.mark.parametrize("position", POSITIONS)
def test_causal_output_ignores_the_future(position):
    encoder = make_encoder(position)
    ids = tokens(2, 12)
    changed = ids.clone()
    changed[:, 7:] = (changed[:, 7:] % 19) + 1
    a, b = encoder(ids, causal=True), encoder(changed, causal=True)
    torch.testing.assert_close(a[:, :7], b[:, :7], rtol=0, atol=1e-12)
    assert (a[:, 7:] - b[:, 7:]).abs().max() > 1e-3
    # Without causal=True the past does see the change.
    assert (encoder(ids)[:, :7] - encoder(changed)[:, :7]).abs().max() > 1e-3


@pytest.mark.parametrize("position", POSITIONS)
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("padded", [False, True])
def test_select_equals_indexing_the_full_output(position, causal, padded):
    encoder = make_encoder(position)
    ids = tokens(3, 16)
    mask = torch.ones_like(ids, dtype=torch.bool)
    if padded:
        mask[1, 10:] = False
        ids[1, 10:] = PAD
    select = (torch.rand(3, 16, generator=torch.Generator().manual_seed(2)) < 0.3) & mask
    select[2] = False  # a row with nothing selected
    full = encoder(ids, mask, causal=causal)[select]
    subset = encoder(ids, mask, causal=causal, select=select)
    assert subset.shape == (int(select.sum()), 32)
    torch.testing.assert_close(subset, full, rtol=0, atol=1e-10)


def test_no_mask_reaches_sdpa_without_padding(monkeypatch):
    calls = []
    real_sdpa = attention_module.F.scaled_dot_product_attention

    def spy(q, k, v, attn_mask=None, is_causal=False, **kwargs):
        calls.append((attn_mask, is_causal))
        return real_sdpa(q, k, v, attn_mask=attn_mask, is_causal=is_causal, **kwargs)

    monkeypatch.setattr(attention_module.F, "scaled_dot_product_attention", spy)
    encoder = make_encoder("rotary")
    ids = tokens(2, 8)
    encoder(ids, torch.ones_like(ids, dtype=torch.bool))
    encoder(ids, causal=True)
    assert [(m is None, c) for m, c in calls] == [(True, False)] * 2 + [(True, True)] * 2
    calls.clear()
    mask = torch.ones_like(ids, dtype=torch.bool)
    mask[0, 6:] = False
    encoder(ids, mask)
    assert calls[0][0].shape == (2, 1, 1, 8) and calls[0][1] is False


@pytest.mark.parametrize("position", POSITIONS)
@pytest.mark.parametrize("causal", [False, True])
def test_fully_padded_rows_stay_finite(position, causal):
    encoder = make_encoder(position)
    ids = tokens(2, 6)
    mask = torch.ones_like(ids, dtype=torch.bool)
    mask[1] = False
    mask[0, :2] = False  # left padding: under causal attention position 0 has no real key
    out = encoder(ids, mask, causal=causal)
    assert torch.isfinite(out).all()


def test_embed_is_mean_over_real_tokens():
    encoder = make_encoder()
    ids = tokens(2, 8)
    ids[1, 5:] = PAD
    mask = ids != PAD
    hidden = encoder(ids, mask)
    expected = torch.stack([hidden[0].mean(0), hidden[1, :5].mean(0)])
    torch.testing.assert_close(encoder.embed(ids, mask), expected)
    torch.testing.assert_close(encoder.embed(ids), expected)  # mask derived from pad_id


def test_layer_groups_cover_every_parameter_once_in_order():
    encoder = make_encoder(n_layers=3)
    groups = encoder.layer_groups()
    assert list(groups[0]) == [encoder.embedding, encoder.embed_dropout] and groups[-1] is encoder.norm
    assert groups[1:-1] == list(encoder.blocks)
    owners = [id(p) for g in groups for p in g.parameters()]
    assert len(owners) == len(set(owners))
    assert set(owners) == {id(p) for p in encoder.parameters()}
    assert encoder.fsdp_wrap == {TransformerBlock}


def test_initialisation():
    torch.manual_seed(0)
    cfg = TransformerConfig(vocab_size=50, d_model=256, n_layers=8, n_heads=4, d_ff=1024, pad_id=3)
    encoder = TransformerEncoder(cfg).requires_grad_(False)
    assert float(encoder.blocks[0].attn.qkv.weight.std()) == pytest.approx(0.02, rel=0.02)
    residual = 0.02 / math.sqrt(2 * 8)
    assert float(encoder.blocks[0].attn.out.weight.std()) == pytest.approx(residual, rel=0.02)
    assert float(encoder.blocks[-1].ffn.down.weight.std()) == pytest.approx(residual, rel=0.02)
    assert encoder.embedding.weight[3].abs().max() == 0
    assert encoder.blocks[0].attn.qkv.bias.abs().max() == 0


def test_config_errors_name_the_key():
    with pytest.raises(ConfigError) as err:
        TransformerConfig(d_model=130, n_heads=4)
    assert str(err.value) == "model.d_model: 130 is not divisible by model.n_heads (4)"
    with pytest.raises(ConfigError) as err:
        TransformerConfig(d_model=12, n_heads=4)
    assert str(err.value) == ("model.d_model: rotary needs an even head size, got d_model/n_heads = 3")
    with pytest.raises(ConfigError) as err:
        TransformerConfig(vocab_size=10, pad_id=10)
    assert str(err.value) == "model.pad_id: 10 is outside the vocabulary [0, 10)"


def test_a_frozen_embedding_gives_the_same_output_every_pass():
    """Its dropout (no parameter, so in no group) stayed in train mode under freeze and gradual
    unfreezing: a frozen, 'fixed' feature extractor whose output changed on every pass."""
    from sciPT.finetune import Freeze, GradualUnfreezing

    encoder = make_encoder(n_layers=2, dropout=0.5)
    ids = torch.randint(0, encoder.cfg.vocab_size, (2, 12))
    for strategy in (Freeze(0), GradualUnfreezing(50)):
        encoder.train()
        strategy.setup(encoder)
        strategy.on_step(0, encoder)
        assert not encoder.embed_dropout.training
        first = encoder.embedding(ids)
        torch.testing.assert_close(encoder.embed_dropout(first), first)
    # gradual, before any group thaws: the whole backbone is a fixed function
    torch.testing.assert_close(encoder(ids), encoder(ids))


def test_rotary_frequencies_by_hand():
    """Pins the rotary angle table: theta_i = base^(-2i/d_h), channels paired (i, i + d_h/2).
    head_dim 4, base 10000: theta = (10000^0, 10000^(-2/4)) = (1, 0.01), so position 3 has the
    angles (3, 0.03, 3, 0.03); relative-position tests alone hold for any frequencies."""
    rotary = RotaryEmbedding(4)
    cos, sin = rotary.tables(4, torch.device("cpu"))
    angles = torch.tensor([3.0, 0.03, 3.0, 0.03], dtype=torch.float64)
    torch.testing.assert_close(cos[3, 0], angles.cos())
    torch.testing.assert_close(sin[3, 0], angles.sin())
    # x = e_0 at position 1: (cos 1, 0, sin 1, 0) -- pairs (x_0, x_2) rotate by 1 rad
    x = torch.tensor([1.0, 0.0, 0.0, 0.0], dtype=torch.float64).view(1, 1, 4)
    out = rotary(x, positions=torch.tensor([1]))
    expected = torch.tensor([math.cos(1.0), 0.0, math.sin(1.0), 0.0], dtype=torch.float64)
    torch.testing.assert_close(out.view(4), expected)


def _layer_norm(module, z, eps):
    """LayerNorm written out: (z - mean) / sqrt(var + eps) * weight + bias (biased variance)."""
    mean = z.mean(-1, keepdim=True)
    var = ((z - mean) ** 2).mean(-1, keepdim=True)
    return (z - mean) / torch.sqrt(var + eps) * module.weight + module.bias


def test_forward_is_the_pre_norm_formula_by_hand():
    """Pins the architecture of the module docstring: u = h + Attn(LN1(h)), h' = u + W2 GELU(W1 LN2(u))
    with the exact (erf) GELU, each LayerNorm with cfg.norm_eps, and a final LayerNorm; a post-norm
    block, a swapped norm, another activation or a lost epsilon would all still pass the shape and
    invariance tests above while changing every checkpoint's outputs."""
    eps = 0.5  # large, so that an ignored norm_eps shows
    encoder = make_encoder(norm_eps=eps)  # perturbed: norm1, norm2 and the final norm all differ
    ids = tokens(2, 7)
    x = encoder.embedding.weight[ids]
    for block in encoder.blocks:
        u = x + block.attn(_layer_norm(block.norm1, x, eps))
        z = _layer_norm(block.norm2, u, eps) @ block.ffn.up.weight.T + block.ffn.up.bias
        gelu = 0.5 * z * (1 + torch.erf(z / math.sqrt(2)))
        x = u + gelu @ block.ffn.down.weight.T + block.ffn.down.bias
    expected = _layer_norm(encoder.norm, x, eps)
    torch.testing.assert_close(encoder(ids), expected, rtol=0, atol=1e-10)


@pytest.mark.parametrize("position", POSITIONS)
def test_a_repeated_token_gets_position_dependent_outputs(position):
    """Without positions wired in, a bidirectional encoder gives two copies of a token the same
    output: 'ACGA' would not tell its first A from its last."""
    encoder = make_encoder(position)
    ids = torch.tensor([[5, 7, 9, 5, 11, 5]])
    out = encoder(ids)[0]
    assert (out[0] - out[3]).abs().max() > 1e-3
    assert (out[3] - out[5]).abs().max() > 1e-3


def test_alibi_is_symmetric_in_direction_and_rotary_is_not():
    """ALiBi's bias depends on |i - j| only, so with nothing else positional (no rotary in the
    alibi encoder) reversing a sequence reverses the output; rotary sees the direction."""
    ids = tokens(2, 9)
    alibi = make_encoder("alibi")
    torch.testing.assert_close(alibi(ids.flip(1)), alibi(ids).flip(1), rtol=0, atol=1e-10)
    rotary = make_encoder("rotary")
    assert (rotary(ids.flip(1)) - rotary(ids).flip(1)).abs().max() > 1e-3


def test_parameter_counts_by_hand():
    """The count a user reads in a model summary: vocab 20, d_model 32, d_ff 64, 2 layers.
    Embedding 20*32 = 640; per block two LayerNorms 2*64, qkv 32*96+96, out 32*32+32,
    up 32*64+64, down 64*32+32: 8544; final norm 64. SwiGLU doubles `up`: +2112 per block.
    rc_equivariant halves d_model and d_ff per strand: 320 + 2*2224 + 32."""

    def count(**overrides):
        return sum(p.numel() for p in make_encoder(**overrides).parameters())

    assert count() == 640 + 2 * 8544 + 64 == 17792
    assert count(activation="swiglu") == 17792 + 2 * 2112
    complement = [0, *range(19, 0, -1)]
    assert count(rc_equivariant=True, complement_ids=complement) == 320 + 2 * 2224 + 32 == 4800


def test_rc_equivariant_hidden_size_is_the_full_width():
    """Heads read encoder.hidden_size: both strands together are d_model wide."""
    complement = [0, *range(19, 0, -1)]
    encoder = make_encoder(rc_equivariant=True, complement_ids=complement)
    assert encoder.hidden_size == 32
    assert encoder(tokens(2, 5)).shape == (2, 5, 32)
    assert encoder.embed(tokens(2, 5)).shape == (2, 32)


def test_defaults_are_the_standard_transformer_shape():
    """An unset d_ff is the usual 4 * d_model GELU FFN (Vaswani et al.), LayerNorm's epsilon is
    PyTorch's 1e-5, rotary positions, no dropout: the defaults users train with unknowingly."""
    cfg = TransformerConfig()
    assert cfg.d_ff == 4 * cfg.d_model
    assert (cfg.activation, cfg.norm_eps, cfg.position, cfg.dropout) == ("gelu", 1e-5, "rotary", 0.0)
    assert cfg.rc_equivariant is False


@pytest.mark.parametrize("key", ["vocab_size", "d_model", "n_layers", "n_heads", "d_ff", "max_len"])
def test_zero_sizes_are_refused_by_name(key):
    """A zero-sized layer builds an empty network that trains to nothing; the message names the key."""
    with pytest.raises(ConfigError) as err:
        TransformerConfig(**{key: 0})
    assert str(err.value) == f"model.{key}: expected a positive integer, got 0"


@pytest.mark.parametrize("dropout", [1.0, -0.1])
def test_dropout_outside_zero_one_is_refused(dropout):
    """Dropout 1 zeroes every activation; a negative one is a typo."""
    with pytest.raises(ConfigError) as err:
        TransformerConfig(dropout=dropout)
    assert str(err.value) == f"model.dropout: expected a value in [0, 1), got {dropout}"
    assert TransformerConfig(dropout=0.0).dropout == 0.0 and TransformerConfig(dropout=0.99).dropout == 0.99


def test_negative_pad_id_is_refused():
    """-1 would index the last embedding row as padding."""
    with pytest.raises(ConfigError) as err:
        TransformerConfig(vocab_size=10, pad_id=-1)
    assert str(err.value) == "model.pad_id: -1 is outside the vocabulary [0, 10)"
    assert TransformerConfig(vocab_size=10, pad_id=9).pad_id == 9


def test_complement_ids_must_be_a_permutation_keeping_the_pad():
    """A complement table with a repeated id, or one that maps padding to a real token, would make
    the second strand read a different sequence."""
    base = dict(vocab_size=4, d_model=32, n_heads=2, d_ff=64, rc_equivariant=True, pad_id=0)
    with pytest.raises(ConfigError) as err:
        TransformerConfig(**base, complement_ids=[0, 1, 1, 2])  # right length, not a permutation
    assert str(err.value) == "model.complement_ids: expected a permutation of the 4 token ids, got 4 ids"
    with pytest.raises(ConfigError) as err:
        TransformerConfig(**base, complement_ids=[1, 0, 3, 2])
    assert str(err.value) == "model.complement_ids: the padding token must be its own complement"
    assert TransformerConfig(**base, complement_ids=[0, 1, 3, 2]).complement_ids == [0, 1, 3, 2]


def test_embed_of_one_real_token_is_its_hidden_state_and_of_none_is_zero():
    """The mean divides by the number of real tokens (at least 1): a single-token sequence's
    embedding is that token's hidden state, an all-padding row gives zeros, not NaN."""
    encoder = make_encoder()
    ids = tokens(2, 5)
    mask = torch.zeros_like(ids, dtype=torch.bool)
    mask[0, 2] = True
    hidden = encoder(ids, mask)
    emb = encoder.embed(ids, mask)
    torch.testing.assert_close(emb[0], hidden[0, 2], rtol=0, atol=1e-12)
    assert torch.equal(emb[1], torch.zeros(32, dtype=emb.dtype))


def test_the_padding_row_gets_no_gradient():
    """The padding embedding stays zero through training (padding_idx): a loss over every output,
    padded positions included, leaves its row's gradient at exactly zero."""
    encoder = make_encoder()
    ids = tokens(2, 6)
    ids[1, 3:] = PAD
    encoder(ids, ids != PAD).sum().backward()
    grad = encoder.embedding.weight.grad
    assert grad[PAD].abs().max() == 0
    assert grad[ids[0, 0]].abs().max() > 0


@pytest.mark.parametrize("position", POSITIONS)
def test_a_row_with_no_real_token_attends_everywhere(position):
    """attention_bias's guard: an all-padding row is computed as if unmasked, never as a
    fully-masked softmax (NaN on fused GPU kernels, which 0 * NaN then spreads into gradients)."""
    encoder = make_encoder(position)
    ids = tokens(2, 7)
    mask = torch.ones_like(ids, dtype=torch.bool)
    mask[1] = False
    mask[0, 5:] = False
    torch.testing.assert_close(encoder(ids, mask)[1], encoder(ids[1:])[0], rtol=0, atol=1e-10)
