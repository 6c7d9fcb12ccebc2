"""Replay batches: the requested share of pre-training examples, reproducibly."""

from __future__ import annotations

from collections import Counter
from itertools import islice

import pytest
import torch
from torch import nn

from sciPT.errors import ConfigError, DataError
from sciPT.finetune import (
    FinetuneConfig,
    FinetuneModule,
    ReplayBatch,
    ReplayBatchSampler,
    ReplayDataset,
    ReplayStepSampler,
    build_strategy,
    replay_loader,
)


def epoch(sampler, e=0):
    sampler.set_epoch(e)
    return list(sampler)


def test_every_batch_holds_the_requested_fraction():
    sampler = ReplayBatchSampler(20, 50, batch_size=8, fraction=0.25, seed=0)
    batches = epoch(sampler)
    assert len(batches) == len(sampler) == 4  # ceil(20 / 6) task chunks of 6
    replayed = [sum(i >= 20 for i in b) for b in batches]
    # 2 of 8 replayed; the last batch (2 task examples) keeps the ratio 2:6 -> round(0.67) = 1
    assert replayed == [2, 2, 2, 1]
    assert [len(b) for b in batches] == [8, 8, 8, 3]
    task = sorted(i for b in batches for i in b if i < 20)
    assert task == list(range(20))  # one pass over the task set
    replay = [i for b in batches for i in b if i >= 20]
    assert len(set(replay)) == len(replay) and all(20 <= i < 70 for i in replay)


def test_drop_last_keeps_full_batches_only():
    sampler = ReplayBatchSampler(20, 50, batch_size=8, fraction=0.25, drop_last=True)
    batches = epoch(sampler)
    assert len(batches) == len(sampler) == 3 and all(len(b) == 8 for b in batches)


def test_orders_depend_only_on_seed_and_epoch():
    make = lambda seed: ReplayBatchSampler(20, 50, 8, 0.25, seed=seed)  # noqa: E731
    assert epoch(make(0)) == epoch(make(0))
    assert epoch(make(0)) != epoch(make(1))
    sampler = make(0)
    first, second = epoch(sampler, 0), epoch(sampler, 1)
    assert first != second and epoch(sampler, 0) == first


def test_a_small_pretraining_set_is_cycled_evenly():
    batches = epoch(ReplayBatchSampler(20, 3, batch_size=8, fraction=0.25))
    counts = Counter(i for b in batches for i in b if i >= 20)
    assert sorted(counts) == [20, 21, 22] and sum(counts.values()) == 7
    assert max(counts.values()) - min(counts.values()) <= 1


def test_ranks_split_the_same_batches():
    whole = epoch(ReplayBatchSampler(30, 50, 8, 0.25, seed=4))  # 5 batches
    ranks = [ReplayBatchSampler(30, 50, 8, 0.25, seed=4, rank=r, world_size=2) for r in (0, 1)]
    assert [epoch(s) for s in ranks] == [whole[0:4:2], whole[1:4:2]]
    assert [len(s) for s in ranks] == [2, 2]


def test_a_fraction_that_rounds_to_nothing_is_refused():
    with pytest.raises(ConfigError) as err:
        ReplayBatchSampler(20, 50, batch_size=8, fraction=0.05)
    assert str(err.value) == (
        "finetune.replay_fraction: 0.05 of a batch of 8 is 0 pre-training "
        "examples; expected at least 1 and fewer than the batch size"
    )
    with pytest.raises(DataError) as err:
        ReplayBatchSampler(20, 0, batch_size=8, fraction=0.25)
    assert str(err.value) == (
        "replay: need task and pre-training examples, got 20 task and 0 pre-training examples"
    )


def test_a_share_that_rounds_far_from_the_fraction_is_said(capsys):
    ReplayBatchSampler(20, 50, batch_size=8, fraction=0.25)  # 2 of 8: exactly the fraction
    ReplayBatchSampler(20, 50, batch_size=32, fraction=0.3)  # 10 of 32 = 0.3125: within a tenth
    assert capsys.readouterr().err == ""
    ReplayBatchSampler(20, 50, batch_size=32, fraction=0.02)  # 1 of 32 = 0.031: half as much again
    assert "a share of 0.031" in capsys.readouterr().err
    ReplayBatchSampler(20, 50, batch_size=7, fraction=0.2)
    assert capsys.readouterr().err == (
        "warning: finetune.replay_fraction 0.2 of a batch of 7 is 1 pre-training example, a share of 0.143\n"
    )


def test_replay_loader_collates_each_kind_apart():
    task = [(torch.tensor([float(i)]), torch.tensor(1.0)) for i in range(6)]
    replay = [torch.tensor([100.0 + i]) for i in range(10)]
    loader = replay_loader(task, replay, batch_size=4, fraction=0.5, seed=1)
    batches = list(loader)
    assert len(batches) == 3 and all(isinstance(b, ReplayBatch) for b in batches)
    first = batches[0]
    assert (first.n_task, first.n_replay, first.replay_weight) == (2, 2, 0.5)
    assert first.task[0].shape == (2, 1) and first.task[1].shape == (2,)
    assert first.replay.shape == (2, 1) and bool((first.replay >= 100).all())


def test_finetune_module_averages_the_loss_over_all_examples(backbone):
    module = FinetuneModule(
        backbone,
        nn.Identity(),
        lambda b, h, batch: (batch, {}),
        build_strategy(FinetuneConfig(strategy="replay"), backbone),
        None,
        replay_loss_fn=lambda b, h, batch: (3 * batch, {}),
    )
    batch = ReplayBatch(task=torch.tensor(1.0), replay=torch.tensor(1.0), n_task=6, n_replay=2)
    loss, metrics, size = module.data_loss(batch)
    assert loss.item() == pytest.approx(6 / 8 * 1.0 + 2 / 8 * 3.0)
    assert metrics == {"replay_loss": 3.0} and size == 8


def test_finetune_module_trains_on_replay_batches(backbone, head, fit, toy):
    g = torch.Generator().manual_seed(5)
    task = list(zip(torch.randn(12, 3, generator=g), torch.randn(12, generator=g)))
    pretraining = list(zip(torch.randn(40, 3, generator=g), torch.randn(40, generator=g)))
    loader = replay_loader(task, pretraining, batch_size=4, fraction=0.5)
    module = FinetuneModule(
        backbone,
        head,
        toy.loss,
        build_strategy(FinetuneConfig(strategy="replay"), backbone),
        toy.train_config(max_steps=3),
    )
    trainer = fit(module, loader)
    assert trainer.global_step == 3 and "train/replay_loss" in trainer.callback_metrics


def test_a_step_stream_numbers_the_epochs_batches_and_starts_anywhere():
    make = lambda: ReplayBatchSampler(20, 50, batch_size=8, fraction=0.25, seed=3)  # noqa: E731
    epochs = [epoch(make(), e) for e in range(3)]  # 4 batches each
    stream = list(ReplayStepSampler(make(), total_batches=12))
    assert stream == epochs[0] + epochs[1] + epochs[2] and len(ReplayStepSampler(make(), 12)) == 12
    # a resume at batch 6 (epoch 1, batch 2) sees what the stream from 0 sees there
    assert list(ReplayStepSampler(make(), total_batches=12, start=6)) == stream[6:]


def test_half_an_example_of_replay_rounds_up():
    """0.25 of a batch of 10 is 2.5 pre-training examples: 3, as documented, not Python's
    round-half-to-even 2; 0.5 of 5 is 3 of 5, not 2."""
    for batch_size, fraction, replayed in [(10, 0.25, 3), (5, 0.5, 3), (6, 0.25, 2)]:
        batches = epoch(ReplayBatchSampler(21, 50, batch_size=batch_size, fraction=fraction))
        assert sum(i >= 21 for i in batches[0]) == replayed and len(batches[0]) == batch_size


def test_a_fraction_that_rounds_to_the_whole_batch_is_refused():
    """0.95 of 8 rounds to 8: a batch without a single task example would train on nothing new."""
    with pytest.raises(ConfigError) as err:
        ReplayBatchSampler(20, 50, batch_size=8, fraction=0.95)
    assert str(err.value) == (
        "finetune.replay_fraction: 0.95 of a batch of 8 is 8 pre-training "
        "examples; expected at least 1 and fewer than the batch size"
    )


def test_a_share_more_than_a_tenth_off_the_fraction_is_said(capsys):
    """0.2 of 12 is 2 examples, a share of 0.167: a sixth off the fraction, more than a tenth."""
    ReplayBatchSampler(20, 50, batch_size=12, fraction=0.2)
    assert capsys.readouterr().err == (
        "warning: finetune.replay_fraction 0.2 of a batch of 12 is 2 pre-training examples, a share of 0.167\n"
    )


def test_only_rank_zero_warns(capsys):
    """Every process builds the sampler: the warning once, not once per GPU."""
    for rank in (1, 2):
        ReplayBatchSampler(20, 50, batch_size=7, fraction=0.2, rank=rank, world_size=3)
    assert capsys.readouterr().err == ""


def test_drop_last_keeps_a_last_batch_that_is_full():
    """18 task examples fill three batches of 6: drop_last drops only a *shorter* batch."""
    sampler = ReplayBatchSampler(18, 50, batch_size=8, fraction=0.25, drop_last=True)
    batches = epoch(sampler)
    assert len(batches) == len(sampler) == 3 and all(len(b) == 8 for b in batches)
    assert sorted(i for b in batches for i in b if i < 18) == list(range(18))


@pytest.mark.parametrize("n_task, last", [(17, 2), (19, 1), (16, 1)])
def test_a_last_shorter_batch_keeps_the_proportion_rounded(n_task, last):
    """2 replayed per 6 task examples: a last chunk of 5 gets round(5/3) = 2, of 4 gets
    round(4/3) = 1, and a last chunk of 1 still gets 1 (round(1/3) = 0 would leave it unrehearsed)."""
    batches = epoch(ReplayBatchSampler(n_task, 50, batch_size=8, fraction=0.25))
    assert [sum(i >= n_task for i in b) for b in batches][-1] == last
    assert [sum(i >= n_task for i in b) for b in batches][:-1] == [2] * (len(batches) - 1)


def test_a_step_stream_without_batches_is_refused():
    """3 task examples make no full batch of 6 task examples when the last is dropped."""
    sampler = ReplayBatchSampler(3, 50, batch_size=8, fraction=0.25, drop_last=True)
    with pytest.raises(DataError) as err:
        ReplayStepSampler(sampler, total_batches=10)
    assert str(err.value) == "replay: 3 task examples make no batch of 6 for each of 1 processes"


def values_of(indices, task, replay):
    """The examples a ReplayDataset's indices point at."""
    return sorted(float(task[i][0]) if i < len(task) else float(replay[i - len(task)][0]) for i in indices)


def test_replay_loader_follows_its_seed_steps_and_drop_last():
    """The loader must draw the batches its sampler would (seed included), resume at ``steps[0]`` and
    stop at ``steps[1]``, and drop a short last batch when asked."""
    task = [torch.tensor([float(i)]) for i in range(7)]
    replay = [torch.tensor([100.0 + i]) for i in range(10)]
    loader = replay_loader(task, replay, batch_size=4, fraction=0.5, seed=7, steps=(2, 6))
    expected = list(ReplayStepSampler(ReplayBatchSampler(7, 10, 4, 0.5, seed=7), 6, 2))
    got = [sorted(torch.cat([b.task, b.replay])[:, 0].tolist()) for b in loader]
    assert len(got) == 4 and got == [values_of(b, task, replay) for b in expected]
    # 7 task examples, 2 per batch: 4 batches, the last of one task example unless dropped
    assert len(list(replay_loader(task, replay, batch_size=4, fraction=0.5))) == 4
    assert len(list(replay_loader(task, replay, batch_size=4, fraction=0.5, drop_last=True))) == 3


def test_each_kind_of_example_goes_through_its_own_collate():
    """Task and pre-training examples may differ in format: each sub-batch by its own collate."""
    task = [torch.tensor([float(i)]) for i in range(6)]
    replay = [torch.tensor([100.0 + i]) for i in range(10)]
    loader = replay_loader(
        task,
        replay,
        batch_size=4,
        fraction=0.25,
        task_collate=lambda xs: ("task", len(xs)),
        replay_collate=lambda xs: ("replay", len(xs)),
    )
    first = next(iter(loader))
    assert (first.task, first.replay) == (("task", 3), ("replay", 1))


def test_replay_draws_are_shuffled_and_move_on_across_epochs():
    """Over epochs, replay must rehearse the pre-training set as a whole, in a shuffled order, not
    the same first few examples every epoch."""
    sampler = ReplayBatchSampler(20, 50, batch_size=8, fraction=0.25, seed=0)
    draws = [[i for b in epoch(sampler, e) for i in b if i >= 20] for e in range(5)]  # 7 per epoch
    assert all(d != sorted(d) for d in draws)
    assert len({i for d in draws for i in d}) > 20


def test_the_replay_draws_are_independent_of_the_next_epochs_task_order():
    """Task order and replay draws come from separate random streams: with as many examples of
    each, one epoch's replay order must not be the next epoch's task order."""
    sampler = ReplayBatchSampler(24, 24, batch_size=2, fraction=0.5, seed=0)  # 1 + 1 per batch
    first, second = epoch(sampler, 0), epoch(sampler, 1)
    assert [b[1] - 24 for b in first] != [b[0] for b in second]


def test_a_batch_counts_each_kind_of_example_and_weights_by_them():
    """0.25 of a batch of 4 is 1 pre-training example beside 3 task examples: the batch must say
    3 and 1 (not 1 and 3: with 2 and 2 a swap would go unseen), so the replayed share of the loss is
    1/4. The dataset is the task set followed by the pre-training set: 6 + 10 = 16 examples."""
    task = [torch.tensor([float(i)]) for i in range(6)]
    replay = [torch.tensor([100.0 + i]) for i in range(10)]
    dataset = ReplayDataset(task, replay)
    assert len(dataset) == 16
    assert (dataset[5][0], float(dataset[5][1])) == (False, 5.0)
    assert (dataset[6][0], float(dataset[6][1])) == (True, 100.0)
    first = next(iter(replay_loader(task, replay, batch_size=4, fraction=0.25)))
    assert (first.n_task, first.n_replay, first.replay_weight) == (3, 1, 0.25)
    assert first.task.shape == (3, 1) and first.replay.shape == (1, 1)


def test_a_small_pretraining_set_is_reshuffled_every_time_it_runs_out():
    """3 pre-training examples, 1 per batch of 2, 61 batches: the draws are whole passes over the
    3 (each of the first 20 blocks of 3 a permutation of them, from the first draw on), and each
    pass is shuffled anew, not the first pass's order over and over."""
    sampler = ReplayBatchSampler(61, 3, batch_size=2, fraction=0.5, seed=0)
    batches = epoch(sampler)
    assert len(batches) == 61 and all(len(b) == 2 and b[0] < 61 <= b[1] for b in batches)
    draws = [b[1] - 61 for b in batches]
    passes = [draws[i : i + 3] for i in range(0, 60, 3)]
    assert all(sorted(p) == [0, 1, 2] for p in passes)
    assert len({tuple(p) for p in passes}) > 1


def test_a_pretraining_set_smaller_than_a_batchs_share_is_repeated_evenly_in_it():
    """0.5 of a batch of 8 is 4 pre-training examples, from a set of only 2: each batch replays
    each of the two exactly twice (two whole passes), whatever the seed."""
    for seed in (0, 1, 2):
        batches = epoch(ReplayBatchSampler(8, 2, batch_size=8, fraction=0.5, seed=seed))
        assert len(batches) == 2
        assert sorted(i for b in batches for i in b if i < 8) == list(range(8))  # 4 + 4 task examples
        for b in batches:
            assert Counter(i for i in b if i >= 8) == {8: 2, 9: 2}


def test_the_task_order_and_the_replay_draws_of_an_epoch_are_independent():
    """24 task and 24 pre-training examples, one of each per batch: the replay draws must not follow
    the task order (one stream for both would pair task example k with pre-training example k in
    every batch of every epoch)."""
    sampler = ReplayBatchSampler(24, 24, batch_size=2, fraction=0.5, seed=0)
    for e in (0, 1):
        batches = epoch(sampler, e)
        assert [b[0] for b in batches] != [b[1] - 24 for b in batches]


def test_a_rank_outside_the_world_is_refused():
    """Ranks run from 0 to world_size - 1: rank 2 of 2 would take batches no process should."""
    for rank, message in [
        (2, "ReplayBatchSampler: rank 2 outside world size 2"),
        (-1, "ReplayBatchSampler: rank -1 outside world size 2"),
    ]:
        with pytest.raises(ValueError) as err:
            ReplayBatchSampler(20, 50, batch_size=8, fraction=0.25, rank=rank, world_size=2)
        assert str(err.value) == message


def test_no_task_examples_is_refused():
    """Replay without a task set has nothing to fine-tune on: refused as the empty replay set is."""
    with pytest.raises(DataError) as err:
        ReplayBatchSampler(0, 50, batch_size=8, fraction=0.25)
    assert str(err.value) == (
        "replay: need task and pre-training examples, got 0 task and 50 pre-training examples"
    )


def test_an_endless_stream_starts_where_asked_and_has_no_length():
    """A run sized by its time budget streams batches without end: resumed at batch 6 it must see
    what the stream from 0 sees there (epoch 1, batch 2 of 4), go on into epoch 3, and refuse len()."""
    make = lambda: ReplayBatchSampler(20, 50, batch_size=8, fraction=0.25, seed=3)  # noqa: E731
    epochs = [epoch(make(), e) for e in range(4)]  # 4 batches each
    endless = ReplayStepSampler(make(), total_batches=None, start=6)
    assert list(islice(endless, 8)) == epochs[1][2:] + epochs[2] + epochs[3][:2]
    with pytest.raises(TypeError) as err:
        len(endless)
    assert str(err.value) == "an endless stream of batches has no length"


def test_replay_loader_gives_each_rank_its_own_batches():
    """30 task examples make 5 batches of 6 + 2; of 2 processes rank 1 takes batches 1 and 3 (the
    fifth is dropped so that both take as many)."""
    task = [torch.tensor([float(i)]) for i in range(30)]
    replay = [torch.tensor([100.0 + i]) for i in range(50)]
    whole = epoch(ReplayBatchSampler(30, 50, 8, 0.25, seed=4))
    loader = replay_loader(task, replay, batch_size=8, fraction=0.25, seed=4, rank=1, world_size=2)
    got = [sorted(torch.cat([b.task, b.replay])[:, 0].tolist()) for b in loader]
    assert got == [values_of(whole[1], task, replay), values_of(whole[3], task, replay)]
