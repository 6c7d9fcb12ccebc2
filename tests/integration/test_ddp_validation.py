"""Two DDP ranks (CPU, gloo) validating a potential when only one of them sees frames with forces.

Validation batch ``b`` of rank ``r`` holds samples ``(2 b + r) * batch_size + i`` (sciPT.data), so
with a batch of 2 and one validation batch rank 0 scores validation frames 0 and 1 and rank 1
frames 2 and 3, which carry no forces: rank 1 never computes a force metric. Were each rank to log
the metrics it saw, the end-of-epoch synchronisation would pair different keys or wait forever. The
run is a subprocess (Lightning's launcher re-runs the command for rank 1) killed, with its children,
if it outlives its timeout.
"""

import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from ase.io import read, write

from sciPT.checkpoint import from_pretrained
from sciPT.domains.molecules.data import read_frames
from sciPT.domains.molecules.dataset import collate
from sciPT.domains.molecules.graphs import frame_to_graph
from sciPT.plots import read_csv_log
from sciPT.testing import run_session

SHIPPED = Path(__file__).resolve().parents[2] / "data_recipes" / "molecules" / "ethanol" / "train.xyz"
TIMEOUT_S = 120  # about 20 s on a 2-core machine; a hang is what this test is for


def frames(path: Path, start: int, count: int, keep_forces) -> Path:
    images = read(SHIPPED, index=f"{start}:{start + count}")
    for i, atoms in enumerate(images):
        if not keep_forces(i):
            atoms.calc.results.pop("forces")  # an energy-only single point
    write(path, images)
    return path


@pytest.mark.slow
def test_a_rank_without_frames_with_forces_validates_and_force_errors_are_the_other_ranks(tmp_path):
    train = frames(tmp_path / "train.xyz", 0, 8, lambda i: True)
    val = frames(tmp_path / "val.xyz", 100, 4, lambda i: i < 2)  # rank 1's frames 2, 3: no forces
    out = tmp_path / "run"
    scipt = shutil.which("scipt") or os.path.join(os.path.dirname(sys.executable), "scipt")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "SCIPT_CACHE": str(tmp_path / "cache")}
    proc = run_session(
        [
            scipt,
            "pretrain",
            "molecules",
            "--preset",
            "tiny",
            "--data",
            str(train),
            "--data.val-paths",
            str(val),
            "--devices",
            "2",
            "--strategy",
            "ddp",
            "--accelerator",
            "cpu",
            "--max-steps",
            "2",
            "--batch-size",
            "2",
            "--val-every",
            "2",
            "--val-batches",
            "1",
            "--checkpoint-every",
            "2",
            "--fisher.frames",
            "0",
            "--out",
            str(out),
        ],
        env=env,
        timeout=TIMEOUT_S,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]

    # The logged epoch values against the exported (final) model on the validation frames: force
    # errors over the components of frames 0 and 1 (rank 0's), energy errors over all four frames.
    model = from_pretrained(out).model.eval()
    graphs = [frame_to_graph(f, model.cfg.cutoff) for f in read_frames(val)]
    assert [bool(g.has_forces) for g in graphs] == [True, True, False, False]
    pred = model(collate(graphs), forces=True, create_graph=False)
    energy_err = (pred["energy"].detach().double() - torch.cat([g.energy for g in graphs])) * 1000.0
    with_forces = collate(graphs[:2])
    force_err = (pred["forces"].detach().double()[: with_forces.num_nodes] - with_forces.forces) * 1000.0
    # one validation, after the last step
    logged = {k: v for k, v in read_csv_log(out / "logs/metrics.csv").items() if k.startswith("val/")}
    assert {len(points) for points in logged.values()} == {1}
    value = {k: points[0][1] for k, points in logged.items()}
    assert value["val/forces_mae_meV_per_A"] == pytest.approx(float(force_err.abs().mean()), rel=1e-4)
    assert value["val/forces_rmse_meV_per_A"] == pytest.approx(
        float(force_err.pow(2).mean().sqrt()), rel=1e-4
    )
    assert value["val/energy_mae_meV"] == pytest.approx(float(energy_err.abs().mean()), rel=1e-4)
    assert np.isfinite(value["val/loss"])
