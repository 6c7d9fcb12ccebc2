"""The protein backbone: the shared pre-norm transformer encoder (:mod:`sciPT.nn.transformer`)."""

from __future__ import annotations

from sciPT.nn import TransformerEncoder

ProteinEncoder = TransformerEncoder
