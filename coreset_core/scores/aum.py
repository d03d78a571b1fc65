"""AUM, the area under the margin (Pleiss et al. 2020).

The margin of sample `i` at a checkpoint is `logit_y - max_{j != y} logit_j` (positive when
correctly classified); AUM is its mean over training. The original averages after every
optimisation step; here it is measured at the end of each epoch (the checkpoints the other
scores use as well), which is what a score computed from a few epochs can afford. Low AUM
= hard, so the difficulty used for selection is `max(aum) - aum` (non-negative, SPEC 5).
"""
from __future__ import annotations

import numpy as np


def margins(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """`logit_y - max_{j != y} logit_j` per sample (float64)."""
    z = np.asarray(logits, dtype=np.float64)
    rows = np.arange(z.shape[0])
    y = np.asarray(labels, dtype=np.int64)
    assigned = z[rows, y]
    others = z.copy()
    others[rows, y] = -np.inf
    return assigned - others.max(axis=1)


def aum_difficulty(aum: np.ndarray) -> np.ndarray:
    """Difficulty from AUM (low margin = hard): `max(aum) - aum`, non-negative, 0 for the easiest."""
    a = np.asarray(aum, dtype=np.float64)
    return a.max() - a
