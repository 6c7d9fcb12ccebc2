"""User-facing errors.

Anything a user can fix (a missing file, a bad record, an unknown key) is raised as a
:class:`UserError`; the CLI prints its message as one line and exits with status 2. Everything
else is a bug and keeps its traceback.
"""

from __future__ import annotations


class UserError(Exception):
    """A problem with the user's input: one line, naming the file, record or key."""

    exit_code = 2


class DataError(UserError):
    """A data file is missing, empty or malformed."""


class ConfigError(UserError):
    """A configuration key or value is not valid."""


class TrainingDiverged(UserError):
    """Training produced non-finite gradients: stopped before applying them (the user can lower
    the learning rate and run again); exit status 1, as a failed run, not bad input."""

    exit_code = 1
