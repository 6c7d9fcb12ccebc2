"""A run stopped between two checkpoints and resumed reads back one history: the logs of the stretch
after the checkpoint it resumed from, trained again, are not in its series, its loss curve or its
``val_loss_best``."""

from __future__ import annotations

import json

import lightning.pytorch as pl
import pytest
from lightning.pytorch.utilities.exceptions import SIGTERMException

from sciPT.cli import main
from sciPT.plots import read_logs
from sciPT.signals import EXIT_TERMINATED

FLAGS = [
    "pretrain",
    "dna",
    "--preset",
    "tiny",
    "--batch-size",
    "4",
    "--window",
    "32",
    "--model.max-len",
    "32",
]
FLAGS += ["--warmup-steps", "1", "--val-batches", "1", "--max-steps", "12", "--checkpoint-every", "6"]
FLAGS += ["--log-every", "6"]


class TerminatedAt(pl.Callback):
    """What Lightning raises on SIGTERM, once ``global_step`` reaches ``step`` (no checkpoint is
    saved there: the run keeps its last periodic one)."""

    def __init__(self, step: int):
        self.step = step

    def on_train_batch_end(self, trainer, *args):
        if trainer.global_step >= self.step:
            raise SIGTERMException()


@pytest.mark.slow
def test_a_resumed_run_leaves_out_the_validations_after_its_checkpoint(tmp_path, monkeypatch, capsys):
    """Validated every 2 steps, checkpointed at 6, terminated at 10: the validation of step 8
    (logged at 7) was of weights the run threw away. Resumed from 6 validating every 3 steps, its
    first row is the validation of step 9 (at 8), its first training row at 11."""
    from sciPT import pretrain as pipeline

    out = tmp_path / "run"
    build_trainer = pipeline.build_trainer

    def terminated(*args, callbacks=None, **kwargs):
        return build_trainer(*args, callbacks=[*(callbacks or []), TerminatedAt(10)], **kwargs)

    monkeypatch.setattr(pipeline, "build_trainer", terminated)
    assert main([*FLAGS, "--val-every", "2", "--out", str(out)]) == EXIT_TERMINATED
    assert [s for s, _ in read_logs(out / "logs")["val/loss"]] == [1, 3, 5, 7]
    monkeypatch.setattr(pipeline, "build_trainer", build_trainer)
    assert main([*FLAGS, "--val-every", "3", "--out", str(out), "--resume"]) == 0, capsys.readouterr().err

    logs = read_logs(out / "logs")
    # step 6's validation (at 5) is of the checkpoint's weights: it stays
    assert [s for s, _ in logs["val/loss"]] == [1, 3, 5, 8, 11]
    assert [s for s, _ in logs["train/loss"]] == [5, 11]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["val_loss_best"] == min(v for _, v in logs["val/loss"])
    # the part kept before the resume names the step it resumed from
    assert json.loads((out / "logs" / "metrics.part0.json").read_text()) == {"next_part_resumed_at_step": 6}
