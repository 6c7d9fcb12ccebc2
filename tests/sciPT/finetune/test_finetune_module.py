"""The fine-tuning LightningModule: optimizer groups, logged values, resuming."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from sciPT.finetune import FinetuneConfig, FinetuneModule, build_strategy


class WeightedLoss(nn.Module):
    """A loss with a learnable scale: its parameter is new, like the head's."""

    def __init__(self):
        super().__init__()
        self.log_scale = nn.Parameter(torch.zeros(()))

    def forward(self, backbone, head, batch):
        x, y = batch
        loss = (head(backbone(x)).squeeze(-1) - y).square().mean() * self.log_scale.exp()
        return loss, {}


def groups_by_role(module):
    backbone = {id(p) for p in module.backbone.parameters()}
    return [
        (
            "backbone" if id(g["params"][0]) in backbone else "new",
            g["lr"],
            g["weight_decay"],
            len(g["params"]),
        )
        for g in module.optimizer_groups()
    ]


@pytest.mark.parametrize("strategy, backbone_decay", [("full", 0.1), ("l2sp", 0.0)])
def test_optimizer_groups(strategy, backbone_decay, backbone, head, toy):
    module = FinetuneModule(
        backbone,
        head,
        WeightedLoss(),
        build_strategy(FinetuneConfig(strategy=strategy), backbone),
        toy.train_config(lr=0.01, weight_decay=0.1),
        head_lr_multiplier=10.0,
    )
    # backbone: 4 weight matrices / 4 biases + the batch norm scale and shift;
    # new: head matrix / head bias + the loss scale
    assert groups_by_role(module) == [
        ("backbone", 0.01, backbone_decay, 4),
        ("backbone", 0.01, 0.0, 6),
        ("new", pytest.approx(0.1), 0.1, 1),
        ("new", pytest.approx(0.1), 0.0, 2),
    ]
    # pre-training's AdamW settings (sciPT.module.adamw): a fine-tune continues with the same moments
    optimizer = module.configure_optimizers()["optimizer"]
    assert {(g["betas"], g["eps"]) for g in optimizer.param_groups} == {((0.9, 0.98), 1e-6)}


def test_a_head_inside_the_backbone_learns_as_a_head(backbone, head, toy):
    """A potential carries its heads itself: the head being fitted (here the last block, named by
    ``head_parameters``) gets the head's learning rate and weight decay, not the anchored backbone's."""
    module = FinetuneModule(
        backbone,
        head,
        WeightedLoss(),
        build_strategy(FinetuneConfig(strategy="l2sp"), backbone),
        toy.train_config(lr=0.01, weight_decay=0.1),
        head_lr_multiplier=10.0,
        head_parameters=[n for n, _ in backbone.named_parameters() if n.startswith("blocks.2.")],
    )
    groups = [(g["lr"], g["weight_decay"], {id(p) for p in g["params"]}) for g in module.optimizer_groups()]
    last = dict(backbone.blocks[2].named_parameters())
    # the last block's matrix decays at the head's rate; its bias and batch norm are not decayed
    assert [(lr, wd) for lr, wd, ids in groups if id(last["0.weight"]) in ids] == [(pytest.approx(0.1), 0.1)]
    assert [(lr, wd) for lr, wd, ids in groups if id(last["1.weight"]) in ids] == [(pytest.approx(0.1), 0.0)]
    # the rest of the backbone stays anchored (L2-SP: no decay towards zero) at the base rate
    assert [(lr, wd) for lr, wd, ids in groups if id(backbone.embed.weight) in ids] == [(0.01, 0.0)]
    assert sum(len(ids) for *_, ids in groups) == len(list(module.parameters()))


def test_linear_probe_gives_the_optimizer_no_backbone_parameter(backbone, head, toy):
    module = FinetuneModule(
        backbone,
        head,
        toy.loss,
        build_strategy(FinetuneConfig(strategy="linear-probe"), backbone),
        toy.train_config(),
    )
    assert [role for role, *_ in groups_by_role(module)] == ["new", "new"]


def test_loss_is_task_loss_plus_penalty_and_validation_is_logged(backbone, head, loader, fit, toy):
    module = FinetuneModule(
        backbone,
        head,
        toy.loss,
        build_strategy(FinetuneConfig(strategy="l2sp", l2sp_alpha=5.0), backbone),
        toy.train_config(max_steps=3, val_every=3, val_batches=2),
    )
    trainer = fit(module, loader, val_loader=loader)
    logged = trainer.callback_metrics
    assert logged["train/penalty"] > 0
    assert logged["train/loss"].item() == pytest.approx(
        logged["train/task_loss"].item() + logged["train/penalty"].item(), rel=1e-6
    )
    assert {"val/loss", "val/mae", "train/mae", "train/lr"} <= set(logged)


def first_then_resumed(module, first_steps, total_steps, fit, loader, tmp_path):
    """``module(first_steps)`` fitted, then ``module(total_steps)`` resumed from its last checkpoint."""
    first = module(first_steps)
    fit(first, loader, run_dir=tmp_path / "first")
    resumed = module(total_steps)
    fit(
        resumed,
        loader,
        run_dir=tmp_path / "resumed",
        ckpt_path=tmp_path / "first" / "checkpoints" / "last.ckpt",
    )
    return first, resumed


@pytest.mark.parametrize("strategy", ["gradual", "ewc"])
def test_a_resumed_run_ends_where_an_uninterrupted_one_does(strategy, loader, fit, tmp_path, toy):
    torch.manual_seed(0)
    backbone = toy.Backbone()
    for m in backbone.modules():  # randomness would differ between the two runs
        if isinstance(m, nn.Dropout):
            m.p = 0.0
    head = nn.Linear(4, 1)
    fisher = {n: torch.rand_like(p) for n, p in backbone.named_parameters()}
    cfg = FinetuneConfig(strategy=strategy, unfreeze_every=2, ewc_lambda=3.0)

    def module(max_steps):
        b, h = copy.deepcopy(backbone), copy.deepcopy(head)  # as if reloaded from the export
        return FinetuneModule(
            b,
            h,
            toy.loss,
            build_strategy(cfg, b, fisher=fisher),
            toy.train_config(max_steps=max_steps, checkpoint_every=4),
        )

    straight = module(8)
    fit(straight, loader, run_dir=tmp_path / "straight")
    first, resumed = first_then_resumed(module, 4, 8, fit, loader, tmp_path)
    assert resumed.trainer.global_step == 8
    assert toy.same(straight.state_dict(), resumed.state_dict())
    assert not toy.same(first.state_dict(), resumed.state_dict())


def test_a_run_resumed_with_more_steps_keeps_its_finished_head_warmup(loader, fit, tmp_path, toy):
    """6 steps with the head alone for the first third (2 steps), resumed to 12: the warm-up's end
    (and so its ramp) comes back from the checkpoint instead of moving to ceil(12 / 3) = 4 (the
    re-freeze a longer extension caused is the strategy test's)."""
    torch.manual_seed(0)
    backbone, head = toy.Backbone(), nn.Linear(4, 1)
    cfg = FinetuneConfig(head_warmup=1 / 3)

    def module(max_steps):
        b, h = copy.deepcopy(backbone), copy.deepcopy(head)
        return FinetuneModule(b, h, toy.loss, build_strategy(cfg, b), toy.train_config(max_steps=max_steps))

    first, resumed = first_then_resumed(module, 6, 12, fit, loader, tmp_path)
    assert first.strategy.checkpoint_state() == {"head_warmup_end": 2}
    assert resumed.trainer.global_step == 12
    assert resumed.strategy.warmup_steps() == 2
