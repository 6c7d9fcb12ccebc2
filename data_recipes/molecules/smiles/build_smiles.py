"""Build ``nci_chon_small.smi``: small neutral C/H/O/N molecules from the NCI Open Database sample
that RDKit ships (``rdkit/Data/NCI/first_5K.smi``, the first 5,000 NCI structures).

Kept, in the file's order: one connected fragment; only C, H, O, N; no formal charge or radical;
3 to 12 heavy atoms and at most 30 atoms with hydrogens; MMFF94 parameters for every atom (the
conformer pipeline relaxes with MMFF); canonical SMILES not seen before; not acetylacetone
(pentane-2,4-dione, keto or enol), the molecule the distillation benchmark fine-tunes on, so its
few-shot test measures transfer to an unseen molecule. The first ``--count`` (300) are written.

    python data_recipes/molecules/smiles/build_smiles.py --output nci_chon_small.smi

Deterministic: the same RDKit data file gives the same list (its SHA-256 is in the recipe,
``data_recipes/molecules-smiles.json``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

EXCLUDED = {"CC(=O)CC(C)=O", "CC(=O)C=C(C)O"}  # acetylacetone, keto and enol (canonical SMILES)


def select(source: Path, count: int) -> list[tuple[str, str]]:
    from rdkit import Chem, RDLogger
    from rdkit.Chem import AllChem

    RDLogger.DisableLog("rdApp.*")
    excluded = {Chem.MolToSmiles(Chem.MolFromSmiles(s)) for s in EXCLUDED}
    kept, seen = [], set()
    for line in source.read_text().splitlines():
        smiles, name = line.split()[:2]
        mol = Chem.MolFromSmiles(smiles)
        if mol is None or len(Chem.GetMolFrags(mol)) != 1:
            continue
        if any(
            a.GetSymbol() not in ("C", "H", "O", "N") or a.GetFormalCharge() or a.GetNumRadicalElectrons()
            for a in mol.GetAtoms()
        ):
            continue
        with_h = Chem.AddHs(mol)
        if not 3 <= mol.GetNumHeavyAtoms() <= 12 or with_h.GetNumAtoms() > 30:
            continue
        if not AllChem.MMFFHasAllMoleculeParams(with_h):
            continue
        canonical = Chem.MolToSmiles(mol)
        if canonical in seen or canonical in excluded:
            continue
        seen.add(canonical)
        kept.append((canonical, f"NCI-{name}"))
        if len(kept) == count:
            break
    return kept


def main() -> None:
    from rdkit import RDConfig, rdBase

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=Path(__file__).with_name("nci_chon_small.smi"))
    parser.add_argument("--count", type=int, default=300)
    args = parser.parse_args()
    source = Path(RDConfig.RDDataDir) / "NCI" / "first_5K.smi"
    kept = select(source, args.count)
    header = [
        f"# {len(kept)} small C/H/O/N molecules from the NCI Open Database sample shipped with RDKit",
        f"# (rdkit/Data/NCI/first_5K.smi, RDKit {rdBase.rdkitVersion}); selection: build_smiles.py;",
        "# licence: BSD 3-Clause, as RDKit distributes the file (LICENSE.rdkit). Columns: SMILES, NCI record number.",
    ]
    args.output.write_text("\n".join(header + [f"{s} {n}" for s, n in kept]) + "\n")
    print(f"wrote {len(kept)} SMILES to {args.output}")


if __name__ == "__main__":
    main()
