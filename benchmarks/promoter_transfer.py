"""Promoter transfer and hard negatives: does a pre-trained DNA model (or anything) learn promoters, or
their composition?

    OMP_NUM_THREADS=1 python benchmarks/promoter_transfer.py                 # the full run (see Cost)
    OMP_NUM_THREADS=1 python benchmarks/promoter_transfer.py --resume        # continue a killed run
    OMP_NUM_THREADS=1 python benchmarks/promoter_transfer.py --quick --results-name promoter_transfer_quick

Experiments (``--experiments``), each for every seed of ``--seeds``:

- ``transfer``: train on sigma-70 promoters (a stratified 80% of the 1,694; the other 20% are the
  in-distribution test set ``sigma70``) against negatives, test on each other sigma subset (sigma24,
  28, 32, 38, 54; recipe ``ipromoter2l-sigma``) against held-out negatives of the same kind, one
  negative per test positive. Negative kinds (``--negative-kinds``): ``ipromoter`` (the 2,860
  published non-promoters, split at random between training and the test sets: 1,355 + 339 + 1,166
  is exactly 2,860), ``dinucleotide-shuffle`` (each positive's own Altschul-Erickson shuffle) and
  ``gc-matched`` (E. coli windows matched to the positives' GC histogram, 10 bins, drawn once for all
  2,860 positives and shared out by bin, so every set's histogram matches its positives' and no two
  sets share a residue); :mod:`sciPT.negatives`.
- ``hard-negatives``: the 2,860 iPromoter-2L positives against their dinucleotide shuffles and
  against GC-matched windows, 5-fold stratified CV.
- ``uci``: the 106 UCI promoters (57 nt) as a few-shot set, 5-fold stratified CV.
- ``few-labels``: iPromoter-2L (published negatives), 5-fold stratified CV, trained on a stratified
  ``--fractions`` (default 1% and 5%) of each outer training part, tested on the whole outer fold.

Models: the pre-trained ``tiny`` DNA encoder (3-mer tokens, pre-trained for ``--pretrain-steps`` on
the E. coli genome decontaminated against every sequence of every experiment of that seed, the
GC-matched windows included, which are genomic too) fine-tuned with the promoter task's code, the same
architecture from scratch, k-mer (k = 1..5) logistic regression, position-wise one-hot logistic
regression and the small CNN of ``sciPT.domains.dna.cnn`` (the strongest baseline of the nested
benchmark; added on 2026-12-02 after the other four had run, and run on the same units). Each is tuned on an inner split of its training set and refitted on all of it, with the
grids, inner split and selection rule of ``benchmarks/promoter_nested.py`` (its ``Models``,
``carve``, ``select``, ``label_subset`` and ``outer_folds`` are imported, not copied).

Raw results: ``benchmarks/results/<--results-name>.json`` via ``benchmarks/provenance.py``, rewritten
after every unit (experiment x variant x seed x fold x model), so ``--resume`` skips what is done.
Work files: ``benchmarks/out/<--results-name>/``. :func:`render` turns a record into markdown.

Cost (one thread; from the smoke run and promoter_nested's timings): per seed, pre-training ~4 CPU-min;
``transfer`` ~6 min per negative kind (one unit per model: 4 + 1 fine-tunes of ~35 s for each neural
model), ``hard-negatives`` ~8 min per fold and kind (~80 min), ``uci`` ~2 min, ``few-labels`` ~10 min:
about 2 CPU-hours per seed, 6 for the default three seeds. ``--quick`` takes more than 7 minutes of
wall time on 2 cores (a smoke run stopped at 7 minutes had done its pre-training and one unit); its
full cost is not measured.
Importing this module imports neither torch nor scikit-learn.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import time
from pathlib import Path

import numpy as np
from summaries import mean_se
from summaries import verdict as verdict_of

HERE = Path(__file__).resolve().parent
EXPERIMENTS = ("transfer", "hard-negatives", "uci", "few-labels")
NEGATIVE_KINDS = ("ipromoter", "dinucleotide-shuffle", "gc-matched")
MODELS = ("pre-trained", "scratch", "k-mer LR", "one-hot LR", "CNN")
OTHER_SIGMAS = ("sigma24", "sigma28", "sigma32", "sigma38", "sigma54")
SIGMA70_TEST_FRACTION = 0.2
GC_BINS = 10
UCI = "data_recipes/promoters/uci_ecoli_promoters.csv"
FIGURE = HERE / "promoter_transfer.png"


def _concat(parts):
    """``[(codes list, label)]`` -> LabelledSequences and the index range of each part."""
    from sciPT.sequence_inputs import LabelledSequences

    codes, labels, ranges, at = [], [], [], 0
    for c, y in parts:
        codes += list(c)
        labels += [y] * len(c)
        ranges.append(np.arange(at, at + len(c)))
        at += len(c)
    names = [f"s{i}" for i in range(len(codes))]
    return LabelledSequences(names, codes, np.array(labels, dtype=np.int64), "promoter_transfer"), ranges


def build_negatives(seed: int, positives: list, sigma: dict, genome) -> dict:
    """Every negative set of one seed: ``{kind: {"all": codes, subset: codes}}`` (module docstring)."""
    from sciPT.domains.dna.data import DNA_SPEC
    from sciPT.negatives import dinucleotide_shuffles, gc_bin, gc_counts, gc_matched_windows

    out = {"dinucleotide-shuffle": {}, "gc-matched": {}}
    for j, (name, codes) in enumerate(sigma.items()):
        out["dinucleotide-shuffle"][name] = dinucleotide_shuffles(codes, 1000 * seed + j)
    out["dinucleotide-shuffle"]["all"] = dinucleotide_shuffles(positives, seed)
    windows = gc_matched_windows(
        genome, positives, gc_codes=[1, 2], seed=seed, bins=GC_BINS, complement=DNA_SPEC.complement_codes()
    )
    pool = [w[4] for w in windows]
    out["gc-matched"]["all"] = pool
    by_bin: dict[int, list] = {}
    for c in pool:
        by_bin.setdefault(int(gc_bin(gc_counts([c], [1, 2]), len(c), GC_BINS)[0]), []).append(c)
    for name, codes in sigma.items():  # the subsets partition the positives: the pool is shared out exactly
        bins = gc_bin(gc_counts(codes, [1, 2]), np.array([len(c) for c in codes]), GC_BINS)
        out["gc-matched"][name] = [by_bin[int(b)].pop() for b in bins]
    return out


def transfer_sets(kind: str, seed: int, sigma: dict, ipromoter_neg: list, negs: dict):
    """Training set (80% of sigma-70 + negatives) and test sets (sigma-70's 20%, each other subset)."""
    from sklearn.model_selection import train_test_split

    rng = np.random.default_rng(seed)
    n70 = len(sigma["sigma70"])
    train70, test70 = train_test_split(np.arange(n70), test_size=SIGMA70_TEST_FRACTION, random_state=seed)
    s70 = sigma["sigma70"]
    if kind == "ipromoter":
        order = rng.permutation(len(ipromoter_neg))
        pool = [ipromoter_neg[i] for i in order]
        take = lambda n: [pool.pop() for _ in range(n)]  # noqa: E731
        neg_train, neg_70 = take(len(train70)), take(len(test70))
        neg_other = {name: take(len(sigma[name])) for name in OTHER_SIGMAS}
    else:
        k70 = negs[kind]["sigma70"]
        neg_train, neg_70 = [k70[i] for i in train70], [k70[i] for i in test70]
        neg_other = {name: negs[kind][name] for name in OTHER_SIGMAS}
    parts = [([s70[i] for i in train70], 1), (neg_train, 0), ([s70[i] for i in test70], 1), (neg_70, 0)]
    for name in OTHER_SIGMAS:
        parts += [(sigma[name], 1), (neg_other[name], 0)]
    data, ranges = _concat(parts)
    tests = {"sigma70": np.concatenate(ranges[2:4])}
    for j, name in enumerate(OTHER_SIGMAS):
        tests[name] = np.concatenate(ranges[4 + 2 * j : 6 + 2 * j])
    return data, np.concatenate(ranges[:2]), tests


def shared_pretraining(run: Path, sequences: list) -> dict:
    """The record of a pre-training run shared by every seed (``--pretrained``), after checking
    its corpus against ``sequences``: one held verbatim (either strand) stops the run. Near copies
    are counted, not refused: decontamination masks whole copies, and a sequence whose shared
    16-mers are scattered over many loci (repeated elements) stays near in any decontaminated
    corpus, the per-seed ones of this script included (:mod:`sciPT.diagnostics.contamination`)."""
    from sciPT.diagnostics.contamination import check_contamination
    from sciPT.domains.dna.data import DNA_SPEC
    from sciPT.sequences import Corpus

    config = json.loads((run / "model" / "config.json").read_text())
    paths = [entry["path"] for entry in config.get("pretrained_on", [])]
    if not paths:
        raise SystemExit(f"--pretrained {run}: the run records no pre-training corpus to check")
    report = check_contamination(sequences, Corpus(paths, DNA_SPEC), progress=False)
    if report.verbatim.any():
        raise SystemExit(f"--pretrained {run}: {report.sentence()}")
    metrics = json.loads((run / "metrics.json").read_text())
    cpu = run / "cpu.json"
    return {
        "run": str(run),
        "corpus": paths,
        "contamination": report.summary(),
        # the run's own CPU time is spent once, not per seed; kept apart from this file's cost
        "cpu_s": 0.0,
        "run_cpu_s": json.loads(cpu.read_text())["cpu_s"] if cpu.is_file() else None,
        **{k: v for k, v in metrics.items() if isinstance(v, (int, float))},
    }


def run_unit(
    nested, models, model: str, grid: list, train, tests: dict, seed: int, inner_seed: int, metric: str
):
    """Tune ``model`` on an inner split of ``train``, refit on ``train``, score every test set."""
    from sciPT.metrics import binary_metrics

    labels = models.labels
    inner_fit, inner_val = nested.carve(
        train, labels, np.arange(len(labels)), "random", nested.INNER_FRACTION, inner_seed
    )
    c0 = nested.cpu_seconds()
    candidates = []
    for setting in grid:
        p, info = models.fit_predict(model, setting, inner_fit, inner_val, seed)
        candidate = {"setting": setting, "inner_val": nested.clean(binary_metrics(labels[inner_val], p))}
        if info.get("fusion") is not None and not info["fusion_kept"] and "kmer_stack" not in setting:
            # what fusing regardless would have scored: the likelihood-ratio test's own effect
            # (not with the k-mer stack, which was fitted on the prediction the test chose)
            p, _ = models.fit_predict(model, {**setting, "naturalness": "always"}, inner_fit, inner_val, seed)
            candidate["inner_val_always_fused"] = nested.clean(binary_metrics(labels[inner_val], p))
        candidates.append(candidate)
    best = nested.select(candidates, metric)
    c1 = nested.cpu_seconds()
    everything = np.concatenate(list(tests.values()))

    def score(setting):
        p, info = models.fit_predict(model, setting, train, everything, seed)
        scores, at = {}, 0
        for name, idx in tests.items():
            scores[name] = nested.clean(binary_metrics(labels[idx], p[at : at + len(idx)]))
            scores[name]["n"] = len(idx)
            at += len(idx)
        return scores, info

    scores, info = score(grid[best])
    unit = {
        "n_train": len(train),
        "chosen": grid[best],
        "candidates": candidates,
        "test": scores,
    }
    if grid[best].get("cnn_stack") is True:
        # the same refit without the CNN stack (one fine-tune serves both): the stack's own effect
        unit["test_without_cnn_stack"] = score({**grid[best], "cnn_stack": "off"})[0]
    elif grid[best].get("kmer_stack") is True:
        # the same refit without the k-mer stack (one fine-tune serves both): the stack's own effect
        unit["test_without_kmer_stack"] = score({**grid[best], "kmer_stack": "off"})[0]
    if "naturalness" in grid[best] and "kmer_stack" not in grid[best]:
        # the same refit with the other choice (one fine-tune serves both): the fusion's own effect,
        # free of the fine-tune's variation, and the test scores of the task's default (fused where
        # the likelihood-ratio test keeps it), and, where the test left it out, fused regardless
        other = {**grid[best], "naturalness": not grid[best]["naturalness"]}
        unit["test_other_naturalness"], other_info = score(other)
        fused_info = info if grid[best]["naturalness"] else other_info
        unit["refit_fusion"] = fused_info
        if fused_info.get("fusion") is not None and not fused_info["fusion_kept"]:
            unit["test_always_fused"] = score({**grid[best], "naturalness": "always"})[0]
    return {
        **unit,
        "cpu_s": nested.cpu_seconds() - c0,
        "cpu_s_tuning": c1 - c0,
        **({"refit_info": info} if info else {}),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--experiments", nargs="+", default=list(EXPERIMENTS), choices=list(EXPERIMENTS))
    parser.add_argument(
        "--negative-kinds", nargs="+", default=list(NEGATIVE_KINDS), choices=list(NEGATIVE_KINDS)
    )
    parser.add_argument(
        "--models",
        nargs="+",
        default=None,
        choices=list(MODELS),
        help="default: all; with --pretrained, pre-trained (scratch may be added: its architecture is the encoder's)",
    )
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.01, 0.05])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--max-folds", type=int, default=0, help="run only the first N folds (0 = all)")
    parser.add_argument(
        "--pretrain-steps", type=int, default=None, help="default: promoter_demo.PRETRAIN_STEPS"
    )
    parser.add_argument(
        "--pretrained",
        default=None,
        metavar="RUN",
        help="fine-tune this pre-training run for every seed instead of pre-training one per seed "
        "(only the pre-trained model runs); every sequence of the chosen experiments is checked "
        "against its corpus first, and a contaminated one stops the run",
    )
    parser.add_argument(
        "--shared-pretraining",
        action="store_true",
        help="pre-train one encoder with the DNA 'promoter' preset (its steps unless --pretrain-steps) "
        "on the E. coli genome decontaminated against every sequence of every seed's experiments, "
        "kept in the work folder, then use it as --pretrained does",
    )
    parser.add_argument(
        "--naturalness",
        action="store_true",
        help="the pre-trained model's grid also chooses, on the inner split, whether to fuse the "
        "pre-trained model's likelihood into its predictions (sciPT.naturalness)",
    )
    parser.add_argument(
        "--head-warmup",
        type=float,
        default=0.0,
        metavar="FRACTION",
        help="every setting of the pre-trained model's grid trains the head alone for this fraction "
        "of the run first (LP-FT, finetune.head_warmup); the renderer chooses between such a run and "
        "the same run without, by the inner split (render_head_warmup)",
    )
    parser.add_argument(
        "--head-composition",
        action="store_true",
        help="every setting of the pre-trained model's grid puts the mean over positions beside the "
        "head's pooled map (head.composition); the renderer chooses between such a run and the same "
        "run without, by the inner split (render_head_composition)",
    )
    parser.add_argument(
        "--kmer-stack",
        action="store_true",
        help="the pre-trained model as the task predicts by default: the likelihood fused and a k-mer "
        "regression stacked where each is kept; its refit also scored without the stack "
        "(render_kmer_stack)",
    )
    parser.add_argument(
        "--shift",
        type=int,
        default=0,
        metavar="BASES",
        help="every fine-tune of the grids rolls each training sequence by up to this many bases "
        "either way when drawn (the task's --shift)",
    )
    parser.add_argument(
        "--cnn-stack",
        action="store_true",
        help="as --kmer-stack, with the baseline CNN stacked on top where kept (the task's default "
        "since its measurement); its refit also scored without the CNN stack (render_cnn_stack)",
    )
    parser.add_argument("--select-metric", default="auroc", choices=["auroc", "accuracy", "mcc"])
    parser.add_argument("--results-name", default="promoter_transfer")
    parser.add_argument("--resume", action="store_true", help="keep the finished units of an earlier run")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: first seed, 1 fold, 50 pre-training steps, grids of 2",
    )
    parser.add_argument(
        "--figure",
        action="store_true",
        help=f"run nothing: draw {FIGURE.name} from the committed results (transfer_figure_png)",
    )
    args = parser.parse_args(argv)
    if args.figure:
        from report import load_results

        FIGURE.write_bytes(transfer_figure_png(load_results()))
        print(f"wrote {FIGURE}", file=sys.stderr)
        return 0

    import torch

    sys.path.insert(0, str(HERE))
    import promoter_nested as nested
    from provenance import RESULTS, finish, provenance, write_results

    from sciPT.diagnostics.contamination import decontaminate
    from sciPT.domains.dna.data import (
        DNA_SPEC,
        ECOLI_GENOME,
        read_genome,
        read_labelled,
        read_pair,
        read_sigma_subsets,
    )
    from sciPT.files import resolve_data_path
    from sciPT.pretrain import pretrain
    from sciPT.tasks.promoter import PromoterConfig
    from sciPT.tasks.promoter_demo import NEGATIVES, POSITIVES, PRETRAIN_STEPS, promoter_pretraining
    from sciPT.tasks.promoter_start import Start, load_start

    torch.set_num_threads(1)
    grids = nested.GRIDS
    if args.quick:
        args.seeds, args.max_folds = args.seeds[:1], args.max_folds or 1
        args.pretrain_steps = args.pretrain_steps or 50
        grids = nested.QUICK_GRIDS
    shared_steps = args.pretrain_steps
    args.pretrain_steps = args.pretrain_steps or PRETRAIN_STEPS
    work = HERE / "out" / args.results_name
    if args.shared_pretraining:
        args.pretrained = str(work / "pretrain_shared")
    if args.pretrained:
        # the baselines do not depend on the encoder: they are the units of the per-seed run, unless a
        # setting of the neural models differs from that run's (scratch with --kmer-stack)
        args.models = args.models or ["pre-trained"]
        if set(args.models) - {"pre-trained", "scratch"}:
            raise SystemExit(
                "--pretrained: --models takes pre-trained and scratch (the classical baselines are the per-seed run's)"
            )
    args.models = args.models or list(MODELS)
    grids = {m: grids[m] for m in args.models}
    if args.naturalness and "pre-trained" in grids:
        grids["pre-trained"] = [{**g, "naturalness": n} for g in grids["pre-trained"] for n in (False, True)]
    if args.head_warmup and "pre-trained" in grids:
        grids["pre-trained"] = [{**g, "head_warmup": args.head_warmup} for g in grids["pre-trained"]]
    if args.cnn_stack:
        if args.naturalness or args.kmer_stack:
            raise SystemExit("--cnn-stack: runs with the task's fusion and k-mer stack; drop the other flags")
        for m in set(grids) & {"pre-trained", "scratch"}:
            grids[m] = [{**g, "naturalness": True, "kmer_stack": True, "cnn_stack": True} for g in grids[m]]
    if args.kmer_stack:
        if args.naturalness:
            raise SystemExit(
                "--kmer-stack: runs with the task's fusion (fused where kept); drop --naturalness"
            )
        for m in set(grids) & {"pre-trained", "scratch"}:
            grids[m] = [{**g, "naturalness": True, "kmer_stack": True} for g in grids[m]]
    if args.head_composition and "pre-trained" in grids:
        grids["pre-trained"] = [{**g, "composition": True} for g in grids["pre-trained"]]
    if args.shift:
        for m in set(grids) & {"pre-trained", "scratch"}:
            grids[m] = [{**g, "shift": args.shift} for g in grids[m]]
    work.mkdir(parents=True, exist_ok=True)
    started, cpu0 = time.time(), nested.cpu_seconds()

    ipromoter = read_pair(resolve_data_path(POSITIVES), resolve_data_path(NEGATIVES))
    positives = [c for c, y in zip(ipromoter.codes, ipromoter.labels) if y == 1]
    ipromoter_neg = [c for c, y in zip(ipromoter.codes, ipromoter.labels) if y == 0]
    sigma = read_sigma_subsets()
    uci = read_labelled(resolve_data_path(UCI))
    genome_path = resolve_data_path(ECOLI_GENOME)
    genome = read_genome([str(genome_path)])

    proto = {
        "selection_rule": nested.SELECTION_RULE.format(metric=args.select_metric),
        "select_metric": args.select_metric,
        "grids": grids,
        "fixed_settings": nested.FIXED,
        "folds": args.folds,
        "inner_val_fraction": nested.INNER_FRACTION,
        "sigma70_test_fraction": SIGMA70_TEST_FRACTION,
        "gc_bins": GC_BINS,
        "pretrain_steps": args.pretrain_steps,
        "quick": args.quick,
    }
    if args.naturalness or args.kmer_stack or args.cnn_stack:
        # naturalness True is the task's default: fused where the likelihood ratio reaches this
        proto["naturalness_min_ratio"] = PromoterConfig().naturalness_min_ratio
    if args.head_warmup:
        proto["head_warmup"] = args.head_warmup
    if args.head_composition:
        proto["head_composition"] = True
    if args.kmer_stack or args.cnn_stack:
        proto["kmer_stack_min_ratio"] = PromoterConfig().kmer_stack_min_ratio
    if args.cnn_stack:
        proto["cnn_stack_min_ratio"] = PromoterConfig().cnn_stack_min_ratio
    if args.pretrained:
        proto["pretrained_run"] = str(Path(args.pretrained).resolve())
    path = RESULTS / f"{args.results_name}.json"
    if args.resume and path.is_file():
        record = json.loads(path.read_text())
        mismatch = [k for k, v in proto.items() if k != "grids" and record["protocol"].get(k) != v]
        if mismatch:
            raise SystemExit(f"--resume: {path} was run with other settings ({', '.join(mismatch)})")
        record["protocol"]["grids"].update(grids)
        record.setdefault("provenance_resumed", []).append(provenance())
    else:
        record = {
            "provenance": provenance(),
            "protocol": proto,
            "pretraining": {},
            "negatives": {},
            "units": [],
        }
    done = {(u["experiment"], u["variant"], u["seed"], u["fold"], u["model"]) for u in record["units"]}
    if args.shared_pretraining and not (Path(args.pretrained) / "cpu.json").is_file():
        from promoter_budget import pretrain_for

        # every seed's GC-matched windows are genomic: the one corpus must hold none of them
        windows = [
            c for s in args.seeds for c in build_negatives(s, positives, sigma, genome)["gc-matched"]["all"]
        ]
        clean = work / "ecoli_decontaminated_shared.fa.gz"
        counts = decontaminate(
            genome_path, ipromoter.codes + uci.codes + windows, clean, DNA_SPEC, progress=False
        )
        shutil.rmtree(args.pretrained, ignore_errors=True)
        cfg = promoter_pretraining(str(clean))
        pretrain_for(clean, shared_steps or cfg.train.max_steps, Path(args.pretrained), cfg)
        record["shared_decontamination"] = counts

    def save() -> None:
        write_results(args.results_name, finish(record))

    def log_unit(unit: dict) -> None:
        record["units"].append(unit)
        done.add((unit["experiment"], unit["variant"], unit["seed"], unit["fold"], unit["model"]))
        save()
        auroc = {k: round(v["auroc"], 3) for k, v in unit["test"].items() if v.get("auroc") is not None}
        print(
            json.dumps(
                {k: unit[k] for k in ("experiment", "variant", "seed", "fold", "model")}
                | {"auroc": auroc, "cpu_s": round(unit["cpu_s"], 1)}
            ),
            flush=True,
        )

    for seed in args.seeds:
        negs = build_negatives(seed, positives, sigma, genome)
        record["negatives"][str(seed)] = {
            kind: {name: len(v) for name, v in sets.items()} for kind, sets in negs.items()
        }
        starts: dict = {}

        def get_starts(seed=seed, negs=negs, starts=starts):
            if starts:
                return starts
            if args.pretrained:
                checked = shared_pretraining(Path(args.pretrained), experiment_sequences(seed, negs))
                before = record["pretraining"].get(str(seed), {}).get("contamination", {})
                # a resumed run may check other experiments' sequences: keep the widest check
                if checked["contamination"]["eval_sequences"] >= before.get("eval_sequences", 0):
                    record["pretraining"][str(seed)] = checked
                save()
                pre = load_start(args.pretrained, PromoterConfig(init=args.pretrained))
                starts["pre-trained"] = pre
                starts["scratch"] = Start("scratch", None, pre.model_cfg, pre.tokenizer, [], {})
                return starts
            run_dir, clean = work / f"pretrain_seed{seed}", work / f"ecoli_decontaminated_seed{seed}.fa.gz"
            if str(seed) not in record["pretraining"] or not (run_dir / "metrics.json").is_file():
                shutil.rmtree(run_dir, ignore_errors=True)
                c = nested.cpu_seconds()
                against = ipromoter.codes + uci.codes + negs["gc-matched"]["all"]
                counts = decontaminate(genome_path, against, clean, DNA_SPEC, progress=False)
                cfg = promoter_pretraining(str(clean))
                cfg.train.max_steps = args.pretrain_steps
                cfg.train.seed = seed
                cfg.train.val_every = cfg.train.checkpoint_every = max(1, args.pretrain_steps // 6)
                pretrain(
                    "dna",
                    cfg,
                    run_dir,
                    command=f"benchmarks/promoter_transfer.py (pre-training, seed {seed})",
                )
                metrics = json.loads((run_dir / "metrics.json").read_text())
                record["pretraining"][str(seed)] = {
                    "steps": args.pretrain_steps,
                    "cpu_s": nested.cpu_seconds() - c,
                    "decontamination": counts,
                    **{k: v for k, v in metrics.items() if isinstance(v, (int, float))},
                }
                save()
            pre = load_start(str(run_dir), PromoterConfig(init=str(run_dir)))
            starts.update(
                {"pre-trained": pre, "scratch": Start("scratch", None, pre.model_cfg, pre.tokenizer, [], {})}
            )
            return starts

        def experiment_sequences(seed, negs):
            """Every sequence the chosen experiments of ``seed`` fine-tune or test on."""
            out = list(ipromoter.codes) if {"transfer", "few-labels"} & set(args.experiments) else []
            if "transfer" in args.experiments:
                out += [
                    c
                    for kind in args.negative_kinds
                    if kind in negs
                    for part in ("all", "sigma70")
                    for c in negs[kind][part]
                ]
            if "hard-negatives" in args.experiments:
                out += positives + [c for kind in negs.values() for c in kind["all"]]
            if "uci" in args.experiments:
                out += list(uci.codes)
            return out

        def models_for(data, length):
            return nested.Models(data, np.arange(len(data)), "random", length=length)

        def run_models(experiment, variant, fold, models, train, tests, fit_seed, inner_seed, seed=seed):
            for model in args.models:
                if (experiment, variant, seed, fold, model) in done:
                    continue
                if model in ("pre-trained", "scratch"):
                    models.starts = get_starts()
                unit = run_unit(
                    nested,
                    models,
                    model,
                    grids[model],
                    train,
                    tests,
                    fit_seed,
                    inner_seed,
                    args.select_metric,
                )
                log_unit(
                    {
                        "experiment": experiment,
                        "variant": variant,
                        "seed": seed,
                        "fold": fold,
                        "model": model,
                        **unit,
                    }
                )

        def cross_validation(experiment, variant, data, length, fraction=1.0, seed=seed):
            folds = nested.outer_folds(data.labels, np.arange(len(data)), "random", seed, args.folds)
            models = None
            for f, (outer_train, outer_test) in enumerate(folds[: args.max_folds or args.folds]):
                if all((experiment, variant, seed, f, m) in done for m in args.models):
                    continue
                models = models or models_for(data, length)
                train = nested.label_subset(outer_train, data.labels, fraction, seed + f)
                run_models(
                    experiment,
                    variant,
                    f,
                    models,
                    train,
                    {"fold": outer_test},
                    1000 * seed + f,
                    10_000 + 100 * seed + f,
                )

        if "transfer" in args.experiments:
            for kind in args.negative_kinds:
                if all(("transfer", kind, seed, 0, m) in done for m in args.models):
                    continue
                data, train, tests = transfer_sets(kind, seed, sigma, ipromoter_neg, negs)
                run_models(
                    "transfer", kind, 0, models_for(data, 81), train, tests, 1000 * seed, 10_000 + 100 * seed
                )
        if "hard-negatives" in args.experiments:
            for kind in ("dinucleotide-shuffle", "gc-matched"):
                data, _ = _concat([(positives, 1), (negs[kind]["all"], 0)])
                cross_validation("hard-negatives", kind, data, 81)
        if "uci" in args.experiments:
            cross_validation("uci", "uci", uci, 57)
        if "few-labels" in args.experiments:
            for fraction in args.fractions:
                cross_validation("few-labels", f"{fraction:g}", ipromoter, 81, fraction)
    record.setdefault("invocations", []).append(
        {"cpu_s": nested.cpu_seconds() - cpu0, "wall_s": time.time() - started}
    )
    save()
    print(f"wrote {path}", file=sys.stderr)
    return 0


# --- the report ---------------------------------------------------------------------------------
def _mean_se_text(values) -> str:
    mean, se = mean_se(values)
    if math.isnan(mean):
        return "—"
    return f"{mean:.3f}" if math.isnan(se) else f"{mean:.3f} ± {se:.3f}"


# what the figure draws: (results name, model in it, legend label, marker), in legend order
FIGURE_MODELS = (
    (
        ("promoter_transfer_naturalness", "promoter_transfer_naturalness_ipromoter"),
        "pre-trained",
        "pre-trained, 45 CPU-min, fusion chosen on the inner split",
        "o",
    ),
    ("promoter_transfer_shared", "pre-trained", "the same, never fused", "X"),
    ("promoter_transfer", "pre-trained", "pre-trained, 3,000 steps per seed", "D"),
    ("promoter_transfer", "scratch", "scratch", "s"),
    ("promoter_transfer", "k-mer LR", "k-mer LR", "^"),
    ("promoter_transfer", "one-hot LR", "one-hot LR", "v"),
    ("promoter_transfer", "CNN", "CNN", "P"),
)


def transfer_points(
    results: dict, names: str | tuple, model: str, kind: str
) -> dict[str, tuple[float, float]]:
    """``{test set: (mean, SE)}`` of the test MCC of ``model`` in the transfer units of
    ``results[name]`` (of each of ``names``) against ``kind`` negatives, over seeds x folds."""
    names = (names,) if isinstance(names, str) else names
    by_set: dict[str, list[float]] = {}
    for u in (u for n in names for u in (results.get(n) or {}).get("units", [])):
        if u["experiment"] == "transfer" and u["variant"] == kind and u["model"] == model:
            for test_set, metrics in u["test"].items():
                by_set.setdefault(test_set, []).append(metrics["mcc"])
    return {s: mean_se(v) for s, v in by_set.items()}


def transfer_figure_png(results: dict) -> bytes:
    """Trained on sigma-70, tested on every sigma subset: test MCC (mean ± SE over seeds) of each
    model of :data:`FIGURE_MODELS`, one panel per kind of negatives."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sets = ("sigma70", *OTHER_SIGMAS)
    fig, axes = plt.subplots(1, len(NEGATIVE_KINDS), figsize=(13, 4.4), sharey=True)
    width = 0.8 / len(FIGURE_MODELS)
    for ax, kind in zip(axes, NEGATIVE_KINDS):
        for i, (name, model, label, marker) in enumerate(FIGURE_MODELS):
            points = transfer_points(results, name, model, kind)
            xs = [k + (i - (len(FIGURE_MODELS) - 1) / 2) * width for k, s in enumerate(sets) if s in points]
            ms = [points[s][0] for s in sets if s in points]
            ses = [0.0 if math.isnan(points[s][1]) else points[s][1] for s in sets if s in points]
            ax.errorbar(xs, ms, yerr=ses, fmt=marker, ms=5, capsize=2, label=label, color=f"C{i}")
        ax.axvspan(-0.5, 0.5, color="0.92", zorder=0)  # the trained-on factor
        ax.axhline(0, color="0.5", lw=0.8)
        ax.set_xticks(range(len(sets)), [s.replace("sigma", "σ") for s in sets])
        ax.set_xlim(-0.5, len(sets) - 0.5)
        ax.set_title(f"negatives: {kind}", fontsize=10)
        ax.grid(alpha=0.3, axis="y")
    axes[0].set_ylabel("test MCC (trained on σ70; shaded: in distribution)")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(FIGURE_MODELS), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def render_conv_head(results: dict) -> str:
    """The same tables for the run with the conv head (``--results-name promoter_transfer_conv``)."""
    record = results.get("promoter_transfer_conv")
    if record is None:
        return (
            "No results yet: run `benchmarks/promoter_transfer.py --results-name promoter_transfer_conv`.\n"
        )
    return render(record)


def _measured_by(record: dict) -> str:
    p = record["provenance"]
    return (
        f"Measured by `{p['command']}` at commit `{p['commit'][:10]}`"
        f"{' (uncommitted changes)' if p.get('dirty') else ''}, {p['date'][:10]}; {p['cpu']['model']}, "
        f"{p['cpu']['cores']} cores."
    )


def _unit_key(u: dict) -> tuple:
    """What pairs one run's unit with another's: experiment, variant, seed, fold, model."""
    return (u["experiment"], u["variant"], u["seed"], u["fold"], u["model"])


def _paired(pairs: list, scale: float, unit: str) -> str:
    """``mean ± SE (pairs): verdict`` of the differences ``a - b`` of ``pairs``, times ``scale``."""
    if len(pairs) < 2:
        return "—"
    d = scale * np.asarray([a - b for a, b in pairs])
    mean, se = mean_se(d)
    verdict = verdict_of(mean, se)
    digits = 1 if scale > 1 else 3
    return f"{mean:+.{digits}f} ± {se:.{digits}f}{unit} ({len(d)}): {verdict}"


def render_shared_encoder(
    results: dict,
    name: str = "promoter_transfer_45min",
    parts: tuple = (),
    references: dict | None = None,
    base_label: str = "pre-trained, 3,000 steps per seed",
) -> str:
    """The pre-trained model of a ``--pretrained`` run (``results[name]``, with the units of the
    runs ``parts`` of the same encoder) against every model of the per-seed run
    (``results["promoter_transfer"]``) and the pre-trained model of each run in ``references``
    (``{column label: results name, or a record}``) on the same units: paired differences, this model minus the
    other, mean ± standard error over seeds x folds; *ahead* or *behind* when beyond twice the
    standard error, else *tied*; ``base_label`` names the per-seed run's pre-trained column. MCC for the transfer (the issue's metric on other species),
    accuracy in points for the label fractions (its target's)."""
    record, base = results.get(name), results.get("promoter_transfer")
    if record is None or base is None:
        return (
            f"No results yet: run `benchmarks/promoter_transfer.py --pretrained RUN --results-name {name}`.\n"
        )
    records = [record] + [results[p] for p in parts if p in results]
    references = {
        label: r if isinstance(r, dict) else results[r]
        for label, r in (references or {}).items()
        if isinstance(r, dict) or r in results
    }
    encoders = {}  # run path -> (seeds, its record); one for a shared encoder, one per seed otherwise
    own = {}  # seed -> record of an encoder this script pre-trained for that seed (no --pretrained)
    for r in records:
        for seed, entry in r["pretraining"].items():
            if "run" in entry:
                encoders.setdefault(entry["run"], ([], entry))[0].append(seed)
            else:
                own[seed] = entry
    out = [" ".join(_measured_by(r) for r in records), ""]
    if own:
        seeds = sorted(own)
        out.append(
            f"Encoders: one per seed ({', '.join(seeds)}), pre-trained by this script for "
            + ", ".join(f"{own[s]['steps']:,}" for s in seeds)
            + f" steps, {sum(own[s]['cpu_s'] for s in seeds) / 60:.1f} CPU-min in all, validation loss "
            + ", ".join(f"{own[s].get('val_loss', math.nan):.3f}" for s in seeds)
            + " nats; each corpus decontaminated against its seed's "
            + ", ".join(f"{own[s]['decontamination']['eval_sequences']:,}" for s in seeds)
            + " evaluation sequences."
        )
    for run, (seeds, shared) in encoders.items():
        near = shared.get("contamination", {})
        out.append(
            ("Encoder" if len(encoders) == 1 else f"Encoder of seed {', '.join(sorted(seeds))}")
            + f": `{Path(run).name}`, {shared.get('steps', 0):,} steps, "
            f"{_pretraining_cpu_s(shared, base, seeds) / 60:.1f} CPU-min of pre-training, validation loss "
            f"{shared.get('val_loss', math.nan):.3f} nats"
            + (
                " (the per-seed encoders: "
                + ", ".join(
                    f"{v.get('val_loss', math.nan):.3f}" for v in base.get("pretraining", {}).values()
                )
                + ")"
                if len(encoders) == 1
                else ""
            )
            + f"; its corpus holds {near.get('verbatim', '?')} of the {near.get('eval_sequences', 0):,} "
            f"sequences verbatim and {near.get('near', '?')} nearly (16-mer similarity >= 0.5)."
        )
    masked = record.get("shared_decontamination")
    if masked:
        out[-1] += (
            f" Pre-trained by this script (`--shared-pretraining`) on the genome decontaminated against "
            f"{masked['eval_sequences']:,} sequences (iPromoter-2L, UCI and every seed's GC-matched "
            f"windows): {masked['masked_bases']:,} of {masked['corpus_bases']:,} bases masked."
        )
    base_units = {_unit_key(u): u for u in base["units"]}
    for label, other in references.items():
        base_units.update(
            {(*_unit_key(u)[:4], label): u for u in other["units"] if u["model"] == "pre-trained"}
        )
    classical = ("k-mer LR", "one-hot LR", "CNN")
    labels = {"pre-trained": base_label}
    for experiment, metric, scale, unit in (
        ("transfer", "mcc", 1, ""),
        ("uci", "mcc", 1, ""),
        ("few-labels", "accuracy", 100, " pts"),
    ):
        units = [u for r in records for u in r["units"] if u["experiment"] == experiment]
        if not units:
            continue
        seeds = sorted({u["seed"] for u in units})
        columns = ["scratch", "pre-trained", *references, *classical]
        out += [
            "",
            f"**{experiment}**: this encoder's AUROC / {metric}, then its paired {metric} difference to "
            f"each model, and to the classical baseline with the highest mean {metric} on that test set "
            f"(units of this encoder: {len(units)}, seeds {', '.join(map(str, seeds))}; in brackets, "
            "the pairs):",
            "",
            "| variant | test set | this encoder | "
            + " | ".join(f"vs {labels.get(m, m)}" for m in columns)
            + " | vs best classical |",
            "|---|---|---|" + "---|" * (len(columns) + 1),
        ]
        tests = list(dict.fromkeys(t for u in units for t in u["test"]))
        for variant in dict.fromkeys(u["variant"] for u in units):
            mine = [u for u in units if u["variant"] == variant]
            for test in tests:
                own = [u["test"][test] for u in mine if test in u["test"]]
                cells = [
                    f"{_mean_se_text([m['auroc'] for m in own])} / {_mean_se_text([m[metric] for m in own])}"
                ]
                pairs = {}
                for model in columns:
                    pairs[model] = [
                        (u["test"][test][metric], other["test"][test][metric])
                        for u in mine
                        for other in [base_units.get((experiment, variant, u["seed"], u["fold"], model))]
                        if other is not None and other["test"].get(test, {}).get(metric) is not None
                    ]
                    cells.append(_paired(pairs[model], scale, unit))
                done = [m for m in classical if len(pairs[m]) >= 2]
                best = max(done, key=lambda m: np.mean([b for _, b in pairs[m]]), default=None)
                cells.append(f"{best}: {_paired(pairs[best], scale, unit)}" if best else "—")
                out.append(f"| {variant} | {test} | " + " | ".join(cells) + " |")
    all_units = [u for r in records for u in r["units"]]
    # a choice between fused and unfused candidates (--naturalness); a --kmer-stack run's are all
    # the task's default
    fused = [
        u["chosen"]["naturalness"]
        for u in all_units
        if "naturalness" in u["chosen"] and "kmer_stack" not in u["chosen"]
    ]
    if fused:
        by_variant = {}
        for u in all_units:
            by_variant.setdefault(u["variant"], []).append(bool(u["chosen"].get("naturalness")))
        out += [
            "",
            "The likelihood fusion, chosen on the inner split: "
            + "; ".join(f"{v}: {sum(c)} of {len(c)} units" for v, c in by_variant.items())
            + ". On the inner-validation parts, fused minus unfused, every learning rate and head "
            "dropout of every unit (mean ± standard error; the same rule):",
            "",
            "| variant | AUROC | MCC | accuracy |",
            "|---|---|---|---|",
        ]
        out += _inner_rows(_fused_candidate_pairs(all_units, _unfused_twin))
        if any("refit_fusion" in u for u in all_units):  # runs since the likelihood-ratio test
            out += [
                "",
                "The likelihood-ratio test against fusing regardless, on the same inner-validation "
                "parts: the task's default minus always fused, every fused candidate (equal where the "
                "test kept the fusion):",
                "",
                "| variant | AUROC | MCC | accuracy |",
                "|---|---|---|---|",
            ]
            out += _inner_rows(_fused_candidate_pairs(all_units, _always_fused_candidate))
    out += [
        "",
        f"CPU time of the fine-tunes: {sum(u['cpu_s'] for u in all_units) / 3600:.2f} CPU-hours "
        "(the encoder's pre-training is counted once, above).",
        "",
    ]
    return "\n".join(out)


INNER_METRICS = ("auroc", "mcc", "accuracy")


def _fused_candidate_pairs(units: list, other) -> dict:
    """``{variant: {metric: [(fused candidate, other)]}}`` over every fused inner-validation
    candidate of ``units``, ``other(unit, candidate)`` giving the inner-validation scores it is
    paired with."""
    return _candidate_pairs(units, other, lambda setting: bool(setting.get("naturalness")))


def _candidate_pairs(units: list, other, which) -> dict:
    """``{variant: {metric: [(candidate, other)]}}`` over the inner-validation candidates of
    ``units`` whose setting ``which`` accepts, ``other(unit, candidate)`` giving the scores each is
    paired with."""
    out = {}
    for u in units:
        for c in u["candidates"]:
            if which(c["setting"]):
                against = other(u, c)
                for metric in INNER_METRICS:
                    pair = (c["inner_val"][metric], against[metric])
                    out.setdefault(u["variant"], {}).setdefault(metric, []).append(pair)
    return out


def _unfused_twin(unit: dict, candidate: dict) -> dict:
    """The inner-validation scores of ``candidate``'s setting without the fusion."""
    plain = {**candidate["setting"], "naturalness": False}
    return next(c["inner_val"] for c in unit["candidates"] if c["setting"] == plain)


def _always_fused_candidate(unit: dict, candidate: dict) -> dict:
    """What ``candidate`` scores fused regardless: recorded where the test left the fusion out."""
    return candidate.get("inner_val_always_fused", candidate["inner_val"])


def _inner_rows(pairs: dict) -> list[str]:
    return [
        f"| {variant} | " + " | ".join(_paired(by[m], 1, "") for m in INNER_METRICS) + " |"
        for variant, by in pairs.items()
    ]


def _pretraining_cpu_s(entry: dict, base: dict, seeds: list) -> float:
    """CPU seconds of an encoder's pre-training: its ``cpu.json`` (written by the budget and
    shared pre-training), else, for a per-seed encoder, what the per-seed run recorded."""
    if entry.get("run_cpu_s"):
        return entry["run_cpu_s"]
    recorded = base.get("pretraining", {}).get(seeds[0], {}) if len(seeds) == 1 else {}
    return recorded.get("cpu_s") or math.nan


def render_shared_pretraining(results: dict) -> str:
    """:func:`render_shared_encoder` of the ``--shared-pretraining`` run."""
    return render_shared_encoder(results, "promoter_transfer_shared")


def _same_refit(records: list, fused: bool) -> dict:
    """A record of the units of ``records`` scored with the fusion on (``fused``) or off, whichever
    the inner split chose: the same refit, its other prediction (``test_other_naturalness``)."""
    units = []
    for u in (u for r in records for u in r["units"] if "test_other_naturalness" in u):
        chose = bool(u["chosen"].get("naturalness"))
        units.append({**u, "test": u["test"] if chose == fused else u["test_other_naturalness"]})
    return {"units": units}


def _always_fused(records: list) -> dict:
    """A record of the units of ``records`` scored with the fitted fusion whatever its likelihood
    ratio: ``test_always_fused`` where the test left it out, else the same refit fused."""
    fused = _same_refit(records, True)["units"]
    return {"units": [{**u, "test": u.get("test_always_fused", u["test"])} for u in fused]}


def _render_naturalness(results: dict, names: list, **kwargs) -> str:
    """:func:`render_shared_encoder` of ``--naturalness`` runs, with three more columns from the same
    refits: without the fusion, as the task fuses by default (where the likelihood-ratio test keeps
    it), and fused whatever the test says; and how often the test kept it."""
    records = [results[n] for n in names if n in results]
    references = {
        "same refit, no fusion": _same_refit(records, False),
        "same refit, task default": _same_refit(records, True),
        "same refit, always fused": _always_fused(records),
    }
    text = render_shared_encoder(results, names[0], parts=tuple(names[1:]), references=references, **kwargs)
    kept = {}
    for u in (u for r in records for u in r["units"] if "refit_fusion" in u):
        info = u["refit_fusion"]
        kept.setdefault(u["variant"], []).append(info.get("fusion") is not None and info["fusion_kept"])
    if not kept:
        return text
    ratio = next((r["protocol"].get("naturalness_min_ratio") for r in records), None)
    return text + (
        f"\nThe task's likelihood-ratio test (kept at a ratio of {ratio:.2f} or more on the refit's "
        "early-stopping split) kept the refit's fusion in: "
        + "; ".join(f"{v}: {sum(k)} of {len(k)} units" for v, k in kept.items())
        + ".\n"
    )


def render_naturalness(results: dict) -> str:
    """The ``--naturalness`` runs of the shared 45-CPU-minute encoder."""
    return _render_naturalness(
        results, ["promoter_transfer_naturalness", "promoter_transfer_naturalness_ipromoter"]
    )


def render_naturalness_per_seed(results: dict) -> str:
    """:func:`render_shared_encoder` of the ``--naturalness`` runs of the per-seed 3,000-step
    encoders (one run per seed), paired with the per-seed run, whose pre-trained model is the same
    encoder without the fusion."""
    name = "promoter_transfer_naturalness_3000_seed"
    return _render_naturalness(
        results, [f"{name}{s}" for s in range(3)], base_label="per-seed run's fine-tune"
    )


# the --kmer-stack runs of the shared 45-CPU-minute encoder (run side by side, one core each)
KMER_STACK_RUNS = ("promoter_transfer_kmer_stack", "promoter_transfer_kmer_stack_genomic")


# the same, --models scratch: scratch fine-tuned as the task does, with the stack
KMER_STACK_SCRATCH_RUNS = (
    "promoter_transfer_kmer_stack_scratch",
    "promoter_transfer_kmer_stack_scratch_genomic",
)


def render_kmer_stack(
    results: dict, names: tuple = KMER_STACK_RUNS, scratch_runs: tuple = KMER_STACK_SCRATCH_RUNS
) -> str:
    """:func:`render_shared_encoder` of the ``--kmer-stack`` runs: the pre-trained model as the task
    predicts (the likelihood fused and the k-mer regression stacked, each where its likelihood-ratio
    test keeps it), with the same refit without the stack as one more column; and how often the
    test kept the stack."""
    records = [results[n] for n in names if n in results]
    without = [{**u, "test": u["test_without_kmer_stack"]} for r in records for u in r["units"]]
    # scratch fine-tuned with the stack too, as the task does: the like-for-like scratch
    scratch = [
        {**u, "model": "pre-trained"} for n in scratch_runs if n in results for u in results[n]["units"]
    ]
    text = render_shared_encoder(
        results,
        names[0],
        parts=tuple(names[1:]),
        references={
            "same refit, no k-mer stack": {"units": without},
            **({"scratch with the k-mer stack": {"units": scratch}} if scratch else {}),
        },
    )
    kept: dict[str, list[bool]] = {}
    for u in (u for r in records for u in r["units"] if "refit_info" in u):
        stack = u["refit_info"].get("kmer_stack")
        kept.setdefault(u["variant"], []).append(stack is not None and stack["kept"])
    if not kept:
        return text
    return text + (
        "\nThe task's likelihood-ratio test kept the refit's k-mer stack in: "
        + "; ".join(f"{v}: {sum(k)} of {len(k)} units" for v, k in kept.items())
        + ".\n"
    )


# the --cnn-stack runs of the shared 45-CPU-minute encoder (run side by side, one core each)
CNN_STACK_RUNS = ("promoter_transfer_cnn_stack", "promoter_transfer_cnn_stack_genomic")


def render_cnn_stack(results: dict, names: tuple = CNN_STACK_RUNS) -> str:
    """:func:`render_shared_encoder` of the ``--cnn-stack`` runs (the pre-trained model as the task
    predicts by default since the CNN stack), with the same refit without the CNN stack, and the
    ``--kmer-stack`` runs (the task before it) as references; and how often the test kept it."""
    records = [results[n] for n in names if n in results]
    if not records:
        return "No results yet: run `benchmarks/promoter_transfer.py --cnn-stack`.\n"
    without = [{**u, "test": u["test_without_cnn_stack"]} for r in records for u in r["units"]]
    before = [u for n in KMER_STACK_RUNS if n in results for u in results[n]["units"]]
    text = render_shared_encoder(
        results,
        names[0],
        parts=tuple(n for n in names[1:] if n in results),
        references={
            "same refit, no CNN stack": {"units": without},
            **({"the k-mer stack run": {"units": before}} if before else {}),
        },
    )
    kept: dict[str, list[bool]] = {}
    for u in (u for r in records for u in r["units"] if "refit_info" in u):
        stack = u["refit_info"].get("cnn_stack")
        kept.setdefault(u["variant"], []).append(stack is not None and stack["kept"])
    if not kept:
        return text
    return text + (
        "\nThe task's likelihood-ratio test kept the refit's CNN stack in: "
        + "; ".join(f"{v}: {sum(k)} of {len(k)} units" for v, k in kept.items())
        + ".\n"
    )


# the --shift runs: per-seed 3,000-step encoders, genomic negatives, with and without the shift
SHIFT_RUNS = ("promoter_transfer_shift4", "promoter_transfer_shift0")


def render_shift(results: dict, names: tuple = SHIFT_RUNS) -> str:
    """:func:`render_shared_encoder` of the ``--shift`` run against the run of the same code,
    encoders and splits without it (and the per-seed run's models)."""
    run, control = names
    if run not in results or control not in results:
        return f"No results yet: run `benchmarks/promoter_transfer.py --shift 4 --results-name {run}`.\n"
    text = render_shared_encoder(results, run, references={"the same fine-tunes without the shift": control})
    return f"Control, run beside it: {_measured_by(results[control])}\n\n{text}"


def render(results: dict) -> str:
    """Markdown tables (AUROC and MCC, mean ± standard error over seeds and folds) of a
    ``promoter_transfer`` record, or of ``report.py``'s map of results-file stems to records."""
    record = results if "units" in results else results.get("promoter_transfer")
    if record is None:
        return "No results yet: run `benchmarks/promoter_transfer.py`.\n"
    out = [
        _measured_by(record)
        + (" **Smoke run (`--quick`): not a measurement.**" if record["protocol"].get("quick") else ""),
    ]
    titles = {
        "transfer": "Train on sigma-70, test on each sigma subset (negatives of the same kind)",
        "hard-negatives": "iPromoter-2L positives against hard negatives (5-fold CV)",
        "uci": "UCI 106 promoters, few-shot (5-fold CV)",
        "few-labels": "iPromoter-2L at a fraction of the labels (5-fold CV)",
    }
    for experiment in EXPERIMENTS:
        units = [u for u in record["units"] if u["experiment"] == experiment]
        if not units:
            continue
        seeds = sorted({u["seed"] for u in units})
        out += [
            "",
            f"**{titles[experiment]}** (AUROC / MCC, mean ± standard error over seeds x folds; "
            f"{len(units)} units, seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))}):",
            "",
        ]
        variants = list(dict.fromkeys(u["variant"] for u in units))
        tests = list(dict.fromkeys(t for u in units for t in u["test"]))
        out += [
            "| negatives / variant | test set | " + " | ".join(MODELS) + " |",
            "|---|---|" + "---|" * len(MODELS),
        ]
        for variant in variants:
            for test in tests:
                cells = []
                for model in MODELS:
                    mine = [
                        u["test"][test]
                        for u in units
                        if u["variant"] == variant and u["model"] == model and test in u["test"]
                    ]
                    cells.append(
                        f"{_mean_se_text([m['auroc'] for m in mine])} / {_mean_se_text([m['mcc'] for m in mine])}"
                        if mine
                        else "—"
                    )
                out.append(f"| {variant} | {test} | " + " | ".join(cells) + " |")
    total = sum(u["cpu_s"] for u in record["units"]) + sum(
        v["cpu_s"] for v in record.get("pretraining", {}).values()
    )
    out += ["", f"CPU time, units and pre-training: {total / 3600:.2f} CPU-hours.", ""]
    return "\n".join(out)


# The LP-FT runs (``--head-warmup``) and the runs of the same grid without it, paired unit by unit.
HEAD_WARMUP_RUNS = (
    ("promoter_transfer_lpft", "promoter_transfer_naturalness"),
    ("promoter_transfer_lpft_ipromoter", "promoter_transfer_naturalness_ipromoter"),
)


def _chosen_inner(unit: dict, metric: str) -> float:
    """The inner-validation score of the candidate ``unit`` chose."""
    return next(c["inner_val"][metric] for c in unit["candidates"] if c["setting"] == unit["chosen"])


def _joint_units(warm: dict, plain: dict, metric: str) -> list:
    """The units a grid holding both runs' settings would give: for each unit of ``warm`` (every
    setting with a head warm-up) and its twin in ``plain`` (the same settings without), the one
    whose chosen candidate scores higher on the inner split, ties to ``plain`` (its settings come
    first in that grid); its candidates and CPU time are both runs'. Each run refits its own
    choice, so the joint grid's refit is the winner's."""
    twins = {_unit_key(u): u for u in plain["units"]}
    out = []
    for w in warm["units"]:
        p = twins.get(_unit_key(w))
        if p is None:
            continue
        chosen = w if _chosen_inner(w, metric) > _chosen_inner(p, metric) else p
        # the grid holding both costs both runs' fine-tunes
        out.append(
            {**chosen, "candidates": p["candidates"] + w["candidates"], "cpu_s": p["cpu_s"] + w["cpu_s"]}
        )
    return out


def _without(key: str):
    """``twin(unit, candidate)``: the inner-validation scores of ``candidate``'s setting without
    ``key`` (the same setting of the run without the variant)."""

    def twin(unit: dict, candidate: dict) -> dict:
        plain = {k: v for k, v in candidate["setting"].items() if k != key}
        return next(c["inner_val"] for c in unit["candidates"] if c["setting"] == plain)

    return twin


_without_warmup = _without("head_warmup")


# The head-composition runs (``--head-composition``) and the runs of the same grid without it.
HEAD_COMPOSITION_RUNS = (
    ("promoter_transfer_composition", "promoter_transfer_naturalness"),
    ("promoter_transfer_composition_ipromoter", "promoter_transfer_naturalness_ipromoter"),
)


def _per_seed_runs(name: str) -> list[tuple[str, str]]:
    """``(run, twin)`` of each per-seed 3,000-step encoder: ``name``'s run with the variant and the
    ``--naturalness`` run of the same grid without it."""
    return [(f"{name}_3000_seed{s}", f"promoter_transfer_naturalness_3000_seed{s}") for s in range(3)]


def render_head_warmup(results: dict) -> str:
    """:func:`_render_head_warmup` of the shared 45-CPU-minute encoder's runs."""
    return _render_head_warmup(results, HEAD_WARMUP_RUNS)


def render_head_warmup_per_seed(results: dict) -> str:
    """:func:`_render_head_warmup` of the per-seed 3,000-step encoders' runs (one per seed)."""
    runs = _per_seed_runs("promoter_transfer_lpft")
    return _render_head_warmup(results, runs, base_label="per-seed run's fine-tune")


def _render_head_warmup(results: dict, runs, **kwargs) -> str:
    """An encoder's transfer when its grid also holds LP-FT (``--head-warmup``): the head trained
    alone for a fraction of the run before the encoder joins (:func:`_render_variant`)."""
    found = [w for w, p in runs if w in results and p in results]
    fraction = results[found[0]]["protocol"]["head_warmup"] if found else None
    return _render_variant(
        results,
        runs,
        "head_warmup",
        "warm-up",
        f"The head warm-up ({fraction:g} of the run)" if found else "",
        "--head-warmup 0.333 --results-name promoter_transfer_lpft",
        **kwargs,
    )


def render_head_composition(results: dict) -> str:
    """The shared 45-CPU-minute encoder's transfer when its grid also holds the head's composition
    features (``--head-composition``, ``head.composition``; :func:`_render_variant`)."""
    return _render_head_composition(results, HEAD_COMPOSITION_RUNS)


def render_head_composition_per_seed(results: dict) -> str:
    """:func:`render_head_composition` for the per-seed 3,000-step encoders' runs (one per seed)."""
    runs = _per_seed_runs("promoter_transfer_composition")
    return _render_head_composition(results, runs, base_label="per-seed run's fine-tune")


def _render_head_composition(results: dict, runs, **kwargs) -> str:
    return _render_variant(
        results,
        runs,
        "composition",
        "composition features",
        "The composition features beside the conv head",
        "--head-composition --results-name promoter_transfer_composition",
        **kwargs,
    )


def _render_variant(results: dict, runs, key: str, noun: str, label: str, flags: str, **kwargs) -> str:
    """An encoder's transfer when its grid also holds a variant (``noun``), the grid setting ``key`` (each of
    ``runs`` pairs a run with ``key`` on every setting and the ``--naturalness`` run of the same
    grid without it): the joint grid's choice (:func:`_joint_units`) against the latter's, paired
    unit by unit, beside the other models of :func:`render_shared_encoder` (``kwargs``), then how
    often the inner split took the variant and its inner-validation effect, setting by setting."""
    pairs = [(results[w], results[p]) for w, p in runs if w in results and p in results]
    if not pairs:
        return (
            f"No results yet: run `benchmarks/promoter_transfer.py --pretrained RUN --naturalness {flags}`.\n"
        )
    metric = pairs[0][0]["protocol"]["select_metric"]
    joint = {f"_{key}_{i}": {**w, "units": _joint_units(w, p, metric)} for i, (w, p) in enumerate(pairs)}
    units = [u for r in joint.values() for u in r["units"]]
    done = {_unit_key(u) for u in units}
    plain = {"units": [u for _, p in pairs for u in p["units"] if _unit_key(u) in done]}
    names = list(joint)
    text = render_shared_encoder(
        {**results, **joint},
        names[0],
        parts=tuple(names[1:]),
        references={f"the grid without {noun}": plain},
        **kwargs,
    )
    chose = {}
    for u in units:
        chose.setdefault(u["variant"], []).append(key in u["chosen"])
    lines = [
        "",
        f"{label}, chosen on the inner split: "
        + "; ".join(f"{v}: {sum(c)} of {len(c)} units" for v, c in chose.items())
        + f". On the inner-validation parts, with the {noun} minus without, every setting of every "
        "unit (mean ± standard error; the same rule):",
        "",
        "| variant | AUROC | MCC | accuracy |",
        "|---|---|---|---|",
        *_inner_rows(_candidate_pairs(units, _without(key), lambda setting: key in setting)),
        "",
    ]
    return text.rstrip("\n") + "\n" + "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
