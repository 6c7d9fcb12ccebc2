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


def test_models_side_by_side_give_every_verdict_once_with_its_signed_difference():
    """The report's comparison table and verdict lines: a reader checks each verdict against the
    printed per-fold difference, so each pair must appear once, signed, with the folds' count."""
    from sciPT.tasks.promoter_verdicts import comparison_lines

    mcc = {
        "pre-trained": [0.70, 0.80, 0.75],  # mean 0.75, sd 0.05, SE 0.05 / sqrt(3) = 0.029
        "scratch": [0.60, 0.70, 0.65],  # pre-trained - scratch: 0.10 on every fold, SE 0
        "k-mer LR": [0.05, 0.15, -0.05],  # mean 0.05, SE 0.1 / sqrt(3) = 0.058: near chance
        "CNN": [0.80, 0.90, 0.85],  # CNN - k-mer LR: 0.75, 0.75, 0.90: mean 0.80, SE 0.05
    }
    assert comparison_lines(mcc) == [
        "",
        "### Models side by side",
        "",
        "MCC on the same 3 folds (mean ± standard error, and per fold):",
        "",
        "| model | MCC | per fold | near chance |",
        "|---|---|---|---|",
        "| pre-trained | 0.750 ± 0.029 | 0.700, 0.800, 0.750 | no |",
        "| scratch | 0.650 ± 0.029 | 0.600, 0.700, 0.650 | no |",
        "| k-mer LR | 0.050 ± 0.058 | 0.050, 0.150, -0.050 | yes |",
        "| CNN | 0.850 ± 0.029 | 0.800, 0.900, 0.850 | no |",
        "",
        "- pre-trained is ahead of k-mer LR: per-fold difference +0.700 ± 0.050.",
        "- pre-trained is behind CNN: per-fold difference -0.100 ± 0.000.",
        "- scratch is ahead of k-mer LR: per-fold difference +0.600 ± 0.050.",
        "- scratch is behind CNN: per-fold difference -0.200 ± 0.000.",
        "- pre-trained is ahead of scratch: per-fold difference +0.100 ± 0.000.",
        # the comparison the CNN's recommendation over the k-mer LR rests on
        "- CNN is ahead of k-mer LR: per-fold difference +0.800 ± 0.050.",
        "",
        "### Pre-trained versus scratch",
        "",
        "Pre-training helps: the pre-trained start is ahead of scratch: MCC 0.750 ± 0.029 vs "
        "0.650 ± 0.029, per-fold difference +0.100 ± 0.000, beyond 2 SE.",
    ]


def test_pre_trained_against_scratch_alone_is_still_judged():
    """Without classical baselines the pre-trained/scratch verdict must still be given: negative
    transfer flagged at the top, and a tie called a tie, not a help."""
    from sciPT.tasks.promoter_verdicts import comparison_lines

    # differences -0.20, -0.18, -0.22: mean -0.20, SE 0.02 / sqrt(3) = 0.012: behind
    mcc = {"pre-trained": [0.50, 0.52, 0.48], "scratch": [0.70, 0.70, 0.70]}
    assert flag_lines(mcc, 300)[:2] == [
        "- **Negative transfer**: the pre-trained start is behind scratch: MCC 0.500 ± 0.012 vs "
        "0.700 ± 0.000, per-fold difference -0.200 ± 0.012, beyond 2 SE.",
        "- **Recommended for this data size** (300 sequences): scratch, because it has the best mean "
        "MCC (0.700) and is the simplest model run.",
    ]
    # differences 0.01, 0.03, -0.01: mean 0.01, SE 0.012, within 2 SE: tied
    mcc["pre-trained"] = [0.71, 0.73, 0.69]
    assert comparison_lines(mcc)[-4:] == [
        "",
        "### Pre-trained versus scratch",
        "",
        "No clear difference between pre-trained and scratch: MCC 0.710 ± 0.012 vs 0.700 ± 0.000, "
        "per-fold difference +0.010 ± 0.012, within 2 SE.",
    ]


def test_few_label_lines_with_two_seeds_have_a_standard_error():
    """Two seeds already have a spread: the 2-SE rule applies, not the one-seed caveat."""
    from sciPT.tasks.promoter_verdicts import few_label_lines

    # differences 0.10 and 0.14: mean 0.12, sd 0.0283, SE 0.0283 / sqrt(2) = 0.02: ahead
    metrics = {}
    lines = few_label_lines([0.1], [50], {"pre-trained": [[0.80, 0.84]], "scratch": [[0.70, 0.70]]}, metrics)
    assert lines[1] == (
        "- 10% of the labels (50 sequences): pre-trained is ahead of scratch, accuracy +12.0 ± 2.0 points "
        "(paired over 2 seeds, 2-SE rule)."
    )
    assert metrics["fraction_0.1_pre_trained_vs_scratch_accuracy_diff_se"] == pytest.approx(0.02)


def test_a_run_without_baselines_says_its_model_is_compared_with_nothing():
    """One model run: no recommendation (there is nothing to recommend it over), said plainly."""
    assert flag_lines({"scratch": [0.6, 0.7, 0.65]}, 100) == [
        "- No warning: every model's MCC is more than 2 standard errors above zero, and none is "
        "behind a classical baseline (k-mer LR, CNN) or scratch.",
        "- No baselines ran (`--no-baselines`): scratch is compared with nothing.",
        "- Rules: *near chance* = mean MCC over folds not more than 2 standard errors above zero "
        "(SE = sample standard deviation over folds / √folds); A is *behind* / *tied with* / *ahead of* B "
        "when the mean per-fold MCC difference A − B is below −2 SE / within ±2 SE / above +2 SE of those "
        "differences; recommended = among the models not near chance, the best by mean MCC, unless a "
        "simpler model (k-mer LR < CNN < scratch < pre-trained) is tied with it, then the simplest of "
        "those tied.",
    ]


def test_nothing_is_recommended_nor_the_export_contrasted_when_every_model_is_near_chance():
    """A run where no model learnt anything must not recommend one, nor tell the reader to export
    another model instead of this run's start."""
    # every model: mean 0.01, sd 0.02, SE 0.02 / sqrt(5) = 0.009; 0.01 <= 2 SE: near chance
    mcc = {name: [0.0, 0.02, -0.02, 0.03, 0.02] for name in ("pre-trained", "scratch", "k-mer LR")}
    lines = flag_lines(mcc, 1000, exported="pre-trained")
    assert lines[:-1] == [
        f"- **Near chance: {name}**: cross-validated MCC 0.010 ± 0.009 (mean ± standard error over 5 "
        "folds) is not 2 standard errors above zero; it has learnt nothing measurable from these data."
        for name in mcc
    ] + [
        "- **Recommended for this data size** (1000 sequences): none of these models: every one is near "
        "chance; more (or better) labelled data comes first."
    ]


def test_metrics_number_the_folds_from_one_and_give_the_standard_error_over_folds():
    """metrics.json's per-fold keys match the report's fold numbers (1..K), and every metric's SE is
    the sample standard deviation over folds / sqrt(folds), as the report's rules line says."""
    from sciPT.metrics import NAMES
    from sciPT.tasks.promoter_verdicts import standard_errors, transfer_metrics

    m = transfer_metrics({"pre-trained": [0.6, 0.8, 0.7], "k-mer LR": [0.5, 0.6, 0.55]})
    assert [m[f"pre_trained_mcc_fold{i}"] for i in (1, 2, 3)] == [0.6, 0.8, 0.7]
    assert "pre_trained_mcc_fold0" not in m and "pre_trained_mcc_fold4" not in m
    # per fold: every metric 0.6, 0.8, 0.7: sample sd 0.1, SE 0.1 / sqrt(3)
    per_fold = [dict.fromkeys(NAMES, x) for x in (0.6, 0.8, 0.7)]
    se = standard_errors(per_fold, "kmer_lr")
    assert set(se) == {f"kmer_lr_{n}_se" for n in NAMES}
    assert se["kmer_lr_mcc_se"] == pytest.approx(0.1 / 3**0.5)


def test_evaluate_s_contamination_flag_leaves_the_clean_subset_to_its_own_section():
    """``scipt evaluate`` passes no models: the clean subset's counts follow in its own section, so
    the flag must not repeat them."""
    check = {
        "contamination_eval_sequences": 9,
        "contamination_verbatim": 8,
        "contamination_near": 8,
        "contamination_clean": 1,
        "contamination_clean_positives": 1,
        "contamination_clean_negatives": 0,
    }
    assert contamination_flag(check, []) == (
        "- **Contaminated**: 8 of 9 evaluation sequences (88.9%) occur verbatim in the pre-training "
        "corpus, 8 (88.9%) verbatim or nearly. The pre-trained model may have memorised them, so its "
        "scores here are not evidence of transfer. Decontaminate the corpus against them (`scipt data "
        "decontaminate`) and pre-train again."
    )


def test_a_cnn_behind_the_k_mer_baseline_is_compared_but_not_flagged():
    """The flags are for fine-tuned models behind a baseline; one baseline behind the other is a
    comparison line, not a warning about the user's model."""
    from sciPT.tasks.promoter_verdicts import comparison_lines

    # pre-trained ahead of both by 0.20 / 0.30 on every fold; the CNN 0.10 behind the k-mer LR
    mcc = {"pre-trained": [0.80, 0.82, 0.78], "k-mer LR": [0.60, 0.62, 0.58], "CNN": [0.50, 0.52, 0.48]}
    assert flag_lines(mcc, 200)[:2] == [
        "- No warning: every model's MCC is more than 2 standard errors above zero, and none is "
        "behind a classical baseline (k-mer LR, CNN) or scratch.",
        "- **Recommended for this data size** (200 sequences): pre-trained, because it has the best mean "
        "MCC (0.800) and every simpler model is behind it by more than 2 standard errors over paired folds.",
    ]
    assert "- CNN is behind k-mer LR: per-fold difference -0.100 ± 0.000." in comparison_lines(mcc)


def test_the_verdicts_are_on_each_fold_s_mcc():
    """The 2-SE verdicts are on MCC: fold_scores must read each fold's MCC, not another metric."""
    from sciPT.tasks.promoter_verdicts import fold_scores

    oof = {"scratch": (None, [{"mcc": 0.5, "accuracy": 0.9}, {"mcc": 0.3, "accuracy": 0.8}])}
    assert fold_scores(oof) == {"scratch": [0.5, 0.3]}
    assert fold_scores(oof, "accuracy") == {"scratch": [0.9, 0.8]}


def test_the_window_note_counts_the_encoder_s_tokens_not_the_base_pairs():
    """A k-mer tokenizer reads 6 bp a token: 300 bp is 50 tokens, within a 64-token pre-training
    window, so no note; 420 bp is 70 tokens, beyond it. Comparing base pairs with tokens would tell
    every k-mer user their inputs are too long, and print the wrong token count."""
    from types import SimpleNamespace

    import numpy as np

    from sciPT.domains.dna.data import LabelledSequences
    from sciPT.nn import TransformerConfig
    from sciPT.tasks.promoter import PromoterConfig
    from sciPT.tasks.promoter_report import report

    def head(bp: int) -> list[str]:
        data = LabelledSequences(["a", "b"], [np.zeros(bp, dtype=np.uint8)] * 2, np.array([1, 0]), "t.csv")
        start = SimpleNamespace(
            name="pre-trained",
            model_cfg=TransformerConfig(max_len=64),
            pretrained_on=[{"path": "c.fa", "sha256": "0" * 64}],
            tokenizer=SimpleNamespace(n_tokens=lambda n: n // 6),
        )
        return report(PromoterConfig(), data, start, bp, [], [], {"wall_time_s": 1}).splitlines()

    assert not any("longer than the" in line for line in head(300))
    assert (
        "Inputs of 420 bp (70 tokens) are longer than the 64-token windows the encoder was pre-trained on; "
        "its rotary/ALiBi positions carry over, and fine-tuning adapts them."
    ) in head(420)


def test_a_run_without_folds_puts_its_data_flags_before_the_not_checked_line(
    planted, tmp_path, monkeypatch, fast_cfg
):
    """Without --folds the report must still say no verdict was checked, after the flags about the
    data (a test set inside the training data comes first: it invalidates every number below), and
    metrics.json counts the promoters, not every sequence."""
    import json
    from pathlib import Path

    import numpy as np

    import sciPT.tasks.promoter_train as promoter
    from sciPT import plots
    from sciPT.tasks.promoter_verdicts import NO_CV_LINE

    path, rows = planted
    test = tmp_path / "test.csv"
    test.write_text("name,sequence,label\n" + "".join(f"{n},{s},{y}\n" for n, s, y in rows[:10]))
    labels = {s: y for _, s, y in rows}

    class StandIn:  # a perfect classifier
        fusion = fitted_fusion = stack = fitted_stack = cnn_stack = fitted_cnn_stack = None
        validation = (np.array([1, 0]), np.array([0.9, 0.1]))

        def predict(self, codes):
            return np.array([float(labels["".join("ACGT"[b] for b in c)]) for c in codes])

    monkeypatch.setattr(promoter, "train_classifier", lambda *a, **k: StandIn())
    monkeypatch.setattr(promoter, "export_classifier", lambda *a: None)
    monkeypatch.setattr(plots, "roc_pr", lambda *a, **k: (Path("roc.png"), Path("pr.png")))
    cfg = fast_cfg(folds=0, baselines=False)
    cfg.inputs.train, cfg.inputs.test = str(path), str(test)
    assert promoter.run_finetune(cfg, tmp_path / "run") == 0
    report = (tmp_path / "run" / "report.md").read_text().splitlines()
    flags = report[2 : report.index("", 2)]
    assert len(flags) >= 2 and flags[-1] == NO_CV_LINE
    assert all(f.startswith("- **") for f in flags[:-1]) and "test" in flags[0].lower()
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert (metrics["sequences"], metrics["positives"]) == (60, 30)
    assert metrics["exported_scratch"] == 1 and metrics["test_mcc"] == 1.0
