"""A small convolutional promoter classifier of the CNNProm kind: the neural baseline.

CNNProm (Umarov and Solovyev 2017, *Recognition of prokaryotic and eukaryotic promoters using
convolutional deep learning neural networks*, PLoS ONE 12: e0171410) reads one-hot DNA with one
convolutional layer, max-pools it and classifies with a small dense layer. This one, sized for
promoter windows of tens to hundreds of bases on a CPU (``L`` the input length):

    one-hot [B, 4, L] -> Conv1d(4 -> 128, kernel 15, no padding) -> ReLU -> MaxPool(4)
    -> [B, 128, (L - 14) // 4] -> Dropout -> Linear(-> 64) -> ReLU -> Dropout -> Linear(64 -> 1)

It keeps position (the dense layer sees where each motif was found). On the promoter sets of the
project's benchmarks it is the strongest baseline that is not pre-trained (``benchmarks/RESULTS.md``),
so ``scipt finetune promoter --folds K`` runs it beside the model (:class:`CNNClassifier`), the
promoter classifier can stack its logit onto its own (:class:`CNNScore`), and the benchmarks use the
same code.

Training mirrors the promoter task's fine-tunes: AdamW, binary cross-entropy with
``pos_weight = n_neg / n_pos``, validation once per epoch, early stopping on the validation loss with
``patience`` epochs, the best epoch's weights restored, and an epoch of at least
``min_steps_per_epoch`` batches (a small fit set is drawn again, each pass a new shuffle). ``N``
(any code above 3) is an all-zero column.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from sciPT.diagnostics.overlap import NearCopies, split_keys
from sciPT.splits import grouped_split

from .data import COMPLEMENT, DNA_SPEC


@dataclass
class CNNConfig:
    """The CNN's shape (:class:`PromoterCNN`). ``dropout`` applies to a model built from the config
    directly; :func:`fit_cnn` always sets its own (the baseline's, chosen by validation)."""

    filters: int = 128
    kernel: int = 15
    pool: int = 4
    hidden: int = 64
    dropout: float = 0.3


class PromoterCNN(nn.Module):
    """One convolutional layer, max-pooling and a dense layer on one-hot DNA (module docstring).

    Args:
        cfg: number of filters, kernel and max-pool widths (in bases), dense hidden width, dropout.
        length: the input length ``L`` in bases, at least ``cfg.kernel`` (sizes the dense layer).

    Shapes: one-hot ``[B, 4, L]`` -> logits ``[B]`` (``L`` fixed at construction, at least the kernel).
    """

    def __init__(self, cfg: CNNConfig, length: int):
        super().__init__()
        self.cfg, self.length = cfg, length
        if length < cfg.kernel:
            raise ValueError(f"sequences of {length} bases are shorter than the CNN's kernel of {cfg.kernel}")
        positions = (length - cfg.kernel + 1) // cfg.pool
        self.net = nn.Sequential(
            nn.Conv1d(4, cfg.filters, cfg.kernel),
            nn.ReLU(),
            nn.MaxPool1d(cfg.pool),
            nn.Dropout(cfg.dropout),
            nn.Flatten(),
            nn.Linear(cfg.filters * positions, cfg.hidden),
            nn.ReLU(),
            nn.Dropout(cfg.dropout),
            nn.Linear(cfg.hidden, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(-1)


def one_hot(codes: list[np.ndarray], length: int) -> np.ndarray:
    """``[N, 4, length]`` float32; A C G T are codes 0-3, anything else (N) an all-zero column;
    shorter sequences are zero-padded on the right, longer ones cut."""
    out = np.zeros((len(codes), 4, length), dtype=np.float32)
    for row, c in enumerate(codes):
        c = np.asarray(c)[:length]
        pos = np.flatnonzero(c < 4)
        out[row, c[pos].astype(np.int64), pos] = 1.0
    return out


@dataclass
class CNNFit:
    model: PromoterCNN
    epochs: int
    best_epoch: int
    best_val_loss: float


def fit_cnn(
    x_fit: np.ndarray,
    y_fit: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    *,
    lr: float,
    dropout: float,
    seed: int,
    max_epochs: int = 40,
    patience: int = 5,
    batch_size: int = 64,
    weight_decay: float = 0.01,
    cfg: CNNConfig | None = None,
    min_steps_per_epoch: int = 0,
) -> CNNFit:
    """Train on ``(x_fit, y_fit)``, early stopping on the loss on ``(x_val, y_val)``.

    AdamW with gradients clipped at norm 1; the positives' loss weighted by the ratio of negatives
    to positives, so an unbalanced set does not teach the majority class. The seed fixes the initial
    weights, the batches and the dropout masks; the caller's global torch random state is left as
    it was."""
    if len(x_val) == 0:
        # every epoch would score the same, and the first epoch's weights would be kept silently
        raise ValueError("fit_cnn: the validation set is empty; early stopping needs at least one sequence")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        cfg = CNNConfig(**{**(cfg or CNNConfig()).__dict__, "dropout": dropout})
        model = PromoterCNN(cfg, x_fit.shape[-1])
        y_fit = np.asarray(y_fit, dtype=np.float32)
        n_pos = float(y_fit.sum())
        loss_fn = nn.BCEWithLogitsLoss(pos_weight=torch.tensor((len(y_fit) - n_pos) / max(1.0, n_pos)))
        optimiser = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
        xf, yf = torch.from_numpy(x_fit), torch.from_numpy(y_fit)
        xv, yv = torch.from_numpy(x_val), torch.from_numpy(np.asarray(y_val, dtype=np.float32))
        generator = torch.Generator().manual_seed(seed)
        best, best_state, best_epoch, waited, epoch = float("inf"), None, 0, 0, 0
        per_epoch = max(len(xf), min_steps_per_epoch * batch_size)  # examples drawn per epoch
        passes = -(-per_epoch // len(xf))
        for epoch in range(1, max_epochs + 1):
            model.train()
            order = torch.cat([torch.randperm(len(xf), generator=generator) for _ in range(passes)])
            for batch in order[:per_epoch].split(batch_size):
                optimiser.zero_grad()
                loss = loss_fn(model(xf[batch]), yf[batch])
                loss.backward()
                nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimiser.step()
            model.eval()
            with torch.inference_mode():
                val_loss = float(loss_fn(model(xv), yv))
            if val_loss < best:
                best, best_epoch, waited = val_loss, epoch, 0
                best_state = copy.deepcopy(model.state_dict())
            else:
                waited += 1
                if waited >= patience:
                    break
        if best_state is not None:
            model.load_state_dict(best_state)
    return CNNFit(model.eval(), epoch, best_epoch, best)


@torch.inference_mode()
def predict_cnn(
    model: PromoterCNN, x: np.ndarray, batch_size: int = 1024, logits: bool = False
) -> np.ndarray:
    """Probabilities of the positive class ``[N]`` for one-hot ``x`` ``[N, 4, L]``; with ``logits``,
    their logits."""
    model.eval()
    out = []
    for i in range(0, len(x), batch_size):
        z = model(torch.from_numpy(x[i : i + batch_size]))
        out.append((z if logits else torch.sigmoid(z)).numpy())
    return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)


class CNNScore:
    """The mean logit of one or more fitted CNNs on integer-coded sequences: the score the promoter
    classifier stacks onto its own logit (an ensemble's members each bring the CNN fitted without
    their early-stopping split). Shapes: ``codes`` N sequences -> ``[N]`` float64."""

    def __init__(self, models: list[PromoterCNN]):
        if not models or len({m.length for m in models}) != 1:
            raise ValueError("CNNScore: expected one or more CNNs of one input length")
        self.models = [m.eval() for m in models]
        self.length = models[0].length

    def __call__(self, codes: list[np.ndarray]) -> np.ndarray:
        x = one_hot(codes, self.length)
        return np.mean([predict_cnn(m, x, logits=True) for m in self.models], axis=0).astype(np.float64)


class CNNClassifier:
    """The CNN as an estimator on integer-coded sequences: ``fit(codes, labels)``, ``predict_proba(codes)``.

    ``fit`` holds out about a ``val_fraction`` of what it is given for early stopping, stratified,
    with a sequence's copies and reverse complements on one side (:func:`sciPT.splits.grouped_split`),
    and its near copies too with ``near`` (:class:`sciPT.diagnostics.overlap.NearCopies`), as the
    promoter task's fine-tunes do. The defaults are the setting the nested benchmark's inner
    validation chose most often for this CNN (lr 5e-4, dropout 0.5: 21 of its 60 choices over a grid
    of lr {5e-4, 2e-3} x dropout {0.2, 0.5}; ``benchmarks/RESULTS.md``), fixed so that the baseline
    costs one fit per fold; inputs are cut or zero-padded to ``length`` bases (at least the kernel's 15).
    """

    def __init__(
        self,
        length: int,
        *,
        lr: float = 5e-4,
        dropout: float = 0.5,
        seed: int = 0,
        val_fraction: float = 0.1,
        min_steps_per_epoch: int = 0,
        near: NearCopies | None = None,
    ):
        # inputs shorter than the kernel are zero-padded up to it
        self.length = max(length, CNNConfig.kernel)
        self.lr, self.dropout, self.seed = lr, dropout, seed
        self.val_fraction, self.min_steps_per_epoch = val_fraction, min_steps_per_epoch
        self.near = near
        self.fit_: CNNFit | None = None
        # (fit indices, early-stopping indices) of the last fit, into the codes it was given
        self.split_: tuple[np.ndarray, np.ndarray] | None = None

    def fit(self, codes: list[np.ndarray], labels: np.ndarray) -> CNNClassifier:
        labels = np.asarray(labels)
        n_val = max(2, int(round(self.val_fraction * len(labels))))
        # copies (either strand), and near copies with ``near``, on one side: early stopping judges
        # sequences the fit has not seen
        keys = split_keys(codes, COMPLEMENT, DNA_SPEC.alphabet.n_core, self.near)
        fit_idx, val_idx = self.split_ = grouped_split(keys, labels, n_val, self.seed)
        x = one_hot(codes, self.length)
        self.fit_ = fit_cnn(
            x[fit_idx],
            labels[fit_idx],
            x[val_idx],
            labels[val_idx],
            lr=self.lr,
            dropout=self.dropout,
            seed=self.seed,
            min_steps_per_epoch=self.min_steps_per_epoch,
        )
        return self

    def predict_proba(self, codes: list[np.ndarray]) -> np.ndarray:
        """Probability of the positive class, ``[N]``."""
        if self.fit_ is None:
            raise RuntimeError("CNNClassifier.predict_proba before fit")
        return predict_cnn(self.fit_.model, one_hot(codes, self.length))

    def score(self) -> CNNScore:
        """The fitted CNN's logit as a score on integer-coded sequences."""
        if self.fit_ is None:
            raise RuntimeError("CNNClassifier.score before fit")
        return CNNScore([self.fit_.model])
