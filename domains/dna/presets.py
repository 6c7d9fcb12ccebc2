"""Named DNA configurations.

- ``tiny``: single-nucleotide tokens, 128 bp windows, 2 x 64-wide layers: the tests and the demo,
  minutes on a laptop CPU.
- ``small``: overlapping 6-mers, 517 bp windows (512 tokens), 4 x 256-wide layers.
- ``base``: overlapping 6-mers, 512 tokens, 12 x 768-wide layers (DNABERT-sized), for GPUs.
- ``promoter``: ``tiny`` with overlapping 3-mers and span-3 masking (the promoter pipeline's
  design), 130 bp windows (128 tokens), 60,000 steps: about 45 CPU-minutes on 2 cores, the top
  budget of ``benchmarks/promoter_budget.py``, where iPromoter-2L accuracy at every label fraction
  rose with pre-training compute up to it (``benchmarks/RESULTS_promoter.md``).
- ``genomes``: ``tiny`` on the four shipped genomes (:data:`~.data.SHIPPED_GENOMES`), files sampled
  at temperature 2, exact and near-duplicate tiles removed, tiles with 16 N in a row or a 3-mer
  entropy below 3 bits removed (:mod:`sciPT.curation`).
"""

from __future__ import annotations

from sciPT.nn import TransformerConfig
from sciPT.schedules import ScheduleConfig
from sciPT.sequence_config import SequenceDataConfig, SequencePretrainConfig, TokenizerConfig
from sciPT.trainer import TrainConfig

from .data import ECOLI_GENOME, SHIPPED_GENOMES
from .objectives import masked_objective


def tiny() -> SequencePretrainConfig:
    tok = TokenizerConfig(kind="residue")
    return SequencePretrainConfig(
        data=SequenceDataConfig(paths=[ECOLI_GENOME], window=128, reverse_complement=True),
        tokenizer=tok,
        model=TransformerConfig(d_model=64, n_layers=2, n_heads=4, d_ff=256, max_len=128),
        objective=masked_objective(tok),
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
    tok = TokenizerConfig(kind="kmer", k=6)
    return SequencePretrainConfig(
        data=SequenceDataConfig(paths=[ECOLI_GENOME], window=517, reverse_complement=True),
        tokenizer=tok,
        model=TransformerConfig(d_model=256, n_layers=4, n_heads=4, d_ff=1024, max_len=512),
        objective=masked_objective(tok),
        train=TrainConfig(
            max_steps=20_000,
            batch_size=16,
            lr=5e-4,
            schedule=ScheduleConfig(warmup_steps=1000),
            val_every=1000,
            checkpoint_every=1000,
        ),
    )


def base() -> SequencePretrainConfig:
    tok = TokenizerConfig(kind="kmer", k=6)
    return SequencePretrainConfig(
        data=SequenceDataConfig(paths=[ECOLI_GENOME], window=517, reverse_complement=True),
        tokenizer=tok,
        model=TransformerConfig(d_model=768, n_layers=12, n_heads=12, d_ff=3072, max_len=512, dropout=0.1),
        objective=masked_objective(tok),
        train=TrainConfig(
            max_steps=100_000,
            batch_size=32,
            lr=2e-4,
            precision="bf16-mixed",
            schedule=ScheduleConfig(warmup_steps=10_000),
            val_every=2000,
            checkpoint_every=2000,
        ),
    )


def promoter() -> SequencePretrainConfig:
    cfg = tiny()
    cfg.tokenizer = TokenizerConfig(kind="kmer", k=3)
    # masked in spans of k tokens, so a masked base cannot be read off its overlapping neighbours
    cfg.objective = masked_objective(cfg.tokenizer)
    cfg.data.window = cfg.model.max_len + cfg.tokenizer.k - 1
    cfg.train.max_steps = 60_000
    cfg.train.val_every = cfg.train.checkpoint_every = 5_000
    return cfg


def genomes() -> SequencePretrainConfig:
    cfg = tiny()
    cfg.data.paths = list(SHIPPED_GENOMES)
    cfg.data.temperature = 2.0
    cfg.data.dedup = "near"
    cfg.data.max_n_run = 16
    cfg.data.min_entropy = 3.0
    return cfg


PRESETS = {"tiny": tiny, "small": small, "base": base, "promoter": promoter, "genomes": genomes}
