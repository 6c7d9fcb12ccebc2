"""`scipt pretrain molecules` -> `finetune forcefield` -> `evaluate`, `predict`, `md`, and the bad
inputs of each, through the command line."""

import json
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.io import read, write

from sciPT.cli import main
from sciPT.domains.molecules.calculator import SciPTCalculator

SHIPPED = Path(__file__).resolve().parents[2] / "data_recipes" / "molecules"
ETHANOL = SHIPPED / "ethanol" / "train.xyz"
ACAC = SHIPPED / "acetylacetone" / "train_300K.xyz"
SHORT = ["--batch-size", "4", "--val-every", "2", "--checkpoint-every", "2", "--val-batches", "1"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ff-cli")
    acac = read(ACAC, index=":16")
    paths = {
        "train": folder / "acac_train.xyz",
        "val": folder / "acac_val.xyz",
        "old": folder / "ethanol_old.xyz",
    }
    write(paths["train"], acac[:12])
    write(paths["val"], acac[12:])
    write(paths["old"], read(SHIPPED / "ethanol" / "test_MD.xyz", index=":5"))
    return folder, paths


@pytest.fixture(scope="module")
def runs(data):
    folder, paths = data
    pre, run = folder / "pre", folder / "ft"
    assert (
        main(
            [
                "pretrain",
                "molecules",
                "--data",
                str(ETHANOL),
                "--data.max-frames",
                "24",
                "--data.isolated-atoms",
                str(SHIPPED / "ethanol" / "isolated_atoms.xyz"),
                "--max-steps",
                "4",
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
                str(paths["train"]),
                "--val",
                str(paths["val"]),
                "--eval",
                str(paths["old"]),
                "--strategy",
                "ewc",
                "--ewc-lambda",
                "5",
                "--head-warmup",
                "0.5",
                "--max-steps",
                "3",
                *SHORT,
                "--out",
                str(run),
            ]
        )
        == 0
    )
    return pre, run


def test_the_pretraining_report_counts_frames_and_atoms(runs):
    pre, _ = runs
    report = (pre / "report.md").read_text()
    # 24 ethanol frames of 9 atoms: the sequence domains' "records | residues" would misname them
    assert "| file | sha256 | frames | atoms |" in report
    assert f"| {ETHANOL} | `" in report and "| 24 | 216 |" in report


def test_a_fractional_head_warmup_is_settled_and_reported(runs):
    _, run = runs
    assert json.loads((run / "metrics.json").read_text())["head_warmup_steps"] == 2  # ceil(0.5 * 3)
    assert (
        "Head warm-up: the new head alone for the first 2 of 3 optimizer steps (0.5 of the run), "
        "then the shared blocks joined on a 2-step learning-rate ramp."
    ) in (run / "report.md").read_text()


def test_the_before_and_after_table_gives_forces_and_energies_of_the_old_task(runs):
    _, run = runs
    metrics = json.loads((run / "metrics.json").read_text())
    cells = []
    for metric in ("forces_rmse_meV_per_A", "energy_mae_meV_per_atom"):
        before, after = metrics[f"eval_ethanol_old_before_{metric}"], metrics[f"eval_ethanol_old_{metric}"]
        cells += [f"{before:.1f}", f"{after:.1f}", f"{after - before:+.1f}"]
    report = (run / "report.md").read_text()
    assert "| eval_ethanol_old | " + " | ".join(cells) + " |" in report.splitlines()
    assert "Forgetting was not measured" not in report


def test_a_pretrained_start_without_an_old_task_set_says_forgetting_was_not_measured(runs, data, tmp_path):
    pre, _ = runs
    paths, run = data[1], tmp_path / "ft"
    argv = ["finetune", "forcefield", "--init", str(pre), "--train", str(paths["train"])]
    argv += ["--val", str(paths["val"]), "--strategy", "ewc", "--max-steps", "1", *SHORT]
    assert main([*argv, "--out", str(run)]) == 0
    assert (
        "**Forgetting was not measured**: no `--eval` set (held-out frames of the task the model was "
        "pre-trained on) was given, and ewc exists to limit forgetting. With `--eval FILE` the old task "
        "is scored before and after fine-tuning."
    ) in (run / "report.md").read_text()


def test_evaluating_on_a_file_the_model_was_trained_on_says_so(runs, data, tmp_path, capsys):
    pre, run = runs
    train = data[1]["train"]
    capsys.readouterr()
    assert main(["evaluate", str(run), "--data", str(train), "--out", str(tmp_path / "a")]) == 0
    said = (
        f"warning: {train} is the very file this model was fine-tuned on ({train.resolve()}, same "
        "SHA-256): these are errors on training data (and on its validation frames), not on held-out frames"
    )
    assert said in capsys.readouterr().err.splitlines()
    assert "W" + said[1:] in (tmp_path / "a" / "report.md").read_text()
    assert main(["evaluate", str(pre), "--data", str(ETHANOL), "--out", str(tmp_path / "b")]) == 0
    assert f"warning: {ETHANOL} is the very file this model was pre-trained on" in capsys.readouterr().err
    # a held-out file: no such line
    assert main(["evaluate", str(run), "--data", str(data[1]["old"]), "--out", str(tmp_path / "c")]) == 0
    assert "the very file" not in capsys.readouterr().err
    # another file holding copies: frames 3 and 7 of the pre-training file (pre-training read its
    # first 24), 30 and 31 (never read), 1 of the fine-tuning file
    mixed = tmp_path / "mixed.xyz"
    write(mixed, [*(read(ETHANOL, index=i) for i in (3, 7, 30, 31)), read(train, index=1)])
    assert main(["evaluate", str(run), "--data", str(mixed), "--out", str(tmp_path / "d")]) == 0
    said = (
        f"warning: {mixed}: 1 of 5 frames are copies of fine-tuning frames and 2 of 5 frames are copies "
        "of pre-training frames (elements, positions and cell): their errors are not held-out errors"
    )
    assert said in capsys.readouterr().err.splitlines()
    assert "W" + said[1:] in (tmp_path / "d" / "report.md").read_text()


def test_references_one_molecule_cannot_fix_are_said_at_fit_and_at_evaluation(data, tmp_path, capsys):
    """Ethanol frames alone fix one combination of the H, C and O references (least squares'
    minimum norm sets the rest): methanol then carried an offset of tens of eV per atom without a
    word, and evaluate blamed a head."""
    folder, _ = data
    methanol = folder / "methanol.xyz"
    write(methanol, read(SHIPPED / "ethanol" / "train_eth_meth.xyz", index=":4"))  # CH4O frames
    ethanol = folder / "ethanol_24.xyz"  # not the shipped file, which the preset's isolated atoms go with
    write(ethanol, read(ETHANOL, index=":24"))
    run = tmp_path / "pre"
    argv = ["pretrain", "molecules", "--data", str(ethanol), "--max-steps", "2"]
    capsys.readouterr()
    assert main([*argv, *SHORT, "--fisher.frames", "4", "--out", str(run)]) == 0
    said = capsys.readouterr().err
    assert (
        "warning: reference energies: the compositions of the training frames fix 1 of the 3 element "
        "references (H, C, O): a molecule of another composition gets an energy offset nobody measured"
    ) in said
    assert "validation frames have compositions" not in said  # its validation frames are ethanol
    assert json.loads((run / "metrics.json").read_text())["frames_val_outside_reference_span"] == 0
    # methanol among the validation frames: its offset is most of the validation loss, so it is said
    mixed = folder / "val_mixed.xyz"
    write(mixed, read(ETHANOL, index="24:28") + read(methanol, index=":"))
    with_methanol = tmp_path / "pre_val"
    argv_val = [*argv, "--data.val-paths", str(mixed), *SHORT, "--fisher.frames", "4"]
    assert main([*argv_val, "--out", str(with_methanol)]) == 0
    line = (
        "warning: 4 of 8 validation frames have compositions the reference energies were not fitted on "
        "(the training frames fix 1 of 3 element references): their energies carry an offset nobody "
        "measured, which the validation energy loss includes; isolated atoms"
    )
    assert line in capsys.readouterr().err
    assert json.loads((with_methanol / "metrics.json").read_text())["frames_val_outside_reference_span"] == 4
    assert line in (with_methanol / "report.md").read_text()
    assert main(["evaluate", str(run), "--data", str(methanol), "--out", str(tmp_path / "m")]) == 0
    said = capsys.readouterr().err
    assert (
        "warning: methanol.xyz: 4 of 4 frames have compositions the reference energies of head "
        "ethanol_24 were not fitted on (its training compositions fix 1 of 3 element references)"
    ) in said
    assert main(["evaluate", str(run), "--data", str(ethanol), "--out", str(tmp_path / "e")]) == 0
    assert "were not fitted on" not in capsys.readouterr().err  # ethanol is what they were fitted on
    # predict, md and the ASE calculator give such energies too, and say so where they give them
    predicted = (
        "4 of 4 frames have compositions the reference energies of head ethanol_24 were not fitted on "
        "(its training compositions fix 1 of 3 element references): their energies carry an offset "
        "nobody measured, so their predicted energies are not absolute (differences between frames of "
        "one composition, forces and stress are unaffected); isolated atoms"
    )
    assert main(["predict", str(run), "--input", str(methanol), "--output", str(tmp_path / "p.xyz")]) == 0
    assert f"warning: {methanol}: {predicted}" in capsys.readouterr().err
    assert main(["predict", str(run), "--input", str(ethanol), "--output", str(tmp_path / "q.xyz")]) == 0
    assert "were not fitted on" not in capsys.readouterr().err
    md = ["md", str(run), "--structure", str(methanol), "--steps", "1", "--temperature", "300"]
    assert main([*md, "--output", str(tmp_path / "t.xyz")]) == 0
    assert f"warning: {methanol}: {predicted.replace('4 of 4', '1 of 1')}" in capsys.readouterr().err
    calculator = SciPTCalculator(run)
    with pytest.warns(UserWarning, match="CH4O structure: 1 of 1 frames have compositions") as seen:
        for atoms in read(methanol, index=":2"):  # once per composition, not per call
            atoms.calc = calculator
            atoms.get_potential_energy()
    assert len(seen) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        atoms = read(ethanol)
        atoms.calc = calculator
        atoms.get_potential_energy()


def test_test_and_eval_sets_that_are_not_held_out_are_named(runs, data, tmp_path, capsys):
    """The training file as --test, the pre-training file as --eval, and a new file holding copies
    of training frames were scored as held out without a word."""
    pre, _ = runs
    paths = data[1]
    copies = tmp_path / "copies.xyz"
    write(copies, read(paths["train"], index=":3") + read(paths["val"], index=":2"))
    # frames 2 and 5 of the pre-training file, which pre-training read (its first 24); 40 it did not
    pre_copies = tmp_path / "pre_copies.xyz"
    write(pre_copies, [read(ETHANOL, index=i) for i in (2, 5, 40)])
    run = tmp_path / "ft"
    argv = ["finetune", "forcefield", "--init", str(pre), "--train", str(paths["train"]), "--val"]
    argv += [str(paths["val"]), "--test", str(paths["train"]), str(copies), str(paths["old"])]
    argv += ["--eval", str(ETHANOL), str(pre_copies)]
    capsys.readouterr()
    assert main([*argv, "--strategy", "full", "--max-steps", "2", *SHORT, "--out", str(run)]) == 0
    err = capsys.readouterr().err
    train = paths["train"]
    for line in (
        f"{train}: the very file this model was fine-tuned (or validated) on ({train.resolve()}, same SHA-256)",
        f"{copies}: 3 of 5 frames are copies of fine-tuning frames (elements, positions and cell)",
        f"{ETHANOL}: the very file this model was pre-trained on ({ETHANOL}, same SHA-256)",
        f"{pre_copies}: 2 of 3 frames are copies of pre-training frames (elements, positions and cell)",
    ):
        assert f"warning: {line}: its errors are not held-out errors" in err
        assert line in (run / "report.md").read_text()
    metrics = json.loads((run / "metrics.json").read_text())
    assert {k for k in metrics if k.endswith("_not_held_out")} == {
        "acac_train_not_held_out",
        "copies_not_held_out",
        "pre_copies_not_held_out",
        "train_not_held_out",
    }
    assert (
        "with `--init none --strategy full` and another `--out` trains a model from scratch on the same data"
        in (run / "report.md").read_text()
    )
    # ethanol through the new head, whose references only acetylacetone's composition fixed
    unfixed = (
        "ethanol_old: 5 of 5 frames have compositions the reference energies of head acac_train were "
        "not fitted on (its training compositions fix 1 of 3 element references)"
    )
    assert f"warning: {unfixed}" in err and unfixed in (run / "report.md").read_text()
    assert "frames have compositions" not in err.split(unfixed)[1]  # ETHANOL through head train: fixed


def test_finetune_then_evaluate_through_either_head(runs, data, capsys):
    _, run = runs
    old = data[1]["old"]
    before = (run / "metrics.json").read_bytes()
    finetuned = json.loads(before)
    folder = run / "evaluations" / "ethanol_old"
    # the old level of theory through the old head (named after the pre-training file)
    capsys.readouterr()
    assert main(["evaluate", str(run), "--data", str(old), "--head", "train"]) == 0
    assert "warning" not in capsys.readouterr().err
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["data"] == str(old) and metrics["frames"] == 5
    # the same head and references as fine-tuning's own evaluation of the old molecule, to float32
    # rounding (fine-tuning evaluated with the old head's weights frozen, so autograd took another
    # path through them than it does in a freshly loaded model)
    for key in ("energy_mae_meV_per_atom", "forces_rmse_meV_per_A", "forces_mae_meV_per_A_O"):
        assert metrics[key] == pytest.approx(finetuned[f"eval_ethanol_old_{key}"], rel=1e-6)
    assert "Head: train (the model's heads: train, acac_train)." in (folder / "report.md").read_text()
    assert main(["evaluate", str(run), "--data", str(old)]) == 0
    own = json.loads((folder / "metrics.json").read_text())  # the same file: its folder is replaced
    # ethanol through acetylacetone's head: off by the offset between the two levels of theory
    # (some -1,100 meV/atom), where the old head is off by the few steps of pre-training (~200)
    warned = capsys.readouterr().err.strip().splitlines()[-1]
    assert warned.startswith("warning: ethanol_old.xyz through head acac_train: energies off by -")
    # after the line that acetylacetone's frames fix only one combination of this head's references
    assert warned.endswith(
        "meV/atom: if the frames are at its level, evaluate with --head train (part of the offset may be "
        "the unmeasured reference offset above)"
    )
    assert warned[len("warning") :] in (folder / "report.md").read_text()
    # the default head is the new one (acetylacetone's references and readout)
    assert own["energy_mae_meV"] != pytest.approx(metrics["energy_mae_meV"], rel=1e-3)
    assert "Head: acac_train" in (folder / "report.md").read_text()
    for png in ("parity_energy", "parity_forces"):
        assert (folder / "plots" / f"{png}.png").stat().st_size > 1000
    assert "# Evaluation on ethanol_old.xyz" in (folder / "report.md").read_text()
    capsys.readouterr()
    for command in (["evaluate", str(run), "--data", str(old)], ["predict", str(run), "--input", str(old)]):
        extra = ["--output", str(folder / "p.xyz")] if command[0] == "predict" else []
        assert main([*command, *extra, "--head", "PBE"]) == 2
        assert capsys.readouterr().err.strip() == (
            "scipt: error: --head PBE: no such head; the model's heads are: train, acac_train"
        )
    assert main(["evaluate", str(run), "--data", str(old), "--references", "pretrained"]) == 2
    assert capsys.readouterr().err.strip() == (
        f"scipt: error: --references pretrained: {run} kept no pre-trained references (fine-tuned "
        "from scratch, or on a head of its own: pass --head with the old head instead)"
    )
    assert (run / "metrics.json").read_bytes() == before  # fine-tuning's figures, untouched
    assert [p.name for p in (run / "evaluations").iterdir()] == ["ethanol_old"]


def test_predict_writes_energies_and_forces(runs, data, tmp_path, capsys):
    _, run = runs
    out = tmp_path / "predicted.xyz"
    assert main(["predict", str(run), "--input", str(data[1]["val"]), "--output", str(out)]) == 0
    frames = read(out, index=":")
    assert len(frames) == 4
    atoms = read(data[1]["val"], index=2)
    atoms.calc = SciPTCalculator(run)
    assert frames[2].get_potential_energy() == pytest.approx(atoms.get_potential_energy(), abs=1e-6)
    assert frames[2].get_forces() == pytest.approx(atoms.get_forces(), abs=1e-5)
    # through the old head: the calculator's old head, not its default
    assert (
        main(["predict", str(run), "--input", str(data[1]["val"]), "--output", str(out), "--head", "train"])
        == 0
    )
    old = read(out, index=2)
    atoms.calc = SciPTCalculator(run, head="train")
    assert old.get_potential_energy() == pytest.approx(atoms.get_potential_energy(), abs=1e-6)
    assert old.get_potential_energy() != pytest.approx(frames[2].get_potential_energy(), abs=1e-3)


@pytest.mark.parametrize("which, source", [(1, "val"), (0, "old")], ids=["fine-tuned", "pre-trained"])
def test_predict_writes_energy_forces_and_the_stress_of_periodic_frames(
    runs, data, which, source, tmp_path, capsys
):
    """What the ASE calculator of the run gives: a stress for a frame with a cell, none for a
    molecule; a pre-training run's potential predicts through the same code. Predict reads no labels,
    so it takes no key flags (they were accepted and did nothing)."""
    run = runs[which]
    boxed = read(data[1][source], index=0)
    boxed.set_cell(np.diag([9.0, 9.5, 10.0]))
    boxed.pbc = True
    frames, out = tmp_path / "frames.xyz", tmp_path / "predicted.xyz"
    write(frames, [boxed, read(data[1][source], index=1)])
    capsys.readouterr()
    assert main(["predict", str(run), "--input", str(frames), "--output", str(out)]) == 0
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"wrote 2 frames with predicted energy, per-atom energies, forces and, where the cell has a volume, "
        f"stress to {out} (eV, Angstrom)"
    )
    crystal, molecule = read(out, index=":")
    calc = SciPTCalculator(run)
    boxed.calc = calc
    assert crystal.get_potential_energy() == pytest.approx(boxed.get_potential_energy(), abs=1e-6)
    assert crystal.get_potential_energies() == pytest.approx(boxed.get_potential_energies(), abs=1e-6)
    assert crystal.get_forces() == pytest.approx(boxed.get_forces(), abs=1e-5)
    assert crystal.get_stress() == pytest.approx(boxed.get_stress(), abs=1e-9)
    assert np.abs(crystal.get_stress()).max() > 0
    expected = read(data[1][source], index=1)
    expected.calc = calc
    assert molecule.get_potential_energy() == pytest.approx(expected.get_potential_energy(), abs=1e-6)
    assert "stress" not in molecule.calc.results
    with pytest.raises(SystemExit):
        main(["predict", str(run), "--input", str(frames), "--output", str(out), "--energy-key", "E"])
    assert "unrecognized arguments: --energy-key E" in capsys.readouterr().err


def test_export_of_a_finetuning_checkpoint_equals_the_run_own_model(runs, tmp_path, capsys):
    """Fine-tuning checkpoints keep the export configuration, as pre-training's do, and last.ckpt
    holds the final step (3) though the periodic saves were at 2: `scipt export` of it gives the
    run's own model/, heads and references included."""
    _, run = runs
    capsys.readouterr()
    assert main(["export", str(run), "--out", str(tmp_path / "model")]) == 0
    assert capsys.readouterr().err.strip() == f"exported step 3 to {tmp_path / 'model'}"
    exported = json.loads((tmp_path / "model" / "config.json").read_text())
    assert exported == json.loads((run / "model" / "config.json").read_text())
    assert exported["task"] == "forcefield" and exported["model"]["head"] == "train"
    assert [h["name"] for h in exported["model"]["heads"]] == ["acac_train"]
    weights = (tmp_path / "model" / "model.safetensors").read_bytes()
    assert weights == (run / "model" / "model.safetensors").read_bytes()


def test_md_command_writes_the_trajectory(runs, data, tmp_path, capsys):
    _, run = runs
    traj = tmp_path / "traj.xyz"
    assert (
        main(
            [
                "md",
                str(run),
                "--structure",
                str(data[1]["old"]),
                "--steps",
                "6",
                "--temperature",
                "300",
                "--interval",
                "2",
                "--output",
                str(traj),
            ]
        )
        == 0
    )
    frames = read(traj, index=":")
    assert [f.info["step"] for f in frames] == [0, 2, 4, 6]
    assert "wrote 4 frames" in capsys.readouterr().err
    assert not (tmp_path / "traj.xyz.partial").exists()  # renamed to the output at the end
    args = ["md", str(run), "--structure", str(data[1]["old"]), "--steps", "2", "--temperature", "300"]
    assert main([*args, "--output", str(tmp_path / "old.xyz"), "--head", "train"]) == 0
    start = read(tmp_path / "old.xyz", index=0)
    atoms = read(data[1]["old"], index=0)
    atoms.calc = SciPTCalculator(run, head="train")
    assert start.get_potential_energy() == pytest.approx(atoms.get_potential_energy(), abs=1e-6)
    capsys.readouterr()
    assert main([*args, "--output", str(tmp_path / "none.xyz"), "--head", "PBE"]) == 2
    assert capsys.readouterr().err.strip() == (
        "scipt: error: --head PBE: no such head; the model's heads are: train, acac_train"
    )
    # refused before the run: no partial file either, which would refuse the corrected command
    assert not (tmp_path / "none.xyz").exists() and not (tmp_path / "none.xyz.partial").exists()
    assert main([*args, "--output", str(tmp_path / "x.traj")]) == 2
    assert capsys.readouterr().err.strip() == (
        f"scipt: error: --output {tmp_path / 'x.traj'}: the trajectory is written as extended XYZ; "
        "expected a name ending in .xyz or .extxyz"
    )
    assert not (tmp_path / "x.traj").exists() and not (tmp_path / "x.traj.partial").exists()


# --- bad input: one line naming file and frame, exit 2, nothing written ----------------------------
def _frames():
    return read(ACAC, index=":2")


def nan_coordinates(path):
    write(path, _frames())
    lines = path.read_text().splitlines()
    lines[19] = "C nan 0.0 0.0 0.0 0.0 0.0"  # frame 1 (15 atoms + 2 header lines each), atom 0
    path.write_text("\n".join(lines) + "\n")
    return "frame 1: non-finite coordinates (atom 0)"


def too_close(path):
    frames = _frames()
    frames[0].positions[1] = frames[0].positions[0] + [0.05, 0, 0]
    write(path, frames)
    return "frame 0: atoms 0 and 1 are 0.050 Angstrom apart (closer than 0.1 Angstrom)"


def flat_periodic_cell(path):
    frames = _frames()
    frames[1].cell = [[6, 0, 0], [0, 6, 0], [0, 0, 0]]
    frames[1].pbc = True
    write(path, frames)
    return (
        "frame 1: pbc is True along axes 0, 1, 2, but their cell vectors span no volume (give each "
        "periodic axis a non-zero cell vector independent of the others, or make pbc False along an "
        "axis without one)"
    )


def unknown_element(path):
    frames = _frames()
    frames[1].numbers[3] = 17
    write(path, frames)
    return "frame 1: atom 3: element Cl is not in the model's element table (H, C, O): the model never saw it"


@pytest.mark.parametrize("make", [nan_coordinates, too_close, flat_periodic_cell, unknown_element])
def test_bad_training_frames(runs, tmp_path, capsys, make):
    bad = tmp_path / "bad.xyz"
    expected = make(bad)
    out = tmp_path / "run"
    code = main(
        [
            "finetune",
            "forcefield",
            "--init",
            str(runs[0]),
            "--train",
            str(bad),
            "--max-steps",
            "1",
            "--out",
            str(out),
        ]
    )
    assert code == 2
    assert capsys.readouterr().err.strip() == f"scipt: error: {bad}: {expected}"
    assert not out.exists()


def _lines(path):
    write(path, _frames())
    return path.read_text().splitlines(keepends=True)


def empty_file(path):
    path.write_text("")
    return f"not a readable structure file (Empty file: {path})"


def not_xyz(path):
    path.write_text("not xyz\nhello\n")
    return "line 1: expected frame 0's atom count, got 'not xyz'"


def fewer_atoms_than_rows(path):
    lines = _lines(path)
    lines[17] = "14\n"  # frame 1 declares 14 of its 15 atoms: its last row is read as a count
    path.write_text("".join(lines))
    return (
        f"line 34: expected frame 2's atom count, got {lines[33].strip()[:40]!r} (frame 1's header, "
        "line 18, says 14 atoms)"
    )


def energy_as_text(path):
    lines = _lines(path)
    lines[18] = re.sub(r"energy=\S+", "energy=abc", lines[18])
    path.write_text("".join(lines))
    return "frame 1: energy key 'energy' is 'abc', expected a number"


def species(symbol):
    def make(path):
        lines = _lines(path)
        lines[20] = symbol + " " + lines[20].split(maxsplit=1)[1]  # frame 1, atom 1
        path.write_text("".join(lines))
        return f"frame 1: atom 1: '{symbol}' is not a chemical element"

    make.__name__ = f"species_{symbol}"
    return make


@pytest.mark.parametrize(
    "make", [empty_file, not_xyz, fewer_atoms_than_rows, energy_as_text, species("X"), species("Q")]
)
def test_bad_training_files_are_refused_as_validation_files_are(tmp_path, capsys, make):
    """--train reads its first frame for the head's name before the frames are read: a file ASE
    cannot read is refused there in the same words as through --val."""
    bad, good = tmp_path / "bad.xyz", tmp_path / "good.xyz"
    expected = make(bad)
    write(good, _frames())
    out = tmp_path / "run"
    for files in (["--train", str(bad)], ["--train", str(good), "--val", str(bad)]):
        assert (
            main(
                ["finetune", "forcefield", "--preset", "tiny", "--max-steps", "1", *files, "--out", str(out)]
            )
            == 2
        )
        assert capsys.readouterr().err.strip() == f"scipt: error: {bad}: {expected}"
        assert not out.exists()


def test_a_frame_without_the_declared_forces_key(runs, data, tmp_path, capsys):
    out = tmp_path / "run"
    code = main(
        [
            "finetune",
            "forcefield",
            "--init",
            str(runs[0]),
            "--train",
            str(data[1]["train"]),
            "--forces-key",
            "dft_forces",
            "--out",
            str(out),
        ]
    )
    assert code == 2
    assert capsys.readouterr().err.strip() == (
        f"scipt: error: {data[1]['train']}: frame 0: no forces key 'dft_forces' (the frame has: "
        "config_type, dihedral_angle, energy, forces)"
    )
    assert not out.exists()


def test_md_refuses_bad_smiles_and_overlapping_atoms(runs, tmp_path, capsys):
    _, run = runs
    smiles = tmp_path / "bad.smi"
    smiles.write_text("CCO ethanol\nC1CC broken\n")
    traj = tmp_path / "traj.xyz"
    args = ["--steps", "2", "--temperature", "300", "--output", str(traj)]
    # the first SMILES is the structure: a good one runs
    assert main(["md", str(run), "--structure", str(smiles), *args]) == 0 and traj.is_file()
    traj.unlink()
    smiles.write_text("C1CC broken\n")
    assert main(["md", str(run), "--structure", str(smiles), *args]) == 2
    assert (
        capsys.readouterr()
        .err.strip()
        .endswith(f"scipt: error: {smiles}: line 1: RDKit cannot parse the SMILES 'C1CC'")
    )
    close = tmp_path / "close.xyz"
    write(close, Atoms("CO", positions=[[0, 0, 0], [0.05, 0, 0]]))
    assert main(["md", str(run), "--structure", str(close), *args]) == 2
    assert capsys.readouterr().err.strip() == (
        f"scipt: error: {close}: frame 0: atoms 0 and 1 are 0.050 Angstrom apart (closer than 0.1 Angstrom)"
    )
    assert (
        main(
            ["md", str(run), "--structure", str(close), *args[:-2], "--output", str(traj), "--timestep", "0"]
        )
        == 2
    )
    assert (
        capsys.readouterr().err.strip() == "scipt: error: --timestep: expected a positive time "
        "step in fs, got 0.0"
    )
    assert not traj.exists() and not (tmp_path / "traj.xyz.partial").exists()


def test_evaluate_refuses_frames_of_an_unknown_element(runs, tmp_path, capsys):
    bad = tmp_path / "bad.xyz"
    expected = unknown_element(bad)
    before = (runs[1] / "metrics.json").read_text()
    assert main(["evaluate", str(runs[1]), "--data", str(bad)]) == 2
    assert capsys.readouterr().err.strip() == f"scipt: error: {bad}: {expected}"
    assert (runs[1] / "metrics.json").read_text() == before
    assert not np.isnan(json.loads(before)["steps"])
    assert not (runs[1] / "evaluations" / "bad").exists()


@pytest.mark.parametrize("precision", ["bf16-mixed", "64-true"])
def test_a_precision_the_potential_cannot_train_at_is_refused_before_writing(tmp_path, capsys, precision):
    """Each crashed in the first step (autocast against the float64 geometry), leaving a run
    folder without a model (16-mixed, here on the CPU, is refused for every model first:
    tests/sciPT/test_config.py)."""
    said = (
        f"scipt: error: train.precision: {precision}: the molecules potential trains at 32-true only (its "
        "layers do not run under autocast); --model.dtype float64 trains it in double precision"
    )
    for argv in (
        ["pretrain", "molecules", "--data", str(ETHANOL)],
        ["finetune", "forcefield", "--train", str(ETHANOL)],
    ):
        out = tmp_path / argv[1]
        capsys.readouterr()
        assert main([*argv, "--max-steps", "2", "--precision", precision, "--out", str(out)]) == 2
        assert capsys.readouterr().err.strip().splitlines()[-1] == said
        assert not out.exists()


def test_periodic_images_are_said_for_the_heads_trained_on_molecules_alone(runs, data, tmp_path, capsys):
    """Pre-trained on ethanol molecules, head train has seen no periodic image: `predict` counts the
    frames with images within the cut-off (ethanol in a 6 Angstrom box) and `evaluate` says so once
    per file. A new head fine-tuned on boxed frames records that it has seen them, and predicts
    them without a word, while the old head, which keeps its record, is still warned of."""
    pre, _ = runs
    boxes = []
    for atoms in read(SHIPPED / "ethanol" / "test_MD.xyz", index=":8"):
        atoms.set_cell([6.0] * 3)
        atoms.center()
        atoms.pbc = True
        boxes.append(atoms)
    box, train, val = tmp_path / "box.xyz", tmp_path / "boxed.xyz", tmp_path / "boxed_val.xyz"
    write(box, [boxes[0], read(data[1]["old"], index=0)])
    write(train, boxes[:6])
    write(val, boxes[6:])

    def said(where, head, counted=""):
        return (
            f"warning: {where}: {counted}periodic images within the cutoff, but head {head} was trained "
            "on molecules alone (no training frame had one): its energies, forces and stress here are "
            "outside what it learnt"
        )

    def warned(argv):
        capsys.readouterr()
        assert main(argv) == 0
        return [line for line in capsys.readouterr().err.splitlines() if "periodic images" in line]

    out = ["--output", str(tmp_path / "p.xyz")]
    assert warned(["predict", str(pre), "--input", str(box), *out]) == [said(box, "train", "1 of 2 frames: ")]
    evaluation = ["evaluate", str(pre), "--data", str(val), "--out", str(tmp_path / "ev")]
    assert warned(evaluation) == [said("boxed_val.xyz", "train", "2 of 2 frames: ")]
    assert said("boxed_val.xyz", "train", "2 of 2 frames: ")[len("warning: ") :] in (
        (tmp_path / "ev" / "report.md").read_text()
    )
    ft = tmp_path / "ft-boxed"
    argv = ["finetune", "forcefield", "--init", str(pre), "--train", str(train), "--val", str(val)]
    assert main([*argv, "--strategy", "full", "--max-steps", "1", *SHORT, "--out", str(ft)]) == 0
    model = json.loads((ft / "model" / "config.json").read_text())["model"]
    assert model["periodic_images"] is False and model["heads"][-1]["periodic_images"] is True
    assert warned(["predict", str(ft), "--input", str(box), *out]) == []
    predicted = ["predict", str(ft), "--input", str(box), *out, "--head", "train"]
    assert warned(predicted) == [said(box, "train", "1 of 2 frames: ")]
