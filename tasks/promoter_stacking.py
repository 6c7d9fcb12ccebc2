"""The models stacked onto the promoter classifier's logit (:class:`.promoter_classifier.Classifier`,
its ``stack_kmers`` and ``stack_cnns``): a k-mer logistic regression and the baseline CNN, each
fitted once for the same sequences, labels and seed (:func:`kmer_score`, :func:`cnn_score`).

k-mer stacking. A fine-tuned network weighs each window of positions on its own; a k-mer
count model sees what a sequence is made of, wherever it sits. The k-mer logistic regression of the
baselines (its regularisation chosen by cross-validation on the fit part, the early-stopping split
left out) is stacked onto the classifier's logit (:mod:`sciPT.stacking`), fitted on the
early-stopping split (at least 20 sequences of each class; ``--no-kmer-stack`` turns it off) and
kept only where it improves that split's fit beyond chance (likelihood ratio at least
``kmer_stack_min_ratio``, 3.841). An ensemble's members each stack the k-mer model fitted without
their own early-stopping split; the prediction uses the mean of those k-mer logits. Scratch gets the
same, so the comparison stays like for like; the k-mer regression alone still runs beside as a
baseline.

CNN stacking. The baseline CNN (:mod:`sciPT.domains.dna.cnn`) is stacked the same way on top of
the kept k-mer stack (``cnn_stack``; ``--no-cnn-stack`` turns it off): each member's CNN is fitted
on that member's fit part, the stack on the early-stopping splits, kept where its likelihood ratio
reaches ``cnn_stack_min_ratio`` (3.841), and the prediction uses the mean of the members' CNN
logits. Where the fine-tuned encoder already sees what the CNN sees, the test leaves the CNN out;
where it does not, the model is not left behind the CNN that runs beside it as a baseline. The
report gives the fitted weights, so a reader sees how much of the prediction is the CNN's.
"""

from __future__ import annotations

import hashlib

import numpy as np

from sciPT.diagnostics.overlap import NearCopies
from sciPT.domains.dna.cnn import CNNClassifier, CNNScore
from sciPT.domains.dna.kmer import KmerLogisticRegression, KmerScore

# In a cross-validation fold the pre-trained and scratch classifiers split their training part alike
# (same seeds), so their stacks fit the same k-mer regression and the same CNN on the same sequences:
# keep the last few fits rather than repeating them (about 5 s for a regression, 10-15 s for a CNN, at
# 4,000 sequences of 81 bp).
_STACKED_FITS: dict[bytes, KmerScore | CNNScore] = {}
_STACKED_FITS_KEPT = 8


def _fitted_once(kind: str, codes: list[np.ndarray], labels: np.ndarray, seed: int, fit):
    """``fit()``, or its result from the cache for the same kind, sequences, labels and seed."""
    digest = hashlib.sha256(kind.encode() + np.asarray(labels, dtype=np.int64).tobytes() + str(seed).encode())
    for c in codes:
        digest.update(len(c).to_bytes(8, "little"))
        digest.update(np.ascontiguousarray(c, dtype=np.int64).tobytes())
    key = digest.digest()
    if key not in _STACKED_FITS:
        while len(_STACKED_FITS) >= _STACKED_FITS_KEPT:
            del _STACKED_FITS[next(iter(_STACKED_FITS))]
        _STACKED_FITS[key] = fit()
    return _STACKED_FITS[key]


def kmer_score(
    codes: list[np.ndarray], labels: np.ndarray, seed: int, near: NearCopies | None = None
) -> KmerScore:
    """The logit of a k-mer logistic regression (C by cross-validation, ``near`` copies in one
    fold) fitted on ``codes``."""
    return _fitted_once(
        f"kmer {near}",
        codes,
        labels,
        seed,
        lambda: KmerLogisticRegression(C=None, seed=seed, near=near).fit(codes, labels).score(),
    )


def cnn_score(
    codes: list[np.ndarray],
    labels: np.ndarray,
    seed: int,
    length: int,
    min_steps: int,
    near: NearCopies | None = None,
) -> CNNScore:
    """The logit of the baseline CNN (:class:`~sciPT.domains.dna.cnn.CNNClassifier`, its own 10 %
    early-stopping split, ``near`` copies on one side) fitted on ``codes`` of at most ``length`` bases."""
    key = f"cnn {length} {min_steps} {near}"
    cnn = CNNClassifier(length, seed=seed, min_steps_per_epoch=min_steps, near=near)
    return _fitted_once(key, codes, labels, seed, lambda: cnn.fit(codes, labels).score())
