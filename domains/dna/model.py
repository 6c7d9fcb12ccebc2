"""The DNA backbone: the shared pre-norm transformer encoder (:mod:`sciPT.nn.transformer`).

DNA adds one property: a model can be made reverse-complement symmetric by averaging what it
computes on a sequence and on its reverse complement (:func:`strand_symmetric_embed`), so a
prediction does not depend on which strand a sequence was read from.
"""

from __future__ import annotations

import numpy as np
import torch

from sciPT.nn import TransformerEncoder
from sciPT.tokenizers import SequenceTokenizer

from .tokenizer import reverse_complement

DNAEncoder = TransformerEncoder


def strand_symmetric_embed(
    model: TransformerEncoder,
    tokenizer: SequenceTokenizer,
    codes: list[np.ndarray],
    max_tokens: int | None = None,
) -> torch.Tensor:
    """Mean of the embeddings of each sequence and of its reverse complement. Shapes: ``[N, D]``."""
    forward = tokenizer.batch(codes, max_tokens)
    backward = tokenizer.batch([reverse_complement(c) for c in codes], max_tokens)
    return 0.5 * (
        model.embed(forward["input_ids"], forward["attention_mask"])
        + model.embed(backward["input_ids"], backward["attention_mask"])
    )
