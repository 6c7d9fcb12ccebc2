"""The run directory every training or evaluating command writes.

::

    RUN/config.yaml            the exact resolved configuration, enough to rerun
    RUN/metrics.json           final metrics, flat {name: number}
    RUN/model/                 config.json + model.safetensors (+ tokenizer or element table)
    RUN/checkpoints/last.ckpt  resumable Lightning checkpoint
    RUN/logs/                  CSV logs
    RUN/plots/*.png            figures
    RUN/report.md              what a person reads first
    RUN/evaluations/<data>/    one folder per ``scipt evaluate`` (:mod:`sciPT.evaluations`)

Commands validate all their input *before* calling :meth:`RunDir.create`, so bad input never leaves
a half-made run directory; every file is written atomically (:mod:`sciPT.io`). A run written in
one go (a closed-form calibration) is written inside :meth:`RunDir.all_or_nothing`, so a failure
on the way leaves none of it; a trained run keeps its checkpoints for ``--resume``.

An evaluation's folder, and how it is chosen and written, is :mod:`sciPT.evaluations`'.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import io
from .errors import UserError

if TYPE_CHECKING:
    from .evaluations import EvaluationDir

EVALUATIONS = "evaluations"


def command_line() -> str:
    """The command being run, as a shell would take it back: ``scipt`` and its quoted arguments."""
    return "scipt " + shlex.join(sys.argv[1:])


def say(line: str) -> None:
    """``line`` on standard error, from rank 0 alone: a note about data every rank reads alike,
    printed by each, read as that many problems."""
    if global_rank() == 0:
        print(line, file=sys.stderr)


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
        """The step of a run that is complete (``None``: it is not): exported and reported (the
        report is written last: a run stopped between its export and its report is resumed at its
        last step, which trains nothing and writes the rest), and with its newest checkpoint at or
        past ``max_steps``; or, with the same ``max_time`` as it was started with,
        its budget spent (Lightning's timer, restored, would stop it at once) or, for a run sized by
        its time budget (``max_steps`` ``None``), at the total the budget settled on. A larger
        budget continues it."""
        checkpoint = self.resume_checkpoint()
        if checkpoint is None or not (self.model / "config.json").is_file() or not self.report.is_file():
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

    SCIPT_ENTRIES = (
        "config.yaml",
        "logs",
        "checkpoints",
        "plots",
        "metrics.json",
        "report.md",
        "law.json",  # a surrogate calibration's, written after its model
        LOCK,
    )
    """What a training run writes before its first checkpoint (and the checkpoint folder itself)."""

    def unstarted(self) -> bool:
        """Whether this is the directory of a run that stopped before its first checkpoint (bad
        input found once training began, a job killed early): one holding the lock file a run
        takes first, a ``config.yaml`` naming a domain or task, no checkpoint, no exported model
        and nothing but what a run writes (:attr:`SCIPT_ENTRIES`, temporary files). Another tool's
        folder of the same names (its own config.yaml, logs/, metrics.json) is not one: it was
        emptied as one."""
        if not self.config.is_file() or not (self.path / self.LOCK).is_file():
            return False
        if self.model.exists() or self.resume_checkpoint() is not None:
            return False
        ours = lambda e: e.name in self.SCIPT_ENTRIES or (e.name.startswith(".") and e.name.endswith(".tmp"))  # noqa: E731
        if not all(ours(e) for e in self.path.iterdir()) or any(self.checkpoints.glob("*.ckpt")):
            return False
        try:
            config = self.read_config()
        except (UserError, UnicodeDecodeError):  # not YAML sciPT reads: not a config it wrote
            return False
        return isinstance(config, dict) and ("domain" in config or "task" in config)

    def clear_unstarted(self) -> None:
        """Empty the directory of a run that stopped before its first checkpoint (:meth:`unstarted`),
        so that it can start again in place; any other is left alone."""
        if self.unstarted():
            self._empty()

    def _empty(self) -> None:
        """Remove everything in the directory but its lock (which stays held)."""
        for entry in (e for e in self.path.iterdir() if e.name != self.LOCK):
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
        io.make_folder(run.path)
        run.lock()
        if run.unstarted():
            print(
                f"{run.path}: holds a run stopped before its first checkpoint: starting it again",
                file=sys.stderr,
            )
            run.clear_unstarted()
        run.refuse_if_used(resumable)
        return run

    @contextlib.contextmanager
    def all_or_nothing(self):
        """For a run written in one go, with no checkpoint to continue from (a closed-form
        calibration): if the command stops on the way with an exception (an error, Ctrl-C; a
        SIGTERM inside :func:`.signals.sigterm_raises`), what it wrote is removed, so the folder
        holds no half-run to predict with and the same command can run again. Only for a
        directory :meth:`create` found empty: everything in it but the lock is this command's."""
        try:
            yield self
        except BaseException:
            if global_rank() == 0 and self.path.is_dir():
                self._empty()
            raise

    def refuse_unless_startable(self, resumable: bool) -> None:
        """:meth:`refuse_if_used`, except for a run stopped before its first checkpoint
        (:meth:`unstarted`): the same command run again after a refusal that came once training
        had begun starts in place; and :meth:`refuse_inside_a_run`."""
        self.refuse_inside_a_run()
        if not (self.path.is_dir() and self.unstarted()):
            self.refuse_if_used(resumable)

    def refuse_inside_a_run(self) -> None:
        """Refuse a new run inside another run's directory: a run's folder holds that run alone, so
        that copying or removing one never takes another along. A run is recognised by
        its ``config.yaml`` beside the lock every run takes (:attr:`LOCK`), as a ``config.yaml``
        alone is as likely another tool's. Not looked at for ``--resume``: a run nested before this
        was refused still continues; nor for what a command writes into a run (``RUN/evaluations``,
        ``RUN/model``), which is no run directory."""
        for parent in Path(os.path.abspath(self.path)).parents:
            if (parent / "config.yaml").is_file() and (parent / self.LOCK).is_file():
                shown = parent if self.path.is_absolute() else Path(os.path.relpath(parent))
                raise UserError(
                    f"{self.path}: --out is inside the run directory {shown}; choose an --out outside it"
                )

    def refuse_if_used(self, resumable: bool) -> None:
        if self.path.exists() and not self.path.is_dir():
            raise UserError(f"{self.path}: --out names a file, not a directory")
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
    def write_config(self, config: dict[str, Any], paths: tuple[str, ...] = ()) -> None:
        """Write config.yaml; the files and folders at the dotted keys ``paths`` as absolute paths
        (:func:`recorded_path`), so that a ``--resume`` or a ``--config`` from another directory
        (a SLURM job's) reads what this run read, not whatever of that name lies there."""
        io.write_yaml(self.config, with_recorded_paths(config, paths))

    @rank_zero_only
    def write_metrics(self, metrics: dict[str, float]) -> None:
        """Write metrics.json: the training command's outcome, whole (a resumed run's replaces the
        earlier process's, whose keys, such as the steps a time budget sized, no longer hold;
        evaluations write into their own folders)."""
        io.write_json(self.metrics, metrics)

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
        from .evaluations import EvaluationDir

        return EvaluationDir(self, data, out)


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


def recorded_path(value: Any) -> Any:
    """``value``, a path as typed (``hf:DIR`` included), made absolute where it names something
    that exists; a shipped ``data_recipes/...`` path (found from any directory, :func:`sciPT.files.
    resolve_data_path`) and anything else (``none``, a missing file, a library name) as it is."""
    from .files import SHIPPED, resolve_data_path, shipped_path

    if not isinstance(value, str) or not value:
        return value
    prefix, rest = ("hf:", value[3:]) if value.startswith("hf:") else ("", value)
    found, shipped = resolve_data_path(rest), shipped_path(rest)
    if (
        Path(rest).parts[:1] == (SHIPPED,)
        and found.exists()
        and shipped.exists()
        and os.path.samefile(found, shipped)
    ):
        # a shipped file: found from any directory as it is, and recognised as the preset's by its
        # spelling (the molecules preset's isolated atoms are not applied to a user's --data); a
        # user's own ./data_recipes/ file is recorded by absolute path like any other
        return value
    return prefix + os.path.abspath(found) if rest != "none" and found.exists() else value


def with_recorded_paths(config: dict[str, Any], paths: tuple[str, ...]) -> dict[str, Any]:
    """A copy of ``config`` with the values at the dotted keys ``paths`` (a path, or a list of
    them) through :func:`recorded_path`; keys it does not hold are skipped."""
    import copy

    out = copy.deepcopy(config)
    for key in paths:
        *sections, name = key.split(".")
        node = out
        for section in sections:
            node = node.get(section) if isinstance(node, dict) else None
        if isinstance(node, dict) and name in node:
            value = node[name]
            node[name] = (
                [recorded_path(v) for v in value] if isinstance(value, list) else recorded_path(value)
            )
    return out
