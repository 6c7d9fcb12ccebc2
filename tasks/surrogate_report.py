"""What a surrogate calibration writes about itself: warnings on its input, its metrics, the
calibration plot and ``report.md`` (the task is :mod:`sciPT.tasks.surrogate`)."""

from __future__ import annotations

import datetime as dt

import numpy as np

from sciPT import __version__
from sciPT.domains.surrogates import plots
from sciPT.domains.surrogates.calibrate import (
    CV_FOLDS,
    GROUP_REFERENCE_SD,
    LOO_MAX_POINTS,
    REFERENCE_SD,
    TEXTBOOK,
    Calibration,
    scratch_prior,
    varies,
)
from sciPT.domains.surrogates.data import Points, copied_rows_note
from sciPT.domains.surrogates.evaluate import curve_features, percent, reduced, reference
from sciPT.domains.surrogates.independence import unexplained_fraction
from sciPT.domains.surrogates.law import law_string
from sciPT.domains.surrogates.objectives import Posterior, scores
from sciPT.domains.surrogates.pretrain import (
    inside_validity,
    source_lines,
    spread,
)
from sciPT.io import table_cell
from sciPT.run import command_line


def input_warnings(points: Points, X, names, prior, info) -> list[str]:
    # a copy counted as a second measurement halves the scatter the intervals are built on;
    # replicates (one Re, another Nu) are measurements and differ, so are not named here
    copied = copied_rows_note(
        points,
        "each copy counts as one more independent measurement and narrows the intervals; remove the "
        "copies unless each is a measurement of its own",
    )
    warnings = [copied] if copied else []
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
    held = scratch_prior(X, names)
    for j, nm in enumerate(names[1:], start=1):
        if held.free[j] or not varies(X[:, j]) or len(points) <= held.free.sum():
            continue  # free, constant (said apart), or too few points to tell
        # the columns scratch had freed when it came to this one (scratch_prior)
        earlier = held.free & (np.arange(len(names)) < j)
        before = [m for m, f in zip(names[1:], earlier[1:]) if f]
        left = unexplained_fraction(X[:, earlier], X[:, j])
        warnings.append(
            f"{nm} varies in lock-step with {', '.join(before) or 'nothing'} over the {len(points)} "
            f"points (what {'they leave' if len(before) > 1 else 'it leaves'} of log {nm} is "
            f"{left:.1g} of its spread): the law cannot tell their exponents apart, so {nm}'s is not "
            f"learnt from them; scratch holds it at {TEXTBOOK.get(nm, 0.0):g} ± "
            f"{REFERENCE_SD.get(nm, GROUP_REFERENCE_SD):g}"
            + (", the prior-informed fit takes it from the prior" if prior is not None else "")
            + "; predictions off that line rest on that (measure at other combinations to learn it)"
        )
    if prior is None:
        unfitted = [nm for nm, f in zip(names, held.free) if not f]
        if unfitted:
            sd = np.sqrt(np.diag(held.cov))
            warnings.append(
                f"{len(points)} point(s) and no prior: only {', '.join(n for n, f in zip(names, held.free) if f)} "
                f"fitted; {', '.join(unfitted)} held at the Dittus-Boelter values "
                f"({', '.join(f'{nm} = {TEXTBOOK.get(nm, 0.0):g} ± {s:g}' for nm, s, f in zip(names, sd, held.free) if not f)}"
                "; the intervals widen by that uncertainty away from the points)"
            )
    return warnings


def contamination_lines(on_library) -> list[str]:
    """The report's lines on points that lie on a library system, one per system, each followed by
    a blank line (none when the points lie on none)."""
    out = []
    for match in on_library:
        out += [f"Contamination: {match.sentence()}.", ""]
    return out


def kept_words(cal: Calibration, correction: int = 0) -> str:
    """What the guard kept, in words: ``the scratch fit``, or a blend's weights; with a
    correction, the fit it was refitted on."""
    w = cal.guard.prior_weight
    if correction:
        # a correction rides on one fit (the heavier member of a blend), not on the mixture
        member = "prior-informed" if cal.guard.heavier == "prior" else "scratch"
        share = (
            f", the heavier in the guard's blend ({max(w, 1 - w):.2f})" if cal.guard.choice == "blend" else ""
        )
        return f"the {member} fit{share}, refitted with a correction of {correction} random features"
    if cal.guard.choice == "blend" and w in (0.0, 1.0):  # stacking at an end keeps one fit whole
        return f"the {'prior-informed' if w == 1.0 else 'scratch'} fit alone (the blend's weight {w:.0f} on the prior)"
    if cal.guard.choice == "blend":
        return f"the mixture of the prior-informed ({w:.2f}) and scratch ({1 - w:.2f}) fits"
    return f"the {'prior-informed' if cal.guard.choice == 'prior' else 'scratch'} fit"


def fit_metrics(cal: Calibration, X, y, chosen: Posterior, basis, level: float) -> dict:
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


def calibration_plot(path, points, groups, cal, chosen, basis, prior, level, info):
    ref = reference(points, groups)
    lo_re, hi_re = points.re.min(), points.re.max()
    re = np.geomspace(lo_re / 2, hi_re * 2, 120)
    Xc = curve_features(re, ref, groups)
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
            reduced(points, chosen.mean, ref, groups),
            "o",
            "tab:blue",
        )
    ]
    slice_txt = ", ".join(f"{k} = {v:.3g}" for k, v in ref.items())
    return plots.nu_vs_re(
        path,
        curves,
        scat,
        title=f"Calibrated law at {slice_txt}; {percent(level)} interval",
        note="Points are reduced to the plotted slice with the kept fit's exponents.",
    )


def prior_source(info: dict) -> str:
    """Where the prior came from, in words: the library's systems, or an earlier calibration."""
    if info.get("kind") == "calibrated":
        # a calibrated run stores its posterior, not the library systems behind its own prior
        return f"the posterior of a calibration on `{info.get('calibrated_on') or '?'}`"
    return f"{info.get('systems', 0)} systems"


def prior_sources(info: dict) -> list[str]:
    """The report's section on what the prior was learnt from: each correlation with its source."""
    lines = ["## What the prior was learnt from", ""]
    if info.get("kind") == "calibrated":
        return lines + [
            f"The posterior of a calibration on `{info.get('calibrated_on') or '?'}` (run `{info['init']}`), "
            "whose report lists the correlations its own prior was learnt from.",
            "",
        ]
    listed = source_lines(info.get("sources") or [])
    if not listed:  # a run exported before its systems recorded their sources
        return lines + [f"`{info['init']}` records no sources for its {prior_source(info)}.", ""]
    return (
        lines
        + [
            f"{prior_source(info)} (`{info['init']}`) of {len(listed)} textbook correlations, each "
            "sampled over its validity range and fitted by a power law:",
            "",
        ]
        + listed
        + [""]
    )


def fit_row(label: str, post: Posterior | None, names, X, y) -> str:
    if post is None:
        return f"| {label} | (no prior) | | | | |"
    theta, sd = post.mean, np.sqrt(np.clip(np.diag(post.cov), 0, None))
    mape = scores(post.predict(X), y)[1]
    coefs = ", ".join(f"{nm} {t:.3f} ± {s:.3f}" for nm, t, s in zip(names[1:], theta[1:], sd[1:]))
    kappa = "" if np.isnan(post.kappa) else f"{post.kappa:.3g}"
    return (
        f"| {label} | `{table_cell(law_string(theta, names))}` | {table_cell(coefs)} | {post.noise_sd:.3f} | "
        f"{kappa} | {mape:.2f} |"
    )


def report(
    *,
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
    on_library=(),
) -> str:
    """``report.md`` of a calibration; ``on_library``: the library systems the points lie on
    (:func:`sciPT.domains.surrogates.contamination.library_matches`), said in the first section."""
    X, y = points.features(groups), points.log_nu
    lines = [
        "# Surrogate calibration",
        "",
        f"Written {dt.datetime.now().isoformat(timespec='seconds')} by sciPT {__version__}.",
        "",
        "Command:",
        "",
        f"    {command_line()}",
        "",
        "## Result",
        "",
        f"**{law['law']}** (kept: {kept_words(cal, cfg.correction)})",
        "",
        f"Guard ({cal.guard.rule} rule): {cal.guard.reason}.",
        "",
    ]
    lines += contamination_lines(on_library)
    lines += [
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
    if prior is not None and points.pr.min() == points.pr.max():
        # the --init none case has its own warning (input_warnings) that names the held values
        lines.append(
            f"- Pr is constant ({points.pr[0]:g}) over the points: the Pr exponent is not learnt "
            f"from them but taken from the prior (scratch holds it at {TEXTBOOK['Pr']:g} ± "
            f"{REFERENCE_SD['Pr']:g}), and predictions at another Pr rest on that"
            + (
                "; with one point the intervals there were too narrow for a kind of system the "
                "library does not hold (benchmarks/RESULTS_surrogate.md, Prandtl section)"
                if len(points) == 1
                else ""
            )
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
        + (f" ({prior_source(info)}), transfer: {transfer}" if prior is not None else ""),
        "",
        "| fit | law | exponents (mean ± sd) | noise sd of log Nu | prior width factor (most probable) | train MAPE % |",
        "|---|---|---|---|---|---|",
        fit_row("prior-informed", cal.prior_fit, names, X, y),
        fit_row("scratch", cal.scratch_fit, names, X, y),
    ]
    if prior is not None:
        sd = np.sqrt(np.diag(prior.cov))
        coefs = ", ".join(f"{nm} {t:.3f} ± {s:.3f}" for nm, t, s in zip(names[1:], prior.mean[1:], sd[1:]))
        lines.append(
            f"| pre-trained (before data) | `{table_cell(law_string(prior.mean, names))}` | "
            f"{table_cell(coefs)} | | 1 | |"
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
            (
                "Leave-one-out (each point predicted from the others, the whole procedure re-run):"
                if cal.scratch_fit.n <= LOO_MAX_POINTS
                else f"{CV_FOLDS}-fold cross-validation (each point predicted by the whole procedure "
                f"re-run without its fold; over {LOO_MAX_POINTS} points, in place of leave-one-out):"
            ),
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
        "each variable that varies), the rest held at Dittus-Boelter values with the reference prior's "
        f"width (a = {TEXTBOOK['Re']:g} ± {REFERENCE_SD['Re']:g}, b = {TEXTBOOK['Pr']:g} ± "
        f"{REFERENCE_SD['Pr']:g}, c = 0 ± {GROUP_REFERENCE_SD:g}), which the intervals carry.",
        f"Intervals: meant to hold {percent(level)} of new points; the central "
        f"{chosen.nominal_level(level):.1%} of the predictive distribution of log Nu (noise "
        "integrated out under its scaled-inverse-chi-squared prior). Recalibration: "
        f"{recal_note}"
        + (
            f"; the level set by {cal.level_map_from}"
            if cal.level_map_from and chosen.level_map is not None
            else ""
        )
        + ".",
        "",
    ]
    if tau is not None:
        lines += [
            f"Correction: {cfg.correction} random features, width tau = {tau:.3g} chosen by evidence.",
            "",
        ]
    lines += prior_sources(info) if prior is not None else []
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
