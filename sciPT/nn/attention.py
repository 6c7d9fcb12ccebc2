"""Multi-head self-attention through PyTorch's fused ``scaled_dot_product_attention``.

.. math::

    \\mathrm{Attn}(X) = \\mathrm{concat}_h\\Big[\\mathrm{softmax}\\Big(
        \\frac{\\tilde Q_h \\tilde K_h^\\top}{\\sqrt{d_h}} + B_h\\Big) V_h\\Big] W_O,
    \\qquad [Q, K, V] = X W_{QKV} + b_{QKV}

with :math:`\\tilde Q, \\tilde K` the rotary-rotated queries and keys (or :math:`B_h` the ALiBi
bias), plus :math:`-\\infty` where a key is padding or, for causal attention, in the future
(Vaswani et al. 2017, "Attention Is All You Need").

Why it is written this way:

- one fused ``W_QKV`` projection: one large matmul instead of three smaller ones;
- the mask (or bias) is built once per forward by the encoder and shared by all layers; with no
  padding and no ALiBi it is ``None`` and ``is_causal`` is used instead, so SDPA can take its
  flash / memory-efficient kernel and no ``L x L`` mask is ever materialised;
- rotary rotation of queries and keys is one fused autograd function over the QKV tensor;
- ``query_index`` computes queries (and hence outputs) at a subset of positions while keys and
  values still cover every token: the encoder's last block uses it when an objective needs
  only a few positions (masked modelling).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from .position import RotaryEmbedding


class SelfAttention(nn.Module):
    """Multi-head self-attention with optional rotary position embedding.

    Args:
        d_model: model width :math:`D`.
        n_heads: heads :math:`H` (``D`` must be divisible by ``H``).
        dropout: attention-probability dropout (training only).
        rotary: apply rotary position embedding to queries and keys.

    Shapes:
        ``x``: ``(B, L, D)``; ``attn_mask``: ``None``, a boolean mask (``True`` = may attend)
        or a float bias broadcastable to ``(B, H, L, L)``; output ``(B, L, D)``, or
        ``(B, N, D)`` with ``query_index`` of shape ``(B, N)``.
    """

    def __init__(self, d_model: int, n_heads: int, dropout: float = 0.0, rotary: bool = True):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model ({d_model}) must be divisible by n_heads ({n_heads})")
        self.n_heads = n_heads
        self.head_dim = d_model // n_heads
        self.dropout = dropout
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)
        self.rotary = RotaryEmbedding(self.head_dim) if rotary else None

    def forward(
        self,
        x: Tensor,
        attn_mask: Tensor | None = None,
        is_causal: bool = False,
        query_index: Tensor | None = None,
    ) -> Tensor:
        """Attend from every position, or only from the positions ``query_index`` (``(B, N)``)
        to every position; ``attn_mask`` must then already have ``N`` query rows (or 1)."""
        B, L, D = x.shape
        H, dh = self.n_heads, self.head_dim
        if query_index is None:
            # (B, L, 3H, d_h): queries, keys and values are views of one matmul's output.
            qkv = self.qkv(x).view(B, L, 3 * H, dh)
            if self.rotary is not None:
                qkv = self.rotary.rotate_qk(qkv, H)
            q, k, v = qkv[:, :, :H], qkv[:, :, H : 2 * H], qkv[:, :, 2 * H :]
        else:
            # Keys and values of every token, queries only where asked for.
            w_q, w_kv = self.qkv.weight.split([D, 2 * D])
            b_q, b_kv = self.qkv.bias.split([D, 2 * D])
            kv = F.linear(x, w_kv, b_kv).view(B, L, 2 * H, dh)
            xq = x.gather(1, query_index[..., None].expand(-1, -1, D))
            q = F.linear(xq, w_q, b_q).view(B, -1, H, dh)
            k, v = kv[:, :, :H], kv[:, :, H:]
            if self.rotary is not None:
                k = self.rotary(k)
                q = self.rotary(q, positions=query_index)
        if attn_mask is not None and attn_mask.is_floating_point() and attn_mask.dtype != q.dtype:
            # A bias of another dtype than the queries gives silently wrong results on some CPU
            # kernels; the encoder builds it in the right dtype, this guards other callers.
            attn_mask = attn_mask.to(q.dtype)
        y = F.scaled_dot_product_attention(
            q.transpose(1, 2),
            k.transpose(1, 2),
            v.transpose(1, 2),
            attn_mask=attn_mask,
            is_causal=is_causal,
            dropout_p=self.dropout if self.training else 0.0,
        )
        return self.out(y.transpose(1, 2).reshape(B, -1, D))
