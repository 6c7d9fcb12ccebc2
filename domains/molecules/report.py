"""The tables and parity plots of a molecules model's errors, as :mod:`.evaluate` measures them.

:func:`metric_rows` (the headline errors), :func:`element_rows` (force RMSE per element),
:func:`force_lines` and :func:`stress_lines` (which frames the forces and stresses were scored on)
and :func:`parity_plots` (predicted against reference) write the report of ``scipt evaluate`` on a
molecules run (:func:`.evaluate.evaluate_run`) and the force-field task's.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ase import units

from sciPT import plots

if TYPE_CHECKING:
    from .evaluate import Evaluation

plt = plots.plt

HEADLINE = [
    ("energy_mae_meV_per_atom", "E MAE (meV/atom)"),
    ("energy_rmse_meV", "E RMSE (meV/frame)"),
    ("forces_mae_meV_per_A", "F MAE (meV/Å)"),
    ("forces_rmse_meV_per_A", "F RMSE (meV/Å)"),
]


def metric_rows(sets: dict[str, dict[str, float]]) -> list[str]:
    """A markdown table of the headline errors of several sets."""
    out = ["| set | " + " | ".join(label for _, label in HEADLINE) + " |", "|---|" + "---|" * len(HEADLINE)]
    for name, m in sets.items():
        cells = [f"{m[k]:.1f}" if k in m else "–" for k, _ in HEADLINE]
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    return out


def force_lines(metrics: dict[str, float]) -> list[str]:
    """The line that says over which frames the forces were scored, when some frames have none."""
    if "forces_frames" not in metrics:
        return []
    return [
        f"Forces over the atoms of the {metrics['forces_frames']} of {metrics['frames']} frames that "
        "have forces; the others have an energy alone."
    ]


def stress_lines(metrics: dict[str, float]) -> list[str]:
    """The stress errors of a set that has them (a paragraph and a blank line), else nothing."""
    if "stress_mae_eV_per_A3" not in metrics:
        return []
    return [
        f"Stress, {metrics['stress_frames']} frames with a stress label, over the Voigt components "
        "(xx, yy, zz, yz, xz, xy, ASE's sign convention): "
        f"MAE {metrics['stress_mae_eV_per_A3']:.3g} eV/Å³, RMSE {metrics['stress_rmse_eV_per_A3']:.3g} eV/Å³ "
        f"({metrics['stress_mae_eV_per_A3'] / units.GPa:.3g} and "
        f"{metrics['stress_rmse_eV_per_A3'] / units.GPa:.3g} GPa).",
        "",
    ]


def element_rows(sets: dict[str, dict[str, float]]) -> list[str]:
    """Force RMSE per element (meV/Å) of several sets."""
    elements = sorted(
        {k.rsplit("_", 1)[1] for m in sets.values() for k in m if k.startswith("forces_rmse_meV_per_A_")}
    )
    if not elements:
        return []
    out = [
        "| set | " + " | ".join(f"F RMSE {el}" for el in elements) + " |",
        "|---|" + "---|" * len(elements),
    ]
    for name, m in sets.items():
        cells = [
            f"{m[f'forces_rmse_meV_per_A_{el}']:.1f}" if f"forces_rmse_meV_per_A_{el}" in m else "–"
            for el in elements
        ]
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    return out


# --- figures --------------------------------------------------------------------------------
def parity_plots(
    sets: dict[str, Evaluation], energy_png: Path, forces_png: Path, title: str = ""
) -> list[Path]:
    """Predicted against reference: energy per atom (each set relative to the mean of its
    reference values, so the scatter is visible) and force components; RMSE in the legend."""

    def energy(ev):
        true, pred = ev.energy
        centre = true.mean() if len(true) else 0.0
        return 1000 * (true - centre), 1000 * (pred - centre)

    written = [
        _parity(
            sets,
            energy,
            "energy_rmse_meV_per_atom",
            "meV/atom",
            energy_png,
            6,
            "energy − set mean (meV/atom)",
            f"energy {title}",
        ),
        _parity(
            sets,
            lambda ev: ev.forces,
            "forces_rmse_meV_per_A",
            "meV/Å",
            forces_png,
            3,
            "force component (eV/Å)",
            f"forces {title}",
        ),
    ]
    return [p for p in written if p is not None]


def _parity(
    sets: dict[str, Evaluation],
    values,
    metric: str,
    unit: str,
    png: Path,
    size: float,
    quantity: str,
    title: str,
) -> Path | None:
    fig, ax = plt.subplots(figsize=(4.8, 4.6))
    drawn = False
    for i, (name, ev) in enumerate(sets.items()):
        true, pred = values(ev)
        if not len(true):
            continue
        rmse = ev.metrics.get(metric, float("nan"))
        ax.scatter(true, pred, s=size, alpha=0.5, color=f"C{i}", label=f"{name} (RMSE {rmse:.1f} {unit})")
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
