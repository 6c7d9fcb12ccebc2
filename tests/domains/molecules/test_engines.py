"""TorchSim as an MD engine: the same energies and forces as the ASE calculator, batched systems
kept apart, NVE energy conservation as good as ASE's, and the ``scipt md --engine`` hook."""

import dataclasses
import functools

import numpy as np
import pytest
from ase.io import read
from tqdm.auto import tqdm

from sciPT.domains.molecules.calculator import SciPTCalculator
from sciPT.domains.molecules.md import MDSettings, run_md

ts = pytest.importorskip("torch_sim")

from sciPT.domains.molecules import engines  # noqa: E402
from sciPT.domains.molecules.engines import integrate_many, run_engine, torchsim_model  # noqa: E402


@pytest.fixture(scope="module")
def trained(trained_ethanol_potential, tmp_path_factory):
    """The tiny architecture in float64, 60 Adam steps on 32 ethanol frames, exported (a smooth
    potential with realistic forces; an untrained one would blow the molecule apart)."""
    out, model = trained_ethanol_potential(tmp_path_factory.mktemp("engines") / "model", 32, 60)
    return out


@pytest.fixture(scope="module")
def molecules(shipped):
    ethanol = [read(shipped / "ethanol" / "train.xyz", index=i) for i in (3, 400)]
    methanol = read(shipped / "ethanol" / "train_eth_meth.xyz", index=5)
    return [*ethanol, methanol]


def test_torchsim_energies_and_forces_equal_the_ase_calculator(trained, molecules):
    """Three structures (two ethanol, one methanol) in one batched state: each system's energy and
    forces are the ASE calculator's on that structure alone, to 1e-5 eV and eV/Angstrom."""
    calc = SciPTCalculator(trained)
    model = torchsim_model(calc.model)
    state = ts.io.atoms_to_state(molecules, model.device, model.dtype)
    out = model(state)
    assert out["energy"].shape == (3,) and out["forces"].shape == (9 + 9 + 6, 3)
    start = 0
    for s, atoms in enumerate(molecules):
        atoms = atoms.copy()
        atoms.calc = calc
        n = len(atoms)
        assert float(out["energy"][s]) == pytest.approx(atoms.get_potential_energy(), abs=1e-5)
        np.testing.assert_allclose(out["forces"][start : start + n].numpy(), atoms.get_forces(), atol=1e-5)
        start += n
    # the forces are not trivially equal: they differ between the systems and are not small
    assert np.abs(out["forces"].numpy()).max() > 0.1


def test_torchsim_nve_drift_is_within_the_ase_runs(trained, molecules, tmp_path):
    """60 steps of 0.5 fs from the same 300 K start. Both are velocity Verlet on the same forces,
    so the largest total-energy deviation of TorchSim's run must not exceed ASE's by more than
    10% (+1e-6 eV), and the trajectories agree to round-off (1e-6 Angstrom)."""
    settings = MDSettings(steps=60, temperature=300.0, timestep=0.5, interval=1, seed=3)
    calc = SciPTCalculator(trained)
    ase_log = run_md(molecules[0], calc, settings, tmp_path / "ase.xyz", progress=False)
    ts_log = run_engine("torchsim", molecules[0], calc, settings, tmp_path / "ts.xyz", progress=False)
    ase_total = np.array([r["total_energy"] for r in ase_log])
    ts_total = np.array([r["total_energy"] for r in ts_log])
    ase_dev, ts_dev = np.abs(ase_total - ase_total[0]).max(), np.abs(ts_total - ts_total[0]).max()
    kinetic = np.array([r["kinetic_energy"] for r in ts_log])
    assert np.ptp(kinetic) > 0.05  # energy really flows between kinetic and potential
    assert ts_dev <= 1.1 * ase_dev + 1e-6
    ase_frames, ts_frames = read(tmp_path / "ase.xyz", index=":"), read(tmp_path / "ts.xyz", index=":")
    assert len(ts_frames) == len(ase_frames) == 61
    np.testing.assert_allclose(ts_frames[-1].positions, ase_frames[-1].positions, atol=1e-6)
    assert [f.info["step"] for f in ts_frames] == list(range(61))


def test_batched_systems_are_integrated_independently(trained, molecules, tmp_path):
    """Two molecules in one state give the trajectories each gives alone (its own seed)."""
    calc = SciPTCalculator(trained)
    settings = MDSettings(steps=10, temperature=300.0, interval=5, seed=1)
    outs = [tmp_path / "a.xyz", tmp_path / "b.xyz"]
    integrate_many([molecules[0], molecules[2]], calc.model, settings, outs, progress=False)
    alone = tmp_path / "alone.xyz"
    integrate_many([molecules[2]], calc.model, dataclasses.replace(settings, seed=2), [alone], progress=False)
    batched, single = read(outs[1], index=":"), read(alone, index=":")
    assert [f.info["step"] for f in batched] == [0, 5, 10]
    np.testing.assert_allclose(batched[-1].positions, single[-1].positions, atol=1e-8)
    assert len(read(outs[0], index=-1)) == 9 and len(batched[-1]) == 6


def test_a_slab_or_a_mix_of_periodicities_is_refused_before_anything_is_written(trained, molecules, tmp_path):
    """A TorchSim state has one periodicity flag: a slab (pbc T T F) was integrated as an isolated
    cluster, with another system's energies and forces."""
    from sciPT.errors import UserError

    calc = SciPTCalculator(trained)
    settings = MDSettings(steps=2, temperature=300.0, interval=1)
    slab = molecules[0].copy()
    slab.cell, slab.pbc = [[12.0, 0, 0], [0, 12.0, 0], [0, 0, 0]], [True, True, False]
    with pytest.raises(UserError) as err:
        run_engine("torchsim", slab, calc, settings, tmp_path / "slab.xyz", progress=False)
    assert str(err.value) == (
        "--engine torchsim: the structure C2H6O is periodic along some axes only (pbc T T F), and "
        "TorchSim integrates structures periodic along all three or none; run it with --engine ase"
    )
    bulk = molecules[0].copy()
    bulk.cell, bulk.pbc = np.eye(3) * 12.0, True
    with pytest.raises(UserError) as err:
        integrate_many([bulk, molecules[2]], calc.model, settings, [tmp_path / "a.xyz", tmp_path / "b.xyz"])
    assert str(err.value) == (
        "--engine torchsim: the structures mix periodic and non-periodic ones, which one batch "
        "cannot hold; run them separately"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_scipt_md_engine_torchsim(trained, shipped, tmp_path, capsys):
    """``scipt md --engine torchsim`` writes the trajectory the ASE engine writes (NVE, same start)."""
    from sciPT.cli import main

    args = ["--structure", str(shipped / "ethanol" / "train.xyz"), "--steps", "8", "--temperature", "300"]
    args += ["--interval", "4", "--dtype", "float64"]
    assert (
        main(["md", str(trained), *args, "--engine", "torchsim", "--output", str(tmp_path / "ts.xyz")]) == 0
    )
    assert main(["md", str(trained), *args, "--output", str(tmp_path / "ase.xyz")]) == 0
    ts_frames, ase_frames = read(tmp_path / "ts.xyz", index=":"), read(tmp_path / "ase.xyz", index=":")
    assert [f.info["step"] for f in ts_frames] == [0, 4, 8]
    np.testing.assert_allclose(ts_frames[-1].positions, ase_frames[-1].positions, atol=1e-8)
    assert ts_frames[-1].info["total_energy"] == pytest.approx(ase_frames[-1].info["total_energy"], abs=1e-8)
    with pytest.raises(SystemExit) as exit_info:  # argparse's own refusal of an unknown choice
        main(["md", str(trained), *args, "--engine", "openmm", "--output", str(tmp_path / "x.xyz")])
    assert exit_info.value.code == 2
    assert (
        "argument --engine: invalid choice: 'openmm' (choose from 'ase', 'torchsim')"
        in capsys.readouterr().err
    )
    assert not (tmp_path / "x.xyz").exists()


def test_torchsim_writes_as_it_goes_keeps_its_partial_and_resumes_nve_exactly(
    trained, molecules, tmp_path, monkeypatch
):
    """The TorchSim engine writes through the ASE engine's trajectory file: frames flushed as they
    are made, the partial file kept when the run is interrupted (here while integrating step 5),
    and an NVE resume from its last frame (step 4) gives the uninterrupted run's file."""
    from sciPT.domains.molecules.trajectory import partial_path

    calc = SciPTCalculator(trained)
    settings = MDSettings(steps=8, temperature=300.0, interval=2, seed=5)
    straight, out = tmp_path / "straight.xyz", tmp_path / "ts.xyz"
    run_engine("torchsim", molecules[0], calc, settings, straight, progress=False)
    original, calls, seen = ts.nve, [], []

    def nve(*args, **kwargs):
        init, update = original(*args, **kwargs)

        def update_or_interrupt(state, *a, **k):
            calls.append(None)
            if len(calls) == 5:
                seen.extend(read(partial_path(out), index=":", format="extxyz"))
                raise KeyboardInterrupt
            return update(state, *a, **k)

        return init, update_or_interrupt

    with monkeypatch.context() as patch:
        patch.setattr(ts, "nve", nve)
        with pytest.raises(KeyboardInterrupt):
            run_engine("torchsim", molecules[0], calc, settings, out, progress=False)
    assert [f.info["step"] for f in seen] == [0, 2, 4]
    assert not out.exists()
    assert [f.info["step"] for f in read(partial_path(out), index=":", format="extxyz")] == [0, 2, 4]
    log = run_engine("torchsim", molecules[0], calc, settings, out, progress=False, resume=True)
    assert [row["step"] for row in log] == [6, 8]
    resumed, expected = read(out, index=":"), read(straight, index=":")
    np.testing.assert_array_equal(resumed[-1].positions, expected[-1].positions)
    np.testing.assert_array_equal(resumed[-1].get_momenta(), expected[-1].get_momenta())
    assert out.read_bytes() == straight.read_bytes()


def test_torchsim_nvt_noise_follows_the_seed_and_resumes_reproducibly(trained, molecules, shipped, tmp_path):
    """TorchSim's Langevin noise comes from torch's global generator: the engine seeds it from
    --seed (and leaves the caller's generator as it was), so a run is repeated exactly and another
    seed gives another run; an interrupted NVT run resumes (noise seeded by --seed and the step),
    every resume of the same file the same, through `scipt md --resume` too."""
    import shutil

    import torch

    from sciPT.cli import main
    from sciPT.domains.molecules.trajectory import partial_path

    calc = SciPTCalculator(trained)
    settings = MDSettings(steps=8, temperature=300.0, ensemble="nvt", interval=2, seed=3)
    runs = {}
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        before = torch.get_rng_state()
        out = tmp_path / f"{name}.xyz"
        run_engine(
            "torchsim", molecules[0], calc, dataclasses.replace(settings, seed=seed), out, progress=False
        )
        assert torch.equal(torch.get_rng_state(), before)
        runs[name] = read(out, index=":")
    assert (tmp_path / "a.xyz").read_bytes() == (tmp_path / "b.xyz").read_bytes()
    assert not np.allclose(runs["a"][-1].positions, runs["c"][-1].positions)

    lines = (tmp_path / "a.xyz").read_text().splitlines(keepends=True)
    first = "".join(lines[: 3 * (len(molecules[0]) + 2)])  # steps 0, 2, 4: as if stopped after step 4
    resumed = []
    for name in ("r1", "r2"):
        out = tmp_path / f"{name}.xyz"
        partial_path(out).write_text(first)
        shutil.copy(partial_path(out), tmp_path / f"{name}.before")
        log = run_engine("torchsim", molecules[0], calc, settings, out, progress=False, resume=True)
        assert [row["step"] for row in log] == [6, 8]
        resumed.append(out.read_bytes())
    assert resumed[0] == resumed[1]
    frames = read(tmp_path / "r1.xyz", index=":")
    assert [f.info["step"] for f in frames] == [0, 2, 4, 6, 8]
    np.testing.assert_array_equal(frames[2].positions, runs["a"][2].positions)

    out = tmp_path / "cli.xyz"
    shutil.copy(tmp_path / "r1.before", partial_path(out))
    args = ["md", str(trained), "--structure", str(shipped / "ethanol" / "train.xyz"), "--steps", "8"]
    args += ["--temperature", "300", "--ensemble", "nvt", "--seed", "3", "--interval", "2"]
    assert main([*args, "--engine", "torchsim", "--output", str(out), "--resume"]) == 0
    assert [f.info["step"] for f in read(out, index=":")] == [0, 2, 4, 6, 8]


def test_the_torchsim_bar_in_a_log_file_redraws_at_its_interval_not_at_every_frame(
    trained, molecules, tmp_path, monkeypatch, capsys
):
    """As the ASE engine's bar (test_md.py): 100 steps, a frame each, inside the 30-s interval of a
    log file, draw the bar's first and last states only, the last with the final total energy."""
    monkeypatch.setattr(engines, "tqdm", functools.partial(tqdm, mininterval=30))
    settings = MDSettings(steps=100, temperature=300.0)
    log = run_engine("torchsim", molecules[0], SciPTCalculator(trained), settings, tmp_path / "t.xyz")
    states = [s for s in capsys.readouterr().err.replace("\n", "\r").split("\r") if s.strip()]
    assert len(states) == 2, states
    assert states[0].startswith("MD nve (TorchSim):   0%") and states[1].startswith("MD nve (TorchSim): 100%")
    assert states[1].endswith(f"E={log[-1]['total_energy']:.4f} eV]")


def test_a_float32_model_s_state_and_energies_are_float64(molecules, shipped):
    """A float32 export's TorchSim state was float32: 100 ethanol molecules (-4.2e5 eV) came back
    rounded to 1/32 eV, 250 meV steps at 10,000 atoms. The state is float64 whatever the weights,
    and the energy is the model's own to round-off."""
    import torch
    from ase import Atoms

    from sciPT.domains.molecules.data import MoleculeDataConfig
    from sciPT.domains.molecules.dataset import collate, prepare
    from sciPT.domains.molecules.graphs import atoms_to_frame, frame_to_graph
    from sciPT.domains.molecules.model import EquivariantPotential
    from sciPT.domains.molecules.presets import tiny

    ethanol_file = str(shipped / "ethanol" / "train.xyz")
    prepared = prepare(
        MoleculeDataConfig(paths=[ethanol_file], max_frames=8, val_fraction=0.0), tiny().model, labelled=True
    )
    single = EquivariantPotential(prepared.model).eval()
    assert next(single.parameters()).dtype == torch.float32
    ethanol = molecules[0]
    cluster = Atoms()
    for k in range(100):
        copy_k = ethanol.copy()
        copy_k.positions += [20.0 * (k % 10), 20.0 * (k // 10), 0.0]
        cluster += copy_k
    model = torchsim_model(single)
    assert model.dtype == torch.float64
    state = ts.io.atoms_to_state([cluster], model.device, model.dtype)
    energy = model(state)["energy"]
    graph = frame_to_graph(atoms_to_frame(cluster, "cluster", labelled=False), float(single.cfg.cutoff))
    own = single(collate([graph]), forces=True, create_graph=False)["energy"]
    assert energy.dtype == torch.float64 and abs(float(own[0])) > 2e5
    assert float(energy[0]) == pytest.approx(float(own[0]), abs=1e-6)


def test_torchsim_writes_the_last_step_when_the_interval_does_not_divide_the_steps(
    trained, molecules, tmp_path
):
    settings = MDSettings(steps=5, temperature=300.0, timestep=0.5, interval=2, seed=3)
    run_engine(
        "torchsim", molecules[0], SciPTCalculator(trained), settings, tmp_path / "ts.xyz", progress=False
    )
    assert [f.info["step"] for f in read(tmp_path / "ts.xyz", index=":")] == [0, 2, 4, 5]


def test_torchsim_nvt_gets_the_time_step_temperature_and_friction_in_ase_units(
    trained, molecules, tmp_path, monkeypatch
):
    """TorchSim works in ASE's units (time in sqrt(amu A^2 / eV)): 0.5 fs is 0.5 * 0.0982269 there,
    300 K is kT = 0.0258520 eV and a friction of 0.02 per fs is 0.02 / 0.0982269; a dropped unit
    ran at a 10x time step, a 300 eV bath or a 100x weaker thermostat."""
    amu, eV = 1.66053906660e-27, 1.602176634e-19
    fs = 1e-15 / np.sqrt(amu * 1e-20 / eV)  # one fs in ASE's time unit, from SI constants
    seen = {}
    original = ts.nvt_langevin

    def spy(*args, **kwargs):
        seen.update({k: float(v) for k, v in kwargs.items() if k in ("dt", "kT", "gamma")})
        return original(*args, **kwargs)

    monkeypatch.setattr(ts, "nvt_langevin", spy)
    settings = MDSettings(steps=1, temperature=300.0, timestep=0.5, ensemble="nvt", friction=0.02, seed=1)
    run_engine(
        "torchsim", molecules[0], SciPTCalculator(trained), settings, tmp_path / "t.xyz", progress=False
    )
    assert seen["dt"] == pytest.approx(0.5 * fs, rel=1e-6)
    assert seen["kT"] == pytest.approx(300.0 * 1.380649e-23 / eV, rel=1e-6)
    assert seen["gamma"] == pytest.approx(0.02 / fs, rel=1e-6)


def test_a_resume_draws_the_thermostat_noise_of_its_own_step(trained, molecules, tmp_path, monkeypatch):
    """A run from step 0 seeds the Langevin noise with --seed; a resume from step s with a seed drawn
    from (--seed, s), so it does not replay the noise the interrupted run used from step 1."""
    import torch

    from sciPT.domains.molecules.engines import noise_seed
    from sciPT.domains.molecules.trajectory import partial_path

    assert noise_seed(3, 0) == 3 and noise_seed(3, 2) == noise_seed(3, 2)
    assert len({3, noise_seed(3, 2), noise_seed(3, 4), noise_seed(4, 2)}) == 4
    assert all(0 <= noise_seed(s, k) < 2**63 for s in (0, 3) for k in (1, 2, 10**6))
    seeds = []
    real = torch.manual_seed
    monkeypatch.setattr(torch, "manual_seed", lambda s: seeds.append(int(s)) or real(s))
    settings = MDSettings(steps=2, temperature=300.0, ensemble="nvt", interval=2, seed=3)
    calc = SciPTCalculator(trained)
    run_engine("torchsim", molecules[0], calc, settings, tmp_path / "a.xyz", progress=False)
    partial_path(tmp_path / "b.xyz").write_bytes((tmp_path / "a.xyz").read_bytes())
    resumed = dataclasses.replace(settings, steps=4)
    run_engine("torchsim", molecules[0], calc, resumed, tmp_path / "b.xyz", progress=False, resume=True)
    assert seeds == [3, noise_seed(3, 2)]


def test_each_batched_system_s_frames_carry_its_own_energy_and_momenta(trained, molecules, tmp_path):
    """The trajectory of the second system in a batch: its energies are the calculator's on its own
    positions (not the first system's energy), and its momenta those of its run alone."""
    calc = SciPTCalculator(trained)
    settings = MDSettings(steps=2, temperature=300.0, interval=1, seed=1)
    outs = [tmp_path / "a.xyz", tmp_path / "b.xyz"]
    logs = integrate_many([molecules[0], molecules[2]], calc.model, settings, outs, progress=False)
    alone = tmp_path / "alone.xyz"
    integrate_many([molecules[2]], calc.model, dataclasses.replace(settings, seed=2), [alone], progress=False)
    for out, log in zip(outs, logs):
        frames = read(out, index=":")
        for frame, row in zip(frames, log, strict=True):
            expected = frame.copy()
            expected.calc = calc
            assert frame.get_potential_energy() == pytest.approx(expected.get_potential_energy(), abs=1e-6)
            assert row["energy"] == pytest.approx(frame.get_potential_energy(), abs=1e-9)
    batched, single = read(outs[1], index=":"), read(alone, index=":")
    np.testing.assert_allclose(batched[-1].get_momenta(), single[-1].get_momenta(), atol=1e-8)
    assert batched[-1].info["temperature_K"] == pytest.approx(single[-1].info["temperature_K"], abs=1e-6)


def test_a_periodic_triclinic_structure_has_the_ase_calculator_s_energy_and_forces(trained, molecules):
    """TorchSim stores cells as columns, ASE as rows: a triclinic periodic cell read the wrong way
    round (or taken as non-periodic) is another crystal, with other energies and forces."""
    calc = SciPTCalculator(trained)
    crystal = molecules[0].copy()
    crystal.cell, crystal.pbc = [[5.0, 0.0, 0.0], [1.5, 5.0, 0.0], [1.0, 1.2, 5.0]], True
    model = torchsim_model(calc.model)
    out = model(ts.io.atoms_to_state([crystal], model.device, model.dtype))
    expected = crystal.copy()
    expected.calc = calc
    isolated = molecules[0].copy()
    isolated.calc = calc
    # the images are within the cutoff: periodicity changes the energy, so the check can fail
    assert abs(expected.get_potential_energy() - isolated.get_potential_energy()) > 1e-3
    assert float(out["energy"][0]) == pytest.approx(expected.get_potential_energy(), abs=1e-5)
    np.testing.assert_allclose(out["forces"].numpy(), expected.get_forces(), atol=1e-5)


def test_the_torchsim_model_predicts_with_the_head_it_is_given(make_potential, molecules):
    """A two-head model: ``torchsim_model(potential, head=...)`` gives that head's energy, not the
    default (newest) head's."""
    import torch

    from sciPT.domains.molecules.dataset import collate
    from sciPT.domains.molecules.graphs import atoms_to_frame, frame_to_graph

    potential = make_potential()
    first = potential.head_names[0]
    potential.add_head("second")
    with torch.no_grad():
        potential.head_module("second").energy_shift += 1.0
    potential.eval()
    assert potential.head == "second"
    graph = collate([frame_to_graph(atoms_to_frame(molecules[0], "m", labelled=False), 4.0)])
    own = {h: float(potential(graph, forces=True, head=h)["energy"][0]) for h in (first, "second")}
    assert abs(own[first] - own["second"]) > 0.5
    model = torchsim_model(potential, head=first)
    energy = float(model(ts.io.atoms_to_state([molecules[0]], model.device, model.dtype))["energy"][0])
    assert energy == pytest.approx(own[first], abs=1e-8)


def test_a_batched_resume_of_partials_at_different_steps_is_refused(trained, molecules, tmp_path):
    """One batched state continues from one step: partial files stopped at steps 2 and 4 are named
    with their steps, not integrated as if at one step."""
    from sciPT.domains.molecules.trajectory import partial_path
    from sciPT.errors import UserError

    calc = SciPTCalculator(trained)
    settings = MDSettings(steps=4, temperature=300.0, interval=2, seed=1)
    outs = [tmp_path / "a.xyz", tmp_path / "b.xyz"]
    integrate_many([molecules[0], molecules[2]], calc.model, settings, outs, progress=False)
    lines = outs[0].read_text().splitlines(keepends=True)
    partial_path(outs[0]).write_text("".join(lines[: 2 * 11]))  # steps 0 and 2
    partial_path(outs[1]).write_bytes(outs[1].read_bytes())  # steps 0, 2 and 4
    outs[0].unlink(), outs[1].unlink()
    with pytest.raises(UserError) as err:
        integrate_many([molecules[0], molecules[2]], calc.model, settings, outs, progress=False, resume=True)
    assert str(err.value) == (
        f"--resume: the partial trajectories stop at different steps ({partial_path(outs[0])}: 2, "
        f"{partial_path(outs[1])}: 4): a batched run continues them from one step"
    )


def test_an_unknown_engine_is_named_with_the_engines_there_are():
    """run_engine is called from Python too (not only through argparse's choices)."""
    from sciPT.errors import UserError

    with pytest.raises(UserError) as err:
        run_engine("openmm", None, None, None, None)
    assert str(err.value) == "--engine: unknown engine 'openmm' (expected one of: ase, torchsim)"


def test_a_resume_from_step_one_draws_its_own_noise():
    """Step 1 is the first step a file can stop after: a resume from there must not replay the
    noise of the run from step 0 (seeded with --seed itself)."""
    from sciPT.domains.molecules.engines import noise_seed

    assert noise_seed(3, 1) != 3 and noise_seed(3, 1) != noise_seed(3, 2)


def test_integrate_many_refuses_invalid_settings_before_anything_is_written(trained, molecules, tmp_path):
    """integrate_many is called from Python too: settings the CLI would refuse are refused here, in
    the same words, before a trajectory is opened (0 steps would write a one-frame file)."""
    from sciPT.errors import ConfigError

    calc = SciPTCalculator(trained)
    with pytest.raises(ConfigError) as err:
        integrate_many(
            [molecules[0]], calc.model, MDSettings(steps=0, temperature=300.0), [tmp_path / "t.xyz"]
        )
    assert str(err.value) == "--steps: expected a positive integer, got 0"
    with pytest.raises(ConfigError) as err:
        run_engine("torchsim", molecules[0], calc, MDSettings(steps=2, temperature=-1.0), tmp_path / "t.xyz")
    assert str(err.value) == "--temperature: expected a temperature >= 0 K, got -1.0"
    assert list(tmp_path.iterdir()) == []


def test_a_resumed_run_s_bar_starts_at_the_step_it_continues_from(
    trained, molecules, tmp_path, monkeypatch, capsys
):
    """A resume from step 2 of 4 shows the bar at 50% first and at 100% (4/4) at the end, as the
    ASE engine's bar does, not a run of 2 steps counted from 0."""
    from sciPT.domains.molecules.trajectory import partial_path

    calc = SciPTCalculator(trained)
    settings = MDSettings(steps=2, temperature=300.0, interval=1, seed=1)
    run_engine("torchsim", molecules[0], calc, settings, tmp_path / "a.xyz", progress=False)
    partial_path(tmp_path / "b.xyz").write_bytes((tmp_path / "a.xyz").read_bytes())
    monkeypatch.setattr(engines, "tqdm", functools.partial(tqdm, mininterval=30))
    capsys.readouterr()
    resumed = dataclasses.replace(settings, steps=4)
    run_engine("torchsim", molecules[0], calc, resumed, tmp_path / "b.xyz", resume=True)
    states = [s for s in capsys.readouterr().err.replace("\n", "\r").split("\r") if s.strip()]
    assert len(states) == 2, states
    assert states[0].startswith("MD nve (TorchSim):  50%") and "| 2/4 " in states[0]
    assert states[1].startswith("MD nve (TorchSim): 100%") and "| 4/4 " in states[1]


def test_without_torch_sim_the_engine_names_the_package_to_install(monkeypatch):
    """The TorchSim engine is an optional dependency: its absence is a UserError naming the pip package."""
    import sys

    from sciPT.errors import UserError

    monkeypatch.setitem(sys.modules, "torch_sim", None)  # `import torch_sim` raises ModuleNotFoundError
    with pytest.raises(UserError) as err:
        torchsim_model(None)
    assert str(err.value) == (
        "--engine torchsim: needs the 'torch-sim-atomistic' package, which is not installed: "
        "pip install torch-sim-atomistic"
    )
    assert err.value.__cause__ is None and err.value.__suppress_context__


def test_a_structure_with_constraints_is_refused_before_anything_is_written(trained, molecules, tmp_path):
    """TorchSim's state has no constraints (torch-sim-atomistic 0.3 reads none from ASE): an atom
    held by FixAtoms would be integrated as free, another system than the one given, as a slab
    was before it was refused."""
    from ase.constraints import FixAtoms

    from sciPT.errors import UserError

    held = molecules[0].copy()
    held.set_constraint(FixAtoms(indices=[0]))
    settings = MDSettings(steps=1, temperature=300.0, interval=1)
    with pytest.raises(UserError) as err:
        run_engine("torchsim", held, SciPTCalculator(trained), settings, tmp_path / "t.xyz", progress=False)
    assert str(err.value) == (
        f"--engine torchsim: the structure {held.get_chemical_formula()} has constraints (FixAtoms), "
        "which TorchSim does not apply; run it with --engine ase"
    )
    assert list(tmp_path.iterdir()) == []
