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

Raw results go to ``benchmarks/results/surrogate_calibration.json``: provenance (command, commit,
versions, CPU, load before and after), the data points, per configuration the prior (every
pre-training system's fit), the summary table, the guard gaps with their bootstrap intervals, and
one row per (draw, split) with the MAPE and the covered points of each method. ``render``,
``render_targets`` and ``render_summary`` turn it into the tables of RESULTS_surrogate.md and
RESULTS.md (``python benchmarks/report.py``).

Run::

    python benchmarks/surrogate_calibration.py            # about 10 s per configuration
    python benchmarks/surrogate_calibration.py --quick    # the default configuration only
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CONFIGS = [
    # label, prior preset, transfer, margin
    ("default: all systems, exponents transfer, margin 0", "small", "exponents", 0.0),
    ("flat-plate prior", "flat_plate", "exponents", 0.0),
    ("smooth-pipe prior (the naive one)", "smooth_pipe", "exponents", 0.0),
    ("all systems, C transferred too", "small", "all", 0.0),
    ("all systems, guard margin +0.5 nats/point (favours the prior)", "small", "exponents", 0.5),
    ("all systems, guard margin -0.5 nats/point (favours scratch)", "small", "exponents", -0.5),
]
METHODS = ("scratch", "prior", "guard")
DRAW_COLUMNS = (
    "split series n draw held_out_points guard_kept_prior "
    "mape_scratch mape_prior mape_guard covered_scratch covered_prior covered_guard"
)
BOOTSTRAP = {"resamples": 2000, "seed": 0}


def cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime


def run_config(series, label: str, preset: str, transfer: str, margin: float) -> dict:
    """One configuration: its prior, the study, the guard gaps and every (draw, split) row."""
    import numpy as np

    from sciPT.domains.surrogates import presets
    from sciPT.domains.surrogates.experiment import few_shot_study, guard_gap
    from sciPT.domains.surrogates.pretrain import learn_prior

    cfg = getattr(presets, preset)()
    prior, fits = learn_prior(cfg)
    start, cpu = time.perf_counter(), cpu_seconds()
    study = few_shot_study(series, prior, transfer=transfer, margin=margin, progress=False)
    wall, cpu = time.perf_counter() - start, cpu_seconds() - cpu
    cells = list(dict.fromkeys((r["split"], r["n"]) for r in study.table))
    gaps = []
    for split, n in cells:
        gap = guard_gap(study.records, split, n, boot=BOOTSTRAP["resamples"], seed=BOOTSTRAP["seed"])
        gaps.append({"split": split, "n": n, **gap})
    rows: dict[tuple, dict] = {}
    for r in study.records:
        rows.setdefault((r["split"], r["series"], r["n"], r["draw"]), {})[r["method"]] = r
    index = {key: i for i, key in enumerate(series)}
    draws = []
    for (split, key, n, draw), by in rows.items():
        g = by["guard"]
        draws.append(
            " ".join(
                [
                    split,
                    str(index[key]),
                    str(n),
                    "-".join(map(str, draw)),
                    str(g["points"]),
                    str(int(g["guard_kept_prior"])),
                    *(f"{by[m]['mape']:.6g}" for m in METHODS),
                    *(str(by[m]["covered"]) for m in METHODS),
                ]
            )
        )
    sd = np.sqrt(np.diag(prior.cov))
    return {
        "label": label,
        "prior_preset": preset,
        "transfer": transfer,
        "margin_nats_per_point": margin,
        "prior": {
            "systems": len(fits),
            "sampling_seed": cfg.train.seed,
            "points_per_system": cfg.points_per_system,
            "sampling_noise": cfg.noise,
            "names": list(prior.names),
            "mean": [float(x) for x in prior.mean],
            "sd": [float(x) for x in sd],
            "cov": [[float(x) for x in row] for row in prior.cov],
            "fits": [f.as_dict() for f in fits],
        },
        "wall_s": wall,
        "cpu_s": cpu,
        "scored_pairs": len(rows),
        "table": study.table,
        "guard_gaps": gaps,
        "draws": {
            "columns": DRAW_COLUMNS,
            "series": "index of the series in data.series (in file order)",
            "draw": "indices of the calibration points in the series, joined by '-'",
            "rows": draws,
        },
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="default configuration only")
    parser.add_argument(
        "--results-name", default="surrogate_calibration", help="write benchmarks/results/NAME.json"
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.path.insert(0, str(HERE))
    from provenance import finish, provenance, write_results

    from sciPT.domains.surrogates.data import taslim_series

    record = {"provenance": provenance(argv)}
    started = time.perf_counter()
    series = taslim_series()
    record["data"] = {
        "series": {
            key: {
                "source": Path(pts.source).name,
                "groups": {g: float(v[0]) for g, v in pts.groups.items()},
                "re": [float(x) for x in pts.re],
                "pr": [float(x) for x in pts.pr],
                "nu": [float(x) for x in pts.nu],
            }
            for key, pts in series.items()
        },
    }
    record["protocol"] = {
        "ns": [1, 2, 3, 5],
        "draws": "every combination of n points within a series",
        "level": 0.9,
        "bootstrap": BOOTSTRAP,
        "mape": "per draw, mean over its held-out points of |Nu_pred / Nu - 1|, in %",
    }
    record["configs"] = []
    for label, preset, transfer, margin in CONFIGS[:1] if args.quick else CONFIGS:
        print(f"{label} ...", file=sys.stderr, flush=True)
        record["configs"].append(run_config(series, label, preset, transfer, margin))
    record["wall_s"] = time.perf_counter() - started
    path = write_results(args.results_name, finish(record))
    print(f"wrote {path}", file=sys.stderr)
    results = {args.results_name: record}
    print(render(results, args.results_name))
    print(render_targets(results, args.results_name))


# --- rendering (standard library only) ---------------------------------------------------------


def _measured(record: dict) -> str:
    try:  # report.py's provenance line (report.py is beside this file)
        sys.path.insert(0, str(HERE))
        from report import provenance_line

        return f"Measured by {provenance_line(record)}"
    except ImportError:
        return f"Measured by `{record['provenance']['command']}`."


def _cells(config: dict) -> tuple[dict, dict, list]:
    rows = {(r["split"], r["n"], r["method"]): r for r in config["table"]}
    gaps = {(g["split"], g["n"]): g for g in config["guard_gaps"]}
    return rows, gaps, list(dict.fromkeys((r["split"], r["n"]) for r in config["table"]))


def _gap(g: dict) -> str:
    return f"{g['gap']:+.2f} vs {g['better']} [{g['lo']:+.2f}, {g['hi']:+.2f}]" if "gap" in g else ""


def _prior_line(config: dict) -> str:
    p = config["prior"]
    (c, a, b), (sc, sa, sb) = p["mean"][:3], p["sd"][:3]
    return (
        f"prior from {p['systems']} systems: log C {c:.3f} ± {sc:.3f}, a {a:.3f} ± {sa:.3f}, "
        f"b {b:.3f} ± {sb:.3f}; {config['scored_pairs']} scored (draw, split) pairs in "
        f"{config['wall_s']:.1f} s"
    )


def full_table(config: dict) -> list[str]:
    rows, gaps, cells = _cells(config)
    out = [
        "| split | n | draws | scratch MAPE % median / p90 | prior-informed | guard | guard kept prior "
        "| 90 % coverage scratch / prior / guard | guard gap vs better [95 % CI] |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for split, n in cells:
        s, p, g = (rows[(split, n, m)] for m in METHODS)
        out.append(
            f"| {split} | {n} | {s['draws']} | {s['mape_median']:.1f} / {s['mape_p90']:.1f} | "
            f"{p['mape_median']:.1f} / {p['mape_p90']:.1f} | {g['mape_median']:.1f} / {g['mape_p90']:.1f} | "
            f"{g['prior_kept']:.0%} | {s['coverage']:.0%} / {p['coverage']:.0%} / {g['coverage']:.0%} | "
            f"{_gap(gaps[(split, n)])} |"
        )
    return out


def short_table(config: dict) -> list[str]:
    rows, gaps, cells = _cells(config)
    out = [
        "| split | n | prior-informed MAPE % median / p90 | guard | guard kept prior | coverage prior / guard "
        "| guard gap vs better [95 % CI] |",
        "|---|---|---|---|---|---|---|",
    ]
    for split, n in cells:
        if split == "interpolation":
            continue
        p, g = rows[(split, n, "prior")], rows[(split, n, "guard")]
        out.append(
            f"| {split} | {n} | {p['mape_median']:.1f} / {p['mape_p90']:.1f} | "
            f"{g['mape_median']:.1f} / {g['mape_p90']:.1f} | {g['prior_kept']:.0%} | "
            f"{p['coverage']:.0%} / {g['coverage']:.0%} | {_gap(gaps[(split, n)])} |"
        )
    return out


def render(results: dict, name: str = "surrogate_calibration") -> str:
    """RESULTS_surrogate.md: every configuration's table (the default one in full)."""
    record = results[name]
    configs = record["configs"]
    points = sum(len(s["re"]) for s in record["data"]["series"].values())
    lines = [
        f"{_measured(record)} Whole script {record['wall_s']:.0f} s wall ({len(configs)} configuration"
        f"{'s' * (len(configs) != 1)}; calibrations {sum(c['cpu_s'] for c in configs):.0f} CPU-s). "
        f"Data: {len(record['data']['series'])} series, {points} points.",
    ]
    for i, config in enumerate(configs):
        lines += ["", f"### {config['label']}", "", _prior_line(config), ""]
        lines += full_table(config) if i == 0 else short_table(config)
    return "\n".join(lines) + "\n"


def _ns(ns: list) -> str:
    ns = [str(n) for n in ns]
    return ", ".join(ns[:-1]) + " and " + ns[-1] if len(ns) > 1 else "".join(ns)


def _targets(config: dict) -> dict:
    """The verdicts of issue 6's targets for one configuration, with the numbers behind them."""
    rows, gaps, cells = _cells(config)
    ns = sorted({n for _, n in cells})
    med = {k: v["mape_median"] for k, v in rows.items()}
    p90 = {k: v["mape_p90"] for k, v in rows.items()}
    ext = [n for n in ns if ("extrapolation", n, "guard") in rows]
    return {
        "ns": ns,
        "n1": all(
            med[(s, 1, "prior")] < med[(s, 1, "scratch")] and p90[(s, 1, "prior")] < p90[(s, 1, "scratch")]
            for s in ("all", "extrapolation")
        ),
        "ext": ext,
        "ext_median": [
            n for n in ext if med[("extrapolation", n, "guard")] < med[("extrapolation", n, "scratch")]
        ],
        "ext_p90": [
            n for n in ext if p90[("extrapolation", n, "guard")] < p90[("extrapolation", n, "scratch")]
        ],
        "worse": [(s, n) for s, n in cells if gaps[(s, n)].get("lo", 0) > 0],
        "cover": {n: rows[("all", n, "guard")]["coverage"] for n in ns},
    }


def render_targets(results: dict, name: str = "surrogate_calibration") -> str:
    """RESULTS_surrogate.md: the targets, met or missed, for the default configuration."""
    config = results[name]["configs"][0]
    rows, gaps, cells = _cells(config)
    t = _targets(config)

    def m(split, n, method, stat="mape_median"):
        return rows[(split, n, method)][stat]

    lines = [
        f"- **Ahead of scratch at n = 1: {'met' if t['n1'] else 'missed'}.** Median MAPE "
        f"{m('all', 1, 'prior'):.1f} % vs {m('all', 1, 'scratch'):.1f} % (all held-out points), "
        f"{m('extrapolation', 1, 'prior'):.1f} % vs {m('extrapolation', 1, 'scratch'):.1f} % in "
        f"extrapolation; 90th percentile {m('all', 1, 'prior', 'mape_p90'):.1f} vs "
        f"{m('all', 1, 'scratch', 'mape_p90'):.1f} and {m('extrapolation', 1, 'prior', 'mape_p90'):.1f} vs "
        f"{m('extrapolation', 1, 'scratch', 'mape_p90'):.1f}.",
    ]
    both = [n for n in t["ext"] if n in t["ext_median"] and n in t["ext_p90"]]
    verdict = "met" if both == t["ext"] else (f"met at n = {_ns(both)}" if both else "missed")
    per_n = "; ".join(
        f"n = {n}: median {m('extrapolation', n, 'guard'):.1f} vs {m('extrapolation', n, 'scratch'):.1f} %, "
        f"p90 {m('extrapolation', n, 'guard', 'mape_p90'):.1f} vs {m('extrapolation', n, 'scratch', 'mape_p90'):.1f}"
        for n in t["ext"]
    )
    lines.append(
        f"- **Ahead of scratch in extrapolation (the guard, which `scipt finetune surrogate` ships, against "
        f"scratch): {verdict}**; ahead on the median at n = {_ns(t['ext_median']) or 'none'}, on the 90th "
        f"percentile at n = {_ns(t['ext_p90']) or 'none'} ({per_n}). Prior-informed alone, median: "
        + ", ".join(f"{m('extrapolation', n, 'prior'):.1f} % at n = {n}" for n in t["ext"])
        + "."
    )
    if t["worse"]:
        worse = "; ".join(f"{s}, n = {n}: {_gap(gaps[(s, n)])}" for s, n in t["worse"])
        fine = [(s, n) for s, n in cells if (s, n) not in t["worse"]]
        lines.append(
            f"- **Guard never worse than the better of the two beyond noise: missed where the bootstrap "
            f"interval of the gap lies above zero** ({worse}); met elsewhere (gaps from "
            f"{min(gaps[c]['gap'] for c in fine):+.2f} to {max(gaps[c]['gap'] for c in fine):+.2f} points, "
            "intervals reaching zero)."
        )
    else:
        lines.append(
            "- **Guard never worse than the better of the two beyond noise: met** (every bootstrap "
            "interval reaches zero)."
        )
    inside = [n for n, c in t["cover"].items() if 0.85 <= c <= 0.95]
    over = [n for n, c in t["cover"].items() if c > 0.95]
    under = [n for n, c in t["cover"].items() if c < 0.85]
    cover = ", ".join(f"{c:.0%} at n = {n}" for n, c in t["cover"].items())
    ext_cover = ", ".join(
        f"{rows[('extrapolation', n, 'guard')]['coverage']:.0%} at n = {n} "
        f"({rows[('extrapolation', n, 'guard')]['draws']} draws)"
        for n in t["ext"]
    )
    verdict = "met" if not over and not under else (f"met at n = {_ns(inside)}" if inside else "missed")
    misses = "".join(
        [
            f", missed at n = {_ns(over)} by over-coverage" if over else "",
            f", missed at n = {_ns(under)} by under-coverage" if under else "",
        ]
    )
    lines.append(
        f"- **90 % intervals covering 85-95 % of held-out points (guard, all held-out points): "
        f"{verdict}{misses}** ({cover}; in extrapolation {ext_cover}). Scratch at n = 1: "
        f"{rows[('all', 1, 'scratch')]['coverage']:.0%}."
    )
    lines += [
        "",
        "The other configurations against the default (median MAPE % on all held-out points, prior-informed "
        "/ guard; guard gaps whose interval lies above zero):",
        "",
        "| configuration | " + " | ".join(f"n = {n}" for n in t["ns"]) + " | guard worse beyond noise |",
        "|---|" + "---|" * len(t["ns"]) + "---|",
    ]
    for c in results[name]["configs"]:
        r, g, _ = _cells(c)
        worse = _targets(c)["worse"]
        lines.append(
            f"| {c['label']} | "
            + " | ".join(
                f"{r[('all', n, 'prior')]['mape_median']:.1f} / {r[('all', n, 'guard')]['mape_median']:.1f}"
                for n in t["ns"]
            )
            + " | "
            + (", ".join(f"{s} n = {n} ({g[(s, n)]['gap']:+.2f})" for s, n in worse) or "none")
            + " |"
        )
    return "\n".join(lines) + "\n"


def render_summary(results: dict, name: str = "surrogate_calibration") -> str:
    """RESULTS.md: the default configuration on all held-out points and in extrapolation."""
    record = results[name]
    config = record["configs"][0]
    rows, _, cells = _cells(config)
    series = record["data"]["series"]
    lines = [
        f"{_measured(record)} {len(series)} series, {sum(len(s['re']) for s in series.values())} points, every "
        f"combination of n calibration points; MAPE of Nu on the held-out points of the same series "
        f"(whole script {record['wall_s']:.0f} s wall).",
        "",
        "| split | n | scratch median / p90 MAPE % | prior-informed | guard's choice | 90% coverage (guard) |",
        "|---|---|---|---|---|---|",
    ]
    for split, n in cells:
        if split == "interpolation":
            continue
        s, p, g = (rows[(split, n, m)] for m in METHODS)
        lines.append(
            f"| {split} | {n} | {s['mape_median']:.1f} / {s['mape_p90']:.1f} | {p['mape_median']:.1f} / "
            f"{p['mape_p90']:.1f} | {g['mape_median']:.1f} / {g['mape_p90']:.1f} | {g['coverage']:.0%} |"
        )
    t = _targets(config)
    worse = _ns([n for s, n in t["worse"] if s == "all"])
    inside = [n for n, c in t["cover"].items() if 0.85 <= c <= 0.95]
    lines += [
        "",
        f"Targets: ahead of scratch at n = 1 ({'met' if t['n1'] else 'missed'}); in extrapolation, ahead on "
        f"the 90th percentile at n = {_ns(t['ext_p90']) or 'none'} and on the median at n = "
        f"{_ns(t['ext_median']) or 'none'}; the guard never worse than the better of the two beyond noise "
        + (f"(missed on all held-out points at n = {worse})" if worse else "(met on all held-out points)")
        + f"; 90% intervals covering 85-95% (met at n = {_ns(inside) or 'none'}). Details: "
        "`RESULTS_surrogate.md`.",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
