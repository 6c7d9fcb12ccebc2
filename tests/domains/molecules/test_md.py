"""The MD trajectory file while a run goes: written frame by frame to OUTPUT.partial, kept (cut to
its complete frames) when the run is interrupted, and continued by a resume, which for velocity
Verlet is the uninterrupted run itself."""

import dataclasses
import functools
import shutil
import signal

import numpy as np
import pytest
from ase import Atoms
from ase.io import read, write
from ase.md.langevin import Langevin
from ase.md.verlet import VelocityVerlet
from tqdm.auto import tqdm

from sciPT.domains.molecules import md
from sciPT.domains.molecules.calculator import SciPTCalculator
from sciPT.domains.molecules.md import MDSettings, run_md
from sciPT.domains.molecules.trajectory import Trajectory, check_output, partial_path
from sciPT.errors import ConfigError, UserError
from sciPT.signals import Terminated, sigterm_raises


@pytest.fixture(scope="module")
def calculator(trained_ethanol_potential, tmp_path_factory):
    """The tiny architecture in float64, 60 Adam steps on 32 ethanol frames (smooth forces)."""
    out, _ = trained_ethanol_potential(tmp_path_factory.mktemp("md") / "model", 32, 60)
    return SciPTCalculator(out)


@pytest.fixture
def ethanol(shipped):
    return read(shipped / "ethanol" / "train.xyz", index=500)


def frames_of(path):
    return read(path, index=":", format="extxyz")


def interrupt_at(monkeypatch, integrator, step, watch=None, seen=None):
    """Make ``integrator.step`` raise KeyboardInterrupt when asked for step ``step``, after putting
    the frames the file ``watch`` holds at that moment into ``seen``."""
    original, calls = integrator.step, []

    def step_or_interrupt(self, *args, **kwargs):
        calls.append(None)
        if len(calls) == step:
            if watch is not None:
                seen.extend(frames_of(watch))
            raise KeyboardInterrupt
        return original(self, *args, **kwargs)

    monkeypatch.setattr(integrator, "step", step_or_interrupt)


def test_frames_are_written_as_the_run_goes_and_kept_when_it_is_interrupted(
    calculator, ethanol, tmp_path, monkeypatch
):
    out = tmp_path / "traj.xyz"
    seen = []
    interrupt_at(monkeypatch, VelocityVerlet, 5, watch=partial_path(out), seen=seen)
    with pytest.raises(KeyboardInterrupt):
        run_md(ethanol, calculator, MDSettings(steps=20, temperature=300.0), out, progress=False)
    # while step 5 was being integrated the file already held the frames of steps 0-4, flushed
    assert [f.info["step"] for f in seen] == [0, 1, 2, 3, 4]
    assert not out.exists()
    kept = frames_of(partial_path(out))
    assert [f.info["step"] for f in kept] == [0, 1, 2, 3, 4]
    assert kept[-1].get_momenta().shape == (9, 3) and kept[-1].get_forces().shape == (9, 3)


def test_the_last_step_is_written_when_the_interval_does_not_divide_the_steps(calculator, ethanol, tmp_path):
    """25 steps every 10 wrote steps 0, 10 and 20: the state the run ended in was lost, and the
    energy change it reported was at step 20."""
    out = tmp_path / "traj.xyz"
    run_md(ethanol, calculator, MDSettings(steps=5, temperature=300.0, interval=2), out, progress=False)
    assert [f.info["step"] for f in frames_of(out)] == [0, 2, 4, 5]


def _interrupted(calculator, atoms, settings, out, monkeypatch, integrator, step):
    with monkeypatch.context() as patch:
        interrupt_at(patch, integrator, step)
        with pytest.raises(KeyboardInterrupt):
            run_md(atoms, calculator, settings, out, progress=False)
    assert not out.exists() and partial_path(out).exists()


def test_a_resumed_nve_run_is_the_uninterrupted_run(calculator, ethanol, tmp_path, monkeypatch):
    """Interrupted while integrating step 7 (frames every 2 steps: 0, 2, 4, 6 kept) and resumed
    from step 6, velocity Verlet gives the straight run's trajectory, to the last bit: the file
    holds positions and momenta to full precision, and they are the integrator's whole state."""
    settings = MDSettings(steps=12, temperature=300.0, interval=2, seed=4)
    straight, out = tmp_path / "straight.xyz", tmp_path / "resumed.xyz"
    run_md(ethanol, calculator, settings, straight, progress=False)
    _interrupted(calculator, ethanol, settings, out, monkeypatch, VelocityVerlet, 7)
    assert [f.info["step"] for f in frames_of(partial_path(out))] == [0, 2, 4, 6]
    log = run_md(ethanol, calculator, settings, out, progress=False, resume=True)
    assert [row["step"] for row in log] == [8, 10, 12]  # what this call wrote
    assert not partial_path(out).exists()
    resumed, expected = read(out, index=":"), read(straight, index=":")
    assert [f.info["step"] for f in resumed] == [0, 2, 4, 6, 8, 10, 12]
    np.testing.assert_array_equal(resumed[-1].positions, expected[-1].positions)
    np.testing.assert_array_equal(resumed[-1].get_momenta(), expected[-1].get_momenta())
    assert np.abs(resumed[-1].positions - resumed[0].positions).max() > 1e-3  # it moved
    assert out.read_bytes() == straight.read_bytes()


def test_a_torn_last_frame_is_dropped_when_resuming(calculator, ethanol, tmp_path, monkeypatch):
    """A run killed while writing leaves part of a frame after the complete ones: the resume cuts
    the file back to its complete frames and continues from the last, as if it had not been."""
    settings = MDSettings(steps=8, temperature=300.0, interval=2, seed=1)
    straight, out = tmp_path / "straight.xyz", tmp_path / "torn.xyz"
    run_md(ethanol, calculator, settings, straight, progress=False)
    _interrupted(calculator, ethanol, settings, out, monkeypatch, VelocityVerlet, 5)
    partial = partial_path(out)
    complete = partial.read_bytes()
    lines = straight.read_bytes().splitlines(keepends=True)
    torn = b"".join(lines[3 * 11 : 3 * 11 + 5]) + lines[3 * 11 + 5][:20]  # step 6: 4 lines and a half
    partial.write_bytes(complete + torn)
    trajectory = Trajectory.open(out, resume=True)
    assert (trajectory.frames, trajectory.last_step, trajectory.dropped_bytes) == (3, 4, len(torn))
    assert partial.read_bytes() == complete
    run_md(ethanol, calculator, settings, trajectory, progress=False)
    assert out.read_bytes() == straight.read_bytes()
    # not even the first frame complete: the resume starts from the structure, as a new run does
    partial.write_bytes(lines[0] + lines[1][:30])
    out.unlink()
    trajectory = Trajectory.open(out, resume=True)
    assert (trajectory.frames, trajectory.last_step) == (0, None)
    run_md(ethanol, calculator, settings, trajectory, progress=False)
    assert out.read_bytes() == straight.read_bytes()


def test_a_resumed_nvt_run_is_reproducible_not_the_uninterrupted_one(
    calculator, ethanol, tmp_path, monkeypatch
):
    """The Langevin noise after a resume comes from a stream seeded by (seed, step): two resumes of
    one partial file agree exactly, and differ from the uninterrupted run after the resume (whose
    noise was drawn from the stream of the seed alone)."""
    settings = MDSettings(steps=8, temperature=300.0, interval=2, ensemble="nvt", friction=0.05, seed=2)
    straight, first, second = (tmp_path / f"{n}.xyz" for n in ("straight", "first", "second"))
    run_md(ethanol, calculator, settings, straight, progress=False)
    _interrupted(calculator, ethanol, settings, first, monkeypatch, Langevin, 5)
    shutil.copy(partial_path(first), partial_path(second))
    for out in (first, second):
        run_md(ethanol, calculator, settings, out, progress=False, resume=True)
    assert first.read_bytes() == second.read_bytes()
    resumed, expected = read(first, index=":"), read(straight, index=":")
    assert [f.info["step"] for f in resumed] == [0, 2, 4, 6, 8]
    np.testing.assert_array_equal(resumed[2].positions, expected[2].positions)  # step 4, before
    assert np.abs(resumed[-1].get_momenta() - expected[-1].get_momenta()).max() > 1e-4
    # the thermostat still holds the centre of mass after the resume
    assert np.abs(resumed[-1].get_momenta().sum(axis=0)).max() < 1e-9
    # its physics is recorded in every frame, and a resume with other physics is refused
    assert {k: resumed[-1].info[k] for k in ("md_ensemble", "md_temperature_K", "md_friction_per_fs", "md_seed")} == {
        "md_ensemble": "nvt", "md_temperature_K": 300.0, "md_friction_per_fs": 0.05, "md_seed": 2
    }  # fmt: skip
    third = tmp_path / "third.xyz"
    _interrupted(calculator, ethanol, settings, third, monkeypatch, Langevin, 5)
    hotter = MDSettings(steps=8, temperature=350.0, interval=2, ensemble="nvt", friction=0.05, seed=2)
    with pytest.raises(UserError) as err:
        run_md(ethanol, calculator, hotter, third, progress=False, resume=True)
    assert str(err.value) == (
        f"--temperature 350.0: {partial_path(third)} was run with --temperature 300.0; give the "
        "interrupted run's options again (or delete it to start a new run)"
    )
    nve = MDSettings(steps=8, temperature=300.0, interval=2, seed=2)
    with pytest.raises(UserError) as err:
        run_md(ethanol, calculator, nve, third, progress=False, resume=True)
    assert str(err.value).startswith(f"--ensemble nve: {partial_path(third)} was run with --ensemble nvt;")
    # the potential's head: recorded where the settings name it (the command line does), checked
    fourth = tmp_path / "fourth.xyz"
    dft = dataclasses.replace(settings, head="dft")
    _interrupted(calculator, ethanol, dft, fourth, monkeypatch, Langevin, 5)
    assert {f.info["md_head"] for f in frames_of(partial_path(fourth))} == {"dft"}
    with pytest.raises(UserError) as err:
        run_md(
            ethanol,
            calculator,
            dataclasses.replace(settings, head="ccsd"),
            fourth,
            progress=False,
            resume=True,
        )
    assert str(err.value).startswith(f"--head ccsd: {partial_path(fourth)} was run with --head dft;")


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(temperature=float("inf")), "--temperature: expected a temperature >= 0 K, got inf"),
        (dict(timestep=float("inf")), "--timestep: expected a positive time step in fs, got inf"),
        (dict(friction=float("inf")), "--friction: expected a friction >= 0 per fs, got inf"),
    ],
)
def test_infinite_settings_are_refused(change, message):
    with pytest.raises(ConfigError) as err:
        MDSettings(**{"steps": 2, "temperature": 300.0, **change}).validate()
    assert str(err.value) == message


def test_a_partial_file_is_never_overwritten_and_resume_needs_one(tmp_path):
    out = tmp_path / "traj.xyz"
    with pytest.raises(UserError) as err:
        Trajectory.open(out, resume=True)
    assert str(err.value) == f"--resume: no {out}.partial to continue (nor a finished {out})"
    partial_path(out).write_text("")
    with pytest.raises(UserError) as err:
        Trajectory.open(out)
    assert str(err.value) == (
        f"{out}.partial exists: the trajectory of an interrupted run; --resume continues it (delete "
        "it to start again)"
    )
    partial_path(out).unlink()
    out.write_text("done\n")
    assert check_output(out, resume=True) is False  # a finished run: nothing to do
    assert check_output(out, resume=False) is True  # a new run replaces it when it ends


def test_a_resume_must_continue_the_same_structure_and_settings(calculator, ethanol, tmp_path, monkeypatch):
    settings = MDSettings(steps=8, temperature=300.0, interval=2)
    out = tmp_path / "traj.xyz"
    _interrupted(calculator, ethanol, settings, out, monkeypatch, VelocityVerlet, 5)
    partial = partial_path(out)
    before = partial.read_bytes()
    methanol = Atoms("CH4O", positions=np.random.default_rng(0).normal(scale=1.5, size=(6, 3)))
    cases = [
        (methanol, settings, f"{partial}: its frames are C2H6O and the structure is CH4O: not a trajectory of this structure"),
        (ethanol, MDSettings(steps=3, temperature=300.0), f"--steps 3: {partial} is already at step 4; give --steps of at least 4"),
        (ethanol, MDSettings(steps=8, temperature=300.0, timestep=1.0), f"--timestep 1: {partial} reached step 4 at 2 fs, a time step of 0.5 fs"),
    ]  # fmt: skip
    for atoms, changed, message in cases:
        with pytest.raises(UserError) as err:
            run_md(atoms, calculator, changed, out, progress=False, resume=True)
        assert str(err.value) == message
        assert partial.read_bytes() == before and not out.exists()


def test_sigterm_raises_only_within_the_block():
    previous = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Terminated), sigterm_raises():
        signal.raise_signal(signal.SIGTERM)  # to this thread, so it is handled before the block ends
    assert signal.getsignal(signal.SIGTERM) is previous


def bar_states(stderr: str) -> list[str]:
    """The states a progress bar drew on a stream that keeps every redraw (a log file)."""
    return [s for s in stderr.replace("\n", "\r").split("\r") if s.strip()]


def test_the_bar_in_a_log_file_redraws_at_its_interval_not_at_every_frame(
    calculator, ethanol, tmp_path, monkeypatch, capsys
):
    """100 steps, a frame each, well inside the 30-s interval sciPT.cli.log_friendly_progress sets
    when standard error is not a terminal: the bar's first and last states only (its figures
    updated every frame used to redraw it 100 times), the last with the final frame's figures."""
    monkeypatch.setattr(md, "tqdm", functools.partial(tqdm, mininterval=30))
    log = run_md(ethanol, calculator, MDSettings(steps=100, temperature=300.0), tmp_path / "t.xyz")
    states = bar_states(capsys.readouterr().err)
    assert len(states) == 2, states
    assert states[0].startswith("MD nve:   0%") and states[1].startswith("MD nve: 100%")
    last = log[-1]
    assert states[1].endswith(f"E={last['total_energy']:.4f} eV, T={last['temperature_K']:.0f} K]")


def test_two_runs_cannot_continue_one_trajectory_at_once(tmp_path):
    """A run writing OUTPUT.partial holds it: a second run's --resume, which would cut the file to
    its complete frames and append to it, is refused while the first runs, and goes on once it ends."""
    import subprocess
    import sys

    from sciPT.domains.molecules.trajectory import Trajectory, partial_path
    from sciPT.errors import UserError

    out = tmp_path / "traj.xyz"
    partial_path(out).write_text("")
    hold = (
        "import fcntl, sys, time; f = open(sys.argv[1], 'rb'); fcntl.flock(f.fileno(), fcntl.LOCK_EX); "
        "print('holding', flush=True); time.sleep(60)"
    )
    writer = subprocess.Popen(
        [sys.executable, "-c", hold, str(partial_path(out))], stdout=subprocess.PIPE, text=True
    )
    try:
        assert writer.stdout.readline() == "holding\n"
        with pytest.raises(UserError) as refused:
            Trajectory.open(out, resume=True)
        assert str(refused.value) == (
            f"{partial_path(out)}: another scipt md is writing this trajectory: wait for it to end, or give "
            "another --output"
        )
    finally:
        writer.kill()
        writer.wait()
    assert Trajectory.open(out, resume=True).frames == 0


def _hand_temperature(momenta, masses, dof):
    """2 KE / (dof kB) in K, KE = sum p^2 / 2m."""
    from ase import units

    return float(np.sum(momenta**2 / masses[:, None])) / (dof * units.kB)


def test_the_start_is_at_the_temperature_over_the_degrees_of_freedom_that_move(ethanol):
    """ASE's Stationary and ZeroRotation scaled the momenta back to 3N/2 kT after removing the drift
    and the rotation: ethanol's 3 * 9 - 6 = 21 moving degrees of freedom started at 300 * 27/21 =
    386 K. A periodic cell, or a molecule under the thermostat (which gives rotations their
    share), keeps its rotation: 3N - 3 = 24."""
    atoms = ethanol.copy()
    md.initial_velocities(atoms, 300.0, seed=0)
    p, m = atoms.get_momenta(), atoms.get_masses()
    assert _hand_temperature(p, m, 21) == pytest.approx(300.0, rel=1e-12)
    assert np.abs(p.sum(0)).max() < 1e-12 and np.abs(atoms.get_angular_momentum()).max() < 1e-10
    assert md.kinetic_temperature(atoms) == pytest.approx(300.0, rel=1e-12)

    for pbc, ensemble in ((True, "nve"), ((True, True, False), "nve"), (False, "nvt")):
        other = ethanol.copy()
        other.set_cell([12.0, 12.0, 12.0])
        other.pbc = pbc
        md.initial_velocities(other, 300.0, seed=0, ensemble=ensemble)
        p = other.get_momenta()
        assert md.degrees_of_freedom(other, ensemble) == 24
        assert _hand_temperature(p, m, 24) == pytest.approx(300.0, rel=1e-12)
        assert np.abs(p.sum(0)).max() < 1e-12 and np.abs(other.get_angular_momentum()).max() > 1e-3


def test_small_and_linear_molecules_count_their_own_degrees_of_freedom():
    """Two atoms move along their bond only (1); a linear molecule has no rotation about its axis
    (3N - 5); one atom does not move (its momenta stay zero, not 0 / 0)."""
    n2 = Atoms("N2", positions=[[0, 0, 0], [0.6, 0.5, 0.4]])
    co2 = Atoms("OCO", positions=[[-1.16, 0, 0], [0, 0, 0], [1.16, 0, 0]])
    assert [md.degrees_of_freedom(a) for a in (Atoms("C"), n2, co2)] == [0, 1, 4]
    assert md.degrees_of_freedom(Atoms("C", cell=[5, 5, 5], pbc=True)) == 0
    for atoms, dof in ((n2, 1), (co2, 4)):
        md.initial_velocities(atoms, 300.0, seed=3)
        assert _hand_temperature(atoms.get_momenta(), atoms.get_masses(), dof) == pytest.approx(
            300.0, rel=1e-12
        )
    # the diatomic's momenta lie along its bond: no rotation is left
    bond = n2.positions[1] - n2.positions[0]
    assert np.abs(np.cross(n2.get_momenta(), bond)).max() < 1e-12


@pytest.mark.parametrize("ensemble", ["nve", "nvt"])
def test_each_frame_reports_its_temperature_over_the_moving_degrees_of_freedom(
    calculator, ethanol, tmp_path, ensemble
):
    """The first frame reads --temperature exactly, by hand from its momenta: over 21 degrees of
    freedom in nve (ASE's get_temperature, over 27, read 300 K of a start at 386 K), 24 in nvt
    (the centre of mass held, by FixCom, whose own count ASE's agrees with)."""
    out = tmp_path / "traj.xyz"
    log = run_md(
        ethanol, calculator, MDSettings(steps=2, temperature=300.0, ensemble=ensemble), out, progress=False
    )
    frames = frames_of(out)
    dof = 21 if ensemble == "nve" else 24
    for frame, row in zip(frames, log):
        hand = _hand_temperature(frame.get_momenta(), frame.get_masses(), dof)
        assert row["temperature_K"] == pytest.approx(hand, rel=1e-9)
        assert frame.info["temperature_K"] == pytest.approx(hand, rel=1e-6)
    assert log[0]["temperature_K"] == pytest.approx(300.0, rel=1e-12)


def test_the_integrators_step_is_the_timestep_in_fs_and_a_free_atom_moves_p_over_m_per_step():
    """--timestep is in fs: velocity Verlet's dt is 0.5 * units.fs (ASE's time unit is about
    10.18 fs), and an atom without forces moves 10 * dt * p / m in 10 steps."""
    from ase import units
    from ase.calculators.lj import LennardJones

    atoms = Atoms("Ar", positions=[[0.0, 0.0, 0.0]])
    atoms.calc = LennardJones()  # one atom: no neighbour, no force
    p = np.array([[0.3, -0.1, 0.2]])  # amu * Angstrom / ASE time
    atoms.set_momenta(p)
    dynamics = md._integrator(atoms, MDSettings(steps=10, temperature=0.0))
    assert isinstance(dynamics, VelocityVerlet)
    assert dynamics.dt == pytest.approx(0.5 * units.fs, rel=1e-12)
    dynamics.run(10)
    # by hand: x = 10 * (0.5 * units.fs) * p / m(Ar), m(Ar) = 39.948 amu
    expected = 10 * 0.5 * units.fs * p / 39.948
    np.testing.assert_allclose(atoms.positions, expected, rtol=1e-4)


def test_the_thermostat_holds_the_temperature_with_a_friction_per_fs():
    """nvt integrates Langevin dynamics with dt = --timestep fs, the target --temperature K
    (kB * 300 K = 0.025852 eV) and --friction per fs: 0.01 / units.fs in ASE's inverse time unit
    (0.1018 per ASE time unit)."""
    from ase import units

    atoms = Atoms("Ar2", positions=[[0.0, 0.0, 0.0], [0.0, 0.0, 3.8]])
    settings = MDSettings(steps=1, temperature=300.0, ensemble="nvt", friction=0.01)
    dynamics = md._integrator(atoms, settings)
    assert isinstance(dynamics, Langevin)
    recorded = dynamics.todict()
    assert recorded["timestep"] == pytest.approx(0.5 * units.fs, rel=1e-12)
    assert recorded["temperature_K"] == pytest.approx(300.0, rel=1e-12)
    assert dynamics.temp == pytest.approx(units.kB * 300.0, rel=1e-12)
    assert dynamics.temp == pytest.approx(0.025852, rel=1e-4)  # 8.617333e-5 eV/K * 300 K
    assert recorded["friction"] == pytest.approx(0.01 / units.fs, rel=1e-12)
    assert recorded["friction"] == pytest.approx(0.1018, rel=1e-3)  # 0.01 / 0.098227


def test_each_frames_total_energy_is_its_potential_plus_kinetic_energy(calculator, ethanol, tmp_path):
    """Every frame of an nve run reports total_energy = energy (potential) + kinetic_energy, the
    kinetic energy being sum p^2 / 2m of the frame's momenta, in the file and in the returned log."""
    out = tmp_path / "traj.xyz"
    log = run_md(ethanol, calculator, MDSettings(steps=3, temperature=300.0), out, progress=False)
    frames = frames_of(out)
    assert len(frames) == len(log) == 4
    for frame, row in zip(frames, log):
        p, m = frame.get_momenta(), frame.get_masses()
        kinetic = 0.5 * float(np.sum(p**2 / m[:, None]))
        assert kinetic > 0.1  # 21/2 kB 300 K = 0.27 eV at the start: not negligible
        assert frame.info["kinetic_energy"] == pytest.approx(kinetic, rel=1e-6)
        assert frame.info["total_energy"] == pytest.approx(
            frame.get_potential_energy() + frame.info["kinetic_energy"], abs=1e-6
        )
        assert row["total_energy"] == pytest.approx(row["energy"] + row["kinetic_energy"], abs=1e-12)


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(steps=0), "--steps: expected a positive integer, got 0"),
        (dict(interval=0), "--interval: expected a positive integer, got 0"),
        (dict(temperature=-1.0), "--temperature: expected a temperature >= 0 K, got -1.0"),
        (dict(friction=-0.5), "--friction: expected a friction >= 0 per fs, got -0.5"),
        (dict(timestep=0.0), "--timestep: expected a positive time step in fs, got 0.0"),
        (dict(ensemble="npt"), "--ensemble: expected nve or nvt, got 'npt'"),
    ],
)
def test_settings_out_of_range_are_refused_word_for_word(change, message):
    """No steps, or a frame every 0 steps (a modulo by zero mid-run), is refused before the run
    starts, naming the flag and the value the user gave."""
    with pytest.raises(ConfigError) as err:
        MDSettings(**{"steps": 2, "temperature": 300.0, **change}).validate()
    assert str(err.value) == message


def test_the_bounds_of_the_settings_are_accepted():
    """0 K (a start at rest, a minimisation-like run) and friction 0 (Langevin without coupling)
    are valid runs; one step, a frame every step too."""
    MDSettings(steps=1, temperature=0.0, interval=1, friction=0.0, ensemble="nvt").validate()


def test_a_start_at_zero_kelvin_is_at_rest(ethanol):
    """--temperature 0 draws no motion: every momentum zero (not 0 / 0 from scaling nothing)."""
    atoms = ethanol.copy()
    md.initial_velocities(atoms, 0.0, seed=0)
    assert np.all(atoms.get_momenta() == 0.0)
    assert md.kinetic_temperature(atoms) == 0.0


def test_the_start_follows_the_seed(ethanol):
    """--seed draws the initial velocities: the same seed the same start, another seed another
    (else every replica of an ensemble of runs would be the same trajectory)."""
    starts = {}
    for seed in (0, 0, 1):
        atoms = ethanol.copy()
        md.initial_velocities(atoms, 300.0, seed=seed)
        starts.setdefault(seed, []).append(atoms.get_momenta())
    np.testing.assert_array_equal(starts[0][0], starts[0][1])
    assert np.abs(starts[0][0] - starts[1][0]).max() > 1e-3


def test_the_nvt_noise_is_seeded_by_the_seed_and_the_step_apart_from_the_velocities():
    """A run starting at step s draws its noise from the stream (seed, s, 1): resumes at different
    steps draw different noise, and the noise of a run from step 0 is not the stream the initial
    velocities were drawn from (seed alone; SeedSequence pads with zeros, so (seed, 0) is that
    stream too)."""
    atoms = Atoms("Ar2", positions=[[0.0, 0.0, 0.0], [0.0, 0.0, 3.8]])
    settings = MDSettings(steps=10, temperature=300.0, ensemble="nvt", seed=7)

    def draws(step):
        return md._integrator(atoms.copy(), settings, step).rng.standard_normal(1000)

    np.testing.assert_array_equal(draws(0), np.random.default_rng([7, 0, 1]).standard_normal(1000))
    np.testing.assert_array_equal(draws(6), np.random.default_rng([7, 6, 1]).standard_normal(1000))
    assert not np.array_equal(draws(4), draws(6))
    velocities = np.random.default_rng(7).standard_normal(1000)
    assert abs(np.corrcoef(draws(0), velocities)[0, 1]) < 0.1  # 1000 pairs: sd 0.03 if independent


def test_the_first_nvt_step_does_not_heat_the_start(ethanol, calculator):
    """The thermostat's first kicks are independent of the Maxwell-Boltzmann start: drawn from the
    same stream they pointed along the velocities and took ethanol from 300 K to about 450 K in one
    step at friction 0.05/fs. Over 20 seeds the first step's mean temperature stays within 10 % of
    300 K (one step of 0.5 fs moves little; the kicks add as much energy as the friction takes on
    average)."""
    first = []
    for seed in range(20):
        atoms = ethanol.copy()
        atoms.calc = calculator
        settings = MDSettings(steps=1, temperature=300.0, ensemble="nvt", friction=0.05, seed=seed)
        md.initial_velocities(atoms, 300.0, seed, "nvt")
        md._integrator(atoms, settings).run(1)
        first.append(md.kinetic_temperature(atoms, "nvt"))
    assert 270 < np.mean(first) < 330


def _trajectory_at(tmp_path, energies, frames):
    """A stand-in for a finished Trajectory: first and last frames with these total energies."""
    from types import SimpleNamespace

    first, last = Atoms("H"), Atoms("H")
    first.info["total_energy"], last.info["total_energy"] = energies
    return SimpleNamespace(first=first, last=last, frames=frames, output=tmp_path / "traj.xyz")


def test_the_summary_line_gives_the_whole_runs_time_and_energy_change_in_mev(tmp_path):
    """The run's last line: 40 steps of 0.25 fs = 10 fs, 2 s / 40 steps = 50 ms/step, the total
    energy from -10.0000 to -9.9985 eV: +1.50 meV (a drift a user compares across time steps)."""
    settings = MDSettings(steps=40, temperature=300.0, timestep=0.25, interval=4)
    line = md.summary(_trajectory_at(tmp_path, (-10.0, -9.9985), 11), settings, 0, 2.0)
    assert line == (
        f"40 steps (10 fs) in 2.0 s (50.0 ms/step); total energy change +1.50 meV; wrote 11 frames to "
        f"{tmp_path / 'traj.xyz'}"
    )
    # resumed at step 30: the speed is of the 10 steps this run made, the change still from step 0
    line = md.summary(_trajectory_at(tmp_path, (-10.0, -10.0021), 11), settings, 30, 0.5)
    assert line == (
        f"40 steps (10 fs), resumed at step 30: the last 10 in 0.5 s (50.0 ms/step); total energy "
        f"change -2.10 meV; wrote 11 frames to {tmp_path / 'traj.xyz'}"
    )
    line = md.summary(_trajectory_at(tmp_path, (-10.0, -10.0), 11), settings, 40, 0.1)
    assert line.startswith(
        "40 steps (10 fs), resumed at step 40: none left to run; total energy change +0.00 meV"
    )


def test_a_nearly_linear_molecule_is_not_counted_as_linear():
    """CO2 bent to 170 degrees (its smallest moment of inertia ~1e-3 of its largest) rotates about
    all three axes: 3N - 6 = 3 degrees of freedom, not the linear 3N - 5 = 4, which would read its
    temperature 3/4 of the truth."""
    half = np.radians(85.0)
    bent = Atoms(
        "OCO",
        positions=[
            [-1.16 * np.sin(half), -1.16 * np.cos(half), 0],
            [0, 0, 0],
            [1.16 * np.sin(half), -1.16 * np.cos(half), 0],
        ],
    )
    moments = bent.get_moments_of_inertia()
    assert 1e-4 < moments.min() / moments.max() < 1e-2
    assert md.degrees_of_freedom(bent) == 3


def _argon(cell=None):
    """Three argon atoms with a Lennard-Jones calculator: an MD run of a few steps in milliseconds."""
    from ase.calculators.lj import LennardJones

    atoms = Atoms("Ar3", positions=[[0.0, 0.0, 0.0], [3.8, 0.0, 0.0], [1.9, 3.3, 0.0]])
    if cell is not None:
        atoms.set_cell([cell, cell, cell])
        atoms.pbc = True
    return atoms, LennardJones(sigma=3.4, epsilon=0.0104, rc=8.0)


def test_a_resume_from_a_single_frame_or_from_the_last_step_continues_the_run(tmp_path, monkeypatch):
    """Interrupted before its second frame (only step 0 kept), a resume continues it exactly, even
    given another --temperature or --seed (its momenta are not drawn again); a partial file already at
    --steps (killed between its last frame and the rename) is just finished."""
    atoms, calc = _argon()
    settings = MDSettings(steps=4, temperature=50.0, interval=2, seed=5)
    straight, out = tmp_path / "straight.xyz", tmp_path / "traj.xyz"
    run_md(atoms, calc, settings, straight, progress=False)
    _interrupted(calc, atoms, settings, out, monkeypatch, VelocityVerlet, 2)
    assert [f.info["step"] for f in frames_of(partial_path(out))] == [0]
    # nve continues from the frame's momenta: --temperature and --seed only drew the first ones
    other = dataclasses.replace(settings, temperature=80.0, seed=6)
    log = run_md(atoms, calc, other, out, progress=False, resume=True)
    assert [row["step"] for row in log] == [2, 4]
    assert out.read_bytes() == straight.read_bytes()

    done = tmp_path / "done.xyz"
    shutil.copy(straight, partial_path(done))
    assert run_md(atoms, calc, settings, done, progress=False, resume=True) == []
    assert done.read_bytes() == straight.read_bytes() and not partial_path(done).exists()


def test_a_resume_takes_the_cell_of_the_partial_files_last_frame(tmp_path, monkeypatch):
    """A periodic run continues in the box it ran in (positions inside it), whatever cell the
    structure given again has: positions of one box in another would be another system."""
    atoms, calc = _argon(cell=10.0)
    settings = MDSettings(steps=4, temperature=50.0, interval=2)
    out = tmp_path / "traj.xyz"
    _interrupted(calc, atoms, settings, out, monkeypatch, VelocityVerlet, 3)
    other, _ = _argon(cell=11.0)
    run_md(other, calc, settings, out, progress=False, resume=True)
    frames = frames_of(out)
    assert [f.info["step"] for f in frames] == [0, 2, 4]
    np.testing.assert_array_equal(frames[-1].cell[:], np.eye(3) * 10.0)


def test_an_nvt_resume_with_another_seed_friction_or_time_step_is_refused(tmp_path, monkeypatch):
    """The thermostat's noise seed and friction, and the time step (0.5 % off: a typo), are part of
    an nvt run: a resume with others would write a second simulation into the same file."""
    atoms, calc = _argon()
    settings = MDSettings(steps=6, temperature=50.0, interval=2, ensemble="nvt", friction=0.02, seed=3)
    out = tmp_path / "traj.xyz"
    _interrupted(calc, atoms, settings, out, monkeypatch, Langevin, 4)
    partial = partial_path(out)
    before = partial.read_bytes()
    cases = [
        (dict(seed=4), f"--seed 4: {partial} was run with --seed 3; give the interrupted run's options again (or delete it to start a new run)"),
        (dict(friction=0.01), f"--friction 0.01: {partial} was run with --friction 0.02; give the interrupted run's options again (or delete it to start a new run)"),
        (dict(timestep=0.5025), f"--timestep 0.5025: {partial} reached step 2 at 1 fs, a time step of 0.5 fs"),
    ]  # fmt: skip
    for change, message in cases:
        with pytest.raises(ConfigError) as err:
            run_md(atoms, calc, dataclasses.replace(settings, **change), out, progress=False, resume=True)
        assert str(err.value) == message
        assert partial.read_bytes() == before


def test_a_partial_file_not_written_by_scipt_md_is_refused_naming_what_is_wrong(tmp_path):
    """--resume of a file that is not an MD trajectory says which line or frame, and what is missing,
    instead of a traceback from ASE or a run from a frame without momenta."""
    from sciPT.errors import DataError

    out = tmp_path / "traj.xyz"
    partial = partial_path(out)
    partial.write_text("hello\n")
    with pytest.raises(DataError) as err:
        Trajectory.open(out, resume=True)
    assert (
        str(err.value) == f"{partial}: line 1: expected the atom count of an extended XYZ frame, got 'hello'"
    )
    atoms, _ = _argon()
    write(partial, atoms, format="extxyz")  # a plain structure: no step, no energies, no momenta
    with pytest.raises(DataError) as err:
        Trajectory.open(out, resume=True)
    assert str(err.value) == (
        f"{partial}: frame 0: no step, time_fs, total_energy, momenta: not a frame written by scipt md"
    )


def test_resume_of_a_finished_trajectory_has_nothing_to_do(tmp_path):
    out = tmp_path / "traj.xyz"
    out.write_text("done\n")
    with pytest.raises(UserError) as err:
        Trajectory.open(out, resume=True)
    assert str(err.value) == f"--resume: {out} is complete and there is no {out}.partial: nothing to resume"


def test_an_interruption_cuts_a_torn_frame_and_removes_a_file_with_no_frame(tmp_path):
    """Interrupted in the middle of a frame's write, the partial file keeps its complete frames only
    (a resume reads the last); with no complete frame at all it is removed, and the report says so."""
    atoms, calc = _argon()
    atoms.calc = calc
    md.initial_velocities(atoms, 50.0, seed=0)
    frame = md.snapshot(atoms, 0, 0.5)
    out = tmp_path / "traj.xyz"
    partial = partial_path(out)
    trajectory = Trajectory.open(out)
    with pytest.raises(KeyboardInterrupt), trajectory.writing():
        trajectory.write(frame)
        complete = partial.read_bytes()
        with open(partial, "ab") as handle:
            handle.write(b"3\nLattice=")  # the next frame, torn
        raise KeyboardInterrupt
    assert partial.read_bytes() == complete
    assert trajectory.kept(4) == (
        f"kept {partial} (1 frames, steps 0 to 0 of 4): the same command with --resume continues it"
    )

    empty = tmp_path / "empty.xyz"
    partial_path(empty).write_bytes(b"3\nLattice=")
    trajectory = Trajectory.open(empty, resume=True)
    with pytest.raises(KeyboardInterrupt), trajectory.writing():
        raise KeyboardInterrupt
    assert not partial_path(empty).exists() and not empty.exists()
    assert trajectory.kept(4) == f"no frame was complete, nothing kept (no {partial_path(empty)})"


def test_a_partial_file_of_more_than_a_mebibyte_resumes_from_its_last_frame(tmp_path):
    """The file is scanned in chunks of 1 MiB: a long run's partial file (here ~3000 frames, past the
    first chunk's end) is counted and resumed from its last complete frame as a short one is."""
    atoms, calc = _argon()
    short = tmp_path / "short.xyz"
    run_md(atoms, calc, MDSettings(steps=3, temperature=50.0), short, progress=False)
    lines = short.read_bytes().splitlines(keepends=True)
    head, last = b"".join(lines[:15]), b"".join(lines[15:])  # steps 0-2, step 3
    copies = (1 << 20) // len(head) + 1
    out = tmp_path / "long.xyz"
    partial_path(out).write_bytes(head * copies + last + lines[0])  # and a torn frame
    trajectory = Trajectory.open(out, resume=True)
    assert (trajectory.frames, trajectory.last_step, trajectory.dropped_bytes) == (
        3 * copies + 1,
        3,
        len(lines[0]),
    )
    assert partial_path(out).stat().st_size == len(head) * copies + len(last) > 1 << 20
    np.testing.assert_array_equal(trajectory.last.positions, read(short, index=-1).positions)
    np.testing.assert_array_equal(trajectory.first.get_momenta(), read(short, index=0).get_momenta())


def test_each_frames_time_is_its_step_times_the_time_step(tmp_path):
    """--timestep 0.25: the frames of steps 0, 2 and 4 are at 0, 0.5 and 1 fs (a plot of energy
    against time_fs, or a resume's check of the time step, reads these)."""
    atoms, calc = _argon()
    out = tmp_path / "traj.xyz"
    run_md(atoms, calc, MDSettings(steps=4, temperature=50.0, timestep=0.25, interval=2), out, progress=False)
    assert [(f.info["step"], f.info["time_fs"]) for f in frames_of(out)] == [(0, 0.0), (2, 0.5), (4, 1.0)]


def test_the_starting_structure_is_read_in_the_units_and_periodicity_given(tmp_path):
    """A start in Bohr (the run's --data.length-unit) is converted to Angstrom, 1 Bohr = 0.529177
    Angstrom (else bonds 1.89 times too long), and --data.periodic never makes a boxed file a molecule,
    as the run read its frames."""
    from sciPT.domains.molecules.data import MoleculeDataConfig

    path = tmp_path / "argon_bohr.xyz"
    boxed = Atoms("Ar2", positions=[[0.0, 0.0, 0.0], [0.0, 0.0, 7.0]], cell=[20.0, 20.0, 20.0], pbc=True)
    write(path, boxed, format="extxyz")
    as_run = md.read_structure(str(path), MoleculeDataConfig(length_unit="Bohr", periodic="never"))
    assert as_run.positions[1, 2] == pytest.approx(7.0 * 0.529177, rel=1e-6)
    assert as_run.pbc.tolist() == [False, False, False]
    plain = md.read_structure(str(path))
    assert plain.positions[1, 2] == pytest.approx(7.0) and plain.pbc.tolist() == [True, True, True]


def test_the_start_is_read_as_the_run_or_its_export_records(tmp_path):
    """A run's structure is read in its config.yaml's unit, from the run or its model/ folder (an
    export older than head_data records none); an export copied out of its run reads as its
    head_data says for --head (a fine-tune's pre-training head in Bohr, its own in Angstrom), by
    default for the head it was fine-tuned as. Read in the wrong unit, bonds are 1.89 times off."""
    import json

    run = tmp_path / "run"
    (run / "model").mkdir(parents=True)
    (run / "config.yaml").write_text("data:\n  length_unit: Bohr\n")
    (run / "model" / "model.safetensors").write_bytes(b"")
    (run / "model" / "config.json").write_text(json.dumps({"domain": "molecules", "model": {"head": "pbe"}}))
    assert md.structure_reading(run).length_unit == "Bohr"
    assert md.structure_reading(run / "model").length_unit == "Bohr"

    copied = tmp_path / "copied"
    copied.mkdir()
    (copied / "model.safetensors").write_bytes(b"")
    exported = {
        "domain": "molecules",
        "model": {"head": "pbe", "heads": [{"name": "ccsd"}]},
        "head": "ccsd",
        "head_data": {
            "pbe": {"length_unit": "Bohr", "periodic": "never"},
            "ccsd": {"length_unit": "Angstrom"},
        },
    }
    (copied / "config.json").write_text(json.dumps(exported))
    assert md.structure_reading(copied).length_unit == "Angstrom"
    pbe = md.structure_reading(copied, "pbe")
    assert (pbe.length_unit, pbe.periodic) == ("Bohr", "never")
    assert md.structure_reading(copied, "other") is None


def test_an_export_reads_the_start_as_its_last_head_not_as_a_neighbouring_runs_config(tmp_path):
    """Asked for no head, an export reads the start as its last head records it (the one fine-tuned
    last; heads are listed oldest first). An export copied into another run's folder (run/other/,
    beside that run's own model/) reads as its own record says, not as that run's config.yaml: its
    bonds would be 1.89 times off otherwise."""
    import json

    exported = {
        "domain": "molecules",
        "model": {"head": "pbe", "heads": [{"name": "ccsd"}]},
        "head_data": {"pbe": {"length_unit": "Bohr"}, "ccsd": {"length_unit": "Angstrom"}},
    }
    assert md.exported_heads(exported) == ["pbe", "ccsd"]
    run = tmp_path / "run"
    (run / "model").mkdir(parents=True)
    (run / "config.yaml").write_text("data:\n  length_unit: Bohr\n")
    (run / "model" / "model.safetensors").write_bytes(b"")
    (run / "model" / "config.json").write_text(json.dumps({"domain": "molecules", "model": {"head": "pbe"}}))
    other = run / "other"
    other.mkdir()
    (other / "model.safetensors").write_bytes(b"")
    (other / "config.json").write_text(json.dumps(exported))
    assert md.structure_reading(other).length_unit == "Angstrom"
    assert md.structure_reading(other, "pbe").length_unit == "Bohr"


def test_the_thermostats_friction_is_by_default_0_01_per_fs():
    """MDSettings' default friction is the command's (--friction, default 0.01 per fs): a library
    caller who leaves it out thermostats as `scipt md --ensemble nvt` does."""
    from ase import units

    atoms = Atoms("Ar2", positions=[[0.0, 0.0, 0.0], [0.0, 0.0, 3.8]])
    dynamics = md._integrator(atoms, MDSettings(steps=1, temperature=300.0, ensemble="nvt"))
    assert dynamics.todict()["friction"] == pytest.approx(0.01 / units.fs, rel=1e-12)


def test_a_resumed_nvt_run_continues_with_the_noise_of_the_seed_and_its_step(tmp_path, monkeypatch):
    """Resumed at step 4, the run continues the last frame with Langevin dynamics as the module
    docstring says: dt = --timestep fs, --temperature, --friction per fs, the centre of mass held by
    FixCom (not Langevin's deprecated fixcm, which heats small molecules) and noise drawn from the
    stream of (seed, 4, 1). Built here by hand from ASE, it gives the resumed file's last frame."""
    from ase import units
    from ase.constraints import FixCom

    atoms, calc = _argon()
    settings = MDSettings(steps=6, temperature=50.0, interval=2, ensemble="nvt", friction=0.02, seed=3)
    out = tmp_path / "traj.xyz"
    _interrupted(calc, atoms, settings, out, monkeypatch, Langevin, 5)
    kept = frames_of(partial_path(out))
    assert [f.info["step"] for f in kept] == [0, 2, 4]
    run_md(atoms, calc, settings, out, progress=False, resume=True)
    resumed = frames_of(out)[-1]
    assert resumed.info["step"] == 6

    hand = Atoms("Ar3", positions=kept[-1].positions, momenta=kept[-1].get_momenta())
    hand.calc = calc
    hand.set_constraint(FixCom())
    Langevin(
        hand,
        0.5 * units.fs,
        temperature_K=50.0,
        friction=0.02 / units.fs,
        fixcm=False,
        rng=np.random.default_rng([3, 4, 1]),
    ).run(2)
    np.testing.assert_allclose(resumed.positions, hand.positions, rtol=0, atol=1e-12)
    np.testing.assert_allclose(resumed.get_momenta(), hand.get_momenta(), rtol=0, atol=1e-12)
    assert np.abs(hand.positions - kept[-1].positions).max() > 1e-4  # it moved


def test_a_resumed_runs_bar_starts_at_the_step_it_resumes_from(tmp_path, monkeypatch, capsys):
    """Resumed at step 2 of 4, the bar reads 2/4 (50 %) from its first state and ends at 4/4: one
    that started at 0 would end at 2/4, a run that looks unfinished."""
    atoms, calc = _argon()
    settings = MDSettings(steps=4, temperature=50.0, interval=2)
    out = tmp_path / "traj.xyz"
    _interrupted(calc, atoms, settings, out, monkeypatch, VelocityVerlet, 3)
    capsys.readouterr()
    monkeypatch.setattr(md, "tqdm", functools.partial(tqdm, mininterval=30))
    run_md(atoms, calc, settings, out, resume=True)
    states = bar_states(capsys.readouterr().err)
    assert states[0].startswith("MD nve:  50%") and " 2/4 " in states[0], states
    assert states[-1].startswith("MD nve: 100%") and " 4/4 " in states[-1], states
