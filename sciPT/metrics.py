"""Binary classification metrics, computed once for every task (scikit-learn underneath).

At a decision threshold ``t`` (0.5 by default) with TP, TN, FP, FN the confusion counts:

- accuracy ``(TP + TN) / N``; sensitivity (recall) ``TP / (TP + FN)``; specificity ``TN / (TN + FP)``;
- F1 ``2 TP / (2 TP + FP + FN)``;
- MCC ``(TP TN - FP FN) / sqrt((TP + FP)(TP + FN)(TN + FP)(TN + FN))`` (0 when a factor is 0);
- AUROC and AUPRC (average precision) from the scores, threshold-free.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

NAMES = ("accuracy", "mcc", "f1", "auroc", "auprc", "sensitivity", "specificity")


def binary_metrics(labels, scores, threshold: float = 0.5) -> dict[str, float]:
    y = np.asarray(labels).astype(int)
    s = np.asarray(scores, dtype=float)
    pred = (s >= threshold).astype(int)
    tp = int(((pred == 1) & (y == 1)).sum())
    tn = int(((pred == 0) & (y == 0)).sum())
    fp = int(((pred == 1) & (y == 0)).sum())
    fn = int(((pred == 0) & (y == 1)).sum())
    denom = np.sqrt(float(tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    both = len(set(y.tolist())) == 2
    return {
        "accuracy": (tp + tn) / max(1, len(y)),
        "mcc": (tp * tn - fp * fn) / denom if denom > 0 else 0.0,
        "f1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0,
        "auroc": float(roc_auc_score(y, s)) if both else float("nan"),
        "auprc": float(average_precision_score(y, s)) if both else float("nan"),
        "sensitivity": tp / (tp + fn) if tp + fn else float("nan"),
        "specificity": tn / (tn + fp) if tn + fp else float("nan"),
    }


def summarise(per_fold: list[dict[str, float]], prefix: str) -> dict[str, float]:
    """``{prefix_metric_mean, prefix_metric_std}`` over folds (population std, ddof = 0)."""
    out = {}
    for name in NAMES:
        values = np.array([m[name] for m in per_fold], dtype=float)
        out[f"{prefix}_{name}_mean"] = float(np.nanmean(values))
        out[f"{prefix}_{name}_std"] = float(np.nanstd(values))
    return out
