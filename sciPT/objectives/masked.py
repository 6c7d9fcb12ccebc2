"""Masked language modelling (BERT, Devlin et al. 2019), with optional span masking.

A fraction ``mask_ratio`` of the maskable tokens (not padding, not special) is *selected*; of the
selected, ``mask_prob`` are replaced by ``[MASK]``, ``random_prob`` by a random normal token and
the rest are left as they are (the 80/10/10 rule, so the model cannot learn that only ``[MASK]``
positions matter). The loss is the cross-entropy of the original token at the selected positions:

.. math::

    \\mathcal L = -\\frac{1}{|S|}\\sum_{i \\in S} \\log p_\\theta(x_i \\mid \\tilde x)

**Span masking** (SpanBERT, Joshi et al. 2020). With ``span = s > 1`` whole runs of ``s``
consecutive tokens are selected, and the 80/10/10 decision is made once per span. Each sequence
is cut into blocks of ``s`` tokens starting at a random phase; blocks made entirely of maskable
tokens are candidates, and ``round(mask_ratio * n_maskable / s)`` of them are drawn without
replacement, at least one (a sequence holding a run of ``s`` maskable tokens is never left
without a target: one whose runs all straddle the drawn phase's blocks is moved onto the phase
of its first run), so a short sequence is selected above ``mask_ratio``: 15 tokens of 6-mers hold one span, 40 %. Spans therefore never
overlap, every selected run has a length that is a multiple of ``s``, and in a sequence of at
least ``s / mask_ratio`` maskable tokens the selected fraction equals ``mask_ratio`` up to
rounding. A sequence's first and last tokens fall in a partial block as often as not, so they
are selected less often than the others (measured for 6-mers, ``s = 6``: position 0 in 2 % of
windows, the middle in 15 %).

Spans matter for *overlapping k-mer* tokens (DNABERT, Ji et al. 2021): token ``i`` spells bases
``i .. i+k-1``, so a lone masked k-mer is spelled out by its two neighbours and the task is
trivial. A run of ``s`` masked k-mers hides ``s - k + 1`` bases from its neighbours, and every
token in the run covers at least one hidden base only if ``s >= k``: **for k-mer tokens use
span >= k**.

The prediction head (dense, GELU, LayerNorm, decoder; as in BERT) is applied only at the selected
positions, which are gathered first: with 15 % masking it does about 7x less work than a head
over every position, and the ``(B, L, vocab)`` logits tensor never exists. A backbone that
supports it (``supports_select``) also computes its last layer only where the head needs it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import ConfigError

IGNORE = -100


@dataclass
class MaskedConfig:
    """Corruption of the input for masked modelling (see the module docstring).

    Attributes:
        mask_ratio: fraction of the maskable tokens (not padding, not special) selected for
            prediction, in (0, 1).
        span: selected runs of this many consecutive tokens (1: single tokens; overlapping k-mer
            tokens need ``span >= k``).
        mask_prob: fraction of the selected tokens (or spans) replaced by ``[MASK]``.
        random_prob: fraction replaced by a random token; the rest are left as they are
            (``mask_prob + random_prob`` at most 1).
    """

    mask_ratio: float = 0.15
    span: int = 1
    mask_prob: float = 0.8
    random_prob: float = 0.1

    def __post_init__(self):
        if not 0.0 < self.mask_ratio < 1.0:
            raise ConfigError(
                f"objective.masked.mask_ratio: expected a value in (0, 1), got {self.mask_ratio}"
            )
        if self.span < 1:
            raise ConfigError(f"objective.masked.span: expected a positive integer, got {self.span}")
        for key in ("mask_prob", "random_prob"):
            if not 0.0 <= getattr(self, key) <= 1.0:
                raise ConfigError(
                    f"objective.masked.{key}: expected a value in [0, 1], got {getattr(self, key)}"
                )
        if self.mask_prob + self.random_prob > 1.0:
            raise ConfigError(
                f"objective.masked.mask_prob + objective.masked.random_prob: expected at most 1, got "
                f"{self.mask_prob + self.random_prob}"
            )


class LMHead(nn.Module):
    """BERT's prediction head: ``decoder(LN(GELU(dense(h))))``.

    Args:
        hidden_size: the encoder's width ``D``.
        vocab_size: number of token classes ``V``.
        eps: epsilon of the LayerNorm.

    Shapes:
        ``(N, D) -> (N, V)``.
    """

    def __init__(self, hidden_size: int, vocab_size: int, eps: float = 1e-5):
        super().__init__()
        self.dense = nn.Linear(hidden_size, hidden_size)
        self.norm = nn.LayerNorm(hidden_size, eps=eps)
        self.decoder = nn.Linear(hidden_size, vocab_size)
        for linear in (self.dense, self.decoder):
            nn.init.normal_(linear.weight, std=0.02)
            nn.init.zeros_(linear.bias)

    def forward(self, h: Tensor) -> Tensor:
        return self.decoder(self.norm(F.gelu(self.dense(h))))


def token_loss(head: nn.Module, hidden: Tensor, targets: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
    """Cross-entropy of ``head(hidden)`` against ``targets``, and its metrics.

    ``hidden`` holds only the positions that have a target, so the head's cost scales with the
    number of targets. No target at all gives a zero loss that still depends on the graph (so
    DDP ranks stay in step) and no metrics (a validation epoch's means leave the batch out of them,
    :class:`sciPT.module.ValidationMeans`).

    Shapes:
        ``hidden``: ``(N, D)``; ``targets``: ``(N,)``.
    """
    logits = head(hidden)
    if targets.numel() == 0:
        return logits.sum() * 0.0, {}
    loss = F.cross_entropy(logits.float(), targets)
    with torch.no_grad():
        accuracy = (logits.argmax(dim=-1) == targets).float().mean()
        perplexity = loss.detach().exp()
    return loss, {"accuracy": accuracy, "perplexity": perplexity}


def token_counts(targets: Tensor) -> dict[str, int]:
    """What :func:`token_loss`'s loss and metrics average: ``targets`` tokens each."""
    n = int(targets)
    return {"loss": n, "accuracy": n, "perplexity": n}


def selected_hidden(
    backbone: nn.Module, input_ids: Tensor, attention_mask: Tensor | None, selected: Tensor
) -> Tensor:
    """``backbone(...)[selected]``, ``(N, D)``, letting the backbone skip unneeded work if it can.

    A backbone that declares ``supports_select = True`` (such as
    :class:`~sciPT.nn.TransformerEncoder`) takes ``select=`` and computes its last layer at the
    selected positions only; any other backbone is run in full and indexed.
    """
    if getattr(backbone, "supports_select", False):
        return backbone(input_ids, attention_mask, select=selected)
    return backbone(input_ids, attention_mask)[selected]


class MaskedLM(nn.Module):
    """The masked-modelling objective; owns the prediction head (exported beside the backbone as
    ``mlm_head.*``, :mod:`sciPT.export`).

    Args:
        cfg: corruption settings.
        hidden_size: width ``D`` of the backbone's hidden states.
        vocab_size: ``V``, the number of logits.
        mask_id: the ``[MASK]`` token.
        pad_id: the padding token (never selected).
        special_ids: tokens never selected (``[CLS]``, ``[SEP]``, ...; ``pad_id`` and ``mask_id``
            are added).
        normal_ids: the tokens random replacements are drawn from (uniformly).

    Shapes:
        ``batch["input_ids"]``: ``(B, L)`` int64; ``batch["attention_mask"]``: ``(B, L)`` bool.
    """

    def __init__(
        self,
        cfg: MaskedConfig,
        hidden_size: int,
        vocab_size: int,
        mask_id: int,
        pad_id: int,
        special_ids: Sequence[int],
        normal_ids: Sequence[int],
    ):
        super().__init__()
        if len(normal_ids) == 0:
            raise ValueError("MaskedLM needs at least one normal token for random replacement")
        self.cfg = cfg
        self.mask_id = mask_id
        self.pad_id = pad_id
        self.head = LMHead(hidden_size, vocab_size)
        special = sorted({*special_ids, pad_id, mask_id})
        self.register_buffer("special_ids", torch.tensor(special, dtype=torch.long), persistent=False)
        self.register_buffer("normal_ids", torch.tensor(list(normal_ids), dtype=torch.long), persistent=False)

    @torch.no_grad()
    def corrupt(
        self,
        input_ids: Tensor,
        attention_mask: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Select, then replace, tokens of ``input_ids``.

        Random numbers are drawn on the CPU from ``generator`` (so a seeded generator gives the
        same corruption on any device) and moved to the input's device; without a generator
        they are drawn on the input's device from the global RNG.

        Returns:
            ``(corrupted_ids, targets)``, both ``(B, L)``; ``targets`` holds the original token
            at selected positions and ``-100`` elsewhere.
        """
        device = input_ids.device
        rng_device = "cpu" if generator is not None else device
        B, L = input_ids.shape
        s = self.cfg.span

        def rand(*shape):
            return torch.rand(*shape, generator=generator, device=rng_device).to(device)

        maskable = ~torch.isin(input_ids, self.special_ids)
        if attention_mask is not None:
            maskable &= attention_mask

        # Blocks of s tokens at a random phase per sequence: block b holds the positions
        # [b*s - phase, (b+1)*s - phase) that exist; blocks of s maskable tokens are candidates.
        n_blocks = L // s + 2
        phase = (rand(B, 1) * s).long().clamp_max(s - 1)

        def blocks(phase: Tensor) -> tuple[Tensor, Tensor]:
            block = (torch.arange(L, device=device) + phase) // s
            full = torch.zeros(B, n_blocks, device=device, dtype=torch.long)
            full.scatter_add_(1, block, maskable.long())
            return block, full == s

        block, candidate = blocks(phase)
        if s > 1 and L >= s:
            # A short sequence's only runs of s maskable tokens can straddle the drawn phase's
            # blocks (7 tokens of 6-mers: 4 phases in 6). Such a sequence is moved onto the phase
            # of its first run, so that every sequence holding one has a target.
            stranded = ~candidate.any(dim=1, keepdim=True)
            if stranded.any():
                runs = maskable.long().unfold(1, s, 1).sum(dim=-1) == s  # (B, L - s + 1)
                first = runs.long().argmax(dim=1, keepdim=True)
                moved = stranded & runs.any(dim=1, keepdim=True)
                block, candidate = blocks(torch.where(moved, (-first) % s, phase))

        # Draw k blocks without replacement: the k smallest of uniform scores over candidates.
        n_maskable = maskable.sum(dim=1, keepdim=True)
        k = torch.round(n_maskable * self.cfg.mask_ratio / s).long().clamp_min(1)
        k = torch.minimum(k, candidate.sum(dim=1, keepdim=True))
        scores = rand(B, n_blocks).masked_fill(~candidate, 2.0)
        order = scores.argsort(dim=1)
        rank = torch.empty_like(order).scatter_(1, order, torch.arange(n_blocks, device=device).expand(B, -1))
        chosen = (rank < k) & candidate

        # One 80/10/10 decision per block, so a span is masked, randomised or kept as a whole.
        action = rand(B, n_blocks)
        selected = chosen.gather(1, block)
        action = action.gather(1, block)
        to_mask = selected & (action < self.cfg.mask_prob)
        to_random = (
            selected & (action >= self.cfg.mask_prob) & (action < self.cfg.mask_prob + self.cfg.random_prob)
        )

        random_index = torch.randint(len(self.normal_ids), (B, L), generator=generator, device=rng_device).to(
            device
        )
        corrupted = input_ids.masked_fill(to_mask, self.mask_id)
        corrupted = torch.where(to_random, self.normal_ids[random_index], corrupted)
        targets = input_ids.masked_fill(~selected, IGNORE)
        return corrupted, targets

    def forward(
        self, backbone: nn.Module, batch: dict, generator: torch.Generator | None = None
    ) -> tuple[Tensor, dict[str, Tensor]]:
        input_ids, attention_mask = batch["input_ids"], batch.get("attention_mask")
        corrupted, targets = self.corrupt(input_ids, attention_mask, generator)
        selected = targets != IGNORE
        self.targets_seen = selected.sum()
        hidden = selected_hidden(backbone, corrupted, attention_mask, selected)
        return token_loss(self.head, hidden, targets[selected])

    def metric_counts(self, batch) -> dict[str, int]:
        """The masked tokens the last forward scored: a validation epoch's loss, accuracy and
        perplexity are means over tokens, not sequences (:mod:`sciPT.module`)."""
        return token_counts(self.targets_seen)
