"""EWC with a running Fisher estimate (sciPT.finetune.online) on the toy backbone."""

from __future__ import annotations

import pytest
import torch

from sciPT.errors import ConfigError
from sciPT.finetune import EWC, L2SP, FinetuneConfig, OnlineFisher, build_strategy
from sciPT.finetune import validate as validate_finetune


class ScaledEstimate:
    """An estimate of ``scale * F_0``, ``scale`` set by the test; records the weights it saw."""

    def __init__(self, fisher, blocks=None):
        self.fisher, self.blocks = fisher, blocks or {}
        self.scale = 1.0
        self.calls: list[dict[str, int]] = []

    def __call__(self, backbone, axes):
        self.calls.append(dict(axes))
        return (
            {n: self.scale * f for n, f in self.fisher.items()},
            {n: self.scale * self.blocks[n][0] for n in axes},
        )


def _fisher(backbone):
    return {n: torch.full_like(p, 0.5) for n, p in backbone.named_parameters()}


def _reference(backbone):
    return {n: p.detach().clone() for n, p in backbone.named_parameters()}


def _move(backbone, by: float):
    with torch.no_grad():
        backbone.embed.weight[0, 0] += by


def test_the_penalty_uses_f0_plus_the_mean_of_the_estimates(backbone):
    fisher = _fisher(backbone)
    inner = build_strategy(FinetuneConfig(strategy="ewc", ewc_lambda=2.0), backbone, fisher=fisher)
    estimate = ScaledEstimate(fisher)
    online = OnlineFisher(inner, estimate, every=10)
    estimate.scale = 2.0
    online.on_step(0, backbone)  # estimate 1 at w0: F = 0.5 + 2 * 0.5
    assert online.estimates == 1
    _move(backbone, 0.1)
    online.on_step(5, backbone)  # not due
    assert online.estimates == 1
    # lambda/2 * (0.5 + 1.0) * 0.1^2
    assert online.penalty(backbone).item() == pytest.approx(0.015, rel=1e-5)
    estimate.scale = 4.0
    online.on_step(10, backbone)  # estimate 2: mean (2 + 4) / 2 * 0.5 = 1.5
    assert online.estimates == 2
    assert online.penalty(backbone).item() == pytest.approx(0.5 * 2.0 * (0.5 + 1.5) * 0.01, rel=1e-5)
    assert online.metrics()["fisher_estimates"] == 2.0
    assert online.metrics()["fisher_growth"] == pytest.approx(3.0)


def test_no_estimate_while_the_weights_stay_or_the_step_repeats(backbone):
    fisher = _fisher(backbone)
    inner = build_strategy(FinetuneConfig(strategy="ewc"), backbone, fisher=fisher)
    estimate = ScaledEstimate(fisher)
    online = OnlineFisher(inner, estimate, every=2)
    for step in (0, 2, 4):  # a head warm-up: the anchored weights are held
        online.on_step(step, backbone)
    assert online.estimates == 1
    _move(backbone, 0.1)
    online.on_step(6, backbone)
    online.on_step(6, backbone)  # gradient accumulation calls it again before the optimizer steps
    online.on_step(7, backbone)
    assert online.estimates == 2
    online.on_step(9, backbone)  # due since step 8, but not moved since step 6
    assert online.estimates == 2
    _move(backbone, 0.1)
    online.on_step(11, backbone)
    assert online.estimates == 3


def test_blocks_take_f0_plus_the_mean_of_the_estimated_blocks(backbone):
    fisher = _fisher(backbone)
    block = 4.0 * torch.eye(4)
    block[0, 1] = block[1, 0] = 3.0
    blocks = {"embed.weight": (block.expand(3, 4, 4).clone(), 0)}
    inner = build_strategy(
        FinetuneConfig(strategy="ewc", ewc_lambda=2.0), backbone, fisher=fisher, fisher_blocks=blocks
    )
    estimate = ScaledEstimate(fisher, blocks)
    online = OnlineFisher(inner, estimate, every=1)
    online.on_step(0, backbone)
    assert estimate.calls == [{"embed.weight": 0}]
    with torch.no_grad():
        backbone.embed.weight[0, 0] += 0.1
        backbone.embed.weight[1, 0] += 0.1
    # twice the block of test_ewc_with_column_blocks_couples_the_weights_of_one_unit: 2 * 0.14
    assert online.penalty(backbone).item() == pytest.approx(0.28, rel=1e-5)


def test_refusals(backbone):
    fisher = _fisher(backbone)
    reference = {n: p.detach().clone() for n, p in backbone.named_parameters()}
    with pytest.raises(ConfigError) as err:
        OnlineFisher(L2SP(1.0, reference), ScaledEstimate(fisher), every=1)
    assert str(err.value) == "finetune.ewc_online_every: a running Fisher estimate needs strategy 'ewc'"
    with pytest.raises(ConfigError) as err:
        OnlineFisher(EWC(1.0, reference, fisher), ScaledEstimate(fisher), every=0)
    assert str(err.value) == "finetune.ewc_online_every: expected a positive integer, got 0"
    partial = dict(fisher)
    partial.pop("embed.weight")
    online = OnlineFisher(EWC(1.0, reference, fisher), ScaledEstimate(partial), every=1)
    with pytest.raises(ConfigError) as err:
        online.on_step(0, backbone)
    assert str(err.value) == "finetune.ewc_online_every: the Fisher estimate has no entry for 'embed.weight'"
    with pytest.raises(ConfigError) as err:
        validate_finetune(FinetuneConfig(strategy="l2sp", ewc_online_every=5))
    assert str(err.value) == (
        "finetune.ewc_online_every: re-estimates the Fisher of strategy 'ewc', but the strategy is 'l2sp'"
    )
    with pytest.raises(ConfigError) as err:
        validate_finetune(FinetuneConfig(strategy="ewc", ewc_online_frames=0))
    assert str(err.value) == "finetune.ewc_online_frames: expected a positive integer, got 0"
    with pytest.raises(ConfigError) as err:
        build_strategy(FinetuneConfig(strategy="ewc", ewc_online_every=5), backbone, fisher=fisher)
    assert str(err.value) == (
        "finetune.ewc_online_every: this task has no estimate of the Fisher at the current weights "
        "(the force-field task with a new head has one)"
    )


def test_estimates_stay_on_the_grid_of_every_steps_after_a_resume(backbone):
    """A run resumed at step 15 with ``every = 10`` takes its next estimates at steps 20 and 30, as
    the uninterrupted run does, not every 10 steps counted from the resume."""
    fisher = _fisher(backbone)
    online = OnlineFisher(EWC(1.0, _reference(backbone), fisher), ScaledEstimate(fisher), every=10)
    online.on_step(15, backbone)  # the first step after the resume: a new mean starts here
    assert online.estimates == 1
    for step in range(16, 31):
        _move(backbone, 0.01)
        online.on_step(step, backbone)
        assert online.estimates == 1 + (step >= 20) + (step >= 30), f"step {step}"


def test_weights_moved_in_opposite_directions_have_moved(backbone):
    """Two weights moved by +d and -d leave the sum of the changes as it was, but the weights are
    elsewhere: the Fisher there must be estimated again."""
    with torch.no_grad():
        for p in backbone.parameters():
            p.zero_()
    fisher = _fisher(backbone)
    online = OnlineFisher(EWC(1.0, _reference(backbone), fisher), ScaledEstimate(fisher), every=1)
    online.on_step(0, backbone)
    with torch.no_grad():
        backbone.embed.weight[0, 0] = 0.5
        backbone.embed.weight[0, 1] = -0.5
    online.on_step(1, backbone)
    assert online.estimates == 2


def test_fisher_growth_over_a_zero_f0_is_infinite(backbone):
    """Any curvature found along the path is infinitely more than none at w0: reported as inf, not
    as 0 (which would read as 'the path added nothing')."""
    zero = {n: torch.zeros_like(p) for n, p in backbone.named_parameters()}
    estimate = ScaledEstimate(_fisher(backbone))
    online = OnlineFisher(EWC(1.0, _reference(backbone), zero), estimate, every=1)
    online.on_step(0, backbone)
    assert online.metrics()["fisher_growth"] == float("inf")


def test_fisher_growth_over_a_small_f0_is_the_ratio_not_infinite(backbone):
    """A Fisher at w0 summing to less than 1 (small curvatures are common) is still a Fisher: the
    growth is the path's curvature over it, here 2, not 'infinitely more than none'."""
    small = {n: torch.full_like(p, 1e-6) for n, p in backbone.named_parameters()}
    estimate = ScaledEstimate(small)
    estimate.scale = 2.0
    online = OnlineFisher(EWC(1.0, _reference(backbone), small), estimate, every=1)
    online.on_step(0, backbone)
    assert online.metrics()["fisher_growth"] == pytest.approx(2.0)


def test_a_resumed_run_penalises_with_f0_plus_its_own_new_mean(backbone):
    """The means are not checkpointed (the penalty's F_0 + mean is not either): a run resumed from
    a checkpoint of an online run starts a new mean, and its penalty uses F_0 + that mean, not
    F_0 + the new estimate minus the old run's mean."""
    fisher = _fisher(backbone)
    reference = _reference(backbone)
    first = OnlineFisher(EWC(2.0, reference, fisher), ScaledEstimate(fisher), every=10)
    first.estimate.scale = 3.0
    first.on_step(0, backbone)
    saved = first.state_dict()
    assert list(saved) == []
    resumed = OnlineFisher(EWC(2.0, reference, fisher), ScaledEstimate(fisher), every=10)
    resumed.load_state_dict(saved)
    _move(backbone, 0.1)
    resumed.on_step(15, backbone)  # estimate 1 of the new mean: scale 1, F = 0.5 + 0.5
    # lambda/2 * (0.5 + 0.5) * 0.1^2
    assert resumed.penalty(backbone).item() == pytest.approx(0.01, rel=1e-5)
