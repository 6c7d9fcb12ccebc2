"""Every attention path against a softmax attention written out here, in every dtype we run.

PyTorch's fused ``scaled_dot_product_attention`` picks its kernel by CPU (AVX-512, AVX2 or the
portable one: ``ATEN_CPU_CAPABILITY``) and by dtype; a float mask of another dtype than the queries
gave wrong values without an error on AVX2 machines. Each case runs the encoder twice, once through
SDPA and once through :func:`reference_attention`, on the same weights and inputs.
"""

from __future__ import annotations

import contextlib
import math

import pytest
import torch

from sciPT.nn import TransformerConfig, TransformerEncoder
from sciPT.nn import attention as attention_module

PAD = 0
# (dtype name, relative tolerance on the encoder's output); bf16 runs under CPU autocast
DTYPES = [("float64", 1e-10), ("float32", 1e-5), ("bf16-autocast", 3e-2)]


def reference_attention(q, k, v, attn_mask=None, is_causal=False, dropout_p=0.0, scale=None):
    """softmax(q k^T / sqrt(d) + bias) v in float64, bias from a boolean mask, a float bias or
    ``is_causal``; returned in the queries' dtype."""
    assert dropout_p == 0.0 and scale is None
    scores = q.double() @ k.double().transpose(-1, -2) / math.sqrt(q.shape[-1])
    if is_causal:
        L, S = scores.shape[-2:]
        future = torch.ones(L, S, dtype=torch.bool).triu(1)
        scores = scores.masked_fill(future, float("-inf"))
    if attn_mask is not None:
        if attn_mask.dtype == torch.bool:
            scores = scores.masked_fill(~attn_mask, float("-inf"))
        else:
            scores = scores + attn_mask.double()
    return (scores.softmax(dim=-1) @ v.double()).to(q.dtype)


def make_encoder(position: str, dtype_name: str) -> TransformerEncoder:
    torch.manual_seed(0)
    cfg = TransformerConfig(
        vocab_size=20, d_model=32, n_layers=2, n_heads=4, d_ff=64, position=position, pad_id=PAD
    )
    encoder = TransformerEncoder(cfg).eval()
    with torch.no_grad():
        for p in encoder.parameters():
            p.add_(0.2 * torch.randn_like(p))
    return encoder.double() if dtype_name == "float64" else encoder


def inputs(padded: bool):
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(1, 20, (3, 16), generator=g)
    mask = torch.ones_like(ids, dtype=torch.bool)
    if padded:
        mask[1, 10:] = False
        ids[1, 10:] = PAD
        mask[2, :3] = False  # left padding too
        ids[2, :3] = PAD
    select = (torch.rand(3, 16, generator=g) < 0.3) & mask
    return ids, (mask if padded else None), select


def run(encoder, ids, mask, causal, select, dtype_name):
    autocast = (
        torch.autocast("cpu", dtype=torch.bfloat16)
        if dtype_name == "bf16-autocast"
        else contextlib.nullcontext()
    )
    with torch.inference_mode(), autocast:
        return encoder(ids, mask, causal=causal, select=select).double()


@pytest.mark.parametrize("dtype_name,rtol", DTYPES)
@pytest.mark.parametrize("subset", [False, True], ids=["all-positions", "masked-subset"])
@pytest.mark.parametrize("padded", [False, True], ids=["unpadded", "padded"])
@pytest.mark.parametrize("causal", [False, True], ids=["bidirectional", "causal"])
@pytest.mark.parametrize("position", ["rotary", "alibi"])
def test_sdpa_matches_reference_softmax_attention(
    monkeypatch, position, causal, padded, subset, dtype_name, rtol
):
    encoder = make_encoder(position, dtype_name)
    ids, mask, select = inputs(padded)
    select = select if subset else None
    fused = run(encoder, ids, mask, causal, select, dtype_name)
    monkeypatch.setattr(attention_module.F, "scaled_dot_product_attention", reference_attention)
    reference = run(encoder, ids, mask, causal, select, dtype_name)
    assert torch.isfinite(fused).all()
    scale = float(reference.abs().max())
    torch.testing.assert_close(fused, reference, rtol=0, atol=rtol * scale)


@pytest.mark.parametrize("dtype_name", ["float64", "float32", "bf16-autocast"])
@pytest.mark.parametrize("padded", [False, True])
def test_alibi_bias_reaches_sdpa_in_the_queries_dtype(monkeypatch, dtype_name, padded):
    seen = []
    real_sdpa = attention_module.F.scaled_dot_product_attention

    def spy(q, k, v, attn_mask=None, **kwargs):
        seen.append((q.dtype, attn_mask.dtype))
        return real_sdpa(q, k, v, attn_mask=attn_mask, **kwargs)

    monkeypatch.setattr(attention_module.F, "scaled_dot_product_attention", spy)
    encoder = make_encoder("alibi", dtype_name)
    ids, mask, _ = inputs(padded)
    run(encoder, ids, mask, False, None, dtype_name)
    expected = {"float64": torch.float64, "float32": torch.float32, "bf16-autocast": torch.bfloat16}[
        dtype_name
    ]
    assert seen == [(expected, expected)] * 2


def test_a_foreign_bias_dtype_is_cast_before_sdpa(monkeypatch):
    # A caller handing a float32 bias to float64 attention gets the right answer, not the kernel's.
    seen = []
    monkeypatch.setattr(
        attention_module.F,
        "scaled_dot_product_attention",
        lambda q, k, v, attn_mask=None, **kw: seen.append(attn_mask.dtype) or q,
    )
    attention = attention_module.SelfAttention(16, 4, rotary=False).double()
    attention(torch.randn(1, 5, 16, dtype=torch.float64), torch.zeros(1, 4, 5, 5))
    assert seen == [torch.float64]


def test_attention_dropout_acts_in_training_only():
    # evaluation and inference must be deterministic and equal to the dropout-free attention
    torch.manual_seed(0)
    dropping = attention_module.SelfAttention(16, 4, dropout=0.5)
    plain = attention_module.SelfAttention(16, 4, dropout=0.0)
    plain.load_state_dict(dropping.state_dict())
    x = torch.randn(2, 7, 16)
    dropping.eval()
    torch.testing.assert_close(dropping(x), plain.eval()(x), rtol=0, atol=0)
    dropping.train()
    assert not torch.allclose(dropping(x), plain(x))


def test_a_padded_key_changes_no_real_output():
    # boolean mask, True = may attend: what sits at a padding position must not leak into real ones
    torch.manual_seed(0)
    attention = attention_module.SelfAttention(16, 4).double().eval()
    x = torch.randn(1, 6, 16, dtype=torch.float64)
    mask = torch.tensor([True, True, True, True, False, False])[None, None, None, :]
    y = x.clone()
    y[:, 4:] = torch.randn(1, 2, 16, dtype=torch.float64)
    torch.testing.assert_close(attention(x, mask)[:, :4], attention(y, mask)[:, :4], rtol=0, atol=1e-12)
    assert not torch.allclose(attention(x)[:, :4], attention(y)[:, :4])


def test_indivisible_width_is_refused_word_for_word():
    with pytest.raises(ValueError) as err:
        attention_module.SelfAttention(10, 4)
    assert str(err.value) == "d_model (10) must be divisible by n_heads (4)"


def _rotate_by_hand(t, base=10_000.0):
    """Rotary rotation written out for ``(B, L, H, d_h)``: channel pair (i, i + d_h/2) of the token
    at position m turns by m * base^(-2i/d_h)."""
    out = t.clone()
    half = t.shape[-1] // 2
    for m in range(t.shape[1]):
        for i in range(half):
            a = m * base ** (-2.0 * i / t.shape[-1])
            x1, x2 = t[:, m, :, i], t[:, m, :, i + half]
            out[:, m, :, i] = x1 * math.cos(a) - x2 * math.sin(a)
            out[:, m, :, i + half] = x2 * math.cos(a) + x1 * math.sin(a)
    return out


def _attention_by_hand(attention, x, key_mask=None, rotary=True):
    """Multi-head attention from the module's weights, without its code or SDPA: the fused
    projection's rows are [W_Q; W_K; W_V], head h owns channels h*d_h .. (h+1)*d_h - 1 of each,
    scores q.k / sqrt(d_h) (-inf at keys where ``key_mask`` (B, L) is False), softmax over keys,
    heads concatenated channel-wise, then the output projection."""
    B, L, D = x.shape
    H = attention.n_heads
    dh = D // H
    w, b = attention.qkv.weight, attention.qkv.bias
    q, k, v = ((x @ w[i * D : (i + 1) * D].T + b[i * D : (i + 1) * D]).view(B, L, H, dh) for i in range(3))
    if rotary:
        q, k = _rotate_by_hand(q), _rotate_by_hand(k)
    heads = []
    for h in range(H):
        scores = q[:, :, h] @ k[:, :, h].transpose(1, 2) / math.sqrt(dh)
        if key_mask is not None:
            scores = scores.masked_fill(~key_mask[:, None, :], float("-inf"))
        heads.append(scores.softmax(-1) @ v[:, :, h])
    return torch.cat(heads, dim=-1) @ attention.out.weight.T + attention.out.bias


def test_default_attention_is_rotary_softmax_attention_by_hand():
    """The module on its own, with its defaults (rotary, base 10000, no dropout), against attention
    computed here from its weights: the SDPA comparison above swaps only the kernel, so a head split,
    merge, q/k/v order, scale or rotary base that both paths share would pass it."""
    torch.manual_seed(0)
    attention = attention_module.SelfAttention(8, 2).double()
    with torch.no_grad():
        for p in attention.parameters():
            p.add_(0.3 * torch.randn_like(p))
    x = torch.randn(2, 6, 8, dtype=torch.float64)
    torch.testing.assert_close(attention(x), _attention_by_hand(attention, x), rtol=0, atol=1e-12)
    # a per-row padding mask (B, 1, 1, L), True = may attend, row 1 padded from position 4 on
    keep = torch.ones(2, 6, dtype=torch.bool)
    keep[1, 4:] = False
    torch.testing.assert_close(
        attention(x, keep[:, None, None, :]), _attention_by_hand(attention, x, keep), rtol=0, atol=1e-12
    )
    # queries at a subset of positions keep their own rotary angles
    index = torch.tensor([[1, 5], [0, 3]])
    subset = attention(x, keep[:, None, None, :], query_index=index)
    torch.testing.assert_close(
        subset, _attention_by_hand(attention, x, keep).gather(1, index[..., None].expand(-1, -1, 8))
    )
    plain = attention_module.SelfAttention(8, 2, rotary=False).double()
    plain.load_state_dict(attention.state_dict())
    torch.testing.assert_close(plain(x), _attention_by_hand(plain, x, rotary=False), rtol=0, atol=1e-12)
