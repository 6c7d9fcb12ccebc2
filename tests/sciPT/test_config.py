import dataclasses
import typing
from dataclasses import dataclass, field

import pytest
import torch

from sciPT.config import derived, flatten, from_dict, load_yaml, merge, nest, to_dict
from sciPT.errors import ConfigError
from sciPT.trainer import TrainConfig, parse_max_time, validate


@dataclass
class Inner:
    width: int = 4
    rate: float = 0.5


@dataclass
class Outer:
    name: str = "x"
    inner: Inner = field(default_factory=Inner)
    paths: list[str] = field(default_factory=list)
    limit: int | None = None


def test_round_trip_and_int_to_float():
    cfg = from_dict(Outer, {"inner": {"width": 8, "rate": 1}, "paths": ["a", "b"]})
    assert cfg.inner.width == 8 and cfg.inner.rate == 1.0 and isinstance(cfg.inner.rate, float)
    assert from_dict(Outer, to_dict(cfg)) == cfg


def test_unknown_key_is_named_with_its_place():
    with pytest.raises(ConfigError) as err:
        from_dict(Outer, {"inner": {"widht": 3}}, "run.yaml")
    assert str(err.value) == "run.yaml.inner: unknown key 'widht' (expected one of: width, rate)"


def test_wrong_type_is_named():
    with pytest.raises(ConfigError) as err:
        from_dict(Outer, {"inner": {"width": "wide"}}, "cfg")
    assert str(err.value) == "cfg.inner.width: expected int, got 'wide'"
    with pytest.raises(ConfigError, match=r"cfg.paths: expected a list, got 'a.fa'"):
        from_dict(Outer, {"paths": "a.fa"}, "cfg")


def test_merge_overrides_nested_and_keeps_the_rest():
    cfg = merge(Outer(), nest({"inner.rate": 0.25, "limit": 3}), "flags")
    assert cfg == Outer(inner=Inner(width=4, rate=0.25), limit=3)


def test_train_validation_messages(monkeypatch):
    with pytest.raises(ConfigError, match=r"^train.batch_size: expected a positive integer, got 0$"):
        validate(TrainConfig(batch_size=0))
    with pytest.raises(ConfigError, match=r"expected minutes or DD:HH:MM:SS, got 'soon'"):
        parse_max_time("soon")
    assert parse_max_time("1.5").total_seconds() == 90
    assert parse_max_time("00:01:00:00") == "00:01:00:00"
    with pytest.raises(ConfigError) as err:
        parse_max_time("00:00:00:00")
    assert str(err.value) == "train.max_time: expected a positive time, got '00:00:00:00'"
    for endless in ("inf", "nan", "-inf"):  # inf was a traceback (timedelta overflow)
        with pytest.raises(ConfigError) as err:
            parse_max_time(endless)
        assert str(err.value) == f"train.max_time: expected a positive number of minutes, got '{endless}'"
    with pytest.raises(ConfigError) as err:
        validate(TrainConfig(accelerator="foo"))
    assert str(err.value) == (
        "train.accelerator: expected one of auto, cpu, gpu, cuda, mps, tpu, hpu, got 'foo'"
    )
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError) as err:
            validate(TrainConfig(accelerator="gpu"))
        assert str(err.value) == (
            "train.accelerator: 'gpu' asked for, and torch sees no CUDA GPU on this machine; "
            "expected cpu or auto here"
        )
    schedule = TrainConfig().schedule
    for cfg, message in (
        (TrainConfig(weight_decay=-1.0), "train.weight_decay: expected 0 or more, got -1.0"),
        (TrainConfig(grad_clip=-1.0), "train.grad_clip: expected 0 or more, got -1.0"),
        (TrainConfig(num_workers=-1), "train.num_workers: expected 0 or more, got -1"),
        (TrainConfig(seed=-1), "train.seed: expected an integer from 0 to 4294967295, got -1"),
        (TrainConfig(seed=2**32), "train.seed: expected an integer from 0 to 4294967295, got 4294967296"),
        (TrainConfig(devices=0), "train.devices: expected a positive count, -1 (all) or 'auto', got 0"),
        (TrainConfig(devices="-2"), "train.devices: expected a positive count, -1 (all) or 'auto', got '-2'"),
        (
            TrainConfig(precision="8"),
            "train.precision: expected one of 32-true, 64-true, bf16-mixed, 16-mixed, bf16-true, 16-true, "
            "transformer-engine, transformer-engine-float16, 32, 64, bf16, 16, got '8'",
        ),
        (
            TrainConfig(schedule=dataclasses.replace(schedule, warmup_steps=-5)),
            "train.schedule.warmup_steps: expected 0 or more, got -5",
        ),
        (
            TrainConfig(schedule=dataclasses.replace(schedule, min_lr_ratio=2.0)),
            "train.schedule.min_lr_ratio: expected a fraction of train.lr from 0 to 1, got 2.0",
        ),
    ):
        with pytest.raises(ConfigError) as refused:
            validate(cfg)
        assert str(refused.value) == message
    validate(TrainConfig(devices="2", precision="bf16-mixed", weight_decay=0.0, grad_clip=0.0))
    # Lightning's "every GPU": on a machine with one (the CPU's refusal is tests/sciPT/test_trainer.py)
    import sciPT.trainer

    monkeypatch.setattr(sciPT.trainer, "_has_cuda", lambda: True)
    validate(TrainConfig(devices=-1))


def test_precisions_the_cpu_or_this_machine_cannot_train_are_refused_before_the_run(monkeypatch):
    """16-mixed on the CPU trained as bf16-mixed, with Lightning's warning, while the run recorded
    16-mixed; transformer-engine without the library was refused once config.yaml was written, with
    a pip install of the domain's extra (both found by an audit)."""
    import importlib.util

    import sciPT.trainer

    for precision in ("16-mixed", "16"):
        with pytest.raises(ConfigError) as refused:
            validate(TrainConfig(accelerator="cpu", precision=precision))
        assert str(refused.value) == (
            f"train.precision: {precision} (float16 mixed precision) needs a CUDA GPU; on the CPU use "
            "bf16-mixed, which Lightning would train instead"
        )
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ConfigError) as refused:
        validate(TrainConfig(precision="transformer-engine"))
    assert str(refused.value) == (
        "train.precision: transformer-engine needs NVIDIA's transformer_engine, which is not installed "
        "(pip install transformer_engine, on a machine with CUDA GPUs)"
    )
    monkeypatch.setattr(sciPT.trainer, "_has_cuda", lambda: True)
    validate(TrainConfig(accelerator="auto", precision="16-mixed"))  # a GPU's precision


def test_a_float_written_with_an_exponent_alone_is_a_float(tmp_path):
    """YAML 1.1 (PyYAML) reads ``1e-3`` as text, ``1.0e-3`` as a number: both are the same rate."""
    (tmp_path / "c.yaml").write_text("train:\n  lr: 1e-3\n  weight_decay: 5E-2\n  grad_clip: .5\n")
    raw = load_yaml(tmp_path / "c.yaml")
    assert raw["train"]["lr"] == "1e-3"  # what PyYAML gives
    cfg = from_dict(TrainConfig, raw["train"], "c.yaml.train")
    assert (cfg.lr, cfg.weight_decay, cfg.grad_clip) == (1e-3, 5e-2, 0.5)
    for text in ("fast", "nan", "1e-3x", "info"):
        with pytest.raises(ConfigError) as refused:
            from_dict(TrainConfig, {"lr": text}, "c.yaml.train")
        assert str(refused.value) == f"c.yaml.train.lr: expected float, got {text!r}"


def test_inf_in_a_config_is_infinity_as_on_the_command_line(tmp_path):
    """``--data.temperature inf`` works and the README documents it; ``temperature: inf`` in a
    config arrived as text and was refused (found by an audit). YAML's own ``.inf`` already worked."""
    (tmp_path / "c.yaml").write_text("a: inf\nb: -Infinity\nc: .inf\n")
    raw = load_yaml(tmp_path / "c.yaml")
    assert (raw["a"], raw["c"]) == ("inf", float("inf"))  # what PyYAML gives
    for key, expected in (("a", float("inf")), ("b", -float("inf")), ("c", float("inf"))):
        assert from_dict(TrainConfig, {"grad_clip": raw[key]}, "c.yaml.train").grad_clip == expected


@dataclass
class Filled:
    width: int = 4
    size: int = derived("the data", default=7)


@dataclass
class Holder:
    filled: Filled = field(default_factory=Filled)
    name: str = "x"


def test_flatten_leaves_out_derived_fields_only_when_asked():
    assert list(flatten(Holder())) == ["filled.width", "filled.size", "name"]
    assert list(flatten(Holder(), settable=True)) == ["filled.width", "name"]


def test_nan_is_refused_from_a_flag_or_a_file_and_inf_where_it_means_nothing():
    """nan passes a check such as lr > 0 (every comparison is false) and failed once training had
    begun; inf means something to a sampling temperature, and nothing to a learning rate."""
    from sciPT.runconfig import parse_flag

    with pytest.raises(ConfigError) as err:
        parse_flag("nan", float, "train.lr")
    assert str(err.value) == "--lr: expected a number, got 'nan'"
    with pytest.raises(ConfigError) as err:
        parse_flag("NaN", int | float, "finetune.head_warmup")
    assert str(err.value) == "--finetune.head-warmup: expected a number, got 'NaN'"
    with pytest.raises(ConfigError) as err:
        from_dict(TrainConfig, {"lr": float("nan")}, "c.yaml: train")
    assert str(err.value) == "c.yaml: train.lr: expected a number, got nan"
    assert parse_flag("inf", float, "data.temperature") == float("inf")
    for key, message in (
        ("lr", "train.lr: expected a positive learning rate, got inf"),
        ("weight_decay", "train.weight_decay: expected 0 or more, got inf"),
        ("grad_clip", "train.grad_clip: expected 0 or more, got inf"),
    ):
        with pytest.raises(ConfigError) as err:
            validate(TrainConfig(**{key: float("inf")}))
        assert str(err.value) == message


def test_a_config_that_is_a_directory_is_named_as_one(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_yaml(tmp_path)
    assert str(err.value) == f"{tmp_path}: a directory, not a file (expected a YAML config file)"


def test_a_leading_zero_is_decimal_in_a_config_file_as_on_the_command_line(tmp_path):
    """YAML 1.1 read 010 as octal 8 and 0123 as 83, where --max-steps 010 is 10."""
    (tmp_path / "c.yaml").write_text(
        "train:\n  max_steps: 010\n  seed: 0123\n  a: 0x10\n  b: -0b11\n  c: 1_000\n"
    )
    assert load_yaml(tmp_path / "c.yaml") == {
        "train": {"max_steps": 10, "seed": 123, "a": 16, "b": -3, "c": 1000}
    }


def test_a_key_given_twice_in_a_config_file_is_refused(tmp_path):
    """The last one silently won, as argparse's last flag did before --config refused a repeat."""
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  lr: 0.0005\n  weight_decay: 0.01\n  lr: 0.05\n")
    with pytest.raises(ConfigError) as err:
        load_yaml(path)
    assert str(err.value) == f"{path}: key 'lr' given twice (lines 2 and 4); expected each key once"


def test_a_config_file_in_utf16_is_read_and_one_in_latin1_is_named(tmp_path):
    """PowerShell's '>' writes UTF-16: a traceback (UnicodeDecodeError, exit 1) before."""
    (tmp_path / "u.yaml").write_text("train:\n  lr: 0.0005\n", encoding="utf-16")
    assert load_yaml(tmp_path / "u.yaml") == {"train": {"lr": 0.0005}}
    path = tmp_path / "l.yaml"
    path.write_bytes("# café\ntrain: {}\n".encode("latin-1"))
    with pytest.raises(ConfigError) as err:
        load_yaml(path)
    assert str(err.value) == f"{path}: not UTF-8 text (byte 5); expected a UTF-8 YAML file"


def test_what_sciPT_writes_to_a_config_file_it_reads_back_alike(tmp_path):
    """A string such as '08' is no YAML 1.1 number, so it was written bare and read back as 8: a
    run started with --max-time 08 could not be resumed."""
    from sciPT import io

    written = {"max_time": "08", "tag": "0009", "hex": "0x10", "steps": 8, "lr": 0.5, "day": "1:00:00:00"}
    io.write_yaml(tmp_path / "c.yaml", written)
    assert load_yaml(tmp_path / "c.yaml") == written


def test_merge_keys_load_and_an_override_of_a_merged_key_is_no_repeat(tmp_path):
    (tmp_path / "c.yaml").write_text("base: &a\n  lr: 0.1\n  seed: 1\ntrain:\n  <<: *a\n  lr: 0.01\n")
    assert load_yaml(tmp_path / "c.yaml") == {
        "base": {"lr": 0.1, "seed": 1},
        "train": {"lr": 0.01, "seed": 1},
    }


def test_a_bool_is_no_number_and_a_number_no_bool():
    """YAML reads ``yes``/``true`` as a bool: ``width: true`` was one step, ``compile: 1`` a flag."""
    with pytest.raises(ConfigError) as err:
        from_dict(Inner, {"width": True}, "c.yaml")
    assert str(err.value) == "c.yaml.width: expected an integer, got True"
    with pytest.raises(ConfigError) as err:
        from_dict(TrainConfig, {"compile": 1}, "c.yaml.train")
    assert str(err.value) == "c.yaml.train.compile: expected true or false, got 1"


def test_a_quoted_boolean_word_is_the_boolean_as_a_quoted_number_is_the_number(tmp_path):
    """``guard: "false"`` said "expected true or false, got 'false'"; the words YAML reads as
    booleans are taken as text too, in any case; other text is still refused."""
    (tmp_path / "c.yaml").write_text('compile: "false"\nactivation_checkpointing: " Yes"\n')
    cfg = from_dict(TrainConfig, load_yaml(tmp_path / "c.yaml"), "c.yaml.train")
    assert cfg.compile is False and cfg.activation_checkpointing is True
    assert [from_dict(TrainConfig, {"compile": w}).compile for w in ("TRUE", "no", "On", "off")] == [
        True,
        False,
        True,
        False,
    ]
    with pytest.raises(ConfigError) as err:
        from_dict(TrainConfig, {"compile": "maybe"}, "c.yaml.train")
    assert str(err.value) == "c.yaml.train.compile: expected true or false, got 'maybe'"


def test_an_exponent_without_a_sign_is_a_float_too():
    """``rate: 2e3`` is text to PyYAML like ``1e-3``: 2000, not a refusal."""
    assert from_dict(Inner, {"rate": "2e3"}).rate == 2000.0
    assert from_dict(Inner, {"rate": " +4E+0 "}).rate == 4.0


@dataclass
class Choosing:
    kind: typing.Literal["masked", "causal"] = "masked"
    sizes: tuple[int, ...] = (1, 2)


def test_a_choice_outside_the_literal_names_the_choices_bare():
    """The choices are named as a user types them (masked, not 'masked')."""
    with pytest.raises(ConfigError) as err:
        from_dict(Choosing, {"kind": "maskd"}, "c.yaml.objective")
    assert str(err.value) == "c.yaml.objective.kind: expected one of masked, causal, got 'maskd'"


def test_a_tuple_field_read_from_yaml_is_a_tuple_again():
    """YAML gives a list; kept as one, a saved config would compare unequal to the same preset."""
    cfg = from_dict(Choosing, {"sizes": [1, 2]})
    assert cfg == Choosing() and isinstance(cfg.sizes, tuple)


def test_of_several_unknown_keys_the_first_written_is_named():
    with pytest.raises(ConfigError) as err:
        from_dict(Inner, {"width": 1, "wdth": 2, "rte": 3}, "c.yaml")
    assert str(err.value) == "c.yaml: unknown key 'wdth' (expected one of: width, rate)"


def test_an_empty_config_file_sets_nothing(tmp_path):
    """A config file emptied of keys, or holding comments only, is no keys: not a traceback."""
    (tmp_path / "e.yaml").write_text("")
    (tmp_path / "c.yaml").write_text("# train:\n#   lr: 0.1\n")
    assert load_yaml(tmp_path / "e.yaml") == {} and load_yaml(tmp_path / "c.yaml") == {}


def test_a_count_or_a_word_is_no_optional_field():
    """``devices: int | str`` takes 'auto' from a file, and null is refused (it is not ``int | None``)."""
    assert from_dict(TrainConfig, {"devices": "auto"}).devices == "auto"
    with pytest.raises(ConfigError) as err:
        from_dict(TrainConfig, {"devices": None}, "c.yaml.train")
    assert str(err.value) == "c.yaml.train.devices: expected a value, got null"


def test_a_config_file_that_is_missing_or_no_mapping_is_named(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_yaml(tmp_path / "nope.yaml")
    assert str(err.value) == f"{tmp_path / 'nope.yaml'}: config file not found"
    (tmp_path / "l.yaml").write_text("- lr: 0.1\n")
    with pytest.raises(ConfigError) as err:
        load_yaml(tmp_path / "l.yaml")
    assert str(err.value) == f"{tmp_path / 'l.yaml'}: expected a mapping at the top level, got list"


def test_a_nested_section_that_is_no_mapping_is_named_from_a_file_or_an_override():
    """``inner: 3`` (a section written as a value) was an iteration error, not a message."""
    with pytest.raises(ConfigError) as err:
        from_dict(Outer, {"inner": 3}, "cfg")
    assert str(err.value) == "cfg.inner: expected a mapping of Inner keys, got 3"
    with pytest.raises(ConfigError) as err:
        merge(Outer(), {"inner": 3}, "flags")
    assert str(err.value) == "flags.inner: expected a mapping of Inner keys, got 3"


def test_an_override_of_a_key_that_is_no_section_is_checked_like_any_value():
    """A mapping given for a leaf, or for a key the config lacks, is refused with its place."""
    with pytest.raises(ConfigError) as err:
        merge(Outer(), {"nope": {"x": 1}}, "flags")
    assert str(err.value) == "flags: unknown key 'nope' (expected one of: name, inner, paths, limit)"
    with pytest.raises(ConfigError) as err:
        merge(Outer(), {"limit": {"x": 1}}, "flags")
    assert str(err.value) == "flags.limit: expected int, got {'x': 1}"


def test_each_item_of_a_list_is_checked_and_named_by_its_index():
    """``paths: [a.fa, 3]``: the 3 would reach the code that opens files."""
    with pytest.raises(ConfigError) as err:
        from_dict(Outer, {"paths": ["a.fa", 3]}, "cfg")
    assert str(err.value) == "cfg.paths[1]: expected str, got 3"
    with pytest.raises(ConfigError) as err:
        from_dict(Choosing, {"sizes": [1, "two"]}, "cfg")
    assert str(err.value) == "cfg.sizes[1]: expected int, got 'two'"


def test_a_value_that_matches_no_alternative_of_a_union_is_refused_quoted():
    """``head_warmup: int | float``: a word is no count of steps and no fraction of them."""
    from sciPT.finetune import FinetuneConfig

    assert from_dict(FinetuneConfig, {"head_warmup": "0.5"}).head_warmup == 0.5
    with pytest.raises(ConfigError) as err:
        from_dict(FinetuneConfig, {"head_warmup": "soon"}, "c.yaml.finetune")
    assert str(err.value) == "c.yaml.finetune.head_warmup: 'soon' does not match int | float"


@dataclass
class Loose:
    anything: typing.Any = None
    rate: float = 0.5


def test_an_any_field_takes_any_value_and_a_float_field_no_bool():
    """An ``Any`` field is not type-checked; ``rate: true`` is no 1.0 (YAML's yes/true is a bool)."""
    assert from_dict(Loose, {"anything": {"a": [1]}}).anything == {"a": [1]}
    with pytest.raises(ConfigError) as err:
        from_dict(Loose, {"rate": True}, "c.yaml")
    assert str(err.value) == "c.yaml.rate: expected float, got True"


def test_a_float_written_without_its_leading_zero_is_a_float():
    """``.5`` and ``-.25e1`` are numbers a user writes: 0.5 and -2.5, whether PyYAML or sciPT reads them."""
    assert from_dict(Inner, {"rate": ".5"}).rate == 0.5
    assert from_dict(Inner, {"rate": "-.25e1"}).rate == -2.5


def test_signed_infinities_nan_and_underscored_integers_load_as_numbers(tmp_path):
    """What YAML 1.1 reads as numbers still does so without its base-60 and octal forms: -5, .5,
    .inf, -.inf, .nan, and 1__000 / 10_ (underscores are spacing, as in PyYAML)."""
    import math

    (tmp_path / "c.yaml").write_text("a: -5\nb: .5\nc: .inf\nd: -.inf\ne: .nan\nf: 1__000\ng: 10_\nh: +7\n")
    data = load_yaml(tmp_path / "c.yaml")
    assert {k: data[k] for k in "abcdfgh"} == {
        "a": -5,
        "b": 0.5,
        "c": math.inf,
        "d": -math.inf,
        "f": 1000,
        "g": 10,
        "h": 7,
    }
    assert isinstance(data["e"], float) and math.isnan(data["e"])


def test_invalid_yaml_is_named_in_one_line(tmp_path):
    """PyYAML's error runs over several lines (marks, a caret): its first line says what is wrong."""
    path = tmp_path / "c.yaml"
    path.write_text("train: [1\n")
    with pytest.raises(ConfigError) as err:
        load_yaml(path)
    assert str(err.value) == f"{path}: not valid YAML (while parsing a flow sequence)"
