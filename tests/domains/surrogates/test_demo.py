"""The surrogate demo's report, metrics and worked example (``scipt demo surrogate``, :mod:`.demo`),
from hand-built tables and records: the numbers a user reads, and the command a user copies."""

import json
import shlex
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import yaml

from sciPT.domains.surrogates import demo, presets
from sciPT.domains.surrogates.calibrate import DEFAULT_PRIOR_FORM, calibrate
from sciPT.domains.surrogates.data import Points, read_points, taslim_series
from sciPT.domains.surrogates.experiment import Study
from sciPT.domains.surrogates.law import law_string
from sciPT.domains.surrogates.objectives import LEVELS
from sciPT.domains.surrogates.pretrain import learn_prior, validity_box
from sciPT.domains.surrogates.recalibration import BUCKETS, IntervalRecalibration


def row(split, n, method, draws, median, p90, coverage, kept, nominal=0.25):
    return {
        "split": split,
        "n": n,
        "method": method,
        "draws": draws,
        "mape_median": median,
        "mape_p90": p90,
        "coverage": coverage,
        "coverage_nominal": nominal,
        "prior_kept": kept,
    }


# (split, n) groups in the table's order; within one, the methods in no particular order
TABLE = [
    row("all", 2, "guard", 7, 4.12, 10.14, 0.93, 0.59),
    row("all", 2, "scratch", 7, 5.43, 12.21, 1.0, 0.59),
    row("all", 2, "prior", 7, 6.24, 12.87, 0.966, 0.59),
    row("extrapolation", 1, "scratch", 5, 10.48, 20.46, 0.8, 1.0),
    row("extrapolation", 1, "prior", 5, 9.09, 16.71, 0.6, 1.0),
    row("extrapolation", 1, "guard", 5, 9.11, 16.73, 0.4, 1.0),
]


def test_the_rerun_command_calibrates_the_example_s_training_file_with_the_demo_s_prior():
    """The command a user pastes: the demo's own prior (``--init all``), the example's training
    points, a path with a space quoted so that the shell passes it whole."""
    assert demo.rerun_command(Path("/data/my runs/demo")) == (
        "scipt finetune surrogate --init all --train '/data/my runs/demo/example_train.csv' --out runs/example"
    )
    assert shlex.split(demo.rerun_command(Path("/d/it's here"))) == [
        "scipt",
        "finetune",
        "surrogate",
        "--init",
        "all",
        "--train",
        "/d/it's here/example_train.csv",
        "--out",
        "runs/example",
    ]


def test_the_example_s_points_are_written_to_twelve_significant_digits():
    """The files keep what was digitised (258.78, not 258.78000000000003, in every column) and no
    fewer digits: a value to 12 digits rounded to 6 would calibrate on other points."""
    points = Points(
        re=np.array([0.25878 * 1000, 123456.789012]),
        pr=np.array([0.1 * 7, 0.7]),
        nu=np.array([0.30178 * 1000, 1234.56789012]),
        groups={"e_Dh": np.array([0.1 + 0.2, 0.167])},
        source="fig5.csv",
    )
    short = demo._rounded(points)
    assert short.re.tolist() == [258.78, 123456.789012]
    assert short.pr.tolist() == [0.7, 0.7]
    assert short.nu.tolist() == [301.78, 1234.56789012]
    assert short.groups["e_Dh"].tolist() == [0.3, 0.167]
    assert short.source == "fig5.csv"


def test_the_table_reads_each_method_s_numbers_from_its_own_row():
    """One line per (split, n), in the table's order: scratch's draws, each method's median / p90
    MAPE to 0.1 %, the guard's share kept for the prior, coverage scratch / prior / guard."""
    lines = demo._table(SimpleNamespace(table=TABLE))
    assert lines[2:] == [
        "| all | 2 | 7 | 5.4 / 12.2 | 6.2 / 12.9 | 4.1 / 10.1 | 59% | 100% / 97% / 93% |",
        "| extrapolation | 1 | 5 | 10.5 / 20.5 | 9.1 / 16.7 | 9.1 / 16.7 | 100% | 80% / 60% / 40% |",
    ]
    assert lines[0].count("|") == lines[2].count("|") == 9 and lines[1] == "|---|---|---|---|---|---|---|---|"


def records(split, n, scratch, prior, guard):
    """Two draws of two series with the same MAPE per method: the bootstrap interval is the gap."""
    out = []
    for series in ("a", "b"):
        for draw in ((0,), (1,)):
            for method, mape in (("scratch", scratch), ("prior", prior), ("guard", guard)):
                out.append(
                    {"series": series, "draw": draw, "split": split, "n": n, "method": method, "mape": mape}
                )
    return out


def report(command="scipt demo surrogate --out runs/d"):
    studies = {
        "all systems": Study(
            records("all", 1, 4.0, 6.0, 9.0)  # n = 1 and interpolation are not listed
            + records("all", 2, 4.0, 6.0, 4.25)
            + records("all", 3, 4.0, 6.0, 3.5)
            + records("all", 5, 4.0, 6.0, 5.0)
            + records("interpolation", 2, 4.0, 6.0, 9.0)
            + records("extrapolation", 2, 4.0, 6.0, 4.75)
            + records("extrapolation", 3, 6.0, 4.0, 4.5),
            TABLE,
        ),
        "smooth-pipe only": Study([], TABLE[:3]),
    }
    figures = {
        "all systems": Path("/r/plots/sample_efficiency_all.png"),
        "smooth-pipe only": Path("/r/plots/sample_efficiency_smooth_pipe.png"),
    }
    example = {
        "key": "fig5_x",
        "run": Path("/runs/my demo"),
        "figure": Path("/runs/my demo/plots/example.png"),
        "guard": SimpleNamespace(reason="leave-one-out: the two weighted 0.55 and 0.45"),
        "mape": {"prior": 7.84, "scratch": 3.91},
        "laws": {"prior": "Nu = 0.218 Re^0.704 Pr^0.398", "scratch": "Nu = 1.03 Re^0.554 Pr^0.4"},
    }
    prior = SimpleNamespace(mean=np.array([np.log(0.0433), 0.762, 0.412]), names=["C", "Re", "Pr"])
    return demo._report(studies, figures, example, prior, command)


def test_the_report_lists_the_guard_s_gap_for_n_2_3_5_on_all_and_extrapolated_points():
    """Signed gaps to two decimals against the better of scratch and prior, with the interval,
    under the study they belong to; n = 1 and the interpolation split are not listed."""
    text = report()
    first, second = text.split("## Prior from smooth-pipe only")
    assert [line for line in first.splitlines() if line.startswith("- ")] == [
        "- all, n = 2: +0.25 points vs scratch [+0.25, +0.25]",
        "- all, n = 3: -0.50 points vs scratch [-0.50, -0.50]",
        "- all, n = 5: +1.00 points vs scratch [+1.00, +1.00]",
        "- extrapolation, n = 2: +0.75 points vs scratch [+0.75, +0.75]",
        "- extrapolation, n = 3: +0.50 points vs prior [+0.50, +0.50]",
    ]
    assert not [line for line in second.splitlines() if line.startswith("- ")]
    assert "![sample efficiency](plots/sample_efficiency_all.png)" in first
    assert "![sample efficiency](plots/sample_efficiency_smooth_pipe.png)" in second


def test_the_report_s_worked_example_gives_each_fit_s_law_and_error_and_the_commands_to_rerun_it():
    lines = report().splitlines()
    assert (
        "Series `fig5_x`, its two lowest-Re points (`example_train.csv`), the rest held out "
        "(`example_test.csv`): prior-informed `Nu = 0.218 Re^0.704 Pr^0.398` (held-out MAPE 7.8 %), "
        "scratch `Nu = 1.03 Re^0.554 Pr^0.4` (3.9 %). Guard: leave-one-out: the two weighted 0.55 and 0.45."
    ) in lines
    at = lines.index("Rerun it by hand (the same prior, points and guard: the same weights and laws):")
    assert lines[at + 2 : at + 4] == [
        "    scipt finetune surrogate --init all --train '/runs/my demo/example_train.csv' --out runs/example",
        "    scipt evaluate runs/example --data '/runs/my demo/example_test.csv'",
    ]
    assert "![example](plots/example.png)" in lines
    # the prior's mean law: C = exp(log C), then the exponents of Re and Pr
    assert any(
        line.startswith("Pre-trained mean law (all systems): `Nu = 0.0433 Re^0.762 Pr^0.412`;")
        for line in lines
    )


def test_the_report_gives_the_command_that_wrote_it_when_there_is_one():
    lines = report("scipt demo surrogate --out runs/d").splitlines()
    at = lines.index("Command:")
    assert lines[at + 1 : at + 3] == ["", "    scipt demo surrogate --out runs/d"]
    assert "Command:" not in report(None)


@pytest.fixture
def fast_demo(tmp_path, monkeypatch):
    """The demo with its half-minute recalibration, its studies and plots replaced: the library's
    recalibration a hand-made map that widens every interval (a nominal 0.9 becomes 0.95 for the
    prior-informed fit, 0.98 for scratch), each study a hand-built table, the figures and the
    export recorded instead of drawn; the worked example is real."""
    recal = IntervalRecalibration(
        {
            k: {n: np.minimum(np.asarray(LEVELS, float) + widen, 0.999) for n in BUCKETS}
            for k, widen in (("prior", 0.05), ("scratch", 0.08))
        }
    )
    monkeypatch.setattr(demo, "for_library", lambda cfg, form: recal)
    calls = []
    smooth = [
        row("extrapolation", 1, m, 5, 11.0 + i, 22.0 + i, 0.5 + i / 10, 1.0)
        for i, m in enumerate(("scratch", "prior", "guard"))
    ]

    def study(series, prior, ns, **kwargs):
        calls.append(dict(kwargs, prior=prior, ns=ns))
        return Study([], TABLE if len(calls) == 1 else smooth)

    drawn = {"sample_efficiency": [], "nu_vs_re": [], "export": []}

    def sample_efficiency(path, table, *, level):
        drawn["sample_efficiency"].append(SimpleNamespace(path=path, table=table, level=level))
        return path

    def nu_vs_re(path, curves, scatters, **kwargs):
        drawn["nu_vs_re"].append(SimpleNamespace(path=path, curves=curves, scatters=scatters, **kwargs))
        return path

    monkeypatch.setattr(demo, "few_shot_study", study)
    monkeypatch.setattr(demo.plots, "sample_efficiency", sample_efficiency)
    monkeypatch.setattr(demo.plots, "nu_vs_re", nu_vs_re)
    monkeypatch.setattr(demo, "export_surrogate", lambda *args: drawn["export"].append(args))
    run = demo.run_demo(
        tmp_path / "demo", progress=False, ns=(1, 2), max_draws=3, command="scipt demo surrogate"
    )
    return SimpleNamespace(run=run, calls=calls, recal=recal, smooth=smooth, drawn=drawn)


def test_the_demo_s_metrics_hold_each_prior_s_median_mape_and_coverage_under_its_own_key(fast_demo):
    """metrics.json, what a user compares runs by: the all-systems and the smooth-pipe prior's rows
    apart, each with its MAPE median and its (recalibrated) coverage, not the nominal one."""
    metrics = fast_demo.run.read_metrics()
    expected = {}
    for tag, table in (("all", TABLE), ("smooth_pipe", fast_demo.smooth)):
        for r in table:
            key = f"{tag}/{r['split']}/n{r['n']}/{r['method']}"
            expected[f"{key}/mape_median"] = r["mape_median"]
            expected[f"{key}/coverage"] = r["coverage"]
    assert metrics == expected
    assert metrics["all/all/n2/prior/coverage"] == 0.966
    assert metrics["smooth_pipe/extrapolation/n1/guard/mape_median"] == 13.0


def test_the_demo_recalibrates_the_all_systems_prior_only_and_scores_90_percent_intervals(fast_demo):
    """The report says so: the library prior's intervals recalibrated as ``scipt finetune
    surrogate`` does, the one-family prior's at their nominal level; both at 90 %."""
    calls = fast_demo.calls
    assert calls[0]["recalibration"] is fast_demo.recal and calls[1]["recalibration"] is None
    assert [c["level"] for c in calls] == [0.9, 0.9] and [c["ns"] for c in calls] == [(1, 2), (1, 2)]
    assert [c["max_draws"] for c in calls] == [3, 3]
    naive, _ = learn_prior(presets.smooth_pipe())
    assert np.array_equal(calls[1]["prior"].mean, naive.mean)
    config = yaml.safe_load(fast_demo.run.config.read_text())
    assert config["interval_level"] == 0.9 and config["kind"] == "demo"
    report = fast_demo.run.report.read_text()
    assert "coverage of the 90 % predictive interval" in report
    assert report.splitlines()[4:7] == ["Command:", "", "    scipt demo surrogate"]


def test_the_worked_example_holds_out_every_point_but_the_two_lowest_re_and_scores_each_fit(fast_demo):
    """example_train.csv the two lowest-Re points, example_test.csv the others; the report's
    held-out MAPE of each fit is that of its own predictions on the test file, by hand."""
    path = fast_demo.run.path
    series = taslim_series()["fig5_ar_1.0_half_squares_eDh_0.167"]
    train, test = read_points(path / "example_train.csv"), read_points(path / "example_test.csv")
    order = np.argsort(series.re)
    assert train.re == pytest.approx(series.re[order[:2]], rel=1e-11)
    assert test.re == pytest.approx(series.re[order[2:]], rel=1e-11)
    assert test.nu == pytest.approx(series.nu[order[2:]], rel=1e-11)
    prior, _ = learn_prior(presets.small(), form=DEFAULT_PRIOR_FORM)
    cal = calibrate(train.features(), train.log_nu, prior.names, prior, recalibration=fast_demo.recal)
    mape = {
        name: 100 * np.mean(np.abs(np.exp(fit.predict(test.features())) / test.nu - 1))
        for name, fit in (("prior", cal.prior_fit), ("scratch", cal.scratch_fit))
    }
    assert abs(mape["prior"] - mape["scratch"]) > 0.5  # told apart at one decimal
    report = fast_demo.run.report.read_text()
    assert (
        f"prior-informed `{law_string(cal.prior_fit.mean, prior.names)}` (held-out MAPE {mape['prior']:.1f} %)"
        in report
    )
    assert f"scratch `{law_string(cal.scratch_fit.mean, prior.names)}` ({mape['scratch']:.1f} %)" in report
    assert f"` ({mape['scratch']:.1f} %). Guard: {cal.guard.reason}." in report
    assert f"({mape['scratch']:.1f} %), scratch `" not in report


def test_the_demo_draws_one_sample_efficiency_figure_per_prior_and_stores_both_tables(fast_demo):
    """Each prior's table goes to its own figure (named after its tag, at the 90 % level the
    coverage is scored at) and to study.json under its own label: one shared file name would
    leave the report showing the smooth-pipe figure under both priors."""
    drawn = fast_demo.drawn["sample_efficiency"]
    plots_dir = fast_demo.run.path / "plots"
    assert [(d.path, d.table, d.level) for d in drawn] == [
        (plots_dir / "sample_efficiency_all.png", TABLE, 0.9),
        (plots_dir / "sample_efficiency_smooth_pipe.png", fast_demo.smooth, 0.9),
    ]
    assert json.loads((fast_demo.run.path / "study.json").read_text()) == {
        "all systems": TABLE,
        "smooth-pipe only": fast_demo.smooth,
    }


def test_the_demo_exports_the_all_systems_prior_as_one_gaussian_with_its_fits(fast_demo):
    """The exported model (what ``--init RUN`` loads) is the all-systems prior, not the smooth-pipe
    one: a posterior on no points whose mean is the prior's (moment-matched) mean, with the fits
    and validity boxes it was learnt from."""
    ((model_dir, posterior, points, meta),) = fast_demo.drawn["export"]
    assert model_dir == fast_demo.run.model and points == []
    prior, fits = learn_prior(presets.small(), form=DEFAULT_PRIOR_FORM)
    naive, _ = learn_prior(presets.smooth_pipe())
    assert posterior.n == 0
    assert np.allclose(posterior.mean, prior.mean, rtol=1e-9, atol=1e-12)
    assert not np.allclose(posterior.mean, naive.mean, rtol=1e-3)
    assert meta["kind"] == "prior"
    assert meta["systems"] == [f.as_dict() for f in fits] and len(fits) > 1
    assert meta["validity"] == {"systems": validity_box(fits)}


def test_the_worked_example_s_figure_draws_each_fit_s_law_and_recalibrated_band_over_the_points(fast_demo):
    """The figure a user compares with the report: over Re from 1/1.5 of the lowest to 1.5 times
    the highest measured Re (log-spaced), each fit's law Nu = exp(theta . (1, ln Re, ln Pr)) at the
    series' Pr, its 90 % band at the level the recalibration gives for it (0.95 prior, 0.98
    scratch with the fixture's maps: that much of its predictive inside), the pre-trained mean law,
    the two calibration points filled and the held-out ones open, the guard's choice in the title."""
    ((fig,),) = [fast_demo.drawn["nu_vs_re"]]
    key = "fig5_ar_1.0_half_squares_eDh_0.167"
    series = taslim_series()[key]
    path = fast_demo.run.path
    train, test = read_points(path / "example_train.csv"), read_points(path / "example_test.csv")
    prior, _ = learn_prior(presets.small(), form=DEFAULT_PRIOR_FORM)
    cal = calibrate(train.features(), train.log_nu, prior.names, prior, recalibration=fast_demo.recal)
    assert fig.path == path / "plots" / "example.png"
    assert fig.title == f"Taslim & Spring {key}: 2 points, kept = {cal.guard.choice}"
    assert [c.label for c in fig.curves] == ["prior-informed", "scratch", "pre-trained law (mean)"]
    re = fig.curves[0].re
    assert len(re) == 100 and all(np.array_equal(c.re, re) for c in fig.curves)
    assert re[0] == pytest.approx(series.re.min() / 1.5) and re[-1] == pytest.approx(series.re.max() * 1.5)
    assert np.allclose(np.diff(np.log(re)), np.log(re[1] / re[0]))  # evenly spaced in log Re
    pr = series.pr[0]
    assert pr == pytest.approx(0.7)
    X = np.column_stack([np.ones_like(re), np.log(re), np.full_like(re, np.log(pr))])
    for curve, fit, level in ((fig.curves[0], cal.prior_fit, 0.95), (fig.curves[1], cal.scratch_fit, 0.98)):
        c, a, b = fit.mean
        assert curve.nu == pytest.approx(np.exp(c) * re**a * pr**b, rel=1e-9)
        assert np.all(curve.lo < curve.nu) and np.all(curve.nu < curve.hi)
        inside = fit.cdf(X, np.log(curve.hi)) - fit.cdf(X, np.log(curve.lo))
        assert inside == pytest.approx(np.full_like(re, level), abs=1e-6)
    assert not np.allclose(fig.curves[0].nu, fig.curves[1].nu, rtol=1e-3)  # two fits, told apart
    c, a, b = prior.mean
    assert fig.curves[2].nu == pytest.approx(np.exp(c) * re**a * pr**b, rel=1e-9)
    assert fig.curves[2].lo is None and fig.curves[2].hi is None
    calibration, held_out = fig.scatters
    assert (calibration.label, held_out.label) == ("calibration points", "held-out measurements")
    assert calibration.re.tolist() == train.re.tolist() and calibration.nu.tolist() == train.nu.tolist()
    assert held_out.re.tolist() == test.re.tolist() and held_out.nu.tolist() == test.nu.tolist()
    assert calibration.filled and not held_out.filled
