"""Domain and Task registries, filled from entry points.

Built-in plugins and third-party plugins are found the same way: a distribution declares

.. code-block:: toml

    [project.entry-points."sciPT.domains"]
    mydomain = "my_package.my_domain:domain"     # an instance of sciPT.registry.Domain

    [project.entry-points."sciPT.tasks"]
    mytask = "my_package.my_task:task"           # an instance of sciPT.registry.Task

and appears in ``scipt --help`` once installed. Nothing in ``sciPT`` imports a plugin directly.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import sys
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

from .errors import UserError

DOMAIN_GROUP = "sciPT.domains"
TASK_GROUP = "sciPT.tasks"
# top-level commands a plugin adds (``scan = "sciPT.tasks.promoter:task [dna]"``): the entry point
# names the plugin whose ``commands()`` provides it, so ``scipt --help`` lists it unimported
COMMAND_GROUP = "sciPT.commands"


@dataclass
class Command:
    """A top-level ``scipt`` subcommand contributed by a plugin (for example ``scan`` or ``md``)."""

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], Any]


@dataclass
class PretrainSetup:
    """Everything the shared pre-training loop needs from a domain.

    Attributes:
        backbone: the model that is exported and later fine-tuned.
        objective: module computing ``(loss, metrics)`` from ``(backbone, batch)``; it owns any
            pre-training head (a masked head is exported beside the backbone, :mod:`sciPT.export`).
        datamodule: a LightningDataModule yielding the objective's batches.
        export_config: JSON-safe dictionary from which :meth:`Domain.load_backbone` rebuilds the
            backbone (model config, tokenizer, ...); written to ``model/config.json``.
        corpus: the files the model is pre-trained on, ``[{"path", "sha256", "bytes"}]``, recorded
            with the exported model so later evaluation can check for contamination.
        report: extra ``{name: value}`` facts about the data for report.md and metrics.json.
        embed: ``batch -> [B, D]`` per-sample embeddings, for the collapse check on validation data.
        export_extras: ``backbone -> {name: tensor}`` computed after training and stored beside the
            weights (an EWC Fisher diagonal on the pre-training data, ``"fisher.<param>"``).
    """

    backbone: Any
    objective: Any
    datamodule: Any
    export_config: dict
    corpus: list = field(default_factory=list)
    report: dict = field(default_factory=dict)
    embed: Callable[[Any], Any] | None = None
    export_extras: Callable[[Any], dict] | None = None


class Domain:
    """A domain plugin: data, tokenizer, backbone, objectives and presets for one kind of data.

    Subclasses set ``name``, ``summary`` and ``config_class`` (a dataclass with a ``train`` field of
    type :class:`sciPT.trainer.TrainConfig`) and implement the methods below. Pre-training runs the
    shared Lightning loop on :meth:`build_pretraining`; a domain whose pre-training is not gradient
    descent (a closed-form fit) overrides :meth:`pretrain` instead. A sequence domain sets ``spec``
    (its alphabet, a :class:`sciPT.sequences.SequenceSpec`), which the contamination check reads.
    """

    name: str = ""
    summary: str = ""
    config_class: type = object
    spec: Any = None
    unused_train_keys: tuple[str, ...] = ()
    """Keys of the config's ``train`` section this domain's pre-training never reads (a closed-form
    fit reads none but ``seed``): ``--help`` does not list them, and the domain refuses them when set
    (:class:`Task` has the same)."""
    resume_refusal: str | None = None
    """Why ``--resume`` is not for this domain's pre-training (``None``: it resumes from its
    checkpoints); refused with this reason by :func:`sciPT.runconfig.resolve_resume`."""
    corpus_words: dict[str, str] = {}
    """What the pre-training report's corpus table calls the counts of a corpus entry, where the
    sequence words do not fit (``{"records": "frames", "residues": "atoms"}`` for structures)."""
    loss_label: str = "loss (nats)"
    """The y-axis label of the pre-training loss curve: what the objective's loss is, in what unit
    (a cross-entropy in nats for the sequence domains)."""

    def pretrain(
        self,
        cfg: Any,
        out: Any,
        *,
        resume: bool = False,
        command: str | None = None,
        callbacks: list | None = None,
    ) -> Any:
        """Pre-train as ``cfg`` says and write the run directory ``out``; returns its RunDir."""
        from .pretrain import lightning_pretrain

        return lightning_pretrain(self, cfg, out, resume=resume, command=command, callbacks=callbacks)

    def presets(self) -> dict[str, Callable[[], Any]]:
        """Named configurations; every domain has at least ``tiny``."""
        raise NotImplementedError

    def flag_aliases(self) -> dict[str, str]:
        """Short command-line flags for common keys, e.g. ``{"data": "data.paths"}``."""
        return {}

    def build_pretraining(self, cfg: Any) -> PretrainSetup:
        """Validate the data named by ``cfg`` and build the parts of a pre-training run."""
        raise NotImplementedError

    def load_backbone(self, export_config: dict) -> Any:
        """Rebuild the (untrained) backbone described by an exported ``config.json``."""
        raise NotImplementedError

    def commands(self) -> list[Command]:
        """Extra top-level subcommands."""
        return []

    def demo(self, args: argparse.Namespace) -> Any:
        raise UserError(f"domain '{self.name}' has no demo")

    def add_evaluate_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Options of ``scipt evaluate`` for a pre-training run of this domain."""

    def evaluate(self, run: Any, args: argparse.Namespace) -> Any:
        """Score a pre-training run's model on ``args.data``, written where
        ``run.evaluation(args.data, args.out)`` (:mod:`sciPT.evaluations`) says (``RUN/evaluations/<data name>/``)."""
        raise UserError(f"{run.path}: a {self.name} pre-training run cannot be evaluated")

    def add_predict_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Options of ``scipt predict`` for a model exported by this domain."""

    def predict(self, run: Any, args: argparse.Namespace) -> Any:
        raise UserError(f"domain '{self.name}' has no predict")


class Task:
    """A task plugin: a pipeline users run on top of one or more domains.

    Like a domain, a task owns a config dataclass (``config_class``) with named presets and short
    flag aliases; ``scipt finetune TASK`` resolves it in the same layers (preset < ``--config`` <
    flags, :mod:`sciPT.runconfig`).
    """

    name: str = ""
    summary: str = ""
    config_class: type = object
    unused_train_keys: tuple[str, ...] = ()
    """Keys of the config's ``train`` section this task never reads (a task whose fits are small
    single-device runs has no use for ``devices``): ``--help`` does not list them, and the task
    refuses them when set with :func:`sciPT.runconfig.refuse_unused_train_keys`, saying why. One
    that never reads ``max_steps`` is a closed-form fit: ``--resume`` says so."""
    resume_refusal: str | None = None
    """Why ``--resume`` is not for this task (``None``: it resumes from its checkpoints, or from
    what :meth:`resume_point` finds), as for a domain."""
    resumes_from: str = "its latest checkpoint"
    """What ``--resume`` continues a run from, as ``--help`` says it."""
    resume_unit: str = "checkpoint"
    """What ``--resume auto`` looks for in a run directory, as it says when there is none."""

    def resume_point(self, run: Any) -> str | None:
        """What ``--resume auto`` would continue the run directory ``run`` (a
        :class:`sciPT.run.RunDir`) from, in words (``None``: nothing, so the run starts). A task
        that keeps no checkpoint says what it keeps instead; by default, its latest checkpoint."""
        return checkpoint_point(run)

    def presets(self) -> dict[str, Callable[[], Any]]:
        """Named configurations; every task has at least ``tiny``."""
        raise NotImplementedError

    def default_preset(self, max_time_s: float | None) -> str:
        """The preset of a run whose command line names none; ``max_time_s``: its ``--max-time``
        budget in seconds, if it gave one (a task may pick a larger model for a longer budget)."""
        return "tiny"

    def flag_aliases(self) -> dict[str, str]:
        """Short command-line flags for common keys, e.g. ``{"train": "data.paths"}``."""
        return {}

    def add_finetune_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Options of ``scipt finetune NAME``: by default the run options and one flag per key."""
        from .runconfig import add_run_arguments

        parser.set_defaults(table=add_run_arguments(parser, self, f"runs/{self.name}"))

    def finetune(self, args: argparse.Namespace) -> Any:
        raise NotImplementedError

    def add_evaluate_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Options of ``scipt evaluate`` for a run written by this task."""

    def evaluate(self, run: Any, args: argparse.Namespace) -> Any:
        raise UserError(f"{run.path}: a {self.name} run cannot be evaluated")

    def add_predict_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Options of ``scipt predict`` for a run written by this task."""

    def predict(self, run: Any, args: argparse.Namespace) -> Any:
        raise UserError(f"task '{self.name}' has no predict")

    def commands(self) -> list[Command]:
        return []

    def demo(self, args: argparse.Namespace) -> Any:
        raise UserError(f"task '{self.name}' has no demo")


class Registry:
    """Name -> plugin, from one entry-point group; a plugin is imported only when it is asked for.

    Names come from the installed distributions' metadata, so listing them (``scipt --help``)
    imports nothing. An entry point may name the optional extra its plugin needs
    (``molecules = "sciPT.domains.molecules:domain [molecules]"``): if the plugin's libraries are
    missing, :meth:`get` says which ``pip install`` brings them (of the plugin's own distribution).
    A name two distributions register stays the built-in plugin's, with a warning; between two
    third-party ones it is refused when used.
    """

    def __init__(self, group: str, kind: str, base: type | tuple[type, ...]):
        self.group, self.kind, self.base = group, kind, base
        self._points: dict[str, Any] | None = None
        self._clashes: dict[str, list[Any]] = {}
        self._loaded: dict[str, Any] = {}

    def _entry_points(self) -> dict[str, Any]:
        if self._points is None:
            self._points = {}
            for point in entry_points(group=self.group):
                kept = self._points.setdefault(point.name, point)
                if kept is not point:
                    self._resolve_clash(kept, point)
        return self._points

    def _resolve_clash(self, kept: Any, point: Any) -> None:
        """Two distributions register one name. Which one an entry-point scan yields last depends on
        the order of sys.path and of installation, so neither may silently win: the built-in plugin
        keeps its name (with a warning), and between two third-party ones the name is refused."""
        dists = distribution(kept), distribution(point)
        if dists[0] == dists[1]:
            return
        if BUILTIN in dists:
            builtin, other = (kept, point) if dists[0] == BUILTIN else (point, kept)
            self._points[point.name] = builtin
            print(
                f"warning: two distributions register the {self.kind} '{point.name}': {BUILTIN} "
                f"({_target(builtin)}) and {distribution(other)} ({_target(other)}); the built-in "
                f"one is used (the other needs another name in {distribution(other)}'s entry points)",
                file=sys.stderr,
            )
        else:
            self._clashes.setdefault(point.name, [kept]).append(point)

    def register(self, name: str, plugin: Any) -> None:
        """Add a plugin by hand (for tests and notebooks); entry points are the normal route."""
        self._loaded[name] = plugin

    def entry_point(self, name: str) -> Any | None:
        """The installed entry point ``name`` (its metadata; nothing imported), or None."""
        return self._entry_points().get(name)

    def extras(self, name: str) -> list[str]:
        """The optional extras the entry point ``name`` says its plugin needs (none if unknown)."""
        point = self.entry_point(name)
        return list(point.extras) if point is not None else []

    def distribution(self, name: str) -> str | None:
        """The distribution (``pip install`` name) whose entry point ``name`` is, if known."""
        point = self.entry_point(name)
        return distribution(point) if point is not None else None

    def names(self) -> list[str]:
        return sorted({*self._entry_points(), *self._loaded})

    def get(self, name: str) -> Any:
        """The plugin ``name``, imported. A plugin that cannot be loaded raises :class:`PluginError`
        (one line, its ``reason`` for listings); so does a name two third-party distributions
        register. A built-in plugin that fails otherwise than by a missing extra is a bug in sciPT
        and keeps its traceback."""
        if name in self._loaded:
            return self._loaded[name]
        point = self._entry_points().get(name)
        if point is None:
            known = ", ".join(self.names()) or "none installed"
            raise UserError(f"unknown {self.kind} '{name}' (expected one of: {known})")
        if name in self._clashes:
            both = " and ".join(f"{distribution(p)} ({_target(p)})" for p in self._clashes[name])
            raise PluginError(
                f"the {self.kind} '{name}' is",
                f"registered by two distributions, {both}: uninstall one of them or rename its entry point",
            )
        dist = distribution(point)
        builtin = dist == BUILTIN
        if builtin:
            refuse_missing_extras(f"the {self.kind} '{name}'", point.extras)
        try:
            with missing_extra(
                f"the {self.kind} '{name}'", point.extras, dist or BUILTIN, own=point.module.split(".")[0]
            ):
                plugin = point.load()
        except UserError:
            raise
        except Exception as err:
            if builtin:
                raise
            raise PluginError(
                f"plugin '{name}' ({_target(point)}, from {dist})",
                f"failed to load: {type(err).__name__}: {err}",
            ) from err
        if not isinstance(plugin, self.base):
            if builtin:
                raise TypeError(
                    f"entry point '{point.name} = {point.value}' in group '{self.group}' is "
                    f"not a {self.kind} plugin"
                )
            bases = self.base if isinstance(self.base, tuple) else (self.base,)
            expected = " or ".join(_qualname(base) for base in bases)
            found = (
                f"the class {_qualname(plugin)} (name an instance of it)"
                if isinstance(plugin, type)
                else f"a value of type {_qualname(type(plugin))}"
            )
            raise PluginError(
                f"plugin '{name}' ({_target(point)}, from {dist})",
                f"is not a {self.kind} plugin: expected an instance of {expected}, found {found}",
            )
        self._loaded[name] = plugin
        return plugin

    def items(self):
        """Every plugin, imported (for listings that show each one's summary)."""
        return [(name, self.get(name)) for name in self.names()]


class PluginError(UserError):
    """A plugin that cannot be loaded. ``reason`` says why without naming it, for a listing that
    shows it beside the name; the message is ``"<who> <reason>"``."""

    def __init__(self, who: str, reason: str):
        super().__init__(f"{who} {reason}")
        self.reason = reason


# the distribution of the built-in plugins
BUILTIN = "scipt"


def distribution(point: Any) -> str | None:
    """The name of the distribution that declares the entry point ``point`` (normalized, as pip
    compares names), or None where unknown (an entry point made by hand)."""
    dist = getattr(point, "dist", None)
    name = getattr(dist, "name", None)
    return re.sub(r"[-_.]+", "-", name).lower() if name else None


def _target(point: Any) -> str:
    """``module:attr`` of an entry point, without its extras."""
    return point.value.split("[")[0].strip()


def _qualname(cls: type) -> str:
    return cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"


@contextmanager
def missing_extra(what: str, extras: list[str], dist: str = BUILTIN, own: str = "sciPT"):
    """Turn an ImportError of an optional library into one line naming the ``pip install``.

    ``extras``: the extras of the plugin that runs (from its entry point), of the distribution
    ``dist``; where none is known (a core command such as ``scipt data`` reaching a domain's
    library), the library's own extra of sciPT. A module of the package ``own`` (the plugin's own
    code) is no optional library: no extra brings it.
    """
    try:
        yield
    except ModuleNotFoundError as err:
        missing = (err.name or "").split(".")[0]
        if not missing:
            # a requirement checked by name, not an import (Lightning's "Requirement
            # 'transformer_engine>=0.11.0' not met"): no extra brings it, and its message says what does
            raise UserError(str(err)) from None
        if not extras and missing in OPTIONAL_MODULES:
            extras, dist = [OPTIONAL_MODULES[missing]], BUILTIN
        if not extras or missing in ("sciPT", own):
            raise
        names = ",".join(extras)
        raise PluginError(
            what, f"needs '{missing}', which is not installed: pip install '{dist}[{names}]'"
        ) from None


def refuse_missing_extras(what: str, extras: list[str]) -> None:
    """A built-in plugin whose extra is not installed is unavailable, in listings and commands
    alike, though its options would load: its plugins import the extra's libraries only when a run
    needs them (seconds of imports), so the import alone would not tell."""
    for extra in extras:
        for module in EXTRA_MODULES.get(extra, ()):
            if importlib.util.find_spec(module) is None:  # looked up, not imported
                raise PluginError(
                    what,
                    f"needs '{module}', which is not installed: pip install '{BUILTIN}[{','.join(extras)}]'",
                )


# extra of pyproject.toml -> the import names of the libraries it installs (a test checks them).
# In order of preference where two extras install one library: the smaller one first
EXTRA_MODULES = {
    "dna": ("Bio", "sklearn"),
    "protein": ("Bio", "sklearn"),
    "surrogates": ("scipy", "ht", "fluids"),
    "molecules": ("e3nn", "torch_geometric", "ase", "rdkit", "scipy"),
    "hf": ("transformers",),
}

# import name -> the extra named for it where no plugin's own extra is known (a core command):
# the first in EXTRA_MODULES that installs it
OPTIONAL_MODULES = {module: extra for extra, modules in reversed(EXTRA_MODULES.items()) for module in modules}


domains = Registry(DOMAIN_GROUP, "domain", Domain)
tasks = Registry(TASK_GROUP, "task", Task)
commands = Registry(COMMAND_GROUP, "command", (Domain, Task))


def checkpoint_point(run: Any) -> str | None:
    """``--resume auto``'s words for a run continued from its latest checkpoint (``None``: none)."""
    checkpoint = run.resume_checkpoint()
    return None if checkpoint is None else f"a checkpoint: resuming from {checkpoint}"
