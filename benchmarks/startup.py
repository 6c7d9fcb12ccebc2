"""How long ``scipt`` takes to start: wall time of ``--help`` commands and where imports go.

Each command runs ``--repeats`` times in a fresh interpreter (after one unmeasured run that warms
the file cache); the median wall time is the figure. ``python -X importtime`` then attributes one
run's import time to the top-level modules. Targets (issue 10): ``scipt --help`` under 1.0 s,
``scipt finetune surrogate --help`` under 2.5 s.

    python benchmarks/startup.py            # writes benchmarks/results/startup.json
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from provenance import finish, provenance, write_results  # noqa: E402

COMMANDS = {
    "scipt --help": (["--help"], 1.0),
    "scipt finetune surrogate --help": (["finetune", "surrogate", "--help"], 2.5),
    "scipt pretrain dna --help": (["pretrain", "dna", "--help"], None),
    "scipt finetune promoter --help": (["finetune", "promoter", "--help"], None),
    "scipt pretrain molecules --help": (["pretrain", "molecules", "--help"], None),
    "scipt finetune forcefield --help": (["finetune", "forcefield", "--help"], None),
}
LAUNCH = "import sys; from sciPT.cli import main; sys.exit(main(sys.argv[1:]))"


def wall_times(argv: list[str], repeats: int) -> list[float]:
    times = []
    for i in range(repeats + 1):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", LAUNCH, *argv], capture_output=True, check=True)
        if i:  # the first run only warms the file cache
            times.append(time.perf_counter() - start)
    return times


def import_breakdown(argv: list[str], top: int = 8) -> list[dict]:
    """The top-level packages by cumulative import time (µs), from ``-X importtime``."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", LAUNCH, *argv], capture_output=True, text=True, check=True
    )
    rows = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line or "cumulative" in line:
            continue
        _, cumulative, name = line[len("import time:") :].split("|")
        if not name.startswith("  "):  # one space: imported by the command itself, not nested
            rows.append({"module": name.strip(), "cumulative_us": int(cumulative)})
    return sorted(rows, key=lambda r: -r["cumulative_us"])[:top]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    record = {"provenance": provenance(), "repeats": args.repeats, "commands": []}
    for label, (argv, target) in COMMANDS.items():
        times = wall_times(argv, args.repeats)
        record["commands"].append(
            {
                "command": label,
                "target_s": target,
                "wall_s": times,
                "median_s": statistics.median(times),
                "imports": import_breakdown(argv),
            }
        )
        print(f"{label}: median {statistics.median(times):.3f} s", file=sys.stderr)
    print(write_results("startup", finish(record)), file=sys.stderr)


if __name__ == "__main__":
    main()
