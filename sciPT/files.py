"""Finding and fingerprinting data files (no domain library needed: every domain uses these)."""

from __future__ import annotations

import hashlib
from pathlib import Path

SHIPPED = "data_recipes"


def resolve_data_path(path: str | Path) -> Path:
    """``path`` as given, else, for a relative ``data_recipes/...`` path that is not there, the
    shipped file of the repository (so the README's examples run from any directory). Only that
    folder is looked up: any other missing path stays missing, never silently another file."""
    path = Path(path)
    if path.exists() or path.is_absolute() or path.parts[:1] != (SHIPPED,):
        return path
    shipped = Path(__file__).resolve().parents[1] / path
    return shipped if shipped.exists() else path


def text_encoding(head: bytes) -> str:
    """The encoding of a text file that starts with ``head``: UTF-16 where its byte-order mark says
    so (Excel's "Unicode Text"), else UTF-8, a byte-order mark (Excel's "CSV UTF-8") dropped."""
    return "utf-16" if head[:2] in (b"\xff\xfe", b"\xfe\xff") else "utf-8-sig"


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
