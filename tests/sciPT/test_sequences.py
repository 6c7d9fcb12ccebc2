import gzip

import numpy as np
import pytest

from sciPT.domains.dna.data import DNA_SPEC, LABELLED_DNA_SPEC, read_labelled, read_pair
from sciPT.domains.protein.data import PROTEIN_SPEC
from sciPT.errors import DataError
from sciPT.sequence_inputs import read_sequences, repeated_names_note
from sciPT.sequences import Corpus, RandomWindows, SequenceFile, check_fasta_start


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
    assert f.record(1).tolist() == [4, 4, 4, 4]  # R, Y read as N


def test_gzip_detected_by_content_not_name(tmp_path):
    fa = write(tmp_path / "plain_name.fa", ">x\nGATTACA\n", gz=True)
    assert SequenceFile(fa, DNA_SPEC).record(0).tolist() == [2, 0, 3, 3, 0, 1, 0]


def test_bad_character_names_file_record_and_position(tmp_path):
    fa = write(tmp_path / "bad.fa", ">ok\nACGT\n>chr2 desc\nACGX\n")
    with pytest.raises(DataError) as err:
        SequenceFile(fa, DNA_SPEC)
    assert str(err.value) == (
        f"{fa}: record 'chr2' (#2) has 'X' at position 4; expected A, C, G, T, N or an IUPAC "
        "ambiguity code (R Y S W K M B D H V), either case"
    )


def test_missing_empty_and_recordless_files(tmp_path):
    with pytest.raises(DataError, match=r"nope.fa: file not found$"):
        SequenceFile(tmp_path / "nope.fa", DNA_SPEC)
    with pytest.raises(DataError, match=r"empty.fa: file is empty \(expected FASTA records\)$"):
        SequenceFile(write(tmp_path / "empty.fa", ""), DNA_SPEC)
    with pytest.raises(DataError, match=r"text.fa: no FASTA records \(expected lines starting with '>'\)$"):
        SequenceFile(write(tmp_path / "text.fa", "\n\n"), DNA_SPEC)


def test_residues_above_the_first_header_are_refused_not_dropped(tmp_path, monkeypatch):
    monkeypatch.setenv("SCIPT_CACHE", str(tmp_path / "cache"))
    # Biopython alone skips "ACGT" here: the corpus would lose those residues without a word
    fa = write(tmp_path / "lost.fa", "\nACGT\n>x\nACGT\n", gz=True)
    expected = (
        f"{fa}: line 2 comes before the first FASTA header; expected every sequence line under a '>' header"
    )
    with pytest.raises(DataError) as err:
        SequenceFile(fa, DNA_SPEC)
    assert str(err.value) == expected
    # blank lines above the first header are harmless
    assert SequenceFile(write(tmp_path / "ok.fa", "\n\n>x\nAC\n"), DNA_SPEC).lengths.tolist() == [2]


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


def test_a_few_proteins_none_of_which_the_hash_picks_still_hold_one_out(tmp_path):
    """2% of six proteins is none by the hash (prot4's is the lowest, 591 of 10,000, above 200):
    the run trained without validation, without a word."""
    import zlib

    from sciPT.sequences import held_out_records

    rng = np.random.default_rng(0)
    protein = lambda n: "".join(rng.choice(list("ACDEFGHIKLMNPQRSTVWY"), n))  # noqa: E731
    names = [f"prot{i}" for i in range(6)]
    corpus = Corpus(
        [str(write(tmp_path / "p.faa", "".join(f">{n}\n{protein(150)}\n" for n in names)))], PROTEIN_SPEC
    )
    windows = dict(val_fraction=0.02, val_mode="record", pad_short=True, weighting="uniform")
    val = RandomWindows(corpus, 128, split="val", **windows)
    train = RandomWindows(corpus, 128, split="train", **windows)
    assert held_out_records(corpus, 0.02).tolist() == [False] * 4 + [True, False]
    assert not val.empty and val.longest_part()[1] == "prot4"
    assert (train.hi - train.lo).tolist() == [150] * 4 + [0, 150]
    # no validation asked for, or one protein: none held out
    assert not held_out_records(corpus, 0.0).any()
    one = Corpus([str(write(tmp_path / "one.faa", f">prot0\n{protein(150)}\n"))], PROTEIN_SPEC)
    assert not held_out_records(one, 0.02).any()
    # an empty record is not the one held out
    two = Corpus(
        [str(write(tmp_path / "two.faa", f">prot4\n\n>prot0\n{protein(9)}\n>prot1\n{protein(9)}\n"))],
        PROTEIN_SPEC,
    )
    assert held_out_records(two, 0.02).tolist() == [False, True, False]
    # a larger set, whose hash holds some out, holds out exactly those
    many = [f"q{i}" for i in range(300)]
    corpus = Corpus([str(write(tmp_path / "many.faa", "".join(f">{n}\nMKV\n" for n in many)))], PROTEIN_SPEC)
    by_hash = [zlib.crc32(n.encode()) % 10_000 < 200 for n in many]
    assert any(by_hash) and held_out_records(corpus, 0.02).tolist() == by_hash


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
        f"(longest: 'b' in {fa}, 12 residues)"
    )


def test_order0_entropy_by_hand(tmp_path):
    corpus = Corpus([str(write(tmp_path / "g.fa", ">g\nAACG\n"))], DNA_SPEC)
    p = np.array([0.5, 0.25, 0.25])
    assert corpus.order0_entropy(4) == pytest.approx(float(-(p * np.log(p)).sum()))


# --- read_sequences: the one in-memory reader (evaluation, fine-tuning, prediction inputs) ----
def codes(data):
    return [c.tolist() for c in data.codes]


def test_read_sequences_fasta_and_tables(tmp_path):
    fa = tmp_path / "e.txt"
    fa.write_text(">ECK1_x_reverse_[a|b] label=1\nacgtN\nAC\n>second\nRYAC\n")
    data = read_sequences(fa, DNA_SPEC)
    assert codes(data) == [[0, 1, 2, 3, 4, 0, 1], [4, 4, 0, 1]]
    assert data.names == ["ECK1_x_reverse_[a|b]", "second"] and data.labels is None
    csv = tmp_path / "e.csv"
    csv.write_text("name,Sequence,label\nx,ACG,1\n\ny,tt,0\n")
    assert codes(read_sequences(csv, DNA_SPEC)) == [[0, 1, 2], [3, 3]]
    tsv = tmp_path / "e.tsv.gz"
    with gzip.open(tsv, "wt") as f:
        f.write("sequence\tlabel\nGGA\t1\n")
    assert codes(read_sequences(tsv, DNA_SPEC)) == [[2, 2, 0]]


def test_read_sequences_protein_strips_the_stop(tmp_path):
    path = write(tmp_path / "p.csv", "id,sequence\np1,MKB*\n")
    data = read_sequences(path, PROTEIN_SPEC)
    assert data.names == ["p1"] and "".join(PROTEIN_SPEC.alphabet.symbols[c] for c in data.codes[0]) == "MKX"


def test_a_trailing_delimiter_is_an_empty_field_not_a_shifted_row(tmp_path):
    path = tmp_path / "trailing.csv"
    path.write_text("name,sequence\na,ACGT,\nb,GGCC,\t\n")
    data = read_sequences(path, DNA_SPEC)
    assert data.names == ["a", "b"] and [len(c) for c in data.codes] == [4, 4]


@pytest.mark.parametrize(
    "name, content, message",
    [
        (
            "bad.fa",
            ">r1\nACGT\n>r2 x\nACUG\n",
            "record 'r2' (#2) has 'U' at position 3; expected A, C, G, T, N or an IUPAC ambiguity code "
            "(R Y S W K M B D H V), either case",
        ),
        ("empty_record.fa", ">r1\n\n>r2\nAC\n", "record 'r1' (#1) has an empty sequence"),
        (
            "bad.csv",
            "sequence,label\nACGT,1\nAC-T,0\n",
            "line 3 has '-' at position 3; expected A, C, G, T, N or an IUPAC ambiguity code "
            "(R Y S W K M B D H V), either case",
        ),
        (
            "nocol.csv",
            "seq,label\nACGT,1\n",
            "no column 'sequence' (columns: seq, label); expected FASTA or a CSV/TSV table with a 'sequence' column",
        ),
        ("short.csv", "label,sequence\n1\n", "line 2 has 1 fields; expected at least 2"),
        (
            "long.csv",
            "name,sequence\nok,ACGT\npromoter 3, strand +,ACGT\n",
            "line 3 has 3 fields, more than the 2 columns of the header (a delimiter inside an unquoted "
            "field?)",
        ),
        (
            "header.csv",
            "sequence\n\n",
            "no sequences (expected FASTA or a CSV/TSV table with a 'sequence' column)",
        ),
        ("empty.fa", "", "file is empty (expected FASTA or a CSV/TSV table with a 'sequence' column)"),
    ],
)
def test_read_sequences_errors(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(DataError) as err:
        read_sequences(path, DNA_SPEC)
    assert str(err.value) == f"{path}: {message}"
    with pytest.raises(DataError) as err:
        read_sequences(tmp_path / "nope.fa", DNA_SPEC)
    assert str(err.value) == f"{tmp_path / 'nope.fa'}: file not found"
    with pytest.raises(DataError) as err:
        read_sequences(tmp_path, DNA_SPEC)
    assert str(err.value) == (
        f"{tmp_path}: a directory, not a file (expected FASTA or a CSV/TSV table with a 'sequence' column)"
    )


@pytest.mark.parametrize(
    "content, labelled, message",
    [
        (
            "label,sequence,sequence\n1,ACGT,ACGT\n0,AAAA,CCCC\n",
            False,
            "column 'sequence' is named twice in the header (columns 2 and 3); expected each column once",
        ),
        (
            "label,sequence,Label\n1,ACGT,0\n",
            True,
            "column 'label' is named twice in the header "
            "(columns 1 ('label') and 3 ('Label')); expected each column once",
        ),
        (
            "name,sequence,name\na,ACGT,b\n",
            False,
            "column 'name' is named twice in the header (columns 1 and 3); expected each column once",
        ),
        (
            # neither is the exact name: both match it in any case, so it is there twice, not absent
            "Sequence,SEQUENCE\nACGT,ACGT\n",
            False,
            "column 'Sequence' is named twice in the header "
            "(columns 1 ('Sequence') and 2 ('SEQUENCE')); expected each column once",
        ),
    ],
    ids=["sequence", "label", "name", "sequence-in-two-cases"],
)
def test_a_column_read_that_is_named_twice_is_refused(tmp_path, content, labelled, message):
    """The reader would take the first copy without a word."""
    path = write(tmp_path / "dup.csv", content)
    with pytest.raises(DataError) as err:
        read_sequences(path, DNA_SPEC, labelled=labelled)
    assert str(err.value) == f"{path}: {message}"


def test_a_column_not_read_may_be_named_twice(tmp_path):
    path = write(tmp_path / "notes.csv", "sequence,note,note\nACGT,a,b\n")
    assert read_sequences(path, DNA_SPEC).names == ["line2"]


def test_labelled_rules_now_shared(tmp_path):
    """Rules the labelled DNA reader and the evaluation reader used to differ on, now one."""
    # a column is found in any case (was exact for labelled input)
    path = write(tmp_path / "a.csv", "Name,Sequence,Label\nx,ACGT,1\ny,GG,0\n")
    data = read_labelled(path)
    assert data.names == ["x", "y"] and data.labels.tolist() == [1, 0]
    # line numbers count blank rows (labelled input numbered the rows read instead)
    path = write(tmp_path / "b.csv", "name,sequence,label\nx,ACGT,1\n\ny,GG,2\n")
    with pytest.raises(DataError) as err:
        read_labelled(path)
    assert str(err.value) == (
        f"{path}: record 'y' (line 4) has label '2'; expected 0/1 (or +/-, "
        "promoter/non-promoter, positive/negative, true/false, yes/no)"
    )
    # an unnamed row is "line N", not "record 'lineN' (line N)"
    path = write(tmp_path / "c.csv", "sequence,label\nACGT,1\nGGR,0\n")
    with pytest.raises(DataError) as err:
        read_labelled(path)
    assert str(err.value) == f"{path}: line 3 has 'R' at position 3; expected A, C, G, T or N (either case)"
    # a row too short for the label column (was read as an empty label)
    path = write(tmp_path / "d.csv", "sequence,label\nACGT,1\nGG\n")
    with pytest.raises(DataError) as err:
        read_labelled(path)
    assert str(err.value) == f"{path}: line 3 has 1 fields; expected at least 2"
    # the same empty-file and no-sequence messages as every input
    path = write(tmp_path / "e.csv", "")
    with pytest.raises(DataError) as err:
        read_labelled(path)
    assert (
        str(err.value)
        == f"{path}: file is empty (expected FASTA or a CSV/TSV table with a 'sequence' column)"
    )


def test_fasta_label_words_and_explicit_fasta_label(tmp_path):
    path = write(tmp_path / "a.fa", ">x desc|label=promoter;\nACGT\n>y label=No\nGG\n")
    data = read_sequences(
        path,
        LABELLED_DNA_SPEC,
        labelled=True,
        labels=(("1", "0"), ("promoter", "non-promoter"), ("yes", "no")),
    )
    assert data.labels.tolist() == [1, 0]
    assert read_sequences(path, DNA_SPEC, fasta_label=0).labels.tolist() == [0, 0]
    with pytest.raises(DataError) as err:
        read_sequences(path, DNA_SPEC, labelled=True)  # the default words know no "promoter"
    assert str(err.value) == (
        f"{path}: record 'x' (#1) has label 'promoter'; expected 0/1 "
        "(or +/-, positive/negative, true/false, yes/no)"
    )


def test_a_header_label_the_file_label_overrules_is_said(tmp_path, capsys):
    # finetune promoter --negatives FILE: a labelled FASTA given as one side of a pair
    pos = write(tmp_path / "pos.fa", ">p0\nACGTTGCA\n")
    neg = write(tmp_path / "neg.fa", ">n0 label=1\nACGT\n>n1 label=0\nGG\n>n2|label=Promoter;\nTT\n")
    assert read_pair(pos, neg).labels.tolist() == [1, 0, 0, 0]
    assert capsys.readouterr().err.splitlines() == [
        f"warning: {neg}: 2 of 3 records say label 1 in their header (first: record 'n0' (#1), "
        "'label=1'); every record of a --negatives file is read as label 0 (a file labelled in its "
        "headers keeps its labels as --train)"
    ]
    assert read_labelled(neg, fasta_label=1).labels.tolist() == [1, 1, 1]
    assert capsys.readouterr().err.splitlines() == [
        f"warning: {neg}: 1 of 3 records say label 0 in their header (first: record 'n1' (#2), "
        "'label=0'); every record of a --positives file is read as label 1 (a file labelled in its "
        "headers keeps its labels as --train)"
    ]
    # headers without a label, or with the file's own, are read without a word
    read_pair(pos, write(tmp_path / "plain.fa", ">n0\nACGT\n>n1 label=0\nGG\n"))
    assert capsys.readouterr().err == ""


def test_a_label_column_the_file_label_overrules_is_said(tmp_path, capsys):
    # a CSV/TSV given as one side of a pair kept its own labels: its label-1 rows trained as
    # promoters from a --negatives file, without a word
    pos = write(tmp_path / "pos.fa", ">p0\nACGTTGCA\n")
    neg = write(tmp_path / "neg.csv", "name,sequence,Label\nn0,ACGT,1\nn1,GG,0\nn2,TT,promoter\n")
    assert read_pair(pos, neg).labels.tolist() == [1, 0, 0, 0]
    assert capsys.readouterr().err.splitlines() == [
        f"warning: {neg}: 2 of 3 records say label 1 in column 'Label' (first: record 'n0' (line 2), "
        "'1'); every record of a --negatives file is read as label 0 (a file labelled in a column "
        "keeps its labels as --train)"
    ]
    tsv = write(tmp_path / "pos.tsv", "sequence\tlabel\nACGT\t0\nGG\t1\n")
    assert read_pair(tsv, pos).labels.tolist() == [1, 1, 0]
    assert capsys.readouterr().err.splitlines() == [
        f"warning: {tsv}: 1 of 2 records say label 0 in column 'label' (first: line 2, '0'); every "
        "record of a --positives file is read as label 1 (a file labelled in a column keeps its "
        "labels as --train)"
    ]
    # a table without a label column (it was refused: "no column 'label'"), or with the file's own
    # labels, is read without a word
    assert read_pair(pos, write(tmp_path / "plain.csv", "sequence\nACGT\nGG\n")).labels.tolist() == [1, 0, 0]
    # the table's own column names, as --sequence-column / --label-column give them
    named = write(tmp_path / "named.csv", "seq,class\nACGT,1\nGG,0\n")
    assert read_pair(pos, named, sequence_column="seq", label_column="class").labels.tolist() == [1, 0, 0]
    assert "1 of 2 records say label 1 in column 'class'" in capsys.readouterr().err
    read_pair(pos, write(tmp_path / "own.csv", "sequence,label\nACGT,0\nGG,no\n"))
    assert capsys.readouterr().err == ""


def test_a_fasta_label_ends_at_the_next_header_field(tmp_path):
    path = write(
        tmp_path / "a.fa", ">a|label=Non-promoter|chr1\nACGT\n>b label=Promoter;chr2\nGG\n>c label=1,x\nT\n"
    )
    data = read_labelled(path, labelled=True)
    assert data.labels.tolist() == [0, 1, 1]


@pytest.mark.parametrize("gz", [False, True])
def test_text_above_the_first_header_is_named_as_such_not_read_as_a_table(tmp_path, gz):
    # the reader took the note for a table's header and said "no column 'sequence'"
    path = write(tmp_path / "note.fa", "some note\n>seq1\nACGTACGTAC\n>seq2\nGGCC\n", gz=gz)
    with pytest.raises(DataError) as err:
        read_sequences(path, DNA_SPEC)
    assert str(err.value) == (
        f"{path}: line 1 comes before the first FASTA header; expected every sequence line under a '>' header"
    )
    # the line is named as the pre-training corpus reader names it (blank lines counted)
    path = write(tmp_path / "late.fa", "\n\nACGT\n>seq1\nACGT\n", gz=gz)
    with pytest.raises(DataError) as err:
        read_labelled(path, fasta_label=1)
    assert str(err.value) == (
        f"{path}: line 3 comes before the first FASTA header; expected every sequence line under a '>' header"
    )


def test_a_table_stays_a_table_whatever_follows_its_header(tmp_path):
    # a row whose first cell starts with '>' does not turn a table with the column into FASTA
    path = write(tmp_path / "t.csv", "name,sequence\n>odd,ACGT\nx,GG\n")
    data = read_sequences(path, DNA_SPEC)
    assert data.names == [">odd", "x"] and codes(data) == [[0, 1, 2, 3], [2, 2]]
    # and a table without it, with no header further down, is still one without the column
    path = write(tmp_path / "u.csv", "seq,label\nACGT,1\n")
    with pytest.raises(DataError) as err:
        read_sequences(path, DNA_SPEC)
    assert str(err.value) == (
        f"{path}: no column 'sequence' (columns: seq, label); "
        "expected FASTA or a CSV/TSV table with a 'sequence' column"
    )


def test_records_holding_an_alias_are_marked(tmp_path):
    fa = write(tmp_path / "q.fa", ">a\nACGT\n>b\nACRy\n>c\nNNNN\n>d\nacgk\n")
    data = read_sequences(fa, DNA_SPEC)
    assert codes(data)[1] == [0, 1, 4, 4] and data.aliased.tolist() == [False, True, False, True]
    assert data.subset([3, 0]).aliased.tolist() == [True, False]
    table = write(tmp_path / "q.csv", "sequence\nACGT\nACGW\n")
    assert read_sequences(table, DNA_SPEC).aliased.tolist() == [False, True]
    # an alphabet without aliases has nothing to mark
    assert read_sequences(write(tmp_path / "s.fa", ">a\nACGN\n"), LABELLED_DNA_SPEC).aliased is None


def test_check_file_names_a_directory_as_one(tmp_path):
    from sciPT.sequences import check_file

    with pytest.raises(DataError) as err:
        check_file(tmp_path, "FASTA")
    assert str(err.value) == f"{tmp_path}: a directory, not a file (expected FASTA)"


def test_repeated_names_are_said_once_with_their_count(tmp_path):
    fa = tmp_path / "q.fa"
    fa.write_text(">a\nACGT\n>dup x\nACG\n>b\nAC\n>dup y\nAAA\n>dup\nTT\n")  # a name is the first word
    assert repeated_names_note(read_sequences(fa, DNA_SPEC)) == (
        f"warning: {fa}: 1 name(s) occur more than once ('dup'; 3 rows): the output keeps the "
        "input's order, so join it by row, not by name"
    )
    fa.write_text(">a\nACGT\n>b\nAC\n")
    assert repeated_names_note(read_sequences(fa, DNA_SPEC)) is None


def test_the_reading_bar_of_a_gzip_file_counts_bytes_on_disk(tmp_path, monkeypatch, recording_bar):
    """Its total is the file's size on disk: counted in characters read, it ran to 284 %."""
    import sciPT.sequences as sequences

    monkeypatch.setattr(sequences, "tqdm", recording_bar)
    bars = recording_bar.made
    path = tmp_path / "g.fa.gz"
    rng = np.random.default_rng(0)
    with gzip.open(path, "wt") as f:  # random bases compress about 3.5 to 1
        for r in range(3):
            f.write(f">r{r}\n" + "".join("ACGT"[c] for c in rng.integers(0, 4, 50_000)) + "\n")
    SequenceFile(path, DNA_SPEC)
    assert bars[0].n == bars[0].total == path.stat().st_size


def test_the_reverse_complement_augmentation_reverses_as_well_as_complements(tmp_path):
    """A window drawn on the other strand is the reverse complement, not the plain complement."""
    corpus = Corpus([str(write(tmp_path / "g.fa", ">g\nACGTTT\n"))], DNA_SPEC)
    ds = RandomWindows(corpus, 6, reverse_complement=True, val_fraction=0.0)
    kinds = {tuple(ds[g].tolist()) for g in range(64)}
    # ACGTTT = 0 1 2 3 3 3; its complement TGCAAA reversed is AAACGT = 0 0 0 1 2 3
    assert kinds == {(0, 1, 2, 3, 3, 3), (0, 0, 0, 1, 2, 3)}


def test_the_reverse_complement_is_drawn_half_the_time(tmp_path):
    """Each window is reverse-complemented with probability 1/2."""
    corpus = Corpus([str(write(tmp_path / "g.fa", ">g\nACGTTT\n"))], DNA_SPEC)
    ds = RandomWindows(corpus, 6, reverse_complement=True, val_fraction=0.0)
    flipped = sum(ds[g].tolist() == [0, 0, 0, 1, 2, 3] for g in range(2000))
    # binomial(2000, 1/2): mean 1000, sd sqrt(2000 / 4) = 22.4; within 3 sd: 1000 +- 67
    assert abs(flipped - 1000) <= 67


def test_one_terminal_stop_is_dropped_and_a_second_refused():
    """A protein's '*' stop ends it once; '**' is an internal stop, a broken record, not a protein
    two stops long to read as if it were whole."""
    assert (
        PROTEIN_SPEC.encode("MK*", "f.faa", "record 'p' (#1)").tolist()
        == PROTEIN_SPEC.encode("MK", "f.faa", "x").tolist()
    )
    with pytest.raises(DataError) as err:
        PROTEIN_SPEC.encode("MK**", "f.faa", "record 'p' (#1)")
    assert str(err.value) == (
        "f.faa: record 'p' (#1) has '*' at position 3; expected one of the 20 standard amino acids, "
        "U, O, X, or B/Z/J, either case"
    )


def test_white_space_around_a_sequence_is_dropped_and_positions_count_from_its_first_residue():
    """A spreadsheet cell written ' ACGT' (a comma and a space) is the sequence ACGT, and a bad
    character's position is the one a user counts in the sequence, not in the cell."""
    assert DNA_SPEC.encode(" \tACGT \n", "t.csv", "line 2").tolist() == [0, 1, 2, 3]
    with pytest.raises(DataError) as err:
        DNA_SPEC.encode("  AC-T ", "t.csv", "line 2")
    assert str(err.value) == (
        "t.csv: line 2 has '-' at position 3; expected A, C, G, T, N or an IUPAC ambiguity code "
        "(R Y S W K M B D H V), either case"
    )


def test_records_with_an_empty_header_are_named_by_their_number(tmp_path):
    """Outputs are written by name: two headerless records both named 'record' would be joined to
    the wrong sequence by name."""
    fa = write(tmp_path / "e.fa", ">\nACGT\n>  \nGG\n>x y\nT\n")
    assert read_sequences(fa, DNA_SPEC).names == ["record1", "record2", "x"]
    assert SequenceFile(fa, DNA_SPEC).names == ["record1", "record2", "x"]


def test_a_corpus_whose_every_record_is_empty_is_refused(tmp_path):
    """Headers without residues hold nothing to train on: said at once, not as a window error later."""
    fa = write(tmp_path / "headers.fa", ">a\n\n>b\n")
    with pytest.raises(DataError) as err:
        SequenceFile(fa, DNA_SPEC)
    assert str(err.value) == f"{fa}: every record is empty"


def test_a_byte_that_is_not_utf8_is_a_bad_character_at_its_position(tmp_path):
    """A Latin-1 byte (a file saved by an old editor) is refused as any bad character is, naming
    the line and the position, not a UnicodeDecodeError traceback."""
    path = tmp_path / "latin1.csv"
    path.write_bytes(b"sequence\nACGT\nAC\xe9T\n")
    with pytest.raises(DataError) as err:
        read_sequences(path, DNA_SPEC)
    assert str(err.value) == (
        f"{path}: line 3 has '\ufffd' at position 3; expected A, C, G, T, N or an IUPAC ambiguity code "
        "(R Y S W K M B D H V), either case"
    )


def test_a_gzip_table_saved_with_a_byte_order_mark_finds_its_first_column(tmp_path):
    """Excel's "CSV UTF-8", compressed: the mark would glue itself to the first column's name, and
    the 'sequence' column was not found."""
    path = tmp_path / "t.csv.gz"
    with gzip.open(path, "wb") as f:
        f.write(b"\xef\xbb\xbfsequence,label\nACGT,1\nGG,0\n")
    data = read_sequences(path, DNA_SPEC, labelled=True)
    assert codes(data) == [[0, 1, 2, 3], [2, 2]] and data.labels.tolist() == [1, 0]


# --- second mutation pass: what a first pass left unheld -------------------------------------
def test_a_non_utf8_byte_in_a_gzip_file_is_a_bad_character_too(tmp_path):
    """A compressed file with a Latin-1 byte is refused as a plain one is, naming the record and the
    position, not with a UnicodeDecodeError traceback (or a "not FASTA" that hides where)."""
    path = tmp_path / "latin1.fa.gz"
    with gzip.open(path, "wb") as f:
        f.write(b">ok\nACGT\n>r2\nAC\xe9T\n")
    expected = (
        f"{path}: record 'r2' (#2) has '\ufffd' at position 3; expected A, C, G, T, N or an IUPAC "
        "ambiguity code (R Y S W K M B D H V), either case"
    )
    for read in (lambda: SequenceFile(path, DNA_SPEC), lambda: read_sequences(path, DNA_SPEC)):
        with pytest.raises(DataError) as err:
            read()
        assert str(err.value) == expected


def test_a_gzip_file_cut_short_is_named_as_such_by_both_readers(tmp_path):
    """An interrupted download: one line naming the file, not an EOFError traceback."""
    rng = np.random.default_rng(0)
    whole = gzip.compress((">a\n" + "".join(rng.choice(list("ACGT"), 20_000)) + "\n").encode())
    path = tmp_path / "cut.fa.gz"
    path.write_bytes(whole[: len(whole) // 2])
    expected = (
        f"{path}: gzip file cut short or damaged (Compressed file ended before the end-of-stream marker "
        "was reached); expected a whole .gz file (fetch or copy it again)"
    )
    for read in (lambda: SequenceFile(path, DNA_SPEC), lambda: read_sequences(path, DNA_SPEC)):
        with pytest.raises(DataError) as err:
            read()
        assert str(err.value) == expected


def test_the_first_of_several_bad_characters_is_the_one_named():
    """A user fixes a file from its start: the message names the first bad residue, not the last."""
    with pytest.raises(DataError) as err:
        DNA_SPEC.encode("AXGTZ", "f.fa", "record 'a' (#1)")
    assert str(err.value) == (
        "f.fa: record 'a' (#1) has 'X' at position 2; expected A, C, G, T, N or an IUPAC ambiguity code "
        "(R Y S W K M B D H V), either case"
    )


def test_without_an_unknown_symbol_every_symbol_past_the_core_is_unknown():
    """The docstring's rule for ``unknown=None``: all non-core codes (here N and X, codes 4 and 5)."""
    from sciPT.sequences import SequenceSpec
    from sciPT.tokenizers import Alphabet

    spec = SequenceSpec(alphabet=Alphabet("ACGTNX", n_core=4), aliases={}, description="x")
    assert spec.unknown_codes().tolist() == [4, 5]
    assert DNA_SPEC.unknown_codes().tolist() == [4]  # N alone


def test_a_stricter_alphabet_reads_a_cached_file_again(tmp_path, monkeypatch):
    """The cache is keyed by the alphabet's aliases as well as its symbols: a file read once with
    ambiguity codes accepted (R as N) is refused by a spec without them, not served from the cache."""
    monkeypatch.setenv("SCIPT_CACHE", str(tmp_path / "cache"))
    fa = write(tmp_path / "r.fa", ">a\nACRT\n")
    assert SequenceFile(fa, DNA_SPEC).record(0).tolist() == [0, 1, 4, 3]
    with pytest.raises(DataError) as err:
        SequenceFile(fa, LABELLED_DNA_SPEC)
    assert (
        str(err.value)
        == f"{fa}: record 'a' (#1) has 'R' at position 3; expected A, C, G, T or N (either case)"
    )


def test_provenance_counts_every_record_and_residue(tmp_path):
    """Recorded with a pre-trained model: 2 records of 4 and 2 residues are 6 residues; the bytes
    and SHA-256 are the file's own."""
    import hashlib

    text = ">a\nACGT\n>b\nGG\n"
    fa = write(tmp_path / "p.fa", text)
    assert SequenceFile(fa, DNA_SPEC).provenance() == {
        "path": str(fa.resolve()),
        "sha256": hashlib.sha256(text.encode()).hexdigest(),
        "bytes": len(text),
        "records": 2,
        "residues": 6,
    }


def test_symbol_counts_read_in_chunks_miss_no_residue(tmp_path):
    """Counted a chunk at a time (a genome is never held whole): chunks of 3 over 8 residues count
    every one. AACGTN + RA (R read as N): A 3, C 1, G 1, T 1, N 2."""
    f = SequenceFile(write(tmp_path / "c.fa", ">a\nAACGTN\n>b\nRA\n"), DNA_SPEC)
    assert f.symbol_counts(5, chunk=3).tolist() == [3, 1, 1, 1, 2]
    assert f.symbol_counts(5).tolist() == [3, 1, 1, 1, 2]


def test_unknown_words_list_only_the_aliases_read_as_the_unknown_symbol(tmp_path):
    """The warning of a file of unknown residues lists N and what is read as N: an alias read as a
    known base (U as T) is not unknown, and listing it would say its residues are."""
    from sciPT.sequences import SequenceSpec

    spec = SequenceSpec(
        alphabet=DNA_SPEC.alphabet, aliases={"U": "T", "R": "N", "Y": "N"}, description="x", unknown="N"
    )
    corpus = Corpus([str(write(tmp_path / "u.fa", ">a\nACGU\n"))], spec)
    assert corpus.unknown_words() == "N, R, Y"


def test_the_validation_part_of_a_record_is_its_rounded_share():
    """val_fraction 0.18 of a 10-residue record is 1.8 residues, rounded to 2 (not cut to 1): the
    last 2 residues validate, the first 8 train, and no residue is on both sides."""
    from types import SimpleNamespace

    from sciPT.sequences import split_bounds

    corpus = SimpleNamespace(records=[(None, 0), (None, 1)], lengths=np.array([10, 100]))
    lo, hi = split_bounds(corpus, "train", 0.18, "region")
    assert lo.tolist() == [0, 0] and hi.tolist() == [8, 82]
    lo, hi = split_bounds(corpus, "val", 0.18, "region")
    assert lo.tolist() == [8, 82] and hi.tolist() == [10, 100]


def test_a_record_whose_hash_is_exactly_the_cut_is_not_held_out(tmp_path):
    """The rule is "CRC-32 mod 10,000 below val_fraction of 10,000": at 0.02, a rank of exactly 200
    trains and a rank under 200 validates (ranks computed here from zlib, not by the module)."""
    import zlib

    from sciPT.sequences import held_out_records

    rank = lambda name: zlib.crc32(name.encode()) % 10_000  # noqa: E731
    names = [f"r{i}" for i in range(100_000)]
    at_cut = next(n for n in names if rank(n) == 200)
    below = next(n for n in names if rank(n) < 200)
    fa = write(tmp_path / "cut.faa", f">{at_cut}\nMKV\n>{below}\nMKV\n")
    assert held_out_records(Corpus([str(fa)], PROTEIN_SPEC), 0.02).tolist() == [False, True]


def test_a_file_without_a_window_is_named_with_curation_when_curation_kept_none(tmp_path):
    """The warning says where the windows went: with curation, none of the kept training part
    holds one (so fewer filters help); without, the file is too short for the window."""
    from sciPT.sequences import file_warnings

    long = write(tmp_path / "long.fa", ">a\n" + "ACGT" * 20 + "\n")
    short = write(tmp_path / "short.fa", ">b\nACGTACGT\n>c\n\n")
    corpus = Corpus([str(long), str(short)], DNA_SPEC)
    train = RandomWindows(corpus, 40, val_fraction=0.0)
    empty = f"warning: {short}: 1 of 2 records have no sequence; nothing is read from them"
    assert file_warnings(corpus, train, 40, curated=False) == [
        empty,
        f"warning: {short}: no record's training part holds a window of 40 residues; no window is drawn "
        "from this file",
    ]
    assert file_warnings(corpus, train, 40, curated=True) == [
        empty,
        f"warning: {short}: no record's training part, kept by curation, holds a window of 40 residues; "
        "no window is drawn from this file",
    ]


def test_each_split_draws_from_its_own_generator(tmp_path):
    """Window g of a split comes from a generator seeded by (seed, split, g), 0 for train and 1 for
    val (the module docstring): a resumed run redraws exactly these. With one record the generator's
    first number picks it and the next the start, uniformly among the part's window starts."""
    rng = np.random.default_rng(0)
    seq = "".join(rng.choice(list("ACGT"), 1000))
    corpus = Corpus([str(write(tmp_path / "g.fa", f">g\n{seq}\n"))], DNA_SPEC)
    for split, split_id, lo, starts in (("train", 0, 0, 851), ("val", 1, 900, 51)):
        ds = RandomWindows(corpus, 50, split=split, val_fraction=0.1, seed=3)
        for g in range(5):
            draw = np.random.default_rng((3, split_id, g))
            draw.random()  # the record: the only one
            start = lo + int(draw.integers(starts))
            assert "".join("ACGTN"[c] for c in ds[g]) == seq[start : start + 50]


def test_a_utf16_fasta_with_crlf_line_ends_is_read_as_its_utf8_twin(tmp_path):
    """A FASTA saved by a Windows editor as "Unicode" (UTF-16 with a byte-order mark, CRLF line
    ends): read as UTF-8 it was all NUL bytes and refused; a CR left on a line would be a bad
    character. Both readers read it as the plain file."""
    text = ">a one\r\nACGT\r\nac\r\n>b\r\nRT\r\n"
    u16 = tmp_path / "u16.fa"
    u16.write_bytes(text.encode("utf-16"))
    f = SequenceFile(u16, DNA_SPEC)
    assert f.names == ["a", "b"] and f.record(0).tolist() == [0, 1, 2, 3, 0, 1]
    assert f.record(1).tolist() == [4, 3]
    data = read_sequences(u16, DNA_SPEC)
    assert data.names == ["a", "b"] and codes(data) == [[0, 1, 2, 3, 0, 1], [4, 3]]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("\n\n>chr1\nACGT\n", None),
        (
            "seq,label\nACGT,1\n",
            "line 1 is not a FASTA header; expected a FASTA file, its first text a '>' header",
        ),
        (
            "\n@read1\nACGT\n+\nIIII\n",
            "looks like FASTQ (line 2 starts with '@'); expected FASTA ('>' headers) "
            "or, where labelled sequences are read, a CSV/TSV table",
        ),
        ("  >chr1\nACGT\n", "line 1 has spaces before its '>'; expected a FASTA header to start its line"),
        ("\n \n", "no FASTA records (expected lines starting with '>')"),
    ],
)
def test_check_fasta_start_reads_up_to_the_first_text_and_names_what_is_wrong(tmp_path, text, expected):
    """The check a streamed shard gets before the run's folder is made: the first text decides, as
    it does for the full reader (a gzip shard is read through its compression)."""
    path = tmp_path / "shard.fa.gz"
    with gzip.open(path, "wt") as f:
        f.write(text)
    if expected is None:
        check_fasta_start(path)
        return
    with pytest.raises(DataError) as caught:
        check_fasta_start(path)
    assert str(caught.value) == f"{path}: {expected}"
