"""Sequences held in memory: evaluation, fine-tuning and prediction inputs.

:func:`read_sequences` reads FASTA or a CSV/TSV table (plain or gzip), optionally labelled, into
:class:`LabelledSequences`, with the reading rules of a pre-training corpus (:mod:`sciPT.sequences`:
every residue normalised to a code of the domain's alphabet, any other character an error naming
the file, the record and the position).
"""

from __future__ import annotations

import csv
import re
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from .errors import DataError
from .files import refuse_directory, resolve_data_path
from .sequences import SequenceSpec, check_file, fasta_records, fastq_message, open_text

BINARY_LABELS = (("1", "0"), ("+", "-"), ("positive", "negative"), ("true", "false"), ("yes", "no"))
# sequences scored or embedded at once, about; fewer take seconds and show no progress bar
CHUNK = 2048


def in_chunks(score, codes: list[np.ndarray], desc: str, batch_size: int = 256) -> np.ndarray:
    """``score(codes)`` (an array with one row per sequence), about :data:`CHUNK` sequences at a
    time behind a progress bar when there is more than one chunk. A chunk is a whole number of
    ``score``'s batches, so every batch, and every number, is what one call would give."""
    chunk = batch_size * max(1, CHUNK // batch_size)
    if len(codes) <= chunk:
        return score(codes)
    parts = []
    with tqdm(total=len(codes), desc=desc, unit="seq", dynamic_ncols=True) as bar:
        for i in range(0, len(codes), chunk):
            parts.append(score(codes[i : i + chunk]))
            bar.update(len(parts[-1]))
    return np.concatenate(parts)


@dataclass
class LabelledSequences:
    """Sequences as residue codes, with names and, when read labelled, 0/1 labels.

    ``labels`` is ``None`` for unlabelled reads; ``source`` names the file(s) in messages;
    ``aliased`` (bool per record, ``None`` when the alphabet has no aliases) marks the records that
    held an alias, read as its symbol (an IUPAC ambiguity code as ``N``).
    """

    names: list[str]
    codes: list[np.ndarray]
    labels: np.ndarray | None
    source: str
    aliased: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.codes)

    def refuse_shorter_than(self, k: int, what: str) -> None:
        """Refuse the first record with fewer than ``k`` residues (the residues of one of a model's
        tokens): it gives the encoder no token, so an embedding of zeros, or a classifier's bias for
        a probability, a result that reads nothing of the sequence. ``what``: "embed", "score"."""
        for name, codes in zip(self.names, self.codes):
            if len(codes) < k:
                raise DataError(
                    f"{self.source}: record '{name}' has {len(codes)} residue(s), fewer than the {k} of "
                    f"one of the model's tokens: nothing to {what}"
                )

    def subset(self, index) -> LabelledSequences:
        index = np.asarray(index)
        return LabelledSequences(
            [self.names[i] for i in index],
            [self.codes[i] for i in index],
            None if self.labels is None else self.labels[index],
            self.source,
            None if self.aliased is None else self.aliased[index],
        )


def labels_expected(labels=BINARY_LABELS) -> str:
    """``"1/0 (or +/-, ...)"``-style description of the accepted label words, for messages."""
    (one, zero), *rest = labels
    more = ", ".join(f"{a}/{b}" for a, b in rest)
    return f"{zero}/{one}" + (f" (or {more})" if more else "")


def _delimiter(header: str, path: Path) -> str:
    """Tabs where the header holds one (or the file is ``.tsv``), semicolons where it holds one and
    no comma (a European spreadsheet's CSV), else commas."""
    if "\t" in header or path.name.endswith((".tsv", ".tsv.gz")):
        return "\t"
    return ";" if ";" in header and "," not in header else ","


def _header_columns(line: str, path: Path) -> list[str]:
    """The column names of a table's header ``line``, in its delimiter (:func:`_delimiter`)."""
    return [c.strip() for c in next(csv.reader([line], delimiter=_delimiter(line, path)), [])]


def _is_fasta(path: Path, sequence_column: str) -> bool:
    """FASTA when the first non-blank line is a ``>`` header. A first line that is no table header
    (no ``sequence_column``) above a ``>`` header further down is FASTA too: text above the first
    header, which the FASTA reader refuses naming the line (a table would say "no column")."""
    with open_text(path) as f:
        number, first = next(((n, line) for n, line in enumerate(f, start=1) if line.strip()), (0, None))
        if first is None:
            return False
        if first.lstrip().startswith(">"):
            return True
        if first.startswith("@"):  # read as a table, it named a missing column
            raise DataError(fastq_message(path, number))
        columns = _header_columns(first, path)
        if _column(columns, sequence_column) is not None:
            return False
        return any(line.startswith(">") for line in f)


def _column(columns: list[str], name: str) -> int | None:
    """Index of column ``name``: the exact name, else the first column equal to it in any case
    (:func:`_once` then refuses a second: two such columns are not "no column")."""
    if name in columns:
        return columns.index(name)
    folded = [i for i, c in enumerate(columns) if c.lower() == name.lower()]
    return folded[0] if folded else None


def _once(columns: list[str], i: int, path: Path) -> None:
    """Refuse a second column of column ``i``'s name (in any case): the reader would take one copy
    without a word, as the surrogate reader refuses it (:func:`sciPT.domains.surrogates.data.read_points`)."""
    same = [j for j, c in enumerate(columns) if c.lower() == columns[i].lower()]
    if len(same) > 1:
        first, second = same[:2]
        a, b = columns[first], columns[second]
        where = f"{first + 1} and {second + 1}" if a == b else f"{first + 1} ('{a}') and {second + 1} ('{b}')"
        raise DataError(
            f"{path}: column '{a}' is named twice in the header (columns {where}); expected each column once"
        )


def alias_note(data: LabelledSequences, spec: SequenceSpec, what: str = "ambiguity codes") -> str | None:
    """One line saying how many of ``data``'s sequences held one of ``spec``'s aliases, and what they
    were read as (``None``: none did)."""
    held = 0 if data.aliased is None else int(data.aliased.sum())
    if not held:
        return None
    read_as = "/".join(sorted(set(spec.aliases.values())))
    return f"{data.source}: {held} of {len(data)} sequences held {what} ({' '.join(spec.aliases)}), read as {read_as}"


def repeated_names_note(data: LabelledSequences) -> str | None:
    """One line where names repeat: rows written by name (predictions, embeddings) would be joined
    to the wrong sequence by a later merge on that name (``None``: every name is distinct)."""
    seen = Counter(data.names)
    repeated = [name for name, count in seen.items() if count > 1]
    if not repeated:
        return None
    rows = sum(seen[name] for name in repeated)
    shown = ", ".join(f"'{name}'" for name in repeated[:3]) + (", ..." if len(repeated) > 3 else "")
    return (
        f"warning: {data.source}: {len(repeated)} name(s) occur more than once ({shown}; {rows} rows): "
        "the output keeps the input's order, so join it by row, not by name"
    )


def carries_labels(path: str | Path, sequence_column: str = "sequence", label_column: str = "label") -> bool:
    """Whether a file :func:`read_sequences` would read labelled: a table with a ``label_column``, or
    FASTA any of whose headers holds a ``label=`` word (its form, not its values: those are checked
    when read, and a record without one is then refused by name): judged by its first header alone,
    a file whose later records say ``label=0`` would be read unlabelled, those records with it."""
    path = resolve_data_path(path)
    expected = f"FASTA or a CSV/TSV table with a '{sequence_column}' column"
    refuse_directory(path, expected)
    check_file(path, expected)
    if _is_fasta(path, sequence_column):
        with open_text(path) as handle:
            return any(re.search(r"(?:^|\s|\|)label=", r[2]) for r in fasta_records(handle, path))
    with open_text(path) as handle:
        header = handle.readline()
    columns = _header_columns(header, path)
    return _column(columns, label_column) is not None


def read_sequences(
    path: str | Path,
    spec: SequenceSpec,
    *,
    labelled: bool = False,
    fasta_label: int | None = None,
    sequence_column: str = "sequence",
    label_column: str = "label",
    labels=BINARY_LABELS,
    column_hint: str | None = None,
) -> LabelledSequences:
    """Read sequences (and labels) from FASTA or a CSV/TSV table, plain or gzip.

    A relative ``data_recipes/...`` path that does not exist from the current directory is the
    repository's shipped file (:func:`sciPT.files.resolve_data_path`), as for pre-training's corpora.

    Format, told by content: FASTA when the first non-blank line starts with ``>`` (or names no
    ``sequence_column`` above a later ``>`` header: refused as text before the first FASTA header,
    naming the line), else a table with a header line, tab-separated when that line holds a tab or
    the name ends in ``.tsv``/``.tsv.gz``, else comma-separated. Columns are found by their exact
    name, else by their name in any case; a ``name`` (or ``id``) column names the rows
    (``line<n>`` otherwise); blank rows are skipped.

    Args:
        path: the file.
        spec: the alphabet every residue must belong to (:meth:`SequenceSpec.encode`).
        labelled: read a 0/1 label per record: from the ``label_column`` of a table, from a
            ``label=VALUE`` word in each FASTA header, or ``fasta_label`` for every record.
        fasta_label: the label of every record of the file (``--positives``/``--negatives``),
            whatever a header or a ``label_column`` says (a warning counts the records it
            overrules); implies ``labelled``.
        sequence_column, label_column: the table's columns.
        labels: accepted label words as ``(word for 1, word for 0)`` pairs, any case.
        column_hint: what a message about a missing column ends with (default: the formats accepted).

    Every error is one line naming the file and the record (``record 'x' (#2)`` in FASTA, ``line 3``
    or ``record 'x' (line 3)`` in a table).
    """
    path = resolve_data_path(path)  # a shipped data_recipes/ file from any directory
    labelled = labelled or fasta_label is not None
    expected = f"FASTA or a CSV/TSV table with a '{sequence_column}' column"
    refuse_directory(path, expected)
    check_file(path, expected)
    words = {w.lower(): value for pair in labels for w, value in zip(pair, (1, 0))}

    def value_of(value: str) -> int | None:
        if re.fullmatch(r"\s*[01]\.0*\s*", value):  # pandas writes a float column's 1 as 1.0
            value = value.strip()[0]
        return words.get(value.strip().lower())

    def label(value: str, where: str) -> int:
        found = value_of(value)
        if found is None:
            raise DataError(
                f"{path}: {where} has label '{value.strip()}'; expected {labels_expected(labels)}"
            )
        return found

    names, codes, found, aliased = [], [], [], []
    overruled: list[str] = []  # fasta_label: the records whose header or label column says the other label
    said_in, kept_by = "in their header", "its headers"  # where overruled records said their label
    if _is_fasta(path, sequence_column):
        with open_text(path) as handle:
            for n, name, title, text in fasta_records(handle, path):
                where = f"record '{name}' (#{n})"
                codes.append(spec.encode(text, path, where))
                aliased.append(spec.aliased(text))
                names.append(name)
                if fasta_label is not None:
                    found.append(fasta_label)
                    word = re.search(r"(?:^|\s|\|)label=([^\s|;,]+)", title)
                    if word is not None and value_of(word.group(1)) == 1 - fasta_label:
                        overruled.append(f"{where}, 'label={word.group(1)}'")
                elif labelled:
                    # a label word ends where the next header field does, as it may begin after one
                    word = re.search(r"(?:^|\s|\|)label=([^\s|;,]+)", title)
                    if word is None:
                        raise DataError(
                            f"{path}: {where} has no 'label={labels[0][1]}' or "
                            f"'label={labels[0][0]}' in its header"
                        )
                    found.append(label(word.group(1), where))
    else:
        with open_text(path) as handle:
            header = handle.readline()
            handle.seek(0)
            reader = csv.reader(handle, delimiter=_delimiter(header, path))
            columns = [c.strip() for c in next(reader, [])]
            wanted = [sequence_column] + ([label_column] if labelled and fasta_label is None else [])
            index = [_column(columns, c) for c in wanted]
            # one side of a pair needs no label column: one there is read only to say where it disagrees
            said = _column(columns, label_column) if fasta_label is not None else None
            for column, i in zip(wanted, index):
                if i is None:
                    raise DataError(
                        f"{path}: no column '{column}' (columns: {', '.join(columns) or 'none'}); "
                        f"{column_hint or 'expected ' + expected}"
                    )
            name_col = next(
                (i for i in (_column(columns, "name"), _column(columns, "id")) if i is not None), None
            )
            for i in [*index, *(i for i in (name_col, said) if i is not None)]:
                _once(columns, i, path)
            if said is not None:
                said_in, kept_by = f"in column '{columns[said]}'", "a column"
            for row in reader:
                if not any(cell.strip() for cell in row):
                    continue
                line = reader.line_num
                if max(index) >= len(row):
                    raise DataError(
                        f"{path}: line {line} has {len(row)} fields; expected at least {max(index) + 1}"
                    )
                if any(cell.strip() for cell in row[len(columns) :]):
                    # an unquoted delimiter inside a field: every column after it is shifted (a
                    # trailing delimiter, an empty field past the header, is harmless)
                    raise DataError(
                        f"{path}: line {line} has {len(row)} fields, more than the {len(columns)} "
                        "columns of the header (a delimiter inside an unquoted field?)"
                    )
                name = row[name_col].strip() if name_col is not None and name_col < len(row) else ""
                where = f"record '{name}' (line {line})" if name else f"line {line}"
                codes.append(spec.encode(row[index[0]], path, where))
                aliased.append(spec.aliased(row[index[0]]))
                names.append(name or f"line{line}")
                if fasta_label is not None:
                    found.append(fasta_label)
                    if said is not None and said < len(row) and value_of(row[said]) == 1 - fasta_label:
                        overruled.append(f"{where}, '{row[said].strip()}'")
                elif labelled:
                    found.append(label(row[index[1]], where))
    if not codes:
        raise DataError(f"{path}: no sequences (expected {expected})")
    if overruled:
        # said, not refused: a file of one class may carry stale header labels, but a labelled file
        # given as one side of a pair would otherwise lose half its labels without a word
        flag = "--positives" if fasta_label == 1 else "--negatives"
        print(
            f"warning: {path}: {len(overruled):,} of {len(codes):,} records say label {1 - fasta_label} "
            f"{said_in} (first: {overruled[0]}); every record of a {flag} file is read as label "
            f"{fasta_label} (a file labelled in {kept_by} keeps its labels as --train)",
            file=sys.stderr,
        )
    return LabelledSequences(
        names,
        codes,
        np.array(found, dtype=np.int64) if labelled else None,
        str(path),
        np.array(aliased, dtype=bool) if spec.aliases else None,
    )
