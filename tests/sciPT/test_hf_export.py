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


def test_the_config_names_sciPTs_token_ids_and_shape():
    """config.json is what transformers users read: its special ids must be sciPT's (pad 0, unk 1,
    cls 2, sep/eos 3, mask 4, then the residues), its shape the encoder's, and every ESM option
    sciPT lacks switched off."""
    from sciPT.hf_export import esm_config
    from sciPT.tokenizers import MASK_ID, PAD_ID, SEP_ID

    model = {"vocab_size": 10, "d_model": 48, "n_layers": 3, "n_heads": 6, "d_ff": 96, "max_len": 77}
    fields = esm_config({**model, "dropout": 0.25, "norm_eps": 1e-5}, {"symbols": "ACGTN"})
    assert (PAD_ID, MASK_ID, SEP_ID) == (0, 4, 3)
    assert fields == {
        "architectures": ["EsmForMaskedLM"],
        "vocab_size": 10,
        "pad_token_id": 0,
        "mask_token_id": 4,
        "eos_token_id": 3,
        "hidden_size": 48,
        "num_hidden_layers": 3,
        "num_attention_heads": 6,
        "intermediate_size": 96,
        "hidden_dropout_prob": 0.25,
        "attention_probs_dropout_prob": 0.25,
        "max_position_embeddings": 77,
        "position_embedding_type": "rotary",
        "rope_theta": 10_000.0,
        "layer_norm_eps": 1e-5,
        "emb_layer_norm_before": False,
        "token_dropout": False,
        "tie_word_embeddings": False,
        "is_decoder": False,
        "sciPT_add_special_tokens": False,
    }


def test_a_vocab_size_that_is_not_the_residue_tokenizers_is_refused():
    # a model over k-mers or another alphabet would be exported with ids that spell other tokens
    from sciPT.errors import ConfigError
    from sciPT.hf_export import esm_config

    model = {"d_model": 32, "n_layers": 1, "n_heads": 4, "d_ff": 64, "max_len": 32}
    for size in (9, 11):
        with pytest.raises(ConfigError) as err:
            esm_config({**model, "vocab_size": size}, {"symbols": "ACGTN"})
        assert str(err.value) == f"model.vocab_size: {size}, expected 10 for a residue tokenizer"


def test_the_mapped_weights_compute_sciPTs_logits_in_esm():
    """esm_state puts each sciPT tensor under the ESM module that does the same job: a swapped
    norm, a q/k/v split in the wrong order or an ESM option left on changes every logit."""
    import dataclasses

    import torch
    from transformers import EsmConfig, EsmForMaskedLM

    from sciPT.hf_export import esm_config, esm_state
    from sciPT.nn.transformer import TransformerConfig, TransformerEncoder
    from sciPT.objectives.masked import LMHead

    torch.manual_seed(0)
    cfg = TransformerConfig(vocab_size=10, d_model=32, n_layers=2, n_heads=4, d_ff=64, max_len=32)
    encoder, head = TransformerEncoder(cfg).eval(), LMHead(32, 10).eval()
    with torch.no_grad():  # plain norms and zero biases would hide a swapped norm or bias
        for p in [*encoder.parameters(), *head.parameters()]:
            p.add_(0.2 * torch.randn_like(p))
    fields = esm_config(dataclasses.asdict(cfg), {"symbols": "ACGTN"})
    esm = EsmForMaskedLM(EsmConfig(**fields)).eval()
    state = esm_state(encoder.state_dict(), head.state_dict(), cfg.n_layers)
    result = esm.load_state_dict(state, strict=False)
    assert not result.unexpected_keys
    assert all("contact_head" in k or "rotary" in k for k in result.missing_keys)
    ids = torch.tensor([[5, 6, 7, 8, 9, 5, 5, 8], [9, 8, 4, 6, 5, 0, 0, 0]])
    mask = ids != 0
    with torch.no_grad():
        ours = head(encoder(ids, mask))
        theirs = esm(input_ids=ids, attention_mask=mask.long()).logits
    torch.testing.assert_close(theirs[mask], ours[mask], atol=1e-5, rtol=0)


def test_the_exported_tokenizer_gives_sciPTs_ids(run, tmp_path):
    """The folder's EsmTokenizer and config must give each special token and residue the id the
    model was trained on (sciPT's tokenizer), or transformers users feed it other tokens."""
    import json

    from transformers import EsmTokenizer

    from sciPT.tokenizers import CLS_ID, MASK_ID, PAD_ID, SEP_ID, UNK_ID

    out = tmp_path / "esm"
    assert main(["export", str(run), "--format", "hf", "--out", str(out)]) == 0
    tok = EsmTokenizer.from_pretrained(str(out), local_files_only=True)
    ids = (tok.pad_token_id, tok.unk_token_id, tok.cls_token_id, tok.eos_token_id, tok.mask_token_id)
    assert ids == (PAD_ID, UNK_ID, CLS_ID, SEP_ID, MASK_ID)
    config = json.loads((out / "config.json").read_text())
    assert (config["pad_token_id"], config["eos_token_id"], config["mask_token_id"]) == (
        PAD_ID,
        SEP_ID,
        MASK_ID,
    )
    assert tok("ACGTN", add_special_tokens=False)["input_ids"] == [5, 6, 7, 8, 9]


def test_a_non_empty_out_is_refused_and_left_as_it_was(run, tmp_path, capsys):
    # an export over a folder of other files would mix them with (or lose them to) the new model
    out = tmp_path / "esm"
    out.mkdir()
    (out / "notes.txt").write_text("keep me\n")
    assert main(["export", str(run), "--format", "hf", "--out", str(out)]) == 2
    assert (
        capsys.readouterr().err.strip().splitlines()[-1]
        == f"scipt: error: {out}: exists and is not empty (the hf export writes a new folder)"
    )
    assert [p.name for p in out.iterdir()] == ["notes.txt"] and (out / "notes.txt").read_text() == "keep me\n"


def test_an_existing_empty_out_is_filled(run, tmp_path):
    # a folder made beforehand (mkdir, a job script) holds nothing to lose: refusing it as
    # "not empty" would be wrong, and the export must land in it
    out = tmp_path / "esm"
    out.mkdir()
    assert main(["export", str(run), "--format", "hf", "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "config.json",
        "model.safetensors",
        "tokenizer_config.json",
        "vocab.txt",
    ]


def test_the_checkpoint_named_is_the_one_exported(run, tmp_path):
    """--checkpoint picks the state to export (an earlier, better step): exporting last.ckpt instead
    would hand transformers users another model than the one asked for."""
    import torch
    from safetensors.torch import load_file

    state = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    bias = state["state_dict"]["objective.head.decoder.bias"]
    marked = torch.arange(bias.numel(), dtype=bias.dtype)  # no trained bias is 0, 1, 2, ...
    state["state_dict"]["objective.head.decoder.bias"] = marked
    torch.save(state, tmp_path / "chosen.ckpt")
    out = tmp_path / "esm"
    argv = [
        "export",
        str(run),
        "--format",
        "hf",
        "--out",
        str(out),
        "--checkpoint",
        str(tmp_path / "chosen.ckpt"),
    ]
    assert main(argv) == 0
    assert torch.equal(load_file(str(out / "model.safetensors"))["lm_head.bias"], marked)


def test_a_stale_temporary_folder_of_an_interrupted_export_is_replaced(run, tmp_path):
    # an export killed mid-way leaves .esm.tmp-hf behind: the next one must start afresh, not fail
    # on it nor carry its files into the new folder
    stale = tmp_path / ".esm.tmp-hf"
    stale.mkdir()
    (stale / "leftover.bin").write_bytes(b"half a file")
    assert main(["export", str(run), "--format", "hf", "--out", str(tmp_path / "esm")]) == 0
    assert "leftover.bin" not in [p.name for p in (tmp_path / "esm").iterdir()]
    assert not stale.exists()


def _stripped_run(run, tmp_path, drop=()):
    """A run folder holding only ``run``'s config.yaml (less the sections ``drop``): no checkpoint."""
    import yaml

    config = yaml.safe_load((run / "config.yaml").read_text())
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "config.yaml").write_text(yaml.safe_dump({k: v for k, v in config.items() if k not in drop}))
    return copy


def test_a_run_without_a_checkpoint_is_refused_in_one_line(run, tmp_path, capsys):
    # a run stopped before its first checkpoint has no masked-LM head to export: it is said so,
    # not left to a file-not-found traceback of the checkpoint reader
    copy = _stripped_run(run, tmp_path)
    assert main(["export", str(copy), "--format", "hf", "--out", str(tmp_path / "esm")]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"scipt: error: {copy / 'checkpoints' / 'last.ckpt'}: checkpoint not found (the hf export "
        "needs the masked-LM head it keeps)"
    )
    assert not (tmp_path / "esm").exists()


def test_checkpoints_without_a_sequence_export_configuration_are_refused_in_one_line(run, tmp_path, capsys):
    # a Lightning checkpoint sciPT did not write (no sciPT_export), and one of a model that is not
    # over residues (no alphabet to write vocab.txt from), each in one line that says which
    import torch

    state = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    bare = {k: v for k, v in state.items() if k != "sciPT_export"}
    torch.save(bare, tmp_path / "bare.ckpt")
    other = {**state["sciPT_export"]["config"], "domain": "molecules", "tokenizer": {"kind": "smiles"}}
    torch.save({**state, "sciPT_export": {**state["sciPT_export"], "config": other}}, tmp_path / "other.ckpt")
    for name, message in (
        (
            "bare.ckpt",
            f"{tmp_path / 'bare.ckpt'}: holds no export configuration (a pre-training checkpoint is expected)",
        ),
        (
            "other.ckpt",
            f"{run}: a molecules model; --format hf exports DNA and protein pre-training runs (transformer "
            "encoders over residues)",
        ),
    ):
        argv = ["export", str(run), "--format", "hf", "--out", str(tmp_path / "esm"), "--checkpoint"]
        assert main([*argv, str(tmp_path / name)]) == 2
        assert capsys.readouterr().err.strip().splitlines()[-1] == f"scipt: error: {message}"
        assert not (tmp_path / "esm").exists()


def test_a_run_config_without_an_objective_section_is_masked_pre_training(run, tmp_path):
    # masked pre-training is the default objective: a config.yaml that leaves the section out
    # (written by hand, or before it was recorded) is a masked run and exports
    copy = _stripped_run(run, tmp_path, drop=("objective",))
    argv = ["export", str(copy), "--format", "hf", "--out", str(tmp_path / "esm")]
    assert main([*argv, "--checkpoint", str(run / "checkpoints" / "last.ckpt")]) == 0
    assert (tmp_path / "esm" / "model.safetensors").is_file()


def test_the_same_run_exports_the_same_weights(run, tmp_path):
    """sciPT trains no contact head: the exported one is zero, not a random initialisation, so two
    exports of one run are the same model (and a contact prediction from it is plainly empty)."""
    import torch
    from safetensors.torch import load_file

    for name in ("a", "b"):
        torch.manual_seed(len(name) + ord(name))  # a different random state for each export
        assert main(["export", str(run), "--format", "hf", "--out", str(tmp_path / name)]) == 0
    a, b = (
        load_file(str(tmp_path / "a" / "model.safetensors")),
        load_file(str(tmp_path / "b" / "model.safetensors")),
    )
    assert sorted(a) == sorted(b) and all(torch.equal(a[k], b[k]) for k in a)
    contact = [k for k in a if "contact_head" in k]
    assert contact and all(not a[k].any() for k in contact)


def test_an_export_that_fails_part_way_leaves_no_folder_behind(run, tmp_path, monkeypatch):
    # a full disk (or Ctrl-C) while the files are written: neither a half folder at --out nor the
    # staging folder may be left, or the next export is refused or mixes in stale files
    import transformers

    from sciPT.hf_export import export_esm

    def full_disk(self, *args, **kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr(transformers.EsmTokenizer, "save_pretrained", full_disk)
    with pytest.raises(OSError, match="No space left on device"):
        export_esm(run, tmp_path / "esm")
    assert list(tmp_path.iterdir()) == []
