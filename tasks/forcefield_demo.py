"""``scipt demo forcefield``: pre-train on ethanol + methanol, fine-tune on acetylacetone, forget?

1. Data (written under ``OUT/data``, fixed seed): the shipped ethanol + methanol frames are split
   into pre-training and old-task validation frames; the 500 acetylacetone frames (another level
   of theory: UHF-PBE + D3) into 350 fine-tuning, 50 validation and 100 test frames; the shipped
   ethanol MD test frames (1,000) are the old task's test set.
2. Pre-training: the ``tiny`` potential on ethanol + methanol, with the EWC Fisher stored.
3. Fine-tuning on acetylacetone from the pre-trained model, three ways: ``full`` (naive: one head
   for both levels of theory), ``ewc`` with a new head for acetylacetone that owns the last
   interaction block, trained alone for the first third of the steps, then EWC on the shared
   blocks at ``EWC_LAMBDA`` lambda_0 (see :mod:`sciPT.domains.molecules.ewc` and
   :class:`sciPT.finetune.HeadWarmup`), and ``replay`` (one head, ``REPLAYED`` ethanol +
   methanol frames added to every batch of 8 new frames); each evaluates both molecules before
   and after, ethanol through the pre-trained head.
4. ``OUT/report.md``: forgetting on ethanol against the gain on acetylacetone, with a figure.

The same steps, with a sweep of the EWC strength, are the forgetting benchmark
(``benchmarks/forgetting.py``), which is where the demo's EWC recipe comes from.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch
from ase.io import read
from ase.io import write as ase_write

from sciPT import io, plots
from sciPT.domains.molecules.data import ACETYLACETONE_TRAIN, ETHANOL_ISOLATED, ETHANOL_METHANOL, ETHANOL_TEST
from sciPT.domains.molecules.presets import tiny as molecules_tiny
from sciPT.errors import DataError
from sciPT.files import resolve_data_path
from sciPT.pretrain import pretrain
from sciPT.run import RunDir

PRETRAIN_STEPS = 3000
FINETUNE_STEPS = 1500
#: naive fine-tuning's best learning rate on the acetylacetone validation frames (the scan of
#: benchmarks/forgetting.py, RESULTS_forgetting.md); every strategy of the demo uses it
FINETUNE_LR = 0.08
#: pre-training frames added to every batch of 8 new frames by the replay run (the validation
#: choice of benchmarks/forgetting.py among 1, 2 and 4)
REPLAYED = 1
#: the EWC step without old frames: the benchmark rule's choice (validation only) among warm-ups
#: of 250 and 500 of the 1,500 steps and strengths 0 to 0.3 lambda_0 (RESULTS_forgetting.md)
EWC_LAMBDA, EWC_WARMUP_FRACTION = 0.01, 1 / 3
ACAC_TRAIN, ACAC_VAL = 350, 50  # acetylacetone frames to fine-tune on, to validate; the rest test
#: the frames the demo writes into its folder, one XYZ file each
SPLIT_FILES = (
    "pretrain",
    "pretrain_val",
    "ethanol_val",
    "ethanol_test",
    "acac_train",
    "acac_val",
    "acac_test",
)


def split_data(out: Path, seed: int = 0) -> dict[str, Path]:
    """Write the demo's data files (module docstring) and return their paths."""
    rng = np.random.default_rng(seed)
    shipped = {p: resolve_data_path(p) for p in (ETHANOL_METHANOL, ETHANOL_TEST, ACETYLACETONE_TRAIN)}
    for given, found in shipped.items():
        # before anything is written: ase's read would raise a traceback after the first split
        if not found.is_file():
            raise DataError(f"{given}: file not found (the demo's shipped molecules)")
    out.mkdir(parents=True, exist_ok=True)
    paths = {name: out / f"{name}.xyz" for name in SPLIT_FILES}

    def write(path: Path, frames) -> None:
        # through a temporary file: a demo killed mid-split leaves no torn data file behind
        with io.atomic_path(path) as tmp:
            ase_write(tmp, frames, format="extxyz")

    old = read(shipped[ETHANOL_METHANOL], index=":")
    order = rng.permutation(len(old))
    held = set(order[: len(old) // 20].tolist())  # 5% held out, as the pre-training presets do
    write(paths["pretrain"], [a for i, a in enumerate(old) if i not in held])
    write(paths["pretrain_val"], [a for i, a in enumerate(old) if i in held])
    write(paths["ethanol_val"], [a for i, a in enumerate(old) if i in held and len(a) == 9])
    write(paths["ethanol_test"], read(shipped[ETHANOL_TEST], index=":"))
    new = read(shipped[ACETYLACETONE_TRAIN], index=":")
    order = rng.permutation(len(new))
    parts = (
        ("acac_train", order[:ACAC_TRAIN]),
        ("acac_val", order[ACAC_TRAIN : ACAC_TRAIN + ACAC_VAL]),
        ("acac_test", order[ACAC_TRAIN + ACAC_VAL :]),
    )
    for name, part in parts:
        write(paths[name], [new[i] for i in part])
    return paths


def pretrain_config(paths: dict[str, Path], steps: int = PRETRAIN_STEPS):
    cfg = molecules_tiny()
    cfg.data = dataclasses.replace(
        cfg.data,
        paths=[str(paths["pretrain"])],
        val_paths=[str(paths["pretrain_val"])],
        # absolute: the demo's frames are the shipped ethanol frames, split into its own folder, so these
        # are their references; the relative preset path would be dropped as the preset's
        # (domains.molecules.drop_preset_isolated_atoms) when run from the repository root
        isolated_atoms=str(resolve_data_path(ETHANOL_ISOLATED).resolve()),
    )
    every = max(1, steps // 6)
    cfg.train = dataclasses.replace(cfg.train, max_steps=steps, val_every=every, checkpoint_every=every)
    return cfg


def pretrain_command(cfg, out: Path) -> str:
    """The ``scipt pretrain`` command that makes the pre-training run of ``pretrain_config`` in
    ``out`` (for its report, which a reader may rerun or change)."""
    q = lambda path: shlex.quote(str(path))  # noqa: E731
    return (
        f"scipt pretrain molecules --data {' '.join(map(q, cfg.data.paths))} --data.val-paths "
        f"{' '.join(map(q, cfg.data.val_paths))} --data.isolated-atoms {q(cfg.data.isolated_atoms)} "
        f"--max-steps {cfg.train.max_steps} --val-every {cfg.train.val_every} "
        f"--checkpoint-every {cfg.train.checkpoint_every} --out {q(out)}"
    )


def finetune_command(out: Path) -> str:
    """The ``scipt finetune`` command that makes the fine-tuning run in ``out``. Its settings are a
    dozen flags, some computed (the EWC strength from the stored Fisher's scale), so it reads them
    from the config.yaml the run writes (another ``--out`` runs it again)."""
    return f"scipt finetune forcefield --config {shlex.quote(str(out / 'config.yaml'))} --out {shlex.quote(str(out))}"


def finetune_config(
    init: Path,
    paths: dict[str, Path],
    strategy: str,
    steps: int = FINETUNE_STEPS,
    lr: float = FINETUNE_LR,
    replayed: int = 0,
    head: str | None = None,
    seed: int = 0,
    old_head_distillation: float = 0.0,
    head_blocks: int | None = None,
    **finetune,
):
    """Fine-tuning on the acetylacetone split; ``replayed`` pre-training frames are *added* to every
    batch of 8 new frames (batch ``8 + replayed``), so replay sees as many new frames per step as
    the other strategies, whatever the strategy (``ewc`` + replay). ``head``: the head to train
    (``None``: a new head, named after the acetylacetone file; the pre-trained head's name: one
    head for both levels of theory, the behaviour before heads). ``old_head_distillation``: keep
    the old head's predictions on the new frames (:mod:`sciPT.domains.molecules.lwf`).
    ``head_blocks``: the last interaction blocks a new head owns (``ForcefieldConfig.head_blocks``)."""
    from .forcefield_config import ForcefieldConfig

    cfg = ForcefieldConfig(
        init=str(init),
        test=[str(paths["acac_test"])],
        eval=[str(paths["ethanol_val"]), str(paths["ethanol_test"])],
        old_head_distillation=old_head_distillation,
        head_blocks=head_blocks,
    )
    cfg.data = dataclasses.replace(
        cfg.data, paths=[str(paths["acac_train"])], val_paths=[str(paths["acac_val"])], head=head
    )
    if replayed:
        finetune["replay_fraction"] = replayed / (cfg.train.batch_size + replayed)
        cfg.replay = True
    cfg.finetune = dataclasses.replace(cfg.finetune, strategy=strategy, **finetune)
    every = max(1, steps // 6)
    cfg.train = dataclasses.replace(
        cfg.train,
        max_steps=steps,
        val_every=every,
        checkpoint_every=every,
        lr=lr,
        batch_size=cfg.train.batch_size + replayed,
        seed=seed,
    )
    return cfg


FORCES = "forces_rmse_meV_per_A"
COLUMNS = {  # metric key -> what it is
    f"eval_ethanol_test_before_{FORCES}": "ethanol test, pre-trained",
    f"eval_ethanol_test_{FORCES}": "ethanol test, after",
    f"test_acac_test_{FORCES}": "acetylacetone test, after",
    f"eval_ethanol_val_{FORCES}": "ethanol val, after",
    f"val_{FORCES}": "acetylacetone val, after",
}


def strategy_label(finetune: dict) -> str:
    """A run's strategy as tables and plots name it, from its ``finetune`` config section: the
    strategy, with " decoupled" for an anchor applied outside the optimizer."""
    strategy = finetune["strategy"]
    if strategy in ("ewc", "l2sp") and finetune.get("anchor") == "decoupled":
        strategy += " decoupled"
    return strategy


def summarise(runs: dict[str, RunDir], png: Path) -> list[str]:
    """A table of force RMSEs of every run (meV/Å) and a forgetting-against-gain figure."""
    rows = {name: run.read_metrics() for name, run in runs.items()}
    lines = [
        "| run | " + " | ".join(COLUMNS.values()) + " | ethanol increase |",
        "|---|" + "---|" * (len(COLUMNS) + 1),
    ]
    for name, m in rows.items():
        increase = m[f"eval_ethanol_test_{FORCES}"] - m[f"eval_ethanol_test_before_{FORCES}"]
        lines.append(f"| {name} | " + " | ".join(f"{m[k]:.1f}" for k in COLUMNS) + f" | {increase:+.1f} |")
    fig, ax = plots.plt.subplots(figsize=(5.6, 4.4))
    style = {
        "full": ("k", "*"),
        "ewc": ("C0", "o"),
        "l2sp": ("C1", "s"),
        "replay": ("C2", "^"),
        "ewc decoupled": ("C3", "o"),
        "l2sp decoupled": ("C5", "s"),
    }
    by_strategy: dict[str, list] = {}
    for name, m in rows.items():
        strategy = strategy_label(runs[name].read_config()["finetune"])
        by_strategy.setdefault(strategy, []).append(
            (m[f"test_acac_test_{FORCES}"], m[f"eval_ethanol_test_{FORCES}"], name)
        )
    for strategy, points in by_strategy.items():
        color, marker = style.get(strategy, ("C4", "D"))
        x, y, names = zip(*points)
        ax.plot(
            x,
            y,
            marker=marker,
            color=color,
            ls="-" if len(points) > 1 else "",
            lw=0.8,
            ms=9 if marker == "*" else 6,
            label="naive" if strategy == "full" else strategy,
        )
        if len(points) > 1:
            for xi, yi, name in points:
                ax.annotate(
                    name.split(" ", 1)[-1].replace(" decoupled", ""),
                    (xi, yi),
                    fontsize=6,
                    xytext=(3, 3),
                    textcoords="offset points",
                )
    first = next(iter(rows.values()))
    ax.axhline(
        first[f"eval_ethanol_test_before_{FORCES}"],
        ls="--",
        color="grey",
        lw=1,
        label="ethanol, pre-trained model",
    )
    ax.set(
        xlabel="acetylacetone test force RMSE (meV/Å)",
        ylabel="ethanol test force RMSE (meV/Å)",
        title="forgetting (up) against learning (left)",
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    plots.save(fig, png)
    return lines


def change(value: float) -> str:
    """A change of a force RMSE in words: "rose by 0.52 meV/Å", "fell by 1.20 meV/Å"."""
    if value == 0:
        return "did not change"
    return f"{'rose' if value > 0 else 'fell'} by {abs(value):.2f} meV/Å"


def against_naive(name: str, increase: float, naive_increase: float, relative: float) -> str:
    """The report's line comparing strategy ``name`` with naive fine-tuning. ``increase`` and
    ``naive_increase``: the change of each one's ethanol test force RMSE (meV/Å); ``relative``: its
    acetylacetone test force RMSE over naive's, minus 1.

    A ratio of increases reads as forgetting only when both rose: an error that fell would make it
    negative, one that naive left unchanged infinite, so then the two changes are given instead."""
    if increase > 0 and naive_increase > 0:
        ethanol = f"ethanol error increase {increase / naive_increase:.2f} × naive's"
    else:
        ethanol = f"the ethanol error {change(increase)} (naive's {change(naive_increase)})"
    percent = f"{100 * abs(relative):.1f}"
    if float(percent) == 0:
        acac = "the same as naive's (to 0.1 %)"
    else:
        acac = f"{percent} % {'above' if relative > 0 else 'below'} naive's"
    return f"- {name}: {ethanol}; acetylacetone test error {acac}."


def steps_note(max_steps: int | None) -> str:
    """The report's warning that ``--max-steps`` changed the demo's length ("" if it did not)."""
    if max_steps is None:  # the demo's own length
        return ""
    if max_steps < min(PRETRAIN_STEPS, FINETUNE_STEPS):
        than = "fewer than"
    elif max_steps > max(PRETRAIN_STEPS, FINETUNE_STEPS):
        than = "more than"
    else:
        than = "instead of"
    return (
        f"Run with `--max-steps {max_steps}`: {max_steps:,} pre-training and {max_steps:,} fine-tuning "
        f"steps, {than} the demo's {PRETRAIN_STEPS:,} and {FINETUNE_STEPS:,}. The comparison may not "
        "show what the default run shows (its learning rate, EWC strength and warm-up were chosen "
        "for the default length)."
    )


def demo(args: argparse.Namespace) -> int:
    from .forcefield_train import run_finetune

    out = Path(args.out)
    io.refuse_unless_empty_folder(out)
    if "OMP_NUM_THREADS" not in os.environ:
        # The tiny potential's tensors are too small for intra-op threads to pay off, and threads
        # that wait for a busy core stall: pre-training ran at 0.8 steps/s with torch's default two
        # threads against 49 with one, on the 2-core machine while another process used a core.
        torch.set_num_threads(1)
    started = time.time()
    steps = args.max_steps or FINETUNE_STEPS
    print("[1/5] splitting the shipped ethanol + methanol and acetylacetone frames", file=sys.stderr)
    paths = split_data(out / "data")
    print(
        "[2/5] pre-training the tiny potential on ethanol + methanol (with the EWC Fisher)", file=sys.stderr
    )
    cfg = pretrain_config(paths, args.max_steps or PRETRAIN_STEPS)
    pre = pretrain("molecules", cfg, out / "pretrain", command=pretrain_command(cfg, out / "pretrain"))
    from sciPT.checkpoint import from_pretrained
    from sciPT.domains.molecules.ewc import ewc_scale

    exported = from_pretrained(pre.path)
    scale, old_head = ewc_scale(exported.extras), exported.model.head_names[-1]
    plans = {
        "full": {"head": old_head},
        # a new head owning the last block, alone first: EWC on the shared blocks after
        "ewc": {"ewc_lambda": EWC_LAMBDA * scale, "head_warmup": EWC_WARMUP_FRACTION},
        "replay": {"replayed": REPLAYED, "head": old_head},
    }
    runs = {}
    for k, (strategy, extra) in enumerate(plans.items(), start=3):
        print(f"[{k}/5] fine-tuning on acetylacetone: {strategy}", file=sys.stderr)
        runs[strategy] = run_finetune(
            finetune_config(pre.path, paths, strategy, steps, **extra),
            out / f"finetune-{strategy}",
            command=finetune_command(out / f"finetune-{strategy}"),
        )
    table = summarise(runs, out / "forgetting.png")
    warmup_steps = json.loads(runs["ewc"].metrics.read_text())["head_warmup_steps"]  # as the run settled it
    minutes = (time.time() - started) / 60
    metrics = {name: run.read_metrics() for name, run in runs.items()}
    increase = {
        k: m[f"eval_ethanol_test_{FORCES}"] - m[f"eval_ethanol_test_before_{FORCES}"]
        for k, m in metrics.items()
    }
    new = {
        k: m[f"test_acac_test_{FORCES}"] / metrics["full"][f"test_acac_test_{FORCES}"] - 1
        for k, m in metrics.items()
    }
    verdict = [against_naive(name, increase[name], increase["full"], new[name]) for name in ("ewc", "replay")]
    note = steps_note(args.max_steps)
    io.write_text(
        out / "report.md",
        "\n".join(
            [
                "# Force-field demo: forgetting ethanol while learning acetylacetone",
                "",
                "The tiny equivariant potential is pre-trained on the shipped rMD17 ethanol + methanol frames "
                "(PBE/def2-SVP), then fine-tuned on acetylacetone frames computed at another level of theory "
                "(UHF-PBE + D3), three ways: naive (one head for both levels of theory), EWC with a new "
                "head for acetylacetone (the head owns the last interaction block and trains alone first, "
                "then EWC on the shared blocks; the ethanol head frozen), and replay (one head). Force RMSE in meV/Å; ethanol is evaluated through the pre-trained head "
                "with the pre-trained reference energies, before (pre-trained) and after fine-tuning.",
                "",
                *([note, ""] if note else []),
                *table,
                "",
                *verdict,
                "",
                f"EWC: the new head alone for the first {warmup_steps} of {steps} steps, then λ = {EWC_LAMBDA:g} λ₀ "
                f"(λ₀ = {scale:.3g}, the scale of the stored Fisher, sciPT.domains.molecules.ewc); replay: {REPLAYED} pre-training frame(s) added to every batch of 8 new frames. "
                f"All runs use learning rate {FINETUNE_LR:g} (naive fine-tuning's best on the acetylacetone "
                "validation frames, benchmarks/RESULTS_forgetting.md).",
                "",
                "![forgetting](forgetting.png)",
                "",
                "## Runs",
                "",
                "- [pre-training](pretrain/report.md)",
                *[f"- [{name}](finetune-{name}/report.md)" for name in runs],
                "",
                f"Total wall time {minutes:.1f} min.",
                "",
            ]
        ),
    )
    print("\n".join(table), file=sys.stderr)
    if note:
        print(note, file=sys.stderr)
    print(f"demo written to {out} ({minutes:.1f} min); read {out / 'report.md'}", file=sys.stderr)
    return 0
