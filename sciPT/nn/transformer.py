"""The pre-norm transformer encoder shared by the sequence domains (DNA, protein).

Architecture (Vaswani et al. 2017, "Attention Is All You Need", with the pre-norm residual
arrangement of Xiong et al. 2020, "On Layer Normalization in the Transformer Architecture"):

.. math::

    h^{(0)} = E[x], \\qquad
    u = h^{(l)} + \\mathrm{Attn}(\\mathrm{LN}(h^{(l)})), \\qquad
    h^{(l+1)} = u + \\mathrm{FFN}(\\mathrm{LN}(u)), \\qquad
    \\text{output} = \\mathrm{LN}(h^{(n)})

with :math:`\\mathrm{FFN}(z) = W_2\\,\\mathrm{GELU}(W_1 z)` (or SwiGLU, Shazeer 2020,
:math:`W_2(\\mathrm{SiLU}(W_g z) \\odot W_1 z)`). Positions enter only through attention, as rotary
embeddings (Su et al. 2021) or ALiBi biases (Press et al. 2022): see :mod:`sciPT.nn.position`.
There are no absolute position or token-type embeddings.

Weight initialisation (GPT-2, Radford et al. 2019): every linear and embedding weight is drawn
from :math:`\\mathcal N(0, 0.02^2)`, biases are zero, and the two projections that write into the
residual stream (attention output, FFN down-projection) use :math:`0.02/\\sqrt{2 n_\\text{layers}}`
so the residual stream's variance does not grow with depth. The padding embedding row is zero.

Activation checkpointing (Chen et al. 2016, "Training Deep Nets with Sublinear Memory Cost"): with
``activation_checkpointing`` set, each block keeps only its input during the forward pass and
recomputes its activations in the backward pass (``torch.utils.checkpoint``, non-reentrant, the
random state restored so dropout draws the same masks): the memory of the activations falls from
``n_layers`` blocks' worth to one block's plus the block inputs, for about one more forward pass.
Losses and gradients are unchanged (tested).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from ..errors import ConfigError
from .attention import SelfAttention
from .position import ALiBi


@dataclass
class TransformerConfig:
    """Shape of a :class:`TransformerEncoder`.

    ``vocab_size`` and ``pad_id`` come from the tokenizer. ``max_len`` is the longest sequence the
    domain feeds (in tokens); rotary and ALiBi have no learned table, so it sizes nothing here.
    ``activation="swiglu"`` uses a gated FFN with ``d_ff`` hidden units (pick ``d_ff`` about
    ``8/3 * d_model`` to match the parameter count of a GELU FFN with ``4 * d_model``).
    """

    vocab_size: int = 16
    d_model: int = 128
    n_layers: int = 2
    n_heads: int = 4
    d_ff: int = 512
    dropout: float = 0.0
    max_len: int = 512
    position: Literal["rotary", "alibi"] = "rotary"
    pad_id: int = 0
    norm_eps: float = 1e-5
    activation: Literal["gelu", "swiglu"] = "gelu"

    def __post_init__(self):
        for key in ("vocab_size", "d_model", "n_layers", "n_heads", "d_ff", "max_len"):
            if getattr(self, key) < 1:
                raise ConfigError(f"model.{key}: expected a positive integer, got {getattr(self, key)}")
        if self.d_model % self.n_heads:
            raise ConfigError(
                f"model.d_model: {self.d_model} is not divisible by model.n_heads ({self.n_heads})"
            )
        if self.position == "rotary" and (self.d_model // self.n_heads) % 2:
            raise ConfigError(
                f"model.d_model: rotary needs an even head size, got d_model/n_heads = "
                f"{self.d_model // self.n_heads}"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"model.dropout: expected a value in [0, 1), got {self.dropout}")
        if not 0 <= self.pad_id < self.vocab_size:
            raise ConfigError(f"model.pad_id: {self.pad_id} is outside the vocabulary [0, {self.vocab_size})")


class FeedForward(nn.Module):
    """Position-wise FFN, GELU or SwiGLU.

    Shapes:
        ``(..., D) -> (..., D)``.
    """

    def __init__(self, d_model: int, d_ff: int, activation: str = "gelu"):
        super().__init__()
        self.activation = activation
        # SwiGLU's gate and value projections are one matmul, split afterwards.
        self.up = nn.Linear(d_model, 2 * d_ff if activation == "swiglu" else d_ff)
        self.down = nn.Linear(d_ff, d_model)

    def forward(self, x: Tensor) -> Tensor:
        h = self.up(x)
        if self.activation == "swiglu":
            gate, value = h.chunk(2, dim=-1)
            h = F.silu(gate) * value
        else:
            h = F.gelu(h)
        return self.down(h)


class TransformerBlock(nn.Module):
    """One pre-norm block: ``x + Attn(LN(x))`` then ``+ FFN(LN(.))``.

    Shapes:
        ``x``: ``(B, L, D)``; ``attn_mask``: see :class:`~sciPT.nn.attention.SelfAttention`.
    """

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.norm1 = nn.LayerNorm(cfg.d_model, eps=cfg.norm_eps)
        self.attn = SelfAttention(cfg.d_model, cfg.n_heads, cfg.dropout, rotary=cfg.position == "rotary")
        self.norm2 = nn.LayerNorm(cfg.d_model, eps=cfg.norm_eps)
        self.ffn = FeedForward(cfg.d_model, cfg.d_ff, cfg.activation)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(
        self,
        x: Tensor,
        attn_mask: Tensor | None = None,
        is_causal: bool = False,
        query_index: Tensor | None = None,
    ) -> Tensor:
        """With ``query_index`` (``(B, N)``), output only those positions: ``(B, N, D)``."""
        h = self.attn(self.norm1(x), attn_mask, is_causal, query_index)
        if query_index is not None:
            x = x.gather(1, query_index[..., None].expand(-1, -1, x.shape[-1]))
        x = x + self.dropout(h)
        return x + self.dropout(self.ffn(self.norm2(x)))


class TransformerEncoder(nn.Module):
    """Token embedding, ``n_layers`` pre-norm blocks and a final LayerNorm.

    Args:
        cfg: the shape of the network.

    Attributes:
        hidden_size: ``cfg.d_model``, the width of the hidden states.
        fsdp_wrap: module classes FSDP should wrap one by one (each block is a shard unit).
        supports_select: :meth:`forward` accepts ``select=`` (objectives check this flag).
        supports_activation_checkpointing: ``activation_checkpointing`` may be set (the trainer
            checks this flag).
        activation_checkpointing: recompute each block in the backward pass (module docstring);
            a training-time switch, not part of the config (it changes no result).

    Shapes:
        ``input_ids``: ``(B, L)`` int64; ``attention_mask``: ``(B, L)`` bool, ``True`` for real
        tokens, ``None`` when nothing is padding; output of :meth:`forward`: ``(B, L, D)``; of
        :meth:`embed`: ``(B, D)``.
    """

    fsdp_wrap: set[type] = {TransformerBlock}
    supports_select = True
    supports_activation_checkpointing = True

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.cfg = cfg
        self.hidden_size = cfg.d_model
        self.embedding = nn.Embedding(cfg.vocab_size, cfg.d_model, padding_idx=cfg.pad_id)
        self.embed_dropout = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(TransformerBlock(cfg) for _ in range(cfg.n_layers))
        self.norm = nn.LayerNorm(cfg.d_model, eps=cfg.norm_eps)
        self.alibi = ALiBi(cfg.n_heads) if cfg.position == "alibi" else None
        self.activation_checkpointing = False
        self.reset_parameters()

    def reset_parameters(self) -> None:
        std = 0.02
        residual_std = std / math.sqrt(2 * self.cfg.n_layers)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, std=std)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        for block in self.blocks:
            nn.init.normal_(block.attn.out.weight, std=residual_std)
            nn.init.normal_(block.ffn.down.weight, std=residual_std)
        nn.init.normal_(self.embedding.weight, std=std)
        with torch.no_grad():
            self.embedding.weight[self.cfg.pad_id].zero_()

    def attention_bias(
        self, length: int, attention_mask: Tensor | None, causal: bool
    ) -> tuple[Tensor | None, bool]:
        """The ``(attn_mask, is_causal)`` pair handed to every block's SDPA call.

        A mask with no padding is dropped (one host sync on a GPU, cheap next to the fused
        kernel it unlocks). Padding is expressed as a key mask of shape ``(B, 1, 1, L)``
        (broadcast, not materialised). Two guards keep fully-masked softmax rows, which would
        be NaN, from ever occurring: a sequence with no real token may attend everywhere, and
        under causal attention every token may attend to itself (no change for real tokens).
        """
        if attention_mask is not None and bool(attention_mask.all()):
            attention_mask = None
        device = self.embedding.weight.device
        if attention_mask is None:
            if self.alibi is None:
                return None, causal
            return self.alibi(length, device, causal, self.compute_dtype()), False
        keys = attention_mask | ~attention_mask.any(dim=1, keepdim=True)
        allowed = keys[:, None, None, :]
        if causal:
            pos = torch.arange(length, device=keys.device)
            lower = pos[None, :] <= pos[:, None]
            allowed = (allowed & lower) | (pos[None, :] == pos[:, None])
        if self.alibi is None:
            return allowed, False
        bias = self.alibi(length, keys.device, causal=False, dtype=self.compute_dtype())
        return bias.masked_fill(~allowed, float("-inf")), False

    def compute_dtype(self) -> torch.dtype:
        """The dtype the attention queries will have: autocast's, or else the weights'."""
        device = self.embedding.weight.device.type
        if torch.is_autocast_enabled(device):
            return torch.get_autocast_dtype(device)
        return self.embedding.weight.dtype

    def forward(
        self,
        input_ids: Tensor,
        attention_mask: Tensor | None = None,
        causal: bool = False,
        select: Tensor | None = None,
    ) -> Tensor:
        """Final hidden states ``(B, L, D)``; with ``select``, only those at ``select``: ``(N, D)``.

        ``select`` (``(B, L)`` bool, ``N`` true entries) returns ``forward(...)[select]``, in the
        same row-major order, but computes the last block only where it is needed: keys and
        values of every token, queries, FFN and final norm at the selected positions (the
        "last layer subset" of masked-modelling implementations). With 15 % of the positions
        selected this removes most of the last block's work.
        """
        L = input_ids.shape[1]
        attn_mask, is_causal = self.attention_bias(L, attention_mask, causal)
        x = self.embed_dropout(self.embedding(input_ids))
        n_full = len(self.blocks) - (select is not None)
        for block in self.blocks[:n_full]:
            x = self._run(block, x, attn_mask, is_causal)
        if select is None:
            return self.norm(x)
        # Selected positions first, in increasing order, padded to the longest row.
        counts = select.sum(dim=1)
        n_query = max(int(counts.max()), 1)
        query_index = torch.sort((~select).to(torch.uint8), dim=1, stable=True).indices[:, :n_query]
        valid = torch.arange(n_query, device=select.device) < counts[:, None]
        attn_mask, is_causal = _query_rows(attn_mask, is_causal, query_index, L)
        x = self._run(self.blocks[-1], x, attn_mask, is_causal, query_index)
        return self.norm(x[valid])

    def _run(self, block: TransformerBlock, *args) -> Tensor:
        if self.activation_checkpointing and torch.is_grad_enabled():
            return checkpoint(block, *args, use_reentrant=False)
        return block(*args)

    def embed(self, input_ids: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        """One vector per sequence: the mean of the final hidden states over non-pad tokens."""
        real = attention_mask if attention_mask is not None else input_ids != self.cfg.pad_id
        hidden = self.forward(input_ids, real)
        weights = real.to(hidden.dtype).unsqueeze(-1)
        return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp_min(1.0)

    def layer_groups(self) -> list[nn.Module]:
        """``[embedding, block_0, ..., block_{n-1}, final_norm]``, input to output.

        Every parameter belongs to exactly one group; freezing the first ``k`` groups freezes the
        bottom of the network (used by the freeze-N and gradual-unfreezing strategies).
        """
        return [self.embedding, *self.blocks, self.norm]


def _query_rows(
    attn_mask: Tensor | None, is_causal: bool, query_index: Tensor, length: int
) -> tuple[Tensor | None, bool]:
    """The rows ``query_index`` (``(B, N)``) of an attention mask built for all ``L`` queries."""
    if is_causal:
        # SDPA's is_causal aligns query 0 with key 0; the kept queries sit elsewhere.
        keys = torch.arange(length, device=query_index.device)
        return keys[None, None, None, :] <= query_index[:, None, :, None], False
    if attn_mask is None or attn_mask.shape[-2] == 1:
        return attn_mask, False
    B, n = query_index.shape
    rows = attn_mask.expand(B, -1, -1, -1)
    index = query_index[:, None, :, None].expand(B, rows.shape[1], n, length)
    return rows.gather(2, index), False
