"""`scipt md` interrupted and resumed, through the command line: Ctrl-C and SIGTERM keep the partial
trajectory and say how to continue it, `--resume` finishes it, and the refusals that keep an
interrupted run from being overwritten, each in its own words."""

import json
import re
import shutil
import signal
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from ase.io import read, write
from ase.md.verlet import VelocityVerlet

from sciPT.cli import main
from sciPT.domains.molecules import md as molecules_md
from sciPT.domains.molecules.trajectory import partial_path
from sciPT.errors import DataError, UserError
from sciPT.signals import Terminated
from sciPT.testing import terminate_when

SHIPPED = Path(__file__).resolve().parents[2] / "data_recipes" / "molecules"
ETHANOL = SHIPPED / "ethanol" / "train.xyz"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A tiny potential pre-trained for 4 steps, as the force-field CLI tests make it."""
    out = tmp_path_factory.mktemp("md-cli") / "pre"
    args = ["pretrain", "molecules", "--data", str(ETHANOL), "--data.max-frames", "24"]
    args += ["--data.isolated-atoms", str(SHIPPED / "ethanol" / "isolated_atoms.xyz"), "--max-steps", "4"]
    args += ["--batch-size", "4", "--val-every", "2", "--checkpoint-every", "2", "--val-batches", "1"]
    assert main([*args, "--out", str(out)]) == 0
    return out


def md(run, out, steps, *extra):
    return [
        "md", str(run), "--structure", str(ETHANOL), "--steps", str(steps), "--temperature", "300",
        "--interval", "2", "--dtype", "float64", "--output", str(out), *extra,
    ]  # fmt: skip


def last_line(capsys):
    return capsys.readouterr().err.strip().splitlines()[-1]


def stop_at(call: int, error) -> object:
    """A ``VelocityVerlet.step`` that raises ``error`` at its ``call``-th call (from 1): a stop or
    a failure in the middle of a run."""
    original, calls = VelocityVerlet.step, []

    def step(self, *args, **kwargs):
        calls.append(None)
        if len(calls) == call:
            raise error
        return original(self, *args, **kwargs)

    return step


def test_ctrl_c_keeps_the_partial_and_resume_finishes_it(run, tmp_path, capsys, monkeypatch):
    out, partial = tmp_path / "traj.xyz", tmp_path / "traj.xyz.partial"
    straight = tmp_path / "straight.xyz"
    assert main(md(run, straight, 10)) == 0
    step = stop_at(5, KeyboardInterrupt)

    with monkeypatch.context() as patch:
        patch.setattr(VelocityVerlet, "step", step)
        capsys.readouterr()
        assert main(md(run, out, 10)) == 130
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1] == (
        f"scipt: interrupted; kept {partial} (3 frames, steps 0 to 4 of 10): the same command with "
        "--resume continues it"
    )
    assert "Traceback" not in err and not out.exists()
    assert [f.info["step"] for f in read(partial, index=":", format="extxyz")] == [0, 2, 4]

    # the same command again would start over: refused, naming the file and how to continue it
    assert main(md(run, out, 10)) == 2
    assert last_line(capsys) == (
        f"scipt: error: {partial} exists: the trajectory of an interrupted run; --resume continues "
        "it (delete it to start again)"
    )
    assert main(md(run, out, 10, "--resume")) == 0
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[0] == f"scipt md: resuming {partial} (3 frames, at step 4) up to step 10"
    # the summary covers the whole trajectory: its 6 frames, the energy change from step 0's frame
    frames = read(out, index=":")
    drift = 1000 * (frames[-1].info["total_energy"] - frames[0].info["total_energy"])
    since_resume = 1000 * (frames[-1].info["total_energy"] - frames[2].info["total_energy"])
    assert f"{drift:+.2f}" != f"{since_resume:+.2f}"  # so the line tells them apart
    assert re.fullmatch(
        rf"10 steps \(5 fs\), resumed at step 4: the last 6 in [0-9.]+ s \([0-9.]+ ms/step\); total "
        rf"energy change {re.escape(f'{drift:+.2f}')} meV; wrote 6 frames to {re.escape(str(out))}",
        lines[-1],
    )
    assert [f.info["step"] for f in frames] == [0, 2, 4, 6, 8, 10]
    assert out.read_bytes() == straight.read_bytes() and not partial.exists()


def test_resume_without_a_partial_file(run, tmp_path, capsys):
    out = tmp_path / "traj.xyz"
    assert main(md(run, out, 4, "--resume")) == 2
    assert last_line(capsys) == f"scipt: error: --resume: no {out}.partial to continue (nor a finished {out})"
    assert not out.exists()
    assert main(md(run, out, 4)) == 0
    before = out.read_bytes()
    capsys.readouterr()
    assert main(md(run, out, 4, "--resume")) == 0
    assert capsys.readouterr().err.strip() == (
        f"scipt md: {out} is complete (there is no {out}.partial to continue): nothing to do"
    )
    assert out.read_bytes() == before


def test_a_complete_output_is_replaced_only_when_the_new_run_ends(run, tmp_path, capsys, monkeypatch):
    """As before trajectories were written as they go: a new run over a finished output replaces it,
    at its end; interrupted, it leaves the old output whole beside its own partial file."""
    out = tmp_path / "traj.xyz"
    assert main(md(run, out, 2)) == 0
    before = out.read_bytes()
    step = stop_at(3, KeyboardInterrupt)

    with monkeypatch.context() as patch:
        patch.setattr(VelocityVerlet, "step", step)
        assert main(md(run, out, 6)) == 130
    assert out.read_bytes() == before
    assert main(md(run, out, 6, "--resume")) == 0
    assert [f.info["step"] for f in read(out, index=":")] == [0, 2, 4, 6]
    assert "wrote 4 frames" in last_line(capsys)


def test_sigterm_stops_a_running_scipt_md_and_keeps_its_frames(run, tmp_path, capsys):
    """A batch system's time limit: SIGTERM to `scipt md` while it writes frames. It stops at once,
    keeps the partial file cut to its complete frames, says so in one line (no traceback) and exits
    143; `--resume` (here to 4 steps past where it stopped) continues the file."""
    out = tmp_path / "traj.xyz"
    partial = Path(f"{out}.partial")
    command = [sys.executable, "-m", "sciPT.cli", *md(run, out, 1_000_000)]
    # two complete frames (9 atoms, 11 lines each): the run is in its loop
    status, err = terminate_when(
        command, lambda: partial.exists() and partial.read_bytes().count(b"\n") >= 22
    )
    assert status == 143, err
    assert "Traceback" not in err
    line = err.strip().splitlines()[-1]
    match = re.fullmatch(
        rf"scipt: terminated \(SIGTERM\); kept {re.escape(str(partial))} \((\d+) frames, steps 0 to "
        rf"(\d+) of 1000000\): the same command with --resume continues it",
        line,
    )
    assert match, line
    count, last = int(match[1]), int(match[2])
    kept = read(partial, index=":", format="extxyz")
    assert len(kept) == count >= 2 and kept[-1].info["step"] == last == 2 * (count - 1)
    assert partial.read_bytes().count(b"\n") == 11 * count  # no torn frame left behind
    assert main(md(run, out, last + 4, "--resume")) == 0
    frames = read(out, index=":")
    assert [f.info["step"] for f in frames] == [2 * i for i in range(count + 2)]
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.parametrize(
    "error, status",
    [(RuntimeError("a bug"), None), (DataError("atoms 0 and 1 are 0.050 Angstrom apart"), 2)],
    ids=["bug", "user-error"],
)
def test_an_error_during_the_run_keeps_the_partial_too(run, tmp_path, capsys, monkeypatch, error, status):
    """A bug keeps its traceback, a user error its one line; either way the frames written so far
    stay, and one line says where and how to continue."""
    out = tmp_path / "traj.xyz"
    step = stop_at(3, error)

    monkeypatch.setattr(VelocityVerlet, "step", step)
    capsys.readouterr()
    if status is None:
        with pytest.raises(RuntimeError, match="a bug"):
            main(md(run, out, 8))
        kept = last_line(capsys)
    else:
        assert main(md(run, out, 8)) == status
        *_, said, kept, hint = capsys.readouterr().err.strip().splitlines()
        assert said == f"scipt: error: {error}"
        assert hint == (
            "scipt: the dynamics left what the model can describe; a resume starts from the last frame, "
            "so first try a smaller --timestep, or a model trained on such geometries"
        )
    why = "md stopped by an error; " if status is None else ""
    assert kept == (
        f"scipt: {why}kept {out}.partial (2 frames, steps 0 to 2 of 8): the same command with --resume "
        "continues it"
    )
    assert [f.info["step"] for f in read(f"{out}.partial", index=":", format="extxyz")] == [0, 2]


@pytest.mark.parametrize(
    "device, said",
    [
        ("gpu0", "--device gpu0: not a torch device (expected cpu, cuda, cuda:N, ...)"),
        ("cuda", "--device cuda: this torch build has no CUDA (a CPU build); use --device cpu"),
    ],
)
def test_a_device_torch_cannot_use_is_refused_before_anything_loads(
    tmp_path, capsys, monkeypatch, device, said
):
    """torch would raise its traceback only when the model moves; the run named here does not even
    exist: the device is checked first."""
    monkeypatch.setattr(torch.version, "cuda", None)  # a CPU build, on any machine
    monkeypatch.setattr(torch.version, "hip", None, raising=False)
    out = tmp_path / "traj.xyz"
    assert main(md(tmp_path / "no-run", out, 4, "--device", device)) == 2
    assert capsys.readouterr().err.strip() == f"scipt: error: {said}"
    assert not out.exists() and not (tmp_path / "traj.xyz.partial").exists()


def test_an_output_naming_a_directory_is_refused_before_anything_is_written(tmp_path, capsys):
    (tmp_path / "adir").mkdir()
    structure = Path(__file__).resolve().parents[2] / "data_recipes" / "molecules" / "ethanol" / "train.xyz"
    argv = [
        "md",
        str(tmp_path / "no-run"),
        "--structure",
        str(structure),
        "--steps",
        "2",
        "--temperature",
        "300",
    ]
    with pytest.raises(SystemExit) as refused:
        main([*argv, "--output", str(tmp_path / "adir")])
    assert refused.value.code == 2
    assert (
        f"argument --output: {tmp_path / 'adir'} is a directory; expected a file name"
        in capsys.readouterr().err
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adir"]


def test_a_trajectory_written_over_its_starting_structure_is_refused(run, tmp_path, capsys):
    start = tmp_path / "start.xyz"
    start.write_text(ETHANOL.read_text())
    kept = start.read_text()
    argv = md(run, start, 2)
    argv[argv.index("--structure") + 1] = str(start)
    assert main(argv) == 2
    assert last_line(capsys) == (
        f"scipt: error: {start}: is the starting structure itself; write the trajectory to another file"
    )
    assert start.read_text() == kept


def test_predicting_over_the_input_or_in_batches_of_no_frames_is_refused(run, tmp_path, capsys):
    frames = tmp_path / "frames.xyz"
    frames.write_text(ETHANOL.read_text())
    assert main(["predict", str(run), "--input", str(frames), "--output", str(frames)]) == 2
    assert last_line(capsys) == (
        f"scipt: error: {frames}: is the input itself; write the predictions to another file"
    )
    assert frames.read_text() == ETHANOL.read_text()
    out = tmp_path / "p.xyz"
    argv = ["predict", str(run), "--input", str(frames), "--output", str(out), "--frames-per-batch", "-1"]
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    assert stopped.value.code == 2 and not out.exists()
    assert "argument --frames-per-batch: expected a positive integer, got -1" in capsys.readouterr().err


def test_the_starting_structure_is_read_in_the_runs_length_unit(tmp_path, capsys):
    """A run trained with --data.length-unit Bohr: predict read its input in Bohr, md read the same
    file as Angstrom (bonds 1.89 times too long, the start 6.5 eV higher). Frame 0 of the trajectory
    is now the structure predict scores, at its energy; so is the model/ folder's."""
    bohr = 0.52917721067
    frames = read(ETHANOL, index=":8")
    for atoms in frames:
        energy, forces = atoms.get_potential_energy(), atoms.get_forces() * bohr  # eV/Bohr
        atoms.positions /= bohr
        atoms.calc = None
        atoms.info["energy"], atoms.arrays["forces"] = energy, forces
    data = tmp_path / "ethanol_bohr.xyz"
    write(data, frames, format="extxyz")
    run = tmp_path / "bohr"
    args = ["pretrain", "molecules", "--data", str(data), "--data.length-unit", "Bohr", "--max-steps", "2"]
    args += ["--data.isolated-atoms", str(SHIPPED / "ethanol" / "isolated_atoms.xyz")]
    args += ["--batch-size", "4", "--val-every", "2", "--checkpoint-every", "2", "--val-batches", "1"]
    assert main([*args, "--out", str(run)]) == 0
    predicted = tmp_path / "predicted.xyz"
    assert main(["predict", str(run), "--input", str(data), "--output", str(predicted)]) == 0
    expected = read(predicted, index=0)
    assert np.allclose(expected.positions, frames[0].positions * bohr, atol=1e-6)
    # an export copied out of its run (no config.yaml above it) reads as its head_data records:
    # it read the Bohr structure as Angstrom, without a word; so does --head naming that head
    copied = tmp_path / "elsewhere" / "copied"
    shutil.copytree(run / "model", copied)
    head = json.loads((copied / "config.json").read_text())["model"]["head"]
    for where, extra in ((run, []), (run / "model", []), (copied, []), (copied, ["--head", head])):
        traj = tmp_path / f"{where.name}{len(extra)}.xyz"
        argv = ["md", str(where), "--structure", str(data), "--steps", "1", "--temperature", "0", *extra]
        assert main([*argv, "--output", str(traj)]) == 0
        start = read(traj, index=0)
        assert np.allclose(start.positions, expected.positions, atol=1e-6)
        assert start.get_potential_energy() == pytest.approx(expected.get_potential_energy(), abs=1e-3)
    # an export that records no head_data reads Angstrom, as documented
    config = json.loads((copied / "config.json").read_text())
    del config["head_data"]
    (copied / "config.json").write_text(json.dumps(config))
    traj = tmp_path / "unrecorded.xyz"
    argv = ["md", str(copied), "--structure", str(data), "--steps", "1", "--temperature", "0"]
    assert main([*argv, "--output", str(traj)]) == 0
    assert np.allclose(read(traj, index=0).positions, frames[0].positions, atol=1e-6)
    capsys.readouterr()


def test_scipt_md_says_what_a_stop_kept_and_what_a_resume_continues(run, tmp_path, capsys, monkeypatch):
    """SIGTERM (a batch system's time limit) exits 143 and names itself, the frames kept and their
    steps; the resume names the frames it continues and the torn bytes it dropped, so a user knows
    what the killed run left and what the new one starts from."""
    out = tmp_path / "traj.xyz"
    partial = partial_path(out)
    step = stop_at(5, Terminated(signal.SIGTERM))

    with monkeypatch.context() as patch:
        patch.setattr(VelocityVerlet, "step", step)
        assert main(md(run, out, 6)) == 143
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"scipt: terminated (SIGTERM); kept {partial} (3 frames, steps 0 to 4 of 6): the same "
        "command with --resume continues it"
    )
    torn = b"9\nLattice="  # a frame the killed run had begun to write: 10 bytes
    partial.write_bytes(partial.read_bytes() + torn)
    assert main(md(run, out, 6, "--resume")) == 0
    err = capsys.readouterr().err
    assert (
        f"scipt md: resuming {partial} (3 frames, at step 4; dropped a torn last frame (10 bytes)) up "
        "to step 6" in err.splitlines()
    )
    assert [f.info["step"] for f in read(out, index=":", format="extxyz")] == [0, 2, 4, 6]
    # only a torn first frame: nothing to continue from, the resume starts from the structure
    other = tmp_path / "other.xyz"
    partial_path(other).write_bytes(torn)
    assert main(md(run, other, 6, "--resume")) == 0
    assert (
        f"scipt md: resuming {partial_path(other)} (no complete frame; dropped a torn last frame "
        "(10 bytes)) up to step 6" in capsys.readouterr().err.splitlines()
    )
    assert [f.info["step"] for f in read(other, index=":", format="extxyz")] == [0, 2, 4, 6]


def test_scipt_md_takes_an_extxyz_name_in_any_case_and_refuses_other_formats(run, tmp_path, capsys):
    """The trajectory is extended XYZ: TRAJ.XYZ (a name a user may type) is one, traj.traj is not and is
    refused before the model loads (ase.io.read would fail on it)."""
    assert main(md(run, tmp_path / "TRAJ.XYZ", 6)) == 0
    assert [f.info["step"] for f in read(tmp_path / "TRAJ.XYZ", index=":", format="extxyz")] == [0, 2, 4, 6]
    capsys.readouterr()
    assert main(md(run, tmp_path / "traj.traj", 6)) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"scipt: error: --output {tmp_path / 'traj.traj'}: the trajectory is written as extended XYZ; "
        "expected a name ending in .xyz or .extxyz"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["TRAJ.XYZ"]


def test_an_error_before_the_first_frame_is_reported_alone(run, tmp_path, capsys, monkeypatch):
    """An error before any frame is written (the start's energy refused) leaves nothing to resume:
    the command says the error only, not the advice to resume from a last frame that does not exist."""

    def refuse(*args, **kwargs):
        raise UserError("the energy of the start is not finite")

    monkeypatch.setattr(molecules_md, "snapshot", refuse)
    out = tmp_path / "traj.xyz"
    assert main(md(run, out, 6)) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1] == "scipt: error: the energy of the start is not finite"
    assert "resume" not in err and not partial_path(out).exists() and not out.exists()


def test_a_resume_with_another_model_is_refused(run, tmp_path, capsys, monkeypatch):
    """Every frame records the potential (its weights' SHA-256, 16 digits, and its head); a resume
    with other weights continued another physics without a word (found by an audit: -11 eV of
    "drift" over 12 steps)."""
    from safetensors.torch import load_file, save_file

    from sciPT.files import file_sha256

    other = tmp_path / "other"
    shutil.copytree(run / "model", other)
    tensors = load_file(other / "model.safetensors")
    name = next(iter(tensors))
    tensors[name] = tensors[name] + 1e-3
    save_file(tensors, other / "model.safetensors", metadata={"format": "pt"})
    out = tmp_path / "traj.xyz"
    step = stop_at(3, KeyboardInterrupt)

    with monkeypatch.context() as patch:
        patch.setattr(VelocityVerlet, "step", step)
        assert main(md(run, out, 6)) == 130
    ours = file_sha256(run / "model" / "model.safetensors")[:16]
    theirs = file_sha256(other / "model.safetensors")[:16]
    head = json.loads((run / "model" / "config.json").read_text())["model"]["head"]
    kept = read(partial_path(out), index=":", format="extxyz")
    assert {(f.info["md_model_sha256"], f.info["md_head"]) for f in kept} == {(ours, head)}
    capsys.readouterr()
    assert main(md(other, out, 6, "--resume")) == 2
    assert last_line(capsys) == (
        f"scipt: error: RUN, whose weights have SHA-256 {theirs}: {partial_path(out)} was run with RUN, "
        f"whose weights have SHA-256 {ours}; give the interrupted run's options again (or delete it to "
        "start a new run)"
    )
    assert main(md(run, out, 6, "--resume")) == 0


@pytest.mark.parametrize("engine", ["ase", "torchsim"])
def test_periodic_images_the_model_never_saw_are_said_once_at_the_start(run, tmp_path, capsys, engine):
    """Pre-trained on ethanol alone, the model has never seen a periodic image: ethanol in a 6
    Angstrom box meets its own within the cut-off, and one line says so before the run (with either
    engine); in a 20 Angstrom box its graph is the isolated molecule's, and nothing is said."""
    said = (
        "periodic images within the cutoff, but head train was trained on molecules alone (no training "
        "frame had one): its energies, forces and stress here are outside what it learnt"
    )
    for side, expected in [(6.0, [f"warning: {tmp_path / 'box6.xyz'}: {said}"]), (20.0, [])]:
        atoms = read(ETHANOL, index=0)
        atoms.set_cell([side] * 3)
        atoms.center()
        atoms.pbc = True
        structure = tmp_path / f"box{side:g}.xyz"
        write(structure, atoms)
        args = md(run, tmp_path / f"traj{side:g}.xyz", 2, "--engine", engine)
        args[args.index("--structure") + 1] = str(structure)
        capsys.readouterr()
        assert main(args) == 0
        assert [
            line for line in capsys.readouterr().err.splitlines() if "periodic images" in line
        ] == expected
