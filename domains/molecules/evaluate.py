"""Errors of a potential on labelled frames: the evaluation every molecules model shares.

:func:`evaluate_potential` runs a potential over graphs and returns exact MAE and RMSE (meV): energy
per atom and per frame, forces over Cartesian components, overall and per element
(:class:`.objectives.ErrorAccumulator`), with the values behind them for parity plots. A set
evaluated with other reference energies than the model's (frames at the level of theory of the
pre-training, after fine-tuning at another) goes through :func:`swapped_references`.

:func:`evaluate_run` is ``scipt evaluate RUN --data FRAMES.xyz`` for any run holding a molecules
model: a pre-training run (:class:`~sciPT.domains.molecules.MoleculesDomain`) or a force-field
fine-tuning run (the ``forcefield`` task, which adds its choice of reference energies). The frames
are read with the run's own keys and units (``--energy-key``/``--forces-key`` override them); frames
of one atom are skipped (they have no force and only fix references); an element the model never saw
is refused. Frames without forces are scored on their energies, and the force errors are over the
atoms of the frames that have forces (``forces_frames`` counts them when some have none; a file in
which no frame has forces is refused unless ``--forces-key none``). Frames whose cell has a volume
and that carry a stress under the run's ``data.stress_key`` (or ``--stress-key``) add stress errors
over the Voigt components in eV/Angstrom^3 (``stress_mae_eV_per_A3``, ``stress_rmse_eV_per_A3`` and
``stress_frames``). The evaluation goes to its own folder (:meth:`sciPT.run.RunDir.evaluation`):
``metrics.json`` (the names of :class:`.objectives.ErrorAccumulator`, plus ``frames`` and
``atoms``), ``plots/parity_energy.png``, ``plots/parity_forces.png`` and ``report.md``.

:func:`predict_run` is ``scipt predict RUN --input FRAMES --output OUT.xyz`` for either kind of run.
Each output frame is its input frame (positions and cell in Angstrom, in the run's periodicity) with
the predictions as its ASE single-point results: ``energy`` and ``stress`` on the comment line,
``energies`` and ``forces`` per atom, what ``atoms.get_potential_energy()`` and ``get_forces()``
return on reading it, as with the ASE calculator. The input's own info keys and per-atom arrays
(reference labels, ``config_type``, ``tags``, ...) are kept beside them, values verbatim (in the
file's own units), under their own names, except ASE's property names (``energy``, ``forces``,
``stress``, ``free_energy``, ``charges``, ...: the names ASE reads into a calculator, where they
would be taken for predictions or mixed with them), which become ``input_<name>``; one line says
which were renamed. ``input_energy`` is then the reference energy of an extended XYZ file that
stores it as ``energy``.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from ase import Atoms, units
from ase.calculators.calculator import all_properties
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write
from ase.io.extxyz import per_atom_properties
from tqdm.auto import tqdm

from sciPT import io, plots
from sciPT.config import from_dict
from sciPT.errors import DataError

from .data import MoleculeDataConfig, read_frames, read_structures
from .dataset import batches, collate, to_graphs
from .objectives import ErrorAccumulator, force_atoms
from .references import check_elements

plt = plots.plt

HEADLINE = [
    ("energy_mae_meV_per_atom", "E MAE (meV/atom)"),
    ("energy_rmse_meV", "E RMSE (meV/frame)"),
    ("forces_mae_meV_per_A", "F MAE (meV/Å)"),
    ("forces_rmse_meV_per_A", "F RMSE (meV/Å)"),
]


@dataclass
class Evaluation:
    """Metrics of one set and the values behind them.

    Attributes:
        metrics: ``{name: value}`` as :meth:`ErrorAccumulator.compute` names them.
        energy: ``(true, predicted)`` energies per atom, eV/atom, one per frame.
        forces: ``(true, predicted)`` force components, eV/Angstrom.
    """

    metrics: dict[str, float]
    energy: tuple[np.ndarray, np.ndarray] = field(default=(np.zeros(0), np.zeros(0)))
    forces: tuple[np.ndarray, np.ndarray] = field(default=(np.zeros(0), np.zeros(0)))

    def prefixed(self, prefix: str) -> dict[str, float]:
        return {f"{prefix}_{k}": v for k, v in self.metrics.items()}


@torch.no_grad()
def evaluate_potential(model, graphs: list, batch_size: int = 32, desc: str = "evaluating") -> Evaluation:
    """Energies, forces and, of the frames that carry one, stresses of ``model`` on ``graphs``
    against their labels; forces over the atoms of the frames that carry forces (``forces_frames``
    counts those frames when some have none)."""
    model.eval()
    device = next(model.parameters()).device
    errors = ErrorAccumulator()
    e_true, e_pred, f_true, f_pred = [], [], [], []
    chunks = batches(graphs, batch_size)
    for batch in tqdm(
        chunks, total=-(-len(graphs) // batch_size), desc=desc, leave=False, disable=len(graphs) < 200
    ):
        batch = batch.to(device)
        mask = force_atoms(batch)
        pred = model(batch, forces=bool(mask.any()), stress=bool(batch.has_stress.any()))
        errors.update(pred, batch)
        natoms = batch.natoms.reshape(-1).double().cpu()
        if "energy" in batch:
            e_true.append((batch.energy.reshape(-1).cpu() / natoms).numpy())
            e_pred.append((pred["energy"].cpu() / natoms).numpy())
        if bool(mask.any()):
            mask = mask.cpu()
            f_true.append(batch.forces.cpu().double()[mask].reshape(-1).numpy())
            f_pred.append(pred["forces"].cpu().double()[mask].reshape(-1).numpy())
    cat = lambda parts: np.concatenate(parts) if parts else np.zeros(0)  # noqa: E731
    metrics = errors.compute()
    if errors.frames_with_forces and errors.frames_with_forces < errors.frames:
        metrics["forces_frames"] = errors.frames_with_forces
    if errors.frames_with_stress:
        metrics["stress_frames"] = errors.frames_with_stress
    return Evaluation(metrics, (cat(e_true), cat(e_pred)), (cat(f_true), cat(f_pred)))


@contextmanager
def swapped_references(model, references: list[float] | None):
    """Evaluate ``model`` with other per-element reference energies (same element order) in its
    active head, and put its own back afterwards; ``None`` changes nothing."""
    if references is None:
        yield model
        return
    buffer = model.head_module().reference_energies
    saved = buffer.clone()
    buffer.copy_(torch.tensor(references, dtype=torch.float64))
    try:
        yield model
    finally:
        buffer.copy_(saved)


@contextmanager
def using_head(model, head: str | None):
    """Make ``head`` the model's active head for the block (``None`` changes nothing)."""
    if head is None:
        yield model
        return
    saved = model.head
    model.select_head(head)
    try:
        yield model
    finally:
        model.head = saved


@torch.no_grad()
def energy_mae(model, graphs: list, head: str, batch_size: int = 32) -> float:
    """The energy MAE per atom (meV) of ``model`` through ``head`` on the ``graphs`` that have an
    energy: energies alone (no forces), with the head's own references."""
    device = next(model.parameters()).device
    errors = []
    for batch in batches([g for g in graphs if "energy" in g], batch_size):
        batch = batch.to(device)
        pred = model(batch, forces=False, head=head)["energy"].double().cpu()
        natoms = batch.natoms.reshape(-1).double().cpu()
        errors.append(((pred - batch.energy.reshape(-1).double().cpu()) / natoms).abs().numpy())
    return 1000 * float(np.concatenate(errors).mean()) if errors else float("nan")


def other_head_warning(model, graphs: list, ev: Evaluation, name: str, batch_size: int = 32) -> str:
    """A warning that the frames look like another head's level of theory ("" if not).

    Two levels of theory differ by an energy per element, which reaches a set of frames as a
    near-constant offset: the energies' mean error is then most of their MAE. That alone does not
    tell a head of another level from an undertrained one (a potential after a few steps is off by
    its own near-constant amount), so it only sends the other heads through the frames; the warning
    names those whose energy MAE is less than half this head's."""
    true, pred = ev.energy
    others = [h for h in model.head_names if h != model.head]
    if not others or not len(true):
        return ""
    error = 1000 * (pred - true)
    bias, mae = float(error.mean()), float(np.abs(error).mean())
    if abs(bias) <= mae / 2:
        return ""
    better = {h: m for h in others if (m := energy_mae(model, graphs, h, batch_size)) < mae / 2}
    if not better:
        return ""
    heads, maes = ", ".join(better), ", ".join(f"{m:.1f}" for m in better.values())
    through = (
        f"through head {heads} the energy MAE is {maes} meV/atom: if the frames are at its level"
        if len(better) == 1
        else f"through heads {heads} the energy MAEs are {maes} meV/atom: if the frames are at one of their levels"
    )
    return (
        f"warning: {name} through head {model.head}: energies off by {bias:+.1f} meV/atom on average "
        f"(MAE {mae:.1f}), as between two levels of theory; {through}, evaluate with "
        + " or ".join(f"--head {h}" for h in better)
    )


# --- a run on a file ----------------------------------------------------------------------------
def labelled_graphs(
    path: str, data: MoleculeDataConfig, elements: list[str], cutoff: float, *, forces_optional: bool = False
) -> list:
    """The frames of ``path`` with more than one atom, checked against the model's elements, as
    graphs; a file with none is refused, and so is one in which no frame has forces under
    ``data.forces_key`` unless ``forces_optional`` (frames without forces are scored on their
    energies)."""
    frames = read_frames(path, data, stress_optional=True, forces_optional=forces_optional)
    frames = [f for f in frames if len(f.numbers) > 1]
    if not frames:
        raise DataError(f"{path}: no frame with more than one atom to evaluate on")
    check_elements(frames, elements)
    return to_graphs(frames, cutoff, f"graphs {Path(path).name}")


def run_data_config(run, args) -> MoleculeDataConfig:
    """How a run read its frames (keys, units, periodicity), with ``--energy-key``/``--forces-key``/
    ``--stress-key`` from ``args`` on top; no files."""
    saved = run.read_config().get("data") or {}
    data = from_dict(MoleculeDataConfig, saved, str(run.config)) if saved else MoleculeDataConfig()
    overrides = {
        k: getattr(args, k)
        for k in ("energy_key", "forces_key", "stress_key")
        if getattr(args, k, None) is not None
    }
    for key in ("forces_key", "stress_key"):
        if overrides.get(key) == "none":  # no such errors, even where frames carry the quantity
            overrides[key] = None
    return dataclasses.replace(data, paths=[], val_paths=[], max_frames=None, **overrides)


def add_reading_arguments(parser, *, keys: bool = True) -> None:
    """``--head``, ``--frames-per-batch`` and, with ``keys`` (evaluate: predict reads no labels),
    ``--energy-key``, ``--forces-key`` and ``--stress-key``."""
    parser.add_argument(
        "--head",
        help="the model head (level of theory) to predict with (default: the newest, i.e. the only "
        "one of a model with one head, else the one fine-tuned last)",
    )
    if keys:
        parser.add_argument(
            "--energy-key", help="energy key of the frames (default: the run's data.energy_key)"
        )
        parser.add_argument(
            "--forces-key",
            help="forces key of the frames; frames without it are scored on their energies (default: "
            "the run's data.forces_key; none: no force errors, e.g. a file of energies alone)",
        )
        parser.add_argument(
            "--stress-key",
            help="stress key of the frames, read where the cell has a volume, in the run's "
            "data.stress_unit (default: the run's data.stress_key; none: no stress errors)",
        )
    parser.add_argument(
        "--frames-per-batch", type=int, default=32, help="frames per evaluation batch (default: 32)"
    )


def evaluate_run(run, args, model, *, references: list[float] | None = None, notes: list[str] = ()) -> dict:
    """Score ``model`` (a run's potential) on the frames of ``args.data``; write the evaluation
    into its own folder (``args.out`` or ``RUN/evaluations/<name>``) and return its metrics.

    ``references``: per-element reference energies to use instead of the model's; ``notes``: lines
    for the report (what the model is, which references).
    """
    model.select_head(getattr(args, "head", None))
    data = run_data_config(run, args)
    graphs = labelled_graphs(args.data, data, model.elements, model.cfg.cutoff)
    name, size = Path(args.data).name, getattr(args, "frames_per_batch", None) or 32
    with swapped_references(model, references):
        ev = evaluate_potential(model, graphs, size, desc=f"evaluating {name}")
    metrics = {"frames": len(graphs), "atoms": int(sum(g.num_nodes for g in graphs)), **ev.metrics}
    notes = [*notes, f"Head: {model.head} (the model's heads: {', '.join(model.head_names)})."]
    warning = other_head_warning(model, graphs, ev, name, size)
    if warning:
        notes.append(warning[0].upper() + warning[1:])
    with run.evaluation(args.data, getattr(args, "out", None)) as out:
        figures = parity_plots(
            {name: ev}, out.plot_path("parity_energy.png"), out.plot_path("parity_forces.png"), f"({name})"
        )
        out.write_metrics(metrics)
        out.write_report(
            [
                *notes,
                *([""] if notes else []),
                f"{metrics['frames']} frames, {metrics['atoms']} atoms (frames of one atom "
                "skipped). Energies per atom and per frame, forces over Cartesian components; "
                "meV and meV/Å.",
                *force_lines(metrics),
                "",
                *metric_rows({name: ev.metrics}),
                "",
                *stress_lines(ev.metrics),
                *element_rows({name: ev.metrics}),
                "",
                *[f"![{p.stem}](plots/{p.name})" for p in figures],
            ],
            title=f"Evaluation on {name}",
        )
    if warning:  # once the evaluation is written: a refused --out is the only line then
        print(warning, file=sys.stderr)
    print(json.dumps(metrics, indent=1))
    return metrics


INPUT_PREFIX = "input_"


def with_input(frame, source: Atoms | None, renamed: dict[tuple[str, str], None]) -> Atoms:
    """``frame``'s structure (Angstrom) carrying the info keys, per-atom arrays, calculator results
    and constraints of ``source``, the input structure it was read from (``None``: nothing to
    keep). ASE's property names become ``input_<name>`` (module docstring); each ``(name, new
    name)`` is recorded in ``renamed`` (an ordered set)."""
    atoms = Atoms(numbers=frame.numbers, positions=frame.positions, cell=frame.cell, pbc=frame.pbc)
    if source is None:
        return atoms
    results = source.calc.results if source.calc is not None else {}
    arrays = {k: v for k, v in source.arrays.items() if k not in ("numbers", "positions")}
    arrays.update({k: v for k, v in results.items() if k in per_atom_properties})
    info = {**source.info, **{k: v for k, v in results.items() if k not in per_atom_properties}}
    taken = set(info) | set(arrays)

    def name(key: str) -> str:
        if key not in all_properties:
            return key
        new = INPUT_PREFIX + key
        while new in taken:  # the input already has input_energy: keep it, go one prefix further
            new = INPUT_PREFIX + new
        renamed[key, new] = None
        return new

    for key, value in arrays.items():
        atoms.arrays[name(key)] = np.array(value, copy=True)
    atoms.info.update({name(key): value for key, value in info.items()})
    atoms.set_constraint([c.copy() for c in source.constraints])
    return atoms


def predict_run(run, args, model) -> int:
    """``scipt predict RUN --input FRAMES --output PREDICTED.xyz`` for any run holding a molecules
    model (``model``, its potential): energy, forces and, where the cell has a volume, stress of
    every frame of ``args.input``, written as extended XYZ in eV and Angstrom beside the input's own
    info and arrays (module docstring)."""
    model.select_head(getattr(args, "head", None))
    data = run_data_config(run, args)
    frames, sources = read_structures(args.input, data, labelled=False)
    check_elements(frames, model.elements)
    graphs = to_graphs(frames, model.cfg.cutoff, "graphs")
    size = getattr(args, "frames_per_batch", None) or 32
    renamed: dict[tuple[str, str], None] = {}
    with io.atomic_path(args.output) as tmp, open(tmp, "w") as handle:
        for start in tqdm(range(0, len(graphs), size), desc="predicting", disable=len(graphs) < 200):
            chunk = graphs[start : start + size]
            out = model(collate(chunk), forces=True, stress=True)
            counts = np.cumsum([0] + [g.num_nodes for g in chunk])
            for k, frame in enumerate(frames[start : start + size]):
                atoms = with_input(frame, sources[start + k] if sources else None, renamed)
                # as the ASE calculator: a stress only where there is a cell volume
                stress = {"stress": out["stress"][k].double().numpy()} if chunk[k].periodic else {}
                atoms.calc = SinglePointCalculator(
                    atoms,
                    energy=float(out["energy"][k]),
                    energies=out["atomic_energies"][counts[k] : counts[k + 1]].double().numpy(),
                    forces=out["forces"][counts[k] : counts[k + 1]].double().numpy(),
                    **stress,
                )
                write(handle, atoms, format="extxyz")
    if renamed:
        pairs = ", ".join(f"{key} as {new}" for key, new in renamed)
        print(
            f"kept the input's {pairs} (energy, energies, forces and stress are the predictions)",
            file=sys.stderr,
        )
    stress = " and, where the cell has a volume, stress" if any(g.periodic for g in graphs) else ""
    print(
        f"wrote {len(graphs)} frames with predicted energy, per-atom energies, forces{stress} to {args.output} (eV, Angstrom)",
        file=sys.stderr,
    )
    return 0


def metric_rows(sets: dict[str, dict[str, float]]) -> list[str]:
    """A markdown table of the headline errors of several sets."""
    out = ["| set | " + " | ".join(label for _, label in HEADLINE) + " |", "|---|" + "---|" * len(HEADLINE)]
    for name, m in sets.items():
        cells = [f"{m[k]:.1f}" if k in m else "–" for k, _ in HEADLINE]
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    return out


def force_lines(metrics: dict[str, float]) -> list[str]:
    """The line that says over which frames the forces were scored, when some frames have none."""
    if "forces_frames" not in metrics:
        return []
    return [
        f"Forces over the atoms of the {metrics['forces_frames']} of {metrics['frames']} frames that "
        "have forces; the others have an energy alone."
    ]


def stress_lines(metrics: dict[str, float]) -> list[str]:
    """The stress errors of a set that has them (a paragraph and a blank line), else nothing."""
    if "stress_mae_eV_per_A3" not in metrics:
        return []
    return [
        f"Stress, {metrics['stress_frames']} frames with a stress label, over the Voigt components "
        "(xx, yy, zz, yz, xz, xy, ASE's sign convention): "
        f"MAE {metrics['stress_mae_eV_per_A3']:.3g} eV/Å³, RMSE {metrics['stress_rmse_eV_per_A3']:.3g} eV/Å³ "
        f"({metrics['stress_mae_eV_per_A3'] / units.GPa:.3g} and "
        f"{metrics['stress_rmse_eV_per_A3'] / units.GPa:.3g} GPa).",
        "",
    ]


def element_rows(sets: dict[str, dict[str, float]]) -> list[str]:
    """Force RMSE per element (meV/Å) of several sets."""
    elements = sorted(
        {k.rsplit("_", 1)[1] for m in sets.values() for k in m if k.startswith("forces_rmse_meV_per_A_")}
    )
    if not elements:
        return []
    out = [
        "| set | " + " | ".join(f"F RMSE {el}" for el in elements) + " |",
        "|---|" + "---|" * len(elements),
    ]
    for name, m in sets.items():
        cells = [
            f"{m[f'forces_rmse_meV_per_A_{el}']:.1f}" if f"forces_rmse_meV_per_A_{el}" in m else "–"
            for el in elements
        ]
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    return out


# --- figures --------------------------------------------------------------------------------
def parity_plots(
    sets: dict[str, Evaluation], energy_png: Path, forces_png: Path, title: str = ""
) -> list[Path]:
    """Predicted against reference: energy per atom (each set relative to the mean of its
    reference values, so the scatter is visible) and force components; RMSE in the legend."""

    def energy(ev):
        true, pred = ev.energy
        centre = true.mean() if len(true) else 0.0
        return 1000 * (true - centre), 1000 * (pred - centre)

    written = [
        _parity(
            sets,
            energy,
            "energy_rmse_meV_per_atom",
            "meV/atom",
            energy_png,
            6,
            "energy − set mean (meV/atom)",
            f"energy {title}",
        ),
        _parity(
            sets,
            lambda ev: ev.forces,
            "forces_rmse_meV_per_A",
            "meV/Å",
            forces_png,
            3,
            "force component (eV/Å)",
            f"forces {title}",
        ),
    ]
    return [p for p in written if p is not None]


def _parity(
    sets: dict[str, Evaluation],
    values,
    metric: str,
    unit: str,
    png: Path,
    size: float,
    quantity: str,
    title: str,
) -> Path | None:
    fig, ax = plt.subplots(figsize=(4.8, 4.6))
    drawn = False
    for i, (name, ev) in enumerate(sets.items()):
        true, pred = values(ev)
        if not len(true):
            continue
        rmse = ev.metrics.get(metric, float("nan"))
        ax.scatter(true, pred, s=size, alpha=0.5, color=f"C{i}", label=f"{name} (RMSE {rmse:.1f} {unit})")
        drawn = True
    if not drawn:
        plt.close(fig)
        return None
    _diagonal(ax)
    ax.set(xlabel=f"reference {quantity}", ylabel=f"predicted {quantity}", title=title.strip())
    return plots.save(fig, png)


def _diagonal(ax) -> None:
    lo = min(ax.get_xlim()[0], ax.get_ylim()[0])
    hi = max(ax.get_xlim()[1], ax.get_ylim()[1])
    ax.plot([lo, hi], [lo, hi], ls=":", color="grey", lw=1)
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_aspect("equal")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, markerscale=3)
