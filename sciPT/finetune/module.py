"""The fine-tuning LightningModule: pre-trained backbone + new head + strategy + task loss.

The task supplies the loss, ``loss_fn(backbone, head, batch) -> (loss, metrics)``, with ``metrics``
a dict of scalar tensors; it is used for training and validation alike. The module minimises

    ``loss_fn(...) + strategy.penalty(backbone)``

with AdamW over the trainable parameters and the warm-up schedule of :mod:`sciPT.schedules`, and
logs ``train/loss`` (the total), ``train/task_loss``, ``train/penalty``, ``train/lr``, the
strategy's own state (``train/unfrozen_groups`` for gradual unfreezing), ``val/loss`` and
``val/<metric>`` for every metric. A task monitors one of them with Lightning's ``EarlyStopping``.
Validation metrics are means over the epoch and every rank, each weighted by its own count where
``loss_fn`` has a ``metric_counts(batch)`` (as a pre-training objective may, :mod:`sciPT.module`),
else by the batch size; the ranks agree on the names first, so a metric some rank never saw cannot
stall a multi-device run. A subclass that overrides ``on_validation_epoch_end`` must call this one,
which logs them.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

import lightning.pytorch as pl
import torch
from torch import nn

from ..module import (
    StepMetrics,
    ValidationMeans,
    adamw,
    agreed_digests,
    examples,
    metric_counts,
    parameter_groups,
    schedule_total,
    weights_digest,
)
from ..schedules import apply_current_rates, build_scheduler
from ..trainer import TrainConfig, configure_model
from .base import Strategy
from .replay import ReplayBatch

# the fine-tuning strategy's own state in a Lightning checkpoint (:meth:`Strategy.checkpoint_state`)
STRATEGY_STATE_KEY = "sciPT_strategy"

LossFn = Callable[[nn.Module, nn.Module, Any], tuple[torch.Tensor, dict[str, torch.Tensor]]]


class FinetuneModule(pl.LightningModule):
    """Fine-tune ``backbone`` with ``head`` on a task, as ``strategy`` prescribes.

    Optimisation: AdamW with two pairs of parameter groups. The backbone learns at ``train.lr``,
    with ``train.weight_decay`` on its matrices unless the strategy anchors it to its pre-trained
    weights (L2-SP, EWC: then no decay towards zero). Every other parameter (the head, and any in
    ``loss_fn`` or ``replay_loss_fn`` when they are modules) is new and learns at
    ``train.lr * head_lr_multiplier``, with ``train.weight_decay`` on its matrices; so do the
    backbone's own ``head_parameters`` (a potential carries its heads itself).

    Args:
        backbone: the pre-trained network.
        head: the task's new layers.
        loss_fn: ``loss_fn(backbone, head, batch) -> (loss, metrics)``.
        strategy: from :func:`sciPT.finetune.build_strategy`; set up here.
        train: optimisation settings (learning rate, weight decay, schedule, steps).
        head_lr_multiplier: learning-rate factor of the new parameters.
        head_parameters: names of ``backbone`` parameters that are the task's head (the head of a
            multi-head potential being fitted), optimised as new parameters.
        replay_loss_fn: the loss of replayed pre-training examples in a
            :class:`~sciPT.finetune.replay.ReplayBatch` (default ``loss_fn``, for pre-training data
            in the task's own format).
        batch_size_fn: the number of examples in a batch, for weighting logged means; by default
            Lightning infers it.
    """

    def __init__(
        self,
        backbone: nn.Module,
        head: nn.Module,
        loss_fn: LossFn,
        strategy: Strategy,
        train: TrainConfig,
        *,
        head_lr_multiplier: float = 1.0,
        head_parameters: Collection[str] = (),
        replay_loss_fn: LossFn | None = None,
        batch_size_fn: Callable[[Any], int] | None = None,
    ):
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.loss_fn = loss_fn
        self.replay_loss_fn = replay_loss_fn or loss_fn
        self.strategy = strategy
        self.train_cfg = train
        self.head_lr_multiplier = head_lr_multiplier
        self.head_parameters = frozenset(head_parameters)
        self.batch_size_fn = batch_size_fn
        self.rank_digests: list[str] = []
        self.step_metrics = StepMetrics()
        self.val_means = ValidationMeans()
        strategy.setup(backbone)

    def configure_model(self):
        # activation checkpointing and compilation as in pre-training; no sharding, because the
        # strategies (L2-SP, EWC, freezing) hold whole parameters
        configure_model(self, self.backbone, self.train_cfg, shard=False)

    def _batch_size(self, batch: Any) -> int | None:
        return self.batch_size_fn(batch) if self.batch_size_fn is not None else None

    def data_loss(self, batch: Any) -> tuple[torch.Tensor, dict[str, torch.Tensor], int | None]:
        """``(loss, metrics, batch size)`` of a batch, without the strategy's penalty.

        For a :class:`ReplayBatch` the loss is the mean over all its examples,
        ``(n_task * L_task + n_replay * L_replay) / (n_task + n_replay)``; the replayed examples'
        own loss is reported as the metric ``replay_loss``.
        """
        if not isinstance(batch, ReplayBatch):
            loss, metrics = self.loss_fn(self.backbone, self.head, batch)
            return loss, metrics, self._batch_size(batch)
        task_loss, metrics = self.loss_fn(self.backbone, self.head, batch.task)
        replay_loss, _ = self.replay_loss_fn(self.backbone, self.head, batch.replay)
        w = batch.replay_weight
        metrics = {**metrics, "replay_loss": replay_loss.detach()}
        return (1 - w) * task_loss + w * replay_loss, metrics, batch.n_task + batch.n_replay

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        self.strategy.on_total_steps(schedule_total(self))
        self.strategy.on_step(self.trainer.global_step, self.backbone)

    def training_step(self, batch, batch_idx):
        data_loss, metrics, batch_size = self.data_loss(batch)
        penalty = self.strategy.penalty(self.backbone)
        loss = data_loss + penalty
        self.log("train/loss", loss, prog_bar=True, batch_size=batch_size)
        self.log("train/task_loss", data_loss, batch_size=batch_size)
        self.log("train/penalty", penalty, batch_size=batch_size)
        self.step_metrics.log(self, {**metrics, **self.strategy.metrics()}, batch_size)
        lr = self.trainer.optimizers[0].param_groups[0]["lr"]
        self.log("train/lr", lr, batch_size=batch_size)
        return loss

    def on_before_optimizer_step(self, optimizer) -> None:
        # before gradient clipping: dropped gradients must not count in the clipped norm either
        self.strategy.before_optimizer_step(self.backbone)

    def optimizer_step(self, epoch, batch_idx, optimizer, optimizer_closure=None) -> None:
        super().optimizer_step(epoch, batch_idx, optimizer, optimizer_closure)
        # the backbone's groups come first (optimizer_groups), so group 0 holds its learning rate
        self.strategy.after_optimizer_step(self.backbone, optimizer.param_groups[0]["lr"])

    def on_validation_epoch_start(self):
        self.val_means.reset()

    def validation_step(self, batch, batch_idx):
        loss, metrics = self.loss_fn(self.backbone, self.head, batch)
        counts = metric_counts(self.loss_fn, batch)
        self.val_means.add({"loss": loss, **metrics}, counts, examples(batch, self._batch_size(batch)))

    def on_validation_epoch_end(self):
        self.val_means.log(self)

    def optimizer_groups(self) -> list[dict]:
        """AdamW groups: backbone decay / no decay at ``lr``, new parameters at ``lr * mult``."""
        lr, decay = self.train_cfg.lr, self.train_cfg.weight_decay
        pretrained = nn.ParameterList(
            p for n, p in self.backbone.named_parameters() if n not in self.head_parameters
        )
        kept = {id(p) for p in pretrained}
        new = nn.ParameterList(p for p in self.parameters() if id(p) not in kept)
        backbone_decay = decay if self.strategy.decays_backbone else 0.0
        groups = [{**g, "lr": lr} for g in parameter_groups(pretrained, backbone_decay)]
        groups += [{**g, "lr": lr * self.head_lr_multiplier} for g in parameter_groups(new, decay)]
        return [g for g in groups if g["params"]]

    def configure_optimizers(self):
        optimizer = adamw(self.optimizer_groups(), self.train_cfg.lr)
        scheduler = build_scheduler(optimizer, lambda: schedule_total(self), self.train_cfg.schedule)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def on_train_start(self):
        # after a resume: the first step's rate from the schedule this run follows (its total)
        apply_current_rates(self.lr_schedulers())

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint[STRATEGY_STATE_KEY] = self.strategy.checkpoint_state()

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.strategy.restore_state(checkpoint.get(STRATEGY_STATE_KEY, {}))

    def on_train_end(self):
        # As in pre-training, every rank must end with the same weights, head included. Parameters
        # only: DDP broadcasts buffers from rank 0 before each forward, so batch-norm statistics
        # legitimately differ by the last batch on each rank (rank 0's are the ones saved).
        self.rank_digests = agreed_digests(self.trainer, weights_digest(nn.ParameterList(self.parameters())))
