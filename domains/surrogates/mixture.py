"""A mixture prior over the law's parameters: one Gaussian per family, and its Bayesian model average.

A single Gaussian learnt across every pre-training system (:func:`.pretrain.population_prior`)
averages regimes that do not mix: a laminar plate (``a = 1/2``), a smooth pipe (``a ~ 0.8``) and a
rough tube (``a`` from 0.75 to nearly 1) give one broad bump centred where no family is. The
mixture keeps them apart, one component per family ``f`` (its own mean ``m_f`` and full covariance
``S_f`` of ``(log C, a, b, c_i)``, learnt as :func:`.pretrain.population_prior` learns one):

.. math::

    p(\\theta) = \\sum_f \\pi_f \\, N(\\theta; m_f, S_f),\\qquad \\pi_f = 1 / F.

Calibration is the Bayesian model average. Each component is fitted on the points as the single
Gaussian is (:func:`.objectives.fit`, its width factor ``kappa`` under the same hyperprior, the
same transfer: by default ``log C`` free), giving a posterior ``p_f(theta | y)`` and a marginal
likelihood ``p_f(y)``; the posterior weight of a family is

.. math::

    w_f = \\frac{\\pi_f \\, p_f(y)}{\\sum_g \\pi_g \\, p_g(y)},

and the predictive is the mixture ``sum_f w_f p_f(y* | y)``, its intervals from the mixture's
quantiles. Every component has the same free parameters (``log C`` under the transfer of the
exponents), so the improper constant of the flat prior cancels in ``w_f``. With one point ``log
C`` absorbs it whatever the exponents, every ``p_f(y)`` is the same and the weights stay at the
prior's; with two or more points spanning ``Re`` the slope picks the family. The averaged
posterior is one :class:`.objectives.Posterior` whose components are the families' noise-grid
components, weighted ``w_f`` times each family's noise weights, so it is stored, evaluated and
chained (``--init RUN``) exactly as a single-Gaussian posterior is.

Shapes: ``F`` families, ``J`` noise levels; the averaged posterior has ``F * J`` components.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .objectives import GaussianPrior, NoisePrior, Posterior, fit


@dataclass
class MixturePrior:
    """``sum_f pi_f N(m_f, S_f)`` over ``(log C, a, b, c_i)``.

    Args:
        labels: the families, one per component.
        components: one :class:`GaussianPrior` per family (same names, free and fixed roles).
        weights: ``(F,)`` prior weights ``pi_f`` (normalised here).
    """

    labels: list[str]
    components: list[GaussianPrior]
    weights: np.ndarray

    def __post_init__(self):
        self.weights = np.asarray(self.weights, float)
        self.weights = self.weights / self.weights.sum()
        if len(self.labels) != len(self.components) or len(self.weights) != len(self.components):
            raise ValueError("a mixture needs one label and one weight per component")
        if any(c.names != self.components[0].names for c in self.components):
            raise ValueError("every component of a mixture must have the same parameter names")
        # the mixture's roles are read from its first component (``fixed``, the calibration's
        # choice of free columns), so a component that held other roles would be fitted as another
        # model than the one averaged
        first = self.components[0]
        if any(
            not (np.array_equal(c.free, first.free) and np.array_equal(c.fixed, first.fixed))
            for c in self.components
        ):
            raise ValueError("every component of a mixture must have the same free and fixed parameters")

    @property
    def names(self) -> list[str]:
        return list(self.components[0].names)

    @property
    def fixed(self) -> np.ndarray:
        return self.components[0].fixed

    @property
    def mean(self) -> np.ndarray:
        """The mixture's mean (for reports and plots; calibration uses the components)."""
        return self.weights @ np.array([c.mean for c in self.components])

    @property
    def cov(self) -> np.ndarray:
        """The mixture's covariance (law of total covariance over the components)."""
        means = np.array([c.mean for c in self.components])
        d = means - self.mean
        within = np.einsum("f,fab->ab", self.weights, np.array([c.cov for c in self.components]))
        return within + np.einsum("f,fa,fb->ab", self.weights, d, d)

    def as_gaussian(self) -> GaussianPrior:
        """The moment-matched single Gaussian (what a pre-training export stores)."""
        c0 = self.components[0]
        return GaussianPrior(self.names, self.mean, self.cov, free=c0.free, fixed=c0.fixed)

    def map(self, transform) -> MixturePrior:
        """The mixture with ``transform`` applied to every component (e.g. a transfer)."""
        return MixturePrior(self.labels, [transform(c) for c in self.components], self.weights)


@dataclass
class MixtureFit:
    """The model average: the combined posterior and each family's weight and evidence."""

    posterior: Posterior
    family_weights: dict[str, float]
    family_log_evidence: dict[str, float]
    components: list[Posterior]


def fit_mixture(
    X: np.ndarray, y: np.ndarray, prior: MixturePrior, noise: NoisePrior | None = None
) -> MixtureFit:
    """Fit every component on ``(X, y)`` and average them by their marginal likelihoods.

    Args:
        X: ``(n, p)`` log features; ``y``: ``(n,)`` log Nu.
        prior: the mixture, with the roles (free, fixed) the calibration wants already set.
    """
    posts = [fit(X, y, c, noise) for c in prior.components]
    log_ev = np.array([p.log_marginal for p in posts])
    log_w = np.log(prior.weights) + log_ev
    top = log_w.max()
    w = np.exp(log_w - top)
    log_marginal = float(top + np.log(w.sum()))
    w /= w.sum()
    combined = Posterior(
        names=list(posts[0].names),
        sigma=np.concatenate([p.sigma for p in posts]),
        weights=np.concatenate([wf * p.weights for wf, p in zip(w, posts)]),
        means=np.concatenate([p.means for p in posts]),
        covs=np.concatenate([p.covs for p in posts]),
        kappa=float(posts[int(np.argmax(w))].kappa),
        # the families' widths differ, so there is no one width to state an evidence at: the
        # average's evidence is its marginal, the width integrated out in every family
        log_evidence=log_marginal,
        n=len(y),
        log_marginal=log_marginal,
    )
    return MixtureFit(
        combined,
        dict(zip(prior.labels, map(float, w))),
        dict(zip(prior.labels, map(float, log_ev))),
        posts,
    )
