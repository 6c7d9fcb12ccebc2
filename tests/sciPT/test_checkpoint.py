import pytest
import torch

from sciPT.checkpoint import export_model, from_pretrained, read_export_config
from sciPT.errors import UserError
from sciPT.registry import domains


def _tiny_backbone():
    dna = domains.get("dna")
    cfg = dna.presets()["tiny"]()
    export = dna.export_config_from(cfg)
    torch.manual_seed(0)
    return dna.load_backbone(export), export


def test_export_load_round_trip(tmp_path):
    model, export = _tiny_backbone()
    fisher = {"fisher.x": torch.arange(3.0)}
    export_model(tmp_path / "model", model, {**export, "pretrained_on": []}, extra_tensors=fisher)
    loaded = from_pretrained(tmp_path, domain="dna")
    ids = torch.randint(5, 10, (2, 16))
    model.eval()
    assert torch.equal(loaded.model(ids), model(ids))
    assert torch.equal(loaded.extras["fisher.x"], fisher["fisher.x"])
    assert read_export_config(tmp_path)["sciPT_format"] == 1


def test_the_weights_get_the_permissions_of_any_file_the_user_writes(tmp_path):
    import os

    model, export = _tiny_backbone()
    old = os.umask(0o022)
    try:
        export_model(tmp_path / "model", model, {**export, "pretrained_on": []})
    finally:
        os.umask(old)
    modes = {p.name: p.stat().st_mode & 0o777 for p in (tmp_path / "model").iterdir()}
    assert modes == {"config.json": 0o644, "model.safetensors": 0o644}


def test_wrong_domain_and_missing_export(tmp_path):
    model, export = _tiny_backbone()
    export_model(tmp_path / "model", model, export)
    with pytest.raises(UserError) as err:
        from_pretrained(tmp_path, domain="protein")
    assert str(err.value) == f"{tmp_path / 'model'}: model of domain 'dna', expected a 'protein' model"
    with pytest.raises(UserError, match="not an exported model"):
        from_pretrained(tmp_path / "nothing")


def test_weights_cut_short_are_named_in_one_line(tmp_path):
    model, export = _tiny_backbone()
    export_model(tmp_path / "model", model, export)
    weights = tmp_path / "model" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])  # a copy that stopped part-way
    with pytest.raises(UserError) as err:
        from_pretrained(tmp_path)
    assert str(err.value).startswith(f"{weights}: not a readable safetensors file (")


def test_no_pickle_in_export(tmp_path):
    """The export is plain data: JSON and safetensors, read back without torch's unpickler."""
    import json

    from safetensors import safe_open

    model, export = _tiny_backbone()
    out = export_model(tmp_path, model, export)
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "model.safetensors"]
    assert json.loads((out / "config.json").read_text())["domain"] == export["domain"]
    with safe_open(str(out / "model.safetensors"), framework="pt") as f:
        stored = {k: f.get_tensor(k) for k in f.keys()}
    state = model.state_dict()
    assert sorted(stored) == sorted(state)
    for name, value in state.items():
        assert torch.equal(stored[name], value), name


class _Custom:
    pass


def test_a_file_torch_cannot_read_safely_is_named_with_what_it_is(tmp_path):
    from sciPT.checkpoint import UnreadableCheckpoint, load_lightning_checkpoint

    whole = tmp_path / "whole.ckpt"
    torch.save({"global_step": 3, "w": torch.zeros(100)}, whole)
    cut = tmp_path / "cut.ckpt"
    cut.write_bytes(whole.read_bytes()[:300])
    objects = tmp_path / "objects.ckpt"
    torch.save({"hparams": _Custom()}, objects)
    text = tmp_path / "notes.ckpt"
    text.write_text("not a checkpoint\n")
    expected = {
        cut: f"{cut}: not a readable checkpoint, cut short or damaged (a job killed while saving it, or a full "
        "disk?): PytorchStreamReader failed reading zip archive: failed finding central directory",
        objects: f"{objects}: holds a Python object ({__name__}._Custom) besides tensors and plain data, which "
        "is never unpickled here",
        text: f"{text}: not a checkpoint (no torch file)",
    }
    for path, message in expected.items():
        for mmap in (False, True):
            with pytest.raises(UnreadableCheckpoint) as refused:
                load_lightning_checkpoint(path, mmap=mmap)
            assert str(refused.value) == message


def test_a_re_export_replaces_weights_and_config_together(tmp_path, monkeypatch):
    import json

    import sciPT.checkpoint as ck

    model, export = _tiny_backbone()
    out = tmp_path / "model"
    export_model(out, model, {**export, "note": "first"})
    (out / "README.txt").write_text("kept\n")  # anything else in the folder stays
    first = (out / "model.safetensors").read_bytes()
    with torch.no_grad():
        next(model.parameters()).add_(1.0)

    # killed half-way: the new weights are written, the config is not
    def no_config(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(ck.io, "write_json", no_config)
    with pytest.raises(KeyboardInterrupt):
        export_model(out, model, {**export, "note": "second"})
    assert (out / "model.safetensors").read_bytes() == first
    assert json.loads((out / "config.json").read_text())["note"] == "first"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # no staging folder left behind
    monkeypatch.undo()

    export_model(out, model, {**export, "note": "second"})
    assert (out / "model.safetensors").read_bytes() != first
    assert json.loads((out / "config.json").read_text())["note"] == "second"
    assert (out / "README.txt").read_text() == "kept\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_an_export_keeps_a_dangling_link_beside_it(tmp_path):
    model, export = _tiny_backbone()
    out = tmp_path / "model"
    out.mkdir()
    (out / "notes").symlink_to(tmp_path / "gone")  # points nowhere: copied as the link it is
    export_model(out, model, export)
    assert (out / "notes").is_symlink() and not (out / "notes").exists()
    assert from_pretrained(out).config["domain"] == "dna"


def test_a_loaded_model_is_in_eval_mode(tmp_path):
    """from_pretrained returns the backbone ready for inference: every module in eval mode."""
    model, export = _tiny_backbone()
    model.train()
    export_model(tmp_path / "model", model, export)
    loaded = from_pretrained(tmp_path).model
    assert loaded.training is False
    assert not any(m.training for m in loaded.modules())
