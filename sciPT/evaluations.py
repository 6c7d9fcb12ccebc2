"""The folder of one evaluation of a run (:class:`EvaluationDir`) and its line in the run's report.

``scipt evaluate RUN --data FILE`` never touches ``RUN/metrics.json`` (the training
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
import re
import shutil
import sys
import urllib.parse
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import io
from .errors import DataError, UserError
from .run import command_line

if TYPE_CHECKING:
    from .run import RunDir


def _linked(entry: str) -> str:
    """The link target of an "Evaluations" list entry, ``- [name](target): ...`` (URL-quoted: no
    ``)`` in it)."""
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
        from .files import file_sha256, refuse_directory, resolve_data_path

        self.run = run
        self.data = resolve_data_path(data).absolute()  # as the plugin found it: shipped files too
        refuse_directory(self.data, "the data to evaluate on")
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
            saved = json.loads((folder / "metrics.json").read_text())
            same_data = saved.get("data_sha256") == self.sha256
        except (OSError, ValueError, AttributeError):
            return False
        # the same file evaluated by another run (--out inside that run's evaluations/) is not this
        # run's to replace; a folder inside this run is, wherever the run has moved since
        inside = Path(folder).absolute().is_relative_to(self.run.path.absolute())
        return same_data and (inside or saved.get("run") in (None, str(self.run.path.absolute())))

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
        """``metrics.json``: the run evaluated, the data file's path and SHA-256, then ``metrics``."""
        io.write_json(
            self._folder() / "metrics.json",
            {
                "run": str(self.run.path.absolute()),
                "data": str(self.data),
                "data_sha256": self.sha256,
                **metrics,
            },
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
        self._staging = io.new_staging(self.path)
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
        link_evaluation(self.run, self)
        print(f"evaluation written to {self.path}", file=sys.stderr)

    def _commit(self, staging: Path) -> None:
        # chosen when the evaluation began; checked again in case another one took the folder since
        if self.path.exists() and any(self.path.iterdir()) and not self._holds_same(self.path):
            self.path, self.replaces = (
                self._check_out(self._base) if self.explicit else self._choose(self._base)
            )
        io.replace_folder(staging, self.path)


def link_evaluation(run: RunDir, evaluation: EvaluationDir) -> None:
    """Add (or refresh) ``evaluation``'s line in the "Evaluations" list of ``run``'s report.md."""
    target = (
        Path(os.path.relpath(evaluation.report, run.path))
        if _same_drive(evaluation.report, run.path)
        else evaluation.report.absolute()
    )
    # quoted: a space, '#' or ')' in a data file's name (`ratios (1).csv`) broke the link
    link = urllib.parse.quote(target.as_posix())
    # backslashes too: `a\](b` with its bracket alone escaped read `a\\](b`, a label ending at `]`
    label = re.sub(r"([\\\[\]])", r"\\\1", evaluation.path.name)
    entry = (
        f"- [{label}]({link}): `{evaluation.data}` (sha256 "
        f"`{evaluation.sha256[:16]}…`), {dt.datetime.now().isoformat(timespec='seconds')}"
    )
    text = run.report.read_text(encoding="utf-8") if run.report.is_file() else ""
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
        if line.startswith("- [")
        and urllib.parse.unquote(_linked(line)) != urllib.parse.unquote(link)
        and _link_alive(run, _linked(line))
    ]
    section = [heading, "", *kept, entry, ""]
    before = lines[:start]
    if before and before[-1] != "":
        before.append("")
    io.write_text(run.report, "\n".join(before + section + lines[end:]).rstrip("\n") + "\n")


def _link_alive(run: RunDir, link: str) -> bool:
    target = Path(urllib.parse.unquote(link))
    return (target if target.is_absolute() else run.path / target).is_file()
