"""Force-field fitting: fine-tune an equivariant potential on new DFT frames without forgetting.

::

    scipt finetune forcefield --init RUN|none --train FRAMES.xyz [--val FILE ...] [--test FILE ...]
                              [--eval FILE ...] --out RUN [--strategy full|freeze|l2sp|ewc|replay]
                              [--data.head NAME] [--eval-head NAME] [--replay]
    scipt evaluate RUN --data FRAMES.xyz [--head NAME] [--references model|pretrained]
    scipt predict RUN --input FRAMES.xyz --output PREDICTED.xyz [--head NAME]
    scipt md RUN --structure FILE --steps N --temperature T --output traj.xyz [--head NAME]
    scipt demo forcefield

Preset. ``tiny`` by default; with a ``--max-time`` budget of 2.5 minutes or more and no
``--preset``, ``small`` (:meth:`ForcefieldTask.default_preset`): at equal time the larger model's
fewer steps learn more (``benchmarks/RESULTS_forcefield.md``, section 4).

Start. ``--init RUN`` loads a pre-trained potential (``scipt pretrain molecules``; its ``model/``
folder or the run), whose element table is then enforced: a frame with an element the model never
saw is refused, naming the file, the frame and the element. ``--init none`` trains the ``model``
architecture of the config from scratch.

Strategies (:mod:`sciPT.finetune`): ``full``; ``freeze`` (the element embedding and the first
``finetune.freeze_layers`` interaction blocks); ``l2sp``; ``ewc`` with the Fisher diagonal stored
with the pre-trained model (:mod:`sciPT.domains.molecules.ewc`; the report gives ``lambda`` in
units of its natural scale ``lambda_0 = 1 / (2 x mean pre-training loss)``); ``replay``, which mixes
``finetune.replay_fraction`` of every batch from the frames the model was pre-trained on (at most
``replay_frames`` of them: the training files of the ``--init`` run, read with its keys and units
and split as pre-training split them, so its validation frames are never replayed; for a bare
``model/`` folder, the files recorded in ``pretrained_on``).

Heads, one per level of theory (:mod:`sciPT.domains.molecules.model`). The training frames name
their level of theory (``--data.head NAME``; by default the ``head`` entry of the first frame's
extended-XYZ info line, else the first training file's stem, e.g. ``train_300K``:
:func:`sciPT.domains.molecules.data.head_name`). If the pre-trained model has no head of that
name, fine-tuning adds one, a copy of the head named by ``eval_head`` (default: the model's newest),
and trains it with the shared blocks; by default the first head added to a model owns the last
interaction block as well as the readout (``head_blocks``, ``--head-blocks``: the old head keeps its
copy of that block untouched; 0 makes heads readouts only); every other head is frozen, and the ``--eval`` sets (the old
task) are evaluated through ``eval_head``, with its own references. ``ewc`` and ``l2sp`` then anchor
the shared blocks only (:func:`sciPT.domains.molecules.ewc.head_strategy`); replayed frames go
through the old head. If the model has a head of that name, that head is fine-tuned (from a
single-head model, the behaviour before heads existed: pass ``--data.head`` with the model's head,
``default`` for exports older than heads). ``scipt evaluate``, ``predict``, ``md`` and the ASE
calculator take ``--head`` (default: the newest head, i.e. the one fine-tuned last).

Reference energies (``references``). A new data set often comes from another level of theory, whose
total energies differ from the old by a nearly constant amount per element. ``refit`` (the default
from a pre-trained model) keeps the network and moves only the per-element references (of the
trained head): it adds to
the pre-trained references the least-squares per-element correction of the pre-trained model's
energy errors on the training frames, so no weight has to change to absorb an offset (which EWC
would resist and the old task would pay for). ``keep`` leaves the pre-trained references, ``data``
takes the new data's (isolated atoms, else least squares, as pre-training does; the default from
scratch). When one head is fine-tuned on a new level of theory, frames of the
old level (``--eval`` sets, replayed frames) are compared under the pre-trained references: the
replayed energies are shifted by the change of references, and the ``--eval`` sets are evaluated
with the pre-trained references swapped in. (With a new head, the old head keeps its references.)

Replay with any strategy: ``--replay`` (``replay: true``) mixes ``finetune.replay_fraction`` of pre-training frames
into every batch whatever the strategy (``ewc`` + replay); strategy ``replay`` is ``full`` with it.

Evaluation, after training and, from a pre-trained model, also before it (``*_before_*``):
validation frames, every ``--test`` file (same level of theory as the training data) and every
``--eval`` file (the old task: forgetting). Energy MAE/RMSE per atom and per frame (meV), force
MAE/RMSE (meV/Angstrom), per element; parity plots; a before/after bar chart. Files in ``--test``
and ``--eval`` are read with the ``data`` keys and units.

``scipt evaluate RUN --data FILE`` writes its own folder, ``RUN/evaluations/<file name>/`` (or
``--out DIR``): ``metrics.json``, parity plots and ``report.md``
(:func:`sciPT.domains.molecules.evaluate.evaluate_run`, which also evaluates pre-training runs);
fine-tuning's ``metrics.json`` is left as measured. ``--references pretrained`` evaluates frames of
the old level of theory.

Which strategy. From ethanol + methanol to acetylacetone (``benchmarks/RESULTS_forgetting.md``),
replay of one pre-training frame per batch of 8 kept the ethanol error rise a small fraction of
naive fine-tuning's at a few per cent on acetylacetone. EWC did not, with one head or on the shared
blocks of readout-only heads: every strength that protected ethanol cost acetylacetone far more
than 10%, because the weights the new level of theory needs to move are ones whose diagonal Fisher
at the pre-trained point says little of how the old level depends on them (the radial MLPs). A new
head alone, without old frames, forgets more than one shared head: the frozen old head cannot
follow the shared features. When the old frames are at hand, replay them (``--replay``, with a new
head or one). Without them, a new head that owns its last interaction block (``head_blocks``, the
default) and trains alone for the first third of the steps (``--head-warmup 0.333``, LP-FT: the shared
blocks then join on a learning-rate ramp) before ``--strategy ewc`` anchors the shared blocks trades
best: over three seeds 0.21 x naive's rise for 9 % on the new molecule at ``ewc_lambda`` = 0.01
lambda_0 (without the warm-up, 0.43 x at 0.1 lambda_0). ``--old-head-distillation MU`` with a new
head (learning without forgetting, :mod:`sciPT.domains.molecules.lwf`) keeps the old head's predictions on the new frames: 0.6 x
naive's rise at ``MU = 1`` for about 19 %; with ``--strategy ewc`` on top, 0.4 x for 33 %.
``--finetune.ewc-online-every K`` adds to the Fisher at the pre-trained point the running mean of
the old head's Fisher re-estimated every K steps on the new frames (:mod:`sciPT.finetune.online`);
on the same benchmark it traded slightly worse than the Fisher at the pre-trained point alone
(0.23 x for 8.5 % against 0.21 x for 8.8 %, more ethanol rise at every matched cost), so it is off.

The fine-tuned potential is exported to ``RUN/model`` (safetensors + config.json), so
:func:`sciPT.checkpoint.from_pretrained` and :class:`sciPT.domains.molecules.calculator.SciPTCalculator`
load it. It carries no Fisher: one computed on the pre-training data would no longer describe it.
"""

from __future__ import annotations

import dataclasses
import json
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import lightning.pytorch as pl
import numpy as np
import torch
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write
from torch import nn
from tqdm.auto import tqdm

from sciPT import __version__, io, plots
from sciPT.checkpoint import export_model, from_pretrained, read_export_config
from sciPT.config import from_dict, load_yaml, to_dict
from sciPT.data import StepDataModule
from sciPT.domains.molecules import domain as molecules
from sciPT.domains.molecules import md
from sciPT.domains.molecules.data import (
    SMILES_SUFFIXES,
    MoleculeDataConfig,
    check_elements,
    head_name,
    read_frames,
)
from sciPT.domains.molecules.dataset import FrameDataset, batches, collate, prepare, split_frames, to_graphs
from sciPT.domains.molecules.evaluate import (
    Evaluation,
    add_reading_arguments,
    element_rows,
    evaluate_potential,
    labelled_graphs,
    metric_rows,
    parity_plots,
    run_data_config,
    swapped_references,
    using_head,
)
from sciPT.domains.molecules.evaluate import evaluate_run as evaluate_model
from sciPT.domains.molecules.ewc import ewc_scale, head_strategy, old_head_estimator
from sciPT.domains.molecules.lwf import OldHeadLoss, attach_teacher
from sciPT.domains.molecules.model import EquivariantPotential, PotentialConfig
from sciPT.domains.molecules.objectives import EnergyForceLoss, ObjectiveConfig
from sciPT.domains.molecules.objectives import validate as validate_objective
from sciPT.domains.molecules.presets import tiny as molecules_tiny
from sciPT.errors import ConfigError, DataError, UserError
from sciPT.files import file_sha256, resolve_data_path
from sciPT.finetune import (
    FinetuneConfig,
    FinetuneModule,
    HeadWarmup,
    build_strategy,
    load_fisher,
    load_fisher_blocks,
    replay_loader,
)
from sciPT.finetune import validate as validate_finetune
from sciPT.registry import Command, Task
from sciPT.run import RunDir
from sciPT.schedules import ScheduleConfig
from sciPT.trainer import TrainConfig, build_trainer, sized_steps
from sciPT.trainer import validate as validate_train

from .forcefield_eval import before_after_plot, set_name

# interaction blocks a head added to a one-head model owns (ForcefieldConfig.head_blocks)
DEFAULT_HEAD_BLOCKS = 1
# a --max-time budget from which a run naming no preset takes `small`: at 2.5 and 10 CPU-minutes
# on acetylacetone it was ahead of `tiny` on validation over three seeds
# (benchmarks/RESULTS_forcefield.md, section 4); shorter budgets were not measured
SMALL_FROM_S = 150.0


@dataclass
class ForcefieldConfig:
    """Everything ``scipt finetune forcefield`` does (module docstring).

    Attributes:
        init: a pre-trained molecules run or model folder, or ``none``.
        data: training (``paths``) and validation (``val_paths``, else ``val_fraction`` held out)
            frames, their keys and units.
        test: files at the training data's level of theory, evaluated before and after.
        eval: files of the old task (pre-training level of theory), evaluated before and after.
        references: ``auto``, ``refit``, ``keep`` or ``data`` (module docstring).
        model: architecture for ``--init none``; a pre-trained start brings its own.
        objective: energy and force loss weights (``kind`` must stay ``energy_forces``).
        finetune: strategy and its strength.
        train: optimisation.
        replay_frames: at most this many pre-training frames are read for ``replay``.
        replay: mix pre-training frames into every batch whatever the strategy (``ewc`` +
            replay); strategy ``replay`` turns it on.
        eval_head: the head the ``eval`` sets go through, and the one a new head is copied from
            (``None``: the pre-trained model's newest head).
        eval_batch_size: frames per batch when evaluating.
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
    """1,500 steps of batch 8, AdamW at learning rate 2e-2 (the pre-training preset's) with a cosine
    decay, no weight decay; the ``tiny`` architecture when starting from scratch.

    Fine-tuning the pre-trained tiny potential on 350 acetylacetone frames for 1,500 steps, the
    acetylacetone validation force RMSE fell as the learning rate rose from 2e-3 to 8e-2 (126 to
    69 meV/Å, ``benchmarks/RESULTS_forgetting.md``), while the ethanol error grew: a new molecule
    far from the pre-training data wants a large rate, a nearby one a small one.
    """
    return ForcefieldConfig()


def small() -> ForcefieldConfig:
    """The ``small`` architecture from scratch and 5,000 steps."""
    cfg = ForcefieldConfig(model=dataclasses.replace(molecules.presets()["small"]().model))
    cfg.train = dataclasses.replace(cfg.train, max_steps=5000, val_every=500, checkpoint_every=500)
    return cfg


# --- the starting point ------------------------------------------------------------------------
@dataclass
class Start:
    """The potential fine-tuning starts from, and what came with it."""

    name: str  # "pre-trained" or "scratch"
    backbone: EquivariantPotential | None
    export: dict
    extras: dict
    pretrain_data: MoleculeDataConfig  # how its pre-training read its files (for replay)
    pretrain_seed: int
    references: list[float] | None  # the pre-trained reference energies (eV, element order)


def _run_config(init: str) -> dict:
    """The config.yaml of the run an export belongs to (``{}`` if it is not in a run)."""
    path = Path(init)
    for candidate in (path / "config.yaml", path.parent / "config.yaml"):
        if candidate.is_file() and (candidate.parent / "model").is_dir():
            return load_yaml(candidate) or {}
    return {}


def load_start(cfg: ForcefieldConfig) -> Start:
    if cfg.init == "none":
        return Start("scratch", None, {}, {}, MoleculeDataConfig(), 0, None)
    pre = from_pretrained(cfg.init, domain="molecules")
    saved = _run_config(cfg.init)
    data = MoleculeDataConfig()
    if saved.get("domain") == "molecules" and saved.get("data"):
        data = from_dict(MoleculeDataConfig, saved["data"], f"{cfg.init}: config.yaml: data")
    seed = int((saved.get("train") or {}).get("seed", 0))
    return Start(
        "pre-trained", pre.model, pre.config, pre.extras, data, seed, list(pre.model.cfg.reference_energies)
    )


def check_strategy(cfg: ForcefieldConfig, start: Start):
    """The strategy, built and checked against the backbone (before anything is written)."""
    name = cfg.finetune.strategy
    validate_finetune(cfg.finetune)
    if name == "linear-probe":
        raise ConfigError(
            "finetune.strategy: 'linear-probe' trains only a new head and a potential "
            "has none (freeze the lower blocks with 'freeze' instead)"
        )
    if start.backbone is None:
        if cfg.replay:
            raise ConfigError("replay: replaying pre-training frames needs a pre-trained model (--init RUN)")
        if name != "full":
            raise ConfigError(
                f"finetune.strategy: '{name}' needs a pre-trained model (--init RUN); "
                "from scratch only 'full' applies"
            )
        return None
    return build_strategy(
        # a running Fisher estimate needs the old head, known once the heads are set (run_finetune)
        dataclasses.replace(cfg.finetune, ewc_online_every=0),
        start.backbone,
        fisher=load_fisher(start.extras),
        fisher_blocks=load_fisher_blocks(start.extras),
    )


# --- reference energies -------------------------------------------------------------------------
def composition(graphs: list, elements: list[str]) -> np.ndarray:
    """``A[g, s]``: atoms of element ``s`` in graph ``g``."""
    from ase.data import atomic_numbers

    numbers = np.array([atomic_numbers[s] for s in elements])
    return np.stack([(g.z.numpy()[:, None] == numbers[None, :]).sum(0) for g in graphs]).astype(float)


@torch.no_grad()
def refit_references(backbone: EquivariantPotential, graphs: list, batch_size: int) -> list[float]:
    """The active head's references plus the least-squares per-element correction of its energy errors
    on ``graphs`` (minimum-norm when the compositions do not fix every element)."""
    backbone.eval()
    labelled = [g for g in graphs if "energy" in g]
    current = backbone.head_module().reference_energies.tolist()
    if not labelled:
        return list(current)
    residual = np.concatenate(
        [
            (b.energy.reshape(-1) - backbone(b, forces=False)["energy"]).numpy()
            for b in batches(labelled, batch_size)
        ]
    )
    delta, *_ = np.linalg.lstsq(composition(labelled, backbone.elements), residual, rcond=None)
    return [float(r + d) for r, d in zip(current, delta)]


# --- data --------------------------------------------------------------------------------------
@dataclass
class Sets:
    """Every graph the run uses, validated before the run directory exists."""

    train: list
    val: list
    test: dict[str, list]
    eval: dict[str, list]
    replay: list
    corpus: list
    references_method: str
    head: str  # the head trained
    eval_head: str  # the head the eval sets and the replayed frames go through
    eval_references: list[float] | None  # swapped in for them (one head trained on both levels)


def _graphs(
    paths: list[str], data: MoleculeDataConfig, elements: list[str], cutoff: float, names: set[str]
) -> dict[str, list]:
    return {set_name(path, names): labelled_graphs(path, data, elements, cutoff) for path in paths}


def pretraining_frames(start: Start, cfg: ForcefieldConfig) -> list:
    """The frames the model was pre-trained on: the training files of its run's config, read and
    split as pre-training did (same ``max_frames``, validation held out with the same seed), or,
    for an export outside its run directory, every frame of the files recorded with it."""
    data = start.pretrain_data
    recorded = {str(resolve_data_path(e["path"])): e for e in start.export.get("pretrained_on") or []}
    paths = list(data.paths) or list(recorded)
    if not paths:
        raise ConfigError(
            f"finetune.strategy: 'replay' needs the pre-training frames, and "
            f"{cfg.init} records none (pretrained_on is empty)"
        )
    frames = []
    for path in paths:
        resolved = resolve_data_path(path)
        if not resolved.is_file():
            raise DataError(
                f"{path}: pre-training file of {cfg.init} is not on this machine (replay needs it)"
            )
        entry = recorded.get(str(resolved), {})
        if entry.get("sha256") and file_sha256(resolved) != entry["sha256"]:
            raise DataError(
                f"{path}: changed since pre-training (sha256 differs from the one recorded with {cfg.init})"
            )
        frames += [f for f in read_frames(path, data) if len(f.numbers) > 1]
    if data.paths and not data.val_paths:
        frames, _ = split_frames(frames, data.val_fraction, start.pretrain_seed)
    return frames


def replay_graphs(start: Start, cfg: ForcefieldConfig, shift: np.ndarray) -> list:
    """At most ``replay_frames`` pre-training frames (:func:`pretraining_frames`), their energies
    moved to the new references by ``shift`` (eV per atom of each element)."""
    frames = pretraining_frames(start, cfg)
    keep = np.sort(np.random.default_rng(cfg.train.seed).permutation(len(frames))[: cfg.replay_frames])
    graphs = to_graphs([frames[int(i)] for i in keep], start.backbone.cfg.cutoff, "replay graphs")
    for g, n in zip(graphs, composition(graphs, start.backbone.elements)):
        if "energy" in g:
            g.energy = g.energy + float(n @ shift)
    return graphs


def load_sets(cfg: ForcefieldConfig, start: Start) -> tuple[Sets, EquivariantPotential]:
    """Read and check every file; settle the backbone and its reference energies."""
    method = cfg.references
    if method == "auto":
        method = "data" if start.backbone is None else "refit"
    if start.backbone is None and method in ("refit", "keep"):
        raise ConfigError(
            f"references: '{method}' needs a pre-trained model (--init RUN); from "
            "scratch use 'data' or 'auto'"
        )
    head = head_name(cfg.data)
    eval_references = None
    if start.backbone is None:
        prepared = prepare(
            cfg.data, dataclasses.replace(cfg.model, head=head, heads=[]), labelled=True, seed=cfg.train.seed
        )
        backbone = EquivariantPotential(prepared.model)
        method = f"data ({prepared.references_method})"
        eval_head = head
    else:
        backbone = start.backbone
        eval_head = (
            backbone.check_head(cfg.eval_head, "eval_head:") if cfg.eval_head else backbone.head_names[-1]
        )
        if head in backbone.head_names:
            if cfg.head_blocks not in (None, backbone.cfg.head_blocks):
                raise ConfigError(
                    f"head_blocks: sets the blocks a new head owns, but this run trains the model's "
                    f"head '{head}' (its heads own {backbone.cfg.head_blocks}); name a new head with --data.head"
                )
            backbone.select_head(head)
            if eval_head == head:  # old frames through the head being moved to new references
                eval_references = list(backbone.head_module().reference_energies.tolist())
        else:
            blocks = cfg.head_blocks
            if blocks is None and len(backbone.head_names) == 1:
                blocks = DEFAULT_HEAD_BLOCKS
            backbone.add_head(head, copy_from=eval_head, blocks=blocks)
        model_cfg = dataclasses.replace(
            backbone.cfg, reference_energies=list(backbone.head_module().reference_energies.tolist())
        )
        if method == "data":
            model_cfg = dataclasses.replace(model_cfg, reference_energies=[])
        prepared = prepare(cfg.data, model_cfg, labelled=True, seed=cfg.train.seed)
        if method == "data":
            backbone.set_reference_energies(dict(zip(backbone.elements, prepared.model.reference_energies)))
            method = f"data ({prepared.references_method})"
        elif method == "refit":
            refs = refit_references(backbone, prepared.train, cfg.eval_batch_size)
            backbone.set_reference_energies(dict(zip(backbone.elements, refs)))
    names: set[str] = {"val"}
    elements, cutoff = backbone.elements, backbone.cfg.cutoff
    test = _graphs(cfg.test, cfg.data, elements, cutoff, names)
    evals = _graphs(cfg.eval, cfg.data, elements, cutoff, names)
    replay = []
    if start.backbone is not None and (cfg.replay or cfg.finetune.strategy == "replay"):
        shift = np.zeros(len(elements))
        if eval_references is not None:  # one head for both levels: old energies moved to the new references
            shift = backbone.head_module().reference_energies.numpy() - np.array(eval_references)
        replay = replay_graphs(start, cfg, shift)
    sets = Sets(
        prepared.train,
        prepared.val,
        test,
        evals,
        replay,
        prepared.corpus,
        method,
        head,
        eval_head,
        eval_references,
    )
    return sets, backbone


# --- training ----------------------------------------------------------------------------------
class ForceFieldLoss(nn.Module):
    """``loss_fn(backbone, head, batch)`` of :class:`sciPT.finetune.FinetuneModule`: the energy +
    force loss of :class:`.objectives.EnergyForceLoss` through the potential's head ``level`` (its
    active head when ``None``; the module's ``head`` argument, a task head, is unused: a potential
    carries its heads itself)."""

    def __init__(self, cfg: ObjectiveConfig, level: str | None = None, keep: OldHeadLoss | None = None):
        super().__init__()
        self.objective = EnergyForceLoss(cfg)
        self.level = level
        self.keep = keep  # learning without forgetting: the old head's predictions kept

    def forward(self, backbone, head, batch):
        with using_head(backbone, self.level):
            loss, metrics = self.objective(backbone, batch)
        if self.keep is not None:
            extra, more = self.keep(backbone, batch)
            loss, metrics = loss + extra, {**metrics, **more}
        return loss, metrics


class FrameData(StepDataModule):
    """Training batches by global step (resumable), or replay batches when ``replay`` is given."""

    def __init__(
        self,
        train: list,
        val: list,
        cfg: TrainConfig,
        replay: list | None = None,
        replay_fraction: float = 0.25,
    ):
        super().__init__(
            FrameDataset(train, seed=cfg.seed),
            FrameDataset(val, shuffle=False) if val else None,
            collate,
            cfg,
        )
        self.train_graphs, self.replay, self.replay_fraction = train, replay, replay_fraction

    def train_dataloader(self):
        if not self.replay:
            return super().train_dataloader()
        rank, world = (self.trainer.global_rank, self.trainer.world_size) if self.trainer else (0, 1)
        return replay_loader(
            self.train_graphs,
            self.replay,
            batch_size=self.cfg.batch_size,
            fraction=self.replay_fraction,
            seed=self.cfg.seed,
            task_collate=collate,
            replay_collate=collate,
            rank=rank,
            world_size=world,
        )


def validate(cfg: ForcefieldConfig) -> None:
    validate_train(cfg.train)
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


def run_finetune(cfg: ForcefieldConfig, out, *, resume: bool = False, command: str | None = None) -> RunDir:
    """Fine-tune as ``cfg`` says and write the run directory ``out`` (module docstring)."""
    validate(cfg)
    started = time.time()
    pl.seed_everything(cfg.train.seed, workers=True, verbose=False)
    start = load_start(cfg)
    strategy = check_strategy(cfg, start)
    sets, backbone = load_sets(cfg, start)
    if cfg.old_head_distillation > 0 and sets.eval_head == sets.head:
        raise ConfigError(
            "old_head_distillation: keeps an old head while a new one learns, but this run "
            f"trains the model's head '{sets.head}' itself (name a new head with --data.head)"
        )
    if cfg.finetune.head_warmup and (strategy is None or len(backbone.head_names) == 1):
        raise ConfigError(
            "finetune.head_warmup: trains a new head alone before the shared blocks join, but this "
            "run has no new head (start from a pre-trained model, --init RUN, and name a new head "
            "with --data.head)"
        )
    if cfg.finetune.ewc_online_every and sets.eval_head == sets.head:
        raise ConfigError(
            "finetune.ewc_online_every: re-estimates the old head's Fisher on the new frames while a "
            f"new head learns, but this run trains the model's head '{sets.head}' itself (name a new "
            "head with --data.head)"
        )
    if strategy is None:
        strategy = build_strategy(cfg.finetune, backbone)
    elif len(backbone.head_names) > 1:
        estimate = None
        if cfg.finetune.ewc_online_every:
            estimate = old_head_estimator(
                sets.train, cfg.objective, sets.eval_head, cfg.finetune.ewc_online_frames, cfg.train.seed
            )
        strategy = head_strategy(
            cfg.finetune,
            backbone,
            load_fisher(start.extras),
            sets.head,
            load_fisher_blocks(start.extras),
            estimate,
        )

    run = RunDir.create(out, resume=resume)
    run.write_config({"task": "forcefield", **to_dict(cfg)})
    if resume:
        plots.keep_log_for_resume(run.logs)
    before = {}
    if start.backbone is not None:
        before = evaluate_sets(backbone, sets, cfg, label="before fine-tuning")
    keep = None
    if cfg.old_head_distillation > 0:
        attach_teacher(backbone, sets.train, sets.eval_head, cfg.eval_batch_size)
        keep = OldHeadLoss(cfg.objective, sets.eval_head, cfg.old_head_distillation)
    # from_pretrained and the evaluation leave the model in eval mode, where it would not keep the
    # graph of its forces (no double backward: the force loss would not train)
    backbone.train()
    module = FinetuneModule(
        backbone,
        nn.Module(),
        ForceFieldLoss(cfg.objective, keep=keep),
        strategy,
        cfg.train,
        # replayed frames are of the old level of theory: through the old head when it is another
        replay_loss_fn=ForceFieldLoss(cfg.objective, sets.eval_head) if sets.eval_head != sets.head else None,
        batch_size_fn=lambda b: b.num_graphs,
    )
    trainer = build_trainer(cfg.train, run.path, enable_val=bool(sets.val))
    fit_started = time.time()
    trainer.fit(
        module,
        datamodule=FrameData(sets.train, sets.val, cfg.train, sets.replay, cfg.finetune.replay_fraction),
        ckpt_path=run.last_checkpoint if resume else None,
        weights_only=True,
    )
    fit_wall = time.time() - fit_started
    if trainer.global_rank != 0:
        return run
    backbone = module.backbone.to("cpu").eval()
    after = evaluate_sets(backbone, sets, cfg, label="after fine-tuning")
    export_model(
        run.model,
        backbone,
        molecules.export_config(
            backbone.cfg,
            task="forcefield",
            references=sets.references_method,
            pretrained_references=sets.eval_references,
            head=sets.head,
            eval_head=sets.eval_head,
            init=cfg.init,
            pretrained_on=start.export.get("pretrained_on", []),
            finetuned_on=sets.corpus,
            strategy=cfg.finetune.strategy,
            sciPT_version=__version__,
        ),
    )
    metrics = collect_metrics(before, after, sets, trainer, fit_wall, time.time() - started)
    if isinstance(strategy, HeadWarmup):  # a fraction of the run settles during it
        metrics["head_warmup_steps"] = strategy.warmup_steps() or metrics["steps"]
    figures = write_figures(run, before, after)
    run.write_metrics(metrics)
    run.write_report(report(cfg, start, sets, before, after, metrics, figures, command, backbone.head_names))
    print(
        json.dumps(
            {k: round(v, 3) if isinstance(v, float) else v for k, v in metrics.items() if "_per_A_" not in k},
            indent=1,
        )
    )
    print(f"run written to {run.path}", file=sys.stderr)
    return run


def evaluate_sets(backbone, sets: Sets, cfg: ForcefieldConfig, label: str) -> dict[str, Evaluation]:
    """``{"val" | "test_<name>" | "eval_<name>": Evaluation}``; eval sets through the old head
    (``sets.eval_head``), under the pre-trained references when that head is the one trained."""
    out = {}
    groups = ([("val", {"": sets.val})] if sets.val else []) + [("test", sets.test), ("eval", sets.eval)]
    for prefix, group in groups:
        for name, graphs in group.items():
            key = f"{prefix}_{name}" if name else prefix
            old = prefix == "eval"
            with (
                using_head(backbone, sets.eval_head if old else None),
                swapped_references(backbone, sets.eval_references if old else None),
            ):
                out[key] = evaluate_potential(backbone, graphs, cfg.eval_batch_size, desc=f"{key} ({label})")
    return out


def collect_metrics(before: dict, after: dict, sets: Sets, trainer, fit_wall: float, wall: float) -> dict:
    metrics: dict[str, float] = {
        "steps": trainer.global_step,
        "frames_train": len(sets.train),
        "frames_val": len(sets.val),
        "frames_replay": len(sets.replay),
        "train_wall_time_s": round(fit_wall, 2),
        "wall_time_s": round(wall, 2),
    }
    if sized_steps(trainer) is not None:  # --max-time without --max-steps: the total it settled on
        metrics["steps_sized_from_time"] = sized_steps(trainer)
    for key, ev in after.items():
        metrics.update(ev.prefixed(key))
    for key, ev in before.items():
        metrics.update(ev.prefixed(f"{key}_before"))
        if "forces_rmse_meV_per_A" in ev.metrics and key in after:
            metrics[f"{key}_forces_rmse_change_meV_per_A"] = (
                after[key].metrics["forces_rmse_meV_per_A"] - ev.metrics["forces_rmse_meV_per_A"]
            )
    return metrics


def write_figures(run: RunDir, before: dict, after: dict) -> list[Path]:
    figures = []
    curve = plots.loss_curve(
        run.logs,
        run.plot_path("loss.png"),
        title="force-field fine-tuning",
        ylabel="energy + force loss (eV², Å units)",
    )
    if curve is not None:
        figures.append(curve)
    new = {k: v for k, v in after.items() if not k.startswith("eval")}
    old = {k: v for k, v in after.items() if k.startswith("eval")}
    figures += parity_plots(new, run.plot_path("parity_energy.png"), run.plot_path("parity_forces.png"))
    if old:
        figures += parity_plots(
            old,
            run.plot_path("eval_parity_energy.png"),
            run.plot_path("eval_parity_forces.png"),
            "(old task)",
        )
    rows = {
        k: (before[k].metrics["forces_rmse_meV_per_A"], after[k].metrics["forces_rmse_meV_per_A"])
        for k in before
        if k in after and "forces_rmse_meV_per_A" in before[k].metrics
    }
    if rows:
        figures.append(before_after_plot(rows, run.plot_path("before_after.png")))
    return figures


def report(
    cfg: ForcefieldConfig,
    start: Start,
    sets: Sets,
    before: dict,
    after: dict,
    metrics: dict,
    figures: list[Path],
    command: str | None,
    backbone_heads: list[str] = (),
) -> str:
    strategy = cfg.finetune.strategy
    lines = [
        "# Force-field fine-tuning",
        "",
        f"Written by sciPT {__version__}. Start: {start.name} (`--init {cfg.init}`); strategy "
        f"**{strategy}**; references: {sets.references_method}.",
    ]
    if command:
        lines += ["", "Command:", "", f"    {command}"]
    if strategy == "ewc":
        scale = ewc_scale(start.extras)
        extra = (
            f" = {cfg.finetune.ewc_lambda / scale:.3g} λ₀ (λ₀ = {scale:.3g}, the scale of the "
            "stored Fisher, sciPT.domains.molecules.ewc)"
            if scale
            else ""
        )
        lines += ["", f"EWC: λ = {cfg.finetune.ewc_lambda:g}{extra}."]
    if "head_warmup_steps" in metrics:
        held, ramp = metrics["head_warmup_steps"], cfg.finetune.head_warmup_ramp
        lines += [
            "",
            f"Head warm-up: the new head alone for the first {held:,} of {metrics['steps']:,} optimizer "
            "steps"
            + (f" ({cfg.finetune.head_warmup:g} of the run)" if cfg.finetune.head_warmup < 1 else "")
            + f", then the shared blocks joined on a {held if ramp is None else ramp:,}-step "
            "learning-rate ramp.",
        ]
    lines += [
        "",
        f"Heads: trained **{sets.head}**; the old task (eval sets) through **{sets.eval_head}**"
        + (" with the pre-trained references" if sets.eval_references is not None else "")
        + f"; the model's heads: {', '.join(backbone_heads)}.",
    ]
    if sets.replay:
        lines += [
            "",
            f"Replay: {len(sets.replay)} pre-training frames, {cfg.finetune.replay_fraction:g} "
            "of every batch.",
        ]
    lines += ["", "## Data", "", "| file | frames | atoms | sha256 |", "|---|---|---|---|"]
    lines += [
        f"| {c['path']} | {c['records']:,} | {c['residues']:,} | `{c['sha256'][:16]}…` |" for c in sets.corpus
    ]
    lines += ["", f"{len(sets.train)} training and {len(sets.val)} validation frames."]
    if start.export.get("pretrained_on"):
        lines += [
            "",
            "Pre-trained on: "
            + ", ".join(
                f"{Path(f['path']).name} ({f['records']:,} frames)" for f in start.export["pretrained_on"]
            ),
        ]
    lines += [
        "",
        "## Errors after fine-tuning",
        "",
        *metric_rows({k: v.metrics for k, v in after.items()}),
        "",
        *element_rows({k: v.metrics for k, v in after.items()}),
    ]
    if before:
        lines += [
            "",
            "## Before and after",
            "",
            "Sets named eval_* are the old task (evaluated with the pre-trained reference "
            "energies): an increase is forgetting. The others are the new task: a decrease is "
            "what fine-tuning gained.",
            "",
            "| set | F RMSE before (meV/Å) | after | change |",
            "|---|---|---|---|",
        ]
        for key, ev in before.items():
            if key in after and "forces_rmse_meV_per_A" in ev.metrics:
                b, a = ev.metrics["forces_rmse_meV_per_A"], after[key].metrics["forces_rmse_meV_per_A"]
                lines.append(f"| {key} | {b:.1f} | {a:.1f} | {a - b:+.1f} |")
    lines += [
        "",
        f"{metrics['steps']} steps in {metrics['train_wall_time_s']:.0f} s; total wall time "
        f"{metrics['wall_time_s']:.0f} s.",
    ]
    if figures:
        lines += ["", "## Plots", ""] + [f"![{p.stem}](plots/{p.name})" for p in figures]
    lines += ["", "## Configuration", "", "```json", json.dumps(to_dict(cfg), indent=1), "```", ""]
    return "\n".join(lines)


# --- evaluate / predict on a finished run ---------------------------------------------------------
def load_run_model(path) -> tuple[EquivariantPotential, dict]:
    exported = read_export_config(path)
    if exported.get("task") != "forcefield":
        raise UserError(f"{path}: not a force-field run (run 'scipt finetune forcefield' first)")
    return from_pretrained(path, domain="molecules").model, exported


def evaluate_run(run: RunDir, args) -> dict:
    """``scipt evaluate`` on a force-field run: the molecules evaluation, with ``--references``."""
    model, exported = load_run_model(run.path)
    refs = None
    if getattr(args, "references", "model") == "pretrained":
        refs = exported.get("pretrained_references")
        if not refs:
            raise ConfigError(
                f"--references pretrained: {run.path} kept no pre-trained references (fine-tuned "
                "from scratch, or on a head of its own: pass --head with the old head instead)"
            )
    note = f"Force-field run; reference energies: {'the pre-trained' if refs else 'the model'}'s."
    return evaluate_model(run, args, model, references=refs, notes=[note])


def predict_run(run: RunDir, args) -> int:
    model, _ = load_run_model(run.path)
    model.select_head(getattr(args, "head", None))
    data = run_data_config(run, args)
    frames = read_frames(args.input, data, labelled=False)
    check_elements(frames, model.elements)
    graphs = to_graphs(frames, model.cfg.cutoff, "graphs")
    size = getattr(args, "frames_per_batch", 32)
    from ase import Atoms

    with io.atomic_path(args.output) as tmp, open(tmp, "w") as handle:
        for start in tqdm(range(0, len(graphs), size), desc="predicting", disable=len(graphs) < 200):
            chunk = graphs[start : start + size]
            out = model(collate(chunk), forces=True)
            counts = np.cumsum([0] + [g.num_nodes for g in chunk])
            for k, frame in enumerate(frames[start : start + size]):
                atoms = Atoms(
                    numbers=frame.numbers, positions=frame.positions, cell=frame.cell, pbc=frame.pbc
                )
                atoms.calc = SinglePointCalculator(
                    atoms,
                    energy=float(out["energy"][k]),
                    forces=out["forces"][counts[k] : counts[k + 1]].double().numpy(),
                )
                write(handle, atoms, format="extxyz")
    print(f"wrote {len(graphs)} frames with predicted energy and forces to {args.output}", file=sys.stderr)
    return 0


# --- the task ---------------------------------------------------------------------------------
class ForcefieldTask(Task):
    name = "forcefield"
    summary = (
        "fit a force field: fine-tune an equivariant potential on DFT frames (full, freeze, "
        "L2-SP, EWC, replay), evaluate, predict, run MD"
    )
    config_class = ForcefieldConfig

    def presets(self):
        return {"tiny": tiny, "small": small}

    def default_preset(self, max_time_s: float | None) -> str:
        """``small`` for a ``--max-time`` budget of at least :data:`SMALL_FROM_S`, else ``tiny``."""
        return "small" if max_time_s is not None and max_time_s >= SMALL_FROM_S else "tiny"

    def flag_aliases(self):
        return {
            "train": "data.paths",
            "val": "data.val_paths",
            "isolated-atoms": "data.isolated_atoms",
            "energy-key": "data.energy_key",
            "forces-key": "data.forces_key",
            "strategy": "finetune.strategy",
            "ddp-strategy": "train.strategy",
            "ewc-lambda": "finetune.ewc_lambda",
            "head-warmup": "finetune.head_warmup",
            "l2sp-alpha": "finetune.l2sp_alpha",
            "replay-fraction": "finetune.replay_fraction",
            "energy-weight": "objective.energy_weight",
            "forces-weight": "objective.forces_weight",
        }

    def add_finetune_arguments(self, parser):
        from sciPT.runconfig import add_run_arguments

        parser.set_defaults(table=add_run_arguments(parser, self, "runs/forcefield"))

    def finetune(self, args):
        from sciPT.runconfig import resolve_config

        cfg = resolve_config(self, args, args.table)
        return run_finetune(cfg, args.out, resume=args.resume, command="scipt " + shlex.join(sys.argv[1:]))

    def add_evaluate_arguments(self, parser):
        add_reading_arguments(parser)
        parser.add_argument(
            "--references",
            choices=["model", "pretrained"],
            default="model",
            help="reference energies for the energies: the fine-tuned model's, or the "
            "pre-trained model's (frames of the old level of theory; default: model)",
        )

    def evaluate(self, run, args):
        evaluate_run(run, args)
        return 0

    def add_predict_arguments(self, parser):
        add_reading_arguments(parser)

    def predict(self, run, args):
        return predict_run(run, args)

    def commands(self):
        return [
            Command(
                "md",
                "molecular dynamics with a molecules model through ASE (NVE or NVT)",
                md.add_arguments,
                md.run_command,
            )
        ]

    def demo(self, args):
        from .forcefield_demo import demo

        return demo(args)


task = ForcefieldTask()
