"""Validation of the energy/force objective over batches with and without forces: each metric's
count (:meth:`EnergyForceLoss.metric_counts`) and the epoch values Lightning logs, by hand.

The backbone predicts every label plus a known error: ``natoms`` meV on each frame's energy (1
meV/atom) and ``Z`` meV/Angstrom on each force component of an atom of atomic number ``Z``.
"""

import math

import lightning.pytorch as pl
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader
from torch_geometric.data import Batch, Data

from sciPT.domains.molecules.objectives import DenoisingLoss, EnergyForceLoss, ObjectiveConfig
from sciPT.module import PretrainModule
from sciPT.trainer import TrainConfig


def frame(z, forces: bool = True, stress: bool = False) -> Data:
    n = len(z)
    return Data(
        pos=torch.arange(3 * n, dtype=torch.float64).reshape(n, 3),
        z=torch.tensor(z),
        natoms=torch.tensor([n]),
        energy=torch.tensor([-float(n)], dtype=torch.float64),
        # a frame without forces has zeros, flagged absent (sciPT.domains.molecules.graphs)
        forces=torch.full((n, 3), 0.5 if forces else 0.0, dtype=torch.float64),
        has_forces=torch.tensor([forces]),
        stress=torch.zeros(1, 3, 3, dtype=torch.float64),
        has_stress=torch.tensor([stress]),
    )


class KnownErrors(nn.Module):
    def __init__(self):
        super().__init__()
        self.unused = nn.Parameter(torch.zeros(()))  # a module Lightning can hold

    def forward(self, batch, forces=True, stress=False):
        out = {"energy": batch.energy + 0.001 * batch.natoms.double()}
        if forces:
            out["forces"] = batch.forces + 0.001 * batch.z.double()[:, None].expand(-1, 3)
        if stress:
            out["stress"] = batch.stress.clone()
        return out


# H = 1, O = 8. Batch A: both frames with forces; B: neither; C: the first only.
BATCHES = [
    Batch.from_data_list([frame([1, 1]), frame([8, 1, 1])]),
    Batch.from_data_list([frame([1, 1], forces=False), frame([8, 1, 1], forces=False)]),
    Batch.from_data_list([frame([8, 1]), frame([1, 1, 1], forces=False)]),
]


def test_each_metric_counts_the_values_it_averages():
    objective = EnergyForceLoss(ObjectiveConfig(stress_weight=1.0))
    counts = [objective.metric_counts(b) for b in BATCHES]
    assert [c["forces_mae_meV_per_A"] for c in counts] == [15, 0, 6]  # 3 components per atom
    assert [c["loss_forces"] for c in counts] == [15, 0, 6]
    assert [c["energy_mae_meV_per_atom"] for c in counts] == [2, 2, 2]  # frames
    assert [c["loss_stress"] for c in counts] == [0, 0, 0]
    stressed = Batch.from_data_list([frame([1, 1], stress=True), frame([1, 1]), frame([1, 1], stress=True)])
    assert objective.metric_counts(stressed)["loss_stress"] == 18  # 9 entries of 2 frames
    # denoising is over every coordinate
    assert DenoisingLoss(0.1).metric_counts(BATCHES[0]) == {"loss": 15, "denoise_rmse": 15}
    # a batch without forces has no force metric to count
    _, metrics = objective(KnownErrors(), BATCHES[1])
    assert "forces_mae_meV_per_A" not in metrics
    assert float(metrics["energy_mae_meV_per_atom"]) == pytest.approx(1.0)


def test_epoch_force_errors_are_over_the_components_of_every_batch_with_forces():
    module = PretrainModule(KnownErrors(), EnergyForceLoss(ObjectiveConfig()), TrainConfig(accelerator="cpu"))
    trainer = pl.Trainer(
        accelerator="cpu", devices=1, logger=False, enable_progress_bar=False, enable_model_summary=False
    )
    (logged,) = trainer.validate(module, DataLoader(BATCHES, batch_size=None), verbose=False)
    # Atoms with forces: H H (A), O H H (A), O H (C); each component off by Z meV/A:
    # MAE = (1 + 1 + 8 + 1 + 1 + 8 + 1) / 7 = 3, RMSE = sqrt(133 / 7). The batches' own MAEs, 12/5
    # and 9/2, weighted by frames (or averaged) would give 3.45; batch B would pull a zero in.
    assert logged["val/forces_mae_meV_per_A"] == pytest.approx(3.0, rel=1e-6)
    assert logged["val/forces_rmse_meV_per_A"] == pytest.approx(math.sqrt(133 / 7), rel=1e-6)
    # energies over all six frames: 1 meV/atom, and natoms meV per frame (2, 3, 2, 3, 2, 3)
    assert logged["val/energy_mae_meV_per_atom"] == pytest.approx(1.0, rel=1e-6)
    assert logged["val/energy_mae_meV"] == pytest.approx(2.5, rel=1e-6)
    assert logged["val/energy_rmse_meV"] == pytest.approx(math.sqrt((4 + 9) / 2), rel=1e-6)
    # the loss terms: energy (1e-3 eV/atom)^2 on every frame; forces (Z * 1e-3 eV/A)^2 on each
    # component with forces, 3 * 133 / 21 = 19 (1e-3)^2 on average
    assert logged["val/loss_energy"] == pytest.approx(1e-6, rel=1e-5)
    assert logged["val/loss_forces"] == pytest.approx(19e-6, rel=1e-5)
    # the loss, by frames: batches A and C have both terms, B the energy term alone
    assert logged["val/loss"] == pytest.approx(
        (2 * (1e-6 + 68 / 5 * 1e-6) + 2 * 1e-6 + 2 * (1e-6 + 65 / 2 * 1e-6)) / 6, rel=1e-5
    )
