"""A run stopped mid-way and resumed ends exactly where the uninterrupted run ends."""

from pathlib import Path

import pytest
import torch

from sciPT.checkpoint import from_pretrained, load_lightning_checkpoint
from sciPT.pretrain import pretrain
from sciPT.registry import domains
from sciPT.testing import stop_at


def _cfg():
    cfg = domains.get("dna").presets()["tiny"]()
    cfg.data.window = 64
    cfg.model.max_len = 64
    cfg.train.batch_size = 8
    cfg.train.max_steps = 8
    cfg.train.checkpoint_every = 4
    cfg.train.val_every = 4
    cfg.train.val_batches = 2
    cfg.train.schedule.warmup_steps = 2
    return cfg


def test_resume_matches_uninterrupted_run(tmp_path):
    import json

    pretrain("dna", _cfg(), tmp_path / "straight")
    pretrain("dna", _cfg(), tmp_path / "interrupted", callbacks=[stop_at(4)])
    stopped = load_lightning_checkpoint(tmp_path / "interrupted/checkpoints/last.ckpt")
    assert stopped["global_step"] == 4
    pretrain("dna", _cfg(), tmp_path / "interrupted", resume=True)
    # the wall time is this process's: the report says so
    assert json.loads((tmp_path / "interrupted/metrics.json").read_text())["resumed_at_step"] == 4
    assert "resumed_at_step" not in json.loads((tmp_path / "straight/metrics.json").read_text())
    assert (
        "This process resumed the run at step 4: wall_time_s is its own time, for the 4 steps after it, "
        "not the whole run's."
    ) in (tmp_path / "interrupted/report.md").read_text()

    resumed = load_lightning_checkpoint(tmp_path / "interrupted/checkpoints/last.ckpt")
    straight = load_lightning_checkpoint(tmp_path / "straight/checkpoints/last.ckpt")
    assert resumed["global_step"] == straight["global_step"] == 8
    a = from_pretrained(tmp_path / "straight").model.state_dict()
    b = from_pretrained(tmp_path / "interrupted").model.state_dict()
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=1e-6, msg=key)
    # optimizer state came back too: Adam's step counts agree
    sa = straight["optimizer_states"][0]["state"]
    sb = resumed["optimizer_states"][0]["state"]
    assert all(float(sa[k]["step"]) == float(sb[k]["step"]) == 8 for k in sa)


def test_a_stop_between_two_checkpoints_is_saved_and_resumes_exactly(tmp_path):
    """last.ckpt holds the final step even when it falls between periodic saves (every 4 here)."""
    pretrain("dna", _cfg(), tmp_path / "straight")
    pretrain("dna", _cfg(), tmp_path / "interrupted", callbacks=[stop_at(3)])
    assert load_lightning_checkpoint(tmp_path / "interrupted/checkpoints/last.ckpt")["global_step"] == 3
    pretrain("dna", _cfg(), tmp_path / "interrupted", resume=True)
    a = from_pretrained(tmp_path / "straight").model.state_dict()
    b = from_pretrained(tmp_path / "interrupted").model.state_dict()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=1e-6, msg=key)


@pytest.mark.parametrize("written_before", [False, True])
def test_a_resume_with_another_batch_size_goes_on_from_the_first_sample_not_drawn(
    tmp_path, monkeypatch, capsys, written_before
):
    """4 steps of 8 windows draw samples 0-31; resumed with batches of 4, the run went on from
    sample 16 (its step times the new batch), training 16 windows twice. A checkpoint written
    before the data module kept its place (``written_before``) is placed by the run's settings."""
    from sciPT import data

    pretrain("dna", _cfg(), tmp_path / "run", callbacks=[stop_at(4)])
    if written_before:
        last = tmp_path / "run/checkpoints/last.ckpt"
        checkpoint = load_lightning_checkpoint(last)
        del checkpoint["StepDataModule"]
        torch.save(checkpoint, last)
    drawn, sampler_iter = [], data.StepBatchSampler.__iter__

    def recording(self):
        for batch in sampler_iter(self):
            drawn.extend(batch)
            yield batch

    monkeypatch.setattr(data.StepBatchSampler, "__iter__", recording)
    cfg = _cfg()
    cfg.train.batch_size = 4
    capsys.readouterr()
    pretrain("dna", cfg, tmp_path / "run", resume=True)
    # the loader may fetch one batch past the last step: the 4 steps trained are the first 16
    assert drawn[:16] == list(range(32, 48))
    assert load_lightning_checkpoint(tmp_path / "run/checkpoints/last.ckpt")["StepDataModule"] == {
        "step": 8,
        "samples_drawn": 48,  # 4 x 8 + 4 x 4
        "samples_per_step": 4,
    }
    assert (
        "resumed at step 4 with 1 rank(s) x batch size 4 x accumulate 1 = 4 samples a step (8 before): "
        "training goes on from sample 32, the first the run has not drawn"
    ) in capsys.readouterr().err


def test_logs_before_the_resume_are_kept(tmp_path):
    pretrain("dna", _cfg(), tmp_path / "run", callbacks=[stop_at(4)])
    pretrain("dna", _cfg(), tmp_path / "run", resume=True)
    from sciPT.plots import read_logs

    steps = [s for s, _ in read_logs(tmp_path / "run/logs")["val/loss"]]
    assert steps == [3, 7]  # one validation before the stop, one after the resume


def test_a_run_resumed_on_other_data_still_records_the_first_corpus(tmp_path):
    import json

    first, second = _cfg(), _cfg()
    second.data.paths = ["data_recipes/dna/phage_lambda.fa"]
    pretrain("dna", first, tmp_path / "run", callbacks=[stop_at(4)])
    pretrain("dna", second, tmp_path / "run", resume=True)
    exported = json.loads((tmp_path / "run/model/config.json").read_text())
    # the first four steps saw E. coli: a contamination check must still read it
    assert [Path(e["path"]).name for e in exported["pretrained_on"]] == [
        "phage_lambda.fa",
        "ecoli_k12_mg1655.fna.gz",
    ]


def test_a_resume_on_a_data_file_edited_since_is_refused_before_anything_is_rewritten(tmp_path):
    """A truncated FASTA cut its validation part 1,140 residues earlier, inside what the run had
    trained on, without a word."""
    from sciPT.errors import DataError
    from sciPT.files import file_sha256

    genome = tmp_path / "g.fa"
    genome.write_text(">g\n" + "ACGTTGCAAGCT" * 500 + "\n")
    cfg = _cfg()
    cfg.data.paths = [str(genome)]
    pretrain("dna", cfg, tmp_path / "run", callbacks=[stop_at(4)])
    before = file_sha256(genome)
    config = (tmp_path / "run/config.yaml").read_bytes()
    genome.write_text(">g\n" + "ACGTTGCAAGCT" * 480 + "\n")
    with pytest.raises(DataError) as refused:
        pretrain("dna", cfg, tmp_path / "run", resume=True)
    assert str(refused.value) == (
        f"--resume: {genome} changed since the run trained on it (sha256 {before[:12]}... up to step 4, "
        f"{file_sha256(genome)[:12]}... now): its validation part would move onto data the run trained "
        "on; restore the file, or start a new --out"
    )
    assert (tmp_path / "run/config.yaml").read_bytes() == config


def test_resuming_a_run_already_past_its_steps_says_there_is_nothing_to_train(tmp_path, capsys):
    pretrain("dna", _cfg(), tmp_path / "run")
    capsys.readouterr()
    fewer = _cfg()
    fewer.train.max_steps = 5
    metrics = (tmp_path / "run/metrics.json").read_text()
    pretrain("dna", fewer, tmp_path / "run", resume=True)
    assert (
        f"{tmp_path / 'run'}: already finished at step 8 (--max-steps 5) and exported: nothing to do "
        "(a larger --max-steps continues it)"
    ) in capsys.readouterr().err
    assert load_lightning_checkpoint(tmp_path / "run/checkpoints/last.ckpt")["global_step"] == 8
    assert (tmp_path / "run/metrics.json").read_text() == metrics  # the finished run is left as it was
    # a run past its steps but never exported (stopped while exporting) is exported, and says why
    import shutil

    shutil.rmtree(tmp_path / "run/model")
    (tmp_path / "run/metrics.json").unlink()  # killed before the first export wrote it
    pretrain("dna", fewer, tmp_path / "run", resume=True)
    assert (
        "warning: the run is already at step 8, at or past --max-steps 5: nothing to train (a larger "
        "--max-steps continues it)"
    ) in capsys.readouterr().err
    assert (tmp_path / "run/model/model.safetensors").is_file()
    # no step trained in this process: the loss is the logs' last, and the ranks' agreement is the
    # training process's (a comparison of nothing once said they differed); strict JSON, no NaN
    import json

    from sciPT.plots import read_logs

    def no_nan(constant):
        raise AssertionError(f"metrics.json holds {constant}")

    after = json.loads((tmp_path / "run/metrics.json").read_text(), parse_constant=no_nan)
    assert after["ranks_identical"] == 1.0 and after["steps"] == 8
    last_loss = read_logs(tmp_path / "run/logs")["train/loss"][-1]
    assert last_loss[0] == 7 and after["train_loss"] == last_loss[1]
    assert "ranks ended with different weights" not in (tmp_path / "run/report.md").read_text()


def test_a_diverging_run_stops_before_its_bad_step_and_keeps_the_last_good_checkpoint(tmp_path):
    import math

    import lightning.pytorch as pl
    import pytest

    from sciPT.errors import TrainingDiverged

    class PoisonStep(pl.Callback):
        """A NaN in one gradient of the fourth step, as a diverging loss would make."""

        def on_after_backward(self, trainer, pl_module):
            if trainer.global_step == 3:
                next(p for p in pl_module.parameters() if p.grad is not None).grad.view(-1)[0] = math.nan

    cfg = _cfg()
    cfg.train.checkpoint_every = 2
    out = tmp_path / "run"
    with pytest.raises(TrainingDiverged) as err:
        pretrain("dna", cfg, out, callbacks=[PoisonStep()])
    assert str(err.value) == (
        f"training diverged at step 4: its gradients are not finite. Stopped before applying them; "
        f"{out / 'checkpoints' / 'last.ckpt'} holds the last state saved before it. Lower --lr (now "
        "0.002), lengthen the warm-up (--warmup-steps) or clip the gradients (--grad-clip) in a new run "
        "(another --out: a resumed run keeps its learning rate)"
    )
    saved = load_lightning_checkpoint(out / "checkpoints/last.ckpt")
    assert saved["global_step"] == 2
    assert all(torch.isfinite(v).all() for v in saved["state_dict"].values() if v.is_floating_point())
    assert not (out / "model").exists()  # nothing exported from a run that did not finish


def test_a_run_extended_by_a_larger_max_steps_follows_the_new_schedule_from_its_first_step(tmp_path, capsys):
    """4 steps, then ``--resume`` to 8: step 4 trains at the 8-step schedule's rate, not at the
    4-step schedule's floor the restored optimizer held."""
    from sciPT.plots import read_logs
    from sciPT.schedules import lr_multiplier

    short, cfg = _cfg(), _cfg()
    short.train.max_steps = 4
    short.train.log_every = cfg.train.log_every = 1
    pretrain("dna", short, tmp_path / "run")
    capsys.readouterr()
    pretrain("dna", cfg, tmp_path / "run", resume=True)
    last, next_ = (cfg.train.lr * lr_multiplier(s, t, cfg.train.schedule) for s, t in ((3, 4), (4, 8)))
    assert (
        f"note: --max-steps 8: the cosine learning-rate schedule, sized for 4 steps, follows the new "
        f"total from step 4: its rate goes from {last:.3g} to {next_:.3g}"
    ) in capsys.readouterr().err.splitlines()
    rates = dict(read_logs(tmp_path / "run/logs")["train/lr"])
    for step in (3, 4, 5):
        total = 4 if step < 4 else 8
        assert rates[step] == pytest.approx(cfg.train.lr * lr_multiplier(step, total, cfg.train.schedule)), (
            step
        )


def test_a_resume_with_another_model_width_is_refused_before_the_settings_are_rewritten(tmp_path):
    from sciPT.errors import ConfigError

    pretrain("dna", _cfg(), tmp_path / "run", callbacks=[stop_at(4)])
    settings = (tmp_path / "run/config.yaml").read_text()
    wider = _cfg()
    wider.model.d_model, wider.model.d_ff = 32, 64  # tiny is 64 wide
    with pytest.raises(ConfigError) as err:
        pretrain("dna", wider, tmp_path / "run", resume=True)
    ckpt, config = tmp_path / "run/checkpoints/last.ckpt", tmp_path / "run/config.yaml"
    assert str(err.value).startswith(f"--resume: {ckpt} holds other weights than these settings build (")
    assert "of another shape (first: " in str(err.value)
    assert (tmp_path / "run/config.yaml").read_text() == settings and config.is_file()


def test_a_resume_with_another_objective_is_refused_before_the_settings_are_rewritten(tmp_path):
    """The backbone is the same: only the masked-LM head in the checkpoint tells a causal resume
    of a masked run apart (Lightning failed to load it after config.yaml said 'causal')."""
    from sciPT.errors import ConfigError

    pretrain("dna", _cfg(), tmp_path / "run", callbacks=[stop_at(4)])
    settings = (tmp_path / "run/config.yaml").read_text()
    causal = _cfg()
    causal.objective.kind = "causal"
    with pytest.raises(ConfigError) as err:
        pretrain("dna", causal, tmp_path / "run", resume=True)
    assert "only in the checkpoint (first: objective.head." in str(err.value)
    assert (tmp_path / "run/config.yaml").read_text() == settings


def test_a_replicated_run_resumed_as_fsdp2_is_refused_before_the_settings_are_rewritten(tmp_path):
    """torch's sharded loader read the optimizer state of a one-process (or ddp) checkpoint as its
    own and failed on a shape ("192 must match 256"), after config.yaml said fsdp2: every later
    plain --resume failed the same way (found by an audit)."""
    from sciPT.errors import ConfigError

    pretrain("dna", _cfg(), tmp_path / "run", callbacks=[stop_at(4)])
    settings = (tmp_path / "run/config.yaml").read_text()
    sharded = _cfg()
    sharded.train.strategy = "fsdp2"
    with pytest.raises(ConfigError) as err:
        pretrain("dna", sharded, tmp_path / "run", resume=True)
    assert str(err.value) == (
        f"--strategy fsdp2: {tmp_path / 'run/checkpoints/last.ckpt'} was saved by a run with --strategy "
        "auto, whose optimizer state a sharded run cannot load; resume it with --strategy auto, or start "
        "a new run to train with fsdp2"
    )
    assert (tmp_path / "run/config.yaml").read_text() == settings


def test_a_run_directory_moved_then_resumed_goes_on_from_and_into_last_ckpt(tmp_path):
    import shutil

    pretrain("dna", _cfg(), tmp_path / "straight")
    pretrain("dna", _cfg(), tmp_path / "run", callbacks=[stop_at(4)])
    shutil.move(tmp_path / "run", tmp_path / "moved")  # its checkpoint still names the old folder
    pretrain("dna", _cfg(), tmp_path / "moved", resume=True)
    assert sorted(p.name for p in (tmp_path / "moved/checkpoints").iterdir()) == ["last.ckpt"]
    assert load_lightning_checkpoint(tmp_path / "moved/checkpoints/last.ckpt")["global_step"] == 8
    a = from_pretrained(tmp_path / "straight").model.state_dict()
    b = from_pretrained(tmp_path / "moved").model.state_dict()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=1e-6, msg=key)
