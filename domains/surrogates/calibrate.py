"""Calibrating a surrogate on a few points: prior-informed fit, scratch fit, and the guard.

Two fits of the same power law are made on the user's points:

- **prior-informed**: the pre-trained Gaussian prior (:mod:`.pretrain`), with its width factor
  chosen by evidence (:func:`.objectives.fit`). ``transfer="exponents"`` (default) transfers the
  exponents and leaves ``log C`` free: the constant of a complex system (ribs, pins, dimples) is
  what pre-training on smooth systems cannot know, while the exponents carry the flow physics.
  ``transfer="all"`` also transfers ``log C``.
- **scratch**: no pre-training. A power law with ``p`` parameters cannot be fitted to fewer than
  ``p`` points, so scratch frees parameters in the order ``log C, a (Re), b (Pr), c_i (groups)``
  while there are points for them and the variable varies, and holds the rest at the textbook
  Dittus-Boelter values ``a = 0.8, b = 0.4, c_i = 0``. With one point scratch is therefore the
  engineer's "enhancement factor over Dittus-Boelter"; with two points at one Pr it is a free
  ``C Re^a`` at ``b = 0.4``.

**Negative-transfer guard.** The two are compared by leave-one-out: each point is predicted by both
procedures re-run (prior width re-chosen, scratch convention re-applied) on the other points, and
the log predictive densities are summed (ELPD-LOO, a proper score: it rewards accuracy and honest
intervals together). Scratch is kept only when its ELPD exceeds the prior-informed one by more than
``margin`` nats per point times the number of points, so that noise alone does not switch a
well-founded prior off; otherwise the prior-informed fit is kept. With one point there is nothing
to leave out: the prior-informed fit is kept and the report says the guard could not check it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .objectives import GaussianPrior, NoisePrior, Posterior, fit

TEXTBOOK = {"Re": 0.8, "Pr": 0.4}  # Dittus-Boelter: what scratch holds an unidentifiable exponent at
TRANSFERS = ("exponents", "all")
SPREAD_TOL = 1e-3  # a log-variable whose range is below this does not "vary"


def varies(column: np.ndarray) -> bool:
    return bool(np.ptp(column) > SPREAD_TOL) if len(column) else False


def _rank(A: np.ndarray) -> int:
    return int(np.linalg.matrix_rank(A, tol=1e-8 * max(1.0, np.abs(A).max())))


def scratch_prior(X: np.ndarray, names: list[str]) -> GaussianPrior:
    """Free what ``X`` can identify (in the order of ``names``), fix the rest at textbook values."""
    n, p = X.shape
    free = np.zeros(p, bool)
    free[0] = n > 0
    for j in range(1, p):
        # a variable is freed only if it adds a direction the points can see (it varies, and not in
        # lock-step with the variables already free) and there is a point left to pay for it
        trial = free.copy()
        trial[j] = True
        if trial.sum() <= n and varies(X[:, j]) and _rank(X[:, trial]) == trial.sum():
            free[j] = True
    mean = np.array([0.0] + [TEXTBOOK.get(nm, 0.0) for nm in names[1:]])
    return GaussianPrior(list(names), mean, np.zeros((p, p)), free=free, fixed=~free)


def transfer_prior(prior: GaussianPrior, transfer: str = "exponents") -> GaussianPrior:
    """The pre-trained prior as a calibration uses it (see the module docstring)."""
    if transfer not in TRANSFERS:
        raise ValueError(f"transfer must be one of {TRANSFERS}")
    free = np.zeros(len(prior.names), bool)
    if transfer == "exponents":
        free[0] = True
    return GaussianPrior(prior.names, prior.mean, prior.cov, free=free, fixed=prior.fixed & ~free)


@dataclass
class GuardResult:
    """The guard's decision and the evidence for it."""

    choice: str  # "prior" or "scratch"
    reason: str
    elpd: dict[str, float] = field(default_factory=dict)
    loo_rmse: dict[str, float] = field(default_factory=dict)


@dataclass
class Calibration:
    """Both fits, the guard's decision, and the fit it keeps."""

    prior_fit: Posterior | None
    scratch_fit: Posterior
    guard: GuardResult

    @property
    def chosen(self) -> Posterior:
        return self.prior_fit if self.guard.choice == "prior" else self.scratch_fit


def loo(
    X: np.ndarray, y: np.ndarray, procedure: Callable[[np.ndarray, np.ndarray], Posterior]
) -> tuple[np.ndarray, np.ndarray]:
    """Leave-one-out log predictive densities and errors (in log Nu) of a fitting procedure."""
    n = len(y)
    lpd, err = np.empty(n), np.empty(n)
    for i in range(n):
        keep = np.arange(n) != i
        post = procedure(X[keep], y[keep])
        lpd[i] = post.log_density(X[i : i + 1], y[i : i + 1])[0]
        err[i] = post.predict(X[i : i + 1])[0] - y[i]
    return lpd, err


def calibrate(
    X: np.ndarray,
    y: np.ndarray,
    names: list[str],
    prior: GaussianPrior | None,
    *,
    transfer: str = "exponents",
    noise: NoisePrior | None = None,
    margin: float = 0.0,
    guard: bool = True,
) -> Calibration:
    """Fit scratch and (if ``prior``) prior-informed laws on ``(X, y)``; let the guard choose.

    Args:
        X: ``(n, p)`` log features ``[1, log Re, log Pr, log g...]``; ``y``: ``(n,)`` log Nu.
        names: parameter names (those of ``prior`` when given).
        prior: the pre-trained prior, or ``None`` for scratch only.
        transfer: ``"exponents"`` or ``"all"`` (see the module docstring).
        noise: the noise hyperprior.
        margin: nats per point by which scratch must beat the prior in ELPD-LOO to be chosen.
        guard: run the leave-one-out comparison (``False`` keeps the prior-informed fit).
    """
    noise = noise or NoisePrior()

    def scratch_proc(Xs, ys):
        return fit(Xs, ys, scratch_prior(Xs, names), noise)

    scratch = scratch_proc(X, y)
    if prior is None:
        return Calibration(None, scratch, GuardResult("scratch", "no prior was given (--init none)"))
    informed = transfer_prior(prior, transfer)

    def prior_proc(Xs, ys):
        return fit(Xs, ys, informed, noise)

    prior_fit = prior_proc(X, y)
    n = len(y)
    if not guard:
        return Calibration(prior_fit, scratch, GuardResult("prior", "guard switched off"))
    if n < 2:
        return Calibration(
            prior_fit,
            scratch,
            GuardResult(
                "prior",
                "one point leaves nothing to hold out: the guard cannot check the prior, which is kept",
            ),
        )
    lpd_p, err_p = loo(X, y, prior_proc)
    lpd_s, err_s = loo(X, y, scratch_proc)
    elpd = {"prior": float(lpd_p.sum()), "scratch": float(lpd_s.sum())}
    rmse = {"prior": float(np.sqrt(np.mean(err_p**2))), "scratch": float(np.sqrt(np.mean(err_s**2)))}
    diff = elpd["scratch"] - elpd["prior"]
    if diff > margin * n:
        choice = "scratch"
        reason = (
            f"leave-one-out: scratch predicts the held-out points better than the prior-informed "
            f"fit (ELPD {elpd['scratch']:.2f} vs {elpd['prior']:.2f} nats, LOO RMSE of log Nu "
            f"{rmse['scratch']:.3f} vs {rmse['prior']:.3f}): the prior hurts (negative transfer)"
        )
    else:
        choice = "prior"
        reason = (
            f"leave-one-out: the prior-informed fit predicts the held-out points at least as well "
            f"as scratch (ELPD {elpd['prior']:.2f} vs {elpd['scratch']:.2f} nats, LOO RMSE of "
            f"log Nu {rmse['prior']:.3f} vs {rmse['scratch']:.3f})"
        )
    return Calibration(prior_fit, scratch, GuardResult(choice, reason, elpd, rmse))
