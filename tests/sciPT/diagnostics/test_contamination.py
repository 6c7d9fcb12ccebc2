"""Contamination check and decontamination on a small genome with planted copies."""

import gzip

import numpy as np
import pytest

from sciPT.diagnostics import kmers
from sciPT.diagnostics.contamination import (
    ContaminationReport,
    check_contamination,
    check_parameters,
    decontaminate,
    default_k,
    mask_code,
    merge_intervals,
    refuse_unseen,
    write_masked_fasta,
)
from sciPT.diagnostics.kmers import KmerSet, kmer_values
from sciPT.domains.dna.data import DNA_SPEC
from sciPT.domains.dna.tokenizer import encode
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


def packed(kmer, symbols="ACGT", bits=2):
    """A k-mer's packed value by hand: first residue in the highest bits."""
    value = 0
    for c in kmer:
        value = (value << bits) | symbols.index(c)
    return value


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 7, 1000])
def test_a_chunked_scan_yields_every_kmer_inside_a_record_once(tmp_path, monkeypatch, chunk):
    """Chunks overlap by k - 1 and record starts break k-mers wherever a chunk ends: a k-mer lost at
    a chunk edge, or one spanning two records, would change every count on a real genome."""
    records = ["ACGTACGTAC", "GGNTTACG", "CA", "TTTTGGGGCC", "A", "CCGTA"]
    path = tmp_path / "g.fa"
    path.write_text("".join(f">r{i}\n{r}\n" for i, r in enumerate(records)))
    monkeypatch.setattr(kmers, "CHUNK", chunk)
    expected, start = [], 0
    for r in records:
        expected += [(start + i, packed(r[i : i + 3])) for i in range(len(r) - 2) if "N" not in r[i : i + 3]]
        start += len(r)
    found = [
        (p, v)
        for _, _, pos, values in kmers._scan(Corpus([str(path)], DNA_SPEC), 3, "", False)
        for p, v in zip(pos.tolist(), values.tolist())
    ]
    assert found == expected


@pytest.mark.parametrize("k", [3, 5, 7, 12, 16, 31])
def test_kmer_packing_up_to_the_longest_k(k):
    """Every k up to 31 (62 bits) packs each window exactly; a packing that drops or overlaps
    residues would make unrelated k-mers equal and report contamination that is not there."""
    rng = np.random.default_rng(k)
    seq = "".join(rng.choice(list("ACGT"), 40))
    values, valid = kmer_values(encode(seq), k, n_core=4)
    assert valid.all() and values.tolist() == [packed(seq[i : i + k]) for i in range(41 - k)]


def test_protein_kmers_pack_five_bits_a_residue_up_to_k_12():
    """Proteins pack 5 bits a residue (20 amino acids), 12 residues in 60 bits; X and the non-core
    U and O invalidate a k-mer."""
    symbols = PROTEIN_SPEC.alphabet.symbols
    seq = "MKWVTFISLLYLLFSSAYSRGV"
    codes = np.array([symbols.index(c) for c in seq], np.uint8)
    values, valid = kmer_values(codes, 12, n_core=20)
    assert valid.all() and values.tolist() == [packed(seq[i : i + 12], symbols, 5) for i in range(11)]
    with_x = codes.copy()
    with_x[[3, 20]] = symbols.index("X"), symbols.index("U")
    valid = kmer_values(with_x, 12, n_core=20)[1]
    assert valid.tolist() == [False] * 4 + [True] * 5 + [False] * 2  # starts 4-8 avoid both


def test_protein_contamination_is_checked_as_given_with_x_skipped(tmp_path):
    """A protein has no reverse complement: only the given strand is searched, at the alphabet's
    longest k (12), and a k-mer with X is never shared."""
    rng = np.random.default_rng(8)
    aa = np.array(list(PROTEIN_SPEC.alphabet.symbols[:20]))
    p, q, fill = ("".join(rng.choice(aa, n)) for n in (30, 30, 100))
    q_x = q[:15] + "X" + q[16:]
    path = tmp_path / "p.fa"
    path.write_text(f">a\n{fill[:50]}{p}{fill[50:]}{q_x}\n")
    enc = [np.array([PROTEIN_SPEC.alphabet.symbols.index(c) for c in s], np.uint8) for s in (p, q, p[::-1])]
    report = check_contamination(enc, Corpus([str(path)], PROTEIN_SPEC), k=default_k(20), progress=False)
    # q: 19 k-mers, those holding position 15 (starts 4-15) are missing: 7 / 19 shared
    assert report.verbatim.tolist() == [True, False, False]
    assert report.similarity.tolist() == [1.0, 7 / 19, 0.0]
    assert "(as given)" in report.sentence() and "(12-mer similarity >= 0.5)" in report.sentence()


def test_default_k_is_16_or_the_longest_the_alphabet_packs():
    assert default_k(4) == 16 and default_k(20) == 12


def test_verbatim_copies_at_the_very_ends_of_records(tmp_path):
    """A copy ending at the last base of a record, or starting at the first base of the next, is
    inside its record: it is verbatim, and decontamination masks exactly it."""
    rng = np.random.default_rng(21)
    s1, s2, fill1, fill2 = (rng.integers(0, 4, n).astype(np.uint8) for n in (40, 40, 100, 100))
    path = tmp_path / "g.fa"
    path.write_text(f">r1\n{text(np.concatenate([fill1, s1]))}\n>r2\n{text(np.concatenate([s2, fill2]))}\n")
    report = check_contamination([s1, s2], Corpus([str(path)], DNA_SPEC), k=K, progress=False)
    assert report.verbatim.tolist() == [True, True] and report.similarity.tolist() == [1.0, 1.0]
    out = tmp_path / "clean.fa"
    counts = decontaminate(path, [s1, s2], out, DNA_SPEC, k=K, progress=False)
    assert (counts["regions"], counts["masked_bases"]) == (1, 80)  # r1's last 40 and r2's first 40 touch
    assert out.read_text().replace("\n", "") == ">r1" + text(fill1) + "N" * 40 + ">r2" + "N" * 40 + text(
        fill2
    )


def test_verbatim_is_found_when_the_first_kmer_is_common(tmp_path):
    """The exact comparison starts from the rarest k-mer, at its offset in the sequence: a sequence
    whose first k-mer is repeated all over the corpus is still found verbatim."""
    rng = np.random.default_rng(4)
    s = rng.integers(0, 4, 40).astype(np.uint8)
    fill = [rng.integers(0, 4, 30).astype(np.uint8) for _ in range(4)]
    genome = np.concatenate([fill[0], s[:K], fill[1], s[:K], fill[2], s, fill[3]])
    path = tmp_path / "g.fa"
    path.write_text(f">g\n{text(genome)}\n")
    report = check_contamination([s], Corpus([str(path)], DNA_SPEC), k=K, progress=False)
    assert report.verbatim.tolist() == [True]


def test_partial_copies_are_masked_up_to_their_record_edge_never_into_the_next(tmp_path):
    """A locus's image is clipped to the record its k-mers lie in: a partial copy at the start or
    end of a record masks nothing of the neighbouring record. t occurs on both strands: one
    sequence masked, at two regions."""
    rng = np.random.default_rng(17)
    s, t = rng.integers(0, 4, 60).astype(np.uint8), rng.integers(0, 4, 60).astype(np.uint8)
    r1, r2, r3 = (rng.integers(0, 4, n).astype(np.uint8) for n in (200, 100, 200))
    r1[160:200] = rc(t)[:40]  # 29 of the 49 k-mers of rc(t), its image runs 20 bases past r1's end
    r2[30:90] = t
    r3[0:40] = s[20:]  # 29 of the 49 k-mers of s, its image starts 20 bases before r3
    path = tmp_path / "g.fa"
    path.write_text(f">r1\n{text(r1)}\n>r2\n{text(r2)}\n>r3\n{text(r3)}\n")
    out = tmp_path / "clean.fa"
    counts = decontaminate(path, [s, t], out, DNA_SPEC, k=K, threshold=0.5, progress=False)
    assert (counts["masked_sequences"], counts["regions"], counts["masked_bases"]) == (2, 3, 140)
    mask = np.zeros(500, bool)
    mask[[*range(160, 200), *range(230, 290), *range(300, 340)]] = True
    cleaned = np.asarray(SequenceFile(out, DNA_SPEC).codes)
    genome = np.concatenate([r1, r2, r3])
    assert (cleaned[mask] == 4).all() and np.array_equal(cleaned[~mask], genome[~mask])


@pytest.mark.parametrize(
    "threshold, insert, masked",
    [(0.5, 8, True), (0.5, 60, True), (0.5, 61, False), (0.6, 40, True), (0.6, 41, False)],
)
def test_an_insertion_up_to_the_bound_keeps_a_copy_one_locus(tmp_path, threshold, insert, masked):
    """The halves of a 60-base copy cut by an insertion are one locus (38 of 49 k-mers: masked whole,
    insertion included) up to L (1 - t) / t inserted bases: 60 at t = 0.5, 40 at t = 0.6; one base
    more and they are two loci of 19 each, neither a copy."""
    rng = np.random.default_rng(30)
    s, fill = rng.integers(0, 4, 60).astype(np.uint8), rng.integers(0, 4, 100 + insert).astype(np.uint8)
    genome = np.concatenate([fill[:50], s[:30], fill[50 : 50 + insert], s[30:], fill[50 + insert :]])
    path = tmp_path / "g.fa"
    path.write_text(f">g\n{text(genome)}\n")
    out = tmp_path / "clean.fa"
    counts = decontaminate(path, [s], out, DNA_SPEC, k=K, threshold=threshold, progress=False)
    assert counts["near_before"] == 1
    assert counts["masked_bases"] == (60 + insert if masked else 0)
    expected = genome.copy()
    if masked:
        expected[50 : 110 + insert] = 4
    assert np.array_equal(np.asarray(SequenceFile(out, DNA_SPEC).codes), expected)


@pytest.mark.parametrize("strand", ["forward", "reverse"])
@pytest.mark.parametrize("indel", [9, 20, 40, -9, -20])
def test_a_copy_cut_by_an_indel_is_masked_exactly_over_its_span(tmp_path, indel, strand):
    """A 200-base sequence planted at 500 of a 1,400-base genome with ``indel`` random bases inserted
    after its first 100 (or, negative, its bases 100 to 100 - indel deleted): the copy spans
    [500, 700 + indel), and exactly that is masked, on either strand. A 9-base indel moved the
    diagonal past MAX_INDEL and split the copy into two loci, each under the threshold."""
    rng = np.random.default_rng(50 + indel)
    s, fill = rng.integers(0, 4, 200).astype(np.uint8), rng.integers(0, 4, 1200).astype(np.uint8)
    unrelated = rng.integers(0, 4, 200).astype(np.uint8)
    if indel > 0:
        copy = np.concatenate([s[:100], rng.integers(0, 4, indel).astype(np.uint8), s[100:]])
    else:
        copy = np.concatenate([s[:100], s[100 - indel :]])
    assert len(copy) == 200 + indel
    genome = np.concatenate([fill[:500], copy if strand == "forward" else rc(copy), fill[500:]])
    path = tmp_path / "g.fa"
    path.write_text(f">g\n{text(genome)}\n")
    out = tmp_path / "clean.fa"
    counts = decontaminate(path, [s, unrelated], out, DNA_SPEC, k=K, threshold=0.5, progress=False)
    assert (counts["verbatim_before"], counts["near_before"], counts["masked_sequences"]) == (0, 1, 1)
    assert (counts["regions"], counts["masked_bases"]) == (1, 200 + indel)
    expected = genome.copy()
    expected[500 : 700 + indel] = 4
    assert np.array_equal(np.asarray(SequenceFile(out, DNA_SPEC).codes), expected)
    after = check_contamination([s, unrelated], Corpus([str(out)], DNA_SPEC), k=K, progress=False)
    assert after.summary()["near"] == 0


def test_neighbouring_copies_of_different_sequences_stay_apart(tmp_path):
    """Chains join the parts of one sequence's copy only. r1: a copy of e1 with 20 bases inserted at
    500, 30 clean bases, the reverse complement of e2 at 750: masked as two regions, the 30 bases
    between them kept. r2: e3's halves at 100 and 460 with a copy of e2 between: 260 bases
    apart, more than e3's 200, so they are two loci, each under the threshold: only e2 is masked, not
    the clean bases beside it. e3 is left near, and e4 (nowhere) untouched."""
    rng = np.random.default_rng(60)
    e1, e2, e3, e4 = (rng.integers(0, 4, 200).astype(np.uint8) for _ in range(4))
    f = [rng.integers(0, 4, n).astype(np.uint8) for n in (500, 20, 30, 300, 100, 30, 30, 200)]
    r1 = np.concatenate([f[0], e1[:100], f[1], e1[100:], f[2], rc(e2), f[3]])
    r2 = np.concatenate([f[4], e3[:100], f[5], e2, f[6], e3[100:], f[7]])
    path = tmp_path / "g.fa"
    path.write_text(f">r1\n{text(r1)}\n>r2\n{text(r2)}\n")
    out = tmp_path / "clean.fa"
    seqs = [e1, e2, e3, e4]
    counts = decontaminate(path, seqs, out, DNA_SPEC, k=K, threshold=0.5, progress=False)
    assert (counts["verbatim_before"], counts["near_before"], counts["masked_sequences"]) == (1, 3, 2)
    assert (counts["regions"], counts["masked_bases"]) == (3, 220 + 200 + 200)
    genome = np.concatenate([r1, r2])
    mask = np.zeros(len(genome), bool)
    mask[500:720] = mask[750:950] = True  # e1 with its insertion; rc(e2)
    mask[len(r1) + 230 : len(r1) + 430] = True  # e2 in r2
    codes = np.asarray(SequenceFile(out, DNA_SPEC).codes)
    assert (codes[mask] == 4).all() and np.array_equal(codes[~mask], genome[~mask])
    after = check_contamination(seqs, Corpus([str(out)], DNA_SPEC), k=K, progress=False)
    assert after.near.tolist() == [False, False, True, False]


def test_halves_in_the_wrong_order_are_no_copy_and_tandem_copies_are_two(tmp_path):
    """A chain follows the sequence's order: s's second half 20 bases before its first half is no
    copy of s (two loci of 19 of 49 k-mers: nothing masked, though s is near), though at threshold
    0.4 their diagonals (80 apart) are within the bound (90). Two copies of t end
    to end, each with 15 bases inserted after its first 30, are two chains (the second starts again
    at t's first k-mer), each masked with its insertion: one region of 150 bases."""
    rng = np.random.default_rng(70)
    s, t = rng.integers(0, 4, 60).astype(np.uint8), rng.integers(0, 4, 60).astype(np.uint8)
    f = [rng.integers(0, 4, n).astype(np.uint8) for n in (100, 20, 100, 15, 15, 100)]
    t1, t2 = np.concatenate([t[:30], f[3], t[30:]]), np.concatenate([t[:30], f[4], t[30:]])
    genome = np.concatenate([f[0], s[30:], f[1], s[:30], f[2], t1, t2, f[5]])
    path = tmp_path / "g.fa"
    path.write_text(f">g\n{text(genome)}\n")
    out = tmp_path / "clean.fa"
    counts = decontaminate(path, [s, t], out, DNA_SPEC, k=K, threshold=0.4, progress=False)
    assert (counts["near_before"], counts["masked_sequences"], counts["regions"]) == (2, 1, 1)
    assert counts["masked_bases"] == 150
    expected = genome.copy()
    expected[280:430] = 4
    assert np.array_equal(np.asarray(SequenceFile(out, DNA_SPEC).codes), expected)


def test_decontamination_at_the_threshold_masks_the_copy(tmp_path):
    """The threshold is "at least" for masking too: a copy sharing exactly half the k-mers is
    masked at threshold 0.5, over the sequence's whole image clipped to the record."""
    # as in test_a_sequence_exactly_at_the_threshold_is_near: 5 of the 10 4-mers of s after GGGG
    s = encode("AAAACACCCAACC")
    path = tmp_path / "g.fa"
    path.write_text(">g\nGGGGAAAACACCGGGG\n")
    out = tmp_path / "clean.fa"
    counts = decontaminate(path, [s], out, DNA_SPEC, k=4, threshold=0.5, progress=False)
    assert counts["masked_bases"] == 12 and out.read_text() == ">g\nGGGG" + "N" * 12 + "\n"


def test_merge_intervals_swallows_nested_intervals():
    start, stop = merge_intervals(np.array([0, 10, 30, 120]), np.array([100, 20, 40, 130]))
    assert start.tolist() == [0, 120] and stop.tolist() == [100, 130]


def test_masking_across_write_blocks(tmp_path):
    """A record is written in blocks of 65,536 lines: a masked interval that spans a block edge is
    masked on both sides of it (a chromosome is far longer than one block)."""
    rng = np.random.default_rng(2)
    seq = rng.integers(0, 4, 70_000).astype(np.uint8)
    path = tmp_path / "g.fa"
    path.write_text(f">g\n{text(seq)}\n")
    out = tmp_path / "masked.fa"
    write_masked_fasta(SequenceFile(path, DNA_SPEC), np.array([65_530]), np.array([65_540]), out, 4, width=1)
    codes = np.asarray(SequenceFile(out, DNA_SPEC).codes)
    assert (codes[65_530:65_540] == 4).all() and (codes[:65_530] < 4).all() and (codes[65_540:] < 4).all()


def test_sentence_of_no_evaluation_sequences():
    report = ContaminationReport(0, np.zeros(0, bool), np.zeros(0), np.zeros(0, bool), 16, 0.5)
    assert report.sentence() == (
        "Contamination: of 0 evaluation sequences, 0 (0.0%) occur verbatim in the pre-training corpus "
        "(either strand) and 0 (0.0%) verbatim or nearly (16-mer similarity >= 0.5); 0 are clean."
    )


def test_parameter_limits_are_accepted_and_beyond_refused():
    """k = 1 and threshold = 1 are allowed (the documented ranges are closed there); k = 0 is not."""
    check_parameters(1, 1.0, 4)
    check_parameters(31, 1.0, 4)
    with pytest.raises(ConfigError) as err:
        check_parameters(0, 0.5, 4)
    assert str(err.value) == "k: expected an integer from 1 to 31 for an alphabet of 4 residues, got 0"
    with pytest.raises(ConfigError) as err:
        check_parameters(16, 1.5, 4, prefix="--contamination-")
    assert str(err.value) == "--contamination-threshold: expected a fraction in (0, 1], got 1.5"


def test_a_sequence_without_k_known_residues_in_a_row_is_refused_by_name():
    """Decontamination cannot find a sequence it has no k-mer of: it names it and what to change."""
    ok = [encode("ACGTA" + "N" + "ACGTACGTACGT"), encode("NNNN")]  # a run of exactly 12; all unknown
    refuse_unseen(ok, 12, 4)
    short = encode("ACGTACGTACG" + "N" + "ACGTAC")  # 11 known in a row at most, of 18
    with pytest.raises(DataError) as err:
        refuse_unseen([*ok, short], 12, 4)
    assert str(err.value) == (
        "evaluation sequence #3 has no 12 known residues in a row (11 at most, of 18): no 12-mer of it "
        "can be looked up, so its copies would stay in the corpus; pass a smaller k (at most 11) or "
        "leave it out"
    )
    with pytest.raises(DataError, match=r"^promoter_7 has no 12 .* smaller --k-mer \(at most 11\)"):
        refuse_unseen([ok[0], short], 12, 4, names=["promoter_1", "promoter_7"], option="--k-mer")


def test_a_microsatellite_is_not_a_copy_however_often_it_repeats(tmp_path):
    """A locus counts the distinct k-mers of the sequence it holds, not its hits: a long (AC)n run
    hits the 9 k-mers of the sequence's (AC)10 at every position, yet holds 9 of 69. The sequence is
    near (its flanks occur elsewhere) but no locus is a copy of it: reported, nothing masked."""
    rng = np.random.default_rng(40)
    ac = np.tile(np.array([0, 1], np.uint8), 10)
    head, tail = rng.integers(0, 4, 30).astype(np.uint8), rng.integers(0, 4, 30).astype(np.uint8)
    fill = [rng.integers(0, 4, 60).astype(np.uint8) for _ in range(4)]
    head[-1], tail[0] = 2, 2  # G(AC)10G in s; in the genome every piece is flanked by T
    for f in fill:
        f[[0, -1]] = 3
    s = np.concatenate([head, ac, tail])  # 80 bases, 69 12-mers: 19 + 9 + 19 occur, at three loci
    genome = np.concatenate([fill[0], head, fill[1], np.tile(ac, 5), fill[2], tail, fill[3]])
    path = tmp_path / "g.fa"
    path.write_text(f">g\n{text(genome)}\n")
    report = check_contamination([s], Corpus([str(path)], DNA_SPEC), k=K, progress=False)
    assert report.similarity.tolist() == [47 / 69] and report.near.tolist() == [True]
    counts = decontaminate(path, [s], tmp_path / "clean.fa", DNA_SPEC, k=K, threshold=0.5, progress=False)
    assert (counts["near_before"], counts["masked_sequences"], counts["masked_bases"]) == (1, 0, 0)


def test_results_do_not_depend_on_the_chunk_size(planted, tmp_path, monkeypatch):
    """A genome is streamed in chunks of 2**21 k-mers; with chunks of 64 the planted copies fall in
    different chunks, and the check and the masked copy must come out the same."""
    monkeypatch.setattr(kmers, "CHUNK", 64)
    seqs = [planted[x] for x in "abcd"]
    report = check_contamination(seqs, Corpus([str(planted["path"])], DNA_SPEC), k=K, progress=False)
    assert report.verbatim.tolist() == [True, True, False, False]
    assert report.similarity.tolist() == [1.0, 1.0, 25 / 49, 0.0]
    out = tmp_path / "clean.fa"
    counts = decontaminate(planted["path"], seqs, out, DNA_SPEC, k=K, progress=False)
    assert (counts["regions"], counts["masked_bases"]) == (4, 240)
    codes = np.asarray(SequenceFile(out, DNA_SPEC).codes)
    assert (codes[planted["mask"]] == 4).all()
    assert np.array_equal(codes[~planted["mask"]], planted["genome"][~planted["mask"]])


def test_overlapping_evaluation_windows_are_masked_as_one_region(tmp_path):
    """Evaluation sets often hold overlapping windows of one locus: their copies merge into one
    masked region, and masked_bases counts each base once (90, not 60 + 60)."""
    rng = np.random.default_rng(12)
    genome = rng.integers(0, 4, 300).astype(np.uint8)
    path = tmp_path / "g.fa"
    path.write_text(f">g\n{text(genome)}\n")
    out = tmp_path / "clean.fa"
    counts = decontaminate(path, [genome[100:160], genome[130:190]], out, DNA_SPEC, k=K, progress=False)
    assert (counts["masked_sequences"], counts["regions"], counts["masked_bases"]) == (2, 1, 90)
    assert out.read_text().replace("\n", "") == ">g" + text(genome[:100]) + "N" * 90 + text(genome[190:])


def test_a_record_a_whole_number_of_lines_long_ends_without_a_blank_line(tmp_path):
    """The masked copy is written 60 residues a line: a record of exactly 120 is two full lines and
    the next header, with no empty line between (FASTA readers differ on empty lines)."""
    rng = np.random.default_rng(6)
    r1, r2 = rng.integers(0, 4, 120).astype(np.uint8), rng.integers(0, 4, 7).astype(np.uint8)
    path = tmp_path / "g.fa"
    path.write_text(f">r1\n{text(r1)}\n>r2\n{text(r2)}\n")
    out = tmp_path / "masked.fa"
    write_masked_fasta(SequenceFile(path, DNA_SPEC), np.array([10]), np.array([20]), out, 4)
    masked = text(r1[:10]) + "N" * 10 + text(r1[20:])
    assert out.read_text() == f">r1\n{masked[:60]}\n{masked[60:]}\n>r2\n{text(r2)}\n"


def test_the_gzip_header_holds_no_time_stamp_and_no_file_name(planted, tmp_path):
    """RFC 1952: a gzip member starts 1f 8b, method 8, flags, then a 4-byte modification time. The
    flags are 0 (no temporary file name stored) and the time 0, so the copy's bytes depend on the
    corpus alone, not on when or where it was written."""
    out = tmp_path / "clean.fa.gz"
    decontaminate(planted["path"], [planted["a"]], out, DNA_SPEC, k=K, progress=False)
    head = out.read_bytes()[:8]
    assert head[:3] == b"\x1f\x8b\x08" and head[3] == 0 and head[4:8] == b"\x00\x00\x00\x00"


def test_decontaminate_applies_its_own_threshold(planted, tmp_path):
    """At threshold 0.6 the near copy of c (25 of its 49 k-mers, 0.51) is neither near nor masked:
    the verbatim a (twice) and b (once) are, 3 regions of 60 bases."""
    seqs = [planted[x] for x in "abcd"]
    out = tmp_path / "clean.fa"
    counts = decontaminate(planted["path"], seqs, out, DNA_SPEC, k=K, threshold=0.6, progress=False)
    assert (counts["verbatim_before"], counts["near_before"], counts["masked_sequences"]) == (2, 2, 2)
    assert (counts["regions"], counts["masked_bases"]) == (3, 180)
    codes = np.asarray(SequenceFile(out, DNA_SPEC).codes)
    assert np.array_equal(codes[2200:2260], planted["genome"][2200:2260])  # c's copy at chr2:200 kept


def test_decontaminate_refuses_a_sequence_shorter_than_the_default_k_by_name(planted, tmp_path):
    """The default k is 16: a 14-base sequence has no 16-mer, so decontamination names it with the
    option the caller gave, and writes nothing."""
    out = tmp_path / "clean.fa"
    with pytest.raises(DataError) as err:
        decontaminate(
            planted["path"],
            [planted["a"], planted["a"][:14]],
            out,
            DNA_SPEC,
            progress=False,
            names=["promoter_1", "promoter_2"],
            k_option="--k-mer",
        )
    assert str(err.value) == (
        "promoter_2 has no 16 known residues in a row (14 at most, of 14): no 16-mer of it can be "
        "looked up, so its copies would stay in the corpus; pass a smaller --k-mer (at most 14) or "
        "leave it out"
    )
    assert not out.exists()


def test_the_check_uses_16_mers_by_default(planted):
    """With the default k = 16 a 16-base piece of the genome is found verbatim, a 15-base one has no
    k-mer and is unchecked (clean)."""
    corpus = Corpus([str(planted["path"])], DNA_SPEC)
    report = check_contamination([planted["a"][:16], planted["a"][:15]], corpus, progress=False)
    assert report.k == 16 and report.verbatim.tolist() == [True, False]
    assert report.unchecked.tolist() == [False, True] and report.similarity.tolist() == [1.0, 0.0]


def test_a_protein_copy_is_masked_with_x(tmp_path):
    """Proteins are masked with X (the first non-core code is U, selenocysteine, a real residue)."""
    rng = np.random.default_rng(9)
    aa = np.array(list(PROTEIN_SPEC.alphabet.symbols[:20]))
    p, fill = ("".join(rng.choice(aa, n)) for n in (30, 100))
    path = tmp_path / "p.fa"
    path.write_text(f">a\n{fill[:50]}{p}{fill[50:]}\n")
    enc = np.array([PROTEIN_SPEC.alphabet.symbols.index(c) for c in p], np.uint8)
    out = tmp_path / "clean.fa"
    counts = decontaminate(path, [enc], out, PROTEIN_SPEC, k=default_k(20), progress=False)
    assert (counts["verbatim_before"], counts["masked_bases"]) == (1, 30)
    assert out.read_text().replace("\n", "") == ">a" + fill[:50] + "X" * 30 + fill[50:]
