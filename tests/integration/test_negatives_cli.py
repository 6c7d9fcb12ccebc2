"""`scipt data negatives`: both kinds end to end on tiny files, and every bad input as one line, exit 2,
nothing written."""

import gzip

import numpy as np
import pytest

from sciPT.cli import main
from sciPT.domains.dna.data import read_pair


@pytest.fixture
def files(tmp_path):
    rng = np.random.default_rng(2)
    genome = "".join(rng.choice(list("ACGT"), 6000))
    positives = [genome[500 + 300 * i : 540 + 300 * i] for i in range(8)]
    (tmp_path / "genome.fa").write_text(">g\n" + genome + "\n")
    (tmp_path / "pos.fa").write_text("".join(f">p{i}\n{s.lower()}\n" for i, s in enumerate(positives)))
    (tmp_path / "bad.fa").write_text(">s1\nACGU\n")
    (tmp_path / "rich.fa").write_text(">r\n" + "GC" * 20 + "\n")  # GC 1: no such window in the genome
    return tmp_path


def run(capsys, *args):
    code = main(["data", "negatives", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def test_dinucleotide_shuffles_are_read_back_as_negatives(files, capsys):
    out = files / "neg.fa"
    code, stdout, _ = run(
        capsys,
        "--positives",
        files / "pos.fa",
        "--kind",
        "dinucleotide-shuffle",
        "--output",
        out,
        "--seed",
        1,
    )
    assert code == 0 and "wrote 8 dinucleotide-shuffle negatives of 8 positives" in stdout
    data = read_pair(files / "pos.fa", out)
    assert data.names[8:] == [f"p{i}_dishuffle" for i in range(8)]
    first = out.read_text()
    run(
        capsys,
        "--positives",
        files / "pos.fa",
        "--kind",
        "dinucleotide-shuffle",
        "--output",
        out,
        "--seed",
        1,
    )
    assert out.read_text() == first


def test_gc_matched_windows_written_gzipped(files, capsys):
    out = files / "neg.fa.gz"
    code, stdout, err = run(
        capsys,
        "--positives",
        files / "pos.fa",
        "--kind",
        "gc-matched",
        "--genome",
        files / "genome.fa",
        "--output",
        out,
        "--bins",
        4,
    )
    assert code == 0, err
    text = gzip.open(out, "rt").read()
    assert text.count(">g:") == 8
    positives = set((files / "pos.fa").read_text().upper().split())
    assert not any(line in positives for line in text.split() if not line.startswith(">"))


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["--kind", "shuffle"],
            "--kind: unknown kind 'shuffle' (expected one of: dinucleotide-shuffle, gc-matched)",
        ),
        (["--kind", "gc-matched"], "--kind gc-matched needs --genome FILE (the FASTA to draw windows from)"),
        (
            ["--kind", "dinucleotide-shuffle", "--genome", "genome.fa"],
            "--genome is used only with --kind gc-matched, not dinucleotide-shuffle",
        ),
        (
            ["--kind", "gc-matched", "--genome", "genome.fa", "--bins", "0"],
            "--bins: expected a positive number of GC bins, got 0",
        ),
        (
            ["--kind", "dinucleotide-shuffle", "--domain", "protein"],
            "--domain: domain 'protein' is not a nucleic-acid domain (no complement)",
        ),
        (["--kind", "gc-matched", "--genome", "missing.fa"], "missing.fa: file not found"),
        (
            ["--kind", "gc-matched", "--genome", "genome.fa", "--positives", "rich.fa"],
            "genome.fa: only 0 free windows of 40 residues with GC fraction in [0.9, 1], 1 needed to match "
            "the positives (0% of the genome is unknown residues or copies of a positive with their "
            "margins); use fewer --bins or a larger genome",
        ),
    ],
)
def test_bad_input_is_one_line_exit_2_and_nothing_written(files, capsys, monkeypatch, args, message):
    monkeypatch.chdir(files)
    code, out, err = run(capsys, "--positives", "pos.fa", *args, "--output", "neg.fa")
    assert code == 2 and out == ""
    assert err.splitlines() == ["scipt: error: " + message]
    assert sorted(p.name for p in files.iterdir()) == ["bad.fa", "genome.fa", "pos.fa", "rich.fa"]


def test_a_bad_positive_names_file_record_and_position(files, capsys, monkeypatch):
    monkeypatch.chdir(files)
    code, _, err = run(
        capsys, "--positives", "bad.fa", "--kind", "dinucleotide-shuffle", "--output", "neg.fa"
    )
    assert code == 2
    assert err.strip().startswith("scipt: error: bad.fa: record 's1' (#1) has 'U' at position 4; expected")
    assert not (files / "neg.fa").exists()


@pytest.mark.parametrize("suffix", [".fa", ".fa.gz"])
def test_names_outside_ascii_are_kept(files, capsys, suffix):
    # RegulonDB names in iPromoter-2L carry ideographic spaces (U+3000)
    (files / "named.fa").write_text(
        ">ECK1_[TIM|S|Transcription\u3000initiation]\nACGTTGCAAGCTTACGGATC\n", encoding="utf-8"
    )
    out = files / f"neg{suffix}"
    code, _, _ = run(
        capsys, "--positives", files / "named.fa", "--kind", "dinucleotide-shuffle", "--output", out
    )
    assert code == 0
    data = read_pair(files / "named.fa", out)
    assert data.names[1] == data.names[0] + "_dishuffle"


@pytest.mark.parametrize("form", ["csv", "fasta"])
def test_a_labelled_file_gives_only_its_positives(files, capsys, form):
    # the fine-tuning input passed as --positives: its label-0 records must not become positives
    pos = ["ACGTTGCAACGATCGGATAC", "TTGACAGGTAGCATCGATCC", "GGGCCCAATTCGATGCATGC"]
    neg = ["AAAAACCCCC", "CCCCCGGGGG"]
    rows = [(s, 1) for s in pos[:2]] + [(neg[0], 0), (pos[2], 1), (neg[1], 0)]
    path = files / f"labelled.{'csv' if form == 'csv' else 'fa'}"
    if form == "csv":
        path.write_text("sequence,label\n" + "".join(f"{s},{y}\n" for s, y in rows))
    else:
        path.write_text("".join(f">r{i} label={y}\n{s}\n" for i, (s, y) in enumerate(rows)))
    out = files / "neg.fa"
    code, stdout, err = run(capsys, "--positives", path, "--kind", "dinucleotide-shuffle", "--output", out)
    assert code == 0, err
    assert err.strip() == f"{path}: labelled; its 3 records labelled 1 of 5 are the positives"
    assert "wrote 3 dinucleotide-shuffle negatives of 3 positives" in stdout
    written = [line for line in out.read_text().split() if not line.startswith(">")]
    # a dinucleotide shuffle keeps its sequence's composition: each negative is one of the positives'
    assert [sorted(s) for s in written] == [sorted(s) for s in pos]


def test_a_labelled_file_without_positives_is_refused(files, capsys, monkeypatch):
    monkeypatch.chdir(files)
    (files / "zeros.csv").write_text("sequence,label\nACGTACGT,0\nTTTTAAAA,0\n")
    code, out, err = run(
        capsys, "--positives", "zeros.csv", "--kind", "dinucleotide-shuffle", "--output", "neg.fa"
    )
    assert code == 2 and out == ""
    assert err.splitlines() == ["scipt: error: zeros.csv: no record labelled 1 (positive) among 2"]
    assert not (files / "neg.fa").exists()


def test_a_fasta_labelled_after_its_first_record_is_refused_naming_the_unlabelled_one(
    files, capsys, monkeypatch
):
    """Judged by its first header alone, this file was read unlabelled and its label=0 record made
    a positive, without a word; any label= word makes it a labelled file, whose every record needs one."""
    monkeypatch.chdir(files)
    (files / "late.fa").write_text(">a\nACGTTGCAAGCTTACGGATC\n>b label=0\nAAAAACCCCC\n")
    code, out, err = run(
        capsys, "--positives", "late.fa", "--kind", "dinucleotide-shuffle", "--output", "neg.fa"
    )
    assert code == 2 and out == ""
    assert err.splitlines() == [
        "scipt: error: late.fa: record 'a' (#1) has no 'label=0' or 'label=1' in its header"
    ]
    assert not (files / "neg.fa").exists()


def test_an_unlabelled_table_is_read_whole(files, capsys):
    (files / "plain.csv").write_text("name,sequence\na,ACGTTGCAAGCTTACGGATC\nb,TTGACAGGTAGCATCGATCC\n")
    code, stdout, err = run(
        capsys,
        "--positives",
        files / "plain.csv",
        "--kind",
        "dinucleotide-shuffle",
        "--output",
        files / "n.fa",
    )
    assert code == 0 and err == ""
    assert "wrote 2 dinucleotide-shuffle negatives of 2 positives" in stdout


def test_an_output_that_is_an_input_is_refused_and_the_input_kept(files, capsys, monkeypatch):
    monkeypatch.chdir(files)
    kept = (files / "pos.fa").read_text()
    code, _, err = run(
        capsys, "--positives", "pos.fa", "--kind", "dinucleotide-shuffle", "--output", "pos.fa"
    )
    assert (code, err.splitlines()) == (
        2,
        ["scipt: error: pos.fa: is the positives file itself; write the negatives to another file"],
    )
    args = ["--positives", "pos.fa", "--kind", "gc-matched", "--genome", "genome.fa", "--output", "genome.fa"]
    code, _, err = run(capsys, *args)
    assert (code, err.splitlines()) == (
        2,
        ["scipt: error: genome.fa: is the genome itself; write the negatives to another file"],
    )
    assert (files / "pos.fa").read_text() == kept and (files / "genome.fa").read_text().startswith(">g\n")


def test_a_positive_whose_only_shuffle_is_itself_gets_no_negative(files, capsys, monkeypatch):
    monkeypatch.chdir(files)
    (files / "few.fa").write_text(">short\nACGT\n>repeat\nATATATATAT\n>p0\nACGTTGCAAGCTTACG\n")
    code, stdout, err = run(
        capsys, "--positives", "few.fa", "--kind", "dinucleotide-shuffle", "--output", "n.fa"
    )
    assert code == 0 and "wrote 1 dinucleotide-shuffle negatives of 3 positives" in stdout
    assert err.splitlines() == [
        "few.fa: 2 of 3 positives have no dinucleotide shuffle but themselves (too short or too "
        "repetitive): no negative is written for them"
    ]
    assert (files / "n.fa").read_text().startswith(">p0_dishuffle\n")


def test_positives_without_any_shuffle_but_themselves_are_refused_and_nothing_written(
    files, capsys, monkeypatch
):
    monkeypatch.chdir(files)
    (files / "rep.fa").write_text(">short\nACGT\n>repeat\nATATATATAT\n")
    code, stdout, err = run(
        capsys, "--positives", "rep.fa", "--kind", "dinucleotide-shuffle", "--output", "n.fa"
    )
    assert (code, stdout) == (2, "")
    assert err.splitlines() == [
        "scipt: error: rep.fa: none of its 2 positives has a dinucleotide shuffle but itself (too short or "
        "too repetitive): no negative to write"
    ]
    assert not (files / "n.fa").exists()


def test_ambiguity_codes_in_the_positives_are_named(files, capsys):
    # an R was shuffled as N without a word (predict and scan say it)
    text = (files / "pos.fa").read_text().split("\n")
    text[1] = "ar" + text[1][2:]
    (files / "amb.fa").write_text("\n".join(text))
    code, _, err = run(
        capsys, "--positives", files / "amb.fa", "--kind", "dinucleotide-shuffle", "--output", files / "n.fa"
    )
    assert code == 0
    assert (
        f"{files / 'amb.fa'}: 1 of 8 sequences held ambiguity codes (R Y S W K M B D H V), read as N in "
        "the negatives"
    ) in err.splitlines()
