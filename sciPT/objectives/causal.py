"""Causal (next-token) language modelling (GPT, Radford et al. 2018).

The backbone runs with ``causal=True``, so the hidden state at position :math:`t` sees tokens
:math:`x_{\\le t}` only, and a linear head predicts :math:`x_{t+1}`:

.. math::

    \\mathcal L = -\\frac{1}{|T|}\\sum_{t \\in T} \\log p_\\theta(x_{t+1} \\mid x_{\\le t})

where :math:`T` holds the positions whose token and next token are both real (not padding) and
whose next token is not one of ``ignore_ids`` (an unknown residue: context, never a target). As in
:mod:`sciPT.objectives.masked`, the head is applied only at those gathered positions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .masked import IGNORE, token_counts, token_loss


@dataclass
class CausalConfig:
    """Causal modelling has no corruption to configure; the class keeps configs uniform."""


class CausalLM(nn.Module):
    """Next-token prediction; owns the output projection, which is not exported.

    Args:
        cfg: unused (see :class:`CausalConfig`).
        hidden_size: width ``D`` of the backbone's hidden states.
        vocab_size: ``V``, the number of logits.
        pad_id: the padding token; used to find padding when a batch has no ``attention_mask``.
        ignore_ids: tokens never predicted (an unknown residue), though read as context.

    Shapes:
        ``batch["input_ids"]``: ``(B, L)`` int64; ``batch["attention_mask"]``: ``(B, L)`` bool.
    """

    def __init__(
        self,
        cfg: CausalConfig,
        hidden_size: int,
        vocab_size: int,
        pad_id: int,
        ignore_ids: Sequence[int] = (),
    ):
        super().__init__()
        self.cfg = cfg
        self.pad_id = pad_id
        self.register_buffer("ignore_ids", torch.tensor(list(ignore_ids), dtype=torch.long), persistent=False)
        self.head = nn.Linear(hidden_size, vocab_size)
        nn.init.normal_(self.head.weight, std=0.02)
        nn.init.zeros_(self.head.bias)

    def targets(self, input_ids: Tensor, attention_mask: Tensor | None) -> Tensor:
        """``(B, L)``: the next token at position ``t``, or ``-100`` where there is none."""
        real = attention_mask if attention_mask is not None else input_ids != self.pad_id
        targets = torch.full_like(input_ids, IGNORE)
        valid = real[:, 1:] & real[:, :-1]
        targets[:, :-1] = input_ids[:, 1:].masked_fill(~valid, IGNORE)
        return targets.masked_fill(torch.isin(targets, self.ignore_ids), IGNORE)

    def forward(
        self, backbone: nn.Module, batch: dict, generator: torch.Generator | None = None
    ) -> tuple[Tensor, dict[str, Tensor]]:
        input_ids, attention_mask = batch["input_ids"], batch.get("attention_mask")
        targets = self.targets(input_ids, attention_mask)
        selected = targets != IGNORE
        # Nearly every position has a target, so the full forward is indexed (unlike
        # MaskedLM, asking the backbone for a subset would save nothing).
        hidden = backbone(input_ids, attention_mask, causal=True)[selected]
        self.targets_seen = selected.sum()
        return token_loss(self.head, hidden, targets[selected])

    def metric_counts(self, batch) -> dict[str, int]:
        """The tokens the last forward scored (as :meth:`.masked.MaskedLM.metric_counts`)."""
        return token_counts(self.targets_seen)
