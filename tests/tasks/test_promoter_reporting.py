"""What the promoter run says about its numbers: the clean subset's class counts, the lengths the
classifier reads, the exported model's validation metrics and the strategies ``--help`` offers."""

import numpy as np
import pytest

from sciPT.domains.dna.data import LabelledSequences
from sciPT.tasks.promoter import PromoterConfig
from sciPT.tasks.promoter_classifier import length_note
from sciPT.tasks.promoter_evaluation import contamination_lines
from sciPT.tasks.promoter_report import contamination_flag, exported_model_lines
from sciPT.tasks.promoter_scan import window_reading


# --- the clean subset of a contamination check ------------------------------------------------------
@pytest.fixture
def contaminated(tmp_path):
    """8 promoters and 8 non-promoters of 30 bp; ``corpus(n)`` writes a pre-training corpus holding
    the first ``n`` promoters verbatim and returns its ``pretrained_on`` record."""
    rng = np.random.default_rng(1)
    codes = [rng.integers(0, 4, 30).astype(np.uint8) for _ in range(16)]
    labels = np.array([1] * 8 + [0] * 8)
    data = LabelledSequences([f"s{i}" for i in range(16)], codes, labels, "held.csv")

    def corpus(n: int) -> list[dict]:
        path = tmp_path / f"corpus{n}.fa"
        path.write_text("".join(f">p{i}\n{''.join('ACGT'[b] for b in codes[i])}\n" for i in range(n)))
        return [{"path": str(path), "sha256": "0" * 64}]

    return data, corpus


def test_a_clean_subset_with_too_few_promoters_is_not_measured_nor_compared_on(contaminated):
    data, corpus = contaminated
    metrics = {}
    # 7 of the 8 promoters in the corpus: the clean subset holds 1 promoter and 8 non-promoters
    lines = contamination_lines(corpus(7), data, 16, 0.5, data.labels.astype(float), metrics, "pre_trained")
    assert lines[1] == (
        "The clean subset holds 1 promoter and 8 non-promoters: too few promoters to measure on (at least 5 "
        "of each class are needed), so no metric is given on it. Pre-train on a decontaminated corpus "
        "(`scipt data decontaminate`) to measure the gain of pre-training cleanly."
    )
    assert (metrics["contamination_clean_positives"], metrics["contamination_clean_negatives"]) == (1, 8)
    assert not [key for key in metrics if "_clean_" in key and key.startswith("pre_trained")]
    assert contamination_flag(metrics, ["pre-trained", "scratch"]) == (
        "- **Contaminated**: 7 of 16 evaluation sequences (43.8%) occur verbatim in the pre-training corpus, "
        "7 (43.8%) verbatim or nearly. The pre-trained model may have memorised them, so its scores here are "
        "not evidence of transfer. The clean subset holds 1 promoter and 8 non-promoters: too few promoters "
        "to compare models on (at least 5 of each class are needed). Decontaminate the corpus against them "
        "(`scipt data decontaminate`) and pre-train again."
    )


def test_the_clean_subset_is_measured_with_its_class_counts(contaminated):
    data, corpus = contaminated
    metrics = {}
    # 3 promoters in the corpus: 5 promoters and 8 non-promoters clean; one clean non-promoter called a
    # promoter: TP 5, TN 7, FP 1, FN 0, accuracy 12/13 = 0.923, MCC 35 / sqrt(6 * 5 * 8 * 7) = 0.854
    p = data.labels.astype(float)
    p[15] = 0.9
    scratch = np.full(16, 0.1)  # every sequence a non-promoter: MCC 0
    lines = contamination_lines(
        corpus(3), data, 16, 0.5, p, metrics, "pre_trained", others={"scratch": scratch}, pooled=True
    )
    assert lines[1] == (
        "On the 13 clean sequences (5 promoters, 8 non-promoters; out-of-fold predictions pooled over "
        "folds): accuracy 0.923, MCC 0.854."
    )
    assert metrics["pre_trained_clean_mcc"] == pytest.approx(35 / np.sqrt(1680))
    assert metrics["scratch_clean_mcc"] == 0
    flag = contamination_flag(metrics, ["pre-trained", "scratch"])
    assert (
        "MCC on the 13 clean sequences (5 promoters, 8 non-promoters; pooled over folds): pre-trained 0.854, "
        "scratch 0.000." in flag
    )


def test_a_clean_subset_short_of_one_class_names_that_class_and_both_when_both_are_short():
    """No promoters but 8 non-promoters is not an empty subset; the reader needs to know which
    class is missing."""
    from sciPT.tasks.promoter_report import too_few_clean

    assert too_few_clean(0, 8, "measure on") == (
        "The clean subset holds 0 promoters and 8 non-promoters: too few promoters to measure on "
        "(at least 5 of each class are needed)"
    )
    assert too_few_clean(1, 2, "compare models on") == (
        "The clean subset holds 1 promoter and 2 non-promoters: too few promoters and non-promoters to "
        "compare models on (at least 5 of each class are needed)"
    )
    assert too_few_clean(5, 5, "measure on") is None


def test_an_empty_clean_subset_is_said_to_be_empty(contaminated):
    data, corpus = contaminated
    only = data.subset(np.arange(8))  # the 8 promoters, all in the corpus
    lines = contamination_lines(corpus(8), only, 16, 0.5, np.ones(8), {}, "eval")
    assert lines[1].startswith("The clean subset is empty, so no metric is given on it.")


# --- the lengths the classifier reads ------------------------------------------------------------
def test_the_lengths_the_classifier_reads_are_counted():
    codes = [np.zeros(n, dtype=np.uint8) for n in (81, 81, 57, 30)]
    assert length_note(codes, 57) == (
        "the model reads 57 bp (the length it was fine-tuned on): of 4 sequences, 2 cropped to their "
        "central 57 bp and 1 shorter padded to 57 bp"
    )
    assert length_note(codes[1:3], 57) == (
        "the model reads 57 bp (the length it was fine-tuned on): of 2 sequences, 1 cropped to its central 57 bp"
    )
    assert length_note(codes[2:3], 57) is None


def test_a_scan_window_is_described_as_the_classifier_reads_it():
    assert window_reading(81, 57) == "scored on its central 57 bp"
    assert window_reading(30, 57) == "padded to the model's 57 bp"
    assert window_reading(57, 57) is None


# --- the exported model's own section --------------------------------------------------------------
def test_the_exported_model_reports_its_early_stopping_metrics_as_validation():
    class Fitted:
        # 3 promoters, 2 non-promoters: TP 2, FN 1, TN 2, FP 0 at 0.5; every promoter scored above
        # every non-promoter
        validation = (np.array([1, 1, 1, 0, 0]), np.array([0.9, 0.8, 0.3, 0.1, 0.2]))

    data = LabelledSequences(
        [f"s{i}" for i in range(50)], [np.zeros(30, dtype=np.uint8)] * 50, np.zeros(50), "train.csv"
    )
    metrics = {}
    lines = exported_model_lines(PromoterConfig(), data, None, "pre-trained", Fitted(), metrics)
    assert lines == [
        "## Exported model",
        "",
        "pre-trained, fine-tuned on all 50 training sequences (the mean of 3 fine-tunes): the model "
        "`scipt evaluate`, `predict` and `scan` use.",
        "",
        "Validation on the early-stopping splits of the 3 fine-tunes (10% of the training data each, scored "
        "by the fine-tune it was held out of), pooled: 5 sequences (3 promoters, 2 non-promoters). The "
        "fine-tunes stopped early on them, and any likelihood fusion or stack below was fitted on them, so "
        "these figures are optimistic, not a held-out estimate (`--folds` and `--test` give those):",
        "",
        "| model | accuracy | mcc | f1 | auroc | auprc | sensitivity | specificity |",
        "|---|---|---|---|---|---|---|---|",
        "| exported model (validation) | 0.800 | 0.667 | 0.800 | 1.000 | 1.000 | 0.667 | 1.000 |",
    ]
    # MCC (2 * 2 - 0 * 1) / sqrt(2 * 3 * 2 * 3)
    assert metrics["val_mcc"] == pytest.approx(4 / 6) and metrics["val_accuracy"] == pytest.approx(0.8)


def test_out_of_fold_file_numbers_folds_from_one_in_file_order(tmp_path):
    """``oof.csv``: one row per record in file order, its label, its 1-based test fold and each
    model's out-of-fold probability to 6 decimals."""
    from sciPT.tasks.promoter_evaluation import write_out_of_fold

    codes = [np.zeros(10, dtype=np.uint8) for _ in range(4)]
    data = LabelledSequences(["s0", "s1", "s2", "s3"], codes, np.array([1, 0, 1, 0]), "d.csv")
    # fold 1 tests records 1 and 2, fold 2 records 0 and 3
    folds = [(np.array([0, 3]), np.array([1, 2])), (np.array([1, 2]), np.array([0, 3]))]
    oof = {"scratch": (np.array([0.1, 0.2, 0.3, 0.4]), []), "k-mer": (np.array([0.9, 0.8, 0.7, 0.6]), [])}
    path = tmp_path / "oof.csv"
    write_out_of_fold(path, data, folds, oof)
    assert path.read_text().splitlines() == [
        "record,label,fold,scratch,k-mer",
        "s0,1,2,0.100000,0.900000",
        "s1,0,1,0.200000,0.800000",
        "s2,1,1,0.300000,0.700000",
        "s3,0,2,0.400000,0.600000",
    ]


def test_a_label_fraction_trains_on_the_rounded_share_of_the_pool():
    """``fraction_subset``: round(frac x pool), not its floor, stratified; the whole pool at 1."""
    from sciPT.tasks.promoter_evaluation import fraction_subset

    rng = np.random.default_rng(0)
    codes = [rng.integers(0, 4, 20).astype(np.uint8) for _ in range(79)]
    pool = LabelledSequences([f"s{i}" for i in range(79)], codes, np.array([1] * 40 + [0] * 39), "p.csv")
    # 0.1 x 79 = 7.9 -> 8 sequences (a floor would give 7); stratified: 4 of each class
    subset = fraction_subset(pool, 0.1, 0)
    assert len(subset) == 8 and int(subset.labels.sum()) == 4
    # 0.3 x 79 = 23.7 -> 24
    assert len(fraction_subset(pool, 0.3, 0)) == 24
    assert fraction_subset(pool, 1.0, 0) is pool


# --- the cross-validation table and the report's head ---------------------------------------------
def test_the_cross_validation_table_gives_each_metric_s_mean_and_standard_error_over_every_fold():
    """Each cell is mean ± SE over all K folds (SE = sample sd / sqrt(K)), in the column named."""
    from sciPT.tasks.promoter_report import cv_table

    names = ("accuracy", "mcc", "f1", "auroc", "auprc", "sensitivity", "specificity")
    # fold values 0.6, 0.8, 0.7, shifted by 0.01 per column: means 0.70 ... 0.76, SE 0.1 / sqrt(3)
    per_fold = [{n: x + 0.01 * j for j, n in enumerate(names)} for x in (0.6, 0.8, 0.7)]
    assert cv_table({"scratch": (None, per_fold)}, 3) == [
        "## Cross-validation",
        "",
        "Stratified 3-fold (a sequence's copies, reverse complements and near copies in one fold), "
        "mean ± standard error over folds:",
        "",
        "| model | accuracy | mcc | f1 | auroc | auprc | sensitivity | specificity |",
        "|---|---|---|---|---|---|---|---|",
        "| scratch | 0.700 ± 0.058 | 0.710 ± 0.058 | 0.720 ± 0.058 | 0.730 ± 0.058 | 0.740 ± 0.058 "
        "| 0.750 ± 0.058 | 0.760 ± 0.058 |",
    ]


def _head(start_name: str, tokens: int, window: int, strategy: str = "freeze", **options) -> list[str]:
    """The report's lines up to the first section, for a start whose encoder was pre-trained on
    ``window``-token windows reading inputs of ``tokens`` tokens (a stand-in tokenizer: one per bp)."""
    from dataclasses import replace
    from types import SimpleNamespace

    from sciPT.nn import TransformerConfig
    from sciPT.tasks.promoter_report import report

    cfg = PromoterConfig()
    options = {"folds": 5, "figures": [], **options}
    figures = options.pop("figures")
    cfg = replace(cfg, init="runs/pre", finetune=replace(cfg.finetune, strategy=strategy), **options)
    codes = [np.zeros(tokens, dtype=np.uint8)] * 10
    data = LabelledSequences([f"s{i}" for i in range(10)], codes, np.array([1] * 3 + [0] * 7), "train.csv")
    start = SimpleNamespace(
        name=start_name,
        model_cfg=TransformerConfig(max_len=window),
        pretrained_on=[{"path": "/corpora/hg38.fa", "sha256": "ab" * 32}],
        tokenizer=SimpleNamespace(n_tokens=lambda bp: bp),
    )
    return report(cfg, data, start, tokens, ["BODY"], figures, {"wall_time_s": 12.4}).splitlines()


def test_the_report_head_counts_the_promoters_and_names_the_scratch_baseline_s_strategy():
    """The head says how many of the sequences are promoters, and that scratch (a baseline beside a
    pre-trained start fine-tuned otherwise) was trained in full."""
    lines = _head("pre-trained", 64, 64)
    assert lines[2] == (
        "Training data: train.csv: 10 sequences (3 promoters), cropped or padded to 64 bp. Start: "
        "pre-trained (`--init runs/pre`); strategy freeze (the scratch baseline: full); head conv + tokens; "
        "strand-symmetric: False."
    )
    assert lines[4] == "Pre-trained on: hg38.fa (sha256 abababababab…)"
    assert lines[-1] == "Wall time 12 s."
    # scratch as the start is no baseline of itself: no note
    assert "(the scratch baseline: full)" not in _head("scratch", 64, 64)[2]
    # label fractions without cross-validation fit the scratch baseline too
    assert "(the scratch baseline: full)" in _head("pre-trained", 64, 64, folds=0, label_fractions=[0.1])[2]
    # nor does a run without baselines, or a pre-trained start fine-tuned in full like scratch
    assert "(the scratch baseline" not in _head("pre-trained", 64, 64, baselines=False)[2]
    assert "(the scratch baseline" not in _head("pre-trained", 64, 64, strategy="full")[2]


def test_the_report_s_plots_link_into_the_plots_folder():
    """The figures are written to plots/: a link without that folder shows a broken image."""
    from pathlib import Path

    lines = _head("pre-trained", 64, 64, figures=[Path("/runs/r/plots/roc.png")])
    assert lines[-7:] == ["BODY", "", "## Plots", "", "![roc](plots/roc.png)", "", "Wall time 12 s."]


def test_the_report_notes_inputs_longer_than_the_pre_training_windows_only_when_they_are():
    """Inputs exactly as long as the pre-training windows need no note; one token more does."""
    assert not any("longer than the" in line for line in _head("pre-trained", 64, 64))
    assert (
        "Inputs of 65 bp (65 tokens) are longer than the 64-token windows the encoder was pre-trained on; "
        "its rotary/ALiBi positions carry over, and fine-tuning adapts them."
    ) in _head("pre-trained", 65, 64)


def test_the_exported_model_names_its_validation_file_or_its_single_fine_tune_s_split():
    """The validation section says which data the metrics are on: the `--val` file by name, or the
    one fine-tune's own early-stopping split."""
    from dataclasses import replace

    class Fitted:
        validation = (np.array([1, 0]), np.array([0.9, 0.1]))

    codes = [np.zeros(30, dtype=np.uint8)] * 20
    data = LabelledSequences([f"s{i}" for i in range(20)], codes, np.zeros(20), "train.csv")
    val = LabelledSequences(["v0", "v1"], codes[:2], np.array([1, 0]), "/data/held/val.csv")
    one = replace(PromoterConfig(), ensemble=1)
    lines = exported_model_lines(one, data, val, "scratch", Fitted(), {})
    assert lines[2].startswith("scratch, fine-tuned on all 20 training sequences (one fine-tune): ")
    assert lines[4].startswith("Validation on val.csv (`--val`): 2 sequences (1 promoter, 1 non-promoter). ")
    lines = exported_model_lines(one, data, None, "scratch", Fitted(), {})
    assert lines[4].startswith(
        "Validation on the fine-tune's early-stopping split (10% of the training data, held out of its "
        "fit): 2 sequences"
    )
