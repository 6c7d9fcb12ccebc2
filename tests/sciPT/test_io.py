"""sciPT/io.py: an output path that names a directory is refused, early by argparse, late by the
atomic writer, never with a traceback after the work."""

import argparse

import pytest

from sciPT import io
from sciPT.errors import UserError


def test_an_output_naming_a_directory_is_refused_and_nothing_is_left(tmp_path):
    with pytest.raises(argparse.ArgumentTypeError) as early:
        io.output_file(str(tmp_path))
    assert str(early.value) == f"{tmp_path} is a directory; expected a file name"
    assert io.output_file(str(tmp_path / "new.csv")) == str(tmp_path / "new.csv")
    with pytest.raises(UserError) as late:
        io.write_text(tmp_path, "x")
    assert str(late.value) == f"{tmp_path}: is a directory; expected a file name"
    assert list(tmp_path.iterdir()) == []
