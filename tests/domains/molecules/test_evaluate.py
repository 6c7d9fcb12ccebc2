"""The warning of ``scipt evaluate`` that frames look like another head's level of theory."""

import dataclasses
from pathlib import Path

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


def _hand_outputs(model, graphs):
    """Energies, forces and stresses of each graph, predicted alone."""
    out = [model(g, forces=True, stress=bool(g.periodic.any())) for g in graphs]
    return (
        [float(o["energy"][0]) for o in out],
        [o["forces"].detach().double().numpy() for o in out],
        [o["stress"][0].detach().double().numpy() if "stress" in o else None for o in out],
    )


def test_parity_values_are_energies_per_atom_and_force_components_with_their_signs(
    make_potential, ethanol_frames
):
    """The parity plots' values: per frame the label and prediction divided by its atoms (eV/atom), and
    every force component as labelled and as predicted (a sign flip would mirror the plot)."""
    import numpy as np

    model = make_potential(l_max=1)
    graphs = [frame_to_graph(f, model.cfg.cutoff) for f in ethanol_frames[:3]]
    energies, forces, _ = _hand_outputs(model, graphs)
    ev = evaluate_potential(model, graphs, batch_size=2)
    true, pred = ev.energy
    assert true == pytest.approx([f.energy / 9 for f in ethanol_frames[:3]], rel=1e-12)
    assert pred == pytest.approx([e / 9 for e in energies], rel=1e-9)
    f_true, f_pred = ev.forces
    assert f_true == pytest.approx(
        np.concatenate([f.forces.reshape(-1) for f in ethanol_frames[:3]]), abs=1e-12
    )
    assert f_pred == pytest.approx(np.concatenate([f.reshape(-1) for f in forces]), abs=1e-9)


def test_no_frame_with_forces_reports_no_force_count(make_potential, ethanol_frames):
    """Frames read without forces: energy errors only, and no ``forces_frames`` of 0 beside them
    (the count is given only where some frames have forces and some do not)."""
    model = make_potential(l_max=1)
    frames = [dataclasses.replace(f, forces=None, missing_forces="no forces") for f in ethanol_frames[:2]]
    m = evaluate_potential(model, [frame_to_graph(f, model.cfg.cutoff) for f in frames]).metrics
    assert "energy_mae_meV" in m
    assert not [k for k in m if k.startswith("forces")]


def test_stress_errors_are_over_the_voigt_components_of_the_frames_with_a_stress(
    make_potential, ethanol_frames
):
    """Periodic frames, one labelled with a stress and one without: the stress MAE and RMSE (eV/Å³)
    are over the 6 Voigt components of the labelled one alone, and ``stress_frames`` counts it; a
    set without stress labels has no stress metrics."""
    import math

    import numpy as np

    model = make_potential(l_max=1)
    cell = 12.0 * np.eye(3)
    label = np.array([[0.01, 0.002, -0.003], [0.002, -0.02, 0.004], [-0.003, 0.004, 0.015]])
    boxed = [
        dataclasses.replace(f, positions=f.positions + 6.0, cell=cell, pbc=np.array([True] * 3))
        for f in ethanol_frames[:2]
    ]
    frames = [dataclasses.replace(boxed[0], stress=label), boxed[1]]
    graphs = [frame_to_graph(f, model.cfg.cutoff) for f in frames]
    _, _, stresses = _hand_outputs(model, graphs)
    error = stresses[0] - label
    voigt = np.array([error[0, 0], error[1, 1], error[2, 2], error[1, 2], error[0, 2], error[0, 1]])
    m = evaluate_potential(model, graphs).metrics
    assert m["stress_frames"] == 1
    assert m["stress_mae_eV_per_A3"] == pytest.approx(np.abs(voigt).mean(), rel=1e-9)
    assert m["stress_rmse_eV_per_A3"] == pytest.approx(math.sqrt(np.mean(voigt**2)), rel=1e-9)
    unlabelled = evaluate_potential(model, [graphs[1]]).metrics
    assert not [k for k in unlabelled if k.startswith("stress")]


def test_energy_mae_is_the_mean_absolute_error_per_atom_in_mev_through_the_named_head(two_levels):
    """``energy_mae``, which decides which other head is suggested: through ``default`` the errors
    are -OFFSETS meV/atom (MAE 4.5, though they average to 0), through ``acac`` 1000 - OFFSETS
    (MAE 1000), whichever head is active."""
    model, labelled = two_levels
    graphs = labelled()
    model.select_head("acac")
    assert evaluate.energy_mae(model, graphs, "default") == pytest.approx(4.5, rel=1e-6)
    model.select_head("default")
    assert evaluate.energy_mae(model, graphs, "acac") == pytest.approx(1000.0, rel=1e-6)


def test_an_offset_below_half_the_mae_is_no_warning_whatever_the_other_heads_give(two_levels, monkeypatch):
    """Through default with labels 2 meV/atom higher the errors are -5, 1, -8, 4 meV/atom: mean -2,
    MAE 4.5, an offset below half the MAE (scatter, not another level), so no head is suggested even
    where one would fit better."""
    model, labelled = two_levels
    monkeypatch.setattr(evaluate, "energy_mae", lambda *args, **kwargs: 0.0)
    assert warning(model, labelled(2.0), "default") == ""


def test_a_head_at_exactly_half_the_active_mae_is_not_suggested(two_levels, monkeypatch):
    """ "less than half": another head whose MAE is exactly half the active head's is no suggestion."""
    import numpy as np

    model, labelled = two_levels
    graphs = labelled()
    model.select_head("acac")
    true, pred = evaluate_potential(model, graphs).energy
    half = float(np.abs(1000 * (pred - true)).mean()) / 2
    monkeypatch.setattr(evaluate, "energy_mae", lambda *args, **kwargs: half)
    assert warning(model, graphs, "acac") == ""
    monkeypatch.setattr(evaluate, "energy_mae", lambda *args, **kwargs: half * 0.999)
    assert warning(model, graphs, "acac") != ""


def test_two_better_heads_are_named_together(two_levels, monkeypatch):
    """Where two other heads fit the frames better the warning names both, in the plural, with an
    ``--head`` option for each."""
    model, labelled = two_levels
    model.add_head("md17")
    graphs = labelled()
    monkeypatch.setattr(
        evaluate, "energy_mae", lambda model, graphs, head, *a: {"default": 4.5, "md17": 7.3}[head]
    )
    assert warning(model, graphs, "acac") == (
        "warning: old.xyz through head acac: energies off by +1000.0 meV/atom on average (MAE 1000.0), "
        "as between two levels of theory; through heads default, md17 the energy MAEs are 4.5, 7.3 "
        "meV/atom: if the frames are at one of their levels, evaluate with --head default or --head md17"
    )


def test_swapped_references_and_using_head_put_the_models_own_back(make_potential):
    """Evaluating the old set under other references or through another head must leave the model
    as it was: the sets evaluated after it (and the export) use its own references and head."""
    model = make_potential(l_max=1)
    model.add_head("acac")
    model.select_head("default")
    own = model.head_module().reference_energies.clone()
    with evaluate.swapped_references(model, [1.0, 2.0, 3.0]):
        assert model.head_module().reference_energies.tolist() == [1.0, 2.0, 3.0]
    assert torch.equal(model.head_module().reference_energies, own)
    with evaluate.using_head(model, "acac"):
        assert model.head == "acac"
    assert model.head == "default"


def test_a_file_of_exactly_the_byte_bound_is_still_compared(tmp_path, monkeypatch):
    """``FRAME_CHECK_MAX_BYTES`` is the most this check reads: a file of exactly that size is read
    (one byte less is left unchecked, the existing test above)."""
    from pathlib import Path

    from ase.io import read, write

    from sciPT.files import file_sha256

    shipped = Path(__file__).resolve().parents[3] / "data_recipes" / "molecules" / "ethanol" / "train.xyz"
    kept = tmp_path / "kept.xyz"
    write(kept, read(shipped, index=":2"))
    monkeypatch.setenv("SCIPT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(evaluate, "FRAME_CHECK_MAX_BYTES", kept.stat().st_size)
    seen = training_frames([("pre-training", [{"path": str(kept), "sha256": file_sha256(kept)}], None)])
    assert seen.unchecked == [] and len(seen.how) == 2


def test_copies_are_counted_per_use_and_listed_alphabetically(make_potential, ethanol_frames):
    """The warning that frames are copies of training frames: how many of each use, fine-tuning
    before pre-training, each counted once per evaluated frame."""
    from sciPT.domains.molecules.evaluate import TrainingFrames, copies_line, graph_key

    model = make_potential(l_max=1)
    graphs = [frame_to_graph(f, model.cfg.cutoff) for f in ethanol_frames]
    seen = TrainingFrames()
    seen.add(graph_key(graphs[0]), "pre-training")
    seen.add(graph_key(graphs[1]), "pre-training")
    seen.add(graph_key(graphs[1]), "fine-tuning")  # an earlier use stays
    seen.add(graph_key(graphs[2]), "pre-training")
    seen.add(graph_key(graphs[2]), "fine-tuning", replace=True)
    counts = seen.copies([*graphs, graphs[0]])  # the first frame evaluated twice
    assert counts == {"pre-training": 3, "fine-tuning": 1}
    assert copies_line(counts, 5) == (
        "1 of 5 frames are copies of fine-tuning frames and 3 of 5 frames are copies of pre-training "
        "frames (elements, positions and cell)"
    )


def test_evaluate_skips_isolated_atoms_and_counts_the_frames_and_atoms_scored(
    make_potential, tmp_path, capsys
):
    """``scipt evaluate`` on a file with an isolated atom among two ethanol frames: the atom only
    fixes references, so it is skipped; ``frames`` and ``atoms`` (metrics.json) count the two frames
    and their 18 atoms, and the energy MAE per atom is theirs alone."""
    import json
    from pathlib import Path
    from types import SimpleNamespace

    from ase import Atoms
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.io import read, write

    from sciPT.checkpoint import CONFIG_NAME, WEIGHTS_NAME
    from sciPT.run import RunDir

    shipped = Path(__file__).resolve().parents[3] / "data_recipes" / "molecules" / "ethanol" / "train.xyz"
    ethanol = read(shipped, index=":2")
    atom = Atoms("H", positions=[[0.0, 0.0, 0.0]])
    atom.calc = SinglePointCalculator(atom, energy=-13.6, forces=[[0.0, 0.0, 0.0]])
    data = tmp_path / "mixed.xyz"
    write(data, [ethanol[0], atom, ethanol[1]])
    (tmp_path / "run" / "model").mkdir(parents=True)
    (tmp_path / "run" / "model" / WEIGHTS_NAME).write_bytes(b"")
    (tmp_path / "run" / "model" / CONFIG_NAME).write_text(json.dumps({}))
    out = tmp_path / "ev"
    args = SimpleNamespace(
        data=str(data),
        out=str(out),
        head=None,
        energy_key=None,
        forces_key=None,
        stress_key=None,
        frames_per_batch=1,
    )
    model = make_potential(l_max=1)
    metrics = evaluate.evaluate_run(RunDir(tmp_path / "run"), args, model)
    assert (metrics["frames"], metrics["atoms"]) == (2, 18)
    errors = _energy_errors_meV_per_atom(model, ethanol)
    assert metrics["energy_mae_meV_per_atom"] == pytest.approx(sum(abs(e) for e in errors) / 2, rel=1e-9)
    written = json.loads((out / "metrics.json").read_text())
    assert (written["frames"], written["atoms"]) == (2, 18)
    capsys.readouterr()


def test_evaluate_sets_sends_only_the_eval_sets_through_the_old_head_and_references(two_levels):
    """A fine-tune's sets: ``val`` and ``test_<name>`` through the head trained (acac: errors
    1000 - OFFSETS meV/atom), ``eval_<name>`` through the old head (default) under the pre-trained
    references, here default's plus 2 eV each (errors 2000 - OFFSETS); the model keeps its head and
    references afterwards."""
    from sciPT.tasks.forcefield_data import Sets
    from sciPT.tasks.forcefield_eval import evaluate_sets

    model, labelled = two_levels
    graphs = labelled()
    model.select_head("default")
    shifted = (model.head_module().reference_energies + 2.0).tolist()
    model.select_head("acac")
    own = model.head_module().reference_energies.clone()
    sets = Sets(
        train=[],
        val=graphs,
        test={"a": graphs},
        eval={"old": graphs},
        replay=[],
        corpus=[],
        references_method="refit",
        head="acac",
        eval_head="default",
        eval_references=shifted,
    )
    out = evaluate_sets(model, sets, 2, "after")
    assert set(out) == {"val", "test_a", "eval_old"}
    mae = {k: v.metrics["energy_mae_meV_per_atom"] for k, v in out.items()}
    assert mae == pytest.approx({"val": 1000.0, "test_a": 1000.0, "eval_old": 2000.0}, rel=1e-6)
    assert model.head == "acac" and torch.equal(model.head_module().reference_energies, own)
    # no validation set: no "val" key
    assert set(evaluate_sets(model, dataclasses.replace(sets, val=[]), 2, "after")) == {"test_a", "eval_old"}


def test_pretrained_reading_takes_the_recorded_reading_or_an_old_exports_pretraining_data(make_potential):
    """How ``evaluate --references pretrained`` reads frames: the export's ``pretrained_reading``
    (its reading fields alone; null or nothing recorded: as the run reads its own), else, in an
    older export with ``head_data``, pre-training's reading where the moved head is the first."""
    from sciPT.tasks.forcefield_eval import pretrained_reading

    model = make_potential(l_max=1)
    model.add_head("acac")
    recorded = {"energy_unit": "kcal/mol", "length_unit": "Bohr", "paths": ["x.xyz"]}
    assert pretrained_reading({"pretrained_reading": recorded}, model) == {
        "energy_unit": "kcal/mol",
        "length_unit": "Bohr",
    }
    assert pretrained_reading({"pretrained_reading": None}, model) is None
    assert pretrained_reading({"pretrained_reading": {"paths": ["x.xyz"]}}, model) is None
    old = {"head_data": {}, "pretraining_data": recorded, "head": "default"}
    assert pretrained_reading(old, model) == {"energy_unit": "kcal/mol", "length_unit": "Bohr"}
    assert pretrained_reading({**old, "head": "acac"}, model) is None  # a head added by a fine-tune
    assert pretrained_reading({k: v for k, v in old.items() if k != "head_data"}, model) is None
    assert pretrained_reading({**old, "pretraining_data": None}, model) is None


def test_forcefield_evaluate_passes_the_references_reading_and_note_it_chose(
    make_potential, tmp_path, monkeypatch
):
    """``scipt evaluate`` on a force-field run: the model's references by default; with
    ``--references pretrained`` the pre-trained ones, the frames read as the export records for
    that level (and the report's note says which record), or as the run's own where it records none."""
    from types import SimpleNamespace

    from sciPT.tasks import forcefield_eval

    model = make_potential(l_max=1)
    exported: dict = {}
    monkeypatch.setattr(forcefield_eval, "load_run_model", lambda path: (model, exported))
    monkeypatch.setattr(forcefield_eval, "evaluate_model", lambda run, args, model, **kw: kw)
    run = SimpleNamespace(path=tmp_path)
    where = f"{tmp_path}: model/config.json"

    def evaluate_with(export: dict, references: str) -> dict:
        exported.clear()
        exported.update(export)
        return forcefield_eval.evaluate_run(run, SimpleNamespace(references=references, head=None))

    assert evaluate_with({}, "model") == {
        "references": None,
        "notes": ["Force-field run; reference energies: the model's."],
        "head_reading": None,
    }
    refs = [1.0, 2.0, 3.0]
    kw = evaluate_with(
        {"pretrained_references": refs, "head": "default", "pretrained_reading": {"energy_unit": "kcal/mol"}},
        "pretrained",
    )
    assert kw["references"] == refs
    assert kw["notes"] == [
        "Force-field run; reference energies: the pre-trained's. Frames read as the fine-tune's start read "
        "frames through head 'default' (energies in kcal/mol, lengths in Angstrom)."
    ]
    assert kw["head_reading"] == ({"energy_unit": "kcal/mol"}, f"{where}: pretrained_reading")
    old = {
        "pretrained_references": refs,
        "head": "default",
        "head_data": {},
        "pretraining_data": {"length_unit": "Bohr"},
    }
    kw = evaluate_with(old, "pretrained")
    assert kw["notes"][0].endswith(
        "Frames read as pre-training read its files (energies in eV, lengths in Bohr)."
    )
    assert kw["head_reading"] == ({"length_unit": "Bohr"}, f"{where}: pretraining_data")
    kw = evaluate_with({"pretrained_references": refs, "head": "default"}, "pretrained")
    assert kw["head_reading"] is None and kw["notes"] == [
        "Force-field run; reference energies: the pre-trained's. Frames read with this run's own keys and "
        "units: its model does not record how frames at the pre-trained level are read."
    ]


def test_read_as_with_an_empty_record_keeps_the_runs_reading():
    """An export recording an empty reading for a head says nothing: frames are read as the run
    reads its own, not with the defaults (eV, Angstrom)."""
    from sciPT.domains.molecules.data import MoleculeDataConfig

    data = MoleculeDataConfig(energy_unit="kcal/mol", length_unit="Bohr", energy_key="E")
    assert evaluate.read_as(data, {}) is data
    assert evaluate.read_as(data, None) is data
    moved = evaluate.read_as(data, {"energy_unit": "eV", "paths": ["ignored.xyz"]})
    assert (moved.energy_unit, moved.length_unit, moved.energy_key, moved.paths) == (
        "eV",
        "Angstrom",
        "energy",
        data.paths,
    )


def test_frames_outside_the_fitted_compositions_are_counted_even_when_others_are_inside(
    make_potential, ethanol_frames
):
    """References fitted on ethanol alone fix one combination of the three elements: a water frame
    among ethanol frames carries an unmeasured offset, and the warning counts it (1 of 3); a set of
    ethanol alone gets none."""
    import numpy as np

    from sciPT.domains.molecules.data import Frame
    from sciPT.domains.molecules.references import ISOLATED_ATOMS_HINT

    model = make_potential(l_max=1)
    ethanol = np.array([6.0, 2.0, 1.0])  # H, C, O
    model.set_reference_span([(ethanol / np.linalg.norm(ethanol)).tolist()])
    water = Frame(
        numbers=np.array([8, 1, 1]),
        positions=np.array([[0.0, 0.0, 0.0], [0.96, 0.0, 0.0], [-0.24, 0.93, 0.0]]),
        cell=np.zeros((3, 3)),
        pbc=np.zeros(3, dtype=bool),
        source="water",
    )
    graphs = [frame_to_graph(f, model.cfg.cutoff) for f in (*ethanol_frames[:2], water)]
    assert evaluate.unfixed_references_warning(model, graphs, "mixed.xyz") == (
        "warning: mixed.xyz: 1 of 3 frames have compositions the reference energies of head default were "
        "not fitted on (its training compositions fix 1 of 3 element references): their energies carry an "
        f"offset nobody measured, {evaluate.SCORED_OFFSET}; " + ISOLATED_ATOMS_HINT
    )
    assert evaluate.unfixed_references_warning(model, graphs[:2], "ethanol.xyz") is None


def test_a_training_file_recorded_without_a_digest_is_still_compared(tmp_path, monkeypatch):
    """An export that recorded a training file's path but no SHA-256 cannot tell it changed: its
    frames are compared all the same, not listed as changed."""
    from pathlib import Path

    from ase.io import read, write

    shipped = Path(__file__).resolve().parents[3] / "data_recipes" / "molecules" / "ethanol" / "train.xyz"
    kept = tmp_path / "kept.xyz"
    write(kept, read(shipped, index=":2"))
    monkeypatch.setenv("SCIPT_CACHE", str(tmp_path / "cache"))
    seen = training_frames([("pre-training", [{"path": str(kept)}], None)])
    assert seen.unchecked == [] and len(seen.how) == 2


def test_energy_mae_of_frames_without_energies_is_nan_not_zero(make_potential, ethanol_frames):
    """A head scored on no energy at all has no MAE: NaN, never 0 (which would make it look perfect
    and be suggested as the frames' level)."""
    import math

    model = make_potential(l_max=1)
    graphs = [
        frame_to_graph(dataclasses.replace(f, energy=None), model.cfg.cutoff) for f in ethanol_frames[:2]
    ]
    assert math.isnan(evaluate.energy_mae(model, graphs, "default"))


def test_copies_of_a_fine_tunes_pretraining_frames_are_only_those_pretraining_read(tmp_path, monkeypatch):
    """A fine-tuned model whose pre-training read the first 2 frames of its file (its export's
    ``pretraining_data.max_frames``): of an evaluated file holding the first 4 of them and the
    fine-tuning frame, 2 are pre-training copies (not 4: the run's own ``max_frames`` is not
    pre-training's) and 1 a fine-tuning copy."""
    import json
    from pathlib import Path
    from types import SimpleNamespace

    from ase.io import read, write

    from sciPT.checkpoint import CONFIG_NAME, WEIGHTS_NAME
    from sciPT.domains.molecules.data import MoleculeDataConfig, read_frames
    from sciPT.files import file_sha256

    shipped = Path(__file__).resolve().parents[3] / "data_recipes" / "molecules" / "ethanol" / "train.xyz"
    frames = read(shipped, index=":5")
    pre, tune, data = tmp_path / "pre.xyz", tmp_path / "tune.xyz", tmp_path / "data.xyz"
    write(pre, frames[:4])
    write(tune, frames[4:])
    write(data, frames)
    monkeypatch.setenv("SCIPT_CACHE", str(tmp_path / "cache"))
    (tmp_path / "run" / "model").mkdir(parents=True)
    (tmp_path / "run" / "model" / WEIGHTS_NAME).write_bytes(b"")
    export = {
        "finetuned_on": [{"path": str(tune), "sha256": file_sha256(tune)}],
        "pretrained_on": [{"path": str(pre), "sha256": file_sha256(pre)}],
        "pretraining_data": {"max_frames": 2},
    }
    (tmp_path / "run" / "model" / CONFIG_NAME).write_text(json.dumps(export))
    run = SimpleNamespace(
        path=tmp_path / "run", config=tmp_path / "run" / "config.yaml", read_config=lambda: {}
    )
    graphs = [frame_to_graph(f, 4.0) for f in read_frames(data, MoleculeDataConfig())]
    assert evaluate.trained_on_this_file(run, str(data), graphs) == [
        f"warning: {data}: 1 of 5 frames are copies of fine-tuning frames and 2 of 5 frames are copies of "
        "pre-training frames (elements, positions and cell): their errors are not held-out errors"
    ]


def _water(**labels):
    import numpy as np

    from sciPT.domains.molecules.data import Frame

    return Frame(
        numbers=np.array([8, 1, 1]),
        positions=np.array([[0.0, 0.0, 0.0], [0.96, 0.0, 0.0], [-0.24, 0.93, 0.0]]),
        cell=np.zeros((3, 3)),
        pbc=np.zeros(3, dtype=bool),
        source="water",
        **labels,
    )


def test_parity_values_are_energies_per_atom_and_the_forces_of_the_frames_that_have_them(
    make_potential, ethanol_frames
):
    """The parity plots' values: one energy per frame divided by its own atom count (9 and 3 atoms
    here, so a per-frame energy would sit far off), and force components, true and predicted
    alike, of the frames with forces only (the water frame has an energy alone)."""
    import numpy as np

    model = make_potential(l_max=1)
    water = _water(energy=-2079.0, missing_forces="water: no forces")
    frames = [ethanol_frames[0], water, ethanol_frames[1]]
    graphs = [frame_to_graph(f, model.cfg.cutoff) for f in frames]
    ev = evaluate_potential(model, graphs, batch_size=2)  # batches [ethanol, water] and [ethanol]
    alone = [model(g, forces=True) for g in graphs]
    sizes = [9, 3, 9]
    assert ev.energy[0] == pytest.approx([f.energy / n for f, n in zip(frames, sizes)], rel=1e-12)
    predicted = [float(o["energy"][0]) / n for o, n in zip(alone, sizes)]
    assert ev.energy[1] == pytest.approx(predicted, rel=1e-9)
    true_forces = np.concatenate([frames[k].forces.reshape(-1) for k in (0, 2)])
    predicted_forces = np.concatenate([alone[k]["forces"].detach().numpy().reshape(-1) for k in (0, 2)])
    assert ev.forces[0] == pytest.approx(true_forces, rel=1e-12)
    assert ev.forces[1] == pytest.approx(predicted_forces, abs=1e-9)
    assert ev.metrics["forces_frames"] == 2


def test_metrics_name_only_the_quantities_scored(make_potential, ethanol_frames):
    """A set of molecules with forces has energy and force errors and no ``forces_frames`` or
    ``stress_frames`` (all frames have forces, none a stress); a set of energies alone has energy
    errors only: no force metric, no count of zero frames with forces."""
    model = make_potential(l_max=1)
    energy = {"energy_mae_meV", "energy_rmse_meV", "energy_mae_meV_per_atom", "energy_rmse_meV_per_atom"}
    graphs = [frame_to_graph(f, model.cfg.cutoff) for f in ethanol_frames[:2]]
    forces = {"forces_mae_meV_per_A", "forces_rmse_meV_per_A"}
    per_element = {f"forces_{k}_meV_per_A_{el}" for k in ("mae", "rmse") for el in ("H", "C", "O")}
    assert set(evaluate_potential(model, graphs).metrics) == energy | forces | per_element
    bare = [
        frame_to_graph(dataclasses.replace(f, forces=None, missing_forces="no forces"), model.cfg.cutoff)
        for f in ethanol_frames[:2]
    ]
    ev = evaluate_potential(model, bare)
    assert set(ev.metrics) == energy
    assert ev.forces[0].shape == (0,)


def test_stress_errors_are_over_the_six_voigt_components_of_the_frames_with_a_stress(
    make_potential, ethanol_frames
):
    """A boxed frame labelled with the model's own stress minus 0.01 eV/Å³ on the diagonal and
    0.02 off it, beside a molecule: 6 Voigt errors 0.01, 0.01, 0.01, 0.02, 0.02, 0.02 (MAE 0.015,
    RMSE sqrt(0.00025)), one frame with a stress (the molecule adds none)."""
    import math

    import numpy as np

    model = make_potential(l_max=1)
    boxed = dataclasses.replace(ethanol_frames[1], cell=np.diag([9.0, 9.5, 10.0]), pbc=np.ones(3, dtype=bool))
    own = model(frame_to_graph(boxed, model.cfg.cutoff), forces=True, stress=True)["stress"][0]
    delta = np.full((3, 3), 0.02) - np.diag([0.01, 0.01, 0.01])
    labelled = dataclasses.replace(boxed, stress=own.detach().double().numpy() - delta)
    graphs = [frame_to_graph(f, model.cfg.cutoff) for f in (ethanol_frames[0], labelled)]
    metrics = evaluate_potential(model, graphs).metrics
    assert metrics["stress_mae_eV_per_A3"] == pytest.approx(0.015, rel=1e-9)
    assert metrics["stress_rmse_eV_per_A3"] == pytest.approx(math.sqrt(0.00025), rel=1e-9)
    assert metrics["stress_frames"] == 1


def test_none_as_forces_or_stress_key_reads_no_such_label_and_keys_override_the_runs():
    """``--forces-key none`` and ``--stress-key none`` (and ``--energy-key none``) turn those errors
    off even where the run read them; ``--energy-key`` replaces the run's key."""
    from types import SimpleNamespace

    run = SimpleNamespace(
        path=None,
        config="config.yaml",
        read_config=lambda: {"data": {"energy_key": "E", "forces_key": "F", "stress_key": "S"}},
    )
    kept = evaluate.run_data_config(run, SimpleNamespace(energy_key=None, forces_key=None, stress_key=None))
    assert (kept.energy_key, kept.forces_key, kept.stress_key) == ("E", "F", "S")
    args = SimpleNamespace(energy_key="energy", forces_key="none", stress_key="none")
    data = evaluate.run_data_config(run, args)
    assert (data.energy_key, data.forces_key, data.stress_key) == ("energy", None, None)
    # the words a config takes for none, in any case (the README teaches --forces-key null for a
    # fine-tune): a key named 'null' was read, and every frame refused
    args = SimpleNamespace(energy_key="None", forces_key="null", stress_key="NULL")
    data = evaluate.run_data_config(run, args)
    assert (data.energy_key, data.forces_key, data.stress_key) == (None, None, None)


def _energy_errors_meV_per_atom(model, frames) -> list[float]:
    """Each frame's energy error (predicted minus reference), by the model on the frame alone, per
    atom and in meV."""
    with torch.no_grad():
        return [
            1000
            * (
                float(model(frame_to_graph(_frame(a), model.cfg.cutoff))["energy"][0])
                - a.get_potential_energy()
            )
            / len(a)
            for a in frames
        ]


def _evaluation_run(tmp_path, frames: list):
    """A run folder with an empty model export and ``frames`` written to ``data.xyz``."""
    import json

    from ase.io import write

    from sciPT.checkpoint import CONFIG_NAME, WEIGHTS_NAME
    from sciPT.run import RunDir

    (tmp_path / "run" / "model").mkdir(parents=True)
    (tmp_path / "run" / "model" / WEIGHTS_NAME).write_bytes(b"")
    (tmp_path / "run" / "model" / CONFIG_NAME).write_text(json.dumps({}))
    write(tmp_path / "data.xyz", frames)
    return RunDir(tmp_path / "run")


def _args(tmp_path, **kw):
    from types import SimpleNamespace

    base = dict(
        data=str(tmp_path / "data.xyz"),
        out=str(tmp_path / "ev"),
        head=None,
        energy_key=None,
        forces_key=None,
        stress_key=None,
        frames_per_batch=2,
    )
    return SimpleNamespace(**{**base, **kw})


def test_evaluate_under_other_references_scores_with_them_and_puts_the_models_back(
    make_potential, shipped, tmp_path, capsys
):
    """``evaluate_run(references=...)`` (``--references pretrained``): every reference 1 eV higher
    moves every predicted energy up by 1 eV per atom, so each per-atom error by +1000 meV; the model
    keeps its own references afterwards."""
    from ase.io import read

    ethanol = read(shipped / "ethanol" / "train.xyz", index=":3")
    run = _evaluation_run(tmp_path, ethanol)
    model = make_potential(l_max=1)
    own = model.head_module().reference_energies.clone()
    errors = _energy_errors_meV_per_atom(model, read(tmp_path / "data.xyz", index=":"))
    metrics = evaluate.evaluate_run(run, _args(tmp_path), model, references=(own + 1.0).tolist())
    assert metrics["energy_mae_meV_per_atom"] == pytest.approx(
        sum(abs(e + 1000) for e in errors) / 3, rel=1e-9
    )
    assert torch.equal(model.head_module().reference_energies, own)
    capsys.readouterr()


def test_the_report_counts_frames_and_atoms_and_says_which_frames_have_forces_and_a_stress(
    make_potential, shipped, tmp_path, capsys
):
    """report.md of a set of 3 ethanol frames (27 atoms), the second without forces, the third
    boxed with a stress label: the counts in that order, the line on the frames with forces (2 of
    3) and the stress paragraph (1 frame)."""
    import numpy as np
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.io import read

    ethanol = read(shipped / "ethanol" / "train.xyz", index=":3")
    ethanol[1].calc = SinglePointCalculator(ethanol[1], energy=ethanol[1].get_potential_energy())
    energy, forces = ethanol[2].get_potential_energy(), ethanol[2].get_forces()
    ethanol[2].set_cell(np.diag([9.0, 9.5, 10.0]))
    ethanol[2].pbc = True
    ethanol[2].calc = SinglePointCalculator(ethanol[2], energy=energy, forces=forces, stress=np.full(6, 0.01))
    run = _evaluation_run(tmp_path, ethanol)
    metrics = evaluate.evaluate_run(run, _args(tmp_path, stress_key="stress"), make_potential(l_max=1))
    assert (metrics["frames"], metrics["atoms"], metrics["forces_frames"], metrics["stress_frames"]) == (
        3,
        27,
        2,
        1,
    )
    report = (tmp_path / "ev" / "report.md").read_text()
    assert "3 frames, 27 atoms (frames of one atom skipped)." in report
    assert (
        "Forces over the atoms of the 2 of 3 frames that have forces; the others have an energy alone."
        in report
    )
    assert "Stress, 1 frames with a stress label, over the Voigt components" in report
    capsys.readouterr()


def test_the_other_head_warning_goes_to_the_report_capitalised_and_to_stderr(
    two_levels, ethanol_frames, tmp_path, capsys
):
    """Frames at the default head's level evaluated through acac: the warning is printed, and the
    report carries it as a sentence ("Warning: ..."); with every composition's references fitted
    it is not said to be partly the unmeasured reference offset."""
    from ase import Atoms
    from ase.calculators.singlepoint import SinglePointCalculator

    model, labelled = two_levels
    atoms = []
    for graph, frame in zip(labelled(), ethanol_frames, strict=True):
        a = Atoms(numbers=frame.numbers, positions=frame.positions)
        a.calc = SinglePointCalculator(a, energy=float(graph.energy.reshape(-1)[0]), forces=frame.forces)
        atoms.append(a)
    run = _evaluation_run(tmp_path, atoms)
    capsys.readouterr()
    evaluate.evaluate_run(run, _args(tmp_path, head="acac"), model)
    err = capsys.readouterr().err.strip().splitlines()
    start = "warning: data.xyz through head acac: energies off by +1000.0 meV/atom on average (MAE 1000.0)"
    [line] = [line for line in err if line.startswith("warning: data.xyz through head acac")]
    assert line.startswith(start) and line.endswith("evaluate with --head default")
    report = (tmp_path / "ev" / "report.md").read_text()
    assert "W" + line[1:] in report.splitlines()
    assert "Head: acac (the model's heads: default, acac)." in report
    assert "part of the offset" not in report


def test_a_one_atom_crystal_is_scored_not_skipped_as_an_isolated_atom(shipped, tmp_path):
    """Only a lone atom with no periodic image within the cut-off is a reference to skip: a one-atom
    cell of 2.5 Å (its images at 2.5 Å, inside the 4 Å cut-off) is a crystal, and is scored."""
    import numpy as np
    from ase import Atoms
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.io import read, write

    from sciPT.domains.molecules.data import MoleculeDataConfig

    crystal = Atoms("C", positions=[[0.0, 0.0, 0.0]], cell=np.eye(3) * 2.5, pbc=True)
    crystal.calc = SinglePointCalculator(crystal, energy=-1030.0, forces=np.zeros((1, 3)))
    lone = Atoms("H", positions=[[0.0, 0.0, 0.0]])
    lone.calc = SinglePointCalculator(lone, energy=-13.6, forces=np.zeros((1, 3)))
    write(tmp_path / "data.xyz", [read(shipped / "ethanol" / "train.xyz", index=0), crystal, lone])
    graphs = evaluate.labelled_graphs(str(tmp_path / "data.xyz"), MoleculeDataConfig(), ["H", "C", "O"], 4.0)
    assert [g.num_nodes for g in graphs] == [9, 1]


def test_labels_a_level_below_name_the_head_below_with_a_negative_offset(two_levels):
    """Frames at acac's level (labels 1000 meV/atom above default's) through default: every error is
    -1000 - OFFSETS (mean -1000, MAE 1000), an offset as large as it is negative; through acac the
    errors are -OFFSETS (MAE 4.5), so acac is named, the offset with its minus sign."""
    model, labelled = two_levels
    assert warning(model, labelled(1000.0), "default") == (
        "warning: old.xyz through head default: energies off by -1000.0 meV/atom on average (MAE 1000.0), "
        "as between two levels of theory; through head acac the energy MAE is 4.5 meV/atom: if the "
        "frames are at its level, evaluate with --head acac"
    )


def test_an_offset_of_exactly_half_the_mae_is_no_warning(two_levels, monkeypatch):
    """ "Most of their MAE": errors of 750 and -250 meV/atom have mean 250 and MAE 500, an offset of
    exactly half the MAE, which is no warning; 750 and -200 (mean 275, MAE 475) are one."""
    import numpy as np

    model, _ = two_levels
    model.select_head("acac")
    monkeypatch.setattr(evaluate, "energy_mae", lambda *args, **kwargs: 0.0)
    half = evaluate.Evaluation({}, energy=(np.zeros(2), np.array([0.75, -0.25])))
    assert other_head_warning(model, [], half, "old.xyz") == ""
    more = evaluate.Evaluation({}, energy=(np.zeros(2), np.array([0.75, -0.2])))
    assert other_head_warning(model, [], more, "old.xyz").startswith(
        "warning: old.xyz through head acac: energies off by +275.0 meV/atom on average (MAE 475.0)"
    )


def test_frames_without_energies_send_no_frame_through_the_other_heads(two_levels, monkeypatch):
    """No energy scored, no offset to explain: no warning, and the other heads are not run over the
    frames for nothing."""
    model, _ = two_levels

    def unrun(*args, **kwargs):
        raise AssertionError("another head was run over the frames")

    monkeypatch.setattr(evaluate, "energy_mae", unrun)
    assert other_head_warning(model, [], evaluate.Evaluation({}), "old.xyz") == ""


def _write_frames(path, atoms_list):
    from ase.io import write

    write(path, atoms_list)
    return str(path)


def _lone(symbol="H", energy=-13.6):
    from ase import Atoms
    from ase.calculators.singlepoint import SinglePointCalculator

    atom = Atoms(symbol, positions=[[0.0, 0.0, 0.0]])
    atom.calc = SinglePointCalculator(atom, energy=energy, forces=[[0.0, 0.0, 0.0]])
    return atom


def test_a_file_of_isolated_atoms_alone_is_refused(tmp_path):
    """Isolated atoms only fix references: a file of nothing else leaves no frame to score, and is
    refused with that reason."""
    from sciPT.domains.molecules.data import MoleculeDataConfig
    from sciPT.errors import DataError

    path = _write_frames(tmp_path / "atoms.xyz", [_lone("H", -13.6), _lone("C", -1030.0)])
    with pytest.raises(DataError) as err:
        evaluate.labelled_graphs(path, MoleculeDataConfig(), ["H", "C", "O"], 4.0)
    assert str(err.value) == f"{path}: no frame to evaluate on besides isolated atoms"


def test_an_element_the_model_never_saw_is_refused_naming_the_frame_and_atom(shipped, tmp_path):
    """A file whose second frame holds nitrogen (its atom 1), for a model of H, C and O: refused,
    naming the frame, the atom and the model's elements."""
    from ase import Atoms
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.io import read

    from sciPT.domains.molecules.data import MoleculeDataConfig
    from sciPT.errors import DataError

    nh = Atoms("HN", positions=[[0.0, 0.0, 0.0], [1.04, 0.0, 0.0]])
    nh.calc = SinglePointCalculator(nh, energy=-1500.0, forces=[[0.1, 0.0, 0.0], [-0.1, 0.0, 0.0]])
    path = _write_frames(tmp_path / "data.xyz", [read(shipped / "ethanol" / "train.xyz", index=0), nh])
    with pytest.raises(DataError) as err:
        evaluate.labelled_graphs(path, MoleculeDataConfig(), ["H", "C", "O"], 4.0)
    assert str(err.value) == (
        f"{path}: frame 1: atom 1: element N is not in the model's element table (H, C, O): the model never saw it"
    )


def test_a_file_with_no_forces_is_refused_unless_forces_are_optional(shipped, tmp_path, capsys):
    """``labelled_graphs`` on a file of energies alone: refused by default with the first frame's
    missing key, and scored on its energies with ``forces_optional``, in one line that says so (a
    fine-tune's eval set read with a mistyped key measured forgetting on energies without a word)."""
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.io import read

    from sciPT.domains.molecules.data import MoleculeDataConfig
    from sciPT.errors import DataError

    ethanol = read(shipped / "ethanol" / "train.xyz", index=":2")
    for a in ethanol:  # an energy and nothing else: no forces, no info keys
        a.calc = SinglePointCalculator(a, energy=a.get_potential_energy())
        a.info = {}
    path = _write_frames(tmp_path / "energies.xyz", ethanol)
    with pytest.raises(DataError) as err:
        evaluate.labelled_graphs(path, MoleculeDataConfig(), ["H", "C", "O"], 4.0)
    assert str(err.value) == f"{path}: frame 0: no forces key 'forces' (the frame has: energy)"
    capsys.readouterr()
    graphs = evaluate.labelled_graphs(path, MoleculeDataConfig(), ["H", "C", "O"], 4.0, forces_optional=True)
    assert len(graphs) == 2
    assert capsys.readouterr().err == (
        f"{path}: 2 of 2 frames have no forces under key 'forces': their energies are scored, not their forces\n"
    )
    # nothing to say where the reading has no forces key (a level of energies alone)
    evaluate.labelled_graphs(
        path, MoleculeDataConfig(forces_key=None), ["H", "C", "O"], 4.0, forces_optional=True
    )
    assert capsys.readouterr().err == ""


def test_the_reading_of_a_head_carries_its_periodicity_and_nothing_but_reading_fields():
    """``reading``/``read_as``: ``periodic`` is part of how frames are read (a level read as
    molecules stays molecules); keys of a record that are not reading fields (a newer export's) are
    left out, not refused."""
    from sciPT.domains.molecules.data import MoleculeDataConfig

    assert evaluate.reading(MoleculeDataConfig(periodic="never"))["periodic"] == "never"
    data = MoleculeDataConfig(energy_key="E")
    moved = evaluate.read_as(data, {"periodic": "never", "some_newer_field": 1})
    assert (moved.periodic, moved.energy_key) == ("never", "energy")


def test_no_frames_have_no_unfixed_references(make_potential):
    """An empty set of frames has no composition outside the fitted span: no warning (not a failure
    to stack no compositions)."""
    import numpy as np

    model = make_potential(l_max=1)
    model.set_reference_span([(np.array([6.0, 2.0, 1.0]) / np.linalg.norm([6.0, 2.0, 1.0])).tolist()])
    assert evaluate.unfixed_references_warning(model, [], "empty.xyz") is None


def test_a_groups_own_reading_is_used_for_its_files(tmp_path, monkeypatch):
    """``training_frames``: a group with its own reading settings (a fine-tune's pre-training files,
    lengths in Bohr) is read with them: its frames' keys are those of the Bohr reading, which differ
    from the default (Angstrom) one."""
    from ase.io import read

    from sciPT.domains.molecules.data import MoleculeDataConfig, read_frames
    from sciPT.domains.molecules.dataset import structure_key
    from sciPT.files import file_sha256

    shipped = Path(__file__).resolve().parents[3] / "data_recipes" / "molecules" / "ethanol" / "train.xyz"
    kept = Path(_write_frames(tmp_path / "kept.xyz", read(shipped, index=":2")))
    monkeypatch.setenv("SCIPT_CACHE", str(tmp_path / "cache"))

    def keys(cfg):
        return {key_digest(structure_key(f.numbers, f.positions, f.cell)) for f in read_frames(kept, cfg)}

    bohr = MoleculeDataConfig(length_unit="Bohr")
    entries = [{"path": str(kept), "sha256": file_sha256(kept)}]
    seen = training_frames([("pre-training", entries, None, bohr)], MoleculeDataConfig())
    assert set(seen.how) == keys(bohr) and keys(bohr) != keys(MoleculeDataConfig())


def test_a_corrupt_cache_entry_is_read_past(tmp_path, monkeypatch):
    """A cache file that is not a readable array (cut short, overwritten) is not an error: the
    training file is read again and its frames found."""
    from ase.io import read

    from sciPT.files import file_sha256

    shipped = Path(__file__).resolve().parents[3] / "data_recipes" / "molecules" / "ethanol" / "train.xyz"
    kept = Path(_write_frames(tmp_path / "kept.xyz", read(shipped, index=":2")))
    monkeypatch.setenv("SCIPT_CACHE", str(tmp_path / "cache"))
    entries = [{"path": str(kept), "sha256": file_sha256(kept)}]
    first = training_frames([("pre-training", entries, None)])
    [cached] = (tmp_path / "cache" / "frame-keys").iterdir()
    cached.write_bytes(b"not an array")
    assert training_frames([("pre-training", entries, None)]).how == first.how


def _export_run(tmp_path, export: dict):
    import json
    from types import SimpleNamespace

    from sciPT.checkpoint import CONFIG_NAME, WEIGHTS_NAME

    (tmp_path / "run" / "model").mkdir(parents=True)
    (tmp_path / "run" / "model" / WEIGHTS_NAME).write_bytes(b"")
    (tmp_path / "run" / "model" / CONFIG_NAME).write_text(json.dumps(export))
    return SimpleNamespace(
        path=tmp_path / "run", config=tmp_path / "run" / "config.yaml", read_config=lambda: {}
    )


def test_the_pretraining_validation_file_is_a_note_not_a_warning(tmp_path, monkeypatch):
    """Evaluating on pre-training's validation file (``validated_on``, same SHA-256): a note that it
    was held out, and no copy of a training frame."""
    from ase.io import read

    from sciPT.files import file_sha256

    shipped = Path(__file__).resolve().parents[3] / "data_recipes" / "molecules" / "ethanol" / "train.xyz"
    data = _write_frames(tmp_path / "val.xyz", read(shipped, index=":2"))
    monkeypatch.setenv("SCIPT_CACHE", str(tmp_path / "cache"))
    run = _export_run(tmp_path, {"validated_on": [{"path": "recorded/val.xyz", "sha256": file_sha256(data)}]})
    assert evaluate.trained_on_this_file(run, data, []) == [
        f"note: {data} is this model's pre-training validation file (recorded/val.xyz, same SHA-256): "
        "held out (never trained on), though pre-training reported its loss on it"
    ]


def test_a_file_both_pretrained_and_fine_tuned_on_is_named_as_fine_tuning_data(tmp_path, monkeypatch):
    """A fine-tune on its pre-training file: the warning names the fine-tuning record (the model's
    last training on it), as frame copies count fine-tuning first."""
    from ase.io import read

    from sciPT.files import file_sha256

    shipped = Path(__file__).resolve().parents[3] / "data_recipes" / "molecules" / "ethanol" / "train.xyz"
    data = _write_frames(tmp_path / "data.xyz", read(shipped, index=":2"))
    digest = file_sha256(data)
    run = _export_run(
        tmp_path,
        {
            "finetuned_on": [{"path": "tune/data.xyz", "sha256": digest}],
            "pretrained_on": [{"path": "pre/data.xyz", "sha256": digest}],
        },
    )
    assert evaluate.trained_on_this_file(run, data, []) == [
        f"warning: {data} is the very file this model was fine-tuned on (tune/data.xyz, same SHA-256): "
        "these are errors on training data (and on its validation frames), not on held-out frames"
    ]


def test_evaluate_batches_frames_as_frames_per_batch_says(
    make_potential, shipped, tmp_path, monkeypatch, capsys
):
    """``--frames-per-batch 2`` on 3 frames: batches of 2 and 1 frames (the option bounds the memory
    an evaluation takes)."""
    from ase.io import read

    run = _evaluation_run(tmp_path, read(shipped / "ethanol" / "train.xyz", index=":3"))
    sizes = []
    collate = evaluate.collate

    def counted(graphs):
        sizes.append(len(graphs))
        return collate(graphs)

    monkeypatch.setattr(evaluate, "collate", counted)
    evaluate.evaluate_run(run, _args(tmp_path, frames_per_batch=2), make_potential(l_max=1))
    assert sizes == [2, 1]
    capsys.readouterr()


def test_a_small_training_file_is_compared_without_a_word(tmp_path, monkeypatch, capsys):
    """Only a training file past 16 MB is announced as it is read for the comparison (it takes a
    while); a small one is read silently."""
    from ase.io import read

    from sciPT.files import file_sha256

    shipped = Path(__file__).resolve().parents[3] / "data_recipes" / "molecules" / "ethanol" / "train.xyz"
    kept = Path(_write_frames(tmp_path / "kept.xyz", read(shipped, index=":2")))
    monkeypatch.setenv("SCIPT_CACHE", str(tmp_path / "cache"))
    capsys.readouterr()
    seen = training_frames([("pre-training", [{"path": str(kept), "sha256": file_sha256(kept)}], None)])
    assert len(seen.how) == 2 and capsys.readouterr().err == ""


def test_periodic_images_are_warned_of_for_a_head_trained_on_molecules_alone(make_potential, shipped, boxed):
    """A head whose training frames had no periodic image gets one line, word for word, for frames
    that have images within its cut-off (counted among several); none for ethanol in a box too
    large for any image, for a head trained on periodic frames, or where nothing was recorded."""
    from ase.io import read

    from sciPT.domains.molecules.graphs import atoms_to_graph

    model = make_potential(l_max=1)  # cut-off 4 Angstrom
    ethanol = read(shipped / "ethanol" / "train.xyz", index=0)
    small, large = (atoms_to_graph(boxed(ethanol, s), model.cfg.cutoff) for s in (3.0, 20.0))
    molecule = atoms_to_graph(ethanol, model.cfg.cutoff)
    said = (
        "periodic images within the cutoff, but head default was trained on molecules alone (no training "
        "frame had one): its energies, forces and stress here are outside what it learnt"
    )
    assert model.periodic_images() is None
    assert evaluate.periodic_images_warning(model, [small], "box.xyz") is None
    model.set_periodic_images(False)
    assert evaluate.periodic_images_warning(model, [small], "box.xyz") == f"warning: box.xyz: {said}"
    assert evaluate.periodic_images_warning(model, [small, large, molecule], "mixed.xyz") == (
        f"warning: mixed.xyz: 1 of 3 frames: {said}"
    )
    assert evaluate.periodic_images_warning(model, [large, molecule], "big.xyz") is None
    model.set_periodic_images(True)
    assert evaluate.periodic_images_warning(model, [small], "box.xyz") is None
