"""The LightningModules of sciPT.

:class:`PretrainModule` couples a backbone with a pre-training objective. It never builds data or a
trainer and knows no domain: a domain hands it a backbone and an objective, Lightning runs it.

An objective is an ``nn.Module`` whose ``forward(backbone, batch, generator=None)`` returns
``(loss, metrics)`` with ``metrics`` a dict of scalar tensors; ``generator`` makes its randomness
(masking, noise) reproducible, which validation uses so that every evaluation sees the same masks.
"""

from __future__ import annotations

import hashlib

import lightning.pytorch as pl
import numpy as np
import torch
from torch import nn
from torch.distributed.tensor import DTensor

from .schedules import build_scheduler
from .trainer import TrainConfig, configure_model


def parameter_groups(module: nn.Module, weight_decay: float) -> list[dict]:
    """AdamW groups: decay matrices, not biases, norms or 1-D scales."""
    decay, no_decay = [], []
    for p in module.parameters():
        if not p.requires_grad:
            continue
        (decay if p.ndim >= 2 else no_decay).append(p)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def agreed_digests(trainer: pl.Trainer, digest: str) -> list[str]:
    """Every rank's ``digest`` (gathered over the process group); raises if any differs."""
    gathered = [digest]
    if trainer.world_size > 1:
        import torch.distributed as dist

        gathered = [None] * trainer.world_size
        dist.all_gather_object(gathered, digest)
    if len(set(gathered)) != 1:
        raise RuntimeError(f"ranks ended with different weights: {gathered}")
    return list(gathered)


def batch_size(batch) -> int | None:
    """Examples in a batch: graphs of a PyG batch, rows of a token batch (for logged means)."""
    if hasattr(batch, "num_graphs"):
        return int(batch.num_graphs)
    if isinstance(batch, dict) and "input_ids" in batch:
        return int(batch["input_ids"].shape[0])
    return None


def schedule_total(module: pl.LightningModule) -> int | None:
    """The learning-rate schedule's current total: Lightning's ``max_steps``, read at every step.

    A run sized from its time budget (``train.max_steps: None``) has no total until
    :class:`sciPT.callbacks.TimeBudget` has timed its first steps, then one corrected after each
    validation (and restored from the checkpoint on resume): ``None`` until then, which holds the
    decay at its start (:func:`sciPT.schedules.lr_multiplier`).
    """
    trainer = module._trainer
    steps = trainer.max_steps if trainer is not None else -1
    return steps if steps > 0 else module.train_cfg.max_steps


def weights_digest(module: nn.Module) -> str:
    """SHA-256 of every parameter and buffer, in state-dict order: equal digests, equal weights."""
    h = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        if isinstance(tensor, DTensor):  # a shard of FSDP2: gather it (collective, every rank)
            tensor = tensor.full_tensor()
        h.update(name.encode())
        h.update(
            tensor.detach().to("cpu").contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()
            if tensor.numel()
            else b""
        )
    return h.hexdigest()


class PretrainModule(pl.LightningModule):
    """Backbone + objective, trained with AdamW and a warm-up schedule.

    Args:
        backbone: the network that is exported after training.
        objective: computes ``(loss, metrics)`` for a batch; owns any pre-training head.
        train: optimisation settings (learning rate, weight decay, schedule, seed).
    """

    def __init__(self, backbone: nn.Module, objective: nn.Module, train: TrainConfig):
        super().__init__()
        self.backbone = backbone
        self.objective = objective
        self.train_cfg = train
        self.rank_digests: list[str] = []

    def _generator(self, stream: int, position: int) -> torch.Generator:
        seed = np.random.SeedSequence([self.train_cfg.seed, stream, position, self.global_rank])
        return torch.Generator().manual_seed(int(seed.generate_state(1, np.uint64)[0] >> 1))

    def configure_model(self):
        # sharding (strategy fsdp2), activation checkpointing and compilation: sciPT.trainer
        configure_model(self, self.backbone, self.train_cfg)

    def training_step(self, batch, batch_idx):
        # The objective's randomness (masks, noise) is a function of the batch's position in the
        # run, so a resumed run draws exactly what the uninterrupted one would have drawn.
        accumulate = self.train_cfg.accumulate
        position = self.global_step * accumulate + batch_idx % accumulate
        loss, metrics = self.objective(self.backbone, batch, generator=self._generator(0, position))
        n = batch_size(batch)
        self.log("train/loss", loss, prog_bar=True, batch_size=n)
        for name, value in metrics.items():
            self.log(f"train/{name}", value, batch_size=n)
        self.log("train/lr", self.trainer.optimizers[0].param_groups[0]["lr"], batch_size=n)
        return loss

    def validation_step(self, batch, batch_idx):
        # The same masks every time: validation curves then measure the model, not the sampling.
        loss, metrics = self.objective(self.backbone, batch, generator=self._generator(1, batch_idx))
        n = batch_size(batch)
        self.log("val/loss", loss, prog_bar=True, sync_dist=True, batch_size=n)
        for name, value in metrics.items():
            self.log(f"val/{name}", value, sync_dist=True, batch_size=n)

    def configure_optimizers(self):
        params = parameter_groups(self, self.train_cfg.weight_decay)
        optimizer = torch.optim.AdamW(params, lr=self.train_cfg.lr, betas=(0.9, 0.98), eps=1e-6)
        scheduler = build_scheduler(optimizer, lambda: schedule_total(self), self.train_cfg.schedule)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def on_train_end(self):
        # Every rank must end with the same weights; a silent divergence (a rank that skipped a
        # step, a non-synchronised buffer) would otherwise only show up as a bad model much later.
        self.rank_digests = agreed_digests(self.trainer, weights_digest(self.backbone))
