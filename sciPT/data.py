"""Data loading shared by every domain: deterministic, rank-sharded, resumable.

Pre-training data here is a stream of samples indexed by a *global sample number* ``g``; sample
``g`` is a pure function of ``(seed, g)`` (a random window of a genome, a random crop of a
protein, ...). Batch ``b`` of rank ``r`` in a world of ``R`` ranks holds the samples
``g = (b * R + r) * batch_size + i``. Two consequences:

- ranks never see the same sample, without a DistributedSampler;
- a resumed run restarts at batch ``global_step * accumulate``, so it sees exactly the batches the
  uninterrupted run would have seen (tested in tests/integration/test_resume.py).

A run resumed with another number of samples per optimizer step (``--devices``, ``--batch-size``,
``--accumulate`` changed: a requeued job on fewer nodes) goes on from the first sample the run has
not drawn, which the checkpoint records (:meth:`StepDataModule.state_dict`): numbered as above,
the samples of the new layout would repeat some already trained on or skip others.

A sharded corpus (:class:`sciPT.streaming.RankSharded`) is a different dataset on every rank,
built from the rank's own shards once the rank is known (when the loader is made); its samples are
numbered per rank, batch ``b`` holding samples ``b * batch_size + i`` of the rank's dataset, which
keeps both properties (tested in tests/integration/test_streaming_ddp.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import count

import lightning.pytorch as pl
import torch
from torch.utils.data import DataLoader, Dataset

from .errors import DataError, UserError
from .run import say
from .streaming import RankSharded


class StepBatchSampler:
    """Yields the global sample numbers of batches ``start .. total - 1`` for one rank.

    ``total_batches=None`` makes the stream endless, without a length (Lightning then counts it as
    one infinite epoch): a run sized from its time budget stops when the budget says so.
    ``first_sample``: the global number batch ``start`` begins at, for all ranks together
    (default ``start * world_size * batch_size``, where an unchanged layout puts it).
    """

    def __init__(
        self,
        batch_size: int,
        total_batches: int | None,
        rank: int = 0,
        world_size: int = 1,
        start: int = 0,
        first_sample: int | None = None,
    ):
        self.batch_size, self.total = batch_size, total_batches
        self.rank, self.world_size, self.start = rank, world_size, start
        self.first_sample = start * world_size * batch_size if first_sample is None else first_sample

    def __iter__(self) -> Iterator[list[int]]:
        for b in range(self.start, self.total) if self.total is not None else count(self.start):
            first = self.first_sample + ((b - self.start) * self.world_size + self.rank) * self.batch_size
            yield list(range(first, first + self.batch_size))

    def __len__(self) -> int:
        if self.total is None:
            raise TypeError("an endless stream of batches has no length")
        return self.total


def step_loader(
    dataset: Dataset,
    collate: Callable,
    *,
    batch_size: int,
    total_batches: int | None,
    trainer=None,
    accumulate: int = 1,
    num_workers: int = 0,
    first_sample: int | None = None,
) -> DataLoader:
    """A DataLoader over ``dataset`` positioned where ``trainer`` stands (0 for a fresh run);
    ``first_sample``: where the stream goes on, if not where this layout puts the trainer's step
    (:class:`StepBatchSampler`; not for a sharded corpus, numbered per rank)."""
    rank, world, start = 0, 1, 0
    if trainer is not None:
        rank, world = trainer.global_rank, trainer.world_size
        start = trainer.global_step * accumulate
    if isinstance(dataset, RankSharded):  # the rank's own samples, numbered per rank
        dataset, rank, world, first_sample = dataset.for_rank(rank, world), 0, 1, None
    sampler = StepBatchSampler(batch_size, total_batches, rank, world, start, first_sample)
    return batch_loader(dataset, sampler, collate, num_workers)


def batch_loader(dataset: Dataset, sampler, collate: Callable, num_workers: int) -> DataLoader:
    """A DataLoader of ``sampler``'s batches whose worker processes, if any, are kept between
    epochs and evaluations rather than started again."""
    return DataLoader(
        dataset,
        batch_sampler=sampler,
        collate_fn=collate,
        num_workers=num_workers,
        persistent_workers=num_workers > 0,
    )


class StepDataModule(pl.LightningDataModule):
    """Training and validation loaders for step-indexed datasets (see the module docstring).

    Validation uses a fixed set of ``val_batches * batch_size`` samples (indices ``0..n-1`` of the
    validation dataset), identical at every evaluation and on every resume, read with the training
    loader's worker processes (``num_workers``). Without a validation set (``val`` None:
    ``data.val_fraction 0``) the trainer runs no validation loop.
    """

    def __init__(self, train: Dataset, val: Dataset | None, collate: Callable, train_cfg):
        super().__init__()
        self.train_set, self.val_set, self.collate, self.cfg = train, val, collate, train_cfg
        # (optimizer step, samples drawn before it, samples a step then) where this process began:
        # a resumed checkpoint's, or the start of the run
        self.resumed: dict[str, int] = {"step": 0, "samples_drawn": 0, "samples_per_step": 0}

    def samples_per_step(self) -> int:
        """Global samples one optimizer step draws: ranks x batch size x accumulation."""
        world = self.trainer.world_size if self.trainer is not None else 1
        return world * self.cfg.batch_size * self.cfg.accumulate

    def samples_drawn(self) -> int:
        """Global samples the run's optimizer steps so far have drawn, whatever layouts they ran in."""
        step = self.trainer.global_step if self.trainer is not None else 0
        return self.resumed["samples_drawn"] + (step - self.resumed["step"]) * self.samples_per_step()

    def state_dict(self) -> dict[str, int]:
        """Kept in every checkpoint by Lightning: where the stream of training samples stands."""
        step = self.trainer.global_step if self.trainer is not None else 0
        return {
            "step": step,
            "samples_drawn": self.samples_drawn(),
            "samples_per_step": self.samples_per_step(),
        }

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.resumed = {key: int(state[key]) for key in ("step", "samples_drawn", "samples_per_step")}

    def resume_from_settings(self, step: int, train: dict) -> None:
        """Where a checkpoint without this module's state (written by an earlier version) left the
        stream: ``step`` steps of the layout in the run's recorded ``train`` settings, if they name
        a number of devices (``auto`` does not: the stream then goes on as that layout would)."""
        devices = str(train.get("devices", 1))
        if devices.isdigit():
            per_step = int(devices) * int(train.get("num_nodes", 1))
            per_step *= int(train.get("batch_size", self.cfg.batch_size)) * int(train.get("accumulate", 1))
            self.load_state_dict(
                {"step": step, "samples_drawn": step * per_step, "samples_per_step": per_step}
            )

    def setup(self, stage: str) -> None:
        self._check_rank_data()
        if self.val_set is None and self.trainer is not None:
            # Lightning reads limit_val_batches after this hook: 0 configures no validation loop,
            # where an empty val_dataloader() would be asked for and warned about ("Total length
            # of `list` across ranks is zero") as if data were missing
            self.trainer.limit_val_batches = 0

    def _check_rank_data(self) -> None:
        """Build each rank's own datasets (sharded corpora) before training, every rank learning of
        any rank's data error: a rank that raised alone left the others to die in their first
        collective (a traceback, and an exit status that depended on which rank failed). Every rank
        raises the first failing rank's one line (:class:`~sciPT.errors.DataError`)."""
        sets = [s for s in (self.train_set, self.val_set) if isinstance(s, RankSharded)]
        if not sets or self.trainer is None:
            return
        rank, world = self.trainer.global_rank, self.trainer.world_size
        error = None
        try:
            for dataset in sets:
                dataset.for_rank(rank, world)
        except UserError as err:
            error = str(err) if f"rank {rank}" in str(err) or world == 1 else f"rank {rank}: {err}"
        errors = [error]
        if world > 1 and torch.distributed.is_available() and torch.distributed.is_initialized():
            errors = [None] * world
            torch.distributed.all_gather_object(errors, error)
        first = next((e for e in errors if e is not None), None)
        if first is not None:
            agreed = DataError(first)
            agreed.every_rank = True  # after the gather above: every rank raises it
            raise agreed

    def train_dataloader(self) -> DataLoader:
        before, now = self.resumed["samples_per_step"], self.samples_per_step()
        if self.resumed["step"] and before != now and not isinstance(self.train_set, RankSharded):
            world = self.trainer.world_size if self.trainer is not None else 1
            say(
                f"resumed at step {self.resumed['step']:,} with {world} rank(s) x batch size "
                f"{self.cfg.batch_size} x accumulate {self.cfg.accumulate} = {now} samples a step "
                f"({before} before): training goes on from sample {self.samples_drawn():,}, the "
                "first the run has not drawn"
            )
        return step_loader(
            self.train_set,
            self.collate,
            batch_size=self.cfg.batch_size,
            total_batches=(
                None
                if self.cfg.max_steps is None  # sized by time
                else self.cfg.max_steps * self.cfg.accumulate
            ),
            trainer=self.trainer,
            accumulate=self.cfg.accumulate,
            num_workers=self.cfg.num_workers,
            first_sample=self.samples_drawn(),
        )

    def val_dataloader(self):
        if self.val_set is None:
            return []
        rank, world = (self.trainer.global_rank, self.trainer.world_size) if self.trainer else (0, 1)
        val_set = self.val_set
        if isinstance(val_set, RankSharded):
            val_set, rank, world = val_set.for_rank(rank, world), 0, 1
        if len(val_set) == 0:
            return []
        sampler = StepBatchSampler(self.cfg.batch_size, self.cfg.val_batches, rank, world)
        # the training loader's worker count: a streamed validation corpus reads and tokenises as the
        # training one does
        return batch_loader(val_set, sampler, self.collate, self.cfg.num_workers)
