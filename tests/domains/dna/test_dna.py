import numpy as np
import pytest

from sciPT.domains.dna.tokenizer import dna_tokenizer, encode, reverse_complement
from sciPT.errors import ConfigError
from sciPT.registry import domains
from sciPT.sequence_domain import TokenizerConfig


def test_reverse_complement_by_hand():
    assert reverse_complement(encode("AACGTN")).tolist() == encode("NACGTT").tolist()
    assert reverse_complement(reverse_complement(encode("GATTACA"))).tolist() == encode("GATTACA").tolist()


@pytest.mark.parametrize("k", [3, 4, 5, 6])
def test_kmer_vocabulary_sizes(k):
    assert dna_tokenizer(TokenizerConfig(kind="kmer", k=k)).vocab_size == 5 + 4**k


def test_kmer_out_of_range():
    with pytest.raises(ConfigError) as err:
        dna_tokenizer(TokenizerConfig(kind="kmer", k=8))
    assert str(err.value) == "tokenizer.k: expected 3 to 6 for DNA k-mers, got 8"


@pytest.mark.parametrize("preset", ["tiny", "small", "base", "promoter", "genomes"])
def test_presets_are_consistent(preset):
    dna = domains.get("dna")
    cfg = dna.presets()[preset]()
    tok = dna.tokenizer(cfg.tokenizer)
    assert tok.n_tokens(cfg.data.window) <= cfg.model.max_len
    if cfg.tokenizer.kind == "kmer":  # masked spans cover a k-mer's overlap
        assert cfg.objective.masked.span >= cfg.tokenizer.k


def test_promoter_preset_fills_the_tiny_models_windows_with_3mers():
    cfg = domains.get("dna").presets()["promoter"]()
    tiny = domains.get("dna").presets()["tiny"]()
    assert (cfg.tokenizer.kind, cfg.tokenizer.k, cfg.objective.masked.span) == ("kmer", 3, 3)
    assert cfg.model == tiny.model
    # 130 bp -> 128 overlapping 3-mers: every position of the 128-token model is used
    assert domains.get("dna").tokenizer(cfg.tokenizer).n_tokens(cfg.data.window) == cfg.model.max_len == 128
    assert cfg.train.max_steps == 60_000


def test_shipped_genome_statistics():
    from sciPT.domains.dna.data import ECOLI_GENOME, read_genome

    corpus = read_genome([ECOLI_GENOME])
    assert corpus.lengths.tolist() == [4_641_652]
    # E. coli is close to uniform (GC 50.8%): order-0 entropy just under ln 4.
    assert 1.384 < corpus.order0_entropy(4) < np.log(4)


def test_kmer_counts_by_hand():
    from sciPT.domains.dna.model import kmer_counts

    # ACGAN: 1-mers A 2, C 1, G 1 (N skipped); 2-mers AC, CG, GA (AN and NA skipped)
    counts = kmer_counts([np.array([0, 1, 2, 0, 4], dtype=np.uint8)], ks=(1, 2))
    assert counts.shape == (1, 4 + 16)
    np.testing.assert_array_equal(counts[0, :4], [2, 1, 1, 0])
    assert {int(i) for i in np.flatnonzero(counts[0, 4:])} == {0 * 4 + 1, 1 * 4 + 2, 2 * 4 + 0}


@pytest.mark.parametrize("C", [0.01, None])
def test_the_kmer_score_is_the_regressions_logit(C):
    from sciPT.domains.dna.model import KmerLogisticRegression, KmerScore

    rng = np.random.default_rng(0)
    codes = [rng.integers(0, 4, 30).astype(np.uint8) for _ in range(80)]
    labels = np.array([int((c == 3).sum() > 7) for c in codes])
    fitted = KmerLogisticRegression(C=C).fit(codes, labels)
    score = fitted.score()
    p = fitted.predict_proba(codes)
    np.testing.assert_allclose(score(codes), np.log(p / (1 - p)), rtol=1e-6, atol=1e-6)
    other = KmerLogisticRegression(C=1.0).fit(codes, labels).score()
    np.testing.assert_allclose(
        KmerScore.mean([score, other])(codes), (score(codes) + other(codes)) / 2, rtol=1e-9
    )
