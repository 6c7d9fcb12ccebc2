"""Penalties that pull the backbone back to its pre-trained weights: L2-SP and EWC.

``l2sp``
    L2-SP (Li, Grandvalet & Davoine 2018, *Explicit Inductive Bias for Transfer Learning with
    Convolutional Networks*): ``alpha/2 * ||w - w0||^2``.
``ewc``
    elastic weight consolidation (Kirkpatrick et al. 2017, *Overcoming catastrophic forgetting in
    neural networks*): ``lambda/2 * sum_i F_i (w_i - w0_i)^2``, ``F`` the diagonal Fisher of the
    pre-training loss (:mod:`sciPT.finetune.fisher`), or its blocks for some weights.

How ``l2sp`` and ``ewc`` apply their pull (``anchor``):

``loss`` (default)
    the penalty is added to the task loss, so its gradient goes through Adam with the task's.
    Adam divides each weight's step by the root of its running squared gradient: a stiff penalty
    is then felt as steps of about ``lr`` either way, and a weight it should hold at ``w0`` jitters
    around it by about the current ``lr`` instead (Loshchilov & Hutter 2019, *Decoupled Weight
    Decay Regularization*, make the same point for L2 regularisation and weight decay).
``decoupled``
    the penalty is left out of the gradient and applied after every optimizer step as its exact
    proximal step at the current learning rate ``eta``:
    ``w <- w0 + (w - w0) / (1 + eta * s * c)`` with ``s`` the strength (``alpha`` or ``lambda``)
    and ``c`` the importance (1 or ``F``). To first order in ``eta`` this is the step plain
    gradient descent takes on the penalty, so ``s`` keeps its meaning; unlike a gradient step it
    never overshoots, however stiff the penalty. (In the force-field forgetting benchmark the two
    anchors forgot alike: the forgetting went through weights of near-zero Fisher, which neither
    holds; benchmarks/RESULTS_forgetting.md.)
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from ..errors import ConfigError
from .base import Strategy

AnchorMode = Literal["loss", "decoupled"]


class AnchorPenalty(Strategy):
    """``strength/2 * sum_i c_i (w_i - w0_i)^2`` over the backbone's trainable parameters.

    L2-SP is the case ``c = 1``, EWC the case ``c = F`` (a diagonal Fisher).

    Args:
        strength: ``alpha`` (L2-SP) or ``lambda`` (EWC).
        reference: ``{parameter name: w0}``, the pre-trained weights.
        importance: ``{parameter name: c}`` with the shapes of ``reference``; ``None`` means 1.
        anchor: ``"loss"``: :meth:`penalty` carries the gradient; ``"decoupled"``: :meth:`penalty`
            is reported detached and :meth:`after_optimizer_step` takes the proximal step.

    Shapes:
        every tensor has the shape of the backbone parameter it is named after.
    """

    decays_backbone = False

    def __init__(
        self,
        strength: float,
        reference: dict[str, torch.Tensor],
        importance: dict[str, torch.Tensor] | None = None,
        anchor: AnchorMode = "loss",
    ):
        super().__init__()
        self.strength = strength
        self.anchor = anchor
        self.param_names = list(reference)
        for i, name in enumerate(self.param_names):
            # parameter names contain dots, which buffer names may not: buffers go by position
            self.register_buffer(f"reference_{i}", reference[name].detach().clone(), persistent=False)
            if importance is not None:
                self.register_buffer(f"importance_{i}", importance[name].detach().clone(), persistent=False)
        self.weighted = importance is not None

    def penalty(self, backbone: nn.Module) -> torch.Tensor:
        params = dict(backbone.named_parameters())
        total = next(backbone.parameters()).new_zeros(())
        for i, name in enumerate(self.param_names):
            p = params[name]
            if not p.requires_grad:
                continue
            total = total + self.quadratic(i, name, p - getattr(self, f"reference_{i}"))
        total = 0.5 * self.strength * total
        return total.detach() if self.anchor == "decoupled" else total

    def quadratic(self, index: int, name: str, moved: torch.Tensor) -> torch.Tensor:
        """``sum c (w - w0)^2`` of parameter ``name`` (number ``index``), ``moved = w - w0``."""
        sq = moved.square()
        if self.weighted:
            sq = sq * getattr(self, f"importance_{index}")
        return sq.sum()

    @torch.no_grad()
    def after_optimizer_step(self, backbone: nn.Module, lr: float) -> None:
        if self.anchor != "decoupled":
            return
        params = dict(backbone.named_parameters())
        for i, name in enumerate(self.param_names):
            p = params[name]
            if not p.requires_grad:
                continue
            reference = getattr(self, f"reference_{i}")
            stiffness = lr * self.strength * (getattr(self, f"importance_{i}") if self.weighted else 1.0)
            p.sub_(reference).div_(1.0 + stiffness).add_(reference)


class L2SP(AnchorPenalty):
    """L2-SP: ``alpha/2 * ||w - w0||^2`` over the backbone; the head keeps AdamW weight decay."""

    name = "l2sp"

    def __init__(self, alpha: float, reference: dict[str, torch.Tensor], anchor: AnchorMode = "loss"):
        super().__init__(alpha, reference, anchor=anchor)


class EWC(AnchorPenalty):
    """EWC: ``lambda/2 * sum_i F_i (w_i - w0_i)^2`` with ``F`` the pre-training Fisher diagonal.

    A diagonal, local model of the old loss: it sees each weight alone, at the pre-trained point.
    A weight whose Fisher is near zero there (e.g. the input weights of a hidden unit whose output
    weight is near zero) is free to move far, and a later small move of a weight that *is* held
    can then switch that change on; a network trained with Adam, which moves weights of tiny
    gradient as fast as any, finds such paths (benchmarks/RESULTS_forgetting.md).
    """

    name = "ewc"

    def __init__(
        self,
        lam: float,
        reference: dict[str, torch.Tensor],
        fisher: dict[str, torch.Tensor],
        anchor: AnchorMode = "loss",
        blocks: dict[str, tuple[torch.Tensor, int]] | None = None,
    ):
        """``blocks``: ``{parameter name: (B, input axis)}`` (optional), the Fisher's block of each
        unit of some weights (:func:`sciPT.finetune.gauss_newton_fisher`); those weights are
        penalised by ``sum_u d_u^T B_u d_u`` with ``d_u`` unit ``u``'s slice of ``w - w0`` along
        the input axis, the rest by the diagonal."""
        super().__init__(lam, reference, fisher, anchor)
        blocks = blocks or {}
        if blocks and anchor == "decoupled":
            raise ConfigError(
                "finetune.anchor: 'decoupled' takes a proximal step per weight and cannot use the "
                "Fisher's blocks; use anchor 'loss'"
            )
        self.blocked: dict[str, int] = {}
        for name, (block, axis) in blocks.items():
            if name not in self.param_names:
                continue  # a parameter this penalty does not anchor (e.g. a head's)
            unit = tuple(reference[name].movedim(axis, -1).shape)
            if tuple(block.shape) != (*unit, unit[-1]):
                raise ConfigError(
                    f"finetune: the Fisher block of '{name}' has shape {tuple(block.shape)}, "
                    f"expected {(*unit, unit[-1])} for a weight of shape {tuple(reference[name].shape)} "
                    f"read along axis {axis}"
                )
            index = self.param_names.index(name)
            self.register_buffer(f"block_{index}", block.detach().clone(), persistent=False)
            self.blocked[name] = axis

    def quadratic(self, index: int, name: str, moved: torch.Tensor) -> torch.Tensor:
        if name not in self.blocked:
            return super().quadratic(index, name, moved)
        unit = moved.movedim(self.blocked[name], -1)
        return torch.einsum("...a,...ab,...b->", unit, getattr(self, f"block_{index}"), unit)
