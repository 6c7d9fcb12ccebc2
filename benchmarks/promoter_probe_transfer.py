"""Frozen encoders across sigma factors: do linear probes trained on sigma-70 promoters transfer?

The transfer benchmark (``benchmarks/promoter_transfer.py``) trains on sigma-70 promoters and tests
on the other sigma factors; there the fine-tuned models fall to near chance on sigma-24, -28, -32
and -54 against dinucleotide-shuffled negatives while the k-mer regression keeps 0.8 AUROC. This
script asks the representation instead, before any fine-tuning: a linear probe of the frozen
encoder, trained on the same sigma-70 training set, scored on the same test sets. Protocol, fixed
before the run:

- **Sets.** ``promoter_transfer.transfer_sets`` for each seed of ``--seeds`` and each negative kind
  of ``--kinds`` (``ipromoter``: the published non-promoters; ``dinucleotide-shuffle``: each
  positive's own shuffle), its negatives built by ``promoter_transfer.build_negatives``: the very
  sets of that benchmark. GC-matched windows are left out: they are genomic, and these encoders'
  corpus was decontaminated against iPromoter-2L only.
- **Encoders.** The probe benchmark's (``benchmarks/promoter_probe.py``): the promoter pipeline's
  design pre-trained for ``--steps`` on the E. coli genome decontaminated against all 5,720
  iPromoter-2L sequences (the sigma subsets are among its promoters; the script checks), and the same
  architecture at random initialisation (the seed's).
- **Probes.** :func:`sciPT.diagnostics.probes.linear_probe` on the frozen encoder's final hidden
  states, mean-pooled and position-aware (``--bins`` stretches), fitted on the sigma-70 training set
  (C chosen there by inner folds that keep near copies together) and scored once on each test set.
- **Baseline.** The k-mer logistic regression (``KmerLogisticRegression``, C by its own inner
  cross-validation), the strongest model on these test sets in the transfer benchmark, fitted on the
  same training set.
- **Reported.** AUROC per (kind, seed, test set, model); mean ± standard error over seeds; the paired
  difference of the position-aware probe of the pre-trained encoder to the k-mer regression and to
  the random encoder's, by the 2-SE rule. Nothing is tuned here.

Raw results: ``benchmarks/results/promoter_probe_transfer.json``; :func:`render` is its block of
``RESULTS_promoter.md``.

    OMP_NUM_THREADS=1 python benchmarks/promoter_probe_transfer.py

Cost: embeddings and probes, under a CPU-minute per (seed, kind) with the encoders of
``benchmarks/promoter_probe.py`` already trained (otherwise their pre-training first).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
MODELS = (
    "k-mer LR",
    "random, mean-pooled",
    "random, by position",
    "pre-trained, mean-pooled",
    "pre-trained, by position",
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--kinds", nargs="+", default=["ipromoter", "dinucleotide-shuffle"])
    parser.add_argument("--steps", type=int, default=19500)
    parser.add_argument("--bins", type=int, default=8)
    parser.add_argument("--results-name", default="promoter_probe_transfer")
    args = parser.parse_args(argv)

    import torch

    sys.path.insert(0, str(HERE))
    from promoter_budget import cpu_seconds, pretrain_for
    from promoter_transfer import build_negatives, transfer_sets
    from provenance import finish, provenance, write_results

    from sciPT.diagnostics.contamination import decontaminate
    from sciPT.diagnostics.overlap import found_in
    from sciPT.diagnostics.probes import linear_probe
    from sciPT.domains.dna.data import (
        COMPLEMENT,
        DNA_SPEC,
        ECOLI_GENOME,
        read_genome,
        read_pair,
        read_sigma_subsets,
    )
    from sciPT.domains.dna.kmer import KmerLogisticRegression
    from sciPT.files import resolve_data_path
    from sciPT.metrics import binary_metrics
    from sciPT.tasks.promoter_config import PromoterConfig, near_copies
    from sciPT.tasks.promoter_demo import NEGATIVES, POSITIVES
    from sciPT.tasks.promoter_probe import frozen_embeddings
    from sciPT.tasks.promoter_start import load_start

    torch.set_num_threads(1)
    ipromoter = read_pair(resolve_data_path(POSITIVES), resolve_data_path(NEGATIVES))
    positives = [c for c, y in zip(ipromoter.codes, ipromoter.labels) if y == 1]
    ipromoter_neg = [c for c, y in zip(ipromoter.codes, ipromoter.labels) if y == 0]
    sigma = read_sigma_subsets()
    inside = {name: int(found_in(codes, ipromoter.codes, COMPLEMENT).sum()) for name, codes in sigma.items()}
    if any(inside[name] != len(codes) for name, codes in sigma.items()):
        raise SystemExit(f"the sigma subsets are not all iPromoter-2L sequences: {inside}")
    genome = read_genome([str(resolve_data_path(ECOLI_GENOME))])

    work = HERE / "out" / "promoter_probe"
    work.mkdir(parents=True, exist_ok=True)
    corpus = work / "ecoli_decontaminated.fa.gz"
    if not corpus.exists():
        decontaminate(
            str(ROOT / "data_recipes/dna/ecoli_k12_mg1655.fna.gz"), ipromoter.codes, corpus, DNA_SPEC
        )
    run = work / f"pretrain-{args.steps}"
    pretrain_cpu = pretrain_for(corpus, args.steps, run)
    record = {
        "provenance": provenance(argv),
        "protocol": {
            "seeds": args.seeds,
            "kinds": args.kinds,
            "steps": args.steps,
            "bins": args.bins,
            "sigma_in_ipromoter": inside,
        },
        "pretraining": {"steps": args.steps, "cpu_s": pretrain_cpu},
        "units": [],
    }
    rule = near_copies(PromoterConfig())
    for seed in args.seeds:
        negs = build_negatives(seed, positives, sigma, genome)
        cfg = PromoterConfig(init=str(run))
        cfg.train.seed = seed
        start = load_start(str(run), cfg)
        for kind in args.kinds:
            data, train, tests = transfer_sets(kind, seed, sigma, ipromoter_neg, negs)
            groups = rule.groups(data.codes, COMPLEMENT, DNA_SPEC.alphabet.n_core)
            names = list(tests)
            folds = [(train, tests[name]) for name in names]
            c0 = cpu_seconds()
            kmer = KmerLogisticRegression(C=None, seed=seed, near=rule).fit(
                [data.codes[i] for i in train], data.labels[train]
            )
            scores = {"k-mer LR": {}}
            for name in names:
                held = tests[name]
                p = kmer.predict_proba([data.codes[i] for i in held])
                scores["k-mer LR"][name] = binary_metrics(data.labels[held], p)["auroc"]
            for weights, who in ((False, "random"), (True, "pre-trained")):
                for bins, how in ((None, "mean-pooled"), (args.bins, "by position")):
                    x = frozen_embeddings(start, weights, data.codes, 81, seed, bins=bins)
                    report = linear_probe(x, data.labels, folds, seed=seed, groups=groups)
                    scores[f"{who}, {how}"] = dict(zip(names, report.auroc, strict=True))
            record["units"].append({"seed": seed, "kind": kind, "auroc": scores, "cpu_s": cpu_seconds() - c0})
            write_results(args.results_name, finish(record))
            line = ", ".join(
                f"{n} {scores['pre-trained, by position'][n]:.3f}/{scores['k-mer LR'][n]:.3f}" for n in names
            )
            print(f"seed {seed} {kind} (probe/k-mer AUROC): {line}", file=sys.stderr, flush=True)
    print(render({args.results_name: record}, args.results_name))
    return 0


# --- rendering (standard library only) ---------------------------------------------------------


def render(results: dict, name: str = "promoter_probe_transfer") -> str:
    from report import provenance_line
    from summaries import mean_se
    from summaries import verdict as verdict_of

    if name not in results:
        return "No results yet: run `OMP_NUM_THREADS=1 python benchmarks/promoter_probe_transfer.py`.\n"
    record = results[name]
    protocol = record["protocol"]
    units = record["units"]
    lines = [
        f"Measured by {provenance_line(record)}",
        "",
        f"Encoder: {protocol['steps']:,} steps ({record['pretraining']['cpu_s'] / 60:.1f} CPU-min of "
        f"pre-training); probes by position read {protocol['bins']} stretches. AUROC, mean ± standard "
        f"error over seeds {', '.join(map(str, protocol['seeds']))}; the last two columns are paired "
        "differences of the pre-trained encoder's position-aware probe, per seed.",
        "",
        "| negatives | test set | "
        + " | ".join(MODELS)
        + " | probe by position - k-mer LR | pre-trained - random, by position |",
        "|---|---|" + "---|" * (len(MODELS) + 2),
    ]
    for kind in protocol["kinds"]:
        mine = [u for u in units if u["kind"] == kind]
        if not mine:
            continue
        for test in mine[0]["auroc"]["k-mer LR"]:
            cells = []
            for model in MODELS:
                m, se = mean_se([u["auroc"][model][test] for u in mine])
                cells.append(f"{m:.3f} ± {se:.3f}")
            probe = [u["auroc"]["pre-trained, by position"][test] for u in mine]
            pairs = []
            for other in ("k-mer LR", "random, by position"):
                d, se = mean_se([a - u["auroc"][other][test] for a, u in zip(probe, mine)])
                pairs.append(f"{d:+.3f} ± {se:.3f}: {verdict_of(d, se)}")
            lines.append(f"| {kind} | {test} | " + " | ".join(cells + pairs) + " |")
    cpu = sum(u["cpu_s"] for u in units)
    lines += ["", f"{len(units)} (seed, negatives) units, {cpu / 60:.1f} CPU-minutes of embeddings and fits."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
