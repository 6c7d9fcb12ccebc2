"""``scipt finetune promoter``'s pipeline (:func:`run_finetune`): read and check the data, load
the start, cross-validate every model beside its baselines, train and export the final model, and
write the report (the task and its module docstring: :mod:`.promoter`)."""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from pathlib import Path

from sciPT import plots
from sciPT.config import to_dict
from sciPT.domains.dna.data import LabelledSequences, read_labelled, read_pair
from sciPT.errors import ConfigError, UserError
from sciPT.files import resolve_data_path
from sciPT.finetune import build_strategy, load_fisher
from sciPT.metrics import binary_metrics, summarise
from sciPT.run import RunDir

from .promoter_checks import (
    check_distinct_sequences,
    check_epoch_fits,
    check_head_reads,
    check_label_fractions,
    check_start_keys,
    length_flag,
    overlap_flags,
    validate,
)
from .promoter_classifier import length_note, train_classifier
from .promoter_config import PromoterConfig
from .promoter_evaluation import (
    contamination_lines,
    cross_validate,
    cv_folds,
    sample_efficiency,
    write_out_of_fold,
)
from .promoter_export import export_classifier
from .promoter_fits import FitStore, fingerprint
from .promoter_probe import probe_lines
from .promoter_report import (
    cnn_stack_line,
    contamination_flag,
    cv_table,
    exported_model_lines,
    kmer_stack_line,
    metric_table,
    naturalness_line,
    on_top_lines,
    on_top_metrics,
    report,
)
from .promoter_start import Start, load_start
from .promoter_verdicts import (
    NO_CV_LINE,
    comparison_lines,
    flag_lines,
    fold_scores,
    metric_key,
    recommended_start,
    standard_errors,
    transfer_metrics,
)


def read_training_data(cfg: PromoterConfig) -> LabelledSequences:
    i = cfg.inputs
    if i.train and (i.positives or i.negatives):
        given = ", ".join(str(p) for p in (i.positives, i.negatives) if p)
        # a --resume reads --train from the run's config.yaml: the user may have typed only the pair
        raise ConfigError(
            f"--train ({i.train}) and --positives/--negatives ({given}): give one or the other "
            "(a --resume reads the run's own from its config.yaml)"
        )
    columns = dict(sequence_column=i.sequence_column, label_column=i.label_column)
    if i.train:
        return read_labelled(i.train, **columns)
    if i.positives and i.negatives:
        data = read_pair(i.positives, i.negatives, **columns)
        if os.path.samefile(*(resolve_data_path(p) for p in (i.positives, i.negatives))):
            # it was refused later for a class with 0 distinct sequences, which did not say why
            raise ConfigError(f"--positives and --negatives: both name {i.positives}; expected two files")
        return data
    if i.positives or i.negatives:
        missing = "--negatives" if i.positives else "--positives"
        raise ConfigError(f"{missing}: missing; --positives and --negatives are given together")
    raise ConfigError("no training data: pass --train FILE, or --positives FILE --negatives FILE")


def run_finetune(cfg: PromoterConfig, out, resume: bool = False) -> int:
    """Fine-tune and cross-validate as ``cfg`` says, writing the run directory ``out``; with
    ``resume``, continue the run there, refitting only what it had not completed
    (:mod:`.promoter_fits`)."""
    validate(cfg)
    run = reopen(out) if resume else None
    if run is not None and finished(run):
        return 0
    started = time.time()
    data = read_training_data(cfg)
    columns = dict(sequence_column=cfg.inputs.sequence_column, label_column=cfg.inputs.label_column)
    val = read_labelled(cfg.inputs.val, **columns) if cfg.inputs.val else None
    test = read_labelled(cfg.inputs.test, **columns) if cfg.inputs.test else None
    check_distinct_sequences(cfg, data, val)
    check_label_fractions(cfg, data)
    check_epoch_fits(cfg, data, val)
    data_checks: dict[str, int] = {}
    overlap_lines = overlap_flags(
        data, test, data_checks, val, k=cfg.contamination_k, threshold=cfg.contamination_threshold
    )
    start = load_start(cfg.init, cfg)
    check_start_keys(cfg)
    # the fits build their strategy only once training starts: its errors (a freeze deeper than
    # the encoder, ewc without a Fisher) would come after the run directory was written
    build_strategy(cfg.finetune, start.backbone(cfg.train.seed), fisher=load_fisher(start.extras))
    residue_cap = start.residue_cap
    length = input_length(cfg.inputs.max_length, data.codes, residue_cap)
    check_head_reads(cfg, data, length, start.tokenizer.n_tokens(length))
    if cfg.inputs.max_length > residue_cap:
        print(
            f"note: inputs.max_length {cfg.inputs.max_length} is beyond what the encoder reads; "
            f"sequences are read to {residue_cap} residues",
            file=sys.stderr,
        )
    crop_lines = encoder_crop_lines(cfg.inputs.max_length, data, residue_cap)
    overlap_lines = length_flag(data, length, data_checks) + crop_lines + overlap_lines
    # the scratch baseline: the same architecture and tokenizer, randomly initialised and fully
    # fine-tuned, whatever the pre-trained start's strategy: it has no pre-trained weights to keep
    # (ewc would have no Fisher, l2sp would pull towards noise, a linear probe would read noise)
    scratch = (
        Start(
            "scratch",
            None,
            start.model_cfg,
            start.tokenizer,
            [],
            {},
            finetune=dataclasses.replace(cfg.finetune, strategy="full"),
        )
        if cfg.baselines
        else None
    )
    run = run or RunDir.create(out)
    # the kept fits are compared first: a refused --resume leaves the run's settings as they were
    fits = FitStore(run.path, fingerprint(cfg, data, start, length), resume=resume)
    run.write_config(
        {"task": "promoter", **to_dict(cfg)},
        paths=("init", *(f"inputs.{k}" for k in ("train", "positives", "negatives", "val", "test"))),
    )
    if resume:
        print(f"{run.path}: continuing, with {fits.found} fits completed before", file=sys.stderr)

    starts = {start.name: start}
    if scratch is not None and start.name != "scratch":
        starts["scratch"] = scratch
    metrics: dict[str, float] = {
        "sequences": len(data),
        "positives": int(data.labels.sum()),
        "length": length,
        **data_checks,
    }
    lines: list[str] = []
    flags = [NO_CV_LINE]
    curves = {}
    if cfg.folds:
        folds = cv_folds(cfg, data)
        oof = cross_validate(starts, cfg, data, length, classical=cfg.baselines, fits=fits, folds=folds)
        write_out_of_fold(run.path / "cross_validation.csv", data, folds, oof)
        for name, (p, fold_metrics) in oof.items():
            metrics.update(summarise(fold_metrics, metric_key(name)))
            metrics.update(standard_errors(fold_metrics, metric_key(name)))
            curves[name] = (data.labels, p)
        mcc = fold_scores(oof)
        metrics.update(transfer_metrics(mcc))
        exported = starts[recommended_start(mcc, starts)] if cfg.export == "recommended" else start
        lines += cv_table(oof, cfg.folds)
        lines += on_top_lines(oof)
        lines += comparison_lines(mcc)
        lines += probe_lines(start, cfg, data, length, folds, metrics)
        main_p = oof[start.name][0]
        lines += ["", "### Contamination", ""]
        lines += contamination_lines(
            start.pretrained_on,
            data,
            cfg.contamination_k,
            cfg.contamination_threshold,
            main_p,
            metrics,
            metric_key(start.name),
            others={n: p for n, (p, _) in oof.items() if n != start.name},
            pooled=True,
        )
        flags = flag_lines(
            mcc,
            len(data),
            exported=exported.name,
            export_option=cfg.export,
            contamination=contamination_flag(metrics, list(mcc)),
        )
    else:
        exported = start
    final = train_classifier(exported, cfg, data, length, cfg.train.seed, val=val, progress="final model")
    metrics[f"exported_{metric_key(exported.name)}"] = 1
    lines += ([""] if lines else []) + exported_model_lines(cfg, data, val, exported.name, final, metrics)
    lines += ["", "### Likelihood fusion", "", naturalness_line(cfg, exported, final)]
    lines += ["", "### k-mer stacking", "", kmer_stack_line(cfg, final)]
    lines += ["", "### CNN stacking", "", cnn_stack_line(cfg, final)]
    metrics.update(on_top_metrics(final))
    if test is not None:
        p = final.predict(test.codes)
        metrics.update({f"test_{k}": v for k, v in binary_metrics(test.labels, p).items()})
        curves = {"final model (test)": (test.labels, p)}
        cropped = length_note(test.codes, length)
        lines += [
            "",
            "## Test set",
            "",
            f"{test.source}: {len(test)} sequences{f'; {cropped}' if cropped else ''}.",
            "",
        ]
        lines += metric_table({"final model": metrics}, "test")
        lines += [""]  # a line straight after a table would render as one of its rows
        lines += contamination_lines(
            exported.pretrained_on,
            test,
            cfg.contamination_k,
            cfg.contamination_threshold,
            p,
            metrics,
            "test",
            counts="test_contamination",  # the cross-validation's check keeps contamination_*
        )
        test_flag = contamination_flag(
            metrics, [], "test_contamination", f"sequences of the test set {Path(test.source).name}"
        )
        flags = ([test_flag] if test_flag else []) + flags
    flags = overlap_lines + flags
    if cfg.label_fractions:
        lines += sample_efficiency(starts, cfg, data, length, run, metrics, fits)
    figures = []
    if curves:
        # the folds' held-out scores on one curve, whose area is not the report's mean over folds;
        # with --test, the final model on the test set alone
        title, auroc_label = (
            (f"(final model, test set {Path(test.source).name})", "AUROC")
            if test is not None
            else (f"(out-of-fold, {cfg.folds} folds pooled)", "pooled AUROC")
        )
        roc, pr = plots.roc_pr(
            curves, run.plot_path("roc.png"), run.plot_path("pr.png"), title=title, auroc_label=auroc_label
        )
        figures = [roc, pr]
    metrics["wall_time_s"] = round(time.time() - started, 1)  # of this command alone, when continued
    metrics["fits_resumed"] = fits.found
    run.write_metrics(metrics)
    run.write_report(report(cfg, data, start, length, lines, figures, metrics, flags))
    # the export last: a run stopped before its end (a job killed during --label-fractions) leaves
    # no model for predict or scan to use, so it cannot be taken for a finished one
    export_classifier(run, final, exported, cfg, length, data.codes)
    # the result on standard output, as evaluate and the force-field fine-tune give theirs
    print(json.dumps(metrics, indent=1))
    print(f"run written to {run.path}", file=sys.stderr)
    return 0


def reopen(out) -> RunDir:
    """The run directory a continued run goes on in, its lock held."""
    run = RunDir(out)
    if not run.config.is_file():
        raise UserError(f"{run.path}: no promoter run to continue (no config.yaml); run without --resume")
    run.lock()
    return run


def finished(run: RunDir) -> bool:
    """Whether ``run`` is a finished promoter run (its export, written last, is there): says so."""
    if not (run.model / "config.json").is_file():
        return False
    print(
        f"{run.path}: already finished and exported: nothing to do (another --out starts a new run)",
        file=sys.stderr,
    )
    return True


def encoder_crop_lines(max_length: int, data, residue_cap: int) -> list[str]:
    """The report line, also said on standard error, where training sequences are longer than the
    encoder reads (an ``hf:`` model's position table) and no shorter ``inputs.max_length`` asked for
    the crop: only the report's data line said so, as "cropped or padded to", without why or how
    many."""
    if 0 < max_length <= residue_cap:
        return []
    cropped = sum(len(c) > residue_cap for c in data.codes)
    if not cropped:
        return []
    line = (
        f"{cropped} of {len(data)} training sequences are longer than the {residue_cap} residues the "
        f"encoder reads (its position table): each is read cropped to its central {residue_cap} bp"
    )
    print(f"note: {line}", file=sys.stderr)
    return [f"- **Cropped by the encoder**: {line}."]


def input_length(max_length: int, codes, residue_cap: int) -> int:
    """The residues the classifier reads: ``inputs.max_length``, or with 0 the longest training
    sequence (shorter ones are padded, none cropped), at most what the encoder reads (``residue_cap``)."""
    return min(max_length or max(len(c) for c in codes), residue_cap)
