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


class KmerLogisticRegression:
    """The classical baseline: counts of every k-mer for k in ``ks`` (A, C, G, T only), standardised,
    then an L2-regularised logistic regression (scikit-learn, ``C`` = inverse strength).

    Position-free by construction: it sees composition, not where a motif sits.
    """

    def __init__(self, ks=(1, 2, 3, 4, 5), C: float = 0.01, seed: int = 0):
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        self.ks = tuple(ks)
        self.pipeline = make_pipeline(
            StandardScaler(), LogisticRegression(C=C, max_iter=5000, random_state=seed)
        )

    def features(self, codes: list[np.ndarray]) -> np.ndarray:
        blocks = []
        for k in self.ks:
            counts = np.zeros((len(codes), 4**k), dtype=np.float32)
            powers = 4 ** np.arange(k - 1, -1, -1)
            for row, c in enumerate(codes):
                if len(c) < k:
                    continue
                windows = np.lib.stride_tricks.sliding_window_view(c, k)
                ok = (windows < 4).all(1)
                np.add.at(counts[row], (windows[ok].astype(np.int64) * powers).sum(1), 1)
            blocks.append(counts)
        return np.hstack(blocks)

    def fit(self, codes: list[np.ndarray], labels: np.ndarray) -> KmerLogisticRegression:
        self.pipeline.fit(self.features(codes), labels)
        return self

    def predict_proba(self, codes: list[np.ndarray]) -> np.ndarray:
        return self.pipeline.predict_proba(self.features(codes))[:, 1]
