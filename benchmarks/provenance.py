"""What every benchmark records beside its numbers, so a reader can check and rerun it.

``provenance(argv)`` returns the command line, the git commit (and whether the tree was dirty),
the Python, torch and package versions, the CPU model and its vector extensions, the number of
cores, ``OMP_NUM_THREADS`` and ``ATEN_CPU_CAPABILITY``, the date, and the load average; call
:func:`finish` at the end to add the load average after the run. :func:`write_results` writes
``benchmarks/results/<name>.json`` atomically.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
PACKAGES = (
    "scipt",
    "torch",
    "lightning",
    "e3nn",
    "torch-geometric",
    "transformers",
    "mace-torch",
    "scikit-learn",
    "numpy",
)
VECTOR_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_tile")


def _git(*args: str) -> str:
    done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
    return done.stdout.strip()


def cpu_info() -> dict:
    model, flags = platform.processor(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and not model:
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return {
        "model": model,
        "cores": os.cpu_count(),
        "vector_extensions": [f for f in VECTOR_FLAGS if f in flags],
    }


def provenance(argv: list[str] | None = None) -> dict:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return {
        "command": " ".join([Path(sys.executable).name, *(sys.argv if argv is None else argv)]),
        "commit": _git("rev-parse", "HEAD"),
        "dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "versions": versions,
        "cpu": cpu_info(),
        "env": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "ATEN_CPU_CAPABILITY")},
        "load_before": list(os.getloadavg()),
    }


def finish(record: dict) -> dict:
    record["provenance"]["load_after"] = list(os.getloadavg())
    return record


def write_results(name: str, record: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(record, indent=1) + "\n")
    os.replace(tmp, path)
    return path


def start_record(name: str, protocol: dict, argv: list[str] | None, resume: bool, **empty) -> dict:
    """The record of benchmark ``name``: with ``resume``, the one in ``benchmarks/results`` (which
    must have been run with the same ``protocol``; this invocation's provenance is appended to
    ``provenance_resumed``); otherwise a new one with ``protocol`` and the ``empty`` fields."""
    path = RESULTS / f"{name}.json"
    if resume and path.is_file():
        record = json.loads(path.read_text())
        if record["protocol"] != protocol:
            changed = sorted(
                k for k in {*protocol, *record["protocol"]} if protocol.get(k) != record["protocol"].get(k)
            )
            sys.exit(f"--resume: {path} was run with other settings ({', '.join(changed)})")
        record.setdefault("provenance_resumed", []).append(provenance(argv))
        return record
    return {"provenance": provenance(argv), "protocol": protocol, **empty}
