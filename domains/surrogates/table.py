"""The text of a points file, read into rows of cells before any cell is read as a number.

Commas separate the fields, or tabs or semicolons where the header has no comma, or the delimiter
Excel's ``sep=;`` first line names; a semicolon-separated file has decimal commas, as has a
tab-separated one with a cell such as ``0,7`` (Excel's Unicode Text), and its decimal commas become
points. A cell such as ``10.000`` in either is ambiguous (ten thousand, or ten) and is handed to
the reader (:func:`.data.read_points`) to refuse where it reads it as a number. Each row keeps the
line it starts on, so that a quoted cell over two lines does not put every later message a line
early. A header saved as one quoted field (``"Re, Pr, Nu"``) is refused as such.
"""

from __future__ import annotations

import csv
import re as _re
from pathlib import Path

from sciPT.errors import DataError
from sciPT.files import read_data_text, refuse_directory

_DECIMAL_COMMA = _re.compile(r"^(\s*[-+]?\d*),(\d+(?:[eE][-+]?\d+)?\s*)$")
_SEP_LINE = _re.compile(r"^\s*sep=([,;\t|])\s*$", _re.IGNORECASE)  # Excel's delimiter directive
# ``10.000`` in a decimal-comma file: a German spreadsheet's ten thousand, or ten with a decimal
# point; a leading group of 0 (``0.700``) has no thousands reading, so it is read as it stands
_THOUSANDS = _re.compile(r"^\s*[-+]?[1-9]\d{0,2}(?:\.\d{3})+\s*$")
_COMMA_THOUSANDS = _re.compile(r"^\s*[-+]?[1-9]\d{0,2}(?:,\d{3})+\s*$")


def read_rows(path: Path) -> tuple[list[list[str]], list[int], str, dict[tuple[int, int], str]]:
    """The non-blank rows of a points file as cells, with their line numbers and delimiter (comma,
    or tab or semicolon where the header has no comma), decimal commas made points; and the cells
    whose separators are ambiguous (``10.000``), as written, by (body row, column), for the reader
    to refuse where it reads them."""
    refuse_directory(path, "a CSV file with Re, Pr, Nu columns")
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    text = read_data_text(path, path, "save it as CSV UTF-8")  # a .csv.gz too, as the sequence readers take
    first = next((line for line in text.splitlines() if line.strip()), "")
    # Excel's "sep=;" line names the delimiter (and is no header); without one, spreadsheets also
    # save tab- or semicolon-separated files, and a header without a comma says which
    directive = _SEP_LINE.match(first)
    if directive:
        delimiter = directive.group(1)
    else:
        delimiter = next((d for d in ("\t", ";") if "," not in first and d in first), ",")
    rows, lines = _rows_and_lines(text, delimiter, path)
    lines = [line for line, r in zip(lines, rows) if any(c.strip() for c in r)]
    rows = [r for r in rows if any(c.strip() for c in r)]
    if directive:
        rows, lines = rows[1:], lines[1:]
    # cells such as 10.000, found before the decimal commas become points: 1,234 then looks the same
    ambiguous: dict[tuple[int, int], str] = {}  # cell -> its text as written, before the rewrite
    commas, points = _decimal_separators(rows[1:])
    if delimiter == ";" or (delimiter == "\t" and commas):
        # a European spreadsheet (0,7): semicolons, or Excel's Unicode Text (tabs), where a comma
        # cannot be a delimiter
        for k, r in enumerate(rows[1:]):
            for i, c in enumerate(r):
                if _THOUSANDS.match(c):
                    ambiguous[k, i] = c
                elif points and _COMMA_THOUSANDS.match(c):
                    # other numbers have decimal points (0.71): 27,820 is then as likely an English
                    # thousands separator, and was read as 27.82
                    ambiguous[k, i] = c
        rows = rows[:1] + [[_DECIMAL_COMMA.sub(r"\1.\2", c) for c in r] for r in rows[1:]]
    if not rows:
        raise DataError(f"{path}: empty file (expected a header with Re, Pr, Nu)")
    rows = _without_trailing_empty_columns(rows)
    if len(rows[0]) == 1 and delimiter in rows[0][0]:
        # a spreadsheet cell holding the whole header, saved in quotes: read as one column named
        # "Re, Pr, Nu", whose missing Re the next message would list as found
        raise DataError(
            f"{path}: the header is one quoted field, {rows[0][0].strip()!r}, that holds the "
            f"delimiter {delimiter!r}; expected one field per column (remove the quotes around it)"
        )
    return rows, lines, delimiter, ambiguous


def _decimal_separators(rows: list[list[str]]) -> tuple[bool, bool]:
    """``(commas, points)``: whether some cell is a number with a decimal comma (``0,7``,
    ``27820,9``; ``27,820`` alone is no evidence: an English spreadsheet's thousands separator), and
    whether some cell is a number with a decimal point (``0.71``; ``10.000`` is no evidence: a
    German spreadsheet's ten thousand)."""
    cells = [c for r in rows for c in r]
    commas = any(_DECIMAL_COMMA.match(c) and not _COMMA_THOUSANDS.match(c) for c in cells)
    points = any("." in c and is_number(c) and not _THOUSANDS.match(c) for c in cells)
    return commas, points


def decimal_comma(cell: str) -> str:
    """``"1.500"`` read with a decimal point, written with a decimal comma: ``"1,5"``."""
    try:
        return f"{float(cell):g}".replace(".", ",")
    except ValueError:  # 1.000.000 has no decimal reading
        return "(no decimal reading)"


def _without_trailing_empty_columns(rows: list[list[str]]) -> list[list[str]]:
    """``rows`` without the columns past the header's last named one that are empty in every row,
    and without a trailing header column empty in every row (Excel writes a separator for a
    formatted empty column): refused before as a column without a name, or as rows of too many
    fields with the hint of a decimal comma."""
    header = rows[0]
    while (
        header
        and not header[-1].strip()
        and all(len(r) < len(header) or not r[len(header) - 1].strip() for r in rows[1:])
    ):
        header = header[:-1]
    width = len(header)
    body = [r[:width] if len(r) > width and not any(c.strip() for c in r[width:]) else r for r in rows[1:]]
    return [header, *body]


def _rows_and_lines(text: str, delimiter: str, path: Path) -> tuple[list[list[str]], list[int]]:
    """The CSV rows of ``text`` (the file ``path``) and the line each starts on: a quoted cell over
    two lines (a spreadsheet comment typed with Alt+Enter) makes one row of two lines, and numbering
    rows put every later message a line early."""
    consumed = 0

    def counted(lines):
        nonlocal consumed
        for line in lines:
            consumed += 1
            yield line

    rows, starts, ended = [], [], 0
    # line ends kept: a quoted cell over two lines keeps its line break (the words ran together)
    reader = csv.reader(counted(text.splitlines(keepends=True)), delimiter=delimiter)
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return rows, starts
        except csv.Error as err:  # a cell past the reader's limit (a pasted log), a quote left open
            what = (
                f"a cell longer than {csv.field_size_limit():,} characters"
                if "field limit" in str(err)
                else f"not readable as CSV ({err})"
            )
            raise DataError(
                f"{path}, line {ended + 1}: {what}; expected Re, Pr, Nu and short labels"
            ) from None
        starts.append(ended + 1)  # the line after the one the previous row ended on
        rows.append(row)
        ended = consumed


def is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
