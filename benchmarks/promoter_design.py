"""Promoter fine-tuning design: which classifier head, measured on a set a composition model fails.

The question: a promoter set whose negatives share the positives' composition (as in held-out
human promoter sets against composition-matched negatives) is separable only by motifs at
positions. Which head on the DNA encoder finds them? Protocol, fixed before the run:

- Pre-training as a user runs it: ``scipt pretrain dna --preset tiny --max-steps 1500`` on the four
  shipped genomes (E. coli and 1% of A. thaliana, C. elegans, D. melanogaster), seed 0.
- Data: ``sigma70-shuffle``, the 1,694 iPromoter-2L sigma-70 promoters against one exact
  dinucleotide shuffle of each (``scipt data negatives --kind dinucleotide-shuffle --seed 0``): the
  selection set; ``ipromoter``, the 2,860 + 2,860 published sequences: a check that the chosen
  head does not lose on the usual set (not a selection criterion).
- 5-fold stratified CV (seed 0); every model is one fine-tune (``ensemble 1``) of the task's
  defaults but the head, early-stopped on 10% of each training part; the test fold is scored once.
- Heads: ``flatten`` (hidden states of every position concatenated, MLP of 64: the earlier
  default), ``conv`` (128 filters of 15 positions on the hidden states, max over windows of 4,
  MLP of 64: CNNProm's shape), ``conv-global`` (the same conv, maximum over all positions).
  Starts: the pre-trained encoder and the same architecture from scratch.
- Baselines on the same folds: k-mer logistic regression (the task's), and the CNN of
  ``sciPT.domains.dna.cnn`` on one-hot input (lr 1e-3, dropout 0.3, early stopping on 10%).
- Rule: the default head is the one with the highest mean MCC over the folds of
  ``sigma70-shuffle`` with the pre-trained start. Those are the outer test folds, which the
  tables report: the choice was not blind and the chosen head's figures are optimistic
  (:data:`DISCLOSURE`, rendered under the block).

Raw results: ``benchmarks/results/promoter_design.json`` (per-fold metrics and CPU seconds of every
unit), rendered into ``benchmarks/RESULTS_promoter.md`` by ``benchmarks/report.py``. Resumable.

    OMP_NUM_THREADS=1 python benchmarks/promoter_design.py [--resume] [--datasets ...] [--models ...]
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
from pathlib import Path

import numpy as np
from summaries import mean_se
from summaries import verdict as verdict_of

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PRETRAIN_STEPS = 1500
GENOMES = ("ecoli_k12_mg1655.fna.gz", "at1pct.fa.gz", "ce1pct.fa.gz", "dm1pct.fa.gz")
HEADS = {
    "flatten": {"pooling": "flatten", "hidden": 64, "dropout": 0.3},
    "conv": {"pooling": "conv", "hidden": 64, "dropout": 0.3, "filters": 128, "kernel": 15, "pool": 4},
    "conv-global": {"pooling": "conv", "hidden": 64, "dropout": 0.3, "filters": 128, "kernel": 15, "pool": 0},
}
MODELS = [f"{start}/{head}" for start in ("pre-trained", "scratch") for head in HEADS] + ["k-mer LR", "CNN"]
DATASETS = ("sigma70-shuffle", "ipromoter")
RULE = "highest mean MCC over the folds of sigma70-shuffle, pre-trained start"
# The rule above scored the heads on the outer test folds (no inner split): said under every block.
DISCLOSURE = (
    "Not blind: the rule chose the head by its mean MCC on the outer test folds of sigma70-shuffle, "
    "the same folds this table reports (there was no validation split inside their training parts), "
    "so the chosen head's figures above are optimistic: the best of three heads' test-fold means, "
    "selected on those folds. The head was then fixed as the task's default and used, not chosen "
    "again, by the later measurements scored on validation parts carved from the selection sets' "
    "training data (RESULTS_promoter.md: the pre-training design at equal compute, the fine-tuning "
    "recipe at few labels, the head's composition features, the k-mer and the CNN stacks, rolled "
    "training sequences, task-adaptive pre-training) and by the accuracy against pre-training compute, "
    "scored once on a test part none of them touched."
)


def cpu_seconds() -> float:
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def load_dataset(name: str, work: Path):
    from sciPT import negatives
    from sciPT.domains.dna.data import DNA_SPEC, read_pair
    from sciPT.sequence_inputs import read_sequences

    if name not in DATASETS:  # any other name once loaded sigma70-shuffle under that name
        raise ValueError(f"unknown promoter data set {name!r}: one of {', '.join(DATASETS)}")
    promoters = ROOT / "data_recipes" / "promoters"
    if name == "ipromoter":
        return read_pair(promoters / "positive2860.txt", promoters / "negative2860.txt")
    positives = promoters / "sigma70promoter.txt"
    shuffled = work / "sigma70.dinucleotide-shuffle.fa"
    if not shuffled.is_file():
        codes = read_sequences(positives, DNA_SPEC).codes
        symbols = np.frombuffer(DNA_SPEC.alphabet.symbols.encode(), dtype=np.uint8)
        text = "".join(
            f">shuffle{i}\n{symbols[np.asarray(c)].tobytes().decode()}\n"
            for i, c in enumerate(negatives.dinucleotide_shuffles(codes, 0))
        )
        tmp = shuffled.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.replace(shuffled)
    return read_pair(positives, shuffled)


def pretrained_run(work: Path) -> Path:
    out = work / "pretrain"
    if (out / "model" / "config.json").is_file():
        return out
    from sciPT.cli import main as scipt

    genomes = [str(ROOT / "data_recipes" / "dna" / g) for g in GENOMES]
    code = scipt(
        ["pretrain", "dna", "--preset", "tiny", "--data", *genomes, "--max-steps", str(PRETRAIN_STEPS)]
        + ["--seed", "0", "--out", str(out)]
    )
    if code:
        raise SystemExit(f"pre-training failed with exit status {code}")
    return out


def fit_predict(model: str, data, train_idx, test_idx, fold: int, pretrained: Path) -> np.ndarray:
    from sklearn.model_selection import train_test_split

    from sciPT.domains.dna.kmer import KmerLogisticRegression
    from sciPT.nn.classifier import HeadConfig
    from sciPT.tasks import promoter as task
    from sciPT.tasks import promoter_classifier, promoter_start

    train, test = data.subset(train_idx), data.subset(test_idx)
    if model == "k-mer LR":
        # C fixed at 0.01, as when this benchmark was run (the class's default then)
        return KmerLogisticRegression(C=0.01, seed=0).fit(train.codes, train.labels).predict_proba(test.codes)
    if model == "CNN":
        from sciPT.domains.dna.cnn import fit_cnn, one_hot, predict_cnn

        length = max(len(c) for c in data.codes)
        x = one_hot(data.codes, length)
        fit_idx, val_idx = train_test_split(
            train_idx, test_size=0.1, random_state=fold, stratify=data.labels[train_idx]
        )
        cnn = fit_cnn(
            x[fit_idx],
            data.labels[fit_idx],
            x[val_idx],
            data.labels[val_idx],
            lr=1e-3,
            dropout=0.3,
            seed=fold,
        )
        return predict_cnn(cnn.model, x[test_idx])
    start_name, head = model.split("/")
    # recorded before the likelihood fusion and the k-mer and CNN stacks
    cfg = task.PromoterConfig(naturalness=False, kmer_stack=False, cnn_stack=False)
    cfg.ensemble = 1
    cfg.head = HeadConfig(**HEADS[head])
    start = promoter_start.load_start(str(pretrained) if start_name == "pre-trained" else "none", cfg)
    if start_name == "scratch":  # the same architecture and tokenizer as the pre-trained start
        start = promoter_start.Start("scratch", None, start.model_cfg, start.tokenizer, [], {})
    length = min(max(len(c) for c in data.codes), start.residue_cap)
    return promoter_classifier.train_classifier(start, cfg, train, length, fold).predict(test.codes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    parser.add_argument("--models", nargs="+", default=MODELS, choices=MODELS)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--results-name", default="promoter_design")
    parser.add_argument("--resume", action="store_true", help="keep the finished units of an earlier run")
    args = parser.parse_args(argv)

    import torch
    from sklearn.model_selection import StratifiedKFold

    sys.path.insert(0, str(HERE))
    from provenance import finish, start_record, write_results

    from sciPT.metrics import binary_metrics

    torch.set_num_threads(1)
    protocol = {
        "rule": RULE,
        "heads": HEADS,
        "pretrain_steps": PRETRAIN_STEPS,
        "genomes": list(GENOMES),
        "folds": args.folds,
        "ensemble": 1,
        "cv_seed": 0,
    }
    # --resume of a run with other settings (another --folds: other fold splits) stops, naming them
    record = start_record(args.results_name, protocol, argv, args.resume, pretraining={}, units=[])
    work = HERE / "out" / args.results_name
    work.mkdir(parents=True, exist_ok=True)
    done = {(u["dataset"], u["model"], u["fold"]) for u in record["units"]}
    cpu = cpu_seconds()
    pretrained = pretrained_run(work)
    if not record["pretraining"]:
        record["pretraining"] = {"cpu_s": round(cpu_seconds() - cpu, 1), "steps": PRETRAIN_STEPS}
    for name in args.datasets:
        data = load_dataset(name, work)
        folds = StratifiedKFold(args.folds, shuffle=True, random_state=0).split(
            np.zeros(len(data)), data.labels
        )
        for fold, (train_idx, test_idx) in enumerate(folds):
            for model in args.models:
                if (name, model, fold) in done:
                    continue
                cpu = cpu_seconds()
                torch.manual_seed(fold)
                p = fit_predict(model, data, train_idx, test_idx, fold, pretrained)
                unit = {
                    "dataset": name,
                    "model": model,
                    "fold": fold,
                    "sequences": len(data),
                    "test": binary_metrics(data.labels[test_idx], p),
                    "cpu_s": round(cpu_seconds() - cpu, 1),
                }
                record["units"].append(unit)
                write_results(args.results_name, finish(record))
                print(
                    json.dumps(
                        {k: unit[k] for k in ("dataset", "model", "fold")}
                        | {"mcc": round(unit["test"]["mcc"], 3), "cpu_s": unit["cpu_s"]}
                    ),
                    flush=True,
                )
    write_results(args.results_name, finish(record))
    return 0


def _paired(by: dict, dataset: str, model: str, reference: str, folds: list[int]) -> str:
    """Mean ± standard error of the per-fold MCC difference, model minus reference, with the 2-SE verdict."""
    diffs = [
        by[(dataset, model, f)]["mcc"] - by[(dataset, reference, f)]["mcc"]
        for f in folds
        if (dataset, reference, f) in by
    ]
    if model == reference or len(diffs) < 2:
        return "—"
    mean, se = mean_se(diffs)
    verdict = verdict_of(mean, se)
    return f"{mean:+.3f} ± {se:.3f}: {verdict}"


def render(results: dict) -> str:
    """Per data set: every model's MCC, AUROC and accuracy over folds, and its paired per-fold
    MCC difference from the CNN and from the chosen head (2-SE rule); then the rule's choice."""
    record = results.get("promoter_design")
    if record is None:
        return "No results yet: run `benchmarks/promoter_design.py`.\n"
    from report import provenance_line

    lines = [f"Measured by {provenance_line(record)}", ""]
    units = record["units"]
    by = {(u["dataset"], u["model"], u["fold"]): u["test"] for u in units}
    chosen = None
    for dataset in DATASETS:
        models = [m for m in MODELS if any((dataset, m, f) in by for f in range(record["protocol"]["folds"]))]
        if not models:
            continue
        if dataset == "sigma70-shuffle":
            scored = {
                m: mean_se([by[k]["mcc"] for k in by if k[0] == dataset and k[1] == m])[0]
                for m in models
                if m.startswith("pre-trained/")
            }
            chosen = max(scored, key=scored.get) if scored else None
        lines += [
            f"**{dataset}** ({units[[u['dataset'] for u in units].index(dataset)]['sequences']:,} sequences; "
            "mean ± standard error over folds; paired per-fold MCC differences, model minus reference):",
            "",
            "| model | folds | MCC | AUROC | accuracy | vs CNN (MCC) | vs the same head from scratch (MCC) "
            "| CPU s per fold |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for m in models:
            folds = sorted(k[2] for k in by if k[0] == dataset and k[1] == m)
            cells = []
            for metric in ("mcc", "auroc", "accuracy"):
                mean, se = mean_se([by[(dataset, m, f)][metric] for f in folds])
                cells.append(f"{mean:.3f} ± {se:.3f}")
            diffs = {
                ref: _paired(by, dataset, m, ref, folds)
                for ref in ("CNN", m.replace("pre-trained/", "scratch/"))
            }
            versus = f"{diffs['CNN']} | {diffs[m.replace('pre-trained/', 'scratch/')]}"
            cpu = np.mean([u["cpu_s"] for u in units if u["dataset"] == dataset and u["model"] == m])
            lines.append(f"| {m} | {len(folds)} | {' | '.join(cells)} | {versus} | {cpu:.0f} |")
        lines.append("")
    lines.append(f"Rule ({record['protocol']['rule']}): **{chosen or 'not yet decided'}**.")
    if chosen:
        lines += ["", DISCLOSURE]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
