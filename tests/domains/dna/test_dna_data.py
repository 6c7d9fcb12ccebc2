"""DNA inputs (:mod:`sciPT.domains.dna.data`): the labelled readers, their refusals, the sigma subsets."""

import pytest

from sciPT.domains.dna.data import (
    DNA_SPEC,
    SIGMA_SUBSETS,
    read_labelled,
    read_pair,
    read_queries,
    sigma_subset_path,
)
from sciPT.errors import DataError


def test_a_file_of_negatives_only_is_refused_naming_the_class_it_holds(tmp_path):
    """A labelled file with one class cannot train a classifier: the message says which class and how
    many records, so a user sees they passed the negatives file alone."""
    p = tmp_path / "neg.csv"
    p.write_text("name,sequence,label\na,ACGT,0\nb,ACGA,0\nc,TTTT,0\n")
    with pytest.raises(DataError) as err:
        read_labelled(p)
    assert str(err.value) == (
        f"{p}: only one class (label 0, 3 records); expected both promoters (1) and non-promoters (0)"
    )


def test_a_file_of_two_positives_and_one_negative_is_read(tmp_path):
    """Both classes present, however unbalanced: no refusal, the labels as written."""
    p = tmp_path / "t.csv"
    p.write_text("name,sequence,label\na,ACGT,1\nb,ACGA,1\nc,TTTT,0\n")
    assert read_labelled(p).labels.tolist() == [1, 1, 0]


def test_a_pair_labels_each_record_by_its_file_in_name_order(tmp_path):
    """--positives then --negatives: every name keeps its own file's label (a shuffle of labels
    against names would train on wrong answers)."""
    (tmp_path / "pos.fa").write_text(">p1\nACGT\n>p2\nAAAA\n")
    (tmp_path / "neg.fa").write_text(">n1\nCCCC\n>n2\nGGGG\n>n3\nTTTT\n")
    data = read_pair(tmp_path / "pos.fa", tmp_path / "neg.fa")
    assert data.names == ["p1", "p2", "n1", "n2", "n3"]
    assert data.labels.tolist() == [1, 1, 0, 0, 0]
    assert [c.tolist() for c in data.codes][1:3] == [[0, 0, 0, 0], [1, 1, 1, 1]]
    assert data.source == f"{tmp_path / 'pos.fa'} + {tmp_path / 'neg.fa'}"


def test_a_pair_of_tables_reads_the_sequence_column_asked_for(tmp_path):
    """--sequence-column applies to both files of a --positives/--negatives pair."""
    (tmp_path / "pos.csv").write_text("id,dna\np,ACGT\n")
    (tmp_path / "neg.csv").write_text("id,dna\nn,TTTT\n")
    data = read_pair(tmp_path / "pos.csv", tmp_path / "neg.csv", sequence_column="dna")
    assert [c.tolist() for c in data.codes] == [[0, 1, 2, 3], [3, 3, 3, 3]]
    assert data.labels.tolist() == [1, 0]


def test_an_unknown_sigma_subset_is_refused_with_the_names_it_could_be():
    with pytest.raises(DataError) as err:
        sigma_subset_path("sigma99")
    assert str(err.value) == (
        "unknown sigma subset 'sigma99' (expected one of: sigma24, sigma28, sigma32, sigma38, sigma54, sigma70)"
    )
    assert SIGMA_SUBSETS[-1] == "sigma70"
    assert sigma_subset_path("sigma70") == "data_recipes/promoters/sigma70promoter.txt"


def test_the_complement_pairs_a_with_t_and_c_with_g_and_keeps_n():
    """Reverse complements (strand-aware splits, strand-symmetric scoring) rest on these codes."""
    assert DNA_SPEC.complement_codes()[:5].tolist() == [3, 2, 1, 0, 4]


def test_every_iupac_ambiguity_code_of_a_query_reads_as_n(tmp_path):
    """A query read as a genome: each of R Y S W K M B D H V (either case) is N, code 4."""
    p = tmp_path / "q.fa"
    p.write_text(">q\nRYSWKMBDHVrys\n")
    assert read_queries(p).codes[0].tolist() == [4] * 13


def test_a_kmer_over_n_is_unknown_and_the_kmer_vocabulary_is_over_acgt_alone():
    """N is no core base: a 2-mer holding it is [UNK] (id 1), and the 2-mers are the 4 x 4 over
    A C G T after the 5 special tokens (AC: 5 + 0 * 4 + 1 = 6, GT: 5 + 2 * 4 + 3 = 16)."""
    from sciPT.tokenizers import UNK_ID, SequenceTokenizer

    tokenizer = SequenceTokenizer(DNA_SPEC.alphabet, k=2)
    assert tokenizer.vocab_size == 5 + 16
    codes = DNA_SPEC.encode("ACNGT", "q", "record")
    assert tokenizer.encode_codes(codes).tolist() == [6, UNK_ID, UNK_ID, 16]


def test_read_labelled_reads_an_unlabelled_table_when_asked_to(tmp_path):
    """labelled=False: a table without a label column is read, its labels None (not refused for a
    missing label column)."""
    p = tmp_path / "u.csv"
    p.write_text("name,sequence\na,ACGT\nb,TTGA\n")
    data = read_labelled(p, labelled=False)
    assert data.labels is None
    assert [c.tolist() for c in data.codes] == [[0, 1, 2, 3], [3, 3, 2, 0]]


def test_a_labelled_table_without_a_label_column_names_both_column_options(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("name,sequence\na,ACGT\n")
    with pytest.raises(DataError) as err:
        read_labelled(p)
    assert str(err.value) == (
        f"{p}: no column 'label' (columns: name, sequence); name it with --sequence-column / --label-column"
    )


def test_queries_read_the_sequence_column_asked_for_and_name_only_that_option(tmp_path):
    """scipt predict --sequence-column: the column named is read; a table without it is refused
    naming --sequence-column alone (queries have no label column)."""
    p = tmp_path / "q.csv"
    p.write_text("id,dna\nq,GATR\n")
    assert [c.tolist() for c in read_queries(p, sequence_column="dna").codes] == [[2, 0, 3, 4]]
    with pytest.raises(DataError) as err:
        read_queries(p)
    assert str(err.value) == f"{p}: no column 'sequence' (columns: id, dna); name it with --sequence-column"
