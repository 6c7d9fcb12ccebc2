"""The LightningModules of sciPT.

:class:`PretrainModule` couples a backbone with a pre-training objective. It never builds data or a
trainer and knows no domain: a domain hands it a backbone and an objective, Lightning runs it.

An objective is an ``nn.Module`` whose ``forward(backbone, batch, generator=None)`` returns
``(loss, metrics)`` with ``metrics`` a dict of scalar tensors; ``generator`` makes its randomness
(masking, noise) reproducible, which validation uses so that every evaluation sees the same masks.
A metric may be missing from a batch that lacks its quantity (force errors of a batch of frames
without forces). An objective whose metrics are means over something other than the batch's
examples (force components, frames with a stress, masked tokens) says so with
``metric_counts(batch)``, called after its forward on ``batch``: the number of values each metric
(and ``loss``, if listed) averages in it; anything it does not list counts the batch's examples.

Logging. A training step's metrics are logged as its rank saw them, unsynchronised (see
:class:`StepMetrics`). Validation metrics are means over the epoch and every rank, each weighted by
its own count, with the names agreed on by the ranks first (see :class:`ValidationMeans`).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping

import lightning.pytorch as pl
import numpy as np
import torch
from torch import nn
from torch.distributed.tensor import DTensor

from .schedules import apply_current_rates, build_scheduler
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


def adamw(groups: list[dict], lr: float) -> torch.optim.AdamW:
    """AdamW as pre-training and fine-tuning both use it: beta2 0.98 and eps 1e-6, the settings of
    RoBERTa (Liu et al., 2019), who found beta2 0.98 steadier than Adam's 0.999 for transformers
    trained with large batches, and training sensitive to eps (PyTorch's default: 1e-8)."""
    return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.98), eps=1e-6)


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


def examples(batch, known: int | None = None) -> int:
    """The examples in ``batch``: ``known`` when given, else :func:`batch_size`, else as Lightning
    infers it (the first dimension of the first tensor), else 1."""
    if known is not None:
        return known
    n = batch_size(batch)
    if n is not None:
        return n
    from lightning.fabric.utilities.exceptions import MisconfigurationException
    from lightning.pytorch.utilities.data import extract_batch_size

    try:
        return extract_batch_size(batch)
    except MisconfigurationException:  # a batch without a tensor
        return 1


def metric_counts(objective, batch) -> dict[str, int]:
    """``objective.metric_counts(batch)`` (module docstring), ``{}`` for an objective without it."""
    counts = getattr(objective, "metric_counts", None)
    return counts(batch) if counts is not None else {}


def is_root_mean_square(name: str) -> bool:
    """Whether metric ``name`` is a root mean square (``rmse`` in its name, as every objective names
    one): means over batches and ranks then combine its squares, not its values."""
    return "rmse" in name


def is_perplexity(name: str) -> bool:
    """Whether metric ``name`` is a perplexity, the exponential of a mean cross-entropy: means over
    batches and ranks then combine its logarithms (the cross-entropies), not its values."""
    return "perplexity" in name


class StepMetrics:
    """Logs each training step's metrics as its rank computed them: ``train/<name>``, no
    synchronisation (a step's logged value is rank 0's batch, as Lightning's progress bar shows).

    Lightning writes, at each logging step, the last value every key was given; a metric missing
    from the step's batch (force errors of a batch without forces) would be written as the value of
    some earlier batch. Every name seen so far is therefore logged at every step, ``nan`` when the
    batch did not have it.
    """

    def __init__(self):
        self.names: dict[str, None] = {}  # ordered set: a stable logging order

    def log(self, module: pl.LightningModule, metrics: dict, n: int | None) -> None:
        self.names.update(dict.fromkeys(metrics))
        for name in self.names:
            module.log(f"train/{name}", metrics.get(name, math.nan), batch_size=n)


class ValidationMeans:
    """Validation metrics over an epoch and every rank, each weighted by its own count.

    A metric's value is ``sum_b c_b m_b / sum_b c_b`` over the batches ``b`` of every rank, with
    ``c_b`` its count in batch ``b`` (:func:`metric_counts`): force errors are means over force
    components, and a batch without forces adds nothing to them (rather than a frame-weighted
    value, or a zero). A root mean square (a name holding ``rmse``) is combined as the root of the
    weighted mean of its squares: the RMSE over every value, not a mean of the batches' RMSEs; a
    perplexity likewise as the exponential of the weighted mean of its logarithms.

    The ranks agree on the names before anything is logged. A rank whose share of the validation
    set holds no frame with forces never sees a force metric; had each rank logged what it saw,
    Lightning's end-of-epoch synchronisation, one collective per key and rank, would pair different
    keys or wait forever. Each rank logs the same keys, in the same order: every name some rank saw.
    """

    def __init__(self):
        self.reset()

    def reset(self) -> None:
        self.sums: dict[str, float] = {}
        self.counts: dict[str, int] = {}

    def add(self, metrics: dict, counts: dict[str, int], n: int) -> None:
        """One batch's ``metrics``, each counted ``counts[name]`` times (default ``n``)."""
        for name, value in metrics.items():
            count = int(counts.get(name, n))
            if count <= 0:
                continue
            value = float(value)
            if is_root_mean_square(name):
                value *= value
            elif is_perplexity(name):
                value = math.log(value)
            self.sums[name] = self.sums.get(name, 0.0) + count * value
            self.counts[name] = self.counts.get(name, 0) + count

    def compute(self, trainer: pl.Trainer, device: torch.device) -> dict[str, float]:
        """The epoch's metrics over every rank (collectives: every rank must call it)."""
        names = sorted(self.counts)
        if trainer.world_size > 1:
            import torch.distributed as dist

            gathered = [None] * trainer.world_size
            dist.all_gather_object(gathered, names)
            names = sorted(set().union(*gathered))
        totals = [(self.sums.get(k, 0.0), float(self.counts.get(k, 0))) for k in names]
        if trainer.world_size > 1 and names:
            import torch.distributed as dist

            # on the module's device: NCCL reduces GPU tensors only
            summed = torch.tensor(totals, dtype=torch.float64, device=device)
            dist.all_reduce(summed, op=dist.ReduceOp.SUM)
            totals = summed.cpu().tolist()
        means = {}
        for name, (total, count) in zip(names, totals):
            mean = total / count
            means[name] = (
                math.sqrt(mean)
                if is_root_mean_square(name)
                else math.exp(mean)
                if is_perplexity(name)
                else mean
            )
        return means

    def log(self, module: pl.LightningModule) -> None:
        """Log ``val/<name>`` for every agreed name, then forget the epoch."""
        for name, value in self.compute(module.trainer, module.device).items():
            # the value is already the same on every rank; sync_dist only keeps Lightning from
            # warning that an epoch value was not synchronised (its mean of equal values is the value)
            module.log(f"val/{name}", value, prog_bar=name == "loss", sync_dist=True, batch_size=1)
        self.reset()


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
    return state_digest(module.state_dict())


def state_digest(state: Mapping[str, torch.Tensor], h=None) -> str:
    """SHA-256 of a state dict's names and tensors, in its order (``h``: a hash to continue)."""
    h = hashlib.sha256() if h is None else h
    for name, tensor in state.items():
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
        self.step_metrics = StepMetrics()
        self.val_means = ValidationMeans()
        self.validated_at: int | None = None  # the step of the last validation (pretrain's last one)

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
        self.step_metrics.log(self, metrics, n)
        self.log("train/lr", self.trainer.optimizers[0].param_groups[0]["lr"], batch_size=n)
        return loss

    def on_validation_epoch_start(self):
        self.val_means.reset()

    def validation_step(self, batch, batch_idx):
        # The same masks every time: validation curves then measure the model, not the sampling.
        loss, metrics = self.objective(self.backbone, batch, generator=self._generator(1, batch_idx))
        self.val_means.add({"loss": loss, **metrics}, metric_counts(self.objective, batch), examples(batch))

    def on_validation_epoch_end(self):
        self.val_means.log(self)
        self.validated_at = self.trainer.global_step

    def configure_optimizers(self):
        params = parameter_groups(self, self.train_cfg.weight_decay)
        optimizer = adamw(params, self.train_cfg.lr)
        scheduler = build_scheduler(optimizer, lambda: schedule_total(self), self.train_cfg.schedule)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def on_train_start(self):
        # after a resume: the first step's rate from the schedule this run follows (its total)
        apply_current_rates(self.lr_schedulers())

    def on_train_end(self):
        # Every rank must end with the same weights; a silent divergence (a rank that skipped a
        # step, a non-synchronised buffer) would otherwise only show up as a bad model much later.
        self.rank_digests = agreed_digests(self.trainer, weights_digest(self.backbone))
