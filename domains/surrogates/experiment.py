"""Few-shot calibration study: prior-informed vs scratch vs the guard on measured series.

For each series and each ``n``, every combination of ``n`` calibration points is drawn (or
``max_draws`` random ones when there are more); each draw is calibrated (:func:`.calibrate.calibrate`)
and scored on held-out points of the same series under three splits:

- ``all``: every point not used for calibration;
- ``interpolation``: held-out points strictly inside the calibration points' Re range (n >= 2);
- ``extrapolation``: held-out points above the largest calibration Re.

A draw's MAPE is the mean absolute percentage error of ``Nu`` over its held-out points (the
prediction is ``exp`` of the predictive mean of ``log Nu``, ``Nu_pred`` as users see it); the table gives
the median and 90th percentile over draws, and the fraction of all held-out points inside the
central ``level`` predictive interval (coverage), also separately for held-out points inside and
outside the calibration Re range. Used by ``scipt demo surrogate`` and
``benchmarks/surrogate_calibration.py``.

:func:`lowest_two_study` is the extrapolation protocol of a user with two measurements: calibrate
on the two lowest-Re points of each series, predict the rest, beside the peers (scratch, ``k x
Gnielinski``: the smooth-pipe Gnielinski law scaled by the mean measured ratio, and every library
correlation zero-shot). :func:`library_validation` is the validation on which the defaults are
chosen: synthetic series of library systems, each calibrated with a prior learnt *without* its own
correlation (leave-one-correlation-out), so no choice is made on measured test data.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from tqdm.auto import tqdm

from .calibrate import DEFAULT_GUARD_RULE, calibrate
from .correlations import CORRELATIONS
from .correlations.base import Correlation
from .data import Points
from .objectives import GaussianPrior, NoisePrior, Posterior, scores
from .recalibration import IntervalRecalibration, synthetic_series

SPLITS = ("all", "interpolation", "extrapolation")
METHODS = ("scratch", "prior", "guard")


def held_out(re: np.ndarray, chosen: np.ndarray, split: str) -> np.ndarray:
    rest = np.setdiff1d(np.arange(len(re)), chosen)
    lo, hi = re[chosen].min(), re[chosen].max()
    if split == "interpolation":
        return rest[(re[rest] > lo) & (re[rest] < hi)]
    if split == "extrapolation":
        return rest[re[rest] > hi]
    return rest


def draws(n_points: int, n: int, max_draws: int | None, rng: np.random.Generator) -> list[tuple]:
    combos = list(itertools.combinations(range(n_points), n))
    if max_draws is not None and len(combos) > max_draws:
        pick = rng.choice(len(combos), max_draws, replace=False)
        combos = [combos[i] for i in sorted(pick)]
    return combos


@dataclass
class Study:
    """Per-draw records and the summary table."""

    records: list[dict]
    table: list[dict]


def few_shot_study(
    series: dict[str, Points],
    prior: GaussianPrior,
    ns=(1, 2, 3, 5),
    *,
    transfer: str = "exponents",
    noise: NoisePrior | None = None,
    margin: float = 0.0,
    guard_rule: str = DEFAULT_GUARD_RULE,
    level: float = 0.9,
    recalibration: IntervalRecalibration | None = None,
    max_draws: int | None = None,
    seed: int = 0,
    progress: bool = True,
) -> Study:
    """Run the study described in the module docstring (law without geometric groups: within a
    series the geometry is fixed, so its effect is in ``C``)."""
    rng = np.random.default_rng(seed)
    jobs = [
        (key, n, c)
        for n in ns
        for key, pts in series.items()
        if len(pts) > n
        for c in draws(len(pts), n, max_draws, rng)
    ]
    records = []
    for key, n, comb in tqdm(jobs, desc="calibrations", disable=not progress, leave=False):
        pts = series[key]
        X, y = pts.features(), pts.log_nu
        c = np.array(comb)
        cal = calibrate(
            X[c],
            y[c],
            prior.names[:3],
            prior,
            transfer=transfer,
            noise=noise,
            margin=margin,
            guard_rule=guard_rule,
            recalibration=recalibration,
        )
        fits = {"scratch": cal.scratch_fit, "prior": cal.prior_fit, "guard": cal.chosen}
        for split in SPLITS:
            test = held_out(pts.re, c, split)
            if len(test) == 0:
                continue
            for method, post in fits.items():
                pred = post.predict(X[test])
                lo, hi = post.interval(X[test], level)
                inside = (lo <= y[test]) & (y[test] <= hi)
                lo, hi = post.interval(X[test], level, recalibrated=False)
                inside_nominal = (lo <= y[test]) & (y[test] <= hi)
                within = (pts.re[test] >= pts.re[c].min()) & (pts.re[test] <= pts.re[c].max())
                records.append(
                    {
                        "series": key,
                        "n": n,
                        "split": split,
                        "method": method,
                        "draw": comb,
                        "mape": scores(pred, y[test])[1],
                        "covered": int(inside.sum()),
                        "covered_nominal": int(inside_nominal.sum()),
                        "points": int(len(test)),
                        "covered_in": int((inside & within).sum()),
                        "points_in": int(within.sum()),
                        "guard_kept_prior": cal.guard.prior_weight,
                    }
                )
    return Study(records, summarise(records))


def summarise(records: list[dict]) -> list[dict]:
    table = []
    for split in SPLITS:
        for n in sorted({r["n"] for r in records}):
            for method in METHODS:
                rows = [r for r in records if r["split"] == split and r["n"] == n and r["method"] == method]
                if not rows:
                    continue
                mape = np.array([r["mape"] for r in rows])
                table.append(
                    {
                        "split": split,
                        "n": n,
                        "method": method,
                        "draws": len(rows),
                        "points": sum(r["points"] for r in rows),
                        "mape_median": float(np.median(mape)),
                        "mape_p90": float(np.percentile(mape, 90)),
                        "coverage": sum(r["covered"] for r in rows) / sum(r["points"] for r in rows),
                        "coverage_nominal": sum(r["covered_nominal"] for r in rows)
                        / sum(r["points"] for r in rows),
                        **_coverage_in_out(rows),
                        "prior_kept": float(np.mean([r["guard_kept_prior"] for r in rows])),
                    }
                )
    return table


def _coverage_in_out(rows: list[dict]) -> dict:
    n_in = sum(r["points_in"] for r in rows)
    n_out = sum(r["points"] - r["points_in"] for r in rows)
    c_in = sum(r["covered_in"] for r in rows)
    c_out = sum(r["covered"] - r["covered_in"] for r in rows)
    return {
        "points_inside": n_in,
        "points_outside": n_out,
        "coverage_inside": c_in / n_in if n_in else None,
        "coverage_outside": c_out / n_out if n_out else None,
    }


def guard_gap(records: list[dict], split: str, n: int, *, boot: int = 2000, seed: int = 0) -> dict:
    """Median MAPE of the guard minus that of the better of scratch and prior, with a paired
    bootstrap 95 % interval over draws (positive: the guard is worse)."""
    by = {
        m: {
            (r["series"], r["draw"]): r["mape"]
            for r in records
            if r["split"] == split and r["n"] == n and r["method"] == m
        }
        for m in METHODS
    }
    keys = sorted(by["guard"])
    if not keys:
        return {}
    M = {m: np.array([by[m][k] for k in keys]) for m in METHODS}
    better = min(("scratch", "prior"), key=lambda m: np.median(M[m]))
    gap = np.median(M["guard"]) - np.median(M[better])
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(keys), (boot, len(keys)))
    gaps = np.median(M["guard"][idx], axis=1) - np.median(M[better][idx], axis=1)
    lo, hi = np.percentile(gaps, [2.5, 97.5])
    return {"better": better, "gap": float(gap), "lo": float(lo), "hi": float(hi)}


# --- extrapolation from the two lowest-Re points, with the peers -----------------------------------
def gnielinski(re: np.ndarray, pr: np.ndarray) -> np.ndarray:
    """The smooth-pipe Gnielinski law (exact Colebrook friction factor), the ``k x Gnielinski`` shape."""
    corr = next(c for c in CORRELATIONS if c.key == "gnielinski")
    return corr(re, pr)


def zero_shot(corr: Correlation, pts: Points) -> np.ndarray:
    """log Nu of a library correlation on a series, as is; a rough one at the series' ``e_Dh``
    clipped into its validity range (ribbed channels are rougher than any sand-grain tube). A
    correlation that gives no positive Nu there (far outside its Re range: the mixed laminar-
    turbulent plate's ``0.037 Re^0.8 - 871`` below Re 2e4) gives ``nan``."""
    ed = None
    if corr.rough:
        e = float(np.median(pts.groups["e_Dh"])) if "e_Dh" in pts.groups else corr.ed_range[0]
        ed = float(np.clip(e, *corr.ed_range))
    nu = corr(pts.re, pts.pr, ed)
    return np.log(np.where(nu > 0, nu, np.nan))


def _score(post: Posterior, X, y, level) -> dict:
    lo, hi = post.interval(X, level)
    return {"mape": scores(post.predict(X), y)[1], "covered": int(((lo <= y) & (y <= hi)).sum())}


def lowest_two_study(
    series: dict[str, Points],
    prior: GaussianPrior,
    *,
    transfer: str = "exponents",
    noise: NoisePrior | None = None,
    margin: float = 0.0,
    guard_rule: str = DEFAULT_GUARD_RULE,
    level: float = 0.9,
    recalibration: IntervalRecalibration | None = None,
    library: tuple[Correlation, ...] = CORRELATIONS,
) -> list[dict]:
    """One record per series: calibrated on its two lowest-Re points, scored on the rest."""
    out = []
    for key, pts in series.items():
        order = np.argsort(pts.re)
        cal_idx, test = order[:2], order[2:]
        X, y = pts.features(), pts.log_nu
        cal = calibrate(
            X[cal_idx],
            y[cal_idx],
            prior.names[:3],
            prior,
            transfer=transfer,
            noise=noise,
            margin=margin,
            guard_rule=guard_rule,
            recalibration=recalibration,
        )
        rec = {"series": key, "points": int(len(test)), "guard_kept_prior": cal.guard.prior_weight}
        for method, post in (("scratch", cal.scratch_fit), ("prior", cal.prior_fit), ("guard", cal.chosen)):
            s = _score(post, X[test], y[test], level)
            rec[f"mape_{method}"], rec[f"covered_{method}"] = s["mape"], s["covered"]
        gn = np.log(gnielinski(pts.re, pts.pr))
        k = np.mean(y[cal_idx] - gn[cal_idx])
        rec["mape_k_gnielinski"] = scores(gn[test] + k, y[test])[1]
        rec["zero_shot"] = {c.key: scores(zero_shot(c, pts)[test], y[test])[1] for c in library}
        out.append(rec)
    return out


def best_zero_shot(records: list[dict]) -> tuple[str, float]:
    """The library correlation with the lowest mean MAPE over the series (chosen on these very
    points: the most generous peer)."""
    keys = records[0]["zero_shot"]
    means = {k: float(np.mean([r["zero_shot"][k] for r in records])) for k in keys}
    # one that cannot be evaluated on some points (nan) is no candidate: min() would keep a
    # leading nan whatever followed
    best = min((k for k in means if np.isfinite(means[k])), key=means.get)
    return best, means[best]


# --- validation on the library (where the defaults are chosen) --------------------------------------
VALIDATION_SPLITS = ("n1", "n2", "lowest2")


def library_validation(
    fits,
    configs: dict[str, dict],
    *,
    hold_out: str = "family",
    seed: int = 0,
    level: float = 0.9,
    splits: tuple[str, ...] = VALIDATION_SPLITS,
) -> dict:
    """Few-shot study on synthetic series of the library's systems, each calibrated with a prior
    learnt without its own ``hold_out`` (``"family"``: a system of a kind the prior has never seen,
    as a ribbed channel is to this library; ``"correlation"``: leave-one-correlation-out).

    ``configs`` maps a label to keyword arguments of :func:`.calibrate.calibrate` (``transfer``,
    ``guard_rule``, ``guard``) plus ``prior``: ``"gaussian"`` (one Gaussian over the remaining
    systems, the default) or ``"mixture"`` (one Gaussian per remaining family, :mod:`.mixture`).
    Per configuration and split (``splits``: ``n1``, ``n2``, ``lowest2`` by default, ``n3`` on
    request: every subset of one, two or three points, and the two lowest-Re points): the median
    and mean over series of the per-series mean MAPE of the kept fit, the per-series values
    themselves (``series_mape``, in series order, for paired comparisons), and the 90 % coverage.
    """
    from .pretrain import family_mixture, population_prior

    series = synthetic_series(fits, seed=seed)
    priors: dict[tuple[str, str], object] = {}
    out = {label: {**{sp: [] for sp in splits}, "covered": 0, "points": 0} for label in [*configs, "scratch"]}
    family = {f.correlation.key: f.correlation.family for f in fits}

    def held(f, group):
        return (f.correlation.family if hold_out == "family" else f.correlation.key) == group

    for corr_key, pts in series.values():
        group = family[corr_key] if hold_out == "family" else corr_key
        rest = [f for f in fits if not held(f, group)]
        X, y = pts.features(), pts.log_nu
        order = np.argsort(pts.re)
        subsets = {
            "n1": [(i,) for i in range(len(pts))],
            "n2": list(itertools.combinations(range(len(pts)), 2)),
            "n3": list(itertools.combinations(range(len(pts)), 3)),
            "lowest2": [tuple(order[:2])],
        }
        for split in splits:
            combos = subsets[split]
            per = {label: [] for label in out}
            for comb in combos:
                c = np.array(comb)
                test = np.setdiff1d(np.arange(len(pts)), c)
                for label, kw in configs.items():
                    kw = dict(kw)
                    form = kw.pop("prior", "gaussian")
                    if (group, form) not in priors:
                        build = family_mixture if form == "mixture" else population_prior
                        priors[(group, form)] = build(rest)
                    prior = priors[(group, form)]
                    cal = calibrate(X[c], y[c], prior.names, prior, **kw)
                    s = _score(cal.chosen, X[test], y[test], level)
                    per[label].append(s["mape"])
                    out[label]["covered"] += s["covered"]
                    out[label]["points"] += len(test)
                s = _score(cal.scratch_fit, X[test], y[test], level)
                per["scratch"].append(s["mape"])
                out["scratch"]["covered"] += s["covered"]
                out["scratch"]["points"] += len(test)
            for label in out:
                out[label][split].append(float(np.mean(per[label])))
    return {
        label: {
            **{f"{sp}_median": float(np.median(v[sp])) for sp in splits},
            **{f"{sp}_mean": float(np.mean(v[sp])) for sp in splits},
            "series_mape": {sp: v[sp] for sp in splits},
            "coverage": v["covered"] / v["points"],
        }
        for label, v in out.items()
    } | {"_series": len(series)}
