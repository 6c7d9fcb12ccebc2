"""Heat-transfer points: variables with units and ranges, CSV readers, pre-training samples.

A surrogate's data are rows of dimensionless numbers: the Reynolds number ``Re``, the Prandtl
number ``Pr``, the Nusselt number ``Nu`` and optional geometric ratios (``e_Dh``: rib height over
hydraulic diameter, ``AR``: channel aspect ratio, ...). A user's CSV names them in its header;
a unit may follow the name in brackets (``Nu [-]``) and must then be dimensionless. White space
around a name is dropped; a column without a name, or two columns with one name (case aside, so
``Re`` and ``re``), are refused, naming the columns. Every value must be a finite positive number
inside the physical range of its variable (``Re`` in 1-1e9, ``Pr`` in 1e-3-1e5, ``Nu`` in
1e-2-1e5); a value below its range gets a hint that the column may be scaled (digitised figures
often plot ``Re x 1e-4``). Any other column whose values are all numbers is a geometric ratio
(unless named as a run number, ``run`` or ``#``: a label, with a warning), one whose values are
mostly text a label (kept, not used; percentages, ``5.3%``, with a warning); a column of numbers with a few words in it is
refused at its first word, as a mistyped ratio would otherwise leave the law without a word. The
columns sciPT writes itself (``Nu_pred``, ``Nu_median``, ``Nu_lo_*``, ``Nu_hi_*``, ``in_calibration_range``) are
labels, never ratios, and a calibration refuses a ratio that is (nearly) a product of powers of
``Re``, ``Pr`` and the other ratios (:func:`.independence.check_independent`, such as ``Pe = Re
Pr``). How the file's text becomes rows of cells (delimiters, decimal commas, Excel's ``sep=``
line, ``10.000`` refused as ambiguous) is :mod:`.table`'s part.

The shipped measurements (Taslim & Spring 1987, ribbed channels) are digitised figures with scaled
axes, ``x = Re x 1e-4`` and ``y = Nu x 1e-3``; :func:`read_digitised` undoes the scaling and checks
that the result lands in the range the paper reports (Re 1e4-2e5).
"""

from __future__ import annotations

import csv
import re as _re
import sys
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sciPT.errors import DataError
from sciPT.recipes import RECIPES_DIR

from .correlations import PR_SAMPLING_CAP
from .correlations.base import Correlation
from .independence import follows_nu
from .table import decimal_comma, is_number, read_rows

HEAT_TRANSFER_DIR = RECIPES_DIR / "heat_transfer"
TASLIM_DIR = HEAT_TRANSFER_DIR / "taslim_spring1987"
TASLIM_PR = 0.70  # air; Taslim & Spring give no Prandtl number per point


@dataclass(frozen=True)
class Variable:
    """A dimensionless variable of a surrogate: its meaning and the range where it is physical."""

    name: str
    description: str
    physical: tuple[float, float]
    unit: str = "1"


VARIABLES = {
    "Re": Variable("Re", "Reynolds number rho u L / mu (L: hydraulic diameter, or plate length)", (1.0, 1e9)),
    "Pr": Variable("Pr", "Prandtl number nu / alpha of the fluid", (1e-3, 1e5)),
    "Nu": Variable("Nu", "Nusselt number h L / k", (1e-2, 1e5)),
}
GROUP_RANGE = (1e-6, 1e6)
DIMENSIONLESS_UNITS = ("", "-", "1", "dimensionless", "none")
# cells a spreadsheet leaves for "no value": in a column of numbers, a hole, not a label's text
MISSING_CELLS = ("", "n/a", "na", "nan", "-", "--", "#n/a", "none", "null")


@dataclass
class Points:
    """Rows of ``(Re, Pr, Nu, groups)``.

    Attributes:
        re, pr: ``(n,)``; ``nu``: ``(n,)`` or ``None`` for points to predict.
        groups: geometric ratios by name, each ``(n,)``.
        source: file (or generator) the points came from; ``lines``: their line numbers there.
        labels: non-numeric columns, kept for output (``{"series": [...]}``).
        header: the file's column names in their order, which output keeps (empty: none read).
    """

    re: np.ndarray
    pr: np.ndarray
    nu: np.ndarray | None
    groups: dict[str, np.ndarray] = field(default_factory=dict)
    source: str = ""
    lines: np.ndarray | None = None
    labels: dict[str, list[str]] = field(default_factory=dict)
    header: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.re)

    def features(self, groups: list[str] | tuple[str, ...] = ()) -> np.ndarray:
        """Log features ``[1, log Re, log Pr, log g...]``, ``(n, 3 + len(groups))``."""
        for g in groups:
            # a ratio column read as a label: it holds words where the model needs numbers
            words = [(v, line) for v, line in zip(self.labels.get(g, ()), self.lines) if not is_number(v)]
            if words:
                raise DataError(f"{self.source}, line {words[0][1]}: {g} = {words[0][0]!r} is not a number")
        missing = [g for g in groups if g not in self.groups]
        if missing:
            raise DataError(
                f"{self.source}: missing column '{missing[0]}' (the model uses the "
                f"geometric ratios {', '.join(groups)})"
            )
        cols = [np.ones(len(self)), np.log(self.re), np.log(self.pr)]
        cols += [np.log(self.groups[g]) for g in groups]
        return np.column_stack(cols)

    @property
    def log_nu(self) -> np.ndarray:
        return np.log(self.nu)

    def subset(self, index) -> Points:
        index = np.asarray(index)
        return Points(
            self.re[index],
            self.pr[index],
            None if self.nu is None else self.nu[index],
            {k: v[index] for k, v in self.groups.items()},
            self.source,
            None if self.lines is None else self.lines[index],
            {k: [v[i] for i in np.arange(len(self))[index]] for k, v in self.labels.items()},
            self.header,
        )


_PERCENT = _re.compile(r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*%\s*$")
# a column of run or row numbers (run, Run ID, no., #, idx, test_no ...), not a ratio of the geometry
_RUN_NUMBER = _re.compile(
    r"^\s*(run|id|no|nr|num|number|index|idx|row|point|sample|case|test|#)s?"
    r"[\s_.#-]*(id|no|nr|num|number|#)?\.?\s*$",
    _re.IGNORECASE,
)
CORE = ("Re", "Pr", "Nu")
# what `scipt evaluate` and `scipt predict` add to a points file (:mod:`.evaluate`): a prediction
# fed back as a ratio would let the law fit Nu with its own earlier prediction of Nu
_OUTPUT_COLUMN = _re.compile(
    r"^(?:nu_pred|nu_median|nu_lo_.*|nu_hi_.*|in_calibration_range)$", _re.IGNORECASE
)
# a column named after Nu (Nu/Nu0, an enhancement ratio): computed from Nu, so never a ratio
_DERIVED_FROM_NU = _re.compile(r"^\s*nu(?:[\s/_]|$)", _re.IGNORECASE)


def output_column(name: str) -> bool:
    """Whether ``name`` is a column sciPT writes (``Nu_pred``, ``Nu_lo_0.9``, ...), not a ratio."""
    return bool(_OUTPUT_COLUMN.match(name.strip()))


def column_key(name: str) -> str:
    """How a column name is looked up: case-blind, and one Unicode form (NFC), so that a name typed
    with an accented letter matches the same name a program saved decomposed (NFD, as macOS file
    dialogs do)."""
    return unicodedata.normalize("NFC", name).lower()


def _split_header(name: str, column: int, path: Path) -> tuple[str, str]:
    """``"Nu [-]"`` -> ``("Nu", "-")`` (white space around the name dropped, as a spreadsheet's
    ``"Re, Pr, Nu"`` means ``Re``, ``Pr``, ``Nu``); no name is an error naming the 1-based
    ``column``. Units are checked where a column is read as a number (:func:`_check_unit`): a
    label column may carry any (``T_wall [K]``)."""
    if not name.strip():
        # pandas' to_csv writes its index under an empty name: the usual way to get here
        hint = " (an index written by pandas has none: save with index=False)" if column == 1 else ""
        raise DataError(
            f"{path}: column {column} of the header has no name; expected Re, Pr, Nu or a "
            f"geometric ratio{hint}"
        )
    m = _re.fullmatch(r"\s*([^\[\(]+?)\s*(?:[\[\(]\s*([^\]\)]*?)\s*[\]\)])?\s*", name)
    if not m:
        raise DataError(f"{path}: cannot read column name {name!r}")
    return m.group(1), (m.group(2) or "")


def _check_unit(name: str, base: str, unit: str, path: Path) -> None:
    """Refuse a column read as a number (Re, Pr, Nu, a ratio) whose unit is not dimensionless."""
    if unit.lower() not in DIMENSIONLESS_UNITS:
        raise DataError(
            f"{path}: column '{name}' has unit '{unit}', but {base} must be a "
            f"dimensionless number (convert it first)"
        )


def _check_values(
    values: np.ndarray, name: str, bounds: tuple[float, float], path: Path, lines: np.ndarray
) -> None:
    for value, line in zip(values, lines):
        where = f"{path}, line {line}"
        if not np.isfinite(value) or value <= 0:
            raise DataError(
                f"{where}: {name} = {value:g} is not a positive number "
                f"({name} must be a positive dimensionless number)"
            )
        if not bounds[0] <= value <= bounds[1]:
            hint = " (is the column scaled, e.g. Re x 1e-4?)" if value < bounds[0] else ""
            raise DataError(
                f"{where}: {name} = {value:g} is outside the physical range "
                f"[{bounds[0]:g}, {bounds[1]:g}] of {name}{hint}"
            )


def _inferred_groups(
    path: Path,
    names: list[str],
    raw_header: list[str],
    units: list[str],
    lookup: dict[str, int],
    body: list[list[str]],
    body_lines,
) -> list[str]:
    """Which of the columns ``names`` (the header's besides Re, Pr and Nu) are geometric ratios
    when none are named: those whose values are all numbers, except the columns sciPT writes, those
    named after Nu and those with a unit, each kept as a label with a warning. A column of numbers
    with a few words or holes is refused at its first; one mostly of words is a label.

    ``raw_header`` is the header row as written (a name with its unit), ``lookup`` a column's index
    by :func:`column_key`; ``body`` and ``body_lines`` are the data rows and their line numbers."""
    groups = []
    for h in names:
        if output_column(h):
            continue  # an earlier prediction's columns, kept as labels (see _OUTPUT_COLUMN)
        if _DERIVED_FROM_NU.match(h):
            # an enhancement ratio such as Nu/Nu0 is computed from Nu: as a ratio it would let
            # the law fit Nu with Nu itself
            print(
                f"warning: {path}: column '{h}' is named after Nu (computed from it?): kept as a "
                "label, not read as a geometric ratio (name the ratios with --groups to read it)",
                file=sys.stderr,
            )
            continue
        i = lookup[column_key(h)]
        if units[i].lower() not in DIMENSIONLESS_UNITS:
            # a temperature or a heat flux beside the ratios: a lab sheet's, not the law's
            print(
                f"warning: {path}: column '{raw_header[i].strip()}' has unit '{units[i]}': "
                "kept as a label, not read as a geometric ratio (a ratio is dimensionless)",
                file=sys.stderr,
            )
            continue
        cells = [(r[i], line) for r, line in zip(body, body_lines)]
        missing = [(value, line) for value, line in cells if value.strip().lower() in MISSING_CELLS]
        words = [(value, line) for value, line in cells if not is_number(value)]
        numbers = len(cells) - len(words)
        if numbers >= len(body) / 2 and missing and len(missing) == len(words):
            # numbers in half the rows or more and holes in the others: counted as words, the
            # holes made it a label, and the ratio was dropped from the law without a word
            value, line = missing[0]
            raise DataError(
                f"{path}, line {line}: {h} = {value!r} is missing, in a column of numbers (a "
                "geometric ratio needs a number in every row: fill it in, or name the ratios with "
                "--groups)"
            )
        if words and all(_PERCENT.match(value) for value, _ in words):
            value, line = words[0]
            print(
                f"warning: {path}: column '{h}' holds percentages ({value!r} at line {line}): kept as a "
                "label, not read as a geometric ratio (write the ratio as a fraction, or name the ratios "
                "with --groups to be told where)",
                file=sys.stderr,
            )
            continue
        if not words and _RUN_NUMBER.match(h):
            # a numbered series of runs is all numbers too: as a ratio it would take an exponent
            print(
                f"warning: {path}: column '{h}' is named as a run or row number: kept as a label, not "
                "read as a geometric ratio (name the ratios with --groups to read it)",
                file=sys.stderr,
            )
            continue
        if not words:
            groups.append(h)
        elif numbers and len(words) >= len(body) / 2:
            value, line = words[0]
            others = "blank or text" if len(missing) < len(words) else "blank"
            print(
                f"warning: {path}: column '{h}' holds numbers in {numbers} of {len(body)} rows and "
                f"is {others} in the others ({value!r} at line {line}): kept as a label, not read as "
                "a geometric ratio (name the ratios with --groups to say which)",
                file=sys.stderr,
            )
        elif len(words) < len(body) / 2:
            # a column of numbers with a few words is a mistyped ratio, not a label column:
            # taking it as a label would drop the ratio from the law without a word
            value, line = words[0]
            raise DataError(
                f"{path}, line {line}: {h} = {value!r} is not a number (the column's other values "
                "are: a geometric ratio needs a number in every row, a label column text)"
            )
    return groups


def read_points(
    path: str | Path,
    *,
    groups: list[str] | None = None,
    require_nu: bool = True,
    optional: list[str] | tuple[str, ...] = (),
    groups_wanted_by: str = "",
) -> Points:
    """Read a CSV of points with a header naming ``Re``, ``Pr``, ``Nu`` and geometric ratios.

    Args:
        path: the CSV file.
        groups: the geometric-ratio columns to use; ``None`` takes every other column whose values
            are all numbers (non-numeric columns are kept as labels).
        require_nu: ``False`` for points to predict (``Nu`` may be absent; read when present).
        optional: further ratio columns read (and checked) when the file has them, such as a
            ratio a calibrated model holds constant; the other columns are kept as labels.
        groups_wanted_by: who needs ``groups``, for the message when the file lacks one (a
            model's ratios: ``"the model"``).

    Raises:
        DataError: missing file or column, a column without a name or named twice, a unit that
            is not dimensionless, a value that is not a positive number in its physical range
            (naming the line), or no rows.
    """
    path = Path(path)
    rows, lines, delimiter, ambiguous = read_rows(path)
    split = [_split_header(h, i, path) for i, h in enumerate(rows[0], start=1)]
    header, units = [base for base, _ in split], [unit for _, unit in split]
    lookup: dict[str, int] = {}
    for i, h in enumerate(header):
        # one name for two columns would leave the reader to pick one copy without a word
        first = lookup.setdefault(column_key(h), i)
        if first != i:
            a, b = rows[0][first].strip(), rows[0][i].strip()
            where = f"{first + 1} and {i + 1}" if a == b else f"{first + 1} ('{a}') and {i + 1} ('{b}')"
            raise DataError(
                f"{path}: column '{header[first]}' is named twice in the header (columns {where}); "
                "expected each column once"
            )
    need = ["Re", "Pr", "Nu"] if require_nu or "nu" in lookup else ["Re", "Pr"]
    for name in need:
        if column_key(name) not in lookup:
            hint = (
                " (digitised x,y files: use read_digitised with their axis scaling)"
                if {"x", "y"} <= set(lookup)
                else ""
            )
            raise DataError(
                f"{path}: missing column '{name}' (expected Re, Pr, Nu and optional "
                f"geometric ratios; found: {', '.join(header)}){hint}"
            )
    body, body_lines = rows[1:], np.array(lines[1:])
    if not body:
        raise DataError(f"{path}: no data rows after the header")
    for r, line in zip(body, body_lines):
        if len(r) != len(header):
            hint = (
                " (a decimal comma, as in 0,7, splits a number in two where commas separate the fields: "
                "write decimal points, or separate the fields with semicolons)"
                if delimiter == "," and len(r) > len(header)
                else ""
            )
            raise DataError(
                f"{path}, line {line}: {len(r)} fields, expected {len(header)} as in the header{hint}"
            )
    # points to predict with a Nu column left blank (a template to fill in), filled in part or
    # holding n/a or 0: kept as it stands, a label, since nothing reads it there
    nu_label = not require_nu and "nu" in lookup and not all(_positive(r[lookup["nu"]]) for r in body)
    if nu_label:
        need.remove("Nu")

    def column(i: int, name: str) -> np.ndarray:
        out = np.empty(len(body))
        for k, (r, line) in enumerate(zip(body, body_lines)):
            cell = ambiguous.get((k, i), "").strip()  # as written, before the decimal commas
            if "," in cell:
                raise DataError(
                    f"{path}, line {line}: {name} = '{cell}' is ambiguous: the file's other numbers "
                    f"have decimal points, so the comma may separate thousands; expected one decimal "
                    f"separator: write {cell.replace(',', '')}, or {cell.replace(',', '.')} if the comma "
                    "is a decimal comma"
                )
            if cell:
                raise DataError(
                    f"{path}, line {line}: {name} = '{cell}' is ambiguous in a file with decimal commas "
                    f"(a thousands separator or a decimal point); expected no thousands separators: "
                    f"write {cell.replace('.', '')}, or {decimal_comma(cell)} if the dot is a decimal point"
                )
            try:
                out[k] = float(r[i])
            except ValueError:
                raise DataError(f"{path}, line {line}: {name} = {r[i]!r} is not a number") from None
        return out

    core = {"re", "pr", "nu"}
    extra = [h for h in header if h.lower() not in core]
    inferred = groups is None
    if groups is None:
        groups = _inferred_groups(path, extra, rows[0], units, lookup, body, body_lines)
    for g in groups:
        if column_key(g) not in lookup:
            why = (
                f"{groups_wanted_by} uses the geometric ratios {', '.join(groups)}"
                if groups_wanted_by
                else f"asked for as a geometric ratio; found: {', '.join(header)}"
            )
            raise DataError(f"{path}: missing column '{g}' ({why})")
    groups = list(groups) + [
        g for g in optional if column_key(g) in lookup and column_key(g) not in map(column_key, groups)
    ]
    for name in [*need, *groups]:
        i = lookup[column_key(name)]
        _check_unit(rows[0][i].strip(), header[i], units[i], path)
    values = {name: column(lookup[column_key(name)], name) for name in need}
    for name in need:
        _check_values(values[name], name, VARIABLES[name].physical, path, body_lines)
    group_values = {}
    for g in groups:
        group_values[g] = column(lookup[column_key(g)], g)
        try:
            _check_values(group_values[g], g, GROUP_RANGE, path, body_lines)
        except DataError as err:
            if not inferred:
                raise
            # a run number or a temperature in deg C is all numbers too: say why it was read at all
            raise DataError(
                f"{err} ({g} was taken as a geometric ratio, as every numeric column besides Re, Pr "
                "and Nu is: name the ratios with --groups, or --groups none for none)"
            ) from None
    if inferred and "Nu" in values:
        for g in [g for g in groups if follows_nu(values, group_values[g])]:
            print(
                f"warning: {path}: column '{g}' follows Nu over the {len(body)} points as nothing "
                "measured on its own would (computed from Nu? a heat-transfer coefficient, say): "
                "kept as a label, not read as a geometric ratio (name the ratios with --groups to "
                "read it)",
                file=sys.stderr,
            )
            groups.remove(g)
            del group_values[g]
    # a ratio asked for in another case (the model's e_dh, the file's E_Dh) is read once, as the ratio
    read = {column_key(g) for g in groups}
    # a label keeps its unit (T_wall [K]), under which predict and evaluate copy it out
    for i, h in enumerate(header):
        if column_key(h) not in core | read and units[i]:
            header[i] = rows[0][i].strip()
    labels = {
        header[lookup[column_key(h)]]: [r[lookup[column_key(h)]] for r in body]
        for h in extra
        if column_key(h) not in read
    }
    if nu_label:
        labels[header[lookup["nu"]]] = [r[lookup["nu"]] for r in body]
    return Points(
        values["Re"], values["Pr"], values.get("Nu"), group_values, str(path), body_lines, labels, header
    )


def repeated_rows(points: Points) -> list[list[int]]:
    """The line numbers of rows identical in every column (Re, Pr, Nu, the ratios and the labels),
    one list per repeated row, its first line first: most likely copied twice. Replicate
    measurements (the same Re, another Nu) are not repeats."""
    seen: dict[tuple, list[int]] = {}
    columns = [points.re, points.pr, points.nu, *points.groups.values(), *points.labels.values()]
    for k, line in enumerate(points.lines):
        key = tuple(None if c is None else c[k] for c in columns)
        seen.setdefault(key, []).append(int(line))
    return [found for found in seen.values() if len(found) > 1]


def copied_rows_note(points: Points, consequence: str) -> str | None:
    """One line naming the rows identical in every column (:func:`repeated_rows`), then
    ``consequence``, what a copy does where the line is said; ``None`` without copies."""
    repeats = repeated_rows(points)
    if not repeats:
        return None
    same = "; ".join(" = ".join(str(line) for line in found) for found in repeats)
    return f"{points.source}: rows identical in every column at lines {same} (copied twice?): {consequence}"


def _positive(text: str) -> bool:
    """Whether ``text`` is a finite positive number (a Nusselt number, not ``n/a`` or ``0``)."""
    try:
        return bool(np.isfinite(float(text)) and float(text) > 0)
    except ValueError:
        return False


def _shortest(x: float) -> str:
    """The shortest text that reads back to ``x`` ("1234567", "0.7123456", "1e-05")."""
    text = repr(float(x))
    return text[:-2] if text.endswith(".0") else text


def write_points(path: str | Path, points: Points, extra: dict[str, np.ndarray] | None = None) -> None:
    """Write points (and extra columns such as predictions) as a CSV, atomically."""
    from sciPT import io

    columns = {"Re": points.re, "Pr": points.pr, **points.groups}
    if points.nu is not None:
        columns["Nu"] = points.nu
    columns.update(extra or {})
    # a label named like a written column (an earlier prediction's Nu_pred, predicted again) is
    # replaced by it, not written twice under one name
    labels = [k for k in points.labels if k not in columns]
    replaced = [k for k in points.labels if k in (extra or {})]
    if replaced:
        print(
            f"note: {points.source}: its column(s) {', '.join(replaced)} are replaced by the new ones "
            "in the output",
            file=sys.stderr,
        )
    # the file's columns in the file's order (a ratio the model does not read is a label here, a
    # ratio it reads a number: either way where the user put it), then the new ones
    # Re, Pr, Nu and the ratios under the names the model gives them, where the file has them
    canonical = {"re": "Re", "pr": "Pr", "nu": "Nu"} | {column_key(g): g for g in points.groups}
    order = [canonical.get(column_key(h), h) for h in points.header]
    written = labels + list(columns)
    header = [h for h in order if h in written] + [h for h in written if h not in order]
    given = {"Re", "Pr", "Nu", *points.groups}
    cells = {k: points.labels[k] for k in labels} | {
        # the user's own values as read (the shortest text that reads back to the same number: six
        # digits made 1234567 and 1234571 one row), the new columns to six digits
        k: [_shortest(x) if k in given else f"{float(x):.6g}" for x in v]
        for k, v in columns.items()
    }
    with io.atomic_text(path) as f:
        w = csv.writer(f)
        w.writerow(header)
        for i in range(len(points)):
            w.writerow([cells[k][i] for k in header])


# --- the shipped ribbed-channel measurements -------------------------------------------------
_TASLIM_NAME = _re.compile(r"fig(?P<fig>\d+)_ar_(?P<ar>[\d.]+)_(?P<marker>.+)_eDh_(?P<edh>[\d.]+)")


def read_digitised(
    path: str | Path,
    *,
    x_scale: float = 1e4,
    y_scale: float = 1e3,
    pr: float = TASLIM_PR,
    groups: dict[str, float] | None = None,
    re_range: tuple[float, float] = (1e3, 1e6),
) -> Points:
    """Read a digitised ``x,y`` figure: ``Re = x * x_scale``, ``Nu = y * y_scale``.

    ``re_range`` is where the figure's Reynolds numbers must land once scaled; a file digitised
    with another scaling is refused rather than silently a factor of ten off.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        data = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    except ValueError as err:
        raise DataError(f"{path}: not a numeric x,y CSV ({err})") from None
    if data.shape[1] != 2 or len(data) == 0:
        raise DataError(f"{path}: expected two columns x,y and at least one row")
    order = np.argsort(data[:, 0], kind="stable")
    re, nu = data[order, 0] * x_scale, data[order, 1] * y_scale
    lines = order + 2
    _check_values(re, "Re", re_range, path, lines)
    _check_values(nu, "Nu", VARIABLES["Nu"].physical, path, lines)
    n = len(re)
    return Points(
        re, np.full(n, pr), nu, {k: np.full(n, v) for k, v in (groups or {}).items()}, str(path), lines
    )


def taslim_series(folder: str | Path = TASLIM_DIR) -> dict[str, Points]:
    """The seven Taslim & Spring (1987) series, by file stem, with their ``AR`` and ``e_Dh``."""
    folder = Path(folder)
    files = sorted(folder.glob("fig*_eDh_*.csv"))
    if not files:
        raise DataError(f"{folder}: no Taslim & Spring series found (expected fig*_eDh_*.csv)")
    out = {}
    for f in files:
        m = _TASLIM_NAME.fullmatch(f.stem)
        if not m:
            raise DataError(f"{f}: file name does not say its aspect ratio and e/Dh")
        out[f.stem] = read_digitised(f, groups={"AR": float(m["ar"]), "e_Dh": float(m["edh"])})
    return out


# --- pre-training samples ---------------------------------------------------------------------
def sample_correlation(
    corr: Correlation, n: int, noise: float, rng: np.random.Generator, ed: float | None = None
) -> Points:
    """``n`` points of ``corr``, log-uniform over its validity box, with log-normal noise.

    ``Nu`` is multiplied by ``exp(noise * z)``, ``z ~ N(0, 1)``: ``noise`` is the relative scatter
    of the measurements a correlation summarises (0.05 is 5 %). A rough-wall correlation is sampled
    at the fixed relative roughness ``ed`` (a channel of one geometry).
    """
    (r0, r1), (p0, p1) = corr.re_range, corr.pr_range
    p1 = min(p1, PR_SAMPLING_CAP)
    re = np.exp(rng.uniform(np.log(r0), np.log(r1), n))
    pr = np.exp(rng.uniform(np.log(p0), np.log(p1), n))
    nu = corr(re, pr, ed) * np.exp(noise * rng.standard_normal(n))
    return Points(re, pr, nu, {}, f"correlation:{corr.key}" + (f"@e/D={ed:g}" if ed is not None else ""))
