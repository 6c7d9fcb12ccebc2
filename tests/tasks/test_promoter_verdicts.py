"""The promoter report's verdicts as a user reads them: metrics.json's recommendation flags and the
export line (:mod:`sciPT.tasks.promoter_verdicts`)."""

import pytest

from sciPT.tasks.promoter_verdicts import exported_line, flag_lines, transfer_metrics


def test_metrics_json_recommends_exactly_the_model_the_report_recommends():
    """A script deploying the model with ``recommended_<model> == 1`` must get the report's pick and
    only it, not every model once the pick has learnt something."""
    # pre-trained - k-mer LR per fold: 0.10, 0.20, 0.15: mean 0.15, SE 0.05 / sqrt(3) = 0.029: ahead,
    # and both well above chance, so pre-trained (best mean, every simpler model behind) is the pick
    mcc = {"pre-trained": [0.6, 0.8, 0.7], "k-mer LR": [0.5, 0.6, 0.55]}
    m = transfer_metrics(mcc)
    assert m["pre_trained_near_chance"] == 0.0 and m["kmer_lr_near_chance"] == 0.0
    assert m["recommended_pre_trained"] == 1.0
    assert m["recommended_kmer_lr"] == 0.0
    assert m["pre_trained_vs_kmer_lr_mcc_diff_mean"] == pytest.approx(0.15)
    assert m["pre_trained_vs_kmer_lr_mcc_diff_se"] == pytest.approx(0.05 / 3**0.5)
    assert m["pre_trained_vs_kmer_lr_mcc_verdict"] == 1.0
    assert flag_lines(mcc, 100)[1].startswith(
        "- **Recommended for this data size** (100 sequences): pre-trained,"
    )


def test_export_recommended_of_the_only_fine_tuned_model_when_every_model_is_near_chance():
    """With ``--init none`` there is one fine-tuned model to export: the line must call it that, not
    'the rule's pick among the fine-tuned models' (there was no choice among them)."""
    # both: mean 0.01, SE 0.02 / sqrt(5) = 0.009; 0.01 <= 2 SE: near chance
    mcc = {"scratch": [0.0, 0.02, -0.02, 0.03, 0.02], "CNN": [0.0, 0.02, -0.02, 0.03, 0.02]}
    assert exported_line(mcc, "scratch", "recommended") == (
        "- The exported model (`scipt evaluate`, `predict`, `scan`) is scratch, the only fine-tuned "
        "model (`--export recommended`), though none is recommended."
    )


def test_pre_trained_behind_scratch_with_few_labels_is_minus_one_in_the_metrics():
    """metrics.json's few-label verdict is signed like every verdict (-1 behind): a script reading
    it must not see negative transfer at a label fraction as pre-training helping."""
    from sciPT.tasks.promoter_verdicts import few_label_lines

    # differences -0.10, -0.08, -0.12: mean -0.10, SE 0.02 / sqrt(3) = 0.012: behind
    metrics = {}
    lines = few_label_lines(
        [0.2], [10], {"pre-trained": [[0.60, 0.62, 0.58]], "scratch": [[0.70, 0.70, 0.70]]}, metrics
    )
    assert lines[1] == (
        "- 20% of the labels (10 sequences): pre-trained is behind scratch, accuracy -10.0 ± 1.2 points "
        "(paired over 3 seeds, 2-SE rule)."
    )
    assert metrics["fraction_0.2_pre_trained_vs_scratch_accuracy_verdict"] == -1
    assert metrics["fraction_0.2_pre_trained_vs_scratch_accuracy_diff_mean"] == pytest.approx(-0.10)


def test_a_single_model_has_no_recommendation_in_the_metrics_either():
    """With one model run the report recommends nothing ("compared with nothing"); metrics.json must
    not tell a deploying script otherwise with a ``recommended_<model> == 1``."""
    # mean 0.7, SE 0.1 / sqrt(3) = 0.058: far from chance, so only the model count withholds it
    mcc = {"scratch": [0.6, 0.8, 0.7]}
    m = transfer_metrics(mcc)
    assert m["scratch_near_chance"] == 0.0
    assert [k for k in m if k.startswith("recommended_")] == []
    assert flag_lines(mcc, 100)[1] == (
        "- No baselines ran (`--no-baselines`): scratch is compared with nothing."
    )


def test_the_line_without_cross_validation_says_which_verdicts_are_missing_and_how_to_get_them():
    """A run without ``--folds`` has no verdicts; its report says so word for word, naming the three
    verdicts and the option (with the five folds of the README's example)."""
    from sciPT.tasks.promoter_verdicts import NO_CV_LINE

    assert NO_CV_LINE == (
        "- Not checked: without `--folds` there is no cross-validation, so no near-chance, baseline or "
        "negative-transfer verdict (pass `--folds 5`)."
    )
