"""Whether a column is a ratio of its own, and not Re, Pr or Nu in another form.

A law ``Nu = C Re^a Pr^b r_1^c_1 ...`` fits one exponent per feature; a ratio whose log is (nearly)
a linear combination of ``1, log Re, log Pr`` and the ratios before it (``Pe = Re Pr``) trades its
exponent off against theirs, and a column computed from Nu (``h = Nu k / D``) lets the law fit Nu
with itself. :func:`check_independent` refuses the first, :func:`follows_nu` finds the second (the
reader keeps such a column as a label, :func:`.data.read_points`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from sciPT.errors import DataError

if TYPE_CHECKING:
    from .data import Points

# a ratio whose log the other features explain to within this fraction of its spread is refused:
# values read from a CSV carry their written digits only (5 significant digits: a relative error
# up to 5e-5, so Pe = Re Pr typed to 5 digits leaves a residual of 1e-5 to 1e-4 of the spread of
# log Pe over a decade of Re or less), while a ratio that varies on its own leaves a residual of
# order one; 1e-3 catches products typed to 4-5 digits with room to spare and refuses nothing
# whose exponent the points could pin down (its standard error would be 1000 times that of an
# independent ratio)
COLLINEAR_TOL = 1e-3
# a column computed from Nu (h = Nu k / D with k from a property table, a Stanton number) differs
# from Nu by a factor that Re and Pr explain: beyond them, its log and log Nu part by the digits it
# was typed to (3 significant digits: an rms of 0.1-0.25 %, 7 or 12 points; 2 digits: about 1 %,
# which passes). A ratio measured on its own parts from Nu by the scatter of the measurements and
# by (1 - c) times its own spread, c its exponent: simulated over 12 points (ratio over a factor
# 2.7, 4,000 series each), c = 0.95 comes under FOLLOWS_NU_RMS in none at 1 % scatter, c = 1 in
# 1 % at 1 % scatter and in 0.03 % at 2 %; only near-exact points of an exponent of 1 are taken
FOLLOWS_NU_RMS = 0.005
FOLLOWS_NU_MIN_POINTS = 7


def residual(before: np.ndarray, target: np.ndarray) -> np.ndarray:
    """What the columns ``before`` leave of ``target``: its least-squares residual on them."""
    return target - before @ np.linalg.lstsq(before, target, rcond=None)[0]


def unexplained_fraction(before: np.ndarray, target: np.ndarray) -> float | None:
    """The norm of :func:`residual` as a fraction of ``target``'s spread about its mean; ``None``
    where it does not vary."""
    spread = np.linalg.norm(target - target.mean())
    if spread == 0:
        return None
    return float(np.linalg.norm(residual(before, target)) / spread)


def follows_nu(values: dict[str, np.ndarray], ratio: np.ndarray) -> bool:
    """Whether a column is Nu in another form: the log of its ratio to Nu, once rid of what ``1,
    log Re, log Pr`` explain, has an rms under :data:`FOLLOWS_NU_RMS` (over ``n - 3`` degrees of
    freedom). A heat-transfer coefficient ``h = Nu k / D`` read as a ratio let the law fit Nu with
    ``h^0.89`` (its held-out error 0), and predictions needed h, the unknown."""
    n = len(ratio)
    if n < FOLLOWS_NU_MIN_POINTS:
        return False
    base = np.column_stack([np.ones(n), np.log(values["Re"]), np.log(values["Pr"])])
    if (unexplained_fraction(base, np.log(ratio)) or 0.0) <= COLLINEAR_TOL:
        return False  # a product of powers of Re and Pr (Pe = Re Pr): check_independent names it
    left = residual(base, np.log(ratio) - np.log(values["Nu"]))
    return bool(np.sqrt(left @ left / (n - 3)) < FOLLOWS_NU_RMS)


def check_independent(points: Points, groups: list[str] | tuple[str, ...]) -> None:
    """Refuse a ratio whose log is (nearly) a linear combination of ``1, log Re, log Pr`` and the
    ratios before it (:data:`COLLINEAR_TOL`): its exponent and theirs trade off freely, so the fit
    turned ``Pe = Re Pr`` typed to 5 digits into ``Re^-1150 Pr^-1150 Pe^1150`` (``groups``: the
    ratios that vary, in the law's order)."""
    if not groups:
        return
    X = points.features(groups)
    names = ["Re", "Pr", *groups]
    for j, g in enumerate(groups, start=3):
        target, before = X[:, j], X[:, :j]
        if np.linalg.matrix_rank(before) >= len(points):
            # too few points: the features before it fit any column exactly, so this says nothing
            # about the ratio (scratch holds its exponent, the prior gives it: a few-point calibration)
            continue
        left = unexplained_fraction(before, target)
        if left is not None and left <= COLLINEAR_TOL:
            others = [nm for nm, col in zip(names, before[:, 1:].T) if np.ptp(col) > 0]
            listed = ", ".join(others[:-1]) + " and " + others[-1] if len(others) > 1 else others[0]
            raise DataError(
                f"{points.source}: column '{g}' is (nearly) a constant times a product of powers of "
                f"{listed} over the {len(points)} points (what they leave of its log is "
                f"{left:.1g} of its spread), so the law cannot tell its exponent from "
                "theirs; expected a geometric ratio that varies on its own (leave it out: name the "
                "ratios with --groups, or --groups none for none)"
            )
