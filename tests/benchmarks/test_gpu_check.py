"""The GPU check's CPU rehearsal (``--dry-run``) runs every part and writes a complete record."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def load(name: str):
    sys.path.insert(0, str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("gpu_check")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "SCIPT_CACHE": str(out / "cache")}
    proc = subprocess.run(
        [sys.executable, str(BENCHMARKS / "gpu_check.py"), "--dry-run", "--out", str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    return proc, out


@pytest.mark.slow
def test_the_dry_run_measures_every_part(dry_run):
    proc, out = dry_run
    assert proc.returncode == 0, proc.stderr[-3000:]
    (path,) = out.glob("gpu_*.json")
    assert path.name == "gpu_cpu_dry_run.json" and proc.stdout.strip() == str(path)
    record = json.loads(path.read_text())
    assert record["dry_run"] is True and record["device"] == "cpu (dry run)"
    assert {"commit", "command", "versions", "load_after"} <= set(record["provenance"])

    dna = {(r["preset"], r["precision"], r["setting"]): r for r in record["dna"]}
    assert set(dna) == {
        (p, q, s)
        for p in ("small", "base")
        for q in ("bf16-mixed", "32-true")
        for s in (("eager", "checkpointing") if p == "small" else ("eager",))
    }
    for row in [*record["dna"], *record["bert"]]:
        assert row["tokens_per_batch"] == 2 * 32  # the dry run's batch of 2 x 32 tokens
        assert row["tokens_per_s"] == pytest.approx(row["tokens_per_batch"] / row["step_s"])
        assert len(row["step_times_s"]) == record["steps"] == 2
        assert row["peak_memory_mib"] > 0 and all(math.isfinite(x) for x in row["losses"])
    # checkpointing recomputes, it does not change what is computed: the same losses
    for precision in ("bf16-mixed", "32-true"):
        eager, ckpt = dna[("small", precision, "eager")], dna[("small", precision, "checkpointing")]
        assert ckpt["losses"] == pytest.approx(eager["losses"], rel=1e-6)
    assert {r["precision"] for r in record["bert"]} == {"bf16-mixed", "32-true"}

    strategies = {r["strategy"]: r for r in record["strategies"]}
    assert strategies["ddp"]["exit_status"] == strategies["fsdp2"]["exit_status"] == 0
    assert strategies["ddp"]["steps"] == strategies["fsdp2"]["steps"] == 3
    assert strategies["fsdp"]["exit_status"] == 2  # FSDP1 refuses the CPU, in one line
    assert strategies["fsdp"]["error"] == (
        "scipt: error: train.strategy: fsdp (FSDP1) needs CUDA GPUs; on the CPU use fsdp2 (FSDP2, sharded over gloo) or ddp"
    )

    ff = record["forcefield"]
    assert (
        ff["step_s"] > 0 and ff["ase_call_ms"] > 0 and len(ff["ase_call_times_ms"]) == 2 and ff["atoms"] > 0
    )
    assert record["mace"]["skipped"].startswith("mace-torch ")  # not installed, or run elsewhere


def test_the_results_page_says_not_yet_run_until_a_gpu_record_exists():
    gpu_check = load("gpu_check")
    assert gpu_check.render({}) == (
        "Not yet run on a GPU: `bash benchmarks/gpu_check.sh` on a CUDA machine writes the figures.\n"
    )
    assert gpu_check.render({"gpu_cpu_dry_run": {"dry_run": True}}) == gpu_check.render({})


@pytest.mark.slow
def test_a_gpu_record_is_rendered_row_by_row(dry_run):
    """The dry run's record, relabelled as a GPU's, renders one table row per measured model."""
    proc, out = dry_run
    assert proc.returncode == 0, proc.stderr[-3000:]
    record = json.loads(next(out.glob("gpu_*.json")).read_text())
    record.update(dry_run=False, device="Test GPU", cuda="12.8")
    text = load("gpu_check").render({"gpu_test_gpu": record})
    rows = [line for line in text.splitlines() if line.startswith("| sciPT") or line.startswith("| bert")]
    assert len(rows) == len(record["dna"]) + len(record["bert"])
    assert text.startswith("**Test GPU** (CUDA 12.8).")
    assert "`--strategy fsdp` on 1 GPU: exit 2" in text
