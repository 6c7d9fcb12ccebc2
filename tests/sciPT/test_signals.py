"""SIGTERM as an exception, the exit statuses of a stopped command and one writer per file
(:mod:`sciPT.signals`)."""

import signal

import pytest

from sciPT.errors import UserError
from sciPT.signals import EXIT_INTERRUPTED, EXIT_TERMINATED, hold_file, sigterm_raises


def test_a_stopped_command_exits_as_the_signal_would_have_killed_it():
    """Batch systems and shells read 128 + the signal number as "killed by it": a requeue script
    tells a job stopped by its time limit (SIGTERM, 143) from Ctrl-C (SIGINT, 130) and a failure."""
    assert EXIT_TERMINATED == 128 + signal.SIGTERM == 143
    assert EXIT_INTERRUPTED == 128 + signal.SIGINT == 130


def test_the_handler_in_place_before_the_block_is_put_back():
    """A program embedding a command (a notebook, a workflow manager) keeps its own SIGTERM handler
    after the command: the default in its place would kill it at the next SIGTERM."""
    seen = []

    def own(signum, frame):
        seen.append(signum)

    previous = signal.signal(signal.SIGTERM, own)
    try:
        with sigterm_raises():
            pass
        assert signal.getsignal(signal.SIGTERM) is own
        signal.raise_signal(signal.SIGTERM)
        assert seen == [signal.SIGTERM]
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_a_file_held_by_one_writer_refuses_a_second_in_one_line(tmp_path):
    """Two scans writing one output would interleave their rows: the second is refused with the
    path and what to do, and its handle is closed; once the first closes, the file is free again."""
    path = tmp_path / "scan.tsv"
    first = hold_file(open(path, "a"), path, "another scan is writing it")
    second = open(path, "a")
    with pytest.raises(UserError) as refused:
        hold_file(second, path, "another scan is writing it: wait for it, or choose another --out")
    assert str(refused.value) == f"{path}: another scan is writing it: wait for it, or choose another --out"
    assert second.closed
    first.close()
    third = hold_file(open(path, "a"), path, "busy")
    third.close()


def test_sigterm_in_the_block_is_not_swallowed_by_a_library_s_except_exception():
    """A library's ``except Exception`` around the work must not eat the time limit's SIGTERM: the
    command would go on until the batch system kills it, losing what it had written."""
    from sciPT.signals import Terminated

    with pytest.raises(Terminated), sigterm_raises():
        try:
            signal.raise_signal(signal.SIGTERM)
        except Exception:  # what a library's broad handler does
            pass


def test_outside_the_main_thread_the_block_changes_nothing():
    """A command run from a worker thread (a notebook's executor) cannot install a handler: it runs,
    instead of failing with Python's 'signal only works in main thread'."""
    import threading

    errors, before = [], signal.getsignal(signal.SIGTERM)

    def work():
        try:
            with sigterm_raises():
                pass
        except BaseException as error:  # noqa: BLE001 - reported to the main thread
            errors.append(error)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert errors == []
    assert signal.getsignal(signal.SIGTERM) is before


def test_a_file_system_without_locks_lets_the_writer_through(tmp_path, monkeypatch):
    """Some network file systems refuse flock (ENOLCK): a scan there writes its file unlocked rather
    than failing to start."""
    import errno
    import fcntl

    def no_locks(fd, operation):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_locks)
    path = tmp_path / "scan.tsv"
    handle = hold_file(open(path, "a"), path, "busy")
    assert not handle.closed
    handle.close()
