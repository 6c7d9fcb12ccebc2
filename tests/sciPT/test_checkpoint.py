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


def test_a_link_to_a_folder_beside_an_export_stays_a_link(tmp_path):
    """A re-export keeps a link to a shared folder as the link, not a copy of all it holds."""
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "data.txt").write_text("big\n")
    model, export = _tiny_backbone()
    out = tmp_path / "model"
    out.mkdir()
    (out / "data").symlink_to(shared)
    export_model(out, model, export)
    assert (out / "data").is_symlink() and (out / "data").resolve() == shared


def test_a_folder_with_a_config_but_no_weights_is_not_an_export_and_both_places_are_named(tmp_path):
    """A folder half-copied (config.json without its weights) is refused in one line naming the two
    folders looked in, not loaded and failed on later."""
    model, export = _tiny_backbone()
    export_model(tmp_path / "model", model, export)
    (tmp_path / "model" / "model.safetensors").unlink()
    with pytest.raises(UserError) as err:
        from_pretrained(tmp_path)
    assert str(err.value) == (
        f"{tmp_path}: not an exported model (expected config.json and model.safetensors in it or in "
        f"{tmp_path / 'model'})"
    )


class _Classifier(torch.nn.Module):
    """A task's model: the backbone under a prefix, and a head."""

    def __init__(self, backbone):
        super().__init__()
        self.backbone = backbone
        self.head = torch.nn.Linear(2, 1)


def test_a_fine_tuned_task_model_is_refused_as_a_backbone_and_a_fine_tuned_backbone_loads(tmp_path):
    """A task export that is more than the backbone is refused naming the task; one that is the
    backbone (a fine-tuned potential) loads like a pre-trained one."""
    model, export = _tiny_backbone()
    export_model(tmp_path / "whole", _Classifier(model), {**export, "task": "promoter"})
    with pytest.raises(UserError) as err:
        from_pretrained(tmp_path / "whole")
    assert str(err.value) == (
        f"{tmp_path / 'whole'}: the export of a fine-tuned 'promoter' model, not a pre-trained dna backbone: "
        "use it through 'scipt evaluate' or 'predict', or load it with the task's own loader"
    )
    export_model(tmp_path / "tuned", model, {**export, "task": "forcefield"})
    loaded = from_pretrained(tmp_path / "tuned", domain="dna")
    ids = torch.randint(5, 10, (1, 8))
    model.eval()
    assert torch.equal(loaded.model(ids), model(ids))


def test_missing_weights_are_named_with_the_weights_file(tmp_path):
    """Weights missing from model.safetensors: the message names that file (not config.json) and
    the first missing names in order."""
    from safetensors.torch import load_file, save_file

    model, export = _tiny_backbone()
    out = export_model(tmp_path / "model", model, export)
    weights = load_file(str(out / "model.safetensors"))
    gone = sorted(weights)[:4]
    save_file({k: v for k, v in weights.items() if k not in gone}, str(out / "model.safetensors"))
    with pytest.raises(UserError) as err:
        from_pretrained(out)
    assert str(err.value) == f"{out / 'model.safetensors'}: missing weights {gone[:3]}"


def test_the_digest_of_an_export_is_the_sha256_of_both_of_its_files(tmp_path):
    """What a resumed run compares: a rewritten weights file must change the digest."""
    import hashlib

    from sciPT.checkpoint import export_digest

    model, export = _tiny_backbone()
    out = export_model(tmp_path / "model", model, export)
    expected = {
        n: hashlib.sha256((out / n).read_bytes()).hexdigest() for n in ("config.json", "model.safetensors")
    }
    assert export_digest(tmp_path) == expected


def test_a_resume_whose_start_model_changed_is_refused_naming_what_changed(tmp_path):
    """A run resumed after its --init model was rewritten would anchor to other weights silently."""
    from sciPT.checkpoint import START_KEY, check_start_unchanged
    from sciPT.errors import ConfigError

    recorded = {"config.json": "a", "model.safetensors": "b"}
    checkpoint = {START_KEY: recorded}
    check_start_unchanged(checkpoint, "last.ckpt", "pre", dict(recorded))  # the same model: resumes
    check_start_unchanged({}, "last.ckpt", "pre", {"config.json": "x"})  # nothing recorded: not checked
    with pytest.raises(ConfigError) as err:
        check_start_unchanged(checkpoint, "last.ckpt", "pre", {"config.json": "x", "model.safetensors": "y"})
    assert str(err.value) == (
        "--init pre: the model changed since this run began (config.json and model.safetensors differ from "
        "the one recorded in last.ckpt): restore the model the run started from, or start a new run in "
        "another --out"
    )
    with pytest.raises(ConfigError, match=r"\(model.safetensors differ from"):
        check_start_unchanged(checkpoint, "last.ckpt", "pre", {"config.json": "a", "model.safetensors": "y"})


def test_a_checkpoint_of_other_weights_is_refused_before_a_resume(tmp_path):
    """--resume with other settings: each kind of difference counted, its first name given, and the
    rest of the Lightning state (an optimizer, a task head) ignored."""
    from sciPT.checkpoint import check_resumable
    from sciPT.errors import ConfigError

    backbone = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Linear(3, 4))
    objective = torch.nn.Linear(4, 5)
    state = {f"backbone.{k}": v for k, v in backbone.state_dict().items()}
    state |= {f"objective.{k}": v for k, v in objective.state_dict().items()}
    check_resumable(
        {"state_dict": {**state, "head.weight": torch.zeros(1)}}, "last.ckpt", backbone, "c.yaml", objective
    )

    other = dict(state)
    other["backbone.2.weight"] = torch.zeros(1)  # only in the checkpoint
    del other["backbone.0.bias"], other["backbone.1.bias"]  # only in the model
    other["objective.weight"] = torch.zeros(5, 3)  # another shape, same names
    with pytest.raises(ConfigError) as err:
        check_resumable({"state_dict": other}, "last.ckpt", backbone, "c.yaml", objective)
    assert str(err.value) == (
        "--resume: last.ckpt holds other weights than these settings build (1 only in the checkpoint (first: "
        "2.weight); 2 only in the model these settings build (first: 0.bias); 1 of another shape (first: "
        "objective.weight)): resume with the settings the run was started with (c.yaml), or start a new run "
        "in another --out"
    )
    reshaped = {**state, "backbone.0.weight": torch.zeros(3, 1)}  # names the same, a shape not
    with pytest.raises(ConfigError, match=r"1 of another shape \(first: 0.weight\)"):
        check_resumable({"state_dict": reshaped}, "last.ckpt", backbone, "c.yaml", objective)


def test_a_legacy_checkpoint_holding_an_object_is_never_unpickled_even_when_mapped(tmp_path):
    """Mapping refuses a file saved in torch's old format; reading it instead must stay
    weights-only: the object is named, never built."""
    from sciPT.checkpoint import UnreadableCheckpoint, load_lightning_checkpoint

    legacy = tmp_path / "legacy.ckpt"
    torch.save({"hparams": _Custom()}, legacy, _use_new_zipfile_serialization=False)
    for mmap in (False, True):
        with pytest.raises(UnreadableCheckpoint) as refused:
            load_lightning_checkpoint(legacy, mmap=mmap)
        assert str(refused.value) == (
            f"{legacy}: holds a Python object ({__name__}._Custom) besides tensors and plain data, which is "
            "never unpickled here"
        )


def test_a_checkpoint_that_cannot_be_opened_is_not_called_damaged(tmp_path, monkeypatch):
    """A permission or I/O error is raised as it is: the file may be whole, and calling it cut short
    would send the user to delete a good checkpoint."""
    import errno

    from sciPT.checkpoint import load_lightning_checkpoint

    path = tmp_path / "last.ckpt"
    torch.save({"global_step": 1}, path)

    def unreadable(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr(torch, "load", unreadable)
    with pytest.raises(PermissionError):
        load_lightning_checkpoint(path)


def _pretraining_checkpoint(dtype=torch.float32, **stored):
    """A pre-training checkpoint as sciPT.pretrain keeps it: the backbone and a masked head under
    their Lightning prefixes, and the export record."""
    from sciPT.export import CHECKPOINT_KEY, export_record
    from sciPT.objectives.masked import LMHead

    model, export = _tiny_backbone()
    head = LMHead(export["model"]["d_model"], export["model"]["vocab_size"])
    state = {f"backbone.{k}": v.to(dtype) for k, v in model.state_dict().items()}
    state |= {f"objective.head.{k}": v.to(dtype) for k, v in head.state_dict().items()}
    record = {**export_record({**export, "pretrained_on": []}, after_training=False), **stored}
    return {"state_dict": state, CHECKPOINT_KEY: record, "global_step": 3}, model, head


def test_an_exported_checkpoint_keeps_its_config_the_version_the_head_and_the_fisher(tmp_path, capsys):
    """scipt export: every config key comes back, with the sciPT version that wrote it; the masked
    head and the EWC tensors are stored beside the weights, and nothing is said on stderr."""
    from sciPT import __version__
    from sciPT.export import export_checkpoint

    fisher = {"fisher.embedding.weight": torch.ones(10, 64)}
    checkpoint, model, head = _pretraining_checkpoint(after_training=True, tensors=fisher)
    export_checkpoint(checkpoint, tmp_path / "model", "last.ckpt")
    loaded = from_pretrained(tmp_path, domain="dna")
    config = checkpoint["sciPT_export"]["config"]
    assert loaded.config == {"sciPT_format": 1, **config, "sciPT_version": __version__}
    assert sorted(loaded.extras) == sorted(
        ["fisher.embedding.weight", *(f"mlm_head.{k}" for k in head.state_dict())]
    )
    for k, v in head.state_dict().items():
        assert torch.equal(loaded.extras[f"mlm_head.{k}"], v), k
    assert torch.equal(loaded.extras["fisher.embedding.weight"], fisher["fisher.embedding.weight"])
    assert capsys.readouterr().err == ""


def test_a_float64_checkpoint_exports_its_head_in_the_backbones_dtype(tmp_path):
    """A 64-true run: the backbone takes its weights cast to its own dtype, and its masked head
    must be cast alike, or the export holds two dtypes and scoring mixes them."""
    from sciPT.export import export_checkpoint

    checkpoint, _, _ = _pretraining_checkpoint(dtype=torch.float64)
    export_checkpoint(checkpoint, tmp_path / "model", "last.ckpt")
    loaded = from_pretrained(tmp_path)
    assert {v.dtype for v in loaded.model.state_dict().values()} == {torch.float32}
    assert {v.dtype for v in loaded.extras.values()} == {torch.float32}


def test_an_unfinished_run_without_its_fisher_says_so_and_a_run_that_needs_none_does_not(tmp_path, capsys):
    """Only a domain that computes tensors after training warns that they are missing."""
    from sciPT.export import export_checkpoint

    checkpoint, _, _ = _pretraining_checkpoint()
    export_checkpoint(checkpoint, tmp_path / "a", "last.ckpt")
    assert capsys.readouterr().err == ""
    checkpoint, _, _ = _pretraining_checkpoint(after_training=True)
    export_checkpoint(checkpoint, tmp_path / "b", "step-3.ckpt")
    assert capsys.readouterr().err == (
        "step-3.ckpt: no EWC Fisher (it is added to last.ckpt when pre-training ends); exported the weights "
        "only; for EWC, export the finished run's checkpoints/last.ckpt\n"
    )


def test_export_into_another_non_empty_folder_is_refused(tmp_path):
    """--out naming another model's folder would replace that model without a word."""
    import argparse

    from sciPT.export import export_run

    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.yaml").write_text("domain: dna\n")
    torch.save({"global_step": 3}, run / "checkpoints" / "last.ckpt")
    other = tmp_path / "other"
    other.mkdir()
    (other / "config.json").write_text("{}")
    args = argparse.Namespace(run=str(run), out=str(other), checkpoint=None, format="sciPT")
    with pytest.raises(UserError) as err:
        export_run(args)
    assert str(err.value) == (
        f"--out {other}: exists and is not empty; give a new folder (without --out the export replaces "
        f"this run's own {run / 'model'})"
    )
    assert (other / "config.json").read_text() == "{}"


def test_a_seek_past_the_end_of_a_checkpoint_is_called_cut_short(tmp_path, monkeypatch):
    """What a file cut short raises on some file systems (EINVAL on a seek past its end) is named
    as damage in one line, not a traceback."""
    import errno

    from sciPT.checkpoint import UnreadableCheckpoint, load_lightning_checkpoint

    path = tmp_path / "last.ckpt"
    torch.save({"global_step": 1}, path)

    def past_the_end(*args, **kwargs):
        raise OSError(errno.EINVAL, "Invalid argument")

    monkeypatch.setattr(torch, "load", past_the_end)
    with pytest.raises(UnreadableCheckpoint) as refused:
        load_lightning_checkpoint(path)
    assert str(refused.value) == (
        f"{path}: not a readable checkpoint, cut short or damaged (a job killed while saving it, or a full "
        "disk?): [Errno 22] Invalid argument"
    )


def test_a_run_is_exported_into_an_empty_folder_given_with_out(tmp_path, capsys):
    """--out naming a folder made for it (empty) is where the export goes."""
    import argparse

    from sciPT.export import export_run

    checkpoint, model, _ = _pretraining_checkpoint()
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.yaml").write_text("domain: dna\n")
    torch.save(checkpoint, run / "checkpoints" / "last.ckpt")
    out = tmp_path / "exports"
    out.mkdir()
    assert export_run(argparse.Namespace(run=str(run), out=str(out), checkpoint=None, format="sciPT")) == 0
    assert capsys.readouterr().err == f"exported step 3 to {out}\n"
    loaded = from_pretrained(out, domain="dna")
    for name, value in model.state_dict().items():
        assert torch.equal(loaded.model.state_dict()[name], value), name
    assert not (run / "model").exists()


def test_a_link_inside_a_folder_kept_beside_an_export_stays_a_link(tmp_path):
    """Folders kept beside an export are copied with their links as links (a dangling one would
    stop the export; a live one would be duplicated)."""
    model, export = _tiny_backbone()
    out = tmp_path / "model"
    (out / "notes").mkdir(parents=True)
    (out / "notes" / "gone").symlink_to(tmp_path / "nowhere")
    export_model(out, model, export)
    assert (out / "notes" / "gone").is_symlink() and not (out / "notes" / "gone").exists()


def test_a_checkpoint_path_that_is_a_folder_is_not_found_in_one_line(tmp_path):
    """--checkpoint naming the checkpoints folder: one line, not an IsADirectoryError traceback."""
    from sciPT.checkpoint import load_lightning_checkpoint

    with pytest.raises(UserError) as err:
        load_lightning_checkpoint(tmp_path)
    assert str(err.value) == f"{tmp_path}: checkpoint not found"


def test_a_checkpoint_without_an_export_record_is_refused_naming_it(tmp_path):
    """A Lightning checkpoint of another program, or an old sciPT's: one line naming the file."""
    from sciPT.export import CHECKPOINT_KEY, export_checkpoint

    for checkpoint in ({"state_dict": {}}, {"state_dict": {}, CHECKPOINT_KEY: {"after_training": False}}):
        with pytest.raises(UserError) as err:
            export_checkpoint(checkpoint, tmp_path / "model", "old.ckpt")
        assert str(err.value) == (
            "old.ckpt: holds no export configuration (only pre-training checkpoints written by this sciPT "
            "version or later do)"
        )
    assert list(tmp_path.iterdir()) == []


def _run_with_a_checkpoint(tmp_path):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.yaml").write_text("domain: dna\n")
    checkpoint, _, _ = _pretraining_checkpoint()
    torch.save(checkpoint, run / "checkpoints" / "last.ckpt")
    return run


def test_export_refuses_an_out_that_is_a_file_and_a_foreign_checkpoint_without_out(tmp_path):
    """--out naming a file, or --checkpoint of another run without --out (its export would replace
    this run's model): each refused in one line; a foreign checkpoint with --out is exported."""
    import argparse
    import shutil

    from sciPT.export import export_run

    run = _run_with_a_checkpoint(tmp_path)
    (tmp_path / "a.txt").write_text("keep")
    args = argparse.Namespace(run=str(run), out=str(tmp_path / "a.txt"), checkpoint=None, format="sciPT")
    with pytest.raises(UserError) as err:
        export_run(args)
    assert str(err.value) == f"--out {tmp_path / 'a.txt'}: a file, not a directory"
    assert (tmp_path / "a.txt").read_text() == "keep"

    foreign = tmp_path / "elsewhere.ckpt"
    shutil.copy(run / "checkpoints" / "last.ckpt", foreign)
    args = argparse.Namespace(run=str(run), out=None, checkpoint=str(foreign), format="sciPT")
    with pytest.raises(UserError) as err:
        export_run(args)
    assert str(err.value) == (
        f"--checkpoint {foreign}: not one of {run}'s checkpoints, and its export would replace "
        f"{run / 'model'}: say where it goes with --out DIR"
    )
    args.out = str(tmp_path / "exported")
    assert export_run(args) == 0
    assert from_pretrained(tmp_path / "exported").config["domain"] == "dna"


def test_a_missing_checkpoint_named_with_checkpoint_is_not_pointed_to_the_runs_export(tmp_path):
    """Without --checkpoint, a run that exported itself is pointed to its model; a --checkpoint
    that does not exist is only said not to exist."""
    import argparse

    from sciPT.export import export_run

    run = tmp_path / "run"
    (run / "model").mkdir(parents=True)
    (run / "config.yaml").write_text("domain: dna\n")
    (run / "model" / "config.json").write_text("{}")
    args = argparse.Namespace(run=str(run), out=None, checkpoint=None, format="sciPT")
    with pytest.raises(UserError) as err:
        export_run(args)
    assert str(err.value) == (
        f"{run / 'checkpoints' / 'last.ckpt'}: checkpoint not found (export works on runs trained with "
        f"Lightning; this run wrote its export itself: {run / 'model'})"
    )
    args.checkpoint = str(run / "step-9.ckpt")
    with pytest.raises(UserError) as err:
        export_run(args)
    assert str(err.value) == (
        f"{run / 'step-9.ckpt'}: checkpoint not found (export works on runs trained with Lightning)"
    )


def test_a_foreign_folder_whose_config_names_no_domain_is_refused_in_one_line(tmp_path):
    """A Hugging Face folder holds config.json and model.safetensors too (scipt export --format hf
    writes one): loading it as a sciPT export should be refused in one line, not a KeyError."""
    import json

    from safetensors.torch import save_file

    (tmp_path / "config.json").write_text(
        json.dumps({"architectures": ["EsmForMaskedLM"], "model_type": "esm"})
    )
    save_file({"w": torch.zeros(2)}, str(tmp_path / "model.safetensors"))
    for domain in (None, "dna"):
        with pytest.raises(UserError) as err:
            from_pretrained(tmp_path, domain=domain)
        assert str(err.value) == (
            f"{tmp_path / 'config.json'}: names no sciPT domain, so {tmp_path} is not a sciPT export "
            f"(a Hugging Face model folder: give it as hf:{tmp_path})"
        )
    (tmp_path / "config.json").write_text("[1, 2]")
    with pytest.raises(UserError, match=r"config\.json: names no sciPT domain, so .* is not a sciPT export$"):
        from_pretrained(tmp_path)


def test_an_export_config_without_a_domain_is_refused_before_anything_is_written(tmp_path):
    """from_pretrained rebuilds a model from its config's domain: an export without one could never
    be loaded, so it is refused, and no folder is left behind."""
    model, export = _tiny_backbone()
    with pytest.raises(ValueError) as err:
        export_model(tmp_path / "model", model, {k: v for k, v in export.items() if k != "domain"})
    assert str(err.value) == "export config must name its 'domain'"
    assert list(tmp_path.iterdir()) == []


class _Tied(torch.nn.Module):
    """Two layers sharing one weight (as a language model ties its decoder to its embedding)."""

    def __init__(self):
        super().__init__()
        self.a = torch.nn.Linear(3, 3, bias=False)
        self.b = torch.nn.Linear(3, 3, bias=False)
        self.b.weight = self.a.weight


def test_tied_weights_and_a_transposed_extra_tensor_are_exported(tmp_path):
    """safetensors refuses tensors sharing memory and non-contiguous ones: tied weights are stored
    as two copies, and an extra tensor that is a transposed view is stored with its values."""
    from safetensors.torch import load_file

    module = _Tied()
    extra = torch.arange(6.0).reshape(2, 3).t()  # a view: [[0, 3], [1, 4], [2, 5]]
    out = export_model(tmp_path / "model", module, {"domain": "dna"}, extra_tensors={"fisher.t": extra})
    stored = load_file(str(out / "model.safetensors"))
    assert sorted(stored) == ["a.weight", "b.weight", "fisher.t"]
    assert torch.equal(stored["a.weight"], module.a.weight.detach())
    assert torch.equal(stored["b.weight"], module.a.weight.detach())
    assert torch.equal(stored["fisher.t"], torch.tensor([[0.0, 3.0], [1.0, 4.0], [2.0, 5.0]]))


def test_the_weights_file_is_marked_as_pytorch_and_the_same_weights_give_the_same_bytes(tmp_path):
    """Readers such as transformers refuse a safetensors file whose metadata does not give its
    "format"; and exporting the same weights twice gives byte-identical files."""
    from safetensors import safe_open

    model, export = _tiny_backbone()
    first = export_model(tmp_path / "a", model, export)
    second = export_model(tmp_path / "b", model, export)
    with safe_open(str(first / "model.safetensors"), framework="pt") as f:
        assert f.metadata() == {"format": "pt"}
    assert (first / "model.safetensors").read_bytes() == (second / "model.safetensors").read_bytes()


def test_the_weights_follow_the_users_umask(tmp_path):
    """A group-writable umask (002) or a private one (027) gives the weights the mode any file the
    user writes gets: 0o666 less the umask, as config.json."""
    import os

    model, export = _tiny_backbone()
    for umask, mode in ((0o002, 0o664), (0o027, 0o640)):
        old = os.umask(umask)
        try:
            out = export_model(tmp_path / f"model-{umask:o}", model, export)
        finally:
            os.umask(old)
        assert {p.name: p.stat().st_mode & 0o777 for p in out.iterdir()} == {
            "config.json": mode,
            "model.safetensors": mode,
        }


def test_a_hugging_face_folder_is_recognised_by_its_model_type_alone(tmp_path):
    """Every Hugging Face config.json names its model_type; "architectures" is optional (a config
    saved from AutoConfig lacks it): the hint is given all the same."""
    import json

    from safetensors.torch import save_file

    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    save_file({"w": torch.zeros(2)}, str(tmp_path / "model.safetensors"))
    with pytest.raises(UserError) as err:
        from_pretrained(tmp_path)
    assert str(err.value) == (
        f"{tmp_path / 'config.json'}: names no sciPT domain, so {tmp_path} is not a sciPT export "
        f"(a Hugging Face model folder: give it as hf:{tmp_path})"
    )


def test_a_loaded_fine_tuned_backbone_names_its_domain_not_its_task(tmp_path):
    """Pretrained.domain is the config's domain, also for a task's export that is the backbone."""
    model, export = _tiny_backbone()
    export_model(tmp_path / "model", model, {**export, "task": "forcefield"})
    loaded = from_pretrained(tmp_path)
    assert loaded.domain == "dna"
    assert loaded.config["task"] == "forcefield"


def test_without_an_objective_only_the_backbone_is_compared_before_a_resume():
    """check_resumable without ``objective`` compares the backbone alone: the checkpoint's
    objective.* entries (and any other module's) are not counted as weights the settings lack."""
    from sciPT.checkpoint import check_resumable

    backbone = torch.nn.Linear(2, 3)
    state = {f"backbone.{k}": v for k, v in backbone.state_dict().items()}
    state |= {"objective.weight": torch.zeros(5, 3), "head.weight": torch.zeros(1)}
    check_resumable({"state_dict": state}, "last.ckpt", backbone, "c.yaml")


def test_a_checkpoint_read_for_a_look_is_mapped_not_read(tmp_path, monkeypatch):
    """mmap=True (reading a checkpoint's counters) asks torch to map the file, so that a look at a
    large checkpoint does not read all its tensors into memory; by default it is read."""
    from sciPT.checkpoint import load_lightning_checkpoint

    path = tmp_path / "last.ckpt"
    torch.save({"global_step": 4, "w": torch.zeros(10)}, path)
    asked = []
    load = torch.load

    def spy(*args, **kwargs):
        asked.append(kwargs.get("mmap", False))
        return load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    assert load_lightning_checkpoint(path, mmap=True)["global_step"] == 4
    assert load_lightning_checkpoint(path)["global_step"] == 4
    assert asked == [True, False]


def test_an_empty_end_of_file_error_is_named_damaged_by_its_type_in_one_line(tmp_path, monkeypatch):
    """A file in torch's old format cut short mostly ends in an EOFError without a message: it is
    named as damage like any other, with the error's type for a reason, and is a UserError (one
    line from the command line, not a traceback)."""
    from sciPT.checkpoint import UnreadableCheckpoint, load_lightning_checkpoint

    path = tmp_path / "last.ckpt"
    torch.save({"global_step": 1}, path)

    def cut_short(*args, **kwargs):
        raise EOFError

    monkeypatch.setattr(torch, "load", cut_short)
    for mmap in (False, True):
        with pytest.raises(UserError) as refused:
            load_lightning_checkpoint(path, mmap=mmap)
        assert isinstance(refused.value, UnreadableCheckpoint)
        assert str(refused.value) == (
            f"{path}: not a readable checkpoint, cut short or damaged (a job killed while saving it, or a full "
            "disk?): EOFError"
        )


def test_a_legacy_checkpoint_cut_anywhere_is_named_damaged(tmp_path):
    """Wherever a file in torch's old format is cut, it is called damaged in one line."""
    from sciPT.checkpoint import load_lightning_checkpoint

    whole = tmp_path / "whole.ckpt"
    torch.save({"global_step": 3, "w": torch.zeros(1000)}, whole, _use_new_zipfile_serialization=False)
    data = whole.read_bytes()
    cut = tmp_path / "cut.ckpt"
    wrong = {}
    for n in range(1, 360):
        cut.write_bytes(data[:n])
        try:
            load_lightning_checkpoint(cut)
        except UserError as error:
            if "not a readable checkpoint, cut short or damaged" not in str(error):
                wrong[n] = str(error)
        except Exception as error:  # any other error (a traceback) is what the test finds
            wrong[n] = repr(error)
    assert wrong == {}


def test_a_value_error_from_a_damaged_checkpoint_is_named_by_its_first_line(tmp_path, monkeypatch):
    """A ValueError is damage too; a reason over several lines is cut to its first."""
    from sciPT.checkpoint import UnreadableCheckpoint, load_lightning_checkpoint

    path = tmp_path / "last.ckpt"
    torch.save({"global_step": 1}, path)

    def damaged(*args, **kwargs):
        raise ValueError("bad record header\nat offset 12")

    monkeypatch.setattr(torch, "load", damaged)
    with pytest.raises(UnreadableCheckpoint) as refused:
        load_lightning_checkpoint(path)
    assert str(refused.value) == (
        f"{path}: not a readable checkpoint, cut short or damaged (a job killed while saving it, or a full "
        "disk?): bad record header"
    )


def test_a_config_that_is_not_an_object_is_refused_in_one_line(tmp_path):
    """A config.json holding a bare number (damaged, or another program's) is refused as naming no
    domain, not failed on with a TypeError."""
    from safetensors.torch import save_file

    (tmp_path / "config.json").write_text("3\n")
    save_file({"w": torch.zeros(2)}, str(tmp_path / "model.safetensors"))
    with pytest.raises(UserError) as err:
        from_pretrained(tmp_path)
    assert str(err.value) == (
        f"{tmp_path / 'config.json'}: names no sciPT domain, so {tmp_path} is not a sciPT export"
    )


def test_a_global_is_resolvable_unless_cut_or_nowhere():
    """The names a checkpoint's pickle may give: an object of an imported module or of an installed
    package is resolvable (it is refused as a Python object, not called damage); a name with an
    empty part, an attribute its imported module lacks, or a first part no package has is not."""
    from sciPT.checkpoint import _resolvable

    for name in ("collections.OrderedDict", "torch._utils._rebuild_tensor_v2", "numpy.dtype"):
        assert _resolvable(name), name
    for name in ("torch._utils._rebuild_tenso", "t.", ".", "torch..x", "to", "no_such_package_here.Thing"):
        assert not _resolvable(name), name


def test_a_whole_checkpoint_holding_an_object_of_a_package_not_installed_is_not_called_damaged(
    tmp_path, monkeypatch
):
    """Where the file is a whole zip (the format Lightning writes), a global no package here holds
    is an object this machine cannot build, refused as one, not a file cut short."""
    import pickle

    from sciPT.checkpoint import UnreadableCheckpoint, load_lightning_checkpoint

    path = tmp_path / "last.ckpt"
    torch.save({"global_step": 1}, path)

    def refuses(*args, **kwargs):
        raise pickle.UnpicklingError(
            "Weights only load failed. Unsupported global: GLOBAL no_such_package_here.Thing"
        )

    monkeypatch.setattr(torch, "load", refuses)
    with pytest.raises(UnreadableCheckpoint) as refused:
        load_lightning_checkpoint(path)
    assert str(refused.value) == (
        f"{path}: holds a Python object (no_such_package_here.Thing) besides tensors and plain data, which "
        "is never unpickled here"
    )
