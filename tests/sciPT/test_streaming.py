"""Sharded sequence corpora: assignment, listing, per-rank determinism, and that a rank opens only
its own shards (sciPT.streaming)."""

import builtins
import gzip
import hashlib
import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from sciPT.curation import CurationOptions
from sciPT.data import step_loader
from sciPT.errors import ConfigError, DataError
from sciPT.registry import domains
from sciPT.sequences import Corpus, RandomWindows
from sciPT.streaming import (
    FASTA_SUFFIXES,
    ShardedSequences,
    ShardedWindows,
    Shards,
    assign_shards,
    expand_shards,
    rank_seed,
    shard_sha256,
    split_fasta,
    use_streaming,
)

GENOME = "data_recipes/dna/ecoli_k12_mg1655.fna.gz"


@pytest.fixture
def shards(tmp_path, monkeypatch):
    monkeypatch.setenv("SCIPT_CACHE", str(tmp_path / "cache"))
    return split_fasta(GENOME, tmp_path / "shards", 4, 2_000, max_residues=40_000)


def _windows(paths, split="train", seed=3, report=None):
    spec = domains.get("dna").spec
    options = CurationOptions(tile=64)
    sequences = ShardedSequences(
        Shards(list(paths)),
        spec,
        options,
        val_fraction=0.1,
        val_mode="region",
        report={} if report is None else report,
    )
    return ShardedWindows(sequences, 64, split=split, seed=seed, reverse_complement=split == "train")


def test_equal_shards_go_round_robin():
    assert assign_shards([5] * 7, 3) == [0, 1, 2, 0, 1, 2, 0]


def test_largest_shard_first_to_the_least_loaded_rank():
    # by hand: 10 -> r0 (10, 0); 7 -> r1 (10, 7); 5 (#3) -> r1 (10, 12); 5 (#4) -> r0 (15, 12); 3 -> r1
    assert assign_shards([10, 3, 7, 5, 5], 2) == [0, 1, 1, 1, 0]


def test_fewer_shards_than_counted_ranks_is_refused_before_the_run_folder(shards, tmp_path, capsys):
    """With --devices 2 the ranks are known before any starts: one shard was refused by each rank,
    twice on the terminal, once the run's folder was made."""
    from sciPT.cli import main

    folder = shards[0].parent / "one"
    folder.mkdir()
    shards[0].rename(folder / shards[0].name)
    out = tmp_path / "run"
    argv = ["pretrain", "dna", "--preset", "tiny", "--data", f"{folder}/", "--devices", "2"]
    assert main([*argv, "--strategy", "ddp", "--out", str(out)]) == 2
    assert capsys.readouterr().err == (
        "scipt: error: data.paths: 1 shards for 2 ranks; streaming gives every rank its own shards "
        "(expected at least 2, or data.streaming false)\n"
    )
    assert not out.exists()


def test_a_shard_that_is_not_fasta_is_refused_before_the_run_folder(shards, tmp_path, capsys):
    """Each rank reads its shards once training starts; a table among the shards was found only
    then, after the run's folder was made."""
    from sciPT.cli import main

    table = shards[0].parent / "labels.fa"
    table.write_text("sequence,label\nACGTACGT,1\n")
    out = tmp_path / "run"
    assert main(["pretrain", "dna", "--preset", "tiny", "--data", f"{table.parent}/", "--out", str(out)]) == 2
    assert capsys.readouterr().err == (
        f"scipt: error: {table}: line 1 is not a FASTA header; expected a FASTA file, its first text a '>' header\n"
    )
    assert not out.exists()


def test_assignment_is_balanced_within_one_shard():
    sizes = np.random.default_rng(0).integers(1, 1000, size=101).tolist()
    for world in (2, 3, 8):
        owners = assign_shards(sizes, world)
        loads = np.bincount(owners, weights=sizes, minlength=world)
        assert loads.max() - loads.min() <= max(sizes)
        assert sorted(set(owners)) == list(range(world))


def test_fewer_shards_than_ranks_is_one_clear_error(shards):
    with pytest.raises(ConfigError) as err:
        Shards(shards[:3]).of_rank(0, 4)
    assert str(err.value) == (
        "data.paths: 3 shards for 4 ranks; streaming gives every rank its own shards "
        "(expected at least 4, or data.streaming false)"
    )


def test_folders_and_patterns_list_their_fasta_files_in_name_order(tmp_path):
    for name in ("b.fa.gz", "a.fasta", "c.txt", ".hidden.fa", "d.FNA", "e.fa.bgz"):
        (tmp_path / name).write_text(">x\nACGT\n")
    assert [p.name for p in expand_shards([str(tmp_path)], FASTA_SUFFIXES, "FASTA")] == [
        "a.fasta",
        "b.fa.gz",
        "d.FNA",
        "e.fa.bgz",
    ]
    assert [p.name for p in expand_shards([str(tmp_path / "*.fa*")], FASTA_SUFFIXES, "FASTA")] == [
        "a.fasta",
        "b.fa.gz",
        "e.fa.bgz",
    ]
    assert use_streaming(None, [str(tmp_path)]) and use_streaming(None, [str(tmp_path / "*.fa")])
    assert not use_streaming(None, [str(tmp_path / "a.fasta")])
    assert use_streaming(True, [str(tmp_path / "a.fasta")])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError) as err:
        expand_shards([str(empty)], (".fa",), "FASTA files")
    assert str(err.value) == f"{empty}: no .fa file in the folder (expected FASTA files)"


def test_a_file_named_like_a_pattern_is_that_file(tmp_path):
    """``genome [v2].fa`` read as a pattern matched ``genome 2.fa``: the run trained on it, and the
    file meant was then found clean of the run's data."""
    literal, other = tmp_path / "genome [v2].fa", tmp_path / "genome 2.fa"
    literal.write_text(">a\nACGT\n")
    other.write_text(">b\nTTTT\n")
    assert not use_streaming(None, [str(literal)])
    assert expand_shards([str(literal)], FASTA_SUFFIXES, "FASTA files") == [literal]
    # a pattern naming no file as it is still matches
    assert expand_shards([str(tmp_path / "genome [2v].fa")], FASTA_SUFFIXES, "FASTA files") == [other]
    # a missing file's name is not called a pattern when it only holds brackets
    missing = tmp_path / "genome [v3].fa"
    with pytest.raises(DataError) as err:
        expand_shards([str(missing)], FASTA_SUFFIXES, "FASTA files")
    assert (
        str(err.value)
        == f"{missing}: no such file, nor a file it matches as a glob pattern (expected FASTA files)"
    )
    with pytest.raises(DataError) as err:
        expand_shards([str(tmp_path / "*.fna")], FASTA_SUFFIXES, "FASTA files")
    assert str(err.value) == f"{tmp_path / '*.fna'}: no file matches the pattern (expected FASTA files)"


def test_a_rank_draws_the_plain_path_windows_of_its_own_shards(shards):
    """Reuse, not a fork: rank r's sample n is RandomWindows over its shards with rank_seed."""
    report = {}
    sharded = _windows(shards, report=report).for_rank(1, 2)
    mine = Shards(shards).of_rank(1, 2)
    owners = assign_shards([p.stat().st_size for p in shards], 2)
    assert mine == [p for p, r in zip(shards, owners) if r == 1] and len(mine) == 2
    plain = RandomWindows(
        Corpus([str(p) for p in mine], domains.get("dna").spec),
        64,
        seed=rank_seed(3, 1),
        val_fraction=0.1,
        reverse_complement=True,
    )
    for n in (0, 1, 17, 1000):
        np.testing.assert_array_equal(sharded[n], plain[n])
    assert report["rank_shards"] == 2 and report["rank_residues"] == 20_000


def test_samples_are_a_function_of_seed_rank_and_number(shards):
    a = _windows(shards).for_rank(0, 2)
    b = _windows(shards).for_rank(0, 2)  # another process, same seed
    other = _windows(shards, seed=4).for_rank(0, 2)
    assert all(np.array_equal(a[n], b[n]) for n in range(20))
    assert not all(np.array_equal(a[n], other[n]) for n in range(20))


def test_the_loader_numbers_a_sharded_dataset_per_rank_and_resumes_by_step(shards):
    dataset = _windows(shards)
    own = dataset.for_rank(1, 2)

    def loader(step):
        trainer = SimpleNamespace(global_rank=1, world_size=2, global_step=step)
        return step_loader(dataset, list, batch_size=3, total_batches=6, trainer=trainer)

    straight = list(loader(0))
    assert len(straight) == 6
    for b, batch in enumerate(straight):
        for i, codes in enumerate(batch):
            np.testing.assert_array_equal(codes, own[b * 3 + i])
    resumed = list(loader(4))
    assert len(resumed) == 2
    for x, y in zip(resumed, straight[4:]):
        assert all(np.array_equal(u, v) for u, v in zip(x, y))


def test_a_rank_never_opens_another_ranks_shards(shards, monkeypatch):
    opened = []
    real_open, real_gzip = builtins.open, gzip.open

    def recording_open(file, *args, **kwargs):
        opened.append(str(file))
        return real_open(file, *args, **kwargs)

    def recording_gzip(file, *args, **kwargs):
        opened.append(str(file))
        return real_gzip(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", recording_open)
    monkeypatch.setattr(gzip, "open", recording_gzip)
    train, val = _windows(shards).for_rank(0, 2), _windows(shards, "val").for_rank(0, 2)
    for n in range(50):
        train[n], val[n]
    monkeypatch.undo()
    read = {Path(p) for p in opened if Path(p).name.startswith("shard-")}
    assert read == set(Shards(shards).of_rank(0, 2))


def test_a_rank_whose_shards_hold_no_validation_window_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("SCIPT_CACHE", str(tmp_path / "cache"))
    for i, length in enumerate((2000, 100)):
        (tmp_path / f"s{i}.fa").write_text(f">r{i}\n{'ACGT' * (length // 4)}\n")
    val = _windows([tmp_path / "s0.fa", tmp_path / "s1.fa"], "val")
    assert len(val.for_rank(0, 2)) > 0  # s0: a 200-residue tail
    with pytest.raises(DataError) as err:
        val.for_rank(1, 2)  # s1: a 10-residue tail
    assert str(err.value) == (
        "data.paths: the shards of rank 1 (s1.fa) hold no validation window of 64 residues "
        "(larger shards, or data.val_fraction 0)"
    )


def test_provenance_takes_sha256sums_else_hashes_once_and_only_on_rank_zero(shards, monkeypatch):
    expected = hashlib.sha256(shards[0].read_bytes()).hexdigest()
    assert shard_sha256(shards[0]) == expected
    (shards[0].parent / "SHA256SUMS").write_text(f"{'ab' * 32}  {shards[1].name}\n")
    assert shard_sha256(shards[1]) == "ab" * 32  # listed: trusted, not recomputed
    calls = []
    monkeypatch.setattr("sciPT.streaming.file_sha256", lambda p: calls.append(p) or "x")
    assert shard_sha256(shards[0]) == expected and calls == []  # cached by path, size and time
    entries = Shards(shards).provenance()
    assert [e["bytes"] for e in entries] == [p.stat().st_size for p in shards]
    monkeypatch.setattr("sciPT.run.global_rank", lambda: 1)
    assert Shards(shards).provenance() == []


def test_a_folder_streams_by_default_and_reads_whole_when_told_not_to(shards):
    dna = domains.get("dna")
    cfg = dna.presets()["tiny"]()
    cfg.data.paths = [str(shards[0].parent)]
    # records of 2,000 residues: 10 % leaves each a 200-residue tail, room for a validation window
    cfg.data.val_fraction = 0.1
    setup = dna.build_pretraining(cfg)
    assert isinstance(setup.datamodule.train_set, ShardedWindows)
    assert setup.report["corpus_shards"] == 4 and "corpus_residues" not in setup.report
    cfg.data.streaming = False
    setup = dna.build_pretraining(cfg)
    assert isinstance(setup.datamodule.train_set, RandomWindows)
    assert setup.report["corpus_residues"] == 40_000
    assert [Path(e["path"]).name for e in setup.corpus] == [p.name for p in shards]


def test_a_streamed_corpus_reports_what_curation_removed_as_a_whole_corpus_does(shards):
    # curation ran on a rank's shards, and neither metrics.json nor report.md said what it removed
    from sciPT.curation import curate
    from sciPT.domains.dna.data import DNA_SPEC

    options = CurationOptions(tile=100, dedup="exact", max_n_run=16, min_entropy=3.0)
    report: dict = {}
    sequences = ShardedSequences(
        Shards(shards), DNA_SPEC, options, val_fraction=0.0, val_mode="region", report=report
    )
    corpus, curation = sequences.resolve(0, 1)
    whole = curate(Corpus([str(p) for p in shards], DNA_SPEC), options, val_fraction=0.0, val_mode="region")
    assert {k: v for k, v in report.items() if k.startswith("data_removed") or k == "data_kept_residues"} == (
        whole.metrics()
    )
    assert report["data_kept_residues"] == int((whole.stop - whole.start)[whole.reason == 0].sum())
    summary = report["data_summary"]
    assert summary[summary.index("Curation of rank 0's shards:") + 2 :] == whole.lines()


def test_a_shard_changed_since_its_sha256sums_line_is_refused_by_the_rank_that_reads_it(shards):
    """The listed digest stood in for the shard in pretrained_on, checked by nothing: a shard
    edited after the list was written was recorded as a file the model was not trained on."""
    real = hashlib.sha256(shards[1].read_bytes()).hexdigest()
    (shards[0].parent / "SHA256SUMS").write_text(f"{real}  {shards[1].name}\n")
    windows = _windows(shards[:2])
    windows.for_rank(0, 1)  # listed and unchanged: read
    stale = "ab" * 32
    (shards[0].parent / "SHA256SUMS").write_text(f"{stale}  {shards[1].name}\n")
    with pytest.raises(DataError) as err:
        _windows(shards[:2]).for_rank(0, 1)
    assert str(err.value) == (
        f"{shards[1]}: SHA256SUMS lists {stale}, but the file's SHA-256 is {real}: it changed since the "
        "list was written (write the list again, or remove it)"
    )


def test_a_file_replaced_with_its_modification_time_kept_is_hashed_again(shards):
    first = shard_sha256(shards[0])
    stat = shards[0].stat()
    data = bytearray(shards[0].read_bytes())
    data[len(data) // 2] ^= 1  # one bit: the same size
    shards[0].write_bytes(bytes(data))
    os.utime(shards[0], ns=(stat.st_atime_ns, stat.st_mtime_ns))  # as cp -p or rsync -a leave it
    assert shards[0].stat().st_size == stat.st_size
    assert shard_sha256(shards[0]) == hashlib.sha256(shards[0].read_bytes()).hexdigest() != first


def test_each_rank_of_one_seed_gets_its_own_sampling_seed():
    """rank_seed mixes the rank in: ranks of one run draw from different seeds, and the same
    (seed, rank) always gives the same one."""
    seeds = [rank_seed(0, r) for r in range(4)]
    assert len(set(seeds)) == 4
    assert rank_seed(0, 1) == seeds[1]
    assert all(0 <= s < 2**63 for s in seeds)  # 63 bits


def test_a_pattern_lists_its_matches_in_name_order_whatever_order_the_filesystem_gives(tmp_path, monkeypatch):
    """Shard order decides the assignment: ranks listing one pattern in different orders would
    compute different tables, a shard read by two ranks and another by none."""
    import glob

    for name in ("a.fa", "b.fa", "c.fa"):
        (tmp_path / name).write_text(">x\nACGT\n")
    real = glob.glob
    monkeypatch.setattr(glob, "glob", lambda p: sorted(real(p), reverse=True))
    assert [p.name for p in expand_shards([str(tmp_path / "*.fa")], FASTA_SUFFIXES, "FASTA")] == [
        "a.fa",
        "b.fa",
        "c.fa",
    ]


def test_a_folder_skips_subfolders_named_like_fasta_files(tmp_path):
    """A folder `old.fa/` beside the shards is not a shard (reading it fails far later)."""
    (tmp_path / "a.fa").write_text(">x\nACGT\n")
    (tmp_path / "old.fa").mkdir()
    assert expand_shards([str(tmp_path)], FASTA_SUFFIXES, "FASTA") == [tmp_path / "a.fa"]


def test_a_world_of_no_ranks_is_refused():
    with pytest.raises(ValueError) as err:
        assign_shards([1, 2], 0)
    assert str(err.value) == "world_size: expected at least 1, got 0"


def test_as_many_shards_as_ranks_gives_each_rank_one(shards):
    """The least shards streaming accepts: one a rank, none read twice."""
    own = [Shards(shards).of_rank(r, 4) for r in range(4)]
    assert [len(o) for o in own] == [1, 1, 1, 1] and sorted(sum(own, [])) == shards


def test_a_missing_or_empty_shard_is_refused_by_name(shards):
    """Every shard is checked, not only the first: a missing one would fail on its rank alone."""
    missing = shards[0].parent / "shard-00009.fa.gz"
    with pytest.raises(DataError) as err:
        Shards([*shards, missing])
    assert str(err.value) == f"{missing}: file not found"
    empty = shards[0].parent / "empty.fa"
    empty.write_text("")
    with pytest.raises(DataError) as err:
        Shards([*shards, empty])
    assert str(err.value) == f"{empty}: file is empty"
    with pytest.raises(ConfigError) as err:
        Shards([], key="data.paths")
    assert str(err.value) == "data.paths: no shard given"


def test_the_summary_gives_each_ranks_shards_and_bytes(tmp_path):
    """Sizes 10, 3, 7, 5, 5 to 2 ranks: rank 0 holds 10 + 5 = 15 bytes, rank 1 3 + 7 + 5 = 15."""
    paths = []
    for i, size in enumerate((10, 3, 7, 5, 5)):
        paths.append(tmp_path / f"s{i}.fa")
        paths[-1].write_bytes(b"A" * size)
    assert Shards(paths).summary_lines(2) == [
        "Sharded corpus: 5 shards, 30 bytes; each rank reads its own.",
        "",
        "| rank | shards | bytes |",
        "|---|---|---|",
        "| 0 | 2 | 15 |",
        "| 1 | 3 | 15 |",
    ]


def test_sha256sums_lines_are_read_as_sha256sum_writes_them(shards):
    """`sha256sum -b` marks binary files `*name`, and digests may be upper case; a line that holds
    no digest (a comment naming the shard) lists nothing, and the shard is hashed."""
    sums = shards[0].parent / "SHA256SUMS"
    sums.write_text(f"{'AB' * 32} *{shards[1].name}\n# {shards[2].name}\n")
    assert shard_sha256(shards[1]) == "ab" * 32  # listed: taken from the list, not recomputed
    digest = hashlib.sha256(shards[1].read_bytes()).hexdigest()
    sums.write_text(f"{digest.upper()} *{shards[1].name}\n# {shards[2].name}\n")
    _windows(shards[1:2]).for_rank(0, 1)  # listed and unchanged: read, not refused
    assert shard_sha256(shards[2]) == hashlib.sha256(shards[2].read_bytes()).hexdigest()


def test_a_ranks_validation_windows_use_the_configured_held_out_part(shards):
    """The rank's datasets split its records as the plain path does with the run's val_fraction and
    val_mode: another split would train on validation windows."""
    spec = domains.get("dna").spec
    mine = Shards(shards).of_rank(0, 2)
    for mode in ("region", "record"):
        sequences = ShardedSequences(
            Shards(shards), spec, CurationOptions(tile=64), val_fraction=0.5, val_mode=mode, report={}
        )
        for split in ("train", "val"):
            sharded = ShardedWindows(sequences, 64, split=split, seed=3).for_rank(0, 2)
            plain = RandomWindows(
                Corpus([str(p) for p in mine], spec),
                64,
                split=split,
                seed=rank_seed(3, 0),
                val_fraction=0.5,
                val_mode=mode,
            )
            for n in range(20):
                np.testing.assert_array_equal(sharded[n], plain[n])


def test_one_process_resolves_each_world_size_for_itself(shards):
    """Rank 0 of 1 reads every shard, rank 0 of 2 half of them: a cache by rank alone would hand
    the second the first's corpus."""
    sequences = _windows(shards).sequences
    assert len(sequences.resolve(0, 1)[0].files) == 4
    assert len(sequences.resolve(0, 2)[0].files) == 2


def test_validation_windows_print_no_training_warnings(tmp_path, monkeypatch, capsys):
    """A shard too short for a training window is warned about once, by the training set; the
    validation set of the same rank would warn a second time."""
    monkeypatch.setenv("SCIPT_CACHE", str(tmp_path / "cache"))
    (tmp_path / "s0.fa").write_text(f">r0\n{'ACGT' * 500}\n")
    (tmp_path / "s1.fa").write_text(f">r1\n{'ACGT' * 10}\n")  # 40 residues: no window of 64
    capsys.readouterr()
    _windows([tmp_path / "s0.fa", tmp_path / "s1.fa"], "val").for_rank(0, 1)
    assert capsys.readouterr().err == ""


def test_two_seeds_never_share_a_ranks_sampling_seed():
    """Runs with seeds 0 and 1 must draw different windows on every rank: a seed mixed as
    ``seed + rank`` would give rank 1 of seed 0 the stream of rank 0 of seed 1."""
    seeds = {(s, r): rank_seed(s, r) for s in range(3) for r in range(3)}
    assert len(set(seeds.values())) == 9


def test_split_fasta_names_each_piece_by_its_start_and_deals_them_round_robin(tmp_path):
    """Pieces of one record keep distinct names (the record's name and where the piece starts),
    so a streamed corpus can be traced back to the genome and no two records share a name."""
    (tmp_path / "g.fa").write_text(">chr\nACGTACGTAC\nGTA\n>pl\nTTTT\n")
    paths = split_fasta(tmp_path / "g.fa", tmp_path / "out", 2, 5)
    texts = [gzip.decompress(p.read_bytes()).decode() for p in paths]
    # 13 residues of chr in pieces of 5: 0-4, 5-9, 10-12; then pl (4 residues); dealt 0,1,0,1
    assert texts == [">chr_0\nACGTA\n>chr_10\nGTA\n", ">chr_5\nCGTAC\n>pl_0\nTTTT\n"]


def test_a_shard_too_short_for_a_training_window_is_warned_about_once(tmp_path, monkeypatch, capsys):
    """A shard no training window is drawn from is named once on standard error: silent, the
    user would believe the model trained on it; said at every loader call, the log fills up."""
    monkeypatch.setenv("SCIPT_CACHE", str(tmp_path / "cache"))
    (tmp_path / "s0.fa").write_text(f">r0\n{'ACGT' * 500}\n")
    (tmp_path / "s1.fa").write_text(f">r1\n{'ACGT' * 10}\n")  # 40 residues: no window of 64
    windows = _windows([tmp_path / "s0.fa", tmp_path / "s1.fa"])
    capsys.readouterr()
    windows.for_rank(0, 1)
    windows.for_rank(0, 1)
    err = capsys.readouterr().err
    assert err == (
        f"warning: {tmp_path / 's1.fa'}: no record's training part holds a window of 64 "
        "residues; no window is drawn from this file\n"
    )
