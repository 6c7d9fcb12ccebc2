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


def test_the_export_record_keeps_whether_tensors_come_after_training():
    """What pre-training stores for `scipt export`: the config as given, and the flag that makes
    an unfinished run's export warn that its EWC Fisher is missing."""
    config = {"domain": "dna"}
    assert export_record(config, after_training=True) == {"config": config, "after_training": True}
    assert export_record(config, after_training=False) == {"config": config, "after_training": False}


def test_the_backbone_is_only_the_entries_under_its_prefix():
    """backbone_state takes the `backbone.` entries, unprefixed; an objective's module that happens
    to be called `backbone` is not part of it."""
    from sciPT.export import backbone_state

    a, b, c = torch.zeros(1), torch.ones(1), torch.full((1,), 2.0)
    state = {"backbone.a": a, "objective.backbone.b": b, "head.c": c}
    backbone = backbone_state({"state_dict": state})
    assert list(backbone) == ["a"] and backbone["a"] is a


def test_a_causal_objectives_head_is_not_exported_as_a_masked_head(tmp_path):
    """A causal head (one projection, `objective.head.weight`) is no masked-LM head: the export holds
    no `mlm_head.*` tensors, which naturalness would otherwise read as one."""
    from sciPT.export import export_checkpoint, masked_head_state

    checkpoint, _ = _pretraining_checkpoint(step=3, seed=0)
    checkpoint["state_dict"] |= {
        "objective.head.weight": torch.zeros(10, 64),
        "objective.head.bias": torch.zeros(10),
    }
    assert masked_head_state(checkpoint) == {}
    export_checkpoint(checkpoint, tmp_path / "model", "last.ckpt")
    assert from_pretrained(tmp_path).extras == {}


def test_added_tensors_are_stored_detached_and_compact_and_the_checkpoint_is_returned(tmp_path):
    """A Fisher still attached to its graph, or a transposed view, is stored as plain values (torch
    refuses to save a non-leaf tensor that requires grad); the checkpoint returned holds them."""
    path = tmp_path / "last.ckpt"
    checkpoint, _ = _pretraining_checkpoint(step=3, seed=0)
    torch.save(checkpoint, path)
    attached = torch.ones(2, requires_grad=True) * 2  # [2, 2], a non-leaf tensor
    view = torch.arange(6.0).reshape(2, 3).t()  # [[0, 3], [1, 4], [2, 5]], not contiguous
    returned = add_tensors(path, checkpoint, {"fisher.a": attached, "fisher.t": view})
    assert sorted(returned[CHECKPOINT_KEY]["tensors"]) == ["fisher.a", "fisher.t"]
    stored = load_lightning_checkpoint(path)[CHECKPOINT_KEY]["tensors"]
    assert torch.equal(stored["fisher.a"], torch.tensor([2.0, 2.0])) and not stored["fisher.a"].requires_grad
    assert torch.equal(stored["fisher.t"], torch.tensor([[0.0, 3.0], [1.0, 4.0], [2.0, 5.0]]))
    assert stored["fisher.t"].is_contiguous()


def test_a_checkpoint_missing_backbone_weights_is_not_exported(tmp_path):
    """A backbone weight missing from the checkpoint must not be exported as its random
    initialisation: the export stops, and writes nothing."""
    from sciPT.export import export_checkpoint

    checkpoint, _ = _pretraining_checkpoint(step=3, seed=0)
    gone = sorted(checkpoint["state_dict"])[0]
    del checkpoint["state_dict"][gone]
    with pytest.raises(RuntimeError, match=f'Missing key\\(s\\) in state_dict: "{gone[len("backbone.") :]}"'):
        export_checkpoint(checkpoint, tmp_path / "model", "last.ckpt")
    assert list(tmp_path.iterdir()) == []


def test_a_finished_run_whose_domain_added_no_tensors_exports_without_a_warning(tmp_path, capsys):
    """Tensors added after training, even none, mean the run finished: only their absence warns."""
    from sciPT.export import export_checkpoint

    checkpoint, _ = _pretraining_checkpoint(step=3, seed=0)
    checkpoint[CHECKPOINT_KEY] |= {"after_training": True, "tensors": {}}
    export_checkpoint(checkpoint, tmp_path / "model", "last.ckpt")
    assert capsys.readouterr().err == ""


def test_a_hugging_face_export_goes_to_its_own_folder_by_default(tmp_path, monkeypatch, capsys):
    """--format hf without --out writes RUN/hf, never RUN/model: that folder holds the run's sciPT
    export, which the Hugging Face files would replace."""
    import sciPT.hf_export

    run = _run(tmp_path)
    asked = []

    def export_esm(path, out, checkpoint):
        asked.append((path, out, checkpoint))
        return out

    monkeypatch.setattr(sciPT.hf_export, "export_esm", export_esm)
    assert export_run(argparse.Namespace(run=str(run), out=None, checkpoint=None, format="hf")) == 0
    assert [(p.resolve(), o.resolve(), c) for p, o, c in asked] == [
        (run.resolve(), (run / "hf").resolve(), None)
    ]
    assert capsys.readouterr().err.startswith(f"exported {run / 'hf'} as EsmForMaskedLM")
