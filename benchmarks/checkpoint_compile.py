"""Activation checkpointing and ``torch.compile`` on the DNA presets: step time and peak memory.

For each preset (``--presets``, default ``tiny small``) and each of the four settings
(``eager``, ``checkpointing``, ``compile``, ``checkpointing+compile``), the preset's encoder and
masked-modelling objective (``sciPT.trainer.configure_model`` applies the options, exactly as a
run with ``--activation-checkpointing`` / ``--compile`` does) train on windows of the phage lambda
genome at the preset's window and batch size, fp32, AdamW; a step is forward (masking included),
backward and optimiser step.

Each setting runs in a fresh subprocess (the same imports in each), so that one peak does not hide
another: ``peak_rss_mib`` is the process's ``VmHWM`` (peak resident memory) and
``train_peak_mib`` the part of it above the resident memory measured after the model, optimiser
and batches were built; ``step_s`` is the median of ``--steps`` timed steps after ``--warmup``
untimed ones (``torch.compile`` compiles during the warm-up; its time is recorded separately as
``warmup_s``). On a shared machine the settings of one preset are run in turn, the order rotating
over ``--repeats`` rounds, and the medians are compared with the 2-standard-error rule (the
standard error of a median over rounds estimated from the rounds' spread).

Raw results: ``benchmarks/results/checkpoint_compile.json``; :func:`render` makes the table of
RESULTS.md (importing this module imports no torch).

    OMP_NUM_THREADS=1 python benchmarks/checkpoint_compile.py --steps 5 --warmup 2 --repeats 2
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import time
from pathlib import Path

from summaries import mean_se
from summaries import verdict as verdict_of

HERE = Path(__file__).resolve().parent
GENOME = HERE.parent / "data_recipes" / "dna" / "phage_lambda.fa"
SETTINGS = {
    "eager": {},
    "checkpointing": {"activation_checkpointing": True},
    "compile": {"compile": True},
    "checkpointing+compile": {"activation_checkpointing": True, "compile": True},
}


def build(
    preset: str, settings: dict, batch_size: int | None = None, window: int | None = None, seed: int = 0
):
    """``(model, step, batches_fn)`` for the DNA ``preset`` with the TrainConfig ``settings``.

    ``step(batch, i)`` returns the loss of one training step (forward, backward, AdamW step);
    ``batches_fn(n)`` makes ``n`` batches of genome windows."""
    import dataclasses

    import numpy as np
    import torch

    from sciPT.module import PretrainModule
    from sciPT.registry import domains
    from sciPT.trainer import configure_model

    domain = domains.get("dna")
    cfg = domain.presets()[preset]()
    train = dataclasses.replace(cfg.train, **settings)
    tokenizer = domain.tokenizer(cfg.tokenizer)
    torch.manual_seed(seed)
    backbone = domain.build_model(cfg.model, tokenizer)
    objective = domain.build_objective(cfg.objective, tokenizer, backbone.hidden_size)
    module = PretrainModule(backbone, objective, train)
    configure_model(module, backbone, train)
    module.train()
    optimizer = torch.optim.AdamW(module.parameters(), lr=train.lr)
    batch_size = batch_size or train.batch_size
    window = window or cfg.data.window
    genome = "".join(line.strip() for line in GENOME.read_text().splitlines() if not line.startswith(">"))
    lookup = {c: i for i, c in enumerate("ACGT")}
    codes = np.array([lookup.get(c, 0) for c in genome.upper()], dtype=np.uint8)

    def batches(n: int) -> list[dict]:
        rng = np.random.default_rng(seed)
        starts = rng.integers(0, len(codes) - window, size=(n, batch_size))
        return [tokenizer.batch([codes[s : s + window] for s in row]) for row in starts]

    def step(batch: dict, i: int) -> float:
        optimizer.zero_grad(set_to_none=True)
        loss, _ = objective(backbone, batch, generator=torch.Generator().manual_seed(i))
        loss.backward()
        optimizer.step()
        return float(loss.detach())

    return module, step, batches, {"batch_size": batch_size, "window": window}


def vm_hwm_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def vm_rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def worker(args) -> dict:
    """One setting of one preset, in this (fresh) process."""
    import torch

    torch.set_num_threads(args.threads)
    module, step, batches, shape = build(
        args.preset, SETTINGS[args.worker], args.batch_size or None, args.window or None
    )
    data = batches(args.warmup + args.steps)
    built = vm_rss_mib()
    started = time.perf_counter()
    losses = [step(data[i], i) for i in range(args.warmup)]
    warmup_s = time.perf_counter() - started
    times = []
    for i in range(args.warmup, args.warmup + args.steps):
        t = time.perf_counter()
        losses.append(step(data[i], i))
        times.append(time.perf_counter() - t)
    peak = vm_hwm_mib()
    return {
        "preset": args.preset,
        "setting": args.worker,
        **shape,
        "step_times_s": times,
        "step_s": statistics.median(times),
        "warmup_s": warmup_s,
        "losses": losses,
        "peak_rss_mib": peak,
        "built_rss_mib": built,
        "train_peak_mib": peak - built,
    }


def run_worker(preset: str, setting: str, args) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--worker",
        setting,
        "--preset",
        preset,
        "--steps",
        str(args.steps),
        "--warmup",
        str(args.warmup),
        "--threads",
        str(args.threads),
        "--batch-size",
        str(args.batch_size),
        "--window",
        str(args.window),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{preset}/{setting} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def median_se(values: list[float]) -> float:
    """Standard error of a median over rounds: 1.2533 * sd / sqrt(n) (normal approximation)."""
    if len(values) < 2:
        return float("nan")
    return 1.2533 * statistics.stdev(values) / math.sqrt(len(values))


def summarise(rounds: list[dict]) -> dict:
    step = [r["step_s"] for r in rounds]
    peak = [r["train_peak_mib"] for r in rounds]
    return {
        "step_s": statistics.median(step),
        "step_se": median_se(step),
        "train_peak_mib": statistics.median(peak),
        "train_peak_se": median_se(peak),
        "peak_rss_mib": statistics.median(r["peak_rss_mib"] for r in rounds),
        "warmup_s": statistics.median(r["warmup_s"] for r in rounds),
        "first_loss": rounds[0]["losses"][0],
    }


def verdict(rounds: list[dict], eager: list[dict], key: str) -> str:
    """``key`` of a setting's runs against eager's (lower is better), paired by round: each round
    runs every setting back to back, so the mean of the per-round differences is set against twice
    its standard error over rounds (the library's 2-SE rule): 'lower'/'higher' beyond it, else
    'tied'."""
    mean, se = mean_se([a[key] - b[key] for a, b in zip(rounds, eager)])
    return verdict_of(mean, se, above="higher", below="lower")


def measure(args) -> dict:
    presets = {}
    for preset in args.presets:
        rounds: dict[str, list[dict]] = {s: [] for s in args.settings}
        for r in range(args.repeats):
            order = args.settings[r % len(args.settings) :] + args.settings[: r % len(args.settings)]
            for setting in order:
                rounds[setting].append(run_worker(preset, setting, args))
                print(
                    f"{preset} {setting} round {r}: {rounds[setting][-1]['step_s']:.3f} s/step",
                    file=sys.stderr,
                )
        summary = {s: summarise(v) for s, v in rounds.items()}
        for setting, row in summary.items():
            row["time_vs_eager"] = verdict(rounds[setting], rounds["eager"], "step_s")
            row["memory_vs_eager"] = verdict(rounds[setting], rounds["eager"], "train_peak_mib")
        presets[preset] = {"rounds": rounds, "summary": summary}
    return presets


def render(results: dict) -> str:
    record = results.get("checkpoint_compile")
    if record is None:
        return "Not yet measured: run `benchmarks/checkpoint_compile.py`.\n"
    sys.path.insert(0, str(HERE))
    from report import provenance_line

    lines = [
        f"Measured by {provenance_line(record)} {record['steps']} timed steps after {record['warmup']} "
        f"warm-up steps per run, {record['repeats']} rounds (order rotating), {record['threads']} thread(s); "
        "median over rounds ± its standard error; verdicts against eager by the 2-SE rule on the "
        "paired differences (each round runs every setting back to back: the mean of the per-round "
        "differences to eager against twice their standard error over rounds, the paired SE).",
        "",
        "| preset | setting | step (s) | vs eager | training peak above model (MiB) | vs eager | "
        "peak RSS (MiB) | warm-up (s) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for preset, block in record["presets"].items():
        eager = block["rounds"]["eager"]
        for setting, row in block["summary"].items():
            time_vs = verdict(block["rounds"][setting], eager, "step_s")
            memory_vs = verdict(block["rounds"][setting], eager, "train_peak_mib")
            lines.append(
                f"| {preset} | {setting} | {row['step_s']:.3f} ± {row['step_se']:.3f} | {time_vs} | "
                f"{row['train_peak_mib']:.0f} ± {row['train_peak_se']:.0f} | {memory_vs} | "
                f"{row['peak_rss_mib']:.0f} | {row['warmup_s']:.1f} |"
            )
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["tiny", "small"])
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=0, help="0: the preset's")
    parser.add_argument("--window", type=int, default=0, help="0: the preset's")
    parser.add_argument("--out", type=Path, default=None, help="results folder (default: benchmarks/results)")
    parser.add_argument("--worker", choices=list(SETTINGS), help=argparse.SUPPRESS)
    parser.add_argument("--preset", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args)))
        return
    sys.path.insert(0, str(HERE))
    from provenance import finish, provenance, write_results

    record = {"provenance": provenance(sys.argv)}
    record.update(
        steps=args.steps,
        warmup=args.warmup,
        repeats=args.repeats,
        threads=args.threads,
        settings=args.settings,
    )
    record["presets"] = measure(args)
    finish(record)
    if args.out is None:
        write_results("checkpoint_compile", record)
    else:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "checkpoint_compile.json").write_text(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
