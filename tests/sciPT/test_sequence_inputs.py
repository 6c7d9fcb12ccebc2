import numpy as np
import pytest

from sciPT import sequence_inputs
from sciPT.domains.dna.data import DNA_SPEC
from sciPT.errors import DataError
from sciPT.sequence_inputs import in_chunks, read_sequences


def test_a_few_sequences_are_scored_in_one_call_without_a_bar(monkeypatch, recording_bar):
    monkeypatch.setattr(sequence_inputs, "tqdm", recording_bar)
    calls = []
    codes = [np.full(3, i) for i in range(sequence_inputs.CHUNK)]
    out = in_chunks(lambda c: calls.append(len(c)) or np.array([x[0] for x in c]), codes, "scoring")
    assert calls == [sequence_inputs.CHUNK] and recording_bar.made == []
    assert out.tolist() == list(range(sequence_inputs.CHUNK))


def test_many_sequences_are_scored_in_whole_batches_behind_a_bar(monkeypatch, recording_bar):
    monkeypatch.setattr(sequence_inputs, "tqdm", recording_bar)
    monkeypatch.setattr(sequence_inputs, "CHUNK", 10)
    calls = []

    def score(chunk):
        calls.append(len(chunk))
        return np.stack([np.array([c[0], 2 * c[0]]) for c in chunk])

    codes = [np.full(3, i) for i in range(23)]
    out = in_chunks(score, codes, "scoring", batch_size=4)
    # chunks of 8 (two batches of 4, the most under 10), the rows in order
    assert calls == [8, 8, 7]
    assert out.tolist() == [[i, 2 * i] for i in range(23)]
    assert [(bar.total, bar.n) for bar in recording_bar.made] == [(23, 23)]
    # a batch larger than the chunk: one batch a chunk
    calls.clear()
    in_chunks(score, codes, "scoring", batch_size=16)
    assert calls == [16, 7]


def test_a_fastq_file_is_named_as_such_by_every_reader(tmp_path, capsys):
    """Read as a table it named a missing 'sequence' column (the header '@read0'); read as FASTA, a
    line before the first header, or no record at all."""
    from sciPT.cli import main

    reads = tmp_path / "reads.fq"
    reads.write_text("\n@read0\nACGTACGTAC\n+\nIIIIIIIIII\n@read1\nGGGGCCCCAA\n+\n>IIIIIIIII\n")
    expected = (
        f"scipt: error: {reads}: looks like FASTQ (line 2 starts with '@'); expected FASTA ('>' headers) "
        "or, where labelled sequences are read, a CSV/TSV table"
    )
    negatives = tmp_path / "neg.fa"
    negatives.write_text(">n\nACGTACGTAC\n")
    commands = [
        ["pretrain", "dna", "--data", str(reads), "--out", str(tmp_path / "a")],
        ["finetune", "promoter", "--positives", str(reads), "--negatives", str(negatives)]
        + ["--out", str(tmp_path / "b")],
    ]
    for argv in commands:
        assert main(argv) == 2
        assert capsys.readouterr().err.splitlines() == [expected]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["neg.fa", "reads.fq"]


# --- read_sequences: labels, delimiters and names as users' files write them ------------------
def _table(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_every_accepted_label_spelling_is_read_as_its_class(tmp_path):
    """pandas writes 1.0, spreadsheets Yes/No, benchmarks promoter/non-promoter: each spelling is
    its class, whatever its case or padding; one read as the other class mislabels in silence."""
    from sciPT.domains.dna.data import read_labelled

    spellings = {
        "1": 1, "0": 0, "1.0": 1, "0.0": 0, "1.": 1, "0.00": 0, "+": 1, "-": 0, "Promoter": 1,
        "NON-PROMOTER": 0, "positive": 1, "Negative": 0, "TRUE": 1, "false": 0, "yes": 1, " No ": 0,
    }  # fmt: skip
    # the label column first: its place in the header, not the row's last cell, says which it is
    rows = "".join(f"{word},{i},ACGT\n" for i, word in enumerate(spellings))
    data = read_labelled(_table(tmp_path, "t.csv", "label,name,sequence\n" + rows))
    assert data.names == [str(i) for i in range(len(spellings))]
    assert data.labels.tolist() == list(spellings.values())


def test_a_label_that_only_resembles_one_is_refused_naming_its_line(tmp_path):
    """'10', '1.5' or '0.7' is no 0/1 label (a count, a score): read as 1 or 0 it would mislabel
    the record without a word. The label is quoted as the cell holds it, spaces dropped."""
    from sciPT.domains.dna.data import read_labelled

    for word in ["10", "00", "1.5", "0.7", " 2"]:
        path = _table(tmp_path, "t.csv", f"sequence,label\nACGT,1\nGG,0\nTT,{word}\n")
        with pytest.raises(DataError) as err:
            read_labelled(path)
        assert str(err.value) == (
            f"{path}: line 4 has label '{word.strip()}'; expected 0/1 (or +/-, promoter/non-promoter, "
            "positive/negative, true/false, yes/no)"
        )


def test_a_tab_separated_file_is_read_by_its_header_whatever_its_name(tmp_path):
    """A .txt (or .csv) file saved tab-separated is a table of tabs: read with commas, its header
    is one column and 'sequence' is not found."""
    path = _table(tmp_path, "data.txt", "name\tsequence\tlabel\nx\tACGT\t1\ny\tGG\t0\n")
    data = read_sequences(path, DNA_SPEC, labelled=True)
    assert data.names == ["x", "y"] and data.labels.tolist() == [1, 0]
    assert [c.tolist() for c in data.codes] == [[0, 1, 2, 3], [2, 2]]


def test_semicolons_separate_only_a_header_without_commas(tmp_path):
    """A European spreadsheet separates with ';'; a comma table whose column name holds a ';' is
    still a comma table."""
    path = _table(tmp_path, "eu.csv", "name;sequence;label\nx;ACGT;1\ny;GG;0\n")
    data = read_sequences(path, DNA_SPEC, labelled=True)
    assert data.names == ["x", "y"] and data.labels.tolist() == [1, 0]
    path = _table(tmp_path, "notes.csv", "name,sequence,note; comment\nx,ACGT,a; b\n")
    data = read_sequences(path, DNA_SPEC)
    assert data.names == ["x"] and [c.tolist() for c in data.codes] == [[0, 1, 2, 3]]


def test_cells_and_names_written_after_a_comma_and_a_space_are_read_without_it(tmp_path):
    """'name, sequence, label' with ' x, ACGT, 1' rows: names without their spaces (a later join by
    name finds them), sequences and labels read."""
    path = _table(tmp_path, "spaced.csv", "name, sequence, label\n x , ACGT, 1\ny, GG , 0\n")
    data = read_sequences(path, DNA_SPEC, labelled=True)
    assert data.names == ["x", "y"] and data.labels.tolist() == [1, 0]
    assert [c.tolist() for c in data.codes] == [[0, 1, 2, 3], [2, 2]]


def test_rows_of_empty_cells_are_skipped_like_blank_lines(tmp_path):
    """Excel leaves ',,' rows below a table: nothing in them, so no record and no error, and the
    line numbers of the rows around them stay those of the file."""
    path = _table(tmp_path, "x.csv", "sequence,label\nACGT,1\n,,\n , \nGG,0\nTT,2\n")
    with pytest.raises(DataError) as err:
        read_sequences(path, DNA_SPEC, labelled=True)
    assert str(err.value).startswith(f"{path}: line 6 has label '2'; expected 0/1")
    path = _table(tmp_path, "y.csv", "sequence,label\nACGT,1\n,,\nGG,0\n,\n")
    data = read_sequences(path, DNA_SPEC, labelled=True)
    assert data.names == ["line2", "line4"] and data.labels.tolist() == [1, 0]


def test_a_name_column_names_the_rows_before_an_id_column(tmp_path):
    """The docstring's rule: 'name', else 'id'; the output is written by these names."""
    path = _table(tmp_path, "both.csv", "id,name,sequence\n7,a,ACGT\n8,b,GG\n")
    assert read_sequences(path, DNA_SPEC).names == ["a", "b"]
    path = _table(tmp_path, "id.csv", "ID,sequence\n7,ACGT\n")
    assert read_sequences(path, DNA_SPEC).names == ["7"]


def test_carries_labels_reads_the_header_as_the_reader_does(tmp_path):
    """`scipt negatives --positives` takes a labelled file's label-1 records only: a labelled file
    taken for an unlabelled one would make its label-0 records positives."""
    from sciPT.sequence_inputs import carries_labels

    assert carries_labels(_table(tmp_path, "a.csv", "sequence, label\nACGT, 1\n"))
    assert carries_labels(_table(tmp_path, "b.tsv", "Sequence\tLabel\nACGT\t1\n"))
    assert not carries_labels(_table(tmp_path, "c.csv", "name, sequence\nx, ACGT\n"))
    assert carries_labels(_table(tmp_path, "d.fa", ">r0 label=0\nACGT\n>r1 label=1\nGG\n"))
    assert carries_labels(_table(tmp_path, "e.fa", ">r0 chr1|label=1\nACGT\n"))
    assert not carries_labels(_table(tmp_path, "f.fa", ">r0 mislabel=1\nACGT\n"))


def test_a_label_word_the_file_label_cannot_read_is_not_said_to_disagree(tmp_path, capsys):
    """One side of a pair warns of records that say the other label; a header word that is no
    label at all says neither, and the warning would misreport it."""
    from sciPT.domains.dna.data import read_labelled

    path = _table(tmp_path, "neg.fa", ">n0 label=maybe\nACGT\n>n1 label=0\nGG\n")
    assert read_labelled(path, fasta_label=0).labels.tolist() == [0, 0]
    assert capsys.readouterr().err == ""


def test_a_row_that_stops_before_the_label_column_is_read_as_its_files_label(tmp_path, capsys):
    """One side of a pair needs no label cell: a row that leaves it off is read, not a crash."""
    from sciPT.domains.dna.data import read_labelled

    path = _table(tmp_path, "neg.csv", "name,sequence,label\nn0,ACGT\nn1,GG,1\n")
    data = read_labelled(path, fasta_label=0)
    assert data.names == ["n0", "n1"] and data.labels.tolist() == [0, 0]
    assert capsys.readouterr().err.splitlines() == [
        f"warning: {path}: 1 of 2 records say label 1 in column 'label' (first: record 'n1' (line 3), "
        "'1'); every record of a --negatives file is read as label 0 (a file labelled in a column "
        "keeps its labels as --train)"
    ]


def test_repeated_names_beyond_three_are_elided_and_three_are_not(tmp_path):
    """The warning lists up to three repeated names and says '...' only where more were left off."""
    from sciPT.sequence_inputs import repeated_names_note

    three = _table(tmp_path, "three.fa", "".join(f">{n}\nAC\n>{n}\nGG\n" for n in "abc"))
    assert repeated_names_note(read_sequences(three, DNA_SPEC)) == (
        f"warning: {three}: 3 name(s) occur more than once ('a', 'b', 'c'; 6 rows): the output keeps "
        "the input's order, so join it by row, not by name"
    )
    four = _table(tmp_path, "four.fa", "".join(f">{n}\nAC\n>{n}\nGG\n" for n in "abcd"))
    assert repeated_names_note(read_sequences(four, DNA_SPEC)) == (
        f"warning: {four}: 4 name(s) occur more than once ('a', 'b', 'c', ...; 8 rows): the output "
        "keeps the input's order, so join it by row, not by name"
    )


def test_a_record_shorter_than_one_token_is_refused_and_one_token_long_is_kept():
    """A record of fewer residues than a token gives the model nothing to read; one of exactly a
    token's residues gives it one token, and is scored."""
    from sciPT.sequence_inputs import LabelledSequences

    data = LabelledSequences(["a", "b"], [np.zeros(3, np.uint8), np.zeros(2, np.uint8)], None, "q.fa")
    data.subset([0]).refuse_shorter_than(3, "score")
    with pytest.raises(DataError) as err:
        data.refuse_shorter_than(3, "score")
    assert str(err.value) == (
        "q.fa: record 'b' has 2 residue(s), fewer than the 3 of one of the model's tokens: nothing to score"
    )


def test_a_fastq_file_without_a_line_like_a_fasta_header_is_named_as_fastq(tmp_path):
    """Most FASTQ files hold no '>' line at all: read as a table, one was refused for a missing
    'sequence' column (its header '@read0'), which says nothing of what is wrong."""
    path = _table(tmp_path, "reads.fq", "@read0\nACGTACGTAC\n+\nIIIIIIIIII\n")
    with pytest.raises(DataError) as err:
        read_sequences(path, DNA_SPEC, labelled=True)
    assert str(err.value) == (
        f"{path}: looks like FASTQ (line 1 starts with '@'); expected FASTA ('>' headers) "
        "or, where labelled sequences are read, a CSV/TSV table"
    )


def test_a_labelled_fasta_record_without_a_label_word_is_refused_naming_it(tmp_path):
    """Every record of a labelled FASTA needs its label: one without is named (1-based), with the
    words that would label it, 0 first as everywhere labels are listed."""
    path = _table(tmp_path, "l.fa", ">a label=1\nACGT\n>b label=0\nGG\n>c note\nTT\n")
    with pytest.raises(DataError) as err:
        read_sequences(path, DNA_SPEC, labelled=True)
    assert str(err.value) == f"{path}: record 'c' (#3) has no 'label=0' or 'label=1' in its header"


def test_label_words_are_matched_in_any_case_whichever_case_the_caller_gives_them(tmp_path):
    """read_sequences' labels are pairs of words "any case": a task that names its words
    capitalised still reads a file's lower-case ones."""
    path = _table(tmp_path, "t.csv", "sequence,label\nACGT,bound\nGG,UNBOUND\n")
    data = read_sequences(path, DNA_SPEC, labelled=True, labels=(("Bound", "Unbound"),))
    assert data.labels.tolist() == [1, 0]


def test_the_ambiguity_mark_reads_the_sequence_not_the_name(tmp_path):
    """Names often hold letters that are IUPAC codes (R, Y, K, ...): the note of sequences read
    with an ambiguity code as N counts the residues', not the names'."""
    table = _table(tmp_path, "q.csv", "name,sequence\nRY1,ACGT\nx,ACGW\n")
    assert read_sequences(table, DNA_SPEC).aliased.tolist() == [False, True]
    fasta = _table(tmp_path, "q.fa", ">RY1 kinase\nACGT\n>x\nACGW\n")
    assert read_sequences(fasta, DNA_SPEC).aliased.tolist() == [False, True]
