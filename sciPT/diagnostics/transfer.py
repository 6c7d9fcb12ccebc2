"""Has a model learnt anything, and does pre-training help? Verdicts on per-fold scores.

Cross-validation gives every model one score per fold (MCC, say), all on the same folds. Two rules
turn those scores into verdicts; both use the standard error over folds, ``SE = s / sqrt(K)`` with
``s`` the sample standard deviation (ddof 1) of the ``K`` values:

- **near chance**: a model has learnt nothing measurable when its mean score is not more than two
  standard errors above zero, ``mean <= 2 SE`` (a constant predictor, MCC 0 on every fold, is near
  chance; so is a model worse than chance);
- **paired comparison**: A is *ahead of* / *tied with* / *behind* B when the mean of the per-fold
  differences ``A - B`` is above ``+2 SE`` / within ``±2 SE`` / below ``-2 SE``, the SE being that of
  the differences. Pairing cancels what the folds share (a hard fold is hard for both models), so it
  separates models whose spreads overlap.

:func:`recommend` picks, among the models not near chance (all of them if every one is), the one
with the best mean score unless a simpler one is tied with it (by the paired rule); then it picks
the simplest of those tied with the best: what the data cannot tell apart, the cheaper model gets,
and a model that has learnt nothing measurable is not picked over one that has.

A mean exactly at ``2 SE`` is within it, as the rules say, whatever the last bit of its floating-point
value: per-fold differences ``(x, x, 0)`` have a mean of exactly twice their standard error, and
they are common on a few hundred test sequences (a difference of one sequence on two of three
seeds).

Verdicts are the integers :data:`BEHIND` (-1), :data:`TIED` (0), :data:`AHEAD` (1), so they can
stand in a metrics.json of numbers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

SE_MULTIPLE = 2.0
BEHIND, TIED, AHEAD = -1, 0, 1
WORDS = {BEHIND: "behind", TIED: "tied with", AHEAD: "ahead of"}


def mean_se(values: Sequence[float]) -> tuple[float, float]:
    """Mean and standard error (ddof 1) of the non-NaN values; SE is infinite below two values."""
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    if len(v) == 0:
        return float("nan"), float("inf")
    se = float(np.std(v, ddof=1) / np.sqrt(len(v))) if len(v) > 1 else float("inf")
    return float(np.mean(v)), se


def _beyond(mean: float, se: float) -> bool:
    """``mean > 2 SE``, a mean equal to it up to rounding counting as within (module docstring)."""
    bound = SE_MULTIPLE * se
    return bool(mean > bound and not np.isclose(mean, bound, rtol=1e-9, atol=0.0))


def near_chance(scores: Sequence[float]) -> bool:
    """True when the mean score is not more than 2 standard errors above zero."""
    mean, se = mean_se(scores)
    return not _beyond(mean, se)


def paired_difference(a: Sequence[float], b: Sequence[float]) -> tuple[float, float]:
    """Mean and standard error of the per-fold differences ``a - b``."""
    return mean_se(np.subtract(np.asarray(a, dtype=float), np.asarray(b, dtype=float)))


def compare(a: Sequence[float], b: Sequence[float]) -> int:
    """:data:`AHEAD`, :data:`TIED` or :data:`BEHIND`: ``a`` against ``b`` by the paired 2-SE rule."""
    mean, se = paired_difference(a, b)
    if _beyond(-mean, se):
        return BEHIND
    if _beyond(mean, se):
        return AHEAD
    return TIED


def recommend(
    scores: Mapping[str, Sequence[float]], simplest_first: Sequence[str], metric: str = "MCC"
) -> tuple[str, str]:
    """The model to use, and why: a clause that completes "<pick>, because ...".

    ``scores`` maps each model to its per-fold scores (higher is better, same folds for all);
    ``simplest_first`` orders the models by cost (names missing from it count as the most complex).
    The pick is the best by mean score, unless models simpler than it are tied with it (paired
    2-SE rule), or ahead of it on the folds both scored (possible only with unscored, NaN, folds):
    then the simplest of those; models near chance are left out unless every one is.
    """
    rank = {name: i for i, name in enumerate(simplest_first)}

    def cost(name: str) -> int:
        return rank.get(name, len(rank))

    means = {name: mean_se(v)[0] for name, v in scores.items()}
    learnt = [n for n in scores if not near_chance(scores[n])] or list(scores)
    best = max(learnt, key=lambda n: (means[n], -cost(n)))
    # a model with a fold unscored (NaN) has its mean over other folds than the rest, so a simpler
    # model can be ahead of the best on the folds both scored: it is a candidate too
    against_best = {n: compare(scores[n], scores[best]) for n in learnt if n != best}
    candidates = [n for n in learnt if n == best or against_best[n] != BEHIND]
    pick = min(candidates, key=cost)
    if len(scores) == 1:
        return pick, "it is the only model run."
    if pick != best and against_best[pick] == AHEAD:
        return pick, (
            f"it is ahead of {best} over the folds both scored (by more than 2 standard errors), "
            f"though {best} has the best mean {metric} ({means[pick]:.3f} vs {means[best]:.3f}, "
            "the mean of each over its own scored folds), and is simpler."
        )
    if pick != best:
        return pick, (
            f"it is tied with {best}, the best by mean {metric} ({means[pick]:.3f} vs "
            f"{means[best]:.3f}, within 2 standard errors over paired folds), and is simpler."
        )
    simpler = [n for n in scores if cost(n) < cost(best)]
    chance = [n for n in simpler if n not in learnt]
    if simpler and not chance:
        return best, (
            f"it has the best mean {metric} ({means[best]:.3f}) and every simpler model is "
            "behind it by more than 2 standard errors over paired folds."
        )
    if simpler:
        # a simpler model near chance is left out of the comparison, not found behind: it may well
        # be tied with the pick by the 2-SE rule, its folds being that noisy
        behind = [n for n in simpler if n in learnt]
        clauses = [f"{_listed(chance)} {_be(chance)} near chance"]
        if behind:
            clauses.insert(
                0,
                f"{_listed(behind)} {_be(behind)} behind it by more than 2 standard errors over paired folds",
            )
        return best, (
            f"it has the best mean {metric} ({means[best]:.3f}) and, of the simpler models, "
            f"{' and '.join(clauses)}."
        )
    return best, f"it has the best mean {metric} ({means[best]:.3f}) and is the simplest model run."


def _listed(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _be(names: list[str]) -> str:
    return "is" if len(names) == 1 else "are"
