"""DNA tokenizers: one token per nucleotide, or overlapping k-mers (k = 3..6, DNABERT).

Both are :class:`sciPT.tokenizers.SequenceTokenizer` over the alphabet ``A C G T N``; in k-mer mode
only ``A C G T`` form k-mers and any k-mer touching ``N`` is ``[UNK]``. With k-mers, masking a single
token leaks it through its overlapping neighbours, so the presets mask spans of ``k`` tokens.
"""

from __future__ import annotations

import numpy as np

from sciPT.errors import ConfigError
from sciPT.sequence_config import TokenizerConfig
from sciPT.tokenizers import SequenceTokenizer

from .data import COMPLEMENT, DNA_SPEC

KMER_RANGE = range(3, 7)


def dna_tokenizer(cfg: TokenizerConfig) -> SequenceTokenizer:
    if cfg.kind == "kmer":
        if cfg.k not in KMER_RANGE:
            raise ConfigError(f"tokenizer.k: expected 3 to 6 for DNA k-mers, got {cfg.k}")
        return SequenceTokenizer(DNA_SPEC.alphabet, k=cfg.k)
    return SequenceTokenizer(DNA_SPEC.alphabet, k=1)


def reverse_complement(codes: np.ndarray) -> np.ndarray:
    """Reverse complement of nucleotide codes ``[..., W]`` (last axis reversed)."""
    return COMPLEMENT[np.asarray(codes)[..., ::-1]]


def encode(sequence: str) -> np.ndarray:
    """A validated DNA string -> nucleotide codes (for tests and small inputs)."""
    table = DNA_SPEC.lookup_table()
    codes = table[np.frombuffer(sequence.encode("ascii"), dtype=np.uint8)]
    if (codes == 255).any():
        raise ValueError(f"not DNA: {sequence!r}")
    return codes
