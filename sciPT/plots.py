"""The figures a run writes (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from . import io  # noqa: E402


def read_csv_log(path: Path) -> dict[str, list[tuple[int, float]]]:
    """Lightning's CSV log -> ``{column: [(step, value), ...]}`` for every non-empty cell."""
    series: dict[str, list[tuple[int, float]]] = {}
    if not path.is_file():
        return series
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            step = int(float(row.get("step") or 0))
            for key, value in row.items():
                if key in ("step", "epoch") or value in ("", None):
                    continue
                series.setdefault(key, []).append((step, float(value)))
    return series


def read_logs(log_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """All of a run's CSV logs: the parts kept from before each resume, then the current one."""
    parts = sorted(log_dir.glob("metrics.part*.csv"), key=lambda p: int(p.stem.split("part")[1]))
    merged: dict[str, list[tuple[int, float]]] = {}
    for path in [*parts, log_dir / "metrics.csv"]:
        for key, points in read_csv_log(path).items():
            merged.setdefault(key, []).extend(points)
    return merged


def keep_log_for_resume(log_dir: Path) -> None:
    """Lightning's CSV logger starts metrics.csv afresh; keep the old one as the next part."""
    current = log_dir / "metrics.csv"
    if current.is_file():
        n = len(list(log_dir.glob("metrics.part*.csv")))
        current.rename(log_dir / f"metrics.part{n}.csv")


def save(fig, path: Path) -> Path:
    with io.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


def loss_curve(log_dir: Path, out: Path, *, reference: dict[str, float] | None = None,
               title: str = "pre-training loss", ylabel: str = "loss (nats)") -> Path | None:
    """Training and validation loss against step, with horizontal reference lines."""
    series = read_logs(log_dir)
    train, val = series.get("train/loss_step") or series.get("train/loss"), series.get("val/loss")
    if not train and not val:
        return None
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    if train:
        ax.plot(*zip(*train), lw=1, alpha=0.8, label="train")
    if val:
        ax.plot(*zip(*val), "o-", lw=1.5, label="validation")
    for i, (name, value) in enumerate((reference or {}).items()):
        ax.axhline(value, ls="--", color=f"C{i + 3}", lw=1, label=f"{name} = {value:.3f}")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    return save(fig, out)
