"""Stopping a long command cleanly: SIGTERM, which a batch system's time limit sends before it
kills, turned into an exception for the length of a block (:func:`sigterm_raises`), so that a
command keeps what it has written as on Ctrl-C; the exit statuses such a command returns; and a
file held by one writer at a time (:func:`hold_file`). Used by ``scipt md`` and ``scipt scan``."""

from __future__ import annotations

import errno
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from .errors import UserError

# exit statuses of an interrupted command: the shell's 128 + signal number, as for a process the
# signal had killed (Ctrl-C: 130, as the other commands)
EXIT_INTERRUPTED, EXIT_TERMINATED = 130, 143


class Terminated(BaseException):
    """SIGTERM (a batch system's time limit, ``kill``), raised by the handler of
    :func:`sigterm_raises` so the command stops as on Ctrl-C; a BaseException, as
    KeyboardInterrupt is, so that no library's ``except Exception`` swallows it."""


@contextmanager
def sigterm_raises() -> Iterator[None]:
    """Within the block SIGTERM raises :class:`Terminated`; the previous handler is restored after
    (outside the main thread, where Python cannot handle signals, nothing changes)."""

    def handler(signum, frame):
        raise Terminated(signum)

    try:
        previous, installed = signal.signal(signal.SIGTERM, handler), True
    except ValueError:  # not the main thread
        previous, installed = None, False
    try:
        yield
    finally:
        if installed:
            # None: a handler installed outside Python, which cannot be put back; the default can
            signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


def hold_file(handle: IO, path: Path, busy: str) -> IO:
    """``handle``, an open file of ``path``, once it holds the file's exclusive lock (``flock``,
    released when it is closed, or its process ends however it ends); while another process holds
    it, a :class:`UserError`: ``path``, then ``busy`` (what that process is doing, what to do). A
    file system without locks is let through."""
    import fcntl

    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as error:
        if error.errno not in (errno.EAGAIN, errno.EACCES):
            return handle
        handle.close()
        raise UserError(f"{path}: {busy}") from None
    return handle
