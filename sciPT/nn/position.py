"""Relative position encodings for self-attention: rotary (RoPE) and ALiBi.

Neither adds anything to the token embeddings, so the network sees only *relative* positions:
shifting a whole sequence (for example by left padding) leaves every attention score unchanged.

**Rotary position embedding** (RoFormer, Su et al. 2021, arXiv:2104.09864). The query and key of
the token at position :math:`m` are rotated, pair of channels by pair of channels, by the angle
:math:`m\\,\\theta_i` with :math:`\\theta_i = b^{-2i/d_h}` (:math:`b` = ``base``, usually 10000):

.. math::

    \\mathrm{rot}(x, m)_{[i,\\, i + d_h/2]} =
    \\begin{pmatrix}\\cos m\\theta_i & -\\sin m\\theta_i\\\\
                    \\sin m\\theta_i & \\cos m\\theta_i\\end{pmatrix}
    \\begin{pmatrix}x_i \\\\ x_{i + d_h/2}\\end{pmatrix}

so that :math:`\\langle \\mathrm{rot}(q, m), \\mathrm{rot}(k, n)\\rangle` depends on :math:`m - n`
only. Channels are paired as (``i``, ``i + d_h/2``), the "rotate half" layout of GPT-NeoX, which
needs no interleaving copy.

**ALiBi** (Press, Smith & Lewis 2022, "Train Short, Test Long", arXiv:2108.12409). Head
:math:`h` adds the bias :math:`-s_h\\,|m - n|` to the score of query :math:`m` and key :math:`n`
(for a bidirectional encoder the distance is symmetric, as in MosaicBERT; for causal attention
keys after the query are excluded). The slopes form the geometric sequence
:math:`s_h = 2^{-8h/H}` for :math:`H` a power of two, with the paper's interleaving otherwise.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class RotaryEmbedding(nn.Module):
    """Rotates queries and keys by position-dependent angles.

    The cos/sin tables are computed and cached in float64 per device (and cast to the input's
    dtype when used), growing to the longest sequence seen; they are not parameters or buffers,
    so they are never saved, never rounded to half precision by ``.half()``, and longer sequences
    simply extend them.

    Args:
        head_dim: channels per head :math:`d_h` (even).
        base: :math:`b` in :math:`\\theta_i = b^{-2i/d_h}`.

    Shapes:
        ``x``: ``(..., L, n, d_h)`` with positions along dimension ``-3`` (any number ``n`` of
        heads, or of stacked query/key tensors times heads, after it); ``positions``: ``(..., L)``
        int64, default ``0 .. L-1``; output: same shape as ``x``.
    """

    def __init__(self, head_dim: int, base: float = 10_000.0):
        super().__init__()
        if head_dim % 2:
            raise ValueError(f"rotary embedding needs an even head dimension, got {head_dim}")
        self.head_dim = head_dim
        self.base = base
        self._cache: dict[str, tuple[Tensor, Tensor]] = {}

    def tables(self, length: int, device: torch.device) -> tuple[Tensor, Tensor]:
        """``(cos, sin)``, each ``(length, 1, d_h)``, for positions ``0 .. length-1``."""
        cos, sin = self._cache.get(str(device), (None, None))
        if cos is None or cos.shape[0] < length:
            size = 1 << max(length - 1, 1).bit_length()  # grow by powers of two
            half = self.head_dim // 2
            inv_freq = self.base ** (-torch.arange(half, dtype=torch.float64, device=device) / half)
            angles = torch.outer(torch.arange(size, dtype=torch.float64, device=device), inv_freq)
            angles = torch.cat([angles, angles], dim=-1)[:, None, :]
            cos, sin = angles.cos(), angles.sin()
            self._cache[str(device)] = (cos, sin)
        return cos[:length], sin[:length]

    def forward(self, x: Tensor, positions: Tensor | None = None) -> Tensor:
        if positions is None:
            cos, sin = self.tables(x.shape[-3], x.device)
        else:
            cos, sin = self.tables(int(positions.max()) + 1, x.device)
            cos, sin = cos[positions], sin[positions]
        cos, sin = cos.to(x.dtype), sin.to(x.dtype)
        x1, x2 = x.chunk(2, dim=-1)
        rotated = torch.cat([-x2, x1], dim=-1)
        return torch.addcmul(x * cos, rotated, sin)

    def rotate_qk(self, qkv: Tensor, n_heads: int) -> Tensor:
        """Rotate the query and key heads of a fused ``(B, L, 3H, d_h)`` tensor at positions
        ``0 .. L-1`` and return a new tensor of the same shape (values unchanged)."""
        half = self.head_dim // 2
        cos, sin = self.tables(qkv.shape[-3], qkv.device)
        cos, sin = cos[..., :half].to(qkv.dtype), sin[..., :half].to(qkv.dtype)
        return _RotateQK.apply(qkv, cos, sin, 2 * n_heads)


class _RotateQK(torch.autograd.Function):
    """Rotary rotation of the query and key heads of a fused ``(B, L, 3H, d_h)`` QKV tensor.

    One output tensor with the value heads copied through: autograd then needs no slice
    bookkeeping (zero-filled gradients of the full tensor) and nothing is saved for backward,
    since the inverse of a rotation by :math:`m\\theta` is the rotation by :math:`-m\\theta`.
    """

    @staticmethod
    def forward(ctx, qkv: Tensor, cos: Tensor, sin: Tensor, n_qk: int) -> Tensor:
        ctx.save_for_backward(cos, sin)
        ctx.n_qk = n_qk
        return _rotate_half_pairs(qkv, cos, sin, n_qk)

    @staticmethod
    def backward(ctx, grad: Tensor):
        cos, sin = ctx.saved_tensors
        return _rotate_half_pairs(grad, cos, -sin, ctx.n_qk), None, None, None


def _rotate_half_pairs(x: Tensor, cos: Tensor, sin: Tensor, n_qk: int) -> Tensor:
    """Rotate heads ``[:n_qk]`` of ``x`` (``(..., L, n, d_h)``), copy the rest; ``cos``/``sin``
    are the ``(L, 1, d_h/2)`` halves of the tables."""
    out = torch.empty_like(x)
    x1, x2 = x[..., :n_qk, :].chunk(2, dim=-1)
    o1, o2 = out[..., :n_qk, :].chunk(2, dim=-1)
    torch.mul(x1, cos, out=o1).addcmul_(x2, sin, value=-1.0)
    torch.mul(x2, cos, out=o2).addcmul_(x1, sin)
    out[..., n_qk:, :] = x[..., n_qk:, :]
    return out


def alibi_slopes(n_heads: int) -> Tensor:
    """The per-head slopes of ALiBi, ``(n_heads,)``, as in the paper's reference code."""

    def power_of_two(n: int) -> list[float]:
        start = 2.0 ** (-8.0 / n)
        return [start ** (i + 1) for i in range(n)]

    if math.log2(n_heads).is_integer():
        return torch.tensor(power_of_two(n_heads))
    closest = 2 ** math.floor(math.log2(n_heads))
    extra = power_of_two(2 * closest)[0::2][: n_heads - closest]
    return torch.tensor(power_of_two(closest) + extra)


class ALiBi(nn.Module):
    """Additive attention bias :math:`-s_h |m - n|` (:math:`-\\infty` for future keys if causal).

    Args:
        n_heads: number of attention heads :math:`H`.

    Shapes:
        output of :meth:`forward`: ``(1, H, L, L)`` in ``dtype``, cached per (length, causal,
        device, dtype). The bias must be in the attention queries' dtype: with a float32 bias and
        float64 (or bf16) queries, some CPU kernels of ``scaled_dot_product_attention`` return
        wrong values without an error.
    """

    def __init__(self, n_heads: int):
        super().__init__()
        self.n_heads = n_heads
        self._cache: dict[tuple, Tensor] = {}

    def forward(
        self, length: int, device: torch.device, causal: bool = False, dtype: torch.dtype = torch.float32
    ) -> Tensor:
        key = (length, causal, str(device), dtype)
        if key not in self._cache:
            pos = torch.arange(length, device=device)
            # built in float64 and rounded once, so every dtype holds the nearest slope * distance
            distance = (pos[:, None] - pos[None, :]).abs().double()
            bias = -alibi_slopes(self.n_heads).to(device, torch.float64)[:, None, None] * distance
            if causal:
                future = pos[None, :] > pos[:, None]
                bias = bias.masked_fill(future, float("-inf"))
            self._cache[key] = bias.unsqueeze(0).to(dtype)
        return self._cache[key]
