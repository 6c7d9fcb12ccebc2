"""The Domain implementation the DNA and protein domains share (sciPT/sequence_domain.py): the
report's per-file table, the centre a long sequence is embedded from, predict --embed's file and
words, the held-out-part refusal, the streaming data's report and the base tokenizer's limits."""

import argparse
import csv
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from sciPT.checkpoint import export_model
from sciPT.errors import ConfigError, DataError
from sciPT.registry import domains
from sciPT.sequence_config import TokenizerConfig
from sciPT.sequence_domain import SequenceDomain, central
from sciPT.testing import random_dna


def _tiny(paths, window=32, **data):
    """The DNA ``tiny`` preset on ``paths``, windows of ``window`` residues."""
    cfg = domains.get("dna").presets()["tiny"]()
    cfg.data.paths, cfg.data.window = [str(p) for p in paths], window
    for key, value in data.items():
        setattr(cfg.data, key, value)
    return cfg


def _export(tmp_path, max_len=16, k=1):
    """A freshly initialised DNA model exported to ``tmp_path/model``; the run stand-in ``predict`` takes."""
    dna = domains.get("dna")
    cfg = dna.presets()["tiny"]()
    cfg.tokenizer = TokenizerConfig(kind="kmer", k=k) if k > 1 else TokenizerConfig()
    cfg.model.max_len = max_len
    export = dna.export_config_from(cfg)
    torch.manual_seed(0)
    export_model(tmp_path / "model", dna.load_backbone(export), {**export, "pretrained_on": []})
    return SimpleNamespace(path=tmp_path)


def test_central_keeps_the_middle_and_one_less_where_the_excess_is_odd():
    """A model reads at most ``residues``: one more, and the encoder refuses or reads past its positions."""
    codes = np.arange(10)
    assert central(codes, 10).tolist() == codes.tolist()
    assert central(codes, 12).tolist() == codes.tolist()
    assert central(codes, 6).tolist() == [2, 3, 4, 5, 6, 7]  # 2 off each side
    assert central(codes, 7).tolist() == [2, 3, 4, 5, 6, 7]  # excess 3: 2 off each side, 6 kept
    for residues in range(1, 12):
        # strand symmetry: the centre of the reverse is the reverse of the centre
        assert central(codes[::-1], residues).tolist() == central(codes, residues)[::-1].tolist()


def test_the_report_table_gives_each_files_residues_and_sampling_probability(tmp_path):
    """report.md's table is how a user sees which file the windows came from: numbers by hand."""
    a, b = tmp_path / "a.fa", tmp_path / "b.fa"
    a.write_text(f">a1\n{random_dna(700, 1)}\n>a2\n{random_dna(500, 2)}\n")
    b.write_text(f">b1\n{random_dna(100, 3)}\n")
    cfg = _tiny([a, b], window=32, val_fraction=0.0, temperature=2.0)
    setup = domains.get("dna").build_pretraining(cfg)
    assert setup.datamodule.val_set is None  # val_fraction 0: no validation loop, not an empty one
    report = setup.report
    assert (report["corpus_records"], report["corpus_residues"]) == (3, 1300)
    # window starts: 700 - 31 + 500 - 31 = 1138 in a.fa, 100 - 31 = 69 in b.fa, each to the power 1/2
    p = math.sqrt(1138) / (math.sqrt(1138) + math.sqrt(69))
    lines = report["data_summary"]
    assert lines[0].startswith("Sampling across files: temperature 2 (file i drawn")
    assert lines[-2:] == [f"| a.fa | 1,200 | 1,200 | {p:.4f} |", f"| b.fa | 100 | 100 | {1 - p:.4f} |"]


def test_predict_embed_writes_every_sequence_and_says_which_were_cropped(tmp_path, capsys):
    """The embeddings file is what a user feeds on: full precision, one row per name, and the crop said."""
    dna = domains.get("dna")
    run = _export(tmp_path)  # max_len 16 single-residue tokens: 16 residues read
    long = random_dna(21, 4)
    fa = tmp_path / "q.fa"
    fa.write_text(
        f">long\n{long}\n>exact\n{random_dna(16, 5)}\n>short\n{random_dna(10, 6)}\n>centre\n{long[3:18]}\n"
    )
    out = tmp_path / "e.csv"
    args = argparse.Namespace(embed=True, input=str(fa), output=str(out), batch_size=3)
    emb = dna.predict(run, args)
    err = capsys.readouterr().err
    # 21 residues, 5 too many: 3 off each side leaves the central 15
    assert (
        f"{fa}: the model reads at most 16 residues: 1 of 4 sequences embedded from the central 15 or 16 "
        "(as many left out on each side)\n"
    ) in err
    assert f"wrote 4 embeddings of dimension 64 to {out}" in err
    rows = list(csv.reader(out.open()))
    assert rows[0] == ["name", *[f"e{j}" for j in range(64)]]
    assert [r[0] for r in rows[1:]] == ["long", "exact", "short", "centre"]
    written = np.array([[float(v) for v in r[1:]] for r in rows[1:]])
    np.testing.assert_allclose(written, emb, rtol=1e-5, atol=1e-7)  # 6 significant digits
    np.testing.assert_allclose(emb[0], emb[3], rtol=1e-5, atol=1e-6)
    # the Python API gives the same rows, one per sequence
    from sciPT.domains.dna.tokenizer import encode

    codes = [encode(line) for line in fa.read_text().splitlines()[1::2]]
    np.testing.assert_allclose(dna.embed(tmp_path, codes, batch_size=2), emb, rtol=1e-5, atol=1e-6)


def test_predict_without_embed_is_refused_and_writes_nothing(tmp_path):
    """A sequence model predicts embeddings only: without --embed nothing is asked for."""
    fa = tmp_path / "q.fa"
    fa.write_text(">a\nACGTACGT\n")
    args = argparse.Namespace(embed=False, input=str(fa), output=str(tmp_path / "e.csv"), batch_size=64)
    with pytest.raises(ConfigError) as err:
        domains.get("dna").predict(_export(tmp_path), args)
    assert str(err.value) == "predict: a dna model predicts embeddings; pass --embed"
    assert not (tmp_path / "e.csv").exists()


def test_a_k_mer_model_is_said_to_read_its_tokens_plus_k_minus_one_residues(tmp_path, capsys):
    """16 tokens of 3-mers span 18 residues: a longer count crops nothing, a shorter one too much."""
    run = _export(tmp_path, max_len=16, k=3)
    fa = tmp_path / "q.fa"
    fa.write_text(f">a\n{random_dna(18, 7)}\n>b\n{random_dna(19, 8)}\n")
    args = argparse.Namespace(embed=True, input=str(fa), output=str(tmp_path / "e.csv"), batch_size=64)
    domains.get("dna").predict(run, args)
    assert (
        f"{fa}: the model reads at most 18 residues: 1 of 2 sequences embedded from the central 17 or 18"
    ) in capsys.readouterr().err


def test_the_batch_size_default_is_the_one_the_help_names():
    """--help says 64: a default that differs from what a user reads is a silent change."""
    parser = argparse.ArgumentParser()
    domains.get("dna").add_predict_arguments(parser)
    args = parser.parse_args([])
    assert (args.embed, args.batch_size) == (False, 64)
    assert "sequences per batch (default: 64)" in " ".join(parser.format_help().split())


def test_the_demo_trains_the_tiny_preset_for_the_steps_asked(tmp_path, monkeypatch):
    """`scipt demo --max-steps N` must train N steps, and without it the preset's own."""
    import sciPT.pretrain

    seen = []
    monkeypatch.setattr(sciPT.pretrain, "pretrain", lambda name, cfg, out, command: seen.append(cfg))
    dna = domains.get("dna")
    assert dna.demo(argparse.Namespace(out=str(tmp_path / "a"), max_steps=7)) == 0
    assert dna.demo(argparse.Namespace(out=str(tmp_path / "b"), max_steps=None)) == 0
    assert [c.train.max_steps for c in seen] == [7, dna.presets()["tiny"]().train.max_steps]


@pytest.mark.parametrize(
    ("domain", "curated", "part"),
    [
        ("dna", False, "held-out tail"),
        ("dna", True, "held-out tail kept by curation"),
        ("protein", False, "held-out record"),
        ("protein", True, "held-out record kept by curation"),
    ],
)
def test_no_validation_window_names_the_held_out_part_of_the_domain(domain, curated, part):
    """Proteins hold out whole records, genomes a tail: the refusal must name what was held out."""
    d = domains.get(domain)
    cfg = d.presets()["tiny"]()
    cfg.data.window, cfg.data.val_fraction = 32, 0.05
    val = SimpleNamespace(longest_part=lambda: (20, "r7", "x.fa"))
    assert d._no_validation_window(cfg, val, curated) == (
        f"data.val_fraction 0.05 with data.window 32: no validation window fits (the longest {part} is "
        "'r7' in x.fa, 20 residues); use a smaller data.window, a larger data.val_fraction, or "
        "data.val_fraction 0 to train without validation"
    )


def test_streamed_shards_report_their_bytes_and_hold_no_validation_set_at_fraction_zero(tmp_path):
    """corpus_bytes is the corpus size a user checks; val_fraction 0 means no validation loop at all."""
    shards = []
    for i, n in enumerate((300, 500)):
        shards.append(tmp_path / f"s{i}.fa")
        shards[-1].write_text(f">r{i}\n{random_dna(n, 10 + i)}\n")
    dna = domains.get("dna")
    setup = dna.build_pretraining(_tiny(shards, streaming=True, val_fraction=0.0))
    assert setup.report["corpus_shards"] == 2
    assert setup.report["corpus_bytes"] == sum(p.stat().st_size for p in shards)
    assert setup.datamodule.val_set is None
    with_val = dna.build_pretraining(_tiny(shards, streaming=True, val_fraction=0.1))
    assert with_val.datamodule.val_set is not None


def test_the_export_keeps_the_training_window_not_the_token_count():
    """A 3-mer model's 130-residue window is 128 tokens: evaluate and fine-tuning read the window back."""
    dna = domains.get("dna")
    cfg = dna.presets()["promoter"]()
    exported = dna.export_config_from(cfg)
    assert (exported["window"], exported["model"]["max_len"]) == (130, 128)
    assert exported["tokenizer"]["k"] == 3 and exported["domain"] == "dna"


class _Plain(SequenceDomain):
    """A plugin's sequence domain that keeps the shared tokenizer."""

    name = "plain"
    spec = domains.get("dna").spec


def test_the_shared_tokenizer_takes_k_mers_up_to_a_vocabulary_of_a_million():
    """A plugin without its own tokenizer: 4 ** 10 = 2 ** 20 k-mers is the most, and k = 0 is nothing."""
    plain = _Plain()
    assert plain.tokenizer(TokenizerConfig(kind="kmer", k=10)).k == 10
    assert plain.tokenizer(TokenizerConfig(kind="residue", k=10)).k == 1
    for k in (11, 0):
        with pytest.raises(ConfigError) as err:
            plain.tokenizer(TokenizerConfig(kind="kmer", k=k))
        assert str(err.value) == f"tokenizer.k: k = {k} is out of range for plain"


@pytest.mark.parametrize(
    ("k", "window", "max_len", "message"),
    [
        (1, 1, 128, "data.window: 1 residues give 1 tokens; expected at least 2"),
        (3, 3, 128, "data.window: 3 residues give 1 tokens; expected at least 2"),
        (1, 129, 128, "data.window: 129 residues give 129 tokens, more than model.max_len = 128"),
        (3, 131, 128, "data.window: 131 residues give 129 tokens, more than model.max_len = 128"),
    ],
)
def test_a_window_of_too_few_or_too_many_tokens_is_refused_before_the_data_is_read(
    k, window, max_len, message
):
    """One token has nothing to predict from; past max_len the encoder has no positions for it."""
    cfg = _tiny(["never-read.fa"], window=window)
    cfg.tokenizer = TokenizerConfig(kind="kmer", k=k) if k > 1 else TokenizerConfig()
    cfg.model.max_len = max_len
    with pytest.raises(ConfigError) as err:
        domains.get("dna").build_pretraining(cfg)
    assert str(err.value) == message


def test_the_longest_windows_that_fit_are_accepted(tmp_path):
    """The limits are inclusive: 2 tokens, and exactly max_len tokens, make a run."""
    fa = tmp_path / "g.fa"
    fa.write_text(f">g\n{random_dna(4000, 9)}\n")
    dna = domains.get("dna")
    for window, max_len in ((2, 128), (64, 64)):
        cfg = _tiny([fa], window=window)
        cfg.model.max_len = max_len
        assert dna.build_pretraining(cfg).report["tokens_per_sample"] == window


@pytest.mark.parametrize(
    ("domain", "change", "message"),
    [
        ("dna", {"val_fraction": 1.0}, "data.val_fraction: expected a fraction in [0, 1), got 1.0"),
        ("dna", {"temperature": 0.0}, "data.temperature: expected a positive number, got 0"),
        ("dna", {"temperature": float("nan")}, "data.temperature: expected a positive number, got nan"),
        # 2 bits a base: 62 // 2 = 31 bases pack into an int64 (not 20, as 3 bits for 5 symbols)
        ("dna", {"dedup_k": 32}, "data.dedup_k: expected an integer from 1 to 31, got 32"),
        (
            "protein",
            {"reverse_complement": True},
            "data.reverse_complement: protein sequences have no complement",
        ),
    ],
)
def test_impossible_data_settings_are_refused_word_for_word(domain, change, message):
    """Each would train on nothing, or on windows a protein cannot have, long after the command."""
    d = domains.get(domain)
    cfg = d.presets()["tiny"]()
    cfg.data.paths = ["never-read.fa"]
    for key, value in change.items():
        setattr(cfg.data, key, value)
    with pytest.raises(ConfigError) as err:
        d.build_pretraining(cfg)
    assert str(err.value) == message


def test_a_causal_objective_on_a_strand_equivariant_encoder_is_refused_before_the_data_is_read():
    """The encoder says so only at the first step, after the corpus is read and the run folder written."""
    dna = domains.get("dna")
    cfg = _tiny(["never-read.fa"])
    cfg.objective.kind, cfg.model.rc_equivariant = "causal", True
    with pytest.raises(ConfigError) as err:
        dna.build_pretraining(cfg)
    assert str(err.value).startswith("objective.kind causal: a reverse-complement equivariant encoder")


def test_the_span_warning_is_for_k_mers_masked_shorter_than_a_token_only(tmp_path, capsys):
    """Residue tokens masked one at a time are right: a warning there would teach users to ignore it."""
    fa = tmp_path / "g.fa"
    fa.write_text(f">g\n{random_dna(4000, 9)}\n")
    dna = domains.get("dna")
    for k, span, warned in ((1, 1, False), (3, 3, False), (3, 2, True)):
        cfg = _tiny([fa])
        cfg.tokenizer = TokenizerConfig(kind="kmer", k=k) if k > 1 else TokenizerConfig()
        cfg.objective.masked.span = span
        report = dna.build_pretraining(cfg).report
        assert ("warning: objective.masked.span" in capsys.readouterr().err) == warned, (k, span)
        # 32 residues are 32 - k + 1 tokens; the report says which k, as a 3-mer loss is not per residue
        assert (report["tokenizer_k"], report["tokens_per_sample"]) == (k, 33 - k)


def test_a_curated_corpus_reports_what_each_file_kept_and_why(tmp_path):
    """Curation's numbers by hand: 320 residues, a 64-N run filling tiles 4 and 5 of ten 32-residue tiles."""
    fa = tmp_path / "g.fa"
    fa.write_text(f">g\n{random_dna(128, 20)}{'N' * 64}{random_dna(128, 21)}\n")
    cfg = _tiny([fa], window=32, val_fraction=0.0, max_n_run=10)
    report = domains.get("dna").build_pretraining(cfg).report
    assert report["data_removed_n_run_fraction"] == pytest.approx(64 / 320)
    # one file, yet curated: the table and what curation removed are in report.md
    assert report["data_summary"][4:] == [
        "| g.fa | 320 | 256 | 1.0000 |",
        "",
        "Curation: tiles of 32 residues removed for runs of >= 10 unknown residues: 64 of 320 residues (20.00%).",
        "",
        "| removed for | residues | fraction |",
        "|---|---|---|",
        "| n_run | 64 | 0.2000 |",
        "| low_complexity | 0 | 0.0000 |",
        "| exact_duplicate | 0 | 0.0000 |",
        "| near_duplicate | 0 | 0.0000 |",
    ]


def test_order0_entropy_counts_known_residues_only_and_one_plain_file_has_no_table(tmp_path):
    """The report compares the loss with the entropy of A, C, G, T: N (never a target) is left out."""
    fa = tmp_path / "g.fa"
    fa.write_text(f">g\n{'ACGT' * 16}{'N' * 32}\n")  # A, C, G, T 16 times each: ln 4 nats
    report = domains.get("dna").build_pretraining(_tiny([fa], window=32, val_fraction=0.0)).report
    assert report["order0_entropy_nats"] == pytest.approx(math.log(4))
    assert "data_summary" not in report  # one file, nothing curated: nothing to tabulate


def test_a_corpus_of_unknown_residues_only_is_refused_naming_it(tmp_path):
    """Every residue N: nothing is ever a target, the loss is 0 and the export would look like a model."""
    a, b = tmp_path / "a.fa", tmp_path / "b.fa"
    a.write_text(">a\n" + "N" * 100 + "\n")
    b.write_text(">b\n" + "NRY" * 30 + "\n")
    with pytest.raises(DataError) as err:
        domains.get("dna").build_pretraining(_tiny([a, b], window=32))
    assert str(err.value) == (
        f"{a} ...: every residue is unknown (N, R, Y, S, W, K, M, B, D, H, V), and unknown residues are "
        "never predicted: nothing to pre-train on"
    )


def test_unknown_residues_and_special_tokens_are_never_targets():
    """DNA residue tokens: N is 5 + 4 = 9, never masked for prediction (MLM) nor a next-token target (causal)."""
    dna = domains.get("dna")
    cfg = dna.presets()["tiny"]()
    tok = dna.tokenizer(TokenizerConfig())
    masked = dna.build_objective(cfg.objective, tok, 64)
    assert masked.special_ids.tolist() == [0, 1, 2, 3, 4, 9]
    assert (masked.mask_id, masked.pad_id) == (4, 0)
    assert masked.normal_ids.tolist() == [5, 6, 7, 8, 9]  # random replacements may be N, as input
    cfg.objective.kind = "causal"
    causal = dna.build_objective(cfg.objective, tok, 64)
    assert sorted(causal.ignore_ids.tolist()) == [1, 9] and causal.pad_id == 0
    # 3-mers: a k-mer holding N is [UNK] already; id 9 is the k-mer ACA (0*16 + 1*4 + 0 = 4), a target
    kmer = dna.build_objective(
        dna.presets()["tiny"]().objective, dna.tokenizer(TokenizerConfig(kind="kmer", k=3)), 64
    )
    assert kmer.special_ids.tolist() == [0, 1, 2, 3, 4]


def test_the_model_config_takes_the_tokenizers_vocabulary_padding_and_complements():
    """A strand-symmetric DNA model maps A (5) <-> T (8), C (6) <-> G (7), N (9) itself; a protein has none."""
    dna = domains.get("dna")
    cfg = dna.presets()["tiny"]()
    cfg.model.rc_equivariant = True
    model = dna.export_config_from(cfg)["model"]
    assert (model["vocab_size"], model["pad_id"]) == (5 + 5, 0)
    assert model["complement_ids"] == [0, 1, 2, 3, 4, 8, 7, 6, 5, 9]
    protein = domains.get("protein")
    cfg = protein.presets()["tiny"]()
    cfg.model.rc_equivariant = True
    with pytest.raises(ConfigError) as err:
        protein.export_config_from(cfg)
    assert str(err.value) == "model.rc_equivariant: protein sequences have no complement"


@pytest.mark.parametrize("streaming", [False, True])
def test_training_windows_are_drawn_from_both_strands_and_validation_from_one(tmp_path, streaming):
    """data.reverse_complement augments training only: a validation loss is of the sequences as given.
    A poly-A record: a training window is AAA... or its reverse complement TTT...; a masked run on a
    strand-symmetric encoder is a run (the causal objective alone is refused with it)."""
    fa = tmp_path / "a.fa"
    fa.write_text(">a\n" + "A" * 400 + "\n")
    cfg = _tiny([fa], window=32, val_fraction=0.2, reverse_complement=True, streaming=streaming)
    cfg.model.rc_equivariant = True
    data = domains.get("dna").build_pretraining(cfg).datamodule
    train, val = data.train_set, data.val_set
    if streaming:
        train, val = train.for_rank(0, 1), val.for_rank(0, 1)
    assert {tuple(train[g].tolist()) for g in range(64)} == {(0,) * 32, (3,) * 32}
    assert {tuple(val[g].tolist()) for g in range(64)} == {(0,) * 32}


def test_embedding_no_sequence_gives_no_row_of_the_models_width(tmp_path):
    """An empty list is [0, 64], so that it stacks with the embeddings of other lists."""
    _export(tmp_path)
    assert domains.get("dna").embed(tmp_path, []).shape == (0, 64)


class _Judging(_Plain):
    """Refuses every corpus, naming the files it was shown."""

    def check_corpus(self, paths):
        raise ConfigError(" ".join(p.name for p in paths))


def test_the_corpus_check_sees_four_shards_of_a_folder_and_every_file_named(tmp_path):
    """Thousands of shards are one kind of data: the first four are judged; a file named alone always is."""
    folder = tmp_path / "shards"
    folder.mkdir()
    for i in range(6):
        (folder / f"s{i}.fa").write_text(f">r{i}\n{random_dna(100, 30 + i)}\n")
    single = tmp_path / "x.fa"
    single.write_text(f">x\n{random_dna(100, 40)}\n")
    with pytest.raises(ConfigError) as err:
        _Judging().build_pretraining(_tiny([folder, single]))
    assert str(err.value) == "s0.fa s1.fa s2.fa s3.fa x.fa"


def test_evaluate_on_a_folder_says_it_is_a_folder(tmp_path):
    """Not "file not found", which sends a user looking for a typo."""
    with pytest.raises(DataError) as err:
        domains.get("dna").evaluate(None, argparse.Namespace(data=str(tmp_path)))
    assert str(err.value) == f"{tmp_path}: a directory, not a file (expected a FASTA file)"


def test_predict_refuses_a_sequence_shorter_than_one_token_and_says_what_ambiguity_codes_became(
    tmp_path, capsys
):
    """Two residues give a 3-mer model no token: an embedding of nothing, refused by name. An IUPAC
    code is read as N, and the user is told so."""
    dna = domains.get("dna")
    fa = tmp_path / "q.fa"
    fa.write_text(f">ok\n{random_dna(10, 50)}\n>tiny\nAC\n")
    args = argparse.Namespace(embed=True, input=str(fa), output=str(tmp_path / "e.csv"), batch_size=64)
    with pytest.raises(DataError) as err:
        dna.predict(_export(tmp_path, k=3), args)
    assert str(err.value) == (
        f"{fa}: record 'tiny' has 2 residue(s), fewer than the 3 of one of the model's tokens: nothing to embed"
    )
    fa.write_text(f">ok\n{random_dna(10, 50)}\n>amb\nACGRT\n")
    dna.predict(_export(tmp_path, k=1), args)
    assert (
        f"{fa}: 1 of 2 sequences held ambiguity codes (R Y S W K M B D H V), read as N\n"
        in capsys.readouterr().err
    )


def test_a_protein_prediction_on_dna_is_refused_before_a_model_is_loaded(tmp_path):
    """No model at all in the run: the refusal comes first, from the sequences alone."""
    fa = tmp_path / "q.fa"
    fa.write_text(f">d\n{random_dna(200, 60)}\n")
    args = argparse.Namespace(embed=True, input=str(fa), output=str(tmp_path / "e.csv"), batch_size=64)
    with pytest.raises(DataError) as err:
        domains.get("protein").predict(SimpleNamespace(path=tmp_path / "no-run"), args)
    assert str(err.value) == (
        f"{fa}: reads as nucleotides (100 % A/C/G/T/U/N), not protein: is this a DNA file? (a dna run reads it)"
    )
    assert not (tmp_path / "e.csv").exists()


def test_the_span_warning_is_printed_once_by_the_first_rank(tmp_path, capsys, monkeypatch):
    """Every rank builds the run: on eight GPUs the same warning eight times would bury the log."""
    import sciPT.sequence_domain

    fa = tmp_path / "g.fa"
    fa.write_text(f">g\n{random_dna(4000, 9)}\n")
    cfg = _tiny([fa])
    cfg.tokenizer, cfg.objective.masked.span = TokenizerConfig(kind="kmer", k=3), 2
    monkeypatch.setattr(sciPT.sequence_domain, "global_rank", lambda: 1)
    domains.get("dna").build_pretraining(cfg)
    assert "warning" not in capsys.readouterr().err


def test_the_training_windows_follow_the_runs_seed(tmp_path):
    """train.seed picks the windows: two seeds, two samples; the same seed, the same sample (a rerun)."""
    fa = tmp_path / "g.fa"
    fa.write_text(f">g\n{random_dna(4000, 9)}\n")
    dna = domains.get("dna")

    def windows(seed):
        cfg = _tiny([fa])
        cfg.train.seed = seed
        train = dna.build_pretraining(cfg).datamodule.train_set
        return [train[g].tolist() for g in range(8)]

    assert windows(1) == windows(1) != windows(2)
