"""``with_earlier_corpus``: what a resumed pre-training records as trained on (``pretrained_on``)."""

import dataclasses
import json

import torch

from sciPT.export import CHECKPOINT_KEY
from sciPT.pretrain import pretrain, with_earlier_corpus
from sciPT.testing import stop_at


def _entry(name: str, sha: str) -> dict:
    return {"path": f"/data/{name}", "sha256": sha, "bytes": 1}


def _checkpoint(config: dict) -> dict:
    return {CHECKPOINT_KEY: {"config": config}}


def test_an_old_records_validation_file_is_not_carried_back_as_trained_on():
    """A record written before validation files were kept apart listed the --data.val-paths file in
    ``pretrained_on``: carried back beside the new ``validated_on``, evaluate called it training data."""
    train, val, other = (
        _entry("train.xyz", "a" * 64),
        _entry("val.xyz", "b" * 64),
        _entry("old.xyz", "c" * 64),
    )
    old = _checkpoint({"pretrained_on": [train, val, other]})
    assert with_earlier_corpus([train], old, [val]) == [train, other]
    # without validation files, or from a record that keeps them apart, everything earlier is carried
    assert with_earlier_corpus([train], old) == [train, val, other]
    new = _checkpoint({"pretrained_on": [train, val], "validated_on": []})  # val.xyz trained on then
    assert with_earlier_corpus([train], new, [val]) == [train, val]


def test_a_resumed_molecules_run_from_an_old_record_keeps_its_validation_file_apart(tmp_path, monkeypatch):
    from sciPT.checkpoint import load_lightning_checkpoint
    from sciPT.domains.molecules.presets import tiny

    monkeypatch.setenv("SCIPT_CACHE", str(tmp_path / "cache"))
    from sciPT.files import resolve_data_path

    ethanol = resolve_data_path("data_recipes/molecules/ethanol/train.xyz")
    lines = ethanol.read_text().splitlines(keepends=True)
    train, val = tmp_path / "train.xyz", tmp_path / "val.xyz"
    train.write_text("".join(lines[: 20 * 11]))
    val.write_text("".join(lines[20 * 11 : 24 * 11]))
    cfg = tiny()
    cfg.data = dataclasses.replace(
        cfg.data, paths=[str(train)], val_paths=[str(val)], isolated_atoms=None, val_fraction=0.0
    )
    cfg.train = dataclasses.replace(
        cfg.train, max_steps=4, val_every=2, checkpoint_every=2, val_batches=1, batch_size=4, log_every=1
    )
    pretrain("molecules", cfg, tmp_path / "run", callbacks=[stop_at(2)])
    # as a checkpoint written before validated_on was recorded: the validation file in pretrained_on
    path = tmp_path / "run" / "checkpoints" / "last.ckpt"
    checkpoint = load_lightning_checkpoint(path)
    config = checkpoint[CHECKPOINT_KEY]["config"]
    config["pretrained_on"] += config.pop("validated_on")
    torch.save(checkpoint, path)
    pretrain("molecules", cfg, tmp_path / "run", resume=True)
    exported = json.loads((tmp_path / "run" / "model" / "config.json").read_text())
    assert [e["path"] for e in exported["pretrained_on"]] == [str(train.resolve())]
    assert [e["path"] for e in exported["validated_on"]] == [str(val.resolve())]
