"""`scipt export RUN` on a molecules pre-training run: the potential of `last.ckpt`, with the
data-derived fields and the EWC Fisher recomputed from the run's data, loads in the ASE calculator."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from ase.io import read, write
from safetensors.torch import load_file

from sciPT.cli import main
from sciPT.domains.molecules.calculator import SciPTCalculator

SHIPPED = Path(__file__).resolve().parents[2] / "data_recipes" / "molecules" / "ethanol"


@pytest.fixture(scope="module")
def stopped_run(tmp_path_factory):
    """A tiny run whose export is removed, as if it had been stopped before its end."""
    folder = tmp_path_factory.mktemp("mol-export")
    data = folder / "ethanol.xyz"
    write(data, read(SHIPPED / "train.xyz", index=":16"))
    run = folder / "pre"
    assert main(["pretrain", "molecules", "--preset", "tiny", "--data", str(data),
                 "--data.isolated-atoms", str(SHIPPED / "isolated_atoms.xyz"), "--max-steps", "4",
                 "--batch-size", "4", "--val-every", "2", "--checkpoint-every", "2",
                 "--val-batches", "1", "--fisher.frames", "6", "--out", str(run)]) == 0
    finished = folder / "finished_export"
    shutil.move(run / "model", finished)
    return run, finished, data


def test_export_from_last_checkpoint_equals_the_run_own_export(stopped_run, capsys):
    run, finished, _ = stopped_run
    assert main(["export", str(run)]) == 0
    # after the Fisher's progress bar
    assert capsys.readouterr().err.strip().splitlines()[-1] == f"exported step 4 to {run / 'model'}"
    exported = json.loads((run / "model" / "config.json").read_text())
    own = json.loads((finished / "config.json").read_text())
    # same element table, reference energies, energy shift and scale, neighbours, provenance
    assert exported == own
    assert exported["model"]["elements"] == ["H", "C", "O"]
    weights, own_weights = (load_file(d / "model.safetensors") for d in (run / "model", finished))
    assert weights.keys() == own_weights.keys()
    # the Fisher EWC needs is there too, equal to the one pre-training stored
    assert {"ewc.lambda_0", "ewc.pretraining_loss", "fisher.readout.0.weight"} <= weights.keys()
    for key, value in weights.items():
        assert (value == own_weights[key]).all(), key

    atoms = read(SHIPPED / "test_MD.xyz", index=0)
    results = []
    for model in (run / "model", finished):
        atoms.calc = SciPTCalculator(model)
        results.append((atoms.get_potential_energy(), atoms.get_forces().copy()))
    assert results[0][0] == results[1][0]
    np.testing.assert_array_equal(results[0][1], results[1][1])
    assert np.abs(results[0][1]).max() > 0


def test_export_names_a_data_file_that_is_gone(stopped_run, tmp_path, capsys):
    run, _, data = stopped_run
    moved = data.with_suffix(".moved")
    data.rename(moved)
    try:
        assert main(["export", str(run), "--out", str(tmp_path / "model")]) == 2
    finally:
        moved.rename(data)
    assert capsys.readouterr().err.strip() == f"scipt: error: {data}: file not found"
    assert not (tmp_path / "model").exists()
