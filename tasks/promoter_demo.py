"""``scipt demo promoter``: the whole promoter pipeline on the shipped data, honestly.

1. Contamination: every iPromoter-2L sequence lies verbatim in the shipped *E. coli* genome, so the
   demo first writes a decontaminated copy of the genome (every copy of an evaluation sequence, either
   strand, masked with N) and pre-trains on that, so the pre-trained-vs-scratch comparison is clean.
2. Pre-training: the ``tiny`` DNA model on the decontaminated genome.
3. Fine-tuning: 5-fold stratified cross-validation on iPromoter-2L (2,860 + 2,860, 81 bp, the
   published protocol) of the pre-trained model, the same architecture from scratch, a k-mer
   logistic regression and a small CNN, then a final model on all the data. The task's defaults, except that each
   model is one fine-tune rather than three averaged (``ensemble``): that keeps the whole demo
   at about 18 minutes on 2 cores (README); ``benchmarks/promoter_ipromoter.py`` runs the full recipe.
4. Few labels: pre-trained against scratch on 1 % and 5 % of an 80 % pool, three seeds each, scored
   on the other 20 % (``--label-fractions``). With all 5,720 labels the two starts are tied (the
   nested benchmark agrees); pre-training pays where labels are few, and the demo shows that too.

Everything lands under one folder: ``corpus/``, ``pretrain/`` and ``promoter/`` (two run
directories) and a ``report.md`` that links them.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

from sciPT import io
from sciPT.diagnostics import transfer
from sciPT.diagnostics.contamination import decontaminate
from sciPT.domains.dna.data import DNA_SPEC, ECOLI_GENOME, read_pair
from sciPT.files import resolve_data_path
from sciPT.pretrain import pretrain
from sciPT.registry import domains

from .promoter_verdicts import CLASSICAL, metric_key

POSITIVES = "data_recipes/promoters/positive2860.txt"
NEGATIVES = "data_recipes/promoters/negative2860.txt"
# 3,000 steps did better than 2,000 on a validation split (benchmarks/RESULTS_promoter.md)
PRETRAIN_STEPS = 3000
# fine-tunes averaged per model: the task's default of 3 gains about 2 points of accuracy at three
# times the cost of each fine-tune (benchmarks/RESULTS_promoter.md), in a demo that takes about 18
# minutes on 2 cores (README)
ENSEMBLE = 1
# the label fractions of step 4: about 4 minutes for 12 fine-tunes of 46 and 229 sequences
FEW_LABELS = [0.01, 0.05]


def promoter_pretraining(corpus: str):
    """The DNA ``promoter`` preset (the ``tiny`` model with overlapping 3-mers and span-3 masking:
    the tokenizer the promoter classifier does best with) on ``corpus``; callers set the steps."""
    cfg = domains.get("dna").presets()["promoter"]()
    cfg.data.paths = [corpus]
    return cfg


def pretraining_stage(corpus: Path, out: Path, max_steps: int | None):
    """Step 2's configuration, and the ``scipt pretrain`` command that makes the same run (for its
    report, which a reader may rerun or change)."""
    cfg = promoter_pretraining(str(corpus))
    cfg.train.max_steps = max_steps or PRETRAIN_STEPS
    cfg.train.val_every = max(1, cfg.train.max_steps // 5)
    cfg.train.checkpoint_every = cfg.train.val_every
    command = (
        f"scipt pretrain dna --preset promoter --data {shlex.quote(str(corpus))} "
        f"--max-steps {cfg.train.max_steps} --val-every {cfg.train.val_every} "
        f"--checkpoint-every {cfg.train.checkpoint_every} --out {shlex.quote(str(out))}"
    )
    return cfg, command


def finetuning_resume(stage: Path) -> str | None:
    """How step 3, stopped by SIGTERM, goes on alone (``None`` before its run directory holds the
    config.yaml that ``--resume`` reads back)."""
    if not (stage / "config.yaml").is_file():
        return None
    return (
        # backquoted: a folder with a space is single-quoted inside the command
        f"its fine-tuning stage is an ordinary promoter run, which `scipt finetune promoter --out "
        f"{shlex.quote(str(stage))} --resume` continues (the demo's own report.md is not written)"
    )


def finetune_config(init: Path, positives: Path, negatives: Path, max_steps: int | None):
    """Step 3's configuration. ``--max-steps`` (a quick look at the pipeline) shortens the
    fine-tunes too: each trains one epoch, the shortest fit that is validated (early stopping needs
    it), where it would otherwise train up to 15. The k-mer regressions, the CNNs and the stacks on
    each fine-tune are fitted as always: the 20 cross-validation fits still took 8 minutes on 2
    cores with ``--max-steps 50``."""
    from .promoter_config import PromoterConfig

    ft = PromoterConfig(
        init=str(init), folds=5, baselines=True, ensemble=ENSEMBLE, label_fractions=FEW_LABELS
    )
    ft.inputs.positives, ft.inputs.negatives = str(positives), str(negatives)
    if max_steps is not None:
        ft.max_epochs = 1
    return ft


def pretraining_gains(metrics: dict) -> list[str]:
    """Pre-trained against scratch with all labels (cross-validated MCC) and with few (accuracy), and
    against the classical baselines with all labels, from the promoter run's metrics, in the words of
    the run's report (2-SE rule)."""
    words = transfer.WORDS[metrics["pre_trained_vs_scratch_mcc_verdict"]]
    lines = [
        f"- All {metrics['sequences']:,} labels, 5-fold cross-validation: pre-trained is {words} scratch, MCC "
        f"{metrics['pre_trained_mcc_mean']:.3f} vs {metrics['scratch_mcc_mean']:.3f}, per-fold difference "
        f"{metrics['pre_trained_vs_scratch_mcc_diff_mean']:+.3f} ± {metrics['pre_trained_vs_scratch_mcc_diff_se']:.3f}."
    ]
    for name in CLASSICAL:
        key = metric_key(name)
        versus = f"pre_trained_vs_{key}_mcc"
        lines.append(
            f"- Against the {name} on the same folds: pre-trained is {transfer.WORDS[metrics[f'{versus}_verdict']]} "
            f"it, MCC {metrics['pre_trained_mcc_mean']:.3f} vs {metrics[f'{key}_mcc_mean']:.3f}, per-fold "
            f"difference {metrics[f'{versus}_diff_mean']:+.3f} ± {metrics[f'{versus}_diff_se']:.3f}."
        )
    for frac in FEW_LABELS:
        at = f"fraction_{frac:g}"
        versus = f"{at}_pre_trained_vs_scratch_accuracy"
        lines.append(
            f"- {frac:.0%} of the labels: pre-trained is {transfer.WORDS[metrics[f'{versus}_verdict']]} scratch, "
            f"accuracy {metrics[f'{at}_pre_trained_accuracy_mean']:.3f} vs "
            f"{metrics[f'{at}_scratch_accuracy_mean']:.3f}, difference {100 * metrics[f'{versus}_diff_mean']:+.1f} "
            f"± {100 * metrics[f'{versus}_diff_se']:.1f} points over seeds."
        )
    return lines


def demo(args: argparse.Namespace) -> int:
    from .promoter_config import PromoterConfig
    from .promoter_train import run_finetune

    out = Path(args.out)
    io.refuse_unless_empty_folder(out)
    started = time.time()
    positives, negatives = resolve_data_path(POSITIVES), resolve_data_path(NEGATIVES)
    data = read_pair(positives, negatives)

    print("[1/3] decontaminating the pre-training genome", file=sys.stderr)
    clean = out / "corpus" / "ecoli_k12_decontaminated.fa.gz"
    counts = decontaminate(resolve_data_path(ECOLI_GENOME), data.codes, clean, DNA_SPEC)

    print("[2/3] pre-training the tiny DNA model on the decontaminated genome", file=sys.stderr)
    cfg, command = pretraining_stage(clean, out / "pretrain", args.max_steps)
    pretrain("dna", cfg, out / "pretrain", command=command)

    print(
        "[3/3] 5-fold cross-validation: pre-trained, scratch, k-mer LR, CNN; then few labels", file=sys.stderr
    )
    ft = finetune_config(out / "pretrain", positives, negatives, args.max_steps)
    # read by the command line's SIGTERM message (sciPT.cli.after_stop)
    args.stage_resume = lambda: finetuning_resume(out / "promoter")
    run_finetune(ft, out / "promoter")

    minutes = (time.time() - started) / 60
    io.write_text(
        out / "report.md",
        "\n".join(
            [
                "# Promoter demo",
                "",
                f"Evaluation data: iPromoter-2L, {len(data)} sequences ({int(data.labels.sum())} promoters).",
                "",
                "## Contamination",
                "",
                f"Before decontamination {counts['verbatim_before']} of {counts['eval_sequences']} evaluation "
                f"sequences occurred verbatim in the genome (either strand), {counts['near_before']} verbatim or "
                f"nearly. {counts['regions']} regions ({counts['masked_bases']:,} of {counts['corpus_bases']:,} bp) "
                f"were masked with N before pre-training: `corpus/{clean.name}`.",
                "",
                "## What pre-training bought",
                "",
                *pretraining_gains(json.loads((out / "promoter" / "metrics.json").read_text())),
                "",
                "## Runs",
                "",
                "- [pre-training](pretrain/report.md) on the decontaminated genome",
                "- [promoter cross-validation](promoter/report.md): pre-trained vs scratch vs k-mer LR vs CNN",
                "",
                f"Each model here is {ENSEMBLE} fine-tune(s); the task's default averages {PromoterConfig().ensemble} "
                "(`--ensemble`), about 2 points more accurate at that many times the cost "
                "(benchmarks/RESULTS_promoter.md).",
                "",
                *(
                    [
                        f"Run with `--max-steps {args.max_steps}`: {args.max_steps:,} pre-training steps and one "
                        "epoch per fine-tune, a look at the pipeline, not its results (the cross-validation "
                        "still fits all 20 models).",
                        "",
                    ]
                    if args.max_steps is not None
                    else []
                ),
                f"Total wall time {minutes:.1f} min.",
                "",
            ]
        ),
    )
    print(f"demo written to {out} ({minutes:.1f} min); read {out / 'report.md'}", file=sys.stderr)
    return 0
