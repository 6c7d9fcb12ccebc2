"""``scipt demo surrogate``: pre-train on the correlations, calibrate on measured ribbed channels.

1. Learn the prior from every textbook correlation (preset ``small``, the prior form of
   ``scipt finetune surrogate``'s default), and the naive one from the
   smooth-pipe family only (ribbed channels scale as Re^0.6-0.7, smooth pipes as Re^0.8).
2. On the seven Taslim & Spring (1987) series shipped in ``data_recipes/heat_transfer``, calibrate
   every combination of n = 1, 2, 3, 5 points and score the held-out points
   (:mod:`.experiment`): prior-informed vs scratch vs the guard's choice, MAPE and 90 % coverage.
3. Write a run directory: the pre-trained model (usable as ``--init RUN``), the tables
   (``study.json``, ``metrics.json``, ``report.md``), sample-efficiency plots and one worked example
   (``example_train.csv`` / ``example_test.csv`` with its plot) to rerun by hand.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import shlex
import sys
from pathlib import Path

import numpy as np

from sciPT import __version__, io
from sciPT.config import to_dict
from sciPT.run import RunDir

from . import export_surrogate, plots, presets, prior_posterior
from .calibrate import DEFAULT_PRIOR_FORM, calibrate
from .data import TASLIM_DIR, read_points, taslim_series, write_points
from .experiment import few_shot_study, guard_gap
from .law import law_string
from .mixture import MixturePrior
from .objectives import scores
from .pretrain import learn_prior, validity_box
from .recalibration import for_library

LEVEL = 0.9
EXAMPLE = ("fig5_ar_1.0_half_squares_eDh_0.167", (0, 1))  # the two lowest-Re points of one series


def run_demo(
    out: str | Path,
    *,
    command: str | None = None,
    progress: bool = True,
    ns: tuple[int, ...] = (1, 2, 3, 5),
    max_draws: int | None = None,
) -> RunDir:
    """Run the demo into ``out``; ``ns`` and ``max_draws`` shrink it (tests)."""
    # refused before a minute of calibrations, not after (RunDir.create looks again, with its lock)
    RunDir(out).refuse_unless_startable(resumable=False)
    series = taslim_series(TASLIM_DIR)
    # the priors and the recalibration take a while, with nothing else on the screen
    print(
        "[1/3] learning the priors from the textbook correlations (all systems; smooth pipes only) "
        "and recalibrating the intervals",
        file=sys.stderr,
    )
    cfg = presets.small()
    # the prior form `scipt finetune surrogate` uses by default (chosen on the library validation)
    prior, fits = learn_prior(cfg, form=DEFAULT_PRIOR_FORM)
    naive, _ = learn_prior(presets.smooth_pipe())
    # intervals recalibrated as `scipt finetune surrogate` does (one family has none to hold out)
    recal = for_library(cfg, DEFAULT_PRIOR_FORM)
    studies = {}
    for step, (label, p, r) in enumerate(
        (("all systems", prior, recal), ("smooth-pipe only", naive, None)), start=2
    ):
        print(
            f"[{step}/3] calibrating on {len(series)} measured series with the {label} prior", file=sys.stderr
        )
        studies[label] = few_shot_study(
            series, p, ns, level=LEVEL, recalibration=r, max_draws=max_draws, progress=progress
        )

    run = RunDir.create(out, resumable=False)
    with run.all_or_nothing():
        run.write_config(
            {
                "task": "surrogate",
                "kind": "demo",
                "data": str(TASLIM_DIR),
                "pretrain": to_dict(cfg),
                "interval_level": LEVEL,
                "transfer": "exponents",
            }
        )
        gaussian = prior.as_gaussian() if isinstance(prior, MixturePrior) else prior  # one Gaussian
        export_surrogate(
            run.model,
            prior_posterior(gaussian),
            [],
            {
                "kind": "prior",
                "systems": [f.as_dict() for f in fits],
                "validity": {"systems": validity_box(fits)},
                "pretrain": to_dict(cfg),
            },
        )
        io.write_json(run.path / "study.json", {k: s.table for k, s in studies.items()})
        metrics = {}
        for label, study in studies.items():
            tag = "all" if label.startswith("all") else "smooth_pipe"
            for row in study.table:
                key = f"{tag}/{row['split']}/n{row['n']}/{row['method']}"
                metrics[f"{key}/mape_median"] = row["mape_median"]
                metrics[f"{key}/coverage"] = row["coverage"]
        run.write_metrics(metrics)
        figures = {
            label: plots.sample_efficiency(
                run.plot_path(f"sample_efficiency_{'all' if label.startswith('all') else 'smooth_pipe'}.png"),
                study.table,
                level=LEVEL,
            )
            for label, study in studies.items()
        }
        example = _example(run, series, prior, recal)
        run.write_report(_report(studies, figures, example, prior, command))
    print(f"run written to {run.path}", file=sys.stderr)
    return run


def rerun_command(run: Path) -> str:
    """The calibration of the worked example as a user types it: ``--init all`` (the demo's prior,
    its default form and recalibration; the demo's exported ``model/`` is that prior as one
    Gaussian, which weighs the fits otherwise and has no recalibration)."""
    train = shlex.quote(str(Path(run) / "example_train.csv"))
    return f"scipt finetune surrogate --init all --train {train} --out runs/example"


def _example(run: RunDir, series, prior, recal) -> dict:
    key, chosen = EXAMPLE
    pts = series[key]
    # the example calibrates on what its files hold, to the digit: the command the report gives
    # reads them, and gets the same numbers
    for name, part in (("train", np.array(chosen)), ("test", np.setdiff1d(np.arange(len(pts)), chosen))):
        write_points(run.path / f"example_{name}.csv", _rounded(pts.subset(part)))
    train, test = (read_points(run.path / f"example_{name}.csv") for name in ("train", "test"))
    X, y = train.features(), train.log_nu
    cal = calibrate(X, y, prior.names, prior, recalibration=recal)
    re = np.geomspace(pts.re.min() / 1.5, pts.re.max() * 1.5, 100)
    Xc = np.column_stack([np.ones_like(re), np.log(re), np.full_like(re, np.log(pts.pr[0]))])
    curves = []
    for label, post, style, color in (
        ("prior-informed", cal.prior_fit, "-", "tab:green"),
        ("scratch", cal.scratch_fit, "--", "tab:orange"),
    ):
        lo, hi = post.interval(Xc, LEVEL)
        curves.append(plots.Curve(label, re, np.exp(post.predict(Xc)), style, color, np.exp(lo), np.exp(hi)))
    curves.append(plots.Curve("pre-trained law (mean)", re, np.exp(Xc @ prior.mean), ":", "k"))
    figure = plots.nu_vs_re(
        run.plot_path("example.png"),
        curves,
        [
            plots.Scatter("calibration points", train.re, train.nu, "o", "tab:blue"),
            plots.Scatter("held-out measurements", test.re, test.nu, "s", "tab:red", False),
        ],
        title=f"Taslim & Spring {key}: 2 points, kept = {cal.guard.choice}",
    )
    Xt, yt = test.features(), test.log_nu
    mape = {
        name: scores(post.predict(Xt), yt)[1]
        for name, post in (("prior", cal.prior_fit), ("scratch", cal.scratch_fit))
    }
    return {
        "key": key,
        "run": run.path,
        "figure": figure,
        "guard": cal.guard,
        "mape": mape,
        "laws": {
            "prior": law_string(cal.prior_fit.mean, prior.names),
            "scratch": law_string(cal.scratch_fit.mean, prior.names),
        },
    }


def _rounded(points):
    """``points`` to 12 significant digits: the scaled digitised values (0.25878 x 1000 is
    258.78000000000003) written as they were read, 258.78."""
    short = lambda v: np.array([float(f"{x:.12g}") for x in v])  # noqa: E731
    return dataclasses.replace(
        points,
        re=short(points.re),
        pr=short(points.pr),
        nu=short(points.nu),
        groups={k: short(v) for k, v in points.groups.items()},
    )


def _table(study) -> list[str]:
    lines = [
        "| split | n | draws | scratch MAPE % (median / p90) | prior-informed | guard | guard kept prior | "
        "90 % coverage: scratch / prior / guard |",
        "|---|---|---|---|---|---|---|---|",
    ]
    rows = {(r["split"], r["n"], r["method"]): r for r in study.table}
    for split, n in dict.fromkeys((r["split"], r["n"]) for r in study.table):
        s, p, g = (rows[(split, n, m)] for m in ("scratch", "prior", "guard"))
        lines.append(
            f"| {split} | {n} | {s['draws']} | {s['mape_median']:.1f} / {s['mape_p90']:.1f} | "
            f"{p['mape_median']:.1f} / {p['mape_p90']:.1f} | {g['mape_median']:.1f} / {g['mape_p90']:.1f} | "
            f"{g['prior_kept']:.0%} | {s['coverage']:.0%} / {p['coverage']:.0%} / {g['coverage']:.0%} |"
        )
    return lines


def _report(studies, figures, example, prior, command) -> str:
    lines = [
        "# Surrogate demo: textbook prior, measured ribbed channels",
        "",
        f"Written {dt.datetime.now().isoformat(timespec='seconds')} by sciPT {__version__}.",
    ]
    if command:
        lines += ["", "Command:", "", f"    {command}"]
    lines += [
        "",
        "Pre-trained on the library's textbook correlations (flat plates, smooth pipes, rough "
        "pipes, bluff bodies; none fitted on ribbed ducts); calibrated on Taslim & Spring (1987), 7 "
        "measured series of Nu against Re in rib-roughened channels (Pr = 0.70, 4-7 points each). "
        "Every combination of n calibration points per series; MAPE over the held-out points of a "
        "draw, median and 90th percentile over draws; coverage of the 90 % predictive interval "
        "over all held-out points (with the all-systems prior, recalibrated on library systems "
        "held out by family, as `scipt finetune surrogate` does; the one-family prior has no family "
        "to hold out and keeps the predictive's own central interval). Scratch with one point fits "
        "C with Dittus-Boelter exponents; with two or more, C and a (b = 0.4: Pr does not vary).",
        "",
        f"Pre-trained mean law (all systems): `{law_string(prior.mean, prior.names)}`; the prior "
        "transfers the exponents, C is set by the points.",
        "",
    ]
    for label, study in studies.items():
        lines += (
            [f"## Prior from {label}", ""]
            + _table(study)
            + ["", f"![sample efficiency](plots/{figures[label].name})", ""]
        )
        lines += [
            "Guard's median MAPE minus that of the better of the two (bootstrap 95 % interval over draws):",
            "",
        ]
        for split in ("all", "extrapolation"):
            for n in (2, 3, 5):
                g = guard_gap(study.records, split, n)
                if g:
                    lines.append(
                        f"- {split}, n = {n}: {g['gap']:+.2f} points vs {g['better']} "
                        f"[{g['lo']:+.2f}, {g['hi']:+.2f}]"
                    )
        lines.append("")
    ex = example
    lines += [
        "## Worked example",
        "",
        f"Series `{ex['key']}`, its two lowest-Re points (`example_train.csv`), the rest held out "
        f"(`example_test.csv`): prior-informed `{ex['laws']['prior']}` (held-out MAPE "
        f"{ex['mape']['prior']:.1f} %), scratch `{ex['laws']['scratch']}` ({ex['mape']['scratch']:.1f} %). "
        f"Guard: {ex['guard'].reason}.",
        "",
        f"![example](plots/{ex['figure'].name})",
        "",
        "Rerun it by hand (the same prior, points and guard: the same weights and laws):",
        "",
        f"    {rerun_command(ex['run'])}",
        f"    scipt evaluate runs/example --data {shlex.quote(str(ex['run'] / 'example_test.csv'))}",
        "",
    ]
    return "\n".join(lines)
