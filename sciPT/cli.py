"""The ``scipt`` command. Thin: it builds its subcommands from the registries, parses, hands over.

Configuration layers, each overriding the one before: the domain's preset (``--preset``, default
``tiny``) < ``--config FILE.yaml`` < flags. Every leaf of the domain's config dataclass has a flag:
training keys by their own name (``--max-steps``, ``--lr``, ``--devices``; ``--schedule`` for the
schedule's name), the others by their dotted path (``--model.d-model 128``, ``--data.window 256``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import shlex
import sys
import types
import typing
from pathlib import Path
from typing import Any

from . import __version__
from .config import ConfigError, flatten, from_dict, load_yaml, merge, nest
from .errors import UserError
from .registry import Domain, Task, domains, tasks

CHECKPOINT_FREE_KEYS = ("domain", "task", "corpus")


# --- config flags -------------------------------------------------------------------------
def flag_name(key: str) -> str:
    if key.startswith("train.schedule."):
        leaf = key.split(".")[-1]
        return "--schedule" if leaf == "name" else "--" + leaf.replace("_", "-")
    if key.startswith("train."):
        return "--" + key[len("train."):].replace("_", "-")
    return "--" + key.replace("_", "-")


def _strip_optional(tp):
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return (args[0] if len(args) == 1 else tp), type(None) in typing.get_args(tp)
    return tp, False


def parse_flag(text: str, tp: Any, key: str) -> Any:
    """A command-line string -> a value of annotation ``tp`` (checked again by the config)."""
    tp, optional = _strip_optional(tp)
    if optional and text.lower() in ("none", "null"):
        return None
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):  # e.g. devices: int | str
        return int(text) if text.lstrip("-").isdigit() else text
    if tp is bool:
        if text.lower() in ("true", "yes", "1", "on"):
            return True
        if text.lower() in ("false", "no", "0", "off"):
            return False
        raise ConfigError(f"{flag_name(key)}: expected true or false, got {text!r}")
    for kind in (int, float):
        if tp is kind:
            try:
                return kind(text)
            except ValueError:
                raise ConfigError(f"{flag_name(key)}: expected {kind.__name__}, got {text!r}") from None
    return text


def add_config_flags(parser: argparse.ArgumentParser, defaults: Any, aliases: dict[str, str]) -> dict:
    """One flag per config leaf; returns ``{dest: (key, type)}``. Defaults shown are the preset's."""
    reverse = {v: k for k, v in aliases.items()}
    table = {}
    train = parser.add_argument_group("training (shared by every domain)")
    other = parser.add_argument_group("model, data and objective")
    for key, (value, tp) in flatten(defaults).items():
        name = "--" + reverse[key] if key in reverse else flag_name(key)
        dest = "cfg__" + key.replace(".", "__")
        base, _ = _strip_optional(tp)
        is_list = typing.get_origin(base) in (list, tuple)
        shown = " ".join(map(str, value)) if is_list else value
        group = train if key.startswith("train.") else other
        kwargs = dict(dest=dest, default=argparse.SUPPRESS, metavar=key.split(".")[-1].upper(),
                      help=f"{key} (default: {shown})")
        if is_list:
            kwargs["nargs"] = "+"
        elif base is bool:
            kwargs.update(nargs="?", const="true", metavar="BOOL")
        elif typing.get_origin(base) is typing.Literal:
            kwargs["choices"] = typing.get_args(base)
            kwargs.pop("metavar")
        group.add_argument(name, **kwargs)
        table[dest] = (key, typing.get_args(base)[0] if is_list else tp, is_list)
    return table


def resolve_config(plugin, args: argparse.Namespace, table: dict) -> Any:
    """Preset < --config < flags for a plugin with ``presets()`` and ``config_class``; with
    ``--resume`` the run's own config.yaml replaces the preset."""
    out = Path(args.out)
    if args.resume and (out / "config.yaml").is_file():
        saved = {k: v for k, v in load_yaml(out / "config.yaml").items() if k not in CHECKPOINT_FREE_KEYS}
        cfg = from_dict(plugin.config_class, saved, str(out / "config.yaml"))
    else:
        presets = plugin.presets()
        if args.preset not in presets:
            raise ConfigError(f"--preset: unknown preset '{args.preset}' for {plugin.name} "
                              f"(expected one of: {', '.join(presets)})")
        cfg = presets[args.preset]()
    if args.config:
        cfg = merge(cfg, load_yaml(args.config), where=str(args.config))
    flat = {}
    for dest, (key, tp, is_list) in table.items():
        if hasattr(args, dest):
            raw = getattr(args, dest)
            if is_list:  # "--label-fractions 0.1,0.5 1.0" -> [0.1, 0.5, 1.0]
                flat[key] = [parse_flag(v, tp, key) for item in raw for v in item.split(",") if v]
            else:
                flat[key] = parse_flag(raw, tp, key)
    return merge(cfg, nest(flat), where="command line") if flat else cfg


# --- subcommands ----------------------------------------------------------------------------
def add_run_arguments(parser: argparse.ArgumentParser, plugin, out_default: str) -> dict:
    """``--preset``, ``--config``, ``--out``, ``--resume`` and one flag per config key."""
    presets = plugin.presets()
    parser.add_argument("--preset", default="tiny", choices=list(presets),
                        help="named configuration to start from (default: tiny)")
    parser.add_argument("--config", metavar="FILE.yaml", help="YAML overriding the preset (default: none)")
    parser.add_argument("--out", default=out_default, help=f"run directory (default: {out_default})")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run in --out from checkpoints/last.ckpt (default: off)")
    return add_config_flags(parser, presets["tiny"](), plugin.flag_aliases())


def _add_pretrain(sub) -> None:
    p = sub.add_parser("pretrain", help="pre-train a backbone of a domain on its data",
                       description="Pre-train a domain's backbone; writes a run directory.")
    dsub = p.add_subparsers(dest="domain", metavar="DOMAIN", required=True)
    for name, domain in domains.items():
        dp = dsub.add_parser(name, help=domain.summary, description=domain.summary,
                             allow_abbrev=False)
        table = add_run_arguments(dp, domain, f"runs/{name}")
        dp.set_defaults(handler=_run_pretrain, plugin=domain, table=table)


def _run_pretrain(args: argparse.Namespace) -> int:
    from .pretrain import pretrain

    cfg = resolve_config(args.plugin, args, args.table)
    pretrain(args.plugin.name, cfg, args.out, resume=args.resume, command=_command_line())
    return 0


def _add_finetune(sub) -> None:
    p = sub.add_parser("finetune", help="fine-tune for a task (a pipeline built on a domain)")
    tsub = p.add_subparsers(dest="task", metavar="TASK", required=True)
    for name, task in tasks.items():
        tp = tsub.add_parser(name, help=task.summary, description=task.summary, allow_abbrev=False)
        task.add_finetune_arguments(tp)
        tp.set_defaults(handler=lambda a: _as_status(a.plugin.finetune(a)), plugin=task)


def _run_owner(run_path: str):
    """The plugin that wrote a run directory (its config.yaml names a task or a domain)."""
    from .run import RunDir

    run = RunDir(run_path)
    if not run.config.is_file():
        raise UserError(f"{run.path}: not a run directory (no config.yaml)")
    config = run.read_config()
    if "task" in config:
        return run, tasks.get(config["task"])
    if "domain" in config:
        return run, domains.get(config["domain"])
    raise UserError(f"{run.config}: names neither a task nor a domain")


def _add_evaluate(sub) -> None:
    p = sub.add_parser("evaluate", help="evaluate a run on labelled data", conflict_handler="resolve")
    p.add_argument("run", metavar="RUN", help="run directory")
    p.add_argument("--data", required=True, help="labelled data file to evaluate on (required)")
    for name, task in tasks.items():
        task.add_evaluate_arguments(p.add_argument_group(f"options for {name} runs"))
    p.set_defaults(handler=lambda a: _as_status(_dispatch(a, "evaluate")))


def _add_predict(sub) -> None:
    p = sub.add_parser("predict", help="predict with a run (task outputs, or --embed for a backbone)",
                       conflict_handler="resolve")
    p.add_argument("run", metavar="RUN", help="run directory")
    p.add_argument("--input", required=True, help="input file (required)")
    p.add_argument("--output", required=True, help="output file, written atomically (required)")
    for name, plugin in [*domains.items(), *tasks.items()]:
        plugin.add_predict_arguments(p.add_argument_group(f"options for {name} runs"))
    p.set_defaults(handler=lambda a: _as_status(_dispatch(a, "predict")))


def _dispatch(args: argparse.Namespace, verb: str) -> Any:
    run, plugin = _run_owner(args.run)
    if not hasattr(plugin, verb):
        raise UserError(f"{run.path}: a {plugin.name} run has no '{verb}' (evaluate a task run, "
                        "for example one written by 'scipt finetune')")
    return getattr(plugin, verb)(run, args)


def _add_export(sub) -> None:
    p = sub.add_parser("export", help="export a run's Lightning checkpoint as safetensors + config.json")
    p.add_argument("run", metavar="RUN", help="pre-training run directory")
    p.add_argument("--checkpoint", help="checkpoint to export (default: RUN/checkpoints/last.ckpt)")
    p.add_argument("--out", help="export directory (default: RUN/model)")
    p.set_defaults(handler=_run_export)


def _run_export(args: argparse.Namespace) -> int:
    from .checkpoint import export_model, load_lightning_checkpoint

    run, domain = _run_owner(args.run)
    if not hasattr(domain, "export_config_from"):
        raise UserError(f"{run.path}: export works on pre-training runs")
    saved = run.read_config()
    cfg = from_dict(domain.config_class, {k: v for k, v in saved.items() if k not in CHECKPOINT_FREE_KEYS},
                    str(run.config))
    ckpt = load_lightning_checkpoint(args.checkpoint or run.last_checkpoint)
    # a domain that stores more than weights beside them (the molecules' EWC Fisher) says how,
    # from the same data it reads for the config
    export_cfg, hook = (domain.export_from(cfg) if hasattr(domain, "export_from")
                        else (domain.export_config_from(cfg), None))
    export_cfg = {**export_cfg, "pretrained_on": saved.get("corpus", [])}
    backbone = domain.load_backbone(export_cfg)
    prefix = "backbone."
    backbone.load_state_dict({k[len(prefix):]: v for k, v in ckpt["state_dict"].items()
                              if k.startswith(prefix)})
    out = export_model(args.out or run.model, backbone, {**export_cfg, "sciPT_version": __version__},
                       extra_tensors=hook(backbone) if hook is not None else None)
    print(f"exported step {ckpt.get('global_step')} to {out}", file=sys.stderr)
    return 0


def _add_demo(sub) -> None:
    names = [n for n, p in [*tasks.items(), *domains.items()] if _has_demo(p)]
    p = sub.add_parser("demo", help="run a demonstration on the shipped data",
                       description="Demonstrations on the data shipped in data_recipes/.")
    p.add_argument("name", nargs="?", default="dna", choices=names,
                   help="which demonstration (default: dna)")
    p.add_argument("--out", help="run directory (default: runs/demo-NAME-<time>)")
    p.add_argument("--max-steps", type=int, help="override the demo's number of steps (default: the demo's own)")
    p.set_defaults(handler=_run_demo)


def _has_demo(plugin) -> bool:
    return type(plugin).demo not in (Domain.demo, Task.demo)


def _run_demo(args: argparse.Namespace) -> int:
    plugin = dict(tasks.items()).get(args.name) or domains.get(args.name)
    if args.out is None:
        args.out = f"runs/demo-{args.name}-{dt.datetime.now():%Y%m%d-%H%M%S}"
    return _as_status(plugin.demo(args))


def _add_data(sub) -> None:
    from . import recipes

    recipes.add_arguments(sub.add_parser("data", help="list, check and build the shipped data recipes; decontaminate a corpus"))


def _as_status(result: Any) -> int:
    return result if isinstance(result, int) else 0


def _command_line() -> str:
    return "scipt " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scipt", description="Pre-training on scientific data.",
                                     allow_abbrev=False)
    parser.add_argument("--version", action="version", version=f"sciPT {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_pretrain(sub)
    _add_finetune(sub)
    _add_evaluate(sub)
    _add_predict(sub)
    _add_export(sub)
    _add_demo(sub)
    _add_data(sub)
    for _, plugin in [*domains.items(), *tasks.items()]:
        for command in plugin.commands():
            cp = sub.add_parser(command.name, help=command.help)
            command.add_arguments(cp)
            cp.set_defaults(handler=lambda a, c=command: _as_status(c.run(a)))
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except UserError as err:
        print(f"scipt: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("scipt: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
