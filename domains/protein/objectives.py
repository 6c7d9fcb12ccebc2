"""Protein pre-training objectives: masked modelling (ESM-style, per residue) or causal."""

from __future__ import annotations

from sciPT.objectives import MaskedConfig
from sciPT.sequence_config import ObjectiveConfig


def masked_objective(mask_ratio: float = 0.15) -> ObjectiveConfig:
    return ObjectiveConfig(kind="masked", masked=MaskedConfig(mask_ratio=mask_ratio, span=1))
