"""iPromoter-2L with nested cross-validation: every choice made on inner validation splits, every outer
test fold scored once, five models side by side on the same folds with the same inner tuning.

    OMP_NUM_THREADS=1 python benchmarks/promoter_nested.py                  # the full run (~5 CPU-hours)
    OMP_NUM_THREADS=1 python benchmarks/promoter_nested.py --resume         # continue a killed run
    OMP_NUM_THREADS=1 python benchmarks/promoter_nested.py --quick --results-name promoter_nested_quick

Data: iPromoter-2L, 2,860 promoters + 2,860 non-promoters, 81 bp (read as
``benchmarks/promoter_ipromoter.py`` reads it).

Outer folds (5, stratified), for each seed in ``--seeds`` and each scheme in ``--schemes``:

- ``random``: ``StratifiedKFold(5, shuffle=True, random_state=seed)`` (the folds of
  ``promoter_ipromoter.py --seed SEED``);
- ``grouped``: two sequences sharing a 30-mer (either strand: the 30-mer or its reverse complement)
  are linked; linked components go whole into one fold (``StratifiedGroupKFold``). The statistics of
  this grouping (how many positives share a 30-mer with another positive, component sizes) are in
  the results.

Pre-training: once per seed, the ``tiny`` DNA model with overlapping 3-mers on the E. coli genome
decontaminated against all 5,720 sequences (``promoter_demo.promoter_pretraining``, 3,000 steps, as
``promoter_ipromoter.py`` does); its CPU time is recorded.

Models, each tuned on an inner split of each outer fold's training part and refitted once
(:data:`SELECTION_RULE` is the rule, written into the results): the pre-trained encoder fine-tuned
with the promoter task's own code (``sciPT.tasks.promoter_classifier.train_classifier``, one fine-tune per model),
the same architecture from scratch, k-mer (k = 1..5) logistic regression
(``sciPT.domains.dna.kmer.KmerLogisticRegression``), position-aware one-hot logistic regression, and a
small CNN of the CNNProm kind (``sciPT.domains.dna.cnn``). Each at all labels and at 5% of them.

Raw results: ``benchmarks/results/<--results-name>.json`` (default ``promoter_nested``), rewritten
after every model of every fold, so a killed run keeps what it finished and ``--resume`` skips it.
Work files (decontaminated genome, pre-training runs): ``benchmarks/out/<--results-name>/``.
:func:`render` turns the results into the markdown tables of ``benchmarks/RESULTS_promoter.md``.

Cost (estimated from the smoke run and single fits timed on fold 1's inner split, one thread): per
seed about 1.7 CPU-hours (pre-training 3 min; at all labels about 9 min per outer fold and scheme: each
fine-tune about 40-50 s, each CNN fit about 15 s, the logistic regressions seconds; at 5% about 35 s per
fold); three seeds about 5 CPU-hours. ``--quick`` takes longer than once stated (about 3.5
CPU-minutes): a later smoke run on 2 cores had done 10 of its 40 units after about 4.8 CPU-minutes,
and was stopped at 7 minutes of wall time, unfinished; its full cost is not measured.

Changed during the run (``protocol_changes`` in the results): on 2026-12-02 the promoter task's
fits got an epoch of at least 50 optimizer steps (``PromoterConfig.min_steps_per_epoch``, chosen on
inner validation by ``benchmarks/promoter_recipe.py``), and the CNN the same floor
(:data:`CNN_MIN_STEPS_PER_EPOCH`); at all labels it does not bind, so those units stand, and the
units at 5 % of the labels of both were removed and re-run.

CPU time is getrusage (this process and its children), so it does not depend on what else the
machine runs. Importing this module imports neither torch nor scikit-learn (``report.py`` imports it).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import resource
import shutil
import sys
import time
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
from summaries import mean_se
from summaries import verdict as verdict_of

HERE = Path(__file__).resolve().parent
LENGTH = 81
GROUP_K = 30
MODELS = ("pre-trained", "scratch", "k-mer LR", "one-hot LR", "CNN")
INNER_FRACTION = 0.2  # inner validation split of each outer training part (or its label subset)
EARLY_STOP_FRACTION = 0.1  # what a neural fit holds out for early stopping (the task's val_fraction)
# the promoter task's epoch floor (PromoterConfig.min_steps_per_epoch), given to the CNN too
CNN_MIN_STEPS_PER_EPOCH = 50
C_GRID = [
    10.0**e for e in range(-6, 3)
]  # 1e-6 .. 1e2; k-mer LR peaked at the low end of 1e-3 .. 1e2 on trial inner splits
GRIDS = {
    "pre-trained": [{"lr": lr, "head_dropout": d} for lr in (5e-4, 1e-3) for d in (0.1, 0.3)],
    "scratch": [{"lr": lr, "head_dropout": d} for lr in (5e-4, 1e-3) for d in (0.1, 0.3)],
    "k-mer LR": [{"C": c} for c in C_GRID],
    "one-hot LR": [{"C": c} for c in C_GRID],
    "CNN": [{"lr": lr, "dropout": d} for lr in (5e-4, 2e-3) for d in (0.2, 0.5)],
}
QUICK_GRIDS = {
    "pre-trained": [{"lr": 1e-3, "head_dropout": 0.3}, {"lr": 5e-4, "head_dropout": 0.1}],
    "scratch": [{"lr": 1e-3, "head_dropout": 0.3}, {"lr": 5e-4, "head_dropout": 0.1}],
    "k-mer LR": [{"C": 1e-2}, {"C": 1.0}],
    "one-hot LR": [{"C": 1e-2}, {"C": 1.0}],
    "CNN": [{"lr": 2e-3, "dropout": 0.2}, {"lr": 5e-4, "dropout": 0.5}],
}
FIXED = {
    "pre-trained / scratch": "the promoter task's defaults (tasks/promoter.py PromoterConfig) except the "
    "tuned lr and head dropout and ensemble = 1: 3-mer tokenizer (the pre-trained "
    "encoder's), conv head (128 filters of 15 positions on the hidden states and the one-hot "
    "tokens, max over 4, with their mean over the sequence beside it, 64-unit MLP), full "
    "fine-tuning, AdamW "
    "(weight decay 0.01), batch 32, constant lr after 50 warm-up steps, at most "
    "15 epochs of at least 50 optimizer steps (a small fit set drawn again until the epoch is full), "
    "patience 3; the likelihood fusion and the k-mer stack only where a grid setting names them",
    "k-mer LR": "counts of every k-mer, k = 1..5 (1,364 features), standardised, L2 logistic regression "
    "(lbfgs, max_iter 5000)",
    "one-hot LR": "one-hot of each of the 81 positions, given strand only (324 features; N = all zero), "
    "L2 logistic regression (lbfgs, max_iter 5000), no scaling",
    "CNN": "one-hot [4, 81] -> Conv1d 128 filters of width 15 -> ReLU -> max-pool 4 -> dropout -> "
    "dense 64 -> ReLU -> dropout -> 1 logit; AdamW (weight decay 0.01), batch 64, at most 40 "
    "epochs of at least 50 batches (as the fine-tunes), patience 5",
}
SELECTION_RULE = (
    "Each outer fold's training part (at a label fraction below 1: a stratified subset of that fraction "
    "of it, seed = seed + fold) is split once into an inner-fit part (80%) and an inner-validation part "
    "(20%), stratified by label and seeded (10000 + 100 seed + fold); in the grouped scheme the split "
    "keeps 30-mer components whole (StratifiedGroupKFold, 5 splits, the first one held out). Every "
    "candidate of a model's grid is trained on the inner-fit part and scored on the inner-validation "
    "part; the candidate with the highest inner-validation {metric} is chosen (ties, and undefined "
    "scores, go to the first candidate in grid order). The chosen candidate is refitted on the whole "
    "outer training part (or its label subset) and scored once on the outer test fold. Neural models "
    "(fine-tunes and CNN) stop early on a further 10% of whatever set they are fitted on (stratified; by "
    "components in the grouped scheme) and keep their best epoch's weights; logistic regressions fit the "
    "whole set. Candidates and the refit share the fit seed (1000 seed + fold). No outer test fold "
    "enters any choice; settings not in the grids are fixed beforehand (fixed_settings)."
)
VERDICT_RULE = (
    "A model is 'ahead' of (or 'behind') the pre-trained model when the mean of its paired "
    "per-fold differences (same seed, scheme, fraction and fold) exceeds twice the standard "
    "error of that mean (sample sd / sqrt(n), n = folds x seeds); otherwise 'tied'. Folds "
    "share training data, so the standard error is, if anything, too small."
)


def cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


# --- folds --------------------------------------------------------------------------------------
def shared_kmer_groups(
    codes: list[np.ndarray], labels: np.ndarray, k: int = GROUP_K
) -> tuple[np.ndarray, dict]:
    """Connected components of "shares a k-mer, either strand" and what they look like.

    A k-mer and its reverse complement count as the same (the smaller of the two base-4 integers,
    exact for k <= 31 in int64); windows with an N are skipped. Returns the component id of every
    sequence and statistics.
    """
    n = len(codes)
    parent = np.arange(n)

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    powers = 4 ** np.arange(k - 1, -1, -1, dtype=np.int64)
    holders: dict[int, list[int]] = {}
    for i, c in enumerate(codes):
        if len(c) < k:
            continue
        w = np.lib.stride_tricks.sliding_window_view(np.asarray(c, dtype=np.int64), k)
        w = w[(w < 4).all(1)]
        canonical = np.minimum((w * powers).sum(1), ((3 - w[:, ::-1]) * powers).sum(1))
        for v in np.unique(canonical).tolist():
            holders.setdefault(v, []).append(i)
    shares_same_class = np.zeros(n, dtype=bool)
    shares_any = np.zeros(n, dtype=bool)
    for ids in holders.values():
        if len(ids) < 2:
            continue
        shares_any[ids] = True
        for cls in (0, 1):
            same = [i for i in ids if labels[i] == cls]
            if len(same) > 1:
                shares_same_class[same] = True
        root = find(ids[0])
        for i in ids[1:]:
            r = find(i)
            if r != root:
                parent[r] = root
    groups = np.array([find(i) for i in range(n)])
    _, inverse, sizes = np.unique(groups, return_inverse=True, return_counts=True)
    mixed = sum(1 for g in np.unique(groups) if len(set(labels[groups == g].tolist())) > 1)
    stats = {
        "k": k,
        "either_strand": True,
        "sequences": n,
        "positives": int(labels.sum()),
        "negatives": int(n - labels.sum()),
        "positives_sharing_with_a_positive": int((shares_same_class & (labels == 1)).sum()),
        "negatives_sharing_with_a_negative": int((shares_same_class & (labels == 0)).sum()),
        "positives_sharing_with_any": int((shares_any & (labels == 1)).sum()),
        "negatives_sharing_with_any": int((shares_any & (labels == 0)).sum()),
        "components": int(len(sizes)),
        "component_sizes": {str(s): int(c) for s, c in sorted(Counter(sizes.tolist()).items())},
        "largest_component": int(sizes.max()),
        "mixed_class_components": int(mixed),
    }
    return inverse, stats


def outer_folds(labels: np.ndarray, groups: np.ndarray, scheme: str, seed: int, k: int):
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    x = np.zeros(len(labels))
    if scheme == "random":
        split = StratifiedKFold(k, shuffle=True, random_state=seed).split(x, labels)
    elif scheme == "grouped":
        split = StratifiedGroupKFold(k, shuffle=True, random_state=seed).split(x, labels, groups)
    else:
        raise SystemExit(f"--schemes: unknown scheme {scheme!r} (random, grouped)")
    return [(np.sort(a), np.sort(b)) for a, b in split]


def carve(
    idx: np.ndarray, labels: np.ndarray, groups: np.ndarray, scheme: str, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """``(keep, held)``: a stratified ``fraction`` of ``idx`` held out (random: at least 2 sequences, as
    the task's own early-stopping split; grouped: whole components, ``StratifiedGroupKFold`` with
    ``round(1 / fraction)`` splits, at most the smaller class's count, the first split held out)."""
    from sklearn.model_selection import StratifiedGroupKFold, train_test_split

    idx = np.asarray(idx)
    y = labels[idx]
    if scheme == "random":
        n_held = max(2, int(round(fraction * len(idx))))
        keep, held = train_test_split(idx, test_size=n_held, random_state=seed, stratify=y)
    else:
        n_splits = max(2, min(int(round(1 / fraction)), int(np.bincount(y, minlength=2).min())))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            k, h = next(
                StratifiedGroupKFold(n_splits, shuffle=True, random_state=seed).split(
                    np.zeros(len(idx)), y, groups[idx]
                )
            )
        keep, held = idx[k], idx[h]
    return np.sort(keep), np.sort(held)


def label_subset(idx: np.ndarray, labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """A stratified ``fraction`` of ``idx`` (as ``tasks/promoter.py cross_validate`` draws it)."""
    from sklearn.model_selection import train_test_split

    if fraction >= 1:
        return idx
    keep, _ = train_test_split(idx, train_size=fraction, random_state=seed, stratify=labels[idx])
    return np.sort(keep)


def digest(idx: np.ndarray) -> str:
    return hashlib.sha256(np.asarray(idx, dtype=np.int64).tobytes()).hexdigest()[:16]


# --- models -------------------------------------------------------------------------------------
class Models:
    """Fits every model on index sets of one data set; features are computed once."""

    def __init__(self, data, groups: np.ndarray, scheme: str, length: int = LENGTH):
        from sciPT.domains.dna.cnn import one_hot
        from sciPT.domains.dna.kmer import KmerLogisticRegression

        self.data, self.labels, self.groups, self.scheme = data, data.labels, groups, scheme
        self.length = length
        self.kmer_x = KmerLogisticRegression().features(data.codes)
        self.onehot = one_hot(data.codes, length)
        self.starts: dict = {}
        self._fitted = None  # (settings key, classifier) of the last fine-tune

    def early_stop_split(self, idx, seed):
        return carve(idx, self.labels, self.groups, self.scheme, EARLY_STOP_FRACTION, seed)

    def fit_predict(
        self, model: str, setting: dict, fit_idx: np.ndarray, pred_idx: np.ndarray, seed: int
    ) -> tuple[np.ndarray, dict]:
        if model in ("pre-trained", "scratch"):
            return self._finetune(self.starts[model], setting, fit_idx, pred_idx, seed)
        if model in ("k-mer LR", "one-hot LR"):
            return self._logistic(model, setting, fit_idx, pred_idx, seed)
        if model == "CNN":
            return self._cnn(setting, fit_idx, pred_idx, seed)
        raise SystemExit(f"--models: unknown model {model!r} ({', '.join(MODELS)})")

    def _finetune(self, start, setting, fit_idx, pred_idx, seed):
        """One fine-tune; ``setting["naturalness"]`` (absent: off) says whether the prediction
        fuses in the pre-trained model's likelihood: ``True`` as the task does (where the fitted
        fusion's likelihood ratio reaches the task's threshold), ``"always"`` the fitted fusion
        whatever its ratio. Settings that differ only in it share the fine-tune (the fusion is
        fitted after it and leaves it unchanged). ``setting["head_warmup"]`` (absent: 0) trains the
        head alone for that fraction of the run first (LP-FT, ``finetune.head_warmup``);
        ``setting["composition"]`` (absent: the task's default) says whether the mean over positions
        sits beside the head's pooled map (``head.composition``). ``setting["kmer_stack"]`` (absent:
        off) fits the task's k-mer stack on top of the fusion (``naturalness`` must be on, so that
        the stack sees what it is applied to): ``True`` predicts through it where the task keeps it,
        ``"off"`` the same fine-tune without it. ``setting["cnn_stack"]`` (absent: off; with the k-mer
        stack) likewise for the CNN stack on top of it. ``setting["shift"]`` (absent: 0) is the
        task's ``shift``: training sequences rolled by up to that many bases."""
        from sciPT.tasks.promoter import PromoterConfig
        from sciPT.tasks.promoter_classifier import train_classifier

        warmup = setting.get("head_warmup", 0)
        composition = setting.get("composition", PromoterConfig().head.composition)
        stacked = "kmer_stack" in setting
        if stacked and not setting.get("naturalness"):
            raise SystemExit(
                "a kmer_stack setting needs naturalness True (the stack is fitted on the fused logit)"
            )
        key = (
            id(start),
            setting["lr"],
            setting["head_dropout"],
            warmup,
            composition,
            stacked,
            "cnn_stack" in setting,
            setting.get("shift", 0),
            digest(fit_idx),
            seed,
        )
        if self._fitted is None or self._fitted[0] != key:
            # the CNN stack only where a setting names it: the runs recorded before it had none
            cfg = PromoterConfig(
                ensemble=1, naturalness=True, kmer_stack=stacked, cnn_stack="cnn_stack" in setting
            )
            cfg.train.lr = setting["lr"]
            cfg.head.dropout = setting["head_dropout"]
            cfg.head.composition = composition
            cfg.finetune.head_warmup = warmup
            cfg.shift = setting.get("shift", 0)
            cfg.train.seed = seed
            fit, stop = self.early_stop_split(fit_idx, seed)
            classifier = train_classifier(
                start, cfg, self.data.subset(fit), self.length, seed, val=self.data.subset(stop)
            )
            self._fitted = (key, classifier)
        classifier = self._fitted[1]
        codes = self.data.subset(pred_idx).codes
        if setting.get("naturalness", False):
            fitted = classifier.fitted_fusion
            info = {
                "fusion": fitted.to_dict() if fitted is not None else None,
                "fusion_kept": classifier.fusion is not None,
            }
            if stacked:
                stack = classifier.fitted_stack
                info["kmer_stack"] = (
                    None if stack is None else {**stack.to_dict(), "kept": classifier.stack is not None}
                )
                if "cnn_stack" in setting:
                    stack = classifier.fitted_cnn_stack
                    info["cnn_stack"] = (
                        None
                        if stack is None
                        else {**stack.to_dict(), "kept": classifier.cnn_stack is not None}
                    )
                    if setting["cnn_stack"] == "off":
                        return classifier.predict(codes, cnn_stack=None), info
                if setting["kmer_stack"] == "off":
                    return classifier.predict(codes, stack=None), info
            if setting["naturalness"] == "always" and fitted is not None:
                return classifier.predict(codes, fusion=fitted), info
            return classifier.predict(codes), info
        return classifier.predict(codes, fusion=None), {}

    def _logistic(self, model, setting, fit_idx, pred_idx, seed):
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.linear_model import LogisticRegression

        if model == "k-mer LR":
            from sciPT.domains.dna.kmer import KmerLogisticRegression

            estimator, x = KmerLogisticRegression(C=setting["C"], seed=seed).pipeline, self.kmer_x
        else:
            estimator = LogisticRegression(C=setting["C"], max_iter=5000, random_state=seed)
            x = self.onehot.reshape(len(self.onehot), -1)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            estimator.fit(x[fit_idx], self.labels[fit_idx])
        converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
        return estimator.predict_proba(x[pred_idx])[:, 1], ({} if converged else {"converged": False})

    def _cnn(self, setting, fit_idx, pred_idx, seed):
        from sciPT.domains.dna.cnn import fit_cnn, predict_cnn

        fit, stop = self.early_stop_split(fit_idx, seed)
        done = fit_cnn(
            self.onehot[fit],
            self.labels[fit],
            self.onehot[stop],
            self.labels[stop],
            lr=setting["lr"],
            dropout=setting["dropout"],
            seed=seed,
            min_steps_per_epoch=CNN_MIN_STEPS_PER_EPOCH,
        )
        return predict_cnn(done.model, self.onehot[pred_idx]), {
            "epochs": done.epochs,
            "best_epoch": done.best_epoch,
        }


def select(candidates: list[dict], metric: str) -> int:
    """Index of the candidate with the highest inner-validation ``metric``; the first on ties/NaN."""

    def score(i: int) -> float:
        v = candidates[i]["inner_val"][metric]
        return -math.inf if v is None or math.isnan(v) else v

    return max(range(len(candidates)), key=score)


def clean(metrics: dict) -> dict:
    return {k: (None if isinstance(v, float) and math.isnan(v) else float(v)) for k, v in metrics.items()}


# --- the run ------------------------------------------------------------------------------------
def protocol(args, grids) -> dict:
    return {
        "selection_rule": SELECTION_RULE.format(
            metric=args.select_metric.upper() if args.select_metric == "auroc" else args.select_metric
        ),
        "verdict_rule": VERDICT_RULE,
        "select_metric": args.select_metric,
        "grids": grids,
        "fixed_settings": FIXED,
        "folds": args.folds,
        "inner_val_fraction": INNER_FRACTION,
        "early_stop_fraction": EARLY_STOP_FRACTION,
        "group_k": GROUP_K,
        "subset": args.subset,
        "pretrain_steps": args.pretrain_steps,
        "length": LENGTH,
        "quick": args.quick,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--schemes", nargs="+", default=["random", "grouped"], choices=["random", "grouped"])
    parser.add_argument("--fractions", type=float, nargs="+", default=[1.0, 0.05])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--folds", type=int, default=5, help="outer folds (default 5)")
    parser.add_argument("--max-folds", type=int, default=0, help="run only the first N outer folds (0 = all)")
    parser.add_argument(
        "--subset", type=int, default=0, help="use a stratified subset of this many sequences (0 = all 5,720)"
    )
    parser.add_argument(
        "--pretrain-steps", type=int, default=None, help="default: promoter_demo.PRETRAIN_STEPS"
    )
    parser.add_argument("--select-metric", default="auroc", choices=["auroc", "accuracy", "mcc"])
    parser.add_argument("--results-name", default="promoter_nested")
    parser.add_argument("--work", default=None, help="work folder (default benchmarks/out/<results-name>)")
    parser.add_argument("--resume", action="store_true", help="keep the finished units of an earlier run")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: seed 0, 600 sequences, 2 of 5 folds, 100 pre-training steps, grids of 2",
    )
    args = parser.parse_args(argv)

    import torch

    sys.path.insert(0, str(HERE))
    from provenance import RESULTS, finish, provenance, write_results

    from sciPT.diagnostics.contamination import decontaminate
    from sciPT.domains.dna.data import DNA_SPEC, ECOLI_GENOME, read_pair
    from sciPT.metrics import binary_metrics
    from sciPT.pretrain import pretrain
    from sciPT.sequences import resolve_data_path
    from sciPT.tasks.promoter import PromoterConfig
    from sciPT.tasks.promoter_demo import NEGATIVES, POSITIVES, PRETRAIN_STEPS, promoter_pretraining
    from sciPT.tasks.promoter_start import Start, load_start

    torch.set_num_threads(1)
    grids = GRIDS
    if args.quick:
        args.seeds, args.subset, args.max_folds = args.seeds[:1], args.subset or 600, args.max_folds or 2
        args.pretrain_steps = args.pretrain_steps or 100
        grids = QUICK_GRIDS
    args.pretrain_steps = args.pretrain_steps or PRETRAIN_STEPS
    grids = {m: grids[m] for m in args.models}
    work = Path(args.work or HERE / "out" / args.results_name)
    started, cpu0 = time.time(), cpu_seconds()

    full = read_pair(resolve_data_path(POSITIVES), resolve_data_path(NEGATIVES))
    full_groups, group_stats = shared_kmer_groups(full.codes, full.labels)
    if args.subset:
        from sklearn.model_selection import train_test_split

        keep, _ = train_test_split(
            np.arange(len(full)), train_size=args.subset, random_state=0, stratify=full.labels
        )
        keep = np.sort(keep)
        data, groups = full.subset(keep), full_groups[keep]
    else:
        data, groups = full, full_groups
    labels = data.labels

    new_protocol = protocol(args, grids)
    path = RESULTS / f"{args.results_name}.json"
    if args.resume and path.is_file():
        record = json.loads(path.read_text())
        old = {k: v for k, v in record["protocol"].items() if k != "grids"}
        mismatch = [k for k, v in new_protocol.items() if k != "grids" and old.get(k) != v]
        mismatch += [
            f"grids[{m}]"
            for m in grids
            if m in record["protocol"]["grids"] and record["protocol"]["grids"][m] != grids[m]
        ]
        if mismatch:
            raise SystemExit(
                f"--resume: {path} was run with other settings ({', '.join(mismatch)}); "
                "use another --results-name or drop --resume"
            )
        record["protocol"]["grids"].update(grids)
        record.setdefault("provenance_resumed", []).append(provenance())
    else:
        record = {
            "provenance": provenance(),
            "protocol": new_protocol,
            "data": {
                "source": full.source,
                "sequences": len(full),
                "positives": int(full.labels.sum()),
                "used": len(data),
                "length": LENGTH,
            },
            "grouping": group_stats,
            "decontamination": None,
            "pretraining": {},
            "folds": {},
            "units": [],
            "plan": {},
        }
    plan = record["plan"]
    for key, values in (
        ("seeds", args.seeds),
        ("schemes", args.schemes),
        ("fractions", args.fractions),
        ("models", args.models),
    ):
        plan[key] = list(dict.fromkeys([*plan.get(key, []), *values]))  # earlier runs' first, in order
    plan["folds_run"] = min(args.folds, args.max_folds or args.folds)
    done = {(u["seed"], u["scheme"], u["fraction"], u["fold"], u["model"]) for u in record["units"]}
    work.mkdir(parents=True, exist_ok=True)

    def save() -> None:
        expected = (
            len(plan["seeds"])
            * len(plan["schemes"])
            * len(plan["fractions"])
            * len(plan["models"])
            * plan["folds_run"]
        )
        record["complete"] = len(record["units"]) >= expected
        write_results(args.results_name, finish(record))

    # decontaminated genome (against all 5,720 sequences), once per work folder
    genome = work / "ecoli_decontaminated.fa.gz"
    if record["decontamination"] is None or not genome.is_file():
        c = cpu_seconds()
        record["decontamination"] = decontaminate(
            resolve_data_path(ECOLI_GENOME), full.codes, genome, DNA_SPEC, progress=False
        )
        record["decontamination"]["cpu_s"] = cpu_seconds() - c
        save()

    def pretrained_start(seed: int):
        run_dir = work / f"pretrain_seed{seed}"
        entry = record["pretraining"].get(str(seed))
        if entry is None or not (run_dir / "metrics.json").is_file():
            shutil.rmtree(run_dir, ignore_errors=True)
            cfg = promoter_pretraining(str(genome))
            cfg.train.max_steps = args.pretrain_steps
            cfg.train.seed = seed
            cfg.train.val_every = cfg.train.checkpoint_every = max(1, args.pretrain_steps // 6)
            c, w = cpu_seconds(), time.time()
            pretrain(
                "dna", cfg, run_dir, command=f"benchmarks/promoter_nested.py (pre-training, seed {seed})"
            )
            metrics = json.loads((run_dir / "metrics.json").read_text())
            record["pretraining"][str(seed)] = {
                "steps": args.pretrain_steps,
                "cpu_s": cpu_seconds() - c,
                "wall_s": time.time() - w,
                **{k: v for k, v in metrics.items() if isinstance(v, (int, float))},
            }
            save()
        return load_start(str(run_dir), PromoterConfig(init=str(run_dir)))

    for seed in args.seeds:
        for scheme in args.schemes:
            folds = outer_folds(labels, groups, scheme, seed, args.folds)[: plan["folds_run"]]
            fold_key = f"seed={seed}/scheme={scheme}"
            described = [
                {
                    "train": len(a),
                    "test": len(b),
                    "test_positives": int(labels[b].sum()),
                    "test_sha": digest(b),
                }
                for a, b in folds
            ]
            recorded = record["folds"].get(fold_key, [])
            if any(a != b for a, b in zip(recorded, described)):
                raise SystemExit(f"--resume: the {fold_key} folds differ from the recorded ones")
            record["folds"][fold_key] = max(recorded, described, key=len)
            models = None
            for fraction in args.fractions:
                for f, (outer_train, outer_test) in enumerate(folds):
                    todo = [m for m in args.models if (seed, scheme, fraction, f, m) not in done]
                    if not todo:
                        continue
                    if models is None:
                        models = Models(data, groups, scheme)
                    if "pre-trained" in todo or "scratch" in todo:
                        pre = models.starts.get("pre-trained") or pretrained_start(seed)
                        models.starts = {
                            "pre-trained": pre,
                            "scratch": Start("scratch", None, pre.model_cfg, pre.tokenizer, [], {}),
                        }
                    train = label_subset(outer_train, labels, fraction, seed + f)
                    inner_fit, inner_val = carve(
                        train, labels, groups, scheme, INNER_FRACTION, 10_000 + 100 * seed + f
                    )
                    fit_seed = 1000 * seed + f
                    for model in todo:
                        c0 = cpu_seconds()
                        candidates = []
                        for setting in grids[model]:
                            p, info = models.fit_predict(model, setting, inner_fit, inner_val, fit_seed)
                            candidates.append(
                                {
                                    "setting": setting,
                                    "inner_val": clean(binary_metrics(labels[inner_val], p)),
                                    **({"info": info} if info else {}),
                                }
                            )
                        best = select(candidates, args.select_metric)
                        c1 = cpu_seconds()
                        p, info = models.fit_predict(model, grids[model][best], train, outer_test, fit_seed)
                        c2 = cpu_seconds()
                        unit = {
                            "seed": seed,
                            "scheme": scheme,
                            "fraction": fraction,
                            "fold": f,
                            "model": model,
                            "n_train": len(train),
                            "n_inner_fit": len(inner_fit),
                            "n_inner_val": len(inner_val),
                            "n_test": len(outer_test),
                            "chosen": grids[model][best],
                            "chosen_index": best,
                            "candidates": candidates,
                            "test": clean(binary_metrics(labels[outer_test], p)),
                            "cpu_s": c2 - c0,
                            "cpu_s_tuning": c1 - c0,
                            "cpu_s_refit": c2 - c1,
                            **({"refit_info": info} if info else {}),
                        }
                        record["units"].append(unit)
                        done.add((seed, scheme, fraction, f, model))
                        save()
                        print(
                            json.dumps(
                                {
                                    "seed": seed,
                                    "scheme": scheme,
                                    "fraction": fraction,
                                    "fold": f,
                                    "model": model,
                                    "chosen": unit["chosen"],
                                    "accuracy": round(unit["test"]["accuracy"], 4),
                                    "auroc": round(unit["test"]["auroc"], 4),
                                    "cpu_s": round(unit["cpu_s"], 1),
                                }
                            ),
                            flush=True,
                        )
    record.setdefault("invocations", []).append(
        {
            "cpu_s": cpu_seconds() - cpu0,
            "wall_s": time.time() - started,
            "resumed": bool(record.get("provenance_resumed")),
        }
    )
    save()
    print(f"wrote {path}", file=sys.stderr)
    return 0


# --- the report ---------------------------------------------------------------------------------
def _setting(setting: dict) -> str:
    return ", ".join(f"{k.replace('_', ' ')} {v:g}" for k, v in setting.items())


def _versus(values: dict, model: str) -> str:
    """``values``: ``{(seed, fold, model): metric}`` of one scheme and fraction."""
    pairs = [
        (values[key], values[(*key[:-1], "pre-trained")])
        for key in values
        if key[-1] == model and (*key[:-1], "pre-trained") in values
    ]
    diffs = [a - b for a, b in pairs if a is not None and b is not None]
    if len(diffs) < 2:
        return "n/a"
    mean, se = mean_se(diffs)
    verdict = verdict_of(mean, se)
    return f"{100 * mean:+.1f} ± {100 * se:.1f} pts: {verdict}"


def render(results: dict) -> str:
    """Markdown tables of a ``promoter_nested`` record; ``results`` is either the record or
    ``report.py``'s map of results-file stems to records (``results["promoter_nested"]`` is used)."""
    record = results if "units" in results else results.get("promoter_nested")
    if record is None:
        return "No results yet: run `benchmarks/promoter_nested.py`.\n"
    p, proto, plan, g = record["provenance"], record["protocol"], record["plan"], record["grouping"]
    invocations = [p, *record.get("provenance_resumed", [])]
    resumed = len(invocations) - 1
    # scores do not depend on the CPU beyond rounding, but a resumed run may span machines
    cpus = list(dict.fromkeys(f"{q['cpu']['model']}, {q['cpu']['cores']} cores" for q in invocations))
    out = [
        f"Measured by `{p['command']}` at commit `{p['commit'][:10]}`"
        f"{' (uncommitted changes)' if p.get('dirty') else ''}, {p['date'][:10]}"
        f"{f' (run in {resumed + 1} invocations, resumed with --resume)' if resumed else ''}; {' and '.join(cpus)}; "
        f"Python {p['python']}, torch {p['versions'].get('torch', '?')}, "
        f"scikit-learn {p['versions'].get('scikit-learn', '?')}; "
        f"OMP_NUM_THREADS={p['env'].get('OMP_NUM_THREADS')}."
    ]
    n_units = len(record["units"])
    expected = (
        len(plan["seeds"])
        * len(plan["schemes"])
        * len(plan["fractions"])
        * len(plan["models"])
        * plan["folds_run"]
    )
    data = record["data"]
    out += [
        "",
        f"Data: {data['used']:,} of {data['sequences']:,} sequences ({data['length']} bp); seeds "
        f"{', '.join(map(str, plan['seeds']))}; {plan['folds_run']} of {proto['folds']} outer folds per seed and "
        f"scheme; label fractions {', '.join(f'{x:g}' for x in plan['fractions'])}. "
        + (
            "All planned units are done."
            if n_units >= expected
            else f"**Incomplete: {n_units} of {expected} units (model x fold) done.**"
        )
        + (" **Smoke run (`--quick`): not a measurement.**" if proto.get("quick") else ""),
    ]
    out += [
        "",
        f"Selection rule: {proto['selection_rule']}",
        "",
        f"Verdicts: {proto['verdict_rule']}",
        "",
        "| model | grid (tuned on the inner split) | fixed |",
        "|---|---|---|",
    ]
    fixed = proto["fixed_settings"]
    for model, grid in proto["grids"].items():
        fixed_text = fixed.get(model) or fixed.get("pre-trained / scratch", "")
        out.append(f"| {model} | {'; '.join(_setting(s) for s in grid)} | {fixed_text} |")
    sizes = ", ".join(f"{c:,} of size {s}" for s, c in g["component_sizes"].items())
    out += [
        "",
        f"Grouped folds: {g['positives_sharing_with_a_positive']:,} of {g['positives']:,} positives share a "
        f"{g['k']}-mer (either strand) with another positive, {g['negatives_sharing_with_a_negative']:,} of "
        f"{g['negatives']:,} negatives with another negative; {g['mixed_class_components']} components mix the "
        f"classes. Components ({g['components']:,}): {sizes}; the largest has {g['largest_component']} sequences. "
        "Each component lies in one outer fold (and on one side of every inner split).",
    ]

    by_cell: dict = {}
    for u in record["units"]:
        by_cell.setdefault((u["scheme"], u["fraction"]), []).append(u)
    for scheme in plan["schemes"]:
        for fraction in plan["fractions"]:
            units = by_cell.get((scheme, fraction), [])
            if not units:
                continue
            n_seeds = len({u["seed"] for u in units})
            out += [
                "",
                f"**{scheme} folds, {'all labels' if fraction >= 1 else f'{fraction:.0%} of the labels'}** "
                f"(mean ± standard error over folds x seeds; {n_seeds} seed(s); vs pre-trained: paired "
                "per-fold difference, model minus pre-trained, in points):",
                "",
                "| model | n | accuracy | MCC | AUROC | vs pre-trained: accuracy | vs pre-trained: AUROC "
                "| inner-val AUROC of the chosen | CPU s per fold |",
                "|---|---|---|---|---|---|---|---|---|",
            ]
            keyed = {
                metric: {(u["seed"], u["fold"], u["model"]): u["test"][metric] for u in units}
                for metric in ("accuracy", "auroc")
            }
            for model in [m for m in MODELS if m in plan["models"]]:
                mine = [u for u in units if u["model"] == model]
                if not mine:
                    continue
                cells = []
                for metric in ("accuracy", "mcc", "auroc"):
                    mean, se = mean_se([u["test"][metric] for u in mine])
                    cells.append(f"{mean:.3f} ± {se:.3f}" if not math.isnan(se) else f"{mean:.3f}")
                versus = (
                    ["—", "—"]
                    if model == "pre-trained"
                    else [_versus(keyed[m], model) for m in ("accuracy", "auroc")]
                )
                inner, _ = mean_se([u["candidates"][u["chosen_index"]]["inner_val"]["auroc"] for u in mine])
                cpu_mean, _ = mean_se([u["cpu_s"] for u in mine])
                out.append(
                    f"| {model} | {len(mine)} | {' | '.join(cells)} | {' | '.join(versus)} | {inner:.3f} "
                    f"| {cpu_mean:,.0f} |"
                )
    out += [
        "",
        "Settings chosen on the inner splits (times chosen / outer folds x seeds):",
        "",
        "| scheme | labels | model | chosen |",
        "|---|---|---|---|",
    ]
    for scheme in plan["schemes"]:
        for fraction in plan["fractions"]:
            units = by_cell.get((scheme, fraction), [])
            for model in [m for m in MODELS if m in plan["models"]]:
                mine = [u for u in units if u["model"] == model]
                if mine:
                    counts = Counter(json.dumps(u["chosen"], sort_keys=True) for u in mine)
                    text = "; ".join(
                        f"{_setting(json.loads(s))}: {c}/{len(mine)}"
                        for s, c in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
                    )
                    out.append(f"| {scheme} | {fraction:g} | {model} | {text} |")
    pre = record.get("pretraining", {})
    total_units = sum(u["cpu_s"] for u in record["units"])
    total_pre = sum(v["cpu_s"] for v in pre.values())
    decon = (record.get("decontamination") or {}).get("cpu_s", 0.0)
    per_model = {m: sum(u["cpu_s"] for u in record["units"] if u["model"] == m) for m in MODELS}
    out += [
        "",
        "CPU time (getrusage, process and children): pre-training "
        + ", ".join(f"seed {s} {v['cpu_s']:,.0f} s ({v['steps']:,} steps)" for s, v in sorted(pre.items()))
        + f"; decontamination {decon:,.0f} s; tuning and refits "
        + ", ".join(f"{m} {per_model[m] / 60:,.1f} min" for m in MODELS if per_model[m])
        + f"; **in all {(total_units + total_pre + decon) / 3600:,.2f} CPU-hours**.",
        "",
    ]
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
