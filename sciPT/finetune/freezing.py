"""Fine-tuning strategies that freeze the backbone, whole or by layer groups.

:class:`LinearProbe` freezes it all, :class:`Freeze` the embedding and the next ``N`` groups,
:class:`GradualUnfreezing` thaws one more group from the top every ``K`` steps; :func:`layer_groups`
checks the groups they freeze by. Why static freezing sets ``requires_grad`` and dynamic freezing
drops gradients instead: the :mod:`.strategies` docstring, which lists every strategy and builds
them (:func:`~.strategies.build_strategy`). The head warm-up, which holds the backbone for a while
before any strategy: :mod:`.warmup`.
"""

from __future__ import annotations

from torch import nn

from ..errors import ConfigError
from .base import Strategy


def layer_groups(backbone: nn.Module, strategy: str) -> list[nn.Module]:
    """``backbone.layer_groups()``, checked to partition the backbone's parameters."""
    if not callable(getattr(backbone, "layer_groups", None)):
        raise ConfigError(
            f"finetune.strategy: '{strategy}' freezes by layer groups, but "
            f"{type(backbone).__name__} has no layer_groups() method "
            "(use 'full', 'linear-probe', 'l2sp', 'ewc' or 'replay')"
        )
    groups = list(backbone.layer_groups())
    if not groups:
        raise ConfigError(f"finetune.strategy: {type(backbone).__name__}.layer_groups() is empty")
    names = {id(p): n for n, p in backbone.named_parameters()}
    seen: set[int] = set()
    for group in groups:
        ids = {id(p) for p in group.parameters()}
        shared = ids & seen
        if shared:
            raise ConfigError(
                f"finetune.strategy: {type(backbone).__name__}.layer_groups() puts parameter "
                f"'{names.get(next(iter(shared)), '?')}' in two groups"
            )
        seen |= ids
    left = [n for i, n in names.items() if i not in seen]
    if left:
        raise ConfigError(
            f"finetune.strategy: {type(backbone).__name__}.layer_groups() leaves out parameter "
            f"'{left[0]}' (every backbone parameter must belong to exactly one group)"
        )
    return groups


def _set_modes(groups: list[nn.Module], frozen: int) -> None:
    """Eval mode for the first ``frozen`` groups, train mode for the rest."""
    for i, group in enumerate(groups):
        group.train(i >= frozen)


class LinearProbe(Strategy):
    """The whole backbone frozen: only the head is trained."""

    name = "linear-probe"

    def setup(self, backbone: nn.Module) -> None:
        backbone.requires_grad_(False)

    def on_step(self, step: int, backbone: nn.Module) -> None:
        backbone.eval()


class Freeze(Strategy):
    """The embedding (group 0) and the next ``blocks`` layer groups frozen for the whole run.

    Args:
        blocks: number of groups after the embedding that stay frozen.
    """

    name = "freeze"

    def __init__(self, blocks: int):
        super().__init__()
        self.blocks = blocks
        self._groups: list[nn.Module] = []

    @property
    def frozen_groups(self) -> int:
        return self.blocks + 1

    def setup(self, backbone: nn.Module) -> None:
        self._groups = layer_groups(backbone, self.name)
        for group in self._groups[: self.frozen_groups]:
            group.requires_grad_(False)

    def on_step(self, step: int, backbone: nn.Module) -> None:
        _set_modes(self._groups, self.frozen_groups)


class GradualUnfreezing(Strategy):
    """ULMFiT's gradual unfreezing: one more layer group from the top every ``every`` steps.

    At optimizer step ``k`` the top ``min(G, k // every)`` of the ``G`` groups are trained, the
    others are frozen by dropping their gradients (see the :mod:`.strategies` docstring for why not
    ``requires_grad``).

    Args:
        every: optimizer steps between unfreezing one more group.
    """

    name = "gradual"

    def __init__(self, every: int):
        super().__init__()
        self.every = every
        self._groups: list[nn.Module] = []
        self.unfrozen = 0

    def unfrozen_at(self, step: int) -> int:
        """How many groups, counted from the top, are trained at optimizer step ``step``."""
        return min(len(self._groups), step // self.every)

    def setup(self, backbone: nn.Module) -> None:
        self._groups = layer_groups(backbone, self.name)
        self.unfrozen = 0

    def on_step(self, step: int, backbone: nn.Module) -> None:
        self.unfrozen = self.unfrozen_at(step)
        _set_modes(self._groups, len(self._groups) - self.unfrozen)

    def before_optimizer_step(self, backbone: nn.Module) -> None:
        for group in self._groups[: len(self._groups) - self.unfrozen]:
            for p in group.parameters():
                p.grad = None

    def metrics(self) -> dict[str, float]:
        return {"unfrozen_groups": float(self.unfrozen)}
