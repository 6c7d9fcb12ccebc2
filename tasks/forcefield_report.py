"""What a force-field fine-tune writes about itself: its metrics, figures and ``report.md``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sciPT import __version__, plots
from sciPT.config import to_dict
from sciPT.domains.molecules.ewc import ewc_scale
from sciPT.domains.molecules.report import element_rows, metric_rows, parity_plots
from sciPT.io import table_cell
from sciPT.run import RunDir
from sciPT.trainer import sized_steps

from .forcefield_data import Sets, Start

if TYPE_CHECKING:
    from .forcefield_config import ForcefieldConfig

plt = plots.plt


def before_after_plot(
    rows: dict[str, tuple[float, float]], png: Path, title: str = "force RMSE before and after fine-tuning"
) -> Path:
    """Paired bars: force RMSE (meV/Å) of each set before and after fine-tuning."""
    names = list(rows)
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(1.6 + 1.5 * len(names), 3.8))
    before = [rows[n][0] for n in names]
    after = [rows[n][1] for n in names]
    ax.bar(x - 0.2, before, 0.4, label="before (pre-trained)", color="C7")
    ax.bar(x + 0.2, after, 0.4, label="after fine-tuning", color="C0")
    for xi, b, a in zip(x, before, after):
        ax.annotate(f"{a - b:+.0f}", (xi + 0.2, a), ha="center", va="bottom", fontsize=8)
    ax.set_xticks(x, names, fontsize=8)
    ax.set(ylabel="force RMSE (meV/Å)", title=title)
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=8)
    return plots.save(fig, png)


def collect_metrics(
    before: dict, after: dict, sets: Sets, trainer, fit_wall: float, wall: float, resumed_at: int = 0
) -> dict:
    """The run's metrics; its times are this process's, which a resumed run (at ``resumed_at``
    steps) started after the steps before it (``resumed_at_step``)."""
    metrics: dict[str, float] = {
        "steps": trainer.global_step,
        "frames_train": len(sets.train),
        "frames_val": len(sets.val),
        "frames_replay": len(sets.replay),
        "train_wall_time_s": round(fit_wall, 2),
        "wall_time_s": round(wall, 2),
    }
    if resumed_at:
        metrics["resumed_at_step"] = resumed_at
    if sized_steps(trainer) is not None:  # --max-time without --max-steps: the total it settled on
        metrics["steps_sized_from_time"] = sized_steps(trainer)
    for name in sets.not_held_out:  # a test or eval set that holds training data (report: why)
        metrics[f"{name}_not_held_out"] = 1.0
    for key, ev in after.items():
        metrics.update(ev.prefixed(key))
    for key, ev in before.items():
        metrics.update(ev.prefixed(f"{key}_before"))
        if "forces_rmse_meV_per_A" in ev.metrics and key in after:
            metrics[f"{key}_forces_rmse_change_meV_per_A"] = (
                after[key].metrics["forces_rmse_meV_per_A"] - ev.metrics["forces_rmse_meV_per_A"]
            )
    return metrics


def write_figures(run: RunDir, before: dict, after: dict) -> list[Path]:
    figures = []
    curve = plots.loss_curve(
        run.logs,
        run.plot_path("loss.png"),
        title="force-field fine-tuning",
        ylabel="energy + force loss (eV², Å units)",
    )
    if curve is not None:
        figures.append(curve)
    new = {k: v for k, v in after.items() if not k.startswith("eval")}
    old = {k: v for k, v in after.items() if k.startswith("eval")}
    figures += parity_plots(new, run.plot_path("parity_energy.png"), run.plot_path("parity_forces.png"))
    if old:
        figures += parity_plots(
            old,
            run.plot_path("eval_parity_energy.png"),
            run.plot_path("eval_parity_forces.png"),
            "(old task)",
        )
    rows = {
        k: (before[k].metrics["forces_rmse_meV_per_A"], after[k].metrics["forces_rmse_meV_per_A"])
        for k in before
        if k in after and "forces_rmse_meV_per_A" in before[k].metrics
    }
    if rows:
        figures.append(before_after_plot(rows, run.plot_path("before_after.png")))
    return figures


def without_forces(sets: Sets) -> str:
    """The sentence that counts the training and validation frames without forces ("" if none)."""
    counts = [
        sum("has_forces" in g and not bool(g.has_forces) for g in graphs) for graphs in (sets.train, sets.val)
    ]
    if not any(counts):
        return ""
    return (
        f" Without forces (fitted on their energies; force errors are over the frames that have "
        f"forces): {counts[0]} training and {counts[1]} validation frames."
    )


def report(
    cfg: ForcefieldConfig,
    start: Start,
    sets: Sets,
    before: dict,
    after: dict,
    metrics: dict,
    figures: list[Path],
    command: str | None,
    backbone_heads: list[str] = (),
) -> str:
    strategy = cfg.finetune.strategy
    lines = [
        "# Force-field fine-tuning",
        "",
        f"Written by sciPT {__version__}. Start: {start.name} (`--init {cfg.init}`); strategy "
        f"**{strategy}**; references: {sets.references_method}.",
    ]
    if command:
        lines += ["", "Command:", "", f"    {command}"]
    if strategy == "ewc":
        scale = ewc_scale(start.extras)
        extra = (
            f" = {cfg.finetune.ewc_lambda / scale:.3g} λ₀ (λ₀ = {scale:.3g}, the scale of the "
            "stored Fisher, sciPT.domains.molecules.ewc)"
            if scale
            else ""
        )
        lines += ["", f"EWC: λ = {cfg.finetune.ewc_lambda:g}{extra}."]
    if "head_warmup_steps" in metrics:
        held, ramp = metrics["head_warmup_steps"], cfg.finetune.head_warmup_ramp
        lines += [
            "",
            f"Head warm-up: the new head alone for the first {held:,} of {metrics['steps']:,} optimizer "
            "steps"
            + (f" ({cfg.finetune.head_warmup:g} of the run)" if cfg.finetune.head_warmup < 1 else "")
            + f", then the shared blocks joined on a {held if ramp is None else ramp:,}-step "
            "learning-rate ramp.",
        ]
    if start.backbone is not None and not sets.eval:
        lines += [
            "",
            "**Forgetting was not measured**: no `--eval` set (held-out frames of the task the model "
            "was pre-trained on) was given"
            + (f", and {strategy} exists to limit forgetting" if strategy in ("ewc", "replay") else "")
            + ". With `--eval FILE` the old task is scored before and after fine-tuning.",
        ]
    lines += [
        "",
        f"Heads: trained **{sets.head}**; the old task (eval sets) through **{sets.eval_head}**"
        + (" with the pre-trained references" if sets.eval_references is not None else "")
        + f"; the model's heads: {', '.join(backbone_heads)}.",
    ]
    if sets.replay:
        lines += [
            "",
            f"Replay: {len(sets.replay)} pre-training frames, {cfg.finetune.replay_fraction:g} "
            "of every batch.",
        ]
    lines += ["", "## Data", "", "| file | frames | atoms | sha256 |", "|---|---|---|---|"]
    lines += [
        f"| {table_cell(c['path'])} | {c['records']:,} | {c['residues']:,} | `{c['sha256'][:16]}…` |"
        for c in sets.corpus
    ]
    lines += ["", f"{len(sets.train)} training and {len(sets.val)} validation frames." + without_forces(sets)]
    if sets.not_held_out:
        lines += ["", "**Not held out** (their errors below are not held-out errors):", ""]
        lines += [f"- {name}: {why}" for name, why in sets.not_held_out.items()]
    if sets.pretraining_unchecked:
        lines += ["", "Test and eval frames not compared with these pre-training files: "]
        lines[-1] += "; ".join(sets.pretraining_unchecked) + "."
    if sets.unfixed:
        lines += ["", "**Energies with an unmeasured offset** (forces are unaffected):", ""]
        lines += [f"- {why}" for why in sets.unfixed.values()]
    if start.export.get("pretrained_on"):
        lines += [
            "",
            "Pre-trained on: "
            + ", ".join(
                f"{Path(f['path']).name} ({f['records']:,} frames)" for f in start.export["pretrained_on"]
            )
            + (
                "; validated on (never trained on): "
                + ", ".join(f"{Path(f['path']).name} ({f['records']:,} frames)" for f in validated)
                if (validated := start.export.get("validated_on"))
                else ""
            ),
        ]
    lines += [
        "",
        "## Errors after fine-tuning",
        "",
        *metric_rows({k: v.metrics for k, v in after.items()}),
        "",
        *element_rows({k: v.metrics for k, v in after.items()}),
    ]
    if before:
        refit = sets.references_method == "refit"
        lines += [
            "",
            "## Before and after",
            "",
            "Sets named eval_* are the old task (evaluated with the pre-trained reference "
            "energies): an increase is forgetting. The others are the new task: a decrease is "
            "what fine-tuning gained"
            + (
                " (before: the pre-trained network with the references refit on this run's training "
                "frames, not the export as it was)."
                if refit
                else "."
            ),
            "",
            "Pre-training against training from scratch is not measured here: the same command "
            "with `--init none --strategy full`"
            + (" without `--replay`" if sets.replay else "")
            + " and another `--out` trains a model from scratch on the same data (EWC and replay "
            "need a pre-trained start); a pre-trained start behind it is negative transfer.",
            "",
            "| set | F RMSE before (meV/Å) | after | change | E MAE before (meV/atom) | after | change |",
            "|---|---|---|---|---|---|---|",
        ]
        for key, ev in before.items():
            if key not in after:
                continue
            cells = []
            for metric in ("forces_rmse_meV_per_A", "energy_mae_meV_per_atom"):
                b, a = ev.metrics.get(metric), after[key].metrics.get(metric)
                cells += (
                    [f"{b:.1f}", f"{a:.1f}", f"{a - b:+.1f}"]
                    if b is not None and a is not None
                    else ["-"] * 3
                )
            if any(cell != "-" for cell in cells):
                lines.append(f"| {key} | " + " | ".join(cells) + " |")
    resumed = metrics.get("resumed_at_step", 0)
    trained = (
        f"{metrics['steps']} steps, the {metrics['steps'] - resumed} after step {resumed} (where this "
        f"process resumed the run) in {metrics['train_wall_time_s']:.0f} s; this process's wall time"
        if resumed
        else f"{metrics['steps']} steps in {metrics['train_wall_time_s']:.0f} s; total wall time"
    )
    lines += ["", f"{trained} {metrics['wall_time_s']:.0f} s."]
    if figures:
        lines += ["", "## Plots", ""] + [f"![{p.stem}](plots/{p.name})" for p in figures]
    lines += ["", "## Configuration", "", "```json", json.dumps(to_dict(cfg), indent=1), "```", ""]
    return "\n".join(lines)
