"""The Lightning callbacks of :mod:`sciPT.callbacks`, driven hook by hook on stand-in trainers.

A fake clock replaces :data:`sciPT.callbacks.clock`, so every step count below is computed by hand:
``total = step + floor((margin * budget - elapsed) / seconds_per_step)``.
"""

import math
from types import SimpleNamespace

import pytest
import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO
from lightning.pytorch.trainer.states import TrainerFn

from sciPT import callbacks as sc
from sciPT.errors import TrainingDiverged


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(sc, "clock", fake)
    return fake


# -- AtomicCheckpointIO ------------------------------------------------------------------------


def test_a_save_that_fails_midway_leaves_the_last_checkpoint_whole(tmp_path, monkeypatch):
    """A job killed (or a disk filled) while last.ckpt is written must not leave a torn file that
    --resume then cannot load: the last good checkpoint stays until the new one is complete."""
    io = sc.AtomicCheckpointIO()
    path = tmp_path / "last.ckpt"
    io.save_checkpoint({"global_step": 1}, path)
    assert torch.load(path, weights_only=True) == {"global_step": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]  # no temporary file left behind

    def torn(self, checkpoint, where, storage_options=None):
        open(where, "wb").write(b"half a checkpoint")
        raise OSError("No space left on device")

    monkeypatch.setattr(TorchCheckpointIO, "save_checkpoint", torn)
    with pytest.raises(OSError):
        io.save_checkpoint({"global_step": 2}, path)
    assert torch.load(path, weights_only=True) == {"global_step": 1}


# -- StopOnNonFinite ---------------------------------------------------------------------------


def _optimizer(*grads):
    params = [torch.nn.Parameter(torch.zeros(len(g))) for g in grads]
    for p, g in zip(params, grads, strict=True):
        p.grad = torch.tensor(g, dtype=torch.float32)
    return torch.optim.SGD(params, lr=0.1)


def _trainer(root, precision="32-true", world_size=1, strategy=None, step=3):
    return SimpleNamespace(
        precision=precision,
        world_size=world_size,
        strategy=strategy,
        default_root_dir=str(root),
        global_step=step,
    )


def _message(step, saved):
    return (
        f"training diverged at step {step}: its gradients are not finite. Stopped before applying them; "
        f"{saved}. Lower --lr (now 0.002), lengthen the warm-up (--warmup-steps) or clip the gradients "
        "(--grad-clip) in a new run (another --out: a resumed run keeps its learning rate)"
    )


def test_one_nan_among_finite_gradients_stops_the_step_it_would_have_been(tmp_path):
    """A NaN in one tensor of many must stop the run (else it trains on with NaN weights and its next
    save overwrites the last good checkpoint); the message counts steps from 1, as the logs do."""
    stop = sc.StopOnNonFinite(lr=0.002)
    optimizer = _optimizer([1.0, 2.0], [3.0, math.nan], [0.5])
    with pytest.raises(TrainingDiverged) as err:
        stop.on_before_optimizer_step(_trainer(tmp_path, step=3), None, optimizer)
    assert str(err.value) == _message(4, "no checkpoint was saved before it")


def test_an_infinite_gradient_stops_the_run_and_names_the_checkpoint_kept(tmp_path):
    """An overflow (inf, not NaN) diverges the weights as surely; the message says which file holds
    the last good state, so the user knows what a new run can start from."""
    last = tmp_path / "checkpoints" / "last.ckpt"
    last.parent.mkdir()
    last.write_bytes(b"saved")
    stop = sc.StopOnNonFinite(lr=0.002)
    with pytest.raises(TrainingDiverged) as err:
        stop.on_before_optimizer_step(_trainer(tmp_path, step=9), None, _optimizer([1.0, -math.inf]))
    assert str(err.value) == _message(10, f"{last} holds the last state saved before it")


def test_finite_gradients_train_on_and_only_fp16_s_scaler_is_left_to_skip_bad_steps(tmp_path):
    """fp16's gradient scaler skips a non-finite step by design (it lowers its scale); bf16 has no
    scaler, so a NaN there is a divergence that must still stop the run."""
    stop = sc.StopOnNonFinite(lr=0.002)
    stop.on_before_optimizer_step(_trainer(tmp_path), None, _optimizer([1.0, 2.0], [3.0]))
    stop.on_before_optimizer_step(_trainer(tmp_path, precision="16-mixed"), None, _optimizer([math.nan]))
    with pytest.raises(TrainingDiverged):
        stop.on_before_optimizer_step(
            _trainer(tmp_path, precision="bf16-mixed"), None, _optimizer([math.nan])
        )


class Shards:
    """Two ranks of sharded gradients: this rank's decision and the other rank's, reduced."""

    def __init__(self, other_finite: bool):
        self.other_finite = other_finite

    def reduce_boolean_decision(self, decision, all=True):  # Lightning's keyword
        return (decision and self.other_finite) if all else (decision or self.other_finite)


def test_a_non_finite_shard_on_another_rank_stops_this_rank_too(tmp_path):
    """With sharded gradients each rank sees only its part: a rank with finite gradients must stop
    when another's are not, or the ranks part ways and the job hangs in its next collective."""
    stop = sc.StopOnNonFinite(lr=0.002)
    with pytest.raises(TrainingDiverged):
        stop.on_before_optimizer_step(
            _trainer(tmp_path, world_size=2, strategy=Shards(other_finite=False)), None, _optimizer([1.0])
        )
    stop.on_before_optimizer_step(
        _trainer(tmp_path, world_size=2, strategy=Shards(other_finite=True)), None, _optimizer([1.0])
    )


# -- TimeBudget --------------------------------------------------------------------------------


class Broadcast:
    def __init__(self):
        self.calls = 0

    def broadcast(self, value, src=0):
        self.calls += 1
        return value


def _fit_trainer(step=0):
    return SimpleNamespace(
        global_step=step,
        strategy=Broadcast(),
        fit_loop=SimpleNamespace(epoch_loop=SimpleNamespace(max_steps=-1)),
        progress_bar_callback=None,
        accumulate_grad_batches=1,
        sanity_checking=False,
        state=SimpleNamespace(fn=TrainerFn.FITTING),
        max_steps=-1,
    )


def _steps(budget, trainer, clock, seconds):
    """One optimizer step per entry of ``seconds``, each taking that long, through the hooks in
    Lightning's order (the step counter moves between a batch's start and its end)."""
    for s in seconds:
        budget.on_train_batch_start(trainer)
        clock.now += s
        trainer.global_step += 1
        budget.on_train_batch_end(trainer)


def test_the_warm_up_steps_are_not_timed_and_the_next_ones_are(clock):
    """3 slow first steps (compilation) are left out, the next 10 (1 s each) measure the rate:
    sized after step 13 (t = 25 s): 13 + floor((0.97 * 100 - 25) / 1) = 85, and Lightning's stop
    is set to it. Timing the slow steps would stop the run early; skipping a timed one, late."""
    budget, trainer = sc.TimeBudget(100.0), _fit_trainer()
    budget.on_train_start(trainer, None)
    _steps(budget, trainer, clock, [5.0] * 3 + [1.0] * 10)
    assert budget.total_steps == trainer.fit_loop.epoch_loop.max_steps == 85
    # then, between validations, the estimate stands (and no collective is made each step)
    _steps(budget, trainer, clock, [3.0] * 5)
    assert budget.total_steps == 85 and trainer.strategy.calls == 1


def test_a_resumed_run_times_its_own_first_steps_and_counts_the_time_spent_before(clock):
    """Resumed at step 50 with 20 s of the 100 s budget spent (saved before the first estimate):
    steps 51-53 warm up (5 s each), 54-63 take 1 s: 63 + floor(97 - 20 - 25) = 115. A resumed
    run that restarted its budget would train for 20 s too long."""
    budget = sc.TimeBudget(100.0)
    budget.load_state_dict({"total_steps": None, "elapsed_s": 20.0, "budget_s": 100.0})
    trainer = _fit_trainer(step=50)
    budget.on_train_start(trainer, None)
    _steps(budget, trainer, clock, [5.0] * 3 + [1.0] * 10)
    assert budget.total_steps == 115
    assert budget.state_dict() == {"total_steps": 115, "elapsed_s": 45.0, "budget_s": 100.0}


def test_a_spent_budget_stops_the_run_where_it_stands(clock):
    """A budget already spent at the first estimate ends the run at the current step, never at a
    step it has already passed (Lightning would then never stop)."""
    budget, trainer = sc.TimeBudget(1.0, warm_steps=0, measure_steps=2), _fit_trainer()
    budget.on_train_start(trainer, None)
    _steps(budget, trainer, clock, [1.0, 1.0])
    assert budget.total_steps == trainer.fit_loop.epoch_loop.max_steps == 2


def test_an_exact_fit_does_not_lose_a_step_to_rounding(clock):
    """0.9 s at 0.1 s a step is 9 steps, though (0.9 - 0.2) / 0.1 is 6.999999999999999 in floats."""
    budget, trainer = sc.TimeBudget(0.9, warm_steps=0, measure_steps=2, margin=1.0), _fit_trainer()
    budget.on_train_start(trainer, None)
    _steps(budget, trainer, clock, [0.1, 0.1])
    assert budget.total_steps == 9


def test_the_first_validation_s_time_corrects_the_estimate_at_once(clock):
    """Sized after step 10 (1 s a step): 97; its validation then takes 5 s, and the estimate made
    after it counts them: 10 + floor((97 - 15) / 1.5) = 64. Uncounted, the run overruns its budget."""
    budget, trainer = sc.TimeBudget(100.0, warm_steps=0, measure_steps=10), _fit_trainer()
    budget.on_train_start(trainer, None)
    _steps(budget, trainer, clock, [1.0] * 10)
    assert budget.total_steps == 97
    clock.now += 5.0
    budget.on_validation_end(trainer, None)
    assert budget.total_steps == 64


def test_the_estimate_is_corrected_every_so_many_steps(clock):
    """``every=20``: steps 1-10 at 1 s size the run to 97; steps 11-20 take 2 s, and the estimate at
    the start of step 21 (after step 20's validation and save) is 20 + floor((97 - 30) / 1.5) = 64;
    it is not made again at the next step."""
    budget, trainer = sc.TimeBudget(100.0, warm_steps=0, measure_steps=10, every=20), _fit_trainer()
    budget.on_train_start(trainer, None)
    _steps(budget, trainer, clock, [1.0] * 10)
    assert budget.total_steps == 97
    _steps(budget, trainer, clock, [2.0] * 12)
    assert budget.total_steps == 64


# -- LogLineProgress ---------------------------------------------------------------------------


def _progress(metrics=None):
    progress = sc.LogLineProgress(every_s=60.0)
    progress.get_metrics = lambda trainer, module: dict(metrics or {})
    return progress


def test_a_line_gives_hours_minutes_and_seconds_left_at_this_process_s_rate(clock):
    """Resumed at step 1000; 100 steps in 10 s is 10 steps/s (not 110: the steps before the resume
    were not this process's), and 99,900 steps left at that rate are 2 h 46 min 30 s."""
    progress, trainer = _progress({"train/loss": 1.234567, "v_num": 3}), _fit_trainer(step=1000)
    trainer.max_steps = 101_000
    progress.on_train_start(trainer, None)
    clock.now, trainer.global_step = 10.0, 1100
    assert progress.line(trainer, None) == "step 1100/101000, 10 steps/s, 2:46:30 left, train/loss=1.235"


def test_the_last_line_is_written_once_at_the_end(clock, capsys):
    """A run that ends between two lines says where it ended, with no time left to give (a run
    stopped short of its total by its time limit said "0:11:07 left"); one whose final validation
    already said it does not repeat the line."""
    progress, trainer = _progress(), _fit_trainer()
    trainer.max_steps = 30
    progress.on_train_start(trainer, None)
    clock.now, trainer.global_step = 10.0, 20
    progress.on_train_batch_end(trainer, None)  # 10 s: not a minute yet
    progress.on_train_end(trainer, None)
    assert capsys.readouterr().err.splitlines() == ["step 20/30, 2 steps/s"]
    clock.now, trainer.global_step = 15.0, 30
    progress.on_validation_end(trainer, None)
    progress.on_train_end(trainer, None)
    assert capsys.readouterr().err.splitlines() == ["step 30/30, 2 steps/s, 0:00:00 left"]


def test_a_run_past_its_total_has_no_time_left_and_a_part_second_rounds_to_the_nearest(clock):
    """A resumed run whose --max-steps was lowered below its step must say 0:00:00 left, not a
    negative time; 1 step left at 1.67 steps/s is 0.6 s, said as 1 s (rounded, not cut to 0)."""
    progress, trainer = _progress(), _fit_trainer()
    trainer.max_steps = 6
    progress.on_train_start(trainer, None)
    clock.now, trainer.global_step = 3.0, 5
    assert progress.line(trainer, None) == "step 5/6, 1.67 steps/s, 0:00:01 left"
    clock.now, trainer.global_step = 4.0, 8
    assert progress.line(trainer, None) == "step 8/6, 2 steps/s, 0:00:00 left"


def test_a_run_of_unknown_length_gives_no_total_and_no_time_left(clock):
    """Lightning's max_steps is -1 for a run sized by epochs or time: "step 5/-1" and a time left
    computed from -1 would mislead; at the start, before any step, there is no rate to give."""
    progress, trainer = _progress(), _fit_trainer()
    progress.on_train_start(trainer, None)
    assert progress.line(trainer, None) == "step 0"
    clock.now, trainer.global_step = 10.0, 5
    assert progress.line(trainer, None) == "step 5, 0.5 steps/s"
    trainer.max_steps = 100
    clock.now, trainer.global_step = 10.0, 0
    assert progress.line(trainer, None) == "step 0/100"  # no rate yet: no division by it


def test_lines_come_once_a_minute_of_training_not_at_every_batch(clock, capsys):
    """The point of the class: a week of fast steps in a log file is one line a minute, counted
    from the start of training (not from the clock's origin), and a disabled bar writes nothing."""
    progress, trainer = _progress(), _fit_trainer()
    trainer.max_steps = 1000
    clock.now = 1000.0
    progress.on_train_start(trainer, None)
    for now, step in ((1010.0, 10), (1060.0, 60), (1070.0, 70), (1119.0, 119), (1120.0, 120)):
        clock.now, trainer.global_step = now, step
        progress.on_train_batch_end(trainer, None)
    assert capsys.readouterr().err.splitlines() == [
        "step 60/1000, 1 steps/s, 0:15:40 left",
        "step 120/1000, 1 steps/s, 0:14:40 left",
    ]
    progress.disable()
    clock.now, trainer.global_step = 1300.0, 300
    progress.on_train_batch_end(trainer, None)
    progress.on_train_end(trainer, None)
    assert capsys.readouterr().err == ""


def test_the_sanity_check_s_validation_writes_no_line(clock, capsys):
    """Lightning's sanity check validates before training starts: a line then would report step 0
    of a run that has not begun; the validations during training each write one."""
    progress, trainer = _progress(), _fit_trainer()
    trainer.sanity_checking = True
    progress.on_validation_end(trainer, None)
    assert capsys.readouterr().err == ""
    trainer.sanity_checking = False
    progress.on_train_start(trainer, None)
    clock.now, trainer.global_step = 5.0, 10
    progress.on_validation_end(trainer, None)
    assert capsys.readouterr().err.splitlines() == ["step 10, 2 steps/s"]


def test_a_run_resumed_with_another_budget_scales_its_total_and_applies_it_at_once(clock):
    """--resume --max-time 50 on a run sized to 200 steps for 100 s: 200 * 50 / 100 = 100 steps, set
    as Lightning's stop before its loops are restored (else a finished run would stop at once, or
    train to the old total). A total of 1 scaled down stays 1: a run of 0 steps would do nothing."""
    budget, trainer = sc.TimeBudget(50.0), _fit_trainer(step=150)
    budget.setup(trainer, None, "fit")
    budget.load_state_dict({"total_steps": 200, "elapsed_s": 30.0, "budget_s": 100.0})
    assert budget.total_steps == trainer.fit_loop.epoch_loop.max_steps == 100
    small = sc.TimeBudget(40.0)
    small.load_state_dict({"total_steps": 1, "elapsed_s": 1.0, "budget_s": 100.0})
    assert small.total_steps == 1


def test_a_restored_total_is_lightning_s_stop_from_the_start_of_training(clock):
    """A resumed run (same budget) stops where the first would have, before its own timing
    corrects the estimate: the restored total is applied when training starts."""
    budget, trainer = sc.TimeBudget(100.0), _fit_trainer(step=50)
    budget.load_state_dict({"total_steps": 85, "elapsed_s": 20.0, "budget_s": 100.0})
    budget.on_train_start(trainer, None)
    assert trainer.fit_loop.epoch_loop.max_steps == 85


def test_the_progress_bar_s_total_counts_the_accumulated_batches(clock):
    """With 4 batches accumulated per optimizer step, the terminal bar counts batches: a run sized
    to 2 + floor((97 - 2) / 1) = 97 steps shows 388 batches, or the bar ends at a quarter of the run."""
    from lightning.pytorch.callbacks import TQDMProgressBar

    bar = TQDMProgressBar()
    bar._train_progress_bar = SimpleNamespace(total=None)
    budget, trainer = sc.TimeBudget(100.0, warm_steps=0, measure_steps=2), _fit_trainer()
    trainer.progress_bar_callback, trainer.accumulate_grad_batches = bar, 4
    budget.on_train_start(trainer, None)
    _steps(budget, trainer, clock, [1.0, 1.0])
    assert budget.total_steps == 97 and bar.train_progress_bar.total == 388


def test_a_validation_outside_fitting_does_not_resize_the_run(clock):
    """A validation run after training (trainer.validate) is no training time: the total reported
    as steps_sized_from_time must stay the one the run stopped at."""
    budget, trainer = sc.TimeBudget(100.0, warm_steps=0, measure_steps=10), _fit_trainer()
    budget.on_train_start(trainer, None)
    _steps(budget, trainer, clock, [1.0] * 10)
    assert budget.total_steps == 97
    clock.now += 50.0
    trainer.state.fn = TrainerFn.VALIDATING
    budget.on_validation_end(trainer, None)
    assert budget.total_steps == 97


def test_the_periodic_estimate_waits_for_the_measured_steps(clock):
    """``every=5`` with 10 steps to measure: no estimate at step 5 from half the timed steps (a
    run's first steps are its noisiest); the first comes after step 10, as without ``every``."""
    budget, trainer = sc.TimeBudget(100.0, warm_steps=0, measure_steps=10, every=5), _fit_trainer()
    budget.on_train_start(trainer, None)
    _steps(budget, trainer, clock, [1.0] * 6)
    assert budget.total_steps is None and trainer.strategy.calls == 0
    _steps(budget, trainer, clock, [1.0] * 4)
    assert budget.total_steps == 97


def test_accumulated_batches_make_one_estimate_per_optimizer_step(clock):
    """With 4 batches accumulated per step, Lightning calls the batch hooks 4 times at one step
    count: ``every=10`` over 20 steps estimates twice (after step 10, at the start of step 21), not
    once per batch, each a collective across the ranks."""
    budget, trainer = sc.TimeBudget(100.0, warm_steps=0, measure_steps=10, every=10), _fit_trainer()
    budget.on_train_start(trainer, None)
    for _ in range(21):
        for batch in range(4):
            budget.on_train_batch_start(trainer)
            clock.now += 0.25
            trainer.global_step += batch == 3
            budget.on_train_batch_end(trainer)
    assert trainer.strategy.calls == 2 and budget.total_steps == 97
