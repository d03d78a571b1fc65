"""Classification metrics in plain numpy (no torch): accuracy, balanced accuracy, per-class accuracy.

Per-class accuracy is the recall of each class (correct predictions among the samples
whose true label is that class). A class with no test sample has accuracy NaN and is left
out of the balanced accuracy, which is the mean of the per-class accuracies of the classes
present (scikit-learn's `balanced_accuracy_score` without adjustment).
"""
from __future__ import annotations

from typing import Any

import numpy as np


def _pair(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(y_true)
    p = np.asarray(y_pred)
    if t.ndim != 1 or p.ndim != 1:
        raise ValueError(f"y_true and y_pred must be 1-D label arrays, got shapes {t.shape} and {p.shape}")
    if t.shape != p.shape:
        raise ValueError(f"y_true has {t.shape[0]} labels but y_pred has {p.shape[0]}: they must match one to one")
    if t.size == 0:
        raise ValueError("y_true is empty: there is nothing to evaluate")
    return t.astype(np.int64, copy=False), p.astype(np.int64, copy=False)


def per_class_accuracy(y_true: Any, y_pred: Any, num_classes: int | None = None) -> np.ndarray:
    """Accuracy (recall) of every class `0..C-1`; NaN for a class with no sample in `y_true`."""
    t, p = _pair(y_true, y_pred)
    c = int(max(t.max(), p.max())) + 1 if num_classes is None else int(num_classes)
    if t.min() < 0 or t.max() >= c:
        raise ValueError(f"y_true holds labels outside 0..{c - 1}")
    totals = np.bincount(t, minlength=c).astype(np.float64)
    correct = np.bincount(t[t == p], minlength=c).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, correct / np.maximum(totals, 1), np.nan)


def classification_metrics(y_true: Any, y_pred: Any, num_classes: int | None = None) -> dict[str, Any]:
    """`{"accuracy", "balanced_accuracy", "per_class_accuracy" (list, NaN -> None), "per_class_count"
    (test samples per class), "num_samples"}`."""
    per_class = per_class_accuracy(y_true, y_pred, num_classes)
    t, p = _pair(y_true, y_pred)
    return {
        "accuracy": float(np.mean(t == p)),
        "balanced_accuracy": float(np.nanmean(per_class)),
        "per_class_accuracy": [None if np.isnan(v) else float(v) for v in per_class],
        "per_class_count": np.bincount(t, minlength=per_class.size).tolist(),
        "num_samples": int(t.shape[0]),
    }
