import numpy as np
import pytest

from sciPT.diagnostics import overlap
from sciPT.domains.dna.data import DNA_SPEC
from sciPT.errors import ConfigError, DataError
from sciPT.sequence_inputs import LabelledSequences
from sciPT.splits import grouped_split
from sciPT.tasks.promoter_checks import (
    check_distinct_sequences,
    check_epoch_fits,
    check_label_fractions,
    distinct_needed,
    length_flag,
    overlap_flags,
    validate,
)
from sciPT.tasks.promoter_config import PromoterConfig


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


def test_a_validation_file_drawn_from_the_training_data_is_flagged():
    """--val of the training file: early stopping and the stacks fitted on training sequences, and
    validation scores of 1.000, without a word (only --test was checked)."""
    data = sequences(["AACG", "GGGA", "TTAC"], [1, 0, 1], "train.csv")
    metrics: dict = {}
    lines = overlap_flags(data, None, metrics, val=sequences(["GTAA", "CCCC"], [1, 0], "v/val.csv"))
    assert metrics["val_in_training"] == 1  # GTAA is TTAC's reverse complement
    assert lines == [
        "- **Validation set not held out**: 1 of the 2 sequences of val.csv occur in the training data "
        "train.csv (either strand); the final model stopped early and fitted its stacks on sequences it "
        "was trained on, and the validation scores include them."
    ]
    assert overlap_flags(data, None, {}, val=sequences(["CCCC"], [0], "val.csv")) == []


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


def test_distinct_sequences_needed_for_folds_whose_training_parts_stop_early():
    # a fold tests up to ceil(c / k) of a class's c distinct sequences; 2 must stay to stop early
    assert [distinct_needed(k) for k in (0, 2, 3, 5, 10)] == [2, 4, 3, 5, 10]


def test_copies_count_once_and_too_few_are_refused_before_anything_is_written():
    from sciPT.tasks.promoter_config import PromoterConfig

    # five promoter records, but two sequences: AACG three times (once as its reverse complement CGTT)
    texts = ["AACG", "AACG", "CGTT", "GGGA", "GGGA", "ATAT", "CCCA", "TTGA", "GACA", "CATG"]
    data = sequences(texts, [1, 1, 1, 1, 1, 0, 0, 0, 0, 0], "pos.fa + neg.fa")
    check_distinct_sequences(PromoterConfig(), data, None)  # one fit: 2 of each class suffice
    with pytest.raises(DataError) as err:
        check_distinct_sequences(PromoterConfig(folds=3), data, None)
    assert str(err.value) == (
        "pos.fa + neg.fa: 2 distinct promoter sequences (copies and reverse complements count once); "
        "3 folds, each training part stopping early on 2 of each class, needs at least 3"
    )


def test_a_label_fraction_too_small_for_its_early_stopping_split_is_refused_first():
    # 10 promoters and 53 others: 5 % of the 80 % pool is 4 sequences, 1 of them a promoter; the
    # fit refused it only after the cross-validation and the final model were done
    from sciPT.tasks.promoter_evaluation import fraction_split, fraction_subset

    rng = np.random.default_rng(1)
    texts = ["".join(rng.choice(list("ACGT"), 20)) for _ in range(63)]
    data = sequences(texts, [1] * 10 + [0] * 53, "imb.csv")
    cfg = PromoterConfig(label_fractions=[0.05, 1.0], fraction_seeds=2)
    pool, _ = fraction_split(cfg, data)
    subset = fraction_subset(pool, 0.05, 0)
    assert len(subset) == 4 and subset.labels.sum() == 1  # what the fit would train on
    with pytest.raises(ConfigError) as err:
        check_label_fractions(cfg, data)
    assert str(err.value) == (
        "--label-fractions 0.05: its subset of 4 sequences (seed 0) holds 1 distinct promoter sequence, "
        "and its early-stopping split needs at least 2; expected a larger fraction"
    )
    check_label_fractions(PromoterConfig(label_fractions=[0.25, 1.0], fraction_seeds=2), data)


def test_the_epoch_check_measures_the_fit_the_grouped_split_leaves():
    """100 records: one promoter 30 times, 20 other promoters, 50 non-promoters. The early-stopping
    split holds out whole groups, so the fit is not always 100 - 10 records: the check measures the
    largest fit of the ensemble's splits and refuses a budget that ends before its first pass."""
    from sciPT.tasks.promoter_config import PromoterConfig

    rng = np.random.default_rng(0)
    texts = ["ACGTACGTAA"] * 30 + ["".join(rng.choice(list("ACGT"), 10)) for _ in range(70)]
    data = sequences(texts, [1] * 50 + [0] * 50, "t.csv")
    cfg = PromoterConfig()
    cfg.train.max_steps, cfg.train.batch_size, cfg.ensemble = 100, 10, 3
    keys = overlap.strand_keys(data.codes, DNA_SPEC.complement_codes())
    fits = [len(grouped_split(keys, data.labels, 10, cfg.train.seed + 1000 * m)[0]) for m in range(3)]
    cfg.train.max_steps = -(-max(fits) // 10) - 1
    with pytest.raises(ConfigError, match=f"one pass over the {max(fits)} training sequences of t.csv"):
        check_epoch_fits(cfg, data, None)
    cfg.train.max_steps += 1
    check_epoch_fits(cfg, data, None)


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"train.batch_size": 0}, "train.batch_size: expected a positive integer, got 0"),
        ({"train.accumulate": 0}, "train.accumulate: expected a positive integer, got 0"),
        ({"train.lr": -1.0}, "train.lr: expected a positive learning rate, got -1.0"),
        ({"train.seed": -1}, "train.seed: expected an integer from 0 to 4294967295, got -1"),
        ({"max_epochs": 0}, "max_epochs: expected a positive integer, got 0"),
        ({"patience": -1}, "patience: expected 0 or more, got -1"),
    ],
)
def test_the_training_keys_the_fits_read_are_checked_as_pre_training_checks_them(changes, message):
    """A batch size of 0 divided by zero, a negative learning rate failed in the first fit, after
    the run directory was made; an epoch count of 0 exported an untrained model."""
    from sciPT.config import merge, nest

    cfg = merge(PromoterConfig(), nest(changes), "test")
    with pytest.raises(ConfigError) as err:
        validate(cfg)
    assert str(err.value) == message


def test_sequences_too_short_for_the_conv_head_are_refused_before_the_run_is_written(tmp_path, fast_cfg):
    """3-mer tokens: 19 bp are 17 tokens, and the conv head (kernel 15, max-pool 4) needs 18."""
    from sciPT.tasks import promoter

    rng = np.random.default_rng(0)
    path = tmp_path / "short.csv"
    rows = ["sequence,label"] + [f"{''.join(rng.choice(list('ACGT'), 19))},{i % 2}" for i in range(40)]
    path.write_text("\n".join(rows) + "\n")
    cfg = fast_cfg(ensemble=1, baselines=False)
    cfg.inputs.train = str(path)
    with pytest.raises(DataError) as err:
        promoter.run_finetune(cfg, tmp_path / "run")
    assert str(err.value) == (
        f"{path}: the model reads 19 residues (its longest sequence), 17 token(s), and the conv head "
        "needs at least 18 (kernel 15 + max-pool 4 - 1): expected sequences (or --inputs.max-length) "
        "of at least 20 residues, or a smaller --head.kernel / --head.pool"
    )
    assert not (tmp_path / "run").exists()
    cfg.inputs.max_length = -5
    with pytest.raises(ConfigError) as err:
        promoter.run_finetune(cfg, tmp_path / "run")
    assert str(err.value) == (
        "inputs.max_length: expected 0 (the longest training sequence) or a number of residues, got -5"
    )


def test_promoters_all_shorter_than_non_promoters_are_flagged_too():
    """Length gives the label away in either direction: promoters of 5 and 6 bp against
    non-promoters of 8 and 9 are flagged as the reverse is (only a large AUROC was tested), since a
    model learns "more padding: promoter" as easily as the reverse."""
    # every one of the 4 promoter/non-promoter pairs has the promoter shorter: AUROC 0 / 4 = 0,
    # at or below 1 - 0.9
    texts, labels = ["ACGTA", "ACGTAC", "ACGTACGTA", "ACGTACGT"], [1, 1, 0, 0]
    metrics: dict = {}
    lines = length_flag(sequences(texts, labels, "a/pos.fa + b/neg.fa"), 9, metrics)
    assert metrics == {"label_length_auroc": 0.0}
    assert lines == [
        "- **Length gives the label away**: in pos.fa + neg.fa promoters are 5-6 bp long and non-promoters "
        "8-9 bp; length alone tells them apart (AUROC 0.00), and the shorter ones are padded to 9 bp, so a "
        "model can learn the padding instead of the sequence. Give both classes sequences of the same length."
    ]
