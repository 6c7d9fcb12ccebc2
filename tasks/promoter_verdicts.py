"""The promoter report's verdicts: near chance, behind a baseline, negative transfer, the recommendation.

:func:`flag_lines` gives the report's first lines (a model near chance, a model behind a classical
baseline (the k-mer regression or the CNN), negative transfer, the model recommended for this data
size, and the rules behind them), by the rules of :mod:`sciPT.diagnostics.transfer`;
:func:`transfer_metrics` gives the same verdicts as numbers for ``metrics.json`` (keys as in
:func:`metric_key`), and :func:`recommended_start` the start ``--export recommended`` trains from.
The rest of the report (its tables and sections, the contamination flag, the markdown itself) is
:mod:`.promoter_report`.
"""

from __future__ import annotations

from sciPT.diagnostics import transfer
from sciPT.metrics import NAMES as METRIC_NAMES


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
    "differences; recommended = among the models not near chance, the best by mean MCC, unless a "
    "simpler model (k-mer LR < CNN < scratch < pre-trained) is tied with it, then the simplest of those tied."
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


def recommendation_pairs(names) -> list[tuple[str, str]]:
    """:func:`comparison_pairs` and every model against each simpler one (the CNN against the k-mer
    LR): the comparisons a recommendation rests on, each in metrics.json and the report."""
    pairs = comparison_pairs(names)
    order = [n for n in SIMPLEST_FIRST if n in names]
    more = [(a, b) for i, a in enumerate(order) for b in order[:i] if (a, b) not in pairs]
    return pairs + more


def transfer_metrics(mcc: dict[str, list[float]]) -> dict[str, float]:
    """The numbers behind the verdicts, for metrics.json (keys as in :func:`metric_key`)."""
    out = {}
    for name, v in mcc.items():
        key = metric_key(name)
        out.update({f"{key}_mcc_fold{i + 1}": x for i, x in enumerate(v)})
        out[f"{key}_near_chance"] = float(transfer.near_chance(v))
    for a, b in recommendation_pairs(mcc):
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
            f"{where} none of these models: every one is near chance; more (or better) labelled "
            "data comes first."
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


def flag_lines(
    mcc: dict[str, list[float]],
    n_sequences: int,
    exported: str | None = None,
    export_option: str = "start",
    contamination: str | None = None,
) -> list[str]:
    """The report's first lines: evaluation data in the pre-training corpus (``contamination``,
    :func:`.promoter_report.contamination_flag`), models near chance, models behind a classical
    baseline, negative transfer, the recommendation for this data size (and, with ``exported``, the
    exported model where it is not the recommended one: :func:`exported_line`), and the rules behind
    them."""
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
        for a, b in recommendation_pairs(mcc)
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
