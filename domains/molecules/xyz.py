"""Reading structure files with ASE, and saying where one is malformed: ASE's own errors name no
frame or line, so on failure the file is walked again to name the frame, atom or line
(:func:`read_images`; :func:`find_species` and :func:`layout_error` for extended XYZ text). A
file that reads is walked once more for a blank line between frames, where ASE stops without a
word (:func:`blank_line_between_frames`)."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from itertools import islice
from pathlib import Path

from ase.io import read
from ase.io.extxyz import key_val_str_to_dict, parse_properties

from sciPT.errors import DataError
from sciPT.files import text_encoding


def _columns(comment: str) -> tuple[tuple[str, ...], str] | None:
    """The atom-line columns an extended XYZ frame's comment declares (``Properties=...``, read by
    ASE's own parser: ``species``, ``pos0``, ``pos1``, ...) and the declaration as written, or
    ``None`` where it declares none, or not legibly."""
    try:
        info = key_val_str_to_dict(comment)
        spec = next((v for k, v in info.items() if k.lower() == "properties"), None)
        if not isinstance(spec, str):
            return None
        _, _, dtype, _ = parse_properties(spec)
    except Exception:  # ASE raises many types for a comment it cannot parse: nothing is declared
        return None
    return dtype.names, spec


def _species_column(comment: str) -> int:
    """The column of an extended XYZ frame's atom lines that holds the species (0 in plain XYZ)."""
    columns = _columns(comment)
    return columns[0].index("species") if columns and "species" in columns[0] else 0


def find_species(lines: Iterable[str], symbol: str) -> tuple[int, int] | None:
    """``(frame, atom)`` of the first atom of XYZ text ``lines`` whose species is ``symbol``, or
    ``None`` (no such atom, or text that is not XYZ)."""
    lines = iter(lines)
    frame = 0
    for header in lines:
        if not header.strip():
            continue
        try:
            count = int(header.split()[0])
        except ValueError:
            return None
        column = _species_column(next(lines, ""))
        for atom in range(count):
            fields = next(lines, "").split()
            if column < len(fields) and fields[column] == symbol:
                return frame, atom
        frame += 1
    return None


def layout_error(lines: Iterable[str]) -> str | None:
    """Where XYZ text ``lines`` stops being frames of ``count`` / comment / ``count`` atom lines,
    in words naming the frame and line, or ``None`` where the layout holds (the fault is
    elsewhere). An atom line has at least four fields (species and position); a frame's header
    is one count."""
    frame, number, previous = 0, 0, None
    lines = iter(lines)
    for header in lines:
        number += 1
        if not header.strip():
            continue
        fields = header.split()
        if len(fields) != 1 or not fields[0].isdigit():
            where = f"line {number}: expected frame {frame}'s atom count, got {header.strip()[:40]!r}"
            if previous is not None:
                where += f" (frame {frame - 1}'s header, line {previous[0]}, says {previous[1]} atoms)"
            return where
        count, start = int(fields[0]), number
        number += 1
        comment = next(lines, None)
        if comment is None:
            return f"frame {frame} (line {start}): the file ends after its header"
        declared = declared_columns(comment)
        for atom in range(count):
            row = next(lines, None)
            number += 1
            if row is None:
                return (
                    f"frame {frame} (line {start}): its header says {count} atoms, the file ends after {atom}"
                )
            if len(row.split()) < 4:
                return (
                    f"frame {frame} (line {start}): its header says {count} atoms, but line {number} "
                    f"after {atom} of them is no atom line ({row.strip()[:40]!r})"
                )
            if declared is not None and len(row.split()) != declared[0]:
                return (
                    f"frame {frame} (line {start}): line {number}, its atom {atom}, has {len(row.split())} "
                    f"fields; its Properties declare {declared[0]} ({declared[1]})"
                )
        previous = (start, count)
        frame += 1
    return None


def declared_columns(comment: str) -> tuple[int, str] | None:
    """``(columns, spec)``: how many fields an atom line of an extended XYZ frame holds by its
    comment's ``Properties=name:type:count:...`` (``species:S:1:pos:R:3:forces:R:3``: 7), or
    ``None`` where the comment declares none (or not legibly)."""
    columns = _columns(comment)
    return None if columns is None else (len(columns[0]), columns[1])


def blank_line_between_frames(lines: Iterable[str], limit: int | None = None) -> tuple[int, int] | None:
    """``(line, frame)``: the first blank line of XYZ text ``lines`` where frame ``frame``'s atom
    count belongs and text follows (1-based line), or ``None``. ASE's reader ends the file there,
    so the frames after it would be dropped without a word; only the first ``limit`` frames are
    looked at (``None``: all). A blank comment line is a frame's own and is passed over."""
    lines = iter(lines)
    number = frame = 0
    blank = None
    for header in lines:
        number += 1
        if not header.strip():
            blank = blank or number
            continue
        if limit is not None and frame >= limit:
            return None  # past the frames read
        if blank is not None:
            return blank, frame
        fields = header.split()
        if len(fields) != 1 or not fields[0].isdigit():
            return None  # a layout fault, not this one
        deque(islice(lines, int(fields[0]) + 1), maxlen=0)  # the comment and atom lines
        number += int(fields[0]) + 1
        frame += 1
    return None


def unknown_species(err: Exception) -> str | None:
    """The species ASE failed to look up when ``err`` is its ``KeyError('Q')`` (its extended XYZ
    reader raises one for a symbol that is no element), else ``None``."""
    if isinstance(err, KeyError) and len(err.args) == 1 and isinstance(err.args[0], str):
        return err.args[0]
    return None


def read_images(resolved: Path, name: str | Path, index):
    """``ase.io.read(resolved, index=index)``, or one line naming the file ``name`` when ASE cannot
    read it (and the frame and atom when its species is no element), or when an XYZ file holds a
    blank line between the frames asked for, where ASE stopped (:func:`blank_line_between_frames`)."""
    xyz = resolved.suffix.lower() in (".xyz", ".extxyz")
    if xyz:
        with open(resolved, "rb") as handle:
            head = handle.read(3)
        if text_encoding(head) == "utf-16":
            raise DataError(f"{name}: UTF-16 text, which the XYZ reader does not take; save it as UTF-8")
        if head == b"\xef\xbb\xbf":
            raise DataError(
                f"{name}: begins with a byte-order mark (UTF-8 with BOM), which the XYZ reader does not "
                "take; save it as UTF-8 without one"
            )
    try:
        images = read(resolved, index=index)
    except Exception as err:  # ASE raises many types for a malformed file
        symbol = unknown_species(err)
        if symbol is not None and xyz:
            # only on failure: the file is walked again to say where the symbol is
            with open(resolved, encoding="utf-8", errors="replace") as lines:
                where = find_species(lines, symbol)
            if where is not None:
                raise DataError(
                    f"{name}: frame {where[0]}: atom {where[1]}: {symbol!r} is not a chemical element"
                ) from None
        if xyz:
            # ASE names no frame or line for a miscounted frame, and a blank line before the frames
            # asked for can fail its read as well as end it: the file is walked again to say where
            _refuse_blank_line(resolved, name, index)
            with open(resolved, encoding="utf-8", errors="replace") as lines:
                where = layout_error(lines)
            if where is not None:
                raise DataError(f"{name}: {where}") from None
        message = str(err).splitlines()[0] if str(err) else type(err).__name__
        # a file whose format ASE cannot even name (its message is then the bare suffix, 'fa')
        unknown = type(err).__name__ == "UnknownFileTypeError" and not xyz
        hint = "; expected extended XYZ (.xyz) or another format ASE reads" if unknown else ""
        raise DataError(f"{name}: not a readable structure file ({message}){hint}") from None
    if xyz:
        _refuse_blank_line(resolved, name, index)
    return images


def _refuse_blank_line(resolved: Path, name: str | Path, index) -> None:
    """One line naming a blank line of XYZ file ``resolved`` where a frame's atom count belongs,
    among the frames ``index`` reads (:func:`blank_line_between_frames`)."""
    limit = None  # index ":" reads every frame; ":N" the first N, and an int the frames up to it
    if isinstance(index, int):
        limit = index + 1
    elif isinstance(index, str) and index[:1] == ":" and index[1:].isdigit():
        limit = int(index[1:])
    with open(resolved, encoding="utf-8", errors="replace") as lines:
        blank = blank_line_between_frames(lines, limit)
    if blank is not None:
        raise DataError(
            f"{name}: line {blank[0]} is blank where frame {blank[1]}'s atom count belongs, and frames "
            "follow it: ASE stops reading at a blank line and would leave them out; remove it"
        ) from None
