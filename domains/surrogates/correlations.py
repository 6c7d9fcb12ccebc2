"""The textbook correlations surrogates are pre-trained on: simple, well-understood systems.

Four families, each a list of :class:`Correlation` with its form, validity range and source
(``data_recipes/heat_transfer/correlations.json`` lists the smooth forms):

- ``flat-plate``: external flow along an isothermal or uniformly heated plate, laminar
  (``Nu ~ Re^1/2 Pr^1/3``) and turbulent (``Nu ~ Re^4/5 Pr^1/3``), local and averaged, plus the
  two averaged forms that are not pure power laws (Schlichting; mixed laminar-turbulent).
- ``smooth-pipe``: fully developed turbulent flow in a smooth tube: Dittus-Boelter (heating and
  cooling), Colburn, Sieder-Tate, Gnielinski, Petukhov and Gnielinski's simplified form.
- ``rough-pipe``: fully developed turbulent flow in a tube with sand-grain-like (distributed)
  wall roughness ``e/D``: Martinelli, Nunner, Dipprey-Sabersky, Gowen-Smith, Kawase-Ulbrecht,
  Kawase-De, Bhatti-Shah (all ``ht.conv_internal``) and Gnielinski's form with the rough-wall
  friction factor, each with its Darcy friction factor from ``fluids`` (the exact Colebrook
  solution, ``fluids.friction.friction_factor``; Haaland's explicit form for Bhatti-Shah, as in
  their handbook chapter). A rough correlation is a function of ``(Re, Pr, e/D)``; pre-training
  samples it at fixed ``e/D`` values (:data:`ROUGHNESS_GRID`, inside its range), one system per
  value, as a channel of fixed geometry is calibrated.
- ``bluff-body``: separated flows, where the boundary layer leaves the wall and the heat transfer
  is set by separation, a recirculating wake and reattachment rather than by an attached wall layer
  (so ``Nu ~ Re^0.5-0.7``, shallower than any attached turbulent layer): single cylinders in cross-
  flow (Churchill-Bernstein, Zukauskas, Whitaker, Sanitjai-Goldstein, Perkins-Leppert;
  ``ht.conv_external``), a sphere (Whitaker, written out) and deep tube banks in cross-flow
  (Zukauskas, Grimison, ESDU 73031; ``ht.conv_tube_bank``, 20 rows, each at one in-line and one
  staggered arrangement that share the correlation's weight: :data:`TUBE_BANKS`). Re is based on
  the body's diameter. Every form is sampled from ``Re = 1e3`` (or the source's lower limit if
  higher) to the source's upper limit: the subcritical range with a separated, turbulent wake, as
  the pipes are sampled in turbulent flow only (and ``ht``'s in-line Zukauskas bank carries a typo
  below ``Re = 1e3``, an exponent of 0.05 for 0.5). None of them has a geometric ratio in the law:
  a tube bank's pitches are fixed per system, as a rough tube's ``e/D`` is.

**Contamination rule (laws).** Correlations *fitted on ribbed-duct measurements* (rib turbulators
in square or rectangular channels, repeated-rib tubes) are never part of the library: a prior
learnt from them would leak into any evaluation on ribbed channels, exactly as a test sequence
must not be in a pre-training corpus. :data:`EXCLUDED` lists the known ones with the reason, every
correlation states what it was fitted on (``fitted_on``), and :func:`check_library` refuses a
library that breaks the rule (it runs at import).

Where the ChEDL library ``ht`` implements a correlation it is used as is (and ``fluids`` gives the
smooth-pipe Darcy friction factor, the exact Colebrook solution at zero roughness, that Gnielinski's
form needs); the few forms ``ht`` lacks (local flat-plate values, the plain ``0.037 Re^0.8`` average,
Petukhov with his own friction law) are written out below with their sources.

Reynolds numbers are based on the plate length (flat plate) or the hydraulic diameter (pipes);
properties at the film or bulk temperature as each source says. All numbers are dimensionless.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from fluids.friction import Haaland, friction_factor
from ht import conv_external, conv_internal, conv_tube_bank


@dataclass(frozen=True)
class Correlation:
    """One textbook correlation ``Nu = f(Re, Pr)`` over its validity range.

    Attributes:
        key: identifier used in configs (``"dittus-boelter-heating"``).
        family: ``"flat-plate"`` or ``"smooth-pipe"``.
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


def _power_law(c: float, a: float, b: float) -> Callable[[float, float], float]:
    return lambda re, pr: c * re**a * pr**b


def _petukhov(re: float, pr: float) -> float:
    f = (0.790 * np.log(re) - 1.64) ** -2
    return (f / 8) * re * pr / (1.07 + 12.7 * np.sqrt(f / 8) * (pr ** (2 / 3) - 1))


INCROPERA = "Incropera, DeWitt, Bergman & Lavine, Fundamentals of Heat and Mass Transfer, 6th ed."
_FP_LAM = ((1e3, 5e5), (0.6, 50.0))
_FP_TURB = ((5e5, 1e8), (0.6, 60.0))

CORRELATIONS: tuple[Correlation, ...] = (
    Correlation(
        "laminar-average",
        "flat-plate",
        "Nu_L = 0.664 Re^0.5 Pr^(1/3)",
        *_FP_LAM,
        f"{INCROPERA}, ch. 7; ht.conv_external.Nu_horizontal_plate_laminar_Baehr",
        conv_external.Nu_horizontal_plate_laminar_Baehr,
    ),
    Correlation(
        "laminar-local",
        "flat-plate",
        "Nu_x = 0.332 Re^0.5 Pr^(1/3)",
        *_FP_LAM,
        f"Pohlhausen (1921); {INCROPERA}, ch. 7",
        _power_law(0.332, 0.5, 1 / 3),
    ),
    Correlation(
        "laminar-local-uhf",
        "flat-plate",
        "Nu_x = 0.453 Re^0.5 Pr^(1/3)",
        *_FP_LAM,
        f"{INCROPERA}, ch. 7 (uniform heat flux)",
        _power_law(0.453, 0.5, 1 / 3),
    ),
    Correlation(
        "turbulent-average",
        "flat-plate",
        "Nu_L = 0.037 Re^0.8 Pr^(1/3)",
        *_FP_TURB,
        f"{INCROPERA}, ch. 7 (turbulent from the leading edge)",
        _power_law(0.037, 0.8, 1 / 3),
    ),
    Correlation(
        "turbulent-local",
        "flat-plate",
        "Nu_x = 0.0296 Re^0.8 Pr^(1/3)",
        *_FP_TURB,
        f"Colburn analogy; {INCROPERA}, ch. 7",
        _power_law(0.0296, 0.8, 1 / 3),
    ),
    Correlation(
        "turbulent-local-uhf",
        "flat-plate",
        "Nu_x = 0.0308 Re^0.8 Pr^(1/3)",
        *_FP_TURB,
        f"{INCROPERA}, ch. 7 (uniform heat flux)",
        _power_law(0.0308, 0.8, 1 / 3),
    ),
    Correlation(
        "turbulent-schlichting",
        "flat-plate",
        "Nu_L = 0.037 Re^0.8 Pr / (1 + 2.443 Re^-0.1 (Pr^(2/3) - 1))",
        *_FP_TURB,
        "Schlichting, Boundary-Layer Theory; ht.conv_external.Nu_horizontal_plate_turbulent_Schlichting",
        conv_external.Nu_horizontal_plate_turbulent_Schlichting,
    ),
    Correlation(
        "mixed-average",
        "flat-plate",
        "Nu_L = (0.037 Re^0.8 - 871) Pr^(1/3)",
        *_FP_TURB,
        f"{INCROPERA}, ch. 7 (transition at Re_x,c = 5e5)",
        lambda re, pr: (0.037 * re**0.8 - 871) * pr ** (1 / 3),
    ),
    Correlation(
        "dittus-boelter-heating",
        "smooth-pipe",
        "Nu = 0.023 Re^0.8 Pr^0.4",
        (1e4, 1e6),
        (0.6, 160.0),
        "Dittus & Boelter (1930), IJCHMT 12:3 (1985) reprint; ht.conv_internal.turbulent_Dittus_Boelter",
        lambda re, pr: conv_internal.turbulent_Dittus_Boelter(re, pr, heating=True),
    ),
    Correlation(
        "dittus-boelter-cooling",
        "smooth-pipe",
        "Nu = 0.023 Re^0.8 Pr^0.3",
        (1e4, 1e6),
        (0.6, 160.0),
        "Dittus & Boelter (1930); ht.conv_internal.turbulent_Dittus_Boelter",
        lambda re, pr: conv_internal.turbulent_Dittus_Boelter(re, pr, heating=False),
    ),
    Correlation(
        "colburn",
        "smooth-pipe",
        "Nu = 0.023 Re^0.8 Pr^(1/3)",
        (1e4, 1e5),
        (0.5, 3.0),
        "Colburn (1933); ht.conv_internal.turbulent_Colburn",
        conv_internal.turbulent_Colburn,
    ),
    Correlation(
        "sieder-tate",
        "smooth-pipe",
        "Nu = 0.027 Re^0.8 Pr^(1/3) (mu/mu_s = 1)",
        (1e4, 1e6),
        (0.7, 16700.0),
        "Sieder & Tate (1936); ht.conv_internal.turbulent_Sieder_Tate",
        conv_internal.turbulent_Sieder_Tate,
    ),
    Correlation(
        "gnielinski",
        "smooth-pipe",
        "Nu = (f/8)(Re-1000)Pr / (1 + 12.7 (f/8)^0.5 (Pr^(2/3)-1)), f = Colebrook(Re, 0)",
        (3e3, 5e6),
        (0.5, 2000.0),
        "Gnielinski, Int. Chem. Eng. 16:359 (1976); ht.conv_internal.turbulent_Gnielinski "
        "with fluids.friction.friction_factor(Re, eD=0)",
        lambda re, pr: conv_internal.turbulent_Gnielinski(re, pr, friction_factor(re, eD=0.0)),
    ),
    Correlation(
        "petukhov",
        "smooth-pipe",
        "Nu = (f/8) Re Pr / (1.07 + 12.7 (f/8)^0.5 (Pr^(2/3)-1)), f = (0.790 ln Re - 1.64)^-2",
        (1e4, 5e6),
        (0.5, 2000.0),
        "Petukhov, Adv. Heat Transfer 6:503 (1970); friction law as in " + INCROPERA + ", ch. 8",
        _petukhov,
    ),
    Correlation(
        "gnielinski-smooth",
        "smooth-pipe",
        "Nu = 0.0214 (Re^0.8 - 100) Pr^0.4",
        (1e4, 5e6),
        (0.5, 1.5),
        "Gnielinski (1976), simplified; ht.conv_internal.turbulent_Gnielinski_smooth_1",
        conv_internal.turbulent_Gnielinski_smooth_1,
    ),
)


def _colebrook(re: float, ed: float) -> float:
    return friction_factor(re, eD=ed)


ROHSENOW = "as given in Rohsenow, Hartnett & Cho, Handbook of Heat Transfer, 3rd ed. (1998)"
ROUGH_FITTED_ON = "sand-grain / distributed roughness in round tubes"
_SEE = "; friction factor fluids.friction.friction_factor (exact Colebrook)"

ROUGH: tuple[Correlation, ...] = (
    Correlation(
        "martinelli-rough",
        "rough-pipe",
        "Nu = Re Pr (f/8)^0.5 / (5 [Pr + ln(1 + 5 Pr) + 0.5 ln(Re (f/8)^0.5 / 60)])",
        (1e4, 1e6),
        (0.7, 10.0),
        f"Martinelli, Trans. ASME 69:947 (1947), {ROHSENOW}; ht.conv_internal.turbulent_Martinelli"
        + _SEE
        + " (no range in the source: sampled over the ranges given here)",
        lambda re, pr, ed: conv_internal.turbulent_Martinelli(re, pr, _colebrook(re, ed)),
        (1e-3, 0.05),
        "analogy (Reynolds-Martinelli), any wall through f",
    ),
    Correlation(
        "nunner-rough",
        "rough-pipe",
        "Nu = Re Pr (f/8) / (1 + 1.5 Re^-1/8 Pr^-1/6 (Pr f/f_s - 1))",
        (1e4, 1e6),
        (0.6, 1.0),
        f"Nunner, VDI-Forschungsheft 445 (1956), {ROHSENOW}; ht.conv_internal.turbulent_Nunner" + _SEE,
        lambda re, pr, ed: conv_internal.turbulent_Nunner(re, pr, _colebrook(re, ed), _colebrook(re, 0.0)),
        (1e-3, 0.05),
        ROUGH_FITTED_ON + " (air)",
    ),
    Correlation(
        "dipprey-sabersky",
        "rough-pipe",
        "Nu = Re Pr (f/8) / (1 + (f/8)^0.5 (5.19 Re_e^0.2 Pr^0.44 - 8.48))",
        (1.4e4, 5e5),
        (1.2, 5.94),
        "Dipprey & Sabersky, IJHMT 6:329 (1963); ht.conv_internal.turbulent_Dipprey_Sabersky" + _SEE,
        lambda re, pr, ed: conv_internal.turbulent_Dipprey_Sabersky(re, pr, _colebrook(re, ed), ed),
        (0.0024, 0.049),
        ROUGH_FITTED_ON + " (close-packed granular roughness)",
    ),
    Correlation(
        "gowen-smith",
        "rough-pipe",
        "Nu = Re Pr (f/8)^0.5 / (4.5 + [0.155 (Re (f/8)^0.5)^0.54 + (8/f)^0.5] Pr^0.5)",
        (1e4, 5e4),
        (0.7, 14.3),
        "Gowen & Smith, IJHMT 11:1657 (1968); ht.conv_internal.turbulent_Gowen_Smith" + _SEE,
        lambda re, pr, ed: conv_internal.turbulent_Gowen_Smith(re, pr, _colebrook(re, ed)),
        (0.0021, 0.095),
        ROUGH_FITTED_ON,
    ),
    Correlation(
        "kawase-ulbrecht",
        "rough-pipe",
        "Nu = 0.0523 Re Pr^0.5 (f/4)^0.5",
        (1e4, 1e6),
        (0.7, 100.0),
        "Kawase & Ulbrecht, Chem. Eng. Sci. 37:1039 (1982); ht.conv_internal.turbulent_Kawase_Ulbrecht"
        + _SEE
        + " (no limits in the source: sampled over the ranges given here)",
        lambda re, pr, ed: conv_internal.turbulent_Kawase_Ulbrecht(re, pr, _colebrook(re, ed)),
        (1e-3, 0.05),
        "surface-renewal model, any wall through f",
    ),
    Correlation(
        "kawase-de",
        "rough-pipe",
        "Nu = 0.0471 Re Pr^0.5 (f/4)^0.5 (1.11 + 0.44 Pr^-1/3 - 0.7 Pr^-1/6)",
        (5e3, 5e5),
        (5.1, 390.0),
        "Kawase & De, IJHMT 27:140 (1984); ht.conv_internal.turbulent_Kawase_De" + _SEE,
        lambda re, pr, ed: conv_internal.turbulent_Kawase_De(re, pr, _colebrook(re, ed)),
        (0.0024, 0.165),
        ROUGH_FITTED_ON + " (liquids)",
    ),
    Correlation(
        "bhatti-shah",
        "rough-pipe",
        "Nu = (f/8) Re Pr / (1 + (f/8)^0.5 (4.5 Re_e^0.2 Pr^0.5 - 8.48))",
        (1e4, 1e6),
        (0.5, 10.0),
        "Bhatti & Shah, Handbook of Single-Phase Convective Heat Transfer, ch. 4 (1987); "
        "ht.conv_internal.turbulent_Bhatti_Shah; friction factor fluids.friction.Haaland",
        lambda re, pr, ed: conv_internal.turbulent_Bhatti_Shah(re, pr, Haaland(re, eD=ed), ed),
        (0.002, 0.05),
        ROUGH_FITTED_ON,
    ),
    Correlation(
        "gnielinski-rough",
        "rough-pipe",
        "Nu = (f/8)(Re-1000)Pr / (1 + 12.7 (f/8)^0.5 (Pr^(2/3)-1)), f = Colebrook(Re, e/D)",
        (1e4, 1e6),
        (0.5, 100.0),
        "Gnielinski (1976) with the rough-wall friction factor, " + INCROPERA + ", ch. 8; "
        "ht.conv_internal.turbulent_Gnielinski" + _SEE,
        lambda re, pr, ed: conv_internal.turbulent_Gnielinski(re, pr, _colebrook(re, ed)),
        (1e-3, 0.05),
        "smooth-tube measurements, extended to rough walls through f",
    ),
)


def _whitaker_sphere(re: float, pr: float) -> float:
    return 2.0 + (0.4 * re**0.5 + 0.06 * re ** (2 / 3)) * pr**0.4


# (label, pitch along the flow / D, pitch across the flow / D): ht tells the arrangements apart by
# the pitches (equal pitches: in line), so the staggered bank has unequal ones
TUBE_BANKS = (("inline", 2.0, 2.0), ("staggered", 1.5, 2.0))
TUBE_ROWS = 20  # deep bank: no row correction in any of the three sources
CYLINDERS = "single circular cylinders in cross-flow"
BANK_FITTED_ON = "tube banks in cross-flow (gases and liquids)"
_BLUFF = "; sampled from Re = 1e3 (separated, turbulent wake)"


def _bank(form: str, pitch_l: float, pitch_t: float) -> Callable[[float, float], float]:
    if form == "zukauskas":
        return lambda re, pr: conv_tube_bank.Nu_Zukauskas_Bejan(re, pr, TUBE_ROWS, pitch_l, pitch_t)
    if form == "grimison":
        return lambda re, pr: conv_tube_bank.Nu_Grimison_tube_bank(re, pr, 1.0, TUBE_ROWS, pitch_l, pitch_t)
    return lambda re, pr: conv_tube_bank.Nu_ESDU_73031(re, pr, TUBE_ROWS, pitch_l, pitch_t)


_BANK_SOURCES = (
    (
        "zukauskas",
        "Nu = C Re^m Pr^0.36 (S_T/S_L)^p, C, m, p by Re range (in line / staggered)",
        (1e3, 2e6),
        (0.7, 500.0),
        "Zukauskas, Adv. Heat Transfer 8:93 (1972), fit of Bejan & Kraus, Heat Transfer Handbook "
        "(2003); range as in " + INCROPERA + ", ch. 7; ht.conv_tube_bank.Nu_Zukauskas_Bejan",
    ),
    (
        "grimison",
        "Nu = 1.13 C1 Re^m Pr^(1/3), C1, m tabulated by pitches",
        (2e3, 4e4),
        (0.7, 100.0),
        "Grimison, Trans. ASME 59:583 (1937), Pr^(1/3) extension and range as in "
        + INCROPERA
        + ", ch. 7 (Pr >= 0.7, no upper limit: sampled up to 100); ht.conv_tube_bank.Nu_Grimison_tube_bank",
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
        "Nu = C Re^m Pr^0.37, C, m by Re range (0.26, 0.6 to 2e5; 0.076, 0.7 above)",
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
        "Nu = (0.4 Re^0.5 + 0.06 Re^(2/3)) Pr^0.4",
        (1e3, 1e5),
        (0.67, 300.0),
        "Whitaker, AIChE J. 18:361 (1972), Re 1-1e5; ht.conv_external.Nu_cylinder_Whitaker" + _BLUFF,
        conv_external.Nu_cylinder_Whitaker,
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
            _bank(key, sl, st),
            fitted_on=BANK_FITTED_ON,
            share=1.0 / len(TUBE_BANKS),
        )
        for key, form, re_range, pr_range, source in _BANK_SOURCES
        for arr, sl, st in TUBE_BANKS
    ),
)
CORRELATIONS = CORRELATIONS + ROUGH + BLUFF

FAMILIES = ("flat-plate", "smooth-pipe", "rough-pipe", "bluff-body")
SMOOTH_FAMILIES = ("flat-plate", "smooth-pipe")  # "smooth": the library before rough walls
PR_SAMPLING_CAP = 100.0
ROUGHNESS_GRID = (0.002, 0.005, 0.01, 0.02, 0.05)  # e/D values a rough correlation is sampled at

# Correlations kept out of the library, with the reason (the contamination rule in the docstring).
EXCLUDED: dict[str, str] = {
    "han-1988-ribbed-channel": "Han, J. Heat Transfer 110:321 (1988): fitted on ribbed rectangular "
    "and square channels (rib turbulators on two opposite walls)",
    "han-park-lei-1985": "Han, Park & Lei, J. Eng. Gas Turbines Power 107:628 (1985): fitted on "
    "ribbed square ducts",
    "webb-eckert-goldstein-1971": "Webb, Eckert & Goldstein, IJHMT 14:601 (1971): fitted on "
    "repeated-rib roughened tubes, the ribbed-channel mechanism",
    "taslim-spring-1987": "Taslim & Spring, AIAA-87-2009 (1987): ribbed-channel measurements, the "
    "project's benchmark",
}
RIBBED = re.compile(r"\brib|turbulator", re.I)  # "rib", "ribbed", "ribs", not "distributed"


def check_library(library: tuple[Correlation, ...] = CORRELATIONS) -> None:
    """Refuse a library holding a correlation fitted on ribbed-duct measurements."""
    for c in library:
        if c.key in EXCLUDED:
            raise ValueError(f"{c.key}: excluded from the pre-training library: {EXCLUDED[c.key]}")
        if RIBBED.search(c.fitted_on):
            raise ValueError(
                f"{c.key}: fitted on '{c.fitted_on}': correlations fitted on ribbed ducts would "
                "contaminate any ribbed-channel evaluation"
            )


check_library()


def select(systems: list[str] | tuple[str, ...]) -> list[Correlation]:
    """Correlations named by keys or families (``"all"``, ``"flat-plate"``, ``"smooth-pipe"``,
    ``"rough-pipe"``, ``"bluff-body"``); ``"smooth"`` is the flat-plate and smooth-pipe families
    (the library before rough walls and bluff bodies)."""
    from sciPT.errors import ConfigError

    chosen: list[Correlation] = []
    for name in systems:
        if name in EXCLUDED:
            raise ConfigError(
                f"systems: '{name}' is excluded from the pre-training library: {EXCLUDED[name]}"
            )
        if name == "all":
            found = list(CORRELATIONS)
        elif name == "smooth":
            found = [c for c in CORRELATIONS if c.family in SMOOTH_FAMILIES]
        else:
            found = [c for c in CORRELATIONS if name in (c.key, c.family)]
        if not found:
            known = ", ".join(["all", "smooth", *FAMILIES, *(c.key for c in CORRELATIONS)])
            raise ConfigError(f"systems: unknown system '{name}' (expected one of: {known})")
        chosen += [c for c in found if c not in chosen]
    return chosen
