"""Few-shot surrogate calibration on measured ribbed channels: prior-informed vs scratch vs guard.

Data: the seven Taslim & Spring (1987) series shipped in ``data_recipes/heat_transfer`` (43 points,
air at Pr 0.70, ribbed channels of several aspect ratios and rib heights). For n = 1, 2, 3, 5 every
combination of n calibration points within a series is calibrated
(:func:`sciPT.domains.surrogates.experiment.few_shot_study`) and scored on held-out points of the
same series: ``all`` other points, ``interpolation`` (held-out Re strictly inside the calibration
range) and ``extrapolation`` (held-out Re above it). Per draw, MAPE of Nu over its held-out points;
reported: the median and 90th percentile over draws, and the coverage of the central 90 %
predictive interval over all held-out points. "Guard gap": the guard's median MAPE minus that of
the better of scratch and prior-informed, with a paired bootstrap 95 % interval over draws.

What "scratch" means per n (a 3-parameter law cannot be fitted to fewer than 3 points): with one
point it fits C with the Dittus-Boelter exponents (a = 0.8, b = 0.4), the engineer's enhancement
factor; with two or more, C and a free, b = 0.4 (Pr does not vary within a series).

The default configuration (the one ``scipt finetune surrogate`` uses) is run first, then the
sensitivity variants (other priors, transferring C too, guard margins); each variant is one
line per (split, n) for the prior-informed fit and the guard.

Run::

    python benchmarks/surrogate_calibration.py            # about a minute per configuration
    python benchmarks/surrogate_calibration.py --quick    # the default configuration only
"""

from __future__ import annotations

import argparse
import os
import platform
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from sciPT.domains.surrogates import presets  # noqa: E402
from sciPT.domains.surrogates.data import taslim_series  # noqa: E402
from sciPT.domains.surrogates.experiment import few_shot_study, guard_gap  # noqa: E402
from sciPT.domains.surrogates.pretrain import learn_prior  # noqa: E402

CONFIGS = [
    # label, prior preset, transfer, margin
    ("default: all systems, exponents transfer, margin 0", "small", "exponents", 0.0),
    ("flat-plate prior", "flat_plate", "exponents", 0.0),
    ("smooth-pipe prior (the naive one)", "smooth_pipe", "exponents", 0.0),
    ("all systems, C transferred too", "small", "all", 0.0),
    ("all systems, guard margin +0.5 nats/point (favours the prior)", "small", "exponents", 0.5),
    ("all systems, guard margin -0.5 nats/point (favours scratch)", "small", "exponents", -0.5),
]


def full_table(study) -> list[str]:
    rows = {(r["split"], r["n"], r["method"]): r for r in study.table}
    out = [
        "| split | n | draws | scratch MAPE % median / p90 | prior-informed | guard | guard kept prior "
        "| 90 % coverage scratch / prior / guard | guard gap vs better [95 % CI] |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for split, n in dict.fromkeys((r["split"], r["n"]) for r in study.table):
        s, p, g = (rows[(split, n, m)] for m in ("scratch", "prior", "guard"))
        gap = guard_gap(study.records, split, n)
        gap_txt = f"{gap['gap']:+.2f} vs {gap['better']} [{gap['lo']:+.2f}, {gap['hi']:+.2f}]" if gap else ""
        out.append(
            f"| {split} | {n} | {s['draws']} | {s['mape_median']:.1f} / {s['mape_p90']:.1f} | "
            f"{p['mape_median']:.1f} / {p['mape_p90']:.1f} | {g['mape_median']:.1f} / {g['mape_p90']:.1f} | "
            f"{g['prior_kept']:.0%} | {s['coverage']:.0%} / {p['coverage']:.0%} / {g['coverage']:.0%} | "
            f"{gap_txt} |"
        )
    return out


def short_table(study) -> list[str]:
    rows = {(r["split"], r["n"], r["method"]): r for r in study.table}
    out = [
        "| split | n | prior-informed MAPE % median / p90 | guard | guard kept prior | coverage prior / guard "
        "| guard gap vs better [95 % CI] |",
        "|---|---|---|---|---|---|---|",
    ]
    for split, n in dict.fromkeys((r["split"], r["n"]) for r in study.table):
        if split == "interpolation":
            continue
        p, g = rows[(split, n, "prior")], rows[(split, n, "guard")]
        gap = guard_gap(study.records, split, n)
        gap_txt = f"{gap['gap']:+.2f} vs {gap['better']} [{gap['lo']:+.2f}, {gap['hi']:+.2f}]" if gap else ""
        out.append(
            f"| {split} | {n} | {p['mape_median']:.1f} / {p['mape_p90']:.1f} | "
            f"{g['mape_median']:.1f} / {g['mape_p90']:.1f} | {g['prior_kept']:.0%} | "
            f"{p['coverage']:.0%} / {g['coverage']:.0%} | {gap_txt} |"
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="default configuration only")
    args = parser.parse_args()
    series = taslim_series()
    print(
        f"# machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, numpy {np.__version__}"
    )
    print(f"# data: {len(series)} series, {sum(len(s) for s in series.values())} points\n")
    for i, (label, preset, transfer, margin) in enumerate(CONFIGS[:1] if args.quick else CONFIGS):
        prior, fits = learn_prior(getattr(presets, preset)())
        start = time.perf_counter()
        study = few_shot_study(series, prior, transfer=transfer, margin=margin, progress=False)
        wall = time.perf_counter() - start
        sd = np.sqrt(np.diag(prior.cov))
        print(f"## {label}\n")
        print(
            f"prior from {len(fits)} systems: log C {prior.mean[0]:.3f} ± {sd[0]:.3f}, a {prior.mean[1]:.3f} ± "
            f"{sd[1]:.3f}, b {prior.mean[2]:.3f} ± {sd[2]:.3f}; {len(study.records) // 3} scored (draw, split) pairs in "
            f"{wall:.1f} s\n"
        )
        print("\n".join(full_table(study) if i == 0 else short_table(study)))
        print()


if __name__ == "__main__":
    main()
