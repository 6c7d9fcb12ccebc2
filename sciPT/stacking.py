"""A second score stacked onto a classifier's logit, kept only where it earns its place.

A fine-tuned classifier and a cheaper model often see different things: a position-aware network the
motifs, a k-mer count model the composition; a pre-trained masked model how natural a sequence is
(:mod:`sciPT.naturalness`). Stacking (Wolpert, *Stacked generalization*, Neural Networks 1992)
combines them by a logistic regression fitted on data that neither saw in training, here the
fine-tune's held-out early-stopping split:

.. math::

    \\operatorname{logit} p = w_\\ell\\, \\operatorname{logit} p_{\\text{classifier}}
        + w_s\\, \\frac{s(x) - \\mu}{\\sigma} + b

with ``mu`` and ``sigma`` the score's mean and standard deviation on that split (L2 penalty, C = 1).
With the score left out the same fit is Platt scaling. :attr:`Stack.likelihood_ratio` is the
likelihood-ratio statistic of the two fits on that split, ``2 (log L_stacked - log L_Platt)``,
asymptotically chi-squared with one degree of freedom where the score adds nothing (Wilks 1938):
a caller keeps the stack at :data:`MIN_LIKELIHOOD_RATIO` (p = 0.05) or above.

Shapes: ``probabilities``, ``scores``, ``labels`` ``[N]``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

# fitted only on a split with at least this many sequences of each class: three coefficients from
# fewer would move the decision more by chance than by signal
MIN_PER_CLASS = 20
# the 95th percentile of chi-squared with one degree of freedom: the likelihood-ratio statistic at
# which adding the score to the logit-only fit is significant at p = 0.05
MIN_LIKELIHOOD_RATIO = 3.841


@dataclass
class Stack:
    """``logit p = w_logit * classifier logit + w_score * (score - mean) / sd + bias``;
    ``likelihood_ratio``: ``2 (log L - log L without the score)`` on the split it was fitted on."""

    w_logit: float
    w_score: float
    bias: float
    mean: float
    sd: float
    likelihood_ratio: float = float("nan")

    def __call__(self, probabilities: np.ndarray, scores: np.ndarray) -> np.ndarray:
        """Stacked probabilities."""
        z = self.w_logit * logit(probabilities) + self.w_score * standardise(scores, self.mean, self.sd)
        return 1.0 / (1.0 + np.exp(-(z + self.bias)))

    def to_dict(self) -> dict:
        return asdict(self)


def standardise(scores: np.ndarray, mean: float, sd: float) -> np.ndarray:
    """``(score - mean) / sd``; a NaN score (nothing to score) counts as the mean: no shift."""
    return np.nan_to_num((np.asarray(scores, dtype=np.float64) - mean) / sd, nan=0.0)


def logit(p: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), eps, 1 - eps)
    return np.log(p / (1 - p))


def enough_of_each_class(labels: np.ndarray) -> bool:
    labels = np.asarray(labels)
    return min(int(labels.sum()), int(len(labels) - labels.sum())) >= MIN_PER_CLASS


def fit_stack(probabilities: np.ndarray, scores: np.ndarray, labels: np.ndarray, seed: int = 0):
    """The :class:`Stack` of held-out ``probabilities`` and ``scores`` with ``labels``, compared with
    the logit-only fit, or ``None`` below :data:`MIN_PER_CLASS` of either class."""
    from sklearn.linear_model import LogisticRegression

    labels = np.asarray(labels)
    if not enough_of_each_class(labels):
        return None
    scores = np.asarray(scores, dtype=np.float64)
    scored = scores[~np.isnan(scores)]
    mean = float(scored.mean()) if len(scored) else 0.0
    sd = float(scored.std()) if len(scored) > 1 and scored.std() > 0 else 1.0
    x = np.c_[logit(probabilities), standardise(scores, mean, sd)]
    fitted = LogisticRegression(C=1.0, random_state=seed).fit(x, labels)
    platt = LogisticRegression(C=1.0, random_state=seed).fit(x[:, :1], labels)
    # at least 0, as between maximum-likelihood fits of nested models: under the penalty the
    # two-feature fit can trade a little likelihood for smaller weights
    ratio = max(0.0, 2 * (_log_likelihood(fitted, x, labels) - _log_likelihood(platt, x[:, :1], labels)))
    (w_logit, w_score), bias = fitted.coef_[0], fitted.intercept_[0]
    return Stack(float(w_logit), float(w_score), float(bias), mean, sd, float(ratio))


def _log_likelihood(fitted, x: np.ndarray, labels: np.ndarray) -> float:
    """The Bernoulli log-likelihood of ``labels`` under a fitted logistic regression."""
    z = fitted.decision_function(x)
    # log sigmoid(z) for positives and log sigmoid(-z) for negatives, without overflow
    return float(-np.logaddexp(0.0, np.where(labels == 1, -z, z)).sum())
