"""`scipt pretrain molecules --teacher ... --smiles ...`: the bad inputs (one line, exit status 2,
nothing written) and, where sevenn is installed, a small run from SMILES to an exported model."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from sciPT.cli import main

SMILES = Path(__file__).resolve().parents[2] / "data_recipes" / "molecules" / "smiles" / "nci_chon_small.smi"
SHORT = ["--batch-size", "2", "--val-every", "2", "--checkpoint-every", "2", "--val-batches", "1"]


def test_an_unknown_teacher_exits_2_with_one_line(tmp_path):
    out = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "-m", "sciPT.cli", "pretrain", "molecules", "--teacher", "mace:big"]
        + ["--smiles", str(SMILES), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "scipt: error: --teacher: unknown teacher 'mace:big' (expected sevenn:MODEL (e.g. sevenn:SevenNet-0))"
    )
    assert not out.exists()


@pytest.mark.parametrize(
    "flags, expected",
    [
        (
            ["--smiles", str(SMILES)],
            "--smiles: needs a teacher to label the molecules (--teacher sevenn:SevenNet-0)",
        ),
        (
            ["--teacher", "sevenn:SevenNet-0"],
            "--smiles: a teacher labels molecules given as SMILES (pass --smiles FILE.smi)",
        ),
        (["--teacher", "sevenn:SevenNet-0", "--smiles", "missing.smi"], "missing.smi: file not found"),
    ],
)
def test_bad_distillation_flags(flags, expected, tmp_path, capsys):
    out = tmp_path / "run"
    code = main(
        ["pretrain", "molecules", *flags, "--distill.cache-dir", str(tmp_path / "c"), "--out", str(out)]
    )
    assert code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == f"scipt: error: {expected}"
    assert not out.exists() and not (tmp_path / "c").exists()


@pytest.mark.parametrize(
    "lines, flags, expected",
    [
        (
            "CCO\n",
            ["--objective.kind", "denoise"],
            "objective.kind denoise: reads the frames unlabelled, so the teacher's energies and forces would "
            "go unused; expected objective.kind energy_forces with --teacher (to denoise, pass structures "
            "or a .smi file as --data, without --teacher)",
        ),
        (
            "CCO\n",
            [
                "--data",
                "data_recipes/molecules/acetylacetone/train_300K.xyz",
                "--data.references",
                "isolated",
            ],
            "--teacher: data.paths, data.references set, but the distilled corpus replaces them (its own "
            "frames, references lstsq, energies and forces in eV and Angstrom); expected them unset with "
            "--teacher (to pre-train on files of your own, pass --data without --teacher)",
        ),
        (
            "F[Xe]F\nFS(F)(F)(F)(F)F\n",
            [],
            "{smi}: every molecule was skipped (line 1 'F[Xe]F': MMFF94 has no parameters for it; line 2 "
            "'FS(F)(F)(F)(F)F': MMFF94 has no parameters for it); expected neutral molecules of two or more atoms "
            "that RDKit can embed in 3D and MMFF94 has parameters for",
        ),
        ("CCO ethanol\nC1CC(\nCCN\n", [], "{smi}: line 2: RDKit cannot parse the SMILES 'C1CC('"),
        # the objective is checked before the corpus is built, as the architecture is
        ("CCO\n", ["--objective.noise-std", "0"], "objective.noise_std: expected a positive length, got 0.0"),
    ],
)
def test_bad_inputs_are_refused_before_the_teacher_labels(
    lines, flags, expected, tmp_path, monkeypatch, capsys
):
    """One line, exit 2, before the teacher is loaded; no run folder and no cache entry."""
    from sciPT.domains.molecules import distill

    def load_teacher(*args, **kwargs):
        raise AssertionError("the teacher was loaded")

    monkeypatch.setattr(distill, "load_teacher", load_teacher)
    smi, out, cache = tmp_path / "mols.smi", tmp_path / "run", tmp_path / "c"
    smi.write_text(lines)
    code = main(
        ["pretrain", "molecules", "--teacher", "sevenn:SevenNet-0", "--smiles", str(smi), *flags]
        + ["--distill.cache-dir", str(cache), "--max-steps", "2", "--out", str(out)]
    )
    assert code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == f"scipt: error: {expected.format(smi=smi)}"
    assert not out.exists() and not any(cache.rglob("*"))


def test_pretrain_from_smiles_with_sevennet(tmp_path):
    """Two molecules, one sample each: 4 labelled frames, 4 steps, an exported model whose corpus
    is the cached distilled file (a subprocess, as a user runs it)."""
    pytest.importorskip("sevenn")
    out, cache = tmp_path / "run", tmp_path / "cache"
    result = subprocess.run(
        [sys.executable, "-m", "sciPT.cli", "pretrain", "molecules", "--teacher", "sevenn:SevenNet-0"]
        + ["--smiles", str(SMILES), "--distill.max-molecules", "2", "--distill.samples", "1"]
        + ["--distill.cache-dir", str(cache), "--data.val-fraction", "0.25", "--max-steps", "4", *SHORT]
        + ["--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    (corpus,) = cache.glob("distill-*.xyz")
    config = yaml.safe_load((out / "config.yaml").read_text())
    assert config["data"]["paths"] == [str(corpus)] and config["distill"]["teacher"] == "sevenn:SevenNet-0"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["frames_train"] + metrics["frames_val"] == 4
    exported = json.loads((out / "model" / "config.json").read_text())
    assert exported["model"]["elements"] == ["H", "C", "N", "O"]  # NCI 1 and 9
    assert exported["references"] == "lstsq"
