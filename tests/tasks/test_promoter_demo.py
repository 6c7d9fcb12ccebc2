import shlex

import pytest
import yaml

from sciPT.tasks.promoter_demo import FEW_LABELS, pretraining_gains

# a run over all 5,720 labels where pre-trained and scratch are tied
VS_SCRATCH = {
    "sequences": 5720,
    "pre_trained_mcc_mean": 0.695,
    "scratch_mcc_mean": 0.680,
    "pre_trained_vs_scratch_mcc_diff_mean": 0.015,
    "pre_trained_vs_scratch_mcc_diff_se": 0.016,
    "pre_trained_vs_scratch_mcc_verdict": 0,
}


def test_pretraining_gains_reads_the_runs_verdicts():
    metrics = {
        **VS_SCRATCH,
        "kmer_lr_mcc_mean": 0.617,
        "pre_trained_vs_kmer_lr_mcc_diff_mean": 0.078,
        "pre_trained_vs_kmer_lr_mcc_diff_se": 0.010,
        "pre_trained_vs_kmer_lr_mcc_verdict": 1,
        "cnn_mcc_mean": 0.690,
        "pre_trained_vs_cnn_mcc_diff_mean": 0.005,
        "pre_trained_vs_cnn_mcc_diff_se": 0.012,
        "pre_trained_vs_cnn_mcc_verdict": 0,
    }
    for frac, verdict, pre, scr in zip(FEW_LABELS, (1, -1), (0.732, 0.70), (0.679, 0.74)):
        key = f"fraction_{frac:g}_pre_trained_vs_scratch_accuracy"
        metrics.update({f"{key}_diff_mean": pre - scr, f"{key}_diff_se": 0.006, f"{key}_verdict": verdict})
        metrics[f"fraction_{frac:g}_pre_trained_accuracy_mean"] = pre
        metrics[f"fraction_{frac:g}_scratch_accuracy_mean"] = scr
    assert FEW_LABELS == [0.01, 0.05]
    assert pretraining_gains(metrics) == [
        "- All 5,720 labels, 5-fold cross-validation: pre-trained is tied with scratch, MCC 0.695 vs 0.680, "
        "per-fold difference +0.015 ± 0.016.",
        "- Against the k-mer LR on the same folds: pre-trained is ahead of it, MCC 0.695 vs 0.617, per-fold "
        "difference +0.078 ± 0.010.",
        "- Against the CNN on the same folds: pre-trained is tied with it, MCC 0.695 vs 0.690, per-fold "
        "difference +0.005 ± 0.012.",
        "- 1% of the labels: pre-trained is ahead of scratch, accuracy 0.732 vs 0.679, difference +5.3 ± 0.6 "
        "points over seeds.",
        "- 5% of the labels: pre-trained is behind scratch, accuracy 0.700 vs 0.740, difference -4.0 ± 0.6 "
        "points over seeds.",
    ]


def test_max_steps_shortens_the_fine_tunes_too(tmp_path):
    from sciPT.tasks.promoter_config import PromoterConfig
    from sciPT.tasks.promoter_demo import finetune_config

    full = finetune_config(tmp_path / "pretrain", tmp_path / "pos.fa", tmp_path / "neg.fa", None)
    quick = finetune_config(tmp_path / "pretrain", tmp_path / "pos.fa", tmp_path / "neg.fa", 50)
    assert full.max_epochs == PromoterConfig().max_epochs == 15
    assert quick.max_epochs == 1  # one epoch: the shortest fit that early stopping can validate
    assert (full.folds, full.baselines, full.label_fractions) == (5, True, [0.01, 0.05])
    assert quick.inputs.positives == str(tmp_path / "pos.fa") and quick.init == str(tmp_path / "pretrain")
    assert quick.inputs.negatives == str(tmp_path / "neg.fa")


def resolved(argv: list[str]):
    """The configuration that the command line ``argv`` (``scipt ...``) runs with, as a dict."""
    from sciPT.cli import build_parser
    from sciPT.config import to_dict
    from sciPT.runconfig import resolve_config

    args = build_parser(argv[1:]).parse_args(argv[1:])
    return to_dict(resolve_config(args.plugin, args, args.table))


@pytest.mark.parametrize("max_steps", [None, 40])
def test_the_pretraining_reports_the_scipt_command_that_makes_the_same_run(tmp_path, max_steps):
    """Its report's Command line read `scipt demo promoter (pre-training step)`: no command at all."""
    from sciPT.config import to_dict
    from sciPT.tasks.promoter_demo import pretraining_stage

    corpus, out = tmp_path / "my corpus" / "clean.fa.gz", tmp_path / "my demo" / "pretrain"
    cfg, command = pretraining_stage(corpus, out, max_steps)
    steps, every = (3000, 600) if max_steps is None else (40, 8)
    assert command == (
        f"scipt pretrain dna --preset promoter --data '{corpus}' --max-steps {steps} --val-every {every} "
        f"--checkpoint-every {every} --out '{out}'"
    )
    assert resolved(shlex.split(command)) == to_dict(cfg)


def fake_stages(monkeypatch, finetune):
    """The promoter demo with its decontamination and pre-training skipped and ``finetune`` for
    step 3 (each takes minutes)."""
    from sciPT.tasks import promoter_demo, promoter_train

    counts = dict.fromkeys(
        ("verbatim_before", "eval_sequences", "near_before", "regions", "masked_bases", "corpus_bases"), 0
    )
    monkeypatch.setattr(promoter_demo, "decontaminate", lambda *a: counts)
    monkeypatch.setattr(promoter_demo, "pretrain", lambda *a, **k: None)
    monkeypatch.setattr(promoter_train, "run_finetune", finetune)


def sigterm():
    from lightning.pytorch.utilities.exceptions import SIGTERMException

    return SIGTERMException()  # what Lightning raises in a fit a SIGTERM reached


def test_a_demo_stopped_in_its_fine_tuning_says_which_command_continues_that_stage(
    tmp_path, monkeypatch, capsys
):
    """The message was the pre-training one: `the same command with --resume`, which scipt demo
    does not take."""
    from sciPT.cli import main
    from sciPT.config import to_dict

    out = tmp_path / "demo"
    written = {}

    def stopped_after_its_config(cfg, stage, resume=False):
        stage.mkdir(parents=True)
        (stage / "config.yaml").write_text(yaml.safe_dump({"task": "promoter", **to_dict(cfg)}))
        written.update(to_dict(cfg))
        raise sigterm()

    fake_stages(monkeypatch, stopped_after_its_config)
    assert main(["demo", "promoter", "--out", str(out)]) == 143
    last = capsys.readouterr().err.strip().splitlines()[-1]
    command = f"scipt finetune promoter --out {out / 'promoter'} --resume"
    assert last == (
        f"scipt: terminated (SIGTERM); a demo cannot be resumed: run it again with another --out, or "
        f"delete {out} first; its fine-tuning stage is an ordinary promoter run, which `{command}` "
        "continues (the demo's own report.md is not written)"
    )
    assert resolved(shlex.split(command)) == written  # the stage as the demo configured it


def test_a_demo_stopped_before_its_fine_tuning_run_exists_names_no_command_for_it(
    tmp_path, monkeypatch, capsys
):
    from sciPT.cli import main

    def stopped_at_once(cfg, stage, resume=False):
        raise sigterm()

    fake_stages(monkeypatch, stopped_at_once)
    out = tmp_path / "demo"
    assert main(["demo", "promoter", "--out", str(out)]) == 143
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"scipt: terminated (SIGTERM); a demo cannot be resumed: run it again with another --out, or "
        f"delete {out} first"
    )


FAKE_METRICS = {
    **VS_SCRATCH,
    **{f"{key}_mcc_mean": 0.6 for key in ("kmer_lr", "cnn")},
    **{
        f"pre_trained_vs_{key}_mcc_{suffix}": value
        for key in ("kmer_lr", "cnn")
        for suffix, value in (("diff_mean", 0.095), ("diff_se", 0.01), ("verdict", 1))
    },
    **{
        f"fraction_{frac:g}_{key}": value
        for frac in FEW_LABELS
        for key, value in (
            ("pre_trained_accuracy_mean", 0.7),
            ("scratch_accuracy_mean", 0.6),
            ("pre_trained_vs_scratch_accuracy_diff_mean", 0.1),
            ("pre_trained_vs_scratch_accuracy_diff_se", 0.01),
            ("pre_trained_vs_scratch_accuracy_verdict", 1),
        )
    },
}


@pytest.mark.parametrize("max_steps", [None, 40])
def test_the_demo_pretrains_on_the_decontaminated_genome_and_reports_each_stage(
    tmp_path, monkeypatch, capsys, max_steps
):
    """The whole pipeline with its three slow stages faked: the genome it decontaminates, that the
    pre-training reads the decontaminated copy (not the genome holding every evaluation sequence),
    that the fine-tuning starts from that pre-training, and the report's words (module docstring)."""
    import json
    import types

    from sciPT.cli import main
    from sciPT.domains.dna.data import ECOLI_GENOME
    from sciPT.files import resolve_data_path
    from sciPT.tasks import promoter_demo, promoter_train

    counts = {
        "verbatim_before": 5712,
        "eval_sequences": 5720,
        "near_before": 5719,
        "regions": 5790,
        "masked_bases": 472311,
        "corpus_bases": 4641652,
    }
    seen = {}

    def fake_decontaminate(genome, codes, clean, spec):
        seen["decontaminate"] = (genome, len(codes), clean)
        return counts

    def fake_finetune(cfg, stage, resume=False):
        seen["finetune"] = (cfg, stage)
        stage.mkdir(parents=True)
        (stage / "metrics.json").write_text(json.dumps(FAKE_METRICS))

    monkeypatch.setattr(promoter_demo, "decontaminate", fake_decontaminate)
    monkeypatch.setattr(promoter_demo, "pretrain", lambda *a, **k: seen.setdefault("pretrain", (a, k)))
    monkeypatch.setattr(promoter_train, "run_finetune", fake_finetune)
    monkeypatch.setattr(promoter_demo, "time", types.SimpleNamespace(time=iter([0.0, 90.0]).__next__))
    out = tmp_path / "demo"
    out.mkdir()  # an empty folder is a fine --out
    argv = ["demo", "promoter", "--out", str(out)] + (
        [] if max_steps is None else ["--max-steps", str(max_steps)]
    )
    assert main(argv) == 0

    clean = out / "corpus" / "ecoli_k12_decontaminated.fa.gz"
    # every one of the 2,860 + 2,860 evaluation sequences is masked out of the shipped genome
    assert seen["decontaminate"] == (resolve_data_path(ECOLI_GENOME), 5720, clean)
    (domain, cfg, where), kwargs = seen["pretrain"]
    # the pre-training's report names the command that makes the same run (steps // 5 between checks)
    steps, every = (3000, 600) if max_steps is None else (40, 8)
    assert kwargs == {
        "command": f"scipt pretrain dna --preset promoter --data {clean} --max-steps {steps} --val-every "
        f"{every} --checkpoint-every {every} --out {out / 'pretrain'}"
    }
    assert (domain, where, cfg.data.paths) == ("dna", out / "pretrain", [str(clean)])
    assert cfg.train.max_steps == (3000 if max_steps is None else 40)
    ft, stage = seen["finetune"]
    assert (ft.init, stage, ft.ensemble) == (str(out / "pretrain"), out / "promoter", 1)
    report = (out / "report.md").read_text()
    assert "Evaluation data: iPromoter-2L, 5720 sequences (2860 promoters).\n" in report
    assert (
        "Before decontamination 5712 of 5720 evaluation sequences occurred verbatim in the genome (either "
        "strand), 5719 verbatim or nearly. 5790 regions (472,311 of 4,641,652 bp) were masked with N before "
        "pre-training: `corpus/ecoli_k12_decontaminated.fa.gz`.\n"
    ) in report
    assert "\n".join(pretraining_gains(FAKE_METRICS)) in report
    # one fine-tune per model against the task's default of three (module docstring)
    assert "Each model here is 1 fine-tune(s); the task's default averages 3 (`--ensemble`)" in report
    note = (
        "Run with `--max-steps 40`: 40 pre-training steps and one epoch per fine-tune, a look at the pipeline"
    )
    assert (note in report) == (max_steps is not None)
    assert report.endswith("\nTotal wall time 1.5 min.\n")
    err = capsys.readouterr().err.splitlines()
    assert err[-1] == f"demo written to {out} (1.5 min); read {out / 'report.md'}"
    assert [line[:5] for line in err[:-1]] == ["[1/3]", "[2/3]", "[3/3]"]


def test_an_out_that_is_a_file_is_refused_in_one_line_before_any_work(tmp_path, capsys):
    """As the force-field demo does: one line, exit status 2, the file untouched (this demo printed
    a traceback)."""
    from sciPT.cli import main

    taken = tmp_path / "taken"
    taken.write_text("not a run\n")
    assert main(["demo", "promoter", "--out", str(taken)]) == 2
    assert capsys.readouterr().err == f"scipt: error: {taken}: --out names a file, not a directory\n"
    assert taken.read_text() == "not a run\n"


def test_a_pretraining_of_a_few_steps_still_validates_and_checkpoints_every_step(tmp_path):
    """A fifth of the steps, at least one: `--max-steps 3` made val_every 0, which the training
    configuration refuses (train.val_every: expected a positive integer)."""
    from sciPT.tasks.promoter_demo import pretraining_stage
    from sciPT.trainer import validate

    for steps, every in ((3, 1), (4, 1), (5, 1), (12, 2)):  # steps // 5, at least 1
        cfg, command = pretraining_stage(tmp_path / "clean.fa.gz", tmp_path / "pretrain", steps)
        assert (cfg.train.max_steps, cfg.train.val_every, cfg.train.checkpoint_every) == (steps, every, every)
        assert f" --val-every {every} --checkpoint-every {every} " in command
        validate(cfg.train)


def test_the_resume_hint_waits_for_the_stages_config_and_quotes_its_folder(tmp_path):
    """`--resume` reads config.yaml back, so no command is named before it exists; a folder with a
    space is quoted so the command can be pasted as it stands."""
    from sciPT.tasks.promoter_demo import finetuning_resume

    stage = tmp_path / "my demo" / "promoter"
    assert finetuning_resume(stage) is None
    stage.mkdir(parents=True)
    assert finetuning_resume(stage) is None  # the folder alone: still nothing to resume
    (stage / "config.yaml").write_text("task: promoter\n")
    hint = finetuning_resume(stage)
    command = f"scipt finetune promoter --out '{stage}' --resume"
    assert command in hint and shlex.split(command)[-2:] == [str(stage), "--resume"]


@pytest.mark.parametrize("verdict, words", [(1, "ahead of"), (-1, "behind")])
def test_pretraining_gains_words_a_verdict_of_ahead_or_behind_scratch(verdict, words):
    """The all-labels line reads the run's own verdict (1 ahead, -1 behind); the other tests use a tie,
    which reads the same whichever way round the verdict is taken."""
    metrics = {**FAKE_METRICS, "pre_trained_vs_scratch_mcc_verdict": verdict}
    assert pretraining_gains(metrics)[0] == (
        f"- All 5,720 labels, 5-fold cross-validation: pre-trained is {words} scratch, MCC 0.695 vs 0.680, "
        "per-fold difference +0.015 ± 0.016."
    )
