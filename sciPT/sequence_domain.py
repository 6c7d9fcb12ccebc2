"""What the sequence domains (DNA, protein) share: configs, and one Domain implementation.

A sequence domain differs from another only in its alphabet (:class:`~sciPT.sequences.SequenceSpec`),
its sampling conventions (genomes: long records, windows by length, held-out tail; proteins: many
short records, crops, held-out records) and its presets; everything else lives here once.

Evaluation (``scipt evaluate RUN --data FILE.fa``, :meth:`SequenceDomain.evaluate`): the run's own
objective on a FASTA file, with the exported backbone and tokenizer (``RUN/model``) and the
objective's head, read from ``RUN/checkpoints/last.ckpt`` (so a causal run, whose head is not
exported, is scored too). Every record
is cut into consecutive windows of the pre-training window length (the last one shorter); for the
masked objective each window is corrupted exactly as in training (selection, 80/10/10, spans) by a
generator seeded with ``(--mask-seed, window index)``, so the score is the same for any batch size
and on any device. Reported: the loss in nats (cross-entropy of the original token at every selected
position, averaged over all of them), the accuracy at those positions, and, as a reference, the
order-0 entropy of the file's residues (what a model knowing only residue frequencies would score,
per residue token). A file that is (byte for byte) one of the pre-training files is flagged.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

from .checkpoint import from_pretrained, load_lightning_checkpoint
from .config import from_dict, to_dict
from .curation import CurationOptions, curate
from .errors import ConfigError, DataError, UserError
from .nn import TransformerConfig, TransformerEncoder
from .objectives import CausalConfig, CausalLM, MaskedConfig, MaskedLM
from .objectives.masked import IGNORE, selected_hidden
from .registry import Domain, PretrainSetup
from .sequences import Corpus, RandomWindows, SequenceSpec, TokenCollate, read_sequences
from .streaming import FASTA_SUFFIXES, ShardedSequences, ShardedWindows, Shards, expand_shards, use_streaming
from .tokenizers import SequenceTokenizer
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


def corpus_lines(corpus: Corpus, train: RandomWindows, curation, temperature: float) -> list[str]:
    """Markdown for report.md: each file's share of the training windows, and what curation removed."""
    kept = curation.per_file() if curation is not None else None
    lines = [
        f"Sampling across files: temperature {temperature:g} (file i drawn with probability "
        "proportional to its size ** (1 / temperature)).",
        "",
        "| file | residues | kept | sampling probability |",
        "|---|---|---|---|",
    ]
    for i, f in enumerate(corpus.files):
        total = int(f.lengths.sum())
        k = kept[i]["kept"] if kept is not None else total
        lines.append(f"| {f.path.name} | {total:,} | {k:,} | {train.file_probabilities[i]:.4f} |")
    if curation is not None:
        lines += [""] + curation.lines()
    return lines


def window_seed(seed: int, index: int) -> int:
    """The seed of window ``index``'s masks in an evaluation with ``--mask-seed seed``."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1, np.uint64)[0] >> 1)


def score_windows(
    objective,
    backbone,
    tokenizer: SequenceTokenizer,
    windows: list[np.ndarray],
    max_len: int,
    seed: int,
    first: int = 0,
) -> tuple[float, int, int]:
    """``(summed loss in nats, correct predictions, scored tokens)`` of ``objective`` on ``windows``
    (code arrays), the ``i``-th being window ``first + i`` of the evaluation.

    Masked modelling corrupts each window on its own with the generator of :func:`window_seed`
    (the objective's own ``corrupt``), so a window's masks do not depend on its batch; the head
    then scores the selected positions as the objective's ``forward`` does. Causal modelling scores
    every next token.
    """
    batch = tokenizer.batch(windows, max_len)
    ids, mask = batch["input_ids"], batch["attention_mask"]
    if isinstance(objective, MaskedLM):
        corrupted, targets = ids.clone(), torch.full_like(ids, IGNORE)
        for i in range(len(windows)):
            length = int(mask[i].sum())
            generator = torch.Generator().manual_seed(window_seed(seed, first + i))
            c, t = objective.corrupt(ids[i : i + 1, :length], mask[i : i + 1, :length], generator)
            corrupted[i, :length], targets[i, :length] = c[0], t[0]
        selected = targets != IGNORE
        hidden = selected_hidden(backbone, corrupted, mask, selected)
    else:
        targets = objective.targets(ids, mask)
        selected = targets != IGNORE
        hidden = backbone(ids, mask, causal=True)[selected]
    wanted = targets[selected]
    if wanted.numel() == 0:
        return 0.0, 0, 0
    logits = objective.head(hidden).float()
    loss = F.cross_entropy(logits, wanted, reduction="sum")
    return float(loss), int((logits.argmax(dim=-1) == wanted).sum()), int(wanted.numel())


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
            if self.spec.alphabet.n_core**cfg.k > 1 << 20 or not 1 <= cfg.k:
                raise ConfigError(f"tokenizer.k: k = {cfg.k} is out of range for {self.name}")
            return SequenceTokenizer(self.spec.alphabet, k=cfg.k)
        return SequenceTokenizer(self.spec.alphabet, k=1)

    def fill_model_config(self, model_cfg: TransformerConfig, tokenizer: SequenceTokenizer) -> None:
        """Set what the tokenizer decides: vocabulary size, padding id and, for a reverse-complement
        equivariant model, each token's complement."""
        model_cfg.vocab_size = tokenizer.vocab_size
        model_cfg.pad_id = tokenizer.pad_id
        if model_cfg.rc_equivariant:
            complement = self.spec.complement_codes()
            if complement is None:
                raise ConfigError(f"model.rc_equivariant: {self.name} sequences have no complement")
            model_cfg.complement_ids = tokenizer.complement_ids(complement)

    def build_model(self, model_cfg: TransformerConfig, tokenizer: SequenceTokenizer) -> TransformerEncoder:
        self.fill_model_config(model_cfg, tokenizer)
        return TransformerEncoder(model_cfg)

    def build_objective(self, cfg: ObjectiveConfig, tokenizer: SequenceTokenizer, hidden: int):
        if cfg.kind == "causal":
            return CausalLM(CausalConfig(), hidden, tokenizer.vocab_size, tokenizer.pad_id)
        return MaskedLM(
            cfg.masked,
            hidden,
            tokenizer.vocab_size,
            tokenizer.mask_id,
            tokenizer.pad_id,
            tokenizer.special_ids,
            tokenizer.normal_ids,
        )

    def build_pretraining(self, cfg: SequencePretrainConfig) -> PretrainSetup:
        tokenizer = self.tokenizer(cfg.tokenizer)
        n_tokens = tokenizer.n_tokens(cfg.data.window)
        if n_tokens < 2:
            raise ConfigError(
                f"data.window: {cfg.data.window} residues give {n_tokens} tokens; expected at least 2"
            )
        if n_tokens > cfg.model.max_len:
            raise ConfigError(
                f"data.window: {cfg.data.window} residues give {n_tokens} tokens, more than "
                f"model.max_len = {cfg.model.max_len}"
            )
        if not 0 <= cfg.data.val_fraction < 1:
            raise ConfigError(
                f"data.val_fraction: expected a fraction in [0, 1), got {cfg.data.val_fraction}"
            )
        if cfg.data.reverse_complement and self.spec.complement is None:
            raise ConfigError(f"data.reverse_complement: {self.name} sequences have no complement")
        if not cfg.data.temperature > 0:  # NaN fails too
            raise ConfigError(f"data.temperature: expected a positive number, got {cfg.data.temperature:g}")
        options = CurationOptions.of(cfg.data)
        options.check(self.spec.alphabet.n_core)
        paths = [str(p) for p in expand_shards(cfg.data.paths, FASTA_SUFFIXES, "FASTA files")]
        if use_streaming(cfg.data.streaming, cfg.data.paths):
            train, val, provenance, report = self._sharded_data(cfg, paths, options)
        else:
            train, val, provenance, report = self._whole_data(cfg, paths, options)
        report["tokens_per_sample"] = n_tokens
        collate = TokenCollate(tokenizer, cfg.model.max_len)
        backbone = self.build_model(cfg.model, tokenizer)
        objective = self.build_objective(cfg.objective, tokenizer, backbone.hidden_size)
        from .data import StepDataModule  # Lightning: imported when a run is built, not to list options

        return PretrainSetup(
            backbone=backbone,
            objective=objective,
            datamodule=StepDataModule(train, val, collate, cfg.train),
            export_config=self.export_config_from(cfg),
            corpus=provenance,
            report=report,
            embed=lambda batch: backbone.embed(batch["input_ids"], batch["attention_mask"]),
        )

    def _whole_data(self, cfg: SequencePretrainConfig, paths: list[str], options: CurationOptions):
        """Every file read by every rank, one memory-mapped cache (:mod:`sciPT.sequences`)."""
        corpus = Corpus(paths, self.spec)
        curation = (
            curate(corpus, options, val_fraction=cfg.data.val_fraction, val_mode=self.val_mode)
            if options.active
            else None
        )
        common = dict(
            val_fraction=cfg.data.val_fraction,
            val_mode=self.val_mode,
            weighting=self.weighting,
            pad_short=self.pad_short,
            seed=cfg.train.seed,
            source="data.window",
            temperature=cfg.data.temperature,
            curation=curation,
        )
        train = RandomWindows(
            corpus, cfg.data.window, split="train", reverse_complement=cfg.data.reverse_complement, **common
        )
        val = RandomWindows(corpus, cfg.data.window, split="val", **common)
        report = {
            "order0_entropy_nats": corpus.order0_entropy(self.spec.alphabet.n_core),
            "corpus_records": len(corpus.records),
            "corpus_residues": int(corpus.lengths.sum()),
        }
        if curation is not None:
            report.update(curation.metrics())
        if len(corpus.files) > 1 or curation is not None:
            report["data_summary"] = corpus_lines(corpus, train, curation, cfg.data.temperature)
        return train, None if val.empty else val, corpus.provenance(), report

    def _sharded_data(self, cfg: SequencePretrainConfig, paths: list[str], options: CurationOptions):
        """Each rank reads its own shards only (:mod:`sciPT.streaming`); nothing is read here."""
        shards = Shards([Path(p) for p in paths], "data.paths")
        report: dict = {"corpus_shards": len(shards), "corpus_bytes": sum(shards.sizes)}
        sequences = ShardedSequences(
            shards,
            self.spec,
            options,
            val_fraction=cfg.data.val_fraction,
            val_mode=self.val_mode,
            report=report,
        )
        common = dict(
            seed=cfg.train.seed,
            weighting=self.weighting,
            pad_short=self.pad_short,
            source="data.window",
            temperature=cfg.data.temperature,
        )
        train = ShardedWindows(
            sequences,
            cfg.data.window,
            split="train",
            reverse_complement=cfg.data.reverse_complement,
            **common,
        )
        val = (
            ShardedWindows(sequences, cfg.data.window, split="val", **common)
            if cfg.data.val_fraction > 0
            else None
        )
        return train, val, shards.provenance(), report

    def export_config_from(self, cfg: SequencePretrainConfig) -> dict:
        """What ``model/config.json`` holds besides provenance: enough to rebuild the backbone."""
        tokenizer = self.tokenizer(cfg.tokenizer)
        model_cfg = replace(cfg.model)
        self.fill_model_config(model_cfg, tokenizer)
        model = to_dict(model_cfg)
        return {
            "domain": self.name,
            "model": model,
            "tokenizer": tokenizer.to_dict(),
            "window": cfg.data.window,
        }

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

    # evaluate -----------------------------------------------------------------------------
    def add_evaluate_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--batch-size", type=int, default=64, help="windows per batch (default: 64)")
        parser.add_argument(
            "--mask-seed",
            type=int,
            default=0,
            help="seed of the evaluation's masks; the score depends on it, not on the "
            "batch size (default: 0)",
        )

    def evaluate(self, run, args: argparse.Namespace) -> dict:
        """The run's objective on the FASTA ``args.data`` (module docstring); its own folder."""
        batch_size = getattr(args, "batch_size", None) or 64
        seed = getattr(args, "mask_seed", None) or 0
        if batch_size < 1:
            raise ConfigError(f"--batch-size: expected a positive number, got {batch_size}")
        pretrained = from_pretrained(run.path, domain=self.name)
        backbone, exported = pretrained.model, pretrained.config
        tokenizer = SequenceTokenizer.from_dict(exported["tokenizer"])
        saved = run.read_config()
        objective_cfg = from_dict(ObjectiveConfig, saved.get("objective") or {}, f"{run.config}: objective")
        objective = self.pretrained_objective(run, objective_cfg, tokenizer, backbone)
        window = int(exported.get("window") or (saved.get("data") or {}).get("window") or 128)
        corpus = Corpus([args.data], self.spec)
        pieces = [
            corpus.codes(r, start, min(start + window, int(length)))
            for r, length in enumerate(corpus.lengths)
            for start in range(0, int(length), window)
        ]
        pieces = [p for p in pieces if tokenizer.n_tokens(len(p)) > 0]
        max_len = exported["model"]["max_len"]
        loss_sum, correct, n = 0.0, 0, 0
        with torch.inference_mode():
            for start in range(0, len(pieces), batch_size):
                part = pieces[start : start + batch_size]
                batch_loss, batch_correct, batch_n = score_windows(
                    objective, backbone, tokenizer, part, max_len, seed, first=start
                )
                loss_sum, correct, n = loss_sum + batch_loss, correct + batch_correct, n + batch_n
        source = corpus.files[0]
        if n == 0:
            raise DataError(
                f"{args.data}: no window has a token to score (records of "
                f"{int(corpus.lengths.max())} residues at most; the objective needs more)"
            )
        loss = loss_sum / n
        metrics = {
            "loss_nats": loss,
            "perplexity": float(np.exp(loss)),
            "accuracy": correct / n,
            "order0_entropy_nats": corpus.order0_entropy(self.spec.alphabet.n_core),
            "tokens_scored": n,
            "windows": len(pieces),
            "records": len(corpus.records),
            "residues": int(corpus.lengths.sum()),
            "mask_seed": seed,
            "in_pretraining_corpus": float(
                source.sha256 in {e.get("sha256") for e in exported.get("pretrained_on") or []}
            ),
        }
        with run.evaluation(source.path, getattr(args, "out", None)) as out:
            out.write_metrics(metrics)
            out.write_report(
                self._evaluation_report(
                    objective_cfg, tokenizer, window, metrics, run.read_metrics().get("val_loss")
                )
            )
        print(json.dumps(metrics, indent=1))
        return metrics

    def pretrained_objective(
        self, run, cfg: ObjectiveConfig, tokenizer: SequenceTokenizer, backbone
    ) -> torch.nn.Module:
        """The run's objective with its trained head, from ``RUN/checkpoints/last.ckpt``."""
        path = run.last_checkpoint
        if not path.is_file():
            raise UserError(
                f"{path}: not found; scoring the pre-training objective needs its head, "
                "which only the run's checkpoint keeps (the export holds the backbone)"
            )
        state = load_lightning_checkpoint(path)["state_dict"]
        objective = self.build_objective(cfg, tokenizer, backbone.hidden_size)
        objective.load_state_dict(
            {k[len("objective.") :]: v for k, v in state.items() if k.startswith("objective.")}
        )
        exported = backbone.state_dict()
        if any(
            not torch.equal(v, exported[k[len("backbone.") :]])
            for k, v in state.items()
            if k.startswith("backbone.") and k[len("backbone.") :] in exported
        ):
            print(
                f"warning: {run.model} differs from {path} (exported from another checkpoint?); "
                "the objective's head is the checkpoint's",
                file=sys.stderr,
            )
        return objective.eval()

    def _evaluation_report(
        self,
        cfg: ObjectiveConfig,
        tokenizer: SequenceTokenizer,
        window: int,
        metrics: dict,
        val_loss: float | None,
    ) -> list[str]:
        what = (
            f"masked modelling ({cfg.masked.mask_ratio:.0%} of tokens selected, spans of "
            f"{cfg.masked.span}, mask seed {metrics['mask_seed']})"
            if cfg.kind == "masked"
            else "next-token prediction"
        )
        lines = [
            f"Objective: {what}; {metrics['windows']:,} windows of up to {window} residues from "
            f"{metrics['records']:,} records ({metrics['residues']:,} residues), "
            f"{metrics['tokens_scored']:,} tokens scored.",
            "",
            "| metric | value |",
            "|---|---|",
        ]
        lines += [
            f"| {k} | {v:.4g} |" if isinstance(v, float) else f"| {k} | {v} |" for k, v in metrics.items()
        ]
        h0 = metrics["order0_entropy_nats"]
        if tokenizer.k == 1:
            verdict = "below" if metrics["loss_nats"] < h0 else "NOT below"
            lines += [
                "",
                f"The loss ({metrics['loss_nats']:.3f} nats) is {verdict} the order-0 entropy "
                f"of this file ({h0:.3f} nats), the score of residue frequencies alone.",
            ]
        else:
            lines += [
                "",
                f"Tokens are overlapping {tokenizer.k}-mers: the loss is per k-mer, the "
                f"order-0 entropy ({h0:.3f} nats) per residue.",
            ]
        if val_loss is not None:
            lines.append(f"Pre-training's own validation loss was {val_loss:.3f} nats.")
        if metrics["in_pretraining_corpus"]:
            lines += [
                "",
                "**This file is one the model was pre-trained on** (same SHA-256): the "
                "score is not a held-out measure.",
            ]
        return lines

    # predict --embed ----------------------------------------------------------------------
    def add_predict_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--embed",
            action="store_true",
            help="write one embedding per sequence (mean over tokens) (default: off)",
        )
        parser.add_argument("--batch-size", type=int, default=64, help="sequences per batch (default: 64)")

    def embed(self, path: str | Path, sequences: list[np.ndarray], batch_size: int = 64) -> np.ndarray:
        """Per-sequence embeddings ``[N, D]`` from an exported model (mean over real tokens)."""
        pretrained = from_pretrained(path, domain=self.name)
        tokenizer = SequenceTokenizer.from_dict(pretrained.config["tokenizer"])
        max_len = pretrained.config["model"]["max_len"]
        out = []
        with torch.inference_mode():
            for i in range(0, len(sequences), batch_size):
                batch = tokenizer.batch(sequences[i : i + batch_size], max_len)
                out.append(pretrained.model.embed(batch["input_ids"], batch["attention_mask"]).numpy())
        return np.concatenate(out) if out else np.zeros((0, pretrained.model.hidden_size), np.float32)

    def predict(self, run, args: argparse.Namespace):
        if not args.embed:
            raise ConfigError(f"predict: a {self.name} model predicts embeddings; pass --embed")
        data = read_sequences(args.input, self.spec)  # FASTA or a CSV/TSV 'sequence' column
        names = data.names
        emb = self.embed(run.path, data.codes, args.batch_size)
        from . import io

        with io.atomic_path(args.output) as tmp, open(tmp, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["name", *[f"e{j}" for j in range(emb.shape[1])]])
            for name, row in zip(names, emb):
                w.writerow([name, *(f"{v:.6g}" for v in row)])
        print(f"wrote {len(names)} embeddings of dimension {emb.shape[1]} to {args.output}", file=sys.stderr)
        return emb
