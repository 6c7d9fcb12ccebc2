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


# --- the combination, checked against hand computations and an independent fit ------------------
def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _penalised_fit(x: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, float, float]:
    """An L2 (C = 1) logistic regression found by scipy, not scikit-learn: minimise
    ``0.5 |w|^2 + sum log(1 + exp(-y z))``, the intercept unpenalised; returns (w, b, log-likelihood)."""
    from scipy.optimize import minimize

    y = np.where(labels == 1, 1.0, -1.0)

    def loss(theta):
        w, b = theta[:-1], theta[-1]
        z = x @ w + b
        nll = np.logaddexp(0.0, -y * z).sum()
        grad_z = -y * _sigmoid(-y * z)
        return 0.5 * w @ w + nll, np.r_[x.T @ grad_z + w, grad_z.sum()]

    res = minimize(loss, np.zeros(x.shape[1] + 1), jac=True, method="BFGS", options={"gtol": 1e-10})
    w, b = res.x[:-1], res.x[-1]
    return w, float(b), float(-np.logaddexp(0.0, -y * (x @ w + b)).sum())


def _data(n: int = 120, seed: int = 3):
    rng = np.random.default_rng(seed)
    labels = np.repeat([0, 1], n // 2)
    probabilities = _sigmoid(0.8 * (2 * labels - 1) + rng.standard_normal(n))
    scores = 5.0 + 2.0 * (1.5 * labels + rng.standard_normal(n))  # far from mean 0, sd 1
    return probabilities, scores, labels


def test_fit_stack_matches_an_independent_penalised_fit_and_likelihood_ratio():
    """The weights a user reads in the report and the likelihood ratio that decides whether the stack
    is kept are those of the documented model (L2, C = 1, logit and standardised score as features)."""
    probabilities, scores, labels = _data()
    stack = fit_stack(probabilities, scores, labels)
    logits = np.log(probabilities / (1 - probabilities))
    z = (scores - scores.mean()) / scores.std()
    w, b, ll = _penalised_fit(np.c_[logits, z], labels)
    _, _, ll_platt = _penalised_fit(logits[:, None], labels)
    assert stack.w_logit == pytest.approx(w[0], abs=1e-3)
    assert stack.w_score == pytest.approx(w[1], abs=1e-3)
    assert stack.bias == pytest.approx(b, abs=1e-3)
    assert stack.likelihood_ratio == pytest.approx(2 * (ll - ll_platt), abs=1e-3)
    assert stack.likelihood_ratio > 3.841  # the score carries the label here: worth keeping


def test_the_fitted_stack_reproduces_the_fits_probabilities():
    """Predicting through the fitted stack gives the fitted regression's own probabilities: the
    standardisation applied at prediction is the one the weights were fitted on."""
    probabilities, scores, labels = _data()
    stack = fit_stack(probabilities, scores, labels)
    logits = np.log(probabilities / (1 - probabilities))
    z = (scores - scores.mean()) / scores.std()
    w, b, _ = _penalised_fit(np.c_[logits, z], labels)
    np.testing.assert_allclose(stack(probabilities, scores), _sigmoid(np.c_[logits, z] @ w + b), atol=1e-4)


def test_a_score_against_the_label_gets_a_negative_weight():
    """The sign of the stacked score follows the data: a score higher for negatives is weighed down,
    so the report's '+/-' weight tells which class the stacked model favours."""
    probabilities, scores, labels = _data()
    flipped = fit_stack(probabilities, -scores, labels)
    stack = fit_stack(probabilities, scores, labels)
    assert stack.w_score > 0 > flipped.w_score
    assert flipped.w_score == pytest.approx(-stack.w_score, rel=1e-4)
    assert flipped.likelihood_ratio == pytest.approx(stack.likelihood_ratio, rel=1e-4)


def test_a_score_that_adds_nothing_has_a_likelihood_ratio_near_zero():
    """A score independent of the label seldom passes the threshold: its ratio is small, never
    negative (nested fits), and the logit keeps its weight."""
    rng = np.random.default_rng(5)
    labels = np.repeat([0, 1], 100)
    probabilities = _sigmoid(1.5 * (2 * labels - 1) + rng.standard_normal(200))
    stack = fit_stack(probabilities, rng.standard_normal(200), labels)
    assert 0.0 <= stack.likelihood_ratio < 3.841
    assert stack.w_logit > 0.5


def test_missing_scores_are_left_out_of_the_mean_and_sd_and_do_not_shift_the_prediction():
    """A sequence the stacked model could not score (NaN) neither skews the standardisation nor
    moves its own prediction off the classifier's calibrated logit."""
    probabilities, scores, labels = _data()
    with_gaps = scores.copy()
    with_gaps[::7] = np.nan
    stack = fit_stack(probabilities, with_gaps, labels)
    kept = scores[~np.isnan(with_gaps)]
    assert stack.mean == pytest.approx(kept.mean()) and stack.sd == pytest.approx(kept.std())
    p = np.array([0.3])
    expected = _sigmoid(stack.w_logit * np.log(0.3 / 0.7) + stack.bias)
    np.testing.assert_allclose(stack(p, np.array([np.nan])), [expected], rtol=1e-12)
    np.testing.assert_allclose(stack(p, np.array([stack.mean])), [expected], rtol=1e-12)


def test_a_constant_score_is_standardised_by_one_not_by_zero():
    """A stacked model that scores every sequence alike gives sd 1 (no division by zero): the stack
    predicts finite probabilities and the score earns no weight."""
    probabilities, _, labels = _data()
    stack = fit_stack(probabilities, np.full(len(labels), 2.5), labels)
    assert stack.mean == 2.5 and stack.sd == 1.0
    assert stack.w_score == pytest.approx(0.0, abs=1e-6)
    assert stack.likelihood_ratio == pytest.approx(0.0, abs=1e-6)
    out = stack(np.array([0.2, 0.9]), np.array([2.5, 3.5]))
    assert np.all(np.isfinite(out))
    # one unit above the constant is one "standard deviation": z = w_score * 1
    expected = _sigmoid(stack.w_logit * np.log(0.9 / 0.1) + stack.w_score + stack.bias)
    assert out[1] == pytest.approx(expected, rel=1e-12)


def test_stack_by_hand_with_a_confident_classifier_and_a_negative_weight():
    """Each term of the stacked logit by hand, away from p = 0.5 and the score's mean, so that a
    dropped logit transform, a flipped bias or swapped mean and sd shows."""
    stack = Stack(w_logit=0.5, w_score=-1.0, bias=0.25, mean=3.0, sd=4.0)
    # p = 0.8: logit = log 4; s = 11: (11 - 3) / 4 = 2 -> z = 0.5 log 4 - 2 + 0.25
    z = 0.5 * np.log(4.0) - 2.0 + 0.25
    np.testing.assert_allclose(stack(np.array([0.8]), np.array([11.0])), [_sigmoid(z)], rtol=1e-12)


def test_a_certain_classifier_is_clipped_to_one_in_a_million():
    """A classifier probability of exactly 0 or 1 gives a finite stacked logit, clipped at 1e-6 from
    either end, while probabilities inside that band pass through unclipped."""
    stack = Stack(w_logit=1.0, w_score=0.0, bias=0.0, mean=0.0, sd=1.0)
    out = stack(np.array([0.0, 1.0, 1e-5, 1 - 1e-5]), np.zeros(4))
    np.testing.assert_allclose(out, [1e-6, 1 - 1e-6, 1e-5, 1 - 1e-5], rtol=1e-9)


def test_exactly_the_minimum_of_each_class_is_enough():
    """20 sequences of each class are fitted; 20 of one and 19 of the other are not."""
    from sciPT.stacking import enough_of_each_class

    assert MIN_PER_CLASS == 20
    assert enough_of_each_class(np.r_[np.ones(20), np.zeros(20)])
    assert not enough_of_each_class(np.r_[np.ones(20), np.zeros(19)])
    assert not enough_of_each_class(np.r_[np.ones(200), np.zeros(19)])
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], MIN_PER_CLASS)
    assert fit_stack(rng.uniform(0.1, 0.9, 40), rng.standard_normal(40), labels) is not None


def test_a_stack_survives_its_export_round_trip():
    """What the exported model records (``to_dict``, written as JSON) loads back to the same stack,
    its likelihood ratio included, so a loaded model reports and predicts as the trained one."""
    import json

    probabilities, scores, labels = _data()
    stack = fit_stack(probabilities, scores, labels)
    loaded = Stack(**json.loads(json.dumps(stack.to_dict())))
    assert loaded == stack
    assert set(stack.to_dict()) == {"w_logit", "w_score", "bias", "mean", "sd", "likelihood_ratio"}
    # a stack built by hand claims no likelihood ratio it was never fitted for
    assert np.isnan(Stack(1.0, 0.0, 0.0, 0.0, 1.0).likelihood_ratio)


def test_a_penalised_fit_that_loses_likelihood_reports_a_ratio_of_zero():
    """Under the L2 penalty a noisy copy of a weak logit takes weight off it for a smaller norm and a
    lower likelihood than Platt scaling; the ratio a user compares with 3.841 is then 0, not below 0."""
    rng = np.random.default_rng(32)
    labels = np.repeat([0, 1], 20)
    signal = (2 * labels - 1) + rng.standard_normal(40)
    probabilities = _sigmoid(0.2 * signal)
    scores = signal + 2.0 * rng.standard_normal(40)
    logits = np.log(probabilities / (1 - probabilities))
    z = (scores - scores.mean()) / scores.std()
    _, _, ll = _penalised_fit(np.c_[logits, z], labels)
    _, _, ll_platt = _penalised_fit(logits[:, None], labels)
    assert 2 * (ll - ll_platt) < -0.1  # the independent fits: the stacked one is less likely
    assert fit_stack(probabilities, scores, labels).likelihood_ratio == 0.0


def test_the_likelihood_ratio_threshold_is_the_chi_squared_critical_value():
    """3.841 is the 95th percentile of chi-squared with one degree of freedom (p = 0.05), to the
    three decimals the report prints."""
    from scipy.stats import chi2

    from sciPT.stacking import MIN_LIKELIHOOD_RATIO

    assert MIN_LIKELIHOOD_RATIO == round(float(chi2.ppf(0.95, 1)), 3) == 3.841


def test_a_score_missing_everywhere_standardises_as_identity_and_stacks_as_platt_scaling():
    """A stacked model that scored nothing (every score NaN) gets mean 0 and sd 1, no weight, no
    likelihood gain: the stack is the logit-only (Platt) fit."""
    probabilities, _, labels = _data()
    stack = fit_stack(probabilities, np.full(len(labels), np.nan), labels)
    assert stack.mean == 0.0 and stack.sd == 1.0
    assert stack.w_score == pytest.approx(0.0, abs=1e-6)
    assert stack.likelihood_ratio == pytest.approx(0.0, abs=1e-6)
    logits = np.log(probabilities / (1 - probabilities))
    w, b, _ = _penalised_fit(logits[:, None], labels)
    assert stack.w_logit == pytest.approx(w[0], abs=1e-3) and stack.bias == pytest.approx(b, abs=1e-3)


def test_labels_given_as_a_list_fit_the_same_stack():
    """Labels read back as a plain list (from JSON, say) give the stack and likelihood ratio an
    array gives: the positives are found by value, not by an array comparison that a list fails."""
    probabilities, scores, labels = _data()
    assert fit_stack(probabilities, scores, labels.tolist()) == fit_stack(probabilities, scores, labels)
