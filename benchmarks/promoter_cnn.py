"""A small convolutional promoter classifier of the CNNProm kind, the neural baseline of
``benchmarks/promoter_nested.py``.

CNNProm (Umarov and Solovyev 2017, *Recognition of prokaryotic and eukaryotic promoters using
convolutional deep learning neural networks*, PLoS ONE 12: e0171410) reads one-hot DNA with a single
convolutional layer, max-pools it and classifies with a small dense layer. This one, sized for 81-bp
windows on a CPU:

    one-hot [B, 4, 81] -> Conv1d(4 -> 128, kernel 15, no padding) -> ReLU -> MaxPool(4) -> [B, 128, 16]
    -> Dropout -> Linear(2048 -> 64) -> ReLU -> Dropout -> Linear(64 -> 1)   (one logit)

It keeps position (the dense layer sees where each motif was found), like the flatten-pooled
transformer head. Training mirrors :func:`sciPT.classification.fit_classifier`: AdamW, binary cross-
entropy with ``pos_weight = n_neg / n_pos``, validation once per epoch, early stopping on the
validation loss with ``patience`` epochs, the weights of the best epoch restored, and an epoch of at
least ``min_steps_per_epoch`` batches (a small fit set drawn again, each pass a new shuffle, as the
promoter task's fits do). ``N`` (code 4) is an all-zero column.

Importing this module imports torch; ``promoter_nested.py`` imports it only when it trains.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn


@dataclass
class CNNConfig:
    filters: int = 128
    kernel: int = 15
    pool: int = 4
    hidden: int = 64
    dropout: float = 0.3


class PromoterCNN(nn.Module):
    """Shapes: one-hot ``[B, 4, L]`` -> logits ``[B]``."""

    def __init__(self, cfg: CNNConfig, length: int):
        super().__init__()
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
    """Train on ``(x_fit, y_fit)``, early stopping on the loss on ``(x_val, y_val)``."""
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
            val_loss = float(loss_fn(model(xv), yv)) if len(xv) else 0.0
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
def predict_cnn(model: PromoterCNN, x: np.ndarray, batch_size: int = 1024) -> np.ndarray:
    model.eval()
    out = [
        torch.sigmoid(model(torch.from_numpy(x[i : i + batch_size]))).numpy()
        for i in range(0, len(x), batch_size)
    ]
    return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)
