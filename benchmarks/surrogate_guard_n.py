"""What the surrogate guard's leave-one-out sees at n points, against how its two fits then predict.

The guard weighs the prior-informed and scratch fits by their leave-one-out log predictive
densities: each procedure re-fitted on ``n - 1`` points and scored on the one left out. The fits it
keeps are made on ``n`` points. A procedure that improves fast with each point (scratch, whose
slope from two points is the least sure) is then judged by a worse version of itself than the one
kept, and the prior-informed fit, which moves little from point to point, is not: the weights may
lean towards the prior more than the kept fits deserve. This script measures that, on the library
validation's synthetic series (never the Taslim & Spring points).

Protocol: the library of ``presets.small()``; the library validation's series (one per system, 7
points over a factor 5 in Re at one Pr, 3 % scatter, seed 0); each calibrated with the mixture
prior of the *other* families (its own family held out), the blend guard on plain leave-one-out
(the task's default until 2026-12-07, ``loo_correction="none"``); for
n = 2, 3, 4, 5, up to :data:`MAX_DRAWS` calibration subsets per series (seeded). Per subset: each
procedure's leave-one-out log density per point (what the guard weighs), the log density per point
of the fit it keeps on the series' other points, their difference (how much better the kept fit
predicts than its leave-one-out said), the guard's weight on the prior, the weight that would have
maximised the mixture's density on those other points (stacking on them: the best weight in
hindsight), and the MAPE of the prior-informed fit, scratch and the guard's blend; and the same
guard with Burman's correction to its leave-one-out densities where scratch's form holds
(``loo_correction="burman-same-form"``, the task's default since 2026-12-07; at two points it makes
no correction): its weight on the prior and its blend's MAPE. Summaries are
means over series (each series the mean of its subsets) with the standard error over series.

    OMP_NUM_THREADS=1 python benchmarks/surrogate_guard_n.py
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from summaries import mean_se
from summaries import verdict as verdict_of

HERE = Path(__file__).resolve().parent
NS = (2, 3, 4, 5)
MAX_DRAWS = 10
SEED = 0
COLUMNS = (
    "loo_prior loo_scratch held_out_prior held_out_scratch weight weight_hindsight "
    "mape_prior mape_scratch mape_guard weight_burman mape_burman"
).split()


def run() -> dict:
    import numpy as np

    from sciPT.domains.surrogates import presets
    from sciPT.domains.surrogates.calibrate import blend_weight, calibrate
    from sciPT.domains.surrogates.objectives import scores
    from sciPT.domains.surrogates.pretrain import BASE_NAMES, family_mixture, fit_systems
    from sciPT.domains.surrogates.recalibration import calibration_subsets, synthetic_series

    cfg = presets.small()
    fits = fit_systems(cfg.systems, cfg.points_per_system, cfg.noise, cfg.train.seed)
    family = {f.correlation.key: f.correlation.family for f in fits}
    series = synthetic_series(fits, seed=SEED)
    rng = np.random.default_rng(SEED)
    priors: dict[str, object] = {}
    rows = []
    for corr_key, pts in series.values():
        fam = family[corr_key]
        if fam not in priors:
            priors[fam] = family_mixture([f for f in fits if f.correlation.family != fam])
        X, y = pts.features(), pts.log_nu
        for n in NS:
            for c in calibration_subsets(len(y), n, MAX_DRAWS, rng):
                test = np.setdiff1d(np.arange(len(y)), c)
                cal = calibrate(X[c], y[c], BASE_NAMES, priors[fam], loo_correction="none")
                corrected = calibrate(X[c], y[c], BASE_NAMES, priors[fam], loo_correction="burman-same-form")
                lpd_p = cal.prior_fit.log_density(X[test], y[test])
                lpd_s = cal.scratch_fit.log_density(X[test], y[test])
                values = (
                    cal.guard.elpd["prior"] / n,
                    cal.guard.elpd["scratch"] / n,
                    float(lpd_p.mean()),
                    float(lpd_s.mean()),
                    cal.guard.prior_weight,
                    blend_weight(lpd_p, lpd_s, "stacking"),
                    scores(cal.prior_fit.predict(X[test]), y[test])[1],
                    scores(cal.scratch_fit.predict(X[test]), y[test])[1],
                    scores(cal.chosen.predict(X[test]), y[test])[1],
                    corrected.guard.prior_weight,
                    scores(corrected.chosen.predict(X[test]), y[test])[1],
                )
                rows.append([corr_key, fam, n, [int(i) for i in c], *map(float, values)])
    return {"series": len(series), "columns": ["series", "family", "n", "subset", *COLUMNS], "rows": rows}


# derived per-series differences: (name, minuend, subtrahend), in order (the first two are made above)
DIFFERENCES_OF = (
    ("gain_scratch_minus_prior", "gain_scratch", "gain_prior"),
    ("weight_minus_hindsight", "weight", "weight_hindsight"),
    ("guard_minus_scratch_mape", "mape_guard", "mape_scratch"),
    ("burman_minus_guard_mape", "mape_burman", "mape_guard"),
    ("burman_minus_scratch_mape", "mape_burman", "mape_scratch"),
)


def summarise(record: dict) -> dict:
    """Per n: each quantity's mean over series (a series: the mean of its subsets) and SE."""
    cols = record["columns"]
    at = {name: cols.index(name) for name in cols}
    out = {}
    for n in NS:
        per_series: dict[str, list[list[float]]] = {}
        for row in record["rows"]:
            if row[at["n"]] == n:
                per_series.setdefault(row[at["series"]], []).append(row)

        def series_means(fn, groups=per_series):
            return [sum(fn(r) for r in rs) / len(rs) for rs in groups.values()]

        quantities = {name: series_means(lambda r, i=at[name]: r[i]) for name in COLUMNS}
        quantities["gain_prior"] = series_means(lambda r: r[at["held_out_prior"]] - r[at["loo_prior"]])
        quantities["gain_scratch"] = series_means(lambda r: r[at["held_out_scratch"]] - r[at["loo_scratch"]])
        for name, a, b in DIFFERENCES_OF:
            quantities[name] = [x - y for x, y in zip(quantities[a], quantities[b], strict=True)]
        out[str(n)] = {
            "series": len(per_series),
            "subsets": sum(len(rs) for rs in per_series.values()),
            **{name: dict(zip(("mean", "se"), mean_se(v))) for name, v in quantities.items()},
        }
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.path.insert(0, str(HERE))
    from provenance import finish, provenance, write_results

    record = {"provenance": provenance(argv)}
    started = time.perf_counter()
    record["protocol"] = {
        "ns": list(NS),
        "max_draws": MAX_DRAWS,
        "seed": SEED,
        "series": "recalibration.synthetic_series(seed 0), as the library validation draws them: 7 points over a factor 5 in Re, 3 % scatter",
        "prior": "family_mixture of the other families (own family held out)",
        "guard": "the blend with loo_correction='none' (the default until 2026-12-07), and with 'burman-same-form' (the default since)",
    }
    record.update(run())
    record["summary"] = summarise(record)
    record["wall_s"] = time.perf_counter() - started
    path = write_results("surrogate_guard_n", finish(record))
    print(f"wrote {path}", file=sys.stderr)
    print(render({"surrogate_guard_n": record}))


DIFFERENCES = ("gain_prior", "gain_scratch", "gain_scratch_minus_prior", "weight_minus_hindsight")


def _cell(q: dict, digits: int, signed: bool) -> str:
    return f"{q['mean']:{'+' if signed else ''}.{digits}f} ± {q['se']:.{digits}f}"


def render(results: dict, name: str = "surrogate_guard_n") -> str:
    """The generated block of ``RESULTS_surrogate.md``."""
    from report import provenance_line

    record = results[name]
    s = record["summary"]
    ns = [str(n) for n in record["protocol"]["ns"]]
    lines = [
        f"Measured by {provenance_line(record)} {record['series']} synthetic series, up to "
        f"{record['protocol']['max_draws']} calibration subsets per series and n; {record['wall_s']:.0f} s.",
        "",
        "Means over series ± standard error over series; log densities in nats per point.",
        "",
        "| quantity | " + " | ".join(f"n = {n}" for n in ns) + " |",
        "|---|" + "---|" * len(ns),
    ]
    table = (
        ("leave-one-out log density, prior-informed (what the uncorrected guard weighs)", "loo_prior"),
        ("leave-one-out log density, scratch", "loo_scratch"),
        ("kept fit's log density on the other points, prior-informed", "held_out_prior"),
        ("kept fit's log density on the other points, scratch", "held_out_scratch"),
        ("kept minus leave-one-out, prior-informed", "gain_prior"),
        ("kept minus leave-one-out, scratch", "gain_scratch"),
        ("scratch's minus the prior's (kept minus leave-one-out)", "gain_scratch_minus_prior"),
        ("guard's weight on the prior (uncorrected leave-one-out)", "weight"),
        ("best weight in hindsight (stacking on the other points)", "weight_hindsight"),
        ("guard's weight minus the best in hindsight", "weight_minus_hindsight"),
        ("MAPE %, prior-informed", "mape_prior"),
        ("MAPE %, scratch", "mape_scratch"),
        ("MAPE %, guard", "mape_guard"),
        ("MAPE %, guard minus scratch", "guard_minus_scratch_mape"),
        ("guard's weight on the prior, Burman-corrected where scratch's form holds", "weight_burman"),
        ("MAPE %, guard with that correction (the default since 2026-12-07)", "mape_burman"),
        ("MAPE %, corrected minus uncorrected guard", "burman_minus_guard_mape"),
        ("MAPE %, corrected guard minus scratch", "burman_minus_scratch_mape"),
    )
    for label, key in table:
        digits = 2 if "mape" in key else 3
        signed = key in DIFFERENCES or "_minus_" in key
        lines.append(f"| {label} | " + " | ".join(_cell(s[n][key], digits, signed) for n in ns) + " |")
    verdicts = []
    for n in ns:
        q = s[n]["gain_scratch_minus_prior"]
        verdicts.append(f"n = {n}: {verdict_of(q['mean'], q['se'], 'scratch ahead', 'prior ahead', 'tied')}")
    burman = []
    for n in ns:
        q = s[n]["burman_minus_guard_mape"]
        burman.append(f"n = {n}: {verdict_of(q['mean'], q['se'], 'behind', 'ahead', 'tied')}")
    lines += [
        "",
        "Does the kept scratch fit outdo its leave-one-out by more than the prior-informed fit does "
        "(2-SE rule over series)? " + "; ".join(verdicts) + ".",
        "",
        "The guard with Burman's correction where scratch's form holds against the uncorrected guard, in "
        "MAPE (2-SE rule over series): " + "; ".join(burman) + ".",
        "",
        "Subsets per n: " + ", ".join(f"{n}: {s[n]['subsets']}" for n in ns) + ".",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
