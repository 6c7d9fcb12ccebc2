"""K-mers packed into ``int64`` and looked up in bulk: what the contamination check
(:mod:`.contamination`), corpus curation (:mod:`sciPT.curation`) and negative sampling
(:mod:`sciPT.negatives`) compare sequences with.

The k-mers of a sequence are packed in ``int64`` (``b = ceil(log2 n_core)`` bits per residue: 2 for
DNA, so ``k <= 31``; 5 for proteins, ``k <= 12``; :func:`kmer_values`); a k-mer containing a
non-core residue (``N``, ``X``) is invalid. The k-mers of every evaluation sequence and of its
reverse complement are sorted once (``np.unique``, :class:`_EvalKmers`). A corpus is streamed over
its memory map in chunks that overlap by ``k - 1`` residues (k-mers never span two records,
:func:`_scan`), and each chunk's k-mers are looked up (a bitmap on their low bits, then a binary
search for the few that pass, :class:`KmerSet`).
"""

from __future__ import annotations

import math

import numpy as np
from tqdm.auto import tqdm

from ..sequences import INVALID, Corpus

CHUNK = 1 << 21  # k-mer starts per chunk: ~100 MB of temporaries at most


def bits_per_residue(n_core: int) -> int:
    return max(1, math.ceil(math.log2(n_core)))


def max_k(n_core: int) -> int:
    """Longest k-mer that packs into a non-negative ``int64``."""
    return 62 // bits_per_residue(n_core)


def kmer_values(
    codes: np.ndarray, k: int, n_core: int, breaks: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Pack every k-mer of ``codes`` into an ``int64`` (``bits_per_residue`` bits per residue).

    Args:
        codes: ``[L]`` residue codes; codes ``>= n_core`` (``N``, separators) invalidate a k-mer.
        breaks: optional bool ``[L]``, True at the first residue of a record: no k-mer spans one.

    Returns:
        ``values`` int64 ``[L - k + 1]`` and ``valid`` bool ``[L - k + 1]``.
    """
    n = len(codes) - k + 1
    if n <= 0:
        return np.zeros(0, np.int64), np.zeros(0, bool)
    bits = bits_per_residue(n_core)
    bad = codes >= n_core
    x = codes.astype(np.int64)
    x[bad] = 0
    values = _pack(x, k, bits)
    valid = np.ones(n, bool)
    if bad.any():  # windowed sums by prefix sums; skipped for the usual N-free chunk
        c = np.concatenate(([0], np.cumsum(bad, dtype=np.int64)))
        valid = c[k:] == c[:n]
    if breaks is not None:
        b = np.concatenate(([0], np.cumsum(breaks, dtype=np.int64)))
        valid &= b[k : k + n] == b[1 : 1 + n]
    return values, valid


def _pack(x: np.ndarray, k: int, bits: int) -> np.ndarray:
    """``[L]`` -> ``[L - k + 1]`` packed windows, by doubling: ``2 log2 k`` array passes, not ``2 k``."""
    result, r_len = None, 0
    power, p_len = x, 1
    while True:
        if k & 1:
            if result is None:
                result, r_len = power, p_len
            else:
                n = len(result) - p_len
                result = (result[:n] << (bits * p_len)) | power[r_len : r_len + n]
                r_len += p_len
        k >>= 1
        if not k:
            return result
        n = len(power) - p_len
        power = (power[:n] << (bits * p_len)) | power[p_len : p_len + n]
        p_len *= 2


class KmerSet:
    """Sorted distinct k-mer values with a bitmap prefilter on their low bits.

    A binary search per corpus k-mer is cache-unfriendly; most corpus k-mers are absent from the
    evaluation set, and a table of ``2**FILTER_BITS`` flags indexed by the low bits rejects them with one
    memory access, leaving the binary search to the few that pass.
    """

    FILTER_BITS = 24

    def __init__(self, values: np.ndarray):
        self.values = values  # sorted, distinct
        self.mask = (1 << self.FILTER_BITS) - 1
        self.filter = np.zeros(1 << self.FILTER_BITS, bool)
        self.filter[values & self.mask] = True

    def __len__(self) -> int:
        return len(self.values)

    def lookup(self, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Positions ``p`` of the queries present, and their indices in ``values``: ``(p, idx)``."""
        pos = np.flatnonzero(self.filter[queries & self.mask])
        if len(pos) == 0 or len(self.values) == 0:
            return pos[:0], pos[:0]
        idx = np.searchsorted(self.values, queries[pos])
        idx[idx == len(self.values)] = 0
        hit = self.values[idx] == queries[pos]
        return pos[hit], idx[hit]


def _scan(corpus: Corpus, k: int, desc: str, progress: bool):
    """Yield ``(file index, file, positions, values)`` of the valid k-mers, chunk by chunk.

    Positions are in the file's concatenated coordinates (``file.offsets`` maps them to records).
    """
    n_core = corpus.spec.alphabet.n_core
    total = sum(len(f.codes) for f in corpus.files)
    with tqdm(total=total, unit="bp", unit_scale=True, desc=desc, leave=False, disable=not progress) as bar:
        for fi, f in enumerate(corpus.files):
            size, inner = len(f.codes), f.offsets[1:]
            for s in range(0, max(size - k + 1, 0), CHUNK):
                e = min(s + CHUNK + k - 1, size)
                codes = np.asarray(f.codes[s:e])
                lo, hi = np.searchsorted(inner, [s + 1, e])
                breaks = None
                if hi > lo:
                    breaks = np.zeros(e - s, bool)
                    breaks[inner[lo:hi] - s] = True
                values, valid = kmer_values(codes, k, n_core, breaks)
                pos = np.flatnonzero(valid)
                yield fi, f, pos + s, values[pos]
                bar.update(min(s + CHUNK, size) - s)
            if size < k:
                bar.update(size)


class _EvalKmers:
    """The k-mers of every evaluation strand, deduplicated.

    A *strand* ``g = i * n_strands + s`` is sequence ``i`` (``s = 0``) or its reverse complement
    (``s = 1``). Per k-mer occurrence: ``group`` (strand), ``offset`` (position in the strand),
    ``inverse`` (index into the distinct values ``uniq.values``).
    """

    def __init__(self, sequences: list[np.ndarray], k: int, n_core: int, complement: np.ndarray | None):
        self.n_strands = 1 if complement is None else 2
        self.strands = []
        for seq in sequences:
            seq = np.asarray(seq, dtype=np.uint8)
            self.strands.append(seq)
            if complement is not None:
                self.strands.append(complement[seq[::-1]])
        self.lengths = np.array([len(t) for t in self.strands], dtype=np.int64)
        starts = np.concatenate(([0], np.cumsum(self.lengths + 1)[:-1])).astype(np.int64)
        joined = np.full(int(self.lengths.sum()) + len(self.strands), INVALID, dtype=np.uint8)
        for start, t in zip(starts, self.strands):
            joined[start : start + len(t)] = t
        values, valid = kmer_values(joined, k, n_core)  # the INVALID separators split the strands
        pos = np.flatnonzero(valid)
        self.group = np.searchsorted(starts, pos, side="right") - 1
        self.offset = pos - starts[self.group]
        uniq, self.inverse = np.unique(values[pos], return_inverse=True)
        self.uniq = KmerSet(uniq)
        self.n_kmers = np.bincount(self.group, minlength=len(self.strands))
