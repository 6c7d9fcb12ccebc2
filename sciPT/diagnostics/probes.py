"""Linear probes: how much of a label a frozen representation holds, before any fine-tuning.

A fine-tuned model's score mixes what pre-training put in the encoder with what fine-tuning found
on its own, and fine-tuning varies from seed to seed. A linear probe (Alain & Bengio 2016) asks the
representation alone: a logistic regression on the frozen embeddings ``e`` (one vector per input),

.. math::

    p(y = 1 \\mid e) = \\sigma(w^\\top z + b), \\qquad z = (e - \\mu) / s,

with ``mu`` and ``s`` the training part's per-feature mean and standard deviation (a constant
feature is left centred, at 0), and ``w`` penalised by ``||w||^2 / (2C)``. Fitted on each fold's
training part and scored on its held-out part, it gives one AUROC per fold; against the same probe
on the embeddings of an encoder of the same shape at its random initialisation, the per-fold
difference says whether pre-training made the label more linearly readable (the paired rule of
:mod:`.transfer`). A random transformer is not a weak baseline: its embeddings mix the input's
composition through fixed random maps, which already separates many labels, so only a gain over it
is pre-training's.

``C`` is chosen on each training part alone, by a stratified inner cross-validation over
:data:`CS` (log loss; the smallest ``C`` among the equally good), so the held-out part decides
nothing. Folds are given by the caller, who groups copies and near copies as its own folds do; with
``groups`` the inner folds keep each group whole too (:func:`sciPT.splits.grouped_folds`), so a
near copy of a record the inner fit saw does not judge its ``C``.

Shapes: ``embeddings`` ``[N, D]``, ``labels`` ``[N]`` of 0/1, ``groups`` ``[N]``; a fold is
``(train indices, test indices)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

CS = (1e-3, 1e-2, 1e-1, 1.0, 10.0)
"""The probe's inverse regularisation strengths tried on each training part."""
INNER_FOLDS = 3


@dataclass
class ProbeReport:
    """A linear probe's held-out scores, one per fold, and the ``C`` each fold chose."""

    auroc: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    chosen_c: list[float] = field(default_factory=list)


def _standardise(train: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    mean, sd = train.mean(0), train.std(0)
    sd = np.where(sd > 0, sd, 1.0)  # a constant feature stays centred at 0 and carries nothing
    return [(x - mean) / sd for x in (train, *others)]


def _choose_c(x: np.ndarray, y: np.ndarray, seed: int, groups: np.ndarray | None = None) -> float:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import log_loss

    from sciPT.splits import distinct_per_class, grouped_folds

    groups = np.arange(len(y)) if groups is None else groups
    counts = distinct_per_class(groups.tolist(), y)
    folds = min(INNER_FOLDS, *(counts.get(label, 0) for label in (0, 1)))
    if folds < 2:
        return 1.0  # too few of a class to validate: the default strength
    losses = np.zeros(len(CS))
    # without groups, each record its own: scikit-learn's StratifiedKFold with this seed
    for fit, val in grouped_folds(groups.tolist(), y, folds, seed):
        xf, xv = _standardise(x[fit], x[val])
        for i, c in enumerate(CS):
            model = LogisticRegression(C=c, max_iter=2000).fit(xf, y[fit])
            losses[i] += log_loss(y[val], model.predict_proba(xv)[:, 1], labels=[0, 1])
    best = losses.min()
    return float(next(c for c, loss in zip(CS, losses) if np.isclose(loss, best, rtol=1e-9, atol=0.0)))


def linear_probe(
    embeddings: np.ndarray,
    labels: np.ndarray,
    folds: Sequence[tuple[np.ndarray, np.ndarray]],
    seed: int = 0,
    groups: np.ndarray | None = None,
) -> ProbeReport:
    """Fit a logistic regression on each fold's training part of ``embeddings`` (``C`` chosen
    there, on inner folds that keep each of ``groups`` whole; module docstring) and score it on the
    fold's held-out part: AUROC and accuracy at 0.5. A held-out part with one class scores an
    AUROC of NaN."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    x = np.asarray(embeddings, dtype=np.float64)
    y = np.asarray(labels).astype(int)
    report = ProbeReport()
    for train, test in folds:
        c = _choose_c(x[train], y[train], seed, None if groups is None else np.asarray(groups)[train])
        xt, xh = _standardise(x[train], x[test])
        p = LogisticRegression(C=c, max_iter=2000).fit(xt, y[train]).predict_proba(xh)[:, 1]
        two = len(np.unique(y[test])) == 2
        report.auroc.append(float(roc_auc_score(y[test], p)) if two else float("nan"))
        report.accuracy.append(float(np.mean((p >= 0.5) == y[test])))
        report.chosen_c.append(c)
    return report
