"""`scipt data list` and `scipt data build`: the recipes of data_recipes/ and their builder."""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path

import pytest

from sciPT import io, recipes
from sciPT.cli import build_parser, main
from sciPT.errors import DataError, UserError

SHIPPED = recipes.RECIPES_DIR


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def raw_folder(tmp_path: Path, name: str, skip: tuple[str, ...] = ()) -> Path:
    """A raw-data folder for recipe ``name``, made from the shipped copies: each file at its
    ``from`` path, but those whose ``path`` is in ``skip``."""
    source = tmp_path / "raw"
    for entry in recipes.load_recipes()[name]["files"]:
        if entry["path"] not in skip:
            (source / entry["from"]).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(SHIPPED / entry["path"], source / entry["from"])
    return source


def test_build_from_a_partial_source_writes_nothing(tmp_path, capsys):
    source = raw_folder(
        tmp_path, "ipromoter2l", skip=("promoters/independent.txt", "promoters/LICENSE.ipromoter2l")
    )
    dest = tmp_path / "out"
    code, _, err = run(capsys, "data", "build", "ipromoter2l", "--source", source, "--dest", dest)
    missing = source / "promoters/ecoli_ipromoter2l/Independent_test_dataset/independent.txt"
    assert (code, err) == (
        2,
        f"scipt: error: {missing}: raw file of recipe 'ipromoter2l' not found (and 1 more of its 4 files)\n",
    )
    assert not dest.exists()


def test_build_with_a_wrong_hash_writes_nothing(tmp_path, capsys):
    source = raw_folder(tmp_path, "ipromoter2l")
    changed = source / "promoters/ecoli_ipromoter2l/Independent_test_dataset/independent.txt"
    changed.write_text(">x\nACGT\n")
    dest = tmp_path / "out"
    code, _, err = run(capsys, "data", "build", "ipromoter2l", "--source", source, "--dest", dest)
    assert (code, err) == (
        2,
        f"scipt: error: {changed}: sha256 a0c8300d20406634… differs from the recipe's dfb235d9b15e68c8… "
        "(recipe 'ipromoter2l')\n",
    )
    assert not dest.exists()


def test_build_copies_every_file_and_the_repository_only_notice(tmp_path, capsys):
    source = raw_folder(tmp_path, "heat-transfer")
    assert not (source / "heat_transfer" / "LICENSE.combaero").exists()  # not among the raw files
    dest = tmp_path / "out"
    code, _, err = run(capsys, "data", "build", "heat-transfer", "--source", source, "--dest", dest)
    assert code == 0
    recipe = recipes.load_recipes()["heat-transfer"]
    paths = [e["path"] for e in recipe["files"]] + ["heat_transfer/LICENSE.combaero"]
    assert err == "".join(f"wrote {dest / p}\n" for p in paths)
    assert recipes.status(recipe, dest) == "ok"
    assert (dest / "heat_transfer/LICENSE.combaero").read_bytes() == (
        SHIPPED / "heat_transfer/LICENSE.combaero"
    ).read_bytes()
    assert not [p for p in dest.rglob("*") if p.name.endswith(".tmp")]  # no staged copy left behind


def test_build_into_an_unwritable_folder_is_one_line(tmp_path, capsys):
    if not Path("/proc/self").is_dir():
        pytest.skip("needs /proc")
    source = raw_folder(tmp_path, "phage-lambda")
    code, out, err = run(capsys, "data", "build", "phage-lambda", "--source", source, "--dest", "/proc/x")
    assert (code, err) == (
        2,
        "scipt: error: /proc/x/dna/phage_lambda.fa: cannot be written: cannot make the folder /proc/x: "
        "No such file or directory\n",
    )


def test_make_folder_names_the_reason_the_system_gives(tmp_path):
    dangling = tmp_path / "link"
    os.symlink(tmp_path / "nowhere", dangling)  # not a file in the way, yet mkdir fails
    with pytest.raises(UserError) as err:
        io.make_folder(dangling / "run")
    assert str(err.value) == (
        f"{dangling / 'run'}: cannot be written: cannot make the folder {dangling}: File exists"
    )


def test_molecules_smiles_says_how_it_is_rebuilt(tmp_path, capsys):
    code, _, err = run(
        capsys, "data", "build", "molecules-smiles", "--source", tmp_path, "--dest", tmp_path / "o"
    )
    assert (code, err) == (
        2,
        f"scipt: error: {tmp_path}/molecules/smiles/nci_chon_small.smi: not found (and 2 more of its 3 "
        "files); recipe 'molecules-smiles' cannot be built from a raw-data folder (its sources are its own "
        "files): rebuild it with `python data_recipes/molecules/smiles/build_smiles.py`\n",
    )
    assert not (tmp_path / "o").exists()


def test_build_help_says_where_files_are_read(capsys):
    with pytest.raises(SystemExit):
        main(["data", "build", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "Copy a recipe's files from DIR/<from> (each file's 'from' path in data_recipes/NAME.json)" in text
    assert "folder holding the raw files, read as DIR/<from> (required)" in text
    assert (
        "molecules-smiles is not built from raw data (its sources are its own output and build_smiles.py): "
        "rebuild it with `python data_recipes/molecules/smiles/build_smiles.py`." in text
    )


def test_list_fails_on_a_missing_file_and_sizes_its_columns(tmp_path, capsys, monkeypatch):
    (tmp_path / "promoters").mkdir()
    (tmp_path / "promoters" / "a.txt").write_text("a\n")
    digest = "87428fc522803d31065e7bce3cf03fe475096631e5e07bbd7a0fde60c4cf25c7"  # of "a\n"
    for name, path in (("short", "promoters/a.txt"), ("model-organisms-1pct", "promoters/independent.txt")):
        recipe = {
            "name": name,
            "description": f"the {name} recipe",
            "source": "here",
            "licence": "MIT",
            "files": [{"path": path, "from": path, "sha256": digest}],
        }
        (tmp_path / f"{name}.json").write_text(json.dumps(recipe))
    monkeypatch.setattr(recipes, "RECIPES_DIR", tmp_path)
    code, out, err = run(capsys, "data", "list")
    assert code == 1
    assert out == (
        "model-organisms-1pct  missing promoters/independent.txt  promoters/independent.txt\n"
        "                      the model-organisms-1pct recipe\n"
        "short                 ok                                 promoters/a.txt\n"
        "                      the short recipe\n"
    )
    assert err == (
        "scipt: error: 1 of 2 recipes fail their check: model-organisms-1pct (missing "
        "promoters/independent.txt); 'scipt data build NAME --source DIR' restores a recipe's files\n"
    )


def test_list_checks_the_repository_only_notices(tmp_path, capsys, monkeypatch):
    shutil.copyfile(SHIPPED / "ecoli-genome.json", tmp_path / "ecoli-genome.json")
    (tmp_path / "dna").mkdir()
    shutil.copyfile(SHIPPED / "dna/ecoli_k12_mg1655.fna.gz", tmp_path / "dna/ecoli_k12_mg1655.fna.gz")
    monkeypatch.setattr(recipes, "RECIPES_DIR", tmp_path)
    code, out, _ = run(capsys, "data", "list")
    assert code == 1
    assert out.splitlines()[0] == (
        "ecoli-genome  missing dna/LICENSE.MCB185  dna/ecoli_k12_mg1655.fna.gz, dna/LICENSE.MCB185"
    )


def test_the_shipped_recipes_name_their_mit_notices(capsys):
    shipped = recipes.load_recipes()
    notices = {
        name: [e["path"] for e in recipe.get("repository_files", [])] for name, recipe in shipped.items()
    }
    assert notices["ecoli-genome"] == ["dna/LICENSE.MCB185"]
    assert notices["model-organisms-1pct"] == ["dna/LICENSE.korflab-setup"]
    assert notices["heat-transfer"] == ["heat_transfer/LICENSE.combaero"]
    for name, paths in notices.items():
        for path in paths:
            assert path in shipped[name]["licence"], name
    assert main(["data", "list"]) == 0
    capsys.readouterr()


def test_build_checks_the_hash_of_a_repository_only_file_before_copying_it(tmp_path):
    """Pins build's check of a recipe's repository-only files: one whose SHA-256 is not the
    recipe's is refused (DataError naming the file and both digests) and nothing is written,
    like a raw file with a wrong hash."""
    notice = "heat_transfer/LICENSE.combaero"
    recipe = {
        "name": "tampered",
        "files": [],
        "repository_files": [{"path": notice, "sha256": "0" * 64}],
    }
    dest = tmp_path / "out"
    with pytest.raises(DataError) as err:
        recipes.build(recipe, tmp_path / "raw", dest)
    assert str(err.value).startswith(f"{SHIPPED / notice}: sha256 ")
    assert "differs from the recipe's 0000000000000000… (recipe 'tampered')" in str(err.value)
    assert not dest.exists()


def test_a_recipe_without_its_licence_is_refused_naming_the_key(tmp_path):
    """A recipe that forgets its licence would be listed and built as if its files could be shared."""
    recipe = {"name": "bare", "description": "d", "source": "here", "files": []}
    (tmp_path / "bare.json").write_text(json.dumps(recipe))
    with pytest.raises(DataError) as err:
        recipes.load_recipes(tmp_path)
    assert str(err.value) == f"{tmp_path / 'bare.json'}: recipe lacks the key 'licence'"


def test_status_names_a_shipped_file_whose_content_changed(tmp_path):
    """A file present but edited must not read "ok": `data list` is how a user learns a copy differs."""
    (tmp_path / "a.txt").write_text("b\n")
    digest = "87428fc522803d31065e7bce3cf03fe475096631e5e07bbd7a0fde60c4cf25c7"  # of "a\n"
    recipe = {"name": "r", "files": [{"path": "a.txt", "from": "a.txt", "sha256": digest}]}
    assert recipes.status(recipe, tmp_path) == "hash mismatch a.txt"
    (tmp_path / "a.txt").write_text("a\n")
    assert recipes.status(recipe, tmp_path) == "ok"


def test_an_unknown_recipe_is_refused_naming_the_ones_there_are(tmp_path, capsys, monkeypatch):
    """A typo in the recipe name should answer with the names to choose from, not a bare refusal."""
    for name in ("alpha", "beta"):
        recipe = {"name": name, "description": "d", "source": "s", "licence": "MIT", "files": []}
        (tmp_path / f"{name}.json").write_text(json.dumps(recipe))
    monkeypatch.setattr(recipes, "RECIPES_DIR", tmp_path)
    code, out, err = run(capsys, "data", "build", "alpah", "--source", tmp_path, "--dest", tmp_path / "o")
    assert (code, out, err) == (
        2,
        "",
        "scipt: error: unknown recipe 'alpah' (expected one of: alpha, beta)\n",
    )
    assert not (tmp_path / "o").exists()


def test_a_missing_recipes_folder_is_refused_not_listed_as_empty(tmp_path):
    """An empty listing would read as "no data shipped": a missing folder is said as such."""
    with pytest.raises(DataError) as err:
        recipes.load_recipes(tmp_path / "nowhere")
    assert str(err.value) == (
        f"{tmp_path / 'nowhere'}: no such folder (expected the data recipes, data_recipes/*.json)"
    )


@pytest.mark.parametrize("key", ["name", "files", "source"])
def test_a_recipe_without_a_required_key_is_refused_naming_it(tmp_path, key):
    """Each of the keys a recipe is listed and built by is required, not only its licence."""
    recipe = {"name": "bare", "description": "d", "source": "here", "licence": "MIT", "files": []}
    del recipe[key]
    (tmp_path / "bare.json").write_text(json.dumps(recipe))
    with pytest.raises(DataError) as err:
        recipes.load_recipes(tmp_path)
    assert str(err.value) == f"{tmp_path / 'bare.json'}: recipe lacks the key '{key}'"


def test_recipes_are_known_by_their_name_not_their_file_name(tmp_path):
    """`data build NAME` takes the name the recipe gives itself, as `data list` shows it."""
    recipe = {"name": "renamed", "description": "d", "source": "s", "licence": "MIT", "files": []}
    (tmp_path / "old-file.json").write_text(json.dumps(recipe))
    assert list(recipes.load_recipes(tmp_path)) == ["renamed"]


def test_a_single_missing_raw_file_is_named_alone(tmp_path):
    """One missing file of one: no "(and 0 more ...)" clause."""
    with pytest.raises(DataError) as err:
        recipes.build(recipes.load_recipes()["phage-lambda"], tmp_path / "raw", tmp_path / "out")
    assert (
        str(err.value)
        == f"{tmp_path / 'raw/dna/phage_lambda.fa'}: raw file of recipe 'phage-lambda' not found"
    )
    assert not (tmp_path / "out").exists()


def test_a_missing_repository_file_is_refused_naming_it(tmp_path):
    """A licence notice the recipe names but the package lacks: one line, nothing written."""
    recipe = {
        "name": "orphan",
        "files": [],
        "repository_files": [{"path": "heat_transfer/LICENSE.none", "sha256": "0" * 64}],
    }
    with pytest.raises(DataError) as err:
        recipes.build(recipe, tmp_path / "raw", tmp_path / "out")
    assert (
        str(err.value)
        == f"{SHIPPED / 'heat_transfer/LICENSE.none'}: repository file of recipe 'orphan' not found"
    )
    assert not (tmp_path / "out").exists()


def test_a_build_in_place_writes_the_recipes_folder_and_leaves_its_notices(tmp_path, monkeypatch):
    """Without a destination the files go to the recipes folder (not to a data_recipes/ of the
    working directory); the licence notice already lives there and is not copied onto itself."""
    shipped = tmp_path / "shipped"
    (shipped / "heat_transfer").mkdir(parents=True)
    notice = "heat_transfer/LICENSE.combaero"
    shutil.copyfile(SHIPPED / notice, shipped / notice)
    source = raw_folder(tmp_path, "heat-transfer")
    recipe = recipes.load_recipes()["heat-transfer"]
    monkeypatch.setattr(recipes, "RECIPES_DIR", shipped)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    targets = recipes.build(recipe, source)
    assert targets == [shipped / e["path"] for e in recipe["files"]]
    assert recipes.status(recipe) == "ok"
    assert not any(elsewhere.iterdir())


@pytest.mark.parametrize("named", [True, False])
def test_a_copy_that_fails_is_one_line_and_writes_nothing(tmp_path, monkeypatch, named):
    """A disk that fills up during the copies: one line naming the file being written (its own
    name, not the hidden one it is staged as, whether or not the system named a file), and no file
    of the recipe left in the destination, not even the ones copied."""
    source = raw_folder(tmp_path, "heat-transfer")
    dest = tmp_path / "out"
    recipe = recipes.load_recipes()["heat-transfer"]
    copyfile, staged = shutil.copyfile, []

    def fill_up(origin, target):
        staged.append(target)
        if len(staged) == 3:
            raise OSError(errno.ENOSPC, "No space left on device", *([str(target)] if named else []))
        return copyfile(origin, target)

    monkeypatch.setattr(recipes.shutil, "copyfile", fill_up)
    with pytest.raises(UserError) as err:
        recipes.build(recipe, source, dest)
    third = dest / recipe["files"][2]["path"]
    assert Path(staged[2]) != third and Path(staged[2]).parent == third.parent
    assert str(err.value) == f"{third}: cannot be written: No space left on device"
    assert [p for p in dest.rglob("*") if p.is_file()] == []


def test_a_source_that_cannot_be_hashed_is_one_line_naming_it(tmp_path, monkeypatch):
    """Every source is hashed before anything is copied: one the user may not read is refused
    there, in one line naming it, not with the system's traceback (root reads every file, so the
    refusal is simulated)."""
    source = raw_folder(tmp_path, "heat-transfer")
    recipe = recipes.load_recipes()["heat-transfer"]
    unreadable = source / recipe["files"][1]["from"]
    real = recipes.file_sha256

    def hash_or_refuse(path):
        if Path(path) == unreadable:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(recipes, "file_sha256", hash_or_refuse)
    with pytest.raises(UserError) as err:
        recipes.build(recipe, source, tmp_path / "out")
    assert str(err.value) == f"{unreadable}: cannot be read: Permission denied"
    assert not (tmp_path / "out").exists()


def test_a_source_that_cannot_be_read_is_named_as_read(tmp_path, monkeypatch):
    """A raw file that fails while it is copied (after its hash was read: a network share gone, its
    permissions changed) fails on its side: named as the file that cannot be read, not written."""
    source = raw_folder(tmp_path, "heat-transfer")
    recipe = recipes.load_recipes()["heat-transfer"]
    copyfile = shutil.copyfile

    def unreadable(origin, target):
        if Path(origin) == source / recipe["files"][1]["from"]:
            raise PermissionError(errno.EACCES, "Permission denied", str(origin))
        return copyfile(origin, target)

    monkeypatch.setattr(recipes.shutil, "copyfile", unreadable)
    with pytest.raises(UserError) as err:
        recipes.build(recipe, source, tmp_path / "out")
    assert str(err.value) == f"{source / recipe['files'][1]['from']}: cannot be read: Permission denied"
    assert not (tmp_path / "out").exists() or [p for p in (tmp_path / "out").rglob("*") if p.is_file()] == []


def test_the_recipes_are_found_from_another_working_directory(tmp_path, capsys, monkeypatch):
    """The README's `scipt data list` and `scipt data build` run from anywhere: the recipes folder
    and build's default destination are the package's, relative --source and --dest the working
    directory's."""
    source = raw_folder(tmp_path, "phage-lambda")
    monkeypatch.chdir(tmp_path)
    assert "phage-lambda" in recipes.load_recipes()
    argv = ["data", "build", "phage-lambda", "--source", "raw"]
    assert Path(build_parser(argv).parse_args(argv).dest).resolve() == SHIPPED.resolve()
    code, out, err = run(capsys, *argv, "--dest", "out")
    assert (code, out, err) == (0, "", "wrote out/dna/phage_lambda.fa\n")
    assert (tmp_path / "out/dna/phage_lambda.fa").read_bytes() == (
        source / "dna/phage_lambda.fa"
    ).read_bytes()
    code, out, _ = run(capsys, "data", "list")
    assert code == 0 and "phage-lambda" in out


def test_an_empty_recipes_folder_lists_nothing(tmp_path, capsys, monkeypatch):
    """A folder without recipes is no failed check: nothing listed, exit status 0."""
    monkeypatch.setattr(recipes, "RECIPES_DIR", tmp_path)
    assert run(capsys, "data", "list") == (0, "", "")
