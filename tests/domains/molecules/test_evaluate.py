"""The warning of ``scipt evaluate`` that frames look like another head's level of theory."""

import dataclasses

import pytest
import torch

from sciPT.domains.molecules import evaluate
from sciPT.domains.molecules.evaluate import (
    evaluate_potential,
    key_digest,
    other_head_warning,
    training_frames,
)
from sciPT.domains.molecules.graphs import frame_to_graph

OFFSETS = [3.0, -3.0, 6.0, -6.0]  # meV/atom added to the labels of the four frames


@pytest.fixture
def two_levels(make_potential, ethanol_frames):
    """A potential with heads ``default`` and ``acac``, the second a copy of the first with every
    reference energy 1 eV higher (so 1000 meV/atom above it on any frame), and the four ethanol
    frames labelled with the ``default`` head's own energies plus ``OFFSETS`` plus ``shift``."""
    model = make_potential(l_max=1)
    model.add_head("acac")
    with torch.no_grad():
        model.extra_heads[0].reference_energies.add_(1.0)

    def labelled(shift: float = 0.0) -> list:
        graphs = [frame_to_graph(f, model.cfg.cutoff) for f in ethanol_frames]
        with torch.no_grad():
            own = [float(model(g, forces=False, head="default")["energy"][0]) for g in graphs]
        frames = [
            dataclasses.replace(f, energy=e + (d + shift) * len(f.numbers) / 1000)
            for f, e, d in zip(ethanol_frames, own, OFFSETS)
        ]
        return [frame_to_graph(f, model.cfg.cutoff) for f in frames]

    return model, labelled


def warning(model, graphs, head):
    model.select_head(head)
    return other_head_warning(model, graphs, evaluate_potential(model, graphs), "old.xyz")


def test_frames_of_the_other_head_level_name_that_head(two_levels):
    model, labelled = two_levels
    graphs = labelled()
    # through acac the errors are 1000 - OFFSETS: mean and MAE 1000; through default -OFFSETS: MAE 4.5
    assert warning(model, graphs, "acac") == (
        "warning: old.xyz through head acac: energies off by +1000.0 meV/atom on average (MAE 1000.0), "
        "as between two levels of theory; through head default the energy MAE is 4.5 meV/atom: if the "
        "frames are at its level, evaluate with --head default"
    )
    # through their own head the errors average to 0: no offset, no warning
    assert warning(model, graphs, "default") == ""


def test_an_offset_the_other_heads_do_not_explain_is_no_warning(two_levels, make_potential):
    model, labelled = two_levels
    # an undertrained head is off by its own near-constant amount: through default every error is
    # -200 - OFFSETS (mean -200, MAE 200), but through acac the MAE is 800, not below half of 200
    assert warning(model, labelled(200.0), "default") == ""
    # the same offset through a model of one head: no other head to suggest
    one, graphs = make_potential(l_max=1), labelled(200.0)
    assert other_head_warning(one, graphs, evaluate_potential(one, graphs), "old.xyz") == ""


def test_training_frames_reads_the_files_as_recorded_and_names_those_it_could_not(tmp_path, monkeypatch):
    from pathlib import Path

    from ase.io import read, write

    from sciPT.domains.molecules.dataset import structure_key
    from sciPT.files import file_sha256

    shipped = Path(__file__).resolve().parents[3] / "data_recipes" / "molecules" / "ethanol" / "train.xyz"
    frames = read(shipped, index=":6")
    kept, changed = tmp_path / "kept.xyz", tmp_path / "changed.xyz"
    write(kept, frames[:4])
    write(changed, frames[4:])
    entries = [
        {"path": str(kept), "sha256": file_sha256(kept)},
        {"path": str(changed), "sha256": "0" * 64},
        {"path": str(tmp_path / "gone.xyz"), "sha256": "0" * 64},
    ]
    seen = training_frames([("pre-training", entries, 3)])
    # the first 3 frames of the file as recorded; the others named with why
    assert set(seen.how) == {key_digest(structure_key(a.numbers, a.positions, a.cell)) for a in frames[:3]}
    assert set(seen.how.values()) == {"pre-training"}
    assert seen.unchecked == [
        f"{changed} (changed since it was recorded: another SHA-256)",
        f"{tmp_path / 'gone.xyz'} (not a file on this machine)",
    ]
    bound = kept.stat().st_size - 1
    monkeypatch.setattr(evaluate, "FRAME_CHECK_MAX_BYTES", bound)
    unchecked = training_frames([("pre-training", entries[:1], None)]).unchecked
    assert unchecked == [f"{kept} (past the {bound:,} bytes this check reads)"]


def test_training_frames_reads_a_file_once_then_from_the_cache(tmp_path, monkeypatch):
    from pathlib import Path

    from ase.io import read, write

    from sciPT.files import file_sha256

    shipped = Path(__file__).resolve().parents[3] / "data_recipes" / "molecules" / "ethanol" / "train.xyz"
    kept = tmp_path / "kept.xyz"
    write(kept, read(shipped, index=":5"))
    monkeypatch.setenv("SCIPT_CACHE", str(tmp_path / "cache"))
    entries = [{"path": str(kept), "sha256": file_sha256(kept)}]
    first = training_frames([("pre-training", entries, None)])
    assert len(first.how) == 5 and len(list((tmp_path / "cache/frame-keys").iterdir())) == 1

    def unread(*args, **kwargs):
        raise AssertionError("read again")

    monkeypatch.setattr(evaluate, "read_frames", unread)
    assert training_frames([("pre-training", entries, None)]).how == first.how
    # other reading settings (the first 2 frames) are kept apart
    monkeypatch.undo()
    monkeypatch.setenv("SCIPT_CACHE", str(tmp_path / "cache"))
    assert len(training_frames([("pre-training", entries, 2)]).how) == 2


def test_a_head_reads_frames_as_its_export_records_and_an_old_export_as_the_run_did(tmp_path):
    """``run_data_config`` with a head: that head's keys and units where the export records them
    (``head_data``), else (an export written before the record, or a head it lacks) the run's."""
    import json
    from types import SimpleNamespace

    from sciPT.checkpoint import CONFIG_NAME, WEIGHTS_NAME

    (tmp_path / "model").mkdir()
    (tmp_path / "model" / WEIGHTS_NAME).write_bytes(b"")
    run_data = {"energy_unit": "kcal/mol", "energy_key": "E", "paths": ["acac.xyz"], "max_frames": 7}
    run = SimpleNamespace(
        path=tmp_path, config=tmp_path / "config.yaml", read_config=lambda: {"data": run_data}
    )
    args = SimpleNamespace(energy_key=None, forces_key="none", stress_key=None)

    def export(config: dict) -> None:
        (tmp_path / "model" / CONFIG_NAME).write_text(json.dumps(config))

    export({"head_data": {"train": {"energy_unit": "eV", "energy_key": "energy", "length_unit": "Bohr"}}})
    old = evaluate.run_data_config(run, args, "train")
    assert (old.energy_unit, old.energy_key, old.length_unit) == ("eV", "energy", "Bohr")
    assert old.forces_key is None and old.paths == [] and old.max_frames is None  # --forces-key none on top
    for config, head in (({"head_data": {"train": {"energy_unit": "eV"}}}, "acac"), ({}, "train")):
        export(config)
        data = evaluate.run_data_config(run, args, head)
        assert (data.energy_unit, data.energy_key, data.length_unit) == ("kcal/mol", "E", "Angstrom")


def test_only_heads_below_half_the_active_mae_are_suggested(two_levels, monkeypatch):
    """``other_head_warning`` suggests another head only where its energy MAE is below half the
    active head's: through acac the MAE is 1000 meV/atom, so 600 is no suggestion and 400 is."""
    model, labelled = two_levels
    graphs = labelled()
    monkeypatch.setattr(evaluate, "energy_mae", lambda *args, **kwargs: 600.0)
    assert warning(model, graphs, "acac") == ""
    monkeypatch.setattr(evaluate, "energy_mae", lambda *args, **kwargs: 400.0)
    assert "through head default the energy MAE is 400.0 meV/atom" in warning(model, graphs, "acac")


def test_a_frame_in_several_recorded_groups_keeps_the_first_groups_use(tmp_path, monkeypatch):
    """``training_frames``: a file recorded both as fine-tuning and as pre-training data counts its
    frames as fine-tuning ones (the first group), as the docstring says."""
    from pathlib import Path

    from ase.io import read, write

    from sciPT.files import file_sha256

    shipped = Path(__file__).resolve().parents[3] / "data_recipes" / "molecules" / "ethanol" / "train.xyz"
    kept = tmp_path / "kept.xyz"
    write(kept, read(shipped, index=":3"))
    monkeypatch.setenv("SCIPT_CACHE", str(tmp_path / "cache"))
    entries = [{"path": str(kept), "sha256": file_sha256(kept)}]
    seen = training_frames([("fine-tuning", entries, None), ("pre-training", entries, None)])
    assert len(seen.how) == 3 and set(seen.how.values()) == {"fine-tuning"}


def test_the_stress_line_converts_ev_per_cubic_angstrom_to_gpa():
    """``stress_lines``: 1 eV/Å³ = 160.2177 GPa, so an MAE of 0.01 and an RMSE of 0.02 eV/Å³ are
    1.60 and 3.20 GPa (3 significant figures: 1.6 and 3.2)."""
    from sciPT.domains.molecules.report import stress_lines

    metrics = {"stress_frames": 2, "stress_mae_eV_per_A3": 0.01, "stress_rmse_eV_per_A3": 0.02}
    line, blank = stress_lines(metrics)
    assert blank == ""
    assert line.endswith("MAE 0.01 eV/Å³, RMSE 0.02 eV/Å³ (1.6 and 3.2 GPa).")
    assert line.startswith("Stress, 2 frames with a stress label")
    assert stress_lines({"energy_mae_meV_per_atom": 1.0}) == []


def test_predict_writes_each_frames_own_energy_and_forces(make_potential, tmp_path):
    """``scipt predict`` on several frames in one batch: each output frame carries the energy and
    forces the model gives that frame alone (not another frame's of its batch)."""
    import json
    from pathlib import Path
    from types import SimpleNamespace

    from ase.io import read, write

    from sciPT.checkpoint import CONFIG_NAME, WEIGHTS_NAME
    from sciPT.domains.molecules.predict import predict_run

    shipped = Path(__file__).resolve().parents[3] / "data_recipes" / "molecules" / "ethanol" / "train.xyz"
    given = read(shipped, index=":4")
    source, output = tmp_path / "in.xyz", tmp_path / "out.xyz"
    write(source, given)
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / WEIGHTS_NAME).write_bytes(b"")
    (tmp_path / "model" / CONFIG_NAME).write_text(json.dumps({}))
    run = SimpleNamespace(path=tmp_path, config=tmp_path / "config.yaml", read_config=lambda: {})
    args = SimpleNamespace(input=str(source), output=str(output), head=None, frames_per_batch=32)
    model = make_potential(l_max=1)
    assert predict_run(run, args, model) == 0
    predicted = read(output, index=":")
    assert len(predicted) == 4
    energies = []
    for atoms, frame in zip(predicted, given, strict=True):
        alone = model(frame_to_graph(_frame(frame), model.cfg.cutoff), forces=True)
        energies.append(atoms.get_potential_energy())
        assert atoms.get_potential_energy() == pytest.approx(float(alone["energy"][0]), abs=1e-8)
        assert atoms.get_forces() == pytest.approx(alone["forces"].detach().numpy(), abs=1e-8)
    assert len(set(energies)) == 4  # four different structures, four different energies


def _frame(atoms):
    """An ASE structure as the molecules domain's frame (Angstrom, no labels)."""
    import numpy as np

    from sciPT.domains.molecules.data import Frame

    return Frame(
        numbers=atoms.numbers,
        positions=atoms.positions,
        cell=np.asarray(atoms.cell),
        pbc=atoms.pbc,
        source="t",
    )
