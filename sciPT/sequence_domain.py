"""What the sequence domains (DNA, protein) share: one Domain implementation.

A sequence domain differs from another only in its alphabet (:class:`~sciPT.sequences.SequenceSpec`),
its sampling conventions (genomes: long records, windows by length, held-out tail; proteins: many
short records, crops, held-out records) and its presets; everything else lives here once.

Its configs are in :mod:`sciPT.sequence_config`; its evaluation (``scipt evaluate RUN --data
FILE.fa``) is in :mod:`sciPT.sequence_evaluation`.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from .checkpoint import from_pretrained
from .config import from_dict, to_dict
from .curation import CurationOptions, curate
from .errors import ConfigError, DataError
from .files import refuse_directory, resolve_data_path
from .io import table_cell
from .nn import TransformerConfig, TransformerEncoder
from .objectives import CausalConfig, CausalLM, MaskedLM
from .registry import Domain, PretrainSetup
from .run import global_rank
from .runconfig import positive_int
from .sequence_config import ObjectiveConfig, SequencePretrainConfig, TokenizerConfig
from .sequence_evaluation import SequenceEvaluation
from .sequence_inputs import LabelledSequences, alias_note, in_chunks, read_sequences, repeated_names_note
from .sequences import Corpus, RandomWindows, SequenceSpec, TokenCollate, check_fasta_start, file_warnings
from .streaming import FASTA_SUFFIXES, ShardedSequences, ShardedWindows, Shards, expand_shards, use_streaming
from .tokenizers import SequenceTokenizer


def corpus_lines(corpus: Corpus, train: RandomWindows, curation, temperature: float) -> list[str]:
    """Markdown for report.md: each file's share of the training windows, and what curation removed."""
    kept = curation.per_file() if curation is not None else None
    lines = [
        f"Sampling across files: temperature {temperature:g} (file i drawn with probability "
        "proportional to its size ** (1 / temperature), its size the number of window starts its "
        "records hold, curated residues left out).",
        "",
        "| file | residues | kept | sampling probability |",
        "|---|---|---|---|",
    ]
    for i, f in enumerate(corpus.files):
        total = int(f.lengths.sum())
        k = kept[i]["kept"] if kept is not None else total
        lines.append(f"| {table_cell(f.path.name)} | {total:,} | {k:,} | {train.file_probabilities[i]:.4f} |")
    if curation is not None:
        lines += [""] + curation.lines()
    return lines


def central(codes: np.ndarray, residues: int) -> np.ndarray:
    """``codes`` cut to its centre where longer than ``residues``: the central ``residues``, or
    ``residues - 1`` where the excess is odd, so that as many go on each side and the centre of a
    reverse complement is the reverse complement of the centre (a strand-symmetric model then embeds
    both strands alike)."""
    excess = len(codes) - residues
    if excess <= 0:
        return codes
    side = (excess + 1) // 2
    return codes[side : len(codes) - side]


def _residues(pretrained) -> int:
    """The longest sequence, in residues, an exported sequence model reads: ``max_len`` tokens."""
    return pretrained.config["model"]["max_len"] + pretrained.config["tokenizer"]["k"] - 1


def _embed(pretrained, sequences: list[np.ndarray], batch_size: int) -> np.ndarray:
    tokenizer = SequenceTokenizer.from_dict(pretrained.config["tokenizer"])
    residues = _residues(pretrained)
    sequences = [central(c, residues) for c in sequences]

    def embed(chunk: list[np.ndarray]) -> np.ndarray:
        out = []
        with torch.inference_mode():
            for i in range(0, len(chunk), batch_size):
                batch = tokenizer.batch(chunk[i : i + batch_size])
                out.append(pretrained.model.embed(batch["input_ids"], batch["attention_mask"]).numpy())
        return np.concatenate(out) if out else np.zeros((0, pretrained.model.hidden_size), np.float32)

    return in_chunks(embed, sequences, "embedding", batch_size)


class SequenceDomain(SequenceEvaluation, Domain):
    """A :class:`~sciPT.registry.Domain` for FASTA corpora and transformer encoders.

    Subclasses set ``name``, ``summary``, ``spec``, ``val_mode``, ``weighting``, ``pad_short`` and
    ``preset_functions``. Evaluation (``scipt evaluate``) comes from
    :class:`~sciPT.sequence_evaluation.SequenceEvaluation`.
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
        # an unknown residue (an assembly gap's N) is context, never a target: scored, it put N-runs
        # in the loss that the report compares with an order-0 entropy of the known residues alone
        # (a k-mer holding one is the unknown token)
        unknown = [tokenizer.unk_id]
        if self.spec.unknown is not None and tokenizer.k == 1:
            unknown += tokenizer.encode(self.spec.unknown).tolist()
        if cfg.kind == "causal":
            return CausalLM(CausalConfig(), hidden, tokenizer.vocab_size, tokenizer.pad_id, unknown)
        never = sorted({*tokenizer.special_ids, *unknown})
        return MaskedLM(
            cfg.masked,
            hidden,
            tokenizer.vocab_size,
            tokenizer.mask_id,
            tokenizer.pad_id,
            never,
            tokenizer.normal_ids,
        )

    def check_corpus(self, paths: list[str]) -> None:
        """Refuse a pre-training corpus before anything is read, cached or written (a domain's
        hook; the default accepts any file its reader accepts). ``paths``: :meth:`judged_files`."""

    @staticmethod
    def judged_files(paths: list[str], per_folder: int = 4) -> list[Path]:
        """The corpus files :meth:`check_corpus` looks at: every file named one by one, and the
        first ``per_folder`` of each folder or pattern of shards (thousands of shards are one kind
        of data, and every rank would read them; a fifth file named on the command line was
        trained on unjudged)."""
        return [f for p in paths for f in expand_shards([p], FASTA_SUFFIXES, "FASTA files")[:per_folder]]

    def evaluate(self, run, args: argparse.Namespace) -> dict:
        # the corpus reader would call a directory "file not found"
        refuse_directory(resolve_data_path(args.data), "a FASTA file")
        return super().evaluate(run, args)

    def check_inputs(self, data: LabelledSequences) -> None:
        """Refuse sequences read to predict from, before the model is loaded (a domain's hook, as
        :meth:`check_corpus`; the default accepts any file its reader accepts)."""

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
        if cfg.objective.kind == "causal" and cfg.model.rc_equivariant:
            # the encoder says so too, but only at the first step, after the corpus is read and the
            # run folder written
            raise ConfigError(
                "objective.kind causal: a reverse-complement equivariant encoder (model.rc_equivariant) "
                "reads both ways; causal attention is not available with it"
            )
        span = cfg.objective.masked.span
        if cfg.objective.kind == "masked" and span < tokenizer.k and global_rank() == 0:
            # a preset sets span = k; a tokenizer changed on the command line does not move it
            print(
                f"warning: objective.masked.span {span} is shorter than the {tokenizer.k}-mer tokens: "
                f"overlapping k-mers share {tokenizer.k - 1} residues with each neighbour, so most "
                f"masked tokens can be read off the unmasked ones (--objective.masked.span "
                f"{tokenizer.k} masks whole runs)",
                file=sys.stderr,
            )
        if not cfg.data.temperature > 0:  # NaN fails too
            raise ConfigError(f"data.temperature: expected a positive number, got {cfg.data.temperature:g}")
        options = CurationOptions.of(cfg.data)
        options.check(self.spec.alphabet.n_core)
        paths = [str(p) for p in expand_shards(cfg.data.paths, FASTA_SUFFIXES, "FASTA files")]
        self.check_corpus(self.judged_files(cfg.data.paths))
        if use_streaming(cfg.data.streaming, cfg.data.paths):
            train, val, provenance, report = self._sharded_data(cfg, paths, options)
        else:
            train, val, provenance, report = self._whole_data(cfg, paths, options)
        report["tokens_per_sample"] = n_tokens
        # the masked loss is per token: per residue, as the order-0 entropy is, only for k = 1
        report["tokenizer_k"] = tokenizer.k
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
        corpus.refuse_repeated_files()
        if not corpus.known_residues().any():
            # nothing is masked, the loss is 0 and the export looks like a model (evaluate refused it)
            named = paths[0] + (" ..." if len(paths) > 1 else "")
            raise DataError(
                f"{named}: every residue is unknown ({corpus.unknown_words()}), and unknown residues "
                "are never predicted: nothing to pre-train on"
            )
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
        for line in (
            file_warnings(corpus, train, cfg.data.window, curation is not None) if global_rank() == 0 else []
        ):
            print(line, file=sys.stderr)
        if val.empty and val.longest_part() is not None:
            # residues are held out, so cut out of training, yet no window fits in them: a run would
            # lose them and report no validation loss, without a word. (No residue held out, as
            # from a single protein record, costs training nothing.)
            raise ConfigError(self._no_validation_window(cfg, val, curation is not None))
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

    def _no_validation_window(self, cfg: SequencePretrainConfig, val: RandomWindows, curated: bool) -> str:
        """The one line refusing a validation split that holds residues but no window
        (:meth:`_whole_data`)."""
        window, fraction = cfg.data.window, cfg.data.val_fraction
        part = "held-out tail" if self.val_mode == "region" else "held-out record"
        if curated:
            part += " kept by curation"
        n, name, path = val.longest_part()
        return (
            f"data.val_fraction {fraction:g} with data.window {window}: no validation window fits (the "
            f"longest {part} is '{name}' in {path}, {n} residues); use a smaller data.window, a larger "
            "data.val_fraction, or data.val_fraction 0 to train without validation"
        )

    def _sharded_data(self, cfg: SequencePretrainConfig, paths: list[str], options: CurationOptions):
        """Each rank reads its own shards only (:mod:`sciPT.streaming`); nothing is read here."""
        shards = Shards([Path(p) for p in paths], "data.paths")
        for path in shards.paths:
            check_fasta_start(path)
        if str(cfg.train.devices).isdigit():
            # fewer shards than ranks, when the ranks are counted: refused before any rank starts
            # (each rank refused it, once the run's folder was made, and said so twice)
            shards.owners(int(cfg.train.devices) * cfg.train.num_nodes)
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
        from .run import RunDir

        # a demo has no --resume: refused here, before the data are read, with the demo's advice
        RunDir(args.out).refuse_unless_startable(resumable=False)
        cfg = self.preset_functions["tiny"]()
        if args.max_steps:
            cfg.train.max_steps = args.max_steps
        pretrain(self.name, cfg, args.out, command=f"scipt demo {self.name} --out {args.out}")
        return 0

    # predict --embed ----------------------------------------------------------------------
    def add_predict_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--embed",
            action="store_true",
            help="write one embedding per sequence (mean over tokens) (default: off)",
        )
        parser.add_argument(
            "--batch-size", type=positive_int, default=64, help="sequences per batch (default: 64)"
        )

    def embed(self, path: str | Path, sequences: list[np.ndarray], batch_size: int = 64) -> np.ndarray:
        """Per-sequence embeddings ``[N, D]`` from an exported model (mean over real tokens); a
        sequence longer than the model reads is embedded from its centre (:func:`central`)."""
        return _embed(from_pretrained(path, domain=self.name), sequences, batch_size)

    def predict(self, run, args: argparse.Namespace):
        if not args.embed:
            raise ConfigError(f"predict: a {self.name} model predicts embeddings; pass --embed")
        data = read_sequences(args.input, self.spec)  # FASTA or a CSV/TSV 'sequence' column
        self.check_inputs(data)
        for note in (alias_note(data, self.spec), repeated_names_note(data)):
            if note:
                print(note, file=sys.stderr)
        names = data.names
        pretrained = from_pretrained(run.path, domain=self.name)
        data.refuse_shorter_than(pretrained.config["tokenizer"]["k"], "embed")
        residues = _residues(pretrained)
        cropped = sum(len(c) > residues for c in data.codes)
        if cropped:
            print(
                f"{args.input}: the model reads at most {residues} residues: {cropped} of {len(names)} "
                f"sequence{'s' if len(names) != 1 else ''} embedded from the central {residues - 1} or "
                f"{residues} (as many left out on each side)",
                file=sys.stderr,
            )
        emb = _embed(pretrained, data.codes, args.batch_size)
        from . import io

        with io.atomic_text(args.output) as f:
            w = csv.writer(f)
            w.writerow(["name", *[f"e{j}" for j in range(emb.shape[1])]])
            for name, row in zip(names, emb):
                w.writerow([name, *(f"{v:.6g}" for v in row)])
        print(f"wrote {len(names)} embeddings of dimension {emb.shape[1]} to {args.output}", file=sys.stderr)
        return emb
