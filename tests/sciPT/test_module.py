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


def test_a_perplexity_is_recognised_by_any_name_holding_it():
    """An objective's ``mlm_perplexity`` (like its ``f_rmse``) is combined through its logarithms:
    read as a plain mean, a validation perplexity over batches of 3 and 5 would be too high."""
    means = ValidationMeans()
    means.add({"mlm_perplexity": torch.tensor(3.0)}, {}, 2)
    means.add({"mlm_perplexity": torch.tensor(5.0)}, {}, 4)
    out = means.compute(ONE_RANK, torch.device("cpu"))
    assert out["mlm_perplexity"] == pytest.approx(math.exp((2 * math.log(3) + 4 * math.log(5)) / 6))


def test_a_metric_counted_zero_times_adds_nothing_even_when_its_value_is_nan():
    """A batch without forces may report its force error as nan with a count of 0: it must not turn
    the epoch's value into nan, nor leave a metric no batch counted to be divided by zero."""
    means = ValidationMeans()
    nan = torch.tensor(math.nan)
    means.add({"loss": torch.tensor(1.0), "f_mae": nan, "f_rmse": nan}, {"f_mae": 0, "f_rmse": 0}, 2)
    means.add({"loss": torch.tensor(3.0), "f_mae": torch.tensor(2.0)}, {"f_mae": 3}, 2)
    means.add({"loss": torch.tensor(5.0), "never": nan}, {"never": 0}, 4)
    out = means.compute(ONE_RANK, torch.device("cpu"))
    assert out == pytest.approx({"f_mae": 2.0, "loss": (1 * 2 + 3 * 2 + 5 * 4) / 8})


def test_logging_the_validation_means_forgets_the_epoch():
    """Each epoch's ``val/`` values are that epoch's alone, not a running mean since the start."""
    logged = {}
    module = SimpleNamespace(
        trainer=ONE_RANK,
        device=torch.device("cpu"),
        log=lambda name, value, **kw: logged.update({name: value}),
    )
    means = ValidationMeans()
    means.add({"loss": torch.tensor(4.0)}, {}, 2)
    means.log(module)
    assert logged == {"val/loss": 4.0}
    assert means.compute(ONE_RANK, torch.device("cpu")) == {}


def test_examples_of_a_token_batch_are_its_rows_and_of_a_graph_batch_its_graphs():
    """A validation mean over examples counts sequences (not tokens) and molecules (not atoms)."""
    from sciPT.module import examples

    tokens = {"input_ids": torch.zeros(3, 7, dtype=torch.long), "attention_mask": torch.ones(3, 7)}
    assert examples(tokens) == 3
    pyg = pytest.importorskip("torch_geometric.data")
    graphs = pyg.Batch.from_data_list([pyg.Data(x=torch.zeros(3, 1)), pyg.Data(x=torch.zeros(2, 1))])
    assert examples(graphs) == 2  # 2 molecules of 5 atoms in all


class Squared(nn.Module):
    """A regression objective without ``metric_counts``: its loss is a mean over the examples."""

    def forward(self, backbone, batch, generator=None):
        x, y = batch
        return (backbone(x).squeeze(-1) - y).square().mean(), {}


def identity_line() -> nn.Linear:
    line = nn.Linear(1, 1)
    with torch.no_grad():
        line.weight.fill_(1.0)
        line.bias.fill_(0.0)
    return line


def test_pretraining_validation_loss_is_a_mean_over_examples_not_batches():
    """A last, smaller batch weighs by its examples: the logged loss is the validation set's mean."""
    x = torch.tensor([[1.0], [2.0], [3.0]])
    y = torch.tensor([2.0, 2.0, 7.0])  # squared errors 1, 0, 16
    loader = DataLoader(list(zip(x, y)), batch_size=2)  # batches of 2 and 1 examples
    module = PretrainModule(identity_line(), Squared(), TrainConfig(accelerator="cpu"))
    trainer = pl.Trainer(
        accelerator="cpu", devices=1, logger=False, enable_progress_bar=False, enable_model_summary=False
    )
    (logged,) = trainer.validate(module, loader, verbose=False)
    assert logged["val/loss"] == pytest.approx((1 + 0 + 16) / 3)  # not ((1 + 0) / 2 + 16) / 2


class Draws(nn.Module):
    """Records the first number its generator draws at each call, training and validation apart."""

    def __init__(self):
        super().__init__()
        self.train_draws, self.val_draws = [], []

    def forward(self, backbone, batch, generator=None):
        x, y = batch
        draw = torch.rand((), generator=generator).item()
        (self.train_draws if torch.is_grad_enabled() else self.val_draws).append(draw)
        return (backbone(x).squeeze(-1) - y).square().mean(), {}


def test_micro_batches_draw_their_own_masks_and_validation_the_same_ones_each_time(tmp_path):
    """With gradient accumulation every micro-batch gets its own masks (no two positions of the run
    share them); validation draws the same masks at each evaluation, apart from training's."""
    torch.manual_seed(0)
    cfg = TrainConfig(
        max_steps=3, accumulate=2, batch_size=2, log_every=1, val_every=1, val_batches=1,
        accelerator="cpu", checkpoint_every=100,
    )  # fmt: skip
    x = torch.randn(12, 1)
    train = DataLoader(list(zip(x, x.sum(-1))), batch_size=2)
    val = DataLoader(list(zip(x[:2], x[:2].sum(-1))), batch_size=2)
    objective = Draws()
    build_trainer(cfg, tmp_path).fit(PretrainModule(nn.Linear(1, 1), objective, cfg), train, val)
    assert len(objective.train_draws) == 6 and len(set(objective.train_draws)) == 6
    assert len(objective.val_draws) == 3 and len(set(objective.val_draws)) == 1
    assert objective.val_draws[0] not in objective.train_draws


def test_each_rank_draws_its_own_masks():
    """Ranks at the same step hold different data; the same mask on each would correlate them."""
    module = PretrainModule(nn.Linear(1, 1), Squared(), TrainConfig(accelerator="cpu"))
    draws = []
    for rank in (0, 1):
        module._trainer = SimpleNamespace(global_rank=rank)
        draws.append(torch.rand(4, generator=module._generator(0, 5)))
    assert not torch.equal(draws[0], draws[1])


class WithHead(Squared):
    """An objective owning a pre-training head, trained with the backbone."""

    def __init__(self):
        super().__init__()
        self.head = nn.Linear(3, 1)

    def forward(self, backbone, batch, generator=None):
        x, y = batch
        return (self.head(backbone(x)).squeeze(-1) - y).square().mean(), {}


def test_the_optimizer_trains_the_objectives_head_and_decays_only_matrices():
    """A head left out of the optimizer would never learn; a bias or norm scale decayed towards 0
    (or matrices not decayed at the configured rate) changes what the run trains."""
    backbone, objective = nn.Sequential(nn.Linear(2, 3), nn.LayerNorm(3)), WithHead()
    cfg = TrainConfig(accelerator="cpu", lr=0.1, weight_decay=0.05)
    module = PretrainModule(backbone, objective, cfg)
    optimizer = module.configure_optimizers()["optimizer"]
    decayed = {id(p) for g in optimizer.param_groups if g["weight_decay"] == 0.05 for p in g["params"]}
    free = {id(p) for g in optimizer.param_groups if g["weight_decay"] == 0.0 for p in g["params"]}
    assert decayed == {id(backbone[0].weight), id(objective.head.weight)}
    # RoBERTa's betas and eps (sciPT.module.adamw), not Adam's defaults
    assert {(g["betas"], g["eps"]) for g in optimizer.param_groups} == {((0.9, 0.98), 1e-6)}
    assert free == {
        id(backbone[0].bias),
        id(backbone[1].weight),
        id(backbone[1].bias),
        id(objective.head.bias),
    }


def csv_column(run_dir, name: str) -> list[str]:
    lines = (run_dir / "logs/metrics.csv").read_text().splitlines()
    header = lines[0].split(",")
    return [row[name] for row in (dict(zip(header, line.split(","))) for line in lines[1:]) if row[name]]


def test_the_logged_learning_rate_is_the_one_each_step_applies(tmp_path):
    """``train/lr`` shows the warm-up's rate at each step, not the configured peak."""
    from sciPT.schedules import ScheduleConfig

    cfg = TrainConfig(
        max_steps=4, batch_size=2, log_every=1, accelerator="cpu", checkpoint_every=100, lr=0.1,
        schedule=ScheduleConfig(name="constant", warmup_steps=4),
    )  # fmt: skip
    x = torch.randn(8, 1)
    module = PretrainModule(nn.Linear(1, 1), Squared(), cfg)
    build_trainer(cfg, tmp_path, enable_val=False).fit(
        module, DataLoader(list(zip(x, x.sum(-1))), batch_size=2)
    )
    # warm-up: (step + 1) / 4 of the rate at steps 0..3
    assert [float(v) for v in csv_column(tmp_path, "train/lr")] == pytest.approx([0.025, 0.05, 0.075, 0.1])


class FirstRate(pl.Callback):
    def __init__(self):
        self.rates = []

    def on_train_batch_start(self, trainer, *args):
        self.rates.append(trainer.optimizers[0].param_groups[0]["lr"])


def test_a_run_resumed_with_more_steps_takes_its_new_schedules_rate_at_once(tmp_path):
    """4 cosine steps end at the floor; resumed to 8, step 4 is half-way through the new decay, and
    its first step must not still take the old run's floor."""
    from sciPT.schedules import ScheduleConfig

    def cfg(steps):
        return TrainConfig(
            max_steps=steps, batch_size=2, log_every=1, accelerator="cpu", checkpoint_every=4, lr=0.1,
            schedule=ScheduleConfig(name="cosine", warmup_steps=0, min_lr_ratio=0.1),
        )  # fmt: skip

    torch.manual_seed(0)
    x = torch.randn(16, 1)
    loader = DataLoader(list(zip(x, x.sum(-1))), batch_size=2)
    build_trainer(cfg(4), tmp_path / "first", enable_val=False).fit(
        PretrainModule(nn.Linear(1, 1), Squared(), cfg(4)), loader
    )
    seen = FirstRate()
    build_trainer(cfg(8), tmp_path / "resumed", callbacks=[seen], enable_val=False).fit(
        PretrainModule(nn.Linear(1, 1), Squared(), cfg(8)),
        loader,
        ckpt_path=tmp_path / "first/checkpoints/last.ckpt",
    )
    # step 4 of 8: progress 1/2, 0.1 + 0.9 * (1 + cos(pi / 2)) / 2 = 0.55 of the rate
    assert seen.rates[0] == pytest.approx(0.1 * 0.55)


def test_the_step_of_the_last_validation_is_remembered(tmp_path):
    """Pre-training validates once more at the end only when its last step was not validated."""
    cfg = TrainConfig(
        max_steps=5, batch_size=2, log_every=1, val_every=2, val_batches=1, accelerator="cpu",
        checkpoint_every=100,
    )  # fmt: skip
    x = torch.randn(10, 1)
    module = PretrainModule(nn.Linear(1, 1), Squared(), cfg)
    assert module.validated_at is None
    build_trainer(cfg, tmp_path).fit(
        module,
        DataLoader(list(zip(x, x.sum(-1))), batch_size=2),
        DataLoader(list(zip(x, x.sum(-1))), batch_size=2),
    )
    assert module.validated_at == 4


def test_the_weights_digest_covers_buffers_too():
    """Ranks whose running statistics diverged end with different models: the digest must say so."""
    from sciPT.module import weights_digest

    a, b = nn.BatchNorm1d(2), nn.BatchNorm1d(2)
    assert weights_digest(a) == weights_digest(b)
    b.running_mean += 1.0
    assert weights_digest(a) != weights_digest(b)


def test_ranks_that_end_with_different_weights_are_refused(monkeypatch):
    """The check every rank runs at the end of training: one differing digest stops the run."""
    import torch.distributed as dist

    from sciPT.module import agreed_digests

    def gather(out, digest):
        out[:] = [digest, "other"]

    monkeypatch.setattr(dist, "all_gather_object", gather)
    with pytest.raises(RuntimeError) as err:
        agreed_digests(SimpleNamespace(world_size=2), "mine")
    assert str(err.value) == "ranks ended with different weights: ['mine', 'other']"
    monkeypatch.setattr(
        dist, "all_gather_object", lambda out, digest: out.__setitem__(slice(None), [digest] * 2)
    )
    assert agreed_digests(SimpleNamespace(world_size=2), "mine") == ["mine", "mine"]


def test_the_schedules_total_is_the_trainers_current_max_steps_else_the_configured_one():
    """A time-sized run's total is set on the trainer after its first steps (and corrected later):
    the schedule must follow it, not the configuration's ``None``; before then, Lightning's -1 means
    no total yet."""
    from sciPT.module import schedule_total

    module = PretrainModule(nn.Linear(1, 1), Squared(), TrainConfig(accelerator="cpu", max_steps=None))
    assert schedule_total(module) is None  # no trainer
    module._trainer = SimpleNamespace(max_steps=-1)
    assert schedule_total(module) is None
    module._trainer = SimpleNamespace(max_steps=12)
    assert schedule_total(module) == 12


def test_a_micro_batch_draws_from_its_position_in_the_run(tmp_path):
    """Positions 0, 1, 2, ... (step x accumulate + micro-batch): a resumed run, which knows only its
    step, then draws exactly the masks the uninterrupted run would have."""
    torch.manual_seed(0)
    cfg = TrainConfig(
        max_steps=3, accumulate=2, batch_size=2, log_every=1, accelerator="cpu", checkpoint_every=100
    )
    x = torch.randn(12, 1)
    objective = Draws()
    module = PretrainModule(nn.Linear(1, 1), objective, cfg)
    build_trainer(cfg, tmp_path, enable_val=False).fit(
        module, DataLoader(list(zip(x, x.sum(-1))), batch_size=2)
    )
    expected = [torch.rand((), generator=module._generator(0, p)).item() for p in range(6)]
    assert objective.train_draws == expected


class CountedObjective(nn.Module):
    """A pre-training objective whose ``mae`` counts 3 values per example (force components, say)."""

    def forward(self, backbone, batch, generator=None):
        x, y = batch
        err = (backbone(x).squeeze(-1) - y).abs()
        return err.square().mean(), {"mae": err.mean().detach()}

    def metric_counts(self, batch):
        x, _ = batch
        return {"mae": 3 * len(x) if len(x) == 1 else len(x)}


def test_pretraining_validation_weighs_by_the_objectives_counts():
    """A force error is a mean over force components, not frames: pre-training's validation must
    weigh each batch's value by the count its objective gives."""
    x = torch.tensor([[1.0], [2.0], [3.0]])
    y = torch.tensor([2.0, 2.0, 7.0])  # errors 1, 0, 4
    loader = DataLoader(list(zip(x, y)), batch_size=2)  # batches of 2 and 1 examples
    module = PretrainModule(identity_line(), CountedObjective(), TrainConfig(accelerator="cpu"))
    trainer = pl.Trainer(
        accelerator="cpu", devices=1, logger=False, enable_progress_bar=False, enable_model_summary=False
    )
    (logged,) = trainer.validate(module, loader, verbose=False)
    # mae: batch 1 mean 0.5 counted 2, batch 2 error 4 counted 3 (not 1)
    assert logged["val/mae"] == pytest.approx((0.5 * 2 + 4 * 3) / 5)
    assert logged["val/loss"] == pytest.approx((0.5 * 2 + 16) / 3)
