"""A promoter run stopped part-way and continued with ``--resume`` (:mod:`sciPT.tasks.promoter_fits`)."""

import json

import pytest

import sciPT.tasks.promoter_evaluation as evaluation
import sciPT.tasks.promoter_train as promoter
from sciPT.errors import ConfigError, UserError
from sciPT.tasks.promoter import task
from sciPT.tasks.promoter_fits import FITS, slug


class Stopped(Exception):
    """The job's time limit, in a test."""


def config(fast_cfg, path, **kw):
    cfg = fast_cfg(**{"folds": 2, "ensemble": 1, "label_fractions": [0.5], "fraction_seeds": 1, **kw})
    cfg.inputs.train = str(path)
    return cfg


def outputs(run):
    """What a run wrote, less what says how long this command took or what it continued from."""
    metrics = json.loads((run / "metrics.json").read_text())
    for key in ("wall_time_s", "fits_resumed"):
        metrics.pop(key)
    report = [
        line for line in (run / "report.md").read_text().splitlines() if not line.startswith("Wall time")
    ]
    fits = {p.name: p.read_text() for p in sorted((run / FITS).glob("*.json"))}
    weights = (run / "model" / "model.safetensors").read_bytes()
    return metrics, report, fits, weights


def test_a_run_stopped_during_its_folds_continues_to_what_a_run_never_stopped_writes(
    planted, tmp_path, monkeypatch, fast_cfg
):
    path, _ = planted
    assert promoter.run_finetune(config(fast_cfg, path), tmp_path / "whole") == 0
    # one seed per fraction: its accuracy alone, no "± 0.000" read as a measured spread
    report = (tmp_path / "whole" / "report.md").read_text().splitlines()
    table = report[report.index("Accuracy on a fixed 20% held-out split (one seed: no spread):") + 4]
    assert table.startswith("| 0.5 | ") and "±" not in table

    fine_tunes, stop_at = [], [2]
    real = evaluation.train_classifier

    def stopped_in_fold_2(start, cfg, train, length, seed, *args, **kwargs):
        fine_tunes.append(seed)
        if len(fine_tunes) == stop_at[0]:  # fold 1's scratch, k-mer LR and CNN are done
            raise Stopped
        return real(start, cfg, train, length, seed, *args, **kwargs)

    monkeypatch.setattr(evaluation, "train_classifier", stopped_in_fold_2)
    with pytest.raises(Stopped):
        promoter.run_finetune(config(fast_cfg, path), tmp_path / "stopped")
    kept = sorted(p.name for p in (tmp_path / "stopped" / FITS).glob("*.json"))
    assert kept == ["fingerprint.json", "fold-1-cnn.json", "fold-1-k-mer-lr.json", "fold-1-scratch.json"]
    assert not (tmp_path / "stopped" / "model").exists()

    fine_tunes.clear()
    stop_at[0] = None
    assert promoter.run_finetune(config(fast_cfg, path), tmp_path / "stopped", resume=True) == 0
    # fold 2's scratch, then the one fraction's: fold 1 is taken from the stopped run
    assert fine_tunes == [1, 0]
    assert json.loads((tmp_path / "stopped" / "metrics.json").read_text())["fits_resumed"] == 3
    assert outputs(tmp_path / "stopped") == outputs(tmp_path / "whole")


def test_a_continued_run_with_other_settings_or_data_is_refused(planted, tmp_path, fast_cfg):
    path, rows = planted
    run = tmp_path / "run"
    assert promoter.run_finetune(config(fast_cfg, path, label_fractions=[], baselines=False), run) == 0
    (run / "model" / "config.json").unlink()  # as if stopped before its export
    # as if made before the task had a shift setting: its fits were made with the default, 0
    kept = json.loads((run / FITS / "fingerprint.json").read_text())
    del kept["settings"]["shift"]
    (run / FITS / "fingerprint.json").write_text(json.dumps(kept))

    settings = (run / "config.yaml").read_text()
    with pytest.raises(ConfigError) as err:
        promoter.run_finetune(
            config(fast_cfg, path, label_fractions=[], val_fraction=0.3, strand_symmetric=True, shift=2),
            run,
            resume=True,
        )
    assert str(err.value) == (
        f"--resume: {run / FITS} holds fits made with other settings (shift, strand_symmetric, "
        "val_fraction); continue with what they were made with, or start a new run (another --out)"
    )
    assert (run / "config.yaml").read_text() == settings  # a refused resume rewrites nothing
    other = tmp_path / "other.csv"
    other.write_text(path.read_text().replace(rows[0][1], rows[0][1][::-1]))
    with pytest.raises(ConfigError) as err:
        promoter.run_finetune(config(fast_cfg, other, label_fractions=[]), run, resume=True)
    assert str(err.value) == (
        f"--resume: {run / FITS} holds fits made with other training sequences or labels; continue "
        "with what they were made with, or start a new run (another --out)"
    )
    # what no kept fit reads may change: here, the fractions of the labels, fitted afresh
    assert promoter.run_finetune(config(fast_cfg, path, baselines=False), run, resume=True) == 0
    assert "fraction_0.5_scratch_accuracy_mean" in json.loads((run / "metrics.json").read_text())


def test_resume_on_the_command_line(planted, tmp_path, capsys, fast_cfg):
    from sciPT.cli import main

    path, _ = planted
    out = tmp_path / "run"
    missing = tmp_path / "none"
    assert main(["finetune", "promoter", "--train", str(path), "--resume", "--out", str(missing)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"scipt: error: {missing}: no promoter run to continue (no config.yaml); run without --resume"
    )
    assert task.resume_point(promoter.RunDir(out)) is None
    out.mkdir()
    (out / "config.yaml").write_text("domain: dna\n")  # a pre-training run: nothing to continue
    assert task.resume_point(promoter.RunDir(out)) is None
    (out / "config.yaml").write_text("task: promoter\n")
    (out / FITS).mkdir()
    (out / FITS / f"{slug('fold 1, CNN')}.json").write_text("{}")
    assert task.resume_point(promoter.RunDir(out)) == "a promoter run with 1 completed fit: continuing it"
    (out / "model").mkdir()
    (out / "model" / "config.json").write_text("{}")
    assert main(["finetune", "promoter", "--train", str(path), "--resume", "auto", "--out", str(out)]) == 0
    assert capsys.readouterr().err.splitlines() == [
        f"--resume auto: {out} holds a promoter run with 1 completed fit: continuing it",
        f"{out}: already finished and exported: nothing to do (another --out starts a new run)",
    ]


def test_a_used_run_directory_suggests_resume(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "report.md").write_text("")
    with pytest.raises(UserError) as err:
        promoter.RunDir.create(out)
    assert str(err.value) == (
        f"{out}: run directory already exists and is not empty (pass --resume to continue it, or choose another --out)"
    )


def test_the_data_digest_reads_the_labels_and_a_flipped_label_is_refused(tmp_path):
    """The same sequences with one label flipped digest differently, and a continued run on them is
    refused as made with other labels."""
    import numpy as np

    from sciPT.sequence_inputs import LabelledSequences
    from sciPT.tasks.promoter_config import PromoterConfig
    from sciPT.tasks.promoter_fits import data_digest, fit_settings, refuse_changes

    codes = [np.array([0, 1, 2, 3]), np.array([3, 3, 0, 1])]
    kept = LabelledSequences(["a", "b"], codes, np.array([1, 0]), "train.csv")
    flipped = LabelledSequences(["a", "b"], codes, np.array([1, 1]), "train.csv")
    assert data_digest(flipped) != data_digest(kept)
    assert data_digest(LabelledSequences(["a", "b"], codes, np.array([1, 0]), "x")) == data_digest(kept)

    def fingerprint(data):
        return {
            "settings": fit_settings(PromoterConfig()),
            "length": 4,
            "data": data_digest(data),
            "start": "s",
        }

    where = tmp_path / FITS / "fingerprint.json"
    refuse_changes(fingerprint(kept), fingerprint(kept), where)  # nothing changed: no error
    with pytest.raises(ConfigError) as err:
        refuse_changes(fingerprint(kept), fingerprint(flipped), where)
    assert str(err.value) == (
        f"--resume: {tmp_path / FITS} holds fits made with other training sequences or labels; continue "
        "with what they were made with, or start a new run (another --out)"
    )


def _kept_fingerprint(**changes):
    from sciPT.tasks.promoter_config import PromoterConfig
    from sciPT.tasks.promoter_fits import fit_settings

    return {"settings": fit_settings(PromoterConfig()), "length": 200, "data": "d", "start": "s", **changes}


def test_a_continued_run_with_another_length_or_start_is_refused_naming_each(tmp_path):
    """Fits cropped to another length or fine-tuned from other weights are not comparable: the
    refusal names each difference, then and now in that order, joined by '; '."""
    from sciPT.tasks.promoter_fits import refuse_changes

    where = tmp_path / FITS / "fingerprint.json"
    with pytest.raises(ConfigError) as err:
        refuse_changes(_kept_fingerprint(), _kept_fingerprint(length=300), where)
    assert str(err.value) == (
        f"--resume: {tmp_path / FITS} holds fits made with another sequence length (200 then, 300 now); "
        "continue with what they were made with, or start a new run (another --out)"
    )
    with pytest.raises(ConfigError) as err:
        refuse_changes(_kept_fingerprint(), _kept_fingerprint(length=300, start="t"), where)
    assert str(err.value) == (
        f"--resume: {tmp_path / FITS} holds fits made with another sequence length (200 then, 300 now); "
        "another start's weights; continue with what they were made with, or start a new run (another --out)"
    )
    with pytest.raises(ConfigError) as err:
        refuse_changes(_kept_fingerprint(), _kept_fingerprint(start="t"), where)
    assert "made with another start's weights; continue" in str(err.value)


def test_a_setting_added_since_the_fits_continues_at_its_default(tmp_path):
    """Fits kept before a setting existed were made with its default: a continued run at the
    default goes on, one that sets it otherwise is refused naming it."""
    from sciPT.tasks.promoter_fits import refuse_changes

    kept = _kept_fingerprint()
    assert kept["settings"]["shift"] == 0
    del kept["settings"]["shift"]
    where = tmp_path / FITS / "fingerprint.json"
    refuse_changes(kept, _kept_fingerprint(), where)  # shift 0 now, as the fits were made: no error
    now = _kept_fingerprint()
    now["settings"]["shift"] = 2
    with pytest.raises(ConfigError) as err:
        refuse_changes(kept, now, where)
    assert "made with other settings (shift); continue" in str(err.value)
    # a setting the fits were made with that the task no longer has is a change too
    gone = _kept_fingerprint()
    gone["settings"]["retired_setting"] = 1
    with pytest.raises(ConfigError) as err:
        refuse_changes(gone, _kept_fingerprint(), where)
    assert "made with other settings (retired_setting); continue" in str(err.value)


def test_the_settings_no_fit_reads_may_change_on_resume():
    """More seeds per label fraction, another contamination check or export choice fit nothing
    already kept: a continued run with them must not be refused."""
    from dataclasses import replace

    from sciPT.tasks.promoter_config import PromoterConfig
    from sciPT.tasks.promoter_fits import fit_settings

    default = PromoterConfig()
    for change in (
        {"fraction_seeds": 5},
        {"contamination_k": 12},
        {"contamination_threshold": 0.8},
        {"export": "recommended"},
        {"label_fractions": [0.1]},
        {"baselines": False},
        {"init": "runs/dna"},
    ):
        assert fit_settings(replace(default, **change)) == fit_settings(default), change
    assert fit_settings(replace(default, folds=default.folds + 1)) != fit_settings(default)


def test_a_new_run_writes_its_fingerprint_and_a_resume_without_one_starts_afresh(tmp_path):
    """A run without --resume records what its fits are made with, even over an older folder; a
    --resume with no fingerprint kept (stopped before its first fit) starts as a new run."""
    from sciPT.tasks.promoter_fits import FitStore

    now = _kept_fingerprint()
    store = FitStore(tmp_path / "fresh", now, resume=True)
    assert store.found == 0
    assert json.loads((tmp_path / "fresh" / FITS / "fingerprint.json").read_text()) == now
    store.put("fold 1, CNN", {"accuracy": 0.75})
    assert store.get("fold 1, CNN") == {"accuracy": 0.75} and store.get("fold 2, CNN") is None
    older = tmp_path / "older"
    FitStore(older, _kept_fingerprint(length=100))
    FitStore(older, now)  # not a resume: no refusal, the new fingerprint replaces the old
    assert json.loads((older / FITS / "fingerprint.json").read_text()) == now


def test_the_line_after_a_stop_counts_the_completed_fits_not_the_fingerprint(tmp_path):
    """What a stopped run prints: none kept, then one (neither the fingerprint nor a half-written
    file is a fit)."""
    from sciPT.tasks.promoter_fits import kept_fits

    (tmp_path / FITS).mkdir()
    (tmp_path / FITS / "fingerprint.json").write_text("{}")
    assert kept_fits(tmp_path) == "no fit was completed yet: the same command with --resume continues it"
    (tmp_path / FITS / f"{slug('fold 1, CNN')}.json").write_text("{}")
    # a write cut short (SIGKILL) leaves its temporary file: not a completed fit
    (tmp_path / FITS / ".fold-2-cnn.json.x1y2.tmp").write_text("{")
    assert kept_fits(tmp_path) == (
        "the run keeps its 1 completed fit(s): the same command with --resume continues it"
    )


def test_the_start_digest_reads_the_weights_and_the_tokenizer_not_the_name(tmp_path):
    """A --resume from another pre-trained checkpoint of the same architecture, or with another
    k-mer tokenizer, would splice fits of two starts into one table: each must digest differently,
    while every scratch start of one architecture digests alike (each fit seeds its own weights)."""
    import torch

    from sciPT.domains.dna.data import DNA_SPEC
    from sciPT.nn import TransformerConfig
    from sciPT.tasks.promoter_fits import refuse_changes, start_digest
    from sciPT.tasks.promoter_start import Start
    from sciPT.tokenizers import SequenceTokenizer

    k3, k1 = SequenceTokenizer(DNA_SPEC.alphabet, k=3), SequenceTokenizer(DNA_SPEC.alphabet, k=1)
    cfg = TransformerConfig()

    def start(state, tokenizer=k3, name="runs/dna"):
        return Start(name, state, cfg, tokenizer, [], {})

    zeros, ones = {"w": torch.zeros(3)}, {"w": torch.ones(3)}
    assert start_digest(start(zeros)) == start_digest(start({"w": torch.zeros(3)}, name="moved/dna"))
    assert start_digest(start(ones)) != start_digest(start(zeros))
    assert start_digest(start(zeros, k1)) != start_digest(start(zeros))
    assert start_digest(start(None, name="scratch")) == start_digest(start(None, name="other"))
    assert start_digest(start(None, k1)) != start_digest(start(None))
    # and a continued run from the other weights is refused, naming the start
    where = tmp_path / FITS / "fingerprint.json"
    with pytest.raises(ConfigError) as err:
        refuse_changes(
            _kept_fingerprint(start=start_digest(start(zeros))),
            _kept_fingerprint(start=start_digest(start(ones))),
            where,
        )
    assert "made with another start's weights; continue" in str(err.value)


def test_a_setting_held_as_a_tuple_continues_as_the_list_it_was_kept_as(tmp_path):
    """The fingerprint is kept as JSON, where a tuple becomes a list: a continued run with the very
    same settings must not be refused as changed because one of them is held as a tuple."""
    from sciPT.tasks.promoter_config import PromoterConfig
    from sciPT.tasks.promoter_fits import FitStore, fit_settings

    cfg = PromoterConfig()
    cfg.model.complement_ids = (0, 1, 2, 3)  # set from Python, not read from YAML

    def now():
        return {"settings": fit_settings(cfg), "length": 200, "data": "d", "start": "s"}

    assert fit_settings(cfg)["model.complement_ids"] == [0, 1, 2, 3]
    FitStore(tmp_path, now())
    FitStore(tmp_path, now(), resume=True)  # the same settings: no refusal
    cfg.model.complement_ids = (3, 2, 1, 0)
    with pytest.raises(ConfigError) as err:
        FitStore(tmp_path, now(), resume=True)
    assert "made with other settings (model.complement_ids); continue" in str(err.value)
