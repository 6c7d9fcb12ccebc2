"""Which preset a force field fitted from scratch should default to, at equal training time.

    OMP_NUM_THREADS=1 python benchmarks/forcefield_presets.py [--resume]
        [--budgets 2.5 10] [--presets tiny small] [--seeds 0 1 2]

The question (issue 13, item 5): a user runs ``scipt finetune forcefield --init none --train FRAMES
--max-time T``; with ``--max-time`` alone the preset's step count gives way and the run trains for
``T``, its schedule annealing by then. Which architecture should that run use by default, the
``tiny`` preset (5k parameters) or ``small`` (35k)? A larger model learns more per frame but takes
fewer steps in the same time.

Protocol, fixed before the run:

- Data: acetylacetone, the shipped 500 frames (PBE+D3/def2-SVP), split as
  ``benchmarks/forcefield_vs_mace.py`` splits them (100 frames held out for testing, numpy
  permutation seed 0); the task carves its own 10 % validation from the other 400 (seeded).
- Every (preset, budget, seed): the command above, exactly as a user types it, with
  ``--preset P --max-time B --seed S --test TEST``, one thread, one run at a time per core. The CPU
  time the run used (its process, from ``getrusage``) is recorded beside the wall-clock budget.
- Rule: at each budget, the default is the preset with the lower mean *validation* force RMSE over
  seeds (the task's own carved validation, never the test frames); a preset is *ahead* only when
  the paired per-seed difference exceeds twice its standard error, otherwise *tied*. The test force
  RMSE is reported, scored once.

Raw results: ``benchmarks/results/<--results-name>.json`` (rewritten after each run; ``--resume``
keeps the finished ones); :func:`render` makes the table of ``RESULTS_forcefield.md``.
Cost: the budgets' sum x presets x seeds (2.5 + 10 min, two presets, three seeds: 75 minutes).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np
from summaries import beyond, mean_se

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
FORCES = "forces_rmse_meV_per_A"


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_unit(data: dict, preset: str, budget: float, seed: int, out: Path) -> dict:
    """One ``scipt finetune forcefield`` run from scratch; its validation and test force RMSE."""
    command = [
        str(Path(sys.executable).with_name("scipt")),
        "finetune",
        "forcefield",
        "--init",
        "none",
        "--preset",
        preset,
        "--train",
        data["train"],
        "--isolated-atoms",
        data["isolated"],
        "--test",
        data["test"],
        "--max-time",
        f"{budget:g}",
        "--seed",
        str(seed),
        "--out",
        str(out),
    ]
    before = children_cpu()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    metrics = json.loads((out / "metrics.json").read_text())
    test = next(k for k in metrics if k.startswith("test_") and k.endswith(FORCES) and "before" not in k)
    return {
        "preset": preset,
        "budget_min": budget,
        "seed": seed,
        "val": metrics[f"val_{FORCES}"],
        "test": metrics[test],
        "steps": metrics.get("steps"),
        "cpu_s": children_cpu() - before,
        "train_wall_s": metrics.get("train_wall_time_s"),
        "command": " ".join(command[1:]),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budgets", type=float, nargs="+", default=[2.5, 10.0], help="minutes")
    parser.add_argument("--presets", nargs="+", default=["tiny", "small"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--results-name", default="forcefield_presets")
    parser.add_argument("--work", default=None, help="work folder (default benchmarks/out/<results-name>)")
    parser.add_argument("--resume", action="store_true", help="keep the finished runs of the results file")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(HERE))
    from forcefield_vs_mace import prepare_data
    from provenance import finish, start_record, write_results

    work = Path(args.work or HERE / "out" / args.results_name)
    data = prepare_data("acetylacetone", work, quick=False)
    protocol = {k: getattr(args, k) for k in ("budgets", "presets", "seeds")}
    record = start_record(args.results_name, protocol, argv, args.resume, data=data["record"], units=[])
    done = {(u["preset"], u["budget_min"], u["seed"]) for u in record["units"]}
    for seed in args.seeds:  # seed-major: an interrupted run still compares the presets
        for budget in args.budgets:
            for preset in args.presets:
                if (preset, budget, seed) in done:
                    continue
                print(f"--- {preset}, {budget:g} min, seed {seed}", file=sys.stderr, flush=True)
                out = work / "runs" / f"{preset}-{budget:g}min-s{seed}"
                record["units"].append(run_unit(data, preset, budget, seed, out))
                write_results(args.results_name, finish(dict(record)))
    write_results(args.results_name, finish(record))
    print(render({args.results_name: record}, args.results_name))
    return 0


# --- rendering (standard library only) ----------------------------------------------------------
def render(results: dict, name: str = "forcefield_presets") -> str:
    record = results[name]
    prov = record["provenance"]
    units = record["units"]
    presets = record["protocol"]["presets"]
    lines = [
        f"Measured by `{prov['command']}` at commit `{prov['commit'][:10]}`"
        + (" (uncommitted changes)" if prov.get("dirty") else "")
        + f", {prov['date'][:10]}; {prov['cpu']['cores']} cores; acetylacetone, {record['data']['split']}.",
        "",
        "Force RMSE in meV/Å, mean ± standard error over seeds (validation: the task's own carved 10 %; "
        "test: the held-out frames, scored once). Steps and CPU-minutes are means over seeds.",
        "",
        "| budget | preset | seeds | steps | CPU-min | validation | test |",
        "|---|---|---|---|---|---|---|",
    ]
    verdicts = []
    for budget in sorted({u["budget_min"] for u in units}):
        by = {
            p: {u["seed"]: u for u in units if u["budget_min"] == budget and u["preset"] == p}
            for p in presets
        }
        for p in presets:
            if not by[p]:
                continue
            runs = list(by[p].values())
            val, test = mean_se([u["val"] for u in runs]), mean_se([u["test"] for u in runs])
            lines.append(
                f"| {budget:g} min | {p} | {len(runs)} | {np.mean([u['steps'] for u in runs]):,.0f} | "
                f"{np.mean([u['cpu_s'] for u in runs]) / 60:.1f} | {val[0]:.1f} ± {val[1]:.1f} | "
                f"{test[0]:.1f} ± {test[1]:.1f} |"
            )
        if len(presets) < 2:
            continue
        a, b = presets[:2]
        seeds = sorted(set(by[a]) & set(by[b]))
        if len(seeds) > 1:
            m, se = mean_se([by[b][s]["val"] - by[a][s]["val"] for s in seeds])
            best = b if m < 0 else a
            verdict = "ahead" if beyond(abs(m), se) else "tied"
            verdicts.append(
                f"- {budget:g} min: `{best}` has the lower validation error ({b} − {a}: {m:+.1f} ± {se:.1f} "
                f"meV/Å over {len(seeds)} seeds): **{verdict}**."
            )
    if verdicts:
        lines += ["", "By the rule (validation only):", "", *verdicts]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
