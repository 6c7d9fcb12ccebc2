"""Sequence corpora shared by the DNA and protein domains: FASTA in, random windows out.

Reading. FASTA and FASTA.gz (detected by content, not name) are parsed with Biopython, any number
of records, any line wrapping. Every residue is normalised once to a ``uint8`` code (an index into
the domain's alphabet): lower case (soft-masked repeats) is folded to upper case, declared aliases
are mapped (IUPAC ambiguity codes to ``N`` for DNA, for instance), and any other character is an
error naming the file, the record and the position.

Storage. The codes are written once to an on-disk cache (``$SCIPT_CACHE`` or ``~/.cache/scipt``),
keyed by the file's SHA-256, and read back through ``numpy.memmap``: a window is a slice of a
memory-mapped file, so a genome of any size is never held encoded in memory (only one record's text
while it is first read).

Sampling. :class:`RandomWindows` draws window ``g`` from a generator seeded by ``(seed, split, g)``:
records are chosen with probability proportional to the number of windows they hold (genomes) or
uniformly (protein collections), the start uniformly, and the reverse complement with probability
1/2 when augmentation is on. Validation takes the last ``val_fraction`` of every record (genomes,
``val_mode="region"``) or a fixed hash-chosen subset of records (``val_mode="record"``), so training
and validation never share a residue.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from Bio.SeqIO.FastaIO import SimpleFastaParser
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from . import io
from .errors import DataError
from .tokenizers import Alphabet, SequenceTokenizer

INVALID = 255


def resolve_data_path(path: str | Path) -> Path:
    """``path`` as given, else relative to the repository (for the shipped ``data_recipes/`` files)."""
    path = Path(path)
    if path.exists() or path.is_absolute():
        return path
    shipped = Path(__file__).resolve().parents[1] / path
    return shipped if shipped.exists() else path


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def open_text(path: Path):
    with open(path, "rb") as f:
        magic = f.read(2)
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rt", encoding="ascii", errors="replace")
    return open(path, "rt", encoding="ascii", errors="replace")


@dataclass(frozen=True)
class SequenceSpec:
    """What a domain accepts: its alphabet, aliases, and how to describe it in errors.

    Attributes:
        alphabet: canonical symbols in code order.
        aliases: extra accepted characters and the symbol each becomes (``{"R": "N"}``).
        description: the accepted characters, for error messages.
        strip_terminal: characters dropped at the end of a record (a protein's ``*`` stop).
        complement: for nucleic acids, the symbol each symbol pairs with (reverse complement).
    """

    alphabet: Alphabet
    aliases: dict
    description: str
    strip_terminal: str = ""
    complement: str | None = None

    def lookup_table(self) -> np.ndarray:
        table = np.full(256, INVALID, dtype=np.uint8)
        for code, symbol in enumerate(self.alphabet.symbols):
            table[ord(symbol)] = table[ord(symbol.lower())] = code
        for alias, symbol in self.aliases.items():
            code = self.alphabet.symbols.index(symbol)
            table[ord(alias)] = table[ord(alias.lower())] = code
        return table

    def complement_codes(self) -> np.ndarray | None:
        if self.complement is None:
            return None
        symbols = self.alphabet.symbols
        return np.array([symbols.index(c) for c in self.complement], dtype=np.uint8)

    def signature(self) -> str:
        text = json.dumps([self.alphabet.symbols, sorted(self.aliases.items()), self.strip_terminal])
        return hashlib.sha256(text.encode()).hexdigest()[:12]


def _cache_dir() -> Path:
    root = os.environ.get("SCIPT_CACHE") or Path.home() / ".cache" / "scipt"
    return Path(root) / "sequences"


class SequenceFile:
    """One FASTA file, normalised to codes and memory-mapped.

    Attributes:
        path: the FASTA file. sha256: its hash (recorded as pre-training provenance).
        names, offsets, lengths: per record. codes: ``np.memmap`` of every record, concatenated.
    """

    def __init__(self, path: str | Path, spec: SequenceSpec):
        self.path = resolve_data_path(path)
        if not self.path.is_file():
            raise DataError(f"{path}: file not found")
        if self.path.stat().st_size == 0:
            raise DataError(f"{path}: file is empty (expected FASTA records)")
        self.spec = spec
        self.sha256 = file_sha256(self.path)
        stem = _cache_dir() / f"{self.sha256}-{spec.signature()}"
        index_path, codes_path = stem.with_suffix(".json"), stem.with_suffix(".u8")
        if not (index_path.is_file() and codes_path.is_file()):
            self._build(codes_path, index_path)
        index = json.loads(index_path.read_text())
        self.names: list[str] = index["names"]
        self.lengths = np.array(index["lengths"], dtype=np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(self.lengths)[:-1]]).astype(np.int64)
        total = int(self.lengths.sum())
        self.codes = np.memmap(codes_path, dtype=np.uint8, mode="r", shape=(total,)) if total else \
            np.zeros(0, dtype=np.uint8)

    def _build(self, codes_path: Path, index_path: Path) -> None:
        table = self.spec.lookup_table()
        names, lengths = [], []
        codes_path.parent.mkdir(parents=True, exist_ok=True)
        size = self.path.stat().st_size
        with io.atomic_path(codes_path) as tmp, open(tmp, "wb") as out, open_text(self.path) as handle:
            bar = tqdm(total=size, unit="B", unit_scale=True, desc=f"reading {self.path.name}",
                       leave=False, disable=size < 20_000_000)
            try:
                for n, (title, text) in enumerate(SimpleFastaParser(handle), start=1):
                    name = title.split(None, 1)[0] if title.strip() else f"record{n}"
                    raw = text.encode("ascii", "replace").rstrip(self.spec.strip_terminal.encode())
                    codes = table[np.frombuffer(raw, dtype=np.uint8)]
                    bad = np.flatnonzero(codes == INVALID)
                    if bad.size:
                        pos = int(bad[0])
                        raise DataError(
                            f"{self.path}: record '{name}' (#{n}) has {chr(raw[pos])!r} at position "
                            f"{pos + 1}; expected {self.spec.description}"
                        )
                    out.write(codes.tobytes())
                    names.append(name)
                    lengths.append(len(codes))
                    bar.update(len(text) + len(title))
            except ValueError as err:  # Biopython: text before the first '>'
                raise DataError(f"{self.path}: not FASTA ({err})") from None
            finally:
                bar.close()
        if not names:
            raise DataError(f"{self.path}: no FASTA records (expected lines starting with '>')")
        if sum(lengths) == 0:
            raise DataError(f"{self.path}: every record is empty")
        io.write_json(index_path, {"file": str(self.path), "names": names, "lengths": lengths})

    def record(self, i: int) -> np.ndarray:
        return self.codes[self.offsets[i]: self.offsets[i] + self.lengths[i]]

    def provenance(self) -> dict:
        return {"path": str(self.path), "sha256": self.sha256, "bytes": self.path.stat().st_size,
                "records": len(self.names), "residues": int(self.lengths.sum())}

    def symbol_counts(self, n_symbols: int, chunk: int = 1 << 24) -> np.ndarray:
        counts = np.zeros(n_symbols, dtype=np.int64)
        for start in range(0, len(self.codes), chunk):
            counts += np.bincount(self.codes[start: start + chunk], minlength=n_symbols)[:n_symbols]
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

    def codes(self, r: int, start: int, stop: int) -> np.ndarray:
        f, i = self.records[r]
        off = f.offsets[i]
        return np.asarray(f.codes[off + start: off + stop])

    def provenance(self) -> list[dict]:
        return [f.provenance() for f in self.files]

    def order0_entropy(self, symbols: int) -> float:
        """Entropy (nats) of the residue frequencies over the first ``symbols`` codes."""
        counts = sum(f.symbol_counts(len(self.spec.alphabet.symbols)) for f in self.files)[:symbols]
        p = counts / counts.sum()
        p = p[p > 0]
        return float(-(p * np.log(p)).sum())


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
    """

    def __init__(self, corpus: Corpus, window: int, *, split: Literal["train", "val"] = "train",
                 val_fraction: float = 0.02, val_mode: Literal["region", "record"] = "region",
                 weighting: Literal["length", "uniform"] = "length", pad_short: bool = False,
                 reverse_complement: bool = False, seed: int = 0, size: int = 1 << 40,
                 source: str = "data"):
        self.corpus, self.window, self.split = corpus, window, split
        self.seed, self.size, self.pad_short = seed, size, pad_short
        self.complement = corpus.spec.complement_codes() if reverse_complement else None
        starts, stops = [], []
        for r, (f, i) in enumerate(corpus.records):
            length = int(corpus.lengths[r])
            if val_mode == "region":
                cut = length - int(round(length * val_fraction))
                lo, hi = (0, cut) if split == "train" else (cut, length)
            else:
                held = zlib.crc32(f.names[i].encode()) % 10_000 < val_fraction * 10_000
                lo, hi = (0, length) if held == (split == "val") else (0, 0)
            starts.append(lo)
            stops.append(hi)
        self.lo, self.hi = np.array(starts), np.array(stops)
        span = self.hi - self.lo
        n_windows = span - window + 1 if not pad_short else np.where(span > 0, np.maximum(span - window + 1, 1), 0)
        n_windows = np.maximum(n_windows, 0)
        if n_windows.sum() == 0:
            if split == "val":
                self.cum = None
                return
            longest = int(np.argmax(corpus.lengths))
            f, i = corpus.records[longest]
            raise DataError(
                f"{source}: a window of {window} residues is longer than every record's training part "
                f"(longest: '{f.names[i]}' in {f.path}, {int(corpus.lengths[longest])} residues)"
            )
        w = n_windows if weighting == "length" else (n_windows > 0).astype(float)
        self.n_windows = n_windows
        self.cum = np.cumsum(w / w.sum())

    @property
    def empty(self) -> bool:
        return self.cum is None

    def __len__(self) -> int:
        return 0 if self.empty else self.size

    def __getitem__(self, g: int) -> np.ndarray:
        rng = np.random.default_rng((self.seed, 0 if self.split == "train" else 1, g))
        r = int(np.searchsorted(self.cum, rng.random(), side="right"))
        r = min(r, len(self.cum) - 1)
        start = self.lo[r] + int(rng.integers(self.n_windows[r]))
        stop = min(start + self.window, self.hi[r])
        codes = self.corpus.codes(r, start, stop)
        if self.complement is not None and rng.random() < 0.5:
            codes = self.complement[codes[::-1]]
        return codes


class TokenCollate:
    """Picklable collate: a list of code arrays -> a padded token batch."""

    def __init__(self, tokenizer: SequenceTokenizer, max_tokens: int | None = None):
        self.tokenizer, self.max_tokens = tokenizer, max_tokens

    def __call__(self, items):
        return self.tokenizer.batch(list(items), self.max_tokens)
