"""``scipt export`` and the tensors pre-training adds to its last checkpoint: which checkpoint a run
exports, and what a failed write leaves behind."""

import argparse

import pytest
import torch

from sciPT.checkpoint import from_pretrained, load_lightning_checkpoint
from sciPT.export import CHECKPOINT_KEY, add_tensors, export_record, export_run
from sciPT.registry import domains


def _pretraining_checkpoint(step: int, seed: int) -> tuple[dict, dict]:
    """A pre-training checkpoint at ``step`` of a tiny DNA backbone (weights drawn from ``seed``)."""
    dna = domains.get("dna")
    export = dna.export_config_from(dna.presets()["tiny"]())
    torch.manual_seed(seed)
    weights = dna.load_backbone(export).state_dict()
    record = export_record({**export, "pretrained_on": []}, after_training=False)
    state = {f"backbone.{k}": v for k, v in weights.items()}
    return {"state_dict": state, CHECKPOINT_KEY: record, "global_step": step}, weights


def _run(tmp_path):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.yaml").write_text("domain: dna\n")
    return run


def test_a_run_exports_the_slurm_checkpoint_when_it_is_further_on_than_last(tmp_path, capsys):
    """A job SLURM signalled saved hpc_ckpt_1.ckpt after last.ckpt: exporting last.ckpt would
    silently drop the steps between them."""
    run = _run(tmp_path)
    last, _ = _pretraining_checkpoint(step=200, seed=0)
    hpc, later = _pretraining_checkpoint(step=250, seed=1)
    torch.save(last, run / "checkpoints" / "last.ckpt")
    torch.save(hpc, run / "hpc_ckpt_1.ckpt")
    assert export_run(argparse.Namespace(run=str(run), out=None, checkpoint=None, format="sciPT")) == 0
    assert capsys.readouterr().err == f"exported step 250 to {run / 'model'}\n"
    loaded = from_pretrained(run).model.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in later.items())


def test_a_checkpoint_of_the_run_itself_is_exported_into_its_model_folder(tmp_path, capsys):
    """--checkpoint naming one of the run's own checkpoints needs no --out: it replaces run/model."""
    run = _run(tmp_path)
    checkpoint, weights = _pretraining_checkpoint(step=7, seed=2)
    torch.save(checkpoint, run / "checkpoints" / "step-7.ckpt")
    args = argparse.Namespace(run=str(run), out=None, checkpoint=str(run / "checkpoints" / "step-7.ckpt"))
    assert export_run(args) == 0
    assert capsys.readouterr().err == f"exported step 7 to {run / 'model'}\n"
    loaded = from_pretrained(run).model.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in weights.items())


def test_tensors_added_after_training_are_all_kept_and_read_back_weights_only(tmp_path):
    """The EWC Fisher added to last.ckpt when pre-training ends: every tensor of it is stored, and
    the checkpoint still loads with weights_only (what --resume and the export read)."""
    path = tmp_path / "last.ckpt"
    checkpoint, _ = _pretraining_checkpoint(step=3, seed=0)
    torch.save(checkpoint, path)
    fisher = {"fisher.a": torch.ones(2), "fisher.b": torch.arange(3.0)}
    add_tensors(path, checkpoint, fisher)
    stored = load_lightning_checkpoint(path)[CHECKPOINT_KEY]["tensors"]
    assert sorted(stored) == ["fisher.a", "fisher.b"]
    assert all(torch.equal(stored[k], v) for k, v in fisher.items())


def test_adding_tensors_to_a_checkpoint_is_atomic(tmp_path, monkeypatch):
    """A job killed while last.ckpt is rewritten must leave the old, whole last.ckpt (the one
    --resume continues from), not a file cut short, and no temporary file beside it."""
    path = tmp_path / "last.ckpt"
    checkpoint, _ = _pretraining_checkpoint(step=3, seed=0)
    torch.save(checkpoint, path)
    before = path.read_bytes()
    save = torch.save

    def killed_half_way(obj, target, *args, **kwargs):
        save(obj, target, *args, **kwargs)
        with open(target, "r+b") as file:
            file.truncate(100)
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", killed_half_way)
    with pytest.raises(KeyboardInterrupt):
        add_tensors(path, dict(checkpoint), {"fisher.a": torch.ones(2)})
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]


def test_out_naming_the_runs_own_model_folder_re_exports_into_it(tmp_path, capsys):
    """--out RUN/model, already holding the run's export, is the run's own folder: it is replaced,
    not refused as another model's."""
    run = _run(tmp_path)
    first, _ = _pretraining_checkpoint(step=5, seed=0)
    torch.save(first, run / "checkpoints" / "last.ckpt")
    args = argparse.Namespace(run=str(run), out=None, checkpoint=None, format="sciPT")
    assert export_run(args) == 0
    later, weights = _pretraining_checkpoint(step=9, seed=3)
    torch.save(later, run / "checkpoints" / "last.ckpt")
    args.out = str(run / "model")
    assert export_run(args) == 0
    assert capsys.readouterr().err.splitlines()[-1] == f"exported step 9 to {run / 'model'}"
    loaded = from_pretrained(run).model.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in weights.items())
