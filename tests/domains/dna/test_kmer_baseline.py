"""The k-mer baseline's counts and its cross-validated choice of C (domains/dna/kmer.py)."""

import numpy as np
import pytest

from sciPT.domains.dna import kmer
from sciPT.domains.dna.kmer import KMER_CS, cross_validated_c, kmer_counts
from sciPT.domains.dna.tokenizer import encode


def _recorded_folds(monkeypatch) -> list:
    """The (train, held-out) index pairs of every grouped_folds call made while the test runs."""
    from sciPT import splits

    seen, real = [], splits.grouped_folds

    def recording(*args, **kw):
        out = real(*args, **kw)
        seen.extend(out)
        return out

    monkeypatch.setattr(splits, "grouped_folds", recording)
    return seen


def test_a_sequence_exactly_k_long_holds_one_k_mer():
    """A window as long as the sequence is a k-mer: dropping it zeroes the k-mer counts of short reads."""
    counts = kmer_counts([encode("ACG"), encode("AC")], ks=(3,))
    # ACG = 0 * 16 + 1 * 4 + 2 = 6; AC is shorter than a 3-mer and holds none
    assert np.flatnonzero(counts[0]).tolist() == [6] and counts[0, 6] == 1
    assert counts[1].sum() == 0


def test_a_sequences_counts_do_not_depend_on_the_others_in_its_batch():
    """Batched sequences are padded to the longest: the padding must count as nothing, or a short
    promoter's composition changed with the file it was read from."""
    rng = np.random.default_rng(0)
    short, long = rng.integers(0, 4, 7).astype(np.uint8), rng.integers(0, 4, 40).astype(np.uint8)
    alone = kmer_counts([short], ks=(1, 2, 3))
    together = kmer_counts([short, long], ks=(1, 2, 3))
    np.testing.assert_array_equal(together[0], alone[0])
    # 7 residues: 7 1-mers, 6 2-mers, 5 3-mers
    assert (alone[0, :4].sum(), alone[0, 4:20].sum(), alone[0, 20:].sum()) == (7, 6, 5)


def test_counting_in_chunks_gives_every_sequence_its_row():
    """Large sets are counted a chunk at a time; every sequence keeps its own row, in order."""
    rng = np.random.default_rng(1)
    codes = [rng.integers(0, 4, n).astype(np.uint8) for n in (5, 12, 9, 3, 20)]
    whole = kmer_counts(codes, ks=(1, 2))
    np.testing.assert_array_equal(kmer_counts(codes, ks=(1, 2), chunk=2), whole)
    np.testing.assert_array_equal(whole[:, :4].sum(1), [5, 12, 9, 3, 20])


def test_the_choice_of_c_uses_scikit_learns_unshuffled_stratified_folds(monkeypatch):
    """The inner folds are LogisticRegressionCV's (unshuffled): shuffled, the C chosen for a report
    would change with the seed of the regression, not only with the data."""
    from sklearn.model_selection import StratifiedKFold

    seen = _recorded_folds(monkeypatch)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(60, 4)), np.array([0, 1, 1] * 20)
    cross_validated_c(x, y, seed=3)
    expected = list(StratifiedKFold(5).split(x, y))
    assert len(seen) == len(expected)
    for (train, held), (want_train, want_held) in zip(seen, expected):
        np.testing.assert_array_equal(train, want_train)
        np.testing.assert_array_equal(held, want_held)


def test_a_class_of_two_distinct_sequences_still_gets_a_choice_of_c():
    """Two folds are the least a cross-validation can hold: a tiny training part (2 promoters)
    takes 2 folds rather than failing."""
    rng = np.random.default_rng(2)
    x = rng.normal(size=(30, 3))
    y = np.array([1, 1] + [0] * 28)
    assert cross_validated_c(x, y) in KMER_CS


def test_with_nothing_to_learn_every_c_ties_and_the_smallest_wins():
    """Features that carry nothing give every C the same held-out loss (even odds, log 2): the
    documented tie-break keeps the strongest regularisation, not the weakest."""
    x = np.zeros((40, 3))
    y = np.array([0, 1] * 20)
    keys = [f"s{i}" for i in range(40)]  # 40 distinct sequences whose counts carry nothing
    assert cross_validated_c(x, y, keys=keys) == min(KMER_CS)


def test_the_patience_counts_values_in_a_row_without_improvement(monkeypatch):
    """An improvement resets the count: the path climbs past isolated worse values and stops only
    after KMER_C_PATIENCE worse values in a row."""
    import sklearn.metrics

    assert kmer.KMER_C_PATIENCE == 2
    # the mean held-out loss at each C of the grid, in increasing C
    path = [5.0, 6.0, 4.0, 6.0, 3.0, 7.0, 7.0, 1.0, 1.0]
    calls = []

    def scripted(*args, **kw):
        calls.append(None)
        return path[(len(calls) - 1) // 5]  # 5 folds per C

    monkeypatch.setattr(sklearn.metrics, "log_loss", scripted)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(50, 3)), np.array([0, 1] * 25)
    # 5 (best), 6 (1 worse), 4 (best), 6 (1 worse), 3 (best), 7, 7 (2 in a row): stop before the 1s
    assert cross_validated_c(x, y) == pytest.approx(KMER_CS[4])
    assert len(calls) == 5 * 7


def test_without_keys_equal_feature_rows_share_an_inner_fold(monkeypatch):
    """Called on bare features, a row's copies stay on one side of every inner fold: on both
    sides, the held-out loss rewards memorising them and favours the weakest regularisation."""
    seen = _recorded_folds(monkeypatch)
    rng = np.random.default_rng(4)
    x = rng.normal(size=(30, 3))
    x = np.concatenate([x, x[:10]])  # the first 10 rows twice
    y = np.concatenate([np.array([0, 1] * 15), np.array([0, 1] * 5)])
    cross_validated_c(x, y)
    assert len(seen) == 5
    for _, held in seen:
        held = set(held.tolist())
        assert all((i in held) == (30 + i in held) for i in range(10))


def test_the_baseline_is_the_reported_one():
    """benchmarks/RESULTS.md and the README report the baseline as counts of every 1- to 5-mer
    (1,364 features) with C chosen among 1e-6, 1e-5, ..., 100: a narrower grid or fewer k
    changes every k-mer MCC the report compares against."""
    from sciPT.domains.dna.kmer import KmerLogisticRegression, KmerScore

    assert KmerLogisticRegression().features([encode("ACGTACGT")]).shape == (1, 1364)
    assert KmerScore(np.zeros(1364), 0.0).ks == (1, 2, 3, 4, 5)
    assert KMER_CS == pytest.approx([1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0], rel=1e-12)


def test_the_held_out_loss_weighs_each_class_alike(monkeypatch):
    """The choice of C scores each held-out fold as the fit weighs it (class_weight="balanced"): an
    unweighted loss at 1 promoter in 5 favours the C that calls everything negative."""
    import sklearn.metrics

    real, seen = sklearn.metrics.log_loss, []

    def recording(y_true, y_pred, **kw):
        seen.append((np.asarray(y_true), kw.get("sample_weight")))
        return real(y_true, y_pred, **kw)

    monkeypatch.setattr(sklearn.metrics, "log_loss", recording)
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(50, 3)), np.array([1, 0, 0, 0, 0] * 10)
    cross_validated_c(x, y, cs=(0.1,))
    assert len(seen) == 5
    for y_held, weight in seen:
        assert weight is not None
        # each class carries half of the fold's total weight, whatever its count
        np.testing.assert_allclose(weight[y_held == 1].sum(), weight[y_held == 0].sum())


def test_the_baseline_built_without_arguments_chooses_its_c_as_the_promoter_task_does(monkeypatch):
    """``KmerLogisticRegression()`` is the baseline the reports compare against: C chosen by
    cross-validation, not a fixed strength a user would not know to override."""
    from sciPT.domains.dna.kmer import KmerLogisticRegression

    chosen = []
    real = kmer.cross_validated_c
    monkeypatch.setattr(
        kmer, "cross_validated_c", lambda *a, **kw: chosen.append(real(*a, **kw)) or chosen[-1]
    )
    rng = np.random.default_rng(3)
    codes = [rng.integers(0, 4, 30).astype(np.uint8) for _ in range(20)]
    fitted = KmerLogisticRegression(ks=(1, 2)).fit(codes, np.arange(20) % 2)
    assert len(chosen) == 1 and fitted.pipeline[-1].C == chosen[0]


def test_the_choice_of_c_keeps_near_copies_in_one_inner_fold_under_the_near_rule(monkeypatch):
    """21 pairs of 40-bp windows 4 bases apart (near copies at 16-mers and 0.5): with ``near``, no
    inner fold of the choice of C holds a pair on both sides; without it (distinct sequences, each
    its own key; the default) the unshuffled folds cut the 22 records of class 0 into 5, 5, 4, 4
    and 4, parting a pair at the first cut."""
    from sciPT.diagnostics.overlap import NearCopies
    from sciPT.domains.dna.kmer import KmerLogisticRegression

    rng = np.random.default_rng(4)
    stretches = [rng.integers(0, 4, 44).astype(np.uint8) for _ in range(21)]
    codes = [c for s in stretches for c in (s[:40], s[4:])]
    labels = np.repeat(np.arange(21) % 2, 2)
    pair = np.repeat(np.arange(21), 2)

    def parted(**near):
        seen = _recorded_folds(monkeypatch)
        KmerLogisticRegression(ks=(1, 2), **near).fit(codes, labels)
        assert seen  # the choice of C ran
        return sum(len(set(pair[train]) & set(pair[held])) for train, held in seen)

    assert parted(near=NearCopies(16, 0.5)) == 0
    assert parted(near=None) > 0
    assert parted() == parted(near=None)  # no rule by default: exact copies only


def test_the_choice_of_c_keeps_reverse_complements_in_one_inner_fold_without_the_near_rule(monkeypatch):
    """21 sequences each beside its reverse complement (different k-mer counts, the same DNA):
    without ``near`` the choice of C keys by copies on either strand, so no inner fold holds a pair
    on both sides (keyed by the strand given, the unshuffled folds of class 0's 22 records part the
    pair at the first cut, 5 records in)."""
    from sciPT.domains.dna.data import DNA_SPEC
    from sciPT.domains.dna.kmer import KmerLogisticRegression

    complement = DNA_SPEC.complement_codes()
    rng = np.random.default_rng(4)
    forward = [rng.integers(0, 4, 40).astype(np.uint8) for _ in range(21)]
    codes = [c for s in forward for c in (s, complement[s[::-1]])]
    labels, pair = np.repeat(np.arange(21) % 2, 2), np.repeat(np.arange(21), 2)
    seen = _recorded_folds(monkeypatch)
    KmerLogisticRegression(ks=(1, 2)).fit(codes, labels)
    assert seen
    assert all(not set(pair[train]) & set(pair[held]) for train, held in seen)


def test_a_window_holding_n_is_skipped():
    """Only A, C, G and T are counted: in ACNGT the 1-mers are A, C, G, T once each and the 2-mers
    AC (0 * 4 + 1 = 1) and GT (2 * 4 + 3 = 11); CN and NG are skipped."""
    counts = kmer_counts([encode("ACNGT")], ks=(1, 2))
    assert counts[0, :4].tolist() == [1, 1, 1, 1]
    assert np.flatnonzero(counts[0, 4:]).tolist() == [1, 11] and counts[0, 4:].sum() == 2


def test_the_mean_of_k_mer_scores_is_their_mean_logit():
    """KmerScore.mean is one linear function whose logit is the mean of the members' logits
    (the ensemble's stacked k-mer score). On AAC (counts A 2, C 1, G 0, T 0) the two scores below
    give 1 * 2 + 1 = 3 and 2 * 1 - 3 = -1: their mean is 1."""
    from sciPT.domains.dna.kmer import KmerScore

    a = KmerScore(np.array([1.0, 0.0, 0.0, 0.0]), 1.0, (1,))
    b = KmerScore(np.array([0.0, 2.0, 0.0, 0.0]), -3.0, (1,))
    codes = [encode("AAC")]
    assert (a(codes)[0], b(codes)[0]) == (3.0, -1.0)
    mean = KmerScore.mean([a, b])
    assert mean.ks == (1,) and mean(codes).tolist() == [1.0]


def test_every_inner_fit_weighs_each_class_alike(monkeypatch):
    """With counts that carry nothing, a fit weighing each class alike predicts even odds for every
    held-out sequence (the balanced intercept is 0); an unweighted fit would predict its training
    part's share of promoters, 1 in 5."""
    import sklearn.metrics

    real, predicted = sklearn.metrics.log_loss, []

    def recording(y_true, y_pred, **kw):
        predicted.append(np.asarray(y_pred))
        return real(y_true, y_pred, **kw)

    monkeypatch.setattr(sklearn.metrics, "log_loss", recording)
    x, y = np.zeros((50, 3)), np.array([1, 0, 0, 0, 0] * 10)
    cross_validated_c(x, y, cs=(1.0,), keys=[f"s{i}" for i in range(50)])
    assert len(predicted) == 5
    np.testing.assert_allclose(np.concatenate(predicted), 0.5, atol=1e-4)


def test_the_regression_weighs_each_class_alike():
    """The final regression is balanced too: one sequence repeated, labelled a promoter 1 time in
    5, gets probability 1/2 (an unweighted fit would give the base rate, 1/5)."""
    from sciPT.domains.dna.kmer import KmerLogisticRegression

    codes = [encode("ACGTTGCA")] * 10
    fitted = KmerLogisticRegression(ks=(1, 2), C=1.0).fit(codes, np.array([1, 0, 0, 0, 0] * 2))
    np.testing.assert_allclose(fitted.predict_proba(codes[:1]), [0.5], atol=1e-4)


def test_the_path_of_c_climbs_in_increasing_order_whatever_order_cs_are_given_in():
    """cs are tried in increasing order: given as 10, 0.1, 1 to counts that carry nothing (every C
    ties), the smallest still wins."""
    x, y = np.zeros((40, 3)), np.array([0, 1] * 20)
    assert cross_validated_c(x, y, cs=(10.0, 0.1, 1.0), keys=[f"s{i}" for i in range(40)]) == 0.1


def test_a_feature_that_tells_the_classes_apart_is_not_regularised_away():
    """The held-out loss scores the probability of the positive class: with one feature that
    separates the classes (with noise), C = 1e-6 (predictions near even odds, loss near log 2) is
    not the choice; scored on the other class's probability, it would be."""
    rng = np.random.default_rng(6)
    y = np.array([0, 1] * 30)
    x = (2.0 * y - 1.0 + rng.normal(scale=0.8, size=60))[:, None]
    assert cross_validated_c(x, y) > min(KMER_CS)
