"""Bayesian linear regression in log space: the objective a surrogate is calibrated by.

A power law ``Nu = C Re^a Pr^b prod_i g_i^c_i`` is linear in its log:

.. math::

    y = \\log Nu = x^\\top \\theta + \\varepsilon,\\qquad
    x = (1, \\log Re, \\log Pr, \\log g_1, \\dots),\\quad
    \\theta = (\\log C, a, b, c_1, \\dots),\\quad \\varepsilon \\sim N(0, \\sigma^2).

Each parameter has one of three prior roles (:class:`GaussianPrior`):

- *Gaussian*: the block ``theta_G ~ N(m, kappa * S)``, the pre-trained prior. ``kappa`` (the prior
  width relative to what pre-training learned; ``1/kappa`` is the prior strength) has a log-normal
  hyperprior ``log kappa ~ N(0, kappa_sd^2)`` centred on the pre-trained width, and is integrated
  out on a fixed log-spaced grid, as the noise is (below): each width is weighted by the marginal
  likelihood (evidence) of the user's points under it. With few points the evidence is flat and the
  hyperprior's spread of widths stays in the predictive; with many points the evidence decides (a
  contradicted prior is widened until it is consistent). Plugging in the most probable width
  instead (type-II maximum a posteriori) gives intervals that are too narrow: on data drawn from
  this very model, with one to three points, its 90 % intervals held 84 % of 1,500 new points, the
  integrated ones 89 % (``tests/domains/surrogates/test_bayes.py``).
- *free*: a flat (improper) prior, so the data alone set it.
- *fixed*: held exactly at the prior mean (a parameter an imported posterior holds with zero
  variance; the guard's leave-one-out re-fit of scratch, ``loo_held="exact"``).

The noise variance is never fixed: it has a scaled-inverse-chi-squared hyperprior
``sigma^2 ~ Scale-Inv-chi^2(nu0, s0^2)`` (:class:`NoisePrior`; default: about two observations'
worth of belief in a 5 % scatter of log Nu, the usual repeatability of heat-transfer rigs) and is
integrated out numerically on a log-spaced grid of ``sigma`` (:func:`sigma_grid`: 1e-3 to 2, wider
where the hyperprior's ``s0`` needs it, at one fixed spacing so evidences stay comparable). Given ``sigma`` and ``kappa``
the posterior of ``theta`` is Gaussian in closed form, so the posterior is a finite mixture of
Gaussians, one per pair of grid values, weighted by ``p(y | sigma, kappa) p(sigma^2) p(kappa)``
(the pairs that together hold all but :data:`DROPPED_MASS` of it are kept). The predictive
distribution of a new ``log Nu`` is the matching mixture of normals
``N(x^T mu_j, x^T A_j^{-1} x + sigma_j^2)``; its
quantiles give the intervals (a Student-t in the limit of a fine grid and a conjugate prior). With
one point and one free parameter the residual is zero and the noise is its hyperprior: intervals
are then as wide as the assumed rig scatter, never zero.

Shapes: ``X`` is ``(n, p)``, ``y`` is ``(n,)``; grids have ``K`` widths and ``J`` noise levels; a
posterior has ``J`` components (one per kept pair).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import gammaln, ndtr, ndtri

from sciPT.errors import DataError

# the levels a recalibration maps (:attr:`Posterior.level_map`); between them it interpolates
LEVELS = np.arange(1, 100) / 100
SIGMA_GRID = np.exp(np.linspace(np.log(1e-3), np.log(2.0), 72))
_SIGMA_STEP = np.log(2.0 / 1e-3) / 71
KAPPA_GRID = np.exp(np.linspace(np.log(1e-2), np.log(1e4), 49))
# the posterior mass of the (kappa, sigma) grid a fit leaves out, its least probable pairs: every
# predictive probability is then off by at most this much, and a fit keeps a quarter to a half of
# the grid's pairs
DROPPED_MASS = 1e-4
# elements of one (rows, components) array of a prediction: longer inputs are taken in chunks
ROW_ELEMENTS = 1 << 21
_LOG_2PI = np.log(2 * np.pi)


@dataclass
class NoisePrior:
    """``sigma^2 ~ Scale-Inv-chi^2(nu0, s0^2)`` on the noise of ``log Nu``.

    Args:
        s0: prior guess of the noise standard deviation of ``log Nu`` (0.05 is a 5 % scatter).
        nu0: its weight, in pseudo-observations.
    """

    s0: float = 0.05
    nu0: float = 2.0

    def log_weights(self, sigma: np.ndarray) -> np.ndarray:
        """Log density of ``log sigma^2`` at ``sigma`` (the grid is uniform in ``log sigma``)."""
        s2 = sigma**2
        half = self.nu0 / 2
        return half * np.log(half * self.s0**2) - gammaln(half) - half * np.log(s2) - half * self.s0**2 / s2


def sigma_grid(noise: NoisePrior) -> np.ndarray:
    """The noise levels a fit integrates over: :data:`SIGMA_GRID`, extended at its spacing down to
    ``s0 / 50`` and up to ``40 s0`` where those lie outside it. The hyperprior puts almost no mass
    below a third of ``s0`` (``P(sigma < s0 / 3) = e^-9`` at ``nu0 = 2``), and the posterior's
    scale is at least ``s0 sqrt(nu0 / (nu0 + n))``; a grid cut above it (``--noise-sd 0.001``, a
    simulation's points) made 90 % intervals 1.4 times too wide."""
    lo, hi = min(1e-3, noise.s0 / 50), max(2.0, 40 * noise.s0)
    below = int(np.ceil(np.log(1e-3 / lo) / _SIGMA_STEP - 1e-9))
    above = int(np.ceil(np.log(hi / 2.0) / _SIGMA_STEP - 1e-9))
    if not below and not above:
        return SIGMA_GRID
    return np.exp(np.log(1e-3) + _SIGMA_STEP * np.arange(-below, len(SIGMA_GRID) + above))


@dataclass
class GaussianPrior:
    """A prior over ``theta``: a Gaussian block, free parameters and fixed parameters.

    Args:
        names: parameter names, ``["log_C", "Re", "Pr", *groups]`` (exponents named by variable).
        mean: ``(p,)``; for fixed parameters, the value they are held at.
        cov: ``(p, p)``; only the Gaussian block (neither free nor fixed) is used.
        free: ``(p,)`` bool, flat prior.
        fixed: ``(p,)`` bool, held at ``mean``.
    """

    names: list[str]
    mean: np.ndarray
    cov: np.ndarray
    free: np.ndarray = None
    fixed: np.ndarray = None

    def __post_init__(self):
        p = len(self.names)
        self.mean = np.asarray(self.mean, float).reshape(p)
        self.cov = np.asarray(self.cov, float).reshape(p, p)
        self.free = np.zeros(p, bool) if self.free is None else np.asarray(self.free, bool)
        self.fixed = np.zeros(p, bool) if self.fixed is None else np.asarray(self.fixed, bool)
        if np.any(self.free & self.fixed):
            raise ValueError("a parameter cannot be both free and fixed")

    @property
    def gaussian(self) -> np.ndarray:
        return ~(self.free | self.fixed)


@dataclass
class Posterior:
    """The posterior of ``theta`` (a mixture of Gaussians over noise and prior-width values) and its predictive.

    Attributes:
        names: parameter names.
        sigma: ``(J,)`` the noise of each component; ``weights``: ``(J,)`` their posterior
            probabilities.
        means: ``(J, p)`` and ``covs``: ``(J, p, p)``, the Gaussian posterior of each component
            (given its noise and prior width; zero covariance on fixed parameters).
        kappa: the most probable prior width factor (``nan`` when there is no Gaussian block); the
            components integrate over it, this is what a report shows.
        log_evidence: ``log p(y | kappa)`` at that width, up to constants shared by every fit on the same noise
            grid (its spacing) and, when the prior has free parameters, the flat prior's improper
            constant: differences between fits of the same points are exact, single values are not.
        log_marginal: ``log p(y)`` with ``kappa`` integrated out under its hyperprior (the grid's
            hyperprior weights normalised to one); equal to ``log_evidence`` when ``kappa`` is
            fixed. With free parameters it is relative to the same improper constant as
            ``log_evidence``, ``(2 pi)^(q_free / 2)``: two models with the same free parameters
            can be compared by it, which is what the evidence guard does.
        n: number of points fitted.
        level_map: ``(len(LEVELS),)`` nominal levels that cover each of :data:`LEVELS` on systems
            the prior never saw (:mod:`.recalibration`), or ``None``: intervals at their nominal
            level.
    """

    names: list[str]
    sigma: np.ndarray
    weights: np.ndarray
    means: np.ndarray
    covs: np.ndarray
    kappa: float = float("nan")
    log_evidence: float = float("nan")
    n: int = 0
    log_marginal: float = float("nan")
    level_map: np.ndarray | None = None

    @property
    def mean(self) -> np.ndarray:
        """Posterior mean of ``theta``, ``(p,)``."""
        return self.weights @ self.means

    @property
    def cov(self) -> np.ndarray:
        """Posterior covariance of ``theta`` (law of total covariance over the components)."""
        d = self.means - self.mean
        return np.einsum("j,jab->ab", self.weights, self.covs) + np.einsum("j,ja,jb->ab", self.weights, d, d)

    @property
    def noise_sd(self) -> float:
        """Posterior mean of the noise standard deviation of ``log Nu``."""
        return float(self.weights @ self.sigma)

    def predictive(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Component means and variances of the predictive of ``log Nu``: two ``(m, J)`` arrays."""
        X = np.atleast_2d(X)
        loc = X @ self.means.T
        var = np.einsum("ma,jab,mb->mj", X, self.covs, X) + self.sigma**2
        return loc, var

    def _by_rows(self, fn, X: np.ndarray, *per_row) -> np.ndarray:
        """``fn`` on the rows of ``X`` (and of each ``per_row`` array) in chunks, so that no
        ``(rows, components)`` array exceeds :data:`ROW_ELEMENTS`; the results concatenated."""
        X = np.atleast_2d(X)
        step = max(1, ROW_ELEMENTS // max(1, len(self.weights)))
        parts = [
            fn(X[i : i + step], *(np.asarray(a)[i : i + step] for a in per_row))
            for i in range(0, len(X), step)
        ]
        return np.concatenate(parts) if parts else np.zeros(0)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predictive mean of ``log Nu``, ``(m,)``: the point prediction (``Nu_pred`` is its exp),
        what every benchmark and the library validation score."""
        return self._by_rows(lambda x: self.predictive(x)[0] @ self.weights, X)

    def median(self, X: np.ndarray) -> np.ndarray:
        """Predictive median of ``log Nu``, ``(m,)`` (``Nu_median``): inside every central interval.
        For one Gaussian component it is the mean; for a mixture (a blend of two fits, a prior of
        several families) the two part where the components do (5 % at Pr 7 for a blend calibrated
        at Pr 0.7), and the mean can leave a narrow central interval."""
        return self.quantile(X, 0.5)

    def predictive_sd(self, X: np.ndarray) -> np.ndarray:
        return self._by_rows(self._predictive_sd, X)

    def _predictive_sd(self, X: np.ndarray) -> np.ndarray:
        loc, var = self.predictive(X)
        mean = loc @ self.weights
        return np.sqrt((var + (loc - mean[:, None]) ** 2) @ self.weights)

    def quantile(self, X: np.ndarray, q: float) -> np.ndarray:
        """The ``q`` quantile of the predictive of ``log Nu`` at each row of ``X``: Newton's method
        on the mixture's CDF from the moment-matched normal's quantile, kept inside a bracket that
        every step narrows (a step leaving it bisects instead); a handful of steps where bisection
        alone took fifty, each costing a pass over every component."""
        return self._by_rows(lambda x: self._quantile(x, q), X)

    def _quantile(self, X: np.ndarray, q: float) -> np.ndarray:
        loc, var = self.predictive(X)
        sd = np.sqrt(var)
        lo = (loc - 10 * sd).min(axis=1)
        hi = (loc + 10 * sd).max(axis=1)
        mean = loc @ self.weights
        x = mean + ndtri(q) * np.sqrt((var + (loc - mean[:, None]) ** 2) @ self.weights)
        x = np.clip(x, lo, hi)
        for _ in range(100):
            z = (x[:, None] - loc) / sd
            excess = ndtr(z) @ self.weights - q
            density = (np.exp(-0.5 * z**2) / sd) @ self.weights / np.sqrt(2 * np.pi)
            lo, hi = np.where(excess < 0, x, lo), np.where(excess < 0, hi, x)
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                step = x - excess / density
            # x itself is now one end of the bracket: a step onto it is convergence, kept
            step = np.where((step >= lo) & (step <= hi), step, (lo + hi) / 2)
            done = np.abs(step - x) <= 1e-12 * np.maximum(1.0, np.abs(x))
            x = step
            if done.all():
                break
        return x

    def cdf(self, X: np.ndarray, y: np.ndarray) -> np.ndarray:
        """The predictive probability of ``log Nu <= y`` at each row of ``X`` (a PIT value)."""
        return self._by_rows(self._cdf, X, y)

    def _cdf(self, X: np.ndarray, y: np.ndarray) -> np.ndarray:
        loc, var = self.predictive(X)
        return ndtr((np.asarray(y)[:, None] - loc) / np.sqrt(var)) @ self.weights

    def nominal_level(self, level: float) -> float:
        """The level of the predictive whose central interval holds ``level`` of new points: the
        recalibrated one when a :attr:`level_map` is set, else ``level`` itself."""
        if self.level_map is None:
            return level
        if not LEVELS[0] <= level <= LEVELS[-1]:
            # np.interp holds the end values beyond the grid: 0.999 got the 0.99 interval in silence
            raise ValueError(f"level: a recalibration maps {LEVELS[0]:g} to {LEVELS[-1]:g} only, got {level}")
        return float(np.interp(level, LEVELS, self.level_map))

    def interval(
        self, X: np.ndarray, level: float = 0.9, recalibrated: bool = True
    ) -> tuple[np.ndarray, np.ndarray]:
        """Central predictive interval of ``log Nu`` meant to hold ``level`` of new points (the
        predictive's own central ``level`` interval, or its recalibrated one, :attr:`level_map`;
        ``recalibrated=False``: always the own one)."""
        if not 0 < level < 1:
            raise ValueError(f"level: expected a probability between 0 and 1, got {level}")
        tail = (1 - (self.nominal_level(level) if recalibrated else level)) / 2
        return self.quantile(X, tail), self.quantile(X, 1 - tail)

    def log_density(self, X: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Predictive log density of observed ``log Nu`` values, ``(m,)``."""
        return self._by_rows(self._log_density, X, y)

    def _log_density(self, X: np.ndarray, y: np.ndarray) -> np.ndarray:
        loc, var = self.predictive(X)
        comp = -0.5 * (_LOG_2PI + np.log(var) + (np.asarray(y)[:, None] - loc) ** 2 / var)
        top = comp.max(axis=1, keepdims=True)
        return top[:, 0] + np.log(np.exp(comp - top) @ self.weights)


def scores(pred: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """``(RMSE of log Nu, MAPE of Nu in %)`` of predicted against observed ``log Nu``."""
    err = np.asarray(pred) - np.asarray(y)
    return float(np.sqrt(np.mean(err**2))), float(np.mean(np.abs(np.exp(err) - 1)) * 100)


def _logsumexp(a: np.ndarray, axis: int) -> np.ndarray:
    top = a.max(axis=axis, keepdims=True)
    return np.squeeze(top, axis) + np.log(np.exp(a - top).sum(axis=axis))


def fit(
    X: np.ndarray,
    y: np.ndarray,
    prior: GaussianPrior,
    noise: NoisePrior | None = None,
    *,
    kappa: float | None = None,
    kappa_sd: float = 1.5,
    sigma: np.ndarray | None = None,
    kappas: np.ndarray = KAPPA_GRID,
) -> Posterior:
    """Closed-form Bayesian fit of ``y ~ X theta`` under ``prior``, noise integrated out.

    Args:
        X: ``(n, p)`` log features; ``y``: ``(n,)`` log Nu.
        prior: the prior (Gaussian block, free and fixed parameters).
        noise: hyperprior of the noise; default :class:`NoisePrior()`.
        kappa: fix the prior width factor instead of integrating over it (``1`` uses the prior as
            stored).
        kappa_sd: standard deviation of the log-normal hyperprior on ``kappa``.
        sigma: the noise levels integrated over; default :func:`sigma_grid` of ``noise``.

    Raises:
        DataError: when the points cannot identify the free parameters (fewer points than free
            parameters, or a free variable that does not vary).
    """
    noise = noise or NoisePrior()
    sigma = sigma_grid(noise) if sigma is None else np.asarray(sigma, float)
    X, y = np.asarray(X, float), np.asarray(y, float)
    n, p = X.shape
    fixed, free, gauss = prior.fixed, prior.free, prior.gaussian
    use = ~fixed
    Xu = X[:, use]
    yu = y - X[:, fixed] @ prior.mean[fixed]
    q = Xu.shape[1]
    free_u, gauss_u = free[use], gauss[use]
    if free_u.any():
        Xf = Xu[:, free_u]
        if n < Xf.shape[1] or np.linalg.matrix_rank(Xf, tol=1e-8 * max(1.0, np.abs(Xf).max())) < Xf.shape[1]:
            names = [nm for nm, f in zip(prior.names, free) if f]
            raise DataError(
                f"{n} point(s) cannot determine the free parameters {', '.join(names)}: "
                f"give more points spread over each variable, or a prior (--init)"
            )

    m = prior.mean[use] * gauss_u
    if gauss_u.any():
        Sg = prior.cov[np.ix_(gauss & use, gauss & use)]
        Pg = np.linalg.inv(Sg)
        logdet_Pg = np.linalg.slogdet(Pg)[1]
    else:
        Pg, logdet_Pg = np.zeros((0, 0)), 0.0
    P1 = np.zeros((q, q))
    P1[np.ix_(gauss_u, gauss_u)] = Pg
    n_gauss = int(gauss_u.sum())
    kap = np.array([1.0]) if (kappa is not None or n_gauss == 0) else np.asarray(kappas, float)
    if kappa is not None:
        kap = np.array([float(kappa)])

    XtX, Xty, yty = Xu.T @ Xu, Xu.T @ yu, yu @ yu
    s2 = sigma**2
    # The posterior precision of each grid pair, A[k, j] = P / kappa_k + X^T X / sigma_j^2, is
    # diagonalised once for the whole grid: with B = P + X^T X = C C^T (positive definite when the
    # free parameters are identified, checked above) and C^-1 P C^-T = V diag(lam) V^T, W = C^-T V
    # gives W^T P W = diag(lam) and W^T X^T X W = diag(1 - lam), so A = W^-T diag(D) W^-1 with
    # D = lam / kappa + (1 - lam) / sigma^2. A thousand solves, inverses and determinants of small
    # matrices (a fit's time, and most of a recalibration's) become divisions by D.
    C = np.linalg.cholesky(P1 + XtX)
    C_inv = np.linalg.inv(C)
    lam, V = np.linalg.eigh(C_inv @ P1 @ C_inv.T)
    lam = np.clip(lam, 0.0, 1.0)
    W = C_inv.T @ V
    D = lam / kap[:, None, None] + (1 - lam) / s2[None, :, None]  # (K, J, q)
    # the posterior means in that basis, z = W^-1 mu with mu = A^-1 (P m / kappa + X^T y / sigma^2),
    # and the residual and prior terms of the evidence from them, all (K, J) element-wise
    W_Xty = W.T @ Xty
    z = ((W.T @ (P1 @ m)) / kap[:, None, None] + W_Xty / s2[None, :, None]) / D
    m_w = V.T @ (C.T @ m)  # W^-1 m
    rss = yty - 2 * z @ W_Xty + ((1 - lam) * z**2).sum(-1)  # |y - X mu|^2
    quad = (lam * (z - m_w) ** 2).sum(-1) / kap[:, None]  # (mu - m)^T P (mu - m) / kappa
    logdet_A = np.log(D).sum(-1) + 2 * np.log(np.diag(C)).sum()  # det A = det B prod D
    log_z = (
        -0.5 * n * (_LOG_2PI + np.log(s2))[None]
        + 0.5 * (logdet_Pg - n_gauss * np.log(kap))[:, None]
        - 0.5 * logdet_A
        - 0.5 * (rss / s2[None] + quad)
    )
    # the grid is uniform in log sigma, so its spacing is a constant that cancels everywhere
    joint = log_z + noise.log_weights(sigma)[None]
    evidence = _logsumexp(joint, axis=1)
    log_hyper = -0.5 * (np.log(kap) / kappa_sd) ** 2
    score = evidence + log_hyper if len(kap) > 1 else evidence
    if len(kap) > 1:
        log_w = log_hyper - _logsumexp(log_hyper, axis=0)
        log_marginal = float(_logsumexp(evidence + log_w, axis=0))
    else:
        log_marginal = float(evidence[0])
    k = int(np.argmax(score))
    # the posterior over (kappa, sigma) pairs: the hyperprior's weight of each width (normalised on
    # the grid) times the joint; a fixed width is the one pair row, every sigma kept as before
    post = joint + (log_w[:, None] if len(kap) > 1 else 0.0)
    w = np.exp(post - post.max()).ravel()
    w /= w.sum()
    if len(kap) > 1:
        order = np.argsort(w)[::-1]
        keep = np.sort(order[: int(np.searchsorted(np.cumsum(w[order]), 1 - DROPPED_MASS)) + 1])
    else:
        keep = np.arange(w.size)
    kk, jj = np.unravel_index(keep, post.shape)

    means = np.tile(prior.mean * fixed, (len(keep), 1))
    means[:, use] = z[kk, jj] @ W.T
    covs = np.zeros((len(keep), p, p))
    idx = np.flatnonzero(use)
    covs[:, idx[:, None], idx[None, :]] = (W / D[kk, jj][:, None, :]) @ W.T  # A^-1 = W D^-1 W^T
    return Posterior(
        names=list(prior.names),
        sigma=np.asarray(sigma)[jj],
        weights=w[keep] / w[keep].sum(),
        means=means,
        covs=covs,
        kappa=float(kap[k]) if n_gauss else float("nan"),
        log_evidence=float(evidence[k]),
        n=n,
        log_marginal=log_marginal,
    )
