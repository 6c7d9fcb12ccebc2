"""Atomic file writing: a killed run never leaves a torn file.

Every file a run writes goes through these helpers: the content is written to a temporary file in
the same folder, flushed, then renamed over the target (``os.replace`` is atomic on POSIX and
Windows when both paths are on the same file system). Files that only make sense together (an
export's weights and config, an evaluation's metrics and report) are written into a temporary
folder that replaces the old one whole (:func:`staged_folder`): a kill leaves the old folder or the
new one, or for the instant between two renames none (the new one then waits beside it, hidden),
never the new weights under the old config.
"""

from __future__ import annotations

import argparse
import errno
import gzip
import json
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from io import TextIOWrapper
from pathlib import Path
from typing import Any, TextIO

import yaml

from .errors import DataError, UserError


def output_file(text: str) -> str:
    """The argparse type of an ``--output`` file: refused at once when it names a directory (the
    rename at the end of the work would fail)."""
    if not text.strip():  # an unset shell variable: Path('') is the working directory
        raise argparse.ArgumentTypeError("empty; expected a file name")
    if Path(text).is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a directory; expected a file name")
    return text


PARTIAL_SUFFIX = ".partial"


def partial_path(output: str | os.PathLike) -> Path:
    """Where a command that writes ``output`` as it goes keeps it until it ends: ``OUTPUT.partial``
    (``scipt md``'s trajectory, ``scipt scan``'s bedGraph). One line where that name would be
    longer than a file name may be (a traceback before)."""
    partial = Path(f"{output}{PARTIAL_SUFFIX}")
    folder = os.path.realpath(partial.parent)
    if is_stream(output) and (folder == "/dev" or folder.startswith(("/dev/", "/proc/"))):
        # /dev/stdout.partial: no file to create there (a user may not; root would litter /dev)
        raise UserError(
            f"{output}: this command keeps {partial.name} beside its output while it writes, and "
            f"{partial.parent} holds no such file: name a file, or a link to {output} in a folder "
            "of your own"
        )
    length = len(os.fsencode(partial.name))
    if length > 255:
        raise UserError(
            f"{output}: name too long for the file kept beside it while it is written "
            f"({partial.name[:24]}...{PARTIAL_SUFFIX}, {length} bytes; at most 255): give a shorter name"
        )
    return partial


def make_folder(folder: str | os.PathLike, named: str | os.PathLike | None = None) -> None:
    """Make ``folder`` and its parents; one line naming ``named`` (what was to be written there; the
    folder itself by default) where one of them is a file or the system refuses (its reason)."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:  # a file in the way, no permission, a read-only or virtual file system
        blocking = next((p for p in [folder, *folder.parents] if p.exists() and not p.is_dir()), None)
        if blocking is not None:
            raise UserError(
                f"{named or folder}: cannot be written: {blocking} is a file, not a folder"
            ) from None
        failed = err.filename or folder
        raise UserError(
            f"{named or folder}: cannot be written: cannot make the folder {failed}: {err.strerror}"
        ) from None


def refuse_unless_empty_folder(out: Path) -> None:
    """One line unless ``out`` is missing or an empty folder: a demo writes several runs there and
    must neither mix them with an earlier demo's nor list a file as a folder."""
    if out.exists() and not out.is_dir():
        raise UserError(f"{out}: --out names a file, not a directory")
    if out.exists() and any(out.iterdir()):
        raise UserError(f"{out}: exists and is not empty (choose another --out)")


def cache_dir(kind: str) -> Path:
    """``$SCIPT_CACHE/kind`` (``~/.cache/scipt/kind`` by default), made if need be: one line where
    it cannot be, or where there is no home directory to put it in (a container's unknown user)."""
    root = os.environ.get("SCIPT_CACHE")
    if not root:
        try:
            root = Path.home() / ".cache" / "scipt"
        except RuntimeError:
            raise UserError(
                "no home directory to keep sciPT's cache in: set SCIPT_CACHE to a writable folder"
            ) from None
    folder = Path(root).expanduser() / kind  # SCIPT_CACHE="~/cache", quoted, made a folder named ~
    make_folder(folder, named=f"the cache {folder} (SCIPT_CACHE)")
    return folder


def table_cell(text: Any) -> str:
    """``text`` as a cell of a report's Markdown table: a ``|`` (in a file or column name) escaped,
    which otherwise splits the cell, even inside backticks; line breaks as spaces."""
    return " ".join(str(text).splitlines()).replace("|", "\\|")


def make_parent(path: str | os.PathLike) -> None:
    """Make the folder ``path`` goes in (:func:`make_folder`)."""
    make_folder(Path(path).parent, named=path)


def refuse_overwriting(output: str | os.PathLike, source: str | os.PathLike, role: str, result: str) -> None:
    """Stop a command whose output file is one of its inputs (the same file by any path): the
    rename at the end would replace the input with what was made from it."""
    output, source = Path(output), Path(source)
    if output.exists() and source.exists() and os.path.samefile(output, source):
        raise DataError(f"{output}: is the {role} itself; write the {result} to another file")


def temporary_prefix(path: Path) -> str:
    """The start of a temporary name beside ``path``: ``.NAME.``, the name cut to 200 bytes, since
    the random part and suffix add 14 and a file name holds 255 (a 248-character output name
    could not be written though it fits)."""
    # bytes as the file system holds them: a name read from a command line may not be UTF-8
    return f".{os.fsdecode(os.fsencode(path.name)[:200])}."


_STANDARD_STREAMS = {"/dev/stdin": 0, "/dev/stdout": 1, "/dev/stderr": 2}
_DESCRIPTOR_LINK = re.compile(r"/proc/(\d+)(?:/task/\d+)?/fd/(\d+)")


def open_descriptor(path: str | os.PathLike) -> int | None:
    """The descriptor of this process that ``path`` names through its links (``/dev/stdout``,
    ``/dev/fd/N``, ``/proc/self/fd/N``), else ``None``. Output named so goes into the descriptor as
    it stands: where standard output is a job's log file, reopening the path would truncate the log,
    and renaming onto it would replace the log with the output."""
    current = os.path.abspath(path)
    for _ in range(40):  # the kernel's limit on links in a chain
        if current in _STANDARD_STREAMS:
            return _if_open(_STANDARD_STREAMS[current], path)
        # the folder as the kernel finds it: /dev/fd and /proc/self/fd are /proc/PID/fd, and so are
        # /proc/thread-self/fd and a user's link to /dev
        current = os.path.join(os.path.realpath(os.path.dirname(current)), os.path.basename(current))
        if current in _STANDARD_STREAMS:
            return _if_open(_STANDARD_STREAMS[current], path)
        match = _DESCRIPTOR_LINK.fullmatch(current)
        if match:
            return _if_open(int(match.group(2)), path) if int(match.group(1)) == os.getpid() else None
        if not os.path.islink(current):
            return None
        current = os.path.normpath(os.path.join(os.path.dirname(current), os.readlink(current)))
    return None


def _if_open(descriptor: int, path) -> int:
    """``descriptor``, refused in one line where this process has it closed (``1>&-``)."""
    try:
        os.fstat(descriptor)
    except OSError:
        raise UserError(f"{path}: descriptor {descriptor} of this process is not open") from None
    return descriptor


def is_stream(path: str | os.PathLike) -> bool:
    """Whether output named ``path`` goes *into* what is there rather than replacing it: an open
    descriptor of this process (:func:`open_descriptor`), or, through any links, something neither
    a file nor a folder (a pipe, a terminal, ``/dev/null``). A rename onto it would replace it with
    a file (as root, ``--output /dev/stdout`` replaced the system's link with a regular file)."""
    if open_descriptor(path) is not None:
        return True
    return os.path.exists(path) and not os.path.isfile(path) and not os.path.isdir(path)


def write_target(path: str | os.PathLike) -> Path:
    """The file an output named ``path`` is renamed onto: ``path``, or where a link there points
    (the link stays a link, and its target gets the data)."""
    return Path(os.path.realpath(path)) if os.path.islink(path) else Path(path)


def _write_into(source: Path, path: str | os.PathLike) -> None:
    """The bytes of ``source`` written into the stream ``path`` names (:func:`is_stream`)."""
    descriptor = open_descriptor(path)
    try:
        if descriptor is None:
            with open(source, "rb") as src, open(path, "wb") as stream:
                shutil.copyfileobj(src, stream, 1 << 20)
            return
        for text in (sys.stdout, sys.stderr):  # what this process printed before comes first
            if text is not None:  # None: the descriptor was closed when the process started
                text.flush()
        with open(source, "rb") as src, os.fdopen(os.dup(descriptor), "wb") as stream:
            shutil.copyfileobj(src, stream, 1 << 20)
    except BrokenPipeError:
        raise UserError(f"{path}: the reader closed the pipe before all the output was written") from None


def move_onto(source: Path, path: str | os.PathLike) -> None:
    """Put the finished file ``source`` in the place of ``path``: renamed onto it (onto the file a
    link there points to, its folder made if need be; through a copy beside it when that is on
    another file system), or its bytes written into a stream (:func:`is_stream`)."""
    if is_stream(path):
        _write_into(source, path)
        source.unlink()
        return
    target = write_target(path)
    make_parent(target)
    try:
        os.replace(source, target)
    except OSError as err:
        if err.errno != errno.EXDEV:  # a link to another file system: no rename across
            raise
        with atomic_path(target) as tmp:
            shutil.copyfile(source, tmp)
        source.unlink()


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` if the block succeeds (onto
    the file a link there points to; into a pipe or device by :func:`move_onto`)."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{path}: is a directory; expected a file name")
    if is_stream(path):
        with tempfile.TemporaryDirectory(prefix="scipt-") as folder:
            tmp = Path(folder) / f"{temporary_prefix(path)}tmp"
            tmp.touch()
            yield tmp
            move_onto(tmp, path)
        return
    path = write_target(path)
    make_parent(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=temporary_prefix(path), suffix=".tmp", dir=path.parent)
    except OSError as err:  # a folder that exists but refuses (permissions, a read-only mount)
        raise UserError(f"{path}: cannot be written: {err.strerror}") from None
    os.close(fd)
    try:
        yield Path(tmp)
        # mkstemp makes owner-only files (and writers may recreate the file): give the result the
        # permissions of a normally created file
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


@contextmanager
def atomic_text(path: str | os.PathLike) -> Iterator[TextIO]:
    """A text file written to a temporary path and renamed onto ``path`` if the block succeeds;
    gzip-compressed when ``path`` ends in ``.gz`` (without a time stamp: the same text gives the
    same bytes), as a user who names ``out.csv.gz`` expects. Lines end as the ``csv`` module and
    ``newline=""`` leave them."""
    with atomic_path(path) as tmp:
        if Path(path).name.endswith(".gz"):
            with open(tmp, "wb") as raw, gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) as gz:
                with TextIOWrapper(gz, encoding="utf-8", newline="") as handle:
                    yield handle
        else:
            with open(tmp, "w", encoding="utf-8", newline="") as handle:
                yield handle


def gzip_onto(source: Path, path: str | os.PathLike) -> None:
    """``source`` compressed onto ``path`` (atomically, without a time stamp), then removed."""
    with atomic_path(path) as tmp, open(source, "rb") as src, open(tmp, "wb") as raw:
        with gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) as gz:
            shutil.copyfileobj(src, gz, 1 << 20)
    source.unlink()


def replace_folder(staging: Path, path: Path) -> None:
    """Put the complete folder ``staging`` (beside ``path``) in the place of ``path``; if that fails
    half-way, ``path`` is put back as it was."""
    if not path.exists():
        os.replace(staging, path)
        return
    old = Path(tempfile.mkdtemp(prefix=temporary_prefix(path), suffix=".old", dir=path.parent))
    try:
        os.replace(path, old / "previous")
        try:
            os.replace(staging, path)
        except BaseException:
            os.replace(old / "previous", path)
            raise
    finally:
        shutil.rmtree(old, ignore_errors=True)


def new_staging(path: Path) -> Path:
    """An empty hidden folder beside ``path`` (its parent made if need be), with the permissions
    of a normally created folder, to be filled and renamed onto ``path``."""
    make_parent(path)
    try:
        staging = Path(tempfile.mkdtemp(prefix=temporary_prefix(path), suffix=".tmp", dir=path.parent))
    except OSError as err:
        raise UserError(f"{path}: cannot be written: {err.strerror}") from None
    os.chmod(staging, 0o777 & ~_umask())
    return staging


@contextmanager
def staged_folder(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a hidden temporary folder beside ``path``; it replaces ``path`` whole if the block
    succeeds, and is removed if it raises (``path`` then stays as it was). ``path`` is a folder's
    real location (a symbolic link is followed to its target); the current directory, or one
    holding it, cannot be renamed away: :class:`UserError`."""
    path = Path(path).resolve()
    if path.exists() and not path.is_dir():
        raise UserError(f"{path}: a file, not a folder")
    if Path.cwd().resolve().is_relative_to(path):
        raise UserError(f"{path}: the current directory or one holding it; name a folder inside it")
    staging = new_staging(path)
    try:
        yield staging
        replace_folder(staging, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def read_json(path: str | os.PathLike) -> Any:
    """A JSON file sciPT wrote; a damaged one (edited by hand, a disk full) is one line naming it."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise UserError(f"{path}: not valid JSON ({error})") from None


def write_json(path: str | os.PathLike, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n")


def write_yaml(path: str | os.PathLike, obj: Any) -> None:
    from .config import YamlDumper  # quotes what sciPT's loader would read as a number

    write_text(path, yaml.dump(obj, Dumper=YamlDumper, sort_keys=False))


def _json_default(obj: Any) -> Any:
    # numpy and torch scalars reach metrics dictionaries; JSON wants plain numbers.
    if hasattr(obj, "item"):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot write {type(obj).__name__} as JSON")
