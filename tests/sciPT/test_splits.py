"""Stratified splits that keep copies together (splits.py)."""

import numpy as np
import pytest
from sklearn.model_selection import StratifiedKFold, train_test_split

from sciPT.errors import DataError
from sciPT.splits import distinct_per_class, grouped_folds, grouped_split


def test_without_copies_the_splits_are_scikit_learns():
    labels = np.random.default_rng(0).integers(0, 2, 57)
    keys = [f"s{i}" for i in range(57)]
    ours = grouped_folds(keys, labels, 5, seed=3)
    theirs = StratifiedKFold(5, shuffle=True, random_state=3).split(np.zeros(57), labels)
    for (a_train, a_test), (b_train, b_test) in zip(ours, theirs):
        np.testing.assert_array_equal(a_train, b_train)
        np.testing.assert_array_equal(a_test, b_test)
    fit, held = grouped_split(keys, labels, 6, seed=7)
    want_fit, want_held = train_test_split(np.arange(57), test_size=6, random_state=7, stratify=labels)
    np.testing.assert_array_equal(fit, want_fit)  # the order too: it is the order of training
    np.testing.assert_array_equal(held, want_held)


def test_copies_land_on_one_side_of_every_split():
    rng = np.random.default_rng(1)
    keys = [f"s{i}" for i in rng.integers(0, 40, 120)]  # 120 records of at most 40 sequences
    labels = np.array([int(k[1:]) % 2 for k in keys])
    for train, test in grouped_folds(keys, labels, 4, seed=0):
        assert {keys[i] for i in train}.isdisjoint(keys[i] for i in test)
        assert len(train) + len(test) == 120
    fit, held = grouped_split(keys, labels, 12, seed=0)
    assert {keys[i] for i in fit}.isdisjoint(keys[i] for i in held)
    assert sorted([*fit, *held]) == list(range(120))
    assert set(labels[held]) == {0, 1}


def test_too_few_distinct_sequences_for_the_folds_is_one_line():
    keys = ["a", "a", "a", "b", "c", "d", "e", "f"]  # four copies of one promoter count once
    labels = np.array([1, 1, 1, 1, 0, 0, 0, 0])
    with pytest.raises(DataError) as err:
        grouped_folds(keys, labels, 3, seed=0, source="pos.fa + neg.fa")
    assert str(err.value) == (
        "pos.fa + neg.fa: 3 folds need at least 3 distinct sequences of each class (copies, "
        "reverse complements and grouped near copies count once); label 1 has 2"
    )


def test_a_class_of_one_distinct_sequence_has_no_early_stopping_split():
    keys = ["p"] * 12 + [f"n{i}" for i in range(12)]  # one promoter copied 12 times
    labels = np.array([1] * 12 + [0] * 12)
    with pytest.raises(DataError) as err:
        grouped_split(keys, labels, 3, seed=0)
    assert str(err.value) == (
        "an early-stopping split needs at least 2 distinct sequences of each class (copies, "
        "reverse complements and grouped near copies count once); found {0: 12, 1: 1}"
    )


def test_the_held_out_groups_are_scaled_to_the_records_per_group():
    """test_size counts records: with every sequence copied twice, half as many groups are held."""
    keys = [f"s{i // 2}" for i in range(20)]  # 20 records, 10 sequences of 2 copies each
    labels = np.array([(i // 2) % 2 for i in range(20)])
    fit, held = grouped_split(keys, labels, 4, seed=0)
    # round(4 * 10 groups / 20 records) = 2 groups held, 2 x 2 copies = 4 records
    assert (len(fit), len(held)) == (16, 4)
    assert {keys[i] for i in fit}.isdisjoint(keys[i] for i in held)


def test_a_set_of_one_class_has_no_early_stopping_split():
    """A file of promoters alone cannot be early-stopped on: one line, not a split without negatives."""
    keys = [f"s{i}" for i in range(10)]
    with pytest.raises(DataError) as err:
        grouped_split(keys, np.ones(10, dtype=int), 4, seed=0)
    assert str(err.value) == (
        "an early-stopping split needs at least 2 distinct sequences of each class (copies, "
        "reverse complements and grouped near copies count once); found {1: 10}"
    )


def test_a_tiny_early_stopping_split_still_holds_one_sequence_of_each_class():
    """A held-out part of 1 record cannot be stratified: at least 2 groups are held, one per class."""
    keys = [f"s{i}" for i in range(20)]
    labels = np.array([0, 1] * 10)
    fit, held = grouped_split(keys, labels, 1, seed=0)
    assert len(held) == 2 and sorted(labels[held]) == [0, 1]
    assert sorted([*fit, *held]) == list(range(20))


def test_the_held_out_groups_are_rounded_to_the_nearest():
    """test_size 8 of 30 records in 10 groups of 3 is 2.67 groups: 3 held (9 records), not 2."""
    keys = [f"s{i // 3}" for i in range(30)]
    labels = np.array([(i // 3) % 2 for i in range(30)])
    fit, held = grouped_split(keys, labels, 8, seed=0)
    assert (len(fit), len(held)) == (21, 9)
    assert {keys[i] for i in fit}.isdisjoint(keys[i] for i in held)


def test_exactly_as_many_distinct_sequences_as_folds_is_enough():
    """3 folds of 3 distinct sequences per class run (one of each class per test fold), copies
    included; only fewer than ``folds`` is refused."""
    keys = ["a", "a", "b", "c", "d", "e", "f", "f"]
    labels = np.array([1, 1, 1, 1, 0, 0, 0, 0])
    folds = grouped_folds(keys, labels, 3, seed=0)
    assert len(folds) == 3
    for train, test in folds:
        assert len({keys[i] for i in test}) == 2 and sorted(set(labels[test])) == [0, 1]
        assert {keys[i] for i in train}.isdisjoint(keys[i] for i in test)
    assert sorted(i for _, test in folds for i in test) == list(range(8))


def test_copies_follow_their_group_in_file_order():
    """The records come in the order scikit-learn gives their groups, each group's copies in file
    order: the order of training, the same from run to run of one file."""
    keys = ["a", "b", "a", "c", "d", "b", "e", "f", "a", "g"]
    labels = np.array([1, 0, 1, 1, 0, 0, 1, 0, 1, 0])
    groups = ["a", "b", "c", "d", "e", "f", "g"]  # numbered by first record
    group_labels = np.array([1, 0, 1, 0, 1, 0, 0])
    want_fit, want_held = train_test_split(np.arange(7), test_size=2, random_state=4, stratify=group_labels)

    def records(gs):
        return [i for g in gs for i, k in enumerate(keys) if k == groups[g]]

    # test_size 3 of 10 records in 7 groups: round(2.1) = 2 groups held
    fit, held = grouped_split(keys, labels, 3, seed=4)
    assert list(fit) == records(want_fit) and list(held) == records(want_held)


@pytest.mark.parametrize(
    "labels, test_size",
    [([0, 0, 1, 1], 3), ([0, 0, 0, 1, 1, 1], 5), ([0, 0, 1, 1, 2, 2], 1)],
)
def test_a_held_out_size_beyond_the_classes_still_leaves_each_class_on_each_side(labels, test_size):
    """Asked to hold out all but one record, or fewer than there are classes, the split still keeps
    one sequence of each class to fit and one to hold out; scikit-learn refused both with its own
    error."""
    labels = np.array(labels)
    fit, held = grouped_split([str(i) for i in range(len(labels))], labels, test_size, seed=0)
    classes = set(labels.tolist())
    assert set(labels[fit].tolist()) == classes and set(labels[held].tolist()) == classes
    assert sorted([*fit, *held]) == list(range(len(labels)))


def test_distinct_sequences_are_counted_once_under_their_first_records_label():
    """a (labels 1 then 0), b (0) and c (1, twice): one sequence of label 0 and two of label 1, each
    counted once and by its first record (not its last, and not record by record)."""
    keys = ["a", "b", "a", "c", "c"]
    labels = np.array([1, 0, 0, 1, 1])
    assert distinct_per_class(keys, labels) == {0: 1, 1: 2}


def test_without_a_seed_the_folds_take_the_groups_in_order_by_hand():
    """seed=None: unshuffled, the groups of each class dealt to folds 0, 1, 2 in the order of their
    first record. Groups a, c, e (label 0) and b, d, f (label 1): fold 0 holds a and b (records 0, 1,
    3, 7), fold 1 c and d, fold 2 e and f. Without copies: scikit-learn's unshuffled folds, where a
    shuffle of 60 records could not match by chance (a 3 x 2 set alone did one run in 36)."""
    keys = ["a", "b", "c", "a", "d", "e", "f", "b"]
    labels = np.array([0, 1, 0, 0, 1, 0, 1, 1])
    folds = grouped_folds(keys, labels, 3, seed=None)
    assert [test.tolist() for _, test in folds] == [[0, 1, 3, 7], [2, 4], [5, 6]]
    assert [train.tolist() for train, _ in folds] == [[2, 4, 5, 6], [0, 1, 3, 5, 6, 7], [0, 1, 2, 3, 4, 7]]
    labels = np.random.default_rng(2).integers(0, 2, 60)
    theirs = StratifiedKFold(5).split(np.zeros(60), labels)
    for (a_train, a_test), (b_train, b_test) in zip(
        grouped_folds([str(i) for i in range(60)], labels, 5, None), theirs
    ):
        np.testing.assert_array_equal(a_train, b_train)
        np.testing.assert_array_equal(a_test, b_test)
