"""`scipt finetune promoter`, `evaluate`, `predict`, `scan` on small files, and their bad inputs."""

import gzip
import json
import re

import numpy as np
import pytest

from sciPT.checkpoint import export_model
from sciPT.cli import main
from sciPT.diagnostics import transfer
from sciPT.registry import domains
from sciPT.tasks.promoter_verdicts import SIMPLEST_FIRST

SMALL = [
    "--model.d-model",
    "16",
    "--model.n-layers",
    "1",
    "--model.n-heads",
    "2",
    "--model.d-ff",
    "32",
    "--max-epochs",
    "3",
    "--batch-size",
    "16",
    "--min-steps-per-epoch",
    "0",
]


@pytest.fixture
def trained(tmp_path_factory, planted):
    path, rows = planted
    out = tmp_path_factory.mktemp("promoter") / "run"
    assert (
        main(
            [
                "finetune",
                "promoter",
                "--init",
                "none",
                "--train",
                str(path),
                "--out",
                str(out),
                "--strand-symmetric",
                *SMALL,
            ]
        )
        == 0
    )
    return out, path, rows


def test_finetune_evaluate_predict(trained, tmp_path, capsys):
    out, path, rows = trained
    exported = json.loads((out / "model/config.json").read_text())
    assert exported["task"] == "promoter" and exported["length"] == 30 and exported["strand_symmetric"]
    before = (out / "metrics.json").read_bytes()
    assert main(["evaluate", str(out), "--data", str(path)]) == 0
    folder = out / "evaluations" / "planted"
    metrics = json.loads((folder / "metrics.json").read_text())
    assert 0 <= metrics["eval_accuracy"] <= 1 and (folder / "plots/roc.png").is_file()
    assert (folder / "plots/pr.png").is_file() and (out / "metrics.json").read_bytes() == before
    assert main(["predict", str(out), "--input", str(path), "--output", str(tmp_path / "p.csv")]) == 0
    lines = (tmp_path / "p.csv").read_text().splitlines()
    assert lines[0] == "name,probability" and len(lines) == 1 + len(rows)
    assert all(0 < float(line.split(",")[1]) < 1 for line in lines[1:])


def test_a_finetune_gives_its_metrics_on_standard_output(planted, tmp_path, capsys):
    """As evaluate and the force-field fine-tune do: `scipt finetune promoter ... > result.json`
    holds what the run's metrics.json holds, and the progress stays on standard error."""
    path, _ = planted
    out = tmp_path / "run"
    assert (
        main(["finetune", "promoter", "--init", "none", "--train", str(path), "--out", str(out), *SMALL]) == 0
    )
    printed = capsys.readouterr()
    assert json.loads(printed.out) == json.loads((out / "metrics.json").read_text())
    assert f"run written to {out}" in printed.err


def test_sigterm_between_fits_says_what_the_run_keeps(planted, tmp_path, capsys, monkeypatch):
    """A batch system's SIGTERM while a k-mer regression or the CNN was fitting (no Lightning fit,
    whose handler says what is kept) killed the process with status 143 and no line at all."""
    import os
    import signal

    from sciPT.tasks import promoter_train

    def stopped(cfg, out, resume):
        os.kill(os.getpid(), signal.SIGTERM)  # the handler raises here, in this thread
        raise AssertionError("SIGTERM did not stop the fine-tune")

    monkeypatch.setattr(promoter_train, "run_finetune", stopped)
    before = signal.getsignal(signal.SIGTERM)
    path, _ = planted
    out = tmp_path / "run"
    status = main(["finetune", "promoter", "--init", "none", "--train", str(path), "--out", str(out), *SMALL])
    assert status == 143
    assert capsys.readouterr().err == (
        "scipt: terminated (SIGTERM); no fit was completed yet: the same command with --resume continues it\n"
    )
    assert signal.getsignal(signal.SIGTERM) is before  # the handler is the block's alone


def test_evaluate_counts_the_models_own_training_sequences_and_scores_the_rest(trained, tmp_path, capsys):
    from safetensors.numpy import load_file

    from sciPT.metrics import binary_metrics

    out, _, rows = trained  # fine-tuned on all 60 rows
    exported = json.loads((out / "model/config.json").read_text())
    record = exported["training_sequences"]
    assert record["file"] == "training_sequences.safetensors" and record["distinct"] == 60
    hashes = load_file(str(out / "model" / record["file"]))["sha256_64"]
    assert hashes.dtype == np.uint64 and hashes.shape == (60,)
    # 20 training rows (10 of each class; one given as its reverse complement) among 12 new ones
    rng = np.random.default_rng(7)
    new = []
    for i in range(12):
        s = list(rng.choice(list("ACGT"), 30))
        if i % 2:
            s[12:18] = list("TATAAT")
        new.append(("".join(s), i % 2))
    seen = [(s, y) for _, s, y in rows[:20]]
    seen[0] = (seen[0][0][::-1].translate(str.maketrans("ACGT", "TGCA")), seen[0][1])
    mixed, fresh = tmp_path / "mixed.csv", tmp_path / "fresh.csv"
    mixed.write_text("sequence,label\n" + "".join(f"{s},{y}\n" for s, y in new[:6] + seen + new[6:]))
    fresh.write_text("sequence,label\n" + "".join(f"{s},{y}\n" for s, y in new))
    capsys.readouterr()

    def body(folder):  # the report's lines after its header (title, date, run, data, digest)
        lines = (folder / "report.md").read_text().splitlines()
        return lines[next(i for i, line in enumerate(lines) if line.startswith("- sha256:")) + 2 :]

    assert main(["evaluate", str(out), "--data", str(mixed), "--out", str(tmp_path / "ev")]) == 0
    message = "20 of 32 evaluation sequences were in this model's training data: the scores on them are not held-out"
    err = capsys.readouterr().err.splitlines()
    assert [line for line in err if "training data" in line] == [f"{mixed}: {message}"]
    m = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert m["eval_in_training"] == 20
    assert (m["eval_held_out_positives"], m["eval_held_out_negatives"]) == (6, 6)
    report = body(tmp_path / "ev")
    held = (
        f"On the 12 held-out sequences (6 promoters, 6 non-promoters): accuracy "
        f"{m['eval_held_out_accuracy']:.3f}, MCC {m['eval_held_out_mcc']:.3f}."
    )
    assert report[0] == f"- **Not held out**: {message} (a sequence or its reverse complement). {held}"
    assert report[1] == "" and report[2].startswith("| model |")
    # the held-out metrics are those of the new sequences alone, which evaluate finds all held out
    assert main(["evaluate", str(out), "--data", str(fresh), "--out", str(tmp_path / "fresh")]) == 0
    assert not [line for line in capsys.readouterr().err.splitlines() if "training data" in line]
    f = json.loads((tmp_path / "fresh" / "metrics.json").read_text())
    assert f["eval_in_training"] == 0 and "eval_held_out_mcc" not in f
    for key in binary_metrics(np.array([0, 1]), np.array([0.2, 0.8])):
        assert m[f"eval_held_out_{key}"] == pytest.approx(f[f"eval_{key}"])
    report = body(tmp_path / "fresh")
    assert report[0].startswith("| model |")
    assert "None of the 12 evaluation sequences were in this model's training data." in report


def test_evaluate_of_a_model_exported_without_its_training_record_says_so_in_one_line(
    trained, tmp_path, capsys
):
    out, path, _ = trained
    model = out / "model"

    def evaluated(name):  # the report's lines about the training overlap; stderr's; metrics.json
        assert main(["evaluate", str(out), "--data", str(path), "--out", str(tmp_path / name)]) == 0
        err = [line for line in capsys.readouterr().err.splitlines() if "training data" in line]
        report = (tmp_path / name / "report.md").read_text().splitlines()
        metrics = json.loads((tmp_path / name / "metrics.json").read_text())
        return (
            [line for line in report if "Training overlap" in line or "**Not held out**" in line],
            err,
            metrics,
        )

    # a record not the one its export wrote (another export's, or damaged): not read
    exported = json.loads((model / "config.json").read_text())
    recorded = exported.get("training_sequences", {}).get("file", "training_sequences.safetensors")
    (model / recorded).write_bytes(b"not the record")
    lines, err, metrics = evaluated("stale")
    assert lines == [
        f"Training overlap not checked: the record of its training sequences, {model / recorded}, is not "
        "the one its export wrote, so whether these sequences were among those it was trained on cannot "
        "be said."
    ]
    assert err == [] and "eval_in_training" not in metrics
    # a model exported before the record (none in its folder, none named in its config): said, not an error
    (model / recorded).unlink()
    exported.pop("training_sequences", None)
    (model / "config.json").write_text(json.dumps(exported))
    lines, err, metrics = evaluated("old")
    assert lines == [
        "Training overlap not checked: this model's export records no training sequences (it was "
        "exported before sciPT kept them), so whether these sequences were among those it was trained "
        "on cannot be said."
    ]
    assert err == [] and "eval_in_training" not in metrics
    assert 0 <= metrics["eval_accuracy"] <= 1


def test_predict_reads_ambiguity_codes_as_scan_does_and_says_how_many(trained, tmp_path, capsys):
    out, _, rows = trained
    # the same sequences, two of them with an ambiguity code where the other has N
    plain, coded = tmp_path / "plain.fa", tmp_path / "coded.fa"
    seqs = [s for _, s, _ in rows[:4]]
    plain.write_text("".join(f">q{i}\n{s[:5]}N{s[6:]}\n" for i, s in enumerate(seqs)))
    coded.write_text("".join(f">q{i}\n{s[:5]}{'RN'[i % 2]}{s[6:]}\n" for i, s in enumerate(seqs)))
    capsys.readouterr()
    assert main(["predict", str(out), "--input", str(coded), "--output", str(tmp_path / "c.csv")]) == 0
    assert capsys.readouterr().err.splitlines() == [
        f"{coded}: 2 of 4 sequences held IUPAC ambiguity codes (R Y S W K M B D H V), read as N",
        f"wrote 4 predictions to {tmp_path / 'c.csv'}",
    ]
    assert main(["predict", str(out), "--input", str(plain), "--output", str(tmp_path / "p.csv")]) == 0
    assert capsys.readouterr().err.splitlines() == [f"wrote 4 predictions to {tmp_path / 'p.csv'}"]
    assert (tmp_path / "c.csv").read_text() == (tmp_path / "p.csv").read_text()
    assert main(["predict", str(out), "--input", str(plain), "--output", str(tmp_path / "p.csv.gz")]) == 0
    assert gzip.decompress((tmp_path / "p.csv.gz").read_bytes()) == (tmp_path / "p.csv").read_bytes()
    # scan agrees: a genome of the coded sequences scores them as predict does
    genome = tmp_path / "g.fa"
    genome.write_text("".join(f">q{i}\n{s[:5]}{'RN'[i % 2]}{s[6:]}\n" for i, s in enumerate(seqs)))
    bed = tmp_path / "scan.bedgraph"
    argv = ["scan", str(out), "--genome", str(genome), "--window", "30", "--stride", "30"]
    assert main([*argv, "--output", str(bed)]) == 0
    capsys.readouterr()
    lines = bed.read_text().splitlines()
    plus = [line.split("\t")[3] for line in lines[1 : 1 + len(seqs)]]
    # to predict's six decimals (scan wrote four: p >= 0.99995 all read 1.0000)
    assert plus == [line.split(",")[1] for line in (tmp_path / "c.csv").read_text().splitlines()[1:]]
    # labelled data stays strict: an ambiguity code in --positives is refused
    negatives = tmp_path / "neg.fa"
    negatives.write_text(">n\nACGTACGT\n")
    argv = [
        "finetune",
        "promoter",
        "--init",
        "none",
        "--positives",
        str(coded),
        "--negatives",
        str(negatives),
    ]
    assert main([*argv, "--out", str(tmp_path / "run2")]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"scipt: error: {coded}: record 'q0' (#1) has 'R' at position 6; expected A, C, G, T or N (either case)"
    ]
    assert not (tmp_path / "run2").exists()
    # one file for both classes: refused as such, not for a class of 0 distinct sequences
    argv[5] = str(negatives)
    assert main([*argv, "--out", str(tmp_path / "run2")]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"scipt: error: --positives and --negatives: both name {negatives}; expected two files"
    ]
    assert main([*argv[:6], "--out", str(tmp_path / "run2")]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "scipt: error: --negatives: missing; --positives and --negatives are given together"
    ]
    assert not (tmp_path / "run2").exists()


def test_text_above_the_first_header_is_named_by_every_reader(trained, tmp_path, capsys):
    out, _, _ = trained
    note = tmp_path / "note.fa"
    note.write_text("some note\n>seq1\n" + "ACGT" * 10 + "\n>seq2\n" + "GGCA" * 10 + "\n")
    expected = (
        f"scipt: error: {note}: line 1 comes before the first FASTA header; "
        "expected every sequence line under a '>' header"
    )
    commands = [
        ["predict", str(out), "--input", str(note), "--output", str(tmp_path / "p.csv")],
        ["finetune", "promoter", "--init", "none", "--positives", str(note), "--negatives", str(note)]
        + ["--out", str(tmp_path / "run2")],
        ["pretrain", "dna", "--data", str(note), "--window", "16", "--out", str(tmp_path / "run3")],
    ]
    capsys.readouterr()
    for argv in commands:
        assert main(argv) == 2
        assert capsys.readouterr().err.splitlines() == [expected]
    assert not any((tmp_path / name).exists() for name in ("p.csv", "run2", "run3"))


def test_scan_writes_both_strands_in_genome_coordinates(trained, tmp_path, capsys):
    out, _, _ = trained
    genome = tmp_path / "g.fa"
    rng = np.random.default_rng(3)
    genome.write_text(">chrA\n" + "".join(rng.choice(list("ACGT"), 100)) + "\n>chrB\nACGTACGTAC\n")
    bed = tmp_path / "scan.bedgraph"
    assert (
        main(
            [
                "scan",
                str(out),
                "--genome",
                str(genome),
                "--window",
                "30",
                "--stride",
                "10",
                "--output",
                str(bed),
            ]
        )
        == 0
    )
    lines = bed.read_text().splitlines()
    tracks = [i for i, line in enumerate(lines) if line.startswith("track")]
    assert (
        len(tracks) == 2
        and 'name="promoter plus"' in lines[0]
        and 'name="promoter minus"' in lines[tracks[1]]
    )
    plus = [line.split("\t") for line in lines[1 : tracks[1]]]
    # chrA (100 bp): windows start 0..70 step 10 -> 8 windows, central 10 bp at +10; chrB is too short
    assert [(c, int(a), int(b)) for c, a, b, _ in plus] == [
        ("chrA", s + 10, s + 20) for s in range(0, 71, 10)
    ]
    assert len(lines) - tracks[1] - 1 == 8
    assert f"{genome}: 1 of 2 records are shorter than the 30-bp window and are not scanned" in (
        capsys.readouterr().err
    )


def test_scan_window_longer_than_genome(trained, tmp_path, capsys):
    out, _, _ = trained
    genome = tmp_path / "g.fa"
    genome.write_text(">tiny\nACGTACGTAC\n")
    assert (
        main(
            [
                "scan",
                str(out),
                "--genome",
                str(genome),
                "--window",
                "30",
                "--output",
                str(tmp_path / "x.bedgraph"),
            ]
        )
        == 2
    )
    assert (
        capsys.readouterr()
        .err.strip()
        .endswith(f"{genome}: window of 30 bp is longer than the genome's longest record (10 bp)")
    )
    assert not (tmp_path / "x.bedgraph").exists()


def test_records_and_windows_shorter_than_one_kmer_token_are_refused(planted, tmp_path, capsys):
    # a record of 2 bp gives a 3-mer encoder no token: its embedding is all zero, its probability
    # the head's bias, the same made-up score for every such record or scan window
    out = tmp_path / "run"
    flags = ["--tokenizer.kind", "kmer", "--tokenizer.k", "3", "--ensemble", "1", "--no-baselines"]
    argv = ["finetune", "promoter", "--init", "none", "--train", str(planted[0]), "--out", str(out)]
    assert main([*argv, *flags, "--folds", "0", *SMALL, "--max-epochs", "1"]) == 0
    queries = tmp_path / "q.fa"
    queries.write_text(">whole\nACGTACGTAC\n>two\nAC\n")
    labelled = tmp_path / "held.csv"
    labelled.write_text("name,sequence,label\nlong,ACGTACGTAC,1\nshort,AC,0\n")
    genome = tmp_path / "g.fa"
    genome.write_text(">chr\n" + "ACGT" * 25 + "\n")
    capsys.readouterr()
    record = "record 'two' has 2 residue(s), fewer than the 3 of one of the model's tokens: nothing to"
    for args, message in [
        (
            ["predict", str(out), "--input", str(queries), "--output", str(tmp_path / "p.csv")],
            f"{queries}: {record} score",
        ),
        (
            ["predict", str(out), "--input", str(queries), "--output", str(tmp_path / "p.csv"), "--embed"],
            f"{queries}: {record} embed",
        ),
        (
            ["evaluate", str(out), "--data", str(labelled), "--out", str(tmp_path / "ev")],
            f"{labelled}: {record.replace('two', 'short')} score",
        ),
        (
            [
                "scan",
                str(out),
                "--genome",
                str(genome),
                "--window",
                "2",
                "--stride",
                "50",
                "--output",
                str(tmp_path / "s.bg"),
            ],
            "--window 2: fewer residues than the 3 of one of the model's tokens: nothing to score (expected "
            "--window 3 or more)",
        ),
    ]:
        assert main(args) == 2
        assert capsys.readouterr().err.splitlines() == [f"scipt: error: {message}"]
    assert not any((tmp_path / name).exists() for name in ("p.csv", "ev", "s.bg", "s.bg.partial"))
    # one k-mer is enough: a 3-bp record and a 3-bp window are scored
    queries.write_text(">three\nACG\n")
    assert main(["predict", str(out), "--input", str(queries), "--output", str(tmp_path / "p.csv")]) == 0
    bed = tmp_path / "s.bg"
    assert (
        main(
            [
                "scan",
                str(out),
                "--genome",
                str(genome),
                "--window",
                "3",
                "--stride",
                "50",
                "--output",
                str(bed),
            ]
        )
        == 0
    )
    assert len((tmp_path / "p.csv").read_text().splitlines()) == 2 and len(
        bed.read_text().splitlines()
    ) == 2 * (1 + 2)


def test_predict_evaluate_and_scan_say_what_length_the_model_reads(trained, tmp_path, capsys):
    out, _, rows = trained  # fine-tuned on 30 bp
    long, short = rows[0][1] + "ACGTACGTAC", rows[1][1][:20]
    queries = tmp_path / "q.fa"
    queries.write_text(f">long\n{long}\n>same\n{rows[2][1]}\n>short\n{short}\n")
    capsys.readouterr()
    assert main(["predict", str(out), "--input", str(queries), "--output", str(tmp_path / "p.csv")]) == 0
    note = (
        "the model reads 30 bp (the length it was fine-tuned on): of 3 sequences, 1 cropped to its central "
        "30 bp and 1 shorter padded to 30 bp"
    )
    assert capsys.readouterr().err.splitlines() == [
        f"{queries}: {note}",
        f"wrote 3 predictions to {tmp_path / 'p.csv'}",
    ]
    # the 40-bp sequence scores as its central 30 bp
    central = tmp_path / "central.fa"
    central.write_text(f">long\n{long[5:35]}\n")
    assert main(["predict", str(out), "--input", str(central), "--output", str(tmp_path / "c.csv")]) == 0
    assert capsys.readouterr().err.splitlines() == [f"wrote 1 predictions to {tmp_path / 'c.csv'}"]
    predicted = (tmp_path / "p.csv").read_text().splitlines()
    assert predicted[1] == (tmp_path / "c.csv").read_text().splitlines()[1]

    labelled = tmp_path / "held.csv"
    labelled.write_text(f"sequence,label\n{long},1\n{rows[2][1]},0\n{short},1\n{rows[3][1]},1\n")
    assert main(["evaluate", str(out), "--data", str(labelled), "--out", str(tmp_path / "ev")]) == 0
    err = capsys.readouterr().err.splitlines()
    assert f"{labelled}: {note.replace('of 3', 'of 4')}" in err
    assert (
        f"held.csv: {note.replace('of 3', 'of 4')}."
        in (tmp_path / "ev" / "report.md").read_text().splitlines()
    )

    genome = tmp_path / "g.fa"
    genome.write_text(f">chrA\n{long}{long}\n")
    bed = tmp_path / "scan.bedgraph"
    assert main(["scan", str(out), "--genome", str(genome), "--window", "40", "--output", str(bed)]) == 0
    assert capsys.readouterr().err.splitlines()[0] == (
        "--window 40: the model reads 30 bp (the length it was fine-tuned on): each 40-bp window is scored on "
        "its central 30 bp"
    )
    assert bed.read_text().splitlines()[0] == (
        'track type=bedGraph name="promoter plus" description="promoter probability, plus strand, window '
        '40 bp (scored on its central 30 bp), stride 10 bp"'
    )


def test_init_from_another_domain_is_refused(tmp_path, planted, capsys):
    protein = domains.get("protein")
    export = protein.export_config_from(protein.presets()["tiny"]())
    export_model(tmp_path / "prot" / "model", protein.load_backbone(export), export)
    out = tmp_path / "run"
    code = main(
        [
            "finetune",
            "promoter",
            "--init",
            str(tmp_path / "prot"),
            "--train",
            str(planted[0]),
            "--out",
            str(out),
            *SMALL,
        ]
    )
    assert code == 2
    assert (
        capsys.readouterr()
        .err.strip()
        .endswith(f"{tmp_path / 'prot' / 'model'}: model of domain 'protein', expected a 'dna' model")
    )
    assert not out.exists()


def test_single_class_is_refused_before_writing(tmp_path, capsys):
    data = tmp_path / "one.csv"
    data.write_text("sequence,label\nACGT,1\nACGA,1\n")
    out = tmp_path / "run"
    assert main(["finetune", "promoter", "--train", str(data), "--out", str(out), *SMALL]) == 2
    assert "only one class (label 1, 2 records)" in capsys.readouterr().err
    assert not out.exists()


def test_a_step_budget_shorter_than_the_epoch_floor_trains(planted, tmp_path):
    path, _ = planted
    out = tmp_path / "run"
    flags = [*SMALL[:-2], "--max-steps", "5", "--ensemble", "1", "--no-baselines"]  # epoch floor 50
    assert main(["finetune", "promoter", "--train", str(path), "--out", str(out), *flags]) == 0
    assert json.loads((out / "metrics.json").read_text())["sequences"] == 60


def test_a_step_budget_shorter_than_one_pass_is_refused_before_writing(planted, tmp_path, capsys):
    path, _ = planted
    out = tmp_path / "run"
    flags = [*SMALL, "--max-steps", "3", "--ensemble", "1", "--no-baselines"]
    assert main(["finetune", "promoter", "--train", str(path), "--out", str(out), *flags]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"scipt: error: max_steps: 3 optimizer steps end before the first validation; one pass over the 54 "
        f"training sequences of {path} is 4 steps at batch size 16: expected --max-steps at least 4 "
        "or a larger --batch-size"
    )
    assert not out.exists()


@pytest.mark.parametrize(
    "flag, message",
    [
        (["--head.kernel", "0"], "head.kernel: expected a positive integer, got 0"),
        (["--head.filters", "0"], "head.filters: expected a positive integer, got 0"),
        (["--head.pool", "-1"], "head.pool: expected 0 or a positive integer, got -1"),
        (["--head.hidden", "-1"], "head.hidden: expected 0 or a positive integer, got -1"),
        (["--head.dropout", "1.5"], "head.dropout: expected a probability in [0, 1), got 1.5"),
        (
            ["--label-fractions", "0.5", "--fraction-seeds", "0"],
            "fraction_seeds: expected a positive number of seeds, got 0",
        ),
        (
            # fitted once, listed twice in the report
            ["--label-fractions", "0.5,0.25", "0.5"],
            "label_fractions: 0.5 given twice; expected each fraction once",
        ),
        (
            # each fit a linear probe, which nothing in the run said
            ["--finetune.head-warmup", "100", "--max-steps", "20"],
            "finetune.head_warmup: 100 steps, at or past --max-steps 20: the backbone would never train "
            "(that is --strategy linear-probe); give fewer steps or a fraction of the run",
        ),
    ],
)
def test_head_settings_that_no_fit_can_build_are_refused_before_writing(
    planted, tmp_path, capsys, flag, message
):
    """Each was a traceback deep in a fit (or NaN in metrics.json) after the run directory was made."""
    path, _ = planted
    out = tmp_path / "run"
    argv = ["finetune", "promoter", "--train", str(path), "--out", str(out), *SMALL, "--no-baselines", *flag]
    assert main(argv) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].endswith(message)
    assert not out.exists()


def test_replay_which_the_fits_cannot_do_is_refused(planted, tmp_path, capsys):
    path, _ = planted
    out = tmp_path / "run"
    argv = ["finetune", "promoter", "--train", str(path), "--out", str(out), "--strategy", "replay"]
    assert main([*argv, *SMALL]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "scipt: error: finetune.strategy: 'replay' is not available in finetune promoter (its fits "
        "draw no pre-training data); 'l2sp' or 'ewc' keep the pre-trained weights close instead"
    )
    assert not out.exists()


@pytest.mark.parametrize(
    "flags, message",
    [
        (
            ["--strategy", "freeze", "--finetune.freeze-layers", "5"],
            "finetune.freeze_layers: expected 0 to 2 (TransformerEncoder has 3 layer groups, the "
            "embedding and 2 more), got 5",
        ),
        (
            ["--strategy", "ewc"],
            "finetune.strategy: 'ewc' needs the Fisher diagonal of the pre-training loss and the "
            "pre-trained model has none (compute it with sciPT.finetune.fisher_diagonal and store it "
            "with sciPT.finetune.save_fisher, or sciPT.hf_load.save_fisher beside a Hugging Face folder)",
        ),
    ],
)
def test_a_strategy_the_start_cannot_take_is_refused_before_writing(
    planted, tmp_path, capsys, flags, message
):
    path, _ = planted
    out = tmp_path / "run"
    argv = ["finetune", "promoter", "--train", str(path), "--out", str(out), *flags, *SMALL]
    assert main(argv) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == f"scipt: error: {message}"
    assert not out.exists()


@pytest.mark.parametrize(
    "flags, key, section",
    [
        (["--model.d-model", "32"], "model.d_model", "model"),
        (["--tokenizer.k", "4"], "tokenizer.k", "tokenizer"),
    ],
)
def test_model_keys_beside_a_pretrained_start_are_refused(planted, tmp_path, capsys, flags, key, section):
    from sciPT.testing import FAST_SEQUENCE_FLAGS

    pre = tmp_path / "pre"
    assert main(["pretrain", "dna", "--out", str(pre), *FAST_SEQUENCE_FLAGS]) == 0
    capsys.readouterr()
    out = tmp_path / "run"
    argv = ["finetune", "promoter", "--init", str(pre), "--train", str(planted[0]), "--out", str(out)]
    assert main([*argv, *flags]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"scipt: error: {key}: the pre-trained start (--init {pre}) brings its own {section}; "
        f"the {section} keys apply to --init none"
    )
    assert not out.exists()


# --- baselines by default, and the verdicts at the top of the report ---------------------------
@pytest.fixture
def random_labels(tmp_path):
    """60 random 30-bp sequences with random labels: no model can beat chance."""
    rng = np.random.default_rng(0)
    labels = rng.permutation([0, 1] * 30)
    rows = [(f"s{i}", "".join(rng.choice(list("ACGT"), 30)), y) for i, y in enumerate(labels)]
    path = tmp_path / "random.csv"
    path.write_text("name,sequence,label\n" + "".join(f"{n},{s},{y}\n" for n, s, y in rows))
    return path


def test_random_labels_are_flagged_near_chance_beside_default_baselines(random_labels, tmp_path):
    out = tmp_path / "run"
    args = ["--init", "none", "--train", str(random_labels), "--folds", "3", "--ensemble", "1"]
    assert main(["finetune", "promoter", *args, "--out", str(out), *SMALL]) == 0
    m = json.loads((out / "metrics.json").read_text())
    # no flag: scratch (the model, --init none), the k-mer LR and the CNN ran on the same folds
    for key in ("scratch", "kmer_lr", "cnn"):
        assert {f"{key}_mcc_mean", f"{key}_mcc_se", f"{key}_mcc_fold3", f"{key}_near_chance"} <= set(m)
        assert m[f"{key}_near_chance"] == 1 and m[f"recommended_{key}"] == 0
    assert m["scratch_vs_kmer_lr_mcc_verdict"] in (-1, 0, 1) and "pre_trained_mcc_mean" not in m
    # every record's out-of-fold probabilities, with its fold: the per-fold figures recomputed from
    # them (to the file's 6 decimals), one fold per record, 20 records each, in file order
    import pandas as pd
    from sklearn.metrics import matthews_corrcoef

    table = pd.read_csv(out / "cross_validation.csv")
    assert list(table.columns) == ["record", "label", "fold", "scratch", "k-mer LR", "CNN"]
    assert list(table["record"]) == [f"s{i}" for i in range(60)] and sorted(set(table["fold"])) == [1, 2, 3]
    assert table["fold"].value_counts().tolist() == [20, 20, 20]
    for column, key in (("scratch", "scratch"), ("k-mer LR", "kmer_lr"), ("CNN", "cnn")):
        for f in (1, 2, 3):
            part = table[table["fold"] == f]
            mcc = matthews_corrcoef(part["label"], part[column] >= 0.5)
            assert mcc == pytest.approx(m[f"{key}_mcc_fold{f}"], abs=1e-9)
    report = (out / "report.md").read_text().splitlines()

    def near_chance(name, key):
        return (
            f"- **Near chance: {name}**: cross-validated MCC {m[f'{key}_mcc_mean']:.3f} ± "
            f"{m[f'{key}_mcc_se']:.3f} (mean ± standard error over 3 folds) is not 2 standard errors "
            "above zero; it has learnt nothing measurable from these data."
        )

    names = {"scratch": "scratch", "k-mer LR": "kmer_lr", "CNN": "cnn"}
    folds = {name: [m[f"{key}_mcc_fold{i}"] for i in (1, 2, 3)] for name, key in names.items()}
    pick, _ = transfer.recommend(folds, SIMPLEST_FIRST)
    assert report[:6] == [
        "# Promoter prediction",
        "",
        near_chance("scratch", "scratch"),
        near_chance("k-mer LR", "kmer_lr"),
        near_chance("CNN", "cnn"),
        "- **Recommended for this data size** (60 sequences): none of these models: every one is "
        "near chance; more (or better) labelled data comes first.",
    ]
    assert report[6].startswith("- Rules: *near chance* = mean MCC over folds not more than 2 standard")
    assert "| model | MCC | per fold | near chance |" in report


@pytest.mark.parametrize(
    "flags, expected",
    [([], True), (["--baselines"], True), (["--baselines", "false"], False), (["--no-baselines"], False)],
)
def test_baselines_flags(flags, expected, planted, monkeypatch):
    import sciPT.tasks.promoter_train as promoter

    seen = []
    monkeypatch.setattr(promoter, "run_finetune", lambda cfg, out, resume: seen.append(cfg.baselines) or 0)
    assert main(["finetune", "promoter", "--train", str(planted[0]), *flags]) == 0
    assert seen == [expected]


def test_no_baselines_skips_scratch_and_kmer(planted, tmp_path):
    out = tmp_path / "run"
    args = ["--train", str(planted[0]), "--folds", "2", "--ensemble", "1", "--no-baselines"]
    assert main(["finetune", "promoter", *args, "--out", str(out), *SMALL]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert "scratch_mcc_se" in m and not [k for k in m if "kmer" in k or "recommended" in k]
    report = (out / "report.md").read_text()
    assert "- No baselines ran (`--no-baselines`): scratch is compared with nothing." in report


def test_the_pretrained_likelihood_is_fused_frozen_and_reported(planted, tmp_path):
    from safetensors.torch import load_file

    from sciPT.testing import FAST_SEQUENCE_FLAGS

    pre = tmp_path / "pre"
    assert main(["pretrain", "dna", "--out", str(pre), *FAST_SEQUENCE_FLAGS]) == 0
    pretrained = load_file(str(pre / "model/model.safetensors"))
    assert "mlm_head.decoder.weight" in pretrained  # the masked head is exported
    out = tmp_path / "run"
    # the planted set as --val: 30 sequences of each class, enough to fit the fusion on
    args = ["--init", str(pre), "--train", str(planted[0]), "--val", str(planted[0]), "--ensemble", "1"]
    # kept at any likelihood ratio: this run follows the fused model; the threshold's run is below
    kept = ["--naturalness-min-ratio", "0"]
    assert main(["finetune", "promoter", *args, *kept, "--out", str(out), "--max-epochs", "2"]) == 0
    report = (out / "report.md").read_text().splitlines()
    line = report[report.index("### Likelihood fusion") + 2]
    assert line.startswith("The model adds the pre-trained model's pseudo-log-likelihood")
    exported = json.loads((out / "model/config.json").read_text())
    fusion = exported["naturalness"]["fusion"]
    assert f"{fusion['w_naturalness']:+.2f} x (PLL" in line
    assert (
        f"negatives do. Likelihood ratio against the logit alone {fusion['likelihood_ratio']:.2f} (kept"
        in line
    )
    # the scorer is the pre-trained model, not the fine-tuned copy
    classifier = load_file(str(out / "model/model.safetensors"))
    for name in ("embedding.weight", "norm.weight"):
        assert (classifier[f"naturalness.backbone.{name}"] == pretrained[name]).all()
        assert not (classifier[f"backbone.{name}"] == pretrained[name]).all()
    assert (classifier["naturalness.head.decoder.weight"] == pretrained["mlm_head.decoder.weight"]).all()

    off = tmp_path / "off"
    assert (
        main(["finetune", "promoter", *args, "--out", str(off), "--max-epochs", "1", "--no-naturalness"]) == 0
    )
    assert "Off (`--no-naturalness`)." in (off / "report.md").read_text()
    assert "naturalness" not in json.loads((off / "model/config.json").read_text())

    # a ratio no fit reaches: fitted, reported with its ratio, and left out of the model
    dropped = tmp_path / "dropped"
    strict = ["--naturalness-min-ratio", "1e9", "--max-epochs", "1"]
    assert main(["finetune", "promoter", *args, *strict, "--out", str(dropped)]) == 0
    report = (dropped / "report.md").read_text().splitlines()
    line = report[report.index("### Likelihood fusion") + 2]
    metrics = json.loads((dropped / "metrics.json").read_text())
    assert line.startswith("Fitted and left out: adding the pre-trained model's pseudo-log-likelihood")
    assert f"likelihood ratio against the logit alone {metrics['naturalness_likelihood_ratio']:.2f}" in line
    assert metrics["naturalness_kept"] == 0 and "naturalness_weight" not in metrics
    assert "naturalness" not in json.loads((dropped / "model/config.json").read_text())


def test_the_cnn_stack_is_reported_exported_and_switched_off(planted, tmp_path):
    # the planted set as --val: 30 sequences of each class, enough to fit a stack on
    args = ["--init", "none", "--train", str(planted[0]), "--val", str(planted[0]), "--ensemble", "1", *SMALL]
    out = tmp_path / "run"
    kept = ["--cnn-stack-min-ratio", "0", "--no-kmer-stack", "--max-epochs", "1"]
    assert main(["finetune", "promoter", *args, *kept, "--out", str(out)]) == 0
    report = (out / "report.md").read_text().splitlines()
    line = report[report.index("### CNN stacking") + 2]
    assert line.startswith("The model adds the baseline CNN's logit (one-hot convolution;")
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["cnn_stack_kept"] == 1 and "cnn_stack_weight" in metrics
    stacked = json.loads((out / "model/config.json").read_text())["cnn_stack"]
    assert (
        stacked["members"] == 1
        and stacked["stack"]["likelihood_ratio"] == metrics["cnn_stack_likelihood_ratio"]
    )

    off = tmp_path / "off"
    assert (
        main(["finetune", "promoter", *args, "--no-cnn-stack", "--max-epochs", "1", "--out", str(off)]) == 0
    )
    assert "Off (`--no-cnn-stack`)." in (off / "report.md").read_text()
    assert "cnn_stack" not in json.loads((off / "model/config.json").read_text())


def test_export_recommended_trains_the_final_model_from_the_recommended_start(planted, tmp_path, capsys):
    from sciPT.tasks.promoter_verdicts import recommended_start
    from sciPT.testing import FAST_SEQUENCE_FLAGS

    pre = tmp_path / "pre"
    assert main(["pretrain", "dna", "--out", str(pre), *FAST_SEQUENCE_FLAGS, *SMALL[:8]]) == 0
    out = tmp_path / "run"
    args = ["--init", str(pre), "--train", str(planted[0]), "--folds", "2", "--ensemble", "1", *SMALL[8:]]
    args += ["--no-naturalness", "--no-cnn-stack", "--no-kmer-stack", "--export", "recommended"]
    assert main(["finetune", "promoter", *args, "--out", str(out)]) == 0
    m = json.loads((out / "metrics.json").read_text())
    names = {"pre-trained": "pre_trained", "scratch": "scratch", "k-mer LR": "kmer_lr", "CNN": "cnn"}
    folds = {name: [m[f"{key}_mcc_fold{i}"] for i in (1, 2)] for name, key in names.items()}
    pick = recommended_start(folds, ("pre-trained", "scratch"))
    exported = json.loads((out / "model/config.json").read_text())
    # a scratch export records no pre-training corpus; the pre-trained one records the shipped genome
    assert bool(exported["pretrained_on"]) == (pick == "pre-trained")
    assert {k: v for k, v in m.items() if k.startswith("exported_")} == {f"exported_{names[pick]}": 1}
    report = (out / "report.md").read_text().splitlines()
    line = next(x for x in report if x.startswith("- The exported model"))
    assert line.startswith(f"- The exported model (`scipt evaluate`, `predict`, `scan`) is {pick}, ")
    assert "(`--export recommended`)" in line

    # nothing to recommend from without the baselines: one line, exit status 2, no run written
    capsys.readouterr()
    bad = tmp_path / "bad"
    assert main(["finetune", "promoter", *args, "--no-baselines", "--out", str(bad)]) == 2
    assert capsys.readouterr().err == (
        "scipt: error: export: 'recommended' needs --folds and the baselines (scratch) to recommend "
        "from; without them the start is the only model\n"
    )
    assert not bad.exists()


def test_evaluation_data_in_the_pretraining_corpus_is_flagged_first(planted, tmp_path, monkeypatch):
    from sciPT.testing import FAST_SEQUENCE_FLAGS

    path, rows = planted
    # 20 of the 30 negatives, end to end, are the whole pre-training corpus
    corpus = tmp_path / "corpus.fa"
    corpus.write_text(">negatives\n" + "".join([s for _, s, y in rows if y == 0][:20]) + "\n")
    pre = tmp_path / "pre"
    # no validation: 2 % of this 600-bp record is a 12-bp tail, no room for a 32-bp window
    argv = ["pretrain", "dna", "--data", str(corpus), "--out", str(pre), "--data.val-fraction", "0"]
    assert main([*argv, *FAST_SEQUENCE_FLAGS, *SMALL[:8]]) == 0
    out = tmp_path / "run"
    args = ["--init", str(pre), "--train", str(path), "--folds", "2", "--ensemble", "1", *SMALL[8:]]
    args += ["--no-naturalness", "--no-cnn-stack", "--no-kmer-stack"]
    assert main(["finetune", "promoter", *args, "--out", str(out)]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert (m["contamination_verbatim"], m["contamination_clean"]) == (20, 40)
    assert (m["contamination_clean_positives"], m["contamination_clean_negatives"]) == (30, 10)
    clean = ", ".join(
        f"{name} {m[f'{key}_clean_mcc']:.3f}"
        for name, key in [
            ("pre-trained", "pre_trained"),
            ("scratch", "scratch"),
            ("k-mer LR", "kmer_lr"),
            ("CNN", "cnn"),
        ]
    )
    assert (out / "report.md").read_text().splitlines()[2] == (
        "- **Contaminated**: 20 of 60 evaluation sequences (33.3%) occur verbatim in the pre-training "
        f"corpus, {m['contamination_near']} ({m['contamination_near'] / 60:.1%}) verbatim or nearly. The "
        "pre-trained model may have memorised them, so its scores here are not evidence of transfer. "
        f"MCC on the 40 clean sequences (30 promoters, 10 non-promoters; pooled over folds): {clean}. "
        "Decontaminate the corpus against them (`scipt data decontaminate`) and pre-train again."
    )
    # evaluating the exported model on the same data: flagged above the metrics too
    assert main(["evaluate", str(out), "--data", str(path)]) == 0
    report = (out / "evaluations" / path.stem / "report.md").read_text().splitlines()
    # after the flag that they are the model's own training sequences, which comes first
    flags = [line for line in report if line.startswith("- **")]
    assert flags[0].startswith("- **Not held out**: 60 of 60 evaluation sequences were in this model's")
    flag = flags[1]
    assert flag.startswith("- **Contaminated**: 20 of 60 evaluation sequences (33.3%) occur verbatim")
    assert report.index(flag) < next(i for i, line in enumerate(report) if line.startswith("| model |"))
    # evaluate checks as the run did: with its contamination_k and contamination_threshold
    import sciPT.tasks.promoter_evaluation as promoter_evaluation

    config = (out / "config.yaml").read_text()
    assert "contamination_k: 16\n" in config and "contamination_threshold: 0.5\n" in config
    (out / "config.yaml").write_text(
        config.replace("contamination_k: 16\n", "contamination_k: 20\n").replace(
            "contamination_threshold: 0.5\n", "contamination_threshold: 0.8\n"
        )
    )
    seen = []
    check = promoter_evaluation.contamination_lines
    monkeypatch.setattr(
        promoter_evaluation, "contamination_lines", lambda *a: seen.append(a[2:4]) or check(*a)
    )
    assert main(["evaluate", str(out), "--data", str(path), "--out", str(tmp_path / "again")]) == 0
    assert seen == [(20, 0.8)]
    # a --test set in the corpus: flagged first as well, its counts kept apart from the folds'
    tested = tmp_path / "tested"
    args = ["--init", str(pre), "--train", str(path), "--test", str(path), "--ensemble", "1", *SMALL[8:]]
    args += ["--no-naturalness", "--no-cnn-stack", "--no-kmer-stack"]
    assert main(["finetune", "promoter", *args, "--out", str(tested)]) == 0
    m = json.loads((tested / "metrics.json").read_text())
    assert m["test_contamination_verbatim"] == 20 and "contamination_verbatim" not in m
    first = (tested / "report.md").read_text().splitlines()[2:4]
    assert first[0].startswith("- **Test set not held out**: 60 of the 60 sequences of planted.csv occur")
    assert first[1].startswith(
        "- **Contaminated**: 20 of 60 sequences of the test set planted.csv (33.3%) occur verbatim in the "
        "pre-training corpus"
    )


def test_repeats_contradictions_and_a_test_set_inside_the_training_data_open_the_report(planted, tmp_path):
    """Two records copy earlier ones (one reverse-complemented and relabelled: a contradiction), and
    three of the four test sequences are training sequences: each is counted and said first."""
    path, rows = planted
    comp = str.maketrans("ACGT", "TGCA")
    extra = [("copy", rows[0][1], rows[0][2]), ("rc", rows[1][1].translate(comp)[::-1], 1 - rows[1][2])]
    train = tmp_path / "train.csv"
    train.write_text(path.read_text() + "".join(f"{n},{s},{y}\n" for n, s, y in extra))
    test = tmp_path / "test.csv"
    test.write_text(
        "name,sequence,label\n" + "".join(f"{n},{s},{y}\n" for n, s, y in [*rows[2:5], ("new", "A" * 30, 0)])
    )
    out = tmp_path / "run"
    argv = ["finetune", "promoter", "--train", str(train), "--test", str(test), "--out", str(out)]
    assert main([*argv, *SMALL, "--ensemble", "1", "--no-baselines"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert (metrics["label_conflicts"], metrics["repeated_sequences"], metrics["test_in_training"]) == (
        1,
        2,
        3,
    )
    report = (out / "report.md").read_text().splitlines()
    assert report[2:5] == [
        "- **Contradictory labels**: 1 sequence of train.csv (either strand) is labelled both promoter "
        "and non-promoter; no model can get every label right.",
        "- **Repeated sequences**: 2 records of train.csv repeat an earlier record's sequence (either "
        "strand); the folds and early-stopping splits keep the copies on one side, so no model is "
        "scored on a sequence it was fitted on, but each copy counts in the metrics.",
        "- **Test set not held out**: 3 of the 4 sequences of test.csv occur in the training data "
        "train.csv (either strand); the test scores include what the model was trained on.",
    ]


# --- the final model: its progress, its section of the report, and its export last ---------------------
def test_the_final_model_shows_its_progress(planted, tmp_path, capsys):
    out = tmp_path / "run"
    flags = [
        *SMALL,
        "--ensemble",
        "2",
        "--no-baselines",
        "--no-kmer-stack",
        "--no-cnn-stack",
        "--max-epochs",
        "1",
    ]
    assert main(["finetune", "promoter", "--train", str(planted[0]), "--out", str(out), *flags]) == 0
    # two fine-tunes, nothing on top of them (scratch has no likelihood to fuse)
    shown = capsys.readouterr().err.replace("\r", "\n").splitlines()
    final = [line for line in shown if line.startswith("final model:")]
    # each fine-tune is named as it starts, beside the count of those done (redraws in between depend
    # on timing, as do those of a fine-tune's epochs after its name, sciPT.classification.EpochProgress)
    named = r"\| (\d/\d) \[.*, (fine-tune \d of \d)(?:, epoch 1/1, val loss \d\.\d{3})?\]$"
    steps = {re.search(named, line.rstrip()).groups() for line in final[1:-1]}
    assert {("0/2", "fine-tune 1 of 2"), ("1/2", "fine-tune 2 of 2")} <= steps
    assert final[-1].startswith("final model: 100%|██████████| 2/2 [")
    assert re.search(r"(fit/s|s/fit)\]$", final[-1].rstrip())  # no step named once all are done


def test_a_report_without_folds_has_the_validation_metrics_and_sections_that_render(planted, tmp_path):
    out = tmp_path / "run"
    args = ["--train", str(planted[0]), "--test", str(planted[0]), "--ensemble", "1", "--no-baselines"]
    assert main(["finetune", "promoter", *args, "--out", str(out), *SMALL, "--max-epochs", "1"]) == 0
    m = json.loads((out / "metrics.json").read_text())
    report = (out / "report.md").read_text().splitlines()
    headings = [line for line in report if line.startswith("#")]
    assert headings == [
        "# Promoter prediction",
        "## Exported model",
        "### Likelihood fusion",
        "### k-mer stacking",
        "### CNN stacking",
        "## Test set",
        "## Plots",
    ]
    section = report.index("## Exported model")
    assert report[section - 1] == "" and report[section - 2] != ""
    assert report[section + 4] == (
        "Validation on the fine-tune's early-stopping split (10% of the training data, held out of its fit): "
        "6 sequences (3 promoters, 3 non-promoters). The fine-tunes stopped early on them, and any likelihood "
        "fusion or stack below was fitted on them, so these figures are optimistic, not a held-out estimate "
        "(`--folds` and `--test` give those):"
    )
    names = ("accuracy", "mcc", "f1", "auroc", "auprc", "sensitivity", "specificity")
    assert report[section + 8] == (
        "| exported model (validation) | " + " | ".join(f"{m[f'val_{n}']:.3f}" for n in names) + " |"
    )
    # the line after the test set's table is apart from it, not a row of it
    row = report.index(next(line for line in report if line.startswith("| final model |")))
    assert report[row + 1] == "" and report[row + 2].startswith("The model was not pre-trained")


def test_a_run_stopped_before_its_end_leaves_no_model_to_predict_with(planted, tmp_path, monkeypatch, capsys):
    import sciPT.tasks.promoter_train as promoter

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # as a job killed while it measures sample efficiency

    monkeypatch.setattr(promoter, "sample_efficiency", killed)
    out = tmp_path / "run"
    args = ["--train", str(planted[0]), "--label-fractions", "0.5", "--ensemble", "1", "--no-baselines"]
    capsys.readouterr()
    assert main(["finetune", "promoter", *args, "--out", str(out), *SMALL, "--max-epochs", "1"]) == 130
    assert capsys.readouterr().err.splitlines()[-1] == "scipt: interrupted"
    assert (out / "config.yaml").is_file() and not (out / "model").exists()
    assert main(["predict", str(out), "--input", str(planted[0]), "--output", str(tmp_path / "p.csv")]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"scipt: error: {out}: no exported model: this finetune promoter run did not finish (the model is "
        "written last); continue it with the same command and --resume"
    ]
    # as the message says: the same command with --resume finishes it, refitting the one fit lost
    monkeypatch.undo()
    assert (
        main(["finetune", "promoter", *args, "--out", str(out), *SMALL, "--max-epochs", "1", "--resume"]) == 0
    )
    assert (out / "model" / "model.safetensors").is_file()

    # a run that ends writes its report and metrics before its model
    monkeypatch.undo()
    written = []
    export = promoter.export_classifier
    monkeypatch.setattr(
        promoter,
        "export_classifier",
        lambda run, *a: (
            written.append(sorted(p.name for p in run.path.iterdir() if p.name[0] != ".")) or export(run, *a)
        ),
    )
    done = tmp_path / "done"
    assert (
        main(["finetune", "promoter", *args[:2], *args[4:], "--out", str(done), *SMALL, "--max-epochs", "1"])
        == 0
    )
    assert written == [["config.yaml", "fits", "metrics.json", "report.md"]]
    assert (done / "model" / "model.safetensors").is_file()
