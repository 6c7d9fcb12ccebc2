"""SMILES to 3D conformers (sciPT.domains.molecules.smiles): the UFF fallback."""

import numpy as np
from rdkit import Chem
from rdkit.Chem import AllChem
from rdkit.Geometry import Point3D

from sciPT.domains.molecules.smiles import smiles_to_frames


def test_a_molecule_mmff94_cannot_describe_is_relaxed_with_uff():
    """Trimethylborane has no MMFF94 parameters (boron): its conformers must still be relaxed,
    with UFF, or a user denoising on them starts from raw ETKDG geometries; UFF's own gradient at
    every conformer is near zero."""
    smiles = "CB(C)C"
    mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
    AllChem.EmbedMolecule(mol, randomSeed=1)
    assert not AllChem.MMFFHasAllMoleculeParams(mol)
    frames = smiles_to_frames(smiles, num_conformers=2, seed=3)
    assert len(frames) == 2
    for f in frames:
        assert f.numbers.tolist() == [a.GetAtomicNum() for a in mol.GetAtoms()]  # hydrogens added
        conformer = mol.GetConformer()
        for i, p in enumerate(f.positions):
            conformer.SetAtomPosition(i, Point3D(*map(float, p)))
        field = AllChem.UFFGetMoleculeForceField(mol)
        assert np.abs(field.CalcGrad()).max() < 0.05
