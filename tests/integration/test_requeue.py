"""A job script run again as it is: ``--resume auto``, and SLURM's signal before a time limit.

A cluster job that outlives its time limit is resubmitted (or requeued by SLURM) with the same
script. ``--resume auto`` starts the run when its directory holds no checkpoint and continues it
when it does. Under SLURM with ``sbatch --signal=SIGUSR1@90``, Lightning saves the state at the
signal into the run directory (``hpc_ckpt_<n>.ckpt``) and requeues the job; the requeued script
continues from whichever of that and ``checkpoints/last.ckpt`` is newer.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sciPT.checkpoint import load_lightning_checkpoint
from sciPT.cli import main
from sciPT.errors import UserError
from sciPT.run import RunDir
from sciPT.testing import MULTIPROCESS_SEQUENCE_FLAGS

SCIPT = [shutil.which("scipt") or os.path.join(os.path.dirname(sys.executable), "scipt")]
FLAGS = ["pretrain", "dna", "--preset", "tiny", *MULTIPROCESS_SEQUENCE_FLAGS]


def steps_of(checkpoint: Path) -> int:
    return int(load_lightning_checkpoint(checkpoint)["global_step"])


def test_resume_auto_starts_a_run_then_continues_it(tmp_path, capsys):
    out = tmp_path / "run"
    assert main([*FLAGS, "--max-steps", "4", "--out", str(out), "--resume", "auto"]) == 0
    assert f"--resume auto: {out} holds no checkpoint yet: starting it" in capsys.readouterr().err
    assert steps_of(out / "checkpoints/last.ckpt") == 4
    assert main([*FLAGS, "--max-steps", "6", "--out", str(out), "--resume", "auto"]) == 0
    err = capsys.readouterr().err
    assert f"--resume auto: {out} holds a checkpoint: resuming from {out / 'checkpoints/last.ckpt'}" in err
    resumed = load_lightning_checkpoint(out / "checkpoints/last.ckpt")
    assert resumed["global_step"] == 6
    # continued, not restarted: Adam counted every step once
    assert {float(s["step"]) for s in resumed["optimizer_states"][0]["state"].values()} == {6.0}


def test_resume_auto_restarts_a_run_stopped_before_its_first_checkpoint(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / ".scipt.lock").write_text("")  # a run takes it before it writes anything
    (out / "config.yaml").write_text("domain: dna\n")
    (out / "logs").mkdir()
    (out / "logs" / "metrics.csv").write_text("step\n")
    assert main([*FLAGS, "--max-steps", "2", "--out", str(out), "--resume", "auto"]) == 0
    assert steps_of(out / "checkpoints/last.ckpt") == 2
    # a folder holding anything a run does not write is never emptied, even beside a config.yaml
    other = tmp_path / "notes"
    other.mkdir()
    (other / "config.yaml").write_text("domain: dna\n")
    (other / "mine.txt").write_text("keep me")
    capsys.readouterr()
    assert main([*FLAGS, "--max-steps", "2", "--out", str(other), "--resume", "auto"]) == 2
    assert (
        capsys.readouterr()
        .err.strip()
        .endswith(
            f"{other}: run directory already exists and is not empty "
            "(pass --resume to continue it, or choose another --out)"
        )
    )
    assert (other / "mine.txt").read_text() == "keep me" and (other / "config.yaml").is_file()


def test_a_resumed_run_refuses_a_new_learning_rate_it_would_not_use(tmp_path, capsys):
    out = tmp_path / "run"
    assert main([*FLAGS, "--max-steps", "2", "--out", str(out)]) == 0
    capsys.readouterr()
    assert main([*FLAGS, "--max-steps", "4", "--out", str(out), "--resume", "--lr", "1e-5"]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "scipt: error: --lr: a resumed run keeps the value it started with (0.002), as its optimizer "
        "and schedule state come from the checkpoint; to train with another, start a new run (another --out)"
    )
    assert steps_of(out / "checkpoints/last.ckpt") == 2


def test_the_checkpoint_at_the_later_step_is_resumed_whatever_the_file_times(tmp_path):
    import torch

    run = RunDir(tmp_path)
    assert run.resume_checkpoint() is None
    run.checkpoints.mkdir()

    def save(path: Path, step: int, mtime: int) -> Path:
        torch.save({"global_step": step}, path)
        os.utime(path, ns=(mtime, mtime))
        return path

    save(tmp_path / "hpc_ckpt_1.ckpt", 100, 3)
    last = save(run.last_checkpoint, 200, 2)
    latest = save(tmp_path / "hpc_ckpt_2.ckpt", 250, 1)  # the oldest file time: copied, or clocks apart
    (tmp_path / "hpc_ckpt_x.ckpt").write_text("not Lightning's")
    assert run.hpc_checkpoints() == [tmp_path / "hpc_ckpt_1.ckpt", latest]
    assert run.resume_checkpoint() == latest
    RunDir.create(tmp_path, resume=True)  # only the newest SLURM checkpoint can be resumed from
    assert run.hpc_checkpoints() == [latest]
    save(last, 250, 0)
    assert run.resume_checkpoint() == last  # a tie: the run's own checkpoint
    run.drop_superseded_hpc_checkpoints()
    assert run.hpc_checkpoints() == [] and last.is_file()
    assert (tmp_path / "hpc_ckpt_x.ckpt").is_file()  # left alone


def test_a_command_without_checkpoints_refuses_resume_and_does_not_suggest_it(tmp_path, capsys):
    out = tmp_path / "calibration"
    assert main(["finetune", "surrogate", "--resume", "auto", "--out", str(out)]) == 2
    assert capsys.readouterr().err.strip() == (
        "scipt: error: --resume: a surrogate calibration is closed form and takes seconds; run it again"
    )
    out.mkdir()
    (out / "x").write_text("")
    with pytest.raises(UserError) as err:
        RunDir.create(out, resumable=False)
    assert str(err.value) == f"{out}: run directory already exists and is not empty (choose another --out)"


def slurm_env(tmp_path: Path) -> dict[str, str]:
    """The variables ``srun`` sets for a one-task job, and a ``scontrol`` that records its call."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    scontrol = bin_dir / "scontrol"
    scontrol.write_text(f'#!/bin/sh\necho "$@" >> {tmp_path / "scontrol.log"}\n')
    scontrol.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "TORCHELASTIC_"))}
    env = {k: v for k, v in env.items() if k not in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "NODE_RANK")}
    return {
        **env,
        "PATH": f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
        "OMP_NUM_THREADS": "1",
        "SCIPT_CACHE": str(tmp_path / "cache"),
        "PYTHONUNBUFFERED": "1",
        "SLURM_JOB_ID": "4242",
        "SLURM_JOB_NAME": "scipt-pretrain",
        "SLURM_NTASKS": "1",
        "SLURM_NTASKS_PER_NODE": "1",
        "SLURM_NNODES": "1",
        "SLURM_JOB_NUM_NODES": "1",
        "SLURM_NODELIST": "127.0.0.1",
        "SLURM_JOB_NODELIST": "127.0.0.1",
        "SLURM_PROCID": "0",
        "SLURM_LOCALID": "0",
        "SLURM_NODEID": "0",
    }


def test_slurm_s_signal_saves_the_state_requeues_and_the_same_script_continues(tmp_path):
    out = tmp_path / "run"
    env = slurm_env(tmp_path)
    # no periodic checkpoint before the signal: the only saved state is the signal's
    script = [*SCIPT, *FLAGS, "--checkpoint-every", "100000", "--max-steps", "100000", "--out", str(out)]
    job = subprocess.Popen(
        [*script, "--resume", "auto"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        # a line after each validation (every 2 steps): training, with Lightning's handlers set
        for line in job.stdout:
            if line.startswith("step "):
                break
        job.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + 120
        while not (tmp_path / "scontrol.log").is_file() and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        job.kill()  # SLURM ends the job at its time limit
        job.communicate(timeout=60)
    assert (tmp_path / "scontrol.log").read_text().split() == ["requeue", "4242"]
    saved = out / "hpc_ckpt_1.ckpt"
    assert saved.is_file() and not (out / "checkpoints/last.ckpt").exists()
    at_signal = steps_of(saved)
    assert at_signal >= 2
    # the state at the signal is the run's latest: export reads it before any periodic save
    assert main(["export", str(out)]) == 0
    assert (out / "model" / "model.safetensors").is_file()

    # the requeued job: the same script, two steps further
    script[script.index("100000", script.index("--max-steps"))] = str(at_signal + 2)
    again = subprocess.run(
        [*script, "--resume", "auto"], env=env, capture_output=True, text=True, timeout=300
    )
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"--resume auto: {out} holds a checkpoint: resuming from {saved}" in again.stderr
    assert steps_of(out / "checkpoints/last.ckpt") == at_signal + 2
    assert not saved.exists()  # the run ended past it: last.ckpt holds all it held
    assert (out / "model" / "model.safetensors").is_file()


def test_a_forcefield_job_script_run_again_continues_then_finds_its_run_complete(tmp_path, capsys):
    frames = Path(__file__).resolve().parents[2] / "data_recipes" / "molecules" / "ethanol" / "train.xyz"
    out = tmp_path / "ff"
    script = ["finetune", "forcefield", "--init", "none", "--train", str(frames), "--data.max-frames", "12"]
    script += ["--batch-size", "4", "--val-every", "2", "--checkpoint-every", "2", "--val-batches", "1"]
    script += ["--out", str(out), "--resume", "auto"]
    assert main([*script, "--max-steps", "2"]) == 0
    assert main([*script, "--max-steps", "4"]) == 0
    assert steps_of(out / "checkpoints/last.ckpt") == 4
    capsys.readouterr()
    report = (out / "report.md").read_text()
    # its times are the resumed process's: said so, not as the run's
    assert json.loads((out / "metrics.json").read_text())["resumed_at_step"] == 2
    assert re.search(
        r"\n4 steps, the 2 after step 2 \(where this process resumed the run\) in \d+ s; ", report
    )
    assert main([*script, "--max-steps", "4"]) == 0
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"{out}: already finished at step 4 (--max-steps 4) and exported: nothing to do "
        "(a larger --max-steps continues it)"
    )
    assert (out / "report.md").read_text() == report


def test_a_run_stopped_between_its_export_and_its_report_is_completed_not_called_finished(tmp_path, capsys):
    """A run killed after its export, before its metrics and report (the collapse check, the
    force-field figures), was called finished by --resume: its metrics and report were lost."""
    out = tmp_path / "run"
    script = [*FLAGS, "--max-steps", "4", "--out", str(out), "--resume", "auto"]
    assert main(script) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    digests = (out / "logs/rank_digests.json").read_text()
    (out / "metrics.json").unlink()
    (out / "report.md").unlink()
    capsys.readouterr()
    assert main(script) == 0
    assert "already finished" not in capsys.readouterr().err
    assert (out / "report.md").is_file() and steps_of(out / "checkpoints/last.ckpt") == 4
    again = json.loads((out / "metrics.json").read_text())
    assert again["steps"] == 4 and again["val_loss"] == pytest.approx(metrics["val_loss"], rel=1e-6)
    # the ranks' agreement is the training process's: this one trained nothing to compare
    assert again["ranks_identical"] == metrics["ranks_identical"] == 1.0
    assert (out / "logs/rank_digests.json").read_text() == digests


def test_a_time_sized_run_is_found_complete_until_its_budget_grows(tmp_path, capsys):
    out = tmp_path / "run"
    script = [*FLAGS, "--checkpoint-every", "1000", "--out", str(out), "--resume", "auto"]
    assert main([*script, "--max-time", "0.03"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert "steps_sized_from_time" in metrics
    capsys.readouterr()
    assert main([*script, "--max-time", "0.03"]) == 0
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"{out}: already finished at step {metrics['steps']} (--max-time 0.03) and exported: nothing "
        "to do (a larger --max-time continues it)"
    )
    assert json.loads((out / "metrics.json").read_text()) == metrics
    assert RunDir(out).finished(None, "0.06") is None  # a larger budget is not complete
    # continued by steps: the count the budget sized no longer describes the run (rerunning with
    # --max-steps that count would not repeat it)
    more = metrics["steps"] + 2
    assert main([*FLAGS, "--out", str(out), "--resume", "--max-steps", str(more)]) == 0
    after = json.loads((out / "metrics.json").read_text())
    assert after["steps"] == more and "steps_sized_from_time" not in after


def test_a_run_whose_time_ran_out_is_complete_for_the_same_budget(tmp_path, capsys):
    """Lightning's timer, restored from the checkpoint, would stop the run at once: with the
    budget it started with, the run is complete, whether sized by its time or bounded by steps
    too, and says which limit ended it; a larger budget, or steps alone, continues it."""
    import torch

    run = RunDir(tmp_path)
    run.checkpoints.mkdir()
    run.model.mkdir()
    (run.model / "config.json").write_text("{}")
    run.report.write_text("")
    run.config.write_text("train:\n  max_time: '0.5'\n")
    timer = {"time_elapsed": {"train": 30.5, "validate": 0.0}}
    torch.save(
        {"global_step": 7, "callbacks": {"Timer": timer, "TimeBudget": {"total_steps": 9}}},
        run.last_checkpoint,
    )
    assert run.finished(None, "0.5") == 7  # before the 9 steps it sized: the timer stopped it
    assert run.finished(100, "0.5") == 7
    assert run.finished(None, "0.6") is None and run.finished(100, None) is None
    assert run.finished(5, None) == 7
    run.say_finished(7, 100, "0.5")
    assert capsys.readouterr().err.strip() == (
        f"{tmp_path}: already finished at step 7 (--max-time 0.5) and exported: nothing to do "
        "(a larger --max-time continues it)"
    )
    timer["time_elapsed"]["train"] = 29.0
    torch.save(
        {"global_step": 7, "callbacks": {"Timer": timer, "TimeBudget": {"total_steps": 9}}},
        run.last_checkpoint,
    )
    assert run.finished(None, "0.5") is None  # time and steps left: it continues


def test_a_checkpoint_cut_short_is_passed_over_or_named(tmp_path, capsys):
    """SLURM kills a job whose save outlasts its grace time, leaving a torn SLURM checkpoint: the
    requeued job continues from last.ckpt (one warning), and drops the torn file at the end; a
    torn last.ckpt with nothing else is one line naming it, for --resume and for export alike."""
    out = tmp_path / "run"
    script = [*FLAGS, "--checkpoint-every", "2", "--out", str(out), "--resume", "auto"]
    assert main([*script, "--max-steps", "2"]) == 0
    whole = (out / "checkpoints" / "last.ckpt").read_bytes()
    torn = out / "hpc_ckpt_1.ckpt"
    torn.write_bytes(whole[: len(whole) // 2])
    capsys.readouterr()
    assert main([*script, "--max-steps", "4"]) == 0
    err = capsys.readouterr().err
    warning = (
        f"warning: {torn}: not a readable checkpoint, cut short or damaged (a job killed while saving it"
    )
    assert err.count(warning) == 1
    assert f"--resume auto: {out} holds a checkpoint: resuming from {out / 'checkpoints/last.ckpt'}" in err
    assert steps_of(out / "checkpoints/last.ckpt") == 4 and not torn.exists()

    last = out / "checkpoints" / "last.ckpt"
    last.write_bytes(last.read_bytes()[:1000])
    for command in ([*script, "--max-steps", "6"], ["export", str(out)]):
        assert main(command) == 2
        assert (
            capsys.readouterr()
            .err.strip()
            .startswith(
                f"scipt: error: {last}: not a readable checkpoint, cut short or damaged (a job killed "
                "while saving it, or a full disk?): "
            )
        )


def test_a_torn_newest_slurm_checkpoint_falls_back_to_the_one_before_it(tmp_path, capsys):
    """last.ckpt at step 1000, hpc_ckpt_1 at 1800, hpc_ckpt_2 cut short: the run continues from
    step 1800 (not 1000), and only the torn file is removed."""
    import torch

    run = RunDir(tmp_path)
    run.checkpoints.mkdir()
    torch.save({"global_step": 1000}, run.last_checkpoint)
    torch.save({"global_step": 1800, "w": torch.zeros(1000)}, tmp_path / "hpc_ckpt_1.ckpt")
    torn = tmp_path / "hpc_ckpt_2.ckpt"
    torn.write_bytes((tmp_path / "hpc_ckpt_1.ckpt").read_bytes()[:500])
    assert run.resume_checkpoint() == tmp_path / "hpc_ckpt_1.ckpt"
    RunDir.create(tmp_path, resume=True)
    assert run.hpc_checkpoints() == [tmp_path / "hpc_ckpt_1.ckpt"] and run.last_checkpoint.is_file()
    assert capsys.readouterr().err.count(f"warning: {torn}: not a readable checkpoint") == 1
