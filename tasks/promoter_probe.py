"""The promoter run's linear probe: does the pre-trained encoder, frozen, hold the label?

With ``--folds`` and a pre-trained start, the run embeds every training sequence with the start's
encoder as it is, and with an encoder of the same shape at its random initialisation (seeded
``train.seed``, as the scratch baseline's first fold is), each two ways: the mean of the final hidden
states over real tokens (:meth:`sciPT.nn.TransformerEncoder.embed`), and their means over
:data:`POSITION_BINS` consecutive stretches, concatenated (:func:`binned_means`), which keeps where
along the sequence a state is, as the classifier's convolutional head does. A linear probe on each
(:func:`sciPT.diagnostics.probes.linear_probe`) is fitted on the same folds as every model, and the
report gives the AUROCs and their paired per-fold differences: whether pre-training made promoters
linearly readable before any fine-tuning, free of the fine-tunes' seed-to-seed spread. On
iPromoter-2L the mean-pooled read-out found little (an encoder pre-trained for 1,500 steps behind the
random one), the position-aware one a gain at every budget (``benchmarks/RESULTS_promoter.md``,
"Linear probes of the frozen encoder"). Cheap beside the fine-tunes: forward passes, and logistic
regressions per fold (about 20 CPU-seconds for the position-aware probe of 5,720 sequences).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np
import torch

from sciPT.diagnostics.probes import linear_probe
from sciPT.diagnostics.transfer import WORDS, compare, mean_se, paired_difference

from .promoter_classifier import crop

if TYPE_CHECKING:
    from sciPT.domains.dna.data import LabelledSequences

    from .promoter_config import PromoterConfig
    from .promoter_start import Start

BATCH = 256
POSITION_BINS = 8
"""Stretches of the position-aware probe: about 10 bases each at iPromoter-2L's 81 bp (on which
``benchmarks/promoter_probe.py`` measured it beside the mean-pooled probe)."""


@torch.inference_mode()
def frozen_embeddings(
    start: Start, weights: bool, codes: list[np.ndarray], length: int, seed: int, bins: int | None = None
) -> np.ndarray:
    """``[N, D]``: each sequence, cropped to ``length`` as the classifiers read it, embedded by
    the start's encoder (``weights``) or by one of its shape freshly initialised with ``seed``.

    ``bins``: ``[N, bins * D]`` instead, the mean of the final hidden states over each of ``bins``
    consecutive stretches of the sequence's real tokens (:func:`binned_means`), stretch by stretch:
    a read-out that sees where along the sequence a state is, as the task's convolutional head does,
    where the mean over the whole sequence sees only what it holds. The stretches run along the
    strand as given: unlike the mean, they are not symmetrised over the strands for a
    reverse-complement-equivariant encoder."""
    model = (start if weights else dataclasses.replace(start, backbone_state=None)).backbone(seed).eval()
    max_tokens = start.tokenizer.n_tokens(length)
    codes = crop(codes, length)
    out = []
    for i in range(0, len(codes), BATCH):
        batch = start.tokenizer.batch(codes[i : i + BATCH], max_tokens)
        ids, real = batch["input_ids"], batch["attention_mask"]
        vectors = model.embed(ids, real) if bins is None else binned_means(model(ids, real), real, bins)
        out.append(vectors.float().numpy())
    width = model.hidden_size * (bins or 1)
    return np.concatenate(out) if out else np.zeros((0, width), np.float32)


def binned_means(hidden: torch.Tensor, real: torch.Tensor, bins: int) -> torch.Tensor:
    """``[B, bins * D]``: the real token at position ``t`` of a row with ``n`` real tokens (which
    come first) falls in stretch ``floor(t * bins / n)``; each stretch's mean hidden state, in order
    along the row (a stretch with no token, where ``n < bins``, is zeros).

    Shapes: ``hidden`` ``[B, L, D]``, ``real`` ``[B, L]`` bool."""
    n = real.sum(1, keepdim=True).clamp_min(1)
    position = torch.arange(hidden.shape[1], device=hidden.device).expand_as(real)
    stretch = (position * bins // n).clamp_max(bins - 1)
    weights = torch.nn.functional.one_hot(stretch, bins).to(hidden.dtype) * real[..., None]
    sums = torch.einsum("blk,bld->bkd", weights, hidden)
    means = sums / weights.sum(1)[..., None].clamp_min(1.0)
    return means.flatten(1)


def probe_lines(
    start: Start,
    cfg: PromoterConfig,
    data: LabelledSequences,
    length: int,
    folds: list[tuple[np.ndarray, np.ndarray]],
    metrics: dict,
) -> list[str]:
    """The report's probe section, and ``probe_*`` entries in ``metrics`` (the mean-pooled read-out's;
    ``probe_positional_*`` the position-aware one's, :data:`POSITION_BINS` stretches); nothing for a
    start that was not pre-trained (its probe would be the random encoder's)."""
    if start.backbone_state is None:
        return []
    from .promoter_evaluation import held_out_keys

    seed = cfg.train.seed
    groups = held_out_keys(cfg, data)  # the inner choice of C keeps near copies together too
    rows = []
    for name, prefix, bins in (
        ("mean-pooled", "probe", None),
        ("position-aware", "probe_positional", POSITION_BINS),
    ):
        scores = {}
        for key, weights in (("pre_trained", True), ("random_init", False)):
            embeddings = frozen_embeddings(start, weights, data.codes, length, seed, bins=bins)
            scores[key] = linear_probe(embeddings, data.labels, folds, seed=seed, groups=groups).auroc
            mean, se = mean_se(scores[key])
            metrics[f"{prefix}_{key}_auroc_mean"], metrics[f"{prefix}_{key}_auroc_se"] = mean, se
        diff, se = paired_difference(scores["pre_trained"], scores["random_init"])
        verdict = compare(scores["pre_trained"], scores["random_init"])
        metrics[f"{prefix}_auroc_diff_mean"], metrics[f"{prefix}_auroc_diff_se"] = diff, se
        metrics[f"{prefix}_verdict"] = float(verdict)
        pre, rnd = (mean_se(scores[k]) for k in ("pre_trained", "random_init"))
        rows.append(
            f"| {name} | {pre[0]:.3f} ± {pre[1]:.3f} | {rnd[0]:.3f} ± {rnd[1]:.3f} | {diff:+.3f} ± {se:.3f} | "
            f"{WORDS[verdict]} |"
        )
    return [
        "",
        "### Linear probe of the frozen encoder",
        "",
        "A logistic regression on the frozen encoder's final hidden states, fitted on each fold's "
        "training part (its regularisation chosen there) and scored on the held-out fold, for the "
        "pre-trained encoder and the same architecture at random initialisation: on their mean over "
        f"the sequence (mean-pooled), and on their means over {POSITION_BINS} consecutive stretches of "
        "it (position-aware: where along the sequence a state is, as the classifier's convolutional "
        "head reads it). Before any fine-tuning, this is what pre-training put into the "
        "representation that a linear read-out finds; a random transformer already mixes the input's "
        "composition into its embeddings. Verdicts: the per-fold difference against 2 SE.",
        "",
        "| read-out | pre-trained AUROC | random init AUROC | difference per fold | pre-trained is |",
        "|---|---|---|---|---|",
        *rows,
    ]
