"""The k-mer baseline: counts of every k-mer of a DNA sequence and an L2 logistic regression on
them (:class:`KmerLogisticRegression`), with its logit as one linear function of the counts
(:class:`KmerScore`) for export and stacking.

Position-free by construction: what it sees is composition, not where a motif sits; the promoter
task runs it beside every fine-tune (the classical baseline) and may stack its logit onto the
classifier's (:mod:`sciPT.tasks.promoter_stacking`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sciPT.diagnostics.overlap import NearCopies, split_keys

from .data import COMPLEMENT, DNA_SPEC

# the inverse regularisation strengths a cross-validated k-mer regression chooses among
KMER_CS = tuple(10.0**e for e in range(-6, 3))


def kmer_counts(codes: list[np.ndarray], ks=(1, 2, 3, 4, 5), chunk: int = 4096) -> np.ndarray:
    """Counts of every k-mer (A, C, G, T only: a window holding N is skipped) for each k in ``ks``.
    Shapes: ``[N, sum 4^k]``."""
    width = sum(4**k for k in ks)
    out = np.zeros((len(codes), width), dtype=np.float32)
    for start in range(0, len(codes), chunk):
        part = codes[start : start + chunk]
        longest = max((len(c) for c in part), default=0)
        # padded with N: windows reaching into the padding are skipped like any other N
        padded = np.full((len(part), longest), 4, dtype=np.int64)
        for row, c in enumerate(part):
            padded[row, : len(c)] = c
        column = 0
        for k in ks:
            size = 4**k
            if longest >= k:
                windows = np.lib.stride_tricks.sliding_window_view(padded, k, axis=1)
                ok = (windows < 4).all(-1)
                index = windows @ (4 ** np.arange(k - 1, -1, -1))
                flat = (np.arange(len(part))[:, None] * size + index)[ok]
                counts = np.bincount(flat, minlength=len(part) * size).reshape(len(part), size)
                out[start : start + len(part), column : column + size] = counts
            column += size
    return out


@dataclass
class KmerScore:
    """A fitted :class:`KmerLogisticRegression`'s logit as one linear function of the raw k-mer
    counts (the standardisation folded into ``weight`` and ``bias``), so that it exports as one
    vector. Shapes: ``weight`` ``[sum 4^k]``; codes -> logits ``[N]``."""

    weight: np.ndarray
    bias: float
    ks: tuple[int, ...] = (1, 2, 3, 4, 5)

    def __call__(self, codes: list[np.ndarray]) -> np.ndarray:
        return kmer_counts(codes, self.ks).astype(np.float64) @ self.weight + self.bias

    @staticmethod
    def mean(scores: list[KmerScore]) -> KmerScore:
        """The mean logit of several fits: itself one linear function of the counts."""
        return KmerScore(
            np.mean([s.weight for s in scores], axis=0),
            float(np.mean([s.bias for s in scores])),
            scores[0].ks,
        )


# the cross-validated choice stops climbing the path of C after this many values in a row whose
# mean held-out log loss is no better than the best so far (the loss is near-convex in log C, and
# the weakly regularised fits at the top of the grid cost most: 9 of the 10 s a path takes)
KMER_C_PATIENCE = 2


def cross_validated_c(
    x: np.ndarray, y: np.ndarray, cs=KMER_CS, folds: int = 5, seed: int = 0, keys: list | None = None
) -> float:
    """The ``C`` of an L2 logistic regression with the lowest mean held-out log loss over
    ``folds`` stratified, unshuffled folds (scikit-learn's ``LogisticRegressionCV`` folds and
    score; rows of equal ``keys`` kept in one fold, :mod:`sciPT.splits`; without ``keys``, equal
    feature rows),
    trying ``cs`` in increasing order, each fold's fit warm-started from its fit at the previous
    ``C``, and stopping after :data:`KMER_C_PATIENCE` values in a row no better than the best (ties
    go to the smaller ``C``); fewer folds where a class holds fewer distinct sequences. Fits and losses weigh each class alike (``class_weight="balanced"``,
    as :class:`KmerLogisticRegression`; with equal classes, no weighting at all). Shapes: ``x``
    ``[N, F]``, ``y`` ``[N]``."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import log_loss
    from sklearn.utils.class_weight import compute_sample_weight

    from sciPT.splits import distinct_per_class, grouped_folds

    if keys is None:
        keys = [row.tobytes() for row in np.ascontiguousarray(x)]
    # a small training part (an outer fold of 6 promoters keeps 4) holds fewer distinct sequences of
    # a class than folds: fewer folds, not a failure after the run's first fits
    folds = max(2, min(folds, *distinct_per_class(keys, y).values()))
    splits = grouped_folds(keys, y, folds, seed=None, source="the k-mer baseline's choice of C")
    models = [
        LogisticRegression(max_iter=5000, warm_start=True, random_state=seed, class_weight="balanced")
        for _ in splits
    ]
    best, best_loss, worse = None, np.inf, 0
    for c in sorted(cs):
        losses = []
        for model, (fit, held) in zip(models, splits):
            model.set_params(C=c).fit(x[fit], y[fit])
            weight = compute_sample_weight("balanced", y[held])  # each class counts alike, as in the fit
            losses.append(
                log_loss(y[held], model.predict_proba(x[held])[:, 1], labels=[0, 1], sample_weight=weight)
            )
        loss = float(np.mean(losses))
        if loss < best_loss:
            best, best_loss, worse = c, loss, 0
        else:
            worse += 1
            if worse == KMER_C_PATIENCE:
                break
    return best


class KmerLogisticRegression:
    """The classical baseline: counts of every k-mer for k in ``ks`` (A, C, G, T only), standardised,
    then an L2-regularised logistic regression (scikit-learn, ``C`` = inverse strength; ``None``, the
    default and the promoter task's: chosen among :data:`KMER_CS` by 5-fold cross-validated log loss
    on the training data, :func:`cross_validated_c`, a sequence's copies, and its near copies with
    ``near`` (:class:`sciPT.diagnostics.overlap.NearCopies`), in one fold), each class weighted alike
    (``class_weight="balanced"``), as the neural models weigh theirs, since every model is scored at
    a threshold of 0.5.

    Position-free by construction: it sees composition, not where a motif sits.
    """

    def __init__(
        self, ks=(1, 2, 3, 4, 5), C: float | None = None, seed: int = 0, near: NearCopies | None = None
    ):
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        self.ks, self.C, self.seed, self.near = tuple(ks), C, seed, near
        # each class weighted alike, as the neural models' loss weighs positives (pos_weight): scored
        # at 0.5 beside them, an unweighted fit at 1 promoter in 11 called every sequence negative
        # (MCC 0 in every fold, AUROC 0.85) and the report called it near chance
        regression = LogisticRegression(C=C or 1.0, max_iter=5000, random_state=seed, class_weight="balanced")
        self.pipeline = make_pipeline(StandardScaler(), regression)

    def features(self, codes: list[np.ndarray]) -> np.ndarray:
        return kmer_counts(codes, self.ks)

    def fit(self, codes: list[np.ndarray], labels: np.ndarray) -> KmerLogisticRegression:
        x = self.features(codes)
        if self.C is not None:
            self.pipeline.fit(x, labels)
            return self
        # the scaler is fitted once; C is chosen on the scaled counts and the regression fitted there,
        # a sequence's copies and reverse complements (and near copies with ``near``) on one side of
        # each split, as in the outer folds: on both sides, they favoured the weakest regularisation
        scaled = self.pipeline[0].fit_transform(x)
        keys = split_keys(codes, COMPLEMENT, DNA_SPEC.alphabet.n_core, self.near)
        c = cross_validated_c(scaled, np.asarray(labels), seed=self.seed, keys=keys)
        self.pipeline[-1].set_params(C=c).fit(scaled, labels)
        return self

    def predict_proba(self, codes: list[np.ndarray]) -> np.ndarray:
        return self.pipeline.predict_proba(self.features(codes))[:, 1]

    def score(self) -> KmerScore:
        """The fitted model's logit (:class:`KmerScore`)."""
        scaler, regression = self.pipeline[0], self.pipeline[-1]
        weight = regression.coef_[0].astype(np.float64) / scaler.scale_
        bias = float(regression.intercept_[0] - weight @ scaler.mean_)
        return KmerScore(weight, bias, self.ks)
