"""Classification heads on a sequence encoder: :class:`ClassifierHead`, the encoder with its head
(:class:`SequenceClassifier`) and an average of several (:class:`ProbabilityEnsemble`).

Model code only: :mod:`sciPT.classification` fits them, so an exported classifier loads without the
trainer.

Head. The encoder's hidden states ``[B, L, D]`` are pooled, then a linear layer (or a one-hidden-
layer MLP) gives one logit:

- ``mean``: the mean over real tokens, ``[B, D]``: position-free, any length;
- ``flatten``: the hidden states of ``length`` token positions concatenated, ``[B, length * D]``
  (shorter inputs zero-padded): keeps absolute position, which matters when the inputs are aligned
  on a landmark (promoters on the transcription start site).
- ``conv``: a motif detector on the hidden states, in the manner of CNNProm (Umarov and Solovyev
  2017): ``Conv1d(D -> filters, kernel)`` over the ``length`` positions (zero-padded), ReLU, max
  over windows of ``pool`` positions, then the pooled map flattened, ``[B, filters * ((length -
  kernel + 1) // pool)]``: a motif counts wherever it sits inside a window of ``pool`` positions,
  and which window it sits in is kept. ``pool: 0`` takes the maximum over all positions
  (position-free, any length).

``tokens: true`` feeds the head each position's input token, one-hot, beside the encoder's hidden
state (``[B, L, D + vocab]``): a skip past the encoder. With ``conv`` pooling the head then holds a
CNN on the tokens, with ``flatten`` a position-aware one-hot model, with ``mean`` a k-mer
composition model; the classifier is never limited to what the encoder kept of its input.

``composition: true`` (``conv`` and ``flatten`` pooling) puts the mean of the head's inputs over the
real tokens beside the pooled map (``+ D`` features, ``+ D + vocab`` with ``tokens``): a position-free
summary of the sequence (with ``tokens``, its k-mer composition) next to the positional features, so
that a signal that does not sit at fixed positions (what tells a genomic sequence from a shuffled
one) has a path to the logit that does not depend on where the training promoters put their motifs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from ..errors import ConfigError
from .strands import reverse_complement_hidden, reverse_complement_ids


@dataclass
class HeadConfig:
    """The classifier head (module docstring, "Head").

    Attributes:
        pooling: how the hidden states become features: ``mean`` (over the real tokens),
            ``flatten`` (each position's, concatenated) or ``conv`` (motif filters, ReLU, max-pool).
        hidden: width of the hidden layer of an MLP on the features (0: a linear layer).
        dropout: dropout probability on the features (and on the hidden layer).
        tokens: also feed the head each position's input token, one-hot, beside the hidden state.
        composition: ``conv`` and ``flatten``: add the mean of the head's inputs over the sequence
            beside the pooled map.
        filters: ``conv``: number of filters.
        kernel: ``conv``: filter width, in token positions (at most the input length).
        pool: ``conv``: max-pool width, in token positions (0: the maximum over all positions).
    """

    pooling: Literal["mean", "flatten", "conv"] = "mean"
    hidden: int = 0
    dropout: float = 0.1
    tokens: bool = False  # the one-hot input tokens beside the hidden states (module docstring)
    composition: bool = False  # the inputs' mean over positions beside the pooled map (module docstring)
    # ``conv`` pooling only: filters, kernel width and max-pool width, in token positions
    filters: int = 128
    kernel: int = 15
    pool: int = 4

    def __post_init__(self):
        # refused here, before any fit: each failed deep in a fit (oneDNN, "negative dimension")
        # after the run directory was written
        for key, least in (("filters", 1), ("kernel", 1), ("pool", 0), ("hidden", 0)):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                expected = "a positive integer" if least else "0 or a positive integer"
                raise ConfigError(f"head.{key}: expected {expected}, got {value}")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"head.dropout: expected a probability in [0, 1), got {self.dropout}")


class ClassifierHead(nn.Module):
    """Pooled hidden states -> one logit.

    Args:
        cfg: pooling, hidden width (0 = linear), dropout.
        hidden_size: the encoder's width ``D``.
        length: token positions kept by ``flatten`` pooling.
        strand_invariant: the encoder is reverse-complement equivariant
            (:mod:`sciPT.nn.strands`): the logit is the mean of the head's logits on the hidden
            states and on their reverse complement, so it is the same on either strand, for one
            encoder pass.
        vocab_size: the tokenizer's vocabulary (``cfg.tokens`` only).
        complement_ids: ``[vocab_size]`` each token's reverse complement (``cfg.tokens`` with
            ``strand_invariant`` only).

    Shapes: hidden ``[B, L, D]``, mask ``[B, L]`` (True = real token, real tokens first),
    input_ids ``[B, L]`` (``cfg.tokens`` only) -> logits ``[B]``.
    """

    def __init__(
        self,
        cfg: HeadConfig,
        hidden_size: int,
        length: int,
        strand_invariant: bool = False,
        vocab_size: int = 0,
        complement_ids: list[int] | None = None,
    ):
        super().__init__()
        self.cfg, self.length = cfg, length
        self.strand_invariant = strand_invariant
        self.vocab_size = vocab_size if cfg.tokens else 0
        if cfg.composition and cfg.pooling == "mean":
            raise ConfigError(
                "head.composition: adds the mean over positions to a positional pooling ('conv' or "
                "'flatten'); 'mean' pooling is that mean already"
            )
        if cfg.tokens and vocab_size < 1:
            raise ConfigError(
                "head.tokens: the head reads the input tokens; it needs the tokenizer's vocabulary"
            )
        if cfg.tokens and strand_invariant:
            if complement_ids is None:
                raise ConfigError("head.tokens: a strand-invariant head needs each token's complement")
            self.register_buffer("complement", torch.tensor(complement_ids), persistent=False)
        hidden_size += self.vocab_size
        if cfg.pooling == "conv":
            kernel = min(cfg.kernel, length)
            self.conv = nn.Conv1d(hidden_size, cfg.filters, kernel)
            features = cfg.filters * ((length - kernel + 1) // cfg.pool if cfg.pool else 1)
        else:
            features = hidden_size * (length if cfg.pooling == "flatten" else 1)
        if cfg.composition:
            features += hidden_size
        layers: list[nn.Module] = [nn.Dropout(cfg.dropout)]
        if cfg.hidden:
            layers += [nn.Linear(features, cfg.hidden), nn.GELU(), nn.Dropout(cfg.dropout)]
            features = cfg.hidden
        layers.append(nn.Linear(features, 1))
        self.net = nn.Sequential(*layers)

    def forward(
        self, hidden: torch.Tensor, mask: torch.Tensor, input_ids: torch.Tensor | None = None
    ) -> torch.Tensor:
        if self.vocab_size and input_ids is None:
            raise ValueError("head.tokens: the head reads the input tokens; pass input_ids")
        if not self.strand_invariant:
            return self._logits(hidden, mask, input_ids)
        # the other strand: what the encoder gives on the reverse complement, and its tokens
        other = reverse_complement_hidden(hidden, mask)
        ids = None
        if self.vocab_size:
            ids = torch.cat([input_ids, reverse_complement_ids(input_ids, mask, self.complement)])
        both = self._logits(torch.cat([hidden, other]), torch.cat([mask, mask]), ids)
        return both.view(2, -1).mean(0)

    def _with_tokens(self, hidden: torch.Tensor, input_ids: torch.Tensor | None) -> torch.Tensor:
        """``[B, L, D]`` -> ``[B, L, D + vocab]`` with the one-hot tokens (``tokens``), else as is."""
        if not self.vocab_size or input_ids is None:
            return hidden
        return torch.cat([hidden, nn.functional.one_hot(input_ids, self.vocab_size).to(hidden.dtype)], -1)

    def _logits(
        self, hidden: torch.Tensor, mask: torch.Tensor, input_ids: torch.Tensor | None
    ) -> torch.Tensor:
        return self.net(self.pooled(hidden, mask, input_ids)).squeeze(-1)

    def pooled(
        self, hidden: torch.Tensor, mask: torch.Tensor, input_ids: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The features the MLP reads: hidden ``[B, L, D]`` (and with ``tokens`` the input ids
        ``[B, L]``, one-hot beside them) -> ``[B, F]``."""
        m = mask.unsqueeze(-1).to(hidden.dtype)
        if self.cfg.pooling == "mean" or self.cfg.composition:
            full = self._with_tokens(hidden, input_ids) * m
            mean = full.sum(1) / m.sum(1).clamp_min(1)
        if self.cfg.pooling == "mean":
            return mean
        if self.cfg.pooling == "flatten":
            h = self._fit_length(self._with_tokens(hidden, input_ids) * m)
            pooled = h.flatten(1)
        else:
            motifs = torch.relu(self._motifs(hidden * m, mask, input_ids))  # [B, filters, windows]
            pooled = (
                nn.functional.max_pool1d(motifs, self.cfg.pool).flatten(1)
                if self.cfg.pool
                else motifs.amax(-1)
            )
        return torch.cat([pooled, mean], -1) if self.cfg.composition else pooled

    def _fit_length(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, L, ...]`` cut or zero-padded to ``[B, length, ...]``."""
        x = x[:, : self.length]
        if x.shape[1] < self.length:
            pad = [0, 0] * (x.dim() - 2) + [0, self.length - x.shape[1]]
            x = nn.functional.pad(x, pad)
        return x

    def _motifs(
        self, hidden: torch.Tensor, mask: torch.Tensor, input_ids: torch.Tensor | None
    ) -> torch.Tensor:
        """The convolution over ``[hidden; one-hot tokens]`` (masked, at ``length``), ``[B, filters,
        length - kernel + 1]``. The one-hot part is computed as what it is, a sum over the kernel's
        offsets of one weight column per token (``weight[:, D + id, j]``): the same numbers as the
        convolution of the one-hot channels, without its ``vocab`` input channels (4,107 for a
        Nucleotide Transformer's 6-mers, where they made the head most of a fine-tuning step)."""
        d = hidden.shape[-1]
        weight = self.conv.weight  # [filters, D (+ vocab), kernel]
        out = nn.functional.conv1d(self._fit_length(hidden).transpose(1, 2), weight[:, :d], self.conv.bias)
        if not self.vocab_size or input_ids is None:
            return out
        ids = self._fit_length(input_ids.masked_fill(~mask, 0))
        keep = self._fit_length(mask.to(out.dtype)).unsqueeze(-1)  # padding adds nothing
        kernel, windows = weight.shape[-1], out.shape[-1]
        for j in range(kernel):
            column = weight[:, d:, j].t()  # [vocab, filters]: offset j's weight for each token
            out = out + (column[ids[:, j : j + windows]] * keep[:, j : j + windows]).transpose(1, 2)
        return out


class SequenceClassifier(nn.Module):
    """Encoder + head: what a classification task exports (``backbone.*`` and ``head.*`` weights).

    Args:
        backbone: the encoder, ``(input_ids, attention_mask) -> hidden [B, L, D]``.
        head: the classifier head on its hidden states (it also reads ``input_ids``).

    Shapes: ``input_ids``, ``attention_mask`` ``[B, L]`` -> logits ``[B]``.
    """

    def __init__(self, backbone: nn.Module, head: ClassifierHead):
        super().__init__()
        self.backbone, self.head = backbone, head

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(input_ids, attention_mask), attention_mask, input_ids)


class ProbabilityEnsemble(nn.Module):
    """Several classifiers of the same data, one prediction: the mean of their probabilities.

    Fine-tunes that differ only in their seed (initialisation of the head, batch order, and the
    validation split each holds out) make partly independent errors; averaging their probabilities
    removes part of that variance (Lakshminarayanan et al. 2017, *Simple and Scalable Predictive
    Uncertainty Estimation using Deep Ensembles*). The module returns the logit of the mean,
    :math:`\\operatorname{logit}(\\tfrac1M \\sum_m \\sigma(z_m))`, so it drops in wherever a
    :class:`SequenceClassifier` is used (``sigmoid`` of its output is the mean probability).

    Args:
        members: the classifiers, each ``(input_ids, attention_mask) -> logits [B]``.

    Shapes: ``input_ids``, ``attention_mask`` ``[B, L]`` -> logits ``[B]``.
    """

    def __init__(self, members: list[nn.Module]):
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one member")
        self.members = nn.ModuleList(members)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        logits = torch.stack([m(input_ids, attention_mask) for m in self.members])
        # float64 so that a confident mean probability stays finite after the logit
        p = torch.sigmoid(logits.double()).mean(0).clamp(1e-12, 1 - 1e-12)
        return (torch.log(p) - torch.log1p(-p)).to(logits.dtype)
