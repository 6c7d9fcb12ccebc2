"""The textbook correlations surrogates are pre-trained on: simple, well-understood systems.

Four families, each a list of :class:`~.base.Correlation` with its form, validity range and source,
in one module per kind of wall:

- :mod:`.smooth`: ``flat-plate`` (external flow along a plate, laminar and turbulent) and
  ``smooth-pipe`` (fully developed turbulent flow in a smooth tube);
- :mod:`.rough`: ``rough-pipe`` (the same in a tube with distributed wall roughness ``e/D``,
  sampled at the fixed values of :data:`ROUGHNESS_GRID`);
- :mod:`.bluff`: ``bluff-body`` (separated flows: cylinders, a sphere, tube banks in cross-flow).

This module assembles them into :data:`CORRELATIONS`, in that order, and picks systems by key or
family (:func:`select`).

**Contamination rule (laws).** Correlations *fitted on ribbed-duct measurements* (rib turbulators
in square or rectangular channels, repeated-rib tubes) are never part of the library: a prior
learnt from them would leak into any evaluation on ribbed channels, exactly as a test sequence
must not be in a pre-training corpus. :data:`EXCLUDED` lists the known ones with the reason, every
correlation states what it was fitted on (``fitted_on``), and :func:`check_library` refuses a
library that breaks the rule (it runs at import).
"""

from __future__ import annotations

import re

from .base import Correlation
from .bluff import BLUFF
from .rough import ROUGH
from .smooth import SMOOTH

CORRELATIONS: tuple[Correlation, ...] = SMOOTH + ROUGH + BLUFF

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
    "nunner-rough": "Nunner, VDI-Forschungsheft B22 (1956): fitted on tubes roughened by inserted "
    "rings, repeated-rib roughness, the ribbed-channel mechanism (ht.conv_internal.turbulent_Nunner)",
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

    if not systems:  # a prior over no system failed in NumPy (an einsum over nothing)
        raise ConfigError(
            "systems: given empty; expected one or more correlation keys or families "
            f"({', '.join(['all', 'smooth', *FAMILIES])})"
        )
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
