"""The GPU check: what a first GPU machine must measure, in one command.

Parts (``--parts``, all by default), each on the one GPU the script sees (``cuda:0``):

- ``dna``: the DNA ``small`` and ``base`` presets (their encoder, objective, batch size and window,
  on the preset's own corpus) in ``bf16-mixed`` (autocast to bfloat16, fp32 weights, as Lightning's
  ``bf16-mixed``) and ``32-true``; for ``small`` also with activation checkpointing and with
  ``torch.compile`` (``sciPT.trainer.configure_model``, as ``--activation-checkpointing`` /
  ``--compile`` do). Training tokens per second (median step, forward + backward + AdamW) and
  peak GPU memory (``torch.cuda.max_memory_allocated``).
- ``bert``: Hugging Face ``BertForMaskedLM`` of the DNA ``small`` shape with its MLM head at the
  masked positions only (``bert-sdpa-masked`` of benchmarks/mlm_throughput.py, the fair baseline),
  same batches, same precisions: tokens/s and peak memory beside sciPT's.
- ``strategies``: ``scipt pretrain dna --preset small`` through Lightning on 1 GPU with
  ``--strategy ddp``, ``fsdp`` (FSDP1) and ``fsdp2``, ``bf16-mixed``: exit status, steps, training
  tokens/s over the run's wall time (start-up excluded, validation included).
- ``forcefield``: the molecules ``small`` preset: training step time (fp32) on its shipped data,
  then the time of one ASE call (energy + forces, :class:`SciPTCalculator` on the GPU) on an
  ethanol frame.
- ``mace``: MACE on the same GPU, when ``mace-torch`` is importable here; otherwise recorded as
  skipped with the reason (it pins an older e3nn than sciPT and usually lives in its own
  environment, see benchmarks/mace/mace_worker.py).

A part that fails is recorded with its error and the others still run. Results:
``benchmarks/results/gpu_<device>.json`` with provenance (:mod:`provenance`), rendered into
RESULTS.md by :func:`render` ("not yet run on a GPU" until such a file exists).

``--dry-run`` rehearses every part on the CPU with tiny shapes and steps (the same code paths: the
presets' builders, Lightning strategies, the calculator; ``fsdp`` then records Lightning's refusal
to run FSDP1 on a CPU) and writes into a temporary folder, never into benchmarks/results; the
tests run it.

    bash benchmarks/gpu_check.sh               # on a GPU machine
    python benchmarks/gpu_check.py --dry-run   # anywhere
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PARTS = ("dna", "bert", "strategies", "forcefield", "mace")
PRECISIONS = ("bf16-mixed", "32-true")
# --dry-run: every preset shrunk to this, so the whole script runs on a CPU in about a minute
DRY_MODEL = {"d_model": 32, "n_layers": 2, "n_heads": 2, "d_ff": 64}
DRY_BATCH, DRY_WINDOW = 2, 32


# measuring ------------------------------------------------------------------------------------
class Memory:
    """Peak memory of what runs between :meth:`reset` and :meth:`peak_mib`: the GPU allocator's
    peak on CUDA, the process's peak resident memory (VmHWM, which never goes down) on a CPU."""

    def __init__(self, device):
        self.device = device

    def reset(self) -> None:
        import torch

        if self.device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()

    def peak_mib(self) -> float:
        import torch

        if self.device.type == "cuda":
            torch.cuda.synchronize()
            return torch.cuda.max_memory_allocated() / 2**20
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")


def to_device(batch, device):
    if isinstance(batch, dict):
        return {k: v.to(device, non_blocking=True) for k, v in batch.items()}
    return batch.to(device)


def timed_steps(step, batches, warmup: int, device) -> tuple[list[float], list[float]]:
    """Run ``step(batch, i)`` on every batch; wall seconds of the steps after ``warmup``, and all losses."""
    import torch

    times, losses = [], []
    for i, batch in enumerate(batches):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        losses.append(step(batch, i))  # float(): waits for the step
        if i >= warmup:
            times.append(time.perf_counter() - t)
    return times, losses


def autocast(device, precision: str):
    import contextlib

    import torch

    if precision == "bf16-mixed":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    if precision != "32-true":
        raise ValueError(f"precision {precision!r}: expected bf16-mixed or 32-true")
    return contextlib.nullcontext()


def preset_setup(domain_name: str, preset: str, dry: bool, settings: dict | None = None):
    """``(cfg, setup)`` of a domain preset, shrunk for a dry run, with TrainConfig ``settings``."""
    import dataclasses

    from sciPT.registry import domains

    domain = domains.get(domain_name)
    cfg = domain.presets()[preset]()
    if dry and domain_name == "dna":
        cfg.model = dataclasses.replace(cfg.model, **DRY_MODEL, max_len=DRY_WINDOW)
        cfg.data.window = DRY_WINDOW + (cfg.tokenizer.k - 1 if cfg.tokenizer.kind == "kmer" else 0)
        cfg.train.batch_size = DRY_BATCH
    if dry and domain_name == "molecules":
        cfg.train.batch_size = DRY_BATCH
    cfg.train = dataclasses.replace(cfg.train, **(settings or {}))
    import torch

    torch.manual_seed(cfg.train.seed)  # the same initial weights for every setting of a preset
    return cfg, domain.build_pretraining(cfg)


def train_loop(cfg, setup, device, precision: str, steps: int, warmup: int, memory: Memory) -> dict:
    """Forward + backward + AdamW on the setup's own training batches, on ``device``."""
    import torch

    from sciPT.module import PretrainModule
    from sciPT.trainer import configure_model

    module = PretrainModule(setup.backbone, setup.objective, cfg.train).to(device)
    configure_model(module, setup.backbone, cfg.train)
    module.train()
    optimizer = torch.optim.AdamW(module.parameters(), lr=cfg.train.lr)
    batches = []
    for batch in setup.datamodule.train_dataloader():
        batches.append(to_device(batch, device))
        if len(batches) == warmup + steps:
            break

    def step(batch, i: int) -> float:
        optimizer.zero_grad(set_to_none=True)
        with autocast(device, precision):
            loss, _ = setup.objective(setup.backbone, batch, generator=torch.Generator().manual_seed(i))
        loss.backward()
        optimizer.step()
        return float(loss.detach())

    memory.reset()
    times, losses = timed_steps(step, batches, warmup, device)
    tokens = batches[0]["input_ids"].numel() if isinstance(batches[0], dict) else None
    step_s = statistics.median(times)
    return {
        "precision": precision,
        "parameters": sum(p.numel() for p in setup.backbone.parameters()),
        "batch_size": cfg.train.batch_size,
        "tokens_per_batch": tokens,
        "step_s": step_s,
        "step_times_s": times,
        "tokens_per_s": tokens / step_s if tokens else None,
        "peak_memory_mib": memory.peak_mib(),
        "losses": losses,
    }


# parts ---------------------------------------------------------------------------------------
def part_dna(args, device) -> list[dict]:
    rows = []
    memory = Memory(device)
    for preset in ("small", "base"):
        for precision in PRECISIONS:
            settings = {"eager": {}}
            if preset == "small":
                settings["checkpointing"] = {"activation_checkpointing": True}
                if not args.dry_run:  # Inductor's CPU build takes minutes; tests/sciPT/nn covers it
                    settings["compile"] = {"compile": True}
            for name, options in settings.items():
                cfg, setup = preset_setup("dna", preset, args.dry_run, options)
                row = train_loop(cfg, setup, device, precision, args.steps, args.warmup, memory)
                rows.append({"model": "sciPT", "preset": preset, "setting": name, **row})
                print(f"dna {preset} {precision} {name}: {row['tokens_per_s']:.0f} tokens/s", file=sys.stderr)
    return rows


def part_bert(args, device) -> list[dict]:
    """HF BERT (MLM head at the masked positions) of the DNA small shape, on sciPT's batches."""
    import torch

    sys.path.insert(0, str(HERE))
    import mlm_throughput as mlm

    cfg, setup = preset_setup("dna", "small", args.dry_run)
    if args.dry_run:  # the same shrink as sciPT's
        mlm.D, mlm.LAYERS, mlm.HEADS, mlm.FF = (
            DRY_MODEL["d_model"],
            2,
            DRY_MODEL["n_heads"],
            DRY_MODEL["d_ff"],
        )
    seq_len = cfg.model.max_len
    memory = Memory(device)
    rows = []
    for precision in PRECISIONS:
        torch.manual_seed(0)
        model, step_fn = mlm.build("bert-sdpa-masked", seq_len)
        model.to(device).train()
        optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.train.lr)
        masker = mlm.make_objective(mlm.D)
        batches = []
        for batch in setup.datamodule.train_dataloader():
            # sciPT's token ids, clipped into BERT's vocabulary (k-mer ids are the same 4101)
            ids = batch["input_ids"].clamp_max(mlm.VOCAB - 1)
            batch = {"input_ids": ids, "attention_mask": batch["attention_mask"]}
            prepared = masker.corrupt(
                ids, batch["attention_mask"], torch.Generator().manual_seed(len(batches))
            )
            batches.append((to_device(batch, device), tuple(t.to(device) for t in prepared)))
            if len(batches) == args.warmup + args.steps:
                break

        def step(item, i: int, optimizer=optimizer, precision=precision, step_fn=step_fn) -> float:
            batch, prepared = item
            optimizer.zero_grad(set_to_none=True)
            with autocast(device, precision):
                loss = step_fn(batch, None, prepared)
            loss.backward()
            optimizer.step()
            return float(loss.detach())

        memory.reset()
        times, losses = timed_steps(step, batches, args.warmup, device)
        tokens = batches[0][0]["input_ids"].numel()
        rows.append(
            {
                "model": "bert-sdpa-masked",
                "preset": "small",
                "setting": "eager",
                "precision": precision,
                "parameters": sum(p.numel() for p in model.parameters()),
                "tokens_per_batch": tokens,
                "step_s": statistics.median(times),
                "step_times_s": times,
                "tokens_per_s": tokens / statistics.median(times),
                "peak_memory_mib": memory.peak_mib(),
                "losses": losses,
            }
        )
    return rows


def part_strategies(args, device) -> list[dict]:
    """``scipt pretrain`` through Lightning on 1 device with each strategy."""
    scipt = str(Path(sys.executable).with_name("scipt"))
    rows = []
    steps = args.steps + args.warmup
    for strategy in ("ddp", "fsdp", "fsdp2"):
        out = Path(args.work) / f"strategy_{strategy}"
        cmd = [scipt, "pretrain", "dna", "--preset", "tiny" if args.dry_run else "small"]
        cmd += ["--devices", "1", "--strategy", strategy, "--max-steps", str(steps), "--out", str(out)]
        cmd += ["--val-every", str(steps), "--val-batches", "1", "--checkpoint-every", str(steps)]
        if args.dry_run:
            cmd += ["--accelerator", "cpu", "--batch-size", str(DRY_BATCH), "--window", str(DRY_WINDOW)]
            cmd += ["--model.max-len", str(DRY_WINDOW)]
        else:
            cmd += ["--accelerator", "gpu", "--precision", "bf16-mixed"]
        started = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=ROOT)
        row = {"strategy": strategy, "devices": 1, "exit_status": done.returncode}
        row["wall_s"] = time.perf_counter() - started
        if done.returncode == 0:
            metrics = json.loads((out / "metrics.json").read_text())
            tokens = metrics["tokens_per_sample"] * int(_flag(cmd, "--batch-size") or _preset_batch("small"))
            row.update(
                steps=metrics["steps"],
                train_loss=metrics["train_loss"],
                train_wall_s=metrics["wall_time_s"],
                tokens_per_s=tokens * metrics["steps"] / metrics["wall_time_s"],
            )
        else:
            row["error"] = _last_error(done.stderr)
        rows.append(row)
        print(f"strategy {strategy}: exit {done.returncode}", file=sys.stderr)
    return rows


def _flag(cmd: list[str], name: str) -> str | None:
    return cmd[cmd.index(name) + 1] if name in cmd else None


def _preset_batch(preset: str) -> int:
    from sciPT.registry import domains

    return domains.get("dna").presets()[preset]().train.batch_size


def _last_error(stderr: str) -> str:
    """The last line naming an error in a failed command's stderr (the whole tail otherwise)."""
    lines = [ln.strip() for ln in stderr.splitlines() if re.search(r"(Error|error:|Exception)", ln)]
    return lines[-1] if lines else stderr.strip()[-500:]


def part_forcefield(args, device) -> dict:
    import torch
    from ase.io import read

    from sciPT import __version__
    from sciPT.checkpoint import export_model
    from sciPT.domains.molecules.calculator import SciPTCalculator

    cfg, setup = preset_setup("molecules", "small", args.dry_run)
    row = train_loop(cfg, setup, device, "32-true", args.steps, args.warmup, Memory(device))
    model_dir = Path(args.work) / "forcefield_model"
    export_model(model_dir, setup.backbone.to("cpu"), {**setup.export_config, "sciPT_version": __version__})
    calc = SciPTCalculator(model_dir, device=device)
    paths = cfg.data.paths if hasattr(cfg.data, "paths") else [cfg.data.path]
    atoms = read(str(paths[0]), index=0)
    atoms.calc = calc
    rng = torch.Generator().manual_seed(0)
    positions = atoms.get_positions()
    times = []
    for i in range(args.warmup + args.calls):
        noise = torch.randn(positions.shape, generator=rng, dtype=torch.float64).numpy() * 0.01
        atoms.set_positions(positions + noise)
        t = time.perf_counter()
        atoms.get_forces()
        if i >= args.warmup:
            times.append(time.perf_counter() - t)
    row.update(ase_call_ms=1000 * statistics.median(times), ase_call_times_ms=[1000 * t for t in times])
    row["atoms"] = len(atoms)
    return row


def part_mace(args, device) -> dict:
    from importlib import metadata

    try:
        version = metadata.version("mace-torch")
    except metadata.PackageNotFoundError:
        return {
            "skipped": "mace-torch is not installed in this environment; it pins an older e3nn than "
            "sciPT, so it usually lives in its own (benchmarks/mace/mace_worker.py); install it beside "
            "sciPT on the GPU machine to compare on the same GPU"
        }
    return {
        "skipped": f"mace-torch {version} is installed, but a MACE model of the force-field shape is "
        "trained and timed by benchmarks/forcefield_vs_mace.py (run it with the GPU visible)"
    }


# driver --------------------------------------------------------------------------------------
def device_name(device) -> str:
    import torch

    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return "cpu (dry run)"


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--dry-run", action="store_true", help="the CPU rehearsal: tiny shapes, a temporary folder"
    )
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS))
    parser.add_argument("--steps", type=int, default=None, help="timed steps (default 20, dry run 2)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps first (default 5, dry run 1)")
    parser.add_argument("--calls", type=int, default=None, help="timed ASE calls (default 50, dry run 2)")
    parser.add_argument("--out", type=Path, default=None, help="results folder (default: benchmarks/results)")
    args = parser.parse_args(argv)
    args.steps = args.steps or (2 if args.dry_run else 20)
    args.warmup = args.warmup if args.warmup is not None else (1 if args.dry_run else 5)
    args.calls = args.calls or (2 if args.dry_run else 50)

    import torch

    if not args.dry_run and not torch.cuda.is_available():
        print(
            "gpu_check.py: no CUDA GPU is visible (run with --dry-run for the CPU rehearsal)", file=sys.stderr
        )
        return 2
    device = torch.device("cpu" if args.dry_run else "cuda:0")
    out = args.out or (Path(tempfile.mkdtemp(prefix="gpu_check_")) if args.dry_run else HERE / "results")
    args.work = tempfile.mkdtemp(prefix="gpu_check_work_")
    sys.path.insert(0, str(HERE))
    from provenance import finish, provenance

    name = device_name(device)
    record = {
        "provenance": provenance(sys.argv),
        "dry_run": args.dry_run,
        "device": name,
        "cuda": torch.version.cuda,
        "steps": args.steps,
        "warmup": args.warmup,
        "calls": args.calls,
    }
    parts = {"dna": part_dna, "bert": part_bert, "strategies": part_strategies}
    parts.update(forcefield=part_forcefield, mace=part_mace)
    for part in args.parts:
        try:
            record[part] = parts[part](args, device)
        except Exception as err:  # one failed part must not hide the others' figures
            record[part] = {
                "error": f"{type(err).__name__}: {err}",
                "traceback": traceback.format_exc()[-3000:],
            }
            print(f"{part}: failed: {err}", file=sys.stderr)
    finish(record)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"gpu_{slug(name)}.json"
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(record, indent=1) + "\n")
    os.replace(tmp, path)
    print(path)
    failed = [p for p in args.parts if isinstance(record[p], dict) and "error" in record[p]]
    return 1 if failed else 0


# rendering -----------------------------------------------------------------------------------
def render(results: dict) -> str:
    runs = {k: v for k, v in results.items() if k.startswith("gpu_") and not v.get("dry_run")}
    if not runs:
        return "Not yet run on a GPU: `bash benchmarks/gpu_check.sh` on a CUDA machine writes the figures.\n"
    sys.path.insert(0, str(HERE))
    from report import provenance_line

    lines = []
    for _, record in sorted(runs.items()):
        lines += [
            f"**{record['device']}** (CUDA {record['cuda']}). Measured by {provenance_line(record)}",
            "",
        ]
        rows = [r for part in ("dna", "bert") for r in (record.get(part) or []) if isinstance(r, dict)]
        if rows:
            lines += ["| model | preset | setting | precision | tokens/s | step (ms) | peak memory (MiB) |"]
            lines += ["|---|---|---|---|---|---|---|"]
            for r in rows:
                lines.append(
                    f"| {r['model']} | {r['preset']} | {r['setting']} | {r['precision']} | "
                    f"{r['tokens_per_s']:,.0f} | {1000 * r['step_s']:.1f} | {r['peak_memory_mib']:,.0f} |"
                )
            lines.append("")
        for part in ("dna", "bert", "strategies", "forcefield", "mace"):
            value = record.get(part)
            if isinstance(value, dict) and ("error" in value or "skipped" in value):
                lines += [f"- {part}: {value.get('error') or value.get('skipped')}"]
        for r in record.get("strategies") or []:
            if isinstance(r, dict) and "strategy" in r:
                result = (
                    f"{r['tokens_per_s']:,.0f} tokens/s over {r['steps']} steps"
                    if r["exit_status"] == 0
                    else f"exit {r['exit_status']}: {r['error']}"
                )
                lines.append(f"- Lightning `--strategy {r['strategy']}` on 1 GPU: {result}")
        ff = record.get("forcefield")
        if isinstance(ff, dict) and "step_s" in ff:
            lines.append(
                f"- force field `small`: {1000 * ff['step_s']:.1f} ms per training step (batch "
                f"{ff['batch_size']}), {ff['ase_call_ms']:.2f} ms per ASE call ({ff['atoms']} atoms)"
            )
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
