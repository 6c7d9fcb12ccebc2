"""The promoter run's report: verdicts on the cross-validated models, tables, and the text around them.

:func:`flag_lines` gives the report's first lines (a model near chance, a model behind a classical
baseline (the k-mer regression or the CNN), negative transfer, the model recommended for this data
size, and the rules behind them), by the rules of :mod:`sciPT.diagnostics.transfer`;
:func:`transfer_metrics` gives the same verdicts as numbers for ``metrics.json``. :func:`report`
assembles the markdown that :func:`sciPT.tasks.promoter_train.run_finetune` writes.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sciPT.diagnostics import transfer
from sciPT.metrics import NAMES as METRIC_NAMES
from sciPT.metrics import binary_metrics
from sciPT.naturalness import Fusion
from sciPT.nn import TransformerConfig
from sciPT.stacking import MIN_PER_CLASS, Stack

from .promoter_checks import counted

if TYPE_CHECKING:
    from .promoter_classifier import Classifier
    from .promoter_config import PromoterConfig
    from .promoter_start import Start


def metric_key(model_name: str) -> str:
    """'pre-trained' -> 'pre_trained', 'k-mer LR' -> 'kmer_lr' (metrics.json keys)."""
    return model_name.lower().replace("k-mer", "kmer").replace("-", "_").replace(" ", "_")


# --- verdicts: near chance, behind a classical baseline, negative transfer, recommendation --------
# Rules in sciPT.diagnostics.transfer (mean MCC over folds <= 2 SE: near chance; the paired 2-SE rule
# on per-fold MCC differences: behind / tied / ahead). metrics.json stays numeric: verdicts are
# <a>_vs_<b>_mcc_verdict = -1 (a behind b), 0 (tied), 1 (a ahead of b); <model>_near_chance and
# recommended_<model> are 1 or 0 (every recommended_* is 0 when even the pick is near chance).
KMER = "k-mer LR"
CNN = "CNN"
# the baselines that are not pre-trained, and the name each has in a flag
CLASSICAL = {KMER: "the k-mer baseline", CNN: "the CNN baseline"}
SIMPLEST_FIRST = (KMER, CNN, "scratch", "pre-trained")
NO_CV_LINE = (
    "- Not checked: without `--folds` there is no cross-validation, so no near-chance, baseline or "
    "negative-transfer verdict (pass `--folds 5`)."
)
RULES_LINE = (
    "- Rules: *near chance* = mean MCC over folds not more than 2 standard errors above zero "
    "(SE = sample standard deviation over folds / √folds); A is *behind* / *tied with* / *ahead of* B "
    "when the mean per-fold MCC difference A − B is below −2 SE / within ±2 SE / above +2 SE of those "
    "differences; recommended = the best by mean MCC, unless a simpler model (k-mer LR < CNN < scratch "
    "< pre-trained) is tied with it, then the simplest of those tied."
)


def fold_scores(oof: dict, metric: str = "mcc") -> dict[str, list[float]]:
    """``{model: [score in fold 1, fold 2, ...]}`` from :func:`cross_validate`'s result."""
    return {name: [float(m[metric]) for m in per_fold] for name, (_, per_fold) in oof.items()}


def standard_errors(per_fold: list[dict], prefix: str) -> dict[str, float]:
    """``{prefix_metric_se}``: standard error over folds (ddof 1) of every metric."""
    return {f"{prefix}_{n}_se": transfer.mean_se([m[n] for m in per_fold])[1] for n in METRIC_NAMES}


def comparison_pairs(names) -> list[tuple[str, str]]:
    """Every fine-tuned model against each classical baseline, and pre-trained against scratch."""
    baselines = [b for b in CLASSICAL if b in names]
    pairs = [(n, b) for n in names if n not in CLASSICAL for b in baselines]
    return pairs + ([("pre-trained", "scratch")] if {"pre-trained", "scratch"} <= set(names) else [])


def transfer_metrics(mcc: dict[str, list[float]]) -> dict[str, float]:
    """The numbers behind the verdicts, for metrics.json (keys as in :func:`metric_key`)."""
    out = {}
    for name, v in mcc.items():
        key = metric_key(name)
        out.update({f"{key}_mcc_fold{i + 1}": x for i, x in enumerate(v)})
        out[f"{key}_near_chance"] = float(transfer.near_chance(v))
    for a, b in comparison_pairs(mcc):
        pair = f"{metric_key(a)}_vs_{metric_key(b)}_mcc"
        out[f"{pair}_diff_mean"], out[f"{pair}_diff_se"] = transfer.paired_difference(mcc[a], mcc[b])
        out[f"{pair}_verdict"] = float(transfer.compare(mcc[a], mcc[b]))
    if len(mcc) > 1:
        pick, _ = transfer.recommend(mcc, SIMPLEST_FIRST)
        usable = not transfer.near_chance(mcc[pick])
        out.update({f"recommended_{metric_key(n)}": float(n == pick and usable) for n in mcc})
    return out


def mean_se_text(scores) -> str:
    mean, se = transfer.mean_se(scores)
    return f"{mean:.3f} ± {se:.3f}"


def pair_text(a: list[float], b: list[float]) -> str:
    mean, se = transfer.paired_difference(a, b)
    return f"per-fold difference {mean:+.3f} ± {se:.3f}"


def near_chance_line(name: str, scores: list[float]) -> str:
    return (
        f"- **Near chance: {name}**: cross-validated MCC {mean_se_text(scores)} (mean ± standard error "
        f"over {len(scores)} folds) is not 2 standard errors above zero; it has learnt nothing "
        "measurable from these data."
    )


def behind_line(a: str, b: str, mcc: dict[str, list[float]]) -> str:
    if b not in CLASSICAL:  # pre-trained behind scratch
        return "- " + versus_scratch(mcc[a], mcc[b])
    detail = f"MCC {mean_se_text(mcc[a])} vs {mean_se_text(mcc[b])}, {pair_text(mcc[a], mcc[b])}"
    return f"- **Behind {CLASSICAL[b]}: {a}**: {detail}, beyond 2 SE."


def recommendation_line(mcc: dict[str, list[float]], n_sequences: int) -> str:
    if len(mcc) < 2:
        return f"- No baselines ran (`--no-baselines`): {next(iter(mcc))} is compared with nothing."
    pick, why = transfer.recommend(mcc, SIMPLEST_FIRST)
    where = f"- **Recommended for this data size** ({n_sequences} sequences):"
    if transfer.near_chance(mcc[pick]):
        return (
            f"{where} none of these models: even {pick}, the rule's pick, is near chance; more "
            "(or better) labelled data comes first."
        )
    return f"{where} {pick}, because {why}"


def recommended_start(mcc: dict[str, list[float]], starts) -> str:
    """The start ``--export recommended`` trains the final model from: the report's recommendation
    where it is one of ``starts`` (pre-trained, scratch) and not near chance, else the same rule
    among ``starts`` alone (a classical baseline is measured, not exported)."""
    pick, _ = transfer.recommend(mcc, SIMPLEST_FIRST)
    if pick in starts and not transfer.near_chance(mcc[pick]):
        return pick
    return transfer.recommend({n: v for n, v in mcc.items() if n in starts}, SIMPLEST_FIRST)[0]


def exported_line(mcc: dict[str, list[float]], exported: str, export_option: str = "start") -> str | None:
    """Which model the run exports, when the recommendation is another one, and how to get that one.
    With ``--export start`` the run exports its own start (``--init``), so a reader of the
    recommendation must not take the export for the recommended model; with ``--export recommended``
    it exports :func:`recommended_start` and always says so. With ``start``, None when export and
    recommendation agree, or nothing was recommended (even the pick near chance)."""
    if len(mcc) < 2:
        return None
    pick, _ = transfer.recommend(mcc, SIMPLEST_FIRST)
    what = "- The exported model (`scipt evaluate`, `predict`, `scan`) is"
    if export_option == "recommended":
        alone = sum(name not in CLASSICAL for name in mcc) == 1  # --init none: scratch only
        if transfer.near_chance(mcc[pick]):
            which = "the only fine-tuned model" if alone else "the rule's pick among the fine-tuned models"
            return f"{what} {exported}, {which} (`--export recommended`), though none is recommended."
        if pick == exported:
            return f"{what} {exported}, the recommended model (`--export recommended`)."
        which = (
            "the only fine-tuned model" if alone else "the better of the fine-tuned models by the same rule"
        )
        return (
            f"{what} {exported}, {which} (`--export recommended`), not {pick}: the classical "
            "baselines are measured here, not exported."
        )
    if pick == exported or transfer.near_chance(mcc[pick]):
        return None
    if pick == "scratch":
        how = "to export scratch, run again with `--export recommended` (or `--init none`)"
    else:
        how = "the classical baselines are measured here, not exported"
    return f"{what} {exported}, this run's start, not {pick}: {how}."


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


def flag_lines(
    mcc: dict[str, list[float]],
    n_sequences: int,
    exported: str | None = None,
    export_option: str = "start",
    contamination: str | None = None,
) -> list[str]:
    """The report's first lines: evaluation data in the pre-training corpus (``contamination``,
    :func:`contamination_flag`), models near chance, models behind a classical baseline, negative
    transfer, the recommendation for this data size (and, with ``exported``, the exported model
    where it is not the recommended one: :func:`exported_line`), and the rules behind them."""
    warnings = [contamination] if contamination else []
    warnings += [near_chance_line(n, v) for n, v in mcc.items() if transfer.near_chance(v)]
    warnings += [
        behind_line(a, b, mcc)
        for a, b in comparison_pairs(mcc)
        if transfer.compare(mcc[a], mcc[b]) == transfer.BEHIND
    ]
    if not warnings:
        warnings = [
            "- No warning: every model's MCC is more than 2 standard errors above zero, and none is "
            "behind a classical baseline (k-mer LR, CNN) or scratch."
        ]
    export = exported_line(mcc, exported, export_option) if exported is not None else None
    return warnings + [recommendation_line(mcc, n_sequences)] + ([export] if export else []) + [RULES_LINE]


def comparison_lines(mcc: dict[str, list[float]]) -> list[str]:
    """Pre-trained, scratch and the classical baselines side by side: MCC mean ± SE and per fold."""
    out = [
        "",
        "### Models side by side",
        "",
        f"MCC on the same {len(next(iter(mcc.values())))} folds (mean ± standard error, and per fold):",
        "",
        "| model | MCC | per fold | near chance |",
        "|---|---|---|---|",
    ]
    for name, v in mcc.items():
        folds = ", ".join(f"{x:.3f}" for x in v)
        out.append(f"| {name} | {mean_se_text(v)} | {folds} | {'yes' if transfer.near_chance(v) else 'no'} |")
    verdicts = [
        f"- {a} is {transfer.WORDS[transfer.compare(mcc[a], mcc[b])]} {b}: {pair_text(mcc[a], mcc[b])}."
        for a, b in comparison_pairs(mcc)
    ]
    return out + ([""] + verdicts if verdicts else []) + negative_transfer_lines(mcc)


def negative_transfer_lines(mcc: dict[str, list[float]]) -> list[str]:
    """Pre-trained against scratch by the paired 2-SE rule on per-fold MCC; [] without both."""
    if not {"pre-trained", "scratch"} <= set(mcc):
        return []
    return ["", "### Pre-trained versus scratch", "", versus_scratch(mcc["pre-trained"], mcc["scratch"])]


def versus_scratch(pre: list[float], scr: list[float]) -> str:
    """One sentence: negative transfer, pre-training helps, or no clear difference."""
    detail = f"MCC {mean_se_text(pre)} vs {mean_se_text(scr)}, {pair_text(pre, scr)}"
    verdict = transfer.compare(pre, scr)
    if verdict == transfer.BEHIND:
        return f"**Negative transfer**: the pre-trained start is behind scratch: {detail}, beyond 2 SE."
    if verdict == transfer.AHEAD:
        return f"Pre-training helps: the pre-trained start is ahead of scratch: {detail}, beyond 2 SE."
    return f"No clear difference between pre-trained and scratch: {detail}, within 2 SE."


def few_label_lines(
    fractions, sizes: list[int], accuracy: dict[str, list[list[float]]], metrics: dict
) -> list[str]:
    """Pre-trained against scratch at each label fraction: the paired 2-SE rule on accuracy over the
    seeds (each seed's subset is the same for both); the verdicts go into ``metrics`` too. [] without
    both models."""
    if not {"pre-trained", "scratch"} <= set(accuracy):
        return []
    lines = [""]
    for i, (frac, n) in enumerate(zip(fractions, sizes)):
        pre, scr = accuracy["pre-trained"][i], accuracy["scratch"][i]
        mean, se = transfer.paired_difference(pre, scr)
        verdict = transfer.compare(pre, scr)
        key = f"fraction_{frac:g}_pre_trained_vs_scratch_accuracy"
        metrics.update({f"{key}_diff_mean": mean, f"{key}_verdict": verdict})
        if len(pre) < 2:
            # one seed has no spread (its standard error is infinite, which JSON cannot hold)
            how = "points (one seed: no spread to judge it by, so tied by the 2-SE rule; --fraction-seeds 2 or more)"
        else:
            metrics[f"{key}_diff_se"] = se
            how = f"± {100 * se:.1f} points (paired over {len(pre)} seeds, 2-SE rule)"
        lines.append(
            f"- {frac:.0%} of the labels ({n} sequences): pre-trained is {transfer.WORDS[verdict]} scratch, "
            f"accuracy {100 * mean:+.1f} {how}."
        )
    return lines


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
        f"Stratified {folds}-fold (a sequence's copies and reverse complements in one fold), mean ± "
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
    """Markdown: the title, then ``flags`` (the verdicts: :func:`flag_lines`), then the rest."""
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


# what can sit on a fine-tuned classifier's output: (name, its fit as fitted, its fit as kept)
ON_TOP = (
    ("likelihood fusion", "fitted_fusion", "fusion"),
    ("k-mer stack", "fitted_stack", "stack"),
    ("CNN stack", "fitted_cnn_stack", "cnn_stack"),
)


def on_top(classifier: Classifier) -> dict[str, tuple[bool, bool]]:
    """``{name: (fitted, kept)}`` for what :data:`ON_TOP` names, of one fold's classifier."""
    return {
        name: (getattr(classifier, fitted) is not None, getattr(classifier, kept) is not None)
        for name, fitted, kept in ON_TOP
    }


def on_top_lines(oof: dict) -> list[str]:
    """Per fine-tuned model, in how many folds each fusion or stack was fitted and kept, so that a
    reader knows how much of a model's score is its own."""
    cells = []
    for model, (_, per_fold) in oof.items():
        states = [m["on_top"] for m in per_fold if "on_top" in m]
        if not states:
            continue
        parts = []
        for name, _, _ in ON_TOP:
            fitted = sum(s[name][0] for s in states)
            kept = sum(s[name][1] for s in states)
            parts.append(f"{name} fitted in {fitted} of {len(states)} folds, kept in {kept}")
        cells.append(f"{model}: " + ", ".join(parts))
    if not cells:
        return []
    return ["", "On top of the fine-tuned classifiers in the folds: " + "; ".join(cells) + "."]
