"""`scipt finetune surrogate`, `evaluate`, `predict` through the CLI, and bad input (exit 2)."""

import json

import pytest

from sciPT.cli import main

TRAIN = ["Re,Pr,Nu", "27820.9,0.7,258.78", "36663.8,0.7,301.53", "51691.2,0.7,370.99"]
HELD = ["Re,Pr,Nu", "61733.3,0.7,416.6", "77183.5,0.7,483.66", "90068.8,0.7,519.67"]


@pytest.fixture
def files(tmp_path):
    (tmp_path / "train.csv").write_text("\n".join(TRAIN) + "\n")
    (tmp_path / "held.csv").write_text("\n".join(HELD) + "\n")
    return tmp_path


def test_calibrate_evaluate_predict_in_three_commands(files, capsys):
    out = files / "run"
    assert main(["finetune", "surrogate", "--train", str(files / "train.csv"), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("Nu = ") and "(kept: " in printed
    before = (out / "metrics.json").read_bytes()
    assert main(["evaluate", str(out), "--data", str(files / "held.csv")]) == 0
    metrics = json.loads((out / "evaluations/held/metrics.json").read_text())
    assert metrics["eval_points"] == 3 and metrics["eval_outside_calibration_range"] == 3
    assert metrics["eval_mape"] < 15 and 0 <= metrics["eval_coverage"] <= 1
    assert (out / "evaluations/held/plots/evaluate.png").is_file()
    assert (out / "metrics.json").read_bytes() == before
    assert (
        main(
            [
                "predict",
                str(out),
                "--input",
                str(files / "held.csv"),
                "--output",
                str(files / "p.csv"),
                "--interval-level",
                "0.5",
            ]
        )
        == 0
    )
    header = (files / "p.csv").read_text().splitlines()[0]
    assert header == "Re,Pr,Nu,Nu_pred,Nu_lo_0.5,Nu_hi_0.5,in_calibration_range"


@pytest.mark.parametrize(
    "line, message",
    [
        (
            "27820.9,0.7,0",
            "train.csv, line 2: Nu = 0 is not a positive number (Nu must be a positive dimensionless number)",
        ),
        (
            "27820.9,-0.7,258",
            "train.csv, line 2: Pr = -0.7 is not a positive number (Pr must be a positive "
            "dimensionless number)",
        ),
    ],
)
def test_bad_values_exit_2_with_one_line_and_no_run(files, capsys, line, message):
    (files / "train.csv").write_text(f"Re,Pr,Nu\n{line}\n")
    out = files / "run"
    assert main(["finetune", "surrogate", "--train", str(files / "train.csv"), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("scipt: error: ") and err.endswith(message) and "\n" not in err
    assert not out.exists()


def test_missing_column_exits_2(files, capsys):
    (files / "train.csv").write_text("x,y\n3.6,0.23\n")
    assert (
        main(["finetune", "surrogate", "--train", str(files / "train.csv"), "--out", str(files / "r")]) == 2
    )
    assert (
        capsys.readouterr()
        .err.strip()
        .endswith(
            "train.csv: missing column 'Re' (expected Re, Pr, Nu and optional geometric ratios; found: x, y) "
            "(digitised x,y files: use read_digitised with their axis scaling)"
        )
    )


def test_evaluate_with_a_missing_model_column_exits_2(files, capsys):
    out = files / "run"
    (files / "geo.csv").write_text("Re,Pr,Nu,AR\n2e4,0.7,190,1\n4e4,0.7,290,2\n8e4,0.7,450,4\n")
    assert main(["finetune", "surrogate", "--train", str(files / "geo.csv"), "--out", str(out)]) == 0
    assert main(["evaluate", str(out), "--data", str(files / "held.csv")]) == 2
    assert "held.csv: missing column 'AR' (the model uses the geometric ratios AR)" in capsys.readouterr().err
    assert not (out / "evaluations").exists()


def test_a_mistyped_ratio_stops_evaluate_and_predict_with_its_line(files, capsys):
    out = files / "run"
    (files / "geo.csv").write_text("Re,Pr,Nu,AR\n2e4,0.7,190,1\n4e4,0.7,290,2\n8e4,0.7,450,4\n")
    assert main(["finetune", "surrogate", "--train", str(files / "geo.csv"), "--out", str(out)]) == 0
    (files / "typo.csv").write_text("Re,Pr,Nu,AR\n3e4,0.7,240,x\n")
    capsys.readouterr()
    assert main(["evaluate", str(out), "--data", str(files / "typo.csv")]) == 2
    assert capsys.readouterr().err.strip().endswith("typo.csv, line 2: AR = 'x' is not a number")
    predicted = files / "p.csv"
    assert main(["predict", str(out), "--input", str(files / "typo.csv"), "--output", str(predicted)]) == 2
    assert capsys.readouterr().err.strip().endswith("typo.csv, line 2: AR = 'x' is not a number")
    assert not predicted.exists() and not (out / "evaluations").exists()


def test_export_of_a_run_that_wrote_its_own_says_where_it_is(files, capsys):
    out = files / "run"
    assert main(["finetune", "surrogate", "--train", str(files / "train.csv"), "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["export", str(out)]) == 2
    assert capsys.readouterr().err == (
        f"scipt: error: {out}/checkpoints/last.ckpt: checkpoint not found (export works on runs trained "
        f"with Lightning; this run wrote its export itself: {out}/model)\n"
    )
