"""Training limits: a time budget without a step count trains for the whole budget.

The time of a step is faked (:class:`Tick` advances :data:`sciPT.callbacks.clock` by a fixed amount
per optimizer step), so the step counts below are computed by hand: with ``warm_steps=3`` and
``measure_steps=10`` the first estimate is made after step 13, from the 10 steps after step 3, and
the run is sized to end at ``margin = 0.97`` of the budget.
"""

import math

import lightning.pytorch as pl
import pytest
import torch
from torch import nn
from torch.utils.data import Dataset

from sciPT import callbacks as sc
from sciPT.data import StepBatchSampler, StepDataModule
from sciPT.errors import ConfigError
from sciPT.module import PretrainModule
from sciPT.schedules import ScheduleConfig
from sciPT.testing import modules_loaded_by
from sciPT.trainer import TrainConfig, build_trainer, sized_steps, time_only, validate


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class Tick(pl.Callback):
    """Each optimizer step "takes" ``step_s``; each validation ``val_s``."""

    def __init__(self, clock: FakeClock, step_s: float, val_s: float = 0.0):
        self.clock, self.step_s, self.val_s = clock, step_s, val_s

    def on_train_batch_start(self, *args):
        self.clock.now += self.step_s

    def on_validation_start(self, trainer, module):
        if not trainer.sanity_checking:
            self.clock.now += self.val_s


class Points(Dataset):
    def __len__(self):
        return 1 << 30

    def __getitem__(self, g):
        x = torch.tensor([math.sin(g), math.cos(g)])
        return x, x.sum()


def collate(items):
    xs, ys = zip(*items, strict=True)
    return torch.stack(xs), torch.stack(ys)


class Regression(nn.Module):
    def forward(self, backbone, batch, generator=None):
        x, y = batch
        return (backbone(x).squeeze(-1) - y).square().mean(), {}


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(sc, "clock", fake)
    return fake


def train_cfg(**kw) -> TrainConfig:
    base = dict(
        max_steps=20,
        max_time=None,
        batch_size=4,
        lr=0.1,
        log_every=1,
        val_every=20,
        checkpoint_every=20,
        val_batches=1,
        accelerator="cpu",
        weight_decay=0.0,
        schedule=ScheduleConfig(name="cosine", warmup_steps=5, min_lr_ratio=0.1),
    )
    return TrainConfig(**{**base, **kw})


def fit(cfg: TrainConfig, run_dir, *extra):
    torch.manual_seed(0)
    module = PretrainModule(nn.Linear(2, 1), Regression(), cfg)
    trainer = build_trainer(cfg, run_dir, callbacks=list(extra))
    trainer.fit(module, datamodule=StepDataModule(Points(), Points(), collate, cfg))
    return trainer


def test_time_only_keeps_the_preset_unless_only_the_time_was_set():
    preset = train_cfg(max_time="1")
    sized = time_only(preset, steps_set=False, time_set=True)
    assert sized.max_steps is None and preset.max_steps == 20  # a copy
    assert time_only(preset, steps_set=True, time_set=True).max_steps == 20
    assert time_only(preset, steps_set=False, time_set=False).max_steps == 20
    assert time_only(preset, steps_set=True, time_set=False).max_steps == 20


def test_a_time_budget_is_spent_and_the_schedule_anneals_by_its_end(tmp_path, clock):
    # 60 s, 0.6 s a step: sized after step 13 (7.8 s): 13 + floor((0.97 * 60 - 7.8) / 0.6) = 97
    cfg = time_only(train_cfg(max_time="1"), steps_set=False, time_set=True)
    trainer = fit(cfg, tmp_path, Tick(clock, 0.6))
    assert trainer.global_step == sized_steps(trainer) == 97  # not the preset's 20
    # the schedule's total was the sized one: after the last step the rate is the floor
    assert trainer.optimizers[0].param_groups[0]["lr"] == pytest.approx(0.1 * 0.1)
    ckpt = torch.load(tmp_path / "checkpoints/last.ckpt", weights_only=True)
    (state,) = [v for k, v in ckpt["callbacks"].items() if "TimeBudget" in k]
    assert state["total_steps"] == 97


def test_validation_time_is_counted_after_the_first_validation(tmp_path, clock):
    # As above (97 after step 13), but each validation takes 6 s. After the one at step 20
    # (t = 12 + 6 = 18 s, 17 steps in 16.2 s since step 3): 20 + floor(40.2 / (16.2 / 17)) = 62;
    # after step 40's (t = 36): 40 + floor(22.2 / (34.2 / 37)) = 64; after step 60's (t = 54):
    # 60 + floor(4.2 / (52.2 / 57)) = 64
    cfg = time_only(train_cfg(max_time="1"), steps_set=False, time_set=True)
    trainer = fit(cfg, tmp_path, Tick(clock, 0.6, val_s=6.0))
    assert trainer.global_step == sized_steps(trainer) == 64
    assert trainer.optimizers[0].param_groups[0]["lr"] == pytest.approx(0.1 * 0.1)


def test_with_steps_and_time_the_steps_stop_first(tmp_path, clock):
    cfg = train_cfg(max_steps=30, max_time="1")
    trainer = fit(cfg, tmp_path, Tick(clock, 0.6))
    assert trainer.global_step == 30 and sized_steps(trainer) is None
    assert trainer.optimizers[0].param_groups[0]["lr"] == pytest.approx(0.1 * 0.1)


def test_a_resumed_run_keeps_its_sized_total_before_timing_again(tmp_path, clock):
    budget = sc.TimeBudget(60.0)
    budget.load_state_dict({"total_steps": 97, "elapsed_s": 24.0})
    assert budget.total_steps == 97 and budget.elapsed() == 24.0

    class Fitted(pl.Callback):  # a trainer that stops right away, to see what was applied
        def on_train_start(self, trainer, module):
            self.max_steps = trainer.max_steps
            trainer.should_stop = True

    cfg = time_only(train_cfg(max_time="1"), steps_set=False, time_set=True)
    seen = Fitted()
    trainer = build_trainer(cfg, tmp_path, callbacks=[seen])
    (tb,) = [c for c in trainer.callbacks if isinstance(c, sc.TimeBudget)]
    tb.load_state_dict(budget.state_dict())
    trainer.fit(
        PretrainModule(nn.Linear(2, 1), Regression(), cfg),
        datamodule=StepDataModule(Points(), None, collate, cfg),
    )
    assert seen.max_steps == 97


def test_a_run_resumed_with_a_larger_budget_is_sized_for_it():
    """A run sized to 97 steps by 60 s, resumed with --max-time for 120 s: restored as it was, the
    total would end it at once; it is scaled by the budgets (97 x 120 / 60), timing corrects it."""
    state = sc.TimeBudget(60.0).state_dict() | {"total_steps": 97, "elapsed_s": 58.0}
    assert state["budget_s"] == 60.0
    longer = sc.TimeBudget(120.0)
    longer.load_state_dict(state)
    assert longer.total_steps == 194 and longer.elapsed() == 58.0
    same = sc.TimeBudget(60.0)  # a requeued job with the same budget keeps the total it settled on
    same.load_state_dict(state)
    assert same.total_steps == 97
    older = sc.TimeBudget(120.0)  # a checkpoint written before the budget was recorded: as before
    older.load_state_dict({"total_steps": 97, "elapsed_s": 58.0})
    assert older.total_steps == 97


def test_an_endless_sampler_has_no_length():
    sampler = StepBatchSampler(2, None, start=5)
    it = iter(sampler)
    assert [next(it) for _ in range(2)] == [[10, 11], [12, 13]]
    with pytest.raises(TypeError):
        len(sampler)


def test_no_steps_and_no_time_is_one_line_naming_max_steps():
    with pytest.raises(ConfigError) as err:
        validate(TrainConfig(max_steps=None, max_time=None))
    assert str(err.value) == (
        "train.max_steps: none needs train.max_time (a run without a step "
        "count trains for its time budget); set one of them"
    )
    validate(TrainConfig(max_steps=None, max_time="5"))


def test_trainer_config_imports_without_lightning_or_torch():
    assert modules_loaded_by("sciPT.trainer", ("torch", "lightning")) == []
    assert modules_loaded_by("sciPT.schedules", ("torch", "lightning")) == []


def test_a_classifier_fit_trains_for_its_budget_not_its_epochs(clock, monkeypatch):
    # 32 sequences in batches of 8 (4 steps an epoch), 2 epochs at most: the budget (97 steps, as
    # above) and not max_epochs ends it; patience is long enough not to
    import sciPT.classification as cl
    from sciPT.classification import fit_classifier
    from sciPT.domains.dna.tokenizer import dna_tokenizer
    from sciPT.finetune import FinetuneConfig
    from sciPT.nn import TransformerConfig, TransformerEncoder
    from sciPT.nn.classifier import ClassifierHead, HeadConfig
    from sciPT.sequence_config import TokenizerConfig

    tok = dna_tokenizer(TokenizerConfig())
    torch.manual_seed(0)
    enc = TransformerEncoder(
        TransformerConfig(vocab_size=tok.vocab_size, d_model=8, n_layers=1, n_heads=2, d_ff=16, max_len=16)
    )
    head = ClassifierHead(HeadConfig(), 8, 16)
    rng = torch.Generator().manual_seed(0)
    codes = [torch.randint(0, 4, (12,), generator=rng).numpy().astype("uint8") for _ in range(40)]
    labels = [i % 2 for i in range(40)]
    cfg = time_only(train_cfg(max_time="1", batch_size=8), steps_set=False, time_set=True)
    seen = {}

    class Spy(Tick):
        def on_train_end(self, trainer, module):
            seen["steps"], seen["epochs"] = trainer.global_step, trainer.current_epoch
            seen["lr"] = trainer.optimizers[0].param_groups[0]["lr"]

    original = pl.Trainer

    def with_tick(*args, **kw):  # fit_classifier builds its own trainer: add the fake step time
        return original(*args, **{**kw, "callbacks": [*kw["callbacks"], Spy(clock, 0.6)]})

    monkeypatch.setattr(cl.pl, "Trainer", with_tick)
    fit_classifier(
        enc,
        head,
        tok,
        (codes[:32], labels[:32]),
        (codes[32:], labels[32:]),
        train_cfg=cfg,
        finetune=FinetuneConfig(),
        max_epochs=2,
        patience=100,
        max_tokens=16,
    )
    assert seen["steps"] == 97 and seen["epochs"] > 2
    assert seen["lr"] == pytest.approx(0.1 * 0.1)


def test_fsdp1_on_the_cpu_is_one_line_naming_the_strategy():
    with pytest.raises(ConfigError) as err:
        validate(train_cfg(strategy="fsdp", accelerator="cpu"))
    assert str(err.value) == (
        "train.strategy: fsdp (FSDP1) needs CUDA GPUs; on the CPU use fsdp2 (FSDP2, sharded over gloo) or ddp"
    )


def test_activation_checkpointing_needs_a_backbone_that_supports_it():
    from sciPT.trainer import configure_model

    with pytest.raises(ConfigError) as err:
        configure_model(nn.Module(), nn.Linear(2, 2), train_cfg(activation_checkpointing=True))
    assert str(err.value) == (
        "train.activation_checkpointing: the Linear backbone does not support it (the sequence transformer does)"
    )


def test_activation_checkpointing_and_compile_are_switched_on_by_the_config():
    from sciPT.nn import TransformerConfig, TransformerEncoder
    from sciPT.trainer import configure_model

    backbone = TransformerEncoder(TransformerConfig(d_model=16, n_heads=2, d_ff=32))
    configure_model(nn.Module(), backbone, train_cfg())
    assert backbone.activation_checkpointing is False and backbone._compiled_call_impl is None
    configure_model(nn.Module(), backbone, train_cfg(activation_checkpointing=True, compile=True))
    assert backbone.activation_checkpointing is True and backbone._compiled_call_impl is not None
    assert list(backbone.state_dict()) == list(TransformerEncoder(backbone.cfg).state_dict())


def test_a_pretraining_run_with_activation_checkpointing_ends_with_the_same_weights(tmp_path):
    """Through the whole pipeline (Lightning calls the module's configure_model): 3 steps of the
    DNA tiny preset with and without checkpointing export the same weights."""
    from sciPT.checkpoint import from_pretrained
    from sciPT.pretrain import pretrain
    from sciPT.registry import domains

    class Seen(pl.Callback):
        def on_train_batch_end(self, trainer, module, *args):
            seen.append(module.backbone.activation_checkpointing)

    weights = []
    for on in (False, True):
        seen = []
        cfg = domains.get("dna").presets()["tiny"]()
        cfg.data.window, cfg.model.max_len = 32, 32
        cfg.train.batch_size, cfg.train.max_steps, cfg.train.val_batches = 4, 3, 1
        cfg.train.activation_checkpointing = on
        run = pretrain("dna", cfg, tmp_path / str(on), callbacks=[Seen()])
        assert seen == [on] * 3
        assert run.read_config()["train"]["activation_checkpointing"] is on
        weights.append(from_pretrained(tmp_path / str(on)).model.state_dict())
    for key in weights[0]:
        torch.testing.assert_close(weights[1][key], weights[0][key], rtol=0, atol=1e-6, msg=key)


def test_an_unsupported_option_stops_pretraining_before_the_run_directory_is_written(tmp_path):
    from sciPT.pretrain import pretrain
    from sciPT.registry import domains

    cfg = domains.get("molecules").presets()["tiny"]()
    cfg.train.activation_checkpointing = True
    with pytest.raises(
        ConfigError, match=r"^train\.activation_checkpointing: the \w+ backbone does not support it"
    ):
        pretrain("molecules", cfg, tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_progress_to_a_file_is_a_line_a_minute_and_one_per_validation(tmp_path, clock, capsys):
    """Output captured (not a terminal): lines, not a redrawn bar. 0.5 s a step: the minute is up
    after step 120 (2 steps/s, 10 steps or 5 s left); the run's one validation is at step 130."""
    trainer = fit(train_cfg(max_steps=130, val_every=1000), tmp_path, Tick(clock, 0.5))
    assert isinstance(trainer.progress_bar_callback, sc.LogLineProgress)
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert captured.out == ""  # a command's result alone goes there (a fine-tune's metrics JSON)
    assert [line.split(", train/loss=")[0] for line in lines] == [
        "step 120/130, 2 steps/s, 0:00:05 left",
        "step 130/130, 2 steps/s, 0:00:00 left",
    ]
    assert "val/loss=" not in lines[0] and "val/loss=" in lines[1]
    assert "\r" not in "".join(lines)


def test_a_second_run_in_the_same_directory_is_not_told_its_logs_will_be_deleted(tmp_path, recwarn, caplog):
    """The earlier metrics.csv is kept (sciPT.plots.keep_log_for_resume) and Lightning deletes nothing
    else, so its warning would be false; its advertising tip is dropped too."""
    fit(train_cfg(max_steps=3), tmp_path)
    (tmp_path / "logs/metrics.csv").rename(tmp_path / "logs/metrics.part0.csv")
    with caplog.at_level("INFO"):
        fit(train_cfg(max_steps=3), tmp_path)
    said = [str(w.message) for w in recwarn] + caplog.messages
    assert not [m for m in said if "will be deleted" in m or "Tip" in m or "LeafSpec" in m]
    assert any(m.startswith("GPU available") for m in caplog.messages)  # Lightning's facts stay


def test_lightning_s_advice_to_add_loader_workers_is_not_printed(tmp_path, recwarn, monkeypatch):
    """On a machine of more than 2 cores Lightning advised `num_workers=7` in a `DataLoader` the user
    never sees, twice a run; --num-workers is the package's way to say it."""
    from lightning.pytorch.trainer.connectors import data_connector

    monkeypatch.setattr(data_connector, "suggested_max_num_workers", lambda devices: 7)
    fit(train_cfg(max_steps=3), tmp_path)
    assert not [str(w.message) for w in recwarn if "many workers" in str(w.message)]


SHORT_RUN_WARNING = "is smaller than the logging interval"


def test_a_run_shorter_than_the_logging_interval_logs_at_its_last_step(tmp_path):
    assert build_trainer(train_cfg(max_steps=5, log_every=25), tmp_path).log_every_n_steps == 5
    # longer runs, and runs sized from their time budget, keep the configured interval
    assert build_trainer(train_cfg(max_steps=100, log_every=25), tmp_path).log_every_n_steps == 25
    sized = time_only(train_cfg(max_time="1", log_every=25), steps_set=False, time_set=True)
    assert build_trainer(sized, tmp_path).log_every_n_steps == 25


def test_pretraining_five_steps_does_not_warn_about_the_logging_interval(tmp_path, recwarn):
    from sciPT.cli import main

    out = tmp_path / "run"
    assert main(["pretrain", "dna", "--preset", "tiny", "--max-steps", "5", "--out", str(out)]) == 0
    assert not [str(w.message) for w in recwarn if SHORT_RUN_WARNING in str(w.message)]
    # and the run's training metrics were logged, once, at its last step (Lightning counts from 0)
    lines = (out / "logs/metrics.csv").read_text().splitlines()
    header = lines[0].split(",")
    logged = [dict(zip(header, line.split(","))) for line in lines[1:]]
    assert [row["step"] for row in logged if row["train/loss"]] == ["4"]


LAUNCH_VARS = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "NODE_RANK", "GROUP_RANK")
LAUNCH_VARS += ("TORCHELASTIC_RUN_ID", "LOCAL_WORLD_SIZE", "SLURM_NTASKS", "SLURM_JOB_NAME", "SLURM_NNODES")


@pytest.fixture
def no_launch(monkeypatch):
    for key in LAUNCH_VARS:
        monkeypatch.delenv(key, raising=False)
    return monkeypatch


def test_node_and_device_counts_no_launch_can_honour_are_refused_first(no_launch):
    # several nodes with no launch: rank 0 waited half an hour for the others, saying nothing
    with pytest.raises(ConfigError) as err:
        validate(TrainConfig(num_nodes=2, devices=1, strategy="ddp"))
    assert str(err.value) == (
        "train.num_nodes: 2 nodes, and no launch of several was found (torchrun, SLURM's srun, LSF, "
        "MPI, or NODE_RANK and MASTER_ADDR set on every node); run the command on every node through "
        "one of them"
    )
    # nodes started by hand, each told Lightning its rank and the main node: Lightning's own way
    no_launch.setenv("NODE_RANK", "1")
    no_launch.setenv("MASTER_ADDR", "10.0.0.1")
    validate(TrainConfig(num_nodes=2, devices=1, strategy="ddp"))
    # torchrun with 2 processes, told --devices 1: Lightning refused it as a traceback once training began
    for key, value in dict(
        TORCHELASTIC_RUN_ID="x", WORLD_SIZE="2", RANK="0", LOCAL_RANK="0", GROUP_RANK="0"
    ).items():
        no_launch.setenv(key, value)
    no_launch.delenv("NODE_RANK")
    with pytest.raises(ConfigError) as err:
        validate(TrainConfig(devices=1, strategy="ddp"))
    assert str(err.value) == (
        "train.devices, train.num_nodes: You set `devices=1` and `num_nodes=1` in Lightning, but the "
        "product (1 * 1) does not match the world size (2)."
    )
    validate(TrainConfig(devices=2, strategy="ddp"))


def test_all_devices_is_refused_on_the_cpu(no_launch):
    # Lightning's CPU accelerator refused -1 as a traceback after the run directory was written
    with pytest.raises(ConfigError) as err:
        validate(TrainConfig(devices=-1, accelerator="cpu"))
    assert str(err.value) == (
        "train.devices: -1 means every GPU, and this run is on the CPU; expected a count of processes "
        "(1, 2, ...) or 'auto'"
    )


def test_the_trainer_is_built_as_the_config_says(tmp_path):
    """Every training setting reaches Lightning as written: a run would otherwise clip, accumulate,
    validate, checkpoint or stop other than its config.yaml says, without a word."""
    from lightning.pytorch.callbacks import ModelCheckpoint, Timer

    cfg = train_cfg(max_steps=30, max_time="2", accumulate=3, grad_clip=0.5, val_every=7, val_batches=2)
    cfg.checkpoint_every, cfg.precision = 9, "bf16-mixed"
    trainer = build_trainer(cfg, tmp_path)
    assert trainer.max_steps == 30  # not one step short or over
    assert trainer.accumulate_grad_batches == 3
    assert trainer.gradient_clip_val == 0.5
    assert trainer.val_check_interval == 7 * 3  # Lightning counts batches: 7 steps of 3 batches
    assert trainer.limit_val_batches == 2
    assert trainer.precision == "bf16-mixed"
    assert trainer.default_root_dir == str(tmp_path)  # where a SLURM signal's hpc_ckpt goes
    (timer,) = [c for c in trainer.callbacks if isinstance(c, Timer)]
    assert timer._duration == 2 * 60  # "2": minutes
    (checkpoint,) = [c for c in trainer.callbacks if isinstance(c, ModelCheckpoint)]
    assert checkpoint.dirpath == str(tmp_path / "checkpoints") and checkpoint.save_last
    assert checkpoint._every_n_train_steps == 9
    assert checkpoint._enable_version_counter is False  # never last-v1.ckpt beside last.ckpt
    # no clipping at 0; a validation interval longer than the run is cut to its end
    trainer = build_trainer(train_cfg(max_steps=5, grad_clip=0.0, val_every=50, accumulate=2), tmp_path)
    assert trainer.gradient_clip_val is None
    assert trainer.val_check_interval == 5 * 2


def test_a_time_sized_run_without_validation_is_built_to_run_on_its_budget(tmp_path):
    """A run sized from its time has no step bound and re-estimates at the nearer of its
    validation and checkpoint intervals; enable_val=False validates nothing."""
    cfg = time_only(train_cfg(max_time="1", val_every=7, checkpoint_every=9), steps_set=False, time_set=True)
    trainer = build_trainer(cfg, tmp_path, enable_val=False)
    assert trainer.max_steps == -1 and trainer.limit_val_batches == 0
    (budget,) = [c for c in trainer.callbacks if isinstance(c, sc.TimeBudget)]
    assert (budget.budget_s, budget.every) == (60.0, 7)
    cfg = time_only(train_cfg(max_time="1", val_every=9, checkpoint_every=7), steps_set=False, time_set=True)
    (budget,) = [c for c in build_trainer(cfg, tmp_path).callbacks if isinstance(c, sc.TimeBudget)]
    assert budget.every == 7


def test_a_time_budget_is_read_in_minutes_or_days_hours_minutes_seconds():
    """train.max_time "DD:HH:MM:SS" is read field by field: a swapped pair sizes a run 60x off."""
    from sciPT.trainer import max_time_seconds

    assert max_time_seconds("01:02:03:04") == 86400 + 2 * 3600 + 3 * 60 + 4
    assert max_time_seconds("0.5") == 30.0
    assert max_time_seconds(None) is None
    with pytest.raises(ConfigError) as err:
        max_time_seconds("0")  # a zero budget is no budget: refused, not a run stopped at once
    assert str(err.value) == "train.max_time: expected a positive number of minutes, got '0'"


def test_the_schedule_and_counts_are_checked_at_their_bounds():
    """The edges of each setting: 0 warm-up steps and a floor of the full rate are valid; one
    below, or a zero factor, is refused naming the key."""
    import dataclasses

    schedule = ScheduleConfig(name="cosine", warmup_steps=0, min_lr_ratio=1.0)
    validate(train_cfg(schedule=schedule, seed=2**32 - 1))
    for changed, message in (
        (dict(warmup_steps=-1), "train.schedule.warmup_steps: expected 0 or more, got -1"),
        (dict(gamma=0.0), "train.schedule.gamma: expected a positive factor, got 0.0"),
        (dict(step_size=0), "train.schedule.step_size: expected a positive integer, got 0"),
    ):
        with pytest.raises(ConfigError) as err:
            validate(train_cfg(schedule=dataclasses.replace(schedule, **changed)))
        assert str(err.value) == message
    for key in ("max_steps", "accumulate", "val_every", "checkpoint_every", "log_every", "val_batches"):
        with pytest.raises(ConfigError) as err:
            validate(train_cfg(**{key: 0}))
        assert str(err.value) == f"train.{key}: expected a positive integer, got 0"


def test_a_time_flag_that_leaves_no_budget_keeps_the_step_count():
    # --max-time none (time_set, and no budget): "train for the budget" would leave neither a step
    # count nor a time, which validate refuses; the preset's steps stay
    assert time_only(train_cfg(max_time=None), steps_set=False, time_set=True).max_steps == 20


def test_each_setting_is_refused_at_its_bound_in_words_naming_it(no_launch, monkeypatch):
    """The checks a first look would leave out: zero nodes, a zero rate, a time that is neither
    minutes nor four fields, and "cuda" on a machine without one (the same refusal as "gpu")."""
    import sciPT.trainer

    monkeypatch.setattr(sciPT.trainer, "_has_cuda", lambda: False)
    for cfg, message in (
        (train_cfg(num_nodes=0), "train.num_nodes: expected a positive integer, got 0"),
        (train_cfg(lr=0.0), "train.lr: expected a positive learning rate, got 0.0"),
        (train_cfg(max_time="soon"), "train.max_time: expected minutes or DD:HH:MM:SS, got 'soon'"),
        (train_cfg(max_time="01:00:00"), "train.max_time: expected minutes or DD:HH:MM:SS, got '01:00:00'"),
    ):
        with pytest.raises(ConfigError) as err:
            validate(cfg)
        assert str(err.value) == message
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError) as err:
            validate(train_cfg(accelerator="cuda"))
        assert str(err.value) == (
            "train.accelerator: 'cuda' asked for, and torch sees no CUDA GPU on this machine; "
            "expected cpu or auto here"
        )
    # a floor of 0 (decay to nothing) is valid, as is a DD:HH:MM:SS budget
    validate(
        train_cfg(
            schedule=ScheduleConfig(name="cosine", warmup_steps=0, min_lr_ratio=0.0), max_time="0:0:1:0"
        )
    )


def test_on_a_machine_without_cuda_auto_is_the_cpu(no_launch, monkeypatch):
    """accelerator "auto" with no GPU runs on the CPU, so what the CPU refuses is refused for it
    too: every GPU (-1, as a number or as the text a flag gives) and fsdp (FSDP1)."""
    import sciPT.trainer

    monkeypatch.setattr(sciPT.trainer, "_has_cuda", lambda: False)
    for devices in (-1, "-1"):
        with pytest.raises(
            ConfigError, match=r"^train\.devices: -1 means every GPU, and this run is on the CPU"
        ):
            validate(train_cfg(accelerator="auto", devices=devices))
    with pytest.raises(ConfigError, match=r"^train\.strategy: fsdp \(FSDP1\) needs CUDA GPUs"):
        validate(train_cfg(accelerator="auto", strategy="fsdp"))
    # with one, "-1" written as text is every GPU, as -1 is
    monkeypatch.setattr(sciPT.trainer, "_has_cuda", lambda: True)
    validate(train_cfg(accelerator="auto", devices="-1"))


@pytest.mark.parametrize("key", ["NODE_RANK", "GROUP_RANK", "MASTER_ADDR", "LOCAL_RANK"])
def test_any_one_launch_variable_means_the_nodes_were_started_by_hand(no_launch, key):
    # Lightning's own environment reads each of these: a node told any of them is part of a launch
    no_launch.setenv(key, "10.0.0.1" if key == "MASTER_ADDR" else "0")
    validate(TrainConfig(num_nodes=2, devices=1, strategy="ddp"))


def test_the_first_node_says_where_the_ranks_meet_and_that_it_waits(no_launch, capsys):
    """A second node never started left every rank waiting 30 minutes without a word (found by an
    audit): node 0's first process names the address and the wait; the others say nothing."""
    no_launch.setenv("MASTER_ADDR", "10.0.0.1")
    no_launch.setenv("MASTER_PORT", "29541")
    no_launch.setenv("NODE_RANK", "0")
    validate(TrainConfig(num_nodes=2, devices=1, strategy="ddp"))
    assert capsys.readouterr().err == (
        "note: train.num_nodes 2: the ranks meet at 10.0.0.1:29541; until every node's have started, "
        "this run waits there (torch gives up after 30 minutes)\n"
    )
    no_launch.setenv("NODE_RANK", "1")
    validate(TrainConfig(num_nodes=2, devices=1, strategy="ddp"))
    validate(TrainConfig(num_nodes=1, devices=1, strategy="ddp"))
    assert capsys.readouterr().err == ""


def test_a_torchrun_launch_is_checked_with_devices_and_nodes_in_their_places(no_launch):
    # 2 processes, told 1 device on each of 3 nodes: the refusal names each count as given
    for key, value in dict(
        TORCHELASTIC_RUN_ID="x", WORLD_SIZE="2", RANK="0", LOCAL_RANK="0", GROUP_RANK="0"
    ).items():
        no_launch.setenv(key, value)
    with pytest.raises(ConfigError) as err:
        validate(TrainConfig(devices=1, num_nodes=3, strategy="ddp"))
    assert str(err.value) == (
        "train.devices, train.num_nodes: You set `devices=1` and `num_nodes=3` in Lightning, but the "
        "product (1 * 3) does not match the world size (2)."
    )


def test_the_trainer_has_the_package_s_callbacks_and_plugins(tmp_path, monkeypatch):
    """What build_trainer adds beside the config's numbers: the non-finite stop (naming the run's
    rate), atomic checkpoint writes, no model summary, the package's own data sharding, no
    sanity validation, no epoch bound, and torch's non-deterministic (faster, CUDA-safe) kernels."""
    from lightning.pytorch.callbacks import ModelSummary

    from sciPT.callbacks import AtomicCheckpointIO, StopOnNonFinite

    torch.use_deterministic_algorithms(True)  # Lightning is told deterministic=False: it turns them off
    try:
        trainer = build_trainer(train_cfg(lr=0.25), tmp_path)
        assert torch.are_deterministic_algorithms_enabled() is False
    finally:
        torch.use_deterministic_algorithms(False)
    (stop,) = [c for c in trainer.callbacks if isinstance(c, StopOnNonFinite)]
    assert stop.lr == 0.25
    assert isinstance(trainer.strategy.checkpoint_io, AtomicCheckpointIO)
    assert not [c for c in trainer.callbacks if isinstance(c, ModelSummary)]
    assert trainer._accelerator_connector.use_distributed_sampler is False
    assert trainer.num_sanity_val_steps == 0 and trainer.max_epochs == -1
    assert trainer.check_val_every_n_epoch is None  # validation counted in steps across the stream


def test_a_run_keeps_one_checkpoint_file_last_ckpt(tmp_path):
    # save_top_k=0: the periodic saves overwrite last.ckpt, never pile up epoch=..-step=.. files
    fit(train_cfg(max_steps=4, checkpoint_every=1, val_every=2), tmp_path)
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["last.ckpt"]


def test_on_a_terminal_the_bar_redraws_every_half_logging_interval(tmp_path, monkeypatch):
    import io
    import sys

    from lightning.pytorch.callbacks import TQDMProgressBar

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr(sys, "stdout", Terminal())
    for log_every, rate in ((10, 5), (3, 1), (1, 1)):
        bar = build_trainer(train_cfg(log_every=log_every), tmp_path).progress_bar_callback
        assert isinstance(bar, TQDMProgressBar) and bar.refresh_rate == rate


def test_each_strategy_reaches_lightning_with_its_backend(monkeypatch):
    """ddp and fsdp2 over gloo on the CPU, and Lightning's choice (NCCL) on GPUs; fsdp2 saves one
    full checkpoint and is data-parallel over every process of every node; fsdp wraps the blocks
    it is given."""
    from lightning.pytorch.strategies import DDPStrategy, FSDPStrategy, ModelParallelStrategy
    from torch.distributed.fsdp.wrap import ModuleWrapPolicy

    from sciPT.trainer import _strategy

    assert _strategy(train_cfg(), set()) == "auto"
    for cuda, backend in ((False, "gloo"), (True, None)):
        monkeypatch.setattr(torch.cuda, "is_available", lambda cuda=cuda: cuda)
        ddp = _strategy(train_cfg(strategy="ddp"), set())
        assert isinstance(ddp, DDPStrategy) and ddp._process_group_backend == backend
        fsdp2 = _strategy(train_cfg(strategy="fsdp2"), set())
        assert isinstance(fsdp2, ModelParallelStrategy) and fsdp2._process_group_backend == backend
        assert fsdp2._save_distributed_checkpoint is False
    fsdp = _strategy(train_cfg(strategy="fsdp"), {nn.Linear})
    assert isinstance(fsdp, FSDPStrategy) and isinstance(fsdp.kwargs["auto_wrap_policy"], ModuleWrapPolicy)
    assert "auto_wrap_policy" not in _strategy(train_cfg(strategy="fsdp"), set()).kwargs
    # 2 nodes of 3 processes: one mesh of 6, no tensor parallelism (Lightning's own would be 2 x 3)
    monkeypatch.setattr(ModelParallelStrategy, "setup_environment", lambda self: None)
    fsdp2.num_nodes, fsdp2.parallel_devices = 2, [torch.device("cpu")] * 3
    fsdp2.setup_environment()
    assert (fsdp2._data_parallel_size, fsdp2._tensor_parallel_size) == (6, 1)


def test_preparing_a_compiled_backbone_again_changes_nothing():
    from sciPT.nn import TransformerConfig, TransformerEncoder
    from sciPT.trainer import configure_model

    backbone = TransformerEncoder(TransformerConfig(d_model=16, n_heads=2, d_ff=32))
    configure_model(nn.Module(), backbone, train_cfg(compile=True))
    compiled = backbone._compiled_call_impl
    configure_model(nn.Module(), backbone, train_cfg(compile=True))
    assert backbone._compiled_call_impl is compiled


def test_the_old_import_places_still_give_the_callbacks():
    import sciPT.trainer

    assert sciPT.trainer.AtomicCheckpointIO is sc.AtomicCheckpointIO
    assert sciPT.trainer.TimeBudget is sc.TimeBudget
    with pytest.raises(AttributeError):
        sciPT.trainer.NoSuchThing  # noqa: B018


def test_lightning_s_advice_to_add_back_the_timers_of_a_resumed_run_is_dropped(recwarn):
    # a run started with a time budget, resumed with --max-steps alone: both TimeBudget and
    # Lightning's Timer were in it, and giving them up is by design (time_only)
    import warnings

    from sciPT.trainer import drop_lightning_noise

    drop_lightning_noise()
    for missing in (["TimeBudget"], ["Timer"], ["TimeBudget", "Timer"]):
        warnings.warn(
            "Be aware that when using `ckpt_path`, callbacks used to create the checkpoint need to be provided "
            f"during `Trainer` instantiation. Please add the following callbacks: {missing}.",
            stacklevel=1,
        )
    assert [str(w.message) for w in recwarn] == []
