"""Two-process DDP on CPU (gloo), launched as a user would, in a subprocess.

Lightning's launcher re-runs the command in the child; a failure on rank 1 must fail this test, so
it checks the exit status *and* the per-rank results that only a completed run writes.
"""

import json
import os
import shutil
import sys

import pytest

from sciPT.checkpoint import from_pretrained
from sciPT.module import weights_digest
from sciPT.testing import run_session


@pytest.mark.slow
def test_ddp_two_ranks_end_with_identical_weights(tmp_path):
    scipt = shutil.which("scipt") or os.path.join(os.path.dirname(sys.executable), "scipt")
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "SCIPT_CACHE": str(tmp_path / "cache")}
    proc = run_session(
        [
            scipt,
            "pretrain",
            "dna",
            "--devices",
            "2",
            "--strategy",
            "ddp",
            "--accelerator",
            "cpu",
            "--max-steps",
            "6",
            "--batch-size",
            "4",
            "--val-every",
            "3",
            "--val-batches",
            "1",
            "--window",
            "32",
            "--model.max-len",
            "32",
            "--out",
            str(out),
        ],
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["world_size"] == 2 and metrics["steps"] == 6
    digests = json.loads((out / "logs/rank_digests.json").read_text())
    assert len(digests) == 2 and digests[0] == digests[1]
    assert digests[0] == weights_digest(from_pretrained(out).model)
