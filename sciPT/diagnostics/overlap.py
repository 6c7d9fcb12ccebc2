"""Exact repeats inside a labelled set and between two sets, on either strand.

Cross-validation and a test set measure what they claim only if no sequence sits on both sides:
a sequence that occurs in the training part and again in the held-out part (the same residues,
or, for nucleic acids, its reverse complement) is scored on what the model has seen, and one
labelled both positive and negative is a contradiction no model can fit. The contamination check
(:mod:`.contamination`) asks the same of the pre-training corpus; this module asks it of the
labelled data themselves.

A sequence's key is the smaller (bytewise) of its codes and its reverse complement's codes, so a
sequence and its reverse complement share one key; ``complement=None`` (proteins) compares the
sequences as given.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def strand_keys(codes: list[np.ndarray], complement: np.ndarray | None) -> list[bytes]:
    """One key per sequence, equal for a sequence and its reverse complement (module docstring)."""
    # the bytes of the complement table's uint8 (the readers' codes too): codes built elsewhere as
    # int64 would otherwise never equal their complement's bytes, and share no strand's key
    codes = [np.asarray(c, dtype=np.uint8) for c in codes]
    if complement is None:
        return [c.tobytes() for c in codes]
    return [min(c.tobytes(), complement[c[::-1]].tobytes()) for c in codes]


@dataclass
class Repeats:
    """What repeats inside one labelled set.

    Attributes:
        conflicting: distinct sequences that carry both labels.
        repeated: records whose sequence (either strand) occurs in an earlier record, whatever its
            label: the copies that a split by record would place on both sides of a fold
            (:mod:`sciPT.splits` keeps them together).
    """

    conflicting: int
    repeated: int


def repeats(codes: list[np.ndarray], labels: np.ndarray, complement: np.ndarray | None) -> Repeats:
    """Label conflicts and repeated records of a labelled set. Shapes: ``labels`` ``[N]`` of 0/1."""
    seen: dict[bytes, set[int]] = {}
    repeated = 0
    for key, label in zip(strand_keys(codes, complement), labels.tolist(), strict=True):
        repeated += key in seen
        seen.setdefault(key, set()).add(label)
    return Repeats(conflicting=sum(len(found) > 1 for found in seen.values()), repeated=repeated)


def found_in(
    codes: list[np.ndarray], reference: list[np.ndarray], complement: np.ndarray | None
) -> np.ndarray:
    """bool ``[len(codes)]``: True where the sequence (either strand) is one of ``reference``'s."""
    known = set(strand_keys(reference, complement))
    return np.array([key in known for key in strand_keys(codes, complement)], dtype=bool)
