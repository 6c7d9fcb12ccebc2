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
