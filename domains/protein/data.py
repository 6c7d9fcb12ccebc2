"""Protein corpora: amino-acid FASTA / FASTA.gz.

Accepted characters (either case): the 20 standard residues ``ACDEFGHIKLMNPQRSTVWY``; ``U``
(selenocysteine) and ``O`` (pyrrolysine), real residues kept as their own tokens; ``X`` (unknown);
the ambiguity codes ``B`` (D or N), ``Z`` (E or Q) and ``J`` (I or L), which are read as ``X``. One
terminal ``*`` (a translated stop) is dropped. Anything else (gaps ``-``, digits, an internal ``*``)
is an error naming the file, the record and the position.

``X`` is the unknown residue: curation's ``max_n_run`` counts runs of ``X``, so of ``B``, ``Z`` and
``J`` too (read as ``X``, they name no one residue), never of ``U`` or ``O``.
"""

from __future__ import annotations

from sciPT.sequences import Corpus, SequenceSpec
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
