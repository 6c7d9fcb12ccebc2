"""sciPT/evaluations.py: the folder an evaluation goes to, what it says, and the run report's list."""

import hashlib
import json
import re
import shutil
import sys

import pytest

from sciPT.errors import UserError
from sciPT.evaluations import data_name
from sciPT.run import RunDir

STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d"


@pytest.fixture
def run(tmp_path):
    run = RunDir(tmp_path / "run")
    run.path.mkdir()
    run.report.write_text("# A run\n\nText.\n\n## Configuration\n\n```json\n{}\n```\n")
    return run


def evaluate(run, data, out=None):
    with run.evaluation(data, out) as ev:
        ev.write_metrics({"score": 1.0})
        ev.write_report(["body"])
    return ev


def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def listed(run):
    """The entries of the run report's "Evaluations" list."""
    return [line for line in run.report.read_text().splitlines() if line.startswith("- [")]


def test_a_name_that_is_all_dots_becomes_data():
    """A folder needs a name: one made of dots alone (no stem at all) is called `data`."""
    assert data_name("some/dir/...") == "data"


def test_a_different_file_of_the_same_name_says_where_it_went(run, tmp_path, capsys):
    """The user asked for evaluations/x and got x-2: the note names the file x holds and the folder used."""
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    first, second = tmp_path / "a/x.csv", tmp_path / "b/x.csv"
    first.write_text("1"), second.write_text("2")
    evaluate(run, first)
    capsys.readouterr()
    assert evaluate(run, second).path == run.evaluations / "x-2"
    base = run.evaluations / "x"
    assert capsys.readouterr().err == (
        f"note: {base} holds the evaluation of {first} (sha256 {sha(first)[:16]}…); "
        f"this evaluation of {second} goes to {base}-2\n"
        f"evaluation written to {base}-2\n"
    )


def test_the_same_file_again_says_it_replaced_its_folder(run, tmp_path, capsys):
    data = tmp_path / "x.csv"
    data.write_text("1")
    evaluate(run, data)
    capsys.readouterr()
    assert evaluate(run, data).replaces
    folder = run.evaluations / "x"
    assert capsys.readouterr().err == (
        f"note: replaced the earlier evaluation of the same file in {folder}\nevaluation written to {folder}\n"
    )


def test_an_empty_folder_of_the_name_is_used(run, tmp_path, capsys):
    """An empty evaluations/x (made by hand, or left by a tool) holds nothing to keep: x, not x-2."""
    data = tmp_path / "x.csv"
    data.write_text("1")
    (run.evaluations / "x").mkdir(parents=True)
    ev = evaluate(run, data)
    assert ev.path == run.evaluations / "x" and not ev.replaces
    assert (run.evaluations / "x" / "metrics.json").is_file()
    assert "note:" not in capsys.readouterr().err


def test_an_out_naming_a_file_is_refused_in_one_line(run, tmp_path):
    data, out = tmp_path / "x.csv", tmp_path / "notes.txt"
    data.write_text("1"), out.write_text("keep")
    with pytest.raises(UserError) as err:
        run.evaluation(data, out)
    assert str(err.value) == f"--out {out}: is a file; expected a folder for the evaluation"
    assert out.read_text() == "keep"


def test_an_out_folder_holding_unreadable_metrics_is_refused_not_a_traceback(run, tmp_path):
    """A metrics.json of another tool (a JSON list) is "other files": refused in one line."""
    data, out = tmp_path / "x.csv", tmp_path / "out"
    data.write_text("1"), out.mkdir()
    (out / "metrics.json").write_text("[1, 2]\n")
    with pytest.raises(UserError) as err:
        run.evaluation(data, out)
    assert str(err.value) == (
        f"--out {out}: already holds other files; an evaluation never overwrites another (choose another --out)"
    )


def test_an_earlier_evaluation_without_its_run_recorded_is_replaced(run, tmp_path):
    """metrics.json written before the run was recorded in it: the same file's folder is still replaced."""
    data, out = tmp_path / "x.csv", tmp_path / "out"
    data.write_text("1")
    evaluate(run, data, out)
    saved = json.loads((out / "metrics.json").read_text())
    del saved["run"]
    (out / "metrics.json").write_text(json.dumps(saved))
    assert evaluate(run, data, out).replaces
    assert json.loads((out / "metrics.json").read_text())["run"] == str(run.path.absolute())


def test_a_folder_taken_while_evaluating_is_not_overwritten(run, tmp_path):
    """Two evaluations of different files named x.csv at once: the one finishing last must not erase
    the other's folder, but go to x-2."""
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    first, second = tmp_path / "a/x.csv", tmp_path / "b/x.csv"
    first.write_text("1"), second.write_text("2")
    with run.evaluation(first) as slow:
        slow.write_metrics({"score": 1.0})
        assert evaluate(run, second).path == run.evaluations / "x"  # finished first
    assert slow.path == run.evaluations / "x-2"
    assert json.loads((run.evaluations / "x" / "metrics.json").read_text())["data"] == str(second)
    assert json.loads((run.evaluations / "x-2" / "metrics.json").read_text())["data"] == str(first)


def test_a_relative_data_path_is_recorded_absolute(run, tmp_path, monkeypatch):
    """metrics.json and report.md name the file so it can be found from anywhere, not `x.csv`."""
    (tmp_path / "cwd").mkdir()
    (tmp_path / "cwd" / "x.csv").write_text("1")
    monkeypatch.chdir(tmp_path / "cwd")
    evaluate(run, "x.csv")
    assert json.loads((run.evaluations / "x" / "metrics.json").read_text())["data"] == str(
        tmp_path / "cwd/x.csv"
    )


def test_the_report_s_line_names_the_data_and_its_digest(run, tmp_path):
    data = tmp_path / "x.csv"
    data.write_text("1")
    evaluate(run, data)
    [line] = listed(run)
    expected = f"- [x](evaluations/x/report.md): `{data}` (sha256 `{sha(data)[:16]}…`), "
    assert line.startswith(expected) and re.fullmatch(STAMP, line[len(expected) :])


def test_an_evaluation_s_full_digest_heads_its_report(run, tmp_path):
    """The report is read alone: it names the run, the data file and its whole SHA-256."""
    data = tmp_path / "x.csv"
    data.write_text("1")
    evaluate(run, data)
    text = (run.evaluations / "x" / "report.md").read_text()
    assert text.split("\n")[4:8] == [
        f"- run: `{run.path}`",
        f"- data: `{data}`",
        f"- sha256: `{sha(data)}`",
        "",
    ]


def test_the_command_is_in_the_report_only_from_the_command_line(run, tmp_path, monkeypatch):
    """A Python caller's argv is no `scipt` command: it would be a wrong line to rerun."""
    data = tmp_path / "x.csv"
    data.write_text("1")
    monkeypatch.setattr(sys, "argv", ["/usr/bin/python3", "-c"])
    evaluate(run, data)
    assert "Command:" not in (run.evaluations / "x" / "report.md").read_text()
    monkeypatch.setattr(sys, "argv", ["/venv/bin/scipt", "evaluate", "run", "--data", str(data)])
    evaluate(run, data)
    assert (
        f"Command:\n\n    scipt evaluate run --data {data}\n"
        in (run.evaluations / "x" / "report.md").read_text()
    )


def test_a_deleted_evaluation_leaves_the_report_s_list(run, tmp_path):
    """An evaluation folder removed by hand: its line would be a dead link in the run's report."""
    for name in ("x", "y", "z"):
        (tmp_path / f"{name}.csv").write_text(name)
    evaluate(run, tmp_path / "x.csv"), evaluate(run, tmp_path / "y.csv")
    shutil.rmtree(run.evaluations / "x")
    evaluate(run, tmp_path / "z.csv")
    assert [line.split("]")[0] for line in listed(run)] == ["- [y", "- [z"]


def test_a_name_with_spaces_is_linked_quoted_and_listed_once(run, tmp_path):
    """`ratios (1)` unquoted is no Markdown link; a line written unquoted before is replaced, not doubled."""
    data = tmp_path / "ratios (1).csv"
    data.write_text("1")
    evaluate(run, data)
    [line] = listed(run)
    assert line.startswith("- [ratios (1)](evaluations/ratios%20%281%29/report.md): ")
    other = tmp_path / "held #3.csv"
    other.write_text("2")
    evaluate(run, other)
    run.report.write_text(run.report.read_text().replace("held%20%233", "held #3"))  # as written before
    evaluate(run, other)
    assert [line.split("]")[0] for line in listed(run)] == ["- [ratios (1)", "- [held #3"]


def test_an_empty_out_folder_made_beforehand_is_used(run, tmp_path):
    """`mkdir results && scipt evaluate RUN --out results` is the common case: an empty folder holds
    nothing an evaluation could overwrite, so it is filled, not refused."""
    data, out = tmp_path / "x.csv", tmp_path / "results"
    data.write_text("1"), out.mkdir()
    ev = evaluate(run, data, out)
    assert ev.path == out and not ev.replaces
    assert json.loads((out / "metrics.json").read_text())["data_sha256"] == sha(data)


def test_the_command_is_in_the_report_when_run_as_python_m_scipt_cli(run, tmp_path, monkeypatch):
    """`python -m sciPT.cli evaluate ...` is the command line too (argv[0] is .../sciPT/cli.py): its
    report must say how to run it again, as `scipt ...` does."""
    data = tmp_path / "x.csv"
    data.write_text("1")
    monkeypatch.setattr(sys, "argv", ["/src/sciPT/cli.py", "evaluate", "run", "--data", str(data)])
    evaluate(run, data)
    assert (
        f"Command:\n\n    scipt evaluate run --data {data}\n"
        in (run.evaluations / "x" / "report.md").read_text()
    )
