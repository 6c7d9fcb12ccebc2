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


@pytest.fixture
def stub_provenance():
    """``stub_provenance(command)``: a results file's provenance as ``benchmarks/provenance.py``
    records it, fixed, for tests of a table's text (its line: "`COMMAND` at commit `0000000000`,
    2026-12-07; CPU, 2 cores (avx2); Python 3.11.7, torch 2.13.0; load 0.5 before, 0.7 after.")."""
    return _stub_provenance


def _stub_provenance(command: str) -> dict:
    return {
        "command": command,
        "commit": "0" * 40,
        "date": "2026-12-07",
        "cpu": {"model": "CPU", "cores": 2, "vector_extensions": ["avx2"]},
        "load_before": [0.5],
        "load_after": [0.7],
        "python": "3.11.7",
        "versions": {"torch": "2.13.0"},
    }
