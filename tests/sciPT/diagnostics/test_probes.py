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


def test_accuracy_counts_a_probability_of_exactly_one_half_as_the_positive_class():
    """Constant features carry nothing: the balanced training part's regression predicts exactly
    0.5 for every held-out record, which "accuracy at 0.5" reads as class 1 (p >= 0.5). The held-out
    part holds 3 positives of 4: accuracy 3/4; its AUROC, every score tied, is 1/2; and every C
    ties in the inner loss, so the first of CS is chosen."""
    y = np.array([0, 1] * 6 + [1, 1, 1, 0])
    report = linear_probe(np.full((16, 2), 3.0), y, [(np.arange(12), np.arange(12, 16))])
    assert report.accuracy == [0.75] and report.auroc == [0.5] and report.chosen_c == [CS[0]]


class _Spy:
    """Records what a stand-in for an sklearn class was built with and what it was fitted on."""

    def __init__(self):
        self.splits: list[dict] = []
        self.fits: list[tuple[float, np.ndarray]] = []


def _spy_split(monkeypatch, spy: _Spy):
    import sklearn.model_selection

    real = sklearn.model_selection.StratifiedKFold

    def split(n_splits, shuffle=False, random_state=None):
        spy.splits.append({"n_splits": n_splits, "shuffle": shuffle, "random_state": random_state})
        return real(n_splits, shuffle=shuffle, random_state=random_state)

    monkeypatch.setattr(sklearn.model_selection, "StratifiedKFold", split)


def test_c_is_the_smallest_with_the_least_inner_log_loss_summed_over_the_inner_folds(monkeypatch):
    """A stand-in regression predicts a probability that names its C; a stand-in log loss returns a
    scripted loss for each C and inner fold. Summed over the 3 folds the losses are, for CS in order,
    3.03, 3.5, 3.0, 3.0, 3.4: the least is 3.0 and its smallest C, CS[2], is chosen, not CS[3]
    (equal), not CS[0] (1 % worse: a tie is equality up to rounding), not CS[4] (best on the last
    fold alone), not CS[1] (the worst). Every C is fitted on each inner fold, on the fold's fitting
    part standardised on itself, and the split is stratified, shuffled and seeded by the caller."""
    import sklearn.linear_model
    import sklearn.metrics

    losses = {0: [1.01, 1.01, 1.01], 1: [1.2, 1.2, 1.1], 2: [1.1, 1.1, 0.8], 3: [0.9, 0.9, 1.2]}
    losses[4] = [1.4, 1.4, 0.6]
    code = {c: 0.11 * (i + 1) for i, c in enumerate(CS)}  # P(y = 1) that names C: 0.11 ... 0.55
    spy, calls = _Spy(), {i: 0 for i in losses}

    class Named:
        def __init__(self, C, max_iter):
            self.C = C

        def fit(self, x, y):
            spy.fits.append((self.C, x))
            return self

        def predict_proba(self, x):
            return np.tile([1 - code[self.C], code[self.C]], (len(x), 1))

    def scripted_loss(y_true, p, labels):
        assert labels == [0, 1] and len(set(p)) == 1
        i = next(i for i, c in enumerate(CS) if np.isclose(code[c], p[0]))  # P(y = 1) is scored
        calls[i] += 1
        return losses[i][calls[i] - 1]

    monkeypatch.setattr(sklearn.linear_model, "LogisticRegression", Named)
    monkeypatch.setattr(sklearn.metrics, "log_loss", scripted_loss)
    _spy_split(monkeypatch, spy)
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(36, 2)) * 3 + 5, np.tile([0, 1], 18)
    assert probes._choose_c(x, y, seed=7) == CS[2]
    assert spy.splits == [{"n_splits": 3, "shuffle": True, "random_state": 7}]
    assert calls == {i: 3 for i in losses}
    assert sorted(c for c, _ in spy.fits) == sorted(list(CS) * 3)
    for _, xf in spy.fits:  # 24 of the 36 each time, standardised on those 24
        assert len(xf) == 24
        assert xf.mean(0) == pytest.approx([0, 0], abs=1e-12) and xf.std(0) == pytest.approx([1, 1])


def test_a_class_held_by_two_training_records_is_split_two_ways_and_the_seed_reaches_the_split(
    monkeypatch,
):
    """Fewer than INNER_FOLDS (3) records of a class: as many inner folds as that class has (two),
    still a choice by inner loss; the probe's seed is the inner split's, on every fold, and the
    inner split sees the fold's training part only."""
    spy = _Spy()
    _spy_split(monkeypatch, spy)
    x = np.random.default_rng(4).normal(size=(8, 2))
    assert probes._choose_c(x, np.array([0, 0, 0, 0, 0, 0, 1, 1]), seed=5) in CS
    assert spy.splits == [{"n_splits": 2, "shuffle": True, "random_state": 5}]
    spy.splits.clear()
    y = np.tile([0, 1], 30)
    linear_probe(np.random.default_rng(5).normal(size=(60, 2)), y, _folds(y, 3), seed=9)
    assert spy.splits == [{"n_splits": 3, "shuffle": True, "random_state": 9}] * 3


def test_the_held_out_part_is_standardised_with_the_training_part_s_mean_and_sd(monkeypatch):
    """The final regression of a fold is fitted on the training part standardised on itself (mean
    0, sd 1 per feature) and scores the held-out part shifted and scaled by those same training
    statistics, not its own nor the whole set's."""
    import sklearn.linear_model

    real = sklearn.linear_model.LogisticRegression
    seen: list[tuple[str, np.ndarray]] = []

    class Spy(real):
        def fit(self, x, y):
            seen.append(("fit", x))
            return super().fit(x, y)

        def predict_proba(self, x):
            seen.append(("predict", x))
            return super().predict_proba(x)

    monkeypatch.setattr(sklearn.linear_model, "LogisticRegression", Spy)
    rng = np.random.default_rng(6)
    y = np.tile([0, 1], 20)
    x = rng.normal(size=(40, 2)) * [2.0, 0.5] + [10.0, -3.0] + y[:, None]
    train, test = np.arange(30), np.arange(30, 40)
    x[test] += 4.0  # a held-out part far from the training part: its own statistics would differ
    linear_probe(x, y, [(train, test)])
    (_, fitted), (_, scored) = seen[-2:]
    mean, sd = x[train].mean(0), x[train].std(0)
    assert fitted == pytest.approx((x[train] - mean) / sd)
    assert scored == pytest.approx((x[test] - mean) / sd)


def test_labels_given_as_floats_or_booleans_probe_as_integers():
    """Labels read as 0.0/1.0 or False/True are the same labels: the same report as 0/1."""
    rng = np.random.default_rng(7)
    y = np.tile([0, 1], 30)
    x = rng.normal(size=(60, 3)) + 0.7 * y[:, None]
    base = linear_probe(x, y, _folds(y, 3))
    for labels in (y.astype(float), y.astype(bool)):
        assert linear_probe(x, labels, _folds(y, 3)) == base


def test_a_held_out_part_of_one_class_is_scored_nan_without_a_warning():
    """The probe decides a one-class held-out part has no AUROC itself: sklearn is not asked (it
    would warn, UndefinedMetricWarning, where older versions raised)."""
    import warnings

    y = np.array([0, 1] * 6 + [0, 0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        report = linear_probe(np.arange(14.0)[:, None], y, [(np.arange(12), np.array([12, 13]))])
    assert np.isnan(report.auroc[0])


def test_with_groups_no_inner_fold_parts_a_group_and_without_them_the_folds_are_scikit_learns(monkeypatch):
    """20 pairs of records (near copies, say) in one group each: the inner folds that choose C
    hold each pair on one side; without groups they are StratifiedKFold's (shuffled, the probe's
    seed) over the records, which parts some pair."""
    from sklearn.model_selection import StratifiedKFold

    from sciPT import splits

    seen, real = [], splits.grouped_folds
    monkeypatch.setattr(splits, "grouped_folds", lambda *a, **kw: seen.append(real(*a, **kw)) or seen[-1])
    rng = np.random.default_rng(6)
    y = np.repeat(np.arange(20) % 2, 2)
    x = rng.normal(size=(40, 3)) + y[:, None]
    pair = np.repeat(np.arange(20), 2)
    everything = [(np.arange(40), np.arange(40))]
    linear_probe(x, y, everything, seed=3, groups=pair)
    (inner,) = seen
    assert len(inner) == 3 and all(not set(pair[a]) & set(pair[b]) for a, b in inner)
    seen.clear()
    linear_probe(x, y, everything, seed=3)
    (inner,) = seen
    expected = StratifiedKFold(3, shuffle=True, random_state=3).split(np.zeros(40), y)
    for (a, b), (ea, eb) in zip(inner, expected, strict=True):
        np.testing.assert_array_equal(a, ea)
        np.testing.assert_array_equal(b, eb)
    assert any(set(pair[a]) & set(pair[b]) for a, b in inner)
