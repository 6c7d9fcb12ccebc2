"""Surrogate calibration: a physics-structured Nu correlation from a few measured points.

::

    scipt finetune surrogate --train POINTS.csv --out RUN [--init all|FAMILY|none|RUN]
                             [--preset tiny] [--config FILE.yaml] [--noise-sd 0.05 ...]
    scipt evaluate RUN --data HELD_OUT.csv
    scipt predict RUN --input POINTS.csv --output PRED.csv
    scipt demo surrogate [--out RUN]

``POINTS.csv`` has a header naming ``Re``, ``Pr``, ``Nu`` and optional geometric ratios (every
other numeric column, those named by ``--groups``, or none with ``--groups none``). The law ``Nu = C Re^a Pr^b prod g^c`` is
calibrated twice (:mod:`sciPT.domains.surrogates.calibrate`): with the pre-trained prior (from the
textbook correlations, built on the fly, or from a RUN) and from scratch; a leave-one-out guard
keeps one and says why. The run directory holds the kept law (``law.json``, pasteable), both fits
in ``report.md``, a plot of Nu against Re with the data, the fits, the predictive interval and the
pre-trained law, and the model (``model/``) that ``evaluate`` and ``predict`` read.

Points that lie on a system of the library the prior was learnt on (more than half of them within
1 % of its Nu, :mod:`sciPT.domains.surrogates.contamination`) are not held out from the prior: the
report's first section says so, naming the system, standard error warns, and the metric
``points_on_library_system`` counts them (0: none; absent with ``--init none``, which has no
library). ``scipt evaluate`` checks its points the same way (``eval_points_on_library_system``).

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
import dataclasses
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from sciPT import io
from sciPT.config import to_dict
from sciPT.domains.surrogates import export_surrogate, presets
from sciPT.domains.surrogates.calibrate import (
    DEFAULT_GUARD_RULE,
    DEFAULT_LOO_CORRECTION,
    DEFAULT_PRIOR_FORM,
    calibrate,
    scratch_prior,
    transfer_prior,
    varies,
)
from sciPT.domains.surrogates.contamination import library_matches, points_on_library, recorded_systems
from sciPT.domains.surrogates.correlations import select
from sciPT.domains.surrogates.data import (
    CORE,
    Points,
    column_key,
    output_column,
    read_points,
)
from sciPT.domains.surrogates.evaluate import (
    add_level_argument,
    check_mapped_level,
    evaluate_run,
    predict_run,
)
from sciPT.domains.surrogates.evaluate import check_level as _check_level
from sciPT.domains.surrogates.independence import check_independent
from sciPT.domains.surrogates.law import law_dict
from sciPT.domains.surrogates.mixture import MixturePrior
from sciPT.domains.surrogates.objectives import GaussianPrior, NoisePrior, Posterior, fit
from sciPT.domains.surrogates.pretrain import (
    PRIOR_FORMS,
    learn_prior,
    prior_from_export,
    validity_box,
)
from sciPT.domains.surrogates.recalibration import PRIOR_WIDTH, IntervalRecalibration, for_library
from sciPT.errors import ConfigError, UserError
from sciPT.files import file_sha256
from sciPT.registry import Task
from sciPT.run import RunDir, command_line, recorded_path
from sciPT.runconfig import add_off_switch
from sciPT.trainer import SEED_LIMIT

from .surrogate_report import calibration_plot, fit_metrics, input_warnings, kept_words, report

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
    """The measured points a surrogate is calibrated on.

    Attributes:
        train: the measured points: a CSV with columns Re, Pr, Nu and optional geometric ratios.
        groups: the columns of ``train`` that are geometric ratios in the law (``None``: every
            numeric column besides Re, Pr and Nu; ``none``, in any case: no ratio).
    """

    train: str | None = None
    groups: list[str] | None = None


@dataclass
class SurrogateConfig:
    """What ``scipt finetune surrogate`` calibrates on, and how.

    Attributes:
        init: the prior: learnt on the fly from the textbook correlations of ``all`` systems or of
            one family (``flat-plate``, ``smooth-pipe``, ``rough-pipe``, ``bluff-body``; ``smooth``:
            flat-plate and smooth-pipe), ``none`` (scratch only), or a surrogates RUN.
        transfer: what the prior constrains: the exponents only (C free) or ``all`` (C too);
            ``None``: ``all`` when ``init`` is a calibrated run of the same system, else ``exponents``.
        interval_level: probability held by the predictive intervals.
        noise_sd: prior guess of the scatter (standard deviation) of log Nu; 0.05 is a 5 % scatter.
        noise_dof: the weight of the ``noise_sd`` guess, in pseudo-points (more: the data move it less).
        margin: nats per point scratch must gain (in evidence, or in leave-one-out ELPD) to replace
            the prior-informed fit; under the blends (``blend``, ``pseudo-bma+``, ``stacking``), its
            handicap in the weights.
        guard: run the negative-transfer check (off: keep the prior-informed fit).
        guard_rule: ``blend`` (the default: both fits mixed by their leave-one-out densities),
            ``pseudo-bma+`` and ``stacking`` (the same mixture, weighted otherwise), ``loo`` (keep
            the one with the higher leave-one-out ELPD) or ``evidence`` (the Bayes factor of the two
            models); see :mod:`sciPT.domains.surrogates.calibrate`. The default
            is the one the library validation chose (``benchmarks/surrogate_calibration.py``).
        loo_correction: ``none`` (plain leave-one-out), ``burman`` (each held-out density corrected
            for its fit's ``n - 1`` points, Burman 1989) or ``burman-same-form`` (corrected only where
            scratch fits the same form without each point); see
            :mod:`sciPT.domains.surrogates.calibrate`. The default is the library validation's.
        prior_form: ``mixture`` (one Gaussian per family, calibrated by their Bayesian model
            average, :mod:`sciPT.domains.surrogates.mixture`; the default for a library prior,
            chosen with the guard rule on the library validation) or ``gaussian`` (one Gaussian
            over every system); a run as ``init`` is always the Gaussian it stores (``mixture`` is
            refused there), and the run's config records the form used.
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
    guard_rule: Literal["evidence", "loo", "blend", "pseudo-bma+", "stacking"] = DEFAULT_GUARD_RULE
    loo_correction: Literal["none", "burman", "burman-same-form"] = DEFAULT_LOO_CORRECTION
    prior_form: Literal["gaussian", "mixture"] | None = None
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
        return prior, {
            "init": init,
            "boxes": validity_box(fits),
            "systems": len(fits),
            "sources": [f.as_dict() for f in fits],
        }
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
        "sources": config.get("systems", []),
        "kind": config.get("kind"),
        "families": sorted(
            {s["family"] for s in config.get("systems", []) if isinstance(s, dict) and "family" in s}
        ),
        "calibrated_on": (config.get("calibrated_on") or {}).get("path"),
        "recalibration": config.get("interval_recalibration"),
    }


def prior_form_used(cfg: SurrogateConfig) -> str:
    """``--prior-form``, or its default: the mixture for a library prior, and for a run as
    ``--init`` the Gaussian it stores (a mixture asked of it, which was read and ignored without a
    word, is said on standard error: a config.yaml written before the default depended on the
    start holds one)."""
    if cfg.init in FAMILY_INITS or cfg.init == "none":
        return cfg.prior_form or DEFAULT_PRIOR_FORM
    if cfg.prior_form == "mixture":
        print(
            f"note: prior_form mixture: --init {cfg.init} is a run, whose stored Gaussian is the prior "
            f"(a mixture is learnt from a library prior, --init {', '.join(FAMILY_INITS)}); recorded "
            "as gaussian",
            file=sys.stderr,
        )
    return "gaussian"


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
    if info.get("kind") == "calibrated":
        return None, "a calibrated run as prior has no recalibration: the predictive's own central interval"
    if info.get("kind") != "prior" or stored is None:
        families = info.get("families") or []
        why = (
            f"its prior holds one family, {families[0]}, so none could be held out to learn one"
            if len(families) == 1
            else "its prior was stored without one, as a demo run's is"
        )
        return (
            None,
            f"the pre-trained run has no recalibration ({why}): the predictive's own central interval",
        )
    if transfer != stored.get("transfer") or stored.get("noise_prior") != {"s0": noise.s0, "nu0": noise.nu0}:
        return None, (
            "the pre-trained run's recalibration was learnt with another transfer or noise prior: "
            "the predictive's own central interval"
        )
    if stored.get("prior_width") != PRIOR_WIDTH:
        return None, (
            "the pre-trained run's recalibration was learnt for fits that set the prior's width to its "
            "most probable value, where they now integrate it out (pre-train again to learn one): the "
            "predictive's own central interval"
        )
    recal = IntervalRecalibration.from_dict(stored)
    return recal, f"learnt at pre-training ({recal.protocol})"


# --- calibration ----------------------------------------------------------------------------------
def fit_correction(
    X: np.ndarray, y: np.ndarray, prior: GaussianPrior, kappa: float, width: int, noise: NoisePrior, seed: int
) -> tuple[Posterior, RandomFeatureCorrection, float]:
    """Refit the kept law jointly with the random-feature correction (:mod:`.model`); the
    correction's width ``tau`` is chosen by evidence on a grid, and the law's prior width is held at
    the kept fit's most probable ``kappa`` (not integrated out, unlike a fit without a correction:
    the two widths on one grid each would multiply the components a hundredfold)."""
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


def ratio_columns(groups: list[str] | None) -> list[str] | None:
    """``--groups`` as :func:`read_points` takes it: ``None`` (every numeric column), ``[]`` for
    ``none`` (any case), or the columns named, none of them Re, Pr, Nu or a column sciPT writes."""
    if groups is None:
        return None
    if not groups:  # only a config file gives [] (the flag refuses it): it dropped every ratio in silence
        raise ConfigError(
            "data.groups: given empty; expected geometric-ratio column names, or none for no ratio"
        )
    if [g.strip().lower() for g in groups] == ["none"]:
        return []
    if any(not g.strip() for g in groups):
        raise ConfigError("--groups: an empty name; expected geometric-ratio column names, or none")
    for g in groups:
        core = next((c for c in CORE if c.lower() == g.strip().lower()), None)
        if core is not None:
            # Re or Pr twice gave the law two exponents of one variable, and Nu fitted Nu with itself
            raise ConfigError(
                f"--groups: '{g}' is {core}, which every law has (Nu = C Re^a Pr^b ...); expected "
                "geometric-ratio columns only, or none"
            )
        if output_column(g):
            raise ConfigError(
                f"--groups: '{g}' is a column scipt evaluate and predict write (a prediction of Nu), "
                "not a geometric ratio; expected geometric-ratio columns only, or none"
            )
    return groups


def init_ratios(points: Points, init: str) -> tuple[Points, list[str]]:
    """The ratios of an ``--init`` run's law that the points hold: their columns renamed to the
    run's spelling (column names are read regardless of case, so ``E_DH`` is the run's ``e_Dh``),
    and their names. Such a ratio stays in the law where the points hold it constant: its exponent
    comes from the run (one new point at a time, the README's chained calibration), and a
    prediction at another value needs it. ``[]`` for any other ``--init``."""
    if init == "none" or init in FAMILY_INITS or not Path(init).exists():
        return points, []
    from sciPT.checkpoint import read_export_config

    try:
        known = {column_key(g): g for g in read_export_config(init).get("groups") or []}
    except UserError:  # not a run: resolve_prior says so in its own words
        return points, []
    renamed = {known.get(column_key(g), g): v for g, v in points.groups.items()}
    points = dataclasses.replace(points, groups=renamed)
    return points, [g for g in renamed if g in known.values()]


def constant_groups(points: Points, groups: list[str]) -> dict[str, float]:
    return {g: float(points.groups[g][0]) for g in groups if not varies(np.log(points.groups[g]))}


# --- finetune -------------------------------------------------------------------------------------
def run_finetune(cfg: SurrogateConfig, out) -> RunDir:
    """Calibrate as ``cfg`` says and write the run directory ``out`` (module docstring)."""
    level = _check_level(cfg.interval_level)
    if not (0 < cfg.noise_sd < np.inf and 0 < cfg.noise_dof < np.inf):
        raise ConfigError("--noise-sd and --noise-dof: expected positive numbers")
    if not 0 <= cfg.correction < np.inf:
        raise ConfigError(f"--correction: expected a width >= 0, got {cfg.correction}")
    if not 0 <= cfg.margin < np.inf:
        raise ConfigError(f"--margin: expected nats per point >= 0, got {cfg.margin}")
    if not 0 <= cfg.seed < SEED_LIMIT:  # NumPy's generator of the correction's features takes no other
        raise ConfigError(f"--seed: expected an integer from 0 to {SEED_LIMIT - 1}, got {cfg.seed}")
    if not cfg.data.train:
        raise ConfigError("no measured points: pass --train POINTS.csv (or data.train in --config)")
    noise = NoisePrior(cfg.noise_sd, cfg.noise_dof)
    points = read_points(cfg.data.train, groups=ratio_columns(cfg.data.groups))
    points, known = init_ratios(points, cfg.init)
    all_groups = list(points.groups)
    fixed_groups = {g: v for g, v in constant_groups(points, all_groups).items() if g not in known}
    groups = [g for g in all_groups if g not in fixed_groups]
    check_independent(points, groups)
    cfg.prior_form = prior_form_used(cfg)
    prior, prior_info = resolve_prior(cfg.init, groups, form=cfg.prior_form)
    # a calibrated run's posterior describes this very system, its C included
    transfer = cfg.transfer or ("all" if prior_info.get("kind") == "calibrated" else "exponents")
    X, y = points.features(groups), points.log_nu
    names = ["log_C", "Re", "Pr", *groups]
    n, p = X.shape
    warnings = input_warnings(points, X, names, prior, prior_info)
    # points computed from a law of the library the prior was learnt on are not held out from it
    library = recorded_systems(prior_info["boxes"]) if prior is not None else []
    on_library = library_matches(points.re, points.pr, points.nu, library, points.lines)
    if cfg.correction and n < p + 4:
        raise ConfigError(
            f"--correction: {n} point(s) are too few for a correction on top of a "
            f"{p}-parameter law (need at least {p + 4})"
        )
    recal, recal_note = interval_recalibration(cfg, prior_info, transfer, noise)
    if recal is not None and not cfg.correction:  # a correction's intervals are not recalibrated
        check_mapped_level(level, "pass --recalibrate false for other levels")
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
        loo_correction=cfg.loo_correction,
    )
    chosen, basis, tau = cal.chosen, None, None
    if cfg.correction:
        under = prior
        if isinstance(prior, MixturePrior):  # the correction rides on the most probable family
            under = prior.components[int(np.argmax(list(cal.family_weights.values())))]
        # a blend's correction rides on its heavier member
        on_scratch = cal.guard.heavier == "scratch"
        base = scratch_prior(X, names) if on_scratch else transfer_prior(under, transfer)
        # the member's own most probable width (a blend has none of its own: it was taken as 1)
        kappa = cal.scratch_fit.kappa if on_scratch else cal.prior_fit.kappa
        chosen, basis, tau = fit_correction(X, y, base, kappa, cfg.correction, noise, cfg.seed)
        if recal is not None:
            recal_note = "learnt for the law alone, so not applied with a correction: the predictive's own central interval"

    run = RunDir.create(out, resumable=False)
    with run.all_or_nothing():
        recorded = {"task": SurrogateTask.name, **to_dict(cfg)}
        if cfg.init not in FAMILY_INITS and cfg.init != "none":
            # a run as prior, by absolute path as data.train is: a --config replayed from another
            # directory read whatever run of that name lay there (a library name, such as a folder
            # named all, stays a name: resolve_prior reads it as the library)
            recorded["init"] = recorded_path(cfg.init)
        run.write_config(recorded, paths=("data.train",))
        ranges = {
            "Re": _span(points.re),
            "Pr": _span(points.pr),
            **{g: _span(points.groups[g]) for g in all_groups},
        }
        fits = {
            "kept": cal.guard.choice,
            "scratch": law_dict(cal.scratch_fit.mean, cal.scratch_fit.cov, names),
        }
        if cal.prior_fit is not None:
            fits["prior"] = law_dict(cal.prior_fit.mean, cal.prior_fit.cov, names)
            fits["pretrained"] = law_dict(prior.mean, prior.cov, names)
        law = law_dict(chosen.mean[:p], chosen.cov[:p, :p], names)
        metrics = fit_metrics(cal, X, y, chosen, basis, level)
        metrics["interval_nominal_level"] = chosen.nominal_level(level)
        if library:
            metrics["points_on_library_system"] = points_on_library(on_library)
        run.write_metrics(metrics)
        figure = calibration_plot(
            run.plot_path("calibration.png"), points, groups, cal, chosen, basis, prior, level, prior_info
        )
        # the model before law.json and report.md, which say the run is complete ("Next: scipt
        # evaluate"): a process killed before the model was written (SIGKILL, no cleanup) leaves what
        # RunDir.unstarted recognises, and the same command runs again in place
        export_surrogate(
            run.model,
            chosen,
            groups,
            {
                "kind": "calibrated",
                "validity": {"systems": prior_info["boxes"]},
                # as config.yaml names it: a later --init RUN from another directory names this file
                "calibrated_on": {
                    "path": recorded_path(str(cfg.data.train)),
                    "sha256": file_sha256(Path(cfg.data.train)),
                },
                "calibration_range": ranges,
                "constant_groups": fixed_groups,
                "transfer": transfer,
                "fits": fits,
                "noise_prior": {"s0": noise.s0, "nu0": noise.nu0},
                "interval_level": level,
                "interval_level_map": None
                if chosen.level_map is None
                else [float(v) for v in chosen.level_map],
                "interval_recalibration": recal_note,
                "correction_tau": tau,
            },
            basis,
        )
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
        run.write_report(
            report(
                cfg=cfg,
                transfer=transfer,
                points=points,
                names=names,
                groups=groups,
                fixed_groups=fixed_groups,
                prior=prior,
                info=prior_info,
                cal=cal,
                chosen=chosen,
                law=law,
                metrics=metrics,
                warnings=warnings,
                figure=figure,
                level=level,
                tau=tau,
                recal_note=recal_note,
                on_library=on_library,
            )
        )
    print(f"{law['law']}   (kept: {kept_words(cal, cfg.correction)})", file=sys.stdout)
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)
    for match in on_library:
        print(f"warning: {points.source}: {match.sentence()}", file=sys.stderr)
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
    resume_refusal = "a surrogate calibration is closed form and takes seconds; run it again"

    def presets(self):
        return {"tiny": tiny}

    def flag_aliases(self):
        return {"train": "data.train", "groups": "data.groups"}

    def add_finetune_arguments(self, parser: argparse.ArgumentParser) -> None:
        super().add_finetune_arguments(parser)  # --preset, --config, --out, one flag per key
        add_off_switch(parser, "guard", "keep the prior-informed fit, never the scratch one")

    def finetune(self, args: argparse.Namespace) -> RunDir:
        from sciPT.runconfig import resolve_config

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
        return predict_run(run, args)

    def demo(self, args: argparse.Namespace) -> RunDir:
        if getattr(args, "max_steps", None) is not None:
            # accepted in silence, the run would look as if it had been shortened
            raise ConfigError(
                "--max-steps: not used by the surrogate demo, closed-form fits with no training steps"
            )
        from sciPT.domains.surrogates.demo import run_demo

        return run_demo(args.out or "runs/demo-surrogate", command=command_line())


# --- helpers ----------------------------------------------------------------------------------------
def _span(values: np.ndarray) -> list[float]:
    return [float(np.min(values)), float(np.max(values))]


task = SurrogateTask()
