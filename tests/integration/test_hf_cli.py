"""`scipt finetune promoter --init hf:DIR` (an ESM folder in the Hugging Face format), then
`predict`, `predict --embed` and `scan` on the run, every fine-tuning strategy, and the errors."""

import csv
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

pytest.importorskip("transformers")

from sciPT.cli import main  # noqa: E402
from sciPT.domains.dna.data import DNA_SPEC  # noqa: E402
from sciPT.domains.protein.data import PROTEIN_SPEC  # noqa: E402
from sciPT.hf_load import load_hf, save_fisher  # noqa: E402
from sciPT.testing import tiny_esm_folder  # noqa: E402

UCI = Path(__file__).resolve().parents[2] / "data_recipes/promoters/uci_ecoli_promoters.csv"
FAST = ["--ensemble", "1", "--max-epochs", "1", "--batch-size", "16", "--min-steps-per-epoch", "0"]


@pytest.fixture(scope="module")
def nt(tmp_path_factory):
    return tiny_esm_folder(tmp_path_factory.mktemp("hf") / "nt", "dna")


@pytest.fixture(scope="module")
def trained(tmp_path_factory, nt):
    """A run fine-tuned from the folder (an ensemble of two, strand-symmetric, stopped on a
    validation set large enough for the likelihood fusion), and the classifier as it was in
    memory when the run exported it."""
    import sciPT.tasks.promoter_train as promoter

    out = tmp_path_factory.mktemp("run") / "run"
    held = {}
    export = promoter.export_classifier

    def keep(run, classifier, *args):
        held["classifier"] = classifier
        return export(run, classifier, *args)

    promoter.export_classifier = keep
    try:
        data = str(UCI)
        argv = [
            "finetune",
            "promoter",
            "--init",
            f"hf:{nt}",
            "--train",
            data,
            "--test",
            data,
            "--val",
            data,
            "--out",
            str(out),
        ]
        assert (
            main(
                [
                    *argv,
                    "--ensemble",
                    "2",
                    "--max-epochs",
                    "2",
                    "--batch-size",
                    "16",
                    "--strand-symmetric",
                    "--min-steps-per-epoch",
                    "0",
                    "--naturalness-min-ratio",  # the fusion kept, whatever a random model's is worth
                    "0",
                ]
            )
            == 0
        )
    finally:
        promoter.export_classifier = export
    return out, held["classifier"], promoter.read_labelled(data)


def test_the_run_exports_the_hf_config_and_vocabulary(trained, nt):
    out, _, _ = trained
    exported = json.loads((out / "model/config.json").read_text())
    assert exported["model"]["model_type"] == "esm" and exported["model"]["hidden_size"] == 32
    assert exported["tokenizer"]["kind"] == "hf" and exported["pretrained_on"] is None
    assert (out / "model/vocab.txt").read_text().splitlines() == (nt / "vocab.txt").read_text().splitlines()
    assert sorted(p.name for p in (out / "model").iterdir()) == [
        "config.json",
        "model.safetensors",
        "training_sequences.safetensors",
        "vocab.txt",
    ]
    report = (out / "report.md").read_text()
    assert "Contamination unknown: the model (a Hugging Face folder, `--init hf:`) records no" in report
    # the folder's lm_head scores words that do not overlap, one at a time, skipping <cls>
    scorer = exported["naturalness"]["scorer"]
    assert scorer["span"] == 1 and scorer["eps"] == 1e-12 and 3 in scorer["skip_ids"]  # <cls> is id 3
    assert "The model adds the pre-trained model's pseudo-log-likelihood" in report


def test_predict_equals_the_in_process_classifier(trained, tmp_path):
    out, classifier, data = trained
    assert main(["predict", str(out), "--input", str(UCI), "--output", str(tmp_path / "p.csv")]) == 0
    rows = list(csv.DictReader(open(tmp_path / "p.csv")))
    assert [r["name"] for r in rows] == data.names
    written = np.array([float(r["probability"]) for r in rows])
    np.testing.assert_allclose(written, classifier.predict(data.codes), atol=1e-6)

    assert (
        main(["predict", str(out), "--input", str(UCI), "--output", str(tmp_path / "e.csv"), "--embed"]) == 0
    )
    rows = list(csv.reader(open(tmp_path / "e.csv")))
    assert rows[0] == ["name", *[f"e{j}" for j in range(32)]] and len(rows) == 1 + len(data)
    emb = np.array([[float(v) for v in r[1:]] for r in rows[1:]])
    np.testing.assert_allclose(emb, classifier.embed(data.codes), rtol=1e-5, atol=1e-5)


def test_scan(trained, tmp_path):
    out, _, _ = trained
    rng = np.random.default_rng(0)
    genome = tmp_path / "g.fa"
    genome.write_text(">chr\n" + "".join(rng.choice(list("ACGTN"), 120)) + "\n")
    bed = tmp_path / "scan.bedgraph"
    assert main(["scan", str(out), "--genome", str(genome), "--stride", "20", "--output", str(bed)]) == 0
    lines = bed.read_text().splitlines()
    assert len(lines) == 2 * (1 + 4) and all(
        0 < float(line.split("\t")[3]) < 1 for line in lines if "\t" in line
    )


def backbone(path) -> dict:
    return {k[len("backbone.") :]: v for k, v in load_file(str(path / "model/model.safetensors")).items()}


@pytest.mark.parametrize("strategy", ["full", "linear-probe", "freeze", "gradual", "l2sp", "ewc"])
def test_every_strategy_fine_tunes_an_hf_start(strategy, tmp_path, planted):
    folder = tiny_esm_folder(tmp_path / "nt", "dna")
    original = load_hf(folder, DNA_SPEC).model
    if strategy == "ewc":
        save_fisher(folder, {n: torch.ones_like(p) for n, p in original.named_parameters()})
    path, _ = planted
    out = tmp_path / "run"
    argv = ["finetune", "promoter", "--init", f"hf:{folder}", "--train", str(path), "--out", str(out)]
    assert main([*argv, "--strategy", strategy, *FAST, "--finetune.unfreeze-every", "2"]) == 0
    tuned, before = backbone(out), original.state_dict()
    same = {k for k in before if torch.equal(before[k], tuned[k])}
    # a key bias adds q.b to every score of a query alike, which softmax ignores: its gradient is
    # zero up to rounding, so whether it moves says nothing about the strategy
    trained_params = {n for n, _ in original.named_parameters() if not n.endswith("attention.self.key.bias")}
    if strategy == "linear-probe":
        assert trained_params <= same
    elif strategy == "freeze":  # the embeddings and layer 0 (freeze_layers = 1) stay as they were
        frozen = {n for n in trained_params if n.startswith(("esm.embeddings.", "esm.encoder.layer.0."))}
        assert frozen <= same and not (trained_params - frozen) & same
    elif strategy == "gradual":  # 4 steps, one more group from the top every 2: the final norm
        assert "esm.encoder.emb_layer_norm_after.weight" not in same
        assert (
            "esm.encoder.layer.1.output.dense.weight" in same
            and "esm.embeddings.word_embeddings.weight" in same
        )
    else:
        assert (
            not {"esm.encoder.layer.1.output.dense.weight", "esm.encoder.emb_layer_norm_after.weight"} & same
        )


def test_a_missing_folder_is_one_line(tmp_path, planted, capsys):
    path, _ = planted
    argv = ["finetune", "promoter", "--init", f"hf:{tmp_path / 'nope'}", "--train", str(path)]
    assert main([*argv, "--out", str(tmp_path / "run")]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"scipt: error: hf:{tmp_path / 'nope'}: folder not found (hf: takes a local folder written by "
        "save_pretrained; nothing is downloaded)"
    ]
    assert not (tmp_path / "run").exists()


def test_a_folder_of_another_model_is_one_line(tmp_path, planted, capsys):
    path, _ = planted
    (tmp_path / "bert").mkdir()
    (tmp_path / "bert/config.json").write_text('{"model_type": "bert"}')
    argv = ["finetune", "promoter", "--init", f"hf:{tmp_path / 'bert'}", "--train", str(path)]
    assert main([*argv, "--out", str(tmp_path / "run")]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"scipt: error: hf:{tmp_path / 'bert'}: not an ESM model folder (config.json has model_type "
        "'bert'; expected an EsmForMaskedLM saved with save_pretrained)"
    ]
    assert not (tmp_path / "run").exists()


PRETRAIN = ["--max-steps", "4", "--batch-size", "4", "--val-every", "2", "--val-batches", "1"]
PRETRAIN += ["--warmup-steps", "1", "--window", "32", "--model.max-len", "32", "--model.d-model", "32"]
PRETRAIN += ["--model.d-ff", "64"]
PROTEIN = "ACDEFGHIKLMNPQRSTVWYUOX"


def test_export_hf_computes_the_same_logits(tmp_path, capsys):
    from transformers import EsmForMaskedLM, EsmTokenizer

    from sciPT.checkpoint import from_pretrained, load_lightning_checkpoint
    from sciPT.objectives.masked import LMHead
    from sciPT.tokenizers import SequenceTokenizer

    run = tmp_path / "run"
    assert main(["pretrain", "protein", "--out", str(run), *PRETRAIN]) == 0
    assert main(["export", str(run), "--format", "hf", "--out", str(tmp_path / "esm")]) == 0
    assert (
        f"exported {tmp_path / 'esm'} as EsmForMaskedLM (tokenize upper-case sequences with "
        "add_special_tokens=False: the model was trained without <cls>/<eos>, and its tokenizer reads "
        "lower case as unknown tokens)"
    ) in capsys.readouterr().err
    pre = from_pretrained(run)
    tokenizer = SequenceTokenizer.from_dict(pre.config["tokenizer"])
    state = load_lightning_checkpoint(run / "checkpoints/last.ckpt")["state_dict"]
    head = LMHead(32, tokenizer.vocab_size)
    head.load_state_dict(
        {k[len("objective.head.") :]: v for k, v in state.items() if k.startswith("objective.head.")}
    )
    seqs = ["MKTAYIAKQRQISFVKSHFSRQ", "MUOXAC", "WWYYKLLLPQRSTVACDEFGHIKLMN"]
    ours = tokenizer.batch([np.array([PROTEIN.index(c) for c in s], dtype=np.uint8) for s in seqs])
    theirs = EsmTokenizer.from_pretrained(str(tmp_path / "esm"), local_files_only=True)(
        seqs, padding=True, return_tensors="pt", add_special_tokens=False
    )
    assert torch.equal(ours["input_ids"], theirs["input_ids"])
    esm = EsmForMaskedLM.from_pretrained(str(tmp_path / "esm"), local_files_only=True).eval()
    real = ours["attention_mask"]
    with torch.no_grad():
        hidden = pre.model(ours["input_ids"], real)
        logits = head(hidden)
        torch.testing.assert_close(esm(**theirs).logits[real], logits[real], atol=1e-5, rtol=0)
        # and back through --init hf: (the folder says: no <cls>/<eos>)
        back = load_hf(tmp_path / "esm", PROTEIN_SPEC)
        again = back.tokenizer.batch([np.array([PROTEIN.index(c) for c in s], dtype=np.uint8) for s in seqs])
        assert torch.equal(again["input_ids"], ours["input_ids"])
        torch.testing.assert_close(back.model(**again)[real], hidden[real], atol=1e-5, rtol=0)


def test_export_hf_refuses_a_model_without_an_esm_twin(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["pretrain", "dna", "--out", str(run), *PRETRAIN, "--model.activation", "swiglu"]) == 0
    capsys.readouterr()
    assert main(["export", str(run), "--format", "hf", "--out", str(tmp_path / "esm")]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "scipt: error: model.activation: 'swiglu' has no ESM equivalent (ESM's feed-forward is GELU); "
        "only GELU models export to the hf format"
    ]
    assert not (tmp_path / "esm").exists()


def test_missing_transformers_is_one_line(nt, tmp_path, planted, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "transformers", None)  # as if it were not installed
    path, _ = planted
    argv = [
        "finetune",
        "promoter",
        "--init",
        f"hf:{nt}",
        "--train",
        str(path),
        "--out",
        str(tmp_path / "run"),
    ]
    assert main(argv) == 2
    assert capsys.readouterr().err.splitlines() == [
        "scipt: error: a Hugging Face model (hf:) needs 'transformers', which is not installed: "
        "pip install 'scipt[hf]'"
    ]
    assert not (tmp_path / "run").exists()


def test_the_scratch_baseline_is_fully_fine_tuned_whatever_the_start_strategy(tmp_path, planted):
    """EWC needs the start's Fisher, which a random encoder has not: cross-validation with the
    baselines used to stop at scratch's first fit, after the pre-trained folds had run."""
    folder = tiny_esm_folder(tmp_path / "nt", "dna")
    save_fisher(
        folder, {n: torch.ones_like(p) for n, p in load_hf(folder, DNA_SPEC).model.named_parameters()}
    )
    path, _ = planted
    out = tmp_path / "run"
    argv = ["finetune", "promoter", "--init", f"hf:{folder}", "--train", str(path), "--out", str(out)]
    assert main([*argv, "--strategy", "ewc", "--folds", "2", *FAST]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"pre_trained_mcc_mean", "scratch_mcc_mean"} <= set(metrics)
    assert "strategy ewc (the scratch baseline: full);" in (out / "report.md").read_text()
