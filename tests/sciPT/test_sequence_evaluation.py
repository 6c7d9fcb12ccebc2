"""`scipt evaluate` of a sequence run (sciPT.sequence_evaluation), tested directly and fast: the
windows cut from a FASTA file, the score of each against the objective run window by window, the
metrics and report a user reads, and the refusals. The run is a tiny untrained encoder whose
export is handed over in place of ``from_pretrained`` (tests/integration/test_evaluate_cli.py
drives the whole command on a pre-trained run)."""

import argparse
import hashlib
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import yaml

from sciPT import sequence_evaluation
from sciPT.domains.dna.tokenizer import dna_tokenizer
from sciPT.errors import ConfigError, DataError, UserError
from sciPT.nn import TransformerConfig, TransformerEncoder
from sciPT.objectives.masked import IGNORE, MaskedConfig
from sciPT.registry import domains
from sciPT.run import RunDir
from sciPT.sequence_config import ObjectiveConfig, TokenizerConfig
from sciPT.sequence_evaluation import score_windows, window_seed
from sciPT.testing import random_dna

DNA = domains.get("dna")
CODE = {c: i for i, c in enumerate("ACGTN")}


def codes_of(text: str) -> np.ndarray:
    return np.array([CODE[c] for c in text], dtype=np.uint8)


def tokenizer(k: int = 1):
    return dna_tokenizer(TokenizerConfig(kind="kmer", k=k) if k > 1 else TokenizerConfig())


def tiny_model(tok, cfg: ObjectiveConfig):
    """A 1-layer encoder and the objective ``cfg`` on it, its head's weights drawn wide (std 1) so
    that its predictions are decisive, not a near-tie between every token."""
    torch.manual_seed(0)
    backbone = TransformerEncoder(
        TransformerConfig(vocab_size=tok.vocab_size, d_model=8, n_layers=1, n_heads=2, d_ff=16, max_len=32)
    ).eval()
    objective = DNA.build_objective(cfg, tok, 8)
    with torch.no_grad():
        for p in objective.head.parameters():
            p.normal_(0.0, 1.0)
    return backbone, objective.eval()


def reference(objective, backbone, tok, windows, seed):
    """``(summed loss, correct, scored)`` from the objective's own forward, one window at a time
    (masked: the window's masks drawn from window_seed), as pre-training scores a batch."""
    loss_sum, correct, n = 0.0, 0.0, 0
    with torch.no_grad():
        for w in windows:
            batch = tok.batch([w], 32)
            generator = torch.Generator().manual_seed(window_seed(seed, w))
            loss, metrics = objective(backbone, batch, generator=generator)
            k = int(objective.targets_seen)
            if k:
                loss_sum, correct, n = (
                    loss_sum + float(loss) * k,
                    correct + float(metrics["accuracy"]) * k,
                    n + k,
                )
    return loss_sum, round(correct), n


def test_a_windows_masks_follow_its_residues_and_the_mask_seed():
    """--mask-seed changes the masks (else it is a flag that does nothing) and the masks depend on
    the window's residues alone, not on where it sits (a reordered file scored differently)."""
    w = codes_of("ACGTACGGTTAC")
    assert window_seed(0, w) == window_seed(0, w.copy()) == window_seed(0, list(w))
    assert window_seed(0, w) != window_seed(1, w)
    assert window_seed(0, w) != window_seed(0, codes_of("ACGTACGGTTAA"))
    assert 0 <= window_seed(7, w) < 2**63  # a seed torch.Generator.manual_seed accepts


@pytest.mark.parametrize("k, span", [(1, 1), (3, 3)])
def test_a_masked_score_is_the_objective_on_each_window_alone(k, span):
    """Windows of several lengths in one padded batch score as each window alone in pre-training:
    the summed loss, the correct predictions and the count of selected tokens."""
    tok = tokenizer(k)
    backbone, objective = tiny_model(tok, ObjectiveConfig(masked=MaskedConfig(mask_ratio=0.3, span=span)))
    windows = [codes_of(random_dna(n, n)) for n in (30, 9, 21, 14)]
    with torch.no_grad():
        loss, correct, n = score_windows(objective, backbone, tok, windows, 32, seed=5)
    want_loss, want_correct, want_n = reference(objective, backbone, tok, windows, 5)
    assert n == want_n > 4 and correct == want_correct
    assert loss == pytest.approx(want_loss, rel=1e-5)
    assert 0 < correct < n  # the head's wide weights make argmax differ from a constant


def test_a_causal_score_counts_every_next_token():
    """Next-token prediction scores each token but a window's last: 9 + 3 + 5 tokens."""
    tok = tokenizer()
    backbone, objective = tiny_model(tok, ObjectiveConfig(kind="causal"))
    windows = [codes_of(random_dna(n, n)) for n in (10, 4, 6)]
    with torch.no_grad():
        loss, correct, n = score_windows(objective, backbone, tok, windows, 32, seed=0)
    want_loss, want_correct, want_n = reference(objective, backbone, tok, windows, 0)
    assert n == want_n == 17 and correct == want_correct
    assert loss == pytest.approx(want_loss, rel=1e-5)


def test_windows_of_unknown_residues_score_nothing():
    """An assembly gap's Ns are never targets: no token scored, no loss."""
    tok = tokenizer()
    backbone, objective = tiny_model(tok, ObjectiveConfig())
    with torch.no_grad():
        assert score_windows(objective, backbone, tok, [codes_of("N" * 20), codes_of("NNN")], 32, 0) == (
            0.0,
            0,
            0,
        )


# the evaluate command on a hand-made run ------------------------------------------------------


def make_run(tmp_path, monkeypatch, *, cfg=None, k=1, window=16, val_loss=1.5, pretrained_on=()):
    """A run folder holding config.yaml, metrics.json and a checkpoint of a tiny model's backbone and
    head; ``from_pretrained`` hands its export over. Returns the run and the model."""
    cfg = cfg or ObjectiveConfig()
    tok = tokenizer(k)
    backbone, objective = tiny_model(tok, cfg)
    run = RunDir(tmp_path / "run")
    (run.path / "checkpoints").mkdir(parents=True)
    saved = {"kind": cfg.kind, "masked": {"mask_ratio": cfg.masked.mask_ratio, "span": cfg.masked.span}}
    run.config.write_text(yaml.safe_dump({"objective": saved}))
    if val_loss is not None:
        run.metrics.write_text(json.dumps({"val_loss": val_loss}))
    state = {f"objective.{k}": v for k, v in objective.state_dict().items()}
    state.update({f"backbone.{k}": v for k, v in backbone.state_dict().items()})
    torch.save({"state_dict": state}, run.last_checkpoint)
    exported = {
        "tokenizer": tok.to_dict(),
        "model": {"max_len": 32},
        "window": window,
        "pretrained_on": list(pretrained_on),
    }

    def from_pretrained(path, domain=None):
        assert Path(path) == run.path and domain == "dna"
        return SimpleNamespace(model=backbone, config=exported)

    monkeypatch.setattr(sequence_evaluation, "from_pretrained", from_pretrained)
    return run, tok, backbone, objective


def args(data, **kw):
    return argparse.Namespace(data=str(data), **{"batch_size": 64, "mask_seed": 0, "out": None, **kw})


def write_fasta(path: Path, records) -> Path:
    path.write_text("".join(f">r{i}\n{s}\n" for i, s in enumerate(records)))
    return path


def test_evaluate_scores_every_window_of_the_file_and_writes_what_it_reports(tmp_path, monkeypatch, capsys):
    """33 residues in windows of 16 are 3 windows (the last of 1 residue), 5 more one: 4 windows,
    scored as the objective scores each; the loss's perplexity, the accuracy, the order-0 entropy
    of the known bases (the Ns left out), in metrics.json, on stdout and in the report."""
    run, tok, backbone, objective = make_run(tmp_path, monkeypatch)
    first = random_dna(31, 1) + "NN"
    data = write_fasta(tmp_path / "held.fa", [first, "ACGTT"])
    metrics = DNA.evaluate(run, args(data, mask_seed=3))
    windows = [codes_of(s) for s in (first[:16], first[16:32], first[32:], "ACGTT")]
    loss_sum, correct, n = reference(objective, backbone, tok, windows, 3)
    assert (metrics["windows"], metrics["records"], metrics["residues"]) == (4, 2, 38)
    assert metrics["tokens_scored"] == n and metrics["accuracy"] == pytest.approx(correct / n)
    assert metrics["loss_nats"] == pytest.approx(loss_sum / n, rel=1e-5)
    assert metrics["perplexity"] == pytest.approx(np.exp(loss_sum / n), rel=1e-5)
    bases = first + "ACGTT"
    p = np.array([bases.count(c) for c in "ACGT"]) / (len(bases) - 2)
    assert metrics["order0_entropy_nats"] == pytest.approx(float(-(p * np.log(p)).sum()), rel=1e-12)
    assert metrics["mask_seed"] == 3 and metrics["is_pretraining_file"] == 0.0
    assert not any(key.startswith("contamination") for key in metrics)  # no corpus recorded
    folder = run.evaluations / "held"
    saved = json.loads((folder / "metrics.json").read_text())
    assert {key: saved[key] for key in metrics} == metrics
    assert saved["data_sha256"] == hashlib.sha256(data.read_bytes()).hexdigest()
    assert json.loads(capsys.readouterr().out) == metrics
    report = (folder / "report.md").read_text()
    assert (
        "Objective: masked modelling (15% of tokens selected, spans of 1, mask seed 3); 4 windows of up to "
        f"16 residues from 2 records (38 residues), {n} tokens scored."
    ) in report
    assert "Pre-training's own validation loss was 1.500 nats." in report
    # one window at a time scores the same (the masks are the window's)
    again = DNA.evaluate(run, args(data, mask_seed=3, batch_size=1, out=str(tmp_path / "b1")))
    assert again["loss_nats"] == pytest.approx(metrics["loss_nats"], rel=1e-6)
    assert again["accuracy"] == metrics["accuracy"]


def test_windows_too_short_for_a_k_mer_are_not_counted(tmp_path, monkeypatch):
    """34 residues in windows of 16 leave a last window of 2, no 3-mer: 2 windows, not 3."""
    run, *_ = make_run(tmp_path, monkeypatch, cfg=ObjectiveConfig(masked=MaskedConfig(span=3)), k=3)
    metrics = DNA.evaluate(run, args(write_fasta(tmp_path / "k.fa", [random_dna(34, 2)])))
    assert (metrics["windows"], metrics["residues"]) == (2, 34)
    report = (run.evaluations / "k" / "report.md").read_text()
    assert f"the order-0 entropy ({metrics['order0_entropy_nats']:.3f} nats) per residue" in report


def test_the_pre_training_file_itself_is_flagged(tmp_path, monkeypatch):
    """Scoring a file the model trained on is no held-out measure; the report says so."""
    data = write_fasta(tmp_path / "corpus.fa", [random_dna(48, 3)])
    entry = {"path": str(data), "sha256": hashlib.sha256(data.read_bytes()).hexdigest()}
    run, *_ = make_run(tmp_path, monkeypatch, pretrained_on=[entry])
    metrics = DNA.evaluate(run, args(data))
    assert metrics["is_pretraining_file"] == 1.0
    assert metrics["contamination_verbatim"] == metrics["windows"] == 3
    report = (run.evaluations / "corpus" / "report.md").read_text()
    assert (
        "**This file is one the model was pre-trained on** (same SHA-256): the score is not a held-out measure."
    ) in report
    assert "occur in the pre-training corpus**" not in report


def test_a_file_with_windows_of_the_corpus_is_flagged_though_its_bytes_differ(tmp_path, monkeypatch):
    corpus_seq = random_dna(200, 4)
    corpus = write_fasta(tmp_path / "corpus.fa", [corpus_seq])
    entry = {"path": str(corpus), "sha256": hashlib.sha256(corpus.read_bytes()).hexdigest()}
    run, *_ = make_run(tmp_path, monkeypatch, window=32, pretrained_on=[entry])
    data = write_fasta(tmp_path / "cut.fa", [corpus_seq[50:82] + random_dna(96, 5)])
    metrics = DNA.evaluate(run, args(data))
    assert metrics["is_pretraining_file"] == 0.0
    assert (metrics["contamination_eval_sequences"], metrics["contamination_near"]) == (4, 1)
    report = (run.evaluations / "cut" / "report.md").read_text()
    assert (
        "**25.0% of this file's windows occur in the pre-training corpus**, verbatim or nearly (of 4"
        in report
    )


def test_a_corpus_not_found_leaves_the_contamination_unknown_and_says_which_file(
    tmp_path, monkeypatch, capsys
):
    """The first recorded file is there, the second is now a folder: the warning names the second,
    and the report says in bold that the overlap was not checked."""
    corpus = write_fasta(tmp_path / "corpus.fa", [random_dna(60, 6)])
    gone = tmp_path / "gone.fa"
    gone.mkdir()
    pretrained_on = [{"path": str(corpus), "sha256": "0"}, {"path": str(gone), "sha256": "1"}]
    run, *_ = make_run(tmp_path, monkeypatch, pretrained_on=pretrained_on)
    metrics = DNA.evaluate(run, args(write_fasta(tmp_path / "held.fa", [random_dna(30, 7)])))
    sentence = (
        f"contamination unknown: the pre-training corpus file {gone} is not found from here, so this "
        "file's overlap with it was not checked"
    )
    assert f"warning: {sentence}\n" in capsys.readouterr().err
    assert not any(key.startswith("contamination") for key in metrics)
    report = (run.evaluations / "held" / "report.md").read_text()
    assert f"**C{sentence[1:]}.**" in report


def test_a_file_of_unknown_residues_alone_is_refused_in_one_sentence(tmp_path, monkeypatch):
    run, *_ = make_run(tmp_path, monkeypatch)
    data = write_fasta(tmp_path / "gap.fa", ["N" * 30, "RYKM"])
    with pytest.raises(DataError) as err:
        DNA.evaluate(run, args(data))
    assert str(err.value) == (
        f"{data}: every residue is unknown (N, R, Y, S, W, K, M, B, D, H, V), and unknown residues are "
        "never scored: nothing to evaluate"
    )
    assert not run.evaluations.exists()


def test_a_file_with_nothing_to_predict_names_its_longest_record(tmp_path, monkeypatch):
    """Causal: one base has no next token, and N is never a target; the file holds a known base, so
    the message is not the one of a file of unknown residues alone."""
    run, *_ = make_run(tmp_path, monkeypatch, cfg=ObjectiveConfig(kind="causal"))
    data = write_fasta(tmp_path / "short.fa", ["A", "NN"])
    with pytest.raises(DataError) as err:
        DNA.evaluate(run, args(data))
    assert str(err.value) == (
        f"{data}: no window has a token to score (records of 2 residues at most; the objective needs more)"
    )


def test_a_batch_size_below_one_from_a_caller_that_did_not_parse_it_is_refused(tmp_path, monkeypatch):
    run, *_ = make_run(tmp_path, monkeypatch)
    with pytest.raises(ConfigError, match=r"^--batch-size: expected a positive number, got 0$"):
        DNA.evaluate(run, args(write_fasta(tmp_path / "a.fa", ["ACGT"]), batch_size=0))


# the objective's head, from the run's checkpoint ---------------------------------------------


def test_the_objective_comes_with_the_checkpoints_head_in_eval_mode(tmp_path, monkeypatch, capsys):
    run, tok, backbone, objective = make_run(tmp_path, monkeypatch)
    loaded = DNA.pretrained_objective(run, ObjectiveConfig(), tok, backbone)
    assert not loaded.training
    for name, value in objective.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], value), name
    assert capsys.readouterr().err == ""  # the export is the checkpoint's backbone: no warning


def test_an_export_that_is_not_the_checkpoints_backbone_is_warned_of(tmp_path, monkeypatch, capsys):
    run, tok, backbone, _ = make_run(tmp_path, monkeypatch)
    with torch.no_grad():
        next(backbone.parameters()).add_(1.0)
    DNA.pretrained_objective(run, ObjectiveConfig(), tok, backbone)
    assert capsys.readouterr().err == (
        f"warning: {run.model} differs from {run.last_checkpoint} (exported from another checkpoint?); "
        "the objective's head is the checkpoint's\n"
    )


def test_a_run_without_its_checkpoint_cannot_be_scored_and_says_why(tmp_path, monkeypatch):
    run, tok, backbone, _ = make_run(tmp_path, monkeypatch)
    run.last_checkpoint.unlink()
    with pytest.raises(UserError) as err:
        DNA.pretrained_objective(run, ObjectiveConfig(), tok, backbone)
    assert str(err.value) == (
        f"{run.last_checkpoint}: not found; scoring the pre-training objective needs its head, which only "
        "the run's checkpoint keeps (the export holds the backbone)"
    )


# the report ----------------------------------------------------------------------------------


def report(metrics=None, *, cfg=None, k=1, val_loss=None, unchecked=None):
    base = {
        "loss_nats": 1.23456,
        "perplexity": 3.4366,
        "accuracy": 0.25,
        "order0_entropy_nats": 1.3,
        "tokens_scored": 5678,
        "windows": 1234,
        "records": 2,
        "residues": 40000,
        "mask_seed": 7,
        "is_pretraining_file": 0.0,
    }
    lines = DNA._evaluation_report(
        cfg or ObjectiveConfig(), tokenizer(k), 512, {**base, **(metrics or {})}, val_loss, unchecked
    )
    return "\n".join(lines)


def test_the_report_states_the_objective_and_the_counts_with_thousands_separators():
    text = report(cfg=ObjectiveConfig(masked=MaskedConfig(mask_ratio=0.2, span=3)))
    assert text.startswith(
        "Objective: masked modelling (20% of tokens selected, spans of 3, mask seed 7); 1,234 windows of "
        "up to 512 residues from 2 records (40,000 residues), 5,678 tokens scored.\n"
    )
    assert report(cfg=ObjectiveConfig(kind="causal")).startswith("Objective: next-token prediction; 1,234")


def test_the_report_table_gives_floats_to_four_significant_digits():
    text = report()
    assert "| loss_nats | 1.235 |" in text.split("\n")
    assert "| tokens_scored | 5678 |" in text.split("\n")
    assert "| accuracy | 0.25 |" in text.split("\n")


@pytest.mark.parametrize("loss, verdict", [(1.29, "below"), (1.3, "NOT below"), (1.31, "NOT below")])
def test_the_loss_is_called_below_the_order0_entropy_only_when_strictly_below(loss, verdict):
    """A model no better than residue frequencies must not read as having learnt something."""
    assert (
        f"The loss ({loss:.3f} nats) is {verdict} the order-0 entropy of this file (1.300 nats), the "
        "score of residue frequencies alone."
    ) in report({"loss_nats": loss})


def test_a_k_mer_report_does_not_compare_a_per_k_mer_loss_with_a_per_residue_entropy():
    text = report(k=3)
    assert (
        "Tokens are overlapping 3-mers: the loss is per k-mer, the order-0 entropy (1.300 nats) per residue."
        in text
    )
    assert "order-0 entropy of this file" not in text


def test_the_report_gives_pre_trainings_validation_loss_where_the_run_has_one():
    assert "Pre-training's own validation loss was 1.235 nats." in report(val_loss=1.23456)
    assert "validation loss" not in report()


def test_the_share_of_contaminated_windows_counts_the_near_ones():
    """near counts verbatim windows too: 3 of 5 windows near, 2 of them verbatim, is 60%."""
    text = report(
        {
            "contamination_eval_sequences": 5,
            "contamination_verbatim": 2,
            "contamination_near": 3,
            "contamination_clean": 2,
            "contamination_unchecked": 0,
        }
    )
    assert (
        "**60.0% of this file's windows occur in the pre-training corpus**, verbatim or nearly (of 5 windows, "
        "2 verbatim, 3 verbatim or with k-mer similarity at least 0.5)"
    ) in text
    assert "could not be checked" not in text


def test_a_clean_file_is_called_clean_and_its_unreadable_windows_counted():
    text = report(
        {
            "contamination_eval_sequences": 1500,
            "contamination_verbatim": 0,
            "contamination_near": 0,
            "contamination_clean": 1500,
            "contamination_unchecked": 1200,
        }
    )
    assert "None of this file's windows occurs in the pre-training corpus, verbatim or nearly." in text
    assert text.endswith(
        "1,200 window(s) could not be checked for contamination (`contamination_unchecked`: no run of k "
        "known residues, k the check's k-mer length) and count as clean."
    )


def test_the_pre_training_file_is_flagged_before_its_windows_are_counted():
    text = report({"is_pretraining_file": 1.0, "contamination_eval_sequences": 4, "contamination_near": 4})
    assert "**This file is one the model was pre-trained on** (same SHA-256)" in text
    assert "% of this file's windows" not in text


def test_a_contamination_check_not_made_is_said_in_bold():
    text = report(unchecked="contamination unknown: the file x.fa is not found")
    assert text.endswith("\n\n**Contamination unknown: the file x.fa is not found.**")


def test_the_masks_of_a_selected_window_never_cover_padding():
    """A short window padded in a batch has targets at its own tokens only."""
    tok = tokenizer()
    backbone, objective = tiny_model(tok, ObjectiveConfig(masked=MaskedConfig(mask_ratio=0.5)))
    short, long = codes_of("ACGTAC"), codes_of(random_dna(30, 8))
    batch = tok.batch([short], 32)
    c, t = objective.corrupt(batch["input_ids"], batch["attention_mask"], torch.Generator().manual_seed(0))
    assert int((t != IGNORE).sum()) > 0
    with torch.no_grad():
        alone = score_windows(objective, backbone, tok, [short], 32, 0)
        padded = score_windows(objective, backbone, tok, [long, short], 32, 0)
        other = score_windows(objective, backbone, tok, [long], 32, 0)
    assert padded[1:] == (alone[1] + other[1], alone[2] + other[2])
    assert padded[0] == pytest.approx(alone[0] + other[0], rel=1e-5)


def test_an_out_folder_receives_the_evaluation_and_the_runs_folder_stays_empty(tmp_path, monkeypatch):
    """--out is where the user will look for metrics.json and report.md: an evaluation written to
    RUN/evaluations/ instead is lost to them (and may replace one they kept there)."""
    run, *_ = make_run(tmp_path, monkeypatch)
    data = write_fasta(tmp_path / "held.fa", [random_dna(20, 9)])
    out = tmp_path / "elsewhere"
    metrics = DNA.evaluate(run, args(data, out=str(out)))
    assert json.loads((out / "metrics.json").read_text())["loss_nats"] == metrics["loss_nats"]
    assert (out / "report.md").is_file()
    assert not run.evaluations.exists()


def test_the_pre_training_flag_is_a_number_in_metrics_json_and_the_table(tmp_path, monkeypatch):
    """Every figure of metrics.json is a number, the flag too (1.0, not `true`): a script averaging
    or tabulating the figures of several evaluations reads it as the others."""
    data = write_fasta(tmp_path / "corpus.fa", [random_dna(20, 3)])
    entry = {"path": str(data), "sha256": hashlib.sha256(data.read_bytes()).hexdigest()}
    run, *_ = make_run(tmp_path, monkeypatch, pretrained_on=[entry])
    DNA.evaluate(run, args(data))
    saved = json.loads((run.evaluations / "corpus" / "metrics.json").read_text())
    assert type(saved["is_pretraining_file"]) is float and saved["is_pretraining_file"] == 1.0
    report = (run.evaluations / "corpus" / "report.md").read_text()
    assert "| is_pretraining_file | 1 |" in report.split("\n")
