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
against e3nn). e3nn's generated code evaluates every path separately, with its own kernels and
autograd nodes; here all paths go through three tensor operations. The Clebsch-Gordan coefficients are first
contracted with :math:`Y` into one per-edge matrix (a matrix product with a constant, no channels),

.. math::

    U_{e, (p, m_3), k_1} = \\alpha_p \\sum_{m_2} C^{l_3 m_3}_{l_1 m_1, l_2 m_2}\\, Y_{e, (l_2 m_2)}
    \\quad (k_1 = (l_1 m_1) \\text{ of path } p,\\ \\text{zero elsewhere}),

whose rows run over the :math:`R = \\sum_p (2 l_3 + 1)` outputs of all paths; one batched matrix
product applies it to the features of all channels, :math:`z_{e,(p, m_3), c} = \\sum_{k_1}
U_{e,(p,m_3),k_1} x_{e,k_1,c}`; and the paths into each :math:`l_3` are weighted and summed,
:math:`y_{c,(l_3 m_3)} = \\sum_{p \\to l_3} w_{c,p}\\, z_{(p,m_3),c}` (a broadcast product and sum).
The largest per-edge temporary is :math:`z`, :math:`R \\times C` per edge (:math:`R = 8` at
:math:`L = 1`), and no channel-sized tensor carries the zero blocks of the coupling. An earlier
version mixed the path weights into a dense :math:`D_{in} \\times D_{out}` matrix per edge and
channel first: twice the multiply-adds and twice the memory at :math:`L = 1`
(benchmarks/RESULTS_forcefield.md, section 2). Per-path kernels, as e3nn evaluates them, cost more
than both at the small :math:`L` of interatomic potentials: with the fused product, a whole
``l_max = 1`` potential ran energy + forces of one ethanol molecule in half the time it took with
e3nn's ``TensorProduct`` and ``Gate`` (measured while choosing the design).
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
    blocks = [x[:, l * l : (l + 1) ** 2].transpose(1, 2).reshape(x.shape[0], -1) for l in range(l_max + 1)]
    return torch.cat(blocks, dim=1)


def paths(l_in: int, l_sh: int, l_out: int) -> list[tuple[int, int, int]]:
    """Allowed ``(l1, l2, l3)``: triangle rule and parity ``(-1)^(l1 + l2) = (-1)^l3``."""
    return [
        (l1, l2, l3)
        for l1 in range(l_in + 1)
        for l2 in range(l_sh + 1)
        for l3 in range(abs(l1 - l2), min(l1 + l2, l_out) + 1)
        if (l1 + l2 + l3) % 2 == 0
    ]


class ChannelwiseTensorProduct(nn.Module):
    """Fused ``uvu`` Clebsch-Gordan product of channel features with edge spherical harmonics.

    Args:
        l_in: highest degree of the input features.
        l_sh: highest degree of the spherical harmonics.
        l_out: highest degree kept in the output; paths beyond it are never computed.

    Attributes:
        num_paths: :math:`P`, weights needed per channel and edge.
        num_rows: :math:`R = \\sum_p (2 l_3 + 1)`, rows of the per-edge temporary ``(E, R, C)``.

    Shapes:
        ``x`` (E, (l_in+1)^2, C), ``sh`` (E, (l_sh+1)^2), ``weight`` (E, P, C)
        -> (E, (l_out+1)^2, C)
    """

    def __init__(self, l_in: int, l_sh: int, l_out: int):
        super().__init__()
        self.l_in, self.l_sh, self.l_out = l_in, l_sh, l_out
        # the order of the paths is the order of the weights, which trained models depend on
        self.paths = paths(l_in, l_sh, l_out)
        self.num_paths = len(self.paths)
        into = {l3: sum(1 for *_, l in self.paths if l == l3) for l3 in range(l_out + 1)}
        # rows of U grouped by output degree, so the paths into one l3 are a (P_l3, 2 l3 + 1) block
        self.groups: list[tuple[int, list[int], int]] = []  # (l3, paths into it, first row)
        rows = 0
        for l3 in range(l_out + 1):
            chosen = [p for p, (*_, l) in enumerate(self.paths) if l == l3]
            self.groups.append((l3, chosen, rows))
            rows += len(chosen) * (2 * l3 + 1)
        self.num_rows = rows
        coupling = torch.zeros(dim(l_sh), rows, dim(l_in), dtype=torch.float64)
        for l3, chosen, first in self.groups:
            for q, p in enumerate(chosen):
                l1, l2, _ = self.paths[p]
                alpha = math.sqrt((2 * l3 + 1) / into[l3])
                block = alpha * o3.wigner_3j(l1, l2, l3, dtype=torch.float64)  # (m1, m2, m3)
                top = first + q * (2 * l3 + 1)
                coupling[l2 * l2 : (l2 + 1) ** 2, top : top + 2 * l3 + 1, l1 * l1 : (l1 + 1) ** 2] = (
                    block.permute(1, 2, 0)
                )
        # (Dsh, R * Din): contracted with Y in one matmul per forward; computed in float64,
        # stored in the default dtype (a float64 model is built under a float64 default); a
        # constant, so not part of the state dict
        coupling = coupling.reshape(dim(l_sh), -1).to(torch.get_default_dtype())
        self.register_buffer("coupling", coupling, persistent=False)
        # weights of the paths into each l3, as an index (None: a contiguous run, sliced)
        self._weight_index = [
            None if not chosen or chosen == list(range(chosen[0], chosen[-1] + 1)) else torch.tensor(chosen)
            for _, chosen, _ in self.groups
        ]

    def forward(self, x: torch.Tensor, sh: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        n_edges, d_in, channels = x.shape
        u = (sh @ self.coupling).view(n_edges, self.num_rows, d_in)
        z = torch.bmm(u, x)  # (E, R, C)
        blocks = []
        for (l3, chosen, first), index in zip(self.groups, self._weight_index):
            d3 = 2 * l3 + 1
            if not chosen:  # no path reaches this degree: its output is zero
                blocks.append(x.new_zeros(n_edges, d3, channels))
                continue
            w = (
                weight[:, chosen[0] : chosen[-1] + 1]
                if index is None
                else weight.index_select(1, index.to(weight.device))
            )
            part = z[:, first : first + len(chosen) * d3].view(n_edges, len(chosen), d3, channels)
            blocks.append((part * w.unsqueeze(2)).sum(dim=1))
        return torch.cat(blocks, dim=1) if len(blocks) > 1 else blocks[0]

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # exports written before the coupling became a non-persistent constant hold the earlier
        # (D_sh, D_in * D_out * P) layout: it is recomputed here, so it is dropped, not loaded
        state_dict.pop(prefix + "coupling", None)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def e3nn_equivalent(self, channels: int) -> o3.TensorProduct:
        """The :class:`e3nn.o3.TensorProduct` this module computes (for tests and readers);
        its weight vector per edge is ``weight.reshape(E, -1)``."""
        irreps_in, irreps_out = irreps(channels, self.l_in), irreps(channels, self.l_out)
        instructions = [(l1, l2, l3, "uvu", True) for l1, l2, l3 in self.paths]
        return o3.TensorProduct(
            irreps_in,
            o3.Irreps.spherical_harmonics(self.l_sh),
            irreps_out,
            instructions,
            shared_weights=False,
            internal_weights=False,
        )
