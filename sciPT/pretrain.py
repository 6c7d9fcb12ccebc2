"""The pre-training pipeline: domain parts -> Lightning -> run directory.

``scipt pretrain DOMAIN`` resolves a configuration and calls :func:`pretrain`. The domain validates
its data first (a bad file stops the command before anything is written), then the run directory is
created, training runs under Lightning on whatever devices, nodes and strategy were asked for, and
rank 0 exports the model and writes metrics.json, the loss curve and report.md.

The checkpoints hold what ``scipt export`` needs, so a run exports without its data
(:mod:`sciPT.export`): every checkpoint keeps the export configuration (:class:`ExportRecord`),
``checkpoints/last.ckpt`` always holds the final weights (saved when training ends if the last
periodic save was earlier), and the tensors a domain computes after training (the molecules' EWC
Fisher) are added to it. The run's own ``model/`` is written from that checkpoint by the same code
as ``scipt export``, so the two are bit-identical.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.fabric.utilities.rank_zero import rank_zero_only
from lightning.pytorch.callbacks import Checkpoint

from . import __version__, io, plots
from .checkpoint import check_resumable, load_lightning_checkpoint
from .config import to_dict
from .data import StepDataModule
from .diagnostics.collapse import check_collapse
from .errors import ConfigError, DataError
from .export import CHECKPOINT_KEY, add_tensors, backbone_state, export_checkpoint, export_record
from .files import SHIPPED, resolve_data_path
from .module import PretrainModule
from .registry import domains
from .run import RunDir
from .schedules import lr_multiplier
from .trainer import build_trainer, check_backbone, sized_steps, validate


def pretrain(
    domain_name: str,
    cfg: Any,
    out: str | Path,
    *,
    resume: bool = False,
    command: str | None = None,
    callbacks: list | None = None,
) -> RunDir:
    """Pre-train ``domain_name``'s backbone as ``cfg`` says and write the run directory ``out``.

    Args:
        domain_name: a registered domain.
        cfg: the domain's resolved config dataclass.
        out: the run directory; it must be new or empty unless ``resume``.
        resume: continue from ``out/checkpoints/last.ckpt`` (same step, optimizer state and data
            position).
        command: the command line, for the report.
        callbacks: extra Lightning callbacks.

    The domain's ``pretrain`` hook runs it: by default :func:`lightning_pretrain`; a domain whose
    pre-training is not gradient descent (a closed-form Bayesian fit) has its own.
    """
    domain = domains.get(domain_name)
    try:
        return domain.pretrain(cfg, out, resume=resume, command=command, callbacks=callbacks)
    finally:
        RunDir(out).unlock()  # called from Python, the process goes on: another may resume the run


class ExportRecord(Checkpoint):
    """Keeps :func:`sciPT.export.export_record` in every checkpoint, and saves ``last_path`` when
    training ends if the last save was at an earlier step (a step or time limit between two
    periodic saves), so that ``last.ckpt`` holds the final weights.

    A :class:`~lightning.pytorch.callbacks.Checkpoint` so that Lightning runs it after the
    ``ModelCheckpoint`` (checkpoint callbacks run last, in the order given): at the end of training
    it then sees whether that one saved, and its save records that one's ``last_model_path``, so a
    resumed run keeps writing ``last.ckpt`` (not ``last-v1.ckpt``)."""

    def __init__(self, record: dict, last_path: Path):
        self.record, self.last_path = record, Path(last_path)
        self.saved_step: int | None = None

    def on_save_checkpoint(self, trainer: pl.Trainer, pl_module, checkpoint: dict) -> None:
        checkpoint[CHECKPOINT_KEY] = self.record
        self.saved_step = trainer.global_step

    def on_train_end(self, trainer: pl.Trainer, pl_module) -> None:
        if self.saved_step != trainer.global_step:
            trainer.save_checkpoint(self.last_path, weights_only=False)  # collective: every rank calls it


def lightning_pretrain(
    domain,
    cfg: Any,
    out: str | Path,
    *,
    resume: bool = False,
    command: str | None = None,
    callbacks: list | None = None,
) -> RunDir:
    """The shared pre-training loop (arguments: :func:`pretrain`) on ``domain.build_pretraining``."""
    domain_name = domain.name
    validate(cfg.train)
    pl.seed_everything(cfg.train.seed, workers=True, verbose=False)
    torch.set_float32_matmul_precision("high")
    setup = domain.build_pretraining(cfg)
    check_backbone(cfg.train, setup.backbone)
    run = RunDir.create(out, resume=resume)
    finished = run.finished(cfg.train.max_steps, cfg.train.max_time) if resume else None
    if finished is not None:
        run.say_finished(finished, cfg.train.max_steps, cfg.train.max_time)
        return run
    resumed_at = 0  # the step this process resumed the run at
    if resume:
        resumed_from = run.resume_checkpoint()
        checkpoint = load_lightning_checkpoint(resumed_from)
        check_resumable(checkpoint, resumed_from, setup.backbone, run.config, setup.objective)
        check_unchanged_files(setup.corpus, checkpoint)
        earlier = (run.read_config() or {}).get("train") or {}
        check_strategy_change(earlier.get("strategy", "auto"), cfg.train.strategy, resumed_from)
        setup.corpus = with_earlier_corpus(setup.corpus, checkpoint, setup.export_config.get("validated_on"))
        step = resumed_at = int(checkpoint.get("global_step", 0))
        earlier_total = earlier.get("max_steps")
        if "StepDataModule" not in checkpoint and isinstance(setup.datamodule, StepDataModule):
            # a checkpoint written before the data module kept its place: the run's settings say it
            setup.datamodule.resume_from_settings(step, earlier)
        resized = schedule_resized(cfg.train, earlier_total, step)
        if resized and rank_zero_only.rank == 0:
            print(f"note: {resized}", file=sys.stderr)
        if cfg.train.max_steps is not None and cfg.train.max_steps <= step and rank_zero_only.rank == 0:
            # Lightning would stop at once and say nothing: the run looks resumed and is not
            print(
                f"warning: the run is already at step {step}, at or past --max-steps "
                f"{cfg.train.max_steps}: nothing to train (a larger --max-steps continues it)",
                file=sys.stderr,
            )
    run.write_config(
        {"domain": domain_name, **to_dict(cfg), "corpus": setup.corpus},
        paths=("data.paths", "data.val_paths", "data.isolated_atoms", "distill.smiles"),
    )
    if resume and rank_zero_only.rank == 0:
        plots.keep_log_for_resume(run.logs, step=resumed_at)
    module = PretrainModule(setup.backbone, setup.objective, cfg.train)
    record = export_record(
        {**setup.export_config, "pretrained_on": setup.corpus}, after_training=setup.export_extras is not None
    )
    trainer = build_trainer(
        cfg.train,
        run.path,
        wrap_modules=getattr(setup.backbone, "fsdp_wrap", set()),
        callbacks=[ExportRecord(record, run.last_checkpoint), *(callbacks or [])],
    )
    started = time.time()
    # Our loaders are positioned by global step (sciPT.data), which Lightning cannot see.
    warnings.filterwarnings("ignore", message=".*your dataloader is not resumable.*")
    trainer.fit(
        module,
        datamodule=setup.datamodule,
        ckpt_path=run.resume_checkpoint() if resume else None,
        weights_only=True,
    )
    wall = time.time() - started
    # the training metrics of the last step: a validation run below resets Lightning's copy
    logged = {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1}
    # validation runs every val_every steps: a run that stops between two (its step count or its
    # time budget not a multiple, or shorter than one interval) is validated once more, so that
    # the metrics and the report give the final weights' validation loss. Not under FSDP (1):
    # Lightning wraps the model again for a validate after fit, which its blocks, already wrapped,
    # do not survive
    if (
        trainer.limit_val_batches
        and module.validated_at != trainer.global_step
        and cfg.train.strategy != "fsdp"
    ):
        trainer.validate(module, datamodule=setup.datamodule, verbose=False)
        logged |= {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1}
    if trainer.global_rank != 0:
        return run
    checkpoint = load_lightning_checkpoint(run.last_checkpoint)  # the final weights (ExportRecord)
    backbone = setup.backbone
    if cfg.train.strategy in ("fsdp", "fsdp2"):
        # Sharded parameters: a plain backbone with the full weights of the (gathered) last checkpoint.
        backbone = domain.load_backbone(record["config"])
        backbone.load_state_dict(backbone_state(checkpoint))
    backbone = backbone.to("cpu")
    if setup.export_extras is not None:
        checkpoint = add_tensors(run.last_checkpoint, checkpoint, setup.export_extras(backbone))
    export_checkpoint(checkpoint, run.model, run.last_checkpoint)
    run.drop_superseded_hpc_checkpoints()
    metrics = _final_metrics(trainer, cfg, setup, wall, module.rank_digests, logged)
    if resumed_at:
        metrics["resumed_at_step"] = resumed_at
    # a sharded backbone cannot run on rank 0 alone (its forward gathers from every rank): the
    # collapse check (which runs it through the domain's embed) is left out there
    sharded = cfg.train.strategy in ("fsdp", "fsdp2")
    collapse = None if sharded else _collapse_check(setup, backbone)
    if collapse is not None:
        metrics["embedding_effective_rank"] = collapse.effective_rank
        metrics["embedding_mean_cosine"] = collapse.mean_cosine
        metrics["embedding_relative_spread"] = collapse.relative_spread
        metrics["embedding_collapsed"] = float(collapse.collapsed)
    run.write_metrics(metrics)
    if module.rank_digests:  # none when this process trained nothing: the earlier ones stand
        io.write_json(run.logs / "rank_digests.json", module.rank_digests)
    reference = {}
    if "order0_entropy_nats" in setup.report and setup.report.get("tokenizer_k", 1) == 1:
        reference["order-0 entropy"] = setup.report["order0_entropy_nats"]
    baseline = loss_baseline(setup.report)
    if baseline is not None:
        reference[baseline.legend or baseline.label] = baseline.value
    curve = plots.loss_curve(
        run.logs,
        run.plot_path("loss.png"),
        reference=reference,
        title=f"{domain_name} pre-training",
        ylabel=domain.loss_label,
    )
    run.write_report(_report(domain_name, cfg, setup, metrics, curve, command, collapse, domain.corpus_words))
    print(f"run written to {run.path}", file=sys.stderr)
    return run


def schedule_resized(train: Any, earlier_total: Any, step: int) -> str | None:
    """A resume's line where a new ``--max-steps`` resizes a decaying schedule: the learning rate
    of the next step then follows the new total (as if the run had been launched with it), and can
    jump up from the last step's; ``None`` where nothing changes."""
    total, schedule = train.max_steps, train.schedule
    if not isinstance(earlier_total, int) or total is None or total == earlier_total or step >= total:
        return None
    if schedule.name not in ("cosine", "linear") or step <= schedule.warmup_steps:
        return None
    last = train.lr * lr_multiplier(step - 1, earlier_total, schedule)
    next_ = train.lr * lr_multiplier(step, total, schedule)
    return (
        f"--max-steps {total}: the {schedule.name} learning-rate schedule, sized for {earlier_total} "
        f"steps, follows the new total from step {step}: its rate goes from {last:.3g} to {next_:.3g}"
    )


def check_strategy_change(earlier: str, strategy: str, checkpoint: Path) -> None:
    """Refuse to resume a run saved by another strategy under ``fsdp2``: torch's sharded loader
    reads the optimizer state of a replicated run's checkpoint (keyed by parameter number) as its
    own and fails on the first shape, after the run's config and logs were rewritten, so every
    later ``--resume`` failed the same way. The other way (``fsdp2``'s full checkpoints under
    ``ddp`` or one process) loads."""
    if strategy == "fsdp2" and earlier != "fsdp2":
        raise ConfigError(
            f"--strategy fsdp2: {checkpoint} was saved by a run with --strategy {earlier}, whose "
            f"optimizer state a sharded run cannot load; resume it with --strategy {earlier}, or start "
            "a new run to train with fsdp2"
        )


def check_unchanged_files(corpus: list[dict], checkpoint: dict) -> None:
    """Refuse a resume whose data file is the one the run trained on by path but not by content
    (another SHA-256): a file's validation part is cut from its own length and records, so an
    edited or truncated file moves it onto what the run trained on, and the run would then score
    its own training data as held out. Other files may be added or dropped."""
    record = checkpoint.get(CHECKPOINT_KEY) or {}
    earlier = {
        str(resolve_data_path(e["path"])): e.get("sha256")
        for e in (record.get("config") or {}).get("pretrained_on") or []
        if isinstance(e, dict) and e.get("path")
    }
    step = int(checkpoint.get("global_step", 0))
    for entry in corpus:
        then = earlier.get(str(resolve_data_path(entry["path"])))
        if then and entry.get("sha256") and entry["sha256"] != then:
            raise DataError(
                f"--resume: {entry['path']} changed since the run trained on it (sha256 {then[:12]}... "
                f"up to step {step:,}, {entry['sha256'][:12]}... now): its validation part would move "
                "onto data the run trained on; restore the file, or start a new --out"
            )
    # a run records a shipped file by its data_recipes/... name, found from any directory, but a
    # folder with a data_recipes/ of its own is read first: resumed there, the name is another file
    by_name = {_recipe_name(path): (path, sha) for path, sha in earlier.items() if _recipe_name(path)}
    for entry in corpus:
        now = str(resolve_data_path(entry["path"]))
        name = _recipe_name(now)
        if name not in by_name or now in earlier:  # no such name, or judged by its path above
            continue
        path, then = by_name[name]
        if then and entry.get("sha256") and entry["sha256"] != then:
            raise DataError(
                f"--resume: {name} is read here as {Path(now).absolute()} (sha256 {entry['sha256'][:12]}...), not as "
                f"{path} (sha256 {then[:12]}...), on which the run trained up to step {step:,}: "
                f"resume from a folder without a {name} of its own, or start a new --out"
            )


def _recipe_name(path: str) -> str | None:
    """``data_recipes/...`` for a file inside a ``data_recipes`` folder, the name by which a run
    records a shipped file; ``None`` for any other."""
    parts = Path(path).parts
    if SHIPPED not in parts:
        return None
    return "/".join(parts[len(parts) - 1 - parts[::-1].index(SHIPPED) :])


def with_earlier_corpus(
    corpus: list[dict], checkpoint: dict, validated_on: list[dict] | None = None
) -> list[dict]:
    """``corpus`` and, after it, the files the (loaded) checkpoint's steps were trained on that it
    lacks: a run resumed on other data was still trained on the first, and contamination checks
    read this list (``pretrained_on``).

    ``validated_on``: this run's validation files (the export's ``validated_on``). A record written
    before validation files were recorded apart (no ``validated_on`` of its own) listed them in
    ``pretrained_on``: such an entry, by SHA-256 one of these files, is not carried back (evaluate
    then called the validation file training data). A record that keeps them apart lists only
    files trained on, all carried."""
    record = checkpoint.get(CHECKPOINT_KEY) or {}
    config = record.get("config") or {}
    earlier = config.get("pretrained_on") or []
    # on ranks other than 0 a sharded corpus records nothing; rank 0 alone writes the export
    if not corpus and earlier:
        return corpus
    seen = {entry.get("sha256") for entry in corpus}
    if "validated_on" not in config:
        seen |= {entry.get("sha256") for entry in validated_on or [] if entry.get("sha256")}
    return [*corpus, *(entry for entry in earlier if entry.get("sha256") not in seen)]


def _final_metrics(
    trainer: pl.Trainer, cfg: Any, setup, wall: float, digests: list[str], logged: dict[str, float]
) -> dict:
    logs = plots.read_logs(Path(trainer.logger.log_dir))
    val_history = [v for _, v in logs.get("val/loss", [])]
    metrics = {"steps": trainer.global_step}
    # a run resumed at its last step trains nothing in this process: its loss is the logs' last
    train_loss = logged.get("train/loss_epoch", logged.get("train/loss"))
    if train_loss is None and logs.get("train/loss"):
        train_loss = logs["train/loss"][-1][1]
    if train_loss is not None:
        metrics["train_loss"] = train_loss
    metrics |= {"wall_time_s": round(wall, 2), "world_size": trainer.world_size}
    earlier = Path(trainer.logger.log_dir) / "rank_digests.json"
    if not digests and earlier.is_file():
        # taken when training ends: a process with no step left to train (a run stopped after its
        # export, resumed at its last step) has none, and the process that trained them stands
        digests = io.read_json(earlier)
    if digests:
        metrics["ranks_identical"] = float(len(set(digests)) == 1)
    sized = sized_steps(trainer)
    if sized is not None:  # max_steps: none: the total the time budget settled on
        metrics["steps_sized_from_time"] = sized
    if val_history:
        metrics["val_loss"] = val_history[-1]
        metrics["val_loss_best"] = min(val_history)
    if "val/accuracy" in logged:
        metrics["val_accuracy"] = logged["val/accuracy"]
    for key, value in setup.report.items():
        if isinstance(value, (int, float)):
            metrics[key] = value
    return metrics


@dataclass(frozen=True)
class LossBaseline:
    """A value of the validation loss that a model which learnt nothing from its data reaches, which
    a domain computes on the run's own validation batches and names in its report
    (``setup.report["loss_baseline"] = {"key", "label", "meaning", "legend"}``; the value is
    ``setup.report[key]``, which lands in metrics.json as every number of the report does). The
    sequence domains' order-0 entropy plays this role for a masked-token loss; the molecules domain's
    is the loss of its per-element reference energies with zero forces
    (``reference_only_val_loss``). It is drawn on the loss figure, and the report's first lines say
    whether the final validation loss is below it (:func:`baseline_verdict`).

    Attributes:
        key: the report's (and metrics.json's) name of the value.
        label: what the value is, for the report.
        meaning: what a model that does not beat it has learnt no more than.
        value: the loss of that baseline.
        legend: its line's name on the loss figure (default: ``label``).
    """

    key: str
    label: str
    meaning: str
    value: float
    legend: str = ""


def loss_baseline(report: dict) -> LossBaseline | None:
    """The domain's :class:`LossBaseline` in a setup's ``report``, or None when it names none (or its
    value is missing or not a finite number)."""
    spec = report.get("loss_baseline")
    if not isinstance(spec, dict) or "key" not in spec:
        return None
    value = report.get(spec["key"])
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    key = str(spec["key"])
    label = str(spec.get("label", key))
    return LossBaseline(
        key, label, str(spec.get("meaning", key)), float(value), str(spec.get("legend", label))
    )


def baseline_verdict(baseline: LossBaseline | None, val_loss: float | None) -> str | None:
    """The report's first paragraph: whether the final validation loss ``val_loss`` is below the
    domain's :class:`LossBaseline`, and by how much; ``None`` without either."""
    if baseline is None:
        return None
    if val_loss is None:
        return (
            f"No validation loss to compare with {baseline.value:#.4g}, the {baseline.label}: "
            "this run did not validate."
        )
    if not val_loss < baseline.value:
        return (
            f"**Warning:** the final validation loss, {val_loss:#.4g}, is NOT below {baseline.value:#.4g}, "
            f"the {baseline.label}: the model has not learnt beyond {baseline.meaning}."
        )
    gap = baseline.value - val_loss
    relative = f" ({100 * gap / baseline.value:.1f} % lower)" if baseline.value > 0 else ""
    return (
        f"The final validation loss, {val_loss:#.4g}, is below {baseline.value:#.4g}, the "
        f"{baseline.label}, by {gap:#.3g}{relative}: the model has learnt beyond {baseline.meaning}."
    )


def _collapse_check(setup, backbone, max_batches: int = 8):
    """Collapse diagnostics on (up to ``max_batches``) validation batches, or None without them."""
    loaders = setup.datamodule.val_dataloader() if setup.embed is not None else []
    if not loaders:
        return None
    backbone.eval()
    chunks = []
    with torch.inference_mode():
        for i, batch in enumerate(loaders):
            if i == max_batches:
                break
            chunks.append(setup.embed(batch).float())
    embeddings = torch.cat(chunks) if chunks else None
    # two points always lie on one line (effective rank 1): no verdict below three
    return check_collapse(embeddings) if embeddings is not None and len(embeddings) >= 3 else None


def _report(
    domain_name: str,
    cfg: Any,
    setup,
    metrics: dict,
    curve: Path | None,
    command: str | None,
    collapse=None,
    words: dict[str, str] | None = None,
) -> str:
    words = words or {}
    lines = [f"# {domain_name} pre-training", ""]
    verdict = baseline_verdict(loss_baseline(setup.report), metrics.get("val_loss"))
    if verdict:
        lines += [verdict, ""]
    lines += [f"Written {dt.datetime.now().isoformat(timespec='seconds')} by sciPT {__version__}."]
    if command:
        lines += ["", "Command:", "", f"    {command}"]
    counts = [k for k in (setup.corpus[0] if setup.corpus else {}) if k not in ("path", "sha256", "bytes")]
    lines += [
        "",
        "## Data",
        "",
        "| file | sha256 |" + "".join(f" {words.get(k, k)} |" for k in counts),
        "|---|---|" + "---|" * len(counts),
    ]
    for f in setup.corpus:
        cells = "".join(f" {f[k]:,} |" if isinstance(f[k], int) else f" {f[k]} |" for k in counts)
        lines.append(f"| {io.table_cell(f['path'])} | `{f['sha256'][:16]}…` |{cells}")
    summary = setup.report.get("data_summary")  # sampling across files, curation (list of lines)
    if isinstance(summary, list):
        lines += ["", *summary]
    lines += ["", "## Metrics", "", "| metric | value |", "|---|---|"]
    lines += [f"| {k} | {v:.4g} |" if isinstance(v, float) else f"| {k} | {v} |" for k, v in metrics.items()]
    resumed = metrics.get("resumed_at_step")
    if resumed:
        lines += [
            "",
            f"This process resumed the run at step {resumed:,}: wall_time_s is its own time, for the "
            f"{metrics['steps'] - resumed:,} steps after it, not the whole run's.",
        ]
    h0 = setup.report.get("order0_entropy_nats")
    k = setup.report.get("tokenizer_k", 1)
    if h0 is not None and k > 1:
        lines += [
            "",
            f"Tokens are overlapping {k}-mers: the masked-token loss is per k-mer, the order-0 "
            f"entropy ({h0:.3f} nats) per residue, so the two are not compared.",
        ]
    elif h0 is not None and "val_loss" in metrics:
        verdict = "below" if metrics["val_loss"] < h0 else "NOT below"
        lines += [
            "",
            f"The validation masked-token loss ({metrics['val_loss']:.3f} nats) is {verdict} "
            f"the order-0 entropy of the corpus ({h0:.3f} nats): the model "
            + (
                "uses context beyond residue frequencies."
                if verdict == "below"
                else "has not yet learnt more than residue frequencies."
            ),
        ]
    if collapse is not None:
        lines += ["", "## Representation collapse", "", collapse.sentence()]
    elif cfg.train.strategy in ("fsdp", "fsdp2") and getattr(setup, "embed", None) is not None:
        # left out without a word, the section's absence read as a check passed
        lines += [
            "",
            "## Representation collapse",
            "",
            f"Not checked: the check runs the encoder on one rank, and a sharded run's (--strategy "
            f"{cfg.train.strategy}) gathers its weights from every rank.",
        ]
    if metrics.get("ranks_identical") == 0.0:
        lines += ["", "**Warning:** ranks ended with different weights."]
    if curve is not None:
        lines += ["", "## Plots", "", f"![loss curve](plots/{curve.name})"]
    lines += ["", "## Configuration", "", "```json", json.dumps(to_dict(cfg), indent=1), "```", ""]
    return "\n".join(lines)
