"""Channel-wise Clebsch-Gordan tensor product, fused into three tensor operations.

Features live in a *channels-last* layout: ``x[n, k, c]`` with ``k = l^2 + l + m`` running over
the components of the irreps :math:`l = 0 .. L`, each with its natural parity :math:`(-1)^l`
(``0e + 1o + 2e + ...``) in e3nn's real basis, and ``c`` one of ``C`` channels. Every channel holds
the same irreps, so one ``(D, C)`` block describes all of them; :func:`to_e3nn` gives the
equivalent :class:`e3nn.o3.Irreps` layout. Channels last keeps the innermost, contiguous
dimension long, which the elementwise kernels of a CPU need to vectorise.

For an edge with spherical harmonics :math:`Y(\\hat r)` and per-edge, per-channel path weights
:math:`w_{c,p}` (from the radial MLP), the product is

.. math::

    y_{c, (l_3 m_3)} = \\sum_{p = (l_1, l_2, l_3)} \\alpha_p\\, w_{c,p}
        \\sum_{m_1, m_2} C^{l_3 m_3}_{l_1 m_1, l_2 m_2}\\, x_{c, (l_1 m_1)}\\, Y_{(l_2 m_2)},
    \\qquad \\alpha_p = \\sqrt{\\frac{2 l_3 + 1}{n_{l_3}}},

over every path allowed by the triangle rule and parity (:math:`l_1 + l_2 + l_3` even), with
:math:`C` e3nn's Wigner 3j symbols (:func:`e3nn.o3.wigner_3j`) and :math:`n_{l_3}` the number of
paths into :math:`l_3`. This is exactly :class:`e3nn.o3.TensorProduct` in ``"uvu"`` mode with
per-edge weights, component irrep normalisation and element path normalisation (the tests check it
against e3nn). e3nn's generated code evaluates every path separately; here the Clebsch-Gordan
coefficients are first contracted with :math:`Y` into per-edge coupling matrices
:math:`M_{e,p} \\in \\mathbb{R}^{D_{in} \\times D_{out}}` (one matrix product with a constant),
mixed by the path weights into one matrix :math:`A_{e,c} = \\sum_p w_{c,p} M_{e,p}` per edge and
channel (one batched matrix product), and applied to the features (one broadcast product and
sum). The zero blocks of :math:`M` cost less than the per-path kernels and autograd nodes they
replace for the small :math:`L` of interatomic potentials: with this product, a whole
``l_max = 1`` potential ran energy + forces of one ethanol molecule in half the time it took with
e3nn's ``TensorProduct`` and ``Gate`` (measured while choosing the design). For :math:`L \\ge 2`
on large systems the dense blocks start to dominate (see the presets).
"""

from __future__ import annotations

import math

import torch
from e3nn import o3
from torch import nn


def dim(l_max: int) -> int:
    """Components per channel of ``0e + 1o + ... + l_max``: :math:`(L+1)^2`."""
    return (l_max + 1) ** 2


def degree_of_component(l_max: int) -> torch.Tensor:
    """``l`` of each component ``k`` (shape ``(L+1)^2``)."""
    return torch.tensor([l for l in range(l_max + 1) for _ in range(2 * l + 1)])


def irreps(channels: int, l_max: int) -> o3.Irreps:
    """The e3nn irreps of a ``(channels, l_max)`` feature: ``C x 0e + C x 1o + ...``."""
    return o3.Irreps([(channels, (l, (-1) ** l)) for l in range(l_max + 1)])


def to_e3nn(x: torch.Tensor, l_max: int) -> torch.Tensor:
    """``(N, D, C)`` channels-last features -> e3nn's ``(N, irreps.dim)`` layout."""
    blocks = [x[:, l * l:(l + 1) ** 2].transpose(1, 2).reshape(x.shape[0], -1)
              for l in range(l_max + 1)]
    return torch.cat(blocks, dim=1)


def from_e3nn(x: torch.Tensor, channels: int, l_max: int) -> torch.Tensor:
    """Inverse of :func:`to_e3nn`."""
    blocks, start = [], 0
    for l in range(l_max + 1):
        size = channels * (2 * l + 1)
        blocks.append(x[:, start:start + size].reshape(x.shape[0], channels, 2 * l + 1))
        start += size
    return torch.cat(blocks, dim=2).transpose(1, 2)


def paths(l_in: int, l_sh: int, l_out: int) -> list[tuple[int, int, int]]:
    """Allowed ``(l1, l2, l3)``: triangle rule and parity ``(-1)^(l1 + l2) = (-1)^l3``."""
    return [(l1, l2, l3)
            for l1 in range(l_in + 1) for l2 in range(l_sh + 1)
            for l3 in range(abs(l1 - l2), min(l1 + l2, l_out) + 1)
            if (l1 + l2 + l3) % 2 == 0]


class ChannelwiseTensorProduct(nn.Module):
    """Fused ``uvu`` Clebsch-Gordan product of channel features with edge spherical harmonics.

    Args:
        l_in: highest degree of the input features.
        l_sh: highest degree of the spherical harmonics.
        l_out: highest degree kept in the output; paths beyond it are never computed.

    Attributes:
        num_paths: :math:`P`, weights needed per channel and edge.

    Shapes:
        ``x`` (E, (l_in+1)^2, C), ``sh`` (E, (l_sh+1)^2), ``weight`` (E, P, C)
        -> (E, (l_out+1)^2, C)
    """

    def __init__(self, l_in: int, l_sh: int, l_out: int):
        super().__init__()
        self.l_in, self.l_sh, self.l_out = l_in, l_sh, l_out
        self.paths = paths(l_in, l_sh, l_out)
        self.num_paths = len(self.paths)
        into = {l3: sum(1 for *_, l in self.paths if l == l3) for l3 in range(l_out + 1)}
        coupling = torch.zeros(self.num_paths, dim(l_in), dim(l_sh), dim(l_out), dtype=torch.float64)
        for p, (l1, l2, l3) in enumerate(self.paths):
            alpha = math.sqrt((2 * l3 + 1) / into[l3])
            coupling[p, l1 * l1:(l1 + 1) ** 2, l2 * l2:(l2 + 1) ** 2, l3 * l3:(l3 + 1) ** 2] = \
                alpha * o3.wigner_3j(l1, l2, l3, dtype=torch.float64)
        # (Dsh, Din * Dout * P): contracted with Y in one matmul per forward; computed in float64,
        # stored in the default dtype (a float64 model is built under a float64 default)
        coupling = coupling.permute(2, 1, 3, 0).reshape(dim(l_sh), -1)
        self.register_buffer("coupling", coupling.to(torch.get_default_dtype()))

    def forward(self, x: torch.Tensor, sh: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        n_edges, d_in, channels = x.shape
        d_out = dim(self.l_out)
        coupling = (sh @ self.coupling).view(n_edges, d_in * d_out, self.num_paths)
        mixed = torch.bmm(coupling, weight).view(n_edges, d_in, d_out, channels)
        return (x.unsqueeze(2) * mixed).sum(dim=1)

    def e3nn_equivalent(self, channels: int) -> o3.TensorProduct:
        """The :class:`e3nn.o3.TensorProduct` this module computes (for tests and readers);
        its weight vector per edge is ``weight.reshape(E, -1)``."""
        irreps_in, irreps_out = irreps(channels, self.l_in), irreps(channels, self.l_out)
        instructions = [(l1, l2, l3, "uvu", True) for l1, l2, l3 in self.paths]
        return o3.TensorProduct(irreps_in, o3.Irreps.spherical_harmonics(self.l_sh), irreps_out,
                                instructions, shared_weights=False, internal_weights=False)
