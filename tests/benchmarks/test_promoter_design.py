"""The promoter head-design benchmark's --resume: a run with other settings is not extended."""

from __future__ import annotations

import importlib
import json

import pytest


def test_resume_with_other_folds_stops_naming_them(load_benchmark, monkeypatch, tmp_path):
    design = load_benchmark("promoter_design")
    provenance = importlib.import_module("provenance")  # the sibling module the script imports
    monkeypatch.setattr(provenance, "RESULTS", tmp_path / "results")
    monkeypatch.setattr(design, "HERE", tmp_path)  # its work folder, were it reached

    def no_pretraining(work):
        raise AssertionError("reached the pre-training: the earlier run's protocol was not compared")

    monkeypatch.setattr(design, "pretrained_run", no_pretraining)
    earlier = {
        "provenance": provenance.provenance([]),
        "protocol": {
            "rule": design.RULE,
            "heads": design.HEADS,
            "pretrain_steps": design.PRETRAIN_STEPS,
            "genomes": list(design.GENOMES),
            "folds": 3,
            "ensemble": 1,
            "cv_seed": 0,
        },
        "pretraining": {},
        "units": [],
    }
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "design.json").write_text(json.dumps(earlier))
    with pytest.raises(SystemExit) as stop:
        design.main(["--folds", "5", "--resume", "--results-name", "design"])
    assert "(folds)" in str(stop.value.code)
    assert not (tmp_path / "out").exists()
