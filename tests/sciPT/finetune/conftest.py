"""Tiny models and a short training loop for the fine-tuning tests."""

from __future__ import annotations

from types import SimpleNamespace

import lightning.pytorch as pl
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from sciPT.schedules import ScheduleConfig
from sciPT.trainer import TrainConfig, build_trainer


class ToyBackbone(nn.Module):
    """An embedding and ``blocks`` residual blocks of width 4; the last block has a batch norm."""

    def __init__(self, blocks: int = 3, width: int = 4):
        super().__init__()
        self.embed = nn.Linear(3, width)
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.Linear(width, width), nn.Tanh(), nn.Dropout(0.1)) for _ in range(blocks - 1)
        )
        self.blocks.append(nn.Sequential(nn.Linear(width, width), nn.BatchNorm1d(width)))

    def layer_groups(self) -> list[nn.Module]:
        return [self.embed, *self.blocks]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.embed(x)
        for block in self.blocks:
            h = h + block(h)
        return h


def mse_loss(backbone, head, batch):
    x, y = batch
    pred = head(backbone(x)).squeeze(-1)
    loss = (pred - y).square().mean()
    return loss, {"mae": (pred - y).abs().mean().detach()}


def groups_state(backbone: nn.Module) -> list[dict[str, torch.Tensor]]:
    """A copy of every layer group's parameters and buffers."""
    return [{k: v.detach().clone() for k, v in g.state_dict().items()} for g in backbone.layer_groups()]


def same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture
def backbone() -> ToyBackbone:
    torch.manual_seed(0)
    return ToyBackbone()


@pytest.fixture
def toy_fisher(backbone) -> dict[str, torch.Tensor]:
    """A Fisher diagonal for ``backbone``: 0.5 everywhere but 4 on the embedding and 1 on the first
    block's weight (copy it before changing entries)."""
    fisher = {n: torch.full_like(p, 0.5) for n, p in backbone.named_parameters()}
    fisher["embed.weight"] = torch.full((4, 3), 4.0)
    fisher["blocks.0.0.weight"] = torch.full((4, 4), 1.0)
    return fisher


@pytest.fixture
def head() -> nn.Module:
    torch.manual_seed(1)
    return nn.Linear(4, 1)


@pytest.fixture
def loader() -> DataLoader:
    g = torch.Generator().manual_seed(2)
    x = torch.randn(32, 3, generator=g)
    y = torch.sin(x).sum(-1)
    return DataLoader(TensorDataset(x, y), batch_size=8)


def train_config(**overrides) -> TrainConfig:
    settings = dict(
        max_steps=4,
        lr=0.05,
        weight_decay=0.1,
        log_every=1,
        checkpoint_every=1000,
        schedule=ScheduleConfig(name="constant", warmup_steps=0),
    )
    settings.update(overrides)
    return TrainConfig(**settings)


@pytest.fixture
def fit(tmp_path):
    """``fit(module, train_loader, val_loader=None, callbacks=(), ckpt_path=None) -> Trainer``."""

    def run(module, train_loader, val_loader=None, callbacks=(), ckpt_path=None, run_dir=None):
        trainer = build_trainer(
            module.train_cfg,
            run_dir or tmp_path,
            callbacks=list(callbacks),
            enable_val=val_loader is not None,
        )
        trainer.fit(module, train_loader, val_loader, ckpt_path=ckpt_path)
        return trainer

    return run


class StepRecorder(pl.Callback):
    """The backbone's layer groups (state and train mode) after every optimizer step."""

    def __init__(self):
        self.states: list[list[dict[str, torch.Tensor]]] = []
        self.modes: list[list[bool]] = []

    def on_train_start(self, trainer, module):
        self.states.append(groups_state(module.backbone))

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        self.states.append(groups_state(module.backbone))
        self.modes.append([g.training for g in module.backbone.layer_groups()])


@pytest.fixture
def toy() -> SimpleNamespace:
    """The helpers above, for tests (a conftest is not imported by name)."""
    return SimpleNamespace(
        Backbone=ToyBackbone,
        loss=mse_loss,
        groups_state=groups_state,
        same=same,
        train_config=train_config,
        StepRecorder=StepRecorder,
    )
