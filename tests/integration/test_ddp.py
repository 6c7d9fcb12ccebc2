"""Two-process DDP on CPU (gloo), launched as a user would, in a subprocess.

Lightning's launcher re-runs the command in the child; a failure on rank 1 must fail this test, so
it checks the exit status *and* the per-rank results that only a completed run writes. The run
(conftest.py's ``ddp_run``) is also the reference of the FSDP2 test.
"""

import json

import pytest

from sciPT.checkpoint import from_pretrained
from sciPT.module import weights_digest


@pytest.mark.slow
def test_ddp_two_ranks_end_with_identical_weights(ddp_run):
    metrics = json.loads((ddp_run / "metrics.json").read_text())
    assert metrics["world_size"] == 2 and metrics["steps"] == 6
    digests = json.loads((ddp_run / "logs/rank_digests.json").read_text())
    assert len(digests) == 2 and digests[0] == digests[1]
    assert digests[0] == weights_digest(from_pretrained(ddp_run).model)
