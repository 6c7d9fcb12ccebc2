"""sciPT/run.py: where an evaluation goes, and that it never erases another."""

import json
import re
import shutil
from pathlib import Path

import pytest

from sciPT.errors import DataError, UserError
from sciPT.evaluations import data_name
from sciPT.run import RunDir


@pytest.fixture
def run(tmp_path):
    run = RunDir(tmp_path / "run")
    run.path.mkdir()
    run.report.write_text("# A run\n\nText.\n\n## Configuration\n\n```json\n{}\n```\n")
    (run.path / "metrics.json").write_text('{"steps": 4}\n')
    return run


def evaluate(run, data, out=None, fail=False):
    with run.evaluation(data, out) as ev:
        ev.write_metrics({"score": 1.0})
        ev.plot_path("p.png").write_bytes(b"png")
        if fail:
            raise RuntimeError("boom")
        ev.write_report(["body"])
    return ev


@pytest.mark.parametrize(
    "name, expected",
    [
        ("test_300K.xyz", "test_300K"),
        ("held.fa.gz", "held"),
        ("dir.v2/points", "points"),
        (".hidden.csv", "hidden"),
    ],
)
def test_data_name_drops_every_extension(name, expected):
    assert data_name(name) == expected


def test_evaluations_get_their_own_folders_and_a_list_in_the_report(run, tmp_path):
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    first, second, third = tmp_path / "a/x.csv", tmp_path / "b/x.csv", tmp_path / "y.csv"
    first.write_text("1"), second.write_text("2"), third.write_text("3")
    assert evaluate(run, first).path == run.evaluations / "x"
    assert evaluate(run, second).path == run.evaluations / "x-2"  # same name, other file: kept apart
    assert evaluate(run, third).path == run.evaluations / "y"
    again = evaluate(run, second)  # the same file again replaces its own folder, not x's
    assert again.path == run.evaluations / "x-2" and again.replaces
    assert sorted(p.name for p in run.evaluations.iterdir()) == ["x", "x-2", "y"]
    saved = json.loads((run.evaluations / "x-2" / "metrics.json").read_text())
    assert saved["data"] == str(second) and saved["score"] == 1.0
    assert (run.path / "metrics.json").read_text() == '{"steps": 4}\n'
    report = run.report.read_text()
    section = report[report.index("## Evaluations") : report.index("## Configuration")]
    assert [line.split("]")[0] for line in section.splitlines() if line.startswith("- [")] == [
        "- [x",
        "- [y",
        "- [x-2",
    ]  # one line per evaluation, the latest last
    assert report.startswith("# A run\n\nText.\n\n## Evaluations\n")
    text = (run.evaluations / "y" / "report.md").read_text()
    sha = json.loads((run.evaluations / "y" / "metrics.json").read_text())["data_sha256"]
    assert text.startswith("# Evaluation on y.csv\n") and sha in text and text.endswith("body\n")


def test_an_evaluation_of_another_run_is_not_replaced_by_this_one(run, tmp_path):
    """The same file evaluated by another run, with --out into that run's evaluations: refused,
    where the same file re-evaluated by the run that made it is replaced."""
    other = RunDir(tmp_path / "other")
    other.path.mkdir()
    other.report.write_text("# Another run\n")
    data = tmp_path / "x.csv"
    data.write_text("1")
    theirs = evaluate(other, data).path
    assert json.loads((theirs / "metrics.json").read_text())["run"] == str(other.path.absolute())
    with pytest.raises(UserError) as err:
        evaluate(run, data, out=theirs)
    assert str(err.value).startswith(f"--out {theirs}: already holds the evaluation of {data} (sha256 ")
    assert evaluate(other, data, out=theirs).replaces  # its own run may replace it
    shutil.move(other.path, tmp_path / "moved")  # and still may, once the run has moved
    moved = RunDir(tmp_path / "moved")
    assert evaluate(moved, data, out=moved.evaluations / "x").replaces


def test_a_failed_evaluation_leaves_nothing_and_keeps_the_old_one(run, tmp_path):
    data = tmp_path / "d.csv"
    data.write_text("1")
    evaluate(run, data)
    old = (run.evaluations / "d" / "report.md").read_text()
    with pytest.raises(RuntimeError):
        evaluate(run, data, fail=True)
    assert sorted(p.name for p in run.evaluations.iterdir()) == ["d"]
    assert (run.evaluations / "d" / "report.md").read_text() == old


def test_out_folder_is_used_or_refused(run, tmp_path):
    data, other = tmp_path / "d.csv", tmp_path / "e.csv"
    data.write_text("1"), other.write_text("2")
    out = tmp_path / "elsewhere"
    evaluate(run, data, out)
    assert (out / "metrics.json").is_file() and not run.evaluations.exists()
    assert "](../elsewhere/report.md)" in run.report.read_text()
    evaluate(run, data, out)  # the same file: replaced
    with pytest.raises(UserError, match="already holds the evaluation of .*d.csv"):
        run.evaluation(other, out)
    (tmp_path / "busy").mkdir(), (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="busy: already holds other files"):
        run.evaluation(data, tmp_path / "busy")
    with pytest.raises(DataError, match="missing.csv: file not found"):
        run.evaluation(tmp_path / "missing.csv")


def test_a_shipped_file_named_from_the_repository_is_evaluated_from_anywhere(run, tmp_path, monkeypatch):
    """The plugins find ``data_recipes/...`` relative to the repository from any working directory
    (sciPT.files.resolve_data_path); the evaluation folder must take the same file."""
    shipped = Path(__file__).resolve().parents[2] / "data_recipes" / "molecules" / "ethanol" / "test_MD.xyz"
    monkeypatch.chdir(tmp_path)
    ev = evaluate(run, "data_recipes/molecules/ethanol/test_MD.xyz")
    assert ev.data == shipped
    assert (run.evaluations / "test_MD" / "metrics.json").is_file()


HOLD = """
import sys, time
from sciPT.run import RunDir
RunDir.create(sys.argv[1])
print("holding", flush=True)
time.sleep(120)
"""


@pytest.fixture
def held(tmp_path):
    """A run directory created, and so locked, by another process that is still running."""
    import subprocess
    import sys

    path = tmp_path / "held"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(path)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline() == "holding\n"
    (path / "config.yaml").write_text("train: {}\n")  # as a job stopped before its first checkpoint
    yield path, holder
    holder.kill()
    holder.wait()


def test_a_second_job_is_refused_while_the_first_holds_the_run(held):
    import socket

    from sciPT.locks import release_locks
    from sciPT.runconfig import resolve_resume

    path, holder = held
    for attempt in (
        lambda: RunDir.create(path, resume=True),
        lambda: resolve_resume(object(), "auto", path),  # must not empty the folder under the first job
    ):
        with pytest.raises(UserError) as refused:
            attempt()
        message = str(refused.value)
        assert message.startswith(
            f"{path.resolve()}: another scipt job is training in this run directory "
            f"(pid {holder.pid} on {socket.gethostname()}, since "
        )
        assert message.endswith(
            "): wait for it to end, or choose another --out (if that process is gone, remove .scipt.lock)"
        )
        release_locks()
    assert (path / "config.yaml").is_file()


def test_the_lock_dies_with_its_process(held):
    from sciPT.locks import release_locks

    path, holder = held
    with pytest.raises(UserError, match="another scipt job"):
        RunDir.create(path, resume=True)
    holder.kill()  # as SIGKILL or a lost node would end it: no clean-up ran
    holder.wait()
    with pytest.raises(UserError, match="no checkpoint to resume from"):  # no stale lock in the way
        RunDir.create(path, resume=True)
    release_locks()


def test_a_fresh_run_takes_a_folder_holding_only_a_lock_and_a_refused_folder_gets_none(tmp_path):
    from sciPT.locks import release_locks

    left = tmp_path / "left"
    left.mkdir()
    (left / RunDir.LOCK).write_text("pid 1 on gone, since 2026-01-01T00:00:00\n")  # its job has ended
    RunDir.create(left)
    release_locks()
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("a user's own file\n")
    with pytest.raises(UserError, match="already exists and is not empty"):
        RunDir.create(mine)
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]
    with pytest.raises(UserError) as refused:  # --resume on it: not a run either, and no lock left
        RunDir.create(mine, resume=True)
    assert str(refused.value) == f"{mine / 'checkpoints' / 'last.ckpt'}: no checkpoint to resume from"
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]


def test_a_run_whose_own_files_are_damaged_is_named_in_one_line(run):
    from sciPT.checkpoint import read_export_config
    from sciPT.errors import ConfigError

    run.config.write_text("foo: [\n")
    with pytest.raises(ConfigError) as refused:
        run.read_config()
    assert str(refused.value).startswith(f"{run.config}: not valid YAML (")
    run.metrics.write_text('{"steps": 4')
    with pytest.raises(UserError) as refused:
        run.read_metrics()
    assert (
        str(refused.value)
        == f"{run.metrics}: not valid JSON (Expecting ',' delimiter: line 1 column 12 (char 11))"
    )
    run.model.mkdir()
    (run.model / "config.json").write_text("{")
    (run.model / "model.safetensors").write_bytes(b"")
    with pytest.raises(UserError, match=r"config.json: not valid JSON \("):
        read_export_config(run.path)


TRY_LOCK = (
    "import fcntl, os, sys; fcntl.lockf(os.open(sys.argv[1], os.O_RDWR), fcntl.LOCK_EX | fcntl.LOCK_NB)"
)


def test_pretraining_called_from_python_releases_its_run_when_it_returns(tmp_path):
    """A notebook goes on after pretrain() returns: another process must be able to resume the run."""
    import subprocess
    import sys

    from sciPT.pretrain import pretrain
    from sciPT.registry import domains

    def free(path) -> bool:
        return subprocess.run([sys.executable, "-c", TRY_LOCK, str(path / RunDir.LOCK)]).returncode == 0

    held = RunDir.create(tmp_path / "held")
    assert not free(held.path)  # the check can tell: a held lock is refused to another process
    held.unlock()
    assert free(held.path)

    cfg = domains.get("dna").presets()["tiny"]()
    cfg.data.paths = [str(Path(__file__).resolve().parents[2] / "data_recipes" / "dna" / "phage_lambda.fa")]
    cfg.data.window, cfg.model.max_len = 32, 32
    cfg.train.max_steps, cfg.train.batch_size, cfg.train.val_batches = 2, 4, 1
    pretrain("dna", cfg, tmp_path / "run")
    assert free(tmp_path / "run")


def starts_again_in_place(stopped: Path, config_yaml: str, capsys) -> None:
    """A folder holding a run stopped before its first checkpoint (``config_yaml``, a lock and
    logs/) is started again in place, said so on stderr and emptied of the old run's files."""
    from sciPT.locks import release_locks

    (stopped / "logs").mkdir(parents=True)
    (stopped / RunDir.LOCK).write_text("")  # a run takes it before it writes anything
    (stopped / "config.yaml").write_text(config_yaml)
    (stopped / "logs" / "metrics.csv").write_text("step\n")
    RunDir.create(stopped)
    release_locks()
    assert (
        capsys.readouterr().err
        == f"{stopped}: holds a run stopped before its first checkpoint: starting it again\n"
    )
    assert [p.name for p in stopped.iterdir()] == [RunDir.LOCK]


def test_the_same_command_after_a_run_stopped_before_its_first_checkpoint_starts_in_place(tmp_path, capsys):
    """A bad shard found once training began leaves config.yaml and logs/: the command, run again
    once the input is fixed, starts there; a folder with an exported model, or a file of the
    user's, is still refused."""
    starts_again_in_place(tmp_path / "stopped", "domain: dna\n", capsys)
    for extra in ("model", "notes.txt"):
        used = tmp_path / extra.replace(".", "_")
        used.mkdir()
        (used / "config.yaml").write_text("domain: dna\n")
        (used / extra).mkdir() if extra == "model" else (used / extra).write_text("mine\n")
        with pytest.raises(UserError, match="already exists and is not empty"):
            RunDir.create(used, resumable=False)
        assert sorted(p.name for p in used.iterdir()) == sorted(["config.yaml", extra])
    # another tool's folder of a run's names (no lock; its config.yaml names no domain or task):
    # it was emptied as a stopped run, the user's logs with it
    for lock, config in ((False, "domain: dna\n"), (True, "lr: 0.1\n"), (True, "\xff\xfe")):
        foreign = tmp_path / f"foreign_{lock}_{len(config)}"
        (foreign / "logs").mkdir(parents=True)
        (foreign / "config.yaml").write_text(config, encoding="latin-1")
        (foreign / "logs" / "train.csv").write_text("a week of results\n")
        (foreign / "metrics.json").write_text('{"acc": 0.93}\n')
        if lock:
            (foreign / RunDir.LOCK).write_text("")
        with pytest.raises(UserError, match="already exists and is not empty"):
            RunDir.create(foreign)
        assert (foreign / "logs" / "train.csv").read_text() == "a week of results\n"


def test_an_out_naming_a_file_is_refused_in_one_line_and_kept(tmp_path):
    """A demo looks at its folder without RunDir.create's check: iterating a file raised there."""
    notes = tmp_path / "notes.txt"
    notes.write_text("keep")
    with pytest.raises(UserError) as err:
        RunDir(notes).refuse_if_used(resumable=False)
    assert str(err.value) == f"{notes}: --out names a file, not a directory"
    with pytest.raises(UserError) as err:
        RunDir.create(notes / "run")
    assert str(err.value) == f"{notes / 'run'}: cannot be written: {notes} is a file, not a folder"
    assert notes.read_text() == "keep"


@pytest.mark.parametrize("stop", [RuntimeError("figure failed"), KeyboardInterrupt()])
def test_a_run_written_in_one_go_and_stopped_on_the_way_leaves_nothing_but_its_lock(tmp_path, stop):
    run = RunDir.create(tmp_path / "calibrated", resumable=False)
    with pytest.raises(type(stop)):
        with run.all_or_nothing():
            run.write_config({"task": "surrogate"})
            (run.model).mkdir()
            (run.model / "config.json").write_text("{}")
            raise stop
    assert [e.name for e in run.path.iterdir()] == [RunDir.LOCK]
    RunDir.create(run.path, resumable=False).write_config({"task": "surrogate"})  # runs again in place
    assert run.read_config() == {"task": "surrogate"}
    from sciPT.locks import release_locks

    release_locks()


def test_a_run_inside_another_run_is_refused_and_its_own_folders_are_not(tmp_path, monkeypatch):
    """--out RUN1/sub was accepted: a run written inside another, whose files it mixes with."""
    from sciPT.locks import release_locks

    first = RunDir.create(tmp_path / "first")
    first.write_config({"domain": "dna"})
    release_locks()
    for nested in (first.path / "sub", first.path / "evaluations" / "deeper"):
        with pytest.raises(UserError) as err:
            RunDir.create(nested)
        assert str(err.value) == (
            f"{nested}: --out is inside the run directory {first.path}; choose an --out outside it"
        )
        assert not nested.exists()
    with pytest.raises(UserError, match="is inside the run directory"):  # a demo's early look
        RunDir(first.path / "sub").refuse_unless_startable(resumable=False)
    # named from inside the run, relative: both paths as typed from there
    monkeypatch.chdir(first.path)
    with pytest.raises(UserError) as err:
        RunDir.create("sub")
    assert str(err.value) == "sub: --out is inside the run directory .; choose an --out outside it"
    monkeypatch.chdir(tmp_path)
    # a demo's folder is no run: its runs sit side by side in it; a folder with a config.yaml of
    # another tool is none either; a run nested before this was refused still resumes
    RunDir.create(tmp_path / "demo" / "pretrain").write_config({"domain": "dna"})
    RunDir.create(tmp_path / "demo" / "promoter")
    (tmp_path / "project").mkdir()
    (tmp_path / "project" / "config.yaml").write_text("name: not a run\n")
    RunDir.create(tmp_path / "project" / "run")
    release_locks()
    old = first.path / "old"
    (old / "checkpoints").mkdir(parents=True)
    (old / "checkpoints" / "last.ckpt").write_bytes(b"")
    monkeypatch.setattr("sciPT.run.checkpoint_step", lambda path: 1)
    assert RunDir.create(old, resume=True).path == old
    release_locks()


def test_a_refused_resume_auto_leaves_no_lock_in_a_folder_of_other_files(tmp_path, capsys):
    from sciPT.cli import main

    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine\n")
    assert main(["pretrain", "dna", "--preset", "tiny", "--out", str(folder), "--resume", "auto"]) == 2
    assert "already exists and is not empty" in capsys.readouterr().err
    assert [p.name for p in folder.iterdir()] == ["notes.txt"]
    # another tool's folder of a run's names: --resume auto took its lock first, and then found it
    # a run stopped before its first checkpoint, and emptied it
    other = tmp_path / "other"
    (other / "logs").mkdir(parents=True)
    (other / "config.yaml").write_text("task: ner\nlr: 0.1\n")
    (other / "logs" / "train.csv").write_text("a week of results\n")
    assert main(["pretrain", "dna", "--preset", "tiny", "--out", str(other), "--resume", "auto"]) == 2
    assert "already exists and is not empty" in capsys.readouterr().err
    assert (other / "logs" / "train.csv").read_text() == "a week of results\n"
    assert not (other / RunDir.LOCK).exists()


def test_a_lock_file_on_a_read_only_mount_is_one_line(tmp_path, monkeypatch):
    import errno
    import os

    from sciPT import locks

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(os, "open", read_only)
    with pytest.raises(UserError) as err:
        locks.hold_lock(tmp_path / RunDir.LOCK)
    assert str(err.value) == f"{tmp_path}: cannot be written: Read-only file system"


def test_config_yaml_records_the_files_a_run_read_by_absolute_path(tmp_path, monkeypatch):
    """As typed, small.fa was another file for a --resume or a --config run from another
    directory (a SLURM job's), read without a word."""
    import json

    import numpy as np

    from sciPT.cli import main
    from sciPT.config import load_yaml

    rng = np.random.default_rng(0)
    monkeypatch.setenv("SCIPT_CACHE", str(tmp_path / "cache"))
    started, elsewhere = tmp_path / "started", tmp_path / "elsewhere"
    for folder in (started, elsewhere):
        folder.mkdir()
        (folder / "small.fa").write_text(">r\n" + "".join(rng.choice(list("ACGT"), 20000)) + "\n")
    flags = ["--preset", "tiny", "--batch-size", "2", "--val-batches", "1", "--checkpoint-every", "2"]
    monkeypatch.chdir(started)
    assert main(["pretrain", "dna", "--data", "small.fa", *flags, "--max-steps", "2", "--out", "../run"]) == 0
    config = load_yaml(tmp_path / "run" / "config.yaml")
    assert config["data"]["paths"] == [str(started / "small.fa")]
    monkeypatch.chdir(elsewhere)
    assert main(["pretrain", "dna", "--out", "../run", "--resume", "--max-steps", "4"]) == 0
    exported = json.loads((tmp_path / "run" / "model" / "config.json").read_text())
    assert [f["path"] for f in exported["pretrained_on"]] == [str(started / "small.fa")]
    # what is not a file stays as typed
    from sciPT.run import with_recorded_paths

    shipped = "data_recipes/molecules/ethanol/isolated_atoms.xyz"  # found from anywhere as typed
    kept = with_recorded_paths(
        {"init": "none", "a": {"b": ["missing.fa", "small.fa"], "c": shipped}}, ("init", "a.b", "a.c", "x.y")
    )
    assert kept == {"init": "none", "a": {"b": ["missing.fa", str(elsewhere / "small.fa")], "c": shipped}}
    # a user's own ./data_recipes/ file is no shipped one: recorded by absolute path
    (elsewhere / "data_recipes").mkdir()
    (elsewhere / "data_recipes" / "rig.csv").write_text("Re,Pr,Nu\n")
    own = with_recorded_paths({"t": "data_recipes/rig.csv"}, ("t",))
    assert own == {"t": str(elsewhere / "data_recipes" / "rig.csv")}


def test_a_cache_lock_that_cannot_be_made_is_one_line(tmp_path):
    from sciPT.locks import waiting_lock

    blocked = tmp_path / "afile"
    blocked.write_text("")
    with pytest.raises(UserError) as err:  # NotADirectoryError, a traceback, before
        with waiting_lock(blocked / "sub" / "c.lock", "the corpus c.xyz"):
            pass
    assert str(err.value) == f"the corpus c.xyz: cannot be written: {blocked} is a file, not a folder"


def test_an_evaluation_s_name_is_its_whole_label_in_the_report(run, tmp_path):
    """Markdown reads `[`, `]` and `\\` in a link's label: escaped, the label is the folder's
    name, not its text up to a bracket (a backslash before a bracket escaped the escape)."""
    data = tmp_path / "runs [2]\\](b.csv"
    data.write_text("1")
    ev = evaluate(run, data)
    line = next(line for line in run.report.read_text().splitlines() if line.startswith("- ["))
    # the label as Markdown reads it: escaped characters, or any but `\\` and `]`, up to `](`
    label = re.match(r"- \[((?:\\.|[^\\\]])*)\]\(", line)[1]
    assert re.sub(r"\\(.)", r"\1", label) == ev.path.name == "runs [2]\\](b"


# checkpoints a resumed run continues from: tiny torch files holding only a step counter ---------
def save_step(path, step, **state):
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"global_step": step, **state}, path)
    return path


def test_slurm_checkpoints_are_ordered_by_their_number_not_their_spelling(tmp_path):
    """hpc_ckpt_10 comes after hpc_ckpt_9: read as text, a requeued job would continue from the 9th."""
    run = RunDir(tmp_path)
    for n in (10, 2, 9):
        save_step(tmp_path / f"hpc_ckpt_{n}.ckpt", n)
    (tmp_path / "hpc_ckpt_x.ckpt").write_bytes(b"")  # not one of Lightning's names
    assert [p.name for p in run.hpc_checkpoints()] == [
        "hpc_ckpt_2.ckpt",
        "hpc_ckpt_9.ckpt",
        "hpc_ckpt_10.ckpt",
    ]


def test_a_resume_continues_from_the_checkpoint_at_the_latest_step(tmp_path):
    """Steps decide which checkpoint a resumed run continues from: an older one repeats training."""
    run = RunDir(tmp_path)
    assert run.resume_checkpoint() is None
    save_step(tmp_path / "hpc_ckpt_1.ckpt", 20)
    newest = save_step(tmp_path / "hpc_ckpt_2.ckpt", 40)
    save_step(run.last_checkpoint, 30)
    assert run.resume_checkpoint() == newest  # SLURM's save is past last.ckpt
    save_step(run.last_checkpoint, 40)
    assert run.resume_checkpoint() == run.last_checkpoint  # a tie: last.ckpt
    save_step(run.last_checkpoint, 50)
    assert run.resume_checkpoint() == run.last_checkpoint


def test_a_damaged_checkpoint_is_passed_over_and_a_lone_one_named(tmp_path, capsys):
    """A SLURM save cut short must not stop a requeued job that still has last.ckpt."""
    from sciPT.checkpoint import UnreadableCheckpoint

    run = RunDir(tmp_path)
    save_step(run.last_checkpoint, 30)
    (tmp_path / "hpc_ckpt_3.ckpt").write_bytes(b"cut short")
    assert run.resume_checkpoint() == run.last_checkpoint
    warning = capsys.readouterr().err
    assert warning.startswith(f"warning: {tmp_path / 'hpc_ckpt_3.ckpt'}: ") and warning.endswith(
        "; passed over\n"
    )
    run.last_checkpoint.write_bytes(b"cut short")
    with pytest.raises(UserError) as err:
        run.resume_checkpoint()
    assert str(err.value) == (
        f"{tmp_path}: no readable checkpoint ({tmp_path / 'hpc_ckpt_3.ckpt'} and {run.last_checkpoint} are damaged)"
    )
    (tmp_path / "hpc_ckpt_3.ckpt").unlink()
    with pytest.raises(UnreadableCheckpoint):  # the only one: its own reason, not "no readable checkpoint"
        run.resume_checkpoint()


def test_a_finished_run_is_recognised_at_its_last_step_and_only_once_reported(tmp_path):
    """A chained job run once more after the run completed must do nothing, not train past it."""
    run = RunDir(tmp_path)
    save_step(run.last_checkpoint, 4)
    run.model.mkdir()
    (run.model / "config.json").write_text("{}")
    assert run.finished(4) is None  # exported but no report yet: resumed to write the rest
    run.report.write_text("# run\n")
    assert run.finished(4) == 4
    assert run.finished(5) is None
    assert run.finished(3) == 4


def test_a_run_that_spent_its_time_budget_is_finished_with_the_same_budget_only(tmp_path):
    """--max-time 00:00:01:00 run again: finished once its minute is spent; a larger budget continues."""
    run = RunDir(tmp_path)
    run.model.mkdir()
    (run.model / "config.json").write_text("{}")
    run.report.write_text("# run\n")
    run.config.write_text("train:\n  max_time: '00:00:01:00'\n")
    timer = {"Timer": {"time_elapsed": {"train": 60.0}}}
    save_step(run.last_checkpoint, 7, callbacks=timer)
    assert run.finished(100, "00:00:01:00") == 7
    assert run.finished(100, "00:00:02:00") is None
    assert run.finished(100) is None
    # a run sized by its budget: finished at the total the budget settled on
    budget = {"Timer": {"time_elapsed": {"train": 30.0}}, "TimeBudget{}": {"total_steps": 7}}
    save_step(run.last_checkpoint, 7, callbacks=budget)
    assert run.finished(None, "00:00:01:00") == 7
    save_step(run.last_checkpoint, 6, callbacks=budget)
    assert run.finished(None, "00:00:01:00") is None


def test_the_finished_line_names_the_limit_that_ended_the_run(tmp_path, capsys):
    """What a user reads when a chained job finds nothing to do: the flag that would continue it."""
    run = RunDir(tmp_path)
    run.say_finished(10, 10)
    run.say_finished(7, 10, "00:01:00:00")
    assert capsys.readouterr().err.splitlines() == [
        f"{tmp_path}: already finished at step 10 (--max-steps 10) and exported: nothing to do "
        "(a larger --max-steps continues it)",
        f"{tmp_path}: already finished at step 7 (--max-time 00:01:00:00) and exported: nothing to do "
        "(a larger --max-time continues it)",
    ]


def test_slurm_checkpoints_that_last_ckpt_is_at_or_past_are_removed(tmp_path):
    """Each holds a whole training state: kept, they fill the disk; the one past last.ckpt stays."""
    run = RunDir(tmp_path)
    save_step(run.last_checkpoint, 10)
    save_step(tmp_path / "hpc_ckpt_1.ckpt", 8)
    save_step(tmp_path / "hpc_ckpt_2.ckpt", 10)
    (tmp_path / "hpc_ckpt_3.ckpt").write_bytes(b"cut short")
    save_step(tmp_path / "hpc_ckpt_4.ckpt", 12)
    run.drop_superseded_hpc_checkpoints()
    assert [p.name for p in run.hpc_checkpoints()] == ["hpc_ckpt_4.ckpt"]


def test_a_resume_keeps_only_the_checkpoint_it_continues_from(tmp_path):
    """The stale SLURM saves go, the chosen one stays: a resume must not delete what it resumes."""
    from sciPT.locks import release_locks

    save_step(tmp_path / "hpc_ckpt_1.ckpt", 5)
    chosen = save_step(tmp_path / "hpc_ckpt_2.ckpt", 9)
    save_step(tmp_path / "checkpoints" / "last.ckpt", 6)
    run = RunDir.create(tmp_path, resume=True)
    release_locks()
    assert run.hpc_checkpoints() == [chosen]
    assert run.resume_checkpoint() == chosen


def test_metrics_json_is_replaced_whole_by_a_resumed_run(tmp_path):
    """A time budget's step count from the first process no longer holds once the run continued."""
    run = RunDir(tmp_path)
    run.write_metrics({"steps": 4, "budget_steps": 100})
    run.write_metrics({"steps": 8})
    assert json.loads(run.metrics.read_text()) == {"steps": 8}
    assert run.read_metrics() == {"steps": 8}


def test_config_yaml_is_written_with_the_named_paths_absolute(tmp_path, monkeypatch):
    """A --resume from another directory must read the files this run read, not ones of that name."""
    from sciPT.config import load_yaml

    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.fa").write_text(">r\nACGT\n")
    (tmp_path / "b.fa").write_text(">r\nACGT\n")
    config = {"data": {"paths": ["a.fa"], "init": "hf:b.fa"}, "other": "a.fa"}
    RunDir(tmp_path / "run").write_config(config, ("data.paths", "data.init"))
    assert load_yaml(tmp_path / "run" / "config.yaml") == {
        "data": {"paths": [str(tmp_path / "a.fa")], "init": f"hf:{tmp_path / 'b.fa'}"},
        "other": "a.fa",
    }
    assert config["data"] == {"paths": ["a.fa"], "init": "hf:b.fa"}  # the caller's config untouched


def test_a_run_is_opened_with_the_plugin_its_config_names(tmp_path, monkeypatch):
    """scipt evaluate/predict RUN picks the task or domain that wrote the run from its config.yaml."""
    from sciPT.registry import domains, tasks
    from sciPT.run import open_run

    # plugins registered by hand, of one name: which registry answered is which plugin came back
    monkeypatch.setitem(tasks._loaded, "same", "the task")
    monkeypatch.setitem(domains._loaded, "same", "the domain")
    run = RunDir(tmp_path)
    with pytest.raises(UserError) as err:
        open_run(tmp_path)
    assert str(err.value) == f"{tmp_path}: not a run directory (no config.yaml)"
    run.config.write_text("task: same\n")
    assert open_run(tmp_path)[1] == "the task"
    run.config.write_text("domain: same\n")
    assert open_run(tmp_path)[1] == "the domain"
    run.config.write_text("lr: 0.1\n")
    with pytest.raises(UserError) as err:
        open_run(tmp_path)
    assert str(err.value) == f"{run.config}: names neither a task nor a domain"


def test_the_command_line_is_recorded_as_a_shell_takes_it_back(monkeypatch):
    """report.md's command must rerun the run as typed: every argument, quoted where needed."""
    from sciPT.run import command_line

    monkeypatch.setattr("sys.argv", ["/usr/bin/scipt", "pretrain", "dna", "--data", "my file.fa"])
    assert command_line() == "scipt pretrain dna --data 'my file.fa'"


def test_the_word_none_is_kept_even_where_a_file_of_that_name_lies(tmp_path, monkeypatch):
    """``--init none`` means no start model: recorded as a path, a resume would load a stray file."""
    from sciPT.run import with_recorded_paths

    monkeypatch.chdir(tmp_path)
    (tmp_path / "none").write_text("a stray file\n")
    assert with_recorded_paths({"init": "none"}, ("init",)) == {"init": "none"}


def test_a_task_run_stopped_before_its_first_checkpoint_starts_in_place(tmp_path, capsys):
    """A fine-tuning run's config.yaml names its task, not a domain: it is a stopped run all the same."""
    starts_again_in_place(tmp_path / "stopped", "task: promoter\n", capsys)


def test_a_used_folder_is_refused_with_the_way_on_that_the_command_has(tmp_path):
    """A trained run is told --resume continues it; a command without checkpoints is not sent there."""
    (tmp_path / "notes.txt").write_text("mine\n")
    for resumable, way in (
        (True, "pass --resume to continue it, or choose another --out"),
        (False, "choose another --out"),
    ):
        with pytest.raises(UserError) as err:
            RunDir.create(tmp_path, resumable=resumable)
        assert str(err.value) == f"{tmp_path}: run directory already exists and is not empty ({way})"


def test_a_run_sized_by_its_budget_continues_with_a_larger_budget_or_more_steps(tmp_path):
    """A budget-sized run at the total its minute settled on: --max-time 2 minutes, or an explicit
    --max-steps, must train on, not be told "already finished" by the old budget's total."""
    run = RunDir(tmp_path)
    run.model.mkdir()
    (run.model / "config.json").write_text("{}")
    run.report.write_text("# run\n")
    run.config.write_text("train:\n  max_time: '00:00:01:00'\n")
    budget = {"Timer": {"time_elapsed": {"train": 30.0}}, "TimeBudget{}": {"total_steps": 7}}
    save_step(run.last_checkpoint, 7, callbacks=budget)
    assert run.finished(None, "00:00:01:00") == 7  # the same budget: done
    assert run.finished(None, "00:00:02:00") is None  # a larger budget sizes the run anew
    assert run.finished(100, "00:00:01:00") is None  # 100 steps asked for: the budget's total is not it


def test_a_stopped_run_beside_a_user_s_file_or_any_checkpoint_is_refused_and_kept(tmp_path):
    """Only a run's own files are emptied to start it again: a user's dotfile or *.tmp, or a
    checkpoint of another name than last.ckpt (training that would be lost), makes it a used folder."""
    from sciPT.locks import release_locks

    for extra in (".notes", "results.tmp", "checkpoints/epoch=0-step=2.ckpt"):
        used = tmp_path / extra.replace("/", "_")
        (used / "checkpoints").mkdir(parents=True)
        (used / RunDir.LOCK).write_text("")
        (used / "config.yaml").write_text("domain: dna\n")
        (used / extra).write_text("mine\n")
        with pytest.raises(UserError, match="already exists and is not empty"):
            RunDir.create(used)
        release_locks()
        assert (used / extra).read_text() == "mine\n" and (used / "config.yaml").is_file()


def test_a_folder_filled_while_its_lock_was_awaited_is_refused(tmp_path, monkeypatch):
    """Two jobs sent to one fresh folder: the one that took the lock second finds the first's run
    there (past its first checkpoint) and is refused, not started over it."""
    from sciPT.locks import release_locks

    take = RunDir.lock

    def first_job_gets_there_first(self):
        (self.path / "config.yaml").write_text("domain: dna\n")
        save_step(self.last_checkpoint, 2)
        take(self)

    monkeypatch.setattr(RunDir, "lock", first_job_gets_there_first)
    try:
        with pytest.raises(UserError) as err:
            RunDir.create(tmp_path / "run")
    finally:
        release_locks()
    assert str(err.value) == (
        f"{tmp_path / 'run'}: run directory already exists and is not empty "
        "(pass --resume to continue it, or choose another --out)"
    )
    assert (tmp_path / "run" / "checkpoints" / "last.ckpt").is_file()


def test_ranks_other_than_zero_find_the_run_in_place_and_say_nothing(tmp_path, monkeypatch, capsys):
    """Lightning starts ranks 1.. after rank 0 made and filled the folder: they must neither refuse
    it, lock it nor make anything, and a note every rank reads alike is printed once, by rank 0."""
    from sciPT.run import say

    filled = tmp_path / "filled"
    (filled / "logs").mkdir(parents=True)
    (filled / "config.yaml").write_text("domain: dna\n")
    (filled / RunDir.LOCK).write_text("pid 1 on node0, since 2026-01-01T00:00:00\n")
    monkeypatch.setattr("sciPT.run.global_rank", lambda: 1)
    assert RunDir.create(filled).path == filled
    assert sorted(p.name for p in filled.iterdir()) == sorted([RunDir.LOCK, "config.yaml", "logs"])
    assert RunDir.create(tmp_path / "fresh").path == tmp_path / "fresh"
    assert not (tmp_path / "fresh").exists()
    say("data.fa: 3 records skipped")
    assert capsys.readouterr().err == ""
    monkeypatch.setattr("sciPT.run.global_rank", lambda: 0)
    say("data.fa: 3 records skipped")
    assert capsys.readouterr().err == "data.fa: 3 records skipped\n"


def test_the_rank_is_lightning_s_and_zero_without_lightning(monkeypatch):
    """Each rank's own number decides who writes; a command that never imported Lightning is rank 0."""
    import sys
    from types import SimpleNamespace

    from sciPT.run import global_rank

    name = "lightning.fabric.utilities.rank_zero"
    monkeypatch.setitem(sys.modules, name, SimpleNamespace(rank_zero_only=SimpleNamespace(rank=3)))
    assert global_rank() == 3
    monkeypatch.delitem(sys.modules, name)
    assert global_rank() == 0


def test_a_refused_resume_leaves_the_folder_free_to_start_a_run_in_later(tmp_path):
    """A notebook's --resume on a folder of the user's files is refused; the files moved away, a
    fresh run started there from the same process must hold a real lock (its file), or a second job
    would train beside it."""
    from sciPT.locks import release_locks

    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine\n")
    with pytest.raises(UserError, match="no checkpoint to resume from"):
        RunDir.create(folder, resume=True)
    (folder / "notes.txt").unlink()
    try:
        RunDir.create(folder)
        assert (folder / RunDir.LOCK).is_file()
    finally:
        release_locks()


def test_a_file_beside_the_repository_s_data_recipes_is_recorded_by_absolute_path(tmp_path, monkeypatch):
    """Run from the checkout's root, --data my.fa is the user's file, not a shipped one: recorded as
    typed, a --resume from another directory would not find it (only data_recipes/... is found
    from anywhere)."""
    from sciPT.run import with_recorded_paths

    monkeypatch.setattr("sciPT.files.SHIPPED_BASE", tmp_path)  # the working directory is the root
    monkeypatch.chdir(tmp_path)
    (tmp_path / "my.fa").write_text(">r\nACGT\n")
    assert with_recorded_paths({"data": "my.fa"}, ("data",)) == {"data": str(tmp_path / "my.fa")}
