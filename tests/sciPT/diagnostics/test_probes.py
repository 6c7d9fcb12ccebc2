import numpy as np
import pytest

from sciPT.diagnostics import probes
from sciPT.diagnostics.probes import CS, linear_probe


def _folds(labels: np.ndarray, k: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Every k-th record held out in turn: folds fixed by hand, not by the code under test."""
    idx = np.arange(len(labels))
    return [(idx[idx % k != f], idx[idx % k == f]) for f in range(k)]


def test_a_feature_that_separates_the_classes_is_read_and_noise_is_not():
    """Feature 0 is the label itself (plus a little noise): every fold's AUROC is 1 and its
    accuracy 1. Pure noise gives AUROCs near 0.5 (within 0.15 on 60 held-out records)."""
    rng = np.random.default_rng(0)
    y = np.tile([0, 1], 150)
    x = rng.normal(size=(300, 8))
    x[:, 0] = y + 0.01 * rng.normal(size=300)
    report = linear_probe(x, y, _folds(y, 5))
    assert report.auroc == [1.0] * 5 and report.accuracy == [1.0] * 5
    assert len(report.chosen_c) == 5 and set(report.chosen_c) <= set(CS)
    noise = linear_probe(rng.normal(size=(300, 8)), y, _folds(y, 5))
    assert all(abs(a - 0.5) < 0.15 for a in noise.auroc)


def test_the_probe_standardises_on_the_training_part_and_a_constant_feature_reads_zero():
    """Scaling a feature by 1e6 or shifting it by 1e3 changes nothing once standardised (the same
    AUROC and C per fold); a constant column adds nothing and breaks nothing (no division by 0)."""
    rng = np.random.default_rng(1)
    y = np.tile([0, 1], 60)
    x = rng.normal(size=(120, 3)) + 0.8 * y[:, None]
    base = linear_probe(x, y, _folds(y, 3))
    scaled = linear_probe(np.c_[x[:, :1] * 1e6 + 1e3, x[:, 1:], np.full(120, 7.0)], y, _folds(y, 3))
    assert scaled.auroc == pytest.approx(base.auroc, abs=1e-9)
    assert scaled.chosen_c == base.chosen_c
    z = probes._standardise(np.array([[1.0, 5.0], [3.0, 5.0]]), np.array([[2.0, 6.0]]))
    assert z[0].tolist() == [[-1.0, 0.0], [1.0, 0.0]] and z[1].tolist() == [[0.0, 1.0]]


def test_c_is_chosen_on_the_training_part_by_inner_log_loss(monkeypatch):
    """The inner split sees only the training part: with the held-out part's labels flipped the
    chosen C is the same. A training part with a single record of a class cannot be split: C 1."""
    rng = np.random.default_rng(2)
    y = np.tile([0, 1], 50)
    x = rng.normal(size=(100, 4)) + 0.5 * y[:, None]
    folds = _folds(y, 5)
    flipped = y.copy()
    flipped[folds[0][1]] = 1 - flipped[folds[0][1]]
    assert linear_probe(x, y, folds[:1]).chosen_c == linear_probe(x, flipped, folds[:1]).chosen_c
    # the AUROC on the flipped held-out part is 1 minus the unflipped one
    a, b = linear_probe(x, y, folds[:1]).auroc[0], linear_probe(x, flipped, folds[:1]).auroc[0]
    assert a + b == pytest.approx(1.0)
    assert probes._choose_c(x[:5], np.array([0, 0, 0, 0, 1]), seed=0) == 1.0


def test_ties_in_inner_loss_go_to_the_strongest_regularisation(monkeypatch):
    """Where every C gives the same inner loss (a stand-in regression that predicts 0.5 whatever
    its C), the strongest regularisation, the first of CS, is chosen."""

    class Constant:
        def __init__(self, C, max_iter):
            self.C = C

        def fit(self, x, y):
            return self

        def predict_proba(self, x):
            return np.tile([0.5, 0.5], (len(x), 1))

    import sklearn.linear_model

    monkeypatch.setattr(sklearn.linear_model, "LogisticRegression", Constant)
    y = np.tile([0, 1], 10)
    assert probes._choose_c(np.zeros((20, 2)), y, seed=0) == CS[0]


def test_a_held_out_part_of_one_class_scores_no_auroc():
    y = np.array([0, 1] * 6 + [1, 1])
    x = np.arange(14.0)[:, None]
    train, test = np.arange(12), np.array([12, 13])
    report = linear_probe(x, y, [(train, test)])
    assert np.isnan(report.auroc[0]) and len(report.accuracy) == 1
