"""A pre-training corpus of several files: temperature sampling, tile curation, reporting, resume."""

import json

import numpy as np
import pytest
import torch

from sciPT import curation
from sciPT.cli import build_parser, main
from sciPT.curation import EXACT, KEPT, LOW_COMPLEXITY, N_RUN, NEAR, CurationOptions, curate
from sciPT.diagnostics.contamination import check_contamination, decontaminate
from sciPT.domains.dna.data import DNA_SPEC
from sciPT.errors import ConfigError
from sciPT.runconfig import resolve_config
from sciPT.sequences import Corpus, RandomWindows
from sciPT.testing import random_dna, stop_at

SYMBOLS = np.array(list("ACGTN"))


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SCIPT_CACHE", str(tmp_path / "cache"))


def fasta(path, records):
    path.write_text("".join(f">{name}\n{seq}\n" for name, seq in records))
    return str(path)


def rc(seq):
    return seq[::-1].translate(str.maketrans("ACGT", "TGCA"))


def text(codes):
    return "".join(SYMBOLS[codes])


# --- sampling across files by temperature ---------------------------------------------------
@pytest.fixture
def two_files(tmp_path):
    a = fasta(tmp_path / "a.fa", [("a", random_dna(1000, 1, "AC"))])  # A/C only: tells the files apart
    b = fasta(tmp_path / "b.fa", [("b", random_dna(9000, 2, "GT"))])
    return Corpus([a, b], DNA_SPEC)


@pytest.mark.parametrize(
    "temperature, expected",
    [(1.0, 0.1), (2.0, 1 / (1 + 3)), (float("inf"), 0.5), (1e9, 0.5)],  # sqrt(1000 / 9000) = 1/3
)
def test_temperature_file_probabilities(two_files, temperature, expected):
    ds = RandomWindows(two_files, 10, val_fraction=0.0, temperature=temperature)
    m = np.array([991, 8991.0])  # window starts per file, the exact mass
    exact = m ** (1 / temperature) / (m ** (1 / temperature)).sum()
    np.testing.assert_allclose(ds.file_probabilities, exact, rtol=1e-9)
    assert ds.file_probabilities[0] == pytest.approx(expected, abs=2e-3)  # ~ residues_i ** (1/T)
    n = 3000
    from_a = np.mean([set(text(ds[g])) <= {"A", "C"} for g in range(n)])
    sd = np.sqrt(exact[0] * (1 - exact[0]) / n)
    assert abs(from_a - exact[0]) < 4 * sd


def test_cold_temperature_draws_the_largest_file_not_nan(two_files):
    # 8991 ** (1 / 0.005) overflows float64 (10 ** 790): the probabilities must still be the limit
    ds = RandomWindows(two_files, 10, val_fraction=0.0, temperature=0.005)
    small = np.exp(np.log(991 / 8991) / 0.005)  # (991 / 8991) ** 200, the ratio of the two shares
    np.testing.assert_allclose(ds.file_probabilities, [small / (1 + small), 1 / (1 + small)], rtol=1e-9)
    assert all(set(text(ds[g])) <= {"G", "T"} for g in range(50))  # every window from b.fa
    assert ds.file_mass.tolist() == [991, 8991]  # a.fa holds windows: it is not 'no window'
    share = RandomWindows(two_files, 10, val_fraction=0.0, temperature=0.002).file_probabilities
    assert share[0] == 0.0  # (991 / 8991) ** 500 = 1e-479 rounds to 0, the mass stays


def test_temperature_one_is_the_old_length_weighting(two_files):
    ds = RandomWindows(two_files, 10, val_fraction=0.1, seed=5)
    w = ds.n_windows
    assert np.array_equal(ds.cum, np.cumsum(w / w.sum()))  # bit for bit: same draws as before
    hot = RandomWindows(two_files, 10, val_fraction=0.1, seed=5, temperature=1.0 + 1e-12)
    np.testing.assert_allclose(hot.cum, ds.cum, rtol=1e-9)  # the general path agrees


# --- curation: duplicates, N runs, low complexity ---------------------------------------------
def judge(paths, tile, **options):
    corpus = Corpus(paths, DNA_SPEC)
    cur = curate(
        corpus, CurationOptions(tile=tile, **options), val_fraction=0.0, val_mode="region", progress=False
    )
    return corpus, cur


def test_exact_duplicate_file_pair_loses_half_its_tiles(tmp_path):
    seq = random_dna(2000, 3)
    a = fasta(tmp_path / "a.fa", [("a", seq)])
    b = fasta(tmp_path / "b.fa", [("copy", seq)])  # other bytes, same residues
    c = fasta(tmp_path / "c.fa", [("reverse", rc(seq))])  # the other strand
    corpus, cur = judge([a, b, c], 200, dedup="exact")
    assert (cur.reason == KEPT).sum() == 10 and (cur.reason == EXACT).sum() == 20
    assert cur.metrics()["data_removed_exact_duplicate_fraction"] == pytest.approx(2 / 3)
    _, pair = judge([a, b], 200, dedup="exact")
    assert pair.metrics()["data_removed_fraction"] == pytest.approx(0.5)
    ds = RandomWindows(corpus, 100, val_fraction=0.0, curation=cur)
    assert ds.file_probabilities.tolist() == [1.0, 0.0, 0.0]


def test_near_duplicate_removed_under_near_kept_under_exact(tmp_path):
    seq = random_dna(2000, 4)
    mutated = list(seq)
    for p in range(50, 2000, 100):  # two substitutions per 200-residue tile
        mutated[p] = {"A": "C", "C": "G", "G": "T", "T": "A"}[mutated[p]]
    a = fasta(tmp_path / "a.fa", [("a", seq)])
    b = fasta(tmp_path / "b.fa", [("b", "".join(mutated))])
    other = fasta(tmp_path / "o.fa", [("o", random_dna(2000, 5))])  # unrelated: kept
    _, exact = judge([a, b, other], 200, dedup="exact")
    assert (exact.reason == KEPT).all()
    _, near = judge([a, b, other], 200, dedup="near")
    assert near.reason.tolist() == [KEPT] * 10 + [NEAR] * 10 + [KEPT] * 10
    assert near.metrics()["data_removed_near_duplicate_fraction"] == pytest.approx(1 / 3)


def test_n_run_and_poly_a_tiles_removed(tmp_path):
    tiles = [random_dna(100, s) for s in range(6)]
    tiles[2] = tiles[2][:40] + "N" * 20 + tiles[2][60:]
    tiles[4] = "A" * 100
    tiles[5] = tiles[5][:50] + "NNNN" + tiles[5][54:]  # a short run: kept
    path = fasta(tmp_path / "g.fa", [("g", "".join(tiles))])
    corpus, cur = judge([path], 100, max_n_run=10, min_entropy=2.0)
    assert cur.reason.tolist() == [KEPT, KEPT, N_RUN, KEPT, LOW_COMPLEXITY, KEPT]
    metrics = cur.metrics()
    assert metrics["data_removed_n_run_fraction"] == pytest.approx(1 / 6)
    assert metrics["data_removed_low_complexity_fraction"] == pytest.approx(1 / 6)
    assert metrics["data_kept_residues"] == 400
    ds = RandomWindows(corpus, 50, val_fraction=0.0, curation=cur)
    for g in range(300):
        w = text(ds[g])
        assert "N" * 5 not in w and "A" * 12 not in w


def test_a_short_last_tile_is_not_judged_by_an_entropy_it_cannot_reach(tmp_path):
    # 9 random residues hold 7 3-mers, at most log2(7) = 2.8 bits: under min_entropy 3 every such
    # tail was removed as low complexity, whatever it held; 8 + 2 = 10 residues (8 3-mers) can reach 3
    for tail, judged in ((9, False), (10, True)):
        genome = random_dna(200, 8) + "A" * tail
        path = fasta(tmp_path / f"g{tail}.fa", [("g", genome)])
        _, cur = judge([path], 100, min_entropy=3.0)
        assert cur.reason.tolist() == [KEPT, KEPT, LOW_COMPLEXITY if judged else KEPT]


def test_a_run_of_unknowns_across_tile_starts_counts_whole(tmp_path, monkeypatch):
    # 30 Ns at 985-1015 put 15 in each of two tiles: each passed max_n_run 16, and windows spanning
    # the two kept tiles held all 30
    genome = random_dna(2000, 5)
    genome = genome[:985] + "N" * 30 + genome[1015:]
    genome = genome[:1490] + "N" * 15 + genome[1505:]  # 15 across 1500: shorter than 16, kept
    path = fasta(tmp_path / "g.fa", [("g", genome)])
    corpus, cur = judge([path], 100, max_n_run=16)
    expected = [KEPT] * 20
    expected[9] = expected[10] = N_RUN
    assert cur.reason.tolist() == expected
    ds = RandomWindows(corpus, 64, val_fraction=0.0, curation=cur)
    assert all("N" * 16 not in text(ds[g]) for g in range(2000))
    # blocks read apart (here every 256 residues) carry a run into the next: the same verdicts
    monkeypatch.setattr(curation, "BLOCK", 256)
    monkeypatch.setattr(curation, "VERSION", curation.VERSION + 100)  # not the cached verdicts
    split = curate(
        corpus, CurationOptions(tile=100, max_n_run=16), val_fraction=0.0, val_mode="region", progress=False
    )
    assert split.reason.tolist() == expected
    # a run that begins blocks before the one where it reaches the length flags its first tiles
    long_run = random_dna(700, 6)[:190] + "N" * 400 + random_dna(700, 6)[590:]
    path = fasta(tmp_path / "h.fa", [("h", long_run)])
    cur = curate(
        Corpus([path], DNA_SPEC),
        CurationOptions(tile=50, max_n_run=300),
        val_fraction=0.0,
        val_mode="region",
        progress=False,
    )
    assert [t for t, r in enumerate(cur.reason.tolist()) if r == N_RUN] == list(range(3, 12))


def test_protein_n_run_counts_x_and_its_ambiguity_codes_not_selenocysteine_or_pyrrolysine(tmp_path):
    from sciPT.domains.protein.data import PROTEIN_SPEC

    rng = np.random.default_rng(11)
    tiles = ["".join(rng.choice(list("ACDEFGHIKLMNPQRSTVWY"), 50)) for _ in range(5)]
    tiles[1] = tiles[1][:20] + "UUUUUUUUUU" + tiles[1][30:]  # selenocysteine: real residues
    tiles[2] = tiles[2][:20] + "OOOOOUUUUU" + tiles[2][30:]  # pyrrolysine: real residues
    tiles[3] = tiles[3][:20] + "XXXXXXXXXX" + tiles[3][30:]  # unknown
    tiles[4] = tiles[4][:20] + "BZJXBZJXBZ" + tiles[4][30:]  # ambiguity codes, read as X
    path = fasta(tmp_path / "p.faa", [("p", "".join(tiles))])
    corpus = Corpus([path], PROTEIN_SPEC)
    cur = curate(
        corpus, CurationOptions(tile=50, max_n_run=10), val_fraction=0.0, val_mode="record", progress=False
    )
    assert cur.reason.tolist() == [KEPT, KEPT, KEPT, N_RUN, N_RUN]
    assert cur.metrics()["data_removed_n_run_fraction"] == pytest.approx(2 / 5)
    # DNA: N, and the ambiguity codes read as N, are its unknown residues as before
    assert DNA_SPEC.unknown_codes().tolist() == [4] and PROTEIN_SPEC.unknown_codes().tolist() == [22]


def test_the_report_speaks_of_strands_for_dna_only(tmp_path):
    from sciPT.domains.protein.data import PROTEIN_SPEC

    dna = fasta(tmp_path / "g.fa", [("g", random_dna(400, 12))])
    protein = fasta(
        tmp_path / "p.faa", [(f"p{i}", random_dna(100, i, "ACDEFGHIKLMNPQRSTVWY")) for i in range(4)]
    )
    for path, spec, mode, expected in [
        (dna, DNA_SPEC, "region", "exact and near duplicates (MinHash 12-mer Jaccard >= 0.5, either strand)"),
        (protein, PROTEIN_SPEC, "record", "exact and near duplicates (MinHash 12-mer Jaccard >= 0.5)"),
    ]:
        options = CurationOptions(tile=100, dedup="near")
        cur = curate(Corpus([path], spec), options, val_fraction=0.0, val_mode=mode, progress=False)
        assert cur.lines()[0] == (
            f"Curation: tiles of 100 residues removed for {expected}: 0 of 400 residues (0.00%)."
        )
    cur = curate(
        Corpus([protein], PROTEIN_SPEC),
        CurationOptions(tile=100, dedup="exact"),
        val_fraction=0.0,
        val_mode="record",
    )
    assert (
        cur.lines()[0]
        == "Curation: tiles of 100 residues removed for exact duplicates: 0 of 400 residues (0.00%)."
    )
    cur = curate(
        Corpus([dna], DNA_SPEC), CurationOptions(tile=100, dedup="exact"), val_fraction=0.0, val_mode="region"
    )
    assert "removed for exact duplicates (either strand): 0 of 400" in cur.lines()[0]


def test_a_file_that_holds_no_window_is_named(tmp_path, capsys):
    # it was listed among the files the model was trained on, and drew nothing, without a word
    long = fasta(tmp_path / "long.fa", [("a", random_dna(500, 3))])
    short = fasta(tmp_path / "short.fa", [("b", random_dna(56, 4)), ("c", random_dna(47, 5))])
    flags = ["--window", "64", "--model.max-len", "64", "--data.val-fraction", "0"]
    args = ["pretrain", "dna", "--data", long, short, "--max-steps", "1", "--batch-size", "2", *flags]
    assert main([*args, "--data.temperature", "inf", "--out", str(tmp_path / "run")]) == 0
    assert (
        f"warning: {short}: no record's training part holds a window of 64 residues; no window is "
        "drawn from this file"
    ) in capsys.readouterr().err.splitlines()


def test_curation_is_cached(tmp_path):
    path = fasta(tmp_path / "g.fa", [("g", random_dna(1000, 7))])
    _, first = judge([path], 100, dedup="near")
    assert len(list((tmp_path / "cache" / "sequences").glob("curation-*.npz"))) == 1
    _, again = judge([path], 100, dedup="near")
    assert np.array_equal(first.reason, again.reason)


# --- contamination on a multi-file corpus --------------------------------------------------
def test_contamination_and_decontamination_on_several_files(tmp_path):
    seq_a, seq_b = random_dna(3000, 8), random_dna(3000, 9)
    evals = [seq_b[1000:1081], rc(seq_a[500:581]), random_dna(81, 10)]
    a = fasta(tmp_path / "a.fa", [("a", seq_a)])
    b = fasta(tmp_path / "b.fa", [("b", seq_b)])
    codes = [DNA_SPEC.encode(s, "eval", "x") for s in evals]
    report = check_contamination(codes, Corpus([a, b], DNA_SPEC), progress=False)
    assert report.verbatim.tolist() == [True, True, False]
    clean_a, clean_b = tmp_path / "a_clean.fa", tmp_path / "b_clean.fa"
    decontaminate(a, codes, clean_a, DNA_SPEC, progress=False)
    decontaminate(b, codes, clean_b, DNA_SPEC, progress=False)
    after = check_contamination(codes, Corpus([str(clean_a), str(clean_b)], DNA_SPEC), progress=False)
    assert not after.near.any()


# --- the command line, the run directory, resume --------------------------------------------
def resolved(argv):
    args = build_parser(argv).parse_args(argv)
    return resolve_config(args.plugin, args, args.table)


def test_data_flag_takes_several_files_either_way():
    one = resolved(["pretrain", "dna", "--data", "A.fa", "B.fa.gz"])
    two = resolved(["pretrain", "dna", "--data", "A.fa", "--data", "B.fa.gz"])
    assert one.data.paths == two.data.paths == ["A.fa", "B.fa.gz"]
    cfg = resolved(["pretrain", "dna", "--preset", "genomes", "--data.temperature", "inf"])
    assert len(cfg.data.paths) == 4 and cfg.data.temperature == float("inf")


@pytest.mark.parametrize(
    "flags, key",
    [
        (["--data.temperature", "0"], "data.temperature"),
        (["--data.temperature", "-1"], "data.temperature"),
        (["--data.dedup", "fuzzy"], "--data.dedup"),
        (["--data.max-n-run", "0"], "data.max_n_run"),
        (["--data.dedup-threshold", "1.5"], "data.dedup_threshold"),
        # a DNA tile's 3-mers reach 6 bits at most: every tile failed (or, too short, passed)
        (["--data.min-entropy", "6.5"], "data.min_entropy"),
    ],
)
def test_bad_values_name_the_key(tmp_path, capsys, flags, key):
    path = fasta(tmp_path / "g.fa", [("g", random_dna(500, 11))])
    try:
        code = main(["pretrain", "dna", "--data", path, "--out", str(tmp_path / "run"), *flags])
    except SystemExit as stop:  # argparse: a value outside the choices
        code = stop.code
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert key in err[-1]
    assert not (tmp_path / "run").exists()


def test_min_entropy_is_refused_beyond_what_a_tile_can_reach():
    # 4^3 = 64 3-mers: at most 6 bits; a tile of 10 residues holds 8 3-mers: at most 3 bits
    CurationOptions(tile=100, min_entropy=6.0).check(4)
    CurationOptions(tile=10, min_entropy=3.0).check(4)
    with pytest.raises(ConfigError) as err:
        CurationOptions(tile=100, min_entropy=6.7).check(4)
    assert str(err.value) == (
        "data.min_entropy: expected bits from 0 to 6 (the most the 3-mers of a tile of 100 residues "
        "of 4 kinds reach), got 6.7"
    )
    with pytest.raises(ConfigError, match="expected bits from 0 to 3 "):
        CurationOptions(tile=10, min_entropy=3.1).check(4)
    with pytest.raises(ConfigError, match="got -1"):
        CurationOptions(tile=100, min_entropy=-1.0).check(4)


def test_a_corpus_file_given_twice_or_copied_is_refused(tmp_path, capsys):
    a = fasta(tmp_path / "a.fa", [("a", random_dna(2000, 1))])
    copy = tmp_path / "copy.fa"
    copy.write_bytes((tmp_path / "a.fa").read_bytes())
    for paths, what in (([a, a], "given twice"), ([a, str(copy)], f"a copy of {a}")):
        out = tmp_path / f"run-{len(what)}"
        assert main(["pretrain", "dna", "--preset", "tiny", "--data", *paths, "--out", str(out)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert err[-1].startswith(f"scipt: error: {paths[1]}: {what} (SHA-256 ")
        assert err[-1].endswith(
            "...); expected each corpus file once (--data.temperature sets how often each file is drawn)"
        )
        assert not out.exists()


def test_the_data_table_of_a_corpus_without_counts_has_its_two_columns():
    """Streamed shards record path and digest only: the header had an empty third cell."""
    from types import SimpleNamespace

    from sciPT.pretrain import _report
    from sciPT.registry import domains

    setup = SimpleNamespace(corpus=[{"path": "s/a.fa", "sha256": "0" * 64, "bytes": 10}], report={})
    cfg = domains.get("dna").presets()["tiny"]()
    lines = _report("DNA", cfg, setup, {}, None, None).splitlines()
    at = lines.index("## Data")
    assert lines[at + 2 : at + 5] == ["| file | sha256 |", "|---|---|", f"| s/a.fa | `{'0' * 16}…` |"]


def test_bad_dedup_in_a_config_file(tmp_path, capsys):
    (tmp_path / "c.yaml").write_text("data:\n  dedup: fuzzy\n")
    assert main(["pretrain", "dna", "--config", str(tmp_path / "c.yaml"), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "data.dedup" in err


def test_resume_exact_with_curation_and_temperature(tmp_path):

    from sciPT.checkpoint import from_pretrained, load_lightning_checkpoint
    from sciPT.pretrain import pretrain
    from sciPT.registry import domains

    seq = random_dna(6000, 12)
    a = fasta(tmp_path / "a.fa", [("a1", seq), ("a2", "A" * 400 + random_dna(3000, 13))])
    b = fasta(tmp_path / "b.fa", [("b", seq[:3000] + "N" * 100 + random_dna(2000, 14))])

    def cfg():
        c = domains.get("dna").presets()["tiny"]()
        c.data.paths = [a, b]
        c.data.window, c.model.max_len = 32, 32
        c.data.temperature, c.data.dedup, c.data.max_n_run, c.data.min_entropy = 3.0, "near", 10, 2.0
        c.train.batch_size, c.train.max_steps, c.train.checkpoint_every = 4, 6, 3
        c.train.val_every, c.train.val_batches, c.train.schedule.warmup_steps = 3, 1, 1
        return c

    pretrain("dna", cfg(), tmp_path / "straight")
    pretrain("dna", cfg(), tmp_path / "interrupted", callbacks=[stop_at(3)])
    assert load_lightning_checkpoint(tmp_path / "interrupted/checkpoints/last.ckpt")["global_step"] == 3
    pretrain("dna", cfg(), tmp_path / "interrupted", resume=True)
    weights = [from_pretrained(tmp_path / run).model.state_dict() for run in ("straight", "interrupted")]
    torch.testing.assert_close(*weights, rtol=0, atol=1e-6)
    metrics = json.loads((tmp_path / "straight/metrics.json").read_text())
    for rule in ("n_run", "low_complexity", "exact_duplicate", "near_duplicate"):
        assert f"data_removed_{rule}_fraction" in metrics
    assert metrics["data_removed_n_run_fraction"] > 0 and metrics["data_removed_low_complexity_fraction"] > 0
    assert metrics["data_removed_exact_duplicate_fraction"] > 0
    report = (tmp_path / "straight/report.md").read_text()
    assert "Curation: tiles of 32 residues" in report and "sampling probability" in report


def test_a_corpus_of_unknown_residues_only_is_refused_and_such_a_file_named(tmp_path, capsys):
    """All N: nothing is masked, the loss was 0 and a model was exported (evaluate refused the file)."""
    gaps = fasta(tmp_path / "gaps.fa", [("a", "N" * 3000), ("b", "n" * 1000)])
    good = fasta(tmp_path / "good.fa", [("g", random_dna(20000, 3))])
    out = tmp_path / "run"
    assert main(["pretrain", "dna", "--preset", "tiny", "--data", gaps, "--out", str(out)]) == 2
    words = "every residue is unknown (N, R, Y, S, W, K, M, B, D, H, V)"
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"scipt: error: {gaps}: {words}, and unknown residues are never predicted: nothing to pre-train on"
    )
    assert not out.exists()
    flags = ["--max-steps", "1", "--val-every", "1", "--val-batches", "1", "--batch-size", "2"]
    assert main(["pretrain", "dna", "--preset", "tiny", "--data", good, gaps, *flags, "--out", str(out)]) == 0
    assert (
        f"warning: {gaps}: {words}: its windows hold nothing to predict, yet are drawn as often as its size says"
    ) in capsys.readouterr().err.splitlines()


def test_entropy_of_a_tile_is_in_bits_by_hand():
    """min_entropy is given in bits, and tiles are measured in bits: in nats (0.69 for 1 bit) the
    filter would remove tiles the user's threshold means to keep."""
    codes = np.array([0, 1] * 64 + [0, 1, 2, 3] * 32, dtype=np.uint8)  # ACAC... then ACGT..., 128 each
    entropy = curation._entropy_bits(codes, np.array([0, 128]), 4)
    # tile 1: 126 3-mers, ACA and CAC 63 times each: 1 bit. tile 2: 126 3-mers, ACG, CGT 32 times
    # and GTA, TAC 31 times: log2(126) - (2 * 32 * log2(32) + 2 * 31 * log2(31)) / 126 = 1.99982
    assert entropy.tolist() == pytest.approx([1.0, 1.99982], abs=1e-5)


def test_a_near_duplicate_exactly_at_the_threshold_is_removed(tmp_path):
    """dedup_threshold is "at least this similar": at 1.0, tiles with the very same k-mers but
    other residues (ACGT... and CGTA...) are near duplicates (with "more than", a threshold of 1
    would remove nothing near)."""
    # 2-mers of ACGT...: AC, CG, GT, TA; of CGTA...: CG, GT, TA, AC. Canonical (AC = rc GT): {AC, CG,
    # TA} for both: Jaccard 1, every MinHash equal. Not an exact duplicate on either strand (the
    # reverse complement of CGTA... is TACG...)
    path = fasta(tmp_path / "g.fa", [("g", "ACGT" * 50 + "CGTA" * 50)])
    _, exact = judge([path], 200, dedup="exact", k=2)
    assert exact.reason.tolist() == [KEPT, KEPT]
    _, near = judge([path], 200, dedup="near", k=2, threshold=1.0)
    assert near.reason.tolist() == [KEPT, NEAR]


def test_options_accept_their_limits_and_name_the_key_beyond():
    """A threshold of 1 ("identical k-mers") and the longest k a DNA k-mer packs into (31) are valid
    settings; a tile of 0 residues would cut nothing and must be refused in one line."""
    CurationOptions(tile=100, dedup="near", threshold=1.0).check(4)
    CurationOptions(tile=1, dedup="near", k=31).check(4)
    bad = [
        (dict(tile=0), "data.tile: expected a positive number of residues, got 0"),
        (dict(tile=100, k=32), "data.dedup_k: expected an integer from 1 to 31, got 32"),
        (dict(tile=100, k=0), "data.dedup_k: expected an integer from 1 to 31, got 0"),
        (dict(tile=100, threshold=0.0), "data.dedup_threshold: expected a fraction in (0, 1], got 0"),
        (dict(tile=100, threshold=1.01), "data.dedup_threshold: expected a fraction in (0, 1], got 1.01"),
    ]
    for options, message in bad:
        with pytest.raises(ConfigError) as err:
            CurationOptions(dedup="near", **options).check(4)
        assert str(err.value) == message


def test_thresholds_at_equality_n_run_of_exactly_max_and_entropy_of_exactly_min_are_as_documented(tmp_path):
    """max_n_run removes runs "of at least" its length, min_entropy tiles "below" it: a run of exactly
    10 Ns is removed, one of 9 kept; a dinucleotide repeat (exactly 1 bit) passes min_entropy 1."""
    tiles = [random_dna(128, s) for s in range(4)]
    tiles[1] = tiles[1][:30] + "N" * 10 + tiles[1][40:]
    tiles[2] = tiles[2][:30] + "N" * 9 + tiles[2][39:]
    tiles[3] = "AC" * 64  # 126 3-mers, ACA and CAC 63 times each: 1 bit
    path = fasta(tmp_path / "g.fa", [("g", "".join(tiles))])
    _, cur = judge([path], 128, max_n_run=10, min_entropy=1.0)
    assert cur.reason.tolist() == [KEPT, N_RUN, KEPT, KEPT]
    _, strict = judge([path], 128, max_n_run=10, min_entropy=1.01)
    assert strict.reason.tolist() == [KEPT, N_RUN, KEPT, LOW_COMPLEXITY]


def test_a_dinucleotide_repeat_of_exactly_1_bit_passes_min_entropy_1_whatever_the_tile_length(tmp_path):
    """ "Below min_entropy" is removed and a dinucleotide repeat scores 1 bit: whether it is kept under
    min_entropy 1 must not depend on the rounding of log2 for the tile's length (28 3-mers: 14 ACA,
    14 CAC)."""
    path = fasta(tmp_path / "g.fa", [("g", random_dna(30, 1) + "AC" * 15)])
    _, cur = judge([path], 30, min_entropy=1.0)
    assert cur.reason.tolist() == [KEPT, KEPT]
    # and 98 residues, which compute at 0.9999999999999991
    path = fasta(tmp_path / "h.fa", [("h", random_dna(98, 1) + "AC" * 49)])
    _, cur = judge([path], 98, min_entropy=1.0)
    assert cur.reason.tolist() == [KEPT, KEPT]


def test_the_report_lines_count_removed_residues_by_rule_word_for_word(tmp_path):
    """report.md says what was removed and why: 100 residues of 600 for an N run, 100 for poly-A."""
    tiles = [random_dna(100, s) for s in range(6)]
    tiles[2] = tiles[2][:40] + "N" * 20 + tiles[2][60:]
    tiles[4] = "A" * 100
    path = fasta(tmp_path / "g.fa", [("g", "".join(tiles))])
    _, cur = judge([path], 100, max_n_run=10, min_entropy=2.0)
    assert cur.lines() == [
        "Curation: tiles of 100 residues removed for runs of >= 10 unknown residues; 3-mer entropy < 2 "
        "bits: 200 of 600 residues (33.33%).",
        "",
        "| removed for | residues | fraction |",
        "|---|---|---|",
        "| n_run | 100 | 0.1667 |",
        "| low_complexity | 100 | 0.1667 |",
        "| exact_duplicate | 0 | 0.0000 |",
        "| near_duplicate | 0 | 0.0000 |",
    ]
    assert cur.removed() == {
        "n_run": 100,
        "low_complexity": 100,
        "exact_duplicate": 0,
        "near_duplicate": 0,
        "total_residues": 600,
    }


def test_per_file_counts_the_residues_each_file_keeps(tmp_path):
    """The data table of report.md gives each file's kept residues: a copied file keeps none."""
    seq = random_dna(2000, 3)
    a = fasta(tmp_path / "a.fa", [("a", seq)])
    b = fasta(tmp_path / "b.fa", [("copy", seq[:1000]), ("other", random_dna(500, 4))])
    _, cur = judge([a, b], 200, dedup="exact")
    assert cur.per_file() == [{"residues": 2000, "kept": 2000}, {"residues": 1500, "kept": 500}]


def test_a_removed_tile_is_counted_under_its_first_rule_only(tmp_path):
    """Two poly-A tiles are low complexity both: the second is not an exact duplicate of a tile that
    was removed (the counts per rule would move between rules)."""
    path = fasta(tmp_path / "g.fa", [("g", random_dna(100, 1) + "A" * 200 + random_dna(100, 2))])
    _, cur = judge([path], 100, dedup="exact", min_entropy=1.0)
    assert cur.reason.tolist() == [KEPT, LOW_COMPLEXITY, LOW_COMPLEXITY, KEPT]


def test_a_near_duplicate_on_the_other_strand_is_removed(tmp_path):
    """Near duplicates are judged on canonical k-mers: a mutated copy read from the other strand is
    as much a duplicate as one on the same strand."""
    seq = random_dna(2000, 4)
    mutated = list(seq)
    for p in range(50, 2000, 100):
        mutated[p] = {"A": "C", "C": "G", "G": "T", "T": "A"}[mutated[p]]
    a = fasta(tmp_path / "a.fa", [("a", seq)])
    # after an unrelated tile, so the copy is not the whole record read backwards
    b = fasta(tmp_path / "b.fa", [("b", random_dna(200, 5) + rc("".join(mutated)))])
    _, near = judge([a, b], 200, dedup="near")
    assert near.reason.tolist() == [KEPT] * 11 + [NEAR] * 10


def test_changing_min_entropy_is_not_answered_from_the_cache(tmp_path):
    """The cache is keyed by every option: a stricter min_entropy must be judged anew."""
    path = fasta(tmp_path / "g.fa", [("g", random_dna(100, 1) + "AC" * 50)])
    _, loose = judge([path], 100, min_entropy=1.0)
    _, strict = judge([path], 100, min_entropy=1.5)
    assert loose.reason.tolist() == [KEPT, KEPT] and strict.reason.tolist() == [KEPT, LOW_COMPLEXITY]


def test_rows_per_band_by_hand():
    """LSH bands of r rows find a pair of similarity s with probability 1 - (1 - s^r)^(64/r), which
    must reach 0.99: at s = 0.9, r = 8 gives 0.9889 (short), r = 4 all but 1; at 0.5, r = 4 gives
    0.644, r = 2 0.9999; at 0.3, r = 2 gives 0.951, r = 1 all but 1e-10."""
    assert [curation._rows_per_band(s) for s in (0.9, 0.5, 0.3)] == [4, 2, 1]
    assert curation._rows_per_band(1.0) == 64


def _sketches_sharing(base, positions, seed):
    other = np.random.default_rng(seed).integers(0, 2**63, 64, dtype=np.uint64)
    other[positions] = base[positions]
    return other


def test_near_duplicates_need_the_threshold_share_of_equal_minhashes_and_compare_kept_tiles_only():
    """Jaccard >= 0.3 of 64 MinHash values is 19.2, so 20 equal values: 19 keeps the tile. And a tile
    like a removed one only is kept: greedy dedup compares with earlier kept tiles."""
    base = np.random.default_rng(0).integers(0, 2**63, 64, dtype=np.uint64)
    for shared, expected in ((19, KEPT), (20, NEAR)):
        sketch = np.stack([base, _sketches_sharing(base, np.arange(shared), 1)])
        reason = np.zeros(2, np.uint8)
        curation._near_duplicates(sketch, reason, np.ones(2, bool), 0.3)
        assert reason.tolist() == [KEPT, expected]
    # B shares 40 values with A (0-39), C 40 with B (24-63) but 16 with A: B goes, C stays
    b = _sketches_sharing(base, np.arange(40), 2)
    c = _sketches_sharing(b, np.arange(24, 64), 3)
    reason = np.zeros(3, np.uint8)
    curation._near_duplicates(np.stack([base, b, c]), reason, np.ones(3, bool), 0.5)
    assert reason.tolist() == [KEPT, NEAR, KEPT]


def test_a_run_filling_whole_tiles_flags_those_tiles_only(tmp_path, monkeypatch):
    """400 Ns from 200 to 600 fill tiles 4-11 of 50 exactly: the tile ending where the run begins
    and the one starting where it ends hold no N and stay, whether the run is read in one block or
    carried across blocks of 256 residues."""
    genome = random_dna(200, 1) + "N" * 400 + random_dna(300, 2)
    path = fasta(tmp_path / "g.fa", [("g", genome)])
    expected = [N_RUN if 4 <= t <= 11 else KEPT for t in range(18)]
    corpus, cur = judge([path], 50, max_n_run=300)
    assert cur.reason.tolist() == expected
    monkeypatch.setattr(curation, "BLOCK", 256)
    monkeypatch.setattr(curation, "VERSION", curation.VERSION + 100)  # not the cached verdicts
    split = curate(
        corpus, CurationOptions(tile=50, max_n_run=300), val_fraction=0.0, val_mode="region", progress=False
    )
    assert split.reason.tolist() == expected


def test_a_tiles_entropy_counts_its_own_3_mers_only():
    """Poly-A then poly-C: each tile is 0 bits; 3-mers across the tile start (AAC, ACC) would lift
    the poly-A tile to 0.16 bits, past a min_entropy of 0.1."""
    codes = np.array([0] * 100 + [1] * 100, dtype=np.uint8)
    assert curation._entropy_bits(codes, np.array([0, 100]), 4).tolist() == pytest.approx([0, 0], abs=1e-9)


def test_tiles_without_a_k_mer_are_deduplicated_exactly_only(tmp_path):
    """Every 12-mer of ACGTN... or TGCAN... holds an N: no sketch, so the two tiles (not copies on
    either strand) must not be near duplicates of each other by their empty sketches."""
    path = fasta(tmp_path / "g.fa", [("g", "ACGTN" * 20 + "TGCAN" * 20)])
    _, cur = judge([path], 100, dedup="near")
    assert cur.reason.tolist() == [KEPT, KEPT]


def test_options_of_a_config_and_when_they_do_anything():
    """data.tile falls back to the window; min_entropy alone is a filter (curation skipped would
    train on poly-A without a word)."""
    from types import SimpleNamespace

    data = SimpleNamespace(
        window=128, tile=64, dedup="none", dedup_k=12, dedup_threshold=0.5, max_n_run=None, min_entropy=None
    )
    assert CurationOptions.of(data).tile == 64
    data.tile = None
    assert CurationOptions.of(data).tile == 128
    assert not CurationOptions(tile=100).active
    assert CurationOptions(tile=100, min_entropy=1.0).active
    assert CurationOptions(tile=100, max_n_run=5).active
    assert CurationOptions(tile=100, dedup="exact").active


def test_cached_verdicts_are_read_back_not_judged_again(tmp_path, monkeypatch):
    """The cache is what makes a resumed run start at once: a second curate must not judge again."""
    path = fasta(tmp_path / "g.fa", [("g", random_dna(1000, 7))])
    _, first = judge([path], 100, dedup="near", max_n_run=5)

    def judged_again(*args, **kwargs):
        raise AssertionError("judged again")

    monkeypatch.setattr(curation, "_judge", judged_again)
    _, again = judge([path], 100, dedup="near", max_n_run=5)
    assert np.array_equal(first.reason, again.reason) and np.array_equal(first.stop, again.stop)
