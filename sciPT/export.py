"""``scipt export``: a run's Lightning checkpoint -> ``model/`` (safetensors + config.json).

Everything comes from the checkpoint; the training data are never read again (they may have moved).
Pre-training (:mod:`sciPT.pretrain`) keeps under the checkpoint key ``"sciPT_export"``:

- ``config``: the export configuration, what ``model/config.json`` holds besides the sciPT
  version: the domain, the model config, the tokenizer or element table (data-derived fields
  included) and ``pretrained_on`` (the corpus files and their SHA-256); in every checkpoint;
- ``after_training``: whether the domain computes tensors once training has ended (the molecules'
  EWC Fisher, ``PretrainSetup.export_extras``);
- ``tensors``: those tensors, ``{name: tensor}``, added to ``checkpoints/last.ckpt`` (atomically)
  when pre-training ends, computed from that checkpoint's weights.

A masked objective's prediction head is exported beside the backbone, as extra tensors named
``mlm_head.<parameter>``: fine-tuning does not use it, but the pre-trained model's own likelihood of
a sequence does (:mod:`sciPT.naturalness`). Exports written before it was kept lack them.

A checkpoint that should have such tensors but does not (an intermediate one, or the last one of a
run that was stopped) exports its weights, and one line on stderr says the tensors are missing:
fine-tuning with EWC needs the export of a finished run's ``last.ckpt``. All of it is plain data
(JSON-like values and tensors), so checkpoints still load with ``torch.load(weights_only=True)``
and Lightning resumes from them as before.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from . import __version__
from .errors import UserError

CHECKPOINT_KEY = "sciPT_export"
BACKBONE_PREFIX = "backbone."
MASKED_HEAD_PREFIX = "objective.head."


def export_record(config: dict, after_training: bool) -> dict:
    """What every pre-training checkpoint keeps under :data:`CHECKPOINT_KEY` (module docstring)."""
    return {"config": config, "after_training": bool(after_training)}


def backbone_state(checkpoint: dict) -> dict:
    """The backbone's weights in a pre-training checkpoint (the ``backbone.`` entries, unprefixed)."""
    n = len(BACKBONE_PREFIX)
    return {k[n:]: v for k, v in checkpoint["state_dict"].items() if k.startswith(BACKBONE_PREFIX)}


def masked_head_state(checkpoint: dict) -> dict:
    """A masked objective's head in a pre-training checkpoint, as export tensors
    (``mlm_head.<parameter>``); ``{}`` for any other objective."""
    from .naturalness import HEAD_PREFIX

    state = checkpoint["state_dict"]
    # a masked head (LMHead) ends in a decoder; a causal one is a single projection
    if MASKED_HEAD_PREFIX + "decoder.weight" not in state:
        return {}
    n = len(MASKED_HEAD_PREFIX)
    return {HEAD_PREFIX + k[n:]: v for k, v in state.items() if k.startswith(MASKED_HEAD_PREFIX)}


def add_tensors(path: Path, checkpoint: dict, tensors: dict) -> dict:
    """Store ``tensors`` (computed after training) in the checkpoint ``path``, read as ``checkpoint``;
    written atomically (a temporary file, then a rename). Returns the updated checkpoint."""
    import torch

    from . import io

    checkpoint[CHECKPOINT_KEY]["tensors"] = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    with io.atomic_path(path) as tmp:
        torch.save(checkpoint, tmp)
    return checkpoint


def export_checkpoint(checkpoint: dict, out: str | Path, source: str | Path) -> Path:
    """Write the export of a pre-training ``checkpoint`` (read from ``source``) into ``out``."""
    from .checkpoint import export_model
    from .registry import domains

    stored = checkpoint.get(CHECKPOINT_KEY)
    if not isinstance(stored, dict) or "config" not in stored:
        raise UserError(
            f"{source}: holds no export configuration (only pre-training checkpoints "
            "written by this sciPT version or later do)"
        )
    config: dict[str, Any] = stored["config"]
    backbone = domains.get(config["domain"]).load_backbone(config)
    backbone.load_state_dict(backbone_state(checkpoint))
    tensors = stored.get("tensors")
    if tensors is None and stored.get("after_training"):
        print(
            f"{source}: no EWC Fisher (it is added to last.ckpt when pre-training ends); exported "
            "the weights only; for EWC, export the finished run's checkpoints/last.ckpt",
            file=sys.stderr,
        )
    # a 64-true run's checkpoint holds float64 weights, which the backbone (built in its configured
    # dtype) takes cast: its masked head is cast alike, so the export holds one dtype, not two
    dtype = next(backbone.parameters()).dtype
    head = {k: v.to(dtype) if v.is_floating_point() else v for k, v in masked_head_state(checkpoint).items()}
    tensors = {**(tensors or {}), **head}
    return export_model(
        out, backbone, {**config, "sciPT_version": __version__}, extra_tensors=tensors or None
    )


def export_run(args: argparse.Namespace) -> int:
    from .checkpoint import load_lightning_checkpoint
    from .run import open_run

    run, _ = open_run(args.run)
    if getattr(args, "format", "sciPT") == "hf":
        from .hf_export import export_esm

        out = export_esm(run.path, args.out or run.path / "hf", args.checkpoint)
        print(
            f"exported {out} as EsmForMaskedLM (tokenize upper-case sequences with "
            "add_special_tokens=False: the model was trained without <cls>/<eos>, and its tokenizer "
            "reads lower case as unknown tokens)",
            file=sys.stderr,
        )
        return 0
    # the latest state: last.ckpt, or the one saved at a SLURM signal if that is further on
    path = Path(args.checkpoint) if args.checkpoint else run.resume_checkpoint() or run.last_checkpoint
    if not path.is_file():
        exported = ""
        if not args.checkpoint and (run.model / "config.json").is_file():
            exported = f"; this run wrote its export itself: {run.model}"
        raise UserError(
            f"{path}: checkpoint not found (export works on runs trained with Lightning{exported})"
        )
    if args.checkpoint and not args.out and not path.resolve().is_relative_to(run.path.resolve()):
        raise UserError(
            f"--checkpoint {path}: not one of {run.path}'s checkpoints, and its export would replace "
            f"{run.model}: say where it goes with --out DIR"
        )
    out = Path(args.out or run.model)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: a file, not a directory")
    own = out.resolve() == run.model.resolve()
    if args.out and not own and out.is_dir() and any(out.iterdir()):
        # an export writes config.json and model.safetensors: into another model's folder it
        # would replace that model without a word
        raise UserError(
            f"--out {out}: exists and is not empty; give a new folder (without --out the export "
            f"replaces this run's own {run.model})"
        )
    checkpoint = load_lightning_checkpoint(path)
    out = export_checkpoint(checkpoint, out, path)
    print(f"exported step {checkpoint.get('global_step')} to {out}", file=sys.stderr)
    return 0
