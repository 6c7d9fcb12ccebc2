"""One equivariant interaction block of the potential (NequIP convolution, gate, residual).

For atom :math:`i` with features :math:`h_i` (``C`` channels of ``0e + 1o + ... + L``) and
neighbours :math:`j \\in \\mathcal{N}(i)` within the cut-off,
:math:`\\vec r_{ij} = \\vec r_j - \\vec r_i`:

.. math::

    m_i = \\frac{1}{\\sqrt{\\bar n}} \\sum_{j \\in \\mathcal{N}(i)}
          \\big(W_1 h_j\\big) \\otimes_{R(|\\vec r_{ij}|)} Y(\\hat r_{ij}),
    \\qquad
    h_i' = h_i + \\mathrm{Gate}\\big(W_2 m_i + W_{sc} h_i\\big),

where :math:`Y` are real spherical harmonics (:class:`e3nn.o3.SphericalHarmonics`),
:math:`\\otimes_R` the channel-wise Clebsch-Gordan product whose path weights are produced per edge
and channel by an MLP :math:`R` of the radial basis (:mod:`.tensor_product`, :mod:`.radial`),
:math:`W_1, W_2, W_{sc}` equivariant linear maps and the gate that of :mod:`.linear`;
:math:`\\bar n` is the average number of neighbours of the training data. The residual is used when
input and output degrees agree.

This is the convolution of NequIP (Batzner et al., Nat. Commun. 13, 2453, 2022) with two changes
for speed: the paths into one output degree are summed inside the product (NequIP keeps them apart
and lets :math:`W_2` mix them), and the self-connection is a linear map rather than NequIP's
species-dependent tensor product (the species reaches every layer through the embedded features).

Shapes:
    ``h`` (N, (l_in+1)^2, C), ``edge_src``/``edge_dst`` (E,), ``edge_sh`` (E, (l_sh+1)^2),
    ``edge_radial`` (E, num_basis) -> (N, (l_out+1)^2, C)
"""

from __future__ import annotations

import torch
from e3nn.nn import FullyConnectedNet
from torch import nn

from .linear import EquivariantLinear, Gate
from .tensor_product import ChannelwiseTensorProduct


class Interaction(nn.Module):
    """Equivariant convolution, gate and residual (see the module docstring for the maths).

    Args:
        channels: :math:`C`, channels of every degree.
        l_in: highest degree of the incoming features.
        l_sh: highest degree of the edge spherical harmonics.
        l_out: highest degree of the outgoing features (the last block keeps scalars only).
        num_basis: size of the radial basis.
        radial_hidden, radial_layers: width and depth of the radial MLP.
        avg_num_neighbors: :math:`\\bar n`.

    Shapes:
        ``h`` (N, (l_in+1)^2, C); ``edge_src`` (E,) neighbour and ``edge_dst`` (E,) centre atom
        of each edge; ``edge_sh`` (E, (l_sh+1)^2); ``edge_radial`` (E, num_basis)
        -> (N, (l_out+1)^2, C).
    """

    #: elements of the product's per-edge temporary in one chunk of edges (see ``forward``): 1,024
    #: edges at l_max = 1 and 64 channels, 2 MB in float32. The ``profile`` stage of
    #: benchmarks/forcefield_vs_mace.py sweeps it on the 297-atom box (benchmarks/RESULTS_forcefield.md,
    #: section 2): 2^18 and 2^19 best and alike (105 ms per call), 2^20 to 2^22 slower, the whole
    #: graph in one piece slowest (186 ms).
    chunk_elements = 2**19

    def __init__(
        self,
        channels: int,
        l_in: int,
        l_sh: int,
        l_out: int,
        *,
        num_basis: int,
        radial_hidden: int,
        radial_layers: int,
        avg_num_neighbors: float,
    ):
        super().__init__()
        self.channels = channels
        self.tp = ChannelwiseTensorProduct(l_in, l_sh, l_out)
        self.radial = FullyConnectedNet(
            [num_basis] + [radial_hidden] * radial_layers + [channels * self.tp.num_paths],
            torch.nn.functional.silu,
        )
        self.linear_in = EquivariantLinear(channels, channels, l_in)
        self.linear_out = EquivariantLinear(channels, channels, l_out)
        self.self_connection = EquivariantLinear(channels, channels, min(l_in, l_out), bias=True)
        self.gate = Gate(channels, l_out)
        self.l_in, self.l_out = l_in, l_out
        self.norm = float(avg_num_neighbors) ** -0.5

    def forward(
        self,
        h: torch.Tensor,
        edge_src: torch.Tensor,
        edge_dst: torch.Tensor,
        edge_sh: torch.Tensor,
        edge_radial: torch.Tensor,
    ) -> torch.Tensor:
        n_atoms, n_edges = h.shape[0], edge_src.shape[0]
        source = self.linear_in(h)
        d_out = (self.l_out + 1) ** 2
        aggregated = torch.zeros(n_atoms, d_out, self.channels, dtype=h.dtype, device=h.device)
        # Edges in chunks: the product's per-edge temporaries (R x C per edge, R = 8 at l_max = 1;
        # 28 MB per block for 300 atoms at 64 channels) would otherwise be blocks beyond glibc's
        # mmap threshold, fresh mappings the kernel zero-fills on every call, gradients included.
        chunk = max(1, self.chunk_elements // (self.tp.num_rows * self.channels))
        for start in range(0, n_edges, chunk):
            part = slice(start, min(start + chunk, n_edges))
            weight = self.radial(edge_radial[part]).view(-1, self.tp.num_paths, self.channels)
            messages = self.tp(source[edge_src[part]], edge_sh[part], weight)
            aggregated = aggregated.index_add(0, edge_dst[part], messages)
        aggregated = aggregated * self.norm
        pre = self.linear_out(aggregated)
        sc = self.self_connection(h[:, :d_out])
        if sc.shape[1] < d_out:  # scalar input, higher-degree output: no self-connection there
            pre = torch.cat([pre[:, :1] + sc, pre[:, 1:]], dim=1)
        else:
            pre = pre + sc
        out = self.gate(pre)
        return h + out if self.l_in == self.l_out else out
