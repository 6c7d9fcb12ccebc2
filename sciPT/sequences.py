"""Sequences shared by the DNA and protein domains: the one reader, corpora, random windows.

Reading. FASTA and FASTA.gz (detected by content, not name) are parsed with Biopython, any number
of records, any line wrapping. Every residue is normalised once to a ``uint8`` code (an index into
the domain's alphabet, :meth:`SequenceSpec.encode`): lower case (soft-masked repeats) is folded to
upper case, declared aliases are mapped (IUPAC ambiguity codes to ``N`` for DNA, for instance), and
any other character is an error naming the file, the record and the position. Two entry points
share these rules: :class:`SequenceFile` (a pre-training corpus, FASTA only, memory-mapped) and
:func:`~sciPT.sequence_inputs.read_sequences` (evaluation, fine-tuning and prediction inputs, held in
memory: FASTA or a CSV/TSV table, optionally labelled, see its docstring).

Storage. The codes are written once to an on-disk cache (``$SCIPT_CACHE`` or ``~/.cache/scipt``),
keyed by the file's SHA-256, and read back through ``numpy.memmap``: a window is a slice of a
memory-mapped file, so a genome of any size is never held encoded in memory (only one record's text
while it is first read).

Sampling. :class:`RandomWindows` draws window ``g`` from a generator seeded by ``(seed, split, g)``:
records are chosen with probability proportional to the number of windows they hold (genomes) or
uniformly (protein collections), the start uniformly, and the reverse complement with probability
1/2 when augmentation is on. With several files and a ``temperature`` T, file ``i`` is drawn with
probability proportional to ``mass_i ** (1 / T)``, ``mass_i`` being the sum of its records' weights
(its number of window starts for genomes, about its residues; its number of records for protein
collections), then a record within it as above: T = 1 is plain length weighting (the default, the
same draws as without temperatures), T -> infinity draws every file equally often. With curation
(:mod:`sciPT.curation`) windows are drawn only inside runs of kept tiles. Validation takes the last ``val_fraction`` of every record (genomes,
``val_mode="region"``) or a fixed hash-chosen subset of records (``val_mode="record"``; one record
at least, of two or more: :func:`held_out_records`), so training and validation never share a residue.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Literal

import numpy as np
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from . import io
from .errors import DataError
from .files import GZIP_ERRORS, damaged_gzip, file_sha256, refuse_directory, resolve_data_path, text_encoding
from .tokenizers import Alphabet, SequenceTokenizer

INVALID = 255
READER_VERSION = 2  # part of the cache name: bump when the reader could accept a file differently


@contextmanager
def open_text(path: Path) -> Iterator:
    """A text file, gzip-compressed or not (:func:`sciPT.files.text_encoding`), as a context manager
    giving its handle; a gzip file cut short or damaged (an interrupted download) is a
    :class:`DataError` naming it, whichever line reading it stopped at."""
    with open(path, "rb") as f:
        magic = f.read(2)
    if magic == b"\x1f\x8b":
        handle = gzip.open(path, "rt", encoding="utf-8-sig", errors="replace")
    else:
        handle = open(path, encoding=text_encoding(magic), errors="replace")
    try:
        yield handle
    except GZIP_ERRORS as error:
        raise damaged_gzip(path, error) from None
    finally:
        handle.close()


def bytes_read(handle) -> int:
    """How far into its file on disk a handle of :func:`open_text` has read (compressed bytes for
    gzip; the reader's look-ahead included)."""
    raw = handle.buffer
    raw = getattr(raw, "fileobj", raw)  # a GzipFile reads from the file object under it
    return raw.tell()


@dataclass(frozen=True)
class SequenceSpec:
    """What a domain accepts: its alphabet, aliases, and how to describe it in errors.

    Attributes:
        alphabet: canonical symbols in code order.
        aliases: extra accepted characters and the symbol each becomes (``{"R": "N"}``).
        description: the accepted characters, for error messages.
        strip_terminal: characters one of which is dropped at the end of a record (a protein's
            ``*`` stop; a second is internal, and refused).
        complement: for nucleic acids, the symbol each symbol pairs with (reverse complement).
        unknown: the symbol of an unknown residue (``N``, ``X``), what curation's ``max_n_run``
            counts; ``None``: every symbol outside the core alphabet.
    """

    alphabet: Alphabet
    aliases: dict
    description: str
    strip_terminal: str = ""
    complement: str | None = None
    unknown: str | None = None

    def lookup_table(self) -> np.ndarray:
        table = np.full(256, INVALID, dtype=np.uint8)
        for code, symbol in enumerate(self.alphabet.symbols):
            table[ord(symbol)] = table[ord(symbol.lower())] = code
        for alias, symbol in self.aliases.items():
            code = self.alphabet.symbols.index(symbol)
            table[ord(alias)] = table[ord(alias.lower())] = code
        return table

    @cached_property
    def _table(self) -> np.ndarray:
        return self.lookup_table()

    def encode(self, text: str, source, where: str, *, allow_empty: bool = False) -> np.ndarray:
        """The codes of one record's residues (surrounding white space and one trailing
        ``strip_terminal`` character dropped).

        A character outside the alphabet, or an empty record unless ``allow_empty``, is a one-line
        :class:`DataError` ``"{source}: {where} has 'X' at position 4; expected {description}"``,
        ``where`` naming the record (``"record 'chr2' (#2)"``, ``"line 3"``).
        """
        stripped = text.strip()
        # one byte per character ('?' for any non-ASCII one), so a position in raw is one in stripped
        raw = stripped.encode("ascii", "replace")
        if raw and chr(raw[-1]) in self.strip_terminal:  # one terminal stop; a second is internal
            raw = raw[:-1]
        if not raw and not allow_empty:
            raise DataError(f"{source}: {where} has an empty sequence")
        codes = self._table[np.frombuffer(raw, dtype=np.uint8)]
        bad = np.flatnonzero(codes == INVALID)
        if bad.size:
            pos = int(bad[0])
            raise DataError(
                f"{source}: {where} has {stripped[pos]!r} at position {pos + 1}; expected {self.description}"
            )
        return codes

    def aliased(self, text: str) -> bool:
        """Whether ``text`` holds an alias (a character read as another symbol: an IUPAC ambiguity
        code read as ``N``), which its codes no longer tell."""
        return self.aliases_in(text) > 0

    def aliases_in(self, text: str) -> int:
        """How many characters of ``text`` are aliases (:meth:`aliased`)."""
        if not self.aliases:
            return 0
        return int(self._alias_table[np.frombuffer(text.encode("ascii", "replace"), dtype=np.uint8)].sum())

    @cached_property
    def _alias_table(self) -> np.ndarray:
        table = np.zeros(256, dtype=bool)
        for alias in self.aliases:
            table[ord(alias)] = table[ord(alias.lower())] = True
        return table

    def unknown_codes(self) -> np.ndarray:
        """The codes of unknown residues: the ``unknown`` symbol's, else every non-core code."""
        symbols = self.alphabet.symbols
        if self.unknown is not None:
            return np.array([symbols.index(self.unknown)], dtype=np.uint8)
        return np.arange(self.alphabet.n_core, len(symbols), dtype=np.uint8)

    def complement_codes(self) -> np.ndarray | None:
        if self.complement is None:
            return None
        symbols = self.alphabet.symbols
        return np.array([symbols.index(c) for c in self.complement], dtype=np.uint8)

    def signature(self) -> str:
        text = json.dumps([self.alphabet.symbols, sorted(self.aliases.items()), self.strip_terminal])
        return hashlib.sha256(text.encode()).hexdigest()[:12]


def check_file(path: Path, expected: str) -> None:
    """A one-line :class:`DataError` for a missing or empty file; ``expected`` says what it should hold."""
    refuse_directory(path, expected)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: file is empty (expected {expected})")


def fasta_records(handle, source) -> Iterator[tuple[int, str, str, str]]:
    """``(number from 1, name, header, residues)`` of every record of an open FASTA text file.

    Parsed by Biopython (any line wrapping); the name is the header's first word, ``record<n>``
    for an empty header. Text before the first ``>`` is a :class:`DataError` naming ``source`` and
    the line (text with no ``>`` at all yields no record: the caller says so).
    """
    # Biopython comes with the sequence domains' extra; the core (and a molecules or surrogates
    # install) imports this module for its other helpers without it
    from Bio.SeqIO.FastaIO import SimpleFastaParser

    try:
        for n, (title, text) in enumerate(SimpleFastaParser(_headed_lines(handle, source)), start=1):
            yield n, (title.split(None, 1)[0] if title.strip() else f"record{n}"), title, text
    except ValueError as err:  # Biopython: text before the first '>'
        raise DataError(f"{source}: not FASTA ({err})") from None


def _headed_lines(handle, source) -> Iterator[str]:
    """The lines of ``handle``, refusing residues above the first header: Biopython skips them
    without a word, so a lost first header would drop its record's residues silently."""
    first_text = None
    for number, line in enumerate(handle, start=1):
        if line.startswith(">"):
            if first_text is not None:
                raise DataError(
                    f"{source}: line {first_text} comes before the first FASTA header; "
                    "expected every sequence line under a '>' header"
                )
            yield line
            break
        if line[:1].isspace() and line.lstrip().startswith(">"):
            # Biopython takes it for text above a header, so a file of such headers reads as empty
            raise DataError(_indented_header_message(source, number))
        if first_text is None and line.strip():
            first_text = number
            if line.startswith("@"):
                raise DataError(fastq_message(source, number))
    yield from handle


def _indented_header_message(source, line: int) -> str:
    return f"{source}: line {line} has spaces before its '>'; expected a FASTA header to start its line"


def check_fasta_start(path: Path) -> None:
    """Refuse a file whose first text is not a FASTA header, reading no further than that line
    (the full reader, :func:`fasta_records`, refuses it too, but a streamed shard is read only
    once its rank trains, after the run's folder is made)."""
    with open_text(path) as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            if line.startswith(">"):
                return
            if line.startswith("@"):
                raise DataError(fastq_message(path, number))
            if line.lstrip().startswith(">"):
                raise DataError(_indented_header_message(path, number))
            raise DataError(
                f"{path}: line {number} is not a FASTA header; expected a FASTA file, its first text a '>' header"
            )
    raise DataError(f"{path}: no FASTA records (expected lines starting with '>')")


def fastq_message(source, line: int) -> str:
    """The refusal of a file whose first text is a FASTQ read header (``@``)."""
    return (
        f"{source}: looks like FASTQ (line {line} starts with '@'); expected FASTA ('>' headers) "
        "or, where labelled sequences are read, a CSV/TSV table"
    )


def _cache_dir() -> Path:
    return io.cache_dir("sequences")


class SequenceFile:
    """One FASTA file, normalised to codes and memory-mapped.

    Attributes:
        path: the FASTA file. sha256: its hash (recorded as pre-training provenance).
        names, offsets, lengths: per record. codes: ``np.memmap`` of every record, concatenated.
    """

    def __init__(self, path: str | Path, spec: SequenceSpec):
        self.path = resolve_data_path(path)
        check_file(self.path, "FASTA records")
        self.spec = spec
        self.sha256 = file_sha256(self.path)
        stem = _cache_dir() / f"{self.sha256}-{spec.signature()}-r{READER_VERSION}"
        index_path, codes_path = stem.with_suffix(".json"), stem.with_suffix(".u8")
        if not (index_path.is_file() and codes_path.is_file()):
            self._build(codes_path, index_path)
        index = json.loads(index_path.read_text())
        self.names: list[str] = index["names"]
        self.lengths = np.array(index["lengths"], dtype=np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(self.lengths)[:-1]]).astype(np.int64)
        total = int(self.lengths.sum())
        self.codes = (
            np.memmap(codes_path, dtype=np.uint8, mode="r", shape=(total,))
            if total
            else np.zeros(0, dtype=np.uint8)
        )

    def _build(self, codes_path: Path, index_path: Path) -> None:
        names, lengths = [], []
        codes_path.parent.mkdir(parents=True, exist_ok=True)
        size = self.path.stat().st_size
        with io.atomic_path(codes_path) as tmp, open(tmp, "wb") as out, open_text(self.path) as handle:
            bar = tqdm(
                total=size,
                unit="B",
                unit_scale=True,
                desc=f"reading {self.path.name}",
                leave=False,
                disable=size < 20_000_000,
            )
            try:
                for n, name, _title, text in fasta_records(handle, self.path):
                    codes = self.spec.encode(text, self.path, f"record '{name}' (#{n})", allow_empty=True)
                    out.write(codes.tobytes())
                    names.append(name)
                    lengths.append(len(codes))
                    # in bytes of the file on disk, as the total is: counted in characters read, a
                    # gzip file's bar ran to 284 %
                    bar.update(bytes_read(handle) - bar.n)
            finally:
                bar.close()
        if not names:
            raise DataError(f"{self.path}: no FASTA records (expected lines starting with '>')")
        if sum(lengths) == 0:
            raise DataError(f"{self.path}: every record is empty")
        io.write_json(index_path, {"file": str(self.path), "names": names, "lengths": lengths})

    def record(self, i: int) -> np.ndarray:
        return self.codes[self.offsets[i] : self.offsets[i] + self.lengths[i]]

    def provenance(self) -> dict:
        return {
            # absolute: the contamination checks of evaluate and fine-tuning reopen the corpus,
            # from whatever directory they run in
            "path": str(self.path.resolve()),
            "sha256": self.sha256,
            "bytes": self.path.stat().st_size,
            "records": len(self.names),
            "residues": int(self.lengths.sum()),
        }

    def symbol_counts(self, n_symbols: int, chunk: int = 1 << 24) -> np.ndarray:
        counts = np.zeros(n_symbols, dtype=np.int64)
        for start in range(0, len(self.codes), chunk):
            counts += np.bincount(self.codes[start : start + chunk], minlength=n_symbols)[:n_symbols]
        return counts


class Corpus:
    """Several :class:`SequenceFile` s seen as one list of records ``(file, record)``."""

    def __init__(self, paths: list[str], spec: SequenceSpec):
        if not paths:
            raise DataError("data.paths: no FASTA file given")
        self.spec = spec
        self.files = [SequenceFile(p, spec) for p in paths]
        self.records = [(f, i) for f in self.files for i in range(len(f.names))]
        self.lengths = np.array([f.lengths[i] for f, i in self.records], dtype=np.int64)

    def refuse_repeated_files(self) -> None:
        """A :class:`DataError` where two of the files hold the same bytes (one path given twice, or a
        copy): a training corpus would draw that genome twice as often, without a word."""
        seen: dict[str, SequenceFile] = {}
        for f in self.files:
            first = seen.setdefault(f.sha256, f)
            if first is not f:
                what = (
                    "given twice" if first.path.resolve() == f.path.resolve() else f"a copy of {first.path}"
                )
                raise DataError(
                    f"{f.path}: {what} (SHA-256 {f.sha256[:16]}...); expected each corpus file once "
                    "(--data.temperature sets how often each file is drawn)"
                )

    def codes(self, r: int, start: int, stop: int) -> np.ndarray:
        f, i = self.records[r]
        off = f.offsets[i]
        return np.asarray(f.codes[off + start : off + stop])

    def provenance(self) -> list[dict]:
        return [f.provenance() for f in self.files]

    @cached_property
    def file_symbol_counts(self) -> list[np.ndarray]:
        """Per file, how often each symbol of the alphabet occurs: one pass over the corpus, which
        its checks and its order-0 entropy share."""
        return [f.symbol_counts(len(self.spec.alphabet.symbols)) for f in self.files]

    def known_residues(self) -> np.ndarray:
        """Per file, the residues that are not unknown (the first ``n_core`` symbols): the ones a
        masked model is ever asked to predict."""
        n_core = self.spec.alphabet.n_core
        return np.array([int(counts[:n_core].sum()) for counts in self.file_symbol_counts])

    def unknown_words(self) -> str:
        """The unknown symbol and what is read as it (``"N, R, Y, ..."``)."""
        unknown = self.spec.unknown or "?"
        return unknown + "".join(f", {a}" for a, b in self.spec.aliases.items() if b == unknown)

    def order0_entropy(self, symbols: int) -> float:
        """Entropy (nats) of the residue frequencies over the first ``symbols`` codes."""
        counts = sum(self.file_symbol_counts)[:symbols]
        p = counts / counts.sum()
        p = p[p > 0]
        return float(-(p * np.log(p)).sum())


def split_bounds(
    corpus: Corpus, split: str, val_fraction: float, val_mode: str
) -> tuple[np.ndarray, np.ndarray]:
    """``(lo, hi)`` per record: the part of each record that belongs to ``split`` (module docstring)."""
    held = held_out_records(corpus, val_fraction) if val_mode == "record" else None
    starts, stops = [], []
    for r in range(len(corpus.records)):
        length = int(corpus.lengths[r])
        if held is None:
            cut = length - int(round(length * val_fraction))
            lo, hi = (0, cut) if split == "train" else (cut, length)
        else:
            lo, hi = (0, length) if held[r] == (split == "val") else (0, 0)
        starts.append(lo)
        stops.append(hi)
    return np.array(starts), np.array(stops)


def held_out_records(corpus: Corpus, val_fraction: float) -> np.ndarray:
    """Which records ``val_mode="record"`` holds out for validation (bool per record): those whose
    name's CRC-32 (mod 10,000) falls below ``val_fraction`` of 10,000, so a record's side never
    depends on the others. Where that holds none of 2 or more non-empty records out (2% of a few
    proteins), the non-empty one lowest by the same hash is held out: a run asked for validation
    would otherwise train without it, without a word."""
    ranks = np.array([zlib.crc32(f.names[i].encode()) % 10_000 for f, i in corpus.records], dtype=np.int64)
    held = ranks < val_fraction * 10_000
    filled = np.flatnonzero(np.asarray(corpus.lengths) > 0)
    if val_fraction > 0 and not held[filled].any() and len(filled) >= 2:
        held[filled[np.argmin(ranks[filled])]] = True
    return held


def file_warnings(corpus: Corpus, train: RandomWindows, window: int, curated: bool) -> list[str]:
    """What a corpus's files hold that a run should say: records without sequence (allowed, a
    placeholder contig, but counted in the report) and files no training window is drawn from
    (listed among the files the model saw, yet trained on in nothing); one line each."""
    lines = []
    for f, mass, known in zip(corpus.files, train.file_mass, corpus.known_residues()):
        if known == 0 and f.lengths.sum() > 0:
            lines.append(
                f"warning: {f.path}: every residue is unknown ({corpus.unknown_words()}): its windows "
                "hold nothing to predict, yet are drawn as often as its size says"
            )
        empty = int((f.lengths == 0).sum())
        if empty:
            lines.append(
                f"warning: {f.path}: {empty} of {len(f.names)} records have no sequence; nothing is read "
                "from them"
            )
        # a probability a cold temperature rounds to 0 is not this: the file holds windows
        if mass == 0:
            kept = ", kept by curation," if curated else ""
            lines.append(
                f"warning: {f.path}: no record's training part{kept} holds a window of {window} "
                "residues; no window is drawn from this file"
            )
    return lines


class RandomWindows(Dataset):
    """Sample ``g`` -> the codes of one random window (see the module docstring).

    Args:
        corpus: the records to draw from.
        window: residues per sample; shorter records are skipped (``pad_short=False``) or returned
            whole (``pad_short=True``, padded later by the tokenizer's batch).
        split: ``"train"`` or ``"val"``.
        val_fraction, val_mode: the held-out part (module docstring).
        weighting: ``"length"`` (records by number of windows) or ``"uniform"``.
        reverse_complement: draw the reverse complement with probability 1/2.
        size: number of samples (``len``); sampling is by index so it only bounds iteration.
        temperature: files drawn with probability proportional to their mass ``** (1 / T)``
            (module docstring); ``file_probabilities`` holds the result.
        curation: a :class:`sciPT.curation.Curation`: windows only inside its kept tiles.
    """

    def __init__(
        self,
        corpus: Corpus,
        window: int,
        *,
        split: Literal["train", "val"] = "train",
        val_fraction: float = 0.02,
        val_mode: Literal["region", "record"] = "region",
        weighting: Literal["length", "uniform"] = "length",
        pad_short: bool = False,
        reverse_complement: bool = False,
        seed: int = 0,
        size: int = 1 << 40,
        source: str = "data",
        temperature: float = 1.0,
        curation=None,
    ):
        self.corpus, self.window, self.split = corpus, window, split
        self.seed, self.size, self.pad_short = seed, size, pad_short
        self.complement = corpus.spec.complement_codes() if reverse_complement else None
        if curation is None:
            self.lo, self.hi = split_bounds(corpus, split, val_fraction, val_mode)
            self.rec = np.arange(len(corpus.records))
        else:  # only the kept tiles (sciPT.curation)
            self.rec, self.lo, self.hi = curation.segments(split)
        span = self.hi - self.lo
        n_windows = (
            span - window + 1 if not pad_short else np.where(span > 0, np.maximum(span - window + 1, 1), 0)
        )
        n_windows = np.maximum(n_windows, 0)
        if n_windows.sum() == 0:
            if split == "val":
                self.cum = None
                return
            if curation is not None:
                raise DataError(
                    f"{source}: no window of {window} residues fits in the training part kept by "
                    "curation (sciPT.curation: fewer filters, or a larger data.tile)"
                )
            longest = int(np.argmax(corpus.lengths))
            f, i = corpus.records[longest]
            raise DataError(
                f"{source}: a window of {window} residues is longer than every record's training part "
                f"(longest: '{f.names[i]}' in {f.path}, {int(corpus.lengths[longest])} residues)"
            )
        w = n_windows if weighting == "length" else (n_windows > 0).astype(float)
        self.n_windows = n_windows
        # files: each one's mass (the sum of its segments' weights) raised to 1 / temperature
        file_of = np.repeat(np.arange(len(corpus.files)), [len(f.names) for f in corpus.files])[self.rec]
        mass = np.bincount(file_of, weights=w, minlength=len(corpus.files))
        self.file_mass = mass  # > 0 where a file holds a window, whatever its probability rounds to
        # in logs: mass ** (1 / T) overflows below T ~ 0.02 (E. coli: 4.6e6 ** 50), and inf / inf
        # made every probability NaN, every window drawn from the first file
        held = mass > 0
        log_share = np.full(len(mass), -np.inf)
        log_share[held] = np.log(mass[held]) / temperature
        share = np.exp(log_share - log_share[held].max())
        self.file_probabilities = share / share.sum()
        if temperature == 1.0:  # by length, exactly as before temperatures existed
            self.cum = np.cumsum(w / w.sum())
        else:
            within = np.divide(w, mass[file_of], out=np.zeros(len(w)), where=mass[file_of] > 0)
            self.cum = np.cumsum(within * self.file_probabilities[file_of])

    @property
    def empty(self) -> bool:
        return self.cum is None

    def longest_part(self) -> tuple[int, str, Path] | None:
        """The longest part of a record this split draws from: ``(residues, record name, file)``;
        ``None`` where the split holds no residue (``val_fraction`` 0, or no record held out)."""
        span = self.hi - self.lo
        if not len(span) or int(span.max()) <= 0:
            return None
        j = int(np.argmax(span))
        f, i = self.corpus.records[int(self.rec[j])]
        return int(span[j]), f.names[i], f.path

    def __len__(self) -> int:
        return 0 if self.empty else self.size

    def __getitem__(self, g: int) -> np.ndarray:
        rng = np.random.default_rng((self.seed, 0 if self.split == "train" else 1, g))
        r = int(np.searchsorted(self.cum, rng.random(), side="right"))
        r = min(r, len(self.cum) - 1)
        start = self.lo[r] + int(rng.integers(self.n_windows[r]))
        stop = min(start + self.window, self.hi[r])
        codes = self.corpus.codes(int(self.rec[r]), start, stop)
        if self.complement is not None and rng.random() < 0.5:
            codes = self.complement[codes[::-1]]
        return codes


class TokenCollate:
    """Picklable collate: a list of code arrays -> a padded token batch."""

    def __init__(self, tokenizer: SequenceTokenizer, max_tokens: int | None = None):
        self.tokenizer, self.max_tokens = tokenizer, max_tokens

    def __call__(self, items):
        return self.tokenizer.batch(list(items), self.max_tokens)
