"""Configurations resolved in layers, and the command-line flags that set them.

Shared by the ``scipt`` command and by every plugin that trains (tasks build their ``finetune``
options with :func:`add_run_arguments` and resolve them with :func:`resolve_config`), so no plugin
imports the CLI.

Layers, each overriding the one before: the plugin's preset (``--preset``, default ``tiny``) <
``--config FILE.yaml`` < flags. Every leaf of the plugin's config dataclass has a flag: training keys
by their own name (``--max-steps``, ``--lr``, ``--devices``; ``--schedule`` for the schedule's name),
the others by their dotted path (``--model.d-model 128``, ``--data.window 256``).
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import inspect
import math
import os
import re
import sys
import types
import typing
from pathlib import Path
from typing import Any

from .config import ConfigError, flatten, from_dict, load_yaml, merge, nest
from .trainer import SEED_LIMIT, max_time_seconds, time_only

CHECKPOINT_FREE_KEYS = ("domain", "task", "corpus")


def flag_name(key: str) -> str:
    if key.startswith("train.schedule."):
        leaf = key.split(".")[-1]
        return "--schedule" if leaf == "name" else "--" + leaf.replace("_", "-")
    if key.startswith("train."):
        return "--" + key[len("train.") :].replace("_", "-")
    return "--" + key.replace("_", "-")


def aliased_flag(key: str, aliases: dict[str, str]) -> str:
    """The flag of the config key ``key`` on a command whose plugin gives ``aliases`` (its
    ``flag_aliases()``, ``{flag: key}``): ``--groups`` for the surrogate's ``data.groups``."""
    reverse = {v: k for k, v in aliases.items()}
    return "--" + reverse[key] if key in reverse else flag_name(key)


def flag_dest(key: str) -> str:
    """The argparse destination of the config key ``key`` (what :func:`resolve_config` reads)."""
    return "cfg__" + key.replace(".", "__")


def _strip_optional(tp):
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return (args[0] if len(args) == 1 else tp), type(None) in typing.get_args(tp)
    return tp, False


class _Once(argparse.Action):
    """A flag that takes one value: given again, argparse's "last wins" silently dropped the first
    (two --config files applied only the second)."""

    def __call__(self, parser, namespace, values, option_string=None):
        if getattr(namespace, self.dest, None) is not None:
            parser.error(
                f"{option_string}: given twice ({getattr(namespace, self.dest)}, then {values}); "
                "expected one file (put the keys of both in it)"
            )
        setattr(namespace, self.dest, values)


def parse_flag(text: str, tp: Any, key: str) -> Any:
    """A command-line string -> a value of annotation ``tp`` (checked again by the config)."""
    tp, optional = _strip_optional(tp)
    if optional and text.lower() in ("none", "null"):
        return None
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):  # e.g. devices: int | str; head_warmup: int | float
        if text.lstrip("-").isdigit():
            return int(text)
        if float in typing.get_args(tp):
            try:
                value = float(text)
            except ValueError:
                raise ConfigError(f"{flag_name(key)}: expected a number, got {text!r}") from None
            return not_nan(value, text, key)
        return text
    if tp is bool:
        if text.lower() in ("true", "yes", "1", "on"):
            return True
        if text.lower() in ("false", "no", "0", "off"):
            return False
        raise ConfigError(f"{flag_name(key)}: expected true or false, got {text!r}")
    for kind in (int, float):
        if tp is kind:
            try:
                value = kind(text)
            except ValueError:
                raise ConfigError(f"{flag_name(key)}: expected {kind.__name__}, got {text!r}") from None
            return not_nan(value, text, key)
    return text


def not_nan(value: float, text: str, key: str) -> float:
    """``value``, unless it is nan: no setting means anything by it, and it passes every check such
    as ``lr > 0`` only to fail once training has begun (inf means something to a few settings, a
    sampling temperature; the others refuse it themselves)."""
    if math.isnan(value):
        raise ConfigError(f"{flag_name(key)}: expected a number, got {text!r}")
    return value


def field_docs(cfg: Any, prefix: str = "") -> dict[str, str]:
    """``{"head.dropout": "its description"}`` from the ``Attributes:`` section of each (nested)
    config dataclass's docstring (Google style; ``a, b: text`` describes both), for ``--help``."""
    docs: dict[str, str] = {}
    lines = inspect.getdoc(type(cfg)).splitlines() if type(cfg).__doc__ else []
    start = next((i + 1 for i, line in enumerate(lines) if line.strip() == "Attributes:"), len(lines))
    entry_indent, names = None, []
    for line in lines[start:]:
        indent = len(line) - len(line.lstrip())
        if not line.strip() or (entry_indent is not None and indent < entry_indent):
            break
        match = _ATTRIBUTE.match(line)
        if match and entry_indent in (None, indent):
            entry_indent = indent
            names = [n.strip() for n in match["names"].split(",")]
            text = match["text"]
        else:
            text = line.strip()
        plain = _ROLE.sub(r"\1", text).replace("``", "")
        for name in names:
            docs[name] = f"{docs.get(name, '')} {plain}".strip()
    out = {}
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if dataclasses.is_dataclass(value):
            out.update(field_docs(value, f"{prefix}{f.name}."))
        elif f.name in docs:
            out[f"{prefix}{f.name}"] = docs[f.name]
    return out


_ATTRIBUTE = re.compile(r"^\s*(?P<names>\w+(?:, \w+)*): (?P<text>.*)$")
_ROLE = re.compile(r":\w+:`~?([^`]*)`")  # Sphinx cross-references, as plain names


def within(key: str, keys: set[str] | frozenset[str]) -> bool:
    """Whether config key ``key`` is one of ``keys`` or a field of one (``train.schedule.name``
    of ``train.schedule``)."""
    return key in keys or key.rpartition(".")[0] in keys


def add_config_flags(
    parser: argparse.ArgumentParser,
    defaults: Any,
    aliases: dict[str, str],
    unlisted: frozenset[str] = frozenset(),
) -> dict:
    """One flag per config leaf a user sets (:func:`sciPT.config.derived` leaves have none); returns
    ``{dest: (key, type)}``. Defaults shown are the preset's. Keys in ``unlisted`` keep their flag,
    so that setting one gets the command's own explanation, but ``--help`` does not list it."""
    table = {}
    docs = field_docs(defaults)
    train = parser.add_argument_group("training (shared by every domain)")
    other = parser.add_argument_group("model, data and objective")
    for key, (value, tp) in flatten(defaults, settable=True).items():
        name = aliased_flag(key, aliases)
        dest = flag_dest(key)
        base, _ = _strip_optional(tp)
        is_list = typing.get_origin(base) in (list, tuple)
        shown = " ".join(map(str, value)) if is_list and value is not None else value
        group = train if key.startswith("train.") else other
        kwargs = dict(
            dest=dest,
            default=argparse.SUPPRESS,
            metavar=key.split(".")[-1].upper(),
            help=argparse.SUPPRESS
            if within(key, unlisted)
            else f"{docs.get(key, key)} (default: {shown})".replace("%", "%%"),
        )
        if is_list:  # "--data A B" and "--data A --data B" both give [A, B]
            kwargs.update(nargs="+", action="extend")
        elif base is bool:
            kwargs.update(nargs="?", const="true", metavar="BOOL")
        elif typing.get_origin(base) is typing.Literal:
            kwargs["choices"] = typing.get_args(base)
            kwargs.pop("metavar")
        group.add_argument(name, **kwargs)
        table[dest] = (key, typing.get_args(base)[0] if is_list else tp, is_list)
    return table


def home_expanded(value: Any) -> Any:
    """``value`` with each string that starts ``~/`` (a path, as a shell would expand it on a
    command line) expanded to the home folder: in a config file it was read as a folder named
    ``~`` ("file not found" for a file that exists)."""
    if isinstance(value, dict):
        return {k: home_expanded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [home_expanded(v) for v in value]
    if isinstance(value, str) and value.startswith("~/"):
        return os.path.expanduser(value)
    return value


def read_config_file(path: str | Path) -> dict:
    """A ``--config`` file's keys. ``train.max_time`` in minutes may be written as a YAML number
    (``max_time: 0.5``, as the docs write it): it becomes the text the flag gives. A path written
    ``~/...`` is the home folder's (:func:`home_expanded`)."""
    data = home_expanded(load_yaml(path))
    train = data.get("train") if isinstance(data, dict) else None
    if isinstance(train, dict) and isinstance(train.get("max_time"), (int, float)):
        if not isinstance(train["max_time"], bool):
            data = {**data, "train": {**train, "max_time": str(train["max_time"])}}
    return data


def resolve_config(plugin, args: argparse.Namespace, table: dict) -> Any:
    """Preset < --config < flags for a plugin with ``presets()`` and ``config_class``; with
    ``--resume`` the run's own config.yaml replaces the preset."""
    out = Path(args.out)
    args.resume = resolve_resume(plugin, args.resume, out)
    started = None  # the training settings a resumed run was started with
    if args.resume and (out / "config.yaml").is_file():
        saved = {k: v for k, v in load_yaml(out / "config.yaml").items() if k not in CHECKPOINT_FREE_KEYS}
        cfg = from_dict(plugin.config_class, saved, str(out / "config.yaml"))
        started = copy.deepcopy(cfg)
    else:
        presets = plugin.presets()
        name = args.preset or default_preset(plugin, args, table)
        if name not in presets:
            raise ConfigError(
                f"--preset: unknown preset '{name}' for {plugin.name} (expected one of: {', '.join(presets)})"
            )
        cfg = presets[name]()
    set_above_preset: set[str] = set()
    if args.config:
        # a run's own config.yaml may be given: the keys that name its plugin and data are not config
        overrides = {k: v for k, v in read_config_file(args.config).items() if k not in CHECKPOINT_FREE_KEYS}
        cfg = merge(cfg, overrides, where=str(args.config))
        set_above_preset |= {f"train.{k}" for k in (overrides.get("train") or {})}
    flat = {}
    for dest, (key, tp, is_list) in table.items():
        if hasattr(args, dest):
            raw = getattr(args, dest)
            if is_list:  # "--label-fractions 0.1,0.5 1.0" -> [0.1, 0.5, 1.0]
                flat[key] = [parse_flag(v, tp, key) for item in raw for v in item.split(",") if v]
                if not flat[key]:
                    # an unset shell variable ("--groups $RATIOS") left nothing: an empty list would
                    # silently mean none (no ratios, no data files) where the user meant some
                    # named as typed: --data.groups for the surrogate's --groups was no flag at all
                    raise ConfigError(
                        f"{aliased_flag(key, plugin.flag_aliases())}: given empty; expected one or "
                        "more values, comma-separated"
                    )
            else:
                flat[key] = parse_flag(raw, tp, key)
    cfg = merge(cfg, nest(flat), where="command line") if flat else cfg
    set_above_preset |= set(flat)
    train = getattr(cfg, "train", None)
    if train is not None:
        # A time budget given without a step count is the whole budget: the preset's step count
        # gives way and the schedule is sized from the measured step time (sciPT.trainer).
        # A resumed run keeps the step count it was started with.
        cfg.train = time_only(
            train,
            steps_set=args.resume or "train.max_steps" in set_above_preset,
            time_set="train.max_time" in set_above_preset,
        )
        # A resumed run given a step count alone trains to it: the time budget it was started with
        # is spent (Lightning's timer resumes from the checkpoint) and would stop it at once.
        if args.resume and "train.max_steps" in set_above_preset and "train.max_time" not in set_above_preset:
            cfg.train = dataclasses.replace(cfg.train, max_time=None)
    if started is not None:
        if train is not None:
            keep_optimizer_settings(started.train, cfg.train)
        keep_split_settings(started, cfg)
    return cfg


RESUME_FIXED = ("lr", "weight_decay", "schedule")
"""Training keys a resumed run cannot change: the optimizer's and the schedule's state, the
learning rate included, come back from the checkpoint, so a new value would be recorded in
``config.yaml`` and not used."""


def keep_optimizer_settings(started: Any, now: Any) -> None:
    for key in RESUME_FIXED:
        if getattr(started, key) != getattr(now, key):
            raise ConfigError(
                f"--{key.replace('_', '-')}: a resumed run keeps the value it started with "
                f"({flatten_value(getattr(started, key))}), as its optimizer and schedule state come "
                "from the checkpoint; to train with another, start a new run (another --out)"
            )


RESUME_SPLIT = ("train.seed", "data.val_fraction")
"""Keys a resumed run cannot change: they drew its validation split (the tail of each record, the
frames held out), and another value would score as held out what the run has trained on."""


def keep_split_settings(started: Any, now: Any) -> None:
    for key in RESUME_SPLIT:
        section, name = key.split(".")
        before, after = (getattr(getattr(c, section, None), name, None) for c in (started, now))
        if before != after:
            flag = f"--{name}" if section == "train" else f"--{key.replace('_', '-')}"
            raise ConfigError(
                f"{flag}: a resumed run keeps the value it started with ({flatten_value(before)}), as it "
                "drew the validation split: another would score as held out what the run has trained "
                "on; to use another, start a new run (another --out)"
            )


def flatten_value(value: Any) -> str:
    """A config value as a person reads it: a number, or a section's ``key=value`` pairs."""
    if dataclasses.is_dataclass(value):
        return ", ".join(f"{k}={v}" for k, v in dataclasses.asdict(value).items())
    return f"{value:g}" if isinstance(value, float) else str(value)


def resolve_resume(plugin, resume: str | bool | None, out: Path) -> bool:
    """Whether the run in ``out`` is continued: ``--resume`` (``"yes"``), or ``--resume auto`` where
    ``out`` holds a checkpoint (:meth:`sciPT.run.RunDir.resume_checkpoint`; one line says which).
    A plugin with a ``resume_refusal`` refuses either."""
    from .run import RunDir, global_rank

    if not resume:
        return False
    refusal = getattr(plugin, "resume_refusal", None)
    if refusal:
        raise ConfigError(f"--resume: {refusal}")
    if resume != "auto":
        return True
    # Lightning sets each process's rank when imported (from torchrun's or srun's variables): only
    # rank 0 may empty the folder below, whichever launcher started the ranks
    import lightning.fabric.utilities.rank_zero  # noqa: F401

    run = RunDir(out)
    made_lock = global_rank() == 0 and run.path.is_dir() and not (run.path / run.LOCK).exists()
    # judged before this command's lock file exists: a folder without one is no run of sciPT's
    stopped_early = global_rank() == 0 and run.path.is_dir() and run.unstarted()
    if global_rank() == 0 and run.path.is_dir():
        run.lock()  # before anything is looked at: a second job must not empty or continue it
    from .registry import checkpoint_point

    # a domain continues from its checkpoints; a task says what it continues from
    point = (getattr(plugin, "resume_point", None) or checkpoint_point)(run)
    if point is None and global_rank() == 0:
        if stopped_early:
            run.clear_unstarted()  # a job stopped before its first checkpoint starts again in place
        if made_lock and any(e.name != run.LOCK for e in run.path.iterdir()):
            # a folder of other files, which RunDir.create refuses: it keeps nothing of this command
            run.unlock()
            (run.path / run.LOCK).unlink(missing_ok=True)
    if global_rank() == 0:
        unit = getattr(plugin, "resume_unit", "checkpoint")
        print(
            f"--resume auto: {out} holds {point}"
            if point
            else f"--resume auto: {out} holds no {unit} yet: starting it",
            file=sys.stderr,
        )
    return point is not None


def default_preset(plugin, args: argparse.Namespace, table: dict) -> str:
    """The preset of a command line that names none: the plugin's :meth:`~sciPT.registry.Task.
    default_preset` for its time budget (``--max-time``, else ``train.max_time`` in ``--config``),
    ``tiny`` for a plugin without one."""
    from .run import global_rank

    choose = getattr(plugin, "default_preset", None)
    if choose is None:
        return "tiny"
    dest = next((d for d, (key, _, _) in table.items() if key == "train.max_time"), None)
    raw, where = (getattr(args, dest, None) if dest else None), "--max-time"
    if raw is None and args.config:
        train = read_config_file(args.config).get("train")
        budget = train.get("max_time") if isinstance(train, dict) else None
        # a value of another type (of train or of its budget) is refused, naming the key, when the
        # file is merged
        raw, where = (budget if isinstance(budget, str) else None), f"{args.config}: train.max_time"
    name = choose(max_time_seconds(raw) if raw is not None else None)
    if name == "tiny":
        return name
    # the budget chose the model: say so, as a run's size should not be a surprise; once, not in
    # every process Lightning launched (it sets their rank when imported, as the run will import it)
    import lightning.fabric.utilities.rank_zero  # noqa: F401

    if global_rank() == 0:
        print(
            f"{where} {raw}: no --preset named, so the '{name}' preset, which that budget trains "
            "best (--preset tiny for the tiny model)",
            file=sys.stderr,
        )
    return name


def picks_preset(plugin) -> bool:
    """Whether ``plugin`` picks its preset by the time budget (a task overriding
    :meth:`~sciPT.registry.Task.default_preset`; domains and other tasks take ``tiny``)."""
    from .registry import Task

    return getattr(type(plugin), "default_preset", Task.default_preset) is not Task.default_preset


def add_run_arguments(parser: argparse.ArgumentParser, plugin, out_default: str) -> dict:
    """``--preset``, ``--config``, ``--out``, ``--resume`` and one flag per config key."""
    presets = plugin.presets()
    defaults = presets["tiny"]()
    unused = getattr(plugin, "unused_train_keys", ())
    # closed-form fits have no steps, time or checkpoint: a plugin that never reads max_steps
    trains = hasattr(defaults, "train") and "max_steps" not in unused
    parser.add_argument(
        "--preset",
        default=None,
        choices=list(presets),
        help="named configuration to start from (default: tiny"
        + (
            ", unless the task picks another for the --max-time budget)"
            if trains and picks_preset(plugin)
            else ")"
        ),
    )
    parser.add_argument(
        "--config", metavar="FILE.yaml", action=_Once, help="YAML overriding the preset (default: none)"
    )
    parser.add_argument("--out", default=out_default, help=f"run directory (default: {out_default})")
    refusal = getattr(plugin, "resume_refusal", None)
    parser.add_argument(
        "--resume",
        nargs="?",
        const="yes",
        choices=["yes", "auto"],
        metavar="auto",
        default=None,
        help=f"not for this command: {refusal}"
        if refusal
        else f"continue the run in --out from {getattr(plugin, 'resumes_from', 'its latest checkpoint')}; "
        "'--resume auto': continue it if it has one, else start it (a job script resubmitted or "
        "requeued as it is) (default: off)",
    )
    unlisted = frozenset(f"train.{key}" for key in unused)
    return add_config_flags(parser, defaults, plugin.flag_aliases(), unlisted)


def refuse_unused_train_keys(plugin, train: Any, preset_train: Any, what: str) -> None:
    """Stop a run that sets (by flag or ``--config``) a training key ``plugin.unused_train_keys``
    names: accepted in silence it would look as if it took effect. The message names each key by
    the flag a user types, then ``what`` (the command, and why it has no use for them)."""
    reverse = {v: k for k, v in plugin.flag_aliases().items()}
    unused = {f"train.{key}" for key in plugin.unused_train_keys}
    preset = flatten(preset_train, "train.")
    flags = [
        "--" + reverse[key] if key in reverse else flag_name(key)
        for key, (value, _) in flatten(train, "train.").items()
        if within(key, unused)
        and value != preset[key][0]
        # a budget given alone also clears the step count (time_only): name the budget once
        and not (key == "train.max_steps" and train.max_time is not None)
    ]
    if flags:
        raise ConfigError(f"{', '.join(flags)}: not used by {what}")


def add_off_switch(parser: argparse.ArgumentParser, key: str, help: str) -> None:
    """``--no-KEY``: the same as ``--KEY false`` for the boolean config key ``key``."""
    parser.add_argument(
        f"--no-{flag_name(key)[2:]}",
        dest=flag_dest(key),
        action="store_const",
        const="false",
        default=argparse.SUPPRESS,
        help=f"{help} (the same as {flag_name(key)} false)",
    )


def positive_count(what: str):
    """An argparse type for a count of at least 1, refused where it is parsed with
    ``expected a positive {what}, got TEXT`` (a zero or negative count went through before: a
    negative batch size wrote an empty file, a demo read 0 steps as its own length)."""

    def parse(text: str) -> int:
        if not text.strip().isdigit() or int(text) < 1:
            raise argparse.ArgumentTypeError(f"expected a positive {what}, got {text}")
        return int(text)

    return parse


positive_int = positive_count("integer")  # --batch-size, --stride


def seed(text: str) -> int:
    """An argparse type for a random seed (:data:`SEED_LIMIT`)."""
    if not text.strip().isdigit() or int(text) >= SEED_LIMIT:
        raise argparse.ArgumentTypeError(f"expected an integer from 0 to {SEED_LIMIT - 1}, got {text}")
    return int(text)
