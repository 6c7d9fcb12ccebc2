"""The rough-wall correlations: the family ``rough-pipe``.

Fully developed turbulent flow in a tube with sand-grain-like (distributed) wall roughness ``e/D``:
Martinelli, Dipprey-Sabersky, Gowen-Smith, Kawase-Ulbrecht, Kawase-De, Bhatti-Shah (all
``ht.conv_internal``) and Gnielinski's form with the rough-wall friction factor, each with its Darcy
friction factor from ``fluids`` (the exact Colebrook solution, ``fluids.friction.friction_factor``;
Haaland's explicit form for Bhatti-Shah, as in their handbook chapter). A rough correlation is a
function of ``(Re, Pr, e/D)``; pre-training samples it at fixed ``e/D`` values
(:data:`~sciPT.domains.surrogates.correlations.ROUGHNESS_GRID`, inside its range), one system per
value, as a channel of fixed geometry is calibrated.
"""

from __future__ import annotations

from fluids.friction import Haaland, friction_factor
from ht import conv_internal

from .base import INCROPERA, Correlation


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
        + " (no range in the source, which says liquid metals are probably its only applicability: "
        "here the analogy carries the rough-wall friction factor, sampled over the ranges given here)",
        lambda re, pr, ed: conv_internal.turbulent_Martinelli(re, pr, _colebrook(re, ed)),
        (1e-3, 0.05),
        "analogy (Reynolds-Martinelli), any wall through f",
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
