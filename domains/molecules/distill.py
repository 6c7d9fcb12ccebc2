"""A pre-training corpus distilled from a universal potential: SMILES -> conformers -> labelled frames.

``scipt pretrain molecules --teacher sevenn:SevenNet-0 --smiles FILE.smi`` writes (or finds in its
cache) extended XYZ frames of every molecule of ``FILE.smi`` labelled with the teacher's energies and
forces, then pre-trains on them. What is built, per molecule (line ``k`` of the file):

1. ``conformers`` 3D conformers: hydrogens added, ETKDG v3 embedding, MMFF94 relaxation
   (:func:`.smiles.smiles_to_frames`).
2. For each conformer, ``samples`` displaced copies by normal-mode sampling (Smith, Isayev &
   Roitberg 2017, the ANI-1 data set): the MMFF94 Hessian :math:`H` (central differences of its
   analytic gradient) is mass-weighted, :math:`\\tilde H = M^{-1/2} H M^{-1/2} = \\sum_i \\lambda_i
   v_i v_i^T`; the six modes nearest zero (translations and rotations; five for a linear molecule)
   are dropped and every other mode gets a classical Boltzmann amplitude :math:`q_i \\sim \\mathcal
   N(0, k_B T / \\lambda_i)` at a temperature :math:`T` drawn from ``temperatures``; the
   displacement is :math:`\\Delta x = M^{-1/2} \\sum_i q_i v_i`. Soft modes are floored at
   ``min_frequency`` (cm^-1) so a free torsion does not fling atoms apart. The hottest temperatures
   are the distortions (bonds stretched far beyond 300 K); each such sample is also strained by a
   random symmetric matrix :math:`I + \\epsilon`, :math:`\\epsilon_{ab} \\sim U(-s, s)`, ``s =
   strain``. A sample with two atoms closer than ``min_distance`` is drawn again (at most 20 times).
3. Every frame (the relaxed conformer and its samples) is labelled by the teacher through its ASE
   calculator: ``energy`` (eV) and ``forces`` (eV/Angstrom).

Randomness is seeded by ``(seed, k)``, so molecule ``k`` gets the same frames however the run was
interrupted. Molecules RDKit cannot embed, or for which MMFF94 has no parameters, are skipped and
listed with the reason in the cache's ``.json`` summary (a file where every molecule is skipped is
refused, and leaves no cache entry); every SMILES is parsed before the first molecule is embedded,
so a line RDKit cannot parse, or one holding several molecules, stops the run before any work,
naming the file and line.

Cache and resumption. The corpus is ``CACHE/distill-<key>.xyz`` with ``CACHE`` = ``cache_dir``, else
``$SCIPT_CACHE/distill``, else ``~/.cache/scipt/distill``, and ``key`` the SHA-256 of the SMILES
file's bytes, the teacher's name and every generation setting: the same inputs find the same file,
any change builds a new one. While building, each molecule's frames are written to
``distill-<key>.parts/<k>.xyz`` atomically (temporary file, then rename); a killed run, started
again, skips the molecules whose part exists, and when every molecule is done the parts are joined
into the corpus (atomically) and removed.

Frames carry ``config_type`` (``conformer``, ``thermal`` or ``distorted``), ``smiles``, ``molecule``
(the line's name, else its number) and ``temperature_K``. The teacher's energies are total energies
of its own level of theory (SevenNet-0: PBE(+U) of the Materials Project), so pre-training takes
least-squares reference energies (``data.references lstsq``), never another data set's isolated atoms.
The corpus replaces the data keys of :data:`REPLACED`: a value set for one of them (other than the
presets' and the corpus's own) is refused, as is the denoising objective, which would read the
labelled frames unlabelled (:func:`use_distilled_corpus`).

Teachers: ``sevenn:MODEL`` (``SevenNet-0``, or any name ``sevenn`` accepts; its weights ship in its
wheel). :func:`build_corpus` also takes any ASE calculator object, as the tests do.
"""

from __future__ import annotations

import hashlib
import json
import sys
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from ase import Atoms, units
from ase.calculators.singlepoint import SinglePointCalculator
from ase.data import atomic_masses
from ase.io import write
from tqdm.auto import tqdm

from sciPT import io
from sciPT.errors import ConfigError, DataError, UserError
from sciPT.files import resolve_data_path
from sciPT.locks import waiting_lock

from .smiles import read_smiles_lines

FORMAT_VERSION = 3  # part of the cache key: bump when the frames a setting gives could change
# (2: a linear molecule of 3+ atoms keeps both bends, 3N - 5 modes; 3: ions and lone atoms skipped)
LINEAR_TOLERANCE = 1e-3  # Angstrom from one line: a relaxed CO2 is linear to 1e-6
TEACHERS = {"sevenn": "sevenn:MODEL (e.g. sevenn:SevenNet-0)"}
_SEVENN_NAMES = {"sevennet-0": "7net-0"}  # sevenn's own short names for the public models
SHOWN_SKIPS = 5  # skipped molecules a message lists (the .json summary lists them all)


@dataclass
class DistillConfig:
    """How the distilled corpus is built (module docstring); off while ``teacher`` is ``None``.

    Attributes:
        teacher: the potential that labels the molecules, ``sevenn:MODEL`` (e.g.
            ``sevenn:SevenNet-0``); with ``smiles``, its frames replace ``data.paths``; ``None``: off.
        smiles: the SMILES file (one per line, an optional name after it, ``#`` comments).
        conformers: ETKDG + MMFF conformers per molecule.
        samples: normal-mode samples per conformer (0: the relaxed conformers only).
        temperatures: sampling temperatures in K, cycled over the samples; those at or above
            ``distort_above`` are also strained.
        distort_above: temperature (K) from which a sample is a distortion.
        strain: half-width of the uniform random strain of a distortion (a fraction, below 0.5).
        min_frequency: floor of the normal-mode frequencies, cm^-1.
        min_distance: closest two atoms of a sample may be, Angstrom.
        max_molecules: use only the first molecules of the file (``None``: all).
        seed: seeds the conformers and the samples.
        cache_dir: where corpora are kept (``None``: ``$SCIPT_CACHE/distill``, else
            ``~/.cache/scipt/distill``).
        device: torch device of the teacher.
    """

    teacher: str | None = None
    smiles: str | None = None
    conformers: int = 1
    samples: int = 5
    temperatures: list[float] = field(default_factory=lambda: [300.0, 500.0, 800.0])
    distort_above: float = 800.0
    strain: float = 0.04
    min_frequency: float = 150.0
    min_distance: float = 0.6
    max_molecules: int | None = None
    seed: int = 0
    cache_dir: str | None = None
    device: str = "cpu"


def validate(cfg: DistillConfig) -> None:
    """Checks that need no file (before anything is read or computed)."""
    if cfg.teacher is None:
        if cfg.smiles is not None:
            raise ConfigError(
                "--smiles: needs a teacher to label the molecules (--teacher sevenn:SevenNet-0)"
            )
        return
    kind, sep, name = cfg.teacher.partition(":")
    if kind not in TEACHERS or not sep or not name:
        raise UserError(
            f"--teacher: unknown teacher '{cfg.teacher}' (expected {', '.join(TEACHERS.values())})"
        )
    if cfg.smiles is None:
        raise ConfigError("--smiles: a teacher labels molecules given as SMILES (pass --smiles FILE.smi)")
    checks = [
        ("distill.conformers", cfg.conformers >= 1, "a positive integer"),
        ("distill.samples", cfg.samples >= 0, "an integer >= 0"),
        ("distill.temperatures", bool(cfg.temperatures) and min(cfg.temperatures) > 0, "temperatures > 0 K"),
        ("distill.strain", 0 <= cfg.strain < 0.5, "a strain in [0, 0.5)"),
        ("distill.min_frequency", cfg.min_frequency > 0, "a frequency > 0 cm^-1"),
        ("distill.min_distance", cfg.min_distance > 0, "a distance > 0 Angstrom"),
        ("distill.max_molecules", cfg.max_molecules is None or cfg.max_molecules >= 1, "a positive integer"),
    ]
    for key, ok, expected in checks:
        if not ok:
            raise ConfigError(f"{key}: expected {expected}, got {getattr(cfg, key.split('.')[1])}")
    from .calculator import torch_device  # the model's code (e3nn): loaded when a run is checked

    torch_device(cfg.device, "distill.device")


def load_teacher(name: str, device: str = "cpu"):
    """The ASE calculator of teacher ``name`` (``sevenn:MODEL``)."""
    kind, _, model = name.partition(":")
    if kind == "sevenn":
        try:
            from sevenn.calculator import SevenNetCalculator
        except ModuleNotFoundError:
            raise UserError(
                f"--teacher {name}: needs the 'sevenn' package, which is not installed: pip install sevenn"
            ) from None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "no tensor product accelerator": expected on a CPU
            return SevenNetCalculator(_SEVENN_NAMES.get(model.lower(), model), device=device)
    raise UserError(f"--teacher: unknown teacher '{name}' (expected {', '.join(TEACHERS.values())})")


# --- molecules and samples ----------------------------------------------------------------------
def check_smiles(path: str | Path, molecules: list[tuple[int, str, str]]) -> dict[int, int]:
    """Parses every SMILES of ``molecules`` (:func:`read_smiles_lines`), with the messages of
    :func:`.smiles.embedded` (:func:`.smiles.parse_smiles`): a bad line found when its turn came would stop a build after the
    molecules before it were labelled. Returns the repeats: ``{index: line}`` for each molecule
    that an earlier line already gave, in any spelling (``OCC`` after ``CCO``), and that line."""
    from rdkit import Chem, RDLogger

    from .smiles import parse_smiles

    first: dict[str, int] = {}
    repeats = {}
    RDLogger.DisableLog("rdApp.*")  # RDKit prints its own parse errors; ours is the one line
    try:
        for k, (lineno, smiles, _) in enumerate(molecules):
            canonical = Chem.MolToSmiles(parse_smiles(smiles, f"{path}: line {lineno}"))
            if canonical in first:
                repeats[k] = first[canonical]
            first.setdefault(canonical, lineno)
    finally:
        RDLogger.EnableLog("rdApp.*")
    return repeats


def mmff_hessian(mol, conf_id: int, step: float = 1e-3) -> np.ndarray:
    """``(3N, 3N)`` MMFF94 Hessian in eV/Angstrom^2: central differences of the analytic gradient.

    The force field is rebuilt at every displaced geometry: ``ForceField.CalcGrad(positions)`` of
    RDKit 2026.09 returned gradients that depended on earlier calls (measured on ethanol: a
    Hessian with six negative modes down to -205 cm^-1, against six zero modes and 250-3730
    cm^-1 this way). The conformer is left as it was.
    """
    from rdkit.Chem import AllChem
    from rdkit.Geometry import Point3D

    props = AllChem.MMFFGetMoleculeProperties(mol)
    conf = mol.GetConformer(conf_id)
    x0 = conf.GetPositions()

    def gradient(x: np.ndarray) -> np.ndarray:
        for atom, position in enumerate(x.reshape(-1, 3)):
            conf.SetAtomPosition(atom, Point3D(*position))
        return np.array(AllChem.MMFFGetMoleculeForceField(mol, props, confId=conf_id).CalcGrad())

    flat = x0.ravel()
    hessian = np.zeros((flat.size, flat.size))
    for i in range(flat.size):
        plus, minus = flat.copy(), flat.copy()
        plus[i] += step
        minus[i] -= step
        hessian[i] = (gradient(plus) - gradient(minus)) / (2 * step)
    gradient(flat)  # restore the conformer
    return 0.5 * (hessian + hessian.T) * units.kcal / units.mol


def rigid_body_modes(positions: np.ndarray) -> int:
    """Translations and rotations of a molecule at ``positions`` ``(N, 3)`` (Angstrom): 6, or 5 for
    a linear one (a diatomic, CO2, acetylene: no rotation about its axis), 3 for an atom."""
    if len(positions) == 1:
        return 3
    # every atom within LINEAR_TOLERANCE of one line: the second singular value bounds their distances
    spread = np.linalg.svd(positions - positions.mean(axis=0), compute_uv=False)
    return 5 if spread[1] < LINEAR_TOLERANCE else 6


def normal_modes(hessian: np.ndarray, masses: np.ndarray, positions: np.ndarray, min_frequency: float):
    """Mass-weighted eigenvectors ``(3N, 3N - 6)`` (``3N - 5`` for a linear molecule,
    :func:`rigid_body_modes`) and their eigenvalues, floored (module docstring); eigenvalues in
    eV / (Angstrom^2 amu)."""
    inv_sqrt_m = 1.0 / np.sqrt(np.repeat(masses, 3))
    weighted = hessian * inv_sqrt_m[:, None] * inv_sqrt_m[None, :]
    values, vectors = np.linalg.eigh(weighted)
    keep = np.argsort(np.abs(values))[rigid_body_modes(np.asarray(positions, dtype=float)) :]
    # omega (rad/s) = sqrt(lambda eV/(A^2 amu)); 1 cm^-1 is 2 pi c, so lambda_min = (2 pi c nu)^2
    omega_unit = np.sqrt(units._e / (1e-20 * units._amu))  # rad/s for lambda = 1
    floor = (2 * np.pi * units._c * 100 * min_frequency / omega_unit) ** 2
    return vectors[:, keep], np.maximum(values[keep], floor)


def sample_displacement(
    vectors: np.ndarray, values: np.ndarray, masses: np.ndarray, temperature: float, rng
) -> np.ndarray:
    """``(N, 3)`` normal-mode displacement at ``temperature`` K (module docstring)."""
    q = rng.normal(size=len(values)) * np.sqrt(units.kB * temperature / values)
    return ((vectors @ q) / np.sqrt(np.repeat(masses, 3))).reshape(-1, 3)


def _min_distance(positions: np.ndarray) -> float:
    d = np.linalg.norm(positions[:, None] - positions[None], axis=-1)
    return float(d[np.triu_indices(len(positions), 1)].min()) if len(positions) > 1 else np.inf


class Skipped(Exception):
    """A molecule the corpus leaves out; the message is the reason."""


def _skip_reason(path: Path) -> str:
    # parts written before skips had reasons (an interrupted build resumed by this version) have none
    return (
        path.read_text() if path.is_file() else "RDKit could not embed it, or MMFF94 has no parameters for it"
    )


def molecule_structures(smiles: str, index: int, cfg: DistillConfig, source: str) -> list[Atoms]:
    """The unlabelled frames of one molecule (module docstring, steps 1 and 2); raises
    :class:`Skipped` when it is charged or a single atom, when RDKit cannot embed it, or when
    MMFF94 has no parameters for it."""
    from rdkit import Chem
    from rdkit.Chem import AllChem

    from .smiles import embedded

    rng = np.random.default_rng([cfg.seed, index])
    with embedded(smiles, cfg.conformers, int(rng.integers(1, 2**31 - 1)), source) as (mol, ids):
        # a teacher takes no charge, so an ion was labelled as the neutral atom or molecule; a lone
        # atom has no geometry to learn, and pre-training dropped its frames without a word
        charge = Chem.GetFormalCharge(mol)
        if charge:
            raise Skipped(f"a net charge of {charge:+d}, which the teacher cannot be told")
        if mol.GetNumAtoms() < 2:
            raise Skipped("a single atom")
        if not ids:
            raise Skipped("RDKit could not embed a 3D conformer")
        if not AllChem.MMFFHasAllMoleculeParams(mol):
            # the normal modes are MMFF94's: UFF, which smiles_to_frames falls back on, has no Hessian here
            raise Skipped("MMFF94 has no parameters for it")
        AllChem.MMFFOptimizeMoleculeConfs(mol, maxIters=2000)
    numbers = np.array([a.GetAtomicNum() for a in mol.GetAtoms()])
    masses = atomic_masses[numbers]
    out = []
    for conf_id in ids:
        x0 = mol.GetConformer(conf_id).GetPositions()
        out.append(_atoms(numbers, x0, "conformer", 0.0, smiles))
        vectors, values = normal_modes(mmff_hessian(mol, conf_id), masses, x0, cfg.min_frequency)
        for s in range(cfg.samples):
            temperature = float(cfg.temperatures[s % len(cfg.temperatures)])
            distorted = temperature >= cfg.distort_above
            for _ in range(20):
                x = x0 + sample_displacement(vectors, values, masses, temperature, rng)
                if distorted:
                    eps = rng.uniform(-cfg.strain, cfg.strain, (3, 3))
                    centre = x.mean(axis=0)
                    x = centre + (x - centre) @ (np.eye(3) + 0.5 * (eps + eps.T))
                if _min_distance(x) >= cfg.min_distance:
                    out.append(
                        _atoms(numbers, x, "distorted" if distorted else "thermal", temperature, smiles)
                    )
                    break
    return out


def _atoms(numbers, positions, kind: str, temperature: float, smiles: str) -> Atoms:
    atoms = Atoms(numbers=numbers, positions=positions)
    atoms.info.update({"config_type": kind, "temperature_K": temperature, "smiles": smiles})
    return atoms


def label(structures: list[Atoms], teacher) -> list[Atoms]:
    """Copies of ``structures`` with the teacher's energy and forces (as a single-point result)."""
    out = []
    for atoms in structures:
        work = atoms.copy()
        work.calc = teacher
        energy, forces = float(work.get_potential_energy()), np.array(work.get_forces(), dtype=np.float64)
        if not (np.isfinite(energy) and np.isfinite(forces).all()):
            raise DataError(
                f"teacher: non-finite energy or forces for {atoms.info.get('smiles', 'a molecule')}"
            )
        labelled = atoms.copy()
        labelled.calc = SinglePointCalculator(labelled, energy=energy, forces=forces)
        out.append(labelled)
    return out


# --- the cached corpus ------------------------------------------------------------------------
def cache_root(cfg: DistillConfig) -> Path:
    if cfg.cache_dir:
        return Path(cfg.cache_dir)
    return io.cache_dir("distill")


def cache_key(cfg: DistillConfig, teacher_name: str) -> str:
    """SHA-256 of the SMILES file's bytes, the teacher's name and the generation settings."""
    settings = {k: v for k, v in asdict(cfg).items() if k not in ("teacher", "smiles", "cache_dir", "device")}
    digest = hashlib.sha256()
    digest.update(resolve_data_path(cfg.smiles).read_bytes())
    digest.update(
        json.dumps({"teacher": teacher_name, "v": FORMAT_VERSION, **settings}, sort_keys=True).encode()
    )
    return digest.hexdigest()


def corpus_path(cfg: DistillConfig, teacher_name: str | None = None) -> Path:
    return cache_root(cfg) / f"distill-{cache_key(cfg, teacher_name or cfg.teacher)[:20]}.xyz"


def build_corpus(
    cfg: DistillConfig,
    teacher=None,
    teacher_name: str | None = None,
    progress: bool = True,
) -> Path:
    """The labelled corpus of ``cfg`` (module docstring), built unless already cached.

    Args:
        cfg: the settings; ``cfg.smiles`` is required.
        teacher: an ASE calculator; default: :func:`load_teacher` of ``cfg.teacher``, loaded only
            when some molecule still needs labels.
        teacher_name: the name the cache key uses for ``teacher`` (default ``cfg.teacher``).
        progress: show a progress bar.
    """
    if cfg.smiles is None:
        raise ConfigError("--smiles: a teacher labels molecules given as SMILES (pass --smiles FILE.smi)")
    name = teacher_name or cfg.teacher
    if name is None:
        raise ConfigError("--teacher: no teacher given (for example --teacher sevenn:SevenNet-0)")
    molecules = read_smiles_lines(cfg.smiles)[: cfg.max_molecules]  # the file exists and has SMILES
    repeats = check_smiles(cfg.smiles, molecules)
    target = corpus_path(cfg, name)
    if target.is_file():
        return target
    # two runs started together (a sweep, a job array) take turns: the second finds the corpus
    lock = target.with_suffix(".lock")
    with waiting_lock(lock, str(target)):
        if target.is_file():
            return target
        try:
            return _build(cfg, name, molecules, target, teacher, progress, repeats)
        except DataError:
            lock.unlink(missing_ok=True)  # refused input leaves nothing in the cache
            raise


def _build(
    cfg: DistillConfig, name: str, molecules: list, target: Path, teacher, progress: bool, repeats: dict
) -> Path:
    """:func:`build_corpus`'s labelling and assembly, under its lock; a molecule in ``repeats``
    (:func:`check_smiles`) is skipped: labelled twice, it weighed twice in the fit."""
    parts = target.with_suffix(".parts")
    parts.mkdir(parents=True, exist_ok=True)
    done = 0
    # closed on Ctrl-C too: left open, it was redrawn below the line saying how to go on
    with tqdm(total=len(molecules), desc="distilling", unit="molecule", disable=not progress) as bar:
        for k, (lineno, smiles, title) in enumerate(molecules):
            part = parts / f"{k:06d}.xyz"
            if part.is_file():
                done += 1
                bar.update()
                continue
            try:
                if k in repeats:
                    raise Skipped(f"the molecule of line {repeats[k]} again")
                structures = molecule_structures(smiles, k, cfg, f"{cfg.smiles}: line {lineno}")
            except Skipped as reason:
                # the reason first: an empty part, which marks the molecule done, must find it on resume
                with io.atomic_path(part.with_suffix(".skip")) as tmp:
                    tmp.write_text(str(reason))
                structures = []
            if teacher is None and structures:
                teacher = load_teacher(name, cfg.device)
            frames = label(structures, teacher) if structures else []
            for atoms in frames:
                atoms.info["molecule"] = title
            with io.atomic_path(part) as tmp, open(tmp, "w") as handle:
                if frames:  # an empty part marks a skipped molecule
                    write(handle, frames, format="extxyz")
            bar.update()
    skipped = [
        {"line": lineno, "smiles": smiles, "reason": _skip_reason(parts / f"{k:06d}.skip")}
        for k, (lineno, smiles, _) in enumerate(molecules)
        if (parts / f"{k:06d}.xyz").stat().st_size == 0
    ]
    listed = "; ".join(f"line {s['line']} '{s['smiles']}': {s['reason']}" for s in skipped[:SHOWN_SKIPS])
    listed += f"; {len(skipped) - SHOWN_SKIPS} more" if len(skipped) > SHOWN_SKIPS else ""
    if len(skipped) == len(molecules):
        # nothing to pre-train on: no corpus, and no parts that would bring a rerun straight back here
        for part in parts.iterdir():
            part.unlink()
        parts.rmdir()
        raise DataError(
            f"{cfg.smiles}: every molecule was skipped ({listed}); expected neutral molecules of two "
            "or more atoms that RDKit can embed in 3D and MMFF94 has parameters for"
        )
    # the summary first: the corpus's existence is what marks the build as finished
    io.write_json(
        target.with_suffix(".json"),
        {
            "teacher": name,
            "smiles": str(cfg.smiles),
            "molecules": len(molecules),
            "skipped": skipped,
            "settings": asdict(cfg),
        },
    )
    with io.atomic_path(target) as tmp, open(tmp, "w") as out:
        for k in range(len(molecules)):
            out.write((parts / f"{k:06d}.xyz").read_text())
    for part in parts.iterdir():
        part.unlink()
    parts.rmdir()
    if skipped:
        print(
            f"distillation: {len(skipped)} of {len(molecules)} molecules were skipped ({listed}; "
            f"all in {target.with_suffix('.json')})",
            file=sys.stderr,
        )
    if done:
        print(
            f"distillation: resumed, {done} of {len(molecules)} molecules were already labelled",
            file=sys.stderr,
        )
    return target


REPLACED = (
    "paths",
    "val_paths",
    "isolated_atoms",
    "references",
    "energy_key",
    "forces_key",
    "energy_unit",
    "length_unit",
    "force_unit",
)
"""The ``data`` keys the distilled corpus sets (:func:`distilled_data`)."""


def distilled_data(corpus: Path) -> dict:
    """The :data:`REPLACED` data keys of pre-training on ``corpus``: its frames alone, references by
    least squares, since the teacher's energies are of its own level of theory (module docstring)."""
    return {
        "paths": [str(corpus)],
        "val_paths": [],
        "isolated_atoms": None,
        "references": "lstsq",
        "energy_key": "energy",
        "forces_key": "forces",
        "energy_unit": "eV",
        "length_unit": "Angstrom",
        "force_unit": None,
    }


def check_pretraining(cfg) -> None:
    """Refuses what the corpus would silently override or leave unused: the denoising objective,
    and :data:`REPLACED` data keys set to a value neither a preset's nor the corpus's own. The
    resolved config does not say which layer set a key, so a preset's value counts as unset (the
    presets' files are what the corpus replaces) and the corpus's own as agreeing (a resumed run's
    config.yaml holds it)."""
    from .presets import PRESETS

    if cfg.objective.kind != "energy_forces":
        raise ConfigError(
            f"objective.kind {cfg.objective.kind}: reads the frames unlabelled, so the teacher's energies "
            "and forces would go unused; expected objective.kind energy_forces with --teacher (to "
            "denoise, pass structures or a .smi file as --data, without --teacher)"
        )
    read_smiles_lines(cfg.distill.smiles)  # the file exists before its bytes name the corpus
    corpus = distilled_data(corpus_path(cfg.distill))
    presets = [preset().data for preset in PRESETS.values()]
    clashing = [
        f"data.{key}"
        for key in REPLACED
        if getattr(cfg.data, key) != corpus[key]
        and all(getattr(cfg.data, key) != getattr(p, key) for p in presets)
    ]
    if clashing:
        them = "it" if len(clashing) == 1 else "them"
        raise ConfigError(
            f"--teacher: {', '.join(clashing)} set, but the distilled corpus replaces "
            f"{them} (its own frames, references lstsq, energies and forces in eV and Angstrom); "
            f"expected {them} unset with --teacher (to pre-train on files of your own, pass --data "
            "without --teacher)"
        )


def use_distilled_corpus(cfg) -> Path:
    """``scipt pretrain molecules --teacher ... --smiles ...``: build (or find) the corpus and make it
    the pre-training data of ``cfg`` (a :class:`.presets.MoleculesConfig`), replacing the preset's
    files (:func:`distilled_data`), once :func:`check_pretraining` found nothing it would override
    or leave unused. Returns the corpus path."""
    validate(cfg.distill)
    check_pretraining(cfg)
    path = build_corpus(cfg.distill)
    for key, value in distilled_data(path).items():
        setattr(cfg.data, key, value)
    print(f"distilled corpus: {path}{skipped_clause(path)}", file=sys.stderr)
    return path


def skipped_clause(path: Path) -> str:
    """`` (N of M molecules skipped, listed in PATH.json)`` where the corpus at ``path`` skipped
    some, else ``""``: a run that reuses a cached corpus was not told, the build's own line being
    said once, when it was built."""
    summary = path.with_suffix(".json")
    record = json.loads(summary.read_text()) if summary.is_file() else {}
    skipped = len(record.get("skipped", []))
    if not skipped:
        return ""
    return f" ({skipped} of {record['molecules']} molecules skipped, listed in {summary})"
