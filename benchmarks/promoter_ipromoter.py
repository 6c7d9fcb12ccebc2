"""iPromoter-2L, the published protocol (5-fold stratified CV, 2,860 + 2,860, 81 bp): pre-trained vs
scratch vs k-mer logistic regression, at all labels and at 5% of the labels, with the pre-training
corpus decontaminated; then genome-scan throughput on the E. coli genome.

    OMP_NUM_THREADS=1 python benchmarks/promoter_ipromoter.py --out benchmarks/out/ipromoter

CPU time is measured with getrusage (this process and its children), so the figure does not depend on
what else the machine runs; wall time is reported beside it.

Raw results go to ``benchmarks/results/promoter_ipromoter_seed{SEED}.json`` (``--results-name``):
provenance (command, commit, versions, CPU, load before and after), the seeds, the decontamination
counts, the pre-training metrics, every fold's metrics of every model at every label fraction, the
CPU and wall times and the genome scan; ``render`` (one run) and ``render_seeds`` (every
``promoter_ipromoter_seed*`` file: the comparison at 5% of the labels across seeds) turn them into
the tables of RESULTS.md and RESULTS_promoter.md (``python benchmarks/report.py``). The file is
rewritten after each stage, so a run stopped later keeps what it finished.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
MODELS = {  # cross-validated model -> how the tables name it
    "pre-trained": "pre-trained (decontaminated corpus)",
    "scratch": "scratch, same architecture and recipe",
    "k-mer LR": "k-mer logistic regression",
}


def cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main(argv: list[str] | None = None) -> None:
    import torch

    from sciPT.diagnostics.contamination import decontaminate
    from sciPT.domains.dna.data import DNA_SPEC, ECOLI_GENOME, read_pair
    from sciPT.metrics import summarise
    from sciPT.pretrain import pretrain
    from sciPT.run import RunDir
    from sciPT.sequences import Corpus, resolve_data_path
    from sciPT.tasks.promoter import PromoterConfig
    from sciPT.tasks.promoter_classifier import train_classifier
    from sciPT.tasks.promoter_demo import NEGATIVES, POSITIVES, PRETRAIN_STEPS, promoter_pretraining
    from sciPT.tasks.promoter_evaluation import cross_validate
    from sciPT.tasks.promoter_export import export_classifier, load_classifier
    from sciPT.tasks.promoter_scan import scan_genome
    from sciPT.tasks.promoter_start import Start, load_start

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", default="benchmarks/out/ipromoter")
    parser.add_argument("--pretrain-steps", type=int, default=PRETRAIN_STEPS)
    parser.add_argument("--scan-stride", type=int, default=10)
    parser.add_argument(
        "--fractions",
        type=float,
        nargs="+",
        default=[1.0, 0.05],
        help="label fractions cross-validated (1 = all labels)",
    )
    parser.add_argument(
        "--no-final", action="store_true", help="stop after cross-validation: no final model, no genome scan"
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="pre-training seed, and the seed of the folds and fine-tunes (a repeat with another "
        "seed measures how much the figures move between runs)",
    )
    parser.add_argument(
        "--results-name",
        help="write benchmarks/results/NAME.json (default: promoter_ipromoter_seed{SEED})",
    )
    args = parser.parse_args(argv)
    name = args.results_name or f"promoter_ipromoter_seed{args.seed}"
    sys.path.insert(0, str(HERE))
    from provenance import finish, provenance, write_results

    record = {"provenance": provenance(argv)}
    torch.set_num_threads(1)
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    t0, c0 = time.time(), cpu_seconds()
    results: dict = {}
    record["results"] = results
    record["seeds"] = {
        "pretraining": args.seed,
        "folds": f"StratifiedKFold(5, shuffle=True, random_state={args.seed})",
        "fine-tunes": f"{args.seed} + fold; ensemble members + 0, + 1000, + 2000",
        "label_subsets": f"train_test_split(random_state={args.seed} + fold, stratified)",
    }
    record["run"] = {
        "pretrain_steps": args.pretrain_steps,
        "fractions": args.fractions,
        "final_model": not args.no_final,
        "scan_stride": args.scan_stride,
        "threads": 1,
    }

    data = read_pair(resolve_data_path(POSITIVES), resolve_data_path(NEGATIVES))
    clean = out / "ecoli_decontaminated.fa.gz"
    results["decontamination"] = decontaminate(resolve_data_path(ECOLI_GENOME), data.codes, clean, DNA_SPEC)
    results["decontamination"]["cpu_s"] = cpu_seconds() - c0
    cfg = promoter_pretraining(str(clean))
    cfg.train.max_steps = args.pretrain_steps
    cfg.train.seed = args.seed
    cfg.train.val_every = cfg.train.checkpoint_every = max(1, args.pretrain_steps // 6)
    pretrain("dna", cfg, out / "pretrain")
    results["pretrain"] = {
        **json.loads((out / "pretrain/metrics.json").read_text()),
        "cpu_s": cpu_seconds() - c0 - results["decontamination"]["cpu_s"],
    }

    ft = PromoterConfig(init=str(out / "pretrain"), folds=5, baselines=True)
    ft.train.seed = args.seed
    pre = load_start(ft.init, ft)
    starts = {"pre-trained": pre, "scratch": Start("scratch", None, pre.model_cfg, pre.tokenizer, [], {})}
    for fraction in args.fractions:
        c1 = cpu_seconds()
        oof = cross_validate(starts, ft, data, 81, classical=True, train_fraction=fraction)
        row = {}
        for model, (_, per_fold) in oof.items():
            row.update(summarise(per_fold, model))
        row["cpu_s"] = cpu_seconds() - c1
        row["per_fold"] = {model: per_fold for model, (_, per_fold) in oof.items()}
        results[f"cv_fraction_{fraction:g}"] = row
        (out / "results.json").write_text(json.dumps(results, indent=1))  # kept if a later stage fails
        write_results(name, record)
        print(
            json.dumps(
                {
                    f"fraction {fraction:g}": {
                        k: round(v, 4) for k, v in row.items() if "accuracy" in k or "mcc_mean" in k
                    }
                }
            ),
            flush=True,
        )
    results["cpu_s_total_training_and_cv"] = cpu_seconds() - c0
    results["seed"] = args.seed
    if args.no_final:
        (out / "results.json").write_text(json.dumps(results, indent=1))
        write_results(name, finish(record))
        print(render({name: record}, name))
        return

    # a classifier trained on all the data (the target's CPU budget ends here), then the genome scan
    c1 = cpu_seconds()
    run = RunDir(out / "final")
    run.path.mkdir()
    final = train_classifier(pre, ft, data, 81, args.seed)
    export_classifier(run, final, pre, ft, 81)
    results["final_model_cpu_s"] = cpu_seconds() - c1
    results["cpu_s_total"] = cpu_seconds() - c0
    results["wall_s_through_final_model"] = time.time() - t0
    results["finetune_recipe"] = {
        "ensemble": ft.ensemble,
        "head": {"pooling": ft.head.pooling, "hidden": ft.head.hidden, "dropout": ft.head.dropout},
        "lr": ft.train.lr,
        "patience": ft.patience,
    }
    print(json.dumps({"cpu_s_total": round(results["cpu_s_total"], 1)}), flush=True)
    classifier, _ = load_classifier(run.path)
    genome = Corpus([str(resolve_data_path(ECOLI_GENOME))], DNA_SPEC)
    w0 = time.time()
    scanned = scan_genome(classifier, genome, 81, args.scan_stride, out / "ecoli.bedgraph", 1024)
    wall = time.time() - w0
    results["scan"] = {
        "bp": scanned,
        "stride": args.scan_stride,
        "wall_s": wall,
        "bp_per_s": scanned / wall,
        "windows_per_s": 2 * (scanned // args.scan_stride) / wall,
    }
    results["wall_s_total"] = time.time() - t0
    (out / "results.json").write_text(json.dumps(results, indent=1))
    path = write_results(name, finish(record))
    print(f"wrote {path}", file=sys.stderr)
    print(render({name: record}, name))


# --- rendering (standard library only) ---------------------------------------------------------


def _measured(record: dict) -> str:
    try:  # report.py's provenance line (report.py is beside this file)
        sys.path.insert(0, str(HERE))
        from report import provenance_line

        return f"Measured by {provenance_line(record)}"
    except ImportError:
        return f"Measured by `{record['provenance']['command']}`."


def _fractions(results: dict) -> list[tuple[float, dict]]:
    keys = [k for k in results if k.startswith("cv_fraction_")]
    return sorted(((float(k.removeprefix("cv_fraction_")), results[k]) for k in keys), reverse=True)


def render(results: dict, name: str = "promoter_ipromoter_seed0") -> str:
    """One run: accuracy, MCC and AUROC per label fraction and model, and where the CPU time went."""
    record = results[name]
    r = record["results"]
    lines = [
        _measured(record),
        "",
        "| labels | model | accuracy (mean ± std over folds) | MCC | AUROC |",
        "|---|---|---|---|---|",
    ]
    for fraction, row in _fractions(r):
        best = max(row[f"{m}_accuracy_mean"] for m in MODELS if f"{m}_accuracy_mean" in row)
        for model, label in MODELS.items():
            if f"{model}_accuracy_mean" not in row:
                continue
            acc = f"{row[f'{model}_accuracy_mean']:.3f} ± {row[f'{model}_accuracy_std']:.3f}"
            acc = f"**{acc}**" if row[f"{model}_accuracy_mean"] == best else acc
            lines.append(
                f"| {'all' if fraction == 1 else f'{100 * fraction:g}%'} | {label} | {acc} "
                f"| {row[f'{model}_mcc_mean']:.3f} | {row[f'{model}_auroc_mean']:.3f} |"
            )
    stages = [
        f"decontamination {r['decontamination']['cpu_s']:,.0f} s",
        f"pre-training {r['pretrain']['cpu_s']:,.0f} s"
        + (f" (validation loss {r['pretrain']['val_loss']:.4f})" if "val_loss" in r["pretrain"] else ""),
        *(
            f"cross-validation at {'all labels' if f == 1 else f'{100 * f:g}% of the labels'} {row['cpu_s']:,.0f} s"
            for f, row in _fractions(r)
        ),
    ]
    if "final_model_cpu_s" in r:
        stages.append(f"final model on all the data {r['final_model_cpu_s']:,.0f} s")
    total = r.get("cpu_s_total", r.get("cpu_s_total_training_and_cv"))
    wall = r.get("wall_s_through_final_model")
    lines += [
        "",
        f"CPU time (getrusage, process and children): {', '.join(stages)}: **{total:,.0f} s = "
        f"{total / 60:.1f} CPU-minutes in all**" + (f" ({wall / 60:.1f} min wall)" if wall else "") + ".",
    ]
    scan = r.get("scan")
    if scan:
        lines += [
            "",
            f"Genome scan with the final model: {scan['bp'] / 1e6:.2f} Mb, both strands, stride {scan['stride']}, "
            f"in {scan['wall_s']:.0f} s: {scan['windows_per_s']:,.0f} windows/s, {scan['bp_per_s']:,.0f} bp/s "
            "(one thread).",
        ]
    return "\n".join(lines) + "\n"


def render_seed1(results: dict) -> str:
    """The repeat with seed 1 (``--seed 1``), as :func:`render` shows seed 0."""
    return render(results, "promoter_ipromoter_seed1")


def render_seeds(results: dict, prefix: str = "promoter_ipromoter_seed", fraction: float = 0.05) -> str:
    """Every run (one file per seed) at one label fraction: pre-trained against scratch."""
    key = f"cv_fraction_{fraction:g}"
    runs = sorted(
        (
            (int(k.removeprefix(prefix)), v["results"][key])
            for k, v in results.items()
            if k.startswith(prefix) and k.removeprefix(prefix).isdigit() and key in v["results"]
        ),
    )
    lines = [
        f"Accuracy at {100 * fraction:g}% of the labels, one run per seed (pre-training, folds and fine-tunes); "
        "mean ± std over the 5 folds:",
        "",
        "| seed | pre-trained | scratch | k-mer LR | pre-trained − scratch (points) |",
        "|---|---|---|---|---|",
    ]
    gaps, columns = [], {m: [] for m in MODELS}
    for seed, row in runs:
        gap = 100 * (row["pre-trained_accuracy_mean"] - row["scratch_accuracy_mean"])
        gaps.append(gap)
        for m in MODELS:
            columns[m].append(row[f"{m}_accuracy_mean"])
        lines.append(
            f"| {seed} | {row['pre-trained_accuracy_mean']:.3f} ± {row['pre-trained_accuracy_std']:.3f} "
            f"| {row['scratch_accuracy_mean']:.3f} ± {row['scratch_accuracy_std']:.3f} "
            f"| {row['k-mer LR_accuracy_mean']:.3f} | {gap:+.1f} |"
        )
    if len(runs) > 1:
        sd = statistics.stdev
        lines.append(
            "| mean ± sd over seeds | "
            + " | ".join(f"{statistics.mean(columns[m]):.3f} ± {sd(columns[m]):.3f}" for m in MODELS)
            + f" | **{statistics.mean(gaps):+.1f} ± {sd(gaps):.1f}** |"
        )
        ahead = sum(g > 0 for g in gaps)
        lines += [
            "",
            f"Pre-trained ahead of scratch in {ahead} of {len(gaps)} seeds; mean gap {statistics.mean(gaps):+.1f} "
            f"points (standard error {sd(gaps) / len(gaps) ** 0.5:.1f}).",
        ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
