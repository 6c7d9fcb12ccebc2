"""The mean and standard error every benchmark table prints, by the library's rule.

:func:`sciPT.diagnostics.transfer.mean_se` is the rule the package's own verdicts use (values
that are ``None`` or NaN left out, standard error with ``ddof = 1``). A table prints a spread only
where there is one, so here the standard error of fewer than two values is NaN instead of the
library's infinity (which makes a one-value comparison "tied"): renderers test it with
``math.isnan`` or by the number of values.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from sciPT.diagnostics.transfer import mean_se as _library_mean_se


def mean_se(values: Iterable[float | None]) -> tuple[float, float]:
    """``(mean, standard error)`` of the values that are not ``None`` or NaN; ``(nan, nan)`` for
    none, a NaN standard error for one."""
    kept = [float(v) for v in values if v is not None]
    mean, se = _library_mean_se(kept)
    return mean, se if math.isfinite(se) else math.nan
