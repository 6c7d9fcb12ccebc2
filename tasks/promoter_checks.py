"""The promoter task's checks: of its configuration and of its data, before anything is written.

- :func:`validate`, :func:`check_start_keys`, :func:`check_epoch_fits`: a configuration the fits
  cannot honour stops with one line (exit status 2) before the run directory exists.
- :func:`overlap_flags`: sequences repeated inside the training data (the same bases, either
  strand), labelled both ways, or shared with the ``--val`` or ``--test`` set, exactly or as near
  copies (:mod:`sciPT.diagnostics.overlap`), counted in ``metrics.json`` and said in the report's
  first lines, as held-out scores they inflate.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sciPT.config import to_dict
from sciPT.diagnostics import overlap
from sciPT.diagnostics.contamination import DEFAULT_K, DEFAULT_THRESHOLD, check_parameters
from sciPT.domains.dna.data import COMPLEMENT, DNA_SPEC
from sciPT.errors import ConfigError, DataError
from sciPT.finetune import validate as validate_finetune
from sciPT.runconfig import refuse_unused_train_keys
from sciPT.splits import distinct_per_class, grouped_split
from sciPT.trainer import validate as validate_train

from .promoter_config import early_stopping_size

if TYPE_CHECKING:
    from sciPT.sequence_inputs import LabelledSequences

    from .promoter_config import PromoterConfig

# Every fine-tune is a small single-device fit validated once per epoch (sciPT.classification);
# these training keys shape multi-device pre-training and would do nothing here.
UNUSED_TRAIN_KEYS = (
    "devices",
    "num_nodes",
    "strategy",
    "val_every",
    "val_batches",
    "checkpoint_every",
    "num_workers",
    "activation_checkpointing",
    "compile",
)
N_CORE = DNA_SPEC.alphabet.n_core


def validate(cfg: PromoterConfig) -> None:
    from .promoter import PromoterTask

    refuse_unused_train_keys(
        PromoterTask(),
        cfg.train,
        type(cfg)().train,
        "finetune promoter (each model is fitted on one device and validated once an epoch)",
    )
    if cfg.finetune.strategy == "replay":
        raise ConfigError(
            "finetune.strategy: 'replay' is not available in finetune promoter (its fits draw no "
            "pre-training data); 'l2sp' or 'ewc' keep the pre-trained weights close instead"
        )
    # the training keys the fits read, as pre-training checks them (a batch size of 0 divided by
    # zero, a negative learning rate failed in the first fit, after the run directory was made)
    validate_train(cfg.train)
    validate_finetune(cfg.finetune, max_steps=cfg.train.max_steps)
    for key, least in (("max_epochs", 1), ("patience", 0)):
        if getattr(cfg, key) < least:
            what = "a positive integer" if least else "0 or more"
            raise ConfigError(f"{key}: expected {what}, got {getattr(cfg, key)}")
    if cfg.inputs.max_length < 0:
        raise ConfigError(
            f"inputs.max_length: expected 0 (the longest training sequence) or a number of residues, "
            f"got {cfg.inputs.max_length}"
        )
    if cfg.folds == 1 or cfg.folds < 0:
        raise ConfigError(f"folds: expected 0 (no cross-validation) or at least 2, got {cfg.folds}")
    if cfg.folds and cfg.inputs.val:
        raise ConfigError("--val and --folds: cross-validation makes its own validation sets; give one")
    if cfg.fraction_seeds < 1:
        raise ConfigError(f"fraction_seeds: expected a positive number of seeds, got {cfg.fraction_seeds}")
    if cfg.ensemble < 1:
        raise ConfigError(f"ensemble: expected a positive number of fine-tunes, got {cfg.ensemble}")
    if cfg.min_steps_per_epoch < 0:
        raise ConfigError(
            f"min_steps_per_epoch: expected a non-negative integer, got {cfg.min_steps_per_epoch}"
        )
    if cfg.shift < 0:
        raise ConfigError(f"shift: expected a non-negative number of bases, got {cfg.shift}")
    if not 0 < cfg.val_fraction < 1:
        raise ConfigError(f"val_fraction: expected a fraction in (0, 1), got {cfg.val_fraction}")
    # before any fit (the check runs after cross-validation), and whether or not a check runs
    check_parameters(cfg.contamination_k, cfg.contamination_threshold, 4, prefix="contamination_")
    if np.isnan(cfg.naturalness_min_ratio):
        raise ConfigError("naturalness_min_ratio: expected a number (3.841 is p = 0.05), got nan")
    if cfg.export == "recommended" and not (cfg.folds and cfg.baselines):
        raise ConfigError(
            "export: 'recommended' needs --folds and the baselines (scratch) to recommend from; "
            "without them the start is the only model"
        )
    for i, f in enumerate(cfg.label_fractions):
        if not 0 < f <= 1:
            raise ConfigError(f"label_fractions: expected fractions in (0, 1], got {f}")
        if f in cfg.label_fractions[:i]:
            raise ConfigError(f"label_fractions: {f:g} given twice; expected each fraction once")


def check_start_keys(cfg: PromoterConfig) -> None:
    """Refuse model and tokenizer keys beside a pre-trained ``--init``, whose own architecture and
    tokenizer are used: the keys would be recorded in config.yaml and do nothing."""
    if cfg.init == "none":
        return
    defaults = type(cfg)()
    for section in ("model", "tokenizer"):
        given, default = to_dict(getattr(cfg, section)), to_dict(getattr(defaults, section))
        for key, value in given.items():
            if value != default[key]:
                raise ConfigError(
                    f"{section}.{key}: the pre-trained start (--init {cfg.init}) brings its own "
                    f"{section}; the {section} keys apply to --init none"
                )


def distinct_needed(folds: int) -> int:
    """Distinct sequences a class needs for ``folds``-fold cross-validation whose every training
    part can still hold out 2 of them to stop early (a fold tests up to ``ceil(c / folds)`` of a
    class's ``c``); 2 without cross-validation."""
    if not folds:
        return 2
    c = folds
    while c - math.ceil(c / folds) < 2:
        c += 1
    return c


def check_distinct_sequences(cfg: PromoterConfig, data: LabelledSequences, val) -> None:
    """Refuse, before anything is written, a class with too few distinct sequences (copies, reverse
    complements and near copies count once, as the folds and early-stopping splits group them)."""
    from .promoter_evaluation import held_out_keys

    if val is not None and not cfg.folds:
        return  # one fit, stopped on --val: nothing is split
    alike = "copies, reverse complements and near copies"
    counts = distinct_per_class(held_out_keys(cfg, data), data.labels)
    need = distinct_needed(cfg.folds)
    for label, name in ((1, "promoter"), (0, "non-promoter")):
        have = counts.get(label, 0)
        if have < need:
            what = (
                f"{cfg.folds} folds, each training part stopping early on 2 of each class,"
                if cfg.folds
                else "an early-stopping split"
            )
            raise DataError(
                f"{data.source}: {have} distinct {name} sequence{'s' if have != 1 else ''} ({alike} "
                f"count once); {what} needs at least {need}"
            )


def check_label_fractions(cfg: PromoterConfig, data: LabelledSequences) -> None:
    """Refuse, before anything is written, a ``--label-fractions`` subset too small for its fit's
    early-stopping split (it was refused once the cross-validation and the final model were done)."""
    from .promoter_evaluation import fraction_seeds, fraction_split, fraction_subset, held_out_keys

    if not cfg.label_fractions:
        return
    pool, _ = fraction_split(cfg, data)
    need = distinct_needed(0)
    for frac in sorted(cfg.label_fractions):
        for seed in fraction_seeds(cfg):
            subset = fraction_subset(pool, frac, seed)
            counts = distinct_per_class(held_out_keys(cfg, subset), subset.labels)
            for label, name in ((1, "promoter"), (0, "non-promoter")):
                have = counts.get(label, 0)
                if have < need:
                    raise ConfigError(
                        f"--label-fractions {frac:g}: its subset of {len(subset)} sequences (seed {seed}) "
                        f"holds {have} distinct {name} sequence{'s' if have != 1 else ''}, and its "
                        f"early-stopping split needs at least {need}; expected a larger fraction"
                    )


def check_epoch_fits(cfg: PromoterConfig, data: LabelledSequences, val) -> None:
    """Refuse a step budget that ends inside the first pass over the largest fit's training part:
    that fit would stop before its first validation, which early stopping needs."""
    t = cfg.train
    if t.max_steps is None:
        return
    fit = len(data)
    if val is None:  # the fits on all the data hold out whole groups of copies: their own sizes
        from .promoter_evaluation import held_out_keys

        keys = held_out_keys(cfg, data)
        n_val = early_stopping_size(cfg, len(data))
        fit = max(
            len(grouped_split(keys, data.labels, n_val, t.seed + 1000 * m)[0]) for m in range(cfg.ensemble)
        )
    steps = math.ceil(math.ceil(fit / t.batch_size) / t.accumulate)
    if steps > t.max_steps:
        raise ConfigError(
            f"max_steps: {t.max_steps} optimizer steps end before the first validation; one pass over "
            f"the {fit} training sequences of {data.source} is {steps} steps at batch size "
            f"{t.batch_size}: expected --max-steps at least {steps} or a larger --batch-size"
        )


def check_head_reads(cfg: PromoterConfig, data: LabelledSequences, length: int, tokens: int) -> None:
    """Refuse a read length at which the classifier head has no feature: the conv head slides its
    kernel over the ``tokens`` token positions of ``length`` residues, then max-pools windows of
    ``pool``, so it needs at least ``kernel + pool - 1`` of them (fewer failed inside the first
    fit, after the run directory was written)."""
    head = cfg.head
    need = head.kernel + head.pool - 1 if head.pooling == "conv" and head.pool > 1 else 1
    if tokens >= need:
        return
    extra = length - tokens  # residues a token spans beyond one (k - 1 for overlapping k-mers)
    how = f"inputs.max_length {cfg.inputs.max_length}" if cfg.inputs.max_length else "its longest sequence"
    raise DataError(
        f"{data.source}: the model reads {length} residues ({how}), {tokens} token(s), and the "
        f"{head.pooling} head needs at least {need} (kernel {head.kernel} + max-pool {head.pool} - 1): "
        f"expected sequences (or --inputs.max-length) of at least {need + extra} residues, or a "
        "smaller --head.kernel / --head.pool"
    )


def file_names(source: str) -> str:
    """``"train.csv"``, or ``"pos.fa + neg.fa"`` for a ``--positives``/``--negatives`` pair."""
    return " + ".join(Path(path).name for path in source.split(" + "))


def counted(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def overlap_flags(
    data: LabelledSequences,
    test: LabelledSequences | None,
    metrics: dict,
    val: LabelledSequences | None = None,
    k: int = DEFAULT_K,
    threshold: float = DEFAULT_THRESHOLD,
) -> list[str]:
    """Report lines (and ``metrics`` entries) for repeated, contradictory and shared sequences, and
    for near copies (``k``-mer similarity at least ``threshold``, :mod:`sciPT.diagnostics.overlap`)
    inside the training data and between it and the validation and test sets."""
    found = overlap.repeats(data.codes, data.labels, COMPLEMENT)
    metrics["label_conflicts"], metrics["repeated_sequences"] = found.conflicting, found.repeated
    groups = overlap.copy_groups(data.codes, COMPLEMENT, k, threshold, N_CORE)
    near = groups.near
    metrics["near_copies"] = int(near.sum())
    # groups of near copies whose records carry both labels (a non-promoter window overlapping a
    # promoter): the near copies' contradictions, beside the exact ones counted above
    pairs = np.unique(np.c_[groups.group, data.labels], axis=0)
    both = np.flatnonzero(np.bincount(pairs[:, 0], minlength=1) > 1) if len(pairs) else pairs[:0, 0]
    mixed = int(np.isin(np.unique(groups.group[near]), both).sum())
    metrics["near_copy_label_conflicts"] = mixed
    similar = f"share at least {threshold:g} of their {k}-mers (either strand)"
    name = file_names(data.source)
    lines = []
    if found.conflicting:
        lines.append(
            f"- **Contradictory labels**: {counted(found.conflicting, 'sequence')} of {name} (either "
            f"strand) {'is' if found.conflicting == 1 else 'are'} labelled both promoter and "
            "non-promoter; no model can get every label right."
        )
    if found.repeated:
        lines.append(
            f"- **Repeated sequences**: {counted(found.repeated, 'record')} of {name} "
            f"{'repeats' if found.repeated == 1 else 'repeat'} an earlier record's sequence (either "
            "strand); the folds and early-stopping splits keep the copies on one side, so no model is "
            "scored on a sequence it was fitted on, but each copy counts in the metrics."
        )
    if near.any():
        lines.append(
            f"- **Near copies**: {counted(int(near.sum()), 'record')} of {name} {similar} with "
            "another record without being a copy of it (a window cut again a few bases along, a "
            "promoter annotated at two nearby starts). The folds, the label fractions' test part and "
            "each fit's early-stopping split (and the baselines' and stacks' inner splits) keep near "
            "copies together, as they keep copies."
            + (
                f" {counted(mixed, 'group')} of near copies {'holds' if mixed == 1 else 'hold'} both "
                "labels: a promoter and a non-promoter that are nearly the same sequence."
                if mixed
                else ""
            )
        )
    held = (
        (
            val,
            "val",
            "Validation",
            "the final model stopped early and fitted its stacks on sequences it "
            "was trained on, and the validation scores include them",
            "the final model stopped early and fitted its stacks on near copies of what it was "
            "trained on, and the validation scores partly measure its recall of them",
        ),
        (
            test,
            "test",
            "Test",
            "the test scores include what the model was trained on",
            "the test scores partly measure how well the model recalls what it was trained on, "
            "not how it does on new sequences",
        ),
    )
    for part, key, title, consequence, near_consequence in held:
        if part is None:
            continue
        exact = overlap.found_in(part.codes, data.codes, COMPLEMENT)
        shared = int(exact.sum())
        metrics[f"{key}_in_training"] = shared
        if shared:
            lines.append(
                f"- **{title} set not held out**: {shared} of the {len(part)} sequences of "
                f"{file_names(part.source)} occur in the training data {name} (either strand); "
                f"{consequence}."
            )
        similarity = overlap.similarity_to(part.codes, data.codes, COMPLEMENT, k, N_CORE)
        close = int(((similarity >= threshold) & ~exact).sum())
        metrics[f"{key}_near_training"] = close
        if close:
            lines.append(
                f"- **{title} set near copies**: {close} of the {len(part)} sequences of "
                f"{file_names(part.source)} {similar} with the training data {name} without "
                f"occurring in it; {near_consequence}."
            )
    return lines


LENGTH_GIVES_AWAY = 0.9
"""AUROC of sequence length as a predictor of the label at or beyond which (or at or below 1 minus
it) the report says that length alone tells the classes apart."""


def length_flag(data: LabelledSequences, length: int, metrics: dict) -> list[str]:
    """A report line (and ``metrics["label_length_auroc"]``) where the classes' lengths as the model
    reads them (padded up to, or cropped at, ``length``) differ so much that length alone predicts
    the label: a model can then learn the padding instead of the sequence. Nothing when every
    sequence is read at one length."""
    lengths = np.minimum([len(c) for c in data.codes], length)
    if lengths.min() == lengths.max():
        return []
    from sklearn.metrics import roc_auc_score

    # the chance that a promoter is longer than a non-promoter, ties counting half
    auroc = float(roc_auc_score(data.labels, lengths))
    metrics["label_length_auroc"] = auroc
    # 1 - auroc, not 1 - 0.9 (0.09999999999999998): an AUROC of exactly 0.1 is flagged as 0.9 is
    if max(auroc, 1 - auroc) < LENGTH_GIVES_AWAY:
        return []
    span = lambda x: f"{x.min()}" if x.min() == x.max() else f"{x.min()}-{x.max()}"  # noqa: E731
    positives, negatives = lengths[data.labels == 1], lengths[data.labels == 0]
    return [
        f"- **Length gives the label away**: in {file_names(data.source)} promoters are {span(positives)} "
        f"bp long and non-promoters {span(negatives)} bp; length alone tells them apart (AUROC "
        f"{auroc:.2f}), and the shorter ones are padded to {length} bp, so a model can learn the padding "
        "instead of the sequence. Give both classes sequences of the same length."
    ]
