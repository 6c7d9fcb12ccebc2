"""``scipt predict`` of a molecules run (:func:`sciPT.domains.molecules.predict.predict_run`): which
frame gets which prediction, the input's own keys kept beside them under names ASE does not read
as predictions, the units and periodicity of the chosen head's level, and the lines it prints. Every
number against the model called on each frame alone."""

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from ase import Atoms, units
from ase.calculators.singlepoint import SinglePointCalculator
from ase.constraints import FixAtoms
from ase.io import read, write

from sciPT.checkpoint import CONFIG_NAME, WEIGHTS_NAME
from sciPT.domains.molecules.data import Frame
from sciPT.domains.molecules.graphs import frame_to_graph
from sciPT.domains.molecules.predict import predict_run

WATER = Atoms("OHH", positions=[[0.0, 0.0, 0.0], [0.96, 0.0, 0.0], [-0.24, 0.93, 0.0]])


def fake_run(path, export: dict | None = None, data: dict | None = None):
    """A run folder holding a model export of config ``export`` (the weights are not read: the
    model is passed in) and a config whose ``data`` section is ``data``."""
    (path / "model").mkdir()
    (path / "model" / WEIGHTS_NAME).write_bytes(b"")
    (path / "model" / CONFIG_NAME).write_text(json.dumps(export or {}))
    config = {"data": data} if data else {}
    return SimpleNamespace(path=path, config=path / "config.yaml", read_config=lambda: config)


def predict(model, frames: list, tmp_path, capsys, *, export=None, data=None, head=None, batch=32):
    """Write ``frames`` to an input file, predict them, and return the input's frames as read back
    (values as the file holds them), the output's frames and the lines printed to stderr."""
    source, output = tmp_path / "in.xyz", tmp_path / "out.xyz"
    write(source, frames)
    run = fake_run(tmp_path, export, data)
    args = SimpleNamespace(input=str(source), output=str(output), head=head, frames_per_batch=batch)
    capsys.readouterr()
    assert predict_run(run, args, model) == 0
    given = read(source, index=":")
    return given, read(output, index=":"), capsys.readouterr().err.strip().splitlines()


def alone(model, atoms, scale: float = 1.0, head: str | None = None) -> dict:
    """The model's outputs on ``atoms`` alone (positions and cell times ``scale``: Angstrom)."""
    frame = Frame(
        numbers=atoms.numbers,
        positions=atoms.positions * scale,
        cell=np.asarray(atoms.cell.array) * scale,
        pbc=np.asarray(atoms.pbc),
        source="test",
    )
    out = model(frame_to_graph(frame, model.cfg.cutoff), forces=True, stress=bool(atoms.pbc.any()), head=head)
    return {k: v.detach().double().numpy() for k, v in out.items()}


@pytest.fixture
def ethanol(shipped):
    return read(shipped / "ethanol" / "train.xyz", index=":3")


def test_frames_of_different_sizes_in_batches_each_get_their_own_predictions_and_keys(
    make_potential, ethanol, tmp_path, capsys
):
    """Frames of 9 and 3 atoms in batches of two: every output frame carries its own energy, per-atom
    energies and forces (never a neighbour's atoms) and its own input keys (not those of the frame at
    the same place of the first batch), or a user's predictions would sit on the wrong structure."""
    water = WATER.copy()
    water.calc = SinglePointCalculator(water, energy=-2079.0, forces=np.zeros((3, 3)))
    frames = [ethanol[0], water, ethanol[1], ethanol[2]]
    for i, atoms in enumerate(frames):
        atoms.info["tag_name"] = f"conf-{i}"
    model = make_potential(l_max=1)
    given, predicted, _ = predict(model, frames, tmp_path, capsys, batch=2)
    assert [len(a) for a in predicted] == [9, 3, 9, 9]
    for i, (got, atoms) in enumerate(zip(predicted, given, strict=True)):
        expected = alone(model, atoms)
        assert got.info["tag_name"] == f"conf-{i}"
        assert got.get_potential_energy() == pytest.approx(float(expected["energy"][0]), abs=1e-8)
        assert got.get_potential_energies() == pytest.approx(expected["atomic_energies"], abs=1e-8)
        assert got.get_potential_energies().sum() == pytest.approx(got.get_potential_energy(), abs=1e-8)
        assert got.get_forces() == pytest.approx(expected["forces"], abs=1e-8)
        assert np.array_equal(got.numbers, atoms.numbers)
        assert got.positions == pytest.approx(atoms.positions, abs=1e-12)


def test_the_input_labels_are_renamed_and_a_taken_name_goes_one_prefix_further(
    make_potential, ethanol, tmp_path, capsys
):
    """The input's reference energy and forces become ``input_energy`` and ``input_forces`` (ASE
    would read them as the predictions otherwise); where ``input_energy`` and ``input_input_energy``
    are already the input's own, both stay and the label becomes ``input_input_input_energy``; one
    line says which names moved, in the order they are met."""
    atoms = ethanol[0]
    atoms.info["input_energy"] = "first"
    atoms.info["input_input_energy"] = "second"
    atoms.info["note"] = "kept"
    atoms.new_array("hirshfeld", np.linspace(-0.3, 0.3, len(atoms)))
    model = make_potential(l_max=1)
    (atoms,), (got,), lines = predict(model, [atoms], tmp_path, capsys)
    assert got.info["input_energy"] == "first"
    assert got.info["input_input_energy"] == "second"
    assert got.info["input_input_input_energy"] == atoms.get_potential_energy()
    assert got.info["note"] == "kept" and got.info["OH_dist"] == atoms.info["OH_dist"]
    assert np.array_equal(got.arrays["input_forces"], atoms.get_forces())
    assert np.array_equal(got.arrays["hirshfeld"], atoms.arrays["hirshfeld"])
    assert "energy" not in got.info and "forces" not in got.arrays  # the predictions are the calculator's
    assert got.get_potential_energy() == pytest.approx(float(alone(model, atoms)["energy"][0]), abs=1e-8)
    assert lines[-2] == (
        "kept the input's forces as input_forces, energy as input_input_input_energy "
        "(energy, energies, forces and stress are the predictions)"
    )


def test_an_input_without_labels_renames_nothing_and_says_nothing_of_it(make_potential, tmp_path, capsys):
    """Bare structures: no ``input_`` key appears and no "kept the input's" line; the last line says
    how many frames were written, without stress where no frame has a cell volume."""
    model = make_potential(l_max=1)
    _, predicted, lines = predict(model, [WATER.copy(), WATER.copy()], tmp_path, capsys)
    assert len(predicted) == 2
    assert not [k for a in predicted for k in [*a.info, *a.arrays] if k.startswith("input")]
    assert not any(line.startswith("kept the input's") for line in lines)
    assert lines[-1] == (
        f"wrote 2 frames with predicted energy, per-atom energies, forces to {tmp_path / 'out.xyz'} "
        "(eV, Angstrom)"
    )


def test_only_a_frame_with_a_cell_volume_gets_a_stress_and_periodicity_is_kept(
    make_potential, ethanol, tmp_path, capsys
):
    """A molecule before a boxed frame in one batch: the molecule gets no stress (as the ASE
    calculator) and stays non-periodic; the crystal gets its own stress, not the first frame's of
    its batch; the last line mentions stress since one frame has a volume, and counts frames, not
    batches."""
    boxed = ethanol[1].copy()
    boxed.set_cell(np.diag([9.0, 9.5, 10.0]))
    boxed.pbc = True
    model = make_potential(l_max=1)
    (_, boxed), (molecule, crystal), lines = predict(model, [ethanol[0], boxed], tmp_path, capsys)
    assert "stress" not in molecule.calc.results
    assert not molecule.pbc.any() and crystal.pbc.all()
    expected = alone(model, boxed)
    stress = expected["stress"][0]
    voigt = [stress[0, 0], stress[1, 1], stress[2, 2], stress[1, 2], stress[0, 2], stress[0, 1]]
    assert np.abs(voigt).max() > 0
    assert crystal.get_stress() == pytest.approx(voigt, abs=1e-10)
    assert crystal.get_potential_energy() == pytest.approx(float(expected["energy"][0]), abs=1e-8)
    assert lines[-1] == (
        "wrote 2 frames with predicted energy, per-atom energies, forces and, where the cell has a "
        f"volume, stress to {tmp_path / 'out.xyz'} (eV, Angstrom)"
    )


def test_the_chosen_heads_recorded_length_unit_reads_the_input_and_the_output_is_in_angstrom(
    make_potential, ethanol, tmp_path, capsys
):
    """``--head default`` of a model whose export records that head's frames in Bohr (and whose
    default head is another, 1 eV per reference higher): the input's positions are read in Bohr,
    the output's are those times 0.529 Angstrom, and the energy is the default head's on them; the
    input's own positions never replace the converted ones."""
    model = make_potential(l_max=1)
    model.add_head("acac")
    with torch.no_grad():
        model.extra_heads[0].reference_energies.add_(1.0)
    model.default_head = "acac"  # as the loader sets it for a fine-tuned model
    atoms = ethanol[0]
    atoms.positions /= units.Bohr * 1.2  # a molecule in Bohr, a little stretched
    export = {"head_data": {"default": {"length_unit": "Bohr"}}}
    (atoms,), (got,), _ = predict(model, [atoms], tmp_path, capsys, export=export, head="default")
    assert got.positions == pytest.approx(atoms.positions * units.Bohr, abs=1e-8)  # 8 decimals written
    expected = alone(model, atoms, scale=units.Bohr, head="default")
    assert got.get_potential_energy() == pytest.approx(float(expected["energy"][0]), abs=1e-8)
    assert got.get_forces() == pytest.approx(expected["forces"], abs=1e-8)
    through_acac = alone(model, atoms, scale=units.Bohr, head="acac")
    assert got.get_potential_energy() == pytest.approx(float(through_acac["energy"][0]) - 9.0, abs=1e-6)


def test_the_inputs_constraints_are_kept(make_potential, ethanol, tmp_path, capsys):
    """Atoms fixed in the input stay fixed in the output, so a relaxation or MD started from the
    predicted file keeps them."""
    atoms = ethanol[0]
    atoms.set_constraint(FixAtoms(indices=[0, 2]))
    _, (got,), _ = predict(make_potential(l_max=1), [atoms], tmp_path, capsys)
    assert len(got.constraints) == 1
    assert got.constraints[0].get_indices().tolist() == [0, 2]


def test_a_composition_the_references_never_fixed_is_warned_of_as_a_prediction(
    make_potential, tmp_path, capsys
):
    """References fitted on ethanol alone: a water frame's predicted energy carries an offset nobody
    measured, and the warning says what that means for predictions (not for scored errors)."""
    from sciPT.domains.molecules.evaluate import PREDICTED_OFFSET
    from sciPT.domains.molecules.references import ISOLATED_ATOMS_HINT

    model = make_potential(l_max=1)
    ethanol = np.array([6.0, 2.0, 1.0])  # H, C, O
    model.set_reference_span([(ethanol / np.linalg.norm(ethanol)).tolist()])
    _, _, lines = predict(model, [WATER.copy()], tmp_path, capsys)
    assert lines[0] == (
        f"warning: {tmp_path / 'in.xyz'}: 1 of 1 frames have compositions the reference energies of head "
        "default were not fitted on (its training compositions fix 1 of 3 element references): their "
        f"energies carry an offset nobody measured, {PREDICTED_OFFSET}; " + ISOLATED_ATOMS_HINT
    )


def test_frames_with_periodic_images_are_counted_for_a_head_trained_on_molecules_alone(
    make_potential, ethanol, boxed, tmp_path, capsys
):
    """One line for the file, counting the frames with periodic images within the cut-off (ethanol in
    a 3 Angstrom box; in a 20 Angstrom box it has none); none where training's periodicity was not
    recorded."""
    model = make_potential(l_max=1)
    frames = [boxed(ethanol[0], 3.0), boxed(ethanol[1], 20.0), ethanol[2]]
    (tmp_path / "unrecorded").mkdir()
    assert not any(
        "periodic images" in line for line in predict(model, frames, tmp_path / "unrecorded", capsys)[2]
    )
    model.set_periodic_images(False)
    _, _, lines = predict(model, frames, tmp_path, capsys)
    assert [line for line in lines if "periodic images" in line] == [
        f"warning: {tmp_path / 'in.xyz'}: 1 of 3 frames: periodic images within the cutoff, but head "
        "default was trained on molecules alone (no training frame had one): its energies, forces and "
        "stress here are outside what it learnt"
    ]
