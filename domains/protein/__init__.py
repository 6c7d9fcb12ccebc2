"""The protein domain: masked-model pre-training on amino-acid FASTA.

Registered through the ``sciPT.domains`` entry point ``protein`` like any third-party plugin.
"""

from __future__ import annotations

from sciPT.sequence_domain import SequenceDomain

from .data import PROTEIN_SPEC, refuse_nucleotides
from .presets import PRESETS
from .tokenizer import protein_tokenizer


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


domain = ProteinDomain()
