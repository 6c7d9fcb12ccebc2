"""Molecular dynamics with an exported potential, through ASE.

``scipt md RUN --structure FILE --steps N --temperature T --output traj.xyz`` reads the first frame
of ``FILE`` (any format ASE reads, or a ``.smi`` file: an RDKit conformer of its first SMILES),
draws velocities from the Maxwell-Boltzmann distribution at ``T`` (seeded; centre-of-mass momentum
and, for molecules, angular momentum removed), and integrates

- ``--ensemble nve`` (default): velocity Verlet (:class:`ase.md.verlet.VelocityVerlet`), which
  conserves the total energy up to an error of order ``dt^2``;
- ``--ensemble nvt``: Langevin dynamics at ``T`` (:class:`ase.md.langevin.Langevin`,
  ``--friction`` per fs).

The trajectory is extended XYZ, one frame every ``--interval`` steps starting with step 0 (ASE's
convention, so ``N / interval + 1`` frames), each with ``step``, ``time_fs``, ``energy`` (potential),
``kinetic_energy``, ``total_energy`` and ``temperature_K`` in its comment line and the ``forces``
and ``momenta`` per atom. The file is written to a temporary name and renamed at the end: an
interrupted run leaves no half trajectory.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase import Atoms, units
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write
from ase.md.velocitydistribution import Stationary, ZeroRotation
from tqdm.auto import tqdm

try:  # ASE >= 3.29 renamed it
    from ase.md.velocitydistribution import thermalize_momenta as _maxwell_boltzmann
except ImportError:  # pragma: no cover - older ASE
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution as _maxwell_boltzmann

from sciPT import io
from sciPT.errors import ConfigError

from .calculator import SciPTCalculator
from .data import MoleculeDataConfig, atoms_to_frame, read_frames
from .graphs import frame_to_graph
from .references import check_elements


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

    def validate(self) -> None:
        checks = [
            ("--steps", self.steps >= 1, "a positive integer"),
            ("--temperature", self.temperature >= 0, "a temperature >= 0 K"),
            ("--timestep", self.timestep > 0, "a positive time step in fs"),
            ("--interval", self.interval >= 1, "a positive integer"),
            ("--friction", self.friction >= 0, "a friction >= 0 per fs"),
        ]
        for flag, ok, expected in checks:
            if not ok:
                value = getattr(self, flag[2:])
                raise ConfigError(f"{flag}: expected {expected}, got {value}")
        if self.ensemble not in ("nve", "nvt"):
            raise ConfigError(f"--ensemble: expected nve or nvt, got {self.ensemble!r}")


def read_structure(path: str) -> Atoms:
    """The first structure of ``path``: any format ASE reads, or a ``.smi`` file (an RDKit
    conformer of its first SMILES), validated as training frames are (file and frame named)."""
    frame = read_frames(path, MoleculeDataConfig(max_frames=1), labelled=False)[0]
    return Atoms(numbers=frame.numbers, positions=frame.positions, cell=frame.cell, pbc=frame.pbc)


def initial_velocities(atoms: Atoms, temperature: float, seed: int) -> None:
    """Maxwell-Boltzmann momenta at ``temperature`` K, without drift (nor rotation when the
    structure is not periodic, where angular momentum is conserved)."""
    if len(atoms) == 1:
        # a lone atom's only motion is the drift removed below; ASE's rescaling to the temperature
        # would then divide zero by zero and start the run from NaN momenta
        atoms.set_momenta(np.zeros((1, 3)))
        return
    _maxwell_boltzmann(atoms, temperature_K=temperature, rng=np.random.default_rng(seed))
    Stationary(atoms)
    if not atoms.pbc.any():
        ZeroRotation(atoms)


def _integrator(atoms: Atoms, settings: MDSettings):
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
            rng=np.random.default_rng(settings.seed),
        )
    from ase.md.verlet import VelocityVerlet

    return VelocityVerlet(atoms, dt)


def snapshot(atoms: Atoms, step: int, timestep: float) -> Atoms:
    """A copy of ``atoms`` with its energies, forces and momenta for the trajectory file."""
    energy, forces = atoms.get_potential_energy(), atoms.get_forces()
    kinetic = atoms.get_kinetic_energy()
    frame = atoms.copy()
    frame.info.update(
        {
            "step": step,
            "time_fs": step * timestep,
            "kinetic_energy": kinetic,
            "total_energy": energy + kinetic,
            "temperature_K": atoms.get_temperature(),
        }
    )
    frame.calc = SinglePointCalculator(frame, energy=energy, forces=forces)
    return frame


def run_md(
    atoms: Atoms, calculator, settings: MDSettings, output: str | Path, progress: bool = True
) -> list[dict]:
    """Integrate ``settings.steps`` steps from ``atoms`` and write the trajectory to ``output``.

    Returns one ``{step, energy, kinetic_energy, total_energy, temperature_K}`` per written frame.
    """
    settings.validate()
    atoms = atoms.copy()
    atoms.calc = calculator
    initial_velocities(atoms, settings.temperature, settings.seed)
    dynamics = _integrator(atoms, settings)
    log: list[dict] = []
    with io.atomic_path(output) as tmp, open(tmp, "w") as handle:

        def record(step: int) -> None:
            frame = snapshot(atoms, step, settings.timestep)
            write(handle, frame, format="extxyz")
            log.append(
                {
                    "step": step,
                    "energy": frame.get_potential_energy(),
                    **{k: frame.info[k] for k in ("kinetic_energy", "total_energy", "temperature_K")},
                }
            )

        record(0)
        with tqdm(
            total=settings.steps, desc=f"MD {settings.ensemble}", unit="step", disable=not progress
        ) as bar:
            for step in range(1, settings.steps + 1):
                dynamics.run(1)
                if step % settings.interval == 0:
                    record(step)
                    bar.set_postfix(
                        T=f"{log[-1]['temperature_K']:.0f} K", E=f"{log[-1]['total_energy']:.4f} eV"
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
        help="starting structure: the first frame of any file ASE reads, or the first "
        "SMILES of a .smi file (required)",
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
        metavar="traj.xyz",
        help="extended XYZ trajectory, written atomically (required)",
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
    parser.add_argument("--seed", type=int, default=0, help="seed of the initial velocities (default: 0)")
    parser.add_argument("--head", help="the model head (level of theory) to run with (default: the newest)")


def run_command(args: argparse.Namespace) -> int:
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
    atoms = read_structure(args.structure)
    calculator = SciPTCalculator(args.run, device=args.device, dtype=args.dtype, head=args.head)
    # a bad structure (unknown element, overlapping atoms) fails, naming the file, before the
    # output is opened
    frame = atoms_to_frame(atoms, f"{args.structure}: frame 0", labelled=False)
    check_elements([frame], calculator.model.elements)
    frame_to_graph(frame, calculator.cutoff)
    started = time.time()
    if getattr(args, "engine", "ase") == "ase":
        log = run_md(atoms, calculator, settings, args.output)
    else:
        from .engines import run_engine

        log = run_engine(args.engine, atoms, calculator, settings, args.output)
    wall = time.time() - started
    drift = log[-1]["total_energy"] - log[0]["total_energy"]
    print(
        f"{settings.steps} steps ({settings.steps * settings.timestep:g} fs) in {wall:.1f} s "
        f"({1000 * wall / settings.steps:.1f} ms/step); total energy change {1000 * drift:+.2f} meV; "
        f"wrote {len(log)} frames to {args.output}",
        file=sys.stderr,
    )
    return 0
