"""Molecular dynamics with an exported potential, through ASE.

``scipt md RUN --structure FILE --steps N --temperature T --output traj.xyz`` reads the first frame
of ``FILE`` (any format ASE reads, in the length unit and periodicity the run read its data with,
with ``--head`` those recorded for that head's level, as ``scipt predict`` reads its input; or a
``.smi`` file: an RDKit conformer of its first SMILES), draws velocities from the Maxwell-Boltzmann
distribution at ``T`` (seeded; centre-of-mass momentum and, for molecules in ``nve``, angular
momentum removed, then scaled so that the degrees of freedom that move are at ``T``:
:func:`degrees_of_freedom`), and integrates

- ``--ensemble nve`` (default): velocity Verlet (:class:`ase.md.verlet.VelocityVerlet`), which
  conserves the total energy up to an error of order ``dt^2``;
- ``--ensemble nvt``: Langevin dynamics at ``T`` (:class:`ase.md.langevin.Langevin`,
  ``--friction`` per fs).

The trajectory is extended XYZ, one frame every ``--interval`` steps starting with step 0 (ASE's
convention, so ``N / interval + 1`` frames), and the last step's when ``--interval`` does not divide
``--steps`` (the state a run ends in, which a longer run resumes from), each with ``step``, ``time_fs``, ``energy`` (potential),
``kinetic_energy``, ``total_energy`` and ``temperature_K`` (``2 KE / (dof kB)``, over the same degrees of
freedom as the start: :func:`degrees_of_freedom`) in its comment line and the ``forces``
and ``momenta`` per atom; positions and momenta are written to full double precision (what a
resumed run continues from), the rest as ASE writes it.

Interruptions (:class:`.trajectory.Trajectory`). Frames are written as the run makes them, each with one write
and a flush, to ``traj.xyz.partial`` beside the output, renamed to ``traj.xyz`` when the run ends.
Interrupted (Ctrl-C; SIGTERM, a batch system's time limit; an error), the run keeps the partial file,
cut to its complete frames, and says how far it got; killed outright (SIGKILL) it leaves at most a
torn last frame, which ``--resume`` drops. ``scipt md ... --resume`` (the same command plus
``--resume``) continues the partial file from its last complete frame (positions, momenta, cell and
its ``step``) up to ``--steps`` and renames it at the end. For ``nve`` the continuation is exactly
the uninterrupted run (velocity Verlet's state is the positions and momenta). For ``nvt`` the
Langevin noise is drawn from a stream seeded by (``--seed``, the step it starts at), apart from
the initial velocities' (:func:`noise_rng`), so a resume
is reproducible, but it is the uninterrupted run only statistically: that run had drawn other noise.
Without ``--resume`` an existing partial file is refused, so no interrupted run is overwritten by
accident; an existing complete output is replaced when the new run ends.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase import Atoms, units
from ase.calculators.singlepoint import SinglePointCalculator
from ase.md.velocitydistribution import Stationary, ZeroRotation
from tqdm.auto import tqdm

try:  # ASE >= 3.29 renamed it
    from ase.md.velocitydistribution import thermalize_momenta as _maxwell_boltzmann
except ImportError:  # pragma: no cover - older ASE
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution as _maxwell_boltzmann

from sciPT.checkpoint import WEIGHTS_NAME, read_export_config, resolve_model_dir
from sciPT.errors import ConfigError, UserError
from sciPT.files import file_sha256
from sciPT.io import output_file, refuse_overwriting
from sciPT.run import RunDir
from sciPT.runconfig import seed
from sciPT.signals import EXIT_INTERRUPTED, EXIT_TERMINATED, Terminated, sigterm_raises

from .data import MoleculeDataConfig, atoms_to_frame, read_frames
from .potential_config import check_head_name
from .trajectory import Trajectory, check_output, frame_row, partial_path


@dataclass
class MDSettings:
    """What ``scipt md`` integrates (module docstring); times in fs, temperature in K."""

    steps: int
    temperature: float
    timestep: float = 0.5
    interval: int = 1
    ensemble: str = "nve"
    friction: float = 0.01
    seed: int = 0
    # the potential the run integrates: its weights' SHA-256 and its head (None: not recorded, as
    # in a library call); a resume with another model or head continued another physics
    weights: str | None = None
    head: str | None = None

    def validate(self) -> None:
        checks = [
            ("--steps", self.steps >= 1, "a positive integer"),
            # inf passes ">= 0": it gave NaN momenta, a failed run and a .partial file left behind
            ("--temperature", 0 <= self.temperature < math.inf, "a temperature >= 0 K"),
            ("--timestep", 0 < self.timestep < math.inf, "a positive time step in fs"),
            ("--interval", self.interval >= 1, "a positive integer"),
            ("--friction", 0 <= self.friction < math.inf, "a friction >= 0 per fs"),
        ]
        for flag, ok, expected in checks:
            if not ok:
                value = getattr(self, flag[2:])
                raise ConfigError(f"{flag}: expected {expected}, got {value}")
        if self.ensemble not in ("nve", "nvt"):
            raise ConfigError(f"--ensemble: expected nve or nvt, got {self.ensemble!r}")


def read_structure(path: str, data: MoleculeDataConfig | None = None) -> Atoms:
    """The first structure of ``path``: any format ASE reads, or a ``.smi`` file (an RDKit
    conformer of its first SMILES), validated as training frames are (file and frame named).
    ``data``: the length unit and periodicity to read it with (:func:`structure_reading`;
    default Angstrom, each file's own ``pbc``); the structure returned is in Angstrom."""
    cfg = MoleculeDataConfig(max_frames=1)
    if data is not None:
        cfg = dataclasses.replace(cfg, length_unit=data.length_unit, periodic=data.periodic)
    frame = read_frames(path, cfg, labelled=False)[0]
    return Atoms(numbers=frame.numbers, positions=frame.positions, cell=frame.cell, pbc=frame.pbc)


def exported_heads(exported: dict) -> list[str]:
    """The heads an export's ``config.json`` (``exported``, as read) lists, oldest first."""
    model = exported.get("model") or {}
    return [model.get("head"), *((h or {}).get("name") for h in model.get("heads") or [])]


def structure_reading(path: str | Path, head: str | None = None) -> MoleculeDataConfig | None:
    """How the run at ``path`` (a run directory or its ``model/`` folder) read its frames
    (:func:`.evaluate.run_data_config`, as ``scipt predict`` reads its input): a starting
    structure in the units of the training data (``--data.length-unit Bohr``) was read as
    Angstrom, its bonds 1.89 times too long. ``head`` (``--head``): as frames at that head's level
    are read where the export records it (a fine-tune's old head: as pre-training read its files);
    ``None``, or an export without the record, as the run read its own. An export outside a run
    (no ``config.yaml``: a ``model/`` folder copied elsewhere) reads as its record of that head says
    (``head_data``: ``head``, else the head it was trained as, else its last; a Bohr export's
    structure was read as Angstrom, without a word); ``None`` where it records none, whose structures
    are read as Angstrom, the export's unit."""
    from .evaluate import read_as, run_data_config

    model_dir = resolve_model_dir(path)
    for folder in (Path(path), model_dir.parent):
        run = RunDir(folder)
        if run.config.is_file() and run.model == model_dir:
            return run_data_config(run, argparse.Namespace(), head)
    exported = read_export_config(model_dir)
    recorded = exported.get("head_data") or {}
    if not recorded:
        return None
    heads = exported_heads(exported)
    name = head or (exported.get("head") if exported.get("head") in recorded else heads[-1])
    if name not in recorded:
        return None
    return read_as(MoleculeDataConfig(), recorded[name], f"{model_dir}: config.json: head_data: {name}")


def degrees_of_freedom(atoms: Atoms, ensemble: str = "nve") -> int:
    """The degrees of freedom that move, over which the start is drawn at ``--temperature`` and
    ``temperature_K`` is reported: ``3N - 3`` (the centre of mass is held) for a structure
    periodic along any axis, and in ``nvt``, whose thermostat gives rotations their share; for a
    molecule in ``nve``, whose angular momentum stays zero, ``3N - 6`` (``3N - 5`` when linear,
    so 1 for two atoms); 0 for one atom."""
    n = len(atoms)
    if n <= 1:
        return 0
    if atoms.pbc.any() or ensemble == "nvt":
        return 3 * n - 3
    moments = atoms.get_moments_of_inertia()
    # a linear molecule has no rotation about its axis to remove
    return 3 * n - 5 if n == 2 or moments.min() <= 1e-8 * moments.max() else 3 * n - 6


def kinetic_temperature(atoms: Atoms, ensemble: str = "nve") -> float:
    """``2 KE / (dof kB)`` in K over :func:`degrees_of_freedom` (0 for a structure with none)."""
    dof = degrees_of_freedom(atoms, ensemble)
    return 2 * atoms.get_kinetic_energy() / (dof * units.kB) if dof else 0.0


def initial_velocities(atoms: Atoms, temperature: float, seed: int, ensemble: str = "nve") -> None:
    """Maxwell-Boltzmann momenta without drift (nor rotation for a molecule in ``nve``, where
    angular momentum is conserved), scaled so that :func:`kinetic_temperature` is ``temperature`` K."""
    dof = degrees_of_freedom(atoms, ensemble)
    if dof == 0:
        # a lone atom moves only with its drift, which is removed: scaling the rest to the
        # temperature would divide zero by zero and start the run from NaN momenta
        atoms.set_momenta(np.zeros((len(atoms), 3)))
        return
    _maxwell_boltzmann(atoms, temperature_K=temperature, rng=np.random.default_rng(seed))
    # ASE's default scales the momenta back to 3N/2 kT after each removal, which leaves that
    # energy in fewer degrees of freedom: ethanol's vibrations started at 300 * 27/21 = 386 K, not 300 K
    Stationary(atoms, preserve_temperature=False)
    if ensemble == "nve" and not atoms.pbc.any():
        # a linear molecule's moment about its axis is zero, which ASE divides by before masking
        with np.errstate(divide="ignore", invalid="ignore"):
            ZeroRotation(atoms, preserve_temperature=False)
    kinetic = atoms.get_kinetic_energy()
    if kinetic > 0:
        atoms.set_momenta(atoms.get_momenta() * math.sqrt(dof * units.kB * temperature / (2 * kinetic)))


NOISE_STREAM = 1  # the Langevin noise's stream of a seed, beside the initial velocities' (the seed alone)


def noise_rng(seed: int, step: int) -> np.random.Generator:
    """The Langevin noise of a run starting at ``step``, from the stream ``(seed, step,
    NOISE_STREAM)``. Its own stream: drawn from the velocities' (``seed`` alone), the first kicks
    lined up with the velocities they kicked (a correlation of 0.97) and heated 32 Cu atoms from 300
    to 352-367 K in the first step. A continuation cannot replay the noise the interrupted run
    drew; seeded by the step it starts at, every resume of the same file draws the same noise."""
    return np.random.default_rng([seed, step, NOISE_STREAM])


def _integrator(atoms: Atoms, settings: MDSettings, step: int = 0):
    dt = settings.timestep * units.fs
    if settings.ensemble == "nvt":
        from ase.constraints import FixCom
        from ase.md.langevin import Langevin

        # The centre of mass is held by a constraint, not by Langevin's own fixcm, which heats a
        # small molecule: acetylacetone (15 atoms) thermostatted at 300 K for 10 ps averaged 349 K
        # with fixcm and 299 K with FixCom (which also takes its 3 degrees of freedom out of the
        # temperature).
        atoms.set_constraint([*atoms.constraints, FixCom()])
        return Langevin(
            atoms,
            dt,
            temperature_K=settings.temperature,
            fixcm=False,
            friction=settings.friction / units.fs,
            rng=noise_rng(settings.seed, step),
        )
    from ase.md.verlet import VelocityVerlet

    return VelocityVerlet(atoms, dt)


def snapshot(atoms: Atoms, step: int, timestep: float, ensemble: str = "nve") -> Atoms:
    """A copy of ``atoms`` with its energies, forces and momenta for the trajectory file (its
    temperature over the degrees of freedom of ``ensemble``: :func:`kinetic_temperature`)."""
    energy, forces = atoms.get_potential_energy(), atoms.get_forces()
    kinetic = atoms.get_kinetic_energy()
    frame = atoms.copy()
    frame.info.update(
        {
            "step": step,
            "time_fs": step * timestep,
            "kinetic_energy": kinetic,
            "total_energy": energy + kinetic,
            # not ASE's get_temperature, which divides by 3N (3N - 3 with FixCom): it counts a
            # molecule's rotations, which nve keeps at rest, and read ethanol 21/27 too cold
            "temperature_K": kinetic_temperature(atoms, ensemble),
        }
    )
    frame.calc = SinglePointCalculator(frame, energy=energy, forces=forces)
    return frame


def run_md(
    atoms: Atoms,
    calculator,
    settings: MDSettings,
    output: str | Path | Trajectory,
    progress: bool = True,
    resume: bool = False,
) -> list[dict]:
    """Integrate from ``atoms`` to step ``settings.steps`` and write the trajectory to ``output``
    as the run goes (:class:`.trajectory.Trajectory`: through ``OUTPUT.partial``, renamed at the end, kept when
    interrupted). With ``resume`` (or a resumed :class:`.trajectory.Trajectory`), continue the partial file of
    an interrupted run from its last complete frame instead (module docstring).

    Returns one ``{step, energy, kinetic_energy, total_energy, temperature_K}`` per frame this call
    wrote.
    """
    settings.validate()
    trajectory = output if isinstance(output, Trajectory) else Trajectory.open(output, resume)
    atoms = atoms.copy()
    atoms.calc = calculator
    start = trajectory.restore(atoms, settings)
    if trajectory.frames == 0:
        initial_velocities(atoms, settings.temperature, settings.seed, settings.ensemble)
    dynamics = _integrator(atoms, settings, start)
    log: list[dict] = []
    with trajectory.writing():

        def record(step: int) -> None:
            frame = snapshot(atoms, step, settings.timestep, settings.ensemble)
            trajectory.write(frame)
            log.append(frame_row(frame))

        if trajectory.frames == 0:
            record(0)
        with tqdm(
            total=settings.steps,
            initial=start,
            desc=f"MD {settings.ensemble}",
            unit="step",
            disable=not progress,
        ) as bar:
            for step in range(start + 1, settings.steps + 1):
                dynamics.run(1)
                if step % settings.interval == 0 or step == settings.steps:
                    record(step)
                    # refresh=True (tqdm's default) would redraw at once, past the bar's redraw
                    # interval: every frame a line in a log file (sciPT.cli.log_friendly_progress)
                    bar.set_postfix(
                        T=f"{log[-1]['temperature_K']:.0f} K",
                        E=f"{log[-1]['total_energy']:.4f} eV",
                        refresh=False,
                    )
                bar.update()
    return log


# --- the command ------------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", metavar="RUN", help="run directory of a molecules model, or its model/ folder")
    parser.add_argument(
        "--structure",
        required=True,
        metavar="FILE",
        help="starting structure: the first frame of any file ASE reads, in the run's "
        "data.length_unit (--head's, where the export records it; as predict reads its input), or the "
        "first SMILES of a .smi file (required)",
    )
    parser.add_argument("--steps", type=int, required=True, help="time steps to integrate (required)")
    parser.add_argument(
        "--temperature",
        type=float,
        required=True,
        metavar="K",
        help="Maxwell-Boltzmann start temperature, and the thermostat's for nvt (required)",
    )
    parser.add_argument(
        "--output",
        required=True,
        type=output_file,
        metavar="traj.xyz",
        help="extended XYZ trajectory, written frame by frame to traj.xyz.partial and renamed to "
        "traj.xyz when the run ends; an interrupted run keeps the .partial file (required)",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue the .partial file of an interrupted run from its last complete frame up to "
        "--steps (give the interrupted run's other options again)",
    )
    parser.add_argument(
        "--timestep", type=float, default=0.5, metavar="FS", help="time step in fs (default: 0.5)"
    )
    parser.add_argument(
        "--interval", type=int, default=1, help="write a frame every this many steps (default: 1)"
    )
    parser.add_argument(
        "--ensemble",
        choices=["nve", "nvt"],
        default="nve",
        help="nve: velocity Verlet; nvt: Langevin thermostat (default: nve)",
    )
    parser.add_argument(
        "--friction",
        type=float,
        default=0.01,
        metavar="PER_FS",
        help="Langevin friction per fs, nvt only (default: 0.01)",
    )
    parser.add_argument(
        "--dtype", choices=["float32", "float64"], help="arithmetic of the model (default: the exported one)"
    )
    parser.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    parser.add_argument(
        "--engine",
        choices=["ase", "torchsim"],
        default="ase",
        help="integrator: ASE, or TorchSim (torch-sim-atomistic; sciPT.domains.molecules.engines) "
        "(default: ase)",
    )
    parser.add_argument(
        "--seed",
        type=seed,
        default=0,
        help="seed of the initial velocities and of the nvt noise (default: 0)",
    )
    parser.add_argument(
        "--head", help="the model head (level of theory) to run with (default: the one fine-tuned last)"
    )


def run_command(args: argparse.Namespace) -> int:
    # the model (e3nn) and the graphs (torch-geometric) load here, not to list the options
    from .calculator import SciPTCalculator, torch_device
    from .graphs import frame_to_graph
    from .references import check_elements

    settings = MDSettings(
        steps=args.steps,
        temperature=args.temperature,
        timestep=args.timestep,
        interval=args.interval,
        ensemble=args.ensemble,
        friction=args.friction,
        seed=args.seed,
    )
    settings.validate()
    if Path(args.output).suffix.lower() not in (".xyz", ".extxyz"):
        # the trajectory is extended XYZ whatever its name: ase.io.read("x.traj") then fails
        raise ConfigError(
            f"--output {args.output}: the trajectory is written as extended XYZ; expected a name "
            "ending in .xyz or .extxyz"
        )
    torch_device(args.device)
    if args.head is not None:  # in the command's words, before the model loads
        check_head_name(args.head, exported_heads(read_export_config(resolve_model_dir(args.run))), "--head")
    engine, resume = getattr(args, "engine", "ase"), getattr(args, "resume", False)
    # decided before the model loads: a refusal, or nothing to do, costs nothing
    refuse_overwriting(args.output, args.structure, "starting structure", "trajectory")
    if not check_output(args.output, resume):
        print(
            f"scipt md: {args.output} is complete (there is no {partial_path(args.output)} to "
            "continue): nothing to do",
            file=sys.stderr,
        )
        return 0
    atoms = read_structure(args.structure, structure_reading(args.run, args.head))
    calculator = SciPTCalculator(args.run, device=args.device, dtype=args.dtype, head=args.head)
    settings.weights = file_sha256(resolve_model_dir(args.run) / WEIGHTS_NAME)[:16]
    settings.head = calculator.head
    # a bad structure (unknown element, overlapping atoms) fails, naming the file, before the
    # output is opened
    frame = atoms_to_frame(atoms, f"{args.structure}: frame 0", labelled=False)
    check_elements([frame], calculator.model.elements)
    graph = frame_to_graph(frame, calculator.cutoff)
    # said here, once: the calculator then keeps them to itself for the run
    for line in (
        calculator.unfixed_references(graph, args.structure),
        calculator.periodic_images(graph, args.structure),
    ):
        if line:
            print(line, file=sys.stderr)
    trajectory = Trajectory.open(args.output, resume)
    start = trajectory.last_step or 0
    if resume:
        torn = (
            f"; dropped a torn last frame ({trajectory.dropped_bytes} bytes)"
            if trajectory.dropped_bytes
            else ""
        )
        held = f"{trajectory.frames} frames, at step {start}" if trajectory.frames else "no complete frame"
        print(
            f"scipt md: resuming {trajectory.partial} ({held}{torn}) up to step {settings.steps}",
            file=sys.stderr,
        )
    started = time.time()
    try:
        with sigterm_raises():
            if engine == "ase":
                run_md(atoms, calculator, settings, trajectory)
            else:
                from .engines import run_engine

                run_engine(engine, atoms, calculator, settings, trajectory)
    except (KeyboardInterrupt, Terminated) as err:
        terminated = isinstance(err, Terminated)
        why = "terminated (SIGTERM)" if terminated else "interrupted"
        print(f"scipt: {why}; {trajectory.kept(settings.steps)}", file=sys.stderr)
        return EXIT_TERMINATED if terminated else EXIT_INTERRUPTED
    except UserError as err:
        if not (trajectory.running and trajectory.frames):
            raise  # refused before the run started (a resume of another structure): nothing new kept
        # the error's own line first, as the command line prints it, then what was kept; the error
        # came from the dynamics themselves (atoms too close, a non-finite energy), which a resume
        # from the last frame would meet again unless something changes
        print(f"scipt: error: {err}", file=sys.stderr)
        print(f"scipt: {trajectory.kept(settings.steps)}", file=sys.stderr)
        print(
            "scipt: the dynamics left what the model can describe; a resume starts from the last frame, "
            "so first try a smaller --timestep, or a model trained on such geometries",
            file=sys.stderr,
        )
        return err.exit_code
    except Exception:
        if trajectory.running and trajectory.frames:
            print(f"scipt: md stopped by an error; {trajectory.kept(settings.steps)}", file=sys.stderr)
        raise
    print(summary(trajectory, settings, start, time.time() - started), file=sys.stderr)
    return 0


def summary(trajectory: Trajectory, settings: MDSettings, start: int, wall: float) -> str:
    """The line that ends a run: the whole trajectory's steps, frames and total-energy change
    (from its first frame, step 0, also after a resume), and the speed of this run's steps."""
    done = settings.steps - start
    span = f"{settings.steps} steps ({settings.steps * settings.timestep:g} fs)"
    timing = f"in {wall:.1f} s ({1000 * wall / done:.1f} ms/step)" if done else ""
    if start == 0:
        ran = f"{span} {timing}"
    else:
        ran = f"{span}, resumed at step {start}: " + (
            f"the last {done} {timing}" if done else "none left to run"
        )
    drift = trajectory.last.info["total_energy"] - trajectory.first.info["total_energy"]
    return (
        f"{ran}; total energy change {1000 * drift:+.2f} meV; wrote {trajectory.frames} frames to "
        f"{trajectory.output}"
    )
