"""Contamination between a pre-training corpus and evaluation sequences: measure it, then remove it.

A model pre-trained on a genome has seen (without labels) every evaluation sequence cut from that
genome; its advantage over a model trained from scratch is then partly memory. This module states
how many evaluation sequences the corpus holds, verbatim or nearly, on either strand, and writes a
copy of the corpus with those regions masked, so that the pre-trained-vs-scratch gain can be
measured clean.

Definitions (for a sequence ``s`` of length ``L``, its ``n = L - k + 1`` overlapping k-mers, and
``rc(s)`` its reverse complement when the alphabet has a complement):

- ``similarity(s) = max over t in {s, rc(s)} of |{i : t[i:i+k] occurs in the corpus}| / n``:
  the fraction of k-mer *positions* of ``t`` (a repeated k-mer counts at each position) whose k-mer
  occurs anywhere in the corpus (forward strand; ``rc(s)`` covers the other one). K-mers containing
  a non-core residue (``N``, ``X``) are skipped on both sides, and so never shared.
- ``verbatim(s)``: ``s`` or ``rc(s)`` occurs exactly in one record of the corpus (code by code).
- ``near(s)``: ``similarity(s) >= threshold`` or verbatim; ``clean`` is its complement.
  A sequence with no valid k-mer (shorter than ``k``, or all ``N``) has similarity 0 and cannot be
  checked: it counts as clean, and as ``unchecked``, which the summary reports apart. (A sequence
  much shorter than 16 bases occurs in a bacterial genome by chance, so finding it verbatim would say
  nothing about contamination either.) :func:`decontaminate` refuses such a sequence instead
  (:func:`refuse_unseen`): it would leave every copy of it in a corpus it calls clean.

Method. The k-mers of every evaluation sequence and of its reverse complement are packed and
sorted once, and the corpus is streamed in chunks whose k-mers are looked up (:mod:`.kmers`); a
count per distinct evaluation k-mer is kept: memory grows with the evaluation set, never with the
corpus (decontamination also keeps the corpus positions of the shared k-mers, one per hit). A
strand whose k-mers are all present is confirmed verbatim by a second pass: its rarest k-mer (fewest
corpus occurrences) is the anchor, and the full sequence is compared at each anchor occurrence only.

Decontamination (:func:`decontaminate`) masks *loci*, not isolated k-mers: the corpus occurrences of
the k-mers of every near strand are grouped by strand and diagonal (corpus position minus offset in
the evaluation sequence, diagonals up to ``MAX_INDEL`` apart joined so that short indels and the
jitter of short internal repeats stay one cluster). Clusters of one strand that follow each other in
the same order in the corpus and in the sequence, their diagonals at most
``L (1 - threshold) / threshold`` apart (:func:`indel_bound`: ``L`` at the default 0.5), are chained
into one locus: the parts of a copy cut by a longer insertion or deletion. A locus whose distinct
shared k-mers cover at least ``threshold`` of the strand's k-mers is a copy of the sequence, and its
whole image, from its first part's first diagonal to its last part's last diagonal plus ``L``
(clipped to the record), is replaced by the mask symbol, substituted and inserted bases included. A
chance k-mer shared with an unrelated region is therefore left alone, while every verbatim copy is
removed, so a check of the cleaned corpus finds no verbatim sequence. A near sequence whose shared
k-mers are scattered over many loci (none a copy by itself, as over the members of a repeat family)
is reported but not masked; ``scipt data decontaminate`` then warns (and exits 1 only where a
verbatim one is left, which masking never leaves).
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import io
from ..errors import ConfigError, DataError
from ..sequences import Corpus, SequenceFile, SequenceSpec
from .kmers import KmerSet, _EvalKmers, _scan, max_k

DEFAULT_K = 16
DEFAULT_THRESHOLD = 0.5
MAX_INDEL = 8  # diagonals this close are one cluster (longer indels: chained, see indel_bound)
FASTA_WIDTH = 60
MASK_SYMBOLS = ("N", "X")  # the "unknown residue" of nucleic acids, of proteins


@dataclass
class ContaminationReport:
    """Per evaluation sequence: verbatim, k-mer similarity, near (see the module docstring).

    ``unchecked``: the sequences without a valid k-mer on either strand, counted clean.

    Shapes: ``verbatim``, ``near``, ``unchecked`` bool ``[N]``; ``similarity`` float ``[N]`` in
    ``[0, 1]``.
    """

    n_sequences: int
    verbatim: np.ndarray
    similarity: np.ndarray
    near: np.ndarray
    k: int
    threshold: float
    both_strands: bool = True
    unchecked: np.ndarray | None = None

    @property
    def clean(self) -> np.ndarray:
        """bool ``[N]``: the sequences neither verbatim nor near, on which clean metrics are computed."""
        return ~self.near

    def summary(self) -> dict:
        return {
            "eval_sequences": self.n_sequences,
            "verbatim": int(self.verbatim.sum()),
            "near": int(self.near.sum()),
            "clean": int(self.clean.sum()),
            "unchecked": 0 if self.unchecked is None else int(self.unchecked.sum()),
        }

    def sentence(self) -> str:
        s, n = self.summary(), max(self.n_sequences, 1)
        strands = "either strand" if self.both_strands else "as given"
        return (
            f"Contamination: of {s['eval_sequences']:,} evaluation sequences, {s['verbatim']:,} "
            f"({100 * s['verbatim'] / n:.1f}%) occur verbatim in the pre-training corpus ({strands}) "
            f"and {s['near']:,} ({100 * s['near'] / n:.1f}%) verbatim or nearly ({self.k}-mer "
            f"similarity >= {self.threshold:g}); {s['clean']:,} are clean"
            + (
                f", of which {s['unchecked']:,} could not be checked (no {self.k} consecutive known "
                "residues)."
                if s["unchecked"]
                else "."
            )
        )


# --- parameters ------------------------------------------------------------------------------
def default_k(n_core: int) -> int:
    """``DEFAULT_K``, or the longest k-mer the alphabet packs into 62 bits where that is shorter
    (12 for the 20 amino acids)."""
    return min(DEFAULT_K, max_k(n_core))


def check_parameters(k: int, threshold: float, n_core: int, prefix: str = "") -> None:
    """Raise :class:`ConfigError` naming ``{prefix}k`` or ``{prefix}threshold`` if out of range."""
    if not 1 <= k <= max_k(n_core):
        raise ConfigError(
            f"{prefix}k: expected an integer from 1 to {max_k(n_core)} for an alphabet of "
            f"{n_core} residues, got {k}"
        )
    if not 0 < threshold <= 1:
        raise ConfigError(f"{prefix}threshold: expected a fraction in (0, 1], got {threshold:g}")


# --- the check -------------------------------------------------------------------------------
def _resolve_complement(complement, corpus: Corpus) -> np.ndarray | None:
    if isinstance(complement, str) and complement == "spec":
        return corpus.spec.complement_codes()
    return complement


def _measure(sequences, corpus: Corpus, k: int, threshold: float, complement, progress: bool):
    n_core = corpus.spec.alphabet.n_core
    check_parameters(k, threshold, n_core)
    complement = _resolve_complement(complement, corpus)
    kmers = _EvalKmers(sequences, k, n_core, complement)
    counts = np.zeros(len(kmers.uniq), np.int64)
    for _, _, _, values in _scan(corpus, k, "contamination: k-mer scan", progress):
        counts += np.bincount(kmers.uniq.lookup(values)[1], minlength=len(counts))
    found = counts[kmers.inverse] > 0
    shared = np.bincount(kmers.group[found], minlength=len(kmers.strands))
    fraction = np.divide(shared, kmers.n_kmers, out=np.zeros(len(shared)), where=kmers.n_kmers > 0)
    complete = np.flatnonzero((kmers.n_kmers > 0) & (shared == kmers.n_kmers))
    verified = _verify(corpus, kmers, complete, counts, k, progress)
    n, s = len(sequences), kmers.n_strands
    similarity = fraction.reshape(n, s).max(1) if n else np.zeros(0)
    verbatim = verified.reshape(n, s).any(1) if n else np.zeros(0, bool)
    report = ContaminationReport(
        n_sequences=n,
        verbatim=verbatim,
        similarity=similarity,
        near=(similarity >= threshold) | verbatim,
        k=k,
        threshold=threshold,
        both_strands=complement is not None,
        unchecked=(kmers.n_kmers.reshape(n, s) == 0).all(1) if n else np.zeros(0, bool),
    )
    return report, kmers, fraction


def _occurs_at(f: SequenceFile, start: int, anchor_pos: int, strand: np.ndarray) -> bool:
    r = int(np.searchsorted(f.offsets, anchor_pos, side="right")) - 1
    lo, hi = f.offsets[r], f.offsets[r] + f.lengths[r]
    if start < lo or start + len(strand) > hi:
        return False
    return bool(np.array_equal(f.codes[start : start + len(strand)], strand))


def _verify(
    corpus: Corpus, kmers: _EvalKmers, candidates: np.ndarray, counts: np.ndarray, k: int, progress: bool
) -> np.ndarray:
    """bool per strand: found exactly, by comparing it at each occurrence of its rarest k-mer."""
    verified = np.zeros(len(kmers.strands), bool)
    if len(candidates) == 0:
        return verified
    sel = np.flatnonzero(np.isin(kmers.group, candidates))
    sel = sel[np.lexsort((counts[kmers.inverse[sel]], kmers.group[sel]))]
    first = np.concatenate(([True], kmers.group[sel][1:] != kmers.group[sel][:-1]))
    anchors = sel[first]
    anchors = anchors[np.argsort(kmers.inverse[anchors], kind="stable")]
    keys, begin, count = np.unique(kmers.inverse[anchors], return_index=True, return_counts=True)
    key_set, remaining = KmerSet(kmers.uniq.values[keys]), len(anchors)
    for _, f, pos, values in _scan(corpus, k, "contamination: verbatim check", progress):
        at, idx = key_set.lookup(values)
        for p, j in zip(pos[at].tolist(), idx.tolist()):
            for a in anchors[begin[j] : begin[j] + count[j]]:
                g = kmers.group[a]
                if not verified[g] and _occurs_at(f, p - int(kmers.offset[a]), p, kmers.strands[g]):
                    verified[g] = True
                    remaining -= 1
        if remaining == 0:
            break
    return verified


def check_contamination(
    sequences: list[np.ndarray],
    corpus: Corpus,
    *,
    k: int = DEFAULT_K,
    threshold: float = DEFAULT_THRESHOLD,
    complement: np.ndarray | None | str = "spec",
    progress: bool = True,
) -> ContaminationReport:
    """How many evaluation sequences the corpus holds, verbatim or nearly, on either strand.

    Args:
        sequences: evaluation sequences as code arrays (the corpus's alphabet).
        corpus: the pre-training corpus (memory-mapped; streamed, never loaded whole).
        k: k-mer length, ``1 <= k <= max_k(n_core)``. threshold: near when similarity >= it.
        complement: code -> complementary code; ``None`` checks the given strand only (proteins);
            ``"spec"`` (default) takes ``corpus.spec.complement_codes()``.
        progress: show a progress bar over the corpus.
    """
    return _measure(sequences, corpus, k, threshold, complement, progress)[0]


# --- decontamination -------------------------------------------------------------------------
def longest_known_run(codes: np.ndarray, n_core: int) -> int:
    """The most consecutive core residues (no ``N``, ``X``) of ``codes``: the longest k it has a k-mer of."""
    known = np.concatenate(([False], np.asarray(codes) < n_core, [False]))
    edges = np.flatnonzero(known[1:] != known[:-1])
    return int((edges[1::2] - edges[::2]).max()) if len(edges) else 0


def refuse_unseen(
    sequences: list[np.ndarray], k: int, n_core: int, names: list[str] | None = None, option: str = "k"
) -> None:
    """A :class:`DataError` for the first sequence with known residues but no ``k`` in a row: no
    k-mer of it can be looked up, so its copies would stay in the corpus. ``names`` name the
    sequences in the message (else their number); ``option`` is what sets ``k``. A sequence of
    unknown residues only is passed over: it has nothing to find."""
    for i, codes in enumerate(sequences):
        run = longest_known_run(codes, n_core)
        if 0 < run < k:
            where = names[i] if names else f"evaluation sequence #{i + 1}"
            raise DataError(
                f"{where} has no {k} known residues in a row ({run} at most, of {len(codes)}): no "
                f"{k}-mer of it can be looked up, so its copies would stay in the corpus; pass a "
                f"smaller {option} (at most {run}) or leave it out"
            )


def mask_code(spec: SequenceSpec) -> int:
    """Code of the symbol written over masked regions: ``N`` (nucleic acids) or ``X`` (proteins)."""
    symbols, core = spec.alphabet.symbols, spec.alphabet.n_core
    for symbol in MASK_SYMBOLS:
        if symbol in symbols[core:]:
            return symbols.index(symbol)
    raise ConfigError(f"the alphabet {symbols} has no non-core {' or '.join(MASK_SYMBOLS)} to mask with")


def _copy_loci(
    corpus: Corpus, kmers: _EvalKmers, fraction: np.ndarray, k: int, threshold: float, progress: bool
) -> tuple[np.ndarray, ...]:
    """``(file index, start, stop, sequence index)`` of every corpus copy of a near strand."""
    empty = tuple(np.zeros(0, np.int64) for _ in range(4))
    sel = np.flatnonzero(fraction[kmers.group] >= threshold)
    if len(sel) == 0:
        return empty
    sel = sel[np.argsort(kmers.inverse[sel], kind="stable")]
    keys, begin, count = np.unique(kmers.inverse[sel], return_index=True, return_counts=True)
    key_set = KmerSet(kmers.uniq.values[keys])
    parts = []
    for fi, _, pos, values in _scan(corpus, k, "decontamination: locating copies", progress):
        at, j = key_set.lookup(values)
        p = pos[at]
        c = count[j]
        within = np.arange(c.sum()) - np.repeat(np.cumsum(c) - c, c)
        occ = sel[np.repeat(begin[j], c) + within]
        parts.append((np.full(len(occ), fi), np.repeat(p, c), occ))
    if not parts or sum(len(q[0]) for q in parts) == 0:
        return empty
    fi, p, occ = (np.concatenate(x) for x in zip(*parts))
    g, off = kmers.group[occ], kmers.offset[occ]
    d = p - off
    order = np.lexsort((d, g, fi))
    fi, g, d, p, off = fi[order], g[order], d[order], p[order], off[order]
    new = np.concatenate(([True], (fi[1:] != fi[:-1]) | (g[1:] != g[:-1]) | (d[1:] - d[:-1] > MAX_INDEL)))
    first = np.flatnonzero(new)
    cluster = np.cumsum(new) - 1
    fi_c, g_c = fi[first], g[first]
    length = kmers.lengths[g_c]
    d_lo, d_hi = d[first], np.maximum.reduceat(d, first)
    p_lo, p_hi = np.minimum.reduceat(p, first), np.maximum.reduceat(p, first)
    o_lo, o_hi = np.minimum.reduceat(off, first), np.maximum.reduceat(off, first)
    chain = _chain(
        fi_c * len(kmers.strands) + g_c,
        p_lo,
        p_hi,
        o_lo,
        o_hi,
        d_lo,
        d_hi,
        length,
        indel_bound(length, threshold),
    )
    # one row per chain: its first cluster (the lowest in the corpus) and its last
    by_chain = np.lexsort((p_hi, chain))
    head = np.flatnonzero(np.concatenate(([True], chain[by_chain][1:] != chain[by_chain][:-1])))
    first_c = chain[by_chain[head]]
    last_c = by_chain[np.concatenate((head[1:], [len(by_chain)])) - 1]
    chain_of_hit = np.searchsorted(first_c, chain[cluster])
    width = int(off.max()) + 1
    distinct = np.unique(chain_of_hit * width + off) // width
    covered = np.bincount(distinct, minlength=len(first_c)) / kmers.n_kmers[g_c[first_c]]
    keep = covered >= threshold
    fi_k, g_k = fi_c[first_c], g_c[first_c]
    # a deletion moves the diagonal back: the copy ends L past its last part's diagonal, not its first's
    start, stop = d_lo[first_c], d_hi[last_c] + length[last_c]
    pmin = np.minimum.reduceat(p_lo[by_chain], head)
    pmax = np.maximum.reduceat(p_hi[by_chain], head)
    for i, f in enumerate(corpus.files):  # a copy never extends past the records its k-mers lie in
        here = fi_k == i
        r0 = np.searchsorted(f.offsets, pmin[here], side="right") - 1
        r1 = np.searchsorted(f.offsets, pmax[here], side="right") - 1
        start[here] = np.maximum(start[here], f.offsets[r0])
        stop[here] = np.minimum(stop[here], f.offsets[r1] + f.lengths[r1])
    return fi_k[keep], start[keep], stop[keep], g_k[keep] // kmers.n_strands


def indel_bound(length: np.ndarray, threshold: float) -> np.ndarray:
    """The longest indel (bases) that still leaves parts of a copy of a sequence of ``length`` one locus.

    ``floor(L (1 - threshold) / threshold)``: L at the default 0.5, none at threshold 1. An insertion
    of ``I`` bases keeps all but ``k - 1`` of the sequence's k-mers however long it is, so coverage
    cannot bound it, and all ``I`` bases are masked with the copy; this bound keeps the masked region
    (``L + I``) at least ``threshold`` the sequence's own bases, as the copy must hold at least
    ``threshold`` of its k-mers: the clean corpus masked with a copy is at most as long as the copy at
    0.5. A deletion of ``D`` bases loses ``D + k - 1`` k-mers: coverage already refuses any longer
    than ``(1 - threshold) L``, below this bound.
    """
    # 1e-9: a bound whole in exact arithmetic (60 * 0.4 / 0.6 = 40) is not lost to rounding (39.99...)
    return np.floor(np.asarray(length) * (1 - threshold) / threshold + 1e-9).astype(np.int64)


def _chain(
    key: np.ndarray,
    p_lo: np.ndarray,
    p_hi: np.ndarray,
    o_lo: np.ndarray,
    o_hi: np.ndarray,
    d_lo: np.ndarray,
    d_hi: np.ndarray,
    length: np.ndarray,
    bound: np.ndarray,
) -> np.ndarray:
    """Per diagonal cluster, the index of the first cluster of its chain (its own index when alone).

    A chain is one copy cut by indels: clusters of one strand in one file (``key``), each further on
    in both the corpus (``p``) and the sequence (offsets ``o``) than the one before, and every
    diagonal ``d`` within ``bound`` of the first one's. Clusters out of order with the chain (a
    tandem copy starts again at offset 0; a chance hit of an internal repeat lies inside the copy)
    start chains of their own, and do not interrupt it.
    """
    n = len(key)
    chain = np.arange(n)
    if n < 2:
        return chain
    order = np.lexsort((p_lo, key))
    k_s = key[order]
    rank = np.cumsum(np.concatenate(([0], k_s[1:] != k_s[:-1])))
    # a cluster can join a chain only if it starts before the first one's image plus the bound ends:
    # a running maximum of those ends, kept apart per key by a stride, finds the few that can
    end = (d_lo + length + bound)[order]
    stride = int(max(end.max(), p_lo.max())) + 1
    reach = np.maximum.accumulate(end + rank * stride)
    joins = np.concatenate(
        ([False], (k_s[1:] == k_s[:-1]) & (p_lo[order][1:] + rank[1:] * stride < reach[:-1]))
    )
    if not joins.any():
        return chain
    starts = np.flatnonzero(~joins)
    stops = np.concatenate((starts[1:], [n]))
    pl, ph, ol, oh = p_lo.tolist(), p_hi.tolist(), o_lo.tolist(), o_hi.tolist()
    dl, dh, ln, bd = d_lo.tolist(), d_hi.tolist(), length.tolist(), bound.tolist()
    for a, b in zip(starts.tolist(), stops.tolist()):
        if b - a < 2:
            continue
        chains: list[list[int]] = []  # [first, last] of each chain still open
        for x in order[a:b].tolist():
            chains = [c for c in chains if pl[x] < dl[c[0]] + ln[c[0]] + bd[c[0]]]
            for c in chains:
                f, last = c
                if (
                    pl[x] > pl[last]
                    and ph[x] > ph[last]
                    and ol[x] > ol[last]
                    and oh[x] > oh[last]
                    and dh[x] - dl[f] <= bd[f]
                    and dh[f] - dl[x] <= bd[f]
                ):
                    chain[x], c[1] = f, x
                    break
            else:
                chains.append([x, x])
    return chain


def merge_intervals(start: np.ndarray, stop: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Union of half-open intervals as sorted, disjoint, non-touching intervals."""
    if len(start) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    order = np.argsort(start, kind="stable")
    start, stop = start[order], stop[order]
    reach = np.maximum.accumulate(stop)
    first = np.flatnonzero(np.concatenate(([True], start[1:] > reach[:-1])))
    return start[first], np.maximum.reduceat(stop, first)


def _fasta_bytes(codes: np.ndarray, symbols: np.ndarray, width: int) -> bytes:
    text = symbols[codes]
    full = len(text) // width * width
    newlines = np.full((full // width, 1), ord("\n"), np.uint8)
    rows = np.concatenate([text[:full].reshape(-1, width), newlines], 1)
    tail = text[full:].tobytes() + b"\n" if len(text) > full else b""
    return rows.tobytes() + tail


def write_masked_fasta(
    f: SequenceFile,
    start: np.ndarray,
    stop: np.ndarray,
    out_path: str | Path,
    code: int,
    width: int = FASTA_WIDTH,
) -> None:
    """Write ``f`` with ``[start, stop)`` (file coordinates, sorted, disjoint) set to ``code``.

    Gzip when ``out_path`` ends with ``.gz`` (no time stamp: the same input gives the same bytes);
    atomic. Headers keep the record names; residues are written as the alphabet's upper-case symbols.
    """
    symbols = np.frombuffer(f.spec.alphabet.symbols.encode("ascii"), dtype=np.uint8)
    step = width * (1 << 16)
    out_path = Path(out_path)
    with io.atomic_path(out_path) as tmp, open(tmp, "wb") as raw:
        out = (
            gzip.GzipFile(filename="", fileobj=raw, mode="wb", compresslevel=6, mtime=0)
            if out_path.name.endswith(".gz")
            else raw
        )
        for r, name in enumerate(f.names):
            out.write(f">{name}\n".encode())
            rec_lo, rec_hi = int(f.offsets[r]), int(f.offsets[r] + f.lengths[r])
            for a in range(rec_lo, rec_hi, step):
                b = min(a + step, rec_hi)
                codes = np.array(f.codes[a:b])
                i0, i1 = np.searchsorted(stop, a, side="right"), np.searchsorted(start, b)
                for lo, hi in zip(start[i0:i1].tolist(), stop[i0:i1].tolist()):
                    codes[max(lo, a) - a : min(hi, b) - a] = code
                out.write(_fasta_bytes(codes, symbols, width))
        if out is not raw:
            out.close()


def decontaminate(
    corpus_path: str | Path,
    eval_sequences: list[np.ndarray],
    out_path: str | Path,
    spec: SequenceSpec,
    *,
    k: int = DEFAULT_K,
    threshold: float = DEFAULT_THRESHOLD,
    progress: bool = True,
    names: list[str] | None = None,
    k_option: str = "k",
) -> dict:
    """Write a copy of a FASTA corpus with every copy of an evaluation sequence masked.

    Which regions are masked: see the module docstring (whole loci that are copies, either strand,
    of a sequence with similarity >= ``threshold``). The mask symbol is ``N`` (``X`` for proteins).
    A sequence without ``k`` known residues in a row is refused (:func:`refuse_unseen`, which
    ``names`` and ``k_option`` word), before anything is read or written.

    Returns:
        ``eval_sequences``, ``verbatim_before``, ``near_before`` (the check before masking),
        ``masked_sequences`` (evaluation sequences with at least one masked copy), ``regions``
        (disjoint masked intervals), ``masked_bases`` (their total length) and ``corpus_bases``.
    """
    check_parameters(k, threshold, spec.alphabet.n_core)
    refuse_unseen(eval_sequences, k, spec.alphabet.n_core, names, k_option)
    code = mask_code(spec)
    corpus = Corpus([str(corpus_path)], spec)
    source, out_path = corpus.files[0], Path(out_path)
    io.refuse_overwriting(out_path, source.path, "corpus", "decontaminated copy")
    report, kmers, fraction = _measure(eval_sequences, corpus, k, threshold, "spec", progress)
    _, lo, hi, seq = _copy_loci(corpus, kmers, fraction, k, threshold, progress)
    start, stop = merge_intervals(lo, hi)
    write_masked_fasta(source, start, stop, out_path, code)
    before = report.summary()
    return {
        "eval_sequences": before["eval_sequences"],
        "verbatim_before": before["verbatim"],
        "near_before": before["near"],
        "masked_sequences": int(len(np.unique(seq))),
        "regions": int(len(start)),
        "masked_bases": int((stop - start).sum()),
        "corpus_bases": int(len(source.codes)),
    }
