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
