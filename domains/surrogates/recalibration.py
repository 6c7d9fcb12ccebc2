"""Intervals that hold what they say: recalibration learnt on systems the prior never saw.

A calibrated law's predictive (:class:`.objectives.Posterior`) is exact only if its prior is the
truth's population. Ours is a population of *textbook* systems, wider than any one real channel
needs (the mixture spans laminar plates and tube banks), and the noise hyperprior is a guess; its
nominal 90 % interval covered 96-98 % of the library validation's held-out points and of the
project's measured benchmark (``benchmarks/RESULTS_surrogate.md``). Widening or narrowing by
hand would be tuning on the test data. Instead pre-training learns the map from nominal to real
coverage where it is allowed to: on synthetic series of the library's own systems, each
calibrated with a prior learnt *without its own family* (a kind of system the prior has never seen,
as a ribbed channel is to this library), scored on the series' other points. The series carry the
scatter the calibration assumes (the noise prior's ``s0``, 5 % by default, ``--noise-sd``), so the
maps correct what the prior gets wrong about unseen systems rather than a second guess of the rig
(a first version drew them with 3 % scatter, less than the noise prior assumes, and narrowed the
intervals at n >= 3 below their level on measured data: RESULTS_surrogate.md). This is the
recalibration of Kuleshov, Fenner & Ermon, *Accurate Uncertainties for Deep Learning Using
Calibrated Regression* (ICML 2018), with a split-conformal quantile (Vovk et al. 2005):

.. math::

    u_i = F_i(y_i),\\qquad r_i = |2u_i - 1|,\\qquad
    \\ell^{\\text{nominal}}(\\ell) = r_{(\\lceil (m+1)\\,\\ell \\rceil)}

where ``F_i`` is the predictive CDF of a held-out point, ``r_i`` the smallest central level whose
interval holds it, and ``r_(k)`` the ``k``-th smallest of the ``m`` ranks: the central interval at
level ``r_(k)`` holds at least a fraction ``ell`` of the validation points. One map per fit kind
(prior-informed, scratch, and the guard's blend of the two) and number of calibration points ``n``
(1, 2, 3, 4, then 5 for all larger ``n``: coverage depends on how much of the interval is the noise
hyperprior), because the guard may keep any of them, and their miscalibrations differ (scratch with
one point holds the textbook exponent with the reference width, which is wider than one series'
slope needs: its 90 % maps to a nominal 63 % at n = 1; the prior-informed fit is too wide by less).
The blend (:func:`.calibrate.calibrate`, the default guard) is a mixture of the two fits, wider
than either where their predictions part; until 2026-12-05 it took the mean of its members' maps,
weighted as the fits, whose intervals held 95 % for 90 % of the library's synthetic points at
n = 2. It now has its own map, learnt on the blend the guard makes of each calibration subset;
with one point the guard keeps the prior-informed fit, and the blend's map is that fit's. The series
lie at one Pr, so the maps say nothing about a Pr the points never visited
(``benchmarks/surrogate_prandtl.py``).

Shapes: each map is ``(len(LEVELS),)``, the nominal level for each of
:data:`.objectives.LEVELS`.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import sys
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import numpy as np
from tqdm import tqdm

from sciPT import io
from sciPT.errors import UserError

from .calibrate import DEFAULT_PRIOR_FORM, RECALIBRATED_GUARD, calibrate, scratch_fit, transfer_prior
from .data import Points
from .objectives import LEVELS, NoisePrior

KINDS = ("prior", "scratch", "blend")
BUCKETS = (1, 2, 3, 4, 5)  # calibration points; more than the last use the last map
SERIES_NOISE = 0.03  # the library validation's scatter (benchmarks/surrogate_calibration.py)
SERIES_POINTS = 7
MAX_DRAWS = 3  # calibration subsets per series and n (the maps barely move from 2 to 4)
MAX_NOMINAL = 0.999  # a level whose interval must hold every validation point still has an end


def synthetic_series(
    fits, noise: float = SERIES_NOISE, points: int = SERIES_POINTS, span: float = 5.0, seed: int = 0
) -> dict[str, tuple[str, Points]]:
    """One synthetic measured series per library system: ``points`` Re log-spaced over a factor
    ``span`` placed at random inside the system's range, one Pr (0.7 moved into its range), log-
    normal scatter ``noise``. Returns ``{system key: (correlation key, points)}``."""
    rng = np.random.default_rng(seed)
    out = {}
    for f in fits:
        c = f.correlation
        lo, hi = np.log(c.re_range[0]), np.log(c.re_range[1])
        width = min(np.log(span), hi - lo)
        start = rng.uniform(lo, hi - width)
        re = np.exp(np.linspace(start, start + width, points))
        pr = float(np.clip(0.7, *c.pr_range))
        nu = c(re, np.full(points, pr), f.ed) * np.exp(noise * rng.standard_normal(points))
        out[f.key] = (c.key, Points(re, np.full(points, pr), nu, {}, f"synthetic:{f.key}"))
    return out


def calibration_subsets(m: int, n: int, max_draws: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Up to ``max_draws`` of the ``n``-point subsets of ``m`` points (all when there are fewer),
    drawn without replacement and kept in combination order; each an index array."""
    combos = list(itertools.combinations(range(m), n))
    if len(combos) > max_draws:
        combos = [combos[i] for i in sorted(rng.choice(len(combos), max_draws, replace=False))]
    return [np.array(comb) for comb in combos]


def nominal_levels(ranks: np.ndarray) -> np.ndarray:
    """The split-conformal map from :data:`LEVELS` to nominal levels, from central ranks ``(m,)``."""
    r = np.sort(np.asarray(ranks, float))
    m = len(r)
    # ceil((m + 1) l) in integers: in floating point an exact product (m = 99, l = 0.07: 7) can
    # come out a hair above and round up a rank too far
    percent = np.rint(LEVELS * 100).astype(int)
    k = -(-(m + 1) * percent // 100)
    out = np.where(k <= m, r[np.clip(k, 1, m) - 1], MAX_NOMINAL)
    # a level never maps below a smaller one's (ties in the ranks), nor onto 0
    return np.clip(np.maximum.accumulate(out), 1e-3, MAX_NOMINAL)


PRIOR_WIDTH = "integrated"


@dataclass
class IntervalRecalibration:
    """The learnt maps: ``maps[kind][n]`` is ``(len(LEVELS),)`` nominal levels.

    Attributes:
        maps: per fit kind (``prior``, ``scratch``) and bucket of calibration points.
        points: validation points behind each map (same keys).
        protocol: how the maps were learnt, in words (it goes into the run's report).
    """

    maps: dict[str, dict[int, np.ndarray]]
    points: dict[str, dict[int, int]] = field(default_factory=dict)
    protocol: str = ""

    def level_map(self, kind: str, n: int) -> np.ndarray:
        """The map for a ``kind`` fit on ``n`` points."""
        return self.maps[kind][min(max(n, BUCKETS[0]), BUCKETS[-1])]

    def as_dict(self) -> dict:
        return {
            # maps learnt for predictives that integrate the prior's width out (objectives.fit); a
            # stored map without this key was learnt for the most probable width alone
            "prior_width": PRIOR_WIDTH,
            "levels": [float(x) for x in LEVELS],
            "maps": {k: {str(n): [float(x) for x in v] for n, v in m.items()} for k, m in self.maps.items()},
            "points": {k: {str(n): int(v) for n, v in m.items()} for k, m in self.points.items()},
            "protocol": self.protocol,
        }

    @classmethod
    def from_dict(cls, d: dict) -> IntervalRecalibration:
        if len(d["levels"]) != len(LEVELS) or not np.allclose(d["levels"], LEVELS):
            raise ValueError("an interval recalibration stored on another level grid")
        maps = {k: {int(n): np.asarray(v, float) for n, v in m.items()} for k, m in d["maps"].items()}
        points = {k: {int(n): int(v) for n, v in m.items()} for k, m in d.get("points", {}).items()}
        return cls(maps, points, d.get("protocol", ""))


def learn_recalibration(
    fits,
    *,
    form: str | None = DEFAULT_PRIOR_FORM,
    transfer: str = "exponents",
    noise: NoisePrior | None = None,
    max_draws: int = MAX_DRAWS,
    seed: int = 0,
    progress: bool = False,
) -> IntervalRecalibration:
    """Learn the maps on the library's systems ``fits`` (:func:`.pretrain.fit_systems`).

    Each system gives one :func:`synthetic_series`; for each bucket ``n``, up to ``max_draws``
    calibration subsets of ``n`` points (all of them when there are fewer; seeded) are fitted
    prior-informed, with the prior of the *other families* (``form``: ``"mixture"`` or
    ``"gaussian"``, under ``transfer``; ``None``: scratch only), and scratch; every other point of
    the series gives one central rank per kind. ``progress``: a bar on standard error, one step
    per series (the default library's 58 take some 17 s on one core).
    """
    from .pretrain import BASE_NAMES, family_mixture, population_prior

    noise = noise or NoisePrior()
    build = family_mixture if form == "mixture" else population_prior
    family = {f.correlation.key: f.correlation.family for f in fits}
    if form is not None and len(set(family.values())) < 2:
        raise ValueError("a prior-informed recalibration holds out a family: it needs two or more")
    kinds = KINDS if form is not None else ("scratch",)
    rng = np.random.default_rng(seed)
    # the series scatter is the one the calibration assumes (the noise prior's s0): the maps then
    # correct what the prior gets wrong about systems it never saw, not a second guess of the rig
    series = synthetic_series(fits, noise=noise.s0, seed=seed)
    priors: dict[str, object] = {}
    ranks = {kind: {n: [] for n in BUCKETS} for kind in kinds}
    bar = tqdm(
        series.values(), desc="interval recalibration", unit="series", leave=False, disable=not progress
    )
    for corr_key, pts in bar:
        held = family[corr_key]
        if form is not None and held not in priors:
            rest = [f for f in fits if f.correlation.family != held]
            priors[held] = transfer_prior(build(rest), transfer)
        X, y = pts.features(), pts.log_nu
        for n in BUCKETS:
            for c in calibration_subsets(len(y), n, max_draws, rng):
                test = np.setdiff1d(np.arange(len(y)), c)
                if form is None:
                    posts = {"scratch": scratch_fit(X[c], y[c], BASE_NAMES, noise)}
                else:
                    cal = calibrate(
                        X[c],
                        y[c],
                        BASE_NAMES,
                        priors[held],
                        transfer=transfer,
                        noise=noise,
                        **RECALIBRATED_GUARD,
                    )
                    # with one point the guard keeps the prior-informed fit: the blend is that fit
                    posts = {"scratch": cal.scratch_fit, "prior": cal.prior_fit, "blend": cal.chosen}
                for kind, post in posts.items():
                    ranks[kind][n].extend(np.abs(2 * post.cdf(X[test], y[test]) - 1))
    how = (
        f"prior-informed with the {form} prior of the other families ({transfer} transfer) and "
        if form is not None
        else ""
    )
    protocol = (
        f"{len(series)} synthetic series of the library's systems ({SERIES_POINTS} points over a "
        f"factor 5 in Re, the noise prior's {noise.s0:.0%} scatter), each calibrated {how}from scratch on up to "
        f"{max_draws} subsets of n = {', '.join(map(str, BUCKETS))} points (seed {seed}); "
        "split-conformal map from each nominal level to the one that holds it on the series' "
        "other points"
    )
    return IntervalRecalibration(
        {k: {n: nominal_levels(v) for n, v in m.items()} for k, m in ranks.items()},
        {k: {n: len(v) for n, v in m.items()} for k, m in ranks.items()},
        protocol,
    )


# what the learnt maps depend on besides their arguments: the correlations, fits and priors of this
# domain (its source) and the numerical libraries that evaluate them
LIBRARIES = ("numpy", "scipy", "ht", "fluids")


def code_fingerprint() -> str:
    """SHA-256 of every Python file of this domain (by path and content) and of the versions of
    :data:`LIBRARIES`: a map learnt by other code is never reused."""
    digest = hashlib.sha256()
    root = Path(__file__).parent
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    for name in LIBRARIES:
        try:
            version = metadata.version(name)
        except metadata.PackageNotFoundError:
            version = "absent"
        digest.update(f"{name}={version}\0".encode())
    return digest.hexdigest()


def cache_path(fields: dict) -> Path:
    """Where the maps learnt with ``fields`` (:func:`library_recalibration`'s arguments) are kept:
    ``$SCIPT_CACHE/surrogates/recalibration-<key>.json``, the key the SHA-256 of the fields and
    :func:`code_fingerprint`."""
    text = json.dumps({"code": code_fingerprint(), **fields}, sort_keys=True)
    key = hashlib.sha256(text.encode()).hexdigest()[:20]
    return io.cache_dir("surrogates") / f"recalibration-{key}.json"


@functools.lru_cache(maxsize=8)
def library_recalibration(
    systems: tuple[str, ...],
    points_per_system: int,
    sampling_noise: float,
    seed: int,
    form: str | None,
    transfer: str,
    s0: float,
    nu0: float,
    max_draws: int = MAX_DRAWS,
) -> IntervalRecalibration:
    """:func:`learn_recalibration` on the systems of a pre-training configuration (its fields
    spelled out, since the result depends on nothing else). Learning takes some 15,000 closed-form
    fits (about 17 s on one idle core for the default library; a progress bar on a terminal), so the maps are cached per process and
    on disk (:func:`cache_path`); a cache that cannot be read or written is learnt past, with a
    note."""
    from .pretrain import fit_systems

    fields = {
        "systems": list(systems),
        "points_per_system": points_per_system,
        "sampling_noise": sampling_noise,
        "seed": seed,
        "form": form,
        "transfer": transfer,
        "s0": s0,
        "nu0": nu0,
        "max_draws": max_draws,
    }
    try:
        path = cache_path(fields)
    except UserError as err:
        print(f"note: interval recalibration not cached: {err}", file=sys.stderr)
        path = None
    if path is not None and path.is_file():
        try:
            return IntervalRecalibration.from_dict(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            pass  # a damaged entry (a full disk, an edit) is learnt again and replaced
    fits = fit_systems(list(systems), points_per_system, sampling_noise, seed)
    kept = f" (once: kept in {path.parent})" if path is not None else ""
    print(f"learning the interval recalibration on the library's {len(fits)} systems{kept}", file=sys.stderr)
    recal = learn_recalibration(
        fits,
        form=form,
        transfer=transfer,
        noise=NoisePrior(s0, nu0),
        max_draws=max_draws,
        seed=seed,
        progress=sys.stderr.isatty(),
    )
    if path is not None:
        try:
            io.write_json(path, recal.as_dict())
        except UserError as err:
            print(f"note: interval recalibration not cached: {err}", file=sys.stderr)
        except OSError as err:  # a disk that filled while writing
            print(f"note: interval recalibration not cached: {path}: {err.strerror or err}", file=sys.stderr)
    return recal


def for_library(
    cfg, form: str | None, transfer: str = "exponents", noise: NoisePrior | None = None
) -> IntervalRecalibration:
    """The maps for the systems of a pre-training configuration ``cfg``
    (:class:`.presets.SurrogatePretrainConfig`), cached (:func:`library_recalibration`)."""
    noise = noise or NoisePrior()
    return library_recalibration(
        tuple(cfg.systems),
        cfg.points_per_system,
        cfg.noise,
        cfg.train.seed,
        form,
        transfer,
        noise.s0,
        noise.nu0,
    )
