"""Pre-training objectives: each an ``nn.Module`` with ``forward(backbone, batch, generator=None)``
returning ``(loss, metrics)``; each owns its pre-training head, which is not exported."""

from .causal import CausalConfig, CausalLM
from .masked import LMHead, MaskedConfig, MaskedLM

__all__ = ["CausalConfig", "CausalLM", "LMHead", "MaskedConfig", "MaskedLM"]
