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
from sciPT.files import read_data_text, resolve_data_path

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


def read_smiles_lines(path: str | Path, name: str | None = None) -> list[tuple[int, str, str]]:
    """``(line number, SMILES, name)`` of every molecule of ``path`` (name: the second column, else
    ``line N``; ``#`` starts a comment at the start of a line or after a space); ``name`` is how
    messages call the file (default ``path``). A gzip file is read decompressed, a UTF-16 one (a
    byte-order mark says so) decoded: both gave a traceback, as does any text not UTF-8 (one line)."""
    name = name or str(path)
    resolved = resolve_data_path(path)
    if not resolved.is_file():
        raise DataError(f"{name}: file not found")
    text = read_data_text(resolved, name, "expected SMILES, one molecule per line")
    out = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        # a comment starts a line or follows a space: '#' inside a SMILES is a triple bond
        parts = [] if line.lstrip().startswith("#") else re.split(r"\s#", line, maxsplit=1)[0].split()
        if parts:
            out.append((lineno, parts[0], parts[1] if len(parts) > 1 else f"line {lineno}"))
    if not out:
        raise DataError(f"{name}: no SMILES")
    return out


def read_smiles(
    path: str | Path,
    num_conformers: int = 1,
    seed: int = 0,
    max_molecules: int | None = None,
    name: str | None = None,
) -> list[Frame]:
    """Conformers of every SMILES in ``path`` (:func:`read_smiles_lines`); ``name`` is how messages
    call the file (default ``path``)."""
    name = name or str(path)
    frames: list[Frame] = []
    for lineno, smiles, _ in read_smiles_lines(path, name)[:max_molecules]:
        frames += smiles_to_frames(smiles, num_conformers, seed, source=f"{name}: line {lineno}")
    return frames
