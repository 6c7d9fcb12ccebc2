"""The Lightning pieces of :mod:`sciPT.trainer`: atomic checkpoints, the time budget, a stop at
the first non-finite gradient, and progress written as lines when the output is a file.

Kept apart so that importing :mod:`sciPT.trainer` (``TrainConfig``, ``validate``) does not import
Lightning; :func:`sciPT.trainer.build_trainer` imports this module when it builds a trainer.

A run sized by its time budget
------------------------------
``train.max_steps: none`` with ``train.max_time`` set means "train for that long". The step count
is then unknown in advance, yet a decaying learning-rate schedule needs its total, so
:class:`TimeBudget` measures it:

1. the first ``warm_steps`` optimizer steps are not timed (compilation, allocator, caches);
2. after ``measure_steps`` more, the total becomes the steps done plus the steps that fit in what
   is left of ``margin * budget`` at the measured seconds per step; Lightning's ``max_steps`` (the
   stop) is set to it, and the learning-rate schedule, which reads ``trainer.max_steps`` at every
   step (:func:`sciPT.module.schedule_total`), anneals by then;
3. the estimate is corrected after every validation and after every ``every`` steps (once that
   step's validation and checkpoint are done), from all the time since the first timed step:
   validation and checkpoint time are then counted at their real frequency.

Lightning's own ``max_time`` (the :class:`~lightning.pytorch.callbacks.Timer`) stays the hard stop
at the full budget; ``margin`` (default 0.97) leaves the rest for the final checkpoint and for
noise in the estimate. Time counts from the start of training, as Lightning's does (data loading and
set-up before it are not in the budget), and a resumed run continues the budget where the
checkpoint left it. The last total is kept in the checkpoint, so a resumed run stops, and decays,
where the first would have until its own timing (again after a few steps) corrects it; and it is
reported as ``steps_sized_from_time`` in metrics.json, so a rerun with ``--max-steps N`` repeats the
run (up to the small corrections made along the way) on any machine. On several ranks, rank 0's
estimate is broadcast: every rank stops at the same step.
"""

from __future__ import annotations

import math
import os
import sys
import time
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import ProgressBar, TQDMProgressBar
from lightning.pytorch.plugins.io import TorchCheckpointIO
from lightning.pytorch.strategies import DDPStrategy
from lightning.pytorch.trainer.states import TrainerFn

from .errors import TrainingDiverged

# the time source of TimeBudget; tests replace it with a fake clock
clock = time.monotonic


class AtomicCheckpointIO(TorchCheckpointIO):
    """Write checkpoints to a temporary file and rename, so ``last.ckpt`` is never torn."""

    def save_checkpoint(self, checkpoint, path, storage_options=None):
        path = Path(path)
        tmp = path.with_name(f".{path.name}.tmp")
        super().save_checkpoint(checkpoint, tmp, storage_options)
        os.replace(tmp, path)


class StopOnNonFinite(pl.Callback):
    """Stop training at the first optimizer step whose gradients are not finite, before the
    optimizer applies them.

    A diverged run otherwise trains on with NaN weights for as long as its budget lasts, and its
    next periodic save overwrites ``checkpoints/last.ckpt``, the last good state, with them. Stopped
    here, the weights and that checkpoint stay as they were, and
    :class:`~sciPT.errors.TrainingDiverged` says what to change. The decision is agreed by every
    rank (with sharded gradients, FSDP, each rank sees only its shard), so all stop at one step.
    With ``16-mixed`` precision the gradient scaler's own check skips such steps by design (they
    tell it to lower the scale), and this one stands aside.

    Args:
        lr: the run's peak learning rate, named in the message.
    """

    def __init__(self, lr: float):
        self.lr = lr

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        if str(trainer.precision) == "16-mixed":
            return
        grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
        grads = [g.to_local() if hasattr(g, "to_local") else g for g in grads]  # FSDP2's DTensors
        # one norm per tensor, stacked: one device sync, and a NaN or inf anywhere makes it non-finite
        norms = torch._foreach_norm(grads) if grads else []
        device = norms[0].device if norms else None  # parameters may sit on several (offloading)
        finite = (
            bool(torch.isfinite(torch.stack([n.float().to(device) for n in norms])).all()) if norms else True
        )
        if trainer.world_size > 1 and not isinstance(trainer.strategy, DDPStrategy):
            # DDP's gradients are the same on every rank after its all-reduce; sharded ones are not
            finite = trainer.strategy.reduce_boolean_decision(finite, all=True)
        if finite:
            return
        last = Path(trainer.default_root_dir) / "checkpoints" / "last.ckpt"
        saved = (
            f"{last} holds the last state saved before it"
            if last.is_file()
            else "no checkpoint was saved before it"
        )
        raise TrainingDiverged(
            f"training diverged at step {trainer.global_step + 1}: its gradients are not finite. "
            f"Stopped before applying them; {saved}. Lower --lr (now {self.lr:g}), lengthen the "
            "warm-up (--warmup-steps) or clip the gradients (--grad-clip) in a new run (another "
            "--out: a resumed run keeps its learning rate)"
        )


class StopAtStepBoundary(pl.Callback):
    """SIGTERM stops every rank at the end of the same training step.

    Lightning's own SIGTERM handler broadcasts from inside the signal handler, in the middle of
    whatever collective the step is in (Lightning-AI/pytorch-lightning#20806), and each rank also
    stops on its own at the end of its step once its flag is set; on two CPU ranks a SIGTERM to
    rank 0 (a batch system's time limit) 14 to 29 s into a run hung both processes in 2 of 6 tries
    and ended in a traceback in 1 more (none of 6 with this callback). Here the handler only notes the signal and forwards it to the launched
    ranks, as Lightning's does; after each training step the ranks agree (any rank's note stops
    all) and set Lightning's flag together, so each stops at that step's end, as one, and the
    command line says what the run keeps. A signal during validation stops the run after it.
    """

    def __init__(self):
        self.requested = False

    def on_fit_start(self, trainer, pl_module) -> None:
        self.requested = False
        connector = trainer._signal_connector  # registers the notifier after on_fit_start

        def notifier(signum, frame) -> None:
            if not self.requested and trainer.strategy.launcher is not None:
                trainer.strategy.launcher.kill(signum)
            self.requested = True

        connector._sigterm_notifier_fn = notifier

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.strategy.reduce_boolean_decision(self.requested, all=False):
            trainer._signal_connector.received_sigterm = True


class TimeBudget(pl.Callback):
    """Size a run's total steps from its time budget (module docstring).

    Args:
        budget_s: the budget, seconds of training (``train.max_time``).
        warm_steps: optimizer steps not timed at the start (of this process).
        measure_steps: timed steps before the first estimate.
        margin: the run is sized to end at this fraction of the budget.
        every: also re-estimate every this many optimizer steps (besides after each validation);
            ``None``: only after validations.

    ``total_steps`` is the current estimate (``None`` before the first one).
    """

    def __init__(
        self,
        budget_s: float,
        *,
        warm_steps: int = 3,
        measure_steps: int = 10,
        margin: float = 0.97,
        every: int | None = None,
    ):
        if budget_s <= 0 or not 0 < margin <= 1 or warm_steps < 0 or measure_steps < 1:
            raise ValueError(
                "TimeBudget: expected budget_s > 0, 0 < margin <= 1, warm_steps >= 0 and measure_steps >= 1"
            )
        self.budget_s, self.margin, self.every = float(budget_s), margin, every
        self.warm_steps, self.measure_steps = warm_steps, measure_steps
        self.total_steps: int | None = None
        self._offset = 0.0  # training seconds spent before this process (a resume)
        self._t0: float | None = None  # this process's start of training
        self._mark: tuple[float, int] | None = None  # (time, step) of the first timed step
        self._first_step = 0
        self._sized_at: int | None = None  # the step of the last estimate made after a batch
        self._trainer: pl.Trainer | None = None

    # -- bookkeeping -----------------------------------------------------------------------
    def elapsed(self) -> float:
        """Training seconds spent so far, earlier processes of a resumed run included."""
        return self._offset + (clock() - self._t0 if self._t0 is not None else 0.0)

    def state_dict(self) -> dict[str, Any]:
        return {"total_steps": self.total_steps, "elapsed_s": self.elapsed(), "budget_s": self.budget_s}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.total_steps = state_dict.get("total_steps")
        self._offset = float(state_dict.get("elapsed_s", 0.0))
        before = state_dict.get("budget_s")
        if self.total_steps is not None and before and float(before) != self.budget_s:
            # resumed with another budget (--resume --max-time): the total was sized for the old
            # one, and restored as it is, a finished run would stop at once. Scaled by the budgets,
            # at the steps per second it kept; the first timed steps correct it.
            self.total_steps = max(1, math.floor(self.total_steps * self.budget_s / float(before)))
        if self._trainer is not None and self.total_steps is not None:
            # before Lightning restores its loops, so that they see an iteration-based run
            self._apply(self._trainer)

    def _apply(self, trainer: pl.Trainer) -> None:
        trainer.fit_loop.epoch_loop.max_steps = self.total_steps
        bar = trainer.progress_bar_callback
        if isinstance(bar, TQDMProgressBar) and getattr(bar, "_train_progress_bar", None) is not None:
            bar.train_progress_bar.total = self.total_steps * trainer.accumulate_grad_batches

    def _size(self, trainer: pl.Trainer) -> None:
        now, step = clock(), trainer.global_step
        mark_time, mark_step = self._mark
        total = None
        if step > mark_step:
            per_step = max(now - mark_time, 1e-9) / (step - mark_step)
            left = self.margin * self.budget_s - self.elapsed()
            # the epsilon keeps an exact fit (fake clocks, round budgets) from losing a step;
            # a spent budget stops the run where it stands
            total = step + max(0, math.floor(left / per_step + 1e-6))
        total = trainer.strategy.broadcast(total, src=0)
        if total is not None:
            self.total_steps = int(total)
            self._apply(trainer)

    # -- hooks -----------------------------------------------------------------------------
    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self._trainer = trainer

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._t0, self._mark, self._first_step = clock(), None, trainer.global_step
        if self.total_steps is not None:
            self._apply(trainer)
        elif self.warm_steps == 0:
            self._mark = (self._t0, trainer.global_step)

    def on_train_batch_end(self, trainer: pl.Trainer, *args: Any) -> None:
        step = trainer.global_step
        if self._mark is None:
            if step >= self._first_step + self.warm_steps:
                self._mark = (clock(), step)
            return
        if step - self._mark[1] == self.measure_steps and step != self._sized_at:
            self._sized_at = step  # once per optimizer step, not per accumulated batch
            self._size(trainer)

    def on_train_batch_start(self, trainer: pl.Trainer, *args: Any) -> None:
        # at the start of the step after a multiple of ``every``: that step's validation and
        # checkpoint, made after its batch ended, are counted
        step = trainer.global_step
        if (
            self.every
            and self._mark is not None
            and step % self.every == 0
            and step - self._mark[1] >= self.measure_steps
            and step != self._sized_at
        ):
            self._sized_at = step
            self._size(trainer)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or trainer.state.fn != TrainerFn.FITTING or self._mark is None:
            return
        if trainer.global_step - self._mark[1] >= self.measure_steps:
            self._size(trainer)


class LogLineProgress(ProgressBar):
    """Training progress as whole lines, for a log file (a batch job's output) instead of a terminal.

    A terminal progress bar redraws itself with carriage returns; written to a file every redraw
    stays, some 45 bytes a step, which is gigabytes over a week of fast steps. This prints one line
    every ``every_s`` seconds, after each validation and at the end: the step (of the run's total,
    when known), the rate since this process started training, the time left at that rate, and the
    metrics the module puts on the progress bar. Only global rank 0 prints (Lightning disables
    progress bars on the other ranks).

    Args:
        every_s: seconds of training between two lines.
        stream: where the lines go (default: standard error, with the package's other progress
            bars: standard output carries what a command prints as its result, such as the
            fine-tunes' metrics JSON, which a line before it made unreadable).
    """

    def __init__(self, every_s: float = 60.0, stream=None):
        super().__init__()
        self.every_s, self.stream = every_s, stream
        self._enabled = True
        self._start: tuple[float, int] = (0.0, 0)  # (time, step) at the start of training
        self._last_line = 0.0
        self._last_step: int | None = None

    def disable(self) -> None:
        self._enabled = False

    def enable(self) -> None:
        self._enabled = True

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._start = (clock(), trainer.global_step)
        self._last_line = self._start[0]

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args: Any) -> None:
        if clock() - self._last_line >= self.every_s:
            self._write(trainer, pl_module)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.sanity_checking and trainer.state.fn == TrainerFn.FITTING:
            self._write(trainer, pl_module)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.global_step != self._last_step:  # not already said by a final validation
            # no time left to give: a run stopped short of its total (its time limit reached) said
            # "0:11:07 left" on its last line
            self._write(trainer, pl_module, final=True)

    def line(self, trainer: pl.Trainer, pl_module: pl.LightningModule, final: bool = False) -> str:
        """``step 1200/6000, 11.8 steps/s, 0:06:47 left, train/loss=1.31, val/loss=1.29`` (``final``:
        the line at the end of training, without the time left)."""
        now, step = clock(), trainer.global_step
        start_time, start_step = self._start
        total = trainer.max_steps if trainer.max_steps and trainer.max_steps > 0 else None
        rate = (step - start_step) / (now - start_time) if now > start_time else 0.0
        parts = [f"step {step}/{total}" if total else f"step {step}"]
        if rate > 0:
            parts.append(f"{rate:.3g} steps/s")
            if total and not final:
                left = round(max(total - step, 0) / rate)
                parts.append(f"{left // 3600}:{left // 60 % 60:02d}:{left % 60:02d} left")
        for key, value in self.get_metrics(trainer, pl_module).items():
            if key != "v_num":
                parts.append(f"{key}={value:.4g}" if isinstance(value, float) else f"{key}={value}")
        return ", ".join(parts)

    def _write(self, trainer: pl.Trainer, pl_module: pl.LightningModule, final: bool = False) -> None:
        self._last_line, self._last_step = clock(), trainer.global_step
        if self._enabled:
            print(self.line(trainer, pl_module, final), file=self.stream or sys.stderr, flush=True)
