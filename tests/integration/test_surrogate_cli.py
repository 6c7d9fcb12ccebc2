"""`scipt finetune surrogate`, `evaluate`, `predict` through the CLI, and bad input (exit 2)."""

import json
import re

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
    assert header == "Re,Pr,Nu,Nu_pred,Nu_median,Nu_lo_0.5,Nu_hi_0.5,in_calibration_range"
    # loaded in Python, the model gives predict's intervals: the export's recalibration comes with it
    import numpy as np

    from sciPT.checkpoint import from_pretrained

    model = from_pretrained(out).model
    assert model.level_map is not None
    rows = [line.split(",") for line in (files / "p.csv").read_text().splitlines()[1:]]
    X = np.array([[1.0, np.log(float(r[0])), np.log(float(r[1]))] for r in rows])
    lo, hi = model.posterior().interval(model.design(X), 0.5)
    np.testing.assert_allclose(np.exp(lo), [float(r[5]) for r in rows], rtol=1e-5)
    np.testing.assert_allclose(np.exp(hi), [float(r[6]) for r in rows], rtol=1e-5)
    with pytest.raises(ValueError, match="level: expected a probability between 0 and 1, got 90"):
        model.posterior().interval(model.design(X), 90)


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


def test_a_column_named_twice_stops_finetune_evaluate_and_predict(files, capsys):
    """The last copy used to win without a word: a stray "Re" column of ones set every Re to 1."""
    (files / "dup.csv").write_text("Re,Pr,Nu,Re\n36460,0.7,232.4,1\n51858,0.7,276.7,1\n")
    message = (
        f"scipt: error: {files / 'dup.csv'}: column 'Re' is named twice in the header (columns 1 and 4); "
        "expected each column once\n"
    )
    dup, out = str(files / "dup.csv"), files / "run"
    assert main(["finetune", "surrogate", "--train", dup, "--out", str(files / "r")]) == 2
    assert capsys.readouterr().err == message
    assert not (files / "r").exists()
    assert main(["finetune", "surrogate", "--train", str(files / "train.csv"), "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(out), "--data", dup]) == 2
    assert capsys.readouterr().err == message
    predicted = files / "p.csv"
    assert main(["predict", str(out), "--input", dup, "--output", str(predicted)]) == 2
    assert capsys.readouterr().err == message
    assert not predicted.exists() and not (out / "evaluations").exists()


def test_evaluate_with_a_missing_model_column_exits_2(files, capsys):
    out = files / "run"
    (files / "geo.csv").write_text("Re,Pr,Nu,AR\n2e4,0.7,190,1\n4e4,0.7,290,4\n8e4,0.7,450,2\n")
    assert main(["finetune", "surrogate", "--train", str(files / "geo.csv"), "--out", str(out)]) == 0
    assert main(["evaluate", str(out), "--data", str(files / "held.csv")]) == 2
    assert "held.csv: missing column 'AR' (the model uses the geometric ratios AR)" in capsys.readouterr().err
    assert not (out / "evaluations").exists()


def test_a_mistyped_ratio_stops_evaluate_and_predict_with_its_line(files, capsys):
    out = files / "run"
    (files / "geo.csv").write_text("Re,Pr,Nu,AR\n2e4,0.7,190,1\n4e4,0.7,290,4\n8e4,0.7,450,2\n")
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


def test_predict_and_evaluate_check_only_the_columns_the_model_reads(files, capsys):
    """A run number from 0, a temperature in deg C, an earlier prediction's in_calibration_range of
    0: columns the model does not use are carried through, not refused as geometric ratios."""
    out = files / "run"
    assert main(["finetune", "surrogate", "--train", str(files / "train.csv"), "--out", str(out)]) == 0
    (files / "log.csv").write_text("run,Re,Pr,T_in\n0,30000,0.7,-5\n1,60000,0.7,20\n")
    first, again = files / "p.csv", files / "p2.csv"
    assert main(["predict", str(out), "--input", str(files / "log.csv"), "--output", str(first)]) == 0
    header, *rows = first.read_text().splitlines()
    # the file's own columns in its order, then the predictions
    assert header == "run,Re,Pr,T_in,Nu_pred,Nu_median,Nu_lo_0.9,Nu_hi_0.9,in_calibration_range"
    assert [r.split(",")[:4] for r in rows] == [["0", "30000", "0.7", "-5"], ["1", "60000", "0.7", "20"]]
    # predicting on a prediction replaces its columns rather than refusing or doubling them
    assert main(["predict", str(out), "--input", str(first), "--output", str(again)]) == 0
    assert again.read_text() == first.read_text()
    assert main(["evaluate", str(out), "--data", str(files / "held.csv")]) == 0
    scored = out / "evaluations/held/predictions.csv"
    assert main(["evaluate", str(out), "--data", str(scored)]) == 0
    capsys.readouterr()
    held = json.loads((out / "evaluations/held/metrics.json").read_text())
    rescored = json.loads((out / "evaluations/predictions/metrics.json").read_text())
    assert rescored["eval_mape"] == pytest.approx(held["eval_mape"], rel=1e-4)


def test_a_numeric_bookkeeping_column_says_why_it_was_read_and_groups_none_leaves_it_out(files, capsys):
    (files / "log.csv").write_text(
        "channel,Re,Pr,Nu\n0,27820.9,0.7,258.78\n1,36663.8,0.7,301.53\n2,51691.2,0.7,370.99\n"
    )  # a logger's channel numbers (a column named as a run number is a label, test_surrogate_data)
    out = files / "run"
    argv = ["finetune", "surrogate", "--train", str(files / "log.csv"), "--out", str(out)]
    assert main(argv) == 2
    assert capsys.readouterr().err == (
        f"scipt: error: {files / 'log.csv'}, line 2: channel = 0 is not a positive number (channel must be a "
        "positive dimensionless number) (channel was taken as a geometric ratio, as every numeric column "
        "besides Re, Pr and Nu is: name the ratios with --groups, or --groups none for none)\n"
    )
    assert not out.exists()
    assert main([*argv, "--groups", "none"]) == 0
    assert json.loads((out / "law.json").read_text())["exponents"].keys() == {"Re", "Pr"}
    plain = files / "plain"
    assert main(["finetune", "surrogate", "--train", str(files / "train.csv"), "--out", str(plain)]) == 0
    assert (out / "law.json").read_text() == (plain / "law.json").read_text()


def test_the_calibrated_interval_level_is_what_evaluate_and_predict_use_by_default(files, capsys):
    out = files / "run"
    argv = ["finetune", "surrogate", "--train", str(files / "train.csv"), "--out", str(out)]
    assert main([*argv, "--interval-level", "0.95"]) == 0
    predicted = files / "p.csv"
    assert main(["predict", str(out), "--input", str(files / "held.csv"), "--output", str(predicted)]) == 0
    assert (
        predicted.read_text().splitlines()[0]
        == "Re,Pr,Nu,Nu_pred,Nu_median,Nu_lo_0.95,Nu_hi_0.95,in_calibration_range"
    )
    assert main(["evaluate", str(out), "--data", str(files / "held.csv")]) == 0
    assert json.loads((out / "evaluations/held/metrics.json").read_text())["eval_interval_level"] == 0.95
    # a flag still overrides it
    assert main(["evaluate", str(out), "--data", str(files / "held.csv"), "--interval-level", "0.5"]) == 0
    assert json.loads((out / "evaluations/held/metrics.json").read_text())["eval_interval_level"] == 0.5


@pytest.mark.parametrize(
    "flags, message",
    [
        (
            ["--max-time", "5", "--devices", "4", "--lr", "3", "--schedule", "constant"],
            "--devices, --max-time, --lr, --schedule: not used by pretrain surrogates, a closed-form fit "
            "with no training loop (of the training keys only --seed is used)",
        ),
        (["--resume"], "--resume: surrogates pre-train in closed form, in seconds; run it again"),
    ],
)
def test_pretrain_surrogates_refuses_the_training_flags_it_would_ignore(files, capsys, flags, message):
    out = files / "prior"
    assert main(["pretrain", "surrogates", "--out", str(out), *flags]) == 2
    assert capsys.readouterr().err == f"scipt: error: {message}\n"
    assert not out.exists()


@pytest.mark.parametrize("name", ["dna", "surrogate"])
@pytest.mark.parametrize("steps", ["0", "-1", "ten"])
def test_a_demo_refuses_a_step_count_that_is_not_positive_before_it_starts(tmp_path, capsys, name, steps):
    """``--max-steps 0`` ran the DNA demo's own 300 steps, and -1 went through, without a word."""
    out = tmp_path / "demo"
    with pytest.raises(SystemExit) as exc:
        main(["demo", name, "--max-steps", steps, "--out", str(out)])
    assert exc.value.code == 2
    assert capsys.readouterr().err == (
        f"scipt demo: error: argument --max-steps: expected a positive number of steps, got {steps}; "
        "'scipt demo --help' lists the options\n"
    )
    assert not out.exists()


def test_the_surrogate_demo_refuses_a_step_count_it_would_ignore(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "surrogate", "--max-steps", "5", "--out", str(out)]) == 2
    assert capsys.readouterr().err == (
        "scipt: error: --max-steps: not used by the surrogate demo, closed-form fits with no training steps\n"
    )
    assert not out.exists()


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--noise", "-1"], "noise: expected a relative scatter >= 0, got -1.0"),
        (["--group-sd", "0"], "group_sd: expected a standard deviation > 0, got 0.0"),
    ],
)
def test_pretrain_surrogates_names_the_setting_out_of_range_and_its_value(files, capsys, flags, message):
    """It said ``noise must be >= 0 and group_sd > 0``, whichever of the two failed, and not its value."""
    out = files / "prior"
    assert main(["pretrain", "surrogates", "--out", str(out), *flags]) == 2
    assert capsys.readouterr().err == f"scipt: error: {message}\n"
    assert not out.exists()


def test_an_empty_systems_list_in_yaml_exits_2_as_the_empty_flag_does(files, capsys):
    """``systems: []`` failed in NumPy with a traceback (an einsum over no system)."""
    (files / "e.yaml").write_text("systems: []\n")
    out = files / "prior"
    assert main(["pretrain", "surrogates", "--config", str(files / "e.yaml"), "--out", str(out)]) == 2
    assert capsys.readouterr().err == (
        "scipt: error: systems: given empty; expected one or more correlation keys or families "
        "(all, smooth, flat-plate, smooth-pipe, rough-pipe, bluff-body)\n"
    )
    assert not out.exists()


def test_a_negative_seed_in_yaml_exits_2_before_the_correction_is_drawn(files, capsys):
    """``seed: -1`` with a correction reached NumPy's generator, a ValueError and exit 1."""
    (files / "train.csv").write_text(
        "Re,Pr,Nu\n" + "".join(f"{re},0.7,{0.02 * re**0.8:.6g}\n" for re in range(20000, 90000, 10000))
    )
    (files / "s.yaml").write_text(f"data:\n  train: {files / 'train.csv'}\nseed: -1\ncorrection: 2\n")
    out = files / "run"
    assert main(["finetune", "surrogate", "--config", str(files / "s.yaml"), "--out", str(out)]) == 2
    assert (
        capsys.readouterr().err == "scipt: error: --seed: expected an integer from 0 to 4294967295, got -1\n"
    )
    assert not out.exists()


def test_a_thousands_separator_in_a_european_file_exits_2_with_one_line_and_no_run(files, capsys):
    (files / "de.csv").write_text("Re;Pr;Nu\n10.000;0,7;40,2\n20.000;0,7;70,1\n")
    out = files / "run"
    assert main(["finetune", "surrogate", "--train", str(files / "de.csv"), "--out", str(out)]) == 2
    assert capsys.readouterr().err == (
        f"scipt: error: {files / 'de.csv'}, line 2: Re = '10.000' is ambiguous in a file with decimal "
        "commas (a thousands separator or a decimal point); expected no thousands separators: write "
        "10000, or 10 if the dot is a decimal point\n"
    )
    assert not out.exists()


def test_evaluate_and_predict_say_what_the_flags_alone_would_not(files, capsys):
    """A held-constant ratio missing from the file was counted inside the range without a word; a
    point far beyond every correlation of the prior was flagged as any point 1 % past the
    calibration range; copied rows counted twice in evaluate's MAPE; and a printed bound, rounded
    outward (10284 for 10284.021), was itself flagged outside."""
    train = files / "ribbed.csv"
    rows = [
        "Re,Pr,Nu,e_Dh",
        "10387.9,0.7,150.2,0.083",
        "36663.8,0.7,301.53,0.083",
        "65053.46,0.7,420.4,0.083",
    ]
    train.write_text("\n".join(rows) + "\n")
    out = files / "ribbed"
    assert (
        main(["finetune", "surrogate", "--train", str(train), "--out", str(out), "--recalibrate", "false"])
        == 0
    )
    queries = files / "queries.csv"
    queries.write_text("Re,Pr\n100,0.7\n20000,0.7\n20000,0.7\n30000,0.1\n")
    capsys.readouterr()
    assert main(["predict", str(out), "--input", str(queries), "--output", str(files / "q.csv")]) == 0
    assert capsys.readouterr().err.splitlines() == [
        f"warning: {queries}: no e_Dh column: the model holds e_Dh at 0.083, the value it was calibrated "
        "at, so every point is predicted (and counted inside the range) at e_Dh = 0.083; add the column "
        "to have other values flagged",
        f"warning: {queries}: 2 of 4 point(s) lie outside the (Re, Pr) validity range of every "
        "correlation the prior was learnt from, not only outside the calibration range: lines 2, 5",
        f"wrote 4 predictions to {files / 'q.csv'}",
    ]
    # scored: the repeated row is named (predict of it is harmless: the same answer twice)
    held = files / "held_ribbed.csv"
    held.write_text("Re,Pr,Nu,e_Dh\n9000,0.7,140,0.083\n20000,0.7,210,0.083\n20000,0.7,210,0.083\n")
    assert main(["evaluate", str(out), "--data", str(held)]) == 0
    copied = (
        f"warning: {held}: rows identical in every column at lines 3 = 4 (copied twice?): each copy "
        "counts once more in the MAPE and the coverage"
    )
    assert copied in capsys.readouterr().err.splitlines()
    report = (out / "evaluations/held_ribbed/report.md").read_text()
    assert f"- W{copied[1:]}" in report
    # the bounds the report prints, typed back, are inside
    low, high = re.search(r"Re: calibrated on \S+ to \S+, inside from (\S+) to (\S+) \(", report).groups()
    assert float(low) < 10284.03 and float(high) > 65703.98  # 0.99 x 10387.9, 1.01 x 65053.46
    bounds = files / "bounds.csv"
    bounds.write_text(f"Re,Pr,e_Dh\n{low},0.7,0.083\n{high},0.7,0.083\n")
    assert main(["predict", str(out), "--input", str(bounds), "--output", str(files / "b.csv")]) == 0
    assert [line.split(",")[-1] for line in (files / "b.csv").read_text().splitlines()[1:]] == ["1", "1"]


# Dittus-Boelter heating, Nu = 0.023 Re^0.8 Pr^0.4, written to four decimals: exactly the library's
# system dittus-boelter-heating (Re 1e4-1e6, Pr 0.6-160)
DB_TRAIN = ["Re,Pr,Nu", "10000,0.7,31.6058", "30000,0.7,76.1139"]
DB_TEST = [
    "Re,Pr,Nu",
    "15000,0.7,43.7160",
    "50000,0.7,114.5363",
    "100000,0.7,199.4192",
    "15000,3,78.2437",
    "50000,3,204.9993",
    "100000,3,356.9245",
    "15000,7,109.8095",
    "50000,7,287.7021",
    "100000,7,500.9185",
]


def _db_files(tmp_path, factor: float = 1.0):
    def write(name, rows):
        lines = [rows[0]] + [
            f"{r},{p},{float(nu) * factor:.4f}" for r, p, nu in (x.split(",") for x in rows[1:])
        ]
        (tmp_path / name).write_text("\n".join(lines) + "\n")
        return str(tmp_path / name)

    return write("db_train.csv", DB_TRAIN), write("db_test.csv", DB_TEST)


def test_the_csv_values_are_the_library_system_at_the_points():
    import numpy as np

    from sciPT.domains.surrogates.correlations import select

    (db,) = select(["dittus-boelter-heating"])
    for rows in (DB_TRAIN, DB_TEST):
        re, pr, nu = np.array([[float(v) for v in row.split(",")] for row in rows[1:]]).T
        np.testing.assert_allclose(0.023 * re**0.8 * pr**0.4, nu, rtol=1e-5)  # by hand
        np.testing.assert_allclose(db(re, pr), nu, rtol=1e-5)  # the library's own function


def test_points_on_a_library_correlation_are_reported_as_not_held_out(tmp_path, capsys):
    """Calibration and evaluation points computed from Dittus-Boelter, which the prior was learnt
    on, were scored as if held out: neither report said so."""
    train, test = _db_files(tmp_path)
    out = tmp_path / "RUN"
    # --recalibrate false: the interval recalibration (about 17 s) has no part in the check
    argv = ["finetune", "surrogate", "--init", "all", "--train", train, "--out", str(out)]
    assert main([*argv, "--recalibrate", "false"]) == 0
    said = (
        "2 of 2 points lie on library system dittus-boelter-heating (within 1%): they are not held out "
        "from the prior; the prior-informed model has seen this law"
    )
    assert f"warning: {train}: {said}\n" in capsys.readouterr().err
    report = (out / "report.md").read_text()
    result = report.split("## Result\n", 1)[1].split("\n## ", 1)[0]  # the report's first section
    assert f"\nContamination: {said}.\n" in result
    assert json.loads((out / "metrics.json").read_text())["points_on_library_system"] == 2

    assert main(["evaluate", str(out), "--data", test]) == 0
    said = said.replace("2 of 2", "9 of 9")
    assert f"warning: {test}: {said}\n" in capsys.readouterr().err
    evaluation = (out / "evaluations/db_test/report.md").read_text()
    body = evaluation.split("\n- sha256: ", 1)[1].split("\n\n", 1)[1]  # below the run and the data
    assert body.startswith(f"Contamination: {said}.\n")  # the first line of the evaluation's own text
    metrics = json.loads((out / "evaluations/db_test/metrics.json").read_text())
    assert metrics["eval_points_on_library_system"] == 9


def test_points_ten_percent_off_a_library_correlation_are_not_flagged(tmp_path, capsys):
    train, test = _db_files(tmp_path, factor=1.1)
    out = tmp_path / "RUN"
    argv = ["finetune", "surrogate", "--init", "all", "--train", train, "--out", str(out)]
    assert main([*argv, "--recalibrate", "false"]) == 0
    assert main(["evaluate", str(out), "--data", test]) == 0
    assert "library system" not in capsys.readouterr().err
    assert "Contamination" not in (out / "report.md").read_text()
    assert "Contamination" not in (out / "evaluations/db_test/report.md").read_text()
    assert json.loads((out / "metrics.json").read_text())["points_on_library_system"] == 0
    metrics = json.loads((out / "evaluations/db_test/metrics.json").read_text())
    assert metrics["eval_points_on_library_system"] == 0


def test_without_a_prior_there_is_no_library_to_check(tmp_path, capsys):
    train, _ = _db_files(tmp_path)
    out = tmp_path / "RUN"
    argv = ["finetune", "surrogate", "--init", "none", "--train", train, "--out", str(out)]
    assert main([*argv, "--recalibrate", "false"]) == 0
    assert "library system" not in capsys.readouterr().err
    assert "points_on_library_system" not in json.loads((out / "metrics.json").read_text())
    assert "Contamination" not in (out / "report.md").read_text()


def test_a_bar_in_a_ratio_column_s_name_keeps_the_fits_table_whole(tmp_path):
    """The prior's row of the fits table printed a column named e|Dh unescaped: two cells more than
    the header."""
    import re

    rows = ["Re,Pr,Nu,e|Dh"] + [
        f"{r},0.7,{0.05 * r**0.8 * e**0.1:.4f},{e}"
        for r, e in ((1e4, 0.02), (2e4, 0.04), (4e4, 0.02), (8e4, 0.06), (1.6e5, 0.04))
    ]
    (tmp_path / "pts.csv").write_text("\n".join(rows) + "\n")
    out = tmp_path / "RUN"
    argv = ["finetune", "surrogate", "--init", "all", "--train", str(tmp_path / "pts.csv"), "--out", str(out)]
    assert main([*argv, "--recalibrate", "false"]) == 0
    lines = (out / "report.md").read_text().splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("| fit | law |"))
    table = [line for line in lines[header:] if line.startswith("|")][:5]
    assert any(line.startswith("| pre-trained (before data) |") for line in table)
    assert {len(re.findall(r"(?<!\\)\|", line)) for line in table} == {7}
