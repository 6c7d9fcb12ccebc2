"""Predictions of a molecules model on structures: ``scipt predict`` for its runs.

:func:`predict_run` is ``scipt predict RUN --input FRAMES --output OUT.xyz`` for any run holding a
molecules model (a pre-training or a force-field fine-tuning run), reading the frames with the
length unit and periodicity of the chosen head's level (``--head``: a fine-tune's old head reads
them as pre-training did, as the export records; an export without the record, and the default
head, as the run read its own; :func:`.evaluate.run_data_config`). Each output frame is its input
frame (positions and cell in Angstrom, in that periodicity) with the predictions as its ASE
single-point results: ``energy`` and ``stress`` on the comment line, ``energies`` and ``forces``
per atom, what ``atoms.get_potential_energy()`` and ``get_forces()`` return on reading it, as with
the ASE calculator. The input's own info keys and per-atom arrays (reference labels, ``config_type``,
``tags``, ...) are kept beside them, values verbatim (in the file's own units), under their own
names, except ASE's property names (``energy``, ``forces``, ``stress``, ``free_energy``,
``charges``, ...: the names ASE reads into a calculator, where they would be taken for predictions
or mixed with them), which become ``input_<name>``; one line says which were renamed.
``input_energy`` is then the reference energy of an extended XYZ file that stores it as ``energy``.
"""

from __future__ import annotations

import sys

import numpy as np
from ase import Atoms
from ase.calculators.calculator import all_properties
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write
from ase.io.extxyz import per_atom_properties
from tqdm.auto import tqdm

from sciPT import io

from .data import read_structures
from .dataset import batch_ranges, collate, shows_progress, to_graphs
from .evaluate import PREDICTED_OFFSET, periodic_images_warning, run_data_config, unfixed_references_warning
from .references import check_elements

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
    model.select_head(getattr(args, "head", None), "--head")
    # positions in the length unit and periodicity of the head's level, as its export records them
    data = run_data_config(run, args, model.head)
    frames, sources = read_structures(args.input, data, labelled=False)
    check_elements(frames, model.elements)
    graphs = to_graphs(frames, model.cfg.cutoff, "graphs")
    unfixed = unfixed_references_warning(model, graphs, args.input, consequence=PREDICTED_OFFSET)
    images = periodic_images_warning(model, graphs, args.input)
    for line in (unfixed, images):
        if line:
            print(line, file=sys.stderr)
    size = getattr(args, "frames_per_batch", None) or 32
    renamed: dict[tuple[str, str], None] = {}
    with io.atomic_path(args.output) as tmp, open(tmp, "w") as handle:
        ranges = batch_ranges(graphs, size)
        for start, stop in tqdm(ranges, desc="predicting", disable=not shows_progress(graphs)):
            chunk = graphs[start:stop]
            out = model(collate(chunk), forces=True, stress=True)
            counts = np.cumsum([0] + [g.num_nodes for g in chunk])
            for k, frame in enumerate(frames[start:stop]):
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
