"""Pre-training a surrogate prior on simple systems, in closed form: a hierarchical Gaussian.

Each textbook correlation (:mod:`.correlations`) is sampled over its validity range with
log-normal noise (:func:`.data.sample_correlation`) and fitted by least squares in log space,
``log Nu = log C + a log Re + b log Pr``, giving per system ``s`` an estimate ``theta_s`` and its
covariance ``V_s = s_s^2 (X^T X)^-1`` (``s_s`` the residual scatter, which also absorbs how far a
non-power-law form such as Gnielinski's is from a power law over its range). A rough-wall
correlation gives one system per relative roughness of :data:`.correlations.ROUGHNESS_GRID` inside
its range (a channel of fixed geometry, whose roughness effect is in its ``C`` and exponents).

The prior over a new system's ``theta`` treats it as one more draw from the population of systems
(the upper level of a two-level model ``theta_s ~ N(m, Sigma)``, ``theta_hat_s ~ N(theta_s, V_s)``),
with weights ``w_s`` that give every *correlation* the same total weight (its roughness values
share it, so a correlation sampled at five roughnesses does not count five times; the two
arrangements of a tube-bank source share one weight likewise):

.. math::

    m = \\sum_s w_s \\theta_s,\\qquad
    \\Sigma = \\underbrace{\\frac{\\sum_s w_s (\\theta_s - m)(\\theta_s - m)^\\top}{1 - \\sum_s w_s^2}}_{\\text{spread across systems}}
    + \\underbrace{\\sum_s w_s V_s}_{\\text{fit uncertainty}}

(the surrogate's counterpart of an EWC Fisher: a mean and a *full* covariance, stored with the
model). The full covariance matters: across systems ``log C`` and ``a`` are strongly
anti-correlated (a laminar law has a large ``C`` and ``a = 1/2``), so a posterior under it moves
``C`` and the exponents together the way the population does. :func:`spread` states the prior in
the law's own terms (``a = 0.80 ± 0.05``).
Geometric ratios ``g_i`` do not exist in these systems (each is one fixed geometry): their exponents get an independent
``N(0, group_sd^2)`` prior ("no effect unless the data say so"; 0.5 makes an exponent of 1 a
two-sigma event).

:func:`family_mixture` learns the same Gaussian once per family instead (flat plate, smooth pipe,
rough pipe, bluff body) and keeps them as a mixture (:mod:`.mixture`), so that a laminar plate's
``a = 1/2``, a rough tube's ``a ~ 0.9`` and a bluff body's ``a ~ 0.6`` are not averaged into one
broad bump; a calibration then weighs
the families by their marginal likelihoods on the points.

How much of this prior a calibration uses is the task's choice (:mod:`.calibrate`): by default the
exponents transfer and the constant ``C`` does not (a ribbed channel's ``C`` is set by its ribs,
which no smooth system knows).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .correlations import PR_SAMPLING_CAP, ROUGHNESS_GRID, select
from .correlations.base import Correlation
from .data import sample_correlation
from .mixture import MixturePrior
from .objectives import GaussianPrior

BASE_NAMES = ["log_C", "Re", "Pr"]
PRIOR_FORMS = ("gaussian", "mixture")


@dataclass
class SystemFit:
    """The power-law fit of one textbook correlation."""

    correlation: Correlation
    n: int
    theta: np.ndarray
    cov: np.ndarray
    residual_sd: float
    ed: float | None = None
    weight: float = 1.0

    @property
    def key(self) -> str:
        c = self.correlation
        return c.key if self.ed is None else f"{c.key}@e/D={self.ed:g}"

    def as_dict(self) -> dict:
        c = self.correlation
        return {
            "key": self.key,
            "correlation": c.key,
            "e_D": self.ed,
            "weight": self.weight,
            "fitted_on": c.fitted_on,
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


def fit_system(
    corr: Correlation, n: int, noise: float, rng: np.random.Generator, ed: float | None = None
) -> SystemFit:
    """Sample ``corr`` (at roughness ``ed``) and fit a power law by least squares in log space."""
    pts = sample_correlation(corr, n, noise, rng, ed)
    X, y = pts.features(), pts.log_nu
    theta, *_ = np.linalg.lstsq(X, y, rcond=None)
    r = y - X @ theta
    s2 = float(r @ r) / (n - X.shape[1])
    return SystemFit(corr, n, theta, s2 * np.linalg.inv(X.T @ X), float(np.sqrt(s2)), ed)


def roughnesses(corr: Correlation) -> list[float | None]:
    """The ``e/D`` values a correlation is sampled at: ``[None]`` for a smooth wall."""
    if not corr.rough:
        return [None]
    lo, hi = corr.ed_range
    return [e for e in ROUGHNESS_GRID if lo <= e <= hi]


def fit_systems(systems: list[str], points_per_system: int, noise: float, seed: int) -> list[SystemFit]:
    """Fit every system of the correlations named by ``systems`` (keys or families), reproducibly
    from ``seed``; each correlation's systems share a total weight of its ``share`` (1, or 1/2 for
    each arrangement of a tube-bank source)."""
    jobs = [(c, ed) for c in select(systems) for ed in roughnesses(c)]
    streams = np.random.SeedSequence(seed).spawn(len(jobs))
    fits = [
        fit_system(c, points_per_system, noise, np.random.default_rng(s), ed)
        for (c, ed), s in zip(jobs, streams)
    ]
    for f in fits:
        f.weight = f.correlation.share / len(roughnesses(f.correlation))
    return fits


def population_prior(
    fits: list[SystemFit], groups: list[str] | tuple[str, ...] = (), group_sd: float = 0.5
) -> GaussianPrior:
    """The Gaussian over ``(log C, a, b, c_groups...)`` described in the module docstring."""
    thetas = np.array([f.theta for f in fits])
    w = np.array([f.weight for f in fits], float)
    w = w / w.sum()
    mean = w @ thetas
    d = thetas - mean
    # weighted sample covariance, unbiased for "reliability" weights (equal weights: ddof = 1)
    spread = (d.T * w) @ d / (1 - w @ w) if len(fits) > 1 else np.zeros((3, 3))
    cov = spread + np.einsum("s,sab->ab", w, np.array([f.cov for f in fits]))
    k = len(groups)
    full_mean = np.concatenate([mean, np.zeros(k)])
    full_cov = np.zeros((3 + k, 3 + k))
    full_cov[:3, :3] = cov
    full_cov[3:, 3:] = np.eye(k) * group_sd**2
    return GaussianPrior(BASE_NAMES + list(groups), full_mean, full_cov)


def family_mixture(
    fits: list[SystemFit], groups: list[str] | tuple[str, ...] = (), group_sd: float = 0.5
) -> MixturePrior:
    """One :func:`population_prior` per family, equal prior weights (:mod:`.mixture`)."""
    families = list(dict.fromkeys(f.correlation.family for f in fits))
    components = [
        population_prior([f for f in fits if f.correlation.family == fam], groups, group_sd)
        for fam in families
    ]
    return MixturePrior(families, components, np.ones(len(families)))


def spread(prior: GaussianPrior | MixturePrior, level: float = 0.9) -> list[str]:
    """The prior in the law's own terms: ``C = 0.021 (x/÷ 3.1)``, ``a = 0.79 ± 0.14``, ...

    ``±`` is one standard deviation; ``x/÷`` is the multiplicative factor ``exp(sd of log C)``.
    A mixture gives one line per family, ``family (weight): C = ..., a = ..., ...``.
    """
    if isinstance(prior, MixturePrior):
        return [
            f"{label} ({w:.2g}): " + ", ".join(spread(c, level))
            for label, c, w in zip(prior.labels, prior.components, prior.weights)
        ]
    sd = np.sqrt(np.clip(np.diag(prior.cov), 0, None))
    symbols = {"Re": "a", "Pr": "b"}
    out = [f"C = {np.exp(prior.mean[0]):.3g} (x/÷ {np.exp(sd[0]):.3g})"]
    for name, m, s in zip(prior.names[1:], prior.mean[1:], sd[1:]):
        out.append(f"{symbols.get(name, 'c_' + name)} = {m:.2f} ± {s:.2f}")
    return out


def sources(systems: list[dict]) -> list[dict]:
    """Each correlation behind ``systems`` (:meth:`SystemFit.as_dict`, or a run's stored
    ``systems``) once, in their order: its key, family and source (the citation a report lists)."""
    seen: dict[str, dict] = {}
    for s in systems:
        if isinstance(s, dict) and s.get("source"):
            key = s.get("correlation") or s.get("key")
            seen.setdefault(key, {"correlation": key, "family": s.get("family", ""), "source": s["source"]})
    return list(seen.values())


def source_lines(systems: list[dict]) -> list[str]:
    """:func:`sources` as Markdown list items."""
    return [f"- `{s['correlation']}` ({s['family']}): {s['source']}" for s in sources(systems)]


def validity_box(fits: list[SystemFit]) -> list[dict]:
    """The (Re, Pr) boxes the prior was learnt on, one per system: each correlation's ranges, Pr
    capped where the sampling caps it (:data:`.correlations.PR_SAMPLING_CAP`: a correlation valid
    to Pr 16,700 taught the prior nothing of oils above 100)."""
    return [
        {
            "key": f.key,
            "re": list(f.correlation.re_range),
            "pr": [f.correlation.pr_range[0], min(f.correlation.pr_range[1], PR_SAMPLING_CAP)],
        }
        for f in fits
    ]


def learn_prior(
    cfg, groups: list[str] | tuple[str, ...] = (), form: str = "gaussian"
) -> tuple[GaussianPrior | MixturePrior, list[SystemFit]]:
    """The prior a :class:`.presets.SurrogatePretrainConfig` describes, and the fits behind it:
    ``form="gaussian"`` one Gaussian over every system, ``"mixture"`` one per family."""
    if form not in PRIOR_FORMS:
        raise ValueError(f"form must be one of {PRIOR_FORMS}")
    fits = fit_systems(list(cfg.systems), cfg.points_per_system, cfg.noise, cfg.train.seed)
    if form == "mixture":
        return family_mixture(fits, groups, cfg.group_sd), fits
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
    matched over its components), so calibrations can be chained as new points arrive. Groups the
    export does not know get ``N(0, group_sd^2)``; parameters the export holds exactly (zero
    variance: a scratch fit exported before its held exponents kept the reference width) stay
    fixed, and a scratch fit's held exponents now come back Gaussian with that width.
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
