"""Frames streamed from extended XYZ shards: memory does not grow with the corpus.

A corpus too large for memory (MACE users meet 32 GB of RAM for a 3.9 GB extended XYZ) is a folder
(or a glob pattern) of extended XYZ shards, or one large file given with ``data.streaming true``.
Each rank reads only its own shards (:mod:`sciPT.streaming`: the size-balanced assignment, and the
loader's per-rank numbering), one frame at a time:

Index. A shard is scanned once, line by line, for the byte offset and atom count of every frame
(an extended XYZ frame is a count line, a comment line, then one line per atom); the index is
cached in ``$SCIPT_CACHE/frames`` by path, size and modification time. A frame is then read by
seeking to its offset and handing its ``n + 2`` lines to ASE, and becomes a graph exactly as in
the in-memory path (:func:`.data.atoms_to_frame`, :func:`.graphs.frame_to_graph`). Shards must be
plain text (a byte offset into a gzip stream is not a random access).

Sampling (:class:`StreamedFrames`). Rank ``r``'s sample ``n`` is frame ``perm_e[n mod N_r]`` of
its own ``N_r`` training frames, ``perm_e`` the permutation seeded by ``(rank_seed(seed, r), e =
n div N_r)``: every epoch of a rank sees each of its frames once, and a resumed run continues
exactly (the loader restarts at batch ``global_step * accumulate``).

Validation. ``data.val_paths`` when given (read in memory, as in the in-memory path); otherwise
frame ``k`` of shard ``s`` is held out when ``crc32("s-name:k") mod 10^4 < val_fraction * 10^4``,
a fixed choice that needs no pass over the corpus; each rank validates on its own held-out frames.
One-atom frames are never trained on.

Statistics. The element table, reference energies, energy shift and scale and the mean number of
neighbours must be identical on every rank, so they come from a sample every rank reads: the
first ``data.stats_frames`` frames of the corpus in shard order (the one bounded read of shards
that are not a rank's own; :func:`.dataset.prepare` computes them from all frames). An element
outside the sample's table stops the run at the frame that has it; name every element with
``--model.elements`` to avoid that. Frames without forces (:mod:`.data`) are fitted on their
energies wherever they are; the sample alone is checked for forces (a sample in which no frame has
forces is refused, as a mistyped key would be) and counted in the line that says how many lack them. The EWC Fisher stored with the export is computed on the same
sample, and whether the head was trained on periodic images (``periodic_images``, which predictions
on periodic structures are checked against) is the sample's alone. Rank 0 records every shard's SHA-256 and its frame and atom counts (a sequential read,
cached), the provenance the export carries.
"""

from __future__ import annotations

import io
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase.io import read
from torch.utils.data import Dataset

from sciPT import io as sio
from sciPT.errors import ConfigError, DataError
from sciPT.streaming import (
    RankSharded,
    Shards,
    check_listed,
    computed_sha256,
    expand_shards,
    file_key,
    listed_sha256,
    rank_seed,
)

from .data import (
    MoleculeDataConfig,
    atoms_to_frame,
    check_energy_outliers,
    missing_forces_note,
    require_forces,
    unit_factors,
)
from .dataset import FrameDataset, PreparedData, fill_model, isolated_atoms_file, load_frames, to_graphs
from .dataset import provenance as file_provenance
from .graphs import frame_to_graph
from .potential_config import PotentialConfig
from .references import check_elements, element_table, isolated_atom, isolated_atom_energies
from .xyz import find_species, unknown_species

XYZ_SUFFIXES = (".xyz", ".extxyz")


def _index_dir() -> Path:
    return sio.cache_dir("frames")


def frame_index(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """``(offsets, atoms)``: the byte offset and atom count of every frame of the extended XYZ
    ``path`` (module docstring), cached. A count line that is not a number is a one-line
    :class:`DataError` naming the file and line."""
    with open(path, "rb") as f:
        if f.read(2) == b"\x1f\x8b":
            raise DataError(
                f"{path}: gzip-compressed; streamed frames are read by byte offset (gunzip the shards)"
            )
    cached = _index_dir() / f"{file_key(path)}.npz"
    if cached.is_file():
        with np.load(cached) as z:
            return z["offsets"], z["atoms"]
    offsets, atoms = [], []
    with open(path, "rb") as f:
        line_no, position = 0, 0
        while True:
            line = f.readline()
            if not line:
                break
            line_no += 1
            if not line.strip():  # blank lines between or after frames
                position += len(line)
                continue
            try:
                n = int(line)
            except ValueError:
                text = line.decode("ascii", "replace").strip()[:40]
                raise DataError(
                    f"{path}: line {line_no}: expected the atom count of a frame, got '{text}'"
                ) from None
            offsets.append(position)
            atoms.append(n)
            position += len(line)
            for _ in range(n + 1):
                body = f.readline()
                if not body:
                    raise DataError(f"{path}: frame {len(offsets) - 1} ends early (expected {n} atom lines)")
                position += len(body)
            line_no += n + 1
    if not offsets:
        raise DataError(f"{path}: no frames")
    result = np.array(offsets, dtype=np.int64), np.array(atoms, dtype=np.int64)
    with sio.atomic_path(cached) as tmp, open(tmp, "wb") as out:
        np.savez(out, offsets=result[0], atoms=result[1])
    return result


def read_frame_at(
    path: Path, offset: int, atoms: int, number: int, cfg: MoleculeDataConfig, factors, labelled: bool
):
    """Frame ``number`` of ``path``, starting at byte ``offset``, as a :class:`.data.Frame`."""
    with open(path, "rb") as f:
        f.seek(offset)
        text = b"".join(f.readline() for _ in range(atoms + 2)).decode("utf-8", "replace")
    source = f"{path}: frame {number}"
    try:
        structure = read(io.StringIO(text), index=0, format="extxyz")
    except Exception as err:  # ASE raises many types for a malformed frame
        symbol = unknown_species(err)
        where = find_species(text.splitlines(), symbol) if symbol is not None else None
        if where is not None:
            raise DataError(f"{source}: atom {where[1]}: {symbol!r} is not a chemical element") from None
        message = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise DataError(f"{source}: not a readable extended XYZ frame ({message})") from None
    return atoms_to_frame(structure, source, cfg, labelled=labelled, factors=factors)


def held_out(name: str, number: int, fraction: float) -> bool:
    return zlib.crc32(f"{name}:{number}".encode()) % 10_000 < fraction * 10_000


class StreamedFrames(Dataset):
    """One rank's frames as graphs, read on demand (module docstring).

    Args:
        frames: ``(shard path, byte offset, atoms, frame number)`` of every frame, in corpus order.
        cfg, labelled: how frames are read. cutoff: the graphs' radius. elements: the model's table.
        seed: the rank's seed; ``shuffle=False`` cycles in order (validation).
    """

    def __init__(
        self, frames, cfg, *, labelled: bool, cutoff: float, elements, seed: int = 0, shuffle: bool = True
    ):
        self.frames, self.cfg, self.labelled, self.cutoff = frames, cfg, labelled, cutoff
        self.elements, self.seed, self.shuffle = list(elements), seed, shuffle
        self.factors = unit_factors(cfg)
        self._epoch, self._perm = -1, np.arange(len(frames))

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, n: int):
        epoch, i = divmod(int(n), len(self.frames))
        if self.shuffle and epoch != self._epoch:
            self._perm = np.random.default_rng([self.seed, epoch]).permutation(len(self.frames))
            self._epoch = epoch
        path, offset, atoms, number = self.frames[int(self._perm[i])]
        frame = read_frame_at(path, offset, atoms, number, self.cfg, self.factors, self.labelled)
        check_elements([frame], self.elements)
        return frame_to_graph(frame, self.cutoff)


class ShardedFrames(RankSharded):
    """The training (or held-out validation) frames of a rank's own shards (module docstring)."""

    def __init__(
        self, shards: Shards, cfg, *, split: str, labelled: bool, cutoff: float, elements, seed: int
    ):
        self.shards, self.cfg, self.split, self.labelled = shards, cfg, split, labelled
        self.cutoff, self.elements, self.seed = cutoff, elements, seed
        self._frames: dict[tuple[int, int], list[tuple]] = {}

    def frames(self, rank: int, world_size: int) -> list[tuple]:
        """The rank's frames, read once per process (the data module checks every rank's data
        before training, then its loaders ask again)."""
        key = (rank, world_size)
        if key not in self._frames:
            self._frames[key] = self._read_frames(rank, world_size)
        return self._frames[key]

    def _read_frames(self, rank: int, world_size: int) -> list[tuple]:
        out, factors = [], unit_factors(self.cfg)
        for path in self.shards.of_rank(rank, world_size):
            if listed_sha256(path) is not None:  # the list stands in for the shard in pretrained_on
                check_listed(path, computed_sha256(path))
            offsets, atoms = frame_index(path)
            if self.cfg.max_frames is not None:
                offsets, atoms = offsets[: self.cfg.max_frames], atoms[: self.cfg.max_frames]
            for k, (offset, n) in enumerate(zip(offsets.tolist(), atoms.tolist())):
                val = not self.cfg.val_paths and held_out(path.name, k, self.cfg.val_fraction)
                if val != (self.split == "val"):
                    continue
                # one-atom frames are rare: read them to tell a crystal from an isolated atom
                if n > 1 or not isolated_atom(
                    read_frame_at(path, offset, n, k, self.cfg, factors, self.labelled), self.cutoff
                ):
                    out.append((path, offset, n, k))
        return out

    def for_rank(self, rank: int, world_size: int) -> StreamedFrames:
        frames = self.frames(rank, world_size)
        if not frames:
            names = ", ".join(p.name for p in self.shards.of_rank(rank, world_size))
            what = "training" if self.split == "train" else "held-out validation"
            raise DataError(
                f"data.paths: the shards of rank {rank} ({names}) hold no {what} frame besides isolated atoms"
            )
        return StreamedFrames(
            frames,
            self.cfg,
            labelled=self.labelled,
            cutoff=self.cutoff,
            elements=self.elements,
            seed=rank_seed(self.seed, rank),
            shuffle=self.split == "train",
        )


@dataclass
class StreamingData(PreparedData):
    """:class:`.dataset.PreparedData` of a streamed corpus: ``train`` holds the statistics sample's
    graphs (the EWC Fisher's frames); ``train_set``/``val_set`` are what the loaders read."""

    train_set: RankSharded | None = None
    val_set: object = None
    shards: int = 0

    def report(self) -> dict[str, float]:
        out = super().report()
        out.pop("frames_train"), out.pop("atoms_train")
        if not self.val:  # held out of the shards: counted by each rank when it opens them
            out.pop("frames_val")
        return {"corpus_shards": self.shards, "statistics_frames": len(self.train), **out}


def statistics_sample(shards: Shards, cfg: MoleculeDataConfig, labelled: bool) -> list:
    """The first ``cfg.stats_frames`` frames (one-atom frames included) in shard order."""
    factors, frames = unit_factors(cfg), []
    for path in shards.paths:
        offsets, atoms = frame_index(path)
        for k, (offset, n) in enumerate(zip(offsets.tolist(), atoms.tolist())):
            if len(frames) == cfg.stats_frames:
                return frames
            frames.append(read_frame_at(path, offset, n, k, cfg, factors, labelled))
    return frames


def provenance(shards: Shards) -> list[dict]:
    """``[{path, sha256, bytes, records (frames), residues (atoms)}]`` on rank 0, ``[]`` elsewhere."""
    entries = shards.provenance()
    for entry, path in zip(entries, shards.paths):
        _, atoms = frame_index(path)
        entry.update(records=len(atoms), residues=int(atoms.sum()))
    return entries


def prepare_streaming(
    cfg: MoleculeDataConfig, model: PotentialConfig, *, labelled: bool, seed: int = 0
) -> StreamingData:
    """What :func:`.dataset.prepare` returns, for a streamed corpus (module docstring)."""
    if not cfg.paths:
        raise ConfigError("data.paths: no structure file given (pass --data FRAMES.xyz or a folder of them)")
    if not 0 <= cfg.val_fraction < 1:
        raise ConfigError(f"data.val_fraction: expected a fraction in [0, 1), got {cfg.val_fraction}")
    if cfg.stats_frames < 1:
        raise ConfigError(f"data.stats_frames: expected a positive integer, got {cfg.stats_frames}")
    shards = Shards(expand_shards(cfg.paths, XYZ_SUFFIXES, "extended XYZ files"), "data.paths")
    sample = statistics_sample(shards, cfg, labelled)
    if labelled:  # the frames read before training; the rest are read by their ranks as they go
        check_energy_outliers(sample, among="the first")
    require_forces(sample)
    note = missing_forces_note(sample, cfg, of="the first ")
    if note:
        print(note, file=sys.stderr)
    isolated = isolated_atom_energies([f for f in sample if f.energy is not None], model.cutoff)
    sample = [f for f in sample if not isolated_atom(f, model.cutoff)]
    if not sample:
        raise DataError(
            f"{shards.paths[0]}: no frame besides isolated atoms in the first {cfg.stats_frames} frames"
        )
    isolated = {**isolated, **isolated_atoms_file(cfg, model.cutoff)}
    val_graphs: list = []
    val: list = []
    elements = list(model.elements) or element_table(sample)
    check_elements(sample, elements)
    graphs = to_graphs(sample, model.cutoff, "statistics graphs")
    filled, method = fill_model(
        model,
        cfg,
        elements,
        sample,
        graphs,
        isolated,
        sample=f"the first {len(sample)} frames (the statistics sample)",
    )
    common = dict(labelled=labelled, cutoff=model.cutoff, elements=elements, seed=seed)
    train_set = ShardedFrames(shards, cfg, split="train", **common)
    if cfg.val_paths:
        val = load_frames(cfg.val_paths, cfg, labelled=labelled, forces_optional=True)
        # as dataset.prepare scores them: an isolated atom is a reference, not a structure to validate
        val = [f for f in val if not isolated_atom(f, model.cutoff)]
        check_elements(val, elements)
        val_graphs = to_graphs(val, model.cutoff, "validation graphs")
        val_set = FrameDataset(val_graphs, shuffle=False)
    else:
        val_set = ShardedFrames(shards, cfg, split="val", **common) if cfg.val_fraction > 0 else None
    return StreamingData(
        graphs,
        val_graphs,
        filled,
        method,
        provenance(shards),
        train_set=train_set,
        val_set=val_set,
        shards=len(shards),
        # the --data.val-paths files, recorded apart as dataset.prepare records them: never trained on
        validated_on=file_provenance(list(cfg.val_paths), val),
    )


def training_sets(prepared: PreparedData, seed: int):
    """``(train, val)`` datasets of :func:`.dataset.prepare`'s or :func:`prepare_streaming`'s result."""
    if isinstance(prepared, StreamingData):
        return prepared.train_set, prepared.val_set
    val = FrameDataset(prepared.val, shuffle=False) if prepared.val else None
    return FrameDataset(prepared.train, seed=seed), val
