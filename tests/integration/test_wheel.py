"""The package as a wheel installs it: the shipped data travels with it and is found from anywhere."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from sciPT import recipes

REPO = Path(__file__).resolve().parents[2]
# what pyproject.toml builds the wheel from
BUILD_INPUTS = ("pyproject.toml", "README.md", "LICENSE", "sciPT", "domains", "tasks", "data_recipes")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel of a copy of the checkout (a build in place would write build/ and *.egg-info there)."""
    work = tmp_path_factory.mktemp("wheel")
    for name in BUILD_INPUTS:
        source, target = REPO / name, work / "src" / name
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    command = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"]
    subprocess.run([*command, "-w", str(work / "dist"), str(work / "src")], check=True, timeout=300)
    (built,) = (work / "dist").glob("scipt-*.whl")
    return built


def test_the_wheel_holds_every_shipped_file_under_the_package(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = [p.relative_to(REPO).as_posix() for p in (REPO / "data_recipes").rglob("*") if p.is_file()]
    shipped = [p for p in shipped if "__pycache__" not in p]
    assert len(shipped) > 50 and "data_recipes/dna/LICENSE.MCB185" in shipped
    assert [p for p in shipped if f"sciPT/{p}" not in names] == []
    assert any(".dist-info/" in n and n.endswith("/LICENSE") for n in names)  # the package's own


def test_an_installed_wheel_reads_its_shipped_data_from_another_folder(wheel, tmp_path):
    site, elsewhere = tmp_path / "site", tmp_path / "elsewhere"
    zipfile.ZipFile(wheel).extractall(site)
    elsewhere.mkdir()
    code = (
        "import json, sciPT, sciPT.files as f, sciPT.recipes as r\n"
        "print(json.dumps([sciPT.__file__, str(f.SHIPPED_DIR), sorted(r.load_recipes()),\n"
        "    str(f.resolve_data_path('data_recipes/dna/ecoli_k12_mg1655.fna.gz'))]))"
    )
    env = {**os.environ, "PYTHONPATH": str(site)}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=elsewhere, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    module, shipped, names, genome = json.loads(done.stdout)
    assert Path(module) == site / "sciPT" / "__init__.py"  # the wheel's copy, not the checkout's
    assert Path(shipped) == site / "sciPT" / "data_recipes"
    assert names == sorted(recipes.load_recipes()) and len(names) >= 10
    assert Path(genome) == site / "sciPT/data_recipes/dna/ecoli_k12_mg1655.fna.gz"
    assert Path(genome).is_file()


def test_a_missing_recipes_folder_is_named_not_listed_as_empty(tmp_path):
    from sciPT.errors import DataError

    with pytest.raises(DataError) as err:
        recipes.load_recipes(tmp_path / "gone")
    assert (
        str(err.value)
        == f"{tmp_path / 'gone'}: no such folder (expected the data recipes, data_recipes/*.json)"
    )
