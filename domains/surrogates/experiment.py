"""Few-shot calibration study: prior-informed vs scratch vs the guard on measured series.

For each series and each ``n``, every combination of ``n`` calibration points is drawn (or
``max_draws`` random ones when there are more); each draw is calibrated (:func:`.calibrate.calibrate`)
and scored on held-out points of the same series under three splits:

- ``all``: every point not used for calibration;
- ``interpolation``: held-out points strictly inside the calibration points' Re range (n >= 2);
- ``extrapolation``: held-out points above the largest calibration Re.

A draw's MAPE is the mean absolute percentage error of ``Nu`` over its held-out points (the
prediction is ``exp`` of the predictive mean of ``log Nu``, the median of ``Nu``); the table gives
the median and 90th percentile over draws, and the fraction of all held-out points inside the
central ``level`` predictive interval (coverage). Used by ``scipt demo surrogate`` and
``benchmarks/surrogate_calibration.py``.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from tqdm.auto import tqdm

from .calibrate import calibrate
from .data import Points
from .objectives import GaussianPrior, NoisePrior, scores

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
    level: float = 0.9,
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
        cal = calibrate(X[c], y[c], prior.names[:3], prior, transfer=transfer, noise=noise, margin=margin)
        fits = {"scratch": cal.scratch_fit, "prior": cal.prior_fit, "guard": cal.chosen}
        for split in SPLITS:
            test = held_out(pts.re, c, split)
            if len(test) == 0:
                continue
            for method, post in fits.items():
                pred = post.predict(X[test])
                lo, hi = post.interval(X[test], level)
                inside = (lo <= y[test]) & (y[test] <= hi)
                records.append(
                    {
                        "series": key,
                        "n": n,
                        "split": split,
                        "method": method,
                        "draw": comb,
                        "mape": scores(pred, y[test])[1],
                        "covered": int(inside.sum()),
                        "points": int(len(test)),
                        "guard_kept_prior": cal.guard.choice == "prior",
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
                        "prior_kept": float(np.mean([r["guard_kept_prior"] for r in rows])),
                    }
                )
    return table


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
