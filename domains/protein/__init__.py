"""The protein domain: masked-model pre-training on amino-acid FASTA.

Registered through the ``sciPT.domains`` entry point ``protein`` like any third-party plugin.
"""

from __future__ import annotations

from sciPT.files import resolve_data_path
from sciPT.sequence_domain import SequenceDomain

from .data import PROTEIN_SPEC, refuse_nucleotide_sequences, refuse_nucleotides
from .presets import PRESETS
from .tokenizer import protein_tokenizer

NOT_PROTEIN = "is this a DNA file? (a dna run reads it)"


class ProteinDomain(SequenceDomain):
    name = "protein"
    summary = "protein masked-model pre-training on amino-acid FASTA"
    spec = PROTEIN_SPEC
    val_mode = "record"
    weighting = "uniform"
    pad_short = True
    preset_functions = PRESETS

    def tokenizer(self, cfg):
        return protein_tokenizer(cfg)

    def check_corpus(self, paths):
        # a DNA FASTA holds only letters that are amino acids too, so the reader would take it
        refuse_nucleotides(paths)

    def check_inputs(self, data):
        refuse_nucleotide_sequences(data.codes, data.source, NOT_PROTEIN)

    def evaluate(self, run, args):
        # the same refusal as pre-training's: a protein model would score DNA without a word
        refuse_nucleotides([resolve_data_path(args.data)], NOT_PROTEIN)
        return super().evaluate(run, args)


domain = ProteinDomain()
