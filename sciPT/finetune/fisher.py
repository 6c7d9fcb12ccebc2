"""Diagonal Fisher information of a loss (empirical or Gauss-Newton), and its storage beside
exported weights.

EWC (Kirkpatrick et al. 2017) needs, for every weight ``w_i``, how much the *pre-training* loss
cares about it. Two estimates of that curvature are provided.

The Gauss-Newton ("true") Fisher, :func:`gauss_newton_diagonal`: for a weighted squared-error loss
``l_n = sum_k (o_nk - t_nk)^2`` of whitened outputs ``o_n``, ``F = diag(2/N sum_n J_n^T J_n)``
with ``J_n`` the Jacobian of ``o_n`` in the weights: the diagonal of the Gauss-Newton Hessian of the
mean loss, equal to the Fisher of the Gaussian likelihood ``exp(-l)``. It depends on the model's
sensitivity, not on its residuals, and ``strength = 1`` makes EWC's penalty the diagonal quadratic
model of the increase of the mean pre-training loss. Estimated with random projections of the
outputs, one backward pass per batch, unbiased at any batch size.

The empirical Fisher, :func:`fisher_diagonal`, from squared loss gradients:

- ``per-sample``: ``F_i = 1/N * sum_n (d l_n / d w_i)^2`` over the ``N`` examples, with ``l_n``
  one example's loss. This is the usual empirical Fisher; it costs one backward pass per example.
- ``per-batch``:  ``F_i = 1/M * sum_b (d L_b / d w_i)^2`` over the ``M`` batches, with
  ``L_b = 1/B * sum_{n in b} l_n`` the batch's mean loss. One backward pass per batch.

They coincide for batches of one example, and otherwise measure different things: the square of a
batch mean is ``(mean gradient)^2 + (gradient variance) / B``. Near a minimum of the pre-training
loss the mean gradient is close to zero, so the per-batch Fisher is about ``B`` times *smaller*
than the per-sample one, and ``ewc_lambda`` must be about ``B`` times larger for the same pull
(at an exact minimum of the full-data loss, one batch holding all the data gives ``F = 0``).
The empirical Fisher also scales with the residuals: where the model fits well it is small, and
for an example with ``K`` outputs of independent residuals the cross terms of its squared gradient
cancel, leaving it about ``K`` times below the Gauss-Newton one after the usual rescaling by the
residual variance.

Choosing ``lambda``: EWC approximates the pre-training posterior by a Gaussian of precision
``N_pre * F``. Added to a *mean* task loss over ``N_task`` examples, that is
``lambda ~ N_pre / N_task`` for the Gauss-Newton Fisher of a mean-normalised loss; in practice one
scans ``lambda`` over decades. The Fisher is that of whatever loss is given, so rescaling the loss
by ``s`` rescales the Gauss-Newton ``F`` by ``s`` and the empirical one by ``s^2``.

The Fisher is stored with the exported model, as extra tensors ``fisher.<parameter name>`` in
``model.safetensors``; the reference weights ``w0`` are the exported weights themselves, so a later
fine-tune needs nothing but the export.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Literal

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn
from tqdm.auto import tqdm

from .. import io
from ..checkpoint import WEIGHTS_NAME
from ..errors import DataError, UserError

PREFIX = "fisher."
BLOCK_PREFIX = "fisher_blocks."
AXIS_PREFIX = "fisher_block_axis."


def fisher_diagonal(
    model: nn.Module,
    loss_fn: Callable[[nn.Module, Any], torch.Tensor],
    batches: Iterable,
    mode: Literal["per-sample", "per-batch"] = "per-batch",
    max_batches: int | None = None,
    progress: bool = True,
) -> dict[str, torch.Tensor]:
    """The diagonal empirical Fisher of ``loss_fn`` for every trainable parameter of ``model``.

    The model runs in eval mode (deterministic dropout, fixed batch-norm statistics) and is put
    back in its former mode afterwards; parameters' ``.grad`` are left untouched.

    ``loss_fn`` may differentiate inside itself, e.g. forces ``-dE/dx`` computed with
    ``torch.autograd.grad(..., create_graph=True)``: the Fisher then differentiates through that
    gradient (a double backward), which is exact as long as the inner call keeps its graph.

    Args:
        model: the network (its trainable parameters are the ones measured).
        loss_fn: ``loss_fn(model, batch)``: a scalar (``per-batch`` only: the batch's mean loss)
            or a vector of shape ``(B,)`` holding one loss per example (either mode; ``per-batch``
            averages it). Batches must be on the model's device, or ``loss_fn`` moves them.
        batches: an iterable of batches, e.g. a DataLoader over the pre-training data.
        mode: ``per-sample`` or ``per-batch``, as in the module docstring.
        max_batches: stop after this many batches.
        progress: show a progress bar.

    Returns:
        ``{parameter name: F}``, each ``F`` with its parameter's shape, dtype and device.
    """
    if mode not in ("per-sample", "per-batch"):
        raise ValueError(f"fisher_diagonal: mode must be 'per-sample' or 'per-batch', got {mode!r}")
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if not named:
        raise ValueError("fisher_diagonal: the model has no trainable parameters")
    names, params = zip(*named)
    sums = [torch.zeros_like(p) for p in params]
    count = 0

    def accumulate(loss: torch.Tensor, retain: bool) -> None:
        grads = torch.autograd.grad(loss, params, retain_graph=retain, allow_unused=True)
        for total, g in zip(sums, grads):
            if g is not None:  # a parameter the loss does not reach has zero Fisher
                total.add_(g.detach().square())

    total_batches = max_batches
    if total_batches is None and hasattr(batches, "__len__"):
        total_batches = len(batches)
    was_training = model.training
    model.eval()
    try:
        for i, batch in enumerate(tqdm(batches, total=total_batches, desc="Fisher", disable=not progress)):
            if max_batches is not None and i >= max_batches:
                break
            losses = loss_fn(model, batch)
            if mode == "per-batch":
                accumulate(losses.mean() if losses.ndim else losses, retain=False)
                count += 1
                continue
            if losses.ndim != 1:
                raise ValueError(
                    "fisher_diagonal: mode 'per-sample' needs loss_fn to return one loss per "
                    f"example, shape (B,), got shape {tuple(losses.shape)}"
                )
            for k in range(len(losses)):
                accumulate(losses[k], retain=k < len(losses) - 1)
            count += len(losses)
    finally:
        model.train(was_training)
    if count == 0:
        raise DataError("Fisher diagonal: the data yielded no examples")
    return {n: s / count for n, s in zip(names, sums)}


def gauss_newton_diagonal(
    model: nn.Module,
    outputs_fn: Callable[[nn.Module, Any], tuple[torch.Tensor, int]],
    batches: Iterable,
    samples: int = 1,
    seed: int = 0,
    max_batches: int | None = None,
    progress: bool = True,
) -> dict[str, torch.Tensor]:
    """The diagonal Gauss-Newton ("true") Fisher of a weighted squared-error loss.

    For a loss whose value on example ``n`` is ``l_n = sum_k (o_nk - t_nk)^2``, with ``o_n`` the
    model's *whitened* outputs (each output multiplied by the square root of its loss weight) and
    ``t_n`` fixed targets, this returns

        ``F_i = 2/N * sum_n sum_k (d o_nk / d w_i)^2 = diag(2/N * sum_n J_n^T J_n)_i``,

    the diagonal of the Gauss-Newton Hessian of the mean loss ``1/N sum_n l_n``, which is also the
    Fisher information of the Gaussian likelihood ``exp(-l_n)``. Unlike the empirical Fisher
    (:func:`fisher_diagonal`) it does not involve the residuals ``o - t``: a weight the outputs
    depend on strongly has a large ``F`` even where the model fits its data perfectly. With
    ``strength = 1``, EWC's penalty ``1/2 sum_i F_i (w_i - w0_i)^2`` is the quadratic model of
    the increase of the mean pre-training loss (diagonal part only).

    The Jacobian is never formed. For ``eps ~ N(0, I)`` over a batch's outputs,
    ``g = d(eps . o)/dw = J^T eps`` has ``E[g_i^2] = (J^T J)_ii``, and since the draws of
    different examples are independent the cross terms vanish in expectation: one backward pass
    per batch (a double backward if ``outputs_fn`` differentiates inside itself, e.g. forces)
    gives an unbiased estimate of the batch's sum, whatever the batch size.

    Args:
        model: the network (its trainable parameters are measured); run in eval mode and put back.
        outputs_fn: ``outputs_fn(model, batch) -> (outputs, examples)``: the batch's whitened
            outputs, any shape, differentiable with respect to the parameters, and the number of
            examples they belong to.
        batches: an iterable of batches.
        samples: independent ``eps`` draws per batch (the estimate's variance falls like
            ``1/samples``; each draw is one backward pass).
        seed: seed of the draws (the estimate is deterministic for a given seed).
        max_batches: stop after this many batches.
        progress: show a progress bar.

    Returns:
        ``{parameter name: F}``, each ``F`` with its parameter's shape, dtype and device.
    """
    return gauss_newton_fisher(model, outputs_fn, batches, samples, seed, max_batches, progress)[0]


def gauss_newton_fisher(
    model: nn.Module,
    outputs_fn: Callable[[nn.Module, Any], tuple[torch.Tensor, int]],
    batches: Iterable,
    samples: int = 1,
    seed: int = 0,
    max_batches: int | None = None,
    progress: bool = True,
    blocks: dict[str, int] | None = None,
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """``(diagonal, blocks)``: :func:`gauss_newton_diagonal`, and for the weights named in
    ``blocks`` the Gauss-Newton Fisher's block of each output unit, from the same draws.

    ``blocks`` maps a weight's name to its *input* axis: the axis along which one unit reads
    different inputs (0 for e3nn's ``FullyConnectedNet`` layers, ``[inputs, units]``; 1 for
    ``nn.Linear``, ``[units, inputs]``). For each index of the other axes (a unit) the block is
    ``2/N * sum_n (J_n^T J_n)`` restricted to that unit's inputs: the couplings between the weights
    that read different inputs into the same unit. Its diagonal is the diagonal Fisher of those
    weights. A diagonal penalty sees each weight alone, so it cannot tell a move that changes the
    unit's output on the old data from one that only changes it on inputs the old data never
    showed; the block can (block-diagonal Laplace approximations: Ritter et al., "Online structured
    Laplace approximations for overcoming catastrophic forgetting", NeurIPS 2018).

    Args:
        blocks: ``{parameter name: input axis}`` of trainable parameters of two or more axes.
        (the rest as :func:`gauss_newton_diagonal`)

    Returns:
        ``({parameter name: F}, {parameter name: B})``, ``B`` of shape ``W.shape`` without the
        input axis, then ``[inputs, inputs]``.
    """
    if samples < 1:
        raise ValueError(f"gauss_newton_diagonal: samples must be >= 1, got {samples}")
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if not named:
        raise ValueError("gauss_newton_diagonal: the model has no trainable parameters")
    names, params = zip(*named)
    by_name = dict(named)
    blocks = dict(blocks or {})
    for name, axis in blocks.items():
        if name not in by_name or by_name[name].dim() < 2 or not 0 <= axis < by_name[name].dim():
            raise ValueError(
                f"gauss_newton_fisher: '{name}' is not a trainable parameter of two or more axes "
                f"with an input axis {axis}"
            )
    sums = [torch.zeros_like(p) for p in params]
    block_sums = {}
    for name, axis in blocks.items():
        shape = by_name[name].movedim(axis, -1).shape
        block_sums[name] = by_name[name].new_zeros(*shape, shape[-1])
    generator = torch.Generator().manual_seed(seed)
    count = 0
    total_batches = max_batches
    if total_batches is None and hasattr(batches, "__len__"):
        total_batches = len(batches)
    was_training = model.training
    model.eval()
    try:
        for i, batch in enumerate(
            tqdm(batches, total=total_batches, desc="Fisher (Gauss-Newton)", disable=not progress)
        ):
            if max_batches is not None and i >= max_batches:
                break
            outputs, examples = outputs_fn(model, batch)
            for k in range(samples):
                # drawn on the CPU so the estimate does not depend on the device
                eps = torch.randn(outputs.shape, generator=generator, dtype=outputs.dtype)
                projected = (outputs * eps.to(outputs.device)).sum()
                grads = torch.autograd.grad(
                    projected, params, retain_graph=k < samples - 1, allow_unused=True
                )
                for name, total, g in zip(names, sums, grads):
                    if g is None:
                        continue
                    g = g.detach()
                    total.add_(g.square(), alpha=2.0 / samples)
                    if name in block_sums:
                        unit = g.movedim(blocks[name], -1)
                        block_sums[name].add_(
                            torch.einsum("...a,...b->...ab", unit, unit), alpha=2.0 / samples
                        )
            count += int(examples)
    finally:
        model.train(was_training)
    if count == 0:
        raise DataError("Fisher diagonal: the data yielded no examples")
    return {n: s / count for n, s in zip(names, sums)}, {n: b / count for n, b in block_sums.items()}


def fisher_extras(
    fisher: dict[str, torch.Tensor],
    blocks: dict[str, torch.Tensor] | None = None,
    axes: dict[str, int] | None = None,
) -> dict[str, torch.Tensor]:
    """``{"fisher.<name>": F, "fisher_blocks.<name>": B, "fisher_block_axis.<name>": axis}``: the
    ``extra_tensors`` of :func:`sciPT.checkpoint.export_model` (``axes``: each block's input axis,
    as given to :func:`gauss_newton_fisher`)."""
    blocks = blocks or {}
    if set(blocks) != set(axes or {}):
        raise ValueError("fisher_extras: every block needs its input axis, and only blocks have one")
    return {
        **{PREFIX + name: value for name, value in fisher.items()},
        **{BLOCK_PREFIX + name: value for name, value in blocks.items()},
        **{AXIS_PREFIX + name: torch.tensor(axis) for name, axis in (axes or {}).items()},
    }


def load_fisher(extras: dict[str, torch.Tensor]) -> dict[str, torch.Tensor] | None:
    """The Fisher stored with an export (``Pretrained.extras``), or ``None`` if it has none."""
    fisher = {k[len(PREFIX) :]: v for k, v in extras.items() if k.startswith(PREFIX)}
    return fisher or None


def load_fisher_blocks(extras: dict[str, torch.Tensor]) -> dict[str, tuple[torch.Tensor, int]] | None:
    """``{name: (B, input axis)}``: the blocks of :func:`gauss_newton_fisher` stored with an export,
    or ``None``."""
    blocks = {
        k[len(BLOCK_PREFIX) :]: (v, int(extras[AXIS_PREFIX + k[len(BLOCK_PREFIX) :]]))
        for k, v in extras.items()
        if k.startswith(BLOCK_PREFIX)
    }
    return blocks or None


def save_fisher(model_dir: str | Path, fisher: dict[str, torch.Tensor]) -> Path:
    """Add (or replace) the Fisher in an existing export's ``model.safetensors``, atomically.

    Args:
        model_dir: the export folder (``RUN/model``), as written by
            :func:`sciPT.checkpoint.export_model`.
        fisher: ``{parameter name: F}``; every name must be a weight of the export, same shape.
    """
    path = Path(model_dir) / WEIGHTS_NAME
    if not path.is_file():
        raise UserError(f"{path}: no exported weights to store the Fisher with")
    with safe_open(str(path), framework="pt") as f:
        metadata = f.metadata()
        # the Fisher is replaced whole: blocks measured with the old diagonal go with it
        tensors = {
            k: f.get_tensor(k) for k in f.keys() if not k.startswith((PREFIX, BLOCK_PREFIX, AXIS_PREFIX))
        }
    for name, value in fisher.items():
        if name not in tensors:
            raise UserError(f"{path}: Fisher entry '{name}' matches no weight of the model")
        if tuple(value.shape) != tuple(tensors[name].shape):
            raise UserError(
                f"{path}: Fisher entry '{name}' has shape {tuple(value.shape)}, the weight "
                f"{tuple(tensors[name].shape)}"
            )
    tensors.update({k: v.detach().to("cpu").contiguous() for k, v in fisher_extras(fisher).items()})
    with io.atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)
    return path
