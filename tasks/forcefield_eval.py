"""The figures and set names of a force-field run.

The errors of a potential on labelled frames (:func:`evaluate_potential`, :class:`Evaluation`,
:func:`swapped_references`), their tables and parity plots are the molecules domain's
(:mod:`sciPT.domains.molecules.evaluate`), shared with the evaluation of a pre-training run, and
imported from there; this module adds what only fine-tuning draws (before/after bars) and the names
of its sets.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from sciPT import plots
from sciPT.domains.molecules.evaluate import (  # noqa: F401
    Evaluation,
    element_rows,
    evaluate_potential,
    metric_rows,
    parity_plots,
    swapped_references,
)

plt = plots.plt


def set_name(path: str, taken: set[str]) -> str:
    """A metric-friendly name of a data file (its stem, other characters as ``_``), unique."""
    base = re.sub(r"[^A-Za-z0-9]+", "_", Path(path).name.split(".")[0]).strip("_") or "set"
    name, k = base, 2
    while name in taken:
        name, k = f"{base}_{k}", k + 1
    taken.add(name)
    return name


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
