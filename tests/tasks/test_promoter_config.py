"""The promoter task's defaults (``PromoterConfig``): each pinned to where the project states it
(README, the task's docstring, the benchmarks' description of what they ran), since a default that
drifts silently changes every run made without the flag, and the published results with it."""

import pytest
from scipy.stats import chi2

from sciPT.diagnostics import contamination
from sciPT.stacking import MIN_LIKELIHOOD_RATIO
from sciPT.tasks.promoter import PromoterTask
from sciPT.tasks.promoter_config import PromoterConfig, tiny


def test_the_default_encoder_and_head_are_the_ones_the_benchmarks_ran():
    """benchmarks/promoter_nested.py (FIXED) and the README describe the model every
    published number was measured with: overlapping 3-mers, a conv head of 128 filters of 15
    positions, max over 4, on the hidden states and the one-hot tokens, their mean beside it,
    a 64-unit MLP."""
    cfg = PromoterConfig()
    assert (cfg.tokenizer.kind, cfg.tokenizer.k) == ("kmer", 3)
    head = cfg.head
    assert head.pooling == "conv"
    assert (head.filters, head.kernel, head.pool, head.hidden) == (128, 15, 4, 64)
    assert head.tokens is True and head.composition is True


def test_the_default_fine_tune_is_the_one_the_benchmarks_ran():
    """The same description: AdamW with weight decay 0.01, batch 32, a constant lr after 50
    warm-up steps, at most 15 epochs of at least 50 steps, patience 3, and 10 % held out for
    early stopping (promoter_nested.EARLY_STOP_FRACTION, "the task's val_fraction")."""
    cfg = PromoterConfig()
    t = cfg.train
    assert (t.weight_decay, t.batch_size) == (0.01, 32)
    assert (t.schedule.name, t.schedule.warmup_steps) == ("constant", 50)
    assert (cfg.max_epochs, cfg.min_steps_per_epoch, cfg.patience) == (15, 50, 3)
    assert cfg.val_fraction == 0.1
    assert cfg.finetune.strategy == "full"


def test_a_scratch_start_has_the_shape_and_tokens_of_the_promoter_pretraining_preset():
    """``--init none`` builds the encoder ``scipt pretrain dna --preset promoter`` trains (README:
    "the `tiny` model with overlapping 3-mer tokens"), so scratch against pre-trained compares
    like with like."""
    from sciPT.domains.dna import presets

    pre = presets.promoter()
    cfg = PromoterConfig()
    assert cfg.model == pre.model
    assert (cfg.tokenizer.kind, cfg.tokenizer.k) == (pre.tokenizer.kind, pre.tokenizer.k)


def test_the_default_ensemble_stacks_and_fusion_are_on_at_p_005():
    """README: "an ensemble of three", the likelihood fusion and both stacks on by default
    (--no-naturalness, --no-kmer-stack, --no-cnn-stack), each kept at the likelihood ratio of
    p = 0.05 (--naturalness-min-ratio "default 3.841"; the stacks "the same likelihood-ratio test")."""
    cfg = PromoterConfig()
    assert cfg.ensemble == 3
    assert cfg.naturalness is True and cfg.kmer_stack is True and cfg.cnn_stack is True
    assert MIN_LIKELIHOOD_RATIO == pytest.approx(chi2.ppf(0.95, df=1), abs=5e-4)  # 3.8415
    ratios = (cfg.naturalness_min_ratio, cfg.kmer_stack_min_ratio, cfg.cnn_stack_min_ratio)
    assert ratios == (MIN_LIKELIHOOD_RATIO,) * 3


def test_what_is_off_or_on_by_default_is_as_documented():
    """README / the task's docstring: --shift off by default, no strand averaging, no
    cross-validation unless --folds, baselines on (--no-baselines), ``--export start`` the
    default, no label fractions and three seeds per fraction when asked."""
    cfg = PromoterConfig()
    assert cfg.shift == 0 and cfg.strand_symmetric is False and cfg.folds == 0
    assert cfg.baselines is True and cfg.export == "start"
    assert cfg.label_fractions == [] and cfg.fraction_seeds == 3
    assert cfg.init == "none"


def test_the_contamination_check_defaults_to_the_librarys_check():
    """The report's contamination check reads as every other (16-mer similarity >= 0.5, the
    numbers benchmarks/RESULTS.md quotes): another k or threshold would count other sequences
    as nearly in the corpus without the report saying so."""
    cfg = PromoterConfig()
    assert cfg.contamination_k == contamination.DEFAULT_K == 16
    assert cfg.contamination_threshold == contamination.DEFAULT_THRESHOLD == 0.5


def test_the_tiny_preset_is_the_default_configuration():
    """The task's one preset (``--preset tiny``) is its defaults: one that differed would give
    another model than the one the README describes under the same name."""
    assert PromoterTask().presets()["tiny"] is tiny
    assert tiny() == PromoterConfig()


def test_the_default_lr_and_head_dropout_are_the_benchmarks_first_candidate():
    """benchmarks/promoter_nested.py runs "the promoter task's defaults ... except the tuned lr and
    head dropout", whose quick grid starts at the defaults (lr 1e-3, head dropout 0.3); another
    default would fine-tune every run without --lr/--head.dropout differently from that."""
    cfg = PromoterConfig()
    assert cfg.train.lr == 1e-3
    assert cfg.head.dropout == 0.3


def test_fine_tune_and_evaluate_read_the_same_table_columns_by_default():
    """A table ``scipt finetune promoter`` trains on is scored by ``evaluate`` with no column flags
    (both: "sequence" and "label", as the README's CSV example); and sequences are cropped to the
    longest training sequence unless --inputs.max-length says otherwise (0, the task's docstring)."""
    import argparse

    parser = argparse.ArgumentParser()
    PromoterTask().add_evaluate_arguments(parser)
    evaluate = parser.parse_args([])
    inputs = PromoterConfig().inputs
    assert (inputs.sequence_column, inputs.label_column) == ("sequence", "label")
    assert (evaluate.sequence_column, evaluate.label_column) == (inputs.sequence_column, inputs.label_column)
    assert inputs.max_length == 0
    assert (inputs.train, inputs.positives, inputs.negatives, inputs.val, inputs.test) == (None,) * 5


def test_a_config_file_may_say_every_documented_value_and_a_wrong_one_is_named():
    """``export: recommended``, fractional label fractions and a fractional val_fraction are what
    the docstring allows; an unknown export is refused naming the key and both choices."""
    from sciPT.config import from_dict
    from sciPT.errors import ConfigError

    cfg = from_dict(
        PromoterConfig,
        {"export": "recommended", "label_fractions": [0.01, 0.25, 1], "val_fraction": 0.2, "folds": 5},
        "run.yaml",
    )
    assert cfg.export == "recommended" and cfg.label_fractions == [0.01, 0.25, 1.0]
    assert cfg.val_fraction == 0.2 and cfg.folds == 5
    with pytest.raises(ConfigError) as err:
        from_dict(PromoterConfig, {"export": "best"}, "run.yaml")
    assert str(err.value) == "run.yaml.export: expected one of start, recommended, got 'best'"
