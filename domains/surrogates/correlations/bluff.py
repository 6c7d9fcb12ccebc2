"""The separated-flow correlations: the family ``bluff-body``.

Separated flows, where the boundary layer leaves the wall and the heat transfer is set by separation,
a recirculating wake and reattachment rather than by an attached wall layer (so ``Nu ~ Re^0.5-0.7``,
shallower than any attached turbulent layer): single cylinders in cross-flow (Churchill-Bernstein,
Zukauskas, Sanitjai-Goldstein, Perkins-Leppert; ``ht.conv_external``; Whitaker, written out), a
sphere (Whitaker, written out) and deep tube banks in cross-flow (Zukauskas, ESDU 73031;
``ht.conv_tube_bank``; Grimison, written out from his table), 20 rows, each at one in-line and one
staggered arrangement that share the correlation's weight: :data:`TUBE_BANKS`. The two written out
where ``ht`` has them disagree with their sources in ``ht`` 1.2.0 (comments below). Re is based on the body's diameter. Every form is sampled
from ``Re = 1e3`` (or the source's lower limit if higher) to the source's upper limit: the
subcritical range with a separated, turbulent wake, as the pipes are sampled in turbulent flow only
(and ``ht``'s in-line Zukauskas bank carries a typo below ``Re = 1e3``, an exponent of 0.05 for
0.5). None of them has a geometric ratio in the law: a tube bank's pitches are fixed per system, as
a rough tube's ``e/D`` is.
"""

from __future__ import annotations

from collections.abc import Callable

from ht import conv_external, conv_tube_bank

from .base import INCROPERA, Correlation


def _whitaker_cylinder(re: float, pr: float) -> float:
    # written out: ht 1.2.0's Nu_cylinder_Whitaker raises Pr to 0.3, not the source's (and its own
    # docstring's) 0.4, 43 % low at Pr = 300
    return (0.4 * re**0.5 + 0.06 * re ** (2 / 3)) * pr**0.4


def _whitaker_sphere(re: float, pr: float) -> float:
    return 2.0 + _whitaker_cylinder(re, pr)


# Grimison's constants (C1, m) for the pitches of TUBE_BANKS, from his table as printed in
# Incropera, Table 7.5; written out because ht 1.2.0's staggered spline reads the two pitches the
# wrong way round (at S_L/D = 1.5, S_T/D = 2 it returns the entry of S_L/D = 2, S_T/D = 1.5: C1 8 %
# low)
GRIMISON = {"inline": (0.229, 0.632), "staggered": (0.452, 0.568)}


# (label, pitch along the flow / D, pitch across the flow / D): ht tells the arrangements apart by
# the pitches (equal pitches: in line), so the staggered bank has unequal ones
TUBE_BANKS = (("inline", 2.0, 2.0), ("staggered", 1.5, 2.0))
TUBE_ROWS = 20  # deep bank: no row correction in any of the three sources
CYLINDERS = "single circular cylinders in cross-flow"
BANK_FITTED_ON = "tube banks in cross-flow (gases and liquids)"
_BLUFF = "; sampled from Re = 1e3 (separated, turbulent wake)"


def _bank(form: str, arrangement: str, pitch_l: float, pitch_t: float) -> Callable[[float, float], float]:
    if form == "zukauskas":
        return lambda re, pr: conv_tube_bank.Nu_Zukauskas_Bejan(re, pr, TUBE_ROWS, pitch_l, pitch_t)
    if form == "grimison":
        c1, m = GRIMISON[arrangement]
        return lambda re, pr: 1.13 * c1 * re**m * pr ** (1 / 3)
    return lambda re, pr: conv_tube_bank.Nu_ESDU_73031(re, pr, TUBE_ROWS, pitch_l, pitch_t)


_BANK_SOURCES = (
    (
        "zukauskas",
        "Nu = C Re^m Pr^0.36 (S_T/S_L)^p, C, m, p by Re range (in line / staggered)",
        # the fit's own range (Re up to 2e5): above it the code extends its last branch, which
        # Zukauskas's 2e5-2e6 coefficients (Incropera) do not match
        (1e3, 2e5),
        (0.7, 500.0),
        "Zukauskas, Adv. Heat Transfer 8:93 (1972), fit to its graphs in Bejan, Convection Heat "
        "Transfer, 4th ed. (Wiley 2013); ht.conv_tube_bank.Nu_Zukauskas_Bejan",
    ),
    (
        "grimison",
        "Nu = 1.13 C1 Re^m Pr^(1/3), C1, m tabulated by pitches",
        (2e3, 4e4),
        (0.7, 100.0),
        "Grimison, Trans. ASME 59:583 (1937), Pr^(1/3) extension and range as in "
        + INCROPERA
        + ", ch. 7, Table 7.5 (C1, m; Pr >= 0.7, no upper limit: sampled up to 100)",
    ),
    (
        "esdu-73031",
        "Nu = a Re^m Pr^0.34, a, m by Re range (in line / staggered)",
        (1e3, 2e6),
        (0.7, 100.0),
        "ESDU 73031 (1973), Re 10-2e6; ht.conv_tube_bank.Nu_ESDU_73031 (no Pr range in the "
        "source: sampled over the range given here)" + _BLUFF,
    ),
)

BLUFF: tuple[Correlation, ...] = (
    Correlation(
        "churchill-bernstein",
        "bluff-body",
        "Nu = 0.3 + 0.62 Re^0.5 Pr^(1/3) / [1 + (0.4/Pr)^(2/3)]^0.25 [1 + (Re/282000)^(5/8)]^0.8",
        (1e3, 1e6),
        (0.7, 100.0),
        "Churchill & Bernstein, J. Heat Transfer 99:300 (1977), Re Pr > 0.2, " + INCROPERA + ", ch. 7; "
        "ht.conv_external.Nu_cylinder_Churchill_Bernstein (no upper limits in the source: sampled "
        "up to Re = 1e6, Pr = 100)" + _BLUFF,
        conv_external.Nu_cylinder_Churchill_Bernstein,
        fitted_on=CYLINDERS + " (gases and liquids)",
    ),
    Correlation(
        "zukauskas-cylinder",
        "bluff-body",
        "Nu = C Re^m Pr^n, C, m by Re range (0.26, 0.6 to 2e5; 0.076, 0.7 above), n = 0.37 (0.36 above Pr = 10)",
        (1e3, 1e6),
        (0.7, 500.0),
        "Zukauskas, Adv. Heat Transfer 8:93 (1972), Re 1-1e6, " + INCROPERA + ", ch. 7; "
        "ht.conv_external.Nu_cylinder_Zukauskas" + _BLUFF,
        conv_external.Nu_cylinder_Zukauskas,
        fitted_on=CYLINDERS + " (gases and liquids)",
    ),
    Correlation(
        "whitaker-cylinder",
        "bluff-body",
        "Nu = (0.4 Re^0.5 + 0.06 Re^(2/3)) Pr^0.4 (mu/mu_s = 1)",
        (1e3, 1e5),
        (0.67, 300.0),
        "Whitaker, AIChE J. 18:361 (1972), Re 1-1e5 (mu/mu_s = 1)" + _BLUFF,
        _whitaker_cylinder,
        fitted_on=CYLINDERS + " (gases and liquids)",
    ),
    Correlation(
        "sanitjai-goldstein",
        "bluff-body",
        "Nu = 0.446 Re^0.5 Pr^0.35 + 0.528 [(6.5 e^(Re/5000))^-5 + (0.031 Re^0.8)^-5]^(-1/5) Pr^0.42",
        (2e3, 9e4),
        (0.7, 176.0),
        "Sanitjai & Goldstein, IJHMT 47:4795 (2004); ht.conv_external.Nu_cylinder_Sanitjai_Goldstein",
        conv_external.Nu_cylinder_Sanitjai_Goldstein,
        fitted_on=CYLINDERS + " (air, water, ethylene glycol)",
    ),
    Correlation(
        "perkins-leppert",
        "bluff-body",
        "Nu = (0.31 Re^0.5 + 0.11 Re^0.67) Pr^0.4",
        (2e3, 1.2e5),
        (1.0, 7.0),
        "Perkins & Leppert, IJHMT 7:143 (1964); ht.conv_external.Nu_cylinder_Perkins_Leppert_1964",
        conv_external.Nu_cylinder_Perkins_Leppert_1964,
        fitted_on=CYLINDERS + " (water)",
    ),
    Correlation(
        "whitaker-sphere",
        "bluff-body",
        "Nu = 2 + (0.4 Re^0.5 + 0.06 Re^(2/3)) Pr^0.4 (mu/mu_s = 1)",
        (1e3, 7.6e4),
        (0.71, 380.0),
        "Whitaker, AIChE J. 18:361 (1972), Re 3.5-7.6e4, " + INCROPERA + ", ch. 7" + _BLUFF,
        _whitaker_sphere,
        fitted_on="single spheres in a stream (gases and liquids)",
    ),
    *(
        Correlation(
            f"{key}-bank-{arr}",
            "bluff-body",
            f"{form}; {arr}, S_L/D = {sl:g}, S_T/D = {st:g}, {TUBE_ROWS} rows",
            re_range,
            pr_range,
            source,
            _bank(key, arr, sl, st),
            fitted_on=BANK_FITTED_ON,
            share=1.0 / len(TUBE_BANKS),
        )
        for key, form, re_range, pr_range, source in _BANK_SOURCES
        for arr, sl, st in TUBE_BANKS
    ),
)
