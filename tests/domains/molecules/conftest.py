"""Fixtures of the molecules tests: the shipped frames and small untrained potentials."""

from pathlib import Path

import numpy as np
import pytest
import torch

from sciPT.domains.molecules.data import Frame, MoleculeDataConfig, read_frames
from sciPT.domains.molecules.graphs import frame_to_graph
from sciPT.domains.molecules.model import EquivariantPotential
from sciPT.domains.molecules.potential_config import PotentialConfig

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


def trained_ethanol_potential(out: Path, frames: int, steps: int):
    """The tiny architecture in float64 after ``steps`` Adam steps (batches of 8, lr 1e-2) on the
    first ``frames`` shipped ethanol frames, exported to ``out``: a smooth potential with realistic
    forces (an untrained one would blow a molecule apart in MD). Returns ``(out, model)``."""
    import dataclasses

    from sciPT.checkpoint import export_model
    from sciPT.domains.molecules import domain
    from sciPT.domains.molecules.dataset import FrameDataset, collate, prepare
    from sciPT.domains.molecules.objectives import EnergyForceLoss, ObjectiveConfig
    from sciPT.domains.molecules.presets import tiny

    data = MoleculeDataConfig(
        paths=[str(SHIPPED / "ethanol" / "train.xyz")],
        max_frames=frames,
        isolated_atoms=str(SHIPPED / "ethanol" / "isolated_atoms.xyz"),
        val_fraction=0.0,
    )
    prepared = prepare(data, dataclasses.replace(tiny().model, dtype="float64"), labelled=True)
    torch.manual_seed(0)
    model = EquivariantPotential(prepared.model).train()
    loss_fn = EnergyForceLoss(ObjectiveConfig())
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    dataset = FrameDataset(prepared.train, seed=0)
    for step in range(steps):
        loss, _ = loss_fn(model, collate([dataset[8 * step + i] for i in range(8)]))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    export_model(out, model, domain.export_config(prepared.model))
    return out, model.eval()


@pytest.fixture(name="trained_ethanol_potential", scope="session")
def _trained_ethanol_potential_fixture():
    return trained_ethanol_potential


@pytest.fixture
def lone_cu_xyz():
    """``(frames, isolated)``: extended XYZ of a periodic Cu crystal (-3.5 eV) and a lone, non-periodic
    Cu atom (-0.25 eV), and of an isolated-atoms file giving Cu -0.75 eV, for the rule that the file
    overrides an isolated atom found among the frames (in memory and streamed alike)."""
    lines = []
    for a, pbc, energy in [(2.5, "T T T", -3.5), (2.6, "F F F", -0.25)]:
        lines += [
            "1",
            f'Lattice="{a} 0 0 0 {a} 0 0 0 {a}" Properties=species:S:1:pos:R:3:forces:R:3 energy={energy} pbc="{pbc}"',
            "Cu 0 0 0 0 0 0",
        ]
    return "\n".join(lines) + "\n", '1\nProperties=species:S:1:pos:R:3 energy=-0.75 pbc="F F F"\nCu 0 0 0\n'


def emt_cu_frames(n: int = 4) -> list:
    """``n`` rattled 2x2x2 supercells of primitive fcc Cu (8 atoms), labelled by ASE's EMT with
    energy, forces and stress: a tiny periodic training set, every atom within the cut-off of
    periodic images."""
    from ase.build import bulk
    from ase.calculators.emt import EMT
    from ase.calculators.singlepoint import SinglePointCalculator

    frames = []
    for seed in range(n):
        atoms = bulk("Cu", "fcc", a=3.6) * (2, 2, 2)
        atoms.rattle(0.05, seed=seed)
        atoms.calc = EMT()
        energy, forces, stress = atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()
        atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=forces, stress=stress)
        frames.append(atoms)
    return frames


@pytest.fixture(name="emt_cu_frames", scope="session")
def _emt_cu_frames_fixture():
    return emt_cu_frames


def boxed(atoms, length: float):
    """``atoms`` centred in a periodic cubic box of side ``length`` (Angstrom)."""
    out = atoms.copy()
    out.set_cell([length] * 3)
    out.center()
    out.pbc = True
    return out


@pytest.fixture(name="boxed", scope="session")
def _boxed_fixture():
    return boxed
