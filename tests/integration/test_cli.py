"""The `scipt` command: help, pre-training runs, predict --embed, export, and every bad input."""

import gzip
import json
import os
import re
import signal
import subprocess
import sys

import numpy as np
import pytest
import torch

from sciPT.checkpoint import from_pretrained
from sciPT.cli import main
from sciPT.testing import FAST_SEQUENCE_FLAGS, terminate_when

FAST = list(FAST_SEQUENCE_FLAGS)


def run(capsys, *argv):
    code = main(list(argv))
    return code, capsys.readouterr().err


def test_console_script_help_lists_options_with_defaults():
    out = subprocess.run(
        [sys.executable, "-m", "sciPT.cli", "pretrain", "dna", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    out = " ".join(out.split())  # argparse wraps long help lines
    for option in (
        "--devices",
        "--num-nodes",
        "--strategy",
        "--precision",
        "--max-steps",
        "--max-time",
        "--batch-size",
        "--accumulate",
        "--lr",
        "--schedule",
        "--seed",
        "--resume",
        "--out",
        "--config",
        "--preset",
        "--data",
        "--model.d-model",
    ):
        assert option in out, option
    text = " ".join(out.split())  # argparse wraps the help at the terminal's width
    assert "as many as max_time allows (the run is sized from its time budget). (default: 300)" in text
    assert "the shipped data_recipes/ files). (default: data_recipes/dna/ecoli_k12_mg1655.fna.gz)" in text
    # a domain takes tiny whatever the budget (only a task such as forcefield picks by it)
    assert "named configuration to start from (default: tiny)" in text


def test_a_bar_in_a_file_name_keeps_the_report_s_tables_whole(tmp_path, capsys, repo):
    """A ``|`` in a data file's name split its cell: the Data table's rows had more cells than its
    header."""
    data = tmp_path / "phage|lambda.fa"
    data.write_bytes((repo / "data_recipes/dna/phage_lambda.fa").read_bytes())
    out = tmp_path / "run"
    code, err = run(capsys, "pretrain", "dna", "--data", str(data), "--out", str(out), *FAST)
    assert code == 0, err
    report = (out / "report.md").read_text()
    row = next(line for line in report.splitlines() if line.startswith(f"| {tmp_path}"))
    assert row.startswith(f"| {tmp_path}/phage\\|lambda.fa | ")
    header = next(line for line in report.splitlines() if line.startswith("| file | sha256 |"))
    assert len(re.findall(r"(?<!\\)\|", row)) == header.count("|")


@pytest.mark.parametrize("domain", ["dna", "protein"])
def test_pretrain_writes_the_run_directory(tmp_path, capsys, domain):
    out = tmp_path / "run"
    code, err = run(capsys, "pretrain", domain, "--out", str(out), *FAST)
    assert code == 0, err
    for name in (
        "config.yaml",
        "metrics.json",
        "report.md",
        "model/config.json",
        "model/model.safetensors",
        "checkpoints/last.ckpt",
        "logs/metrics.csv",
        "plots/loss.png",
    ):
        assert (out / name).is_file(), name
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["steps"] == 4 and np.isfinite(metrics["val_loss"])
    # four steps from a random start: nothing has collapsed, and the verdict is kept beside its numbers
    assert metrics["embedding_collapsed"] == 0.0 and metrics["embedding_relative_spread"] > 1e-3
    report = (out / "report.md").read_text()
    assert ": no collapse (collapsed: spread under 0.001" in report
    # residue tokens: the per-token loss is per residue, so compared with the order-0 entropy
    assert f"The validation masked-token loss ({metrics['val_loss']:.3f} nats) is " in report
    exported = json.loads((out / "model/config.json").read_text())
    assert exported["domain"] == domain and len(exported["pretrained_on"][0]["sha256"]) == 64


def test_predict_embed_and_export(tmp_path, capsys, repo):
    out = tmp_path / "run"
    kmers = ["--tokenizer.kind", "kmer", "--tokenizer.k", "3"]
    code, err = run(capsys, "pretrain", "dna", "--out", str(out), *FAST, *kmers)
    assert code == 0
    # the tiny preset masks single tokens, right for its residue tokens, not for 3-mers
    assert (
        "warning: objective.masked.span 1 is shorter than the 3-mer tokens: overlapping k-mers share 2 "
        "residues with each neighbour, so most masked tokens can be read off the unmasked ones "
        "(--objective.masked.span 3 masks whole runs)"
    ) in err
    # a loss per 3-mer is not set against a per-residue entropy (a fresh head starts near ln 69)
    report = (out / "report.md").read_text()
    h0 = json.loads((out / "metrics.json").read_text())["order0_entropy_nats"]
    assert "The validation masked-token loss" not in report
    assert (
        f"Tokens are overlapping 3-mers: the masked-token loss is per k-mer, the order-0 entropy "
        f"({h0:.3f} nats) per residue, so the two are not compared."
    ) in report
    fa = tmp_path / "q.fa"
    # 32 tokens of 3-mers read 34 bp: 'long' (40 bp) is read from its central 34 (3 off each side)
    long = "".join("ACGT"[(7 * i * i + i) % 4] for i in range(40))
    fa.write_text(f">a\nACGTRCGTAC\n>b\nTTTTGGGG\n>long\n{long}\n>centre\n{long[3:-3]}\n")
    code, err = run(
        capsys, "predict", str(out), "--input", str(fa), "--output", str(tmp_path / "e.csv"), "--embed"
    )
    assert code == 0, err
    # 'a' holds an R (A or G), read as N
    assert f"{fa}: 1 of 4 sequences held ambiguity codes (R Y S W K M B D H V), read as N" in err
    assert (
        f"{fa}: the model reads at most 34 residues: 1 of 4 sequences embedded from the central 33 or "
        "34 (as many left out on each side)" in err
    )
    rows = (tmp_path / "e.csv").read_text().splitlines()
    assert rows[0].startswith("name,e0,e1") and [r.split(",")[0] for r in rows[1:]] == [
        "a",
        "b",
        "long",
        "centre",
    ]
    assert len(rows[1].split(",")) == 1 + 64
    assert rows[3].split(",")[1:] == rows[4].split(",")[1:]
    short = tmp_path / "short.fa"
    short.write_text(">ok\nACGTACGTAC\n>tiny\nAC\n")
    code, err = run(
        capsys, "predict", str(out), "--input", str(short), "--output", str(tmp_path / "s.csv"), "--embed"
    )
    assert (code, err.strip()) == (
        2,
        f"scipt: error: {short}: record 'tiny' has 2 residue(s), fewer than the 3 of one of the model's "
        "tokens: nothing to embed",
    )
    assert not (tmp_path / "s.csv").exists()
    (tmp_path / "adir").mkdir()
    with pytest.raises(SystemExit) as refused:  # before any work: the rename at its end would fail
        main(["predict", str(out), "--input", str(fa), "--output", str(tmp_path / "adir"), "--embed"])
    assert refused.value.code == 2
    assert (
        f"argument --output: {tmp_path / 'adir'} is a directory; expected a file name"
        in capsys.readouterr().err
    )

    for size in ("0", "-3"):  # -3 wrote a header-only file and said it embedded them all
        with pytest.raises(SystemExit) as refused:
            main(["predict", str(out), "--input", str(fa), "--output", str(tmp_path / "b.csv"), "--embed",
                  "--batch-size", size])  # fmt: skip
        assert refused.value.code == 2
        assert f"argument --batch-size: expected a positive integer, got {size}" in capsys.readouterr().err
    assert not (tmp_path / "b.csv").exists()

    code, err = run(capsys, "export", str(out), "--out", str(tmp_path / "again"))
    assert code == 0, err
    # a second export into that folder (or any other model's) is refused, the folder untouched
    before = {p.name: p.read_bytes() for p in (tmp_path / "again").iterdir()}
    code, err = run(capsys, "export", str(out), "--out", str(tmp_path / "again"))
    assert (code, err.strip()) == (
        2,
        f"scipt: error: --out {tmp_path / 'again'}: exists and is not empty; give a new folder (without "
        f"--out the export replaces this run's own {out / 'model'})",
    )
    assert {p.name: p.read_bytes() for p in (tmp_path / "again").iterdir()} == before
    code, err = run(capsys, "export", str(out), "--out", str(out / "model"))  # its own: replaced
    assert code == 0, err
    a, b = from_pretrained(out).model.state_dict(), from_pretrained(tmp_path / "again").model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)

    (tmp_path / "afile").write_text("x")
    elsewhere = tmp_path / "elsewhere.ckpt"
    elsewhere.write_bytes((out / "checkpoints" / "last.ckpt").read_bytes())
    before = (out / "model" / "model.safetensors").read_bytes()
    for args, message in (
        (["--out", str(tmp_path / "afile")], f"--out {tmp_path / 'afile'}: a file, not a directory"),
        (
            ["--checkpoint", str(elsewhere)],
            f"--checkpoint {elsewhere}: not one of {out}'s checkpoints, and its export would replace "
            f"{out / 'model'}: say where it goes with --out DIR",
        ),
    ):
        code, err = run(capsys, "export", str(out), *args)
        assert (code, err.strip()) == (2, f"scipt: error: {message}")
    assert (out / "model" / "model.safetensors").read_bytes() == before
    assert (
        run(capsys, "export", str(out), "--checkpoint", str(elsewhere), "--out", str(tmp_path / "e"))[0] == 0
    )


BAD = [
    ("missing", lambda d: ["--data", str(d / "nope.fa")], "{d}/nope.fa: file not found"),
    (
        "empty",
        lambda d: ["--data", str(d / "empty.fa")],
        "{d}/empty.fa: file is empty (expected FASTA records)",
    ),
    (
        "no records",
        lambda d: ["--data", str(d / "text.fa")],
        "{d}/text.fa: no FASTA records (expected lines starting with '>')",
    ),
    (
        "bad character",
        lambda d: ["--data", str(d / "bad.fa")],
        "{d}/bad.fa: record 'r1' (#1) has '7' at position 3; expected A, C, G, T, N or an IUPAC ambiguity "
        "code (R Y S W K M B D H V), either case",
    ),
    (
        "window too long",
        lambda d: ["--data", str(d / "short.fa")],
        "data.window: a window of 32 residues is longer than every record's training part "
        "(longest: 'r1' in {d}/short.fa, 8 residues)",
    ),
    (
        # 2 % of 1000 and 1500 residues: tails of 20 and 30, both shorter than the 32 of a window
        "no validation window",
        lambda d: ["--data", str(d / "tails.fa")],
        "data.val_fraction 0.02 with data.window 32: no validation window fits (the longest held-out "
        "tail is 'c1' in {d}/tails.fa, 30 residues); use a smaller data.window, a larger "
        "data.val_fraction, or data.val_fraction 0 to train without validation",
    ),
    (
        "gzip cut short",
        lambda d: ["--data", str(d / "cut.fa.gz")],
        "{d}/cut.fa.gz: gzip file cut short or damaged (Compressed file ended before the end-of-stream marker "
        "was reached); expected a whole .gz file (fetch or copy it again)",
    ),
    (
        "precision",
        lambda d: ["--precision", "8"],
        "train.precision: expected one of 32-true, 64-true, bf16-mixed, 16-mixed, bf16-true, 16-true, "
        "transformer-engine, transformer-engine-float16, 32, 64, bf16, 16, got '8'",
    ),
    ("unknown preset", lambda d: ["--config", str(d / "preset.yaml")], None),
    (
        "unknown key",
        lambda d: ["--config", str(d / "typo.yaml")],
        "{d}/typo.yaml.model: unknown key 'd_modle' (expected one of: vocab_size, d_model, n_layers, "
        "n_heads, d_ff, dropout, max_len, position, pad_id, norm_eps, activation, rc_equivariant, complement_ids)",
    ),
]


@pytest.fixture
def bad_files(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    (d / "empty.fa").write_text("")
    (d / "text.fa").write_text("\n")
    (d / "bad.fa").write_text(">r1\nAC7T\n")
    (d / "short.fa").write_text(">r1\nACGTACGT\n")
    (d / "tails.fa").write_text(">c0\n" + "ACGT" * 250 + "\n>c1\n" + "ACGT" * 375 + "\n")
    whole = gzip.compress(b">r1\n" + b"ACGT" * 5000 + b"\n")
    (d / "cut.fa.gz").write_bytes(whole[: len(whole) // 2])  # an interrupted download
    (d / "typo.yaml").write_text("model:\n  d_modle: 8\n")
    (d / "preset.yaml").write_text("train:\n  max_steps: 2\n")
    return d


@pytest.mark.parametrize("name, args, message", [b for b in BAD if b[2]], ids=[b[0] for b in BAD if b[2]])
def test_bad_input_one_line_exit_2_nothing_written(tmp_path, capsys, bad_files, name, args, message):
    out = tmp_path / "run"
    code, err = run(capsys, "pretrain", "dna", "--out", str(out), *FAST, *args(bad_files))
    assert code == 2
    assert err.strip().splitlines()[-1] == "scipt: error: " + message.format(d=bad_files)
    assert not out.exists()


def test_unknown_preset_and_domain_exit_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["pretrain", "dna", "--preset", "huge", "--out", str(tmp_path / "r")])
    assert exc.value.code == 2
    # one line, without argparse's usage; the choices' quoting differs between Python versions
    err = capsys.readouterr().err
    assert err.startswith("scipt pretrain dna: error: argument --preset: invalid choice: 'huge' (choose from")
    assert err.endswith("; 'scipt pretrain dna --help' lists the options\n") and err.count("\n") == 1
    with pytest.raises(SystemExit) as exc:
        main(["pretrain", "rna"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert (
        err.startswith("scipt pretrain: error: argument DOMAIN: invalid choice: 'rna'")
        and err.count("\n") == 1
    )
    assert not (tmp_path / "r").exists()


def test_a_misspelt_option_is_one_line_naming_the_closest(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["pretrain", "dna", "--data.temprature", "2", "--out", str(tmp_path / "r")])
    assert exc.value.code == 2
    assert capsys.readouterr().err == (
        "scipt pretrain dna: error: unrecognized arguments: --data.temprature 2 "
        "(did you mean --data.temperature?); 'scipt pretrain dna --help' lists the options\n"
    )
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    "argv, command, hint",
    [
        (["data", "list", "--foo"], "scipt data list", ""),
        (["data", "build", "uci-promoters", "--source", "{d}", "--foo"], "scipt data build", ""),
        (["demo", "dna", "--foo"], "scipt demo", " (did you mean --out?)"),
    ],
    ids=["data list", "data build", "demo"],
)
def test_an_unknown_option_names_the_command_typed(tmp_path, capsys, argv, command, hint):
    """Not the command with the most options: that one (data negatives, export) was not typed,
    and its options are no hint for this one."""
    with pytest.raises(SystemExit) as exc:
        main([a.format(d=tmp_path) for a in argv])
    assert exc.value.code == 2
    assert capsys.readouterr().err == (
        f"{command}: error: unrecognized arguments: --foo{hint}; '{command} --help' lists the options\n"
    )


@pytest.mark.parametrize(
    "verb, io", [("predict", ["--input", "q.fa", "--output", "e.csv"]), ("evaluate", ["--data", "q.fa"])]
)
def test_a_plugin_option_after_a_mistyped_run_names_the_run(tmp_path, capsys, verb, io):
    """`--embed` is the plugin's, known once RUN is a run: it was called unrecognized."""
    missing = str(tmp_path / "runs" / "claen")
    with pytest.raises(SystemExit) as exc:
        main([verb, missing, *io, "--embed"])
    assert exc.value.code == 2
    assert capsys.readouterr().err == (
        f"scipt {verb}: error: {missing}: not a run directory (no config.yaml), so the options of the "
        "plugin that wrote it are unknown: --embed\n"
    )


def test_causal_with_a_strand_equivariant_encoder_is_refused_before_anything_is_written(tmp_path, capsys):
    out = tmp_path / "run"
    code, err = run(
        capsys,
        "pretrain",
        "dna",
        "--out",
        str(out),
        *FAST,
        "--objective.kind",
        "causal",
        "--model.rc-equivariant",
    )
    assert code == 2 and not out.exists()
    assert err.strip().splitlines()[-1] == (
        "scipt: error: objective.kind causal: a reverse-complement equivariant encoder "
        "(model.rc_equivariant) reads both ways; causal attention is not available with it"
    )


def test_existing_run_is_not_overwritten(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    code, err = run(capsys, "pretrain", "dna", "--out", str(out), *FAST)
    assert code == 2
    assert err.strip().endswith(
        f"{out}: run directory already exists and is not empty "
        "(pass --resume to continue it, or choose another --out)"
    )
    # a demo has no --resume to suggest
    code, err = run(capsys, "demo", "dna", "--max-steps", "2", "--out", str(out))
    assert (code, err.strip()) == (
        2,
        f"scipt: error: {out}: run directory already exists and is not empty (choose another --out)",
    )
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    # a demo stopped before its first checkpoint (config and logs only) starts again in place
    stopped = tmp_path / "stopped"
    (stopped / "logs").mkdir(parents=True)
    (stopped / ".scipt.lock").write_text("")  # a run takes it before it writes anything
    (stopped / "config.yaml").write_text("domain: dna\n")
    code, err = run(capsys, "demo", "dna", "--max-steps", "2", "--out", str(stopped))
    assert code == 0, err
    assert f"{stopped}: holds a run stopped before its first checkpoint: starting it again" in err
    (tmp_path / "afile").write_text("x")
    code, err = run(capsys, "pretrain", "dna", "--out", str(tmp_path / "afile"), *FAST)
    assert (code, err.strip().splitlines()[-1]) == (
        2,
        f"scipt: error: {tmp_path / 'afile'}: --out names a file, not a directory",
    )


def test_an_out_inside_another_run_is_refused_before_anything_is_written(tmp_path, capsys):
    from sciPT.locks import release_locks
    from sciPT.run import RunDir

    first = RunDir.create(tmp_path / "first")
    first.write_config({"domain": "dna"})
    release_locks()
    pos, neg = tmp_path / "pos.fa", tmp_path / "neg.fa"
    rng = np.random.default_rng(0)
    for path in (pos, neg):
        path.write_text("".join(f">s{i}\n{''.join(rng.choice(list('ACGT'), 40))}\n" for i in range(20)))
    for argv in (
        ["pretrain", "dna", *FAST],
        ["finetune", "promoter", "--init", "none", "--positives", str(pos), "--negatives", str(neg)],
        ["demo", "promoter"],  # a folder of runs, refused before its corpus is written there
    ):
        sub = first.path / "sub"
        code, err = run(capsys, *argv, "--out", str(sub))
        assert (code, err.strip().splitlines()[-1]) == (
            2,
            f"scipt: error: {sub}: --out is inside the run directory {first.path}; choose an --out outside it",
        ), argv
        assert not sub.exists()
    assert sorted(p.name for p in first.path.iterdir()) == [RunDir.LOCK, "config.yaml"]


def test_data_list_checks_shipped_files(capsys):
    assert main(["data", "list"]) == 0
    out = capsys.readouterr().out
    assert "ecoli-genome" in out and "ok" in out and "hash mismatch" not in out


def test_progress_bars_in_a_log_file_redraw_at_most_every_30_seconds():
    """A bar of 200 steps over about a second, standard error a pipe: the bar's first and last
    states only, where tqdm's default would write one every 0.1 s."""
    script = (
        "import time, sciPT.cli as cli; cli.log_friendly_progress()\n"
        "from tqdm.auto import tqdm\n"
        "for _ in tqdm(range(200)): time.sleep(0.005)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("TQDM_")}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True)
    states = [s for s in done.stderr.replace("\n", "\r").split("\r") if s.strip()]
    assert len(states) == 2 and states[0].startswith("  0%") and states[1].startswith("100%"), states


def test_a_reader_that_closes_the_pipe_early_gets_no_traceback(tmp_path):
    """`scipt ... | head`: the command's writes after head exits fail with EPIPE."""
    script = (
        "import argparse, sys, sciPT.cli as cli\n"
        "def chatty(args):\n"
        "    for i in range(200_000): print('line', i)\n"
        "    return 0\n"
        "def build_parser(argv):\n"
        "    parser = argparse.ArgumentParser()\n"
        "    parser.set_defaults(handler=chatty)\n"
        "    return parser\n"
        "cli.build_parser = build_parser\n"
        "sys.exit(cli.main([]))\n"
    )
    reader = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert reader.stdout.readline() == b"line 0\n"
    reader.stdout.close()
    assert reader.wait(timeout=60) == 1
    assert reader.stderr.read() == b""
    # a broken pipe of another kind (a worker's) while the output is read is a failure, not quiet
    worker = script.replace(
        "for i in range(200_000): print('line', i)", "raise BrokenPipeError(32, 'worker')"
    )
    done = subprocess.run([sys.executable, "-c", worker], capture_output=True, text=True)
    assert done.returncode == 1 and done.stderr.strip().endswith("BrokenPipeError: [Errno 32] worker")


def test_evaluate_from_another_directory_still_checks_the_corpus(tmp_path, capsys, monkeypatch):
    # a corpus named relative to where pre-training ran: the run must record where it really is,
    # or evaluate, run from elsewhere, silently skips its contamination check
    rng = np.random.default_rng(0)
    genome = "".join(rng.choice(list("ACGT"), 2000))
    (tmp_path / "genome.fa").write_text(f">g\n{genome}\n")
    (tmp_path / "held.fa").write_text(f">h\n{genome[100:164]}\n")
    monkeypatch.chdir(tmp_path)
    code, err = run(capsys, "pretrain", "dna", "--data", "genome.fa", "--out", "run", *FAST)
    assert code == 0, err
    exported = json.loads((tmp_path / "run/model/config.json").read_text())
    assert exported["pretrained_on"][0]["path"] == str(tmp_path / "genome.fa")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    code, err = run(capsys, "evaluate", "../run", "--data", "../held.fa")
    assert code == 0, err
    metrics = json.loads((tmp_path / "run/evaluations/held/metrics.json").read_text())
    assert (metrics["windows"], metrics["contamination_verbatim"]) == (2, 2)


def test_evaluate_says_when_the_corpus_is_not_found(tmp_path, capsys, monkeypatch):
    (tmp_path / "genome.fa").write_text(">g\n" + "ACGTTGCA" * 250 + "\n")
    monkeypatch.chdir(tmp_path)
    code, err = run(capsys, "pretrain", "dna", "--data", "genome.fa", "--out", "run", *FAST)
    assert code == 0, err
    (tmp_path / "genome.fa").rename(tmp_path / "moved.fa")
    (tmp_path / "held.fa").write_text(">h\n" + "ACGTTGCA" * 8 + "\n")
    code, err = run(capsys, "evaluate", "run", "--data", "held.fa")
    assert code == 0, err
    sentence = (
        f"contamination unknown: the pre-training corpus file {tmp_path / 'genome.fa'} is not found "
        "from here, so this file's overlap with it was not checked"
    )
    assert f"warning: {sentence}\n" in err
    report = (tmp_path / "run/evaluations/held/report.md").read_text()
    assert report.rstrip().endswith(f"**C{sentence[1:]}.**")


def long_pretraining(out):
    """A pre-training command that would run for long (100,000 steps), its environment, and when a
    checkpoint is written (training is under way)."""
    flags = [*FAST_SEQUENCE_FLAGS]
    flags[flags.index("--max-steps") + 1] = "100000"
    command = [sys.executable, "-m", "sciPT.cli", "pretrain", "dna", "--out", str(out), *flags]
    command += ["--checkpoint-every", "2"]
    return command, {**os.environ, "OMP_NUM_THREADS": "1"}, (out / "checkpoints" / "last.ckpt").exists


def test_ctrl_c_stops_training_with_status_130_and_says_how_to_go_on(tmp_path):
    """Lightning turned Ctrl-C in a fit into exit status 1 and its own line alone."""
    command, env, ready = long_pretraining(tmp_path / "run")
    status, err = terminate_when(command, ready, env=env, signum=signal.SIGINT)
    assert status == 130, err
    assert err.strip().splitlines()[-1] == (
        "scipt: interrupted; the run keeps its last checkpoint: the same command with --resume continues it"
    )


def test_a_double_precision_run_exports_one_dtype(tmp_path, capsys):
    """64-true: the backbone was exported in float32, its masked head in float64."""
    from safetensors.torch import load_file

    out = tmp_path / "run"
    code, err = run(
        capsys, "pretrain", "dna", "--out", str(out), *FAST_SEQUENCE_FLAGS, "--precision", "64-true"
    )
    assert code == 0, err
    tensors = load_file(out / "model" / "model.safetensors")
    assert any(k.startswith("mlm_head.") for k in tensors)
    assert {t.dtype for t in tensors.values() if t.is_floating_point()} == {torch.float32}


def test_the_line_after_a_stop_says_what_the_run_kept(tmp_path):
    """Stopped before its first checkpoint, a run was told '--resume continues it', which then
    refused for want of a checkpoint; a SLURM checkpoint counts; a promoter run keeps completed fits,
    not checkpoints, and its fits folder holds a fingerprint before any fit."""
    import argparse

    from sciPT.cli import after_stop, build_parser

    out = tmp_path / "run"
    args = argparse.Namespace(command="pretrain", out=str(out))
    out.mkdir()
    assert (
        after_stop(args)
        == "no checkpoint was written yet: the same command with --resume auto starts it again"
    )
    (out / "hpc_ckpt_1.ckpt").write_bytes(b"")
    keeps = "the run keeps its last checkpoint: the same command with --resume continues it"
    assert after_stop(args) == keeps
    (out / "hpc_ckpt_1.ckpt").unlink()
    (out / "checkpoints").mkdir()
    (out / "checkpoints" / "last.ckpt").write_bytes(b"")
    assert after_stop(args) == keeps
    argv = ["finetune", "promoter", "--out", str(tmp_path / "p")]
    promoter = build_parser(argv).parse_args(argv)
    (tmp_path / "p" / "fits").mkdir(parents=True)
    (tmp_path / "p" / "fits" / "fingerprint.json").write_text("{}")
    assert after_stop(promoter) == "no fit was completed yet: the same command with --resume continues it"
    (tmp_path / "p" / "fits" / "fold-1-pre-trained.json").write_text("{}")
    assert (
        after_stop(promoter)
        == "the run keeps its 1 completed fit(s): the same command with --resume continues it"
    )


def test_sigterm_stops_training_with_status_143_and_resume_continues_it(tmp_path):
    """A batch system's time limit sends SIGTERM: Lightning stopped the run with a SystemExit of no
    code, so the job ended with status 0, without a word, and jobs chained on its success went on."""
    out = tmp_path / "run"
    command, env, ready = long_pretraining(out)
    status, err = terminate_when(command, ready, env=env)
    assert status == 143, err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == (
        "scipt: terminated (SIGTERM); the run keeps its last checkpoint: the same command with "
        "--resume continues it"
    )
    stopped = torch.load(out / "checkpoints" / "last.ckpt", weights_only=True, map_location="cpu")
    resumed = subprocess.run(
        [*command[:-2], "--resume", "--max-steps", str(stopped["global_step"] + 2)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads((out / "metrics.json").read_text())["steps"] == stopped["global_step"] + 2


def test_sigterm_during_an_export_leaves_no_staging_folder(tmp_path, monkeypatch, capsys):
    # the signal's default action ended the process with the hidden staging folder still there
    import signal

    from sciPT import export, io

    target = tmp_path / "model"

    def slow_export(args):
        with io.staged_folder(target) as staging:
            (staging / "weights.safetensors").write_bytes(b"partial")
            signal.raise_signal(signal.SIGTERM)
        return 0

    monkeypatch.setattr(export, "export_run", slow_export)
    (tmp_path / "config.yaml").write_text("domain: dna\n")
    assert main(["export", str(tmp_path), "--out", str(target)]) == 143
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "scipt: terminated (SIGTERM) while exporting; the same command exports again"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.yaml"]


FAKE_TASK = """
from dataclasses import dataclass, field

from sciPT.registry import Task
from sciPT.trainer import TrainConfig


@dataclass
class FakeConfig:
    n: int = 3
    train: TrainConfig = field(default_factory=TrainConfig)


class FakeTask(Task):
    name = "faketask"
    summary = "a task of a third-party distribution"
    config_class = FakeConfig

    def presets(self):
        return {"tiny": FakeConfig}

    def finetune(self, args):
        print("faketask ran")
        return 0


task = FakeTask()
"""


@pytest.fixture
def third_party_tasks(tmp_path, monkeypatch):
    """A distribution ``triseq-plugin`` with a working task and one that raises on import, added to
    the installed ``sciPT.tasks`` entry points as :mod:`sciPT.cli` sees them; installs nothing."""
    from sciPT import cli, registry
    from sciPT.testing import fake_distribution

    added = fake_distribution(
        tmp_path,
        "triseq-plugin",
        {"fakeplug_cli_task": FAKE_TASK, "fakeplug_cli_broken": "raise RuntimeError('boom at import')\n"},
        "[sciPT.tasks]\nfaketask = fakeplug_cli_task:task\nbroken = fakeplug_cli_broken:task\n",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    installed = registry.entry_points
    monkeypatch.setattr(registry, "entry_points", lambda group: [*installed(group=group), *added])
    monkeypatch.setattr(cli, "tasks", registry.Registry(registry.TASK_GROUP, "task", registry.Task))
    yield
    for module in ("fakeplug_cli_task", "fakeplug_cli_broken"):
        sys.modules.pop(module, None)


def test_a_broken_plugin_is_listed_as_unavailable_and_the_others_still_run(third_party_tasks, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["finetune", "--help"])
    assert stop.value.code == 0
    listing = " ".join(capsys.readouterr().out.split())  # argparse wraps the help
    assert "broken (unavailable, from triseq-plugin: failed to load: RuntimeError: boom at import)" in listing
    assert "faketask a task of a third-party distribution" in listing
    assert "promoter promoter / non-promoter classification" in listing
    code = main(["finetune", "faketask", "--n", "5"])
    assert (code, capsys.readouterr().out) == (0, "faketask ran\n")
    code, err = run(capsys, "finetune", "broken")
    assert code == 2
    assert err.splitlines() == [
        "scipt: error: plugin 'broken' (fakeplug_cli_broken:task, from triseq-plugin) failed to load: "
        "RuntimeError: boom at import"
    ]


def test_a_builtin_without_its_extra_is_listed_with_the_pip_install():
    # someone who installed only scipt[dna]: no e3nn for the molecules domain and forcefield task
    code = (
        "import sys\n"
        "sys.modules['e3nn'] = None\n"  # `import e3nn` fails as if it were not installed
        "from sciPT.cli import main\n"
        "for argv in (['pretrain', '--help'], ['finetune', '--help'], ['pretrain', 'molecules']):\n"
        "    try:\n"
        "        print(f'STATUS={main(argv)}')\n"
        "    except SystemExit as stop:\n"
        "        print(f'STATUS={stop.code}')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        timeout=300,
        check=False,
    )
    out = " ".join(done.stdout.split())
    unavailable = "(unavailable: needs 'e3nn', which is not installed: pip install 'scipt[molecules]')"
    assert f"molecules {unavailable}" in out
    assert f"forcefield {unavailable}" in out
    assert "dna DNA masked-model pre-training" in out and "promoter promoter / non-promoter" in out
    assert re.findall(r"STATUS=(\d+)", out) == ["0", "0", "2"]
    assert done.stderr.splitlines() == [
        "scipt: error: the domain 'molecules' needs 'e3nn', which is not installed: pip install "
        "'scipt[molecules]'"
    ]


def test_demo_offers_only_the_plugins_that_have_a_demo(capsys):
    """It offered every domain and task: `scipt demo molecules` then failed, `has no demo`."""
    with pytest.raises(SystemExit) as exc:
        main(["demo", "--help"])
    assert exc.value.code == 0
    usage = " ".join(capsys.readouterr().out.split())
    assert "[{forcefield,promoter,surrogate,dna,protein}]" in usage
    with pytest.raises(SystemExit) as exc:
        main(["demo", "promotr"])
    assert exc.value.code == 2
    assert capsys.readouterr().err == (
        "scipt demo: error: argument name: invalid choice: 'promotr' (choose from 'forcefield', "
        "'promoter', 'surrogate', 'dna', 'protein'); 'scipt demo --help' lists the options\n"
    )


def test_a_plugin_without_a_demo_named_anyway_says_so_in_one_line(tmp_path, capsys):
    code, err = run(capsys, "demo", "molecules", "--out", str(tmp_path / "run"))
    assert (code, err) == (2, "scipt: error: domain 'molecules' has no demo\n")


def test_a_demo_stopped_by_sigterm_is_not_sent_to_a_resume_it_does_not_have(tmp_path, monkeypatch, capsys):
    """The message said `the same command with --resume continues it`: scipt demo has no --resume."""
    from lightning.pytorch.utilities.exceptions import SIGTERMException

    from sciPT import pretrain

    def stopped(*args, **kwargs):
        raise SIGTERMException()  # what Lightning raises in a fit a SIGTERM reached

    monkeypatch.setattr(pretrain, "pretrain", stopped)
    out = tmp_path / "demo"
    assert main(["demo", "dna", "--out", str(out)]) == 143
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"scipt: terminated (SIGTERM); a demo cannot be resumed: run it again with another --out, or "
        f"delete {out} first"
    )


def test_a_stop_is_reported_by_rank_zero_alone(tmp_path, monkeypatch, capsys):
    """Lightning forwards SIGTERM to every rank of a multi-process run, and each printed the
    'terminated' line: the README promises one line. The other ranks exit with the same status."""
    from lightning.fabric.utilities.rank_zero import rank_zero_only
    from lightning.pytorch.utilities.exceptions import SIGTERMException

    from sciPT import pretrain

    def stopped(*args, **kwargs):
        raise SIGTERMException()

    monkeypatch.setattr(pretrain, "pretrain", stopped)
    argv = ["pretrain", "dna", "--preset", "tiny", "--out", str(tmp_path / "run")]
    monkeypatch.setattr(rank_zero_only, "rank", 1, raising=False)  # as Lightning sets it on rank 1
    assert main(argv) == 143
    assert capsys.readouterr().err == ""
    monkeypatch.setattr(rank_zero_only, "rank", 0, raising=False)
    assert main(argv) == 143
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("scipt: terminated (SIGTERM); ")
