"""DNA corpora: FASTA / FASTA.gz genomes.

Accepted characters (either case; lower case marks soft-masked repeats and is folded to upper
case, the mask itself is not kept): ``A C G T N`` and the IUPAC ambiguity codes
``R Y S W K M B D H V``, which are read as ``N`` (so a k-mer over one becomes ``[UNK]``). ``U`` is
not accepted: RNA is not DNA. Anything else (``X``, digits, ``-`` gaps, ``*``) is an error naming the
file, the record and the position.

Labelled sequences, FASTA or CSV/TSV, are read by the one sequence reader,
:func:`sciPT.sequence_inputs.read_sequences`, with the stricter :data:`LABELLED_DNA_SPEC` and the
promoter label words (:func:`read_labelled`, :func:`read_pair`); unlabelled queries
(:func:`read_queries`) with the genome's rules.
"""

from __future__ import annotations

import numpy as np

from sciPT.errors import DataError
from sciPT.files import resolve_data_path
from sciPT.sequence_inputs import LabelledSequences, alias_note, read_sequences
from sciPT.sequences import Corpus, SequenceSpec
from sciPT.tokenizers import Alphabet

IUPAC_AMBIGUOUS = "RYSWKMBDHV"

DNA_SPEC = SequenceSpec(
    alphabet=Alphabet("ACGTN", n_core=4),
    aliases={c: "N" for c in IUPAC_AMBIGUOUS},
    description="A, C, G, T, N or an IUPAC ambiguity code (R Y S W K M B D H V), either case",
    complement="TGCAN",
    unknown="N",
)
# the complement of each DNA code (A<->T, C<->G, N), for strand-aware keys and checks
COMPLEMENT = DNA_SPEC.complement_codes()

ECOLI_GENOME = "data_recipes/dna/ecoli_k12_mg1655.fna.gz"
PHAGE_LAMBDA = "data_recipes/dna/phage_lambda.fa"
SHIPPED_GENOMES = [
    ECOLI_GENOME,
    "data_recipes/dna/at1pct.fa.gz",
    "data_recipes/dna/ce1pct.fa.gz",
    "data_recipes/dna/dm1pct.fa.gz",
]
"""The four shipped genomes (E. coli, and the first 1% of every chromosome of A. thaliana,
C. elegans and D. melanogaster): the ``genomes`` preset's corpus."""
SIGMA_SUBSETS = ("sigma24", "sigma28", "sigma32", "sigma38", "sigma54", "sigma70")
"""iPromoter-2L's promoters by sigma factor (recipe ``ipromoter2l-sigma``): FASTA files
``data_recipes/promoters/<name>promoter.txt``, which ``--positives`` reads as they are."""


def read_genome(paths: list[str]) -> Corpus:
    """A memory-mapped corpus of the given FASTA files (see :mod:`sciPT.sequences`)."""
    return Corpus(list(paths), DNA_SPEC)


# --- labelled sequences (promoter / non-promoter, or any binary label) ---------------------------
PROMOTER_LABELS = (
    ("1", "0"),
    ("+", "-"),
    ("promoter", "non-promoter"),
    ("positive", "negative"),
    ("true", "false"),
    ("yes", "no"),
)

LABELLED_DNA_SPEC = SequenceSpec(
    alphabet=DNA_SPEC.alphabet,
    aliases={},
    description="A, C, G, T or N (either case)",
    complement=DNA_SPEC.complement,
    unknown=DNA_SPEC.unknown,
)
"""Labelled inputs accept only ``A C G T N`` (either case): an ambiguity code in a promoter
benchmark is far more likely an error than a real base call. Same codes as :data:`DNA_SPEC`.
Unlabelled queries (``scipt predict``) are read like a genome (:func:`read_queries`)."""


def read_labelled(
    path,
    *,
    labelled: bool = True,
    sequence_column: str = "sequence",
    label_column: str = "label",
    fasta_label: int | None = None,
) -> LabelledSequences:
    """DNA sequences (and 0/1 labels) from FASTA or CSV/TSV:
    :func:`sciPT.sequence_inputs.read_sequences` with :data:`LABELLED_DNA_SPEC` and the promoter label
    words; a labelled file (not one side of a ``--positives``/``--negatives`` pair) must hold both
    classes."""
    data = read_sequences(
        path,
        LABELLED_DNA_SPEC,
        labelled=labelled,
        fasta_label=fasta_label,
        sequence_column=sequence_column,
        label_column=label_column,
        labels=PROMOTER_LABELS,
        column_hint="name it with --sequence-column / --label-column",
    )
    if labelled and fasta_label is None:
        check_both_classes(data)
    return data


def read_queries(path, *, sequence_column: str = "sequence") -> LabelledSequences:
    """Unlabelled DNA sequences to predict, from FASTA or CSV/TSV, read as ``scipt scan`` reads a
    genome (:data:`DNA_SPEC`: IUPAC ambiguity codes as ``N``); :func:`ambiguity_note` says how many
    held one."""
    return read_sequences(
        path,
        DNA_SPEC,
        sequence_column=sequence_column,
        column_hint="name it with --sequence-column",
    )


def ambiguity_note(data: LabelledSequences) -> str | None:
    """One line saying how many of ``data``'s sequences held an IUPAC ambiguity code (``None``: none)."""
    return alias_note(data, DNA_SPEC, "IUPAC ambiguity codes")


def check_both_classes(data: LabelledSequences) -> None:
    counts = np.bincount(data.labels, minlength=2)
    if counts.min() == 0:
        present = int(np.argmax(counts))
        raise DataError(
            f"{data.source}: only one class (label {present}, {counts[present]} records); "
            "expected both promoters (1) and non-promoters (0)"
        )


def read_pair(
    positives, negatives, *, sequence_column: str = "sequence", label_column: str = "label"
) -> LabelledSequences:
    """``--positives FILE --negatives FILE``: every record of each file (FASTA, or a table with a
    ``sequence_column``) gets its file's label; a header's or ``label_column``'s other label is
    overruled with a warning."""
    columns = dict(sequence_column=sequence_column, label_column=label_column)
    pos = read_labelled(positives, fasta_label=1, **columns)
    neg = read_labelled(negatives, fasta_label=0, **columns)
    return LabelledSequences(
        pos.names + neg.names,
        pos.codes + neg.codes,
        np.concatenate([pos.labels, neg.labels]),
        f"{positives} + {negatives}",
    )


def sigma_subset_path(name: str) -> str:
    """The shipped FASTA of one sigma subset (``"sigma70"`` -> ``data_recipes/promoters/sigma70promoter.txt``)."""
    if name not in SIGMA_SUBSETS:
        raise DataError(f"unknown sigma subset '{name}' (expected one of: {', '.join(SIGMA_SUBSETS)})")
    return f"data_recipes/promoters/{name}promoter.txt"


def read_sigma_subsets(names=SIGMA_SUBSETS) -> dict[str, list[np.ndarray]]:
    """``{name: codes}`` of iPromoter-2L's sigma subsets (the ``ipromoter2l-sigma`` recipe), read as
    ``--positives`` reads them. Every subset is a part of ``positive2860.txt`` (the six together
    are all of it); the promoters of the other subsets are not negatives of one subset."""
    return {
        name: read_labelled(resolve_data_path(sigma_subset_path(name)), fasta_label=1).codes for name in names
    }
