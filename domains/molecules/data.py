"""Molecular data: extended XYZ frames, SMILES conformers, radius graphs and reference energies.

Reading. Frames are read with ASE (``ase.io.read(path, index=":")``, any format ASE knows, extended
XYZ in practice). Energy, forces and stress are looked up under the keys the user names
(:class:`MoleculeDataConfig`): first in the frame's ``info`` (per-frame values) and ``arrays``
(per-atom values), then in the results ASE attaches when a key is one of its standard names
(ASE >= 3.23 moves ``energy``/``forces``/``stress`` of an extended XYZ comment line into a
single-point calculator). Declared units are converted once, at reading: everything inside sciPT is
Angstrom, eV, eV/Angstrom and eV/Angstrom^3. Frames are numbered from 0 in error messages, as
``ase.io.read`` numbers them.

Molecules as SMILES (``.smi``/``.smiles`` files, one SMILES per line, an optional name after it)
become 3D conformers with RDKit: hydrogens added, ETKDG v3 embedding (Riniker & Landrum 2015), then
MMFF94 relaxation (UFF for the rare molecule MMFF has no parameters for). They carry no labels and
serve the denoising objective.

Graphs. Each frame becomes a :class:`torch_geometric.data.Data` with every ordered pair of atoms
closer than the cut-off as an edge: a k-d tree (SciPy) for non-periodic frames, and for periodic
ones a k-d tree over the periodic images within the cut-off, with integer cell shifts
(:func:`periodic_pairs`: the pairs of ASE's ``primitive_neighbor_list`` in about a twentieth of
its time; a neighbour may be an image of the atom itself). Positions stay float64 so float64 models
see exact coordinates.

Reference energies. Per-element energies :math:`E^{ref}_Z` are subtracted so the network learns
binding energies only: from isolated-atom frames when given (one-atom frames in the data, or
``isolated_atoms``), else by least squares :math:`\\min \\| A E^{ref} - E \\|` over the training
frames with :math:`A` the element counts (minimum-norm solution when compositions do not determine
them, as for a set of frames of one molecule; only the per-composition sum is then meaningful).
They are stored in the model config, so an exported model predicts total energies.

Bad input raises :class:`sciPT.errors.DataError` with one line naming the file and frame.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from ase import Atoms, units
from ase.data import atomic_numbers, chemical_symbols
from ase.geometry import complete_cell
from ase.io import read
from ase.stress import voigt_6_to_full_3x3_stress
from scipy.spatial import cKDTree
from torch_geometric.data import Data

from sciPT.errors import ConfigError, DataError
from sciPT.files import resolve_data_path

SHIPPED = "data_recipes/molecules"
ETHANOL_TRAIN = f"{SHIPPED}/ethanol/train.xyz"
ETHANOL_TEST = f"{SHIPPED}/ethanol/test_MD.xyz"
ETHANOL_METHANOL = f"{SHIPPED}/ethanol/train_eth_meth.xyz"
ETHANOL_ISOLATED = f"{SHIPPED}/ethanol/isolated_atoms.xyz"
ACETYLACETONE_TRAIN = f"{SHIPPED}/acetylacetone/train_300K.xyz"
ACETYLACETONE_ISOLATED = f"{SHIPPED}/acetylacetone/isolated_atoms.xyz"

MIN_DISTANCE = 0.1  # Angstrom: closer atoms are a corrupted frame, not chemistry
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

    Files:
        paths: extended XYZ files (labelled frames), or ``.smi`` files of SMILES (unlabelled,
            for ``objective.kind = denoise``). Relative paths are looked up from the current
            directory, then from the repository (the shipped ``data_recipes/molecules`` files).
        val_paths: validation files; when empty, ``val_fraction`` of the frames is held out at
            random (seed ``train.seed``).
        isolated_atoms: a file of one-atom frames whose energies are the element references.
        max_frames: use only the first frames of every file (quick runs).
        num_conformers: conformers per SMILES.

    Labels (``None`` for a quantity the files do not have):
        energy_key, forces_key, stress_key: names of the frame properties.
        energy_unit: eV, meV, Hartree, Ry, kcal/mol or kJ/mol.
        length_unit: Angstrom, Bohr or nm.
        force_unit: ``ENERGY/LENGTH`` such as ``Hartree/Bohr``; default energy_unit/length_unit.
        stress_unit: ``ENERGY/LENGTH^3``, GPa, kbar or bar; default energy_unit/length_unit^3.
            Stresses follow ASE's sign convention, :math:`V^{-1} \\partial E / \\partial
            \\epsilon` (a virial is minus the stress times the volume); 6 values are Voigt order.

    Physics:
        periodic: ``auto`` takes each frame's ``pbc``; ``always`` makes every frame periodic (its cell
            must have a volume); ``never`` ignores cells.
        references: ``auto`` (isolated atoms when available, else least squares), ``isolated``,
            ``lstsq`` or ``none``.

    Streaming (:mod:`.streaming`, :func:`streams`):
        streaming: each rank reads only its own shards of ``paths``, frame by frame; ``None``:
            when a path is a folder or a glob pattern.
        stats_frames: frames (the first of the corpus) the statistics are computed from when streaming.

    Level of theory:
        head: the name of the frames' level of theory, i.e. of the model head they train
            (:mod:`.model`); ``None``: :func:`head_name` takes it from the files.
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


@dataclass
class Frame:
    """One structure in sciPT units (Angstrom, eV, eV/Angstrom, eV/Angstrom^3).

    ``source`` names it in messages ("train.xyz: frame 12"); labels are ``None`` when absent.
    """

    numbers: np.ndarray
    positions: np.ndarray
    cell: np.ndarray
    pbc: np.ndarray
    source: str
    energy: float | None = None
    forces: np.ndarray | None = None
    stress: np.ndarray | None = None

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


def atoms_to_frame(
    atoms: Atoms,
    source: str,
    cfg: MoleculeDataConfig | None = None,
    *,
    labelled: bool = True,
    factors: dict[str, float] | None = None,
) -> Frame:
    """Validate one ASE structure and convert it to a :class:`Frame` (labels read when
    ``labelled``; the ASE calculator and MD use ``labelled=False``)."""
    cfg = cfg or MoleculeDataConfig()
    factors = factors or unit_factors(cfg)
    positions = np.asarray(atoms.positions, dtype=np.float64) * factors["length"]
    bad = np.flatnonzero(~np.isfinite(positions).all(axis=1))
    if bad.size:
        raise DataError(f"{source}: non-finite coordinates (atom {bad[0]})")
    if len(atoms) == 0:
        raise DataError(f"{source}: no atoms")
    cell = np.asarray(atoms.cell.array, dtype=np.float64) * factors["length"]
    pbc = {
        "auto": np.asarray(atoms.pbc, dtype=bool),
        "always": np.ones(3, dtype=bool),
        "never": np.zeros(3, dtype=bool),
    }[cfg.periodic]
    if pbc.any() and abs(np.linalg.det(cell)) < 1e-6:
        raise DataError(
            f"{source}: periodic boundaries asked for, but the cell has zero volume "
            "(give the frame a Lattice, or set data.periodic to never)"
        )
    frame = Frame(
        numbers=np.asarray(atoms.numbers, dtype=np.int64),
        positions=positions,
        cell=cell,
        pbc=pbc,
        source=source,
    )
    if not labelled:
        return frame
    wanted = [("energy", cfg.energy_key, ()), ("forces", cfg.forces_key, (len(atoms), 3))]
    if cfg.stress_key is not None and pbc.any():
        wanted.append(("stress", cfg.stress_key, (3, 3)))
    for name, key, shape in wanted:
        if key is None:
            continue
        value = _lookup(atoms, key)
        if value is None:
            raise DataError(f"{source}: no {name} key '{key}' (the frame has: {_keys(atoms)})")
        try:
            value = np.asarray(value, dtype=np.float64)
            if name == "stress" and value.shape == (6,):
                value = voigt_6_to_full_3x3_stress(value)
            value = value.reshape(shape)
        except (TypeError, ValueError):
            raise DataError(
                f"{source}: {name} key '{key}' holds {np.shape(value)} values, expected shape {shape}"
            ) from None
        if not np.isfinite(value).all():
            raise DataError(f"{source}: non-finite {name} under key '{key}'")
        setattr(frame, name, float(value) * factors[name] if name == "energy" else value * factors[name])
    return frame


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
        label = read(path, index=0).info.get("head")
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
    path: str | Path, cfg: MoleculeDataConfig | None = None, *, labelled: bool = True
) -> list[Frame]:
    """Every frame of ``path`` (extended XYZ, or any format ASE reads; ``.smi`` gives conformers).

    Args:
        path: the file.
        cfg: keys, units and periodicity (defaults: ``energy``, ``forces``, eV, Angstrom).
        labelled: require and read energy and forces (the declared keys).
    """
    cfg = cfg or MoleculeDataConfig()
    resolved = resolve_data_path(path)
    if not resolved.is_file():
        raise DataError(f"{path}: file not found")
    if resolved.suffix.lower() in SMILES_SUFFIXES:
        return read_smiles(resolved, cfg.num_conformers, max_molecules=cfg.max_frames, name=str(path))
    factors = unit_factors(cfg)
    index = ":" if cfg.max_frames is None else f":{cfg.max_frames}"
    try:
        images = read(resolved, index=index)
    except Exception as err:  # ASE raises many types for a malformed file
        message = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise DataError(f"{path}: not a readable structure file ({message})") from None
    if not images:
        raise DataError(f"{path}: no frames")
    return [
        atoms_to_frame(atoms, f"{path}: frame {i}", cfg, labelled=labelled, factors=factors)
        for i, atoms in enumerate(images)
    ]


# SMILES -----------------------------------------------------------------------------------------
def smiles_to_frames(
    smiles: str, num_conformers: int = 1, seed: int = 0, source: str = "SMILES"
) -> list[Frame]:
    """3D conformers of a molecule: hydrogens added, ETKDG v3 embedding, MMFF94 relaxation."""
    from rdkit import Chem, RDLogger
    from rdkit.Chem import AllChem

    RDLogger.DisableLog("rdApp.*")  # RDKit prints its own parse errors; ours is the one line
    try:
        mol = Chem.MolFromSmiles(smiles)
        if mol is None:
            raise DataError(f"{source}: RDKit cannot parse the SMILES '{smiles}'")
        mol = Chem.AddHs(mol)
        params = AllChem.ETKDGv3()
        # RDKit 2026.09 embeds every conformer identically with randomSeed 0 (measured), hence + 1
        params.randomSeed = seed + 1
        ids = list(AllChem.EmbedMultipleConfs(mol, numConfs=num_conformers, params=params))
        if not ids:
            raise DataError(f"{source}: RDKit could not embed a 3D conformer of '{smiles}'")
        if AllChem.MMFFHasAllMoleculeParams(mol):
            AllChem.MMFFOptimizeMoleculeConfs(mol, maxIters=2000)
        else:
            AllChem.UFFOptimizeMoleculeConfs(mol, maxIters=2000)
    finally:
        RDLogger.EnableLog("rdApp.*")
    numbers = np.array([a.GetAtomicNum() for a in mol.GetAtoms()], dtype=np.int64)
    return [
        Frame(
            numbers=numbers,
            positions=mol.GetConformer(c).GetPositions().astype(np.float64),
            cell=np.zeros((3, 3)),
            pbc=np.zeros(3, dtype=bool),
            source=f"{source} conformer {k}",
        )
        for k, c in enumerate(ids)
    ]


def read_smiles(
    path: str | Path,
    num_conformers: int = 1,
    seed: int = 0,
    max_molecules: int | None = None,
    name: str | None = None,
) -> list[Frame]:
    """Conformers of every SMILES in ``path`` (one per line; ``#`` comments and names allowed);
    ``name`` is how messages call the file (default ``path``)."""
    name = name or str(path)
    frames: list[Frame] = []
    molecules = 0
    for lineno, line in enumerate(Path(path).read_text().splitlines(), start=1):
        # a comment starts at a '#' that begins the line or follows a space: in SMILES '#' is a triple bond
        text = re.split(r"(?:^|\s)#", line, maxsplit=1)[0].strip()
        if not text:
            continue
        if max_molecules is not None and molecules == max_molecules:
            break
        frames += smiles_to_frames(text.split()[0], num_conformers, seed, source=f"{name}: line {lineno}")
        molecules += 1
    if not frames:
        raise DataError(f"{name}: no SMILES")
    return frames


# element table and reference energies -----------------------------------------------------------
def element_table(frames: list[Frame]) -> list[str]:
    """Chemical symbols present in ``frames``, by atomic number."""
    present = sorted({int(z) for f in frames for z in np.unique(f.numbers)})
    return [chemical_symbols[z] for z in present]


def check_elements(frames: list[Frame], elements: list[str]) -> None:
    """Raise :class:`DataError` naming the first frame with an element outside ``elements``."""
    known = {atomic_numbers[s] for s in elements}
    for frame in frames:
        unknown = [z for z in np.unique(frame.numbers) if int(z) not in known]
        if unknown:
            raise DataError(
                f"{frame.source}: element {chemical_symbols[int(unknown[0])]} is not in the model's "
                f"element table ({', '.join(elements)}): the model never saw it"
            )


def isolated_atom_energies(frames: list[Frame]) -> dict[str, float]:
    """``{symbol: energy}`` from the one-atom frames (eV)."""
    refs: dict[str, float] = {}
    for frame in frames:
        if len(frame.numbers) == 1:
            if frame.energy is None:
                raise DataError(f"{frame.source}: isolated-atom frame without an energy")
            refs.setdefault(chemical_symbols[int(frame.numbers[0])], frame.energy)
    return refs


def composition_matrix(frames: list[Frame], elements: list[str]) -> np.ndarray:
    """``A[f, s]``: atoms of element ``s`` in frame ``f``."""
    column = {atomic_numbers[s]: k for k, s in enumerate(elements)}
    counts = np.zeros((len(frames), len(elements)))
    for f, frame in enumerate(frames):
        for z, n in zip(*np.unique(frame.numbers, return_counts=True)):
            counts[f, column[int(z)]] = n
    return counts


def fit_reference_energies(frames: list[Frame], elements: list[str]) -> dict[str, float]:
    """Least-squares per-element energies (minimum-norm when the compositions do not fix them)."""
    labelled = [f for f in frames if f.energy is not None]
    if not labelled:
        raise DataError("reference energies: no frame has an energy to fit them to")
    counts = composition_matrix(labelled, elements)
    energies = np.array([f.energy for f in labelled])
    solution, *_ = np.linalg.lstsq(counts, energies, rcond=None)
    return {s: float(e) for s, e in zip(elements, solution)}


# graphs -----------------------------------------------------------------------------------------
def neighbour_pairs(
    positions: np.ndarray, cell: np.ndarray, pbc: np.ndarray, cutoff: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(src, dst, shifts)``: every ordered pair closer than ``cutoff``;
    ``positions[src] - positions[dst] + shifts @ cell`` is the vector from ``dst`` to ``src``."""
    if pbc.any():
        dst, src, shifts = periodic_pairs(positions, cell, pbc, cutoff)
        return src, dst, shifts.astype(np.float64)
    pairs = cKDTree(positions).query_pairs(cutoff, output_type="ndarray").astype(np.int64)
    src = np.concatenate([pairs[:, 0], pairs[:, 1]])
    dst = np.concatenate([pairs[:, 1], pairs[:, 0]])
    return src, dst, np.zeros((len(src), 3))


def periodic_pairs(
    positions: np.ndarray, cell: np.ndarray, pbc: np.ndarray, cutoff: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(i, j, S)``: every ``(i, j, S)`` with integer ``S`` (0 along non-periodic axes), not
    ``i = j`` with ``S = 0``, and ``|positions[j] - positions[i] + S @ cell| < cutoff``.

    The same set as ``ase.neighborlist.primitive_neighbor_list("ijS", ..., self_interaction=False)``
    (the tests compare them), sorted by ``(i, j)``, in a fraction of its time. Positions are
    wrapped into the cell along the periodic axes; a periodic axis ``k`` whose lattice planes are
    ``1 / |b_k|`` apart (``b_k`` the reciprocal vectors) needs images up to ``ceil(cutoff |b_k|)``
    cells away, of which only those within ``cutoff`` of the cell are kept (``cutoff |b_k|`` in
    fractional units on either side), and a k-d tree (SciPy) finds the pairs between the wrapped
    atoms and these images. Any cut-off works, larger than the cell included.
    """
    pbc = np.asarray(pbc, dtype=bool)
    full = complete_cell(cell)
    frac = np.linalg.solve(full.T, positions.T).T
    wrap = np.where(pbc, np.floor(frac), 0.0)
    inside = positions - wrap @ full
    reach = cutoff * np.linalg.norm(np.linalg.inv(full), axis=0)  # cutoff |b_k|, in cells
    reach = np.where(pbc, reach, 0.0)
    n = np.ceil(reach).astype(np.int64)
    grid = np.stack(np.meshgrid(*[np.arange(-k, k + 1) for k in n], indexing="ij"), -1).reshape(-1, 3)
    image_frac = (frac - wrap)[None] + grid[:, None]  # (images, N, 3)
    near = (image_frac >= -reach - 1e-9) & (image_frac < 1 + reach + 1e-9)
    keep = (near | ~pbc).all(axis=2)
    image, atom = np.nonzero(keep)
    image_pos = inside[atom] + grid[image] @ full
    # a hair of slack for the tree: the exact test below decides, as ASE computes it
    found = cKDTree(inside).sparse_distance_matrix(
        cKDTree(image_pos), cutoff * (1 + 1e-8) + 1e-12, output_type="ndarray"
    )
    i = found["i"].astype(np.int64)
    j = atom[found["j"]].astype(np.int64)
    shifts = grid[image[found["j"]]] + wrap[i].astype(np.int64) - wrap[j].astype(np.int64)
    vectors = positions[j] - positions[i] + shifts @ cell
    ok = (np.sqrt((vectors * vectors).sum(axis=1)) < cutoff) & ((i != j) | shifts.any(axis=1))
    i, j, shifts = i[ok], j[ok], shifts[ok]
    order = np.lexsort((j, i))
    return i[order], j[order], shifts[order]


def frame_to_graph(frame: Frame, cutoff: float) -> Data:
    """A :class:`torch_geometric.data.Data` for :class:`.model.EquivariantPotential`.

    Fields: ``pos`` (N, 3) float64, ``z`` (N,), ``edge_index`` (2, E) (source, target), ``shifts``
    (E, 3), ``cell`` (1, 3, 3), ``periodic`` (1,), ``natoms`` (1,), and the labels present:
    ``energy`` (1,) and ``forces`` (N, 3); ``stress`` (1, 3, 3) with ``has_stress`` (1,) (zeros and
    false for a frame without one).
    """
    src, dst, shifts = neighbour_pairs(frame.positions, frame.cell, frame.pbc, cutoff)
    if len(src):
        vectors = frame.positions[src] - frame.positions[dst] + shifts @ frame.cell
        lengths = np.linalg.norm(vectors, axis=1)
        closest = int(np.argmin(lengths))
        if lengths[closest] < MIN_DISTANCE:
            a, b = sorted((int(dst[closest]), int(src[closest])))
            raise DataError(
                f"{frame.source}: atoms {a} and {b} are {lengths[closest]:.3f} Angstrom apart "
                f"(closer than {MIN_DISTANCE} Angstrom)"
            )
    data = Data(
        pos=torch.from_numpy(frame.positions),
        z=torch.from_numpy(frame.numbers),
        edge_index=torch.from_numpy(np.stack([src, dst])),
        shifts=torch.from_numpy(shifts),
        cell=torch.from_numpy(frame.cell).reshape(1, 3, 3),
        periodic=torch.tensor([bool(frame.pbc.any())]),
        natoms=torch.tensor([len(frame.numbers)]),
    )
    if frame.energy is not None:
        data.energy = torch.tensor([frame.energy], dtype=torch.float64)
    if frame.forces is not None:
        data.forces = torch.from_numpy(frame.forces)
    # always present, so frames with and without a stress batch together
    stress = frame.stress if frame.stress is not None else np.zeros((3, 3))
    data.stress = torch.from_numpy(stress).reshape(1, 3, 3)
    data.has_stress = torch.tensor([frame.stress is not None])
    return data


def atoms_to_graph(atoms: Atoms, cutoff: float, source: str = "structure") -> Data:
    """An unlabelled graph of an ASE structure in Angstrom (for calculators and MD)."""
    return frame_to_graph(atoms_to_frame(atoms, source, labelled=False), cutoff)
