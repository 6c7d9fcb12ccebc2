"""What the sequence domains (DNA, protein) share: configs, and one Domain implementation.

A sequence domain differs from another only in its alphabet (:class:`~sciPT.sequences.SequenceSpec`),
its sampling conventions (genomes: long records, windows by length, held-out tail; proteins: many
short records, crops, held-out records) and its presets; everything else lives here once.
"""

from __future__ import annotations

import argparse
import csv
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Literal

import numpy as np
import torch

from .checkpoint import from_pretrained
from .config import from_dict, to_dict
from .data import StepDataModule
from .errors import ConfigError
from .nn import TransformerConfig, TransformerEncoder
from .objectives import CausalConfig, CausalLM, MaskedConfig, MaskedLM
from .registry import Domain, PretrainSetup
from .sequences import Corpus, RandomWindows, SequenceSpec, TokenCollate
from .tokenizers import SequenceTokenizer
from .trainer import TrainConfig


@dataclass
class SequenceDataConfig:
    """Pre-training corpus.

    ``paths``: FASTA files (plain or gzip); relative paths not found from the current directory are
    looked up in the repository (the shipped ``data_recipes/`` files). ``window``: residues per
    sample. ``val_fraction``: held out for validation (see :mod:`sciPT.sequences`).
    """

    paths: list[str] = field(default_factory=list)
    window: int = 128
    val_fraction: float = 0.02
    reverse_complement: bool = False


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


class SequenceDomain(Domain):
    """A :class:`~sciPT.registry.Domain` for FASTA corpora and transformer encoders.

    Subclasses set ``name``, ``summary``, ``spec``, ``val_mode``, ``weighting``, ``pad_short`` and
    ``preset_functions``.
    """

    config_class = SequencePretrainConfig
    spec: SequenceSpec
    val_mode: Literal["region", "record"] = "region"
    weighting: Literal["length", "uniform"] = "length"
    pad_short: bool = False
    preset_functions: dict[str, Callable[[], SequencePretrainConfig]] = {}

    def presets(self):
        return self.preset_functions

    def flag_aliases(self):
        return {"data": "data.paths", "window": "data.window"}

    # building ------------------------------------------------------------------------------
    def tokenizer(self, cfg: TokenizerConfig) -> SequenceTokenizer:
        if cfg.kind == "kmer":
            if self.spec.alphabet.n_core ** cfg.k > 1 << 20 or not 1 <= cfg.k:
                raise ConfigError(f"tokenizer.k: k = {cfg.k} is out of range for {self.name}")
            return SequenceTokenizer(self.spec.alphabet, k=cfg.k)
        return SequenceTokenizer(self.spec.alphabet, k=1)

    def build_model(self, model_cfg: TransformerConfig, tokenizer: SequenceTokenizer) -> TransformerEncoder:
        model_cfg.vocab_size = tokenizer.vocab_size
        model_cfg.pad_id = tokenizer.pad_id
        return TransformerEncoder(model_cfg)

    def build_objective(self, cfg: ObjectiveConfig, tokenizer: SequenceTokenizer, hidden: int):
        if cfg.kind == "causal":
            return CausalLM(CausalConfig(), hidden, tokenizer.vocab_size, tokenizer.pad_id)
        return MaskedLM(cfg.masked, hidden, tokenizer.vocab_size, tokenizer.mask_id, tokenizer.pad_id,
                        tokenizer.special_ids, tokenizer.normal_ids)

    def build_pretraining(self, cfg: SequencePretrainConfig) -> PretrainSetup:
        tokenizer = self.tokenizer(cfg.tokenizer)
        n_tokens = tokenizer.n_tokens(cfg.data.window)
        if n_tokens < 2:
            raise ConfigError(f"data.window: {cfg.data.window} residues give {n_tokens} tokens; expected at least 2")
        if n_tokens > cfg.model.max_len:
            raise ConfigError(
                f"data.window: {cfg.data.window} residues give {n_tokens} tokens, more than "
                f"model.max_len = {cfg.model.max_len}"
            )
        if not 0 <= cfg.data.val_fraction < 1:
            raise ConfigError(f"data.val_fraction: expected a fraction in [0, 1), got {cfg.data.val_fraction}")
        if cfg.data.reverse_complement and self.spec.complement is None:
            raise ConfigError(f"data.reverse_complement: {self.name} sequences have no complement")
        corpus = Corpus(cfg.data.paths, self.spec)
        common = dict(val_fraction=cfg.data.val_fraction, val_mode=self.val_mode,
                      weighting=self.weighting, pad_short=self.pad_short,
                      seed=cfg.train.seed, source="data.window")
        train = RandomWindows(corpus, cfg.data.window, split="train",
                              reverse_complement=cfg.data.reverse_complement, **common)
        val = RandomWindows(corpus, cfg.data.window, split="val", **common)
        collate = TokenCollate(tokenizer, cfg.model.max_len)
        backbone = self.build_model(cfg.model, tokenizer)
        objective = self.build_objective(cfg.objective, tokenizer, backbone.hidden_size)
        report = {"order0_entropy_nats": corpus.order0_entropy(self.spec.alphabet.n_core),
                  "corpus_records": len(corpus.records),
                  "corpus_residues": int(corpus.lengths.sum()),
                  "tokens_per_sample": n_tokens}
        return PretrainSetup(
            backbone=backbone, objective=objective,
            datamodule=StepDataModule(train, None if val.empty else val, collate, cfg.train),
            export_config=self.export_config_from(cfg),
            corpus=corpus.provenance(), report=report,
            embed=lambda batch: backbone.embed(batch["input_ids"], batch["attention_mask"]),
        )

    def export_config_from(self, cfg: SequencePretrainConfig) -> dict:
        """What ``model/config.json`` holds besides provenance: enough to rebuild the backbone."""
        tokenizer = self.tokenizer(cfg.tokenizer)
        model = {**to_dict(cfg.model), "vocab_size": tokenizer.vocab_size, "pad_id": tokenizer.pad_id}
        return {"domain": self.name, "model": model, "tokenizer": tokenizer.to_dict(),
                "window": cfg.data.window}

    def load_backbone(self, export_config: dict) -> TransformerEncoder:
        return TransformerEncoder(from_dict(TransformerConfig, export_config["model"], "config.json: model"))

    def demo(self, args: argparse.Namespace):
        """Pre-train the ``tiny`` preset on the shipped corpus, with a progress bar."""
        from .pretrain import pretrain

        cfg = self.preset_functions["tiny"]()
        if args.max_steps:
            cfg.train.max_steps = args.max_steps
        pretrain(self.name, cfg, args.out, command=f"scipt demo {self.name} --out {args.out}")
        return 0

    # predict --embed ----------------------------------------------------------------------
    def add_predict_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--embed", action="store_true",
                            help="write one embedding per sequence (mean over tokens) (default: off)")
        parser.add_argument("--batch-size", type=int, default=64, help="sequences per batch (default: 64)")

    def embed(self, path: str | Path, sequences: list[np.ndarray], batch_size: int = 64) -> np.ndarray:
        """Per-sequence embeddings ``[N, D]`` from an exported model (mean over real tokens)."""
        pretrained = from_pretrained(path, domain=self.name)
        tokenizer = SequenceTokenizer.from_dict(pretrained.config["tokenizer"])
        max_len = pretrained.config["model"]["max_len"]
        out = []
        with torch.inference_mode():
            for i in range(0, len(sequences), batch_size):
                batch = tokenizer.batch(sequences[i: i + batch_size], max_len)
                out.append(pretrained.model.embed(batch["input_ids"], batch["attention_mask"]).numpy())
        return np.concatenate(out) if out else np.zeros((0, pretrained.model.hidden_size), np.float32)

    def predict(self, run, args: argparse.Namespace):
        if not args.embed:
            raise ConfigError(f"predict: a {self.name} model predicts embeddings; pass --embed")
        corpus = Corpus([args.input], self.spec)
        names = [f.names[i] for f, i in corpus.records]
        seqs = [corpus.codes(r, 0, int(corpus.lengths[r])) for r in range(len(names))]
        emb = self.embed(run.path, seqs, args.batch_size)
        from . import io

        with io.atomic_path(args.output) as tmp, open(tmp, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["name", *[f"e{j}" for j in range(emb.shape[1])]])
            for name, row in zip(names, emb):
                w.writerow([name, *(f"{v:.6g}" for v in row)])
        print(f"wrote {len(names)} embeddings of dimension {emb.shape[1]} to {args.output}", file=sys.stderr)
        return emb

