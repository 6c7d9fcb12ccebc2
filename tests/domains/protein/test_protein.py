import pytest

from sciPT.domains.protein.data import ECOLI_PROTEOME, read_proteins
from sciPT.domains.protein.tokenizer import protein_tokenizer
from sciPT.errors import ConfigError
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
