"""What an :class:`.model.EquivariantPotential` is built from, and its checks.

:class:`PotentialConfig` holds the architecture and what the potential learned about its data (element
table, reference energies, energy shift and scale, mean neighbour count); :class:`HeadConfig` the
statistics of each head added since (heads, one per level of theory: :mod:`.model`).
:func:`validate_architecture` checks the architecture before any data is read, :func:`validate` the
whole config once the data has filled it in.

Units: Angstrom and eV.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from ase.data import atomic_numbers

from sciPT.config import derived
from sciPT.errors import ConfigError, UserError


@dataclass
class HeadConfig:
    """A head added to the first one (:mod:`.model`): its name (the level of theory) and the
    data statistics of that level, with the meanings of :class:`PotentialConfig`'s fields."""

    name: str
    reference_energies: list[float] = field(default_factory=list)
    energy_shift: float = 0.0
    energy_scale: float = 1.0
    reference_span: list[list[float]] | None = None
    periodic_images: bool | None = None


@dataclass
class PotentialConfig:
    """Architecture of :class:`EquivariantPotential`, plus what it learned about its data.

    The fields from ``elements`` to ``avg_num_neighbors`` are filled from the training data when
    left at their defaults (:func:`.dataset.prepare`), then stored with the exported model.

    Heads (:mod:`.model`): ``reference_energies``, ``energy_shift`` and ``energy_scale`` are
    those of the first head, named ``head`` (``default`` in exports older than heads);
    ``heads`` lists the heads added since, oldest first; ``head_blocks`` is how many of the last
    interaction blocks each head owns (0: heads are readouts, every block shared).

    Attributes:
        cutoff: neighbour cut-off radius (Angstrom).
        num_basis: Bessel functions in the radial basis.
        cutoff_p: order of the polynomial envelope that takes each edge smoothly to zero at the
            cut-off (at least 2).
        l_max: highest rotation order of the spherical harmonics and of the hidden features (0 to 3).
        channels: multiplicity of every hidden irrep (``channels x 0e + channels x 1o + ...``).
        layers: interaction blocks.
        radial_hidden: width of the hidden layers of the radial MLPs.
        radial_layers: hidden layers of the radial MLPs (0: a linear map of the radial basis).
        readout_hidden: width of the per-atom energy MLP.
        dtype: ``float32`` (default) or ``float64`` (finite-difference checks, tight MD).
        elements: the element table, chemical symbols the model knows, in embedding order (left
            empty: those of the data).
        reference_energies: the reference energy of each element (eV), same order (left empty:
            chosen by ``data.references``).
        reference_span: where least squares fitted the references on compositions that do not fix
            every element (frames of one molecule), orthonormal rows spanning those compositions
            (:func:`.references.composition_span`); a frame outside it carries an unmeasured offset.
            ``None``: every reference fixed (isolated atoms, enough compositions), or unknown.
        periodic_images: whether any training frame of the first head had an atom's periodic image
            within the cut-off that no unwrapping removes (:func:`.graphs.sees_images`); ``False``:
            trained on molecules alone, so a structure that has such images is outside what it
            learnt. ``None``: not recorded (an export written before the record).
        energy_shift: the mean per-atom energy after references, added to every atom's energy
            (eV/atom; left at 0: measured on the data).
        energy_scale: the unit of the network's per-atom output, the root-mean-square force
            component (eV/Angstrom; without forces, the spread of the per-atom energies,
            :func:`.dataset.statistics`; left at 1: measured on the data).
        avg_num_neighbors: mean neighbours per atom within the cut-off, which normalises the sums
            of messages (``None``: measured on the data; a model built from a config that still
            says ``None``, outside training, sums its messages unnormalised, as if 1).
        head: the name of the first head, set by training from ``data.head`` (no flag of its own).
        head_blocks: how many of the last interaction blocks each head owns (0: heads are readouts,
            every block shared).
    """

    cutoff: float = 5.0
    num_basis: int = 8
    cutoff_p: int = 6
    l_max: int = 1
    channels: int = 32
    layers: int = 3
    radial_hidden: int = 64
    radial_layers: int = 2
    readout_hidden: int = 16
    dtype: Literal["float32", "float64"] = "float32"
    elements: list[str] = field(default_factory=list)
    reference_energies: list[float] = field(default_factory=list)
    reference_span: list[list[float]] | None = derived(
        "training, from the compositions fitted on", default=None
    )
    periodic_images: bool | None = derived(
        "training, from whether a training frame has periodic images within the cut-off", default=None
    )
    energy_shift: float = 0.0
    energy_scale: float = 1.0
    avg_num_neighbors: float | None = None
    head: str = derived("training, from data.head (the level of theory)", default="default")
    heads: list[HeadConfig] = derived("fine-tuning, one per head it adds", default_factory=list)
    head_blocks: int = 0


def head_names(cfg: PotentialConfig) -> list[str]:
    """The heads of a potential, oldest first."""
    return [cfg.head, *(h.name for h in cfg.heads)]


def check_head_name(name: str, heads: list[str], where: str = "head") -> str:
    """``name`` if it is one of ``heads``; otherwise a :class:`UserError` naming them. ``where``
    names what chose it in the caller's words: ``--head`` on the command line, ``head`` (the
    argument) in Python, ``eval_head:`` in a config."""
    if name not in heads:
        raise UserError(f"{where} {name}: no such head; the model's heads are: {', '.join(heads)}")
    return name


def validate_architecture(cfg: PotentialConfig) -> None:
    """Raise :class:`ConfigError` naming the first bad architecture key (checked before any data
    is read)."""
    if not 0 < cfg.cutoff < math.inf:
        raise ConfigError(f"model.cutoff: expected a positive radius in Angstrom, got {cfg.cutoff}")
    for key in ("num_basis", "channels", "layers", "radial_hidden", "readout_hidden"):
        if getattr(cfg, key) < 1:
            raise ConfigError(f"model.{key}: expected a positive integer, got {getattr(cfg, key)}")
    if cfg.radial_layers < 0:
        raise ConfigError(f"model.radial_layers: expected an integer >= 0, got {cfg.radial_layers}")
    if not 0 <= cfg.l_max <= 3:
        raise ConfigError(f"model.l_max: expected 0, 1, 2 or 3, got {cfg.l_max}")
    if cfg.cutoff_p < 2:
        raise ConfigError(f"model.cutoff_p: expected an integer >= 2, got {cfg.cutoff_p}")
    if not 0 <= cfg.head_blocks <= cfg.layers:
        raise ConfigError(
            f"model.head_blocks: expected 0 to {cfg.layers} (the interaction blocks), got {cfg.head_blocks}"
        )
    # given (--model.elements), the table is read before the data: an unknown symbol ('[H' of
    # '[H,C,N,O]') ended in a KeyError traceback from the first frame checked against it
    check_symbols(cfg.elements)


def check_symbols(elements) -> None:
    """Refuse a ``model.elements`` entry that is not a chemical symbol, or one repeated."""
    unknown = [s for s in elements if not _is_element(s)]
    if unknown:
        symbol = str(unknown[0])
        if symbol.strip() != symbol and _is_element(symbol.strip()):
            hint = ": no spaces around the commas (--model.elements H,C,N,O)"
        elif symbol.capitalize() == "X":
            hint = ": X is ASE's dummy atom, not an element"
        elif symbol.isalpha() and _is_element(symbol.capitalize()):
            hint = f": symbols are capitalised ({symbol.capitalize()})"
        elif not symbol.isalpha():  # brackets or quotes of a list written out: the flag takes bare symbols
            hint = ": give the symbols comma-separated (--model.elements H,C,N,O)"
        else:
            hint = ""
        raise ConfigError(f"model.elements: {symbol!r} is not a chemical symbol{hint}")
    if len(set(elements)) != len(elements):
        raise ConfigError(f"model.elements: repeated symbols in {list(elements)}")


def _is_element(symbol) -> bool:
    # ASE's table holds "X" (atomic number 0) for a dummy atom, which no model can be trained on
    return symbol in atomic_numbers and symbol != "X"


def check_precision(precision) -> None:
    """The potential trains at Lightning's ``32-true`` only: its geometry and reference energies are
    float64 whatever the model's dtype and its layers do not run under autocast (``bf16-mixed``
    crashed in its first step, after the run directory was made); ``model.dtype float64`` is how
    it trains in double precision."""
    if str(precision) not in ("32-true", "32"):
        raise ConfigError(
            f"train.precision: {precision}: the molecules potential trains at 32-true only (its layers "
            "do not run under autocast); --model.dtype float64 trains it in double precision"
        )


def validate(cfg: PotentialConfig) -> None:
    """Raise :class:`ConfigError` naming the first bad ``model.*`` key."""
    validate_architecture(cfg)
    if not cfg.elements:
        raise ConfigError("model.elements: the element table is empty (it is filled from the data)")
    if cfg.reference_energies and len(cfg.reference_energies) != len(cfg.elements):
        raise ConfigError(
            f"model.reference_energies: {len(cfg.reference_energies)} values for "
            f"{len(cfg.elements)} elements {cfg.elements}"
        )
    if cfg.energy_scale <= 0:
        raise ConfigError(f"model.energy_scale: expected a positive number, got {cfg.energy_scale}")
    if cfg.avg_num_neighbors is not None and cfg.avg_num_neighbors <= 0:
        raise ConfigError(f"model.avg_num_neighbors: expected a positive number, got {cfg.avg_num_neighbors}")
    names = head_names(cfg)
    if any(not isinstance(n, str) or not n.strip() for n in names):
        raise ConfigError(f"model.heads: every head needs a non-empty name, got {names}")
    if len(set(names)) != len(names):
        raise ConfigError(f"model.heads: repeated head names in {names}")
    for h in cfg.heads:
        if len(h.reference_energies) != len(cfg.elements):
            raise ConfigError(
                f"model.heads: head '{h.name}' has {len(h.reference_energies)} reference energies "
                f"for {len(cfg.elements)} elements {cfg.elements}"
            )
        if h.energy_scale <= 0:
            raise ConfigError(
                f"model.heads: head '{h.name}': expected a positive energy_scale, got {h.energy_scale}"
            )
