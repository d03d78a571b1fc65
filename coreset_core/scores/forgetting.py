"""Forgetting events (Toneva et al. 2019): how often a sample goes from correctly to incorrectly classified.

Granularity: correctness is read at the end of each epoch (the same checkpoints as the
other scores), so with `E` epochs a sample can be forgotten at most `floor(E / 2)` times
and a 3-epoch run gives 0 or 1 per seed; averaging over seeds gives fractional values. The
original counts after every mini-batch in which the sample appears. As SPEC 5 defines it,
the score is the number of correct-to-incorrect transitions only: a sample that is never
classified correctly is never forgotten and scores 0 (Toneva et al. would rank it as the
hardest; use EL2N or AUM when such samples matter).
"""
from __future__ import annotations

import numpy as np


def forgetting_counts(correct: np.ndarray) -> np.ndarray:
    """Number of correct -> incorrect transitions per sample in a (checkpoints x samples) boolean array."""
    c = np.asarray(correct, dtype=bool)
    if c.ndim != 2:
        raise ValueError(f"correct must be a (checkpoints x samples) array, got shape {c.shape}")
    if c.shape[0] < 2:
        return np.zeros(c.shape[1], dtype=np.int64)
    return np.sum(c[:-1] & ~c[1:], axis=0).astype(np.int64)
