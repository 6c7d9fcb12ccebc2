"""The force-field fine-tune's report, metrics and before/after figure, from hand-made inputs: the
signs a user reads as gained or forgotten, the counts and times, and the sentences that say what
was (not) measured."""

import dataclasses
import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch_geometric.data import Data

from sciPT import plots
from sciPT.callbacks import TimeBudget
from sciPT.config import to_dict
from sciPT.domains.molecules.evaluate import Evaluation
from sciPT.tasks.forcefield_config import ForcefieldConfig
from sciPT.tasks.forcefield_report import (
    before_after_plot,
    collect_metrics,
    report,
    without_forces,
    write_figures,
)


def fake_sets(**changes) -> SimpleNamespace:
    """The fields of :class:`~sciPT.tasks.forcefield_data.Sets` the report reads, empty by default."""
    fields = dict(
        references_method="model",
        eval={},
        head="acac",
        eval_head="train",
        eval_references=None,
        replay=[],
        corpus=[],
        train=[],
        val=[],
        not_held_out={},
        pretraining_unchecked=[],
        unfixed={},
    )
    return SimpleNamespace(**{**fields, **changes})


def fake_start(**changes) -> SimpleNamespace:
    fields = dict(name="pre-trained", extras={}, backbone=None, export={})
    return SimpleNamespace(**{**fields, **changes})


def config(**finetune) -> ForcefieldConfig:
    cfg = ForcefieldConfig()
    cfg.finetune = dataclasses.replace(cfg.finetune, **finetune)
    return cfg


def lines_of(cfg=None, start=None, sets=None, before=None, after=None, metrics=None, heads=()) -> list[str]:
    metrics = metrics or {"steps": 10, "train_wall_time_s": 1.0, "wall_time_s": 2.0}
    text = report(
        cfg or config(),
        start or fake_start(),
        sets or fake_sets(),
        before or {},
        after or {},
        metrics,
        [],
        None,
        heads,
    )
    return text.splitlines()


def frame(has_forces: bool | None) -> Data:
    """A graph as the loaders build it; ``None``: one read before frames recorded ``has_forces``."""
    return Data() if has_forces is None else Data(has_forces=torch.tensor([has_forces]))


# --- metrics.json ------------------------------------------------------------------------------
def test_collect_metrics_counts_frames_keeps_both_times_and_signs_the_change_after_minus_before():
    """The force RMSE change is after - before (negative: fine-tuning helped; positive on an eval
    set: forgetting); a set scored only before has no change; the two wall times stay apart."""
    before = {
        "val": Evaluation({"forces_rmse_meV_per_A": 50.0}),
        "eval_old": Evaluation({"forces_rmse_meV_per_A": 10.0}),
        "gone": Evaluation({"forces_rmse_meV_per_A": 7.0}),
    }
    after = {
        "val": Evaluation({"forces_rmse_meV_per_A": 30.0}),
        "eval_old": Evaluation({"forces_rmse_meV_per_A": 25.0}),
    }
    sets = SimpleNamespace(
        train=[0, 1, 2], val=[0], replay=[0, 1], not_held_out={"test_x": "it is the training file"}
    )
    trainer = SimpleNamespace(global_step=7, callbacks=[])
    metrics = collect_metrics(before, after, sets, trainer, fit_wall=1.234, wall=5.678)
    assert metrics["steps"] == 7
    assert (metrics["frames_train"], metrics["frames_val"], metrics["frames_replay"]) == (3, 1, 2)
    assert (metrics["train_wall_time_s"], metrics["wall_time_s"]) == (1.23, 5.68)
    assert "resumed_at_step" not in metrics and "steps_sized_from_time" not in metrics
    assert metrics["test_x_not_held_out"] == 1.0
    assert (
        metrics["val_forces_rmse_meV_per_A"] == 30.0 and metrics["val_before_forces_rmse_meV_per_A"] == 50.0
    )
    assert metrics["val_forces_rmse_change_meV_per_A"] == pytest.approx(-20.0)
    assert metrics["eval_old_forces_rmse_change_meV_per_A"] == pytest.approx(15.0)
    assert "gone_forces_rmse_change_meV_per_A" not in metrics
    resumed = collect_metrics({}, {}, sets, trainer, fit_wall=1.0, wall=2.0, resumed_at=3)
    assert resumed["resumed_at_step"] == 3


# --- frames without forces ---------------------------------------------------------------------
def test_without_forces_counts_the_training_and_validation_frames_that_lack_forces():
    """The sentence counts frames *without* forces, training first; a graph that does not record
    ``has_forces`` has them; nothing is said when every frame has forces."""
    sets = SimpleNamespace(train=[frame(True), frame(False), frame(None)], val=[frame(True), frame(True)])
    assert without_forces(sets) == (
        " Without forces (fitted on their energies; force errors are over the frames that have "
        "forces): 1 training and 0 validation frames."
    )
    assert without_forces(SimpleNamespace(train=[frame(True), frame(None)], val=[frame(True)])) == ""


# --- report.md ---------------------------------------------------------------------------------
def test_the_before_and_after_table_signs_gains_and_forgetting_per_set():
    """Each row: before, after, after - before for force RMSE then energy MAE per atom; an increase
    on eval_* is forgetting, so a flipped sign or swapped column inverts the verdict a user draws.
    A set with forces but no energy errors keeps its row, with dashes."""
    before = {
        "val": Evaluation(
            {"forces_rmse_meV_per_A": 50.0, "energy_mae_meV_per_atom": 2.0, "energy_mae_meV": 18.0}
        ),
        "eval_old": Evaluation({"forces_rmse_meV_per_A": 10.0, "energy_mae_meV_per_atom": 1.0}),
        "test_f": Evaluation({"forces_rmse_meV_per_A": 40.0}),
        "gone": Evaluation({"forces_rmse_meV_per_A": 7.0}),
    }
    after = {
        "val": Evaluation(
            {"forces_rmse_meV_per_A": 30.0, "energy_mae_meV_per_atom": 2.5, "energy_mae_meV": 22.5}
        ),
        "eval_old": Evaluation({"forces_rmse_meV_per_A": 25.0, "energy_mae_meV_per_atom": 0.7}),
        "test_f": Evaluation({"forces_rmse_meV_per_A": 35.0}),
    }
    lines = lines_of(before=before, after=after)
    header = "| set | F RMSE before (meV/Å) | after | change | E MAE before (meV/atom) | after | change |"
    start = lines.index(header)
    assert lines[start + 2 : start + 5] == [
        "| val | 50.0 | 30.0 | -20.0 | 2.0 | 2.5 | +0.5 |",
        "| eval_old | 10.0 | 25.0 | +15.0 | 1.0 | 0.7 | -0.3 |",
        "| test_f | 40.0 | 35.0 | -5.0 | - | - | - |",
    ]
    assert lines[start + 5] == ""  # "gone" was not scored after: no row


def test_the_before_column_says_when_the_references_were_refit():
    """With refit references "before" is not the export as it was: the report must say so, and
    only then."""
    before = {"val": Evaluation({"forces_rmse_meV_per_A": 50.0})}
    after = {"val": Evaluation({"forces_rmse_meV_per_A": 30.0})}
    refit = "\n".join(lines_of(sets=fake_sets(references_method="refit"), before=before, after=after))
    kept = "\n".join(lines_of(sets=fake_sets(references_method="model"), before=before, after=after))
    note = "(before: the pre-trained network with the references refit on this run's training frames"
    assert note in refit and note not in kept
    assert "a decrease is what fine-tuning gained.\n" in kept


def test_the_replay_line_counts_the_replayed_frames_and_the_scratch_command_drops_replay():
    """Replay: the number of pre-training frames (not the training frames) and the batch share; the
    from-scratch comparison must be run without --replay, which only a replay run needs told."""
    before = {"val": Evaluation({"forces_rmse_meV_per_A": 50.0})}
    after = {"val": Evaluation({"forces_rmse_meV_per_A": 30.0})}
    sets = fake_sets(replay=[0] * 4, train=[frame(True)] * 10, val=[frame(True)] * 2)
    lines = lines_of(
        cfg=config(strategy="replay", replay_fraction=0.25), sets=sets, before=before, after=after
    )
    assert "Replay: 4 pre-training frames, 0.25 of every batch." in lines
    assert "10 training and 2 validation frames." in lines
    assert any("--strategy full` without `--replay` and another `--out`" in line for line in lines)
    plain = lines_of(before=before, after=after)
    assert not any("Replay:" in line or "without `--replay`" in line for line in plain)


def test_the_data_table_the_provenance_and_the_sets_not_held_out():
    """Frames, then atoms, with thousands separators; the file hashes shortened to 16 hex digits;
    what pre-training trained and validated on, each with its own count; sets that are not held
    out named with the reason."""
    sets = fake_sets(
        corpus=[
            {"path": "acac.xyz", "records": 1200, "residues": 10800, "sha256": "0123456789abcdef" + "f" * 48}
        ],
        not_held_out={"test_acac": "the training file itself"},
    )
    start = fake_start(
        export={
            "pretrained_on": [{"path": "/data/ethanol/train.xyz", "records": 1000}],
            "validated_on": [{"path": "/data/ethanol/val.xyz", "records": 100}],
        }
    )
    lines = lines_of(sets=sets, start=start)
    assert "| acac.xyz | 1,200 | 10,800 | `0123456789abcdef…` |" in lines
    assert "- test_acac: the training file itself" in lines
    assert "**Not held out** (their errors below are not held-out errors):" in lines
    assert (
        "Pre-trained on: train.xyz (1,000 frames); validated on (never trained on): val.xyz (100 frames)"
        in lines
    )
    assert not any("Not held out" in line for line in lines_of())


@pytest.mark.parametrize(
    "metrics, line",
    [
        (
            {"steps": 10, "train_wall_time_s": 12.4, "wall_time_s": 20.6},
            "10 steps in 12 s; total wall time 21 s.",
        ),
        (
            {"steps": 10, "resumed_at_step": 4, "train_wall_time_s": 12.4, "wall_time_s": 20.6},
            "10 steps, the 6 after step 4 (where this process resumed the run) in 12 s; this process's "
            "wall time 21 s.",
        ),
    ],
)
def test_the_time_line_separates_training_from_wall_time_and_counts_a_resumed_runs_steps(metrics, line):
    """A resumed process trained steps - resumed_at steps; its training and wall seconds are two numbers."""
    assert line in lines_of(metrics=metrics)


def test_the_head_warm_up_line_gives_the_share_of_the_run_and_the_ramp():
    """A fraction of the run is restated as such; a warm-up given in steps is not; the ramp is
    head_warmup_ramp when set, else as long as the warm-up."""
    fraction = lines_of(
        cfg=config(head_warmup=0.5),
        metrics={"steps": 3, "head_warmup_steps": 2, "train_wall_time_s": 1.0, "wall_time_s": 2.0},
    )
    assert (
        "Head warm-up: the new head alone for the first 2 of 3 optimizer steps (0.5 of the run), then "
        "the shared blocks joined on a 2-step learning-rate ramp."
    ) in fraction
    steps = lines_of(
        cfg=config(head_warmup=1, head_warmup_ramp=5),
        metrics={"steps": 1000, "head_warmup_steps": 1, "train_wall_time_s": 1.0, "wall_time_s": 2.0},
    )
    assert (
        "Head warm-up: the new head alone for the first 1 of 1,000 optimizer steps, then the shared "
        "blocks joined on a 5-step learning-rate ramp."
    ) in steps


FORGETTING = "**Forgetting was not measured**: no `--eval` set"


@pytest.mark.parametrize(
    "strategy, backbone, eval_sets, said",
    [
        ("replay", object(), {}, ", and replay exists to limit forgetting."),
        ("ewc", object(), {}, ", and ewc exists to limit forgetting."),
        ("full", object(), {}, "was given. With `--eval FILE`"),
        ("full", None, {}, None),  # from scratch: there is nothing to forget
        ("replay", object(), {"eval_old": [0]}, None),  # measured
    ],
)
def test_forgetting_not_measured_is_said_of_a_pretrained_start_without_eval_sets(
    strategy, backbone, eval_sets, said
):
    """A fine-tune from a pre-trained model with no --eval set cannot tell forgetting; the line
    says so (and that ewc/replay exist for it), and is absent where there is nothing to say."""
    lines = lines_of(
        cfg=config(strategy=strategy), start=fake_start(backbone=backbone), sets=fake_sets(eval=eval_sets)
    )
    found = [line for line in lines if line.startswith(FORGETTING)]
    if said is None:
        assert found == []
    else:
        assert len(found) == 1 and said in found[0]
        assert ("exists to limit forgetting" in found[0]) == (strategy in ("ewc", "replay"))


def test_the_heads_line_says_when_eval_sets_use_the_pretrained_references():
    line = "Heads: trained **acac**; the old task (eval sets) through **train**{}; the model's heads: train, acac."
    swapped = lines_of(sets=fake_sets(eval_references=[1.0, 2.0]), heads=["train", "acac"])
    assert line.format(" with the pre-trained references") in swapped
    assert line.format("") in lines_of(heads=["train", "acac"])


# --- before_after.png ------------------------------------------------------------------------
def test_the_before_after_bars_are_in_order_and_annotated_with_after_minus_before(monkeypatch, tmp_path):
    """The grey bar is before, the blue one after; each annotation is after - before, so a negative
    number reads as improvement and a positive one on eval_* as forgetting."""
    saved = []
    monkeypatch.setattr(plots, "save", lambda fig, png: saved.append(fig) or png)
    png = before_after_plot({"val": (50.0, 30.0), "eval_old": (10.0, 25.0)}, tmp_path / "ba.png")
    assert png == tmp_path / "ba.png"
    (ax,) = saved[0].axes
    before, after = ax.containers
    assert [bar.get_height() for bar in before] == [
        50.0,
        10.0,
    ] and before.get_label() == "before (pre-trained)"
    assert [bar.get_height() for bar in after] == [30.0, 25.0] and after.get_label() == "after fine-tuning"
    assert [t.get_text() for t in ax.texts] == ["-20", "+15"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["val", "eval_old"]
    plots.pyplot().close(saved[0])


def test_the_report_states_the_ewc_strength_in_units_of_the_stored_fishers_scale():
    """The EWC line of ``report.md``: an export recording a pre-training loss of 0.25 has
    λ₀ = 1 / (2 x 0.25) = 2, so --ewc-lambda 10 is 10 / 2 = 5 λ₀."""
    cfg = ForcefieldConfig()
    cfg.finetune = dataclasses.replace(cfg.finetune, strategy="ewc", ewc_lambda=10.0)
    start = SimpleNamespace(
        name="pre", extras={"ewc.pretraining_loss": torch.tensor(0.25)}, backbone=None, export={}
    )
    metrics = {"steps": 5, "train_wall_time_s": 1.0, "wall_time_s": 2.0}
    lines = report(cfg, start, fake_sets(head="train"), {}, {}, metrics, [], None).splitlines()
    assert [line for line in lines if line.startswith("EWC:")] == [
        "EWC: λ = 10 = 5 λ₀ (λ₀ = 2, the scale of the stored Fisher, sciPT.domains.molecules.ewc)."
    ]


# --- second mutation pass --------------------------------------------------------------------
def test_a_time_sized_run_records_the_steps_its_budget_settled_on_and_a_set_without_forces_no_change():
    """steps_sized_from_time is the TimeBudget's total, not the steps taken so far; a set scored
    before without a force RMSE (energies only) gets no force change and breaks nothing."""
    budget = TimeBudget(60.0)
    budget.total_steps = 120
    trainer = SimpleNamespace(global_step=7, callbacks=[budget])
    sets = SimpleNamespace(train=[0], val=[0], replay=[], not_held_out={})
    before = {"test_e": Evaluation({"energy_mae_meV_per_atom": 3.0})}
    after = {"test_e": Evaluation({"energy_mae_meV_per_atom": 1.0})}
    metrics = collect_metrics(before, after, sets, trainer, fit_wall=1.0, wall=2.0)
    assert metrics["steps"] == 7 and metrics["steps_sized_from_time"] == 120
    assert metrics["test_e_before_energy_mae_meV_per_atom"] == 3.0
    assert metrics["test_e_energy_mae_meV_per_atom"] == 1.0
    assert not any("change" in key for key in metrics)


PARITY = ["parity_energy.png", "parity_forces.png", "eval_parity_energy.png", "eval_parity_forces.png"]
BEFORE_AFTER = "force RMSE before and after fine-tuning"


def test_write_figures_puts_the_new_task_and_the_old_task_in_their_own_parity_plots(monkeypatch, tmp_path):
    """eval_* sets (the old task) get parity plots of their own titled "(old task)", apart from the
    new task's; the before/after bars hold only the sets with a force RMSE both before and after."""
    saved = []
    monkeypatch.setattr(plots, "save", lambda fig, png: saved.append(fig) or png)
    monkeypatch.setattr(plots, "loss_curve", lambda *args, **kwargs: None)
    run = SimpleNamespace(logs=tmp_path / "logs", plot_path=lambda name: tmp_path / name)

    def scored(f_rmse):
        return Evaluation(
            {"energy_rmse_meV_per_atom": 1.0, "forces_rmse_meV_per_A": f_rmse},
            energy=(np.array([0.0, 0.01]), np.array([0.0, 0.02])),
            forces=(np.array([1.0]), np.array([0.9])),
        )

    before = {
        "val": Evaluation({"forces_rmse_meV_per_A": 50.0}),
        "test_e": Evaluation({"energy_mae_meV_per_atom": 3.0}),
        "gone": Evaluation({"forces_rmse_meV_per_A": 7.0}),
    }
    after = {"val": scored(30.0), "test_e": scored(20.0), "eval_old": scored(25.0)}
    figures = write_figures(run, before, after)
    assert figures == [tmp_path / name for name in PARITY] + [tmp_path / "before_after.png"]
    titles = [fig.axes[0].get_title() for fig in saved]
    assert titles == ["energy", "forces", "energy (old task)", "forces (old task)", BEFORE_AFTER]
    legends = [[t.get_text().split()[0] for t in fig.axes[0].get_legend().get_texts()] for fig in saved[:4]]
    assert legends == [["val", "test_e"], ["val", "test_e"], ["eval_old"], ["eval_old"]]
    (ax,) = saved[4].axes
    before_bars, after_bars = ax.containers
    assert [b.get_height() for b in before_bars] == [50.0] and [b.get_height() for b in after_bars] == [30.0]
    for fig in saved:
        plots.pyplot().close(fig)


def test_the_before_after_annotation_sits_on_the_after_bar(monkeypatch, tmp_path):
    """The after - before number is written above the blue (after) bar, at x + 0.2 and its height."""
    saved = []
    monkeypatch.setattr(plots, "save", lambda fig, png: saved.append(fig) or png)
    before_after_plot({"val": (50.0, 30.0), "eval_old": (10.0, 25.0)}, tmp_path / "ba.png")
    (ax,) = saved[0].axes
    assert [t.xy for t in ax.texts] == [(pytest.approx(0.2), 30.0), (pytest.approx(1.2), 25.0)]
    plots.pyplot().close(saved[0])


def test_the_report_gives_the_command_the_unchecked_pretraining_files_and_the_unfixed_offsets():
    """The command as run, indented as code; the pre-training files the test frames were not
    compared with, joined by "; "; each set whose energies carry an unmeasured offset, by its reason."""
    sets = fake_sets(
        pretraining_unchecked=["a.xyz", "b.xyz"],
        unfixed={"test_x": "test_x: references of another level of theory"},
    )
    text = "\n".join(
        report(
            config(),
            fake_start(),
            sets,
            {},
            {},
            {"steps": 10, "train_wall_time_s": 1.0, "wall_time_s": 2.0},
            [],
            "scipt forcefield --init pre.pt",
            (),
        ).splitlines()
    )
    assert "\n\nCommand:\n\n    scipt forcefield --init pre.pt\n" in text
    assert "\nTest and eval frames not compared with these pre-training files: a.xyz; b.xyz.\n" in text
    assert (
        "\n**Energies with an unmeasured offset** (forces are unaffected):\n\n"
        "- test_x: references of another level of theory\n"
    ) in text
    plain = "\n".join(lines_of())
    assert "Command:" not in plain and "unmeasured offset" not in plain and "not compared" not in plain


def test_the_errors_table_is_of_the_fine_tuned_model_and_a_set_with_no_shared_metric_has_no_row():
    """ "Errors after fine-tuning" lists the after numbers (rounded to 0.1), per element too, never
    the before ones; a set scored both times with neither a force RMSE nor an energy MAE per atom
    has no before/after row (a row of dashes says nothing)."""
    before = {
        "val": Evaluation(
            {"energy_mae_meV_per_atom": 4.0, "forces_rmse_meV_per_A": 50.0, "forces_rmse_meV_per_A_H": 60.0}
        ),
        "test_s": Evaluation({"stress_mae_eV_per_A3": 0.1}),
    }
    after = {
        "val": Evaluation(
            {
                "energy_mae_meV_per_atom": 1.26,
                "energy_rmse_meV": 20.04,
                "forces_mae_meV_per_A": 22.0,
                "forces_rmse_meV_per_A": 30.0,
                "forces_rmse_meV_per_A_H": 35.06,
            }
        ),
        "test_s": Evaluation({"stress_mae_eV_per_A3": 0.05}),
    }
    lines = lines_of(before=before, after=after)
    start = lines.index("## Errors after fine-tuning")
    assert lines[start + 2 : start + 11] == [
        "| set | E MAE (meV/atom) | E RMSE (meV/frame) | F MAE (meV/Å) | F RMSE (meV/Å) |",
        "|---|---|---|---|---|",
        "| val | 1.3 | 20.0 | 22.0 | 30.0 |",
        "| test_s | – | – | – | – |",
        "",
        "| set | F RMSE H |",
        "|---|---|",
        "| val | 35.1 |",
        "| test_s | – |",
    ]
    table = lines.index(
        "| set | F RMSE before (meV/Å) | after | change | E MAE before (meV/atom) | after | change |"
    )
    assert lines[table + 2 : table + 4] == ["| val | 50.0 | 30.0 | -20.0 | 4.0 | 1.3 | -2.7 |", ""]


def test_the_plots_are_linked_under_the_plots_folder_and_the_configuration_is_the_whole_config(tmp_path):
    """Each figure as a markdown image, named by its stem, at plots/NAME relative to report.md; no
    Plots section without figures; the configuration block parses back to the run's whole config."""
    cfg = config(strategy="ewc")
    metrics = {"steps": 10, "train_wall_time_s": 1.0, "wall_time_s": 2.0}
    figures = [tmp_path / "plots" / "loss.png", tmp_path / "plots" / "parity_forces.png"]
    lines = report(cfg, fake_start(), fake_sets(), {}, {}, metrics, figures, None).splitlines()
    start = lines.index("## Plots")
    assert lines[start + 1 : start + 5] == [
        "",
        "![loss](plots/loss.png)",
        "![parity_forces](plots/parity_forces.png)",
        "",
    ]
    assert "## Plots" not in lines_of()
    block = lines.index("```json")
    parsed = json.loads("\n".join(lines[block + 1 : lines.index("```", block + 1)]))
    assert parsed == json.loads(json.dumps(to_dict(cfg))) and parsed["finetune"]["strategy"] == "ewc"
