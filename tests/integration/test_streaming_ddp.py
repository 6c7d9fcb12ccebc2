"""A sharded corpus on two DDP ranks (CPU, gloo): a run stopped and resumed ends with the weights of
the uninterrupted run, identical on both ranks.

Each run is a subprocess (Lightning's launcher re-runs the script for rank 1); its exit status and
the results only a completed run writes are both checked.
"""

import json
import os
import sys
import textwrap

import pytest

from sciPT.streaming import split_fasta
from sciPT.testing import run_session

SCRIPT = textwrap.dedent(
    """
    import sys

    from sciPT.pretrain import pretrain
    from sciPT.registry import domains
    from sciPT.testing import stop_at

    shards, out, stop, resume = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "resume"
    cfg = domains.get("dna").presets()["tiny"]()
    cfg.data.paths = [shards]  # a folder: streamed, each rank its own shards
    cfg.data.window = cfg.model.max_len = 32
    t = cfg.train
    t.devices, t.strategy, t.accelerator = 2, "ddp", "cpu"
    t.max_steps, t.batch_size, t.val_every, t.val_batches, t.checkpoint_every = 6, 4, 3, 1, 3
    t.schedule.warmup_steps = 1
    pretrain("dna", cfg, out, resume=resume, callbacks=[stop_at(stop)] if stop else None)
    # as the scipt command does: left to interpreter exit, Gloo's threads can abort a rank that
    # succeeded ("terminate called without an active exception"; seen once in CI)
    from sciPT.cli import close_process_group

    close_process_group()
    """
)


def _run(tmp_path, *args):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "SCIPT_CACHE": str(tmp_path / "cache")}
    proc = run_session(
        [sys.executable, str(tmp_path / "run.py"), str(tmp_path / "shards"), *args],
        env=env,
        timeout=300,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]


@pytest.mark.slow
def test_a_resumed_streaming_run_ends_with_the_uninterrupted_weights_on_both_ranks(tmp_path):
    split_fasta(
        "data_recipes/dna/ecoli_k12_mg1655.fna.gz", tmp_path / "shards", 4, 2_000, max_residues=40_000
    )
    (tmp_path / "run.py").write_text(SCRIPT)
    _run(tmp_path, str(tmp_path / "straight"), "0", "fresh")
    _run(tmp_path, str(tmp_path / "interrupted"), "4", "fresh")
    stopped = json.loads((tmp_path / "interrupted/metrics.json").read_text())
    assert stopped["steps"] == 4
    _run(tmp_path, str(tmp_path / "interrupted"), "0", "resume")

    straight = json.loads((tmp_path / "straight/metrics.json").read_text())
    resumed = json.loads((tmp_path / "interrupted/metrics.json").read_text())
    assert straight["steps"] == resumed["steps"] == 6 and straight["world_size"] == 2
    assert straight["corpus_shards"] == 4 and straight["rank_shards"] == 2  # rank 0 read two
    a = json.loads((tmp_path / "straight/logs/rank_digests.json").read_text())
    b = json.loads((tmp_path / "interrupted/logs/rank_digests.json").read_text())
    assert len(a) == 2 and a[0] == a[1]  # SHA-256 of the weights on each rank
    assert b == a
    assert straight["rank_residues"] == 20_000  # half the corpus: 10 of the 20 records


@pytest.mark.slow
def test_a_data_error_on_one_rank_stops_every_rank_with_its_line(tmp_path):
    """Rank 1's only shard too short for a window: rank 1 said so and rank 0 died in its first
    collective (a gloo traceback, exit status 1; 2 when rank 0 was the one)."""
    shards = tmp_path / "shards"
    split_fasta("data_recipes/dna/ecoli_k12_mg1655.fna.gz", shards, 1, 20_000, max_residues=20_000)
    (shards / "shard-00009.fa").write_text(">short\nACGTACGT\n")
    command = [
        sys.executable,
        "-m",
        "sciPT.cli",
        "pretrain",
        "dna",
        "--preset",
        "tiny",
        "--data",
        str(shards),
    ]
    command += ["--max-steps", "4", "--devices", "2", "--strategy", "ddp", "--out", str(tmp_path / "run")]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "SCIPT_CACHE": str(tmp_path / "cache")}
    proc = run_session(command, env=env, timeout=300, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr and "RuntimeError" not in proc.stderr
    said = [line for line in proc.stderr.splitlines() if line.startswith("scipt: error: ")]
    assert said and all(line == said[0] for line in said)
    assert said[0].startswith("scipt: error: rank 1: data.window: a window of 128 residues is longer than")
    assert "shard-00009.fa" in said[0]
