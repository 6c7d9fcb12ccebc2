"""Forgetting benchmark: ethanol force RMSE before and after fine-tuning on acetylacetone.

    python benchmarks/forgetting.py --out runs/bench-forgetting [--pretrained RUN]
        [--pretrain-steps 3000] [--steps 1500] [--lrs 0.005 0.02 0.08 0.16]
        [--lambdas 0.003 0.01 0.03 0.1 1 10 100] [--ewc-lrs 0.04 0.16]
        [--l2sp 1e-4 1e-3 1e-2] [--replay 1 2 4] [--anchor loss decoupled]

Protocol (the data split of ``scipt demo forcefield``, :mod:`sciPT.tasks.forcefield_demo`):

1. the ``tiny`` potential is pre-trained on 95% of the shipped ethanol + methanol frames (the
   other 5% are the old task's validation frames), with the EWC Fisher stored in the export (the
   Gauss-Newton Fisher by default, :mod:`sciPT.domains.molecules.ewc`);
2. naive fine-tuning (``full``) on 350 acetylacetone frames (50 validation, 100 test) at every
   learning rate of ``--lrs``; the one with the lowest acetylacetone validation force RMSE is the
   naive baseline, and its learning rate is used by every other run (the baseline is tuned, not
   bent), except that EWC may also be run at the learning rates of ``--ewc-lrs`` (a stiff penalty
   under Adam may want its own). Then, from the same pre-trained model,
   ``ewc`` at every ``lambda`` of ``--lambdas`` (in units of the export's ``lambda_0``: 1 for the
   Gauss-Newton Fisher, where ``lambda = 1`` is the diagonal quadratic model of the pre-training
   loss), ``l2sp`` at every ``alpha`` of ``--l2sp`` (EWC with a uniform Fisher, for comparison)
   and ``replay`` with every number of ``--replay`` pre-training frames added to each batch of 8
   new frames (so every strategy sees the same new frames per step); ``ewc`` and ``l2sp`` run
   with each ``--anchor`` (the penalty in the loss, or as a proximal step after each optimizer
   step, :mod:`sciPT.finetune.strategies`), and the rule below treats each anchor as a strategy
   of its own;
3. each strategy's strength (lambda, alpha, replayed frames) is chosen on validation data only, by
   a rule fixed in advance: the largest one whose acetylacetone *validation* force RMSE stays
   within 10% of naive fine-tuning's; where a strategy ran at several learning rates, the rule
   picks one run per learning rate and, of these, the one with the lowest ethanol *validation*
   force RMSE. The test frames (1,000 ethanol MD frames, 100 acetylacetone frames) are used for
   nothing but the final table.

Two checks of EWC's penalty, for every EWC run, on the ethanol validation frames only:

- its quadratic model: the increase of the pre-training loss it predicts,
  ``lambda_0/2 sum_i F_i (w_i - w0_i)^2``, against the increase measured;
- where the forgetting sits: the ethanol validation force RMSE with one parameter tensor at a
  time put back to its pre-trained value (the others fine-tuned); the tensor whose restoration
  helps most is reported.

Target (issue 5): EWC keeps the ethanol error increase under a quarter of naive fine-tuning's while
the acetylacetone error stays within 10% of naive's. Results go to ``OUT/results.json`` and
``OUT/results.md`` (with ``OUT/forgetting.png``), and to ``benchmarks/results/NAME.json``
(``--results-name``, default ``forgetting``): provenance (command, commit, versions, CPU, load
before and after), the arguments, every run's metrics, the learning-rate scan, the choices, the
checks and the Fisher comparison. ``render`` turns that file into the tables of
RESULTS_forgetting.md and redraws ``benchmarks/forgetting.png`` (``python benchmarks/report.py``).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sciPT.run import RunDir

HERE = Path(__file__).resolve().parent
FORCES = "forces_rmse_meV_per_A"  # sciPT.tasks.forcefield_demo.FORCES (checked in main)
COLUMNS = {  # metric key -> what it is (sciPT.tasks.forcefield_demo.COLUMNS)
    f"eval_ethanol_test_before_{FORCES}": "ethanol test, pre-trained",
    f"eval_ethanol_test_{FORCES}": "ethanol test, after",
    f"test_acac_test_{FORCES}": "acetylacetone test, after",
    f"eval_ethanol_val_{FORCES}": "ethanol val, after",
    f"val_{FORCES}": "acetylacetone val, after",
}


def choose(runs: dict[str, dict], naive: dict, tolerance: float = 0.10) -> str | None:
    """At each learning rate, the run with the largest strength whose acetylacetone validation
    force RMSE is within ``tolerance`` of naive's; of these (one per learning rate), the one with the
    lowest ethanol validation force RMSE. Validation metrics only."""
    limit = (1 + tolerance) * naive[f"val_{FORCES}"]
    best: dict[float, tuple] = {}
    for name, m in runs.items():
        if m[f"val_{FORCES}"] <= limit and (m["lr"] not in best or m["strength"] > best[m["lr"]][0]):
            best[m["lr"]] = (m["strength"], name)
    if not best:
        return None
    return min((runs[name][f"eval_ethanol_val_{FORCES}"], name) for _, name in best.values())[1]


def old_loss(m: dict, prefix: str) -> float:
    """The per-frame energy + force loss (weights 1, eV and Angstrom) from a set's RMSEs."""
    return (m[f"{prefix}_energy_rmse_meV_per_atom"] / 1000) ** 2 + (m[f"{prefix}_{FORCES}"] / 1000) ** 2


def quadratic_check(pre, run: RunDir, metrics: dict) -> dict:
    """EWC's predicted increase of the old loss against the one measured on ethanol validation."""
    from sciPT.checkpoint import from_pretrained
    from sciPT.domains.molecules.ewc import ewc_scale
    from sciPT.finetune import load_fisher

    fisher = load_fisher(pre.extras)
    after = from_pretrained(run.path).model.state_dict()
    w0 = pre.model.state_dict()
    moved = sum(float((fisher[n] * (after[n] - w0[n]) ** 2).sum()) for n in fisher)
    predicted = 0.5 * ewc_scale(pre.extras) * moved
    measured = old_loss(metrics, "eval_ethanol_val") - old_loss(metrics, "eval_ethanol_val_before")
    return {
        "predicted_old_loss_increase": predicted,
        "measured_old_loss_increase": measured,
        "weights_moved_sq": sum(float(((after[n] - w0[n]) ** 2).sum()) for n in fisher),
    }


def force_rmse(model, graphs: list) -> float:
    """Force RMSE (meV/Angstrom) of ``model`` on ``graphs``."""
    import torch

    from sciPT.domains.molecules.dataset import batches

    model.eval()
    squared, count = 0.0, 0
    for batch in batches(graphs, 32):
        error = model(batch)["forces"] - batch.forces.to(torch.float64)
        squared, count = squared + float(error.square().sum()), count + error.numel()
    return 1000 * (squared / count) ** 0.5


def culprit(pre, run: RunDir, graphs: list) -> dict:
    """The parameter tensor whose return to its pre-trained value (the others left fine-tuned)
    lowers the ethanol validation force RMSE most, and that RMSE."""
    import torch

    from sciPT.checkpoint import from_pretrained

    model = from_pretrained(pre.path).model  # pre-trained references: forces do not depend on them
    w0 = {n: p.detach().clone() for n, p in model.named_parameters()}
    after = {n: p.detach().clone() for n, p in from_pretrained(run.path).model.named_parameters()}
    best = (float("inf"), "")
    for name in w0:
        with torch.no_grad():
            for n, p in model.named_parameters():
                p.copy_(w0[n] if n == name else after[n])
        best = min(best, (force_rmse(model, graphs), name))
    return {"culprit": best[1], "culprit_restored_ethanol_val_rmse": best[0]}


def compare_fishers(paths: dict, exported) -> list[dict]:
    """Per parameter tensor, the Gauss-Newton Fisher against the empirical one (times its
    lambda_0), both on the frames the export's Fisher was computed on; last, all tensors."""
    import torch

    from sciPT.domains.molecules.dataset import prepare
    from sciPT.domains.molecules.ewc import energy_force_fisher, energy_force_gauss_newton, fisher_batches
    from sciPT.tasks.forcefield_demo import pretrain_config

    cfg = pretrain_config(paths)
    graphs = prepare(cfg.data, cfg.model, labelled=True, seed=cfg.train.seed).train
    frames = fisher_batches(graphs, cfg.fisher, cfg.train.seed)
    gn, _ = energy_force_gauss_newton(
        exported.model, cfg.objective, frames, seed=cfg.train.seed, progress=False
    )
    emp, loss = energy_force_fisher(exported.model, cfg.objective, frames, progress=False)
    rows = []
    for name in gn:
        a, b = gn[name].double().flatten(), (0.5 / loss * emp[name]).double().flatten()
        corr = (
            float(torch.corrcoef(torch.stack([a.clamp_min(1e-30).log(), b.clamp_min(1e-30).log()]))[0, 1])
            if a.numel() > 2
            else None
        )
        rows.append(
            {
                "tensor": name,
                "weights": a.numel(),
                "mean_gauss_newton": float(a.mean()),
                "mean_lambda0_empirical": float(b.mean()),
                "ratio": float(a.sum() / b.sum()),
                "log_correlation": corr,
            }
        )
    total = sum(float(v.sum()) for v in gn.values()) / sum(float(v.sum()) for v in emp.values())
    rows.append(
        {"tensor": "all", "weights": sum(v.numel() for v in gn.values()), "ratio": total * 2 * float(loss)}
    )
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="runs/bench-forgetting")
    parser.add_argument("--pretrained", help="reuse this pre-training run (made on OUT/data's split)")
    parser.add_argument("--pretrain-steps", type=int, default=3000)
    parser.add_argument("--steps", type=int, default=1500, help="fine-tuning steps per run")
    parser.add_argument(
        "--lrs",
        type=float,
        nargs="+",
        default=[0.005, 0.02, 0.08, 0.16],
        help="learning rates scanned by naive fine-tuning",
    )
    parser.add_argument(
        "--lambdas",
        type=float,
        nargs="+",
        default=[0.003, 0.01, 0.03, 0.1, 1, 10, 100],
        help="EWC strengths in units of lambda_0",
    )
    parser.add_argument(
        "--ewc-lrs",
        type=float,
        nargs="*",
        default=[],
        help="learning rates EWC is also run at, besides naive's (every lambda)",
    )
    parser.add_argument(
        "--replay",
        type=int,
        nargs="+",
        default=[1, 2, 4],
        help="pre-training frames added to every batch of 8 new frames",
    )
    parser.add_argument("--l2sp", type=float, nargs="*", default=[], help="L2-SP strengths alpha")
    parser.add_argument(
        "--anchor",
        nargs="+",
        choices=["loss", "decoupled"],
        default=["loss"],
        help="how ewc and l2sp apply their pull (each is run)",
    )
    parser.add_argument("--results-name", default="forgetting", help="write benchmarks/results/NAME.json")
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.path.insert(0, str(HERE))
    from provenance import finish, provenance, write_results

    record = {"provenance": provenance(argv), "args": vars(args)}
    import torch

    from sciPT.checkpoint import from_pretrained
    from sciPT.domains.molecules.data import MoleculeDataConfig, read_frames
    from sciPT.domains.molecules.dataset import to_graphs
    from sciPT.domains.molecules.ewc import ewc_scale
    from sciPT.pretrain import pretrain
    from sciPT.run import RunDir
    from sciPT.tasks import forcefield_demo
    from sciPT.tasks.forcefield import run_finetune
    from sciPT.tasks.forcefield_demo import (
        finetune_config,
        pretrain_config,
        split_data,
        strategy_label,
        summarise,
    )

    assert forcefield_demo.FORCES == FORCES and forcefield_demo.COLUMNS == COLUMNS, "update FORCES/COLUMNS"
    torch.set_num_threads(1)
    out = Path(args.out)
    started = time.time()
    paths = split_data(out / "data")
    pre = (
        RunDir(args.pretrained)
        if args.pretrained
        else (
            RunDir(out / "pretrain")
            if (out / "pretrain" / "model").is_dir()
            else pretrain(
                "molecules",
                pretrain_config(paths, args.pretrain_steps),
                out / "pretrain",
                command="benchmarks/forgetting.py (pre-training)",
            )
        )
    )
    exported = from_pretrained(pre.path)
    ethanol_val = to_graphs(
        read_frames(str(paths["ethanol_val"]), MoleculeDataConfig()),
        exported.model.cfg.cutoff,
        "ethanol validation graphs",
    )
    scale = ewc_scale(exported.extras)
    runs, metrics = {}, {}

    def run(name: str, strategy: str, strength, lr: float, **extra) -> None:
        folder = (
            out
            / "runs"
            / (
                name.replace(" ", "_")
                .replace("λ₀", "l0")
                .replace("λ=", "lambda")
                .replace("α=", "alpha")
                .replace("=", "")
            )
        )
        if not (folder / "metrics.json").is_file():
            print(f"--- {name}", file=sys.stderr)
            cfg = finetune_config(pre.path, paths, strategy, args.steps, lr, **extra)
            run_finetune(cfg, folder, command=f"benchmarks/forgetting.py ({name})")
        runs[name] = RunDir(folder)
        metrics[name] = {
            **runs[name].read_metrics(),
            "strength": strength,
            "lr": lr,
            "strategy": strategy_label(runs[name].read_config()["finetune"]),
        }

    for lr in args.lrs:
        run(f"naive lr={lr:g}", "full", None, lr)
    lr = min(args.lrs, key=lambda x: metrics[f"naive lr={x:g}"][f"val_{FORCES}"])
    scan = {f"naive lr={x:g}": metrics.pop(f"naive lr={x:g}") for x in args.lrs}
    for x in args.lrs:
        runs.pop(f"naive lr={x:g}")
    run(f"naive lr={lr:g}", "full", None, lr)
    plans = {}
    for anchor in args.anchor:
        tag = "" if anchor == "loss" else " decoupled"
        for ewc_lr in [lr] + [x for x in args.ewc_lrs if x != lr]:
            suffix = tag + ("" if ewc_lr == lr else f" lr={ewc_lr:g}")
            for units in args.lambdas:
                plans[f"ewc λ={units:g}λ₀{suffix}"] = (
                    "ewc",
                    {"ewc_lambda": units * scale, "anchor": anchor},
                    units,
                    ewc_lr,
                )
        for alpha in args.l2sp:
            plans[f"l2sp α={alpha:g}{tag}"] = ("l2sp", {"l2sp_alpha": alpha, "anchor": anchor}, alpha, lr)
    for frames in args.replay:
        plans[f"replay +{frames}"] = ("replay", {"replayed": frames}, frames, lr)
    for name, (strategy, extra, strength, run_lr) in plans.items():
        run(name, strategy, strength, run_lr, **extra)
        if strategy == "ewc":
            metrics[name].update(quadratic_check(exported, runs[name], metrics[name]))
            metrics[name].update(culprit(pre, runs[name], ethanol_val))
    naive_name = f"naive lr={lr:g}"
    naive = metrics[naive_name]
    kinds = dict.fromkeys(v["strategy"] for v in metrics.values() if v["strategy"] != "full")
    chosen = {
        kind: choose({k: v for k, v in metrics.items() if v["strategy"] == kind}, naive) for kind in kinds
    }
    table = summarise(runs, out / "forgetting.png")
    before = naive[f"eval_ethanol_test_before_{FORCES}"]
    increase = {k: m[f"eval_ethanol_test_{FORCES}"] - before for k, m in metrics.items()}
    verdict = []
    for kind, name in chosen.items():
        if name is None:
            verdict.append(
                f"{kind}: no strength keeps the acetylacetone validation error within 10% of naive's"
            )
            continue
        m = metrics[name]
        ratio = increase[name] / increase[naive_name]
        new = m[f"test_acac_test_{FORCES}"] / naive[f"test_acac_test_{FORCES}"] - 1
        verdict.append(
            f"{name}: ethanol increase {ratio:.2f} × naive's (target < 0.25), "
            f"acetylacetone test RMSE {100 * new:+.1f}% of naive's (target within ±10%)"
        )
    result = {
        "lambda_0": scale,
        "lr": lr,
        "naive": naive_name,
        "chosen": chosen,
        "runs": metrics,
        "increase": increase,
        "lr_scan": scan,
        "verdict": verdict,
        "fishers": compare_fishers(paths, exported),
        "wall_time_min": (time.time() - started) / 60,
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"torch {torch.__version__}",
    }
    result = json.loads(json.dumps(result, default=float))  # tensors and numpy scalars as floats
    (out / "results.json").write_text(json.dumps(result, indent=1))
    record.update(result)
    path = write_results(args.results_name, finish(record))
    print(f"wrote {path}", file=sys.stderr)
    text = "\n".join([*table, "", render({args.results_name: record}, args.results_name, figure=False)])
    (out / "results.md").write_text(text)
    print(text)
    return 0


# --- rendering (standard library and matplotlib only) -----------------------------------------------


def _measured(record: dict) -> str:
    try:  # report.py's provenance line (report.py is beside this file)
        sys.path.insert(0, str(HERE))
        from report import provenance_line

        return f"Measured by {provenance_line(record)}"
    except ImportError:
        return f"Measured by `{record['provenance']['command']}`."


def results_table(record: dict) -> list[str]:
    """Every run's force RMSEs (meV/Å) and its ethanol increase."""
    lines = [
        "| run | " + " | ".join(COLUMNS.values()) + " | ethanol increase |",
        "|---|" + "---|" * (len(COLUMNS) + 1),
    ]
    for name, m in record["runs"].items():
        increase = m[f"eval_ethanol_test_{FORCES}"] - m[f"eval_ethanol_test_before_{FORCES}"]
        lines.append(f"| {name} | " + " | ".join(f"{m[k]:.1f}" for k in COLUMNS) + f" | {increase:+.1f} |")
    return lines


def figure_png(record: dict) -> bytes:
    """Forgetting (ethanol test error, up) against learning (acetylacetone test error, left)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    style = {
        "full": ("k", "*"),
        "ewc": ("C0", "o"),
        "l2sp": ("C1", "s"),
        "replay": ("C2", "^"),
        "ewc decoupled": ("C3", "o"),
        "l2sp decoupled": ("C5", "s"),
    }
    fig, ax = plt.subplots(figsize=(5.6, 4.4))
    by_strategy: dict[str, list] = {}
    for name, m in record["runs"].items():
        point = (m[f"test_acac_test_{FORCES}"], m[f"eval_ethanol_test_{FORCES}"], name)
        by_strategy.setdefault(m["strategy"], []).append(point)
    for strategy, points in by_strategy.items():
        color, marker = style.get(strategy, ("C4", "D"))
        x, y, _ = zip(*points)
        label = "naive" if strategy == "full" else strategy
        ms = 9 if marker == "*" else 6
        ax.plot(
            x, y, marker=marker, color=color, ls="-" if len(points) > 1 else "", lw=0.8, ms=ms, label=label
        )
        if len(points) > 1:
            for xi, yi, name in points:
                text = name.split(" ", 1)[-1].replace(" decoupled", "")
                ax.annotate(text, (xi, yi), fontsize=6, xytext=(3, 3), textcoords="offset points")
    first = next(iter(record["runs"].values()))
    before = first[f"eval_ethanol_test_before_{FORCES}"]
    ax.axhline(before, ls="--", color="grey", lw=1, label="ethanol, pre-trained model")
    ax.set(
        xlabel="acetylacetone test force RMSE (meV/Å)",
        ylabel="ethanol test force RMSE (meV/Å)",
        title="forgetting (up) against learning (left)",
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return buffer.getvalue()


def render(results: dict, name: str = "forgetting", figure: bool = True) -> str:
    """RESULTS_forgetting.md: the learning-rate scan, every run, the choices, the checks of EWC's
    penalty and the Fisher comparison; with ``figure``, redraws ``benchmarks/NAME.png`` from the
    same file."""
    record = results[name]
    runs, naive = record["runs"], record["runs"][record["naive"]]
    lines = [
        f"{_measured(record)} λ₀ = {record['lambda_0']:.4g}; naive fine-tuning's learning rate "
        f"{record['lr']:g} (chosen on acetylacetone validation); {record['wall_time_min']:.0f} min wall.",
        "",
        "| naive lr | acetylacetone val F RMSE | ethanol val F RMSE |",
        "|---|---|---|",
        *(
            f"| {k.split('=')[1]} | {m[f'val_{FORCES}']:.1f} | {m[f'eval_ethanol_val_{FORCES}']:.1f} |"
            for k, m in record["lr_scan"].items()
        ),
        "",
        f"Force RMSE, meV/Å (the rule's limit on acetylacetone validation: {1.1 * naive[f'val_{FORCES}']:.1f}):",
        "",
        *results_table(record),
        "",
        "Chosen by the rule (validation only), against the target (ethanol increase under 0.25 × naive's, "
        "acetylacetone test within 10% of naive's):",
        "",
        *(f"- {v}" for v in record["verdict"]),
    ]
    checks = [(k, m) for k, m in runs.items() if "predicted_old_loss_increase" in m]
    if checks:
        lines += [
            "",
            "| EWC run | Σ Δw² | predicted old-loss increase (λ₀/2 Σ F Δw²) | measured (ethanol val) "
            "| ethanol val F RMSE | tensor whose restoration helps most | ethanol val F RMSE then |",
            "|---|---|---|---|---|---|---|",
            *(
                f"| {k} | {m['weights_moved_sq']:.1f} | {m['predicted_old_loss_increase']:.2e} | "
                f"{m['measured_old_loss_increase']:.2e} | {m[f'eval_ethanol_val_{FORCES}']:.1f} | "
                f"{m['culprit']} | {m['culprit_restored_ethanol_val_rmse']:.1f} |"
                for k, m in checks
            ),
        ]
    if record.get("fishers"):
        lines += [
            "",
            "Fishers of the pre-trained model, per tensor (Gauss-Newton against empirical × λ₀):",
            "",
            "| tensor | weights | mean GN F | mean λ₀·empirical F | ratio | log-correlation |",
            "|---|---|---|---|---|---|",
        ]
        for f in record["fishers"]:
            if f["tensor"] == "all":
                lines.append(f"| all | {f['weights']} | | | {f['ratio']:.1f} | |")
                continue
            corr = "" if f["log_correlation"] is None else f"{f['log_correlation']:.2f}"
            lines.append(
                f"| {f['tensor']} | {f['weights']} | {f['mean_gauss_newton']:.2e} | "
                f"{f['mean_lambda0_empirical']:.2e} | {f['ratio']:.1f} | {corr} |"
            )
    if figure:
        path = HERE / f"{name}.png"
        data = figure_png(record)
        if not path.is_file() or path.read_bytes() != data:
            tmp = path.with_name(f".{path.name}.tmp")
            tmp.write_bytes(data)
            tmp.replace(path)
        lines += ["", f"![forgetting against learning]({path.name})"]
    return "\n".join(lines) + "\n"


def render_decoupled(results: dict) -> str:
    """The second run (``--anchor loss decoupled``, ``--results-name forgetting_decoupled``)."""
    return render(results, "forgetting_decoupled")


if __name__ == "__main__":
    sys.exit(main())
