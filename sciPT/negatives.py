"""Hard negatives for a set of positive nucleic-acid sequences: shuffles and matched genomic windows.

A classifier of promoters against random genomic DNA can win on composition alone (promoters are
AT-rich). Two harder negative sets remove that shortcut; both are plain algorithms on residue codes
(any alphabet, any domain; ``scipt data negatives`` calls them with the alphabet of the domain it
is given), seeded and deterministic.

- :func:`dinucleotide_shuffle`: the Altschul-Erickson shuffle (Altschul and Erickson 1985, *Mol.
  Biol. Evol.* 2:526) by the Euler-path method (Kandel et al. 1996; Jiang et al. 2008, uShuffle):
  the sequence is a walk through the graph whose vertices are residues and whose edges are its
  ``L - 1`` dinucleotides; a random arborescence of "last exits" pointing at the final residue is
  drawn with Wilson's loop-erased random walk, every other exit of a vertex is put in random order
  before its last exit, and the walk from the first residue through the exits in that order is a
  uniformly random sequence with *exactly* the dinucleotide counts of the input (so also its
  residue counts, first and last residue). A shuffle equal to its input is drawn again (at most
  ``tries`` times; a sequence with a single Eulerian path, ``ACGT``, is returned unchanged).
- :func:`gc_matched_windows`: windows of a genome with the positives' lengths and GC distribution.
  The GC fraction of each positive (``G`` + ``C`` residues over its length) is binned into ``bins``
  equal bins of [0, 1] (a fraction of exactly 1 goes in the last); for every length and bin, as many
  windows as there are positives are drawn uniformly from the genome's windows of that length and
  bin, so the two histograms are equal bin for bin. Excluded: windows holding a non-core residue
  (``N``), windows overlapping a copy of a positive, and windows overlapping an already drawn one
  (so no two negatives share a residue). A copy of a positive is found by its k-mers
  (``k = min(20, shortest positive)``, on either strand when the alphabet has a complement): every
  genome k-mer equal to one of a positive's is masked together with ``L_max`` residues on both sides,
  which covers every verbatim copy (either strand) and near copies too. Each window is given on a
  random strand (reverse-complemented with probability 1/2) when the alphabet has a complement.
  Memory grows with the genome (a few bytes per residue): this is meant for bacterial genomes and
  other corpora of up to some hundred megabases.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .errors import DataError

DEFAULT_BINS = 10
EXCLUDE_K = 20


# --- dinucleotide shuffle ---------------------------------------------------------------------
def dinucleotide_shuffle(codes: np.ndarray, rng: np.random.Generator, *, tries: int = 10) -> np.ndarray:
    """A random sequence with exactly the dinucleotide counts of ``codes`` (module docstring)."""
    s = np.asarray(codes)
    if len(s) < 3:
        return s.copy()
    out = s
    for _ in range(tries):
        out = _euler_shuffle(s, rng)
        if not np.array_equal(out, s):
            break
    return out


def _euler_shuffle(s: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    seq = s.tolist()
    first, last = seq[0], seq[-1]
    exits: dict[int, list[int]] = {}
    for a, b in zip(seq[:-1], seq[1:]):
        exits.setdefault(a, []).append(b)
    # Wilson's algorithm: a random arborescence of last exits, every vertex's path ending at `last`
    # (every vertex but `last` has an exit: each of its occurrences is followed by a residue)
    in_tree, choice = {last}, {}
    for u in exits:
        v = u
        while v not in in_tree:
            choice[v] = int(rng.integers(len(exits[v])))
            v = exits[v][choice[v]]
        v = u
        while v not in in_tree:
            in_tree.add(v)
            v = exits[v][choice[v]]
    order = {}
    for v, succ in exits.items():
        succ = list(succ)
        tail = [succ.pop(choice[v])] if v != last else []
        order[v] = [succ[i] for i in rng.permutation(len(succ))] + tail
    used = dict.fromkeys(order, 0)
    out, v = [first], first
    for _ in range(len(seq) - 1):
        nxt = order[v][used[v]]
        used[v] += 1
        out.append(nxt)
        v = nxt
    return np.asarray(out, dtype=s.dtype)


def dinucleotide_shuffles(sequences: Sequence[np.ndarray], seed: int) -> list[np.ndarray]:
    """One shuffle of every sequence; sequence ``i`` is drawn from a generator seeded by
    ``(seed, i)``, so the result depends on the seed and the sequence's place only."""
    return [dinucleotide_shuffle(c, np.random.default_rng((seed, i))) for i, c in enumerate(sequences)]


def dinucleotide_counts(codes: np.ndarray, n_symbols: int) -> np.ndarray:
    """``[n_symbols, n_symbols]`` counts of every dinucleotide ``(a, b)`` of ``codes``."""
    c = np.asarray(codes, dtype=np.int64)
    return np.bincount(c[:-1] * n_symbols + c[1:], minlength=n_symbols * n_symbols).reshape(
        n_symbols, n_symbols
    )


# --- GC-matched genomic windows ---------------------------------------------------------------
def gc_counts(sequences: Sequence[np.ndarray], gc_codes: Sequence[int]) -> np.ndarray:
    return np.array([int(np.isin(np.asarray(c), gc_codes).sum()) for c in sequences], dtype=np.int64)


def gc_bin(gc: np.ndarray, length: int | np.ndarray, bins: int) -> np.ndarray:
    """Bin of GC fraction ``gc / length`` among ``bins`` equal bins of [0, 1] (exact, in integers)."""
    return np.minimum(np.asarray(gc, dtype=np.int64) * bins // np.asarray(length, dtype=np.int64), bins - 1)


def gc_histogram(
    sequences: Sequence[np.ndarray], gc_codes: Sequence[int], bins: int = DEFAULT_BINS
) -> np.ndarray:
    lengths = np.array([len(c) for c in sequences], dtype=np.int64)
    return np.bincount(gc_bin(gc_counts(sequences, gc_codes), lengths, bins), minlength=bins)


def _kmer_set(sequences, k: int, n_core: int, complement: np.ndarray | None):
    from .diagnostics.kmers import KmerSet, kmer_values

    values = []
    for c in sequences:
        strands = [np.asarray(c)] + ([complement[np.asarray(c)[::-1]]] if complement is not None else [])
        for s in strands:
            v, valid = kmer_values(s, k, n_core)
            values.append(v[valid])
    return KmerSet(np.unique(np.concatenate(values)) if values else np.zeros(0, np.int64))


def gc_matched_windows(
    corpus,
    positives: Sequence[np.ndarray],
    *,
    gc_codes: Sequence[int],
    seed: int,
    bins: int = DEFAULT_BINS,
    complement: np.ndarray | None = None,
    source: str = "genome",
) -> list[tuple[str, int, int, str, np.ndarray]]:
    """Windows of ``corpus`` (a :class:`sciPT.sequences.Corpus`) matched to ``positives`` in length
    and GC histogram (module docstring): ``[(record name, start, stop, strand '+'/'-', codes)]``,
    0-based half-open, grouped by length and GC bin (not in the order of the positives: which window
    matches which positive is not recorded, only the histograms are equal).

    Raises :class:`DataError` (one line naming ``source``) when a bin has fewer free windows than
    positives.
    """
    from .diagnostics.kmers import kmer_values

    if bins < 1:
        raise DataError(f"--bins: expected a positive number of GC bins, got {bins}")
    rng = np.random.default_rng(seed)
    n_core = corpus.spec.alphabet.n_core
    lengths = np.array([len(c) for c in positives], dtype=np.int64)
    pos_bins = gc_bin(gc_counts(positives, gc_codes), lengths, bins)
    # a copy of a positive is found by its EXCLUDE_K-mers, a shorter positive by itself whole: one
    # k for all, the shortest positive's, blocked 92 % of E. coli for sigma-70 when one positive
    # was 12 bp (every 12-mer of 1,694 promoters, each with its margin)
    by_k = {}
    for codes in positives:
        by_k.setdefault(int(min(EXCLUDE_K, len(codes))), []).append(codes)
    kmer_sets = {k: _kmer_set(group, k, n_core, complement) for k, group in by_k.items()}
    margin = int(lengths.max())
    gc_table = np.zeros(256, dtype=np.int64)
    gc_table[list(gc_codes)] = 1

    # per record: free residues (no N, no copy of a positive) and GC prefix sums
    records = []
    for r, (f, i) in enumerate(corpus.records):
        size = int(corpus.lengths[r])
        codes = corpus.codes(r, 0, size)
        blocked = codes >= n_core
        for k, kmers in kmer_sets.items():
            values, valid = kmer_values(codes, k, n_core)
            hits, _ = kmers.lookup(values[valid])
            hits = np.flatnonzero(valid)[hits]
            if len(hits):
                delta = np.zeros(size + 1, dtype=np.int64)
                np.add.at(delta, np.maximum(hits - margin, 0), 1)
                np.add.at(delta, np.minimum(hits + k + margin, size), -1)
                blocked |= np.cumsum(delta[:-1]) > 0
        records.append((f.names[i], codes, blocked, np.concatenate(([0], np.cumsum(gc_table[codes])))))

    occupied = [np.zeros(len(rec[1]), dtype=bool) for rec in records]
    out = []
    for length in np.unique(lengths):
        length = int(length)
        starts, record_of, bin_of = [], [], []
        for r, (_, codes, blocked, gc_cum) in enumerate(records):
            n = len(codes) - length + 1
            if n <= 0:
                continue
            bad = np.concatenate(([0], np.cumsum(blocked, dtype=np.int64)))
            s = np.flatnonzero(bad[length : length + n] == bad[:n])
            starts.append(s)
            record_of.append(np.full(len(s), r))
            bin_of.append(gc_bin(gc_cum[s + length] - gc_cum[s], length, bins))
        starts = np.concatenate(starts) if starts else np.zeros(0, np.int64)
        record_of = np.concatenate(record_of) if record_of else np.zeros(0, np.int64)
        bin_of = np.concatenate(bin_of) if bin_of else np.zeros(0, np.int64)
        for b in range(bins):
            need = int(((lengths == length) & (pos_bins == b)).sum())
            if not need:
                continue
            candidates = np.flatnonzero(bin_of == b)
            found = 0
            for j in candidates[rng.permutation(len(candidates))]:
                r, s = int(record_of[j]), int(starts[j])
                if occupied[r][s : s + length].any():
                    continue
                occupied[r][s : s + length] = True
                codes = records[r][1][s : s + length]
                strand = "+"
                if complement is not None and rng.random() < 0.5:
                    codes, strand = complement[codes[::-1]], "-"
                out.append((records[r][0], s, s + length, strand, np.asarray(codes)))
                found += 1
                if found == need:
                    break
            if found < need:
                blocked = sum(int(rec[2].sum()) for rec in records) / max(
                    1, sum(len(rec[1]) for rec in records)
                )
                close = "]" if b == bins - 1 else ")"  # the last bin holds a GC fraction of 1
                raise DataError(
                    f"{source}: only {found} free windows of {length} residues with GC fraction in "
                    f"[{b / bins:g}, {(b + 1) / bins:g}{close}, {need} needed to match the positives "
                    f"({blocked:.0%} of the genome is unknown residues or copies of a positive with "
                    "their margins); use fewer --bins or a larger genome"
                )
    return out
