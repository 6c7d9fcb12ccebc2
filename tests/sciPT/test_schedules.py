import math

import pytest
import torch

from sciPT.schedules import ScheduleConfig, apply_current_rates, build_scheduler, lr_multiplier


def test_warmup_is_linear():
    cfg = ScheduleConfig(name="cosine", warmup_steps=10)
    assert [lr_multiplier(s, 100, cfg) for s in (0, 4, 9)] == pytest.approx([0.1, 0.5, 1.0])


@pytest.mark.parametrize(
    "name, step, expected",
    [
        # warm-up 10 of 110 steps, floor 0.1: progress p = (step - 10) / 100
        ("cosine", 60, 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.5))),  # p = 0.5 -> 0.55
        ("cosine", 110, 0.1),
        ("linear", 35, 0.1 + 0.9 * 0.75),
        ("exponential", 13, 0.5**3),
        ("step", 45, 0.5**1),  # step_size 20: floor(35 / 20)
        ("constant", 99, 1.0),
    ],
)
def test_decay_by_hand(name, step, expected):
    cfg = ScheduleConfig(name=name, warmup_steps=10, min_lr_ratio=0.1, gamma=0.5, step_size=20)
    assert lr_multiplier(step, 110, cfg) == pytest.approx(expected)


def test_floor_is_respected_by_exponential():
    cfg = ScheduleConfig(name="exponential", warmup_steps=0, min_lr_ratio=0.2, gamma=0.5)
    assert lr_multiplier(50, 100, cfg) == 0.2


def test_scheduler_drives_the_optimizer():
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=1.0)
    sched = build_scheduler(opt, 20, ScheduleConfig(name="linear", warmup_steps=4, min_lr_ratio=0.0))
    lrs = []
    for _ in range(6):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    # warm-up steps 0..3, then p = (step - 4) / 16: step 4 is the peak, step 5 is 1 - 1/16
    assert lrs == pytest.approx([0.25, 0.5, 0.75, 1.0, 1.0, 1 - 1 / 16])


def test_a_resumed_schedule_with_a_new_total_applies_its_own_rate_at_once():
    """A run of 10 steps resumed to 20: the optimizer state restored at step 10 holds the old
    schedule's floor; the first new step must take the new schedule's rate, group by group."""
    p, q = torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))
    cfg = ScheduleConfig(name="cosine", warmup_steps=2, min_lr_ratio=0.1)
    total = {"steps": 10}
    opt = torch.optim.SGD([{"params": [p], "lr": 1.0}, {"params": [q], "lr": 3.0}])
    sched = build_scheduler(opt, lambda: total["steps"], cfg)
    for _ in range(10):
        opt.step()
        sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1)  # the old run's floor
    total["steps"] = 20
    apply_current_rates(sched)
    expected = lr_multiplier(10, 20, cfg)  # 8 of 18 decay steps: 0.1 + 0.9 * (1 + cos(8 pi / 18)) / 2
    assert expected == pytest.approx(0.1 + 0.45 * (1 + math.cos(8 * math.pi / 18)))
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([expected, 3 * expected])
    assert sched.get_last_lr() == pytest.approx([expected, 3 * expected])


def test_a_step_decay_applies_at_each_multiple_of_step_size_after_the_warmup():
    """The step schedule multiplies by gamma once step_size steps past the warm-up have gone."""
    cfg = ScheduleConfig(name="step", warmup_steps=10, min_lr_ratio=0.1, gamma=0.5, step_size=20)
    # step 29: floor((29 - 10) / 20) = 0 -> 1.0; step 30: floor(20 / 20) = 1 -> 0.5
    assert [lr_multiplier(s, 1000, cfg) for s in (10, 29, 30, 49, 50)] == [1.0, 1.0, 0.5, 0.5, 0.25]


@pytest.mark.parametrize("name", ["cosine", "linear"])
def test_a_run_past_its_total_stays_at_the_floor(name):
    """A run resumed past its planned total (or a total corrected down by a time budget) must keep
    the floor: unclipped, cosine would climb back up and linear would fall below the floor."""
    cfg = ScheduleConfig(name=name, warmup_steps=10, min_lr_ratio=0.1)
    assert [lr_multiplier(s, 110, cfg) for s in (110, 150, 210, 300)] == pytest.approx([0.1] * 4)


def test_a_total_no_longer_than_the_warmup_does_not_divide_by_zero():
    """A short run (total = warm-up) has no decay steps: right after the warm-up it is at the floor,
    not a ZeroDivisionError in the middle of training."""
    cfg = ScheduleConfig(name="linear", warmup_steps=10, min_lr_ratio=0.1)
    # p = (step - 10) / max(1, 0): 0 at step 10, clipped to 1 from step 11
    assert [lr_multiplier(s, 10, cfg) for s in (10, 11, 12)] == pytest.approx([1.0, 0.1, 0.1])


def test_floor_is_respected_by_step_decay():
    """Halving every 5 steps for 50 steps would reach 2^-10 of the rate: the floor 0.2 holds it."""
    cfg = ScheduleConfig(name="step", warmup_steps=0, min_lr_ratio=0.2, gamma=0.5, step_size=5)
    # floor(s / 5) halvings: 1, 0.5, 0.25, then max(0.2, 0.125) and beyond
    assert [lr_multiplier(s, 100, cfg) for s in (0, 5, 10, 15, 50)] == [1.0, 0.5, 0.25, 0.2, 0.2]


@pytest.mark.parametrize("name", ["cosine", "linear"])
def test_no_decay_while_the_total_is_unknown(name):
    """A run sized by its time budget does not know its total during the first steps: the rate
    must stay at its peak until it does, not drop to the floor."""
    cfg = ScheduleConfig(name=name, warmup_steps=2, min_lr_ratio=0.1)
    assert [lr_multiplier(s, None, cfg) for s in (0, 1, 2, 50, 10_000)] == pytest.approx([0.5, 1, 1, 1, 1])


@pytest.mark.parametrize(
    "name, last",
    [
        # warm-up 2 of 10 steps, floor 0.2: the last step taken, 9, is p = 7/8 of the decay
        ("cosine", 0.2 + 0.4 * (1 - math.cos(math.pi / 8))),  # cos(7 pi / 8) = -cos(pi / 8): 0.2304
        ("linear", 0.2 + 0.8 / 8),  # 0.3
    ],
)
def test_a_run_starts_at_a_warmup_fraction_peaks_after_it_and_reaches_the_floor_one_past_its_last_step(
    name, last
):
    """Step 0 takes 1 / warmup_steps of the rate, the first step after the warm-up the full rate,
    the last step taken (total - 1) one decay step short of the floor, which step `total` reaches."""
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=2.0)
    sched = build_scheduler(opt, 10, ScheduleConfig(name=name, warmup_steps=2, min_lr_ratio=0.2))
    lrs = []
    for _ in range(11):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert [lrs[0], lrs[1], lrs[2], lrs[9], lrs[10]] == pytest.approx([1.0, 2.0, 2.0, 2 * last, 0.4])
    assert all(a >= b for a, b in zip(lrs[2:], lrs[3:]))  # the decay never climbs back


def test_an_unknown_schedule_name_is_refused_by_name():
    """A name the decay does not know (a typo in a programmatic config) must stop the run with the
    name it got, not return no multiplier."""
    cfg = ScheduleConfig(name="cosin", warmup_steps=10)
    with pytest.raises(ValueError) as err:
        lr_multiplier(10, 100, cfg)
    assert str(err.value) == "unknown schedule 'cosin'"
    # refused when the scheduler is built, before the warm-up's steps (which need no name) are run
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    with pytest.raises(ValueError) as err:
        build_scheduler(opt, 100, cfg)
    assert (
        str(err.value)
        == "unknown schedule 'cosin' (expected one of: cosine, linear, exponential, step, constant)"
    )


def test_the_default_schedule_is_a_cosine_decay():
    """The README's resumed runs resize "the cosine schedule": a configuration that names no
    schedule decays by the cosine."""
    assert ScheduleConfig().name == "cosine"
