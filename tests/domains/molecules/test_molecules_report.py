"""The molecules report's tables, force-count line and parity plots, from hand-made metrics: the
column a number lands in, its unit, and what a missing value shows."""

import numpy as np
from matplotlib import colors

from sciPT import plots
from sciPT.domains.molecules.evaluate import Evaluation
from sciPT.domains.molecules.report import element_rows, force_lines, metric_rows, parity_plots


def test_metric_rows_put_each_error_under_its_own_label_and_dash_a_missing_one():
    """Force MAE and RMSE must not trade columns, and a set without energy errors shows a dash,
    not a 0.0 that reads as a perfect model."""
    rows = metric_rows(
        {
            "val": {
                "energy_mae_meV_per_atom": 1.234,
                "energy_rmse_meV": 20.0,
                "forces_mae_meV_per_A": 30.06,
                "forces_rmse_meV_per_A": 45.0,
            },
            "forces_only": {"forces_mae_meV_per_A": 3.0, "forces_rmse_meV_per_A": 4.0},
        }
    )
    assert rows == [
        "| set | E MAE (meV/atom) | E RMSE (meV/frame) | F MAE (meV/Å) | F RMSE (meV/Å) |",
        "|---|---|---|---|---|",
        "| val | 1.2 | 20.0 | 30.1 | 45.0 |",
        "| forces_only | – | – | 3.0 | 4.0 |",
    ]


def test_element_rows_show_the_per_element_force_rmse_not_its_mae():
    """Columns are the elements of every set, sorted; each cell the RMSE of that element (the MAE,
    also recorded, would understate it); an element a set lacks shows a dash."""
    rows = element_rows(
        {
            "val": {
                "forces_rmse_meV_per_A_H": 5.0,
                "forces_rmse_meV_per_A_C": 10.0,
                "forces_mae_meV_per_A_H": 3.0,
                "forces_mae_meV_per_A_C": 7.0,
                "forces_rmse_meV_per_A": 9.0,
            },
            "eval": {"forces_rmse_meV_per_A_O": 8.0, "forces_mae_meV_per_A_O": 6.0},
        }
    )
    assert rows == [
        "| set | F RMSE C | F RMSE H | F RMSE O |",
        "|---|---|---|---|",
        "| val | 10.0 | 5.0 | – |",
        "| eval | – | – | 8.0 |",
    ]
    assert element_rows({"val": {"forces_rmse_meV_per_A": 9.0}}) == []


def test_force_lines_say_how_many_of_the_frames_have_forces():
    """ "3 of 5": the frames with forces first, then all frames; nothing when every frame has them."""
    assert force_lines({"forces_frames": 3, "frames": 5}) == [
        "Forces over the atoms of the 3 of 5 frames that have forces; the others have an energy alone."
    ]
    assert force_lines({"frames": 5}) == []


def test_parity_plots_centre_energies_in_mev_per_atom_and_label_each_set_with_its_rmse(monkeypatch, tmp_path):
    """Energy parity: reference and prediction both minus the mean reference, in meV/atom, so the
    offset of the model stays visible; the legend quotes the per-atom energy RMSE and the force
    RMSE in their units; the diagonal spans every point; a set with no frames is not drawn."""
    saved = []
    monkeypatch.setattr(plots, "save", lambda fig, png: saved.append(fig) or png)
    true_e = np.array([-1.0, -1.2, -1.1])  # eV/atom, mean -1.1
    pred_e = np.array([-1.01, -1.19, -1.08])
    true_f = np.array([0.5, -0.25, 0.0, 1.0])
    pred_f = np.array([0.4, -0.2, 0.1, 0.9])
    val = Evaluation(
        {"energy_rmse_meV_per_atom": 1.5, "energy_rmse_meV": 13.5, "forces_rmse_meV_per_A": 40.0},
        energy=(true_e, pred_e),
        forces=(true_f, pred_f),
    )
    empty = Evaluation({"energy_rmse_meV_per_atom": 9.0, "forces_rmse_meV_per_A": 9.0})
    written = parity_plots({"val": val, "empty": empty}, tmp_path / "e.png", tmp_path / "f.png", "(old task)")
    assert written == [tmp_path / "e.png", tmp_path / "f.png"]
    energy_fig, forces_fig = saved
    (ax,) = energy_fig.axes
    (points,) = ax.collections
    xy = points.get_offsets()
    np.testing.assert_allclose(xy[:, 0], [100.0, -100.0, 0.0], atol=1e-9)
    np.testing.assert_allclose(xy[:, 1], [90.0, -90.0, 20.0], atol=1e-9)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["val (RMSE 1.5 meV/atom)"]
    assert (
        ax.get_xlabel() == "reference energy − set mean (meV/atom)" and ax.get_title() == "energy (old task)"
    )
    (diagonal,) = ax.lines
    lo, hi = diagonal.get_xdata()
    assert lo <= xy.min() and hi >= xy.max()
    (ax,) = forces_fig.axes
    np.testing.assert_allclose(ax.collections[0].get_offsets(), np.c_[true_f, pred_f])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["val (RMSE 40.0 meV/Å)"]
    for fig in saved:
        plots.pyplot().close(fig)
    assert parity_plots({"empty": empty}, tmp_path / "e2.png", tmp_path / "f2.png") == []


def test_parity_plots_without_a_title_label_both_axes_colour_each_set_and_keep_the_plot_square(
    monkeypatch, tmp_path
):
    """Each set its own colour (C0, C1 in order) so two sets can be told apart; energy points larger
    than the many force components; x the reference and y the prediction, in eV/Å for forces; equal
    limits and aspect, so the diagonal is at 45°; no title adds no trailing space; a set whose RMSE
    was not recorded says "nan", not a 0.0 that reads as perfect."""
    saved = []
    monkeypatch.setattr(plots, "save", lambda fig, png: saved.append(fig) or png)
    a = Evaluation(
        {"energy_rmse_meV_per_atom": 2.0, "forces_rmse_meV_per_A": 30.0},
        energy=(np.array([0.0, 0.01]), np.array([0.002, 0.008])),
        forces=(np.array([1.0, -1.0]), np.array([0.9, -1.1])),
    )
    b = Evaluation({}, energy=(np.array([0.5]), np.array([0.4])), forces=(np.array([2.0]), np.array([2.5])))
    parity_plots({"a": a, "b": b}, tmp_path / "e.png", tmp_path / "f.png")
    energy_fig, forces_fig = saved
    for fig, quantity, title, size, unit in [
        (energy_fig, "energy − set mean (meV/atom)", "energy", 6, "meV/atom"),
        (forces_fig, "force component (eV/Å)", "forces", 3, "meV/Å"),
    ]:
        (ax,) = fig.axes
        assert (ax.get_xlabel(), ax.get_ylabel()) == (f"reference {quantity}", f"predicted {quantity}")
        assert ax.get_title() == title
        first, second = ax.collections
        assert list(first.get_sizes()) == [size] and list(second.get_sizes()) == [size]
        np.testing.assert_allclose(first.get_facecolor()[0], colors.to_rgba("C0", 0.5))
        np.testing.assert_allclose(second.get_facecolor()[0], colors.to_rgba("C1", 0.5))
        assert ax.get_xlim() == ax.get_ylim() and ax.get_aspect() == 1.0
        rmse = "2.0" if title == "energy" else "30.0"
        assert [t.get_text() for t in ax.get_legend().get_texts()] == [
            f"a (RMSE {rmse} {unit})",
            f"b (RMSE nan {unit})",
        ]
        plots.pyplot().close(fig)
