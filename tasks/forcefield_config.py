"""What ``scipt finetune forcefield`` is told: its config, its presets and their checks.

:class:`ForcefieldConfig` and the presets ``tiny`` and ``small`` (with the ``--max-time`` budget from
which a run naming no preset takes ``small``), and :func:`validate`, run before anything is read.
What each key does is the task's documentation (:mod:`sciPT.tasks.forcefield`); the training flow
is :mod:`.forcefield_train`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from sciPT.config import to_dict
from sciPT.domains.molecules import domain as molecules
from sciPT.domains.molecules.data import SMILES_SUFFIXES, MoleculeDataConfig
from sciPT.domains.molecules.objectives import ObjectiveConfig
from sciPT.domains.molecules.objectives import validate as validate_objective
from sciPT.domains.molecules.potential_config import PotentialConfig, check_precision
from sciPT.domains.molecules.presets import tiny as molecules_tiny
from sciPT.errors import ConfigError
from sciPT.finetune import FinetuneConfig
from sciPT.finetune.replay import check_replay_fraction
from sciPT.schedules import ScheduleConfig
from sciPT.trainer import TrainConfig
from sciPT.trainer import validate as validate_train

# a --max-time budget from which a run naming no preset takes `small`: at 2.5 and 10 CPU-minutes
# on acetylacetone it was ahead of `tiny` on validation over three seeds
# (benchmarks/RESULTS_forcefield.md, section 4); shorter budgets were not measured
SMALL_FROM_S = 150.0


@dataclass
class ForcefieldConfig:
    """Everything ``scipt finetune forcefield`` does (:mod:`sciPT.tasks.forcefield`).

    Attributes:
        init: a pre-trained molecules run or model folder, or ``none``.
        data: training (``paths``) and validation (``val_paths``, else ``val_fraction`` held out:
            a tenth by default) frames, their keys and units.
        test: files at the training data's level of theory, evaluated before and after.
        eval: files of the old task (pre-training level of theory), evaluated before and after.
        references: the per-element reference energies of the trained head: ``refit`` (the
            pre-trained ones plus a least-squares correction of the model's energy errors on the
            training frames), ``keep`` (the pre-trained ones), ``data`` (the new data's: isolated
            atoms, else least squares; a named isolated-atoms file lacking an element is refused) or ``auto`` (``refit`` from a pre-trained model, ``data``
            from scratch); :mod:`sciPT.tasks.forcefield`.
        model: architecture for ``--init none``; a pre-trained start brings its own.
        objective: energy and force loss weights (``kind`` must stay ``energy_forces``).
        finetune: strategy and its strength.
        train: optimisation.
        replay_frames: at most this many pre-training frames are read for ``replay`` (1,000, drawn at
            random with the training seed: all of the shipped ethanol set).
        replay: mix pre-training frames into every batch whatever the strategy (``ewc`` +
            replay); strategy ``replay`` turns it on.
        eval_head: the head the ``eval`` sets go through, and the one a new head is copied from
            (``None``: the pre-trained model's newest head).
        eval_batch_size: frames per batch when evaluating (32; it changes speed and memory, not
            the numbers).
        old_head_distillation: with a new head, the strength of the term that keeps the old head's
            predictions on the new training frames where the pre-trained model had them (learning
            without forgetting, :mod:`sciPT.domains.molecules.lwf`; no old data needed); 0: off.
        head_blocks: with a new head, how many of the last interaction blocks each head owns (the
            new head starts from a copy of the old one's; the old head keeps its own, untouched),
            so that only the blocks before them are shared; ``None``: 1 when the model has one head
            (the first head added), else the model's own (0 for a model whose heads are readouts).
            One block is the default because, with EWC on the blocks still shared, it forgets far
            less than readout-only heads at the same cost to the new data
            (``benchmarks/RESULTS_forgetting.md``: ethanol validation error after fine-tuning 416
            against 984 meV/Å at the strengths the benchmark's rule chose).
    """

    init: str = "none"
    data: MoleculeDataConfig = field(default_factory=lambda: MoleculeDataConfig(val_fraction=0.1))
    test: list[str] = field(default_factory=list)
    eval: list[str] = field(default_factory=list)
    references: Literal["auto", "refit", "keep", "data"] = "auto"
    model: PotentialConfig = field(default_factory=lambda: molecules_tiny().model)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(
            max_steps=1500,
            batch_size=8,
            lr=2e-2,
            weight_decay=0.0,
            grad_clip=10.0,
            schedule=ScheduleConfig(warmup_steps=50, min_lr_ratio=0.02),
            val_every=250,
            checkpoint_every=250,
            val_batches=8,
            log_every=25,
        )
    )
    replay_frames: int = 1000
    replay: bool = False
    eval_head: str | None = None
    eval_batch_size: int = 32
    old_head_distillation: float = 0.0
    head_blocks: int | None = None


def tiny() -> ForcefieldConfig:
    """1,500 steps of batch 8, AdamW at learning rate 2e-2 (the pre-training preset's) with a 50-step
    warm-up and a cosine decay to 2% of it, no weight decay, gradients clipped at norm 10,
    validation (8 batches) and a checkpoint every 250 steps; the ``tiny`` architecture when starting
    from scratch.

    Fine-tuning the pre-trained tiny potential on 350 acetylacetone frames for 1,500 steps, the
    acetylacetone validation force RMSE fell as the learning rate rose from 2e-3 to 8e-2 (126 to
    69 meV/Å, ``benchmarks/RESULTS_forgetting.md``), while the ethanol error grew: a new molecule
    far from the pre-training data wants a large rate, a nearby one a small one.
    """
    return ForcefieldConfig()


def small() -> ForcefieldConfig:
    """The ``small`` architecture from scratch and 5,000 steps, validated and checkpointed every 500;
    otherwise :func:`tiny`'s optimisation."""
    cfg = ForcefieldConfig(model=dataclasses.replace(molecules.presets()["small"]().model))
    cfg.train = dataclasses.replace(cfg.train, max_steps=5000, val_every=500, checkpoint_every=500)
    return cfg


def validate(cfg: ForcefieldConfig) -> None:
    validate_train(cfg.train)
    check_precision(cfg.train.precision)
    if not cfg.data.paths:
        raise ConfigError("--train: no training frames given (pass --train FRAMES.xyz)")
    for path in [*cfg.data.paths, *cfg.data.val_paths, *cfg.test, *cfg.eval]:
        if Path(path).suffix.lower() in SMILES_SUFFIXES:
            raise ConfigError(
                f"{path}: SMILES are structures without energies or forces; a force "
                "field is fitted to labelled frames (pre-train on SMILES with "
                "objective.kind denoise instead)"
            )
    if cfg.objective.kind != "energy_forces":
        raise ConfigError(
            f"objective.kind: a force field is fitted to energies and forces "
            f"('energy_forces'), got '{cfg.objective.kind}'"
        )
    if cfg.replay or cfg.finetune.strategy == "replay":
        check_replay_fraction(cfg.train.batch_size, cfg.finetune.replay_fraction)
    check_start_model(cfg)
    if cfg.head_blocks is not None and cfg.init == "none":
        raise ConfigError(
            "head_blocks: the blocks a head added to a pre-trained model owns (--init RUN); "
            "from scratch, set model.head_blocks"
        )
    if cfg.old_head_distillation < 0:
        raise ConfigError(f"old_head_distillation: expected a strength >= 0, got {cfg.old_head_distillation}")
    if cfg.replay_frames < 1 or cfg.eval_batch_size < 1:
        raise ConfigError(
            "replay_frames, eval_batch_size: expected positive integers, got "
            f"{cfg.replay_frames} and {cfg.eval_batch_size}"
        )
    validate_objective(cfg.objective)


def check_start_model(cfg: ForcefieldConfig) -> None:
    """Refuse ``model`` keys beside a pre-trained ``--init``, whose own architecture and dtype are
    used: they would be recorded in config.yaml and do nothing (a float32 start fine-tuned in
    float32 under ``model.dtype: float64``)."""
    if cfg.init == "none":
        return
    given = to_dict(cfg.model)
    presets = [to_dict(preset().model) for preset in (tiny, small)]
    if given in presets:
        return
    nearest = min(presets, key=lambda p: sum(given[k] != p[k] for k in given))
    key = next(k for k in given if given[k] != nearest[k])
    hint = " (a float64 fine-tune starts from a float64 pre-trained model)" if key == "dtype" else ""
    raise ConfigError(
        f"model.{key}: the pre-trained start (--init {cfg.init}) brings its own model; the model "
        f"keys apply to --init none{hint}"
    )
