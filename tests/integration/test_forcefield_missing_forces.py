"""A chemist's mixed data set through the command line: energy-only frames beside frames with forces
are pre-trained and fine-tuned on (EWC Fisher included), evaluated with force errors over the frames
that have forces, a set without any forces is refused as a mistyped key; `scipt predict` keeps the
input's own info and arrays beside the predictions."""

import json
from pathlib import Path

import numpy as np
import pytest
from ase.io import read, write

from sciPT.checkpoint import from_pretrained
from sciPT.cli import main
from sciPT.domains.molecules.calculator import SciPTCalculator
from sciPT.finetune import load_fisher

SHIPPED = Path(__file__).resolve().parents[2] / "data_recipes" / "molecules" / "ethanol"
SHORT = ["--batch-size", "4", "--val-every", "2", "--checkpoint-every", "2", "--val-batches", "1"]
NOTE = "{n} of {m} frames have no forces under key 'forces': their energies are fitted, not their forces"


def mixed(path: Path, start: int, frames: int, keep) -> Path:
    """Shipped ethanol frames ``start`` to ``start + frames``, forces deleted where ``keep(i)`` is
    false (an energy-only single point: the comment line keeps its energy, the columns lose forces)."""
    images = read(SHIPPED / "train.xyz", index=f"{start}:{start + frames}")
    for i, atoms in enumerate(images):
        if not keep(i):
            atoms.calc.results.pop("forces")
    write(path, images)
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ff-mixed")
    pre_data = mixed(folder / "pre.xyz", 0, 16, lambda i: i % 4 != 1)  # 4 without forces
    train = mixed(folder / "train.xyz", 100, 12, lambda i: i % 3 != 0)  # 4 without forces
    val = mixed(folder / "val.xyz", 200, 4, lambda i: i != 2)  # 1 without forces
    pre, run = folder / "pre", folder / "ft"
    assert (
        main(
            [
                "pretrain",
                "molecules",
                "--data",
                str(pre_data),
                "--data.val-fraction",
                "0",
                "--max-steps",
                "3",
                "--fisher.frames",
                "8",
                *SHORT,
                "--out",
                str(pre),
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "finetune",
                "forcefield",
                "--init",
                str(pre),
                "--train",
                str(train),
                "--val",
                str(val),
                "--strategy",
                "ewc",
                "--max-steps",
                "3",
                *SHORT,
                "--out",
                str(run),
            ]
        )
        == 0
    )
    return folder, pre, run


def test_pretraining_and_ewc_finetuning_on_mixed_frames_say_how_many_lack_forces(runs):
    folder, pre, run = runs
    # the Fisher over mixed frames was computed and stored
    extras = from_pretrained(pre).extras
    assert np.isfinite(float(extras["ewc.pretraining_loss"])) and float(extras["ewc.pretraining_loss"]) > 0
    assert float(load_fisher(extras)["readout.2.bias"]) > 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["steps"] == 3
    # the validation frames: forces over the 3 of 4 that have them
    assert metrics["val_forces_frames"] == 3
    assert np.isfinite(metrics["val_forces_mae_meV_per_A"])
    assert (
        "12 training and 4 validation frames. Without forces (fitted on their energies; force errors "
        "are over the frames that have forces): 4 training and 1 validation frames."
    ) in (run / "report.md").read_text()


def test_the_count_line_at_data_loading(tmp_path, capsys):
    data = mixed(tmp_path / "train.xyz", 100, 12, lambda i: i % 3 != 0)
    out = tmp_path / "run"
    code = main(
        [
            "finetune",
            "forcefield",
            "--init",
            "none",
            "--train",
            str(data),
            "--data.val-fraction",
            "0.25",
            "--max-steps",
            "1",
            *SHORT,
            "--out",
            str(out),
        ]
    )
    assert code == 0
    assert NOTE.format(n=4, m=12) in capsys.readouterr().err.splitlines()


def test_evaluate_scores_forces_over_the_frames_that_have_them(runs, tmp_path, capsys):
    _, _, run = runs
    data = mixed(tmp_path / "held.xyz", 300, 5, lambda i: i not in (1, 3))
    assert main(["evaluate", str(run), "--data", str(data)]) == 0
    metrics = json.loads((run / "evaluations" / "held" / "metrics.json").read_text())
    # by hand, from the run's ASE calculator: energies of all 5 frames, forces of frames 0, 2, 4
    calc = SciPTCalculator(run)
    reference = read(SHIPPED / "train.xyz", index="300:305")
    e_err, f_err, f_h = [], [], []
    for i, atoms in enumerate(reference):
        true_e, true_f = atoms.get_potential_energy(), atoms.get_forces()
        atoms.calc = calc
        e_err.append(atoms.get_potential_energy() - true_e)
        if i not in (1, 3):
            err = atoms.get_forces() - true_f
            f_err.append(err.ravel())
            f_h.append(err[atoms.numbers == 1].ravel())
    e_err = np.array(e_err) * 1000
    f_err, f_h = np.concatenate(f_err) * 1000, np.concatenate(f_h) * 1000
    assert metrics["frames"] == 5 and metrics["forces_frames"] == 3
    assert metrics["energy_mae_meV"] == pytest.approx(np.abs(e_err).mean(), rel=1e-6)
    assert metrics["energy_rmse_meV_per_atom"] == pytest.approx(np.sqrt(((e_err / 9) ** 2).mean()), rel=1e-6)
    assert metrics["forces_mae_meV_per_A"] == pytest.approx(np.abs(f_err).mean(), rel=1e-5)
    assert metrics["forces_rmse_meV_per_A"] == pytest.approx(np.sqrt((f_err**2).mean()), rel=1e-5)
    assert metrics["forces_mae_meV_per_A_H"] == pytest.approx(np.abs(f_h).mean(), rel=1e-5)
    report = (run / "evaluations" / "held" / "report.md").read_text()
    assert (
        "Forces over the atoms of the 3 of 5 frames that have forces; the others have an energy alone."
        in report
    )
    # a file of energies alone: refused as a mistyped key would be, scored with --forces-key none
    alone = mixed(tmp_path / "alone.xyz", 300, 2, lambda i: False)
    capsys.readouterr()
    assert main(["evaluate", str(run), "--data", str(alone)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"scipt: error: {alone}: frame 0: no forces key 'forces' (the frame has: OH_dist, config_type, energy)"
    )
    assert not (run / "evaluations" / "alone").exists()
    assert main(["evaluate", str(run), "--data", str(alone), "--forces-key", "none"]) == 0
    scored = json.loads((run / "evaluations" / "alone" / "metrics.json").read_text())
    assert scored["energy_mae_meV"] == pytest.approx(np.abs(e_err[:2]).mean(), rel=1e-6)
    assert not any(k.startswith("forces") for k in scored)
    # a file of forces alone (a code that writes no energy): scored on its forces with --energy-key none
    forces_only = tmp_path / "forces_only.xyz"
    images = read(SHIPPED / "train.xyz", index="300:302")
    for atoms in images:
        atoms.calc.results.pop("energy")
        atoms.calc.results.pop("free_energy", None)
    write(forces_only, images)
    assert main(["evaluate", str(run), "--data", str(forces_only), "--energy-key", "none"]) == 0
    scored = json.loads((run / "evaluations" / "forces_only" / "metrics.json").read_text())
    truth = read(SHIPPED / "train.xyz", index="300:302")
    by_hand = [(calc.get_forces(atoms) - atoms.get_forces()).ravel() * 1000 for atoms in truth]
    assert scored["forces_mae_meV_per_A"] == pytest.approx(np.abs(np.concatenate(by_hand)).mean(), rel=1e-5)
    assert not any(k.startswith("energy") for k in scored)


def test_a_training_set_without_forces_is_refused_with_the_first_frame_s_message(tmp_path, capsys):
    data = mixed(tmp_path / "energies.xyz", 0, 6, lambda i: False)
    out = tmp_path / "run"
    code = main(
        [
            "finetune",
            "forcefield",
            "--init",
            "none",
            "--train",
            str(data),
            "--max-steps",
            "1",
            "--out",
            str(out),
        ]
    )
    assert code == 2
    assert capsys.readouterr().err.strip() == (
        f"scipt: error: {data}: frame 0: no forces key 'forces' (the frame has: OH_dist, config_type, energy)"
    )
    assert not out.exists()


def test_predict_keeps_the_input_info_and_arrays_beside_the_predictions(runs, tmp_path, capsys):
    _, _, run = runs
    frames = read(SHIPPED / "train.xyz", index="400:403")
    for i, atoms in enumerate(frames):
        atoms.info["tag_name"] = f"conf-{i}"
        atoms.set_tags(np.arange(len(atoms)) + 10 * i)
        atoms.new_array("hirshfeld", np.linspace(-0.3, 0.3, len(atoms)) + i)
    frames[2].info["input_energy"] = "taken"  # the input already uses the renamed key
    source = tmp_path / "input.xyz"
    write(source, frames)
    given = read(source, index=":")
    out = tmp_path / "predicted.xyz"
    capsys.readouterr()
    assert main(["predict", str(run), "--input", str(source), "--output", str(out)]) == 0
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[-2] == (
        "kept the input's forces as input_forces, energy as input_energy, energy as input_input_energy "
        "(energy, energies, forces and stress are the predictions)"
    )
    predicted = read(out, index=":")
    calc = SciPTCalculator(run)
    for i, (got, atoms) in enumerate(zip(predicted, given)):
        # the input's own keys and arrays, values equal
        assert got.info["OH_dist"] == atoms.info["OH_dist"]
        assert got.info["config_type"] == atoms.info["config_type"] == "Training_set"
        assert got.info["tag_name"] == f"conf-{i}"
        assert np.array_equal(got.get_tags(), atoms.get_tags())
        assert np.array_equal(got.arrays["hirshfeld"], atoms.arrays["hirshfeld"])
        # the reference labels, renamed so that they are not taken for predictions
        energy_key = "input_input_energy" if i == 2 else "input_energy"
        assert got.info[energy_key] == atoms.get_potential_energy()
        assert np.array_equal(got.arrays["input_forces"], atoms.get_forces())
        # the predictions, where ASE reads them: the calculator's
        reference = atoms.copy()
        reference.calc = calc
        assert got.get_potential_energy() == pytest.approx(reference.get_potential_energy(), abs=1e-6)
        assert got.get_forces() == pytest.approx(reference.get_forces(), abs=1e-5)
    assert predicted[2].info["input_energy"] == "taken"
