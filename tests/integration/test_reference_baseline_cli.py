"""`scipt pretrain molecules` on a model that learns nothing (learning rate 1e-12): the run reports
that its validation loss is not below the loss of the per-element reference energies alone, records
that loss in metrics.json and draws it on the loss figure. An untrained run was reported healthy."""

import json
from pathlib import Path

from sciPT import plots
from sciPT.cli import main

SHIPPED = Path(__file__).resolve().parents[2] / "data_recipes" / "molecules"
ETHANOL = SHIPPED / "ethanol" / "train.xyz"
LABEL = "reference-only loss (per-element reference energies, zero forces)"


def test_an_untrained_run_says_it_is_not_below_the_reference_only_loss(tmp_path, monkeypatch):
    drawn = {}
    loss_curve = plots.loss_curve

    def record(*args, reference=None, **kwargs):
        drawn.update(reference or {})
        return loss_curve(*args, reference=reference, **kwargs)

    monkeypatch.setattr(plots, "loss_curve", record)
    out = tmp_path / "pre"
    args = ["pretrain", "molecules", "--preset", "tiny", "--data", str(ETHANOL), "--data.max-frames", "40"]
    args += ["--data.val-fraction", "0.2", "--max-steps", "3", "--lr", "1e-12", "--batch-size", "4"]
    args += ["--val-every", "3", "--checkpoint-every", "3", "--val-batches", "2", "--fisher.frames", "0"]
    assert main([*args, "--out", str(out)]) == 0

    metrics = json.loads((out / "metrics.json").read_text())
    reference_only = metrics["reference_only_val_loss"]
    assert 0 < reference_only <= metrics["val_loss"]
    assert drawn["reference energies only"] == reference_only
    first = (out / "report.md").read_text().splitlines()[:4]
    assert first[0] == "# molecules pre-training"
    assert first[2] == (
        f"**Warning:** the final validation loss, {metrics['val_loss']:#.4g}, is NOT below "
        f"{reference_only:#.4g}, the {LABEL}: the model has not learnt beyond per-element reference "
        "energies."
    )


def test_a_denoising_run_gets_no_reference_only_verdict(tmp_path):
    """Zero forces against centred noise: an untrained network's random forces lowered that loss by
    0.2 % at a learning rate of 1e-12, and the report said the model had learnt."""
    out = tmp_path / "den"
    args = ["pretrain", "molecules", "--preset", "tiny", "--data", str(ETHANOL), "--data.max-frames", "40"]
    args += ["--data.val-fraction", "0.2", "--max-steps", "3", "--lr", "1e-12", "--batch-size", "4"]
    args += ["--val-every", "3", "--checkpoint-every", "3", "--val-batches", "2", "--fisher.frames", "0"]
    assert main([*args, "--objective.kind", "denoise", "--out", str(out)]) == 0
    assert "reference_only_val_loss" not in json.loads((out / "metrics.json").read_text())
    assert "reference-only" not in (out / "report.md").read_text()
