"""Learning without forgetting for a potential with heads: keep the old head's predictions.

Li & Hoiem, *Learning without Forgetting*, IEEE TPAMI 40, 2935 (2018). When fine-tuning adds a head
for a new level of theory (:mod:`.model`), the old head is frozen but the shared interaction
blocks move, and the old head's predictions move with them. EWC guards the shared weights through
the diagonal Fisher at the pre-trained point, which misses the directions that carry the
forgetting (``benchmarks/RESULTS_forgetting.md``). This term guards the *function* instead, with no
old data: before fine-tuning, the pre-trained model predicts the new training frames through the
old head (energies :math:`E^0_m` and forces :math:`F^0_m`, the teacher); during fine-tuning the
current model's old head is asked to keep predicting them:

.. math::

    \\mathcal{L} = \\mathcal{L}_\\text{new}
    + \\mu \\Big[ w_E \\Big\\langle \\Big(\\frac{E^\\text{old}_m - E^0_m}{N_m}\\Big)^2 \\Big\\rangle
    + w_F \\big\\langle (F^\\text{old}_{i\\alpha} - F^0_{i\\alpha})^2 \\big\\rangle \\Big]

with the objective's weights :math:`w_E, w_F` (:class:`.objectives.EnergyForceLoss`) and the
strength :math:`\\mu` (``old_head_distillation``). The new frames are molecules the old head never
labelled, but their atomic environments (C, H, O bonded as in the old molecules) are where the
shared features the old head reads must not move; the new head is free to use new directions.

The term is part of the new frames' loss, so in a batch that mixes replayed old frames in
(``strategy: replay``) it is weighted as they are, by the new frames' share ``1 - w`` of the batch
(:meth:`sciPT.finetune.FinetuneModule.data_loss`): with replay the effective strength is
:math:`(1 - w)\\,\\mu`.

Cost: a second forward and force backward per step, through the old head (about twice a plain
fine-tuning step), and one evaluation pass over the training frames before training.

Shapes: the teacher is stored on each training graph as ``old_energy`` ``(1,)`` and ``old_forces``
``(N, 3)``, so batches carry ``(G,)`` and ``(N_total, 3)``.
"""

from __future__ import annotations

import torch
from torch import nn

from .dataset import batches
from .objectives import ObjectiveConfig


@torch.no_grad()
def attach_teacher(potential: nn.Module, graphs: list, head: str, batch_size: int = 32) -> None:
    """Store on every graph of ``graphs`` what ``potential`` predicts through ``head`` now (call
    before fine-tuning moves it), as ``old_energy`` and ``old_forces`` (module docstring)."""
    was_training = potential.training
    potential.eval()
    start = 0
    for batch in batches(graphs, batch_size):
        pred = potential(batch, head=head, forces=True, create_graph=False)
        ptr = batch.ptr.tolist()
        for k in range(batch.num_graphs):
            graph = graphs[start + k]
            graph.old_energy = pred["energy"][k : k + 1].detach().clone()
            graph.old_forces = pred["forces"][ptr[k] : ptr[k + 1]].detach().clone()
        start += batch.num_graphs
    potential.train(was_training)


class OldHeadLoss(nn.Module):
    """The bracket of the module docstring times ``strength``, on batches that carry a teacher
    (others, e.g. replayed old frames, give zero).

    Args:
        cfg: the objective's weights.
        head: the old head to keep.
        strength: :math:`\\mu`.

    Shapes:
        ``batch.old_energy`` ``(G,)``, ``batch.old_forces`` ``(N, 3)``, ``batch.natoms`` ``(G,)``
        -> scalar float64 loss (zero without ``old_energy``).
    """

    def __init__(self, cfg: ObjectiveConfig, head: str, strength: float):
        super().__init__()
        self.cfg, self.head, self.strength = cfg, head, float(strength)

    def forward(self, backbone: nn.Module, batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        if "old_energy" not in batch:
            return torch.zeros((), dtype=torch.float64), {}
        pred = backbone(batch, head=self.head, forces=self.cfg.forces_weight > 0)
        loss = torch.zeros((), dtype=torch.float64, device=pred["energy"].device)
        if self.cfg.energy_weight > 0:
            per_atom = (pred["energy"] - batch.old_energy.reshape(-1)) / batch.natoms.reshape(-1)
            loss = loss + self.cfg.energy_weight * per_atom.pow(2).mean()
        if self.cfg.forces_weight > 0:
            error = pred["forces"] - batch.old_forces.to(pred["forces"].dtype)
            loss = loss + self.cfg.forces_weight * error.pow(2).mean()
        return self.strength * loss, {"loss_old_head": loss.detach()}
