import math

import numpy as np
import pytest

from sciPT.diagnostics.transfer import AHEAD, BEHIND, TIED, compare, mean_se, near_chance, recommend

SIMPLEST_FIRST = ("k-mer LR", "scratch", "pre-trained")


def test_mean_and_standard_error_by_hand():
    # mean 0.2; sample variance ((-0.1)^2 + 0 + 0.1^2) / 2 = 0.01; SE = 0.1 / sqrt(3)
    mean, se = mean_se([0.1, 0.2, 0.3])
    assert mean == pytest.approx(0.2) and se == pytest.approx(0.1 / math.sqrt(3))
    assert mean_se([0.5, float("nan"), 0.5]) == (0.5, 0.0)


def test_near_chance_is_mean_within_two_standard_errors_of_zero():
    # mean 0.2, SE 0.0577: 0.2 > 0.115 -> learnt something
    assert not near_chance([0.1, 0.2, 0.3])
    # mean 0.1, SE 0.1: 0.1 <= 0.2 -> near chance (the human-promoter case: 0.109 with a wide spread)
    assert near_chance([0.3, -0.1, 0.1])
    assert near_chance([0.0, 0.0, 0.0])  # a constant predictor
    assert near_chance([-0.4, -0.5, -0.45])  # worse than chance is no better


def test_paired_comparison_uses_per_fold_differences():
    a = [0.50, 0.30, 0.70, 0.40]
    b = [0.45, 0.26, 0.64, 0.36]  # overlapping spreads, but a wins every fold by ~0.05
    assert compare(a, b) == AHEAD and compare(b, a) == BEHIND
    assert compare(a, [0.52, 0.28, 0.71, 0.39]) == TIED  # differences +-0.02 around -0.0025
    assert compare(a, a) == TIED


def test_recommendation_prefers_the_simplest_model_tied_with_the_best():
    kmer = [0.50, 0.55, 0.52, 0.48, 0.53]
    # pre-trained is best by mean but tied with scratch and with the k-mer LR: the k-mer LR wins
    scores = {
        "pre-trained": [0.53, 0.54, 0.56, 0.47, 0.56],
        "scratch": [0.51, 0.56, 0.53, 0.49, 0.52],
        "k-mer LR": kmer,
    }
    pick, why = recommend(scores, SIMPLEST_FIRST)
    assert pick == "k-mer LR"
    assert why == (
        "it is tied with pre-trained, the best by mean MCC (0.516 vs 0.532, within 2 standard "
        "errors over paired folds), and is simpler."
    )
    # pre-trained ahead of both simpler models by ~0.1 on every fold
    scores["pre-trained"] = [x + 0.1 + d for x, d in zip(kmer, (0.01, -0.01, 0.0, 0.02, -0.02))]
    pick, why = recommend(scores, SIMPLEST_FIRST)
    assert pick == "pre-trained"
    assert why == (
        "it has the best mean MCC (0.616) and every simpler model is behind it by more "
        "than 2 standard errors over paired folds."
    )
    # scratch tied with a pre-trained model that is best by a hair: scratch, the simpler
    scores["scratch"] = [x - 0.01 + d for x, d in zip(scores["pre-trained"], (0.02, -0.02, 0.01, 0.0, -0.01))]
    assert recommend(scores, SIMPLEST_FIRST)[0] == "scratch"
    # the k-mer LR best and simplest
    pick, why = recommend({"k-mer LR": [0.6, 0.62, 0.58], "scratch": [0.3, 0.32, 0.29]}, SIMPLEST_FIRST)
    assert (pick, why) == ("k-mer LR", "it has the best mean MCC (0.600) and is the simplest model run.")


def test_a_mean_at_exactly_two_standard_errors_is_within_them_whatever_its_rounding():
    # differences (x, x, 0) have a mean of exactly 2 SE; floating point put some of them above it,
    # and the report called "ahead" (or "negative transfer") what its own rule calls tied
    flipped = 0
    for n in range(5, 300):
        for k in range(1, n):
            x = k / n
            a, b = [0.5 + x, 0.5 + x, 0.5], [0.5, 0.5, 0.5]
            mean, se = mean_se(np.subtract(a, b))
            flipped += mean > 2 * se or -mean < -2 * se
            assert compare(a, b) == TIED and compare(b, a) == TIED
            assert near_chance([x, x, 0.0])
    assert flipped > 0  # the float comparison alone would have called some of them


def test_a_model_near_chance_is_not_recommended_over_one_that_learnt():
    # k-mer LR (0.100 +- 0.100, near chance) is tied with pre-trained (0.200 +- 0.029): the simplest
    # tied was near chance, and the report recommended none of the models
    scores = {"pre-trained": [0.20, 0.25, 0.15], "scratch": [0.21, 0.22, 0.14], "k-mer LR": [0, 0.3, 0]}
    assert near_chance(scores["k-mer LR"]) and not near_chance(scores["pre-trained"])
    pick, why = recommend(scores, ["k-mer LR", "scratch", "pre-trained"])
    assert pick == "scratch" and why.startswith(
        "it is tied with pre-trained, the best by mean MCC (0.190 vs 0.200"
    )
    # every model near chance: the usual rule among them all
    assert recommend({"a": [0, 0.1, -0.1], "b": [0, 0, 0]}, ["b", "a"])[0] == "b"


def test_a_simpler_model_near_chance_is_called_near_chance_not_behind():
    # it is left out of the comparison, so "behind by more than 2 standard errors" was not shown:
    # here the CNN minus this k-mer LR is 0.22 +- 0.116, tied by the rule
    order = ("k-mer LR", "CNN", "scratch", "pre-trained")
    scores = {"k-mer LR": [0.6, -0.2, 0.5, -0.1, 0.2], "CNN": [0.5, 0.3, 0.55, 0.35, 0.4]}
    assert recommend(scores, order) == (
        "CNN",
        "it has the best mean MCC (0.420) and, of the simpler models, k-mer LR is near chance.",
    )
    scores = {**scores, "CNN": [0.3, 0.32, 0.31, 0.29, 0.3], "pre-trained": [0.5, 0.52, 0.55, 0.51, 0.5]}
    assert recommend(scores, order)[1] == (
        "it has the best mean MCC (0.516) and, of the simpler models, CNN is behind it by more than 2 "
        "standard errors over paired folds and k-mer LR is near chance."
    )


def test_the_rule_is_two_standard_errors_not_three():
    """A model 2.6 SE above chance has learnt something: a wider rule would hide real gains."""
    # (0.1, 0.3, 0.5): mean 0.3, sample sd 0.2, SE 0.2 / sqrt(3) = 0.115; 0.3 / 0.115 = 2.6
    assert not near_chance([0.1, 0.3, 0.5])
    a, b = [0.6, 0.8, 1.0], [0.5, 0.5, 0.5]  # the same numbers as per-fold differences
    assert compare(a, b) == AHEAD and compare(b, a) == BEHIND


def test_a_mean_just_above_two_standard_errors_is_beyond_them():
    """Only rounding is forgiven at the boundary: a mean 0.015 % above 2 SE is beyond it."""
    # (a, a, b): mean (2a + b) / 3, SE |a - b| / 3, so mean / SE = (2a + b) / (a - b) = 2.0003 here
    assert not near_chance([0.3, 0.3, 3e-5])
    a, b = [0.8, 0.8, 0.50003], [0.5, 0.5, 0.5]
    assert compare(a, b) == AHEAD and compare(b, a) == BEHIND


def test_the_same_small_win_on_every_fold_is_ahead():
    """No spread over the folds means no doubt: a win of 0.0005 MCC on every fold is a win."""
    b = [0.5, 0.6, 0.7]
    a = [x + 0.0005 for x in b]
    assert compare(a, b) == AHEAD and compare(b, a) == BEHIND


def test_no_scores_have_no_mean():
    """Folds that all failed (NaN) give no mean, not an MCC of 0 that reads like a real score."""
    for values in ([], [float("nan"), float("nan")]):
        mean, se = mean_se(values)
        assert math.isnan(mean) and se == math.inf
        assert near_chance(values)
    assert mean_se([0.4]) == (0.4, math.inf)  # one fold: no spread, so no standard error


def test_a_model_missing_from_the_order_counts_as_the_most_complex():
    """A model not in the cost order must not jump ahead of a listed, tied model as the cheapest."""
    # new - scratch per fold (0.01, -0.01, 0.02): mean 0.0067, SE 0.0088 -> tied
    scores = {"scratch": [0.5, 0.52, 0.48], "new": [0.51, 0.51, 0.50]}
    assert recommend(scores, SIMPLEST_FIRST) == (
        "scratch",
        "it is tied with new, the best by mean MCC (0.500 vs 0.507, within 2 standard errors over "
        "paired folds), and is simpler.",
    )


def test_equal_means_make_the_simpler_model_the_best():
    """Two models with the same mean: the simpler is the best, not "tied with" the complex one."""
    scores = {"scratch": [0.5, 0.6, 0.7], "pre-trained": [0.6, 0.5, 0.7]}
    assert recommend(scores, SIMPLEST_FIRST) == (
        "scratch",
        "it has the best mean MCC (0.600) and is the simplest model run.",
    )


def test_every_reason_names_the_metric_it_was_given():
    """A recommendation made on AUROC must not say it was made on MCC."""
    tied = {"scratch": [0.5, 0.52, 0.48], "pre-trained": [0.51, 0.51, 0.50]}
    ahead = {"scratch": [0.5, 0.52, 0.48], "pre-trained": [0.7, 0.71, 0.69]}
    beside_chance = {"k-mer LR": [0.3, -0.3, 0.0], "pre-trained": [0.7, 0.71, 0.69]}
    simplest = {"scratch": [0.7, 0.71, 0.69], "pre-trained": [0.5, 0.52, 0.48]}
    for scores in (tied, ahead, beside_chance, simplest):
        why = recommend(scores, SIMPLEST_FIRST, metric="AUROC")[1]
        assert "mean AUROC (" in why and "MCC" not in why


def test_several_simpler_models_near_chance_are_listed_in_one_clause():
    """The reason reads as English whatever the number of simpler models near chance."""
    order = ("k-mer LR", "CNN", "scratch", "pre-trained")
    chance = {"k-mer LR": [0.3, -0.3, 0.0], "CNN": [0.2, -0.1, -0.1]}
    scores = {**chance, "scratch": [0.3, 0.32, 0.31], "pre-trained": [0.5, 0.52, 0.51]}
    assert recommend(scores, order)[1] == (
        "it has the best mean MCC (0.510) and, of the simpler models, scratch is behind it by more "
        "than 2 standard errors over paired folds and k-mer LR and CNN are near chance."
    )
    scores = {**chance, "scratch": [0.1, -0.1, 0.0], "pre-trained": [0.5, 0.52, 0.51]}
    assert recommend(scores, order)[1] == (
        "it has the best mean MCC (0.510) and, of the simpler models, k-mer LR, CNN and scratch are "
        "near chance."
    )


def test_a_fold_without_a_score_is_left_out_of_the_mean_that_picks_the_best():
    """One failed fold (NaN) must not knock a model out of the running for the best."""
    # pre-trained over its two scored folds: 0.705, ahead of scratch by (0.2, 0.23) on those folds
    scores = {"scratch": [0.5, 0.52, 0.48], "pre-trained": [0.7, float("nan"), 0.71]}
    assert recommend(scores, SIMPLEST_FIRST) == (
        "pre-trained",
        "it has the best mean MCC (0.705) and every simpler model is behind it by more than 2 "
        "standard errors over paired folds.",
    )


def test_a_model_near_chance_with_the_highest_mean_is_not_the_best():
    """A noisy model near chance with the top mean is not the yardstick: the pick is then called
    "tied with" it and "simpler" when it is neither."""
    # k-mer LR: mean 0.333, SE 0.44 -> near chance; pre-trained: mean 0.2, SE 0.029 -> learnt
    scores = {"k-mer LR": [0.9, -0.5, 0.6], "pre-trained": [0.2, 0.25, 0.15]}
    assert near_chance(scores["k-mer LR"]) and not near_chance(scores["pre-trained"])
    assert recommend(scores, SIMPLEST_FIRST) == (
        "pre-trained",
        "it has the best mean MCC (0.200) and, of the simpler models, k-mer LR is near chance.",
    )


def test_only_simpler_models_are_named_behind_the_pick():
    """A more complex model behind the pick is no part of "of the simpler models"."""
    order = ("k-mer LR", "CNN", "scratch", "pre-trained")
    scores = {
        "k-mer LR": [0.3, -0.3, 0.0],  # near chance
        "CNN": [0.5, 0.52, 0.51],
        "pre-trained": [0.3, 0.32, 0.31],  # learnt, behind the CNN by 0.2 on every fold
    }
    assert recommend(scores, order) == (
        "CNN",
        "it has the best mean MCC (0.510) and, of the simpler models, k-mer LR is near chance.",
    )


def test_a_simpler_model_ahead_on_the_folds_both_scored_is_picked_and_said_to_be():
    """With a fold missing (NaN), the best mean can belong to a model that is behind a simpler one
    on every fold both scored; the simpler one is picked and the reason says so, not "behind"."""
    # means over each model's own folds: pre-trained (0.85 + 0.75) / 2 = 0.8, k-mer LR
    # (0.7 + 0.86 + 0.76) / 3 = 0.773; paired on folds 2 and 3, k-mer LR - pre-trained = (0.01, 0.01)
    scores = {"k-mer LR": [0.7, 0.86, 0.76], "pre-trained": [float("nan"), 0.85, 0.75]}
    assert compare(scores["k-mer LR"], scores["pre-trained"]) == AHEAD
    assert recommend(scores, SIMPLEST_FIRST) == (
        "k-mer LR",
        "it is ahead of pre-trained over the folds both scored (by more than 2 standard errors), "
        "though pre-trained has the best mean MCC (0.773 vs 0.800, the mean of each over its own "
        "scored folds), and is simpler.",
    )


def test_verdicts_do_not_depend_on_the_units_of_the_score():
    """The 2-SE rule is a ratio, mean / SE: scores in other units (a loss in nats, a tiny rate)
    must get the verdicts they get in MCC, not "tied" because their differences are small numbers."""
    cases = [
        ([0.50, 0.30, 0.70, 0.40], [0.45, 0.26, 0.64, 0.36], AHEAD),
        ([0.5, 0.6, 0.7], [0.4995, 0.5995, 0.6995], AHEAD),  # the same win on every fold, SE 0
        ([0.50, 0.30, 0.70, 0.40], [0.52, 0.28, 0.71, 0.39], TIED),
    ]
    for scale in (1e-9, 1.0, 1e6):
        for a, b, verdict in cases:
            a_s, b_s = [scale * x for x in a], [scale * x for x in b]
            assert compare(a_s, b_s) == verdict and compare(b_s, a_s) == -verdict
        assert not near_chance([scale * x for x in (0.1, 0.3, 0.5)])  # 2.6 SE above zero
        assert near_chance([scale * x for x in (0.3, -0.1, 0.1)])  # 1 SE above zero


def test_a_single_model_is_recommended_as_the_only_one_run():
    """With one model there is nothing to be simpler than: the reason must not claim a comparison."""
    assert recommend({"pre-trained": [0.5, 0.52, 0.48]}, SIMPLEST_FIRST) == (
        "pre-trained",
        "it is the only model run.",
    )
    # near chance or not, it is still the only one
    assert recommend({"scratch": [0.1, -0.1, 0.0]}, SIMPLEST_FIRST) == (
        "scratch",
        "it is the only model run.",
    )


def test_a_mean_one_part_in_ten_million_above_two_standard_errors_is_beyond_them():
    """Rounding is about one part in 1e16; a mean 1e-7 above 2 SE is a real (tiny) excess, not a tie."""
    # (0.3, 0.3, 2e-8): mean (0.6 + 2e-8) / 3, SE (0.3 - 2e-8) / 3, so mean / 2 SE - 1 = 1.0e-7
    assert not near_chance([0.3, 0.3, 2e-8])
    a, b = [0.8, 0.8, 0.5 + 2e-8], [0.5, 0.5, 0.5]
    assert compare(a, b) == AHEAD and compare(b, a) == BEHIND
