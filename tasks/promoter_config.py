"""The configuration of ``scipt finetune promoter`` (:class:`PromoterConfig`) and its one preset;
the task is :mod:`.promoter`, the pipeline that runs it :mod:`.promoter_train`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from sciPT.diagnostics.overlap import NearCopies
from sciPT.finetune import FinetuneConfig
from sciPT.nn import TransformerConfig
from sciPT.nn.classifier import HeadConfig
from sciPT.schedules import ScheduleConfig
from sciPT.sequence_config import TokenizerConfig
from sciPT.stacking import MIN_LIKELIHOOD_RATIO
from sciPT.trainer import TrainConfig


@dataclass
class PromoterInputs:
    """The labelled sequences (FASTA or CSV/TSV, plain or gzip).

    Attributes:
        train: labelled training sequences: a CSV/TSV table, or FASTA with a ``label=VALUE`` word
            in each header; or give ``positives`` and ``negatives`` instead.
        positives: promoters (label 1), FASTA or CSV/TSV, with ``negatives``; every record is read
            as label 1, whatever its header or a table's ``label`` column says (a warning counts them).
        negatives: non-promoters (label 0), with ``positives``; likewise every record read as label 0.
        val: labelled sequences the final model stops early on (``None``: each fine-tune holds out
            ``val_fraction`` of the training data); not with ``folds``.
        test: labelled sequences the final model is evaluated on (``test_*`` metrics).
        sequence_column: the table column of the sequences.
        label_column: the table column of the labels (1/0, +/-, promoter/non-promoter,
            positive/negative, true/false or yes/no).
        max_length: residues every sequence is cropped to around its centre (shorter ones are
            padded); 0: the longest training sequence; at most what the encoder takes (4 times its
            pre-training window for a sciPT encoder).
    """

    train: str | None = None
    positives: str | None = None
    negatives: str | None = None
    val: str | None = None
    test: str | None = None
    sequence_column: str = "sequence"
    label_column: str = "label"
    max_length: int = 0


@dataclass
class PromoterConfig:
    """Everything ``scipt finetune promoter`` does; ``model``/``tokenizer`` apply to ``--init none``.

    Attributes:
        init: the encoder to start from: a dna pre-training run or its ``model/`` folder,
            ``hf:DIR`` (an ESM folder in the Hugging Face format) or ``none`` (from scratch).
        max_epochs: epochs per fine-tune at most (``train.max_steps`` bounds it too; a run sized
            by ``train.max_time`` ignores it).
        patience: epochs without a lower validation loss before a fine-tune stops early.
        min_steps_per_epoch: optimizer steps an epoch has at least: a smaller training set is
            drawn again (reshuffled) until the epoch is full (0: one pass).
        shift: roll each training sequence by a random number of bases, up to this many either
            way, each time it is drawn (0: off).
        ensemble: fine-tunes per model, differing in seed and early-stopping split; their
            probabilities are averaged.
        val_fraction: fraction of the training data each fine-tune holds out for early stopping
            (without ``--val``), in (0, 1).
        naturalness: add the pre-trained masked model's likelihood of each sequence to the
            prediction (starts with a masked-model head only), kept where it improves the fit.
        naturalness_min_ratio: likelihood-ratio statistic on the early-stopping split the
            likelihood must reach to be kept (3.841: p = 0.05; 0: always kept).
        kmer_stack: stack a k-mer logistic regression's logit onto the classifier's, kept where it
            improves the fit.
        kmer_stack_min_ratio: likelihood ratio the k-mer stack must reach to be kept (as
            ``naturalness_min_ratio``).
        cnn_stack: then stack the baseline CNN's logit likewise.
        cnn_stack_min_ratio: likelihood ratio the CNN stack must reach to be kept.
        folds: stratified K-fold cross-validation of every model (K at least 2; a sequence's copies,
            reverse complements and near copies in one fold); 0: none, only the final model is
            trained.
        strand_symmetric: average each prediction with its reverse complement's.
        baselines: also run the same architecture from scratch, a k-mer logistic regression and a
            small CNN on the same folds (and scratch in ``label_fractions``).
        export: the final model's start: ``start`` (``--init``) or ``recommended`` (the start the
            cross-validation report recommends; needs ``folds`` and ``baselines``).
        label_fractions: fractions, in (0, 1], of 80 % of the labelled data to fine-tune on for a
            sample-efficiency curve (accuracy on the other 20 %); empty: none.
        fraction_seeds: subsets (and fine-tune seeds) per label fraction, seeded ``train.seed``,
            ``train.seed + 1``, ...
        contamination_k: k-mer length of the check of evaluation sequences against the
            pre-training corpus, and of the near copies among the training, --val and --test sets
            (which every split keeps together: :func:`near_copies`).
        contamination_threshold: fraction of a sequence's k-mers found in the pre-training corpus
            (or in the other records, the training data) from which it counts as nearly
            contained (a near copy).
    """

    init: str = "none"
    inputs: PromoterInputs = field(default_factory=PromoterInputs)
    # overlapping 3-mers and three fine-tunes averaged: chosen on a validation split of one
    # iPromoter-2L fold's training part (benchmarks/RESULTS_promoter.md); a pre-trained --init
    # brings its own tokenizer. The head is a CNNProm-sized motif detector on the hidden states
    # (128 filters of 15 positions, max over 4, MLP of 64): against composition-matched negatives
    # (sigma-70 promoters against their dinucleotide shuffles, 5-fold CV, one fine-tune) it took
    # the pre-trained tiny encoder from MCC 0.44 (flattened states, the earlier default) to 0.67,
    # level with a CNN on one-hot input (0.68); a global max instead of windows of 4 fell to 0.13.
    # The head also reads the one-hot tokens (``tokens``): the highest mean validation MCC of the
    # pre-training designs at equal compute (0.531 against 0.501 without; tied by the 2-SE rule,
    # chosen by the rule fixed in advance, benchmarks/RESULTS_promoter.md). And the mean of those
    # inputs over the sequence beside the pooled map (``composition``): by the rule fixed before
    # its run, the higher mean validation MCC on the selection sets (0.511 against 0.510, tied by
    # the 2-SE rule, benchmarks/RESULTS_promoter.md; sigma-70 to the other sigma factors tied too,
    # benchmarks/RESULTS.md)
    tokenizer: TokenizerConfig = field(default_factory=lambda: TokenizerConfig(kind="kmer", k=3))
    model: TransformerConfig = field(
        default_factory=lambda: TransformerConfig(d_model=64, n_layers=2, n_heads=4, d_ff=256, max_len=128)
    )
    head: HeadConfig = field(
        default_factory=lambda: HeadConfig(
            pooling="conv",
            hidden=64,
            dropout=0.3,
            filters=128,
            kernel=15,
            pool=4,
            tokens=True,
            composition=True,
        )
    )
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)
    # max_steps: a ceiling, not a schedule (the rate is constant after its warm-up): epochs and
    # early stopping end a fit, and 15 epochs of batch 32 reach it only above about 210,000
    # training sequences
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(
            max_steps=100_000,
            batch_size=32,
            lr=1e-3,
            weight_decay=0.01,
            schedule=ScheduleConfig(name="constant", warmup_steps=50),
        )
    )
    max_epochs: int = 15
    patience: int = 3
    # an epoch of at least this many optimizer steps: a small training set is drawn several times
    # per epoch (sciPT.classification, "Fit"), so max_epochs and patience mean the same at any size.
    # 50 (the learning-rate warm-up's length) against 0, on inner validation at 1, 5 and 25 % of two
    # sets' labels: mean MCC 0.414 against 0.357 for the pre-trained start, and pre-trained ahead of
    # scratch only with it (benchmarks/RESULTS_promoter.md, benchmarks/promoter_recipe.py)
    min_steps_per_epoch: int = 50
    # roll each training sequence by up to this many bases either way each time it is drawn
    # (sciPT.classification.LabelledCollate); 0: off
    shift: int = 0
    # fine-tunes per model, differing in seed and held-out validation split; probabilities averaged
    ensemble: int = 3
    val_fraction: float = 0.1
    # fuse the pre-trained masked model's likelihood of each sequence into the prediction
    # (sciPT.naturalness), where the start has a masked-model head; --no-naturalness: off
    naturalness: bool = True
    # ... kept only where it improves the fit on the early-stopping split by at least this
    # likelihood-ratio statistic (chi-squared, 1 degree of freedom: 3.841 is p = 0.05); below it the
    # model predicts without the likelihood's 16 encoder passes per sequence. 0: keep every fit
    naturalness_min_ratio: float = MIN_LIKELIHOOD_RATIO
    # stack a k-mer logistic regression's logit onto the classifier's (module docstring), kept where
    # the likelihood ratio on the early-stopping split reaches kmer_stack_min_ratio; --no-kmer-stack:
    # off. On by a rule fixed before its measurement: on inner validation (two selection sets, 1-100 %
    # of the labels, 3 seeds) mean MCC 0.521 with it, 0.511 without (benchmarks/RESULTS_promoter.md)
    kmer_stack: bool = True
    kmer_stack_min_ratio: float = MIN_LIKELIHOOD_RATIO
    # then the baseline CNN's logit likewise (tasks/promoter_stacking.py), kept where its likelihood
    # ratio reaches cnn_stack_min_ratio; --no-cnn-stack: off. On by a rule fixed before its
    # measurement: on inner validation (the k-mer stack's protocol) mean MCC 0.523 with it, 0.521
    # without (benchmarks/RESULTS_promoter.md)
    cnn_stack: bool = True
    cnn_stack_min_ratio: float = MIN_LIKELIHOOD_RATIO
    folds: int = 0
    strand_symmetric: bool = False
    # scratch, a k-mer logistic regression and a small CNN beside the model, on the same folds
    # (--no-baselines: off)
    baselines: bool = True
    # the final model's start: "start" (--init) or "recommended", the report's recommendation among
    # the fine-tuned starts (pre-trained, scratch), so that a run which recommends scratch exports it
    # without a second cross-validation
    export: Literal["start", "recommended"] = "start"
    label_fractions: list[float] = field(default_factory=list)
    fraction_seeds: int = 3
    contamination_k: int = 16
    contamination_threshold: float = 0.5


def near_copies(cfg: PromoterConfig) -> NearCopies:
    """The rule every split of a run keeps near copies together by (the folds, the label fractions'
    test part, each fine-tune's early-stopping split, the baselines' and stacks' inner splits): the
    contamination check's k and threshold."""
    return NearCopies(cfg.contamination_k, cfg.contamination_threshold)


def early_stopping_size(cfg: PromoterConfig, n: int) -> int:
    """How many of ``n`` training sequences a fine-tune without ``--val`` holds out to stop early."""
    return max(2, int(round(cfg.val_fraction * n)))


def tiny() -> PromoterConfig:
    return PromoterConfig()
