"""``--max-time`` without ``--max-steps``: a pre-training run sized from its time budget.

Step time is faked (``sciPT.callbacks.clock`` advanced by 2 s per optimizer step), so the sizes are
computed by hand: a 60 s budget, sized after step 13 (26 s) to end at 0.97 * 60 = 58.2 s:
``13 + floor(32.2 / 2) = 29`` steps, which the later estimates (every 4 steps) confirm.
"""

import json

import lightning.pytorch as pl
import pytest
import torch

from sciPT import callbacks as sc
from sciPT.checkpoint import from_pretrained, load_lightning_checkpoint
from sciPT.cli import main
from sciPT.pretrain import pretrain
from sciPT.registry import domains
from sciPT.testing import stop_at
from sciPT.trainer import time_only


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class Tick(pl.Callback):
    def __init__(self, clock, step_s):
        self.clock, self.step_s = clock, step_s

    def on_train_batch_start(self, *args):
        self.clock.now += self.step_s


class LastLoss(pl.Callback):
    def on_train_end(self, trainer, module):
        self.loss = float(trainer.callback_metrics["train/loss"])


def _cfg():
    cfg = domains.get("dna").presets()["tiny"]()
    cfg.data.window = 32
    cfg.model.max_len = 32
    cfg.train.batch_size = 4
    cfg.train.max_steps = 8  # the "preset's" count, which a time budget alone replaces
    cfg.train.max_time = "1"
    cfg.train.checkpoint_every = 4
    cfg.train.val_every = 4
    cfg.train.val_batches = 1
    cfg.train.schedule.warmup_steps = 2
    cfg.train = time_only(cfg.train, steps_set=False, time_set=True)
    return cfg


def _pretrain(monkeypatch, out, *extra, resume=False):
    clock = FakeClock()  # a fresh process: its clock starts again
    monkeypatch.setattr(sc, "clock", clock)
    return pretrain("dna", _cfg(), out, resume=resume, callbacks=[Tick(clock, 2.0), *extra])


def test_time_sized_run_records_its_size_and_resumes_exactly(tmp_path, monkeypatch):
    _pretrain(monkeypatch, tmp_path / "straight")
    metrics = json.loads((tmp_path / "straight/metrics.json").read_text())
    assert metrics["steps"] == metrics["steps_sized_from_time"] == 29

    _pretrain(monkeypatch, tmp_path / "interrupted", stop_at(16))
    stopped = load_lightning_checkpoint(tmp_path / "interrupted/checkpoints/last.ckpt")
    assert stopped["global_step"] == 16
    (budget,) = [v for k, v in stopped["callbacks"].items() if "TimeBudget" in k]
    assert budget == {"total_steps": 29, "elapsed_s": 32.0, "budget_s": 60.0}  # --max-time 1
    # resumed: the stored total holds until the new process has timed its own steps (step 29, where
    # the budget is spent), and the training time continues from 32 s
    _pretrain(monkeypatch, tmp_path / "interrupted", resume=True)

    resumed = load_lightning_checkpoint(tmp_path / "interrupted/checkpoints/last.ckpt")
    assert resumed["global_step"] == 29
    assert json.loads((tmp_path / "interrupted/metrics.json").read_text())["steps_sized_from_time"] == 29
    a = from_pretrained(tmp_path / "straight").model.state_dict()
    b = from_pretrained(tmp_path / "interrupted").model.state_dict()
    for key in a:  # the same schedule, step for step
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=1e-6, msg=key)


def test_a_time_sized_run_resumed_with_steps_alone_trains_on_without_a_warning(
    tmp_path, monkeypatch, recwarn
):
    """Its time budget gives way by design: Lightning's advice to add back the timing callbacks
    the checkpoint holds states of is not for this user."""
    _pretrain(monkeypatch, tmp_path / "run")
    cfg = _cfg()
    cfg.train.max_steps, cfg.train.max_time = 31, None
    pretrain("dna", cfg, tmp_path / "run", resume=True)
    assert load_lightning_checkpoint(tmp_path / "run/checkpoints/last.ckpt")["global_step"] == 31
    assert [str(w.message) for w in recwarn if "ckpt_path" in str(w.message)] == []


def test_malformed_max_time_is_one_line_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["pretrain", "dna", "--max-time", "5:00", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    assert err == "scipt: error: train.max_time: expected minutes or DD:HH:MM:SS, got '5:00'\n"
    assert not out.exists()


def test_a_time_sized_run_is_validated_at_its_last_step(tmp_path, monkeypatch):
    # the 29-step run (module docstring) validates every 4 steps, the last at step 28; and with
    # validations every 100 steps it would end before its first: both end with one at step 29,
    # which the metrics report
    from sciPT.plots import read_logs

    # (Lightning logs a validation inside training one step behind, as it logs that step's
    # training metrics: 3, 7, ... are the validations after steps 4, 8, ...)
    for every, expected in ((4, [3, 7, 11, 15, 19, 23, 27, 29]), (100, [29])):
        cfg = _cfg()
        cfg.train.val_every = every
        cfg.train.log_every = 100  # no training metric logged after step 0: the last one comes from the run
        clock = FakeClock()
        monkeypatch.setattr(sc, "clock", clock)
        out = tmp_path / f"every{every}"
        last = LastLoss()
        pretrain("dna", cfg, out, callbacks=[Tick(clock, 2.0), last])
        validations = read_logs(out / "logs")["val/loss"]
        assert [step for step, _ in validations] == expected
        metrics = json.loads((out / "metrics.json").read_text())
        assert metrics["steps"] == 29 and metrics["val_loss"] == validations[-1][1]
        # the extra validation must not cost the last step's training loss (Lightning resets its
        # metrics for a validate): the value training ended with
        assert metrics["train_loss"] == pytest.approx(last.loss, rel=1e-6)
