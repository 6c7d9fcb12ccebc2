"""How much of iPromoter-2L lies in the E. coli genome, and what decontamination leaves.

The data README states that every iPromoter-2L sequence, positive and negative, is a verbatim
substring of the E. coli K-12 MG1655 genome on one strand or the other (2,860 / 2,860 each). This
script measures it with :func:`sciPT.diagnostics.contamination.check_contamination`, then writes a
decontaminated genome (masked against the 5,720 benchmark sequences), checks it again, and times
every step. The 256 sequences of the independent test set are checked too, before and after (they
were *not* among the sequences masked: a corpus is clean only for the sets it was cleaned against).

Each timed step runs ``--repeats`` times and the best wall time is reported (the machine may be
shared); the sequence cache is a fresh temporary folder, so the first genome read is timed too.

Run::

    python benchmarks/contamination_ipromoter.py
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def best_of(repeats: int, fn):
    times, result = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return result, min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--genome", default=str(ROOT / "data_recipes/dna/ecoli_k12_mg1655.fna.gz"))
    shipped = ROOT / "data_recipes/promoters"
    parser.add_argument(
        "--data",
        default=str(shipped if shipped.is_dir() else ROOT.parent / "shared/data/promoters/ecoli_ipromoter2l"),
        help="folder holding positive2860.txt, negative2860.txt and independent.txt (searched recursively)",
    )
    parser.add_argument("--k", type=int, default=16)
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="scipt-contamination-"))
    os.environ["SCIPT_CACHE"] = str(tmp / "cache")
    from sciPT.diagnostics.contamination import check_contamination, decontaminate
    from sciPT.registry import domains
    from sciPT.sequences import Corpus, read_sequences

    spec = domains.get("dna").spec
    data = Path(args.data)
    files = {
        "positives": "positive2860.txt",
        "negatives": "negative2860.txt",
        "independent": "independent.txt",
    }
    sets = {name: read_sequences(next(data.rglob(file)), spec).codes for name, file in files.items()}
    benchmark = sets["positives"] + sets["negatives"]
    opts = dict(k=args.k, threshold=args.threshold, progress=False)

    t = time.perf_counter()
    genome = Corpus([args.genome], spec)
    read_s = time.perf_counter() - t
    print(f"genome: {genome.provenance()[0]['residues']:,} bp, first read + cache {read_s:.2f} s")

    def table(corpus, title):
        print(f"\n{title}\n\n| set | sequences | verbatim | near (incl. verbatim) | clean | check time |")
        print("|---|---|---|---|---|---|")
        for name, seqs in sets.items():
            report, sec = best_of(args.repeats, lambda seqs=seqs: check_contamination(seqs, corpus, **opts))
            s = report.summary()
            print(
                f"| {name} | {s['eval_sequences']:,} | {s['verbatim']:,} | {s['near']:,} | "
                f"{s['clean']:,} | {sec:.2f} s |"
            )
        report, sec = best_of(args.repeats, lambda: check_contamination(benchmark, corpus, **opts))
        s = report.summary()
        print(
            f"| positives + negatives | {s['eval_sequences']:,} | {s['verbatim']:,} | {s['near']:,} | "
            f"{s['clean']:,} | {sec:.2f} s |"
        )
        return report

    table(genome, f"Before (k = {args.k}, threshold {args.threshold}):")

    out = tmp / "ecoli_clean.fa.gz"
    counts, sec = best_of(args.repeats, lambda: decontaminate(args.genome, benchmark, out, spec, **opts))
    print(f"\ndecontaminate against positives + negatives: {sec:.2f} s (check, locate copies, write gzip)")
    print(
        f"masked {counts['masked_bases']:,} of {counts['corpus_bases']:,} bases "
        f"({100 * counts['masked_bases'] / counts['corpus_bases']:.2f}%) in {counts['regions']:,} regions; "
        f"copies of {counts['masked_sequences']:,} sequences"
    )

    after = table(Corpus([str(out)], spec), "After decontamination:")
    left = np.flatnonzero(after.near)
    if len(left):
        sims = ", ".join(f"{x:.2f}" for x in np.sort(after.similarity[left]))
        print(f"\nstill near after masking (benchmark indices {left.tolist()}): similarities {sims}")

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"\nmachine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"load average {load}; numpy {np.__version__}"
    )


if __name__ == "__main__":
    main()
