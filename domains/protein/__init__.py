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

    # both ways of reading a corpus, after the configuration's checks and before anything is read
    # or cached: a DNA FASTA holds only letters that are amino acids too, so the reader takes it
    def _whole_data(self, cfg, paths, options):
        refuse_nucleotides(paths)
        return super()._whole_data(cfg, paths, options)

    def _sharded_data(self, cfg, paths, options):
        refuse_nucleotides(paths)
        return super()._sharded_data(cfg, paths, options)


domain = ProteinDomain()
