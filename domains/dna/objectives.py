"""DNA pre-training objectives: masked modelling (default) and causal, from :mod:`sciPT.objectives`.

For overlapping k-mers the masked objective masks spans of ``k`` tokens: a lone masked k-mer is
spelled out by its neighbours, which would make the task trivial.
"""

from __future__ import annotations

from sciPT.objectives import MaskedConfig
from sciPT.sequence_config import ObjectiveConfig, TokenizerConfig


def masked_objective(tokenizer: TokenizerConfig, mask_ratio: float = 0.15) -> ObjectiveConfig:
    span = tokenizer.k if tokenizer.kind == "kmer" else 1
    return ObjectiveConfig(kind="masked", masked=MaskedConfig(mask_ratio=mask_ratio, span=span))
