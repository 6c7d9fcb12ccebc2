"""Fine-tuning a pre-trained backbone without forgetting what it learnt.

A task builds the pieces in this order (every check runs before its run directory exists)::

    pre = from_pretrained(path, domain="...")            # backbone + extras (the Fisher, if any)
    strategy = build_strategy(cfg.finetune, pre.model, fisher=load_fisher(pre.extras))
    module = FinetuneModule(pre.model, head, loss_fn, strategy, cfg.train,
                            head_lr_multiplier=cfg.finetune.head_lr_multiplier)
    trainer.fit(module, train_loader, val_loader)   # replay_loader(...) for strategy 'replay'

Strategies: :mod:`.strategies` (their interface :mod:`.base`, the penalties of L2-SP and EWC
:mod:`.anchors`, the freezing ones :mod:`.freezing`, the head warm-up :mod:`.warmup`); the Fisher
diagonal for EWC (Gauss-Newton or empirical): :mod:`.fisher`, and a running estimate of it along
the way: :mod:`.online`; replayed batches: :mod:`.replay`; the LightningModule: :mod:`.module`.
"""

from typing import TYPE_CHECKING

from .anchors import EWC, L2SP, AnchorPenalty
from .base import Strategy, Wrapper
from .fisher import (
    fisher_diagonal,
    fisher_extras,
    gauss_newton_diagonal,
    gauss_newton_fisher,
    load_fisher,
    load_fisher_blocks,
    save_fisher,
)
from .freezing import Freeze, GradualUnfreezing, LinearProbe, layer_groups
from .online import OnlineFisher
from .replay import ReplayBatch, ReplayBatchSampler, ReplayDataset, ReplayStepSampler, replay_loader
from .strategies import FinetuneConfig, build_strategy, validate
from .warmup import HeadWarmup

if TYPE_CHECKING:
    from .module import FinetuneModule


def __getattr__(name: str):
    # The LightningModule is imported on first use: the strategies and their checks load without
    # Lightning, so a task can refuse a wrong setting before seconds of imports
    if name == "FinetuneModule":
        from .module import FinetuneModule

        return FinetuneModule
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "EWC",
    "L2SP",
    "AnchorPenalty",
    "FinetuneConfig",
    "FinetuneModule",
    "Freeze",
    "GradualUnfreezing",
    "HeadWarmup",
    "LinearProbe",
    "OnlineFisher",
    "ReplayBatch",
    "ReplayBatchSampler",
    "ReplayStepSampler",
    "ReplayDataset",
    "Strategy",
    "Wrapper",
    "build_strategy",
    "fisher_diagonal",
    "fisher_extras",
    "gauss_newton_diagonal",
    "gauss_newton_fisher",
    "layer_groups",
    "load_fisher",
    "load_fisher_blocks",
    "replay_loader",
    "save_fisher",
    "validate",
]
