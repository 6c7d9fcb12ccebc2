"""Sigma-70 promoters against composition-matched negatives, run as a user would.

Of the promoter sets the project keeps aside, the human one (101 bp, against negatives with the
promoters' composition) was where the package failed worst: MCC 0.109, near chance, against 0.649
for a small CNN. That set is not here; its closest kind here is iPromoter-2L's 1,694 sigma-70
promoters (81 bp) against negatives with their composition, made by the package's own
``scipt data negatives``: their dinucleotide shuffles, or E. coli windows matched on GC content.
A model that learnt composition alone is at chance on either. Nothing was chosen on these data: the
package's defaults are scored once, with the held-out runs' pre-training and the task's default
ensemble of three fine-tunes.

The commands are a user's, each in a fresh process:

1. ``scipt data negatives --positives sigma70promoter.txt --kind KIND`` (``--genome`` the E. coli
   genome for ``gc-matched``, seed 0);
2. ``scipt data decontaminate``: the E. coli genome masked against positives and negatives;
3. ``scipt pretrain dna --preset tiny --max-steps 1500 --data`` the masked genome and the three
   shipped 1 % genome samples;
4. ``scipt finetune promoter --init PRE --positives P --negatives N --folds 5 --ensemble 3``: the
   pre-trained start with scratch, the k-mer regression and the CNN beside it on the same folds.

Raw results (provenance, the sets' counts and SHA-256, each command's wall and CPU time, every
model's per-fold MCC and its verdicts) go to ``benchmarks/results/promoter_user_<kind>.json``;
:func:`render` is the RESULTS.md block.

Run (about half an hour on one core each; the two kinds side by side)::

    OMP_NUM_THREADS=1 python benchmarks/promoter_user.py --kind dinucleotide-shuffle
    OMP_NUM_THREADS=1 python benchmarks/promoter_user.py --kind gc-matched
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from promoter_long import (  # noqa: E402
    DATA,
    GENOME,
    ROOT,
    fold_differences,
    paired_difference,
    read_fasta,
    result_lines,
    run,
    user_protocol,
)

POSITIVES = DATA / "promoters/sigma70promoter.txt"
KINDS = ("dinucleotide-shuffle", "gc-matched")
RUNS = tuple(f"promoter_user_{kind.replace('-', '_')}" for kind in KINDS)


def describe(path: Path) -> dict:
    sequences = read_fasta(path)
    return {
        "path": str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path),
        "sequences": len(sequences),
        "distinct": len(set(sequences)),
        "length": sorted({len(s) for s in sequences}),
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kind", required=True, choices=KINDS)
    parser.add_argument("--pretrain-steps", type=int, default=1500)
    parser.add_argument("--preset", default="tiny", help="the DNA pre-training preset")
    parser.add_argument("--pretrained", default=None, help="an existing pre-training run to start from")
    parser.add_argument("--ensemble", type=int, default=3)
    parser.add_argument("--results-name", default=None)
    args = parser.parse_args(argv)
    args.results_name = args.results_name or RUNS[KINDS.index(args.kind)]
    from provenance import finish, provenance, write_results

    record = {"provenance": provenance(argv)}
    work = HERE / "out" / args.results_name
    work.mkdir(parents=True, exist_ok=True)
    negatives = work / f"negatives_{args.kind}.fa"
    steps = {}
    if not negatives.exists():
        cmd = ["scipt", "data", "negatives", "--positives", str(POSITIVES), "--kind", args.kind]
        cmd += ["--genome", str(GENOME)] if args.kind == "gc-matched" else []
        steps["negatives"] = run(cmd + ["--seed", "0", "--output", str(negatives)])
    record["data"] = {"positives": describe(POSITIVES), "negatives": describe(negatives)}
    record["params"] = vars(args)
    record.update(user_protocol(work, str(POSITIVES), str(negatives), args))
    record["steps"] = {**steps, **record["steps"]}
    path = write_results(args.results_name, finish(record))
    print(f"wrote {path}", file=sys.stderr)
    print(render({args.results_name: record}, (args.results_name,)))


# --- rendering (standard library only) ---------------------------------------------------------


def render(results: dict, names: tuple = RUNS) -> str:
    """Each kind's run: the data, then :func:`promoter_long.result_lines`."""
    from report import provenance_line

    out = []
    for name in names:
        if name not in results:
            kind = KINDS[RUNS.index(name)] if name in RUNS else "KIND"
            out.append(
                f"No results yet: run `OMP_NUM_THREADS=1 python benchmarks/promoter_user.py --kind {kind}`.\n"
            )
            continue
        record = results[name]
        d, p = record["data"], record["params"]
        lines = [
            f"**Against {p['kind']} negatives.** Measured by {provenance_line(record)}",
            "",
            f"Data: {d['positives']['sequences']:,} sigma-70 promoters ({d['positives']['distinct']:,} distinct) "
            f"against {d['negatives']['sequences']:,} {p['kind']} negatives ({d['negatives']['distinct']:,} "
            f"distinct), lengths {', '.join(map(str, d['positives']['length']))} bp; "
            + (
                f"the encoder `{p['pretrained']}`"
                if p.get("pretrained")
                else f"pre-training {p['pretrain_steps']:,} steps of `{p.get('preset', 'tiny')}`"
            )
            + tokens_clause(record)
            + f"; {p['ensemble']} fine-tune(s) per model; 5 folds.",
        ]
        out.append("\n".join(lines + result_lines(record)) + "\n")
    return "\n".join(out)


def tokens_clause(record: dict) -> str:
    """The encoder's tokens and size, which scratch shares (recorded by runs after 2026-12-04)."""
    if "encoder" not in record:
        return ""
    tok, model = record["encoder"]["tokenizer"], record["encoder"]["model"]
    tokens = "single-base" if tok["k"] == 1 else f"overlapping {tok['k']}-mer"
    return f" ({tokens} tokens, {model['n_layers']} layers of width {model['d_model']})"


# the shuffled-negative run again with more pre-training: from the transfer benchmarks' 45-CPU-minute
# encoder (3-mer tokens), and with the held-out command's own design (`tiny`, single bases) for
# 45,000 steps (about 45 CPU-minutes)
SHARED_RUN = "promoter_user_dinucleotide_shuffle_45min"
TINY_RUN = "promoter_user_dinucleotide_shuffle_tiny45k"
# and the GC-matched run from the 45-CPU-minute encoder, whose corpus holds many of the GC-matched
# windows; then the same design pre-trained on the genome decontaminated against them
SHARED_GC_RUN = "promoter_user_gc_matched_45min"
CLEAN_GC_RUN = "promoter_user_gc_matched_promoter45k"
SHARED = "--pretrained benchmarks/out/promoter_transfer_shared/pretrain_shared"
LONGER = {
    SHARED_RUN: f"--kind dinucleotide-shuffle {SHARED}",
    TINY_RUN: "--kind dinucleotide-shuffle --pretrain-steps 45000",
    SHARED_GC_RUN: f"--kind gc-matched {SHARED}",
    CLEAN_GC_RUN: "--kind gc-matched --preset promoter --pretrain-steps 45000",
}


def render_shared_encoder(results: dict, name: str = SHARED_RUN, before: str = RUNS[0]) -> str:
    """A run with more pre-training (``LONGER``), then each model's per-fold MCC
    difference to the 1,500-step encoder's run (the same data, folds and seeds; scratch takes each
    encoder's tokenizer and size, so it repeats only where those do), and this run's pre-trained
    model against that run's scratch."""
    if name not in results:
        return (
            "No results yet: run `OMP_NUM_THREADS=1 python benchmarks/promoter_user.py "
            f"{LONGER[name]} --results-name {name}`.\n"
        )
    text = render(results, (name,))
    if before not in results:
        return text
    now, then = results[name], results[before]
    return text + (
        f"\nPer-fold MCC of this run minus the 1,500-step encoder's (`{before}`), mean ± "
        "standard error over the 5 folds: " + fold_differences(now, then) + ". This run's pre-trained "
        f"model minus that run's scratch: {paired_difference(now, then, 'pre-trained', 'scratch')}.\n"
    )


def render_tiny_45k(results: dict) -> str:
    """:func:`render_shared_encoder` of the run that pre-trains the held-out command's design for
    45,000 steps."""
    return render_shared_encoder(results, TINY_RUN)


def render_shared_encoder_gc(results: dict) -> str:
    """:func:`render_shared_encoder` of the GC-matched run from the 45-CPU-minute encoder."""
    return render_shared_encoder(results, SHARED_GC_RUN, before=RUNS[1])


def render_clean_gc(results: dict) -> str:
    """:func:`render_shared_encoder` of the GC-matched run that pre-trains the ``promoter`` design on
    the decontaminated genome."""
    return render_shared_encoder(results, CLEAN_GC_RUN, before=RUNS[1])


if __name__ == "__main__":
    main()
