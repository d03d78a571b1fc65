"""GraNd / "Effort" (Paul et al. 2021): the norm of the loss gradient w.r.t. the trained parameters.

For a linear head `z = W x + b` with softmax cross-entropy, the gradient w.r.t. `W` is
`(p - y) x^T` and w.r.t. `b` is `p - y`, so the norm over both is exactly
`||p - y||_2 * ||[x, 1]||_2` (the outer product's Frobenius norm factorises). `x` is the
input the head sees: the standardised feature for the frozen-feature path, the pre-logit
feature of the fine-tuned network for the fine-tuning path (there it is the gradient of
the last layer only, the usual inexpensive stand-in for the full-network norm).
"""
from __future__ import annotations

import numpy as np

from .el2n import el2n


def augmented_norms(inputs: np.ndarray) -> np.ndarray:
    """`||[x_i, 1]||_2` per row of the head's inputs `x` (N x d)."""
    x = np.asarray(inputs, dtype=np.float64)
    return np.sqrt(np.einsum("ij,ij->i", x, x) + 1.0)


def grand_linear(logits: np.ndarray, labels: np.ndarray, input_norms: np.ndarray) -> np.ndarray:
    """GraNd of a linear head: `||softmax(z) - onehot(y)|| * ||[x, 1]||` with `input_norms = ||[x, 1]||`."""
    return el2n(logits, labels) * np.asarray(input_norms, dtype=np.float64)
