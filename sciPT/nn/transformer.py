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

Reverse-complement parameter sharing (``rc_equivariant``, DNA): the hidden state holds two strands
that share every weight, so the encoder's output on a sequence's reverse complement is the reverse
complement of its output (Caduceus, Schiff et al. 2024): :mod:`sciPT.nn.strands`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from ..config import derived
from ..errors import ConfigError
from .attention import SelfAttention
from .position import ALiBi
from .strands import from_strands, to_strands


@dataclass
class TransformerConfig:
    """Shape of a :class:`TransformerEncoder`.

    ``vocab_size`` and ``pad_id`` come from the tokenizer. ``max_len`` is the longest sequence the
    domain feeds (in tokens); rotary and ALiBi have no learned table, so it sizes nothing here.
    ``activation="swiglu"`` uses a gated FFN with ``d_ff`` hidden units (pick ``d_ff`` about
    ``8/3 * d_model`` to match the parameter count of a GELU FFN with ``4 * d_model``).

    Attributes:
        d_model: width of the hidden states; a multiple of ``n_heads`` (rotary: an even head size).
        n_layers: transformer blocks.
        n_heads: attention heads per block.
        d_ff: hidden units of each block's feed-forward layer.
        dropout: dropout probability on the token embeddings, the attention weights and each
            block's residual branches, in [0, 1) (0: none).
        max_len: longest input, in tokens, the encoder is trained on (pre-training: ``data.window``
            must fit; the promoter task reads up to 4 times as many); it sizes no weights.
        position: how attention sees positions: ``rotary`` embeddings or ``alibi`` biases.
        norm_eps: epsilon of every LayerNorm.
        activation: feed-forward activation: ``gelu``, or ``swiglu`` (gated).
        rc_equivariant: DNA: the hidden state holds both strands with shared weights, so the output
            on a reverse complement is the reverse complement of the output (``d_model`` and ``d_ff``
            are split between the strands and must be even).
    """

    vocab_size: int = derived("the tokenizer", default=16)
    d_model: int = 128
    n_layers: int = 2
    n_heads: int = 4
    d_ff: int = 512
    dropout: float = 0.0
    max_len: int = 512
    position: Literal["rotary", "alibi"] = "rotary"
    pad_id: int = derived("the tokenizer", default=0)
    norm_eps: float = 1e-5
    activation: Literal["gelu", "swiglu"] = "gelu"
    rc_equivariant: bool = False
    complement_ids: list[int] | None = derived("the tokenizer", default=None)

    def __post_init__(self):
        for key in ("vocab_size", "d_model", "n_layers", "n_heads", "d_ff", "max_len"):
            if getattr(self, key) < 1:
                raise ConfigError(f"model.{key}: expected a positive integer, got {getattr(self, key)}")
        if self.d_model % self.n_heads:
            raise ConfigError(
                f"model.d_model: {self.d_model} is not divisible by model.n_heads ({self.n_heads})"
            )
        strands = 2 if self.rc_equivariant else 1
        if self.rc_equivariant and (self.d_model % 2 or self.d_ff % 2):
            raise ConfigError(
                f"model.rc_equivariant: d_model and d_ff are split between the two strands; "
                f"expected even numbers, got {self.d_model} and {self.d_ff}"
            )
        if self.rc_equivariant and (self.d_model // 2) % self.n_heads:
            raise ConfigError(
                f"model.d_model: each strand's {self.d_model // 2} channels are not divisible "
                f"by model.n_heads ({self.n_heads})"
            )
        if self.position == "rotary" and (self.d_model // strands // self.n_heads) % 2:
            raise ConfigError(
                f"model.d_model: rotary needs an even head size, got "
                f"{'d_model/2' if strands == 2 else 'd_model'}/n_heads = "
                f"{self.d_model // strands // self.n_heads}"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"model.dropout: expected a value in [0, 1), got {self.dropout}")
        if not 0 <= self.pad_id < self.vocab_size:
            raise ConfigError(f"model.pad_id: {self.pad_id} is outside the vocabulary [0, {self.vocab_size})")
        if self.complement_ids is not None:
            self.check_complement()

    def check_complement(self) -> None:
        """``complement_ids`` is a permutation of the vocabulary that keeps the padding token."""
        if self.complement_ids is None:
            raise ConfigError(
                "model.rc_equivariant: needs each token's complement (model.complement_ids), "
                "which a domain with complementary strands (dna) fills in from its tokenizer"
            )
        ids = list(self.complement_ids)
        if len(ids) != self.vocab_size or sorted(ids) != list(range(self.vocab_size)):
            raise ConfigError(
                f"model.complement_ids: expected a permutation of the {self.vocab_size} token ids, "
                f"got {len(ids)} ids"
            )
        if ids[self.pad_id] != self.pad_id:
            raise ConfigError("model.complement_ids: the padding token must be its own complement")

    def strand(self) -> TransformerConfig:
        """The shape of one strand's layers: the config itself unless ``rc_equivariant``."""
        if not self.rc_equivariant:
            return self
        return replace(self, d_model=self.d_model // 2, d_ff=self.d_ff // 2, rc_equivariant=False)


class FeedForward(nn.Module):
    """Position-wise FFN, GELU or SwiGLU.

    Args:
        d_model: input and output width ``D``.
        d_ff: hidden units (with ``swiglu``, of each of the gate and value projections).
        activation: ``gelu``, or ``swiglu`` (gated).

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

    Args:
        cfg: width, heads, FFN size and activation, dropout, position scheme, LayerNorm epsilon
            (one strand's, :meth:`TransformerConfig.strand`, when ``rc_equivariant``).

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
        rc_equivariant: ``cfg.rc_equivariant``: the output on a sequence's reverse complement is
            the reverse complement of the output (:mod:`sciPT.nn.strands`); :meth:`embed` is then
            the same on both strands.

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
        self.rc_equivariant = cfg.rc_equivariant
        if cfg.rc_equivariant:
            cfg.check_complement()
            # not saved: the config carries it
            self.register_buffer("complement", torch.tensor(cfg.complement_ids), persistent=False)
        strand = cfg.strand()
        self.embedding = nn.Embedding(cfg.vocab_size, strand.d_model, padding_idx=cfg.pad_id)
        self.embed_dropout = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(TransformerBlock(strand) for _ in range(cfg.n_layers))
        self.norm = nn.LayerNorm(strand.d_model, eps=cfg.norm_eps)
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
        if self.rc_equivariant:
            return self._forward_strands(input_ids, attention_mask, causal, select)
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

    def _forward_strands(
        self, input_ids: Tensor, attention_mask: Tensor | None, causal: bool, select: Tensor | None
    ) -> Tensor:
        """:meth:`forward` of a reverse-complement equivariant encoder: both strands through every
        block in one call, stacked along the batch (:mod:`sciPT.nn.strands`)."""
        if causal:
            raise ConfigError(
                "model.rc_equivariant: a strand-equivariant encoder reads both ways; causal attention is not available"
            )
        if select is not None:
            # the second strand's positions run backwards: the last-block shortcut does not apply
            return self._forward_strands(input_ids, attention_mask, False, None)[select]
        forward = self.embedding(input_ids)
        backward = self.embedding(self.complement[input_ids]).flip(-1)
        x = self.embed_dropout(torch.cat([forward, backward], dim=-1))
        x, mask = to_strands(x, attention_mask)
        attn_mask, is_causal = self.attention_bias(input_ids.shape[1], mask, False)
        for block in self.blocks:
            x = self._run(block, x, attn_mask, is_causal)
        return from_strands(self.norm(x))

    def _run(self, block: TransformerBlock, *args) -> Tensor:
        if self.activation_checkpointing and torch.is_grad_enabled():
            return checkpoint(block, *args, use_reentrant=False)
        return block(*args)

    def embed(self, input_ids: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        """One vector per sequence: the mean of the final hidden states over non-pad tokens
        (symmetrised over the strands when ``rc_equivariant``: the same on either strand)."""
        real = attention_mask if attention_mask is not None else input_ids != self.cfg.pad_id
        hidden = self.forward(input_ids, real)
        weights = real.to(hidden.dtype).unsqueeze(-1)
        mean = (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp_min(1.0)
        if self.rc_equivariant:  # the strands' means swap (channels reversed) on the other strand
            mean = 0.5 * (mean + mean.flip(-1))
        return mean

    def layer_groups(self) -> list[nn.Module]:
        """``[embedding (with its dropout), block_0, ..., block_{n-1}, final_norm]``, input to output.

        Every parameter belongs to exactly one group; freezing the first ``k`` groups freezes the
        bottom of the network (used by the freeze-N and gradual-unfreezing strategies), and puts
        them in eval mode: the embedding's dropout, which has no parameter, goes with it (left in
        train mode, it zeroed a tenth of a frozen embedding's output afresh on every pass).
        """
        return [nn.ModuleList([self.embedding, self.embed_dropout]), *self.blocks, self.norm]


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
