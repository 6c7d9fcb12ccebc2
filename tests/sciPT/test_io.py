"""sciPT/io.py: an output path that names a directory is refused, early by argparse, late by the
atomic writer, never with a traceback after the work."""

import argparse

import pytest

from sciPT import io
from sciPT.errors import DataError, UserError


@pytest.mark.parametrize("text", ["", "  "])
def test_an_empty_output_is_refused_as_empty(text):
    """`--output "$OUT"` with the variable unset: Path('') is the working directory, and the message
    said "argument --output:  is a directory"."""
    with pytest.raises(argparse.ArgumentTypeError) as err:
        io.output_file(text)
    assert str(err.value) == "empty; expected a file name"


def test_an_output_naming_a_directory_is_refused_and_nothing_is_left(tmp_path):
    with pytest.raises(argparse.ArgumentTypeError) as early:
        io.output_file(str(tmp_path))
    assert str(early.value) == f"{tmp_path} is a directory; expected a file name"
    assert io.output_file(str(tmp_path / "new.csv")) == str(tmp_path / "new.csv")
    with pytest.raises(UserError) as late:
        io.write_text(tmp_path, "x")
    assert str(late.value) == f"{tmp_path}: is a directory; expected a file name"
    assert list(tmp_path.iterdir()) == []


def test_a_staged_folder_replaces_the_old_one_whole_or_not_at_all(tmp_path, monkeypatch):
    import os

    sio = io
    target = tmp_path / "model"
    target.mkdir()
    (target / "a").write_text("old")
    with sio.staged_folder(target) as staging:
        (staging / "a").write_text("new")
        assert (target / "a").read_text() == "old"  # nothing visible until the block ends
    assert (target / "a").read_text() == "new" and sorted(p.name for p in tmp_path.iterdir()) == ["model"]

    # the second rename fails: the old folder is put back, nothing is left beside it
    real, calls = os.replace, []

    def flaky(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise OSError("disk gone")
        return real(src, dst)

    monkeypatch.setattr(sio.os, "replace", flaky)
    with pytest.raises(OSError, match="disk gone"), sio.staged_folder(target) as staging:
        (staging / "a").write_text("newer")
    monkeypatch.undo()
    assert (target / "a").read_text() == "new" and sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_a_staged_folder_follows_a_link_and_refuses_what_it_cannot_replace(tmp_path, monkeypatch):
    sio = io
    real = tmp_path / "store" / "model"
    real.mkdir(parents=True)
    link = tmp_path / "model"
    link.symlink_to(real)
    with sio.staged_folder(link) as staging:
        (staging / "a").write_text("through the link")
    assert link.is_symlink() and (real / "a").read_text() == "through the link"

    (tmp_path / "file").write_text("x")
    with pytest.raises(UserError, match="a file, not a folder$"), sio.staged_folder(tmp_path / "file"):
        pass
    monkeypatch.chdir(real)
    with pytest.raises(UserError, match="the current directory or one holding it"), sio.staged_folder("."):
        pass
    assert sorted(p.name for p in real.parent.iterdir()) == ["model"]


def test_an_output_that_is_its_own_input_is_refused(tmp_path):
    source = tmp_path / "in.csv"
    source.write_text("x\n")
    (tmp_path / "link.csv").symlink_to(source)
    for output in (source, tmp_path / "link.csv", tmp_path / "sub" / ".." / "in.csv"):
        (tmp_path / "sub").mkdir(exist_ok=True)
        with pytest.raises(DataError) as err:
            io.refuse_overwriting(output, source, "input", "predictions")
        assert str(err.value) == f"{output}: is the input itself; write the predictions to another file"
    io.refuse_overwriting(tmp_path / "out.csv", source, "input", "predictions")  # another file
    assert source.read_text() == "x\n"


def test_an_output_under_a_file_is_refused_naming_the_file(tmp_path):
    (tmp_path / "notes.txt").write_text("keep")
    with pytest.raises(UserError) as err:
        with io.atomic_path(tmp_path / "notes.txt" / "deeper" / "p.csv"):
            pass
    assert str(err.value) == (
        f"{tmp_path / 'notes.txt' / 'deeper' / 'p.csv'}: cannot be written: {tmp_path / 'notes.txt'} is a file, not a folder"
    )
    with pytest.raises(UserError) as err:
        io.make_folder(tmp_path / "notes.txt" / "run")
    assert (
        str(err.value)
        == f"{tmp_path / 'notes.txt' / 'run'}: cannot be written: {tmp_path / 'notes.txt'} is a file, not a folder"
    )
    assert (tmp_path / "notes.txt").read_text() == "keep"


def test_a_text_output_named_gz_is_compressed_the_same_bytes_every_time(tmp_path):
    import gzip
    import time

    from sciPT.io import atomic_text

    for name in ("a.csv", "b.csv.gz", "c.csv.gz"):
        with atomic_text(tmp_path / name) as f:
            f.write("name,probability\r\nq0,0.5\r\n")
        time.sleep(0.01 if name == "b.csv.gz" else 0)
    assert (tmp_path / "a.csv").read_bytes() == b"name,probability\r\nq0,0.5\r\n"
    assert gzip.decompress((tmp_path / "b.csv.gz").read_bytes()) == (tmp_path / "a.csv").read_bytes()
    assert (tmp_path / "b.csv.gz").read_bytes() == (tmp_path / "c.csv.gz").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv", "b.csv.gz", "c.csv.gz"]


def test_the_cache_folder_is_named_in_one_line_where_it_cannot_be_made(tmp_path, monkeypatch):
    blocked = tmp_path / "afile"
    blocked.write_text("")
    monkeypatch.setenv("SCIPT_CACHE", str(blocked))
    with pytest.raises(UserError) as err:  # NotADirectoryError, a traceback, before
        io.cache_dir("sequences")
    assert str(err.value) == (
        f"the cache {blocked / 'sequences'} (SCIPT_CACHE): cannot be written: {blocked} is a file, not a folder"
    )
    # a container's user with no home directory: Path.home() raised RuntimeError
    monkeypatch.delenv("SCIPT_CACHE")

    def no_home():
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.setattr(io.Path, "home", staticmethod(no_home))
    with pytest.raises(UserError) as err:
        io.cache_dir("sequences")
    assert (
        str(err.value) == "no home directory to keep sciPT's cache in: set SCIPT_CACHE to a writable folder"
    )


def test_a_folder_that_refuses_files_is_named_in_one_line(tmp_path, monkeypatch):
    """A folder that exists but cannot be written (permissions, a read-only mount): the temporary
    file's PermissionError was a traceback, after the work was done."""
    import tempfile

    def refused(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refused)
    monkeypatch.setattr(tempfile, "mkdtemp", refused)
    target = tmp_path / "out.csv"
    with pytest.raises(UserError) as err:
        with io.atomic_path(target):
            pass
    assert str(err.value) == f"{target}: cannot be written: Permission denied"
    with pytest.raises(UserError) as err:
        io.new_staging(tmp_path / "model")
    assert str(err.value) == f"{tmp_path / 'model'}: cannot be written: Permission denied"
    assert list(tmp_path.iterdir()) == []


def test_a_cache_under_the_home_folder_written_with_a_tilde_is_there(tmp_path, monkeypatch):
    """SCIPT_CACHE="~/cache", quoted so the shell left it, made a folder named ~ in the working
    directory."""
    from sciPT.io import cache_dir

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("SCIPT_CACHE", "~/cache")
    assert cache_dir("kind") == tmp_path / "cache" / "kind" and (tmp_path / "cache" / "kind").is_dir()


def test_an_output_whose_name_fills_a_file_name_is_written(tmp_path):
    """The temporary name beside it (.NAME.XXXXXXXX.tmp) was 14 bytes past the 255 a name holds."""
    from sciPT.io import atomic_text

    out = tmp_path / ("x" * 245 + ".csv")
    with atomic_text(out) as fh:
        fh.write("a\n")
    assert out.read_text() == "a\n" and [p.name for p in tmp_path.iterdir()] == [out.name]


def test_an_output_named_in_bytes_that_are_not_utf8_is_written(tmp_path):
    """A Latin-1 name from a command line (café in one byte) made every atomic write raise
    UnicodeEncodeError once temporary names were cut to 200 bytes."""
    import os

    from sciPT.io import atomic_text

    out = tmp_path / os.fsdecode(b"caf\xe9.csv")
    with atomic_text(out) as fh:
        fh.write("a\n")
    assert os.listdir(os.fsencode(tmp_path)) == [b"caf\xe9.csv"]


def test_an_output_too_long_for_its_partial_file_is_one_line():
    import pytest

    from sciPT.errors import UserError
    from sciPT.io import partial_path

    name = "t" * 250 + ".xyz"
    with pytest.raises(UserError) as err:
        partial_path(name)
    assert str(err.value) == (
        f"{name}: name too long for the file kept beside it while it is written "
        f"({'t' * 24}....partial, 262 bytes; at most 255): give a shorter name"
    )
    assert partial_path("a.xyz").name == "a.xyz.partial"


def test_an_output_that_is_a_link_stays_a_link_and_its_target_gets_the_text(tmp_path):
    (tmp_path / "real").mkdir()
    target, link = tmp_path / "real" / "t.csv", tmp_path / "link.csv"
    target.write_text("")
    link.symlink_to(target)
    with io.atomic_text(link) as handle:
        handle.write("a,b\n")
    assert link.is_symlink() and target.read_text() == "a,b\n"


def test_an_output_that_is_a_pipe_gets_the_text_through_it_and_stays_a_pipe(tmp_path):
    import os
    import stat
    import threading

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    read = []
    reader = threading.Thread(target=lambda: read.append(fifo.read_text()), daemon=True)
    reader.start()
    with io.atomic_text(fifo) as handle:
        handle.write("a,b\n")
    reader.join(timeout=30)
    assert read == ["a,b\n"]
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)  # a rename had replaced it with a regular file


def test_a_finished_partial_file_reaches_a_link_to_another_file_system_through_a_copy(tmp_path, monkeypatch):
    import errno
    import os

    target, link, partial = tmp_path / "t.bedgraph", tmp_path / "link.bedgraph", tmp_path / "link.partial"
    link.symlink_to(target)
    partial.write_text("chr 0 1 0.5\n")
    rename = os.replace

    def across_file_systems(source, destination):
        if os.fspath(source) == os.fspath(partial):
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        rename(source, destination)

    monkeypatch.setattr(io.os, "replace", across_file_systems)
    io.move_onto(partial, link)
    assert link.is_symlink() and target.read_text() == "chr 0 1 0.5\n" and not partial.exists()


@pytest.mark.parametrize("named", ["/dev/stdout", "/proc/thread-self/fd/1", "devices/fd/1"])
def test_dev_stdout_on_a_log_file_is_written_into_at_its_place_not_renamed_over(tmp_path, named):
    """A batch job's standard output is a file: the output goes after what the job printed, and
    what it prints afterwards follows (a rename onto the log had replaced it, earlier lines lost),
    however the descriptor is named (devices: a user's link to /dev)."""
    import subprocess
    import sys

    (tmp_path / "devices").symlink_to("/dev")
    log = tmp_path / "job.log"
    log.write_text("header\n")
    code = (
        "from sciPT import io\n"
        "print('before', flush=True)\n"
        f"with io.atomic_text({named!r}) as handle:\n"
        "    handle.write('x\\n')\n"
        "print('after')\n"
    )
    with open(log, "a") as out:
        subprocess.run([sys.executable, "-c", code], stdout=out, check=True, cwd=tmp_path)
    assert log.read_text() == "header\nbefore\nx\nafter\n"


def test_a_closed_standard_output_named_as_the_output_is_one_line(tmp_path):
    import os
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from sciPT import io, errors\n"
        "try:\n"
        "    with io.atomic_text('/dev/stdout') as handle:\n"
        "        handle.write('x')\n"
        "except errors.UserError as err:\n"
        "    sys.exit(str(err))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        preexec_fn=lambda: os.close(1),
        capture_output=False,
        stderr=subprocess.PIPE,
        text=True,
        cwd=os.getcwd(),
    )
    assert done.stderr == "/dev/stdout: descriptor 1 of this process is not open\n"


def test_a_command_that_keeps_a_partial_file_refuses_a_stream_in_dev():
    with pytest.raises(UserError) as err:
        io.partial_path("/dev/stdout")
    assert str(err.value) == (
        "/dev/stdout: this command keeps stdout.partial beside its output while it writes, and /dev "
        "holds no such file: name a file, or a link to /dev/stdout in a folder of your own"
    )


def test_a_finished_partial_file_reaches_a_link_into_a_folder_not_made_yet(tmp_path):
    link, partial = tmp_path / "link.bg", tmp_path / "link.bg.partial"
    link.symlink_to("results/out.bg")  # relative, dangling: results/ does not exist
    partial.write_text("chr 0 1 0.5\n")
    io.move_onto(partial, link)
    assert link.is_symlink() and (tmp_path / "results/out.bg").read_text() == "chr 0 1 0.5\n"


def test_a_pipe_whose_reader_left_early_is_one_line(tmp_path):
    import os
    import threading

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)

    def read_a_little():
        with open(fifo, "rb") as pipe:
            pipe.read(10)

    reader = threading.Thread(target=read_a_little, daemon=True)
    reader.start()
    with pytest.raises(UserError) as err:
        with io.atomic_text(fifo) as handle:
            handle.write("a,b\n" * 2_000_000)
    assert str(err.value) == f"{fifo}: the reader closed the pipe before all the output was written"


def test_a_partial_name_of_exactly_255_bytes_is_allowed(tmp_path):
    """``partial_path``: a file name may hold 255 bytes, so OUTPUT.partial of 255 bytes (247 + 8
    for ".partial") is kept beside it, and one of 256 is refused."""
    fits = tmp_path / ("t" * 247)
    assert io.partial_path(fits).name == "t" * 247 + ".partial"
    with pytest.raises(UserError, match="256 bytes; at most 255"):
        io.partial_path(tmp_path / ("t" * 248))


def test_a_table_cell_escapes_pipes_and_joins_lines():
    """``table_cell``: a ``|`` in a file name escaped (it would split the Markdown cell), line
    breaks as spaces."""
    assert io.table_cell("runs|a.xyz") == "runs\\|a.xyz"
    assert io.table_cell("two\nlines|x") == "two lines\\|x"
    assert io.table_cell(3) == "3"


def test_a_write_that_fails_half_way_leaves_no_temporary_file_and_the_old_file_whole(tmp_path):
    """A run killed while writing: the old file stays as it was, and no .NAME.XXXX.tmp litters
    the folder."""
    target = tmp_path / "metrics.json"
    target.write_text("old\n")
    with pytest.raises(KeyboardInterrupt):
        with io.atomic_text(target) as handle:
            handle.write("half")
            raise KeyboardInterrupt
    assert target.read_text() == "old\n" and [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_a_staged_folder_has_the_permissions_of_any_folder_the_user_makes(tmp_path):
    """An export folder is shared like any folder: not left owner-only as mkdtemp makes it."""
    import os

    old = os.umask(0o022)
    try:
        with io.staged_folder(tmp_path / "model") as staging:
            (staging / "a").write_text("x")
    finally:
        os.umask(old)
    assert (tmp_path / "model").stat().st_mode & 0o777 == 0o755


def test_a_damaged_json_file_is_one_line_naming_it(tmp_path):
    """A config.json cut short (a disk full) is named, not a JSONDecodeError traceback."""
    path = tmp_path / "config.json"
    path.write_text('{"domain": ')
    with pytest.raises(UserError) as err:
        io.read_json(path)
    assert str(err.value) == f"{path}: not valid JSON (Expecting value: line 1 column 12 (char 11))"


def test_json_keeps_nan_numpy_and_torch_scalars_and_paths_as_plain_values(tmp_path):
    """Metrics hold NaN (nothing to score), numpy and torch scalars, and paths: written as JSON
    numbers (an integer stays an integer) and strings, and NaN read back as NaN."""
    import math
    from pathlib import Path

    import numpy as np
    import torch

    path = tmp_path / "metrics.json"
    io.write_json(
        path, {"n": np.int64(3), "loss": torch.tensor(0.5), "auc": float("nan"), "data": Path("a/b.csv")}
    )
    assert path.read_text() == '{\n  "n": 3,\n  "loss": 0.5,\n  "auc": NaN,\n  "data": "a/b.csv"\n}\n'
    back = io.read_json(path)
    assert back["n"] == 3 and isinstance(back["n"], int) and math.isnan(back["auc"])
    with pytest.raises(TypeError, match="cannot write object as JSON"):
        io.write_json(tmp_path / "other.json", {"x": object()})
    assert not (tmp_path / "other.json").exists()


def test_a_staged_folder_holding_the_current_directory_is_refused(tmp_path, monkeypatch):
    """Working inside the folder to be replaced (cd model/sub): renaming it away would leave the
    shell in a deleted folder; refused in one line, the folder as it was."""
    target = tmp_path / "model"
    (target / "sub").mkdir(parents=True)
    monkeypatch.chdir(target / "sub")
    with pytest.raises(UserError) as err, io.staged_folder(target):
        pass
    assert str(err.value) == f"{target}: the current directory or one holding it; name a folder inside it"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"] and (target / "sub").is_dir()


def test_a_folder_the_system_refuses_to_make_is_named_with_its_reason(tmp_path, monkeypatch):
    """The message names the folder that could not be made (a parent, perhaps), not only the one
    asked for, and the system's reason."""
    from pathlib import Path

    def refused(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(tmp_path / "shared"))

    monkeypatch.setattr(Path, "mkdir", refused)
    with pytest.raises(UserError) as err:
        io.make_folder(tmp_path / "shared" / "runs", named="out.csv")
    assert (
        str(err.value)
        == f"out.csv: cannot be written: cannot make the folder {tmp_path / 'shared'}: Permission denied"
    )


def test_an_atomic_file_has_the_permissions_of_any_file_the_user_makes(tmp_path):
    """mkstemp makes owner-only files: a result left so could not be read by the user's group."""
    import os

    old = os.umask(0o022)
    try:
        io.write_text(tmp_path / "report.md", "x\n")
    finally:
        os.umask(old)
    assert (tmp_path / "report.md").stat().st_mode & 0o777 == 0o644


def test_gzip_outputs_carry_no_time_stamp_and_gzip_onto_removes_its_source(tmp_path):
    """The same text gives the same bytes whatever second it is written in (the gzip header's
    MTIME field, bytes 4-7, is zero); the uncompressed source is not left behind."""
    import gzip

    with io.atomic_text(tmp_path / "a.csv.gz") as f:
        f.write("a,b\n")
    source = tmp_path / "t.txt"
    source.write_bytes(b"chr 0 1 0.5\n")
    io.gzip_onto(source, tmp_path / "t.txt.gz")
    for name, text in (("a.csv.gz", b"a,b\n"), ("t.txt.gz", b"chr 0 1 0.5\n")):
        raw = (tmp_path / name).read_bytes()
        assert raw[4:8] == b"\0\0\0\0" and gzip.decompress(raw) == text
    assert not source.exists()


def test_what_was_printed_before_comes_before_output_written_into_standard_output(tmp_path):
    """Standard output redirected to a file is block-buffered: unflushed lines printed earlier
    must still come first, not after the output the command writes into the descriptor."""
    import os
    import subprocess
    import sys

    code = "from sciPT import io\nprint('before')\nio.write_text('/dev/stdout', 'x\\n')\n"
    log = tmp_path / "job.log"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    env["PYTHONPATH"] = os.path.dirname(os.path.dirname(io.__file__))  # the sciPT under test
    with open(log, "w") as out:
        subprocess.run([sys.executable, "-c", code], stdout=out, check=True, cwd=tmp_path, env=env)
    assert log.read_text() == "before\nx\n"


def test_another_processs_descriptor_is_not_taken_for_this_ones():
    """/proc/PID/fd/1 of another process is not this process's standard output: writing there as
    into our own descriptor 1 would send the output to the wrong place."""
    import os

    assert io.open_descriptor(f"/proc/{os.getpid()}/fd/1") == 1
    assert io.open_descriptor(f"/proc/{os.getppid()}/fd/1") is None


def test_a_partial_file_in_a_ram_disk_under_dev_is_allowed():
    """/dev/shm is a folder of ordinary files (a fast scratch space): only a stream under /dev
    (stdout, a terminal) has no room for the file kept beside it while it is written."""
    from pathlib import Path

    assert io.partial_path("/dev/shm/scan.bedgraph") == Path("/dev/shm/scan.bedgraph.partial")


def test_a_demo_folder_must_be_missing_or_empty(tmp_path):
    """``refuse_unless_empty_folder``: a missing or empty folder is taken; a file, or a folder
    holding anything, is refused in one line (a demo would mix its runs with what is there)."""
    io.refuse_unless_empty_folder(tmp_path / "missing")
    io.refuse_unless_empty_folder(tmp_path)  # empty
    (tmp_path / "old.txt").write_text("x")
    with pytest.raises(UserError) as err:
        io.refuse_unless_empty_folder(tmp_path)
    assert str(err.value) == f"{tmp_path}: exists and is not empty (choose another --out)"
    with pytest.raises(UserError) as err:
        io.refuse_unless_empty_folder(tmp_path / "old.txt")
    assert str(err.value) == f"{tmp_path / 'old.txt'}: --out names a file, not a directory"


def test_a_command_that_keeps_a_partial_file_refuses_a_descriptor_under_proc():
    """/proc/self/fd/1 is standard output as much as /dev/stdout is: /proc/PID/fd holds no
    1.partial either, so it is refused in one line, not an OSError when the file is made."""
    with pytest.raises(UserError) as err:
        io.partial_path("/proc/self/fd/1")
    assert str(err.value) == (
        "/proc/self/fd/1: this command keeps 1.partial beside its output while it writes, and "
        "/proc/self/fd holds no such file: name a file, or a link to /proc/self/fd/1 in a folder of "
        "your own"
    )


def test_temporary_files_and_folders_are_hidden_beside_their_target(tmp_path):
    """A half-written output is ``.NAME.XXXXXXXX.tmp`` in the target's folder (the same file
    system, for the rename): hidden, so ``ls`` or a ``*.csv`` glob does not take it for a result."""
    with io.atomic_path(tmp_path / "out.csv") as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".out.csv.") and tmp.name.endswith(".tmp")
    with io.staged_folder(tmp_path / "model") as staging:
        assert staging.parent == tmp_path.resolve() and staging.name.startswith(".model.")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model", "out.csv"]


def test_a_chain_of_links_to_standard_output_is_followed_to_its_descriptor(tmp_path):
    """a -> b -> c -> /dev/stdout names descriptor 1 however many links lead there; a loop of
    links names no descriptor (and does not hang)."""
    (tmp_path / "c").symlink_to("/dev/stdout")
    (tmp_path / "b").symlink_to(tmp_path / "c")
    (tmp_path / "a").symlink_to("b")  # relative
    assert io.open_descriptor(tmp_path / "a") == 1
    (tmp_path / "x").symlink_to("y")
    (tmp_path / "y").symlink_to("x")
    assert io.open_descriptor(tmp_path / "x") is None


def test_only_what_is_neither_file_nor_folder_is_a_stream(tmp_path):
    """``is_stream``: output goes *into* a pipe or a device; a file, a folder or a missing path is
    no stream (a folder taken for one would be opened for writing)."""
    import os

    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "f.csv").write_text("x")
    assert io.is_stream(tmp_path / "fifo") and io.is_stream("/dev/null")
    assert not io.is_stream(tmp_path) and not io.is_stream(tmp_path / "f.csv")
    assert not io.is_stream(tmp_path / "missing.csv")


def test_a_finished_partial_file_is_written_into_a_pipe_and_removed(tmp_path):
    """``scipt scan --output fifo``: the finished OUTPUT.partial goes through the pipe, and is not
    left beside it."""
    import os
    import stat
    import threading

    fifo, partial = tmp_path / "fifo", tmp_path / "fifo.partial"
    os.mkfifo(fifo)
    partial.write_text("chr 0 1 0.5\n")
    read = []
    reader = threading.Thread(target=lambda: read.append(fifo.read_text()), daemon=True)
    reader.start()
    io.move_onto(partial, fifo)
    reader.join(timeout=30)
    assert read == ["chr 0 1 0.5\n"] and not partial.exists() and stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_files_and_staged_folders_follow_a_group_writable_umask(tmp_path):
    """With umask 002 (a shared project group) a result is 0o666 & ~0o002 = 0o664 and an export
    folder 0o777 & ~0o002 = 0o775: the group may write them, as any file the user makes."""
    import os

    old = os.umask(0o002)
    try:
        io.write_text(tmp_path / "report.md", "x\n")
        with io.staged_folder(tmp_path / "model") as staging:
            (staging / "a").write_text("x")
    finally:
        os.umask(old)
    assert (tmp_path / "report.md").stat().st_mode & 0o777 == 0o664
    assert (tmp_path / "model").stat().st_mode & 0o777 == 0o775


def test_an_empty_output_into_a_stream_is_no_error():
    """A command with nothing to write (no rows) into /dev/null: the temporary file it would have
    filled exists, empty, so passing it on is no FileNotFoundError."""
    with io.atomic_path("/dev/null") as tmp:
        assert tmp.is_file() and tmp.read_bytes() == b""


def test_text_is_written_and_read_as_utf8_compressed_or_not(tmp_path):
    """Names such as café are UTF-8 on disk (é is C3 A9, µ is C2 B5) in a plain file, in any
    ``.gz`` output (not only ``.csv.gz``), and read back so by ``read_json``."""
    import gzip

    with io.atomic_text(tmp_path / "names.txt") as f:
        f.write("café\n")
    with io.atomic_text(tmp_path / "names.tsv.gz") as f:
        f.write("café\n")
    io.write_text(tmp_path / "report.md", "µ\n")
    assert (tmp_path / "names.txt").read_bytes() == b"caf\xc3\xa9\n"
    assert gzip.decompress((tmp_path / "names.tsv.gz").read_bytes()) == b"caf\xc3\xa9\n"
    assert (tmp_path / "report.md").read_bytes() == b"\xc2\xb5\n"
    (tmp_path / "c.json").write_bytes(b'{"name": "caf\xc3\xa9"}')
    assert io.read_json(tmp_path / "c.json") == {"name": "café"}


def test_a_written_config_keeps_its_keys_in_order(tmp_path):
    """A run's recorded config reads in the order it was given (train before data), not sorted."""
    io.write_yaml(tmp_path / "c.yaml", {"train": {"steps": 8, "lr": 0.5}, "data": "a.csv"})
    assert (tmp_path / "c.yaml").read_text() == "train:\n  steps: 8\n  lr: 0.5\ndata: a.csv\n"
