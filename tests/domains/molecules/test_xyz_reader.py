"""The extended-XYZ reader's account of a malformed file (sciPT.domains.molecules.xyz): ASE names no
frame or line, so the file is walked again to name them; what a user reads is the line to fix."""

import pytest

from sciPT.domains.molecules import xyz
from sciPT.domains.molecules.data import MoleculeDataConfig, read_frames
from sciPT.domains.molecules.xyz import (
    blank_line_between_frames,
    find_species,
    layout_error,
    read_images,
    unknown_species,
)
from sciPT.errors import DataError

PAIR = 'Properties=species:S:1:pos:R:3 energy=-1.0 pbc="F F F"\nH 0.0 0.0 0.0\nH 0.0 0.0 0.74\n'
ONE = f"2\n{PAIR}"  # one frame of two atoms: lines 1-4


def refusal(path, cfg=None):
    with pytest.raises(DataError) as err:
        read_frames(str(path), cfg or MoleculeDataConfig(energy_key=None, forces_key=None), labelled=False)
    return str(err.value)


def test_a_file_cut_after_a_frames_header_is_named_as_such(tmp_path):
    """A run killed while writing leaves a count line and nothing after it: the message says the
    file ends after that header, not that the frame holds 0 of its atoms."""
    path = tmp_path / "cut.xyz"
    path.write_text(ONE + "2\n")
    assert refusal(path) == f"{path}: frame 1 (line 5): the file ends after its header"


def test_the_first_of_several_blank_lines_between_frames_is_named(tmp_path):
    """Two blank lines between frames: the message names line 5, where the first is (the line a user
    deletes first), not line 6."""
    path = tmp_path / "joined.xyz"
    path.write_text(ONE + "\n\n" + ONE)
    assert refusal(path) == (
        f"{path}: line 5 is blank where frame 1's atom count belongs, and frames follow it: ASE stops "
        "reading at a blank line and would leave them out; remove it"
    )


def test_a_blank_line_before_the_last_of_max_frames_is_refused(tmp_path):
    """--data.max-frames 2 of a file with a blank line after frame 0: ASE returns one frame of the
    two asked for, without a word; the blank line is named instead."""
    path = tmp_path / "joined.xyz"
    path.write_text(ONE + "\n" + ONE + ONE)
    assert refusal(path, MoleculeDataConfig(energy_key=None, forces_key=None, max_frames=2)) == (
        f"{path}: line 5 is blank where frame 1's atom count belongs, and frames follow it: ASE stops "
        "reading at a blank line and would leave them out; remove it"
    )


def test_the_walks_pass_over_blank_lines_between_frames():
    """Blank lines are not frames: the species walk finds frame 1's atom 0 (lines counted by hand:
    frame 0 is lines 1-4, a blank line 5), and the layout walk names line 6, the word where frame 1's
    count belongs, not the blank line before it."""
    lines = [*ONE.splitlines(True), "\n", "1\n", "comment\n", "Q 0.0 0.0 0.0\n"]
    assert find_species(lines, "Q") == (1, 0)
    assert find_species(["\n", *lines], "Q") == (1, 0)
    bad = [*ONE.splitlines(True), "\n", "two\n", "comment\n"]
    assert layout_error(bad) == (
        "line 6: expected frame 1's atom count, got 'two' (frame 0's header, line 1, says 2 atoms)"
    )


def test_only_ases_key_error_of_a_string_names_a_species():
    """ASE's extended XYZ reader raises KeyError('Q') for a symbol that is no element; any other
    error (here a ValueError whose message is one word) names no species to look for."""
    assert unknown_species(KeyError("Q")) == "Q"
    assert unknown_species(ValueError("Q")) is None
    assert unknown_species(KeyError(3)) is None


def test_a_malformed_file_of_a_format_ase_knows_gets_no_format_hint(tmp_path):
    """A broken .json (a format ASE names) is reported with ASE's own first line; the hint about
    formats is for a suffix ASE cannot name, and would send a user to convert a file already in one."""
    path = tmp_path / "broken.json"
    path.write_text("{not json")
    assert refusal(path) == (
        f"{path}: not a readable structure file (Expecting property name enclosed in double quotes: "
        "line 1 column 2 (char 1))"
    )


def test_a_frame_cut_short_holds_no_species_and_the_walk_does_not_crash():
    """A truncated last frame ends the species walk with missing atom lines: it answers None (no
    such atom), not an IndexError that would hide ASE's own complaint."""
    assert find_species(["2\n", "comment\n", "H 0.0 0.0 0.0\n"], "Q") is None


def test_a_header_with_more_than_the_count_is_a_layout_fault():
    """A frame's header is one count: '2 atoms' is named, not read as a count of 2."""
    assert layout_error(["2 atoms\n", "comment\n", "H 0 0 0\n", "H 0 0 0.74\n"]) == (
        "line 1: expected frame 0's atom count, got '2 atoms'"
    )


def test_the_blank_line_walk_stops_at_a_layout_fault():
    """A header that is a word is a layout fault, not a blank line between frames: the walk says
    nothing rather than naming a blank line further on."""
    assert blank_line_between_frames(["two\n", "\n", "1\n", "c\n", "H 0 0 0\n"]) is None


def test_a_key_error_of_several_arguments_names_no_species():
    """ASE's unknown-species KeyError carries the symbol alone; a KeyError of two arguments is
    something else."""
    assert unknown_species(KeyError("Q", "extra")) is None


@pytest.mark.parametrize(
    "err, said",
    [
        (ValueError("first line\nsecond line"), "first line"),  # ASE's first line only
        (StopIteration(), "StopIteration"),  # no message: the error's type
        (KeyError("energy"), "'energy'"),  # a key no atom holds as its species
    ],
)
def test_an_unreadable_file_is_named_with_the_first_line_of_ases_error(tmp_path, monkeypatch, err, said):
    """When neither walk finds the fault, the one line a user reads is ASE's first line, or the
    error's type when ASE gave no message; a KeyError for a key that is no atom's species falls
    through to it rather than crashing."""

    def fails(*args, **kwargs):
        raise err

    monkeypatch.setattr(xyz, "read", fails)
    path = tmp_path / "fine.xyz"
    path.write_text(ONE)
    with pytest.raises(DataError) as raised:
        read_images(path, "fine.xyz", ":")
    assert str(raised.value) == f"fine.xyz: not a readable structure file ({said})"


def test_a_leading_blank_line_is_named_when_the_head_is_read(tmp_path):
    """head_name refuses a malformed file 'in the words it would meet' in read_frames: a blank
    first line is named there (line 1), so it must be here too."""
    from sciPT.domains.molecules.data import head_name

    path = tmp_path / "lead.xyz"
    path.write_text("\n" + ONE)
    expected = refusal(path)
    assert expected.startswith(f"{path}: line 1 is blank where frame 0's atom count belongs")
    with pytest.raises(DataError) as err:
        head_name(MoleculeDataConfig(paths=[str(path)]))
    assert str(err.value) == expected


def test_an_atom_line_short_of_its_declared_properties_is_named_with_its_frame_and_line(tmp_path):
    """A hand-edited line that lost its forces: ASE said only 'could not assign tuple of length 4 to
    structure with 7 fields', naming no frame or line."""
    forces = 'Properties=species:S:1:pos:R:3:forces:R:3 energy=-1.0 pbc="F F F"\n'
    atoms = "H 0.0 0.0 0.0 0 0 0.1\nH 0.0 0.0 0.74 0 0 -0.1\n"
    path = tmp_path / "ragged.xyz"
    path.write_text(f"2\n{forces}{atoms}2\n{forces}H 0.0 0.0 0.0\nH 0.0 0.0 0.74 0 0 -0.1\n")
    assert refusal(path) == (
        f"{path}: frame 1 (line 5): line 7, its atom 0, has 4 fields; its Properties declare 7 "
        "(species:S:1:pos:R:3:forces:R:3)"
    )


@pytest.mark.parametrize(
    "comment, declared",
    [
        ('Properties="species:S:1:pos:R:3" energy=1', (4, "species:S:1:pos:R:3")),
        ("energy=1 properties=species:S:1:pos:R:3:Z:I:1", (5, "species:S:1:pos:R:3:Z:I:1")),
        ("energy=1 pbc='F F F'", None),  # plain XYZ: nothing declared
        ("Properties=species:S:pos:R:3", None),  # not name:type:count triples: not judged
    ],
)
def test_the_declared_columns_are_the_sum_of_the_properties_counts(comment, declared):
    assert xyz.declared_columns(comment) == declared


@pytest.mark.parametrize(
    "head, said",
    [
        (
            b"\xef\xbb\xbf",
            "begins with a byte-order mark (UTF-8 with BOM), which the XYZ reader does not take; "
            "save it as UTF-8 without one",
        ),
        (b"\xff\xfe", "UTF-16 text, which the XYZ reader does not take; save it as UTF-8"),
    ],
)
def test_a_file_with_a_byte_order_mark_or_in_utf16_is_named_as_such(tmp_path, head, said):
    """Excel and Notepad write these; the reader said "expected frame 0's atom count, got '\\ufeff2'"."""
    path = tmp_path / "marked.xyz"
    text = ONE.encode("utf-16-le") if head == b"\xff\xfe" else ONE.encode()
    path.write_bytes(head + text)
    assert refusal(path) == f"{path}: {said}"
