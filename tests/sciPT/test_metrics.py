import math

import pytest

from sciPT.metrics import binary_metrics, summarise


def test_binary_metrics_by_hand():
    # labels 1 1 1 0 0 0 0 0, scores -> predictions at 0.5: 1 1 0 1 0 0 0 0
    y = [1, 1, 1, 0, 0, 0, 0, 0]
    s = [0.9, 0.8, 0.3, 0.7, 0.2, 0.1, 0.4, 0.05]
    m = binary_metrics(y, s)
    tp, tn, fp, fn = 2, 4, 1, 1
    assert m["accuracy"] == 6 / 8
    assert m["sensitivity"] == 2 / 3 and m["specificity"] == 4 / 5
    assert m["f1"] == 2 * tp / (2 * tp + fp + fn)
    assert m["mcc"] == pytest.approx((tp * tn - fp * fn) / math.sqrt(3 * 3 * 5 * 5))
    # AUROC: of the 15 positive-negative pairs, the positive scores higher in all but
    # (0.3 vs 0.7) and (0.3 vs 0.4): 13 / 15
    assert m["auroc"] == pytest.approx(13 / 15)
    # average precision: positives at ranks 1, 2, 5 -> (1 + 1 + 3/5) / 3
    assert m["auprc"] == pytest.approx((1 + 1 + 0.6) / 3)


def test_degenerate_mcc_is_zero():
    assert binary_metrics([1, 0, 1], [0.9, 0.8, 0.7])["mcc"] == 0.0


def test_summarise_mean_and_std():
    folds = [binary_metrics([1, 0], [0.9, 0.1]), binary_metrics([1, 0], [0.1, 0.9])]
    out = summarise(folds, "model")
    assert out["model_accuracy_mean"] == 0.5 and out["model_accuracy_std"] == 0.5


def test_specificity_and_mcc_with_unequal_false_positives_and_negatives():
    """Specificity and MCC by hand with FP != FN: with FP = FN (the test above) TN / (TN + FN) or an
    MCC of FP * FP would read the same as the right ones."""
    # labels 1 1 1 0 0 0 0 0, predictions 1 1 0 1 1 0 0 0: TP 2, FN 1, FP 2, TN 3
    y = [1, 1, 1, 0, 0, 0, 0, 0]
    s = [0.9, 0.8, 0.3, 0.7, 0.6, 0.2, 0.1, 0.4]
    m = binary_metrics(y, s)
    # specificity TN / (TN + FP) = 3 / 5 (not 3 / 4); sensitivity 2 / 3
    assert m["specificity"] == 3 / 5 and m["sensitivity"] == 2 / 3
    # MCC (2 * 3 - 2 * 1) / sqrt((2 + 2)(2 + 1)(3 + 2)(3 + 1)) = 4 / sqrt(240) = 1 / sqrt(15) = 0.258
    assert m["mcc"] == pytest.approx(1 / math.sqrt(15))
    # F1 2 * 2 / (4 + 2 + 1) = 4 / 7; accuracy 5 / 8
    assert m["f1"] == 4 / 7 and m["accuracy"] == 5 / 8


def test_a_fold_of_positives_alone_has_no_auroc_auprc_or_specificity():
    """A fold without negatives cannot rank or be specific: NaN, not sklearn's 1.0 average precision
    read as a perfect score; the thresholded metrics are still counted by hand."""
    # labels 1 1 1, predictions 1 0 1: TP 2, FN 1, no negatives
    m = binary_metrics([1, 1, 1], [0.9, 0.2, 0.7])
    assert math.isnan(m["auroc"]) and math.isnan(m["auprc"]) and math.isnan(m["specificity"])
    assert m["sensitivity"] == 2 / 3 and m["accuracy"] == 2 / 3
    assert m["f1"] == 2 * 2 / (2 * 2 + 0 + 1) and m["mcc"] == 0.0


def test_a_fold_of_negatives_alone_has_no_sensitivity_and_an_f1_of_zero():
    """Without positives there is nothing to recall (NaN, not 0) and, with none predicted either,
    F1 is 0 as in scikit-learn (zero_division=0), not a perfect 1."""
    m = binary_metrics([0, 0, 0], [0.1, 0.2, 0.3])
    assert math.isnan(m["sensitivity"]) and math.isnan(m["auroc"]) and math.isnan(m["auprc"])
    assert m["specificity"] == 1.0 and m["accuracy"] == 1.0
    assert m["f1"] == 0.0 and m["mcc"] == 0.0


def test_summarise_leaves_out_the_folds_a_metric_is_undefined_on():
    """One fold of a single class must not turn a model's AUROC or specificity in the report into
    NaN: the mean and spread are over the folds where the metric exists."""
    whole = binary_metrics([1, 1, 1, 0, 0, 0, 0, 0], [0.9, 0.8, 0.3, 0.7, 0.2, 0.1, 0.4, 0.05])
    positives_only = binary_metrics([1, 1], [0.9, 0.8])
    out = summarise([whole, positives_only], "m")
    assert out["m_auroc_mean"] == pytest.approx(13 / 15) and out["m_auroc_std"] == 0.0
    assert out["m_specificity_mean"] == 4 / 5 and out["m_specificity_std"] == 0.0
    # accuracy exists in both folds: (6/8 + 1) / 2, population spread 1/8
    assert out["m_accuracy_mean"] == pytest.approx(7 / 8) and out["m_accuracy_std"] == pytest.approx(1 / 8)


def test_a_score_at_the_threshold_is_a_positive_call():
    """The default threshold is 0.5 and a score equal to it is predicted positive (``s >= t``); a
    caller's threshold replaces it."""
    # labels 1 0 1 0; at 0.5, predictions 1 0 1 1: TP 2, TN 1, FP 1, FN 0
    y, s = [1, 0, 1, 0], [0.5, 0.49, 0.55, 0.7]
    m = binary_metrics(y, s)
    assert m["sensitivity"] == 1.0 and m["specificity"] == 1 / 2 and m["accuracy"] == 3 / 4
    # at 0.6, predictions 0 0 0 1: TP 0, TN 1, FP 1, FN 2 -> every positive missed: sensitivity 0
    m = binary_metrics(y, s, threshold=0.6)
    assert m["sensitivity"] == 0.0 and m["specificity"] == 1 / 2 and m["accuracy"] == 1 / 4


def test_every_negative_called_positive_has_a_specificity_of_zero():
    """Specificity is undefined only without negatives: negatives that were all called positive give
    0 (TN 0 of TN + FP 2), not NaN, which the report's means would leave out."""
    # labels 0 0 1, all predicted 1: TP 1, FP 2, TN 0, FN 0
    m = binary_metrics([0, 0, 1], [0.9, 0.8, 0.7])
    assert m["specificity"] == 0.0 and m["sensitivity"] == 1.0 and m["accuracy"] == 1 / 3


def test_an_empty_fold_gives_undefined_rates_not_an_error():
    """No sequences: the rates and the ranking metrics are NaN, and counting does not divide by zero."""
    m = binary_metrics([], [])
    assert all(math.isnan(m[k]) for k in ("auroc", "auprc", "sensitivity", "specificity"))
    assert m["mcc"] == 0.0 and m["f1"] == 0.0


def test_summarise_gives_a_mean_and_a_spread_of_every_metric():
    """The report reads all seven metrics, each as ``<prefix>_<metric>_mean`` and ``_std``."""
    out = summarise([binary_metrics([1, 0], [0.9, 0.1])], "cnn")
    names = ("accuracy", "mcc", "f1", "auroc", "auprc", "sensitivity", "specificity")
    assert set(out) == {f"cnn_{n}_{s}" for n in names for s in ("mean", "std")}


def test_auprc_is_average_precision_not_the_auroc():
    """On a ranking where the two differ, AUPRC is the average precision at each positive."""
    # descending scores 0.7 (neg), 0.55 (pos), 0.5 (pos), 0.49 (neg)
    m = binary_metrics([1, 0, 1, 0], [0.5, 0.49, 0.55, 0.7])
    # AUROC: each positive beats one of the two negatives -> 2 / 4; AP: (1/2 + 2/3) / 2 = 7 / 12
    assert m["auroc"] == pytest.approx(1 / 2) and m["auprc"] == pytest.approx(7 / 12)


def test_summarise_spreads_over_every_fold():
    """Three folds of accuracy 1, 1/2 and 0: mean 1/2, population std sqrt(1/6), all three counted."""
    folds = [binary_metrics([1, 0], s) for s in ([0.9, 0.1], [0.9, 0.9], [0.1, 0.9])]
    out = summarise(folds, "m")
    assert out["m_accuracy_mean"] == pytest.approx(1 / 2)
    assert out["m_accuracy_std"] == pytest.approx(math.sqrt(1 / 6))
