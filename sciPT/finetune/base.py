"""The interface every fine-tuning strategy shares (:mod:`.strategies` lists them).

A strategy acts on the pre-trained backbone only, through the hooks of :class:`Strategy`, which
:class:`sciPT.finetune.module.FinetuneModule` calls; :class:`Wrapper` adds to another strategy.
"""

from __future__ import annotations

import torch
from torch import nn


class Strategy(nn.Module):
    """What a fine-tuning strategy does to the backbone; the base class trains everything.

    :class:`sciPT.finetune.module.FinetuneModule` calls, in this order: :meth:`setup` once when it
    is built; :meth:`on_total_steps` and :meth:`on_step` before every training batch; :meth:`penalty`, added to the task loss;
    :meth:`before_optimizer_step` after the backward pass, before gradient clipping and the step;
    :meth:`after_optimizer_step` after the step.
    Strategies hold tensors (reference weights, Fisher) as non-persistent buffers, so they follow
    the model to its device but stay out of checkpoints: they are rebuilt from the pre-trained
    model when a run resumes.
    """

    name = "full"
    #: whether AdamW's (decoupled) weight decay applies to the backbone; penalties that pull the
    #: weights towards the pre-trained ones replace it, since a pull towards zero would fight them.
    decays_backbone = True

    def setup(self, backbone: nn.Module) -> None:
        """Freeze what is frozen for the whole run (before the optimizer and DDP see the model)."""

    def on_total_steps(self, total: int | None) -> None:
        """Called before each training batch with the run's current total of optimizer steps
        (:func:`sciPT.module.schedule_total`; ``None`` while a run sized by its time budget has not
        yet timed its first steps)."""

    def on_step(self, step: int, backbone: nn.Module) -> None:
        """Called before each training batch with ``step`` = optimizer steps done so far."""

    def penalty(self, backbone: nn.Module) -> torch.Tensor:
        """The regulariser added to the task loss (a scalar tensor)."""
        return next(backbone.parameters()).new_zeros(())

    def before_optimizer_step(self, backbone: nn.Module) -> None:
        """Drop gradients the optimizer must not use."""

    def after_optimizer_step(self, backbone: nn.Module, lr: float) -> None:
        """Act on the weights the optimizer has just updated at learning rate ``lr``."""

    def metrics(self) -> dict[str, float]:
        """Facts about the strategy's state worth logging, e.g. how many groups are unfrozen."""
        return {}

    def checkpoint_state(self) -> dict[str, int | float]:
        """What a resumed run must not recompute (plain numbers; the run's checkpoint keeps it)."""
        return {}

    def restore_state(self, state: dict[str, int | float]) -> None:
        """Take back :meth:`checkpoint_state` from a resumed run's checkpoint (empty: none saved)."""


class Wrapper(Strategy):
    """A strategy that adds something to ``inner`` and hands it every call it does not override."""

    def __init__(self, inner: Strategy):
        super().__init__()
        self.inner = inner
        self.name = inner.name
        self.decays_backbone = inner.decays_backbone

    def setup(self, backbone: nn.Module) -> None:
        self.inner.setup(backbone)

    def on_total_steps(self, total: int | None) -> None:
        self.inner.on_total_steps(total)

    def on_step(self, step: int, backbone: nn.Module) -> None:
        self.inner.on_step(step, backbone)

    def checkpoint_state(self) -> dict[str, int | float]:
        return self.inner.checkpoint_state()

    def restore_state(self, state: dict[str, int | float]) -> None:
        self.inner.restore_state(state)

    def penalty(self, backbone: nn.Module) -> torch.Tensor:
        return self.inner.penalty(backbone)

    def before_optimizer_step(self, backbone: nn.Module) -> None:
        self.inner.before_optimizer_step(backbone)

    def after_optimizer_step(self, backbone: nn.Module, lr: float) -> None:
        self.inner.after_optimizer_step(backbone, lr)

    def metrics(self) -> dict[str, float]:
        return self.inner.metrics()
