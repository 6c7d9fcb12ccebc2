"""The promoter run's measurements (:mod:`sciPT.tasks.promoter_evaluation`): which sequences each
fold and label fraction hold, which seeds they use, what the folds' fits are given and return, and
the sentences on contamination and on the overlap with the model's own training data."""

import math
from pathlib import Path

import numpy as np
import pytest

import sciPT.tasks.promoter_evaluation as evaluation
from sciPT.diagnostics.overlap import NearCopies
from sciPT.domains.dna.data import LabelledSequences
from sciPT.run import RunDir
from sciPT.tasks.promoter import PromoterConfig
from sciPT.tasks.promoter_classifier import COMPLEMENT
from sciPT.tasks.promoter_evaluation import (
    contamination_lines,
    cross_validate,
    cv_folds,
    fraction_split,
    fraction_subset,
    restored_metrics,
    training_overlap_lines,
)
from sciPT.tasks.promoter_export import sequence_hashes


def _rc(c: np.ndarray) -> np.ndarray:
    return COMPLEMENT[c[::-1]]


def _key(c: np.ndarray) -> bytes:
    """A sequence's identity on either strand, computed here, not by the code under test."""
    return min(c.tobytes(), _rc(c).tobytes())


def _random(n: int, length: int = 20, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 4, length).astype(np.uint8) for _ in range(n)]


def _data(codes, labels, source="d.csv") -> LabelledSequences:
    return LabelledSequences([f"s{i}" for i in range(len(codes))], list(codes), np.asarray(labels), source)


def _with_copies() -> LabelledSequences:
    """12 distinct sequences (6 promoters) each followed by its reverse complement, and 3 verbatim
    copies: 27 records, 12 distinct sequences."""
    codes, labels = [], []
    for i, c in enumerate(_random(12)):
        codes += [c, _rc(c)]
        labels += [int(i < 6)] * 2
    for i in (0, 7, 11):
        codes.append(codes[2 * i].copy())
        labels.append(labels[2 * i])
    return _data(codes, labels)


# --- the folds ------------------------------------------------------------------------------------
def test_no_sequence_is_in_two_folds_on_either_strand():
    """A reverse complement or copy in another fold is scored as held out though the model was
    trained on it: the cross-validated figures would be optimistic."""
    data = _with_copies()
    folds = cv_folds(PromoterConfig(folds=3), data)
    assert len(folds) == 3
    tests = [set(test.tolist()) for _, test in folds]
    assert sorted(i for t in tests for i in t) == list(range(len(data)))  # each record tested once
    for train, test in folds:
        assert sorted([*train, *test]) == list(range(len(data)))
        assert not {_key(data.codes[i]) for i in train} & {_key(data.codes[i]) for i in test}
        # stratified by distinct sequence: 6 of each class over 3 folds, 2 of each class a fold
        distinct = {(_key(data.codes[i]), int(data.labels[i])) for i in test}
        assert sorted(y for _, y in distinct) == [0, 0, 1, 1]


def _with_near_copies() -> tuple[LabelledSequences, list[int]]:
    """12 stretches of 44 bp (6 promoters'), each cut into two 40-bp windows 4 bases apart (the
    second read on the other strand): near copies (21 of 25 16-mers shared), never exact ones; and
    the group each record's windows form, computed here."""
    codes, labels, group = [], [], []
    for i, stretch in enumerate(_random(12, length=44, seed=4)):
        codes += [stretch[:40], _rc(stretch[4:])]
        labels += [int(i < 6)] * 2
        group += [i, i]
    return _data(codes, labels), group


def test_near_copies_share_a_fold_and_a_side_of_the_label_fractions_split():
    """A window cut again 4 bases along, in another fold, is scored as held out though the model
    was fitted on 84 % of it. The folds and the fractions' split keep each pair together, with
    the run's contamination_k and threshold; at a threshold above 0.84 the pairs are not grouped."""
    data, group = _with_near_copies()
    for folds in (cv_folds(PromoterConfig(folds=3), data), cv_folds(PromoterConfig(folds=4), data)):
        for train, test in folds:
            assert not {group[i] for i in train} & {group[i] for i in test}
        # whole pairs, stratified: 12 pairs over 3 folds are 2 pairs of each class a fold
        assert sorted(len(test) for _, test in folds) == [2 * 12 // len(folds)] * len(folds)
    assert [int(data.labels[test].sum()) for _, test in cv_folds(PromoterConfig(folds=3), data)] == [4] * 3
    pool, held = fraction_split(PromoterConfig(), data)
    where = {name: i for i, name in enumerate(data.names)}
    assert not {group[where[n]] for n in pool.names} & {group[where[n]] for n in held.names}
    apart = [cv_folds(PromoterConfig(folds=3, contamination_threshold=t), data) for t in (0.85, 0.9)]
    split = lambda folds: any(  # noqa: E731
        {group[i] for i in train} & {group[i] for i in test} for train, test in folds
    )
    assert all(split(folds) for folds in apart)
    assert not split(cv_folds(PromoterConfig(folds=3, contamination_k=24, contamination_threshold=0.7), data))


def test_the_run_s_contamination_k_decides_which_windows_are_grouped():
    """The windows 4 bases apart share 21 of their 25 16-mers (0.84) but 13 of their 17 24-mers
    (40 - 4 - 24 + 1; 0.76): at threshold 0.8 they are grouped with 16-mers, not with 24-mers."""
    data, group = _with_near_copies()
    assert evaluation.held_out_keys(PromoterConfig(contamination_threshold=0.8), data).tolist() == group
    cfg = PromoterConfig(contamination_k=24, contamination_threshold=0.8)
    assert evaluation.held_out_keys(cfg, data).tolist() == list(range(len(data)))


def test_the_folds_are_drawn_with_the_run_seed():
    """Another --seed draws other folds (a spread across seeds is then measurable), the same seed
    the same folds (a run can be repeated)."""
    data = _data(_random(30), [1] * 15 + [0] * 15)

    def tests(seed):
        cfg = PromoterConfig(folds=3)
        cfg.train.seed = seed
        return [sorted(test.tolist()) for _, test in cv_folds(cfg, data)]

    assert tests(1) == tests(1)
    assert tests(1) != tests(2)


class _Fitted:
    """A stand-in fold model: its prediction for every sequence is ``value``."""

    fusion = fitted_fusion = stack = fitted_stack = cnn_stack = fitted_cnn_stack = None

    def __init__(self, value):
        self.value = value

    def predict(self, codes):
        return np.full(len(codes), self.value)

    predict_proba = predict


class _Store:
    """A stand-in :class:`~sciPT.tasks.promoter_fits.FitStore`: ``kept`` answers ``get``."""

    def __init__(self, kept=None):
        self.kept, self.put_keys, self.records = kept or {}, [], {}

    def get(self, key):
        return self.kept.get(key)

    def put(self, key, record):
        self.put_keys.append(key)
        self.records[key] = record


def test_each_fold_fits_every_model_on_its_training_part_with_the_fold_s_seed(monkeypatch):
    """Fold f (from 0) seeds the fine-tune and the CNN with seed + f; the k-mer regression chooses
    its C on the training part (C=None); both baselines' inner splits keep near copies together by
    the run's rule; each fit sees none of its held-out sequences; each record's
    out-of-fold probability is that of the fold that held it out; each fit is kept under its key."""
    data = _with_copies()
    cfg = PromoterConfig(folds=3, min_steps_per_epoch=7)
    cfg.train.seed = 5
    test_fold = {i: f for f, (_, test) in enumerate(cv_folds(cfg, data)) for i in test}
    calls = []

    def fold_of(codes):  # the fold whose training part these sequences are
        keys = {_key(c) for c in codes}
        (f,) = {test_fold[i] for i in range(len(data))} - {
            test_fold[i] for i in range(len(data)) if _key(data.codes[i]) in keys
        }
        return f

    def fake_train(start, cfg_, train, length, seed):
        calls.append(("fine-tune", start, seed, length, fold_of(train.codes)))
        return _Fitted(0.1 * (fold_of(train.codes) + 1))

    class Fake:
        def __init__(self, kind, *args, **kwargs):
            self.kind, self.args, self.kwargs = kind, args, kwargs

        def fit(self, codes, labels):
            self.fold = fold_of(codes)
            calls.append((self.kind, self.args, self.kwargs, self.fold))
            return self

        def predict_proba(self, codes):
            assert not {_key(c) for c in codes} & {
                _key(data.codes[i]) for i in range(len(data)) if test_fold[i] != self.fold
            }
            return np.full(len(codes), 0.5 + 0.1 * self.fold)

    monkeypatch.setattr(evaluation, "train_classifier", fake_train)
    monkeypatch.setattr(evaluation, "CNNClassifier", lambda *a, **k: Fake("CNN", *a, **k))
    monkeypatch.setattr(evaluation, "KmerLogisticRegression", lambda *a, **k: Fake("k-mer", *a, **k))
    store = _Store()
    out = cross_validate({"scratch": "start"}, cfg, data, 20, classical=True, fits=store)
    assert calls == [
        call
        for f in range(3)
        for call in (
            ("fine-tune", "start", 5 + f, 20, f),
            ("k-mer", (), {"C": None, "seed": 5, "near": NearCopies(16, 0.5)}, f),
            ("CNN", (20,), {"seed": 5 + f, "min_steps_per_epoch": 7, "near": NearCopies(16, 0.5)}, f),
        )
    ]
    folds = np.array([test_fold[i] for i in range(len(data))])
    np.testing.assert_allclose(out["scratch"][0], 0.1 * (folds + 1))
    np.testing.assert_allclose(out["CNN"][0], 0.5 + 0.1 * folds)
    assert [len(out[m][1]) for m in ("scratch", "k-mer LR", "CNN")] == [3, 3, 3]
    assert out["scratch"][1][0]["on_top"]["k-mer stack"] == (False, False)
    assert "on_top" not in out["CNN"][1][0]
    assert store.put_keys == [f"fold {f}, {m}" for f in (1, 2, 3) for m in ("scratch", "k-mer LR", "CNN")]


def test_a_continued_run_takes_each_kept_fit_as_it_was_returned(monkeypatch):
    """--resume: a kept fold's probabilities land on that fold's records and its metrics read as
    the fit returned them (the on_top pairs tuples again, not JSON's lists), with no refit."""
    data = _with_copies()
    cfg = PromoterConfig(folds=3)
    folds = cv_folds(cfg, data)

    def no_fit(*args):
        raise AssertionError("a kept fit was refitted")

    monkeypatch.setattr(evaluation, "train_classifier", no_fit)
    kept = {
        f"fold {f + 1}, scratch": {
            "probabilities": [0.25 * f] * len(test),
            "metrics": {"accuracy": 0.5 + 0.1 * f, "on_top": {"k-mer stack": [True, False]}},
        }
        for f, (_, test) in enumerate(folds)
    }
    p, per_fold = cross_validate({"scratch": "start"}, cfg, data, 20, classical=False, fits=_Store(kept))[
        "scratch"
    ]
    for f, (_, test) in enumerate(folds):
        np.testing.assert_array_equal(p[test], 0.25 * f)
    assert [m["accuracy"] for m in per_fold] == [0.5, 0.6, 0.7]
    assert per_fold[0]["on_top"] == {"k-mer stack": (True, False)}
    assert isinstance(per_fold[0]["on_top"]["k-mer stack"], tuple)


def test_a_fold_trained_on_a_fraction_of_its_labels_keeps_their_class_balance(monkeypatch):
    """``train_fraction``: half of each fold's training part (40 records, 10 promoters), stratified
    (exactly 5 promoters), the same half for every model, tested on the whole held-out fold, and kept
    under a key naming the fraction (a continued run must not take a full fold's fit for it)."""
    data = _data(_random(80), [1] * 20 + [0] * 60)
    cfg = PromoterConfig(folds=2)
    seen = []

    def fake_train(start, cfg_, train, length, seed):
        seen.append((start, len(train), int(train.labels.sum()), tuple(train.names)))
        return _Fitted(0.5)

    monkeypatch.setattr(evaluation, "train_classifier", fake_train)
    store = _Store()
    out = cross_validate({"a": "a", "b": "b"}, cfg, data, 20, classical=False, train_fraction=0.5, fits=store)
    assert [s[:3] for s in seen] == [("a", 20, 5), ("b", 20, 5)] * 2
    assert seen[0][3] == seen[1][3] and seen[2][3] == seen[3][3]
    assert not np.isnan(out["a"][0]).any()  # every record still tested
    assert store.put_keys == [f"fraction 0.5, fold {f}, {m}" for f in (1, 2) for m in "ab"]


def test_restored_metrics_turn_json_lists_back_into_pairs_and_leave_the_rest():
    """A continued run's report counts fitted/kept stacks from these pairs as a run never stopped does."""
    kept = {"mcc": 0.5, "on_top": {"CNN stack": [True, True], "k-mer stack": [False, False]}}
    assert restored_metrics(kept) == {
        "mcc": 0.5,
        "on_top": {"CNN stack": (True, True), "k-mer stack": (False, False)},
    }
    assert kept["on_top"]["CNN stack"] == [True, True]  # the kept record itself is not changed
    assert restored_metrics({"mcc": 0.5}) == {"mcc": 0.5}


# --- the label fractions ---------------------------------------------------------------------------
def test_the_label_fractions_are_scored_on_a_fifth_rounded_up():
    """63 records: 13 held out (0.2 x 63 = 12.6, rounded up), 50 in the pool the fractions draw from,
    the classes in both."""
    data = _data(_random(63, seed=1), [1] * 10 + [0] * 53)
    pool, held = fraction_split(PromoterConfig(), data)
    assert (len(pool), len(held)) == (50, 13)
    assert sorted([*pool.names, *held.names]) == sorted(data.names)
    assert int(held.labels.sum()) == 2 and int(pool.labels.sum()) == 8  # stratified: 10 x 13/63 = 2.1


def test_the_label_fraction_split_keeps_both_strands_of_a_sequence_on_one_side():
    """A reverse complement in the pool would be trained on while its twin is scored as held out."""
    data = _with_copies()
    pool, held = fraction_split(PromoterConfig(), data)
    assert not {_key(c) for c in pool.codes} & {_key(c) for c in held.codes}
    assert len(pool) + len(held) == len(data) and len(held) > 0


def test_a_label_fraction_never_trains_on_fewer_than_four_sequences_stratified_by_seed():
    """1% of 100 is one sequence, too few to fit with an early-stopping split: four (two of each
    class) are taken; each seed draws its own subset, the same seed the same one."""
    pool = _data(_random(100), [1] * 50 + [0] * 50)
    tiny = fraction_subset(pool, 0.01, 0)
    assert len(tiny) == 4 and int(tiny.labels.sum()) == 2
    assert fraction_subset(pool, 0.25, 3).names == fraction_subset(pool, 0.25, 3).names
    assert fraction_subset(pool, 0.25, 3).names != fraction_subset(pool, 0.25, 4).names


def test_a_label_fraction_keeps_the_pool_s_class_balance_whatever_the_seed():
    """20 promoters in a pool of 100: half the labels holds exactly 10 for every seed, so the
    accuracy across seeds does not move with the class balance drawn."""
    pool = _data(_random(100), [1] * 20 + [0] * 80)
    for seed in range(5):
        subset = fraction_subset(pool, 0.5, seed)
        assert len(subset) == 50 and int(subset.labels.sum()) == 10


class _Oracle:
    """Right on every sequence, or always 'promoter'."""

    def __init__(self, truth, perfect):
        self.truth, self.perfect = truth, perfect

    def predict(self, codes):
        return np.array([self.truth[c.tobytes()] if self.perfect else 1.0 for c in codes])


def _efficiency(tmp_path, monkeypatch, fraction_seeds, fits=None, trained=None):
    """50 distinct sequences, 20 promoters: a pool of 40 and a held-out 10 (4 promoters). The
    pre-trained stand-in is always right; scratch is right with the run's seed and otherwise always
    answers 'promoter' (accuracy 4/10). ``trained``: a list each fit appends its (start, seed,
    subset names) to."""
    codes = _random(50, length=12)
    labels = np.array([1] * 20 + [0] * 30)
    data = _data(codes, labels)
    truth = {c.tobytes(): float(y) for c, y in zip(codes, labels)}
    sizes = []

    def fake_train(start, cfg, subset, length, seed):
        sizes.append(len(subset))
        if trained is not None:
            trained.append((start, seed, tuple(subset.names)))
        return _Oracle(truth, perfect=start == "pre" or seed == cfg.train.seed)

    monkeypatch.setattr(evaluation, "train_classifier", fake_train)
    monkeypatch.setattr(evaluation.plots, "sample_efficiency", lambda fractions, results, out: out)
    cfg = PromoterConfig(label_fractions=[0.5, 0.25], fraction_seeds=fraction_seeds)
    run = RunDir(tmp_path / "run")
    run.path.mkdir()
    metrics = {}
    lines = evaluation.sample_efficiency(
        {"pre-trained": "pre", "scratch": "scr"}, cfg, data, 12, run, metrics, fits
    )
    return lines, metrics, sizes


def test_sample_efficiency_gives_the_mean_and_spread_over_seeds_and_each_fraction_s_size(
    tmp_path, monkeypatch
):
    """Scratch scores 1.0 and 0.4 over the two seeds: mean 0.700 ± 0.300 (their standard deviation);
    the few-label verdicts name each fraction's own subset size (10 and 20 of the pool of 40)."""
    lines, metrics, sizes = _efficiency(tmp_path, monkeypatch, 2)
    assert sizes == [10] * 4 + [20] * 4
    assert lines[3] == "Accuracy on a fixed 20% held-out split (mean ± std over 2 seeds):"
    assert "| 0.25 | 1.000 ± 0.000 | 0.700 ± 0.300 |" in lines
    assert "| 0.5 | 1.000 ± 0.000 | 0.700 ± 0.300 |" in lines
    assert metrics["fraction_0.25_scratch_accuracy_mean"] == pytest.approx(0.7)
    verdicts = [line for line in lines if line.startswith("- ")]
    assert [v.split(":")[0] for v in verdicts] == [
        "- 25% of the labels (10 sequences)",
        "- 50% of the labels (20 sequences)",
    ]
    assert lines[-1] == "![sample efficiency](plots/sample_efficiency.png)"


def test_sample_efficiency_with_one_seed_shows_no_spread(tmp_path, monkeypatch):
    """One seed has no spread: '± 0.000' would read as a measured one."""
    lines, metrics, _ = _efficiency(tmp_path, monkeypatch, 1)
    assert lines[3] == "Accuracy on a fixed 20% held-out split (one seed: no spread):"
    assert "| 0.25 | 1.000 | 1.000 |" in lines


# --- contamination ---------------------------------------------------------------------------------
@pytest.fixture
def held(tmp_path):
    """8 promoters and 8 non-promoters of 30 bp; ``corpus(seqs)`` writes those code arrays as a
    pre-training corpus and returns its ``pretrained_on`` record."""
    data = _data(_random(16, length=30, seed=1), [1] * 8 + [0] * 8, "held.csv")

    def corpus(seqs) -> list[dict]:
        path = tmp_path / f"corpus{len(list(tmp_path.iterdir()))}.fa"
        path.write_text("".join(f">c{i}\n{''.join('ACGT'[b] for b in c)}\n" for i, c in enumerate(seqs)))
        return [{"path": str(path), "sha256": "0" * 64}]

    return data, corpus


def test_a_sequence_whose_reverse_complement_is_in_the_corpus_is_contaminated(held):
    """The pre-trained model saw the other strand: its score on that sequence is not of transfer."""
    data, corpus = held
    metrics = {}
    contamination_lines(
        corpus([_rc(c) for c in data.codes[:3]]), data, 16, 0.5, data.labels * 1.0, metrics, "eval"
    )
    assert metrics["contamination_verbatim"] == 3
    assert (metrics["contamination_clean_positives"], metrics["contamination_clean_negatives"]) == (5, 8)


def test_a_nearly_verbatim_sequence_is_left_out_of_the_clean_subset(held):
    """One base changed at its end (14 of its 15 16-mers in the corpus): near, not verbatim, and not
    clean, so the clean metrics are not of sequences the model nearly saw."""
    data, corpus = held
    near = data.codes[0].copy()
    near[-1] = (near[-1] + 1) % 4
    metrics = {}
    contamination_lines(corpus([near]), data, 16, 0.5, data.labels * 1.0, metrics, "eval")
    assert (metrics["contamination_verbatim"], metrics["contamination_near"]) == (0, 1)
    assert (metrics["contamination_clean_positives"], metrics["contamination_clean_negatives"]) == (7, 8)
    assert metrics["eval_clean_accuracy"] == 1.0


def test_clean_metrics_of_one_model_do_not_claim_pooled_folds(held):
    """Only the cross-validation's out-of-fold predictions are pooled over folds; an evaluation's
    line must not say so. 3 promoters in the corpus, one clean non-promoter called a promoter: TP 5,
    TN 7, FP 1, accuracy 12/13, MCC 35 / sqrt(6 x 5 x 8 x 7)."""
    data, corpus = held
    p = data.labels * 1.0
    p[15] = 0.9
    lines = contamination_lines(corpus(data.codes[:3]), data, 16, 0.5, p, {}, "eval")
    assert lines[1] == "On the 13 clean sequences (5 promoters, 8 non-promoters): accuracy 0.923, MCC 0.854."
    assert f"{35 / math.sqrt(6 * 5 * 8 * 7):.3f}" == "0.854"


def test_an_unknown_corpus_and_no_pre_training_are_told_apart(held, tmp_path):
    """A Hugging Face model records no corpus (unknown), a scratch model has none (nothing to check),
    a corpus moved away cannot be checked: three different things for a reader."""
    data, _ = held
    p = np.ones(16)
    assert contamination_lines(None, data, 16, 0.5, p, {}, "eval") == [
        "Contamination unknown: the model (a Hugging Face folder, `--init hf:`) records no pre-training "
        "corpus, so its overlap with these sequences cannot be checked."
    ]
    assert contamination_lines([], data, 16, 0.5, p, {}, "eval") == [
        "The model was not pre-trained (no corpus recorded): no contamination to check."
    ]
    gone = tmp_path / "gone.fa"
    assert contamination_lines([{"path": str(gone)}], data, 16, 0.5, p, {}, "eval") == [
        f"Contamination unknown: the pre-training corpus {gone} is not on this machine."
    ]


# --- the exported model's own training data --------------------------------------------------------
def _overlap_case():
    """16 sequences (8 promoters); the model was trained on the reverse complements of promoters 0
    and 1 and on non-promoter 8 verbatim."""
    data = _data(_random(16, length=30, seed=2), [1] * 8 + [0] * 8)
    trained = sequence_hashes([_rc(data.codes[0]), _rc(data.codes[1]), data.codes[8]])
    return data, trained


def test_sequences_the_model_was_trained_on_are_named_and_left_out_of_the_held_out_metrics():
    """3 of 16 seen (two by their other strand). On the 13 others (6 promoters, 7 non-promoters) one
    non-promoter is called a promoter: accuracy 12/13, MCC (6 x 6 - 1 x 0) / sqrt(7 x 6 x 7 x 6) = 36/42;
    the wrong call on seen promoter 0 counts only in the scores on all 16."""
    data, trained = _overlap_case()
    p = data.labels * 1.0
    p[0], p[15] = 0.0, 0.9
    metrics = {}
    warning, lines = training_overlap_lines(trained, "unused", data, p, metrics)
    assert warning == (
        "3 of 16 evaluation sequences were in this model's training data: the scores on them are not held-out"
    )
    assert lines == [
        f"{warning} (a sequence or its reverse complement).",
        "On the 13 held-out sequences (6 promoters, 7 non-promoters): accuracy 0.923, MCC 0.857.",
    ]
    assert metrics["eval_in_training"] == 3
    assert (metrics["eval_held_out_positives"], metrics["eval_held_out_negatives"]) == (6, 7)
    assert metrics["eval_held_out_accuracy"] == pytest.approx(12 / 13)
    assert metrics["eval_held_out_mcc"] == pytest.approx(36 / 42)


def test_no_overlap_with_the_training_data_is_said_in_one_line_without_a_warning():
    data, _ = _overlap_case()
    metrics = {}
    unrelated = sequence_hashes(_random(5, length=30, seed=9))
    assert training_overlap_lines(unrelated, "unused", data, np.ones(16), metrics) == (
        None,
        ["None of the 16 evaluation sequences were in this model's training data."],
    )
    assert metrics == {"eval_in_training": 0}


def test_a_held_out_subset_too_small_to_measure_is_called_held_out_not_clean():
    """The overlap's subset is the held-out one: calling it 'clean' would confuse it with the
    contamination check's."""
    data, _ = _overlap_case()
    metrics = {}
    warning, lines = training_overlap_lines(
        sequence_hashes(data.codes[:4]), "unused", data, np.ones(16), metrics
    )
    assert lines[1] == (
        "The held-out subset holds 4 promoters and 8 non-promoters: too few promoters to measure on (at least "
        "5 of each class are needed), so no metric is given on it."
    )
    assert "eval_held_out_mcc" not in metrics and metrics["eval_held_out_positives"] == 4
    _, lines = training_overlap_lines(sequence_hashes(data.codes), "unused", data, np.ones(16), {})
    assert lines[1] == "The held-out subset is empty, so no metric is given on it."


def test_an_unreadable_training_record_says_why_and_adds_no_count():
    metrics = {}
    why = f"the record of its training sequences, {Path('m/training.safetensors')}, is not there"
    assert training_overlap_lines(None, why, _overlap_case()[0], np.ones(16), metrics) == (
        None,
        [
            f"Training overlap not checked: {why}, so whether these sequences were among those it was "
            "trained on cannot be said."
        ],
    )
    assert metrics == {}


# --- second mutation pass: the folds' figures by hand, the seeds, the keys kept, the names --------
class _Scorer(_Fitted):
    """A stand-in fold model that gives each sequence its own score from ``by_sequence``."""

    def __init__(self, by_sequence):
        self.by_sequence = by_sequence

    def predict(self, codes):
        return np.array([self.by_sequence[c.tobytes()] for c in codes])


def test_each_fold_s_metrics_are_those_of_its_own_held_out_scores_by_hand(monkeypatch):
    """Two fixed folds of 30-bp sequences (promoters 0-5, non-promoters 6-11). Fold 1 holds out
    promoters scored 0.9, 0.6, 0.3 and non-promoters 0.4, 0.2, 0.1: TP 2, FN 1, TN 3, FP 0, accuracy
    5/6, MCC (2 x 3 - 0 x 1) / sqrt(2 x 3 x 3 x 4) = 6 / sqrt(72), AUROC 8/9 (of the 9 pairs only 0.3
    below 0.4). Fold 2: promoters 0.7, 0.8, 0.55, non-promoters 0.45, 0.75, 0.05: TP 3, TN 2, FP 1,
    accuracy 5/6, MCC (3 x 2 - 1 x 0) / sqrt(4 x 3 x 3 x 2) = 6 / sqrt(72), AUROC 7/9 (0.7 and 0.55
    below 0.75).
    Each fold's kept record holds its own probabilities and metrics; the CNN reads the central 20 bp
    (the length fine-tuned on) of its training and held-out sequences, the k-mer regression whole
    ones; neither has an ``on_top`` (no fusion or stack of their own)."""
    codes = _random(12, length=30, seed=3)
    data = _data(codes, [1] * 6 + [0] * 6)
    score = [0.9, 0.6, 0.3, 0.7, 0.8, 0.55, 0.4, 0.2, 0.1, 0.45, 0.75, 0.05]
    by_sequence = {c.tobytes(): s for c, s in zip(codes, score)}
    one, two = np.array([0, 1, 2, 6, 7, 8]), np.array([3, 4, 5, 9, 10, 11])
    monkeypatch.setattr(evaluation, "cv_folds", lambda cfg, data: [(two, one), (one, two)])
    monkeypatch.setattr(evaluation, "train_classifier", lambda *args: _Scorer(by_sequence))
    read = []

    class Reader:
        def __init__(self, kind, *args, **kwargs):
            self.kind = kind

        def fit(self, codes, labels):
            read.append((self.kind, "fit", sorted(c.tobytes() for c in codes)))
            return self

        def predict_proba(self, codes):
            read.append((self.kind, "predict", sorted(c.tobytes() for c in codes)))
            return np.full(len(codes), 0.5)

    monkeypatch.setattr(evaluation, "CNNClassifier", lambda *a, **k: Reader("CNN", *a, **k))
    monkeypatch.setattr(evaluation, "KmerLogisticRegression", lambda *a, **k: Reader("k-mer", *a, **k))
    store = _Store()
    out = cross_validate({"scratch": "s"}, PromoterConfig(folds=2), data, 20, classical=True, fits=store)
    p, per_fold = out["scratch"]
    np.testing.assert_allclose(p, score)
    assert [m["accuracy"] for m in per_fold] == pytest.approx([5 / 6, 5 / 6])
    assert [m["mcc"] for m in per_fold] == pytest.approx([6 / math.sqrt(72)] * 2)
    assert [m["auroc"] for m in per_fold] == pytest.approx([8 / 9, 7 / 9])
    for f, held_out in ((1, one), (2, two)):
        record = store.records[f"fold {f}, scratch"]
        assert record["probabilities"] == pytest.approx([score[i] for i in held_out])
        assert record["metrics"] is per_fold[f - 1]
    assert store.records["fold 2, CNN"]["probabilities"] == [0.5] * 6
    assert not [m for name in ("k-mer LR", "CNN") for m in out[name][1] if "on_top" in m]

    def seqs(idx, central):
        return sorted((codes[i][5:25] if central else codes[i]).tobytes() for i in idx)

    assert read == [
        entry
        for train, held_out in ((two, one), (one, two))
        for entry in (
            ("k-mer", "fit", seqs(train, False)),
            ("k-mer", "predict", seqs(held_out, False)),
            ("CNN", "fit", seqs(train, True)),
            ("CNN", "predict", seqs(held_out, True)),
        )
    ]


def test_too_few_distinct_sequences_for_the_folds_are_refused_naming_the_file():
    """Two promoters (each with its reverse complement: 2 distinct) cannot fill 3 folds; the refusal
    names the labelled file, not 'the data'."""
    from sciPT.errors import DataError

    codes, labels = [], []
    for i, c in enumerate(_random(7)):
        codes += [c, _rc(c)] if i < 2 else [c]
        labels += [1, 1] if i < 2 else [0]
    with pytest.raises(DataError) as caught:
        cv_folds(PromoterConfig(folds=3), _data(codes, labels, "labels.csv"))
    assert str(caught.value) == (
        "labels.csv: 3 folds need at least 3 distinct sequences of each class (copies, reverse "
        "complements and grouped near copies count once); label 1 has 2"
    )


def test_the_label_fractions_held_out_fifth_is_rounded_up_not_to_the_nearest():
    """61 records: 0.2 x 61 = 12.2, rounded up to 13 held out (to the nearest would give 12)."""
    data = _data(_random(61, seed=4), [1] * 10 + [0] * 51)
    pool, held = fraction_split(PromoterConfig(), data)
    assert (len(pool), len(held)) == (48, 13)


def test_the_label_fraction_split_is_drawn_with_the_run_seed():
    """Another --seed holds out other sequences, the same seed the same ones."""
    data = _data(_random(40, seed=5), [1] * 20 + [0] * 20)

    def held_out(seed):
        cfg = PromoterConfig()
        cfg.train.seed = seed
        return sorted(fraction_split(cfg, data)[1].names)

    assert held_out(1) == held_out(1)
    assert held_out(1) != held_out(2)


def test_the_label_fraction_seeds_run_from_the_run_seed():
    """--seed 3 with 2 seeds a fraction: seeds 3 and 4 (a run with --seed 0 draws 0 and 1)."""
    cfg = PromoterConfig(fraction_seeds=2)
    cfg.train.seed = 3
    assert list(evaluation.fraction_seeds(cfg)) == [3, 4]


def test_sample_efficiency_keeps_each_fit_under_its_fraction_seed_and_model(tmp_path, monkeypatch):
    """Each fit's held-out accuracy is kept under 'labels <fraction>, seed <seed>, <model>'
    (scratch right only with the run's seed 0: 1.0, then 0.4); both models train on the same subset
    at each seed (the comparison is paired) and the two seeds draw different subsets; the means reach
    metrics.json under each model's key (pre_trained)."""
    store, trained = _Store(), []
    _, metrics, _ = _efficiency(tmp_path, monkeypatch, 2, fits=store, trained=trained)
    assert store.put_keys == [
        f"labels {frac}, seed {seed}, {model}"
        for frac in ("0.25", "0.5")
        for seed in (0, 1)
        for model in ("pre-trained", "scratch")
    ]
    assert store.records["labels 0.25, seed 0, scratch"] == {"accuracy": 1.0}
    assert store.records["labels 0.25, seed 1, scratch"] == {"accuracy": pytest.approx(0.4)}
    assert [t[:2] for t in trained[:4]] == [("pre", 0), ("scr", 0), ("pre", 1), ("scr", 1)]
    assert trained[0][2] == trained[1][2] and trained[2][2] == trained[3][2]
    assert trained[0][2] != trained[2][2]
    assert metrics["fraction_0.25_pre_trained_accuracy_mean"] == 1.0
    assert metrics["fraction_0.5_scratch_accuracy_mean"] == pytest.approx(0.7)


def test_sample_efficiency_of_a_continued_run_takes_the_kept_accuracies_without_refitting(
    tmp_path, monkeypatch
):
    """--resume: each fraction, seed and model's kept accuracy is looked up under its own key and
    used as it was, with no fit."""
    kept = {
        f"labels {frac}, seed {seed}, {model}": {"accuracy": 0.5 if model == "scratch" else 0.25 * (seed + 1)}
        for frac in ("0.25", "0.5")
        for seed in (0, 1)
        for model in ("pre-trained", "scratch")
    }
    trained = []
    lines, _, _ = _efficiency(tmp_path, monkeypatch, 2, fits=_Store(kept), trained=trained)
    assert trained == []
    # pre-trained 0.25 and 0.5: mean 0.375, standard deviation 0.125
    assert "| 0.25 | 0.375 ± 0.125 | 0.500 ± 0.000 |" in lines


def test_sample_efficiency_with_one_seed_still_gives_each_fraction_s_verdict(tmp_path, monkeypatch):
    """One seed: both stand-ins are right (accuracy difference 0), and the verdict says why one
    seed cannot tell them apart, naming the subset size (10 and 20 of the pool of 40)."""
    lines, metrics, _ = _efficiency(tmp_path, monkeypatch, 1)
    assert [line for line in lines if line.startswith("- ")] == [
        f"- {share}% of the labels ({n} sequences): pre-trained is tied with scratch, accuracy +0.0 points "
        "(one seed: no spread to judge it by, so tied by the 2-SE rule; --fraction-seeds 2 or more)."
        for share, n in ((25, 10), (50, 20))
    ]


def test_the_contamination_check_uses_the_k_and_threshold_it_is_given(held):
    """The corpus holds promoter 0 with its last base changed: 14 of its 15 16-mers (similarity
    0.933, below 0.95: clean) and 22 of its 23 8-mers (0.957: near) are in the corpus. The sentence
    states the k and threshold the check used."""
    data, corpus = held
    near = data.codes[0].copy()
    near[-1] = (near[-1] + 1) % 4
    pretrained_on = corpus([near])
    metrics = {}
    lines = contamination_lines(pretrained_on, data, 16, 0.95, data.labels * 1.0, metrics, "eval")
    assert metrics["contamination_near"] == 0
    assert lines[0] == (
        "Contamination: of 16 evaluation sequences, 0 (0.0%) occur verbatim in the pre-training corpus "
        "(either strand) and 0 (0.0%) verbatim or nearly (16-mer similarity >= 0.95); 16 are clean."
    )
    metrics = {}
    lines = contamination_lines(pretrained_on, data, 8, 0.95, data.labels * 1.0, metrics, "eval")
    assert metrics["contamination_near"] == 1
    assert lines[0] == (
        "Contamination: of 16 evaluation sequences, 0 (0.0%) occur verbatim in the pre-training corpus "
        "(either strand) and 1 (6.2%) verbatim or nearly (8-mer similarity >= 0.95); 15 are clean."
    )


def test_a_test_set_s_counts_and_the_other_models_clean_metrics_are_keyed_by_hand(held):
    """``counts`` prefixes every count (a --test set's are kept apart from the folds'); each other
    model's clean metrics are keyed by its metrics.json name (k-mer LR: kmer_lr). Promoters 0-2 in
    the corpus; on the 13 clean the k-mer scores promoters 3-7 0.1, 0.7, 0.8, 0.9, 0.95 and
    non-promoters 0.2 but the last 0.75: TP 4, FN 1, TN 7, FP 1, accuracy 11/13, MCC
    (4 x 7 - 1 x 1) / sqrt(5 x 5 x 8 x 8) = 27/40, AUROC 31/40 (0.1 above no non-promoter, 0.7 above 7)."""
    data, corpus = held
    q = np.array([0.0] * 3 + [0.1, 0.7, 0.8, 0.9, 0.95] + [0.2] * 7 + [0.75])
    metrics = {}
    contamination_lines(
        corpus(data.codes[:3]),
        data,
        16,
        0.5,
        data.labels * 1.0,
        metrics,
        "test",
        others={"k-mer LR": q},
        counts="test_contamination",
    )
    assert {k: v for k, v in metrics.items() if "contamination" in k} == {
        "test_contamination_eval_sequences": 16,
        "test_contamination_verbatim": 3,
        "test_contamination_near": 3,
        "test_contamination_clean": 13,
        "test_contamination_unchecked": 0,
        "test_contamination_clean_positives": 5,
        "test_contamination_clean_negatives": 8,
    }
    assert metrics["kmer_lr_clean_accuracy"] == pytest.approx(11 / 13)
    assert metrics["kmer_lr_clean_mcc"] == pytest.approx(27 / 40)
    assert metrics["kmer_lr_clean_auroc"] == pytest.approx(31 / 40)
    assert (metrics["test_clean_accuracy"], metrics["test_clean_auroc"]) == (1.0, 1.0)


def test_of_several_missing_corpus_files_the_first_is_named(held, tmp_path):
    data, _ = held
    first, second = tmp_path / "a.fa", tmp_path / "b.fa"
    assert contamination_lines(
        [{"path": str(first)}, {"path": str(second)}], data, 16, 0.5, np.ones(16), {}, "eval"
    ) == [f"Contamination unknown: the pre-training corpus {first} is not on this machine."]


def test_every_held_out_metric_is_recorded_by_hand():
    """The overlap case above (held out: promoters 2-7 all 1.0, non-promoters 9-15 at 0 but the last
    0.9): F1 2 x 6 / (2 x 6 + 1) = 12/13, sensitivity 1, specificity 6/7, AUROC 1 (every promoter
    above every non-promoter), not just accuracy and MCC."""
    data, trained = _overlap_case()
    p = data.labels * 1.0
    p[0], p[15] = 0.0, 0.9
    metrics = {}
    training_overlap_lines(trained, "unused", data, p, metrics)
    assert metrics["eval_held_out_f1"] == pytest.approx(12 / 13)
    assert metrics["eval_held_out_sensitivity"] == 1.0
    assert metrics["eval_held_out_specificity"] == pytest.approx(6 / 7)
    assert metrics["eval_held_out_auroc"] == 1.0


@pytest.mark.parametrize("measurement", ["cross-validation", "sample efficiency"])
def test_a_stopped_measurement_closes_its_bar_before_the_stop_is_reported(measurement, tmp_path, monkeypatch):
    """SIGTERM raised in a fit (sciPT.signals.Terminated): a bar left open lived as long as the
    exception's traceback, so it was redrawn once the command line had handled the exception, below
    the line saying what the run keeps (``caught`` holds the traceback, as the handler does)."""
    from tqdm.auto import tqdm

    from sciPT.signals import Terminated

    def stopped(*args):
        raise Terminated(15)

    monkeypatch.setattr(evaluation, "train_classifier", stopped)
    data = _data(_random(40), [1] * 20 + [0] * 20)
    with pytest.raises(Terminated) as caught:
        if measurement == "cross-validation":
            cross_validate({"scratch": "start"}, PromoterConfig(folds=2), data, 20, classical=False)
        else:
            run = RunDir(tmp_path / "run")
            run.path.mkdir()
            cfg = PromoterConfig(label_fractions=[0.5], fraction_seeds=1)
            evaluation.sample_efficiency({"scratch": "scr"}, cfg, data, 20, run, {}, None)
    assert caught.traceback
    assert not [bar for bar in list(tqdm._instances) if bar.desc == measurement]
