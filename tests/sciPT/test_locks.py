"""Run-folder and cache locks (:mod:`sciPT.locks`), checked from another process where it matters:
POSIX record locks belong to a process, so only another one can tell a held lock from a free one."""

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from sciPT import locks
from sciPT.errors import UserError

TRY_LOCKS = """
import fcntl, os, sys
for path in sys.argv[1:]:
    fcntl.lockf(os.open(path, os.O_RDWR), fcntl.LOCK_EX | fcntl.LOCK_NB)
"""

# holds argv[1]'s lock, says so, sleeps argv[2] seconds, writes argv[3] and ends (its lock with it)
HOLD = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.lockf(fd, fcntl.LOCK_EX)
print("holding", flush=True)
time.sleep(float(sys.argv[2]))
open(sys.argv[3], "w").write("done")
"""


def free(*paths) -> bool:
    """Whether another process can take the locks of all of ``paths`` now."""
    return subprocess.run([sys.executable, "-c", TRY_LOCKS, *map(str, paths)]).returncode == 0


def holder(path, seconds, marker):
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path), str(seconds), str(marker)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout.readline() == "holding\n"
    return process


@pytest.fixture(autouse=True)
def _release():
    yield
    locks.release_locks()


def test_a_stale_lock_file_taken_over_names_only_its_new_holder(tmp_path):
    """A job requeued after its predecessor died takes the run over; the file then names the new
    holder in one line, not the new line over the remains of a longer old one (which a refused
    third job would print as its holder)."""
    lock = tmp_path / ".scipt.lock"
    lock.write_text(
        "pid 1234567 on a-very-long-hostname.cluster.example.org, since 2026-01-01T00:00:00\n" * 3
    )
    locks.hold_lock(lock)
    text = lock.read_text()
    assert re.fullmatch(
        rf"pid {os.getpid()} on {re.escape(socket.gethostname())}, since \d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\d\n",
        text,
    )


def test_a_holder_that_wrote_nothing_is_named_another_process(tmp_path):
    """A lock held by a process that has not written its name yet (or another tool): the refusal is
    still one readable line, with "another process" where the holder's name goes."""
    lock = tmp_path / ".scipt.lock"
    process = holder(lock, 30, tmp_path / "unused")
    try:
        with pytest.raises(UserError) as refused:
            locks.hold_lock(lock)
    finally:
        process.kill()
        process.wait()
    assert str(refused.value) == (
        f"{tmp_path}: another scipt job is training in this run directory (another process): "
        "wait for it to end, or choose another --out (if that process is gone, remove .scipt.lock)"
    )


def test_every_lock_is_released_when_a_command_ends(tmp_path):
    """A notebook runs a second command after the first: every run folder the first held must be
    free for another process, not only the last one taken."""
    a, b = tmp_path / "a.lock", tmp_path / "b.lock"
    locks.hold_lock(a)
    locks.hold_lock(b)
    assert not free(a) and not free(b)
    locks.release_locks()
    assert free(a, b)


def test_a_lock_released_by_a_relative_path_is_released(tmp_path, monkeypatch):
    """RunDir.unlock names the lock as the user typed --out (relative); the lock was taken by its
    absolute path, and must still be let go."""
    monkeypatch.chdir(tmp_path)
    locks.hold_lock(Path("run.lock"))
    assert not free(tmp_path / "run.lock")
    locks.release_lock(Path("run.lock"))
    assert free(tmp_path / "run.lock")


def test_the_lock_file_follows_the_umask_for_a_colleague_to_resume(tmp_path):
    """In a group's project space (umask 002) a colleague resuming the run must be able to open the
    lock file: it is created rw for the group, not for its creator alone."""
    old = os.umask(0o002)
    try:
        locks.hold_lock(tmp_path / ".scipt.lock")
    finally:
        os.umask(old)
    assert (tmp_path / ".scipt.lock").stat().st_mode & 0o777 == 0o664


def test_a_cache_being_built_elsewhere_is_waited_for_with_one_line_and_then_released(tmp_path, capsys):
    """Two runs building the same cache entry take turns: the second says why it waits, enters only
    when the first is done (so it finds its result), and frees the lock after its block."""
    lock, marker = tmp_path / "cache" / "c.lock", tmp_path / "first_done"
    lock.parent.mkdir()
    process = holder(lock, 0.3, marker)
    try:
        with locks.waiting_lock(lock, "the corpus c.xyz"):
            assert marker.read_text() == "done"
            assert not free(lock)
    finally:
        process.kill()
        process.wait()
    assert capsys.readouterr().err == "waiting for another process building the corpus c.xyz\n"
    assert free(lock)


def test_a_file_system_without_locks_warns_in_one_line_and_the_run_goes_on(tmp_path, monkeypatch, capsys):
    """Some Lustre mounts refuse locks: the run must still train there, with one line saying that
    nothing stops a second job, not stop on a traceback."""
    import errno
    import fcntl

    def no_locks(fd, how):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "lockf", no_locks)
    lock = tmp_path / ".scipt.lock"
    locks.hold_lock(lock)
    assert capsys.readouterr().err == (
        f"warning: {tmp_path.resolve()}: this file system does not lock files (No locks available): "
        "nothing stops a second job from training in this run directory at the same time\n"
    )
    assert lock.resolve() not in locks._HELD_LOCKS


def test_a_lock_file_of_another_user_is_refused_with_the_way_out(tmp_path, monkeypatch):
    """A colleague's run whose lock file is not writable for this user: the message says how to
    make it so, in one line, instead of a PermissionError traceback."""
    import errno

    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(os, "open", denied)
    lock = tmp_path / ".scipt.lock"
    with pytest.raises(UserError) as err:
        locks.hold_lock(lock)
    assert str(err.value) == (
        f"{lock.resolve()}: cannot open the run directory's lock file (Permission denied): make it "
        "writable for you (chmod g+w), or remove it when no job is training there"
    )
