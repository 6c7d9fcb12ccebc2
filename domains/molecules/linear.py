"""Equivariant linear map and gated nonlinearity on channels-last features.

Features are ``x[n, k, c]``, components by channels (:mod:`.tensor_product`). Schur's lemma
allows a linear map to mix channels of the same degree only:

.. math::

    y_{d, (l m)} = \\frac{1}{\\sqrt{C_{in}}} \\sum_c W^{(l)}_{c d}\\, x_{c, (l m)} + b_d\\,[l = 0],

which is :class:`e3nn.o3.Linear` between ``C_in x (0e + 1o + ...)`` and
``C_out x (0e + 1o + ...)``. The gate (Weiler et al., NeurIPS 2018) is

.. math::  y_{c, 0} = \\mathrm{SiLU}(x_{c, 0}), \\qquad
           y_{c, (l m)} = \\sigma\\big(g^{(l)}_c\\big)\\, x_{c, (l m)} \\ (l > 0),
           \\qquad g^{(l)} = V^{(l)} x_{\\cdot, 0},

so the non-scalar features are only ever multiplied by invariant numbers; the gates :math:`g` are a
learned linear function of the same scalars.
"""

from __future__ import annotations

import torch
from torch import nn

from .tensor_product import degree_of_component


class EquivariantLinear(nn.Module):
    """Per-degree channel mixing ``(N, D, C_in) -> (N, D, C_out)``.

    Args:
        channels_in, channels_out: :math:`C_{in}`, :math:`C_{out}`.
        l_max: highest degree of the features (:math:`D = (L+1)^2`).
        bias: add a learned bias to the scalars.
    """

    def __init__(self, channels_in: int, channels_out: int, l_max: int, bias: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(l_max + 1, channels_in, channels_out))
        self.bias = nn.Parameter(torch.zeros(channels_out)) if bias else None
        self.l_max = l_max
        self.scale = channels_in**-0.5

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        blocks = [x[:, l * l : (l + 1) ** 2] @ (self.weight[l] * self.scale) for l in range(self.l_max + 1)]
        if self.bias is not None:
            blocks[0] = blocks[0] + self.bias
        return torch.cat(blocks, dim=1) if len(blocks) > 1 else blocks[0]


class Gate(nn.Module):
    """SiLU on scalars, sigmoid gates from the scalars on every ``l > 0`` irrep.

    Args:
        channels: :math:`C`, the channels of every degree (one gate per channel and degree ``l > 0``).
        l_max: highest degree :math:`L` of the features (0: SiLU only, no gates).

    Shapes:
        ``x`` (N, (L+1)^2, C) -> same.
    """

    def __init__(self, channels: int, l_max: int):
        super().__init__()
        self.l_max = l_max
        if l_max > 0:
            self.gates = nn.Linear(channels, channels * l_max)
            # gate of component k is that of its degree l(k) - 1 (components 1.. are l >= 1)
            self.register_buffer("gate_index", degree_of_component(l_max)[1:] - 1, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.l_max == 0:
            return torch.nn.functional.silu(x)
        scalars = x[:, :1]
        gates = torch.sigmoid(self.gates(scalars)).view(x.shape[0], self.l_max, -1)
        gated = x[:, 1:] * gates[:, self.gate_index]
        return torch.cat([torch.nn.functional.silu(scalars), gated], dim=1)
