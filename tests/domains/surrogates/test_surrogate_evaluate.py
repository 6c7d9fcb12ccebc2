"""domains/surrogates/evaluate.py on hand-made points: which points count inside the calibration
range, the scores inside and outside it, predictions.csv's flag and the report's numbers."""

from types import SimpleNamespace

import numpy as np
import pytest

from sciPT.domains.surrogates import evaluate
from sciPT.domains.surrogates.data import Points, read_points
from sciPT.domains.surrogates.objectives import LEVELS
from sciPT.errors import ConfigError
from sciPT.run import RunDir

CALIBRATED = {"calibration_range": {"Re": [10000.0, 50000.0], "Pr": [0.7, 0.7]}}

# Nu = 100 everywhere; per point: Re, Pr, the relative error of Nu_pred, whether the interval holds
# Nu, the interval's geometric half-width. Lines 2-4 are inside (9900 and 50500 are the 1 % slack
# bounds themselves), line 5 lies below Re's bound, line 6 beyond Pr's.
POINTS = [
    (9900, 0.7, 0.10, True, 0.1),
    (50500, 0.7, -0.20, False, 0.2),
    (30000, 0.7, 0.0, True, 0.6),
    (9890, 0.7, 0.50, True, 0.5),
    (20000, 0.75, -0.40, False, 1.0),
]


def _scored_run(tmp_path, monkeypatch, config, rows=POINTS, nu=None, upper=False, own_level=0.9):
    """evaluate_run on ``rows`` (POINTS), its model's predictions replaced by the hand-made ones
    above; Nu is 100 unless ``nu`` gives each row's; ``upper``: a covered point's interval ends at
    its Nu instead of starting there; ``own_level``: the run's interval level."""
    nu = np.full(len(rows), 100.0) if nu is None else np.asarray(nu, float)
    data = tmp_path / "held.csv"
    data.write_text("Re,Pr,Nu\n" + "".join(f"{p[0]},{p[1]},{float(n)!r}\n" for p, n in zip(rows, nu)))
    points = read_points(data)
    y = np.log(nu)
    pred = y + np.log1p([p[2] for p in rows])
    half = np.log1p([p[4] for p in rows])
    held = np.array([p[3] for p in rows])
    # a covered point's interval starts at its Nu (bounds count as covered); the others start above it
    lo = np.where(held, y, y + 0.01)
    hi = lo + 2 * half
    if upper:  # the same intervals mirrored: a covered point's ends at its Nu, the others below it
        lo, hi = 2 * y - hi, 2 * y - lo
    median = pred + 0.001

    def fake(run, path, level, *, require_nu):
        return SimpleNamespace(groups=[]), config, points, points.features(), pred, median, lo, hi, own_level

    monkeypatch.setattr(evaluate, "predictions", fake)
    monkeypatch.setattr(evaluate, "evaluate_plot", lambda path, *rest: path)
    run = RunDir(tmp_path / "run")
    run.path.mkdir()
    run.report.write_text("# A run\n\nText.\n")
    metrics = evaluate.evaluate_run(run, SimpleNamespace(data=str(data), interval_level=None, out=None))
    return metrics, run.evaluations / "held", dict(pred=pred, median=median, lo=lo, hi=hi)


def test_evaluate_scores_inside_and_outside_the_range_each_on_its_own_points(tmp_path, monkeypatch):
    """A user compares interpolation with extrapolation by these numbers: each must be taken over
    its own points, and a point on the documented slack bound counts inside."""
    metrics, _, _ = _scored_run(tmp_path, monkeypatch, CALIBRATED)
    assert metrics["eval_points"] == 5
    assert metrics["eval_outside_calibration_range"] == 2
    assert metrics["eval_mape"] == pytest.approx((10 + 20 + 0 + 50 + 40) / 5)
    assert metrics["eval_mape_inside"] == pytest.approx((10 + 20 + 0) / 3)
    assert metrics["eval_mape_outside"] == pytest.approx((50 + 40) / 2)
    rmse = np.sqrt(np.mean(np.log([1.1, 0.8, 1.0, 1.5, 0.6]) ** 2))
    assert metrics["eval_rmse_log_nu"] == pytest.approx(rmse)
    assert metrics["eval_coverage"] == pytest.approx(3 / 5)
    assert metrics["eval_coverage_inside"] == pytest.approx(2 / 3)
    assert metrics["eval_coverage_outside"] == pytest.approx(1 / 2)
    # the median of the geometric half-widths 0.1, 0.2, 0.6 (their mean is 0.3); outside 0.5 and 1.0
    assert metrics["eval_interval_half_width_inside"] == pytest.approx(0.2)
    assert metrics["eval_interval_half_width_outside"] == pytest.approx(0.75)
    assert metrics["eval_interval_level"] == 0.9


def test_predictions_csv_flags_each_point_and_writes_its_own_numbers(tmp_path, monkeypatch):
    """predictions.csv is what a user filters on: in_calibration_range 1 for inside, and each
    column the model's own number (Nu_median is not Nu_pred)."""
    _, folder, fit = _scored_run(tmp_path, monkeypatch, CALIBRATED)
    header, *rows = (folder / "predictions.csv").read_text().splitlines()
    assert header == "Re,Pr,Nu,Nu_pred,Nu_median,Nu_lo_0.9,Nu_hi_0.9,in_calibration_range"
    cells = np.array([[float(v) for v in row.split(",")] for row in rows])
    assert cells[:, 7].tolist() == [1, 1, 1, 0, 0]
    for k, name in enumerate(["pred", "median", "lo", "hi"]):
        assert cells[:, 3 + k] == pytest.approx(np.exp(fit[name]), rel=1e-5)  # written to 6 digits


def test_the_report_gives_the_scores_and_says_why_points_are_outside(tmp_path, monkeypatch):
    """The report is what a user reads first: its numbers must be the inside / outside ones, each
    on its line, and each variable's line must give the range counted as inside."""
    config = {**CALIBRATED, "fits": {"kept": "prior", "prior": {"log_C": 0.0}, "scratch": None}}
    config["fits"]["scratch"] = {
        "log_C": float(np.log(110.0)),
        "exponents": {"Re": 0.0, "Pr": 0.0},
        "covariance": {"order": ["log_C", "Re", "Pr"]},
    }
    metrics, folder, _ = _scored_run(tmp_path, monkeypatch, config)
    assert metrics["eval_mape_scratch"] == pytest.approx(10.0)  # Nu 110 against 100 everywhere
    assert "eval_mape_prior" not in metrics  # the kept fit is the run's own numbers
    report = (folder / "report.md").read_text()
    rmse = np.sqrt(np.mean(np.log([1.1, 0.8, 1.0, 1.5, 0.6]) ** 2))
    assert (
        f"5 points; RMSE of log Nu {rmse:.4f}; MAPE 24.00 %; 90% interval coverage 60%.\n\n"
        "2 point(s) lie outside the calibration range (extrapolation): lines 5, 6; by variable:\n\n"
        "- Re: calibrated on 10000 to 50000, inside from 9900 to 50500 (1% slack, bounds included); "
        "1 point(s) outside, lines 5\n"
        "- Pr: calibrated on 0.7 to 0.7, inside from 0.693 to 0.707 (1% slack, bounds included); "
        "1 point(s) outside, lines 6\n\n"
        "Inside the range: MAPE 10.00 %, coverage 67%, median interval half-width about 20.0%.\n"
        "Outside the range (extrapolation): MAPE 45.00 %, coverage 50%, median interval half-width "
        "about 75.0%.\n\n"
        "`predictions.csv` flags each point (`in_calibration_range`).\n\n"
        "The run's other laws, by their point predictions:\n\n"
        f"- scratch (no pre-training), fitted to the calibration points: RMSE of log Nu {np.log(1.1):.4f}, "
        "MAPE 10.00 %\n"
    ) in report


def test_predict_flags_points_inside_the_range_with_1(tmp_path, monkeypatch):
    """scipt predict's in_calibration_range: 1 inside (bounds with slack included), 0 outside."""
    data = tmp_path / "ask.csv"
    data.write_text("Re,Pr\n9900,0.7\n9890,0.7\n50500,0.7\n50600,0.7\n")
    points = read_points(data, require_nu=False)
    zeros = np.zeros(4)

    def fake(run, path, level, *, require_nu):
        return None, CALIBRATED, points, None, zeros, zeros, zeros - 1, zeros + 1, 0.9

    monkeypatch.setattr(evaluate, "predictions", fake)
    out = tmp_path / "out.csv"
    evaluate.predict_run(None, SimpleNamespace(input=str(data), output=str(out), interval_level=None))
    rows = out.read_text().splitlines()[1:]
    assert [r.split(",")[-1] for r in rows] == ["1", "0", "1", "0"]


def test_a_ratio_outside_its_calibrated_range_puts_the_point_outside():
    """A ratio (e_Dh) far from the calibrated ones is an extrapolation as much as Re is; its bounds
    typed by hand (0.99 x 0.27 = 0.2673, 1.01 x 0.41 = 0.4141; floating point makes them
    0.26730000000000004 and 0.41409999999999997) count inside."""
    config = {"calibration_range": {"Re": [1e4, 5e4], "Pr": [0.7, 0.7], "e_Dh": [0.27, 0.41]}}
    points = Points(
        np.full(4, 2e4), np.full(4, 0.7), None, {"e_Dh": np.array([0.2673, 0.2672, 0.4141, 0.4142])}
    )
    assert evaluate.in_range(points, config).tolist() == [True, False, True, False]
    flagged = evaluate.outside_by_variable(points, config)
    assert {k: v.tolist() for k, v in flagged.items()} == {
        "Re": [False] * 4,
        "Pr": [False] * 4,
        "e_Dh": [False, True, False, True],
    }


def test_a_point_outside_one_variable_only_is_outside():
    """Inside means inside every variable's range: Re inside and Pr outside is outside."""
    points = Points(np.array([2e4, 2e4, 1e5]), np.array([0.7, 7.0, 0.7]), None)
    assert evaluate.in_range(points, CALIBRATED).tolist() == [True, False, False]


def test_a_prior_without_validity_boxes_counts_every_point_inside():
    """Nothing to flag against: no point is called an extrapolation."""
    points = Points(np.array([1.0, 1e9]), np.array([0.7, 7.0]), None)
    assert evaluate.in_range(points, {}).tolist() == [True, True]
    boxes = [{"re": [1e4, 1e5], "pr": [0.5, 5.0]}]
    # (Re, Pr) = (5e4, 1) inside the box; (1, 5e4), the same numbers swapped, is not
    swapped = Points(np.array([5e4, 1.0]), np.array([1.0, 5e4]), None)
    assert evaluate.in_range(swapped, {"validity": {"systems": boxes}}).tolist() == [True, False]


def test_a_bound_is_printed_with_the_digits_that_keep_it_inside():
    """A printed bound typed back must count as inside: rounded up for a lower bound, down for an
    upper one, with six significant digits at least (123456.7 is not 1.23e+05)."""
    assert evaluate.inward(10284.018, True) == "10284.02"
    assert evaluate.inward(10284.018, False) == "10284"
    assert evaluate.inward(123456.7, False) == "123456.7"
    assert evaluate.inward(123456.7, True) == "123457"


def test_outside_lines_round_the_lower_bound_up_and_count_the_points_outside():
    """The line says from which value a point counts inside: 0.99 x 10000.01 = 9900.0099, printed
    9900.01 (inside), not 9900 (outside); and how many points, not how many were read."""
    config = {"calibration_range": {"Re": [10000.01, 20000.01]}}
    points = Points(
        np.array([9000.0, 15000.0, 15000.0, 30000.0]), np.full(4, 0.7), None, lines=np.arange(2, 6)
    )
    assert evaluate.outside_lines(points, config) == [
        "Re: calibrated on 10000 to 20000, inside from 9900.01 to 20200 (1% slack, bounds included); "
        "2 point(s) outside, lines 2, 5"
    ]


def test_some_lists_ten_lines_then_says_there_are_more():
    """Ten lines are all listed; an eleventh is elided with ' ...'."""
    assert evaluate._some(np.arange(1, 11)) == "1, 2, 3, 4, 5, 6, 7, 8, 9, 10"
    assert evaluate._some(np.arange(1, 12)) == "1, 2, 3, 4, 5, 6, 7, 8, 9, 10 ..."


def test_input_warnings_name_a_missing_constant_ratio_and_copies_only_when_scored():
    """A ratio held constant and absent from the file is said; a ratio calibrated over a range is a
    column the model reads, refused elsewhere, not warned of here; copies matter only when scored."""
    config = {
        "calibration_range": {"Re": [1e4, 5e4], "Pr": [0.7, 0.7], "e_Dh": [0.1, 0.1], "p_e": [1.0, 2.0]}
    }
    points = Points(
        np.array([2e4, 2e4]),
        np.array([0.7, 0.7]),
        np.array([100.0, 100.0]),
        source="p.csv",
        lines=np.array([2, 3]),
        header=["Re", "Pr", "Nu"],
    )
    said = [
        "warning: p.csv: no e_Dh column: the model holds e_Dh at 0.1, the value it was calibrated at, so "
        "every point is predicted (and counted inside the range) at e_Dh = 0.1; add the column to have "
        "other values flagged"
    ]
    assert evaluate.input_warnings(points, config, scored=False) == said
    scored = evaluate.input_warnings(points, config, scored=True)
    assert scored[:1] == said and len(scored) == 2
    assert scored[1].startswith("warning: p.csv: rows identical in every column at lines 2 = 3")


def test_input_warnings_count_the_points_beyond_every_validity_box_and_leave_a_prior_alone():
    """The count is of the points outside, of all read; a prior's own flag already says it."""
    boxes = [{"re": [1e4, 1e5], "pr": [0.5, 5.0]}]
    points = Points(
        np.array([5e4, 5e4, 1e6]), np.array([1.0, 50.0, 1.0]), None, source="p.csv", lines=np.array([2, 3, 4])
    )
    config = {"calibration_range": {"Re": [1e4, 5e4], "Pr": [1.0, 1.0]}, "validity": {"systems": boxes}}
    assert evaluate.input_warnings(points, config, scored=False) == [
        "warning: p.csv: 2 of 3 point(s) lie outside the (Re, Pr) validity range of every correlation "
        "the prior was learnt from, not only outside the calibration range: lines 3, 4"
    ]
    assert evaluate.input_warnings(points, {"validity": {"systems": boxes}}, scored=False) == []


def test_the_interval_level_is_a_probability_and_defaults_to_the_runs_or_0_9():
    """--interval-level 1 is no interval at all; a prior with no level of its own uses 0.9."""
    with pytest.raises(ConfigError, match="expected a probability between 0 and 1, got 1"):
        evaluate.check_level(1.0)
    assert evaluate.run_level(None, {}) == 0.9
    assert evaluate.run_level(None, {"interval_level": 0.8}) == 0.8
    assert evaluate.run_level(0.5, {"interval_level": 0.8}) == 0.5


def test_a_prior_report_says_the_points_lie_outside_every_validity_range():
    """For a prior, 'outside' means beyond every pre-training system's range, not a calibration."""
    metrics = {
        "eval_points": 2,
        "eval_rmse_log_nu": 0.1,
        "eval_mape": 10.0,
        "eval_interval_level": 0.9,
        "eval_coverage": 0.5,
        "eval_mape_inside": 5.0,
        "eval_coverage_inside": 1.0,
        "eval_interval_half_width_inside": 0.1,
        "eval_mape_outside": 15.0,
        "eval_coverage_outside": 0.0,
        "eval_interval_half_width_outside": 0.3,
    }
    points = Points(np.array([1e4, 1e7]), np.array([0.7, 0.7]), None, lines=np.array([2, 3]))
    text = evaluate.evaluation_section(
        metrics, {}, np.array([False, True]), points, SimpleNamespace(name="evaluate.png"), False
    )
    assert (
        "1 point(s) lie outside the validity range of every pre-training system (extrapolation): lines 3\n"
    ) in text
    assert "; by variable:" not in text


def test_an_interval_level_of_0_is_refused_too():
    """Both ends are refused: a 0 interval holds no point at all."""
    with pytest.raises(ConfigError, match="expected a probability between 0 and 1, got 0$"):
        evaluate.check_level(0)


def test_coverage_counts_a_nu_on_the_upper_bound_as_covered(tmp_path, monkeypatch):
    """Bounds are covered at either end: the same intervals mirrored, each covered point's upper
    bound at its Nu, give the same coverage, overall and inside / outside the range."""
    metrics, _, fit = _scored_run(tmp_path, monkeypatch, CALIBRATED, upper=True)
    assert fit["hi"][[0, 2, 3]] == pytest.approx(np.log(100.0), abs=0)  # the covered points' Nu
    assert metrics["eval_coverage"] == pytest.approx(3 / 5)
    assert metrics["eval_coverage_inside"] == pytest.approx(2 / 3)
    assert metrics["eval_coverage_outside"] == pytest.approx(1 / 2)


def test_a_point_on_the_widened_bound_itself_is_inside_and_the_next_float_is_not():
    """'Bounds included': a value equal to the bound as widened (slack, then rounding tolerance)
    is inside; the next representable number beyond it is outside, at either end."""
    lo, hi = 10000.0, 50000.0
    low = lo * (1 - evaluate.RANGE_SLACK) * (1 - evaluate.RANGE_RTOL)
    high = hi * (1 + evaluate.RANGE_SLACK) * (1 + evaluate.RANGE_RTOL)
    assert 9899.99 < low < 9900 and 50500 < high < 50500.01  # 1 % slack, then a hair
    re = np.array([low, np.nextafter(low, 0), high, np.nextafter(high, np.inf)])
    points = Points(re, np.full(4, 0.7), None)
    assert evaluate.in_range(points, CALIBRATED).tolist() == [True, False, True, False]


def test_a_constant_ratio_the_points_lack_is_not_checked():
    """A held ratio absent from the file: each point is predicted at its calibrated value (as
    input_warnings says), so it is not flagged on it and the other variables decide."""
    config = {"calibration_range": {**CALIBRATED["calibration_range"], "e_Dh": [0.1, 0.1]}}
    points = Points(np.array([2e4, 1e5]), np.array([0.7, 0.7]), None)
    assert evaluate.in_range(points, config).tolist() == [True, False]
    assert set(evaluate.outside_by_variable(points, config)) == {"Re", "Pr"}


def test_input_warnings_say_nothing_of_a_constant_ratio_the_file_has():
    """The warning is for a missing column only: a file giving e_Dh is checked against its range."""
    config = {"calibration_range": {"Re": [1e4, 5e4], "Pr": [0.7, 0.7], "e_Dh": [0.1, 0.1]}}
    points = Points(np.array([2e4]), np.array([0.7]), None, {"e_Dh": np.array([0.1])}, source="p.csv")
    assert evaluate.input_warnings(points, config, scored=False) == []


def test_outside_lines_leave_out_a_variable_no_point_lies_outside_of():
    """Only the variables that put points outside get a line: Pr here holds every point."""
    config = {"calibration_range": {"Re": [10000.0, 20000.0], "Pr": [0.5, 5.0]}}
    points = Points(np.array([9000.0, 15000.0]), np.array([0.7, 1.0]), None, lines=np.array([2, 3]))
    lines = evaluate.outside_lines(points, config)
    assert len(lines) == 1 and lines[0].startswith("Re: calibrated on 10000 to 20000")


def test_a_run_with_every_point_outside_scores_no_inside_subset(tmp_path, monkeypatch):
    """No point inside: no inside numbers (not NaN ones) and no 'Inside the range' line; the
    outside ones are then over all the points."""
    far = {"calibration_range": {"Re": [1e6, 2e6], "Pr": [0.7, 0.75]}}
    metrics, folder, _ = _scored_run(tmp_path, monkeypatch, far)
    assert metrics["eval_outside_calibration_range"] == 5
    assert not [k for k in metrics if k.endswith("_inside")]
    assert metrics["eval_mape_outside"] == pytest.approx(24.0)
    assert metrics["eval_coverage_outside"] == pytest.approx(3 / 5)
    report = (folder / "report.md").read_text()
    assert "Inside the range" not in report
    assert "Outside the range (extrapolation): MAPE 24.00 %, coverage 60%" in report


def test_an_alternative_fit_is_scored_with_each_exponent_on_its_own_variable(tmp_path, monkeypatch):
    """The scratch law Nu = C Re (Pr / 0.7)^2 with Nu(30000, 0.7) = 100, its exponents listed in
    another order than the covariance's: each must multiply its own variable's log."""
    scratch = {
        "log_C": float(np.log(100 / 30000) - 2 * np.log(0.7)),
        "exponents": {"Pr": 2.0, "Re": 1.0},
        "covariance": {"order": ["log_C", "Re", "Pr"]},
    }
    config = {**CALIBRATED, "fits": {"kept": "prior", "scratch": scratch}}
    metrics, _, _ = _scored_run(tmp_path, monkeypatch, config)
    re, pr = np.array([p[0] for p in POINTS]), np.array([p[1] for p in POINTS])
    nu = 100 * (re / 30000) * (pr / 0.7) ** 2  # 33.0, 168.3, 100, 32.97, 76.5
    assert nu[2] == pytest.approx(100.0)
    assert metrics["eval_mape_scratch"] == pytest.approx(np.mean(np.abs(nu / 100 - 1)) * 100)


def test_points_computed_from_a_library_law_are_reported_first_and_counted(tmp_path, monkeypatch, capsys):
    """Nu from Dittus-Boelter heating (0.023 Re^0.8 Pr^0.4) on a run whose prior learnt it: its
    range (Re from 1e4) holds 3 of the 5 points, all on it, more than half: the metric counts 3,
    standard error warns and the report says so before its scores."""
    box = {"key": "dittus-boelter-heating", "re": [5e3, 1e6], "pr": [0.6, 160.0]}
    config = {**CALIBRATED, "validity": {"systems": [box]}}
    nu = [0.023 * p[0] ** 0.8 * p[1] ** 0.4 for p in POINTS]
    metrics, folder, _ = _scored_run(tmp_path, monkeypatch, config, nu=nu)
    assert metrics["eval_points_on_library_system"] == 3
    sentence = (
        "3 of 5 points lie on library system dittus-boelter-heating (within 1%): they are not held "
        "out from the prior; the prior-informed model has seen this law"
    )
    assert f"warning: {tmp_path / 'held.csv'}: {sentence}\n" in capsys.readouterr().err
    report = (folder / "report.md").read_text()
    assert f"Contamination: {sentence}.\n\n5 points; RMSE of log Nu" in report


def test_a_run_whose_prior_learnt_no_law_has_no_library_count(tmp_path, monkeypatch):
    """No recorded system: nothing to be contaminated by, so no eval_points_on_library_system."""
    metrics, _, _ = _scored_run(tmp_path, monkeypatch, CALIBRATED)
    assert "eval_points_on_library_system" not in metrics


def test_evaluate_warns_of_a_missing_ratio_and_copied_rows_on_stderr_and_in_the_report(
    tmp_path, monkeypatch, capsys
):
    """The warnings a scored file gets (a held ratio it lacks, a row copied: line 7 repeats line
    4) go to standard error and, each as a '- Warning: ...' item, first in the report."""
    config = {"calibration_range": {**CALIBRATED["calibration_range"], "e_Dh": [0.1, 0.1]}}
    _, folder, _ = _scored_run(tmp_path, monkeypatch, config, rows=[*POINTS, POINTS[2]])
    source = tmp_path / "held.csv"
    missing = (
        f"{source}: no e_Dh column: the model holds e_Dh at 0.1, the value it was calibrated at, so "
        "every point is predicted (and counted inside the range) at e_Dh = 0.1; add the column to have "
        "other values flagged"
    )
    copied = (
        f"{source}: rows identical in every column at lines 4 = 7 (copied twice?): each copy counts "
        "once more in the MAPE and the coverage"
    )
    err = capsys.readouterr().err
    assert f"warning: {missing}\n" in err and f"warning: {copied}\n" in err
    report = (folder / "report.md").read_text()
    assert f"- Warning: {missing}\n- Warning: {copied}\n\n6 points; RMSE of log Nu" in report


def test_predict_writes_the_models_numbers_and_does_not_warn_of_copies(tmp_path, monkeypatch, capsys):
    """scipt predict: Nu_median is the median (not Nu_pred again); a row asked twice is no
    warning, since nothing is scored."""
    data = tmp_path / "ask.csv"
    data.write_text("Re,Pr\n20000,0.7\n20000,0.7\n")
    points = read_points(data, require_nu=False)
    pred, median = np.log([100.0, 100.0]), np.log([90.0, 90.0])

    def fake(run, path, level, *, require_nu):
        return None, CALIBRATED, points, None, pred, median, median - 0.5, median + 0.5, 0.9

    monkeypatch.setattr(evaluate, "predictions", fake)
    out = tmp_path / "out.csv"
    evaluate.predict_run(None, SimpleNamespace(input=str(data), output=str(out), interval_level=None))
    header, *rows = out.read_text().splitlines()
    assert header == "Re,Pr,Nu_pred,Nu_median,Nu_lo_0.9,Nu_hi_0.9,in_calibration_range"
    cells = np.array([[float(v) for v in row.split(",")] for row in rows])
    assert cells[:, 2:6] == pytest.approx(np.array([[100, 90, 90 / np.e**0.5, 90 * np.e**0.5]] * 2), rel=1e-5)
    assert capsys.readouterr().err == f"wrote 2 predictions to {out}\n"


def test_the_plotted_slice_is_at_the_median_pr_and_ratios():
    """The Nu-against-Re curve is drawn at the points' median Pr and ratios (0.7, not the mean 2.8)."""
    points = Points(np.full(3, 1e4), np.array([0.7, 0.7, 7.0]), None, {"e_Dh": np.array([0.1, 0.2, 0.9])})
    assert evaluate.reference(points, ["e_Dh"]) == {"Pr": 0.7, "e_Dh": 0.2}


def test_predictions_use_the_stored_level_map_and_read_a_held_ratio_column(tmp_path, monkeypatch):
    """predictions() on an exported model of two components, log C = 0 (weight 0.75) and 1 (0.25),
    noise 0.01, no parameter spread: the mean is 0.25, the median solves 0.75 Phi(x / 0.01) = 0.5
    (the other component's mass lies 100 sd away), and the run's 0.9 interval is the one its level
    map names, here the central 0.4: 0.75 Phi(x / 0.01) = 0.3 and 0.7. The file's e_Dh, a ratio
    the model holds constant, is read as a ratio, so the point at 0.3 is flagged outside."""
    from statistics import NormalDist

    from sciPT.domains.surrogates.model import PowerLaw
    from sciPT.domains.surrogates.objectives import Posterior

    post = Posterior(
        ["log_C", "a", "b"],
        np.array([0.01, 0.01]),
        np.array([0.75, 0.25]),
        np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]]),
        np.zeros((2, 3, 3)),
    )
    config = {
        "interval_level": 0.9,
        "interval_level_map": [0.4] * 99,
        "calibration_range": {**CALIBRATED["calibration_range"], "e_Dh": [0.1, 0.1]},
    }
    pre = SimpleNamespace(model=PowerLaw.from_posterior(post), config=config)
    monkeypatch.setattr("sciPT.checkpoint.from_pretrained", lambda path, domain: pre)
    data = tmp_path / "ask.csv"
    data.write_text("Re,Pr,e_Dh\n20000,0.7,0.1\n20000,0.7,0.3\n")
    _, _, points, _, pred, median, lo, hi, level = evaluate.predictions(
        SimpleNamespace(path=tmp_path), data, None, require_nu=False
    )
    q = NormalDist().inv_cdf
    assert level == 0.9
    assert pred == pytest.approx([0.25, 0.25])
    assert median == pytest.approx([0.01 * q(2 / 3)] * 2, abs=1e-9)
    assert lo == pytest.approx([0.01 * q(0.3 / 0.75)] * 2, abs=1e-9)
    assert hi == pytest.approx([0.01 * q(0.7 / 0.75)] * 2, abs=1e-9)
    assert evaluate.in_range(points, config).tolist() == [True, False]


def test_the_runs_own_interval_level_names_the_metric_the_columns_and_the_report(tmp_path, monkeypatch):
    """A run calibrated for 0.8 intervals: its metrics, predictions.csv's columns and the report
    say 0.8, not the default 0.9."""
    metrics, folder, _ = _scored_run(tmp_path, monkeypatch, CALIBRATED, own_level=0.8)
    assert metrics["eval_interval_level"] == 0.8
    header = (folder / "predictions.csv").read_text().splitlines()[0]
    assert header == "Re,Pr,Nu,Nu_pred,Nu_median,Nu_lo_0.8,Nu_hi_0.8,in_calibration_range"
    assert "MAPE 24.00 %; 80% interval coverage 60%." in (folder / "report.md").read_text()


def test_a_level_of_three_nines_is_written_with_its_digits_not_as_100_per_cent(tmp_path, monkeypatch):
    """0.999 (a run calibrated with --recalibrate false) is 99.9% in the report, Nu_lo_0.999 in the
    columns; ``{:.0%}`` wrote 100% and ``{:g}`` 0.9999999 as 1."""
    metrics, folder, _ = _scored_run(tmp_path, monkeypatch, CALIBRATED, own_level=0.999)
    header = (folder / "predictions.csv").read_text().splitlines()[0]
    assert header == "Re,Pr,Nu,Nu_pred,Nu_median,Nu_lo_0.999,Nu_hi_0.999,in_calibration_range"
    assert "MAPE 24.00 %; 99.9% interval coverage 60%." in (folder / "report.md").read_text()
    assert evaluate.level_text(0.9999999) == "0.9999999" and evaluate.percent(0.07) == "7%"


def test_a_recalibrated_run_refuses_a_level_its_map_does_not_cover(tmp_path, monkeypatch):
    """The map holds 0.01 to 0.99; beyond, np.interp gave the end's interval in silence. Without
    a map the same level is the predictive's own."""
    from sciPT.domains.surrogates.model import PowerLaw
    from sciPT.domains.surrogates.objectives import Posterior

    post = Posterior(
        ["log_C", "a", "b"], np.array([0.01]), np.array([1.0]), np.zeros((1, 3)), np.zeros((1, 3, 3))
    )
    config = {"interval_level": 0.9, "interval_level_map": [0.5] * 99}
    pre = SimpleNamespace(model=PowerLaw.from_posterior(post), config=config)
    monkeypatch.setattr("sciPT.checkpoint.from_pretrained", lambda path, domain: pre)
    data = tmp_path / "ask.csv"
    data.write_text("Re,Pr\n20000,0.7\n")
    for level, said in ((0.999, "0.999"), (0.005, "0.005"), (0.9999999, "0.9999999")):
        with pytest.raises(ConfigError) as err:
            evaluate.predictions(SimpleNamespace(path=tmp_path), data, level, require_nu=False)
        assert str(err.value) == (
            "--interval-level: expected a level from 0.01 to 0.99, the levels the interval recalibration "
            f"maps, got {said}; other levels need a run calibrated with --recalibrate false"
        )
    assert evaluate.predictions(SimpleNamespace(path=tmp_path), data, 0.99, require_nu=False)[-1] == 0.99
    config["interval_level_map"] = None
    lo, hi, level = evaluate.predictions(SimpleNamespace(path=tmp_path), data, 0.999, require_nu=False)[-3:]
    assert level == 0.999 and hi - lo == pytest.approx(2 * 0.01 * 3.2905267, rel=1e-6)
    with pytest.raises(ValueError, match="a recalibration maps 0.01 to 0.99 only, got 0.999"):
        Posterior(
            ["log_C"],
            np.array([0.01]),
            np.array([1.0]),
            np.zeros((1, 1)),
            np.zeros((1, 1, 1)),
            level_map=LEVELS,
        ).nominal_level(0.999)


def test_predict_names_its_interval_columns_by_the_level(tmp_path, monkeypatch):
    """scipt predict at level 0.8 writes Nu_lo_0.8 and Nu_hi_0.8."""
    data = tmp_path / "ask.csv"
    data.write_text("Re,Pr\n20000,0.7\n")
    points = read_points(data, require_nu=False)
    zero = np.zeros(1)
    monkeypatch.setattr(
        evaluate,
        "predictions",
        lambda *a, **k: (None, CALIBRATED, points, None, zero, zero, zero - 1, zero + 1, 0.8),
    )
    out = tmp_path / "out.csv"
    evaluate.predict_run(None, SimpleNamespace(input=str(data), output=str(out), interval_level=None))
    assert (
        out.read_text().splitlines()[0] == "Re,Pr,Nu_pred,Nu_median,Nu_lo_0.8,Nu_hi_0.8,in_calibration_range"
    )


def test_the_evaluation_plot_draws_the_model_on_the_median_slice_over_both_re_ranges(tmp_path, monkeypatch):
    """The plot's numbers, caught before drawing: a one-component law log Nu = log 0.02 + 0.8 log Re
    + 0.4 log Pr + 0.1 log e_Dh (noise 0.01, no parameter spread) is drawn at the median Pr 0.7 and
    e_Dh 0.2, over Re from the lowest of points and calibration range (1e4) / 1.5 to the highest
    (8e4) x 1.5, with its 80 % band (0.01 x 1.2816 each way); the pre-trained law beside it; the
    calibrated Re range shaded; each point moved to the slice, Nu (0.7 / Pr)^0.4 (0.2 / e_Dh)^0.1."""
    from statistics import NormalDist

    from sciPT.domains.surrogates.model import PowerLaw
    from sciPT.domains.surrogates.objectives import Posterior

    theta = np.array([np.log(0.02), 0.8, 0.4, 0.1])
    post = Posterior(
        ["log_C", "Re", "Pr", "e_Dh"], np.array([0.01]), np.array([1.0]), theta[None], np.zeros((1, 4, 4))
    )
    model = PowerLaw.from_posterior(post, ["e_Dh"])
    points = Points(
        np.array([2e4, 4e4, 8e4]),
        np.array([0.7, 7.0, 0.7]),
        np.array([50.0, 200.0, 300.0]),
        {"e_Dh": np.array([0.1, 0.2, 0.3])},
    )
    pretrained = {"log_C": float(np.log(0.03)), "exponents": {"Re": 0.7, "Pr": 0.33, "e_Dh": 0.0}}
    config = {"calibration_range": {"Re": [1e4, 3e4]}, "fits": {"pretrained": pretrained}}
    drawn = {}
    monkeypatch.setattr(
        evaluate.plots,
        "nu_vs_re",
        lambda path, curves, scatters, **kw: drawn.update(kw, curves=curves, scatters=scatters) or path,
    )
    evaluate.evaluate_plot(tmp_path / "evaluate.png", points, model, config, 0.8)
    law, prior = drawn["curves"]
    re = law.re
    assert len(re) == 120 and re[0] == pytest.approx(1e4 / 1.5) and re[-1] == pytest.approx(8e4 * 1.5)
    nu = 0.02 * re**0.8 * 0.7**0.4 * 0.2**0.1
    assert law.nu == pytest.approx(nu, rel=1e-9)
    z = NormalDist().inv_cdf(0.9)
    assert law.lo == pytest.approx(nu * np.exp(-0.01 * z), rel=1e-7)
    assert law.hi == pytest.approx(nu * np.exp(0.01 * z), rel=1e-7)
    assert prior.nu == pytest.approx(0.03 * re**0.7 * 0.7**0.33, rel=1e-9)
    (scatter,) = drawn["scatters"]
    assert scatter.nu == pytest.approx([50 * 2**0.1, 200 * 0.1**0.4, 300 * (2 / 3) ** 0.1], rel=1e-9)
    assert drawn["shade"] == (1e4, 3e4)
    assert drawn["title"] == "Evaluation; 80% interval"


def test_a_stored_law_is_read_in_its_covariances_order_whatever_its_exponents_order():
    """The features are [1, log Re, log Pr, ...] in the covariance's order; a config.json edited by
    hand (or written by another tool) may list the exponents in another order, and the plotted
    pre-trained law read them in that order (Pr's exponent on log Re). Without a covariance the
    exponents' own order is all there is."""
    from sciPT.domains.surrogates.evaluate import law_theta

    law = {
        "log_C": -3.0,
        "exponents": {"Pr": 0.4, "Re": 0.8},
        "covariance": {"order": ["log_C", "Re", "Pr"], "matrix": [[0.0] * 3] * 3},
    }
    assert law_theta(law).tolist() == [-3.0, 0.8, 0.4]
    assert law_theta({"log_C": -3.0, "exponents": {"Re": 0.8, "Pr": 0.4}}).tolist() == [-3.0, 0.8, 0.4]
