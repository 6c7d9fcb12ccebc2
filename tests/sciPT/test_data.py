"""sciPT.data: the step-indexed data module, here without a validation split."""

import json
import re
import warnings

from sciPT.cli import main

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
