"""Sequence classification on a pre-trained encoder: loss, one fit, predictions.

Shared by every sequence task (promoters today); a task decides the data, the folds and the report.
The models it fits (the head, the encoder with its head, the ensemble) are in
:mod:`sciPT.nn.classifier`.

Loss. Binary cross-entropy on the logit with ``pos_weight = n_negative / n_positive`` of the training
set, so each class weighs the same in total whatever the imbalance (1.0 for balanced sets).

Fit. AdamW (through :class:`sciPT.finetune.FinetuneModule`, so every fine-tuning strategy applies),
validation once per epoch, early stopping on the validation loss with ``patience`` epochs, and the
weights of the best validation epoch restored at the end. An epoch is at least
``min_steps_per_epoch`` optimizer steps: a training set smaller than that many batches is drawn
again (each pass a new shuffle) until the epoch is full. Without it, 1% of a few thousand labels is
two batches an epoch, a 15-epoch fit is 30 steps, shorter than the learning-rate warm-up, and
early stopping judges every 2 steps; few-sample fine-tuning fails most often from too few steps
(Mosbach et al. 2021, *On the Stability of Fine-tuning BERT*). A larger training set is untouched.
``train.max_time`` is the budget of each fit (a task that fits several models, an ensemble or
cross-validation folds, spends it on each);
with ``train.max_steps: None`` a fit trains for that budget, whatever ``max_epochs``, its schedule
sized to anneal by then (:class:`sciPT.callbacks.TimeBudget`), unless early stopping ends it first
(raise ``patience`` to spend the whole budget).

Ensemble. :class:`sciPT.nn.classifier.ProbabilityEnsemble` averages the probabilities of several
fitted classifiers (fine-tunes differing in seed); a task decides how many.
"""

from __future__ import annotations

import copy
import logging
import math
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass

import lightning.pytorch as pl
import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, RandomSampler
from tqdm import tqdm

from .finetune import FinetuneConfig, FinetuneModule, build_strategy, load_fisher
from .nn.classifier import ClassifierHead, SequenceClassifier
from .tokenizers import SequenceTokenizer
from .trainer import TrainConfig, parse_max_time, time_budget_callbacks


class BinaryLoss(nn.Module):
    """``loss_fn(backbone, head, batch)`` for :class:`FinetuneModule`: weighted BCE + accuracy.

    Args:
        pos_weight: weight of the positive examples' loss, ``n_negative / n_positive`` of the
            training set (module docstring).

    Shapes: ``batch["input_ids"]`` ``[B, L]``, ``batch["attention_mask"]`` ``[B, L]`` (True = real
    token), ``batch["labels"]`` ``[B]`` (0 or 1) -> the head's logits ``[B]`` -> scalar loss.
    """

    def __init__(self, pos_weight: float):
        super().__init__()
        self.register_buffer("pos_weight", torch.tensor(float(pos_weight)))

    def forward(self, backbone, head, batch):
        ids, mask = batch["input_ids"], batch["attention_mask"]
        logits = head(backbone(ids, mask), mask, ids)
        y = batch["labels"].to(logits.dtype)
        loss = nn.functional.binary_cross_entropy_with_logits(logits, y, pos_weight=self.pos_weight)
        # a probability of exactly 0.5 (logit 0) is called positive, as binary_metrics calls it
        accuracy = ((logits >= 0).to(y.dtype) == y).float().mean()
        return loss, {"accuracy": accuracy.detach()}


class LabelledCollate:
    """Tokenize a batch of ``(codes, label)`` items.

    ``max_shift``: roll each sequence by a random ``s`` in ``[-max_shift, max_shift]`` bases
    (``np.roll``; seeded by ``seed``) before tokenizing, a new ``s`` each time it is drawn: for
    training a model whose motifs may sit a few bases from where the training set has them (the
    spacer between a promoter's -35 and -10 boxes differs between sigma factors). The
    ``|s|`` bases moved from one end to the other are not real sequence; they stand for the few
    bases a window cut elsewhere would have held there."""

    def __init__(self, tokenizer: SequenceTokenizer, max_tokens: int, max_shift: int = 0, seed: int = 0):
        self.tokenizer, self.max_tokens, self.max_shift = tokenizer, max_tokens, max_shift
        self.rng = np.random.default_rng(seed)

    def __call__(self, items):
        codes, labels = zip(*items)
        if self.max_shift:
            shifts = self.rng.integers(-self.max_shift, self.max_shift + 1, len(codes))
            codes = [np.roll(c, s) for c, s in zip(codes, shifts)]
        batch = self.tokenizer.batch(list(codes), self.max_tokens)
        batch["labels"] = torch.tensor(labels, dtype=torch.long)
        return batch


@contextmanager
def quiet_lightning():
    """Cross-validation fits dozens of models: keep Lightning's per-fit banners off the terminal."""
    loggers = [logging.getLogger(n) for n in ("lightning.pytorch", "lightning.fabric")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


class _BestWeights(pl.Callback):
    """Keep the weights of the epoch with the lowest validation loss, restore them at the end."""

    def __init__(self):
        self.best, self.state = float("inf"), None

    def on_validation_end(self, trainer, module):
        loss = trainer.callback_metrics.get("val/loss")
        if loss is not None and float(loss) < self.best:
            self.best = float(loss)
            self.state = copy.deepcopy({k: v.detach().cpu() for k, v in module.state_dict().items()})

    def on_fit_end(self, trainer, module):
        if self.state is not None:
            module.load_state_dict(self.state)


class EpochProgress(pl.Callback):
    """Each epoch's number and validation loss after the postfix of ``bar``, the progress bar of the
    fits around this one (a cross-validation's counts whole fits: without this, minutes without a
    change on the screen); the bar's own postfix is back when the fit ends. Redrawn no more often
    than the bar's ``mininterval`` (30 s in a log file, :func:`sciPT.cli.log_friendly_progress`)."""

    def __init__(self, bar, max_epochs: int):
        self.bar, self.max_epochs = bar, max_epochs
        self.postfix = bar.postfix or ""

    def on_validation_end(self, trainer, module):
        if trainer.sanity_checking:
            return
        epoch = f"epoch {trainer.current_epoch + 1}" + (f"/{self.max_epochs}" if self.max_epochs > 0 else "")
        loss = trainer.callback_metrics.get("val/loss")
        words = f"{epoch}, val loss {float(loss):.3f}" if loss is not None else epoch
        self.bar.set_postfix_str(f"{self.postfix}, {words}" if self.postfix else words, refresh=False)
        now = time.time()
        if now - self.bar.last_print_t >= self.bar.mininterval:
            self.bar.refresh()
            self.bar.last_print_t = now

    def on_fit_end(self, trainer, module):
        self.bar.set_postfix_str(self.postfix, refresh=False)

    def on_exception(self, trainer, module, exception):
        # a fit that raises (diverged, interrupted) never reaches on_fit_end
        self.on_fit_end(trainer, module)


def enclosing_bar():
    """The innermost progress bar on the screen (the last opened of those still open), or None.
    The fits are called by a task's code, which owns the bar over them and does not pass it."""
    bars = [bar for bar in list(tqdm._instances) if not bar.disable]
    return max(bars, key=lambda bar: bar.start_t, default=None)


@dataclass
class FitResult:
    model: SequenceClassifier
    epochs: int
    best_val_loss: float
    steps: int = 0  # optimizer steps taken


def fit_classifier(
    backbone: nn.Module,
    head: ClassifierHead,
    tokenizer: SequenceTokenizer,
    train: tuple[list[np.ndarray], np.ndarray],
    val: tuple[list[np.ndarray], np.ndarray],
    *,
    train_cfg: TrainConfig,
    finetune: FinetuneConfig,
    max_epochs: int,
    patience: int,
    max_tokens: int,
    extras: dict | None = None,
    log_dir=None,
    min_steps_per_epoch: int = 0,
    max_shift: int = 0,
) -> FitResult:
    """Fine-tune ``backbone`` + ``head`` on ``train``; early stopping on ``val``.

    ``train`` and ``val`` are ``(codes, labels)``: residue-code arrays and 0/1 labels; an epoch is
    at least ``min_steps_per_epoch`` optimizer steps (module docstring); ``max_shift``: each
    training sequence rolled by up to that many bases either way when drawn (:class:`LabelledCollate`;
    the validation sequences as they are).
    """
    codes, labels = train
    labels = np.asarray(labels)
    n_pos = int(labels.sum())
    pos_weight = (len(labels) - n_pos) / max(1, n_pos)
    strategy = build_strategy(finetune, backbone, fisher=load_fisher(extras or {}))
    module = FinetuneModule(
        backbone,
        head,
        BinaryLoss(pos_weight),
        strategy,
        train_cfg,
        head_lr_multiplier=finetune.head_lr_multiplier,
        batch_size_fn=lambda b: len(b["labels"]),
    )
    collate = LabelledCollate(tokenizer, max_tokens)
    generator = torch.Generator().manual_seed(train_cfg.seed)
    examples = list(zip(codes, labels.tolist()))
    per_epoch = max(len(examples), min_steps_per_epoch * train_cfg.batch_size * train_cfg.accumulate)
    # num_samples past the data's size without replacement chains fresh permutations of it
    sampler = RandomSampler(examples, num_samples=per_epoch, generator=generator)
    train_collate = LabelledCollate(tokenizer, max_tokens, max_shift, train_cfg.seed)
    train_loader = DataLoader(
        examples, batch_size=train_cfg.batch_size, sampler=sampler, collate_fn=train_collate
    )
    val_loader = DataLoader(
        list(zip(val[0], np.asarray(val[1]).tolist())),
        batch_size=max(train_cfg.batch_size, 128),
        collate_fn=collate,
    )
    best = _BestWeights()
    stop = pl.callbacks.EarlyStopping(monitor="val/loss", patience=patience, mode="min")
    logger = pl.loggers.CSVLogger(log_dir, name="", version="") if log_dir is not None else False
    sized = train_cfg.max_steps is None  # sized from max_time: neither epochs nor steps stop it
    bar = enclosing_bar()
    progress = [EpochProgress(bar, -1 if sized else max_epochs)] if bar is not None else []
    # the run's step total as the epochs bound it: a head warm-up given as a fraction of the run
    # took it of train.max_steps (100,000 in the task's preset), so it never ended and the encoder
    # was never trained
    max_steps = -1
    if not sized:
        max_steps = min(train_cfg.max_steps, max_epochs * math.ceil(len(train_loader) / train_cfg.accumulate))
    with quiet_lightning():
        trainer = pl.Trainer(
            accelerator=train_cfg.accelerator,
            devices=1,
            precision=train_cfg.precision,
            max_epochs=-1 if sized else max_epochs,
            max_steps=max_steps,
            max_time=parse_max_time(train_cfg.max_time),
            gradient_clip_val=train_cfg.grad_clip or None,
            accumulate_grad_batches=train_cfg.accumulate,
            callbacks=[best, stop, *progress, *time_budget_callbacks(train_cfg)],
            logger=logger,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            num_sanity_val_steps=0,
            log_every_n_steps=max(1, min(train_cfg.log_every, len(train_loader))),
        )
    with quiet_lightning():
        trainer.fit(module, train_loader, val_loader)
    model = SequenceClassifier(module.backbone, module.head).eval()
    return FitResult(
        model=model, epochs=trainer.current_epoch, best_val_loss=best.best, steps=trainer.global_step
    )


@torch.inference_mode()
def predict_proba(
    model: SequenceClassifier,
    tokenizer: SequenceTokenizer,
    codes: list[np.ndarray],
    *,
    max_tokens: int,
    batch_size: int = 256,
) -> np.ndarray:
    """Probabilities ``[N]`` of sequences already cropped to the model's input (strand averaging is
    the caller's: it must reverse-complement before cropping, ``tasks.promoter_classifier``)."""
    model.eval()
    out = []
    for i in range(0, len(codes), batch_size):
        batch = tokenizer.batch(codes[i : i + batch_size], max_tokens)
        out.append(torch.sigmoid(model(batch["input_ids"], batch["attention_mask"])).float().numpy())
    return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)
