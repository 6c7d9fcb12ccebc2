import numpy as np
import pytest

from sciPT.sequence_inputs import LabelledSequences
from sciPT.tasks.promoter_checks import length_flag, overlap_flags


def sequences(texts: list[str], labels: list[int], source: str) -> LabelledSequences:
    codes = [np.array(["ACGTN".index(c) for c in t], dtype=np.uint8) for t in texts]
    return LabelledSequences([f"r{i}" for i in range(len(texts))], codes, np.array(labels), source)


def test_a_positives_negatives_pair_is_named_by_both_files():
    """The 3 repeats of iPromoter-2L are promoters: the report must not blame the negatives' file."""
    data = sequences(["AACG", "GGGA", "AACG"], [1, 0, 1], "data/pos.txt + other/neg.txt")
    metrics: dict = {}
    lines = overlap_flags(data, sequences(["CGTT"], [1], "held/test.fa"), metrics)
    assert metrics == {"label_conflicts": 0, "repeated_sequences": 1, "test_in_training": 1}
    assert lines[0].startswith("- **Repeated sequences**: 1 record of pos.txt + neg.txt repeats an earlier")
    assert lines[1].startswith(
        "- **Test set not held out**: 1 of the 1 sequences of test.fa occur in the training data "
        "pos.txt + neg.txt (either strand)"
    )


def test_clean_data_add_no_line():
    metrics: dict = {}
    assert overlap_flags(sequences(["AACG", "GGGA"], [1, 0], "t.csv"), None, metrics) == []
    assert metrics == {"label_conflicts": 0, "repeated_sequences": 0}


def test_lengths_that_tell_the_classes_apart_are_flagged():
    """Promoters of 8 and 9 bp against non-promoters of 6 and 8: of the 4 pairs, 3 have the
    promoter longer and 1 a tie (half): AUROC 3.5 / 4 = 0.875, under the 0.9 line; one more short
    non-promoter makes it 5.5 / 6 = 0.917, flagged."""
    texts, labels = ["ACGTACGT", "ACGTACGTA", "ACGTAC", "ACGTACGT"], [1, 1, 0, 0]
    metrics: dict = {}
    assert length_flag(sequences(texts, labels, "pos.fa + neg.fa"), 9, metrics) == []
    assert metrics == {"label_length_auroc": pytest.approx(3.5 / 4)}
    lines = length_flag(sequences([*texts, "ACGTA"], [*labels, 0], "a/pos.fa + b/neg.fa"), 9, metrics)
    assert metrics["label_length_auroc"] == pytest.approx(5.5 / 6)
    assert lines == [
        "- **Length gives the label away**: in pos.fa + neg.fa promoters are 8-9 bp long and non-promoters "
        "5-8 bp; length alone tells them apart (AUROC 0.92), and the shorter ones are padded to 9 bp, so a "
        "model can learn the padding instead of the sequence. Give both classes sequences of the same length."
    ]
    metrics = {}
    assert length_flag(sequences(["AACG", "GGGA"], [1, 0], "t.csv"), 4, metrics) == [] and metrics == {}
    # read at 5 bp, cropped, every sequence is one length: nothing to learn from padding
    assert (
        length_flag(sequences([*texts, "ACGTA"], [*labels, 0], "t.csv"), 5, metrics) == [] and metrics == {}
    )
