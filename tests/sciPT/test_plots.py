"""The loss curve draws what its labels say."""

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
