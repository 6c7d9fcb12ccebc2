"""Protein corpora: amino-acid FASTA / FASTA.gz.

Accepted characters (either case): the 20 standard residues ``ACDEFGHIKLMNPQRSTVWY``; ``U``
(selenocysteine) and ``O`` (pyrrolysine), real residues kept as their own tokens; ``X`` (unknown);
the ambiguity codes ``B`` (D or N), ``Z`` (E or Q) and ``J`` (I or L), which are read as ``X``. One
terminal ``*`` (a translated stop) is dropped. Anything else (gaps ``-``, digits, an internal ``*``)
is an error naming the file, the record and the position.

``X`` is the unknown residue: curation's ``max_n_run`` counts runs of ``X``, so of ``B``, ``Z`` and
``J`` too (read as ``X``, they name no one residue), never of ``U`` or ``O``.

Every nucleotide letter (``A``, ``C``, ``G``, ``T``, ``U``, ``N``) is also an amino acid, so a DNA or
RNA FASTA passes these rules. :func:`refuse_nucleotides` stops a pre-training corpus whose first
residues are almost all nucleotide letters (over 90 %; about a quarter in a proteome).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sciPT.errors import DataError
from sciPT.sequences import Corpus, SequenceSpec, open_text
from sciPT.tokenizers import Alphabet

STANDARD = "ACDEFGHIKLMNPQRSTVWY"

PROTEIN_SPEC = SequenceSpec(
    alphabet=Alphabet(STANDARD + "UOX", n_core=20),
    aliases={"B": "X", "Z": "X", "J": "X"},
    description="one of the 20 standard amino acids, U, O, X, or B/Z/J, either case",
    strip_terminal="*",
    unknown="X",
)

ECOLI_PROTEOME = "data_recipes/protein/ecoli_k12_proteome.faa.gz"


def read_proteins(paths: list[str]) -> Corpus:
    return Corpus(list(paths), PROTEIN_SPEC)


NUCLEOTIDES = "ACGTUN"
NUCLEOTIDE_LIMIT = 0.9
# the letters' share settles within a few thousand residues; reading a whole genome to say so would
# cost as much as the run's own first read, on every shard
SAMPLE_RESIDUES = 100_000
# a few short peptides can be all G/A/S repeats (silk); below this a file is not judged
MIN_RESIDUES = 100


PRETRAINING = "is this the DNA corpus? (pretrain dna reads it)"


def refuse_nucleotides(paths: list[str] | list[Path], hint: str = PRETRAINING) -> None:
    """A one-line :class:`DataError` for the first of ``paths`` whose first ``SAMPLE_RESIDUES``
    residues are more than ``NUCLEOTIDE_LIMIT`` nucleotide letters: a DNA corpus passed as protein.
    A missing file is left to the reader, which says so. Which files are judged is the caller's
    choice (pre-training: :meth:`sciPT.sequence_domain.SequenceDomain.judged_files`). ``hint`` ends
    the message: what the file may be and what reads it."""
    for path in map(Path, paths):
        if not path.is_file():
            continue
        residues = nucleotides = 0
        header, line_start = False, True
        with open_text(path) as handle:
            # in pieces: a genome saved unwrapped is one line of hundreds of megabytes
            while residues < SAMPLE_RESIDUES and (piece := handle.readline(1 << 16)):
                header = piece.startswith(">") if line_start else header
                line_start = piece.endswith("\n")
                if not header:
                    text = piece.upper()
                    residues += sum(c.isalpha() for c in text)
                    nucleotides += sum(text.count(c) for c in NUCLEOTIDES)
        _judge(path, residues, nucleotides, hint)


_NUCLEOTIDE_CODES = [PROTEIN_SPEC.alphabet.symbols.index(c) for c in NUCLEOTIDES]


def refuse_nucleotide_sequences(codes: list[np.ndarray], source: str | Path, hint: str) -> None:
    """:func:`refuse_nucleotides` for sequences already read (as :data:`PROTEIN_SPEC` codes), such
    as a table's column, which a line-by-line look at the file would mix with its names."""
    counts = np.zeros(len(PROTEIN_SPEC.alphabet.symbols), dtype=np.int64)
    for record in codes:
        part = np.asarray(record)[: SAMPLE_RESIDUES - int(counts.sum())]
        counts += np.bincount(part, minlength=len(counts))
        if counts.sum() >= SAMPLE_RESIDUES:
            break
    _judge(source, int(counts.sum()), int(counts[_NUCLEOTIDE_CODES].sum()), hint)


def _judge(path, residues: int, nucleotides: int, hint: str) -> None:
    if residues >= MIN_RESIDUES and nucleotides > NUCLEOTIDE_LIMIT * residues:
        raise DataError(
            f"{path}: reads as nucleotides ({100 * nucleotides / residues:.0f} % A/C/G/T/U/N), not "
            f"protein: {hint}"
        )
