"""Learning-rate schedules: linear warm-up, then cosine, linear, exponential or step decay.

Each schedule is a multiplier ``m(step)`` of the base learning rate, used through
``torch.optim.lr_scheduler.LambdaLR`` stepped once per optimizer step:

- warm-up: ``m = (step + 1) / warmup_steps`` for ``step < warmup_steps``;
- then with progress ``p = (step - warmup) / max(1, total - warmup)`` clipped to [0, 1]:

  - ``cosine``:      ``m = f + (1 - f) * (1 + cos(pi p)) / 2``
  - ``linear``:      ``m = f + (1 - f) * (1 - p)``
  - ``exponential``: ``m = max(f, gamma ** (step - warmup))``
  - ``step``:        ``m = max(f, gamma ** floor((step - warmup) / step_size))``
  - ``constant``:    ``m = 1``

where ``f = min_lr_ratio`` is the floor, as a fraction of the base rate.

The total may change during a run: a run sized by its time budget (``train.max_steps: none`` with
``train.max_time``, :class:`sciPT.callbacks.TimeBudget`) learns its total only after timing its
first steps and corrects it after each validation, so :func:`build_scheduler` takes a function
returning the current total, read at every step. While the total is unknown (``None``) the
progress ``p`` stays 0: the decay has not started.

Importing this module does not import torch (the command line starts fast); :func:`build_scheduler`
does.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, get_args

if TYPE_CHECKING:
    import torch

ScheduleName = Literal["cosine", "linear", "exponential", "step", "constant"]


@dataclass
class ScheduleConfig:
    """The learning-rate schedule (the module docstring gives each multiplier).

    Attributes:
        name: decay after the warm-up: ``cosine`` or ``linear`` (to ``min_lr_ratio`` at step
            ``total``, one past the last taken), ``exponential`` (x ``gamma`` every step), ``step`` (x ``gamma`` every
            ``step_size`` steps) or ``constant``.
        warmup_steps: optimizer steps over which the rate rises linearly to ``train.lr`` (0: none).
        min_lr_ratio: floor of the decay, a fraction of ``train.lr`` (not for ``constant``).
        gamma: ``exponential`` and ``step``: factor the rate is multiplied by at each decay.
        step_size: ``step``: optimizer steps between two decays.
    """

    name: ScheduleName = "cosine"
    warmup_steps: int = 100
    min_lr_ratio: float = 0.1
    gamma: float = 0.5
    step_size: int = 1000


def lr_multiplier(step: int, total_steps: int | None, cfg: ScheduleConfig) -> float:
    """The multiplier at ``step`` of ``total_steps`` (``None``: not known yet, no decay so far)."""
    if step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    after = step - cfg.warmup_steps
    p = 0.0 if total_steps is None else min(1.0, after / max(1, total_steps - cfg.warmup_steps))
    f = cfg.min_lr_ratio
    if cfg.name == "cosine":
        return f + (1 - f) * 0.5 * (1 + math.cos(math.pi * p))
    if cfg.name == "linear":
        return f + (1 - f) * (1 - p)
    if cfg.name == "exponential":
        return max(f, cfg.gamma**after)
    if cfg.name == "step":
        return max(f, cfg.gamma ** (after // cfg.step_size))
    if cfg.name == "constant":
        return 1.0
    raise ValueError(f"unknown schedule '{cfg.name}'")


def build_scheduler(
    optimizer: torch.optim.Optimizer, total_steps: int | None | Callable[[], int | None], cfg: ScheduleConfig
):
    """A ``LambdaLR`` stepped once per optimizer step; ``total_steps`` is a number, or a function
    returning the current total (read at every step, so a total sized during the run applies)."""
    import torch

    if cfg.name not in get_args(ScheduleName):  # now, not when the warm-up ends, steps into the run
        raise ValueError(
            f"unknown schedule '{cfg.name}' (expected one of: {', '.join(get_args(ScheduleName))})"
        )
    current = total_steps if callable(total_steps) else (lambda: total_steps)
    # a plain function, not a callable object: LambdaLR's state_dict then stores nothing of it
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_multiplier(step, current(), cfg))


def apply_current_rates(scheduler) -> None:
    """Set every parameter group's rate to what ``scheduler`` (from :func:`build_scheduler`) gives
    at its current step.

    A resumed run restores its optimizer's rates as the checkpoint left them, computed for the
    total it had then: resumed with a new total (``--resume --max-steps``), its first step would
    take the old schedule's rate (the old floor, when that run had ended) and only the next one the
    new schedule's. Called when training starts; for a run that has not moved, it sets what is set.
    """
    rates = [
        base * rate(scheduler.last_epoch) for base, rate in zip(scheduler.base_lrs, scheduler.lr_lambdas)
    ]
    for group, lr in zip(scheduler.optimizer.param_groups, rates):
        group["lr"] = lr
    scheduler._last_lr = rates  # what get_last_lr() reports
