from pathlib import Path

import numpy as np
import pytest

from sciPT.domains.dna.tokenizer import dna_tokenizer, encode, reverse_complement
from sciPT.errors import ConfigError
from sciPT.registry import domains
from sciPT.sequence_config import TokenizerConfig


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
    from sciPT.domains.dna.kmer import kmer_counts

    # ACGAN: 1-mers A 2, C 1, G 1 (N skipped); 2-mers AC, CG, GA (AN and NA skipped)
    counts = kmer_counts([np.array([0, 1, 2, 0, 4], dtype=np.uint8)], ks=(1, 2))
    assert counts.shape == (1, 4 + 16)
    np.testing.assert_array_equal(counts[0, :4], [2, 1, 1, 0])
    assert {int(i) for i in np.flatnonzero(counts[0, 4:])} == {0 * 4 + 1, 1 * 4 + 2, 2 * 4 + 0}


@pytest.mark.parametrize("C", [0.01, None])
def test_the_kmer_score_is_the_regressions_logit(C):
    from sciPT.domains.dna.kmer import KmerLogisticRegression, KmerScore

    rng = np.random.default_rng(0)
    codes = [rng.integers(0, 4, 30).astype(np.uint8) for _ in range(80)]
    labels = np.array([int((c == 3).sum() > 7) for c in codes])
    fitted = KmerLogisticRegression(C=C).fit(codes, labels)
    score = fitted.score()
    p = fitted.predict_proba(codes)
    # compared as probabilities: scikit-learn computes them in float32 from float32 counts, so a
    # logit of 6 read back from p = 0.9975 is good to about 1e-4 only
    np.testing.assert_allclose(1 / (1 + np.exp(-score(codes))), p, rtol=0, atol=1e-6)
    other = KmerLogisticRegression(C=1.0).fit(codes, labels).score()
    np.testing.assert_allclose(
        KmerScore.mean([score, other])(codes), (score(codes) + other(codes)) / 2, rtol=1e-9
    )


def _regression_problem(n=300, features=40, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features))
    y = (x[:, :3].sum(1) + rng.normal(scale=2.0, size=n) > 0).astype(int)
    return x, y


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cross_validated_c_is_scikit_learns_choice(seed):
    from sklearn.linear_model import LogisticRegressionCV

    from sciPT.domains.dna.kmer import KMER_CS, cross_validated_c

    x, y = _regression_problem(seed=seed)
    reference = LogisticRegressionCV(
        Cs=list(KMER_CS),
        cv=5,
        scoring="neg_log_loss",
        max_iter=5000,
        l1_ratios=(0.0,),
        use_legacy_attributes=False,
    ).fit(x, y)
    assert cross_validated_c(x, y) == float(np.ravel(reference.C_)[0])


def test_cross_validated_c_stops_climbing_after_the_patience(monkeypatch):
    from sklearn.linear_model import LogisticRegression

    from sciPT.domains.dna import kmer

    tried = []
    fit = LogisticRegression.fit

    def counting_fit(self, x, y):
        tried.append(self.C)
        return fit(self, x, y)

    monkeypatch.setattr(LogisticRegression, "fit", counting_fit)
    # pure noise: C beyond the best only overfits, so the path stops short of the grid's top
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(200, 50)), rng.integers(0, 2, 200)
    best = kmer.cross_validated_c(x, y)
    tried_cs = sorted(set(tried))
    assert tried_cs == list(kmer.KMER_CS[: kmer.KMER_CS.index(best) + 1 + kmer.KMER_C_PATIENCE])
    assert len(tried_cs) < len(kmer.KMER_CS)
    assert len(tried) == 5 * len(tried_cs)  # every fold at every C tried


def test_queries_take_ambiguity_codes_as_a_genome_does_and_labelled_data_does_not(tmp_path):
    from sciPT.domains.dna.data import ambiguity_note, read_labelled, read_queries
    from sciPT.errors import DataError

    path = tmp_path / "q.fa"
    path.write_text(">a\nACGT\n>b\nACRY\n>c\nNNNN\n>d\nbdhv\n>e\nskmw\n")
    data = read_queries(path)
    assert [c.tolist() for c in data.codes] == [[0, 1, 2, 3], [0, 1, 4, 4], [4] * 4, [4] * 4, [4] * 4]
    assert ambiguity_note(data) == (
        f"{path}: 3 of 5 sequences held IUPAC ambiguity codes (R Y S W K M B D H V), read as N"
    )
    assert ambiguity_note(data.subset([0, 2])) is None  # N alone is no ambiguity code
    with pytest.raises(DataError) as err:
        read_labelled(path, fasta_label=1)
    assert (
        str(err.value)
        == f"{path}: record 'b' (#2) has 'R' at position 3; expected A, C, G, T or N (either case)"
    )
    # a table's column is named as predict names it
    table = tmp_path / "q.csv"
    table.write_text("name,seq\nx,ACGT\n")
    with pytest.raises(DataError) as err:
        read_queries(table)
    assert (
        str(err.value)
        == f"{table}: no column 'sequence' (columns: name, seq); name it with --sequence-column"
    )
    assert read_queries(table, sequence_column="seq").names == ["x"]


@pytest.mark.parametrize(
    "variant",
    ["utf-8 with a byte-order mark", "semicolons", "labels as floats", "utf-16"],
)
def test_a_table_as_spreadsheets_and_pandas_save_it_reads_as_the_plain_one(tmp_path, variant):
    """Excel's "CSV UTF-8" starts with a byte-order mark, a European Excel separates with
    semicolons, pandas writes a float column's labels as 1.0, and Excel's "Unicode Text" is UTF-16."""
    from sciPT.domains.dna.data import read_labelled, read_queries

    plain = "label,name,sequence\n1,a,ACGTACGTAA\n0,b,TTGACAGGCA\n"
    path = tmp_path / "t.csv"
    if variant == "utf-8 with a byte-order mark":
        path.write_bytes(b"\xef\xbb\xbf" + plain.encode())
    elif variant == "semicolons":
        path.write_text(plain.replace(",", ";"))
    elif variant == "labels as floats":
        path.write_text(plain.replace("\n1,", "\n1.0,").replace("\n0,", "\n0.0,"))
    else:
        path.write_bytes(plain.encode("utf-16"))
    (tmp_path / "plain.csv").write_text(plain)
    ref, read = read_labelled(tmp_path / "plain.csv"), read_labelled(path)
    assert read.names == ref.names == ["a", "b"] and read.labels.tolist() == ref.labels.tolist() == [1, 0]
    assert all((x == y).all() for x, y in zip(read.codes, ref.codes))
    assert read_queries(path).names == ["a", "b"]


def test_a_fasta_with_a_byte_order_mark_is_read(tmp_path):
    from sciPT.domains.dna.data import read_queries

    (tmp_path / "q.fa").write_bytes(b"\xef\xbb\xbf>x\nACGTACGTAC\n")
    assert read_queries(tmp_path / "q.fa").names == ["x"]


def test_shipped_labelled_files_are_found_from_any_directory(tmp_path, monkeypatch):
    # as pre-training finds data_recipes/ corpora: the README's --positives/--negatives examples
    from sciPT.domains.dna.data import read_pair

    monkeypatch.chdir(tmp_path)
    data = read_pair(
        "data_recipes/promoters/sigma24promoter.txt", "data_recipes/promoters/sigma28promoter.txt"
    )
    assert np.bincount(data.labels).tolist() == [134, 484]
    assert data.source.endswith(
        "data_recipes/promoters/sigma24promoter.txt + data_recipes/promoters/sigma28promoter.txt"
    )


def test_only_the_shipped_folder_is_looked_up_in_the_repository(tmp_path, monkeypatch):
    # a missing path of the user's own stays missing, even where the repository holds that path
    from sciPT.files import resolve_data_path

    monkeypatch.chdir(tmp_path)
    assert resolve_data_path("data_recipes/promoters/sigma24promoter.txt").is_absolute()
    assert resolve_data_path("domains/dna/data.py") == Path("domains/dna/data.py")
    assert resolve_data_path("data_recipes/promoters/no_such.txt") == Path(
        "data_recipes/promoters/no_such.txt"
    )


def test_the_kmer_baseline_finds_the_rare_class_at_one_in_eleven():
    """Scored at 0.5 beside neural models that weigh their positives, an unweighted regression
    at 1 positive in 11 called every held-out sequence negative (MCC 0, AUROC 0.85)."""
    from sklearn.metrics import matthews_corrcoef

    from sciPT.domains.dna.kmer import KmerLogisticRegression

    rng = np.random.default_rng(0)

    def sequences(n, motif):
        out = []
        for _ in range(n):
            s = rng.integers(0, 4, 60).astype(np.uint8)
            if motif:
                for at in (5, 30, 50):
                    s[at : at + 6] = [3, 0, 3, 0, 0, 3]  # TATAAT, three times
            out.append(s)
        return out

    train = sequences(10, True) + sequences(100, False)
    test = sequences(10, True) + sequences(100, False)
    labels = np.array([1] * 10 + [0] * 100)
    p = KmerLogisticRegression(C=None, seed=0).fit(train, labels).predict_proba(test)
    assert (p[:10] >= 0.5).sum() >= 9 and matthews_corrcoef(labels, p >= 0.5) > 0.8
    # with nothing to learn it sits at even odds, as the weighted neural models do, not at the
    # prior (1 in 11), which at 0.5 is 'every sequence negative'
    noise = sequences(110, False)
    p = KmerLogisticRegression(C=None, seed=0).fit(noise, labels).predict_proba(test)
    assert 0.35 < p.mean() < 0.65


def test_the_choice_of_c_keeps_a_sequence_and_its_reverse_complement_on_one_side(monkeypatch):
    """Their k-mer counts differ, so grouping equal feature rows split them: C was then chosen on
    held-out parts holding the training sequences' reverse complements."""
    from sciPT import splits
    from sciPT.domains.dna import kmer
    from sciPT.domains.dna.data import DNA_SPEC

    rng = np.random.default_rng(0)
    codes = [rng.integers(0, 4, 40).astype(np.uint8) for _ in range(20)]
    complement = DNA_SPEC.complement_codes()
    codes += [complement[c[::-1]] for c in codes[:6]]  # reverse complements, appended as a file would
    labels = np.array([1, 0] * 10 + [1, 0] * 3)
    seen = []

    def recording(keys, y, folds, **kw):
        out = real(keys, y, folds, **kw)
        seen.extend(out)
        return out

    real = splits.grouped_folds
    monkeypatch.setattr(splits, "grouped_folds", recording)
    kmer.KmerLogisticRegression(C=None, seed=0).fit(codes, labels)
    assert len(seen) >= 2
    for _, held in seen:
        held = set(held.tolist())
        for i in range(6):
            assert (i in held) == (20 + i in held)


def test_the_choice_of_c_takes_fewer_folds_where_a_class_is_small():
    """An outer fold of 6 promoters leaves 4 in its training part: 5 inner folds failed there,
    after the run's first fits."""
    from sciPT.domains.dna.kmer import cross_validated_c

    x, y = _regression_problem(n=40)
    y = np.array([1] * 4 + [0] * 36)
    assert cross_validated_c(x, y) > 0


def test_a_file_a_cold_temperature_rounds_to_probability_zero_is_not_called_windowless(tmp_path, capsys):
    from sciPT.registry import domains

    rng = np.random.default_rng(0)
    big, small = tmp_path / "big.fa", tmp_path / "small.fa"
    big.write_text(">b\n" + "".join("ACGT"[c] for c in rng.integers(0, 4, 20_000)) + "\n")
    small.write_text(">s\n" + "".join("ACGT"[c] for c in rng.integers(0, 4, 140)) + "\n")
    dna = domains.get("dna")
    cfg = dna.presets()["tiny"]()
    cfg.data.paths, cfg.data.temperature = [str(big), str(small)], 0.01  # (13 / 19873) ** 100 = 1e-318
    cfg.data.window, cfg.model.max_len = 128, 128
    dna.build_pretraining(cfg)
    assert "no window is drawn" not in capsys.readouterr().err
    short = tmp_path / "short.fa"
    short.write_text(">t\nACGTACGT\n")  # shorter than a window: truly none
    cfg.data.paths = [str(big), str(short)]
    dna.build_pretraining(cfg)
    assert (
        f"warning: {short}: no record's training part holds a window of 128 residues"
        in capsys.readouterr().err
    )


def test_strand_symmetric_embed_is_the_same_on_either_strand():
    """Pins strand_symmetric_embed: the mean of the embeddings of a sequence and of its reverse
    complement, so a plain (not strand-equivariant) encoder gives one vector for either strand.
    GATTACA and its reverse complement TGTAATC must embed alike; the value is
    0.5 * (embed(GATTACA) + embed(TGTAATC)) computed directly."""
    import torch

    from sciPT.domains.dna.model import strand_symmetric_embed
    from sciPT.nn import TransformerConfig, TransformerEncoder

    tok = dna_tokenizer(TokenizerConfig())
    torch.manual_seed(0)
    cfg = TransformerConfig(vocab_size=tok.vocab_size, d_model=16, n_layers=1, n_heads=2, d_ff=32)
    model = TransformerEncoder(cfg).double().eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3 * torch.randn_like(p))
    codes = [encode("GATTACA"), encode("CCGA")]
    flipped = [reverse_complement(c) for c in codes]
    with torch.no_grad():
        ours = strand_symmetric_embed(model, tok, codes)
        theirs = strand_symmetric_embed(model, tok, flipped)
        one = tok.batch([codes[0]])
        other = tok.batch([flipped[0]])
        direct = 0.5 * (
            model.embed(one["input_ids"], one["attention_mask"])
            + model.embed(other["input_ids"], other["attention_mask"])
        )
    torch.testing.assert_close(ours, theirs)
    torch.testing.assert_close(ours[0], direct[0])
    assert not torch.allclose(ours[0], ours[1])  # not a constant
    # cropped to max_tokens, both strands alike: the mean of the two cropped embeddings
    with torch.no_grad():
        cropped = strand_symmetric_embed(model, tok, codes[:1], max_tokens=4)
        one, other = tok.batch([codes[0]], 4), tok.batch([flipped[0]], 4)
        direct = 0.5 * (
            model.embed(one["input_ids"], one["attention_mask"])
            + model.embed(other["input_ids"], other["attention_mask"])
        )
    torch.testing.assert_close(cropped, direct)


def test_the_genomes_preset_reads_every_shipped_genome():
    """``--preset genomes`` pre-trains on the four shipped genomes, not on E. coli alone: each of
    its paths is a shipped file found from any directory, the tiny preset's E. coli among them."""
    from sciPT.domains.dna.data import read_genome
    from sciPT.files import resolve_data_path

    presets = domains.get("dna").presets()
    cfg, tiny = presets["genomes"](), presets["tiny"]()
    files = [resolve_data_path(p) for p in cfg.data.paths]
    assert len(set(files)) == len(files) == 4 and all(f.is_file() for f in files)
    assert set(tiny.data.paths) < set(cfg.data.paths)
    assert cfg.model == tiny.model
    # four genomes: more records than E. coli's one chromosome
    assert len(read_genome(cfg.data.paths).records) > len(read_genome(tiny.data.paths).records)


@pytest.mark.parametrize(
    ("preset", "kind", "k", "window", "layers", "width"),
    [
        ("tiny", "residue", 1, 128, 2, 64),
        ("small", "kmer", 6, 517, 4, 256),
        ("base", "kmer", 6, 517, 12, 768),
    ],
)
def test_dna_presets_are_the_sizes_their_docstring_names(preset, kind, k, window, layers, width):
    """presets.py and the README name each preset's tokens, window and size (base: DNABERT's 12 x 768):
    a preset that silently grew or shrank would pre-train another model under the same name."""
    dna = domains.get("dna")
    cfg = dna.presets()[preset]()
    assert (cfg.tokenizer.kind, cfg.tokenizer.k if kind == "kmer" else 1) == (kind, k)
    assert dna.tokenizer(cfg.tokenizer).vocab_size == 5 + (5 if kind == "residue" else 4**k)
    assert cfg.data.window == window
    assert (cfg.model.n_layers, cfg.model.d_model) == (layers, width)
    # both strands are read, and 15 % of the tokens masked (in spans of k for k-mers)
    assert cfg.data.reverse_complement
    assert (cfg.objective.kind, cfg.objective.masked.mask_ratio) == ("masked", 0.15)


def test_the_genomes_preset_curates_as_its_docstring_says():
    """The genomes preset's curation is documented (temperature 2, near-duplicates, runs of 16 N,
    3-mer entropy under 3 bits): a changed number drops or keeps other tiles without a word."""
    cfg = domains.get("dna").presets()["genomes"]()
    data = cfg.data
    assert (data.temperature, data.dedup, data.max_n_run, data.min_entropy) == (2.0, "near", 16, 3.0)


def test_encode_takes_either_case_and_refuses_a_letter_that_is_not_dna():
    """encode is how tests and small inputs become codes: a U (RNA) or a typo must fail by name,
    not turn into an out-of-range code."""
    assert encode("acgtn").tolist() == encode("ACGTN").tolist() == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError) as err:
        encode("ACGU")
    assert str(err.value) == "not DNA: 'ACGU'"
