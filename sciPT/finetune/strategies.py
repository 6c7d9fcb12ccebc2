"""Fine-tuning strategies: what is trained, what is frozen, and what pulls weights back.

A strategy acts on the pre-trained *backbone* only; the task's new head (and anything else the
task adds) is always trained. Seven strategies share one small interface, :class:`Strategy`:

``full``
    every weight trained.
``linear-probe``
    the whole backbone frozen; only the head learns (a fixed feature extractor).
``freeze``
    the embedding and the first ``N`` blocks after it frozen (``N = freeze_layers``), the rest
    trained.
``gradual``
    gradual unfreezing (Howard & Ruder 2018, *Universal Language Model Fine-tuning for Text
    Classification*, ULMFiT): the head alone for ``K = unfreeze_every`` optimizer steps, then one
    more layer group from the top every ``K`` steps, so at step ``k`` the top ``min(G, k // K)``
    of the ``G`` groups are trained.
``l2sp``
    L2-SP (Li, Grandvalet & Davoine 2018, *Explicit Inductive Bias for Transfer Learning with
    Convolutional Networks*): ``alpha/2 * ||w - w0||^2`` over the backbone pulls it towards its
    pre-trained starting point ``w0``; the new head keeps ordinary weight decay ``beta``
    (``train.weight_decay``, applied by AdamW).
``ewc``
    elastic weight consolidation (Kirkpatrick et al. 2017, *Overcoming catastrophic forgetting in
    neural networks*): ``lambda/2 * sum_i F_i (w_i - w0_i)^2`` with ``F`` the diagonal Fisher of
    the *pre-training* loss (:mod:`sciPT.finetune.fisher`), so the weights that mattered for
    pre-training move least.
``replay``
    full fine-tuning on batches that mix a fraction of pre-training examples in
    (:mod:`sciPT.finetune.replay` builds the data; the strategy itself is ``full``).

Any strategy can start with a head warm-up (``head_warmup = K``, :class:`HeadWarmup`): for the
first ``K`` optimizer steps the backbone is held and only the head learns, then the strategy takes
over, its own steps counted from there (gradual unfreezing thaws its first group ``unfreeze_every``
steps after the warm-up), the backbone's learning rate ramped up from zero (``head_warmup_ramp`` steps). ``K`` may
also be a fraction of the run (``0 < K < 1``, as Lightning reads a float ``val_check_interval``),
so one setting fits a run of any length, one sized by its time budget included. This is LP-FT
(Kumar et al. 2022, *Fine-Tuning can Distort Pretrained Features and Underperform
Out-of-Distribution*): a head that starts random sends large, arbitrary gradients into
the pre-trained features, which then move further than the new task needs; a head fitted first asks
of them only what it cannot do alone.

How ``l2sp`` and ``ewc`` apply their pull (``anchor``: ``loss`` or ``decoupled``), and their
penalty: :mod:`.anchors`. The interface all strategies share: :mod:`.base`. The strategies that
freeze (``linear-probe``, ``freeze``, ``gradual``): :mod:`.freezing`; the head warm-up: :mod:`.warmup`.

Freezing by layer groups uses ``backbone.layer_groups() -> list[nn.Module]``, input to output
(embedding first). The groups must partition the backbone's parameters; a backbone without the
method can still be fine-tuned with ``full``, ``linear-probe``, ``l2sp``, ``ewc`` or ``replay``.

Two ways to freeze, chosen for correctness under DDP:

- *static* freezing (``linear-probe``, ``freeze``) sets ``requires_grad=False`` once, in
  :meth:`Strategy.setup`, before the optimizer is built and before DDP wraps the model; autograd
  then stops at the frozen layers and AdamW never sees them.
- *dynamic* freezing (``gradual``) leaves ``requires_grad`` alone and instead drops the gradients of
  still-frozen groups (``p.grad = None``) just before each optimizer step, ahead of gradient
  clipping. AdamW skips a parameter whose ``.grad`` is ``None``: no update, no moment, no weight
  decay, so a frozen weight stays bit-identical. All backbone parameters sit in the optimizer from
  the start, and a group that thaws is trained from the next step, its Adam moments starting at
  zero. Toggling ``requires_grad`` mid-run would be cheaper but wrong in multi-process runs: DDP
  picks the parameters it synchronises when it wraps the model, so a group unfrozen later would be
  trained separately on each rank and the copies would drift apart.

Frozen groups also run in eval mode while frozen (dropout off, batch-norm statistics fixed): a
frozen layer is a fixed feature extractor, and its buffers stay untouched too.

Single-process and DDP runs are tested (a two-process run of gradual unfreezing ends with equal
weights on both ranks); FSDP, which shards the parameters the penalties read, is not covered.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import torch
from torch import nn

from ..errors import ConfigError
from .anchors import EWC, L2SP, AnchorMode
from .base import Strategy
from .freezing import Freeze, GradualUnfreezing, LinearProbe, layer_groups
from .warmup import HeadWarmup, fraction_steps

StrategyName = Literal["full", "linear-probe", "freeze", "gradual", "l2sp", "ewc", "replay"]


@dataclass
class FinetuneConfig:
    """How to fine-tune a pre-trained backbone (the ``finetune:`` section of a task's config).

    Attributes:
        strategy: how the backbone learns (each strategy: the sciPT.finetune.strategies docstring).
        freeze_layers: ``freeze`` keeps the embedding and the next ``freeze_layers`` layer groups
            frozen (``0`` freezes the embedding alone).
        unfreeze_every: ``gradual``: optimizer steps between unfreezing one more group.
        l2sp_alpha: ``l2sp``: strength ``alpha`` of the pull towards the pre-trained weights.
        ewc_lambda: ``ewc``: strength ``lambda``; its scale follows the Fisher's
            (:mod:`sciPT.finetune.fisher`: with the Gauss-Newton Fisher of a mean loss,
            ``lambda = 1`` weighs the old data like a new data set of the same size).
        replay_fraction: ``replay``: fraction of every training batch drawn from pre-training data.
        anchor: ``l2sp`` and ``ewc``: ``"loss"`` adds the penalty to the loss, ``"decoupled"``
            applies it as a proximal step after each optimizer step (the
            :mod:`sciPT.finetune.strategies` docstring).
        head_lr_multiplier: the head (every parameter outside the backbone) learns at
            ``train.lr * head_lr_multiplier``.
        head_warmup: optimizer steps at the start during which only the head learns
            (:class:`HeadWarmup`); 0 for none; a number strictly between 0 and 1 is that fraction
            of the run's optimizer steps.
        head_warmup_ramp: steps over which the backbone's learning rate then rises from 0 to the
            schedule's (:class:`HeadWarmup`); ``None``: as many as ``head_warmup``.
        ewc_online_every: ``ewc``: optimizer steps between estimates of the Fisher at the current
            weights, whose running mean is added to the pre-trained one
            (:class:`sciPT.finetune.online.OnlineFisher`; a task must supply the estimate: the force
            field's measures the old head on the new frames); 0: the Fisher at ``w0`` alone.
        ewc_online_frames: training frames (examples) each such estimate is taken on.
    """

    strategy: StrategyName = "full"
    freeze_layers: int = 1
    unfreeze_every: int = 50
    l2sp_alpha: float = 0.01
    ewc_lambda: float = 1.0
    replay_fraction: float = 0.25
    anchor: AnchorMode = "loss"
    head_lr_multiplier: float = 1.0
    head_warmup: int | float = 0
    head_warmup_ramp: int | None = None
    ewc_online_every: int = 0
    ewc_online_frames: int = 32


def validate(cfg: FinetuneConfig, where: str = "finetune", max_steps: int | None = None) -> None:
    """Range checks that :func:`sciPT.config.from_dict` cannot do from the types alone; with the
    run's ``max_steps``, a warm-up of as many steps (the backbone would never train: a linear probe
    under another name, which nothing in the run would say) is refused."""
    checks = [
        ("freeze_layers", cfg.freeze_layers >= 0, "a non-negative integer"),
        ("unfreeze_every", cfg.unfreeze_every >= 1, "a positive integer"),
        ("l2sp_alpha", cfg.l2sp_alpha >= 0, "a non-negative number"),
        ("ewc_lambda", cfg.ewc_lambda >= 0, "a non-negative number"),
        ("replay_fraction", 0 < cfg.replay_fraction < 1, "a fraction strictly between 0 and 1"),
        ("head_lr_multiplier", cfg.head_lr_multiplier > 0, "a positive number"),
        (
            "head_warmup",
            cfg.head_warmup >= 0 and (cfg.head_warmup < 1 or float(cfg.head_warmup).is_integer()),
            "a number of steps (a non-negative integer) or a fraction of the run (between 0 and 1)",
        ),
        (
            "head_warmup_ramp",
            cfg.head_warmup_ramp is None or cfg.head_warmup_ramp >= 0,
            "a non-negative integer",
        ),
        ("ewc_online_every", cfg.ewc_online_every >= 0, "a non-negative integer"),
        ("ewc_online_frames", cfg.ewc_online_frames >= 1, "a positive integer"),
    ]
    for key, ok, expected in checks:
        if not ok:
            raise ConfigError(f"{where}.{key}: expected {expected}, got {getattr(cfg, key)!r}")
    if max_steps is not None and cfg.head_warmup >= 1 and cfg.head_warmup >= max_steps:
        raise ConfigError(
            f"{where}.head_warmup: {int(cfg.head_warmup)} steps, at or past --max-steps {max_steps}: the "
            "backbone would never train (that is --strategy linear-probe); give fewer steps or a "
            "fraction of the run"
        )
    # a fraction rounds up to whole steps: of a short run it can be all of them
    fraction = max_steps is not None and 0 < cfg.head_warmup < 1
    warmup = fraction_steps(cfg.head_warmup, max_steps) if fraction else None
    if warmup is not None and warmup >= max_steps:
        raise ConfigError(
            f"{where}.head_warmup: {cfg.head_warmup:g} of --max-steps {max_steps} is {warmup} steps "
            "(rounded up), the whole run: the backbone would never train (that is --strategy "
            "linear-probe); give a smaller fraction or more steps"
        )
    if cfg.ewc_online_every and cfg.strategy != "ewc":
        raise ConfigError(
            f"{where}.ewc_online_every: re-estimates the Fisher of strategy 'ewc', but the strategy is "
            f"'{cfg.strategy}'"
        )


def _check_tensors(what: str, tensors: dict[str, torch.Tensor], backbone: nn.Module) -> None:
    """Every backbone parameter, and nothing else, with its own shape."""
    params = dict(backbone.named_parameters())
    for name, p in params.items():
        if name not in tensors:
            raise ConfigError(f"finetune: the {what} has no entry for backbone parameter '{name}'")
        if tuple(tensors[name].shape) != tuple(p.shape):
            raise ConfigError(
                f"finetune: the {what} entry '{name}' has shape {tuple(tensors[name].shape)}, "
                f"the backbone parameter {tuple(p.shape)}"
            )
    unknown = sorted(set(tensors) - set(params))
    if unknown:
        raise ConfigError(
            f"finetune: the {what} entry '{unknown[0]}' matches no backbone parameter "
            "(was it computed for another model?)"
        )


def build_strategy(
    cfg: FinetuneConfig,
    backbone: nn.Module,
    reference: dict[str, torch.Tensor] | None = None,
    fisher: dict[str, torch.Tensor] | None = None,
    fisher_blocks: dict[str, tuple[torch.Tensor, int]] | None = None,
) -> Strategy:
    """Check ``cfg`` against ``backbone`` and build its strategy (not yet set up).

    Call it on the freshly loaded pre-trained backbone, before any training and before the run
    directory is created: every configuration error surfaces here.

    Args:
        cfg: the fine-tuning configuration.
        backbone: the pre-trained network.
        reference: the pre-trained weights ``w0`` for ``l2sp`` and ``ewc``, by parameter name;
            by default a copy of ``backbone``'s weights as they are now, i.e. the exported weights
            when the backbone comes straight from :func:`sciPT.checkpoint.from_pretrained`.
        fisher: the diagonal Fisher for ``ewc``, by parameter name
            (:func:`sciPT.finetune.fisher.load_fisher` reads it from the export).
        fisher_blocks: ``{name: (B, input axis)}``, the Fisher's blocks of some weights for
            ``ewc``, if the export has them (:func:`sciPT.finetune.fisher.load_fisher_blocks`).
    """
    validate(cfg)
    if cfg.head_warmup:
        if cfg.strategy == "linear-probe":
            raise ConfigError(
                "finetune.head_warmup: 'linear-probe' trains the head alone for the whole run "
                "already; a warm-up is for strategies that train the backbone too"
            )
        inner = build_strategy(replace(cfg, head_warmup=0), backbone, reference, fisher, fisher_blocks)
        return HeadWarmup(inner, cfg.head_warmup, ramp=cfg.head_warmup_ramp)
    name = cfg.strategy
    if name in ("full", "replay"):
        return Strategy()
    if name == "linear-probe":
        return LinearProbe()
    if name == "freeze":
        groups = layer_groups(backbone, name)
        if cfg.freeze_layers >= len(groups):
            raise ConfigError(
                f"finetune.freeze_layers: expected 0 to {len(groups) - 1} "
                f"({type(backbone).__name__} has {len(groups)} layer groups, the embedding and "
                f"{len(groups) - 1} more), got {cfg.freeze_layers}"
            )
        return Freeze(cfg.freeze_layers)
    if name == "gradual":
        layer_groups(backbone, name)
        return GradualUnfreezing(cfg.unfreeze_every)
    if reference is None:
        reference = {n: p.detach().clone() for n, p in backbone.named_parameters()}
    _check_tensors("reference weights", reference, backbone)
    if name == "l2sp":
        return L2SP(cfg.l2sp_alpha, reference, cfg.anchor)
    if name == "ewc":
        if not fisher:
            raise ConfigError(
                "finetune.strategy: 'ewc' needs the Fisher diagonal of the pre-training loss and "
                "the pre-trained model has none (compute it with sciPT.finetune.fisher_diagonal "
                "and store it with sciPT.finetune.save_fisher, or sciPT.hf_load.save_fisher beside a "
                "Hugging Face folder)"
            )
        _check_tensors("Fisher diagonal", fisher, backbone)
        if cfg.ewc_online_every:
            raise ConfigError(
                "finetune.ewc_online_every: this task has no estimate of the Fisher at the current "
                "weights (the force-field task with a new head has one)"
            )
        return EWC(cfg.ewc_lambda, reference, fisher, cfg.anchor, fisher_blocks)
    raise ConfigError(f"finetune.strategy: unknown strategy {name!r}")
