"""EWC whose Fisher adds a running estimate, taken along the fine-tuning path, to the one at w0.

EWC (:class:`.anchors.EWC`) penalises :math:`\\frac{\\lambda}{2} (w - w^0)^\\top F_0 (w - w^0)`, a
quadratic model of the old task's loss with its curvature :math:`F_0` measured at the pre-trained
weights. Along the path fine-tuning takes, that curvature changes: a weight that did not matter at
:math:`w^0` (a unit switched off, a radial weight no old distance reached) can matter once other
weights have moved, and the model at :math:`w^0` then underestimates the old loss's rise
(``benchmarks/RESULTS_forgetting.md`` measured it several-fold). Online estimates of the curvature
(Schwarz et al., "Progress & compress", ICML 2018; Ritter et al., "Online structured Laplace
approximations for overcoming catastrophic forgetting", NeurIPS 2018) measure it again where the
weights are. Here, every ``every`` optimizer steps a task-supplied ``estimate`` measures the Fisher
:math:`\\hat F(w_{t_k})` at the current weights, and the penalty keeps its anchor :math:`w^0` with

.. math::

    F_t = F_0 + \\bar F_t, \\qquad \\bar F_t = \\frac{1}{K} \\sum_{k=1}^{K} \\hat F(w_{t_k}),

the mean of the :math:`K` estimates so far: every point visited weighs alike, so there is no decay
rate to tune. What ``estimate`` measures is the task's choice; the force-field task measures the
Gauss-Newton Fisher of the *old* head's outputs on the new training frames, whose labels it does
not need (:func:`sciPT.domains.molecules.ewc.old_head_estimator`), so no old data is used.

An estimate is only taken once the anchored weights have moved since the last one (during a head
warm-up the shared blocks are held, and the estimate would repeat the first). The estimates are
not checkpointed, like the rest of a strategy's tensors: a resumed run starts a new mean at the
weights it resumes from.

Cost: one ``estimate`` per ``every`` steps; for the force field with 32 frames, about four
training steps' worth of double backward passes.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from ..errors import ConfigError
from .anchors import EWC
from .base import Wrapper

#: ``estimate(backbone, block_axes) -> (diagonal, blocks)``: the Fisher at the backbone's current
#: weights, ``{name: F}`` for every anchored weight, and ``{name: B}`` for the weights named in
#: ``block_axes`` (``{name: input axis}``, as :func:`sciPT.finetune.gauss_newton_fisher` takes).
Estimate = Callable[[nn.Module, dict[str, int]], tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]]


class OnlineFisher(Wrapper):
    """``inner`` (an :class:`.anchors.EWC`) with its Fisher replaced by ``F_0 + mean estimate``
    (module docstring), re-estimated every ``every`` optimizer steps from step 0.

    Args:
        inner: the EWC penalty; its Fisher (diagonal, and blocks where it has them) is ``F_0``.
        estimate: the Fisher at the current weights (:data:`Estimate`).
        every: optimizer steps between estimates.

    Shapes:
        every estimate has the shape of the ``F_0`` entry it is added to.
    """

    def __init__(self, inner: EWC, estimate: Estimate, every: int):
        if not isinstance(inner, EWC) or not inner.weighted:
            raise ConfigError("finetune.ewc_online_every: a running Fisher estimate needs strategy 'ewc'")
        if every < 1:
            raise ConfigError(f"finetune.ewc_online_every: expected a positive integer, got {every}")
        super().__init__(inner)
        self.estimate = estimate
        self.every = int(every)
        self.estimates = 0
        self._due = 0  # the step at which the next estimate is due
        self._moved_at_last: float | None = None
        self._growth = 0.0
        # the penalty's own buffers hold F_0 + mean; only the means are kept beside them
        self._base_total = sum(
            float(getattr(inner, f"importance_{i}").sum()) for i in range(len(inner.param_names))
        )
        for i, _ in enumerate(inner.param_names):
            self.register_buffer(
                f"mean_{i}", torch.zeros_like(getattr(inner, f"importance_{i}")), persistent=False
            )
        for name in inner.blocked:
            i = inner.param_names.index(name)
            self.register_buffer(
                f"mean_block_{i}", torch.zeros_like(getattr(inner, f"block_{i}")), persistent=False
            )

    @torch.no_grad()
    def _moved(self, backbone: nn.Module) -> float:
        params = dict(backbone.named_parameters())
        return float(
            sum(
                (params[n] - getattr(self.inner, f"reference_{i}")).double().square().sum()
                for i, n in enumerate(self.inner.param_names)
            )
        )

    def on_step(self, step: int, backbone: nn.Module) -> None:
        if step >= self._due:
            moved = self._moved(backbone)
            if moved != self._moved_at_last:
                self.refresh(backbone)
                self._moved_at_last = moved
            self._due = (step // self.every + 1) * self.every
        self.inner.on_step(step, backbone)

    def refresh(self, backbone: nn.Module) -> None:
        """Take one estimate at the current weights and fold it into the mean."""
        diagonal, blocks = self.estimate(backbone, dict(self.inner.blocked))
        self.estimates += 1
        with torch.no_grad():
            for i, name in enumerate(self.inner.param_names):
                self._fold(i, "", diagonal, name)
                if name in self.inner.blocked:
                    self._fold(i, "block_", blocks, name)
        self._growth = self.fisher_growth()

    def _fold(self, index: int, kind: str, estimate: dict[str, torch.Tensor], name: str) -> None:
        """Fold ``estimate[name]`` into the mean of diagonal (``kind = ""``) or block
        (``"block_"``) entry ``index``, and hand ``F_0`` + mean to the penalty."""
        if name not in estimate:
            raise ConfigError(f"finetune.ewc_online_every: the Fisher estimate has no entry for '{name}'")
        mean = getattr(self, f"mean_{kind}{index}")
        step = (estimate[name].to(mean) - mean) / self.estimates
        mean.add_(step)
        getattr(self.inner, f"block_{index}" if kind else f"importance_{index}").add_(step)

    def fisher_growth(self) -> float:
        """``sum(mean estimate) / sum(F_0)`` over the diagonal: how much curvature the path added."""
        added = sum(float(getattr(self, f"mean_{i}").sum()) for i in range(len(self.inner.param_names)))
        return added / self._base_total if self._base_total > 0 else float("inf")

    def metrics(self) -> dict[str, float]:
        return {
            **self.inner.metrics(),
            "fisher_estimates": float(self.estimates),
            "fisher_growth": self._growth,
        }
