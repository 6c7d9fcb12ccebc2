import numpy as np

from sciPT.sequence_inputs import LabelledSequences
from sciPT.tasks.promoter_checks import overlap_flags


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
