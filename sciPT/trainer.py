"""Training configuration and the Lightning Trainer built from it.

Launching belongs to Lightning: devices, nodes and the strategy are handed to ``lightning.Trainer``
as they are, and Lightning detects SLURM, torchrun (TorchElastic) or starts its own subprocesses.
Nothing here reads a cluster environment variable.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import ModelCheckpoint, TQDMProgressBar
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.plugins.io import TorchCheckpointIO

from .errors import ConfigError
from .schedules import ScheduleConfig


@dataclass
class TrainConfig:
    """How to train, independent of what is trained.

    ``max_time`` is minutes (``"10"``, ``"0.5"``) or Lightning's ``"DD:HH:MM:SS"``; training stops
    at whichever of ``max_steps`` and ``max_time`` comes first. ``batch_size`` is per device;
    the effective batch is ``batch_size * accumulate * devices * num_nodes``.
    """

    devices: int | str = 1
    num_nodes: int = 1
    accelerator: str = "auto"
    strategy: Literal["auto", "ddp", "fsdp"] = "auto"
    precision: str = "32-true"
    max_steps: int = 1000
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


def parse_max_time(value: str | None) -> Any:
    """Minutes as a number, or Lightning's ``DD:HH:MM:SS`` passed through."""
    if value is None:
        return None
    try:
        minutes = float(value)
    except ValueError:
        parts = value.split(":")
        if len(parts) != 4 or not all(p.isdigit() for p in parts):
            raise ConfigError(
                f"train.max_time: expected minutes or DD:HH:MM:SS, got {value!r}"
            ) from None
        return value
    if minutes <= 0:
        raise ConfigError(f"train.max_time: expected a positive number of minutes, got {value!r}")
    return dt.timedelta(minutes=minutes)


def validate(cfg: TrainConfig) -> None:
    for key in ("max_steps", "batch_size", "accumulate", "num_nodes", "log_every", "val_every",
                "checkpoint_every", "val_batches"):
        if getattr(cfg, key) < 1:
            raise ConfigError(f"train.{key}: expected a positive integer, got {getattr(cfg, key)}")
    if cfg.lr <= 0:
        raise ConfigError(f"train.lr: expected a positive learning rate, got {cfg.lr}")
    if isinstance(cfg.devices, str) and cfg.devices != "auto" and not cfg.devices.isdigit():
        raise ConfigError(f"train.devices: expected a count or 'auto', got {cfg.devices!r}")
    parse_max_time(cfg.max_time)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Write checkpoints to a temporary file and rename, so ``last.ckpt`` is never torn."""

    def save_checkpoint(self, checkpoint, path, storage_options=None):
        path = Path(path)
        tmp = path.with_name(f".{path.name}.tmp")
        super().save_checkpoint(checkpoint, tmp, storage_options)
        os.replace(tmp, path)


def _strategy(cfg: TrainConfig, wrap_modules: set[type]) -> Any:
    if cfg.strategy == "fsdp":
        from lightning.pytorch.strategies import FSDPStrategy

        return FSDPStrategy(auto_wrap_policy=wrap_modules or None)
    if cfg.strategy == "ddp":
        from lightning.pytorch.strategies import DDPStrategy

        return DDPStrategy(process_group_backend=None if torch.cuda.is_available() else "gloo")
    return "auto"


def build_trainer(cfg: TrainConfig, run_dir: Path, *, wrap_modules: set[type] = frozenset(),
                  callbacks: list | None = None, enable_val: bool = True) -> pl.Trainer:
    devices = int(cfg.devices) if str(cfg.devices).isdigit() else cfg.devices
    checkpoint = ModelCheckpoint(
        dirpath=run_dir / "checkpoints",
        save_last=True,
        save_top_k=0,
        every_n_train_steps=cfg.checkpoint_every,
    )
    return pl.Trainer(
        accelerator=cfg.accelerator,
        devices=devices,
        num_nodes=cfg.num_nodes,
        strategy=_strategy(cfg, set(wrap_modules)),
        precision=cfg.precision,
        max_steps=cfg.max_steps,
        max_time=parse_max_time(cfg.max_time),
        accumulate_grad_batches=cfg.accumulate,
        gradient_clip_val=cfg.grad_clip or None,
        log_every_n_steps=cfg.log_every,
        # Lightning counts validation intervals in batches, not optimizer steps
        val_check_interval=min(cfg.val_every, cfg.max_steps) * cfg.accumulate if enable_val else None,
        check_val_every_n_epoch=None,
        limit_val_batches=cfg.val_batches if enable_val else 0,
        num_sanity_val_steps=0,
        logger=CSVLogger(run_dir, name="logs", version=""),
        callbacks=[checkpoint, TQDMProgressBar(refresh_rate=max(1, cfg.log_every // 2)),
                   *(callbacks or [])],
        plugins=[AtomicCheckpointIO()],
        # our samplers shard by rank themselves, so data order survives a resume exactly
        use_distributed_sampler=False,
        enable_model_summary=False,
        deterministic=False,
    )
