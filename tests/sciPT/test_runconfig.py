"""Configuration layering: preset < --config < flags, and a time budget given without a step count."""

from __future__ import annotations

import argparse
import dataclasses

import pytest

from sciPT.errors import ConfigError
from sciPT.registry import domains, tasks
from sciPT.runconfig import add_run_arguments, field_docs, parse_flag, resolve_config


def resolve(argv: list[str]):
    domain = domains.get("dna")
    parser = argparse.ArgumentParser()
    table = add_run_arguments(parser, domain, "runs/x")
    return resolve_config(domain, parser.parse_args(argv), table)


def test_layers_override_in_order(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("train:\n  lr: 0.5\n  batch_size: 3\nmodel:\n  d_model: 64\n")
    assert resolve([]).train.lr == 2e-3  # the tiny preset's
    cfg = resolve(["--config", str(config), "--lr", "0.25"])
    assert (cfg.train.lr, cfg.train.batch_size, cfg.model.d_model) == (0.25, 3, 64)


@pytest.mark.parametrize(
    "argv,yaml_train,expected",
    [
        ([], "", 300),  # the preset's steps
        (["--max-time", "10"], "", None),  # a budget alone: sized from time
        (["--max-time", "10", "--max-steps", "50"], "", 50),  # both: the first reached stops it
        ([], "  max_time: '10'\n", None),  # the budget from the YAML
        ([], "  max_time: 0.5\n", None),  # as a YAML number, as the docs write it
        (["--max-time", "10"], "  max_steps: 70\n", 70),  # steps from the YAML, time from a flag
    ],
)
def test_a_time_budget_without_steps_sizes_the_run(tmp_path, argv, yaml_train, expected):
    config = tmp_path / "c.yaml"
    config.write_text("train:\n" + (yaml_train or "  lr: 0.002\n"))
    cfg = resolve(["--config", str(config), *argv])
    assert cfg.train.max_steps == expected
    if "0.5" in yaml_train:
        assert cfg.train.max_time == "0.5"


def test_a_day_written_unquoted_in_yaml_is_a_day_not_a_base_60_number(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("train:\n  max_time: 1:00:00:00\n")  # YAML 1.1 read 216000 (minutes: 150 days)
    cfg = resolve(["--config", str(config)])
    assert cfg.train.max_time == "1:00:00:00" and cfg.train.max_steps is None


@pytest.mark.parametrize(
    "flag, saved, message",
    [
        (["--seed", "5"], "0", "--seed: a resumed run keeps the value it started with (0)"),
        (
            ["--data.val-fraction", "0.2"],
            "0.02",
            "--data.val-fraction: a resumed run keeps the value it started with (0.02)",
        ),
    ],
)
def test_a_resumed_run_keeps_what_drew_its_validation_split(tmp_path, flag, saved, message):
    out = tmp_path / "run"
    out.mkdir()
    (out / "config.yaml").write_text("domain: dna\ntrain:\n  seed: 0\ndata:\n  val_fraction: 0.02\n")
    with pytest.raises(ConfigError) as err:
        resolve(["--out", str(out), "--resume", *flag])
    assert str(err.value) == (
        f"{message}, as it drew the validation split: another would score as held out what the run "
        "has trained on; to use another, start a new run (another --out)"
    )
    cfg = resolve(["--out", str(out), "--resume", flag[0], saved])  # the same value: accepted
    assert cfg.train.seed == 0 and cfg.data.val_fraction == 0.02


def test_a_resumed_run_keeps_its_step_count(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "config.yaml").write_text("domain: dna\ntrain:\n  max_steps: 123\n")
    cfg = resolve(["--out", str(out), "--resume", "--max-time", "5"])
    assert (cfg.train.max_steps, cfg.train.max_time) == (123, "5")


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["--max-steps", "500"], (500, None)),  # a step count alone: the spent budget gives way
        (["--max-steps", "500", "--max-time", "9"], (500, "9")),  # both given: both bound it
        ([], (123, "2")),  # nothing given: the run's own bounds
    ],
)
def test_a_resumed_time_bounded_run_takes_the_bounds_it_is_given(tmp_path, argv, expected):
    out = tmp_path / "run"
    out.mkdir()
    (out / "config.yaml").write_text("domain: dna\ntrain:\n  max_steps: 123\n  max_time: '2'\n")
    cfg = resolve(["--out", str(out), "--resume", *argv])
    assert (cfg.train.max_steps, cfg.train.max_time) == expected


def test_a_task_may_pick_the_preset_of_a_command_line_that_names_none():
    """The preset by --max-time (a stand-in task: a budget of 10 minutes or more gets 'small'); a
    named preset always wins, and a plugin without the hook gets tiny."""
    from sciPT.registry import tasks

    task = tasks.get("forcefield")

    class Budgeted(type(task)):
        def default_preset(self, max_time_s):
            return "small" if max_time_s is not None and max_time_s >= 600 else "tiny"

    budgeted = Budgeted()
    parser = argparse.ArgumentParser()
    table = add_run_arguments(parser, budgeted, "runs/x")

    def config(argv):
        return resolve_config(budgeted, parser.parse_args(argv), table)

    small, tiny = task.presets()["small"](), task.presets()["tiny"]()
    assert small.model.channels != tiny.model.channels
    assert config([]).model.channels == tiny.model.channels
    assert config(["--max-time", "9"]).model.channels == tiny.model.channels
    assert config(["--max-time", "00:00:10:00"]).model.channels == small.model.channels
    assert config(["--max-time", "20", "--preset", "tiny"]).model.channels == tiny.model.channels
    assert resolve(["--max-time", "20"]).model.d_model == 64  # the dna domain: tiny


def test_fields_the_tokenizer_fills_have_no_flag(tmp_path, capsys):
    """vocab_size, pad_id and complement_ids are the tokenizer's: no flag sets them; d_model keeps its."""
    with pytest.raises(SystemExit):
        resolve(["--model.vocab-size", "8"])
    assert "unrecognized arguments: --model.vocab-size 8" in capsys.readouterr().err
    config = tmp_path / "c.yaml"
    config.write_text("model:\n  pad_id: 3\n")  # a saved run's config.yaml still carries them
    cfg = resolve(["--config", str(config), "--model.d-model", "32"])
    assert (cfg.model.pad_id, cfg.model.d_model) == (3, 32)


@pytest.mark.parametrize("text, value", [("500", 500), ("0.333", 0.333), ("0", 0)])
def test_a_number_flag_reads_steps_or_a_fraction(text, value):
    parsed = parse_flag(text, int | float, "finetune.head_warmup")
    assert (parsed, type(parsed)) == (value, type(value))


def test_a_number_flag_refuses_words():
    with pytest.raises(ConfigError) as err:
        parse_flag("a third", int | float, "finetune.head_warmup")
    assert str(err.value) == "--finetune.head-warmup: expected a number, got 'a third'"


@dataclasses.dataclass
class _Inner:
    """Inner.

    Attributes:
        width: the number of ``units``, as in
            :class:`sciPT.nn.Thing`.
    """

    width: int = 4


@dataclasses.dataclass
class _Outer:
    """Outer.

    Attributes:
        low, high: the bounds.
        inner: not a leaf.

    Returns nothing.
    """

    low: float = 0.0
    high: float = 1.0
    inner: _Inner = dataclasses.field(default_factory=_Inner)
    plain: int = 0


def test_help_text_comes_from_the_config_docstrings():
    assert field_docs(_Outer()) == {
        "low": "the bounds.",
        "high": "the bounds.",
        "inner.width": "the number of units, as in sciPT.nn.Thing.",
    }
    parser = argparse.ArgumentParser()
    add_run_arguments(parser, tasks.get("surrogate"), "runs/x")
    text = " ".join(parser.format_help().split())
    assert (
        "--transfer {exponents,all} what the prior constrains: the exponents only (C free) or all (C too); "
        "None: all when init is a calibrated run of the same system, else exponents. (default: None)"
    ) in text


def test_training_keys_a_task_never_reads_are_not_listed_but_still_parsed():
    """The promoter task's fine-tunes are single-device: --help omits --devices, and a run that sets
    it reaches the task's own refusal rather than argparse's bare 'unrecognized arguments'."""
    promoter = tasks.get("promoter")
    assert "devices" in promoter.unused_train_keys
    parser = argparse.ArgumentParser()
    table = add_run_arguments(parser, promoter, "runs/x")
    listed = parser.format_help()
    assert "--devices" not in listed and "--ddp-strategy" not in listed and "--compile" not in listed
    assert "--lr " in listed and "--max-steps" in listed
    assert resolve_config(promoter, parser.parse_args(["--devices", "2"]), table).train.devices == 2
    parser = argparse.ArgumentParser()
    add_run_arguments(parser, domains.get("dna"), "runs/x")
    assert "--devices" in parser.format_help()


def test_a_closed_form_pretraining_lists_only_the_seed_of_the_training_keys():
    parser = argparse.ArgumentParser()
    add_run_arguments(parser, domains.get("surrogates"), "runs/x")
    listed = " ".join(parser.format_help().split())
    assert "--seed SEED" in listed and "--points-per-system" in listed
    assert not {"--lr", "--max-time", "--warmup-steps", "--schedule", "--devices"} & set(listed.split())
    assert (
        "--resume [auto] not for this command: surrogates pre-train in closed form, in seconds; run it again"
        in listed
    )


def test_a_second_config_file_is_refused_not_silently_dropped(tmp_path, capsys):
    from sciPT.cli import main

    (tmp_path / "a.yaml").write_text("train:\n  max_steps: 3\n")
    (tmp_path / "b.yaml").write_text("train:\n  batch_size: 8\n")
    argv = ["pretrain", "dna", "--config", str(tmp_path / "b.yaml"), "--config", str(tmp_path / "a.yaml")]
    with pytest.raises(SystemExit) as exc:
        main([*argv, "--out", str(tmp_path / "run")])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(
        f"scipt pretrain dna: error: --config: given twice ({tmp_path / 'b.yaml'}, then "
        f"{tmp_path / 'a.yaml'}); expected one file (put the keys of both in it)"
    )
    assert not (tmp_path / "run").exists()


def test_a_path_from_the_home_folder_in_a_config_file_is_the_home_folder_s(tmp_path, monkeypatch):
    """``~/g.fa`` in a config file was a folder named ``~`` in the working directory: "file not
    found" for a file that exists."""
    from sciPT.runconfig import read_config_file

    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "c.yaml").write_text("data:\n  paths:\n  - ~/g.fa\n  - a~/b.fa\nrun:\n  label: '~'\n")
    config = read_config_file(tmp_path / "c.yaml")
    assert config["data"]["paths"] == [f"{tmp_path}/g.fa", "a~/b.fa"]
    assert config["run"] == {"label": "~"}


def test_a_list_flag_takes_its_alias_spaces_commas_and_repeats():
    """``--data a.fa b.fa,c.fa --data d.fa``: every file, in order, under the domain's short flag."""
    cfg = resolve(["--data", "a.fa", "b.fa,c.fa", "--data", "d.fa"])
    assert cfg.data.paths == ["a.fa", "b.fa", "c.fa", "d.fa"]
    assert resolve(["--window", "64"]).data.window == 64
    parser = argparse.ArgumentParser()
    add_run_arguments(parser, domains.get("dna"), "runs/x")
    listed = " ".join(parser.format_help().split())
    assert "(default: data_recipes/dna/ecoli_k12_mg1655.fna.gz)" in listed  # as typed: no brackets


def test_a_bool_flag_alone_is_true_and_0_is_false():
    """``--compile`` alone turns it on; ``--compile 0`` (or no/off/false) turns it off."""
    assert resolve(["--compile"]).train.compile is True
    for off in ("0", "no", "off", "False"):
        assert resolve(["--compile", off]).train.compile is False
    for on in ("1", "yes", "on", "TRUE"):
        assert resolve(["--compile", on]).train.compile is True
    with pytest.raises(ConfigError) as err:
        resolve(["--compile", "maybe"])
    assert str(err.value) == "--compile: expected true or false, got 'maybe'"


def test_a_count_or_a_word_flag_reads_a_negative_count_as_a_number():
    """``--devices -1`` is Lightning's "every device": the number -1, not the text '-1'."""
    assert (parse_flag("-1", int | str, "train.devices"), parse_flag("auto", int | str, "train.devices")) == (
        -1,
        "auto",
    )
    assert resolve(["--devices", "-1"]).train.devices == -1


def test_an_optional_flag_is_unset_by_none_in_any_case():
    assert resolve(["--data.tile", "None"]).data.tile is None
    assert resolve(["--data.tile", "NULL", "--data.min-entropy", "none"]).data.min_entropy is None
    assert resolve(["--data.tile", "50"]).data.tile == 50


def test_an_integer_flag_given_a_word_names_the_type_it_expects():
    with pytest.raises(ConfigError) as err:
        resolve(["--max-steps", "ten"])
    assert str(err.value) == "--max-steps: expected int, got 'ten'"
    with pytest.raises(ConfigError) as err:
        resolve(["--lr", "fast"])
    assert str(err.value) == "--lr: expected float, got 'fast'"


def test_the_schedule_flag_names_the_schedule_and_its_keys_have_their_own():
    """``--help`` lists ``--schedule`` (argparse's prefix match alone would accept it for any longer name)."""
    cfg = resolve(["--schedule", "linear", "--warmup-steps", "7"])
    assert (cfg.train.schedule.name, cfg.train.schedule.warmup_steps) == ("linear", 7)
    parser = argparse.ArgumentParser()
    add_run_arguments(parser, domains.get("dna"), "runs/x")
    listed = " ".join(parser.format_help().split())
    assert "--schedule {cosine,linear,exponential,step,constant} " in listed
    assert "--warmup-steps WARMUP_STEPS " in listed


@pytest.mark.parametrize(
    "flag, key, kept, other, same",
    [("--lr", "lr", "0.0005", "0.01", "5e-4"), ("--weight-decay", "weight_decay", "0.05", "0.1", "0.05")],
)
def test_a_resumed_run_refuses_a_new_optimizer_setting_naming_the_one_it_keeps(
    tmp_path, flag, key, kept, other, same
):
    """The optimizer comes back from the checkpoint with its learning rate and weight decay: a new
    --lr or --weight-decay would be written to config.yaml as if it applied, and silently not be
    used. The value it keeps, given again in any spelling, is accepted."""
    out = tmp_path / "run"
    out.mkdir()
    (out / "config.yaml").write_text(f"domain: dna\ntrain:\n  {key}: {kept}\n")
    with pytest.raises(ConfigError) as err:
        resolve(["--out", str(out), "--resume", flag, other])
    assert str(err.value) == (
        f"{flag}: a resumed run keeps the value it started with ({kept}), as its optimizer and schedule "
        "state come from the checkpoint; to train with another, start a new run (another --out)"
    )
    assert getattr(resolve(["--out", str(out), "--resume", flag, same]).train, key) == float(kept)


def test_a_run_s_own_config_yaml_may_be_given_as_config(tmp_path):
    """The keys naming its plugin and data are no config keys: not 'unknown key domain'."""
    config = tmp_path / "config.yaml"
    config.write_text("domain: dna\ncorpus: x\ntrain:\n  batch_size: 5\n")
    assert resolve(["--config", str(config)]).train.batch_size == 5


def test_an_empty_config_file_leaves_the_preset(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("# nothing set yet\n")
    assert resolve(["--config", str(config)]) == resolve([])


def test_a_time_budget_that_is_a_bool_is_refused_naming_the_key(tmp_path):
    """``max_time: yes`` is YAML's True: no time budget, and it is refused rather than read as 'True'."""
    config = tmp_path / "c.yaml"
    config.write_text("train:\n  max_time: yes\n")
    with pytest.raises(ConfigError) as err:
        resolve(["--config", str(config)])
    assert str(err.value) == f"{config}.train.max_time: expected str, got True"


def _budgeted():
    task = tasks.get("forcefield")

    class Budgeted(type(task)):
        def default_preset(self, max_time_s):
            return "small" if max_time_s is not None and max_time_s >= 600 else "tiny"

    return Budgeted(), task.presets()["small"](), task.presets()["tiny"]()


def test_the_budget_that_picks_the_preset_is_the_flag_s_over_the_file_s(tmp_path, capsys):
    """Flags win over --config for the preset's choice as for every key; the choice is said, with
    where the budget came from."""
    budgeted, small, tiny = _budgeted()
    parser = argparse.ArgumentParser()
    table = add_run_arguments(parser, budgeted, "runs/x")
    config = tmp_path / "c.yaml"
    config.write_text("train:\n  max_time: 20\n")

    def channels(argv):
        return resolve_config(budgeted, parser.parse_args(argv), table).model.channels

    assert channels(["--config", str(config), "--max-time", "5"]) == tiny.model.channels
    assert capsys.readouterr().err == ""
    assert channels(["--config", str(config)]) == small.model.channels
    assert capsys.readouterr().err == (
        f"{config}: train.max_time 20: no --preset named, so the 'small' preset, which that budget "
        "trains best (--preset tiny for the tiny model)\n"
    )


def test_a_count_and_a_seed_are_refused_out_of_range_where_parsed():
    from sciPT.runconfig import positive_int, seed
    from sciPT.trainer import SEED_LIMIT

    assert positive_int("1") == 1 and seed("0") == 0 and seed(str(SEED_LIMIT - 1)) == SEED_LIMIT - 1
    for text in ("0", "-3", "two"):
        with pytest.raises(argparse.ArgumentTypeError) as err:
            positive_int(text)
        assert str(err.value) == f"expected a positive integer, got {text}"
    with pytest.raises(argparse.ArgumentTypeError) as err:
        seed(str(SEED_LIMIT))
    assert str(err.value) == f"expected an integer from 0 to {SEED_LIMIT - 1}, got {SEED_LIMIT}"


def test_a_time_budget_alone_is_named_once_by_a_command_that_has_no_use_for_it():
    """A budget given alone also clears the step count: the refusal names --max-time, not a
    --max-steps the user never typed."""
    from sciPT.runconfig import refuse_unused_train_keys

    plugin = domains.get("surrogates")
    parser = argparse.ArgumentParser()
    table = add_run_arguments(parser, plugin, "runs/x")
    cfg = resolve_config(plugin, parser.parse_args(["--max-time", "5", "--lr", "3"]), table)
    assert cfg.train.max_steps is None
    with pytest.raises(ConfigError) as err:
        refuse_unused_train_keys(plugin, cfg.train, plugin.presets()["tiny"]().train, "this fit")
    assert str(err.value) == "--max-time, --lr: not used by this fit"


def test_a_config_whose_train_is_no_mapping_is_named_for_a_task_that_picks_its_preset(tmp_path):
    """Where the domain refuses ``train: 5`` naming the key, forcefield (which picks its preset by
    the file's time budget) raised AttributeError: 'int' object has no attribute 'get'."""
    task = tasks.get("forcefield")
    parser = argparse.ArgumentParser()
    table = add_run_arguments(parser, task, "runs/x")
    config = tmp_path / "c.yaml"
    config.write_text("train: 5\n")
    with pytest.raises(ConfigError) as err:
        resolve_config(task, parser.parse_args(["--config", str(config)]), table)
    assert str(err.value) == f"{config}.train: expected a mapping of TrainConfig keys, got 5"


@dataclasses.dataclass
class _Listed:
    """Listed.

    Attributes:
        temperatures: sampling temperatures in K.
    """

    temperatures: list[float] = dataclasses.field(default_factory=lambda: [300.0, 500.0, 800.0])


def test_a_list_default_is_shown_as_it_is_typed():
    """A list flag takes its values space-separated: --help shows its default the same way, so a
    user can copy it (``--temperatures 300.0 500.0 800.0``)."""
    from sciPT.runconfig import add_config_flags

    parser = argparse.ArgumentParser()
    add_config_flags(parser, _Listed(), {})
    listed = " ".join(parser.format_help().split())
    assert "sampling temperatures in K. (default: 300.0 500.0 800.0)" in listed
    assert parser.parse_args(["--temperatures", "1", "2"]).cfg__temperatures == ["1", "2"]


def test_a_trailing_comma_in_a_list_flag_adds_no_empty_item():
    """``--data a.fa, b.fa`` (a comma and a space, as in prose) names two files, not an empty path
    that fails later as "file not found: ''"."""
    assert resolve(["--data", "a.fa,", "b.fa,,c.fa"]).data.paths == ["a.fa", "b.fa", "c.fa"]


@pytest.mark.parametrize("values", [[""], [",", ""]])
def test_a_list_flag_given_nothing_is_refused(values):
    """``--data "$CORPUS"`` with the variable unset gave an empty list, which a list key takes as
    none (no files here; a surrogate's --groups dropped every ratio without a word). The message
    names the flag typed, ``--data``, not the key's own spelling ``--data.paths``, which is no flag."""
    with pytest.raises(ConfigError) as err:
        resolve(["--data", *values])
    assert str(err.value) == "--data: given empty; expected one or more values, comma-separated"


def test_a_resumed_run_refuses_a_new_schedule_naming_every_setting_it_keeps(tmp_path):
    """The schedule's state comes back from the checkpoint: a new --schedule or --warmup-steps would
    be recorded and not used. The message lists the schedule's settings as key=value pairs."""
    out = tmp_path / "run"
    out.mkdir()
    (out / "config.yaml").write_text(
        "domain: dna\ntrain:\n  schedule:\n    name: cosine\n    warmup_steps: 10\n    min_lr_ratio: 0.1\n"
        "    gamma: 0.5\n    step_size: 1000\n"
    )
    message = (
        "--schedule: a resumed run keeps the value it started with (name=cosine, warmup_steps=10, "
        "min_lr_ratio=0.1, gamma=0.5, step_size=1000), as its optimizer and schedule state come from "
        "the checkpoint; to train with another, start a new run (another --out)"
    )
    for flag in (["--schedule", "linear"], ["--warmup-steps", "20"]):
        with pytest.raises(ConfigError) as err:
            resolve(["--out", str(out), "--resume", *flag])
        assert str(err.value) == message


def test_resume_auto_on_an_empty_folder_starts_the_run_and_keeps_its_lock(tmp_path, capsys):
    """An empty folder (made by a job script) is a run to start: --resume auto keeps the lock it took,
    so a second job sent to the same folder meanwhile is refused instead of training beside it."""
    from sciPT.run import RunDir
    from sciPT.runconfig import resolve_resume

    out = tmp_path / "run"
    out.mkdir()
    try:
        assert resolve_resume(domains.get("dna"), "auto", out) is False
        assert [p.name for p in out.iterdir()] == [RunDir.LOCK]
    finally:
        RunDir(out).unlock()
    assert capsys.readouterr().err == f"--resume auto: {out} holds no checkpoint yet: starting it\n"
