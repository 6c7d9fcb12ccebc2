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
from .config import from_dict
from .errors import UserError
from .registry import Domain, Task, domains, tasks
from .run import open_run
from .runconfig import CHECKPOINT_FREE_KEYS, add_run_arguments, resolve_config

# --- subcommands ----------------------------------------------------------------------------
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


def _add_evaluate(sub) -> None:
    p = sub.add_parser("evaluate", help="evaluate a run on labelled data", conflict_handler="resolve")
    p.add_argument("run", metavar="RUN", help="run directory")
    p.add_argument("--data", required=True, help="labelled data file to evaluate on (required)")
    p.add_argument("--out", help="where the evaluation is written (default: RUN/evaluations/<data file name>)")
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
    run, plugin = open_run(args.run)
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
    from .export import export_run

    return export_run(args)


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
