"""Pre-training a surrogate prior on simple systems, in closed form.

Each textbook correlation (:mod:`.correlations`) is sampled over its validity range with
log-normal noise (:func:`.data.sample_correlation`) and fitted by least squares in log space,
``log Nu = log C + a log Re + b log Pr``, giving per system ``s`` an estimate ``theta_s`` and its
covariance ``V_s = s_s^2 (X^T X)^-1`` (``s_s`` the residual scatter, which also absorbs how far a
non-power-law form such as Gnielinski's is from a power law over its range).

The prior over a new system's ``theta`` treats it as one more draw from the population of systems:

.. math::

    m = \\frac{1}{S}\\sum_s \\theta_s,\\qquad
    \\Sigma = \\underbrace{\\frac{1}{S-1}\\sum_s (\\theta_s - m)(\\theta_s - m)^\\top}_{\\text{spread across systems}}
    + \\underbrace{\\frac{1}{S}\\sum_s V_s}_{\\text{fit uncertainty}}

(the surrogate's counterpart of an EWC Fisher: a mean and a covariance, stored with the model).
Geometric ratios ``g_i`` do not exist in these smooth systems: their exponents get an independent
``N(0, group_sd^2)`` prior ("no effect unless the data say so"; 0.5 makes an exponent of 1 a
two-sigma event).

How much of this prior a calibration uses is the task's choice (:mod:`.calibrate`): by default the
exponents transfer and the constant ``C`` does not (a ribbed channel's ``C`` is set by its ribs,
which no smooth system knows).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .correlations import Correlation, select
from .data import sample_correlation
from .objectives import GaussianPrior

BASE_NAMES = ["log_C", "Re", "Pr"]


@dataclass
class SystemFit:
    """The power-law fit of one textbook correlation."""

    correlation: Correlation
    n: int
    theta: np.ndarray
    cov: np.ndarray
    residual_sd: float

    def as_dict(self) -> dict:
        c = self.correlation
        return {
            "key": c.key,
            "family": c.family,
            "form": c.form,
            "source": c.source,
            "re_range": list(c.re_range),
            "pr_range": list(c.pr_range),
            "points": self.n,
            "C": float(np.exp(self.theta[0])),
            "a": float(self.theta[1]),
            "b": float(self.theta[2]),
            "residual_sd": self.residual_sd,
        }


def fit_system(corr: Correlation, n: int, noise: float, rng: np.random.Generator) -> SystemFit:
    """Sample ``corr`` and fit a power law to it by ordinary least squares in log space."""
    pts = sample_correlation(corr, n, noise, rng)
    X, y = pts.features(), pts.log_nu
    theta, *_ = np.linalg.lstsq(X, y, rcond=None)
    r = y - X @ theta
    s2 = float(r @ r) / (n - X.shape[1])
    return SystemFit(corr, n, theta, s2 * np.linalg.inv(X.T @ X), float(np.sqrt(s2)))


def fit_systems(systems: list[str], points_per_system: int, noise: float, seed: int) -> list[SystemFit]:
    """Fit every correlation named by ``systems`` (keys or families), reproducibly from ``seed``."""
    chosen = select(systems)
    streams = np.random.SeedSequence(seed).spawn(len(chosen))
    return [
        fit_system(c, points_per_system, noise, np.random.default_rng(s)) for c, s in zip(chosen, streams)
    ]


def population_prior(
    fits: list[SystemFit], groups: list[str] | tuple[str, ...] = (), group_sd: float = 0.5
) -> GaussianPrior:
    """The Gaussian over ``(log C, a, b, c_groups...)`` described in the module docstring."""
    thetas = np.array([f.theta for f in fits])
    mean = thetas.mean(axis=0)
    spread = np.cov(thetas.T, ddof=1) if len(fits) > 1 else np.zeros((3, 3))
    cov = spread + np.mean([f.cov for f in fits], axis=0)
    k = len(groups)
    full_mean = np.concatenate([mean, np.zeros(k)])
    full_cov = np.zeros((3 + k, 3 + k))
    full_cov[:3, :3] = cov
    full_cov[3:, 3:] = np.eye(k) * group_sd**2
    return GaussianPrior(BASE_NAMES + list(groups), full_mean, full_cov)


def validity_box(fits: list[SystemFit]) -> list[dict]:
    """The (Re, Pr) boxes the prior was learnt on, one per system."""
    return [
        {"key": f.correlation.key, "re": list(f.correlation.re_range), "pr": list(f.correlation.pr_range)}
        for f in fits
    ]


def learn_prior(cfg, groups: list[str] | tuple[str, ...] = ()) -> tuple[GaussianPrior, list[SystemFit]]:
    """The prior a :class:`.presets.SurrogatePretrainConfig` describes, and the fits behind it."""
    fits = fit_systems(list(cfg.systems), cfg.points_per_system, cfg.noise, cfg.train.seed)
    return population_prior(fits, groups, cfg.group_sd), fits


def inside_validity(re: np.ndarray, pr: np.ndarray, boxes: list[dict]) -> np.ndarray:
    """Whether each point lies in the (Re, Pr) validity box of at least one pre-training system."""
    inside = np.zeros(len(re), bool)
    for box in boxes:
        inside |= (re >= box["re"][0]) & (re <= box["re"][1]) & (pr >= box["pr"][0]) & (pr <= box["pr"][1])
    return inside


def prior_from_export(
    path, groups: list[str] | tuple[str, ...] = (), group_sd: float = 0.5
) -> tuple[GaussianPrior, dict]:
    """The law-parameter distribution stored in an exported surrogate, as a prior over
    ``(log C, a, b, c_groups...)``.

    A prior run gives its pre-trained Gaussian; a calibrated run gives its posterior (moment-
    matched over the noise grid), so calibrations can be chained as new points arrive. Groups the
    export does not know get ``N(0, group_sd^2)``; parameters the export holds exactly (a scratch
    fit's textbook exponents) stay fixed.
    """
    from sciPT.checkpoint import from_pretrained
    from sciPT.errors import DataError

    pre = from_pretrained(path, domain="surrogates")
    model = pre.model
    post = model.posterior()
    p_old = len(model.names)
    mean, cov = post.mean[:p_old], post.cov[:p_old, :p_old]
    extra = [g for g in model.groups if g not in groups]
    if extra:
        raise DataError(f"{path}: the model has the geometric ratio '{extra[0]}', which the points lack")
    names = BASE_NAMES + list(groups)
    index = [model.names.index(n) if n in model.names else -1 for n in names]
    new_mean = np.zeros(len(names))
    new_cov = np.eye(len(names)) * group_sd**2
    for i, oi in enumerate(index):
        if oi < 0:
            continue
        new_mean[i] = mean[oi]
        for j, oj in enumerate(index):
            if oj >= 0:
                new_cov[i, j] = cov[oi, oj]
    fixed = np.diag(new_cov) <= 1e-14
    return GaussianPrior(names, new_mean, new_cov, fixed=fixed), pre.config
