"""`scipt export RUN` takes everything from the checkpoint: with the training data gone, a molecules
run (element table, reference energies, EWC Fisher) and a DNA run (tokenizer) export bit-identically
to the run's own model/, and an intermediate checkpoint exports its weights without the Fisher."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from ase.io import read, write
from safetensors.torch import load_file

from sciPT.checkpoint import load_lightning_checkpoint
from sciPT.cli import main
from sciPT.domains.molecules.calculator import SciPTCalculator
from sciPT.testing import FAST_SEQUENCE_FLAGS

SHIPPED = Path(__file__).resolve().parents[2] / "data_recipes" / "molecules" / "ethanol"


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A tiny run (5 steps, so the last periodic checkpoint is at step 4), its data then deleted."""
    folder = tmp_path_factory.mktemp("mol-export")
    data, atoms = folder / "ethanol.xyz", folder / "isolated_atoms.xyz"
    write(data, read(SHIPPED / "train.xyz", index=":16"))
    shutil.copy(SHIPPED / "isolated_atoms.xyz", atoms)
    run = folder / "pre"
    assert (
        main(
            [
                "pretrain",
                "molecules",
                "--preset",
                "tiny",
                "--data",
                str(data),
                "--data.isolated-atoms",
                str(atoms),
                "--max-steps",
                "5",
                "--batch-size",
                "4",
                "--val-every",
                "2",
                "--checkpoint-every",
                "2",
                "--val-batches",
                "1",
                "--fisher.frames",
                "6",
                "--out",
                str(run),
            ]
        )
        == 0
    )
    data.unlink()
    atoms.unlink()
    return run


def assert_same_export(a: Path, b: Path) -> dict:
    assert json.loads((a / "config.json").read_text()) == json.loads((b / "config.json").read_text())
    assert (a / "model.safetensors").read_bytes() == (b / "model.safetensors").read_bytes()
    return load_file(a / "model.safetensors")


def test_export_without_the_data_equals_the_run_own_export(finished_run, tmp_path, capsys):
    run = finished_run
    # the final step is in last.ckpt even though the run stopped between two periodic saves
    checkpoint = load_lightning_checkpoint(run / "checkpoints" / "last.ckpt")  # weights_only=True
    assert checkpoint["global_step"] == 5
    assert main(["export", str(run), "--out", str(tmp_path / "model")]) == 0
    assert capsys.readouterr().err.strip().splitlines() == [f"exported step 5 to {tmp_path / 'model'}"]
    weights = assert_same_export(tmp_path / "model", run / "model")
    exported = json.loads((tmp_path / "model" / "config.json").read_text())
    assert exported["model"]["elements"] == ["H", "C", "O"]
    assert exported["pretrained_on"][0]["path"].endswith("ethanol.xyz")
    # the Fisher EWC needs is there too, the one pre-training computed
    assert {"ewc.lambda_0", "ewc.pretraining_loss", "fisher.readout.0.weight"} <= weights.keys()

    atoms = read(SHIPPED / "test_MD.xyz", index=0)
    results = []
    for model in (tmp_path / "model", run / "model"):
        atoms.calc = SciPTCalculator(model)
        results.append((atoms.get_potential_energy(), atoms.get_forces().copy()))
    assert results[0][0] == results[1][0]
    np.testing.assert_array_equal(results[0][1], results[1][1])
    assert np.abs(results[0][1]).max() > 0


def test_checkpoint_without_the_fisher_exports_the_weights_and_says_so(finished_run, tmp_path, capsys):
    run = finished_run
    checkpoint = load_lightning_checkpoint(run / "checkpoints" / "last.ckpt")
    del checkpoint["sciPT_export"]["tensors"]  # as in a checkpoint saved during training
    middle = tmp_path / "middle.ckpt"
    torch.save(checkpoint, middle)
    assert main(["export", str(run), "--checkpoint", str(middle), "--out", str(tmp_path / "model")]) == 0
    assert capsys.readouterr().err.strip().splitlines() == [
        f"{middle}: no EWC Fisher (it is added to last.ckpt when pre-training ends); exported the weights "
        "only; for EWC, export the finished run's checkpoints/last.ckpt",
        f"exported step 5 to {tmp_path / 'model'}",
    ]
    weights = load_file(tmp_path / "model" / "model.safetensors")
    own = load_file(run / "model" / "model.safetensors")
    assert not any(k.startswith(("fisher.", "fisher_block", "ewc.")) for k in weights)
    assert weights.keys() == {k for k in own if not k.startswith(("fisher.", "fisher_block", "ewc."))}
    assert all(torch.equal(weights[k], own[k]) for k in weights)


def test_a_checkpoint_without_export_configuration_is_refused(finished_run, tmp_path, capsys):
    checkpoint = load_lightning_checkpoint(finished_run / "checkpoints" / "last.ckpt")
    del checkpoint["sciPT_export"]
    old = tmp_path / "old.ckpt"
    torch.save(checkpoint, old)
    assert main(["export", str(finished_run), "--checkpoint", str(old), "--out", str(tmp_path / "m")]) == 2
    assert capsys.readouterr().err.strip() == (
        f"scipt: error: {old}: holds no export configuration (only pre-training checkpoints written by "
        "this sciPT version or later do)"
    )
    assert not (tmp_path / "m").exists()


def test_whether_training_saw_periodic_images_survives_export_and_reload(finished_run, tmp_path, capsys):
    """The record is part of the model's config: written by pre-training (False for ethanol, True for
    Cu crystals labelled by EMT with energy, forces and stress), kept by `scipt export` from the
    checkpoint, and read back with the weights, so the reloaded ethanol model warns of an H atom in
    a 2 Angstrom box and the Cu model of no crystal; an export without the record warns of nothing."""
    import warnings

    from ase import Atoms
    from ase.build import bulk
    from ase.calculators.emt import EMT
    from ase.calculators.singlepoint import SinglePointCalculator

    from sciPT.checkpoint import from_pretrained

    frames = []
    for seed in range(6):
        atoms = bulk("Cu", "fcc", a=3.6) * (2, 2, 2)
        atoms.rattle(0.05, seed=seed)
        atoms.calc = EMT()
        labels = dict(
            energy=atoms.get_potential_energy(), forces=atoms.get_forces(), stress=atoms.get_stress()
        )
        atoms.calc = SinglePointCalculator(atoms, **labels)
        frames.append(atoms)
    write(tmp_path / "cu.xyz", frames)
    cu = tmp_path / "cu"
    flags = ["--preset", "tiny", "--max-steps", "2", "--batch-size", "2"]
    flags += ["--val-every", "2", "--val-batches", "1"]
    flags += ["--data.stress-key", "stress", "--objective.stress-weight", "1", "--fisher.frames", "0"]
    assert main(["pretrain", "molecules", "--data", str(tmp_path / "cu.xyz"), *flags, "--out", str(cu)]) == 0
    assert main(["export", str(cu), "--out", str(tmp_path / "cu-model")]) == 0
    assert_same_export(tmp_path / "cu-model", cu / "model")
    assert main(["export", str(finished_run), "--out", str(tmp_path / "model")]) == 0
    assert_same_export(tmp_path / "model", finished_run / "model")
    assert json.loads((cu / "model" / "config.json").read_text())["model"]["periodic_images"] is True
    assert from_pretrained(tmp_path / "cu-model", domain="molecules").model.periodic_images() is True
    assert from_pretrained(tmp_path / "model", domain="molecules").model.periodic_images() is False

    def said(model, atoms) -> list[str]:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            atoms.calc = SciPTCalculator(model)
            atoms.get_potential_energy()
        return [str(w.message) for w in caught if "periodic images" in str(w.message)]

    assert said(tmp_path / "cu-model", frames[0].copy()) == []
    assert said(tmp_path / "model", Atoms("H", cell=[2, 2, 2], pbc=True)) == [
        "H structure: periodic images within the cutoff, but head ethanol was trained on molecules alone (no "
        "training frame had one): its energies, forces and stress here are outside what it learnt"
    ]
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    del config["model"]["periodic_images"]  # as an export written before the record
    (tmp_path / "model" / "config.json").write_text(json.dumps(config))
    assert from_pretrained(tmp_path / "model", domain="molecules").model.periodic_images() is None
    assert said(tmp_path / "model", Atoms("H", cell=[2, 2, 2], pbc=True)) == []


def test_dna_export_without_the_data(tmp_path, capsys):
    data = tmp_path / "genome.fa"
    rng = np.random.default_rng(0)
    data.write_text(">chr\n" + "".join(rng.choice(list("ACGT"), 4000)) + "\n")
    run = tmp_path / "run"
    assert (
        main(
            [
                "pretrain",
                "dna",
                "--preset",
                "tiny",
                "--data",
                str(data),
                *FAST_SEQUENCE_FLAGS,
                "--max-steps",
                "3",
                "--out",
                str(run),
            ]
        )
        == 0
    )
    data.unlink()
    assert main(["export", str(run), "--out", str(tmp_path / "model")]) == 0
    assert capsys.readouterr().err.strip().splitlines()[-1] == f"exported step 3 to {tmp_path / 'model'}"
    exported = assert_same_export(tmp_path / "model", run / "model")
    assert not any(k.startswith("fisher.") for k in exported)
