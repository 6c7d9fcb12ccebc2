"""How the LightningModules log metrics: validation means weighted by each metric's own count and
agreed on by every rank, training steps without stale values."""

import json
import math
import os
import subprocess
import sys
import textwrap
from types import SimpleNamespace

import lightning.pytorch as pl
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

from sciPT.finetune import FinetuneConfig, FinetuneModule, build_strategy
from sciPT.module import PretrainModule, ValidationMeans
from sciPT.trainer import TrainConfig, build_trainer

ONE_RANK = SimpleNamespace(world_size=1)


def test_validation_means_weigh_each_metric_by_its_own_count():
    means = ValidationMeans()
    means.add({"loss": torch.tensor(2.0), "mae": torch.tensor(1.0), "rmse": torch.tensor(3.0)}, {"mae": 6}, 2)
    means.add({"loss": torch.tensor(4.0), "mae": torch.tensor(4.0), "rmse": torch.tensor(1.0)}, {"mae": 3}, 4)
    means.add({"loss": torch.tensor(5.0)}, {"mae": 0}, 4)  # no mae in this batch: adds nothing to it
    out = means.compute(ONE_RANK, torch.device("cpu"))
    assert out["loss"] == pytest.approx((2 * 2 + 4 * 4 + 5 * 4) / 10)
    assert out["mae"] == pytest.approx((6 * 1 + 3 * 4) / 9)
    # a root mean square: the root of the weighted mean of the squares, (2 * 9 + 4 * 1) / 6
    assert out["rmse"] == pytest.approx(math.sqrt(22 / 6))
    assert means.compute(ONE_RANK, torch.device("cpu")) == out  # compute does not consume
    # a perplexity: the exponential of the weighted mean cross-entropy, exp((2 ln 3 + 4 ln 5) / 6)
    means = ValidationMeans()
    means.add({"perplexity": torch.tensor(3.0)}, {}, 2)
    means.add({"perplexity": torch.tensor(5.0)}, {}, 4)
    assert means.compute(ONE_RANK, torch.device("cpu"))["perplexity"] == pytest.approx(
        math.exp((2 * math.log(3) + 4 * math.log(5)) / 6)
    )
    means.reset()
    assert means.compute(ONE_RANK, torch.device("cpu")) == {}


RANKS = textwrap.dedent(
    """
    import datetime, json, sys
    from types import SimpleNamespace

    import torch
    import torch.distributed as dist

    from sciPT.module import ValidationMeans

    rank = int(sys.argv[2])
    dist.init_process_group("gloo", init_method=f"file://{sys.argv[1]}", rank=rank, world_size=2,
                            timeout=datetime.timedelta(seconds=60))
    means = ValidationMeans()
    if rank == 0:  # forces in both of its batches
        means.add({"loss": torch.tensor(1.0), "f_mae": torch.tensor(2.0), "f_rmse": torch.tensor(2.0)},
                  {"f_mae": 6, "f_rmse": 6}, 2)
        means.add({"loss": torch.tensor(3.0), "f_mae": torch.tensor(5.0), "f_rmse": torch.tensor(6.0)},
                  {"f_mae": 3, "f_rmse": 3}, 2)
    else:  # none: it never sees a force metric, but a metric rank 0 has never heard of
        means.add({"loss": torch.tensor(7.0), "only_here": torch.tensor(9.0)}, {}, 4)
    out = means.compute(SimpleNamespace(world_size=2), torch.device("cpu"))
    print(json.dumps([rank, out]))
    dist.destroy_process_group()
    """
)


@pytest.mark.slow
def test_ranks_agree_on_the_names_and_reduce_the_weighted_sums(tmp_path):
    script = tmp_path / "ranks.py"
    script.write_text(RANKS)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    ranks = [
        subprocess.Popen(
            [sys.executable, str(script), str(tmp_path / "store"), str(r)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for r in (0, 1)
    ]
    outputs = []
    try:
        for proc in ranks:
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err[-3000:]
            outputs.append(out.strip())
    finally:
        for proc in ranks:
            proc.kill()
    expected = {
        "f_mae": (2 * 6 + 5 * 3) / 9,
        "f_rmse": math.sqrt((4 * 6 + 36 * 3) / 9),
        "loss": (1 * 2 + 3 * 2 + 7 * 4) / 8,
        "only_here": 9.0,
    }
    for rank, line in enumerate(outputs):
        said, got = json.loads(line)
        # the same names, in the same (sorted) order, on both ranks: the order each logs them in
        assert said == rank and list(got) == list(expected)
        assert got == pytest.approx(expected, rel=1e-12)


class Sometimes(nn.Module):
    """An objective whose metric ``odd`` exists only on odd calls (a batch with forces, say)."""

    def __init__(self):
        super().__init__()
        self.calls = 0

    def forward(self, backbone, batch, generator=None):
        x, y = batch
        loss = (backbone(x).squeeze(-1) - y).square().mean()
        self.calls += 1
        return loss, ({"odd": torch.tensor(float(self.calls))} if self.calls % 2 else {})


def test_a_training_metric_missing_from_a_logged_step_is_nan_not_an_earlier_value(tmp_path):
    torch.manual_seed(0)
    cfg = TrainConfig(max_steps=4, batch_size=2, log_every=1, accelerator="cpu", checkpoint_every=100)
    x = torch.randn(8, 2)
    loader = DataLoader(list(zip(x, x.sum(-1))), batch_size=2)
    module = PretrainModule(nn.Linear(2, 1), Sometimes(), cfg)
    build_trainer(cfg, tmp_path, enable_val=False).fit(module, loader)
    lines = (tmp_path / "logs/metrics.csv").read_text().splitlines()
    header = lines[0].split(",")
    column = [dict(zip(header, line.split(",")))["train/odd"] for line in lines[1:]]
    assert column == ["1.0", "nan", "3.0", "nan"]


class Counted(nn.Module):
    """A fine-tuning loss whose ``mae`` counts 1 value per example but the last batch's 3."""

    def forward(self, backbone, head, batch):
        x, y = batch
        err = (head(backbone(x)).squeeze(-1) - y).abs()
        return err.square().mean(), {"mae": err.mean().detach()}

    def metric_counts(self, batch):
        x, _ = batch
        return {"mae": 3 * len(x) if len(x) == 1 else len(x)}


def test_finetuning_validation_weighs_by_the_loss_functions_counts():
    backbone, head = nn.Identity(), nn.Linear(1, 1)
    with torch.no_grad():
        head.weight.fill_(1.0)
        head.bias.fill_(0.0)
    x = torch.tensor([[1.0], [2.0], [3.0]])
    y = torch.tensor([2.0, 2.0, 7.0])  # errors 1, 0, 4
    loader = DataLoader(list(zip(x, y)), batch_size=2)  # batches of 2 and 1 examples
    module = FinetuneModule(
        backbone, head, Counted(), build_strategy(FinetuneConfig(), backbone), TrainConfig(accelerator="cpu")
    )
    trainer = pl.Trainer(
        accelerator="cpu", devices=1, logger=False, enable_progress_bar=False, enable_model_summary=False
    )
    (logged,) = trainer.validate(module, loader, verbose=False)
    # mae: batch 1 (errors 1, 0) mean 0.5 counted 2; batch 2 (error 4) counted 3
    assert logged["val/mae"] == pytest.approx((0.5 * 2 + 4 * 3) / 5)
    # the loss, by examples: (1 + 0) / 2 over 2, 16 over 1
    assert logged["val/loss"] == pytest.approx((0.5 * 2 + 16) / 3)


def test_examples_in_a_batch_known_counted_inferred_or_one():
    from sciPT.module import examples

    assert examples({"x": torch.zeros(5, 2)}, known=3) == 3
    assert examples({"x": torch.zeros(4, 2), "y": torch.zeros(4)}) == 4
    # a batch without any tensor: Lightning cannot tell, so it counts as one example
    assert examples({"names": "a"}) == 1
