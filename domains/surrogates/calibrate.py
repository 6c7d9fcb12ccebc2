"""Calibrating a surrogate on a few points: prior-informed fit, scratch fit, and the guard.

Two fits of the same power law are made on the user's points:

- **prior-informed**: the pre-trained prior (:mod:`.pretrain`), its width factor integrated out
  under its hyperprior (:func:`.objectives.fit`); a one-Gaussian-per-family mixture prior (:mod:`.mixture`) is
  calibrated by its Bayesian model average, each family weighted by its marginal likelihood. ``transfer="exponents"`` (default) transfers the
  exponents and leaves ``log C`` free: the constant of a complex system (ribs, pins, dimples) is
  what pre-training on smooth systems cannot know, while the exponents carry the flow physics.
  ``transfer="all"`` also transfers ``log C``.
- **scratch**: no pre-training. A power law with ``p`` parameters cannot be fitted to fewer than
  ``p`` points, so scratch frees parameters in the order ``log C, a (Re), b (Pr), c_i (groups)``
  while there are points for them and the variable varies, and holds the rest at the textbook
  Dittus-Boelter values ``a = 0.8, b = 0.4, c_i = 0``. With one point scratch is therefore the
  engineer's "enhancement factor over Dittus-Boelter"; with two points at one Pr it is a free
  ``C Re^a`` at ``b = 0.4``. A held exponent is held at its mean, not exactly: it keeps the
  reference prior's width (below), so scratch's intervals at a Re or Pr its points never visited
  widen as far as the textbook value is unknown (held exactly, they stayed as narrow there as at
  the points: on library systems calibrated at Pr 0.7, 29-65 % of points at Pr 3 and 7 inside a
  90 % interval; ``benchmarks/surrogate_prandtl.py``). The point predictions are the same either
  way.

**Negative-transfer guard.** Two rules, ``guard_rule``:

- ``"evidence"``: the marginal likelihood (evidence) of each model, a Bayes factor. It
  judges a slope from n = 2 on, where leave-one-out cannot: leave-one-out on two points re-fits
  scratch on one point, where it is the fixed-exponent convention, not the free-slope fit it is at
  two. An evidence needs a proper prior on what it integrates, so for the comparison scratch's
  exponents, free or held, get the *reference prior* fixed in advance, Dittus-Boelter-centred and wide
  (:data:`REFERENCE_SD`: ``a, b ~ N(0.8, 0.3^2), N(0.4, 0.3^2)``, a group exponent ``N(0, 0.5^2)``:
  "turbulent forced convection, nothing more"), and with ``transfer="exponents"`` ``log C`` is
  free in both models (the same improper flat prior, whose constant cancels in the ratio). With
  ``transfer="all"`` (and a calibrated run as ``--init``) the guard judges the prior the kept fit
  used, C included: judged by its exponents alone, as it was until 2026-12, a transferred C the
  points contradicted was never weighed. Scratch's flat prior on ``log C`` then counts at the
  density :attr:`.objectives.Posterior.log_marginal` gives it, ``(2 pi)^(-1/2)`` per unit of
  ``log C``: a convention the Bayes factor depends on, where with C free in both it cancels. Both evidences
  integrate a width factor ``kappa`` under the same log-normal hyperprior: the prior-informed
  model's scales the learnt prior, scratch's the reference prior (whose ``REFERENCE_SD`` are thus
  the widths at ``kappa = 1``, not a fixed width). Scratch is kept when
  its log evidence exceeds the prior-informed one by more than ``margin * n`` nats; a tie keeps the
  prior. With one point both evidences are equal (``log C`` absorbs the point whatever the
  exponents), so the prior is kept, and the report says so.
- ``"loo"``: leave-one-out ELPD of both procedures re-run on each ``n - 1`` subset (a
  proper score of accuracy and intervals together); scratch kept when it wins by more than
  ``margin * n`` nats. From n = 2 only, and blind to slopes at n = 2 for the reason above; yet on
  the library validation (synthetic series of systems of a family the prior never saw,
  ``benchmarks/surrogate_calibration.py``) it gave lower errors than the evidence rule at n = 2 and
  in extrapolation from the two lowest Re, which is why it was the default before ``"blend"``: the evidence judges
  the prior's exponents against a wide reference prior and keeps them whenever they are
  plausible, while leave-one-out asks which *procedure* predicts a new point better.
- ``"blend"`` (default, :data:`DEFAULT_GUARD_RULE`, the library validation's choice among these
  rules with either prior form): the same leave-one-out ELPDs, used as weights instead of a verdict: the kept model
  is the mixture of the two posteriors, the prior-informed one weighted
  ``w = exp(ELPD_prior) / (exp(ELPD_prior) + exp(ELPD_scratch))`` (pseudo-Bayesian model averaging,
  Yao, Vehtari, Simpson & Gelman, *Bayesian Analysis* 13, 917 (2018)); a ``margin`` handicaps
  scratch by ``margin * n`` nats, ``w = 1 / (1 + exp(ELPD_scratch - ELPD_prior - margin * n))``,
  as it does in the two hard rules. A hard choice on two or
  three points throws away the model that was nearly as good, and the two err in different
  directions when extrapolating (the prior's slope is the population's, scratch's the two points'),
  so their average is rarely worse than the worse of them and often better than both. With one
  point the prior is kept, as with ``"loo"``.
- ``"pseudo-bma+"`` and ``"stacking"``: the same blend, its weight set otherwise from the same
  per-point held-out densities (Yao et al. 2018, sections 3.1 and 3.2). Pseudo-BMA+ averages
  pseudo-BMA's weight over Bayesian-bootstrap reweightings of the points (Dirichlet(1, ..., 1)
  weights ``alpha``, ``w_b = sigmoid(n sum_i alpha_i (lpd_prior_i - lpd_scratch_i))``, the mean of
  :data:`BOOTSTRAP_DRAWS` draws from a fixed seed): where two or three points disagree about which
  fit predicts better, the weight moves towards one half instead of following their sum. Stacking
  takes the weight that maximises the held-out log density of the mixture itself, ``sum_i log(w
  p_prior_i + (1 - w) p_scratch_i)`` (concave in ``w``; 0 or 1 where one fit predicts every point
  better). A ``margin`` handicaps scratch's density at each point by ``margin`` nats in both.
  Both are candidates of the library validation; at n = 2 leave-one-out is symmetric (each point
  predicted from the other alone, by a fit whose ``log C`` absorbs it, errs by the same slope times
  the same distance), so both points gain alike: pseudo-BMA+ then equals pseudo-BMA and stacking
  the hard ``"loo"`` rule; they part from ``"blend"`` from three points on. The blend's own
  recalibration map (:mod:`.recalibration`) was learnt on ``"blend"``'s mixtures with the default
  correction and no margin (:data:`RECALIBRATED_GUARD`), so only those take it: another rule, margin
  or correction takes the kept fit's own map where its weight keeps one fit whole (0 or 1) and the
  mean of the two fits' maps weighted as the fits in between, which held more than its level for
  ``"blend"`` (95 % for 90 % at n = 2); :attr:`Calibration.level_map_from` says which.

Both leave-one-out rules re-fit scratch on ``n - 1`` points with an exponent it cannot fit there
held *exactly* (``loo_held="exact"``): the convention scored as a procedure. Holding it with the
reference width instead (``"width"``) was a candidate of the library validation and lost on its
rule (a lower weight for the prior, which cost most in extrapolation from two close points), so
only the kept scratch fit, whose intervals users read, carries the width.

Leave-one-out scores each procedure re-fitted on ``n - 1`` points, but the fits the guard keeps are
made on ``n``; a procedure that gains much from one more point (scratch, whose slope from two points
is the least sure) is judged by a worse version of itself than the one kept
(``benchmarks/surrogate_guard_n.py`` measures it at n = 3 on the library). ``loo_correction="burman"``
adds Burman's correction to each point's held-out log density (Burman, *Biometrika* 76, 503 (1989)):
``lpd_i + log p_full(y_i) - sum_k (n_k / n) log p_-k(y_i)``, the full fit's density at the point
minus the held-out fits' densities there averaged over the held-out sets (``n_k`` points each), which
removes the first-order difference between a procedure on ``n - 1`` points and on ``n``. That
difference is one of sample size only while the procedure fits the same form at ``n - 1`` points
as at ``n``; scratch frees an exponent once there are points to pay for it, so without one of two
points it is the fixed-slope convention and with both a free slope, and the correction then
credits it with the change of form. ``"burman-same-form"`` corrects both procedures' densities
only where scratch frees the same parameters without each held-out set as with every point (from
three points at one Pr when those left without any one still span Re; from two replicates at one Re, where
scratch fits C alone either way; never two points at two Re), and neither otherwise. It is the default
(:data:`DEFAULT_LOO_CORRECTION`): equal to the plain blend at one and two points, it was told apart
from it by the library validation's three-point tie-break (median MAPE 3.77 % against 3.86 %;
``benchmarks/RESULTS_surrogate.md``). The plain correction, ``"burman"``, lost by the validation's
rule, in extrapolation from two close points; ``"none"`` is the plain leave-one-out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from .independence import COLLINEAR_TOL, unexplained_fraction
from .mixture import MixturePrior, fit_mixture
from .objectives import GaussianPrior, NoisePrior, Posterior, fit

if TYPE_CHECKING:
    from .recalibration import IntervalRecalibration

TEXTBOOK = {"Re": 0.8, "Pr": 0.4}  # Dittus-Boelter: what scratch holds an unidentifiable exponent at
TRANSFERS = ("exponents", "all")
GUARD_RULES = ("evidence", "loo", "blend", "pseudo-bma+", "stacking")
BLENDS = ("blend", "pseudo-bma+", "stacking")  # the rules whose kept model is a mixture of both fits
BLEND_WORDS = {"blend": "pseudo-BMA", "pseudo-bma+": "pseudo-BMA+", "stacking": "stacking"}
# pseudo-BMA+'s Bayesian-bootstrap reweightings (drawn from a fixed seed: the weight is reproducible)
BOOTSTRAP_DRAWS = 1000
# chosen on the library validation (benchmarks/surrogate_calibration.py, VALIDATION_RULE)
DEFAULT_GUARD_RULE = "blend"
DEFAULT_PRIOR_FORM = "mixture"
HELD = ("width", "exact")
DEFAULT_LOO_HELD = "exact"
LOO_CORRECTIONS = ("none", "burman", "burman-same-form")
DEFAULT_LOO_CORRECTION = "burman-same-form"
# the guard whose blends the recalibration's "blend" map was learnt on (:mod:`.recalibration`)
RECALIBRATED_GUARD = {
    "guard_rule": "blend",
    "margin": 0.0,
    "loo_held": DEFAULT_LOO_HELD,
    "loo_correction": DEFAULT_LOO_CORRECTION,
}
# the reference prior scratch's free exponents get when its evidence is computed (fixed in advance;
# its width factor integrated under the hyperprior, as the prior-informed model's is)
REFERENCE_SD = {"Re": 0.3, "Pr": 0.3}
GROUP_REFERENCE_SD = 0.5
SPREAD_TOL = 1e-3  # a log-variable whose range is below this does not "vary"


def varies(column: np.ndarray) -> bool:
    return bool(np.ptp(column) > SPREAD_TOL) if len(column) else False


def follows_free(X: np.ndarray, free: np.ndarray, j: int) -> bool:
    """Whether column ``j`` of ``X`` moves in lock-step with the ``free`` columns over the points:
    what they leave of it is at most :data:`.independence.COLLINEAR_TOL` of its spread. Pr raised with Re
    in one series (a fluid heated more as the flow grows), typed to 4 digits, left a residual the
    rank test read as a direction of its own, and scratch fitted ``Re^-29.7 Pr^-101`` to it."""
    left = unexplained_fraction(X[:, free], X[:, j])
    return left is None or left <= COLLINEAR_TOL


def scratch_prior(X: np.ndarray, names: list[str], held: str = "width") -> GaussianPrior:
    """Free what ``X`` can identify (in the order of ``names``); hold the rest at textbook values,
    with the reference prior's width (``held="width"``, :data:`REFERENCE_SD`: an interval at a
    ``Re`` or ``Pr`` the points never visited widens as far as the held exponent is unknown) or
    exactly (``held="exact"``, the Dittus-Boelter convention the guard's leave-one-out re-fits)."""
    if held not in HELD:
        raise ValueError(f"held must be one of {HELD}")
    n, p = X.shape
    free = np.zeros(p, bool)
    free[0] = n > 0
    for j in range(1, p):
        # a variable is freed only if it adds a direction the points can see (it varies, and not in
        # lock-step with the variables already free) and there is a point left to pay for it
        trial = free.copy()
        trial[j] = True
        if trial.sum() <= n and varies(X[:, j]) and not follows_free(X, free, j):
            free[j] = True
    reference = reference_prior(names)
    if held == "exact":
        return GaussianPrior(list(names), reference.mean, np.zeros((p, p)), free=free, fixed=~free)
    return GaussianPrior(list(names), reference.mean, reference.cov, free=free)


def scratch_fit(
    X: np.ndarray, y: np.ndarray, names: list[str], noise: NoisePrior | None, held: str = "width"
) -> Posterior:
    """Scratch's fit (:func:`scratch_prior`). Its held exponents keep the reference widths as
    stated (``kappa = 1``): a textbook convention with its stated uncertainty, not a learnt prior
    whose width the points could correct (with points that cannot fit an exponent they say nothing
    about its width either)."""
    return fit(X, y, scratch_prior(X, names, held), noise, kappa=1.0)


def reference_prior(names: list[str]) -> GaussianPrior:
    """Scratch as a proper model: every exponent ``N(textbook, REFERENCE_SD^2)``, log C free."""
    mean = np.array([0.0] + [TEXTBOOK.get(nm, 0.0) for nm in names[1:]])
    sd = np.array([1.0] + [REFERENCE_SD.get(nm, GROUP_REFERENCE_SD) for nm in names[1:]])
    free = np.zeros(len(names), bool)
    free[0] = True
    return GaussianPrior(list(names), mean, np.diag(sd**2), free=free)


def transfer_prior(
    prior: GaussianPrior | MixturePrior, transfer: str = "exponents"
) -> GaussianPrior | MixturePrior:
    """The pre-trained prior as a calibration uses it (see the module docstring); a mixture's
    components each get the same roles."""
    if transfer not in TRANSFERS:
        raise ValueError(f"transfer must be one of {TRANSFERS}")
    if isinstance(prior, MixturePrior):
        return prior.map(lambda c: transfer_prior(c, transfer))
    free = np.zeros(len(prior.names), bool)
    if transfer == "exponents":
        free[0] = True
    return GaussianPrior(prior.names, prior.mean, prior.cov, free=free, fixed=prior.fixed & ~free)


def informed_fit(
    X: np.ndarray, y: np.ndarray, prior: GaussianPrior | MixturePrior, noise: NoisePrior
) -> tuple[Posterior, dict[str, float]]:
    """The prior-informed posterior, and a mixture's posterior family weights (``{}`` otherwise):
    a mixture is calibrated by its Bayesian model average (:mod:`.mixture`)."""
    if isinstance(prior, MixturePrior):
        m = fit_mixture(X, y, prior, noise)
        return m.posterior, m.family_weights
    return fit(X, y, prior, noise), {}


@dataclass
class GuardResult:
    """The guard's decision and the evidence for it."""

    choice: str  # "prior" or "scratch"
    reason: str
    elpd: dict[str, float] = field(default_factory=dict)
    loo_rmse: dict[str, float] = field(default_factory=dict)
    log_evidence: dict[str, float] = field(default_factory=dict)
    rule: str = "evidence"
    prior_weight: float | None = None  # the prior-informed fit's share: 1 kept, 0 dropped, between: blend

    def __post_init__(self):
        if self.prior_weight is None:
            self.prior_weight = 1.0 if self.choice == "prior" else 0.0

    @property
    def heavier(self) -> str:
        """``"prior"`` or ``"scratch"``: the fit with the larger share (what a correction rides on)."""
        return "prior" if self.prior_weight >= 0.5 else "scratch"


@dataclass
class Calibration:
    """Both fits, the guard's decision, and the fit it keeps (with ``blend``, their mixture)."""

    prior_fit: Posterior | None
    scratch_fit: Posterior
    guard: GuardResult
    family_weights: dict[str, float] = field(default_factory=dict)  # a mixture prior's, after the data
    blended: Posterior | None = None
    level_map_from: str = ""  # which recalibration map set the kept fit's level, in words ("": none)

    @property
    def chosen(self) -> Posterior:
        if self.guard.choice == "blend":
            return self.blended
        return self.prior_fit if self.guard.choice == "prior" else self.scratch_fit


def blend(prior_fit: Posterior, scratch_fit: Posterior, w: float) -> Posterior:
    """The mixture ``w p_prior + (1 - w) p_scratch`` of two posteriors over the same parameters
    (each already a mixture of Gaussians, so the components are concatenated); their
    recalibration maps are mixed with the same weights, which :func:`calibrate` replaces by the
    blend's own map where the recalibration has one (maps stored before it had none)."""
    level_map = None
    if prior_fit.level_map is not None and scratch_fit.level_map is not None:
        level_map = w * prior_fit.level_map + (1 - w) * scratch_fit.level_map
    return Posterior(
        list(prior_fit.names),
        np.concatenate([prior_fit.sigma, scratch_fit.sigma]),
        np.concatenate([w * prior_fit.weights, (1 - w) * scratch_fit.weights]),
        np.concatenate([prior_fit.means, scratch_fit.means]),
        np.concatenate([prior_fit.covs, scratch_fit.covs]),
        n=prior_fit.n,
        level_map=level_map,
    )


LOO_MAX_POINTS = 100
"""Above this many calibration points the guard holds out :data:`CV_FOLDS` interleaved folds
instead of one point at a time: leave-one-out re-fits both procedures ``n`` times (20,000 rows ran
for minutes without a word), and with that much data the two estimates of ELPD agree closely."""
CV_FOLDS = 10


def held_out_sets(n: int) -> list[np.ndarray]:
    """The guard's held-out sets: each point alone up to :data:`LOO_MAX_POINTS` points, else
    :data:`CV_FOLDS` folds of every tenth point (in file order, so a file sorted by Re keeps each
    fold spread over the range, as leave-one-out's are)."""
    if n <= LOO_MAX_POINTS:
        return [np.array([i]) for i in range(n)]
    return [np.arange(k, n, CV_FOLDS) for k in range(CV_FOLDS)]


def held_out_words(n: int) -> str:
    """How :func:`held_out_sets` holds out ``n`` points, for the guard's reason."""
    if n <= LOO_MAX_POINTS:
        return "leave-one-out"
    return f"{CV_FOLDS}-fold cross-validation (over {LOO_MAX_POINTS} points, in place of leave-one-out)"


def loo(
    X: np.ndarray,
    y: np.ndarray,
    procedure: Callable[[np.ndarray, np.ndarray], Posterior],
    correction: str = "none",
) -> tuple[np.ndarray, np.ndarray]:
    """Held-out log predictive densities and errors (in log Nu) of a fitting procedure, one per
    point, each point predicted by a fit without it (:func:`held_out_sets`: leave-one-out, or
    folds for large ``n``); with ``correction="burman"`` the densities carry Burman's correction
    (module docstring), the errors stay those of the held-out fits."""
    if correction not in ("none", "burman"):  # whether scratch's form holds is calibrate's to judge
        raise ValueError(f"loo: correction must be 'none' or 'burman', got {correction!r}")
    n = len(y)
    lpd, err = np.empty(n), np.empty(n)
    held_out_fits_at_points = np.zeros(n)
    for held in held_out_sets(n):
        keep = np.ones(n, bool)
        keep[held] = False
        post = procedure(X[keep], y[keep])
        lpd[held] = post.log_density(X[held], y[held])
        err[held] = post.predict(X[held]) - y[held]
        if correction == "burman":
            held_out_fits_at_points += len(held) / n * post.log_density(X, y)
    if correction == "burman":
        lpd = lpd + procedure(X, y).log_density(X, y) - held_out_fits_at_points
    return lpd, err


def blend_weight(lpd_prior: np.ndarray, lpd_scratch: np.ndarray, rule: str, margin: float = 0.0) -> float:
    """The prior-informed fit's share of the blend from each point's held-out log density under
    the two procedures (module docstring: ``blend``, ``pseudo-bma+``, ``stacking``); scratch is
    handicapped by ``margin`` nats a point.

    Shapes: ``lpd_prior``, ``lpd_scratch`` ``(n,)`` -> a float in ``[0, 1]``.
    """
    gain = np.asarray(lpd_prior, float) - np.asarray(lpd_scratch, float) + margin  # per point, nats
    n = len(gain)
    if rule == "blend":
        return float(1 / (1 + np.exp(np.clip(-gain.sum(), -700, 700))))
    if rule == "pseudo-bma+":
        alpha = np.random.default_rng(0).dirichlet(np.ones(n), BOOTSTRAP_DRAWS)
        return float(np.mean(1 / (1 + np.exp(np.clip(-n * alpha @ gain, -700, 700)))))
    if rule != "stacking":
        raise ValueError(f"blend_weight: rule must be one of {BLENDS}, got {rule!r}")
    # d/dw sum_i log(w r_i + 1 - w) = sum_i (r_i - 1) / (w r_i + 1 - w), with r_i = p_prior_i /
    # p_scratch_i: decreasing in w, so the optimum is an end where the slope there points outwards,
    # else the root between, found by bisection on the slope
    r = np.exp(np.clip(gain, -700, 700))

    def slope(w):
        with np.errstate(over="ignore"):  # thousands of points each e^700 apart: +inf, still a sign
            return float(np.sum((r - 1) / (w * r + 1 - w)))

    if slope(1.0) >= 0:
        return 1.0
    if slope(0.0) <= 0:
        return 0.0
    lo, hi = 0.0, 1.0
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if slope(mid) > 0 else (lo, mid)
    return (lo + hi) / 2


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
    guard_rule: str = DEFAULT_GUARD_RULE,
    recalibration: IntervalRecalibration | None = None,
    loo_held: str = DEFAULT_LOO_HELD,
    loo_correction: str = DEFAULT_LOO_CORRECTION,
) -> Calibration:
    """Fit scratch and (if ``prior``) prior-informed laws on ``(X, y)``; let the guard choose.

    Args:
        X: ``(n, p)`` log features ``[1, log Re, log Pr, log g...]``; ``y``: ``(n,)`` log Nu.
        names: parameter names (those of ``prior`` when given).
        prior: the pre-trained prior, or ``None`` for scratch only.
        transfer: ``"exponents"`` or ``"all"`` (see the module docstring).
        noise: the noise hyperprior.
        margin: nats per point by which scratch must beat the prior to be chosen.
        guard: run the comparison (``False`` keeps the prior-informed fit).
        guard_rule: one of :data:`GUARD_RULES` (see the module docstring).
        recalibration: maps that make each fit's intervals hold their level on systems the prior
            never saw (:mod:`.recalibration`); ``None``: intervals at their nominal level.
        loo_held: how the guard's leave-one-out re-fits scratch on ``n - 1`` points: an exponent
            it cannot fit there held ``"exact"`` (default) or with the reference ``"width"``
            (:func:`scratch_prior`; see the module docstring).
        loo_correction: ``"burman-same-form"`` (default), ``"burman"`` or ``"none"``: the guard's
            held-out densities corrected for their fits' ``n - 1`` points only where scratch's
            held-out fits have its full fit's form, always, or never (module docstring).
    """
    if guard_rule not in GUARD_RULES:
        raise ValueError(f"guard_rule must be one of {GUARD_RULES}")
    if loo_held not in HELD:
        raise ValueError(f"loo_held must be one of {HELD}")
    if loo_correction not in LOO_CORRECTIONS:
        raise ValueError(f"loo_correction must be one of {LOO_CORRECTIONS}")
    noise = noise or NoisePrior()

    scratch = scratch_fit(X, y, names, noise)
    if recalibration is not None:
        scratch.level_map = recalibration.level_map("scratch", len(y))
    if prior is None:
        return Calibration(
            None,
            scratch,
            GuardResult("scratch", "no prior was given (--init none)"),
            level_map_from=_own_map("scratch", recalibration),
        )
    informed = transfer_prior(prior, transfer)

    def prior_proc(Xs, ys):
        return informed_fit(Xs, ys, informed, noise)[0]

    prior_fit, weights = informed_fit(X, y, informed, noise)
    n = len(y)
    if recalibration is not None:
        prior_fit.level_map = recalibration.level_map("prior", n)
    if not guard:
        return Calibration(
            prior_fit,
            scratch,
            GuardResult("prior", "guard switched off", rule="none"),
            weights,
            level_map_from=_own_map("prior", recalibration),
        )
    if guard_rule == "evidence":
        # the prior as the kept fit used it: judged on its exponents alone, a transferred C that
        # missed the points was never weighed
        ev = evidence_guard(X, y, names, informed, noise, margin, prior_fit.log_marginal, transfer)
        return Calibration(prior_fit, scratch, ev, weights, level_map_from=_own_map(ev.choice, recalibration))
    if n < 2:
        return Calibration(
            prior_fit,
            scratch,
            GuardResult(
                "prior",
                "one point leaves nothing to hold out: the guard cannot check the prior, which is kept",
                rule=guard_rule,
            ),
            weights,
            level_map_from=_own_map("prior", recalibration),
        )
    correction, how = loo_correction, held_out_words(n)
    if loo_correction == "burman-same-form":
        form = scratch_prior(X, names).free
        if all(
            np.array_equal(scratch_prior(np.delete(X, held, axis=0), names).free, form)
            for held in held_out_sets(n)
        ):
            correction = "burman"
        else:
            correction = "none"
            how += f" (not corrected to {n} points: scratch fits another form without a held-out point)"
    lpd_p, err_p = loo(X, y, prior_proc, correction)
    lpd_s, err_s = loo(X, y, lambda Xs, ys: scratch_fit(Xs, ys, names, noise, loo_held), correction)
    elpd = {"prior": float(lpd_p.sum()), "scratch": float(lpd_s.sum())}
    if correction == "burman":
        how += f" with Burman's correction to {n} points"
    rmse = {"prior": float(np.sqrt(np.mean(err_p**2))), "scratch": float(np.sqrt(np.mean(err_s**2)))}
    diff = elpd["scratch"] - elpd["prior"]
    if guard_rule in BLENDS:
        # scratch handicapped by the margin as in the hard rules
        w = blend_weight(lpd_p, lpd_s, guard_rule, margin)
        if w in (0.0, 1.0):  # stacking at an end keeps one fit whole: not a mixture weighted 1.00 and 0.00
            kept = f"the {'prior-informed fit' if w == 1.0 else 'scratch fit'} alone, weighted 1"
        else:
            kept = f"their mixture with the prior-informed fit weighted {w:.2f} and scratch {1 - w:.2f}"
        reason = (
            f"{how}: ELPD {elpd['prior']:.2f} nats for the prior-informed fit, "
            f"{elpd['scratch']:.2f} for scratch (held-out RMSE of log Nu {rmse['prior']:.3f} vs "
            f"{rmse['scratch']:.3f}), so the kept model is {kept} ({BLEND_WORDS[guard_rule]}"
            + (f"; scratch handicapped by the margin, {margin * n:g} nats)" if margin else ")")
        )
        result = GuardResult("blend", reason, elpd, rmse, rule=guard_rule, prior_weight=w)
        blended = blend(prior_fit, scratch, w)
        asked = {
            "guard_rule": guard_rule,
            "margin": margin,
            "loo_held": loo_held,
            "loo_correction": loo_correction,
        }
        if recalibration is None:
            source = ""
        elif "blend" in recalibration.maps and asked == RECALIBRATED_GUARD:
            # the mixture of two fits is wider than either where their predictions part: its own map,
            # not the mean of its members' (which held 95 % for 90 % on the library at n = 2)
            blended.level_map = recalibration.level_map("blend", n)
            source = "the blend's own map, learnt on the default guard's blends"
        elif w in (0.0, 1.0):  # blend()'s mean of the members' maps is then the kept fit's own
            source = _own_map("prior" if w == 1.0 else "scratch", recalibration)
        else:
            # another rule, margin or correction weighs the fits otherwise than the blends the
            # blend's map was learnt on (stacking at weight 1 on the prior got that map's 77 % for
            # 90 %, where the prior-informed fit's own says 87 %): the mean of the members' maps,
            # which held more than its level for the default blend (95 % for 90 % at n = 2)
            why = (
                "the recalibration has no map of the blend's own"
                if "blend" not in recalibration.maps
                else "the blend's own map was learnt on the default guard's blends (blend rule, "
                f"{DEFAULT_LOO_CORRECTION} correction, no margin), not on this guard's"
            )
            source = (
                f"the mean of the prior-informed and scratch fits' maps weighted as the fits ({w:.2f} "
                f"and {1 - w:.2f}): {why}"
            )
        return Calibration(prior_fit, scratch, result, weights, blended, source)
    if diff > margin * n:
        choice = "scratch"
        reason = (
            f"{how}: scratch predicts the held-out points better than the prior-informed "
            f"fit (ELPD {elpd['scratch']:.2f} vs {elpd['prior']:.2f} nats, held-out RMSE of log Nu "
            f"{rmse['scratch']:.3f} vs {rmse['prior']:.3f}): the prior hurts (negative transfer)"
        )
    else:
        choice = "prior"
        reason = (
            f"{how}: the prior-informed fit predicts the held-out points at least as well "
            f"as scratch (ELPD {elpd['prior']:.2f} vs {elpd['scratch']:.2f} nats, held-out RMSE of "
            f"log Nu {rmse['prior']:.3f} vs {rmse['scratch']:.3f})"
        )
    return Calibration(
        prior_fit,
        scratch,
        GuardResult(choice, reason, elpd, rmse, rule="loo"),
        weights,
        level_map_from=_own_map(choice, recalibration),
    )


def _own_map(kind: str, recalibration: IntervalRecalibration | None) -> str:
    """Which map sets the level of a ``kind`` fit kept alone, in words (``""`` without maps)."""
    if recalibration is None:
        return ""
    return f"the {'prior-informed' if kind == 'prior' else 'scratch'} fit's own map"


def evidence_guard(
    X: np.ndarray,
    y: np.ndarray,
    names: list[str],
    informed: GaussianPrior | MixturePrior,
    noise: NoisePrior,
    margin: float,
    log_marginal: float | None = None,
    transfer: str = "exponents",
) -> GuardResult:
    """The Bayes factor of scratch (under its reference prior) against the prior-informed model
    with the prior ``informed`` as the calibration transferred it (:func:`transfer_prior`:
    ``transfer`` names what it holds; a mixture's evidence is that of its model average, ``sum_f
    pi_f p_f(y)``); ``log_marginal``: that model's, when already fitted."""
    n = len(y)
    if log_marginal is None:
        log_marginal = informed_fit(X, y, informed, noise)[0].log_marginal
    ev = {"prior": log_marginal, "scratch": fit(X, y, reference_prior(names), noise).log_marginal}
    diff = ev["scratch"] - ev["prior"]
    judged = "the prior's exponents are" if transfer == "exponents" else "the prior is"
    if n < 2:
        return GuardResult(
            "prior",
            "evidence: one point is absorbed by C whatever the exponents, so both models explain it "
            "equally; the prior's exponents are kept"
            if transfer == "exponents"
            else "evidence: one point is absorbed by scratch's C whatever the exponents; the guard "
            "does not judge the prior on one point, and keeps it",
            log_evidence=ev,
        )
    if diff > margin * n:
        choice = "scratch"
        reason = (
            f"evidence: the points are {np.exp(min(diff, 700)):.3g} times more probable under scratch "
            f"(log evidence {ev['scratch']:.2f} vs {ev['prior']:.2f} nats): {judged} contradicted "
            "(negative transfer)"
        )
    else:
        choice = "prior"
        reason = (
            f"evidence: the points are at least as probable under the prior-informed model (log "
            f"evidence {ev['prior']:.2f} vs {ev['scratch']:.2f} nats for scratch, Bayes factor "
            f"{np.exp(np.clip(-diff, -700, 700)):.3g} for the prior)"
        )
    return GuardResult(choice, reason, log_evidence=ev)
