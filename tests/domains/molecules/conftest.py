"""Fixtures of the molecules tests: the shipped frames and small untrained potentials."""

from pathlib import Path

import numpy as np
import pytest
import torch

from sciPT.domains.molecules.data import Frame, MoleculeDataConfig, frame_to_graph, read_frames
from sciPT.domains.molecules.model import EquivariantPotential, PotentialConfig

SHIPPED = Path(__file__).resolve().parents[3] / "data_recipes" / "molecules"


def make_potential(
    dtype="float64", l_max=2, seed=0, references=(-13.6, -1025.3, -2035.6), **kw
) -> EquivariantPotential:
    """A small untrained potential whose outputs are far from trivial (random weights, unit
    scale), for symmetry and gradient checks."""
    torch.manual_seed(seed)
    cfg = PotentialConfig(
        cutoff=4.0,
        l_max=l_max,
        channels=8,
        layers=3,
        radial_hidden=16,
        radial_layers=1,
        readout_hidden=8,
        dtype=dtype,
        elements=["H", "C", "O"],
        reference_energies=list(references),
        energy_shift=-0.5,
        energy_scale=1.0,
        avg_num_neighbors=6.0,
        **kw,
    )
    return EquivariantPotential(cfg).eval()


def model_fn(model, pbc=False, **call):
    """``fn(positions, numbers, cell)`` of :func:`sciPT.testing.assert_equivariant` for ``model``."""

    def fn(pos, numbers, cell):
        frame = Frame(
            numbers=np.asarray(numbers),
            positions=pos.numpy(),
            cell=np.zeros((3, 3)) if cell is None else cell.numpy(),
            pbc=np.full(3, pbc),
            source="test",
        )
        out = model(frame_to_graph(frame, model.cfg.cutoff), **call)
        out["energy"] = out["energy"][0]
        if "stress" in out:
            out["stress"] = out["stress"][0]
        return out

    return fn


@pytest.fixture(name="make_potential", scope="session")
def _make_potential_fixture():
    return make_potential


@pytest.fixture(name="model_fn", scope="session")
def _model_fn_fixture():
    return model_fn


@pytest.fixture(scope="session")
def ethanol_frames():
    return read_frames(SHIPPED / "ethanol" / "train.xyz", MoleculeDataConfig(max_frames=4))


@pytest.fixture(scope="session")
def shipped() -> Path:
    return SHIPPED
