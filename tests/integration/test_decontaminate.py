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


@pytest.mark.parametrize("insert", [9, 20, 40])
def test_a_copy_with_an_insertion_is_masked_whole(tmp_path, capsys, insert):
    """The audit's case: a 200-base sequence planted at 1000 of a 3,000-base genome with ``insert``
    random bases after its first 100 (a 9-base insertion was left unmasked, and the run exited 0):
    the copy, insertion included, is [1000, 1200 + insert)."""
    rng = np.random.default_rng(21)
    e, g = ("".join(rng.choice(list("ACGT"), n)) for n in (200, 3000))
    genome = g[:1000] + e[:100] + "".join(rng.choice(list("ACGT"), insert)) + e[100:] + g[1200 + insert :]
    corpus, against, out = tmp_path / "g.fa", tmp_path / "e.fa", tmp_path / "clean.fa"
    corpus.write_text(f">g\n{genome}\n")
    against.write_text(f">ins\n{e}\n")
    argv = ["data", "decontaminate", "--corpus", str(corpus), "--against", str(against), "--output", str(out)]
    assert main(argv) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"before: 0 of 1 evaluation sequences verbatim in {corpus} (either strand), 1 verbatim or near",
        f"masked {200 + insert} of 3,000 bases ({(200 + insert) / 30:.2f}%) in 1 regions, copies of 1 "
        "evaluation sequences",
        f"after: 0 verbatim, 0 verbatim or near, 1 clean; wrote {out}",
    ]
    assert (
        "".join(out.read_text().splitlines()[1:])
        == genome[:1000] + "N" * (200 + insert) + genome[1200 + insert :]
    )


def test_near_sequences_left_unmasked_are_warned_of(tmp_path, capsys):
    """A 200-base sequence whose halves lie 300 bases apart (more than its length: no copy, each
    half 85 of its 185 16-mers) is near (170 of 185) but not masked: the copy is written, and a
    warning on stderr says how many are left (only the last line said so). No verbatim copy is
    left, so the command succeeds. A second sequence, copied whole, is masked."""
    rng = np.random.default_rng(22)
    e, f, g = ("".join(rng.choice(list("ACGT"), n)) for n in (200, 200, 2000))
    genome = g[:500] + e[:100] + g[500:800] + e[100:] + g[800:1000] + f + g[1000:]
    corpus, against, out = tmp_path / "g.fa", tmp_path / "e.fa", tmp_path / "clean.fa"
    corpus.write_text(f">g\n{genome}\n")
    against.write_text(f">split\n{e}\n>whole\n{f}\n")
    argv = ["data", "decontaminate", "--corpus", str(corpus), "--against", str(against), "--output", str(out)]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [
        f"before: 1 of 2 evaluation sequences verbatim in {corpus} (either strand), 2 verbatim or near",
        "masked 200 of 2,400 bases (8.33%) in 1 regions, copies of 1 evaluation sequences",
        f"after: 0 verbatim, 1 verbatim or near, 1 clean; wrote {out}",
    ]
    assert captured.err.splitlines()[-1] == (
        f"scipt: warning: 1 of 2 evaluation sequences are still verbatim or near in {out} (16-mer "
        "similarity >= 0.5) but lie in no one copy (their shared k-mers scattered over repeats, or a "
        "copy's parts too far apart): left unmasked"
    )
    assert "".join(out.read_text().splitlines()[1:]) == genome[:1200] + "N" * 200 + genome[1400:]


def test_a_verbatim_copy_left_in_the_output_fails_the_command(tmp_path, capsys, monkeypatch):
    """Masking removes every copy, so a verbatim sequence after it is a fault of the masking (here
    made by writing the corpus unmasked): the warning adds exit status 1."""
    import shutil

    from sciPT.diagnostics import contamination

    rng = np.random.default_rng(23)
    e, g = ("".join(rng.choice(list("ACGT"), n)) for n in (200, 2000))
    corpus, against, out = tmp_path / "g.fa", tmp_path / "e.fa", tmp_path / "clean.fa"
    corpus.write_text(f">g\n{g[:500]}{e}{g[500:]}\n")
    against.write_text(f">whole\n{e}\n")
    real = contamination.decontaminate

    def unmasked(corpus_path, sequences, output, *args, **kwargs):
        counts = real(corpus_path, sequences, output, *args, **kwargs)
        shutil.copyfile(corpus_path, output)
        return counts

    monkeypatch.setattr(contamination, "decontaminate", unmasked)
    argv = ["data", "decontaminate", "--corpus", str(corpus), "--against", str(against), "--output", str(out)]
    assert main(argv) == 1
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"scipt: warning: 1 of 1 evaluation sequences are still verbatim or near in {out} (16-mer "
        "similarity >= 0.5) but lie in no one copy (their shared k-mers scattered over repeats, or a "
        "copy's parts too far apart): left unmasked; exit status 1"
    )


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
    # 16 sequences share half their 16-mers with the genome over repeat families (REP elements, the
    # ldr loci), in no one copy: left unmasked, and said so
    assert code == 0, captured.err
    before, masked, after = captured.out.splitlines()
    assert before.startswith("before: 5,720 of 5,720 evaluation sequences verbatim")
    assert after == f"after: 0 verbatim, 16 verbatim or near, 5,704 clean; wrote {out}"
    assert captured.err.splitlines()[-1].startswith(
        "scipt: warning: 16 of 5,720 evaluation sequences are still verbatim or near"
    )


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
    assert capsys.readouterr().out.splitlines()[1:] == [
        "masked 30 of 110 residues (27.27%) in 1 regions, copies of 1 evaluation sequences",
        f"after: 0 verbatim, 0 verbatim or near, 1 clean; wrote {out}",
    ]
    assert "".join(out.read_text().splitlines()[1:]) == left + "X" * 30 + right
