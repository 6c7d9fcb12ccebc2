"""The force-field task's configuration (:mod:`sciPT.tasks.forcefield_config`): its documented
defaults and the settings :func:`validate` refuses before anything is read."""

import dataclasses

import pytest

from sciPT.errors import ConfigError
from sciPT.tasks.forcefield_config import ForcefieldConfig, check_start_model, small, tiny, validate


def config(**kw) -> ForcefieldConfig:
    cfg = ForcefieldConfig(**kw)
    cfg.data = dataclasses.replace(cfg.data, paths=["train.xyz"])
    return cfg


def refusal(cfg) -> str:
    with pytest.raises(ConfigError) as err:
        validate(cfg)
    return str(err.value)


def test_a_run_without_training_frames_is_refused():
    assert refusal(ForcefieldConfig()) == "--train: no training frames given (pass --train FRAMES.xyz)"


@pytest.mark.parametrize("where", ["paths", "val_paths", "test", "eval"])
@pytest.mark.parametrize("name", ["mols.smi", "MOLS.SMI"])
def test_smiles_are_refused_wherever_they_are_given(where, name):
    """SMILES carry no energies: as training, validation, test or eval files, in any case."""
    cfg = config()
    if where in ("paths", "val_paths"):
        setattr(cfg.data, where, [*getattr(cfg.data, where), name])
    else:
        setattr(cfg, where, [name])
    assert refusal(cfg) == (
        f"{name}: SMILES are structures without energies or forces; a force field is fitted to "
        "labelled frames (pre-train on SMILES with objective.kind denoise instead)"
    )


def test_a_negative_distillation_strength_is_refused_and_zero_is_off():
    validate(config(old_head_distillation=0.0))
    assert refusal(config(old_head_distillation=-0.5)) == (
        "old_head_distillation: expected a strength >= 0, got -0.5"
    )


@pytest.mark.parametrize(
    "replay_frames, eval_batch_size",
    [(0, 32), (1000, 0), (-3, 32)],
    ids=["no-replay", "no-batch", "negative"],
)
def test_replay_frames_and_eval_batch_size_must_be_positive(replay_frames, eval_batch_size):
    """Zero replayed frames would train on none; a batch of 0 would evaluate nothing."""
    assert refusal(config(replay_frames=replay_frames, eval_batch_size=eval_batch_size)) == (
        "replay_frames, eval_batch_size: expected positive integers, got "
        f"{replay_frames} and {eval_batch_size}"
    )
    validate(config(replay_frames=1, eval_batch_size=1))


def test_the_objective_and_precision_are_checked():
    """A negative loss weight or a mixed precision crashes mid-run: refused before it."""
    cfg = config()
    cfg.objective = dataclasses.replace(cfg.objective, forces_weight=-1.0)
    assert refusal(cfg) == "objective.forces_weight: expected a weight >= 0, got -1.0"
    cfg = config()
    cfg.train = dataclasses.replace(cfg.train, precision="bf16-mixed")
    assert refusal(cfg).startswith(
        "train.precision: bf16-mixed: the molecules potential trains at 32-true only"
    )


def test_either_presets_model_beside_a_pretrained_start_is_accepted():
    """--preset small with --init RUN sets the preset's model keys, not the user's: no refusal."""
    for preset in (tiny, small):
        check_start_model(dataclasses.replace(preset(), init="RUN"))


def test_a_changed_model_key_is_named_against_the_nearest_preset():
    """The small model with another dtype: the key named is dtype, not every key where it differs
    from tiny."""
    cfg = dataclasses.replace(small(), init="RUN")
    cfg.model = dataclasses.replace(cfg.model, dtype="float64")
    with pytest.raises(ConfigError) as err:
        check_start_model(cfg)
    assert str(err.value) == (
        "model.dtype: the pre-trained start (--init RUN) brings its own model; the model keys apply to "
        "--init none (a float64 fine-tune starts from a float64 pre-trained model)"
    )


def test_a_budget_of_two_and_a_half_minutes_or_more_takes_small():
    """The task's documentation: with no --preset, `small` from a --max-time of 2.5 minutes on,
    `tiny` below it and without a budget; a user's short run must not get the slower model."""
    from sciPT.tasks.forcefield import task

    assert task.default_preset(None) == "tiny"
    assert task.default_preset(149.0) == "tiny"
    assert task.default_preset(150.0) == "small"
    assert task.default_preset(600.0) == "small"


def test_the_presets_are_what_their_docstrings_say():
    """tiny: 1,500 steps of batch 8 at 2e-2, a 50-step warm-up and cosine decay to 2%, no weight
    decay, clip 10, validation every 250 steps, a tenth held out, the molecules `tiny` architecture;
    small: the `small` architecture, 5,000 steps validated every 500, the rest as tiny."""
    from sciPT.domains.molecules import domain as molecules

    cfg = tiny()
    train = cfg.train
    assert (train.max_steps, train.batch_size, train.lr, train.weight_decay) == (1500, 8, 2e-2, 0.0)
    assert train.schedule.name == "cosine"
    assert (train.schedule.warmup_steps, train.schedule.min_lr_ratio, train.grad_clip) == (50, 0.02, 10.0)
    assert (train.val_every, train.checkpoint_every, train.val_batches) == (250, 250, 8)
    assert (cfg.data.val_fraction, cfg.replay_frames, cfg.eval_batch_size) == (0.1, 1000, 32)
    assert cfg.model == molecules.presets()["tiny"]().model
    big = small()
    assert big.model == molecules.presets()["small"]().model
    assert big.model != cfg.model
    assert (big.train.max_steps, big.train.batch_size, big.train.lr) == (5000, 8, 2e-2)
    assert (big.train.val_every, big.train.checkpoint_every, big.train.grad_clip) == (500, 500, 10.0)
    # the documented choices of the config: `auto` references, no replay, no distillation, and a
    # head's blocks left to the model
    assert (cfg.references, cfg.replay, cfg.old_head_distillation, cfg.head_blocks) == (
        "auto",
        False,
        0.0,
        None,
    )


@pytest.mark.parametrize("how", ["replay", "strategy"])
def test_the_replay_fraction_is_checked_whichever_way_replay_is_turned_on(how):
    """--replay beside another strategy replays as strategy `replay` does: a fraction that leaves no
    pre-training frame in a batch of 8 (0.01 x 8 rounds to 0) must be refused either way."""
    cfg = config(replay=how == "replay")
    cfg.finetune = dataclasses.replace(
        cfg.finetune, strategy="replay" if how == "strategy" else "ewc", replay_fraction=0.01
    )
    assert refusal(cfg) == (
        "finetune.replay_fraction: 0.01 of a batch of 8 is 0 pre-training examples; expected at "
        "least 1 and fewer than the batch size"
    )


def test_the_replay_fraction_is_not_checked_without_replay():
    """A fraction left in a config does nothing without replay: it must not stop an `ewc` run."""
    cfg = config()
    cfg.finetune = dataclasses.replace(cfg.finetune, strategy="ewc", replay_fraction=0.01)
    validate(cfg)


def test_head_blocks_needs_a_pretrained_start():
    """From scratch there is no old head to own blocks beside: the key to set is model.head_blocks."""
    assert refusal(config(head_blocks=1)) == (
        "head_blocks: the blocks a head added to a pre-trained model owns (--init RUN); "
        "from scratch, set model.head_blocks"
    )
    validate(config(head_blocks=1, init="RUN"))


def test_validate_refuses_model_keys_only_beside_a_pretrained_start():
    """With --init RUN the model keys would be recorded and do nothing; from scratch they are the
    architecture trained."""
    cfg = config(init="RUN")
    cfg.model = dataclasses.replace(cfg.model, layers=5)
    assert refusal(cfg) == (
        "model.layers: the pre-trained start (--init RUN) brings its own model; the model keys apply "
        "to --init none"
    )
    cfg.init = "none"
    validate(cfg)


# --- the task plugin (:mod:`sciPT.tasks.forcefield`): its flags and the order of checks and fitting
def finetune_parser():
    import argparse

    from sciPT.tasks.forcefield import task

    parser = argparse.ArgumentParser()
    task.add_finetune_arguments(parser)
    return parser


def test_each_force_field_flag_sets_the_key_it_names(tmp_path):
    """The short flags of the task's docstring each set their own key: --val landing on the
    training files, or --energy-weight on the forces' weight, would fit something else in silence."""
    from sciPT.runconfig import resolve_config
    from sciPT.tasks.forcefield import task

    parser = finetune_parser()
    assert parser.parse_args([]).out == "runs/forcefield"
    args = parser.parse_args(
        ["--train", "t.xyz", "--val", "v.xyz", "--isolated-atoms", "iso.xyz", "--energy-key", "E"]
        + ["--forces-key", "F", "--strategy", "ewc", "--ddp-strategy", "ddp", "--ewc-lambda", "0.3"]
        + ["--head-warmup", "5", "--l2sp-alpha", "0.2", "--replay-fraction", "0.25"]
        + ["--energy-weight", "2", "--forces-weight", "3", "--out", str(tmp_path / "run")]
    )
    cfg = resolve_config(task, args, args.table)
    d, f = cfg.data, cfg.finetune
    assert (d.paths, d.val_paths, d.isolated_atoms) == (["t.xyz"], ["v.xyz"], "iso.xyz")
    assert (d.energy_key, d.forces_key) == ("E", "F")
    assert (f.strategy, cfg.train.strategy) == ("ewc", "ddp")
    assert (f.ewc_lambda, f.head_warmup, f.l2sp_alpha, f.replay_fraction) == (0.3, 5, 0.2, 0.25)
    assert (cfg.objective.energy_weight, cfg.objective.forces_weight) == (2.0, 3.0)


def test_both_presets_are_offered_by_name(tmp_path):
    """--preset tiny and --preset small (the docstring's two) give their own models."""
    from sciPT.runconfig import resolve_config
    from sciPT.tasks.forcefield import task

    assert task.presets() == {"tiny": tiny, "small": small}
    args = finetune_parser().parse_args(["--preset", "small", "--out", str(tmp_path / "run")])
    assert resolve_config(task, args, args.table).model == small().model


def test_evaluate_reads_labels_with_the_models_references_and_predict_reads_none():
    """``scipt evaluate`` takes the key flags and ``--references`` (default: the fine-tuned
    model's); ``scipt predict`` needs no labels, so a key flag there is an error, not a no-op."""
    import argparse

    from sciPT.tasks.forcefield import task

    evaluate = argparse.ArgumentParser()
    task.add_evaluate_arguments(evaluate)
    assert evaluate.parse_args([]).references == "model"
    assert evaluate.parse_args(["--references", "pretrained", "--energy-key", "E"]).energy_key == "E"
    predict = argparse.ArgumentParser()
    task.add_predict_arguments(predict)
    with pytest.raises(SystemExit):
        predict.parse_args(["--energy-key", "E"])


def test_finetune_checks_the_settings_before_the_fitting_code_runs(tmp_path, monkeypatch):
    """A wrong value is refused before the fitting code is called; a right one reaches it with the
    run folder, --resume and the command line (recorded in the run)."""
    import sys

    import sciPT.tasks.forcefield_train as forcefield_train
    from sciPT.tasks.forcefield import task

    calls = []
    monkeypatch.setattr(
        forcefield_train,
        "run_finetune",
        lambda cfg, out, resume, command: calls.append((out, resume, command)),
    )
    out = str(tmp_path / "run")
    argv = ["--train", "t.xyz", "--lr", "-1", "--out", out]
    with pytest.raises(ConfigError) as err:
        task.finetune(finetune_parser().parse_args(argv))
    assert str(err.value) == "train.lr: expected a positive learning rate, got -1.0"
    assert calls == []
    argv = ["--train", "t.xyz", "--resume", "--out", out]
    monkeypatch.setattr(sys, "argv", ["scipt", "finetune", "forcefield", *argv])
    task.finetune(finetune_parser().parse_args(argv))
    assert calls == [(out, True, f"scipt finetune forcefield --train t.xyz --resume --out {out}")]


def test_evaluate_and_predict_hand_back_what_the_evaluating_code_answers(monkeypatch):
    """``scipt evaluate`` exits 0 once its report is written; ``predict`` with predict_run's status."""
    import sciPT.tasks.forcefield_eval as forcefield_eval
    from sciPT.tasks.forcefield import task

    seen = []
    monkeypatch.setattr(
        forcefield_eval, "evaluate_run", lambda run, args: seen.append((run, args)) or {"x": 1}
    )
    monkeypatch.setattr(forcefield_eval, "predict_run", lambda run, args: 3)
    assert task.evaluate("RUN", "ARGS") == 0 and seen == [("RUN", "ARGS")]
    assert task.predict("RUN", "ARGS") == 3
