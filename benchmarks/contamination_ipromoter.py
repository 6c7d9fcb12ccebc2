"""How much of iPromoter-2L lies in the E. coli genome, and what decontamination leaves.

The data README states that every iPromoter-2L sequence, positive and negative, is a verbatim
substring of the E. coli K-12 MG1655 genome on one strand or the other (2,860 / 2,860 each). This
script measures it with :func:`sciPT.diagnostics.contamination.check_contamination`, then writes a
decontaminated genome (masked against the 5,720 benchmark sequences), checks it again, and times
every step. The 256 sequences of the independent test set are checked too, before and after (they
were *not* among the sequences masked: a corpus is clean only for the sets it was cleaned against).
Last, the labelled sets against each other, as ``scipt finetune promoter`` checks its training and
test data: near copies inside the benchmark, and the independent set against the benchmark.

Each timed step runs ``--repeats`` times and the best wall time is reported (the machine may be
shared); the sequence cache is a fresh temporary folder, so the first genome read is timed too.

Then it runs the command a user would, ``scipt data decontaminate`` on the same files, in a fresh
process with an empty sequence cache, and records its output, wall time, CPU time and peak memory
(``--no-cli`` skips it).

Raw results go to ``benchmarks/results/contamination_ipromoter.json`` (provenance, the files'
SHA-256, every repeat's time, the counts before and after, the sequences still near after masking
with their similarities, the command's output); ``render`` and ``render_summary`` turn it into the
tables of RESULTS_contamination.md and RESULTS.md (``python benchmarks/report.py``).

Run::

    python benchmarks/contamination_ipromoter.py
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
FILES = {"positives": "positive2860.txt", "negatives": "negative2860.txt", "independent": "independent.txt"}


def best_of(repeats: int, fn):
    times, result = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return result, times


def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _rel(path: Path) -> str:
    path = Path(path).resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def _maxrss_mib(who=resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


def run_cli(genome: str, against: list[Path], tmp: Path) -> dict:
    """``scipt data decontaminate`` in a fresh process with an empty cache: output, times, memory."""
    out = tmp / "cli_clean.fa.gz"
    cmd = ["scipt", "data", "decontaminate", "--corpus", _rel(genome), "--against"]
    cmd += [_rel(p) for p in against] + ["--output", str(out)]
    env = {**os.environ, "SCIPT_CACHE": str(tmp / "cli-cache")}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    done = subprocess.run(
        [str(Path(sys.executable).with_name("scipt")), *cmd[1:]],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "command": " ".join(cmd[:-1] + ["clean.fa.gz"]),
        "stdout": done.stdout.replace(str(out), "clean.fa.gz"),
        "wall_s": wall,
        "user_s": after.ru_utime - before.ru_utime,
        "system_s": after.ru_stime - before.ru_stime,
        "peak_rss_mib": after.ru_maxrss / 1024,
    }


def labelled_overlap(sets: dict, k: int, threshold: float, spec) -> dict:
    """The labelled sets against each other, as ``scipt finetune promoter`` checks them: records
    with near copies among the others of their set (exact copies left out), and the independent set
    against the benchmark's 5,720, exactly and nearly (:mod:`sciPT.diagnostics.overlap`)."""
    import numpy as np

    from sciPT.diagnostics import overlap

    complement, n_core = spec.complement_codes(), spec.alphabet.n_core
    benchmark = sets["positives"] + sets["negatives"]
    t = time.perf_counter()
    groups = overlap.copy_groups(benchmark, complement, k, threshold, n_core)
    within_s = time.perf_counter() - t
    sizes = np.bincount(groups.group)
    t = time.perf_counter()
    to = overlap.similarity_to(sets["independent"], benchmark, complement, k, n_core)
    to_s = time.perf_counter() - t
    exact = overlap.found_in(sets["independent"], benchmark, complement)
    n_pos = len(sets["positives"])
    labels = np.r_[np.ones(n_pos, int), np.zeros(len(sets["negatives"]), int)]
    return {
        "benchmark_near_copies": {
            "positives": int(groups.near[:n_pos].sum()),
            "negatives": int(groups.near[n_pos:].sum()),
            "groups": len(sizes),
            "largest_group": int(sizes.max()),
            "mixed_groups": int(
                sum(len(set(labels[groups.group == g])) > 1 for g in np.flatnonzero(sizes > 1))
            ),
            "seconds": within_s,
        },
        "independent_vs_benchmark": {
            "sequences": len(to),
            "verbatim": int(exact.sum()),
            "near": int(((to >= threshold) & ~exact).sum()),
            "similarity_quartiles": [float(q) for q in np.quantile(to, [0.25, 0.5, 0.75])] if len(to) else [],
            "seconds": to_s,
        },
    }


def main(argv: list[str] | None = None) -> None:
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
    parser.add_argument("--no-cli", action="store_true", help="skip the `scipt data decontaminate` run")
    parser.add_argument(
        "--results-name", default="contamination_ipromoter", help="write benchmarks/results/NAME.json"
    )
    args = parser.parse_args(argv)
    sys.path.insert(0, str(HERE))
    from provenance import finish, provenance, write_results

    record = {"provenance": provenance(argv)}
    tmp = Path(tempfile.mkdtemp(prefix="scipt-contamination-"))
    os.environ["SCIPT_CACHE"] = str(tmp / "cache")
    import numpy as np

    from sciPT.diagnostics.contamination import check_contamination, decontaminate
    from sciPT.registry import domains
    from sciPT.sequence_inputs import read_sequences
    from sciPT.sequences import Corpus

    spec = domains.get("dna").spec
    data = Path(args.data)
    paths = {name: next(data.rglob(file)) for name, file in FILES.items()}
    sets = {name: read_sequences(path, spec).codes for name, path in paths.items()}
    benchmark = sets["positives"] + sets["negatives"]
    opts = dict(k=args.k, threshold=args.threshold, progress=False)

    t = time.perf_counter()
    genome = Corpus([args.genome], spec)
    read_s = time.perf_counter() - t
    g = genome.provenance()[0]
    record["data"] = {
        "genome": {
            "path": _rel(args.genome),
            "sha256": g["sha256"],
            "records": g["records"],
            "bp": g["residues"],
        },
        "sets": {
            name: {"path": _rel(path), "sha256": _sha256(path), "sequences": len(sets[name])}
            for name, path in paths.items()
        },
    }
    record["params"] = {"k": args.k, "threshold": args.threshold, "repeats": args.repeats, "strands": "both"}
    record["genome_first_read_s"] = read_s
    print(f"genome: {g['residues']:,} bp, first read + cache {read_s:.2f} s", file=sys.stderr)

    def table(corpus) -> tuple[list[dict], object]:
        rows = []
        for name, seqs in [*sets.items(), ("positives + negatives", benchmark)]:
            report, times = best_of(args.repeats, lambda seqs=seqs: check_contamination(seqs, corpus, **opts))
            rows.append({"set": name, **report.summary(), "seconds": times})
        return rows, report

    record["before"], _ = table(genome)
    out = tmp / "ecoli_clean.fa.gz"
    rss = _maxrss_mib()
    counts, times = best_of(args.repeats, lambda: decontaminate(args.genome, benchmark, out, spec, **opts))
    record["decontaminate"] = {
        **counts,
        "against": "positives + negatives",
        "seconds": times,
        "peak_rss_mib_before": rss,
        "peak_rss_mib_after": _maxrss_mib(),
    }
    record["after"], after = table(Corpus([str(out)], spec))
    left = np.flatnonzero(after.near)
    record["near_after"] = [
        {"index": int(i), "verbatim": bool(after.verbatim[i]), "similarity": float(after.similarity[i])}
        for i in left
    ]
    record["labelled"] = labelled_overlap(sets, args.k, args.threshold, spec)
    if not args.no_cli:
        print("scipt data decontaminate ...", file=sys.stderr, flush=True)
        record["cli"] = run_cli(args.genome, [paths["positives"], paths["negatives"]], tmp)
    path = write_results(args.results_name, finish(record))
    print(f"wrote {path}", file=sys.stderr)
    print(render({args.results_name: record}, args.results_name))


# --- rendering (standard library only) ---------------------------------------------------------


def _measured(record: dict) -> str:
    try:  # report.py's provenance line (report.py is beside this file)
        sys.path.insert(0, str(HERE))
        from report import provenance_line

        return f"Measured by {provenance_line(record)}"
    except ImportError:
        return f"Measured by `{record['provenance']['command']}`."


def _table(rows: list[dict], verbatim_bold: bool = False) -> list[str]:
    out = [
        "| set | sequences | verbatim (either strand) | near (incl. verbatim) | clean | check time (best of runs) |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        verbatim = (
            f"**{r['verbatim']:,}**" if verbatim_bold and r["set"] != "independent" else f"{r['verbatim']:,}"
        )
        out.append(
            f"| {r['set']} | {r['eval_sequences']:,} | {verbatim} | {r['near']:,} | {r['clean']:,} "
            f"| {min(r['seconds']):.2f} s |"
        )
    return out


def render(results: dict, name: str = "contamination_ipromoter") -> str:
    """RESULTS_contamination.md: the check before and after decontamination, and the command."""
    record = results[name]
    p, d, g = record["params"], record["decontaminate"], record["data"]["genome"]
    before = {r["set"]: r for r in record["before"]}
    after = {r["set"]: r for r in record["after"]}
    both, ind = after["positives + negatives"], after["independent"]
    sims = [x["similarity"] for x in record["near_after"]]
    lines = [
        f"{_measured(record)} k = {p['k']}, threshold {p['threshold']:g}; each time is the best of "
        f"{p['repeats']} runs. Genome: `{g['path']}` ({g['bp']:,} bp, SHA-256 `{g['sha256'][:12]}`); "
        + ", ".join(f"`{s['path']}` ({s['sequences']:,})" for s in record["data"]["sets"].values())
        + ".",
        "",
        "Before:",
        "",
        *_table(record["before"]),
        "",
        f"`decontaminate` against the {d['eval_sequences']:,} positives + negatives: **{min(d['seconds']):.2f} s** "
        f"(check, locate copies, write the gzip FASTA). It masked **{d['masked_bases']:,} of "
        f"{d['corpus_bases']:,} bases ({100 * d['masked_bases'] / d['corpus_bases']:.2f}%) in "
        f"{d['regions']:,} regions** (overlapping copies merged), copies of {d['masked_sequences']:,} sequences; "
        f"peak resident memory of the whole process {d['peak_rss_mib_before']:.0f} MiB before it, "
        f"{d['peak_rss_mib_after']:.0f} MiB after (a high-water mark, start-up and checks included).",
        "",
        "After decontamination (the cleaned genome checked again):",
        "",
        *_table(record["after"], verbatim_bold=True),
        "",
        f"- **{both['verbatim']:,} verbatim remain** among the {both['eval_sequences']:,} sequences the genome "
        f"was cleaned against (before: {before['positives + negatives']['verbatim']:,}).",
    ]
    if sims:
        lines.append(
            f"- {len(sims)} stay *near* ({p['k']}-mer similarity {min(sims):.2f} to {max(sims):.2f}): "
            "none of them has a single locus covering the threshold (such a locus would have been masked), "
            "so their shared k-mers are spread over separate loci. They stay outside the clean subset."
        )
    lines.append(
        f"- The independent set was *not* among the sequences masked: {ind['verbatim']:,} of its "
        f"{ind['eval_sequences']:,} are still verbatim (before: {before['independent']['verbatim']:,})."
    )
    lines += labelled_lines(record, p)
    cli = record.get("cli")
    if cli:
        lines += [
            "",
            "The command a user runs, in a fresh process with an empty sequence cache:",
            "",
            "```",
            cli["command"],
            "```",
            "prints",
            "```",
            cli["stdout"].rstrip("\n"),
            "```",
            f"{cli['wall_s']:.1f} s wall, {cli['user_s']:.1f} s user + {cli['system_s']:.1f} s system CPU, "
            f"{cli['peak_rss_mib']:.0f} MiB peak resident memory (start-up included).",
        ]
    return "\n".join(lines) + "\n"


def labelled_lines(record: dict, p: dict) -> list[str]:
    """The labelled sets against each other (runs after 2026-12-07 record them)."""
    if "labelled" not in record:
        return []
    w, ind = record["labelled"]["benchmark_near_copies"], record["labelled"]["independent_vs_benchmark"]
    q = ind["similarity_quartiles"]
    return [
        "",
        f"The labelled sets against each other ({p['k']}-mer similarity >= {p['threshold']:g}, either "
        "strand, as `scipt finetune promoter` checks its training, validation and test data):",
        "",
        f"- Inside the benchmark, {w['positives']:,} positives and {w['negatives']:,} negatives have a "
        "near copy among the other records (exact copies left out): promoters annotated at nearby "
        "starts, whose windows overlap"
        + (
            f". Grouped as the promoter task's folds group them, the 5,720 records form {w['groups']:,} "
            f"groups of up to {w['largest_group']} records, {w['mixed_groups']} of them holding both "
            "labels"
            if "groups" in w
            else ""
        )
        + f" ({w['seconds']:.2f} s).",
        f"- **The independent set is mostly the benchmark again**: of its {ind['sequences']:,} "
        f"promoters, {ind['verbatim']:,} occur in the benchmark and **{ind['near']:,} are near copies** "
        f"of benchmark sequences (similarity quartiles {q[0]:.2f}, {q[1]:.2f}, {q[2]:.2f}; "
        f"{ind['seconds']:.2f} s): overlapping windows of the same promoters. A model trained "
        "on the benchmark and scored on it is scored largely on what it was trained on, not on new "
        "promoters.",
    ]


def render_summary(results: dict, name: str = "contamination_ipromoter") -> str:
    """RESULTS.md: four lines, before, decontamination, after."""
    record = results[name]
    d, g = record["decontaminate"], record["data"]["genome"]
    before = {r["set"]: r for r in record["before"]}
    after = {r["set"]: r for r in record["after"]}
    sims = [x["similarity"] for x in record["near_after"]]
    b, i, a = before["positives + negatives"], before["independent"], after["positives + negatives"]
    near = (
        f", {a['near'] - a['verbatim']:,} near (similarity {min(sims):.2f}-{max(sims):.2f})" if sims else ""
    )
    return (
        "\n".join(
            [
                f"{_measured(record)}",
                "",
                "| check | result | time |",
                "|---|---|---|",
                f"| {b['eval_sequences']:,} iPromoter-2L sequences against the {g['bp'] / 1e6:.1f} Mb genome "
                f"| {b['verbatim']:,} verbatim (either strand) | {min(b['seconds']):.2f} s |",
                f"| the {i['eval_sequences']:,} independent sequences | {i['verbatim']:,} verbatim "
                f"| {min(i['seconds']):.2f} s |",
                f"| decontaminate against the {d['eval_sequences']:,} | {d['masked_bases']:,} bp "
                f"({100 * d['masked_bases'] / d['corpus_bases']:.2f}%) masked in {d['regions']:,} regions "
                f"| {min(d['seconds']):.2f} s |",
                f"| re-check the decontaminated genome | {a['verbatim']:,} verbatim{near} "
                f"| {min(a['seconds']):.2f} s |",
                *labelled_row(record),
            ]
        )
        + "\n"
    )


def labelled_row(record: dict) -> list[str]:
    if "labelled" not in record:
        return []
    ind = record["labelled"]["independent_vs_benchmark"]
    return [
        f"| the {ind['sequences']:,} independent sequences against the benchmark's | {ind['verbatim']:,} "
        f"verbatim, **{ind['near']:,} near copies** | {ind['seconds']:.2f} s |"
    ]


if __name__ == "__main__":
    main()
