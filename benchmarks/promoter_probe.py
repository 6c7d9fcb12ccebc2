"""Linear probes of frozen DNA encoders on iPromoter-2L, against pre-training compute.

The question: before any fine-tuning, does pre-training put promoters into the representation? The
promoter run answers it for its own start (``tasks/promoter_probe.py``); this script measures it for
the promoter pipeline's pre-training design at several lengths. Protocol, fixed before the run:

- **Encoders.** The promoter pipeline's design (:func:`sciPT.tasks.promoter_demo.promoter_pretraining`:
  the ``tiny`` model with overlapping 3-mers and span masking) pre-trained on the E. coli genome
  decontaminated against all 5,720 iPromoter-2L sequences, seed 0, for each of ``--steps``; and the
  same architecture at random initialisation (the run's seed), which is what a probe must beat.
- **Probe.** :func:`sciPT.diagnostics.probes.linear_probe` on the mean-pooled embeddings of the frozen
  encoder (sequences as the promoter task reads them), on the promoter task's own 5 folds (near
  copies kept together, :func:`sciPT.tasks.promoter_evaluation.cv_folds`) for each seed of
  ``--seeds`` (the folds' seed; the random encoder takes it too); the regularisation is chosen on
  each training part (inner folds keeping the same groups whole), the held-out fold scored once.
- **Position-aware probe** (added with the inner grouping, before its first run): the same probe on
  the means of ``--bins`` (8) consecutive stretches of the final hidden states, concatenated
  (``frozen_embeddings(..., bins=8)``: 8 x 64 features, about 10 bases a stretch at 81 bp), which
  sees where along the window a state is, as the task's convolutional head does.
- **Reported.** AUROC per (encoder, seed, fold), for both probes; mean ± standard error over folds x
  seeds; the paired difference to the random encoder on the same fold and seed, ahead / tied /
  behind by the 2-SE rule. Nothing is tuned here.

Raw results: ``benchmarks/results/promoter_probe.json``; :func:`render` is its block of
``RESULTS_promoter.md``. Work files (the corpus, the pre-training runs): ``benchmarks/out/promoter_probe/``.

    OMP_NUM_THREADS=1 python benchmarks/promoter_probe.py

Cost: pre-training about 0.065 CPU-s a step on a 2-core AMD EPYC (the default 1,500, 6,500 and
19,500 steps took 1.6, 6.3 and 21.3 CPU-minutes); each probe, embeddings and regressions, a few
CPU-seconds.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
STEPS = (1500, 6500, 19500)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, nargs="+", default=list(STEPS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--bins", type=int, default=8)
    parser.add_argument("--results-name", default="promoter_probe")
    args = parser.parse_args(argv)

    import json

    import numpy as np
    import torch

    sys.path.insert(0, str(HERE))
    from promoter_budget import cpu_seconds, pretrain_for
    from provenance import finish, provenance, write_results

    from sciPT.diagnostics.contamination import decontaminate
    from sciPT.diagnostics.probes import linear_probe
    from sciPT.domains.dna.data import DNA_SPEC, read_pair
    from sciPT.files import resolve_data_path
    from sciPT.tasks.promoter_config import PromoterConfig
    from sciPT.tasks.promoter_demo import NEGATIVES, POSITIVES
    from sciPT.tasks.promoter_evaluation import cv_folds, held_out_keys
    from sciPT.tasks.promoter_probe import frozen_embeddings
    from sciPT.tasks.promoter_start import load_start

    torch.set_num_threads(1)
    work = HERE / "out" / args.results_name
    work.mkdir(parents=True, exist_ok=True)
    record = {
        "provenance": provenance(argv),
        "protocol": {
            "steps": args.steps,
            "seeds": args.seeds,
            "folds": 5,
            "design": "promoter_pretraining",
            "bins": args.bins,
            "inner_folds_grouped": True,
        },
        "pretraining": {},
        "units": [],
    }
    data = read_pair(resolve_data_path(POSITIVES), resolve_data_path(NEGATIVES))
    corpus = work / "ecoli_decontaminated.fa.gz"
    if not corpus.exists():
        genome = ROOT / "data_recipes/dna/ecoli_k12_mg1655.fna.gz"
        decontaminate(str(genome), data.codes, corpus, DNA_SPEC, progress=False)
    encoders = {}
    for steps in args.steps:
        out = work / f"pretrain-{steps}"
        cpu = pretrain_for(corpus, steps, out)
        metrics = json.loads((out / "metrics.json").read_text())
        record["pretraining"][str(steps)] = {"cpu_s": cpu, "val_loss": metrics.get("val_loss")}
        encoders[f"{steps} steps"] = out
    length = max(len(c) for c in data.codes)
    for seed in args.seeds:
        cfg = PromoterConfig(folds=5)
        cfg.train.seed = seed
        folds = cv_folds(cfg, data)
        groups = held_out_keys(cfg, data)
        template = load_start(str(next(iter(encoders.values()))), cfg)
        random_auroc = random_binned = None
        for name, run in [("random init", None), *encoders.items()]:
            start = template if run is None else load_start(str(run), cfg)
            c0 = cpu_seconds()
            x = frozen_embeddings(start, run is not None, data.codes, length, seed)
            report = linear_probe(x, data.labels, folds, seed=seed, groups=groups)
            cpu = cpu_seconds() - c0
            x = frozen_embeddings(start, run is not None, data.codes, length, seed, bins=args.bins)
            binned = linear_probe(x, data.labels, folds, seed=seed, groups=groups)
            if run is None:
                random_auroc, random_binned = report.auroc, binned.auroc
            record["units"].append(
                {
                    "encoder": name,
                    "seed": seed,
                    "auroc": report.auroc,
                    "accuracy": report.accuracy,
                    "chosen_c": report.chosen_c,
                    "vs_random": list(np.subtract(report.auroc, random_auroc)),
                    "cpu_s": cpu,
                    "binned": {
                        "auroc": binned.auroc,
                        "accuracy": binned.accuracy,
                        "chosen_c": binned.chosen_c,
                        "vs_random": list(np.subtract(binned.auroc, random_binned)),
                        "cpu_s": cpu_seconds() - c0 - cpu,
                    },
                }
            )
            write_results(args.results_name, finish(record))
            print(
                f"seed {seed}, {name}: AUROC {np.mean(report.auroc):.3f}, "
                f"position-aware {np.mean(binned.auroc):.3f}",
                file=sys.stderr,
                flush=True,
            )
    print(render({args.results_name: record}, args.results_name))
    return 0


# --- rendering (standard library only) ---------------------------------------------------------


def render(results: dict, name: str = "promoter_probe") -> str:
    from report import provenance_line
    from summaries import mean_se
    from summaries import verdict as verdict_of

    if name not in results:
        return "No results yet: run `OMP_NUM_THREADS=1 python benchmarks/promoter_probe.py`.\n"
    record = results[name]
    units = record["units"]
    names = list(dict.fromkeys(u["encoder"] for u in units))
    lines = [
        f"Measured by {provenance_line(record)}",
        "",
        "Pre-training runs: "
        + "; ".join(
            f"{k} steps: {v['cpu_s'] / 60:.1f} CPU-min, validation loss {v['val_loss']:.3f} nats"
            for k, v in record["pretraining"].items()
        )
        + f". Seeds {', '.join(map(str, record['protocol']['seeds']))}, 5 folds each.",
        "",
        "| encoder | probe | AUROC | vs random init (paired, per fold) | accuracy | CPU s per probe |",
        "|---|---|---|---|---|---|",
    ]
    bins = record["protocol"].get("bins")
    probes = [("mean-pooled", lambda u: u)]
    if all("binned" in u for u in units):
        probes.append((f"{bins} stretches", lambda u: u["binned"]))
    for encoder in names:
        mine = [u for u in units if u["encoder"] == encoder]
        for probe, part in probes:
            auroc = [a for u in mine for a in part(u)["auroc"]]
            acc = [a for u in mine for a in part(u)["accuracy"]]
            diff = [d for u in mine for d in part(u)["vs_random"]]
            m, se = mean_se(auroc)
            dm, dse = mean_se(diff)
            versus = "—" if encoder == "random init" else f"{dm:+.3f} ± {dse:.3f}: {verdict_of(dm, dse)}"
            cpu = sum(part(u)["cpu_s"] for u in mine) / len(mine)
            lines.append(
                f"| {encoder} | {probe} | {m:.3f} ± {se:.3f} | {versus} | {mean_se(acc)[0]:.3f} | {cpu:.0f} |"
            )
    if record["protocol"].get("inner_folds_grouped"):
        lines += [
            "",
            "Each probe's inner folds (its choice of C) keep near copies together, as the folds do.",
        ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
