"""Named protein configurations.

Proteins are sampled one per draw (uniformly), cropped at random to ``window`` residues when longer
and padded when shorter; a hash-chosen 2% of the proteins is held out for validation.

- ``tiny``: 128-residue crops, 2 x 64-wide layers (tests, demo).
- ``small``: 512-residue crops, 6 x 320-wide layers (ESM-2 8M-like).
- ``base``: 1024-residue crops, 12 x 480-wide layers (ESM-2 35M-like), for GPUs.
"""

from __future__ import annotations

from sciPT.nn import TransformerConfig
from sciPT.schedules import ScheduleConfig
from sciPT.sequence_config import SequenceDataConfig, SequencePretrainConfig, TokenizerConfig
from sciPT.trainer import TrainConfig

from .data import ECOLI_PROTEOME
from .objectives import masked_objective


def tiny() -> SequencePretrainConfig:
    return SequencePretrainConfig(
        data=SequenceDataConfig(paths=[ECOLI_PROTEOME], window=128),
        tokenizer=TokenizerConfig(kind="residue"),
        model=TransformerConfig(d_model=64, n_layers=2, n_heads=4, d_ff=256, max_len=128),
        objective=masked_objective(),
        train=TrainConfig(
            max_steps=300,
            batch_size=32,
            lr=2e-3,
            schedule=ScheduleConfig(warmup_steps=30),
            val_every=100,
            checkpoint_every=100,
            val_batches=8,
        ),
    )


def small() -> SequencePretrainConfig:
    return SequencePretrainConfig(
        data=SequenceDataConfig(paths=[ECOLI_PROTEOME], window=512),
        tokenizer=TokenizerConfig(kind="residue"),
        model=TransformerConfig(d_model=320, n_layers=6, n_heads=20, d_ff=1280, max_len=512),
        objective=masked_objective(),
        train=TrainConfig(
            max_steps=20_000,
            batch_size=16,
            lr=4e-4,
            schedule=ScheduleConfig(warmup_steps=1000),
            val_every=1000,
            checkpoint_every=1000,
        ),
    )


def base() -> SequencePretrainConfig:
    return SequencePretrainConfig(
        data=SequenceDataConfig(paths=[ECOLI_PROTEOME], window=1024),
        tokenizer=TokenizerConfig(kind="residue"),
        model=TransformerConfig(d_model=480, n_layers=12, n_heads=20, d_ff=1920, max_len=1024),
        objective=masked_objective(),
        train=TrainConfig(
            max_steps=100_000,
            batch_size=32,
            lr=4e-4,
            precision="bf16-mixed",
            schedule=ScheduleConfig(warmup_steps=2000),
            val_every=2000,
            checkpoint_every=2000,
        ),
    )


PRESETS = {"tiny": tiny, "small": small, "base": base}
