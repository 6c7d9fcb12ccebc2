"""Molecular data: extended XYZ frames and SMILES conformers, read into :class:`Frame` objects.

Reading. Frames are read with ASE (``ase.io.read(path, index=":")``, any format ASE knows, extended
XYZ in practice). Energy, forces and stress are looked up under the keys the user names
(:class:`MoleculeDataConfig`): first in the frame's ``info`` (per-frame values) and ``arrays``
(per-atom values), then in the results ASE attaches when a key is one of its standard names
(ASE >= 3.23 moves ``energy``/``forces``/``stress`` of an extended XYZ comment line into a
single-point calculator). Declared units are converted once, at reading: everything inside sciPT is
Angstrom, eV, eV/Angstrom and eV/Angstrom^3. Frames are numbered from 0 in error messages, as
``ase.io.read`` numbers them.

Frames without forces. Data sets mix frames with forces (AIMD) and frames with an energy only
(single points at a higher level of theory). A frame without the forces key is read without forces
(:attr:`Frame.missing_forces` keeps the refusal it would have met) and is fitted on its energy (and
stress) alone, as MACE and NequIP weigh missing forces to zero per frame. A set in which no frame of
more than one atom has forces is still refused with that first frame's message
(:func:`require_forces`): a mistyped key must not quietly train energies alone (``forces_key: null``
says the data has no forces).

Molecules as SMILES (``.smi``/``.smiles`` files, one SMILES per line, an optional name after it)
become 3D conformers with RDKit (:mod:`.smiles`). They carry no labels and serve the denoising
objective. Where ASE cannot read a file, :mod:`.xyz` says which frame, atom or line is at fault.

Radius graphs are built in :mod:`.graphs`; the element table and reference energies are in
:mod:`.references`.

Bad input raises :class:`sciPT.errors.DataError` with one line naming the file and frame.
"""

from __future__ import annotations

import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from ase import Atoms, units
from ase.data import chemical_symbols
from ase.stress import voigt_6_to_full_3x3_stress

from sciPT.errors import ConfigError, DataError
from sciPT.files import refuse_directory, resolve_data_path

from .xyz import read_images

SHIPPED = "data_recipes/molecules"
ETHANOL_TRAIN = f"{SHIPPED}/ethanol/train.xyz"
ETHANOL_TEST = f"{SHIPPED}/ethanol/test_MD.xyz"
ETHANOL_METHANOL = f"{SHIPPED}/ethanol/train_eth_meth.xyz"
ETHANOL_ISOLATED = f"{SHIPPED}/ethanol/isolated_atoms.xyz"
ACETYLACETONE_TRAIN = f"{SHIPPED}/acetylacetone/train_300K.xyz"
ACETYLACETONE_ISOLATED = f"{SHIPPED}/acetylacetone/isolated_atoms.xyz"

SMILES_SUFFIXES = (".smi", ".smiles")

LENGTH_UNITS = {"Angstrom": 1.0, "A": 1.0, "Bohr": units.Bohr, "nm": 10.0}
ENERGY_UNITS = {
    "eV": 1.0,
    "meV": 1e-3,
    "Hartree": units.Hartree,
    "Ry": units.Rydberg,
    "kcal/mol": units.kcal / units.mol,
    "kJ/mol": units.kJ / units.mol,
}
PRESSURE_UNITS = {"GPa": units.GPa, "kbar": 1e3 * units.bar, "bar": units.bar}


@dataclass
class MoleculeDataConfig:
    """Where the frames are and how to read them.

    Labels are looked up under the keys below (``None`` for a quantity the files do not have) and
    converted once from the declared units; streaming is :mod:`.streaming` (:func:`streams`).

    Attributes:
        paths: extended XYZ files (labelled frames), or ``.smi`` files of SMILES (unlabelled,
            for ``objective.kind = denoise``). Relative paths are looked up from the current
            directory, then from the repository (the shipped ``data_recipes/molecules`` files).
        val_paths: validation files; when empty, ``val_fraction`` of the frames is held out at
            random (seed ``train.seed``).
        val_fraction: fraction of the frames held out for validation when ``val_paths`` is empty,
            in [0, 1).
        isolated_atoms: a file of isolated atoms (one atom each, no periodic image within the model's
            cutoff: :func:`.references.isolated_atom`) whose energies are the element references
            (isolated atoms among ``paths`` count too); ``None``: none.
        max_frames: use only the first frames of every file (quick runs); ``None``: all.
        num_conformers: conformers per SMILES.
        energy_key: name of the frames' energy property (``None``: the files have none).
        forces_key: name of the frames' per-atom forces (``None``: the files have none). A frame
            without it is fitted on its energy (and stress) alone, but a set in which no frame has
            it is refused (module docstring).
        stress_key: name of the frames' stress (``None``: the files have none).
        energy_unit: eV, meV, Hartree, Ry, kcal/mol or kJ/mol.
        length_unit: Angstrom, Bohr or nm.
        force_unit: ``ENERGY/LENGTH`` such as ``Hartree/Bohr``; default energy_unit/length_unit.
        stress_unit: ``ENERGY/LENGTH^3``, GPa, kbar or bar; default energy_unit/length_unit^3.
            Stresses follow ASE's sign convention, :math:`V^{-1} \\partial E / \\partial \\epsilon`
            (a virial is minus the stress times the volume); 6 values are Voigt order.
        periodic: ``auto`` takes each frame's ``pbc`` (each periodic axis needs a cell vector
            independent of the others; a slab periodic along two axes may have a zero third one, and
            then has no volume, hence no stress); ``always`` makes every frame periodic (its cell must
            have a volume); ``never`` ignores cells.
        references: element reference energies: ``auto`` (isolated atoms when available, else least
            squares; with ``isolated_atoms`` named, that file must give every element of the data and
            of the model's table: a missing one is refused), ``isolated``, ``lstsq`` (fitted to the training energies) or ``none`` (zero).
        streaming: each rank reads only its own shards of ``paths``, frame by frame; ``None``:
            when a path is a folder or a glob pattern.
        stats_frames: frames (the first of the corpus) the statistics are computed from when streaming.
        head: the name of the frames' level of theory, i.e. of the model head they train
            (:mod:`sciPT.domains.molecules.model`); ``None``: the ``head`` entry of the first frame's
            info line, else the first file's stem (:func:`head_name`).
    """

    paths: list[str] = field(default_factory=list)
    val_paths: list[str] = field(default_factory=list)
    val_fraction: float = 0.05
    isolated_atoms: str | None = None
    max_frames: int | None = None
    num_conformers: int = 1
    energy_key: str | None = "energy"
    forces_key: str | None = "forces"
    stress_key: str | None = None
    energy_unit: str = "eV"
    length_unit: str = "Angstrom"
    force_unit: str | None = None
    stress_unit: str | None = None
    periodic: Literal["auto", "always", "never"] = "auto"
    references: Literal["auto", "isolated", "lstsq", "none"] = "auto"
    streaming: bool | None = None
    stats_frames: int = 1000
    head: str | None = None


#: how far a frame's energy per atom may lie from the median of its file's frames of the same
#: composition: conformers and MD snapshots of one molecule lie well within 1 eV per atom of each
#: other; a frame in Hartree (or kcal/mol) among an all-electron code's eV lies hundreds away, a
#: typo (1e30) further. A gross-error check: a pseudopotential code's few eV per atom in Hartree
#: (some 5 eV per atom off) pass it
ENERGY_OUTLIER_EV_PER_ATOM = 10.0


@dataclass
class Frame:
    """One structure in sciPT units (Angstrom, eV, eV/Angstrom, eV/Angstrom^3).

    ``source`` names it in messages ("train.xyz: frame 12"); labels are ``None`` when absent.
    ``missing_forces``: for a labelled frame read without forces because it lacks the forces key,
    the one-line refusal naming it and its keys (:func:`require_forces` raises it when no frame of
    a set has forces).
    """

    numbers: np.ndarray
    positions: np.ndarray
    cell: np.ndarray
    pbc: np.ndarray
    source: str
    energy: float | None = None
    forces: np.ndarray | None = None
    stress: np.ndarray | None = None
    missing_forces: str | None = None
    # the molecule the frame samples, where its info line names it (``smiles``, as a distilled
    # corpus writes): a validation split draws a molecule's frames together
    molecule: str | None = None

    @property
    def symbols(self) -> list[str]:
        return [chemical_symbols[z] for z in self.numbers]


# units ------------------------------------------------------------------------------------------
def _unit(table: dict[str, float], name: str, key: str) -> float:
    if name not in table:
        raise ConfigError(f"{key}: unknown unit '{name}' (expected one of: {', '.join(table)})")
    return table[name]


def unit_factors(cfg: MoleculeDataConfig) -> dict[str, float]:
    """Multipliers from the declared units to eV, Angstrom, eV/Angstrom and eV/Angstrom^3."""
    energy = _unit(ENERGY_UNITS, cfg.energy_unit, "data.energy_unit")
    length = _unit(LENGTH_UNITS, cfg.length_unit, "data.length_unit")
    force, stress = energy / length, energy / length**3
    if cfg.force_unit is not None:
        e, sep, l = cfg.force_unit.rpartition("/")
        if not sep:
            raise ConfigError(f"data.force_unit: expected ENERGY/LENGTH, got '{cfg.force_unit}'")
        force = _unit(ENERGY_UNITS, e, "data.force_unit") / _unit(LENGTH_UNITS, l, "data.force_unit")
    if cfg.stress_unit is not None:
        if cfg.stress_unit in PRESSURE_UNITS:
            stress = PRESSURE_UNITS[cfg.stress_unit]
        else:
            e, sep, l = cfg.stress_unit.rpartition("/")
            if not sep or not l.endswith("^3"):
                raise ConfigError(
                    f"data.stress_unit: expected ENERGY/LENGTH^3 or one of "
                    f"{', '.join(PRESSURE_UNITS)}, got '{cfg.stress_unit}'"
                )
            stress = (
                _unit(ENERGY_UNITS, e, "data.stress_unit")
                / _unit(LENGTH_UNITS, l[:-2], "data.stress_unit") ** 3
            )
    return {"energy": energy, "length": length, "forces": force, "stress": stress}


# reading ----------------------------------------------------------------------------------------
def _lookup(atoms: Atoms, key: str):
    if key in atoms.info:
        return atoms.info[key]
    if key in atoms.arrays:
        return atoms.arrays[key]
    calc = atoms.calc
    if calc is not None and key in getattr(calc, "results", {}):
        return calc.results[key]
    return None


def _keys(atoms: Atoms) -> str:
    keys = [k for k in atoms.info] + [k for k in atoms.arrays if k not in ("numbers", "positions")]
    if atoms.calc is not None:
        keys += list(getattr(atoms.calc, "results", {}))
    return ", ".join(sorted(set(keys))) or "none"


MIN_SPAN = 1e-6  # Angstrom, Angstrom^2 or Angstrom^3: below it the periodic cell vectors are degenerate


def _span(vectors: np.ndarray) -> float:
    """Length, area or volume spanned by 1 to 3 vectors (the square root of their Gram determinant)."""
    return float(np.sqrt(max(np.linalg.det(vectors @ vectors.T), 0.0)))


def has_volume(cell: np.ndarray, pbc: np.ndarray) -> bool:
    """Whether a structure has a stress: periodic, with a cell of non-zero volume (a molecule has
    none, and neither has a slab whose non-periodic cell vector is zero)."""
    return bool(np.any(pbc)) and abs(float(np.linalg.det(cell))) >= MIN_SPAN


def atoms_to_frame(
    atoms: Atoms,
    source: str,
    cfg: MoleculeDataConfig | None = None,
    *,
    labelled: bool = True,
    factors: dict[str, float] | None = None,
    stress_optional: bool = False,
) -> Frame:
    """Validate one ASE structure and convert it to a :class:`Frame` (labels read when
    ``labelled``; the ASE calculator and MD use ``labelled=False``; with ``stress_optional`` a
    frame without a stress is read without one, as an evaluation scores stress where it is given).
    A frame without the forces key is read without forces (:attr:`Frame.missing_forces`; a set
    of such frames is refused by :func:`require_forces`)."""
    cfg = cfg or MoleculeDataConfig()
    factors = factors or unit_factors(cfg)
    positions = np.asarray(atoms.positions, dtype=np.float64) * factors["length"]
    bad = np.flatnonzero(~np.isfinite(positions).all(axis=1))
    if bad.size:
        raise DataError(f"{source}: non-finite coordinates (atom {bad[0]})")
    if len(atoms) == 0:
        raise DataError(f"{source}: no atoms")
    numbers = np.asarray(atoms.numbers, dtype=np.int64)
    # ASE reads the dummy species 'X' as atomic number 0; the model would refuse it later, naming
    # its element table rather than the file
    bad = np.flatnonzero((numbers < 1) | (numbers >= len(chemical_symbols)))
    if bad.size:
        z = int(numbers[bad[0]])
        what = f"'{chemical_symbols[z]}'" if z == 0 else f"atomic number {z}"
        raise DataError(f"{source}: atom {bad[0]}: {what} is not a chemical element")
    cell = np.asarray(atoms.cell.array, dtype=np.float64) * factors["length"]
    if not np.isfinite(cell).all():
        raise DataError(f"{source}: non-finite cell vectors (Lattice holds nan or inf)")
    pbc = {
        "auto": np.asarray(atoms.pbc, dtype=bool),
        "always": np.ones(3, dtype=bool),
        "never": np.zeros(3, dtype=bool),
    }[cfg.periodic]
    if cfg.periodic == "always" and not has_volume(cell, pbc):
        raise DataError(
            f"{source}: periodic boundaries asked for, but the cell has zero volume "
            "(give the frame a Lattice, or set data.periodic to never)"
        )
    axes = np.flatnonzero(pbc)
    if axes.size and _span(cell[axes]) < MIN_SPAN:
        # only the periodic axes need cell vectors: a slab's third one may be zero (2D periodicity)
        extent = {1: "length", 2: "area", 3: "volume"}[axes.size]
        raise DataError(
            f"{source}: pbc is True along axes {', '.join(map(str, axes))}, but their cell vectors "
            f"span no {extent} (give each periodic axis a non-zero cell vector independent of the "
            "others, or make pbc False along an axis without one)"
        )
    molecule = atoms.info.get("smiles")
    frame = Frame(
        numbers=numbers,
        positions=positions,
        cell=cell,
        pbc=pbc,
        source=source,
        molecule=None if molecule is None else str(molecule),
    )
    if not labelled:
        return frame
    wanted = [("energy", cfg.energy_key, ()), ("forces", cfg.forces_key, (len(atoms), 3))]
    if cfg.stress_key is not None and has_volume(cell, pbc):
        wanted.append(("stress", cfg.stress_key, (3, 3)))
    for name, key, shape in wanted:
        if key is None:
            continue
        value = _lookup(atoms, key)
        if value is None and name == "forces" and len(atoms) == 1:
            # isolated-atom frames (MACE's convention, the shipped isolated_atoms.xyz) carry no
            # forces: a lone atom's are zero by symmetry
            value = np.zeros((1, 3))
        # an isolated atom in a periodic box is a reference energy, read without its stress (as
        # --data.isolated-atoms reads it), and a one-atom crystal without one is fitted without it
        if value is None and name == "stress" and (stress_optional or len(atoms) == 1):
            continue
        if value is None and name == "forces":
            frame.missing_forces = f"{source}: no {name} key '{key}' (the frame has: {_keys(atoms)})"
            continue
        if value is None:
            raise DataError(f"{source}: no {name} key '{key}' (the frame has: {_keys(atoms)})")
        try:
            value = np.asarray(value, dtype=np.float64)
            if name == "stress" and value.shape == (6,):
                value = voigt_6_to_full_3x3_stress(value)
            value = value.reshape(shape)
        except (TypeError, ValueError):
            raise _not_numbers(source, name, key, value, shape) from None
        if not np.isfinite(value).all():
            raise DataError(f"{source}: non-finite {name} under key '{key}'")
        setattr(frame, name, float(value) * factors[name] if name == "energy" else value * factors[name])
    return frame


def _number(text) -> bool:
    try:
        float(text)
    except (TypeError, ValueError):
        return False
    return True


def _not_numbers(source: str, name: str, key: str, value, shape: tuple) -> DataError:
    """The refusal of a label that is not numbers of ``shape`` (ASE keeps ``energy=abc`` as text)."""
    expected = "a number" if shape == () else f"numbers of shape {shape}"
    if isinstance(value, str):
        return DataError(f"{source}: {name} key '{key}' is {value!r}, expected {expected}")
    try:
        text = [v for v in np.asarray(value).ravel() if not _number(v)]
    except (TypeError, ValueError):  # a ragged nesting: its shape is what is wrong
        text = []
    if text:
        return DataError(f"{source}: {name} key '{key}' holds {str(text[0])!r}, expected {expected}")
    return DataError(f"{source}: {name} key '{key}' holds {np.shape(value)} values, expected shape {shape}")


def require_forces(frames: list[Frame]) -> None:
    """Refuse ``frames`` when they were read with a forces key and none of more than one atom has
    forces (the key is mistyped, or the data has none: ``forces_key: null``), with the first one's
    message; one-atom frames need no forces and prove nothing."""
    molecules = [f for f in frames if len(f.numbers) > 1]
    if molecules and all(f.missing_forces is not None for f in molecules):
        raise DataError(molecules[0].missing_forces)


def missing_forces_note(
    frames: list[Frame],
    cfg: MoleculeDataConfig,
    of: str = "",
    consequence: str = "their energies are fitted, not their forces",
) -> str | None:
    """The line that says how many of ``frames`` (of more than one atom) have no forces, and
    ``consequence``, or ``None`` when every one has them; ``of`` qualifies the count ("the first
    1000 ")."""
    molecules = [f for f in frames if len(f.numbers) > 1]
    missing = sum(f.missing_forces is not None for f in molecules)
    if not missing:
        return None
    return (
        f"{missing} of {of}{len(molecules)} frames have no forces under key '{cfg.forces_key}': "
        + consequence
    )


def head_name(cfg: MoleculeDataConfig) -> str:
    """The level of theory of ``cfg``'s training frames: ``cfg.head`` if given, else the ``head``
    entry of the first frame's info line in the first file (``head=PBE`` in extended XYZ), else
    that file's stem (``train_300K``; a folder of shards: its name), else ``default`` (no file, or
    a glob pattern)."""
    if cfg.head:
        return cfg.head
    if not cfg.paths:
        return "default"
    path = resolve_data_path(cfg.paths[0])
    if path.suffix.lower() in (".xyz", ".extxyz") and path.is_file():
        # read_structures' checks: a malformed file is refused here in the words it would meet there
        label = read_images(path, cfg.paths[0], 0).info.get("head")
        if isinstance(label, str) and label.strip():
            return label.strip()
    stem = Path(cfg.paths[0].rstrip("/")).stem  # a file's stem, or a folder of shards' name
    return "default" if not stem or any(c in stem for c in "*?[") else stem


def streams(cfg: MoleculeDataConfig) -> bool:
    """Whether ``cfg``'s frames are streamed from shards (:mod:`.streaming`) rather than read into
    memory: ``cfg.streaming``, or when unset, whether a path is a folder or a glob pattern."""
    from sciPT.streaming import use_streaming

    return use_streaming(cfg.streaming, cfg.paths)


def read_frames(
    path: str | Path,
    cfg: MoleculeDataConfig | None = None,
    *,
    labelled: bool = True,
    stress_optional: bool = False,
    forces_optional: bool = False,
) -> list[Frame]:
    """Every frame of ``path`` (extended XYZ, or any format ASE reads; ``.smi`` gives conformers).

    Args:
        path: the file.
        cfg: keys, units and periodicity (defaults: ``energy``, ``forces``, eV, Angstrom).
        labelled: require and read energy and forces (the declared keys); a frame without the
            forces key is read without forces.
        stress_optional: read a stress where a frame has one, without requiring it.
        forces_optional: accept a file in which no frame has forces (a set of several files is
            then checked as a whole with :func:`require_forces`); otherwise such a file is refused.
    """
    frames, _ = read_structures(
        path, cfg, labelled=labelled, stress_optional=stress_optional, forces_optional=forces_optional
    )
    return frames


def read_structures(
    path: str | Path,
    cfg: MoleculeDataConfig | None = None,
    *,
    labelled: bool = True,
    stress_optional: bool = False,
    forces_optional: bool = False,
) -> tuple[list[Frame], list[Atoms] | None]:
    """:func:`read_frames`, and the ASE structures the frames come from (``None`` for SMILES,
    which have none): what ``predict`` copies the input's own info and arrays from."""
    cfg = cfg or MoleculeDataConfig()
    resolved = resolve_data_path(path)
    refuse_directory(
        resolved, "frames in extended XYZ, or SMILES; only pre-training streams a folder of shards"
    )
    if not resolved.is_file():
        raise DataError(f"{path}: file not found")
    if resolved.suffix.lower() in SMILES_SUFFIXES:
        from .smiles import read_smiles  # RDKit's, loaded only for SMILES

        frames = read_smiles(resolved, cfg.num_conformers, max_molecules=cfg.max_frames, name=str(path))
        return frames, None
    factors = unit_factors(cfg)
    index = ":" if cfg.max_frames is None else f":{cfg.max_frames}"
    images = read_images(resolved, path, index)
    if not images:
        raise DataError(f"{path}: no frames")
    frames = [
        atoms_to_frame(
            atoms,
            f"{path}: frame {i}",
            cfg,
            labelled=labelled,
            factors=factors,
            stress_optional=stress_optional,
        )
        for i, atoms in enumerate(images)
    ]
    if labelled:
        check_energy_outliers(frames)
    if not forces_optional:
        require_forces(frames)
    note = length_unit_note(frames, path, cfg.length_unit)
    if note:
        print(note, file=sys.stderr)
    return frames, images


# covalent X-H bonds to C, N and O are 0.96-1.10 Angstrom; their median read in the wrong unit is
# 1.8-2.1 (Bohr read as Angstrom) or 0.5-0.6 (Angstrom read as Bohr): well outside these bounds
XH_BOND_RANGE = (0.8, 1.4)
XH_PARTNERS = (6, 7, 8)
XH_FRAMES = 20  # the first frames checked: a file in one unit shows it in its first


def length_unit_note(frames: list[Frame], path, unit: str) -> str | None:
    """A warning where the hydrogen atoms of the first :data:`XH_FRAMES` non-periodic frames lie
    from their nearest atom, where that is C, N or O, at a median outside :data:`XH_BOND_RANGE`
    Angstrom as read in ``unit``: positions in Bohr read as Angstrom (a covalent bond of 2.06) put
    every distance 1.89 times too far, which no other check sees; ``None`` otherwise (no such
    hydrogen: crystals without H, hydrides, periodic frames, whose images are not searched)."""
    distances = []
    for frame in [f for f in frames if not f.pbc.any()][:XH_FRAMES]:
        hydrogens = np.flatnonzero(frame.numbers == 1)
        if not len(hydrogens) or len(frame.numbers) < 2:
            continue
        gaps = np.linalg.norm(frame.positions[hydrogens, None] - frame.positions[None], axis=-1)
        gaps[np.arange(len(hydrogens)), hydrogens] = np.inf
        nearest = gaps.argmin(axis=1)
        partner = np.isin(frame.numbers[nearest], XH_PARTNERS)
        distances += gaps[np.arange(len(hydrogens)), nearest][partner].tolist()
    if not distances:
        return None
    median = float(np.median(distances))
    if XH_BOND_RANGE[0] <= median <= XH_BOND_RANGE[1]:
        return None
    other, factor = ("Bohr", units.Bohr) if median > XH_BOND_RANGE[1] else ("Angstrom", 1 / units.Bohr)
    return (
        f"warning: {path}: hydrogen atoms lie a median {median:.2f} Angstrom from their nearest C, N "
        f"or O atom as read in {unit}, where covalent bonds are 0.96-1.10 Angstrom; read in {other} "
        f"they would be {median * factor:.2f}: is the file's length unit {other}?"
    )


def check_energy_outliers(frames: list[Frame], among: str = "the file's") -> None:
    """Refuse a frame whose energy per atom lies more than :data:`ENERGY_OUTLIER_EV_PER_ATOM` from
    the median of the ``frames`` of its composition (three or more, so the median is the
    majority's; ``among`` says which frames those are, in the message): one frame written in
    Hartree among eV ones (27 times smaller), or a typo, trained silently or diverged at step 1
    with advice to lower the learning rate."""
    groups: dict[tuple[int, ...], list[Frame]] = {}
    for frame in frames:
        if frame.energy is not None:
            groups.setdefault(tuple(sorted(frame.numbers.tolist())), []).append(frame)
    for numbers, group in groups.items():
        if len(group) < 3:
            continue
        per_atom = np.array([f.energy for f in group]) / len(numbers)
        median = float(np.median(per_atom))
        far = int(np.argmax(np.abs(per_atom - median)))
        if abs(per_atom[far] - median) > ENERGY_OUTLIER_EV_PER_ATOM:
            counts = Counter(chemical_symbols[z] for z in numbers)
            formula = "".join(f"{s}{n if n > 1 else ''}" for s, n in sorted(counts.items()))
            raise DataError(
                f"{group[far].source}: energy {group[far].energy:.6g} eV, {per_atom[far] - median:+.4g} eV "
                f"per atom from the median of {among} {len(group)} {formula} frames "
                f"({median * len(numbers):.6g} eV); expected within {ENERGY_OUTLIER_EV_PER_ATOM:g} eV per "
                "atom (a frame in another energy unit, or a typo?)"
            )
