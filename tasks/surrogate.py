"""Surrogate calibration: a physics-structured Nu correlation from a few measured points.

::

    scipt finetune surrogate --train POINTS.csv --out RUN [--init all|flat-plate|smooth-pipe|none|RUN]
    scipt evaluate RUN --data HELD_OUT.csv
    scipt predict RUN --input POINTS.csv --output PRED.csv
    scipt demo surrogate [--out RUN]

``POINTS.csv`` has a header naming ``Re``, ``Pr``, ``Nu`` and optional geometric ratios (every
other numeric column, or those named by ``--groups``). The law ``Nu = C Re^a Pr^b prod g^c`` is
calibrated twice (:mod:`sciPT.domains.surrogates.calibrate`): with the pre-trained prior (from the
textbook correlations, built on the fly, or from a RUN) and from scratch; a leave-one-out guard
keeps one and says why. The run directory holds the kept law (``law.json``, pasteable), both fits
in ``report.md``, a plot of Nu against Re with the data, the fits, the predictive interval and the
pre-trained law, and the model (``model/``) that ``evaluate`` and ``predict`` read.

A geometric ratio that is constant over the calibration points cannot have its exponent learnt:
it is left out of the law (its effect goes into ``C``), recorded, and predictions at another value
are flagged as outside the calibration range.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import sys
from pathlib import Path

import numpy as np

from sciPT import __version__, io
from sciPT.checkpoint import from_pretrained
from sciPT.errors import ConfigError
from sciPT.registry import Task
from sciPT.run import RunDir
from sciPT.domains.surrogates import export_surrogate, plots, presets
from sciPT.domains.surrogates.calibrate import (TEXTBOOK, Calibration, calibrate, scratch_prior,
                                                transfer_prior, varies)
from sciPT.domains.surrogates.data import Points, read_points, write_points
from sciPT.domains.surrogates.model import RandomFeatureCorrection, law_dict, law_string
from sciPT.domains.surrogates.objectives import GaussianPrior, NoisePrior, Posterior, fit, scores
from sciPT.domains.surrogates.pretrain import (inside_validity, learn_prior, prior_from_export,
                                               validity_box)

FAMILY_INITS = {"all": presets.small, "flat-plate": presets.flat_plate, "smooth-pipe": presets.smooth_pipe}
TAU_GRID = np.exp(np.linspace(np.log(1e-3), np.log(1.0), 13))


# --- the prior ----------------------------------------------------------------------------------
def resolve_prior(init: str, groups: list[str], group_sd: float = 0.5
                  ) -> tuple[GaussianPrior | None, dict]:
    """``--init`` -> (prior or None, facts about it: label, validity boxes, systems)."""
    if init == "none":
        return None, {"init": "none", "boxes": []}
    if init in FAMILY_INITS:
        cfg = FAMILY_INITS[init]()
        cfg.group_sd = group_sd
        prior, fits = learn_prior(cfg, groups)
        return prior, {"init": init, "boxes": validity_box(fits), "systems": len(fits)}
    path = Path(init)
    if not path.exists():
        raise ConfigError(f"--init: '{init}' is neither all, flat-plate, smooth-pipe, none nor an "
                          f"existing run directory")
    prior, config = prior_from_export(path, groups, group_sd)
    return prior, {"init": str(path), "boxes": config.get("validity", {}).get("systems", []),
                   "systems": len(config.get("systems", [])), "kind": config.get("kind")}


# --- calibration ----------------------------------------------------------------------------------
def fit_correction(X: np.ndarray, y: np.ndarray, prior: GaussianPrior, kappa: float, width: int,
                   noise: NoisePrior, seed: int) -> tuple[Posterior, RandomFeatureCorrection, float]:
    """Refit the kept law jointly with the random-feature correction (:mod:`.model`); the
    correction's width ``tau`` is chosen by evidence on a grid."""
    basis = RandomFeatureCorrection.on_points(X, width, seed)
    design = np.hstack([X, basis.features(X)])
    p = X.shape[1]
    k = 1.0 if np.isnan(kappa) else kappa
    best = None
    for tau in TAU_GRID:
        cov = np.zeros((p + width, p + width))
        cov[:p, :p] = prior.cov
        cov[p:, p:] = np.eye(width) * tau**2 / width / k
        joint = GaussianPrior(prior.names + [f"w{j}" for j in range(width)],
                              np.concatenate([prior.mean, np.zeros(width)]), cov,
                              free=np.concatenate([prior.free, np.zeros(width, bool)]),
                              fixed=np.concatenate([prior.fixed, np.zeros(width, bool)]))
        post = fit(design, y, joint, noise, kappa=k)
        if best is None or post.log_evidence > best[0].log_evidence:
            best = (post, tau)
    return best[0], basis, float(best[1])


def constant_groups(points: Points, groups: list[str]) -> dict[str, float]:
    return {g: float(points.groups[g][0]) for g in groups if not varies(np.log(points.groups[g]))}


# --- finetune -------------------------------------------------------------------------------------
class SurrogateTask(Task):
    name = "surrogate"
    summary = ("calibrate a physics-structured Nu correlation on a few measured points, with a "
               "pre-trained prior, predictive intervals and a negative-transfer guard")

    def add_finetune_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--train", required=True, metavar="POINTS.csv",
                            help="measured points: CSV with columns Re, Pr, Nu and optional geometric "
                                 "ratios (required)")
        parser.add_argument("--out", default="runs/surrogate", help="run directory (default: runs/surrogate)")
        parser.add_argument("--init", default="all", metavar="all|flat-plate|smooth-pipe|none|RUN",
                            help="prior: learnt on the fly from the textbook correlations of all systems "
                                 "or of one family, none (scratch only), or a surrogates RUN (default: all)")
        parser.add_argument("--groups", nargs="*", metavar="NAME",
                            help="geometric-ratio columns (default: every other numeric column)")
        parser.add_argument("--transfer", choices=["exponents", "all"],
                            help="what the prior constrains: the exponents only (C free), or C too "
                                 "(default: all when --init is a calibrated run of the same system, "
                                 "exponents otherwise)")
        self._add_level(parser)
        parser.add_argument("--noise-sd", type=float, default=0.05,
                            help="prior guess of the scatter of log Nu (default: 0.05, i.e. 5%%)")
        parser.add_argument("--noise-dof", type=float, default=2.0,
                            help="weight of that guess in pseudo-points (default: 2)")
        parser.add_argument("--margin", type=float, default=0.0,
                            help="nats per point scratch must gain in leave-one-out to replace the "
                                 "prior-informed fit (default: 0)")
        parser.add_argument("--no-guard", action="store_true",
                            help="keep the prior-informed fit without the leave-one-out check (default: off)")
        parser.add_argument("--correction", type=int, default=0, metavar="WIDTH",
                            help="add a random-feature correction of this width that vanishes where the "
                                 "power law holds; needs at least 4 more points than law parameters "
                                 "(default: 0, none)")
        parser.add_argument("--seed", type=int, default=0, help="seed of the correction's features (default: 0)")

    @staticmethod
    def _add_level(parser) -> None:
        parser.add_argument("--interval-level", type=float, default=0.9, metavar="LEVEL",
                            help="probability held by the predictive intervals (default: 0.9)")

    def finetune(self, args: argparse.Namespace) -> RunDir:
        level = _check_level(args.interval_level)
        if args.noise_sd <= 0 or args.noise_dof <= 0:
            raise ConfigError("--noise-sd and --noise-dof: expected positive numbers")
        if args.correction < 0:
            raise ConfigError(f"--correction: expected a width >= 0, got {args.correction}")
        noise = NoisePrior(args.noise_sd, args.noise_dof)
        points = read_points(args.train, groups=args.groups)
        all_groups = list(points.groups)
        fixed_groups = constant_groups(points, all_groups)
        groups = [g for g in all_groups if g not in fixed_groups]
        prior, prior_info = resolve_prior(args.init, groups)
        if args.transfer is None:
            # a calibrated run's posterior describes this very system, its C included
            args.transfer = "all" if prior_info.get("kind") == "calibrated" else "exponents"
        X, y = points.features(groups), points.log_nu
        names = ["log_C", "Re", "Pr", *groups]
        n, p = X.shape
        warnings = _input_warnings(points, X, names, prior, prior_info)
        if args.correction and n < p + 4:
            raise ConfigError(f"--correction: {n} point(s) are too few for a correction on top of a "
                              f"{p}-parameter law (need at least {p + 4})")
        cal = calibrate(X, y, names, prior, transfer=args.transfer, noise=noise, margin=args.margin,
                        guard=not args.no_guard)
        chosen, basis, tau = cal.chosen, None, None
        if args.correction:
            base = (scratch_prior(X, names) if cal.guard.choice == "scratch" else
                    transfer_prior(prior, args.transfer))
            chosen, basis, tau = fit_correction(X, y, base, chosen.kappa, args.correction, noise, args.seed)

        run = RunDir.create(args.out)
        run.write_config({"task": self.name, "train": str(args.train), "train_sha256": _sha256(args.train),
                          "init": args.init, "groups": groups, "constant_groups": fixed_groups,
                          "transfer": args.transfer, "interval_level": level,
                          "noise_sd": args.noise_sd, "noise_dof": args.noise_dof, "margin": args.margin,
                          "guard": not args.no_guard, "correction": args.correction, "seed": args.seed,
                          "command": _command_line()})
        ranges = {"Re": _span(points.re), "Pr": _span(points.pr),
                  **{g: _span(points.groups[g]) for g in all_groups}}
        fits = {"kept": cal.guard.choice, "scratch": law_dict(cal.scratch_fit.mean, cal.scratch_fit.cov, names)}
        if cal.prior_fit is not None:
            fits["prior"] = law_dict(cal.prior_fit.mean, cal.prior_fit.cov, names)
            fits["pretrained"] = law_dict(prior.mean, prior.cov, names)
        export_surrogate(run.model, chosen, groups, {
            "kind": "calibrated", "validity": {"systems": prior_info["boxes"]},
            "calibration_range": ranges, "constant_groups": fixed_groups, "fits": fits,
            "noise_prior": {"s0": noise.s0, "nu0": noise.nu0}, "interval_level": level,
            "correction_tau": tau}, basis)
        law = law_dict(chosen.mean[:p], chosen.cov[:p, :p], names)
        io.write_json(run.path / "law.json", {**law, "valid_for": ranges, "constant_groups": fixed_groups,
                                              "kept": cal.guard.choice, "guard_reason": cal.guard.reason,
                                              "log_nu_noise_sd": chosen.noise_sd})
        metrics = _fit_metrics(cal, X, y, chosen, basis, level)
        run.write_metrics(metrics)
        figure = _calibration_plot(run.plot_path("calibration.png"), points, groups, cal, chosen, basis,
                                   prior, level, prior_info)
        run.write_report(_report(args, points, names, groups, fixed_groups, prior, prior_info, cal, chosen,
                                 law, metrics, warnings, figure, level, tau))
        print(f"{law['law']}   (kept: the {'prior-informed' if cal.guard.choice == 'prior' else 'scratch'} fit)",
              file=sys.stdout)
        for w in warnings:
            print(f"warning: {w}", file=sys.stderr)
        print(f"run written to {run.path}", file=sys.stderr)
        return run

    # --- evaluate and predict -------------------------------------------------------------------
    def add_evaluate_arguments(self, parser) -> None:
        self._add_level(parser)

    def evaluate(self, run: RunDir, args: argparse.Namespace) -> dict:
        level = _check_level(getattr(args, "interval_level", 0.9))
        model, config, points, X, pred, lo, hi = _predictions(run, args.data, level, require_nu=True)
        y = points.log_nu
        outside = ~_in_range(points, config)
        rmse, mape = scores(pred, y)
        metrics = {"eval_points": len(points), "eval_rmse_log_nu": rmse, "eval_mape": mape,
                   "eval_coverage": float(((lo <= y) & (y <= hi)).mean()), "eval_interval_level": level,
                   "eval_outside_calibration_range": int(outside.sum())}
        alternatives = {}
        fits = config.get("fits", {})
        for key, law in fits.items():
            if isinstance(law, dict) and key != fits.get("kept"):
                theta = np.array([law["log_C"], *[law["exponents"][nm] for nm in law["covariance"]["order"][1:]]])
                alternatives[key] = scores(X @ theta, y)
                metrics[f"eval_mape_{key}"] = alternatives[key][1]
        run.write_metrics(metrics)
        figure = _evaluate_plot(run.plot_path("evaluate.png"), points, model, config, level)
        _append_report(run, _evaluation_section(args.data, metrics, alternatives, outside, points, figure))
        print(json.dumps(metrics, indent=1))
        return metrics

    def add_predict_arguments(self, parser) -> None:
        self._add_level(parser)

    def predict(self, run: RunDir, args: argparse.Namespace) -> Path:
        level = _check_level(getattr(args, "interval_level", 0.9))
        model, config, points, X, pred, lo, hi = _predictions(run, args.input, level, require_nu=False)
        extra = {"Nu_pred": np.exp(pred), f"Nu_lo_{level:g}": np.exp(lo), f"Nu_hi_{level:g}": np.exp(hi),
                 "in_calibration_range": _in_range(points, config).astype(int)}
        write_points(args.output, points, extra)
        print(f"wrote {len(points)} predictions to {args.output}", file=sys.stderr)
        return Path(args.output)

    def demo(self, args: argparse.Namespace) -> RunDir:
        from sciPT.domains.surrogates.demo import run_demo

        return run_demo(args.out or "runs/demo-surrogate", command=_command_line())


# --- helpers ----------------------------------------------------------------------------------------
def _check_level(level: float) -> float:
    if not 0 < level < 1:
        raise ConfigError(f"--interval-level: expected a probability between 0 and 1, got {level}")
    return float(level)


def _sha256(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _span(values: np.ndarray) -> list[float]:
    return [float(np.min(values)), float(np.max(values))]


def _command_line() -> str:
    import shlex

    return "scipt " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def _predictions(run: RunDir, path, level: float, *, require_nu: bool):
    """The run's model on the points of ``path``: mean log Nu and the ``level`` interval."""
    pre = from_pretrained(run.path, domain="surrogates")
    model = pre.model
    points = read_points(path, require_nu=require_nu)
    X = points.features(model.groups)
    post, design = model.posterior(), model.design(X)
    lo, hi = post.interval(design, level)
    return model, pre.config, points, X, post.predict(design), lo, hi


def _in_range(points: Points, config: dict) -> np.ndarray:
    """Whether each point lies inside the calibration range of every variable (with 1 % slack)."""
    ranges = config.get("calibration_range")
    ok = np.ones(len(points), bool)
    if not ranges:
        return inside_validity(points.re, points.pr, config.get("validity", {}).get("systems", [])) \
            if config.get("validity", {}).get("systems") else ok
    values = {"Re": points.re, "Pr": points.pr, **points.groups}
    for name, (lo, hi) in ranges.items():
        if name in values:
            ok &= (values[name] >= lo * 0.99) & (values[name] <= hi * 1.01)
    return ok


def _input_warnings(points: Points, X, names, prior, info) -> list[str]:
    warnings = []
    if info["boxes"]:
        inside = inside_validity(points.re, points.pr, info["boxes"])
        if not inside.any():
            warnings.append(f"none of the {len(points)} points lies inside the validity range of any "
                            "pre-training system: the prior is extrapolated, trust the guard and the "
                            "scratch fit more")
        elif not inside.all():
            lines = ", ".join(str(x) for x in points.lines[~inside][:10])
            warnings.append(f"{int((~inside).sum())} point(s) outside every pre-training validity range "
                            f"(lines {lines})")
    if prior is None:
        held = scratch_prior(X, names)
        fixed = [nm for nm, f in zip(names, held.fixed) if f]
        if fixed:
            warnings.append(f"{len(points)} point(s) and no prior: only {', '.join(n for n, f in zip(names, held.free) if f)} "
                            f"fitted; {', '.join(fixed)} held at the Dittus-Boelter values "
                            f"({', '.join(f'{nm} = {TEXTBOOK.get(nm, 0.0):g}' for nm in fixed)})")
    return warnings


def _fit_metrics(cal: Calibration, X, y, chosen: Posterior, basis, level: float) -> dict:
    design = X if basis is None else np.hstack([X, basis.features(X)])
    rmse, mape = scores(chosen.predict(design), y)
    theta = chosen.mean
    out = {"points": len(y), "kept_prior": float(cal.guard.choice == "prior"),
           "C": float(np.exp(theta[0])), "a": float(theta[1]), "b": float(theta[2]),
           "noise_sd_log_nu": chosen.noise_sd, "train_rmse_log_nu": rmse, "train_mape": mape}
    if cal.prior_fit is not None and not np.isnan(cal.prior_fit.kappa):
        out["prior_width_factor"] = cal.prior_fit.kappa
    for key, value in cal.guard.elpd.items():
        out[f"loo_elpd_{key}"] = value
    for key, value in cal.guard.loo_rmse.items():
        out[f"loo_rmse_log_nu_{key}"] = value
    return out


def _reference(points: Points, groups: list[str]) -> dict[str, float]:
    """Median Pr and groups: the slice Nu-vs-Re curves are drawn at."""
    return {"Pr": float(np.median(points.pr)), **{g: float(np.median(points.groups[g])) for g in groups}}


def _curve_features(re: np.ndarray, ref: dict, groups: list[str]) -> np.ndarray:
    cols = [np.ones_like(re), np.log(re), np.full_like(re, np.log(ref["Pr"]))]
    cols += [np.full_like(re, np.log(ref[g])) for g in groups]
    return np.column_stack(cols)


def _reduced(points: Points, theta: np.ndarray, ref: dict, groups: list[str]) -> np.ndarray:
    """Measured Nu moved to the plotted slice with the fitted exponents (the usual data reduction)."""
    logs = np.log(points.nu) + theta[2] * (np.log(ref["Pr"]) - np.log(points.pr))
    for j, g in enumerate(groups):
        logs += theta[3 + j] * (np.log(ref[g]) - np.log(points.groups[g]))
    return np.exp(logs)


def _calibration_plot(path, points, groups, cal, chosen, basis, prior, level, info):
    ref = _reference(points, groups)
    lo_re, hi_re = points.re.min(), points.re.max()
    re = np.geomspace(lo_re / 2, hi_re * 2, 120)
    Xc = _curve_features(re, ref, groups)
    design = Xc if basis is None else np.hstack([Xc, basis.features(Xc)])
    lo, hi = chosen.interval(design, level)
    kept = cal.guard.choice
    curves = [plots.Curve(f"kept ({kept})", re, np.exp(chosen.predict(design)), "-", "tab:green",
                          np.exp(lo), np.exp(hi))]
    other = cal.scratch_fit if kept == "prior" else cal.prior_fit
    if other is not None:
        curves.append(plots.Curve("scratch" if kept == "prior" else "prior-informed", re,
                                  np.exp(Xc @ other.mean), "--", "tab:orange"))
    if prior is not None:
        curves.append(plots.Curve("pre-trained law (mean)", re, np.exp(Xc @ prior.mean), ":", "k"))
    scat = [plots.Scatter(f"calibration points (n = {len(points)})", points.re,
                          _reduced(points, chosen.mean, ref, groups), "o", "tab:blue")]
    slice_txt = ", ".join(f"{k} = {v:.3g}" for k, v in ref.items())
    return plots.nu_vs_re(path, curves, scat, title=f"Calibrated law at {slice_txt}; {level:.0%} interval",
                          note="Points are reduced to the plotted slice with the kept fit's exponents.")


def _evaluate_plot(path, points, model, config, level):
    groups = model.groups
    ref = _reference(points, groups)
    allre = np.concatenate([points.re, config["calibration_range"]["Re"]]) if "calibration_range" in config \
        else points.re
    re = np.geomspace(allre.min() / 1.5, allre.max() * 1.5, 120)
    Xc = _curve_features(re, ref, groups)
    post = model.posterior()
    design = model.design(Xc)
    lo, hi = post.interval(design, level)
    curves = [plots.Curve("model", re, np.exp(post.predict(design)), "-", "tab:green", np.exp(lo), np.exp(hi))]
    pretrained = config.get("fits", {}).get("pretrained")
    if pretrained:
        theta = np.array([pretrained["log_C"], *pretrained["exponents"].values()])
        curves.append(plots.Curve("pre-trained law (mean)", re, np.exp(Xc @ theta), ":", "k"))
    scat = [plots.Scatter(f"evaluation points (n = {len(points)})", points.re,
                          _reduced(points, model.theta, ref, groups), "s", "tab:red", False)]
    if "calibration_range" in config:
        shade = tuple(config["calibration_range"]["Re"])
    else:
        shade = None
    return plots.nu_vs_re(path, curves, scat, title=f"Evaluation; {level:.0%} interval",
                          shade=shade, note="Points are reduced to the plotted slice with the model's exponents.")


def _fit_row(label: str, post: Posterior | None, names, X, y) -> str:
    if post is None:
        return f"| {label} | (no prior) | | | | |"
    theta, sd = post.mean, np.sqrt(np.clip(np.diag(post.cov), 0, None))
    mape = scores(post.predict(X), y)[1]
    coefs = ", ".join(f"{nm} {t:.3f} ± {s:.3f}" for nm, t, s in zip(names[1:], theta[1:], sd[1:]))
    kappa = "" if np.isnan(post.kappa) else f"{post.kappa:.3g}"
    return (f"| {label} | `{law_string(theta, names)}` | {coefs} | {post.noise_sd:.3f} | {kappa} | "
            f"{mape:.2f} |")


def _report(args, points, names, groups, fixed_groups, prior, info, cal, chosen, law, metrics, warnings,
            figure, level, tau) -> str:
    X, y = points.features(groups), points.log_nu
    lines = ["# Surrogate calibration", "",
             f"Written {dt.datetime.now().isoformat(timespec='seconds')} by sciPT {__version__}.", "",
             "Command:", "", f"    {_command_line()}", "",
             "## Result", "", f"**{law['law']}** (kept: the {cal.guard.choice}{'-informed' if cal.guard.choice == 'prior' else ''} fit)",
             "", f"Guard: {cal.guard.reason}.", "",
             f"Pasteable form (law.json): `{law['python']}`", ""]
    if warnings:
        lines += ["## Warnings", ""] + [f"- {w}" for w in warnings] + [""]
    lines += ["## Data", "", f"- file: `{args.train}` ({len(points)} points)",
              f"- Re {points.re.min():.4g} to {points.re.max():.4g}; Pr {points.pr.min():.3g} to {points.pr.max():.3g}",
              f"- geometric ratios in the law: {', '.join(groups) or 'none'}"]
    for g, v in fixed_groups.items():
        lines.append(f"- {g} is constant ({v:g}) over the points: its exponent cannot be learnt, its effect "
                     f"is in C, and the law holds at {g} = {v:g} only")
    if info["boxes"]:
        inside = inside_validity(points.re, points.pr, info["boxes"])
        lines.append(f"- inside the validity range of at least one pre-training system: {int(inside.sum())} of {len(points)}")
    lines += ["", "## Both fits", "",
              f"Prior: `{info['init']}`" + (f" ({info.get('systems', 0)} systems), transfer: {args.transfer}" if prior is not None else ""),
              "", "| fit | law | exponents (mean ± sd) | noise sd of log Nu | prior width factor | train MAPE % |",
              "|---|---|---|---|---|---|",
              _fit_row("prior-informed", cal.prior_fit, names, X, y),
              _fit_row("scratch", cal.scratch_fit, names, X, y)]
    if prior is not None:
        sd = np.sqrt(np.diag(prior.cov))
        lines.append(f"| pre-trained (before data) | `{law_string(prior.mean, names)}` | "
                     + ", ".join(f"{nm} {t:.3f} ± {s:.3f}" for nm, t, s in zip(names[1:], prior.mean[1:], sd[1:]))
                     + " | | 1 | |")
    if cal.guard.elpd:
        lines += ["", "Leave-one-out (each point predicted from the others, the whole procedure re-run):", "",
                  "| fit | ELPD (nats, higher is better) | RMSE of log Nu |", "|---|---|---|"]
        lines += [f"| {k} | {cal.guard.elpd[k]:.3f} | {cal.guard.loo_rmse[k]:.4f} |" for k in ("prior", "scratch")]
    lines += ["", "Scratch: the parameters the points can identify are free (log C first, then the exponent of "
              "each variable that varies), the rest held at Dittus-Boelter values (a = 0.8, b = 0.4, c = 0).",
              f"Intervals: central {level:.0%} of the predictive distribution of log Nu (noise integrated out "
              "under its scaled-inverse-chi-squared prior).", ""]
    if tau is not None:
        lines += [f"Correction: {args.correction} random features, width tau = {tau:.3g} chosen by evidence.", ""]
    lines += ["## Metrics", "", "| metric | value |", "|---|---|"]
    lines += [f"| {k} | {v:.4g} |" for k, v in metrics.items()]
    lines += ["", f"![calibration](plots/{figure.name})", "",
              "Next: `scipt evaluate RUN --data HELD_OUT.csv`, `scipt predict RUN --input P.csv --output OUT.csv`.", ""]
    return "\n".join(lines)


def _evaluation_section(data, metrics, alternatives, outside, points, figure) -> str:
    lines = [f"## Evaluation on `{data}`", "",
             f"{metrics['eval_points']} points; RMSE of log Nu {metrics['eval_rmse_log_nu']:.4f}; "
             f"MAPE {metrics['eval_mape']:.2f} %; {metrics['eval_interval_level']:.0%} interval coverage "
             f"{metrics['eval_coverage']:.0%}.", ""]
    if outside.any():
        lines += [f"{int(outside.sum())} point(s) lie outside the calibration range (extrapolation): lines "
                  + ", ".join(str(x) for x in points.lines[outside][:10]), ""]
    for key, (rmse, mape) in alternatives.items():
        lines.append(f"- the {key} law's point prediction: RMSE of log Nu {rmse:.4f}, MAPE {mape:.2f} %")
    lines += ["", f"![evaluation](plots/{figure.name})", ""]
    return "\n".join(lines)


def _append_report(run: RunDir, section: str) -> None:
    text = run.report.read_text() if run.report.is_file() else ""
    marker = "\n## Evaluation on "
    if marker in text:
        text = text[: text.index(marker)]
    run.write_report(text.rstrip("\n") + "\n\n" + section)


task = SurrogateTask()
