"""Reverse-complement parameter sharing (RCPS): the two strands of DNA inside one encoder.

A DNA sequence and its reverse complement carry the same information; a model read on either
strand should agree. Caduceus (Schiff et al. 2024, "Caduceus: Bi-Directional Equivariant
Long-Range DNA Sequence Modeling", arXiv:2403.03234) builds that into the network instead of
learning it from augmented data: the hidden state of width :math:`D` is split into two halves of
width :math:`d = D/2`, and every layer :math:`M` is applied to the first half as it is and to the
second half read backwards,

.. math::

    \\mathrm{RCPS}(M)(h) = \\big[\\, M(h_{:d}),\\; \\mathrm{RC}(M(\\mathrm{RC}(h_{d:})))\\,\\big],
    \\qquad \\mathrm{RC}(h)_{l,c} = h_{L-1-l,\\, D-1-c}

(:math:`\\mathrm{RC}` reverses positions and channels). The token embedding is
:math:`h_l = [E(x_l),\\, \\mathrm{flip}(E(\\bar x_l))]` with :math:`\\bar x` the complementary token.
Then the encoder is *equivariant*: its output on the reverse complement of a sequence is
:math:`\\mathrm{RC}` of its output on the sequence. Both halves use the same weights, so the
strands cost no parameters; each half is a :math:`d`-wide network, run on both strands (the two
halves are stacked along the batch, one call per layer).

Positions enter attention only relatively (rotary or ALiBi), so reversing a right-padded batch as a
whole (which moves the padding to the left) changes no real token's output: the second half is run
on ``flip`` of the whole tensor, with the mask flipped alike.

Sequence-level outputs become *invariant* by symmetrising: a mean-pooled embedding ``v`` gives
``(v + flip(v)) / 2``; a classifier head gives the mean of its logits on ``h`` and on
:func:`reverse_complement_hidden` of ``h``, which equals its logits on the encoder's output for the
reverse-complement input, without running the encoder twice.
"""

from __future__ import annotations

import torch
from torch import Tensor


def to_strands(hidden: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor | None]:
    """``[B, L, 2d]`` -> the two strands stacked along the batch, ``[2B, L, d]``: the first half as
    it is, the second read backwards (positions and channels reversed); the mask follows."""
    d = hidden.shape[-1] // 2
    stacked = torch.cat([hidden[..., :d], hidden[..., d:].flip(1, 2)], dim=0)
    if mask is None:
        return stacked, None
    return stacked, torch.cat([mask, mask.flip(1)], dim=0)


def from_strands(stacked: Tensor) -> Tensor:
    """The inverse of :func:`to_strands`: ``[2B, L, d]`` -> ``[B, L, 2d]``."""
    B = stacked.shape[0] // 2
    return torch.cat([stacked[:B], stacked[B:].flip(1, 2)], dim=-1)


def reverse_complement_hidden(hidden: Tensor, mask: Tensor | None) -> Tensor:
    """What an equivariant encoder outputs on the reverse complement of each (right-padded) input.

    Each row's real positions are reversed within its own length, channels reversed; padding
    positions stay where they are (and are zero if they were).

    Shapes: ``hidden`` ``[B, L, D]``, ``mask`` ``[B, L]`` bool (``True`` = real token, real tokens
    first) or ``None`` -> ``[B, L, D]``.
    """
    if mask is None:
        return hidden.flip(1, 2)
    L = hidden.shape[1]
    lengths = mask.sum(1, keepdim=True)
    positions = torch.arange(L, device=hidden.device).expand(hidden.shape[0], L)
    source = torch.where(positions < lengths, lengths - 1 - positions, positions)
    gathered = hidden.gather(1, source[..., None].expand(-1, -1, hidden.shape[-1]))
    return gathered.flip(2)


def reverse_complement_ids(input_ids: Tensor, mask: Tensor | None, complement_ids: Tensor) -> Tensor:
    """Token ids of the reverse complement of each right-padded row: real tokens reversed within the
    row's length and mapped through ``complement_ids``; padding kept. Shapes: ``[B, L]``."""
    mapped = complement_ids[input_ids]
    if mask is None:
        return mapped.flip(1)
    return reverse_complement_hidden(mapped[..., None], mask)[..., 0]
