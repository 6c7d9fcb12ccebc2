from dataclasses import dataclass, field

import pytest

from sciPT.config import derived, flatten, from_dict, merge, nest, to_dict
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


def test_train_validation_messages():
    with pytest.raises(ConfigError, match=r"^train.batch_size: expected a positive integer, got 0$"):
        validate(TrainConfig(batch_size=0))
    with pytest.raises(ConfigError, match=r"expected minutes or DD:HH:MM:SS, got 'soon'"):
        parse_max_time("soon")
    assert parse_max_time("1.5").total_seconds() == 90
    assert parse_max_time("00:01:00:00") == "00:01:00:00"


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
