import numpy as np
import pytest

from sciPT import sequence_inputs
from sciPT.domains.dna.data import DNA_SPEC
from sciPT.errors import DataError
from sciPT.sequence_inputs import in_chunks, read_sequences
from sciPT.sequences import Corpus


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


# --- second mutation pass: what a first pass left unheld -------------------------------------
@pytest.mark.parametrize("name", ["one.tsv", "one.tsv.gz"])
def test_a_tsv_named_file_of_one_column_is_split_on_tabs_not_commas(tmp_path, name):
    """A header of one column holds no tab to tell the delimiter: the name (.tsv, .tsv.gz) does, so
    a comma in a cell is a bad residue at its position, not a row of too many fields."""
    import gzip

    path = tmp_path / name
    text = "sequence\nACGT\nAC,GT\n"
    if name.endswith(".gz"):
        with gzip.open(path, "wt") as f:
            f.write(text)
    else:
        path.write_text(text)
    with pytest.raises(DataError) as err:
        read_sequences(path, DNA_SPEC)
    assert str(err.value) == (
        f"{path}: line 3 has ',' at position 3; expected A, C, G, T, N or an IUPAC ambiguity code "
        "(R Y S W K M B D H V), either case"
    )


def test_the_alias_note_counts_the_sequences_that_held_one(tmp_path):
    """2 of 3 sequences held an ambiguity code (however many each held), read as N, the symbol
    they become, not the codes themselves."""
    from sciPT.sequence_inputs import alias_note

    path = _table(tmp_path, "q.fa", ">a\nACGT\n>b\nACRY\n>c\nGGW\n")
    assert alias_note(read_sequences(path, DNA_SPEC), DNA_SPEC) == (
        f"{path}: 2 of 3 sequences held ambiguity codes (R Y S W K M B D H V), read as N"
    )
    assert alias_note(read_sequences(_table(tmp_path, "c.fa", ">a\nACGT\n"), DNA_SPEC), DNA_SPEC) is None


def test_carries_labels_finds_a_label_word_in_any_header_and_the_named_column(tmp_path):
    """A FASTA labelled only from its second record on is labelled (its first record is then refused
    by name when read), and a table's label column is the one the caller names."""
    from sciPT.sequence_inputs import carries_labels

    late = _table(tmp_path, "late.fa", ">r0\nACGT\n>r1 label=1\nGG\n")
    assert carries_labels(late)
    with pytest.raises(DataError) as err:
        read_sequences(late, DNA_SPEC, labelled=True)
    assert str(err.value) == f"{late}: record 'r0' (#1) has no 'label=0' or 'label=1' in its header"
    table = _table(tmp_path, "t.csv", "sequence,class\nACGT,1\n")
    assert carries_labels(table, label_column="class")
    assert not carries_labels(_table(tmp_path, "u.csv", "sequence,label\nACGT,1\n"), label_column="class")


def test_a_padded_float_label_is_read_as_its_class(tmp_path):
    """' 1.0' after a comma and a space (pandas' float column, spaced) is 1, as '1.0' and ' 1' are."""
    path = _table(tmp_path, "f.csv", "sequence, label\nACGT, 1.0\nGG, 0.00 \nTT,\t1.\n")
    assert read_sequences(path, DNA_SPEC, labelled=True).labels.tolist() == [1, 0, 1]


def test_a_label_column_named_twice_is_refused_for_one_side_of_a_pair(tmp_path):
    """--negatives FILE reads its label column only to say where it disagrees: two of them (in any
    case) would leave which one unsaid, so the header is refused as when the labels are read."""
    from sciPT.domains.dna.data import read_labelled

    path = _table(tmp_path, "neg.csv", "sequence,label,Label\nACGT,0,1\n")
    with pytest.raises(DataError) as err:
        read_labelled(path, fasta_label=0)
    assert str(err.value) == (
        f"{path}: column 'label' is named twice in the header (columns 2 ('label') and 3 ('Label')); "
        "expected each column once"
    )


def test_a_row_that_stops_before_its_name_cell_is_named_by_its_line(tmp_path):
    """A name column after the sequence: a row that leaves its name off is 'line<n>', not a crash."""
    path = _table(tmp_path, "n.csv", "sequence,name\nACGT\nGG,b\n")
    data = read_sequences(path, DNA_SPEC)
    assert data.names == ["line2", "b"] and [c.tolist() for c in data.codes] == [[0, 1, 2, 3], [2, 2]]


def test_a_subset_keeps_each_record_with_its_own_label():
    """A split (cross-validation, early stopping) takes names, codes, labels and marks together, in
    the order asked for."""
    from sciPT.sequence_inputs import LabelledSequences

    codes = [np.full(2, i, np.uint8) for i in range(3)]
    data = LabelledSequences(
        ["a", "b", "c"], codes, np.array([1, 0, 1]), "q.fa", np.array([False, True, False])
    )
    part = data.subset([2, 1])
    assert part.names == ["c", "b"] and [c.tolist() for c in part.codes] == [[2, 2], [1, 1]]
    assert part.labels.tolist() == [1, 0] and part.aliased.tolist() == [False, True]
    assert (
        data.subset([0]).labels.tolist() == [1]
        and LabelledSequences(["a"], codes[:1], None, "q").subset([0]).labels is None
    )


def test_an_indented_header_is_named_by_its_line(tmp_path):
    """' >a' (a header pasted with a leading space) is no FASTA header to Biopython, which skips it
    as text above a header that never comes: the file read as empty, with no line named. It is
    refused at its line, by the labelled reader and by the corpus reader alike."""
    path = _table(tmp_path, "indented.fa", "\n  >a\nACGT\n")
    expected = f"{path}: line 2 has spaces before its '>'; expected a FASTA header to start its line"
    with pytest.raises(DataError) as err:
        read_sequences(path, DNA_SPEC)
    assert str(err.value) == expected
    with pytest.raises(DataError) as err:
        Corpus([path], DNA_SPEC)
    assert str(err.value) == expected


def test_a_fastq_file_after_blank_lines_is_named_as_fastq_at_its_line(tmp_path):
    """Blank lines above the first read: the first text is still what tells FASTQ, named by its line
    counted in the file (3), not a table with no 'sequence' column."""
    path = _table(tmp_path, "reads.fq", "\n\n@read0\nACGTACGTAC\n+\nIIIIIIIIII\n")
    with pytest.raises(DataError) as err:
        read_sequences(path, DNA_SPEC)
    assert str(err.value) == (
        f"{path}: looks like FASTQ (line 3 starts with '@'); expected FASTA ('>' headers) "
        "or, where labelled sequences are read, a CSV/TSV table"
    )


def test_a_table_row_with_an_empty_sequence_cell_is_refused_naming_it(tmp_path):
    """A row with a name and label but no sequence (a failed export) is no record of zero residues
    to score: it is refused by name and line, as an empty FASTA record is."""
    path = _table(tmp_path, "e.csv", "name,sequence,label\na,ACGT,1\nb, ,0\n")
    with pytest.raises(DataError) as err:
        read_sequences(path, DNA_SPEC, labelled=True)
    assert str(err.value) == f"{path}: record 'b' (line 3) has an empty sequence"


def test_a_file_of_blank_lines_is_a_table_without_columns(tmp_path):
    """No line starts with '>', so by the docstring's rule it is a table: refused for its missing
    column, saying there are none, with the formats accepted."""
    path = _table(tmp_path, "blank.csv", "\n\n")
    with pytest.raises(DataError) as err:
        read_sequences(path, DNA_SPEC)
    assert str(err.value) == (
        f"{path}: no column 'sequence' (columns: none); expected FASTA or a CSV/TSV table with a "
        "'sequence' column"
    )
