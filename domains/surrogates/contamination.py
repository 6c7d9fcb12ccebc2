"""Points that lie on a correlation of the pre-training library: the contamination rule of laws,
applied to a user's own points.

The library keeps correlations fitted on ribbed ducts out (:mod:`.correlations`) so that no prior
learnt from them leaks into a ribbed-channel evaluation. The same leak happens the other way round
when the *points* come from a library law: calibration or evaluation points computed from, say,
Dittus-Boelter (a textbook exercise, a spreadsheet filled from a handbook, a synthetic test file)
are not held out from a prior that was learnt on Dittus-Boelter, and an evaluation on them ranks
the prior-informed model as if it had predicted unseen data.

:func:`library_matches` evaluates every system of the library the run's prior was learnt on (as
the run records it: the keys of its validity boxes, ``model/config.json`` ``validity.systems``; a
rough system ``key@e/D=0.005`` at its own roughness) at the points that lie inside the system's
validity range (the correlation's own ``re_range`` and ``pr_range``, bounds included), and counts
the points whose Nu it reproduces within :data:`ON_LIBRARY_RTOL`. A system is reported when more
than :data:`ON_LIBRARY_SHARE` (half) of all the points lie on it (:class:`LibraryMatch`): a line in
the report's first section, a warning on standard error and a metric (``points_on_library_system``
for a calibration, ``eval_points_on_library_system`` for an evaluation: the count on the system
with the most points, 0 when none is reported). Points without a prior (``--init none``) have no
library to be checked against.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .correlations import CORRELATIONS
from .correlations.base import Correlation

# Relative tolerance on Nu for a point to count as lying on a library system. Real measurements
# scatter 10-20 % about the textbook correlations (Incropera et al., ch. 8: errors as large as 25 %
# with Dittus-Boelter, about 10 % with Gnielinski's form), so a measured point falls within 1 % of
# a given correlation by chance with a probability of 0.04-0.08 (10-20 % scatter centred on it),
# while a point computed from the correlation and written with four significant digits or more is
# within 0.05 % of it. 1 % also keeps distinct library laws apart (at Pr 0.7 Dittus-Boelter heating
# and cooling differ by 3.5 %, heating and Colburn by 2.4 %); a point read off a plotted
# correlation by hand (about 1 % of a log axis) may escape it.
ON_LIBRARY_RTOL = 0.01
# A system is reported when more than this share of the points lie on it. With each measured point
# within 1 % of a system by chance at most 8 % of the time (above), more than half of N measured
# points land on one system with a probability of 0.6 % for N = 2 (both), 0.2 % for N = 4 (three)
# and 4e-5 for N = 10 (six): more than half the points on one law is a file computed from it (or
# mostly copied from one), not a measurement's scatter. One point of one is reported too (8 % by
# chance, and then it is on the law whatever the reason).
ON_LIBRARY_SHARE = 0.5
# a bound as the run stored it (1e4 written 10000.0) compared with a point typed at it
RANGE_RTOL = 1e-9
ED_MARK = "@e/D="  # a rough system's key: correlation key, this mark, its e/D (pretrain.SystemFit.key)


@dataclass
class LibraryMatch:
    """Points that lie on one system of the library.

    Attributes:
        system: the system's key as the run records it (``dittus-boelter-heating``,
            ``gowen-smith@e/D=0.005``).
        points: how many points lie on it (within :data:`ON_LIBRARY_RTOL`).
        total: how many points were checked (all the file's points).
        lines: the lines of the points on it, in the file.
    """

    system: str
    points: int
    total: int
    lines: np.ndarray

    def sentence(self) -> str:
        """What the report's first section and the warning say."""
        return (
            f"{self.points} of {self.total} points lie on library system {self.system} (within "
            f"{ON_LIBRARY_RTOL:.0%}): they are not held out from the prior; the prior-informed model "
            "has seen this law"
        )


def library_system(key: str) -> tuple[Correlation, float | None] | None:
    """The correlation (and e/D, for a rough system) behind a recorded system key; ``None`` for a
    key this library does not hold (a run exported by another version)."""
    name, _, ed = key.partition(ED_MARK)
    corr = next((c for c in CORRELATIONS if c.key == name), None)
    if corr is None or corr.rough != bool(ed):
        return None
    try:
        return corr, (float(ed) if ed else None)
    except ValueError:
        return None


def recorded_systems(boxes: list) -> list[str]:
    """The system keys of a run's validity boxes (``validity.systems``), each once, in order."""
    keys = [b.get("key") for b in boxes or [] if isinstance(b, dict)]
    return list(dict.fromkeys(k for k in keys if isinstance(k, str)))


def _inside(values: np.ndarray, bounds: tuple[float, float]) -> np.ndarray:
    return (values >= bounds[0] * (1 - RANGE_RTOL)) & (values <= bounds[1] * (1 + RANGE_RTOL))


def _nusselt(corr: Correlation, re: float, pr: float, ed: float | None) -> float:
    try:
        value = corr.nusselt(re, pr) if ed is None else corr.nusselt(re, pr, ed)
        return float(value)
    except (ArithmeticError, ValueError):  # a form that fails at a point does not lie through it
        return math.nan


def library_matches(
    re: np.ndarray, pr: np.ndarray, nu: np.ndarray, systems: list[str], lines: np.ndarray | None = None
) -> list[LibraryMatch]:
    """The systems (keys, :func:`recorded_systems`) on which more than :data:`ON_LIBRARY_SHARE`
    of the points ``(re, pr, nu)`` lie, the most points first (among equals, in the order of
    ``systems``, which a run records in library order): each system is evaluated at the points
    inside its validity range, and a point lies on it when
    ``|Nu - Nu_system| <= ON_LIBRARY_RTOL Nu_system``. Points at ``Pr = 1`` can lie on several
    systems at once (Dittus-Boelter and Colburn differ only in the Pr exponent): each is listed."""
    re, pr, nu = (np.asarray(v, float) for v in (re, pr, nu))
    total = len(nu)
    lines = np.arange(1, total + 1) if lines is None else np.asarray(lines)
    if total == 0:
        return []
    needed = math.floor(ON_LIBRARY_SHARE * total) + 1
    found = []
    for key in systems:
        known = library_system(key)
        if known is None:
            continue
        corr, ed = known
        inside = np.flatnonzero(_inside(re, corr.re_range) & _inside(pr, corr.pr_range))
        if len(inside) < needed:
            continue
        on, misses = [], 0
        for i in inside:
            ref = _nusselt(corr, float(re[i]), float(pr[i]), ed)
            if abs(nu[i] - ref) <= ON_LIBRARY_RTOL * ref:  # False for nan
                on.append(i)
            else:
                misses += 1
                if len(inside) - misses < needed:  # it cannot reach the share any more
                    break
        if len(on) >= needed:
            found.append(LibraryMatch(key, len(on), total, lines[on]))
    return sorted(found, key=lambda m: -m.points)


def points_on_library(matches: list[LibraryMatch]) -> int:
    """The metric: how many points lie on the system with the most (0: none reported)."""
    return max((m.points for m in matches), default=0)
