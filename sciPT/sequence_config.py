"""The configuration of a sequence-domain (DNA, protein) pre-training run: corpus, tokenizer and
objective, with the shared transformer and training configs (:class:`SequencePretrainConfig`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from .nn import TransformerConfig
from .objectives import MaskedConfig
from .trainer import TrainConfig


@dataclass
class SequenceDataConfig:
    """Pre-training corpus.

    ``paths``: FASTA files (plain or gzip), folders of them or glob patterns; relative paths not
    found from the current directory are looked up in the repository (the shipped ``data_recipes/``
    files). ``streaming``: every rank reads only its own shards of the files (:mod:`sciPT.streaming`);
    ``None`` (the default) streams when a path is a folder or a pattern. ``window``: residues per
    sample. ``val_fraction``: held out for validation (see :mod:`sciPT.sequences`).
    ``temperature``: file ``i`` is sampled with probability proportional to its size ``** (1 / T)``
    (1: by length; ``.inf``: every file equally often). Curation (:mod:`sciPT.curation`, all off
    by default): the corpus is cut into tiles of ``tile`` residues (default: the window) and tiles
    are removed for a run of ``max_n_run`` unknown residues, a 3-mer entropy below ``min_entropy``
    bits, or as a duplicate of an earlier tile (``dedup``: ``exact``, or ``near``: MinHash Jaccard
    of canonical ``dedup_k``-mers at least ``dedup_threshold``); windows come from kept tiles only.
    """

    paths: list[str] = field(default_factory=list)
    streaming: bool | None = None
    window: int = 128
    val_fraction: float = 0.02
    reverse_complement: bool = False
    temperature: float = 1.0
    dedup: Literal["none", "exact", "near"] = "none"
    dedup_k: int = 12
    dedup_threshold: float = 0.5
    tile: int | None = None
    max_n_run: int | None = None
    min_entropy: float | None = None


@dataclass
class TokenizerConfig:
    """``kind``: ``residue`` (one token per residue) or ``kmer`` (overlapping k-mers of length ``k``)."""

    kind: Literal["residue", "kmer"] = "residue"
    k: int = 6


@dataclass
class ObjectiveConfig:
    kind: Literal["masked", "causal"] = "masked"
    masked: MaskedConfig = field(default_factory=MaskedConfig)


@dataclass
class SequencePretrainConfig:
    data: SequenceDataConfig = field(default_factory=SequenceDataConfig)
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    model: TransformerConfig = field(default_factory=TransformerConfig)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
