"""Figures of the surrogates domain: laws against Re, the prior's systems, sample efficiency."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sciPT import plots as _plots


@dataclass
class Curve:
    """A line (or, with ``lo``/``hi``, a band) of Nu against Re."""

    label: str
    re: np.ndarray
    nu: np.ndarray
    style: str = "-"
    color: str | None = None
    lo: np.ndarray | None = None
    hi: np.ndarray | None = None


@dataclass
class Scatter:
    label: str
    re: np.ndarray
    nu: np.ndarray
    marker: str = "o"
    color: str | None = None
    filled: bool = True


def nu_vs_re(
    path: Path,
    curves: list[Curve],
    scatters: list[Scatter],
    *,
    title: str,
    note: str | None = None,
    shade: tuple[float, float] | None = None,
    shade_label: str = "calibrated Re range",
) -> Path:
    """Log-log Nu against Re: bands and lines, then points; ``shade`` marks an Re range."""
    fig, ax = _plots.pyplot().subplots(figsize=(7, 4.8))
    if shade is not None:
        ax.axvspan(*shade, color="0.92", zorder=0, label=shade_label)
    for c in curves:
        if c.lo is not None:
            ax.fill_between(c.re, c.lo, c.hi, color=c.color, alpha=0.2, lw=0, label=c.label + " interval")
        ax.plot(c.re, c.nu, c.style, color=c.color, lw=1.6, label=c.label)
    for s in scatters:
        ax.plot(
            s.re,
            s.nu,
            s.marker,
            color=s.color,
            mfc=s.color if s.filled else "none",
            ms=6,
            ls="none",
            label=s.label,
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("Re")
    ax.set_ylabel("Nu")
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(fontsize=7, loc="best")
    if note:
        fig.text(0.01, -0.02, note, fontsize=7, ha="left", va="top", wrap=True)
    return _plots.save(fig, path)


def sample_efficiency(path: Path, table: list[dict], *, level: float) -> Path:
    """Median MAPE (with the 90th percentile dashed) and coverage against n, one column per split.

    ``table`` rows: ``{"split", "n", "method", "mape_median", "mape_p90", "coverage"}``.
    """
    splits = list(dict.fromkeys(r["split"] for r in table))
    methods = list(dict.fromkeys(r["method"] for r in table))
    colors = dict(zip(methods, ["tab:gray", "tab:blue", "tab:green", "tab:orange", "tab:red"]))
    fig, axes = _plots.pyplot().subplots(
        2, len(splits), figsize=(4.2 * len(splits), 6), squeeze=False, sharex=True
    )
    for col, split in enumerate(splits):
        for method in methods:
            rows = sorted(
                (r for r in table if r["split"] == split and r["method"] == method), key=lambda r: r["n"]
            )
            if not rows:
                continue
            n = [r["n"] for r in rows]
            axes[0, col].plot(n, [r["mape_median"] for r in rows], "o-", color=colors[method], label=method)
            axes[0, col].plot(n, [r["mape_p90"] for r in rows], "--", color=colors[method], lw=1)
            axes[1, col].plot(n, [100 * r["coverage"] for r in rows], "o-", color=colors[method])
        axes[0, col].set_title(f"{split} split", fontsize=10)
        axes[1, col].axhspan(85, 95, color="0.9")
        axes[1, col].axhline(100 * level, color="k", lw=0.8)
        axes[1, col].set_xlabel("calibration points n")
    axes[0, 0].set_ylabel("MAPE % (median; p90 dashed)")
    axes[1, 0].set_ylabel(f"{level:.0%} interval coverage %")
    axes[0, 0].legend(fontsize=8)
    fig.suptitle("Prior-informed vs scratch on held-out measured points", fontsize=10)
    return _plots.save(fig, path)
