"""Task-adaptive pre-training: the masked objective continued on a task's own sequences.

Gururangan et al., *Don't Stop Pretraining: Adapt Language Models to Domains and Tasks* (ACL 2020):
an encoder pre-trained on a broad corpus gains on a task when its masked-model training continues,
before fine-tuning, on the task's unlabelled inputs (TAPT). A genome is mostly coding sequence;
promoters are a small, distinct part of it. Continuing the masked objective on the training
sequences moves the encoder's statistics towards the inputs it will classify, without their labels:

.. math::

    \\theta' = \\theta - \\eta \\sum_{t=1}^{T} \\nabla_\\theta
        \\Big(-\\frac{1}{|S_t|} \\sum_{i \\in S_t} \\log p_\\theta(x_i \\mid \\tilde x)\\Big)

over ``T`` steps of batches drawn with replacement from the training sequences (either strand at
random, as pre-training draws its windows), with the corruption and the masked-model head of
pre-training (:class:`sciPT.objectives.masked.MaskedLM`; spans of ``k`` tokens for overlapping
k-mers). Only the encoder is kept: the head that adapted beside it is dropped, so a likelihood
fused into the prediction (:mod:`sciPT.naturalness`) stays the pre-trained model's.

Only training sequences are read: a cross-validation adapts each fold's encoder on that fold's
training part, never on the sequences it is scored on (which would put the evaluation data inside
the pre-training corpus).

Shapes: ``codes``: a list of ``(L_i,)`` residue-code arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .naturalness import head_state
from .objectives.masked import LMHead, MaskedConfig, MaskedLM
from .tokenizers import SequenceTokenizer


@dataclass
class AdaptConfig:
    """Task-adaptive pre-training settings.

    Attributes:
        steps: optimizer steps of the masked objective on the task's sequences (0: off).
        lr: AdamW's learning rate, reached after a linear warm-up over a tenth of the steps.
        batch_size: sequences per step, drawn with replacement.
        mask_ratio: fraction of the tokens selected for prediction (pre-training's 15 %).
    """

    steps: int = 0
    lr: float = 5e-4
    batch_size: int = 32
    mask_ratio: float = 0.15


def adapt_encoder(
    backbone: nn.Module,
    extras: dict[str, torch.Tensor],
    tokenizer: SequenceTokenizer,
    codes: list[np.ndarray],
    max_tokens: int,
    cfg: AdaptConfig,
    seed: int,
    complement: np.ndarray | None = None,
) -> list[float]:
    """Continue ``backbone``'s masked-model training on ``codes``, in place; returns each step's loss.

    Args:
        backbone: a pre-trained encoder, its weights loaded.
        extras: the export's extra tensors, holding its masked-model head (``mlm_head.*``).
        tokenizer: the encoder's tokenizer (sciPT's; overlapping k-mers are masked in spans of k).
        codes: the task's training sequences (residue codes).
        max_tokens: the token length batches are padded or cut to.
        cfg: steps, learning rate, batch size, mask ratio.
        seed: draws the batches, strands and corruption.
        complement: residue-code complement table; given, each drawn sequence is read on a strand
            chosen at random.
    """
    weights = head_state(extras)
    if not weights:
        raise ValueError("task-adaptive pre-training needs the start's masked-model head (mlm_head.*)")
    vocab, width = weights["decoder.weight"].shape
    objective = MaskedLM(
        MaskedConfig(mask_ratio=cfg.mask_ratio, span=tokenizer.k),
        width,
        vocab,
        tokenizer.mask_id,
        tokenizer.pad_id,
        tokenizer.special_ids,
        tokenizer.normal_ids,
    )
    objective.head = LMHead(width, vocab)
    objective.head.load_state_dict(weights)
    params = [*backbone.parameters(), *objective.head.parameters()]
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=0.01)
    warmup = max(1, cfg.steps // 10)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / warmup))
    rng = np.random.default_rng(seed)
    generator = torch.Generator().manual_seed(seed)
    backbone.train()
    losses = []
    for _ in range(cfg.steps):
        picked = rng.integers(len(codes), size=cfg.batch_size)
        flip = rng.random(cfg.batch_size) < 0.5 if complement is not None else np.zeros(cfg.batch_size, bool)
        batch = tokenizer.batch(
            [complement[codes[i][::-1]] if f else codes[i] for i, f in zip(picked, flip)], max_tokens
        )
        loss, _ = objective(backbone, batch, generator)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        schedule.step()
        losses.append(float(loss.detach()))
    backbone.eval()
    return losses
