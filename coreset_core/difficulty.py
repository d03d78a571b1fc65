"""Class difficulty (SPEC section 1): the (winsorized) mean of the per-sample difficulty scores.

`S_c = mean(clip(s_c, q(lo), q(1 - hi)))` where `q` is `numpy.quantile` with its default
linear interpolation over the scores of class `c`. `(lo, hi) = (0, 0)` is the plain mean of
the NUCS paper; the newer abstract argues for a winsorized mean so that a few extreme
(mislabelled, corrupted) samples cannot dominate a class's difficulty.

The computation is vectorised over classes (one sort of all samples, no per-class or
per-sample Python loop) because the app calls it on every slider move.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .validation import check_labels, check_scores, check_winsor


def _class_grouped_argsort(scores: np.ndarray, labels: np.ndarray, num_classes: int, *,
                           stable: bool) -> np.ndarray:
    """Indices sorted by class, ascending score inside a class (ties by index when `stable`).

    Two passes (score sort, then a stable radix sort of the small-int labels) are several
    times faster than `numpy.lexsort`.
    """
    order = np.argsort(scores, kind="stable" if stable else "quicksort")
    small = np.uint16 if num_classes <= 1 << 16 else np.int64
    return order[np.argsort(labels.astype(small)[order], kind="stable")]


def _quantile_sorted(x: np.ndarray, offsets: np.ndarray, counts: np.ndarray, q: float) -> np.ndarray:
    """Per-segment `numpy.quantile(segment, q)` (method 'linear') of the class-sorted array `x`.

    Mirrors numpy's own arithmetic (virtual index `(n - 1) * q`, the two-sided lerp) so the
    result equals `np.quantile` on each class up to the last bit.
    """
    virtual = (counts - 1).astype(np.float64) * q
    lo = np.floor(virtual)
    gamma = virtual - lo
    lo = lo.astype(np.int64)
    hi = np.minimum(lo + 1, counts - 1)
    a = x[offsets + lo]
    b = x[offsets + hi]
    diff = b - a
    return np.where(gamma >= 0.5, b - diff * (1.0 - gamma), a + diff * gamma)


def class_difficulty(scores: Any, labels: Any, *, winsor: Any = (0.0, 0.0),
                     num_classes: int | None = None) -> np.ndarray:
    """Intrinsic difficulty of every class: the winsorized mean of its samples' scores.

    Parameters
    ----------
    scores:
        One non-negative, finite difficulty per sample (higher = harder). Signed scores
        (AUM, margins) must be converted first, e.g. `d = max(s) - s`.
    labels:
        Integer class ids `0..C-1`, every class present.
    winsor:
        `(lo, hi)`: the fractions clipped at the low and the high tail, each in `[0, 0.5)`.
        Within class `c` every score is clipped to `[q(lo), q(1 - hi)]`, `q` being
        `numpy.quantile` (linear interpolation) over that class, then averaged. A single
        number `w` means `(w, w)`. `(0, 0)` (default) is the plain mean.
    num_classes:
        `C`; defaults to `max(labels) + 1`. Every class must have at least one sample.

    Returns
    -------
    `float64` array of shape `(C,)`, one difficulty per class.
    """
    labels = check_labels(labels, num_classes)
    scores = check_scores(scores, labels.shape[0], non_negative=True)
    lo, hi = check_winsor(winsor)
    c = int(labels.max()) + 1 if num_classes is None else int(num_classes)
    return _class_difficulty(scores, labels, c, lo, hi)


def _class_difficulty(scores: np.ndarray, labels: np.ndarray, c: int, lo: float, hi: float) -> np.ndarray:
    """`class_difficulty` on validated inputs: float64 scores, int64 labels 0..c-1 (all present)."""
    counts = np.bincount(labels, minlength=c)
    if lo == 0.0 and hi == 0.0:
        # q(0) = min and q(1) = max: clipping is the identity
        return np.bincount(labels, weights=scores, minlength=c) / counts
    order = _class_grouped_argsort(scores, labels, c, stable=False)  # by class, then ascending score
    x = scores[order]
    offsets = np.zeros(c, dtype=np.int64)
    np.cumsum(counts[:-1], out=offsets[1:])
    low = _quantile_sorted(x, offsets, counts, lo)
    high = _quantile_sorted(x, offsets, counts, 1.0 - hi)
    lab = labels[order]
    clipped = np.minimum(np.maximum(x, low[lab]), high[lab])
    return np.bincount(lab, weights=clipped, minlength=c) / counts


__all__ = ["class_difficulty"]
