"""domains/surrogates/evaluate.py on hand-made points: which points count inside the calibration
range, the scores inside and outside it, predictions.csv's flag and the report's numbers."""

from types import SimpleNamespace

import numpy as np
import pytest

from sciPT.domains.surrogates import evaluate
from sciPT.domains.surrogates.data import Points, read_points
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


def _scored_run(tmp_path, monkeypatch, config):
    """evaluate_run on POINTS, its model's predictions replaced by the hand-made ones above."""
    data = tmp_path / "held.csv"
    data.write_text("Re,Pr,Nu\n" + "".join(f"{re},{pr},100\n" for re, pr, *_ in POINTS))
    points = read_points(data)
    y = np.log(100.0) * np.ones(len(POINTS))
    pred = y + np.log1p([p[2] for p in POINTS])
    half = np.log1p([p[4] for p in POINTS])
    held = np.array([p[3] for p in POINTS])
    # a covered point's interval starts at its Nu (bounds count as covered); the others start above it
    lo = np.where(held, y, y + 0.01)
    hi = lo + 2 * half
    median = pred + 0.001

    def fake(run, path, level, *, require_nu):
        return SimpleNamespace(groups=[]), config, points, points.features(), pred, median, lo, hi, 0.9

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
