"""Energy/force loss, denoising and error metrics, against hand computations."""

import math

import numpy as np
import pytest
import torch
from torch import nn
from torch_geometric.data import Batch, Data

from sciPT.domains.molecules.objectives import (
    DenoisingLoss,
    EnergyForceLoss,
    ErrorAccumulator,
    ObjectiveConfig,
    build_objective,
    error_metrics,
)
from sciPT.errors import ConfigError


def graph(z, energy, forces, stress=None):
    n = len(z)
    return Data(
        pos=torch.arange(3 * n, dtype=torch.float64).reshape(n, 3),
        z=torch.tensor(z),
        natoms=torch.tensor([n]),
        energy=torch.tensor([energy], dtype=torch.float64),
        forces=torch.tensor(forces, dtype=torch.float64),
        stress=torch.zeros(1, 3, 3, dtype=torch.float64)
        if stress is None
        else torch.tensor(stress, dtype=torch.float64).reshape(1, 3, 3),
        has_stress=torch.tensor([stress is not None]),
    )


class Fixed(nn.Module):
    """A backbone returning given predictions (and recording what it was called with)."""

    def __init__(self, energy, forces, stress=None, scale=1.0):
        super().__init__()
        self.out = {
            "energy": torch.tensor(energy, dtype=torch.float64),
            "forces": torch.tensor(forces, dtype=torch.float64),
        }
        if stress is not None:
            self.out["stress"] = torch.tensor(stress, dtype=torch.float64)
        self.energy_scale = torch.tensor(scale)
        self.calls = []

    def forward(self, batch, forces=True, stress=False):
        self.calls.append((batch, forces, stress))
        return dict(self.out)


def two_frames():
    # frame 0: H2, E = -1.0; frame 1: OH (2 atoms) + H = 3 atoms, E = -2.0
    return Batch.from_data_list(
        [
            graph([1, 1], -1.0, [[0.1, 0.0, 0.0], [-0.1, 0.0, 0.0]]),
            graph([8, 1, 1], -2.0, [[0.0, 0.2, 0.0], [0.0, -0.1, 0.0], [0.0, -0.1, 0.0]]),
        ]
    )


def test_energy_force_loss_and_metrics_by_hand():
    batch = two_frames()
    # energy errors +0.02 eV (2 atoms) and -0.06 eV (3 atoms): per atom +0.01 and -0.02
    # one force component off by +0.03 on frame 0 atom 0, one by -0.04 on frame 1 atom 2
    forces = batch.forces.clone()
    forces[0, 0] += 0.03
    forces[4, 1] -= 0.04
    backbone = Fixed([-0.98, -2.06], forces.tolist())
    loss, metrics = EnergyForceLoss(ObjectiveConfig(energy_weight=2.0, forces_weight=10.0))(backbone, batch)
    energy_term = 2.0 * (0.01**2 + 0.02**2) / 2  # 5e-4
    force_term = 10.0 * (0.03**2 + 0.04**2) / 15  # 15 components
    assert float(loss) == pytest.approx(energy_term + force_term, rel=1e-12)
    assert float(metrics["energy_mae_meV_per_atom"]) == pytest.approx(15.0)
    assert float(metrics["energy_rmse_meV_per_atom"]) == pytest.approx(math.sqrt((100 + 400) / 2))
    assert float(metrics["energy_mae_meV"]) == pytest.approx(40.0)
    assert float(metrics["energy_rmse_meV"]) == pytest.approx(math.sqrt((400 + 3600) / 2))
    assert float(metrics["forces_mae_meV_per_A"]) == pytest.approx(70.0 / 15)
    assert float(metrics["forces_rmse_meV_per_A"]) == pytest.approx(math.sqrt(2500 / 15))
    assert backbone.calls[0][1:] == (True, False)


def test_stress_term_counts_only_frames_that_have_a_stress():
    batch = Batch.from_data_list(
        [
            graph([1, 1], -1.0, [[0.0] * 3] * 2, stress=np.eye(3).tolist()),
            graph([1, 1], -1.0, [[0.0] * 3] * 2),
        ]
    )
    predicted = [np.eye(3) + 0.1, np.full((3, 3), 5.0)]  # the second must be ignored
    backbone = Fixed([-1.0, -1.0], [[0.0] * 3] * 4, stress=np.stack(predicted).tolist())
    loss, metrics = EnergyForceLoss(ObjectiveConfig(energy_weight=0, forces_weight=0, stress_weight=3.0))(
        backbone, batch
    )
    assert float(loss) == pytest.approx(3.0 * 0.01, rel=1e-12)
    assert backbone.calls[0][2] is True


def test_stresses_read_but_not_fitted_are_said_and_fitted_ones_are_scored():
    """``--data.stress-key`` with the default stress weight 0 read every periodic frame's stress,
    refused frames without one, and fitted none, without a word; fitted, the stress errors were in
    no validation metric."""
    from sciPT.domains.molecules.objectives import unfitted_stress

    assert unfitted_stress("stress", ObjectiveConfig()) == (
        "warning: stresses are read (--data.stress-key stress) and required of every periodic frame, "
        "but not fitted: --objective.stress-weight is 0 (a weight > 0 fits them)"
    )
    assert unfitted_stress(None, ObjectiveConfig()) is None
    assert unfitted_stress("stress", ObjectiveConfig(stress_weight=1.0)) is None
    stressed = Batch.from_data_list(
        [
            graph([1, 1], -1.0, [[0.0] * 3] * 2, stress=np.eye(3).tolist()),
            graph([1, 1], -1.0, [[0.0] * 3] * 2),
        ]
    )
    predicted = [np.eye(3) + np.diag([0.3, 0.0, 0.0]), np.full((3, 3), 5.0)]  # the second is ignored
    backbone = Fixed([-1.0, -1.0], [[0.0] * 3] * 4, stress=np.stack(predicted).tolist())
    _, metrics = EnergyForceLoss(ObjectiveConfig())(backbone, stressed)
    assert "stress_mae_eV_per_A3" not in metrics
    objective = EnergyForceLoss(ObjectiveConfig(stress_weight=1.0))
    _, metrics = objective(backbone, stressed)
    # one of the 6 Voigt components of the one frame with a stress is off by 0.3
    assert float(metrics["stress_mae_eV_per_A3"]) == pytest.approx(0.3 / 6, rel=1e-12)
    assert float(metrics["stress_rmse_eV_per_A3"]) == pytest.approx(math.sqrt(0.09 / 6), rel=1e-12)
    counts = objective.metric_counts(stressed)
    assert counts["stress_mae_eV_per_A3"] == counts["stress_rmse_eV_per_A3"] == 6


def test_denoising_targets_centred_noise_and_a_perfect_denoiser_scores_zero():
    batch = two_frames()

    class Denoiser(nn.Module):
        energy_scale = torch.tensor(2.0)

        def forward(self, noisy, forces=True):
            self.noisy_pos = noisy.pos.clone()
            # forces pointing back along the displacement, in units of the scale
            return {"forces": -(noisy.pos - batch.pos) / 0.1 * self.energy_scale}

    model = Denoiser()
    loss, metrics = DenoisingLoss(noise_std=0.1)(model, batch, torch.Generator().manual_seed(0))
    assert float(loss) < 1e-20
    shift = model.noisy_pos - batch.pos
    torch.testing.assert_close(shift[:2].sum(0), torch.zeros(3, dtype=torch.float64))
    torch.testing.assert_close(shift[2:].sum(0), torch.zeros(3, dtype=torch.float64))
    assert float(shift.abs().max()) > 0.01

    idle = Fixed([0.0, 0.0], torch.zeros(5, 3).tolist())
    first, _ = DenoisingLoss(0.1)(idle, batch, torch.Generator().manual_seed(3))
    again, _ = DenoisingLoss(0.1)(idle, batch, torch.Generator().manual_seed(3))
    assert float(first) == float(again) > 0


def test_accumulated_errors_are_exact_over_batches_and_per_element():
    batch = two_frames()
    preds = [
        {
            "energy": batch.energy + torch.tensor([0.01, -0.02], dtype=torch.float64),
            "forces": batch.forces + 0.001 * torch.arange(15, dtype=torch.float64).reshape(5, 3),
        },
        {
            "energy": batch.energy + torch.tensor([0.05, 0.0], dtype=torch.float64),
            "forces": batch.forces - 0.002,
        },
    ]
    acc = ErrorAccumulator()
    for p in preds:
        acc.update(p, batch)
    result = acc.compute()
    force_err = torch.cat([(p["forces"] - batch.forces).reshape(-1) for p in preds]) * 1000
    assert result["forces_mae_meV_per_A"] == pytest.approx(float(force_err.abs().mean()))
    assert result["forces_rmse_meV_per_A"] == pytest.approx(float(force_err.pow(2).mean().sqrt()))
    assert result["energy_mae_meV"] == pytest.approx((10 + 20 + 50 + 0) / 4)
    assert result["energy_rmse_meV_per_atom"] == pytest.approx(
        math.sqrt((5**2 + (20 / 3) ** 2 + 25**2 + 0) / 4)
    )
    # oxygen is atom 2 of the batch: its errors are components 6, 7, 8 of the first prediction
    # (6, 7, 8 meV/A) and -2 meV/A three times in the second
    assert result["forces_mae_meV_per_A_O"] == pytest.approx((6 + 7 + 8 + 6) / 6)
    single = error_metrics(preds[0], batch)
    assert float(single["energy_mae_meV"]) == pytest.approx(15.0)


def test_stress_errors_over_the_voigt_components_of_the_frames_that_have_one():
    # frame 0 carries a stress, frame 1 (a molecule, say) does not: its prediction is not scored
    label = [[1.0, 0.1, 0.2], [0.1, 2.0, 0.3], [0.2, 0.3, 3.0]]
    batch = Batch.from_data_list(
        [
            graph([1, 1], -1.0, [[0.0] * 3] * 2, stress=label),
            graph([1, 1], -1.0, [[0.0] * 3] * 2),
        ]
    )
    predicted = torch.tensor(label, dtype=torch.float64)
    predicted[0, 0] += 0.03  # xx
    predicted[1, 2] -= 0.06  # yz, and its symmetric zy, counted once
    predicted[2, 1] -= 0.06
    acc = ErrorAccumulator()
    acc.update(
        {
            "energy": batch.energy,
            "forces": batch.forces,
            "stress": torch.stack([predicted, torch.full((3, 3), 9.0, dtype=torch.float64)]),
        },
        batch,
    )
    result = acc.compute()
    assert result["stress_mae_eV_per_A3"] == pytest.approx((0.03 + 0.06) / 6, rel=1e-12)
    assert result["stress_rmse_eV_per_A3"] == pytest.approx(math.sqrt((0.03**2 + 0.06**2) / 6), rel=1e-12)
    assert acc.frames_with_stress == 1


def test_objective_configuration_errors():
    with pytest.raises(ConfigError) as err:
        build_objective(ObjectiveConfig(forces_weight=-1.0))
    assert str(err.value) == "objective.forces_weight: expected a weight >= 0, got -1.0"
    with pytest.raises(ConfigError) as err:
        build_objective(ObjectiveConfig(energy_weight=0, forces_weight=0))
    assert str(err.value) == "objective: every loss weight is zero"
    assert isinstance(build_objective(ObjectiveConfig(kind="denoise")), DenoisingLoss)


def test_a_stress_only_fit_is_allowed_and_a_zero_noise_is_refused():
    """Energy and force weights 0 with a stress weight fits stresses (not 'every loss weight is
    zero'); denoising with noise 0 would train on a target of 0/0, and is refused."""
    stress_only = build_objective(ObjectiveConfig(energy_weight=0, forces_weight=0, stress_weight=1.0))
    assert isinstance(stress_only, EnergyForceLoss)
    with pytest.raises(ConfigError) as err:
        build_objective(ObjectiveConfig(kind="denoise", noise_std=0.0))
    assert str(err.value) == "objective.noise_std: expected a positive length, got 0.0"


def test_denoising_reads_no_stress_so_a_stress_key_draws_no_warning():
    """The unfitted-stress warning is about energy_forces runs; a denoising run with a stress key
    (a shared config) fits no label at all and is not told to raise a stress weight."""
    from sciPT.domains.molecules.objectives import unfitted_stress

    assert unfitted_stress("stress", ObjectiveConfig(kind="denoise")) is None


def test_a_batch_without_forces_has_no_force_metrics_rather_than_nan():
    """A batch of energy-only frames (``has_forces`` false) is scored on its energies; a force
    error over no component would be nan and spoil the epoch's mean."""
    data = graph([1, 1], -1.0, [[0.0] * 3] * 2)
    data.has_forces = torch.tensor([False])
    batch = Batch.from_data_list([data])
    pred = {
        "energy": torch.tensor([-0.9], dtype=torch.float64),
        "forces": torch.ones(2, 3, dtype=torch.float64),
    }
    metrics = error_metrics(pred, batch)
    assert "forces_mae_meV_per_A" not in metrics and "forces_rmse_meV_per_A" not in metrics
    assert float(metrics["energy_mae_meV_per_atom"]) == pytest.approx(50.0)  # 100 meV over 2 atoms
