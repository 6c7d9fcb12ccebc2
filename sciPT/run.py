"""The run directory every training or evaluating command writes.

::

    RUN/config.yaml            the exact resolved configuration, enough to rerun
    RUN/metrics.json           final metrics, flat {name: number}
    RUN/model/                 config.json + model.safetensors (+ tokenizer or element table)
    RUN/checkpoints/last.ckpt  resumable Lightning checkpoint
    RUN/logs/                  CSV logs
    RUN/plots/*.png            figures
    RUN/report.md              what a person reads first
    RUN/evaluations/<data>/    one folder per ``scipt evaluate`` (:class:`EvaluationDir`)

Commands validate all their input *before* calling :meth:`RunDir.create`, so bad input never leaves
a half-made run directory; every file is written atomically (:mod:`sciPT.io`).

Evaluations. ``scipt evaluate RUN --data FILE`` never touches ``RUN/metrics.json`` (the training
figures) nor another evaluation: each goes to its own folder, ``RUN/evaluations/<name>/`` (or
``--out DIR``), named after the data file without its extensions (``test_300K.xyz`` ->
``test_300K``, ``held.fa.gz`` -> ``held``), with its own ``metrics.json`` (which records the data
file's path and SHA-256 beside the figures), ``plots/`` and ``report.md``; ``RUN/report.md`` keeps a
short "Evaluations" list linking each one. Evaluating the same file again (same SHA-256) replaces
its folder; a different file of the same name goes to ``<name>-2``, ``<name>-3``, ... (and says so);
an ``--out`` folder that holds anything else is refused. The folder is built under a hidden
temporary name beside its destination and renamed into place when complete, so a failed or killed
evaluation leaves no half-written folder and never damages the one it was to replace. Plugins
validate all their input first, then write through :meth:`RunDir.evaluation`::

    metrics, ... = ...                     # read and check the data, compute: nothing written yet
    with run.evaluation(args.data, args.out) as ev:
        figure = plots.something(..., ev.plot_path("parity.png"))
        ev.write_metrics(metrics)
        ev.write_report(["| metric | value |", ...], title="...")
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shlex
import shutil
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from . import io
from .errors import DataError, UserError

EVALUATIONS = "evaluations"


def command_line() -> str:
    """The command being run, as a shell would take it back: ``scipt`` and its quoted arguments."""
    return "scipt " + shlex.join(sys.argv[1:])


def global_rank() -> int:
    """This process's rank as Lightning set it; 0 where Lightning was never imported.

    Every process that Lightning (or torchrun through it) launches imports Lightning before it
    touches a run directory, so a process without it is a single-process command (a closed-form
    fit, an evaluation), and importing Lightning only to learn that would cost seconds.
    """
    module = sys.modules.get("lightning.fabric.utilities.rank_zero")
    return int(getattr(module.rank_zero_only, "rank", 0)) if module is not None else 0


def checkpoint_state(path: Path) -> dict[str, Any]:
    """A Lightning checkpoint, memory-mapped: its counters and callback states are read without
    loading its tensors."""
    from .checkpoint import load_lightning_checkpoint

    return load_lightning_checkpoint(path, mmap=True)


def checkpoint_step(path: Path) -> int:
    """The training step a Lightning checkpoint was saved at."""
    return int(checkpoint_state(path).get("global_step", 0))


_PASSED_OVER: set[Path] = set()
"""Damaged checkpoints this process has warned about (:meth:`RunDir.resume_checkpoint`)."""


def rank_zero_only(method):
    """Run ``method`` on rank 0 only (``None`` elsewhere)."""

    def wrapper(*args, **kwargs):
        return method(*args, **kwargs) if global_rank() == 0 else None

    wrapper.__name__, wrapper.__doc__ = method.__name__, method.__doc__
    return wrapper


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

    def hpc_checkpoints(self) -> list[Path]:
        """The checkpoints Lightning saves when SLURM signals a job before its time limit
        (``sbatch --signal``; ``hpc_ckpt_<n>.ckpt`` in the run directory, its default root), oldest
        first."""
        found = [
            (int(p.stem.rsplit("_", 1)[1]), p)
            for p in self.path.glob("hpc_ckpt_*.ckpt")
            if p.stem.rsplit("_", 1)[1].isdigit()
        ]
        return [p for _, p in sorted(found)]

    def resume_checkpoint(self) -> Path | None:
        """The checkpoint a resumed run continues from: of ``checkpoints/last.ckpt`` and the newest
        readable SLURM checkpoint (:meth:`hpc_checkpoints`), the one at the later training step
        (``last.ckpt`` on a tie), ``None`` if there is neither.

        A job that SLURM signalled saves its state at that moment, after the last periodic
        checkpoint; once the continued run saves ``last.ckpt`` again, that one is further on. Steps,
        not file times, decide: a copied run directory, or nodes whose clocks differ, keep the
        order of the steps. A file that cannot be read (copied in part, a disk fault) is passed over
        with a warning while another can be read."""
        from .checkpoint import UnreadableCheckpoint

        hpc = self.hpc_checkpoints()
        candidates = [p for p in (*reversed(hpc), self.last_checkpoint) if p.is_file()]
        steps: dict[Path, int] = {}
        for path in candidates:
            if path in hpc and any(p in hpc for p in steps):
                continue  # a newer SLURM checkpoint was read: this one is earlier in the run
            try:
                steps[path] = checkpoint_step(path)
            except UnreadableCheckpoint as error:
                if len(candidates) == 1:
                    raise
                if global_rank() == 0 and path not in _PASSED_OVER:
                    _PASSED_OVER.add(path)
                    print(f"warning: {error}; passed over", file=sys.stderr)
        if candidates and not steps:
            raise UserError(
                f"{self.path}: no readable checkpoint ({' and '.join(map(str, candidates))} are damaged)"
            )
        return max(steps, key=lambda p: (steps[p], p == self.last_checkpoint), default=None)

    def finished(self, max_steps: int | None, max_time: Any = None) -> int | None:
        """The step of a run that is complete (``None``: it is not): exported, and with its newest
        checkpoint at or past ``max_steps``; or, with the same ``max_time`` as it was started with,
        its budget spent (Lightning's timer, restored, would stop it at once) or, for a run sized by
        its time budget (``max_steps`` ``None``), at the total the budget settled on. A larger
        budget continues it."""
        checkpoint = self.resume_checkpoint()
        if checkpoint is None or not (self.model / "config.json").is_file():
            return None
        state = checkpoint_state(checkpoint)
        step = int(state.get("global_step", 0))
        if max_steps is not None and step >= max_steps:
            return step
        if max_time is None or (self.read_config().get("train") or {}).get("max_time") != max_time:
            return None
        from .trainer import max_time_seconds

        callbacks = state.get("callbacks", {})
        timer = callbacks.get("Timer", {}).get("time_elapsed", {})
        if timer.get("train", 0.0) >= max_time_seconds(max_time):
            return step
        # the time budget's own record (sciPT.callbacks.TimeBudget): the total it settled on
        budget = next((v for k, v in callbacks.items() if "TimeBudget" in k), {})
        total = budget.get("total_steps")
        return step if max_steps is None and total is not None and step >= total else None

    def say_finished(self, step: int, max_steps: int | None, max_time: Any = None) -> None:
        """One line (rank 0) for a run resumed once it was complete (a chained job run once more):
        the run, its export and its figures are left as they are."""
        if global_rank() == 0:
            by_steps = max_steps is not None and step >= max_steps  # else its time ran out
            limit = f"--max-steps {max_steps}" if by_steps else f"--max-time {max_time}"
            more = "--max-steps" if by_steps else "--max-time"
            print(
                f"{self.path}: already finished at step {step} ({limit}) "
                f"and exported: nothing to do (a larger {more} continues it)",
                file=sys.stderr,
            )

    def drop_superseded_hpc_checkpoints(self) -> None:
        """Remove the SLURM checkpoints that ``last.ckpt`` is at or past (each holds a whole
        training state); run by rank 0 when a run has ended and saved it."""
        if not self.last_checkpoint.is_file():
            return
        from .checkpoint import UnreadableCheckpoint

        last = checkpoint_step(self.last_checkpoint)
        for path in self.hpc_checkpoints():
            try:
                superseded = checkpoint_step(path) <= last
            except UnreadableCheckpoint:
                superseded = True  # a save cut short: nothing to continue from
            if superseded:
                path.unlink()

    LOCK = ".scipt.lock"
    """Held by the process training in the run directory (:func:`hold_lock`)."""

    SCIPT_ENTRIES = ("config.yaml", "logs", "checkpoints", "plots", "metrics.json", "report.md", LOCK)
    """What a training run writes before its first checkpoint (and the checkpoint folder itself)."""

    def unstarted(self) -> bool:
        """Whether this is the directory of a run that stopped before its first checkpoint (bad
        input found once training began, a job killed early): one holding a ``config.yaml``, no
        checkpoint, no exported model and nothing but what a run writes (:attr:`SCIPT_ENTRIES`,
        temporary files)."""
        if not self.config.is_file() or self.model.exists() or self.resume_checkpoint() is not None:
            return False
        ours = lambda e: e.name in self.SCIPT_ENTRIES or (e.name.startswith(".") and e.name.endswith(".tmp"))  # noqa: E731
        return all(ours(e) for e in self.path.iterdir()) and not any(self.checkpoints.glob("*.ckpt"))

    def clear_unstarted(self) -> None:
        """Empty the directory of a run that stopped before its first checkpoint (:meth:`unstarted`),
        so that it can start again in place; any other is left alone."""
        if not self.unstarted():
            return
        for entry in (e for e in self.path.iterdir() if e.name != self.LOCK):  # the lock stays held
            shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()

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
    def create(cls, path: str | Path, *, resume: bool = False, resumable: bool = True) -> RunDir:
        """Make (or, with ``resume``, reopen) a run directory.

        A non-empty directory is only reused with ``resume``, so a finished run is never
        overwritten by accident (``resumable`` False: a command without checkpoints, whose refusal
        does not suggest ``--resume``). In multi-process runs only rank 0 creates anything; the other
        ranks, started by Lightning after rank 0 got here, find it in place.

        Rank 0 holds the directory's lock (:attr:`LOCK`) until it exits, so a second job sent to
        the same directory (a SLURM requeue and an ``afterany`` chain both running) is refused
        instead of training beside the first; the lock is taken before the directory is looked at.
        """
        run = cls(path)
        if global_rank() != 0:
            return run
        if run.path.exists() and not run.path.is_dir():
            raise UserError(f"{run.path}: --out names a file, not a directory")
        if resume:
            made_lock = run.path.is_dir() and not (run.path / run.LOCK).exists()
            if run.path.is_dir():
                run.lock()
            chosen = run.resume_checkpoint()
            if chosen is None:
                if made_lock:  # a folder that holds no run keeps nothing of this refusal
                    run.unlock()
                    (run.path / run.LOCK).unlink(missing_ok=True)
                raise UserError(f"{run.last_checkpoint}: no checkpoint to resume from")
            # each SLURM checkpoint is saved later in the run than those before it, and last.ckpt,
            # when chosen, is past them all: only the chosen one can be continued from (the other
            # ranks, looking after these are gone, choose the same)
            for stale in run.hpc_checkpoints():
                if stale != chosen:
                    stale.unlink()
            return run
        # looked at before the lock is taken (a refused folder gets no lock file) and again after
        # (a job that took it first may have written there meanwhile)
        run.refuse_unless_startable(resumable)
        run.path.mkdir(parents=True, exist_ok=True)
        run.lock()
        if run.unstarted():
            print(
                f"{run.path}: holds a run stopped before its first checkpoint: starting it again",
                file=sys.stderr,
            )
            run.clear_unstarted()
        run.refuse_if_used(resumable)
        return run

    def refuse_unless_startable(self, resumable: bool) -> None:
        """:meth:`refuse_if_used`, except for a run stopped before its first checkpoint
        (:meth:`unstarted`): the same command run again after a refusal that came once training
        had begun starts in place."""
        if not (self.path.is_dir() and self.unstarted()):
            self.refuse_if_used(resumable)

    def refuse_if_used(self, resumable: bool) -> None:
        if self.path.exists() and any(e.name != self.LOCK for e in self.path.iterdir()):
            raise UserError(
                f"{self.path}: run directory already exists and is not empty "
                + (
                    "(pass --resume to continue it, or choose another --out)"
                    if resumable
                    else "(choose another --out)"
                )
            )

    def lock(self) -> None:
        """Hold this run directory's lock until :meth:`unlock` or the process ends (:func:`hold_lock`)."""
        from .locks import hold_lock

        hold_lock(self.path / self.LOCK)

    def unlock(self) -> None:
        """Release this run directory's lock (training in it has ended)."""
        from .locks import release_lock

        release_lock(self.path / self.LOCK)

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
        return io.read_json(self.metrics) if self.metrics.is_file() else {}

    def read_config(self) -> dict[str, Any]:
        from .config import load_yaml

        return load_yaml(self.config) if self.config.is_file() else {}

    def plot_path(self, name: str) -> Path:
        self.plots.mkdir(parents=True, exist_ok=True)
        return self.plots / name

    # evaluations ---------------------------------------------------------------------------
    @property
    def evaluations(self) -> Path:
        return self.path / EVALUATIONS

    def evaluation(self, data: str | Path, out: str | Path | None = None) -> EvaluationDir:
        """The folder an evaluation of this run on ``data`` goes to (``out``, or
        ``RUN/evaluations/<name>``); nothing is written until it is entered as a context."""
        return EvaluationDir(self, data, out)

    def link_evaluation(self, evaluation: EvaluationDir) -> None:
        """Add (or refresh) ``evaluation``'s line in the "Evaluations" list of report.md."""
        target = (
            Path(os.path.relpath(evaluation.report, self.path))
            if _same_drive(evaluation.report, self.path)
            else evaluation.report.absolute()
        )
        link = target.as_posix()
        entry = (
            f"- [{evaluation.path.name}]({link}): `{evaluation.data}` (sha256 "
            f"`{evaluation.sha256[:16]}…`), {dt.datetime.now().isoformat(timespec='seconds')}"
        )
        text = self.report.read_text(encoding="utf-8") if self.report.is_file() else ""
        lines = text.split("\n")
        heading = "## Evaluations"
        if heading in lines:
            start = lines.index(heading)
            end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("#")), len(lines))
        else:
            start = end = next((i for i, line in enumerate(lines) if line == "## Configuration"), len(lines))
            if end == len(lines) and lines and lines[-1] == "":
                start = end = len(lines) - 1
        kept = [
            line
            for line in lines[start + 1 : end]
            if line.startswith("- [") and _linked(line) != link and self._link_alive(_linked(line))
        ]
        section = [heading, "", *kept, entry, ""]
        before = lines[:start]
        if before and before[-1] != "":
            before.append("")
        io.write_text(self.report, "\n".join(before + section + lines[end:]).rstrip("\n") + "\n")

    def _link_alive(self, link: str) -> bool:
        target = Path(link)
        return (target if target.is_absolute() else self.path / target).is_file()


def _linked(entry: str) -> str:
    """The link target of an "Evaluations" list entry, ``- [name](target): ...``."""
    return entry.split("](", 1)[1].split(")", 1)[0] if "](" in entry else ""


def _same_drive(a: Path, b: Path) -> bool:
    return Path(a).absolute().drive == Path(b).absolute().drive


def data_name(path: str | Path) -> str:
    """A data file's name without its extensions: ``test_300K.xyz`` -> ``test_300K``,
    ``held.fa.gz`` -> ``held`` (``data`` for a name that is all extension)."""
    return Path(path).name.lstrip(".").split(".", 1)[0] or "data"


class EvaluationDir:
    """Where one evaluation is written: its ``metrics.json``, ``plots/`` and ``report.md``.

    Created by :meth:`RunDir.evaluation`; the folder is chosen at once (so a clash with an
    ``--out`` folder is refused before anything is written) and filled inside ``with``: the files go
    to a hidden temporary folder beside the destination, renamed into place when the block ends
    without error (then ``RUN/report.md`` links it); on error the temporary folder is removed.

    Attributes:
        run: the run evaluated. data: the data file. sha256: its digest.
        path: the destination folder. replaces: whether it holds an earlier evaluation of the
            same file, which is replaced.
    """

    def __init__(self, run: RunDir, data: str | Path, out: str | Path | None = None):
        from .files import file_sha256, resolve_data_path

        self.run = run
        self.data = resolve_data_path(data).absolute()  # as the plugin found it: shipped files too
        if not self.data.is_file():
            raise DataError(f"{data}: file not found")
        self.sha256 = file_sha256(self.data)
        self.explicit = out is not None
        self.note = ""
        self._base = Path(out) if out is not None else run.evaluations / data_name(data)
        self.path, self.replaces = (
            self._check_out(self._base) if out is not None else self._choose(self._base)
        )
        self._staging: Path | None = None

    # choosing the folder ----------------------------------------------------------------------
    def _holds_same(self, folder: Path) -> bool:
        try:
            return json.loads((folder / "metrics.json").read_text()).get("data_sha256") == self.sha256
        except (OSError, ValueError, AttributeError):
            return False

    def _describe(self, folder: Path) -> str:
        try:
            saved = json.loads((folder / "metrics.json").read_text())
            return f"the evaluation of {saved['data']} (sha256 {saved['data_sha256'][:16]}…)"
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return "other files"

    def _check_out(self, out: Path) -> tuple[Path, bool]:
        if out.exists() and not out.is_dir():
            raise UserError(f"--out {out}: is a file; expected a folder for the evaluation")
        if not out.exists() or not any(out.iterdir()):
            return out, False
        if self._holds_same(out):
            return out, True
        raise UserError(
            f"--out {out}: already holds {self._describe(out)}; an evaluation never "
            f"overwrites another (choose another --out)"
        )

    def _choose(self, base: Path) -> tuple[Path, bool]:
        """``base``, else ``base-2``, ``base-3``, ...: the one that holds this very file (replaced),
        else the first that is free."""
        candidates, k = [], 1
        while True:
            unused = base if k == 1 else base.with_name(f"{base.name}-{k}")
            if not unused.exists():
                break
            candidates.append(unused)
            k += 1
        same = next((f for f in candidates if self._holds_same(f)), None)
        if same is not None:
            return same, True
        free = next((f for f in candidates if f.is_dir() and not any(f.iterdir())), unused)
        if free != base:
            self.note = f"{base} holds {self._describe(base)}; this evaluation of {self.data} goes to {free}"
        return free, False

    # the files --------------------------------------------------------------------------------
    @property
    def metrics(self) -> Path:
        return self.path / "metrics.json"

    @property
    def report(self) -> Path:
        return self.path / "report.md"

    def _folder(self) -> Path:
        if self._staging is None:
            raise RuntimeError("write an evaluation inside 'with run.evaluation(...) as ev:'")
        return self._staging

    def plot_path(self, name: str) -> Path:
        plots = self._folder() / "plots"
        plots.mkdir(parents=True, exist_ok=True)
        return plots / name

    def write_metrics(self, metrics: dict[str, Any]) -> None:
        """``metrics.json``: the data file's path and SHA-256, then ``metrics``."""
        io.write_json(
            self._folder() / "metrics.json", {"data": str(self.data), "data_sha256": self.sha256, **metrics}
        )

    def write_report(self, body: str | Iterable[str], title: str | None = None) -> None:
        """``report.md``: a heading, the run, the data file and its SHA-256, then ``body``
        (markdown; plots are linked as ``plots/NAME.png``)."""
        from . import __version__

        text = body if isinstance(body, str) else "\n".join(body)
        head = [
            f"# {title or f'Evaluation on {self.data.name}'}",
            "",
            f"Written {dt.datetime.now().isoformat(timespec='seconds')} by sciPT {__version__}.",
            "",
            f"- run: `{self.run.path.absolute()}`",
            f"- data: `{self.data}`",
            f"- sha256: `{self.sha256}`",
            "",
        ]
        if Path(sys.argv[0]).stem in ("scipt", "cli"):  # the command line, not a Python caller's
            head += ["Command:", "", "    " + command_line(), ""]
        io.write_text(self._folder() / "report.md", "\n".join(head) + "\n" + text.rstrip("\n") + "\n")

    # writing ----------------------------------------------------------------------------------
    def __enter__(self) -> EvaluationDir:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._staging = Path(
            tempfile.mkdtemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
        )
        os.chmod(self._staging, 0o777 & ~io._umask())
        return self

    def __exit__(self, kind, error, traceback) -> None:
        staging, self._staging = self._staging, None
        if kind is not None:
            shutil.rmtree(staging, ignore_errors=True)
            return
        try:
            self._commit(staging)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        if self.note:
            print(f"note: {self.note}", file=sys.stderr)
        elif self.replaces:
            print(f"note: replaced the earlier evaluation of the same file in {self.path}", file=sys.stderr)
        self.run.link_evaluation(self)
        print(f"evaluation written to {self.path}", file=sys.stderr)

    def _commit(self, staging: Path) -> None:
        # chosen when the evaluation began; checked again in case another one took the folder since
        if self.path.exists() and any(self.path.iterdir()) and not self._holds_same(self.path):
            self.path, self.replaces = (
                self._check_out(self._base) if self.explicit else self._choose(self._base)
            )
        if self.path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{self.path.name}.", suffix=".old", dir=self.path.parent))
            os.replace(self.path, old / "previous")
            os.replace(staging, self.path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(staging, self.path)


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
