"""Finding and fingerprinting data files (no domain library needed: every domain uses these)."""

from __future__ import annotations

import gzip
import hashlib
import zlib
from pathlib import Path

from .errors import DataError

SHIPPED = "data_recipes"


def _shipped_base() -> Path:
    """The folder that holds ``data_recipes/``: the package's own folder where the package was
    installed from a wheel (``pyproject.toml`` puts the data there, as ``sciPT/data_recipes``), else
    the repository root (a checkout, or an editable install of one)."""
    package = Path(__file__).resolve().parent
    return package if (package / SHIPPED).is_dir() else package.parent


SHIPPED_BASE = _shipped_base()
SHIPPED_DIR = SHIPPED_BASE / SHIPPED
"""The shipped data: the example genomes, promoter sets, molecules and heat-transfer series, and the
data recipes (``scipt data list``)."""


def resolve_data_path(path: str | Path) -> Path:
    """``path`` as given, else, for a relative ``data_recipes/...`` path that is not there, the
    shipped file (:data:`SHIPPED_DIR`; so the README's examples run from any directory). Only that
    folder is looked up: any other missing path stays missing, never silently another file."""
    path = Path(path)
    if path.exists() or path.is_absolute() or path.parts[:1] != (SHIPPED,):
        return path
    shipped = shipped_path(path)
    return shipped if shipped.exists() else path


def shipped_path(path: str | Path) -> Path:
    """Where the package keeps the relative ``data_recipes/...`` ``path`` (which may not exist)."""
    return SHIPPED_BASE / path


def refuse_directory(path: Path, expected: str) -> None:
    """A one-line :class:`DataError` where ``path``, given for a file, is a directory: a bare
    ``is_file()`` test would call it "file not found", which it is not. ``expected`` says what the
    file should hold."""
    if path.is_dir():
        raise DataError(f"{path}: a directory, not a file (expected {expected})")


def read_data_bytes(path: Path) -> bytes:
    """The bytes of ``path``, decompressed where it is gzip (told by its content, as
    :func:`sciPT.sequences.open_text` tells it); a gzip file cut short or damaged is a
    :class:`DataError` naming it, in that function's words."""
    raw = path.read_bytes()
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except GZIP_ERRORS as error:
        raise damaged_gzip(path, error) from None


def read_data_text(path: Path, name, fix: str) -> str:
    """The text of ``path`` (:func:`read_data_bytes`, decoded as :func:`text_encoding` says); bytes
    that are no text in that encoding are a :class:`DataError` naming ``name`` and the byte, then
    ``fix`` (what to save the file as)."""
    raw = read_data_bytes(path)
    try:
        return raw.decode(text_encoding(raw))
    except UnicodeDecodeError as error:
        raise DataError(
            f"{name}: not UTF-8 text (byte 0x{raw[error.start]:02x} at offset {error.start}); {fix}"
        ) from None


GZIP_ERRORS = (EOFError, gzip.BadGzipFile, zlib.error)
"""What reading a gzip file cut short or damaged raises."""


def damaged_gzip(path: Path, error: Exception) -> DataError:
    """The one line for a gzip file cut short or damaged (an interrupted download)."""
    return DataError(
        f"{path}: gzip file cut short or damaged ({str(error) or type(error).__name__}); "
        "expected a whole .gz file (fetch or copy it again)"
    )


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
