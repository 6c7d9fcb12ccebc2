"""MACE side of ``benchmarks/forcefield_vs_mace.py``; runs under the separate MACE environment.

MACE (``mace-torch``) pins an older e3nn than sciPT, so it lives in its own virtual environment
(``benchmarks/out/mace-venv`` by default) and ``forcefield_vs_mace.py`` calls this file with that environment's python.
Nothing here imports sciPT. Every subcommand writes one JSON (or NPZ) file and prints nothing the
caller parses.

Subcommands:
    evaluate    energies and forces of every frame of an extended XYZ file through
                :class:`mace.calculators.MACECalculator` -> NPZ (``energy`` (F,), ``forces``
                (sum N, 3), ``parameters``).
    speed       milliseconds per energy + forces call through the calculator (see :func:`time_calls`).
    parameters  the model's parameter count -> JSON ``{"parameters": N}``.

A ``.model`` file is MACE's own format (a pickled ``torch.nn.Module``); it is loaded by MACE's
calculator exactly as a MACE user would load it, never by sciPT code.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings

import numpy as np


def calculator(model: str, dtype: str):
    from mace.calculators import MACECalculator

    warnings.filterwarnings("ignore")
    return MACECalculator(model_paths=model, device="cpu", default_dtype=dtype)


def time_calls(atoms, calc, warmup: int, calls: int, seed: int) -> dict:
    """Energy + forces on ``calls`` slightly displaced copies of ``atoms`` (0.01 Angstrom normal
    noise, drawn from ``seed``, so every call really computes and both codes see the same
    structures), after ``warmup`` untimed calls. Wall and process CPU time of each call, in ms."""
    import torch

    rng = np.random.default_rng(seed)
    base = atoms.positions.copy()
    noise = rng.normal(scale=0.01, size=(warmup + calls, *base.shape))
    atoms.calc = calc
    wall, cpu = [], []
    for k in range(warmup + calls):
        atoms.positions = base + noise[k]
        w0, c0 = time.perf_counter(), time.process_time()
        atoms.get_potential_energy()
        atoms.get_forces()
        if k >= warmup:
            wall.append((time.perf_counter() - w0) * 1e3)
            cpu.append((time.process_time() - c0) * 1e3)
    return {"wall_ms": wall, "cpu_ms": cpu, "threads": torch.get_num_threads()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    ev = sub.add_parser("evaluate")
    ev.add_argument("--model", required=True)
    ev.add_argument("--data", required=True, help="extended XYZ, positions only are used")
    ev.add_argument("--dtype", default="float64")
    ev.add_argument("--out", required=True)
    sp = sub.add_parser("speed")
    sp.add_argument("--model", required=True)
    sp.add_argument("--structure", required=True)
    sp.add_argument("--dtype", default="float32")
    sp.add_argument("--warmup", type=int, default=10)
    sp.add_argument("--calls", type=int, default=50)
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--out", required=True)
    pa = sub.add_parser("parameters")
    pa.add_argument("--model", required=True)
    pa.add_argument("--dtype", default="float32")
    pa.add_argument("--out", required=True)
    args = parser.parse_args()

    import torch
    from ase.io import read

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    calc = calculator(args.model, args.dtype)
    params = int(sum(p.numel() for p in calc.models[0].parameters()))
    if args.command == "parameters":
        with open(args.out, "w") as handle:
            json.dump({"parameters": params}, handle)
    elif args.command == "evaluate":
        energies, forces = [], []
        for atoms in read(args.data, index=":"):
            atoms.calc = calc
            energies.append(atoms.get_potential_energy())
            forces.append(atoms.get_forces())
        np.savez(args.out, energy=np.array(energies), forces=np.concatenate(forces), parameters=params)
    else:
        atoms = read(args.structure)
        result = time_calls(atoms, calc, args.warmup, args.calls, args.seed)
        result.update(parameters=params, atoms=len(atoms), dtype=args.dtype)
        with open(args.out, "w") as handle:
            json.dump(result, handle)


if __name__ == "__main__":
    main()
