"""Runs shared by several multi-process tests: each costs two rank processes' start-up."""

from __future__ import annotations

import os
import shutil
import sys

import pytest

from sciPT.testing import MULTIPROCESS_SEQUENCE_FLAGS, run_session

SCIPT = shutil.which("scipt") or os.path.join(os.path.dirname(sys.executable), "scipt")


def _two_ranks(work, *args):
    """``scipt pretrain dna --preset tiny --devices 2`` with the multi-process flags and ``args``,
    as a user launches it, with its own cache; the test fails on a non-zero exit (Lightning re-runs
    the command per rank, so only the exit status says every rank finished)."""
    command = [SCIPT, "pretrain", "dna", "--preset", "tiny", "--devices", "2", *MULTIPROCESS_SEQUENCE_FLAGS]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "SCIPT_CACHE": str(work / "cache")}
    proc = run_session([*command, *args], env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]


@pytest.fixture(scope="session")
def scipt_command() -> str:
    """The installed ``scipt`` script, as a user's shell finds it."""
    return SCIPT


@pytest.fixture(scope="session")
def two_rank_dna():
    """:func:`_two_ranks`: ``two_rank_dna(tmp_path, "--strategy", "fsdp2", "--max-steps", "4", ...)``."""
    return _two_ranks


@pytest.fixture(scope="session")
def ddp_run(tmp_path_factory):
    """Six DDP steps on two ranks: the DDP test checks the run, the FSDP2 test compares its weights."""
    work = tmp_path_factory.mktemp("ddp_run")
    _two_ranks(work, "--strategy", "ddp", "--max-steps", "6", "--out", str(work / "ddp"))
    return work / "ddp"
