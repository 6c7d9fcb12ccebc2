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
    StreamedFrames,
    frame_index,
    prepare_streaming,
    read_frame_at,
    training_sets,
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
    assert [e["residues"] for e in streamed.corpus] == [90] * 4  # 10 ethanol frames of 9 atoms each
    # the summary counts the corpus's shards and the sample; the rank's frames are counted elsewhere
    report = streamed.report()
    assert report["corpus_shards"] == 4 and report["statistics_frames"] == 15
    assert not {"frames_train", "atoms_train", "frames_val"} & set(report)
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
    # nothing held out (val_fraction 0): no validation set, not an empty one that stops the run
    assert streamed.val_set is None and training_sets(streamed, 0)[1] is None


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


def _train(paths, cfg, split="train", seed=5) -> ShardedFrames:
    return ShardedFrames(
        Shards(paths), cfg, split=split, labelled=True, cutoff=4.0, elements=["H", "C", "O"], seed=seed
    )


def test_blank_lines_between_frames_do_not_shift_the_frames_read_by_offset(shards):
    """ASE reads files with blank lines between frames; an index that skipped them without counting
    their bytes sent every later read into the previous frame (a wrong frame or an unreadable one)."""
    lines = shards[1].read_text().splitlines(keepends=True)
    spaced = shards[1].with_name("spaced.xyz")
    spaced.write_text("".join(lines[:33]) + "\n\n" + "".join(lines[33:]) + "\n")
    offsets, atoms = frame_index(spaced)
    assert len(offsets) == 10 and (atoms == 9).all()
    cfg = MoleculeDataConfig()
    whole = read_frames(shards[1], cfg)
    for k in (2, 3, 9):
        frame = read_frame_at(spaced, int(offsets[k]), 9, k, cfg, unit_factors(cfg), True)
        np.testing.assert_array_equal(frame.positions, whole[k].positions)
        assert frame.energy == whole[k].energy


def _local_order(data, count: int) -> list[int]:
    """Which of ``data.frames`` samples ``0 .. count - 1`` are, told apart by their energies."""
    in_order = StreamedFrames(
        data.frames, data.cfg, labelled=True, cutoff=4.0, elements=["H", "C", "O"], shuffle=False
    )
    where = {float(in_order[i].energy): i for i in range(len(data))}
    assert len(where) == len(data)  # the ethanol frames' energies are distinct
    return [where[float(data[n].energy)] for n in range(count)]


def test_each_epoch_of_a_rank_is_a_fresh_shuffle_of_all_its_frames(shards):
    """Every epoch sees each frame once, in an order of its own: the corpus order (shards are often
    written along a trajectory) or one order repeated every epoch feeds the same batches again."""
    data = _train(shards[:2], _cfg(shards[0].parent, val_fraction=0)).for_rank(0, 1)
    n = len(data)
    assert n == 20
    order = _local_order(data, 3 * n)
    epochs = [order[e * n : (e + 1) * n] for e in range(3)]
    assert all(sorted(epoch) == list(range(n)) for epoch in epochs)
    assert epochs[0] != list(range(n)) and epochs[0] != epochs[1] and epochs[1] != epochs[2]


def test_two_ranks_do_not_walk_their_shards_in_lockstep(shards):
    """Each rank shuffles with its own seed: with one shared seed, ranks whose shards are cut the same
    way (e.g. along trajectories) draw the same positions in them at every step, correlated batches."""
    sharded = _train(shards, _cfg(shards[0].parent, val_fraction=0))
    orders = [_local_order(sharded.for_rank(r, 2), 20) for r in (0, 1)]
    assert sorted(orders[0]) == sorted(orders[1]) == list(range(20)) and orders[0] != orders[1]


def test_a_validation_file_leaves_every_shard_frame_to_training(shards, tmp_path):
    """With --data.val-paths the shards are validated on elsewhere: holding out val_fraction of them
    as well lost that share of the corpus from training without a word."""
    cfg = _cfg(shards[0].parent, val_paths=[str(tmp_path / "val.xyz")], val_fraction=0.5)
    frames = _train(shards, cfg).for_rank(0, 1).frames
    assert sorted((p.name, k) for p, _, _, k in frames) == [(p.name, k) for p in shards for k in range(10)]


def test_frames_are_held_out_by_the_documented_crc32_rule(shards, tmp_path):
    """Frame k of shard s is held out when crc32("s-name:k") mod 10^4 < fraction * 10^4 (a fixed choice
    across runs and versions); with fraction 0 none is, even a frame whose crc32 ends in 0000."""
    import zlib

    held = _train(shards, _cfg(shards[0].parent, val_fraction=0.3), split="val").for_rank(0, 1).frames
    expected = [
        (p.name, k)
        for p in shards
        for k in range(10)
        if zlib.crc32(f"{p.name}:{k}".encode()) % 10_000 < 3_000
    ]
    assert [(p.name, k) for p, _, _, k in held] == expected and 0 < len(expected) < 40
    # validation reads its frames in corpus order (the same first val_batches every time)
    val = _train(shards, _cfg(shards[0].parent, val_fraction=0.3), split="val").for_rank(0, 1)
    assert _local_order(val, len(val)) == list(range(len(val)))
    boundary = _shards(tmp_path / "boundary", n_shards=1)[0].rename(tmp_path / "boundary" / "part-282.xyz")
    assert zlib.crc32(b"part-282.xyz:4") % 10_000 == 0
    train = _train([boundary], _cfg(boundary.parent, val_fraction=0)).for_rank(0, 1)
    assert [k for _, _, _, k in train.frames] == list(range(10))


def test_a_rank_without_held_out_frames_is_told_which_shards_and_which_split(shards):
    """The message names the rank, its shards and the split that is empty (here: validation, part-0's
    ten frames all have crc32 mod 10^4 above 0 with val_fraction 1e-4)."""
    val = _train(shards[:1], _cfg(shards[0].parent, val_fraction=1e-4), split="val")
    with pytest.raises(DataError) as err:
        val.for_rank(0, 1)
    assert str(err.value) == (
        "data.paths: the shards of rank 0 (part-0.xyz) hold no held-out validation frame besides isolated atoms"
    )


def test_max_frames_takes_the_first_frames_of_every_shard(shards):
    """--data.max-frames means the first frames of every file, streamed or not (a quick run): the
    streamed path trained on the whole corpus instead."""
    frames = _train(shards, _cfg(shards[0].parent, val_fraction=0, max_frames=3)).for_rank(0, 1).frames
    assert [(p.name, k) for p, _, _, k in frames] == [(p.name, k) for p in shards for k in range(3)]


@pytest.mark.parametrize(
    "change, message",
    [
        ({"val_fraction": 1.0}, "data.val_fraction: expected a fraction in [0, 1), got 1.0"),
        ({"val_fraction": -0.1}, "data.val_fraction: expected a fraction in [0, 1), got -0.1"),
        ({"stats_frames": 0}, "data.stats_frames: expected a positive integer, got 0"),
    ],
)
def test_a_streamed_split_or_sample_that_cannot_be_is_refused_before_reading(shards, change, message):
    """A val_fraction of 1 leaves nothing to train on, a sample of 0 frames no statistics: said at once."""
    from sciPT.errors import ConfigError

    with pytest.raises(ConfigError) as err:
        prepare_streaming(_cfg(shards[0].parent, **change), PotentialConfig(), labelled=True)
    assert str(err.value) == message


def test_the_isolated_atoms_file_overrides_an_isolated_atom_of_the_sample(tmp_path, monkeypatch, lone_cu_xyz):
    """As in memory (dataset.prepare): the --data.isolated-atoms energies replace those of isolated
    atoms found among the frames (the file is the user's chosen reference)."""
    monkeypatch.setenv("SCIPT_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "cu"
    folder.mkdir()
    frames, isolated_text = lone_cu_xyz
    (folder / "part-0.xyz").write_text(frames)
    isolated = tmp_path / "isolated.xyz"
    isolated.write_text(isolated_text)
    cfg = _cfg(folder, val_fraction=0, isolated_atoms=str(isolated))
    streamed = prepare_streaming(cfg, PotentialConfig(cutoff=4.0), labelled=True)
    assert streamed.references_method == "isolated" and streamed.model.reference_energies == [-0.75]


def test_in_memory_training_sets_shuffle_with_the_run_s_seed():
    """--seed sets the order of the in-memory training frames: a seed that changed nothing would give
    every repeat of an experiment the same batches."""
    from sciPT.domains.molecules.dataset import PreparedData

    graphs = [SimpleNamespace(energy=float(k)) for k in range(12)]
    prepared = PreparedData(graphs, [], PotentialConfig(), "given", [])

    def order(seed):
        train, val = training_sets(prepared, seed)
        assert val is None
        return [train[n].energy for n in range(12)]

    assert order(1) == order(1) and sorted(order(1)) == sorted(order(2)) and order(1) != order(2)


def _ethanol_shards(folder: Path, counts: list[int]) -> list[Path]:
    """Shards ``part-0``, ``part-1``, ... holding ``counts[s]`` consecutive ethanol frames each."""
    lines = ETHANOL.read_text().splitlines(keepends=True)
    folder.mkdir(parents=True, exist_ok=True)
    paths, first = [], 0
    for s, count in enumerate(counts):
        path = folder / f"part-{s}.xyz"
        path.write_text("".join(lines[first * 11 : (first + count) * 11]))
        paths.append(path)
        first += count
    return paths


def test_each_rank_gets_its_own_shards_frames_at_their_byte_offsets(tmp_path, monkeypatch):
    """Shards of 2, 9, 5 and 3 frames on 2 ranks, largest first to the least-loaded rank: part-1 to
    rank 0, then part-2, part-3 and part-0 to rank 1 (5 + 3 < 9 frames of about the same bytes).
    Each rank's frames are its shards' frames in corpus order, numbered from 0 in their shard, at
    the byte offset where their count line starts (every frame is 11 lines, counted here)."""
    monkeypatch.setenv("SCIPT_CACHE", str(tmp_path / "cache"))
    paths = _ethanol_shards(tmp_path / "shards", [2, 9, 5, 3])
    data = _train(paths, _cfg(paths[0].parent, val_fraction=0))

    def expected(path):
        lines = path.read_text().splitlines(keepends=True)
        frames = len(lines) // 11
        return [(path, sum(len(x.encode()) for x in lines[: 11 * k]), 9, k) for k in range(frames)]

    assert data.frames(0, 2) == expected(paths[1])
    assert data.frames(1, 2) == expected(paths[0]) + expected(paths[2]) + expected(paths[3])
    assert data.frames(0, 1) == sum((expected(p) for p in paths), [])


def test_a_streamed_epoch_ends_after_each_of_the_rank_s_frames_and_the_next_is_reshuffled(shards):
    """Rank r's sample n is frame perm_e[n mod N_r], perm_e seeded by (rank_seed(seed, r), e = n div
    N_r) (module docstring): sample N_r - 1 closes epoch 0 and sample N_r opens epoch 1."""
    from sciPT.streaming import rank_seed

    sharded = _train(shards, _cfg(shards[0].parent, val_fraction=0), seed=5)
    data = sharded.for_rank(1, 2)
    n = len(data)
    assert n == 20
    perms = [np.random.default_rng([rank_seed(5, 1), e]).permutation(n) for e in (0, 1)]
    assert _local_order(data, 2 * n) == perms[0].tolist() + perms[1].tolist()


def test_an_index_names_a_frame_that_ends_early_and_a_file_without_frames(tmp_path, monkeypatch):
    monkeypatch.setenv("SCIPT_CACHE", str(tmp_path / "cache"))
    short = tmp_path / "short.xyz"
    short.write_text("1\nc\nH 0 0 0\n3\nc\nH 0 0 0\n")  # frame 1 promises 3 atoms and gives 1
    with pytest.raises(DataError) as err:
        frame_index(short)
    assert str(err.value) == f"{short}: frame 1 ends early (expected 3 atom lines)"
    blank = tmp_path / "blank.xyz"
    blank.write_text("\n\n\n")
    with pytest.raises(DataError) as err:
        frame_index(blank)
    assert str(err.value) == f"{blank}: no frames"


def test_a_long_bad_count_line_is_quoted_to_its_first_40_characters(tmp_path, monkeypatch):
    """A comment line where a count is expected (a frame with one atom line too many) is quoted
    short: the message stays one readable line."""
    monkeypatch.setenv("SCIPT_CACHE", str(tmp_path / "cache"))
    bad = tmp_path / "bad.xyz"
    comment = 'Lattice="50.0 0.0 0.0 0.0 50.0 0.0 0.0 0.0 50.0" Properties=species:S:1:pos:R:3'
    bad.write_text(f"1\n\nH 0 0 0\n{comment}\n")
    with pytest.raises(DataError) as err:
        frame_index(bad)
    assert str(err.value) == f"{bad}: line 4: expected the atom count of a frame, got '{comment[:40]}'"
    assert comment[:40] == 'Lattice="50.0 0.0 0.0 0.0 50.0 0.0 0.0 0'


def test_an_unreadable_streamed_frame_is_named_with_the_reason(tmp_path, monkeypatch):
    """The frame and ASE's reason (Python's own words for a coordinate that is no number)."""
    monkeypatch.setenv("SCIPT_CACHE", str(tmp_path / "cache"))
    bad = tmp_path / "bad.xyz"
    bad.write_text("2\nProperties=species:S:1:pos:R:3 energy=-1.0\nH 0 0 0\nH 0 0 zz\n")
    cfg = MoleculeDataConfig()
    with pytest.raises(DataError) as err:
        read_frame_at(bad, 0, 2, 0, cfg, unit_factors(cfg), True)
    assert str(err.value) == (
        f"{bad}: frame 0: not a readable extended XYZ frame (could not convert string to float: 'zz')"
    )


def test_a_streamed_frame_with_an_element_outside_the_table_stops_at_that_frame(shards):
    """The table comes from the statistics sample: a later frame with another element stops the run
    naming the frame and its first such atom (ethanol's atoms are C C O H..., the O is atom 2)."""
    lines = shards[0].read_text().splitlines()
    assert [line.split()[0] for line in lines[2:11]] == ["C", "C", "O", "H", "H", "H", "H", "H", "H"]
    data = StreamedFrames(
        _train(shards[:1], _cfg(shards[0].parent, val_fraction=0)).frames(0, 1),
        MoleculeDataConfig(),
        labelled=True,
        cutoff=4.0,
        elements=["H", "C"],
        shuffle=False,
    )
    with pytest.raises(DataError) as err:
        data[0]
    assert str(err.value) == (
        f"{shards[0]}: frame 0: atom 2: element O is not in the model's element table (H, C): the model "
        "never saw it"
    )


def test_shards_of_isolated_atoms_only_leave_a_rank_no_training_frame(tmp_path, monkeypatch):
    """The message names the split that is empty: training here (the validation case is above)."""
    monkeypatch.setenv("SCIPT_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "atoms"
    folder.mkdir()
    atom = '1\nProperties=species:S:1:pos:R:3:forces:R:3 energy=-0.25 pbc="F F F"\nCu 0 0 0 0 0 0\n'
    (folder / "part-0.xyz").write_text(atom * 2)
    data = ShardedFrames(
        Shards([folder / "part-0.xyz"]), _cfg(folder, val_fraction=0), split="train", labelled=True,
        cutoff=4.0, elements=["Cu"], seed=0,
    )  # fmt: skip
    with pytest.raises(DataError) as err:
        data.for_rank(0, 1)
    assert str(err.value) == (
        "data.paths: the shards of rank 0 (part-0.xyz) hold no training frame besides isolated atoms"
    )
    # nor a statistics sample: its first frames are all isolated atoms
    with pytest.raises(DataError) as err:
        prepare_streaming(_cfg(folder, val_fraction=0), PotentialConfig(cutoff=4.0), labelled=True)
    assert (
        str(err.value) == f"{folder / 'part-0.xyz'}: no frame besides isolated atoms in the first 1000 frames"
    )


def test_a_streamed_corpus_without_paths_is_refused():
    """No --data: said before any shard is looked for, naming the key and both ways to give it."""
    from sciPT.errors import ConfigError

    with pytest.raises(ConfigError) as err:
        prepare_streaming(MoleculeDataConfig(paths=[]), PotentialConfig(), labelled=True)
    assert str(err.value) == (
        "data.paths: no structure file given (pass --data FRAMES.xyz or a folder of them)"
    )


def test_a_statistics_sample_without_forces_is_refused_and_a_partial_one_is_counted(shards, capsys):
    """A mistyped forces key leaves every frame without forces: refused with the first frame's words,
    as in memory. Two of the first five frames without forces are said to be fitted on energies."""
    with pytest.raises(DataError) as err:
        prepare_streaming(_cfg(shards[0].parent, forces_key="nope"), PotentialConfig(), labelled=True)
    assert str(err.value) == (
        f"{shards[0]}: frame 0: no forces key 'nope' (the frame has: OH_dist, config_type, energy, forces)"
    )
    lines = shards[0].read_text().splitlines(keepends=True)
    for k in (1, 3):  # frames 1 and 3: their forces stored under another name
        lines[11 * k + 1] = lines[11 * k + 1].replace(":forces:R:3", ":dft_forces:R:3")
    shards[0].write_text("".join(lines))
    capsys.readouterr()
    prepare_streaming(_cfg(shards[0].parent, stats_frames=5), PotentialConfig(), labelled=True)
    assert (
        "2 of the first 5 frames have no forces under key 'forces': their energies are fitted, not their "
        "forces"
    ) in capsys.readouterr().err


def test_the_model_s_own_element_table_is_kept_when_streaming(shards):
    """--model.elements names elements the sample lacks (N here): the model and every rank's frames
    use that table, not the sample's three elements."""
    streamed = prepare_streaming(
        _cfg(shards[0].parent, stats_frames=5), PotentialConfig(elements=["H", "C", "N", "O"]), labelled=True
    )
    assert streamed.model.elements == ["H", "C", "N", "O"]
    assert streamed.train_set.elements == ["H", "C", "N", "O"]


def test_a_validation_file_is_read_in_order_and_checked_against_the_element_table(shards, tmp_path):
    """--data.val-paths beside shards: validated in file order (the same batches every time), and a
    frame with an element the model lacks is refused before training (ethanol's O made an N)."""
    val = tmp_path / "val.xyz"
    val.write_text("".join(ETHANOL.read_text().splitlines(keepends=True)[30 * 11 : 34 * 11]))
    cfg = _cfg(shards[0].parent, val_paths=[str(val)], stats_frames=10, val_fraction=0.0)
    streamed = prepare_streaming(cfg, PotentialConfig(), labelled=True)
    _, val_set = training_sets(streamed, 0)
    energies = [f.energy for f in read_frames(val, MoleculeDataConfig())]
    assert [float(val_set[n].energy) for n in range(8)] == pytest.approx(energies * 2, rel=1e-12)
    assert streamed.report()["frames_val"] == 4  # counted here, not by the ranks
    lines = val.read_text().splitlines(keepends=True)
    lines[11 + 2 + 2] = "N" + lines[11 + 2 + 2][1:]  # frame 1, atom 2 (its O)
    val.write_text("".join(lines))
    with pytest.raises(DataError) as err:
        prepare_streaming(cfg, PotentialConfig(), labelled=True)
    assert str(err.value).endswith(
        "frame 1: atom 2: element N is not in the model's element table (H, C, O): the model never saw it"
    )


def test_an_unlabelled_streamed_corpus_may_hold_isolated_atoms(tmp_path, monkeypatch):
    """Unlabelled frames (denoising) have no energies: an isolated atom among them is left out of
    training, not refused as an isolated atom without an energy (the in-memory path does the same)."""
    monkeypatch.setenv("SCIPT_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "cu"
    folder.mkdir()
    lines = []
    for a, pbc in [(2.5, "T T T"), (2.6, "F F F")]:
        lines += [
            "1",
            f'Lattice="{a} 0 0 0 {a} 0 0 0 {a}" Properties=species:S:1:pos:R:3 pbc="{pbc}"',
            "Cu 0 0 0",
        ]
    (folder / "part-0.xyz").write_text("\n".join(lines) + "\n")
    streamed = prepare_streaming(_cfg(folder, val_fraction=0), PotentialConfig(cutoff=4.0), labelled=False)
    assert len(streamed.train) == 1 and streamed.model.elements == ["Cu"]
    assert [f[3] for f in streamed.train_set.frames(0, 1)] == [0]


def test_a_streamed_frame_far_from_its_composition_s_energies_is_refused_before_training(shards):
    """The frames read before training (the first data.stats_frames) are checked as a file's are: a
    typo of 1e30 in frame 2 diverged at step 1 with advice to lower the learning rate."""
    import re

    lines = shards[0].read_text().splitlines(keepends=True)
    lines[11 * 2 + 1] = re.sub(r"energy=\S+", "energy=1e30", lines[11 * 2 + 1])
    shards[0].write_text("".join(lines))
    with pytest.raises(DataError) as err:
        prepare_streaming(_cfg(shards[0].parent, stats_frames=5), PotentialConfig(), labelled=True)
    said = str(err.value)
    # 1e30 eV over 9 atoms: 1.111e+29 eV per atom above the others' median
    assert said.startswith(
        f"{shards[0]}: frame 2: energy 1e+30 eV, +1.111e+29 eV per atom from the median of "
    )
    assert "the first 5 C2H6O frames" in said and said.endswith(
        "(a frame in another energy unit, or a typo?)"
    )


def test_a_streamed_corpus_records_the_periodic_images_of_its_statistics_sample(
    tmp_path, shards, emt_cu_frames
):
    """Streamed, the record is the statistics sample's: Cu crystals there have periodic images,
    ethanol shards none."""
    from ase.io import write

    ethanol = prepare_streaming(_cfg(shards[0].parent), PotentialConfig(), labelled=True)
    assert ethanol.model.periodic_images is False
    folder = tmp_path / "cu"
    folder.mkdir()
    write(folder / "part-0.xyz", emt_cu_frames(3))
    streamed = prepare_streaming(_cfg(folder, val_fraction=0), PotentialConfig(), labelled=True)
    assert streamed.model.periodic_images is True
