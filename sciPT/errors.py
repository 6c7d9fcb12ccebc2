"""User-facing errors.

Anything a user can fix (a missing file, a bad record, an unknown key) is raised as a
:class:`UserError`; the CLI prints its message as one line and exits with status 2. Everything
else is a bug and keeps its traceback.
"""

from __future__ import annotations


class UserError(Exception):
    """A problem with the user's input: one line, naming the file, record or key."""

    exit_code = 2
    # True where every rank of a multi-process run raises it together, after agreeing on it in a
    # collective: no rank waits in another, so each may tear its process group down before exiting
    every_rank = False


class DataError(UserError):
    """A data file is missing, empty or malformed."""


class ConfigError(UserError):
    """A configuration key or value is not valid."""


class TrainingDiverged(UserError):
    """Training produced non-finite gradients: stopped before applying them (the user can lower
    the learning rate and run again); exit status 1, as a failed run, not bad input. Every rank
    raises it, on a decision they agreed."""

    exit_code = 1
    every_rank = True
