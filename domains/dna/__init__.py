"""The DNA domain: masked-model pre-training on genomes (FASTA / FASTA.gz).

Registered through the ``sciPT.domains`` entry point ``dna`` like any third-party plugin.

Modules: :mod:`.data` (the alphabet, labelled sets), :mod:`.tokenizer`, :mod:`.model` (the encoder),
:mod:`.objectives`, :mod:`.presets`; the classical baselines the promoter task runs beside it,
:mod:`.kmer` (k-mer logistic regression) and :mod:`.cnn` (a small CNN on one-hot input).
"""

from __future__ import annotations

from sciPT.sequence_domain import SequenceDomain

from .data import DNA_SPEC
from .presets import PRESETS
from .tokenizer import dna_tokenizer


class DNADomain(SequenceDomain):
    name = "dna"
    summary = "DNA masked-model pre-training on genomes (FASTA, single-nucleotide or k-mer tokens)"
    spec = DNA_SPEC
    val_mode = "region"
    weighting = "length"
    pad_short = False
    preset_functions = PRESETS

    def tokenizer(self, cfg):
        return dna_tokenizer(cfg)


domain = DNADomain()
