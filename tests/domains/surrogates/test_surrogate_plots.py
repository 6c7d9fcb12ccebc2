"""Figures of the surrogates domain (domains/surrogates/plots.py): axes, series and labels."""

import matplotlib.colors as mcolors
import numpy as np
import pytest

from sciPT.domains.surrogates import plots


@pytest.fixture
def saved(monkeypatch):
    """The figures the plot functions would save, kept for inspection instead (rendering a PNG
    takes a second and shows nothing a test can read)."""
    figures = []

    def keep(fig, path):
        figures.append(fig)
        plots._plots.pyplot().close(fig)
        return path

    monkeypatch.setattr(plots._plots, "save", keep)
    return figures


def test_nu_vs_re_is_log_log_nu_against_re_with_labelled_band_points_and_shade(tmp_path, saved):
    """A reader takes the x axis for Re and the y axis for Nu, both logarithmic, a shaded band for
    the interval of its own curve, and a point where it was measured: a swapped axis, label or
    series misreads every law on the figure."""
    re = np.array([1e4, 1e5])
    curve = plots.Curve(
        "prior", re, np.array([30.0, 200.0]), lo=np.array([20.0, 150.0]), hi=np.array([40.0, 260.0])
    )
    points = plots.Scatter("measured", np.array([2e4, 5e4]), np.array([50.0, 120.0]), filled=False)
    out = plots.nu_vs_re(tmp_path / "f.png", [curve], [points], title="T", shade=(2e4, 6e4))
    assert out == tmp_path / "f.png"
    (ax,) = saved[0].axes
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("Re", "Nu")
    assert (ax.get_xscale(), ax.get_yscale()) == ("log", "log")
    assert ax.get_title() == "T"
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert sorted(lines) == ["measured", "prior"]
    assert lines["prior"].get_xdata().tolist() == [1e4, 1e5]
    assert lines["prior"].get_ydata().tolist() == [30.0, 200.0]
    assert lines["measured"].get_xdata().tolist() == [2e4, 5e4]
    assert lines["measured"].get_ydata().tolist() == [50.0, 120.0]
    assert lines["measured"].get_markerfacecolor() == "none"  # an open marker: filled=False
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["calibrated Re range", "prior interval", "prior", "measured"]
    # the band runs from lo to hi at each Re
    band = next(c for c in ax.collections if c.get_label() == "prior interval")
    ys = band.get_paths()[0].vertices[:, 1]
    assert (ys.min(), ys.max()) == (20.0, 260.0)


def test_sample_efficiency_plots_median_p90_and_coverage_in_percent_sorted_by_n(tmp_path, saved):
    """The top row is the median MAPE (p90 dashed) and the bottom row the coverage in percent,
    against n in increasing order, with the nominal level drawn at its percentage: a coverage of
    0.8 drawn as 0.8 %, or the p90 drawn as the median, misstates the method's calibration."""
    table = [
        {"split": "held", "n": 10, "method": "prior", "mape_median": 3.0, "mape_p90": 9.0, "coverage": 0.8},
        {"split": "held", "n": 2, "method": "prior", "mape_median": 6.0, "mape_p90": 15.0, "coverage": 0.7},
        {
            "split": "held",
            "n": 2,
            "method": "scratch",
            "mape_median": 30.0,
            "mape_p90": 80.0,
            "coverage": 0.4,
        },
    ]
    plots.sample_efficiency(tmp_path / "s.png", table, level=0.8)
    axes = saved[0].axes
    assert len(axes) == 2  # one split: one column of two rows
    top, bottom = axes
    assert top.get_title() == "held split"
    assert top.get_ylabel() == "MAPE % (median; p90 dashed)"
    assert bottom.get_ylabel() == "80% interval coverage %"
    assert bottom.get_xlabel() == "calibration points n"
    median, p90 = (line for line in top.get_lines() if line.get_color() == "tab:gray")
    assert median.get_label() == "prior" and median.get_linestyle() == "-"
    assert list(median.get_xdata()) == [2, 10] and list(median.get_ydata()) == [6.0, 3.0]
    assert p90.get_linestyle() == "--" and list(p90.get_ydata()) == [15.0, 9.0]
    coverage = [line for line in bottom.get_lines() if line.get_color() == "tab:gray"]
    assert list(coverage[0].get_xdata()) == [2, 10] and list(coverage[0].get_ydata()) == pytest.approx(
        [70.0, 80.0]
    )
    nominal = [line for line in bottom.get_lines() if line.get_color() == "k"]
    assert [line.get_ydata()[0] for line in nominal] == pytest.approx([80.0])
    assert [t.get_text() for t in top.get_legend().get_texts()] == ["prior", "scratch"]


def test_nu_vs_re_draws_each_series_in_its_own_style_colour_and_marker_with_the_note(tmp_path, saved):
    """Each law keeps its line style and colour (its band the same colour, translucent), each set
    of points its marker and colour, filled or not, and no line joining them; the shade's label,
    the title and the note are the caller's words: the worked example tells scratch (dashed
    orange) from the prior-informed fit (solid green) and calibration points from held-out ones."""
    re = np.array([1e4, 1e5])
    curves = [
        plots.Curve(
            "fit",
            re,
            np.array([30.0, 200.0]),
            "--",
            "tab:orange",
            np.array([20.0, 150.0]),
            np.array([40.0, 260.0]),
        ),
        plots.Curve("law", re, np.array([35.0, 210.0]), ":", "k"),
    ]
    scatters = [
        plots.Scatter("used", np.array([2e4]), np.array([50.0]), "s", "tab:red"),
        plots.Scatter("held", np.array([5e4]), np.array([120.0]), "^", "tab:blue", False),
    ]
    plots.nu_vs_re(
        tmp_path / "f.png",
        curves,
        scatters,
        title="rib series",
        note="a note",
        shade=(2e4, 6e4),
        shade_label="points",
    )
    fig = saved[0]
    (ax,) = fig.axes
    assert ax.get_title() == "rib series"
    assert [t.get_text() for t in fig.texts] == ["a note"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "points",
        "fit interval",
        "fit",
        "law",
        "used",
        "held",
    ]
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert (lines["fit"].get_linestyle(), lines["fit"].get_color()) == ("--", "tab:orange")
    assert (lines["law"].get_linestyle(), lines["law"].get_color()) == (":", "k")
    band = next(c for c in ax.collections if c.get_label() == "fit interval")
    assert tuple(band.get_facecolor()[0]) == pytest.approx(mcolors.to_rgba("tab:orange", 0.2))
    for name, marker, color, face in (("used", "s", "tab:red", "tab:red"), ("held", "^", "tab:blue", "none")):
        assert lines[name].get_marker() == marker and lines[name].get_color() == color
        assert lines[name].get_markerfacecolor() == face
        assert lines[name].get_linestyle() == "None"  # measured points, not a curve through them
    plots.nu_vs_re(tmp_path / "g.png", curves, [], title="t")  # no note: no text under the axes
    assert saved[1].texts == []


def test_sample_efficiency_draws_each_split_in_its_own_column_with_the_nominal_band(tmp_path, saved):
    """Two splits: two columns, each with its title, its own MAPE and coverage lines, its x label,
    the nominal level as a black line inside the shaded 85-95 % band, a shared n axis per column;
    one legend (top left) naming only the methods drawn there, and the figure's title."""
    table = [
        {"split": "all", "n": 1, "method": "prior", "mape_median": 3.0, "mape_p90": 9.0, "coverage": 0.9},
        {"split": "all", "n": 2, "method": "prior", "mape_median": 2.0, "mape_p90": 8.0, "coverage": 0.85},
        {"split": "far", "n": 1, "method": "prior", "mape_median": 5.0, "mape_p90": 12.0, "coverage": 0.7},
        {"split": "far", "n": 2, "method": "prior", "mape_median": 4.0, "mape_p90": 11.0, "coverage": 0.75},
        {"split": "far", "n": 2, "method": "scratch", "mape_median": 6.0, "mape_p90": 15.0, "coverage": 0.5},
    ]
    plots.sample_efficiency(tmp_path / "s.png", table, level=0.9)
    fig = saved[0]
    assert fig.get_suptitle() == "Prior-informed vs scratch on held-out measured points"
    top_all, top_far, bottom_all, bottom_far = fig.axes
    assert [ax.get_title() for ax in (top_all, top_far)] == ["all split", "far split"]
    assert [ax.get_xlabel() for ax in (bottom_all, bottom_far)] == ["calibration points n"] * 2
    for top, bottom in ((top_all, bottom_all), (top_far, bottom_far)):
        assert top.get_shared_x_axes().joined(top, bottom)
    # the prior's lines (first method: gray) in each column: median, p90, coverage in percent
    for top, bottom, median, p90, coverage in (
        (top_all, bottom_all, [3.0, 2.0], [9.0, 8.0], [90.0, 85.0]),
        (top_far, bottom_far, [5.0, 4.0], [12.0, 11.0], [70.0, 75.0]),
    ):
        gray = [line for line in top.get_lines() if line.get_color() == "tab:gray"]
        assert [list(line.get_ydata()) for line in gray] == [median, p90]
        (cov,) = [line for line in bottom.get_lines() if line.get_color() == "tab:gray"]
        assert list(cov.get_ydata()) == pytest.approx(coverage)
        (nominal,) = [line for line in bottom.get_lines() if line.get_color() == "k"]
        assert list(nominal.get_ydata()) == pytest.approx([90.0, 90.0])
        (band,) = bottom.patches
        ys = band.get_patch_transform().transform(band.get_path().vertices)[:, 1]
        assert (ys.min(), ys.max()) == pytest.approx((85.0, 95.0))
    # scratch only in the far split: drawn there (blue), absent from the first column and its legend
    assert [line.get_color() for line in top_all.get_lines()] == ["tab:gray"] * 2
    assert [line.get_color() for line in top_far.get_lines()] == ["tab:gray"] * 2 + ["tab:blue"] * 2
    assert [t.get_text() for t in top_all.get_legend().get_texts()] == ["prior"]
    assert top_far.get_legend() is None
