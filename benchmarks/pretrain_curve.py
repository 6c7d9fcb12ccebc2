"""Ten minutes of `tiny` DNA pre-training on the E. coli genome: the masked-token loss curve
against the genome's order-0 entropy (about 1.386 nats; ln 4 = 1.3863 for a uniform genome).

    OMP_NUM_THREADS=1 python benchmarks/pretrain_curve.py --minutes 10 --steps 9500

Runs `scipt pretrain dna --preset tiny --max-time MINUTES --max-steps STEPS --val-every 250
--warmup-steps 200` (the cosine schedule spans STEPS; the run stops at whichever of the two limits
comes first) into ``--out`` (default ``benchmarks/out/tiny-10min``, not committed), then writes
``benchmarks/results/pretrain_curve.json``: provenance (command, commit, versions, CPU, load
before and after), the resolved configuration (seed included), the run's ``metrics.json`` and every
logged point of the training and validation curves. ``render`` turns that file into the table of
RESULTS.md and ``report.py`` redraws ``benchmarks/tiny_10min_loss.png`` from it with ``figure``
(``python benchmarks/report.py``).
"""

from __future__ import annotations

import argparse
import io
import json
import math
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
FIGURE = HERE / "tiny_10min_loss.png"
TABLE_STEPS = (250, 1000, 2000, 3000, 4000, 5000, 6000, 7000, 8000, 9000)


def _curve(points) -> list[list[float]]:
    """Lightning logs the 0-based step of the last finished batch: store 1-based step counts."""
    return [[int(step) + 1, float(value)] for step, value in points]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=10.0, help="--max-time of the run")
    parser.add_argument("--steps", type=int, default=9500, help="schedule length (--max-steps)")
    parser.add_argument("--out", default=str(HERE / "out" / "tiny-10min"))
    parser.add_argument("--results-name", default="pretrain_curve", help="write benchmarks/results/NAME.json")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(HERE))
    import yaml
    from provenance import finish, provenance, write_results

    record = {"provenance": provenance(argv)}
    out = Path(args.out)
    if out.exists():
        shutil.rmtree(out)
    cmd = [
        "scipt",
        "pretrain",
        "dna",
        "--preset",
        "tiny",
        "--max-time",
        f"{args.minutes:g}",
        "--max-steps",
        str(args.steps),
        "--val-every",
        "250",
        "--checkpoint-every",
        "1000",
        "--warmup-steps",
        "200",
        "--out",
        str(out),
    ]
    print(" ".join(cmd), file=sys.stderr)
    started = time.time()
    subprocess.run([str(Path(sys.executable).with_name("scipt")), *cmd[1:]], check=True)
    wall = time.time() - started
    from sciPT.plots import read_logs

    metrics = json.loads((out / "metrics.json").read_text())
    config = yaml.safe_load((out / "config.yaml").read_text())
    logs = read_logs(out / "logs")
    train = logs.get("train/loss_step") or logs.get("train/loss") or []
    record.update(
        {
            "run": {
                "scipt_command": " ".join(cmd),
                "minutes": args.minutes,
                "schedule_steps": args.steps,
                "val_every": 250,
                "warmup_steps": 200,
                "wall_s_with_startup": wall,
                "seed": (config.get("train") or {}).get("seed"),
                "steps_note": "steps are 1-based counts of optimizer steps done",
            },
            "config": config,
            "metrics": metrics,
            "curves": {
                "train_loss": _curve(train),
                "val_loss": _curve(logs.get("val/loss", [])),
                "val_accuracy": _curve(logs.get("val/accuracy", [])),
            },
        }
    )
    path = write_results(args.results_name, finish(record))
    print(f"wrote {path}", file=sys.stderr)
    print(render({args.results_name: record}, args.results_name))


def figure_png(record: dict) -> bytes:
    """The loss figure (training and validation curves, order-0 entropy) as PNG bytes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves, metrics = record["curves"], record["metrics"]
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    if curves["train_loss"]:
        ax.plot(*zip(*curves["train_loss"]), lw=1, alpha=0.8, label="train (batch)")
    if curves["val_loss"]:
        ax.plot(*zip(*curves["val_loss"]), "o-", lw=1.5, ms=3, label="validation")
    entropy = metrics.get("order0_entropy_nats")
    if entropy is not None:
        ax.axhline(entropy, ls="--", color="C3", lw=1, label=f"order-0 entropy = {entropy:.3f}")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("masked-token cross-entropy (nats)")
    ax.set_title(f"tiny DNA pre-training, E. coli K-12, {record['run']['minutes']:g} minutes")
    ax.grid(alpha=0.3)
    ax.legend()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return buffer.getvalue()


def figure(record: dict) -> bytes | None:
    """:func:`figure_png` of a measured run, None for a run without a final validation loss:
    ``report.py`` draws (or, with ``--check``, compares) :data:`FIGURE` with it."""
    return None if math.isnan(record["metrics"]["val_loss"]) else figure_png(record)


def render(results: dict, name: str = "pretrain_curve") -> str:
    """The RESULTS.md block from ``results[name]`` (its figure is drawn by ``report.py``)."""
    record = results[name]
    try:  # report.py's provenance line (report.py is beside this file)
        sys.path.insert(0, str(HERE))
        from report import provenance_line

        measured = f"Measured by {provenance_line(record)}"
    except ImportError:
        measured = f"Measured by `{record['provenance']['command']}`."
    run, metrics, curves = record["run"], record["metrics"], record["curves"]
    data = record["config"].get("data") or {}
    train = record["config"].get("train") or {}
    val = {step: value for step, value in curves["val_loss"]}
    steps = metrics["steps"]
    entropy = metrics["order0_entropy_nats"]
    final, best = metrics["val_loss"], metrics["val_loss_best"]
    best_step = min(val, key=val.get) if val else None
    shown = [s for s in TABLE_STEPS if s in val] + (
        [steps] if steps in val and steps not in TABLE_STEPS else []
    )
    lines = [
        f"{measured} It ran `{run['scipt_command'].split(' --out ')[0]}` (seed {run['seed']}).",
        "",
        f"{steps:,} steps of {train.get('batch_size', '?')} x {data.get('window', '?')} nucleotides in "
        f"{metrics['wall_time_s']:.0f} s of training ({run['wall_s_with_startup']:.0f} s with start-up and "
        f"the final checks), {steps / metrics['wall_time_s']:.1f} steps/s; the cosine schedule spans "
        f"{run['schedule_steps']:,} steps"
        + (
            "."
            if steps >= run["schedule_steps"]
            else f" (the {run['minutes']:g}-minute limit stopped the run before its end)."
        ),
        "",
        "| step | validation masked-token cross-entropy (nats) |",
        "|---|---|",
        *(f"| {s} | {val[s]:.4f} |" for s in shown),
        "",
        f"Order-0 entropy of the genome (base frequencies): **{entropy:.4f} nats**. Masked-token loss on "
        f"held-out windows after the run: **{final:.4f} nats, {abs(entropy - final):.4f} nats "
        f"{'below' if final < entropy else 'above'}** the order-0 entropy (best {best:.4f}"
        + (f" at step {best_step:,}" if best_step is not None else "")
        + f"): target (below the order-0 entropy) **{'met' if final < entropy else 'missed'}**.",
    ]
    if "embedding_effective_rank" in metrics:
        width = (record["config"].get("model") or {}).get("d_model", "?")
        lines += [
            "",
            f"The run's collapse check: embedding effective rank {metrics['embedding_effective_rank']:.1f} "
            f"of {width}, mean cosine {metrics['embedding_mean_cosine']:.2f}.",
        ]
    lines += ["", f"![loss curve]({FIGURE.name})"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
