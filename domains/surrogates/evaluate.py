"""A surrogate on measured points: ``scipt evaluate`` and ``scipt predict`` of any surrogates model.

A calibrated run (the ``surrogate`` task) and a pre-training run (the prior alone,
:meth:`~sciPT.domains.surrogates.SurrogatesDomain.pretrain`) both export a
:class:`.model.PowerLaw` with its parameter distribution; :func:`predictions` gives the predictive
mean of log Nu (the point prediction, ``Nu_pred``), its median (``Nu_median``, inside every central
interval) and the central ``level`` predictive interval on a points file, :func:`in_range` says which points
lie inside the calibration range (a calibrated model) or inside at least one pre-training system's
validity range (a prior). :func:`evaluate_run` scores them (RMSE of log Nu, MAPE, interval
coverage, and the alternative fits a calibrated run records), each also separately for the points
inside and outside the calibration range (extrapolation: there the predictive interval is wider,
since the parameter uncertainty grows with the distance ``x^T Cov x`` from the calibration points),
and writes its own folder (:meth:`sciPT.run.RunDir.evaluation`): ``metrics.json``,
``predictions.csv`` (per point: prediction, interval, ``in_calibration_range``),
``plots/evaluate.png``, ``report.md``. A points file is read for the model's own columns (``Re``,
``Pr``, ``Nu`` when scored, its ratios and those it holds constant); any other column is carried
through to the output as it is. The interval level is the run's own unless ``--interval-level``
gives another. Scored points that lie on a system of the library the model's prior was learnt on
(more than half of them within 1 % of its Nu, :mod:`.contamination`) are not held out: the report
says so first, naming the system, standard error warns, and ``eval_points_on_library_system``
counts them.
The Nu-against-Re curve helpers are shared with the calibration plot of the task.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from sciPT.errors import ConfigError

from . import plots
from .contamination import library_matches, points_on_library, recorded_systems
from .data import Points, copied_rows_note, read_points, write_points
from .objectives import LEVELS, scores
from .pretrain import inside_validity


def check_level(level: float) -> float:
    if not 0 < level < 1:
        raise ConfigError(f"--interval-level: expected a probability between 0 and 1, got {level}")
    return float(level)


def check_mapped_level(level: float, other_levels: str) -> float:
    """``level`` where a recalibration map sets the intervals: the map covers :data:`.objectives.LEVELS`
    only (beyond them the 0.99 or 0.01 interval was given in silence); ``other_levels`` says how
    to get another."""
    if not LEVELS[0] <= level <= LEVELS[-1]:
        raise ConfigError(
            f"--interval-level: expected a level from {LEVELS[0]:g} to {LEVELS[-1]:g}, the levels the "
            f"interval recalibration maps, got {level_text(level)}; {other_levels}"
        )
    return level


def level_text(level: float) -> str:
    """``level`` as column names and messages write it, with every digit it was given
    (``{:g}`` wrote 0.9999999 as 1)."""
    return repr(float(level))


def percent(level: float) -> str:
    """``level`` in per cent, to the digits it was given: 0.999 is 99.9%, which ``{:.0%}`` printed
    as 100%."""
    return f"{100 * level:.10g}%"


def add_level_argument(parser) -> None:
    parser.add_argument(
        "--interval-level",
        type=float,
        default=None,
        metavar="LEVEL",
        help="probability held by the predictive intervals (default: the run's own, "
        "finetune's --interval-level; 0.9 for a pre-trained prior)",
    )


def run_level(level: float | None, config: dict) -> float:
    """``--interval-level``, or the level the run was calibrated for when it is not given."""
    return check_level(config.get("interval_level", 0.9) if level is None else level)


def predictions(run, path, level: float | None, *, require_nu: bool):
    """The run's model on the points of ``path``: the predictive mean and median of log Nu, the
    ``level`` interval (``None``: the run's own level), and that level."""
    from sciPT.checkpoint import from_pretrained

    pre = from_pretrained(run.path, domain="surrogates")
    model = pre.model
    level = run_level(level, pre.config)
    if pre.config.get("interval_level_map") is not None:
        check_mapped_level(level, "other levels need a run calibrated with --recalibrate false")
    # only the columns the model reads are checked: a file's other columns (a run number, an
    # earlier prediction's in_calibration_range of 0) are kept as they are, not refused
    held = [g for g in pre.config.get("calibration_range") or {} if g not in ("Re", "Pr")]
    points = read_points(
        path, groups=model.groups, require_nu=require_nu, optional=held, groups_wanted_by="the model"
    )
    X = points.features(model.groups)
    post, design = stored_posterior(model, pre.config), model.design(X)
    lo, hi = post.interval(design, level)
    return model, pre.config, points, X, post.predict(design), post.median(design), lo, hi, level


def stored_posterior(model, config: dict):
    """The exported model's distribution, with the interval recalibration it was calibrated with."""
    post = model.posterior()
    if config.get("interval_level_map") is not None:
        post.level_map = np.asarray(config["interval_level_map"], float)
    return post


RANGE_SLACK = 0.01
# a bound typed by hand is 0.99 x 27820.9 = 27542.691, which floating point makes 27542.691000000003:
# compared exactly, a point on the documented bound was flagged outside it
RANGE_RTOL = 1e-9


def outside_by_variable(points: Points, config: dict) -> dict[str, np.ndarray]:
    """For each variable of a calibrated model's range, which points lie outside it, from
    ``1 - RANGE_SLACK`` times its lowest calibration value to ``1 + RANGE_SLACK`` times its highest,
    bounds included (``{}`` for a prior, which has validity boxes instead)."""
    values = {"Re": points.re, "Pr": points.pr, **points.groups}
    out = {}
    for name, (lo, hi) in (config.get("calibration_range") or {}).items():
        if name in values:
            low = lo * (1 - RANGE_SLACK) * (1 - RANGE_RTOL)
            high = hi * (1 + RANGE_SLACK) * (1 + RANGE_RTOL)
            out[name] = (values[name] < low) | (values[name] > high)
    return out


def in_range(points: Points, config: dict) -> np.ndarray:
    """Whether each point lies inside the calibration range of every variable (with 1 % slack,
    :func:`outside_by_variable`)."""
    ok = np.ones(len(points), bool)
    if not config.get("calibration_range"):
        return (
            inside_validity(points.re, points.pr, config.get("validity", {}).get("systems", []))
            if config.get("validity", {}).get("systems")
            else ok
        )
    for outside in outside_by_variable(points, config).values():
        ok &= ~outside
    return ok


def inward(x: float, up: bool) -> str:
    """``x`` written in as few significant digits (six at least) as keep it on the inside of a
    bound: rounded up for a lower bound (``up``), down for an upper one, so that the printed bound,
    typed back, counts as inside (``10284.018`` as ``10284.02``, not ``10284``)."""
    for digits in range(6, 18):
        text = f"{x:.{digits}g}"
        if (float(text) >= x) if up else (float(text) <= x):
            return text
    return repr(x)


def outside_lines(points: Points, config: dict) -> list[str]:
    """Why points lie outside the calibration range, one line per variable that puts some there:
    the range calibrated on, the range counted as inside and the lines of the points."""
    said = []
    for name, outside in outside_by_variable(points, config).items():
        if outside.any():
            lo, hi = config["calibration_range"][name]
            said.append(
                f"{name}: calibrated on {lo:g} to {hi:g}, inside from {inward(lo * (1 - RANGE_SLACK), True)} "
                f"to {inward(hi * (1 + RANGE_SLACK), False)} ({RANGE_SLACK:.0%} slack, bounds included); "
                f"{int(outside.sum())} point(s) outside, lines {_some(points.lines[outside])}"
            )
    return said


def input_warnings(points: Points, config: dict, scored: bool) -> list[str]:
    """What a user should know about a points file before reading the model's numbers on it: a
    ratio the model holds constant that the file lacks (each point is then predicted, and counted
    inside the range, at the calibrated value), points outside the validity range of every
    correlation the prior was learnt from (far beyond the calibration range too: nothing the model
    has seen vouches for its law there), and, when the points are scored, rows copied twice (each
    copy counts once more in the MAPE and coverage)."""
    said = []
    calibrated = config.get("calibration_range") or {}
    for name, (lo, hi) in calibrated.items():
        if name not in ("Re", "Pr") and name not in points.groups and lo == hi:
            said.append(
                f"warning: {points.source}: no {name} column: the model holds {name} at {lo:g}, the "
                f"value it was calibrated at, so every point is predicted (and counted inside the "
                f"range) at {name} = {lo:g}; add the column to have other values flagged"
            )
    boxes = config.get("validity", {}).get("systems", [])
    if boxes and calibrated:  # a prior's own flag is this test already
        beyond = ~inside_validity(points.re, points.pr, boxes)
        if beyond.any():
            said.append(
                f"warning: {points.source}: {int(beyond.sum())} of {len(points)} point(s) lie outside "
                "the (Re, Pr) validity range of every correlation the prior was learnt from, not only "
                f"outside the calibration range: lines {_some(points.lines[beyond])}"
            )
    copied = scored and copied_rows_note(points, "each copy counts once more in the MAPE and the coverage")
    if copied:
        said.append(f"warning: {copied}")
    return said


def _some(lines: np.ndarray, most: int = 10) -> str:
    return ", ".join(str(x) for x in lines[:most]) + (" ..." if len(lines) > most else "")


def evaluate_run(run, args) -> dict:
    """Score the run's surrogate on the measured points of ``args.data``; its own folder."""
    model, config, points, X, pred, median, lo, hi, level = predictions(
        run, args.data, getattr(args, "interval_level", None), require_nu=True
    )
    said = input_warnings(points, config, scored=True)
    for line in said:
        print(line, file=sys.stderr)
    # points computed from a law of the library the prior was learnt on are not held out from it
    library = recorded_systems(config.get("validity", {}).get("systems", []))
    on_library = library_matches(points.re, points.pr, points.nu, library, points.lines)
    for match in on_library:
        print(f"warning: {points.source}: {match.sentence()}", file=sys.stderr)
    y = points.log_nu
    outside = ~in_range(points, config)
    rmse, mape = scores(pred, y)
    metrics = {
        "eval_points": len(points),
        "eval_rmse_log_nu": rmse,
        "eval_mape": mape,
        "eval_coverage": float(((lo <= y) & (y <= hi)).mean()),
        "eval_interval_level": level,
        "eval_outside_calibration_range": int(outside.sum()),
    }
    if library:
        metrics["eval_points_on_library_system"] = points_on_library(on_library)
    covered = (lo <= y) & (y <= hi)
    for name, mask in (("inside", ~outside), ("outside", outside)):
        if mask.any():
            metrics[f"eval_mape_{name}"] = scores(pred[mask], y[mask])[1]
            metrics[f"eval_coverage_{name}"] = float(covered[mask].mean())
            # the geometric half-width: the interval is Nu_pred / (1 + h) to Nu_pred * (1 + h) when
            # symmetric in log Nu; half of hi/lo - 1 overstated it (0.5 for 0.41 at hi/lo = 2)
            metrics[f"eval_interval_half_width_{name}"] = float(
                np.median(np.exp((hi[mask] - lo[mask]) / 2) - 1)
            )
    alternatives = {}
    fits = config.get("fits", {})
    for key, law in fits.items():
        if isinstance(law, dict) and key != fits.get("kept"):
            theta = law_theta(law)
            alternatives[key] = scores(X @ theta, y)
            metrics[f"eval_mape_{key}"] = alternatives[key][1]
    # its own folder (RUN/evaluations/<file name>, or --out): the run's metrics stay as fitted
    with run.evaluation(args.data, getattr(args, "out", None)) as ev:
        figure = evaluate_plot(ev.plot_path("evaluate.png"), points, model, config, level)
        write_points(
            ev.plot_path("evaluate.png").parent.parent / "predictions.csv",
            points,
            {
                "Nu_pred": np.exp(pred),
                "Nu_median": np.exp(median),
                f"Nu_lo_{level_text(level)}": np.exp(lo),
                f"Nu_hi_{level_text(level)}": np.exp(hi),
                "in_calibration_range": (~outside).astype(int),
            },
        )
        ev.write_metrics(metrics)
        ev.write_report(
            evaluation_section(
                metrics,
                alternatives,
                outside,
                points,
                figure,
                "calibration_range" in config,
                outside_lines(points, config),
                said,
                on_library,
            )
        )
    print(json.dumps(metrics, indent=1))
    return metrics


def predict_run(run, args) -> Path:
    """``scipt predict``: the run's prediction and interval for each point of ``args.input``, with
    its ``in_calibration_range`` flag, written to ``args.output`` (atomically)."""
    _, config, points, _, pred, median, lo, hi, level = predictions(
        run, args.input, getattr(args, "interval_level", None), require_nu=False
    )
    for line in input_warnings(points, config, scored=False):
        print(line, file=sys.stderr)
    extra = {
        "Nu_pred": np.exp(pred),
        "Nu_median": np.exp(median),
        f"Nu_lo_{level_text(level)}": np.exp(lo),
        f"Nu_hi_{level_text(level)}": np.exp(hi),
        "in_calibration_range": in_range(points, config).astype(int),
    }
    write_points(args.output, points, extra)
    print(f"wrote {len(points)} predictions to {args.output}", file=sys.stderr)
    return Path(args.output)


# the run's fits other than the kept one, as config.json's "fits" names them; "pretrained" is the
# prior's mean law, which no calibration point has touched: its error can be many times the kept
# fit's and must not read as the prior-informed fit's
OTHER_FITS = {
    "scratch": "scratch (no pre-training), fitted to the calibration points",
    "prior": "prior-informed, fitted to the calibration points",
    "pretrained": "the pre-trained law's mean, not calibrated (zero-shot)",
}


def evaluation_section(
    metrics,
    alternatives,
    outside,
    points,
    figure,
    calibrated: bool = True,
    why: list[str] = (),
    warnings: list[str] = (),
    on_library=(),
) -> str:
    # first the points that lie on a library system (contamination: they are not held out)
    lines = []
    for match in on_library:
        lines += [f"Contamination: {match.sentence()}.", ""]
    lines += [f"- W{w[1:]}" for w in warnings] + [""] * bool(warnings)  # each "warning: ..."
    lines += [
        f"{metrics['eval_points']} points; RMSE of log Nu {metrics['eval_rmse_log_nu']:.4f}; "
        f"MAPE {metrics['eval_mape']:.2f} %; {percent(metrics['eval_interval_level'])} interval coverage "
        f"{metrics['eval_coverage']:.0%}.",
        "",
    ]
    if outside.any():
        where = "the calibration range" if calibrated else "the validity range of every pre-training system"
        lines += [
            f"{int(outside.sum())} point(s) lie outside {where} (extrapolation): lines "
            + _some(points.lines[outside])
            + ("; by variable:" if why else ""),
            "",
        ]
        if why:
            lines += [f"- {w}" for w in why] + [""]
        if "eval_mape_inside" in metrics:
            lines += [
                f"Inside the range: MAPE {metrics['eval_mape_inside']:.2f} %, coverage "
                f"{metrics['eval_coverage_inside']:.0%}, median interval half-width about "
                f"{metrics['eval_interval_half_width_inside']:.1%}.",
            ]
        lines += [
            f"Outside the range (extrapolation): MAPE {metrics['eval_mape_outside']:.2f} %, coverage "
            f"{metrics['eval_coverage_outside']:.0%}, median interval half-width about "
            f"{metrics['eval_interval_half_width_outside']:.1%}.",
            "",
            "`predictions.csv` flags each point (`in_calibration_range`).",
            "",
        ]
    if alternatives:
        lines += ["The run's other laws, by their point predictions:", ""]
    for key, (rmse, mape) in alternatives.items():
        lines.append(f"- {OTHER_FITS.get(key, key)}: RMSE of log Nu {rmse:.4f}, MAPE {mape:.2f} %")
    lines += ["", f"![evaluation](plots/{figure.name})", ""]
    return "\n".join(lines)


# --- Nu against Re ----------------------------------------------------------------------------------
def reference(points: Points, groups: list[str]) -> dict[str, float]:
    """Median Pr and groups: the slice Nu-vs-Re curves are drawn at."""
    return {"Pr": float(np.median(points.pr)), **{g: float(np.median(points.groups[g])) for g in groups}}


def curve_features(re: np.ndarray, ref: dict, groups: list[str]) -> np.ndarray:
    cols = [np.ones_like(re), np.log(re), np.full_like(re, np.log(ref["Pr"]))]
    cols += [np.full_like(re, np.log(ref[g])) for g in groups]
    return np.column_stack(cols)


def law_theta(law: dict) -> np.ndarray:
    """A stored law's parameters ``[log C, exponents...]`` in its covariance's order, the order of
    the features (:func:`.law.law_dict`), whatever order its ``exponents`` were written in (a law
    without a covariance: its exponents' own order)."""
    order = law.get("covariance", {}).get("order", ["log_C", *law["exponents"]])
    return np.array([law["log_C"], *[law["exponents"][nm] for nm in order[1:]]])


def reduced(points: Points, theta: np.ndarray, ref: dict, groups: list[str]) -> np.ndarray:
    """Measured Nu moved to the plotted slice with the fitted exponents (the usual data reduction)."""
    logs = np.log(points.nu) + theta[2] * (np.log(ref["Pr"]) - np.log(points.pr))
    for j, g in enumerate(groups):
        logs += theta[3 + j] * (np.log(ref[g]) - np.log(points.groups[g]))
    return np.exp(logs)


def evaluate_plot(path, points, model, config, level):
    groups = model.groups
    ref = reference(points, groups)
    allre = (
        np.concatenate([points.re, config["calibration_range"]["Re"]])
        if "calibration_range" in config
        else points.re
    )
    re = np.geomspace(allre.min() / 1.5, allre.max() * 1.5, 120)
    Xc = curve_features(re, ref, groups)
    post = stored_posterior(model, config)
    design = model.design(Xc)
    lo, hi = post.interval(design, level)
    curves = [
        plots.Curve("model", re, np.exp(post.predict(design)), "-", "tab:green", np.exp(lo), np.exp(hi))
    ]
    pretrained = config.get("fits", {}).get("pretrained")
    if pretrained:
        theta = law_theta(pretrained)
        curves.append(plots.Curve("pre-trained law (mean)", re, np.exp(Xc @ theta), ":", "k"))
    scat = [
        plots.Scatter(
            f"evaluation points (n = {len(points)})",
            points.re,
            reduced(points, model.theta, ref, groups),
            "s",
            "tab:red",
            False,
        )
    ]
    if "calibration_range" in config:
        shade = tuple(config["calibration_range"]["Re"])
    else:
        shade = None
    return plots.nu_vs_re(
        path,
        curves,
        scat,
        title=f"Evaluation; {percent(level)} interval",
        shade=shade,
        note="Points are reduced to the plotted slice with the model's exponents.",
    )
