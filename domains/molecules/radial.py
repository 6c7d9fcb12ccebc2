"""Radial basis of the potential: Bessel functions times a smooth polynomial cut-off.

The radial part of every edge feature is

.. math::

    e_n(r) = \\sqrt{\\frac{2}{r_c}} \\frac{\\sin(\\omega_n r)}{r} \\, u(r / r_c),
    \\qquad \\omega_n = n \\pi / r_c \\ (\\text{initially}),\\ n = 1, \\dots, N,

the radial Bessel basis of DimeNet (Gasteiger, Gross & Guennemann, ICLR 2020) with trainable
frequencies as in NequIP (Batzner et al., Nat. Commun. 13, 2453, 2022), multiplied by the
polynomial envelope

.. math::

    u(x) = 1 - \\frac{(p+1)(p+2)}{2} x^p + p(p+2) x^{p+1} - \\frac{p(p+1)}{2} x^{p+2},
    \\qquad u(x) = 0 \\text{ for } x \\ge 1,

whose value and first two derivatives vanish at the cut-off, so energies and forces stay smooth when
an atom crosses :math:`r_c` (molecular dynamics conserves energy only if they do).
"""

from __future__ import annotations

import math

import torch
from torch import nn


class PolynomialCutoff(nn.Module):
    """Smooth envelope :math:`u(r / r_c)`; exactly zero at and beyond the cut-off.

    Args:
        cutoff: :math:`r_c` in Angstrom.
        p: polynomial order; :math:`u` is :math:`C^2` at :math:`r_c` for every ``p >= 2``.

    Shapes:
        ``r`` (E,) -> (E,)
    """

    def __init__(self, cutoff: float, p: int = 6):
        super().__init__()
        if p < 2:
            raise ValueError(f"cut-off polynomial order must be >= 2, got {p}")
        self.cutoff = float(cutoff)
        self.p = int(p)

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        p = self.p
        x = r / self.cutoff
        u = (
            1.0
            - 0.5 * (p + 1) * (p + 2) * x.pow(p)
            + p * (p + 2) * x.pow(p + 1)
            - 0.5 * p * (p + 1) * x.pow(p + 2)
        )
        return u * (x < 1.0)


class BesselBasis(nn.Module):
    """Radial Bessel functions :math:`\\sqrt{2/r_c}\\,\\sin(\\omega_n r)/r`, trainable :math:`\\omega_n`.

    Args:
        cutoff: :math:`r_c` in Angstrom.
        num_basis: number of functions :math:`N`.
        trainable: learn the frequencies (NequIP does; they start at :math:`n\\pi/r_c`).

    Shapes:
        ``r`` (E,) -> (E, N)
    """

    def __init__(self, cutoff: float, num_basis: int = 8, trainable: bool = True):
        super().__init__()
        self.cutoff = float(cutoff)
        self.prefactor = math.sqrt(2.0 / self.cutoff)
        freqs = torch.arange(1, num_basis + 1, dtype=torch.get_default_dtype()) * math.pi / self.cutoff
        if trainable:
            self.freqs = nn.Parameter(freqs)
        else:
            self.register_buffer("freqs", freqs)

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        r = r.unsqueeze(-1)
        return self.prefactor * torch.sin(self.freqs * r) / r


class RadialEmbedding(nn.Module):
    """Bessel basis times the polynomial cut-off: the scalar edge features :math:`e_n(r)`.

    Args:
        cutoff: :math:`r_c` in Angstrom.
        num_basis: number of Bessel functions :math:`N` (trainable frequencies).
        p: order of the polynomial cut-off (:class:`PolynomialCutoff`).

    Shapes:
        ``r`` (E,) -> (E, num_basis)
    """

    def __init__(self, cutoff: float, num_basis: int = 8, p: int = 6):
        super().__init__()
        self.bessel = BesselBasis(cutoff, num_basis)
        self.envelope = PolynomialCutoff(cutoff, p)
        self.num_basis = num_basis

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        return self.bessel(r) * self.envelope(r).unsqueeze(-1)
