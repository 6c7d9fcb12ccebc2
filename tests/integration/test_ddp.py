"""Two-process DDP on CPU (gloo), launched as a user would, in a subprocess.

Lightning's launcher re-runs the command in the child; a failure on rank 1 must fail this test, so
it checks the exit status *and* the per-rank results that only a completed run writes. The run
(conftest.py's ``ddp_run``) is also the reference of the FSDP2 test.
"""

import json
import os

import pytest

from sciPT.checkpoint import from_pretrained
from sciPT.module import weights_digest
from sciPT.testing import MULTIPROCESS_SEQUENCE_FLAGS, terminate_when


@pytest.mark.slow
def test_ddp_two_ranks_end_with_identical_weights(ddp_run):
    metrics = json.loads((ddp_run / "metrics.json").read_text())
    assert metrics["world_size"] == 2 and metrics["steps"] == 6
    digests = json.loads((ddp_run / "logs/rank_digests.json").read_text())
    assert len(digests) == 2 and digests[0] == digests[1]
    assert digests[0] == weights_digest(from_pretrained(ddp_run).model)


@pytest.mark.slow
def test_sigterm_to_rank_zero_stops_both_ranks_at_one_step_with_one_line(tmp_path, scipt_command):
    """A batch system's time limit signals rank 0. Lightning's handler broadcast from inside the
    signal handler, mid-collective: in 6 tries at 14-29 s, 2 hung both ranks and 1 ended in a
    traceback (none with the fix). Stopped at a step boundary every rank agrees on (sciPT.callbacks.StopAtStepBoundary),
    the command exits 143 with its one line and no traceback, and the checkpoint resumes."""
    out = tmp_path / "run"
    command = [scipt_command, "pretrain", "dna", "--preset", "tiny", "--devices", "2", "--strategy", "ddp"]
    command += [
        *MULTIPROCESS_SEQUENCE_FLAGS,
        "--max-steps",
        "5000",
        "--checkpoint-every",
        "4",
        "--out",
        str(out),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "SCIPT_CACHE": str(tmp_path / "cache")}
    code, stderr = terminate_when(command, lambda: (out / "checkpoints" / "last.ckpt").is_file(), env=env)
    assert code == 143, stderr[-3000:]
    assert "Traceback" not in stderr, stderr[-3000:]
    assert [line for line in stderr.splitlines() if line.startswith("scipt:")] == [
        "scipt: terminated (SIGTERM); the run keeps its last checkpoint: the same command with --resume "
        "continues it"
    ]
