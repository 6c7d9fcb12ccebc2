"""A run directory's lock: one job trains in it at a time (:meth:`sciPT.run.RunDir.lock`).

POSIX record locks (``lockf``) on ``RUN/.scipt.lock``, held by rank 0 for as long as it trains:
the kernel releases them when their process ends however it ends, so a job requeued after its
predecessor stopped finds no stale lock. Locks belong to the process: taking one this process
already holds succeeds, and closing the file releases it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

from .errors import UserError

_HELD_LOCKS: dict[Path, int] = {}
"""Lock files this process holds, by path (released when it exits: the OS drops the lock)."""


def hold_lock(path: Path) -> None:
    """Hold an exclusive lock on ``path`` (created if missing) for the rest of this process, or
    raise :class:`UserError` naming the process that holds it.

    POSIX record locks (``lockf``): the kernel releases them when their process ends however it
    ends (SIGKILL included), so a job requeued after its predecessor stopped finds no stale lock.
    On NFS the server keeps the lock of a node that was lost until that node's lease expires (NFSv4)
    or it reboots (NFSv3), so a job requeued meanwhile is refused; the message says to remove the
    file if its holder is gone. A file system without locks (some Lustre mounts) gets a warning and
    no lock. Locks belong to the process: taking one this process already holds succeeds.
    """
    import fcntl

    path = path.resolve()
    if path in _HELD_LOCKS:
        return
    try:
        # 0o666 less the umask: in a group's project space, a colleague resuming the run opens it too
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except PermissionError as error:
        raise UserError(
            f"{path}: cannot open the run directory's lock file ({error.strerror}): make it writable "
            "for you (chmod g+w), or remove it when no job is training there"
        ) from None
    except OSError as error:  # a read-only mount: nothing can be written there at all
        raise UserError(f"{path.parent}: cannot be written: {error.strerror}") from None
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as error:
        holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
        os.close(fd)
        if error.errno in (errno.EACCES, errno.EAGAIN):
            raise UserError(
                f"{path.parent}: another scipt job is training in this run directory ({holder}): "
                f"wait for it to end, or choose another --out (if that process is gone, remove {path.name})"
            ) from None
        print(
            f"warning: {path.parent}: this file system does not lock files ({error.strerror}): nothing "
            "stops a second job from training in this run directory at the same time",
            file=sys.stderr,
        )
        return
    os.ftruncate(fd, 0)
    since = dt.datetime.now().isoformat(timespec="seconds")
    os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}, since {since}\n".encode(), 0)
    _HELD_LOCKS[path] = fd


def release_locks() -> None:
    """Release every lock this process holds (a command has ended; the process may run another)."""
    while _HELD_LOCKS:
        os.close(_HELD_LOCKS.popitem()[1])


def release_lock(path: Path) -> None:
    """Release the lock on ``path`` if this process holds it."""
    fd = _HELD_LOCKS.pop(Path(path).resolve(), None)
    if fd is not None:
        os.close(fd)


@contextlib.contextmanager
def waiting_lock(path: Path, what: str) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` for the block, waiting (with one line on standard error)
    while another process holds it: two runs building the same cache entry at once take turns,
    the second finding the first's result, instead of deleting each other's parts."""
    import fcntl

    from .io import make_folder

    make_folder(path.parent, named=what)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as error:
        raise UserError(f"{what}: cannot be written: {error.strerror}") from None
    try:
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            if error.errno not in (errno.EACCES, errno.EAGAIN):
                yield  # a file system without locks: as before locks, nothing to wait for
                return
            print(f"waiting for another process building {what}", file=sys.stderr)
            fcntl.lockf(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
