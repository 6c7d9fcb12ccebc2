"""The promoter run's report: its tables, its sections and the text around the verdicts.

:func:`report` assembles the markdown that :func:`sciPT.tasks.promoter_train.run_finetune` writes;
:func:`contamination_flag` flags evaluation data found in the pre-training corpus, and the sections
here give the cross-validation table, the exported model and what sits on its classifier (the
likelihood fusion, the stacks). The verdicts at the top of the report (near chance, behind a
classical baseline, negative transfer, the recommendation) and their numbers for ``metrics.json``
are :mod:`.promoter_verdicts`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sciPT.metrics import binary_metrics
from sciPT.naturalness import Fusion
from sciPT.nn import TransformerConfig
from sciPT.stacking import MIN_PER_CLASS, Stack

from .promoter_checks import counted
from .promoter_verdicts import mean_se_text, metric_key

if TYPE_CHECKING:
    from .promoter_classifier import Classifier
    from .promoter_config import PromoterConfig
    from .promoter_start import Start


# contamination flagged at the top of the report: any evaluation sequence verbatim in the corpus, or
# at least this fraction verbatim or nearly (a few near matches of short windows arise by chance)
CONTAMINATED_FRACTION = 0.01
# the clean subset is measured (and models compared on it) only with at least this many sequences of
# each class: below it one sequence moves sensitivity or specificity by more than 20 points, and MCC
# and accuracy describe a handful of sequences (54 clean of which 1 promoter: accuracy 0.98 by
# calling everything a non-promoter)
MIN_CLEAN_PER_CLASS = 5


def classes_text(positives: int, negatives: int) -> str:
    """``"30 promoters, 10 non-promoters"``."""
    return f"{counted(positives, 'promoter')}, {counted(negatives, 'non-promoter')}"


def too_few_clean(positives: int, negatives: int, purpose: str) -> str | None:
    """Why the clean subset (``positives`` promoters, ``negatives`` non-promoters) is not measured,
    with ``purpose`` saying what for (``"compare models on"``); None where both classes hold at least
    :data:`MIN_CLEAN_PER_CLASS`."""
    if not positives + negatives:
        return "The clean subset is empty"
    short = [
        noun
        for noun, n in (("promoters", positives), ("non-promoters", negatives))
        if n < MIN_CLEAN_PER_CLASS
    ]
    if not short:
        return None
    return (
        f"The clean subset holds {counted(positives, 'promoter')} and {counted(negatives, 'non-promoter')}: "
        f"too few {' and '.join(short)} to {purpose} (at least {MIN_CLEAN_PER_CLASS} of each class are needed)"
    )


def contamination_flag(
    metrics: dict, models: list[str], counts: str = "contamination", what: str = "evaluation sequences"
) -> str | None:
    """The warning line for evaluation data found in the pre-training corpus (the check's counts in
    ``metrics``, ``<counts>_verbatim`` ..., from
    :func:`sciPT.tasks.promoter_evaluation.contamination_lines`), with each of ``models``' MCC on the
    clean sequences, or why they are not compared there (:func:`too_few_clean`); None when nothing
    was checked or too little was found."""
    n = metrics.get(f"{counts}_eval_sequences")
    if not n:
        return None
    verbatim, near = metrics[f"{counts}_verbatim"], metrics[f"{counts}_near"]
    if verbatim == 0 and near < CONTAMINATED_FRACTION * n:
        return None
    line = (
        f"- **Contaminated**: {verbatim:,} of {n:,} {what} ({verbatim / n:.1%}) occur verbatim "
        f"in the pre-training corpus, {near:,} ({near / n:.1%}) verbatim or nearly. The pre-trained model "
        "may have memorised them, so its scores here are not evidence of transfer."
    )
    clean = [
        (m, metrics[f"{metric_key(m)}_clean_mcc"]) for m in models if f"{metric_key(m)}_clean_mcc" in metrics
    ]
    # the clean subset's classes, where the check counted them
    positives, negatives = metrics.get(f"{counts}_clean_positives"), metrics.get(f"{counts}_clean_negatives")
    if clean:
        scores = ", ".join(f"{m} {v:.3f}" for m, v in clean)
        classes = f"{classes_text(positives, negatives)}; " if positives is not None else ""
        line += f" MCC on the {metrics[f'{counts}_clean']:,} clean sequences ({classes}pooled over folds): {scores}."
    elif models and positives is not None:
        line += f" {too_few_clean(positives, negatives, 'compare models on')}."
    return line + " Decontaminate the corpus against them (`scipt data decontaminate`) and pre-train again."


def metric_table(rows: dict[str, dict], prefix: str) -> list[str]:
    names = ("accuracy", "mcc", "f1", "auroc", "auprc", "sensitivity", "specificity")
    out = ["| model | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for label, m in rows.items():
        out.append(f"| {label} | " + " | ".join(f"{m[f'{prefix}_{n}']:.3f}" for n in names) + " |")
    return out


def exported_model_lines(
    cfg: PromoterConfig, data, val, name: str, classifier: Classifier, metrics: dict
) -> list[str]:
    """The exported model's section: what it was fine-tuned on, and its metrics (``val_*``, added to
    ``metrics``) on the data it was stopped early on, labelled as such: without ``--folds`` or
    ``--test`` these are the report's only measure of the model, and they are not held out."""
    labels, p = classifier.validation
    metrics.update({f"val_{k}": v for k, v in binary_metrics(labels, p).items()})
    if val is not None:
        where = f"{Path(val.source).name} (`--val`)"
    elif cfg.ensemble == 1:
        where = (
            f"the fine-tune's early-stopping split ({cfg.val_fraction:.0%} of the training data, held out "
            "of its fit)"
        )
    else:
        where = (
            f"the early-stopping splits of the {cfg.ensemble} fine-tunes ({cfg.val_fraction:.0%} of the "
            "training data each, scored by the fine-tune it was held out of), pooled"
        )
    positives = int(labels.sum())
    fine_tunes = "one fine-tune" if cfg.ensemble == 1 else f"the mean of {cfg.ensemble} fine-tunes"
    return [
        "## Exported model",
        "",
        f"{name}, fine-tuned on all {len(data)} training sequences ({fine_tunes}): the model `scipt evaluate`, "
        "`predict` and `scan` use.",
        "",
        f"Validation on {where}: {len(labels)} sequences ({classes_text(positives, len(labels) - positives)}). "
        "The fine-tunes stopped early on them, and any likelihood fusion or stack below was fitted on them, "
        "so these figures are optimistic, not a held-out estimate (`--folds` and `--test` give those):",
        "",
        *metric_table({"exported model (validation)": metrics}, "val"),
    ]


def cv_table(oof: dict, folds: int) -> list[str]:
    names = ("accuracy", "mcc", "f1", "auroc", "auprc", "sensitivity", "specificity")
    out = [
        "## Cross-validation",
        "",
        f"Stratified {folds}-fold (a sequence's copies, reverse complements and near copies in one fold), "
        "mean ± "
        "standard error over folds:",
        "",
        "| model | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for name, (_, per_fold) in oof.items():
        cells = [mean_se_text([m[n] for m in per_fold]) for n in names]
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    return out


def _likelihood_ratio_clause(fusion: Fusion | Stack, threshold: float) -> str:
    """The fit's likelihood ratio and the threshold, to follow the words "likelihood ratio"."""
    return (
        f"against the logit alone {fusion.likelihood_ratio:.2f} (kept at "
        f"{threshold:.2f} or above; 3.84 is p = 0.05, chi-squared with 1 degree of "
        "freedom)."
    )


def naturalness_line(cfg: PromoterConfig, start: Start, classifier: Classifier) -> str:
    """What the exported model does with the pre-trained model's likelihood (:mod:`sciPT.naturalness`)."""
    fusion = classifier.fusion
    if fusion is not None:
        return (
            "The model adds the pre-trained model's pseudo-log-likelihood of each sequence (PLL, nats "
            "per token) to the classifier's logit, fitted on the held-out early-stopping split: "
            f"logit p = {fusion.w_logit:.2f} x classifier logit {fusion.w_naturalness:+.2f} x "
            f"(PLL - ({fusion.mean:.3f})) / {fusion.sd:.3f} {fusion.bias:+.2f}. A positive weight means "
            "the promoters look more like the pre-training genomes than the negatives do. "
            + f"Likelihood ratio {_likelihood_ratio_clause(fusion, cfg.naturalness_min_ratio)}"
        )
    fitted = classifier.fitted_fusion
    if fitted is not None:
        return (
            "Fitted and left out: adding the pre-trained model's pseudo-log-likelihood to the "
            f"classifier's logit (weight {fitted.w_naturalness:+.2f} per standard deviation) did not "
            f"improve the fit on the early-stopping split enough: likelihood ratio {_likelihood_ratio_clause(fitted, cfg.naturalness_min_ratio)} "
            f"The model predicts without it (it would cost {classifier.naturalness.stride} encoder passes "
            "per sequence)."
        )
    if not cfg.naturalness:
        return "Off (`--no-naturalness`)."
    if not start.has_masked_head:
        return (
            "Not available: the start has no masked-model head (scratch, a causal model, an `hf:` "
            "folder without `lm_head`, or an export written before the head was exported: "
            "`scipt export RUN` writes it)."
        )
    return f"Not fitted: the early-stopping split holds fewer than {MIN_PER_CLASS} sequences of a class."


def report(cfg, data, start, length, lines, figures, metrics, flags=()) -> str:
    """Markdown: the title, then ``flags`` (the verdicts: :func:`.promoter_verdicts.flag_lines`),
    then the rest."""
    scratch_fitted = cfg.baselines and (cfg.folds or cfg.label_fractions)
    baseline = scratch_fitted and start.name != "scratch" and cfg.finetune.strategy != "full"
    scratch_strategy = " (the scratch baseline: full)" if baseline else ""
    head = [
        "# Promoter prediction",
        "",
        *flags,
        *([""] if flags else []),
        f"Training data: {data.source}: {len(data)} sequences ({int(data.labels.sum())} promoters), "
        f"cropped or padded to {length} bp. Start: {start.name} (`--init {cfg.init}`); strategy "
        f"{cfg.finetune.strategy}{scratch_strategy}; head {cfg.head.pooling}{' + tokens' if cfg.head.tokens else ''}; strand-symmetric: {cfg.strand_symmetric}.",
        "",
    ]
    window = start.model_cfg.max_len if isinstance(start.model_cfg, TransformerConfig) else None
    if start.pretrained_on and window and start.tokenizer.n_tokens(length) > window:
        head += [
            f"Inputs of {length} bp ({start.tokenizer.n_tokens(length)} tokens) are longer than the "
            f"{window}-token windows the encoder was pre-trained on; its rotary/ALiBi positions carry "
            "over, and fine-tuning adapts them.",
            "",
        ]
    if start.pretrained_on:
        head += [
            "Pre-trained on: "
            + ", ".join(f"{Path(f['path']).name} (sha256 {f['sha256'][:12]}…)" for f in start.pretrained_on),
            "",
        ]
    tail = ["", "## Plots", ""] + [f"![{p.stem}](plots/{p.name})" for p in figures] if figures else []
    return "\n".join(head + lines + tail + ["", f"Wall time {metrics['wall_time_s']:.0f} s.", ""])


# what each stacked model is, in the report's words: its description, its name in the formula and
# the flag that turns it off
STACKED = {
    "kmer": (
        "a k-mer logistic regression's logit (counts of every 1- to 5-mer; fitted without the "
        "early-stopping split)",
        "k-mer logit",
        "--no-kmer-stack",
    ),
    "cnn": (
        "the baseline CNN's logit (one-hot convolution; fitted without the early-stopping split, the "
        "mean over the ensemble's members)",
        "CNN logit",
        "--no-cnn-stack",
    ),
}


def kmer_stack_line(cfg: PromoterConfig, classifier: Classifier) -> str:
    """What the exported model does with the k-mer regression (:mod:`sciPT.stacking`)."""
    on = cfg.kmer_stack
    return _stack_line("kmer", on, cfg.kmer_stack_min_ratio, classifier.stack, classifier.fitted_stack)


def cnn_stack_line(cfg: PromoterConfig, classifier: Classifier) -> str:
    """What the exported model does with the CNN (:mod:`sciPT.stacking`), after the k-mer stack."""
    kept, fitted = classifier.cnn_stack, classifier.fitted_cnn_stack
    return _stack_line("cnn", cfg.cnn_stack, cfg.cnn_stack_min_ratio, kept, fitted)


def _stack_line(kind: str, on: bool, threshold: float, stack: Stack | None, fitted: Stack | None) -> str:
    what, name, flag = STACKED[kind]
    if stack is not None:
        return (
            f"The model adds {what} to the classifier's, fitted on that split: "
            f"logit p = {stack.w_logit:.2f} x classifier logit {stack.w_score:+.2f} x "
            f"({name} - ({stack.mean:.3f})) / {stack.sd:.3f} {stack.bias:+.2f}. Likelihood ratio "
            + _likelihood_ratio_clause(stack, threshold)
        )
    if fitted is not None:
        return (
            f"Fitted and left out: adding {what.split(' (')[0]} to the classifier's "
            f"(weight {fitted.w_score:+.2f} per standard deviation) did not improve the fit on the "
            "early-stopping split enough: likelihood ratio "
            f"{_likelihood_ratio_clause(fitted, threshold)} The model predicts without it."
        )
    if not on:
        return f"Off (`{flag}`)."
    return f"Not fitted: the early-stopping split holds fewer than {MIN_PER_CLASS} sequences of a class."


# what can sit on a fine-tuned classifier's output: (name, its fit as fitted, its fit as kept, its
# keys' prefix in metrics.json, the kept fit's weight on the added score)
ON_TOP = (
    ("likelihood fusion", "fitted_fusion", "fusion", "naturalness", "w_naturalness"),
    ("k-mer stack", "fitted_stack", "stack", "kmer_stack", "w_score"),
    ("CNN stack", "fitted_cnn_stack", "cnn_stack", "cnn_stack", "w_score"),
)


def on_top(classifier: Classifier) -> dict[str, tuple[bool, bool]]:
    """``{name: (fitted, kept)}`` for what :data:`ON_TOP` names, of one fold's classifier."""
    return {
        name: (getattr(classifier, fitted) is not None, getattr(classifier, kept) is not None)
        for name, fitted, kept, _, _ in ON_TOP
    }


def on_top_metrics(classifier: Classifier) -> dict[str, float]:
    """The exported model's fusion and stacks for ``metrics.json``: each fitted one's likelihood
    ratio and whether the test kept it (``<prefix>_kept``), and the kept one's weight."""
    metrics: dict[str, float] = {}
    for _, fitted_attr, kept_attr, prefix, weight in ON_TOP:
        fitted, kept = getattr(classifier, fitted_attr), getattr(classifier, kept_attr)
        if fitted is not None:
            metrics[f"{prefix}_likelihood_ratio"] = fitted.likelihood_ratio
            metrics[f"{prefix}_kept"] = int(kept is not None)
        if kept is not None:
            metrics[f"{prefix}_weight"] = getattr(kept, weight)
    return metrics


def on_top_lines(oof: dict) -> list[str]:
    """Per fine-tuned model, in how many folds each fusion or stack was fitted and kept, so that a
    reader knows how much of a model's score is its own."""
    cells = []
    for model, (_, per_fold) in oof.items():
        states = [m["on_top"] for m in per_fold if "on_top" in m]
        if not states:
            continue
        parts = []
        for name, *_ in ON_TOP:
            fitted = sum(s[name][0] for s in states)
            kept = sum(s[name][1] for s in states)
            parts.append(f"{name} fitted in {fitted} of {len(states)} folds, kept in {kept}")
        cells.append(f"{model}: " + ", ".join(parts))
    if not cells:
        return []
    return ["", "On top of the fine-tuned classifiers in the folds: " + "; ".join(cells) + "."]
