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
