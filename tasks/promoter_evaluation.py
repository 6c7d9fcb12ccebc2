"""The promoter run's measurements: every model cross-validated on the same folds, sample efficiency
at fractions of the labels, and the overlap of evaluation sequences with the pre-training corpus.

:func:`sciPT.tasks.promoter_train.run_finetune` calls them; the verdicts on their results are
:mod:`.promoter_verdicts`, the report's text :mod:`.promoter_report`, the fine-tuned classifiers
:mod:`.promoter_classifier`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from sklearn.model_selection import train_test_split
from tqdm.auto import tqdm

from sciPT import plots
from sciPT.diagnostics.overlap import CopyGroups, copy_groups
from sciPT.domains.dna.cnn import CNNClassifier
from sciPT.domains.dna.data import DNA_SPEC, LabelledSequences
from sciPT.domains.dna.kmer import KmerLogisticRegression
from sciPT.metrics import binary_metrics
from sciPT.splits import grouped_folds, grouped_split

from .promoter_classifier import COMPLEMENT, crop, train_classifier
from .promoter_config import near_copies
from .promoter_fits import FitStore
from .promoter_report import classes_text, on_top, too_few_clean
from .promoter_start import Start
from .promoter_verdicts import CNN, KMER, few_label_lines, metric_key

if TYPE_CHECKING:
    from .promoter_config import PromoterConfig


def held_out_groups(cfg: PromoterConfig, data: LabelledSequences) -> CopyGroups:
    """The groups every split of a run keeps together: copies of a sequence (either strand) and near
    copies (:func:`sciPT.diagnostics.overlap.copy_groups` by :func:`.promoter_config.near_copies`:
    the run's ``contamination_k`` and ``contamination_threshold``), so a held-out score, and an
    early stop, is of sequences whose copies and near copies were not fitted."""
    rule = near_copies(cfg)
    return copy_groups(data.codes, COMPLEMENT, rule.k, rule.threshold, DNA_SPEC.alphabet.n_core)


def held_out_keys(cfg: PromoterConfig, data: LabelledSequences) -> np.ndarray:
    """Each record's group of :func:`held_out_groups`, the key the splits group by."""
    return held_out_groups(cfg, data).group


def cv_folds(cfg: PromoterConfig, data: LabelledSequences) -> list[tuple[np.ndarray, np.ndarray]]:
    """The ``(train, test)`` indices of the ``cfg.folds`` folds every model is scored on."""
    return grouped_folds(held_out_keys(cfg, data), data.labels, cfg.folds, cfg.train.seed, data.source)


def write_out_of_fold(path: Path, data: LabelledSequences, folds, oof: dict) -> None:
    """One row per record: its name, label, test fold (1-based) and each model's out-of-fold
    probability of a promoter, in file order (what every cross-validated figure is computed from)."""
    import csv

    from sciPT.io import atomic_text

    fold = np.zeros(len(data), dtype=int)
    for f, (_, test_idx) in enumerate(folds):
        fold[test_idx] = f + 1
    with atomic_text(path) as handle:
        writer = csv.writer(handle)
        writer.writerow(["record", "label", "fold", *oof])
        for i, name in enumerate(data.names):
            probabilities = [f"{oof[m][0][i]:.6f}" for m in oof]
            writer.writerow([name, int(data.labels[i]), int(fold[i]), *probabilities])


def cross_validate(
    starts: dict[str, Start],
    cfg: PromoterConfig,
    data: LabelledSequences,
    length: int,
    classical: bool,
    train_fraction: float = 1.0,
    fits: FitStore | None = None,
    folds: list[tuple[np.ndarray, np.ndarray]] | None = None,
) -> dict[str, tuple[np.ndarray, list[dict]]]:
    """Out-of-fold probabilities and per-fold metrics of every model, on the same folds; with
    ``classical``, the k-mer regression and the CNN beside the starts.

    ``train_fraction < 1`` trains each fold on a stratified subset of its training part (the same
    subset for every model) and still tests on the whole held-out fold: cross-validated sample
    efficiency. ``fits``: where each fit is kept as it completes, and taken from if it already was
    (a continued run, :mod:`.promoter_fits`). Fold ``f`` (from 0) draws its subset and seeds its
    fine-tunes and CNN with ``train.seed + f``, so every model of a fold starts alike and a fold
    refitted alone repeats itself; the k-mer regression takes ``train.seed`` on every fold.
    ``folds``: :func:`cv_folds` where the caller has them already.
    """
    folds = cv_folds(cfg, data) if folds is None else folds
    names = list(starts) + ([KMER, CNN] if classical else [])
    results = {n: (np.full(len(data), np.nan), []) for n in names}
    # closed on a stop too: left open, the bar was redrawn below the line saying what the run keeps
    with tqdm(total=len(folds) * len(names), desc="cross-validation", unit="fit") as bar:
        part = f"fraction {train_fraction:g}, " if train_fraction < 1 else ""
        for f, (train_idx, test_idx) in enumerate(folds):
            if train_fraction < 1:
                train_idx, _ = train_test_split(
                    train_idx,
                    train_size=train_fraction,
                    random_state=cfg.train.seed + f,
                    stratify=data.labels[train_idx],
                )
            train, held = data.subset(train_idx), data.subset(test_idx)
            for name in names:
                bar.set_postfix_str(f"fold {f + 1}/{len(folds)}, {name}")
                key = f"{part}fold {f + 1}, {name}"
                kept = fits.get(key) if fits is not None else None
                if kept is not None:
                    results[name][0][test_idx] = kept["probabilities"]
                    results[name][1].append(restored_metrics(kept["metrics"]))
                    bar.update()
                    continue
                if name == KMER:
                    p = (
                        KmerLogisticRegression(C=None, seed=cfg.train.seed, near=near_copies(cfg))
                        .fit(train.codes, train.labels)
                        .predict_proba(held.codes)
                    )
                elif name == CNN:
                    cnn = CNNClassifier(
                        length,
                        seed=cfg.train.seed + f,
                        min_steps_per_epoch=cfg.min_steps_per_epoch,
                        near=near_copies(cfg),
                    )
                    p = cnn.fit(crop(train.codes, length), train.labels).predict_proba(
                        crop(held.codes, length)
                    )
                else:
                    classifier = train_classifier(starts[name], cfg, train, length, cfg.train.seed + f)
                    p = classifier.predict(held.codes)
                results[name][0][test_idx] = p
                results[name][1].append(binary_metrics(held.labels, p))
                if name not in (KMER, CNN):
                    results[name][1][-1]["on_top"] = on_top(classifier)
                if fits is not None:
                    fits.put(
                        key, {"probabilities": np.asarray(p, float).tolist(), "metrics": results[name][1][-1]}
                    )
                bar.update()
    return results


def restored_metrics(kept: dict) -> dict:
    """A kept fit's metrics as the fit returned them (JSON made the ``on_top`` pairs lists)."""
    if "on_top" in kept:
        kept = {**kept, "on_top": {k: tuple(v) for k, v in kept["on_top"].items()}}
    return kept


def fraction_split(cfg, data: LabelledSequences) -> tuple[LabelledSequences, LabelledSequences]:
    """``(pool, held)``: the fixed 80 % the label fractions are drawn from and the 20 % they are
    scored on (copies and near copies of a sequence on one side: :func:`held_out_keys`)."""
    keys = held_out_keys(cfg, data)
    pool_idx, test_idx = grouped_split(keys, data.labels, math.ceil(0.2 * len(data)), cfg.train.seed)
    return data.subset(pool_idx), data.subset(test_idx)


def fraction_subset(pool: LabelledSequences, frac: float, seed: int) -> LabelledSequences:
    """The stratified subset of ``pool`` that label fraction ``frac`` trains on with ``seed``."""
    if frac >= 1:
        return pool
    n = max(4, int(round(frac * len(pool))))
    idx, _ = train_test_split(np.arange(len(pool)), train_size=n, random_state=seed, stratify=pool.labels)
    return pool.subset(idx)


def fraction_seeds(cfg) -> range:
    """The seeds of each label fraction's subsets and fits: ``--seed`` onwards, as the folds take
    ``seed + fold``, so a run made with another ``--seed`` to gauge the spread draws other ones."""
    return range(cfg.train.seed, cfg.train.seed + cfg.fraction_seeds)


def sample_efficiency(starts, cfg, data, length, run, metrics, fits: FitStore | None = None) -> list[str]:
    """Stratified subsets of a fixed 80% pool (:func:`fraction_split`, :func:`fraction_subset`),
    evaluated on the remaining 20%, several seeds; ``fits`` as for :func:`cross_validate`."""
    pool, held = fraction_split(cfg, data)
    fractions = sorted(cfg.label_fractions)
    results = {name: [[] for _ in fractions] for name in starts}
    sizes = []
    # closed on a stop too: left open, the bar was redrawn below the line saying what the run keeps
    with tqdm(
        total=len(fractions) * cfg.fraction_seeds * len(starts), desc="sample efficiency", unit="fit"
    ) as bar:
        for i, frac in enumerate(fractions):
            for j, seed in enumerate(fraction_seeds(cfg)):
                subset = fraction_subset(pool, frac, seed)
                if j == 0:
                    sizes.append(len(subset))
                for name, start in starts.items():
                    key = f"labels {frac:g}, seed {seed}, {name}"
                    kept = fits.get(key) if fits is not None else None
                    if kept is None:
                        p = train_classifier(start, cfg, subset, length, seed).predict(held.codes)
                        kept = {"accuracy": binary_metrics(held.labels, p)["accuracy"]}
                        if fits is not None:
                            fits.put(key, kept)
                    results[name][i].append(kept["accuracy"])
                    bar.update()
    lines = [
        "",
        "## Sample efficiency",
        "",
        f"Accuracy on a fixed 20% held-out split (mean ± std over {cfg.fraction_seeds} seeds):"
        if cfg.fraction_seeds > 1
        else "Accuracy on a fixed 20% held-out split (one seed: no spread):",
        "",
        "| fraction | " + " | ".join(starts) + " |",
        "|---|" + "---|" * len(starts),
    ]
    for i, frac in enumerate(fractions):
        # one seed has no spread to show: "± 0.000" would read as a measured one
        cells = [
            f"{np.mean(results[n][i]):.3f}"
            + (f" ± {np.std(results[n][i]):.3f}" if len(results[n][i]) > 1 else "")
            for n in starts
        ]
        lines.append(f"| {frac:g} | " + " | ".join(cells) + " |")
        for n in starts:
            metrics[f"fraction_{frac:g}_{metric_key(n)}_accuracy_mean"] = float(np.mean(results[n][i]))
    lines += few_label_lines(fractions, sizes, results, metrics)
    png = plots.sample_efficiency(fractions, results, run.plot_path("sample_efficiency.png"))
    return lines + ["", f"![sample efficiency](plots/{png.name})"]


def contamination_lines(
    pretrained_on: list,
    data: LabelledSequences,
    k: int,
    threshold: float,
    p: np.ndarray,
    metrics: dict,
    prefix: str,
    others: dict | None = None,
    counts: str = "contamination",
    pooled: bool = False,
) -> list[str]:
    """State the overlap of ``data`` with the pre-training corpus; add its counts to ``metrics``
    (``<counts>_verbatim``, ...) and the clean subset's metrics (``<prefix>_clean_<metric>``).
    ``pooled``: ``p`` holds the folds' out-of-fold predictions, and the clean metrics are one
    figure over all of them, not the folds' mean of the table above, which the line says."""
    if pretrained_on is None:
        return [
            "Contamination unknown: the model (a Hugging Face folder, `--init hf:`) records no "
            "pre-training corpus, so its overlap with these sequences cannot be checked."
        ]
    if not pretrained_on:
        return ["The model was not pre-trained (no corpus recorded): no contamination to check."]
    from sciPT.diagnostics.contamination import check_contamination
    from sciPT.sequences import Corpus

    missing = [f["path"] for f in pretrained_on if not Path(f["path"]).is_file()]
    if missing:
        return [f"Contamination unknown: the pre-training corpus {missing[0]} is not on this machine."]
    corpus = Corpus([f["path"] for f in pretrained_on], DNA_SPEC)
    found = check_contamination(data.codes, corpus, k=k, threshold=threshold, complement=COMPLEMENT)
    clean = ~found.near
    positives = int(data.labels[clean].sum())
    negatives = int(clean.sum()) - positives
    metrics.update({f"{counts}_{key}": v for key, v in found.summary().items()})
    metrics.update({f"{counts}_clean_positives": positives, f"{counts}_clean_negatives": negatives})
    lines = [found.sentence()]
    too_few = too_few_clean(positives, negatives, "measure on")
    if too_few is None:
        clean_metrics = binary_metrics(data.labels[clean], p[clean])
        metrics.update({f"{prefix}_clean_{key}": v for key, v in clean_metrics.items()})
        for name, q in (others or {}).items():
            metrics.update(
                {
                    f"{metric_key(name)}_clean_{key}": v
                    for key, v in binary_metrics(data.labels[clean], q[clean]).items()
                }
            )
        how = "; out-of-fold predictions pooled over folds" if pooled else ""
        lines.append(
            f"On the {int(clean.sum())} clean sequences ({classes_text(positives, negatives)}{how}): "
            f"accuracy {clean_metrics['accuracy']:.3f}, MCC {clean_metrics['mcc']:.3f}."
        )
    else:
        lines.append(
            f"{too_few}, so no metric is given on it. Pre-train on a decontaminated corpus "
            "(`scipt data decontaminate`) to measure the gain of pre-training cleanly."
        )
    return lines


def training_overlap_lines(
    hashes: np.ndarray | None, why: str, data: LabelledSequences, p: np.ndarray, metrics: dict
) -> tuple[str | None, list[str]]:
    """How many of ``data``'s sequences (either strand) the exported model was trained on, by its
    record of them (``hashes``, :func:`.promoter_export.read_training_record`; None: ``why`` it
    cannot be read): the one-line warning (also for standard error; None when none was), and the
    report's lines. Adds ``eval_in_training`` (when checked), the held-out subset's class counts
    (``eval_held_out_positives``/``_negatives``) and its metrics (``eval_held_out_<metric>``, where
    it holds :data:`.promoter_report.MIN_CLEAN_PER_CLASS` of each class) to ``metrics``, as the
    contamination check does for its clean subset."""
    if hashes is None:
        return None, [
            f"Training overlap not checked: {why}, so whether these sequences were among those it "
            "was trained on cannot be said."
        ]
    from .promoter_export import sequence_hashes

    seen = np.isin(sequence_hashes(data.codes), hashes)
    n, total = int(seen.sum()), len(data)
    metrics["eval_in_training"] = n
    if not n:
        return None, [f"None of the {total} evaluation sequences were in this model's training data."]
    warning = (
        f"{n} of {total} evaluation sequences were in this model's training data: the scores on them are "
        "not held-out"
    )
    held = ~seen
    positives = int(data.labels[held].sum())
    negatives = int(held.sum()) - positives
    metrics.update({"eval_held_out_positives": positives, "eval_held_out_negatives": negatives})
    lines = [f"{warning} (a sequence or its reverse complement)."]
    too_few = too_few_clean(positives, negatives, "measure on")
    if too_few is None:
        held_metrics = binary_metrics(data.labels[held], p[held])
        metrics.update({f"eval_held_out_{key}": v for key, v in held_metrics.items()})
        lines.append(
            f"On the {int(held.sum())} held-out sequences ({classes_text(positives, negatives)}): "
            f"accuracy {held_metrics['accuracy']:.3f}, MCC {held_metrics['mcc']:.3f}."
        )
    else:
        # too_few_clean names the subset as the contamination check's; here it is the held-out one
        lines.append(f"{too_few.replace('clean subset', 'held-out subset')}, so no metric is given on it.")
    return warning, lines
