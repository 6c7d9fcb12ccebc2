"""The figures a run writes (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

import csv
from pathlib import Path

from . import io
from .errors import UserError


def pyplot():
    """matplotlib's pyplot on the Agg backend, imported on first use (it costs a third of a
    second, which every command that draws nothing would pay)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot

    return matplotlib.pyplot


def __getattr__(name: str):
    if name == "plt":  # ``plots.plt`` for modules that draw
        return pyplot()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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


RESUMED_AT = "next_part_resumed_at_step"
"""The key of a kept part's marker, ``metrics.partN.json`` beside ``metrics.partN.csv``
(:func:`keep_log_for_resume`): the training step of the checkpoint that the process after the
part resumed from."""


def _marker(part: Path) -> Path:
    return part.with_suffix(".json")


def _resumed_at(part: Path) -> int | None:
    """The step in ``part``'s marker; ``None`` for a part kept without one (by a version before
    the marker) or whose marker cannot be read."""
    try:
        return int(io.read_json(_marker(part))[RESUMED_AT])
    except (OSError, UserError, ValueError, TypeError, KeyError):
        return None


def _before(series: dict[str, list[tuple[int, float]]], step: int) -> dict[str, list[tuple[int, float]]]:
    return {key: [(s, v) for s, v in points if s < step] for key, points in series.items()}


def read_logs(log_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """All of a run's CSV logs, the parts kept before each resume then the current one, as
    ``{column: [(step, value), ...]}``, each series in strictly increasing step.

    The rows a part logged after the checkpoint the next process resumed from are left out: those
    steps were trained again, and their values (a validation loss among them) belong to weights
    the run threw away. A part kept with its marker (:func:`keep_log_for_resume`) names that
    checkpoint's step ``s``, and its rows (and an earlier part's) from ``s`` on go: Lightning logs
    the batch that makes step ``s + 1`` at ``s``, and a validation of step ``s``'s weights at
    ``s - 1``, so what stays is the checkpoint's weights and earlier. A part kept without one (a
    run folder from before the marker) is cut, as it was then, at the first step the next part
    trained on. A step logged twice keeps its later value (a resumed run with nothing to train
    validates its last weights again)."""
    parts = sorted(log_dir.glob("metrics.part*.csv"), key=lambda p: int(p.stem.split("part")[1]))
    merged: dict[str, list[tuple[int, float]]] = {}
    marked = True  # whether the part before this one recorded the step the next one resumed from
    for path in [*parts, log_dir / "metrics.csv"]:
        logged = read_csv_log(path)
        if not marked:
            trained = [
                step for key, points in logged.items() if key.startswith("train/") for step, _ in points
            ]
            if trained:
                merged = _before(merged, min(trained))
        for key, points in logged.items():
            merged.setdefault(key, []).extend(points)
        resumed_at = _resumed_at(path) if path in parts else None
        if resumed_at is not None:
            merged = _before(merged, resumed_at)
        marked = resumed_at is not None
    return {key: sorted(dict(points).items()) for key, points in merged.items()}


def keep_log_for_resume(log_dir: Path, step: int | None = None) -> None:
    """Lightning's CSV logger starts metrics.csv afresh; keep the old one as the next part, with
    its marker: ``step``, the step of the checkpoint the run resumes from (by default that of the
    run directory's, ``log_dir``'s parent, :meth:`~sciPT.run.RunDir.resume_checkpoint`), which
    :func:`read_logs` cuts the part at. The marker is written first: a stop between the two
    leaves a marker without its part, which the next resume writes again."""
    current = log_dir / "metrics.csv"
    if not current.is_file():
        return
    part = log_dir / f"metrics.part{len(list(log_dir.glob('metrics.part*.csv')))}.csv"
    if step is None:
        from .run import RunDir, checkpoint_step

        resumed = RunDir(log_dir.parent).resume_checkpoint()
        step = checkpoint_step(resumed) if resumed is not None else None
    if step is not None:
        io.write_json(_marker(part), {RESUMED_AT: int(step)})
    else:  # nothing to resume from: no marker, the part is cut as one kept without it
        _marker(part).unlink(missing_ok=True)
    current.rename(part)


def save(fig, path: Path) -> Path:
    with io.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    pyplot().close(fig)
    return path


def loss_curve(
    log_dir: Path,
    out: Path,
    *,
    reference: dict[str, float] | None = None,
    title: str = "pre-training loss",
    ylabel: str = "loss (nats)",
) -> Path | None:
    """Training and validation loss against step, with horizontal reference lines.

    Where a fine-tuning strategy adds a penalty (EWC, L2-SP), the training line is the task loss
    alone, as validation's is, and the penalty has a line of its own: their sum beside the
    validation loss read as a gap between the two that is partly the penalty."""
    series = read_logs(log_dir)
    task = series.get("train/task_loss_step") or series.get("train/task_loss")
    train = task or series.get("train/loss_step") or series.get("train/loss")
    penalty = series.get("train/penalty_step") or series.get("train/penalty")
    val = series.get("val/loss")
    if not train and not val:
        return None
    fig, ax = pyplot().subplots(figsize=(6.4, 4.0))
    # a series of a point or two is a line too short to see without markers
    for points, style, label in (
        (train, dict(lw=1, alpha=0.8), "train (task loss)" if task else "train"),
        (penalty if task else None, dict(lw=1, ls="--", color="C4"), "penalty (added to the task loss)"),
    ):
        if points:
            ax.plot(*zip(*points), marker="." if len(points) < 5 else None, label=label, **style)
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


def roc_pr(
    curves: dict[str, tuple], out_roc: Path, out_pr: Path, title: str = "", auroc_label: str = "AUROC"
) -> tuple[Path, Path]:
    """ROC and precision-recall curves of several models: ``{name: (labels, scores)}``;
    ``auroc_label`` names the area in the legend (``pooled AUROC`` for out-of-fold scores of
    several folds, which is not the mean of the folds' AUROCs)."""
    from sklearn.metrics import auc, precision_recall_curve, roc_curve

    fig1, ax1 = pyplot().subplots(figsize=(4.8, 4.6))
    fig2, ax2 = pyplot().subplots(figsize=(4.8, 4.6))
    for name, (y, s) in curves.items():
        fpr, tpr, _ = roc_curve(y, s)
        ax1.plot(fpr, tpr, label=f"{name} ({auroc_label} {auc(fpr, tpr):.3f})")
        precision, recall, _ = precision_recall_curve(y, s)
        ax2.plot(recall, precision, label=name)
    ax1.plot([0, 1], [0, 1], ls=":", color="grey")
    ax1.set(xlabel="false positive rate", ylabel="true positive rate", title=f"ROC {title}".strip())
    ax2.set(xlabel="recall", ylabel="precision", title=f"precision-recall {title}".strip(), ylim=(0, 1.02))
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return save(fig1, out_roc), save(fig2, out_pr)


def sample_efficiency(
    fractions: list[float], results: dict[str, list[list[float]]], out: Path, metric: str = "accuracy"
) -> Path:
    """Mean and standard deviation over seeds of ``metric`` against the fraction of labels used."""
    import numpy as np

    fig, ax = pyplot().subplots(figsize=(5.6, 4.0))
    for name, per_fraction in results.items():
        values = np.array(per_fraction, dtype=float)
        mean, std = values.mean(1), values.std(1)
        ax.errorbar(fractions, mean, yerr=std, marker="o", capsize=3, label=name)
    ax.set_xscale("log")
    ax.set(xlabel="fraction of training labels", ylabel=metric, title="sample efficiency")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    return save(fig, out)
