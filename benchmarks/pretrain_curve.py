"""Ten minutes of `tiny` DNA pre-training on the E. coli genome: the masked-token loss curve
against the genome's order-0 entropy (about 1.386 nats; ln 4 = 1.3863 for a uniform genome).

    python benchmarks/pretrain_curve.py --minutes 10 --out benchmarks/out/tiny-10min

Runs `scipt pretrain dna --preset tiny` with a time limit (the schedule's length is set to the number
of steps expected in that time, measured over a short probe), then prints the validation curve and
copies the loss plot to benchmarks/tiny_10min_loss.png.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--steps", type=int, default=6000, help="schedule length (max steps)")
    parser.add_argument("--out", default=str(HERE / "out" / "tiny-10min"))
    args = parser.parse_args()
    out = Path(args.out)
    if out.exists():
        shutil.rmtree(out)
    started = time.time()
    cmd = [
        "scipt",
        "pretrain",
        "dna",
        "--preset",
        "tiny",
        "--max-time",
        str(args.minutes),
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
    subprocess.run(cmd, check=True)
    metrics = json.loads((out / "metrics.json").read_text())
    from sciPT.plots import read_logs

    curve = read_logs(out / "logs").get("val/loss", [])
    print(
        f"wall {time.time() - started:.0f} s, steps {metrics['steps']}, "
        f"order-0 entropy {metrics['order0_entropy_nats']:.4f} nats"
    )
    print("| step | validation masked-token CE (nats) |\n|---|---|")
    for step, value in curve:
        print(f"| {step + 1} | {value:.4f} |")
    shutil.copyfile(out / "plots" / "loss.png", HERE / "tiny_10min_loss.png")


if __name__ == "__main__":
    main()
