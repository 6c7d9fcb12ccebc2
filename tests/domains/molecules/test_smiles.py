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


def test_ctrl_c_during_the_embedding_is_an_interrupt_not_a_molecule_rdkit_cannot_embed(capfd):
    """RDKit catches SIGINT inside ETKDG, logs "Interrupted, cancelling conformer generation" and
    returns no conformer: read as "could not embed", a distillation skipped the molecule for good in
    its cached corpus and exited 0 (found by an audit). A macrocycle of 20 units takes minutes to
    embed; SIGINT one second in must stop it as Ctrl-C, and RDKit's log is handed back after."""
    import os
    import signal
    import threading
    import time

    import pytest
    from rdkit import RDLogger

    macrocycle = "C1" + "C(C)(O)C(N)C(=O)N" * 20 + "C1"
    threading.Thread(
        target=lambda: (time.sleep(1.0), os.kill(os.getpid(), signal.SIGINT)), daemon=True
    ).start()
    started = time.time()
    with pytest.raises(KeyboardInterrupt):
        smiles_to_frames(macrocycle, num_conformers=10)
    assert time.time() - started < 30
    assert "Interrupted" not in capfd.readouterr().err  # kept from the terminal, as RDKit's other messages
    RDLogger.logger().error("after the block")
    assert "after the block" in capfd.readouterr().err
