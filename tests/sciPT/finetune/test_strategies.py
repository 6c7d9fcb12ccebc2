"""Freezing, gradual unfreezing, the head warm-up and building strategies, on a tiny backbone (L2-SP
and EWC: test_anchors.py)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from sciPT.config import from_dict
from sciPT.errors import ConfigError
from sciPT.finetune import (
    EWC,
    L2SP,
    FinetuneConfig,
    FinetuneModule,
    Freeze,
    GradualUnfreezing,
    HeadWarmup,
    LinearProbe,
    Strategy,
    Wrapper,
    build_strategy,
    validate,
)


def module_for(cfg, backbone, head, toy, **train):
    return FinetuneModule(backbone, head, toy.loss, build_strategy(cfg, backbone), toy.train_config(**train))


def test_linear_probe_leaves_backbone_bit_identical_and_trains_head(backbone, head, loader, fit, toy):
    before = {k: v.clone() for k, v in backbone.state_dict().items()}
    head_before = head.weight.detach().clone()
    module = module_for(FinetuneConfig(strategy="linear-probe"), backbone, head, toy)
    fit(module, loader)
    assert module.trainer.global_step == 4
    # parameters and batch-norm statistics alike
    assert toy.same(before, backbone.state_dict())
    assert not torch.equal(head_before, head.weight)


@pytest.mark.parametrize("blocks", [0, 2])
def test_freeze_n_freezes_embedding_and_first_n_blocks(blocks, backbone, head, loader, fit, toy):
    before = toy.groups_state(backbone)
    module = module_for(FinetuneConfig(strategy="freeze", freeze_layers=blocks), backbone, head, toy)
    trainable = [all(p.requires_grad for p in g.parameters()) for g in backbone.layer_groups()]
    frozen = [not any(p.requires_grad for p in g.parameters()) for g in backbone.layer_groups()]
    assert trainable == [i > blocks for i in range(4)]
    assert frozen == [i <= blocks for i in range(4)]
    fit(module, loader)
    after = toy.groups_state(backbone)
    assert [toy.same(a, b) for a, b in zip(before, after)] == [i <= blocks for i in range(4)]


def test_gradual_unfreezes_one_group_from_the_top_every_k_steps(backbone, head, loader, fit, toy):
    recorder = toy.StepRecorder()
    module = module_for(
        FinetuneConfig(strategy="gradual", unfreeze_every=2), backbone, head, toy, max_steps=10
    )
    fit(module, loader, callbacks=[recorder])
    groups = 4
    for step in range(10):
        unfrozen = min(groups, step // 2)  # top groups trained at this step
        trained = [g >= groups - unfrozen for g in range(groups)]
        changed = [not toy.same(a, b) for a, b in zip(recorder.states[step], recorder.states[step + 1])]
        assert changed == trained, f"step {step}"
        assert recorder.modes[step] == trained, f"step {step}"
    # gradients are dropped instead: every parameter stays trainable, which DDP relies on
    assert all(p.requires_grad for p in backbone.parameters())
    assert module.strategy.metrics() == {"unfrozen_groups": 4.0}


@pytest.mark.parametrize("warmup", [3, 0.5])  # 0.5 of a 6-step run: 3 steps
def test_head_warmup_holds_the_backbone_then_hands_over(warmup, backbone, head, loader, fit, toy):
    """The first 3 steps train the head alone, the backbone bit-identical and in eval mode; from
    step 3 on every group moves, in train mode."""
    recorder = toy.StepRecorder()
    module = module_for(FinetuneConfig(head_warmup=warmup), backbone, head, toy, max_steps=6)
    heads = []
    recorder.on_before_zero_grad = lambda trainer, m, optimizer: heads.append(m.head.weight.detach().clone())
    fit(module, loader, callbacks=[recorder])
    for step in range(6):
        changed = [not toy.same(a, b) for a, b in zip(recorder.states[step], recorder.states[step + 1])]
        assert changed == [step >= 3] * 4, f"step {step}"
        assert recorder.modes[step] == [step >= 3] * 4, f"step {step}"
    assert len(heads) == 6  # the head before each step: it learns throughout
    assert all(not torch.equal(a, b) for a, b in zip(heads, heads[1:]))
    assert all(p.requires_grad for p in backbone.parameters())
    assert module.strategy.metrics() == {"backbone_lr_fraction": 3 / 4}  # step 5: third of the ramp


def test_gradual_unfreezing_after_a_head_warmup_counts_its_steps_from_there(backbone, head, loader, fit, toy):
    """Steps 0-3 the head alone; then one more group every 2 steps from the top, as gradual alone
    does from step 0 (it counted the warm-up's steps: two groups thawed at once at step 4)."""
    recorder = toy.StepRecorder()
    cfg = FinetuneConfig(strategy="gradual", unfreeze_every=2, head_warmup=4, head_warmup_ramp=0)
    module = module_for(cfg, backbone, head, toy, max_steps=12)
    fit(module, loader, callbacks=[recorder])
    groups = 4
    for step in range(12):
        unfrozen = 0 if step < 4 else min(groups, (step - 4) // 2)
        trained = [g >= groups - unfrozen for g in range(groups)]
        changed = [not toy.same(a, b) for a, b in zip(recorder.states[step], recorder.states[step + 1])]
        assert changed == trained, f"step {step}"


def test_the_backbone_joins_with_a_ramped_learning_rate(head, loader, fit, toy, tmp_path):
    """At the first step after a 2-step warm-up, a ramp of 3 applies 1/4 of the update a run
    without a ramp applies; the head gets its whole update in both."""

    def joined(ramp: int):
        torch.manual_seed(0)
        backbone = toy.Backbone()
        start = {k: v.detach().clone() for k, v in backbone.named_parameters()}
        own_head = nn.Linear(4, 1)
        own_head.load_state_dict(head.state_dict())
        strategy = HeadWarmup(Strategy(), 2, ramp=ramp)
        module = FinetuneModule(backbone, own_head, toy.loss, strategy, toy.train_config(max_steps=3))
        torch.manual_seed(5)
        fit(module, loader, run_dir=tmp_path / f"ramp{ramp}")
        moved = {k: v.detach() - start[k] for k, v in backbone.named_parameters()}
        return moved, own_head.weight.detach().clone()

    full, head_full = joined(0)
    ramped, head_ramped = joined(3)
    assert all(full[k].abs().max() > 0 for k in full)
    for k in full:
        torch.testing.assert_close(ramped[k], full[k] / 4, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(head_ramped, head_full)


def test_a_fractional_warmup_waits_for_the_total_and_is_never_restarted(backbone):
    """A run sized by its time budget: held while the total is unknown; a correction of the total
    moves the end of a warm-up under way, not of one that is over."""
    warmup = HeadWarmup(Strategy(), 0.25, ramp=3)
    warmup.setup(backbone)

    def step(k: int, total: int | None) -> tuple[bool, float]:
        warmup.on_total_steps(total)
        warmup.on_step(k, backbone)
        return warmup.warming, warmup.fraction

    assert step(0, None) == (True, 0.0)
    assert step(12, None) == (True, 0.0)
    assert step(13, 100) == (True, 0.0)  # ends at ceil(0.25 * 100) = 25
    assert step(13, 48) == (False, 2 / 4)  # corrected: ends at 12, step 13 the ramp's second
    assert step(14, 1000) == (False, 3 / 4)  # over: a longer total neither restarts nor moves it
    assert warmup.warmup_steps() == 12

    resumed = HeadWarmup(Strategy(), 0.25)  # restored total 80: over after 20 steps, ramp of 20
    resumed.setup(backbone)
    resumed.on_total_steps(80)
    resumed.on_step(24, backbone)
    assert (resumed.warming, resumed.fraction) == (False, 5 / 21)


def test_a_warmup_that_is_over_stays_over_in_a_run_resumed_with_more_steps(backbone):
    """``--resume --max-steps 30`` on a run of 6 whose warm-up (a third) ended at step 2: the end
    and the ramp come back from the checkpoint, not from the new total (which would hold the
    backbone again until step 10)."""
    first = HeadWarmup(Strategy(), 0.333)
    first.setup(backbone)
    assert first.checkpoint_state() == {}  # nothing settled before the first step
    for k in range(6):
        first.on_total_steps(6)
        first.on_step(k, backbone)
    assert first.checkpoint_state() == {"head_warmup_end": 2}

    resumed = HeadWarmup(Strategy(), 0.333)
    resumed.setup(backbone)
    resumed.restore_state(first.checkpoint_state())
    resumed.on_total_steps(30)
    resumed.on_step(6, backbone)
    assert (resumed.warming, resumed.fraction) == (False, 1.0)  # ramp of 2 over by step 4
    assert resumed.warmup_steps() == 2

    # a warm-up still under way when the checkpoint was written ends by the new total
    early = HeadWarmup(Strategy(), 0.333)
    early.setup(backbone)
    early.on_total_steps(6)
    early.on_step(1, backbone)
    assert early.checkpoint_state() == {}


def test_head_warmup_may_hold_named_parameters_only(backbone, head, loader, fit, toy):
    """A potential's heads live inside it: only the shared parameters are held, the rest learns."""
    recorder = toy.StepRecorder()
    strategy = HeadWarmup(Strategy(), 2, held=["embed.weight", "embed.bias"])
    module = FinetuneModule(backbone, head, toy.loss, strategy, toy.train_config(max_steps=4))
    fit(module, loader, callbacks=[recorder])
    for step in range(4):
        changed = [not toy.same(a, b) for a, b in zip(recorder.states[step], recorder.states[step + 1])]
        assert changed == [step >= 2, True, True, True], f"step {step}"
        assert recorder.modes[step] == [True] * 4, f"step {step}"


def test_head_warmup_wraps_the_configured_strategy(toy_fisher, backbone):
    fisher = dict(toy_fisher)
    strategy = build_strategy(FinetuneConfig(strategy="ewc", head_warmup=5), backbone, fisher=fisher)
    assert isinstance(strategy, HeadWarmup) and isinstance(strategy.inner, EWC)
    assert (strategy.steps, strategy.name, strategy.decays_backbone) == (5, "ewc", False)
    with pytest.raises(ConfigError) as err:
        build_strategy(FinetuneConfig(strategy="linear-probe", head_warmup=5), backbone)
    assert str(err.value) == (
        "finetune.head_warmup: 'linear-probe' trains the head alone for the whole run already; "
        "a warm-up is for strategies that train the backbone too"
    )
    with pytest.raises(ConfigError) as err:
        HeadWarmup(Strategy(), 2, held=["blocks.9.weight"]).setup(backbone)
    assert str(err.value) == "finetune.head_warmup: the backbone has no parameter 'blocks.9.weight' to hold"


def test_build_strategy_picks_the_configured_class(backbone):
    expected = {
        "full": Strategy,
        "replay": Strategy,
        "linear-probe": LinearProbe,
        "freeze": Freeze,
        "gradual": GradualUnfreezing,
        "l2sp": L2SP,
    }
    for name, cls in expected.items():
        assert type(build_strategy(FinetuneConfig(strategy=name), backbone)) is cls
    fisher = {n: torch.ones_like(p) for n, p in backbone.named_parameters()}
    assert type(build_strategy(FinetuneConfig(strategy="ewc"), backbone, fisher=fisher)) is EWC


def test_anchored_strategies_turn_off_backbone_weight_decay(backbone):
    assert Strategy.decays_backbone and not L2SP.decays_backbone and not EWC.decays_backbone


class NoGroups(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(3, 4)


class PartialGroups(nn.Module):
    def __init__(self, groups):
        super().__init__()
        self.a, self.b = nn.Linear(3, 4), nn.Linear(4, 4)
        self._groups = groups

    def layer_groups(self):
        return [getattr(self, name) for name in self._groups]


@pytest.mark.parametrize("strategy", ["freeze", "gradual"])
def test_backbone_without_layer_groups_is_refused(strategy):
    with pytest.raises(ConfigError) as err:
        build_strategy(FinetuneConfig(strategy=strategy), NoGroups())
    assert str(err.value) == (
        f"finetune.strategy: '{strategy}' freezes by layer groups, but NoGroups has no "
        "layer_groups() method (use 'full', 'linear-probe', 'l2sp', 'ewc' or 'replay')"
    )


@pytest.mark.parametrize(
    "groups, message",
    [
        (
            ["a"],
            "PartialGroups.layer_groups() leaves out parameter 'b.weight' (every backbone "
            "parameter must belong to exactly one group)",
        ),
        (["a", "b", "a"], "PartialGroups.layer_groups() puts parameter 'a.weight' in two groups"),
        ([], "PartialGroups.layer_groups() is empty"),
    ],
)
def test_layer_groups_must_partition_the_parameters(groups, message):
    with pytest.raises(ConfigError) as err:
        build_strategy(FinetuneConfig(strategy="gradual"), PartialGroups(groups))
    assert str(err.value) == f"finetune.strategy: {message}"


def test_freeze_layers_beyond_the_backbone_is_refused(backbone):
    with pytest.raises(ConfigError) as err:
        build_strategy(FinetuneConfig(strategy="freeze", freeze_layers=4), backbone)
    assert str(err.value) == (
        "finetune.freeze_layers: expected 0 to 3 (ToyBackbone has 4 layer "
        "groups, the embedding and 3 more), got 4"
    )


def test_ewc_without_fisher_is_refused(backbone):
    with pytest.raises(ConfigError) as err:
        build_strategy(FinetuneConfig(strategy="ewc"), backbone)
    assert str(err.value) == (
        "finetune.strategy: 'ewc' needs the Fisher diagonal of the pre-training loss and the "
        "pre-trained model has none (compute it with sciPT.finetune.fisher_diagonal and store it "
        "with sciPT.finetune.save_fisher, or sciPT.hf_load.save_fisher beside a Hugging Face folder)"
    )


def test_ewc_fisher_must_match_the_backbone(toy_fisher, backbone):
    fisher = dict(toy_fisher)
    del fisher["embed.bias"]
    with pytest.raises(
        ConfigError, match="^finetune: the Fisher diagonal has no entry for backbone parameter 'embed.bias'$"
    ):
        build_strategy(FinetuneConfig(strategy="ewc"), backbone, fisher=fisher)
    fisher = dict(toy_fisher)
    fisher["embed.bias"] = torch.ones(5)
    with pytest.raises(ConfigError) as err:
        build_strategy(FinetuneConfig(strategy="ewc"), backbone, fisher=fisher)
    assert str(err.value) == (
        "finetune: the Fisher diagonal entry 'embed.bias' has shape (5,), the backbone parameter (4,)"
    )
    fisher = {**dict(toy_fisher), "head.weight": torch.ones(1)}
    with pytest.raises(ConfigError) as err:
        build_strategy(FinetuneConfig(strategy="ewc"), backbone, fisher=fisher)
    assert str(err.value) == (
        "finetune: the Fisher diagonal entry 'head.weight' matches no "
        "backbone parameter (was it computed for another model?)"
    )


WARMUP_EXPECTED = "a number of steps (a non-negative integer) or a fraction of the run (between 0 and 1)"


@pytest.mark.parametrize(
    "key, value, expected",
    [
        ("freeze_layers", -1, "a non-negative integer"),
        ("unfreeze_every", 0, "a positive integer"),
        ("l2sp_alpha", -0.1, "a non-negative number"),
        ("ewc_lambda", -1.0, "a non-negative number"),
        ("replay_fraction", 1.0, "a fraction strictly between 0 and 1"),
        ("head_lr_multiplier", 0.0, "a positive number"),
        ("head_warmup", -1, WARMUP_EXPECTED),
        ("head_warmup", 2.5, WARMUP_EXPECTED),
    ],
)
def test_out_of_range_settings_are_refused(backbone, key, value, expected):
    cfg = from_dict(FinetuneConfig, {key: value}, "finetune")
    with pytest.raises(ConfigError) as err:
        build_strategy(cfg, backbone)
    assert str(err.value) == f"finetune.{key}: expected {expected}, got {value!r}"


def test_unknown_strategy_name_is_refused_when_read():
    with pytest.raises(ConfigError) as err:
        from_dict(FinetuneConfig, {"strategy": "lora"}, "finetune")
    assert str(err.value) == (
        "finetune.strategy: expected one of full, linear-probe, freeze, "
        "gradual, l2sp, ewc, replay, got 'lora'"
    )


def test_the_strategy_after_a_warmup_is_told_the_ramped_learning_rate(backbone):
    """The inner strategy's after_optimizer_step gets the rate the joining backbone was updated at:
    the optimizer's times the ramp's fraction."""
    rates = []

    class Recording(Strategy):
        def after_optimizer_step(self, backbone, lr):
            rates.append(lr)

    warmup = HeadWarmup(Recording(), 2, ramp=3)
    warmup.setup(backbone)
    warmup.on_step(2, backbone)
    warmup.before_optimizer_step(backbone)
    warmup.after_optimizer_step(backbone, 1.0)
    # step 2 is the ramp's first after a 2-step warm-up: (2 - 2 + 1) / (3 + 1) = 1/4 of lr 1.0
    assert rates == [0.25]


@pytest.mark.parametrize("blocks", [0, 2, 3])
def test_freeze_keeps_frozen_groups_in_eval_mode_and_the_rest_training(blocks, backbone):
    """A frozen group left in train mode would still drop out features and update its batch-norm
    statistics (the last group has one), so a 'frozen' layer would not stay fixed."""
    strategy = build_strategy(FinetuneConfig(strategy="freeze", freeze_layers=blocks), backbone)
    strategy.setup(backbone)
    backbone.train()
    strategy.on_step(0, backbone)
    assert [g.training for g in backbone.layer_groups()] == [i > blocks for i in range(4)]


def test_a_warmup_of_one_step_is_a_step_count_not_the_whole_run(backbone):
    """``head_warmup: 1`` holds the backbone for one step; read as the fraction 1.0 of the run it
    would hold it for the whole run, and the backbone would never train."""
    warmup = build_strategy(FinetuneConfig(head_warmup=1), backbone)
    warmup.setup(backbone)
    assert warmup.warmup_steps() == 1
    warmup.on_step(0, backbone)
    assert warmup.warming
    warmup.on_step(1, backbone)
    # the first step of a ramp as long as the warm-up: (1 - 1 + 1) / (1 + 1)
    assert (warmup.warming, warmup.fraction) == (False, 0.5)


def test_a_fractional_warmup_rounds_its_steps_up(backbone):
    """A quarter of a 10-step run is 2.5 steps: the warm-up takes 3 (the head gets its whole
    share), not 2 as rounding to nearest (half to even) would give."""
    warmup = HeadWarmup(Strategy(), 0.25)
    warmup.setup(backbone)
    warmup.on_total_steps(10)
    assert warmup.warmup_steps() == 3
    warmup.on_step(2, backbone)
    assert warmup.warming


def test_a_fractional_warmup_of_a_whole_number_of_steps_takes_exactly_those(backbone):
    """7% of a 100-step run is 7 steps of warm-up, not 8."""
    for fraction, total, steps in [(0.07, 100, 7), (0.14, 100, 14), (0.55, 100, 55), (0.07, 10_000, 700)]:
        warmup = HeadWarmup(Strategy(), fraction)
        warmup.setup(backbone)
        warmup.on_total_steps(total)
        assert warmup.warmup_steps() == steps


def test_zero_strengths_and_a_zero_ramp_are_accepted(backbone, toy_fisher):
    """A zero strength is the ablation baseline of a strength scan (no pull at all), and a zero
    ramp hands the backbone the full rate at once: both are documented as allowed."""
    assert build_strategy(FinetuneConfig(strategy="l2sp", l2sp_alpha=0.0), backbone).strength == 0.0
    ewc = build_strategy(FinetuneConfig(strategy="ewc", ewc_lambda=0.0), backbone, fisher=dict(toy_fisher))
    assert ewc.strength == 0.0
    assert build_strategy(FinetuneConfig(head_warmup=2, head_warmup_ramp=0), backbone).ramp == 0


@pytest.mark.parametrize(
    "key, value, expected",
    [
        ("replay_fraction", 0.0, "a fraction strictly between 0 and 1"),
        ("head_warmup_ramp", -1, "a non-negative integer"),
    ],
)
def test_boundary_settings_are_refused(backbone, key, value, expected):
    """A replay fraction of 0 is no replay at all, a negative ramp no ramp: said, not run."""
    with pytest.raises(ConfigError) as err:
        build_strategy(FinetuneConfig(**{key: value}), backbone)
    assert str(err.value) == f"finetune.{key}: expected {expected}, got {value!r}"


def test_a_warmup_as_long_as_the_run_is_refused():
    """20 warm-up steps of a 20-step run leave the backbone untrained; 19 leave it one step."""
    validate(FinetuneConfig(head_warmup=19), max_steps=20)
    with pytest.raises(ConfigError) as err:
        validate(FinetuneConfig(head_warmup=20), max_steps=20)
    assert str(err.value) == (
        "finetune.head_warmup: 20 steps, at or past --max-steps 20: the backbone would never train "
        "(that is --strategy linear-probe); give fewer steps or a fraction of the run"
    )


def test_each_anchored_strategy_takes_its_own_strength_and_anchor(backbone, toy_fisher):
    """Moving one embedding weight by 0.5: EWC's penalty is lambda/2 * F * 0.25 with F = 4, L2-SP's
    alpha/2 * 0.25; a strength mixed up with the other's would silently rescale the pull."""
    cfg = dict(l2sp_alpha=0.2, ewc_lambda=3.0)
    ewc = build_strategy(FinetuneConfig(strategy="ewc", **cfg), backbone, fisher=dict(toy_fisher))
    l2sp = build_strategy(FinetuneConfig(strategy="l2sp", **cfg), backbone)
    with torch.no_grad():
        backbone.embed.weight[0, 0] += 0.5
    assert ewc.penalty(backbone).item() == pytest.approx(0.5 * 3.0 * 4.0 * 0.25)
    assert l2sp.penalty(backbone).item() == pytest.approx(0.5 * 0.2 * 0.25)
    assert ewc.penalty(backbone).requires_grad and l2sp.penalty(backbone).requires_grad
    for name, extra in [("ewc", {"fisher": dict(toy_fisher)}), ("l2sp", {})]:
        # decoupled: the pull is a proximal step, the reported penalty carries no gradient
        decoupled = build_strategy(FinetuneConfig(strategy=name, anchor="decoupled"), backbone, **extra)
        assert decoupled.anchor == "decoupled" and not decoupled.penalty(backbone).requires_grad


def test_a_head_warmup_keeps_the_fisher_blocks_and_the_ramp(backbone, toy_fisher):
    """Wrapped in a warm-up, EWC must still use the Fisher's blocks (which see that a move along
    [1, -1] of two coupled inputs changes nothing), and the warm-up its configured ramp."""
    block = torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 0.0]]).expand(4, 3, 3).clone()
    cfg = FinetuneConfig(strategy="ewc", head_warmup=2, head_warmup_ramp=3)
    warmup = build_strategy(
        cfg, backbone, fisher=dict(toy_fisher), fisher_blocks={"embed.weight": (block, 1)}
    )
    with torch.no_grad():
        backbone.embed.weight[0, :2] += torch.tensor([0.5, -0.5])
    # d^T B d = (0.5 - 0.5)^2 = 0 with the block; the diagonal alone would give 1/2 * 4 * 0.5 = 1
    assert warmup.inner.penalty(backbone).item() == pytest.approx(0.0)
    warmup.setup(backbone)
    warmup.on_step(2, backbone)
    # the ramp's first step after the warm-up: (2 - 2 + 1) / (3 + 1), not / (2 + 1)
    assert warmup.fraction == pytest.approx(0.25)


def test_the_base_strategy_adds_a_zero_scalar_penalty_on_the_backbones_dtype(backbone):
    """Strategy ``full``: no penalty (a 0-d zero, added to the task loss without broadcasting it
    into a vector, in the parameters' dtype), backbone weight decay on, nothing to log or keep."""
    s = Strategy()
    p = s.penalty(backbone)
    assert (p.shape, p.item(), p.dtype) == (torch.Size([]), 0.0, torch.float32)
    assert s.penalty(backbone.double()).dtype == torch.float64
    assert (s.name, s.decays_backbone, s.metrics(), s.checkpoint_state()) == ("full", True, {}, {})


def test_a_wrapper_hands_every_hook_it_does_not_override_to_the_strategy_it_wraps(backbone):
    """A :class:`Wrapper` (the molecules' KeepOtherHeads, OnlineFisher) overrides a few hooks; each
    of the others must reach the wrapped strategy with its arguments as given, and the wrapper
    reads as that strategy (its name, its weight decay), its penalty, metrics and state included."""
    calls = []

    class Inner(Strategy):
        name, decays_backbone = "inner", False

        def setup(self, b):
            calls.append(("setup", b))

        def on_total_steps(self, total):
            calls.append(("total", total))

        def on_step(self, step, b):
            calls.append(("step", step, b))

        def penalty(self, b):
            return torch.tensor(2.5)

        def before_optimizer_step(self, b):
            calls.append(("before", b))

        def after_optimizer_step(self, b, lr):
            calls.append(("after", b, lr))

        def metrics(self):
            return {"inner_metric": 1.0}

        def checkpoint_state(self):
            return {"inner_step": 7}

        def restore_state(self, state):
            calls.append(("restore", state))

    class Adds(Wrapper):
        pass

    inner = Inner()
    w = Adds(inner)
    assert w.inner is inner and (w.name, w.decays_backbone) == ("inner", False)
    w.setup(backbone)
    w.on_total_steps(40)
    w.on_step(3, backbone)
    w.before_optimizer_step(backbone)
    w.after_optimizer_step(backbone, 0.01)
    w.restore_state({"inner_step": 5})
    assert calls == [
        ("setup", backbone),
        ("total", 40),
        ("step", 3, backbone),
        ("before", backbone),
        ("after", backbone, 0.01),
        ("restore", {"inner_step": 5}),
    ]
    assert w.penalty(backbone).item() == 2.5
    assert (w.metrics(), w.checkpoint_state()) == ({"inner_metric": 1.0}, {"inner_step": 7})


def test_the_default_configuration_is_plain_full_fine_tuning(backbone):
    """A task config without a ``finetune:`` section trains every weight, the head at the run's own
    learning rate, from the first step, its anchored penalties (if chosen) in the loss: a default of
    ``replay`` would be refused by the tasks that draw no pre-training data."""
    cfg = FinetuneConfig()
    assert (cfg.strategy, cfg.head_lr_multiplier, cfg.head_warmup, cfg.anchor) == ("full", 1.0, 0, "loss")
    strategy = build_strategy(cfg, backbone)
    assert type(strategy) is Strategy and strategy.decays_backbone


@pytest.mark.parametrize(
    "name, expected",
    [
        ("full", "full"),
        ("replay", "full"),  # replay is full fine-tuning on mixed batches
        ("linear-probe", "linear-probe"),
        ("freeze", "freeze"),
        ("gradual", "gradual"),
        ("l2sp", "l2sp"),
        ("ewc", "ewc"),
    ],
)
def test_a_built_strategy_is_named_after_the_configured_one(name, expected, backbone, toy_fisher):
    """A strategy (and a wrapper around it) reads as the configured strategy's name."""
    strategy = build_strategy(FinetuneConfig(strategy=name), backbone, fisher=dict(toy_fisher))
    assert strategy.name == expected


def test_an_unknown_strategy_given_directly_is_refused(backbone):
    """A config built in Python skips :func:`sciPT.config.from_dict`'s check of the name: building
    must refuse it too, not fall back to some strategy."""
    with pytest.raises(ConfigError) as err:
        build_strategy(FinetuneConfig(strategy="lora"), backbone)
    assert str(err.value) == "finetune.strategy: unknown strategy 'lora'"


@pytest.mark.parametrize("fisher", [None, {}])
def test_ewc_with_an_empty_fisher_is_refused_as_having_none(fisher, backbone):
    """An export's Fisher with no entries at all is no Fisher: the message says what to compute,
    not that one parameter's entry is missing."""
    with pytest.raises(ConfigError) as err:
        build_strategy(FinetuneConfig(strategy="ewc"), backbone, fisher=fisher)
    assert str(err.value) == (
        "finetune.strategy: 'ewc' needs the Fisher diagonal of the pre-training loss and the "
        "pre-trained model has none (compute it with sciPT.finetune.fisher_diagonal and store it "
        "with sciPT.finetune.save_fisher, or sciPT.hf_load.save_fisher beside a Hugging Face folder)"
    )


def test_reference_weights_must_match_the_backbone(backbone):
    """``w0`` must cover every backbone weight with its shape (a missing one would silently go
    unanchored, a transposed one of the same size would anchor the wrong entries), and nothing else;
    of several foreign entries the first in sorted order is named, whatever the dict's order."""
    good = {n: p.detach().clone() for n, p in backbone.named_parameters()}
    cfg = FinetuneConfig(strategy="l2sp")
    missing = {n: w for n, w in good.items() if n != "embed.bias"}
    with pytest.raises(ConfigError) as err:
        build_strategy(cfg, backbone, reference=missing)
    assert (
        str(err.value) == "finetune: the reference weights has no entry for backbone parameter 'embed.bias'"
    )
    transposed = {**good, "embed.weight": good["embed.weight"].T.clone()}  # [3, 4] for [4, 3]
    with pytest.raises(ConfigError) as err:
        build_strategy(cfg, backbone, reference=transposed)
    assert str(err.value) == (
        "finetune: the reference weights entry 'embed.weight' has shape (3, 4), the backbone parameter (4, 3)"
    )
    foreign = {"head.weight": torch.ones(1), **good, "aux.bias": torch.ones(1)}
    with pytest.raises(ConfigError) as err:
        build_strategy(cfg, backbone, reference=foreign)
    assert str(err.value) == (
        "finetune: the reference weights entry 'aux.bias' matches no backbone parameter "
        "(was it computed for another model?)"
    )


@pytest.mark.parametrize(
    "key, value, expected",
    [
        ("ewc_online_every", -1, "a non-negative integer"),
        ("ewc_online_frames", 0, "a positive integer"),
    ],
)
def test_out_of_range_online_fisher_settings_are_refused(backbone, key, value, expected):
    with pytest.raises(ConfigError) as err:
        build_strategy(FinetuneConfig(strategy="ewc", **{key: value}), backbone, fisher={})
    assert str(err.value) == f"finetune.{key}: expected {expected}, got {value!r}"


@pytest.mark.parametrize(
    "warmup, max_steps, said",
    [(1, 1, "1 steps, at or past --max-steps 1"), (25.0, 20, "25 steps, at or past --max-steps 20")],
)
def test_a_warmup_at_or_past_the_run_is_refused_in_whole_steps(warmup, max_steps, said):
    """One warm-up step of a one-step run is the whole run too; a step count written as a float
    (``25.0`` from a config file) is said as the whole number of steps it is."""
    with pytest.raises(ConfigError) as err:
        validate(FinetuneConfig(head_warmup=warmup), max_steps=max_steps)
    assert str(err.value) == (
        f"finetune.head_warmup: {said}: the backbone "
        "would never train (that is --strategy linear-probe); give fewer steps or a fraction of the run"
    )


def test_a_fractional_warmup_that_rounds_up_to_the_whole_run_is_refused(backbone):
    """0.6 of a 2-step run is ceil(1.2) = 2 warm-up steps (HeadWarmup rounds up): the backbone never
    trains, the very case the refusal of ``head_warmup >= max_steps`` is there for; 0.4 of it is one
    step, and 0.6 of 3 steps two: accepted."""
    warmup = HeadWarmup(Strategy(), 0.6)
    warmup.setup(backbone)
    warmup.on_total_steps(2)
    assert warmup.warmup_steps() == 2  # the whole run
    with pytest.raises(ConfigError) as err:
        validate(FinetuneConfig(head_warmup=0.6), max_steps=2)
    assert str(err.value) == (
        "finetune.head_warmup: 0.6 of --max-steps 2 is 2 steps (rounded up), the whole run: the "
        "backbone would never train (that is --strategy linear-probe); give a smaller fraction or more "
        "steps"
    )
    validate(FinetuneConfig(head_warmup=0.4), max_steps=2)
    validate(FinetuneConfig(head_warmup=0.6), max_steps=3)
