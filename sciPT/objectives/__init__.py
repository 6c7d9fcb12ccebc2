"""Pre-training objectives: each an ``nn.Module`` with ``forward(backbone, batch, generator=None)``
returning ``(loss, metrics)``; each owns its pre-training head (a masked head is exported beside the backbone, for
:mod:`sciPT.naturalness`; a causal one is not)."""

from .causal import CausalConfig, CausalLM
from .masked import LMHead, MaskedConfig, MaskedLM

__all__ = ["CausalConfig", "CausalLM", "LMHead", "MaskedConfig", "MaskedLM"]
