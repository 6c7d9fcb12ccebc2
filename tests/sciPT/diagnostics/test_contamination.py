"""Contamination check and decontamination on a small genome with planted copies."""

import gzip

import numpy as np
import pytest

from sciPT.diagnostics.contamination import (
    check_contamination,
    check_parameters,
    decontaminate,
    mask_code,
    merge_intervals,
)
from sciPT.diagnostics.kmers import KmerSet, kmer_values
from sciPT.domains.dna.data import DNA_SPEC
from sciPT.domains.protein.data import PROTEIN_SPEC
from sciPT.errors import ConfigError, DataError
from sciPT.sequences import Corpus, SequenceFile

K = 12
COMP = DNA_SPEC.complement_codes()
SYMBOLS = np.array(list("ACGTN"))


def text(codes):
    return "".join(SYMBOLS[codes])


def rc(codes):
    return COMP[codes[::-1]]


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """chr1 (2,000 bp) and chr2 (800 bp), random, with copies of evaluation sequences planted.

    a: forward at chr1:100 and again at chr2:400; b: reverse complement at chr1:500;
    c: a copy with substitutions at offsets 15 and 45 at chr2:200; d: nowhere.
    """
    rng = np.random.default_rng(11)
    chr1, chr2 = rng.integers(0, 4, 2000).astype(np.uint8), rng.integers(0, 4, 800).astype(np.uint8)
    a, b, c, d = (rng.integers(0, 4, 60).astype(np.uint8) for _ in range(4))
    near_c = c.copy()
    near_c[[15, 45]] = (near_c[[15, 45]] + 1) % 4
    chr1[100:160], chr1[500:560] = a, rc(b)
    chr2[400:460], chr2[200:260] = a, near_c
    path = tmp_path_factory.mktemp("planted") / "genome.fa"
    path.write_text(f">chr1 first\n{text(chr1)}\n>chr2\n{text(chr2)}\n")
    mask = np.zeros(2800, bool)
    for lo in (100, 500, 2000 + 400, 2000 + 200):
        mask[lo : lo + 60] = True
    return dict(path=path, a=a, b=b, c=c, d=d, genome=np.concatenate([chr1, chr2]), mask=mask)


def test_kmer_packing_by_hand():
    codes = np.array([0, 1, 2, 3, 4, 0, 1], np.uint8)  # A C G T N A C
    values, valid = kmer_values(codes, 2, n_core=4)
    # AC = 0*4+1, CG = 1*4+2, GT = 2*4+3, TN and NA hold N, AC again
    assert values[valid].tolist() == [1, 6, 11, 1]
    assert valid.tolist() == [True, True, True, False, False, True]
    breaks = np.zeros(7, bool)
    breaks[2] = True  # a record starts at G: the k-mer CG spans two records
    assert kmer_values(codes, 2, 4, breaks)[1].tolist() == [True, False, True, False, False, True]
    assert kmer_values(codes, 8, 4)[0].size == 0


def test_kmer_set_lookup():
    s = KmerSet(np.array([3, 10, 1 << 30], np.int64))
    at, idx = s.lookup(np.array([10, 4, 1 << 30, 3, (1 << 30) + (1 << 24)], np.int64))
    assert at.tolist() == [0, 2, 3] and idx.tolist() == [1, 2, 0]  # the last one passes the filter only


def test_verbatim_on_both_strands_near_and_clean(planted):
    corpus = Corpus([str(planted["path"])], DNA_SPEC)
    seqs = [planted[x] for x in "abcd"]
    report = check_contamination(seqs, corpus, k=K, threshold=0.5, progress=False)
    assert report.verbatim.tolist() == [True, True, False, False]
    assert report.near.tolist() == [True, True, True, False]
    assert report.clean.tolist() == [False, False, False, True]
    # c: 49 k-mers; the 12 holding offset 15 and the 12 holding offset 45 are not in the genome
    assert report.similarity.tolist() == [1.0, 1.0, 25 / 49, 0.0]
    assert report.summary() == {"eval_sequences": 4, "verbatim": 2, "near": 3, "clean": 1, "unchecked": 0}
    assert report.sentence() == (
        "Contamination: of 4 evaluation sequences, 2 (50.0%) occur verbatim in the pre-training corpus "
        "(either strand) and 3 (75.0%) verbatim or nearly (12-mer similarity >= 0.5); 1 are clean."
    )
    # a higher threshold leaves the near copy out; verbatim ones stay near
    assert check_contamination(seqs, corpus, k=K, threshold=0.6, progress=False).near.tolist() == [
        True,
        True,
        False,
        False,
    ]


def test_sequences_without_a_kmer_are_clean_but_counted_as_unchecked(planted):
    """A piece of the genome shorter than k and a run of N hold no k-mer: neither can be checked."""
    corpus = Corpus([str(planted["path"])], DNA_SPEC)
    seqs = [planted["a"], planted["a"][: K - 1], np.full(30, 4, np.uint8)]
    report = check_contamination(seqs, corpus, k=K, progress=False)
    assert report.clean.tolist() == [False, True, True] and report.unchecked.tolist() == [False, True, True]
    assert report.summary()["unchecked"] == 2
    assert report.sentence().endswith(
        "; 2 are clean, of which 2 could not be checked (no 12 consecutive known residues)."
    )


def test_one_strand_only_without_complement(planted):
    corpus = Corpus([str(planted["path"])], DNA_SPEC)
    report = check_contamination([planted["a"], planted["b"]], corpus, k=K, complement=None, progress=False)
    assert report.verbatim.tolist() == [True, False] and report.similarity[1] == 0.0
    assert "(as given)" in report.sentence()


def test_all_kmers_present_is_not_verbatim(tmp_path):
    # s[0:22] and s[10:30] hold every 12-mer of s (starts 0-10 and 10-18), but s itself is nowhere
    rng = np.random.default_rng(3)
    s = rng.integers(0, 4, 30).astype(np.uint8)
    fill = [rng.integers(0, 4, 50).astype(np.uint8) for _ in range(3)]
    path = tmp_path / "g.fa"
    path.write_text(f">g\n{text(np.concatenate([fill[0], s[:22], fill[1], s[10:], fill[2]]))}\n")
    report = check_contamination([s], Corpus([str(path)], DNA_SPEC), k=K, progress=False)
    assert report.similarity.tolist() == [1.0] and report.verbatim.tolist() == [False]


def test_no_copy_across_records(tmp_path):
    rng = np.random.default_rng(5)
    r1, r2 = rng.integers(0, 4, 100).astype(np.uint8), rng.integers(0, 4, 100).astype(np.uint8)
    path = tmp_path / "g.fa"
    path.write_text(f">r1\n{text(r1)}\n>r2\n{text(r2)}\n")
    spanning = np.concatenate([r1[-30:], r2[:30]])  # contiguous in the memory map, not in the genome
    report = check_contamination([spanning], Corpus([str(path)], DNA_SPEC), k=K, progress=False)
    # 49 k-mers: 19 inside r1's tail, 19 inside r2's head, the 11 across the junction nowhere
    assert report.similarity.tolist() == [38 / 49] and report.verbatim.tolist() == [False]


def test_short_and_n_sequences_are_unchecked(planted):
    corpus = Corpus([str(planted["path"])], DNA_SPEC)
    too_short, all_n = planted["a"][: K - 1], np.full(40, 4, np.uint8)
    report = check_contamination([too_short, all_n], corpus, k=K, progress=False)
    assert report.similarity.tolist() == [0.0, 0.0] and not report.near.any()


def test_decontaminate_masks_exactly_the_copies(planted, tmp_path):
    seqs = [planted[x] for x in "abcd"]
    out = tmp_path / "clean.fa.gz"
    counts = decontaminate(planted["path"], seqs, out, DNA_SPEC, k=K, threshold=0.5, progress=False)
    assert counts == {
        "eval_sequences": 4,
        "verbatim_before": 2,
        "near_before": 3,
        "masked_sequences": 3,
        "regions": 4,
        "masked_bases": 240,
        "corpus_bases": 2800,
    }
    assert gzip.open(out, "rt").read().startswith(">chr1\n" + text(planted["genome"][:60]) + "\n")
    cleaned = SequenceFile(out, DNA_SPEC)
    assert cleaned.names == ["chr1", "chr2"] and cleaned.lengths.tolist() == [2000, 800]
    codes = np.asarray(cleaned.codes)
    assert (codes[planted["mask"]] == 4).all()
    assert np.array_equal(codes[~planted["mask"]], planted["genome"][~planted["mask"]])
    after = check_contamination(seqs, Corpus([str(out)], DNA_SPEC), k=K, progress=False)
    assert after.summary() == {"eval_sequences": 4, "verbatim": 0, "near": 0, "clean": 4, "unchecked": 0}
    # the same input gives the same bytes (no time stamp in the gzip header)
    again = tmp_path / "again.fa.gz"
    decontaminate(planted["path"], seqs, again, DNA_SPEC, k=K, progress=False)
    assert again.read_bytes() == out.read_bytes()


def test_decontaminate_plain_output_and_refuses_to_overwrite_the_corpus(planted, tmp_path):
    out = tmp_path / "clean.fa"
    decontaminate(planted["path"], [planted["d"]], out, DNA_SPEC, k=K, progress=False)
    lines = out.read_text().splitlines()
    assert lines[0] == ">chr1" and {len(x) for x in lines[1:34]} == {60}
    assert lines[34] == text(planted["genome"][1980:2000]) and lines[35] == ">chr2"
    with pytest.raises(DataError) as err:
        decontaminate(out, [planted["d"]], out, DNA_SPEC, k=K, progress=False)
    assert str(err.value) == f"{out}: is the corpus itself; write the decontaminated copy to another file"


def test_merge_intervals():
    start, stop = merge_intervals(np.array([50, 0, 10, 30]), np.array([60, 10, 20, 40]))
    assert start.tolist() == [0, 30, 50] and stop.tolist() == [20, 40, 60]  # touching intervals merge


def test_mask_symbol_and_parameter_errors():
    assert DNA_SPEC.alphabet.symbols[mask_code(DNA_SPEC)] == "N"
    assert PROTEIN_SPEC.alphabet.symbols[mask_code(PROTEIN_SPEC)] == "X"
    with pytest.raises(ConfigError) as err:
        check_parameters(32, 0.5, 4, prefix="--")
    assert str(err.value) == "--k: expected an integer from 1 to 31 for an alphabet of 4 residues, got 32"
    with pytest.raises(ConfigError) as err:
        check_parameters(13, 0.5, 20)
    assert str(err.value) == "k: expected an integer from 1 to 12 for an alphabet of 20 residues, got 13"
    with pytest.raises(ConfigError) as err:
        check_parameters(16, 0.0, 4)
    assert str(err.value) == "threshold: expected a fraction in (0, 1], got 0"


def test_a_sequence_exactly_at_the_threshold_is_near(tmp_path):
    """The threshold is "similarity at least this": a sequence sharing exactly half its k-mers
    with the corpus at threshold 0.5 is near, not clean (its scores kept out of the clean metrics)."""
    # AAAACACCCAACC, 13 bases: 4-mers AAAA AAAC AACA ACAC CACC | ACCC CCCA CCAA CAAC AACC, 10 distinct;
    # the corpus holds its first 8 bases AAAACACC: the first 5 of them: similarity 5 / 10 = 0.5.
    # Its reverse complement is all G and T: none of its 4-mers in the corpus (A and C only)
    s = np.array(["ACGT".index(c) for c in "AAAACACCCAACC"], np.uint8)
    path = tmp_path / "g.fa"
    path.write_text(">g\nAAAACACC\n")
    report = check_contamination([s], Corpus([str(path)], DNA_SPEC), k=4, threshold=0.5, progress=False)
    assert report.similarity.tolist() == [0.5] and report.verbatim.tolist() == [False]
    assert report.near.tolist() == [True] and report.summary()["clean"] == 0
