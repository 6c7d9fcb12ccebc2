"""Zero-shot: does the pre-trained model's own likelihood tell promoters from their negatives?

    OMP_NUM_THREADS=1 python benchmarks/promoter_naturalness.py

The pseudo-log-likelihood of :mod:`sciPT.naturalness` (the task's scorer: 3-token spans, every 16th
centre per pass) of the shared 45-CPU-minute encoder of ``benchmarks/promoter_transfer.py
--shared-pretraining`` (``--pretrained`` to choose another run with a masked-model head), without
any label, used as a score: the AUROC of each iPromoter-2L sigma subset against the negatives of the
transfer benchmark (``promoter_transfer.build_negatives``: each positive's dinucleotide shuffle,
GC-matched genomic windows; and all 2,860 published negatives) for each seed's negatives. An AUROC
below 0.5 means the negatives look more like the genome than the promoters do.

Raw results: ``benchmarks/results/promoter_naturalness.json``; :func:`render` makes the table.
Cost: about 3 CPU-minutes. Importing this module imports neither torch nor scikit-learn.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SHARED = "benchmarks/out/promoter_transfer_shared/pretrain_shared"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pretrained", default=SHARED, metavar="RUN")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args(argv)

    import torch
    from sklearn.metrics import roc_auc_score

    sys.path.insert(0, str(HERE))
    from promoter_transfer import build_negatives
    from provenance import finish, provenance, write_results

    from sciPT.domains.dna.data import ECOLI_GENOME, read_genome, read_pair, read_sigma_subsets
    from sciPT.files import resolve_data_path
    from sciPT.tasks.promoter import PromoterConfig
    from sciPT.tasks.promoter_classifier import Classifier
    from sciPT.tasks.promoter_demo import NEGATIVES, POSITIVES
    from sciPT.tasks.promoter_start import load_start

    torch.set_num_threads(1)
    start = load_start(args.pretrained, PromoterConfig(init=args.pretrained))
    scorer = start.naturalness_scorer()
    if scorer is None:
        raise SystemExit(f"--pretrained {args.pretrained}: no masked-model head (scipt export RUN writes it)")
    # a Classifier only to reuse its cropping and batching of the likelihood; no classifier model
    scores_of = Classifier(None, start.tokenizer, 81, False, naturalness=scorer).naturalness_scores

    ipromoter = read_pair(resolve_data_path(POSITIVES), resolve_data_path(NEGATIVES))
    positives = [c for c, y in zip(ipromoter.codes, ipromoter.labels) if y == 1]
    published = scores_of([c for c, y in zip(ipromoter.codes, ipromoter.labels) if y == 0])
    sigma = read_sigma_subsets()
    own = {name: scores_of(codes) for name, codes in sigma.items()}
    genome = read_genome([str(resolve_data_path(ECOLI_GENOME))])

    def auroc(pos, neg) -> float:
        return float(roc_auc_score(np.r_[np.ones(len(pos)), np.zeros(len(neg))], np.r_[pos, neg]))

    rows = [
        {"negatives": "ipromoter", "seed": None, "auroc": {n: auroc(s, published) for n, s in own.items()}}
    ]
    for seed in args.seeds:
        negs = build_negatives(seed, positives, sigma, genome)
        for kind in ("dinucleotide-shuffle", "gc-matched"):
            aurocs = {n: auroc(s, scores_of(negs[kind][n])) for n, s in own.items()}
            rows.append({"negatives": kind, "seed": seed, "auroc": aurocs})
    record = {
        "provenance": provenance(),
        "pretrained_run": args.pretrained,
        "scorer": scorer.settings(),
        "rows": rows,
    }
    path = write_results("promoter_naturalness", finish(record))
    print(f"wrote {path}", file=sys.stderr)
    return 0


def render(results: dict) -> str:
    record = results.get("promoter_naturalness")
    if record is None:
        return "No results yet: run `benchmarks/promoter_naturalness.py`.\n"
    p = record["provenance"]
    names = list(record["rows"][0]["auroc"])
    out = [
        f"Measured by `{p['command']}` at commit `{p['commit'][:10]}`"
        f"{' (uncommitted changes)' if p.get('dirty') else ''}, {p['date'][:10]}; {p['cpu']['model']}; "
        f"encoder `{record['pretrained_run']}`. AUROC of the likelihood alone, promoters against "
        "negatives (the published ones once; the others mean ± standard error over the seeds' draws):",
        "",
        "| negatives | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for kind in dict.fromkeys(r["negatives"] for r in record["rows"]):
        rows = [r["auroc"] for r in record["rows"] if r["negatives"] == kind]
        cells = []
        for n in names:
            v = np.array([r[n] for r in rows])
            se = v.std(ddof=1) / np.sqrt(len(v)) if len(v) > 1 else None
            cells.append(f"{v.mean():.3f}" + (f" ± {se:.3f}" if se is not None else ""))
        out.append(f"| {kind} | " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
