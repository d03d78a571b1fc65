"""EL2N (Paul et al. 2021): the L2 norm of the error vector `softmax(logits) - onehot(y)`."""
from __future__ import annotations

import numpy as np


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float64, stable for large logits."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def error_vectors(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """`softmax(logits) - onehot(labels)` (N x C, float64)."""
    err = softmax(logits)
    err[np.arange(err.shape[0]), np.asarray(labels, dtype=np.int64)] -= 1.0
    return err


def el2n(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """`||softmax(logits_i) - onehot(y_i)||_2` per sample, in [0, sqrt(2)]; higher = harder."""
    return np.linalg.norm(error_vectors(logits, labels), axis=1)
