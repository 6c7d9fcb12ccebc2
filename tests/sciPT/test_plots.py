"""The loss curve draws what its labels say."""

import json

from sciPT import plots


def drawn(monkeypatch, tmp_path, rows: str, **kw) -> dict:
    """The lines ``plots.loss_curve`` draws from a metrics.csv of ``rows``: ``{label: (x, y, marker)}``."""
    (tmp_path / "metrics.csv").write_text(rows)
    lines = {}

    def keep(fig, path):
        for line in fig.axes[0].get_lines():
            lines[line.get_label()] = (list(line.get_xdata()), list(line.get_ydata()), line.get_marker())
        plots.pyplot().close(fig)
        return path

    monkeypatch.setattr(plots, "save", keep)
    assert plots.loss_curve(tmp_path, tmp_path / "loss.png", **kw) is not None
    return lines


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
