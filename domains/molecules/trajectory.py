"""The trajectory file of ``scipt md`` (:mod:`.md`): extended XYZ written frame by frame to
``OUTPUT.partial`` and renamed when the run ends, kept (cut to its complete frames) when the run is
interrupted, and continued by ``--resume`` (:class:`Trajectory`); the run stops on SIGTERM as on
Ctrl-C (:mod:`sciPT.signals`)."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from io import StringIO
from pathlib import Path
from typing import TYPE_CHECKING

from ase import Atoms
from ase.io import read, write

from sciPT.errors import ConfigError, DataError, UserError
from sciPT.io import make_parent, move_onto, partial_path
from sciPT.signals import hold_file

if TYPE_CHECKING:
    from .md import MDSettings


def frame_row(frame: Atoms) -> dict:
    """``{step, energy, kinetic_energy, total_energy, temperature_K}`` of a trajectory frame."""
    return {
        "step": frame.info["step"],
        "energy": frame.get_potential_energy(),
        **{k: frame.info[k] for k in ("kinetic_energy", "total_energy", "temperature_K")},
    }


# --- the trajectory file: written as it goes, kept when interrupted, resumed ------------------
_PROPERTIES = re.compile(r"Properties=(\S+)")
_EXACT_COLUMNS = {"pos": "positions", "momenta": "momenta"}


def frame_text(frame: Atoms) -> str:
    """``frame`` as one extended XYZ frame (ASE's writer), its positions and momenta to full double
    precision: ASE writes 8 decimals, and a resumed run continues from these numbers, which must be
    the run's own for a resumed NVE run to be the uninterrupted one."""
    buffer = StringIO()
    write(buffer, frame, format="extxyz")
    lines = buffer.getvalue().splitlines()
    spec = _PROPERTIES.search(lines[1]).group(1).split(":")
    exact, column = {}, 0
    for name, width in zip(spec[::3], spec[2::3]):
        if name in _EXACT_COLUMNS:
            exact[column] = frame.arrays[_EXACT_COLUMNS[name]]
        column += int(width)
    body = []
    for i, line in enumerate(lines[2:]):
        tokens = line.split()
        for start, values in exact.items():
            tokens[start : start + 3] = [repr(v) for v in values[i].tolist()]
        body.append(" ".join(tokens))
    return "\n".join([*lines[:2], *body]) + "\n"


def _hold(handle, path: Path):
    """``handle`` once it holds ``path``'s lock: two runs continuing one trajectory would cut and
    append to it at once."""
    return hold_file(
        handle,
        path,
        "another scipt md is writing this trajectory: wait for it to end, or give another --output",
    )


def _newline_offsets(handle, counts: set[int]) -> dict[int, int]:
    """The byte offset just after the ``n``-th newline of ``handle``, for each ``n`` of ``counts``."""
    found = {n: 0 for n in counts if n == 0}
    targets = sorted(n for n in counts if n > 0)
    handle.seek(0)
    seen = base = 0
    for chunk in iter(lambda: handle.read(1 << 20), b""):
        in_chunk = chunk.count(b"\n")
        while targets and seen + in_chunk >= targets[0]:
            position = -1
            for _ in range(targets[0] - seen):
                position = chunk.index(b"\n", position + 1)
            found[targets.pop(0)] = base + position + 1
        if not targets:
            break
        seen, base = seen + in_chunk, base + len(chunk)
    return found


def _complete_frames(path: Path) -> tuple[int, int, int, int]:
    """``(frames, end of the first, start of the last, end of the last)`` of the complete frames of
    an MD trajectory file, in bytes. Its atom count is constant, so a frame is that count + 2 lines,
    and lines after the last multiple of it are a frame the run was killed while writing."""
    with open(path, "rb") as handle:
        head = handle.readline()
        if not head.endswith(b"\n"):
            return 0, 0, 0, 0
        try:
            lines = int(head) + 2
        except ValueError:
            raise DataError(
                f"{path}: line 1: expected the atom count of an extended XYZ frame, got "
                f"{head.decode('utf-8', errors='replace').strip()!r}"
            ) from None
        handle.seek(0)
        frames = sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b"")) // lines
        if not frames:
            return 0, 0, 0, 0
        at = _newline_offsets(handle, {lines, (frames - 1) * lines, frames * lines})
    return frames, at[lines], at[(frames - 1) * lines], at[frames * lines]


def _read_frame(path: Path, start: int, end: int, index: int) -> Atoms:
    with open(path, "rb") as handle:
        handle.seek(start)
        text = handle.read(end - start).decode("utf-8", errors="replace")
    try:
        frame = read(StringIO(text), format="extxyz")
    except Exception as err:  # ASE's parser fails with whatever the bad line makes it raise
        raise DataError(f"{path}: frame {index}: not an extended XYZ frame of scipt md ({err})") from None
    missing = [k for k in ("step", "time_fs", "total_energy") if k not in frame.info]
    missing += [] if "momenta" in frame.arrays else ["momenta"]
    if missing:
        raise DataError(f"{path}: frame {index}: no {', '.join(missing)}: not a frame written by scipt md")
    return frame


def run_info(settings: MDSettings) -> dict[str, tuple[str, object]]:
    """``{info key: (flag, value)}``: what a frame records of the physics of its run, and a resume
    must repeat. An ``nve`` run continues from positions and momenta alone (its temperature and
    seed only drew the first momenta); an ``nvt`` run's thermostat also needs its temperature,
    friction and noise seed. Either needs the same potential: the model's weights (their SHA-256,
    16 digits) and head, where the settings name them (a frame written before they were recorded
    does not, and is not checked for them)."""
    info = {"md_ensemble": ("--ensemble", settings.ensemble)}
    if settings.ensemble == "nvt":
        info["md_temperature_K"] = ("--temperature", float(settings.temperature))
        info["md_friction_per_fs"] = ("--friction", float(settings.friction))
        info["md_seed"] = ("--seed", int(settings.seed))
    if settings.weights is not None:
        info["md_model_sha256"] = ("RUN, whose weights have SHA-256", settings.weights)
    if settings.head is not None:
        info["md_head"] = ("--head", settings.head)
    return info


class Trajectory:
    """The trajectory of one MD run while it is written (module docstring): frames go to
    ``OUTPUT.partial`` as the run makes them, one write and a flush each, so that a killed run
    leaves every frame but at most a torn last one; :meth:`writing` renames the file to ``OUTPUT``
    when the run ends and keeps it, cut to its complete frames, when the run is interrupted.

    Open one with :meth:`open`; ``frames`` counts the complete frames of the file, ``first`` and
    ``last`` are its first and last (``None`` while there is none).
    """

    def __init__(self, output: str | Path):
        self.output = Path(output)
        self.partial = partial_path(output)
        self.frames = 0
        self.first: Atoms | None = None
        self.last: Atoms | None = None
        self.resumed = False
        self.running = False  # set when the run starts writing (:func:`writing`)
        self.dropped_bytes = 0  # of a torn last frame, cut off when the file was resumed
        self._size = 0  # bytes of the complete frames
        self.run_info: dict[str, tuple[str, object]] = {}  # set by restore: what every frame records
        self._handle = None
        self._lock = (
            None  # a resumed run's file held open for its lock (:func:`_hold`), from before it is read
        )

    @classmethod
    def open(cls, output: str | Path, resume: bool = False) -> Trajectory:
        """A trajectory for ``output``: a new one, or with ``resume`` the partial file of an
        interrupted run, cut to its complete frames. Refuses a partial file without ``resume`` and
        ``resume`` without one (:func:`check_output`)."""
        if not check_output(output, resume):
            raise UserError(
                f"--resume: {output} is complete and there is no {partial_path(output)}: nothing to resume"
            )
        trajectory = cls(output)
        if resume:
            # before the file is read, and cut to its complete frames: a run may be writing it
            trajectory._lock = _hold(open(trajectory.partial, "rb"), trajectory.partial)
            try:
                trajectory._load()
            except BaseException:
                trajectory._close()
                raise
        return trajectory

    def _load(self) -> None:
        path = self.partial
        frames, first_end, last_start, end = _complete_frames(path)
        size = path.stat().st_size
        if frames:
            self.first = _read_frame(path, 0, first_end, 0)
            self.last = self.first if frames == 1 else _read_frame(path, last_start, end, frames - 1)
        if end < size:
            os.truncate(path, end)
        self.frames, self._size, self.dropped_bytes, self.resumed = frames, end, size - end, True

    def restore(self, atoms: Atoms, settings: MDSettings) -> int:
        """:meth:`_restore`, releasing the file when it refuses the resume (a caller in the same
        process may then try again)."""
        try:
            return self._restore(atoms, settings)
        except BaseException:
            self._close()
            raise

    def _restore(self, atoms: Atoms, settings: MDSettings) -> int:
        """Put ``atoms`` (the run's starting structure) in the state of the last complete frame
        (positions, momenta, cell) and return its step; with no frame, leave it and return 0. The
        run's physics (:func:`run_info`) is recorded in every frame :meth:`write` writes, and a
        resume with other values is refused: one file would hold two simulations."""
        self.run_info = run_info(settings)
        last = self.last
        if last is None:
            return 0
        if list(last.numbers) != list(atoms.numbers):
            raise UserError(
                f"{self.partial}: its frames are {last.get_chemical_formula()} and the structure "
                f"is {atoms.get_chemical_formula()}: not a trajectory of this structure"
            )
        step = int(last.info["step"])
        if step > settings.steps:
            raise ConfigError(
                f"--steps {settings.steps}: {self.partial} is already at step {step}; give --steps "
                f"of at least {step}"
            )
        for key, (flag, value) in self.run_info.items():
            recorded = last.info.get(key)
            if recorded is not None and recorded != value:
                raise ConfigError(
                    f"{flag} {value}: {self.partial} was run with {flag} {recorded}; give the "
                    "interrupted run's options again (or delete it to start a new run)"
                )
        time_fs = float(last.info["time_fs"])
        if step and not math.isclose(time_fs, step * settings.timestep, rel_tol=1e-9):
            raise ConfigError(
                f"--timestep {settings.timestep:g}: {self.partial} reached step {step} at {time_fs:g} "
                f"fs, a time step of {time_fs / step:g} fs"
            )
        atoms.set_cell(last.cell)
        atoms.pbc = last.pbc
        atoms.positions = last.positions
        atoms.set_momenta(last.get_momenta(), apply_constraint=False)
        return step

    @property
    def last_step(self) -> int | None:
        return None if self.last is None else int(self.last.info["step"])

    def write(self, frame: Atoms) -> None:
        """Append ``frame`` (a :func:`snapshot`), in one write, flushed to the operating system."""
        frame.info.update({key: value for key, (_, value) in self.run_info.items()})
        data = frame_text(frame).encode()
        if self._handle is None:
            make_parent(self.partial)
            self._handle = open(self.partial, "ab" if self.resumed else "wb")
            if self._lock is None:  # a new run: its writing handle holds the lock
                _hold(self._handle, self.partial)
        self._handle.write(data)
        self._handle.flush()
        # the size first: interrupted between the two, the file holds more than is counted
        self._size += len(data)
        self.frames += 1
        self.first = frame if self.first is None else self.first
        self.last = frame

    def _close(self) -> None:
        handle, self._handle = self._handle, None
        try:
            if handle is not None:
                try:
                    handle.flush()
                    os.fsync(handle.fileno())
                finally:
                    handle.close()
        finally:
            lock, self._lock = self._lock, None
            if lock is not None:
                lock.close()

    def finish(self) -> None:
        """Rename the partial file to the output."""
        self._close()
        move_onto(self.partial, self.output)

    def keep(self) -> None:
        """After an interruption: cut the partial file to its complete frames (a frame whose
        write was interrupted is dropped), or remove it when it holds none."""
        try:
            self._close()
        except OSError:  # the error that stopped the run (a full disk) may stop the flush too
            pass
        if not self.partial.exists():
            return
        if self.frames == 0:
            self.partial.unlink()
        elif self.partial.stat().st_size > self._size:
            os.truncate(self.partial, self._size)

    @contextmanager
    def writing(self) -> Iterator[Trajectory]:
        """The run: :meth:`finish` when the block ends, :meth:`keep` when it raises."""
        with writing([self]):
            yield self

    def kept(self, steps: int) -> str:
        """What :meth:`keep` left, for the line that reports an interruption."""
        if self.frames == 0:
            return f"no frame was complete, nothing kept (no {self.partial})"
        return (
            f"kept {self.partial} ({self.frames} frames, steps {self.first.info['step']} to "
            f"{self.last_step} of {steps}): the same command with --resume continues it"
        )


@contextmanager
def writing(trajectories: list[Trajectory]) -> Iterator[None]:
    """Finish ``trajectories`` when the block ends; keep their partial files when it raises,
    whatever it raises (Ctrl-C, :class:`Terminated`, an error)."""
    for trajectory in trajectories:
        trajectory.running = True
    try:
        yield
    except BaseException:
        for trajectory in trajectories:
            trajectory.keep()
        raise
    for trajectory in trajectories:
        trajectory.finish()


def check_output(output: str | Path, resume: bool) -> bool:
    """Whether a run of ``output`` has work to do. Without ``resume`` a partial file is refused
    (it is an interrupted run: ``--resume`` continues it); with ``resume``, no partial file means
    nothing to do when ``output`` is complete (False) and is an error when it is not there either."""
    partial = partial_path(output)
    if not resume and partial.exists():
        raise UserError(
            f"{partial} exists: the trajectory of an interrupted run; --resume continues it (delete "
            "it to start again)"
        )
    if resume and not partial.exists():
        if Path(output).exists():
            return False
        raise UserError(f"--resume: no {partial} to continue (nor a finished {output})")
    return True
