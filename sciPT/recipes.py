"""Data recipes: small declarative JSON files in ``data_recipes/`` and the builder behind them.

A recipe names its files, where each comes from (a path relative to a source folder of public raw
files), its licence and each file's SHA-256. ``scipt data list`` checks the shipped copies;
``scipt data build NAME --source DIR`` copies from ``DIR`` and verifies, writing atomically, so a
corrupted or different download is refused instead of silently used.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from . import io
from .errors import DataError, UserError
from .sequences import file_sha256

RECIPES_DIR = Path(__file__).resolve().parents[1] / "data_recipes"


def load_recipes(folder: Path = RECIPES_DIR) -> dict[str, dict]:
    recipes = {}
    for path in sorted(folder.glob("*.json")):
        recipe = json.loads(path.read_text())
        for key in ("name", "files", "source", "licence"):
            if key not in recipe:
                raise DataError(f"{path}: recipe lacks the key '{key}'")
        recipes[recipe["name"]] = recipe
    return recipes


def status(recipe: dict, folder: Path = RECIPES_DIR) -> str:
    for entry in recipe["files"]:
        path = folder / entry["path"]
        if not path.is_file():
            return f"missing {entry['path']}"
        if file_sha256(path) != entry["sha256"]:
            return f"hash mismatch {entry['path']}"
    return "ok"


def build(recipe: dict, source: Path, dest: Path = RECIPES_DIR) -> list[Path]:
    written = []
    for entry in recipe["files"]:
        origin = source / entry["from"]
        if not origin.is_file():
            raise DataError(f"{origin}: raw file of recipe '{recipe['name']}' not found")
        digest = file_sha256(origin)
        if digest != entry["sha256"]:
            raise DataError(f"{origin}: sha256 {digest[:16]}… differs from the recipe's "
                            f"{entry['sha256'][:16]}…")
        target = dest / entry["path"]
        with io.atomic_path(target) as tmp:
            shutil.copyfile(origin, tmp)
        written.append(target)
    return written


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    ls = sub.add_parser("list", help="list the recipes and check the shipped files")
    ls.set_defaults(handler=_list)
    b = sub.add_parser("build", help="rebuild a recipe's files from public raw files")
    b.add_argument("name", help="recipe name (see 'scipt data list')")
    b.add_argument("--source", required=True, help="folder holding the raw files (required)")
    b.add_argument("--dest", default=str(RECIPES_DIR), help=f"output folder (default: {RECIPES_DIR})")
    b.set_defaults(handler=_build)


def _list(args: argparse.Namespace) -> int:
    for name, recipe in load_recipes().items():
        files = ", ".join(e["path"] for e in recipe["files"])
        print(f"{name:18s} {status(recipe):10s} {files}\n{'':18s} {recipe['description']}")
    return 0


def _build(args: argparse.Namespace) -> int:
    recipes = load_recipes()
    if args.name not in recipes:
        raise UserError(f"unknown recipe '{args.name}' (expected one of: {', '.join(recipes)})")
    for path in build(recipes[args.name], Path(args.source), Path(args.dest)):
        print(f"wrote {path}", file=sys.stderr)
    return 0
