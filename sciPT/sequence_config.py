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
    """Pre-training corpus. Streaming: :mod:`sciPT.streaming`; validation split:
    :mod:`sciPT.sequences`. Curation (:mod:`sciPT.curation`, all off by default) cuts the corpus into
    tiles and removes some (below); windows come from kept tiles only.

    Attributes:
        paths: FASTA files (plain or gzip), folders of them or glob patterns; relative paths not
            found from the current directory are looked up in the repository (the shipped
            ``data_recipes/`` files).
        streaming: each rank reads only its own shards of the files; ``None``: stream when a path
            is a folder or a glob pattern.
        window: residues per training sample (its tokens must fit in ``model.max_len``).
        val_fraction: fraction held out for validation, in [0, 1): the end of every record (DNA)
            or whole records (proteins, chosen by a hash of their names; one at least where there
            are two or more); 0: no validation. Held-out residues with no room for one
            window are refused (in-memory corpora; streamed shards: when a rank reads its shards).
        reverse_complement: draw each training window's reverse complement with probability 1/2
            (augmentation; sequences with a complement only).
        temperature: file ``i`` is drawn with probability proportional to its size ``** (1 / T)``
            (1: by size; ``inf``: every file equally often).
        dedup: remove duplicate tiles: ``none``, ``exact`` (identical residues; DNA: on either strand) or
            ``near`` (exact, and a MinHash Jaccard of ``dedup_k``-mers at least ``dedup_threshold``).
        dedup_k: ``near``: k-mer length of the similarity (DNA: canonical k-mers, so either strand;
            proteins: k-mers as read).
        dedup_threshold: ``near``: Jaccard similarity, in (0, 1], from which a tile is a duplicate.
        tile: residues per curation tile (``None``: the window).
        max_n_run: remove tiles with a run of at least this many unknown residues (``N``, ``X``);
            ``None``: off.
        min_entropy: remove tiles whose 3-mer Shannon entropy is below this many bits (poly-A 0,
            random DNA about 5.7); ``None``: off.
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
    """How sequences are cut into tokens.

    Attributes:
        kind: ``residue`` (one token per residue) or ``kmer`` (overlapping k-mers of length ``k``).
        k: ``kmer``: k-mer length (DNA: 3 to 6; proteins: 1 to 3).
    """

    kind: Literal["residue", "kmer"] = "residue"
    k: int = 6


@dataclass
class ObjectiveConfig:
    """The pre-training objective.

    Attributes:
        kind: ``masked`` (masked modelling, as ``objective.masked`` says) or ``causal`` (next-token
            prediction).
    """

    kind: Literal["masked", "causal"] = "masked"
    masked: MaskedConfig = field(default_factory=MaskedConfig)


@dataclass
class SequencePretrainConfig:
    data: SequenceDataConfig = field(default_factory=SequenceDataConfig)
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    model: TransformerConfig = field(default_factory=TransformerConfig)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
