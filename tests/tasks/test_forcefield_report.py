"""The force-field fine-tune's report, metrics and before/after figure, from hand-made inputs: the
signs a user reads as gained or forgotten, the counts and times, and the sentences that say what
was (not) measured."""

import dataclasses
from types import SimpleNamespace

import pytest
import torch
from torch_geometric.data import Data

from sciPT import plots
from sciPT.domains.molecules.evaluate import Evaluation
from sciPT.tasks.forcefield_config import ForcefieldConfig
from sciPT.tasks.forcefield_report import before_after_plot, collect_metrics, report, without_forces


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
