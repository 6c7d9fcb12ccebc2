"""Molecular-dynamics engines beyond ASE: TorchSim.

``scipt md RUN --engine torchsim ...`` integrates with TorchSim (``torch-sim-atomistic``, Radiant AI:
batched MD and relaxation of many systems in PyTorch, on a GPU where there is one) instead of ASE;
the options, the starting velocities and the trajectory file are those of :mod:`.md` (written frame
by frame, kept when interrupted), and ``--resume`` continues them as the ASE engine does.

The model. :class:`TorchSimPotential` wraps an exported :class:`.model.EquivariantPotential` as a
TorchSim ``ModelInterface``: each system of a (batched) ``SimState`` becomes the domain's own graph
(:func:`.graphs.frame_to_graph`, the code the ASE calculator uses), the graphs are batched and the
model gives one energy per system and the forces by autograd. So its energies and forces are the ASE
calculator's (the tests compare them to 1e-5 eV and eV/Angstrom, float64). TorchSim stores cells
as columns (``state.cell[s]`` is the transpose of ASE's ``atoms.cell``); the wrapper transposes.
Stress is not computed (NVE and NVT need none; TorchSim's NPT integrators are not offered).

Integration. TorchSim works in ASE's internal units (eV, Angstrom, amu; time in
:math:`\\sqrt{\\mathrm{amu}\\,\\mathrm{\\AA}^2/\\mathrm{eV}}`), so the time step is
``timestep * ase.units.fs`` and ASE's momenta are TorchSim's. The initial momenta are drawn by
:func:`.md.initial_velocities` (same seed, same numbers as the ASE engine), then

- ``nve``: TorchSim's velocity Verlet (``torch_sim.nve``): the same algorithm as ASE's, so from the
  same start the two trajectories agree to round-off over short runs;
- ``nvt``: TorchSim's Langevin BAOAB (``torch_sim.nvt_langevin``), friction ``--friction`` per fs.
  Unlike the ASE engine it does not hold the centre of mass (ASE's ``FixCom``): for a small
  molecule the thermostat's noise lets it drift. Its noise is drawn from torch's global random
  generator, so the integration runs with that generator forked and seeded (:func:`noise_seed`:
  ``--seed``, or (``--seed``, step) for a resume, as the ASE engine's noise), and the caller's
  generator is left as it was.

Graphs are built on the CPU (SciPy k-d tree) every step, then moved to the model's device: the
engine's gain is batching many systems (:func:`integrate_many`), not a faster single molecule.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
from ase import Atoms, units
from ase.calculators.singlepoint import SinglePointCalculator
from tqdm.auto import tqdm

from sciPT.errors import UserError

from .data import Frame
from .dataset import collate
from .graphs import frame_to_graph

ENGINES = ("ase", "torchsim")


def _torch_sim():
    try:
        import torch_sim
    except ModuleNotFoundError:
        raise UserError(
            "--engine torchsim: needs the 'torch-sim-atomistic' package, which is not installed: "
            "pip install torch-sim-atomistic"
        ) from None
    return torch_sim


@lru_cache(maxsize=1)
def _model_class():
    from torch_sim.models.interface import ModelInterface

    class TorchSimPotential(ModelInterface):
        """TorchSim model of an :class:`.model.EquivariantPotential` (module docstring).

        Args:
            potential: the potential (eval mode; its dtype and device are the model's).
            head: the head (level of theory) to predict with; ``None``: the model's default.
        """

        def __init__(self, potential, head: str | None = None):
            super().__init__()
            self.potential = potential
            self.head = head
            # the state (positions, momenta, energies) in float64 whatever the weights: a total
            # energy of -6.9e5 eV (1,000 atoms) held in float32 steps by 1/16 eV, 0.5 eV at 10,000
            # atoms; the model reads float64 positions and computes at its own precision
            self._device, self._dtype = next(potential.parameters()).device, torch.float64
            self._compute_stress, self._compute_forces = False, True
            self._memory_scales_with = "n_atoms_x_density"

        def forward(self, state, **_) -> dict[str, torch.Tensor]:
            positions = state.positions.detach().double().cpu().numpy()
            numbers = state.atomic_numbers.detach().cpu().numpy()
            systems = state.system_idx.detach().cpu().numpy()
            cells = state.cell.detach().double().cpu().numpy()
            pbc = np.full(3, bool(state.pbc))
            graphs = []
            for s in range(cells.shape[0]):
                mine = systems == s
                frame = Frame(numbers[mine], positions[mine], cells[s].T, pbc, f"system {s}")
                graphs.append(frame_to_graph(frame, float(self.potential.cfg.cutoff)))
            batch = collate(graphs).to(self._device)
            call = {"forces": True, "create_graph": False}
            if self.head is not None:
                call["head"] = self.head
            out = self.potential(batch, **call)
            # graphs are batched in system order, so atoms come back in the state's order only
            # when each system's atoms are contiguous, which TorchSim's states guarantee
            return {
                "energy": out["energy"].detach().to(state.positions.dtype),
                "forces": out["forces"].detach().to(state.positions.dtype),
            }

    return TorchSimPotential


def torchsim_model(potential, head: str | None = None):
    """The TorchSim model of ``potential`` (:class:`TorchSimPotential`)."""
    _torch_sim()
    return _model_class()(potential, head)


def _state(atoms_list: list[Atoms], model):
    """A TorchSim ``MDState`` of ``atoms_list`` with their momenta and the model's energies/forces."""
    ts = _torch_sim()
    from torch_sim.integrators.md import MDState

    state = ts.io.atoms_to_state(atoms_list, model.device, model.dtype)
    out = model(state)
    momenta = np.concatenate([a.get_momenta() for a in atoms_list])
    return MDState(
        positions=state.positions,
        momenta=torch.as_tensor(momenta, dtype=model.dtype, device=model.device),
        energy=out["energy"],
        forces=out["forces"],
        masses=state.masses,
        cell=state.cell,
        pbc=state.pbc,
        system_idx=state.system_idx,
        atomic_numbers=state.atomic_numbers,
    )


def _snapshots(state, templates: list[Atoms], step: int, timestep: float, ensemble: str) -> list[Atoms]:
    """The frames of every system at ``step``, as the ASE engine writes them (:func:`.md.snapshot`)."""
    from .md import snapshot

    positions = state.positions.detach().double().cpu().numpy()
    momenta = state.momenta.detach().double().cpu().numpy()
    forces = state.forces.detach().double().cpu().numpy()
    energies = state.energy.detach().double().cpu().numpy()
    systems = state.system_idx.detach().cpu().numpy()
    frames = []
    for s, template in enumerate(templates):
        mine = systems == s
        atoms = template.copy()
        atoms.positions, atoms.constraints = positions[mine], []
        atoms.set_momenta(momenta[mine], apply_constraint=False)
        atoms.calc = SinglePointCalculator(atoms, energy=float(energies[s]), forces=forces[mine])
        frames.append(snapshot(atoms, step, timestep, ensemble))
    return frames


def noise_seed(seed: int, step: int) -> int:
    """The seed of the thermostat's noise for a run starting at ``step``: ``seed`` from step 0, and
    from a later step (a resume) one drawn from (``seed``, step), so every resume of the same file
    draws the same noise, and another than the interrupted run's from that step on."""
    return (
        seed if step == 0 else int(np.random.SeedSequence([seed, step]).generate_state(1, np.uint64)[0] >> 1)
    )


def refuse_partial_periodicity(atoms_list: list[Atoms]) -> None:
    """Refuse a structure periodic along some axes only (a slab, a wire): a TorchSim state holds
    one periodicity flag for all three axes and all systems, so a slab would be integrated as an
    isolated cluster, its energies and forces those of another system, without a word."""
    for atoms in atoms_list:
        if atoms.pbc.any() and not atoms.pbc.all():
            axes = " ".join("T" if p else "F" for p in atoms.pbc)
            raise UserError(
                f"--engine torchsim: the structure {atoms.get_chemical_formula()} is periodic along "
                f"some axes only (pbc {axes}), and TorchSim integrates structures periodic along all "
                "three or none; run it with --engine ase"
            )
    if len({bool(a.pbc.all()) for a in atoms_list}) > 1:
        raise UserError(
            "--engine torchsim: the structures mix periodic and non-periodic ones, which one batch "
            "cannot hold; run them separately"
        )


def refuse_constraints(atoms_list: list[Atoms]) -> None:
    """Refuse a structure with ASE constraints: a TorchSim state holds none (torch-sim-atomistic
    reads none from ASE), so an atom held by ``FixAtoms`` would move as a free one, another system
    than the one given, where the ASE engine holds it."""
    for atoms in atoms_list:
        if atoms.constraints:
            names = ", ".join(sorted({type(c).__name__ for c in atoms.constraints}))
            raise UserError(
                f"--engine torchsim: the structure {atoms.get_chemical_formula()} has constraints "
                f"({names}), which TorchSim does not apply; run it with --engine ase"
            )


def integrate_many(
    atoms_list: list[Atoms],
    potential,
    settings,
    outputs: list,
    progress: bool = True,
    head=None,
    resume: bool = False,
) -> list[list[dict]]:
    """Integrate every structure of ``atoms_list`` together, in one batched TorchSim state, and
    write one trajectory per structure (``outputs``: paths or :class:`.trajectory.Trajectory`), frame by
    frame through ``OUTPUT.partial`` as :func:`.md.run_md` does (renamed at the end, kept when
    interrupted); returns one log per structure (``{step, energy, kinetic_energy, total_energy,
    temperature_K}`` per frame this call wrote).

    ``settings`` is an :class:`.md.MDSettings`; each structure's velocities are drawn with seed
    ``settings.seed + k``, and the Langevin noise (``nvt``) with :func:`noise_seed`. ``resume``
    continues the partial files of an interrupted run; they must all stop at the same step.
    """
    from .md import initial_velocities
    from .trajectory import Trajectory, frame_row, writing

    ts = _torch_sim()
    settings.validate()
    refuse_partial_periodicity(atoms_list)
    refuse_constraints(atoms_list)
    trajectories = [o if isinstance(o, Trajectory) else Trajectory.open(o, resume) for o in outputs]
    starts, steps = [], {}
    for k, (atoms, trajectory) in enumerate(zip(atoms_list, trajectories)):
        start = atoms.copy()
        steps[trajectory.partial] = trajectory.restore(start, settings)
        if trajectory.frames == 0:
            initial_velocities(start, settings.temperature, settings.seed + k, settings.ensemble)
        starts.append(start)
    if len(set(steps.values())) > 1:
        raise UserError(
            "--resume: the partial trajectories stop at different steps ("
            + ", ".join(f"{path}: {step}" for path, step in steps.items())
            + "): a batched run continues them from one step"
        )
    first = next(iter(steps.values()))
    model = torchsim_model(potential, head)
    state = _state(starts, model)
    dt = torch.tensor(settings.timestep * units.fs, dtype=model.dtype, device=model.device)
    kT = torch.tensor(units.kB * settings.temperature, dtype=model.dtype, device=model.device)
    if settings.ensemble == "nvt":
        gamma = torch.tensor(settings.friction / units.fs, dtype=model.dtype, device=model.device)
        _, update = ts.nvt_langevin(model, dt=dt, kT=kT, gamma=gamma, seed=settings.seed)
    else:
        _, update = ts.nve(model, dt=dt, kT=kT, seed=settings.seed)
    logs: list[list[dict]] = [[] for _ in atoms_list]
    devices = [model.device] if model.device.type == "cuda" else []
    with writing(trajectories), torch.random.fork_rng(devices=devices):
        torch.manual_seed(noise_seed(settings.seed, first))

        def record(step: int, systems) -> None:
            if not systems:
                return
            frames = _snapshots(state, starts, step, settings.timestep, settings.ensemble)
            for k in systems:
                trajectories[k].write(frames[k])
                logs[k].append(frame_row(frames[k]))

        # a resumed file already ends with the frame of the step it continues from
        record(first, [k for k, t in enumerate(trajectories) if t.frames == 0])
        bar = tqdm(
            total=settings.steps,
            initial=first,
            desc=f"MD {settings.ensemble} (TorchSim)",
            unit="step",
            disable=not progress,
        )
        with bar:
            for step in range(first + 1, settings.steps + 1):
                state = update(state)
                if step % settings.interval == 0 or step == settings.steps:
                    record(step, range(len(starts)))
                    # shown at the bar's next redraw, which honours its interval (as in .md.run_md)
                    bar.set_postfix(E=f"{logs[0][-1]['total_energy']:.4f} eV", refresh=False)
                bar.update()
    return logs


def run_engine(
    name: str, atoms: Atoms, calculator, settings, output, progress: bool = True, resume: bool = False
) -> list[dict]:
    """``scipt md --engine NAME``: one structure, the log of :func:`.md.run_md` (``output``: a path
    or a :class:`.trajectory.Trajectory`)."""
    if name == "torchsim":
        head = getattr(calculator, "head", None)
        return integrate_many(
            [atoms], calculator.model, settings, [output], progress, head=head, resume=resume
        )[0]
    raise UserError(f"--engine: unknown engine '{name}' (expected one of: {', '.join(ENGINES)})")
