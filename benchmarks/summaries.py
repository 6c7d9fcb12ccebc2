"""The mean and standard error every benchmark table prints, by the library's rule.

:func:`sciPT.diagnostics.transfer.mean_se` is the rule the package's own verdicts use (values
that are ``None`` or NaN left out, standard error with ``ddof = 1``). A table prints a spread only
where there is one, so here the standard error of fewer than two values is NaN instead of the
library's infinity (which makes a one-value comparison "tied"): renderers test it with
``math.isnan`` or by the number of values.

:func:`beyond` and :func:`verdict` are the library's 2-SE rule
(:mod:`sciPT.diagnostics.transfer`): a mean at exactly twice its standard error, up to rounding,
is within it ("tied"), and so is any mean with a NaN or infinite standard error. Every benchmark's
verdict goes through them, so no table reimplements the rule with a raw ``>``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from sciPT.diagnostics.transfer import _beyond
from sciPT.diagnostics.transfer import mean_se as _library_mean_se


def mean_se(values: Iterable[float | None]) -> tuple[float, float]:
    """``(mean, standard error)`` of the values that are not ``None`` or NaN; ``(nan, nan)`` for
    none, a NaN standard error for one."""
    kept = [float(v) for v in values if v is not None]
    mean, se = _library_mean_se(kept)
    return mean, se if math.isfinite(se) else math.nan


def beyond(mean: float, se: float) -> bool:
    """``mean > 2 SE`` by the library's rule: a mean at 2 SE up to rounding, or with a NaN or
    infinite SE, is not beyond."""
    return _beyond(float(mean), float(se))


def verdict(mean: float, se: float, above: str = "ahead", below: str = "behind", within: str = "tied") -> str:
    """``above`` when ``mean`` is more than 2 SE above zero, ``below`` when more than 2 SE below,
    else ``within`` (the library's paired 2-SE rule on a mean difference and its SE)."""
    if beyond(mean, se):
        return above
    if beyond(-mean, se):
        return below
    return within
