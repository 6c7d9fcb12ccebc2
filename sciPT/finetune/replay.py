"""Replay: mix a fixed fraction of pre-training examples into every fine-tuning batch.

Rehearsing the pre-training data while fine-tuning is the oldest remedy for catastrophic
forgetting (Robins 1995, *Catastrophic forgetting, rehearsal and pseudorehearsal*). Here it is a
data-level helper:

- :class:`ReplayDataset` puts the task set and the pre-training set side by side
  (indices ``[0, n_task)`` are task examples, ``[n_task, n_task + n_replay)`` pre-training ones) and
  collates a list of examples into a :class:`ReplayBatch` of two sub-batches, each with its own
  collate function, since the two kinds of example need not share a format;
- :class:`ReplayBatchSampler` makes batches of ``batch_size`` indices of which exactly
  ``r = round(fraction * batch_size)`` are pre-training examples. One epoch is one pass over the
  task set in a shuffled order; pre-training examples are drawn without replacement, reshuffled
  whenever they run out. Both orders depend only on ``(seed, epoch)``, so a run is reproducible.
  A last, shorter batch keeps the same proportion;
- :class:`ReplayStepSampler` numbers those batches across epochs (batch ``b`` is batch ``b % E`` of
  epoch ``b // E``) and starts at a given batch, as :class:`sciPT.data.StepBatchSampler` does, so a
  run resumed at step ``s`` starts at batch ``s * accumulate`` and sees the batches the
  uninterrupted run would (an epoch-wise loader started its epoch again);
- :func:`replay_loader` assembles the DataLoader.

:class:`sciPT.finetune.module.FinetuneModule` recognises a :class:`ReplayBatch` and trains on the
mean loss over all its examples: ``(n_task * L_task + n_replay * L_replay) / (n_task + n_replay)``.
The two sub-batches go through the backbone in separate forward passes, so a batch-norm layer sees
each on its own (and needs at least two examples in each).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from itertools import count
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, Sampler, default_collate

from ..errors import ConfigError, DataError


@dataclass
class ReplayBatch:
    """A training batch of task examples and replayed pre-training examples.

    Attributes:
        task: the collated task examples.
        replay: the collated pre-training examples.
        n_task: how many task examples ``task`` holds.
        n_replay: how many pre-training examples ``replay`` holds.
    """

    task: Any
    replay: Any
    n_task: int
    n_replay: int

    @property
    def replay_weight(self) -> float:
        """The share of the replayed examples in the batch's mean loss."""
        return self.n_replay / (self.n_task + self.n_replay)


class ReplayDataset(Dataset):
    """The task set followed by the pre-training set, with a collate that keeps them apart.

    Args:
        task: the fine-tuning examples.
        replay: the pre-training examples.
        task_collate: collates a list of task examples (default: torch's ``default_collate``).
        replay_collate: collates a list of pre-training examples (default: ``default_collate``).
    """

    def __init__(
        self,
        task: Sequence,
        replay: Sequence,
        task_collate: Callable[[list], Any] | None = None,
        replay_collate: Callable[[list], Any] | None = None,
    ):
        self.task, self.replay = task, replay
        self.task_collate = task_collate or default_collate
        self.replay_collate = replay_collate or default_collate

    def __len__(self) -> int:
        return len(self.task) + len(self.replay)

    def __getitem__(self, index: int) -> tuple[bool, Any]:
        """``(is_replay, example)``."""
        if index < len(self.task):
            return False, self.task[index]
        return True, self.replay[index - len(self.task)]

    def collate(self, items: list[tuple[bool, Any]]) -> ReplayBatch:
        task = [x for is_replay, x in items if not is_replay]
        replay = [x for is_replay, x in items if is_replay]
        return ReplayBatch(
            task=self.task_collate(task),
            replay=self.replay_collate(replay),
            n_task=len(task),
            n_replay=len(replay),
        )


def replay_count(batch_size: int, fraction: float) -> int:
    """Pre-training examples per batch, ``round(fraction * batch_size)`` with halves rounded up."""
    return math.floor(fraction * batch_size + 0.5)


def check_replay_fraction(batch_size: int, fraction: float) -> int:
    """:func:`replay_count`, refused unless it leaves room for both kinds of example in a batch
    (a task may call it before it writes anything)."""
    r = replay_count(batch_size, fraction)
    if not 0 < r < batch_size:
        raise ConfigError(
            f"finetune.replay_fraction: {fraction} of a batch of {batch_size} is {r} "
            "pre-training examples; expected at least 1 and fewer than the batch size"
        )
    return r


class TaskOrder(Sampler):
    """The shuffled order of the task examples for one epoch; ``set_epoch`` picks the epoch.

    Lightning calls ``set_epoch`` on the ``sampler`` of a batch sampler at every epoch start.
    """

    def __init__(self, n: int, seed: int):
        self.n, self.seed, self.epoch = n, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def generator(self, stream: int) -> torch.Generator:
        # one independent stream per (seed, epoch, purpose): task order 0, replay draws 1
        return torch.Generator().manual_seed(((self.seed * 1_000_003) + self.epoch) * 2 + stream)

    def __iter__(self) -> Iterator[int]:
        return iter(torch.randperm(self.n, generator=self.generator(0)).tolist())

    def __len__(self) -> int:
        return self.n


class ReplayBatchSampler(Sampler):
    """Batches of indices into a :class:`ReplayDataset`, a fixed fraction of them replayed.

    Every batch holds ``t = batch_size - r`` task indices and ``r = round(fraction * batch_size)``
    replay indices (a last, shorter batch of ``t' < t`` task examples gets
    ``max(1, round(t' * r / t))``). In multi-process runs every rank builds the same list of
    batches and takes every ``world_size``-th one, starting at its ``rank``; ranks get the same
    number of batches, the few left over are dropped.

    Args:
        n_task: number of task examples.
        n_replay: number of pre-training examples.
        batch_size: examples per batch (both kinds together).
        fraction: share of pre-training examples in a batch, in (0, 1).
        seed: fixes both orders (with the epoch).
        drop_last: drop a last, shorter batch.
        rank: this process's rank.
        world_size: number of processes.
    """

    def __init__(
        self,
        n_task: int,
        n_replay: int,
        batch_size: int,
        fraction: float,
        *,
        seed: int = 0,
        drop_last: bool = False,
        rank: int = 0,
        world_size: int = 1,
    ):
        if n_task < 1 or n_replay < 1:
            raise DataError(
                f"replay: need task and pre-training examples, got {n_task} task and "
                f"{n_replay} pre-training examples"
            )
        r = check_replay_fraction(batch_size, fraction)
        if not 0 <= rank < world_size:
            raise ValueError(f"ReplayBatchSampler: rank {rank} outside world size {world_size}")
        if abs(r / batch_size - fraction) > 0.1 * fraction and rank == 0:  # a small batch rounds coarsely
            print(
                f"warning: finetune.replay_fraction {fraction:g} of a batch of {batch_size} is {r} "
                f"pre-training example{'s' if r != 1 else ''}, a share of {r / batch_size:.3f}",
                file=sys.stderr,
            )
        self.sampler = TaskOrder(n_task, seed)
        self.n_task, self.n_replay = n_task, n_replay
        self.n_task_per_batch, self.n_replay_per_batch = batch_size - r, r
        self.drop_last, self.rank, self.world_size = drop_last, rank, world_size

    def set_epoch(self, epoch: int) -> None:
        self.sampler.set_epoch(epoch)

    def _replay_indices(self, count: int) -> list[int]:
        generator = self.sampler.generator(1)
        out: list[int] = []
        while len(out) < count:
            out += torch.randperm(self.n_replay, generator=generator).tolist()
        return [self.n_task + i for i in out[:count]]

    def _all_batches(self) -> list[list[int]]:
        t, r = self.n_task_per_batch, self.n_replay_per_batch
        order = list(self.sampler)
        chunks = [order[i : i + t] for i in range(0, len(order), t)]
        if self.drop_last and chunks and len(chunks[-1]) < t:
            chunks.pop()
        sizes = [r if len(c) == t else max(1, math.floor(len(c) * r / t + 0.5)) for c in chunks]
        replay = iter(self._replay_indices(sum(sizes)))
        return [chunk + [next(replay) for _ in range(k)] for chunk, k in zip(chunks, sizes)]

    def __iter__(self) -> Iterator[list[int]]:
        batches = self._all_batches()
        per_rank = len(batches) // self.world_size
        return iter(batches[self.rank :: self.world_size][:per_rank])

    def __len__(self) -> int:
        t = self.n_task_per_batch
        n = self.n_task // t if self.drop_last else math.ceil(self.n_task / t)
        return n // self.world_size


class ReplayStepSampler:
    """The batches of ``epochs`` (a :class:`ReplayBatchSampler`) as one stream numbered across
    epochs, batches ``start .. total_batches - 1`` (``None``: endless, as for a run sized from its
    time budget); see the module docstring."""

    def __init__(self, epochs: ReplayBatchSampler, total_batches: int | None, start: int = 0):
        if len(epochs) == 0:
            raise DataError(
                f"replay: {epochs.n_task} task examples make no batch of {epochs.n_task_per_batch} for "
                f"each of {epochs.world_size} processes"
            )
        self.epochs, self.total, self.start = epochs, total_batches, start

    def __iter__(self) -> Iterator[list[int]]:
        per_epoch, epoch, batches = len(self.epochs), None, []
        for b in range(self.start, self.total) if self.total is not None else count(self.start):
            e, i = divmod(b, per_epoch)
            if e != epoch:
                self.epochs.set_epoch(e)
                epoch, batches = e, list(self.epochs)
            yield batches[i]

    def __len__(self) -> int:
        if self.total is None:
            raise TypeError("an endless stream of batches has no length")
        return self.total


def replay_loader(
    task: Sequence,
    replay: Sequence,
    *,
    batch_size: int,
    fraction: float,
    seed: int = 0,
    task_collate: Callable[[list], Any] | None = None,
    replay_collate: Callable[[list], Any] | None = None,
    drop_last: bool = False,
    rank: int = 0,
    world_size: int = 1,
    num_workers: int = 0,
    steps: tuple[int, int | None] | None = None,
) -> DataLoader:
    """A training DataLoader of :class:`ReplayBatch` es (arguments as in the classes above);
    ``steps``: ``(start, total_batches)`` of a step-indexed stream (:class:`ReplayStepSampler`),
    else one epoch per pass."""
    dataset = ReplayDataset(task, replay, task_collate, replay_collate)
    sampler = ReplayBatchSampler(
        len(task),
        len(replay),
        batch_size,
        fraction,
        seed=seed,
        drop_last=drop_last,
        rank=rank,
        world_size=world_size,
    )
    if steps is not None:
        sampler = ReplayStepSampler(sampler, steps[1], steps[0])
    return DataLoader(
        dataset,
        batch_sampler=sampler,
        collate_fn=dataset.collate,
        num_workers=num_workers,
        persistent_workers=num_workers > 0,
    )
