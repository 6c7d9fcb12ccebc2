"""Surrogate calibration: a physics-structured Nu correlation from a few measured points.

::

    scipt finetune surrogate --train POINTS.csv --out RUN [--init all|FAMILY|none|RUN]
                             [--preset tiny] [--config FILE.yaml] [--noise-sd 0.05 ...]
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

Configuration. :class:`SurrogateConfig`, resolved like every task's: the preset (``--preset``, only
``tiny``: a calibration is closed form and takes seconds whatever the data) < ``--config
FILE.yaml`` < flags (``--train`` and ``--groups`` for ``data.train`` and ``data.groups``,
``--no-guard`` for ``--guard false``, every other key by its name: ``--init``, ``--noise-sd``, ...).
``RUN/config.yaml`` holds the resolved configuration (``--config RUN/config.yaml`` reruns it); what
the calibration derived from the data (the ratios used, those held constant, the transfer chosen,
the file's SHA-256) is in ``law.json`` and ``model/config.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from sciPT import __version__, io
from sciPT.config import to_dict
from sciPT.domains.surrogates import export_surrogate, plots, presets
from sciPT.domains.surrogates.calibrate import (
    DEFAULT_GUARD_RULE,
    DEFAULT_PRIOR_FORM,
    TEXTBOOK,
    Calibration,
    calibrate,
    scratch_prior,
    transfer_prior,
    varies,
)
from sciPT.domains.surrogates.correlations import select
from sciPT.domains.surrogates.data import Points, read_points, write_points
from sciPT.domains.surrogates.evaluate import add_level_argument, evaluate_run
from sciPT.domains.surrogates.evaluate import check_level as _check_level
from sciPT.domains.surrogates.evaluate import curve_features as _curve_features
from sciPT.domains.surrogates.evaluate import in_range as _in_range
from sciPT.domains.surrogates.evaluate import predictions as _predictions
from sciPT.domains.surrogates.evaluate import reduced as _reduced
from sciPT.domains.surrogates.evaluate import reference as _reference
from sciPT.domains.surrogates.law import law_dict, law_string
from sciPT.domains.surrogates.mixture import MixturePrior
from sciPT.domains.surrogates.objectives import GaussianPrior, NoisePrior, Posterior, fit, scores
from sciPT.domains.surrogates.pretrain import (
    PRIOR_FORMS,
    inside_validity,
    learn_prior,
    prior_from_export,
    spread,
    validity_box,
)
from sciPT.domains.surrogates.recalibration import IntervalRecalibration, for_library
from sciPT.errors import ConfigError
from sciPT.registry import Task
from sciPT.run import RunDir
from sciPT.runconfig import add_off_switch

if TYPE_CHECKING:  # torch: imported only when a correction is fitted
    from sciPT.domains.surrogates.model import RandomFeatureCorrection

FAMILY_INITS = {
    "all": presets.small,
    "smooth": presets.smooth,
    "flat-plate": presets.flat_plate,
    "smooth-pipe": presets.smooth_pipe,
    "rough-pipe": presets.rough_pipe,
    "bluff-body": presets.bluff_body,
}
TAU_GRID = np.exp(np.linspace(np.log(1e-3), np.log(1.0), 13))


@dataclass
class SurrogateData:
    """train: the measured points, a CSV with columns Re, Pr, Nu and optional geometric ratios;
    groups: the geometric-ratio columns (``None``: every other numeric column)."""

    train: str | None = None
    groups: list[str] | None = None


@dataclass
class SurrogateConfig:
    """What ``scipt finetune surrogate`` calibrates on, and how.

    Attributes:
        init: the prior: learnt on the fly from the textbook correlations of ``all`` systems or of
            one family (``flat-plate``, ``smooth-pipe``, ``rough-pipe``, ``bluff-body``), ``none``
            (scratch only), or a surrogates RUN.
        transfer: what the prior constrains: the exponents only (C free) or ``all`` (C too);
            ``None``: ``all`` when ``init`` is a calibrated run of the same system, else ``exponents``.
        interval_level: probability held by the predictive intervals.
        noise_sd, noise_dof: prior guess of the scatter of log Nu, and its weight in pseudo-points.
        margin: nats per point scratch must gain (in evidence, or in leave-one-out ELPD) to replace
            the prior-informed fit.
        guard: run the negative-transfer check (off: keep the prior-informed fit).
        guard_rule: ``blend`` (the default: both fits mixed by their leave-one-out densities),
            ``loo`` (keep the one with the higher leave-one-out ELPD) or ``evidence`` (the Bayes
            factor of the two models); see :mod:`sciPT.domains.surrogates.calibrate`. The default
            is the one the library validation chose (``benchmarks/surrogate_calibration.py``).
        prior_form: ``gaussian`` (one Gaussian over every system; the default, chosen with the
            guard rule on the library validation) or ``mixture`` (one Gaussian per family,
            calibrated by their Bayesian model average, :mod:`sciPT.domains.surrogates.mixture`);
            a run as ``init`` is always the Gaussian it stores.
        correction: width of a random-feature correction that vanishes where the power law holds
            (0: none); needs at least 4 more points than law parameters.
        recalibrate: map the intervals' level to the one that held it on library systems the prior
            never saw (:mod:`sciPT.domains.surrogates.recalibration`); off: the predictive's own
            central interval.
        seed: seed of the correction's features.
    """

    data: SurrogateData = field(default_factory=SurrogateData)
    init: str = "all"
    transfer: Literal["exponents", "all"] | None = None
    interval_level: float = 0.9
    noise_sd: float = 0.05
    noise_dof: float = 2.0
    margin: float = 0.0
    guard: bool = True
    guard_rule: Literal["evidence", "loo", "blend"] = DEFAULT_GUARD_RULE
    prior_form: Literal["gaussian", "mixture"] = DEFAULT_PRIOR_FORM
    correction: int = 0
    recalibrate: bool = True
    seed: int = 0


def tiny() -> SurrogateConfig:
    """The calibration as documented (closed form, seconds: nothing to make smaller)."""
    return SurrogateConfig()


# --- the prior ----------------------------------------------------------------------------------
def resolve_prior(
    init: str, groups: list[str], group_sd: float = 0.5, form: str = "gaussian"
) -> tuple[GaussianPrior | MixturePrior | None, dict]:
    """``--init`` (and ``--prior-form``) -> (prior or None, facts about it: label, validity boxes,
    systems)."""
    if form not in PRIOR_FORMS:
        raise ConfigError(f"--prior-form: expected one of {', '.join(PRIOR_FORMS)}, got '{form}'")
    if init == "none":
        return None, {"init": "none", "boxes": []}
    if init in FAMILY_INITS:
        cfg = FAMILY_INITS[init]()
        cfg.group_sd = group_sd
        prior, fits = learn_prior(cfg, groups, form)
        return prior, {"init": init, "boxes": validity_box(fits), "systems": len(fits)}
    path = Path(init)
    if not path.exists():
        raise ConfigError(
            f"--init: '{init}' is neither {', '.join(FAMILY_INITS)}, none nor an existing run directory"
        )
    prior, config = prior_from_export(path, groups, group_sd)
    return prior, {
        "init": str(path),
        "boxes": config.get("validity", {}).get("systems", []),
        "systems": len(config.get("systems", [])),
        "kind": config.get("kind"),
        "recalibration": config.get("interval_recalibration"),
    }


def interval_recalibration(
    cfg: SurrogateConfig, info: dict, transfer: str, noise: NoisePrior
) -> tuple[IntervalRecalibration | None, str]:
    """The interval recalibration for this calibration (:mod:`.recalibration`), and in words why
    it is the one used (or why there is none)."""
    if not cfg.recalibrate:
        return None, "recalibration switched off: the predictive's own central interval"
    if cfg.init in FAMILY_INITS or cfg.init == "none":
        lib = FAMILY_INITS.get(cfg.init, presets.small)()
        form = None if cfg.init == "none" else cfg.prior_form
        if form is not None and len({c.family for c in select(lib.systems)}) < 2:
            return None, (
                f"the '{cfg.init}' prior holds one family, so none can be held out to learn a "
                "recalibration: the predictive's own central interval"
            )
        recal = for_library(lib, form, transfer, noise)
        return recal, recal.protocol
    stored = info.get("recalibration")
    if info.get("kind") != "prior" or stored is None:
        return None, "a calibrated run as prior has no recalibration: the predictive's own central interval"
    if transfer != stored.get("transfer") or stored.get("noise_prior") != {"s0": noise.s0, "nu0": noise.nu0}:
        return None, (
            "the pre-trained run's recalibration was learnt with another transfer or noise prior: "
            "the predictive's own central interval"
        )
    recal = IntervalRecalibration.from_dict(stored)
    return recal, f"learnt at pre-training ({recal.protocol})"


# --- calibration ----------------------------------------------------------------------------------
def fit_correction(
    X: np.ndarray, y: np.ndarray, prior: GaussianPrior, kappa: float, width: int, noise: NoisePrior, seed: int
) -> tuple[Posterior, RandomFeatureCorrection, float]:
    """Refit the kept law jointly with the random-feature correction (:mod:`.model`); the
    correction's width ``tau`` is chosen by evidence on a grid."""
    from sciPT.domains.surrogates.model import RandomFeatureCorrection

    basis = RandomFeatureCorrection.on_points(X, width, seed)
    design = np.hstack([X, basis.features(X)])
    p = X.shape[1]
    k = 1.0 if np.isnan(kappa) else kappa
    best = None
    for tau in TAU_GRID:
        cov = np.zeros((p + width, p + width))
        cov[:p, :p] = prior.cov
        cov[p:, p:] = np.eye(width) * tau**2 / width / k
        joint = GaussianPrior(
            prior.names + [f"w{j}" for j in range(width)],
            np.concatenate([prior.mean, np.zeros(width)]),
            cov,
            free=np.concatenate([prior.free, np.zeros(width, bool)]),
            fixed=np.concatenate([prior.fixed, np.zeros(width, bool)]),
        )
        post = fit(design, y, joint, noise, kappa=k)
        if best is None or post.log_evidence > best[0].log_evidence:
            best = (post, tau)
    return best[0], basis, float(best[1])


def constant_groups(points: Points, groups: list[str]) -> dict[str, float]:
    return {g: float(points.groups[g][0]) for g in groups if not varies(np.log(points.groups[g]))}


# --- finetune -------------------------------------------------------------------------------------
def run_finetune(cfg: SurrogateConfig, out) -> RunDir:
    """Calibrate as ``cfg`` says and write the run directory ``out`` (module docstring)."""
    level = _check_level(cfg.interval_level)
    if cfg.noise_sd <= 0 or cfg.noise_dof <= 0:
        raise ConfigError("--noise-sd and --noise-dof: expected positive numbers")
    if cfg.correction < 0:
        raise ConfigError(f"--correction: expected a width >= 0, got {cfg.correction}")
    if not cfg.data.train:
        raise ConfigError("no measured points: pass --train POINTS.csv (or data.train in --config)")
    noise = NoisePrior(cfg.noise_sd, cfg.noise_dof)
    points = read_points(cfg.data.train, groups=cfg.data.groups)
    all_groups = list(points.groups)
    fixed_groups = constant_groups(points, all_groups)
    groups = [g for g in all_groups if g not in fixed_groups]
    prior, prior_info = resolve_prior(cfg.init, groups, form=cfg.prior_form)
    # a calibrated run's posterior describes this very system, its C included
    transfer = cfg.transfer or ("all" if prior_info.get("kind") == "calibrated" else "exponents")
    X, y = points.features(groups), points.log_nu
    names = ["log_C", "Re", "Pr", *groups]
    n, p = X.shape
    warnings = _input_warnings(points, X, names, prior, prior_info)
    if cfg.correction and n < p + 4:
        raise ConfigError(
            f"--correction: {n} point(s) are too few for a correction on top of a "
            f"{p}-parameter law (need at least {p + 4})"
        )
    recal, recal_note = interval_recalibration(cfg, prior_info, transfer, noise)
    cal = calibrate(
        X,
        y,
        names,
        prior,
        transfer=transfer,
        noise=noise,
        margin=cfg.margin,
        guard=cfg.guard,
        guard_rule=cfg.guard_rule,
        recalibration=recal,
    )
    chosen, basis, tau = cal.chosen, None, None
    if cfg.correction:
        under = prior
        if isinstance(prior, MixturePrior):  # the correction rides on the most probable family
            under = prior.components[int(np.argmax(list(cal.family_weights.values())))]
        # a blend's correction rides on its heavier member
        base = scratch_prior(X, names) if cal.guard.prior_weight < 0.5 else transfer_prior(under, transfer)
        chosen, basis, tau = fit_correction(X, y, base, chosen.kappa, cfg.correction, noise, cfg.seed)
        if recal is not None:
            recal_note = "learnt for the law alone, so not applied with a correction: the predictive's own central interval"

    run = RunDir.create(out)
    run.write_config({"task": SurrogateTask.name, **to_dict(cfg)})
    ranges = {
        "Re": _span(points.re),
        "Pr": _span(points.pr),
        **{g: _span(points.groups[g]) for g in all_groups},
    }
    fits = {"kept": cal.guard.choice, "scratch": law_dict(cal.scratch_fit.mean, cal.scratch_fit.cov, names)}
    if cal.prior_fit is not None:
        fits["prior"] = law_dict(cal.prior_fit.mean, cal.prior_fit.cov, names)
        fits["pretrained"] = law_dict(prior.mean, prior.cov, names)
    export_surrogate(
        run.model,
        chosen,
        groups,
        {
            "kind": "calibrated",
            "validity": {"systems": prior_info["boxes"]},
            "calibrated_on": {"path": str(cfg.data.train), "sha256": _sha256(cfg.data.train)},
            "calibration_range": ranges,
            "constant_groups": fixed_groups,
            "transfer": transfer,
            "fits": fits,
            "noise_prior": {"s0": noise.s0, "nu0": noise.nu0},
            "interval_level": level,
            "interval_level_map": None if chosen.level_map is None else [float(v) for v in chosen.level_map],
            "interval_recalibration": recal_note,
            "correction_tau": tau,
        },
        basis,
    )
    law = law_dict(chosen.mean[:p], chosen.cov[:p, :p], names)
    io.write_json(
        run.path / "law.json",
        {
            **law,
            "valid_for": ranges,
            "constant_groups": fixed_groups,
            "kept": cal.guard.choice,
            "guard_rule": cal.guard.rule,
            "guard_reason": cal.guard.reason,
            "family_weights": cal.family_weights,
            "log_nu_noise_sd": chosen.noise_sd,
        },
    )
    metrics = _fit_metrics(cal, X, y, chosen, basis, level)
    metrics["interval_nominal_level"] = chosen.nominal_level(level)
    run.write_metrics(metrics)
    figure = _calibration_plot(
        run.plot_path("calibration.png"), points, groups, cal, chosen, basis, prior, level, prior_info
    )
    run.write_report(
        _report(
            cfg,
            transfer,
            points,
            names,
            groups,
            fixed_groups,
            prior,
            prior_info,
            cal,
            chosen,
            law,
            metrics,
            warnings,
            figure,
            level,
            tau,
            recal_note,
        )
    )
    print(f"{law['law']}   (kept: {kept_words(cal)})", file=sys.stdout)
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)
    print(f"run written to {run.path}", file=sys.stderr)
    return run


# --- the task -------------------------------------------------------------------------------------
class SurrogateTask(Task):
    name = "surrogate"
    summary = (
        "calibrate a physics-structured Nu correlation on a few measured points, with a "
        "pre-trained prior, predictive intervals and a negative-transfer guard"
    )

    config_class = SurrogateConfig

    def presets(self):
        return {"tiny": tiny}

    def flag_aliases(self):
        return {"train": "data.train", "groups": "data.groups"}

    def add_finetune_arguments(self, parser: argparse.ArgumentParser) -> None:
        super().add_finetune_arguments(parser)  # --preset, --config, --out, one flag per key
        add_off_switch(parser, "guard", "keep the prior-informed fit, never the scratch one")

    def finetune(self, args: argparse.Namespace) -> RunDir:
        from sciPT.runconfig import resolve_config

        if args.resume:
            raise ConfigError(
                "--resume: a surrogate calibration is closed form and takes seconds; run it again"
            )
        return run_finetune(resolve_config(self, args, args.table), args.out)

    # --- evaluate and predict -------------------------------------------------------------------
    def add_evaluate_arguments(self, parser) -> None:
        add_level_argument(parser)

    def evaluate(self, run: RunDir, args: argparse.Namespace) -> dict:
        # the domain's evaluation (a pre-training run's prior is evaluated the same way)
        return evaluate_run(run, args)

    def add_predict_arguments(self, parser) -> None:
        add_level_argument(parser)

    def predict(self, run: RunDir, args: argparse.Namespace) -> Path:
        level = _check_level(getattr(args, "interval_level", 0.9))
        model, config, points, X, pred, lo, hi = _predictions(run, args.input, level, require_nu=False)
        extra = {
            "Nu_pred": np.exp(pred),
            f"Nu_lo_{level:g}": np.exp(lo),
            f"Nu_hi_{level:g}": np.exp(hi),
            "in_calibration_range": _in_range(points, config).astype(int),
        }
        write_points(args.output, points, extra)
        print(f"wrote {len(points)} predictions to {args.output}", file=sys.stderr)
        return Path(args.output)

    def demo(self, args: argparse.Namespace) -> RunDir:
        from sciPT.domains.surrogates.demo import run_demo

        return run_demo(args.out or "runs/demo-surrogate", command=_command_line())


# --- helpers ----------------------------------------------------------------------------------------
def _sha256(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _span(values: np.ndarray) -> list[float]:
    return [float(np.min(values)), float(np.max(values))]


def _command_line() -> str:
    import shlex

    return "scipt " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def _input_warnings(points: Points, X, names, prior, info) -> list[str]:
    warnings = []
    if info["boxes"]:
        inside = inside_validity(points.re, points.pr, info["boxes"])
        if not inside.any():
            warnings.append(
                f"none of the {len(points)} points lies inside the validity range of any "
                "pre-training system: the prior is extrapolated, trust the guard and the "
                "scratch fit more"
            )
        elif not inside.all():
            lines = ", ".join(str(x) for x in points.lines[~inside][:10])
            warnings.append(
                f"{int((~inside).sum())} point(s) outside every pre-training validity range (lines {lines})"
            )
    if prior is None:
        held = scratch_prior(X, names)
        fixed = [nm for nm, f in zip(names, held.fixed) if f]
        if fixed:
            warnings.append(
                f"{len(points)} point(s) and no prior: only {', '.join(n for n, f in zip(names, held.free) if f)} "
                f"fitted; {', '.join(fixed)} held at the Dittus-Boelter values "
                f"({', '.join(f'{nm} = {TEXTBOOK.get(nm, 0.0):g}' for nm in fixed)})"
            )
    return warnings


def kept_words(cal: Calibration) -> str:
    """What the guard kept, in words: ``the scratch fit``, or a blend's weights."""
    if cal.guard.choice == "blend":
        w = cal.guard.prior_weight
        return f"the mixture of the prior-informed ({w:.2f}) and scratch ({1 - w:.2f}) fits"
    return f"the {'prior-informed' if cal.guard.choice == 'prior' else 'scratch'} fit"


def _fit_metrics(cal: Calibration, X, y, chosen: Posterior, basis, level: float) -> dict:
    design = X if basis is None else np.hstack([X, basis.features(X)])
    rmse, mape = scores(chosen.predict(design), y)
    theta = chosen.mean
    out = {
        "points": len(y),
        "kept_prior": float(cal.guard.prior_weight),
        "C": float(np.exp(theta[0])),
        "a": float(theta[1]),
        "b": float(theta[2]),
        "noise_sd_log_nu": chosen.noise_sd,
        "train_rmse_log_nu": rmse,
        "train_mape": mape,
    }
    if cal.prior_fit is not None and not np.isnan(cal.prior_fit.kappa):
        out["prior_width_factor"] = cal.prior_fit.kappa
    for key, value in cal.guard.elpd.items():
        out[f"loo_elpd_{key}"] = value
    for key, value in cal.guard.loo_rmse.items():
        out[f"loo_rmse_log_nu_{key}"] = value
    for key, value in cal.guard.log_evidence.items():
        out[f"log_evidence_{key}"] = value
    return out


def _calibration_plot(path, points, groups, cal, chosen, basis, prior, level, info):
    ref = _reference(points, groups)
    lo_re, hi_re = points.re.min(), points.re.max()
    re = np.geomspace(lo_re / 2, hi_re * 2, 120)
    Xc = _curve_features(re, ref, groups)
    design = Xc if basis is None else np.hstack([Xc, basis.features(Xc)])
    lo, hi = chosen.interval(design, level)
    kept = cal.guard.choice
    curves = [
        plots.Curve(
            f"kept ({kept})", re, np.exp(chosen.predict(design)), "-", "tab:green", np.exp(lo), np.exp(hi)
        )
    ]
    others = {"prior": [("scratch", cal.scratch_fit)], "scratch": [("prior-informed", cal.prior_fit)]}
    blend_members = [("prior-informed", cal.prior_fit), ("scratch", cal.scratch_fit)]
    for (label, other), color in zip(others.get(kept, blend_members), ("tab:orange", "tab:purple")):
        if other is not None:
            curves.append(plots.Curve(label, re, np.exp(Xc @ other.mean), "--", color))
    if prior is not None:
        curves.append(plots.Curve("pre-trained law (mean)", re, np.exp(Xc @ prior.mean), ":", "k"))
    scat = [
        plots.Scatter(
            f"calibration points (n = {len(points)})",
            points.re,
            _reduced(points, chosen.mean, ref, groups),
            "o",
            "tab:blue",
        )
    ]
    slice_txt = ", ".join(f"{k} = {v:.3g}" for k, v in ref.items())
    return plots.nu_vs_re(
        path,
        curves,
        scat,
        title=f"Calibrated law at {slice_txt}; {level:.0%} interval",
        note="Points are reduced to the plotted slice with the kept fit's exponents.",
    )


def _fit_row(label: str, post: Posterior | None, names, X, y) -> str:
    if post is None:
        return f"| {label} | (no prior) | | | | |"
    theta, sd = post.mean, np.sqrt(np.clip(np.diag(post.cov), 0, None))
    mape = scores(post.predict(X), y)[1]
    coefs = ", ".join(f"{nm} {t:.3f} ± {s:.3f}" for nm, t, s in zip(names[1:], theta[1:], sd[1:]))
    kappa = "" if np.isnan(post.kappa) else f"{post.kappa:.3g}"
    return (
        f"| {label} | `{law_string(theta, names)}` | {coefs} | {post.noise_sd:.3f} | {kappa} | {mape:.2f} |"
    )


def _report(
    cfg,
    transfer,
    points,
    names,
    groups,
    fixed_groups,
    prior,
    info,
    cal,
    chosen,
    law,
    metrics,
    warnings,
    figure,
    level,
    tau,
    recal_note: str,
) -> str:
    X, y = points.features(groups), points.log_nu
    lines = [
        "# Surrogate calibration",
        "",
        f"Written {dt.datetime.now().isoformat(timespec='seconds')} by sciPT {__version__}.",
        "",
        "Command:",
        "",
        f"    {_command_line()}",
        "",
        "## Result",
        "",
        f"**{law['law']}** (kept: {kept_words(cal)})",
        "",
        f"Guard ({cal.guard.rule} rule): {cal.guard.reason}.",
        "",
        f"Pasteable form (law.json): `{law['python']}`",
        "",
    ]
    if warnings:
        lines += ["## Warnings", ""] + [f"- {w}" for w in warnings] + [""]
    lines += [
        "## Data",
        "",
        f"- file: `{cfg.data.train}` ({len(points)} points)",
        f"- Re {points.re.min():.4g} to {points.re.max():.4g}; Pr {points.pr.min():.3g} to {points.pr.max():.3g}",
        f"- geometric ratios in the law: {', '.join(groups) or 'none'}",
    ]
    for g, v in fixed_groups.items():
        lines.append(
            f"- {g} is constant ({v:g}) over the points: its exponent cannot be learnt, its effect "
            f"is in C, and the law holds at {g} = {v:g} only"
        )
    if info["boxes"]:
        inside = inside_validity(points.re, points.pr, info["boxes"])
        lines.append(
            f"- inside the validity range of at least one pre-training system: {int(inside.sum())} of {len(points)}"
        )
    lines += [
        "",
        "## Both fits",
        "",
        f"Prior: `{info['init']}`"
        + (f" ({info.get('systems', 0)} systems), transfer: {transfer}" if prior is not None else ""),
        "",
        "| fit | law | exponents (mean ± sd) | noise sd of log Nu | prior width factor | train MAPE % |",
        "|---|---|---|---|---|---|",
        _fit_row("prior-informed", cal.prior_fit, names, X, y),
        _fit_row("scratch", cal.scratch_fit, names, X, y),
    ]
    if prior is not None:
        sd = np.sqrt(np.diag(prior.cov))
        lines.append(
            f"| pre-trained (before data) | `{law_string(prior.mean, names)}` | "
            + ", ".join(f"{nm} {t:.3f} ± {s:.3f}" for nm, t, s in zip(names[1:], prior.mean[1:], sd[1:]))
            + " | | 1 | |"
        )
        lines += ["", "The prior in the law's own terms (mean ± sd): " + "; ".join(spread(prior)) + "."]
        if cal.family_weights:
            lines += [
                "",
                "Mixture prior, posterior weight of each family after the points (Bayesian model "
                "average; equal before them): "
                + ", ".join(f"{k} {v:.2f}" for k, v in cal.family_weights.items())
                + ".",
            ]
    if cal.guard.elpd:
        lines += [
            "",
            "Leave-one-out (each point predicted from the others, the whole procedure re-run):",
            "",
            "| fit | ELPD (nats, higher is better) | RMSE of log Nu |",
            "|---|---|---|",
        ]
        lines += [
            f"| {k} | {cal.guard.elpd[k]:.3f} | {cal.guard.loo_rmse[k]:.4f} |" for k in ("prior", "scratch")
        ]
    lines += [
        "",
        "Scratch: the parameters the points can identify are free (log C first, then the exponent of "
        "each variable that varies), the rest held at Dittus-Boelter values (a = 0.8, b = 0.4, c = 0).",
        f"Intervals: meant to hold {level:.0%} of new points; the central "
        f"{chosen.nominal_level(level):.1%} of the predictive distribution of log Nu (noise "
        "integrated out under its scaled-inverse-chi-squared prior). Recalibration: "
        f"{recal_note}.",
        "",
    ]
    if tau is not None:
        lines += [
            f"Correction: {cfg.correction} random features, width tau = {tau:.3g} chosen by evidence.",
            "",
        ]
    lines += ["## Metrics", "", "| metric | value |", "|---|---|"]
    lines += [f"| {k} | {v:.4g} |" for k, v in metrics.items()]
    lines += [
        "",
        f"![calibration](plots/{figure.name})",
        "",
        "Next: `scipt evaluate RUN --data HELD_OUT.csv`, `scipt predict RUN --input P.csv --output OUT.csv`.",
        "",
    ]
    return "\n".join(lines)


task = SurrogateTask()
