"""DNA corpora: FASTA / FASTA.gz genomes.

Accepted characters (either case; lower case marks soft-masked repeats and is folded to upper
case, the mask itself is not kept): ``A C G T N`` and the IUPAC ambiguity codes
``R Y S W K M B D H V``, which are read as ``N`` (so a k-mer over one becomes ``[UNK]``). ``U`` is
not accepted: RNA is not DNA. Anything else (``X``, digits, ``-`` gaps, ``*``) is an error naming the
file, the record and the position.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from Bio.SeqIO.FastaIO import SimpleFastaParser

from sciPT.errors import DataError
from sciPT.sequences import Corpus, SequenceSpec, open_text
from sciPT.tokenizers import Alphabet

IUPAC_AMBIGUOUS = "RYSWKMBDHV"

DNA_SPEC = SequenceSpec(
    alphabet=Alphabet("ACGTN", n_core=4),
    aliases={c: "N" for c in IUPAC_AMBIGUOUS},
    description="A, C, G, T, N or an IUPAC ambiguity code (R Y S W K M B D H V), either case",
    complement="TGCAN",
)

ECOLI_GENOME = "data_recipes/dna/ecoli_k12_mg1655.fna.gz"
PHAGE_LAMBDA = "data_recipes/dna/phage_lambda.fa"


def read_genome(paths: list[str]) -> Corpus:
    """A memory-mapped corpus of the given FASTA files (see :mod:`sciPT.sequences`)."""
    return Corpus(list(paths), DNA_SPEC)


# --- labelled sequences (promoter / non-promoter, or any binary label) ---------------------------
LABEL_WORDS = {
    "1": 1, "0": 0, "+": 1, "-": 0, "promoter": 1, "non-promoter": 0, "positive": 1, "negative": 0,
    "true": 1, "false": 0, "yes": 1, "no": 0,
}
LABELS_EXPECTED = "0/1 (or +/-, promoter/non-promoter, positive/negative, true/false, yes/no)"
LABELLED_ALPHABET = "A, C, G, T or N (either case)"
_STRICT = np.full(256, 255, dtype=np.uint8)
for _code, _base in enumerate("ACGTN"):
    _STRICT[ord(_base)] = _STRICT[ord(_base.lower())] = _code


@dataclass
class LabelledSequences:
    """Sequences as nucleotide codes, with names and (when known) 0/1 labels.

    Labelled inputs accept only ``A C G T N`` (either case): an ambiguity code in a promoter
    benchmark is far more likely an error than a real base call.
    """

    names: list[str]
    codes: list[np.ndarray]
    labels: np.ndarray | None
    source: str

    def __len__(self) -> int:
        return len(self.codes)

    def subset(self, index) -> "LabelledSequences":
        index = np.asarray(index)
        return LabelledSequences([self.names[i] for i in index], [self.codes[i] for i in index],
                                 None if self.labels is None else self.labels[index], self.source)


def _encode_checked(text: str, path, name: str, where: str) -> np.ndarray:
    raw = text.strip().encode("ascii", "replace")
    codes = _STRICT[np.frombuffer(raw, dtype=np.uint8)]
    bad = np.flatnonzero(codes == 255)
    if bad.size:
        raise DataError(f"{path}: record '{name}' ({where}) has {chr(raw[bad[0]])!r} at position "
                        f"{bad[0] + 1}; expected {LABELLED_ALPHABET}")
    if not len(codes):
        raise DataError(f"{path}: record '{name}' ({where}) has an empty sequence")
    return codes


def _label(value: str, path, name: str, where: str) -> int:
    key = value.strip().lower()
    if key not in LABEL_WORDS:
        raise DataError(f"{path}: record '{name}' ({where}) has label '{value.strip()}'; expected {LABELS_EXPECTED}")
    return LABEL_WORDS[key]


def _is_fasta(path: Path) -> bool:
    with open_text(path) as f:
        for line in f:
            if line.strip():
                return line.lstrip().startswith(">")
    return False


def read_sequences(path, *, labelled: bool, sequence_column: str = "sequence",
                   label_column: str = "label", fasta_label: int | None = None) -> LabelledSequences:
    """Read FASTA (label as ``label=1`` in the header) or CSV/TSV (named columns).

    Args:
        path: the file; gzip is detected by content; TSV by a ``.tsv``/``.tsv.gz`` name or a tab
            in the header line.
        labelled: require a label for every record.
        fasta_label: the label of every record of a FASTA file (``--positives``/``--negatives``).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: file is empty")
    names, codes, labels = [], [], []
    if _is_fasta(path):
        with open_text(path) as handle:
            for n, (title, text) in enumerate(SimpleFastaParser(handle), start=1):
                name = title.split(None, 1)[0] if title.strip() else f"record{n}"
                codes.append(_encode_checked(text, path, name, f"#{n}"))
                names.append(name)
                if labelled and fasta_label is None:
                    found = re.search(r"(?:^|\s|\|)label=(\S+)", title)
                    if found is None:
                        raise DataError(f"{path}: record '{name}' (#{n}) has no 'label=0' or 'label=1' "
                                        "in its header")
                    labels.append(_label(found.group(1).strip("|;,"), path, name, f"#{n}"))
                elif fasta_label is not None:
                    labels.append(fasta_label)
    else:
        with open_text(path) as handle:
            header = handle.readline()
            delimiter = "\t" if "\t" in header or path.name.endswith((".tsv", ".tsv.gz")) else ","
            handle.seek(0)
            reader = csv.DictReader(handle, delimiter=delimiter)
            columns = reader.fieldnames or []
            needed = [sequence_column] + ([label_column] if labelled else [])
            for column in needed:
                if column not in columns:
                    raise DataError(f"{path}: no column '{column}' (columns: {', '.join(columns)}); "
                                    "name it with --sequence-column / --label-column")
            for line, row in enumerate(reader, start=2):
                name = (row.get("name") or row.get("id") or f"line{line}").strip()
                codes.append(_encode_checked(row[sequence_column] or "", path, name, f"line {line}"))
                names.append(name)
                if labelled:
                    labels.append(_label(row[label_column] or "", path, name, f"line {line}"))
    if not codes:
        raise DataError(f"{path}: no sequences")
    result = LabelledSequences(names, codes, np.array(labels, dtype=np.int64) if labels else None, str(path))
    if labelled and fasta_label is None:
        check_both_classes(result)
    return result


def check_both_classes(data: LabelledSequences) -> None:
    counts = np.bincount(data.labels, minlength=2)
    if counts.min() == 0:
        present = int(np.argmax(counts))
        raise DataError(f"{data.source}: only one class (label {present}, {counts[present]} records); "
                        "expected both promoters (1) and non-promoters (0)")


def read_pair(positives, negatives) -> LabelledSequences:
    """``--positives FILE --negatives FILE``: every record of each FASTA gets its file's label."""
    pos = read_sequences(positives, labelled=True, fasta_label=1)
    neg = read_sequences(negatives, labelled=True, fasta_label=0)
    return LabelledSequences(pos.names + neg.names, pos.codes + neg.codes,
                             np.concatenate([pos.labels, neg.labels]), f"{positives} + {negatives}")
