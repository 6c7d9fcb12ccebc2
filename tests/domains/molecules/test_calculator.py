"""The ASE calculator of exported potentials: agreement with the model, energy conservation in
velocity Verlet MD, stress only with a cell, and the structure checks."""

import warnings

import numpy as np
import pytest
import torch
from ase import Atoms, units
from ase.calculators.calculator import PropertyNotImplementedError
from ase.io import read
from ase.md.verlet import VelocityVerlet

from sciPT.domains.molecules.calculator import SciPTCalculator, torch_device
from sciPT.domains.molecules.graphs import atoms_to_graph
from sciPT.domains.molecules.md import MDSettings, initial_velocities, run_md
from sciPT.errors import ConfigError, DataError, UserError
from sciPT.testing import modules_loaded_by


@pytest.fixture(scope="module")
def trained(trained_ethanol_potential, tmp_path_factory):
    """The tiny architecture in float64, 120 Adam steps on 48 ethanol frames, exported."""
    out, model = trained_ethanol_potential(tmp_path_factory.mktemp("calc") / "model", 48, 120)
    return out, model.eval()


@pytest.fixture
def ethanol(shipped):
    return read(shipped / "ethanol" / "train.xyz", index=500)


def test_calculator_matches_the_model_and_loads_in_either_precision(trained, ethanol):
    path, model = trained
    atoms = ethanol.copy()
    atoms.calc = SciPTCalculator(path)
    expected = model(atoms_to_graph(ethanol, model.cfg.cutoff), forces=True)
    assert atoms.get_potential_energy() == pytest.approx(float(expected["energy"][0]), abs=1e-9)
    assert atoms.get_forces() == pytest.approx(expected["forces"].numpy(), abs=1e-9)
    assert atoms.calc.get_property("free_energy") == atoms.get_potential_energy()

    single = SciPTCalculator(path, dtype="float32")
    assert single.model.cfg.dtype == "float32" and single.model.dtype == torch.float32
    atoms.calc = single
    # the learned part in float32 (~1e-7 relative of a few eV), references stay float64
    assert atoms.get_potential_energy() == pytest.approx(float(expected["energy"][0]), abs=1e-4)
    assert atoms.get_forces() == pytest.approx(expected["forces"].numpy(), abs=1e-4)


def _nve(path, atoms, timestep_fs: float, duration_fs: float = 50.0):
    """Total and kinetic energies of velocity Verlet from a 300 K Maxwell-Boltzmann start."""
    atoms = atoms.copy()
    atoms.calc = SciPTCalculator(path, dtype="float64")
    initial_velocities(atoms, 300.0, seed=0)
    dynamics = VelocityVerlet(atoms, timestep_fs * units.fs)
    totals, kinetic = [], []

    def record():
        kinetic.append(atoms.get_kinetic_energy())
        totals.append(atoms.get_potential_energy() + kinetic[-1])

    dynamics.attach(record, interval=1)
    dynamics.run(round(duration_fs / timestep_fs))
    return np.array(totals), np.array(kinetic)


def test_velocity_verlet_conserves_the_total_energy(trained, ethanol):
    """100 steps of 0.5 fs from a 300 K Maxwell-Boltzmann start, float64.

    Tolerance: the total energy may not move by more than 1% of the equipartition kinetic energy
    (3N/2) k_B T = 0.349 eV of 9 atoms at 300 K, i.e. 3.5 meV (measured: 2.1 meV). Velocity
    Verlet's error on a smooth conservative potential is a bounded oscillation of order dt^2, so
    the same 50 fs at half the time step must deviate about 4 times less (measured: 0.53 meV,
    ratio 4.0); forces that were not the exact gradient of the energy, or an energy with a jump at
    the cut-off, would break that scaling."""
    totals, kinetic = _nve(trained[0], ethanol, 0.5)
    scale = 1.5 * len(ethanol) * units.kB * 300.0
    assert len(totals) == 101
    assert np.ptp(kinetic) > 0.5 * scale  # energy really flows between kinetic and potential
    deviation = np.abs(totals - totals[0]).max()
    assert deviation < 0.01 * scale
    finer, _ = _nve(trained[0], ethanol, 0.25)
    assert 3.0 < deviation / np.abs(finer - finer[0]).max() < 5.0


def test_stress_only_for_periodic_structures(trained):
    path, model = trained
    calc = SciPTCalculator(path)
    molecule = Atoms("CO", positions=[[0, 0, 0], [1.2, 0, 0]])
    molecule.calc = calc
    with pytest.raises(PropertyNotImplementedError, match="no periodic boundaries"):
        molecule.get_stress()
    crystal = Atoms("CO", positions=[[0, 0, 0], [1.2, 0.3, 0]], cell=np.diag([3.0, 3.2, 3.4]), pbc=True)
    crystal.calc = calc
    stress = crystal.get_stress()
    expected = model(atoms_to_graph(crystal, model.cfg.cutoff), stress=True)["stress"][0].numpy()
    assert stress.shape == (6,) and np.isfinite(stress).all()
    # Voigt order xx, yy, zz, yz, xz, xy
    assert stress == pytest.approx(expected[[0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1]], abs=1e-9)


def test_a_supercell_is_its_cell_repeated(trained):
    """A skewed cell with every side under the cut-off (each atom sees its own images and several of
    each neighbour's): the 2 x 1 x 1 and 2 x 2 x 2 supercells have 2 and 8 times the energy, the
    forces tiled and the same stress, as they must if the periodic neighbour list is right; atoms
    moved whole cells away change nothing."""
    path, _ = trained
    calc = SciPTCalculator(path, dtype="float64")
    cell = np.array([[2.9, 0.0, 0.0], [0.5, 3.1, 0.0], [-0.3, 0.4, 3.3]])
    prim = Atoms("COH", positions=[[0.1, 0.2, 0.3], [1.25, 0.15, 0.2], [0.6, 1.6, 1.9]], cell=cell, pbc=True)
    assert calc.cutoff > cell.max()
    prim.calc = calc
    energy, forces, stress = prim.get_potential_energy(), prim.get_forces(), prim.get_stress()
    for reps in ((2, 1, 1), (2, 2, 2)):
        supercell = prim.repeat(reps)
        supercell.calc = calc
        n = int(np.prod(reps))
        assert supercell.get_potential_energy() == pytest.approx(n * energy, rel=1e-12)
        assert supercell.get_forces() == pytest.approx(np.tile(forces, (n, 1)), abs=1e-10)
        assert supercell.get_stress() == pytest.approx(stress, abs=1e-10)
    unwrapped = prim.copy()
    unwrapped.positions += np.array([[7, -3, 2], [-11, 5, 0], [0, 0, -9]]) @ cell
    unwrapped.calc = calc
    assert unwrapped.get_potential_energy() == pytest.approx(energy, abs=1e-9)
    assert unwrapped.get_forces() == pytest.approx(forces, abs=1e-9)


def test_float32_loses_nothing_to_coordinates_far_from_the_origin(trained, ethanol):
    """Positions in float32 lost their differences' last digits far from the origin (a long run's
    unwrapped atoms, coordinates with an offset): 2e-4 eV/A of force error 100 cells away. The
    geometry is float64 whatever the model's dtype; only the edge vectors are cast."""
    path, _ = trained
    calc = SciPTCalculator(path, dtype="float32")
    cell = np.array([[2.9, 0.0, 0.0], [0.5, 3.1, 0.0], [-0.3, 0.4, 3.3]])
    prim = Atoms("COH", positions=[[0.1, 0.2, 0.3], [1.25, 0.15, 0.2], [0.6, 1.6, 1.9]], cell=cell, pbc=True)
    prim.calc = calc
    energy, forces, stress = prim.get_potential_energy(), prim.get_forces(), prim.get_stress()
    for moved in (np.full((3, 3), 1000), np.array([[1000, 0, 0], [-700, 300, 0], [0, 0, 900]])):
        far = prim.copy()
        far.positions += moved @ cell  # all atoms, or each its own whole number of cells
        far.calc = calc
        assert far.get_forces() == pytest.approx(forces, abs=1e-6)
        assert far.get_potential_energy() == pytest.approx(energy, abs=1e-6)
        assert far.get_stress() == pytest.approx(stress, abs=1e-6)
    molecule = ethanol.copy()
    molecule.calc = calc
    near = molecule.get_forces()
    molecule.positions += 1e4
    assert molecule.get_forces() == pytest.approx(near, abs=1e-6)


def test_the_model_runs_again_exactly_when_the_structure_changes(trained, ethanol, monkeypatch):
    path, _ = trained
    calc = SciPTCalculator(path, dtype="float64")
    calls = []
    forward = calc.model.forward
    monkeypatch.setattr(calc.model, "forward", lambda *a, **k: calls.append(1) or forward(*a, **k))
    atoms = ethanol.copy()
    atoms.calc = calc
    energy, forces = atoms.get_potential_energy(), atoms.get_forces()
    atoms.get_potential_energy(), atoms.get_forces()
    atoms.set_positions(atoms.get_positions())  # the same values
    assert len(calls) == 1
    step = 1e-6
    atoms.positions[0, 0] += step  # in place, as an optimizer may
    # a first-order change: minus the force along the step
    assert atoms.get_potential_energy() - energy == pytest.approx(-forces[0, 0] * step, rel=1e-3)
    assert len(calls) == 2
    atoms.numbers[1] = 8
    atoms.get_forces()
    atoms.cell = np.eye(3) * 9.0
    atoms.pbc = True
    atoms.get_forces()
    assert len(calls) == 4


def _slab(third) -> Atoms:
    """A CO monolayer periodic in x and y (cell 3.1 x 3.3: the in-plane images are well inside the
    cut-off), with ``third`` as its non-periodic cell vector."""
    return Atoms(
        "COCO",
        positions=[[0.2, 0.1, 0.0], [0.3, 0.2, 1.15], [1.7, 1.8, 0.4], [1.6, 1.7, -0.75]],
        cell=[[3.1, 0.0, 0.0], [0.4, 3.3, 0.0], third],
        pbc=[True, True, False],
    )


def test_a_slab_without_a_third_cell_vector(trained):
    """Periodic in two directions, the third cell vector zero (``atoms.cell[2] = 0``): energies as
    with any third vector, forces minus the energy's gradient, and no stress (no volume)."""
    path, _ = trained
    calc = SciPTCalculator(path, dtype="float64")
    slab = _slab([0.0, 0.0, 0.0])
    slab.calc = calc
    energy = slab.get_potential_energy()
    vacuum = _slab([0.0, 0.0, 20.0])
    vacuum.calc = calc
    assert energy == pytest.approx(vacuum.get_potential_energy(), abs=1e-10)
    assert slab.get_forces() == pytest.approx(vacuum.get_forces(), abs=1e-10)
    isolated = _slab([0.0, 0.0, 0.0])
    isolated.pbc = False
    isolated.calc = calc
    assert abs(isolated.get_potential_energy() - energy) > 1e-3  # the in-plane images do count
    # forces against central differences of the energy (float64, h = 1e-5 Angstrom: error ~h^2)
    h, numeric = 1e-5, np.zeros((len(slab), 3))
    for atom in range(len(slab)):
        for axis in range(3):
            energies = []
            for sign in (1, -1):
                moved = slab.copy()
                moved.positions[atom, axis] += sign * h
                moved.calc = calc
                energies.append(moved.get_potential_energy())
            numeric[atom, axis] = -(energies[0] - energies[1]) / (2 * h)
    forces = slab.get_forces()
    assert np.abs(forces).max() > 0.1
    assert forces == pytest.approx(numeric, abs=1e-6)
    with pytest.raises(PropertyNotImplementedError) as err:
        slab.get_stress()
    assert str(err.value) == (
        "stress: the structure's cell has no volume (a non-periodic axis has a zero cell vector), "
        "hence no stress"
    )
    assert np.isfinite(vacuum.get_stress()).all()  # with a volume, a stress as before


@pytest.mark.parametrize(
    "atoms, message",
    [
        (
            Atoms("CO", positions=[[0, 0, 0], [0.05, 0, 0]]),
            "structure: atoms 0 and 1 are 0.050 Angstrom apart (closer than 0.1 Angstrom)",
        ),
        (
            Atoms("OCF", positions=[[-1.2, 0, 0], [0, 0, 0], [1.3, 0, 0]]),
            "structure: atom 2: element F is not in the model's element table (H, C, O): the model "
            "never saw it",
        ),
        (
            Atoms("CO", positions=[[0, 0, 0], [1.2, 0, 0]], cell=[[3, 0, 0], [0, 3, 0], [0, 0, 0]], pbc=True),
            "structure: pbc is True along axes 0, 1, 2, but their cell vectors span no volume (give "
            "each periodic axis a non-zero cell vector independent of the others, or make pbc False "
            "along an axis without one)",
        ),
    ],
    ids=["too-close", "unknown-element", "flat-cell"],
)
def test_bad_structures_are_named(trained, atoms, message):
    atoms = atoms.copy()
    atoms.calc = SciPTCalculator(trained[0])
    with pytest.raises(DataError) as err:
        atoms.get_potential_energy()
    assert str(err.value) == message


def test_md_writes_one_frame_every_interval_from_step_zero(trained, ethanol, tmp_path):
    out = tmp_path / "traj.xyz"
    log = run_md(
        ethanol,
        SciPTCalculator(trained[0]),
        MDSettings(steps=12, temperature=300.0, interval=4),
        out,
        progress=False,
    )
    frames = read(out, index=":")
    assert [f.info["step"] for f in frames] == [0, 4, 8, 12] == [r["step"] for r in log]
    assert [f.info["time_fs"] for f in frames] == [0.0, 2.0, 4.0, 6.0]
    assert not np.allclose(frames[0].positions, frames[-1].positions)
    for frame, row in zip(frames, log):
        assert frame.get_potential_energy() == pytest.approx(row["energy"])
        assert frame.info["total_energy"] == pytest.approx(row["energy"] + row["kinetic_energy"])
        assert frame.get_forces().shape == (9, 3) and frame.get_momenta().shape == (9, 3)


def test_langevin_md_keeps_the_centre_of_mass_still(trained, ethanol, tmp_path):
    out = tmp_path / "nvt.xyz"
    run_md(
        ethanol,
        SciPTCalculator(trained[0]),
        MDSettings(steps=20, temperature=300.0, interval=10, ensemble="nvt"),
        out,
        progress=False,
    )
    frames = read(out, index=":")
    assert len(frames) == 3
    masses = frames[0].get_masses()
    centre = [masses @ f.positions / masses.sum() for f in frames]
    # to the 8 decimals of the extended XYZ file (momenta are of order 1 in ASE units)
    assert np.abs(frames[-1].get_momenta().sum(axis=0)).max() < 1e-6
    assert np.abs(centre[-1] - centre[0]).max() < 1e-6
    assert np.abs(frames[-1].positions - frames[0].positions).max() > 1e-3


def test_structures_without_a_pair_inside_the_cutoff_have_zero_forces(trained):
    """A lone atom, two atoms 20 Angstrom apart (cut-off 4) and one atom in a 10 Angstrom cell: the
    energy does not depend on the positions, so forces and stress are zero, not an autograd error;
    the far pair's energy is the sum of the two lone atoms', each atom's the lone atom's."""
    calc = SciPTCalculator(trained[0])
    energies = {}
    for symbol in "CO":
        lone = Atoms(symbol)
        lone.calc = calc
        energies[symbol] = lone.get_potential_energy()
        np.testing.assert_array_equal(lone.get_forces(), np.zeros((1, 3)))
    far = Atoms("CO", positions=[[0, 0, 0], [20.0, 0, 0]])
    far.calc = calc
    assert far.get_potential_energy() == pytest.approx(energies["C"] + energies["O"], abs=1e-9)
    # each atom's own energy in the structure's order: get_potential_energies()[i] is atom i's
    assert abs(energies["C"] - energies["O"]) > 1.0
    assert far.get_potential_energies() == pytest.approx([energies["C"], energies["O"]], abs=1e-9)
    np.testing.assert_array_equal(far.get_forces(), np.zeros((2, 3)))
    boxed = Atoms("C", cell=np.diag([10.0, 10.0, 10.0]), pbc=True)
    boxed.calc = calc
    assert boxed.get_potential_energy() == pytest.approx(energies["C"], abs=1e-9)
    np.testing.assert_array_equal(boxed.get_stress(), np.zeros(6))


def test_atomic_energies_sum_to_the_energy(trained, ethanol):
    atoms = ethanol.copy()
    atoms.calc = SciPTCalculator(trained[0])
    atomic = atoms.get_potential_energies()
    assert atomic.shape == (9,) and np.ptp(atomic) > 1.0  # hydrogens and oxygen differ by eV
    assert atomic.sum() == pytest.approx(atoms.get_potential_energy(), abs=1e-9)


def test_md_of_a_lone_atom_stays_at_rest(trained, tmp_path):
    """ASE rescales drawn momenta to the temperature after removing the drift: for one atom that
    was 0 / 0, and the run started from NaN."""
    lone = Atoms("C")
    initial_velocities(lone, 300.0, seed=0)
    np.testing.assert_array_equal(lone.get_momenta(), np.zeros((1, 3)))
    out = tmp_path / "lone.xyz"
    log = run_md(
        Atoms("C"), SciPTCalculator(trained[0]), MDSettings(steps=3, temperature=300.0), out, progress=False
    )
    frames = read(out, index=":")
    assert len(frames) == 4
    assert [row["temperature_K"] for row in log] == [0.0] * 4
    np.testing.assert_array_equal(frames[-1].positions, np.zeros((1, 3)))


def _device_error(device, key="--device") -> str:
    with pytest.raises(ConfigError) as err:
        torch_device(device, key)
    return str(err.value)


def test_a_device_this_machine_cannot_run_on_is_one_line(monkeypatch, tmp_path):
    """torch's own refusals are tracebacks raised only when the model moves (CUDA in a CPU build,
    a bad name): each is refused up front, naming the flag or setting."""
    assert torch_device("cpu") == torch.device("cpu")
    assert _device_error("gpu0") == "--device gpu0: not a torch device (expected cpu, cuda, cuda:N, ...)"
    assert _device_error("meta") == (
        "--device meta: meta tensors hold no values, a model cannot run there; use --device cpu"
    )
    monkeypatch.setattr(torch.version, "cuda", None)
    monkeypatch.setattr(torch.version, "hip", None, raising=False)
    assert (
        _device_error("cuda") == "--device cuda: this torch build has no CUDA (a CPU build); use --device cpu"
    )
    monkeypatch.setattr(torch.version, "cuda", "12.8")
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    assert _device_error("cuda:0") == (
        "--device cuda:0: this machine has no CUDA device torch can see; use --device cpu"
    )
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert _device_error("cuda:2") == "--device cuda:2: this machine has 2 CUDA devices (cuda:0 to cuda:1)"
    # the calculator's argument, before anything is loaded (there is no model at the path)
    with pytest.raises(ConfigError) as err:
        SciPTCalculator(tmp_path / "none", device="gpu0")
    assert str(err.value) == "device 'gpu0': not a torch device (expected cpu, cuda, cuda:N, ...)"


def test_the_calculator_loads_without_the_fine_tuning_machinery():
    # molecular dynamics with an exported potential needs the model, not Lightning or EWC
    watched = ("lightning", "sciPT.finetune", "sciPT.domains.molecules.ewc")
    assert modules_loaded_by("sciPT.domains.molecules.calculator", watched) == []


def test_an_unfixed_composition_is_warned_about_once(trained, ethanol, monkeypatch):
    """MD calls the calculator every step: the reference-energy warning comes once per composition
    (whatever the atoms' order), without the CLI's ``warning:`` prefix, and never for a composition
    the references were fitted on."""
    calc = SciPTCalculator(trained[0])
    # references fitted on ethanol's composition only (H6 C2 O1, elements H, C, O; orthonormal rows)
    span = [(np.array([6.0, 2.0, 1.0]) / np.sqrt(41.0)).tolist()]
    monkeypatch.setattr(calc.model, "reference_span", lambda head=None: span)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for atoms in (
            ethanol.copy(),
            Atoms("CO", positions=[[0, 0, 0], [1.2, 0, 0]]),
            Atoms("CO", positions=[[0, 0, 0], [1.25, 0, 0]]),
            Atoms("OC", positions=[[0, 0, 0], [1.2, 0, 0]]),
        ):
            atoms.calc = calc
            atoms.get_potential_energy()
    messages = [str(w.message) for w in caught if "reference energies" in str(w.message)]
    assert len(messages) == 1
    assert messages[0].startswith(
        "CO structure: 1 of 1 frames have compositions the reference energies of head "
    )
    assert "so their predicted energies are not absolute" in messages[0]


def test_a_dtype_other_than_float32_or_float64_is_refused(trained):
    with pytest.raises(ConfigError) as err:
        SciPTCalculator(trained[0], dtype="float16")
    assert str(err.value) == "dtype: expected float32 or float64, got 'float16'"


def _two_head_export(make_potential, path):
    """A float64 potential with heads ``default`` and ``acac`` (references H +0.5, C -1.0, O +2.0
    eV above the first head's), exported as fine-tuned on the older head ``default``."""
    from sciPT.checkpoint import export_model
    from sciPT.domains.molecules import domain

    model = make_potential(l_max=1, dtype="float64")
    model.add_head("acac")
    with torch.no_grad():
        model.extra_heads[0].reference_energies.add_(torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64))
    export_model(path / "model", model, domain.export_config(model.cfg, head="default"))
    return model


def test_the_head_predicts_with_the_head_asked_for(make_potential, tmp_path):
    """A two-head export predicts with the head it was fine-tuned on unless ``head=`` names another:
    the energy a user reads is that head's."""
    model = _two_head_export(make_potential, tmp_path)
    atoms = Atoms("CO", positions=[[0, 0, 0], [1.2, 0, 0]])
    graph = atoms_to_graph(atoms, 4.0)
    energies = {h: float(model.eval()(graph, head=h)["energy"][0]) for h in ("default", "acac")}
    # the references added: H +0.5, C -1.0, O +2.0 eV
    assert energies["acac"] - energies["default"] == pytest.approx(1.0, abs=1e-9)
    for head, expected in ((None, "default"), ("acac", "acac"), ("default", "default")):
        calc = SciPTCalculator(tmp_path, head=head)
        assert calc.head == expected
        atoms.calc = calc
        assert atoms.get_potential_energy() == pytest.approx(energies[expected], abs=1e-9)


def test_an_unknown_head_is_named_as_the_caller_named_it(make_potential, tmp_path, capsys):
    """The Python argument is ``head``; ``scipt md`` says ``--head``, also for an export outside a
    run (which records no reading to check it against), before the structure is read."""
    from sciPT.cli import main

    _two_head_export(make_potential, tmp_path)
    heads = "no such head; the model's heads are: default, acac"
    with pytest.raises(UserError) as err:
        SciPTCalculator(tmp_path / "model", head="PBE")
    assert str(err.value) == f"head PBE: {heads}"
    missing = tmp_path / "not_written.xyz"
    args = ["md", str(tmp_path / "model"), "--structure", str(missing), "--steps", "1"]
    assert main([*args, "--temperature", "300", "--output", str(tmp_path / "t.xyz"), "--head", "PBE"]) == 2
    assert capsys.readouterr().err.strip() == f"scipt: error: --head PBE: {heads}"
    assert not (tmp_path / "t.xyz").exists() and not (tmp_path / "t.xyz.partial").exists()


def test_device_refusals_name_the_key_they_came_from(monkeypatch):
    """The refusal names the flag or setting the user wrote, and its fix in the same spelling."""
    assert _device_error("meta", "device") == (
        "device 'meta': meta tensors hold no values, a model cannot run there; use device 'cpu'"
    )
    assert _device_error("meta", "--md-device") == (
        "--md-device meta: meta tensors hold no values, a model cannot run there; use --md-device cpu"
    )
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert _device_error("mps") == "--device mps: MPS is not available on this machine; use --device cpu"
    monkeypatch.setattr(torch.version, "cuda", "12.8")
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert _device_error("cuda:1") == "--device cuda:1: this machine has 1 CUDA device (cuda:0 to cuda:0)"


def test_another_backends_refusal_is_its_first_line(monkeypatch):
    """A backend's own error may run to many lines: the refusal keeps one."""
    real_empty = torch.empty

    def empty(*args, device=None, **kwargs):
        if torch.device(device).type == "xpu":
            raise RuntimeError("XPU runtime missing\nTraceback of the driver\nmore")
        return real_empty(*args, device=device, **kwargs)

    monkeypatch.setattr(torch, "empty", empty)
    assert _device_error("xpu") == "--device xpu: not available on this machine (XPU runtime missing)"


def test_a_torch_dtype_chooses_the_same_precision_as_its_name(trained):
    """``dtype=torch.float32`` is ``"float32"`` and ``dtype=torch.float64`` is ``"float64"``: the
    export (float64) converted to the one asked for, or kept."""
    path, _ = trained
    for dtype, name in ((torch.float32, "float32"), (torch.float64, "float64")):
        calc = SciPTCalculator(path, dtype=dtype)
        assert calc.model.cfg.dtype == name and calc.model.dtype == dtype


def test_results_are_float64_arrays_whatever_the_model_s_dtype(trained):
    """A float32 model's forces and stress leave the calculator as float64 numpy arrays, as ASE's
    own calculators give them: an optimizer or an integrator adding them to float64 positions and
    momenta then loses no digits to a float32 result."""
    calc = SciPTCalculator(trained[0], dtype="float32")
    cell = np.array([[2.9, 0.0, 0.0], [0.5, 3.1, 0.0], [-0.3, 0.4, 3.3]])
    prim = Atoms("COH", positions=[[0.1, 0.2, 0.3], [1.25, 0.15, 0.2], [0.6, 1.6, 1.9]], cell=cell, pbc=True)
    prim.calc = calc
    assert isinstance(prim.get_potential_energy(), float)
    assert prim.get_forces().dtype == np.float64 and prim.get_forces().shape == (3, 3)
    assert prim.get_stress().dtype == np.float64 and prim.get_stress().shape == (6,)
    assert prim.get_potential_energies().dtype == np.float64


def test_a_converted_potential_is_loaded_in_eval_mode(trained):
    """``load_potential`` promises a model in eval mode, also when it rebuilds it in another dtype
    (a freshly built module is in training mode)."""
    from sciPT.domains.molecules.calculator import load_potential

    for dtype in (None, "float32", "float64"):
        assert not load_potential(trained[0], dtype=dtype).training


def test_a_rocm_build_may_run_on_cuda(monkeypatch):
    """ROCm builds of torch have no ``torch.version.cuda`` but a ``torch.version.hip`` and address
    their GPUs as ``cuda``: they are no CPU build."""
    monkeypatch.setattr(torch.version, "cuda", None)
    monkeypatch.setattr(torch.version, "hip", "6.2.41133", raising=False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert torch_device("cuda:0") == torch.device("cuda:0")
    assert _device_error("cuda:1") == "--device cuda:1: this machine has 1 CUDA device (cuda:0 to cuda:0)"


def test_a_backend_refusal_without_words_is_named_by_its_type(monkeypatch):
    """A backend error with an empty message still says something: the error's type."""
    real_empty = torch.empty

    def empty(*args, device=None, **kwargs):
        if torch.device(device).type == "xpu":
            raise RuntimeError()
        return real_empty(*args, device=device, **kwargs)

    monkeypatch.setattr(torch, "empty", empty)
    assert _device_error("xpu") == "--device xpu: not available on this machine (RuntimeError)"


def test_a_device_setting_that_is_no_string_is_refused_in_one_line():
    """A configuration file may hold a number or a list where a device name belongs: torch raises a
    TypeError with its signatures, the user reads one line naming the setting."""
    assert _device_error(1.5, "distill.device") == (
        "distill.device '1.5': not a torch device (expected cpu, cuda, cuda:N, ...)"
    )
    assert _device_error(["cuda"], "distill.device") == (
        "distill.device \"['cuda']\": not a torch device (expected cpu, cuda, cuda:N, ...)"
    )


def test_another_dtype_keeps_the_head_the_export_was_fine_tuned_on(make_potential, tmp_path):
    """Converting the precision changes the arithmetic, not the head: without ``head=`` the float32
    calculator predicts with the fine-tuned head ``default`` as the float64 one does, the CO energy
    1 eV (C -1.0 + O +2.0) away from head ``acac``'s."""
    model = _two_head_export(make_potential, tmp_path)
    atoms = Atoms("CO", positions=[[0, 0, 0], [1.2, 0, 0]])
    expected = float(model.eval()(atoms_to_graph(atoms, 4.0), head="default")["energy"][0])
    for dtype in ("float32", torch.float32):
        calc = SciPTCalculator(tmp_path, dtype=dtype)
        atoms.calc = calc
        assert calc.head == "default"
        assert atoms.get_potential_energy() == pytest.approx(expected, abs=1e-4)


def test_load_potential_refuses_a_bad_device_before_loading(tmp_path):
    """``load_potential`` checks its device first: a typo is one line naming the argument, before
    any model is read (there is none at the path), not torch's traceback after loading."""
    from sciPT.domains.molecules.calculator import load_potential

    with pytest.raises(ConfigError) as err:
        load_potential(tmp_path / "none", device="gpu0")
    assert str(err.value) == "device 'gpu0': not a torch device (expected cpu, cuda, cuda:N, ...)"


def test_a_periodic_structure_s_stress_comes_with_its_energy(trained, monkeypatch):
    """One model call gives energy, forces and, for a periodic structure, stress: constant-pressure
    MD asks for all three every step, and a stress asked after the energy of unchanged atoms reuses
    that call rather than running the model again."""
    calc = SciPTCalculator(trained[0], dtype="float64")
    calls = []
    forward = calc.model.forward
    monkeypatch.setattr(calc.model, "forward", lambda *a, **k: calls.append(1) or forward(*a, **k))
    crystal = Atoms("CO", positions=[[0, 0, 0], [1.2, 0.3, 0]], cell=np.diag([3.0, 3.2, 3.4]), pbc=True)
    crystal.calc = calc
    crystal.get_potential_energy()
    stress = crystal.get_stress()
    crystal.get_forces(), crystal.get_potential_energies()
    assert len(calls) == 1 and np.abs(stress).max() > 0


def test_a_lone_atom_s_unfixed_reference_is_warned_about(trained, monkeypatch):
    """References fitted on ethanol alone fix 6 H + 2 C + O, not a lone C atom's energy: its energy
    is the minimum-norm share, an offset nobody measured, and the calculator says so once."""
    calc = SciPTCalculator(trained[0])
    span = [(np.array([6.0, 2.0, 1.0]) / np.sqrt(41.0)).tolist()]
    monkeypatch.setattr(calc.model, "reference_span", lambda head=None: span)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(2):
            lone = Atoms("C")
            lone.calc = calc
            lone.get_potential_energy()
    messages = [str(w.message) for w in caught if "reference energies" in str(w.message)]
    assert len(messages) == 1 and messages[0].startswith("C structure: 1 of 1 frames have compositions")


def test_periodic_images_unseen_in_training_are_warned_about_once(trained, ethanol, boxed, tmp_path):
    """The export records that training had no periodic frame: an H atom in a 2 Angstrom box (its
    images within the cut-off) is warned of once, as a Python warning, whatever follows; ethanol in
    a 20 Angstrom box, whose graph is the isolated molecule's, is not; nor is anything by an export
    written before the record."""
    import json
    import shutil

    from sciPT.checkpoint import CONFIG_NAME

    said = (
        "H structure: periodic images within the cutoff, but head default was trained on molecules alone "
        "(no training frame had one): its energies, forces and stress here are outside what it learnt"
    )

    def messages(calc, structures) -> list[str]:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for atoms in structures:
                atoms.calc = calc
                atoms.get_potential_energy()
        return [str(w.message) for w in caught if "periodic images" in str(w.message)]

    def h_box():
        return Atoms("H", cell=[2, 2, 2], pbc=True)

    assert json.loads((trained[0] / CONFIG_NAME).read_text())["model"]["periodic_images"] is False
    assert messages(SciPTCalculator(trained[0]), [boxed(ethanol, 20.0), h_box(), h_box()]) == [said]
    older = tmp_path / "older"
    shutil.copytree(trained[0], older)
    config = json.loads((older / CONFIG_NAME).read_text())
    del config["model"]["periodic_images"]
    (older / CONFIG_NAME).write_text(json.dumps(config))
    assert messages(SciPTCalculator(older), [h_box()]) == []
