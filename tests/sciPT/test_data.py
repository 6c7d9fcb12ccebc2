"""sciPT.data: the step-indexed data module, here without a validation split."""

import json
import re
import warnings

import pytest

from sciPT.cli import main
from sciPT.errors import DataError

SHORT = ["--max-steps", "3", "--batch-size", "4", "--log-every", "1", "--warmup-steps", "1"]
SHORT += ["--window", "32", "--model.max-len", "32", "--model.d-model", "32", "--model.d-ff", "64"]


def test_no_validation_split_runs_no_validation_loop_and_warns_nothing(tmp_path):
    out = tmp_path / "run"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(["pretrain", "dna", "--data.val-fraction", "0", "--out", str(out), *SHORT]) == 0
    # Lightning warned "Total length of `list` across ranks is zero" for the empty validation loader
    about_validation = re.compile(r"validation|val_dataloader|Total length")
    assert [str(w.message) for w in caught if about_validation.search(str(w.message))] == []
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["steps"] == 3 and not any(key.startswith("val_") for key in metrics)
    assert (out / "checkpoints/last.ckpt").is_file() and (out / "model/model.safetensors").is_file()
    logged = (out / "logs/metrics.csv").read_text().splitlines()[0].split(",")
    assert "train/loss" in logged and not [name for name in logged if name.startswith("val/")]


def test_the_ranks_of_a_world_take_interleaved_batches_of_the_global_samples():
    """Batch b of rank r holds the samples (b * world_size + r) * batch_size + i: the ranks take
    turns along the global stream and never draw the same sample."""
    from sciPT.data import StepBatchSampler

    ranks = [list(StepBatchSampler(2, 3, rank=r, world_size=2)) for r in (0, 1)]
    # rank 0: b = 0, 1, 2 -> (2b) * 2 = 0, 4, 8; rank 1: (2b + 1) * 2 = 2, 6, 10
    assert ranks[0] == [[0, 1], [4, 5], [8, 9]]
    assert ranks[1] == [[2, 3], [6, 7], [10, 11]]
    assert not {i for b in ranks[0] for i in b} & {i for b in ranks[1] for i in b}


def test_a_checkpoint_without_stream_state_resumes_after_the_samples_of_every_node():
    """The samples a step drew in the recorded settings count every device of every node."""
    from sciPT.data import StepDataModule
    from sciPT.trainer import TrainConfig

    data = StepDataModule(None, None, None, TrainConfig())
    data.resume_from_settings(10, {"devices": 2, "num_nodes": 3, "batch_size": 4, "accumulate": 1})
    # 2 devices x 3 nodes x batch 4 x accumulate 1 = 24 a step; 10 steps: 240
    assert data.resumed == {"step": 10, "samples_drawn": 240, "samples_per_step": 24}


def _module(world=1, rank=0, step=0, **train):
    """A StepDataModule over samples 0..999 (each sample is its own number) in a fake trainer."""
    from types import SimpleNamespace

    from sciPT.data import StepDataModule
    from sciPT.trainer import TrainConfig

    data = StepDataModule(list(range(1000)), list(range(1000)), list, TrainConfig(**train))
    data.trainer = SimpleNamespace(global_rank=rank, world_size=world, global_step=step)
    return data


def test_a_sampler_started_mid_run_takes_the_batches_the_run_would_have_taken():
    """Without first_sample, batch `start` of rank r begins where batch `start` of an unbroken run
    of the same layout begins ((start * world + r) * batch): anything else repeats or skips data."""
    from sciPT.data import StepBatchSampler

    # batches 2, 3 of rank 1 of 2, batch 2: (2 * 2 + 1) * 2 = 10 and (3 * 2 + 1) * 2 = 14
    assert list(StepBatchSampler(2, 4, rank=1, world_size=2, start=2)) == [[10, 11], [14, 15]]
    straight = list(StepBatchSampler(2, 4, rank=1, world_size=2))
    assert straight[2:] == [[10, 11], [14, 15]]


def test_a_sampler_keeps_the_length_of_the_whole_epoch_when_started_mid_way():
    """Lightning restores a resumed epoch's batch count and counts on from it to the loader's
    length (and sizes validation intervals by it): the length is the whole epoch's, not the rest."""
    from sciPT.data import StepBatchSampler

    sampler = StepBatchSampler(2, 10, start=4)
    assert len(sampler) == 10 and len(list(sampler)) == 6


def test_the_loader_of_a_resumed_run_starts_at_its_step_times_the_accumulation():
    """Each optimizer step draws `accumulate` batches: resumed at step 2 with accumulate 2, the
    loader goes on at batch 4 (samples 8..15 with batches of 2), not batch 2 (samples seen twice)."""
    from types import SimpleNamespace

    from sciPT.data import step_loader

    trainer = SimpleNamespace(global_rank=0, world_size=1, global_step=2)
    loader = step_loader(list(range(100)), list, batch_size=2, total_batches=8, trainer=trainer, accumulate=2)
    assert list(loader) == [[8, 9], [10, 11], [12, 13], [14, 15]]


def test_a_sharded_corpus_resumes_by_its_own_numbering_not_the_global_sample_count():
    """A rank's sharded dataset is numbered per rank: the global count of samples drawn (passed by
    the data module on resume) would send each rank far past its place, skipping data."""
    from types import SimpleNamespace

    from sciPT.data import step_loader
    from sciPT.streaming import RankSharded

    class Own(RankSharded):
        def for_rank(self, rank, world_size):
            return [(rank, n) for n in range(100)]

    trainer = SimpleNamespace(global_rank=1, world_size=2, global_step=2)
    # 2 steps x 2 ranks x batch 3 = 12 samples drawn in all; rank 1 goes on at its own sample 6
    loader = step_loader(Own(), list, batch_size=3, total_batches=4, trainer=trainer, first_sample=12)
    assert list(loader) == [[(1, 6), (1, 7), (1, 8)], [(1, 9), (1, 10), (1, 11)]]


def test_the_samples_a_step_draws_count_every_rank_batch_and_accumulation():
    """The checkpoint's place in the stream: 2 ranks x batch 4 x accumulate 3 = 24 a step."""
    data = _module(world=2, step=5, batch_size=4, accumulate=3)
    assert data.samples_per_step() == 24
    assert data.state_dict() == {"step": 5, "samples_drawn": 120, "samples_per_step": 24}


def test_samples_drawn_adds_the_steps_since_the_resume_in_the_new_layout():
    """240 samples drawn by step 10 in the old layout, then 5 steps of 8: 280, the first sample
    the run has not drawn (counting all 15 steps at 8 would skip 40 samples)."""
    data = _module(world=1, step=15, batch_size=8)
    data.load_state_dict({"step": 10, "samples_drawn": 240, "samples_per_step": 24})
    assert data.samples_drawn() == 240 + 5 * 8


def test_a_checkpoint_without_stream_state_uses_the_recorded_accumulation_and_one_device_by_default():
    """The recorded layout, not the resumed run's: 1 device (none recorded) x 4 x accumulate 4
    = 16 a step, where the resumed run accumulates 1; `auto` devices leave the stream unplaced."""
    data = _module(batch_size=4, accumulate=1)
    data.resume_from_settings(3, {"batch_size": 4, "accumulate": 4})
    assert data.resumed == {"step": 3, "samples_drawn": 48, "samples_per_step": 16}
    data = _module(batch_size=4)
    data.resume_from_settings(3, {"devices": "auto", "batch_size": 4})
    assert data.resumed == {"step": 0, "samples_drawn": 0, "samples_per_step": 0}


class _RankData:
    """A sharded corpus in miniature: rank r's own samples are (r, n); `broken` ranks raise."""

    def __init__(self, broken=(), message="s1.fa: file is empty"):
        self.broken, self.message = broken, message

    def for_rank(self, rank, world_size):
        if rank in self.broken:
            raise DataError(self.message)
        return [(rank, n) for n in range(100)]


def _sharded(**kw):
    from sciPT.streaming import RankSharded

    return type("Sharded", (_RankData, RankSharded), {})(**kw)


def test_a_single_process_data_error_is_its_own_line_and_a_rank_of_many_is_named():
    """One process: the file's own message, as a plain run says it; one rank of several: the rank
    is named, once (not twice when the message already names it)."""
    data = _module(world=1)
    data.train_set = _sharded(broken={0})
    with pytest.raises(DataError) as err:
        data.setup("fit")
    assert str(err.value) == "s1.fa: file is empty" and err.value.every_rank
    data = _module(world=2, rank=1)
    data.train_set = _sharded(broken={1})
    with pytest.raises(DataError) as err:
        data.setup("fit")
    assert str(err.value) == "rank 1: s1.fa: file is empty"
    data.train_set = _sharded(broken={1}, message="the shards of rank 1 (s1.fa) hold nothing")
    with pytest.raises(DataError) as err:
        data.setup("fit")
    assert str(err.value) == "the shards of rank 1 (s1.fa) hold nothing"


def test_a_rank_whose_own_data_is_fine_raises_the_failing_ranks_error(monkeypatch):
    """Rank 0 read its shards, rank 1 did not: rank 0 must stop with rank 1's line, not go on to
    wait alone in its first collective until the job is killed."""
    import torch

    def gather(out, error):
        out[:] = [error, "rank 1: s1.fa: file is empty"]  # what rank 1 contributed

    monkeypatch.setattr(torch.distributed, "is_available", lambda: True)
    monkeypatch.setattr(torch.distributed, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.distributed, "all_gather_object", gather)
    data = _module(world=2, rank=0)
    data.train_set = _sharded(broken={1})
    with pytest.raises(DataError) as err:
        data.setup("fit")
    assert str(err.value) == "rank 1: s1.fa: file is empty" and err.value.every_rank


def test_a_resume_in_another_layout_says_so_and_goes_on_from_the_first_sample_not_drawn(capsys):
    """4 steps of 8 samples drew 0..31; resumed with batches of 4 the loader starts at sample 32
    (step 4 x 4 = 16 would train 16 samples twice), and one line says why."""
    data = _module(step=4, batch_size=4, max_steps=6)
    data.load_state_dict({"step": 4, "samples_drawn": 32, "samples_per_step": 8})
    batches = list(data.train_dataloader())
    assert batches == [[32, 33, 34, 35], [36, 37, 38, 39]]
    assert capsys.readouterr().err == (
        "resumed at step 4 with 1 rank(s) x batch size 4 x accumulate 1 = 4 samples a step "
        "(8 before): training goes on from sample 32, the first the run has not drawn\n"
    )
    data.load_state_dict({"step": 4, "samples_drawn": 16, "samples_per_step": 4})  # same layout
    assert list(data.train_dataloader())[0] == [16, 17, 18, 19]
    assert capsys.readouterr().err == ""


def test_a_sharded_corpus_resumed_in_another_layout_is_not_said_to_go_on_from_a_global_sample(capsys):
    """A sharded corpus is numbered per rank: the line about the global sample would be false."""
    data = _module(world=2, rank=1, step=2, batch_size=3, max_steps=4)
    data.train_set = _sharded()
    data.load_state_dict({"step": 2, "samples_drawn": 24, "samples_per_step": 12})
    assert list(data.train_dataloader())[0] == [(1, 6), (1, 7), (1, 8)]
    assert capsys.readouterr().err == ""


def test_the_training_loader_holds_the_batches_of_every_step_with_accumulation():
    """max_steps optimizer steps of `accumulate` batches each: 3 x 2 = 6 batches."""
    data = _module(batch_size=2, max_steps=3, accumulate=2)
    assert len(data.train_dataloader()) == 6 and len(list(data.train_dataloader())) == 6


def test_validation_takes_val_batches_of_the_ranks_own_samples():
    """Rank 1 of 2 validates on its share of the fixed set (not rank 0's samples again), in
    val_batches batches; a sharded validation set is the rank's own."""
    data = _module(world=2, rank=1, batch_size=2, val_batches=2)
    assert list(data.val_dataloader()) == [[2, 3], [6, 7]]
    data.val_set = _sharded()
    assert list(data.val_dataloader()) == [[(1, 0), (1, 1)], [(1, 2), (1, 3)]]


def test_an_endless_sampler_started_mid_run_goes_on_from_its_start_and_has_no_length():
    """A run sized by time (total_batches None) resumed at batch 3 goes on at sample 3 x 2 = 6, as
    a bounded one does; asked its length it says why it has none."""
    from itertools import islice

    from sciPT.data import StepBatchSampler

    sampler = StepBatchSampler(2, None, start=3)
    assert list(islice(iter(sampler), 2)) == [[6, 7], [8, 9]]
    with pytest.raises(TypeError, match="^an endless stream of batches has no length$"):
        len(sampler)


def test_the_loader_keeps_its_workers_only_when_it_has_some():
    """num_workers reach the DataLoader, and its workers persist between epochs (no restart cost);
    without workers there is nothing to keep (persistent workers would be refused)."""
    from sciPT.data import step_loader

    loader = step_loader(list(range(10)), list, batch_size=2, total_batches=2, num_workers=2)
    assert loader.num_workers == 2 and loader.persistent_workers
    loader = step_loader(list(range(10)), list, batch_size=2, total_batches=2)
    assert loader.num_workers == 0 and not loader.persistent_workers


def test_validation_reads_with_the_training_worker_count_and_the_same_batches():
    """--num-workers is per rank, for validation too (a streamed validation corpus tokenises as the
    training one does); its workers are kept between evaluations, and the batches are those read
    in the training process."""
    data = _module(batch_size=3, val_batches=2, num_workers=2)
    loader = data.val_dataloader()
    assert loader.num_workers == 2 and loader.persistent_workers
    assert (
        list(loader) == [[0, 1, 2], [3, 4, 5]] == list(_module(batch_size=3, val_batches=2).val_dataloader())
    )
    assert _module().val_dataloader().num_workers == 0


def test_a_module_without_a_trainer_counts_one_process_and_checks_no_rank_data():
    """Before a trainer is attached there is one process: a step draws batch x accumulate samples
    (2 x 3 = 6), and setup cannot know a rank, so it leaves the shards to the loader."""
    from sciPT.data import StepDataModule
    from sciPT.trainer import TrainConfig

    data = StepDataModule(_sharded(broken={0}), None, list, TrainConfig(batch_size=2, accumulate=3))
    assert data.trainer is None and data.samples_per_step() == 6
    data.setup("fit")  # no DataError: rank unknown


def test_a_checkpoint_without_stream_state_takes_the_runs_batch_size_and_one_accumulation():
    """Recorded settings that name devices but no batch size nor accumulation: the batch size is the
    run's (4, unchanged by a resume that does not say otherwise), the accumulation 1 (not the resumed
    run's 3): 2 devices x 4 x 1 = 8 a step, 2 steps: 16."""
    data = _module(batch_size=4, accumulate=3)
    data.resume_from_settings(2, {"devices": 2})
    assert data.resumed == {"step": 2, "samples_drawn": 16, "samples_per_step": 8}


def test_an_empty_validation_set_gives_no_validation_batches():
    """A sharded validation set with nothing for this rank (or an empty one) is no loader at all,
    not a sampler over indices that do not exist."""
    data = _module(batch_size=2, val_batches=2)
    data.val_set = []
    assert data.val_dataloader() == []


def test_a_loader_made_after_steps_since_the_resume_says_the_sample_it_goes_on_from(capsys):
    """A loader made at step 6 of a run resumed at step 4 (8 samples a step before, 4 now): samples
    0..31 drawn before the resume, 2 steps of 4 since: it goes on at 40, and the line says 40."""
    data = _module(step=6, batch_size=4, max_steps=8)
    data.load_state_dict({"step": 4, "samples_drawn": 32, "samples_per_step": 8})
    assert list(data.train_dataloader())[0] == [40, 41, 42, 43]
    assert "training goes on from sample 40, the first" in capsys.readouterr().err
