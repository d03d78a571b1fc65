"""Independent references, written once from the SPEC's text in plain Python/numpy.

Tests check the library against these, never against the function under test: the
winsorized class means of SPEC 1, the per-class windows of SPEC 3 and the ridge accuracy of
SPEC 4.
"""
from __future__ import annotations

import numpy as np


def winsorized_class_means(scores, labels, lo: float = 0.0, hi: float = 0.0, num_classes: int | None = None):
    """SPEC 1 per class: clip the class's scores to its `lo` / `1 - hi` quantiles (numpy.quantile), then average."""
    scores, labels = np.asarray(scores, dtype=np.float64), np.asarray(labels)
    count = int(labels.max()) + 1 if num_classes is None else int(num_classes)
    out = []
    for c in range(count):
        s = scores[labels == c]
        out.append(np.mean(np.clip(s, np.quantile(s, lo), np.quantile(s, 1 - hi))))
    return np.array(out)


def window_positions(scores, labels, budgets, k: float) -> np.ndarray:
    """SPEC 3: each class sorted easy -> hard (ties: lower index first), keep sorted positions
    `[end - n_c, end)` with `end = clamp(round(k N_c), n_c, N_c)`; the kept indices, sorted."""
    keep = []
    for c in range(len(budgets)):
        members = sorted(np.flatnonzero(np.asarray(labels) == c).tolist(), key=lambda i: (scores[i], i))
        n_c, size = int(budgets[c]), len(members)
        end = min(max(round(k * size), n_c), size)
        keep += members[end - n_c: end]
    return np.array(sorted(keep), dtype=np.int64)


def ridge_accuracy(features, labels, idx, num_classes, lam: float = 1.0, eval_rows=None) -> float:
    """SPEC 4: ridge on `[F, 1]` fitted on `idx` with numpy.linalg.solve (bias regularised), argmax accuracy
    on `eval_rows` (default: every row)."""
    xa = np.hstack([np.asarray(features, dtype=np.float64), np.ones((features.shape[0], 1))])
    xc = xa[idx]
    y = np.eye(num_classes)[labels[idx]]
    w = np.linalg.solve(xc.T @ xc + lam * np.eye(xa.shape[1]), xc.T @ y)
    rows = np.arange(labels.shape[0]) if eval_rows is None else eval_rows
    return float(np.mean(np.argmax(xa[rows] @ w, axis=1) == labels[rows]))
