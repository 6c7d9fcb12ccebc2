import numpy as np
import pytest

from sciPT.stacking import MIN_PER_CLASS, Stack, fit_stack


def test_stack_by_hand():
    stack = Stack(w_logit=1.0, w_score=2.0, bias=-0.5, mean=1.0, sd=2.0)
    # z = logit(p) + 2 (s - 1) / 2 - 0.5: p = 0.5, s = 1.5 -> 0 + 0.5 - 0.5 = 0
    np.testing.assert_allclose(stack(np.array([0.5]), np.array([1.5])), [0.5], rtol=1e-12)


def test_fit_stack_weighs_the_score_that_carries_the_label():
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 50)
    scores = 3.0 * labels + rng.standard_normal(100)
    stack = fit_stack(np.full(100, 0.5) + 0.01 * rng.standard_normal(100), scores, labels)
    assert stack.w_score > 1.0 and stack.likelihood_ratio > 20
    assert stack.mean == pytest.approx(scores.mean()) and stack.sd == pytest.approx(scores.std())
    assert (
        fit_stack(
            np.full(2 * MIN_PER_CLASS - 1, 0.5),
            np.zeros(2 * MIN_PER_CLASS - 1),
            np.r_[np.ones(MIN_PER_CLASS - 1), np.zeros(MIN_PER_CLASS)],
        )
        is None
    )
