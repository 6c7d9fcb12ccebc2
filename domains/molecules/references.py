"""The element table of a set of frames and the per-element reference energies of its level of theory.

Per-element energies :math:`E^{ref}_Z` are subtracted so the network learns binding energies only:
from isolated-atom frames when given (one-atom frames in the data, or ``isolated_atoms``), else by
least squares :math:`\\min \\| A E^{ref} - E \\|` over the training frames with :math:`A` the
element counts (minimum-norm solution when compositions do not determine them, as for a set of
frames of one molecule; only the per-composition sum is then meaningful). They are stored in the
model config, so an exported model predicts total energies.

An isolated atom is a frame of one atom that sees no periodic image of itself within the model's
cutoff (:func:`isolated_atom`): plane-wave codes compute isolated atoms in periodic boxes larger
than any cutoff, while a one-atom cell of a crystal (a primitive fcc cell) sees its images and is a
structure to fit, not a reference. The rule is the model's own view of the frame.
"""

from __future__ import annotations

import numpy as np
from ase.data import atomic_numbers, chemical_symbols

from sciPT.errors import DataError

from .data import Frame
from .graphs import neighbour_pairs


def element_table(frames: list[Frame]) -> list[str]:
    """Chemical symbols present in ``frames``, by atomic number."""
    present = sorted({int(z) for f in frames for z in np.unique(f.numbers)})
    return [chemical_symbols[z] for z in present]


def check_elements(frames: list[Frame], elements: list[str], why: str | None = None) -> None:
    """Raise :class:`DataError` naming the first frame with an element outside ``elements``, and
    its first atom of such an element (index from 0, as ASE numbers atoms); ``why`` replaces the
    message's words after the element (default: not in the model's element table)."""
    known = np.array([atomic_numbers[s] for s in elements], dtype=np.int64)
    for frame in frames:
        unknown = np.flatnonzero(~np.isin(frame.numbers, known))
        if unknown.size:
            atom = int(unknown[0])
            why = (
                why or f"is not in the model's element table ({', '.join(elements)}): the model never saw it"
            )
            raise DataError(
                f"{frame.source}: atom {atom}: element {chemical_symbols[int(frame.numbers[atom])]} {why}"
            )


def nearest_image(frame: Frame, cutoff: float) -> float | None:
    """Distance (Angstrom) from a one-atom ``frame``'s atom to its nearest periodic image, or
    ``None`` when no image lies within ``cutoff``."""
    first, _, shifts = neighbour_pairs(frame.positions, frame.cell, frame.pbc, cutoff, frame.source)
    if not len(first):
        return None
    return float(np.linalg.norm(shifts @ frame.cell, axis=1).min())


def isolated_atom(frame: Frame, cutoff: float) -> bool:
    """Whether ``frame`` is an isolated-atom reference (module docstring): one atom, no periodic
    image of it within ``cutoff``."""
    return len(frame.numbers) == 1 and nearest_image(frame, cutoff) is None


def isolated_atom_energies(frames: list[Frame], cutoff: float, *, only: bool = False) -> dict[str, float]:
    """``{symbol: energy}`` (eV) of the isolated atoms among ``frames`` (:func:`isolated_atom`).

    Two of one element with different energies are refused: which would be the reference is a
    choice for the user (a spin state, a smearing), not for the order of the frames. ``only``: every
    frame must be an isolated atom (a file of references, ``data.isolated_atoms``).
    """
    refs: dict[str, float] = {}
    first_source: dict[str, str] = {}
    for frame in frames:
        if not isolated_atom(frame, cutoff):
            if only:
                raise DataError(not_isolated(frame, cutoff))
            continue
        if frame.energy is None:
            raise DataError(f"{frame.source}: isolated-atom frame without an energy")
        symbol = chemical_symbols[int(frame.numbers[0])]
        if symbol in refs and not np.isclose(frame.energy, refs[symbol], rtol=1e-9, atol=1e-6):
            raise DataError(
                f"{frame.source}: isolated {symbol} atom of energy {frame.energy:.6f} eV, but "
                f"{first_source[symbol]} gives {refs[symbol]:.6f} eV; expected one reference energy "
                "per element"
            )
        refs.setdefault(symbol, frame.energy)
        first_source.setdefault(symbol, frame.source)
    return refs


def not_isolated(frame: Frame, cutoff: float) -> str:
    """Why ``frame`` cannot be an isolated-atom reference (one line)."""
    if len(frame.numbers) != 1:
        return f"{frame.source}: {len(frame.numbers)} atoms in a file of isolated atoms; expected one atom per frame"
    return (
        f"{frame.source}: the atom's periodic image lies {nearest_image(frame, cutoff):.3f} Angstrom "
        f"away, within the model's {cutoff:g} Angstrom cutoff, so this is a crystal, not an isolated "
        "atom; expected a frame without periodicity or a cell larger than the cutoff"
    )


def composition_matrix(frames: list[Frame], elements: list[str]) -> np.ndarray:
    """``A[f, s]``: atoms of element ``s`` in frame ``f``."""
    column = {atomic_numbers[s]: k for k, s in enumerate(elements)}
    counts = np.zeros((len(frames), len(elements)))
    for f, frame in enumerate(frames):
        for z, n in zip(*np.unique(frame.numbers, return_counts=True)):
            counts[f, column[int(z)]] = n
    return counts


def graph_composition(graphs: list, elements: list[str]) -> np.ndarray:
    """``A[g, s]``: atoms of element ``s`` in graph ``g`` (:func:`composition_matrix` of graphs)."""
    numbers = np.array([atomic_numbers[s] for s in elements])
    return np.stack([(g.z.numpy()[:, None] == numbers[None, :]).sum(0) for g in graphs]).astype(float)


def composition_span(counts: np.ndarray) -> np.ndarray:
    """Orthonormal rows spanning the compositions ``counts`` (``[frames, elements]`` atom counts):
    the combinations of per-element reference energies that least squares on those frames fixes.
    A frame of a composition outside the span gets an energy offset nobody measured (the minimum-
    norm solution sets it): frames of one molecule fix one combination, not every element's."""
    if not len(counts):
        return np.zeros((0, counts.shape[1]))
    _, singular, rows = np.linalg.svd(counts, full_matrices=False)
    return rows[: int((singular > singular[0] * 1e-10).sum())]


def outside_span(counts: np.ndarray, span: np.ndarray) -> np.ndarray:
    """Which compositions (rows of ``counts``) lie outside ``span`` (:func:`composition_span`)."""
    residual = counts - (counts @ span.T) @ span
    return np.linalg.norm(residual, axis=1) > 1e-6 * np.linalg.norm(counts, axis=1)


ISOLATED_ATOMS_HINT = (
    "isolated atoms at this level of theory fix them all (pre-training: --data.isolated-atoms FILE; "
    "fine-tuning: --references data --isolated-atoms FILE)"
)


UNMEASURED_OFFSET = (
    "a molecule of another composition gets an energy offset nobody measured (forces are "
    "unaffected; scipt evaluate counts such frames)"
)


def undetermined_note(
    span: np.ndarray,
    elements: list[str],
    frames: str,
    hint: str = ISOLATED_ATOMS_HINT,
    consequence: str = UNMEASURED_OFFSET,
) -> str | None:
    """A warning where ``span`` fixes fewer combinations than there are elements (``None``: all):
    ``consequence`` says what follows, ``hint`` how the command that fitted them would fix them all."""
    if len(span) >= len(elements):
        return None
    return (
        f"warning: reference energies: the compositions of {frames} fix {len(span)} of the "
        f"{len(elements)} element references ({', '.join(elements)}): {consequence}; {hint}"
    )


def fit_reference_energies(frames: list[Frame], elements: list[str]) -> dict[str, float]:
    """Least-squares per-element energies (minimum-norm when the compositions do not fix them)."""
    labelled = [f for f in frames if f.energy is not None]
    if not labelled:
        raise DataError("reference energies: no frame has an energy to fit them to")
    counts = composition_matrix(labelled, elements)
    energies = np.array([f.energy for f in labelled])
    solution, *_ = np.linalg.lstsq(counts, energies, rcond=None)
    return {s: float(e) for s, e in zip(elements, solution)}
