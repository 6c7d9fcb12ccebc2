"""iPromoter-2L, the published protocol (5-fold stratified CV, 2,860 + 2,860, 81 bp): pre-trained vs
scratch vs k-mer logistic regression, at all labels and at 5% of the labels, with the pre-training
corpus decontaminated; then genome-scan throughput on the E. coli genome.

    OMP_NUM_THREADS=1 python benchmarks/promoter_ipromoter.py --out benchmarks/out/ipromoter

CPU time is measured with getrusage (this process and its children), so the figure does not depend on
what else the machine runs; wall time is reported beside it.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import time
from pathlib import Path

import torch


def cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    from sciPT.diagnostics.contamination import decontaminate
    from sciPT.domains.dna.data import DNA_SPEC, ECOLI_GENOME, read_pair
    from sciPT.metrics import summarise
    from sciPT.pretrain import pretrain
    from sciPT.run import RunDir
    from sciPT.sequences import Corpus, resolve_data_path
    from sciPT.tasks.promoter import (
        PromoterConfig,
        Start,
        cross_validate,
        export_classifier,
        load_classifier,
        load_start,
        scan_genome,
        train_classifier,
    )
    from sciPT.tasks.promoter_demo import NEGATIVES, POSITIVES, PRETRAIN_STEPS, promoter_pretraining

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
    args = parser.parse_args()
    torch.set_num_threads(1)
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    t0, c0 = time.time(), cpu_seconds()
    results: dict = {}

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
        oof = cross_validate(starts, ft, data, 81, with_kmer=True, train_fraction=fraction)
        row = {}
        for name, (_, per_fold) in oof.items():
            row.update(summarise(per_fold, name))
        row["cpu_s"] = cpu_seconds() - c1
        results[f"cv_fraction_{fraction:g}"] = row
        (out / "results.json").write_text(json.dumps(results, indent=1))  # kept if a later stage fails
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
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    sys.exit(main())
