"""MACE's own multihead replay fine-tuning on the forgetting benchmark's split: a peer row.

    OMP_NUM_THREADS=1 python benchmarks/forgetting_mace.py [--seeds 0 1 2] [--pretrain-epochs 36]
        [--finetune-epochs 35] [--lrs 0.001 0.003 0.01] [--resume]
    OMP_NUM_THREADS=1 python benchmarks/forgetting_mace.py --quick      # smoke run, not a measurement

``benchmarks/forgetting.py`` measures how much our strategies keep of the old task (ethanol) when a
pre-trained potential is fine-tuned on a new one (acetylacetone, another level of theory). MACE
ships its own answer, multihead replay fine-tuning (Batatia et al., "A foundation model for
atomistic materials chemistry", arXiv:2401.00096, the fine-tuning of MACE-MP-0): the fine-tuned
model gets a second readout head for the new data, the pre-trained one is kept as ``pt_head``, and
every epoch mixes the new frames with the pre-training frames (the replay), each through its own
head, so the shared layers are fitted to both. This script runs it, and naive fine-tuning beside it,
with MACE's own ``mace_run_train`` on exactly our split.

Protocol, for every seed of ``--seeds`` (the seed of pre-training and fine-tuning; the split is
fixed):

- Data: ``sciPT.tasks.forcefield_demo.split_data``, the function ``benchmarks/forgetting.py`` splits
  with (byte-identical files): 95 % of the shipped ethanol + methanol frames (1,235) to pre-train
  on, the other 5 % (65) as the old task's validation; acetylacetone: 350 training frames, 50
  validation frames carved from the 400, 100 test frames; the old task's test set is the 1,000
  shipped ethanol MD test frames. MACE reads copies of the training files under ``REF_energy`` /
  ``REF_forces`` (``forcefield_vs_mace.write_mace_copy``).
- Pre-training: the ``mace-small`` MACE of ``benchmarks/forcefield_vs_mace.py`` (``32x0e``,
  max_ell 1, correlation 2, 2 interactions, r_max 5, float32, batch 5) with that script's command
  line (``mace_command``: lr 1e-2, ExponentialLR down to Stage Two's 1e-3 at 3/4 of the epochs,
  Stage Two (energy weight 1000) over the last quarter, EMA 0.99, ``--E0s average``) for
  ``--pretrain-epochs`` epochs, validated on the 65 held-out frames; the Stage Two model is the
  pre-trained model. Its one head is ``Default``.
- Fine-tuning, from that model, ``--finetune-epochs`` epochs each (the default, 35, is
  ``forgetting.py``'s 1,500 steps x 8 frames in epochs of 350 frames), batch 5, ExponentialLR from
  the learning rate down to a tenth of it by the last epoch, EMA 0.99, no Stage Two, both runs on
  the acetylacetone training frames validated on its 50 validation frames:

  - ``naive``: ``--foundation_model PRE --multiheads_finetuning False``: the one head is trained
    over;
  - ``multihead``: ``--multiheads_finetuning True --pt_train_file <the 1,235 pre-training frames>
    --pt_valid_file <the 65>``: heads ``pt_head`` (the old task) and ``Default`` (acetylacetone),
    every pre-training frame replayed every epoch (MACE subsamples only its downloaded Materials
    Project replay set; ours is far above its ``--real_pt_data_ratio_threshold``, so nothing is
    duplicated either), an epoch thus 1,585 frames against naive's 350.

  Both with the options multihead mode forces on itself, so that the heads and the replay are the
  only difference: ``--loss universal`` (multihead mode sets it; naive gets it explicitly), and
  ``--force_mh_ft_lr True`` (without it multihead mode replaces the learning rate by 1e-4 and the
  EMA decay by 0.99999). MACE keeps the checkpoint of the lowest validation loss of its last head
  (``Default``: acetylacetone) in both.
- Reference energies of the new level of theory: acetylacetone's total energies sit some 4,000
  eV (about 270 eV per atom) from what the pre-trained model predicts. MACE's answer, ``--E0s
  estimated`` (the pre-trained E0s plus the least-squares per-element correction of the
  pre-trained model's energy errors on the new frames: what our fine-tuning's ``refit``
  references do), holds in multihead mode, but in naive mode MACE 0.3.16 overwrites it:
  ``load_foundations_elements`` copies every tensor of the foundation model whose shape matches,
  the E0 buffer included (one head against one head), and naive training would spend itself on
  the offset. So the correction is computed here as MACE computes it (:func:`new_references`)
  and taken off the acetylacetone labels of both runs' training and validation copies, both run
  with ``--E0s foundation``: the same start for both, forces unchanged; the acetylacetone
  energies scored are put back on the data's scale.
- Learning rate: one for both strategies, the one of ``--lrs`` with the lowest acetylacetone
  validation force RMSE of the naive run on the first seed (``forgetting.py``'s rule: choices on
  validation frames only; the test frames are scored once, for the table).
- Scoring (float64, MACE's ASE calculator): ethanol test force RMSE (meV/A) of the pre-trained
  model (before) and of each fine-tuned model (after; through ``pt_head`` for multihead), and the
  acetylacetone test force RMSE (through ``Default``). Per seed: the rise (after - before), the
  rise ratio (multihead / naive) and the acetylacetone ratio (multihead / naive), both to the same
  seed's naive run, as ``forgetting.py`` reports its strategies.
- Rule: multihead is *ahead* of (or *behind*) naive on forgetting (on acetylacetone) only when the
  mean over seeds of the paired per-seed difference of the rises (of the acetylacetone test
  errors) exceeds twice its standard error; otherwise *tied*.

Cost (one thread, CPU time to MACE's "Training complete"; probed once on the full data with 1 and 3
pre-training epochs, 1 and 2 of each fine-tuning, on a shared 2-core Xeon): a pre-training epoch
(1,235 frames + 65 validation) 7.8 CPU-s after 12 CPU-s of start-up, so the default 36 epochs are
about 5 CPU-minutes; a naive fine-tuning epoch 4.4 CPU-s (start-up 8), a multihead epoch 19.4 (its
1,585 frames); scoring the 1,000 ethanol test frames about 20 CPU-s; each MACE process adds 3-12
CPU-s of evaluation and saving after training. Per seed about 5 + 3 + 11.5 + 1.5 = 21 CPU-minutes,
with the two more naive runs of the learning-rate scan on the first seed about 70 CPU-minutes for
the default three seeds.

``--quick`` (one seed, a few dozen frames of each file, 2 pre-training and 1 fine-tuning epoch,
the first two learning rates) checks the script end to end in a couple of CPU-minutes; it is not a
measurement and writes ``forgetting_mace_quick`` unless ``--results-name`` says otherwise.
Results: ``benchmarks/results/NAME.json`` (provenance, protocol, every per-seed number and
command, CPU times), saved after every seed; ``--resume`` keeps the finished seeds (and the
finished trainings of an unfinished one); :func:`render` makes the markdown table. Work files:
``--work`` (default ``benchmarks/out/NAME``). MACE runs in its own environment
(``--mace-venv``, default ``benchmarks/out/mace-venv``; see ``forcefield_vs_mace.py``).
"""

from __future__ import annotations

import argparse
import json
import math
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

from summaries import mean_se
from summaries import verdict as verdict_of

HERE = Path(__file__).resolve().parent
SIZE = "mace-small"  # forcefield_vs_mace.MACE_SIZES key
FORCES = "forces_rmse_meV_per_A"  # forcefield_vs_mace.errors key, forgetting.FORCES
PRETRAIN_EPOCHS = 36  # about 5 CPU-minutes on one thread (module docstring)
FINETUNE_EPOCHS = 35  # forgetting.py's 1,500 steps x 8 frames, in epochs of 350 frames
LRS = [0.001, 0.003, 0.01]
FINAL_LR_FACTOR = 0.1  # the fine-tuning schedule ends at this fraction of its learning rate
# --quick: frames kept of each split file (evenly spaced)
QUICK = {
    "pretrain": 48,
    "pretrain_val": 10,
    "ethanol_val": 5,
    "ethanol_test": 20,
    "acac_train": 24,
    "acac_val": 8,
    "acac_test": 10,
}
FINETUNE = {  # every fine-tuning run, naive and multihead (module docstring)
    "device": "cpu",
    "default_dtype": "float32",
    "batch_size": 5,
    "valid_batch_size": 10,
    "E0s": "foundation",  # the pre-trained model's, with relabelled new data (new_references)
    "loss": "universal",
    "scheduler": "ExponentialLR",
    "ema_decay": 0.99,
    "energy_key": "REF_energy",
    "forces_key": "REF_forces",
    "plot": "False",  # its plots evaluate every set again after training
}
OLD_HEAD, NEW_HEAD = "pt_head", "Default"  # MACE's names; a single-head model's head is Default
RULE = (
    "multihead is ahead of (behind) naive only when the mean over seeds of the paired per-seed "
    "difference exceeds twice its standard error; otherwise tied"
)
# scores a model through one head on extended XYZ files, run by the MACE environment's python:
# MACE's own calculator, as forcefield_vs_mace.py scores (benchmarks/mace/mace_worker.py has no head)
EVALUATE = """
import sys, warnings
import numpy as np
from ase.io import read
from mace.calculators import MACECalculator
warnings.filterwarnings("ignore")
model, head, out, *files = sys.argv[1:]
calc = MACECalculator(model_paths=model, device="cpu", default_dtype="float64", head=head)
heads = list(getattr(calc.models[0], "heads", ["Default"]))
if head not in heads:
    sys.exit(f"{model}: no head {head} (heads {heads})")
found = {"heads": np.array(heads)}
for i, path in enumerate(files):
    energy, forces = [], []
    for atoms in read(path, index=":"):
        atoms.calc = calc
        energy.append(atoms.get_potential_energy())
        forces.append(atoms.get_forces())
    found[f"energy{i}"], found[f"forces{i}"] = np.array(energy), np.concatenate(forces)
np.savez(out, **found)
"""


# data -----------------------------------------------------------------------------------------
def prepare(work: Path, quick: bool) -> dict:
    """forgetting.py's split files under ``WORK/data`` (with ``quick``, evenly spaced frames of each
    under ``WORK/data/quick``), MACE's copies of the pre-training files, and their record."""
    import hashlib

    from forcefield_vs_mace import detect_keys, reference, write_mace_copy, xyz_frames

    from sciPT.tasks.forcefield_demo import split_data

    paths = {k: Path(v).resolve() for k, v in split_data(work / "data").items()}
    if quick:
        folder = work / "data" / "quick"
        folder.mkdir(parents=True, exist_ok=True)
        for name, n in QUICK.items():
            frames = xyz_frames(paths[name])  # spaced out: the files come molecule by molecule
            (folder / f"{name}.xyz").write_text("".join(frames[:: max(1, len(frames) // n)][:n]))
            paths[name] = (folder / f"{name}.xyz").resolve()
    keys = detect_keys(paths["pretrain"])
    mace = {}
    for name in ("pretrain", "pretrain_val"):
        mace[name] = paths[name].with_name(f"{name}_REF.xyz")
        write_mace_copy(reference(paths[name], keys), mace[name])
    return {
        "paths": {k: str(v) for k, v in paths.items()},
        "mace": {k: str(v) for k, v in mace.items()},
        "keys": list(keys),
        "record": {
            "split": "sciPT.tasks.forcefield_demo.split_data (seed 0), as benchmarks/forgetting.py"
            + ("; --quick: evenly spaced frames of each file" if quick else ""),
            "files": {
                name: {
                    "frames": len(xyz_frames(path)),
                    "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                }
                for name, path in paths.items()
            },
        },
    }


def composition(frames, elements: list[int]):
    """``A[f, z]``: atoms of element ``elements[z]`` in frame ``f``."""
    import numpy as np

    return np.array([[int((f.numbers == z).sum()) for z in elements] for f in frames], dtype=float)


def new_references(ns, data: dict, pre: dict, folder: Path) -> dict:
    """MACE's ``--E0s estimated``, done in the labels: the least-squares per-element correction
    (minimum norm, as MACE's) of the pre-trained model's energy errors on the acetylacetone training
    frames, and copies of the acetylacetone training and validation frames for MACE with that
    correction taken off their energies. Naive mode would drop the estimate (module docstring),
    so both runs train on these copies under the pre-trained E0s."""
    import dataclasses

    import numpy as np
    from forcefield_vs_mace import reference, write_mace_copy

    paths = data["paths"]
    frames = reference(paths["acac_train"], data["keys"])
    folder.mkdir(parents=True, exist_ok=True)
    predicted, _, cpu = predict(ns, pre["model"], NEW_HEAD, {"acac_train": paths["acac_train"]}, folder)
    elements = sorted({int(z) for f in frames for z in f.numbers})
    a = composition(frames, elements)
    residual = np.array([f.energy for f in frames]) - predicted["acac_train"][0]
    delta = np.linalg.lstsq(a, residual, rcond=None)[0]
    files = {}
    for name in ("acac_train", "acac_val"):
        found = reference(paths[name], data["keys"])
        shift = composition(found, elements) @ delta
        files[name] = str(folder / f"{name}_REF.xyz")
        write_mace_copy(
            [dataclasses.replace(f, energy=f.energy - s) for f, s in zip(found, shift)], Path(files[name])
        )
    return {
        "elements": elements,
        "correction_eV": delta.tolist(),
        "residual_rmse_after_eV": float(np.sqrt(np.mean((residual - a @ delta) ** 2))),
        "cpu_s": cpu,
        "files": files,
    }


# MACE runs ------------------------------------------------------------------------------------
def mace_setup(venv: str) -> argparse.Namespace:
    """What forcefield_vs_mace's MACE helpers read from its arguments."""
    from forcefield_vs_mace import MACE_SIZES

    return argparse.Namespace(mace_venv=venv, mace_sizes=dict(MACE_SIZES), threads=1)


def pretrain_command(ns, data: dict, seed: int, epochs: int) -> tuple[list[str], dict]:
    from forcefield_vs_mace import mace_command

    cmd, plan = mace_command(ns, SIZE, {"train_mace": data["mace"]["pretrain"]}, seed, epochs)
    # the held-out 5 % rather than MACE's own random 5 %: the old task's validation frames
    return [*cmd, "--valid_file", data["mace"]["pretrain_val"], "--plot", "False"], plan


def finetune_command(
    ns, data: dict, refs: dict, seed: int, epochs: int, lr: float, foundation: str, multihead: bool
) -> list[str]:
    options = {
        **FINETUNE,
        "name": "mace",
        "seed": seed,
        "foundation_model": foundation,
        "multiheads_finetuning": str(multihead),
        "train_file": refs["files"]["acac_train"],
        "valid_file": refs["files"]["acac_val"],
        "lr": lr,
        "lr_scheduler_gamma": f"{FINAL_LR_FACTOR ** (1 / epochs):.6f}",
        "max_num_epochs": epochs,
    }
    if multihead:
        options.update(
            pt_train_file=data["mace"]["pretrain"],
            pt_valid_file=data["mace"]["pretrain_val"],
            force_mh_ft_lr="True",
        )
    cmd = [str(Path(ns.mace_venv) / "bin" / "mace_run_train")]
    for key, value in options.items():
        cmd += [f"--{key}", str(value)]
    return [*cmd, "--ema"]


def train(cmd: list[str], run: Path, seed: int, resume: bool) -> dict:
    """One ``mace_run_train`` in ``run`` (reused with ``resume`` when the same command finished
    there): CPU and wall time to the end of training and in all, epochs, the epoch whose
    checkpoint became the model, the model's path, what MACE's log says of the heads and data."""
    from forcefield_vs_mace import _scored_epoch, _tail, environment, mace_log, mace_model, run_budgeted

    saved = run / "training.json"
    if resume and saved.is_file():
        found = json.loads(saved.read_text())
        if found["command"] == shlex.join(cmd):
            return found
    shutil.rmtree(run, ignore_errors=True)
    run.mkdir(parents=True)
    log = mace_log(run, seed)

    def done() -> bool:
        return log.is_file() and "Training complete" in _tail(log)

    result = run_budgeted(cmd, environment(1), run / "train.log", math.inf, run, done)
    if result["returncode"] != 0 or result["training_done"] is None:
        tail = (run / "train.log").read_text()[-3000:]
        raise SystemExit(f"mace_run_train failed (exit {result['returncode']}) in {run}:\n{tail}")
    text = log.read_text()
    heads = re.search(r"Using heads: (\[.*?\])", text)
    configs = re.findall(r"Total number of configurations: train=(\d+), valid=(\d+)", text)
    pt = re.search(r"Total number of configurations in pretraining: train=(\d+), valid=(\d+)", text)
    result.update(
        cpu_s_training=round(result["training_done"]["cpu_s"], 1),
        epochs=len(set(re.findall(r"Epoch (\d+):", text))),
        scored_epoch=_scored_epoch(text),
        heads=heads[1] if heads else None,
        configurations=[{"train": int(a), "valid": int(b)} for a, b in configs],
        replayed=({"train": int(pt[1]), "valid": int(pt[2])} if pt else None),
        model=str(mace_model(run).resolve()),
    )
    shutil.rmtree(run / "checkpoints", ignore_errors=True)  # the .model files stay
    saved.write_text(json.dumps(result, indent=1))
    return result


def predict(ns, model: str, head: str, files: dict[str, str], folder: Path) -> tuple[dict, list, float]:
    """``model``'s energies and forces through ``head`` on each file (name -> path), the model's
    heads, and the CPU seconds it took."""
    import resource

    import numpy as np
    from forcefield_vs_mace import environment

    names, out = list(files), folder / f"predicted-{head}.npz"
    cmd = [str(Path(ns.mace_venv) / "bin" / "python"), "-c", EVALUATE, model, head, str(out)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(
        [*cmd, *(files[n] for n in names)], env=environment(1), capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"scoring {model} ({head}) failed:\n{done.stderr[-3000:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    found = np.load(out)
    predicted = {n: (found[f"energy{i}"], found[f"forces{i}"]) for i, n in enumerate(names)}
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return predicted, [str(h) for h in found["heads"]], round(cpu, 1)


def scored(ns, data: dict, unit: dict, sets: dict[str, str], refs: dict | None = None) -> dict:
    """``unit`` with the force RMSE (meV/A) of each set (name -> head) and every error of
    ``forcefield_vs_mace.errors`` under ``scores``; with ``refs``, acetylacetone energies are put
    back on the scale of the data (the model learnt them less the correction of ``refs``)."""
    from forcefield_vs_mace import errors, reference

    paths, folder = data["paths"], Path(unit["model"]).parent
    scores = unit.setdefault("scores", {})
    for head in dict.fromkeys(sets.values()):
        files = {n: paths[n] for n, h in sets.items() if h == head and n not in scores}
        if not files:
            continue
        predicted, heads, cpu = predict(ns, unit["model"], head, files, folder)
        for name, (energy, forces) in predicted.items():
            frames = reference(paths[name], data["keys"])
            if refs and name.startswith("acac"):
                energy = energy + composition(frames, refs["elements"]) @ refs["correction_eV"]
            scores[name] = {
                "head": head,
                "heads": heads,
                "scoring_cpu_s": cpu,
                **errors(frames, energy, forces),
            }
    unit.update({n: scores[n][FORCES] for n in sets})
    return unit


def run_seed(ns, data: dict, seed: int, args, record: dict, work: Path, save) -> dict:
    """Pre-training, the learning-rate scan (first seed only), naive and multihead fine-tuning,
    scoring; per-seed numbers as the module docstring describes."""
    folder = work / "runs" / f"s{seed}"
    print(f"--- seed {seed}: pre-training, {args.pretrain_epochs} epochs", file=sys.stderr, flush=True)
    cmd, plan = pretrain_command(ns, data, seed, args.pretrain_epochs)
    pre = {**train(cmd, folder / "pretrain", seed, args.resume), "schedule": plan}
    scored(ns, data, pre, {"ethanol_test": NEW_HEAD})
    refs = new_references(ns, data, pre, folder / "acetylacetone")

    def finetuned(lr: float, multihead: bool) -> dict:
        kind = "multihead" if multihead else "naive"
        cmd = finetune_command(ns, data, refs, seed, args.finetune_epochs, lr, pre["model"], multihead)
        print(f"--- seed {seed}: {kind} fine-tuning, lr {lr:g}", file=sys.stderr, flush=True)
        return {"kind": kind, "lr": lr, **train(cmd, folder / f"{kind}-lr{lr:g}", seed, args.resume)}

    naive = {}
    if record["lr"] is None:  # naive's learning rate, on the first seed's acetylacetone validation
        for lr in args.lrs:
            naive[lr] = scored(ns, data, finetuned(lr, False), {"acac_val": NEW_HEAD}, refs)
        record["lr"] = min(args.lrs, key=lambda x: naive[x]["acac_val"])
        record["lr_seed"] = seed
        record["lr_scan"] = {
            f"{x:g}": {"acac_val": u["acac_val"], "cpu_s_training": u["cpu_s_training"]}
            for x, u in naive.items()
        }
        save()
    lr = record["lr"]
    units = {
        "naive": naive.get(lr) or finetuned(lr, False),
        "multihead": finetuned(lr, True),
    }
    before = pre["ethanol_test"]
    for kind, unit in units.items():
        old = OLD_HEAD if kind == "multihead" else NEW_HEAD
        scored(ns, data, unit, {"ethanol_test": old, "acac_val": NEW_HEAD, "acac_test": NEW_HEAD}, refs)
        unit["rise"] = unit["ethanol_test"] - before
    naive, multihead = units["naive"], units["multihead"]
    return {
        "pretrain": pre,
        "references": refs,
        "ethanol_test_before": before,
        **units,
        "rise_ratio": multihead["rise"] / naive["rise"],
        "acac_ratio": multihead["acac_test"] / naive["acac_test"],
    }


def mace_version(venv: str) -> str:
    done = subprocess.run(
        [
            str(Path(venv) / "bin" / "python"),
            "-c",
            "from importlib import metadata as m; print(m.version('mace-torch'))",
        ],
        capture_output=True,
        text=True,
    )
    return done.stdout.strip() or "unknown"


def protocol(args, data: dict) -> dict:
    from forcefield_vs_mace import MACE_COMMON, MACE_SIZES

    hidden, ell, corr = MACE_SIZES[SIZE]
    return {
        "quick": args.quick,
        "pretrain_epochs": args.pretrain_epochs,
        "finetune_epochs": args.finetune_epochs,
        "lrs": args.lrs,
        "model": {"size": SIZE, "hidden_irreps": hidden, "max_ell": ell, "correlation": corr, **MACE_COMMON},
        "pretrain_schedule": "forcefield_vs_mace.mace_command: ExponentialLR to Stage Two at 3/4, "
        "Stage Two over the last quarter, EMA; validation on the held-out 5 %",
        "finetune": {**FINETUNE, "final_lr_factor": FINAL_LR_FACTOR, "ema": True},
        "heads": {"old": OLD_HEAD, "new": NEW_HEAD},
        "data": {k: v["sha256"] for k, v in data["record"]["files"].items()},
        "scoring": "float64, MACE's ASE calculator; force RMSE over Cartesian components, meV/A",
        "rule": RULE,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--pretrain-epochs", type=int, default=PRETRAIN_EPOCHS)
    parser.add_argument("--finetune-epochs", type=int, default=FINETUNE_EPOCHS)
    parser.add_argument(
        "--lrs", type=float, nargs="+", default=LRS, help="learning rates scanned by naive fine-tuning"
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run (module docstring)")
    parser.add_argument(
        "--results-name", help="write benchmarks/results/NAME.json (default forgetting_mace[_quick])"
    )
    parser.add_argument("--work", help="work folder (default benchmarks/out/NAME)")
    parser.add_argument("--resume", action="store_true", help="keep the finished seeds of the results file")
    parser.add_argument("--mace-venv", default=str(HERE / "out" / "mace-venv"))
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.pretrain_epochs, args.finetune_epochs = args.seeds[:1], 2, 1
        args.lrs = args.lrs[:2]
    name = args.results_name or ("forgetting_mace_quick" if args.quick else "forgetting_mace")
    if not (Path(args.mace_venv) / "bin" / "mace_run_train").exists():
        sys.exit(f"no MACE environment at {args.mace_venv}: see benchmarks/forcefield_vs_mace.py")
    sys.path.insert(0, str(HERE))
    from provenance import finish, start_record, write_results

    work = Path(args.work or HERE / "out" / name).resolve()
    data = prepare(work, args.quick)
    ns = mace_setup(args.mace_venv)
    record = start_record(
        name,
        protocol(args, data),
        argv,
        args.resume,
        data=data["record"],
        mace_torch=mace_version(args.mace_venv),
        lr=None,
        lr_scan={},
        seeds={},
    )

    def save() -> None:
        write_results(name, finish(record))

    for seed in args.seeds:
        if str(seed) in record["seeds"]:
            continue
        started = time.time()
        unit = run_seed(ns, data, seed, args, record, work, save)
        unit["wall_min"] = round((time.time() - started) / 60, 1)
        record["seeds"][str(seed)] = unit
        save()
        print(
            f"seed {seed}: rise naive {unit['naive']['rise']:.1f}, multihead {unit['multihead']['rise']:.1f} "
            f"meV/A (ratio {unit['rise_ratio']:.2f}); acetylacetone ratio {unit['acac_ratio']:.3f}",
            file=sys.stderr,
            flush=True,
        )
    save()
    print(render({name: record}, name))
    return 0


# rendering (standard library only) --------------------------------------------------------------
def _cell(values: list[float], digits: int = 1) -> str:
    mean, se = mean_se(values)
    return f"{mean:.{digits}f}" + (f" ± {se:.{digits}f}" if len(values) > 1 else "")


def _verdict(differences: list[float], lower: str, higher: str) -> str:
    """The rule on paired differences (multihead - naive; lower is better)."""
    if len(differences) < 2:
        return "no verdict (one seed)"
    mean, se = mean_se(differences)
    word = verdict_of(mean, se, above=higher, below=lower)
    return f"**{word}** ({mean:+.1f} ± {se:.1f} meV/Å over {len(differences)} seeds)"


def _measured(record: dict) -> str:
    sys.path.insert(0, str(HERE))
    from report import provenance_line  # beside this file

    return f"Measured by {provenance_line(record)}"


def render(results: dict, name: str = "forgetting_mace") -> str:
    """The per-seed table, means ± standard errors, the verdicts by the rule, the scan."""
    record = results[name]
    p = record["protocol"]
    seeds = sorted(record["seeds"], key=int)
    rows = [record["seeds"][s] for s in seeds]
    quick = " **Smoke run (`--quick`): not a measurement.**" if p.get("quick") else ""
    lines = [
        f"{_measured(record)}{quick} MACE {record.get('mace_torch', '?')} (`mace_run_train`), "
        f"{p['model']['size']} ({p['model']['hidden_irreps']}, max_ell {p['model']['max_ell']}, "
        f"correlation {p['model']['correlation']}); {p['pretrain_epochs']} pre-training and "
        f"{p['finetune_epochs']} fine-tuning epochs; learning rate "
        + (
            f"{record['lr']:g} (naive's best on acetylacetone validation, seed {record['lr_seed']})"
            if record["lr"]
            else "—"
        )
        + "; ethanol through the old head (`pt_head` for multihead).",
    ]
    if record.get("lr_scan"):
        lines += [
            "",
            "| naive lr (first seed) | acetylacetone val F RMSE |",
            "|---|---|",
            *(f"| {k} | {m['acac_val']:.1f} |" for k, m in record["lr_scan"].items()),
        ]
    if not rows:
        return "\n".join(lines) + "\n"
    columns = [
        ("ethanol test, pre-trained", lambda r: r["ethanol_test_before"], 1),
        ("naive: ethanol after", lambda r: r["naive"]["ethanol_test"], 1),
        ("naive: rise", lambda r: r["naive"]["rise"], 1),
        ("multihead: ethanol after", lambda r: r["multihead"]["ethanol_test"], 1),
        ("multihead: rise", lambda r: r["multihead"]["rise"], 1),
        ("rise ratio (multihead / naive)", lambda r: r["rise_ratio"], 2),
        ("naive: acetylacetone test", lambda r: r["naive"]["acac_test"], 1),
        ("multihead: acetylacetone test", lambda r: r["multihead"]["acac_test"], 1),
        ("acetylacetone ratio", lambda r: r["acac_ratio"], 3),
    ]
    lines += [
        "",
        "Force RMSE in meV/Å on the test frames (ethanol: 1,000 MD frames; acetylacetone: 100); "
        "ratios per seed to the same seed's naive run; last row: mean ± standard error over seeds.",
        "",
        "| seed | " + " | ".join(c[0] for c in columns) + " |",
        "|---|" + "---|" * len(columns),
    ]
    for seed, r in zip(seeds, rows):
        lines.append(f"| {seed} | " + " | ".join(f"{get(r):.{d}f}" for _, get, d in columns) + " |")
    lines.append("| mean | " + " | ".join(_cell([get(r) for r in rows], d) for _, get, d in columns) + " |")
    cpu = {
        kind: sum(r[kind]["cpu_s_training"] for r in rows) / len(rows) / 60
        for kind in ("pretrain", "naive", "multihead")
    }
    lines += [
        "",
        f"By the rule ({record['protocol']['rule']}):",
        "",
        "- forgetting (ethanol rise, multihead − naive): "
        + _verdict([r["multihead"]["rise"] - r["naive"]["rise"] for r in rows], "ahead", "behind"),
        "- acetylacetone test error (multihead − naive): "
        + _verdict([r["multihead"]["acac_test"] - r["naive"]["acac_test"] for r in rows], "ahead", "behind"),
        "",
        f'Training CPU-minutes per run (mean over seeds, to MACE\'s "Training complete"): pre-training '
        f"{cpu['pretrain']:.1f}, naive {cpu['naive']:.1f}, multihead {cpu['multihead']:.1f} (every epoch "
        f"replays the {rows[0]['multihead']['replayed']['train'] if rows[0]['multihead'].get('replayed') else '?'} "
        "pre-training frames). The epoch of each fine-tuned model (MACE keeps its lowest acetylacetone "
        "validation loss), per seed: naive "
        + ", ".join(str(r["naive"]["scored_epoch"]) for r in rows)
        + "; multihead "
        + ", ".join(str(r["multihead"]["scored_epoch"]) for r in rows)
        + f" (epochs counted from 0, of {p['finetune_epochs']}).",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
