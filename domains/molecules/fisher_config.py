"""The configuration of the EWC Fisher stored with a pre-trained potential (:mod:`.ewc` computes
it), apart from that module so that a preset reads it without loading the fine-tuning machinery."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sciPT.errors import ConfigError


@dataclass
class FisherConfig:
    """The Fisher diagonal stored with a pre-trained potential (module docstring).

    Attributes:
        frames: training frames the Fisher is computed on, drawn at random (0: no Fisher is stored; a
            later EWC fine-tune then refuses the model).
        kind: ``gauss-newton`` (default: the curvature of the pre-training loss, ``lambda_0 = 1``)
            or ``empirical`` (squared loss gradients, ``lambda_0 = 1 / (2 x mean loss)``).
        mode: ``per-sample`` (one frame per gradient) or ``per-batch`` (``batch_size`` frames per
            gradient, cheaper). The Gauss-Newton estimate is unbiased either way (only noisier per
            batch); the empirical one is about ``batch_size`` times smaller per batch near a
            minimum, which its ``lambda_0`` does not correct.
        batch_size: frames per gradient in ``per-batch`` mode.
        samples: Gauss-Newton only: random projections per batch (variance falls like
            ``1 / samples``; each is one double backward).
        blocks: Gauss-Newton only (an empirical Fisher is stored as its diagonal alone):
            ``radial`` also stores, for every weight of the radial MLPs,
            the Fisher's block of each output unit (the couplings of the weights that read
            different inputs into it, :func:`sciPT.finetune.gauss_newton_fisher`), which EWC then
            uses in place of their diagonal; ``all`` (default) does so for every weight matrix
            (radial MLPs, channel mixings, gates); ``none`` stores the diagonal only. ``all``
            was chosen on the forgetting benchmark's validation frames (less old-task rise at
            the same new-task error, three seeds; benchmarks/RESULTS_forgetting.md); it adds
            0.4 MB to a ``tiny`` export, 6 MB to ``small``, 70 MB to ``base``.
    """

    frames: int = 256
    kind: Literal["gauss-newton", "empirical"] = "gauss-newton"
    mode: Literal["per-sample", "per-batch"] = "per-sample"
    batch_size: int = 8
    samples: int = 1
    blocks: Literal["none", "radial", "all"] = "all"


def validate(cfg: FisherConfig) -> None:
    if cfg.frames < 0:
        raise ConfigError(f"fisher.frames: expected a number of frames >= 0, got {cfg.frames}")
    if cfg.batch_size < 1:
        raise ConfigError(f"fisher.batch_size: expected a positive integer, got {cfg.batch_size}")
    if cfg.samples < 1:
        raise ConfigError(f"fisher.samples: expected a positive integer, got {cfg.samples}")
    if cfg.kind not in ("gauss-newton", "empirical"):
        raise ConfigError(f"fisher.kind: expected 'gauss-newton' or 'empirical', got {cfg.kind!r}")
    if cfg.blocks not in ("none", "radial", "all"):
        raise ConfigError(f"fisher.blocks: expected 'none', 'radial' or 'all', got {cfg.blocks!r}")
