"""Promoter prediction: fine-tune a DNA encoder, cross-validate, predict, scan genomes.

``scipt finetune promoter`` reads labelled sequences, loads a pre-trained DNA model (``--init RUN``,
or ``--init hf:DIR``: an ESM folder in the Hugging Face format, such as a Nucleotide Transformer,
:mod:`sciPT.hf`) or starts from scratch (``--init none``), and writes a run directory with

- K-fold stratified cross-validation (``--folds K``, fixed seed; a sequence's copies and reverse
  complements in one fold, :mod:`sciPT.splits`): mean, standard deviation and
  standard error over folds of accuracy, MCC, F1, AUROC, AUPRC, sensitivity and specificity (the
  report shows mean ± standard error), and out-of-fold predictions for the curves;
- baselines, on by default (``--no-baselines`` skips them): the same architecture from scratch, a
  k-mer-count logistic regression at its best (its regularisation chosen by 5-fold cross-validation
  on each fold's training part) and a small CNN of the CNNProm kind (:mod:`sciPT.domains.dna.cnn`),
  run on the same folds in the same command (with ``--init none`` scratch is the model and the
  classical baselines run beside it); also scratch in ``--label-fractions``;
- verdicts at the top of the report (:mod:`sciPT.diagnostics.transfer`, rules written in the report):
  a model whose mean MCC over folds is not 2 standard errors above zero is **near chance**; a model
  is behind / tied with / ahead of another by the 2-SE rule on the per-fold MCC differences (behind
  the k-mer regression or the CNN is flagged; pre-trained behind scratch is **negative transfer**);
  and the model recommended for this data size: the best by mean MCC unless a simpler one is tied
  with it, then the simplest of those (k-mer LR < CNN < scratch < pre-trained); the rules are
  :mod:`.promoter_verdicts`, the report's text :mod:`.promoter_report`;
- a contamination check: how many evaluation sequences (or their reverse complements) occur verbatim
  or nearly in the corpus the model was pre-trained on (recorded in the export), and the metrics on
  the clean subset (with its class counts; none where it holds fewer than 5 of a class,
  ``MIN_CLEAN_PER_CLASS`` in :mod:`.promoter_report`); flagged first in the report where any occurs
  verbatim or 1 % nearly;
- ``--label-fractions``: sample efficiency, pre-trained against scratch, over several seeds;
- each fit kept as it completes (``RUN/fits/``), so that ``--resume`` continues a stopped run
  with what is missing and writes what a run never stopped writes (:mod:`.promoter_fits`);
- a final model trained on all the training data, exported for ``evaluate``, ``predict``, ``scan``
  (:mod:`.promoter_scan`): from the start (``--export start``, the default) or from the start the
  report recommends (``--export recommended``: scratch where it is recommended, or the better
  fine-tuned start where a classical baseline is). Its report section gives its metrics on the
  data it stopped early on (``val_*``), labelled as not held out. The export is written last, after
  the report, so that a run stopped before its end leaves no model to predict with. Beside it, a
  record of its training sequences (hashes, :func:`.promoter_export.sequence_hashes`) lets
  ``evaluate`` flag evaluation sequences the model was trained on, with the metrics on the others
  (:func:`.promoter_evaluation.training_overlap_lines`).

Lengths. Sequences longer than ``data.max_length`` residues (default: the longest training sequence,
capped at ``LENGTH_STRETCH`` times the encoder's pre-training window) are cropped around their
centre; shorter ones are padded, and ``evaluate`` and ``predict`` say in one line on standard error
how many of their sequences were (``scan``: what part of each window the model reads). A sequence
(or ``scan --window``) shorter than one of the encoder's tokens (``k`` residues for k-mer tokens)
is refused: it would give no token, so a score read off the head's bias alone. Class
imbalance is handled by the loss (:mod:`sciPT.classification`: ``pos_weight = n_neg / n_pos``);
metrics use a 0.5 threshold. ``strand_symmetric`` averages each prediction with its reverse
complement's.

Its configuration is :mod:`.promoter_config`, the fine-tuning command's pipeline
:mod:`.promoter_train`. The classifier itself (its fine-tunes and the likelihood fusion) is
:mod:`.promoter_classifier`,
where it starts :mod:`.promoter_start`, the models stacked on top :mod:`.promoter_stacking`, its
export and loading :mod:`.promoter_export`; cross-validation,
sample efficiency and the contamination check are :mod:`.promoter_evaluation`.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from sciPT import io, plots
from sciPT.domains.dna.data import ambiguity_note, read_labelled, read_queries
from sciPT.registry import Command, Task
from sciPT.sequence_inputs import in_chunks, repeated_names_note

from .promoter_checks import UNUSED_TRAIN_KEYS, validate
from .promoter_config import PromoterConfig, PromoterInputs, tiny

if TYPE_CHECKING:
    from .promoter_train import read_training_data, run_finetune

__all__ = [
    "PromoterConfig",
    "PromoterInputs",
    "PromoterTask",
    "read_training_data",
    "run_finetune",
    "task",
    "tiny",
]


def __getattr__(name: str):
    # the fitting and evaluating code (and Lightning under it) loads when a command needs it: the
    # options and their checks answer in a second or two
    if name in ("read_training_data", "run_finetune"):
        from . import promoter_train

        return getattr(promoter_train, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# --- the task -----------------------------------------------------------------------------------
class PromoterTask(Task):
    name = "promoter"
    summary = "promoter / non-promoter classification on a DNA encoder (fine-tune, CV, predict, scan)"
    config_class = PromoterConfig
    unused_train_keys = UNUSED_TRAIN_KEYS
    resumes_from = "the fits it completed (each model on each fold, each label fraction and seed)"
    resume_unit = "promoter run"

    def resume_point(self, run):
        from .promoter_fits import completed_fits

        if run.read_config().get("task") != "promoter":
            return None  # no run, or another kind: starting here is refused as for any used folder
        n = completed_fits(run.path)
        return f"a promoter run with {n} completed fit{'' if n == 1 else 's'}: continuing it"

    def presets(self):
        return {"tiny": tiny}

    def flag_aliases(self):
        return {
            "strategy": "finetune.strategy",
            "ddp-strategy": "train.strategy",
            "train": "inputs.train",
            "positives": "inputs.positives",
            "negatives": "inputs.negatives",
            "val": "inputs.val",
            "test": "inputs.test",
            "sequence-column": "inputs.sequence_column",
            "label-column": "inputs.label_column",
        }

    def add_finetune_arguments(self, parser):
        from sciPT.runconfig import add_off_switch, add_run_arguments

        from .promoter_fits import kept_fits

        parser.set_defaults(table=add_run_arguments(parser, self, "runs/promoter"), kept_after_stop=kept_fits)
        add_off_switch(parser, "baselines", "skip the scratch, k-mer and CNN baselines")
        add_off_switch(
            parser, "naturalness", "do not fuse the pre-trained model's likelihood into the predictions"
        )
        add_off_switch(parser, "kmer_stack", "do not stack a k-mer regression onto the classifier")
        add_off_switch(parser, "cnn_stack", "do not stack the baseline CNN onto the classifier")

    def finetune(self, args):
        from sciPT.runconfig import resolve_config

        cfg = resolve_config(self, args, args.table)
        validate(cfg)  # before Lightning is imported: a wrong value answers in about 2 s, not 7
        from sciPT.signals import sigterm_raises

        from .promoter_train import run_finetune

        # SIGTERM between Lightning's fits (a k-mer regression, the CNN, the stacks) killed the
        # process without a word; raised, it says what the run keeps, as in a fit
        with sigterm_raises():
            return run_finetune(cfg, args.out, resume=args.resume)

    # evaluate / predict ---------------------------------------------------------------------
    def add_evaluate_arguments(self, parser):
        parser.add_argument(
            "--sequence-column",
            default="sequence",
            help="CSV/TSV column of the sequences (default: sequence)",
        )
        parser.add_argument(
            "--label-column", default="label", help="CSV/TSV column of the labels (default: label)"
        )

    def evaluate(self, run, args):
        from sciPT.metrics import binary_metrics

        from .promoter_classifier import length_note
        from .promoter_evaluation import contamination_lines, training_overlap_lines
        from .promoter_export import load_classifier, read_training_record
        from .promoter_report import contamination_flag, metric_table

        data = read_labelled(args.data, sequence_column=args.sequence_column, label_column=args.label_column)
        classifier, exported = load_classifier(run.path)
        data.refuse_shorter_than(classifier.min_residues, "score")
        lengths = length_note(data.codes, classifier.length)
        if lengths:
            print(f"{args.data}: {lengths}", file=sys.stderr)
        p = in_chunks(classifier.predict, data.codes, "predicting")
        metrics = {f"eval_{k}": v for k, v in binary_metrics(data.labels, p).items()}
        # the check as the run made it (its contamination_k and _threshold)
        defaults, config = PromoterConfig(), run.read_config()
        k = int(config.get("contamination_k", defaults.contamination_k))
        threshold = float(config.get("contamination_threshold", defaults.contamination_threshold))
        report = contamination_lines(
            exported.get("pretrained_on", []), data, k, threshold, p, metrics, "eval"
        )
        flag = contamination_flag(metrics, [])  # the clean sequences' metrics follow in `report`
        # the model's own training sequences (either strand), by the record its export keeps
        hashes, why = read_training_record(run.path, exported)
        warning, overlap = training_overlap_lines(hashes, why, data, p, metrics)
        if warning:
            print(f"{args.data}: {warning}", file=sys.stderr)
        flags = [f"- **Not held out**: {' '.join(overlap)}"] if warning else []
        flags += [flag] if flag else []
        # its own folder (RUN/evaluations/<file name>, or --out): fine-tuning's metrics stay as measured
        with run.evaluation(args.data, getattr(args, "out", None)) as ev:
            roc, pr = plots.roc_pr(
                {"model": (data.labels, p)},
                ev.plot_path("roc.png"),
                ev.plot_path("pr.png"),
                title=Path(args.data).name,
            )
            ev.write_metrics(metrics)
            ev.write_report(
                [
                    *([*flags, ""] if flags else []),
                    *metric_table({"model": metrics}, "eval"),
                    "",
                    *([f"{Path(args.data).name}: {lengths}.", ""] if lengths else []),
                    *overlap,
                    "",
                    *report,
                    "",
                    f"![ROC](plots/{roc.name}) ![PR](plots/{pr.name})",
                ]
            )
        print(json.dumps(metrics, indent=1))
        return 0

    def add_predict_arguments(self, parser):
        parser.add_argument(
            "--sequence-column",
            default="sequence",
            help="CSV/TSV column of the sequences (default: sequence)",
        )
        parser.add_argument(
            "--embed",
            action="store_true",
            help="write the fine-tuned encoder's embedding of each sequence (mean over its tokens; "
            "the ensemble's members and, if strand-symmetric, both strands averaged) instead of "
            "probabilities (default: off)",
        )

    def predict(self, run, args):
        from .promoter_classifier import length_note
        from .promoter_export import load_classifier

        # read as scan reads a genome (ambiguity codes as N); labelled inputs stay strict
        data = read_queries(args.input, sequence_column=args.sequence_column)
        classifier, _ = load_classifier(run.path)
        embed = getattr(args, "embed", False)
        data.refuse_shorter_than(classifier.min_residues, "embed" if embed else "score")
        lengths = length_note(data.codes, classifier.length)
        for note in (ambiguity_note(data), lengths and f"{args.input}: {lengths}", repeated_names_note(data)):
            if note:
                print(note, file=sys.stderr)
        if embed:
            emb = in_chunks(classifier.embed, data.codes, "embedding")
            with io.atomic_text(args.output) as f:
                writer = csv.writer(f)
                writer.writerow(["name", *[f"e{j}" for j in range(emb.shape[1])]])
                writer.writerows([n, *(f"{v:.6g}" for v in row)] for n, row in zip(data.names, emb))
            print(
                f"wrote {len(emb)} embeddings of dimension {emb.shape[1]} to {args.output}", file=sys.stderr
            )
            return 0
        p = in_chunks(classifier.predict, data.codes, "predicting")
        with io.atomic_text(args.output) as f:
            writer = csv.writer(f)
            writer.writerow(["name", "probability"])
            writer.writerows((n, f"{v:.6f}") for n, v in zip(data.names, p))
        print(f"wrote {len(p)} predictions to {args.output}", file=sys.stderr)
        return 0

    def commands(self):
        from .promoter_scan import add_scan_arguments, run_scan

        return [
            Command(
                "scan",
                "scan a genome with a promoter run, both strands, to bedGraph",
                add_scan_arguments,
                run_scan,
            )
        ]

    def demo(self, args):
        from .promoter_demo import demo

        return demo(args)


task = PromoterTask()
