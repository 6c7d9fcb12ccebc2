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
