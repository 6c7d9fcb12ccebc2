"""sciPT's equivariant potential against MACE: accuracy against CPU time, and ASE-call speed.

Issue 11 (a benchmark a sceptical reviewer accepts), after issue 5's first version. Three codes:

- ``ours``: ``scipt pretrain molecules --preset small --model.channels 64`` (l_max 1, 3 blocks,
  about 101k parameters), batch 8, AdamW at 1e-2, cosine schedule to 2 % of it, isolated-atom
  reference energies.
- ``mace-large``: the MACE of the first version (``32x0e+32x1o``, max_ell 3, correlation 3, 2
  interactions, about 94k parameters), batch 5.
- ``mace-small``: a MACE of our model's training cost (``32x0e``: max_L 0, max_ell 1 like our
  l_max 1, correlation 2, about 44k parameters), chosen by measuring CPU time per training frame
  of candidates against ours with the ``probe`` stage, each pair in the same period of a shared
  machine (ethanol, 950 training frames): ``32x0e``/max_ell 1/correlation 2 7.7 ms against ours
  7.6 ms; ``32x0e``/2/2 10.9 against 7.4 and 9.1 against 6.3; ``16x0e``/2/2 10.2 against 5.9:
  below 32 channels MACE's cost per frame is its per-batch overhead, and fewer channels buy
  nothing. (Per optimiser step, MACE's batch of 5 against our 8: 39 ms against 60 ms.) The
  probes of every full run are in the results file (``probes``).

**Accuracy against CPU time.** Every code is trained once per budget (``--budgets``, CPU minutes;
default 2.5, 5, 10, 20) and seed (``--seeds``, default 0 1 2), each run with a learning-rate
schedule that anneals by the end of *its* budget: that is how a user with that budget would run
either code (checkpoints of one long run would score both codes mid-schedule). The budget is CPU
time (user + system, ``/proc/PID/stat``, sampled every 0.5 s) of the training process from launch
to the end of training (imports, reading, MACE's code generation included; writing the outputs
after training is not counted and gets a grace period), because the machine is shared and wall time
is not a measure there. Each run is sized beforehand, to end at ``--fill`` (95 %) of its budget,
from a line CPU = start-up + units x cost per unit (our steps, MACE's epochs) through a timed probe
of its code on its data (two short runs) and the runs of that code and data finished so far (the
runs go molecule by molecule, seed by seed, budgets in increasing order, so a 20-minute run is
sized from the shorter ones); it is stopped at ``--hard-stop`` (110 %) if training has not ended
by then (recorded, flagged in the table). A probe times the CPU it ran on, and a machine may be
another CPU kind than the last (the budget buys other work there): on a CPU kind without a probe
the codes are probed anew (``probes_per_cpu``), and a run that was sized on another CPU's figures
and ended below ``--min-fill`` (80 %) of its budget or at the hard stop measured another budget
than its own: it is moved to ``undersized_units`` (kept, not tabled) and run again. Our "end of training" is the export, which includes the
EWC Fisher diagonal of 256 frames (a few CPU seconds, charged to us); MACE's is its log's
"Training complete", before its own evaluation tables and model saving.

- ours: ``--max-steps`` from the probe; the cosine schedule ends there.
- MACE, as its authors run it on a fixed number of epochs (``mace_run_train``'s own options):
  ``--max_num_epochs`` from the probe; Stage Two (``--swa``: energy weight 1000, lr ``--swa_lr``
  1e-3) over the last quarter (``--start_swa`` at 3/4 of the epochs, MACE's own default); before
  it ``--scheduler ExponentialLR`` with ``--lr_scheduler_gamma`` such that the rate falls from
  ``--lr`` 1e-2 to the Stage Two rate exactly when Stage Two starts; EMA of the weights (``--ema
  --ema_decay 0.99``); amsgrad Adam (default); MACE keeps its best-validation checkpoint of each
  stage, and the Stage Two model is scored. ReduceLROnPlateau (MACE's default, patience 50 epochs)
  never fires within these budgets (the first version's flaw). Also kept from the first version,
  both in MACE's favour: float32 training (MACE's default is float64, slower) and ``--E0s
  average`` (with isolated-atom E0s MACE starts with the whole binding energy to learn).

Scored on the 1,000 shipped rMD17 ethanol test frames (``test_MD.xyz``; training on the 1,000
``train.xyz`` frames) and on a held-out 100 of the 500 shipped acetylacetone frames
(``train_300K.xyz``, split once with seed 0; training on the other 400): force RMSE and MAE
(meV/Angstrom, over Cartesian components), energy MAE (meV per frame and per atom), in float64.
Each code holds out 5 % of its training frames for validation with its own seeded split.

**Speed.** Energy + forces through each code's ASE calculator for one ethanol molecule and 33 in a
periodic box at the density of the liquid (297 atoms); each call sees a freshly displaced copy, so
the neighbour list is rebuilt, as in MD; the codes run in alternating fresh subprocesses
(``--rounds``); median wall and CPU ms per call. The models timed are those of the lowest seed
still in the work folder at the largest budget on ethanol (their paths are recorded), so the table
puts each code's speed beside its accuracy at each size. Work folders do not outlive a machine: a
code with no such model left is timed on a stand-in of the same configuration trained briefly
(``STAND_IN``; a call costs the same whatever the weights), and the table says which.

Raw results go to ``benchmarks/results/<--results-name>.json`` after every run (``--resume`` skips
finished runs), the curves to ``benchmarks/<--results-name>.png`` (regenerate from the JSON with
the ``figure`` stage), and :func:`render` makes the markdown tables (``benchmarks/report.py``).
MACE runs in its own virtual environment (it pins another e3nn) through
``benchmarks/mace/mace_worker.py``::

    python3 -m venv benchmarks/out/mace-venv
    benchmarks/out/mace-venv/bin/pip install torch==2.13.0 mace-torch

Run from the repository root with ``.venv`` active, one thread::

    OMP_NUM_THREADS=1 python benchmarks/forcefield_vs_mace.py all --resume      # the full run
    OMP_NUM_THREADS=1 python benchmarks/forcefield_vs_mace.py all --quick \\
        --results-name forcefield_vs_mace_quick                                  # smoke run
    python benchmarks/forcefield_vs_mace.py figure     # the PNG again, from the JSON
    python benchmarks/forcefield_vs_mace.py render     # the tables, from the JSON
    # the cost of a MACE candidate against ours (start-up and CPU per training frame)
    OMP_NUM_THREADS=1 python benchmarks/forcefield_vs_mace.py probe --molecules ethanol \\
        --codes ours mace-small --mace-small 32x0e:2:2 --results-name scratch

``--malloc-heap`` and ``--threads`` give variants of the speed stage (their own keys); ``profile``
profiles our calculator on the periodic box.
"""

from __future__ import annotations

import argparse
import collections
import csv
import fcntl
import json
import math
import os
import re
import resource
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from summaries import mean_se
from summaries import verdict as verdict_of

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
MACE_WORKER = HERE / "mace" / "mace_worker.py"
ETHANOL_DENSITY = 0.789  # g/cm^3 at 20 C
MOLECULES = {
    "ethanol": {
        "train": "data_recipes/molecules/ethanol/train.xyz",
        "test": "data_recipes/molecules/ethanol/test_MD.xyz",
        "isolated": "data_recipes/molecules/ethanol/isolated_atoms.xyz",
        "quick": (150, 50),  # --quick: training and test frames
    },
    "acetylacetone": {
        "frames": "data_recipes/molecules/acetylacetone/train_300K.xyz",
        "test_frames": 100,  # held out once (seed 0): the shipped files have no test set
        "isolated": "data_recipes/molecules/acetylacetone/isolated_atoms.xyz",
        "quick": (100, 50),
    },
}
CODES = ("ours", "mace-small", "mace-large")
LABELS = {"ours": "sciPT", "mace-small": "MACE small", "mace-large": "MACE large"}
OURS = {"preset": "small", "channels": 64, "batch_size": 8, "checkpoint_every": 500}
# name -> (hidden_irreps, max_ell, correlation); --mace-small overrides the small one
MACE_SIZES = {"mace-small": ("32x0e", 1, 2), "mace-large": ("32x0e+32x1o", 3, 3)}
MACE_COMMON = {
    "model": "MACE",
    "r_max": 5.0,
    "num_interactions": 2,
    "batch_size": 5,
    "valid_batch_size": 10,
    "lr": 0.01,
    "swa_lr": 0.001,
    "ema_decay": 0.99,
    "default_dtype": "float32",
    "valid_fraction": 0.05,
    "E0s": "average",
}
VERDICT_RULE = (
    "sciPT is *ahead* (or *behind*) of a MACE when the difference of the means exceeds twice its "
    "standard error, sqrt(se_a^2 + se_b^2) with each se the standard error over seeds; otherwise *tied*. "
    "The SE is unpaired: every run trains on the same frames and is scored on the same test frames, "
    "and a seed draws only that code's own initialisation and validation split, so seed k of one code "
    "shares nothing with seed k of another that a paired difference could cancel"
)


# data ---------------------------------------------------------------------------------------
def detect_keys(path: Path) -> tuple[str, str]:
    """The energy and forces keys of an extended XYZ file, read from its first comment line: the
    one ``key=number`` whose key names an energy, the one ``R:3`` column whose name says force."""
    with open(path) as handle:
        handle.readline()
        comment = handle.readline()
    pairs = dict(re.findall(r'(\w+)=("[^"]*"|\S+)', comment))
    columns = pairs.get("Properties", "").split(":")
    forces = [
        columns[i]
        for i in range(0, len(columns) - 2, 3)
        if "force" in columns[i].lower() and columns[i + 1 : i + 3] == ["R", "3"]
    ]
    energies = [k for k, v in pairs.items() if "energy" in k.lower() and _is_number(v)]
    if len(forces) != 1 or len(energies) != 1:
        sys.exit(f"{path}: cannot tell the energy key {energies} and forces key {forces} apart")
    return energies[0], forces[0]


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def xyz_frames(path: Path) -> list[str]:
    """The frames of an extended XYZ file as their verbatim text (count line, comment, atoms)."""
    lines, frames, i = path.read_text().splitlines(keepends=True), [], 0
    while i < len(lines) and lines[i].strip():
        n = int(lines[i])
        frames.append("".join(lines[i : i + n + 2]))
        i += n + 2
    return frames


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def prepare_data(molecule: str, work: Path, quick: bool) -> dict:
    """``WORK/data/MOLECULE/{train,test}.xyz``: verbatim frames of the shipped files (the split or
    the --quick subset applied) and ``train_REF.xyz``, MACE's copy of the training frames."""
    spec, out = MOLECULES[molecule], work / "data" / molecule
    out.mkdir(parents=True, exist_ok=True)
    if "frames" in spec:
        source = ROOT / spec["frames"]
        frames = xyz_frames(source)
        order = np.random.default_rng(0).permutation(len(frames))
        test = [frames[i] for i in sorted(order[: spec["test_frames"]])]
        train = [frames[i] for i in sorted(order[spec["test_frames"] :])]
        sources = [spec["frames"]]
        split = f"{len(test)} of the {len(frames)} frames held out for testing (numpy permutation, seed 0)"
    else:
        train, test = xyz_frames(ROOT / spec["train"]), xyz_frames(ROOT / spec["test"])
        sources, split = [spec["train"], spec["test"]], "the shipped training and test files"
    if quick:  # a seeded subset of the training frames, the first test frames
        n_train, n_test = spec["quick"]
        keep = np.sort(np.random.default_rng(0).permutation(len(train))[:n_train])
        train, test = [train[i] for i in keep], test[:n_test]
        split += f"; --quick: {n_train} training frames (seed 0), the first {n_test} test frames"
    (out / "train.xyz").write_text("".join(train))
    (out / "test.xyz").write_text("".join(test))
    keys = detect_keys(out / "train.xyz")
    write_mace_copy(reference(out / "train.xyz", keys), out / "train_REF.xyz")
    atoms = int(train[0].split("\n", 1)[0])
    return {
        "train": str(out / "train.xyz"),
        "train_mace": str(out / "train_REF.xyz"),
        "test": str(out / "test.xyz"),
        "isolated": spec["isolated"],
        "keys": list(keys),
        "record": {
            "sources": {s: _sha256(ROOT / s) for s in sources},
            "split": split,
            "train_frames": len(train),
            "test_frames": len(test),
            "atoms": atoms,
        },
    }


def reference(path, keys):
    """sciPT frames of ``path`` with their labels (the domain's own reader)."""
    from sciPT.domains.molecules.data import MoleculeDataConfig, read_frames

    return read_frames(path, MoleculeDataConfig(energy_key=keys[0], forces_key=keys[1]))


def write_mace_copy(frames, out: Path) -> None:
    """The frames under ``REF_energy``/``REF_forces``: MACE warns that ``energy``/``forces`` are
    unsafe with ASE >= 3.23, where they become calculator results."""
    from ase import Atoms
    from ase.io import write

    images = []
    for f in frames:
        atoms = Atoms(numbers=f.numbers, positions=f.positions, cell=f.cell, pbc=f.pbc)
        atoms.info["REF_energy"] = f.energy
        atoms.arrays["REF_forces"] = f.forces
        images.append(atoms)
    write(out, images, format="extxyz")


def ethanol_box(n_molecules: int = 33, seed: int = 0, rotations: int = 2000):
    """``n_molecules`` copies of the first test ethanol in a cubic periodic cell at the density of
    liquid ethanol: centred on the sites of a 3 x 3 x 4 grid (a random subset), each turned by the
    one of ``rotations`` random rotations that keeps it farthest from the molecules already placed
    (minimum image). Returns the box and its closest intermolecular distance (Angstrom)."""
    from ase import Atoms, units
    from ase.io import read
    from scipy.spatial.transform import Rotation

    molecule = read(ROOT / MOLECULES["ethanol"]["test"], index=0)
    molecule.positions -= molecule.get_center_of_mass()
    mass_g = molecule.get_masses().sum() * n_molecules / units.mol
    side = (mass_g / ETHANOL_DENSITY * 1e24) ** (1 / 3)
    rng = np.random.default_rng(seed)
    grid = np.stack(np.meshgrid(*[(np.arange(k) + 0.5) / k for k in (3, 3, 4)], indexing="ij"), -1)
    sites = grid.reshape(-1, 3)[rng.permutation(36)[:n_molecules]] * side
    placed, closest = np.zeros((0, 3)), np.inf
    for site in sites:
        turns = Rotation.random(rotations, random_state=int(rng.integers(2**31))).as_matrix()
        candidates = np.einsum("rij,aj->rai", turns, molecule.positions) + site
        if len(placed):
            delta = candidates[:, :, None, :] - placed[None, None]
            delta -= side * np.round(delta / side)
            nearest = np.sqrt((delta**2).sum(-1)).min(axis=(1, 2))
        else:
            nearest = np.full(rotations, np.inf)
        best = int(np.argmax(nearest))
        closest = min(closest, float(nearest[best]))
        placed = np.concatenate([placed, candidates[best]])
    numbers = np.tile(molecule.numbers, n_molecules)
    return Atoms(numbers, placed, cell=np.eye(3) * side, pbc=True), closest


# budgeted processes -------------------------------------------------------------------------
def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_budgeted(
    cmd: list[str], env: dict, log: Path, stop_s: float, cwd: Path, done, grace_s: float = 600.0
):
    """Run ``cmd``; stop it once it has used ``stop_s`` CPU seconds, unless ``done()`` (its training
    is over) already holds, when it gets ``grace_s`` more to write its outputs. Returns the CPU and
    wall seconds at ``done`` (``training_done``) and in all, and the 1-minute load averages."""
    started, cpu0 = time.time(), _children_cpu()
    loads, at_done, stopped, cpu, ticks = [os.getloadavg()[0]], None, False, 0.0, 0
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd)
        while proc.poll() is None:
            time.sleep(0.5)
            ticks += 1
            try:
                cpu = _cpu_seconds(proc.pid)
            except (FileNotFoundError, ProcessLookupError):
                break
            if ticks % 120 == 0:
                loads.append(os.getloadavg()[0])
            if at_done is None and done():
                at_done = {"wall_s": round(time.time() - started, 1), "cpu_s": cpu}
            if cpu >= stop_s + (grace_s if at_done else 0.0):
                stopped = True
                proc.terminate()
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
        rc = proc.wait()
    if at_done is None and done():  # ended between two samples
        at_done = {"wall_s": round(time.time() - started, 1), "cpu_s": cpu}
    loads.append(os.getloadavg()[0])
    return {
        "command": shlex.join(cmd),
        "returncode": rc,
        "stopped": stopped,
        "training_done": at_done,
        "wall_s": round(time.time() - started, 1),
        "cpu_s_total": round(_children_cpu() - cpu0, 1),
        "load_average_1min": [round(x, 2) for x in loads],
    }


# glibc serves blocks above its mmap threshold (at most 32 MB) with fresh mmaps that the kernel
# zero-fills page by page on every call; these settings keep them on the heap (``--malloc-heap``)
MALLOC_HEAP = {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": "4000000000"}


def environment(threads: int, malloc_heap: bool = False) -> dict:
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads), PYTHONWARNINGS="ignore")
    if malloc_heap:
        env.update(MALLOC_HEAP)
    return env


# the codes: one training run, sized by units (our steps, MACE's epochs) ---------------------
def code_config(code: str, args) -> dict:
    if code == "ours":
        return {"code": "sciPT", **OURS, "l_max": 1, "schedule": "cosine to 2 % (preset), warm-up 200 steps"}
    hidden, ell, corr = args.mace_sizes[code]
    return {
        "code": "MACE",
        "hidden_irreps": hidden,
        "max_ell": ell,
        "correlation": corr,
        **MACE_COMMON,
        "scheduler": "ExponentialLR to swa_lr at Stage Two; Stage Two (--swa) over the last quarter; EMA",
    }


def ours_command(data: dict, seed: int, steps: int, out: Path) -> list[str]:
    return [
        str(Path(sys.executable).parent / "scipt"),
        "pretrain",
        "molecules",
        "--preset",
        OURS["preset"],
        "--data",
        data["train"],
        "--data.isolated-atoms",
        data["isolated"],
        "--data.energy-key",
        data["keys"][0],
        "--data.forces-key",
        data["keys"][1],
        "--data.val-fraction",
        "0.05",
        "--model.channels",
        str(OURS["channels"]),
        "--batch-size",
        str(OURS["batch_size"]),
        "--max-steps",
        str(steps),
        "--checkpoint-every",
        str(OURS["checkpoint_every"]),
        "--seed",
        str(seed),
        "--out",
        str(out),
    ]


def mace_command(args, code: str, data: dict, seed: int, epochs: int) -> tuple[list[str], dict]:
    """``mace_run_train`` for ``epochs`` epochs with the schedule described in the module's
    docstring; returns the command and the schedule's numbers."""
    hidden, ell, corr = args.mace_sizes[code]
    start = max(1, epochs // 4 * 3)  # MACE's own default for --start_swa
    gamma = (MACE_COMMON["swa_lr"] / MACE_COMMON["lr"]) ** (1 / start)
    options = {
        **MACE_COMMON,
        "hidden_irreps": hidden,
        "max_ell": ell,
        "correlation": corr,
        "scheduler": "ExponentialLR",
        "lr_scheduler_gamma": f"{gamma:.6f}",
        "start_swa": start,
        "max_num_epochs": epochs,
        "device": "cpu",
        "seed": seed,
        "name": "mace",
        "train_file": data["train_mace"],
        "energy_key": "REF_energy",
        "forces_key": "REF_forces",
    }
    cmd = [str(Path(args.mace_venv) / "bin" / "mace_run_train")]
    for key, value in options.items():
        cmd += [f"--{key}", str(value)]
    cmd += ["--swa", "--ema"]
    return cmd, {"epochs": epochs, "start_stage_two": start, "gamma": round(gamma, 6)}


def mace_log(run: Path, seed: int) -> Path:
    return run / "logs" / f"mace_run-{seed}.log"


def train_once(args, code: str, data: dict, seed: int, units: int, run: Path, stop_s: float) -> dict:
    """Train ``code`` for ``units`` steps (ours) or epochs (MACE) in ``run``, stopped at ``stop_s``
    CPU seconds if its training has not ended by then; no scoring."""
    shutil.rmtree(run, ignore_errors=True)
    run.mkdir(parents=True)
    if code == "ours":
        cmd, plan = ours_command(data, seed, units, run / "run"), {"steps": units}
        done = (run / "run" / "model" / "model.safetensors").exists
        cwd = ROOT
    else:
        cmd, plan = mace_command(args, code, data, seed, units)
        log = mace_log(run, seed)

        def done() -> bool:
            return log.exists() and "Training complete" in _tail(log)

        cwd = run
    result = run_budgeted(cmd, environment(args.threads), run / "train.log", stop_s, cwd, done)
    result["planned"] = plan
    if result["training_done"] is None and not result["stopped"]:
        raise SystemExit(f"{code} failed (exit {result['returncode']}); see {run / 'train.log'}")
    return result


def _tail(path: Path, size: int = 4096) -> str:
    with open(path, "rb") as handle:
        handle.seek(max(0, path.stat().st_size - size))
        return handle.read().decode(errors="replace")


def probe(args, code: str, data: dict, work: Path) -> dict:
    """CPU seconds to the end of training of two short runs of ``code`` (seed 0): start-up ``a``
    and cost per step (ours) or epoch (MACE) ``b``, from the line through the two points."""
    sizes = (args.probe_steps if code == "ours" else args.probe_epochs)[:2]
    points = []
    for n in sizes:
        run = work / f"probe_{code}_{n}"
        result = train_once(args, code, data, 0, n, run, math.inf)
        done = result["training_done"]
        points.append({"units": n, "cpu_s": done["cpu_s"], "wall_s": done["wall_s"]})
        print(f"  probe {code} {n}: {points[-1]['cpu_s']:.1f} CPU s", flush=True)
        if code == "ours":
            parameters, train_frames = ours_parameters(run / "run" / "model"), OURS["batch_size"]
        else:
            parameters = mace_parameters(args, mace_model(run))
            train_frames = mace_train_frames(mace_log(run, 0))
        shutil.rmtree(run, ignore_errors=True)
    (n1, c1), (n2, c2) = ((p["units"], p["cpu_s"]) for p in points)
    b = max((c2 - c1) / (n2 - n1), 1e-3)
    return {
        "cpu": unit_cpu(),
        "unit": "step" if code == "ours" else "epoch",
        "points": points,
        "startup_cpu_s": round(c1 - b * n1, 2),
        "cpu_s_per_unit": round(b, 4),
        "frames_per_unit": train_frames,
        "cpu_ms_per_training_frame": round(1e3 * b / train_frames, 3),
        "parameters": parameters,
    }


def cost_line(probe_record: dict, finished: list[dict]) -> tuple[float, float]:
    """Start-up and CPU seconds per unit: the least-squares line through the probe's two points and
    the (units, CPU s to the end of training) of the runs of this code and data finished so far on
    this CPU, so that the long runs are sized from the shorter ones rather than from the probe
    alone. (The probe ran on the CPU of the first invocation; a run on another is sized from it and
    from that CPU's own finished runs.)"""
    points = [(p["units"], p["cpu_s"]) for p in probe_record["points"]]
    points += [(u["planned"]["units"], u["cpu_s_training"]) for u in finished if not u["stopped_before_done"]]
    x, y = np.array(points, dtype=float).T
    b, a = np.polyfit(x, y, 1)
    if b <= 0:  # degenerate (noise): the probe's own line
        return probe_record["startup_cpu_s"], probe_record["cpu_s_per_unit"]
    return float(a), float(b)


# the probes of the first invocation (2026-12-01) ran on this CPU and do not record it
FIRST_PROBE_CPU = {
    "model": "Intel(R) Xeon(R) Processor",
    "vector_extensions": ["avx2", "avx512f", "avx512_bf16", "amx_tile"],
}


def undersized(record: dict, molecule: str, min_fill: float) -> list[dict]:
    """The units of ``molecule`` sized on another CPU's figures (trained on a CPU kind before it had
    a probe of its own: ``sized_on_other_cpu``) that ended below ``min_fill`` of their budget or
    were stopped at the hard stop: they measured another budget than their own."""
    return [
        u
        for u in record["units"]
        if u["molecule"] == molecule
        and u.get("sized_on_other_cpu")
        and (u["stopped_before_done"] or u["cpu_s_training"] < min_fill * u["budget_min"] * 60)
    ]


def units_for(line: tuple[float, float], budget_s: float, fill: float, code: str) -> int:
    a, b = line
    return max(int((budget_s * fill - a) / b), 100 if code == "ours" else 2)


def ours_lr(step: int, max_steps: int) -> float:
    from sciPT.domains.molecules import presets
    from sciPT.schedules import lr_multiplier

    train = presets.PRESETS[OURS["preset"]]().train
    return train.lr * lr_multiplier(step, max_steps, train.schedule)


def ours_parameters(model_dir: Path) -> int:
    from sciPT.domains.molecules.calculator import load_potential

    return int(sum(p.numel() for p in load_potential(model_dir).parameters()))


def mace_parameters(args, model: Path) -> int:
    out = model.with_suffix(".parameters.json")
    cmd = mace_worker(args, "parameters", "--model", str(model), "--out", str(out))
    subprocess.run(cmd, check=True, env=environment(1), capture_output=True)
    return json.loads(out.read_text())["parameters"]


def mace_model(run: Path) -> Path:
    """The model MACE scores: Stage Two's when there is one."""
    model = run / "mace_stagetwo.model"
    return model if model.exists() else run / "mace.model"


def mace_train_frames(log: Path) -> int:
    return int(re.search(r"training dataset size: (\d+)", log.read_text()).group(1))


# one run of the curve: train to its budget, then score --------------------------------------
def run_unit(args, code: str, data: dict, seed: int, budget_min: float, line: tuple, run: Path) -> dict:
    budget_s = budget_min * 60
    units = units_for(line, budget_s, args.fill, code)
    # a run whose training ended but whose scoring did not (a crash, a kill) is scored, not redone
    trained = run / "training.json"
    saved = json.loads(trained.read_text()) if trained.is_file() else None
    if saved is not None and saved["planned"].get("units") == units:
        result = saved
    else:
        result = train_once(args, code, data, seed, units, run, budget_s * args.hard_stop)
        result["planned"].update(
            units=units, sized_from={"startup_cpu_s": round(line[0], 2), "cpu_s_per_unit": round(line[1], 4)}
        )
        trained.write_text(json.dumps(result))
    done = result["training_done"]
    unit = {
        "code": code,
        "seed": seed,
        "budget_min": budget_min,
        "cpu_s_training": round(done["cpu_s"] if done else result["cpu_s_total"], 1),
        "wall_s_training": done["wall_s"] if done else result["wall_s"],
        "stopped_before_done": done is None,
        **{k: result[k] for k in ("cpu_s_total", "wall_s", "load_average_1min", "command", "planned")},
    }
    if code == "ours":
        model_dir = run / "run" / "model"
        if not (model_dir / "model.safetensors").exists():
            model_dir = export_from_checkpoint(run / "run")
        metrics = run / "run" / "metrics.json"
        if metrics.exists():
            found = json.loads(metrics.read_text())
            steps, frames = found["steps"], found["frames_train"]
        else:  # stopped before the end: the last step logged (every 50), 95 % of the frames
            with open(run / "run" / "logs" / "metrics.csv") as handle:
                steps = 1 + max(int(r["step"]) for r in csv.DictReader(handle) if r.get("step"))
            frames = round(0.95 * data["record"]["train_frames"])
        unit.update(
            steps=steps,
            epochs=round(steps * OURS["batch_size"] / frames, 1),
            final_lr=ours_lr(steps - 1, units),
            final_lr_source="from the schedule (the preset's cosine to --max-steps), at the last step",
            parameters=ours_parameters(model_dir),
        )
        predicted = predict_ours(model_dir, data)
    else:
        log = mace_log(run, seed)
        if done is None:  # stopped at --hard-stop: MACE turns its best checkpoint into a .model
            export_mace(args, run, result["command"])
        text = log.read_text()
        epochs = len(re.findall(r"INFO: Epoch \d+:", text))
        frames = mace_train_frames(log)
        plan = result["planned"]
        stage_two = epochs > plan["start_stage_two"]
        unit.update(
            epochs=epochs,
            steps=epochs * -(-frames // MACE_COMMON["batch_size"]),
            stage_two_reached=stage_two,
            final_lr=MACE_COMMON["swa_lr"]
            if stage_two
            else MACE_COMMON["lr"] * plan["gamma"] ** max(0, min(epochs, plan["start_stage_two"]) - 1),
            final_lr_source="from the schedule (ExponentialLR, then Stage Two's rate)",
            scored_epoch=_scored_epoch(text),
        )
        model = mace_model(run)
        unit["model"] = str(model)
        energy, forces, unit["parameters"] = predict_mace(
            args, str(model), data, run / "test_predictions.npz"
        )
        predicted = (energy, forces)
    if code == "ours":
        unit["model"] = str(model_dir)
    unit["test"] = errors(reference(data["test"], data["keys"]), *predicted)
    if not args.keep_checkpoints:  # the scored model stays; its training checkpoints go
        shutil.rmtree(
            run / "run" / "checkpoints" if code == "ours" else run / "checkpoints", ignore_errors=True
        )
    return unit


def _scored_epoch(log_text: str) -> int | None:
    found = re.findall(r"Loaded Stage (?:one|two) model from epoch (\d+)", log_text)
    return int(found[-1]) if found else None


def export_mace(args, run: Path, command: str) -> None:
    """A run stopped before the end of training: MACE itself writes the ``.model`` of its latest
    best checkpoint (``--restart_latest`` with ``--max_num_epochs`` at that epoch: nothing is
    trained)."""
    checkpoints = sorted(
        run.glob("checkpoints/mace_run-*_epoch-*.pt"), key=lambda p: int(re.search(r"epoch-(\d+)", p.name)[1])
    )
    if not checkpoints:
        raise SystemExit(f"MACE saved no checkpoint within the budget (see {run / 'train.log'})")
    epoch = int(re.search(r"epoch-(\d+)", checkpoints[-1].name)[1])
    cmd = shlex.split(command)
    cmd[cmd.index("--max_num_epochs") + 1] = str(epoch)
    with open(run / "export.log", "w") as out:
        subprocess.run(
            [*cmd, "--restart_latest"],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=run,
            env=environment(args.threads),
            check=True,
        )


def export_from_checkpoint(run: Path) -> Path:
    """``RUN/model_from_ckpt``: the potential of ``RUN/checkpoints/last.ckpt`` (a run stopped
    before its end has no export), through ``scipt export``."""
    from sciPT.cli import main as scipt

    out = run / "model_from_ckpt"
    if scipt(["export", str(run), "--out", str(out)]) != 0:
        raise SystemExit(f"scipt export {run} failed")
    return out


def predict_ours(model_dir: Path, data: dict) -> tuple[np.ndarray, np.ndarray]:
    import torch

    from sciPT.domains.molecules.calculator import load_potential
    from sciPT.domains.molecules.dataset import batches
    from sciPT.domains.molecules.graphs import frame_to_graph

    torch.set_num_threads(1)
    model = load_potential(model_dir, dtype="float64")
    frames = reference(data["test"], data["keys"])
    graphs = [frame_to_graph(f, model.cfg.cutoff) for f in frames]
    energies, forces = [], []
    for batch in batches(graphs, 50):
        out = model(batch, forces=True, create_graph=False)
        energies.append(out["energy"].detach().numpy())
        forces.append(out["forces"].detach().double().numpy())
    return np.concatenate(energies), np.concatenate(forces)


def predict_mace(args, model: str, data: dict, out: Path):
    cmd = mace_worker(args, "evaluate", "--model", model, "--data", data["test"], "--dtype", "float64")
    subprocess.run([*cmd, "--out", str(out)], check=True, env=environment(1), capture_output=True)
    found = np.load(out)
    return found["energy"], found["forces"], int(found["parameters"])


def mace_worker(args, *extra: str) -> list[str]:
    return [str(Path(args.mace_venv) / "bin" / "python"), str(MACE_WORKER), *extra]


def errors(frames, energy: np.ndarray, forces: np.ndarray) -> dict:
    ref_e = np.array([f.energy for f in frames])
    ref_f = np.concatenate([f.forces for f in frames])
    natoms = np.array([len(f.numbers) for f in frames])
    de, df = (energy - ref_e) * 1e3, (forces - ref_f) * 1e3
    return {
        "forces_rmse_meV_per_A": float(np.sqrt(np.mean(df**2))),
        "forces_mae_meV_per_A": float(np.mean(np.abs(df))),
        "energy_mae_meV": float(np.mean(np.abs(de))),
        "energy_mae_meV_per_atom": float(np.mean(np.abs(de / natoms))),
        "energy_rmse_meV": float(np.sqrt(np.mean(de**2))),
        # a constant offset is harmless for forces and dynamics; this shows how much of the
        # energy error it is
        "energy_mean_error_meV": float(np.mean(de)),
        "energy_mae_meV_offset_removed": float(np.mean(np.abs(de - de.mean()))),
    }


# speed and profile --------------------------------------------------------------------------
def speed_ours(model: str, structure: str, dtype: str, warmup: int, calls: int, seed: int) -> dict:
    import torch
    from ase.io import read

    sys.path.insert(0, str(HERE / "mace"))
    from mace_worker import time_calls  # the same protocol for both codes

    from sciPT.domains.molecules.calculator import SciPTCalculator

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    calc = SciPTCalculator(model, dtype=dtype)
    atoms = read(structure)
    result = time_calls(atoms, calc, warmup, calls, seed)
    result.update(
        parameters=int(sum(p.numel() for p in calc.model.parameters())), atoms=len(atoms), dtype=dtype
    )
    return result


def speed(args, models: dict[str, str], work: Path) -> list[dict]:
    """Rows (structure x dtype) of median wall and CPU ms per call of each code's model."""
    from ase.io import read, write

    structures = work / "structures"
    structures.mkdir(exist_ok=True)
    box, closest = ethanol_box()
    print(
        f"ethanol box: side {box.cell[0, 0]:.2f} A, closest intermolecular pair {closest:.2f} A", flush=True
    )
    write(structures / "ethanol.xyz", read(ROOT / MOLECULES["ethanol"]["test"], index=0), format="extxyz")
    write(structures / "ethanol_box_297_periodic.xyz", box, format="extxyz")
    rows = []
    for name in ("ethanol", "ethanol_box_297_periodic"):
        structure = str(structures / f"{name}.xyz")
        for dtype in args.dtypes:
            runs: dict[str, list] = {code: [] for code in models}
            for r in range(args.rounds):
                common = ["--structure", structure, "--dtype", dtype, "--warmup", str(args.warmup)]
                common += ["--calls", str(args.calls), "--seed", str(r)]
                for code, model in models.items():
                    out = work / f"speed_{code}.json"
                    if code == "ours":
                        cmd = [sys.executable, __file__, "_speed-ours", "--model", model, *common]
                    else:
                        cmd = mace_worker(args, "speed", "--model", model, *common)
                    env = environment(args.threads, args.malloc_heap)
                    subprocess.run(
                        [*cmd, "--out", str(out)], check=True, env=env, cwd=ROOT, capture_output=True
                    )
                    runs[code].append(json.loads(out.read_text()))
            row = {
                "structure": name,
                "dtype": dtype,
                "atoms": next(iter(runs.values()))[0]["atoms"],
                "threads": args.threads,
                "malloc_heap": args.malloc_heap,
                "rounds": args.rounds,
                "calls": args.calls,
                "load_average_1min": round(os.getloadavg()[0], 2),
            }
            for code, parts in runs.items():
                row[code] = {
                    "wall_ms": float(np.median(sum((p["wall_ms"] for p in parts), []))),
                    "cpu_ms": float(np.median(sum((p["cpu_ms"] for p in parts), []))),
                    "parameters": parts[0]["parameters"],
                }
            print(json.dumps(row), flush=True)
            rows.append(row)
    return rows


def profile_ours(args, model_dir: str, work: Path) -> dict:
    """torch.profiler over 20 calls of our calculator on the periodic box; graph building and the
    periodic neighbour list against ASE's ``primitive_neighbor_list``, timed on their own."""
    import torch
    from ase.io import read
    from ase.neighborlist import primitive_neighbor_list
    from torch.profiler import ProfilerActivity, profile

    from sciPT.domains.molecules.calculator import SciPTCalculator
    from sciPT.domains.molecules.graphs import atoms_to_graph, periodic_pairs

    torch.set_num_threads(args.threads)
    load_before = round(os.getloadavg()[0], 2)
    atoms = read(work / "structures" / "ethanol_box_297_periodic.xyz")
    calc = SciPTCalculator(model_dir, dtype="float32")
    noise = np.random.default_rng(0).normal(scale=0.01, size=(30, len(atoms), 3))
    base = atoms.positions.copy()

    def call(k):
        atoms.positions = base + noise[k]
        calc.calculate(atoms, ["energy", "forces"])

    for k in range(5):
        call(k)
    c0 = time.process_time()
    for k in range(5, 25):
        atoms.positions = base + noise[k]
        graph = atoms_to_graph(atoms, calc.cutoff)
    graph_ms = (time.process_time() - c0) / 20 * 1e3
    pair_ms = {}
    for name, pairs in (
        (
            "ase_primitive_neighbor_list",
            lambda p: primitive_neighbor_list(
                "ijS", atoms.pbc, atoms.cell.array, p, calc.cutoff, self_interaction=False
            ),
        ),
        ("sciPT_periodic_pairs", lambda p: periodic_pairs(p, atoms.cell.array, atoms.pbc, calc.cutoff)),
    ):
        c0 = time.process_time()
        counts = {len(pairs(base + noise[k])[0]) for k in range(5, 25)}
        pair_ms[name] = round((time.process_time() - c0) / 20 * 1e3, 2)
        pair_ms[f"{name}_pairs"] = sorted(counts)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for k in range(5, 25):
            call(k)
    chunks = chunk_sweep(call)
    table = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=30)
    (work / "profile_ours.txt").write_text(table)
    total = sum(e.self_cpu_time_total for e in prof.key_averages()) / 20 / 1e3
    top = [
        {
            "op": e.key,
            "self_ms_per_call": round(e.self_cpu_time_total / 20 / 1e3, 2),
            "calls_per_call": e.count // 20,
        }
        for e in sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)[:12]
    ]
    return {
        "model": model_dir,
        "cpu": unit_cpu(),
        "load_before": load_before,
        "load_after": round(os.getloadavg()[0], 2),
        "atoms": len(atoms),
        "edges": int(graph.edge_index.shape[1]),
        "graph_build_cpu_ms": round(graph_ms, 2),
        "neighbour_list_cpu_ms": pair_ms,
        "profiled_ms_per_call": round(total, 2),
        "top_ops": top,
        "chunk_sweep": chunks,
    }


CHUNK_SIZES = (2**16, 2**17, 2**18, 2**19, 2**20, 2**21, 2**22, None)  # None: the whole graph at once


def chunk_sweep(call, rounds: int = 3, calls: int = 10) -> dict:
    """CPU ms per calculator call for each size of the message step's chunks of edges
    (``Interaction.chunk_elements``), the sizes interleaved round by round so that a change of load
    falls on all of them; median over rounds x calls."""
    from sciPT.domains.molecules.interaction import Interaction

    default = Interaction.chunk_elements
    times: dict = {size: [] for size in CHUNK_SIZES}
    try:
        for _ in range(rounds):
            for size in CHUNK_SIZES:
                Interaction.chunk_elements = size or 2**62
                call(0)  # warm-up at this size
                for k in range(calls):
                    c0 = time.process_time()
                    call(k)
                    times[size].append((time.process_time() - c0) * 1e3)
    finally:
        Interaction.chunk_elements = default
    rows = [
        {
            "chunk_elements": size,
            "default": size == default,
            "cpu_ms_median": round(float(np.median(t)), 2),
            "cpu_ms_quartiles": [round(float(q), 2) for q in np.percentile(t, [25, 75])],
        }
        for size, t in times.items()
    ]
    return {"rounds": rounds, "calls": calls, "rows": rows}


# statistics, figure, tables -----------------------------------------------------------------
def verdict(ours: list[float], theirs: list[float]) -> str:
    """sciPT against another code on an error (lower is better), by the 2-SE rule."""
    (m1, s1), (m2, s2) = mean_se(ours), mean_se(theirs)
    if math.isnan(m1) or math.isnan(m2):
        return "—"
    diff, se = m1 - m2, math.hypot(s1, s2)
    if math.isnan(se):
        return f"{diff:+.1f} (1 seed: no verdict)"
    word = verdict_of(diff, se, above="behind", below="**ahead**")
    return f"{word} ({diff:+.1f} ± {se:.1f})"


def _forces(runs: list[dict]) -> list[float]:
    """The test force RMSE (meV/Å) of each run."""
    return [u["test"]["forces_rmse_meV_per_A"] for u in runs]


def _fmt(values: list[float], digits: int = 1) -> str:
    m, s = mean_se(values)
    if math.isnan(m):
        return "—"
    return f"{m:.{digits}f}" if math.isnan(s) else f"{m:.{digits}f} ± {s:.{digits}f}"


# Training of a speed stand-in: the cost of a call is the architecture's (the same operations on
# the same shapes whatever the weights), so a model of the same configuration trained briefly
# times as the budget's own would.
STAND_IN = {"ours": "100 steps", "mace-small": "2 epochs", "mace-large": "2 epochs"}


def stand_in(args, code: str, data: dict, work: Path) -> str:
    """A model of ``code``'s configuration, briefly trained on ``data``: for timing a code whose
    trained models are gone (work folders do not outlive a machine)."""
    run = work / "speed_stand_ins" / code
    train_once(args, code, data, 0, int(STAND_IN[code].split()[0]), run, math.inf)
    return str(run / "run" / "model" if code == "ours" else mace_model(run))


def unit_cpu() -> dict:
    """The CPU a unit trained on: a CPU-time budget buys other work on another processor (and
    PyTorch picks other kernels by its vector extensions), so every unit carries its own."""
    from provenance import cpu_info

    cpu = cpu_info()
    return {"model": cpu["model"], "vector_extensions": cpu["vector_extensions"]}


def cpu_name(cpu: dict) -> str:
    return f"{cpu['model']} ({', '.join(cpu['vector_extensions']) or 'no AVX'})"


def render_cpus(record: dict, molecule: str) -> list[str]:
    """Which CPU each unit of ``molecule`` trained on, and the (seed, budget) groups whose codes did
    not all train on one: their comparison at that budget mixes processors."""
    units = [u for u in record["units"] if u["molecule"] == molecule]
    redone = [u for u in record.get("undersized_units", []) if u["molecule"] == molecule]
    note = []
    if redone:
        note = [
            "Run again, sized on another CPU's figures, ended far short of their budgets or at the hard "
            "stop (kept in `undersized_units`, not tabled): "
            + "; ".join(
                f"{LABELS.get(u['code'], u['code'])} seed {u['seed']} at {u['budget_min']:g} min "
                f"({u['cpu_s_training']:.0f} CPU s)"
                for u in redone
            )
            + ".",
            "",
        ]
    counts = collections.Counter(cpu_name(u["cpu"]) for u in units if "cpu" in u)
    if len(counts) <= 1:
        return ([f"All {len(units)} runs on {next(iter(counts))}.", ""] if counts else []) + note
    groups: dict = {}
    for u in units:
        groups.setdefault((u["seed"], u["budget_min"]), {})[u["code"]] = cpu_name(u["cpu"])
    mixed = [
        f"seed {seed} at {budget:g} min ("
        + ", ".join(f"{LABELS.get(c, c)} on {n.split(' (')[0]}" for c, n in sorted(codes.items()))
        + ")"
        for (seed, budget), codes in sorted(groups.items())
        if len(set(codes.values())) > 1
    ]
    return [
        "Runs by CPU: "
        + "; ".join(f"{n}: {k}" for n, k in sorted(counts.items()))
        + ". "
        + (
            "Codes compared at one seed and budget trained on one CPU."
            if not mixed
            else "**Codes that trained on different CPUs at one seed and budget:** " + "; ".join(mixed) + "."
        ),
        "",
        *note,
    ]


def _cells(record: dict) -> dict:
    """(molecule, code, budget) -> the runs of that cell, over seeds."""
    cells: dict = {}
    for u in record["units"]:
        cells.setdefault((u["molecule"], u["code"], u["budget_min"]), []).append(u)
    return cells


def figure_path(record: dict) -> Path:
    return HERE / f"{record['protocol']['results_name']}.png"


def figure(record: dict, path: Path | None = None) -> Path:
    """Write :func:`figure_png` to ``path`` (default :func:`figure_path`); returns the path."""
    path = path or figure_path(record)
    path.write_bytes(figure_png(record))
    return path


def figure_png(record: dict) -> bytes:
    """Force RMSE and energy MAE against CPU minutes, one column per molecule, mean ± standard
    error over seeds, as PNG bytes; drawn from the results alone, so ``report.py`` regenerates
    (or, with ``--check``, compares) it from the JSON."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator

    cells, plan = _cells(record), record["plan"]
    molecules = [m for m in plan["molecules"] if any(k[0] == m for k in cells)] or plan["molecules"][:1]
    metrics = (("forces_rmse_meV_per_A", "force RMSE (meV/Å)"), ("energy_mae_meV", "energy MAE (meV)"))
    fig, axes = plt.subplots(2, len(molecules), figsize=(4.6 * len(molecules), 7), squeeze=False)
    styles = {"ours": ("C0", "o"), "mace-small": ("C1", "s"), "mace-large": ("C3", "^")}
    for j, molecule in enumerate(molecules):
        for i, (metric, label) in enumerate(metrics):
            ax = axes[i][j]
            for code in plan["codes"]:
                budgets = sorted(b for (m, c, b) in cells if m == molecule and c == code)
                if not budgets:
                    continue
                stats = [mean_se([u["test"][metric] for u in cells[(molecule, code, b)]]) for b in budgets]
                means = [s[0] for s in stats]
                ses = [0.0 if math.isnan(s[1]) else s[1] for s in stats]
                seeds = max(len(cells[(molecule, code, b)]) for b in budgets)
                color, marker = styles.get(code, ("k", "x"))
                ax.errorbar(
                    budgets,
                    means,
                    yerr=ses,
                    color=color,
                    marker=marker,
                    capsize=3,
                    label=f"{LABELS.get(code, code)} ({seeds} seed{'s' * (seeds != 1)})",
                )
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ticks = sorted({b for (m, _, b) in cells if m == molecule})
            ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
            ax.xaxis.set_minor_locator(NullLocator())
            ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            ax.yaxis.set_minor_locator(NullLocator())
            ax.set_xlabel("training budget (CPU minutes, 1 thread)")
            ax.set_ylabel(label)
            ax.grid(alpha=0.3)
            if i == 0:
                ax.set_title(molecule)
            if (i, j) == (0, 0):
                ax.legend(fontsize=8)
    quick = "\nsmoke run (--quick), not a measurement" if record["protocol"].get("quick") else ""
    fig.suptitle(f"Test error against training CPU time\n(mean ± s.e. over seeds){quick}", fontsize=10)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, metadata={"Software": None})
    plt.close(fig)
    return buffer.getvalue()


def render(results: dict, name: str = "forcefield_vs_mace") -> str:
    """Markdown of a ``forcefield_vs_mace`` record: the curve tables, the figure, the speed table.
    ``results`` is the record or ``report.py``'s map of results-file stems to records."""
    record = results if "units" in results else results.get(name)
    if record is None:
        return "No results yet: run `benchmarks/forcefield_vs_mace.py all`.\n"
    try:  # report.py's provenance line (it is beside this file)
        sys.path.insert(0, str(HERE))
        from report import provenance_line

        measured = f"Measured by {provenance_line(record)}"
    except (ImportError, KeyError):
        measured = f"Measured by `{record['provenance']['command']}`."
    proto, plan, cells = record["protocol"], record["plan"], _cells(record)
    resumed = len(record.get("provenance_resumed", []))
    expected = len(plan["molecules"]) * len(plan["codes"]) * len(plan["seeds"]) * len(plan["budgets_min"])
    out = [
        measured
        + (f" Run in {resumed + 1} invocations (--resume)." if resumed else "")
        + (
            " **Smoke run (`--quick`): tiny budgets and subsets, not a measurement.**"
            if proto.get("quick")
            else ""
        ),
        "",
        f"Budgets {', '.join(f'{b:g}' for b in plan['budgets_min'])} CPU minutes (one thread), seeds "
        f"{', '.join(map(str, plan['seeds']))}; one training run per code, seed and budget, its schedule "
        f"sized from a timed probe to end at {proto['fill']:.0%} of the budget (stopped at "
        f"{proto['hard_stop']:.0%} if not done). "
        + (
            "All planned runs are done."
            if len(record["units"]) >= expected
            else f"**Incomplete: {len(record['units'])} of {expected} runs done.**"
        ),
        "",
        "| code | model | batch | schedule |",
        "|---|---|---|---|",
    ]
    for code in plan["codes"]:
        c = proto["codes"][code]
        if code == "ours":
            model = f"l_max {c['l_max']}, {c['channels']} channels, preset `{c['preset']}`"
        else:
            model = f"`{c['hidden_irreps']}`, max_ell {c['max_ell']}, correlation {c['correlation']}, {c['num_interactions']} interactions"
        out.append(
            f"| {LABELS.get(code, code)} | {model} | {c['batch_size']} | {c.get('schedule') or c.get('scheduler')} |"
        )
    out += ["", f"Verdicts: {VERDICT_RULE}.", ""]
    for molecule in plan["molecules"]:
        if not any(k[0] == molecule for k in cells):
            continue
        d = record["data"][molecule]
        probes = record["probes"].get(molecule, {})
        out += [
            f"**{molecule}** ({d['atoms']} atoms; {d['train_frames']:,} training frames, {d['test_frames']:,} "
            f"test frames: {d['split']}). Test errors, mean ± standard error over seeds (n = seeds); "
            "verdict columns: sciPT against that row's code at the same budget.",
            "",
            "| budget (CPU min) | code | n | parameters | CPU s to end of training | epochs (steps) | final lr "
            "| force RMSE (meV/Å) | force MAE (meV/Å) | energy MAE (meV) | sciPT vs it: force RMSE | sciPT vs it: energy MAE |",
            "|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|---|---|",
        ]
        for budget in plan["budgets_min"]:
            mine = cells.get((molecule, "ours", budget), [])
            for code in plan["codes"]:
                runs = cells.get((molecule, code, budget), [])
                if not runs:
                    continue
                over = sum(1 for u in runs if u["cpu_s_training"] > budget * 60 or u["stopped_before_done"])
                flag = f" ({over} over budget)" if over else ""
                epochs = _fmt([u["epochs"] for u in runs if u.get("epochs") is not None], 0)
                steps = _fmt([u["steps"] for u in runs if u.get("steps") is not None], 0)
                lr = np.mean([u["final_lr"] for u in runs if u.get("final_lr") is not None] or [math.nan])
                f = [u["test"]["forces_rmse_meV_per_A"] for u in runs]
                e = [u["test"]["energy_mae_meV"] for u in runs]
                vs = (
                    ["—", "—"]
                    if code == "ours"
                    else [
                        verdict([u["test"][k] for u in mine], [u["test"][k] for u in runs])
                        for k in ("forces_rmse_meV_per_A", "energy_mae_meV")
                    ]
                )
                out.append(
                    f"| {budget:g} | {LABELS.get(code, code)} | {len(runs)} | {runs[0]['parameters']:,} "
                    f"| {_fmt([u['cpu_s_training'] for u in runs], 0)}{flag} | {epochs} ({steps}) | {lr:.1e} "
                    f"| {_fmt(f)} | {_fmt([u['test']['forces_mae_meV_per_A'] for u in runs])} | {_fmt(e)} "
                    f"| {vs[0]} | {vs[1]} |"
                )
        cost = ", ".join(
            f"{LABELS.get(c, c)} {p['cpu_ms_per_training_frame']:.1f} ms (start-up {p['startup_cpu_s']:.0f} s)"
            for c, p in probes.items()
        )
        out += ["", f"Training cost from the probes, CPU per training frame: {cost}.", ""]
        out += render_cpus(record, molecule)
    out += [f"![test error against training CPU time]({figure_path(record).name})", ""]
    out += render_speed(record)
    units = record["units"] + record.get("undersized_units", [])
    probes = [record["probes"], *record.get("probes_per_cpu", {}).values()]
    total = sum(u["cpu_s_total"] for u in units) + sum(
        p["cpu_s"] for by in probes for m in by.values() for pr in m.values() for p in pr["points"]
    )
    out += [
        f"CPU time of all training processes (runs, runs made again, probes): {total / 3600:.2f} hours.",
        "",
    ]
    return "\n".join(out)


def render_speed(record: dict) -> list[str]:
    """The speed table of this machine's CPU kind, then those measured earlier on other CPUs (a
    call's cost depends on the kernels the CPU's vector extensions select)."""
    out: list[str] = []
    for found in [record.get("speed"), *record.get("speed_other_cpus", [])]:
        if found:
            out += render_speed_table(record, found)
    return out


def render_speed_table(record: dict, found: dict) -> list[str]:
    plan, codes = record["plan"], list(found["models"])
    budget = found["budget_min"]
    cells = _cells(record)
    ref = {c: cells.get(("ethanol", c, budget), []) for c in codes}
    # the training cost of the table's own CPU kind: the first probes' only if they ran on it
    probes = record["probes"].get("ethanol", {})
    if found.get("cpu", FIRST_PROBE_CPU) != FIRST_PROBE_CPU:
        probes = record.get("probes_per_cpu", {}).get(cpu_name(found["cpu"]), {}).get("ethanol", {})
    origins = found.get("origins") or {
        code: f"seed {m.group(1)}" if (m := re.search(r"seed(\d+)_", path)) else "?"
        for code, path in found["models"].items()
    }
    timed = "; ".join(f"{LABELS.get(c, c)}: {o}" for c, o in origins.items())
    where = f" on {cpu_name(found['cpu'])}" if "cpu" in found else ""
    out = [
        f"**Speed beside accuracy** (ASE calculator, energy + forces, one thread{where}; the models of "
        f"the {budget:g}-minute ethanol runs ({timed}; a stand-in is a model of the same configuration "
        "trained briefly: a call costs the same whatever the weights); "
        f"median of {found['rows'][0]['rounds']} rounds x "
        f"{found['rows'][0]['calls']} calls in alternating fresh processes; CPU ms per call, wall in brackets; "
        f"accuracy: mean over {len(plan['seeds'])} seed(s) at that budget).",
        "",
        "| code | parameters | training CPU per frame (ms) | force RMSE (meV/Å) | energy MAE (meV) | "
        + " | ".join(
            f"{r['structure'].replace('_', ' ')} ({r['atoms']} atoms, {r['dtype']}) ms/call"
            for r in found["rows"]
        )
        + " | "
        + " | ".join(f"{r['atoms']} atoms {r['dtype']}: CPU vs sciPT" for r in found["rows"])
        + " |",
        "|---|--:|--:|--:|--:|" + "--:|" * (2 * len(found["rows"])),
    ]
    for code in codes:
        runs = ref[code]
        calls = " | ".join(f"{r[code]['cpu_ms']:.1f} ({r[code]['wall_ms']:.1f})" for r in found["rows"])
        ratios = " | ".join(
            f"{r[code]['cpu_ms'] / r['ours']['cpu_ms']:.2f}x" if "ours" in r else "—" for r in found["rows"]
        )
        per_frame = probes.get(code, {}).get("cpu_ms_per_training_frame")
        out.append(
            f"| {LABELS.get(code, code)} | {found['rows'][0][code]['parameters']:,} | "
            f"{'—' if per_frame is None else f'{per_frame:.1f}'} "
            f"| {_fmt([u['test']['forces_rmse_meV_per_A'] for u in runs])} "
            f"| {_fmt([u['test']['energy_mae_meV'] for u in runs])} | {calls} | {ratios} |"
        )
    if "mace-small" in codes and "mace-large" in codes and "ours" in codes:
        out.append("")
        for r in found["rows"]:
            small, large, ours = (r[c]["cpu_ms"] for c in ("mace-small", "mace-large", "ours"))
            out.append(
                f"- {r['structure'].replace('_', ' ')} ({r['atoms']} atoms, {r['dtype']}): per call, MACE large "
                f"takes {large / ours:.1f}x our CPU time and MACE small {small / ours:.1f}x. The factor "
                f"between MACE large and MACE small, {large / small:.1f}x, is the size of the model (max_ell, "
                "correlation, max_L), not the code: it is the same code."
            )
    if "ours" in codes:
        ours_f = _forces(ref["ours"])
        for code in [c for c in codes if c != "ours"]:
            theirs = _forces(ref[code])
            word = verdict(ours_f, theirs).split(" (")[0].strip("*")
            accuracy = {
                "tied": "the same force accuracy within the noise (2-SE rule)",
                "ahead": "a lower force error for sciPT",
                "behind": "a lower force error for MACE",
            }.get(word, "no verdict (one seed)")
            ratios = ", ".join(
                f"{r[code]['cpu_ms'] / r['ours']['cpu_ms']:.1f}x on {r['atoms']} atoms ({r['dtype']})"
                for r in found["rows"]
            )
            out.append(
                f"- sciPT against {LABELS.get(code, code)} at {budget:g} CPU minutes: {accuracy}; "
                f"MACE's call takes {ratios} our CPU time. {matched_budget(cells, code, budget)}"
            )
    out.append("")
    return out


def matched_budget(cells: dict, code: str, budget: float, molecule: str = "ethanol") -> str:
    """At matched accuracy: the training budget at which sciPT's curve of mean ethanol force error
    reaches ``code``'s error at ``budget`` (log-log interpolation between the two budgets that
    bracket it). A call's cost does not depend on how long the model trained, so at that accuracy
    the call ratios hold as they are."""
    target = mean_se(_forces(cells.get((molecule, code, budget), [])))[0]
    curve = sorted(
        (b, mean_se(_forces(runs))[0]) for (m, c, b), runs in cells.items() if (m, c) == (molecule, "ours")
    )
    name = f"{LABELS.get(code, code)}'s {budget:g}-minute error ({target:.1f} meV/Å)"
    if math.isnan(target) or not curve:
        return ""
    if curve[0][1] <= target:
        return f"Matched accuracy: sciPT's curve is at {name} or below from its smallest budget, {curve[0][0]:g} minutes."
    for (b1, e1), (b2, e2) in zip(curve, curve[1:]):
        if e2 <= target < e1:
            t = math.log(e1 / target) / math.log(e1 / e2)
            at = math.exp(math.log(b1) + t * math.log(b2 / b1))
            return (
                f"Matched accuracy: sciPT's curve reaches {name} at about {at:.1f} CPU minutes of training "
                f"(log-log interpolation between its {b1:g}- and {b2:g}-minute means)."
            )
    return f"Matched accuracy: sciPT's curve does not reach {name} within its budgets."


def render_summary(results: dict, name: str = "forcefield_vs_mace") -> str:
    """The short form for ``RESULTS.md``: force RMSE per molecule, budget and code with sciPT's
    verdicts, and the speed ratios of this CPU kind's table; the full tables are :func:`render`'s."""
    record = results if "units" in results else results.get(name)
    if record is None:
        return "No results yet: run `benchmarks/forcefield_vs_mace.py all`.\n"
    plan, cells = record["plan"], _cells(record)
    expected = len(plan["molecules"]) * len(plan["codes"]) * len(plan["seeds"]) * len(plan["budgets_min"])
    # the verdict columns, sciPT against each other code: none in a run without sciPT or without others
    others = [c for c in plan["codes"] if c != "ours"] if "ours" in plan["codes"] else []
    out = [
        f"`benchmarks/forcefield_vs_mace.py` ({1 + len(record.get('provenance_resumed', []))} invocations; "
        f"{len(record['units'])} of {expected} runs; seeds "
        f"{', '.join(map(str, plan['seeds']))}; every table, the CPU of each run and the figure: "
        "`RESULTS_forcefield.md`). Test force RMSE (meV/Å), mean ± standard error over seeds (n); "
        "verdicts: sciPT against each MACE at the same budget, 2-SE rule on the unpaired SE "
        "(sqrt(se_a^2 + se_b^2): the codes' seeds share no draw to pair).",
        "",
        "| molecule | budget (CPU min) | "
        + " | ".join(LABELS.get(c, c) for c in plan["codes"])
        + "".join(f" | sciPT vs {LABELS.get(c, c)}" for c in others)
        + " |",
        "|---|--:|" + "--:|" * len(plan["codes"]) + "---|" * len(others),
    ]
    for molecule in plan["molecules"]:
        for budget in plan["budgets_min"]:
            runs = {c: cells.get((molecule, c, budget), []) for c in plan["codes"]}
            if not any(runs.values()):
                continue
            values = " | ".join(f"{_fmt(_forces(r))} (n = {len(r)})" if r else "—" for r in runs.values())
            verdicts = "".join(
                " | "
                + (verdict(_forces(runs["ours"]), _forces(runs[c])) if runs["ours"] and runs[c] else "—")
                for c in others
            )
            out.append(f"| {molecule} | {budget:g} | {values}{verdicts} |")
    found = record.get("speed")
    if found and "ours" in found["models"]:
        ratios = "; ".join(
            f"{LABELS.get(c, c)} "
            + ", ".join(
                f"{r[c]['cpu_ms'] / r['ours']['cpu_ms']:.2f}x on {r['atoms']} atoms" for r in found["rows"]
            )
            for c in found["models"]
            if c != "ours"
        )
        ours = ", ".join(f"{r['ours']['cpu_ms']:.1f} ms on {r['atoms']} atoms" for r in found["rows"])
        out += [
            "",
            f"Per ASE call (energy + forces, {found['rows'][0]['dtype']}, one thread on "
            f"{cpu_name(found['cpu'])}): sciPT {ours}; CPU time of a MACE call against ours: {ratios}. "
            "MACE large against MACE small is the size of the model, not the code.",
        ]
    return "\n".join(out) + "\n"


def render_profile(results: dict, name: str = "forcefield_vs_mace") -> str:
    """Where our calculator's time goes on the 297-atom periodic box (the ``profile`` stage)."""
    record = results if "units" in results else results.get(name)
    found = (record or {}).get("profile")
    if not found:
        return "No profile yet: run `benchmarks/forcefield_vs_mace.py profile`.\n"
    lists = found["neighbour_list_cpu_ms"]
    out = [
        f"`forcefield_vs_mace.py profile` on {cpu_name(found['cpu'])}, one thread, float32, load "
        f"{found['load_before']:.1f} before and {found['load_after']:.1f} after; sciPT's model of the speed "
        f"table ({record['speed']['origins'].get('ours', '?')}); "
        f"{found['atoms']} atoms, {found['edges']:,} directed edges within the cut-off; 20 calls, each on a "
        "freshly displaced copy.",
        "",
        f"- Graph building (`atoms_to_graph`, periodic neighbour list included): {found['graph_build_cpu_ms']:.1f} "
        "CPU ms per call.",
        f"- The neighbour list alone: sciPT's `periodic_pairs` {lists['sciPT_periodic_pairs']:.1f} ms, ASE's "
        f"`primitive_neighbor_list` {lists['ase_primitive_neighbor_list']:.1f} ms "
        + (
            "(the same pair counts on every copy)."
            if lists["sciPT_periodic_pairs_pairs"] == lists["ase_primitive_neighbor_list_pairs"]
            else "(**pair counts differ**)."
        ),
        f"- `torch.profiler`'s total self time of every op (the clock inside each op, which counts waits "
        f"on a loaded machine): {found['profiled_ms_per_call']:.1f} ms per call.",
        "",
        "| op | self ms per ASE call | op calls per ASE call | share of the profiled time |",
        "|---|--:|--:|--:|",
    ]
    for op in found["top_ops"]:
        share = op["self_ms_per_call"] / found["profiled_ms_per_call"]
        out.append(f"| `{op['op']}` | {op['self_ms_per_call']:.1f} | {op['calls_per_call']} | {share:.0%} |")
    sweep = found.get("chunk_sweep")
    if sweep:
        channels = record["protocol"]["codes"]["ours"]["channels"]
        out += [
            "",
            "The message step's chunks of edges (`Interaction.chunk_elements`: elements of the product's "
            f"per-edge temporary in one chunk, 8 x {channels} per edge at l_max 1 and {channels} channels), "
            f"CPU ms per call, median and quartiles of {sweep['rounds']} interleaved rounds x {sweep['calls']} "
            "calls:",
            "",
            "| chunk elements | edges per chunk | CPU ms per call | quartiles |",
            "|---|--:|--:|--:|",
        ]
        for row in sweep["rows"]:
            size = row["chunk_elements"]
            label = "whole graph" if size is None else f"2^{int(math.log2(size))}"
            edges = f"{found['edges']:,}" if size is None else f"{size // (8 * channels):,}"
            q = row["cpu_ms_quartiles"]
            out.append(
                f"| {label}{' (default)' if row['default'] else ''} | {edges} | {row['cpu_ms_median']:.1f} "
                f"| {q[0]:.1f}-{q[1]:.1f} |"
            )
    return "\n".join(out) + "\n"


# driver -------------------------------------------------------------------------------------
def speed_key(args) -> str:
    """``speed`` for the default run (one thread, default malloc), a suffixed key for variants."""
    suffix = ("" if args.threads == 1 else f"_threads{args.threads}") + (
        "_malloc_heap" if args.malloc_heap else ""
    )
    return "speed" + suffix


def merge_record(record: dict, disk: dict) -> None:
    """Fold into ``record`` the runs, probes, data and plan another invocation wrote to ``disk``."""
    if disk.get("protocol") != record["protocol"]:
        sys.exit("the results file was rewritten with other settings by another invocation")
    key = lambda u: (u["molecule"], u["code"], u["seed"], u["budget_min"])  # noqa: E731
    redone = record.setdefault("undersized_units", [])
    redone.extend(u for u in disk.get("undersized_units", []) if u not in redone)
    mine = {key(u) for u in record["units"]}
    record["units"].extend(u for u in disk["units"] if key(u) not in mine and u not in redone)
    for field in ("data", "probes"):
        for name, value in disk.get(field, {}).items():
            record[field].setdefault(name, value)
    for name, values in disk.get("plan", {}).items():
        merged = list(dict.fromkeys([*values, *record["plan"].get(name, [])]))
        record["plan"][name] = sorted(merged) if name == "budgets_min" else merged
    # an invocation is known by its start (the load figures change at every save)
    ident = lambda p: (p["date"], p["command"])  # noqa: E731
    seen = [disk["provenance"], *disk.get("provenance_resumed", [])]
    own = [record["provenance"], *record.get("provenance_resumed", [])]
    known = {ident(p) for p in seen}
    merged = seen + [p for p in own if ident(p) not in known]
    record["provenance"] = merged[0]
    if merged[1:]:
        record["provenance_resumed"] = merged[1:]
    for name, value in disk.items():
        record.setdefault(name, value)


def protocol(args) -> dict:
    return {
        "results_name": args.results_name,
        "quick": args.quick,
        "threads": args.threads,
        "fill": args.fill,
        "hard_stop": args.hard_stop,
        "codes": {code: code_config(code, args) for code in CODES},
        "budget": "CPU (user + system) of the training process from launch to the end of training",
        "scoring": "test frames, float64, force RMSE/MAE over Cartesian components, energy MAE per frame",
        "verdict_rule": VERDICT_RULE,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "stage",
        nargs="?",
        default="all",
        choices=["all", "train", "speed", "profile", "probe", "figure", "render", "_speed-ours"],
        help="all: train (every run) then speed; figure/render: from the results file only",
    )
    parser.add_argument(
        "--budgets", type=float, nargs="+", default=[2.5, 5.0, 10.0, 20.0], help="CPU minutes"
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--molecules", nargs="+", choices=list(MOLECULES), default=None)
    parser.add_argument("--codes", nargs="+", choices=CODES, default=list(CODES))
    parser.add_argument("--threads", type=int, default=1, help="torch/OpenMP threads of every process")
    parser.add_argument(
        "--fill", type=float, default=0.95, help="size each run to end at this share of its budget"
    )
    parser.add_argument("--hard-stop", type=float, default=1.10, help="stop a run at this share if not done")
    parser.add_argument(
        "--min-fill",
        type=float,
        default=0.8,
        help="a run that ended below this share of its budget, sized on another CPU, is run again",
    )
    parser.add_argument(
        "--probe-steps", type=int, nargs=2, default=[100, 1000], help="ours: two probe lengths"
    )
    parser.add_argument("--probe-epochs", type=int, nargs=2, default=[1, 4], help="MACE: two probe lengths")
    parser.add_argument(
        "--mace-small", help="HIDDEN_IRREPS:MAX_ELL:CORRELATION of the small MACE (default 32x0e:1:2)"
    )
    parser.add_argument("--mace-venv", default=str(HERE / "out" / "mace-venv"))
    parser.add_argument("--results-name", default="forcefield_vs_mace")
    parser.add_argument("--work", help="work folder (default benchmarks/out/<results-name>)")
    parser.add_argument("--resume", action="store_true", help="keep the finished runs of the results file")
    parser.add_argument(
        "--keep-checkpoints", action="store_true", help="keep each run's training checkpoints"
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: budgets 0.5 1, seed 0, subsets, ethanol"
    )
    parser.add_argument("--dtypes", nargs="+", default=["float32"])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--calls", type=int, default=30)
    parser.add_argument("--malloc-heap", action="store_true", help="speed: glibc's large-block mmaps off")
    # _speed-ours: one timing in a fresh process, called by the speed stage
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--structure", help=argparse.SUPPRESS)
    parser.add_argument("--dtype", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.stage == "_speed-ours":
        result = speed_ours(args.model, args.structure, args.dtype, args.warmup, args.calls, args.seed)
        Path(args.out).write_text(json.dumps(result))
        return

    sys.path.insert(0, str(HERE))
    from provenance import RESULTS, finish, provenance, write_results

    path = RESULTS / f"{args.results_name}.json"
    if args.stage in ("figure", "render"):
        if not path.is_file():
            sys.exit(f"{path}: no results yet; run the train stage first")
        record = json.loads(path.read_text())
        print(figure(record) if args.stage == "figure" else render(record))
        return
    if args.quick:
        args.budgets, args.seeds = [0.5, 1.0], args.seeds[:1]
        args.probe_steps, args.probe_epochs = [50, 250], [1, 3]
        args.rounds, args.warmup, args.calls = 1, 2, 5
        args.molecules = args.molecules or ["ethanol"]
    args.molecules = args.molecules or list(MOLECULES)
    args.mace_sizes = dict(MACE_SIZES)
    if args.mace_small:
        hidden, ell, corr = args.mace_small.split(":")
        args.mace_sizes["mace-small"] = (hidden, int(ell), int(corr))
    if (
        any(c != "ours" for c in args.codes)
        and not (Path(args.mace_venv) / "bin" / "mace_run_train").exists()
    ):
        sys.exit(f"no MACE environment at {args.mace_venv}: see this script's docstring")
    work = Path(args.work or HERE / "out" / args.results_name)
    work.mkdir(parents=True, exist_ok=True)

    new = protocol(args)
    if (args.resume or args.stage in ("speed", "profile")) and path.is_file():
        record = json.loads(path.read_text())
        # training must match; the speed and profile stages only time (and may vary --threads)
        mismatch = [k for k, v in new.items() if record["protocol"].get(k) != v]
        if mismatch and args.stage in ("all", "train", "probe"):
            sys.exit(f"--resume: {path} was run with other settings ({', '.join(mismatch)})")
        record.setdefault("provenance_resumed", []).append(provenance(argv))
    elif args.stage in ("speed", "profile"):
        sys.exit(f"{path}: no results to time; run the train stage first")
    else:
        record = {
            "provenance": provenance(argv),
            "protocol": new,
            "plan": {},
            "data": {},
            "probes": {},
            "units": [],
        }
    plan = record["plan"]
    for key, values in (
        ("molecules", args.molecules),
        ("codes", args.codes),
        ("seeds", args.seeds),
        ("budgets_min", args.budgets),
    ):
        if args.stage in ("all", "train", "probe") or key not in plan:  # timing adds no runs
            plan[key] = list(dict.fromkeys([*plan.get(key, []), *values]))
    plan["budgets_min"].sort()

    def save() -> None:
        # Several invocations (say one per molecule, each on its own core) may share the file:
        # each merges what the others wrote since, under a lock, before it writes.
        with open(path.with_suffix(".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if path.is_file():
                merge_record(record, json.loads(path.read_text()))
            write_results(args.results_name, finish(record))
        if record["units"]:
            figure(record)

    if args.stage in ("all", "train", "probe"):
        for molecule in args.molecules:
            data = prepare_data(molecule, work, args.quick)
            if record["data"].get(molecule, data["record"])["sources"] != data["record"]["sources"]:
                sys.exit(f"--resume: the {molecule} data changed since the results were written")
            record["data"][molecule] = data["record"]
            probes = record["probes"].setdefault(molecule, {})
            for code in args.codes:
                if code not in probes or args.stage == "probe":
                    print(f"{molecule}: probing {code}", flush=True)
                    probes[code] = probe(args, code, data, work / "probes" / molecule)
                    save()
            if args.stage == "probe":
                print(json.dumps(probes, indent=1))
                continue
            here = unit_cpu()
            # a probe times the CPU it ran on: a CPU kind without finished runs is probed anew
            local = record.setdefault("probes_per_cpu", {}).setdefault(cpu_name(here), {})
            for code in args.codes:
                if probes[code].get("cpu", FIRST_PROBE_CPU) != here and code not in local.get(molecule, {}):
                    print(f"{molecule}: probing {code} on {cpu_name(here)}", flush=True)
                    local.setdefault(molecule, {})[code] = {
                        **probe(args, code, data, work / "probes" / molecule),
                        "cpu": here,
                    }
                    for unit in record["units"]:  # trained here before this CPU had a probe
                        if (unit["molecule"], unit["code"], unit.get("cpu")) == (molecule, code, here):
                            unit.setdefault("sized_on_other_cpu", True)
                    save()
            for unit in undersized(record, molecule, args.min_fill):
                record["units"].remove(unit)
                if unit not in record.setdefault("undersized_units", []):
                    record["undersized_units"].append(unit)
                print(
                    f"{molecule}: {unit['code']}, seed {unit['seed']}, {unit['budget_min']:g} CPU min used "
                    f"{unit['cpu_s_training']:.0f} CPU s, sized on another CPU: run again",
                    flush=True,
                )
                shutil.rmtree(
                    work / "runs" / molecule / unit["code"] / f"seed{unit['seed']}_{unit['budget_min']:g}min",
                    ignore_errors=True,  # an earlier invocation may have removed it already
                )
                save()
            done = {(u["molecule"], u["code"], u["seed"], u["budget_min"]) for u in record["units"]}
            for seed in args.seeds:
                for budget in args.budgets:
                    for code in args.codes:
                        if (molecule, code, seed, budget) in done:
                            continue
                        run = work / "runs" / molecule / code / f"seed{seed}_{budget:g}min"
                        print(f"{molecule}: {code}, seed {seed}, {budget:g} CPU min ...", flush=True)
                        # runs on another CPU cost otherwise: they would mis-size this one
                        finished = [
                            u
                            for u in record["units"]
                            if (u["molecule"], u["code"]) == (molecule, code) and u.get("cpu") == here
                        ]
                        own_probe = local.get(molecule, {}).get(code, probes[code])
                        line = cost_line(own_probe, finished)
                        unit = {"molecule": molecule, **run_unit(args, code, data, seed, budget, line, run)}
                        unit["cpu"] = unit_cpu()
                        record["units"].append(unit)
                        t = unit["test"]
                        print(
                            f"  {unit['cpu_s_training']:.0f} CPU s, force RMSE {t['forces_rmse_meV_per_A']:.1f} "
                            f"meV/A, energy MAE {t['energy_mae_meV']:.1f} meV",
                            flush=True,
                        )
                        save()
    if args.stage in ("all", "speed"):
        ethanol = [u for u in record["units"] if u["molecule"] == "ethanol"]
        if not ethanol:
            sys.exit("speed: no ethanol runs to time")
        budget = max(u["budget_min"] for u in ethanol)
        models, origins = {}, {}
        for code in [c for c in CODES if c in record["plan"]["codes"]]:
            # the lowest seed whose model is still on disk: work folders do not outlive a machine
            found = sorted(
                (
                    u
                    for u in ethanol
                    if (u["code"], u["budget_min"]) == (code, budget) and Path(u["model"]).exists()
                ),
                key=lambda u: u["seed"],
            )
            if found:
                models[code], origins[code] = found[0]["model"], f"seed {found[0]['seed']}"
            else:
                models[code] = stand_in(args, code, prepare_data("ethanol", work, args.quick), work)
                origins[code] = f"stand-in ({STAND_IN[code]})"
        print(f"speed: the {budget:g}-minute ethanol models: {origins}", flush=True)
        rows = speed(args, models, work)
        earlier = record.get(speed_key(args))
        if earlier and earlier.get("cpu") != unit_cpu():  # kept: another CPU kind's table
            record.setdefault(f"{speed_key(args)}_other_cpus", []).insert(0, earlier)
        record[speed_key(args)] = {
            "budget_min": budget,
            "models": models,
            "origins": origins,
            "cpu": unit_cpu(),
            "rows": rows,
        }
        save()
    if args.stage == "profile":
        model = record["speed"]["models"]["ours"]
        record["profile"] = profile_ours(args, model, work)
        save()
    if args.stage != "probe":
        print(render(record))
    print(f"results: {path}")


if __name__ == "__main__":
    main()
