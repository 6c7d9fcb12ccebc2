"""The CNN baseline (:mod:`sciPT.domains.dna.cnn`)."""

import numpy as np
import pytest
import torch

from sciPT.domains.dna.cnn import CNNClassifier, CNNConfig, CNNScore, PromoterCNN, one_hot


def test_one_hot_by_hand():
    x = one_hot([np.array([0, 3, 4, 1]), np.array([2])], 3)
    assert x.shape == (2, 4, 3)
    # A T N (cut at 3): N is an all-zero column; G then padding
    assert x[0].tolist() == [[1, 0, 0], [0, 0, 0], [0, 0, 0], [0, 1, 0]]
    assert x[1].tolist() == [[0, 0, 0], [0, 0, 0], [1, 0, 0], [0, 0, 0]]


def test_the_dense_layer_sees_every_pooled_position():
    model = PromoterCNN(CNNConfig(), 81)
    # (81 - 15 + 1) // 4 = 16 pooled positions of 128 filters
    assert model.net[5].in_features == 128 * 16
    assert model(torch.zeros(3, 4, 81)).shape == (3,)
    with pytest.raises(ValueError, match="^sequences of 10 bases are shorter than the CNN's kernel of 15$"):
        PromoterCNN(CNNConfig(), 10)


def _motif_data(n=240, length=40, seed=0):
    """Random sequences; positives carry TATAAT at position 20, negatives do not."""
    rng = np.random.default_rng(seed)
    codes = [rng.integers(0, 4, length) for _ in range(n)]
    labels = np.arange(n) % 2
    for c, y in zip(codes, labels):
        if y:
            c[20:26] = [3, 0, 3, 0, 0, 3]
    return codes, labels


def test_the_cnn_learns_a_planted_motif_and_is_seeded():
    codes, labels = _motif_data()
    test_codes, test_labels = _motif_data(seed=1)
    state = torch.random.get_rng_state()
    p = CNNClassifier(40, seed=3, min_steps_per_epoch=20).fit(codes, labels).predict_proba(test_codes)
    assert torch.equal(state, torch.random.get_rng_state())  # the caller's random state is untouched
    assert p.shape == (len(test_codes),) and np.all((p >= 0) & (p <= 1))
    assert np.mean((p > 0.5) == test_labels) > 0.95
    again = CNNClassifier(40, seed=3, min_steps_per_epoch=20).fit(codes, labels).predict_proba(test_codes)
    np.testing.assert_array_equal(p, again)


def test_inputs_shorter_than_the_kernel_are_padded_up_to_it():
    cnn = CNNClassifier(8)
    assert cnn.length == 15
    with pytest.raises(RuntimeError, match=r"^CNNClassifier.predict_proba before fit$"):
        cnn.predict_proba([np.zeros(8, dtype=np.int64)])


def test_a_cnn_score_is_the_mean_of_its_models_logits():
    codes, labels = _motif_data(n=60)
    fits = [CNNClassifier(40, seed=s).fit(codes, labels) for s in (0, 1)]
    score = CNNScore([f.fit_.model for f in fits])
    logits = [f.score()(codes) for f in fits]
    np.testing.assert_allclose(1 / (1 + np.exp(-logits[0])), fits[0].predict_proba(codes), rtol=1e-5)
    np.testing.assert_allclose(score(codes), (logits[0] + logits[1]) / 2, rtol=1e-6)
    with pytest.raises(ValueError, match="^CNNScore: expected one or more CNNs of one input length$"):
        CNNScore([PromoterCNN(CNNConfig(), 40), PromoterCNN(CNNConfig(), 81)])


def _rising_fit(patience: int):
    """A tiny CNN fitted on 16 random 15-mers and stopped early on the same 15-mers with their
    labels flipped: every epoch of training makes the validation loss worse."""
    from sciPT.domains.dna.cnn import fit_cnn

    rng = np.random.default_rng(0)
    x = one_hot([rng.integers(0, 4, 15) for _ in range(16)], 15)
    y = np.arange(16) % 2
    small = CNNConfig(filters=4, kernel=15, pool=1, hidden=4)
    fit = fit_cnn(x, y, x, 1 - y, lr=0.05, dropout=0.0, seed=0, max_epochs=10, patience=patience, cfg=small)
    return fit, x, 1 - y


def test_a_cnn_fit_stops_after_patience_epochs_without_a_better_validation_loss():
    """patience 2: the epochs after the best one are counted, and the second of them stops the fit."""
    fit, *_ = _rising_fit(patience=2)
    # best at epoch 1; epochs 2 and 3 worse: 2 epochs waited = patience, stop after epoch 3
    assert (fit.best_epoch, fit.epochs) == (1, 3)


def test_a_cnn_fit_returns_the_weights_of_its_best_validation_epoch():
    """The model returned is the best epoch's, not the last one's: its validation loss is
    best_val_loss."""
    fit, x_val, y_val = _rising_fit(patience=2)
    assert fit.best_epoch < fit.epochs
    with torch.no_grad():
        # 8 positives, 8 negatives in the fit set: pos_weight 8 / 8 = 1, plain BCE
        loss = torch.nn.functional.binary_cross_entropy_with_logits(
            fit.model(torch.from_numpy(x_val)), torch.from_numpy(y_val.astype(np.float32))
        )
    assert float(loss) == pytest.approx(fit.best_val_loss, abs=1e-6)


def test_a_cnn_weighs_its_positives_by_negatives_over_positives(monkeypatch):
    """The CNN's loss has pos_weight = n_negative / n_positive of the fit set."""
    from sciPT.domains.dna.cnn import fit_cnn

    weights = []

    class Recording(torch.nn.BCEWithLogitsLoss):
        def __init__(self, pos_weight=None):
            weights.append(float(pos_weight))
            super().__init__(pos_weight=pos_weight)

    monkeypatch.setattr(torch.nn, "BCEWithLogitsLoss", Recording)
    x = one_hot([np.zeros(15, dtype=np.int64)] * 5, 15)
    small = CNNConfig(filters=4, kernel=15, pool=1, hidden=4)
    fit_cnn(
        x,
        np.array([1, 0, 0, 0, 0]),
        x[:2],
        np.array([1, 0]),
        lr=1e-3,
        dropout=0.0,
        seed=0,
        max_epochs=1,
        cfg=small,
    )
    # 4 negatives, 1 positive: 4 / 1 = 4.0
    assert weights == [4.0]


def _tiny_fit(x, y, **kw):
    """fit_cnn on a 4-filter CNN (fast), no dropout unless asked."""
    from sciPT.domains.dna.cnn import fit_cnn

    small = CNNConfig(filters=4, kernel=15, pool=1, hidden=4)
    return fit_cnn(x, y, x[:2], y[:2], **{"lr": 1e-2, "dropout": 0.0, "max_epochs": 1, "cfg": small, **kw})


def _training_batches(monkeypatch, x, y, **kw) -> list[list[int]]:
    """The rows of ``x`` in each training batch of a one-epoch fit, in the order drawn."""
    seen = []
    forward = PromoterCNN.forward

    def recording(self, inputs):
        if self.training:  # validation batches are not drawn
            seen.append([int(np.flatnonzero((x == row).all(axis=(1, 2)))[0]) for row in inputs.numpy()])
        return forward(self, inputs)

    monkeypatch.setattr(PromoterCNN, "forward", recording)
    _tiny_fit(x, y, **kw)
    return seen


def _distinct_15mers(n, seed=0):
    rng = np.random.default_rng(seed)
    return one_hot([rng.integers(0, 4, 15) for _ in range(n)], 15), np.arange(n) % 2


def test_the_seed_fixes_a_cnns_weights_whatever_the_callers_random_state():
    """A baseline fitted with one seed must be the same model after any other torch code ran
    (a benchmark's folds would otherwise depend on what ran before them), and another seed another
    model."""
    x, y = _distinct_15mers(8)

    def weights(seed, outside):
        torch.manual_seed(outside)
        state = torch.random.get_rng_state()
        fitted = _tiny_fit(x, y, seed=seed).model.state_dict()
        assert torch.equal(state, torch.random.get_rng_state())  # the caller's random state untouched
        return fitted

    a, b, c = weights(0, outside=1), weights(0, outside=2), weights(1, outside=1)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_the_seed_fixes_the_order_of_the_training_batches(monkeypatch):
    """Each epoch is a shuffle of the fit set drawn from the seed: the same seed the same batches,
    another seed another order (else seeds would differ in their initial weights only)."""
    x, y = _distinct_15mers(12)
    orders = [sum(_training_batches(monkeypatch, x, y, seed=s, batch_size=1), []) for s in (0, 0, 1)]
    assert sorted(orders[0]) == list(range(12))  # every example once per epoch
    assert orders[0] == orders[1] and orders[0] != orders[2]


def test_a_small_fit_set_is_drawn_again_to_fill_min_steps_per_epoch(monkeypatch):
    """6 examples in batches of 4 with min_steps_per_epoch 4: an epoch is 4 full batches (16
    examples, from three shuffles cut short), not the 2 batches one pass gives."""
    x, y = _distinct_15mers(6)
    batches = _training_batches(monkeypatch, x, y, seed=0, batch_size=4, min_steps_per_epoch=4)
    assert [len(b) for b in batches] == [4, 4, 4, 4]
    drawn = np.bincount(sum(batches, []), minlength=6)
    assert drawn.sum() == 16 and drawn.min() >= 2 and drawn.max() <= 3  # two full passes, part of a third
    plain = _training_batches(monkeypatch, x, y, seed=0, batch_size=4)
    assert [len(b) for b in plain[-2:]] == [4, 2]  # (recorded after the first fit's 4)


def test_predictions_in_batches_are_those_of_one_batch():
    """predict_cnn splits large inputs into batches: every sequence gets exactly its own score."""
    from sciPT.domains.dna.cnn import predict_cnn

    x, _ = _distinct_15mers(5)
    model = PromoterCNN(CNNConfig(filters=4, kernel=15, pool=1, hidden=4), 15)
    whole = predict_cnn(model, x)
    assert whole.shape == (5,)
    np.testing.assert_allclose(predict_cnn(model, x, batch_size=2), whole, rtol=1e-6)
    np.testing.assert_allclose(
        predict_cnn(model, x, batch_size=2, logits=True), np.log(whole / (1 - whole)), rtol=1e-4
    )


def test_a_cnn_score_of_no_model_is_refused_by_name():
    with pytest.raises(ValueError, match="^CNNScore: expected one or more CNNs of one input length$"):
        CNNScore([])


def test_a_cnn_score_before_fit_is_refused_by_name():
    with pytest.raises(RuntimeError, match=r"^CNNClassifier.score before fit$"):
        CNNClassifier(40).score()


def _held_out(monkeypatch, codes, labels, **kw):
    """The one-hot rows CNNClassifier.fit holds out for early stopping (fit_cnn not run)."""
    from sciPT.domains.dna import cnn

    held = []
    monkeypatch.setattr(cnn, "fit_cnn", lambda x_fit, y_fit, x_val, y_val, **_: held.append(x_val))
    CNNClassifier(len(codes[0]), **kw).fit(codes, labels)
    return held[0]


def test_the_cnn_holds_out_its_val_fraction_with_reverse_complements_on_one_side(monkeypatch):
    """Early stopping on a held-out part holding the reverse complements of fitted sequences
    judges sequences the fit has seen; the part is about val_fraction, and the seed picks it."""
    from sciPT.domains.dna.data import DNA_SPEC

    rng = np.random.default_rng(0)
    codes = [rng.integers(0, 4, 20).astype(np.uint8) for _ in range(34)]  # uint8, as files are read
    complement = DNA_SPEC.complement_codes()
    codes += [complement[c[::-1]] for c in codes[:6]]  # 6 reverse complements: 40 sequences
    labels = np.array([1, 0] * 17 + [1, 0] * 3)
    x = one_hot(codes, 20)
    for seed in (0, 1, 2):
        held = _held_out(monkeypatch, codes, labels, val_fraction=0.5, seed=seed)
        # half of the 34 groups (the 6 pairs count once) held out: 17 to 23 sequences
        assert 17 <= len(held) <= 23
        is_held = [any((row == h).all() for h in held) for row in x]
        for i in range(6):
            assert is_held[i] == is_held[34 + i]
    a, b = (_held_out(monkeypatch, codes, labels, val_fraction=0.5, seed=s) for s in (0, 1))
    assert a.shape != b.shape or not (a == b).all()


def test_the_dropout_asked_for_is_the_dropout_trained_with():
    """fit_cnn's dropout (the benchmark's grid searches it) overrides the config's: otherwise
    every grid point would train with the same default."""
    x, y = _distinct_15mers(4)
    model = _tiny_fit(x, y, seed=0, dropout=0.7).model
    assert model.cfg.dropout == 0.7
    assert [m.p for m in model.modules() if isinstance(m, torch.nn.Dropout)] == [0.7, 0.7]


def test_a_cnn_fit_without_validation_sequences_is_refused():
    """Early stopping on no sequences scored every epoch alike and silently kept the first epoch's
    weights, whatever max_epochs asked for."""
    from sciPT.domains.dna.cnn import fit_cnn

    x = one_hot(list(np.zeros((4, 20), dtype=np.uint8)), 20)
    with pytest.raises(ValueError) as err:
        fit_cnn(x, np.array([0, 1, 0, 1]), x[:0], np.zeros(0), lr=1e-2, dropout=0.0, seed=0)
    assert str(err.value) == (
        "fit_cnn: the validation set is empty; early stopping needs at least one sequence"
    )


def test_the_cnn_is_built_as_documented():
    """The module docstring's architecture: Conv1d(4 -> 128, kernel 15, no padding) -> ReLU ->
    MaxPool(4) -> Dropout -> Linear(-> 64) -> ReLU -> Dropout -> Linear(64 -> 1); a baseline built
    otherwise would not be the CNN the benchmarks report."""
    model = PromoterCNN(CNNConfig(), 81)
    kinds = [type(m).__name__ for m in model.net]
    assert kinds == [
        "Conv1d",
        "ReLU",
        "MaxPool1d",
        "Dropout",
        "Flatten",
        "Linear",
        "ReLU",
        "Dropout",
        "Linear",
    ]
    conv, pool, dense, out = model.net[0], model.net[2], model.net[5], model.net[8]
    assert (conv.in_channels, conv.out_channels, conv.kernel_size, conv.padding) == (4, 128, (15,), (0,))
    assert pool.kernel_size == 4 and pool.stride == 4
    assert (dense.in_features, dense.out_features) == (128 * 16, 64)
    assert (out.in_features, out.out_features) == (64, 1)


def test_a_cnn_reads_the_strongest_activation_of_each_pool_and_ignores_negative_ones():
    """Max-pooling after a ReLU: a motif scored at one position of a pool counts in full; an
    averaging pool would dilute it four-fold, and a missing ReLU would let anti-motifs through."""
    cfg = CNNConfig(filters=1, kernel=15, pool=4, hidden=1, dropout=0.0)
    model = PromoterCNN(cfg, 18).eval()  # (18 - 15 + 1) // 4 = 1 pooled position
    with torch.no_grad():
        conv = model.net[0]
        conv.weight.zero_()
        conv.bias.copy_(torch.tensor([-1.0]))
        conv.weight[0, 0, 0] = 3.0  # fires (3 - 1 = 2) where the window starts with an A
        seqs = [np.array([1, 1, 0] + [1] * 15), np.ones(18, dtype=np.int64)]
        pooled = model.net[:4](torch.from_numpy(one_hot(seqs, 18)))
    # windows start with C, C, A, C: activations -1, -1, 2, -1 -> ReLU 0, 0, 2, 0 -> max 2;
    # all C: every window -1 -> ReLU 0 -> max 0 (not -1)
    assert pooled.flatten().tolist() == [2.0, 0.0]


def test_equally_good_validation_epochs_keep_the_first():
    """An epoch only counts as better with a strictly lower validation loss: at lr 0 every epoch
    scores alike, so the first is kept and the fit stops after patience epochs, not at max_epochs."""
    x, y = _distinct_15mers(8)
    fit = _tiny_fit(x, y, seed=0, lr=0.0, max_epochs=10, patience=2)
    assert (fit.best_epoch, fit.epochs) == (1, 3)


def test_the_seed_fixes_the_initial_weights():
    """At lr 0 a fit returns its initial weights: the same seed gives the same ones, another seed
    others (else the members of a seed ensemble would start alike)."""
    x, y = _distinct_15mers(8)
    a, b, c = (_tiny_fit(x, y, seed=s, lr=0.0).model.state_dict() for s in (0, 0, 1))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not any(torch.equal(a[k], c[k]) for k in a)


def test_the_classifier_trains_with_its_documented_settings(monkeypatch):
    """CNNClassifier's defaults are the nested benchmark's choice (lr 5e-4, dropout 0.5, its
    docstring), and its seed and min_steps_per_epoch reach the fit."""
    from sciPT.domains.dna import cnn

    calls = []
    monkeypatch.setattr(cnn, "fit_cnn", lambda *a, **kw: calls.append(kw))
    codes, labels = _motif_data(n=20, length=30)
    CNNClassifier(30).fit(codes, labels)
    CNNClassifier(30, lr=1e-3, dropout=0.1, seed=7, min_steps_per_epoch=3).fit(codes, labels)
    picked = [{k: kw[k] for k in ("lr", "dropout", "seed", "min_steps_per_epoch")} for kw in calls]
    assert picked == [
        {"lr": 5e-4, "dropout": 0.5, "seed": 0, "min_steps_per_epoch": 0},
        {"lr": 1e-3, "dropout": 0.1, "seed": 7, "min_steps_per_epoch": 3},
    ]


def test_the_classifier_holds_out_a_tenth_by_default(monkeypatch):
    """val_fraction defaults to 0.1: 40 distinct sequences, 4 held out for early stopping."""
    codes, labels = _motif_data(n=40, length=30)
    assert len(_held_out(monkeypatch, codes, labels)) == 4


def test_a_cnn_fit_uses_adamw_with_the_fine_tunes_weight_decay(monkeypatch):
    """Training mirrors the promoter task's fine-tunes (module docstring): AdamW, weight decay 0.01."""
    made = []

    class Recording(torch.optim.AdamW):
        def __init__(self, params, **kw):
            made.append(kw)
            super().__init__(params, **kw)

    monkeypatch.setattr(torch.optim, "AdamW", Recording)
    x, y = _distinct_15mers(4)
    _tiny_fit(x, y, seed=0, lr=1e-3)
    assert made == [{"lr": 1e-3, "weight_decay": 0.01}]


def test_a_cnn_fit_defaults_to_the_benchmarks_patience_epochs_and_batch(monkeypatch):
    """benchmarks/RESULTS.md reports the CNN with batch 64, at most 40 epochs and patience 5, and
    CNNClassifier relies on fit_cnn's defaults for them: other defaults would be another baseline."""
    from sciPT.domains.dna.cnn import fit_cnn

    rng = np.random.default_rng(0)
    x = one_hot([rng.integers(0, 4, 15) for _ in range(16)], 15)
    y = np.arange(16) % 2
    small = CNNConfig(filters=4, kernel=15, pool=1, hidden=4)
    # validation on flipped labels: every epoch worse than the first, 5 of them stop the fit
    rising = fit_cnn(x, y, x, 1 - y, lr=0.05, dropout=0.0, seed=0, cfg=small)
    assert (rising.best_epoch, rising.epochs) == (1, 6)
    # lr 0: never better, never stopped by a patience of 100, so the fit runs its 40 epochs
    flat = fit_cnn(x, y, x, y, lr=0.0, dropout=0.0, seed=0, patience=100, cfg=small)
    assert flat.epochs == 40
    # 70 examples in one epoch: a batch of 64, then the other 6
    many, labels = _distinct_15mers(70)
    assert [len(b) for b in _training_batches(monkeypatch, many, labels, seed=0)] == [64, 6]


def test_a_cnn_fit_clips_its_gradients_at_norm_one(monkeypatch):
    """fit_cnn's docstring: gradients clipped at norm 1, every step (another norm would be another
    baseline beside every promoter comparison)."""
    norms = []
    clip = torch.nn.utils.clip_grad_norm_
    monkeypatch.setattr(
        torch.nn.utils, "clip_grad_norm_", lambda p, max_norm: norms.append(max_norm) or clip(p, max_norm)
    )
    x, y = _distinct_15mers(4)
    _tiny_fit(x, y, seed=0, lr=1e-3)
    assert norms and set(norms) == {1.0}


def test_the_cnn_holds_out_near_copies_with_their_twins_under_the_near_rule(monkeypatch):
    """20 pairs of 40-bp windows of one 44-bp stretch, 4 bases apart (21 of 25 16-mers shared):
    with ``near`` at threshold 0.5 each pair is on one side of the early-stopping split; without it
    (the default: exact copies only) the same seed splits some pair."""
    from sciPT.diagnostics.overlap import NearCopies

    rng = np.random.default_rng(2)
    stretches = [rng.integers(0, 4, 44).astype(np.uint8) for _ in range(20)]
    codes = [c for s in stretches for c in (s[:40], s[4:])]
    labels = np.repeat(np.arange(20) % 2, 2)
    x = one_hot(codes, 40)

    def held_pairs(**near):
        held = _held_out(monkeypatch, codes, labels, val_fraction=0.2, seed=0, **near)
        is_held = np.array([any((row == h).all() for h in held) for row in x])
        return is_held.reshape(20, 2)

    grouped = held_pairs(near=NearCopies(16, 0.5))
    assert grouped.sum() == 8 and (grouped[:, 0] == grouped[:, 1]).all()  # 4 whole pairs
    default = held_pairs()
    assert (default == held_pairs(near=None)).all() and (default[:, 0] != default[:, 1]).any()


def test_every_epoch_trains_with_dropout_and_validates_without(monkeypatch):
    """Each epoch's batches run in training mode (dropout on) and its validation in eval mode:
    at lr 0 the weights never change, so every epoch's validation loss is the same deterministic
    number, the eval-mode loss of the returned model (a validation with dropout would be noisy,
    and an epoch trained in eval mode would train without dropout)."""
    modes = []
    forward = PromoterCNN.forward

    def recording(self, inputs):
        modes.append((torch.is_inference_mode_enabled(), self.training))
        return forward(self, inputs)

    monkeypatch.setattr(PromoterCNN, "forward", recording)
    x, y = _distinct_15mers(8)
    fit = _tiny_fit(x, y, seed=0, lr=0.0, dropout=0.5, max_epochs=3, patience=10)
    # one batch of 8 and one validation pass per epoch
    assert modes == [(False, True), (True, False)] * 3
    assert (fit.best_epoch, fit.epochs) == (1, 3)
    monkeypatch.setattr(PromoterCNN, "forward", forward)
    with torch.no_grad():
        loss = torch.nn.functional.binary_cross_entropy_with_logits(
            fit.model.eval()(torch.from_numpy(x[:2])), torch.from_numpy(y[:2].astype(np.float32))
        )
    assert float(loss) == pytest.approx(fit.best_val_loss, abs=1e-6)


def test_each_training_step_follows_its_own_batchs_gradient(monkeypatch):
    """Gradients are zeroed before every step: at lr 0 the weights and the one batch of each epoch
    are the same, so every step sees the same gradient norm (accumulated, the second step's
    gradient would be the first's clipped gradient plus its own)."""
    norms = []
    clip = torch.nn.utils.clip_grad_norm_
    monkeypatch.setattr(
        torch.nn.utils, "clip_grad_norm_", lambda p, max_norm: norms.append(float(clip(p, max_norm))) or None
    )
    x, y = _distinct_15mers(8)
    _tiny_fit(x, y, seed=0, lr=0.0, max_epochs=3, patience=10)
    assert len(norms) == 3 and norms[0] > 0
    assert norms == pytest.approx([norms[0]] * 3, rel=1e-5)


def test_an_improvement_resets_the_patience_count(monkeypatch):
    """Only epochs in a row without a better validation loss count towards patience: with the
    validation losses 5, 6, 4, 6, 3, 7, 7, 1 and patience 2, the fit runs past the isolated worse
    epochs 2 and 4, keeps epoch 5 and stops after epoch 7, before the loss of 1."""
    path = [5.0, 6.0, 4.0, 6.0, 3.0, 7.0, 7.0, 1.0, 1.0, 1.0]
    scored = []

    class Scripted(torch.nn.BCEWithLogitsLoss):
        def forward(self, logits, target):
            if torch.is_inference_mode_enabled():  # the validation loss: read from the path
                scored.append(None)
                return torch.tensor(path[len(scored) - 1])
            return super().forward(logits, target)

    monkeypatch.setattr(torch.nn, "BCEWithLogitsLoss", Scripted)
    x, y = _distinct_15mers(8)
    fit = _tiny_fit(x, y, seed=0, max_epochs=10, patience=2)
    assert (fit.best_epoch, fit.epochs, fit.best_val_loss) == (5, 7, 3.0)


def test_a_fit_set_without_positives_still_trains():
    """pos_weight is n_negative / n_positive with the positives counted as at least one: a fit set
    of negatives alone (possible in a small benchmark fold) trains rather than dividing by zero."""
    x, _ = _distinct_15mers(6)
    fit = _tiny_fit(x, np.zeros(6), seed=0)
    assert fit.epochs == 1 and np.isfinite(fit.best_val_loss)


def test_scores_of_no_sequences_are_empty_and_cnn_scores_are_float64():
    """CNNScore's documented shape and type (``[N]`` float64, what the stack reads) hold for N = 0
    too; predict_cnn of no rows is an empty vector rather than a failure to concatenate nothing."""
    from sciPT.domains.dna.cnn import predict_cnn

    model = PromoterCNN(CNNConfig(filters=4, kernel=15, pool=1, hidden=4), 15)
    empty = predict_cnn(model, np.zeros((0, 4, 15), dtype=np.float32))
    assert empty.shape == (0,)
    score = CNNScore([model])
    assert score([]).shape == (0,) and score([]).dtype == np.float64
    codes = [np.zeros(15, dtype=np.int64), np.arange(15) % 4]
    out = score(codes)
    assert out.shape == (2,) and out.dtype == np.float64
    np.testing.assert_allclose(out, predict_cnn(model, one_hot(codes, 15), logits=True), rtol=1e-6)


def test_the_held_out_part_is_the_val_fraction_rounded(monkeypatch):
    """47 distinct sequences at val_fraction 0.1: 4.7 rounds to 5 held out (cut down, 4)."""
    codes, labels = _motif_data(n=47, length=30)
    assert len(_held_out(monkeypatch, codes, labels)) == 5


def test_the_classifier_keeps_the_split_it_stopped_on(monkeypatch):
    """``split_`` is the (fit, early-stopping) split of the last fit, indices into the codes given:
    the early-stopping rows are the ones fit_cnn validated on, the two parts the whole."""
    from sciPT.domains.dna import cnn

    codes, labels = _motif_data(n=40, length=30)
    seen = {}
    monkeypatch.setattr(cnn, "fit_cnn", lambda x_fit, y_fit, x_val, y_val, **_: seen.update(val=x_val))
    classifier = CNNClassifier(30, seed=3)
    assert classifier.split_ is None
    classifier.fit(codes, labels)
    fit_idx, val_idx = classifier.split_
    assert sorted([*fit_idx, *val_idx]) == list(range(40)) and len(val_idx) == 4
    np.testing.assert_array_equal(seen["val"], one_hot([codes[i] for i in val_idx], 30))
