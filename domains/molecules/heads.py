"""The heads a potential gains after its first (:meth:`.model.EquivariantPotential.add_head`): each
a readout MLP, the buffers of one level of theory and the interaction blocks it owns. Heads, one per
level of theory, are described in :mod:`.model`.
"""

from __future__ import annotations

import torch
from torch import nn

from .potential_config import HeadConfig


def _readout(channels: int, hidden: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(channels, hidden), nn.SiLU(), nn.Linear(hidden, 1))


class Head(nn.Module):
    """An added head: readout MLP and the buffers of its level of theory, under the names the
    first head has on the potential itself (:mod:`.model`), and the interaction blocks it owns.

    Args:
        channels, hidden: the readout's input and hidden widths.
        cfg: the head's statistics (:class:`HeadConfig`).
        blocks: its own copies of the last ``head_blocks`` interaction blocks (none by default).

    Shapes:
        ``readout`` (N, channels) -> (N, 1): the atomic energies before the scalars
        ``energy_scale`` and ``energy_shift``; ``reference_energies`` (n_elements,) float64, eV.
    """

    def __init__(self, channels: int, hidden: int, cfg: HeadConfig, blocks: list[nn.Module] = ()):
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.readout = _readout(channels, hidden)
        self.register_buffer("reference_energies", torch.tensor(cfg.reference_energies, dtype=torch.float64))
        self.register_buffer("energy_shift", torch.tensor(float(cfg.energy_shift)))
        self.register_buffer("energy_scale", torch.tensor(float(cfg.energy_scale)))
