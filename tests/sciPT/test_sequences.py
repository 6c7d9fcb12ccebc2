import gzip

import numpy as np
import pytest

from sciPT.errors import DataError
from sciPT.sequences import Corpus, RandomWindows, SequenceFile
from sciPT.domains.dna.data import DNA_SPEC
from sciPT.domains.protein.data import PROTEIN_SPEC


def write(path, text, gz=False):
    if gz:
        with gzip.open(path, "wt") as f:
            f.write(text)
    else:
        path.write_text(text)
    return path


def test_records_wrapping_case_and_iupac(tmp_path):
    fa = write(tmp_path / "g.fa", ">one first\nACGT\nacgt\nAC\n>two\nNNRY\n")
    f = SequenceFile(fa, DNA_SPEC)
    assert f.names == ["one", "two"]
    assert f.lengths.tolist() == [10, 4]
    assert f.record(0).tolist() == [0, 1, 2, 3, 0, 1, 2, 3, 0, 1]  # lower case folded
    assert f.record(1).tolist() == [4, 4, 4, 4]                   # R, Y read as N


def test_gzip_detected_by_content_not_name(tmp_path):
    fa = write(tmp_path / "plain_name.fa", ">x\nGATTACA\n", gz=True)
    assert SequenceFile(fa, DNA_SPEC).record(0).tolist() == [2, 0, 3, 3, 0, 1, 0]


def test_bad_character_names_file_record_and_position(tmp_path):
    fa = write(tmp_path / "bad.fa", ">ok\nACGT\n>chr2 desc\nACGX\n")
    with pytest.raises(DataError) as err:
        SequenceFile(fa, DNA_SPEC)
    assert str(err.value) == (
        f"{fa}: record 'chr2' (#2) has 'X' at position 4; expected A, C, G, T, N or an IUPAC "
        "ambiguity code (R Y S W K M B D H V), either case")


def test_missing_empty_and_recordless_files(tmp_path):
    with pytest.raises(DataError, match=r"nope.fa: file not found$"):
        SequenceFile(tmp_path / "nope.fa", DNA_SPEC)
    with pytest.raises(DataError, match=r"empty.fa: file is empty \(expected FASTA records\)$"):
        SequenceFile(write(tmp_path / "empty.fa", ""), DNA_SPEC)
    with pytest.raises(DataError, match=r"text.fa: no FASTA records \(expected lines starting with '>'\)$"):
        SequenceFile(write(tmp_path / "text.fa", "\n\n"), DNA_SPEC)


def test_protein_terminal_stop_and_ambiguity(tmp_path):
    fa = write(tmp_path / "p.faa", ">p1\nMKBZ*\n")
    f = SequenceFile(fa, PROTEIN_SPEC)
    symbols = PROTEIN_SPEC.alphabet.symbols
    assert "".join(symbols[c] for c in f.record(0)) == "MKXX"


def test_windows_deterministic_disjoint_and_in_bounds(tmp_path):
    rng = np.random.default_rng(0)
    seq = "".join(rng.choice(list("ACGT"), 1000))
    corpus = Corpus([str(write(tmp_path / "g.fa", f">g\n{seq}\n"))], DNA_SPEC)
    train = RandomWindows(corpus, 50, split="train", val_fraction=0.1, seed=3)
    val = RandomWindows(corpus, 50, split="val", val_fraction=0.1, seed=3)
    assert np.array_equal(train[7], RandomWindows(corpus, 50, split="train", val_fraction=0.1, seed=3)[7])
    text = np.array(list(seq))
    for g in range(200):
        w = "".join(np.array(list("ACGTN"))[train[g]])
        start = seq.find(w)
        assert len(w) == 50 and 0 <= start and start + 50 <= 900  # inside the training part
        v = "".join(np.array(list("ACGTN"))[val[g]])
        assert seq.find(v) >= 900
    assert text.size == 1000


def test_reverse_complement_augmentation(tmp_path):
    corpus = Corpus([str(write(tmp_path / "g.fa", ">g\n" + "A" * 40 + "\n"))], DNA_SPEC)
    ds = RandomWindows(corpus, 10, reverse_complement=True, val_fraction=0.0)
    kinds = {tuple(ds[g].tolist()) for g in range(64)}
    assert kinds == {(0,) * 10, (3,) * 10}  # AAAA... or its reverse complement TTTT...


def test_window_longer_than_every_record(tmp_path):
    fa = write(tmp_path / "short.fa", ">a\nACGTACGT\n>b\nACGTACGTACGT\n")
    with pytest.raises(DataError) as err:
        RandomWindows(Corpus([str(fa)], DNA_SPEC), 100, val_fraction=0.0, source="data.window")
    assert str(err.value) == (
        "data.window: a window of 100 residues is longer than every record's training part "
        f"(longest: 'b' in {fa}, 12 residues)")


def test_order0_entropy_by_hand(tmp_path):
    corpus = Corpus([str(write(tmp_path / "g.fa", ">g\nAACG\n"))], DNA_SPEC)
    p = np.array([0.5, 0.25, 0.25])
    assert corpus.order0_entropy(4) == pytest.approx(float(-(p * np.log(p)).sum()))
