"""The head warm-up (LP-FT): the backbone held while the new head learns alone, then any strategy.

:class:`HeadWarmup` wraps the strategy that takes over (``finetune.head_warmup``); why a head is
fitted first, and how each strategy freezes: the :mod:`.strategies` docstring, whose
:func:`~.strategies.build_strategy` puts the warm-up around the strategy. The strategies that
freeze by layer groups: :mod:`.freezing`.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..errors import ConfigError
from .base import Strategy, Wrapper


def fraction_steps(fraction: float, total: int) -> int:
    """The warm-up steps that ``fraction`` of a ``total``-step run stands for: rounded up, so a
    fraction of any run is at least one step."""
    # rounded before the ceiling: 0.07 * 100 is 7.000000000000001 in floating point, not 8 steps
    return math.ceil(round(fraction * total, 9))


class HeadWarmup(Wrapper):
    """``inner``, after ``steps`` optimizer steps in which the backbone is held and only the head
    learns (LP-FT; the :mod:`.strategies` docstring says why), the held parameters then joining
    with a learning rate that rises linearly over ``ramp`` steps.

    The held parameters are frozen by dropping their gradients, as
    :class:`.freezing.GradualUnfreezing` does (for the same reason: the set changes mid-run), so
    their Adam moments start at zero when they join. Adam's first steps from zero moments are about the learning rate in every coordinate,
    whatever the gradient's size, and the schedule is by then past its own warm-up: the ramp gives
    the joining weights the gentle start the whole model had at step 0. Step ``k`` of the ramp
    (``k = 0, 1, ...``) applies ``(k + 1) / (ramp + 1)`` of the optimizer's update to them, which
    for Adam(W) is that fraction of the learning rate. When every backbone parameter is held, the
    backbone also runs in eval mode until it joins (a fixed feature extractor, dropout off).

    A fraction ``0 < steps < 1`` ends the warm-up at ``ceil(steps * T)`` for the run's total ``T``
    (:meth:`on_total_steps`). A run of ``train.max_steps`` knows ``T`` from the start; one sized by
    its time budget learns it after timing its first steps (the backbone is held until then) and
    corrects it after each validation, which moves the end of a warm-up still under way but never
    restarts one that is over. A resumed run ends a warm-up under way by its own total (restored
    from the checkpoint, or the new ``--max-steps``); one that was over when the checkpoint was
    written stays over, its end and ramp kept (:meth:`checkpoint_state`).

    Args:
        inner: the strategy that takes over after the warm-up (and is set up at the start).
        steps: optimizer steps of head-only training, or a fraction of the run's (``0 < steps < 1``).
        held: names of the backbone parameters held during the warm-up; ``None`` for all of them
            (a task whose head lives outside the backbone). A potential with several heads holds
            its shared blocks, the trained head's own parameters learn.
        ramp: steps of the learning-rate ramp after the warm-up; ``None``: as many as the warm-up's.
    """

    def __init__(
        self, inner: Strategy, steps: int | float, held: list[str] | None = None, ramp: int | None = None
    ):
        super().__init__(inner)
        self.run_fraction = float(steps) if 0 < steps < 1 else None
        self.steps = None if self.run_fraction is not None else int(steps)
        self.ramp = ramp
        self.held_names = None if held is None else list(held)
        self._held: list[nn.Parameter] = []
        self._total: int | None = None
        self.warming = True
        self.fraction = 0.0  # of the optimizer's update the held parameters get at this step
        self._before: list[torch.Tensor] = []

    def setup(self, backbone: nn.Module) -> None:
        self.inner.setup(backbone)
        params = dict(backbone.named_parameters())
        missing = [n for n in self.held_names or () if n not in params]
        if missing:
            raise ConfigError(f"finetune.head_warmup: the backbone has no parameter '{missing[0]}' to hold")
        names = params if self.held_names is None else self.held_names
        self._held = [params[n] for n in names]

    def on_total_steps(self, total: int | None) -> None:
        self._total = total
        self.inner.on_total_steps(total)

    def warmup_steps(self) -> int | None:
        """Steps of the warm-up; ``None`` while a fraction waits for the run's total."""
        if self.steps is not None:
            return self.steps
        if self._total is None:
            return None
        return fraction_steps(self.run_fraction, self._total)

    def on_step(self, step: int, backbone: nn.Module) -> None:
        end = self.warmup_steps()
        if self.warming and end is not None and step >= end:
            backbone.train()  # back from the warm-up's eval mode; the inner strategy sets its own
            self.steps = end  # settled: a later correction of the total does not move it
        self.warming = end is None or step < end
        if not self.warming:
            ramp = self.steps if self.ramp is None else self.ramp
            self.fraction = min(1.0, (step - self.steps + 1) / (ramp + 1))
        # the strategy takes over when the warm-up ends: its steps count from there (gradual
        # unfreezing counted the warm-up's, and thawed several groups at once when it ended)
        self.inner.on_step(0 if self.warming else step - self.steps, backbone)
        if self.warming and self.held_names is None:
            backbone.eval()

    def checkpoint_state(self) -> dict[str, int | float]:
        state = self.inner.checkpoint_state()
        if not self.warming:
            state["head_warmup_end"] = self.steps
        return state

    def restore_state(self, state: dict[str, int | float]) -> None:
        self.inner.restore_state(state)
        if "head_warmup_end" in state:
            self.steps = int(state["head_warmup_end"])

    def before_optimizer_step(self, backbone: nn.Module) -> None:
        self.inner.before_optimizer_step(backbone)
        if self.warming:
            for p in self._held:
                p.grad = None
        elif self.fraction < 1.0:
            self._before = [p.detach().clone() for p in self._held]

    def after_optimizer_step(self, backbone: nn.Module, lr: float) -> None:
        if self._before:
            with torch.no_grad():
                for p, before in zip(self._held, self._before):
                    p.lerp_(before, 1.0 - self.fraction)
            self._before = []
        self.inner.after_optimizer_step(backbone, lr * self.fraction)

    def metrics(self) -> dict[str, float]:
        return {**self.inner.metrics(), "backbone_lr_fraction": self.fraction}
