"""The EWC Fisher diagonal of an energy + force pre-training, stored with the exported potential.

Elastic weight consolidation (Kirkpatrick et al., "Overcoming catastrophic forgetting in neural
networks", PNAS 114, 3521 (2017)) pulls each weight back towards its pre-trained value in proportion
to how much the pre-training loss cares about it,
:math:`\\frac{\\lambda}{2} \\sum_i F_i (w_i - w^0_i)^2`. After pre-training, :func:`fisher_hook`
computes :math:`F` on the pre-training frames so a later ``scipt finetune forcefield --strategy
ewc`` needs only the exported model.

The per-frame loss is the pre-training objective (:class:`.objectives.EnergyForceLoss`, same
weights) on one frame of :math:`N_m` atoms,

.. math::

    \\ell_m = w_E \\Big(\\frac{\\hat E_m - E_m}{N_m}\\Big)^2
            + w_F \\frac{1}{3 N_m} \\sum_{i, \\alpha} (\\hat F_{i\\alpha} - F_{i\\alpha})^2
            = \\sum_k (o_{mk} - t_{mk})^2,

with the *whitened* outputs :math:`o_m = (\\sqrt{w_E}\\, \\hat E_m / N_m,\\;
\\sqrt{w_F / 3N_m}\\, \\hat F_{m})` and labels :math:`t_m` scaled alike (:func:`whitened_outputs`);
a frame without forces (:mod:`.data`) has no force outputs, as its loss has no force term.
Forces are :math:`-\\partial E / \\partial \\vec r`, so every derivative below is a double backward.
Two Fishers (``FisherConfig.kind``):

``gauss-newton`` (the default)
    :math:`F = \\operatorname{diag}\\big(\\frac{2}{M} \\sum_m J_m^\\top J_m\\big)`, with :math:`J_m`
    the Jacobian of :math:`o_m` in the weights: the diagonal of the Gauss-Newton Hessian of the
    mean pre-training loss, and the Fisher of the Gaussian likelihood :math:`e^{-\\ell}`. Estimated
    without forming :math:`J` (:func:`sciPT.finetune.gauss_newton_diagonal`: one random projection
    of the outputs per frame). It does not depend on the residuals, and its scale is fixed:
    :math:`\\lambda_0 = 1`, i.e. :math:`\\lambda = 1` makes the penalty the (diagonal) quadratic model
    of the increase of the mean pre-training loss, and weighs the old data like a new data set of
    the same size; multiply by (old frames / new frames) for the Bayesian weighting of the two sets.

``empirical``
    :math:`F_i = \\frac{1}{M} \\sum_m (\\partial \\ell_m / \\partial w_i)^2`, squared per-frame loss
    gradients (``mode = per-sample``; ``per-batch`` squares batch means, about ``batch_size`` times
    smaller near a minimum, see :mod:`sciPT.finetune.fisher`). With :math:`\\ell = r^2` for residuals
    of variance :math:`s^2`, :math:`F \\approx 4 s^2 (\\partial r / \\partial w)^2` for one residual,
    so it is rescaled by :math:`\\lambda_0 = 1 / (2 \\bar\\ell)` (:math:`\\bar\\ell` the mean pre-training
    loss over the Fisher's frames). That matches the Gauss-Newton scale only for one output per
    frame: a frame's gradient sums the contributions of its :math:`K = 1 + 3N` outputs, whose
    residuals are nearly independent, so the cross terms cancel and the empirical Fisher is about
    :math:`K` times smaller than the Gauss-Newton one at :math:`\\lambda_0` (measured on the tiny
    potential pre-trained on ethanol + methanol: 11 to 20 times, with per-weight values
    correlated at 0.93 to 1.00 in log scale; RESULTS_forgetting.md). Kept for comparison and for
    models exported before the Gauss-Newton Fisher existed.

The export stores ``fisher.<parameter>`` tensors, the mean pre-training loss
(``ewc.pretraining_loss``) and :math:`\\lambda_0` (``ewc.lambda_0``); :func:`ewc_scale` reads the
last (older exports, which carry the empirical Fisher and no ``ewc.lambda_0``, fall back on
:math:`1 / (2 \\bar\\ell)`).

EWC with heads (:func:`head_strategy`). Fine-tuning on a new level of theory trains a new head
(:mod:`.model`): the old heads are frozen, so the old level of theory can only be forgotten
through the shared blocks, and the penalty (EWC's, or L2-SP's) reads the shared blocks only. The
diagnosis of single-head EWC (benchmarks/RESULTS_forgetting.md) was that forgetting went through
weights whose Fisher at :math:`w^0` is near zero, first of all the readout's unused hidden units,
which the new level of theory recruited; with a head of its own, the new level of theory has its
own readout to recruit, and the old head's units stay as they were. That closes the readout route,
not the forgetting: in the same benchmark the radial MLPs of the shared blocks carried it instead
(the tensors whose restoration helped most), the quadratic model underestimated the old loss's
rise several-fold, and no strength kept both the old error down and the new one within 10% of
naive fine-tuning's; replaying old frames did.

Cost. One double backward per frame, on at most ``FisherConfig.frames`` training frames drawn at
random (seed ``train.seed``); with the ``tiny`` preset, 256 ethanol frames take a few seconds on one
CPU thread, for either kind.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace

import numpy as np
import torch
from torch import nn
from torch_geometric.data import Data

from sciPT.errors import ConfigError
from sciPT.finetune import (
    EWC,
    L2SP,
    FinetuneConfig,
    HeadWarmup,
    Strategy,
    Wrapper,
    build_strategy,
    fisher_diagonal,
    fisher_extras,
    gauss_newton_fisher,
)
from sciPT.finetune import validate as validate_finetune
from sciPT.finetune.online import Estimate, OnlineFisher

from .dataset import collate
from .fisher_config import FisherConfig, validate
from .objectives import EnergyForceLoss, ObjectiveConfig, force_atoms

PRETRAINING_LOSS = "ewc.pretraining_loss"
LAMBDA_0 = "ewc.lambda_0"


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
    return [collate(picked[i : i + size]) for i in range(0, n, size)]


def energy_force_fisher(
    potential: nn.Module,
    objective: ObjectiveConfig,
    batches: list,
    mode: str = "per-sample",
    progress: bool = True,
) -> tuple[dict[str, torch.Tensor], float]:
    """``(F, mean loss)``: the *empirical* Fisher diagonal of :class:`.objectives.EnergyForceLoss`
    with the weights of ``objective`` over ``batches``, and the mean of the losses it was computed
    from."""
    loss = EnergyForceLoss(objective)
    view = _KeepGraph(potential)
    losses: list[float] = []

    def loss_fn(model, batch):
        value = loss(view, batch)[0]
        losses.append(float(value.detach()))
        return value.reshape(1) if mode == "per-sample" else value

    fisher = fisher_diagonal(potential, loss_fn, batches, mode=mode, progress=progress)
    return fisher, float(np.mean(losses))


def _whiten(
    energy: torch.Tensor | None, forces: torch.Tensor | None, batch, objective: ObjectiveConfig
) -> torch.Tensor:
    natoms = batch.natoms.reshape(-1).to(torch.float64)
    parts = []
    if energy is not None:
        parts.append(math.sqrt(objective.energy_weight) * energy.reshape(-1) / natoms)
    if forces is not None:
        graph = (
            batch.batch
            if getattr(batch, "batch", None) is not None
            else torch.zeros(len(batch.z), dtype=torch.long, device=batch.z.device)
        )
        weight = (objective.forces_weight / (3 * natoms[graph])).sqrt()
        mask = force_atoms(batch)  # atoms of frames without forces: no force outputs
        parts.append((forces.to(weight.dtype) * weight[:, None])[mask].reshape(-1))
    return torch.cat(parts)


def whitened_outputs(
    potential: nn.Module, objective: ObjectiveConfig, batch, head: str | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(outputs, labels)`` of one batch, scaled so that frame ``m``'s loss is the squared
    distance between its entries of the two: ``sqrt(w_E) E_m / N_m`` and ``sqrt(w_F / 3N_m)
    F_{m,i,alpha}`` (module docstring). A quantity the loss does not use (zero weight, or no label
    in the batch) is left out, as :class:`.objectives.EnergyForceLoss` leaves it out, and so are
    the forces of the frames that carry none. ``head``: the head predicting (``None``: the
    potential's selected one).

    Shapes:
        both ``(G + 3N_F,)`` with energies and forces (``N_F`` atoms in frames with forces),
        float64; ``outputs`` is differentiable in the weights (forces through a double backward).
    """
    use_energy = objective.energy_weight > 0 and "energy" in batch
    use_forces = objective.forces_weight > 0 and bool(force_atoms(batch).any())
    pred = _KeepGraph(potential)(batch, forces=use_forces, head=head)
    outputs = _whiten(
        pred["energy"] if use_energy else None, pred["forces"] if use_forces else None, batch, objective
    )
    labels = _whiten(
        batch.energy if use_energy else None, batch.forces if use_forces else None, batch, objective
    )
    return outputs, labels


def energy_force_gauss_newton(
    potential: nn.Module,
    objective: ObjectiveConfig,
    batches: list,
    samples: int = 1,
    seed: int = 0,
    progress: bool = True,
) -> tuple[dict[str, torch.Tensor], float]:
    """``(F, mean loss)``: the Gauss-Newton Fisher diagonal of the per-frame loss (module
    docstring) over the frames of ``batches`` (:func:`sciPT.finetune.gauss_newton_diagonal`), and
    the mean per-frame loss. Stress, when the objective weighs it, is left out."""
    fisher, mean_loss, _ = energy_force_gauss_newton_blocks(
        potential, objective, batches, {}, samples, seed, progress
    )
    return fisher, mean_loss


def energy_force_gauss_newton_blocks(
    potential: nn.Module,
    objective: ObjectiveConfig,
    batches: list,
    blocks: dict[str, int],
    samples: int = 1,
    seed: int = 0,
    progress: bool = True,
    head: str | None = None,
) -> tuple[dict[str, torch.Tensor], float, dict[str, torch.Tensor]]:
    """``(F, mean loss, B)``: :func:`energy_force_gauss_newton` and, from the same draws, the
    blocks ``B`` of the weights named in ``blocks`` (``{name: input axis}``,
    :func:`sciPT.finetune.gauss_newton_fisher`), of the outputs of ``head`` (``None``: the
    potential's selected one)."""
    losses: list[float] = []

    def outputs_fn(model, batch):
        outputs, labels = whitened_outputs(model, objective, batch, head)
        losses.append(float((outputs.detach() - labels).square().sum()))
        return outputs, int(batch.num_graphs)

    fisher, measured = gauss_newton_fisher(
        potential, outputs_fn, batches, samples=samples, seed=seed, progress=progress, blocks=blocks
    )
    frames = sum(int(b.num_graphs) for b in batches)
    return fisher, float(np.sum(losses) / frames), measured


def block_axes(potential: nn.Module, which: str) -> dict[str, int]:
    """``{weight name: input axis}`` of the weights ``fisher.blocks`` measures by blocks: the
    radial MLPs' layers (``[inputs, units]``) for ``radial``; with ``all`` also the channel
    mixings (:class:`.linear.EquivariantLinear`, ``[degree, inputs, units]``) and linear layers
    (``[units, inputs]``)."""
    from e3nn.nn import FullyConnectedNet

    from .linear import EquivariantLinear

    if which == "none":
        return {}
    axes: dict[str, int] = {}
    for prefix, module in potential.named_modules():
        if isinstance(module, FullyConnectedNet):
            axes.update({f"{prefix}.{n}": 0 for n, p in module.named_parameters() if p.dim() == 2})
        elif which == "all" and isinstance(module, (EquivariantLinear, nn.Linear)):
            axes[f"{prefix}.weight"] = 1
    return axes


def fisher_hook(
    graphs: list[Data], cfg: FisherConfig, objective: ObjectiveConfig, seed: int
) -> Callable[[nn.Module], dict[str, torch.Tensor]] | None:
    """``PretrainSetup.export_extras`` of an energy + force pre-training: ``backbone ->
    {"fisher.<param>": F, "ewc.pretraining_loss": mean loss, "ewc.lambda_0": lambda_0}``;
    ``None`` when no Fisher is asked for (``frames = 0``), the objective is not energy + forces,
    or the frames have no labels."""
    validate(cfg)
    # the frames the loss sees: an energy-only frame says nothing when energies weigh zero
    labelled = [
        g
        for g in graphs
        if ("energy" in g and objective.energy_weight > 0)
        or (bool(force_atoms(g).any()) and objective.forces_weight > 0)
    ]
    if cfg.frames == 0 or objective.kind != "energy_forces" or not labelled:
        return None

    def extras(backbone: nn.Module) -> dict[str, torch.Tensor]:
        batches = fisher_batches(labelled, cfg, seed)
        blocks, axes = None, None
        if cfg.kind == "gauss-newton":
            axes = block_axes(backbone, cfg.blocks)
            fisher, mean_loss, blocks = energy_force_gauss_newton_blocks(
                backbone, objective, batches, axes, cfg.samples, seed
            )
            scale = 1.0
        else:
            fisher, mean_loss = energy_force_fisher(backbone, objective, batches, cfg.mode)
            scale = 0.5 / mean_loss if mean_loss > 0 else 0.0
        return {
            **fisher_extras(fisher, blocks, axes),
            PRETRAINING_LOSS: torch.tensor(mean_loss, dtype=torch.float64),
            LAMBDA_0: torch.tensor(scale, dtype=torch.float64),
        }

    return extras


def ewc_scale(extras: dict[str, torch.Tensor]) -> float | None:
    """:math:`\\lambda_0` of an export's Fisher (module docstring): 1 for the Gauss-Newton Fisher,
    :math:`1 / (2 \\bar\\ell)` for the empirical one; ``None`` when the export records neither
    (or a zero pre-training loss)."""
    value = extras.get(LAMBDA_0)
    if value is not None:
        return float(value) if float(value) > 0 else None
    value = extras.get(PRETRAINING_LOSS)
    if value is None or float(value) <= 0:
        return None
    return 0.5 / float(value)


def old_head_estimator(
    graphs: list[Data], objective: ObjectiveConfig, head: str, frames: int, seed: int, batch_size: int = 8
) -> Estimate:
    """The estimate of :class:`sciPT.finetune.online.OnlineFisher` for a potential whose new head
    learns while ``head`` keeps the old level of theory: the Gauss-Newton Fisher of ``head``'s
    whitened outputs (module docstring) at the current weights, on ``frames`` of ``graphs`` drawn
    once (seed ``seed``). The Gauss-Newton Fisher needs no labels, so the new training frames
    serve: it measures what the old head's predictions on the new molecules' atomic environments
    depend on. Each call draws its own projections (seed ``seed`` + the call's number)."""
    n = min(frames, len(graphs))
    chosen = np.sort(np.random.default_rng(seed).choice(len(graphs), size=n, replace=False))
    picked = [graphs[int(i)] for i in chosen]
    chunks = [collate(picked[i : i + batch_size]) for i in range(0, n, batch_size)]
    calls = [0]

    def estimate(backbone: nn.Module, axes: dict[str, int]):
        device = next(backbone.parameters()).device
        calls[0] += 1
        fisher, _, blocks = energy_force_gauss_newton_blocks(
            backbone,
            objective,
            [chunk.to(device) for chunk in chunks],
            axes,
            seed=seed + calls[0],
            progress=False,
            head=head,
        )
        return fisher, blocks

    return estimate


# --- fine-tuning one head of several ------------------------------------------------------------
class KeepOtherHeads(Wrapper):
    """``inner``, with the parameters of every head but the trained one frozen for the whole run
    (``requires_grad = False`` before the optimizer is built, so they stay bit-identical).

    Args:
        inner: the strategy acting on the rest (shared blocks and the trained head).
        frozen: names of the parameters to freeze.
    """

    def __init__(self, inner: Strategy, frozen: list[str]):
        super().__init__(inner)
        self.frozen = list(frozen)

    def setup(self, backbone: nn.Module) -> None:
        self.inner.setup(backbone)
        params = dict(backbone.named_parameters())
        for name in self.frozen:
            params[name].requires_grad_(False)


def head_strategy(
    cfg: FinetuneConfig,
    potential: nn.Module,
    fisher: dict[str, torch.Tensor] | None,
    head: str,
    fisher_blocks: dict[str, tuple[torch.Tensor, int]] | None = None,
    estimate: Estimate | None = None,
) -> Strategy:
    """The strategy of fine-tuning head ``head`` of a potential with several (module docstring):
    the other heads frozen; ``ewc`` and ``l2sp`` anchored on the shared blocks only, to the
    weights they have now (``ewc`` with ``fisher``'s entries for them, and ``fisher_blocks``'s
    where the export has them); the other strategies as :func:`sciPT.finetune.build_strategy`
    builds them. With ``cfg.head_warmup`` the shared blocks are held for that many steps while
    ``head``'s own parameters learn (:class:`sciPT.finetune.HeadWarmup`). With
    ``cfg.ewc_online_every``, ``ewc``'s Fisher adds a running mean of ``estimate`` taken along the
    way (:class:`sciPT.finetune.online.OnlineFisher`; :func:`old_head_estimator`)."""
    validate_finetune(cfg)
    if cfg.head_warmup:
        inner = head_strategy(replace(cfg, head_warmup=0), potential, fisher, head, fisher_blocks, estimate)
        return HeadWarmup(
            inner, cfg.head_warmup, held=potential.shared_parameter_names(), ramp=cfg.head_warmup_ramp
        )
    shared = potential.shared_parameter_names()
    params = dict(potential.named_parameters())
    reference = {n: params[n].detach().clone() for n in shared}
    if cfg.strategy == "ewc":
        missing = [n for n in shared if n not in (fisher or {})]
        if missing:
            raise ConfigError(
                "finetune.strategy: 'ewc' needs the Fisher diagonal of the pre-training loss, and "
                f"the pre-trained model has none for shared parameter '{missing[0]}'"
            )
        inner: Strategy = EWC(
            cfg.ewc_lambda, reference, {n: fisher[n] for n in shared}, cfg.anchor, fisher_blocks
        )
        if cfg.ewc_online_every:
            if estimate is None:
                raise ConfigError(
                    "finetune.ewc_online_every: no estimate of the Fisher at the current weights was given"
                )
            inner = OnlineFisher(inner, estimate, cfg.ewc_online_every)
    elif cfg.strategy == "l2sp":
        inner = L2SP(cfg.l2sp_alpha, reference, cfg.anchor)
    else:
        inner = build_strategy(cfg, potential)
    frozen = [n for h in potential.head_names if h != head for n in potential.head_parameter_names(h)]
    return KeepOtherHeads(inner, frozen)
