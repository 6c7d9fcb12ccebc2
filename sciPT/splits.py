"""Stratified splits that keep every copy of a sequence on one side.

A labelled set may hold a sequence twice (a promoter listed under two genes, a positive and its
reverse complement). Split by record, the copies can land on both sides of a fold or of an
early-stopping split, and the held-out score then includes what the model was fitted on. These
splits group the records first, by a key equal for the copies (for DNA
:func:`sciPT.diagnostics.overlap.strand_keys`: a sequence and its reverse complement share one;
:class:`sciPT.diagnostics.overlap.NearCopies` groups near copies too), stratify the groups by the
label of each group's first record, and give every record its group's side. Groups are taken in the order of their first record, so on a set without copies the splits
are exactly the record-level ones of scikit-learn with the same seed.

Shapes: ``keys`` and ``labels`` ``(N,)``; the splits are arrays of record indices.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np

from .errors import DataError


def _groups(keys: Sequence[Hashable], labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(group of each record, label of each group)``, groups numbered by their first record."""
    index: dict[Hashable, int] = {}
    group = np.array([index.setdefault(k, len(index)) for k in keys], dtype=np.int64)
    _, first = np.unique(group, return_index=True)  # groups are numbered 0, 1, ... in order
    return group, np.asarray(labels)[first]


def _per_class(group_labels: np.ndarray) -> dict:
    """``{label: number of groups}``."""
    values, counts = np.unique(group_labels, return_counts=True)
    return {v.item(): int(c) for v, c in zip(values, counts)}


def distinct_per_class(keys: Sequence[Hashable], labels: np.ndarray) -> dict:
    """How many distinct sequences (groups) each label has, counted by their first record's label."""
    return _per_class(_groups(keys, labels)[1])


def grouped_folds(
    keys: Sequence[Hashable],
    labels: np.ndarray,
    folds: int,
    seed: int | None,
    source: str = "the data",
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified ``folds``-fold cross-validation, ``[(train indices, test indices), ...]``, with
    every copy (equal ``keys``) in the same fold; ``seed=None``: the groups in order, unshuffled."""
    from sklearn.model_selection import StratifiedKFold

    group, group_labels = _groups(keys, labels)
    counts = _per_class(group_labels)
    fewest = min(counts, key=counts.get)
    if counts[fewest] < folds:
        raise DataError(
            f"{source}: {folds} folds need at least {folds} distinct sequences of each class "
            f"(copies, reverse complements and grouped near copies count once); label {fewest} has "
            f"{counts[fewest]}"
        )
    out = []
    splitter = StratifiedKFold(folds, shuffle=seed is not None, random_state=seed)
    for _, test_groups in splitter.split(np.zeros(len(group_labels)), group_labels):
        test = np.isin(group, test_groups)
        out.append((np.flatnonzero(~test), np.flatnonzero(test)))
    return out


def grouped_split(
    keys: Sequence[Hashable], labels: np.ndarray, test_size: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """``(fit indices, held-out indices)``, stratified, every copy on one side: ``test_size``
    records held out when there are no copies; otherwise ``test_size`` scaled to the number of
    groups, so the held-out records number more or fewer as the chosen groups are larger or smaller
    than average, and at least one group of each class on each side. Raises :class:`DataError` when
    a class has fewer than two distinct sequences."""
    from sklearn.model_selection import train_test_split

    group, group_labels = _groups(keys, labels)
    n_groups = len(group_labels)
    counts = _per_class(group_labels)
    if len(counts) < 2 or min(counts.values()) < 2:
        raise DataError(
            "an early-stopping split needs at least 2 distinct sequences of each class (copies, "
            f"reverse complements and grouped near copies count once); found {counts}"
        )
    # stratification puts at least one group of each class on each side
    classes = len(counts)
    held_groups = min(n_groups - classes, max(classes, round(test_size * n_groups / len(group))))
    fit, held = train_test_split(
        np.arange(n_groups), test_size=held_groups, random_state=seed, stratify=group_labels
    )
    # records in the order scikit-learn gives their groups (without copies: its very output)
    members = [[] for _ in range(n_groups)]
    for record, g in enumerate(group):
        members[g].append(record)

    def expand(groups: np.ndarray) -> np.ndarray:
        return np.array([r for g in groups for r in members[g]], dtype=np.int64)

    return expand(fit), expand(held)
