"""The DNA backbone: the shared pre-norm transformer encoder (:mod:`sciPT.nn.transformer`).

DNA adds one property: a model can be made reverse-complement symmetric by averaging what it
computes on a sequence and on its reverse complement (:func:`strand_symmetric_embed`), so a
prediction does not depend on which strand a sequence was read from.
"""

from __future__ import annotations

from dataclasses import dataclass

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


# the inverse regularisation strengths a cross-validated k-mer regression chooses among
KMER_CS = tuple(10.0**e for e in range(-6, 3))


def kmer_counts(codes: list[np.ndarray], ks=(1, 2, 3, 4, 5), chunk: int = 4096) -> np.ndarray:
    """Counts of every k-mer (A, C, G, T only: a window holding N is skipped) for each k in ``ks``.
    Shapes: ``[N, sum 4^k]``."""
    width = sum(4**k for k in ks)
    out = np.zeros((len(codes), width), dtype=np.float32)
    for start in range(0, len(codes), chunk):
        part = codes[start : start + chunk]
        longest = max((len(c) for c in part), default=0)
        # padded with N: windows reaching into the padding are skipped like any other N
        padded = np.full((len(part), longest), 4, dtype=np.int64)
        for row, c in enumerate(part):
            padded[row, : len(c)] = c
        column = 0
        for k in ks:
            size = 4**k
            if longest >= k:
                windows = np.lib.stride_tricks.sliding_window_view(padded, k, axis=1)
                ok = (windows < 4).all(-1)
                index = windows @ (4 ** np.arange(k - 1, -1, -1))
                flat = (np.arange(len(part))[:, None] * size + index)[ok]
                counts = np.bincount(flat, minlength=len(part) * size).reshape(len(part), size)
                out[start : start + len(part), column : column + size] = counts
            column += size
    return out


@dataclass
class KmerScore:
    """A fitted :class:`KmerLogisticRegression`'s logit as one linear function of the raw k-mer
    counts (the standardisation folded into ``weight`` and ``bias``), so that it exports as one
    vector. Shapes: ``weight`` ``[sum 4^k]``; codes -> logits ``[N]``."""

    weight: np.ndarray
    bias: float
    ks: tuple[int, ...] = (1, 2, 3, 4, 5)

    def __call__(self, codes: list[np.ndarray]) -> np.ndarray:
        return kmer_counts(codes, self.ks).astype(np.float64) @ self.weight + self.bias

    @staticmethod
    def mean(scores: list[KmerScore]) -> KmerScore:
        """The mean logit of several fits: itself one linear function of the counts."""
        return KmerScore(
            np.mean([s.weight for s in scores], axis=0),
            float(np.mean([s.bias for s in scores])),
            scores[0].ks,
        )


class KmerLogisticRegression:
    """The classical baseline: counts of every k-mer for k in ``ks`` (A, C, G, T only), standardised,
    then an L2-regularised logistic regression (scikit-learn, ``C`` = inverse strength; ``None``:
    chosen among :data:`KMER_CS` by 5-fold cross-validated log loss on the training data).

    Position-free by construction: it sees composition, not where a motif sits.
    """

    def __init__(self, ks=(1, 2, 3, 4, 5), C: float | None = 0.01, seed: int = 0):
        from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        self.ks = tuple(ks)
        if C is None:
            regression = LogisticRegressionCV(
                Cs=list(KMER_CS),
                cv=5,
                scoring="neg_log_loss",
                max_iter=5000,
                l1_ratios=(0.0,),
                use_legacy_attributes=False,
                random_state=seed,
            )
        else:
            regression = LogisticRegression(C=C, max_iter=5000, random_state=seed)
        self.pipeline = make_pipeline(StandardScaler(), regression)

    def features(self, codes: list[np.ndarray]) -> np.ndarray:
        return kmer_counts(codes, self.ks)

    def fit(self, codes: list[np.ndarray], labels: np.ndarray) -> KmerLogisticRegression:
        self.pipeline.fit(self.features(codes), labels)
        return self

    def predict_proba(self, codes: list[np.ndarray]) -> np.ndarray:
        return self.pipeline.predict_proba(self.features(codes))[:, 1]

    def score(self) -> KmerScore:
        """The fitted model's logit (:class:`KmerScore`)."""
        scaler, regression = self.pipeline[0], self.pipeline[-1]
        weight = regression.coef_[0].astype(np.float64) / scaler.scale_
        bias = float(regression.intercept_[0] - weight @ scaler.mean_)
        return KmerScore(weight, bias, self.ks)
