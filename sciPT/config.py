"""Typed configuration: dataclasses owned by what they build, YAML only to serialise them.

A run's configuration is resolved in four layers, each overriding the one before:
dataclass defaults < named preset (a Python function) < ``--config FILE.yaml`` < command-line flags.
Unknown keys are errors that name the key and the place it came from, so a typo never silently
falls back to a default.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from collections.abc import Hashable, Mapping
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError
from .files import text_encoding


def to_dict(cfg: Any) -> dict[str, Any]:
    """A plain, YAML-safe dictionary of a (nested) config dataclass."""
    return dataclasses.asdict(cfg)


def _field_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _strip_optional(tp: Any) -> tuple[Any, bool]:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return tp, False


# YAML 1.1's boolean words, which PyYAML reads unquoted as booleans
_BOOL_WORDS = {"true": True, "yes": True, "on": True, "false": False, "no": False, "off": False}
# "inf" too, as the command line takes it (--data.temperature inf); YAML's own is ".inf"
_NUMERAL = re.compile(r"[-+]?((\d+\.?\d*|\.\d+)([eE][-+]?\d+)?|inf(inity)?)", re.IGNORECASE)


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Check ``value`` against the annotation ``tp``; convert the few safe cases (int -> float)."""
    tp, optional = _strip_optional(tp)
    if value is None:
        if optional:
            return None
        raise ConfigError(f"{where}: expected a value, got null")
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a mapping of {tp.__name__} keys, got {value!r}")
        return from_dict(tp, value, where)
    origin = typing.get_origin(tp)
    if origin in (list, tuple):
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        (item_tp, *_) = typing.get_args(tp) or (Any,)
        items = [_coerce(v, item_tp, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin in (typing.Union, types.UnionType):
        for alt in typing.get_args(tp):
            try:
                return _coerce(value, alt, where)
            except ConfigError:
                continue
        raise ConfigError(f"{where}: {value!r} does not match {tp}")
    if origin is typing.Literal:
        allowed = typing.get_args(tp)
        if value not in allowed:
            raise ConfigError(f"{where}: expected one of {', '.join(map(str, allowed))}, got {value!r}")
        return value
    if tp is Any:
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        # quoted ("false"), the word arrives as text and was refused as if it were no boolean, where
        # a quoted number is read as the number
        if isinstance(value, str) and value.strip().lower() in _BOOL_WORDS:
            return _BOOL_WORDS[value.strip().lower()]
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp is float and isinstance(value, str) and _NUMERAL.fullmatch(value.strip()):
        # YAML 1.1, which PyYAML reads, takes a float only with a dot: "lr: 1e-3" arrives as text
        return float(value)
    if tp is float and isinstance(value, float) and math.isnan(value):
        # no setting means anything by nan, which passes every check such as "> 0" and fails later
        # (inf does mean something to a few: a sampling temperature; the others refuse it themselves)
        raise ConfigError(f"{where}: expected a number, got nan")
    if tp is int and isinstance(value, bool):
        raise ConfigError(f"{where}: expected an integer, got {value!r}")
    if isinstance(tp, type) and not isinstance(value, tp):
        raise ConfigError(f"{where}: expected {tp.__name__}, got {value!r}")
    return value


def from_dict(cls: type, data: Mapping[str, Any], where: str = "config") -> Any:
    """Build dataclass ``cls`` from ``data``; unknown keys raise :class:`ConfigError`."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = [k for k in data if k not in fields]
    if unknown:
        raise ConfigError(f"{where}: unknown key '{unknown[0]}' (expected one of: {', '.join(fields)})")
    hints = _field_types(cls)
    kwargs = {k: _coerce(v, hints[k], f"{where}.{k}") for k, v in data.items()}
    return cls(**kwargs)


def merge(cfg: Any, overrides: Mapping[str, Any], where: str) -> Any:
    """Return a copy of ``cfg`` with nested ``overrides`` applied (checked like :func:`from_dict`)."""
    base = to_dict(cfg)
    _deep_update(base, overrides)
    return from_dict(type(cfg), base, where)


def _deep_update(base: dict, overrides: Mapping[str, Any]) -> None:
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _deep_update(base[key], value)
        else:
            base[key] = value


class _DuplicateKey(yaml.YAMLError):
    """A mapping that names one key twice."""


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader without YAML 1.1's base-60 numbers: ``max_time: 1:00:00:00`` (a day,
    as ``--max-time`` writes it) was read as the integer 216000 (minutes: 150 days); nor its octal
    ones: ``max_steps: 010`` was 8 steps where ``--max-steps 010`` is 10; and a key given twice is
    refused, where the last one silently won."""

    def construct_mapping(self, node, deep=False):
        lines: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # '<<: *anchor' merges, then keys override
                continue
            key = self.construct_object(key_node, deep=deep)
            line = key_node.start_mark.line + 1
            if isinstance(key, Hashable) and key in lines:
                raise _DuplicateKey(f"key '{key}' given twice (lines {lines[key]} and {line})")
            if isinstance(key, Hashable):
                lines[key] = line
        return super().construct_mapping(node, deep=deep)


class YamlDumper(yaml.SafeDumper):
    """PyYAML's safe dumper that quotes what :class:`_Loader` would read as a number: a string
    such as ``08`` (no YAML 1.1 number, so written bare) came back as the integer 8."""


def _decimal_int(loader: yaml.SafeLoader, node) -> int:
    text = str(loader.construct_scalar(node)).replace("_", "")
    if text.lstrip("+-").lower().startswith(("0b", "0x")):
        return int(text, 0)
    return int(text, 10)  # a leading zero is decimal, as on the command line


_Loader.yaml_implicit_resolvers = {
    first: [
        (tag, rx) for tag, rx in resolvers if tag not in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:int",
    re.compile(r"^(?:[-+]?0b[0-1_]+|[-+]?[0-9][0-9_]*|[-+]?0x[0-9a-fA-F_]+)$"),
    list("-+0123456789"),
)
_Loader.add_constructor("tag:yaml.org,2002:int", _decimal_int)
YamlDumper.yaml_implicit_resolvers = _Loader.yaml_implicit_resolvers
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)


def load_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{path}: a directory, not a file (expected a YAML config file)")
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    raw = path.read_bytes()
    try:
        text = raw.decode(text_encoding(raw[:2]))
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: not UTF-8 text (byte {err.start}); expected a UTF-8 YAML file") from None
    try:
        data = yaml.load(text, Loader=_Loader)  # _Loader is a SafeLoader
    except _DuplicateKey as err:
        raise ConfigError(f"{path}: {err}; expected each key once") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({str(err).splitlines()[0]})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    return data


def derived(by: str, **field_kwargs: Any) -> Any:
    """A config field that the building code fills in (from a tokenizer, a data set, a checkpoint),
    not the user: it is saved with the run, but gets no command-line flag (``field_kwargs`` are
    :func:`dataclasses.field`'s, ``default`` or ``default_factory``)."""
    return dataclasses.field(metadata={"derived": by}, **field_kwargs)


def flatten(cfg: Any, prefix: str = "", settable: bool = False) -> dict[str, tuple[Any, Any]]:
    """``{"model.d_model": (value, type)}`` for every leaf field of a nested dataclass; with
    ``settable``, only the leaves a user sets (not those marked :func:`derived`)."""
    out: dict[str, tuple[Any, Any]] = {}
    hints = _field_types(type(cfg))
    for f in dataclasses.fields(cfg):
        if settable and "derived" in f.metadata:
            continue
        value = getattr(cfg, f.name)
        name = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(value):
            out.update(flatten(value, name + ".", settable))
        else:
            out[name] = (value, hints[f.name])
    return out


def nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    """Turn ``{"a.b": 1}`` into ``{"a": {"b": 1}}``."""
    out: dict[str, Any] = {}
    for key, value in flat.items():
        node = out
        *parents, leaf = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return out
