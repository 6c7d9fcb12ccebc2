"""Promoter accuracy against pre-training compute, at 1, 5, 25 and 100 % of the labels.

The question (issue 12): how much pre-training does a promoter classifier need, and at which label
budgets does it pay? Protocol, fixed before the run:

- **Pre-training, the design chosen on validation** by ``benchmarks/promoter_pretrain_design.py``
  (``--design``, one of its variants; ``3-mer`` is the promoter pipeline's own,
  :func:`sciPT.tasks.promoter_demo.promoter_pretraining`: the ``tiny`` DNA model with overlapping
  3-mers, span masking), on its corpus decontaminated against all 5,720 iPromoter-2L sequences;
  seed 0. One run per budget of ``--budgets`` CPU-minutes (default 5, 15, 45; 0 is the
  same architecture from scratch), each with its cosine schedule ending at its own budget: the
  step count is sized beforehand from the CPU time of two short probes (a line CPU = start-up +
  steps x cost per step), because CPU time, unlike wall time, does not depend on what else the
  machine runs. The CPU time each run used is recorded.
- **Downstream, iPromoter-2L** (2,860 + 2,860, 81 bp). The test set is the 20 % the design
  benchmark never touched (stratified, random state 0), the same for every seed, so the design was
  chosen without it. Per seed of ``--seeds`` (default 0 1 2): of the 80 %, a
  stratified subset of each label fraction (1, 5, 25, 100 %; random state = seed); fine-tuned with
  the promoter task's defaults (``PromoterConfig``: conv head on the hidden states and the one-hot
  tokens, the design benchmark's choice; full fine-tuning, early stopping on
  its own stratified 10 % of the subset) but ``ensemble = 1``, seed = seed; the 20 % test part is
  scored once. Nothing is tuned here: the settings are the package's defaults.
- Reported: accuracy, MCC and AUROC per (budget, fraction, seed); mean ± standard error over seeds;
  a figure of accuracy against pre-training CPU-minutes, one line per label fraction
  (``benchmarks/<--results-name>.png``). Pre-training "pays" at a fraction when the paired (same
  seed) difference to scratch exceeds twice its standard error.

Raw results: ``benchmarks/results/<--results-name>.json``, rewritten after every unit; ``--resume``
skips finished units (pre-training runs are kept in ``benchmarks/out/<--results-name>/``).
:func:`render` makes the table of ``benchmarks/RESULTS_promoter.md`` (``benchmarks/report.py``).

    OMP_NUM_THREADS=1 python benchmarks/promoter_budget.py [--resume]
    OMP_NUM_THREADS=1 python benchmarks/promoter_budget.py --quick --results-name promoter_budget_quick

Cost: pre-training is the budgets' sum (65 CPU-minutes by default) plus about 2 for the probes;
the 48 fine-tunes about 25 CPU-minutes. ``--quick`` (budgets 0 and 0.5, fractions 5 and 100 %, one
seed, 400 of the sequences) takes a few CPU-minutes and is a smoke test, not a measurement.
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import sys
from pathlib import Path

import numpy as np
from summaries import mean_se
from summaries import verdict as verdict_of

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
FRACTIONS = (0.01, 0.05, 0.25, 1.0)
BUDGETS = (0.0, 5.0, 15.0, 45.0)
PROBE_STEPS = (60, 240)


def cpu_seconds() -> float:
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def pretrain_for(corpus: Path, steps: int, out: Path, cfg=None) -> float:
    """Pre-train ``steps`` steps into ``out`` with ``cfg`` (default: the promoter pipeline's,
    :func:`sciPT.tasks.promoter_demo.promoter_pretraining` on ``corpus``); its CPU seconds, also
    kept in ``out/cpu.json``, so a run finished by another process (or before a crash) is not
    repeated and its cost is known (NaN if it finished without that file)."""
    from sciPT.pretrain import pretrain
    from sciPT.tasks.promoter_demo import promoter_pretraining

    if (out / "model" / "config.json").is_file():
        done = out / "cpu.json"
        return float(json.loads(done.read_text())["cpu_s"]) if done.is_file() else float("nan")
    cfg = cfg if cfg is not None else promoter_pretraining(str(corpus))
    cfg.train.max_steps = steps
    cfg.train.val_every = max(1, steps // 5)
    cfg.train.checkpoint_every = cfg.train.val_every
    cfg.train.seed = 0
    start = cpu_seconds()
    pretrain("dna", cfg, out, command=f"benchmarks/promoter_budget.py ({steps} steps)")
    used = cpu_seconds() - start
    (out / "cpu.json").write_text(json.dumps({"steps": steps, "cpu_s": used}))
    return used


def cost_line(probes: dict) -> tuple[float, float]:
    """``(start-up CPU s, CPU s per step)`` of pre-training, from the CPU seconds of the two probe
    runs of :data:`PROBE_STEPS` steps (keys: their step counts as strings)."""
    (s1, c1), (s2, c2) = ((s, probes[str(s)]) for s in PROBE_STEPS)
    per_step = (c2 - c1) / (s2 - s1)
    return max(0.0, c1 - s1 * per_step), per_step


def steps_for(budget_min: float, line: tuple[float, float]) -> int:
    """Pre-training steps that spend ``budget_min`` CPU-minutes on the cost line ``line``."""
    startup, per_step = line
    return max(PROBE_STEPS[0], int((budget_min * 60 - startup) / per_step))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--budgets", type=float, nargs="+", default=list(BUDGETS), help="CPU-minutes")
    parser.add_argument("--fractions", type=float, nargs="+", default=list(FRACTIONS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--results-name", default="promoter_budget")
    parser.add_argument("--resume", action="store_true", help="keep the finished units of an earlier run")
    parser.add_argument("--quick", action="store_true", help="a smoke run (module docstring)")
    parser.add_argument(
        "--design", default="3-mer", help="a variant of benchmarks/promoter_pretrain_design.py"
    )
    parser.add_argument(
        "--pretrain-only",
        action="store_true",
        help="probe and pre-train --budgets, write no results (two processes may pre-train different "
        "budgets at once; a later --resume takes the runs and their CPU time from their folders)",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.budgets, args.fractions, args.seeds = [0.0, 0.5], [0.05, 1.0], args.seeds[:1]

    import torch
    from sklearn.model_selection import train_test_split

    sys.path.insert(0, str(HERE))
    from promoter_pretrain_design import VARIANTS, clean_corpora, variant_config
    from provenance import finish, start_record, write_results

    from sciPT.domains.dna.data import read_pair
    from sciPT.files import resolve_data_path
    from sciPT.metrics import binary_metrics
    from sciPT.tasks import promoter as task
    from sciPT.tasks import promoter_classifier, promoter_start
    from sciPT.tasks.promoter_demo import NEGATIVES, POSITIVES

    torch.set_num_threads(1)
    work = HERE / "out" / args.results_name
    work.mkdir(parents=True, exist_ok=True)
    protocol = {
        "budgets_cpu_min": sorted(args.budgets),
        "fractions": sorted(args.fractions),
        "seeds": args.seeds,
        "design": args.design,
        "pretraining": f"benchmarks/promoter_pretrain_design.py variant {args.design!r}: "
        f"{VARIANTS[args.design][0]}; decontaminated corpus, seed 0",
        "finetuning": "tasks/promoter.py PromoterConfig defaults, ensemble 1",
        "split": "test: the 20 % of train_test_split(test_size=0.2, random_state=0, stratified) that the "
        "design benchmark held out, every seed; label subsets of the 80 % stratified, random_state=seed",
        "probe_steps": list(PROBE_STEPS),
        "quick": args.quick,
    }
    record = start_record(args.results_name, protocol, argv, args.resume, pretraining={}, units=[])

    def save() -> None:
        if not args.pretrain_only:
            write_results(args.results_name, finish(record))

    data = read_pair(resolve_data_path(POSITIVES), resolve_data_path(NEGATIVES))
    if args.quick:
        keep = np.random.default_rng(0).permutation(len(data))[:400]
        data = data.subset(np.sort(keep))
    corpus = clean_corpora(HERE / "out" / "promoter_pretrain_design" / "corpus", record)[
        VARIANTS[args.design][2]
    ]

    def design(steps: int, out: Path) -> float:
        return pretrain_for(None, steps, out, variant_config(args.design, corpus))

    # the cost line of pre-training, from two probes (kept in the record)
    probes = record.setdefault("probes", {})
    for steps in PROBE_STEPS:
        if str(steps) not in probes:
            probes[str(steps)] = design(steps, work / f"probe-{steps}")
            save()
    line = cost_line(probes)
    runs = {}
    for budget in sorted(args.budgets):
        key = f"{budget:g}"
        if budget == 0:
            runs[key] = None
            continue
        steps = steps_for(budget, line)
        out = work / f"pretrain-{key}min"
        if key not in record["pretraining"]:
            print(f"pre-training for {budget:g} CPU-min: {steps} steps", file=sys.stderr, flush=True)
            used = design(steps, out)
            record["pretraining"][key] = {"steps": steps, "cpu_s": used, "sized_from": list(line)}
            save()
        runs[key] = out
    if args.pretrain_only:
        return 0

    template = next((p for p in runs.values() if p is not None), None)
    if template is None:
        sys.exit("--budgets: scratch takes the architecture of a pre-trained run; name a budget above 0")
    done = {(u["budget"], u["fraction"], u["seed"]) for u in record["units"]}
    train_idx, test_idx = train_test_split(
        np.arange(len(data)), test_size=0.2, random_state=0, stratify=data.labels
    )
    for seed in args.seeds:
        for fraction in sorted(args.fractions):
            sub = train_idx
            if fraction < 1:
                sub, _ = train_test_split(
                    train_idx, train_size=fraction, random_state=seed, stratify=data.labels[train_idx]
                )
            for key, pretrained in runs.items():
                if (key, fraction, seed) in done:
                    continue
                # recorded before the likelihood fusion and the k-mer and CNN stacks
                cfg = task.PromoterConfig(naturalness=False, kmer_stack=False, cnn_stack=False)
                cfg.ensemble = 1
                if pretrained is None:  # the same architecture and tokenizer as the pre-trained ones
                    base = promoter_start.load_start(str(template), cfg)
                    start = promoter_start.Start("scratch", None, base.model_cfg, base.tokenizer, [], {})
                else:
                    start = promoter_start.load_start(str(pretrained), cfg)
                length = min(max(len(c) for c in data.codes), start.residue_cap)
                cpu = cpu_seconds()
                torch.manual_seed(seed)
                model = promoter_classifier.train_classifier(
                    start, cfg, data.subset(np.sort(sub)), length, seed
                )
                scores = model.predict(data.subset(test_idx).codes)
                unit = {
                    "budget": key,
                    "fraction": fraction,
                    "seed": seed,
                    "train_sequences": int(len(sub)),
                    "test": binary_metrics(data.labels[test_idx], scores),
                    "cpu_s": round(cpu_seconds() - cpu, 1),
                }
                record["units"].append(unit)
                save()
                print(
                    json.dumps(
                        {k: unit[k] for k in ("budget", "fraction", "seed")}
                        | {"acc": round(unit["test"]["accuracy"], 3)}
                    ),
                    flush=True,
                )
    save()
    if record["units"]:
        (HERE / f"{args.results_name}.png").write_bytes(figure_png(record))
    print(render({args.results_name: record}, args.results_name))
    return 0


# --- rendering (standard library and matplotlib only) -----------------------------------------------
def _cells(record: dict) -> dict:
    cells: dict[tuple, dict] = {}
    for u in record["units"]:
        cells.setdefault((u["budget"], u["fraction"]), {})[u["seed"]] = u["test"]
    return cells


def figure_png(record: dict) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cells = _cells(record)
    budgets = sorted({float(b) for b, _ in cells})
    fig, ax = plt.subplots(figsize=(6, 4))
    for fraction in sorted({f for _, f in cells}):
        xs, ms, ses = [], [], []
        for b in budgets:
            by = cells.get((f"{b:g}", fraction))
            if by:
                m, se = mean_se([t["accuracy"] for t in by.values()])
                xs.append(b), ms.append(m), ses.append(0 if se != se else se)
        ax.errorbar(xs, ms, yerr=ses, marker="o", capsize=3, label=f"{fraction:.0%} of the labels")
    ax.set_xlabel("pre-training CPU-minutes (0 = scratch)")
    ax.set_ylabel("test accuracy, iPromoter-2L")
    ax.set_xticks(budgets)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def render(results: dict, name: str = "promoter_budget") -> str:
    record = results[name]
    cells = _cells(record)
    budgets = sorted({b for b, _ in cells}, key=float)
    fractions = sorted({f for _, f in cells})
    prov = record["provenance"]
    lines = [
        f"Measured by `{prov['command']}` at commit `{prov['commit'][:10]}`"
        + (" (uncommitted changes)" if prov.get("dirty") else "")
        + f", {prov['date'][:10]}; seeds {', '.join(map(str, record['protocol']['seeds']))}."
        + (" **Smoke run (`--quick`): not a measurement.**" if record["protocol"].get("quick") else ""),
        "",
        "Pre-training runs: "
        + "; ".join(
            f"{k} CPU-min: {v['steps']} steps, {v['cpu_s'] / 60:.1f} CPU-min used"
            for k, v in sorted(record["pretraining"].items(), key=lambda kv: float(kv[0]))
        )
        + ".",
        "",
        "Test accuracy (mean ± standard error over seeds; in brackets, the paired difference to scratch "
        "in points, and the verdict by the 2-SE rule):",
        "",
        "| labels | " + " | ".join(f"{b} CPU-min" if float(b) else "scratch" for b in budgets) + " |",
        "|---|" + "---|" * len(budgets),
    ]
    for fraction in fractions:
        row = [f"{fraction:.0%}"]
        base = cells.get(("0", fraction), {})
        for b in budgets:
            by = cells.get((b, fraction), {})
            if not by:
                row.append("")
                continue
            m, se = mean_se([t["accuracy"] for t in by.values()])
            cell = f"{m:.3f} ± {se:.3f}" if se == se else f"{m:.3f}"
            seeds = sorted(set(by) & set(base))
            if float(b) and len(seeds) > 1:
                d, dse = mean_se([100 * (by[s]["accuracy"] - base[s]["accuracy"]) for s in seeds])
                verdict = verdict_of(d, dse)
                cell += f" ({d:+.1f} ± {dse:.1f}, {verdict})"
            row.append(cell)
        lines.append("| " + " | ".join(row) + " |")
    lines += ["", f"![accuracy against pre-training compute]({name}.png)"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
