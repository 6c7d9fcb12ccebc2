import numpy as np
import pytest

from sciPT.diagnostics import overlap
from sciPT.domains.dna.data import COMPLEMENT, DNA_SPEC
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
    assert metrics == {
        "label_conflicts": 0,
        "repeated_sequences": 1,
        "near_copies": 0,  # 4 bp: no 16-mer to compare
        "near_copy_label_conflicts": 0,
        "test_in_training": 1,
        "test_near_training": 0,
    }
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


def shifted_windows(rng: np.random.Generator) -> tuple[str, list[str]]:
    """A 60-bp stretch and three 40-bp windows of it: at 0, at 4 (on the other strand) and at 20."""
    rc = str.maketrans("ACGT", "TGCA")
    genome = "".join(rng.choice(list("ACGT"), 60))
    return genome, [genome[:40], genome[4:44].translate(rc)[::-1], genome[20:60]]


def test_near_copies_inside_the_training_data_are_flagged():
    """Windows cut again a few bases along are near copies.

    Of 40 bp, 25 16-mers each, named by where they start in the stretch: the window at 0 has 0-24,
    the one at 4 has 4-28 (on the other strand: the check reads both), the one at 20 has 20-44. The
    windows at 0 and 4 share 4-24, 21 of 25 (0.84): near at the default 0.5. The window at 20 shares
    20-24 (5) with the first and 20-28 (9) with the second: near neither. Two unrelated random
    40-mers share none."""
    rng = np.random.default_rng(3)
    _, windows = shifted_windows(rng)
    others = ["".join(rng.choice(list("ACGT"), 40)) for _ in range(2)]
    data = sequences(windows + others, [1, 1, 1, 0, 0], "data/pos.fa + data/neg.fa")
    assert overlap.copy_groups(data.codes, COMPLEMENT, 16, 0.5, 4).group.tolist() == [0, 0, 1, 2, 3]
    assert overlap.copy_groups(data.codes, COMPLEMENT, 16, 0.35, 4).group.tolist() == [0, 0, 0, 1, 2]
    metrics: dict = {}
    lines = overlap_flags(data, None, metrics)
    assert metrics["near_copies"] == 2 and metrics["repeated_sequences"] == 0
    assert lines == [
        "- **Near copies**: 2 records of pos.fa + neg.fa share at least 0.5 of their 16-mers (either "
        "strand) with another record without being a copy of it (a window cut again a few bases "
        "along, a promoter annotated at two nearby starts). The folds, the label fractions' test "
        "part and each fit's early-stopping split (and the baselines' and stacks' inner splits) keep "
        "near copies together, as they keep copies."
    ]
    metrics = {}
    assert overlap_flags(data, None, metrics, threshold=0.85) == [] and metrics["near_copies"] == 0
    # 9/25 = 0.36: at 0.35 the window at 20 is near the one at 4
    overlap_flags(data, None, metrics, threshold=0.35)
    assert metrics["near_copies"] == 3
    # exact copies are the repeats' line, not near copies of each other
    copies = sequences([windows[0], windows[0], others[0]], [1, 1, 0], "t.csv")
    metrics = {}
    assert len(overlap_flags(copies, None, metrics)) == 1 and metrics["near_copies"] == 0


def test_near_copies_labelled_both_ways_are_counted_by_group():
    """The windows at 0 and 4 are near copies; labelled promoter and non-promoter, they are one
    group holding both labels (iPromoter-2L's benchmark has 9 such groups). The window at 20, near
    neither at 0.5, is no conflict whatever its label; two groups labelled both ways are 'groups'."""
    rng = np.random.default_rng(3)
    _, windows = shifted_windows(rng)
    other = "".join(rng.choice(list("ACGT"), 40))
    metrics: dict = {}
    lines = overlap_flags(sequences([*windows, other], [1, 0, 0, 1], "t.csv"), None, metrics)
    assert metrics["near_copies"] == 2 and metrics["near_copy_label_conflicts"] == 1
    assert metrics["label_conflicts"] == 0
    assert lines[0].endswith(
        "together, as they keep copies. 1 group of near copies holds both labels: a promoter and a "
        "non-promoter that are nearly the same sequence."
    )
    _, more = shifted_windows(rng)
    texts, labels = [*windows[:2], *more[:2]], [1, 0, 0, 1]
    metrics = {}
    lines = overlap_flags(sequences(texts, labels, "t.csv"), None, metrics)
    assert metrics["near_copy_label_conflicts"] == 2
    assert "2 groups of near copies hold both labels" in lines[0]


def test_a_test_set_of_shifted_windows_is_flagged_as_near_copies():
    """iPromoter-2L's independent set is its benchmark's promoters shifted a few bases: no test
    sequence occurs in the training data, and the exact check said nothing. The window at 4 shares
    21 of its 25 16-mers with the training window at 0 (either strand): near; an exact copy is
    the exact line only; an unrelated window neither."""
    rng = np.random.default_rng(3)
    genome, windows = shifted_windows(rng)
    fresh = "".join(rng.choice(list("ACGT"), 40))
    train = sequences([windows[0], "".join(rng.choice(list("ACGT"), 40))], [1, 0], "train.csv")
    test = sequences([windows[1], windows[0], fresh], [1, 1, 0], "held/independent.csv")
    metrics: dict = {}
    lines = overlap_flags(train, test, metrics)
    assert metrics["test_in_training"] == 1 and metrics["test_near_training"] == 1
    assert lines[1] == (
        "- **Test set near copies**: 1 of the 3 sequences of independent.csv share at least 0.5 of "
        "their 16-mers (either strand) with the training data train.csv without occurring in it; the "
        "test scores partly measure how well the model recalls what it was trained on, not how it "
        "does on new sequences."
    )
    # the same for --val, and the run's own k and threshold decide
    metrics = {}
    lines = overlap_flags(train, None, metrics, val=test, k=24, threshold=0.8)
    # 24-mers: the window at 4 shares 40 - 4 - 24 + 1 = 13 of its 17 (0.76 < 0.8)
    assert metrics["val_near_training"] == 0 and len(lines) == 1
    lines = overlap_flags(train, None, metrics, val=test, k=24, threshold=0.75)
    assert metrics["val_near_training"] == 1
    assert lines[1].startswith("- **Validation set near copies**: 1 of the 3 sequences of independent.csv")
    assert lines[1].endswith(
        "the final model stopped early and fitted its stacks on near copies of what it was trained "
        "on, and the validation scores partly measure its recall of them."
    )


def test_the_run_s_k_decides_the_near_copies_inside_the_training_data():
    """3-mers by hand: AACGTA (AAC ACG CGT GTA) and ACGTAC (ACG CGT GTA TAC) share 3 of 4, near at
    0.6; GGGGGG shares nothing. At the default 16-mers no 6-bp record has a k-mer to share."""
    data = sequences(["AACGTA", "ACGTAC", "GGGGGG"], [1, 1, 0], "t.csv")
    metrics: dict = {}
    lines = overlap_flags(data, None, metrics, k=3, threshold=0.6)
    assert metrics["near_copies"] == 2
    assert lines[0].startswith(
        "- **Near copies**: 2 records of t.csv share at least 0.6 of their 3-mers (either strand) with "
        "another record without being a copy of it"
    )
    assert overlap_flags(data, None, metrics, threshold=0.6) == [] and metrics["near_copies"] == 0


def test_a_validation_sequence_at_exactly_the_threshold_is_a_near_copy():
    """ "At least" the threshold: ACGG (ACG CGG) finds ACG in the training AACG (AAC ACG), 1 of 2;
    its reverse complement CCGT (CCG CGT) none: 0.5, near at 0.5, not at 0.51."""
    train = sequences(["AACG"], [1], "train.csv")
    val = sequences(["ACGG"], [1], "val.csv")
    metrics: dict = {}
    lines = overlap_flags(train, None, metrics, val=val, k=3, threshold=0.5)
    assert (metrics["val_in_training"], metrics["val_near_training"]) == (0, 1)
    assert lines[0].startswith("- **Validation set near copies**: 1 of the 1 sequences of val.csv share at")
    overlap_flags(train, None, metrics, val=val, k=3, threshold=0.51)
    assert metrics["val_near_training"] == 0


def test_clean_data_add_no_line():
    metrics: dict = {}
    assert overlap_flags(sequences(["AACG", "GGGA"], [1, 0], "t.csv"), None, metrics) == []
    assert metrics == {
        "label_conflicts": 0,
        "repeated_sequences": 0,
        "near_copies": 0,
        "near_copy_label_conflicts": 0,
    }


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
        "pos.fa + neg.fa: 2 distinct promoter sequences (copies, reverse complements and near copies "
        "count once); 3 folds, each training part stopping early on 2 of each class, needs at least 3"
    )


def test_near_copies_count_once_for_the_folds_and_the_early_stopping_split():
    """Three promoters that are windows of one stretch at 0, 4 and 20: the first two are near
    copies (21 of 25 16-mers), so the folds see 2 distinct promoters, as does one early-stopping
    split, which keeps them on one side too: with two near-copy non-promoters, 1 distinct one."""
    from sciPT.tasks.promoter_config import PromoterConfig

    rng = np.random.default_rng(3)
    _, windows = shifted_windows(rng)
    others = ["".join(rng.choice(list("ACGT"), 40)) for _ in range(3)]
    data = sequences(windows + others, [1, 1, 1, 0, 0, 0], "w.csv")
    check_distinct_sequences(PromoterConfig(), data, None)  # 2 distinct promoters suffice
    near_negatives = sequences(windows[:2] + others, [0, 0, 1, 1, 1], "n.csv")
    with pytest.raises(DataError) as err:
        check_distinct_sequences(PromoterConfig(), near_negatives, None)
    assert str(err.value) == (
        "n.csv: 1 distinct non-promoter sequence (copies, reverse complements and near copies count "
        "once); an early-stopping split needs at least 2"
    )
    check_distinct_sequences(PromoterConfig(contamination_threshold=0.9), near_negatives, None)
    with pytest.raises(DataError) as err:
        check_distinct_sequences(PromoterConfig(folds=3), data, None)
    assert str(err.value) == (
        "w.csv: 2 distinct promoter sequences (copies, reverse complements and near copies count "
        "once); 3 folds, each training part stopping early on 2 of each class, needs at least 3"
    )
    # the run's own threshold decides: at 0.9 the windows are not near copies
    check_distinct_sequences(PromoterConfig(folds=3, contamination_threshold=0.9), data, None)


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


def _config(changes: dict) -> PromoterConfig:
    from sciPT.config import merge, nest

    return merge(PromoterConfig(), nest(changes), "test")


@pytest.mark.parametrize(
    "changes, message",
    [
        (
            {"inputs.max_length": -1},
            "inputs.max_length: expected 0 (the longest training sequence) or a number of residues, got -1",
        ),
        ({"folds": 1}, "folds: expected 0 (no cross-validation) or at least 2, got 1"),
        ({"folds": -2}, "folds: expected 0 (no cross-validation) or at least 2, got -2"),
        (
            {"folds": 2, "inputs.val": "v.csv"},
            "--val and --folds: cross-validation makes its own validation sets; give one",
        ),
        ({"fraction_seeds": 0}, "fraction_seeds: expected a positive number of seeds, got 0"),
        ({"shift": -1}, "shift: expected a non-negative number of bases, got -1"),
        ({"val_fraction": 0.0}, "val_fraction: expected a fraction in (0, 1), got 0.0"),
        ({"val_fraction": 1.0}, "val_fraction: expected a fraction in (0, 1), got 1.0"),
        (
            {"export": "recommended", "folds": 5, "baselines": False},
            "export: 'recommended' needs --folds and the baselines (scratch) to recommend from; "
            "without them the start is the only model",
        ),
        (
            {"export": "recommended"},
            "export: 'recommended' needs --folds and the baselines (scratch) to recommend from; "
            "without them the start is the only model",
        ),
        ({"label_fractions": [0.5, 0.0]}, "label_fractions: expected fractions in (0, 1], got 0.0"),
        ({"label_fractions": [1.5]}, "label_fractions: expected fractions in (0, 1], got 1.5"),
        ({"label_fractions": [0.5, 0.5]}, "label_fractions: 0.5 given twice; expected each fraction once"),
        (
            {"finetune.strategy": "replay"},
            "finetune.strategy: 'replay' is not available in finetune promoter (its fits draw no "
            "pre-training data); 'l2sp' or 'ewc' keep the pre-trained weights close instead",
        ),
    ],
)
def test_each_bad_setting_is_refused_in_one_line_naming_its_key(changes, message):
    """Each of these was accepted once and failed (or did nothing) after the run directory was
    written: the one line must name the key the user typed and the value it got, exactly at the
    boundary (a fold count of 1, a fraction of 0 or 1, a shift of -1)."""
    with pytest.raises(ConfigError) as err:
        validate(_config(changes))
    assert str(err.value) == message


def test_settings_at_the_edge_of_what_is_allowed_are_accepted():
    """The smallest allowed value of each key runs: a refusal at the boundary would turn away a
    setting the help text promises (2 folds, a shift of 0, a label fraction of 1, ...)."""
    validate(
        _config(
            {
                "folds": 2,
                "inputs.max_length": 0,
                "shift": 0,
                "fraction_seeds": 1,
                "ensemble": 1,
                "min_steps_per_epoch": 0,
                "max_epochs": 1,
                "patience": 0,
                "val_fraction": 0.5,
                "label_fractions": [1.0, 0.25],
                "export": "recommended",
            }
        )
    )
    validate(_config({"inputs.val": "v.csv"}))  # --val without --folds: one fit stopped on it


@pytest.mark.parametrize(
    "changes, key, section",
    [({"model.d_model": 32}, "model.d_model", "model"), ({"tokenizer.k": 4}, "tokenizer.k", "tokenizer")],
)
def test_model_and_tokenizer_keys_beside_a_pretrained_start_are_refused(changes, key, section):
    """A pre-trained --init brings its own architecture and tokenizer: a key given beside it would
    be recorded in config.yaml and do nothing; the line names the key with its section."""
    from sciPT.tasks.promoter_checks import check_start_keys

    check_start_keys(_config(changes))  # --init none: the keys build the model
    cfg = _config({**changes, "init": "runs/pre"})
    with pytest.raises(ConfigError) as err:
        check_start_keys(cfg)
    assert str(err.value) == (
        f"{key}: the pre-trained start (--init runs/pre) brings its own {section}; "
        f"the {section} keys apply to --init none"
    )
    check_start_keys(_config({"init": "runs/pre"}))  # nothing given beside it


def test_a_missing_class_and_a_single_sequence_are_counted_in_the_refusal():
    """A file of promoters only, or one distinct non-promoter, must be refused with the real count
    (0, 1 in the singular) and the early-stopping split's need of 2, before anything is written."""
    promoters = sequences(["AACG", "GGGA", "ATAT"], [1, 1, 1], "pos.fa")
    with pytest.raises(DataError) as err:
        check_distinct_sequences(PromoterConfig(), promoters, None)
    assert str(err.value) == (
        "pos.fa: 0 distinct non-promoter sequences (copies, reverse complements and near copies count once); "
        "an early-stopping split needs at least 2"
    )
    # the two non-promoters are one sequence on either strand
    one = sequences(["AACG", "GGGA", "CCCA", "TGGG"], [1, 1, 0, 0], "t.csv")
    with pytest.raises(DataError) as err:
        check_distinct_sequences(PromoterConfig(), one, None)
    assert str(err.value) == (
        "t.csv: 1 distinct non-promoter sequence (copies, reverse complements and near copies count once); "
        "an early-stopping split needs at least 2"
    )


def test_the_folds_are_checked_even_when_a_validation_file_is_given():
    """--val skips the check only for a single fit; with --folds the folds still split the data
    (validate refuses the pair, but the check must not be the one to let it through)."""
    data = sequences(["AACG", "GGGA", "ATAT", "CCCA", "TTGA"], [1, 1, 0, 0, 0], "t.csv")
    val = sequences(["ACGTAC"], [1], "v.csv")
    check_distinct_sequences(PromoterConfig(), data, val)  # one fit stopped on --val: no split
    with pytest.raises(DataError, match="t.csv: 2 distinct promoter sequences .* needs at least 4"):
        check_distinct_sequences(PromoterConfig(folds=2), data, val)


def test_the_epoch_check_counts_gradient_accumulation():
    """20 sequences at batch size 4 are 5 batches; accumulating 2 a step makes 3 optimizer steps a
    pass: a budget of 3 validates once, 2 does not (counting batches, 5, refused a working run)."""
    data = sequences(["ACGTAC"] * 20, [1, 0] * 10, "t.csv")
    val = sequences(["ACGTAC"], [1], "v.csv")
    cfg = PromoterConfig()
    cfg.train.batch_size, cfg.train.accumulate, cfg.train.max_steps = 4, 2, 3
    check_epoch_fits(cfg, data, val)  # with --val the fit is every training sequence
    cfg.train.max_steps = 2
    with pytest.raises(ConfigError) as err:
        check_epoch_fits(cfg, data, val)
    assert str(err.value) == (
        "max_steps: 2 optimizer steps end before the first validation; one pass over the 20 training "
        "sequences of t.csv is 3 steps at batch size 4: expected --max-steps at least 3 or a larger "
        "--batch-size"
    )
    cfg.train.max_steps = None
    check_epoch_fits(cfg, data, val)  # no step budget: epochs bound the fit


def test_the_conv_heads_reads_are_checked_at_the_boundary():
    """Kernel 15 and max-pool 4 need 15 + 4 - 1 = 18 token positions: 18 are enough, 17 are not
    (the message names the cropping length given); a max-pool of 0 or 1 needs only one position,
    as the kernel is cut to the sequence."""
    from sciPT.tasks.promoter_checks import check_head_reads

    data = sequences(["ACGT"], [1], "t.csv")
    cfg = _config({"head.pooling": "conv", "head.kernel": 15, "head.pool": 4, "inputs.max_length": 19})
    check_head_reads(cfg, data, 20, 18)
    with pytest.raises(DataError) as err:
        check_head_reads(cfg, data, 19, 17)
    assert str(err.value) == (
        "t.csv: the model reads 19 residues (inputs.max_length 19), 17 token(s), and the conv head "
        "needs at least 18 (kernel 15 + max-pool 4 - 1): expected sequences (or --inputs.max-length) "
        "of at least 20 residues, or a smaller --head.kernel / --head.pool"
    )
    for pool in (0, 1):
        check_head_reads(_config({"head.pooling": "conv", "head.kernel": 15, "head.pool": pool}), data, 7, 5)


def test_contradictory_labels_are_counted_in_the_right_number():
    """One sequence labelled both ways 'is', two 'are': the report's first lines are read as prose."""
    metrics: dict = {}
    one = overlap_flags(sequences(["AACG", "CGTT", "GGGA"], [1, 0, 0], "t.csv"), None, metrics)
    assert metrics["label_conflicts"] == 1
    assert one[0] == (
        "- **Contradictory labels**: 1 sequence of t.csv (either strand) is labelled both promoter and "
        "non-promoter; no model can get every label right."
    )
    texts = ["AACG", "CGTT", "GGGA", "GGGA"]
    two = overlap_flags(sequences(texts, [1, 0, 1, 0], "t.csv"), None, metrics)
    assert metrics["label_conflicts"] == 2
    assert two[0].startswith("- **Contradictory labels**: 2 sequences of t.csv (either strand) are labelled")


def test_a_length_auroc_of_exactly_the_line_is_flagged():
    """The line is inclusive ("at or beyond"): promoters longer in 9 of the 10 pairs (AUROC 0.9)
    are flagged; so the padding a model could learn is said, not missed by a hair."""
    # promoters 5,5,5,5,3 bp against non-promoters 2 and 4: 5 + 4 of the 10 pairs have the promoter longer
    texts, labels = ["ACGTA"] * 4 + ["ACG", "AC", "ACGT"], [1] * 5 + [0, 0]
    metrics: dict = {}
    lines = length_flag(sequences(texts, labels, "t.csv"), 5, metrics)
    assert metrics["label_length_auroc"] == pytest.approx(0.9)
    assert len(lines) == 1 and "(AUROC 0.90)" in lines[0]


def test_a_length_auroc_of_exactly_one_minus_the_line_is_flagged():
    """The mirror of 0.9: promoters shorter in 9 of the 10 pairs (AUROC 0.1) must be flagged too."""
    # promoters 2,2,2,2,4 bp against non-promoters 5 and 3: 5 + 4 of the 10 pairs have the promoter shorter
    texts, labels = ["AC"] * 4 + ["ACGT", "ACGTA", "ACG"], [1] * 5 + [0, 0]
    metrics: dict = {}
    lines = length_flag(sequences(texts, labels, "t.csv"), 5, metrics)
    assert metrics["label_length_auroc"] == pytest.approx(0.1)
    assert len(lines) == 1 and "(AUROC 0.10)" in lines[0]


def _window_chain(rng: np.random.Generator, n: int) -> list[str]:
    """``n`` 40-bp windows of one stretch, each 4 bases along from the last: neighbours share 21 of
    their 25 16-mers (0.84), so the chain is one group of near copies at 0.5 and none at 0.9."""
    stretch = "".join(rng.choice(list("ACGT"), 40 + 4 * (n - 1)))
    return [stretch[4 * i : 4 * i + 40] for i in range(n)]


def test_a_label_fraction_whose_promoters_are_near_copies_counts_them_once():
    """Promoters in two chains of near copies (r0-r5 and r6-r7) beside ten unrelated non-promoters:
    the 0.25 subset of seed 0 holds a promoter of each chain (2 distinct), that of seed 1 two
    windows of the first chain, which its early-stopping split counts as 1 distinct promoter:
    refused, naming seed 1. At threshold 0.9 the windows are distinct promoters, and accepted."""
    from sciPT.tasks.promoter_evaluation import fraction_split, fraction_subset

    rng = np.random.default_rng(7)
    texts = _window_chain(rng, 6) + _window_chain(rng, 2)
    texts += ["".join(rng.choice(list("ACGT"), 40)) for _ in range(10)]
    data = sequences(texts, [1] * 8 + [0] * 10, "chain.csv")
    cfg = PromoterConfig(label_fractions=[0.25], fraction_seeds=2)
    pool, _ = fraction_split(cfg, data)
    chain = [
        [int(n[1:]) // 6 for n, y in zip(s.names, s.labels) if y]
        for s in (fraction_subset(pool, 0.25, seed) for seed in (0, 1))
    ]
    assert sorted(chain[0]) == [0, 1] and chain[1] == [0, 0]  # what the fits would train on
    with pytest.raises(ConfigError) as err:
        check_label_fractions(cfg, data)
    assert str(err.value) == (
        "--label-fractions 0.25: its subset of 4 sequences (seed 1) holds 1 distinct promoter sequence, "
        "and its early-stopping split needs at least 2; expected a larger fraction"
    )
    check_label_fractions(
        PromoterConfig(label_fractions=[0.25], fraction_seeds=2, contamination_threshold=0.9), data
    )


def test_the_epoch_check_holds_out_near_copies_as_one_group():
    """As the exact-copy case above, with the 30 repeated promoters a chain of near copies (windows
    4 bases apart): the early-stopping split holds the chain out whole or not at all, so the fit
    the check measures is that of the groups [chain, 70 others], numbered by first record as the
    splits number them, not that of 100 distinct records (90 each time)."""
    rng = np.random.default_rng(0)
    texts = _window_chain(rng, 30) + ["".join(rng.choice(list("ACGT"), 40)) for _ in range(70)]
    data = sequences(texts, [1] * 50 + [0] * 50, "t.csv")
    cfg = PromoterConfig()
    cfg.train.max_steps, cfg.train.batch_size, cfg.ensemble = 100, 10, 3
    keys = np.r_[np.zeros(30, int), np.arange(1, 71)]
    fits = [len(grouped_split(keys, data.labels, 10, cfg.train.seed + 1000 * m)[0]) for m in range(3)]
    assert max(fits) != 90  # the grouping decides the size
    cfg.train.max_steps = -(-max(fits) // 10) - 1
    with pytest.raises(ConfigError, match=f"one pass over the {max(fits)} training sequences of t.csv"):
        check_epoch_fits(cfg, data, None)
    cfg.train.max_steps += 1
    check_epoch_fits(cfg, data, None)


def test_a_label_fraction_beside_folds_needs_only_its_own_early_stopping_split():
    """A label fraction's fit is one fit stopped early on its own split, whatever --folds the
    cross-validation takes: 2 distinct sequences of each class suffice, not the 5 that 5 folds need.
    Of 10 promoters in 63 records, the 0.25 subsets of the 80 % pool hold 2 to 4 promoters:
    accepted beside 5 folds as without them."""
    from sciPT.tasks.promoter_evaluation import fraction_seeds, fraction_split, fraction_subset

    rng = np.random.default_rng(1)
    texts = ["".join(rng.choice(list("ACGT"), 20)) for _ in range(63)]
    data = sequences(texts, [1] * 10 + [0] * 53, "imb.csv")
    cfg = PromoterConfig(label_fractions=[0.25], fraction_seeds=2, folds=5)
    pool, _ = fraction_split(cfg, data)
    promoters = [int(fraction_subset(pool, 0.25, seed).labels.sum()) for seed in fraction_seeds(cfg)]
    assert all(2 <= n < 5 for n in promoters), promoters
    check_label_fractions(cfg, data)


def test_the_conv_head_s_kernel_and_pool_bind_only_a_conv_head():
    """Mean and flatten pooling slide no kernel: one token position is enough for them, whatever
    head.kernel and head.pool say (they are the conv head's keys), where a conv head of kernel 15
    and max-pool 4 would need 18."""
    from sciPT.tasks.promoter_checks import check_head_reads

    data = sequences(["ACGT"], [1], "t.csv")
    for pooling in ("mean", "flatten"):
        check_head_reads(_config({"head.pooling": pooling, "head.kernel": 15, "head.pool": 4}), data, 7, 5)
    with pytest.raises(DataError, match="the conv head needs at least 18 "):
        check_head_reads(_config({"head.pooling": "conv", "head.kernel": 15, "head.pool": 4}), data, 7, 5)


def test_several_repeated_records_are_counted_in_the_plural():
    """AACG three times (once as its reverse complement CGTT) is 2 records repeating an earlier
    one: 'records ... repeat', as the report's first lines are read as prose."""
    metrics: dict = {}
    lines = overlap_flags(sequences(["AACG", "AACG", "CGTT", "GGGA"], [1, 1, 1, 0], "t.csv"), None, metrics)
    assert metrics["repeated_sequences"] == 2
    assert lines[0].startswith(
        "- **Repeated sequences**: 2 records of t.csv repeat an earlier record's sequence (either strand);"
    )


def test_the_epoch_check_measures_the_splits_of_the_ensemble_members_seeds():
    """An ensemble's members split with the seeds seed + 1000 m (train_classifier): the check
    measures the largest fit of those very splits. 30 distinct 10-mers repeated 1 to 7 times (122
    records), each group held out whole, so the fits differ in size from seed to seed (chosen so
    that the seeds seed, seed + 1, seed + 2 would give another largest fit); a budget one step
    short of a pass over it at batch size 10 is refused, a full pass accepted."""
    from sciPT.tasks.promoter_config import early_stopping_size
    from sciPT.tasks.promoter_evaluation import held_out_keys

    rng = np.random.default_rng(1)
    sizes = rng.integers(1, 8, 30)
    keys = np.repeat(np.arange(30), sizes)
    distinct = ["".join(rng.choice(list("ACGT"), 10)) for _ in range(30)]
    data = sequences([distinct[g] for g in keys], (keys % 2).tolist(), "t.csv")
    cfg = PromoterConfig()
    cfg.train.batch_size, cfg.ensemble = 10, 3
    assert held_out_keys(cfg, data).tolist() == keys.tolist()  # the groups the splits keep whole
    n_val = early_stopping_size(cfg, len(data))
    fit = max(len(grouped_split(keys, data.labels, n_val, cfg.train.seed + 1000 * m)[0]) for m in range(3))
    cfg.train.max_steps = -(-fit // 10) - 1
    with pytest.raises(ConfigError, match=f"one pass over the {fit} training sequences of t.csv"):
        check_epoch_fits(cfg, data, None)
    cfg.train.max_steps += 1
    check_epoch_fits(cfg, data, None)
