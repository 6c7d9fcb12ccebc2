"""sciPT.cli: the `scipt` command's parser, its plugin subcommands, exit statuses and stop messages,
driven in-process (the slow end-to-end runs are in tests/integration/test_cli.py)."""

from __future__ import annotations

import argparse
import datetime as dt
import io
import os
import re
import subprocess
import sys

import pytest

from sciPT import cli
from sciPT.cli import after_stop, build_parser, main

KEEPS = "the run keeps its last checkpoint: the same command with --resume continues it"

FAKE_PLUGIN = """
from dataclasses import dataclass, field

from sciPT.registry import Command, Task
from sciPT.trainer import TrainConfig


@dataclass
class FakeConfig:
    n: int = 3
    train: TrainConfig = field(default_factory=TrainConfig)


def add_arguments(parser):
    parser.add_argument("--status", type=int)


def run(args):
    print("fakecmd ran")
    return args.status  # None where not given: a command that returns nothing succeeded


class FakeTask(Task):
    name = "faketask"
    summary = "a task of a third-party distribution"
    config_class = FakeConfig

    def presets(self):
        return {"tiny": FakeConfig}

    def finetune(self, args):
        return 3  # a plugin's own exit status

    def commands(self):
        return [
            Command("fakecmd", "a command of a third-party plugin", add_arguments, run),
            Command("export", "a third-party command that takes a built-in's name", add_arguments, run),
        ]


task = FakeTask()
"""


@pytest.fixture
def third_party(tmp_path, monkeypatch):
    """A distribution ``triseq-plugin`` with a task that has no demo, one whose import fails with a
    '%' in its reason, and two commands (one named as the built-in ``export``): the tasks, the
    commands and the dna domain of fresh registries (the installed commands beside them), for the
    test's length; installs nothing."""
    from sciPT import registry
    from sciPT.testing import fake_distribution

    added = fake_distribution(
        tmp_path,
        "triseq-plugin",
        {"fakeplug_unit_task": FAKE_PLUGIN, "fakeplug_unit_broken": "raise RuntimeError('100% broken')\n"},
        "[sciPT.tasks]\nfaketask = fakeplug_unit_task:task\nbroken = fakeplug_unit_broken:task\n"
        "[sciPT.commands]\nfakecmd = fakeplug_unit_task:task\nexport = fakeplug_unit_task:task\n",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    installed = registry.entry_points

    def entry_points(group):
        # these tasks alone and the dna domain: a listing imports every plugin it lists (seconds)
        kept = [p for p in installed(group=group) if group == registry.COMMAND_GROUP or p.name == "dna"]
        return [*kept, *(p for p in added if p.group == group)]

    monkeypatch.setattr(registry, "entry_points", entry_points)
    fresh = {
        "tasks": registry.Registry(registry.TASK_GROUP, "task", registry.Task),
        "domains": registry.Registry(registry.DOMAIN_GROUP, "domain", registry.Domain),
        "commands": registry.Registry(registry.COMMAND_GROUP, "command", (registry.Domain, registry.Task)),
    }
    for name, fresh_registry in fresh.items():  # sciPT.run.open_run reads sciPT.registry's
        monkeypatch.setattr(cli, name, fresh_registry)
        monkeypatch.setattr(registry, name, fresh_registry)
    yield
    for module in ("fakeplug_unit_task", "fakeplug_unit_broken"):
        sys.modules.pop(module, None)


def help_text(argv: list[str], capsys) -> str:
    """What ``scipt ARGV`` (a ``--help``) prints, its white space collapsed; it must exit 0."""
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 0
    return " ".join(capsys.readouterr().out.split())


@pytest.mark.parametrize(
    "argv",
    [
        ["pretrain", "dna"],
        ["pretrain", "protein"],
        ["pretrain", "molecules"],
        ["pretrain", "surrogates"],
        ["finetune", "promoter"],
        ["finetune", "forcefield"],
        ["finetune", "surrogate"],
    ],
)
def test_an_option_s_help_states_its_default_once_the_one_it_takes(argv, capsys):
    """argparse appends each option's default, the preset's; a docstring that also said the
    dataclass's own ("warm-up steps (0: none; default 100). (default: 30)") contradicted it."""
    import re

    out = help_text([*argv, "--help"], capsys)
    assert re.findall(r"[^.(]*\bdefault [0-9][^)]*\)\. \(default: [^)]*\)", out) == []
    if "--warmup-steps" in out:
        assert "train.lr (0: none). (default: " in out


def test_a_misspelt_option_given_with_equals_still_gets_the_closest(tmp_path, capsys):
    """`--outt=runs/dna-first-try` is one token: the hint was looked up for the whole token, whose
    value made it unlike every option, and none came."""
    with pytest.raises(SystemExit) as exc:
        main(["pretrain", "dna", "--outt=runs/dna-first-try"])
    assert exc.value.code == 2
    assert capsys.readouterr().err == (
        "scipt pretrain dna: error: unrecognized arguments: --outt=runs/dna-first-try "
        "(did you mean --out?); 'scipt pretrain dna --help' lists the options\n"
    )


def test_the_top_level_help_names_each_plugin_command_s_provider_and_the_plugins(capsys):
    """`scipt --help` is where a user finds `scan` and `md`, and which plugin (and extra) they
    belong to; the names are those pyproject.toml registers."""
    out = help_text(["--help"], capsys)
    assert "md from the forcefield plugin ('scipt md --help')" in out
    assert "scan from the promoter plugin ('scipt scan --help')" in out
    assert out.endswith(
        "domains: dna, molecules, protein, surrogates; tasks: forcefield, promoter, surrogate. "
        "'scipt COMMAND --help' lists a command's options."
    )


def test_a_plugin_s_exit_status_is_the_command_s(third_party, capsys):
    """A plugin that says it failed (an int) must fail the job; one that returns nothing succeeded."""
    assert main(["finetune", "faketask"]) == 3
    assert main(["fakecmd", "--status", "4"]) == 4
    assert main(["fakecmd"]) == 0
    assert capsys.readouterr().out == "fakecmd ran\nfakecmd ran\n"


def test_a_plugin_command_named_as_a_built_in_leaves_the_built_in_alone(third_party, capsys):
    """A third-party `export` command either replaced the built-in or, added twice, made argparse
    fail every `scipt` command with a traceback."""
    out = help_text(["export", "--help"], capsys)
    assert "usage: scipt export [-h] [--checkpoint CHECKPOINT] [--out OUT] [--format {sciPT,hf}] RUN" in out


def test_a_broken_plugin_s_reason_with_a_percent_sign_is_listed(third_party, capsys):
    """argparse %-formats help strings: an unescaped '%' in the reason crashed the listing itself."""
    listing = help_text(["finetune", "--help"], capsys)
    assert "broken (unavailable, from triseq-plugin: failed to load: RuntimeError: 100% broken)" in listing


def test_a_plugin_without_a_demo_is_not_offered_by_demo(third_party, capsys):
    """`scipt demo faketask` would only say it has no demo: the listing must not offer it."""
    usage = help_text(["demo", "--help"], capsys)
    assert "usage: scipt demo [-h] [--out OUT] [--max-steps MAX_STEPS] [{dna}]" in usage


def test_demo_defaults(monkeypatch, capsys):
    """`scipt demo` alone runs the DNA demo, as its help says; no --out and no step count."""
    monkeypatch.setattr(cli, "_has_demo", lambda name: True)  # the listing imported every plugin
    args = build_parser(["demo"]).parse_args(["demo"])
    assert (args.name, args.out, args.max_steps) == ("dna", None, None)
    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    assert "which plugin's demonstration (default: dna)" in " ".join(capsys.readouterr().out.split())


def test_a_demo_without_out_writes_a_named_time_stamped_folder(tmp_path, monkeypatch):
    """Two demos of different plugins (or one run again later) must not meet in one folder."""
    from sciPT.registry import domains

    seen = {}
    monkeypatch.setattr(cli, "_has_demo", lambda name: True)  # the listing imported every plugin
    monkeypatch.setattr(domains.get("dna"), "demo", lambda args: seen.setdefault("out", args.out) and None)
    monkeypatch.chdir(tmp_path)
    before = dt.datetime.now().replace(microsecond=0)
    assert main(["demo", "dna"]) == 0
    after = dt.datetime.now()
    match = re.fullmatch(r"runs/demo-dna-(\d{8}-\d{6})", seen["out"])
    assert match, seen["out"]
    assert before <= dt.datetime.strptime(match[1], "%Y%m%d-%H%M%S") <= after


def test_predict_refuses_to_write_over_its_input(tmp_path, capsys):
    """The rename at the end would replace the input file with the predictions made from it."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("domain: dna\n")
    fa = tmp_path / "q.fa"
    fa.write_text(">a\nACGT\n")
    assert main(["predict", str(run), "--input", str(fa), "--output", str(fa), "--embed"]) == 2
    assert capsys.readouterr().err == (
        f"scipt: error: {fa}: is the input itself; write the predictions to another file\n"
    )
    assert fa.read_text() == ">a\nACGT\n"


@pytest.mark.parametrize(
    "config, defaults",
    [
        ("domain: dna\n", ("the domain 'dna'", ["dna"], "scipt")),
        ("task: faketask\n", ("the task 'faketask'", [], "triseq-plugin")),
    ],
)
def test_evaluate_names_the_plugin_that_wrote_the_run_for_a_missing_extra(
    third_party, tmp_path, config, defaults
):
    """A library the plugin imports late is named with the plugin that needs it and the
    distribution to install: a task's run must not be called a domain's (nor a domain's a task's)."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text(config)
    argv = ["evaluate", str(run), "--data", "x.fa"]
    args = build_parser(argv).parse_args(argv)
    assert (args.plugin_label, args.plugin_extras, args.plugin_dist) == defaults


def test_a_library_a_built_in_plugin_imports_late_is_named_with_scipt_s_extra(tmp_path, monkeypatch, capsys):
    """The `pip install` line must name this distribution (scipt), not a plugin's."""
    from sciPT import pretrain

    def missing(*args, **kwargs):
        raise ModuleNotFoundError("No module named 'Bio'", name="Bio")

    monkeypatch.setattr(pretrain, "pretrain", missing)
    assert main(["pretrain", "dna", "--out", str(tmp_path / "r")]) == 2
    assert capsys.readouterr().err == (
        "scipt: error: the domain 'dna' needs 'Bio', which is not installed: pip install 'scipt[dna]'\n"
    )


@pytest.mark.parametrize(
    "raised, status, line",
    [
        (KeyboardInterrupt(), 130, "scipt: interrupted"),
        # a run that diverged failed; it is not bad input (2)
        (None, 1, "scipt: error: stopped: non-finite gradients"),
    ],
    ids=["ctrl-c", "diverged"],
)
def test_exit_status_of_a_stopped_or_failed_run(tmp_path, monkeypatch, capsys, raised, status, line):
    """A batch chain or a shell script reads the status: 130 for Ctrl-C, 1 for a failed run."""
    from sciPT import pretrain
    from sciPT.errors import TrainingDiverged

    def stopped(*args, **kwargs):
        raise raised or TrainingDiverged("stopped: non-finite gradients")

    monkeypatch.setattr(pretrain, "pretrain", stopped)
    assert main(["pretrain", "dna", "--out", str(tmp_path / "r")]) == status
    assert capsys.readouterr().err == line + "\n"


def test_after_a_stop_a_demo_says_how_its_stage_goes_on(tmp_path):
    """A demo has no --resume; one whose stage is an ordinary run says how that run goes on alone."""
    words = f"a demo cannot be resumed: run it again with another --out, or delete {tmp_path} first"
    args = argparse.Namespace(command="demo", out=str(tmp_path))
    assert after_stop(args) == words
    args.stage_resume = lambda: "scipt finetune promoter --resume continues its fits"
    assert after_stop(args) == f"{words}; scipt finetune promoter --resume continues its fits"
    args.stage_resume = lambda: None  # no stage to go on from yet
    assert after_stop(args) == words


def test_after_a_stop_without_a_run_folder_the_checkpoint_is_the_way_on():
    assert after_stop(None) == KEEPS
    assert after_stop(argparse.Namespace(command="pretrain")) == KEEPS


def test_progress_bars_redraw_every_30_seconds_only_in_a_log(monkeypatch):
    """A batch job's log kept every redraw (ten a second); a terminal keeps tqdm's own pace."""
    monkeypatch.setenv("TQDM_MININTERVAL", "")
    monkeypatch.delenv("TQDM_MININTERVAL")  # restored (removed) after the test
    monkeypatch.setattr(sys, "stderr", io.StringIO())  # not a terminal
    cli.log_friendly_progress()
    assert os.environ["TQDM_MININTERVAL"] == "30"
    monkeypatch.setenv("TQDM_MININTERVAL", "2")  # the user's own choice stays
    cli.log_friendly_progress()
    assert os.environ["TQDM_MININTERVAL"] == "2"

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.delenv("TQDM_MININTERVAL")
    monkeypatch.setattr(sys, "stderr", Terminal())
    cli.log_friendly_progress()
    assert "TQDM_MININTERVAL" not in os.environ


def test_output_still_buffered_when_the_reader_has_gone_is_dropped_quietly():
    """`scipt ... | head` where head exits before the command's last write is flushed: the flush at
    exit failed with 'Exception ignored ... BrokenPipeError' and status 120."""
    script = (
        "import argparse, sys, time, sciPT.cli as cli\n"
        "def quiet(args):\n"
        "    print('one line')\n"  # held in the buffer: standard output is a pipe
        "    while not cli.stdout_reader_gone(): time.sleep(0.01)\n"
        "    return 0\n"
        "class Parser:\n"
        "    def parse_args(self, argv): return argparse.Namespace(handler=quiet)\n"
        "cli.build_parser = lambda argv: Parser()\n"
        "sys.exit(cli.main([]))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # as in a user's shell
    proc = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    proc.stdout.close()
    assert proc.wait(timeout=60) == 1
    assert proc.stderr.read() == b""


def test_a_missing_required_option_is_one_line_with_status_2(tmp_path, capsys):
    """argparse printed the whole usage before its line, and a script reads status 2 as bad input."""
    with pytest.raises(SystemExit) as exc:
        main(["evaluate", str(tmp_path)])
    assert exc.value.code == 2
    assert capsys.readouterr().err == (
        "scipt evaluate: error: the following arguments are required: --data; "
        "'scipt evaluate --help' lists the options\n"
    )


@pytest.mark.parametrize("verb, given", [("predict", ["--input", "q.fa"]), ("evaluate", ["--data", "q.fa"])])
def test_a_plugin_option_after_a_path_that_is_not_a_run_blames_the_path(tmp_path, capsys, verb, given):
    """A mistyped RUN made `--embed` 'unrecognized': the line must name the path, with status 2."""
    run = tmp_path / "nope"
    argv = [verb, str(run), *given, "--embed"]
    if verb == "predict":
        argv += ["--output", str(tmp_path / "out.npz")]
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert capsys.readouterr().err == (
        f"scipt {verb}: error: {run}: not a run directory (no config.yaml), so the options of the "
        "plugin that wrote it are unknown: --embed\n"
    )


def test_a_demo_refuses_a_step_count_below_one(monkeypatch, capsys):
    """`--max-steps 0` was read as the demo's own length: refused where it is parsed, naming it."""
    monkeypatch.setattr(cli, "_has_demo", lambda name: True)  # the listing imported every plugin
    with pytest.raises(SystemExit) as exc:
        main(["demo", "dna", "--max-steps", "0"])
    assert exc.value.code == 2
    assert capsys.readouterr().err == (
        "scipt demo: error: argument --max-steps: expected a positive number of steps, got 0; "
        "'scipt demo --help' lists the options\n"
    )


def test_after_a_stop_the_line_says_what_the_run_folder_keeps(tmp_path):
    """Ctrl-C before the first checkpoint: --resume would find nothing to continue; a SLURM
    signal's hpc_ckpt_<n>.ckpt is a checkpoint too; a task that keeps something else says so."""
    args = argparse.Namespace(command="pretrain", out=str(tmp_path))
    assert (
        after_stop(args)
        == "no checkpoint was written yet: the same command with --resume auto starts it again"
    )
    (tmp_path / "hpc_ckpt_1.ckpt").write_bytes(b"")
    assert after_stop(args) == KEEPS
    (tmp_path / "hpc_ckpt_1.ckpt").unlink()
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "last.ckpt").write_bytes(b"")
    assert after_stop(args) == KEEPS
    args.kept_after_stop = lambda path: f"{path}: 3 of 20 fits kept"
    assert after_stop(args) == f"{tmp_path}: 3 of 20 fits kept"


def test_the_plugin_named_on_the_command_line_fails_with_its_one_line(third_party, capsys):
    """A listing shows a broken plugin with its reason; running it must fail, not list it."""
    assert main(["finetune", "broken"]) == 2
    err = capsys.readouterr().err
    assert err == (
        "scipt: error: plugin 'broken' (fakeplug_unit_broken:task, from triseq-plugin) failed to load: "
        "RuntimeError: 100% broken\n"
    )


def test_evaluate_run_help_lists_the_plugin_s_options_instead_of_the_pointer(tmp_path, capsys):
    """`scipt evaluate RUN --help` must not point the user at the very command they typed."""
    pointer = "The options of the plugin that wrote RUN are listed by 'scipt evaluate RUN --help'."
    assert pointer in help_text(["evaluate", "--help"], capsys)
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("domain: dna\n")
    out = help_text(["evaluate", str(run), "--help"], capsys)
    assert "options for dna runs" in out
    assert pointer not in out


class _BrokenBuiltin:
    """A registry whose one plugin, built in (or of an entry point made by hand), cannot load."""

    kind = "domain"

    def __init__(self, dist):
        self.dist = dist

    def get(self, name):
        from sciPT.registry import PluginError

        raise PluginError(
            f"domain '{name}'", "needs 'rdkit', which is not installed: pip install 'scipt[molecules]'"
        )

    def distribution(self, name):
        return self.dist

    def extras(self, name):
        return ["molecules"]


@pytest.mark.parametrize("dist", ["scipt", None])
def test_a_built_in_plugin_that_cannot_load_is_listed_without_a_source(dist):
    """`from scipt` beside a built-in reads as a third-party plugin: only other distributions are named."""
    parser = argparse.ArgumentParser(prog="scipt pretrain")
    sub = parser.add_subparsers()
    assert cli._listed(_BrokenBuiltin(dist), "mol", None, sub) is None
    assert (
        "mol (unavailable: needs 'rdkit', which is not installed: pip install 'scipt[molecules]')"
        in " ".join(parser.format_help().split())
    )


def test_a_plugin_of_unknown_distribution_is_installed_as_scipt_s_extra():
    """An entry point without a distribution gave `pip install 'None[molecules]'`."""
    defaults = cli._plugin_defaults(_BrokenBuiltin(None), "mol")
    assert defaults == {
        "plugin_label": "the domain 'mol'",
        "plugin_extras": ["molecules"],
        "plugin_dist": "scipt",
    }
