"""What every textbook correlation of :mod:`sciPT.domains.surrogates.correlations` is: a form
``Nu = f(Re, Pr)`` (``f(Re, Pr, e/D)`` for a rough wall) over its validity range, with its source and
what it was fitted on (:class:`Correlation`), and the textbook most sources cite (:data:`INCROPERA`).

Reynolds numbers are based on the plate length (flat plate) or the hydraulic diameter (pipes);
properties at the film or bulk temperature as each source says. All numbers are dimensionless.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Correlation:
    """One textbook correlation ``Nu = f(Re, Pr)`` over its validity range.

    Attributes:
        key: identifier used in configs (``"dittus-boelter-heating"``).
        family: one of ``FAMILIES``: ``"flat-plate"``, ``"smooth-pipe"``, ``"rough-pipe"``, ``"bluff-body"``.
        form: the formula, for reports.
        re_range, pr_range: validity (inclusive); pre-training samples log-uniformly inside, with
            ``Pr`` capped at 100 so that oils do not dominate the fitted Prandtl exponent.
        source: where the form and range come from.
        nusselt: ``(Re, Pr) -> Nu`` for scalars (``(Re, Pr, e/D) -> Nu`` when ``ed_range`` is set).
        ed_range: validity in relative roughness ``e/D`` (``None``: a smooth wall).
        fitted_on: the measurements (or theory) the correlation was fitted on, for the
            contamination rule.
        share: the correlation's share of its source's weight in the prior (a tube-bank source
            pre-trains two arrangements at 0.5 each, so it counts once, as every other source).
    """

    key: str
    family: str
    form: str
    re_range: tuple[float, float]
    pr_range: tuple[float, float]
    source: str
    nusselt: Callable[..., float]
    ed_range: tuple[float, float] | None = None
    fitted_on: str = "smooth-wall measurements and boundary-layer theory"
    share: float = 1.0

    @property
    def rough(self) -> bool:
        return self.ed_range is not None

    def __call__(self, re: np.ndarray, pr: np.ndarray, ed: float | None = None) -> np.ndarray:
        if self.rough:
            if ed is None:
                raise ValueError(f"{self.key}: a rough-wall correlation needs e/D")
            return np.array(
                [self.nusselt(float(r), float(p), float(ed)) for r, p in zip(np.ravel(re), np.ravel(pr))]
            )
        return np.array([self.nusselt(float(r), float(p)) for r, p in zip(np.ravel(re), np.ravel(pr))])


INCROPERA = "Incropera, DeWitt, Bergman & Lavine, Fundamentals of Heat and Mass Transfer, 6th ed."
