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
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import lightning.pytorch as pl
from torch import nn

from sciPT import __version__, plots
from sciPT.checkpoint import export_model
from sciPT.config import to_dict
from sciPT.data import StepDataModule
from sciPT.domains.molecules import domain as molecules
from sciPT.domains.molecules import md
from sciPT.domains.molecules.data import (
    SMILES_SUFFIXES,
    MoleculeDataConfig,
)
from sciPT.domains.molecules.dataset import FrameDataset, collate
from sciPT.domains.molecules.evaluate import (
    add_reading_arguments,
    using_head,
)
from sciPT.domains.molecules.ewc import head_strategy, old_head_estimator
from sciPT.domains.molecules.lwf import OldHeadLoss, attach_teacher
from sciPT.domains.molecules.model import PotentialConfig
from sciPT.domains.molecules.objectives import EnergyForceLoss, ObjectiveConfig
from sciPT.domains.molecules.objectives import validate as validate_objective
from sciPT.domains.molecules.presets import tiny as molecules_tiny
from sciPT.errors import ConfigError
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
from sciPT.run import RunDir, command_line
from sciPT.schedules import ScheduleConfig
from sciPT.trainer import TrainConfig, build_trainer
from sciPT.trainer import validate as validate_train

from .forcefield_data import Start, load_sets, load_start
from .forcefield_eval import evaluate_run, evaluate_sets, predict_run
from .forcefield_report import collect_metrics, report, write_figures

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
        before = evaluate_sets(backbone, sets, cfg.eval_batch_size, label="before fine-tuning")
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
    after = evaluate_sets(backbone, sets, cfg.eval_batch_size, label="after fine-tuning")
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
        return run_finetune(cfg, args.out, resume=args.resume, command=command_line())

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
