"""Radius graphs of frames, the input of :class:`.model.EquivariantPotential`.

Each frame becomes a :class:`torch_geometric.data.Data` with every ordered pair of atoms closer
than the cut-off as an edge: a k-d tree (SciPy) for non-periodic frames, and for periodic
ones a k-d tree over the periodic images within the cut-off, with integer cell shifts
(:func:`periodic_pairs`: the pairs of ASE's ``primitive_neighbor_list`` in about a twentieth of
its time; a neighbour may be an image of the atom itself), searched in the Minkowski-reduced cell so
that a skewed or nearly flat cell costs what its lattice does, not what its basis does. Images are
taken along the periodic axes only, so a slab periodic along two axes needs no third cell vector.
Positions stay float64 so float64 models see exact coordinates.

A frame with two atoms closer than :data:`MIN_DISTANCE` (an atom and its own image included: a
periodic cell vector that short) raises :class:`sciPT.errors.DataError` with one line naming it, as
does one whose cut-off reaches more than :data:`MAX_IMAGES` periodic images of its cell.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
from ase import Atoms
from ase.geometry import complete_cell, minkowski_reduce
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree
from torch_geometric.data import Data

from sciPT.errors import DataError

from .data import Frame, atoms_to_frame, has_volume

MIN_DISTANCE = 0.1  # Angstrom: closer atoms are a corrupted frame, not chemistry
# periodic images of the (reduced) cell the search may visit: a cut-off a few times a reduced cell's
# size needs hundreds; past this a frame is refused rather than allocated for
MAX_IMAGES = 10**6


def neighbour_pairs(
    positions: np.ndarray, cell: np.ndarray, pbc: np.ndarray, cutoff: float, source: str | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(src, dst, shifts)``: every ordered pair closer than ``cutoff``;
    ``positions[src] - positions[dst] + shifts @ cell`` is the vector from ``dst`` to ``src``.
    ``source`` names the frame in :func:`periodic_pairs`' error."""
    if pbc.any():
        dst, src, shifts = periodic_pairs(positions, cell, pbc, cutoff, source=source)
        return src, dst, shifts.astype(np.float64)
    pairs = cKDTree(positions).query_pairs(cutoff, output_type="ndarray").astype(np.int64)
    # the tree's pairs include the distance cutoff itself; the periodic search and ASE's do not, and
    # a pair at the cut-off, nil in energy, would still count in the average neighbour number
    gap = positions[pairs[:, 0]] - positions[pairs[:, 1]]
    pairs = pairs[np.sqrt((gap * gap).sum(axis=1)) < cutoff]
    src = np.concatenate([pairs[:, 0], pairs[:, 1]])
    dst = np.concatenate([pairs[:, 1], pairs[:, 0]])
    return src, dst, np.zeros((len(src), 3))


def reduced_basis(cell: np.ndarray, pbc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(basis, op)``: the lattice of ``cell``'s periodic vectors in a Minkowski-reduced basis
    (ASE's ``minkowski_reduce``: the shortest vectors that span it, nearly orthogonal), completed
    to a basis of space along the non-periodic axes.

    ``op`` is integer and unimodular with ``basis[k] = (op @ cell)[k]`` along each periodic axis
    ``k``; its rows and columns of non-periodic axes are those of the identity, so integer shifts
    ``S`` in ``basis`` (0 along non-periodic axes) are ``S @ op`` in ``cell``, again 0 along them.
    The non-periodic vectors only complete the basis (no shift uses them), so any completion
    gives the same pairs; a slab's zero or in-plane third vector would make the basis singular.
    Remembered for the last cells seen (read-only arrays): a graph asks twice, and MD every step.
    """
    cell = np.ascontiguousarray(cell, dtype=np.float64)
    pbc = np.ascontiguousarray(pbc, dtype=bool)
    return _reduced_basis(cell.tobytes(), pbc.tobytes())


@lru_cache(maxsize=64)
def _reduced_basis(cell_bytes: bytes, pbc_bytes: bytes) -> tuple[np.ndarray, np.ndarray]:
    cell = np.frombuffer(cell_bytes, dtype=np.float64).reshape(3, 3)
    pbc = np.frombuffer(pbc_bytes, dtype=bool)
    periodic = np.where(pbc[:, None], cell, 0.0)
    op = np.eye(3, dtype=np.int64)
    if pbc.sum() >= 2:  # one vector is its own reduced basis
        try:
            _, found = minkowski_reduce(periodic, pbc)
        except RuntimeError:  # ASE gave up: search the cell as given
            found = op
        found = np.asarray(found, dtype=np.int64)
        ident = np.eye(3, dtype=np.int64)
        if (
            abs(round(np.linalg.det(found))) == 1
            and (found[~pbc] == ident[~pbc]).all()
            and (found[:, ~pbc] == ident[:, ~pbc]).all()
        ):
            op = found
    basis = complete_cell(np.where(pbc[:, None], op @ periodic, 0.0))
    basis.flags.writeable = op.flags.writeable = False
    return basis, op


def periodic_pairs(
    positions: np.ndarray, cell: np.ndarray, pbc: np.ndarray, cutoff: float, *, source: str | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(i, j, S)``: every ``(i, j, S)`` with integer ``S`` (0 along non-periodic axes), not
    ``i = j`` with ``S = 0``, and ``|positions[j] - positions[i] + S @ cell| < cutoff``.

    The same set as ``ase.neighborlist.primitive_neighbor_list("ijS", ..., self_interaction=False)``
    (the tests compare them), sorted by ``(i, j)``, in a fraction of its time. The search runs in
    the reduced basis of :func:`reduced_basis` (the same lattice, so the same pairs), and its
    shifts are mapped back to ``cell``. Positions are wrapped into the reduced cell along the
    periodic axes; a periodic axis ``k`` whose lattice planes are ``1 / |b_k|`` apart (``b_k``
    the reciprocal vectors) needs images up to ``ceil(cutoff |b_k|)`` cells away, of which only
    those within ``cutoff`` of the cell are kept (``cutoff |b_k|`` in fractional units on either
    side), and a k-d tree (SciPy) finds the pairs between the wrapped atoms and these images. Any
    cut-off works, larger than the cell included, up to :data:`MAX_IMAGES` images of the cell:
    more raise :class:`sciPT.errors.DataError` (naming ``source`` when given) before anything is
    allocated for them.
    """
    pbc = np.asarray(pbc, dtype=bool)
    full, op = reduced_basis(cell, pbc)
    frac = np.linalg.solve(full.T, positions.T).T
    wrap = np.where(pbc, np.floor(frac), 0.0)
    inside = positions - wrap @ full
    reach = cutoff * np.linalg.norm(np.linalg.inv(full), axis=0)  # cutoff |b_k|, in cells
    reach = np.where(pbc, reach, 0.0)
    # counted in floats: a cell thin enough overflows any integer
    images = float(np.prod(2 * np.ceil(reach) + 1))
    if not images <= MAX_IMAGES:
        lengths = ", ".join(f"{x:.3g}" for x in np.linalg.norm(full[pbc], axis=1))
        raise DataError(
            f"{source + ': ' if source else ''}a {cutoff:g} Angstrom cut-off reaches {images:.3g} periodic "
            f"images of the cell, more than {MAX_IMAGES} (its periodic vectors, reduced, are {lengths} "
            "Angstrom long): give the frame a larger cell or the model a smaller cut-off"
        )
    n = np.ceil(reach).astype(np.int64)
    grid = np.stack(np.meshgrid(*[np.arange(-k, k + 1) for k in n], indexing="ij"), -1).reshape(-1, 3)
    image_frac = (frac - wrap)[None] + grid[:, None]  # (images, N, 3)
    near = (image_frac >= -reach - 1e-9) & (image_frac < 1 + reach + 1e-9)
    keep = (near | ~pbc).all(axis=2)
    image, atom = np.nonzero(keep)
    image_pos = inside[atom] + grid[image] @ full
    # a hair of slack for the tree: the exact test below decides, as ASE computes it
    found = cKDTree(inside).sparse_distance_matrix(
        cKDTree(image_pos), cutoff * (1 + 1e-8) + 1e-12, output_type="ndarray"
    )
    i = found["i"].astype(np.int64)
    j = atom[found["j"]].astype(np.int64)
    # shifts in the reduced basis, then in the cell's (both 0 along non-periodic axes)
    shifts = (grid[image[found["j"]]] + wrap[i].astype(np.int64) - wrap[j].astype(np.int64)) @ op
    vectors = positions[j] - positions[i] + shifts @ cell
    ok = (np.sqrt((vectors * vectors).sum(axis=1)) < cutoff) & ((i != j) | shifts.any(axis=1))
    i, j, shifts = i[ok], j[ok], shifts[ok]
    order = np.lexsort((j, i))
    return i[order], j[order], shifts[order]


def frame_to_graph(frame: Frame, cutoff: float) -> Data:
    """A :class:`torch_geometric.data.Data` for :class:`.model.EquivariantPotential`.

    Fields: ``pos`` (N, 3) float64, ``z`` (N,), ``edge_index`` (2, E) (source, target), ``shifts``
    (E, 3), ``cell`` (1, 3, 3), ``periodic`` (1,) (has a stress: :func:`.data.has_volume`, the one
    rule the model, ``predict`` and the stress labels follow), ``natoms`` (1,), and the labels present:
    ``energy`` (1,); ``forces`` (N, 3) with ``has_forces`` (1,), zeros and false for a frame read
    without the forces its set has (:attr:`.data.Frame.missing_forces`), neither when no forces
    were read (unlabelled structures, ``forces_key: null``); ``stress`` (1, 3, 3) with
    ``has_stress`` (1,) (zeros and false for a frame without one).
    """
    if frame.pbc.any():
        basis, _ = reduced_basis(frame.cell, frame.pbc)
        shortest = float(np.linalg.norm(basis[frame.pbc], axis=1).min())
        near = shortest * (1 + 1e-6)
        if shortest < MIN_DISTANCE and near < cutoff:
            # each atom is closer than MIN_DISTANCE to its own image (the reduced basis holds the
            # shortest lattice vector), so the closest pair lies within `near`: the pairs that
            # close are those of the full list, in its order, and give its error, found among a
            # few images of the reduced cell rather than all those the cut-off would reach
            pairs = neighbour_pairs(frame.positions, frame.cell, frame.pbc, near, frame.source)
            close_check(frame, *pairs)
    src, dst, shifts = neighbour_pairs(frame.positions, frame.cell, frame.pbc, cutoff, frame.source)
    close_check(frame, src, dst, shifts)
    data = Data(
        pos=torch.from_numpy(frame.positions),
        z=torch.from_numpy(frame.numbers),
        edge_index=torch.from_numpy(np.stack([src, dst])),
        shifts=torch.from_numpy(shifts),
        cell=torch.from_numpy(frame.cell).reshape(1, 3, 3),
        periodic=torch.tensor([has_volume(frame.cell, frame.pbc)]),
        natoms=torch.tensor([len(frame.numbers)]),
    )
    if frame.energy is not None:
        data.energy = torch.tensor([frame.energy], dtype=torch.float64)
    # every frame of a set read with a forces key has both fields (one without forces: zeros), so
    # frames with and without forces batch together; a graph given forces later without the flag
    # counts as having them (.objectives.force_frames)
    if frame.forces is not None or frame.missing_forces is not None:
        forces = frame.forces if frame.forces is not None else np.zeros((len(frame.numbers), 3))
        data.forces = torch.from_numpy(forces)
        data.has_forces = torch.tensor([frame.forces is not None])
    # always present, so frames with and without a stress batch together
    stress = frame.stress if frame.stress is not None else np.zeros((3, 3))
    data.stress = torch.from_numpy(stress).reshape(1, 3, 3)
    data.has_stress = torch.tensor([frame.stress is not None])
    return data


def sees_images(graph) -> bool:
    """Whether ``graph`` has an edge to a periodic image that no unwrapping removes: an atom within
    the cut-off of its own image, or of two images of one atom, or a ring of edges whose shifts do
    not cancel. A molecule in a large box, whole or split across the cell's boundary, sees none:
    its graph is the isolated molecule's (atom ``i`` moved by a whole ``n_i`` of cell vectors,
    every edge's shift is ``n_src - n_dst``)."""
    shifts = graph.shifts.detach().cpu()
    if not shifts.any():
        return False
    src, dst = graph.edge_index.detach().cpu().numpy()
    shifts = np.rint(shifts.numpy()).astype(np.int64)
    n = int(graph.num_nodes)
    _, piece = connected_components(coo_matrix((np.ones(len(src)), (src, dst)), shape=(n, n)), directed=False)
    offset, known = np.zeros((n, 3), dtype=np.int64), np.zeros(n, dtype=bool)
    # each connected piece unwrapped from one of its atoms, one ring of neighbours at a time
    known[np.unique(piece, return_index=True)[1]] = True
    while (step := known[src] & ~known[dst]).any():
        offset[dst[step]] = offset[src[step]] - shifts[step]
        known[dst[step]] = True
    return bool((shifts != offset[src] - offset[dst]).any())


def close_check(frame: Frame, src: np.ndarray, dst: np.ndarray, shifts: np.ndarray) -> None:
    """Raise :class:`DataError` naming ``frame`` and its closest pair of atoms (among the pairs
    of :func:`neighbour_pairs`) if they are closer than :data:`MIN_DISTANCE`."""
    if not len(src):
        return
    vectors = frame.positions[src] - frame.positions[dst] + shifts @ frame.cell
    lengths = np.linalg.norm(vectors, axis=1)
    closest = int(np.argmin(lengths))
    if lengths[closest] < MIN_DISTANCE:
        a, b = sorted((int(dst[closest]), int(src[closest])))
        raise DataError(
            f"{frame.source}: atoms {a} and {b} are {lengths[closest]:.3f} Angstrom apart "
            f"(closer than {MIN_DISTANCE} Angstrom)"
        )


def atoms_to_graph(atoms: Atoms, cutoff: float, source: str = "structure") -> Data:
    """An unlabelled graph of an ASE structure in Angstrom (for calculators and MD)."""
    return frame_to_graph(atoms_to_frame(atoms, source, labelled=False), cutoff)
