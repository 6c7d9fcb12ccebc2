"""The pre-training driver's pure helpers (:mod:`sciPT.pretrain`): the resume checks and note, the
numbers of metrics.json, the loss baseline's verdict and report.md's sentences, on hand-built inputs."""

import math
from types import SimpleNamespace

import pytest
import torch

from sciPT.errors import DataError
from sciPT.export import CHECKPOINT_KEY
from sciPT.pretrain import (
    LossBaseline,
    _collapse_check,
    _final_metrics,
    _report,
    baseline_verdict,
    check_unchanged_files,
    loss_baseline,
    schedule_resized,
    with_earlier_corpus,
)
from sciPT.schedules import ScheduleConfig

# -- schedule_resized --------------------------------------------------------------------------


def _train(max_steps, name="cosine", warmup_steps=1):
    return SimpleNamespace(
        max_steps=max_steps,
        lr=0.1,
        schedule=ScheduleConfig(name=name, warmup_steps=warmup_steps, min_lr_ratio=0.1),
    )


def test_a_resume_to_more_steps_says_how_far_the_rate_jumps():
    """4 steps (1 of warm-up), resumed to 8: step 3 ran at 0.1 x (0.1 + 0.9 x (1 + cos(2/3 pi)) / 2),
    step 4 runs at 0.1 x (0.1 + 0.9 x (1 + cos(3/7 pi)) / 2): the user is told the rate goes up."""
    last = 0.1 * (0.1 + 0.9 * (1 + math.cos(2 / 3 * math.pi)) / 2)
    next_ = 0.1 * (0.1 + 0.9 * (1 + math.cos(3 / 7 * math.pi)) / 2)
    assert f"{last:.3g} to {next_:.3g}" == "0.0325 to 0.065"
    assert schedule_resized(_train(8), 4, 4) == (
        "--max-steps 8: the cosine learning-rate schedule, sized for 4 steps, follows the new total "
        "from step 4: its rate goes from 0.0325 to 0.065"
    )
    # linear decays too: 0.1 x (0.1 + 0.9 x (1 - 2/3)) = 0.04, then 0.1 x (0.1 + 0.9 x (1 - 3/7))
    assert schedule_resized(_train(8, "linear"), 4, 4).endswith(
        f"goes from 0.04 to {0.1 * (0.1 + 0.9 * 4 / 7):.3g}"
    )


def test_a_resume_that_changes_nothing_in_the_schedule_says_nothing():
    """No note where the rate does not move: same total, no new steps, a schedule without a total,
    or a run still in (or just out of) its warm-up, whose rate the total does not set."""
    assert schedule_resized(_train(4), 4, 2) is None  # same total
    assert schedule_resized(_train(8), 8, 8) is None
    assert schedule_resized(_train(8), 4, 8) is None  # nothing left to train
    assert schedule_resized(_train(8, "constant"), 4, 3) is None
    assert schedule_resized(_train(8), None, 3) is None  # an earlier total not recorded (time-sized)
    assert schedule_resized(_train(8, warmup_steps=4), 6, 4) is None  # step 3 warm-up, step 4 the peak


# -- check_unchanged_files, with_earlier_corpus ------------------------------------------------


def _checkpoint(pretrained_on, step=1234):
    return {CHECKPOINT_KEY: {"config": {"pretrained_on": pretrained_on}}, "global_step": step}


def test_a_resume_on_an_edited_file_is_refused_naming_both_digests(tmp_path):
    """An edited file moves its validation part onto data the run trained on: the run would score
    its training data as held out. Added files, and the file unchanged, are fine."""
    path = str(tmp_path / "a.fa")
    ckpt = _checkpoint([{"path": path, "sha256": "a" * 64}])
    check_unchanged_files([{"path": path, "sha256": "a" * 64}, {"path": "b.fa", "sha256": "c" * 64}], ckpt)
    with pytest.raises(DataError) as err:
        check_unchanged_files([{"path": path, "sha256": "b" * 64}], ckpt)
    assert str(err.value) == (
        f"--resume: {path} changed since the run trained on it (sha256 {'a' * 12}... up to step 1,234, "
        f"{'b' * 12}... now): its validation part would move onto data the run trained on; restore the "
        "file, or start a new --out"
    )


def test_a_resume_that_reads_another_file_by_a_shipped_name_is_refused(tmp_path, monkeypatch):
    """A run records a shipped file as data_recipes/..., found from any directory; resumed in a
    folder with a data_recipes/ of its own, that name reads the folder's file. Another file by that
    name is refused, naming both; the same content there, or a name the run never read, is fine."""
    shipped = str(tmp_path / "repo" / "data_recipes" / "dna" / "g.fa")
    ckpt = _checkpoint([{"path": shipped, "sha256": "a" * 64}], step=300)
    monkeypatch.chdir(tmp_path)
    local = tmp_path / "data_recipes" / "dna" / "g.fa"
    local.parent.mkdir(parents=True)
    local.write_text(">lambda\nACGT\n")
    check_unchanged_files([{"path": "data_recipes/dna/g.fa", "sha256": "a" * 64}], ckpt)
    check_unchanged_files([{"path": "data_recipes/dna/other.fa", "sha256": "b" * 64}], ckpt)
    with pytest.raises(DataError) as err:
        check_unchanged_files([{"path": "data_recipes/dna/g.fa", "sha256": "b" * 64}], ckpt)
    assert str(err.value) == (
        f"--resume: data_recipes/dna/g.fa is read here as {local} (sha256 {'b' * 12}...), "
        f"not as {shipped} (sha256 {'a' * 12}...), on which the run trained up to step 300: resume from "
        "a folder without a data_recipes/dna/g.fa of its own, or start a new --out"
    )


def test_a_rank_with_no_corpus_records_none_of_the_earlier_files():
    """On ranks other than 0 a sharded corpus is empty; only rank 0 writes the export."""
    earlier = _checkpoint([{"path": "/a.fa", "sha256": "a" * 64}])
    assert with_earlier_corpus([], earlier) == []


# -- _final_metrics ----------------------------------------------------------------------------


def _logged_trainer(tmp_path, rows, callbacks=()):
    (tmp_path / "metrics.csv").write_text("step,train/loss,val/loss\n" + "".join(f"{r}\n" for r in rows))
    return SimpleNamespace(
        logger=SimpleNamespace(log_dir=str(tmp_path)), global_step=8, world_size=2, callbacks=list(callbacks)
    )


def test_metrics_json_has_the_final_and_the_best_validation_loss(tmp_path):
    """val_loss is the final weights' (what the export holds), val_loss_best the lowest seen; the
    report's whole numbers (counts) are kept beside its fractions, text is not."""
    from sciPT.callbacks import TimeBudget

    budget = TimeBudget(60.0)
    budget.total_steps = 8
    trainer = _logged_trainer(tmp_path, ["1,2.0,", "3,,1.9", "5,,1.5", "7,1.4,1.7"], [budget])
    setup = SimpleNamespace(report={"order0_entropy_nats": 1.38, "n_sequences": 12, "note": "x", "k": [1]})
    metrics = _final_metrics(trainer, None, setup, 12.345, ["d", "d"], {"train/loss": 1.4})
    assert metrics == {
        "steps": 8,
        "train_loss": 1.4,
        "wall_time_s": 12.35,
        "world_size": 2,
        "ranks_identical": 1.0,
        "steps_sized_from_time": 8,
        "val_loss": 1.7,
        "val_loss_best": 1.5,
        "order0_entropy_nats": 1.38,
        "n_sequences": 12,
    }


def test_ranks_that_ended_apart_are_flagged_even_from_an_earlier_process(tmp_path):
    """Two ranks with different weights digests: 0.0, which report.md turns into a warning; a
    process that trained nothing reads the digests the training one left."""
    trainer = _logged_trainer(tmp_path, ["7,1.4,"])
    setup = SimpleNamespace(report={})
    assert _final_metrics(trainer, None, setup, 1.0, ["d", "e"], {})["ranks_identical"] == 0.0
    (tmp_path / "rank_digests.json").write_text('["d", "e"]')
    metrics = _final_metrics(trainer, None, setup, 1.0, [], {})
    assert metrics["ranks_identical"] == 0.0 and metrics["train_loss"] == 1.4


# -- loss_baseline, baseline_verdict -----------------------------------------------------------


def test_a_baseline_needs_a_finite_number_and_is_drawn_under_its_label():
    """A NaN or a flag (True) as the baseline would print a meaningless verdict; the figure's legend
    defaults to the label the report uses."""
    spec = {"key": "b", "label": "reference-only loss", "meaning": "reference energies"}
    assert loss_baseline({"loss_baseline": spec, "b": math.nan}) is None
    assert loss_baseline({"loss_baseline": spec, "b": True}) is None
    assert loss_baseline({"loss_baseline": spec, "b": 2}) == LossBaseline(
        "b", "reference-only loss", "reference energies", 2.0, "reference-only loss"
    )


def test_a_run_that_did_not_validate_says_so_beside_the_baseline():
    baseline = LossBaseline("k", "reference-only loss", "per-element reference energies", 1.6)
    assert baseline_verdict(baseline, None) == (
        "No validation loss to compare with 1.600, the reference-only loss: this run did not validate."
    )


# -- _collapse_check ---------------------------------------------------------------------------


def _collapse_setup(n, seen):
    batches = [torch.randn(1, 8, generator=torch.Generator().manual_seed(i)) for i in range(n)]

    def embed(batch):
        seen.append(batch)
        return batch

    return SimpleNamespace(embed=embed, datamodule=SimpleNamespace(val_dataloader=lambda: batches))


def test_collapse_is_judged_from_three_embeddings_on_and_at_most_max_batches():
    """Three points no longer lie on one line by necessity: a verdict; the check reads no more
    than ``max_batches`` validation batches (it runs after training, on rank 0 alone)."""
    seen = []
    assert _collapse_check(_collapse_setup(3, seen), torch.nn.Linear(1, 1)) is not None
    seen.clear()
    _collapse_check(_collapse_setup(10, seen), torch.nn.Linear(1, 1), max_batches=4)
    assert len(seen) == 4


# -- _report -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cfg():
    from sciPT.registry import domains

    return domains.get("dna").presets()["tiny"]()


def _paragraphs(cfg, metrics, report, corpus=()):
    setup = SimpleNamespace(corpus=list(corpus), report=report)
    return _report("DNA", cfg, setup, metrics, None, None).split("\n\n")


def test_the_entropy_sentence_says_below_only_when_strictly_below(cfg):
    """A loss equal to the order-0 entropy is a model that learnt residue frequencies and nothing else."""
    at = _paragraphs(cfg, {"val_loss": 1.386}, {"order0_entropy_nats": 1.386})
    assert (
        "The validation masked-token loss (1.386 nats) is NOT below the order-0 entropy of the corpus "
        "(1.386 nats): the model has not yet learnt more than residue frequencies."
    ) in at
    below = _paragraphs(cfg, {"val_loss": 1.2}, {"order0_entropy_nats": 1.386, "tokenizer_k": 1})
    assert (
        "The validation masked-token loss (1.200 nats) is below the order-0 entropy of the corpus "
        "(1.386 nats): the model uses context beyond residue frequencies."
    ) in below
    kmers = _paragraphs(cfg, {"val_loss": 1.2}, {"order0_entropy_nats": 1.386, "tokenizer_k": 3})
    assert (
        "Tokens are overlapping 3-mers: the masked-token loss is per k-mer, the order-0 entropy "
        "(1.386 nats) per residue, so the two are not compared."
    ) in kmers
    assert not [p for p in kmers if "is below" in p or "NOT below" in p]


def test_a_resumed_run_s_report_counts_only_the_steps_this_process_trained(cfg):
    paragraphs = _paragraphs(cfg, {"steps": 10, "resumed_at_step": 4}, {})
    assert (
        "This process resumed the run at step 4: wall_time_s is its own time, for the 6 steps after it, "
        "not the whole run's."
    ) in paragraphs


def test_the_rank_warning_is_for_ranks_that_differed_not_for_a_single_process(cfg):
    warning = "**Warning:** ranks ended with different weights."
    assert warning not in _paragraphs(cfg, {"steps": 3}, {})
    assert warning not in _paragraphs(cfg, {"ranks_identical": 1.0}, {})
    assert warning in _paragraphs(cfg, {"ranks_identical": 0.0}, {})


def test_the_baseline_verdict_opens_the_report_and_judges_the_final_weights(cfg):
    """The exported model is the final one: a best loss below the baseline must not hide a final
    loss above it."""
    spec = {"key": "b", "label": "reference-only loss", "meaning": "per-element reference energies"}
    paragraphs = _paragraphs(cfg, {"val_loss": 1.7, "val_loss_best": 1.5}, {"loss_baseline": spec, "b": 1.6})
    assert paragraphs[0] == "# DNA pre-training"
    assert paragraphs[1] == (
        "**Warning:** the final validation loss, 1.700, is NOT below 1.600, the reference-only loss: "
        "the model has not learnt beyond per-element reference energies."
    )


def test_a_process_that_trained_nothing_reports_the_logs_last_training_loss(tmp_path):
    """A run resumed at its last step logs no loss of its own: metrics.json's train_loss is then the
    final step's from the logs, not the first one's."""
    trainer = _logged_trainer(tmp_path, ["1,2.0,", "3,1.8,", "7,1.4,"])
    assert _final_metrics(trainer, None, SimpleNamespace(report={}), 1.0, [], {})["train_loss"] == 1.4


def test_this_processs_own_digests_stand_over_an_earlier_processs(tmp_path):
    """Digests left by an earlier process describe weights this one trained further: they are read
    only when this process has none, or a run that recovered would still be flagged."""
    trainer = _logged_trainer(tmp_path, ["7,1.4,"])
    (tmp_path / "rank_digests.json").write_text('["d", "e"]')
    metrics = _final_metrics(trainer, None, SimpleNamespace(report={}), 1.0, ["f", "f"], {})
    assert metrics["ranks_identical"] == 1.0


def test_a_classification_runs_validation_accuracy_lands_in_metrics_json(tmp_path):
    trainer = _logged_trainer(tmp_path, ["7,1.4,1.6"])
    metrics = _final_metrics(trainer, None, SimpleNamespace(report={}), 1.0, [], {"val/accuracy": 0.75})
    assert metrics["val_accuracy"] == 0.75


def test_an_infinite_baseline_is_no_baseline():
    """Every finite loss is below an infinite baseline: its verdict would say nothing."""
    spec = {"key": "b", "label": "reference-only loss"}
    assert loss_baseline({"loss_baseline": spec, "b": math.inf}) is None


def test_a_loss_below_the_baseline_says_by_how_much_absolutely_and_relatively():
    """1.2 against 1.6: 0.4 lower, 0.4 / 1.6 = 25 % of the baseline."""
    baseline = LossBaseline("k", "reference-only loss", "per-element reference energies", 1.6)
    assert baseline_verdict(baseline, 1.2) == (
        "The final validation loss, 1.200, is below 1.600, the reference-only loss, by 0.400 (25.0 % lower): "
        "the model has learnt beyond per-element reference energies."
    )


def test_a_loss_equal_to_the_baseline_is_not_below_it():
    """A model that only reaches the baseline has learnt nothing beyond it."""
    baseline = LossBaseline("k", "reference-only loss", "per-element reference energies", 1.6)
    assert baseline_verdict(baseline, 1.6).startswith(
        "**Warning:** the final validation loss, 1.600, is NOT below"
    )


def test_a_baseline_at_or_below_zero_gets_no_percentage():
    """A percentage of a zero (or negative) baseline is meaningless (or a division by zero)."""
    zero = LossBaseline("k", "zero loss", "nothing", 0.0)
    assert baseline_verdict(zero, -0.5) == (
        "The final validation loss, -0.5000, is below 0.000, the zero loss, by 0.500: "
        "the model has learnt beyond nothing."
    )


def test_the_reports_data_table_names_each_file_its_digest_and_counts(cfg):
    """The table says which files (by SHA-256 prefix) the run trained on, with the domain's words for
    its counts and thousands separators; the byte size stays out, a ``|`` in a path is escaped."""
    entry = {
        "path": "/data/a|b.fa",
        "sha256": "0123456789abcdef" * 4,
        "bytes": 2048,
        "sequences": 12345,
        "source": "x",
    }
    summary = ["Sampled by size.", "Curated: none dropped."]
    setup = SimpleNamespace(corpus=[entry], report={"data_summary": summary})
    report = _report("DNA", cfg, setup, {}, None, None, words={"sequences": "sequences kept"})
    paragraphs = report.split("\n\n")
    table = paragraphs[paragraphs.index("## Data") + 1]
    assert table == (
        "| file | sha256 | sequences kept | source |\n"
        "|---|---|---|---|\n"
        "| /data/a\\|b.fa | `0123456789abcdef…` | 12,345 | x |"
    )
    assert paragraphs[paragraphs.index("## Data") + 2] == "Sampled by size.\nCurated: none dropped."


def test_the_reports_metrics_table_rounds_fractions_to_four_digits_and_keeps_counts(cfg):
    paragraphs = _paragraphs(cfg, {"steps": 1200, "val_loss": 1.234567}, {})
    assert paragraphs[paragraphs.index("## Metrics") + 1] == (
        "| metric | value |\n|---|---|\n| steps | 1200 |\n| val_loss | 1.235 |"
    )


def test_the_report_links_the_loss_figure_under_plots_and_states_collapse(cfg):
    """report.md sits beside plots/: the link must resolve from there."""
    from pathlib import Path

    setup = SimpleNamespace(corpus=[], report={})
    collapse = SimpleNamespace(sentence=lambda: "The embeddings did not collapse.")
    report = _report("DNA", cfg, setup, {}, Path("/run/plots/loss.png"), None, collapse)
    paragraphs = report.split("\n\n")
    assert "![loss curve](plots/loss.png)" in paragraphs
    assert (
        paragraphs[paragraphs.index("## Representation collapse") + 1] == "The embeddings did not collapse."
    )


def test_a_sharded_run_says_its_collapse_was_not_checked(cfg):
    """An fsdp2 run's encoder cannot run on rank 0 alone, so the check is left out: the section was
    missing, which read as a check passed (found by an audit)."""
    import dataclasses

    sharded = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, strategy="fsdp2"))
    setup = SimpleNamespace(corpus=[], report={}, embed=lambda batch: batch)
    paragraphs = _report("DNA", sharded, setup, {}, None, None).split("\n\n")
    assert paragraphs[paragraphs.index("## Representation collapse") + 1] == (
        "Not checked: the check runs the encoder on one rank, and a sharded run's (--strategy fsdp2) "
        "gathers its weights from every rank."
    )


# -- ExportRecord ------------------------------------------------------------------------------


def test_last_ckpt_is_saved_at_the_end_only_when_the_last_periodic_save_was_earlier(tmp_path):
    """A run stopped between two periodic saves must still leave its final weights (and the export
    record) in last.ckpt: the model exported from it would otherwise be an earlier step's."""
    from sciPT.pretrain import ExportRecord

    saves = []
    record = ExportRecord({"config": {"d_model": 8}}, tmp_path / "last.ckpt")
    checkpoint = {}
    record.on_save_checkpoint(SimpleNamespace(global_step=4), None, checkpoint)
    assert checkpoint[CHECKPOINT_KEY] == {"config": {"d_model": 8}}

    def trainer(step):
        return SimpleNamespace(global_step=step, save_checkpoint=lambda path, **kw: saves.append((path, kw)))

    record.on_train_end(trainer(4), None)  # saved at this very step: nothing to add
    assert saves == []
    record.on_train_end(trainer(5), None)  # a step (or time) limit one step after the save
    assert saves == [(tmp_path / "last.ckpt", {"weights_only": False})]


def test_the_best_validation_loss_may_be_the_final_one(tmp_path):
    trainer = _logged_trainer(tmp_path, ["3,,1.9", "5,,1.7", "7,1.4,1.5"])
    metrics = _final_metrics(trainer, None, SimpleNamespace(report={}), 1.0, [], {})
    assert metrics["val_loss"] == metrics["val_loss_best"] == 1.5


def test_two_embeddings_get_no_collapse_verdict():
    """Two points always lie on one line (effective rank 1): a verdict from them would call any
    model collapsed."""
    assert _collapse_check(_collapse_setup(2, []), torch.nn.Linear(1, 1)) is None
