"""Protein tokenizer: one token per residue (23 symbols + 5 specials = 28 tokens).

k-mers are possible (over the 20 standard residues) but rarely useful for proteins; ``k`` is
limited to 1..3 so the vocabulary stays under 8,005 tokens.
"""

from __future__ import annotations

from sciPT.errors import ConfigError
from sciPT.sequence_config import TokenizerConfig
from sciPT.tokenizers import SequenceTokenizer

from .data import PROTEIN_SPEC


def protein_tokenizer(cfg: TokenizerConfig) -> SequenceTokenizer:
    if cfg.kind == "kmer":
        if not 1 <= cfg.k <= 3:
            raise ConfigError(f"tokenizer.k: expected 1 to 3 for protein k-mers, got {cfg.k}")
        return SequenceTokenizer(PROTEIN_SPEC.alphabet, k=cfg.k)
    return SequenceTokenizer(PROTEIN_SPEC.alphabet, k=1)
