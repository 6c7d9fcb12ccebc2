"""Finding and fingerprinting data files (no domain library needed: every domain uses these)."""

from __future__ import annotations

import hashlib
from pathlib import Path


def resolve_data_path(path: str | Path) -> Path:
    """``path`` as given, else relative to the repository (for the shipped ``data_recipes/`` files)."""
    path = Path(path)
    if path.exists() or path.is_absolute():
        return path
    shipped = Path(__file__).resolve().parents[1] / path
    return shipped if shipped.exists() else path


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
