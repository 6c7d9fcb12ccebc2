"""The benchmark scripts are files, not a package: tests load them by path."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture
def load_benchmark(monkeypatch):
    """``load_benchmark("report")`` imports ``benchmarks/report.py`` as a fresh module, with
    ``benchmarks/`` on ``sys.path`` as when the script runs (its sibling modules import)."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))

    def load(name: str):
        spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load
