"""Repeats inside a labelled set and between two sets, on either strand: exact and near copies.

Cross-validation and a test set measure what they claim only if no sequence sits on both sides:
a sequence that occurs in the training part and again in the held-out part (the same residues,
or, for nucleic acids, its reverse complement) is scored on what the model has seen, and one
labelled both positive and negative is a contradiction no model can fit. The contamination check
(:mod:`.contamination`) asks the same of the pre-training corpus; this module asks it of the
labelled data themselves.

A sequence's key is the smaller (bytewise) of its codes and its reverse complement's codes, so a
sequence and its reverse complement share one key; ``complement=None`` (proteins) compares the
sequences as given.

Exact copies are not the only ones. A promoter annotated at two nearby start sites, or a window cut
again a few bases along, is a *near copy*: most of its k-mers occur in the other. Published splits
have them: 232 of the 256 promoters of iPromoter-2L's independent set are near copies of its
benchmark's, and 4 exact ones (``benchmarks/contamination_ipromoter.py``). :func:`similarity_to`
measures each sequence against a reference set with the contamination check's similarity
(:mod:`.contamination`, the reference in place of the corpus): the fraction of the sequence's k-mer
positions, on its better strand, whose k-mer occurs in some reference sequence;
:func:`similarity_within` measures each record of one set against the others, its exact copies
excepted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..sequences import INVALID
from .kmers import _EvalKmers, kmer_values


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


def similarity_to(
    codes: list[np.ndarray],
    reference: list[np.ndarray],
    complement: np.ndarray | None,
    k: int,
    n_core: int,
) -> np.ndarray:
    """float ``[len(codes)]`` in ``[0, 1]``: each sequence's k-mer similarity to ``reference``.

    The fraction of the sequence's valid k-mer positions (a k-mer with a non-core residue is
    skipped) whose k-mer occurs in a reference sequence, as given; the larger of the sequence's and
    its reverse complement's fractions (``complement=None``: the sequence as given). A sequence
    without a valid k-mer scores 0. Exact copies score 1.
    """
    if not codes:
        return np.zeros(0)
    kmers = _EvalKmers(codes, k, n_core, complement)
    joined = [np.append(np.asarray(r, dtype=np.uint8), INVALID) for r in reference]
    values, valid = kmer_values(np.concatenate(joined) if joined else np.zeros(0, np.uint8), k, n_core)
    known = np.isin(kmers.uniq.values, values[valid])
    shared = np.bincount(kmers.group[known[kmers.inverse]], minlength=len(kmers.strands))
    fraction = np.divide(shared, kmers.n_kmers, out=np.zeros(len(shared)), where=kmers.n_kmers > 0)
    return fraction.reshape(len(codes), kmers.n_strands).max(1)


def similarity_within(
    codes: list[np.ndarray], complement: np.ndarray | None, k: int, n_core: int
) -> np.ndarray:
    """float ``[len(codes)]``: each record's :func:`similarity_to` the other records of the set,
    leaving out its exact copies (equal :func:`strand_keys`), which :func:`repeats` counts."""
    if not codes:
        return np.zeros(0)
    index: dict[bytes, int] = {}
    copies = np.array([index.setdefault(key, len(index)) for key in strand_keys(codes, complement)])
    kmers = _EvalKmers(codes, k, n_core, complement)
    n_groups, n_strands = len(index), kmers.n_strands
    owner = copies[kmers.group // n_strands]  # each occurrence's set of copies
    pair = kmers.inverse.astype(np.int64) * n_groups + owner
    # a reference k-mer is one a record reads as given (the query's two strands cover the other)
    given = np.unique(pair[kmers.group % n_strands == 0])
    holders = np.bincount(given // n_groups, minlength=len(kmers.uniq))
    shared = holders[kmers.inverse] - np.isin(pair, given) > 0
    counts = np.bincount(kmers.group[shared], minlength=len(kmers.strands))
    fraction = np.divide(counts, kmers.n_kmers, out=np.zeros(len(counts)), where=kmers.n_kmers > 0)
    return fraction.reshape(len(codes), n_strands).max(1)
