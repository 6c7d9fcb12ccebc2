"""Fixtures of the surrogates tests: small CSV files of points."""

from pathlib import Path

import pytest


@pytest.fixture
def write_csv(tmp_path):
    """``write_csv("name.csv", "Re,Pr,Nu", "1e4,0.7,50", ...)`` -> path of the written file."""

    def write(name: str, *lines: str) -> Path:
        path = tmp_path / name
        path.write_text("\n".join(lines) + "\n")
        return path

    return write
