"""The promoter fine-tuning recipe at few labels, measured on inner validation splits.

The question (issue 12, item 2, for fine-tuning): the promoter task fits for ``max_epochs`` epochs
with early stopping after ``patience`` epochs without progress. With 1 % of iPromoter-2L's labels an
epoch is two batches, so a fit is at most 30 optimizer steps (fewer than the 50 of the
learning-rate warm-up) and early stopping judges every 2 steps. Does an epoch of at least
``min_steps_per_epoch`` steps (a small training set drawn several times per epoch;
:mod:`sciPT.classification`, "Fit") do better, for the pre-trained start and from scratch? Protocol,
fixed before the run:

- **Pre-training**: the ``3-mer`` design of ``benchmarks/promoter_pretrain_design.py`` (the
  promoter pipeline's: ``tiny``, overlapping 3-mers, span-3 masking, reverse-complement
  augmentation) on the E. coli genome decontaminated against all 5,720 iPromoter-2L sequences,
  for ``--budget`` CPU-minutes (default 10, sized from two probes as there), seed 0.
- **Selection data, never a test set**: the datasets and splits of that benchmark: iPromoter-2L and
  ``sigma70-shuffle``; of each, the training part of a stratified 80/20 split (random state 0; the
  20 % is not touched) split 75/25 into fit and validation parts (random state = seed); the
  classifier is fine-tuned on ``--fractions`` of the fit part (stratified, random state = seed) with
  the promoter task's defaults (``ensemble 1``) and ``min_steps_per_epoch`` in ``--values``, and
  scored on the whole validation part.
- **Rule**: the value with the highest mean validation MCC of the pre-trained start over datasets x
  fractions x seeds becomes the task's default; a value differs from 0 (the recipe before) only where
  the paired mean difference over those units exceeds twice its standard error. The candidate is
  50, the length of the learning-rate warm-up (an epoch that at least finishes it). A training set
  of at least ``value`` batches is untouched, so ``--fractions`` holds only sizes the value changes:
  all of either fit part is at least 57 batches (iPromoter-2L 96, sigma70-shuffle 57).

Head composition (``--composition off on``; added later, its rule fixed before its run): the same
splits and recipe (``min_steps_per_epoch`` 50, the default by then) with the classifier head's
composition features off and on (``head.composition``: the mean of the head's inputs over positions
beside the conv head's pooled map), here with all of the fit part as well (``--fractions 0.01 0.05
0.25 1``) and the pre-trained start of ``--pretrained RUN`` (the transfer benchmark's shared
45-CPU-minute encoder, decontaminated against iPromoter-2L). Rule: composition becomes the
promoter task's default if the pre-trained start's mean validation MCC over datasets x fractions x
seeds is higher with it than without (:func:`render_composition`).

k-mer stacking (``--kmer-stack``; added later, its rule fixed before its run): the same splits,
recipe and encoder as the composition runs, the task's head, each fine-tune scored twice on the
validation part: with a k-mer logistic regression stacked onto its logit as the task does
(``kmer_stack``: fitted on the fine-tune's early-stopping split, kept where its likelihood ratio
reaches 3.841; ``tasks/promoter.py``), and the same fine-tune without it. Rule: the k-mer stack
becomes the promoter task's default if the pre-trained start's mean validation MCC over datasets x
fractions x seeds is higher with it than without (:func:`render_kmer_stack`).

CNN stacking (``--cnn-stack``; added later, its rule fixed before its run): the same splits, recipe
and encoder as the k-mer stack runs, with the task's k-mer stack on (its default by then), each
fine-tune scored twice on the validation part: with the baseline CNN's logit stacked on top as the
task does (``cnn_stack``: a CNN fitted on the fine-tune's fit part, the stack on its early-stopping
split, kept where its likelihood ratio reaches 3.841), and the same fine-tune without it. Rule: the
CNN stack becomes the promoter task's default if the pre-trained start's mean validation MCC over
datasets x fractions x seeds is higher with it than without (:func:`render_cnn_stack`).

Training sequences rolled (``--shift 0 4``; added later, its rule fixed before its run): the same
splits and recipe as the composition runs (no stacks, the task's head), each fine-tune with the
task's ``shift`` 0 and 4 (each training sequence rolled by up to 4 bases when drawn; measured on
the transfer to other sigma factors in ``RESULTS.md`` first, which is why it is a candidate). The
shared 45-CPU-minute encoder of the earlier rounds was not kept; the pre-trained start is the
transfer benchmark's per-seed 3,000-step encoder of seed 0 (``--pretrained``, decontaminated
against iPromoter-2L). Rule: ``shift`` 4 becomes the promoter task's default if the pre-trained
start's mean validation MCC over datasets x fractions x seeds is higher with it than without
(:func:`render_shift`).

Raw results: ``benchmarks/results/<--results-name>.json`` (default ``promoter_recipe``), rewritten
after every unit; ``--resume`` skips finished units and the pre-training (kept in
``benchmarks/out/<--results-name>/``). :func:`render` makes the table of ``RESULTS_promoter.md``.

    OMP_NUM_THREADS=1 python benchmarks/promoter_recipe.py [--resume] [--budget 10]

Cost: pre-training 10 CPU-minutes and about 2 of probes; 72 fine-tunes of 5-40 CPU-seconds each
(the longer epochs take longer), about 25 CPU-minutes.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import numpy as np
from promoter_design import DATASETS
from summaries import mean_se
from summaries import verdict as verdict_of

HERE = Path(__file__).resolve().parent
DESIGN = "3-mer"  # promoter_pretrain_design.VARIANTS key: the pipeline's pre-training
STARTS = ("pre-trained", "scratch")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--budget", type=float, default=10.0, help="pre-training CPU-minutes")
    parser.add_argument("--values", type=int, nargs="+", default=[0, 50], help="min_steps_per_epoch")
    parser.add_argument("--datasets", nargs="+", choices=DATASETS, default=["ipromoter", "sigma70-shuffle"])
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.01, 0.05, 0.25])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--results-name", default="promoter_recipe")
    parser.add_argument("--resume", action="store_true", help="keep the finished units of an earlier run")
    parser.add_argument(
        "--pretrained",
        metavar="RUN",
        default=None,
        help="fine-tune this pre-training run (its corpus must not hold the selection sets) instead "
        "of pre-training the 3-mer design for --budget",
    )
    parser.add_argument("--starts", nargs="+", choices=STARTS, default=list(STARTS))
    parser.add_argument(
        "--composition",
        nargs="+",
        choices=["off", "on"],
        default=None,
        help="head.composition values (default: the task's)",
    )
    parser.add_argument(
        "--kmer-stack",
        action="store_true",
        help="score each fine-tune with and without the task's k-mer stack",
    )
    parser.add_argument(
        "--shift",
        type=int,
        nargs="+",
        default=None,
        metavar="BASES",
        help="the task's shift values to fine-tune with (default: the task's)",
    )
    parser.add_argument(
        "--cnn-stack",
        action="store_true",
        help="score each fine-tune with and without the task's CNN stack (the k-mer stack on)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    import torch

    sys.path.insert(0, str(HERE))
    from promoter_budget import PROBE_STEPS, cost_line, cpu_seconds, pretrain_for, steps_for
    from promoter_design import load_dataset
    from promoter_pretrain_design import clean_corpora, selection_splits, variant_config
    from provenance import finish, start_record, write_results

    from sciPT.metrics import binary_metrics
    from sciPT.tasks import promoter as task
    from sciPT.tasks import promoter_classifier, promoter_start

    torch.set_num_threads(1)
    work = HERE / "out" / args.results_name
    work.mkdir(parents=True, exist_ok=True)
    protocol = protocol_of(args)
    record = start_record(
        args.results_name, protocol, argv, args.resume, pretraining={"probes": {}}, units=[]
    )

    def save() -> None:
        write_results(args.results_name, finish(record))

    pre = record["pretraining"]
    pretrained = Path(args.pretrained) if args.pretrained else work / "pretrain"
    for steps in [] if args.pretrained else PROBE_STEPS:
        if str(steps) not in pre["probes"]:
            corpus = clean_corpora(work / "corpus", record)["ecoli"]
            pre["probes"][str(steps)] = pretrain_for(
                None, steps, work / f"probe-{steps}", variant_config(DESIGN, corpus)
            )
            save()
    if "cpu_s" not in pre and not args.pretrained:
        corpus = clean_corpora(work / "corpus", record)["ecoli"]
        line = cost_line(pre["probes"])
        steps = steps_for(args.budget, line)
        print(f"pre-training: {steps} steps for {args.budget:g} CPU-min", file=sys.stderr, flush=True)
        pre.update(steps=steps, cpu_s=pretrain_for(None, steps, pretrained, variant_config(DESIGN, corpus)))
        pre["sized_from"] = list(line)
        save()

    default = task.PromoterConfig().head.composition
    heads = [c == "on" for c in args.composition] if args.composition else [default]
    shifts = sorted(args.shift) if args.shift else [task.PromoterConfig().shift]
    done = {
        (
            u["start"],
            u["value"],
            u.get("composition", False),
            u.get("shift", 0),
            u["dataset"],
            u["fraction"],
            u["seed"],
        )
        for u in record["units"]
    }
    for dataset in args.datasets:
        data = load_dataset(dataset, work)
        for seed in args.seeds:
            val, subsets = selection_splits(data.labels, seed, args.fractions)
            validation = data.subset(np.sort(val))
            for fraction, sub in subsets.items():
                for start_name, value, composition, shift in itertools.product(
                    args.starts, sorted(args.values), heads, shifts
                ):
                    if (start_name, value, composition, shift, dataset, fraction, seed) in done:
                        continue
                    cfg = task.PromoterConfig(
                        ensemble=1,
                        min_steps_per_epoch=value,
                        naturalness=False,
                        kmer_stack=args.kmer_stack or args.cnn_stack,
                        cnn_stack=args.cnn_stack,
                    )
                    cfg.head.composition = composition
                    cfg.shift = shift
                    start = promoter_start.load_start(str(pretrained), cfg)
                    if start_name == "scratch":  # the same architecture and tokenizer, random weights
                        start = promoter_start.Start(
                            "scratch", None, start.model_cfg, start.tokenizer, [], {}
                        )
                    length = min(max(len(c) for c in data.codes), start.residue_cap)
                    cpu = cpu_seconds()
                    torch.manual_seed(seed)
                    model = promoter_classifier.train_classifier(
                        start, cfg, data.subset(np.sort(sub)), length, seed
                    )
                    stacked = {}
                    if args.kmer_stack:
                        fitted = model.fitted_stack
                        stacked = {
                            "kmer_stack": True,
                            "validation_without_kmer_stack": binary_metrics(
                                validation.labels, model.predict(validation.codes, stack=None)
                            ),
                            "kmer_stack_fit": None
                            if fitted is None
                            else {**fitted.to_dict(), "kept": model.stack is not None},
                        }
                    if args.cnn_stack:
                        fitted = model.fitted_cnn_stack
                        stacked = {
                            "cnn_stack": True,
                            "validation_without_cnn_stack": binary_metrics(
                                validation.labels, model.predict(validation.codes, cnn_stack=None)
                            ),
                            "cnn_stack_fit": None
                            if fitted is None
                            else {**fitted.to_dict(), "kept": model.cnn_stack is not None},
                        }
                    record["units"].append(
                        {
                            "start": start_name,
                            "value": value,
                            **({"composition": True} if composition else {}),
                            **({"shift": shift} if shift else {}),
                            "dataset": dataset,
                            "fraction": fraction,
                            "seed": seed,
                            "fit_sequences": int(len(sub)),
                            "validation": binary_metrics(validation.labels, model.predict(validation.codes)),
                            "cpu_s": round(cpu_seconds() - cpu, 1),
                            **stacked,
                        }
                    )
                    save()
    print(renderer_for(protocol)({args.results_name: record}, args.results_name))
    return 0


def protocol_of(args: argparse.Namespace) -> dict:
    """What a run records as its protocol (``--resume`` must find the same): the settings, and the
    rule of the experiment its options make."""
    protocol = {
        "budget_cpu_min": args.budget,
        "design": DESIGN,
        "values": sorted(args.values),
        "datasets": args.datasets,
        "fractions": sorted(args.fractions),
        "seeds": args.seeds,
        "split": "promoter_pretrain_design's: training part of a stratified 80/20 split (random state 0), "
        "fit/validation 75/25 (random state = seed), fractions of the fit part stratified (random state = seed)",
        "finetuning": "tasks/promoter.py PromoterConfig defaults, ensemble 1, min_steps_per_epoch = value",
        "rule": "highest mean validation MCC of the pre-trained start over datasets x fractions x seeds",
    }
    if args.pretrained:
        protocol["pretrained_run"] = str(Path(args.pretrained).resolve())
    if args.composition or args.starts != list(STARTS):
        # the starts, and the head's composition (None: the task's default), as every run with
        # --starts has recorded them (a --resume of those compares them); the rule is the
        # composition experiment's only with --composition (--starts alone once switched it)
        protocol.update(starts=args.starts, composition=args.composition)
    if args.composition:
        protocol["rule"] = (
            "head.composition becomes the task's default if the pre-trained start's mean validation "
            "MCC over datasets x fractions x seeds is higher with it than without"
        )
    if args.kmer_stack:
        protocol.update(starts=args.starts, kmer_stack=True)
        protocol["rule"] = (
            "kmer_stack becomes the task's default if the pre-trained start's mean validation MCC over "
            "datasets x fractions x seeds is higher with it than without (the same fine-tune scored both ways)"
        )
    if args.cnn_stack:
        protocol.update(starts=args.starts, kmer_stack=True, cnn_stack=True)
        protocol["rule"] = (
            "cnn_stack becomes the task's default if the pre-trained start's mean validation MCC over "
            "datasets x fractions x seeds is higher with it than without (the same fine-tune scored both "
            "ways, the k-mer stack on)"
        )
    if args.shift:
        protocol.update(starts=args.starts, shift=sorted(args.shift))
        protocol["rule"] = (
            f"shift {max(args.shift)} becomes the task's default if the pre-trained start's mean "
            "validation MCC over datasets x fractions x seeds is higher with it than without"
        )
    return protocol


def renderer_for(protocol: dict):
    """The table of the experiment ``protocol`` records (``main`` prints it after the run)."""
    return (
        render_shift
        if "shift" in protocol
        else render_cnn_stack
        if "cnn_stack" in protocol
        else render_kmer_stack
        if "kmer_stack" in protocol
        else render_composition
        if protocol.get("composition")
        else render
    )


# --- rendering (standard library and numpy only) ------------------------------------------------
def _cell(values: list[float]) -> str:
    if not values:
        return ""
    m, se = mean_se(values)
    return f"{m:.3f} ± {se:.3f}" if se == se else f"{m:.3f}"


def _versus(units: dict, reference: dict) -> str:
    shared = sorted(set(units) & set(reference))
    if len(shared) < 2:
        return "—"
    d, se = mean_se([units[k] - reference[k] for k in shared])
    return f"{d:+.3f} ± {se:.3f}, " + verdict_of(d, se)


def _measured_by(prov: dict) -> str:
    return (
        f"Measured by `{prov['command']}` at commit `{prov['commit'][:10]}`"
        + (" (uncommitted changes)" if prov.get("dirty") else "")
        + f", {prov['date'][:10]}"
    )


def render(results: dict, name: str = "promoter_recipe") -> str:
    record = results[name]
    prov, protocol = record["provenance"], record["protocol"]
    columns = [(d, f) for d in protocol["datasets"] for f in protocol["fractions"]]
    metric: dict[tuple, dict[tuple, dict]] = {}
    for u in record["units"]:
        metric.setdefault((u["start"], u["value"]), {})[(u["dataset"], u["fraction"], u["seed"])] = u
    pre = record["pretraining"]
    lines = [
        _measured_by(prov) + f"; pre-training {pre.get('steps', 0):,} steps "
        f"({pre.get('cpu_s', 0) / 60:.1f} CPU-min); seeds {', '.join(map(str, protocol['seeds']))}.",
        "",
        "Validation MCC (mean ± standard error over seeds) by start and `min_steps_per_epoch`; the "
        "paired difference to the same start at 0 (the recipe before) over every dataset x fraction x "
        "seed unit, and pre-trained against scratch at the same value (2-SE rule):",
        "",
        "| start | min steps per epoch | "
        + " | ".join(f"{d}, {f:.0%}" for d, f in columns)
        + " | mean | vs 0 | pre-trained vs scratch | mean accuracy | CPU s per fit |",
        "|---|---|" + "---|" * (len(columns) + 5),
    ]
    means = {}
    for (start, value), units in sorted(metric.items()):
        mcc = {k: u["validation"]["mcc"] for k, u in units.items()}
        cells = [_cell([v for k, v in mcc.items() if k[:2] == column]) for column in columns]
        means[(start, value)] = float(np.mean(list(mcc.values())))
        reference = {k: u["validation"]["mcc"] for k, u in metric.get((start, 0), {}).items()}
        scratch = {k: u["validation"]["mcc"] for k, u in metric.get(("scratch", value), {}).items()}
        accuracy = np.mean([u["validation"]["accuracy"] for u in units.values()])
        cpu = np.mean([u["cpu_s"] for u in units.values()])
        lines.append(
            f"| {start} | {value} | "
            + " | ".join(cells)
            + f" | {means[(start, value)]:.3f} | {'—' if value == 0 else _versus(mcc, reference)} | "
            + f"{_versus(mcc, scratch) if start == 'pre-trained' else '—'} | {accuracy:.3f} | {cpu:.0f} |"
        )
    candidates = {v: m for (s, v), m in means.items() if s == "pre-trained"}
    if candidates:
        best = max(candidates, key=candidates.get)
        lines += ["", f"Rule ({protocol['rule']}): **min_steps_per_epoch = {best}**."]
    return "\n".join(lines) + "\n"


# the head-composition runs, one per selection set (run side by side, one core each)
COMPOSITION_RUNS = ("promoter_recipe_composition_ipromoter", "promoter_recipe_composition_sigma70")


def render_composition(results: dict, names: tuple | str = COMPOSITION_RUNS) -> str:
    """The head's composition features off and on (``--composition off on``), on the units of the
    runs ``names``: validation MCC per dataset and fraction, the paired difference on minus off over
    every dataset x fraction x seed unit (2-SE rule), and the rule's verdict."""
    return _render_on_off(
        results,
        names,
        "composition",
        lambda u: [(u, u.get("composition", False))],
        "--values 50 --composition off on --fractions 0.01 0.05 0.25 1 --datasets DATASET "
        "--results-name promoter_recipe_composition_DATASET",
    )


# the shift runs, one per selection set (run side by side, one core each)
SHIFT_RUNS = ("promoter_recipe_shift_ipromoter", "promoter_recipe_shift_sigma70")


def render_shift(results: dict, names: tuple | str = SHIFT_RUNS) -> str:
    """The training sequences' shift off and on (``--shift 0 4``), as :func:`render_composition`."""
    return _render_on_off(
        results,
        names,
        "shift",
        lambda u: [(u, u.get("shift", 0) > 0)],
        "--values 50 --shift 0 4 --fractions 0.01 0.05 0.25 1 --datasets DATASET "
        "--results-name promoter_recipe_shift_DATASET",
    )


# the task-adaptive pre-training runs, one per selection set (run side by side, one core each, at
# commit cc35780; the option was not kept, RESULTS_promoter.md)
ADAPT_RUNS = ("promoter_recipe_adapt_ipromoter", "promoter_recipe_adapt_sigma70")


def render_adapt(results: dict, names: tuple | str = ADAPT_RUNS) -> str:
    """Task-adaptive pre-training off and on (``--adapt-steps 0 S``, run at commit ``cc35780``;
    the option was not kept), as :func:`render_composition`."""
    return _render_on_off(
        results,
        names,
        "task-adaptive pre-training",
        lambda u: [(u, u.get("adapt_steps", 0) > 0)],
        "--values 50 --adapt-steps 0 S --fractions 0.01 0.05 0.25 1 --datasets DATASET "
        "--results-name promoter_recipe_adapt_DATASET",
    )


# the k-mer stack runs, one per selection set (run side by side, one core each)
KMER_STACK_RUNS = ("promoter_recipe_kmer_stack_ipromoter", "promoter_recipe_kmer_stack_sigma70")


def render_kmer_stack(results: dict, names: tuple | str = KMER_STACK_RUNS) -> str:
    """The k-mer stack off and on (``--kmer-stack``: each fine-tune scored both ways), as
    :func:`render_composition`; the last line counts the fits where the stack was kept."""
    return _render_stack(results, names, "kmer_stack", "k-mer stack")


# the CNN stack runs, one per selection set (run side by side, one core each)
CNN_STACK_RUNS = ("promoter_recipe_cnn_stack_ipromoter", "promoter_recipe_cnn_stack_sigma70")


def render_cnn_stack(results: dict, names: tuple | str = CNN_STACK_RUNS) -> str:
    """The CNN stack off and on (``--cnn-stack``), as :func:`render_kmer_stack`."""
    return _render_stack(results, names, "cnn_stack", "CNN stack")


def _render_stack(results: dict, names: tuple | str, key: str, noun: str) -> str:
    names = (names,) if isinstance(names, str) else names
    flag = "--" + key.replace("_", "-")
    text = _render_on_off(
        results,
        names,
        noun,
        lambda u: [({**u, "validation": u[f"validation_without_{key}"]}, False), (u, True)],
        f"--values 50 {flag} --fractions 0.01 0.05 0.25 1 --datasets DATASET "
        f"--results-name promoter_recipe_{key}_DATASET",
    )
    units = [u for n in names if n in results for u in results[n]["units"]]
    if not units:
        return text
    kept: dict[tuple, list[int]] = {}
    for u in units:
        fit = u.get(f"{key}_fit")
        counts = kept.setdefault((u["start"], u["fraction"]), [0, 0, 0])
        counts[0 if fit is None else 1 + int(fit["kept"])] += 1
    cells = [
        f"{start}, {fraction:.0%}: {k} kept, {f} left out, {n} not fitted"
        for (start, fraction), (n, f, k) in sorted(kept.items())
    ]
    return text + "\nStacks per start and fraction (every dataset and seed): " + "; ".join(cells) + ".\n"


def _render_on_off(results: dict, names, noun: str, pairs, flags: str) -> str:
    """Validation MCC of a setting off and on, one row per (start, on), and per
    ``min_steps_per_epoch`` where the units hold more than one (a row of each, with its column;
    never one row of two values); ``pairs(unit)`` gives the ``(unit, on)`` rows a results unit
    stands for."""
    names = (names,) if isinstance(names, str) else names
    records = [results[n] for n in names if n in results]
    if not records:
        return (
            "No results yet: run `benchmarks/promoter_recipe.py --pretrained RUN --starts pre-trained "
            f"{flags}`.\n"
        )
    protocol = records[0]["protocol"]
    datasets = [d for r in records for d in r["protocol"]["datasets"]]
    columns = [(d, f) for d in datasets for f in protocol["fractions"]]
    by: dict[tuple, dict[tuple, dict]] = {}
    for r in records:
        for unit in r["units"]:
            for u, on in pairs(unit):
                row = (u["start"], u.get("value"), on)
                by.setdefault(row, {})[(u["dataset"], u["fraction"], u["seed"])] = u
    values = sorted({value for _, value, _ in by}, key=lambda v: -1 if v is None else v)
    several = len(values) > 1
    lines = [f"{_measured_by(r['provenance'])}; {r['provenance']['cpu']['model']}." for r in records]
    lines += [
        "",
        f"Pre-trained start: `{Path(protocol['pretrained_run']).name}`; `min_steps_per_epoch` "
        f"{', '.join(map(str, protocol['values']))}; seeds {', '.join(map(str, protocol['seeds']))}. "
        f"Validation MCC (mean ± standard error over seeds); the paired difference, {noun} on minus "
        "off" + (" at the same `min_steps_per_epoch`" if several else "") + ", over every dataset x "
        "fraction x seed unit (2-SE rule):",
        "",
        f"| start | {'min steps per epoch | ' if several else ''}{noun} | "
        + " | ".join(f"{d}, {f:.0%}" for d, f in columns)
        + " | mean | on vs off | mean accuracy | CPU s per fit |",
        "|---|---|" + "---|" * (len(columns) + 4 + several),
    ]
    means = {}
    for (start, value, on), units in sorted(
        by.items(), key=lambda kv: (kv[0][0], values.index(kv[0][1]), kv[0][2])
    ):
        mcc = {k: u["validation"]["mcc"] for k, u in units.items()}
        means[(start, value, on)] = float(np.mean(list(mcc.values())))
        off = {k: u["validation"]["mcc"] for k, u in by.get((start, value, False), {}).items()}
        cells = [_cell([v for k, v in mcc.items() if k[:2] == column]) for column in columns]
        lines.append(
            f"| {start} | {f'{value} | ' if several else ''}{'on' if on else 'off'} | "
            + " | ".join(cells)
            + f" | {means[(start, value, on)]:.3f} | {_versus(mcc, off) if on else '—'} | "
            + f"{np.mean([u['validation']['accuracy'] for u in units.values()]):.3f} | "
            + f"{np.mean([u['cpu_s'] for u in units.values()]):.0f} |"
        )
    verdicts = []
    for value in values:
        if ("pre-trained", value, False) in means and ("pre-trained", value, True) in means:
            on = means[("pre-trained", value, True)] > means[("pre-trained", value, False)]
            at = f" at `min_steps_per_epoch` {value}" if several else ""
            verdicts.append(f"{noun} **{'on' if on else 'off'}**{at}")
    if verdicts:
        lines += ["", f"Rule ({protocol['rule']}): {'; '.join(verdicts)}."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
