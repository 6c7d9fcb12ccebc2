"""A promoter run stopped part-way and continued with ``--resume`` (:mod:`sciPT.tasks.promoter_fits`)."""

import json
import os
from types import SimpleNamespace

import numpy as np
import pytest

import sciPT.tasks.promoter_evaluation as evaluation
import sciPT.tasks.promoter_train as promoter
from sciPT.errors import ConfigError, DataError, UserError
from sciPT.tasks.promoter import task
from sciPT.tasks.promoter_fits import FITS, slug
from sciPT.tasks.promoter_verdicts import NO_CV_LINE


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
            "held_out": "h",
            "near_grouped": False,
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

    return {
        "settings": fit_settings(PromoterConfig()),
        "length": 200,
        "data": "d",
        "start": "s",
        "held_out": "h",
        "near_grouped": False,
        "early_stops_grouped": True,
        **changes,
    }


def test_fits_kept_with_other_groups_of_near_copies_are_refused(tmp_path):
    """The folds keep near copies together, grouped with the run's contamination_k and _threshold:
    fits kept with other groups were scored on other folds. Fits kept before near copies were
    grouped (no "held_out" in their fingerprint) continue only where no group joins near copies,
    where their folds are the same."""
    from sciPT.tasks.promoter_fits import refuse_changes

    where = tmp_path / FITS / "fingerprint.json"
    with pytest.raises(ConfigError) as err:
        refuse_changes(_kept_fingerprint(), _kept_fingerprint(held_out="other"), where)
    assert str(err.value) == (
        f"--resume: {tmp_path / FITS} holds fits made with other groups of near copies kept together "
        "(another contamination_k or _threshold); continue with what they were made with, or start a "
        "new run (another --out)"
    )
    before = _kept_fingerprint()
    del before["held_out"], before["near_grouped"]
    refuse_changes(before, _kept_fingerprint(held_out="any"), where)  # no near copies: same folds
    with pytest.raises(ConfigError) as err:
        refuse_changes(before, _kept_fingerprint(near_grouped=True), where)
    assert "made with folds that did not keep near copies together (an earlier version); continue" in str(
        err.value
    )


def test_the_fingerprint_digests_the_groups_the_folds_keep_together():
    """Two 40-bp windows 4 bases apart (21 of 25 16-mers shared) and two unrelated sequences:
    grouped at the default threshold 0.5, not at 0.9; the digest follows, and says so."""
    import numpy as np

    from sciPT.sequence_inputs import LabelledSequences
    from sciPT.tasks.promoter_config import PromoterConfig
    from sciPT.tasks.promoter_fits import fingerprint
    from sciPT.tasks.promoter_start import load_start

    rng = np.random.default_rng(0)
    stretch = rng.integers(0, 4, 44).astype(np.uint8)
    codes = [stretch[:40], stretch[4:], *(rng.integers(0, 4, 40).astype(np.uint8) for _ in range(2))]
    data = LabelledSequences(list("abcd"), codes, np.array([1, 1, 0, 0]), "w.csv")
    start = load_start("none", PromoterConfig())
    grouped = fingerprint(PromoterConfig(), data, start, 40)
    apart = fingerprint(PromoterConfig(contamination_threshold=0.9), data, start, 40)
    assert grouped["near_grouped"] and not apart["near_grouped"]
    assert grouped["held_out"] != apart["held_out"]
    # the threshold decides the fits' early-stopping splits too: a setting the fits read
    assert (
        grouped["settings"]["contamination_threshold"] == 0.5 != apart["settings"]["contamination_threshold"]
    )
    exact = LabelledSequences(list("abc"), [codes[0], codes[0], codes[2]], np.array([1, 1, 0]), "c.csv")
    assert not fingerprint(PromoterConfig(), exact, start, 40)["near_grouped"]  # copies are not near


def test_the_fingerprint_tells_apart_groupings_with_as_many_groups():
    """Settings that group other records into as many groups are other folds: the digest is of
    which records are grouped, not of how many groups. Two 40-bp windows 10 bases apart share the
    8-mers starting 10-32, 23 of 33 (0.70), and the 16-mers 10-24, 15 of 25 (0.6); two 40-mers
    differing at base 20 share the 8-mers not covering it, 33 - 8 = 25 of 33 (0.76), and 25 - 16 =
    9 of 25 16-mers (0.36). At k 8, threshold 0.72 the second pair is grouped; at 16, 0.5 the first."""
    import numpy as np

    from sciPT.sequence_inputs import LabelledSequences
    from sciPT.tasks.promoter_config import PromoterConfig
    from sciPT.tasks.promoter_evaluation import held_out_keys
    from sciPT.tasks.promoter_fits import fingerprint
    from sciPT.tasks.promoter_start import load_start

    rng = np.random.default_rng(0)
    stretch, snp = rng.integers(0, 4, 50).astype(np.uint8), rng.integers(0, 4, 40).astype(np.uint8)
    changed = snp.copy()
    changed[20] = (changed[20] + 1) % 4
    data = LabelledSequences(
        list("abcd"), [stretch[:40], stretch[10:], snp, changed], np.array([1, 1, 0, 0]), "w.csv"
    )
    short = PromoterConfig(contamination_k=8, contamination_threshold=0.72)
    long = PromoterConfig(contamination_k=16, contamination_threshold=0.5)
    assert held_out_keys(short, data).tolist() == [0, 1, 2, 2]
    assert held_out_keys(long, data).tolist() == [0, 0, 1, 2]
    start = load_start("none", PromoterConfig())
    assert fingerprint(short, data, start, 40)["held_out"] != fingerprint(long, data, start, 40)["held_out"]


def test_a_reverse_complement_copy_does_not_make_the_groups_near(tmp_path):
    """A record and its reverse complement are one group as exact copies (counted by the repeats,
    either strand): three records in two groups, less one repeat, is no group of near copies."""
    import numpy as np

    from sciPT.sequence_inputs import LabelledSequences
    from sciPT.tasks.promoter_classifier import COMPLEMENT
    from sciPT.tasks.promoter_config import PromoterConfig
    from sciPT.tasks.promoter_fits import fingerprint
    from sciPT.tasks.promoter_start import load_start

    rng = np.random.default_rng(0)
    first, other = (rng.integers(0, 4, 40).astype(np.uint8) for _ in range(2))
    data = LabelledSequences(
        list("abc"), [first, COMPLEMENT[first[::-1]], other], np.array([1, 1, 0]), "c.csv"
    )
    assert not fingerprint(PromoterConfig(), data, load_start("none", PromoterConfig()), 40)["near_grouped"]


def test_fits_kept_before_early_stops_grouped_near_copies_are_refused_where_there_are_some(tmp_path):
    """Fits kept while only the folds grouped near copies (no "early_stops_grouped") stopped early
    on splits holding near copies of what they fitted: refused where the data hold near copies,
    continued where they hold none (their splits are the same)."""
    from sciPT.tasks.promoter_fits import refuse_changes

    where = tmp_path / FITS / "fingerprint.json"
    before = _kept_fingerprint(near_grouped=True)
    del before["early_stops_grouped"]
    with pytest.raises(ConfigError) as err:
        refuse_changes(before, _kept_fingerprint(near_grouped=True), where)
    assert str(err.value) == (
        f"--resume: {tmp_path / FITS} holds fits made with early-stopping splits that did not keep "
        "near copies together (an earlier version); continue with what they were made with, or start "
        "a new run (another --out)"
    )
    plain = _kept_fingerprint()
    del plain["early_stops_grouped"]
    refuse_changes(plain, _kept_fingerprint(), where)  # no near copies: the same splits


def test_fits_kept_with_near_copies_grouped_continue_with_the_same_groups(tmp_path):
    """Fits kept with the groups in their fingerprint are compared by the groups alone: the same
    groups of near copies continue (the check for fits kept before grouping is not theirs)."""
    from sciPT.tasks.promoter_fits import refuse_changes

    kept = _kept_fingerprint(near_grouped=True)
    refuse_changes(kept, _kept_fingerprint(near_grouped=True), tmp_path / FITS / "fingerprint.json")


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
        {"export": "recommended"},
        {"label_fractions": [0.1]},
        {"baselines": False},
        {"init": "runs/dna"},
    ):
        assert fit_settings(replace(default, **change)) == fit_settings(default), change
    assert fit_settings(replace(default, folds=default.folds + 1)) != fit_settings(default)
    # near copies, grouped by these, stay on one side of every fit's early-stopping split
    for change in ({"contamination_k": 12}, {"contamination_threshold": 0.8}):
        assert fit_settings(replace(default, **change)) != fit_settings(default), change


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
        return {
            "settings": fit_settings(cfg),
            "length": 200,
            "data": "d",
            "start": "s",
            "held_out": "h",
            "near_grouped": False,
        }

    assert fit_settings(cfg)["model.complement_ids"] == [0, 1, 2, 3]
    FitStore(tmp_path, now())
    FitStore(tmp_path, now(), resume=True)  # the same settings: no refusal
    cfg.model.complement_ids = (3, 2, 1, 0)
    with pytest.raises(ConfigError) as err:
        FitStore(tmp_path, now(), resume=True)
    assert "made with other settings (model.complement_ids); continue" in str(err.value)


def _inputs_cfg(**inputs):
    """A default configuration reading tables with the columns ``seq`` and ``y``, and ``inputs``."""
    from sciPT.tasks.promoter_config import PromoterConfig

    cfg = PromoterConfig()
    cfg.inputs.sequence_column, cfg.inputs.label_column = "seq", "y"
    for key, value in inputs.items():
        setattr(cfg.inputs, key, str(value))
    return cfg


def test_the_training_data_is_one_file_or_a_pair_and_each_misuse_is_named(tmp_path):
    """--train, or --positives with --negatives (each file's records taking its label, positives
    first), read with the configured columns; both ways at once, half a pair, one file named twice
    (however spelt) and no data at all are each refused naming the flags to fix."""
    table, pos, neg = tmp_path / "train.csv", tmp_path / "pos.csv", tmp_path / "neg.csv"
    table.write_text("id,seq,y\na,ACGT,1\nb,GGCC,0\n")
    pos.write_text("id,seq\np,ACGT\n")
    neg.write_text("id,seq\nn,GGCC\nm,TTAA\n")

    data = promoter.read_training_data(_inputs_cfg(train=table))
    assert data.names == ["a", "b"] and data.labels.tolist() == [1, 0]
    assert [c.tolist() for c in data.codes] == [[0, 1, 2, 3], [2, 2, 1, 1]]
    data = promoter.read_training_data(_inputs_cfg(positives=pos, negatives=neg))
    assert data.names == ["p", "n", "m"] and data.labels.tolist() == [1, 0, 0]
    assert [c.tolist() for c in data.codes] == [[0, 1, 2, 3], [2, 2, 1, 1], [3, 3, 0, 0]]

    def refused(**inputs):
        with pytest.raises(ConfigError) as err:
            promoter.read_training_data(_inputs_cfg(**inputs))
        return str(err.value)

    def both(given):
        return (
            f"--train ({table}) and --positives/--negatives ({given}): give one or the other (a --resume "
            "reads the run's own from its config.yaml)"
        )

    assert refused(train=table, positives=pos, negatives=neg) == both(f"{pos}, {neg}")
    assert refused(train=table, negatives=neg) == both(neg)
    assert refused(train=table, positives=pos) == both(pos)
    same = tmp_path / "x" / ".." / "neg.csv"  # the same file by another path
    (tmp_path / "x").mkdir()
    assert refused(positives=same, negatives=neg) == (
        f"--positives and --negatives: both name {same}; expected two files"
    )
    assert refused(positives=pos) == "--negatives: missing; --positives and --negatives are given together"
    assert refused(negatives=neg) == "--positives: missing; --positives and --negatives are given together"
    assert refused() == "no training data: pass --train FILE, or --positives FILE --negatives FILE"


class _ByLength:
    """A fitted classifier standing in for a fine-tune: a 30-bp sequence is a promoter, any other
    not (what :func:`_own_columns` writes); nothing stacked on top."""

    fusion = fitted_fusion = stack = fitted_stack = cnn_stack = fitted_cnn_stack = None
    validation = (np.array([1, 0]), np.array([0.9, 0.1]))  # its early-stopping split

    def predict(self, codes):
        return np.array([float(len(c) == 30) for c in codes])


class _Motif(_ByLength):
    """A stand-in reading the planted motif: TATAAT at position 12 is a promoter."""

    def predict(self, codes):
        return np.array([float(c[12:18].tolist() == [3, 0, 3, 0, 0, 3]) for c in codes])


class _Chance(_ByLength):
    """A stand-in that tells nothing apart."""

    def predict(self, codes):
        return np.full(len(codes), 0.5)


class _ChanceBaseline:
    """The k-mer and CNN baselines, standing in: fitted on nothing, at chance."""

    def __init__(self, *args, **kwargs):
        pass

    def fit(self, codes, labels):
        return self

    def predict_proba(self, codes):
        return np.full(len(codes), 0.5)


@pytest.fixture
def stand_ins(monkeypatch):
    """``run_finetune`` with stand-ins for every fine-tune (:class:`_ByLength`; in the folds
    :class:`_Motif`, or :class:`_Chance` for a start named pre-trained; :class:`_ChanceBaseline`) and no export: what each
    was fitted and exported from."""
    fitted = SimpleNamespace(final=[], folds=set(), exported=[])

    def fit(start, cfg, data, length, seed, val=None, **kwargs):
        fitted.final.append((start.name, len(data), length, seed, val.names if val is not None else None))
        return _ByLength()

    def fold_fit(start, cfg, *args, **kwargs):
        fitted.folds.add((start.name, (start.finetune or cfg.finetune).strategy))
        return _Chance() if start.name == "pre-trained" else _Motif()

    monkeypatch.setattr(promoter, "train_classifier", fit)
    monkeypatch.setattr(evaluation, "train_classifier", fold_fit)
    monkeypatch.setattr(evaluation, "CNNClassifier", _ChanceBaseline)
    monkeypatch.setattr(evaluation, "KmerLogisticRegression", _ChanceBaseline)
    monkeypatch.setattr(
        promoter, "export_classifier", lambda run, final, start, *args: fitted.exported.append(start.name)
    )
    return fitted


def _own_columns(path, rows):
    """``rows`` as a table with the columns ``seq`` and ``y``, the non-promoters cut to 26 bp."""
    path.write_text("id,seq,y\n" + "".join(f"{n},{s if y else s[:26]},{y}\n" for n, s, y in rows))
    return path


def test_the_final_model_reads_val_and_test_with_the_runs_columns(planted, tmp_path, stand_ins):
    """Without folds: --val and --test are read with the training data's columns, the final model
    stops early on --val with the seed set, and the test set is scored and described at the length
    read (the longest training sequence, 30 bp); the report opens with the length flag, then the
    overlap flags, then the missing cross-validation."""
    _, rows = planted
    cfg = _inputs_cfg(
        train=_own_columns(tmp_path / "train.csv", rows[:51]),
        val=_own_columns(tmp_path / "val.csv", rows[:4]),  # in the training data too: flagged
        test=_own_columns(tmp_path / "test.csv", rows[51:]),
    )
    cfg.label_fractions, cfg.train.seed = [], 7
    assert promoter.run_finetune(cfg, tmp_path / "run") == 0
    assert stand_ins.final == [("scratch", 51, 30, 7, ["s0", "s1", "s2", "s3"])]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert (metrics["sequences"], metrics["positives"], metrics["length"]) == (51, 25, 30)
    assert (metrics["val_in_training"], metrics["test_in_training"]) == (4, 0)
    assert (metrics["test_accuracy"], metrics["test_mcc"]) == (1.0, 1.0)  # 9 of 9 told apart
    report = (tmp_path / "run" / "report.md").read_text().splitlines()
    assert report[2:5] == [
        "- **Length gives the label away**: in train.csv promoters are 30 bp long and non-promoters "
        "26 bp; length alone tells them apart (AUROC 1.00), and the shorter ones are padded to 30 bp, "
        "so a model can learn the padding instead of the sequence. Give both classes sequences of the "
        "same length.",
        "- **Validation set not held out**: 4 of the 4 sequences of val.csv occur in the training data "
        "train.csv (either strand); the final model stopped early and fitted its stacks on sequences it "
        "was trained on, and the validation scores include them.",
        NO_CV_LINE,
    ]
    assert (
        f"{tmp_path / 'test.csv'}: 9 sequences; the model reads 30 bp (the length it was fine-tuned "
        "on): of 9 sequences, 4 shorter padded to 30 bp."
    ) in report


def test_a_continued_run_is_locked_and_finished_only_once_its_export_config_is_written(tmp_path, capsys):
    """--resume takes the run directory's lock (its file names this process); the run counts as
    finished, saying so, once model/config.json (written last by the export) is there: a model
    folder holding only weights is an export cut short, not a finished run."""
    (tmp_path / "config.yaml").write_text("task: promoter\n")
    run = promoter.reopen(tmp_path)
    try:
        assert (tmp_path / run.LOCK).read_text().startswith(f"pid {os.getpid()} on ")
    finally:
        run.unlock()
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "model.safetensors").write_bytes(b"")
    assert promoter.finished(run) is False and capsys.readouterr().err == ""
    (tmp_path / "model" / "config.json").write_text("{}")
    assert promoter.finished(run) is True
    assert capsys.readouterr().err == (
        f"{run.path}: already finished and exported: nothing to do (another --out starts a new run)\n"
    )


def test_a_length_the_head_cannot_read_is_refused_and_one_beyond_the_encoder_is_noted(
    planted, tmp_path, capsys, stand_ins, fast_cfg
):
    """The default conv head (kernel 15, max-pool 4) needs 18 token positions: 12 bp are 10 overlapping
    3-mers, refused before anything is written; the encoder (64-token windows, stretched 4 times)
    reads 4 * 64 + 3 - 1 = 258 bp: a longer inputs.max_length is cut to it, with a note."""
    path, _ = planted
    cfg = config(fast_cfg, path, label_fractions=[], folds=0)
    cfg.inputs.max_length = 12
    with pytest.raises(DataError) as err:
        promoter.run_finetune(cfg, tmp_path / "short")
    assert str(err.value) == (
        f"{path}: the model reads 12 residues (inputs.max_length 12), 10 token(s), and the conv head "
        "needs at least 18 (kernel 15 + max-pool 4 - 1): expected sequences (or --inputs.max-length) "
        "of at least 20 residues, or a smaller --head.kernel / --head.pool"
    )
    assert not (tmp_path / "short").exists()
    for max_length, note in (
        (258, []),
        (
            259,
            [
                "note: inputs.max_length 259 is beyond what the encoder reads; sequences are read to 258 residues"
            ],
        ),
    ):
        cfg.inputs.max_length = max_length
        capsys.readouterr()
        assert promoter.run_finetune(cfg, tmp_path / str(max_length)) == 0
        assert [line for line in capsys.readouterr().err.splitlines() if line.startswith("note")] == note
        assert json.loads((tmp_path / str(max_length) / "metrics.json").read_text())["length"] == 258


def test_the_scratch_baseline_is_fully_fine_tuned_and_the_recommended_start_exported(
    planted, tmp_path, monkeypatch, stand_ins, fast_cfg
):
    """Beside a pre-trained start fitted with its own strategy, the folds fit the scratch baseline
    fully fine-tuned (no pre-trained weights to keep); with --export recommended the final model is
    trained, recorded and exported from scratch, which reads the motif where the pre-trained stand-in
    is at chance. Without baselines there is no scratch fit; a scratch --init is fitted once, with
    the run's strategy."""
    real_load_start = promoter.load_start

    def pretrained_start(init, cfg):
        start = real_load_start("none", cfg)
        start.name = "pre-trained"
        return start

    path, _ = planted
    cfg = config(fast_cfg, path, label_fractions=[], export="recommended")
    cfg.finetune.strategy = "linear-probe"
    with monkeypatch.context() as patched:
        patched.setattr(promoter, "load_start", pretrained_start)
        assert promoter.run_finetune(cfg, tmp_path / "run") == 0
        assert stand_ins.folds == {("pre-trained", "linear-probe"), ("scratch", "full")}
        assert [fit[0] for fit in stand_ins.final] == stand_ins.exported == ["scratch"]
        metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
        assert (metrics["scratch_mcc_mean"], metrics["pre_trained_mcc_mean"]) == (1.0, 0.0)
        assert metrics["exported_scratch"] == 1 and "exported_pre_trained" not in metrics

        stand_ins.folds.clear()
        cfg.baselines, cfg.export = False, "start"
        assert promoter.run_finetune(cfg, tmp_path / "no-baselines") == 0
        assert stand_ins.folds == {("pre-trained", "linear-probe")}
    stand_ins.folds.clear()
    assert promoter.run_finetune(config(fast_cfg, path, label_fractions=[]), tmp_path / "scratch") == 0
    cfg.baselines = True
    assert promoter.run_finetune(cfg, tmp_path / "scratch-probe") == 0
    assert stand_ins.folds == {("scratch", "full"), ("scratch", "linear-probe")}


def test_a_final_model_stopped_on_val_is_checked_on_all_the_training_data_before_writing(
    planted, tmp_path, stand_ins, fast_cfg
):
    """With --val the final model holds nothing out to stop early: a class of one distinct sequence
    is fitted, and the step budget must cover one pass over all 60 sequences (4 steps of 16, where
    the 48 left by a 20% early-stopping split would take 3); a strategy the start cannot take (ewc
    without a Fisher) or a label fraction too small to fit is refused before the run directory is
    written."""
    path, rows = planted
    val = tmp_path / "val.csv"
    val.write_text("name,sequence,label\n" + "".join(f"v{n},{s},{y}\n" for n, s, y in rows[:4]))
    one_negative = tmp_path / "one.csv"
    one_negative.write_text(
        "name,sequence,label\n" + "".join(f"{n},{s if y else rows[0][1]},{y}\n" for n, s, y in rows)
    )
    cfg = config(fast_cfg, one_negative, label_fractions=[], folds=0)
    cfg.inputs.val = str(val)
    assert promoter.run_finetune(cfg, tmp_path / "one") == 0

    cfg = config(fast_cfg, path, label_fractions=[], folds=0, val_fraction=0.2)
    cfg.inputs.val, cfg.train.max_steps = str(val), 3
    with pytest.raises(ConfigError) as err:
        promoter.run_finetune(cfg, tmp_path / "steps")
    assert str(err.value) == (
        f"max_steps: 3 optimizer steps end before the first validation; one pass over the 60 training "
        f"sequences of {path} is 4 steps at batch size 16: expected --max-steps at least 4 or a larger "
        "--batch-size"
    )
    cfg.inputs.val = None  # the fit's own split leaves 48: 3 steps
    assert promoter.run_finetune(cfg, tmp_path / "split") == 0

    cfg = config(fast_cfg, path, label_fractions=[], folds=0)
    cfg.finetune.strategy = "ewc"
    with pytest.raises(ConfigError, match="^finetune.strategy: 'ewc' needs the Fisher diagonal"):
        promoter.run_finetune(cfg, tmp_path / "ewc")
    # and --label-fractions, whose split the single distinct non-promoter cannot take
    cfg = config(fast_cfg, one_negative, folds=0)
    cfg.inputs.val = str(val)
    with pytest.raises(DataError) as err:  # the fractions' 80 % pool cannot even be split off
        promoter.run_finetune(cfg, tmp_path / "fractions")
    assert str(err.value) == (
        "an early-stopping split needs at least 2 distinct sequences of each class (copies, reverse "
        "complements and grouped near copies count once); found {0: 1, 1: 30}"
    )
    assert not any((tmp_path / name).exists() for name in ("steps", "ewc", "fractions"))
    assert len(stand_ins.final) == 2


def test_the_plots_of_a_test_set_are_not_titled_out_of_fold(planted, tmp_path, monkeypatch, stand_ins):
    """With --test the ROC and precision-recall plots show the final model on the test set alone:
    their title and AUROC label must not call it the pooled out-of-fold scores of the folds."""
    from sciPT import plots

    drawn = []
    monkeypatch.setattr(
        plots, "roc_pr", lambda curves, roc, pr, **kw: drawn.append((list(curves), kw)) or (roc, pr)
    )
    _, rows = planted
    cfg = _inputs_cfg(
        train=_own_columns(tmp_path / "train.csv", rows[:52]),
        test=_own_columns(tmp_path / "test.csv", rows[52:]),
    )
    cfg.label_fractions = []
    assert promoter.run_finetune(cfg, tmp_path / "run") == 0
    [(curves, kw)] = drawn
    assert curves == ["final model (test)"]
    assert kw == {"title": "(final model, test set test.csv)", "auroc_label": "AUROC"}


def test_a_continued_run_says_how_many_fits_it_takes_over(planted, tmp_path, capsys, stand_ins, fast_cfg):
    """--resume says on stderr how many fits the run had completed: 2 folds of scratch, the k-mer
    regression and the CNN are 6."""
    path, _ = planted
    cfg = config(fast_cfg, path, label_fractions=[])
    assert promoter.run_finetune(cfg, tmp_path / "run") == 0
    capsys.readouterr()
    assert promoter.run_finetune(cfg, tmp_path / "run", resume=True) == 0
    assert (
        f"{tmp_path / 'run'}: continuing, with 6 fits completed before"
        in capsys.readouterr().err.splitlines()
    )
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["fits_resumed"] == 6


def test_fits_kept_by_this_version_with_near_copies_continue(tmp_path):
    """A fingerprint written now, of data holding near copies (two 40-bp windows 4 bases apart),
    marks its early-stopping splits as grouping them: read back, it is accepted by a resume with the
    same run, not taken for fits of the version before."""
    from sciPT.sequence_inputs import LabelledSequences
    from sciPT.tasks.promoter_config import PromoterConfig
    from sciPT.tasks.promoter_fits import fingerprint, refuse_changes
    from sciPT.tasks.promoter_start import load_start

    rng = np.random.default_rng(0)
    stretch = rng.integers(0, 4, 44).astype(np.uint8)
    codes = [stretch[:40], stretch[4:], *(rng.integers(0, 4, 40).astype(np.uint8) for _ in range(2))]
    data = LabelledSequences(list("abcd"), codes, np.array([1, 1, 0, 0]), "w.csv")
    now = fingerprint(PromoterConfig(), data, load_start("none", PromoterConfig()), 40)
    assert now["near_grouped"] and now["early_stops_grouped"] is True
    refuse_changes(json.loads(json.dumps(now)), now, tmp_path / FITS / "fingerprint.json")


def test_fits_kept_before_any_grouping_of_near_copies_are_refused_for_their_folds_alone(tmp_path):
    """Fits kept before the folds grouped near copies (no "held_out", "near_grouped" or
    "early_stops_grouped") are refused, where there are near copies, by the older change alone:
    the folds' line covers their early-stopping splits too."""
    from sciPT.tasks.promoter_fits import refuse_changes

    where = tmp_path / FITS / "fingerprint.json"
    oldest = _kept_fingerprint()
    del oldest["held_out"], oldest["near_grouped"], oldest["early_stops_grouped"]
    with pytest.raises(ConfigError) as err:
        refuse_changes(oldest, _kept_fingerprint(near_grouped=True), where)
    assert str(err.value) == (
        f"--resume: {tmp_path / FITS} holds fits made with folds that did not keep near copies together "
        "(an earlier version); continue with what they were made with, or start a new run (another --out)"
    )


def test_the_early_stopping_line_follows_the_near_copies_of_the_run_now(tmp_path):
    """Fits kept while only the folds grouped near copies, with other groups than now: the
    early-stopping line is added where the data now hold near copies, not where the kept fits did
    (now none: only the groups' line)."""
    from sciPT.tasks.promoter_fits import refuse_changes

    where = tmp_path / FITS / "fingerprint.json"
    before = _kept_fingerprint(near_grouped=True)
    del before["early_stops_grouped"]
    with pytest.raises(ConfigError) as err:
        refuse_changes(before, _kept_fingerprint(held_out="other"), where)
    assert str(err.value) == (
        f"--resume: {tmp_path / FITS} holds fits made with other groups of near copies kept together "
        "(another contamination_k or _threshold); continue with what they were made with, or start a "
        "new run (another --out)"
    )
    before["near_grouped"] = False
    with pytest.raises(ConfigError) as err:
        refuse_changes(before, _kept_fingerprint(held_out="other", near_grouped=True), where)
    assert str(err.value) == (
        f"--resume: {tmp_path / FITS} holds fits made with other groups of near copies kept together "
        "(another contamination_k or _threshold); early-stopping splits that did not keep near copies "
        "together (an earlier version); continue with what they were made with, or start a new run "
        "(another --out)"
    )


def test_a_fit_s_file_name_keeps_the_point_of_its_fraction():
    """A fit's file is named by its key, lower case, each run of other characters one '-', the
    point of a fraction kept: a run stopped by one version and continued by another must find the
    files by the same names (keys as the folds and the label fractions make them)."""
    assert slug("fold 1, k-mer LR") == "fold-1-k-mer-lr"
    assert slug("labels 0.5, seed 0, scratch") == "labels-0.5-seed-0-scratch"
    assert slug("fraction 0.25, fold 2, CNN") == "fraction-0.25-fold-2-cnn"


def test_the_fingerprint_records_the_length_and_every_base_of_the_data(tmp_path):
    """Fits of sequences cropped or padded to 40 bp are not those at 41: the fingerprint keeps the
    length it is given. The data digest reads every base: two sets that differ only in the last
    base of their last sequence digest differently, and a continued run on the other is refused."""
    from sciPT.sequence_inputs import LabelledSequences
    from sciPT.tasks.promoter_config import PromoterConfig
    from sciPT.tasks.promoter_fits import data_digest, fingerprint, refuse_changes
    from sciPT.tasks.promoter_start import load_start

    rng = np.random.default_rng(0)
    codes = [rng.integers(0, 4, 40).astype(np.uint8) for _ in range(4)]
    data = LabelledSequences(list("abcd"), codes, np.array([1, 1, 0, 0]), "w.csv")
    start = load_start("none", PromoterConfig())
    at_40 = fingerprint(PromoterConfig(), data, start, 40)
    assert at_40["length"] == 40 and fingerprint(PromoterConfig(), data, start, 41)["length"] == 41

    last = codes[-1].copy()
    last[-1] = (last[-1] + 1) % 4
    other = LabelledSequences(list("abcd"), [*codes[:-1], last], data.labels, "w.csv")
    assert data_digest(other) != data_digest(data)
    with pytest.raises(ConfigError) as err:
        refuse_changes(at_40, fingerprint(PromoterConfig(), other, start, 40), tmp_path / FITS / "f.json")
    assert str(err.value) == (
        f"--resume: {tmp_path / FITS} holds fits made with other training sequences or labels; continue "
        "with what they were made with, or start a new run (another --out)"
    )


def test_sequences_longer_than_the_encoder_reads_are_counted_in_a_note_and_the_report(capsys):
    """An ``hf:`` model with 40 positions read 57-bp promoters cropped to 36 bp with no line but the
    report's "cropped or padded to 36 bp": the count and the reason, on standard error and in the
    report, unless a shorter --inputs.max-length asked for the crop."""
    from sciPT.domains.dna.data import LabelledSequences

    codes = [np.zeros(n, dtype=np.uint8) for n in (57, 57, 36, 20)]
    data = LabelledSequences(["a", "b", "c", "d"], codes, np.array([1, 1, 0, 0]), "u.csv")
    line = (
        "2 of 4 training sequences are longer than the 36 residues the encoder reads (its position "
        "table): each is read cropped to its central 36 bp"
    )
    for max_length in (0, 100):
        assert promoter.encoder_crop_lines(max_length, data, 36) == [f"- **Cropped by the encoder**: {line}."]
        assert capsys.readouterr().err == f"note: {line}\n"
    assert promoter.encoder_crop_lines(30, data, 36) == []  # asked for
    assert promoter.encoder_crop_lines(0, data, 57) == []  # all fit
    assert capsys.readouterr().err == ""
