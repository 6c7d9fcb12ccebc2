"""Two nodes on one machine: torchrun's and SLURM's launch, detected by Lightning, not by sciPT.

Each "node" is a separate process started the way a cluster starts it, and the run directory is
shared (as on a cluster's shared filesystem):

- torchrun: ``torchrun --nnodes 2 --nproc-per-node 1 --node-rank R`` twice, rendezvous on
  127.0.0.1; Lightning finds its ``TorchElasticEnvironment`` from the variables torchrun sets;
- SLURM: two processes with the variables ``srun`` sets in an allocation of 2 nodes with one task
  each (``sbatch --nodes 2 --ntasks-per-node 1``); Lightning's ``SLURMEnvironment`` reads them, the
  port included (derived from the job id, as on a cluster: no ``MASTER_PORT`` is set).

Each run must exit 0 on both nodes, end with the same SHA-256 of the weights on every rank
(``logs/rank_digests.json``, gathered over the process group), export once (rank 0), and resume:
``--resume --max-steps 6`` after a 4-step run continues from step 4 to step 6 on both nodes, the
optimizer's step counts and the logged validation steps showing that it continued rather than
restarted.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from sciPT.checkpoint import from_pretrained, load_lightning_checkpoint
from sciPT.module import weights_digest
from sciPT.testing import MULTIPROCESS_SEQUENCE_FLAGS, kill_session

SCIPT = shutil.which("scipt") or os.path.join(os.path.dirname(sys.executable), "scipt")
TRAIN = [
    "pretrain",
    "dna",
    "--preset",
    "tiny",
    "--num-nodes",
    "2",
    "--devices",
    "1",
    "--strategy",
    "ddp",
    *MULTIPROCESS_SEQUENCE_FLAGS,
]
# variables of the machine running the tests that would make Lightning see another launcher
LAUNCH_VARS = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "NODE_RANK", "GROUP_RANK")


def _free_port(low: int = 20000, high: int = 30000) -> int:
    """A TCP port in ``[low, high)`` that nobody listens on now."""
    for port in range(low + os.getpid() % 1000, high):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in [{low}, {high})")


def _base_env(tmp_path: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in LAUNCH_VARS and not k.startswith(("SLURM_", "TORCHELASTIC_", "PET_"))
    }
    return {**env, "OMP_NUM_THREADS": "1", "SCIPT_CACHE": str(tmp_path / "cache"), "PYTHONUNBUFFERED": "1"}


def _run_nodes(commands: list[tuple[list[str], dict[str, str]]], timeout: float = 300) -> None:
    """Start every node's command, wait for all; each must exit 0 (its stderr tail otherwise)."""
    # each node a session of its own: a hung node's ranks are killed with it, not left holding the pipe
    procs = [
        subprocess.Popen(
            cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
        )
        for cmd, env in commands
    ]
    outputs = []
    try:
        for p in procs:
            outputs.append(p.communicate(timeout=timeout)[0])
    finally:
        for p in procs:
            kill_session(p)
            p.wait()
    for node, (p, out) in enumerate(zip(procs, outputs, strict=True)):
        assert p.returncode == 0, f"node {node} exited {p.returncode}:\n{out[-3000:]}"


def _torchrun(tmp_path: Path, args: list[str]) -> list[tuple[list[str], dict[str, str]]]:
    port = _free_port()
    env = _base_env(tmp_path)
    return [
        (
            [
                sys.executable,
                "-m",
                "torch.distributed.run",
                "--nnodes",
                "2",
                "--nproc-per-node",
                "1",
                "--node-rank",
                str(node),
                "--master-addr",
                "127.0.0.1",
                "--master-port",
                str(port),
                SCIPT,
                *args,
            ],
            env,
        )
        for node in range(2)
    ]


def _slurm(tmp_path: Path, args: list[str]) -> list[tuple[list[str], dict[str, str]]]:
    # Lightning's SLURMEnvironment takes the port from the job id's last 4 digits + 15000
    port = _free_port(15000, 25000)
    job_id = f"7{port - 15000:04d}"
    allocation = {
        "SLURM_JOB_ID": job_id,
        "SLURM_JOB_NAME": "scipt-pretrain",
        "SLURM_NNODES": "2",
        "SLURM_JOB_NUM_NODES": "2",
        "SLURM_NTASKS": "2",
        "SLURM_NTASKS_PER_NODE": "1",
        "SLURM_NODELIST": "127.0.0.1,127.0.0.1",
        "SLURM_JOB_NODELIST": "127.0.0.1,127.0.0.1",
    }
    return [
        (
            [SCIPT, *args],
            {
                **_base_env(tmp_path),
                **allocation,
                "SLURM_PROCID": str(node),
                "SLURM_NODEID": str(node),
                "SLURM_LOCALID": "0",
            },
        )
        for node in range(2)
    ]


def _check_run(out: Path, steps: int) -> None:
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["world_size"] == 2 and metrics["steps"] == steps
    digests = json.loads((out / "logs/rank_digests.json").read_text())
    assert len(digests) == 2 and digests[0] == digests[1]
    # one export, by rank 0, of the weights every rank ended with
    assert sorted(p.name for p in (out / "model").iterdir()) == ["config.json", "model.safetensors"]
    assert digests[0] == weights_digest(from_pretrained(out).model)
    checkpoint = load_lightning_checkpoint(out / "checkpoints/last.ckpt")
    assert checkpoint["global_step"] == steps
    adam = checkpoint["optimizer_states"][0]["state"]
    assert adam and all(float(s["step"]) == steps for s in adam.values())


def _train_and_resume(tmp_path: Path, launch) -> None:
    out = tmp_path / "run"
    _run_nodes(launch(tmp_path, [*TRAIN, "--max-steps", "4", "--out", str(out)]))
    _check_run(out, 4)
    _run_nodes(launch(tmp_path, [*TRAIN, "--resume", "--max-steps", "6", "--out", str(out)]))
    _check_run(out, 6)
    from sciPT.plots import read_logs

    # validation every 2 steps: 2 and 4 before the resume, 6 after it (Lightning logs step - 1)
    assert [s for s, _ in read_logs(out / "logs")["val/loss"]] == [1, 3, 5]


@pytest.mark.slow
def test_torchrun_two_nodes_train_identically_export_once_and_resume(tmp_path):
    _train_and_resume(tmp_path, _torchrun)


@pytest.mark.slow
def test_slurm_two_nodes_train_identically_export_once_and_resume(tmp_path):
    _train_and_resume(tmp_path, _slurm)
