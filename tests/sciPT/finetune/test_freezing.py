"""The freezing strategies used directly, hook by hook, on the tiny backbone of conftest.py (trained
end to end, through build_strategy: test_strategies.py)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from sciPT.errors import ConfigError
from sciPT.finetune import Freeze, GradualUnfreezing, layer_groups


class NoGroups(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(3, 4)


class GroupsAsAList(nn.Module):
    """``layer_groups`` an attribute, not a method: calling it would be a TypeError."""

    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(3, 4), nn.Linear(4, 4)
        self.layer_groups = [self.a, self.b]


def fill_grads(backbone: nn.Module) -> None:
    for p in backbone.parameters():
        p.grad = torch.ones_like(p)


def groups_with_grads(backbone: nn.Module) -> list[bool]:
    """Per layer group: whether every parameter still holds its gradient."""
    return [all(p.grad is not None for p in g.parameters()) for g in backbone.layer_groups()]


def test_a_layer_groups_attribute_that_is_no_method_is_refused():
    with pytest.raises(ConfigError) as err:
        layer_groups(GroupsAsAList(), "freeze")
    assert str(err.value) == (
        "finetune.strategy: 'freeze' freezes by layer groups, but GroupsAsAList has no "
        "layer_groups() method (use 'full', 'linear-probe', 'l2sp', 'ewc' or 'replay')"
    )


@pytest.mark.parametrize("strategy", [Freeze(1), GradualUnfreezing(2)], ids=["freeze", "gradual"])
def test_strategies_built_directly_check_the_groups_under_their_own_name(strategy):
    """Built without build_strategy (as a caller of the Python API may), ``setup`` still checks
    the backbone's groups, and the message names the strategy actually used."""
    with pytest.raises(ConfigError) as err:
        strategy.setup(NoGroups())
    assert str(err.value) == (
        f"finetune.strategy: '{strategy.name}' freezes by layer groups, but NoGroups has no "
        "layer_groups() method (use 'full', 'linear-probe', 'l2sp', 'ewc' or 'replay')"
    )


def test_gradual_unfreezing_mid_run_trains_and_reports_the_top_groups_only(backbone):
    """Every 2 steps: at step 5 the top 5 // 2 = 2 of the 4 groups train (train mode, gradients
    kept), the bottom two are frozen (eval mode, gradients dropped), and the logged metric says 2."""
    strategy = GradualUnfreezing(2)
    strategy.setup(backbone)
    strategy.on_step(5, backbone)
    fill_grads(backbone)
    strategy.before_optimizer_step(backbone)
    assert groups_with_grads(backbone) == [False, False, True, True]
    assert [g.training for g in backbone.layer_groups()] == [False, False, True, True]
    assert strategy.metrics() == {"unfrozen_groups": 2.0}


def test_gradual_unfreezing_never_thaws_more_groups_than_there_are(backbone):
    """Long after the last group thawed (step 100 of every 2: 50 > 4 groups) all 4 train and keep
    their gradients; a count past the number of groups would slice the groups from the end and
    freeze the bottom ones again."""
    strategy = GradualUnfreezing(2)
    strategy.setup(backbone)
    assert [strategy.unfrozen_at(s) for s in (0, 1, 2, 7, 8, 9, 100)] == [0, 0, 1, 3, 4, 4, 4]
    strategy.on_step(100, backbone)
    fill_grads(backbone)
    strategy.before_optimizer_step(backbone)
    assert groups_with_grads(backbone) == [True] * 4
    assert [g.training for g in backbone.layer_groups()] == [True] * 4
    assert strategy.metrics() == {"unfrozen_groups": 4.0}


def test_gradual_unfreezing_set_up_again_starts_frozen(backbone):
    """``setup`` starts the count over: set up again after a run, the strategy reports no group
    thawed and drops every gradient until its first step says otherwise."""
    strategy = GradualUnfreezing(2)
    strategy.setup(backbone)
    strategy.on_step(100, backbone)
    strategy.setup(backbone)
    assert strategy.metrics() == {"unfrozen_groups": 0.0}
    fill_grads(backbone)
    strategy.before_optimizer_step(backbone)
    assert groups_with_grads(backbone) == [False] * 4
