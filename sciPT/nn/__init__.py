"""Neural-network building blocks shared by the domains (no domain knowledge here)."""

from .attention import SelfAttention
from .position import ALiBi, RotaryEmbedding, alibi_slopes
from .transformer import FeedForward, TransformerBlock, TransformerConfig, TransformerEncoder

__all__ = [
    "ALiBi",
    "FeedForward",
    "RotaryEmbedding",
    "SelfAttention",
    "TransformerBlock",
    "TransformerConfig",
    "TransformerEncoder",
    "alibi_slopes",
]
