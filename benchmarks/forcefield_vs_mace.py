"""sciPT's equivariant potential against MACE: accuracy at equal CPU time, and ASE-call speed.

Issue 5, "Measured". Two comparisons, run side by side in one invocation, one program at a time:

1. **Accuracy at equal CPU time.** Both potentials train on the shipped rMD17 ethanol training
   frames (``data_recipes/molecules/ethanol/train.xyz``, 1,000 frames, 5 % held out for validation
   by each code's own random split) until their training process has used the same CPU time
   (``--budget`` minutes of user + system time, read from ``/proc/PID/stat``), then both are scored
   on the 1,000 shipped test frames (``test_MD.xyz``): force RMSE and MAE (meV/Angstrom, over
   Cartesian components) and energy MAE (meV per frame and per atom), both evaluated in float64.
   CPU time rather than wall time is the budget because the machine is shared: wall time per step
   of the same program varied by more than 10x with the other jobs' load (measured while setting
   this up), while its CPU time did not. The CPU time includes start-up (imports, reading the data,
   MACE's code generation).

   - sciPT: ``scipt pretrain molecules --preset small`` with ``--model.channels`` set for a
     parameter count close to MACE's, isolated-atom reference energies. Its cosine schedule needs a
     step count: a 20-step calibration in this process measures CPU time per step and
     ``--max-steps`` is set to fill the budget (with a margin for Lightning and validation). If the
     budget runs out first the run is stopped and its last checkpoint (every 250 steps) is scored.
   - MACE: its own ``mace_run_train`` with ``--max_num_epochs`` far beyond reach, stopped at the
     budget; MACE keeps the checkpoint of its best validation epoch (EMA weights), which MACE itself
     then turns into a ``.model`` (``--restart_latest`` with ``--max_num_epochs`` equal to that
     epoch: no further training).

2. **Speed.** Energy + forces through each ASE calculator (``SciPTCalculator``, ``MACECalculator``)
   for one ethanol molecule and for 33 ethanol molecules (297 atoms) in a periodic box at the
   liquid density, and the same 297 atoms without periodic boundaries; float32 and float64. Each
   call sees a freshly displaced copy of the structure (both codes the same displacements), so the
   neighbour list and everything else is recomputed, as in molecular dynamics. The two codes run
   in alternating subprocesses (``--rounds``), so both see the same background load; reported: the
   median wall and CPU milliseconds per call over all rounds.

3. **Profile** of sciPT's call on the periodic 297-atom box (torch.profiler), with the share of
   graph building against the network.

MACE runs in its own virtual environment (it pins an older e3nn), through
``benchmarks/mace/mace_worker.py``. Run from the repository root with ``.venv`` active::

    python benchmarks/forcefield_vs_mace.py all --budget 10           # about 50 minutes
    python benchmarks/forcefield_vs_mace.py all --budget 1.5 --quick  # smoke test, 10 minutes
    # variants of the speed stage on the trained models (results under their own keys)
    python benchmarks/forcefield_vs_mace.py speed --malloc-heap --rounds 2 --calls 20
    python benchmarks/forcefield_vs_mace.py speed --threads 2 --dtypes float32 --rounds 2 --calls 20

``--malloc-heap`` runs both codes with glibc's large-block mmaps off (``MALLOC_HEAP``): tensors
above glibc's mmap threshold (32 MB at most) are otherwise fresh mappings that the kernel
zero-fills page by page on every call. Results go to ``--workdir`` (``results.json``, both run
directories, logs, the profile table); stages after ``train`` can be rerun alone on them. The
summary tables are printed as markdown.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent / "mace"))
from mace_worker import time_calls  # noqa: E402  (shared by both sides: same protocol)

SHIPPED = "data_recipes/molecules/ethanol"
TRAIN, TEST, ISOLATED = f"{SHIPPED}/train.xyz", f"{SHIPPED}/test_MD.xyz", f"{SHIPPED}/isolated_atoms.xyz"
MACE_WORKER = Path(__file__).resolve().parent / "mace" / "mace_worker.py"
ETHANOL_DENSITY = 0.789  # g/cm^3 at 20 C
MACE_ARGS = [
    "--model",
    "MACE",
    "--hidden_irreps",
    "32x0e+32x1o",
    "--r_max",
    "5.0",
    "--num_interactions",
    "2",
    "--correlation",
    "3",
    "--max_ell",
    "3",
    "--batch_size",
    "5",
    "--valid_batch_size",
    "10",
    "--lr",
    "0.01",
    "--ema",
    "--ema_decay",
    "0.99",
    "--default_dtype",
    "float32",
    "--device",
    "cpu",
    "--valid_fraction",
    "0.05",
    "--E0s",
    "average",
    "--seed",
    "0",
]


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


def reference(path: str, keys: tuple[str, str]):
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

    molecule = read(ROOT / TEST, index=0)
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
    cmd: list[str],
    env: dict,
    log: Path,
    budget_s: float,
    cwd: Path,
    done: Path | None = None,
    grace_s: float = 300.0,
) -> dict:
    """Run ``cmd``; stop it once it has used ``budget_s`` CPU seconds, unless ``done`` (a file the
    program writes when its training is over) already exists, when it gets ``grace_s`` more to write
    its outputs. Samples of (wall, CPU) every half second and the 1-minute load average."""
    started, cpu0 = time.time(), _children_cpu()
    samples, loads, at_done, stopped = [], [os.getloadavg()[0]], None, False
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd)
        while proc.poll() is None:
            time.sleep(0.5)
            try:
                cpu = _cpu_seconds(proc.pid)
            except (FileNotFoundError, ProcessLookupError):
                break
            wall = time.time() - started
            samples.append((round(wall, 2), cpu))
            if len(samples) % 60 == 0:
                loads.append(os.getloadavg()[0])
            if at_done is None and done is not None and done.exists():
                at_done = {"wall_s": wall, "cpu_s": cpu}
            if cpu >= budget_s + (grace_s if at_done else 0.0):
                stopped = True
                proc.terminate()
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
        rc = proc.wait()
    loads.append(os.getloadavg()[0])
    return {
        "command": shlex.join(cmd),
        "returncode": rc,
        "started_at": started,
        "stopped_at_budget": stopped,
        "wall_s": round(time.time() - started, 1),
        "cpu_s": round(_children_cpu() - cpu0, 1),
        "training_done": at_done,
        "load_average_1min": [round(x, 2) for x in loads],
        "samples": samples,
    }


def cpu_at(samples: list, wall_s: float) -> float:
    """CPU seconds the process had used ``wall_s`` seconds after its start (from the samples)."""
    before = [cpu for wall, cpu in samples if wall <= wall_s]
    return before[-1] if before else 0.0


# glibc serves blocks above its mmap threshold (at most 32 MB) with fresh mmaps that the kernel
# zero-fills page by page on every call; these settings keep them on the heap (``--malloc-heap``)
MALLOC_HEAP = {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": "4000000000"}


def environment(threads: int, malloc_heap: bool = False) -> dict:
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads), PYTHONWARNINGS="ignore")
    if malloc_heap:
        env.update(MALLOC_HEAP)
    return env


# sciPT side ---------------------------------------------------------------------------------
def ours_config(channels: int, keys: tuple[str, str]):
    from sciPT.domains.molecules import presets

    cfg = presets.small()
    cfg.data.paths, cfg.data.isolated_atoms = [TRAIN], ISOLATED
    cfg.data.energy_key, cfg.data.forces_key = keys
    cfg.model.channels = channels
    return cfg


def calibrate_ours(cfg, threads: int, steps: int = 20) -> dict:
    """CPU seconds per optimiser step of the configured model (batch of the preset, after 5
    warm-up steps), in this process."""
    import torch

    from sciPT.domains.molecules.dataset import collate, prepare
    from sciPT.domains.molecules.model import EquivariantPotential, count_parameters
    from sciPT.domains.molecules.objectives import build_objective

    torch.set_num_threads(threads)
    prepared = prepare(cfg.data, cfg.model, labelled=True, seed=cfg.train.seed)
    model = EquivariantPotential(prepared.model).train()
    objective = build_objective(cfg.objective)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.train.lr)
    batch = collate(prepared.train[: cfg.train.batch_size])
    for k in range(steps + 5):
        if k == 5:
            cpu0 = time.process_time()
        loss, _ = objective(model, batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return {"cpu_s_per_step": (time.process_time() - cpu0) / steps, "parameters": count_parameters(model)}


def export_from_checkpoint(run: Path) -> Path:
    """``RUN/model_from_ckpt``: the potential of ``RUN/checkpoints/last.ckpt`` (a run stopped at
    the budget has no export), through ``scipt export``, which takes the data-derived fields from
    the checkpoint, where pre-training stored them."""
    from sciPT.cli import main as scipt

    out = run / "model_from_ckpt"
    if scipt(["export", str(run), "--out", str(out)]) != 0:
        raise SystemExit(f"scipt export {run} failed")
    return out


def predict_ours(model_dir: Path, frames, dtype: str) -> tuple[np.ndarray, np.ndarray]:
    from sciPT.domains.molecules.calculator import load_potential
    from sciPT.domains.molecules.data import frame_to_graph
    from sciPT.domains.molecules.dataset import batches

    model = load_potential(model_dir, dtype=dtype)
    graphs = [frame_to_graph(f, model.cfg.cutoff) for f in frames]
    energies, forces = [], []
    for batch in batches(graphs, 50):
        out = model(batch, forces=True, create_graph=False)
        energies.append(out["energy"].numpy())
        forces.append(out["forces"].double().numpy())
    return np.concatenate(energies), np.concatenate(forces)


def train_ours(args, keys, work: Path) -> dict:
    cfg = ours_config(args.channels, keys)
    calibration = calibrate_ours(cfg, args.threads)
    # start-up (imports, reading, graphs) ~15 CPU s; Lightning, logging and validation ~35 % on top
    # of the bare step (measured on the first full run; either way the budget is enforced)
    steps = max(50, int((args.budget * 60 - 15) / (calibration["cpu_s_per_step"] * 1.35)))
    run = work / "ours"
    shutil.rmtree(run, ignore_errors=True)
    cmd = [
        str(Path(sys.executable).parent / "scipt"),
        "pretrain",
        "molecules",
        "--preset",
        "small",
        "--data",
        TRAIN,
        "--data.isolated-atoms",
        ISOLATED,
        "--data.energy-key",
        keys[0],
        "--data.forces-key",
        keys[1],
        "--data.val-fraction",
        "0.05",
        "--model.channels",
        str(args.channels),
        "--max-steps",
        str(steps),
        "--checkpoint-every",
        "250",
        "--seed",
        "0",
        "--out",
        str(run),
    ]
    result = run_budgeted(
        cmd,
        environment(args.threads),
        work / "ours_train.log",
        args.budget * 60,
        ROOT,
        done=run / "model" / "model.safetensors",
    )
    if (run / "model" / "model.safetensors").exists():
        model_dir = run / "model"
        cpu = (result["training_done"] or result)["cpu_s"]
        reached = (
            json.loads((run / "metrics.json").read_text())["steps"]
            if (run / "metrics.json").exists()
            else steps
        )
    else:
        from sciPT.checkpoint import load_lightning_checkpoint

        model_dir = export_from_checkpoint(run)
        ckpt = run / "checkpoints" / "last.ckpt"
        reached = int(load_lightning_checkpoint(ckpt)["global_step"])
        cpu = cpu_at(result["samples"], ckpt.stat().st_mtime - result["started_at"])
    result.update(
        calibration=calibration,
        max_steps=steps,
        steps=reached,
        threads=args.threads,
        epochs=round(reached * cfg.train.batch_size / 950, 1),
        cpu_s_at_scored_model=round(cpu, 1),
        model_dir=str(model_dir),
        parameters=calibration["parameters"],
    )
    return result


# MACE side ----------------------------------------------------------------------------------
def train_mace(args, keys, work: Path) -> dict:
    run = work / "mace"
    shutil.rmtree(run, ignore_errors=True)
    run.mkdir(parents=True)
    write_mace_copy(reference(TRAIN, keys), run / "train_REF.xyz")
    train = str(Path(args.mace_venv) / "bin" / "mace_run_train")
    base = [
        train,
        "--name",
        "mace",
        "--train_file",
        "train_REF.xyz",
        "--energy_key",
        "REF_energy",
        "--forces_key",
        "REF_forces",
        *MACE_ARGS,
    ]
    cmd = [*base, "--max_num_epochs", "100000"]
    result = run_budgeted(cmd, environment(args.threads), work / "mace_train.log", args.budget * 60, run)
    checkpoints = sorted(
        run.glob("checkpoints/mace_run-0_epoch-*.pt"),
        key=lambda p: int(re.search(r"epoch-(\d+)", p.name).group(1)),
    )
    if not checkpoints:
        sys.exit(f"MACE saved no checkpoint within the budget (see {work / 'mace_train.log'})")
    best = checkpoints[-1]
    epoch = int(re.search(r"epoch-(\d+)", best.name).group(1))
    log = (run / "logs" / "mace_run-0.log").read_text()
    epochs_done = len(re.findall(r"INFO: Epoch \d+:", log))
    # MACE itself writes the .model of its best checkpoint; no epoch is trained (start == max)
    export = [*base, "--max_num_epochs", str(epoch), "--restart_latest"]
    with open(work / "mace_export.log", "w") as out:
        subprocess.run(
            export, stdout=out, stderr=subprocess.STDOUT, cwd=run, env=environment(args.threads), check=True
        )
    result.update(
        export_command=shlex.join(export),
        best_epoch=epoch,
        epochs=epochs_done,
        threads=args.threads,
        steps=epochs_done * -(-950 // 5),  # 950 training frames, batch 5
        cpu_s_at_scored_model=round(
            cpu_at(result["samples"], best.stat().st_mtime - result["started_at"]), 1
        ),
        model=str(run / "mace.model"),
    )
    return result


def mace_worker(args, *extra: str) -> list[str]:
    return [str(Path(args.mace_venv) / "bin" / "python"), str(MACE_WORKER), *extra]


# scoring ------------------------------------------------------------------------------------
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


def score(args, keys, results: dict, work: Path) -> dict:
    frames = reference(TEST, keys)
    ours = predict_ours(Path(results["ours"]["model_dir"]), frames, "float64")
    out = work / "mace_test.npz"
    subprocess.run(
        mace_worker(
            args,
            "evaluate",
            "--model",
            results["mace"]["model"],
            "--data",
            str(ROOT / TEST),
            "--dtype",
            "float64",
            "--out",
            str(out),
        ),
        check=True,
        env=environment(args.threads),
        capture_output=True,
    )
    mace = np.load(out)
    results["mace"]["parameters"] = int(mace["parameters"])
    return {"ours": errors(frames, *ours), "mace": errors(frames, mace["energy"], mace["forces"])}


# speed and profile --------------------------------------------------------------------------
def speed_ours(model: str, structure: str, dtype: str, warmup: int, calls: int, seed: int) -> dict:
    import torch
    from ase.io import read

    from sciPT.domains.molecules.calculator import SciPTCalculator

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    calc = SciPTCalculator(model, dtype=dtype)
    atoms = read(structure)
    result = time_calls(atoms, calc, warmup, calls, seed)
    result.update(
        parameters=int(sum(p.numel() for p in calc.model.parameters())), atoms=len(atoms), dtype=dtype
    )
    return result


def speed(args, results: dict, work: Path) -> list[dict]:
    from ase.io import read, write

    structures = work / "structures"
    structures.mkdir(exist_ok=True)
    box, closest = ethanol_box()
    print(
        f"ethanol box: side {box.cell[0, 0]:.2f} A, closest intermolecular pair {closest:.2f} A", flush=True
    )
    cluster = box.copy()
    cluster.pbc = False
    write(structures / "ethanol.xyz", read(ROOT / TEST, index=0), format="extxyz")
    write(structures / "ethanol_box_297_periodic.xyz", box, format="extxyz")
    write(structures / "ethanol_297_nonperiodic.xyz", cluster, format="extxyz")
    rows = []
    for name in ("ethanol", "ethanol_297_nonperiodic", "ethanol_box_297_periodic"):
        structure = str(structures / f"{name}.xyz")
        for dtype in args.dtypes:
            runs = {"ours": [], "mace": []}
            for r in range(args.rounds):
                common = [
                    "--structure",
                    structure,
                    "--dtype",
                    dtype,
                    "--warmup",
                    str(args.warmup),
                    "--calls",
                    str(args.calls),
                    "--seed",
                    str(r),
                ]
                for side in ("ours", "mace"):
                    out = work / f"speed_{side}.json"
                    cmd = (
                        [
                            sys.executable,
                            __file__,
                            "_speed-ours",
                            "--model",
                            results["ours"]["model_dir"],
                            *common,
                            "--out",
                            str(out),
                        ]
                        if side == "ours"
                        else mace_worker(
                            args, "speed", "--model", results["mace"]["model"], *common, "--out", str(out)
                        )
                    )
                    subprocess.run(
                        cmd,
                        check=True,
                        env=environment(args.threads, args.malloc_heap),
                        cwd=ROOT,
                        capture_output=True,
                    )
                    runs[side].append(json.loads(out.read_text()))
            row = {
                "structure": name,
                "dtype": dtype,
                "atoms": runs["ours"][0]["atoms"],
                "threads": args.threads,
                "malloc_heap": args.malloc_heap,
                "load_average_1min": round(os.getloadavg()[0], 2),
            }
            for side, parts in runs.items():
                row[f"{side}_wall_ms"] = float(np.median(sum((p["wall_ms"] for p in parts), [])))
                row[f"{side}_cpu_ms"] = float(np.median(sum((p["cpu_ms"] for p in parts), [])))
                row[f"{side}_parameters"] = parts[0]["parameters"]
            row["speedup_cpu"] = row["mace_cpu_ms"] / row["ours_cpu_ms"]
            row["speedup_wall"] = row["mace_wall_ms"] / row["ours_wall_ms"]
            print(json.dumps(row), flush=True)
            rows.append(row)
    return rows


def profile_ours(args, results: dict, work: Path) -> dict:
    """torch.profiler over 20 calls on the periodic box; graph building, and the periodic
    neighbour list against ASE's ``primitive_neighbor_list`` (same displaced structures), timed on
    their own."""
    import torch
    from ase.io import read
    from ase.neighborlist import primitive_neighbor_list
    from torch.profiler import ProfilerActivity, profile

    from sciPT.domains.molecules.calculator import SciPTCalculator
    from sciPT.domains.molecules.data import atoms_to_graph, periodic_pairs

    torch.set_num_threads(args.threads)
    atoms = read(work / "structures" / "ethanol_box_297_periodic.xyz")
    calc = SciPTCalculator(results["ours"]["model_dir"], dtype="float32")
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
        "edges": int(graph.edge_index.shape[1]),
        "graph_build_cpu_ms": round(graph_ms, 2),
        "neighbour_list_cpu_ms": pair_ms,
        "profiled_ms_per_call": round(total, 2),
        "top_ops": top,
    }


# report -------------------------------------------------------------------------------------
def summary(results: dict) -> str:
    o, m = results["ours"], results["mace"]
    lines = [
        "| model | parameters | CPU s used (scored model) | steps | epochs | force RMSE meV/A "
        "| force MAE meV/A | energy MAE meV (per atom) | energy MAE meV, offset removed |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, run in (("sciPT", o), ("MACE", m)):
        e = results["errors"]["ours" if name == "sciPT" else "mace"]
        lines.append(
            f"| {name} | {run['parameters']:,} | {run['cpu_s']:.0f} ({run['cpu_s_at_scored_model']:.0f}) "
            f"| {run['steps']} | {run['epochs']} | {e['forces_rmse_meV_per_A']:.1f} "
            f"| {e['forces_mae_meV_per_A']:.1f} | {e['energy_mae_meV']:.1f} "
            f"({e['energy_mae_meV_per_atom']:.2f}) | {e['energy_mae_meV_offset_removed']:.1f} |"
        )
    for key in sorted(k for k in results if k.startswith("speed")):
        lines += [
            "",
            f"{key}:",
            "",
            "| structure | atoms | dtype | sciPT ms/call wall (CPU) "
            "| MACE ms/call wall (CPU) | MACE / sciPT, CPU |",
            "|---|---|---|---|---|---|",
        ]
        for r in results[key]:
            lines.append(
                f"| {r['structure']} | {r['atoms']} | {r['dtype']} | {r['ours_wall_ms']:.1f} "
                f"({r['ours_cpu_ms']:.1f}) | {r['mace_wall_ms']:.1f} ({r['mace_cpu_ms']:.1f}) "
                f"| {r['speedup_cpu']:.2f} |"
            )
    return "\n".join(lines)


def speed_key(args) -> str:
    """``speed`` for the default run (one thread, default malloc), a suffixed key for variants."""
    suffix = ("" if args.threads == 1 else f"_threads{args.threads}") + (
        "_malloc_heap" if args.malloc_heap else ""
    )
    return "speed" + suffix


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stage", choices=["all", "train", "score", "speed", "profile", "_speed-ours"])
    parser.add_argument("--budget", type=float, default=10.0, help="CPU minutes per training run")
    parser.add_argument("--threads", type=int, default=1, help="torch/OpenMP threads of every process")
    parser.add_argument(
        "--channels", type=int, default=64, help="sciPT channels (64: 101k parameters, MACE 32x0e+32x1o: 94k)"
    )
    parser.add_argument("--workdir", default="/tmp/scipt_ff_vs_mace")
    parser.add_argument("--mace-venv", default="/work/mace-venv")
    parser.add_argument("--dtypes", nargs="+", default=["float32", "float64"])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--calls", type=int, default=30)
    parser.add_argument("--quick", action="store_true", help="smoke test: 1 round of 5 calls")
    parser.add_argument(
        "--malloc-heap",
        action="store_true",
        help="speed: run both codes with glibc's large-block mmaps off (MALLOC_HEAP)",
    )
    # _speed-ours (one timing in a fresh process, called by the speed stage)
    parser.add_argument("--model")
    parser.add_argument("--structure")
    parser.add_argument("--dtype")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out")
    args = parser.parse_args()
    if args.stage == "_speed-ours":
        Path(args.out).write_text(
            json.dumps(speed_ours(args.model, args.structure, args.dtype, args.warmup, args.calls, args.seed))
        )
        return
    if args.quick:
        args.rounds, args.warmup, args.calls = 1, 2, 5
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    state = work / "results.json"
    results = json.loads(state.read_text()) if state.exists() and args.stage != "all" else {}
    keys = detect_keys(ROOT / TRAIN)
    results["machine"] = {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "keys": keys,
    }
    stages = [
        ("ours", ("train",), lambda: train_ours(args, keys, work)),
        ("mace", ("train",), lambda: train_mace(args, keys, work)),
        ("errors", ("train", "score"), lambda: score(args, keys, results, work)),
        (speed_key(args), ("speed",), lambda: speed(args, results, work)),
        ("profile", ("profile",), lambda: profile_ours(args, results, work)),
    ]
    for key, when, stage in stages:
        if args.stage == "all" or args.stage in when:
            results[key] = stage()
            state.write_text(json.dumps(results, indent=1))  # a later stage can be rerun alone
    print(summary(results))
    print(f"full results: {state}")


if __name__ == "__main__":
    main()
