"""Errors of a potential on labelled frames, and the figures of a force-field run.

:func:`evaluate_potential` runs a potential over graphs and returns exact MAE and RMSE (meV): energy
per atom and per frame, forces over Cartesian components, overall and per element
(:class:`sciPT.domains.molecules.objectives.ErrorAccumulator`), with the values behind them for
parity plots. A set evaluated with other reference energies than the model's (frames at the level of
theory of the pre-training, after fine-tuning at another) goes through :func:`swapped_references`.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from sciPT import plots
from sciPT.domains.molecules.dataset import batches
from sciPT.domains.molecules.objectives import ErrorAccumulator

plt = plots.plt

HEADLINE = [("energy_mae_meV_per_atom", "E MAE (meV/atom)"), ("energy_rmse_meV", "E RMSE (meV/frame)"),
            ("forces_mae_meV_per_A", "F MAE (meV/Å)"), ("forces_rmse_meV_per_A", "F RMSE (meV/Å)")]


@dataclass
class Evaluation:
    """Metrics of one set and the values behind them.

    Attributes:
        metrics: ``{name: value}`` as :meth:`ErrorAccumulator.compute` names them.
        energy: ``(true, predicted)`` energies per atom, eV/atom, one per frame.
        forces: ``(true, predicted)`` force components, eV/Angstrom.
    """

    metrics: dict[str, float]
    energy: tuple[np.ndarray, np.ndarray] = field(default=(np.zeros(0), np.zeros(0)))
    forces: tuple[np.ndarray, np.ndarray] = field(default=(np.zeros(0), np.zeros(0)))

    def prefixed(self, prefix: str) -> dict[str, float]:
        return {f"{prefix}_{k}": v for k, v in self.metrics.items()}


@torch.no_grad()
def evaluate_potential(model, graphs: list, batch_size: int = 32, desc: str = "evaluating"
                       ) -> Evaluation:
    """Energies and forces of ``model`` on ``graphs`` against their labels."""
    model.eval()
    device = next(model.parameters()).device
    errors = ErrorAccumulator()
    e_true, e_pred, f_true, f_pred = [], [], [], []
    chunks = batches(graphs, batch_size)
    for batch in tqdm(chunks, total=-(-len(graphs) // batch_size), desc=desc, leave=False,
                      disable=len(graphs) < 200):
        batch = batch.to(device)
        pred = model(batch, forces="forces" in batch)
        errors.update(pred, batch)
        natoms = batch.natoms.reshape(-1).double().cpu()
        if "energy" in batch:
            e_true.append((batch.energy.reshape(-1).cpu() / natoms).numpy())
            e_pred.append((pred["energy"].cpu() / natoms).numpy())
        if "forces" in batch:
            f_true.append(batch.forces.cpu().double().reshape(-1).numpy())
            f_pred.append(pred["forces"].cpu().double().reshape(-1).numpy())
    cat = lambda parts: np.concatenate(parts) if parts else np.zeros(0)  # noqa: E731
    return Evaluation(errors.compute(), (cat(e_true), cat(e_pred)), (cat(f_true), cat(f_pred)))


@contextmanager
def swapped_references(model, references: list[float] | None):
    """Evaluate ``model`` with other per-element reference energies (same element order), and
    put its own back afterwards; ``None`` changes nothing."""
    if references is None:
        yield model
        return
    saved = model.reference_energies.clone()
    model.reference_energies.copy_(torch.tensor(references, dtype=torch.float64))
    try:
        yield model
    finally:
        model.reference_energies.copy_(saved)


def set_name(path: str, taken: set[str]) -> str:
    """A metric-friendly name of a data file (its stem, other characters as ``_``), unique."""
    base = re.sub(r"[^A-Za-z0-9]+", "_", Path(path).name.split(".")[0]).strip("_") or "set"
    name, k = base, 2
    while name in taken:
        name, k = f"{base}_{k}", k + 1
    taken.add(name)
    return name


def metric_rows(sets: dict[str, dict[str, float]]) -> list[str]:
    """A markdown table of the headline errors of several sets."""
    out = ["| set | " + " | ".join(label for _, label in HEADLINE) + " |",
           "|---|" + "---|" * len(HEADLINE)]
    for name, m in sets.items():
        cells = [f"{m[k]:.1f}" if k in m else "–" for k, _ in HEADLINE]
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    return out


def element_rows(sets: dict[str, dict[str, float]]) -> list[str]:
    """Force RMSE per element (meV/Å) of several sets."""
    elements = sorted({k.rsplit("_", 1)[1] for m in sets.values() for k in m
                       if k.startswith("forces_rmse_meV_per_A_")})
    if not elements:
        return []
    out = ["| set | " + " | ".join(f"F RMSE {el}" for el in elements) + " |",
           "|---|" + "---|" * len(elements)]
    for name, m in sets.items():
        cells = [f"{m[f'forces_rmse_meV_per_A_{el}']:.1f}" if f"forces_rmse_meV_per_A_{el}" in m
                 else "–" for el in elements]
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    return out


# --- figures --------------------------------------------------------------------------------
def parity_plots(sets: dict[str, Evaluation], energy_png: Path, forces_png: Path,
                 title: str = "") -> list[Path]:
    """Predicted against reference: energy per atom (each set relative to the mean of its
    reference values, so the scatter is visible) and force components; RMSE in the legend."""
    def energy(ev):
        true, pred = ev.energy
        centre = true.mean() if len(true) else 0.0
        return 1000 * (true - centre), 1000 * (pred - centre)

    written = [
        _parity(sets, energy, "energy_rmse_meV_per_atom", "meV/atom", energy_png, 6,
                "energy − set mean (meV/atom)", f"energy {title}"),
        _parity(sets, lambda ev: ev.forces, "forces_rmse_meV_per_A", "meV/Å", forces_png, 3,
                "force component (eV/Å)", f"forces {title}"),
    ]
    return [p for p in written if p is not None]


def _parity(sets: dict[str, Evaluation], values, metric: str, unit: str, png: Path, size: float,
            quantity: str, title: str) -> Path | None:
    fig, ax = plt.subplots(figsize=(4.8, 4.6))
    drawn = False
    for i, (name, ev) in enumerate(sets.items()):
        true, pred = values(ev)
        if not len(true):
            continue
        rmse = ev.metrics.get(metric, float("nan"))
        ax.scatter(true, pred, s=size, alpha=0.5, color=f"C{i}",
                   label=f"{name} (RMSE {rmse:.1f} {unit})")
        drawn = True
    if not drawn:
        plt.close(fig)
        return None
    _diagonal(ax)
    ax.set(xlabel=f"reference {quantity}", ylabel=f"predicted {quantity}", title=title.strip())
    return plots.save(fig, png)


def _diagonal(ax) -> None:
    lo = min(ax.get_xlim()[0], ax.get_ylim()[0])
    hi = max(ax.get_xlim()[1], ax.get_ylim()[1])
    ax.plot([lo, hi], [lo, hi], ls=":", color="grey", lw=1)
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_aspect("equal")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, markerscale=3)


def before_after_plot(rows: dict[str, tuple[float, float]], png: Path,
                      title: str = "force RMSE before and after fine-tuning") -> Path:
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
