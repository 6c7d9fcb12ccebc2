"""Streamed extended XYZ shards (sciPT.domains.molecules.streaming): the byte-offset index, frames
read one at a time as the in-memory path reads them, per-rank determinism, own shards only."""

import builtins
import dataclasses
import gzip
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from sciPT.data import step_loader
from sciPT.domains.molecules.data import MoleculeDataConfig, read_frames, streams, unit_factors
from sciPT.domains.molecules.dataset import collate, prepare
from sciPT.domains.molecules.potential_config import PotentialConfig
from sciPT.domains.molecules.streaming import (
    ShardedFrames,
    frame_index,
    prepare_streaming,
    read_frame_at,
)
from sciPT.errors import DataError
from sciPT.files import resolve_data_path
from sciPT.streaming import Shards

ETHANOL = resolve_data_path("data_recipes/molecules/ethanol/train.xyz")


def _shards(folder: Path, n_shards: int = 4, per_shard: int = 10) -> list[Path]:
    """The first ``n_shards * per_shard`` ethanol frames (9 atoms, 11 lines each), in shards."""
    lines = ETHANOL.read_text().splitlines(keepends=True)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for s in range(n_shards):
        path = folder / f"part-{s}.xyz"
        path.write_text("".join(lines[s * per_shard * 11 : (s + 1) * per_shard * 11]))
        paths.append(path)
    return paths


@pytest.fixture
def shards(tmp_path, monkeypatch):
    monkeypatch.setenv("SCIPT_CACHE", str(tmp_path / "cache"))
    return _shards(tmp_path / "shards")


def _cfg(folder, **kw):
    return MoleculeDataConfig(paths=[str(folder)], **kw)


def test_a_frame_read_by_offset_is_the_frame_ase_reads(shards):
    offsets, atoms = frame_index(shards[1])
    assert len(offsets) == 10 and (atoms == 9).all() and offsets[0] == 0
    cfg = MoleculeDataConfig()
    whole = read_frames(shards[1], cfg)
    for k in (0, 7):
        frame = read_frame_at(shards[1], int(offsets[k]), 9, k, cfg, unit_factors(cfg), True)
        np.testing.assert_array_equal(frame.positions, whole[k].positions)
        np.testing.assert_array_equal(frame.forces, whole[k].forces)
        assert frame.energy == whole[k].energy and frame.source == f"{shards[1]}: frame {k}"


@pytest.mark.parametrize("symbol", ["X", "Q"])
def test_a_streamed_species_that_is_no_element_is_named_with_its_frame_and_atom(shards, symbol):
    lines = shards[1].read_text().splitlines(keepends=True)
    lines[11 * 7 + 2 + 4] = symbol + lines[11 * 7 + 2 + 4][1:]  # frame 7, atom 4 (an H)
    shards[1].write_text("".join(lines))
    offsets, _ = frame_index(shards[1])
    cfg = MoleculeDataConfig()
    with pytest.raises(DataError) as err:
        read_frame_at(shards[1], int(offsets[7]), 9, 7, cfg, unit_factors(cfg), True)
    assert str(err.value) == f"{shards[1]}: frame 7: atom 4: '{symbol}' is not a chemical element"


def test_a_bad_count_line_and_a_compressed_shard_are_named(tmp_path, monkeypatch):
    monkeypatch.setenv("SCIPT_CACHE", str(tmp_path / "cache"))
    bad = tmp_path / "bad.xyz"
    bad.write_text("1\ncomment\nH 0 0 0\nnot-a-count\n")
    with pytest.raises(DataError) as err:
        frame_index(bad)
    assert str(err.value) == f"{bad}: line 4: expected the atom count of a frame, got 'not-a-count'"
    packed = tmp_path / "packed.xyz"
    packed.write_bytes(gzip.compress(b"1\n\nH 0 0 0\n"))
    with pytest.raises(DataError) as err:
        frame_index(packed)
    assert str(err.value) == (
        f"{packed}: gzip-compressed; streamed frames are read by byte offset (gunzip the shards)"
    )


def test_statistics_come_from_the_first_frames_as_the_in_memory_path_computes_them(shards, tmp_path):
    streamed = prepare_streaming(_cfg(shards[0].parent, stats_frames=15), PotentialConfig(), labelled=True)
    first = tmp_path / "first15.xyz"
    first.write_text("".join(ETHANOL.read_text().splitlines(keepends=True)[: 15 * 11]))
    whole = prepare(MoleculeDataConfig(paths=[str(first)], val_fraction=0), PotentialConfig(), labelled=True)
    # all but the compositions the references are fixed on: 15 frames stand for the first 15 there,
    # a sample of the whole corpus here (test below)
    assert whole.model.reference_span is not None and streamed.model.reference_span is None
    assert (
        streamed.model == dataclasses.replace(whole.model, reference_span=None) and len(streamed.train) == 15
    )
    assert [e["records"] for e in streamed.corpus] == [10] * 4
    assert isinstance(streamed.train_set, ShardedFrames) and streams(_cfg(shards[0].parent))


def test_an_epoch_of_a_rank_sees_each_of_its_frames_once_and_no_other_shard(shards, monkeypatch):
    opened = []
    real_open = builtins.open
    monkeypatch.setattr(builtins, "open", lambda f, *a, **k: opened.append(str(f)) or real_open(f, *a, **k))
    cfg = _cfg(shards[0].parent, val_fraction=0.2)
    train = ShardedFrames(
        Shards(shards), cfg, split="train", labelled=True, cutoff=4.0, elements=["H", "C", "O"], seed=5
    )
    own = train.for_rank(1, 2)
    mine = set(Shards(shards).of_rank(1, 2))
    seen = [own.frames[int(own._perm[i])] for i in range(len(own)) if own[i] is not None]
    monkeypatch.undo()
    assert {Path(p) for p in opened if Path(p).name.startswith("part-")} == mine
    assert sorted(seen, key=str) == sorted(own.frames, key=str) and {f[0] for f in seen} == mine
    val = ShardedFrames(
        Shards(shards), cfg, split="val", labelled=True, cutoff=4.0, elements=["H", "C", "O"], seed=5
    )
    held = val.for_rank(1, 2).frames
    assert len(held) + len(own) == 20 and not set(held) & set(own.frames)


def test_a_streamed_one_atom_crystal_is_trained_on_and_an_isolated_atom_is_not(tmp_path, monkeypatch):
    monkeypatch.setenv("SCIPT_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "cu"
    folder.mkdir()
    lines = []
    for a, pbc, energy in [(2.5, "T T T", -3.5), (20.0, "T T T", -0.25), (2.6, "F F F", -0.25)]:
        lines += [
            "1",
            f'Lattice="{a} 0 0 0 {a} 0 0 0 {a}" Properties=species:S:1:pos:R:3:forces:R:3 energy={energy} pbc="{pbc}"',
            "Cu 0 0 0 0 0 0",
        ]
    (folder / "part-0.xyz").write_text("\n".join(lines) + "\n")
    data = ShardedFrames(
        Shards([folder / "part-0.xyz"]),
        _cfg(folder, val_fraction=0),
        split="train",
        labelled=True,
        cutoff=4.0,
        elements=["Cu"],
        seed=0,
    )
    # frame 0 sees its images 2.5 A away; frame 1's are 20 A away, frame 2 has none: references
    assert [f[3] for f in data.for_rank(0, 1).frames] == [0]
    streamed = prepare_streaming(_cfg(folder, val_fraction=0), PotentialConfig(cutoff=4.0), labelled=True)
    assert streamed.references_method == "isolated" and streamed.model.reference_energies == [-0.25]
    assert [float(g.energy) for g in streamed.train] == [-3.5]


def test_the_loader_gives_each_rank_the_same_batches_after_a_resume(shards):
    cfg = _cfg(shards[0].parent, val_fraction=0)
    data = ShardedFrames(
        Shards(shards), cfg, split="train", labelled=True, cutoff=4.0, elements=["H", "C", "O"], seed=0
    )

    def energies(rank, step):
        trainer = SimpleNamespace(global_rank=rank, world_size=2, global_step=step)
        loader = step_loader(data, collate, batch_size=4, total_batches=8, trainer=trainer)
        return [b.energy.tolist() for b in loader]

    straight = energies(0, 0)
    assert energies(0, 5) == straight[5:]
    other = energies(1, 0)
    assert not set(sum(straight, [])) & set(sum(other, []))  # disjoint frames on the two ranks


def test_a_streamed_corpus_records_no_composition_span_from_its_statistics_sample(shards, capsys):
    """The first frames are a sample: the corpus may hold compositions they do not (methanol after
    ethanol), and a span from them called the frames the model trained on unfixed."""
    streamed = prepare_streaming(
        _cfg(shards[0].parent, stats_frames=15, references="lstsq"), PotentialConfig(), labelled=True
    )
    assert streamed.model.reference_span is None
    assert (
        "warning: reference energies: the compositions of the first 15 frames (the statistics sample) "
        "fix 1 of the 3 element references (H, C, O): the corpus's frames of other compositions, if any, "
        "are trained on energies offset by an amount nobody measured"
    ) in capsys.readouterr().err


def test_a_shard_changed_since_its_sha256sums_line_is_refused_and_frames_are_read_once(shards, monkeypatch):
    """The listed digest stood in for the shard in pretrained_on, unchecked (the DNA path checks it)."""
    import hashlib

    from sciPT.domains.molecules import streaming

    def frames():
        return ShardedFrames(
            Shards(shards), _cfg(shards[0].parent), split="train", labelled=True, cutoff=4.0,
            elements=["H", "C", "O"], seed=5,
        )  # fmt: skip

    real = hashlib.sha256(shards[0].read_bytes()).hexdigest()
    (shards[0].parent / "SHA256SUMS").write_text(f"{real} *{shards[0].name}\r\n")
    listed = frames()
    indexed = []
    real_index = streaming.frame_index
    monkeypatch.setattr(streaming, "frame_index", lambda p: indexed.append(p) or real_index(p))
    listed.for_rank(0, 1)
    listed.for_rank(0, 1)  # the data module's check, then the loader: the shards are indexed once
    assert len(indexed) == len(shards)
    (shards[0].parent / "SHA256SUMS").write_text(f"{'cd' * 32}  {shards[0].name}\n")
    with pytest.raises(
        DataError, match=f"^{shards[0]}: SHA256SUMS lists {'cd' * 32}, but the file's SHA-256 is {real}"
    ):
        frames().for_rank(0, 1)


def test_a_streamed_pretraining_records_its_validation_file_apart(tmp_path, monkeypatch):
    """``--data.val-paths`` beside streamed shards: the export recorded no ``validated_on`` (the
    in-memory path did), so evaluate could not note the file as the pre-training's held-out one."""
    import json

    from sciPT.domains.molecules.presets import tiny
    from sciPT.pretrain import pretrain

    monkeypatch.setenv("SCIPT_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "shards"
    _shards(folder, n_shards=2, per_shard=10)
    val = tmp_path / "val.xyz"
    val.write_text("".join(ETHANOL.read_text().splitlines(keepends=True)[30 * 11 : 34 * 11]))
    cfg = tiny()
    cfg.data = _cfg(folder, val_paths=[str(val)], stats_frames=10, val_fraction=0.0)
    cfg.train = dataclasses.replace(
        cfg.train, max_steps=2, val_every=2, checkpoint_every=2, val_batches=1, batch_size=4, log_every=1
    )
    run = pretrain("molecules", cfg, tmp_path / "run")
    exported = json.loads((run.path / "model" / "config.json").read_text())
    assert [(e["path"], e["records"]) for e in exported["validated_on"]] == [(str(val.resolve()), 4)]
    assert [Path(e["path"]).name for e in exported["pretrained_on"]] == ["part-0.xyz", "part-1.xyz"]


def test_isolated_atoms_in_the_validation_file_are_left_out_as_in_memory(shards, tmp_path):
    """A --data.val-paths file holding an isolated atom beside 4 molecules: the in-memory path
    validates on the 4 molecules; the streamed one validated on the atom too (5 frames, its energy
    error in the validation loss) and recorded 5."""
    from ase import Atoms
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.io import read, write

    frames = read(ETHANOL, index="30:34")
    atom = Atoms("H", positions=[[0.0, 0.0, 0.0]])
    atom.calc = SinglePointCalculator(atom, energy=-13.6, forces=np.zeros((1, 3)))
    val = tmp_path / "val.xyz"
    write(val, [*frames, atom])
    cfg = _cfg(shards[0].parent, val_paths=[str(val)], stats_frames=10, val_fraction=0.0)
    streamed = prepare_streaming(cfg, PotentialConfig(), labelled=True)
    in_memory = prepare(
        dataclasses.replace(cfg, paths=[str(p) for p in shards]), PotentialConfig(), labelled=True
    )
    assert len(streamed.val) == len(in_memory.val) == 4
    assert (
        [e["records"] for e in streamed.validated_on] == [e["records"] for e in in_memory.validated_on] == [4]
    )
