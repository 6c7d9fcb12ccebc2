"""DNA corpora: FASTA / FASTA.gz genomes.

Accepted characters (either case; lower case marks soft-masked repeats and is folded to upper
case, the mask itself is not kept): ``A C G T N`` and the IUPAC ambiguity codes
``R Y S W K M B D H V``, which are read as ``N`` (so a k-mer over one becomes ``[UNK]``). ``U`` is
not accepted: RNA is not DNA. Anything else (``X``, digits, ``-`` gaps, ``*``) is an error naming the
file, the record and the position.
"""

from __future__ import annotations

from sciPT.sequences import Corpus, SequenceSpec
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
