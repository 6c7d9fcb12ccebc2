"""`scipt data decontaminate`: tiny files, every bad input, and the shipped iPromoter-2L case."""

import argparse
import gzip
from pathlib import Path

import numpy as np
import pytest

from sciPT import recipes
from sciPT.cli import main
from sciPT.errors import UserError
from sciPT.registry import Domain, domains

REPO = Path(__file__).resolve().parents[2]
# the shipped copy (data_recipes/ipromoter2l.json), else the shared raw data
SHIPPED = REPO / "data_recipes" / "promoters"
RAW = REPO.parent / "shared" / "data" / "promoters" / "ecoli_ipromoter2l" / "Benchmark_dataset"
IPROMOTER = SHIPPED if (SHIPPED / "positive2860.txt").is_file() else RAW / "promoter_and_non-promoter"
DNA_ERROR = "expected A, C, G, T, N or an IUPAC ambiguity code (R Y S W K M B D H V), either case"


def rc(seq: str) -> str:
    return seq[::-1].translate(str.maketrans("ACGT", "TGCA"))


@pytest.fixture
def files(tmp_path):
    """A 400 bp genome holding eval sequence p at 50 and the reverse complement of q at 200."""
    rng = np.random.default_rng(1)
    genome = list("".join(rng.choice(list("ACGT"), 400)))
    p, q, r = ("".join(rng.choice(list("ACGT"), 40)) for _ in range(3))
    genome[50:90], genome[200:240] = p, rc(q)
    d = tmp_path / "in"
    d.mkdir()
    (d / "genome.fa").write_text(">g\n" + "".join(genome) + "\n")
    (d / "pos.fa").write_text(f">ECK1_p_forward_[a|b] label=1\n{p.lower()}\n")
    (d / "neg.csv").write_text(f"name,sequence,label\nq,{q},0\nr,{r},0\n")
    (d / "bad.fa").write_text(">s1\nACGU\n")
    (d / "nocol.tsv").write_text("seq\tlabel\nACGT\t1\n")
    return d, "".join(genome)


def test_decontaminate_tiny_files(files, tmp_path, capsys):
    d, genome = files
    out = tmp_path / "out" / "clean.fa.gz"
    code = main(
        [
            "data",
            "decontaminate",
            "--corpus",
            str(d / "genome.fa"),
            "--against",
            str(d / "pos.fa"),
            str(d / "neg.csv"),
            "--output",
            str(out),
            "--k",
            "12",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert captured.out.splitlines() == [
        f"before: 2 of 3 evaluation sequences verbatim in {d / 'genome.fa'} (either strand), "
        "2 verbatim or near",
        "masked 80 of 400 bases (20.00%) in 2 regions, copies of 2 evaluation sequences",
        f"after: 0 verbatim, 0 verbatim or near, 3 clean; wrote {out}",
    ]
    expected = genome[:50] + "N" * 40 + genome[90:200] + "N" * 40 + genome[240:]
    lines = gzip.open(out, "rt").read().splitlines()
    assert lines[0] == ">g" and "".join(lines[1:]) == expected and {len(x) for x in lines[1:]} == {60, 40}


def _bad_cases(d, out):
    g = str(d / "genome.fa")
    base = ["data", "decontaminate", "--output", str(out)]
    known = ", ".join(domains.names())
    return [
        (
            base + ["--corpus", str(d / "nope.fa"), "--against", str(d / "pos.fa")],
            f"{d}/nope.fa: file not found",
        ),
        (
            base + ["--corpus", g, "--against", str(d / "pos.fa"), str(d / "bad.fa")],
            f"{d}/bad.fa: record 's1' (#1) has 'U' at position 4; {DNA_ERROR}",
        ),
        (
            base + ["--corpus", g, "--against", str(d / "nocol.tsv")],
            f"{d}/nocol.tsv: no column 'sequence' (columns: seq, label); expected FASTA or a CSV/TSV table "
            "with a 'sequence' column",
        ),
        (
            base + ["--corpus", g, "--against", str(d / "pos.fa"), "--k", "40"],
            "--k: expected an integer from 1 to 31 for an alphabet of 4 residues, got 40",
        ),
        (
            base + ["--corpus", g, "--against", str(d / "pos.fa"), "--threshold", "1.5"],
            "--threshold: expected a fraction in (0, 1], got 1.5",
        ),
        (
            base + ["--corpus", g, "--against", str(d / "pos.fa"), "--domain", "protein", "--k", "16"],
            "--k: expected an integer from 1 to 12 for an alphabet of 20 residues, got 16",
        ),
        (  # it was read as protein, its reverse-complement copies left unmasked
            base + ["--corpus", g, "--against", str(d / "pos.fa"), "--domain", "protein"],
            f"{g}: reads as nucleotides (100 % A/C/G/T/U/N), not protein: is this the DNA corpus? "
            "(pretrain dna reads it)",
        ),
        (
            base + ["--corpus", g, "--against", str(d / "pos.fa"), "--domain", "rna"],
            f"unknown domain 'rna' (expected one of: {known})",
        ),
    ]


def test_bad_input_one_line_exit_2_nothing_written(files, tmp_path, capsys):
    d, _ = files
    out = tmp_path / "clean.fa.gz"
    for argv, message in _bad_cases(d, out):
        assert main(argv) == 2, argv
        assert capsys.readouterr().err.strip().splitlines()[-1] == "scipt: error: " + message
        assert not out.exists()
    # the corpus itself as output: refused, and left as it was
    before = (d / "genome.fa").read_bytes()
    argv = [
        "data",
        "decontaminate",
        "--corpus",
        str(d / "genome.fa"),
        "--against",
        str(d / "pos.fa"),
        "--output",
        str(d / "genome.fa"),
        "--k",
        "12",
    ]
    assert main(argv) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"scipt: error: {d / 'genome.fa'}: is the corpus itself; "
        "write the decontaminated copy to another file"
    )
    assert (d / "genome.fa").read_bytes() == before


def test_a_sequence_shorter_than_k_is_refused_not_counted_clean(files, tmp_path, capsys):
    """No k-mer of it can be looked up: counted clean, its copies would stay in a corpus called clean."""
    d, genome = files
    (d / "short.fa").write_text(f">p\n{genome[50:90]}\n>s\n{genome[:15]}\n>n\nNNNNNNNNNN\n")
    out = tmp_path / "clean.fa"
    argv = ["data", "decontaminate", "--corpus", str(d / "genome.fa"), "--against", str(d / "short.fa")]
    assert main([*argv, "--output", str(out), "--k", "16"]) == 2
    assert capsys.readouterr().err == (
        f"scipt: error: {d / 'short.fa'}: record 's' has no 16 known residues in a row (15 at most, of 15): "
        "no 16-mer of it can be looked up, so its copies would stay in the corpus; pass a smaller --k "
        "(at most 15) or leave it out\n"
    )
    assert not out.exists()
    assert main([*argv, "--output", str(out), "--k", "15"]) == 0  # the all-N record has nothing to find
    assert out.read_text().splitlines()[1].startswith("N" * 15 + genome[15:50])


def test_domain_without_sequences_is_refused(files, tmp_path, monkeypatch):
    d, _ = files
    monkeypatch.setitem(domains._loaded, "toy", Domain())  # the parser is built before: call the action
    parser = argparse.ArgumentParser()
    recipes.add_arguments(parser)
    args = parser.parse_args(
        [
            "decontaminate",
            "--corpus",
            str(d / "genome.fa"),
            "--against",
            str(d / "pos.fa"),
            "--output",
            str(tmp_path / "clean.fa"),
            "--domain",
            "toy",
        ]
    )
    with pytest.raises(UserError) as err:
        args.handler(args)
    assert str(err.value) == "--domain: domain 'toy' has no sequence alphabet to decontaminate"
    assert not (tmp_path / "clean.fa").exists()


@pytest.mark.slow
@pytest.mark.skipif(not (IPROMOTER / "positive2860.txt").is_file(), reason="needs the iPromoter-2L files")
def test_ipromoter_sequences_all_lie_in_the_ecoli_genome_and_are_removed(tmp_path, capsys):
    # The data README: 2,860 / 2,860 promoters and 2,860 / 2,860 non-promoters occur verbatim.
    out = tmp_path / "clean.fa.gz"
    code = main(
        [
            "data",
            "decontaminate",
            "--corpus",
            "data_recipes/dna/ecoli_k12_mg1655.fna.gz",
            "--against",
            str(IPROMOTER / "positive2860.txt"),
            str(IPROMOTER / "negative2860.txt"),
            "--output",
            str(out),
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    before, masked, after = captured.out.splitlines()
    assert before.startswith("before: 5,720 of 5,720 evaluation sequences verbatim")
    assert after.startswith("after: 0 verbatim,")


def test_proteins_are_decontaminated_with_the_longest_k_their_alphabet_packs(tmp_path, capsys):
    """The DNA default (16) does not pack 20 residues into 62 bits: a protein run takes 12."""
    rng = np.random.default_rng(0)
    residues = list("ACDEFGHIKLMNPQRSTVWY")
    left, peptide, right = ("".join(rng.choice(residues, n)) for n in (40, 30, 40))
    corpus, against, out = tmp_path / "prot.fa", tmp_path / "eval.fa", tmp_path / "clean.fa"
    corpus.write_text(f">p1\n{left}{peptide}{right}\n")
    against.write_text(f">e1\n{peptide}\n")
    argv = ["data", "decontaminate", "--corpus", str(corpus), "--against", str(against), "--output", str(out)]
    assert main([*argv, "--domain", "protein"]) == 0
    assert "after: 0 verbatim, 0 verbatim or near, 1 clean" in capsys.readouterr().out
    assert "".join(out.read_text().splitlines()[1:]) == left + "X" * 30 + right
