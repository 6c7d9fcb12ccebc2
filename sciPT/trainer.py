"""Training configuration and the Lightning Trainer built from it.

Launching belongs to Lightning: devices, nodes and the strategy are handed to ``lightning.Trainer``
as they are, and Lightning detects SLURM, torchrun (TorchElastic) or starts its own subprocesses.
Nothing here reads a cluster environment variable.

Steps or time. ``train.max_steps`` bounds a run in optimizer steps, ``train.max_time`` in wall-clock
training time; with both, whichever comes first stops it and the learning-rate schedule spans the
steps. With ``max_steps: none`` the run is *sized from its time budget*: it trains until
``max_time`` is spent, and its schedule anneals by then (:class:`sciPT.callbacks.TimeBudget`); the
step count it settled on is reported as ``steps_sized_from_time`` (:func:`sized_steps`). On the
command line, setting ``--max-time`` (or ``train.max_time`` in ``--config``) without setting
``--max-steps`` anywhere above the preset means this (:func:`time_only`): a time budget is not cut
short by a preset's step count. Closed-form fits (the surrogates) train no steps, and ``max_time``
does not apply to them.

Strategies. ``ddp`` replicates the model (gloo on CPU, NCCL on GPUs). ``fsdp`` is Lightning's
``FSDPStrategy`` (torch's FSDP1, one shard unit per block the backbone lists in ``fsdp_wrap``); it
needs CUDA: Lightning refuses ``accelerator="cpu"`` and torch's FSDP1 itself raises "FSDP needs a
non-CPU accelerator device" on CPU. ``fsdp2`` is Lightning's ``ModelParallelStrategy`` with every
rank in one data-parallel mesh and no tensor parallelism: :func:`configure_model` applies torch's
``fully_shard`` (FSDP2) to each ``fsdp_wrap`` block, then to the backbone and the objective; it
runs on CPU with gloo (tested in tests/integration/test_fsdp.py) and on GPUs. Its checkpoints hold
the *full* state (gathered on rank 0, ``save_distributed_checkpoint=False``), so ``scipt export``
and resuming read them with ``torch.load(weights_only=True)``; a per-rank sharded checkpoint
(torch.distributed.checkpoint) is not used because its metadata file is a pickle, and sciPT never
unpickles a checkpoint.

Activation checkpointing and compilation (``train.activation_checkpointing``, ``train.compile``) are
applied by :func:`configure_model` too, once the model is on its device: see :class:`TrainConfig`.

Importing this module does not import Lightning or torch (the command line starts fast, and
configs are read before any of it is needed); :func:`build_trainer` imports them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import math
import os
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from .errors import ConfigError
from .schedules import ScheduleConfig

if TYPE_CHECKING:
    import lightning.pytorch as pl


@dataclass
class TrainConfig:
    """How to train, independent of what is trained.

    ``max_time`` is minutes (``"10"``, ``"0.5"``) or Lightning's ``"DD:HH:MM:SS"``; training stops
    at whichever of ``max_steps`` and ``max_time`` comes first. ``max_steps: None`` needs
    ``max_time``: the run then trains for that long, its step count (and the schedule's total)
    measured during the run (module docstring). ``batch_size`` is per device; the effective batch
    is ``batch_size * accumulate * devices * num_nodes``. Its loss is the mean over micro-batches
    and devices of each micro-batch's own mean (over its masked tokens, for a masked LM), as in
    Lightning and nanoGPT, not one mean over every token of the step: a micro-batch with fewer
    targets weighs each of them more (shipped proteome, batches of 32 windows of 128: 557 to 608
    masked tokens, so up to 8 %).

    ``strategy``: ``auto``, ``ddp``, ``fsdp`` (CUDA only) or ``fsdp2`` (module docstring).
    ``num_nodes``: the nodes of a torchrun or SLURM launch, which Lightning detects itself.

    ``activation_checkpointing``: recompute each block's activations in the backward pass instead
    of keeping them (``torch.utils.checkpoint``, non-reentrant) for backbones that support it (the
    sequence transformer): less memory, about one more forward pass of time. ``compile``:
    ``torch.compile`` the backbone (its weights and state-dict keys are unchanged). Both apply to
    pre-training (:class:`sciPT.module.PretrainModule`). Both are off by default: on the CPU they
    were measured on (DNA ``tiny`` and ``small``, benchmarks/checkpoint_compile.py, table in
    benchmarks/RESULTS.md, "Activation checkpointing and torch.compile on the CPU"), neither made a
    step faster beyond two standard errors, and only checkpointing lowered the peak memory (of
    ``small``, not of ``tiny``), by recomputing; turn it on when memory, not time, is the limit.
    On GPUs: benchmarks/gpu_check.py.

    Attributes:
        max_steps: optimizer steps to train; ``None``: as many as ``max_time`` allows (the run is
            sized from its time budget).
        devices: devices per node, a count or ``auto`` (Lightning's ``devices``).
        num_nodes: nodes of a multi-node (torchrun or SLURM) launch; Lightning detects the rest.
        accelerator: Lightning's accelerator: ``auto``, ``cpu``, ``gpu``, ``cuda``, ``mps``, ...
        strategy: how several devices train: ``auto``, ``ddp`` (replicas), ``fsdp`` (sharded, CUDA
            only) or ``fsdp2`` (sharded, CPU or GPU).
        precision: Lightning's precision: ``32-true``, ``bf16-mixed``, ``16-mixed``, ``64-true``, ...
        max_time: wall-clock training budget, minutes (``10``, ``0.5``) or ``DD:HH:MM:SS``; with
            ``max_steps`` whichever comes first stops the run; ``None``: no time limit.
        batch_size: examples (sequence windows, frames) per device per forward pass.
        accumulate: batches whose gradients are summed into one optimizer step (1: none).
        lr: peak AdamW learning rate, reached after the schedule's warm-up (betas 0.9 and 0.98, eps
            1e-6: :func:`sciPT.module.adamw`).
        weight_decay: AdamW weight decay of the weight matrices (not of biases, norms or scales).
        grad_clip: largest gradient norm; larger gradients are scaled down to it (0: no clipping).
        seed: seeds the initial weights, the data order and the random splits.
        log_every: optimizer steps between logged training metrics (a run of fewer steps logs
            once, at its last).
        val_every: optimizer steps between validations.
        val_batches: batches per validation.
        checkpoint_every: optimizer steps between checkpoints (``checkpoints/last.ckpt``, the
            one ``--resume`` continues from).
        num_workers: data-loading worker processes (0: load in the training process).
        activation_checkpointing: recompute each block's activations in the backward pass: less
            memory, about one more forward pass of time (the sequence transformer only).
        compile: ``torch.compile`` the backbone.
    """

    devices: int | str = 1
    num_nodes: int = 1
    accelerator: str = "auto"
    strategy: Literal["auto", "ddp", "fsdp", "fsdp2"] = "auto"
    precision: str = "32-true"
    max_steps: int | None = 1000
    max_time: str | None = None
    batch_size: int = 32
    accumulate: int = 1
    lr: float = 1e-3
    weight_decay: float = 0.01
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    grad_clip: float = 1.0
    seed: int = 0
    log_every: int = 10
    val_every: int = 200
    val_batches: int = 20
    checkpoint_every: int = 200
    num_workers: int = 0
    activation_checkpointing: bool = False
    compile: bool = False


def parse_max_time(value: str | None) -> Any:
    """Minutes as a number, or Lightning's ``DD:HH:MM:SS`` passed through."""
    if value is None:
        return None
    try:
        minutes = float(value)
    except ValueError:
        parts = value.split(":")
        if len(parts) != 4 or not all(p.isdigit() for p in parts):
            raise ConfigError(f"train.max_time: expected minutes or DD:HH:MM:SS, got {value!r}") from None
        if not any(int(p) for p in parts):
            raise ConfigError(f"train.max_time: expected a positive time, got {value!r}") from None
        return value
    if not math.isfinite(minutes) or minutes <= 0:  # inf: no limit is no --max-time
        raise ConfigError(f"train.max_time: expected a positive number of minutes, got {value!r}")
    return dt.timedelta(minutes=minutes)


def max_time_seconds(value: str | None) -> float | None:
    """``train.max_time`` in seconds (``None`` when unset)."""
    parsed = parse_max_time(value)
    if parsed is None:
        return None
    if isinstance(parsed, str):
        days, hours, minutes, seconds = map(int, parsed.split(":"))
        parsed = dt.timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
    return parsed.total_seconds()


def time_only(cfg: TrainConfig, *, steps_set: bool, time_set: bool) -> TrainConfig:
    """The training config a command runs, given which keys the user set above the preset.

    ``steps_set``: ``train.max_steps`` was set by ``--config`` or ``--max-steps``;
    ``time_set``: ``train.max_time`` was, by either. A time budget without a step count means
    "train for that long": ``max_steps`` becomes ``None`` (sized from the time), rather than the
    preset's step count silently ending the run first. Anything else is returned unchanged (both
    set: whichever comes first stops the run). Returns a copy; ``cfg`` is not modified.
    """
    if time_set and not steps_set and cfg.max_time is not None:
        return dataclasses.replace(cfg, max_steps=None)
    return cfg


SEED_LIMIT = 2**32
"""Seeds are 0 to 2**32 - 1: NumPy's and scikit-learn's generators take no other."""


# Lightning's accelerator names; another failed inside Trainer() with a traceback, after the run
# directory was written
ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps", "tpu", "hpu")


def validate(cfg: TrainConfig) -> None:
    if cfg.accelerator not in ACCELERATORS:
        raise ConfigError(
            f"train.accelerator: expected one of {', '.join(ACCELERATORS)}, got {cfg.accelerator!r}"
        )
    if cfg.accelerator in ("gpu", "cuda"):
        import torch

        if not torch.cuda.is_available():
            raise ConfigError(
                f"train.accelerator: {cfg.accelerator!r} asked for, and torch sees no CUDA GPU on this "
                "machine; expected cpu or auto here"
            )
    if cfg.max_steps is None and cfg.max_time is None:
        raise ConfigError(
            "train.max_steps: none needs train.max_time (a run without a step count "
            "trains for its time budget); set one of them"
        )
    for key in (
        "max_steps",
        "batch_size",
        "accumulate",
        "num_nodes",
        "log_every",
        "val_every",
        "checkpoint_every",
        "val_batches",
    ):
        if key == "max_steps" and cfg.max_steps is None:
            continue
        if getattr(cfg, key) < 1:
            raise ConfigError(f"train.{key}: expected a positive integer, got {getattr(cfg, key)}")
    if not 0 < cfg.lr < math.inf:
        raise ConfigError(f"train.lr: expected a positive learning rate, got {cfg.lr}")
    if not 0 <= cfg.seed < SEED_LIMIT:
        raise ConfigError(f"train.seed: expected an integer from 0 to {SEED_LIMIT - 1}, got {cfg.seed}")
    for key in ("weight_decay", "grad_clip", "num_workers"):
        if not 0 <= getattr(cfg, key) < math.inf:
            raise ConfigError(f"train.{key}: expected 0 or more, got {getattr(cfg, key)}")
    if cfg.devices not in ("auto", -1, "-1") and not (str(cfg.devices).isdigit() and int(cfg.devices) >= 1):
        raise ConfigError(
            f"train.devices: expected a positive count, -1 (all) or 'auto', got {cfg.devices!r}"
        )
    on_cpu = cfg.accelerator == "cpu" or (cfg.accelerator == "auto" and not _has_cuda())
    if str(cfg.devices) == "-1" and on_cpu:
        raise ConfigError(
            "train.devices: -1 means every GPU, and this run is on the CPU; expected a count of "
            "processes (1, 2, ...) or 'auto'"
        )
    if str(cfg.precision) not in PRECISIONS:
        raise ConfigError(f"train.precision: expected one of {', '.join(PRECISIONS)}, got {cfg.precision!r}")
    if str(cfg.precision) in ("16-mixed", "16") and on_cpu:
        # Lightning trains it as bf16-mixed, with a warning, while the run records 16-mixed and the
        # gradient scaler the README describes does not exist
        raise ConfigError(
            f"train.precision: {cfg.precision} (float16 mixed precision) needs a CUDA GPU; on the CPU "
            "use bf16-mixed, which Lightning would train instead"
        )
    if str(cfg.precision).startswith("transformer-engine"):
        from importlib.util import find_spec

        if find_spec("transformer_engine") is None:  # refused by Lightning after config.yaml was written
            raise ConfigError(
                f"train.precision: {cfg.precision} needs NVIDIA's transformer_engine, which is not "
                "installed (pip install transformer_engine, on a machine with CUDA GPUs)"
            )
    parse_max_time(cfg.max_time)
    validate_schedule(cfg.schedule)
    if cfg.strategy == "fsdp" and on_cpu:
        raise ConfigError(
            "train.strategy: fsdp (FSDP1) needs CUDA GPUs; on the CPU use fsdp2 (FSDP2, "
            "sharded over gloo) or ddp"
        )
    check_launch(cfg)  # last: it imports Lightning, which the checks above do without


PRECISIONS = ("32-true", "64-true", "bf16-mixed", "16-mixed", "bf16-true", "16-true", "transformer-engine")
PRECISIONS += ("transformer-engine-float16", "32", "64", "bf16", "16")
"""Lightning's ``precision`` values, checked before a run directory is made (Lightning would refuse
them only once the trainer is built, after ``config.yaml`` was written)."""


def check_launch(cfg: TrainConfig) -> None:
    """Refuse, before anything is written, the node and device counts that the launch Lightning
    detects (torchrun, SLURM, LSF, MPI) does not match, by Lightning's own check (it made the same
    refusal as a traceback once training started), and several nodes without any launch: each rank
    then waited half an hour for nodes nobody had started."""
    from lightning.fabric.plugins.environments import (
        LSFEnvironment,
        MPIEnvironment,
        SLURMEnvironment,
        TorchElasticEnvironment,
    )

    detected = next(
        (
            env()
            for env in (TorchElasticEnvironment, SLURMEnvironment, LSFEnvironment, MPIEnvironment)
            if env.detect()
        ),
        None,
    )
    if detected is None:
        # Lightning's own environment: nodes started by hand, each told its rank and the main node
        told = any(key in os.environ for key in ("NODE_RANK", "GROUP_RANK", "MASTER_ADDR", "LOCAL_RANK"))
        if cfg.num_nodes > 1 and not told:
            raise ConfigError(
                f"train.num_nodes: {cfg.num_nodes} nodes, and no launch of several was found "
                "(torchrun, SLURM's srun, LSF, MPI, or NODE_RANK and MASTER_ADDR set on every node); "
                "run the command on every node through one of them"
            )
        if cfg.num_nodes > 1:
            from lightning.fabric.plugins.environments import LightningEnvironment

            say_waiting(LightningEnvironment(), cfg.num_nodes)
        return
    if str(cfg.devices).isdigit():
        try:
            detected.validate_settings(num_devices=int(cfg.devices), num_nodes=cfg.num_nodes)
        except ValueError as err:
            raise ConfigError(f"train.devices, train.num_nodes: {err}") from None
    if cfg.num_nodes > 1:
        say_waiting(detected, cfg.num_nodes)


def say_waiting(environment, num_nodes: int) -> None:
    """One line, from the first process of the first node, before the ranks meet: a node not
    started (a second command forgotten, a job step that failed) left every rank waiting in
    silence for torch's 30 minutes."""
    if environment.node_rank() == 0 and environment.local_rank() == 0:
        print(
            f"note: train.num_nodes {num_nodes}: the ranks meet at {environment.main_address}:"
            f"{environment.main_port}; until every node's have started, this run waits there "
            "(torch gives up after 30 minutes)",
            file=sys.stderr,
        )


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def validate_schedule(cfg: ScheduleConfig) -> None:
    if cfg.warmup_steps < 0:
        raise ConfigError(f"train.schedule.warmup_steps: expected 0 or more, got {cfg.warmup_steps}")
    if not 0 <= cfg.min_lr_ratio <= 1:
        raise ConfigError(
            f"train.schedule.min_lr_ratio: expected a fraction of train.lr from 0 to 1, got {cfg.min_lr_ratio}"
        )
    if cfg.gamma <= 0:
        raise ConfigError(f"train.schedule.gamma: expected a positive factor, got {cfg.gamma}")
    if cfg.step_size < 1:
        raise ConfigError(f"train.schedule.step_size: expected a positive integer, got {cfg.step_size}")


def __getattr__(name: str):
    # the Lightning classes that used to live here, imported on first use
    if name in ("AtomicCheckpointIO", "TimeBudget"):
        from . import callbacks

        return getattr(callbacks, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def time_budget_callbacks(cfg: TrainConfig, every: int | None = None) -> list:
    """``[TimeBudget]`` for a run sized from its time budget (``max_steps: None``), else ``[]``.

    ``every``: re-estimate every this many steps besides after each validation."""
    if cfg.max_steps is not None:
        return []
    from .callbacks import TimeBudget

    return [TimeBudget(max_time_seconds(cfg.max_time), every=every)]


def sized_steps(trainer: pl.Trainer) -> int | None:
    """The total steps a time-sized run settled on (for metrics.json), or ``None``."""
    from .callbacks import TimeBudget

    budgets = [c for c in trainer.callbacks if isinstance(c, TimeBudget)]
    return budgets[0].total_steps if budgets else None


def check_backbone(cfg: TrainConfig, backbone: Any) -> None:
    """Raise :class:`ConfigError` if ``backbone`` cannot train as ``cfg`` asks (checked before a
    run directory is written)."""
    if cfg.activation_checkpointing and not getattr(backbone, "supports_activation_checkpointing", False):
        raise ConfigError(
            f"train.activation_checkpointing: the {type(backbone).__name__} backbone does not support it "
            "(the sequence transformer does)"
        )


def configure_model(module: pl.LightningModule, backbone: Any, cfg: TrainConfig, shard: bool = True) -> None:
    """Lightning's ``configure_model`` hook for a module training ``backbone`` as ``cfg`` says.

    In order: activation checkpointing (a flag the backbone reads in its forward pass), FSDP2
    sharding (``fsdp2``: each block in ``backbone.fsdp_wrap``, then each child of ``module``, the
    backbone and the objective, over the data-parallel mesh Lightning built), then
    ``torch.compile`` of the backbone. Lightning may call the hook again on a module already
    prepared; that changes nothing. ``shard=False`` leaves sharding out (fine-tuning: its
    strategies anchor whole parameters).
    """
    check_backbone(cfg, backbone)
    if cfg.activation_checkpointing:
        backbone.activation_checkpointing = True
    if shard and cfg.strategy == "fsdp2":
        from torch.distributed.fsdp import FSDPModule, fully_shard

        if not isinstance(backbone, FSDPModule):
            mesh = module.device_mesh["data_parallel"]
            wrap = tuple(getattr(backbone, "fsdp_wrap", ()))
            for sub in backbone.modules():
                if wrap and isinstance(sub, wrap):
                    fully_shard(sub, mesh=mesh)
            # Each child (backbone, objective) is its own unit, not the LightningModule: FSDP2
            # gathers a unit's weights in a hook on its forward, and the training step calls the
            # children, never the LightningModule's own forward.
            for child in module.children():
                if any(p.requires_grad for p in child.parameters()):
                    fully_shard(child, mesh=mesh)
    if cfg.compile and getattr(backbone, "_compiled_call_impl", None) is None:
        backbone.compile()  # in place: parameter names and state-dict keys stay as they are


def _strategy(cfg: TrainConfig, wrap_modules: set[type]) -> Any:
    import torch

    if cfg.strategy == "fsdp2":
        from lightning.pytorch.strategies import ModelParallelStrategy

        class FSDP2Strategy(ModelParallelStrategy):
            """All ranks shard one model: data-parallel size = nodes x devices per node, no
            tensor parallelism (both known once Lightning has resolved the devices)."""

            def setup_environment(self) -> None:
                self._data_parallel_size = self.num_nodes * self.num_processes
                self._tensor_parallel_size = 1
                super().setup_environment()

        return FSDP2Strategy(
            save_distributed_checkpoint=False,
            process_group_backend=None if torch.cuda.is_available() else "gloo",
        )
    if cfg.strategy == "fsdp":
        from lightning.pytorch.strategies import FSDPStrategy

        return FSDPStrategy(auto_wrap_policy=wrap_modules or None)
    if cfg.strategy == "ddp":
        from lightning.pytorch.strategies import DDPStrategy

        return DDPStrategy(process_group_backend=None if torch.cuda.is_available() else "gloo")
    return "auto"


def _drop_lightning_tip(record: logging.LogRecord) -> bool:
    return not str(record.msg).startswith("💡 Tip")


def drop_lightning_noise() -> None:
    """Silence what Lightning prints that a user can neither act on nor should believe here: its
    advertising tips, the "previous log files ... will be deleted" warning of a resumed run (the
    earlier ``metrics.csv`` was kept as ``metrics.partN.csv``, :func:`sciPT.plots.keep_log_for_resume`,
    and Lightning deletes nothing else), its own use of a torch API torch has deprecated, and, when a
    run started with a time budget is resumed with ``--max-steps`` alone, its advice to add back the
    timing callbacks (the budget gives way by design: :func:`time_only`), and its advice on machines
    of more than 2 cores to add data-loading workers in words that are not the package's."""
    rank_zero = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    if _drop_lightning_tip not in rank_zero.filters:
        rank_zero.addFilter(_drop_lightning_tip)
    warnings.filterwarnings("ignore", message=r"Experiment logs directory .* exists and is not empty")
    warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated")
    # its advice names a DataLoader argument the user never sees: --num-workers sets it (README)
    warnings.filterwarnings("ignore", message=r"The '\w+' does not have many workers")
    warnings.filterwarnings(
        "ignore",
        message=r"Be aware that when using `ckpt_path`.* callbacks: \[('(TimeBudget|Timer)'(, )?)+\]\.$",
    )


def build_trainer(
    cfg: TrainConfig,
    run_dir: Path,
    *,
    wrap_modules: set[type] = frozenset(),
    callbacks: list | None = None,
    enable_val: bool = True,
) -> pl.Trainer:
    """A Lightning Trainer as ``cfg`` says, logging and checkpointing into ``run_dir``.

    With ``cfg.max_steps`` ``None`` the training stream is endless and :class:`TimeBudget` sets
    the stop (and the schedule's total) from ``cfg.max_time``, which stays the hard stop."""
    import lightning.pytorch as pl
    from lightning.pytorch.callbacks import ModelCheckpoint, TQDMProgressBar
    from lightning.pytorch.loggers import CSVLogger

    from .callbacks import AtomicCheckpointIO, LogLineProgress, StopAtStepBoundary, StopOnNonFinite

    drop_lightning_noise()

    devices = int(cfg.devices) if str(cfg.devices).isdigit() else cfg.devices
    sized = cfg.max_steps is None
    val_every = cfg.val_every if sized else min(cfg.val_every, cfg.max_steps)
    # A run shorter than the logging interval would log no training metric at all (and Lightning
    # warns so): it logs once, at its last step. Longer runs and time-sized ones are unchanged.
    log_every = cfg.log_every if sized else min(cfg.log_every, cfg.max_steps)
    checkpoint = ModelCheckpoint(
        dirpath=run_dir / "checkpoints",
        save_last=True,
        save_top_k=0,
        every_n_train_steps=cfg.checkpoint_every,
        # a run directory copied or moved, then resumed: its checkpoint remembers the old folder,
        # and with the counter Lightning wrote last-v1.ckpt, last-v2.ckpt... beside a last.ckpt that
        # --resume, the export and `scipt export` go on reading (steps lost without a word)
        enable_version_counter=False,
    )
    return pl.Trainer(
        accelerator=cfg.accelerator,
        devices=devices,
        num_nodes=cfg.num_nodes,
        strategy=_strategy(cfg, set(wrap_modules)),
        precision=cfg.precision,
        max_steps=-1 if sized else cfg.max_steps,
        max_epochs=-1,  # steps or time end a run, never epochs (a stream has one endless epoch)
        max_time=parse_max_time(cfg.max_time),
        accumulate_grad_batches=cfg.accumulate,
        gradient_clip_val=cfg.grad_clip or None,
        log_every_n_steps=log_every,
        # Lightning counts validation intervals in batches, not optimizer steps
        val_check_interval=val_every * cfg.accumulate if enable_val else None,
        check_val_every_n_epoch=None,
        limit_val_batches=cfg.val_batches if enable_val else 0,
        num_sanity_val_steps=0,
        logger=CSVLogger(run_dir, name="logs", version=""),
        # where Lightning saves the state when SLURM signals a job before its time limit
        # (hpc_ckpt_<n>.ckpt, sciPT.run.RunDir.resume_checkpoint), not the working directory
        default_root_dir=run_dir,
        callbacks=[
            checkpoint,
            StopOnNonFinite(cfg.lr),
            StopAtStepBoundary(),
            # a bar that redraws itself belongs on a terminal; a batch job's log gets lines
            TQDMProgressBar(refresh_rate=max(1, cfg.log_every // 2))
            if sys.stdout.isatty()
            else LogLineProgress(),
            *time_budget_callbacks(cfg, every=min(cfg.val_every, cfg.checkpoint_every)),
            *(callbacks or []),
        ],
        plugins=[AtomicCheckpointIO()],
        # our samplers shard by rank themselves, so data order survives a resume exactly
        use_distributed_sampler=False,
        enable_model_summary=False,
        deterministic=False,
    )
