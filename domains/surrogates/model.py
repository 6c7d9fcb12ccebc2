"""The surrogate model: a power law in log space, its parameter distribution, an optional correction.

.. math::

    \\log Nu = \\underbrace{\\log C + a \\log Re + b \\log Pr + \\sum_i c_i \\log g_i}_{x^\\top\\theta}
    \\; + \\; \\underbrace{\\psi(x)^\\top w}_{\\text{correction (optional)}}

The law's structure is the physics (a product of powers of the dimensionless groups); the model
stores a *distribution* over its parameters, not a point: before calibration the pre-trained prior,
after it the posterior, as a mixture over a grid of noise levels (:class:`.objectives.Posterior`).

**Correction that vanishes where the law holds.** ``psi`` is a one-hidden-layer network with a
fixed random hidden layer (random tanh features of the standardised log variables, seeded) whose
features are projected off the law's own features on the calibration points:

.. math::

    \\psi(x) = \\tanh(W z(x) + c) - B^\\top x,\\qquad B = (X^\\top X)^{-1} X^\\top \\tanh(W Z + c),

so that ``Psi^T X = 0`` on those points. Only the output weights ``w`` are fitted, jointly with
``theta`` in the same Bayesian linear model (``w ~ N(0, tau^2 I / H)``, ``tau`` by evidence). Since
``Psi`` is orthogonal to every power law, the posterior precision is block-diagonal and the
posterior mean of ``w`` is ``(Psi^T Psi / sigma^2 + H / tau^2)^{-1} Psi^T y / sigma^2``: if the
points follow a power law exactly, ``Psi^T y = 0`` and the correction is exactly zero, everywhere,
for every noise level and width. The correction can bend the law between the points but never
change its exponents, and it is off unless asked for (it needs more points than a few).

Shapes: features ``X`` are ``(n, p)`` with ``p = 3 + len(groups)``; ``H`` random features.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .objectives import Posterior

BASE_NAMES = ("log_C", "Re", "Pr")


class RandomFeatureCorrection(nn.Module):
    """``psi(x) = tanh(W z(x) + c) - B^T x``: random features orthogonal to the law (see module doc).

    Args:
        n_features: number of log features ``p`` (intercept included).
        width: hidden width ``H``.

    Shapes:
        :meth:`features`: ``X`` ``(n, p)``, first column the intercept -> ``(n, H)``. Buffers
        (float64): ``loc``, ``scale`` ``(p - 1,)``, ``weight`` ``(H, p - 1)``, ``bias`` ``(H,)``,
        ``projection`` ``(p, H)``.
    """

    def __init__(self, n_features: int, width: int):
        super().__init__()
        d = n_features - 1
        self.register_buffer("loc", torch.zeros(d, dtype=torch.float64))
        self.register_buffer("scale", torch.ones(d, dtype=torch.float64))
        self.register_buffer("weight", torch.zeros(width, d, dtype=torch.float64))
        self.register_buffer("bias", torch.zeros(width, dtype=torch.float64))
        self.register_buffer("projection", torch.zeros(n_features, width, dtype=torch.float64))

    @classmethod
    def on_points(cls, X: np.ndarray, width: int, seed: int = 0) -> RandomFeatureCorrection:
        """Draw the hidden layer and project it off the law's features on the points ``X``."""
        X = np.asarray(X, float)
        n, p = X.shape
        module = cls(p, width)
        rng = np.random.default_rng(seed)
        Z = X[:, 1:]
        loc, scale = Z.mean(0), Z.std(0)
        scale = np.where(scale > 1e-9, scale, 1.0)
        module.loc.copy_(torch.from_numpy(loc))
        module.scale.copy_(torch.from_numpy(scale))
        module.weight.copy_(torch.from_numpy(rng.standard_normal((width, p - 1))))
        module.bias.copy_(torch.from_numpy(rng.uniform(-1.5, 1.5, width)))
        hidden = module._hidden(X)
        proj, *_ = np.linalg.lstsq(X, hidden, rcond=None)
        module.projection.copy_(torch.from_numpy(proj))
        return module

    def _hidden(self, X: np.ndarray) -> np.ndarray:
        z = (X[:, 1:] - self.loc.numpy()) / self.scale.numpy()
        return np.tanh(z @ self.weight.numpy().T + self.bias.numpy())

    def features(self, X: np.ndarray) -> np.ndarray:
        """``psi(X)``, ``(n, H)``."""
        X = np.atleast_2d(np.asarray(X, float))
        return self._hidden(X) - X @ self.projection.numpy()


class PowerLaw(nn.Module):
    """A physics-structured surrogate: the law, its parameter distribution, an optional correction.

    Args:
        groups: names of the geometric ratios after ``Re`` and ``Pr``.
        n_sigma: number of components of the stored distribution (pairs of noise and prior-width values).
        correction_width: hidden width of the correction (0: none).

    Buffers (float64): ``sigma`` ``(J,)``, ``weights`` ``(J,)``, ``means`` ``(J, q)``, ``covs``
    ``(J, q, q)`` with ``q = p + correction_width``.

    Shapes:
        ``features`` ``(n, p)``, ``p = 3 + len(groups)`` -> mean ``log Nu`` ``(n,)``, float64 on
        the CPU (no gradient); :meth:`design` ``(n, p) -> (n, q)``.
    """

    def __init__(
        self, groups: list[str] | tuple[str, ...] = (), n_sigma: int = 72, correction_width: int = 0
    ):
        super().__init__()
        self.groups = list(groups)
        p = len(BASE_NAMES) + len(self.groups)
        q = p + correction_width
        self.register_buffer("sigma", torch.zeros(n_sigma, dtype=torch.float64))
        self.register_buffer("weights", torch.zeros(n_sigma, dtype=torch.float64))
        self.register_buffer("means", torch.zeros(n_sigma, q, dtype=torch.float64))
        self.register_buffer("covs", torch.zeros(n_sigma, q, q, dtype=torch.float64))
        self.correction = RandomFeatureCorrection(p, correction_width) if correction_width else None
        # the export's interval recalibration (its config.json, not a weight): set by the domain's
        # loader, so a model loaded in Python gives the intervals `scipt predict` writes
        self.level_map: np.ndarray | None = None

    @property
    def names(self) -> list[str]:
        return [*BASE_NAMES, *self.groups]

    def export_config(self) -> dict:
        return {
            "groups": self.groups,
            "n_sigma": int(self.sigma.shape[0]),
            "correction_width": 0 if self.correction is None else int(self.correction.bias.shape[0]),
        }

    @classmethod
    def from_posterior(
        cls,
        posterior: Posterior,
        groups: list[str] | tuple[str, ...] = (),
        correction: RandomFeatureCorrection | None = None,
    ) -> PowerLaw:
        width = 0 if correction is None else correction.bias.shape[0]
        model = cls(groups, len(posterior.sigma), width)
        if correction is not None:
            model.correction = correction
        for name in ("sigma", "weights", "means", "covs"):
            getattr(model, name).copy_(torch.from_numpy(np.asarray(getattr(posterior, name), float)))
        return model

    def design(self, X: np.ndarray) -> np.ndarray:
        """Law features, with the correction's features appended when there is one."""
        X = np.atleast_2d(np.asarray(X, float))
        return X if self.correction is None else np.hstack([X, self.correction.features(X)])

    def posterior(self) -> Posterior:
        """The stored distribution over ``(theta, w)`` as a :class:`Posterior`, with the export's
        interval recalibration (:attr:`level_map`) where it has one."""
        names = self.names + [f"w{j}" for j in range(self.means.shape[1] - len(self.names))]
        return Posterior(
            names,
            self.sigma.numpy().copy(),
            self.weights.numpy().copy(),
            self.means.numpy().copy(),
            self.covs.numpy().copy(),
            level_map=None if self.level_map is None else self.level_map.copy(),
        )

    @property
    def theta(self) -> np.ndarray:
        """Mean of the law's parameters ``(log C, a, b, c...)``."""
        return (self.weights @ self.means)[: len(self.names)].numpy()

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Mean ``log Nu`` for log features ``(n, p)`` (``[1, log Re, log Pr, log g...]``)."""
        design = torch.from_numpy(self.design(features.detach().to(torch.float64).cpu().numpy()))
        return design @ (self.weights @ self.means)
