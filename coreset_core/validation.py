"""Input checks at the library's edge: each raises `ValueError` naming the problem and the fix."""
from __future__ import annotations

from typing import Any

import numpy as np


def as_int_array(values: Any, name: str, hint: str = "") -> np.ndarray:
    """`values` as int64, accepting floats only when every value is a finite whole number."""
    arr = np.asarray(values)
    if not np.issubdtype(arr.dtype, np.integer):
        if np.issubdtype(arr.dtype, np.floating) and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
            return arr.astype(np.int64)
        raise ValueError(f"{name} must be integer {hint or 'values'}, got dtype {arr.dtype}")
    return arr.astype(np.int64, copy=False)


def check_labels(labels: Any, num_classes: int | None = None) -> np.ndarray:
    """Labels as an int64 array of class ids `0..C-1`, every class present.

    `num_classes` (when given) is the number of classes `C`; a class with no sample is an
    error because per-class budgets and windows are undefined for it.
    """
    arr = np.asarray(labels)
    if arr.ndim != 1:
        raise ValueError(f"labels must be a 1-D array, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError("labels is empty: there is nothing to select from")
    arr = as_int_array(arr, "labels", "class ids 0..C-1 (encode class names with e.g. "
                       "numpy.unique(..., return_inverse=True))")
    if arr.min() < 0:
        raise ValueError(f"labels must be class ids 0..C-1, found negative label {int(arr.min())}")
    c = int(arr.max()) + 1 if num_classes is None else int(num_classes)
    if arr.max() >= c:
        raise ValueError(f"label {int(arr.max())} is out of range for num_classes={c}")
    counts = np.bincount(arr, minlength=c)
    empty = np.flatnonzero(counts == 0)
    if empty.size:
        raise ValueError(
            f"class(es) {empty.tolist()} have no samples; relabel the classes to 0..C-1 "
            "without gaps or pass the correct num_classes"
        )
    return arr


def check_scores(scores: Any, n: int, *, name: str = "scores", non_negative: bool = False) -> np.ndarray:
    """Scores as a float64 array of length `n`, all finite (and >= 0 if `non_negative`)."""
    arr = np.asarray(scores, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array, got shape {arr.shape}")
    if arr.shape[0] != n:
        raise ValueError(f"{name} has {arr.shape[0]} entries but labels has {n}: they must match one to one")
    bad = ~np.isfinite(arr)
    if bad.any():
        raise ValueError(
            f"{name} contains {int(bad.sum())} NaN/inf value(s) (first at index {int(np.flatnonzero(bad)[0])}); "
            "recompute the scores or drop those samples"
        )
    if non_negative and arr.min() < 0:
        raise ValueError(
            f"{name} must be non-negative difficulties, found {arr.min():.4g}; convert signed scores "
            "(AUM, margins) with d = max(s) - s first"
        )
    return arr


def check_prune_rate(prune_rate: Any) -> float:
    """The pruning rate (fraction removed) as a float in [0, 1)."""
    try:
        rate = float(prune_rate)
    except (TypeError, ValueError):
        raise ValueError(f"prune_rate must be a number in [0, 1), got {prune_rate!r}") from None
    if not np.isfinite(rate) or rate < 0.0 or rate >= 1.0:
        raise ValueError(
            f"prune_rate must be in [0, 1) (the fraction of samples removed), got {prune_rate!r}; "
            "e.g. 0.9 keeps 10 % of the data"
        )
    return rate


def check_features(features: Any, n: int, *, name: str = "features") -> np.ndarray:
    """Features as a finite 2-D float array with `n` rows."""
    arr = np.asarray(features)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (samples x dims), got shape {arr.shape}")
    if arr.shape[0] != n:
        raise ValueError(f"{name} has {arr.shape[0]} rows but labels has {n}: they must match one to one")
    if not np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(np.float32)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN/inf values; re-extract the features (delete the cache entry)")
    return arr


def budget_for(prune_rate: float, n: int) -> int:
    """Number of samples kept: `B = round((1 - prune_rate) * N)` (SPEC conventions), at least 1."""
    return max(1, int(round((1.0 - prune_rate) * n)))


def check_winsor(winsor: Any) -> tuple[float, float]:
    """Winsorization limits `(lo, hi)`: fractions clipped at each tail, each in [0, 0.5).

    A single number `w` means `(w, w)`.
    """
    try:
        if np.ndim(winsor) == 0:
            lo = hi = float(winsor)
        else:
            lo, hi = (float(v) for v in winsor)
    except (TypeError, ValueError):
        raise ValueError(
            f"winsor must be a pair (lo, hi) of fractions in [0, 0.5), got {winsor!r}; e.g. (0.0, 0.05) "
            "clips the hardest 5 % of every class"
        ) from None
    for name, v in (("lo", lo), ("hi", hi)):
        if not np.isfinite(v) or v < 0.0 or v >= 0.5:
            raise ValueError(
                f"winsor {name} limit must be in [0, 0.5) (the fraction clipped at that tail), got {v!r}"
            )
    return lo, hi


def check_class_budgets(budgets: Any, class_sizes: np.ndarray) -> np.ndarray:
    """Per-class kept counts as int64, one per class, each in [0, N_c]."""
    arr = np.asarray(budgets)
    c = class_sizes.shape[0]
    if arr.ndim != 1 or arr.shape[0] != c:
        raise ValueError(f"budgets must hold one count per class ({c} classes), got shape {arr.shape}")
    arr = as_int_array(arr, "budgets", "counts (use allocate_budgets())")
    bad = np.flatnonzero((arr < 0) | (arr > class_sizes))
    if bad.size:
        i = int(bad[0])
        raise ValueError(
            f"budget of class {i} is {int(arr[i])} but the class has {int(class_sizes[i])} samples: "
            "each budget must be in [0, N_c]"
        )
    return arr
