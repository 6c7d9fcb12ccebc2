"""Naturalness: how likely a pre-trained masked model finds a sequence, and its use in a classifier.

A masked model pre-trained on genomes has learnt what genomic DNA looks like. Its pseudo-log-
likelihood (Salazar, Liang, Nguyen & Kirchhoff, *Masked Language Model Scoring*, ACL 2020; used
zero-shot by ESM-1v, Meier et al. 2021) scores a sequence without any label:

.. math::

    \\mathrm{PLL}(x) = \\frac{1}{|C|} \\sum_{c \\in C} \\log p_\\theta\\big(t_c \\mid x_{\\setminus S(c)}\\big)

where ``t_c`` is the token at centre ``c`` and ``S(c)`` the ``span`` tokens around it, all replaced
by ``[MASK]``. Overlapping k-mer tokens share residues with their neighbours, so masking one token
would leave it readable from them; ``k`` consecutive masked tokens hide exactly one residue, and
``span = k`` makes the score that residue's log-probability given everything else. Scoring every
centre separately costs one encoder pass per token; :class:`NaturalnessScorer` masks every
``stride``-th centre at once (``stride`` passes per sequence), which with ``stride = 16`` and 3-mers
hides about the share of tokens the encoder was pre-trained with (15 %).

On iPromoter-2L's sigma subsets the score alone separates promoters of every sigma factor from
their dinucleotide shuffles (AUROC 0.80-0.85 for sigma24/28/32/54 with the 45-CPU-minute encoder;
a shuffle keeps the dinucleotides but not the genome's longer words), which a classifier fine-tuned
on sigma-70 promoters alone does not carry over (benchmarks/promoter_naturalness.py,
benchmarks/RESULTS.md).

:func:`fit_fusion` combines a fine-tuned classifier's logit with the score by a two-feature logistic
regression fitted on the fine-tune's held-out early-stopping split (Platt scaling with one more
feature):

.. math::

    \\operatorname{logit} p = w_\\ell\\, \\operatorname{logit} p_{\\text{classifier}}
        + w_n\\, \\frac{\\mathrm{PLL}(x) - \\mu}{\\sigma} + b

with ``mu`` and ``sigma`` the score's mean and standard deviation on that split. The scorer is the
*pre-trained* encoder and its masked-model head, frozen: fine-tuning changes the classifier's copy.

The score costs ``stride`` encoder passes per sequence, the classifier one, so the fit also says
whether the score earns that: :attr:`Fusion.likelihood_ratio` is the likelihood-ratio statistic of
the two-feature fit against the logit-only one (Platt scaling) on the same split,
``2 (log L_fused - log L_logit)``, asymptotically chi-squared with one degree of freedom where the
score adds nothing (Wilks 1938). The promoter task keeps the fusion only at
:data:`sciPT.stacking.MIN_LIKELIHOOD_RATIO` or above (p < 0.05), so a model whose negatives are as natural as its
positives (genomic windows, as in a genome scan) predicts at the classifier's own speed.

Shapes: ``input_ids`` and ``attention_mask`` ``[B, L]`` (real tokens first) -> scores ``[B]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import Tensor, nn

from .objectives.masked import LMHead
from .stacking import Stack, fit_stack

HEAD_PREFIX = "mlm_head."  # the masked-model head's tensors in an export (sciPT.export)
STRIDE = 16


def head_state(tensors: dict[str, Tensor]) -> dict[str, Tensor]:
    """The masked-model head's weights among an export's extra tensors (``{}`` if it has none)."""
    n = len(HEAD_PREFIX)
    return {k[n:]: v for k, v in tensors.items() if k.startswith(HEAD_PREFIX)}


class NaturalnessScorer(nn.Module):
    """A frozen pre-trained encoder and its masked-model head, scoring sequences by their PLL.

    Args:
        backbone: the pre-trained encoder (``(B, L)`` ids and mask -> ``(B, L, D)`` hidden states).
        head: its masked-model head, ``(N, D) -> (N, V)`` (:class:`~sciPT.objectives.masked.LMHead`).
        mask_id: the ``[MASK]`` token.
        span: tokens masked around each centre (the tokenizer's ``k`` for overlapping k-mers, so
            that one residue is hidden; 1 for words that do not overlap).
        stride: centres scored together in one pass are ``stride`` tokens apart; ``stride`` passes
            score every centre once. Must exceed ``span`` so that masked spans never touch.
        skip_ids: tokens never masked as a centre nor scored (special tokens, and the unknown
            token of a k-mer with N).

    Shapes:
        ``input_ids``, ``attention_mask``: ``(B, L)`` -> ``(B,)`` mean log-probability per scored
        token, in nats; NaN for a sequence with nothing to score (shorter than a span, or all N).
    """

    def __init__(
        self,
        backbone: nn.Module,
        head: LMHead,
        mask_id: int,
        span: int,
        stride: int = STRIDE,
        skip_ids: Sequence[int] = (),
    ):
        super().__init__()
        if stride <= span:
            raise ValueError(f"stride ({stride}) must exceed span ({span})")
        self.backbone, self.head = backbone, head
        self.mask_id, self.span, self.stride = int(mask_id), int(span), int(stride)
        self.skip_ids = sorted({int(i) for i in skip_ids})
        self.register_buffer("skip", torch.tensor(self.skip_ids, dtype=torch.long), persistent=False)
        self.requires_grad_(False)
        self.eval()

    @classmethod
    def from_state(
        cls, backbone: nn.Module, head_weights: dict[str, Tensor], eps: float = 1e-5, **settings
    ) -> NaturalnessScorer:
        """A scorer from an encoder (weights already loaded), its head's weights and LayerNorm
        ``eps``; ``settings``: the class's other arguments (``mask_id``, ``span``, ...)."""
        vocab, width = head_weights["decoder.weight"].shape
        head = LMHead(width, vocab, eps=eps)
        head.load_state_dict(head_weights)
        return cls(backbone, head, **settings)

    @classmethod
    def from_scorer_state(
        cls, backbone: nn.Module, state: dict[str, Tensor], settings: dict
    ) -> NaturalnessScorer:
        """A scorer from a fresh encoder, a scorer's own ``state_dict`` (``backbone.*``,
        ``head.*``) and its :meth:`settings`."""
        part = lambda prefix: {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}  # noqa: E731
        backbone.load_state_dict(part("backbone."))
        return cls.from_state(backbone, part("head."), **settings)

    def settings(self) -> dict:
        """What rebuilds the scorer beside its weights, JSON-safe (:meth:`from_scorer_state`)."""
        return {
            "eps": self.head.norm.eps,
            "mask_id": self.mask_id,
            "span": self.span,
            "stride": self.stride,
            "skip_ids": self.skip_ids,
        }

    def train(self, mode: bool = True) -> NaturalnessScorer:
        # frozen: dropout stays off even inside a module put in training mode
        return super().train(False)

    @torch.no_grad()
    def forward(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        batch, length = input_ids.shape
        attention_mask = attention_mask.bool()
        before = (self.span - 1) // 2
        offsets = torch.arange(self.span, device=input_ids.device) - before
        n_real = attention_mask.sum(1, keepdim=True)
        scorable = attention_mask & ~torch.isin(input_ids, self.skip)
        positions = torch.arange(length, device=input_ids.device)
        total = torch.zeros(batch, device=input_ids.device)
        count = torch.zeros(batch, device=input_ids.device)
        for first in range(min(self.stride, length)):
            centres = positions[first :: self.stride]
            centres = centres[(centres - before >= 0) & (centres - before + self.span <= length)]
            if len(centres) == 0:
                continue
            # a centre is masked and counted where its whole span lies on the sequence's real
            # tokens, so a sequence scores the same in any batch (spans never touch: stride > span)
            inside = ((centres - before + self.span)[None, :] <= n_real) & scorable[:, centres]  # (B, C)
            spans = (centres[:, None] + offsets).reshape(-1)
            hide = torch.zeros_like(attention_mask)
            hide[:, spans] = inside.repeat_interleave(self.span, dim=1)
            masked = input_ids.masked_fill(hide, self.mask_id)
            hidden = self.backbone(masked, attention_mask)[:, centres]  # (B, C, D)
            logp = torch.log_softmax(self.head(hidden).float(), -1)
            picked = logp.gather(-1, input_ids[:, centres, None]).squeeze(-1)  # (B, C)
            total += (picked * inside).sum(1)
            count += inside.sum(1)
        return torch.where(count > 0, total / count.clamp(min=1), torch.nan)


@dataclass
class Fusion:
    """``logit p = w_logit * classifier logit + w_naturalness * (PLL - mean) / sd + bias``: a
    :class:`sciPT.stacking.Stack` whose score is the pseudo-log-likelihood.

    ``likelihood_ratio``: ``2 (log L - log L without the score)`` on the split it was fitted on
    (NaN in exports that predate it)."""

    w_logit: float
    w_naturalness: float
    bias: float
    mean: float
    sd: float
    likelihood_ratio: float = float("nan")

    def __call__(self, probabilities: np.ndarray, naturalness: np.ndarray) -> np.ndarray:
        """Fused probabilities."""
        return self.stack()(probabilities, naturalness)

    def stack(self) -> Stack:
        return Stack(self.w_logit, self.w_naturalness, self.bias, self.mean, self.sd, self.likelihood_ratio)

    def to_dict(self) -> dict:
        return asdict(self)


def fit_fusion(probabilities: np.ndarray, naturalness: np.ndarray, labels: np.ndarray, seed: int = 0):
    """The :class:`Fusion` of held-out ``probabilities`` and ``naturalness`` scores with ``labels``
    (:func:`sciPT.stacking.fit_stack`), or ``None`` below :data:`sciPT.stacking.MIN_PER_CLASS` of either class."""
    stack = fit_stack(probabilities, naturalness, labels, seed)
    if stack is None:
        return None
    return Fusion(stack.w_logit, stack.w_score, stack.bias, stack.mean, stack.sd, stack.likelihood_ratio)
