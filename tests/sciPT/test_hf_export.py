"""sciPT.hf_export: what ``scipt export RUN --format hf`` writes, beyond the weights themselves
(their equality with transformers' is tests/integration/test_hf_cli.py)."""

import os
import stat

import pytest

pytest.importorskip("transformers")

from sciPT.cli import main  # noqa: E402

PRETRAIN = ["--max-steps", "2", "--batch-size", "4", "--val-every", "2", "--val-batches", "1"]
PRETRAIN += ["--warmup-steps", "1", "--window", "32", "--model.max-len", "32", "--model.d-model", "32"]
PRETRAIN += ["--model.d-ff", "64"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("hf-export") / "run"
    assert main(["pretrain", "dna", "--out", str(out), *PRETRAIN]) == 0
    return out


@pytest.mark.parametrize("umask, mode", [(0o027, 0o640), (0o002, 0o664)])
def test_every_exported_file_follows_the_umask(run, tmp_path, umask, mode):
    # transformers' save_pretrained wrote model.safetensors 0600 whatever the umask
    before = os.umask(umask)
    try:
        assert main(["export", str(run), "--format", "hf", "--out", str(tmp_path / "esm")]) == 0
    finally:
        os.umask(before)
    files = sorted(p.name for p in (tmp_path / "esm").iterdir())
    assert files == ["config.json", "model.safetensors", "tokenizer_config.json", "vocab.txt"]
    modes = {name: oct(stat.S_IMODE((tmp_path / "esm" / name).stat().st_mode)) for name in files}
    assert modes == dict.fromkeys(files, oct(mode))


def test_an_out_that_is_a_file_is_refused_and_left_as_it_was(run, tmp_path, capsys):
    # it was a NotADirectoryError traceback (exit 1), where the sciPT export refuses it in one line
    taken = tmp_path / "genome.fa"
    taken.write_text(">chr1\nACGT\n")
    assert main(["export", str(run), "--format", "hf", "--out", str(taken)]) == 2
    assert (
        capsys.readouterr().err.strip().splitlines()[-1]
        == f"scipt: error: --out {taken}: a file, not a directory"
    )
    assert taken.read_text() == ">chr1\nACGT\n"


def test_a_task_run_is_refused_as_such(tmp_path, capsys):
    # it was refused as "checkpoint not found", which sent the user looking for a lost file
    (tmp_path / "prom").mkdir()
    (tmp_path / "prom" / "config.yaml").write_text("task: promoter\n")
    assert main(["export", str(tmp_path / "prom"), "--format", "hf", "--out", str(tmp_path / "esm")]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"scipt: error: {tmp_path / 'prom'}: a promoter run; --format hf exports DNA and protein "
        "pre-training runs (export the pre-training run it started from)"
    )
    assert not (tmp_path / "esm").exists()
