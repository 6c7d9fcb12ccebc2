"""The smooth-wall correlations: the families ``flat-plate`` and ``smooth-pipe`` (the ``"smooth"``
library, before rough walls and bluff bodies; ``data_recipes/heat_transfer/correlations.json`` lists
these forms).

- ``flat-plate``: external flow along an isothermal or uniformly heated plate, laminar
  (``Nu ~ Re^1/2 Pr^1/3``) and turbulent (``Nu ~ Re^4/5 Pr^1/3``), local and averaged, plus the
  two averaged forms that are not pure power laws (Schlichting; mixed laminar-turbulent).
- ``smooth-pipe``: fully developed turbulent flow in a smooth tube: Dittus-Boelter (heating and
  cooling), Colburn, Sieder-Tate, Gnielinski, Petukhov and Gnielinski's simplified form.

Where the ChEDL library ``ht`` implements a correlation it is used as is (and ``fluids`` gives the
smooth-pipe Darcy friction factor, the exact Colebrook solution at zero roughness, that Gnielinski's
form needs); the few forms ``ht`` lacks (local flat-plate values, the plain ``0.037 Re^0.8`` average,
Petukhov with his own friction law) are written out below with their sources.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from fluids.friction import friction_factor
from ht import conv_external, conv_internal

from .base import INCROPERA, Correlation


def _power_law(c: float, a: float, b: float) -> Callable[[float, float], float]:
    return lambda re, pr: c * re**a * pr**b


def _petukhov(re: float, pr: float) -> float:
    f = (0.790 * np.log(re) - 1.64) ** -2
    return (f / 8) * re * pr / (1.07 + 12.7 * np.sqrt(f / 8) * (pr ** (2 / 3) - 1))


_FP_LAM = ((1e3, 5e5), (0.6, 50.0))
_FP_TURB = ((5e5, 1e8), (0.6, 60.0))

SMOOTH: tuple[Correlation, ...] = (
    Correlation(
        "laminar-average",
        "flat-plate",
        "Nu_L = 0.664 Re^0.5 Pr^(1/3) (Baehr: 0.678 above Pr = 10)",
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
        "Dittus & Boelter (1930), IJCHMT 12:3 (1985) reprint, with the revised coefficient 0.023 "
        "(the original's: 0.0243 heating, 0.0265 cooling); ht.conv_internal.turbulent_Dittus_Boelter",
        lambda re, pr: conv_internal.turbulent_Dittus_Boelter(re, pr, heating=True),
    ),
    Correlation(
        "dittus-boelter-cooling",
        "smooth-pipe",
        "Nu = 0.023 Re^0.8 Pr^0.3",
        (1e4, 1e6),
        (0.6, 160.0),
        "Dittus & Boelter (1930), with the revised coefficient 0.023; ht.conv_internal.turbulent_Dittus_Boelter",
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
