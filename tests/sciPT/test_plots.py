"""The loss curve draws what its labels say."""

import json

import pytest

from sciPT import plots


def figures(monkeypatch) -> list[dict]:
    """What each figure ``plots`` saves shows: axis labels, title, x scale, its lines
    ``{label: (x, y, marker)}``, its error bars' points ``{label: (x, y)}`` and segments
    ``[x0, y0, x1, y1]``."""
    shown = []

    def keep(fig, path):
        ax = fig.axes[0]
        shown.append(
            dict(
                xlabel=ax.get_xlabel(),
                ylabel=ax.get_ylabel(),
                title=ax.get_title(),
                xscale=ax.get_xscale(),
                lines={
                    line.get_label(): (list(line.get_xdata()), list(line.get_ydata()), line.get_marker())
                    for line in ax.get_lines()
                },
                bars=[[float(v) for p in seg for v in p] for c in ax.collections for seg in c.get_segments()],
                errorbars={
                    c.get_label(): (list(c.lines[0].get_xdata()), list(c.lines[0].get_ydata()))
                    for c in ax.containers
                },
            )
        )
        plots.pyplot().close(fig)
        return path

    monkeypatch.setattr(plots, "save", keep)
    return shown


def drawn(monkeypatch, tmp_path, rows: str, **kw) -> dict:
    """The lines ``plots.loss_curve`` draws from a metrics.csv of ``rows``: ``{label: (x, y, marker)}``."""
    (tmp_path / "metrics.csv").write_text(rows)
    shown = figures(monkeypatch)
    assert plots.loss_curve(tmp_path, tmp_path / "loss.png", **kw) is not None
    return shown[-1]["lines"]


def test_a_penalised_fine_tune_plots_its_task_loss_beside_validation_and_the_penalty_apart(
    monkeypatch, tmp_path
):
    # EWC: train/loss = task loss + penalty; validation has no penalty
    rows = "epoch,step,train/loss,train/task_loss,train/penalty,val/loss\n"
    rows += "0,9,0.80,0.70,0.10,\n0,19,0.66,0.57,0.09,\n0,19,,,,0.52\n"
    lines = drawn(monkeypatch, tmp_path, rows)
    assert lines["train (task loss)"][:2] == ([9, 19], [0.70, 0.57])
    assert lines["penalty (added to the task loss)"][:2] == ([9, 19], [0.10, 0.09])
    assert lines["validation"][:2] == ([19], [0.52])


def test_a_single_training_point_is_drawn_with_a_marker(monkeypatch, tmp_path):
    lines = drawn(monkeypatch, tmp_path, "epoch,step,train/loss,val/loss\n0,24,1.5,\n0,29,,1.2\n", ylabel="y")
    assert lines["train"] == ([24], [1.5], ".")


def test_the_roc_legend_names_the_area_it_shows(monkeypatch, tmp_path):
    import numpy as np

    legends = []

    def keep(fig, path):
        legends.append([t.get_text() for t in fig.axes[0].get_legend().get_texts()])
        plots.pyplot().close(fig)
        return path

    monkeypatch.setattr(plots, "save", keep)
    y, s = np.array([0, 0, 1, 1]), np.array([0.1, 0.6, 0.4, 0.9])  # one pair of four misordered
    plots.roc_pr({"cnn": (y, s)}, tmp_path / "r.png", tmp_path / "p.png", auroc_label="pooled AUROC")
    assert legends[0][0] == "cnn (pooled AUROC 0.750)"


def test_steps_trained_again_after_an_interruption_count_once(tmp_path):
    """Stopped at step 69, resumed from the checkpoint of step 50: the old log's steps from 54 on
    were trained again, and their values (a validation loss of 1.30 at 69) came from weights the
    run threw away."""
    old = "epoch,step,train/loss,val/loss\n0,44,1.45,\n0,49,,1.33\n0,54,1.40,\n0,64,1.38,\n0,69,,1.30\n"
    (tmp_path / "metrics.part0.csv").write_text(old)
    (tmp_path / "metrics.csv").write_text(
        "epoch,step,train/loss,val/loss\n0,54,1.41,\n0,69,,1.32\n0,89,,1.31\n"
    )
    logs = plots.read_logs(tmp_path)
    assert logs["train/loss"] == [(44, 1.45), (54, 1.41)]
    assert logs["val/loss"] == [(49, 1.33), (69, 1.32), (89, 1.31)]
    assert min(v for _, v in logs["val/loss"]) == 1.31


def test_a_resumed_run_with_nothing_to_train_replaces_only_what_it_logged_again(tmp_path):
    (tmp_path / "metrics.part0.csv").write_text("epoch,step,train/loss,val/loss\n0,7,1.71,\n0,7,,1.68\n")
    (tmp_path / "metrics.csv").write_text("epoch,step,val/loss\n0,7,1.68\n")
    logs = plots.read_logs(tmp_path)
    assert logs == {"train/loss": [(7, 1.71)], "val/loss": [(7, 1.68)]}


HEADER = "epoch,step,train/loss,val/loss\n"


def _rows(*rows: str) -> str:
    return HEADER + "".join(f"0,{row}\n" for row in rows)


def _strictly_increasing(points) -> bool:
    return all(a < b for (a, _), (b, _) in zip(points, points[1:]))


def test_a_part_is_cut_at_the_step_the_next_part_resumed_from(tmp_path):
    """Checkpoint at step 10, stopped at 16 after validating every 3 steps, resumed from 10 with
    validation every 4: the old part's validations at 11 and 14 were of weights the run threw
    away (the one at 14 the lowest of all), though the next part trained first at step 19."""
    (tmp_path / "metrics.csv").write_text(
        _rows("2,,2.07", "5,,1.91", "8,,1.81", "9,1.81,", "11,,1.73", "14,,1.20")
    )
    plots.keep_log_for_resume(tmp_path, step=10)
    (tmp_path / "metrics.csv").write_text(_rows("11,,1.74", "15,,1.61", "19,1.52,", "19,,1.50"))
    logs = plots.read_logs(tmp_path)
    assert logs["val/loss"] == [(2, 2.07), (5, 1.91), (8, 1.81), (11, 1.74), (15, 1.61), (19, 1.50)]
    assert logs["train/loss"] == [(9, 1.81), (19, 1.52)]
    assert min(v for _, v in logs["val/loss"]) == 1.50  # val_loss_best: none of the discarded stretch


def test_a_cut_does_not_depend_on_what_the_next_part_logged_first(tmp_path):
    """Resumed from step 10: its first row is a validation at 16 (after step 17), its first
    training row at 19. The validation logged at 9 (of step 10's weights, those of the checkpoint)
    stays; the one at 14 goes, as does the training row at 14. A second stop before any checkpoint
    (at 13) resumed from 10 again: the middle part's rows go too."""
    (tmp_path / "metrics.csv").write_text(_rows("4,,1.90", "9,1.85,", "9,,1.80", "14,1.60,", "14,,1.55"))
    plots.keep_log_for_resume(tmp_path, step=10)
    (tmp_path / "metrics.csv").write_text(_rows("11,,1.30", "12,1.31,"))
    plots.keep_log_for_resume(tmp_path, step=10)
    (tmp_path / "metrics.csv").write_text(_rows("16,,1.70", "19,1.65,"))
    logs = plots.read_logs(tmp_path)
    assert [s for s, _ in logs["val/loss"]] == [4, 9, 16]
    assert logs["train/loss"] == [(9, 1.85), (19, 1.65)]
    assert all(_strictly_increasing(points) for points in logs.values())


def test_a_kept_part_records_the_step_of_the_checkpoint_the_run_resumes_from(tmp_path):
    import torch

    run = tmp_path / "run"
    (run / "logs").mkdir(parents=True)
    (run / "checkpoints").mkdir()
    torch.save({"global_step": 10}, run / "checkpoints" / "last.ckpt")
    (run / "logs" / "metrics.csv").write_text(_rows("8,,1.81", "9,1.81,", "11,,1.73"))
    plots.keep_log_for_resume(run / "logs")
    assert not (run / "logs" / "metrics.csv").exists()
    assert json.loads((run / "logs" / "metrics.part0.json").read_text()) == {plots.RESUMED_AT: 10}
    assert plots.read_logs(run / "logs") == {"val/loss": [(8, 1.81)], "train/loss": [(9, 1.81)]}


def test_parts_kept_without_the_marker_are_cut_as_before_and_merged_in_step_order(tmp_path):
    """A run folder from before the marker: the old part is cut at the first step the next part
    trained on, as it was; the series still come out in increasing step."""
    (tmp_path / "metrics.part0.csv").write_text(_rows("8,,1.81", "9,1.81,", "11,,1.73", "14,,1.64"))
    (tmp_path / "metrics.csv").write_text(_rows("11,,1.74", "15,,1.61", "19,1.52,"))
    logs = plots.read_logs(tmp_path)
    assert logs["val/loss"] == [(8, 1.81), (11, 1.74), (14, 1.64), (15, 1.61)]
    assert logs["train/loss"] == [(9, 1.81), (19, 1.52)]


def test_the_loss_curve_names_its_axes_and_its_reference_lines(monkeypatch, tmp_path):
    """The x axis counts optimizer steps, the y axis says what the caller measured, and a reference
    line reads its value to three decimals (a uniform guess over 4 bases: ln 4 = 1.386 nats)."""
    shown = figures(monkeypatch)
    (tmp_path / "metrics.csv").write_text("epoch,step,train/loss\n0,4,1.50\n0,9,1.40\n")
    plots.loss_curve(tmp_path, tmp_path / "l.png", reference={"uniform": 1.3862944}, ylabel="loss (bits)")
    (fig,) = shown
    assert (fig["xlabel"], fig["ylabel"], fig["title"]) == (
        "optimizer step",
        "loss (bits)",
        "pre-training loss",
    )
    assert fig["lines"]["uniform = 1.386"][1] == [1.3862944, 1.3862944]


def test_a_run_that_logged_only_validation_still_gets_its_curve(monkeypatch, tmp_path):
    """A log holding validation losses alone (no training row yet) is still a curve worth drawing."""
    shown = figures(monkeypatch)
    (tmp_path / "metrics.csv").write_text("epoch,step,val/loss\n0,9,1.2\n0,19,1.1\n")
    assert plots.loss_curve(tmp_path, tmp_path / "l.png") == tmp_path / "l.png"
    assert shown[0]["lines"]["validation"][:2] == ([9, 19], [1.2, 1.1])


def test_short_training_series_get_markers_and_long_ones_do_not(monkeypatch, tmp_path):
    """Up to four points a line is too short to see without markers; from five on, markers clutter."""
    for n, marker in ((4, "."), (5, "None")):
        rows = "".join(f"0,{10 * i},{2 - i / 10}\n" for i in range(n))
        lines = drawn(monkeypatch, tmp_path, "epoch,step,train/loss\n" + rows)
        assert lines["train"][2] == marker, n


def test_roc_and_pr_curves_put_each_rate_on_its_own_axis(monkeypatch, tmp_path):
    """ROC: false positive rate on x; PR: recall on x. At the lowest threshold everything is called
    positive (recall 1, precision the prevalence 1/2); the PR curve ends at recall 0, precision 1."""
    import numpy as np

    shown = figures(monkeypatch)
    y, s = np.array([0, 0, 1, 1]), np.array([0.1, 0.6, 0.4, 0.9])
    plots.roc_pr({"cnn": (y, s)}, tmp_path / "r.png", tmp_path / "p.png", title="test")
    roc, pr = shown
    assert (roc["xlabel"], roc["ylabel"], roc["title"]) == (
        "false positive rate",
        "true positive rate",
        "ROC test",
    )
    assert (pr["xlabel"], pr["ylabel"], pr["title"]) == ("recall", "precision", "precision-recall test")
    fpr, tpr, _ = roc["lines"]["cnn (AUROC 0.750)"]
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0, 0, 1, 1)
    recall, precision, _ = pr["lines"]["cnn"]
    assert (recall[0], precision[0]) == (1, 0.5) and (recall[-1], precision[-1]) == (0, 1)


def test_sample_efficiency_plots_the_mean_and_spread_over_seeds_on_a_log_axis(monkeypatch, tmp_path):
    """Each fraction's point is the mean of its seeds, its error bar one (population) standard
    deviation either side; fractions of labels span decades, so the x axis is logarithmic."""
    shown = figures(monkeypatch)
    results = {"cnn": [[0.5, 0.6, 0.7], [0.8, 0.8, 0.8]]}  # two fractions, three seeds each
    plots.sample_efficiency([0.1, 1.0], results, tmp_path / "s.png", metric="AUROC")
    (fig,) = shown
    assert (fig["xlabel"], fig["ylabel"], fig["xscale"]) == ("fraction of training labels", "AUROC", "log")
    x, mean = fig["errorbars"]["cnn"]
    assert x == [0.1, 1.0] and mean == pytest.approx([0.6, 0.8])
    spread = (2 / 3) ** 0.5 * 0.1  # std of 0.5, 0.6, 0.7
    bars = sorted(fig["bars"])
    assert bars[0] == pytest.approx([0.1, 0.6 - spread, 0.1, 0.6 + spread])
    assert bars[1] == pytest.approx([1.0, 0.8, 1.0, 0.8])


def test_a_row_logged_at_the_resumed_checkpoint_s_step_is_cut_too(tmp_path):
    """Resumed from step 10: a validation logged at 10 was of step 11's weights, which the run threw
    away; kept, it would be the best validation loss of a curve the run never reached."""
    (tmp_path / "metrics.csv").write_text(_rows("5,,1.90", "9,1.81,", "10,,1.10"))
    plots.keep_log_for_resume(tmp_path, step=10)
    (tmp_path / "metrics.csv").write_text(_rows("11,,1.74", "14,1.60,"))
    logs = plots.read_logs(tmp_path)
    assert logs["val/loss"] == [(5, 1.90), (11, 1.74)]


def test_a_part_without_its_marker_is_cut_at_the_first_step_trained_again(tmp_path):
    """The next part trained from step 12 on: the old part's validation at 14 was of weights trained
    again, however far the next part went."""
    (tmp_path / "metrics.part0.csv").write_text(_rows("9,1.81,", "11,,1.73", "14,,1.20"))
    (tmp_path / "metrics.csv").write_text(_rows("12,1.70,", "15,,1.61", "19,1.52,"))
    logs = plots.read_logs(tmp_path)
    assert logs["val/loss"] == [(11, 1.73), (15, 1.61)]
    assert logs["train/loss"] == [(9, 1.81), (12, 1.70), (19, 1.52)]


def test_eleven_parts_are_read_in_the_order_they_were_kept(tmp_path):
    """part10 comes after part9, not after part1 (as text sorts it): read out of order, a part cuts
    the ones kept after it and a long, often requeued run loses most of its curve."""
    for i in range(11):
        (tmp_path / f"metrics.part{i}.csv").write_text(_rows(f"{10 * i + 1},{i},"))
    (tmp_path / "metrics.csv").write_text(_rows("111,11,"))
    assert plots.read_logs(tmp_path)["train/loss"] == [(10 * i + 1, i) for i in range(12)]
