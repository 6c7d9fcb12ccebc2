import numpy as np
import pytest
import torch

from sciPT.checkpoint import from_pretrained
from sciPT.domains.dna.cnn import CNNClassifier
from sciPT.domains.dna.data import read_labelled
from sciPT.domains.dna.kmer import KmerLogisticRegression
from sciPT.domains.dna.tokenizer import dna_tokenizer
from sciPT.errors import ConfigError, UserError
from sciPT.nn import TransformerConfig, TransformerEncoder
from sciPT.nn.classifier import ClassifierHead, HeadConfig, ProbabilityEnsemble, SequenceClassifier
from sciPT.objectives.masked import LMHead
from sciPT.run import RunDir
from sciPT.sequence_config import TokenizerConfig
from sciPT.stacking import fit_stack
from sciPT.tasks.promoter import PromoterConfig
from sciPT.tasks.promoter_checks import validate
from sciPT.tasks.promoter_classifier import (
    COMPLEMENT,
    Classifier,
    train_classifier,
)
from sciPT.tasks.promoter_export import export_classifier, load_classifier
from sciPT.tasks.promoter_report import cnn_stack_line, kmer_stack_line, naturalness_line, on_top_metrics
from sciPT.tasks.promoter_start import LENGTH_STRETCH, Start, load_start
from sciPT.testing import assert_strand_symmetric


# --- model behaviour ------------------------------------------------------------------------
def _random_classifier(strand_symmetric: bool) -> Classifier:
    tok = dna_tokenizer(TokenizerConfig())
    torch.manual_seed(0)
    enc = TransformerEncoder(
        TransformerConfig(vocab_size=tok.vocab_size, d_model=16, n_layers=1, n_heads=2, d_ff=32, max_len=40)
    )
    head = ClassifierHead(HeadConfig(pooling="flatten", dropout=0.0), 16, 40)
    return Classifier(SequenceClassifier(enc, head).eval(), tok, 40, strand_symmetric)


def test_strand_symmetric_prediction():
    rng = np.random.default_rng(1)
    seqs = [rng.integers(0, 4, 40).astype(np.uint8) for _ in range(8)]
    assert_strand_symmetric(_random_classifier(True).predict, seqs, COMPLEMENT)
    with pytest.raises(AssertionError, match="^not strand-symmetric: max"):  # the option matters
        assert_strand_symmetric(_random_classifier(False).predict, seqs, COMPLEMENT, atol=1e-4)


def test_strand_symmetric_prediction_of_sequences_longer_than_the_model():
    # 41 and 43 bp exceed the 40 bp model by an odd number: a centred crop of a sequence is then
    # not the reverse complement of its reverse complement's crop
    rng = np.random.default_rng(2)
    seqs = [rng.integers(0, 4, n).astype(np.uint8) for n in (41, 43, 57, 90, 40, 25)]
    classifier = _random_classifier(True)
    assert_strand_symmetric(classifier.predict, seqs, COMPLEMENT)
    embed = classifier.embed(seqs)
    np.testing.assert_allclose(classifier.embed([COMPLEMENT[s[::-1]] for s in seqs]), embed, atol=1e-6)
    scorer = KmerLogisticRegression(ks=(1, 2), C=0.01).fit(seqs, np.array([1, 0, 1, 0, 1, 0])).score()
    score = classifier.stacked_score(scorer, seqs)
    np.testing.assert_allclose(classifier.stacked_score(scorer, [COMPLEMENT[s[::-1]] for s in seqs]), score)


def both_stacks_kept(planted, fast_cfg, **settings):
    """One member fitted for an epoch on the planted set and validated on it, its k-mer and CNN
    stacks kept whatever their likelihood ratio: ``(data, cfg, classifier)``."""
    path, _ = planted
    data = read_labelled(path, labelled=True)
    cfg = fast_cfg(ensemble=1, naturalness=False, kmer_stack=True, cnn_stack=True, **settings)
    cfg.max_epochs = 1
    cfg.kmer_stack_min_ratio = cfg.cnn_stack_min_ratio = 0.0
    return data, cfg, train_classifier(load_start("none", cfg), cfg, data, 30, seed=0, val=data)


def test_a_strand_symmetric_classifier_stays_symmetric_with_its_stacks(planted, fast_cfg):
    data, cfg, classifier = both_stacks_kept(planted, fast_cfg, strand_symmetric=True)
    assert classifier.stack is not None and classifier.cnn_stack is not None
    assert_strand_symmetric(classifier.predict, data.codes, COMPLEMENT, atol=1e-5)
    metrics = on_top_metrics(classifier)  # each stack's own weight, not the other's
    assert metrics["kmer_stack_weight"] == classifier.stack.w_score
    assert metrics["cnn_stack_weight"] == classifier.cnn_stack.w_score
    assert metrics["cnn_stack_kept"] == metrics["kmer_stack_kept"] == 1
    # the stacked models alone read one strand: the mean over both is what makes it symmetric
    with pytest.raises(AssertionError, match="^not strand-symmetric: max"):
        assert_strand_symmetric(classifier.cnn, data.codes, COMPLEMENT, atol=1e-4)


def test_an_rc_equivariant_classifier_stays_symmetric_with_its_stacks(planted, fast_cfg):
    """The encoder answers alike on both strands in one pass; the k-mer and CNN models stacked on it
    read one strand, and made the prediction differ between strands by up to 0.004 (the README
    promises the same answer on either strand)."""
    path, _ = planted
    data = read_labelled(path, labelled=True)
    cfg = fast_cfg(ensemble=1, naturalness=False, kmer_stack=True, cnn_stack=True)
    cfg.model.rc_equivariant, cfg.model.d_model, cfg.model.d_ff = True, 32, 64
    cfg.max_epochs, cfg.kmer_stack_min_ratio, cfg.cnn_stack_min_ratio = 1, 0.0, 0.0
    classifier = train_classifier(load_start("none", cfg), cfg, data, 30, seed=0, val=data)
    assert not classifier.strand_symmetric and classifier.rc_equivariant
    assert classifier.stack is not None and classifier.cnn_stack is not None
    assert_strand_symmetric(classifier.predict, data.codes, COMPLEMENT, atol=1e-5)
    # the classifier alone is symmetric in one pass: the stacked models are what needed both strands
    assert_strand_symmetric(
        lambda c: classifier.predict(c, stack=None, cnn_stack=None), data.codes, COMPLEMENT, atol=1e-5
    )
    assert len(classifier.strands(data.codes)) == 1 and len(classifier.side_strands(data.codes)) == 2


class _FixedLogits(torch.nn.Module):
    def __init__(self, logits):
        super().__init__()
        self.logits = torch.tensor(logits)

    def forward(self, input_ids, attention_mask):
        return self.logits


def test_ensemble_averages_probabilities_not_logits():
    ensemble = ProbabilityEnsemble([_FixedLogits([0.0, 4.0, -2.0]), _FixedLogits([np.log(3.0), -4.0, 30.0])])
    p = torch.sigmoid(ensemble(None, None))
    # sigmoid(0) = 1/2 and sigmoid(log 3) = 3/4; sigmoid(4) + sigmoid(-4) = 1
    expected = [(0.5 + 0.75) / 2, 0.5, (1 / (1 + np.exp(2.0)) + 1 / (1 + np.exp(-30.0))) / 2]
    np.testing.assert_allclose(p.numpy(), expected, rtol=1e-6)


def test_ensemble_is_exported_and_loaded_whole(planted, tmp_path, fast_cfg):
    path, _ = planted
    data = read_labelled(path, labelled=True)
    cfg = fast_cfg(ensemble=2)
    cfg.max_epochs = 2
    start = load_start("none", cfg)
    classifier = train_classifier(start, cfg, data, 30, seed=0)
    members = classifier.model.members
    assert len(members) == 2
    # different seeds: different heads, so the members are two models, not one model twice
    assert not torch.equal(members[0].head.net[-1].weight, members[1].head.net[-1].weight)
    run = RunDir(tmp_path / "run")
    run.path.mkdir()
    export_classifier(run, classifier, start, cfg, 30)
    loaded, exported = load_classifier(run.path)
    assert exported["ensemble"] == 2 and isinstance(loaded.model, ProbabilityEnsemble)
    np.testing.assert_allclose(loaded.predict(data.codes), classifier.predict(data.codes), atol=1e-6)
    with pytest.raises(
        TypeError, match="^codes: expected one array of nucleotide codes per sequence, got text"
    ):
        loaded.predict(["ACGTACGT"])  # int('ACGTACGT') failed deep inside before
    each = [torch.sigmoid(m(*_batch(start, data))).detach().numpy() for m in members]
    np.testing.assert_allclose(classifier.predict(data.codes), np.mean(each, 0), atol=1e-6)
    # the classifier is not a backbone: from_pretrained says so instead of listing missing weights
    with pytest.raises(UserError) as refused:
        from_pretrained(run.path)
    assert str(refused.value) == (
        f"{run.model}: the export of a fine-tuned 'promoter' model, not a pre-trained dna backbone: "
        "use it through 'scipt evaluate' or 'predict', or load it with the task's own loader"
    )


def test_rc_equivariant_classifier_is_strand_symmetric_and_round_trips(planted, tmp_path, fast_cfg):
    path, _ = planted
    data = read_labelled(path, labelled=True)
    cfg = fast_cfg()
    cfg.model.rc_equivariant, cfg.model.d_model, cfg.model.d_ff = True, 32, 64
    cfg.max_epochs, cfg.ensemble = 2, 1
    cfg.head.tokens = True  # the head's tokens follow the strands too
    start = load_start("none", cfg)
    assert start.model_cfg.complement_ids[5:8] == [5 + 63, 5 + 47, 5 + 31]  # AAA->TTT, AAC->GTT, AAG->CTT
    classifier = train_classifier(start, cfg, data, 30, seed=0)
    assert not classifier.strand_symmetric  # no second pass: the head averages the strands itself
    rng = np.random.default_rng(2)
    seqs = [rng.integers(0, 4, n).astype(np.uint8) for n in (30, 30, 26, 21)]
    assert_strand_symmetric(classifier.predict, seqs, COMPLEMENT, atol=1e-5)
    run = RunDir(tmp_path / "run")
    run.path.mkdir()
    export_classifier(run, classifier, start, cfg, 30)
    loaded, _ = load_classifier(run.path)
    assert loaded.model.head.strand_invariant
    np.testing.assert_allclose(loaded.predict(data.codes), classifier.predict(data.codes), atol=1e-6)


def _batch(start, data):
    batch = start.tokenizer.batch(data.codes, start.tokenizer.n_tokens(30))
    return batch["input_ids"], batch["attention_mask"]


def test_inputs_may_exceed_the_pretraining_window_by_the_stretch():
    # 3-mers over 16-token windows: 16 + 2 residues pre-trained, 4 x 16 tokens = 66 residues fine-tuned
    tok = dna_tokenizer(TokenizerConfig(kind="kmer", k=3))
    cfg = TransformerConfig(vocab_size=tok.vocab_size, d_model=8, n_layers=1, n_heads=2, d_ff=16, max_len=16)
    start = Start("pre-trained", None, cfg, tok, [], {})
    assert LENGTH_STRETCH == 4
    assert start.residue_cap == 4 * 16 + 2


def test_a_fit_gets_the_configured_epoch_floor(planted, monkeypatch):
    """The task's default epoch floor (50 steps, benchmarks/promoter_recipe.py) reaches the fit."""
    from sciPT.tasks import promoter_classifier

    seen = {}

    def fake_fit(*args, **kwargs):
        seen.update(kwargs)
        raise RuntimeError("stop here")

    monkeypatch.setattr(promoter_classifier, "fit_classifier", fake_fit)
    path, _ = planted
    data = read_labelled(path, labelled=True)
    cfg = PromoterConfig(ensemble=1)
    cfg.model = TransformerConfig(d_model=16, n_layers=1, n_heads=2, d_ff=32, max_len=64)
    with pytest.raises(RuntimeError, match="stop here"):
        train_classifier(load_start("none", cfg), cfg, data, 30, seed=0)
    assert seen["min_steps_per_epoch"] == 50
    assert seen["max_shift"] == 0  # the task's default: the training sequences as they are
    with pytest.raises(ConfigError) as err:
        validate(PromoterConfig(min_steps_per_epoch=-1))
    assert str(err.value) == "min_steps_per_epoch: expected a non-negative integer, got -1"
    with pytest.raises(ConfigError) as err:
        validate(PromoterConfig(shift=-2))
    assert str(err.value) == "shift: expected a non-negative number of bases, got -2"


# --- the pre-trained model's likelihood fused into the prediction ---------------------------------
def _pretrained_start(cfg, with_head: bool = True) -> Start:
    """A 'pre-trained' start: random encoder weights and, with ``with_head``, a masked-model head."""
    scratch = load_start("none", cfg)
    torch.manual_seed(5)
    encoder = TransformerEncoder(scratch.model_cfg)
    head = LMHead(scratch.model_cfg.d_model, scratch.model_cfg.vocab_size)
    extras = {f"mlm_head.{k}": v for k, v in head.state_dict().items()} if with_head else {}
    return Start("pre-trained", encoder.state_dict(), scratch.model_cfg, scratch.tokenizer, [], extras)


def test_naturalness_fusion_is_fitted_on_held_out_data_exported_and_loaded(planted, tmp_path, fast_cfg):
    path, _ = planted
    data = read_labelled(path, labelled=True)  # 30 of each class: enough for the fusion
    cfg = fast_cfg(ensemble=1)
    cfg.max_epochs = 2
    cfg.naturalness_min_ratio = 0.0  # kept whatever the random encoder's likelihood is worth
    cfg.kmer_stack = False  # the fusion alone (the k-mer stack: below)
    start = _pretrained_start(cfg)
    classifier = train_classifier(start, cfg, data, 30, seed=0, val=data)
    fusion = classifier.fusion
    assert fusion is not None and fusion is classifier.fitted_fusion
    plain = classifier.classifier_proba(classifier.model, data.codes)
    scores = classifier.naturalness_scores(data.codes)
    z = (
        fusion.w_logit * np.log(plain / (1 - plain))
        + fusion.w_naturalness * (scores - fusion.mean) / fusion.sd
    )
    np.testing.assert_allclose(classifier.predict(data.codes), 1 / (1 + np.exp(-z - fusion.bias)), rtol=1e-5)
    assert fusion.mean == pytest.approx(scores.mean(), abs=1e-5)  # fitted on val (= data here)
    assert on_top_metrics(classifier) == {
        "naturalness_likelihood_ratio": fusion.likelihood_ratio,
        "naturalness_kept": 1,
        "naturalness_weight": fusion.w_naturalness,
    }
    # fitting again returns the held-out set's probabilities through the kept fusion, as predicted
    (returned,) = classifier.fuse(start.naturalness_scorer(), [(classifier.model, data)], 0, 0.0)
    np.testing.assert_allclose(returned, classifier.predict(data.codes), rtol=1e-6)
    run = RunDir(tmp_path / "run")
    run.path.mkdir()
    export_classifier(run, classifier, start, cfg, 30)
    loaded, exported = load_classifier(run.path)
    assert exported["naturalness"]["fusion"] == fusion.to_dict()
    np.testing.assert_allclose(loaded.predict(data.codes), classifier.predict(data.codes), atol=1e-6)

    # the same fit, judged by a ratio it does not reach: left out of the predictions and the export
    cfg.naturalness_min_ratio = fusion.likelihood_ratio + 1.0
    (returned,) = classifier.fuse(
        start.naturalness_scorer(), [(classifier.model, data)], 0, cfg.naturalness_min_ratio
    )
    assert classifier.fusion is None and classifier.fitted_fusion == fusion
    np.testing.assert_array_equal(classifier.predict(data.codes), plain)
    np.testing.assert_array_equal(returned, plain)  # left out: the classifier's own probabilities
    # the fit left out can still be applied by name, as the transfer benchmark's "always fused" does
    np.testing.assert_allclose(
        classifier.predict(data.codes, fusion=classifier.fitted_fusion),
        1 / (1 + np.exp(-z - fusion.bias)),
        rtol=1e-5,
    )
    np.testing.assert_array_equal(classifier.predict(data.codes, fusion=None), plain)
    line = naturalness_line(cfg, start, classifier)
    assert line.startswith(
        f"Fitted and left out: adding the pre-trained model's pseudo-log-likelihood to the classifier's "
        f"logit (weight {fusion.w_naturalness:+.2f} per standard deviation) did not improve the fit on "
        f"the early-stopping split enough: likelihood ratio against the logit alone "
        f"{fusion.likelihood_ratio:.2f} (kept at {fusion.likelihood_ratio + 1:.2f} or above;"
    )
    assert line.endswith("The model predicts without it (it would cost 16 encoder passes per sequence).")
    export_classifier(run, classifier, start, cfg, 30)
    assert "naturalness" not in load_classifier(run.path)[1]


def test_no_fusion_when_off_without_a_head_or_with_a_small_split(planted, fast_cfg):
    path, _ = planted
    data = read_labelled(path, labelled=True)
    cfg = fast_cfg(ensemble=1)
    cfg.max_epochs = 1
    assert (
        train_classifier(_pretrained_start(cfg, with_head=False), cfg, data, 30, 0, val=data).fusion is None
    )
    assert load_start("none", cfg).naturalness_scorer() is None
    # the default early-stopping split holds 6 of the 60 sequences: fewer than 20 of each class
    assert train_classifier(_pretrained_start(cfg), cfg, data, 30, 0).fusion is None
    cfg.naturalness = False
    assert train_classifier(_pretrained_start(cfg), cfg, data, 30, 0, val=data).fusion is None


def test_the_likelihood_ratio_threshold_must_be_a_number():
    with pytest.raises(ConfigError) as err:
        validate(PromoterConfig(naturalness_min_ratio=float("nan")))
    assert str(err.value) == "naturalness_min_ratio: expected a number (3.841 is p = 0.05), got nan"


# --- a k-mer regression stacked onto the classifier -------------------------------------------------
def _kmer_logits(fit, codes):
    return KmerLogisticRegression(C=None, seed=0).fit(fit.codes, fit.labels).score()(codes)


def test_kmer_stack_is_fitted_on_held_out_data_exported_and_loaded(planted, tmp_path, fast_cfg):
    path, _ = planted
    data = read_labelled(path, labelled=True)  # 30 of each class: enough for the stack
    cfg = fast_cfg(ensemble=1, naturalness=False, kmer_stack=True)
    cfg.max_epochs = 2
    cfg.kmer_stack_min_ratio = 0.0  # kept whatever the k-mer model is worth here
    start = load_start("none", cfg)
    classifier = train_classifier(start, cfg, data, 30, seed=0, val=data)
    stack = classifier.stack
    assert stack is not None and stack is classifier.fitted_stack
    plain = classifier.classifier_proba(classifier.model, data.codes)
    kmer = _kmer_logits(data, data.codes)  # fitted on the fit part: all of data, as val is given
    np.testing.assert_allclose(classifier.kmer(data.codes), kmer, rtol=1e-9)
    assert stack.mean == pytest.approx(kmer.mean()) and stack.sd == pytest.approx(kmer.std())
    z = stack.w_logit * np.log(plain / (1 - plain)) + stack.w_score * (kmer - stack.mean) / stack.sd
    expected = 1 / (1 + np.exp(-z - stack.bias))
    np.testing.assert_allclose(classifier.predict(data.codes), expected, rtol=1e-5)
    np.testing.assert_array_equal(classifier.predict(data.codes, stack=None), plain)
    assert on_top_metrics(classifier) == {
        "kmer_stack_likelihood_ratio": stack.likelihood_ratio,
        "kmer_stack_kept": 1,
        "kmer_stack_weight": stack.w_score,
    }

    run = RunDir(tmp_path / "run")
    run.path.mkdir()
    export_classifier(run, classifier, start, cfg, 30)
    loaded, exported = load_classifier(run.path)
    assert exported["kmer_stack"]["stack"] == stack.to_dict() and exported["kmer_stack"]["ks"] == [
        1,
        2,
        3,
        4,
        5,
    ]
    np.testing.assert_allclose(loaded.predict(data.codes), classifier.predict(data.codes), atol=1e-6)
    assert kmer_stack_line(cfg, classifier) == (
        "The model adds a k-mer logistic regression's logit (counts of every 1- to 5-mer; fitted "
        "without the early-stopping split) to the classifier's, fitted on that split: "
        f"logit p = {stack.w_logit:.2f} x classifier logit {stack.w_score:+.2f} x "
        f"(k-mer logit - ({stack.mean:.3f})) / {stack.sd:.3f} {stack.bias:+.2f}. Likelihood ratio "
        f"against the logit alone {stack.likelihood_ratio:.2f} (kept at 0.00 or above; 3.84 is "
        "p = 0.05, chi-squared with 1 degree of freedom)."
    )

    # judged by a ratio it does not reach: left out of the predictions and the export
    cfg.kmer_stack_min_ratio = stack.likelihood_ratio + 1.0
    classifier.stack_kmers([(classifier.model, data, data)], 0, cfg.kmer_stack_min_ratio)
    assert classifier.stack is None and classifier.fitted_stack == stack
    np.testing.assert_array_equal(classifier.predict(data.codes), plain)
    assert kmer_stack_line(cfg, classifier).endswith("The model predicts without it.")
    # metrics.json says it was fitted and left out, with no weight of a stack the model does not use
    assert on_top_metrics(classifier) == {
        "kmer_stack_likelihood_ratio": stack.likelihood_ratio,
        "kmer_stack_kept": 0,
    }
    export_classifier(run, classifier, start, cfg, 30)
    assert "kmer_stack" not in load_classifier(run.path)[1]


def test_each_members_kmer_model_is_fitted_without_its_own_split(planted, fast_cfg):
    path, _ = planted
    data = read_labelled(path, labelled=True)
    cfg = fast_cfg(ensemble=1, naturalness=False)
    cfg.max_epochs = 1
    classifier = train_classifier(load_start("none", cfg), cfg, data, 30, seed=0, val=data)
    # two members' splits: 20 + 20 of each class held out in all, the rest fitted on
    halves = [np.r_[0:40], np.r_[20:60]]
    parts = [(data.subset(np.setdiff1d(np.arange(60), h)), data.subset(h)) for h in halves]
    classifier.stack_kmers([(classifier.model, fit, val) for fit, val in parts], 0, 0.0)
    scores = [_kmer_logits(fit, val.codes) for fit, val in parts]
    assert classifier.fitted_stack.mean == pytest.approx(np.concatenate(scores).mean())
    # the prediction's k-mer logit: the mean of the two fits' logits
    mean = np.mean([_kmer_logits(fit, data.codes) for fit, _ in parts], axis=0)
    np.testing.assert_allclose(classifier.kmer(data.codes), mean, rtol=1e-9)


def test_no_kmer_stack_when_off_or_with_a_small_split(planted, fast_cfg):
    path, _ = planted
    data = read_labelled(path, labelled=True)
    cfg = fast_cfg(ensemble=1, naturalness=False, kmer_stack=False)
    cfg.max_epochs = 1
    classifier = train_classifier(load_start("none", cfg), cfg, data, 30, 0, val=data)
    assert classifier.fitted_stack is None and kmer_stack_line(cfg, classifier) == "Off (`--no-kmer-stack`)."
    cfg.kmer_stack = True
    # without val: each member stops on 10% of 60, 3 of each class, below the 20 a stack needs
    classifier = train_classifier(load_start("none", cfg), cfg, data, 30, 0)
    assert classifier.fitted_stack is None
    assert kmer_stack_line(cfg, classifier) == (
        "Not fitted: the early-stopping split holds fewer than 20 sequences of a class."
    )


def test_the_same_kmer_stack_regression_is_fitted_once(monkeypatch):
    from sciPT.tasks import promoter_stacking as ps

    fits = []
    real = ps.KmerLogisticRegression.fit

    def counted(self, codes, labels):
        fits.append(len(codes))
        return real(self, codes, labels)

    monkeypatch.setattr(ps.KmerLogisticRegression, "fit", counted)
    monkeypatch.setattr(ps, "_STACKED_FITS", {})
    rng = np.random.default_rng(0)
    codes = [rng.integers(0, 4, 30) for _ in range(60)]
    labels = np.arange(60) % 2
    first = ps.kmer_score(codes, labels, seed=0)
    assert ps.kmer_score([c.copy() for c in codes], labels.copy(), seed=0) is first  # equal inputs: no refit
    assert len(fits) == 1
    ps.kmer_score(codes, labels, seed=1)  # another seed, another fit
    flipped = labels.copy()
    flipped[0] = 1 - flipped[0]
    ps.kmer_score(codes, flipped, seed=0)  # another label, another fit
    assert len(fits) == 3


# --- the baseline CNN stacked on top ---------------------------------------------------------------
def _cnn_logits(fit, codes, min_steps=0):
    cnn = CNNClassifier(30, seed=0, min_steps_per_epoch=min_steps).fit(fit.codes, fit.labels)
    return cnn.score()(codes)


def test_cnn_stack_is_fitted_on_held_out_data_exported_and_loaded(planted, tmp_path, fast_cfg):
    path, _ = planted
    data = read_labelled(path, labelled=True)  # 30 of each class: enough for the stack
    cfg = fast_cfg(ensemble=1, naturalness=False, kmer_stack=False, cnn_stack=True)
    cfg.max_epochs = 2
    cfg.cnn_stack_min_ratio = 0.0  # kept whatever the CNN is worth here
    start = load_start("none", cfg)
    classifier = train_classifier(start, cfg, data, 30, seed=0, val=data)
    stack = classifier.cnn_stack
    assert stack is not None and stack is classifier.fitted_cnn_stack
    plain = classifier.classifier_proba(classifier.model, data.codes)
    cnn = _cnn_logits(data, data.codes)  # the same seed and fit part (all of data: val is given)
    np.testing.assert_allclose(classifier.cnn(data.codes), cnn, rtol=1e-6)
    assert stack.mean == pytest.approx(cnn.mean()) and stack.sd == pytest.approx(cnn.std(), rel=1e-6)
    z = stack.w_logit * np.log(plain / (1 - plain)) + stack.w_score * (cnn - stack.mean) / stack.sd
    np.testing.assert_allclose(classifier.predict(data.codes), 1 / (1 + np.exp(-z - stack.bias)), rtol=1e-5)
    np.testing.assert_array_equal(classifier.predict(data.codes, cnn_stack=None), plain)

    run = RunDir(tmp_path / "run")
    run.path.mkdir()
    export_classifier(run, classifier, start, cfg, 30)
    loaded, exported = load_classifier(run.path)
    assert exported["cnn_stack"]["stack"] == stack.to_dict()
    assert (exported["cnn_stack"]["length"], exported["cnn_stack"]["members"]) == (30, 1)
    np.testing.assert_allclose(loaded.predict(data.codes), classifier.predict(data.codes), atol=1e-6)
    assert cnn_stack_line(cfg, classifier) == (
        "The model adds the baseline CNN's logit (one-hot convolution; fitted without the "
        "early-stopping split, the mean over the ensemble's members) to the classifier's, fitted on "
        f"that split: logit p = {stack.w_logit:.2f} x classifier logit {stack.w_score:+.2f} x "
        f"(CNN logit - ({stack.mean:.3f})) / {stack.sd:.3f} {stack.bias:+.2f}. Likelihood ratio "
        f"against the logit alone {stack.likelihood_ratio:.2f} (kept at 0.00 or above; 3.84 is "
        "p = 0.05, chi-squared with 1 degree of freedom)."
    )

    # judged by a ratio it does not reach: left out of the predictions and the export
    cfg.cnn_stack_min_ratio = stack.likelihood_ratio + 1.0
    classifier.stack_cnns([(classifier.model, data, data)], 0, cfg.cnn_stack_min_ratio, 0)
    assert classifier.cnn_stack is None and classifier.fitted_cnn_stack == stack
    np.testing.assert_array_equal(classifier.predict(data.codes), plain)
    assert cnn_stack_line(cfg, classifier) == (
        "Fitted and left out: adding the baseline CNN's logit to the classifier's (weight "
        f"{stack.w_score:+.2f} per standard deviation) did not improve the fit on the early-stopping "
        f"split enough: likelihood ratio against the logit alone {stack.likelihood_ratio:.2f} (kept at "
        f"{stack.likelihood_ratio + 1.0:.2f} or above; 3.84 is p = 0.05, chi-squared with 1 degree of "
        "freedom). The model predicts without it."
    )
    export_classifier(run, classifier, start, cfg, 30)
    assert "cnn_stack" not in load_classifier(run.path)[1]


def test_the_cnn_stack_sits_on_the_kept_kmer_stack_and_each_member_brings_its_own_cnn(planted, fast_cfg):
    data, cfg, classifier = both_stacks_kept(planted, fast_cfg)
    plain = classifier.classifier_proba(classifier.model, data.codes)
    kmer_stacked = classifier.stack(plain, classifier.kmer(data.codes))
    # the CNN stack was fitted on the k-mer-stacked probabilities, not on the classifier's alone
    assert classifier.cnn_stack.mean == pytest.approx(classifier.cnn(data.codes).mean())
    expected = classifier.cnn_stack(kmer_stacked, classifier.cnn(data.codes))
    np.testing.assert_allclose(classifier.predict(data.codes), expected, rtol=1e-5)
    np.testing.assert_allclose(classifier.predict(data.codes, cnn_stack=None), kmer_stacked, rtol=1e-5)

    # two members' splits: each member's CNN fitted without its own split, the prediction their mean
    halves = [np.r_[0:40], np.r_[20:60]]
    parts = [(data.subset(np.setdiff1d(np.arange(60), h)), data.subset(h)) for h in halves]
    classifier.stack_cnns([(classifier.model, fit, val) for fit, val in parts], 0, 0.0, 0)
    scores = [_cnn_logits(fit, val.codes) for fit, val in parts]
    assert classifier.fitted_cnn_stack.mean == pytest.approx(np.concatenate(scores).mean(), rel=1e-5)
    mean = np.mean([_cnn_logits(fit, data.codes) for fit, _ in parts], axis=0)
    np.testing.assert_allclose(classifier.cnn(data.codes), mean, rtol=1e-5)


def test_no_cnn_stack_when_off_or_with_a_small_split(planted, fast_cfg):
    path, _ = planted
    data = read_labelled(path, labelled=True)
    cfg = fast_cfg(ensemble=1, naturalness=False, kmer_stack=False, cnn_stack=False)
    cfg.max_epochs = 1
    classifier = train_classifier(load_start("none", cfg), cfg, data, 30, 0, val=data)
    assert (
        classifier.fitted_cnn_stack is None and cnn_stack_line(cfg, classifier) == "Off (`--no-cnn-stack`)."
    )
    cfg.cnn_stack = True
    # without val: each member stops on 10% of 60, 3 of each class, below the 20 a stack needs
    classifier = train_classifier(load_start("none", cfg), cfg, data, 30, 0)
    assert classifier.fitted_cnn_stack is None and classifier.cnn is None
    assert cnn_stack_line(cfg, classifier) == (
        "Not fitted: the early-stopping split holds fewer than 20 sequences of a class."
    )


def test_the_same_stacked_cnn_is_fitted_once(monkeypatch):
    from sciPT.tasks import promoter_stacking as ps

    fits = []
    real = ps.CNNClassifier.fit

    def counted(self, codes, labels):
        fits.append(len(codes))
        return real(self, codes, labels)

    monkeypatch.setattr(ps.CNNClassifier, "fit", counted)
    monkeypatch.setattr(ps, "_STACKED_FITS", {})
    rng = np.random.default_rng(0)
    codes = [rng.integers(0, 4, 30) for _ in range(40)]
    labels = np.arange(40) % 2
    first = ps.cnn_score(codes, labels, 0, 30, 0)
    assert ps.cnn_score([c.copy() for c in codes], labels.copy(), 0, 30, 0) is first
    assert ps.kmer_score(codes, labels, 0) is not first  # a k-mer fit of the same data is another entry
    ps.cnn_score(codes, labels, 0, 30, 50)  # another epoch floor, another fit
    assert len(fits) == 2


def test_a_crop_keeps_the_central_residues_the_extra_odd_one_cut_from_the_end():
    """A sequence longer than the length keeps its central residues; an odd surplus loses one more
    residue at the end than at the start; a shorter one is left as it is."""
    from sciPT.tasks.promoter_classifier import crop

    # 10 -> 4: (10 - 4) // 2 = 3 cut from the start, residues 3..6; 11 -> 4: (11 - 4) // 2 = 3 too
    assert [c.tolist() for c in crop([np.arange(10), np.arange(11), np.arange(3)], 4)] == [
        [3, 4, 5, 6],
        [3, 4, 5, 6],
        [0, 1, 2],
    ]


def recorded(monkeypatch, module, name: str) -> list:
    """The results of every call of ``module.name`` from here on, in order (the calls still run)."""
    results, real = [], getattr(module, name)

    def recording(*args, **kwargs):
        results.append(real(*args, **kwargs))
        return results[-1]

    monkeypatch.setattr(module, name, recording)
    return results


def test_an_epoch_floor_above_max_steps_is_capped_so_the_fit_validates(planted, monkeypatch, fast_cfg):
    """With train.max_steps 5 and an epoch floor of 50 steps, an epoch is 5 steps: it ends, and
    early stopping reads a validation loss, instead of a first epoch cut off by max_steps."""
    from sciPT.tasks import promoter_classifier

    results = recorded(monkeypatch, promoter_classifier, "fit_classifier")
    path, _ = planted
    data = read_labelled(path, labelled=True)
    cfg = fast_cfg(ensemble=1, naturalness=False, kmer_stack=False)
    cfg.min_steps_per_epoch, cfg.train.max_steps = 50, 5
    train_classifier(load_start("none", cfg), cfg, data, 30, seed=0)
    (fit,) = results
    # min(50, 5) = 5 steps an epoch: one whole epoch, validated once
    assert fit.steps == 5 and fit.epochs >= 1
    assert np.isfinite(fit.best_val_loss)


def test_training_record_counts_each_sequence_once_on_either_strand():
    """Pins the export's record of training sequences: one hash per distinct sequence, a sequence
    and its reverse complement counting once. ACGT (its own reverse complement) twice, AACC and
    its reverse complement GGTT: 2 distinct sequences, stored sorted."""
    from safetensors.numpy import load

    from sciPT.domains.dna.tokenizer import encode
    from sciPT.tasks.promoter_export import TRAINING_HASHES, sequence_hashes, training_record

    codes = [encode(s) for s in ("ACGT", "ACGT", "AACC", "GGTT")]
    hashes = sequence_hashes(codes)
    assert hashes[0] == hashes[1] and hashes[2] == hashes[3] and hashes[0] != hashes[2]
    data, record = training_record(codes)
    assert record["distinct"] == 2
    stored = load(data)[TRAINING_HASHES]
    assert stored.tolist() == sorted({int(hashes[0]), int(hashes[2])})


# --- the stacks' inputs, thresholds and what they hand on -------------------------------------------
def _same_stack(fitted, expected):
    """Two fits agree: every weight, the standardisation and the likelihood ratio."""
    assert fitted is not None and expected is not None
    for key, value in expected.to_dict().items():
        assert getattr(fitted, key) == pytest.approx(value, rel=1e-6, abs=1e-9), key


def test_a_stack_whose_ratio_equals_the_threshold_is_kept_and_a_left_out_one_hands_on_its_input(
    planted, fast_cfg
):
    """The threshold is 'at least' (a ratio of exactly 3.841 is p = 0.05, kept); a stack left out
    must hand on the probabilities it was given, or the CNN stack and the reported validation
    metrics would be fitted on and computed from a stack the model never applies."""
    data, cfg, classifier = both_stacks_kept(planted, fast_cfg)
    plain = classifier.classifier_proba(classifier.model, data.codes)
    held_out = [(classifier.model, data, data)]
    kmer_ratio = classifier.fitted_stack.likelihood_ratio
    cnn_ratio = classifier.fitted_cnn_stack.likelihood_ratio
    assert kmer_ratio > 0 and cnn_ratio > 0  # a ratio of 0 would not tell ">=" from ">"

    # at exactly its ratio: kept, and the probabilities handed on are the stacked ones
    (returned,) = classifier.stack_kmers(held_out, 0, kmer_ratio, [plain])
    assert classifier.stack is classifier.fitted_stack
    kmer_stacked = classifier.stack(plain, classifier.kmer(data.codes))
    np.testing.assert_allclose(returned, kmer_stacked, rtol=1e-12)
    (returned,) = classifier.stack_cnns(held_out, 0, cnn_ratio, 0, [kmer_stacked])
    assert classifier.cnn_stack is classifier.fitted_cnn_stack
    np.testing.assert_allclose(returned, classifier.cnn_stack(kmer_stacked, classifier.cnn(data.codes)))

    # just above it: left out, and what is handed on is the input as it was
    (returned,) = classifier.stack_kmers(held_out, 0, np.nextafter(kmer_ratio, np.inf), [plain])
    assert classifier.stack is None and classifier.fitted_stack is not None
    np.testing.assert_array_equal(returned, plain)
    (returned,) = classifier.stack_cnns(held_out, 0, np.nextafter(cnn_ratio, np.inf), 0, [kmer_stacked])
    assert classifier.cnn_stack is None and classifier.fitted_cnn_stack is not None
    np.testing.assert_array_equal(returned, kmer_stacked)
    # under a k-mer stack left out, the CNN stack computing its input itself fits on the classifier's
    classifier.stack_cnns(held_out, 0, 0.0, 0)
    _same_stack(classifier.fitted_cnn_stack, fit_stack(plain, classifier.cnn(data.codes), data.labels, 0))


def test_the_cnn_stack_is_fitted_on_the_kmer_stacked_split_and_validation_records_both(planted, fast_cfg):
    """The CNN sits on top of the kept k-mer stack: its weights must be fitted on the probabilities
    it is applied to at prediction, and the validation record (the report's threshold and metrics)
    holds the split's probabilities through both stacks, as the model predicts them."""
    data, cfg, classifier = both_stacks_kept(planted, fast_cfg)
    plain = classifier.classifier_proba(classifier.model, data.codes)
    kmer = _kmer_logits(data, data.codes)
    _same_stack(classifier.fitted_stack, fit_stack(plain, kmer, data.labels, 0))
    kmer_stacked = classifier.stack(plain, kmer)
    cnn = classifier.cnn(data.codes)
    _same_stack(classifier.fitted_cnn_stack, fit_stack(kmer_stacked, cnn, data.labels, 0))
    labels, p = classifier.validation
    np.testing.assert_array_equal(labels, data.labels)
    np.testing.assert_allclose(p, classifier.cnn_stack(kmer_stacked, cnn), rtol=1e-9)
    np.testing.assert_allclose(p, classifier.predict(data.codes), rtol=1e-5)


def _recorded_rules(monkeypatch) -> list:
    """``[(which fit, its near-copy rule)]`` for every k-mer and CNN fit a stack makes while the
    test runs (the real fits run)."""
    from sciPT.tasks import promoter_classifier

    rules = []
    for name in ("kmer_score", "cnn_score"):
        real = getattr(promoter_classifier, name)

        def recording(*args, _real=real, _name=name):
            rules.append((_name, args[-1]))
            return _real(*args)

        monkeypatch.setattr(promoter_classifier, name, recording)
    return rules


def test_the_stacks_baselines_split_by_the_runs_near_copy_rule(planted, fast_cfg, monkeypatch):
    """The stacked k-mer regression chooses its C, and the stacked CNN stops early, on inner splits
    that keep near copies together by the run's contamination_k and _threshold: each fit of a
    stacked model is given that rule."""
    from sciPT.diagnostics.overlap import NearCopies

    rules = _recorded_rules(monkeypatch)
    both_stacks_kept(planted, fast_cfg, contamination_k=12, contamination_threshold=0.7)
    assert [name for name, _ in rules] == ["kmer_score", "cnn_score"]
    assert {rule for _, rule in rules} == {NearCopies(12, 0.7)}


def test_each_members_stacks_score_its_own_split_with_its_own_fits(planted, fast_cfg):
    """With a --val split the k-mer model is fitted on the training set, not on the split the stack
    is fitted on (or it would score sequences it saw); an ensemble's members each pair their own
    split with the k-mer model and CNN fitted without it, and the CNN stack is fitted on each
    split's probabilities through the k-mer stack fitted on that member's own fit part."""
    from sciPT.tasks.promoter_stacking import cnn_score

    path, _ = planted
    data = read_labelled(path, labelled=True)
    cfg = fast_cfg(ensemble=1, naturalness=False, kmer_stack=True)
    cfg.max_epochs = 1
    cfg.kmer_stack_min_ratio = 0.0
    train = data.subset(np.r_[0:40])
    classifier = train_classifier(load_start("none", cfg), cfg, train, 30, seed=0, val=data)
    np.testing.assert_allclose(classifier.kmer(data.codes), _kmer_logits(train, data.codes), rtol=1e-9)

    # two members' splits, the second's k-mer model and CNN unlike the first's
    halves = [np.r_[0:40], np.r_[20:60]]
    parts = [(data.subset(np.setdiff1d(np.arange(60), h)), data.subset(h)) for h in halves]
    held_out = [(classifier.model, fit, val) for fit, val in parts]
    plain = [classifier.classifier_proba(classifier.model, val.codes) for _, val in parts]
    returned = classifier.stack_kmers(held_out, 0, 0.0, plain)
    for p, out, (fit, val) in zip(plain, returned, parts):
        np.testing.assert_allclose(out, classifier.stack(p, _kmer_logits(fit, val.codes)), rtol=1e-9)
    classifier.stack_cnns(held_out, 0, 0.0, 0)  # the k-mer-stacked probabilities computed afresh
    cnn = [cnn_score(fit.codes, fit.labels, 0, 30, 0)(val.codes) for fit, val in parts]
    expected = fit_stack(np.concatenate(returned), np.concatenate(cnn), data.labels[np.r_[0:40, 20:60]], 0)
    _same_stack(classifier.fitted_cnn_stack, expected)


def test_a_fusion_left_out_is_not_under_the_stacks_and_one_kept_is(planted, fast_cfg):
    """The stacks are fitted on what the model predicts beneath them: the classifier alone when the
    fusion is left out, the fused probabilities when it is kept (also when the CNN stack computes
    the k-mer-stacked probabilities itself); a fusion whose ratio equals the threshold is kept."""
    path, _ = planted
    data = read_labelled(path, labelled=True)
    cfg = fast_cfg(ensemble=1, kmer_stack=True)
    cfg.max_epochs = 1
    cfg.naturalness_min_ratio = 1e9  # fitted, left out
    cfg.kmer_stack_min_ratio = 0.0
    start = _pretrained_start(cfg)
    classifier = train_classifier(start, cfg, data, 30, seed=0, val=data)
    assert classifier.fusion is None and classifier.fitted_fusion is not None
    plain = classifier.classifier_proba(classifier.model, data.codes)
    kmer = _kmer_logits(data, data.codes)
    _same_stack(classifier.fitted_stack, fit_stack(plain, kmer, data.labels, 0))
    # likewise where the stack computes the probabilities beneath it itself
    classifier.stack_kmers([(classifier.model, data, data)], 0, 0.0)
    _same_stack(classifier.fitted_stack, fit_stack(plain, kmer, data.labels, 0))

    ratio = classifier.fitted_fusion.likelihood_ratio
    (fused,) = classifier.fuse(start.naturalness_scorer(), [(classifier.model, data)], 0, ratio)
    assert classifier.fusion is classifier.fitted_fusion  # at exactly the threshold: kept
    np.testing.assert_allclose(fused, classifier.predict(data.codes, stack=None), rtol=1e-6)
    (stacked,) = classifier.stack_kmers([(classifier.model, data, data)], 0, 0.0)
    _same_stack(classifier.fitted_stack, fit_stack(fused, kmer, data.labels, 0))
    classifier.stack_cnns([(classifier.model, data, data)], 0, 0.0, 0)
    cnn = classifier.cnn(data.codes)
    _same_stack(classifier.fitted_cnn_stack, fit_stack(stacked, cnn, data.labels, 0))


def test_an_ensembles_validation_pairs_each_members_split_with_its_own_probabilities(
    planted, monkeypatch, fast_cfg
):
    """The validation record (the report's decision threshold and metrics) lists each member's
    early-stopping split by that member, labels and probabilities in the same order."""
    from sciPT.tasks import promoter_classifier

    fits = recorded(monkeypatch, promoter_classifier, "fit_member")
    path, _ = planted
    data = read_labelled(path, labelled=True)
    cfg = fast_cfg(ensemble=2, naturalness=False, kmer_stack=False)
    cfg.max_epochs = 1
    classifier = train_classifier(load_start("none", cfg), cfg, data, 30, seed=0)
    labels, p = classifier.validation
    assert len(fits) == 2
    np.testing.assert_array_equal(labels, np.concatenate([val.labels for _, _, val in fits]))
    each = [classifier.classifier_proba(member, val.codes) for member, _, val in fits]
    np.testing.assert_allclose(p, np.concatenate(each), rtol=1e-6)


def test_each_stack_is_judged_by_its_own_threshold(planted, fast_cfg):
    """--kmer-stack-min-ratio and --cnn-stack-min-ratio are separate options: a k-mer stack left out
    by its own threshold leaves the CNN stack, kept by its own, fitted on the classifier's
    probabilities alone."""
    path, _ = planted
    data = read_labelled(path, labelled=True)
    cfg = fast_cfg(ensemble=1, naturalness=False, kmer_stack=True, cnn_stack=True)
    cfg.max_epochs = 1
    cfg.kmer_stack_min_ratio, cfg.cnn_stack_min_ratio = 1e9, 0.0
    classifier = train_classifier(load_start("none", cfg), cfg, data, 30, seed=0, val=data)
    assert classifier.stack is None and classifier.fitted_stack is not None
    assert classifier.cnn_stack is classifier.fitted_cnn_stack is not None
    plain = classifier.classifier_proba(classifier.model, data.codes)
    cnn = classifier.cnn(data.codes)
    _same_stack(classifier.cnn_stack, fit_stack(plain, cnn, data.labels, 0))
    np.testing.assert_allclose(classifier.validation[1], classifier.cnn_stack(plain, cnn), rtol=1e-9)


def test_no_kmer_regression_or_cnn_is_fitted_for_a_stack_that_cannot_be(planted, monkeypatch, fast_cfg):
    """Below 20 of a class on the early-stopping splits no stack is fitted, so neither is the k-mer
    regression nor the CNN it would stack (at 4,000 sequences a CNN costs 10-15 s per member)."""
    from sciPT.tasks import promoter_classifier

    def refuse(*args, **kwargs):
        raise AssertionError("fitted for a stack that cannot be fitted")

    monkeypatch.setattr(promoter_classifier, "kmer_score", refuse)
    monkeypatch.setattr(promoter_classifier, "cnn_score", refuse)
    path, _ = planted
    data = read_labelled(path, labelled=True)
    cfg = fast_cfg(ensemble=1, naturalness=False, kmer_stack=True, cnn_stack=True)
    cfg.max_epochs = 1
    # without val: the member stops on 10% of 60, 3 of each class
    classifier = train_classifier(load_start("none", cfg), cfg, data, 30, 0)
    assert classifier.fitted_stack is None and classifier.fitted_cnn_stack is None


# --- what a strand-symmetric classifier averages, and the fine-tunes' splits and seeds ---------------
def _reverse_complements(seqs):
    return [COMPLEMENT[s[::-1]] for s in seqs]


def test_a_strand_symmetric_prediction_and_embedding_are_the_mean_over_both_strands():
    """--strand-symmetric promises the mean of a sequence's and its reverse complement's probability;
    any other symmetric pooling (the larger of the two, say) would pass a symmetry check and still
    shift every probability the user reads. The same model read one strand at a time gives both."""
    rng = np.random.default_rng(3)
    seqs = [rng.integers(0, 4, n).astype(np.uint8) for n in (40, 41, 43, 57, 25, 40)]
    both, one = _random_classifier(True), _random_classifier(False)  # the same weights (seed 0)
    rc = _reverse_complements(seqs)
    expected = (one.predict(seqs) + one.predict(rc)) / 2
    assert np.abs(one.predict(seqs) - one.predict(rc)).max() > 1e-3  # the strands do differ
    np.testing.assert_allclose(both.predict(seqs), expected, rtol=1e-6)
    np.testing.assert_allclose(both.embed(seqs), (one.embed(seqs) + one.embed(rc)) / 2, atol=1e-6)


def _position_weighted_ids(input_ids, attention_mask):
    """A stand-in for the pre-trained model's likelihood that tells a sequence from its reverse
    complement: each token id weighted by its position."""
    return (input_ids * torch.arange(input_ids.shape[1])).sum(1).double()


def test_the_likelihood_fused_into_a_strand_symmetric_run_is_the_mean_over_both_strands_in_any_batch():
    """The fusion's score must be the two strands' mean, as the predictions are, and every sequence
    must be scored whatever the batch size (a sequence dropped at a batch edge misaligns the rest)."""
    rng = np.random.default_rng(4)
    seqs = [rng.integers(0, 4, n).astype(np.uint8) for n in (40, 41, 43, 57, 25, 40, 33, 40)]
    both, one = _random_classifier(True), _random_classifier(False)
    both.naturalness = one.naturalness = _position_weighted_ids
    rc = _reverse_complements(seqs)
    single = one.naturalness_scores(seqs)
    assert not np.allclose(single, one.naturalness_scores(rc))  # the strands do differ
    expected = (single + one.naturalness_scores(rc)) / 2
    np.testing.assert_allclose(both.naturalness_scores(seqs), expected, rtol=1e-12)
    np.testing.assert_allclose(both.naturalness_scores(seqs, batch_size=3), expected, rtol=1e-12)
    np.testing.assert_allclose(one.naturalness_scores(seqs, batch_size=3), single, rtol=1e-12)


def test_the_early_stopping_split_is_the_nearest_whole_number_and_at_least_two():
    """10% of the training data, rounded (not truncated), and never below 2: one sequence cannot
    hold both classes, and early stopping on it is noise."""
    from sciPT.tasks.promoter_config import early_stopping_size

    cfg = PromoterConfig()  # val_fraction 0.1
    assert early_stopping_size(cfg, 27) == 3  # 2.7 -> 3
    assert early_stopping_size(cfg, 24) == 2  # 2.4 -> 2
    assert early_stopping_size(cfg, 5) == 2  # 0.5 -> at least 2
    assert early_stopping_size(cfg, 200) == 20


def _early_stopping_parts(monkeypatch, cfg, data, length):
    """The cropped codes a fine-tune of ``data`` (seed 0) is fitted on and stops early on:
    ``(fit, val)``, the fit itself not run."""
    from sciPT.tasks import promoter_classifier

    seen = {}

    def fake_fit(backbone, head, tokenizer, train, val, **kwargs):
        seen.update(train=train, val=val)
        raise RuntimeError("stop here")

    monkeypatch.setattr(promoter_classifier, "fit_classifier", fake_fit)
    with pytest.raises(RuntimeError, match="stop here"):
        promoter_classifier.fit_member(load_start("none", cfg), cfg, data, length, seed=0)
    return seen["train"][0], seen["val"][0]


def test_a_fine_tune_stops_early_on_sequences_whose_reverse_complements_it_did_not_fit(monkeypatch, fast_cfg):
    """A sequence and its reverse complement are the same DNA: with one in the fit and the other in
    the early-stopping split, early stopping judges sequences the model has seen. Both parts reach
    the fit cropped to the model's length."""
    from sciPT.sequence_inputs import LabelledSequences

    rng = np.random.default_rng(5)
    forward = [rng.integers(0, 4, 40).astype(np.uint8) for _ in range(30)]
    codes = [c for s in forward for c in (s, COMPLEMENT[s[::-1]])]  # each with its reverse complement
    labels = np.repeat(np.arange(30) % 2, 2)
    data = LabelledSequences([f"s{i}" for i in range(60)], codes, labels, "pairs.fa")
    fit, val = _early_stopping_parts(monkeypatch, fast_cfg(ensemble=1), data, 30)
    assert len(val) == 6 and len(fit) == 54  # 10% of 60
    assert {len(c) for c in fit + val} == {30}  # 40 bp cropped to the central 30
    # an even surplus: the crop of a reverse complement is the reverse complement of the crop
    fitted = {c.tobytes() for c in fit}
    assert not any(v.tobytes() in fitted or COMPLEMENT[v[::-1]].tobytes() in fitted for v in val)


def test_a_fine_tune_stops_early_on_sequences_whose_near_copies_it_did_not_fit(monkeypatch, fast_cfg):
    """30 pairs of 40-bp windows of one 44-bp stretch, 4 bases apart (21 of 25 16-mers shared: near
    copies at the run's threshold 0.5, not at 0.9): each pair lands on one side of the early-stopping
    split, which holds 3 pairs (10% of 60). At 0.9 the same seed splits some pair, so the grouping
    is the run's rule's, not an accident of the seed."""
    from sciPT.sequence_inputs import LabelledSequences

    rng = np.random.default_rng(5)
    stretches = [rng.integers(0, 4, 44).astype(np.uint8) for _ in range(30)]
    codes = [c for s in stretches for c in (s[:40], s[4:])]
    labels = np.repeat(np.arange(30) % 2, 2)
    data = LabelledSequences([f"s{i}" for i in range(60)], codes, labels, "windows.fa")
    pair = {c.tobytes(): i // 2 for i, c in enumerate(codes)}

    def held_pairs(threshold):
        fit, val = _early_stopping_parts(
            monkeypatch, fast_cfg(ensemble=1, contamination_threshold=threshold), data, 40
        )
        fitted = {pair[c.tobytes()] for c in fit}
        return [pair[v.tobytes()] for v in val], fitted

    held, fitted = held_pairs(0.5)
    assert len(held) == 6 and all(held.count(p) == 2 for p in held)  # 3 whole pairs
    assert not fitted & set(held)
    held, fitted = held_pairs(0.9)
    assert fitted & set(held)  # a pair on both sides


def test_an_ensembles_fine_tunes_use_the_seeds_the_checks_predict(planted, monkeypatch, fast_cfg):
    """Member m is fitted with seed + 1000 m: the run's checks (promoter_checks, max_steps against
    one pass over each fine-tune's fit part) draw the same splits by the same seeds."""
    from sciPT.tasks import promoter_classifier

    class _Constant(torch.nn.Module):
        def forward(self, input_ids, attention_mask):
            return torch.zeros(input_ids.shape[0])

    seeds = []

    def fake_member(start, cfg, train, length, seed, val=None):
        seeds.append(seed)
        return _Constant(), train, train

    monkeypatch.setattr(promoter_classifier, "fit_member", fake_member)
    path, _ = planted
    cfg = fast_cfg(ensemble=3, naturalness=False, kmer_stack=False)
    train_classifier(load_start("none", cfg), cfg, read_labelled(path, labelled=True), 30, seed=7)
    assert seeds == [7, 1007, 2007]


def test_the_length_note_of_one_sequence_says_sequence():
    """``scipt predict`` on one sequence: the note reads "of 1 sequence", not "of 1 sequences"."""
    from sciPT.tasks.promoter_classifier import length_note

    assert length_note([np.zeros(81, dtype=np.uint8)], 57) == (
        "the model reads 57 bp (the length it was fine-tuned on): of 1 sequence, 1 cropped to its central 57 bp"
    )
    assert length_note([np.zeros(30, dtype=np.uint8)], 57) == (
        "the model reads 57 bp (the length it was fine-tuned on): of 1 sequence, 1 shorter padded to 57 bp"
    )


def test_the_kmer_stacked_probabilities_the_cnn_stack_is_fitted_on_are_those_the_model_predicts():
    """In a strand-symmetric run the k-mer logit under the CNN stack is the mean over both strands at
    prediction: the probabilities the CNN stack is fitted on (stacked_proba) must be the same, or
    its weights are fitted on inputs the exported model never produces."""
    from sciPT.sequence_inputs import LabelledSequences
    from sciPT.stacking import Stack
    from sciPT.tasks.promoter_classifier import crop
    from sciPT.tasks.promoter_stacking import kmer_score

    rng = np.random.default_rng(6)
    fit = LabelledSequences(
        [f"f{i}" for i in range(40)],
        [rng.integers(0, 4, 44).astype(np.uint8) for _ in range(40)],
        np.arange(40) % 2,
        "fit.fa",
    )
    val = LabelledSequences(
        [f"v{i}" for i in range(6)],
        [rng.integers(0, 4, n).astype(np.uint8) for n in (40, 43, 57, 25, 41, 40)],
        np.arange(6) % 2,
        "val.fa",
    )
    classifier = _random_classifier(True)
    classifier.stack = Stack(w_logit=1.0, w_score=1.0, bias=0.0, mean=0.0, sd=1.0)
    classifier.kmer = kmer_score(crop(fit.codes, 40), fit.labels, 0)
    one_strand = classifier.kmer(crop(val.codes, 40))
    assert not np.allclose(classifier.stacked_score(classifier.kmer, val.codes), one_strand)
    np.testing.assert_allclose(
        classifier.stacked_proba(classifier.model, fit, val, 0),
        classifier.predict(val.codes, cnn_stack=None),
        rtol=1e-5,
    )


def test_a_starts_own_strategy_and_the_configured_shift_reach_the_fit(planted, monkeypatch, fast_cfg):
    """The scratch baseline is fully fine-tuned whatever the run's strategy (a linear probe of a random
    encoder reads noise), and ``shift`` must reach the fit: dropped, the user's augmentation silently
    never happens."""
    from dataclasses import replace

    from sciPT.tasks import promoter_classifier

    seen = {}

    def fake_fit(*args, **kwargs):
        seen.update(kwargs)
        raise RuntimeError("stop here")

    monkeypatch.setattr(promoter_classifier, "fit_classifier", fake_fit)
    data = read_labelled(planted[0], labelled=True)
    cfg = fast_cfg(ensemble=1, shift=3)
    cfg.finetune = replace(cfg.finetune, strategy="linear-probe")
    own = replace(cfg.finetune, strategy="full")
    for start, expected in (
        (load_start("none", cfg), cfg.finetune),
        (replace(load_start("none", cfg), finetune=own), own),
    ):
        with pytest.raises(RuntimeError, match="stop here"):
            promoter_classifier.fit_member(start, cfg, data, 30, seed=0)
        assert seen["finetune"] == expected and seen["max_shift"] == 3


def test_the_length_note_counts_only_sequences_off_the_length():
    """``predict`` warns how many sequences the model reads cropped or padded: one exactly at the
    fine-tuned length is neither, and none off it gives no note at all (not an empty warning)."""
    from sciPT.tasks.promoter_classifier import length_note

    codes = [np.zeros(n, dtype=np.uint8) for n in (6, 4, 9, 2)]
    assert length_note(codes, 4) == (
        "the model reads 4 bp (the length it was fine-tuned on): of 4 sequences, "
        "2 cropped to their central 4 bp and 1 shorter padded to 4 bp"
    )
    assert length_note([np.zeros(4, dtype=np.uint8)] * 3, 4) is None


def test_the_fewest_residues_a_classifier_scores_is_its_k_or_one_residue():
    """``predict`` refuses sequences shorter than one token: ``k`` residues for overlapping k-mers, and
    one for a Hugging Face tokenizer (no ``k``); zero would pass an empty sequence to the encoder."""
    from types import SimpleNamespace

    assert Classifier(None, dna_tokenizer(TokenizerConfig(kind="kmer", k=4)), 40, False).min_residues == 4
    assert Classifier(None, SimpleNamespace(vocab_size=8), 40, False).min_residues == 1


def test_an_ensemble_given_a_split_records_that_split_once_by_the_ensemble(planted, fast_cfg):
    """With ``--val``, every member stopped on the same split: the validation the report reads is that
    split's sequences once each, with the ensemble's probabilities (what ``predict`` gives), not one
    copy per member with each member's own."""
    data = read_labelled(planted[0], labelled=True)
    cfg = fast_cfg(ensemble=2, naturalness=False, kmer_stack=False, cnn_stack=False)
    cfg.max_epochs = 1
    classifier = train_classifier(load_start("none", cfg), cfg, data, 30, seed=0, val=data)
    labels, probabilities = classifier.validation
    np.testing.assert_array_equal(labels, data.labels)
    np.testing.assert_allclose(probabilities, classifier.predict(data.codes), rtol=1e-5)


def test_a_cnn_stack_computing_its_input_fits_its_kmer_regressions_by_the_rule_it_is_given(
    planted, fast_cfg, monkeypatch
):
    """``stack_cnns`` without probabilities computes the k-mer-stacked ones itself
    (:meth:`stacked_proba`): the k-mer regressions it fits there choose their C by the same near-copy
    rule as the stacked CNN, the input the k-mer stack handed on when fitted with that rule."""
    from sciPT.diagnostics.overlap import NearCopies

    data, cfg, classifier = both_stacks_kept(
        planted, fast_cfg, contamination_k=12, contamination_threshold=0.7
    )
    rules = _recorded_rules(monkeypatch)
    rule = NearCopies(12, 0.7)
    classifier.stack_cnns([(classifier.model, data, data)], 0, 0.0, 0, near=rule)
    assert [name for name, _ in rules] == ["kmer_score", "cnn_score"]  # the k-mer one in stacked_proba
    assert {r for _, r in rules} == {rule}
