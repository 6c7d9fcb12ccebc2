"""One fine-tune of a classifier (sciPT.classification): activation checkpointing reaches the
backbone, and an epoch of a small training set is at least ``min_steps_per_epoch`` steps."""

import numpy as np
import pytest
import torch

from sciPT.nn.classifier import ClassifierHead, HeadConfig


def test_fine_tuning_honours_activation_checkpointing():
    """The option reaches the fine-tuned backbone, and recomputing activations changes no weight."""
    import numpy as np

    from sciPT.classification import fit_classifier
    from sciPT.domains.dna.tokenizer import dna_tokenizer
    from sciPT.finetune import FinetuneConfig
    from sciPT.nn import TransformerConfig, TransformerEncoder
    from sciPT.sequence_config import TokenizerConfig
    from sciPT.trainer import TrainConfig

    tok = dna_tokenizer(TokenizerConfig())
    rng = np.random.default_rng(0)
    codes = [rng.integers(0, 4, 12).astype(np.uint8) for _ in range(24)]
    labels = np.array([i % 2 for i in range(24)])
    fitted = {}
    for checkpointing in (False, True):
        torch.manual_seed(0)
        enc = TransformerEncoder(
            TransformerConfig(
                vocab_size=tok.vocab_size, d_model=8, n_layers=2, n_heads=2, d_ff=16, max_len=12
            )
        )
        head = ClassifierHead(HeadConfig(), 8, 12)
        cfg = TrainConfig(max_steps=4, batch_size=8, lr=1e-2, activation_checkpointing=checkpointing)
        model = fit_classifier(
            enc,
            head,
            tok,
            (codes[:16], labels[:16]),
            (codes[16:], labels[16:]),
            train_cfg=cfg,
            finetune=FinetuneConfig(),
            max_epochs=2,
            patience=5,
            max_tokens=12,
        ).model
        assert model.backbone.activation_checkpointing is checkpointing
        fitted[checkpointing] = model.state_dict()
    for name, tensor in fitted[False].items():
        assert torch.allclose(tensor, fitted[True][name], atol=1e-6), name


def fit_small(max_steps: int, max_epochs: int, min_steps_per_epoch: int, head_warmup: float = 0):
    """A 1-layer encoder fine-tuned on 16 random 12-mers in batches of 8 (2 steps an epoch),
    stopping early on 8 more; returns its weights before, and the fit."""
    import numpy as np

    from sciPT.classification import fit_classifier
    from sciPT.domains.dna.tokenizer import dna_tokenizer
    from sciPT.finetune import FinetuneConfig
    from sciPT.nn import TransformerConfig, TransformerEncoder
    from sciPT.sequence_config import TokenizerConfig
    from sciPT.trainer import TrainConfig

    tok = dna_tokenizer(TokenizerConfig())
    rng = np.random.default_rng(0)
    codes = [rng.integers(0, 4, 12).astype(np.uint8) for _ in range(24)]
    labels = np.array([i % 2 for i in range(24)])
    torch.manual_seed(0)
    enc = TransformerEncoder(
        TransformerConfig(vocab_size=tok.vocab_size, d_model=8, n_layers=1, n_heads=2, d_ff=16, max_len=12)
    )
    before = {k: v.clone() for k, v in enc.state_dict().items()}
    result = fit_classifier(
        enc,
        ClassifierHead(HeadConfig(), 8, 12),
        tok,
        (codes[:16], labels[:16]),
        (codes[16:], labels[16:]),
        train_cfg=TrainConfig(max_steps=max_steps, batch_size=8, lr=1e-3),
        finetune=FinetuneConfig(head_warmup=head_warmup),
        max_epochs=max_epochs,
        patience=5,
        max_tokens=12,
        min_steps_per_epoch=min_steps_per_epoch,
    )
    return before, result


@pytest.mark.parametrize("min_steps, steps", [(0, 4), (1, 4), (5, 10)])
def test_an_epoch_of_a_small_training_set_is_at_least_min_steps_per_epoch(min_steps, steps):
    """16 examples in batches of 8 are 2 steps an epoch; asked for 5, each epoch draws the set
    again until it has 5 batches, and two epochs are 10 steps."""
    _, result = fit_small(1000, 2, min_steps)
    assert (result.steps, result.epochs) == (steps, 2)


def test_a_shifting_collate_rolls_each_sequence_by_at_most_max_shift_bases():
    """Each sequence of a batch is the tokenization of itself rolled by some s, |s| <= max_shift,
    drawn anew per draw and reproducible from the seed; max_shift 0 leaves the batch as it is."""
    import numpy as np

    from sciPT.classification import LabelledCollate
    from sciPT.domains.dna.tokenizer import dna_tokenizer
    from sciPT.sequence_config import TokenizerConfig

    tok = dna_tokenizer(TokenizerConfig())
    rng = np.random.default_rng(1)
    codes = [rng.integers(0, 4, 20).astype(np.uint8) for _ in range(64)]
    items = [(c, i % 2) for i, c in enumerate(codes)]

    def ids(c):
        return tok.batch([c], 20)["input_ids"][0]

    plain = LabelledCollate(tok, 20)(items)
    assert all(torch.equal(plain["input_ids"][i], ids(c)) for i, c in enumerate(codes))
    shifted = LabelledCollate(tok, 20, max_shift=3, seed=7)(items)
    found = []
    for i, c in enumerate(codes):
        matches = [s for s in range(-3, 4) if torch.equal(shifted["input_ids"][i], ids(np.roll(c, s)))]
        assert matches, i  # random 20-mers: no two rolls tokenize alike, so exactly one matches
        found.append(matches[0])
    assert set(found) == set(range(-3, 4))  # 64 draws reach every shift
    again = LabelledCollate(tok, 20, max_shift=3, seed=7)(items)
    assert torch.equal(again["input_ids"], shifted["input_ids"])
    assert torch.equal(shifted["labels"], plain["labels"])


@pytest.mark.parametrize("warmup, trains_encoder", [(0.333, True), (0.99, False)])
def test_a_head_warmup_fraction_is_of_the_steps_the_epochs_allow(warmup, trains_encoder):
    """3 epochs of 5 steps: a warm-up of a third holds the encoder 5 steps, then trains it. The
    fraction was taken of train.max_steps (100,000 in the promoter preset): the warm-up never ended
    and the encoder never moved."""
    before, result = fit_small(100_000, 3, 5, head_warmup=warmup)
    assert (result.steps, result.epochs) == (15, 3)
    after = result.model.backbone.state_dict()
    moved = max(float((after[k].float() - v.float()).abs().max()) for k, v in before.items())
    assert (moved > 0) is trains_encoder


def test_a_fit_shows_each_epoch_and_its_validation_loss_on_the_bar_of_the_fits_around_it(capsys):
    """A cross-validation's bar counts whole fits: it stood still for minutes during each one."""
    import io

    from tqdm.auto import tqdm

    screen = io.StringIO()
    with tqdm(total=20, desc="cross-validation", unit="fit", file=screen, mininterval=0) as bar:
        bar.set_postfix_str("fold 1/5, pre-trained")
        _, result = fit_small(1000, 2, 0)
        assert bar.postfix == "fold 1/5, pre-trained"  # the fit's words gone with it
    states = screen.getvalue().split("\r")
    shown = [s.split("fold 1/5, pre-trained")[1].rstrip(" ]") for s in states if "epoch" in s]
    assert [s.split(", val loss ")[0] for s in shown] == [", epoch 1/2", ", epoch 2/2"]
    assert f"val loss {result.best_val_loss:.3f}" in "".join(shown)
    printed = capsys.readouterr()
    assert "Epoch" not in printed.out + printed.err  # Lightning's own bar stays off


def test_the_bar_a_fit_reports_to_is_the_innermost_one_shown():
    import io

    from tqdm.auto import tqdm

    from sciPT.classification import enclosing_bar

    # what an earlier test in this process left open (a bar of an interrupted loop lives until it
    # is collected): the bars below are opened later, so they are inner to it
    before = enclosing_bar()
    with tqdm(total=2, desc="outer", file=io.StringIO()), tqdm(total=2, desc="inner", file=io.StringIO()):
        with tqdm(total=2, desc="hidden", disable=True):  # a task's bar for fits it does not show
            assert enclosing_bar().desc == "inner"
        assert enclosing_bar().desc == "inner"
    assert enclosing_bar() is before


def test_a_fit_that_raises_gives_the_bar_its_words_back():
    import io
    from types import SimpleNamespace

    from tqdm.auto import tqdm

    from sciPT.classification import EpochProgress

    with tqdm(total=2, file=io.StringIO(), mininterval=0) as bar:
        bar.set_postfix_str("fold 2/5")
        progress = EpochProgress(bar, 3)
        trainer = SimpleNamespace(sanity_checking=False, current_epoch=0, callback_metrics={})
        progress.on_validation_end(trainer, None)
        assert bar.postfix == "fold 2/5, epoch 1/3"
        progress.on_exception(trainer, None, RuntimeError("diverged"))
        assert bar.postfix == "fold 2/5"


def test_the_logged_accuracy_calls_a_probability_of_one_half_positive_as_the_reported_metrics_do():
    from sciPT.classification import BinaryLoss
    from sciPT.metrics import binary_metrics

    def head(hidden, mask, ids):  # logit 0 for both: a probability of exactly 0.5
        return torch.zeros(len(ids))

    batch = {
        "input_ids": torch.zeros(2, 3, dtype=torch.long),
        "attention_mask": torch.ones(2, 3, dtype=torch.bool),
        "labels": torch.tensor([1, 1]),
    }
    _, logged = BinaryLoss(pos_weight=1.0)(lambda ids, mask: ids, head, batch)
    reported = binary_metrics(np.array([1, 1]), np.array([0.5, 0.5]))["accuracy"]
    assert logged["accuracy"].item() == reported == 1.0


def fit_toy(
    train_labels,
    val_labels,
    *,
    batch_size: int = 8,
    accumulate: int = 1,
    max_epochs: int = 1,
    patience: int = 5,
    min_steps_per_epoch: int = 0,
    lr: float = 1e-3,
    max_shift: int = 0,
    seed: int = 0,
):
    """A 1-layer encoder fine-tuned on random 12-mers with ``train_labels``, stopping early on the
    same 12-mers (the first ``len(val_labels)``) with ``val_labels``; returns the fit and the parts
    needed to score it again: ``(result, tokenizer, val codes, val labels)``."""
    from sciPT.classification import fit_classifier
    from sciPT.domains.dna.tokenizer import dna_tokenizer
    from sciPT.finetune import FinetuneConfig
    from sciPT.nn import TransformerConfig, TransformerEncoder
    from sciPT.schedules import ScheduleConfig
    from sciPT.sequence_config import TokenizerConfig
    from sciPT.trainer import TrainConfig

    tok = dna_tokenizer(TokenizerConfig())
    rng = np.random.default_rng(0)
    codes = [rng.integers(0, 4, 12).astype(np.uint8) for _ in range(len(train_labels))]
    val = (codes[: len(val_labels)], np.asarray(val_labels))
    torch.manual_seed(0)
    enc = TransformerEncoder(
        TransformerConfig(vocab_size=tok.vocab_size, d_model=8, n_layers=1, n_heads=2, d_ff=16, max_len=12)
    )
    cfg = TrainConfig(
        max_steps=1000,
        batch_size=batch_size,
        accumulate=accumulate,
        lr=lr,
        schedule=ScheduleConfig(name="constant", warmup_steps=0),
        seed=seed,
    )
    result = fit_classifier(
        enc,
        ClassifierHead(HeadConfig(dropout=0.0), 8, 12),
        tok,
        (codes, np.asarray(train_labels)),
        val,
        train_cfg=cfg,
        finetune=FinetuneConfig(),
        max_epochs=max_epochs,
        patience=patience,
        max_tokens=12,
        min_steps_per_epoch=min_steps_per_epoch,
        max_shift=max_shift,
    )
    return result, tok, val[0], val[1]


@pytest.mark.parametrize("labels, weight", [([1, 0, 0, 0], 3.0), ([0, 0, 0, 0], 4.0)])
def test_the_positive_weight_of_the_loss_is_negatives_over_positives(monkeypatch, labels, weight):
    """BinaryLoss gets pos_weight = n_negative / n_positive of the training labels (3 / 1); a
    cross-validation fold can hold no positive: their count is then taken as one, not divided by."""
    from sciPT import classification

    weights = []

    class Recording(classification.BinaryLoss):
        def __init__(self, pos_weight):
            weights.append(pos_weight)
            super().__init__(pos_weight)

    monkeypatch.setattr(classification, "BinaryLoss", Recording)
    fit_toy(labels, [1, 0], batch_size=4)
    assert weights == [weight]


def test_the_returned_model_holds_the_weights_of_the_best_validation_epoch():
    """Training on labels the validation set has flipped makes the validation loss rise after the
    first epoch: with patience 2 the fit stops after epoch 3, and the model it returns is epoch 1's,
    whose validation loss is best_val_loss."""
    from sciPT.classification import BinaryLoss, LabelledCollate

    labels = [i % 2 for i in range(16)]
    flipped = [1 - y for y in labels]
    result, tok, val_codes, val_labels = fit_toy(labels, flipped, max_epochs=10, patience=2, lr=1e-2)
    # epoch 1 best, epochs 2 and 3 worse: early stopping after 3 epochs
    assert result.epochs == 3
    batch = LabelledCollate(tok, 12)(list(zip(val_codes, val_labels.tolist())))
    model = result.model
    with torch.no_grad():
        loss, _ = BinaryLoss(1.0)(model.backbone, model.head, batch)  # 8 of each label: weight 1
    assert float(loss) == pytest.approx(result.best_val_loss, abs=1e-6)


def test_an_epoch_floor_counts_optimizer_steps_of_accumulated_batches():
    """min_steps_per_epoch is optimizer steps: with accumulate 2, each is 2 batches."""
    # 8 examples, batch 4, accumulate 2, floor 10 steps: 10 * 4 * 2 = 80 examples drawn,
    # 20 batches, 20 / 2 = 10 optimizer steps in the one epoch
    result, *_ = fit_toy(
        [i % 2 for i in range(8)], [0, 1], batch_size=4, accumulate=2, min_steps_per_epoch=10
    )
    assert (result.steps, result.epochs) == (10, 1)


def test_a_last_partial_accumulation_of_an_epoch_is_an_optimizer_step():
    """The steps the epochs allow count an epoch's last, partial accumulation as a step."""
    # 10 examples in batches of 2: 5 batches; accumulate 2: ceil(5 / 2) = 3 steps an epoch,
    # 2 epochs = 6 steps
    result, *_ = fit_toy([i % 2 for i in range(10)], [0, 1], batch_size=2, accumulate=2, max_epochs=2)
    assert (result.steps, result.epochs) == (6, 2)


def test_the_loss_weighs_each_positive_by_pos_weight():
    """The class balance the module docstring promises: a positive's cross-entropy counts
    pos_weight times, a negative's once; a logit of 0 or more is called positive."""
    import math

    from sciPT.classification import BinaryLoss

    logits = torch.tensor([0.5, -1.0, 2.0])

    def head(hidden, mask, ids):
        return logits

    batch = {
        "input_ids": torch.zeros(3, 2, dtype=torch.long),
        "attention_mask": torch.ones(3, 2, dtype=torch.bool),
        "labels": torch.tensor([1, 0, 0]),
    }
    loss, logged = BinaryLoss(pos_weight=2.0)(lambda ids, mask: ids, head, batch)
    # -log sigmoid(0.5) twice for the positive; -log(1 - sigmoid(x)) = log(1 + e^x) for the negatives
    want = (2 * math.log1p(math.exp(-0.5)) + math.log1p(math.exp(-1.0)) + math.log1p(math.exp(2.0))) / 3
    assert float(loss) == pytest.approx(want, rel=1e-6)
    assert float(logged["accuracy"]) == pytest.approx(2 / 3)


def test_only_the_training_sequences_are_shifted_and_with_the_runs_seed(monkeypatch):
    """max_shift reaches the collate of the training batches, seeded by train.seed; the validation
    sequences are scored as they are (a shifted validation set moves the early stopping)."""
    from sciPT import classification

    made = []

    class Recording(classification.LabelledCollate):
        def __init__(self, tokenizer, max_tokens, max_shift=0, seed=0):
            made.append((max_shift, seed))
            super().__init__(tokenizer, max_tokens, max_shift, seed)

    monkeypatch.setattr(classification, "LabelledCollate", Recording)
    fit_toy([i % 2 for i in range(8)], [0, 1], batch_size=4, max_shift=2, seed=5)
    assert sorted(made) == [(0, 0), (2, 5)]


def test_fits_differing_in_seed_draw_their_batches_in_another_order():
    """An ensemble's members differ in seed alone: the same seed gives the same model, another seed
    another one (same initial weights, no dropout: only the order of the batches differs)."""
    labels = [i % 2 for i in range(16)]

    def weights(seed):
        result, *_ = fit_toy(labels, [0, 1], batch_size=4, lr=1e-2, seed=seed)
        return torch.cat([p.detach().flatten() for p in result.model.parameters()])

    first = weights(0)
    assert torch.equal(first, weights(0))
    assert not torch.allclose(first, weights(1))


def tiny_classifier(dropout: float = 0.0):
    from sciPT.domains.dna.tokenizer import dna_tokenizer
    from sciPT.nn import TransformerConfig, TransformerEncoder
    from sciPT.nn.classifier import SequenceClassifier
    from sciPT.sequence_config import TokenizerConfig

    tok = dna_tokenizer(TokenizerConfig())
    torch.manual_seed(0)
    enc = TransformerEncoder(
        TransformerConfig(vocab_size=tok.vocab_size, d_model=8, n_layers=1, n_heads=2, d_ff=16, max_len=12)
    )
    head = ClassifierHead(HeadConfig(dropout=dropout), 8, 12)
    with torch.no_grad():  # a head whose outputs spread over (0, 1), not all near one half
        for p in head.parameters():
            p.normal_(0.0, 1.0)
    return SequenceClassifier(enc, head), tok


def test_predicted_probabilities_are_the_sigmoid_of_each_sequences_logit_in_any_batch_size():
    """predict_proba of 5 sequences in batches of 2 is the sigmoid of the model's logit for each
    sequence alone, in the input's order, with the model's dropout off."""
    from sciPT.classification import predict_proba

    model, tok = tiny_classifier(dropout=0.5)
    rng = np.random.default_rng(3)
    codes = [rng.integers(0, 4, n).astype(np.uint8) for n in (12, 7, 12, 9, 12)]
    model.train()  # predict_proba must switch dropout off itself
    p = predict_proba(model, tok, codes, max_tokens=12, batch_size=2)
    model.eval()
    with torch.no_grad():
        want = [
            float(torch.sigmoid(model(b["input_ids"], b["attention_mask"]))[0])
            for b in (tok.batch([c], 12) for c in codes)
        ]
    assert p.shape == (5,) and p.dtype == np.float32
    np.testing.assert_allclose(p, want, rtol=1e-5)
    assert 0 < p.min() and p.max() < 1 and p.max() - p.min() > 0.1  # spread, not a constant
    np.testing.assert_allclose(predict_proba(model, tok, codes, max_tokens=12), p, rtol=1e-5)


def test_predicting_no_sequence_gives_an_empty_array():
    from sciPT.classification import predict_proba

    model, tok = tiny_classifier()
    p = predict_proba(model, tok, [], max_tokens=12)
    assert p.shape == (0,) and p.dtype == np.float32


def test_quieting_lightning_gives_its_loggers_their_levels_back():
    """Lightning's messages are kept off the terminal during the fits only, not for the rest of the
    command."""
    import logging

    from sciPT.classification import quiet_lightning

    lg = logging.getLogger("lightning.pytorch")
    before = lg.level
    lg.setLevel(logging.INFO)
    try:
        with quiet_lightning():
            assert lg.level == logging.WARNING
        assert lg.level == logging.INFO
    finally:
        lg.setLevel(before)


def test_a_fit_sized_by_its_time_budget_shows_epochs_without_a_total_and_no_sanity_check():
    """A fit sized from max_time has no epoch count to show ("epoch 1/-1" was no total); a sanity
    check's validation is no epoch."""
    import io
    from types import SimpleNamespace

    from tqdm.auto import tqdm

    from sciPT.classification import EpochProgress

    with tqdm(total=2, file=io.StringIO(), mininterval=0) as bar:
        bar.set_postfix_str("fold 2/5")
        progress = EpochProgress(bar, -1)
        loss = {"val/loss": torch.tensor(0.69314)}
        progress.on_validation_end(
            SimpleNamespace(sanity_checking=True, current_epoch=0, callback_metrics=loss), None
        )
        assert bar.postfix == "fold 2/5"
        progress.on_validation_end(
            SimpleNamespace(sanity_checking=False, current_epoch=2, callback_metrics=loss), None
        )
        assert bar.postfix == "fold 2/5, epoch 3, val loss 0.693"


def trainer_of_a_fit(monkeypatch, **train):
    """The keyword arguments fit_classifier gives Lightning's Trainer, and the FinetuneModule it
    fits, for a toy fit with TrainConfig(**train); the Trainer is stopped at its construction."""
    from sciPT import classification
    from sciPT.domains.dna.tokenizer import dna_tokenizer
    from sciPT.finetune import FinetuneConfig
    from sciPT.nn import TransformerConfig, TransformerEncoder
    from sciPT.sequence_config import TokenizerConfig
    from sciPT.trainer import TrainConfig

    class Built(Exception):
        pass

    seen = {}

    def trainer(**kwargs):
        seen.update(kwargs)
        raise Built

    real_module = classification.FinetuneModule

    def module(*a, **kw):
        seen["module"] = real_module(*a, **kw)
        return seen["module"]

    monkeypatch.setattr(classification.pl, "Trainer", trainer)
    monkeypatch.setattr(classification, "FinetuneModule", module)
    tok = dna_tokenizer(TokenizerConfig())
    codes = [np.zeros(12, dtype=np.uint8)] * 4
    enc = TransformerEncoder(
        TransformerConfig(vocab_size=tok.vocab_size, d_model=8, n_layers=1, n_heads=2, d_ff=16, max_len=12)
    )
    with pytest.raises(Built):
        classification.fit_classifier(
            enc,
            ClassifierHead(HeadConfig(), 8, 12),
            tok,
            (codes, np.array([0, 1, 0, 1])),
            (codes[:2], np.array([0, 1])),
            train_cfg=TrainConfig(batch_size=2, **train),
            finetune=FinetuneConfig(head_lr_multiplier=10.0),
            max_epochs=3,
            patience=2,
            max_tokens=12,
        )
    return seen


def test_a_fit_trains_with_the_runs_clipping_precision_time_budget_and_head_learning_rate(monkeypatch):
    """train.grad_clip, train.precision, train.max_time and finetune.head_lr_multiplier are what the
    user set for every fit: a fit that dropped one trained unclipped, in another precision, past its
    budget, or with the head at the encoder's learning rate, while the config said otherwise."""
    import datetime as dt

    seen = trainer_of_a_fit(monkeypatch, max_steps=1000, grad_clip=0.5, precision="64-true", max_time="2")
    assert seen["gradient_clip_val"] == 0.5
    assert seen["precision"] == "64-true"
    assert seen["max_time"] == dt.timedelta(minutes=2)
    assert (seen["max_epochs"], seen["max_steps"]) == (3, 6)  # 4 examples in batches of 2, 3 epochs
    assert seen["module"].head_lr_multiplier == 10.0


def test_a_fit_sized_by_its_time_budget_is_bounded_by_time_alone(monkeypatch):
    """train.max_steps: None trains for train.max_time whatever max_epochs (module docstring), with
    the TimeBudget callback that sizes its schedule: an epoch bound ended it after 3 tiny epochs."""
    from sciPT.callbacks import TimeBudget

    seen = trainer_of_a_fit(monkeypatch, max_steps=None, max_time="2")
    assert (seen["max_epochs"], seen["max_steps"]) == (-1, -1)
    assert sum(isinstance(c, TimeBudget) for c in seen["callbacks"]) == 1


def test_the_validation_loss_is_the_mean_over_examples_not_over_batches():
    """130 validation sequences are a batch of 128 and one of 2: the validation loss that early
    stopping and best_val_loss read is the mean over the 130, the 2 not weighing as much as the 128."""
    from sciPT.classification import BinaryLoss, LabelledCollate

    labels = [i % 2 for i in range(130)]
    result, tok, val_codes, val_labels = fit_toy(labels, labels, batch_size=64, lr=1e-2)
    batch = LabelledCollate(tok, 12)(list(zip(val_codes, val_labels.tolist())))
    with torch.no_grad():  # 65 of each label: weight 1
        loss, _ = BinaryLoss(1.0)(result.model.backbone, result.model.head, batch)
    assert float(loss) == pytest.approx(result.best_val_loss, abs=1e-6)
