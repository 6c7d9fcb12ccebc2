"""The bedGraph of ``scipt scan`` (:mod:`.promoter_scan`), written as the scan goes, kept when it is
stopped, and continued by ``--resume`` (:class:`ScanOutput`).

A whole genome is hours of scanning (the ``tiny`` model with one fine-tune read 4.9 kb a second on
one CPU core, both strands; a human genome is days), and a batch system's time limit
must not cost what was scanned. So the scores go to ``OUTPUT.partial`` as they are computed, and
``OUTPUT.partial.json`` records how far the scan got: the windows written and the file's length
after them, at most :data:`CHECKPOINT_S` seconds apart and when the scan stops, with what the scan
reads (the model's and the genome's SHA-256, window, stride, batch size). When the scan ends the
file is renamed onto ``OUTPUT``. Stopped (Ctrl-C, SIGTERM, an error), it keeps both files, and
``--resume`` cuts the partial file to the recorded length and continues with the next window, in
the same batches as before, so that the finished file is the one a scan never stopped writes, byte
for byte (``tests/tasks/test_promoter_scan.py``). Without ``--resume`` a partial file is refused, so
no stopped scan is overwritten by accident; a resume with another model, genome, window, stride or
batch size is refused, naming it; and two scans cannot write one file at once (a lock).
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from pathlib import Path
from typing import Any

from sciPT import io
from sciPT.errors import UserError
from sciPT.signals import hold_file

CHECKPOINT_S = 30.0
"""Seconds between two records of the scan's progress (a SIGKILL loses at most this much)."""


def folder_digest(folder: Path) -> str:
    """SHA-256 over the files of a model folder (their names and contents)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        digest.update(path.name.encode())
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


FLAG_SETTINGS = ("window", "stride", "batch_size")  # a scan's settings a flag gives (the rest: digests)


class ScanOutput:
    """Where a scan writes: ``OUTPUT.partial`` and its progress record, made or reopened by
    :meth:`open`; :meth:`write` a batch's lines, :meth:`finish` at the end, :meth:`keep` when the
    scan stops.

    Attributes:
        windows: the windows written so far (those of a resumed scan's earlier runs included).
    """

    def __init__(self, output: str | Path, settings: dict[str, Any]):
        self.output = Path(output)
        self.partial = io.partial_path(output)
        self.progress = Path(f"{self.partial}.json")
        self.settings = settings
        self._mark = (0, 0)  # (windows, bytes) written whole: one assignment, whatever interrupts
        self._handle = None
        self._saved = time.monotonic()

    @property
    def windows(self) -> int:
        return self._mark[0]

    @classmethod
    def open(cls, output: str | Path, settings: dict[str, Any], resume: bool) -> ScanOutput | None:
        """The output of a scan of ``settings`` (``None``: ``--resume`` of a finished scan, nothing
        to do, said in one line)."""
        scan = cls(output, settings)
        if not resume:
            if scan.partial.exists():
                raise UserError(
                    f"{scan.partial}: a stopped scan of {output}: --resume continues it "
                    "(or remove the file to start again)"
                )
            io.make_parent(scan.output)
            try:
                handle = open(scan.partial, "w", encoding="utf-8")
            except OSError as err:  # a folder that exists but refuses (permissions, a read-only mount)
                raise UserError(f"{scan.output}: cannot be written: {err.strerror}") from None
            scan._handle = scan._locked(handle)
            scan._save()
            return scan
        if not scan.partial.exists():
            if scan.output.exists():
                print(
                    f"scipt scan: {output} is complete (no {scan.partial} to continue): nothing to do",
                    file=sys.stderr,
                )
                return None
            raise UserError(f"--resume: no {scan.partial} to continue (nor a finished {output})")
        handle = scan._locked(open(scan.partial, "r+", encoding="utf-8"))
        kept = (
            io.read_json(scan.progress)
            if scan.progress.is_file()
            else {"settings": settings, "windows": 0, "bytes": 0}
        )
        changed = [k for k in settings if kept["settings"].get(k) != settings[k]]
        if changed:
            handle.close()
            said = [
                f"--{k.replace('_', '-')} {kept['settings'].get(k)} (given: {settings[k]})"
                if k in FLAG_SETTINGS
                else f"another {k}"
                for k in changed
            ]
            raise UserError(
                f"--resume: {scan.partial} was scanned with {', '.join(said)}; give the scan's own "
                "(or remove the file to start again)"
            )
        handle.truncate(kept["bytes"])  # what came after the last record: a torn batch at most
        handle.seek(kept["bytes"])
        scan._handle, scan._mark = handle, (kept["windows"], kept["bytes"])
        return scan

    def _locked(self, handle):
        return hold_file(
            handle,
            self.partial,
            "another scipt scan is writing it: wait for it to end, or give another --output",
        )

    def write(self, text: str, windows: int = 0) -> None:
        """Append ``text`` (a track line, or a batch's lines with the ``windows`` they score)."""
        self._handle.write(text)
        if not windows:
            return  # a track line counts with its first batch: a resume from before it writes it again
        self._mark = (self.windows + windows, self._handle.tell())
        if time.monotonic() - self._saved >= CHECKPOINT_S:
            self._save()

    def _save(self) -> None:
        windows, end = self._mark
        self._handle.flush()
        os.fsync(self._handle.fileno())  # the record must not be ahead of the data on disk
        io.write_json(self.progress, {"settings": self.settings, "windows": windows, "bytes": end})
        self._saved = time.monotonic()

    def first_track(self):
        """The lines of the file's first track, in order, as written so far (its track line
        skipped): a strand-symmetric model's minus track is its plus track, line for line."""
        self._handle.flush()
        with open(self.partial, encoding="utf-8") as f:
            next(f, None)
            for line in f:
                if line.startswith("track "):  # a record's line is its name and a tab
                    return
                yield line

    def finish(self) -> None:
        self._handle.close()
        try:
            if self.output.name.endswith(".gz"):
                # scanned as text (a resume truncates it at a byte offset), compressed once it is whole
                io.gzip_onto(self.partial, self.output)
            else:
                io.move_onto(self.partial, self.output)
        except UserError as err:  # a pipe's reader gone: the scan is whole, kept to be written again
            raise UserError(
                f"{err}; kept {self.partial}: the same command with --resume writes it again"
            ) from None
        self.progress.unlink(missing_ok=True)

    def keep(self, total: int) -> str:
        """Record the windows written whole, close; one line saying what is kept."""
        self._save()
        self._handle.close()
        return (
            f"kept {self.partial} ({self.windows:,} of {total:,} windows): the same command with "
            "--resume continues it"
        )
