"""The k-mer regression and CNN stacked onto the promoter classifier: what each fit is given, and the
cache that keeps a cross-validation fold from fitting the same model twice."""

import numpy as np
import pytest

from sciPT.diagnostics.overlap import NearCopies
from sciPT.domains.dna.kmer import KmerLogisticRegression
from sciPT.tasks import promoter_stacking as ps


@pytest.fixture
def cache(monkeypatch):
    """An empty cache of stacked fits, so that no other test's fits are found in it."""
    fits: dict = {}
    monkeypatch.setattr(ps, "_STACKED_FITS", fits)
    return fits


def _codes(n: int, length: int = 30, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 4, length).astype(np.uint8) for _ in range(n)]


def test_the_cache_keeps_the_last_eight_fits_and_drops_the_oldest(cache):
    """Memory stays bounded (8 fitted models at most) and the fit dropped is the oldest, so the
    scratch run that follows a pre-trained one in a fold still finds the fits it shares."""
    calls = []

    def fit_for(seed):
        def fit():
            calls.append(seed)
            return object()

        return fit

    codes, labels = _codes(4), np.array([0, 1, 0, 1])
    first = [ps._fitted_once("kmer", codes, labels, seed, fit_for(seed)) for seed in range(9)]
    assert len(cache) == 8 and calls == list(range(9))
    for seed in range(1, 9):  # the eight newest are kept: no refit
        assert ps._fitted_once("kmer", codes, labels, seed, fit_for(seed)) is first[seed]
    assert calls == list(range(9))
    assert ps._fitted_once("kmer", codes, labels, 0, fit_for(0)) is not first[0]  # the oldest went
    assert calls == [*range(9), 0] and len(cache) == 8


def test_sequences_cut_at_other_places_are_another_fit(cache):
    """The same bases split into other sequences are other training data: [AC, G] and [A, CG] must
    not share a fitted model."""
    calls = []

    def fit():
        calls.append(1)
        return object()

    labels = np.array([0, 1])
    one = ps._fitted_once("kmer", [np.array([0, 1]), np.array([2])], labels, 0, fit)
    other = ps._fitted_once("kmer", [np.array([0]), np.array([1, 2])], labels, 0, fit)
    assert one is not other and len(calls) == 2


class _Recorded:
    """A stand-in estimator recording how it was built and fitted (the real fits take seconds)."""

    made: list = []

    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs
        _Recorded.made.append(self)

    def fit(self, codes, labels):
        self.fitted_on = (codes, labels)
        return self

    def score(self):
        return ("score of", self)


def test_kmer_score_fits_a_cross_validated_regression_with_the_callers_seed(cache, monkeypatch):
    """The stacked k-mer regression chooses its C by cross-validation (C=None) and splits with the
    run's seed: a fixed C or seed would make a different model than the one the report describes."""
    monkeypatch.setattr(_Recorded, "made", [])
    monkeypatch.setattr(ps, "KmerLogisticRegression", _Recorded)
    codes, labels = _codes(6), np.arange(6) % 2
    out = ps.kmer_score(codes, labels, seed=7)
    (made,) = _Recorded.made
    assert made.kwargs == {"C": None, "seed": 7, "near": None} and made.args == ()
    assert made.fitted_on[0] is codes and made.fitted_on[1] is labels
    assert out == ("score of", made)
    # the run's near-copy rule reaches the regression's choice of C, and is another cached fit
    near = ps.kmer_score(codes, labels, seed=7, near=NearCopies(16, 0.5))
    assert near is not out and _Recorded.made[-1].kwargs["near"] == NearCopies(16, 0.5)


def test_cnn_score_fits_the_cnn_of_that_length_seed_and_epoch_floor(cache, monkeypatch):
    """The stacked CNN reads ``length`` bases, is seeded by the run and keeps the epoch floor; the
    same data at another length is another model, not the cached one."""
    monkeypatch.setattr(_Recorded, "made", [])
    monkeypatch.setattr(ps, "CNNClassifier", _Recorded)
    codes, labels = _codes(6), np.arange(6) % 2
    out = ps.cnn_score(codes, labels, 3, 30, 50)
    (made,) = _Recorded.made
    assert made.args == (30,) and made.kwargs == {"seed": 3, "min_steps_per_epoch": 50, "near": None}
    assert made.fitted_on[0] is codes and made.fitted_on[1] is labels
    assert out == ("score of", made)
    assert ps.cnn_score(codes, labels, 3, 30, 50) is out  # cached
    shorter = ps.cnn_score(codes, labels, 3, 20, 50)
    assert shorter is not out and _Recorded.made[-1].args == (20,)
    near = ps.cnn_score(codes, labels, 3, 30, 50, NearCopies(8, 0.6))
    assert near is not out and _Recorded.made[-1].kwargs["near"] == NearCopies(8, 0.6)


def test_the_stacked_kmer_score_is_the_regressions_log_odds_positive_for_promoters(cache):
    """What is stacked is a logit on the scale the stack standardises (not a probability), and a
    higher one for the class that carries the motif: sigmoid(score) is the regression's probability."""
    codes = _codes(60, seed=1)
    labels = np.arange(60) % 2
    for c, y in zip(codes, labels):
        if y:
            c[10:16] = [3, 0, 3, 0, 0, 3]  # TATAAT
    score = ps.kmer_score(codes, labels, seed=0)(codes)
    regression = KmerLogisticRegression(C=None, seed=0).fit(codes, labels)
    np.testing.assert_allclose(1 / (1 + np.exp(-score)), regression.predict_proba(codes), atol=1e-9)
    assert score[labels == 1].mean() > 0 > score[labels == 0].mean()


def test_the_same_sequences_with_other_labels_are_another_fit(cache):
    """Labels are part of the training data: the same sequences labelled otherwise must not be
    given the model fitted to the first labels."""
    calls = []

    def fit():
        calls.append(1)
        return object()

    codes = _codes(4)
    one = ps._fitted_once("kmer", codes, np.array([0, 1, 0, 1]), 0, fit)
    other = ps._fitted_once("kmer", codes, np.array([1, 0, 1, 0]), 0, fit)
    assert one is not other and len(calls) == 2
    assert ps._fitted_once("kmer", codes, np.array([0, 1, 0, 1]), 0, fit) is one and len(calls) == 2


def test_a_cnn_with_another_epoch_floor_is_another_fit(cache, monkeypatch):
    """min_steps_per_epoch changes what the CNN learns: the same data with another floor is
    fitted again, with that floor, not taken from the cache."""
    monkeypatch.setattr(_Recorded, "made", [])
    monkeypatch.setattr(ps, "CNNClassifier", _Recorded)
    codes, labels = _codes(6), np.arange(6) % 2
    out = ps.cnn_score(codes, labels, 3, 30, 50)
    other = ps.cnn_score(codes, labels, 3, 30, 0)
    assert other is not out and other[1].kwargs["min_steps_per_epoch"] == 0
    assert ps.cnn_score(codes, labels, 3, 30, 50) is out
