"""Representation collapse: do the embeddings of different inputs still differ?

A pre-trained encoder can collapse (every input mapped near one point, or onto one direction)
while its loss still looks reasonable. Three numbers make this visible:

- relative spread: ``tr Cov(e) / E ||e||^2``, the share of the embeddings' energy that varies from
  input to input; ``0`` when every input maps to one point, at any scale, ``1`` for a centred cloud;
- effective rank (Roy & Vetterli 2007): ``exp(H(p))`` with ``p_i = s_i / sum_j s_j`` the normalised
  singular values of the centred embedding matrix ``[N, D]``; ``1`` for a cloud along one line,
  ``D`` for an isotropic one;
- mean pairwise cosine similarity of the (uncentred) embeddings, reported only.

Collapse is declared when the relative spread is under ``min_spread`` (default 1e-3: the inputs
differ by less than a thousandth of what they share) or the effective rank under ``min_rank``
(default 1.5: what varies lies along one direction). Neither threshold scales with ``D``: the
mean-pooled embeddings of residue tokens mostly carry composition, about ``alphabet - 1``
directions (an effective rank near 3 for DNA, at initialisation and after healthy training alike),
so a rank threshold proportional to the width (5 % of 64 = 3.2, the rule before) called healthy DNA
models collapsed and missed none that were. A high cosine alone is no sign either: mean-pooled
transformer embeddings share a large common component (anisotropy); the relative spread measures
what is left of them once it is removed.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class CollapseReport:
    effective_rank: float
    dimension: int
    mean_cosine: float
    relative_spread: float
    collapsed: bool
    min_spread: float = 1e-3
    min_rank: float = 1.5

    def sentence(self) -> str:
        state = "**collapsed**" if self.collapsed else "no collapse"
        return (
            f"Embeddings of {self.dimension} dimensions have relative spread "
            f"{self.relative_spread:.3g} (the share of their energy that varies between inputs), "
            f"effective rank {self.effective_rank:.1f} and mean pairwise cosine "
            f"{self.mean_cosine:.3f}: {state} (collapsed: spread under {self.min_spread:g} or "
            f"effective rank under {self.min_rank:g})."
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


def relative_spread(embeddings: torch.Tensor) -> float:
    """Shapes: embeddings ``[N, D]`` -> scalar in ``[0, 1]``: ``tr Cov / E ||e||^2``."""
    x = embeddings.double()
    energy = (x * x).sum(1).mean()
    if energy <= 0:
        return 0.0
    return float(((x - x.mean(0, keepdim=True)) ** 2).sum(1).mean() / energy)


def mean_cosine(embeddings: torch.Tensor) -> float:
    x = torch.nn.functional.normalize(embeddings.double(), dim=1)
    n = x.shape[0]
    sim = x @ x.T
    return float((sim.sum() - sim.diagonal().sum()) / (n * (n - 1)))


def check_collapse(
    embeddings: torch.Tensor, min_spread: float = 1e-3, min_rank: float = 1.5
) -> CollapseReport:
    """The three numbers of ``embeddings`` ``[N, D]`` and the verdict (module docstring)."""
    rank, spread = effective_rank(embeddings), relative_spread(embeddings)
    collapsed = spread < min_spread or rank < min_rank
    d = embeddings.shape[1]
    return CollapseReport(rank, d, mean_cosine(embeddings), spread, collapsed, min_spread, min_rank)
