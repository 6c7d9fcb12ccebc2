"""The run directory every training or evaluating command writes.

::

    RUN/config.yaml            the exact resolved configuration, enough to rerun
    RUN/metrics.json           final metrics, flat {name: number}
    RUN/model/                 config.json + model.safetensors (+ tokenizer or element table)
    RUN/checkpoints/last.ckpt  resumable Lightning checkpoint
    RUN/logs/                  CSV logs
    RUN/plots/*.png            figures
    RUN/report.md              what a person reads first

Commands validate all their input *before* calling :meth:`RunDir.create`, so bad input never leaves
a half-made run directory; every file is written atomically (:mod:`sciPT.io`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lightning.fabric.utilities.rank_zero import rank_zero_only

from . import io
from .errors import UserError


class RunDir:
    def __init__(self, path: str | Path):
        self.path = Path(path)

    # layout -------------------------------------------------------------------------------
    @property
    def config(self) -> Path:
        return self.path / "config.yaml"

    @property
    def metrics(self) -> Path:
        return self.path / "metrics.json"

    @property
    def model(self) -> Path:
        return self.path / "model"

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def last_checkpoint(self) -> Path:
        return self.checkpoints / "last.ckpt"

    @property
    def logs(self) -> Path:
        return self.path / "logs"

    @property
    def plots(self) -> Path:
        return self.path / "plots"

    @property
    def report(self) -> Path:
        return self.path / "report.md"

    # creation -----------------------------------------------------------------------------
    @classmethod
    def create(cls, path: str | Path, *, resume: bool = False) -> "RunDir":
        """Make (or, with ``resume``, reopen) a run directory.

        A non-empty directory is only reused with ``resume``, so a finished run is never
        overwritten by accident. In multi-process runs only rank 0 creates anything; the other
        ranks, started by Lightning after rank 0 got here, find it in place.
        """
        run = cls(path)
        if rank_zero_only.rank != 0:
            return run
        if resume:
            if not run.last_checkpoint.is_file():
                raise UserError(f"{run.last_checkpoint}: no checkpoint to resume from")
            return run
        if run.path.exists() and any(run.path.iterdir()):
            raise UserError(
                f"{run.path}: run directory already exists and is not empty "
                "(pass --resume to continue it, or choose another --out)"
            )
        run.path.mkdir(parents=True, exist_ok=True)
        return run

    # writing (rank 0 only) -----------------------------------------------------------------
    @rank_zero_only
    def write_config(self, config: dict[str, Any]) -> None:
        io.write_yaml(self.config, config)

    @rank_zero_only
    def write_metrics(self, metrics: dict[str, float]) -> None:
        """Merge ``metrics`` into metrics.json (later commands add to what earlier ones wrote)."""
        merged = self.read_metrics()
        merged.update(metrics)
        io.write_json(self.metrics, merged)

    @rank_zero_only
    def write_report(self, text: str) -> None:
        io.write_text(self.report, text)

    def read_metrics(self) -> dict[str, float]:
        if self.metrics.is_file():
            return json.loads(self.metrics.read_text())
        return {}

    def read_config(self) -> dict[str, Any]:
        return io.yaml.safe_load(self.config.read_text()) if self.config.is_file() else {}

    def plot_path(self, name: str) -> Path:
        self.plots.mkdir(parents=True, exist_ok=True)
        return self.plots / name


def open_run(path: str | Path) -> tuple[RunDir, Any]:
    """A run directory and the plugin that wrote it (its config.yaml names a task or a domain)."""
    from .registry import domains, tasks

    run = RunDir(path)
    if not run.config.is_file():
        raise UserError(f"{run.path}: not a run directory (no config.yaml)")
    config = run.read_config()
    if "task" in config:
        return run, tasks.get(config["task"])
    if "domain" in config:
        return run, domains.get(config["domain"])
    raise UserError(f"{run.config}: names neither a task nor a domain")
