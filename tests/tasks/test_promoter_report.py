"""The promoter report's verdict lines (:mod:`sciPT.tasks.promoter_verdicts`) and its other flags
(:mod:`sciPT.tasks.promoter_report`)."""

import pytest

from sciPT.tasks.promoter_report import contamination_flag, on_top_lines
from sciPT.tasks.promoter_verdicts import flag_lines, recommended_start


def test_flag_lines_on_the_human_promoter_numbers():
    """Per-fold MCC shaped like the held-out human promoter run (0.109 / 0.297 / 0.537)."""
    mcc = {
        "pre-trained": [0.10, 0.13, 0.09, 0.12, 0.11],
        "scratch": [0.29, 0.31, 0.28, 0.30, 0.31],
        "k-mer LR": [0.54, 0.52, 0.55, 0.53, 0.54],
    }
    assert flag_lines(mcc, 1000)[:4] == [
        "- **Behind the k-mer baseline: pre-trained**: MCC 0.110 ± 0.007 vs 0.536 ± 0.005, "
        "per-fold difference -0.426 ± 0.012, beyond 2 SE.",
        "- **Behind the k-mer baseline: scratch**: MCC 0.298 ± 0.006 vs 0.536 ± 0.005, "
        "per-fold difference -0.238 ± 0.010, beyond 2 SE.",
        "- **Negative transfer**: the pre-trained start is behind scratch: MCC 0.110 ± 0.007 vs "
        "0.298 ± 0.006, per-fold difference -0.188 ± 0.004, beyond 2 SE.",
        "- **Recommended for this data size** (1000 sequences): k-mer LR, because it has the best mean "
        "MCC (0.536) and is the simplest model run.",
    ]
    # the same pre-trained model with a fold spread as wide as its mean: near chance, flagged first
    mcc["pre-trained"] = [0.30, -0.10, 0.25, -0.05, 0.15]
    assert flag_lines(mcc, 1000)[0] == (
        "- **Near chance: pre-trained**: cross-validated MCC 0.110 ± 0.080 (mean ± standard error over "
        "5 folds) is not 2 standard errors above zero; it has learnt nothing measurable from these data."
    )


def test_few_label_lines_pair_the_seeds():
    from sciPT.tasks.promoter_verdicts import few_label_lines

    accuracy = {
        # differences 0.05, 0.04, 0.06: mean 0.05, SE 0.01 / sqrt(3) = 0.0058
        "pre-trained": [[0.73, 0.74, 0.72], [0.76, 0.75, 0.77]],
        "scratch": [[0.68, 0.70, 0.66], [0.75, 0.77, 0.74]],
        # differences 0.01, -0.02, 0.03: mean 0.0067, SE 0.0252 / sqrt(3) = 0.0145
    }
    metrics = {}
    lines = few_label_lines([0.01, 0.05], [46, 229], accuracy, metrics)
    assert lines == [
        "",
        "- 1% of the labels (46 sequences): pre-trained is ahead of scratch, accuracy +5.0 ± 0.6 points "
        "(paired over 3 seeds, 2-SE rule).",
        "- 5% of the labels (229 sequences): pre-trained is tied with scratch, accuracy +0.7 ± 1.5 points "
        "(paired over 3 seeds, 2-SE rule).",
    ]
    assert metrics["fraction_0.01_pre_trained_vs_scratch_accuracy_verdict"] == 1
    assert metrics["fraction_0.05_pre_trained_vs_scratch_accuracy_verdict"] == 0
    assert abs(metrics["fraction_0.01_pre_trained_vs_scratch_accuracy_diff_mean"] - 0.05) < 1e-12
    assert abs(metrics["fraction_0.01_pre_trained_vs_scratch_accuracy_diff_se"] - 0.01 / 3**0.5) < 1e-12
    assert few_label_lines([0.01], [46], {"scratch": [[0.7]]}, {}) == []


def test_few_label_lines_with_one_seed_say_there_is_no_spread():
    from sciPT.tasks.promoter_verdicts import few_label_lines

    metrics = {}
    lines = few_label_lines([0.01], [46], {"pre-trained": [[0.727]], "scratch": [[0.591]]}, metrics)
    assert lines[1] == (
        "- 1% of the labels (46 sequences): pre-trained is tied with scratch, accuracy +13.6 points "
        "(one seed: no spread to judge it by, so tied by the 2-SE rule; --fraction-seeds 2 or more)."
    )
    # an infinite standard error is no JSON number: the metrics leave it out
    assert "fraction_0.01_pre_trained_vs_scratch_accuracy_diff_se" not in metrics
    assert metrics["fraction_0.01_pre_trained_vs_scratch_accuracy_verdict"] == 0


def test_a_model_behind_the_cnn_is_flagged_and_the_simpler_tied_model_recommended():
    mcc = {
        "pre-trained": [0.70, 0.72, 0.69, 0.71, 0.70],
        "k-mer LR": [0.60, 0.61, 0.59, 0.60, 0.62],
        # per-fold differences to pre-trained: 0.05, 0.04, 0.06, 0.05, 0.05 (SE 0.0032)
        "CNN": [0.75, 0.76, 0.75, 0.76, 0.75],
    }
    lines = flag_lines(mcc, 500)
    assert lines[:2] == [
        "- **Behind the CNN baseline: pre-trained**: MCC 0.704 ± 0.005 vs 0.754 ± 0.002, "
        "per-fold difference -0.050 ± 0.003, beyond 2 SE.",
        "- **Recommended for this data size** (500 sequences): CNN, because it has the best mean MCC "
        "(0.754) and every simpler model is behind it by more than 2 standard errors over paired folds.",
    ]
    # tied with the pre-trained model, the CNN is still the pick: it is the simpler of the two
    mcc["CNN"] = [0.69, 0.72, 0.70, 0.70, 0.70]
    assert flag_lines(mcc, 500)[1].startswith(
        "- **Recommended for this data size** (500 sequences): CNN, because it is tied with pre-trained"
    )


def test_what_sits_on_the_classifiers_is_counted_over_the_folds():
    def state(fusion, kmer, cnn):
        return {"likelihood fusion": fusion, "k-mer stack": kmer, "CNN stack": cnn}

    folds = [
        {"mcc": 0.5, "on_top": state((True, False), (True, True), (True, True))},
        {"mcc": 0.6, "on_top": state((True, True), (True, False), (True, True))},
        {"mcc": 0.4, "on_top": state((False, False), (False, False), (True, False))},
    ]
    oof = {"pre-trained": (None, folds), "k-mer LR": (None, [{"mcc": 0.3}] * 3)}
    assert on_top_lines(oof) == [
        "",
        "On top of the fine-tuned classifiers in the folds: pre-trained: likelihood fusion fitted in 2 "
        "of 3 folds, kept in 1, k-mer stack fitted in 2 of 3 folds, kept in 1, CNN stack fitted in 3 of "
        "3 folds, kept in 2.",
    ]
    assert on_top_lines({"k-mer LR": oof["k-mer LR"]}) == []


def test_flag_lines_say_when_the_export_is_not_the_recommended_model():
    """A run exports its start; a recommendation of another model says so, with the way to get it."""
    # scratch tied with pre-trained (differences 0.00, +0.02, -0.02, +0.01, -0.01): simpler, recommended
    mcc = {
        "pre-trained": [0.70, 0.72, 0.68, 0.71, 0.69],
        "scratch": [0.70, 0.70, 0.70, 0.70, 0.70],
        "k-mer LR": [0.50, 0.52, 0.48, 0.51, 0.49],
    }
    lines = flag_lines(mcc, 1000, exported="pre-trained")
    assert lines[1].startswith("- **Recommended for this data size** (1000 sequences): scratch, because")
    assert lines[2] == (
        "- The exported model (`scipt evaluate`, `predict`, `scan`) is pre-trained, this run's start, "
        "not scratch: to export scratch, run again with `--export recommended` (or `--init none`)."
    )
    # a classical baseline recommended: it is not exported, and the line says so
    mcc["k-mer LR"] = [0.80, 0.82, 0.78, 0.81, 0.79]
    lines = flag_lines(mcc, 1000, exported="pre-trained")
    assert lines[-3].startswith("- **Recommended for this data size** (1000 sequences): k-mer LR, because")
    assert lines[-2] == (
        "- The exported model (`scipt evaluate`, `predict`, `scan`) is pre-trained, this run's start, "
        "not k-mer LR: the classical baselines are measured here, not exported."
    )
    # the recommended model is the exported one: no line
    mcc["pre-trained"] = [0.90, 0.92, 0.88, 0.91, 0.89]
    assert not any(
        line.startswith("- The exported model") for line in flag_lines(mcc, 1000, exported="pre-trained")
    )


def test_export_recommended_takes_the_recommended_fine_tuned_start_and_says_so():
    starts = ("pre-trained", "scratch")
    # scratch tied with pre-trained (differences 0.00, +0.02, -0.02, +0.01, -0.01): simpler, recommended
    mcc = {
        "pre-trained": [0.70, 0.72, 0.68, 0.71, 0.69],
        "scratch": [0.70, 0.70, 0.70, 0.70, 0.70],
        "k-mer LR": [0.50, 0.52, 0.48, 0.51, 0.49],
    }
    assert recommended_start(mcc, starts) == "scratch"
    assert flag_lines(mcc, 1000, exported="scratch", export_option="recommended")[2] == (
        "- The exported model (`scipt evaluate`, `predict`, `scan`) is scratch, the recommended model "
        "(`--export recommended`)."
    )
    # pre-trained ahead of scratch by 0.10 in every fold: recommended and exported
    mcc["pre-trained"] = [0.80, 0.80, 0.80, 0.80, 0.80]
    assert recommended_start(mcc, starts) == "pre-trained"
    # the k-mer LR ahead of both: not exportable, so the same rule among the fine-tuned starts alone
    mcc["k-mer LR"] = [0.90, 0.91, 0.89, 0.92, 0.88]
    assert recommended_start(mcc, starts) == "pre-trained"
    assert flag_lines(mcc, 1000, exported="pre-trained", export_option="recommended")[-2] == (
        "- The exported model (`scipt evaluate`, `predict`, `scan`) is pre-trained, the better of the "
        "fine-tuned models by the same rule (`--export recommended`), not k-mer LR: the classical "
        "baselines are measured here, not exported."
    )
    # every model near chance (mean 0.01): none recommended; of the tied fine-tuned starts the simpler
    mcc = {name: [0.0, 0.02, -0.02, 0.03, 0.02] for name in ("pre-trained", "scratch", "k-mer LR")}
    assert recommended_start(mcc, starts) == "scratch"
    assert flag_lines(mcc, 1000, exported="scratch", export_option="recommended")[-2] == (
        "- The exported model (`scipt evaluate`, `predict`, `scan`) is scratch, the rule's pick among "
        "the fine-tuned models (`--export recommended`), though none is recommended."
    )


def test_export_recommended_with_scratch_as_the_only_fine_tuned_model():
    # --init none: scratch is the start; the CNN ahead of it by 0.10 in every fold is recommended
    mcc = {"scratch": [0.60, 0.62, 0.58, 0.61, 0.59], "CNN": [0.70, 0.72, 0.68, 0.71, 0.69]}
    assert recommended_start(mcc, ("scratch",)) == "scratch"
    assert flag_lines(mcc, 500, exported="scratch", export_option="recommended")[-2] == (
        "- The exported model (`scipt evaluate`, `predict`, `scan`) is scratch, the only fine-tuned "
        "model (`--export recommended`), not CNN: the classical baselines are measured here, not exported."
    )


def test_contamination_is_flagged_at_any_verbatim_match_or_one_percent_near():
    check = {"contamination_eval_sequences": 1000, "contamination_verbatim": 0, "contamination_near": 9}
    assert contamination_flag(check, ["pre-trained"]) is None  # 0.9 % near, none verbatim: chance
    assert contamination_flag({}, ["pre-trained"]) is None  # not checked (scratch, or no corpus)
    check["contamination_near"] = 10
    assert contamination_flag(check, ["pre-trained"]) == (
        "- **Contaminated**: 0 of 1,000 evaluation sequences (0.0%) occur verbatim in the pre-training "
        "corpus, 10 (1.0%) verbatim or nearly. The pre-trained model may have memorised them, so its "
        "scores here are not evidence of transfer. Decontaminate the corpus against them (`scipt data "
        "decontaminate`) and pre-train again."
    )
    # one verbatim match is enough; the clean sequences' MCC follows where it was measured
    check.update(contamination_verbatim=1, contamination_near=1, contamination_clean=999)
    check.update(pre_trained_clean_mcc=0.7, scratch_clean_mcc=0.65)
    flag = contamination_flag(check, ["pre-trained", "scratch", "k-mer LR"])
    assert "MCC on the 999 clean sequences (pooled over folds): pre-trained 0.700, scratch 0.650. " in flag
    mcc = {"pre-trained": [0.70, 0.72, 0.68, 0.71, 0.69], "scratch": [0.70, 0.70, 0.70, 0.70, 0.70]}
    lines = flag_lines(mcc, 1000, contamination=flag)
    assert lines[0] == flag and lines[1].startswith("- **Recommended for this data size**")


def test_the_comparisons_a_recommendation_rests_on_are_in_the_metrics():
    # "every simpler model is behind the CNN" could not be checked from the run's files: the CNN
    # was compared with the fine-tuned models only
    from sciPT.tasks.promoter_verdicts import transfer_metrics

    cnn, kmer = [0.5, 0.3, 0.55, 0.35, 0.4], [0.3, 0.25, 0.2, 0.28, 0.22]
    m = transfer_metrics({"k-mer LR": kmer, "CNN": cnn})
    diffs = [a - b for a, b in zip(cnn, kmer)]
    assert m["cnn_vs_kmer_lr_mcc_diff_mean"] == pytest.approx(sum(diffs) / 5)
    assert m["cnn_vs_kmer_lr_mcc_verdict"] == 1.0 and "kmer_lr_vs_cnn_mcc_verdict" not in m


def test_no_model_is_recommended_in_the_metrics_when_the_pick_is_near_chance():
    """Where even the pick is near chance, metrics.json recommends none, as the report says: a
    script reading metrics.json would otherwise deploy a model at chance."""
    from sciPT.tasks.promoter_verdicts import transfer_metrics

    # pre-trained: mean 0, SE 0.01 / sqrt(3) = 0.0058, not 2 SE above zero; k-mer LR: mean 0, SE 0,
    # not above zero either. Paired difference 0 +- 0.0058: tied, so the pick is the simpler k-mer
    # LR, which is near chance: nothing recommended
    m = transfer_metrics({"pre-trained": [0.0, 0.01, -0.01], "k-mer LR": [0.0, 0.0, 0.0]})
    assert m["pre_trained_near_chance"] == 1.0 and m["kmer_lr_near_chance"] == 1.0
    assert m["recommended_pre_trained"] == 0.0 and m["recommended_kmer_lr"] == 0.0
