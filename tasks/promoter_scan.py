"""``scipt scan``: a promoter model slid along a genome, both strands, into a bedGraph.

The genome is read as a pre-training corpus is (:class:`sciPT.sequences.Corpus`, IUPAC ambiguity
codes as ``N``), and one line on standard error says how many records held an ambiguity code and
how many bases were read as ``N`` for one (:func:`ambiguity_note`), as ``scipt predict`` does.

The classifier reads sequences of the length it was fine-tuned on (``--window`` defaults to it): a
longer window is scored on its central part, a shorter one padded (:func:`window_reading`). One
line on standard error says so, and each track's description names the part read, so that a track
of 81-bp windows is not taken for a model of 81 bp.

The bedGraph is written as the scan goes, kept when the scan is stopped and continued by
``--resume`` (:mod:`.promoter_scan_output`).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from sciPT import io
from sciPT.domains.dna.data import DNA_SPEC, IUPAC_AMBIGUOUS
from sciPT.domains.dna.tokenizer import reverse_complement
from sciPT.errors import ConfigError, DataError
from sciPT.runconfig import positive_int
from sciPT.signals import EXIT_INTERRUPTED, EXIT_TERMINATED, Terminated, sigterm_raises

from .promoter_classifier import Classifier
from .promoter_export import load_classifier
from .promoter_scan_output import ScanOutput, folder_digest


def add_scan_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", metavar="RUN", help="promoter run directory (or its model/ folder)")
    parser.add_argument("--genome", required=True, help="FASTA or FASTA.gz genome (required)")
    parser.add_argument(
        "--window", type=positive_int, default=None, help="window in bp (default: the model's length)"
    )
    parser.add_argument(
        "--stride", type=positive_int, default=10, help="step between windows in bp (default: 10)"
    )
    parser.add_argument(
        "--output", required=True, type=io.output_file, help="bedGraph file to write (required)"
    )
    parser.add_argument(
        "--batch-size", type=positive_int, default=512, help="windows per batch (default: 512)"
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue the stopped scan kept in OUTPUT.partial, with the same model, genome, window, "
        "stride and batch size (default: off)",
    )


def refuse_repeated_names(genome: str, corpus) -> None:
    """Refuse two records of one name: a bedGraph tells records apart by name alone, so their
    scores would overlap under it, and no tool downstream could tell which is which."""
    first: dict[str, int] = {}
    for r, (f, i) in enumerate(corpus.records):
        name = f.names[i]
        if name in first:
            raise DataError(
                f"{genome}: records {first[name] + 1} and {r + 1} are both named '{name}'; expected "
                "one name per record (a bedGraph tells records apart by name alone)"
            )
        first[name] = r


def run_scan(args: argparse.Namespace) -> int:
    io.refuse_overwriting(args.output, args.genome, "genome", "scan")
    classifier, _ = load_classifier(args.run)
    window = classifier.length if args.window is None else args.window
    if window < 1 or args.stride < 1:
        raise ConfigError(
            f"--window and --stride: expected positive integers, got {window} and {args.stride}"
        )
    k = classifier.min_residues
    if window < k:
        # a window without one whole token would be scored by the head's bias alone, one constant
        # for every window of the genome
        raise ConfigError(
            f"--window {window}: fewer residues than the {k} of one of the model's tokens: nothing to "
            f"score (expected --window {k} or more)"
        )
    from sciPT.sequences import Corpus

    corpus = Corpus([args.genome], DNA_SPEC)
    refuse_repeated_names(args.genome, corpus)
    if window > int(corpus.lengths.max()):
        raise DataError(
            f"{args.genome}: window of {window} bp is longer than the genome's longest record "
            f"({int(corpus.lengths.max())} bp)"
        )
    note = ambiguity_note(args.genome, corpus)
    if note:
        print(note, file=sys.stderr)
    short = int((corpus.lengths < window).sum())
    if short:
        print(
            f"{args.genome}: {short} of {len(corpus.lengths)} records are shorter than the {window}-bp "
            "window and are not scanned",
            file=sys.stderr,
        )
    reading = window_reading(window, classifier.length)
    if reading:
        print(
            f"--window {window}: the model reads {classifier.length} bp (the length it was fine-tuned "
            f"on): each {window}-bp window is {reading}",
            file=sys.stderr,
        )
    settings = {
        "model": folder_digest(model_folder(args.run)),
        "genome": [f.sha256 for f in corpus.files],
        "window": window,
        "stride": args.stride,
        "batch_size": args.batch_size,
    }
    out = ScanOutput.open(args.output, settings, getattr(args, "resume", False))
    if out is None:
        return 0
    total = 2 * sum(window_count(int(n), window, args.stride) for n in corpus.lengths)
    gaps = 2 * unknown_windows(corpus, window, args.stride)
    if gaps:
        print(
            f"{args.genome}: {gaps:,} of {total:,} windows (both strands) lie wholly in runs of N "
            "(assembly gaps): they are scored like the others, but their score says nothing of the "
            "sequence",
            file=sys.stderr,
        )
    if out.windows:
        print(f"scipt scan: resuming {out.partial} ({out.windows:,} of {total:,} windows)", file=sys.stderr)
    started, before = time.time(), out.windows
    try:
        with sigterm_raises():
            n = scan_genome(classifier, corpus, window, args.stride, out, args.batch_size)
    except (KeyboardInterrupt, Terminated) as err:
        terminated = isinstance(err, Terminated)
        print(
            f"scipt: {'terminated (SIGTERM)' if terminated else 'interrupted'}; {out.keep(total)}",
            file=sys.stderr,
        )
        return EXIT_TERMINATED if terminated else EXIT_INTERRUPTED
    except BaseException:
        print(f"scipt scan: stopped by an error; {out.keep(total)}", file=sys.stderr)
        raise
    out.finish()
    elapsed = time.time() - started
    # the bases this run scanned: the share of the windows it scored
    rate = n * (total - before) / total / max(elapsed, 1e-9)
    this_run = f", {total - before:,} of {total:,} windows in this run," if before else ""
    print(
        f"scanned {n:,} bp on both strands{this_run} in {elapsed:.1f} s ({rate:,.0f} bp/s); wrote {args.output}",
        file=sys.stderr,
    )
    return 0


def model_folder(run: str) -> Path:
    """The folder of the exported model a scan reads: ``RUN/model``, or ``RUN`` if it is one."""
    return Path(run) / "model" if (Path(run) / "model").is_dir() else Path(run)


def window_count(length: int, window: int, stride: int) -> int:
    """How many windows :func:`scan_intervals` places on a record of ``length`` bases."""
    return (length - window) // stride + 1 if length >= window else 0


def ambiguity_counts(corpus, chunk: int = 1 << 24) -> tuple[int, int]:
    """``(records, bases)``: the records of ``corpus`` holding an IUPAC ambiguity code, and the
    ambiguity codes in all, each read as ``N``.

    The corpus's cached codes no longer tell an ambiguity code from an ``N``, so its FASTA text is
    read once more, by the corpus's own parser, one record at a time: a pass that costs far less
    than scanning the record.
    """
    from sciPT.sequences import fasta_records, open_text

    records = bases = 0
    for f in corpus.files:
        with open_text(f.path) as handle:
            for _, _, _, text in fasta_records(handle, f.path):
                held = 0
                # in slices: a chromosome's text is held once, not again whole as bytes and flags
                for i in range(0, len(text), chunk):
                    held += DNA_SPEC.aliases_in(text[i : i + chunk])
                records += held > 0
                bases += held
    return records, bases


def unknown_runs(codes: np.ndarray, unknown: int, chunk: int = 1 << 24, min_length: int = 1):
    """``(start, stop)`` of every run of ``unknown`` in ``codes`` (a record, memory-mapped) at least
    ``min_length`` long, read in chunks so that a chromosome is never held whole as flags (and
    runs filtered in numpy: a genome of scattered N holds millions of short ones)."""
    open_at = None  # a run that reached the end of the last chunk
    for at in range(0, len(codes), chunk):
        flags = np.concatenate([[False], np.asarray(codes[at : at + chunk]) == unknown, [False]])
        change = np.flatnonzero(np.diff(flags.astype(np.int8)))
        starts, stops = at + change[0::2], at + change[1::2]
        if open_at is not None:
            if len(starts) and starts[0] == at:  # the carried run goes on into this chunk
                starts[0] = open_at
            else:
                if at - open_at >= min_length:
                    yield open_at, at
            open_at = None
        if len(stops) and stops[-1] == at + len(flags) - 2 and at + chunk < len(codes):
            open_at = int(starts[-1])  # reaches this chunk's end, not the record's: it may go on
            starts, stops = starts[:-1], stops[:-1]
        keep = stops - starts >= min_length
        yield from zip(starts[keep].tolist(), stops[keep].tolist())


def unknown_windows(corpus, window: int, stride: int) -> int:
    """How many windows of one strand lie wholly in runs of ``N`` (assembly gaps): windows start
    at multiples of ``stride`` (:func:`scan_intervals`)."""
    unknown = DNA_SPEC.alphabet.symbols.index(DNA_SPEC.unknown)
    n = 0
    for f, i in corpus.records:
        for a, b in unknown_runs(f.record(i), unknown, min_length=window):
            n += max(0, (b - window) // stride - (-(-a // stride)) + 1)
    return n


def ambiguity_note(source: str, corpus) -> str | None:
    """One line saying how many of the genome's records held IUPAC ambiguity codes, and how many
    bases were read as ``N`` for them (``None``: none did)."""
    records, bases = ambiguity_counts(corpus)
    if not records:
        return None
    return (
        f"{source}: {records} of {len(corpus.records)} records held IUPAC ambiguity codes "
        f"({' '.join(IUPAC_AMBIGUOUS)}), {bases:,} base{'s' if bases != 1 else ''} in all, read as N"
    )


def scan_intervals(length: int, window: int, stride: int, first: int = 0, count: int | None = None):
    """Window starts and the bedGraph interval each window's score is written to, for the windows
    ``first .. first + count - 1`` of the record (default: all of them).

    Windows start at ``0, stride, 2 stride, ...`` while they fit. Overlapping windows would give
    overlapping bedGraph intervals (which bigWig conversion refuses), so each window's score covers
    only the ``stride`` bases at its centre: ``[s + (window - stride) // 2, ... + stride)``, clipped
    to the window when ``stride > window``. Coordinates are 0-based, half-open (bedGraph).
    """
    n = window_count(length, window, stride)
    last = n if count is None else min(n, first + count)
    starts = np.arange(first, max(first, last), dtype=np.int64) * stride
    offset = max(0, (window - stride) // 2)
    lo = starts + offset
    hi = np.minimum(lo + stride, starts + window)
    return starts, lo, hi


def window_reading(window: int, length: int) -> str | None:
    """How the classifier reads a window: one longer than its fine-tuning ``length`` is cropped to
    its centre, a shorter one padded (:func:`.promoter_classifier.crop`); ``None``: as it is."""
    if window > length:
        return f"scored on its central {length} bp"
    if window < length:
        return f"padded to the model's {length} bp"
    return None


def scan_genome(
    classifier: Classifier, corpus, window: int, stride: int, out: ScanOutput, batch_size: int
) -> int:
    """Write a two-track bedGraph (plus then minus strand) to ``out``, after the windows it already
    holds (a resumed scan); returns the bases scanned."""
    # each record's own count (window_count): rounding the sum over records instead left the bar
    # short by up to one window a record
    total = sum(window_count(int(length), window, stride) for length in corpus.lengths)
    done = out.windows
    # scaled (12.3k) counts on a genome; a few windows counted whole, not as 6.00
    bar = tqdm(total=2 * total, initial=done, desc="scanning", unit="window", unit_scale=total >= 1000)
    try:
        return _scan(classifier, corpus, window, stride, out, batch_size, bar)
    finally:
        bar.close()  # before the line that says where a stopped scan is kept


def _scan(classifier, corpus, window, stride, out, batch_size, bar) -> int:
    done = out.windows
    # the track says what the classifier read, not only the window cut from the genome
    reading = window_reading(window, classifier.length)
    reading = f" ({reading})" if reading else ""
    index = scanned = 0  # windows in the order they are written; a resumed scan skips `done` of them
    mirror = None  # a strand-symmetric model scores a window and its reverse complement alike
    try:
        for strand, label in (("+", "plus"), ("-", "minus")):
            if index >= done:
                out.write(
                    f'track type=bedGraph name="promoter {label}" description="promoter probability, '
                    f'{label} strand, window {window} bp{reading}, stride {stride} bp"\n'
                )
            if strand == "-" and getattr(classifier, "strand_symmetric", False):
                # so its minus track is its plus track, line for line: copied, not scored a second time
                mirror = out.first_track()
            for r, (f, i) in enumerate(corpus.records):
                length = int(corpus.lengths[r])
                scanned += length if strand == "+" and length >= window else 0
                windows = window_count(length, window, stride)
                if index + windows <= done:  # too short to scan, or scanned before a resume
                    index += windows
                    _skip(mirror, windows)
                    continue
                record = corpus.codes(r, 0, length)
                name = f.names[i]
                # a batch's windows at a time: a record's whole set of intervals grows with its length
                # over the stride (3 x 8 bytes a window: 6 GB for human chr1 at stride 1)
                for b in range(0, windows, batch_size):
                    batch, lo, hi = scan_intervals(length, window, stride, b, batch_size)
                    index += len(batch)
                    if index <= done:
                        _skip(mirror, len(batch))
                        continue
                    if mirror is not None:
                        out.write("".join(next(mirror) for _ in batch), len(batch))
                        bar.update(len(batch))
                        continue
                    chunk = [record[s : s + window] for s in batch]
                    if strand == "-":
                        chunk = [reverse_complement(c) for c in chunk]
                    p = classifier.predict(chunk, batch_size)
                    out.write("".join(f"{name}\t{a}\t{z}\t{v:.6f}\n" for a, z, v in zip(lo, hi, p)), len(p))
                    bar.update(len(chunk))
    finally:  # an interrupted scan leaves no reader open on the file it keeps
        if mirror is not None:
            mirror.close()
    return scanned


def _skip(lines, n: int) -> None:
    """Advance ``lines`` (a mirrored track, or ``None``) past ``n`` windows scanned before a resume."""
    for _ in range(n if lines is not None else 0):
        next(lines)
