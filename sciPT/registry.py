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
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, Callable

from .errors import UserError

DOMAIN_GROUP = "sciPT.domains"
TASK_GROUP = "sciPT.tasks"


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
            pre-training head, which is not exported.
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
    type :class:`sciPT.trainer.TrainConfig`) and implement the methods below. A domain whose
    pre-training is not a Lightning loop (a closed-form fit) may instead define
    ``pretrain(cfg, out, *, resume, command) -> RunDir``, which ``scipt pretrain`` then calls.
    """

    name: str = ""
    summary: str = ""
    config_class: type = object

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
        """Score a pre-training run's model on ``args.data``; write into ``args.evaluation_dir``."""
        raise UserError(f"{run.path}: a {self.name} pre-training run cannot be evaluated")

    def add_predict_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Options of ``scipt predict`` for a model exported by this domain."""

    def predict(self, run: Any, args: argparse.Namespace) -> Any:
        raise UserError(f"domain '{self.name}' has no predict")


class Task:
    """A task plugin: a pipeline users run on top of one or more domains."""

    name: str = ""
    summary: str = ""

    def add_finetune_arguments(self, parser: argparse.ArgumentParser) -> None:
        raise NotImplementedError

    def finetune(self, args: argparse.Namespace) -> Any:
        raise NotImplementedError

    def add_evaluate_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Options of ``scipt evaluate`` for a run written by this task."""

    def evaluate(self, run: Any, args: argparse.Namespace) -> Any:
        raise UserError(f"task '{self.name}' has no evaluate")

    def add_predict_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Options of ``scipt predict`` for a run written by this task."""

    def predict(self, run: Any, args: argparse.Namespace) -> Any:
        raise UserError(f"task '{self.name}' has no predict")

    def commands(self) -> list[Command]:
        return []

    def demo(self, args: argparse.Namespace) -> Any:
        raise UserError(f"task '{self.name}' has no demo")


class Registry:
    """Name -> plugin, loaded lazily from one entry-point group."""

    def __init__(self, group: str, kind: str, base: type):
        self.group, self.kind, self.base = group, kind, base
        self._items: dict[str, Any] | None = None

    def _load(self) -> dict[str, Any]:
        if self._items is None:
            items: dict[str, Any] = {}
            for ep in entry_points(group=self.group):
                plugin = ep.load()
                if not isinstance(plugin, self.base):
                    raise TypeError(
                        f"entry point '{ep.name} = {ep.value}' in group '{self.group}' is not a "
                        f"{self.base.__name__} instance"
                    )
                items[ep.name] = plugin
            self._items = dict(sorted(items.items()))
        return self._items

    def register(self, name: str, plugin: Any) -> None:
        """Add a plugin by hand (for tests and notebooks); entry points are the normal route."""
        self._load()[name] = plugin

    def names(self) -> list[str]:
        return list(self._load())

    def get(self, name: str) -> Any:
        items = self._load()
        if name not in items:
            known = ", ".join(items) or "none installed"
            raise UserError(f"unknown {self.kind} '{name}' (expected one of: {known})")
        return items[name]

    def items(self):
        return self._load().items()


domains = Registry(DOMAIN_GROUP, "domain", Domain)
tasks = Registry(TASK_GROUP, "task", Task)
