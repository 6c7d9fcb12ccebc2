"""The ``scipt`` command. Thin: it builds its subcommands from the registries, parses, hands over.

It starts at once because it imports only what the command line names: the plugin names come from
entry-point metadata, and a plugin (with torch, Lightning and its domain's libraries) is imported
when it is the one that runs, or when a listing asks for every plugin's summary
(``scipt pretrain --help``; one that cannot be loaded is listed with the reason). ``scipt evaluate
RUN`` and ``scipt predict RUN`` import only the plugin that wrote ``RUN``. Configuration layering is
:mod:`sciPT.runconfig`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import difflib
import gc
import importlib
import os
import select
import sys
from pathlib import Path
from typing import Any, NoReturn

from . import __version__
from .errors import UserError
from .io import output_file
from .locks import release_locks
from .registry import BUILTIN, Domain, PluginError, Registry, Task, commands, domains, missing_extra, tasks
from .run import RunDir, command_line, global_rank
from .runconfig import add_run_arguments, positive_count, resolve_config
from .signals import EXIT_INTERRUPTED, EXIT_TERMINATED, Terminated

BUILTIN_COMMANDS = ("pretrain", "finetune", "evaluate", "predict", "export", "demo", "data")


class Parser(argparse.ArgumentParser):
    """argparse with the project's rule for bad input: one line, exit status 2. argparse prints the
    whole usage before its error (70 lines for a task's options), which buries the line that says
    what is wrong; ``--help`` still prints it. An unknown option gets the closest known one."""

    def parse_known_args(self, args=None, namespace=None):
        namespace, extras = super().parse_known_args(args, namespace)
        # a subcommand's parser returns before its parent's: the first to set this is the deepest,
        # the command the user typed, which the top-level parser needs to report what none took
        vars(namespace).setdefault(_TYPED, self.prog)
        return namespace, extras

    def parse_args(self, args=None, namespace=None):
        namespace, extras = self.parse_known_args(args, namespace)
        typed = vars(namespace).pop(_TYPED, self.prog)
        run = getattr(namespace, "run", None) if typed.split()[-1] in ("evaluate", "predict") else None
        if extras and isinstance(run, str) and not (Path(run) / "config.yaml").is_file():
            # the plugin's options (`predict --embed`) are added once RUN is known to be a run: a
            # mistyped RUN called them unrecognized, blaming the option, not the path
            self.exit(
                2,
                f"{typed}: error: {run}: not a run directory (no config.yaml), so the options of the "
                f"plugin that wrote it are unknown: {' '.join(extras)}\n",
            )
        if extras:
            self._unrecognized(typed, extras)
        return namespace

    def _unrecognized(self, prog: str, extras: list[str]) -> NoReturn:
        message = f"unrecognized arguments: {' '.join(extras)}"
        unknown = next((t.split("=")[0] for t in extras if t.startswith("--")), "")
        close = difflib.get_close_matches(unknown, sorted(_commands(self).get(prog, [])), n=1)
        message += f" (did you mean {close[0]}?)" if close else ""
        self.exit(2, f"{prog}: error: {message}; '{prog} --help' lists the options\n")

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}; '{self.prog} --help' lists the options\n")


_TYPED = "_scipt_typed_command"


def _commands(parser: argparse.ArgumentParser) -> dict[str, list[str]]:
    """The options of ``parser`` and of each subcommand under it, by command."""
    found = {parser.prog: list(parser._option_string_actions)}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                found |= _commands(child)
    return found


def _plugin_defaults(registry: Registry, name: str) -> dict:
    """What the handler needs to name a missing extra if the plugin's code imports it late."""
    return {
        "plugin_label": f"the {registry.kind} '{name}'",
        "plugin_extras": registry.extras(name),
        "plugin_dist": registry.distribution(name) or BUILTIN,
    }


def _listed(registry: Registry, name: str, chosen: str | None, sub) -> Any | None:
    """The plugin ``name`` for a listing, or None where it cannot be loaded: one broken plugin (a
    third-party one, or a built-in whose extra is not installed) must not take the listing, and
    with it every other plugin's commands, down with it; it is listed with the reason instead. The
    plugin the command line names still fails with its one line."""
    try:
        return registry.get(name)
    except PluginError as err:
        if chosen == name:
            raise
        dist = registry.distribution(name)
        source = "" if dist in (None, BUILTIN) else f", from {dist}"
        # argparse %-formats help strings; an error message may hold a '%'
        sub.add_parser(name, help=f"(unavailable{source}: {err.reason})".replace("%", "%%"))
        return None


def _chosen(rest: list[str], names: list[str]) -> str | None:
    """The plugin named on the command line after the subcommand, if any."""
    return next((token for token in rest if token in names), None)


def _run_in(rest: list[str]) -> str | None:
    """The run directory named on the command line, if any (the first with a config.yaml)."""
    return next((t for t in rest if not t.startswith("-") and (Path(t) / "config.yaml").is_file()), None)


# --- subcommands ----------------------------------------------------------------------------
def _add_pretrain(sub, rest: list[str] | None) -> None:
    p = sub.add_parser(
        "pretrain",
        help="pre-train a backbone of a domain on its data",
        description="Pre-train a domain's backbone; writes a run directory.",
    )
    dsub = p.add_subparsers(dest="domain", metavar="DOMAIN", required=True)
    if rest is None:
        return
    chosen = _chosen(rest, domains.names())
    for name in domains.names():
        if chosen not in (None, name):
            dsub.add_parser(name)
            continue
        domain = _listed(domains, name, chosen, dsub)
        if domain is None:
            continue
        dp = dsub.add_parser(name, help=domain.summary, description=domain.summary, allow_abbrev=False)
        table = add_run_arguments(dp, domain, f"runs/{name}")
        dp.set_defaults(handler=_run_pretrain, plugin=domain, table=table, **_plugin_defaults(domains, name))


def _run_pretrain(args: argparse.Namespace) -> int:
    from .trainer import validate

    # settings refused before Lightning is imported: a wrong value answers in about 2 s, not 7
    cfg = resolve_config(args.plugin, args, args.table)
    validate(cfg.train)
    from .pretrain import pretrain

    pretrain(args.plugin.name, cfg, args.out, resume=args.resume, command=command_line())
    return 0


def _add_finetune(sub, rest: list[str] | None) -> None:
    p = sub.add_parser("finetune", help="fine-tune for a task (a pipeline built on a domain)")
    tsub = p.add_subparsers(dest="task", metavar="TASK", required=True)
    if rest is None:
        return
    chosen = _chosen(rest, tasks.names())
    for name in tasks.names():
        if chosen not in (None, name):
            tsub.add_parser(name)
            continue
        task = _listed(tasks, name, chosen, tsub)
        if task is None:
            continue
        tp = tsub.add_parser(name, help=task.summary, description=task.summary, allow_abbrev=False)
        task.add_finetune_arguments(tp)
        tp.set_defaults(
            handler=lambda a: _as_status(a.plugin.finetune(a)), plugin=task, **_plugin_defaults(tasks, name)
        )


def _add_run_verb(sub, rest: list[str] | None, verb: str) -> None:
    """``evaluate`` and ``predict``: generic options, plus those of the plugin that wrote RUN."""
    helps = {
        "evaluate": "evaluate a run on labelled data",
        "predict": "predict with a run (task outputs, or --embed for a backbone)",
    }
    p = sub.add_parser(
        verb,
        help=helps[verb],
        conflict_handler="resolve",
        epilog=f"The options of the plugin that wrote RUN are listed by 'scipt {verb} RUN --help'.",
    )
    if rest is None:
        return
    p.add_argument("run", metavar="RUN", help="run directory")
    if verb == "evaluate":
        p.add_argument("--data", required=True, help="labelled data file to evaluate on (required)")
        p.add_argument(
            "--out", help="where the evaluation is written (default: RUN/evaluations/<data file name>)"
        )
    else:
        p.add_argument("--input", required=True, help="input file (required)")
        p.add_argument(
            "--output",
            required=True,
            type=output_file,
            help="output file, written atomically (onto a link: its target; a pipe or /dev/stdout: written "
            "into it at the end) (required)",
        )
    run_path = _run_in(rest)
    if run_path is not None:
        from .run import open_run

        run, plugin = open_run(run_path)
        registry = tasks if "task" in run.read_config() else domains
        add = plugin.add_evaluate_arguments if verb == "evaluate" else plugin.add_predict_arguments
        add(p.add_argument_group(f"options for {plugin.name} runs"))
        p.set_defaults(**_plugin_defaults(registry, plugin.name))
        p.epilog = None  # the plugin's options are listed: no pointer to themselves
    p.set_defaults(handler=lambda a: _as_status(_dispatch(a, verb)))


def _dispatch(args: argparse.Namespace, verb: str) -> Any:
    from .run import open_run

    run, plugin = open_run(args.run)
    if verb == "evaluate":
        return plugin.evaluate(run, args)
    from .io import refuse_overwriting

    refuse_overwriting(args.output, args.input, "input", "predictions")
    return plugin.predict(run, args)


def _add_export(sub, rest: list[str] | None) -> None:
    p = sub.add_parser("export", help="export a run's Lightning checkpoint as safetensors + config.json")
    p.add_argument("run", metavar="RUN", help="pre-training run directory")
    p.add_argument(
        "--checkpoint",
        help="checkpoint to export (default: the latest, RUN/checkpoints/last.ckpt or a SLURM "
        "signal's RUN/hpc_ckpt_<n>.ckpt if it is further on)",
    )
    p.add_argument("--out", help="export directory (default: RUN/model; RUN/hf with --format hf)")
    p.add_argument(
        "--format",
        choices=("sciPT", "hf"),
        default="sciPT",
        help="sciPT's own (safetensors + config.json), or hf: an EsmForMaskedLM folder for "
        "transformers, for DNA and protein runs with an exact ESM equivalent (default: sciPT)",
    )
    p.set_defaults(handler=_run_export)


def _run_export(args: argparse.Namespace) -> int:
    from .export import export_run
    from .signals import sigterm_raises

    # the export is built in a staging folder renamed into place: SIGTERM, raised as an exception,
    # lets it be removed as on Ctrl-C (the signal's default action left it behind)
    try:
        with sigterm_raises():
            return export_run(args)
    except Terminated:
        print("scipt: terminated (SIGTERM) while exporting; the same command exports again", file=sys.stderr)
        return EXIT_TERMINATED


positive_steps = positive_count("number of steps")  # a demo's --max-steps, for every demo


class DemoChoices:
    """The names ``scipt demo`` takes. Listed (``--help``, a misspelt name): the plugins that have a
    demo, which takes importing every plugin (seconds, and libraries such as RDKit), so only a
    listing does. Accepted: every plugin name, unimported: the demo that runs imports its own
    plugin, and one without a demo says so in its own line, where argparse would answer "invalid
    choice" and list the others."""

    def __init__(self, names: list[str]):
        self.names = names

    def __contains__(self, name: object) -> bool:
        return name in self.names

    def __iter__(self):
        return (name for name in self.names if _has_demo(name))


def _has_demo(name: str) -> bool:
    registry = tasks if name in tasks.names() else domains
    try:
        plugin = registry.get(name)
    except PluginError:  # one that cannot be loaded keeps the listing up, and runs no demo
        return False
    return type(plugin).demo not in (Domain.demo, Task.demo)


def _add_demo(sub, rest: list[str] | None) -> None:
    names = [*tasks.names(), *(n for n in domains.names() if n not in tasks.names())]
    p = sub.add_parser(
        "demo",
        help="run a demonstration on the shipped data",
        description="Demonstrations on the data shipped in data_recipes/.",
    )
    p.add_argument(
        "name",
        nargs="?",
        default="dna",
        # argparse formats the choices when the argument is added: listing them imports every
        # plugin, so only `scipt demo` itself gets them (every command paid 4 s for RDKit and ASE)
        choices=DemoChoices(names) if rest is not None else None,
        help="which plugin's demonstration (default: dna)",
    )
    p.add_argument("--out", help="run directory (default: runs/demo-NAME-<time>)")

    p.add_argument(
        "--max-steps",
        type=positive_steps,
        help="override the demo's number of steps (default: the demo's own); the promoter demo "
        "still fits its 20 cross-validation models, one epoch each (about 8 minutes on 2 cores)",
    )
    p.set_defaults(handler=_run_demo)


def _run_demo(args: argparse.Namespace) -> int:
    registry = tasks if args.name in tasks.names() else domains
    vars(args).update(_plugin_defaults(registry, args.name))
    with missing_extra(args.plugin_label, args.plugin_extras, args.plugin_dist):
        plugin = registry.get(args.name)
    if args.out is None:
        args.out = f"runs/demo-{args.name}-{dt.datetime.now():%Y%m%d-%H%M%S}"
    # the promoter and force-field demos write a folder of runs, whose RunDir.create would refuse
    # this only once the demo's data were written there
    RunDir(args.out).refuse_inside_a_run()
    return _as_status(plugin.demo(args))


def _add_data(sub, rest: list[str] | None) -> None:
    help = "list, check and build the shipped data recipes; decontaminate a corpus"
    p = sub.add_parser("data", help=help, description=help)
    if rest is not None:
        from . import recipes

        recipes.add_arguments(p)


def _add_plugin_command(sub, name: str, rest: list[str] | None) -> None:
    point = commands.entry_point(name)
    provider = point.value.split(":")[0].split(".")[-1]
    if rest is None:
        sub.add_parser(name, help=f"from the {provider} plugin ('scipt {name} --help')")
        return
    plugin = commands.get(name)
    command = next((c for c in plugin.commands() if c.name == name), None)
    if command is None:
        raise UserError(f"entry point '{name} = {point.value}': {plugin.name} has no command '{name}'")
    cp = sub.add_parser(name, help=command.help, description=command.help)
    command.add_arguments(cp)
    cp.set_defaults(handler=lambda a: _as_status(command.run(a)), **_plugin_defaults(commands, name))


def _as_status(result: Any) -> int:
    return result if isinstance(result, int) else 0


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser for ``argv``: complete for the subcommand it names, a listing for the others."""
    argv = sys.argv[1:] if argv is None else argv
    command = next((a for a in argv if not a.startswith("-")), None)
    rest = argv[argv.index(command) + 1 :] if command else []
    epilog = (
        f"domains: {', '.join(domains.names())}; tasks: {', '.join(tasks.names())}. "
        "'scipt COMMAND --help' lists a command's options."
    )
    parser = Parser(
        prog="scipt", description="Pre-training on scientific data.", epilog=epilog, allow_abbrev=False
    )
    parser.add_argument("--version", action="version", version=f"sciPT {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_pretrain(sub, rest if command == "pretrain" else None)
    _add_finetune(sub, rest if command == "finetune" else None)
    _add_run_verb(sub, rest if command == "evaluate" else None, "evaluate")
    _add_run_verb(sub, rest if command == "predict" else None, "predict")
    _add_export(sub, rest if command == "export" else None)
    _add_demo(sub, rest if command == "demo" else None)
    _add_data(sub, rest if command == "data" else None)
    for name in commands.names():
        if name not in BUILTIN_COMMANDS:
            _add_plugin_command(sub, name, rest if command == name else None)
    return parser


# Caches of torch's DTensor (FSDP2's parameters) that hold device meshes, and through them the
# meshes' process groups, for the life of the interpreter: (module, function clearing one).
DTENSOR_MESH_CACHES = (
    ("torch.distributed.tensor.debug", "_clear_sharding_prop_cache"),
    ("torch.distributed.tensor._redistribute", "_gen_transform_infos.cache_clear"),
    ("torch.distributed.tensor._redistribute", "clear_redistribute_planner_cache"),
    ("torch.distributed.tensor._collective_utils", "MeshTopoInfo.build_from_mesh.cache_clear"),
    (
        "torch.distributed.tensor._sharding_prop",
        "ShardingPropagator._propagate_tensor_meta_cached.cache_clear",
    ),
)


def close_process_group() -> None:
    """Tear down the process group a multi-process run leaves, while the interpreter is still
    whole: left to interpreter finalization, Gloo's worker threads can abort a rank that succeeded
    ("terminate called without an active exception", SIGABRT). Only after success: a rank that
    failed while others wait in a collective would hang here instead of exiting.

    ``destroy_process_group`` unregisters every group, but a group is freed (its threads joined)
    only with its last reference; after an FSDP2 run, DTensor's sharding caches keep the device
    meshes, and the meshes their groups, until finalization, where the abort struck rank 1 of a
    two-process FSDP2 run that had finished (once, in CI). Those caches are emptied here too; one
    that a torch version lacks is skipped."""
    dist = sys.modules.get("torch.distributed")  # never imports torch for a command that did not
    if dist is None or not dist.is_available() or not dist.is_initialized():
        return
    dist.destroy_process_group()
    if "torch.distributed.tensor" in sys.modules:
        for module_name, path in DTENSOR_MESH_CACHES:
            try:
                clear = sys.modules.get(module_name) or importlib.import_module(module_name)
                for name in path.split("."):
                    clear = getattr(clear, name)
            except (ImportError, AttributeError):  # another torch keeps them elsewhere, or not at all
                continue
            clear()
        gc.collect()  # the meshes and groups sit in reference cycles


def log_friendly_progress() -> None:
    """A progress bar redraws itself up to ten times a second; in a log file (a batch job's output)
    every redraw stays. When standard error is not a terminal, redraw at most every 30 seconds.
    tqdm reads ``TQDM_*`` overrides when it is imported, so this runs before any plugin is."""
    if not sys.stderr.isatty():
        os.environ.setdefault("TQDM_MININTERVAL", "30")


def stdout_reader_gone() -> bool:
    """Whether standard output is a pipe whose reader has closed it (poll reports an error on it)."""
    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(event & select.POLLERR for _, event in poller.poll(0))
    except (AttributeError, OSError, ValueError):  # no poll (Windows), or no real file
        return False


def say_once(line: str) -> None:
    """``line`` on standard error from rank 0 alone: a stop reaches every rank of a multi-process
    run (Lightning forwards SIGTERM to them), and each said the same line."""
    if global_rank() == 0:
        print(line, file=sys.stderr)


def after_stop(args: argparse.Namespace | None) -> str:
    """What a command stopped by SIGTERM or Ctrl-C (in a Lightning fit) leaves, and how to go on
    from it: its last checkpoint, a promoter run's completed fits, or nothing yet."""
    if getattr(args, "command", None) != "demo":
        if getattr(args, "out", None) is None:
            return "the run keeps its last checkpoint: the same command with --resume continues it"
        kept = getattr(args, "kept_after_stop", None)  # a task that keeps something else (promoter: fits)
        if kept is not None:
            return kept(Path(args.out))
        run = RunDir(args.out)
        if any(run.checkpoints.glob("*.ckpt")) or run.hpc_checkpoints():
            return "the run keeps its last checkpoint: the same command with --resume continues it"
        return "no checkpoint was written yet: the same command with --resume auto starts it again"
    # a demo has no --resume, and a second one refuses the folder the first left
    words = f"a demo cannot be resumed: run it again with another --out, or delete {args.out} first"
    # a demo whose stages are ordinary runs may say how the stopped one goes on alone
    stage = getattr(args, "stage_resume", None)
    hint = stage() if stage is not None else None
    return f"{words}; {hint}" if hint else words


def main(argv: list[str] | None = None) -> int:
    log_friendly_progress()
    args = None  # for the SIGTERM message, which depends on the command
    try:
        args = build_parser(argv).parse_args(argv)
        with missing_extra(
            getattr(args, "plugin_label", "this command"),
            getattr(args, "plugin_extras", []),
            getattr(args, "plugin_dist", BUILTIN),
        ):
            status = args.handler(args)
        close_process_group()
        sys.stdout.flush()  # inside the try: a reader that has gone (`| head`) is caught below
        return status
    except UserError as err:
        print(f"scipt: error: {err}", file=sys.stderr)
        if err.every_rank:
            close_process_group()  # every rank agreed to stop: none waits in a collective
        return err.exit_code
    except KeyboardInterrupt:
        print("scipt: interrupted", file=sys.stderr)
        return 130
    except Terminated:  # a command that turns SIGTERM into an exception outside a Lightning fit
        say_once(f"scipt: terminated (SIGTERM); {after_stop(args)}")
        return EXIT_TERMINATED
    except SystemExit as stop:
        if stop.code == 1 and isinstance(stop.__context__, KeyboardInterrupt):
            # Lightning turns Ctrl-C in a fit into exit status 1 after its own line: as any other
            # interrupted command, 130, and how to go on
            say_once(f"scipt: interrupted; {after_stop(args)}")
            return EXIT_INTERRUPTED
        # Lightning stops training on SIGTERM (a batch system's time limit, `kill`) by raising a
        # SystemExit without a code: the job ended with status 0, said nothing, and a chain of jobs
        # waiting for success went on
        lightning = sys.modules.get("lightning.pytorch.utilities.exceptions")
        if lightning is None or not isinstance(stop, lightning.SIGTERMException):
            raise
        say_once(f"scipt: terminated (SIGTERM); {after_stop(args)}")
        return EXIT_TERMINATED
    except BrokenPipeError:
        if not stdout_reader_gone():
            raise  # another pipe (a worker's): a real failure
        # the reader of our output has gone (`scipt ... | head`): stop quietly, as Unix tools do;
        # the redirect keeps the interpreter's final flush from failing again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    finally:
        release_locks()


if __name__ == "__main__":
    sys.exit(main())
