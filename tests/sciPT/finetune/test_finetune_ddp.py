"""Gradual unfreezing in a two-process DDP run keeps the ranks' weights identical."""

from __future__ import annotations

import os
import sys
import textwrap

import pytest

from sciPT.testing import run_session

SCRIPT = textwrap.dedent("""
    import os, sys
    from pathlib import Path

    import torch
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset

    from sciPT.finetune import FinetuneConfig, FinetuneModule, build_strategy
    from sciPT.schedules import ScheduleConfig
    from sciPT.trainer import TrainConfig, build_trainer


    class Backbone(nn.Sequential):
        def layer_groups(self):
            return list(self)


    def loss_fn(backbone, head, batch):
        x, y = batch
        return (head(backbone(x)).squeeze(-1) - y).square().mean(), {}


    torch.manual_seed(0)
    backbone = Backbone(nn.Linear(3, 4), nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4)),
                        nn.Linear(4, 4))
    head = nn.Linear(4, 1)
    # each rank its own data: only gradient synchronisation keeps the copies equal
    g = torch.Generator().manual_seed(10 + int(os.environ.get("LOCAL_RANK", 0)))
    x = torch.randn(32, 3, generator=g)
    loader = DataLoader(TensorDataset(x, torch.sin(x).sum(-1)), batch_size=8)
    train = TrainConfig(max_steps=8, lr=0.05, devices=2, accelerator="cpu", strategy="ddp",
                        log_every=1, checkpoint_every=1000,
                        schedule=ScheduleConfig(name="constant", warmup_steps=0))
    cfg = FinetuneConfig(strategy="gradual", unfreeze_every=2)
    module = FinetuneModule(backbone, head, loss_fn, build_strategy(cfg, backbone), train)
    trainer = build_trainer(train, Path(sys.argv[1]), enable_val=False)
    trainer.fit(module, loader)  # on_train_end raises if the ranks' weights differ
    if trainer.global_rank == 0:
        print("ranks", len(set(module.rank_digests)), len(module.rank_digests),
              "unfrozen", module.strategy.unfrozen)
    # as the scipt command does (sciPT.cli.close_process_group): left to interpreter exit, Gloo's
    # threads can abort a rank that succeeded ("terminate called without an active exception")
    torch.distributed.destroy_process_group()
""")


@pytest.mark.slow
def test_gradual_unfreezing_keeps_ddp_ranks_in_sync(tmp_path):
    script = tmp_path / "ddp_gradual.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = run_session([sys.executable, str(script), str(tmp_path / "run")], env=env, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "ranks 1 2 unfrozen 3" in done.stdout
