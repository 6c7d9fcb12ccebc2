import numpy as np
import pytest

from sciPT.domains.protein.data import ECOLI_PROTEOME, read_proteins, refuse_nucleotides
from sciPT.domains.protein.tokenizer import protein_tokenizer
from sciPT.errors import ConfigError, DataError
from sciPT.registry import domains
from sciPT.sequence_config import TokenizerConfig


def test_vocabulary():
    tok = protein_tokenizer(TokenizerConfig())
    assert tok.vocab_size == 5 + 23
    assert tok.encode("MKU").tolist() == [5 + "ACDEFGHIKLMNPQRSTVWYUOX".index(c) for c in "MKU"]


def test_kmer_limit():
    with pytest.raises(ConfigError, match=r"^tokenizer.k: expected 1 to 3 for protein k-mers, got 4$"):
        protein_tokenizer(TokenizerConfig(kind="kmer", k=4))


def test_shipped_proteome():
    corpus = read_proteins([ECOLI_PROTEOME])
    assert len(corpus.records) == 4298


def test_crops_are_padded_not_skipped():
    protein = domains.get("protein")
    cfg = protein.presets()["tiny"]()
    setup = protein.build_pretraining(cfg)
    dm = setup.datamodule
    lengths = [len(dm.train_set[g]) for g in range(200)]
    assert max(lengths) == cfg.data.window and min(lengths) < cfg.data.window


def help_entries(capsys, monkeypatch, domain):
    """``{flag: its help}`` of ``scipt pretrain DOMAIN --help``, as printed (one line each)."""
    from sciPT.cli import main

    monkeypatch.setenv("COLUMNS", "1000")  # argparse wraps at the terminal width
    with pytest.raises(SystemExit) as done:
        main(["pretrain", domain, "--help"])
    assert done.value.code == 0
    lines = capsys.readouterr().out.splitlines()
    return {
        line.split()[0]: nxt.strip()
        for line, nxt in zip(lines, lines[1:])
        if line.startswith("  --") and nxt.startswith(" " * 24)
    }


def test_dedup_help_says_strands_are_dna_only(capsys, monkeypatch):
    protein = help_entries(capsys, monkeypatch, "protein")
    assert protein["--data.dedup"] == (
        "remove duplicate tiles: none, exact (identical residues; DNA: on either strand) or near "
        "(exact, and a MinHash Jaccard of dedup_k-mers at least dedup_threshold). (default: none)"
    )
    assert protein["--data.dedup-k"] == (
        "near: k-mer length of the similarity (DNA: canonical k-mers, so either strand; proteins: "
        "k-mers as read). (default: 12)"
    )


# 176 of 180 residues A/C/G/T/N, soft-masked in part: a DNA FASTA, whose letters are all amino acids too
DNA = ">chr1 soft-masked\n" + "acgt" * 10 + "ACGTN" * 24 + "ACGT" * 4 + "\n>chr2\n" + "MKLV\n"


@pytest.mark.parametrize("streaming", [False, True])
def test_a_dna_corpus_is_refused_as_protein(tmp_path, streaming):
    path = tmp_path / "genome.fa"
    path.write_text(DNA)
    protein = domains.get("protein")
    cfg = protein.presets()["tiny"]()
    cfg.data.paths, cfg.data.streaming = [str(path)], streaming
    with pytest.raises(DataError) as err:
        protein.build_pretraining(cfg)
    assert str(err.value) == (
        f"{path}: reads as nucleotides (98 % A/C/G/T/U/N), not protein: is this the DNA corpus? "
        "(pretrain dna reads it)"
    )


def test_a_dna_file_named_fifth_is_judged_and_a_folder_by_its_first_files(tmp_path):
    protein = domains.get("protein")
    proteins = []
    for i in range(4):
        proteins.append(tmp_path / f"p{i}.faa")
        proteins[-1].write_text(f">p{i}\n" + "MKLVWYFHEDRQ" * 20 + "\n")
    (tmp_path / "genome.fa").write_text(DNA)
    cfg = protein.presets()["tiny"]()
    cfg.data.paths = [*map(str, proteins), str(tmp_path / "genome.fa")]
    with pytest.raises(DataError) as err:
        protein.build_pretraining(cfg)
    assert str(err.value).startswith(f"{tmp_path / 'genome.fa'}: reads as nucleotides (98 %")
    # shards: the first four of a folder stand for it (every rank would read thousands)
    shards = tmp_path / "shards"
    shards.mkdir()
    for i, path in enumerate([*proteins, tmp_path / "genome.fa"]):
        (shards / f"s{i}.fa").write_text(path.read_text())
    judged = protein.judged_files([str(shards), str(proteins[0])])
    assert judged == [shards / f"s{i}.fa" for i in range(4)] + [proteins[0]]


def test_pretrain_protein_on_a_dna_file_exits_2_before_the_run_starts(tmp_path, capsys):
    from sciPT.cli import main

    (tmp_path / "genome.fa").write_text(DNA)
    out = tmp_path / "run"
    assert main(["pretrain", "protein", "--data", str(tmp_path / "genome.fa"), "--out", str(out)]) == 2
    assert capsys.readouterr().err == (
        f"scipt: error: {tmp_path / 'genome.fa'}: reads as nucleotides (98 % A/C/G/T/U/N), not protein: "
        "is this the DNA corpus? (pretrain dna reads it)\n"
    )
    assert not out.exists()


def test_proteins_and_a_few_nucleotide_like_peptides_are_not_taken_for_dna(tmp_path, repo):
    peptides = tmp_path / "silk.fa"
    peptides.write_text(">silk\n" + "GAGAGS" * 10 + "\n")  # all but S nucleotide letters, but 60 residues
    refuse_nucleotides([repo / ECOLI_PROTEOME, peptides, tmp_path / "missing.fa"])


def test_records_with_no_sequence_are_read_around_and_said(tmp_path, capsys):
    """A record with no residues (a placeholder) holds nothing to sample: allowed, and said."""
    fasta = tmp_path / "p.fa"
    fasta.write_text(">a\n" + "MKV" * 40 + "\n>empty\n>b\n" + "ACD" * 40 + "\n>also_empty\n\n")
    protein = domains.get("protein")
    cfg = protein.presets()["tiny"]()
    cfg.data.paths = [str(fasta)]
    setup = protein.build_pretraining(cfg)
    assert setup.report["corpus_records"] == 4 and setup.report["corpus_residues"] == 240
    assert (
        f"warning: {fasta}: 2 of 4 records have no sequence; nothing is read from them"
        in capsys.readouterr().err
    )


def test_a_protein_run_refuses_a_dna_file_to_evaluate_or_embed(tmp_path, capsys, repo):
    """As pre-training does: a protein model would score or embed DNA without a word."""
    import gzip

    from sciPT.cli import main
    from sciPT.testing import FAST_SEQUENCE_FLAGS

    proteins = tmp_path / "proteins.faa"
    with gzip.open(repo / ECOLI_PROTEOME, "rt") as f:
        proteins.write_text("".join(next(f) for _ in range(200)))
    run = tmp_path / "run"
    args = ["--data", str(proteins), "--window", "32", "--out", str(run)]
    assert main(["pretrain", "protein", *args, *FAST_SEQUENCE_FLAGS]) == 0
    capsys.readouterr()
    (tmp_path / "genome.fa").write_text(DNA)
    (tmp_path / "genome.csv").write_text(
        "name,sequence\n" + "".join(f"r{i},{'ACGTN' * 20}\n" for i in range(3))
    )
    out = tmp_path / "embeddings.csv"
    for name, command in (
        ("genome.fa", ["evaluate", str(run), "--data", str(tmp_path / "genome.fa")]),
        ("genome.fa", ["predict", str(run), "--input", str(tmp_path / "genome.fa"), "--output", str(out)]),
        ("genome.csv", ["predict", str(run), "--input", str(tmp_path / "genome.csv"), "--output", str(out)]),
    ):
        share = "98" if name == "genome.fa" else "100"
        assert main([*command, *(["--embed"] if command[0] == "predict" else [])]) == 2
        assert capsys.readouterr().err == (
            f"scipt: error: {tmp_path / name}: reads as nucleotides ({share} % A/C/G/T/U/N), not protein: "
            "is this a DNA file? (a dna run reads it)\n"
        )
    assert main(["evaluate", str(run), "--data", str(tmp_path)]) == 2
    assert (
        capsys.readouterr().err
        == f"scipt: error: {tmp_path}: a directory, not a file (expected a FASTA file)\n"
    )
    assert not out.exists() and not (run / "evaluations").exists()
    assert main(["predict", str(run), "--input", str(proteins), "--output", str(out), "--embed"]) == 0


def test_one_terminal_stop_is_dropped_a_second_is_refused_and_a_bad_character_is_named_as_written(tmp_path):
    fasta = tmp_path / "p.faa"
    fasta.write_text(">a\nMKLV*\n")
    assert [int(n) for f in read_proteins([fasta]).files for n in f.lengths] == [4]
    fasta.write_text(">a\nMKLV**\n")
    with pytest.raises(DataError) as err:
        read_proteins([fasta])
    assert str(err.value).startswith(f"{fasta}: record 'a' (#1) has '*' at position 5; expected ")
    fasta.write_text(">a\nMKé\n", encoding="utf-8")
    with pytest.raises(DataError) as err:
        read_proteins([fasta])
    assert str(err.value).startswith(f"{fasta}: record 'a' (#1) has 'é' at position 3; expected ")


def test_a_file_over_nine_tenths_nucleotide_letters_is_refused(tmp_path):
    """The limit is 90 % of the residues: 93 of 100 in A/C/G/T is over it."""
    path = tmp_path / "mostly.fa"
    path.write_text(">p\n" + "ACGT" * 23 + "A" + "W" * 7 + "\n")  # 92 + 1 = 93 of 100 residues
    with pytest.raises(DataError) as err:
        refuse_nucleotides([path])
    assert str(err.value) == (
        f"{path}: reads as nucleotides (93 % A/C/G/T/U/N), not protein: is this the DNA corpus? "
        "(pretrain dna reads it)"
    )


def test_protein_presets_mask_fifteen_percent_of_residues_one_at_a_time():
    """Every protein preset pre-trains ESM-style: a masked objective over 15 % of the residues,
    each masked alone (span 1)."""
    for name, preset in domains.get("protein").presets().items():
        objective = preset().objective
        assert (objective.kind, objective.masked.mask_ratio, objective.masked.span) == ("masked", 0.15, 1), (
            name
        )


def test_ambiguity_codes_b_z_j_read_as_x_and_u_o_as_themselves(tmp_path):
    """B, Z and J name no one residue: read as the unknown X; U and O are real residues."""
    fasta = tmp_path / "p.faa"
    fasta.write_text(">a\nMbZjUOX\n")
    corpus = read_proteins([fasta])
    symbols = "ACDEFGHIKLMNPQRSTVWYUOX"
    assert corpus.codes(0, 0, 7).tolist() == [symbols.index(c) for c in "MXXXUOX"]


def test_an_rna_corpus_is_refused_as_protein(tmp_path):
    """U is a nucleotide letter too: an RNA FASTA passed as protein is stopped as DNA is."""
    path = tmp_path / "rna.fa"
    path.write_text(">r\n" + "ACGU" * 25 + "\n")
    with pytest.raises(DataError) as err:
        refuse_nucleotides([path])
    assert str(err.value).startswith(f"{path}: reads as nucleotides (100 % A/C/G/T/U/N), not protein")


def test_exactly_nine_tenths_nucleotide_letters_is_not_refused(tmp_path):
    """The limit is 'over 90 %': 90 of 100 residues in A/C/G/T is a (strange) protein, not DNA."""
    path = tmp_path / "edge.fa"
    path.write_text(">p\n" + "ACGT" * 22 + "AC" + "W" * 10 + "\n")  # 90 of 100
    refuse_nucleotides([path])


def test_a_missing_file_does_not_stop_the_judging_of_the_files_after_it(tmp_path):
    """A missing path is left to the reader; a DNA file named after it is still refused."""
    path = tmp_path / "genome.fa"
    path.write_text(DNA)
    with pytest.raises(DataError, match="reads as nucleotides"):
        refuse_nucleotides([tmp_path / "missing.fa", path])


def test_sequences_already_read_are_judged_as_a_file_is():
    """A table's sequences (as protein codes) over 90 % nucleotide letters are refused, N counted."""
    from sciPT.domains.protein.data import PROTEIN_SPEC, refuse_nucleotide_sequences

    symbols = PROTEIN_SPEC.alphabet.symbols
    codes = [np.array([symbols.index(c) for c in "ACGTN" * 20], dtype=np.uint8)]
    with pytest.raises(DataError) as err:
        refuse_nucleotide_sequences(codes, "t.csv", "a hint")
    assert str(err.value) == "t.csv: reads as nucleotides (100 % A/C/G/T/U/N), not protein: a hint"
    proteins = [np.array([symbols.index(c) for c in "MKLVWYFHEDRQ" * 10], dtype=np.uint8)]
    refuse_nucleotide_sequences(proteins, "p.csv", "a hint")


@pytest.mark.parametrize(
    ("preset", "window", "layers", "width", "heads"),
    [("tiny", 128, 2, 64, 4), ("small", 512, 6, 320, 20), ("base", 1024, 12, 480, 20)],
)
def test_protein_presets_are_the_sizes_their_docstring_names(preset, window, layers, width, heads):
    """presets.py names each preset's crop and size (small and base: ESM-2 8M's 6 x 320 and 35M's
    12 x 480, 20 heads each): a preset that silently changed would pre-train another model under
    the same name, and one with 10 heads would no longer load as its ESM-2 twin."""
    protein = domains.get("protein")
    cfg = protein.presets()[preset]()
    assert cfg.data.window == cfg.model.max_len == window
    assert (cfg.model.n_layers, cfg.model.d_model, cfg.model.n_heads) == (layers, width, heads)
    assert protein.tokenizer(cfg.tokenizer).vocab_size == 5 + 23  # one token per residue


def test_a_file_under_a_hundred_residues_is_not_judged_and_one_of_a_hundred_is(tmp_path):
    """Short peptides can be almost all G/A repeats (silk): under 100 residues a file is not judged,
    so a user's handful of peptides is not refused as DNA; from 100 residues on it is."""
    peptides = tmp_path / "silk.fa"
    peptides.write_text(
        ">silk\n" + "GAGAGAGAGAGAGAGAGAGS" * 4 + "GAGAGAGAGAGAGAGAGS" + "\n"
    )  # 98 residues, 93 G/A
    refuse_nucleotides([peptides])
    hundred = tmp_path / "hundred.fa"
    hundred.write_text(">silk\n" + "GAGAGAGAGAGAGAGAGAGS" * 5 + "\n")  # 100 residues, 95 G/A
    with pytest.raises(DataError, match=r"reads as nucleotides \(95 % A/C/G/T/U/N\)"):
        refuse_nucleotides([hundred])


def test_a_header_longer_than_one_read_is_not_counted_as_residues(tmp_path):
    """Lines are read 64 KiB at a time: the rest of a very long header (a UniProt record with a long
    description, here 70,000 letters) is still header, not residues that could make a protein
    file read as DNA."""
    path = tmp_path / "long_header.faa"
    path.write_text(">p " + "ACGT" * 17_500 + "\n" + "MKLVWYFHEDRQ" * 20 + "\n")
    refuse_nucleotides([path])


def test_a_proteome_is_judged_on_its_first_hundred_thousand_residues(tmp_path):
    """Judged on the first 100,000 residues: not on a first few G/A-rich peptides (a proteome
    refused for its first record), and not on the whole file (a genome read for the judgement)."""
    protein = ">p\n" + ("MKLVWYFHEDRQSTNPIC" * 5 + "MKLVWYFHED\n") * 1000  # 100,000 residues, 1,000 lines
    rich = tmp_path / "rich_first.faa"
    rich.write_text(">gly\n" + "GAGAGAGAGA" * 200 + "\n" + protein)  # 2,000 G/A first, then protein
    refuse_nucleotides([rich])
    # 100,000 protein residues, then 1,000,000 nucleotide letters: never looked at
    tail = tmp_path / "protein_then_dna.faa"
    tail.write_text(protein + ">dna\n" + ("ACGT" * 25 + "\n") * 10_000)
    refuse_nucleotides([tail])
