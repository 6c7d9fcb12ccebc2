"""Per-element reference energies: the element table, isolated atoms, the composition span, the
least-squares fit and the messages that refuse or warn about them, each against a hand computation."""

import dataclasses

import numpy as np
import pytest

from sciPT.domains.molecules.data import Frame
from sciPT.domains.molecules.graphs import frame_to_graph
from sciPT.domains.molecules.references import (
    check_elements,
    composition_matrix,
    composition_span,
    element_table,
    fit_reference_energies,
    graph_composition,
    isolated_atom,
    isolated_atom_energies,
    nearest_image,
    not_isolated,
    outside_span,
    undetermined_note,
)
from sciPT.errors import DataError


def frame(numbers, energy=None, source="test", cell=None, pbc=False):
    """Atoms 1.5 Angstrom apart along x (far enough for a graph), no cell unless given."""
    return Frame(
        numbers=np.array(numbers),
        positions=np.array([[1.5 * i, 0.0, 0.0] for i in range(len(numbers))]),
        cell=np.zeros((3, 3)) if cell is None else np.array(cell, dtype=float),
        pbc=np.full(3, pbc),
        source=source,
        energy=energy,
    )


# the element table ------------------------------------------------------------------------------
def test_the_element_table_is_ordered_by_atomic_number():
    """The table fixes the column of each element's reference energy and embedding: an order of first
    appearance would give a model trained on other files another table for the same elements."""
    frames = [frame([16, 8, 1]), frame([6, 1, 1]), frame([8])]
    assert element_table(frames) == ["H", "C", "O", "S"]


def test_an_unknown_element_names_its_frame_and_first_atom():
    """A user fixes the file by the atom named: the first atom (from 0, as ASE counts) of the first
    frame with an element outside the table."""
    frames = [frame([1, 6], source="a.xyz: frame 0"), frame([1, 17, 6, 35], source="a.xyz: frame 1")]
    with pytest.raises(DataError) as err:
        check_elements(frames, ["H", "C"])
    assert str(err.value) == (
        "a.xyz: frame 1: atom 1: element Cl is not in the model's element table (H, C): the model never saw it"
    )
    check_elements(frames, ["H", "C", "Cl", "Br"])  # every element known: no refusal


def test_a_caller_s_reason_replaces_the_default_words_of_an_unknown_element():
    """A validation file with an element no training frame holds is refused with why the caller gives,
    not with a claim about the model's table that may not hold."""
    with pytest.raises(DataError) as err:
        check_elements([frame([1, 16], source="v.xyz: frame 2")], ["H"], "occurs in no training frame (H)")
    assert str(err.value) == "v.xyz: frame 2: atom 1: element S occurs in no training frame (H)"


# isolated atoms -------------------------------------------------------------------------------
def test_the_nearest_image_of_a_slanted_cell_is_the_shortest_lattice_vector_combination():
    """a = (3, 0, 0), b = (2.5, 2, 0), c = (0, 0, 5): images at |a| = 3, |b| = 3.2016 and
    |b - a| = sqrt(0.25 + 4) = 2.0616 Angstrom, the nearest; a one-atom crystal is told apart from
    an isolated atom in Angstrom, not in cell fractions."""
    cell = [[3.0, 0.0, 0.0], [2.5, 2.0, 0.0], [0.0, 0.0, 5.0]]
    crystal = frame([29], energy=-3.0, source="c.xyz: frame 0", cell=cell, pbc=True)
    assert nearest_image(crystal, 4.0) == pytest.approx(np.sqrt(4.25), abs=1e-12)
    assert not_isolated(crystal, 4.0) == (
        "c.xyz: frame 0: the atom's periodic image lies 2.062 Angstrom away, within the model's 4 "
        "Angstrom cutoff, so this is a crystal, not an isolated atom; expected a frame without "
        "periodicity or a cell larger than the cutoff"
    )
    # an orthorhombic box: the nearest image is the shortest side, not the longest
    box = frame([29], cell=np.diag([3.0, 4.0, 5.0]), pbc=True)
    assert nearest_image(box, 6.0) == pytest.approx(3.0, abs=1e-12)


def test_a_molecule_without_periodicity_is_no_isolated_atom():
    """Only one-atom frames are references: a diatomic in vacuum sees no image either, and taking it
    for an H reference would put every H energy off by a bond energy."""
    h2 = frame([1, 1], energy=-31.7)
    assert not isolated_atom(h2, 5.0)
    assert isolated_atom_energies([h2, frame([1], energy=-13.6)], 5.0) == {"H": -13.6}


def test_one_element_s_isolated_atoms_equal_to_a_micro_ev_are_one_reference_and_a_milli_ev_apart_two():
    """The same atom written by two files differs in the last digits and is the same reference; two
    atoms 1 meV apart (another spin state or smearing) are a choice left to the user."""
    one = frame([1], energy=-13.6, source="a.xyz: frame 0")
    rounded = frame([1], energy=-13.6 + 1e-8, source="b.xyz: frame 0")
    assert isolated_atom_energies([one, rounded], 5.0) == {"H": -13.6}
    other = frame([1], energy=-13.601, source="b.xyz: frame 1")
    with pytest.raises(DataError) as err:
        isolated_atom_energies([one, other], 5.0)
    assert str(err.value) == (
        "b.xyz: frame 1: isolated H atom of energy -13.601000 eV, but a.xyz: frame 0 gives "
        "-13.600000 eV; expected one reference energy per element"
    )


def test_an_isolated_atom_without_an_energy_is_refused_naming_it():
    """An isolated atom is read for its energy only: without one it cannot be a reference, and a
    reference of None would fail far from the file at fault."""
    atoms = [frame([1], energy=-13.6), frame([8], source="iso.xyz: frame 4")]
    with pytest.raises(DataError) as err:
        isolated_atom_energies(atoms, 5.0, only=True)
    assert str(err.value) == "iso.xyz: frame 4: isolated-atom frame without an energy"


# compositions and their span ------------------------------------------------------------------
def test_compositions_count_the_atoms_of_each_element(ethanol_frames):
    """The least-squares design matrix counts atoms, C2H6O as (6 H, 2 C, 1 O), for frames and for
    the graphs scipt evaluate builds alike: presence alone would fit one reference per molecule."""
    water, methane = frame([8, 1, 1]), frame([1, 6, 1, 1, 1])
    np.testing.assert_array_equal(
        composition_matrix([water, methane], ["H", "C", "O"]), [[2, 0, 1], [4, 1, 0]]
    )
    graphs = [frame_to_graph(f, 4.0) for f in ethanol_frames[:2]]
    np.testing.assert_array_equal(graph_composition(graphs, ["H", "C", "O"]), [[6, 2, 1], [6, 2, 1]])


def test_frames_of_one_molecule_span_one_unit_composition():
    """Frames of ethanol fix one combination of the three references: the span is that composition,
    normalised, one row only (a second row would claim an element reference the data never fixed)."""
    counts = np.array([[6.0, 2.0, 1.0], [6.0, 2.0, 1.0], [12.0, 4.0, 2.0]])
    span = composition_span(counts)
    assert span.shape == (1, 3)
    np.testing.assert_allclose(np.abs(span[0]), np.array([6.0, 2.0, 1.0]) / np.sqrt(41.0), atol=1e-12)
    assert composition_span(np.zeros((0, 3))).shape == (0, 3)


def test_a_composition_a_few_percent_off_the_span_is_outside_it():
    """Span (2, 1)/sqrt(5); (20, 11) projects to 51/5 (2, 1) = (20.4, 10.2), leaving (-0.4, 0.8): a
    residual of 0.894 against a norm of 22.8 (4%), far above the 1e-6 tolerance. Such a frame gets an
    unmeasured energy offset, and scipt evaluate must count it."""
    span = composition_span(np.array([[2.0, 1.0]]))
    assert outside_span(np.array([[20.0, 11.0], [20.0, 10.0], [0.0, 0.0001]]), span).tolist() == [
        True,
        False,
        True,
    ]


def test_the_undetermined_references_warning_word_for_word():
    """The warning says how many references the data fixed, of how many, and what follows; with all
    fixed there is nothing to warn about."""
    one = composition_span(np.array([[6.0, 2.0, 1.0]]))
    assert undetermined_note(one, ["H", "C", "O"], "the training frames", "HINT", "CONSEQUENCE") == (
        "warning: reference energies: the compositions of the training frames fix 1 of the 3 element "
        "references (H, C, O): CONSEQUENCE; HINT"
    )
    full = composition_span(np.array([[2.0, 0.0], [2.0, 1.0]]))
    assert undetermined_note(full, ["H", "O"], "the training frames") is None


# the least-squares fit ------------------------------------------------------------------------
def test_the_fit_recovers_exact_references_and_skips_frames_without_an_energy():
    """Energies that are sums of H -13.6, C -1025.3, O -2035.6 (no binding) give those references
    back, whatever the conditioning of the compositions; a frame without an energy (read unlabelled)
    is left out of the fit, not a crash."""
    refs = {1: -13.6, 6: -1025.3, 8: -2035.6}
    molecules = [[1, 1], [8, 1, 1], [6, 1, 1, 1, 1], [6, 8, 8], [6, 6, 1, 1, 1, 1, 1, 1, 8], [8, 8]]
    frames = [frame(m, energy=sum(refs[z] for z in m)) for m in molecules]
    frames.append(frame([6, 6], energy=None))
    fitted = fit_reference_energies(frames, ["H", "C", "O"])
    assert list(fitted) == ["H", "C", "O"]
    assert fitted == pytest.approx({"H": -13.6, "C": -1025.3, "O": -2035.6}, abs=1e-9)


def test_a_fit_without_any_energy_is_refused():
    """Reference energies of zero fitted to nothing would pass silently into the model's config."""
    with pytest.raises(DataError) as err:
        fit_reference_energies([frame([1, 1]), dataclasses.replace(frame([8]), energy=None)], ["H", "O"])
    assert str(err.value) == "reference energies: no frame has an energy to fit them to"


def test_isolated_atoms_are_one_reference_within_a_micro_ev_plus_a_part_per_billion():
    """The tolerance is 1e-6 eV plus 1e-9 of the energy. Two H atoms (-13.6 eV: 1.01e-6 eV allowed)
    half a micro-eV apart are one reference, the first one's; two O atoms (-2035.6 eV: 3.04e-6 eV
    allowed) 10 micro-eV apart are two, a choice for the user."""
    h = frame([1], energy=-13.6, source="a.xyz: frame 0")
    assert isolated_atom_energies([h, frame([1], energy=-13.6 + 5e-7)], 5.0) == {"H": -13.6}
    o = frame([8], energy=-2035.6, source="a.xyz: frame 1")
    with pytest.raises(DataError) as err:
        isolated_atom_energies([o, frame([8], energy=-2035.6 + 1e-5, source="b.xyz: frame 0")], 5.0)
    assert str(err.value) == (
        "b.xyz: frame 0: isolated O atom of energy -2035.599990 eV, but a.xyz: frame 1 gives "
        "-2035.600000 eV; expected one reference energy per element"
    )


def test_an_isolated_atom_without_an_energy_is_refused_among_other_frames_too():
    """Outside a file of references (``only`` false) a one-atom frame without an energy is refused
    as well: skipping it, or keeping None as the reference, would lose or break the element."""
    frames = [frame([1, 1], energy=-31.7), frame([8], source="data.xyz: frame 3")]
    with pytest.raises(DataError) as err:
        isolated_atom_energies(frames, 5.0)
    assert str(err.value) == "data.xyz: frame 3: isolated-atom frame without an energy"


def test_two_long_alkanes_fix_both_references():
    """C100H202 and C101H204 differ by one CH2 in 300 atoms: their compositions are nearly parallel
    (determinant 202 * 101 - 204 * 100 = 2, smallest singular value ~2e-5 of the largest) but
    independent, so they fix H and C both. Energies that are sums of H -13.6 and C -1025.3 eV
    (-105277.2 and -106329.7 eV) give those back, and no warning is due."""
    counts = np.array([[202.0, 100.0], [204.0, 101.0]])
    span = composition_span(counts)
    assert span.shape == (2, 2)
    assert undetermined_note(span, ["H", "C"], "the training frames") is None
    alkanes = [frame([1] * 202 + [6] * 100, energy=-105277.2), frame([1] * 204 + [6] * 101, energy=-106329.7)]
    np.testing.assert_array_equal(composition_matrix(alkanes, ["H", "C"]), counts)
    assert fit_reference_energies(alkanes, ["H", "C"]) == pytest.approx({"H": -13.6, "C": -1025.3}, abs=1e-6)


def test_a_long_alkane_is_outside_the_span_of_polyethylene():
    """References fitted on (CH2)n fix the combination 2 H + C only. C1000H2002 projects onto
    (2, 1)/sqrt(5) as 5004/5 (2, 1) = (2001.6, 1000.8), leaving (0.4, -0.8): a residual of 0.894
    against a norm of 2237.9 (4e-4), outside the span: its two end hydrogens carry an unmeasured
    offset. C1000H2000 is inside it."""
    span = composition_span(np.array([[2.0, 1.0]]))
    assert outside_span(np.array([[2002.0, 1000.0], [2000.0, 1000.0]]), span).tolist() == [True, False]


def test_an_isolated_atom_is_one_atom_whose_images_lie_beyond_the_cutoff():
    """Two H atoms 1.5 Angstrom apart seen with a 1 Angstrom cutoff have no pair either, yet are no
    reference (two atoms: an H reference would be half a molecule's energy). One Cu atom in a cubic
    box of side 5.2 sees its nearest images 5.2 Angstrom away, beyond a 5 Angstrom cutoff: an
    isolated atom; in a box of side 4.8 its images lie within it: a crystal."""
    assert nearest_image(frame([1, 1]), 1.0) is None
    assert not isolated_atom(frame([1, 1], energy=-31.7), 1.0)
    assert isolated_atom_energies([frame([1, 1], energy=-31.7)], 1.0) == {}
    boxed = frame([29], energy=-1.0, cell=np.diag([5.2, 5.2, 5.2]), pbc=True)
    assert nearest_image(boxed, 5.0) is None and isolated_atom(boxed, 5.0)
    crystal = frame([29], energy=-3.0, cell=np.diag([4.8, 4.8, 4.8]), pbc=True)
    assert nearest_image(crystal, 5.0) == pytest.approx(4.8, abs=1e-12)
    assert not isolated_atom(crystal, 5.0)
    assert isolated_atom_energies([boxed, crystal], 5.0) == {"Cu": -1.0}
