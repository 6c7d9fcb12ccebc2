"""The EWC Fisher diagonal of an energy + force pre-training, stored with the exported potential.

Elastic weight consolidation (Kirkpatrick et al., "Overcoming catastrophic forgetting in neural
networks", PNAS 114, 3521 (2017)) pulls each weight back towards its pre-trained value in proportion
to how much the pre-training loss cares about it,
:math:`\\frac{\\lambda}{2} \\sum_i F_i (w_i - w^0_i)^2`. After pre-training, :func:`fisher_hook`
computes :math:`F` on the pre-training frames so a later ``scipt finetune forcefield --strategy
ewc`` needs only the exported model.

Per sample, not per batch. :math:`F_i = \\frac{1}{M} \\sum_m (\\partial \\ell_m / \\partial w_i)^2`
over :math:`M` frames, with :math:`\\ell_m` the loss of *one frame*,

.. math::

    \\ell_m = w_E \\Big(\\frac{\\hat E_m - E_m}{N_m}\\Big)^2
            + w_F \\frac{1}{3 N_m} \\sum_{i, \\alpha} (\\hat F_{i\\alpha} - F_{i\\alpha})^2,

the pre-training objective (:class:`.objectives.EnergyForceLoss`, same weights) on a batch of one
frame. Forces are :math:`-\\partial E / \\partial \\vec r`, so every :math:`\\partial \\ell_m /
\\partial w` is a double backward. The per-sample Fisher does not depend on the pre-training batch
size, where a per-batch Fisher near a minimum shrinks like :math:`1/B`
(:mod:`sciPT.finetune.fisher`), so :math:`\\lambda` keeps one meaning across runs.

The scale of :math:`\\lambda`. Write :math:`\\ell = r^2` for a residual :math:`r` of standard
deviation :math:`s`: then :math:`F \\approx 4 s^2 (\\partial r/\\partial w)^2`, while the curvature
of the pre-training loss is :math:`H \\approx 2 (\\partial r / \\partial w)^2` (Gauss-Newton). The
penalty reproduces that curvature, :math:`\\frac{\\lambda}{2} F = \\frac{1}{2} H`, at

.. math::

    \\lambda_0 = \\frac{1}{2 \\bar\\ell},

with :math:`\\bar\\ell` the mean pre-training loss over the Fisher's frames (stored with it as
``ewc.pretraining_loss``): :math:`\\lambda = \\lambda_0` weighs the old data like a new data set of
the same size; multiply by (old frames / new frames) for the Bayesian weighting of the two sets.

Cost. One double backward per frame, on at most ``FisherConfig.frames`` training frames drawn at
random (seed ``train.seed``); with the ``tiny`` preset, 256 ethanol frames take a few seconds on one
CPU thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal

import numpy as np
import torch
from torch import nn
from torch_geometric.data import Data

from sciPT.errors import ConfigError
from sciPT.finetune import fisher_diagonal, fisher_extras

from .dataset import collate
from .objectives import EnergyForceLoss, ObjectiveConfig

PRETRAINING_LOSS = "ewc.pretraining_loss"


@dataclass
class FisherConfig:
    """The Fisher diagonal stored with a pre-trained potential (module docstring).

    Attributes:
        frames: training frames it is computed on, drawn at random (0: no Fisher is stored; a
            later EWC fine-tune then refuses the model).
        mode: ``per-sample`` (one frame per gradient: the scale the docs of ``finetune.ewc_lambda``
            assume) or ``per-batch`` (``batch_size`` frames per gradient, cheaper, about
            ``batch_size`` times smaller near a minimum).
        batch_size: frames per gradient in ``per-batch`` mode.
    """

    frames: int = 256
    mode: Literal["per-sample", "per-batch"] = "per-sample"
    batch_size: int = 8


def validate(cfg: FisherConfig) -> None:
    if cfg.frames < 0:
        raise ConfigError(f"fisher.frames: expected a number of frames >= 0, got {cfg.frames}")
    if cfg.batch_size < 1:
        raise ConfigError(f"fisher.batch_size: expected a positive integer, got {cfg.batch_size}")


class _KeepGraph(nn.Module):
    """The potential with its outputs differentiable in eval mode (the Fisher's double backward)."""

    def __init__(self, potential: nn.Module):
        super().__init__()
        self.potential = potential

    def forward(self, data, **kwargs):
        return self.potential(data, create_graph=True, **kwargs)


def fisher_batches(graphs: list[Data], cfg: FisherConfig, seed: int) -> list:
    """The batches the Fisher is averaged over: ``cfg.frames`` random graphs, one per batch in
    ``per-sample`` mode, ``cfg.batch_size`` per batch otherwise."""
    n = min(cfg.frames, len(graphs))
    chosen = np.random.default_rng(seed).choice(len(graphs), size=n, replace=False)
    picked = [graphs[int(i)] for i in np.sort(chosen)]
    size = 1 if cfg.mode == "per-sample" else cfg.batch_size
    return [collate(picked[i:i + size]) for i in range(0, n, size)]


def energy_force_fisher(potential: nn.Module, objective: ObjectiveConfig, batches: list,
                        mode: str = "per-sample", progress: bool = True
                        ) -> tuple[dict[str, torch.Tensor], float]:
    """``(F, mean loss)``: the Fisher diagonal of :class:`.objectives.EnergyForceLoss` with the
    weights of ``objective`` over ``batches``, and the mean of the losses it was computed from."""
    loss = EnergyForceLoss(objective)
    view = _KeepGraph(potential)
    losses: list[float] = []

    def loss_fn(model, batch):
        value = loss(view, batch)[0]
        losses.append(float(value.detach()))
        return value.reshape(1) if mode == "per-sample" else value

    fisher = fisher_diagonal(potential, loss_fn, batches, mode=mode, progress=progress)
    return fisher, float(np.mean(losses))


def fisher_hook(graphs: list[Data], cfg: FisherConfig, objective: ObjectiveConfig,
                seed: int) -> Callable[[nn.Module], dict[str, torch.Tensor]] | None:
    """``PretrainSetup.export_extras`` of an energy + force pre-training: ``backbone ->
    {"fisher.<param>": F, "ewc.pretraining_loss": mean loss}``; ``None`` when no Fisher is asked
    for (``frames = 0``), the objective is not energy + forces, or the frames have no labels."""
    validate(cfg)
    labelled = [g for g in graphs if "energy" in g or "forces" in g]
    if cfg.frames == 0 or objective.kind != "energy_forces" or not labelled:
        return None

    def extras(backbone: nn.Module) -> dict[str, torch.Tensor]:
        batches = fisher_batches(labelled, cfg, seed)
        fisher, mean_loss = energy_force_fisher(backbone, objective, batches, cfg.mode)
        return {**fisher_extras(fisher),
                PRETRAINING_LOSS: torch.tensor(mean_loss, dtype=torch.float64)}

    return extras


def ewc_scale(extras: dict[str, torch.Tensor]) -> float | None:
    """:math:`\\lambda_0 = 1 / (2 \\bar\\ell)` of an export's Fisher (module docstring), or
    ``None`` when the export does not record its pre-training loss."""
    value = extras.get(PRETRAINING_LOSS)
    if value is None or float(value) <= 0:
        return None
    return 0.5 / float(value)
