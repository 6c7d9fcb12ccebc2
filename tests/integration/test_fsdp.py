"""FSDP2 (``--strategy fsdp2``, Lightning's ModelParallelStrategy) on two CPU ranks over gloo.

A sharded run is stopped after 4 steps and resumed to 6; it must end where a 2-rank DDP run of 6
steps with the same seed ends, export the same safetensors (up to float32 rounding: see below),
and its checkpoint must export with ``scipt export`` (read with ``torch.load(weights_only=True)``)
to exactly the run's own ``model/``. FSDP1 (``--strategy fsdp``) cannot run on a CPU: its
configuration error is checked word for word in tests/sciPT/test_trainer.py.

Tolerance. FSDP2 reduce-scatters gradients and computes the clipping norm from per-shard sums,
where DDP all-reduces whole buckets: the same sums in another order, so the two runs agree to
float32 rounding, not bit for bit (measured: at most 7.5e-9 after 6 steps). ``atol=1e-6`` is
about 8 float32 ulps of a weight of size 1 and hundreds of times smaller than what 2 optimizer
steps change (checked below on the step-4 weights), so a lost step, a shard left out of the
export, or a resume that restarted would all fail it.
"""

from __future__ import annotations

import json

import pytest
import torch

from sciPT.checkpoint import from_pretrained, load_lightning_checkpoint
from sciPT.export import backbone_state, export_checkpoint
from sciPT.module import weights_digest


@pytest.mark.slow
def test_fsdp2_resumes_and_exports_what_ddp_trains(tmp_path, two_rank_dna, ddp_run):
    sharded, ddp = tmp_path / "fsdp2", ddp_run
    two_rank_dna(tmp_path, "--strategy", "fsdp2", "--max-steps", "4", "--out", str(sharded))
    at_4 = backbone_state(load_lightning_checkpoint(sharded / "checkpoints/last.ckpt"))
    two_rank_dna(tmp_path, "--strategy", "fsdp2", "--resume", "--max-steps", "6", "--out", str(sharded))

    metrics = json.loads((sharded / "metrics.json").read_text())
    assert metrics["world_size"] == 2 and metrics["steps"] == 6 and metrics["ranks_identical"] == 1.0
    # the full (gathered) state: one file, plain tensors, the optimizer at step 6 for every parameter
    checkpoint = load_lightning_checkpoint(sharded / "checkpoints/last.ckpt")
    assert checkpoint["global_step"] == 6
    adam = checkpoint["optimizer_states"][0]["state"]
    assert adam and all(float(s["step"]) == 6 for s in adam.values())
    digests = json.loads((sharded / "logs/rank_digests.json").read_text())
    model = from_pretrained(sharded).model
    assert len(digests) == 2 and digests[0] == digests[1] == weights_digest(model)

    # `scipt export` of the sharded run's checkpoint is the run's own export, byte for byte
    export_checkpoint(checkpoint, tmp_path / "exported", sharded / "checkpoints/last.ckpt")
    own = (sharded / "model/model.safetensors").read_bytes()
    assert (tmp_path / "exported/model.safetensors").read_bytes() == own

    fsdp, reference = model.state_dict(), from_pretrained(ddp).model.state_dict()
    assert fsdp.keys() == reference.keys()
    for key in reference:
        torch.testing.assert_close(fsdp[key], reference[key], rtol=0, atol=1e-6, msg=key)
    moved = max(float((reference[k] - at_4[k]).abs().max()) for k in reference)
    assert moved > 1e-4  # the last 2 steps move weights far more than the tolerance
