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
:func:`copy_groups` joins the records of one set that are near copies of one another, and
:class:`NearCopies` is that rule as a setting a split or an estimator carries.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..sequences import INVALID
from .kmers import _EvalKmers, kmer_values

STRANDS_PER_CHUNK = 4096


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


@dataclass
class CopyGroups:
    """Records joined by exact and near copies (:func:`copy_groups`).

    Attributes:
        group: int ``[N]``, equal for the records of one group: exact copies (either strand), and
            records joined by a chain of near copies. Numbered by their first record.
        near: bool ``[N]``: a record with a near copy among the others (not an exact copy of it).
    """

    group: np.ndarray
    near: np.ndarray


@dataclass(frozen=True)
class NearCopies:
    """The rule that joins near copies (:func:`copy_groups`): ``k``-mers, and the fraction of its
    k-mer positions one record shares with another for the two to be near copies.

    An estimator holding out part of its training data (to stop early, to choose a regularisation)
    keeps each group on one side, as the outer folds do; without the rule it keeps exact copies
    together only, and its held-out part can hold near copies of what it fits.
    """

    k: int
    threshold: float

    def groups(self, codes: list[np.ndarray], complement: np.ndarray | None, n_core: int) -> np.ndarray:
        """Each record's group ``[N]`` (:attr:`CopyGroups.group`)."""
        return copy_groups(codes, complement, self.k, self.threshold, n_core).group


def split_keys(
    codes: list[np.ndarray], complement: np.ndarray | None, n_core: int, near: NearCopies | None
) -> list | np.ndarray:
    """What an inner split groups by: ``near``'s groups, or exact copies (:func:`strand_keys`)."""
    return strand_keys(codes, complement) if near is None else near.groups(codes, complement, n_core)


def copy_groups(
    codes: list[np.ndarray], complement: np.ndarray | None, k: int, threshold: float, n_core: int
) -> CopyGroups:
    """Group the records of one set by exact copies and near copies.

    Two records are near copies when one of them shares at least ``threshold`` of its k-mer
    positions (on its better strand) with the other alone: :func:`similarity_to` with the other as
    the reference, in either direction. Exact copies (equal :func:`strand_keys`) are one record
    here. Groups are the connected components: a window cut again a few bases along, and again, is
    one group however long the chain. Splits that keep a group on one side (:mod:`sciPT.splits`)
    then score no record whose near copy was fitted.
    """
    from scipy import sparse
    from scipy.sparse.csgraph import connected_components

    n = len(codes)
    if n == 0:
        return CopyGroups(np.zeros(0, np.int64), np.zeros(0, bool))
    index: dict[bytes, int] = {}
    copies = np.array([index.setdefault(key, len(index)) for key in strand_keys(codes, complement)])
    kmers = _EvalKmers(codes, k, n_core, complement)
    n_groups, n_strands, n_uniq = len(index), kmers.n_strands, len(kmers.uniq)
    owner = copies[kmers.group // n_strands]
    # a set of copies holds the k-mers of its first record as given (the query's two strands cover
    # the other strand), so a sequence holds no more k-mers for its reverse complement being there
    first = np.zeros(n, bool)
    first[np.unique(copies, return_index=True)[1]] = True
    given = (kmers.group % n_strands == 0) & first[kmers.group // n_strands]
    holds = sparse.csr_matrix(
        (np.ones(int(given.sum())), (kmers.inverse[given], owner[given])), shape=(n_uniq, n_groups)
    )
    holds.data[:] = 1  # a k-mer a record holds twice is one k-mer it holds
    reads = sparse.csr_matrix(
        (np.ones(len(kmers.group)), (kmers.group, kmers.inverse)), shape=(len(kmers.strands), n_uniq)
    )
    pairs = []
    # strands a chunk at a time: a k-mer many records hold (a repeat) pairs each reader with each
    # holder, and the whole product at once could outgrow memory
    for lo in range(0, reads.shape[0], STRANDS_PER_CHUNK):
        shared = (reads[lo : lo + STRANDS_PER_CHUNK] @ holds).tocoo()  # positions found per set
        row = shared.row + lo
        strand_owner = copies[row // n_strands]
        close = (shared.data >= threshold * kmers.n_kmers[row]) & (shared.col != strand_owner)
        pairs.append((strand_owner[close], shared.col[close]))
    a, b = (np.concatenate(side) for side in zip(*pairs))
    edges = sparse.coo_matrix((np.ones(len(a)), (a, b)), shape=(n_groups, n_groups))
    _, component = connected_components(edges, directed=False)
    has_near = np.zeros(n_groups, bool)
    has_near[a] = has_near[b] = True
    # renumber by first record, as sciPT.splits numbers groups
    _, first, inverse = np.unique(component[copies], return_index=True, return_inverse=True)
    order = np.argsort(np.argsort(first))
    return CopyGroups(order[inverse].astype(np.int64), has_near[copies])
