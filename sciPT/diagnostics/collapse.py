"""Representation collapse: do the embeddings of different inputs still differ?

A pre-trained encoder can collapse (every input mapped near one point, or onto a few directions)
while its loss still looks reasonable. Two numbers make this visible:

- effective rank (Roy & Vetterli 2007): ``exp(H(p))`` with ``p_i = s_i / sum_j s_j`` the normalised
  singular values of the centred embedding matrix ``[N, D]``; ``1`` for a rank-one cloud, ``D`` for an
  isotropic one;
- mean pairwise cosine similarity of the (uncentred) embeddings; near ``1`` when all point the same way.

Collapse is declared when the effective rank falls under ``min_rank_fraction * D``. The mean
cosine is reported but not used alone: mean-pooled transformer embeddings share a large common
component (anisotropy), so a high cosine is normal in healthy models; only ``max_mean_cosine``
(default 0.999, points practically identical) flags collapse by itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class CollapseReport:
    effective_rank: float
    dimension: int
    mean_cosine: float
    collapsed: bool

    def sentence(self) -> str:
        state = "**collapsed**" if self.collapsed else "no collapse"
        return (
            f"Embeddings of {self.dimension} dimensions have effective rank "
            f"{self.effective_rank:.1f} and mean pairwise cosine {self.mean_cosine:.3f}: {state}."
        )


def effective_rank(embeddings: torch.Tensor) -> float:
    """Shapes: embeddings ``[N, D]`` -> scalar in ``[1, min(N, D)]``."""
    x = embeddings.double()
    x = x - x.mean(0, keepdim=True)
    s = torch.linalg.svdvals(x)
    if s.sum() <= 0:
        return 1.0
    p = s / s.sum()
    p = p[p > 0]
    return float(torch.exp(-(p * p.log()).sum()))


def mean_cosine(embeddings: torch.Tensor) -> float:
    x = torch.nn.functional.normalize(embeddings.double(), dim=1)
    n = x.shape[0]
    sim = x @ x.T
    return float((sim.sum() - sim.diagonal().sum()) / (n * (n - 1)))


def check_collapse(
    embeddings: torch.Tensor, min_rank_fraction: float = 0.05, max_mean_cosine: float = 0.999
) -> CollapseReport:
    rank = effective_rank(embeddings)
    cos = mean_cosine(embeddings)
    d = embeddings.shape[1]
    return CollapseReport(rank, d, cos, rank < min_rank_fraction * d or cos > max_mean_cosine)
