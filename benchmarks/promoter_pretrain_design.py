"""DNA pre-training design, measured at equal pre-training compute on inner validation splits.

The question (issue 12, item 2): which pre-training design makes the promoter classifier best —
tokens, span masking, reverse-complement handling, width and depth, the corpus — at the same CPU
cost? Protocol, fixed before the run:

- **Variants**, each a change of the promoter pipeline's pre-training
  (:func:`sciPT.tasks.promoter_demo.promoter_pretraining`: the ``tiny`` model, 64 wide, 2 layers,
  overlapping 3-mers, span-3 masking, reverse-complement augmentation, the E. coli genome):
  :data:`VARIANTS`. Every corpus is decontaminated against all 5,720 iPromoter-2L sequences
  (every copy, either strand, masked). ``strand-symmetric`` changes fine-tuning only (each
  prediction averaged with its reverse complement's: post-hoc conjoining, the RC-invariant
  baseline of Caduceus, Schiff et al. 2024) on the ``3-mer`` pre-training, and so does
  ``tokens head`` (the classifier head reads the one-hot tokens beside the hidden states,
  ``HeadConfig.tokens``); ``scratch`` is the ``3-mer`` architecture from random weights, and
  ``scratch, tokens head`` the same with that head (neither is a candidate). ``RC-equivariant``,
  ``tokens head`` and ``scratch, tokens head`` joined the run through ``--resume`` after it began,
  before any of its results were read.
- **Equal compute**: each pre-training runs ``--budget`` CPU-minutes (default 10), its step count
  sized from the CPU time of two short probes of the same variant (a line: start-up + steps x cost
  per step), so its cosine schedule ends at the budget; seed 0. The CPU time used is recorded.
- **Selection data, never a test set**: iPromoter-2L (2,860 + 2,860) and ``sigma70-shuffle``
  (the 1,694 sigma-70 promoters against a dinucleotide shuffle of each, so composition cannot
  separate them: ``benchmarks/promoter_design.py``). Of each, the training part of a stratified
  80/20 split (random state 0; the 20 % is not touched here) is split 75/25 into fit and validation
  parts (stratified, random state = seed); the classifier is fine-tuned on ``--fractions`` of the
  fit part (stratified) with the promoter task's defaults (conv head, full fine-tuning, early
  stopping on its own 10 %; epochs of the data's own size, ``min_steps_per_epoch = 0``, the default
  when it ran), ``ensemble 1``, seed = seed, and scored on the validation part.
- **Rule**: the design (``scratch`` is not one) with the highest mean validation MCC over datasets
  x fractions x seeds is chosen; a variant differs from ``3-mer`` (the pipeline's design) only where the paired mean
  difference over those units exceeds twice its standard error ("ahead"/"behind"), else "tied".

Raw results: ``benchmarks/results/<--results-name>.json``, rewritten after every unit; ``--resume``
skips finished units and pre-training runs (kept in ``benchmarks/out/<--results-name>/``). A
variant written after a run started joins it through ``--resume`` (the rule then covers it too);
the results file records when (``variants_added``).
:func:`render` makes the table of ``RESULTS_promoter.md`` (``benchmarks/report.py``).

    OMP_NUM_THREADS=1 python benchmarks/promoter_pretrain_design.py [--resume] [--budget 10]

Cost: pre-training is the budget times the pre-trained variants (8 x 10 = 80 CPU-minutes) plus
about a minute of probes each; 108 fine-tunes about 45 CPU-minutes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from summaries import mean_se
from summaries import verdict as verdict_of

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATASETS = ("ipromoter", "sigma70-shuffle")
REFERENCE = "3-mer"


def _nucleotide(cfg):
    from sciPT.domains.dna.objectives import masked_objective
    from sciPT.sequence_config import TokenizerConfig

    cfg.tokenizer = TokenizerConfig(kind="residue")
    cfg.objective = masked_objective(cfg.tokenizer)
    cfg.data.window = cfg.model.max_len


def _span1(cfg):
    cfg.objective.masked.span = 1


def _no_rc(cfg):
    cfg.data.reverse_complement = False


def _wide(cfg):
    cfg.model.d_model, cfg.model.d_ff = 128, 512


def _deep(cfg):
    cfg.model.n_layers = 4


def _rc_equivariant(cfg):
    # both strands share the weights of a 64-wide network: the parameters of the 3-mer design;
    # the encoder's symmetry replaces the augmentation
    cfg.model.rc_equivariant, cfg.model.d_model, cfg.model.d_ff = True, 128, 512
    cfg.data.reverse_complement = False


def _four_genomes(cfg):
    cfg.data.temperature, cfg.data.dedup, cfg.data.max_n_run, cfg.data.min_entropy = 2.0, "near", 16, 3.0


# name -> (what changes, the change, corpus: "ecoli" or "four genomes"); None: no pre-training of its own
VARIANTS = {
    "3-mer": ("the pipeline's design", None, "ecoli"),
    "nucleotide": ("single-nucleotide tokens (span 1)", _nucleotide, "ecoli"),
    "3-mer, span 1": ("3-mers masked one at a time", _span1, "ecoli"),
    "no RC augmentation": ("no reverse-complement augmentation", _no_rc, "ecoli"),
    "wide": ("128 wide (feed-forward 512)", _wide, "ecoli"),
    "deep": ("4 layers", _deep, "ecoli"),
    "RC-equivariant": (
        "reverse-complement parameter sharing (Caduceus): two 64-wide strands sharing weights, no "
        "augmentation; fine-tuned with a strand-invariant head",
        _rc_equivariant,
        "ecoli",
    ),
    "four genomes": (
        "the four shipped genomes, temperature 2, near-duplicates removed",
        _four_genomes,
        "genomes",
    ),
}
FINETUNE_ONLY = {
    "strand-symmetric": "3-mer",
    "tokens head": "3-mer",
    "scratch": "3-mer",
    "scratch, tokens head": "3-mer",
}


def describe(name: str) -> str:
    if name == "strand-symmetric":
        return "fine-tuned and predicting on both strands (3-mer pre-training)"
    if name == "tokens head":
        return "the head reads the one-hot tokens beside the hidden states (3-mer pre-training)"
    if name == "scratch":
        return "the 3-mer architecture, random weights (not a candidate)"
    if name == "scratch, tokens head":
        return "the 3-mer architecture, random weights, the tokens head (not a candidate)"
    return VARIANTS[name][0]


def variant_config(name: str, corpora: list[str]):
    from sciPT.tasks.promoter_demo import promoter_pretraining

    cfg = promoter_pretraining(corpora[0])
    cfg.data.paths = list(corpora)
    change = VARIANTS[name][1]
    if change is not None:
        change(cfg)
    return cfg


def clean_corpora(folder: Path, record: dict) -> dict[str, list[str]]:
    """The shipped genomes with every copy of an iPromoter-2L sequence (either strand) masked, made
    once in ``folder`` (the counts go to ``record["decontamination"]``): ``{"ecoli": [E. coli],
    "genomes": [all four]}``, the corpora of :data:`VARIANTS`."""
    from sciPT.diagnostics.contamination import decontaminate
    from sciPT.domains.dna.data import DNA_SPEC, SHIPPED_GENOMES, read_pair
    from sciPT.files import resolve_data_path
    from sciPT.tasks.promoter_demo import NEGATIVES, POSITIVES

    evaluation = None
    genomes = []
    for genome in SHIPPED_GENOMES:
        clean = folder / Path(genome).name.replace(".fna.gz", ".fa.gz")
        if not clean.is_file():
            if evaluation is None:
                evaluation = read_pair(resolve_data_path(POSITIVES), resolve_data_path(NEGATIVES))
            record.setdefault("decontamination", {})[genome] = decontaminate(
                resolve_data_path(genome), evaluation.codes, clean, DNA_SPEC
            )
        genomes.append(str(clean))
    return {"ecoli": genomes[:1], "genomes": genomes}


def merge(record: dict, name: str) -> None:
    """Take into ``record`` the variants, pre-training records and units of ``results/name.json``,
    a run of the same protocol but for its variants (refused otherwise); it is named in
    ``record["merged_from"]``."""
    import json

    other = json.loads((HERE / "results" / f"{name}.json").read_text())
    if not merge_record(record, other, name):
        sys.exit(f"--merge-from: {name} was run with another protocol")


def merge_record(record: dict, other: dict, name: str) -> bool:
    """:func:`merge` of the record ``other`` (the results file ``name``) into ``record``, in place;
    False, with ``record`` untouched, where ``other`` was run with another protocol."""
    rest = lambda protocol: {k: v for k, v in protocol.items() if k != "variants"}  # noqa: E731
    if rest(other["protocol"]) != rest(record["protocol"]):
        return False
    for variant in other["protocol"]["variants"]:  # in the file's order: the page is deterministic
        if variant not in record["protocol"]["variants"]:
            record.setdefault("variants_added", {})[variant] = other["provenance"]["date"]
    record["protocol"]["variants"].update(other["protocol"]["variants"])
    for variant, pre in other["pretraining"].items():
        record["pretraining"].setdefault(variant, pre)
    key = lambda u: (u["variant"], u["dataset"], u["fraction"], u["seed"])  # noqa: E731
    have = {key(u) for u in record["units"]}
    record["units"] += [u for u in other["units"] if key(u) not in have]
    for variant, date in other.get("variants_added", {}).items():
        record.setdefault("variants_added", {}).setdefault(variant, date)
    record.setdefault("merged_from", {})[name] = other["provenance"]
    return True


def add_variants(name: str, protocol: dict) -> dict[str, str]:
    """For ``--resume`` with variants the earlier run did not have (the rest of the protocol the
    same): sets ``protocol``'s variants to the earlier run's, for :func:`start_record`'s check, and
    returns the new ones (name: description), which join the record's protocol after it."""
    import json

    path = HERE / "results" / f"{name}.json"
    if not path.is_file():
        return []
    earlier = json.loads(path.read_text())["protocol"]
    rest = {k: v for k, v in protocol.items() if k != "variants"}
    if rest != {k: v for k, v in earlier.items() if k != "variants"}:
        return []  # start_record names what differs
    added = {v: d for v, d in protocol["variants"].items() if v not in earlier["variants"]}
    protocol["variants"] = dict(earlier["variants"])  # what start_record checks against
    return added


def selection_splits(labels: np.ndarray, seed: int, fractions: list[float]) -> tuple[np.ndarray, dict]:
    """The protocol's split of a selection set for ``seed`` (module docstring): the validation
    part's indices and ``{fraction: indices of that fraction of the fit part}``, fractions ascending."""
    from sklearn.model_selection import train_test_split

    train_part, _ = train_test_split(np.arange(len(labels)), test_size=0.2, random_state=0, stratify=labels)
    fit, val = train_test_split(train_part, test_size=0.25, random_state=seed, stratify=labels[train_part])
    subsets = {}
    for fraction in sorted(fractions):
        subsets[fraction] = fit
        if fraction < 1:
            subsets[fraction], _ = train_test_split(
                fit, train_size=fraction, random_state=seed, stratify=labels[fit]
            )
    return val, subsets


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--budget", type=float, default=10.0, help="pre-training CPU-minutes per variant")
    parser.add_argument("--variants", nargs="+", default=[*VARIANTS, *FINETUNE_ONLY])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.05, 1.0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--results-name", default="promoter_pretrain_design")
    parser.add_argument("--resume", action="store_true", help="keep the finished units of an earlier run")
    parser.add_argument(
        "--work", help="folder of the pre-training runs (default benchmarks/out/<--results-name>)"
    )
    parser.add_argument(
        "--merge-from",
        metavar="NAME",
        help="with --resume: take the units and pre-training records of results/NAME.json, a run of "
        "the same protocol (other variants) sharing --work, into this one",
    )
    parser.add_argument(
        "--pretrain-only",
        action="store_true",
        help="probe and pre-train the variants, write no results (a second process may do this while "
        "another runs; a later --resume takes its runs and their CPU time from their folders)",
    )
    args = parser.parse_args(argv)

    import torch

    sys.path.insert(0, str(HERE))
    from promoter_budget import PROBE_STEPS, cost_line, cpu_seconds, pretrain_for, steps_for
    from promoter_design import load_dataset
    from provenance import finish, start_record, write_results

    from sciPT.metrics import binary_metrics
    from sciPT.tasks import promoter as task
    from sciPT.tasks import promoter_classifier, promoter_start

    torch.set_num_threads(1)
    work = Path(args.work) if args.work else HERE / "out" / args.results_name
    work.mkdir(parents=True, exist_ok=True)
    protocol = {
        "budget_cpu_min": args.budget,
        "fractions": sorted(args.fractions),
        "seeds": args.seeds,
        "variants": {name: describe(name) for name in args.variants},
        "split": "training part of StratifiedShuffleSplit-like 80/20 (random state 0), then fit/validation "
        "75/25 (random state = seed); fractions of the fit part stratified (random state = seed)",
        "finetuning": "tasks/promoter.py PromoterConfig defaults, ensemble 1",
        "rule": "highest mean validation MCC over datasets x fractions x seeds, scratch excluded",
    }
    added = add_variants(args.results_name, protocol) if args.resume else {}
    record = start_record(args.results_name, protocol, argv, args.resume, pretraining={}, units=[])
    record["protocol"]["variants"].update(added)  # every variant meets the same rule
    if args.merge_from:
        merge(record, args.merge_from)
    for name in added:
        record.setdefault("variants_added", {})[name] = record["provenance_resumed"][-1]["date"]

    def save() -> None:
        if not args.pretrain_only:
            write_results(args.results_name, finish(record))

    corpora = clean_corpora(work / "corpus", record)

    starts: dict[str, Path | None] = {}
    for name in {FINETUNE_ONLY[v] for v in args.variants if v in FINETUNE_ONLY} - set(args.variants):
        # the start of a fine-tuning variant, pre-trained (and recorded) by the run of its own name
        starts[name] = work / f"pretrain-{name.replace(' ', '-').replace(',', '')}"
        if not (starts[name] / "model" / "config.json").is_file():
            sys.exit(f"{starts[name]}: no pre-training run; run the variant {name!r} first")
    for name in args.variants:
        if name in FINETUNE_ONLY:
            continue
        pre = record["pretraining"].setdefault(name, {"probes": {}})
        corpus = corpora[VARIANTS[name][2]]
        for steps in PROBE_STEPS:
            if str(steps) not in pre["probes"]:
                cfg = variant_config(name, corpus)
                pre["probes"][str(steps)] = pretrain_for(
                    None, steps, work / f"probe-{name.replace(' ', '-').replace(',', '')}-{steps}", cfg
                )
                save()
        line = cost_line(pre["probes"])
        out = work / f"pretrain-{name.replace(' ', '-').replace(',', '')}"
        if "cpu_s" not in pre:
            steps = steps_for(args.budget, line)
            print(
                f"pre-training {name}: {steps} steps for {args.budget:g} CPU-min", file=sys.stderr, flush=True
            )
            pre.update(steps=steps, cpu_s=pretrain_for(None, steps, out, variant_config(name, corpus)))
            pre["sized_from"] = list(line)
            save()
        starts[name] = out
    if args.pretrain_only:
        return 0

    done = {(u["variant"], u["dataset"], u["fraction"], u["seed"]) for u in record["units"]}
    for dataset in args.datasets:
        data = load_dataset(dataset, work)
        for seed in args.seeds:
            val, subsets = selection_splits(data.labels, seed, args.fractions)
            for fraction, sub in subsets.items():
                for name in args.variants:
                    if (name, dataset, fraction, seed) in done:
                        continue
                    # epochs of the data's own size, as measured (the epoch floor and the stacks came later)
                    cfg = task.PromoterConfig(
                        min_steps_per_epoch=0, naturalness=False, kmer_stack=False, cnn_stack=False
                    )
                    cfg.ensemble = 1
                    source = FINETUNE_ONLY.get(name, name)
                    start = promoter_start.load_start(str(starts[source]), cfg)
                    if name.startswith("scratch"):  # the same architecture and tokenizer, random weights
                        start = promoter_start.Start(
                            "scratch", None, start.model_cfg, start.tokenizer, [], {}
                        )
                    cfg.strand_symmetric = name == "strand-symmetric"
                    cfg.head.tokens = name.endswith("tokens head")
                    length = min(max(len(c) for c in data.codes), start.residue_cap)
                    cpu = cpu_seconds()
                    torch.manual_seed(seed)
                    model = promoter_classifier.train_classifier(
                        start, cfg, data.subset(np.sort(sub)), length, seed
                    )
                    scores = model.predict(data.subset(np.sort(val)).codes)
                    record["units"].append(
                        {
                            "variant": name,
                            "dataset": dataset,
                            "fraction": fraction,
                            "seed": seed,
                            "fit_sequences": int(len(sub)),
                            "validation": binary_metrics(data.labels[np.sort(val)], scores),
                            "cpu_s": round(cpu_seconds() - cpu, 1),
                        }
                    )
                    save()
    print(render({args.results_name: record}, args.results_name))
    return 0


# --- rendering (standard library only) ----------------------------------------------------------
def render(results: dict, name: str = "promoter_pretrain_design") -> str:
    """The block of ``results[name]``, with ``results[name + "_extra"]`` (variants run beside it
    into a file of their own) merged in as ``--merge-from`` would, unless already merged."""
    import copy

    record = results[name]
    extra = f"{name}_extra"
    if extra in results and extra not in record.get("merged_from", {}):
        record = copy.deepcopy(record)
        if not merge_record(record, copy.deepcopy(results[extra]), extra):
            raise ValueError(f"{extra} was run with another protocol than {name}")
    prov, protocol = record["provenance"], record["protocol"]
    by: dict[str, dict[tuple, float]] = {}
    for u in record["units"]:
        by.setdefault(u["variant"], {})[(u["dataset"], u["fraction"], u["seed"])] = u["validation"]["mcc"]
    columns = sorted({(u["dataset"], u["fraction"]) for u in record["units"]})
    lines = [
        f"Measured by `{prov['command']}` at commit `{prov['commit'][:10]}`"
        + (" (uncommitted changes)" if prov.get("dirty") else "")
        + f", {prov['date'][:10]}; pre-training {protocol['budget_cpu_min']:g} CPU-minutes per variant; "
        f"seeds {', '.join(map(str, protocol['seeds']))}."
        + "".join(
            f" Merged with `results/{merged}.json`: `{p['command']}` at commit `{p['commit'][:10]}`"
            + (" (uncommitted changes)" if p.get("dirty") else "")
            + f", {p['date'][:10]}."
            for merged, p in record.get("merged_from", {}).items()
        ),
        "",
        "Validation MCC (mean ± standard error over seeds), and the paired difference to "
        f"`{REFERENCE}` over every dataset x fraction x seed unit (2-SE rule):",
        "",
        "| variant | what changes | pre-training steps (CPU-min) | "
        + " | ".join(f"{d}, {f:.0%}" for d, f in columns)
        + f" | mean | vs {REFERENCE} |",
        "|---|---|---|" + "---|" * (len(columns) + 2),
    ]
    means = {}
    for variant, units in by.items():
        pre = record["pretraining"].get(variant, {})
        cost = f"{pre['steps']:,} ({pre['cpu_s'] / 60:.1f})" if "cpu_s" in pre else "—"
        cells = []
        for column in columns:
            values = [v for k, v in units.items() if k[:2] == column]
            m, se = mean_se(values) if values else (float("nan"), float("nan"))
            cells.append((f"{m:.3f} ± {se:.3f}" if se == se else f"{m:.3f}") if values else "")
        means[variant] = float(np.mean(list(units.values())))
        versus = "—"
        reference = by.get(REFERENCE, {})
        shared = sorted(set(units) & set(reference))
        if variant != REFERENCE and len(shared) > 1:
            d, se = mean_se([units[k] - reference[k] for k in shared])
            versus = f"{d:+.3f} ± {se:.3f}, " + verdict_of(d, se)
        lines.append(
            f"| {variant} | {protocol['variants'].get(variant, '')} | {cost} | "
            + " | ".join(cells)
            + f" | {means[variant]:.3f} | {versus} |"
        )
    candidates = {k: v for k, v in means.items() if not k.startswith("scratch")}
    if candidates:
        best = max(candidates, key=candidates.get)
        lines += ["", f"Rule ({protocol['rule']}): **{best}**."]
    for variant, date in record.get("variants_added", {}).items():
        lines += [
            "",
            f"`{variant}` joined the run on {date[:10]}, after it began (`--resume`, `--merge-from`).",
        ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
