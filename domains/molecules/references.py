"""The element table of a set of frames and the per-element reference energies of its level of theory.

Per-element energies :math:`E^{ref}_Z` are subtracted so the network learns binding energies only:
from isolated-atom frames when given (one-atom frames in the data, or ``isolated_atoms``), else by
least squares :math:`\\min \\| A E^{ref} - E \\|` over the training frames with :math:`A` the
element counts (minimum-norm solution when compositions do not determine them, as for a set of
frames of one molecule; only the per-composition sum is then meaningful). They are stored in the
model config, so an exported model predicts total energies.
"""

from __future__ import annotations

import numpy as np
from ase.data import atomic_numbers, chemical_symbols

from sciPT.errors import DataError

from .data import Frame


def element_table(frames: list[Frame]) -> list[str]:
    """Chemical symbols present in ``frames``, by atomic number."""
    present = sorted({int(z) for f in frames for z in np.unique(f.numbers)})
    return [chemical_symbols[z] for z in present]


def check_elements(frames: list[Frame], elements: list[str]) -> None:
    """Raise :class:`DataError` naming the first frame with an element outside ``elements``, and
    its first atom of such an element (index from 0, as ASE numbers atoms)."""
    known = np.array([atomic_numbers[s] for s in elements], dtype=np.int64)
    for frame in frames:
        unknown = np.flatnonzero(~np.isin(frame.numbers, known))
        if unknown.size:
            atom = int(unknown[0])
            raise DataError(
                f"{frame.source}: atom {atom}: element {chemical_symbols[int(frame.numbers[atom])]} is "
                f"not in the model's element table ({', '.join(elements)}): the model never saw it"
            )


def isolated_atom_energies(frames: list[Frame]) -> dict[str, float]:
    """``{symbol: energy}`` from the one-atom frames (eV)."""
    refs: dict[str, float] = {}
    for frame in frames:
        if len(frame.numbers) == 1:
            if frame.energy is None:
                raise DataError(f"{frame.source}: isolated-atom frame without an energy")
            refs.setdefault(chemical_symbols[int(frame.numbers[0])], frame.energy)
    return refs


def composition_matrix(frames: list[Frame], elements: list[str]) -> np.ndarray:
    """``A[f, s]``: atoms of element ``s`` in frame ``f``."""
    column = {atomic_numbers[s]: k for k, s in enumerate(elements)}
    counts = np.zeros((len(frames), len(elements)))
    for f, frame in enumerate(frames):
        for z, n in zip(*np.unique(frame.numbers, return_counts=True)):
            counts[f, column[int(z)]] = n
    return counts


def fit_reference_energies(frames: list[Frame], elements: list[str]) -> dict[str, float]:
    """Least-squares per-element energies (minimum-norm when the compositions do not fix them)."""
    labelled = [f for f in frames if f.energy is not None]
    if not labelled:
        raise DataError("reference energies: no frame has an energy to fit them to")
    counts = composition_matrix(labelled, elements)
    energies = np.array([f.energy for f in labelled])
    solution, *_ = np.linalg.lstsq(counts, energies, rcond=None)
    return {s: float(e) for s, e in zip(elements, solution)}
