"""Molecules as SMILES: 3D conformers with RDKit (hydrogens added, ETKDG v3 embedding, Riniker &
Landrum 2015, then MMFF94 relaxation, UFF where MMFF has no parameters), read as unlabelled
:class:`.data.Frame` objects for the denoising objective."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from sciPT.errors import DataError

from .data import Frame


def parse_smiles(smiles: str, source: str):
    """The RDKit molecule of ``smiles``, or one line (:class:`DataError` naming ``source``) where
    RDKit cannot parse it or it holds several molecules. Call with RDKit's log silenced: it prints
    its own parse errors."""
    from rdkit import Chem

    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        raise DataError(f"{source}: RDKit cannot parse the SMILES '{smiles}'")
    if len(Chem.GetMolFrags(mol)) > 1:
        # ETKDG embeds the fragments of a salt or a solvated molecule on top of each other
        # (atoms 0.2 A apart, forces of 1e7 eV/A from a teacher)
        raise DataError(
            f"{source}: the SMILES '{smiles}' holds {len(Chem.GetMolFrags(mol))} separate molecules "
            "('.'); expected one molecule per line (give each its own line)"
        )
    return mol


class _Captured(logging.Handler):
    def __init__(self):
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record):
        self.messages.append(record.getMessage())


@contextmanager
def embedded(
    smiles: str, num_conformers: int, random_seed: int, source: str
) -> Iterator[tuple[Any, list[int]]]:
    """``(molecule with hydrogens, conformer ids)`` of an ETKDG v3 embedding (``ids`` empty where
    RDKit finds none), with RDKit's own messages kept from the terminal inside the block: it prints
    its parse errors, and ours is the one line (:class:`DataError` naming ``source``).

    Ctrl-C during the embedding is a :class:`KeyboardInterrupt`: RDKit catches SIGINT itself, says
    so in its log ("Interrupted, cancelling conformer generation") and returns no conformer, which
    read as "could not embed" skipped the molecule for good in a cached corpus. Its log is read
    through Python's ``logging`` here for that line, then handed back to its C++ streams."""
    from rdkit import Chem, rdBase
    from rdkit.Chem import AllChem

    logger = logging.getLogger("rdkit")
    saved = logger.handlers[:], logger.propagate, logger.level
    captured = _Captured()
    logger.handlers[:], logger.propagate = [captured], False
    logger.setLevel(logging.DEBUG)
    rdBase.LogToPythonLogger()
    try:
        mol = Chem.AddHs(parse_smiles(smiles, source))
        params = AllChem.ETKDGv3()
        params.randomSeed = random_seed
        ids = list(AllChem.EmbedMultipleConfs(mol, numConfs=num_conformers, params=params))
        if any("Interrupted" in message for message in captured.messages):
            raise KeyboardInterrupt
        yield mol, ids
    finally:
        rdBase.LogToCppStreams()
        logger.handlers[:], logger.propagate = saved[0], saved[1]
        logger.setLevel(saved[2])


def smiles_to_frames(
    smiles: str, num_conformers: int = 1, seed: int = 0, source: str = "SMILES"
) -> list[Frame]:
    """3D conformers of a molecule: hydrogens added, ETKDG v3 embedding, MMFF94 relaxation."""
    from rdkit.Chem import AllChem

    # RDKit 2026.09 embeds every conformer identically with randomSeed 0 (measured), hence + 1
    with embedded(smiles, num_conformers, seed + 1, source) as (mol, ids):
        if not ids:
            raise DataError(f"{source}: RDKit could not embed a 3D conformer of '{smiles}'")
        if AllChem.MMFFHasAllMoleculeParams(mol):
            AllChem.MMFFOptimizeMoleculeConfs(mol, maxIters=2000)
        else:
            AllChem.UFFOptimizeMoleculeConfs(mol, maxIters=2000)
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
