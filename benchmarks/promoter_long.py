"""Long promoter windows, run as a user would: iPromoter-2L's sequences widened to 251 bp.

The promoter sets the project keeps aside include 251-bp windows (plant TATA promoters, -200 to +50
around the transcription start, of the kind CNNProm used), where a small CNN was far ahead of the
package. Every other promoter benchmark here reads iPromoter-2L's 81-bp windows, so this one checks
the length: each of iPromoter-2L's 5,720 sequences is found in the E. coli K-12 genome (either
strand; the first hit) and widened on its own strand to ``--upstream`` bases before and
``--downstream`` after it (140 and 30 by default: the 81-bp window runs from -60 to +20, so the
result runs from -200 to +50 for a promoter, as the plant windows do). Nothing was chosen on these
data: the package's defaults are scored once.

The commands are a user's, each in a fresh process:

1. ``scipt data decontaminate``: the E. coli genome masked against the 251-bp windows (they are in it);
2. ``scipt pretrain dna --preset tiny --max-steps 1500 --data`` the masked genome and the three
   shipped 1 % genome samples (the held-out runs' pre-training, with E. coli decontaminated);
3. ``scipt finetune promoter --init PRE --positives P --negatives N --folds 5 --ensemble E``: the
   pre-trained start with scratch, the k-mer regression and the CNN beside it on the same folds.

Raw results (provenance, the widened sets' counts and SHA-256, each command's wall and CPU time,
the fine-tune's per-fold MCC of every model and its verdicts) go to
``benchmarks/results/promoter_long.json``; :func:`render` is the RESULTS.md block.

Run (about an hour on one core with ``--ensemble 1``)::

    OMP_NUM_THREADS=1 python benchmarks/promoter_long.py
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

from summaries import verdict as verdict_of

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATA = ROOT / "data_recipes"
GENOME = DATA / "dna/ecoli_k12_mg1655.fna.gz"
SAMPLES = [DATA / f"dna/{name}1pct.fa.gz" for name in ("at", "dm", "ce")]
SETS = {"positives": DATA / "promoters/positive2860.txt", "negatives": DATA / "promoters/negative2860.txt"}
MODELS = ("pre-trained", "scratch", "k-mer LR", "CNN")
COMPLEMENT = str.maketrans("ACGTN", "TGCAN")


def reverse_complement(seq: str) -> str:
    return seq.translate(COMPLEMENT)[::-1]


def read_fasta(path: Path) -> list[str]:
    """The residues of every record of a FASTA file (gzipped or not), upper-cased."""
    from sciPT.sequences import fasta_records, open_text

    with open_text(path) as handle:
        return [text.upper() for _, _, _, text in fasta_records(handle, path)]


def widen(seq: str, genome: str, upstream: int, downstream: int) -> str | None:
    """``seq`` with ``upstream`` genome bases before it and ``downstream`` after, read on the strand
    ``seq`` lies on; None when it is not in the genome or the window would leave it."""
    at = genome.find(seq)
    if at >= 0:
        lo, hi = at - upstream, at + len(seq) + downstream
        return genome[lo:hi] if lo >= 0 and hi <= len(genome) else None
    at = genome.find(reverse_complement(seq))
    if at < 0:
        return None
    lo, hi = at - downstream, at + len(seq) + upstream
    return reverse_complement(genome[lo:hi]) if lo >= 0 and hi <= len(genome) else None


def build_sets(work: Path, upstream: int, downstream: int) -> dict:
    genome = read_fasta(GENOME)[0]
    out = {}
    for name, path in SETS.items():
        short = read_fasta(path)
        wide = [w for w in (widen(s, genome, upstream, downstream) for s in short) if w is not None]
        target = work / f"{name}_{len(short[0]) + upstream + downstream}bp.fa"
        target.write_text("".join(f">{name[:3]}{i}\n{w}\n" for i, w in enumerate(wide)))
        out[name] = {
            "source": str(path.relative_to(ROOT)),
            "sequences": len(short),
            "widened": len(wide),
            "distinct": len(set(wide)),
            "length": len(wide[0]),
            "path": str(target),
            "sha256": hashlib.sha256(target.read_bytes()).hexdigest(),
        }
    return out


def run(cmd: list[str]) -> dict:
    """One ``scipt`` command in a fresh process: its wall and CPU time (children's rusage)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    print("$ " + " ".join(cmd), file=sys.stderr, flush=True)
    subprocess.run([str(Path(sys.executable).with_name("scipt")), *cmd[1:]], cwd=ROOT, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return {"command": " ".join(cmd), "wall_s": time.perf_counter() - t, "cpu_s": cpu}


def user_protocol(work: Path, pos: str, neg: str, args: argparse.Namespace) -> dict:
    """Decontaminate the E. coli genome against ``pos`` and ``neg``, pre-train ``tiny`` (or
    ``args.preset``) on it and the three 1 % samples (``args.pretrain_steps``), fine-tune with ``--folds 5 --ensemble
    args.ensemble``, each a ``scipt`` command in a fresh process, in ``work``; a step whose output
    exists is not run again. With ``args.pretrained`` (a pre-training run) that encoder is the start
    and nothing is pre-trained. Returns the record's ``steps``, ``metrics`` and ``report_head``."""
    clean = work / "ecoli_decontaminated.fa.gz"
    pre, fine = Path(getattr(args, "pretrained", None) or work / "pretrain"), work / "promoter"
    trained = (pre / "model").exists()  # a finished run's export
    steps = {}
    if not clean.exists() and not trained:
        steps["decontaminate"] = run(
            [
                "scipt",
                "data",
                "decontaminate",
                "--corpus",
                str(GENOME),
                "--against",
                pos,
                neg,
                "--output",
                str(clean),
            ]
        )
    if not trained:
        corpus = [str(clean), *map(str, SAMPLES)]
        steps["pretrain"] = run(
            ["scipt", "pretrain", "dna", "--preset", getattr(args, "preset", "tiny")]
            + ["--max-steps", str(args.pretrain_steps)]
            + ["--data", *corpus, "--out", str(pre)]
        )
    steps["finetune"] = run(
        ["scipt", "finetune", "promoter", "--init", str(pre), "--positives", pos, "--negatives", neg]
        + ["--folds", "5", "--ensemble", str(args.ensemble), "--out", str(fine)]
    )
    report = (fine / "report.md").read_text().splitlines()
    encoder = json.loads((pre / "model" / "config.json").read_text())
    return {
        "steps": steps,
        # scratch takes the encoder's tokenizer and size, so runs from other encoders differ in it too
        "encoder": {"tokenizer": encoder["tokenizer"], "model": encoder["model"]},
        "metrics": json.loads((fine / "metrics.json").read_text()),
        "report_head": report[: report.index("") + 1 + report[report.index("") + 1 :].index("")],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--upstream", type=int, default=140)
    parser.add_argument("--downstream", type=int, default=30)
    parser.add_argument("--pretrain-steps", type=int, default=1500)
    parser.add_argument("--ensemble", type=int, default=1)
    parser.add_argument("--results-name", default="promoter_long")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(HERE))
    from provenance import finish, provenance, write_results

    record = {"provenance": provenance(argv)}
    work = HERE / "out" / args.results_name
    work.mkdir(parents=True, exist_ok=True)
    record["data"] = sets = build_sets(work, args.upstream, args.downstream)
    record["params"] = vars(args)
    record.update(user_protocol(work, sets["positives"]["path"], sets["negatives"]["path"], args))
    path = write_results(args.results_name, finish(record))
    print(f"wrote {path}", file=sys.stderr)
    print(render({args.results_name: record}, args.results_name))


# --- rendering (standard library only) ---------------------------------------------------------


def _key(model: str) -> str:
    # sciPT.tasks.promoter_verdicts.metric_key, repeated: renderers use the standard library only
    return model.lower().replace("k-mer", "kmer").replace("-", "_").replace(" ", "_")


def render(results: dict, name: str = "promoter_long") -> str:
    sys.path.insert(0, str(HERE))
    from report import provenance_line

    record = results[name]
    d, p = record["data"], record["params"]
    lines = [
        f"Measured by {provenance_line(record)}",
        "",
        f"Data: {d['positives']['widened']:,} of {d['positives']['sequences']:,} positives and "
        f"{d['negatives']['widened']:,} of {d['negatives']['sequences']:,} negatives found in the genome and "
        f"widened to {d['positives']['length']} bp ({p['upstream']} bases upstream, {p['downstream']} "
        f"downstream); pre-training {p['pretrain_steps']:,} steps of `tiny`; {p['ensemble']} fine-tune(s) per "
        "model; 5 folds.",
    ]
    return "\n".join(lines + result_lines(record)) + "\n"


def result_lines(record: dict) -> list[str]:
    """A user-protocol run's models side by side (MCC per fold, AUROC, accuracy, the pre-trained
    model's verdict against each), the commands' cost, and the opening of the run's report."""
    m = record["metrics"]
    words = {-1: "behind", 0: "tied", 1: "ahead"}
    lines = [
        "",
        "| model | MCC (mean ± SE over folds) | per fold | AUROC | accuracy | pre-trained minus this model (MCC) |",
        "|---|---|---|---|---|---|",
    ]
    for model in MODELS:
        k = _key(model)
        folds = ", ".join(f"{m[f'{k}_mcc_fold{i}']:.3f}" for i in range(1, 6))
        versus = "—"
        if model != "pre-trained":
            pair = f"pre_trained_vs_{k}_mcc"
            versus = f"{m[f'{pair}_diff_mean']:+.3f} ± {m[f'{pair}_diff_se']:.3f}: {words[int(m[f'{pair}_verdict'])]}"
        lines.append(
            f"| {model} | {m[f'{k}_mcc_mean']:.3f} ± {m[f'{k}_mcc_se']:.3f} | {folds} | "
            f"{m[f'{k}_auroc_mean']:.3f} | {m[f'{k}_accuracy_mean']:.3f} | {versus} |"
        )
    steps = record["steps"]
    cpu = ", ".join(
        f"{step} {s['cpu_s'] / 60:.1f} CPU-min ({s['wall_s'] / 60:.1f} min wall)" for step, s in steps.items()
    )
    lines += [
        "",
        contamination_line(m),
        "",
        f"Commands' cost: {cpu}.",
        "",
        "The run's report opens with:",
        "",
    ]
    lines += [f"> {line}" if line else ">" for line in record["report_head"]]
    return lines


def contamination_line(m: dict) -> str:
    """The run's contamination check (evaluation sequences in the pre-training corpus) and each
    model's MCC over all the folds' predictions on the clean ones."""
    n, verbatim, near = (
        m["contamination_eval_sequences"],
        m["contamination_verbatim"],
        m["contamination_near"],
    )
    line = (
        f"Contamination (the run's check): of {n:,} evaluation sequences, {verbatim:,} ({verbatim / n:.1%}) "
        f"occur verbatim in the pre-training corpus (either strand), {near:,} ({near / n:.1%}) verbatim or "
        "nearly (16-mer similarity at least 0.5)"
    )
    if "pre_trained_clean_mcc" not in m:
        return line + "."
    clean = ", ".join(f"{model} {m[f'{_key(model)}_clean_mcc']:.3f}" for model in MODELS)
    return line + f"; MCC on the {m['contamination_clean']:,} clean ones (pooled over folds): {clean}."


def render_cnn_stack(
    results: dict, name: str = "promoter_long_cnn_stack", before: str = "promoter_long"
) -> str:
    """The re-run with the CNN stack on (the task's default since its measurement), then each model's
    per-fold MCC difference to the run before it: the same commands, seeds and folds, so the k-mer
    LR and the CNN must match and the fine-tuned models differ by what sits on them."""
    if name not in results:
        return f"No results yet: run `OMP_NUM_THREADS=1 python benchmarks/promoter_long.py --results-name {name}`.\n"
    lines = [render(results, name)]
    if before in results:
        lines += [
            f"Per-fold MCC of this run minus the run before the CNN stack (`{before}`, the block above), "
            "mean ± standard error over the 5 folds: "
            + fold_differences(results[name], results[before])
            + ".\n"
        ]
    return "\n".join(lines)


def paired_difference(now: dict, then: dict, model: str, then_model: str | None = None) -> str:
    """Per-fold MCC of ``model`` in run ``now`` minus ``then_model`` (default the same model) in run
    ``then`` (the same folds): mean ± standard error over the 5 folds and the 2-SE verdict."""
    a, b = _key(model), _key(then_model or model)
    diffs = [now["metrics"][f"{a}_mcc_fold{i}"] - then["metrics"][f"{b}_mcc_fold{i}"] for i in range(1, 6)]
    mean = sum(diffs) / len(diffs)
    se = (sum((x - mean) ** 2 for x in diffs) / (len(diffs) - 1) / len(diffs)) ** 0.5
    word = verdict_of(mean, se)
    return f"{mean:+.3f} ± {se:.3f} ({word})"


def fold_differences(now: dict, then: dict) -> str:
    """Each model's :func:`paired_difference` between runs ``now`` and ``then``, one clause per
    model."""
    return "; ".join(f"{model} {paired_difference(now, then, model)}" for model in MODELS)


if __name__ == "__main__":
    main()
