from sciPT.tasks.promoter_demo import FEW_LABELS, pretraining_gains


def test_pretraining_gains_reads_the_runs_verdicts():
    metrics = {
        "sequences": 5720,
        "pre_trained_mcc_mean": 0.695,
        "scratch_mcc_mean": 0.680,
        "pre_trained_vs_scratch_mcc_diff_mean": 0.015,
        "pre_trained_vs_scratch_mcc_diff_se": 0.016,
        "pre_trained_vs_scratch_mcc_verdict": 0,
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
