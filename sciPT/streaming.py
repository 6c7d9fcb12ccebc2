"""Sharded corpora: each rank reads only its own shards, deterministically by global step.

A corpus larger than one machine's disk cache is a directory (or a glob pattern) of many shard
files. In streaming mode nobody holds the whole corpus: the shards are divided between the ranks
once, from their sizes alone (:func:`assign_shards`), and a rank opens, normalises and caches its
own shards only, so a node's cache holds ``1 / nodes`` of the corpus.

Which mode. ``data.streaming``: ``true`` shards, ``false`` gives every rank every file (the plain
path: one memory-mapped cache of the whole corpus per node), ``null`` (the default) shards when a
path names a directory or a glob pattern (``--data shards/`` or ``--data 'shards/*.fa.gz'``) and
reads a list of files the plain way.

Assignment (:func:`assign_shards`). Largest shard first, each to the rank with the fewest bytes so
far (ties: the lower rank); equal-sized shards thus go round-robin, shard ``i`` to rank ``i mod
W``, and no rank holds more than the mean load plus one shard. It depends only on the sorted list
of shards, their sizes and the world size ``W``, so every rank computes the same table without
talking to the others. There must be at least as many shards as ranks.

Sampling. The loader numbers a sharded dataset's samples per rank (:class:`sciPT.data.RankSharded`):
batch ``b`` of every rank holds samples ``b B .. b B + B - 1`` of that rank's own dataset, and the
rank's windows come from :class:`~sciPT.sequences.RandomWindows` over its shards with the seed
``rank_seed(seed, rank)`` (the same window, mask and reverse-complement code as the plain path:
masks are seeded by step and rank in :mod:`sciPT.module`). Sample ``n`` of rank ``r`` is thus a
pure function of ``(seed, r, W, n)``; a run resumed at global step ``s`` restarts at batch
``s * accumulate`` and sees exactly the batches of the uninterrupted run, provided it resumes with
the same world size (another world size reassigns the shards). The corpus as a whole is sampled as
the average of the ranks' own length-weighted draws; with balanced shards that is close to the
plain path's weighting by length. ``temperature`` and curation apply within a rank's shards
(duplicates between shards of different ranks are not found).

Validation comes from each rank's own shards (the held-out tail of every record, as in the plain
path); a rank whose shards hold no validation window is an error naming them.

Provenance. The export records every shard's path, size and SHA-256. Rank 0 alone computes these
(a sequential read of every shard, nothing kept), taking a hash from a ``SHA256SUMS`` file (the
``sha256sum`` format) in the shard's folder when it lists the shard, and caching computed hashes by
path, size and modification time (``$SCIPT_CACHE/hashes``).

Why not an existing streaming library. ``litdata`` (0.2.76, installable here with boto3, obstore
and torchvision) serves fixed items written beforehand by its ``optimize`` step, a full converted
copy of the corpus; our samples are windows at random positions of whole records, which it would
force us either to pre-cut (losing the random starts and the record weighting the plain path
uses) or to re-implement on top of it. Its ``StreamingDataset`` is iterable and resumes from the
loader's own state (samples yielded per worker, saved in the checkpoint), which depends on the
number of workers, not from the global step; the trainer here positions every loader by step
(:mod:`sciPT.data`), so exact resume across ranks would rest on two mechanisms instead of one.
What remains to write is small: listing, a size-balanced assignment, and a per-rank
:class:`~sciPT.sequences.Corpus`.
"""

from __future__ import annotations

import glob
import hashlib
import json
import sys
from pathlib import Path

import numpy as np

from . import io
from .errors import ConfigError, DataError
from .files import file_sha256, resolve_data_path

FASTA_SUFFIXES = (".fa", ".fasta", ".fna", ".faa", ".ffn", ".fas", ".fsa")
GLOB_CHARS = "*?["


class RankSharded:
    """A dataset that differs per rank: :meth:`for_rank` builds the rank's own (map-style) dataset.

    The loaders of :mod:`sciPT.data` call it once they know the rank and the world size, and then
    number the samples per rank: batch ``b`` holds samples ``b B .. b B + B - 1`` of the rank's
    dataset (a plain dataset is numbered across ranks instead, the ranks sharing one dataset).
    """

    def for_rank(self, rank: int, world_size: int):
        raise NotImplementedError


def is_pattern(path: str) -> bool:
    """Whether ``path`` is a glob pattern: it holds ``*``, ``?`` or ``[`` and names no file or
    folder as it is (``genome [v2].fa`` is a file's name, which as a pattern matched ``genome
    2.fa`` and trained on it)."""
    return any(c in str(path) for c in GLOB_CHARS) and not resolve_data_path(path).exists()


def names_shards(paths: list[str]) -> bool:
    """Whether ``paths`` names a sharded corpus: a directory or a glob pattern among them."""
    return any(is_pattern(p) or resolve_data_path(p).is_dir() for p in paths)


def use_streaming(streaming: bool | None, paths: list[str]) -> bool:
    """``data.streaming`` resolved: ``None`` shards exactly when :func:`names_shards`."""
    return names_shards(paths) if streaming is None else bool(streaming)


def expand_shards(paths: list[str], suffixes: tuple[str, ...], expected: str) -> list[Path]:
    """The files named by ``paths``, in order: a directory gives its files ending in one of
    ``suffixes`` (or that plus ``.gz``), sorted by name, hidden files skipped; a glob pattern its
    matches, sorted; a file itself. A directory or pattern with no such file is a
    :class:`DataError` naming it and ``expected``."""
    out: list[Path] = []
    # .bgz: block gzip (bgzip, samtools), which gzip reads
    wanted = tuple(s for suffix in suffixes for s in (suffix, suffix + ".gz", suffix + ".bgz"))
    for p in paths:
        if is_pattern(p):
            found = sorted(Path(m) for m in glob.glob(str(p)) if Path(m).is_file())
            if not found and not any(c in str(p) for c in "*?"):
                # `genome[v2].fa` is more often a file's name than a set of characters
                raise DataError(
                    f"{p}: no such file, nor a file it matches as a glob pattern (expected {expected})"
                )
            if not found:
                raise DataError(f"{p}: no file matches the pattern (expected {expected})")
            out += found
            continue
        resolved = resolve_data_path(p)
        if resolved.is_dir():
            found = sorted(
                f
                for f in resolved.iterdir()
                if f.is_file() and not f.name.startswith(".") and f.name.lower().endswith(wanted)
            )
            if not found:
                raise DataError(
                    f"{resolved}: no {' / '.join(suffixes)} file in the folder (expected {expected})"
                )
            out += found
        else:
            out.append(resolved)
    return out


def assign_shards(sizes: list[int], world_size: int) -> list[int]:
    """The rank that owns each shard (module docstring): largest first, to the least-loaded rank."""
    if world_size < 1:
        raise ValueError(f"world_size: expected at least 1, got {world_size}")
    loads = [0] * world_size
    owner = [0] * len(sizes)
    for i in sorted(range(len(sizes)), key=lambda i: (-sizes[i], i)):
        r = min(range(world_size), key=lambda r: (loads[r], r))
        owner[i] = r
        loads[r] += sizes[i]
    return owner


def rank_seed(seed: int, rank: int) -> int:
    """The sampling seed of ``rank``'s own shards: a 63-bit mix of ``(seed, rank)``."""
    return int(np.random.SeedSequence([seed, rank]).generate_state(1, np.uint64)[0] >> 1)


def _hash_cache_dir() -> Path:
    return io.cache_dir("hashes")


def file_key(path: Path) -> str:
    """A cache key of ``path`` as it is now: its path, size, modification and status-change times
    and inode (a file replaced with its modification time kept, as ``cp -p`` or ``rsync -a`` do,
    changes the last two, which no user tool sets back)."""
    stat = path.stat()
    fields = (path.resolve(), stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino)
    return hashlib.sha256("\0".join(map(str, fields)).encode()).hexdigest()


def listed_sha256(path: Path) -> str | None:
    """``path``'s SHA-256 as ``SHA256SUMS`` beside it lists it (``None``: not listed)."""
    sums = path.parent / "SHA256SUMS"
    if sums.is_file():
        for line in sums.read_text().splitlines():
            digest, _, name = line.strip().partition(" ")
            if name.lstrip(" *") == path.name and len(digest) == 64:
                return digest.lower()
    return None


def check_listed(path: Path, sha256: str) -> None:
    """Refuse a shard whose SHA-256, computed as it is read, is not the one ``SHA256SUMS`` lists:
    the list stands in for the shards it names in ``pretrained_on``, so a shard changed since
    would be recorded as a file the model was not trained on."""
    listed = listed_sha256(path)
    if listed is not None and listed != sha256:
        raise DataError(
            f"{path}: SHA256SUMS lists {listed}, but the file's SHA-256 is {sha256}: it changed since "
            "the list was written (write the list again, or remove it)"
        )


def shard_sha256(path: Path) -> str:
    """``path``'s SHA-256: from ``SHA256SUMS`` beside it when listed there (the rank that reads the
    shard checks it, :func:`check_listed`), else :func:`computed_sha256`."""
    listed = listed_sha256(path)
    return computed_sha256(path) if listed is None else listed


def computed_sha256(path: Path) -> str:
    """``path``'s SHA-256, computed once and cached (:func:`file_key`)."""
    cached = _hash_cache_dir() / f"{file_key(path)}.json"
    if cached.is_file():
        return json.loads(cached.read_text())["sha256"]
    digest = file_sha256(path)
    io.write_json(cached, {"path": str(path), "sha256": digest})
    return digest


def _process_rank() -> int:
    """This process's rank as the launcher tells it, before Lightning has set up the world."""
    from .run import global_rank

    return global_rank()


class Shards:
    """The shard files of a corpus and their owners.

    Args:
        paths: the files (already expanded, :func:`expand_shards`), in corpus order.
        key: the configuration key the paths came from, for messages.
    """

    def __init__(self, paths: list[Path], key: str = "data.paths"):
        if not paths:
            raise ConfigError(f"{key}: no shard given")
        for p in paths:
            if not p.is_file():
                raise DataError(f"{p}: file not found")
            if p.stat().st_size == 0:
                raise DataError(f"{p}: file is empty")
        self.paths, self.key = list(paths), key
        self.sizes = [p.stat().st_size for p in self.paths]

    def __len__(self) -> int:
        return len(self.paths)

    def owners(self, world_size: int) -> list[int]:
        if len(self.paths) < world_size:
            raise ConfigError(
                f"{self.key}: {len(self.paths)} shards for {world_size} ranks; streaming gives every "
                f"rank its own shards (expected at least {world_size}, or data.streaming false)"
            )
        return assign_shards(self.sizes, world_size)

    def of_rank(self, rank: int, world_size: int) -> list[Path]:
        """``rank``'s own shards, in corpus order."""
        return [p for p, r in zip(self.paths, self.owners(world_size)) if r == rank]

    def provenance(self) -> list[dict]:
        """``[{path, sha256, bytes}]`` on rank 0; ``[]`` elsewhere (module docstring)."""
        if _process_rank() != 0:
            return []
        return [
            {"path": str(Path(p).resolve()), "sha256": shard_sha256(p), "bytes": size}
            for p, size in zip(self.paths, self.sizes)
        ]

    def summary_lines(self, world_size: int | None = None) -> list[str]:
        lines = [
            f"Sharded corpus: {len(self.paths):,} shards, {sum(self.sizes):,} bytes; each rank reads its own."
        ]
        if world_size is not None:
            owners = self.owners(world_size)
            lines += ["", "| rank | shards | bytes |", "|---|---|---|"]
            for r in range(world_size):
                mine = [s for s, o in zip(self.sizes, owners) if o == r]
                lines.append(f"| {r} | {len(mine):,} | {sum(mine):,} |")
        return lines


class ShardedSequences:
    """A sharded FASTA corpus resolved per rank: the rank's :class:`~sciPT.sequences.Corpus` and
    curation, built once per process and shared by its training and validation datasets.

    ``report`` is the run's report dictionary; when a rank opens its shards it records there the
    rank's own counts (``rank_shards``, ``rank_records``, ``rank_residues``) and the order-0
    entropy of its residues (``order0_entropy_nats``, the reference line of the loss curve).
    """

    def __init__(
        self, shards: Shards, spec, curation_options, *, val_fraction: float, val_mode: str, report: dict
    ):
        self.shards, self.spec, self.options = shards, spec, curation_options
        self.val_fraction, self.val_mode, self.report = val_fraction, val_mode, report
        self._resolved: dict[tuple[int, int], tuple] = {}
        self._said: set[tuple[int, int]] = set()  # the ranks whose files' warnings are printed

    def resolve(self, rank: int, world_size: int):
        """``(corpus, curation or None)`` of ``rank``'s shards."""
        key = (rank, world_size)
        if key not in self._resolved:
            from .curation import curate
            from .sequences import Corpus

            mine = self.shards.of_rank(rank, world_size)
            corpus = Corpus([str(p) for p in mine], self.spec)
            for f in corpus.files:
                check_listed(f.path, f.sha256)
            curation = (
                curate(corpus, self.options, val_fraction=self.val_fraction, val_mode=self.val_mode)
                if self.options.active
                else None
            )
            self._resolved[key] = (corpus, curation)
            summary = self.shards.summary_lines(world_size)
            if curation is not None:
                # what curation removed, as an in-memory corpus reports it; the report is rank 0's,
                # so these are the figures of its shards
                self.report.update(curation.metrics())
                summary += ["", f"Curation of rank {rank}'s shards:", ""] + curation.lines()
            self.report.update(
                {
                    "rank_shards": len(mine),
                    "rank_records": len(corpus.records),
                    "rank_residues": int(corpus.lengths.sum()),
                    "order0_entropy_nats": corpus.order0_entropy(self.spec.alphabet.n_core),
                    "data_summary": summary,
                }
            )
        return self._resolved[key]


class ShardedWindows(RankSharded):
    """Random windows of one rank's shards (module docstring).

    Args:
        sequences: the sharded corpus.
        window, split, seed, windows: what :class:`~sciPT.sequences.RandomWindows` takes
            (``windows`` holds its other keyword arguments); the seed becomes :func:`rank_seed`.
    """

    def __init__(self, sequences: ShardedSequences, window: int, *, split: str, seed: int, **windows):
        self.sequences, self.window, self.split, self.seed, self.windows = (
            sequences,
            window,
            split,
            seed,
            windows,
        )

    def for_rank(self, rank: int, world_size: int):
        from .sequences import RandomWindows, file_warnings

        corpus, curation = self.sequences.resolve(rank, world_size)
        dataset = RandomWindows(
            corpus,
            self.window,
            split=self.split,
            seed=rank_seed(self.seed, rank),
            curation=curation,
            val_fraction=self.sequences.val_fraction,
            val_mode=self.sequences.val_mode,
            **self.windows,
        )
        if dataset.empty:
            names = ", ".join(f.path.name for f in corpus.files)
            raise DataError(
                f"{self.sequences.shards.key}: the shards of rank {rank} ({names}) hold no validation "
                f"window of {self.window} residues (larger shards, or data.val_fraction 0)"
            )
        if self.split == "train" and (rank, world_size) not in self.sequences._said:
            self.sequences._said.add((rank, world_size))  # once: the loader asks again after setup
            for line in file_warnings(corpus, dataset, self.window, curation is not None):
                print(line, file=sys.stderr)
        return dataset


def split_fasta(
    source: str | Path,
    out_dir: str | Path,
    n_shards: int,
    record_length: int,
    *,
    max_residues: int | None = None,
) -> list[Path]:
    """Cut the records of the FASTA ``source`` into records of ``record_length`` residues (the last
    of each shorter) and deal them round-robin into ``n_shards`` gzip files ``shard-00000.fa.gz``...
    in ``out_dir`` (at most ``max_residues`` residues in all); returns the shards. A sharded corpus
    made from one genome, for tests, benchmarks and trying streaming out."""
    import gzip

    from .sequences import fasta_records, open_text

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"shard-{i:05d}.fa.gz" for i in range(n_shards)]
    handles = [gzip.open(p, "wt", compresslevel=1) for p in paths]
    written, piece = 0, 0
    try:
        with open_text(resolve_data_path(source)) as handle:
            for _, name, _, text in fasta_records(handle, source):
                for start in range(0, len(text), record_length):
                    if max_residues is not None and written >= max_residues:
                        return paths
                    chunk = text[start : start + record_length]
                    handles[piece % n_shards].write(f">{name}_{start}\n{chunk}\n")
                    written, piece = written + len(chunk), piece + 1
    finally:
        for h in handles:
            h.close()
    return paths
