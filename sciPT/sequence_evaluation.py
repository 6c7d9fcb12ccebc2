"""Evaluating a sequence-domain (DNA, protein) run on a FASTA file.

Evaluation (``scipt evaluate RUN --data FILE.fa``, :meth:`SequenceEvaluation.evaluate`): the run's own
objective on a FASTA file, with the exported backbone and tokenizer (``RUN/model``) and the
objective's head, read from ``RUN/checkpoints/last.ckpt`` (so a causal run, whose head is not
exported, is scored too). Every record
is cut into consecutive windows of the pre-training window length (the last one shorter); for the
masked objective each window is corrupted exactly as in training (selection, 80/10/10, spans) by a
generator seeded with ``--mask-seed`` and the window's own residues, so the score is the same for any
batch size, on any device and in any order of the file's records. Reported: the loss in nats (cross-entropy of the original token at every selected
position, averaged over all of them), the accuracy at those positions, and, as a reference, the
order-0 entropy of the file's residues (what a model knowing only residue frequencies would score,
per residue token). A file that is (byte for byte) one of the pre-training files is flagged, and so
is every window the pre-training corpus holds verbatim or nearly, on either strand (a file cut from
a pre-training genome differs in its bytes, not in its sequence; :mod:`sciPT.diagnostics.contamination`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys

import numpy as np
import torch
import torch.nn.functional as F

from .checkpoint import from_pretrained, load_lightning_checkpoint
from .config import from_dict
from .errors import ConfigError, DataError, UserError
from .files import resolve_data_path
from .objectives import MaskedLM
from .objectives.masked import IGNORE, selected_hidden
from .runconfig import positive_int
from .sequence_config import ObjectiveConfig
from .sequences import Corpus
from .tokenizers import SequenceTokenizer


def window_seed(seed: int, codes: np.ndarray) -> int:
    """The seed of a window's masks in an evaluation with ``--mask-seed seed``: drawn from the
    window's own residues (``codes``), so that a window gets the same masks wherever it sits in the
    file (seeded by its position, a file of the same records in another order scored 3 points of
    accuracy apart)."""
    digest = hashlib.blake2b(np.ascontiguousarray(codes, dtype=np.uint8).tobytes(), digest_size=16).digest()
    words = [int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4)]
    return int(np.random.SeedSequence([seed, *words]).generate_state(1, np.uint64)[0] >> 1)


def score_windows(
    objective,
    backbone,
    tokenizer: SequenceTokenizer,
    windows: list[np.ndarray],
    max_len: int,
    seed: int,
) -> tuple[float, int, int]:
    """``(summed loss in nats, correct predictions, scored tokens)`` of ``objective`` on ``windows``
    (code arrays).

    Masked modelling corrupts each window on its own with the generator of :func:`window_seed`
    (the objective's own ``corrupt``), so a window's masks do not depend on its batch nor its place; the head
    then scores the selected positions as the objective's ``forward`` does. Causal modelling scores
    every next token.
    """
    batch = tokenizer.batch(windows, max_len)
    ids, mask = batch["input_ids"], batch["attention_mask"]
    if isinstance(objective, MaskedLM):
        corrupted, targets = ids.clone(), torch.full_like(ids, IGNORE)
        for i in range(len(windows)):
            length = int(mask[i].sum())
            generator = torch.Generator().manual_seed(window_seed(seed, windows[i]))
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


class SequenceEvaluation:
    """The ``evaluate`` command of a :class:`~sciPT.sequence_domain.SequenceDomain` (module docstring);
    it uses the domain's ``name``, ``spec`` and ``build_objective``."""

    def add_evaluate_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--batch-size", type=positive_int, default=64, help="windows per batch (default: 64)"
        )
        parser.add_argument(
            "--mask-seed",
            type=int,
            default=0,
            help="seed of the evaluation's masks; the score depends on it, not on the "
            "batch size (default: 0)",
        )

    def evaluate(self, run, args: argparse.Namespace) -> dict:
        """The run's objective on the FASTA ``args.data`` (module docstring); its own folder."""
        batch_size = getattr(args, "batch_size", 64)
        seed = getattr(args, "mask_seed", None) or 0
        if batch_size < 1:  # a caller that did not parse it
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
                    objective, backbone, tokenizer, part, max_len, seed
                )
                loss_sum, correct, n = loss_sum + batch_loss, correct + batch_correct, n + batch_n
        source = corpus.files[0]
        if n == 0:
            spec, unknown = self.spec, self.spec.unknown
            counts = sum(corpus.file_symbol_counts)
            if unknown is not None and counts.sum() == counts[spec.alphabet.symbols.index(unknown)] > 0:
                read_as = "".join(f", {a}" for a, b in spec.aliases.items() if b == unknown)
                raise DataError(
                    f"{args.data}: every residue is unknown ({unknown}{read_as}), and unknown residues "
                    "are never scored: nothing to evaluate"
                )
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
            # the file itself (same SHA-256) is one the model was trained on; windows of it found in
            # the corpus otherwise are the contamination_* figures below
            "is_pretraining_file": float(
                source.sha256 in {e.get("sha256") for e in exported.get("pretrained_on") or []}
            ),
        }
        overlap = self._windows_in_corpus(pieces, exported.get("pretrained_on"))
        unchecked = None
        if isinstance(overlap, str):
            unchecked, overlap = overlap, None
            print(f"warning: {unchecked}", file=sys.stderr)
        if overlap is not None:
            metrics.update({f"contamination_{key}": v for key, v in overlap.summary().items()})
        with run.evaluation(source.path, getattr(args, "out", None)) as out:
            out.write_metrics(metrics)
            out.write_report(
                self._evaluation_report(
                    objective_cfg, tokenizer, window, metrics, run.read_metrics().get("val_loss"), unchecked
                )
            )
        print(json.dumps(metrics, indent=1))
        return metrics

    def _windows_in_corpus(self, windows: list[np.ndarray], pretrained_on: list | None):
        """How many scored windows the pre-training corpus holds, verbatim or nearly (either strand
        where the alphabet has one): a file cut from a pre-training genome is no held-out measure,
        though its bytes differ. ``None`` where no corpus is recorded; a sentence saying the check
        was not made where a recorded file is not found."""
        from .diagnostics.contamination import DEFAULT_THRESHOLD, check_contamination, default_k

        # runs written before paths were recorded absolute hold them relative to where they ran
        paths = [resolve_data_path(entry["path"]) for entry in pretrained_on or []]
        if not paths:
            return None
        missing = [str(path) for path in paths if not path.is_file()]
        if missing:
            return (
                f"contamination unknown: the pre-training corpus file {missing[0]} is not found "
                "from here, so this file's overlap with it was not checked"
            )
        k = default_k(self.spec.alphabet.n_core)
        corpus = Corpus(paths, self.spec)
        return check_contamination(
            windows, corpus, k=k, threshold=DEFAULT_THRESHOLD, progress=sys.stderr.isatty()
        )

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
        unchecked: str | None = None,
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
        if metrics["is_pretraining_file"]:
            lines += [
                "",
                "**This file is one the model was pre-trained on** (same SHA-256): the "
                "score is not a held-out measure.",
            ]
        elif metrics.get("contamination_near"):
            share = metrics["contamination_near"] / metrics["contamination_eval_sequences"]
            lines += [
                "",
                f"**{100 * share:.1f}% of this file's windows occur in the pre-training corpus**, "
                f"verbatim or nearly (of {metrics['contamination_eval_sequences']:,} windows, "
                f"{metrics['contamination_verbatim']:,} verbatim, {metrics['contamination_near']:,} "
                f"verbatim or with k-mer similarity at least 0.5): on those the score is "
                "not a held-out measure; `scipt data decontaminate` masks a file's sequences out of a "
                "corpus.",
            ]
        elif "contamination_near" in metrics:
            lines += [
                "",
                "None of this file's windows occurs in the pre-training corpus, verbatim or nearly.",
            ]
        elif unchecked is not None:
            lines += ["", f"**{unchecked[0].upper()}{unchecked[1:]}.**"]
        if metrics.get("contamination_unchecked"):
            lines += [
                "",
                f"{metrics['contamination_unchecked']:,} window(s) could not be checked for contamination "
                "(`contamination_unchecked`: no run of k known residues, k the check's k-mer length) and "
                "count as clean.",
            ]
        return lines
