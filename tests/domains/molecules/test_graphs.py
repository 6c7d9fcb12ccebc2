"""Periodic neighbour search of skewed and nearly flat cells: searched in the reduced lattice, the
pairs are ASE's, and a cell too thin to search is refused at once instead of allocated for."""

import time
import tracemalloc

import numpy as np
import pytest
from ase.build import bulk
from ase.neighborlist import primitive_neighbor_list

from sciPT.domains.molecules.data import MoleculeDataConfig, read_frames
from sciPT.domains.molecules.graphs import (
    MAX_IMAGES,
    close_check,
    frame_to_graph,
    neighbour_pairs,
    periodic_pairs,
    reduced_basis,
)
from sciPT.errors import DataError

CUBIC_CU = bulk("Cu", "fcc", a=3.6, cubic=True).cell.array  # 4 atoms


def rattled_cu():
    positions = bulk("Cu", "fcc", a=3.6, cubic=True).positions
    return positions + np.random.default_rng(7).normal(0.0, 0.1, positions.shape)


def skew(k):
    """Unimodular: the skewed cell spans the lattice of the one it is applied to."""
    return np.array([[1, 0, 0], [k, 1, 0], [k, k, 1]])


def pairs_by_vector(i, j, shifts, positions, cell):
    """``(i, j, vector)`` sorted: a set that does not depend on the basis the shifts are in."""
    vectors = positions[j] - positions[i] + np.asarray(shifts) @ cell
    order = np.lexsort((*np.round(vectors, 6).T[::-1], j, i))
    return i[order], j[order], vectors[order]


def assert_same_pairs(found, expected):
    """The same ``(i, j)`` sequence, and vectors and distances equal to 1e-9 Angstrom."""
    (i, j, vectors), (ei, ej, evectors) = found, expected
    assert len(i) == len(ei) > 0
    assert (i == ei).all() and (j == ej).all()
    np.testing.assert_allclose(vectors, evectors, rtol=0, atol=1e-9)
    np.testing.assert_allclose(
        np.linalg.norm(vectors, axis=1), np.linalg.norm(evectors, axis=1), rtol=0, atol=1e-9
    )


@pytest.mark.parametrize("k", [10, 30])
def test_a_skewed_cell_has_the_pairs_of_its_lattice_and_costs_what_the_lattice_does(k):
    """The skewed cell of the cubic one: ASE's pairs of the cubic cell (ASE itself needs 2 s at
    k = 10 and a minute at k = 30 on the skewed one), found well under a second."""
    positions, pbc, cutoff = rattled_cu(), np.array([True, True, True]), 5.0
    cell = skew(k) @ CUBIC_CU
    # processor time, not wall time: the cost of the search, whatever else shares the machine
    start = time.process_time()
    i, j, shifts = periodic_pairs(positions, cell, pbc, cutoff)
    elapsed = time.process_time() - start
    assert elapsed < 0.5, f"{elapsed:.2f} s"
    assert shifts.dtype.kind == "i" and (np.lexsort((j, i)) == np.arange(len(i))).all()
    ei, ej, eshifts = primitive_neighbor_list("ijS", pbc, CUBIC_CU, positions, cutoff, self_interaction=False)
    assert_same_pairs(
        pairs_by_vector(i, j, shifts, positions, cell), pairs_by_vector(ei, ej, eshifts, positions, CUBIC_CU)
    )


def test_a_skewed_cell_has_ases_shifts_in_its_own_basis():
    """The shifts are those of the cell given, not of the reduced one: ASE's, on the skewed cell."""
    positions, pbc, cutoff = rattled_cu(), np.array([True, True, True]), 4.0
    cell = skew(4) @ CUBIC_CU
    expected = primitive_neighbor_list("ijS", pbc, cell, positions, cutoff, self_interaction=False)
    found = periodic_pairs(positions, cell, pbc, cutoff)
    key = lambda i, j, s: sorted(zip(i.tolist(), j.tolist(), map(tuple, np.asarray(s).tolist())))  # noqa: E731
    assert len(expected[0]) > 0 and key(*found) == key(*expected)


TRICLINIC = np.array([[4.1, 0.0, 0.0], [1.3, 3.8, 0.0], [-0.9, 0.7, 4.4]])
SLAB_PLANE = np.array([[3.0, 0.0, 0.0], [1.5, 2.6, 0.0]])  # hexagonal


@pytest.mark.parametrize(
    "cell,reference,pbc,cutoff,n_atoms",
    [
        # triclinic, then skewed along its own vectors
        (TRICLINIC, TRICLINIC, (True, True, True), 5.0, 6),
        (np.array([[1, 0, 0], [3, 1, 0], [-2, 5, 1]]) @ TRICLINIC, TRICLINIC, (True, True, True), 5.0, 6),
        # slab: a skewed in-plane basis, no third vector; ASE gets the plane's own basis and a normal
        (
            np.vstack([np.array([[1, 0], [9, 1]]) @ SLAB_PLANE, [[0.0, 0.0, 0.0]]]),
            np.vstack([SLAB_PLANE, [[0.0, 0.0, 1.0]]]),
            (True, True, False),
            4.5,
            5,
        ),
        # slab with 20 Angstrom of vacuum as its third vector
        (
            np.vstack([np.array([[1, 0], [-7, 1]]) @ SLAB_PLANE, [[0.0, 0.0, 20.0]]]),
            np.vstack([SLAB_PLANE, [[0.0, 0.0, 20.0]]]),
            (True, True, False),
            4.5,
            5,
        ),
        # wire along a tilted vector, the cut-off several cells long
        (
            np.array([[2.4, 0.3, 0.2], [0.0, 9.0, 0.0], [0.0, 0.0, 9.0]]),
            np.array([[2.4, 0.3, 0.2], [0.0, 9.0, 0.0], [0.0, 0.0, 9.0]]),
            (True, False, False),
            6.0,
            3,
        ),
    ],
    ids=["triclinic", "skewed-triclinic", "slab-no-third-vector", "slab-vacuum", "wire"],
)
def test_skewed_and_partly_periodic_cells_have_ases_pairs(cell, reference, pbc, cutoff, n_atoms):
    """``reference`` spans the lattice of ``cell``'s periodic vectors (ASE is run on it); atoms lie
    inside and outside the cell, near the slab's plane."""
    pbc = np.array(pbc)
    rng = np.random.default_rng(n_atoms)
    frac = rng.uniform(-0.7, 1.7, size=(n_atoms, 3))
    frac[:, ~pbc] = rng.uniform(-0.1, 0.1, size=(n_atoms, int((~pbc).sum())))
    positions = frac @ np.where(pbc[:, None], reference, np.diag([4.0, 4.0, 4.0]))
    i, j, shifts = periodic_pairs(positions, cell, pbc, cutoff)
    assert not shifts[:, ~pbc].any()
    assert (np.lexsort((j, i)) == np.arange(len(i))).all()
    ei, ej, eshifts = primitive_neighbor_list(
        "ijS", pbc, reference, positions, cutoff, self_interaction=False
    )
    assert_same_pairs(
        pairs_by_vector(i, j, shifts, positions, cell), pairs_by_vector(ei, ej, eshifts, positions, reference)
    )


@pytest.mark.parametrize(
    "cell,pbc",
    [
        (skew(30) @ CUBIC_CU, (True, True, True)),
        (np.vstack([np.array([[1, 0], [9, 1]]) @ SLAB_PLANE, [[0.0, 0.0, 0.0]]]), (True, True, False)),
        (np.array([[3.6, 0, 0], [0, 3.6, 0], [3.6, 3.6, 0.01]]), (True, True, True)),
    ],
    ids=["skewed", "slab", "flat"],
)
def test_the_reduced_basis_spans_the_cells_lattice(cell, pbc):
    pbc = np.array(pbc)
    basis, op = reduced_basis(cell, pbc)
    assert op.dtype.kind == "i" and abs(round(np.linalg.det(op))) == 1
    np.testing.assert_allclose(basis[pbc], (op @ cell)[pbc], atol=1e-12)
    assert (op[~pbc] == np.eye(3, dtype=int)[~pbc]).all() and (
        op[:, ~pbc] == np.eye(3, dtype=int)[:, ~pbc]
    ).all()
    assert np.linalg.norm(basis[pbc], axis=1).max() <= np.linalg.norm(cell[pbc], axis=1).max() + 1e-12
    assert abs(np.linalg.det(basis)) > 0


def flat_cu(tmp_path, z):
    """Two Cu atoms in a cell whose third vector lies ``z`` above the plane of the others: its
    lattice holds (0, 0, z), so each atom is ``z`` from its own image."""
    path = tmp_path / "flat.xyz"
    path.write_text(
        f'2\nLattice="3.6 0.0 0.0 0.0 3.6 0.0 3.6 3.6 {z}" Properties=species:S:1:pos:R:3 pbc="T T T"\n'
        "Cu 0.0 0.0 0.0\nCu 1.8 1.8 0.005\n"
    )
    (frame,) = read_frames(str(path), MoleculeDataConfig(forces_key=None), labelled=False)
    return frame


def refused(frame, cutoff):
    tracemalloc.start()
    start = time.process_time()  # the refusal's own cost, not the load of other processes
    try:
        with pytest.raises(DataError) as err:
            frame_to_graph(frame, cutoff)
        elapsed = time.process_time() - start
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert elapsed < 2.0, f"{elapsed:.2f} s"
    assert peak < 50e6, f"{peak / 1e6:.0f} MB"
    return str(err.value)


@pytest.mark.parametrize(
    "z,apart", [(0.01, "0.010"), (1e-3, "0.001"), (1e-5, "0.000")], ids=["1e-2", "1e-3", "1e-5"]
)
def test_a_nearly_flat_cell_is_refused_for_its_closest_atoms_at_once(tmp_path, z, apart):
    """The flat cell used to ask for gigabytes (z = 0.01) to terabytes (z = 0.001) of images."""
    frame = flat_cu(tmp_path, z)
    assert refused(frame, 5.0) == (
        f"{frame.source}: atoms 0 and 0 are {apart} Angstrom apart (closer than 0.1 Angstrom)"
    )


def test_the_flat_cells_closest_atoms_are_those_of_ase_and_of_the_whole_search(tmp_path):
    frame = flat_cu(tmp_path, 0.01)
    # ASE, on the same lattice in an orthogonal basis: each atom is 0.01 from its own images
    i, j, d = primitive_neighbor_list(
        "ijd", frame.pbc, np.diag([3.6, 3.6, 0.01]), frame.positions, 0.1, self_interaction=False
    )
    assert d.min() == pytest.approx(0.01, abs=1e-12)
    assert sorted(zip(i[d == d.min()].tolist(), j[d == d.min()].tolist())) == [(0, 0), (0, 0), (1, 1), (1, 1)]
    # the shortcut's error is the one the search to the whole cut-off (now affordable) gives
    with pytest.raises(DataError) as whole:
        close_check(frame, *neighbour_pairs(frame.positions, frame.cell, frame.pbc, 5.0))
    assert refused(frame, 5.0) == str(whole.value)


def test_a_cut_off_reaching_too_many_images_is_refused_before_they_are_made(tmp_path):
    path = tmp_path / "cube.xyz"
    path.write_text(
        '1\nLattice="2.0 0.0 0.0 0.0 2.0 0.0 0.0 0.0 2.0" Properties=species:S:1:pos:R:3 pbc="T T T"\n'
    )
    path.write_text(path.read_text() + "Cu 0.3 0.2 0.1\n")
    (frame,) = read_frames(str(path), MoleculeDataConfig(forces_key=None), labelled=False)
    images = (2 * 200 + 1) ** 3  # 400 Angstrom: 200 cells of 2 Angstrom either way, along each axis
    assert images > MAX_IMAGES
    tail = (
        f"a 400 Angstrom cut-off reaches {images:.3g} periodic images of the cell, more than {MAX_IMAGES} "
        "(its periodic vectors, reduced, are 2, 2, 2 Angstrom long): give the frame a larger cell or "
        "the model a smaller cut-off"
    )
    assert refused(frame, 400.0) == f"{frame.source}: {tail}"
    with pytest.raises(DataError) as err:
        periodic_pairs(frame.positions, frame.cell, frame.pbc, 400.0)
    assert str(err.value) == tail


@pytest.mark.parametrize("pbc", [False, True], ids=["molecule", "boxed"])
def test_a_pair_just_inside_the_cut_off_is_an_edge_both_ways(pbc):
    """3.999 Angstrom apart with a 4 Angstrom cut-off: both ordered pairs, with and without a (large)
    periodic box; 4.001 apart: none. A neighbour missed near the cut-off is a jump in the energy."""
    cell, pbc = np.diag([30.0, 30.0, 30.0]), np.array([pbc] * 3)
    for distance, expected in ((3.999, [(0, 1), (1, 0)]), (4.001, [])):
        positions = np.array([[1.0, 1.0, 1.0], [1.0 + distance, 1.0, 1.0]])
        src, dst, shifts = neighbour_pairs(positions, cell, pbc, 4.0)
        assert sorted(zip(src.tolist(), dst.tolist())) == expected
        assert not np.asarray(shifts).any()


def test_a_pair_exactly_at_the_cut_off_of_a_periodic_cell_is_not_an_edge():
    """``closer than`` the cut-off, as ASE: a cubic cell of side 4 with a 4 Angstrom cut-off has no
    pairs (its atom's six nearest images lie exactly at the cut-off), one of side 3.99 has those six."""
    positions, pbc = np.array([[0.5, 0.5, 0.5]]), np.array([True, True, True])
    i, _, _ = periodic_pairs(positions, np.diag([4.0, 4.0, 4.0]), pbc, 4.0)
    assert len(i) == len(primitive_neighbor_list("i", pbc, np.diag([4.0] * 3), positions, 4.0)) == 0
    _, _, shifts = periodic_pairs(positions, np.diag([3.99, 3.99, 3.99]), pbc, 4.0)
    expected = [(0, 0, -1), (0, 0, 1), (0, -1, 0), (0, 1, 0), (-1, 0, 0), (1, 0, 0)]
    assert sorted(map(tuple, shifts.tolist())) == sorted(expected)


def test_a_molecule_has_the_edges_it_has_in_a_large_box():
    """The docstring's contract, ``every ordered pair closer than cutoff``: a pair exactly at the
    cut-off is an edge of a molecule but not of the same molecule in a 30 Angstrom box (nor of ASE's
    list). Its energy is nil (the envelope vanishes there), but it counts in ``avg_num_neighbors``."""
    positions = np.array([[1.0, 1.0, 1.0], [5.0, 1.0, 1.0]])  # exactly 4.0 apart
    cell = np.diag([30.0, 30.0, 30.0])
    boxed = neighbour_pairs(positions, cell, np.array([True] * 3), 4.0)
    molecule = neighbour_pairs(positions, cell, np.array([False] * 3), 4.0)
    assert len(boxed[0]) == 0
    assert len(molecule[0]) == len(boxed[0])


def test_atoms_exactly_the_minimum_distance_apart_are_accepted():
    """``closer than`` 0.1 Angstrom is refused; 0.1 itself is not (the message says ``closer than``)."""
    from ase import Atoms

    from sciPT.domains.molecules.graphs import atoms_to_graph

    graph = atoms_to_graph(Atoms("CO", positions=[[0, 0, 0], [0.1, 0, 0]]), 4.0)
    assert graph.edge_index.shape == (2, 2)
    with pytest.raises(DataError) as err:
        atoms_to_graph(Atoms("CO", positions=[[0, 0, 0], [0.0999, 0, 0]]), 4.0)
    # the structure is named as the calculator and MD name it
    assert str(err.value) == "structure: atoms 0 and 1 are 0.100 Angstrom apart (closer than 0.1 Angstrom)"


def test_a_slab_has_a_stress_only_with_a_third_cell_vector():
    """``periodic`` (has a stress) follows the cell's volume: a slab with a zero third vector has
    none (a stress there divides by zero volume), one with vacuum has one, a molecule none."""
    from ase import Atoms

    from sciPT.domains.molecules.graphs import atoms_to_graph

    plane = [[3.1, 0.0, 0.0], [0.4, 3.3, 0.0]]
    for third, pbc, expected in (
        ([0.0, 0.0, 0.0], [True, True, False], False),
        ([0.0, 0.0, 20.0], [True, True, False], True),
        ([0.0, 0.0, 20.0], [False, False, False], False),
    ):
        atoms = Atoms("CO", positions=[[0.2, 0.1, 0.0], [0.3, 0.2, 1.15]], cell=[*plane, third], pbc=pbc)
        assert atoms_to_graph(atoms, 4.0).periodic.tolist() == [expected]


def test_a_skewed_slab_is_searched_in_its_shortest_vectors():
    """A (nearly) hexagonal plane given by a basis whose second vector is 9 cells long: the search
    runs on the plane's shortest vectors, not the skewed ones (its cost grows with their length)."""
    cell = np.vstack([np.array([[1, 0], [9, 1]]) @ SLAB_PLANE, [[0.0, 0.0, 0.0]]])
    pbc = np.array([True, True, False])
    basis, _ = reduced_basis(cell, pbc)
    # the plane's shortest vectors are its own basis's (a 3.0 and a 3.0017 Angstrom one)
    np.testing.assert_allclose(
        sorted(np.linalg.norm(basis[pbc], axis=1)), sorted(np.linalg.norm(SLAB_PLANE, axis=1)), atol=1e-9
    )


def test_a_slab_sees_its_in_plane_images_and_the_edge_vectors_point_from_centre_to_neighbour():
    """One atom in a square slab (a = 3 Angstrom, periodic along x and y only, no third vector),
    cut-off 3.5: its four in-plane images at 3.0 are its edges (the diagonal ones lie at 4.24), none
    along z; each edge's ``pos[src] - pos[dst] + shifts @ cell`` is the documented vector from
    the centre ``dst`` to the neighbour ``src``: the image's position minus the atom's, 3 Angstrom long."""
    from sciPT.domains.molecules.data import Frame

    cell = np.array([[3.0, 0.0, 0.0], [0.0, 3.0, 0.0], [0.0, 0.0, 0.0]])
    frame = Frame(
        numbers=np.array([6]),
        positions=np.array([[0.4, 0.7, 1.0]]),
        cell=cell,
        pbc=np.array([True, True, False]),
        source="slab",
    )
    graph = frame_to_graph(frame, 3.5)
    assert graph.edge_index.tolist() == [[0, 0, 0, 0], [0, 0, 0, 0]]
    shifts = sorted(map(tuple, graph.shifts.tolist()))
    assert shifts == [(-1.0, 0.0, 0.0), (0.0, -1.0, 0.0), (0.0, 1.0, 0.0), (1.0, 0.0, 0.0)]
    src, dst = graph.edge_index
    vectors = graph.pos[src] - graph.pos[dst] + graph.shifts @ graph.cell[0]
    np.testing.assert_allclose(vectors.numpy(), graph.shifts.numpy() * 3.0, atol=1e-12)


def test_a_periodic_pair_points_from_the_centre_to_the_nearest_image_of_its_neighbour():
    """Two atoms 0.4 Angstrom from opposite faces of a 10 Angstrom cube are 0.8 apart through the
    face: the edge into atom 0 from atom 1 is atom 1's image at x = -0.4 minus atom 0, (-0.8, 0, 0),
    with shift -1 along x; the edge into atom 1 the opposite, with shift +1."""
    from sciPT.domains.molecules.data import Frame

    frame = Frame(
        numbers=np.array([1, 1]),
        positions=np.array([[0.4, 5.0, 5.0], [9.6, 5.0, 5.0]]),
        cell=np.diag([10.0, 10.0, 10.0]),
        pbc=np.array([True, True, True]),
        source="box",
    )
    graph = frame_to_graph(frame, 2.0)
    src, dst = graph.edge_index
    edges = sorted(zip(src.tolist(), dst.tolist(), map(tuple, graph.shifts.tolist())))
    assert edges == [(0, 1, (1.0, 0.0, 0.0)), (1, 0, (-1.0, 0.0, 0.0))]
    vectors = graph.pos[src] - graph.pos[dst] + graph.shifts @ graph.cell[0]
    for e in range(2):
        expected = [-0.8, 0.0, 0.0] if int(dst[e]) == 0 else [0.8, 0.0, 0.0]
        np.testing.assert_allclose(vectors[e].numpy(), expected, atol=1e-12)


def test_atoms_too_close_through_the_cell_boundary_are_refused():
    """0.05 Angstrom apart through a face of the cell (9.95 apart inside it): the closeness check
    measures the pair through its image shift, as the model does."""
    from sciPT.domains.molecules.data import Frame

    frame = Frame(
        numbers=np.array([6, 8]),
        positions=np.array([[0.02, 5.0, 5.0], [9.97, 5.0, 5.0]]),
        cell=np.diag([10.0, 10.0, 10.0]),
        pbc=np.array([True, True, True]),
        source="box.xyz:3",
    )
    with pytest.raises(DataError) as err:
        frame_to_graph(frame, 4.0)
    assert str(err.value) == "box.xyz:3: atoms 0 and 1 are 0.050 Angstrom apart (closer than 0.1 Angstrom)"


def test_a_slab_with_a_vanishing_periodic_vector_is_refused_for_its_closest_atoms():
    """A slab (periodic along two axes) whose first vector is 1e-5 Angstrom long: each atom sits
    1e-5 from its own image, and the frame is refused naming it at once, as a fully periodic
    flat cell is, not for the million images its 5 Angstrom cut-off would reach."""
    from sciPT.domains.molecules.data import Frame

    frame = Frame(
        numbers=np.array([29]),
        positions=np.array([[0.0, 0.0, 0.0]]),
        cell=np.array([[1e-5, 0.0, 0.0], [0.0, 3.6, 0.0], [0.0, 0.0, 0.0]]),
        pbc=np.array([True, True, False]),
        source="slab.xyz:0",
    )
    with pytest.raises(DataError) as err:
        frame_to_graph(frame, 5.0)
    assert str(err.value) == "slab.xyz:0: atoms 0 and 0 are 0.000 Angstrom apart (closer than 0.1 Angstrom)"


def test_a_pair_a_hair_inside_the_cut_off_is_found_far_from_the_cell():
    """The contract is the exact distance ``|positions[j] - positions[i] + S @ cell| < cutoff``, also
    for unwrapped atoms hundreds of Angstrom from the cell (a long MD run): a pair whose distance
    is one float below the cut-off is an edge, though the k-d tree sees it through wrapped
    coordinates rounded otherwise (its search radius carries a hair of slack for that)."""
    rng = np.random.default_rng(0)
    cell, pbc = np.diag([7.0, 7.0, 7.0]), np.array([True, True, True])
    for _ in range(100):
        positions = rng.uniform(-500.0, 500.0, size=(2, 3))
        # atom 1 some 2 Angstrom from an image of atom 0, dozens of cells away
        positions[1] = positions[0] + rng.normal(size=3) * 1.3 + np.round(rng.uniform(-60, 60, 3)) * 7.0
        i, j, shifts = periodic_pairs(positions, cell, pbc, 6.0)
        vectors = positions[j] - positions[i] + shifts @ cell
        distance = np.sqrt((vectors * vectors).sum(axis=1))[(i == 0) & (j == 1)].min()
        i, j, _ = periodic_pairs(positions, cell, pbc, float(np.nextafter(distance, np.inf)))
        assert ((i == 0) & (j == 1)).any(), distance


def test_periodic_images_are_seen_where_no_unwrapping_gives_the_isolated_molecule(shipped, boxed):
    """Ethanol in a 3 or 6 Angstrom box meets its own images within a 5 Angstrom cut-off; in a 20
    Angstrom box it does not, also wrapped across the cell's boundary (its edges then carry nonzero
    shifts, but moving atoms by whole cells gives back the isolated molecule's graph); a crystal
    does."""
    from ase.io import read

    from sciPT.domains.molecules.graphs import atoms_to_graph, sees_images

    ethanol = read(shipped / "ethanol" / "train.xyz", index=0)
    assert [sees_images(atoms_to_graph(boxed(ethanol, s), 5.0)) for s in (3.0, 6.0, 20.0)] == [
        True,
        True,
        False,
    ]
    assert not sees_images(atoms_to_graph(ethanol, 5.0))
    split = boxed(ethanol, 20.0)
    split.positions -= split.positions[0]  # the first atom on the cell's corner
    split.wrap()
    graph = atoms_to_graph(split, 5.0)
    assert graph.shifts.any() and not sees_images(graph)
    assert sees_images(atoms_to_graph(bulk("Cu", "fcc", a=3.6) * (2, 2, 2), 5.0))
