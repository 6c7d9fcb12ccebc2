"""Corpus curation: which fixed tiles of a pre-training corpus windows may be drawn from.

A pre-training corpus is several genomes (or protein collections), memory-mapped; windows are drawn
at random positions (:class:`~sciPT.sequences.RandomWindows`). Filtering and deduplicating *random
windows* would make a window's fate depend on which windows were drawn before it; instead the corpus
is cut once into fixed **tiles** and every tile gets a verdict, computed at corpus build time and
cached beside the normalised codes (``$SCIPT_CACHE/sequences/curation-<key>.npz``, keyed by the
files' SHA-256, the alphabet and every option below). Windows are then sampled only inside runs of
consecutive kept tiles (a window never straddles a removed tile), so sampling stays a pure function
of ``(seed, split, g)`` and a resumed run sees exactly the windows of an uninterrupted one.

Tiles. Each record's training part and validation part (:func:`~sciPT.sequences.split_bounds`) is
cut into consecutive tiles of ``tile`` residues from its start, the last one shorter. Tiles are
judged in corpus order (file order, record order, position; a record's training part before its
validation part), and each removed tile is counted under the first rule that removes it:

1. ``n_run``: the tile overlaps a run of at least ``max_n_run`` consecutive unknown residues of its
   record (the alphabet's :attr:`~sciPT.sequences.SequenceSpec.unknown` symbol: ``N`` for DNA,
   ambiguity codes included; ``X`` for proteins, ``B``/``Z``/``J`` included, never ``U`` or ``O``).
   A run is measured whole, across tile starts: a window may span kept tiles, so a run cut in two
   tiles of fewer each would reach a window whole.
2. ``low_complexity``: the Shannon entropy (bits) of the tile's overlapping 3-mers (those without a
   non-core residue) is below ``min_entropy``: poly-A scores 0, a dinucleotide repeat 1, a triplet
   repeat about 1.6, random DNA about 5.7 in a 128-residue tile (at most ``log2`` of the number of
   3-mers). A tile without a valid 3-mer scores 0. A tile of fewer than ``2 ** min_entropy`` 3-mers
   (a record's short last tile: 9 residues hold 7) cannot reach the threshold and is not judged by
   it.
3. ``exact_duplicate`` (``dedup: exact`` or ``near``): the tile's residues, or (nucleic acids)
   their reverse complement, equal those of an earlier kept tile.
4. ``near_duplicate`` (``dedup: near``): the MinHash estimate of the Jaccard similarity between the
   tile's set of canonical ``k``-mers (for nucleic acids a k-mer and its reverse complement count
   as one, so either strand matches; proteins' k-mers are taken as read) and that of an earlier
   kept tile is at least ``threshold``. Sketches have ``PERMUTATIONS`` values; candidate pairs come
   from locality-sensitive hashing (bands of ``r`` values, ``r`` the largest power of two whose
   bands find a pair at the threshold with probability >= 0.99), and each candidate is confirmed on
   the full sketch. A tile with fewer than ``k`` valid residues has no sketch and is only
   deduplicated exactly.

Later tiles are compared with earlier *kept* tiles only (greedy), so of a family of copies the first
one stays. Dedup spans the validation parts too: a validation tile that copies a training tile (or
the other way round) is removed, so training and validation do not share a sequence.

The contamination check (:mod:`sciPT.diagnostics.contamination`) reads the whole files, removed
tiles included: it stays conservative.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass

import numpy as np
from tqdm.auto import tqdm

from . import io
from .diagnostics.kmers import kmer_values, max_k
from .errors import ConfigError
from .sequences import Corpus, _cache_dir, split_bounds

# part of the cache key: bump when a verdict could change (2: U and O are not unknown; 3: a few
# records none of which the hash chooses hold one out, sciPT.sequences.held_out_records; 4: a run
# of unknown residues is measured across tile starts; 5: a tile too short to reach min_entropy is not
# judged by it; 6: an entropy of exactly min_entropy passes, where float rounding removed some)
VERSION = 6
# an entropy within this of min_entropy reaches it: log2 sums put exactly 1 bit (a dinucleotide
# repeat) at 0.9999999999999996 for some tile lengths
ENTROPY_TOLERANCE = 1e-9
REASONS = ("kept", "n_run", "low_complexity", "exact_duplicate", "near_duplicate")
KEPT, N_RUN, LOW_COMPLEXITY, EXACT, NEAR = range(len(REASONS))
DEDUP_MODES = ("none", "exact", "near")
PERMUTATIONS = 64
ENTROPY_K = 3
BLOCK = 1 << 22  # residues per block of tiles read at once
SKETCH_BLOCK = 1 << 15  # k-mers hashed at once (x PERMUTATIONS uint64)
M1, M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


@dataclass(frozen=True)
class CurationOptions:
    """What :func:`curate` does (module docstring); the defaults do nothing."""

    tile: int
    dedup: str = "none"
    k: int = 12
    threshold: float = 0.5
    max_n_run: int | None = None
    min_entropy: float | None = None

    @classmethod
    def of(cls, data) -> CurationOptions:
        """The options of a :class:`~sciPT.sequence_config.SequenceDataConfig` (``tile`` None: the window)."""
        return cls(
            tile=data.window if data.tile is None else data.tile,
            dedup=data.dedup,
            k=data.dedup_k,
            threshold=data.dedup_threshold,
            max_n_run=data.max_n_run,
            min_entropy=data.min_entropy,
        )

    @property
    def active(self) -> bool:
        return self.dedup != "none" or self.max_n_run is not None or self.min_entropy is not None

    def check(self, n_core: int, prefix: str = "data.") -> None:
        """One-line :class:`ConfigError` naming the first bad key."""
        if self.dedup not in DEDUP_MODES:
            raise ConfigError(f"{prefix}dedup: expected one of {', '.join(DEDUP_MODES)}, got {self.dedup!r}")
        if self.tile < 1:
            raise ConfigError(f"{prefix}tile: expected a positive number of residues, got {self.tile}")
        if not 1 <= self.k <= max_k(n_core):
            raise ConfigError(f"{prefix}dedup_k: expected an integer from 1 to {max_k(n_core)}, got {self.k}")
        if not 0 < self.threshold <= 1:
            raise ConfigError(
                f"{prefix}dedup_threshold: expected a fraction in (0, 1], got {self.threshold:g}"
            )
        if self.max_n_run is not None and self.max_n_run < 1:
            raise ConfigError(f"{prefix}max_n_run: expected a positive run length, got {self.max_n_run}")
        if self.min_entropy is not None:
            # beyond what a tile can reach, every tile either failed or (too short to be judged)
            # passed, by the margin of one residue of tile length
            most = min(ENTROPY_K * math.log2(n_core), math.log2(max(1, self.tile - ENTROPY_K + 1)))
            if not 0 <= self.min_entropy <= most:
                raise ConfigError(
                    f"{prefix}min_entropy: expected bits from 0 to {most:.4g} (the most the "
                    f"{ENTROPY_K}-mers of a tile of {self.tile} residues of {n_core} kinds reach), "
                    f"got {self.min_entropy:g}"
                )


class Curation:
    """The verdict on every tile of a corpus (module docstring).

    Attributes (one entry per tile, corpus order): ``record`` (index into ``corpus.records``),
    ``split`` (0 training part, 1 validation part), ``start``, ``stop`` (record coordinates),
    ``reason`` (index into :data:`REASONS`; 0 is kept).
    """

    def __init__(self, corpus: Corpus, arrays: dict, options: CurationOptions):
        self.corpus, self.options = corpus, options
        self.record, self.split = arrays["record"], arrays["split"]
        self.start, self.stop, self.reason = arrays["start"], arrays["stop"], arrays["reason"]

    def segments(self, split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(record, lo, hi)`` of the maximal runs of consecutive kept tiles of ``split``."""
        sel = np.flatnonzero((self.split == (0 if split == "train" else 1)) & (self.reason == KEPT))
        rec, lo, hi = self.record[sel], self.start[sel], self.stop[sel]
        if len(sel) == 0:
            return rec, lo, hi
        new = np.concatenate(([True], (rec[1:] != rec[:-1]) | (lo[1:] != hi[:-1])))
        first = np.flatnonzero(new)
        last = np.concatenate((first[1:], [len(sel)])) - 1
        return rec[first], lo[first], hi[last]

    def removed(self) -> dict[str, int]:
        """Residues removed by each rule, and ``total_residues``."""
        size = self.stop - self.start
        by = np.bincount(self.reason, weights=size, minlength=len(REASONS)).astype(np.int64)
        return {**{r: int(by[i]) for i, r in enumerate(REASONS) if i}, "total_residues": int(size.sum())}

    def metrics(self) -> dict[str, float]:
        """Flat numbers for metrics.json: fractions of the corpus's residues removed, by rule."""
        removed = self.removed()
        total = max(removed.pop("total_residues"), 1)
        out = {f"data_removed_{r}_fraction": v / total for r, v in removed.items()}
        out["data_removed_fraction"] = sum(removed.values()) / total
        out["data_kept_residues"] = total - sum(removed.values())
        return out

    def per_file(self) -> list[dict[str, int]]:
        file_of = np.repeat(np.arange(len(self.corpus.files)), [len(f.names) for f in self.corpus.files])
        f = file_of[self.record]
        size = self.stop - self.start
        total = np.bincount(f, weights=size, minlength=len(self.corpus.files))
        kept = np.bincount(f[self.reason == KEPT], weights=size[self.reason == KEPT], minlength=len(total))
        return [{"residues": int(t), "kept": int(k)} for t, k in zip(total, kept)]

    def lines(self) -> list[str]:
        """Markdown for report.md: what was removed and why."""
        o = self.options
        rules = []
        if o.max_n_run is not None:
            rules.append(f"runs of >= {o.max_n_run} unknown residues")
        if o.min_entropy is not None:
            rules.append(f"3-mer entropy < {o.min_entropy:g} bits")
        # proteins have no strands: their tiles are compared as read
        both = self.corpus.spec.complement is not None
        strands = ", either strand" if both else ""
        if o.dedup == "exact":
            rules.append("exact duplicates (either strand)" if both else "exact duplicates")
        elif o.dedup == "near":
            rules.append(f"exact and near duplicates (MinHash {o.k}-mer Jaccard >= {o.threshold:g}{strands})")
        removed = self.removed()
        total = max(removed.pop("total_residues"), 1)
        lines = [
            f"Curation: tiles of {o.tile} residues removed for {'; '.join(rules)}: "
            f"{sum(removed.values()):,} of {total:,} residues ({100 * sum(removed.values()) / total:.2f}%).",
            "",
            "| removed for | residues | fraction |",
            "|---|---|---|",
        ]
        lines += [f"| {r} | {v:,} | {v / total:.4f} |" for r, v in removed.items()]
        return lines


def _cache_key(corpus: Corpus, options: CurationOptions, val_fraction: float, val_mode: str) -> str:
    text = json.dumps(
        {
            "version": VERSION,
            "files": [f.sha256 for f in corpus.files],
            "spec": corpus.spec.signature(),
            "unknown": corpus.spec.unknown,
            # a tile equal to another's reverse complement is a copy only where the spec pairs symbols
            "complement": corpus.spec.complement,
            "options": [options.tile, options.dedup, options.k, options.threshold],
            "filters": [options.max_n_run, options.min_entropy],
            "val": [val_fraction, val_mode],
        }
    )
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def curate(
    corpus: Corpus,
    options: CurationOptions,
    *,
    val_fraction: float,
    val_mode: str,
    progress: bool = True,
) -> Curation:
    """The cached verdict on every tile, computed when first asked for (module docstring)."""
    path = _cache_dir() / f"curation-{_cache_key(corpus, options, val_fraction, val_mode)}.npz"
    if path.is_file():
        with np.load(path) as saved:
            return Curation(corpus, {k: saved[k] for k in saved.files}, options)
    arrays = _judge(corpus, options, val_fraction, val_mode, progress)
    with io.atomic_path(path) as tmp, open(tmp, "wb") as out:
        np.savez(out, **arrays)
    return Curation(corpus, arrays, options)


# --- computing the verdicts --------------------------------------------------------------------
def _tiles(corpus: Corpus, tile: int, val_fraction: float, val_mode: str) -> dict:
    bounds = [split_bounds(corpus, s, val_fraction, val_mode) for s in ("train", "val")]
    rec, split, start, stop = [], [], [], []
    for r in range(len(corpus.records)):
        for s, (lo, hi) in enumerate(bounds):
            a, b = int(lo[r]), int(hi[r])
            if b <= a:
                continue
            starts = np.arange(a, b, tile, dtype=np.int64)
            rec.append(np.full(len(starts), r))
            split.append(np.full(len(starts), s))
            start.append(starts)
            stop.append(np.minimum(starts + tile, b))
    cat = lambda parts, dtype: np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype)  # noqa: E731
    return {
        "record": cat(rec, np.int64),
        "split": cat(split, np.int8),
        "start": cat(start, np.int64),
        "stop": cat(stop, np.int64),
    }


def _long_runs(
    bad: np.ndarray, first: np.ndarray, length: int, carry: int = 0
) -> tuple[np.ndarray, int, bool]:
    """Which tiles overlap a run of at least ``length`` True values of ``bad``, runs measured whole
    across tile starts; tiles start at ``first`` (positions in ``bad``, the first at 0).

    ``carry``: True values just before ``bad`` (the run the previous stretch of the record ended
    in), counted into a run ``bad`` starts with. Returns the tiles' flags, the True values at the
    end of ``bad`` (the next stretch's carry), and whether a run begun before ``bad`` reached
    ``length`` (its tiles there must be flagged too).
    """
    edges = np.diff(np.concatenate(([0], bad.astype(np.int8), [0])))
    begins, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    runs = ends - begins
    if len(runs) and begins[0] == 0:
        runs[0] += carry
    long = runs >= length
    flagged = np.zeros(len(first) + 1, np.int64)
    np.add.at(flagged, np.searchsorted(first, begins[long], side="right") - 1, 1)
    np.add.at(flagged, np.searchsorted(first, ends[long] - 1, side="right"), -1)
    tail = int(runs[-1]) if len(runs) and ends[-1] == len(bad) else 0
    reached_back = bool(carry and len(runs) and begins[0] == 0 and long[0])
    return np.cumsum(flagged)[:-1] > 0, tail, reached_back


def _entropy_bits(codes: np.ndarray, first: np.ndarray, n_core: int) -> np.ndarray:
    """Shannon entropy (bits) of each tile's valid overlapping 3-mers."""
    breaks = np.zeros(len(codes), bool)
    breaks[first] = True
    values, valid = kmer_values(codes, ENTROPY_K, n_core, breaks)
    entropy = np.zeros(len(first))
    pos = np.flatnonzero(valid)
    if len(pos) == 0:
        return entropy
    tile = np.searchsorted(first, pos, side="right") - 1
    space = np.int64(1) << (ENTROPY_K * int(np.ceil(np.log2(n_core))))
    keys, counts = np.unique(tile * space + values[pos], return_counts=True)
    owner = keys // space
    n = np.bincount(owner, weights=counts, minlength=len(first))
    s = np.bincount(owner, weights=counts * np.log2(counts), minlength=len(first))
    has = n > 0
    entropy[has] = np.log2(n[has]) - s[has] / n[has]
    return entropy


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser on ``uint64`` (wrapping arithmetic)."""
    x = (x ^ (x >> np.uint64(30))) * M1
    x = (x ^ (x >> np.uint64(27))) * M2
    return x ^ (x >> np.uint64(31))


def _canonical_kmers(codes, first, k, n_core, complement) -> tuple[np.ndarray, np.ndarray]:
    """``(tile index, canonical k-mer value)`` of every valid k-mer inside a tile."""
    breaks = np.zeros(len(codes), bool)
    breaks[first] = True
    values, valid = kmer_values(codes, k, n_core, breaks)
    if complement is not None and len(values):
        rc, _ = kmer_values(complement[codes[::-1]], k, n_core)
        values = np.minimum(values, rc[::-1])
    pos = np.flatnonzero(valid)
    return np.searchsorted(first, pos, side="right") - 1, values[pos]


def _sketches(tile: np.ndarray, values: np.ndarray, n_tiles: int, a: np.ndarray, b: np.ndarray):
    """MinHash sketches ``[n_tiles, P]`` (all ones, the maximum, where a tile has no k-mer)."""
    sketch = np.full((n_tiles, len(a)), np.iinfo(np.uint64).max, np.uint64)
    x = _mix(values.astype(np.uint64))
    with np.errstate(over="ignore"):
        for s in range(0, len(x), SKETCH_BLOCK):
            t = tile[s : s + SKETCH_BLOCK]
            h = x[s : s + SKETCH_BLOCK, None] * a[None] + b[None]
            starts = np.flatnonzero(np.concatenate(([True], t[1:] != t[:-1])))
            mins = np.minimum.reduceat(h, starts, axis=0)
            sketch[t[starts]] = np.minimum(sketch[t[starts]], mins)
    return sketch


def _rows_per_band(threshold: float) -> int:
    r = PERMUTATIONS
    while r > 1 and 1 - (1 - threshold**r) ** (PERMUTATIONS // r) < 0.99:
        r //= 2
    return r


def _judge(corpus: Corpus, o: CurationOptions, val_fraction: float, val_mode: str, progress: bool) -> dict:
    arrays = _tiles(corpus, o.tile, val_fraction, val_mode)
    rec, start, stop = arrays["record"], arrays["start"], arrays["stop"]
    n_tiles = len(rec)
    reason = np.zeros(n_tiles, np.uint8)
    n_core = corpus.spec.alphabet.n_core
    unknown = corpus.spec.unknown_codes()
    complement = corpus.spec.complement_codes()
    near = o.dedup == "near"
    keys: list[bytes] = [b""] * n_tiles
    has_kmers = np.zeros(n_tiles, bool)
    rng = np.random.default_rng(20240531)
    a = rng.integers(0, 2**63, PERMUTATIONS, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    b = rng.integers(0, 2**63, PERMUTATIONS, dtype=np.uint64)
    sketch = np.zeros((n_tiles if near else 0, PERMUTATIONS), np.uint64)
    # blocks of consecutive tiles of one record, contiguous in the record, ~BLOCK residues each
    new = np.concatenate(([True], (rec[1:] != rec[:-1]) | (start[1:] != stop[:-1])))
    new[np.flatnonzero(np.diff(np.floor_divide(np.cumsum(stop - start), BLOCK), prepend=0))] = True
    first_tiles = np.flatnonzero(new)
    ends = np.concatenate((first_tiles[1:], [n_tiles]))
    bar = tqdm(
        total=int((stop - start).sum()),
        unit="bp",
        unit_scale=True,
        desc="curating corpus",
        leave=False,
        # disabled when made: set after, the bar had drawn itself once already
        disable=not progress,
    )
    carry = 0  # unknown residues at the end of the previous block, where this one continues it
    for t0, t1 in zip(first_tiles.tolist(), ends.tolist()):
        r, lo, hi = int(rec[t0]), int(start[t0]), int(stop[t1 - 1])
        codes = corpus.codes(r, lo, hi)
        first = start[t0:t1] - lo
        if o.max_n_run is not None:
            if t0 == 0 or rec[t0 - 1] != r or stop[t0 - 1] != lo:
                carry = 0
            long, tail, reached_back = _long_runs(np.isin(codes, unknown), first, o.max_n_run, carry)
            if reached_back:  # the run began in earlier blocks' last tiles
                back = t0 - 1
                while back >= 0 and rec[back] == r and stop[back] > lo - carry:
                    reason[back] = N_RUN  # the first rule: it outranks low complexity
                    back -= 1
            reason[t0:t1][(reason[t0:t1] == KEPT) & long] = N_RUN
            carry = tail  # a block of unknowns alone carries the run it continued, whole
        if o.min_entropy is not None:
            low = _entropy_bits(codes, first, n_core) < o.min_entropy - ENTROPY_TOLERANCE
            # a tile with fewer 3-mers than 2 ** min_entropy cannot reach it, random or not (a
            # record's short last tile): it was removed whatever it held
            low &= (stop[t0:t1] - start[t0:t1]) - (ENTROPY_K - 1) >= 2.0**o.min_entropy
            reason[t0:t1][(reason[t0:t1] == KEPT) & low] = LOW_COMPLEXITY
        if o.dedup != "none":
            for t, s, e in zip(range(t0, t1), first.tolist(), (stop[t0:t1] - lo).tolist()):
                piece = codes[s:e]
                key = hashlib.blake2b(piece.tobytes(), digest_size=16).digest()
                if complement is not None:
                    key = min(
                        key, hashlib.blake2b(complement[piece[::-1]].tobytes(), digest_size=16).digest()
                    )
                keys[t] = key
        if near:
            tile, values = _canonical_kmers(codes, first, o.k, n_core, complement)
            sketch[t0:t1] = _sketches(tile, values, t1 - t0, a, b)
            has_kmers[t0 + np.unique(tile)] = True
        bar.update(hi - lo)
    bar.close()
    if o.dedup != "none":
        seen: set[bytes] = set()
        for t in np.flatnonzero(reason == KEPT).tolist():
            if keys[t] in seen:
                reason[t] = EXACT
            else:
                seen.add(keys[t])
    if near:
        _near_duplicates(sketch, reason, has_kmers, o.threshold)
    arrays["reason"] = reason
    return arrays


def _near_duplicates(sketch: np.ndarray, reason: np.ndarray, has_kmers: np.ndarray, threshold: float) -> None:
    """Mark tiles whose sketch matches an earlier kept tile's (LSH candidates, then the full sketch)."""
    eligible = np.flatnonzero((reason == KEPT) & has_kmers)
    if len(eligible) < 2:
        return
    r = _rows_per_band(threshold)
    with np.errstate(over="ignore"):
        weights = _mix(np.arange(1, r + 1, dtype=np.uint64))
        bands = [
            (sketch[eligible, j * r : (j + 1) * r] * weights).sum(axis=1, dtype=np.uint64)
            for j in range(PERMUTATIONS // r)
        ]
    candidate = np.zeros(len(eligible), bool)
    for band in bands:
        _, inverse, counts = np.unique(band, return_inverse=True, return_counts=True)
        candidate |= counts[inverse] > 1
    tables: list[dict[int, list[int]]] = [{} for _ in bands]
    need = int(np.ceil(threshold * PERMUTATIONS - 1e-9))
    band_keys = np.stack(bands, axis=1)
    candidates = np.flatnonzero(candidate)
    # every earlier kept tile that shares a band, once, compared in one call: in a repeat family
    # (a satellite array) the buckets grow with the corpus, and one numpy call per tile and band
    # took minutes for 4 Mb (n^1.6), after the reading bar had closed
    for i in tqdm(
        candidates.tolist(),
        desc="near duplicates",
        unit="tile",
        leave=False,
        disable=len(candidates) < 20_000,
    ):
        t = int(eligible[i])
        keys = band_keys[i].tolist()
        earlier = [table[key] for table, key in zip(tables, keys) if key in table]
        if earlier:
            others = np.unique(np.concatenate([np.asarray(e) for e in earlier]))
            if bool(((sketch[others] == sketch[t]).sum(axis=1) >= need).any()):
                reason[t] = NEAR
                continue
        for table, key in zip(tables, keys):
            table.setdefault(key, []).append(t)
