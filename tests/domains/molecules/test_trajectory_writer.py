"""The MD trajectory file itself (sciPT.domains.molecules.trajectory): what an interruption report
says was kept, and the state a resume restores from the partial file's last frame."""

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.lj import LennardJones

from sciPT.domains.molecules import md
from sciPT.domains.molecules.md import MDSettings
from sciPT.domains.molecules.trajectory import Trajectory, partial_path
from sciPT.errors import UserError


def _argon(cell=None):
    """Three argon atoms with a Lennard-Jones calculator: frames in milliseconds."""
    atoms = Atoms("Ar3", positions=[[0.0, 0.0, 0.0], [3.8, 0.0, 0.0], [1.9, 3.3, 0.0]])
    if cell is not None:
        atoms.set_cell([cell, cell, cell])
        atoms.pbc = True
    atoms.calc = LennardJones(sigma=3.4, epsilon=0.0104, rc=8.0)
    md.initial_velocities(atoms, 50.0, seed=0)
    return atoms


def test_the_interruption_report_names_the_first_and_last_steps_kept(tmp_path):
    """Frames of steps 0, 2 and 4 kept of a 6-step run: the report says 'steps 0 to 4', the range a
    user checks before resuming (not the last step twice)."""
    atoms = _argon()
    trajectory = Trajectory.open(tmp_path / "traj.xyz")
    with pytest.raises(KeyboardInterrupt), trajectory.writing():
        for step in (0, 2, 4):
            trajectory.write(md.snapshot(atoms, step, 0.5))
        raise KeyboardInterrupt
    assert trajectory.kept(6) == (
        f"kept {partial_path(tmp_path / 'traj.xyz')} (3 frames, steps 0 to 4 of 6): the same command "
        "with --resume continues it"
    )


def test_a_resume_restores_the_periodicity_of_the_last_frame(tmp_path):
    """A periodic run resumed from a structure given without pbc continues periodic, in its box:
    positions of one box without its images would be another system."""
    settings = MDSettings(steps=4, temperature=50.0)
    out = tmp_path / "traj.xyz"
    trajectory = Trajectory.open(out)
    with pytest.raises(KeyboardInterrupt), trajectory.writing():
        trajectory.write(md.snapshot(_argon(cell=10.0), 2, settings.timestep))
        raise KeyboardInterrupt
    resumed = Trajectory.open(out, resume=True)
    molecule = Atoms("Ar3", positions=np.zeros((3, 3)))
    assert resumed.restore(molecule, settings) == 2
    assert molecule.pbc.tolist() == [True, True, True]
    np.testing.assert_array_equal(molecule.cell[:], np.eye(3) * 10.0)
    resumed._close()


def test_a_resume_of_another_structure_with_as_many_atoms_is_refused(tmp_path):
    """The partial file's frames are Ar3: a structure of three atoms of other elements (Ar2Kr) is
    another system, refused naming both formulas, however the atom count agrees."""
    out = tmp_path / "traj.xyz"
    trajectory = Trajectory.open(out)
    with pytest.raises(KeyboardInterrupt), trajectory.writing():
        trajectory.write(md.snapshot(_argon(), 0, 0.5))
        raise KeyboardInterrupt
    resumed = Trajectory.open(out, resume=True)
    other = Atoms("Ar2Kr", positions=[[0.0, 0.0, 0.0], [3.8, 0.0, 0.0], [1.9, 3.3, 0.0]])
    with pytest.raises(UserError) as err:
        resumed.restore(other, MDSettings(steps=4, temperature=50.0))
    assert str(err.value) == (
        f"{partial_path(out)}: its frames are Ar3 and the structure is Ar2Kr: not a trajectory of this structure"
    )


def test_a_trajectory_is_running_from_when_its_run_starts_writing(tmp_path):
    """`running` tells scipt md whether an error came from the run itself (then it reports what was
    kept) or from before it started: False when opened, True inside writing(), and still True after
    an interruption."""
    trajectory = Trajectory.open(tmp_path / "traj.xyz")
    assert trajectory.running is False
    with pytest.raises(KeyboardInterrupt), trajectory.writing():
        assert trajectory.running is True
        raise KeyboardInterrupt
    assert trajectory.running is True
