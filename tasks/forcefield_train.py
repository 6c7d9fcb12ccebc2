"""How ``scipt finetune forcefield`` trains: the strategy, the loss, the batches and the run.

:func:`run_finetune` checks the strategy against the start (:func:`check_strategy`), reads the
sets (:mod:`.forcefield_data`), evaluates before, fine-tunes with :class:`sciPT.finetune.FinetuneModule`
(:class:`ForceFieldLoss` through the trained head, :class:`FrameData` with or without replay),
evaluates after, exports the potential and writes the report (:mod:`.forcefield_report`). What each
choice does is the task's documentation (:mod:`sciPT.tasks.forcefield`).
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time

import lightning.pytorch as pl
from torch import nn

from sciPT import __version__, plots
from sciPT.checkpoint import (
    START_KEY,
    check_resumable,
    check_start_unchanged,
    export_digest,
    export_model,
    load_lightning_checkpoint,
)
from sciPT.config import to_dict
from sciPT.data import StepDataModule
from sciPT.domains.molecules import domain as molecules
from sciPT.domains.molecules.dataset import FrameDataset, collate
from sciPT.domains.molecules.evaluate import reading, using_head
from sciPT.domains.molecules.ewc import head_strategy, old_head_estimator
from sciPT.domains.molecules.lwf import OldHeadLoss, attach_teacher
from sciPT.domains.molecules.objectives import EnergyForceLoss, ObjectiveConfig, unfitted_stress
from sciPT.errors import ConfigError
from sciPT.export import export_record
from sciPT.finetune import (
    FinetuneModule,
    HeadWarmup,
    build_strategy,
    load_fisher,
    load_fisher_blocks,
    replay_loader,
)
from sciPT.finetune import validate as validate_finetune
from sciPT.pretrain import ExportRecord
from sciPT.run import RunDir, global_rank, say
from sciPT.trainer import TrainConfig, build_trainer

from .forcefield_config import ForcefieldConfig, validate
from .forcefield_data import Start, head_readings, load_sets, load_start
from .forcefield_eval import evaluate_sets
from .forcefield_report import collect_metrics, report, write_figures


def check_strategy(cfg: ForcefieldConfig, start: Start):
    """The strategy, built and checked against the backbone (before anything is written)."""
    name = cfg.finetune.strategy
    validate_finetune(cfg.finetune, max_steps=cfg.train.max_steps)
    if name == "linear-probe":
        raise ConfigError(
            "finetune.strategy: 'linear-probe' trains only a new head and a potential "
            "has none (freeze the lower blocks with 'freeze' instead)"
        )
    if name == "gradual":
        # unfrozen from the top, and a potential's top layer group is its heads' readouts: the new
        # head trained on nothing for the first unfreeze_every steps
        raise ConfigError(
            "finetune.strategy: 'gradual' unfreezes layer groups from the top, and a potential's top "
            "group holds its heads, so the new head would wait finetune.unfreeze_every steps untrained; "
            "use 'freeze' (the lower blocks held for the whole run), 'ewc' or 'l2sp'"
        )
    if name == "freeze" and start.backbone is not None:
        blocks = len(start.backbone.blocks)
        if cfg.finetune.freeze_layers > blocks:
            # the last layer group is the heads' readouts: freezing it left nothing to train, and
            # the optimizer failed once the run directory was written
            raise ConfigError(
                f"finetune.freeze_layers: expected 0 to {blocks} (the element embedding and up to the "
                f"{blocks} interaction blocks; the readouts always train), got {cfg.finetune.freeze_layers}"
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
    carries its heads itself).

    Args:
        cfg: the weights of the energy, force and stress terms.
        level: the potential's head whose predictions are fitted (``None``: its active head).
        keep: learning without forgetting: the old head's loss, added (``None``: none).

    Shapes:
        those of :class:`~sciPT.domains.molecules.objectives.EnergyForceLoss` (``batch.energy``
        (G,), ``batch.forces`` (N, 3), ...), with ``keep`` also those of
        :class:`~sciPT.domains.molecules.lwf.OldHeadLoss` -> scalar loss.
    """

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

    def metric_counts(self, batch) -> dict[str, int]:
        """What each validation metric averages (:mod:`sciPT.module`): force errors over force
        components, not frames."""
        return self.objective.metric_counts(batch)


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
        # numbered by step, as the loader without replay is: a resume starts where the run stopped
        start = self.trainer.global_step * self.cfg.accumulate if self.trainer else 0
        total = None if self.cfg.max_steps is None else self.cfg.max_steps * self.cfg.accumulate
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
            steps=(start, total),
        )


class StartRecord(pl.Callback):
    """Keeps the digest of the model the run started from (:func:`sciPT.checkpoint.export_digest`)
    in every checkpoint, for a resume to check."""

    def __init__(self, digest: dict[str, str] | None):
        self.digest = digest

    def on_save_checkpoint(self, trainer: pl.Trainer, pl_module, checkpoint: dict) -> None:
        if self.digest is not None:
            checkpoint[START_KEY] = self.digest


def export_config(cfg: ForcefieldConfig, start: Start, sets, backbone) -> dict:
    """``model/config.json`` of the fine-tuned potential, less the sciPT version."""
    return molecules.export_config(
        backbone.cfg,
        task="forcefield",
        references=sets.references_method,
        pretrained_references=sets.eval_references,
        # how frames at those references' level are read: the moved head's reading in the start,
        # which in a chain of fine-tunes need not be pre-training's
        pretrained_reading=head_readings(start).get(sets.head) if sets.eval_references is not None else None,
        head=sets.head,
        eval_head=sets.eval_head,
        init=cfg.init,
        pretrained_on=start.export.get("pretrained_on", []),
        validated_on=start.export.get("validated_on", []),
        # how those files were read, so that a later fine-tune from this one replays them alike
        pretraining_data=to_dict(start.pretrain_data)
        if start.pretrain_data_recorded and start.backbone
        else None,
        pretraining_seed=start.pretrain_seed,
        finetuned_on=sets.corpus,
        strategy=cfg.finetune.strategy,
        # how frames at each head's level of theory are read (evaluate --head, a later fine-tune's --eval)
        head_data={**head_readings(start), sets.head: reading(cfg.data)},
    )


def run_finetune(cfg: ForcefieldConfig, out, *, resume: bool = False, command: str | None = None) -> RunDir:
    """Fine-tune as ``cfg`` says and write the run directory ``out`` (:mod:`sciPT.tasks.forcefield`)."""
    try:
        return _finetune(cfg, out, resume=resume, command=command)
    finally:
        RunDir(out).unlock()  # called from Python, the process goes on: another may resume the run


def _finetune(cfg: ForcefieldConfig, out, *, resume: bool, command: str | None) -> RunDir:
    validate(cfg)
    started = time.time()
    pl.seed_everything(cfg.train.seed, workers=True, verbose=False)
    start = load_start(cfg)
    # the anchor, the Fisher and the "before" numbers are read from --init again on a resume
    digest = export_digest(cfg.init) if start.backbone is not None else None
    strategy = check_strategy(cfg, start)
    if line := unfitted_stress(cfg.data.stress_key, cfg.objective):
        say(line)
    sets, backbone = load_sets(cfg, start)
    old_head_settings = {
        "old_head_distillation": (cfg.old_head_distillation > 0, "keeps an old head while a new one learns"),
        "finetune.ewc_online_every": (
            bool(cfg.finetune.ewc_online_every),
            "re-estimates the old head's Fisher on the new frames while a new head learns",
        ),
    }
    for key, (on, what) in old_head_settings.items():
        if on and strategy is None:  # from scratch: no old head, whatever --data.head says
            raise ConfigError(f"{key}: {what}, which needs a pre-trained model (--init RUN)")
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
    finished = run.finished(cfg.train.max_steps, cfg.train.max_time) if resume else None
    if finished is not None:
        run.say_finished(finished, cfg.train.max_steps, cfg.train.max_time)
        return run
    resumed_from = run.resume_checkpoint() if resume else None
    resumed_at = 0  # the steps trained before this process: its time counts the rest
    if resumed_from is not None:  # another --data.head, head_blocks or --init: before anything is rewritten
        saved = load_lightning_checkpoint(resumed_from, mmap=True)
        resumed_at = int(saved.get("global_step", 0))
        if digest is not None:
            check_start_unchanged(saved, resumed_from, cfg.init, digest)
        check_resumable(saved, resumed_from, backbone, run.config)
    run.write_config(
        {"task": "forcefield", **to_dict(cfg)},
        paths=("init", "data.paths", "data.val_paths", "data.isolated_atoms", "test", "eval"),
    )
    if resume and global_rank() == 0:  # one rank renames the earlier log
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
        # the head being fitted lives in the potential: it learns as a task head does (its own
        # learning-rate factor, ordinary weight decay), not as the anchored shared blocks
        head_lr_multiplier=cfg.finetune.head_lr_multiplier,
        head_parameters=backbone.head_parameter_names(sets.head) if len(backbone.head_names) > 1 else (),
        # replayed frames are of the old level of theory: through the old head when it is another
        replay_loss_fn=ForceFieldLoss(cfg.objective, sets.eval_head) if sets.eval_head != sets.head else None,
        batch_size_fn=lambda b: b.num_graphs,
    )
    trainer = build_trainer(
        cfg.train,
        run.path,
        enable_val=bool(sets.val),
        # as in pre-training: every checkpoint can be exported, and last.ckpt holds the final
        # step even when the run stops between two periodic saves
        callbacks=[
            StartRecord(digest),
            ExportRecord(
                export_record(export_config(cfg, start, sets, backbone), False), run.last_checkpoint
            ),
        ],
    )
    fit_started = time.time()
    trainer.fit(
        module,
        datamodule=FrameData(sets.train, sets.val, cfg.train, sets.replay, cfg.finetune.replay_fraction),
        ckpt_path=run.resume_checkpoint() if resume else None,
        weights_only=True,
    )
    fit_wall = time.time() - fit_started
    if trainer.global_rank != 0:
        return run
    backbone = module.backbone.to("cpu").eval()
    after = evaluate_sets(backbone, sets, cfg.eval_batch_size, label="after fine-tuning")
    export_model(
        run.model, backbone, {**export_config(cfg, start, sets, backbone), "sciPT_version": __version__}
    )
    run.drop_superseded_hpc_checkpoints()
    metrics = collect_metrics(before, after, sets, trainer, fit_wall, time.time() - started, resumed_at)
    if isinstance(strategy, HeadWarmup):  # a fraction of the run settles during it
        metrics["head_warmup_steps"] = strategy.warmup_steps() or metrics["steps"]
    figures = write_figures(run, before, after)
    run.write_metrics(metrics)
    run.write_report(report(cfg, start, sets, before, after, metrics, figures, command, backbone.head_names))
    print(
        json.dumps(
            # significant figures: a stress error in eV/A^3 of 4e-4 printed as 0.0 at three decimals
            {
                k: float(f"{v:.4g}") if isinstance(v, float) else v
                for k, v in metrics.items()
                if "_per_A_" not in k
            },
            indent=1,
        )
    )
    print(f"run written to {run.path}", file=sys.stderr)
    return run
