"""Near copies inside the baselines' inner splits, on iPromoter-2L: what grouping them changes.

A model's inner split (the CNN's early-stopping part, the k-mer regression's folds for its choice
of C) judges it on sequences it did not fit. Where the inner split keeps only exact copies together,
near copies of fitted sequences sit in it (726 of iPromoter-2L's 5,720 records have one), and the
inner judgement flatters the model. Since commit ``c80c8f0`` the promoter run keeps near copies
together there too (:class:`sciPT.diagnostics.overlap.NearCopies`). Protocol, fixed before the run:

- **Data and outer folds.** iPromoter-2L (the shipped benchmark), the promoter task's 5 folds (near
  copies kept together, :func:`sciPT.tasks.promoter_evaluation.cv_folds`) for each seed of
  ``--seeds`` (the folds' seed); each outer test fold is scored once per model and grouping.
- **Models.** The two baselines a promoter run fits beside the fine-tunes, as it fits them: the
  k-mer logistic regression (C chosen by inner 5-fold log loss, seed the run's) and the CNN (10 %
  early-stopping split, seed ``seed + fold``, epochs of at least the run's
  ``min_steps_per_epoch``).
- **Groupings.** ``exact``: the inner splits keep exact copies (either strand) together, as before
  ``c80c8f0``; ``near``: near copies too, by the run's rule (16-mers, 0.5).
- **Reported.** Per (seed, fold, model, grouping): outer AUROC and MCC; the k-mer regression's chosen
  C; the CNN's best epoch, its inner validation loss there and the same weighted loss on the outer
  fold (their difference is how much the inner split flattered it), and how many of its inner
  validation records have a near copy in its fit part. Means ± standard errors over seeds x folds,
  and the paired difference near - exact with the 2-SE rule. Nothing is tuned here.

Raw results: ``benchmarks/results/promoter_inner_splits.json``; :func:`render` is its block of
``RESULTS_promoter.md``.

    OMP_NUM_THREADS=1 python benchmarks/promoter_inner_splits.py

Cost: about 2 CPU-seconds per k-mer fit and 18 per CNN fit (the grouping included); 50 of each at the
defaults (5 seeds), 16.5 CPU-minutes in all.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
GROUPINGS = ("exact", "near")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--results-name", default="promoter_inner_splits")
    args = parser.parse_args(argv)

    import numpy as np
    import torch

    sys.path.insert(0, str(HERE))
    from promoter_budget import cpu_seconds
    from provenance import finish, provenance, write_results

    from sciPT.domains.dna.cnn import CNNClassifier
    from sciPT.domains.dna.data import COMPLEMENT, DNA_SPEC, read_pair
    from sciPT.domains.dna.kmer import KmerLogisticRegression
    from sciPT.files import resolve_data_path
    from sciPT.metrics import binary_metrics
    from sciPT.tasks.promoter_config import PromoterConfig, near_copies
    from sciPT.tasks.promoter_demo import NEGATIVES, POSITIVES
    from sciPT.tasks.promoter_evaluation import cv_folds

    torch.set_num_threads(1)
    data = read_pair(resolve_data_path(POSITIVES), resolve_data_path(NEGATIVES))
    base = PromoterConfig(folds=args.folds)
    rule = near_copies(base)
    length = max(len(c) for c in data.codes)
    record = {
        "provenance": provenance(argv),
        "protocol": {
            "seeds": args.seeds,
            "folds": args.folds,
            "near_rule": {"k": rule.k, "threshold": rule.threshold},
            "min_steps_per_epoch": base.min_steps_per_epoch,
            "records": len(data),
        },
        "units": [],
    }
    for seed in args.seeds:
        cfg = PromoterConfig(folds=args.folds)
        cfg.train.seed = seed
        for f, (train_idx, test_idx) in enumerate(cv_folds(cfg, data)):
            train, held = data.subset(train_idx), data.subset(test_idx)
            groups = rule.groups(train.codes, COMPLEMENT, DNA_SPEC.alphabet.n_core)
            for grouping in GROUPINGS:
                near = rule if grouping == "near" else None
                unit = {"seed": seed, "fold": f, "grouping": grouping}
                c0 = cpu_seconds()
                kmer = KmerLogisticRegression(C=None, seed=seed, near=near).fit(train.codes, train.labels)
                m = binary_metrics(held.labels, kmer.predict_proba(held.codes))
                unit["kmer"] = {
                    "auroc": m["auroc"],
                    "mcc": m["mcc"],
                    "chosen_c": float(kmer.pipeline[-1].C),
                    "cpu_s": cpu_seconds() - c0,
                }
                c0 = cpu_seconds()
                cnn = CNNClassifier(
                    length, seed=seed + f, min_steps_per_epoch=cfg.min_steps_per_epoch, near=near
                )
                cnn.fit(train.codes, train.labels)
                fit_idx, val_idx = cnn.split_  # the split it stopped on
                leaked = np.isin(groups[val_idx], groups[fit_idx])
                p = cnn.predict_proba(held.codes)
                m = binary_metrics(held.labels, p)
                logits = cnn.score()(held.codes)
                positives = float(train.labels[fit_idx].sum())
                pos_weight = (len(fit_idx) - positives) / max(1.0, positives)
                unit["cnn"] = {
                    "auroc": m["auroc"],
                    "mcc": m["mcc"],
                    "best_epoch": cnn.fit_.best_epoch,
                    "inner_val_loss": cnn.fit_.best_val_loss,
                    "outer_loss": _weighted_bce(logits, held.labels, pos_weight),
                    "inner_val_records": len(val_idx),
                    "inner_val_with_near_copy_fitted": int(leaked.sum()),
                    "cpu_s": cpu_seconds() - c0,
                }
                record["units"].append(unit)
                write_results(args.results_name, finish(record))
                print(
                    f"seed {seed} fold {f + 1} {grouping}: k-mer AUROC {unit['kmer']['auroc']:.3f} "
                    f"(C {unit['kmer']['chosen_c']:g}), CNN AUROC {unit['cnn']['auroc']:.3f} "
                    f"(inner {unit['cnn']['inner_val_loss']:.3f}, outer {unit['cnn']['outer_loss']:.3f}, "
                    f"{unit['cnn']['inner_val_with_near_copy_fitted']} leaked)",
                    file=sys.stderr,
                    flush=True,
                )
    print(render({args.results_name: record}, args.results_name))
    return 0


def _weighted_bce(logits, labels, pos_weight: float) -> float:
    """The CNN's training loss (:func:`sciPT.domains.dna.cnn.fit_cnn`: binary cross-entropy on
    logits, positives weighted by ``pos_weight``), mean over records, as its early stopping reads it."""
    import torch

    z, y = torch.as_tensor(logits, dtype=torch.float64), torch.as_tensor(labels, dtype=torch.float64)
    return float(
        torch.nn.functional.binary_cross_entropy_with_logits(
            z, y, pos_weight=torch.tensor(pos_weight, dtype=torch.float64)
        )
    )


# --- rendering (standard library only) ---------------------------------------------------------


def render(results: dict, name: str = "promoter_inner_splits") -> str:
    from report import provenance_line
    from summaries import mean_se
    from summaries import verdict as verdict_of

    if name not in results:
        return "No results yet: run `OMP_NUM_THREADS=1 python benchmarks/promoter_inner_splits.py`.\n"
    record = results[name]
    units = record["units"]
    protocol = record["protocol"]
    by = {(u["seed"], u["fold"], u["grouping"]): u for u in units}
    pairs = [
        (by[s, f, "exact"], by[s, f, "near"]) for (s, f, g) in by if g == "exact" and (s, f, "near") in by
    ]
    rule = protocol["near_rule"]
    lines = [
        f"Measured by {provenance_line(record)}",
        "",
        f"iPromoter-2L ({protocol['records']:,} records), the task's {protocol['folds']} folds for seeds "
        f"{', '.join(map(str, protocol['seeds']))} ({len(pairs)} paired folds); near copies: "
        f"{rule['k']}-mers, threshold {rule['threshold']:g}. Mean ± standard error over seeds x folds; "
        "the last column is the paired difference near - exact.",
        "",
        "| model: quantity | inner splits keep exact copies together | near copies too | near - exact |",
        "|---|---|---|---|",
    ]
    rows = [
        ("k-mer LR: outer AUROC", "kmer", "auroc", 3),
        ("k-mer LR: outer MCC", "kmer", "mcc", 3),
        ("k-mer LR: log10 of the chosen C", "kmer", "log10_c", 2),
        ("CNN: outer AUROC", "cnn", "auroc", 3),
        ("CNN: outer MCC", "cnn", "mcc", 3),
        ("CNN: best epoch", "cnn", "best_epoch", 1),
        ("CNN: inner validation loss at the best epoch", "cnn", "inner_val_loss", 3),
        ("CNN: the same loss on the outer fold", "cnn", "outer_loss", 3),
        ("CNN: outer minus inner loss (the inner split's flattery)", "cnn", "optimism", 3),
        (
            "CNN: inner validation records with a near copy fitted",
            "cnn",
            "inner_val_with_near_copy_fitted",
            1,
        ),
    ]

    def value(unit, model, key):
        part = unit[model]
        if key == "log10_c":
            import math

            return math.log10(part["chosen_c"])
        if key == "optimism":
            return part["outer_loss"] - part["inner_val_loss"]
        return part[key]

    for label, model, key, digits in rows:
        exact = [value(a, model, key) for a, _ in pairs]
        near = [value(b, model, key) for _, b in pairs]
        diff = [n - e for e, n in zip(exact, near)]
        (me, se_e), (mn, se_n), (md, se_d) = mean_se(exact), mean_se(near), mean_se(diff)
        lines.append(
            f"| {label} | {me:.{digits}f} ± {se_e:.{digits}f} | {mn:.{digits}f} ± {se_n:.{digits}f} | "
            f"{md:+.{digits}f} ± {se_d:.{digits}f}: {verdict_of(md, se_d, 'higher', 'lower', 'tied')} |"
        )
    cpu = sum(u["kmer"]["cpu_s"] + u["cnn"]["cpu_s"] for u in units)
    lines += ["", f"{len(units)} (fold, grouping) units, {cpu / 60:.1f} CPU-minutes of fits."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
