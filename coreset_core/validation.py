"""Input checks at the library's edge: each raises `ValueError` naming the problem and the fix."""
from __future__ import annotations

from typing import Any

import numpy as np

from .row_blocks import row_blocks


def as_int_array(values: Any, name: str, hint: str = "") -> np.ndarray:
    """`values` as int64, accepting floats only when every value is a finite whole number within +-2**53."""
    arr = np.asarray(values)
    if not np.issubdtype(arr.dtype, np.integer):
        if (np.issubdtype(arr.dtype, np.floating) and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr))
                and (arr.size == 0 or np.abs(arr).max() <= 2.0 ** 53)):
            return arr.astype(np.int64)
        raise ValueError(f"{name} must be integer {hint or 'values'}, got dtype {arr.dtype}")
    if arr.dtype == np.uint64 and arr.size and arr.max() > np.iinfo(np.int64).max:
        raise ValueError(f"{name} holds values beyond the int64 range (up to {int(arr.max())})")
    return arr.astype(np.int64, copy=False)


_MAX_LISTED = 10  # classes / positions named in a message at most


def _first_position(mask: np.ndarray) -> int:
    return int(np.argmax(mask))


def check_label_ids(labels: Any, *, num_classes: int | None = None, name: str = "labels") -> np.ndarray:
    """Labels as a non-empty 1-D int64 array of class ids in `0..C-1` (classes may be absent).

    `C` is `num_classes` when given, else bounded by the number of labels: a label `>= N`
    cannot belong to a set whose every class has a sample. The range is checked before any
    per-class array is built, so one stray huge label costs neither memory nor a long message.
    """
    arr = np.asarray(labels)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty: there is nothing to select from")
    arr = as_int_array(arr, name, "class ids 0..C-1 (encode class names with e.g. "
                       "numpy.unique(..., return_inverse=True))")
    if arr.min() < 0:
        i = _first_position(arr < 0)
        raise ValueError(f"{name}[{i}] = {int(arr[i])} is negative: labels must be class ids 0..C-1")
    if num_classes is not None:
        c = int(num_classes)
        if c < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes!r}")
        if arr.max() >= c:
            i = _first_position(arr >= c)
            raise ValueError(f"{name}[{i}] = {int(arr[i])} is out of range for num_classes={c} (class ids "
                             f"0..{c - 1}); fix that label or pass the right num_classes")
    elif arr.max() >= arr.size:
        i = _first_position(arr >= arr.size)
        raise ValueError(
            f"{name}[{i}] = {int(arr[i])} is not a class id: {arr.size} samples can hold at most {arr.size} "
            f"classes (ids 0..{arr.size - 1}, every class with a sample); fix that label or relabel with "
            "numpy.unique(labels, return_inverse=True)"
        )
    return arr


def check_labels(labels: Any, num_classes: int | None = None) -> np.ndarray:
    """Labels as an int64 array of class ids `0..C-1`, every class present.

    `num_classes` (when given) is the number of classes `C`; a class with no sample is an
    error because per-class budgets and windows are undefined for it.
    """
    arr = check_label_ids(labels, num_classes=num_classes)
    c = int(arr.max()) + 1 if num_classes is None else int(num_classes)
    if c > arr.size:
        raise ValueError(f"num_classes={c} exceeds the {arr.size} samples, so some class has no samples; "
                         "pass the right num_classes")
    counts = np.bincount(arr, minlength=c)
    empty = np.flatnonzero(counts == 0)
    if empty.size:
        listed = ", ".join(str(v) for v in empty[:_MAX_LISTED].tolist())
        more = f" and {empty.size - _MAX_LISTED} more" if empty.size > _MAX_LISTED else ""
        raise ValueError(
            f"{empty.size} class(es) have no samples ({listed}{more}); class ids must be 0..C-1 without gaps: "
            "relabel with numpy.unique(labels, return_inverse=True) or pass the correct num_classes"
        )
    return arr


def check_indices(indices: Any, n: int, *, name: str = "indices", allow_empty: bool = False) -> np.ndarray:
    """Sample positions as a 1-D int64 array of distinct values in `[0, n)`."""
    idx = np.asarray(indices)
    if idx.ndim != 1 or (idx.size == 0 and not allow_empty):
        raise ValueError(f"{name} must be a {'' if allow_empty else 'non-empty '}1-D array of sample positions, "
                         f"got shape {idx.shape}")
    if idx.size == 0:
        return idx.astype(np.int64)
    idx = as_int_array(idx, name, "sample positions")
    bad = (idx < 0) | (idx >= n)
    if bad.any():
        i = _first_position(bad)
        raise ValueError(f"{name}[{i}] = {int(idx[i])} is not a position in [0, {n})")
    if np.unique(idx).size != idx.size:
        raise ValueError(f"{name} contain duplicates; a coreset is a set of distinct samples")
    return idx


def check_sample_weights(sample_weights: Any, n: int) -> np.ndarray:
    """Per-sample loss weights as float32: finite, non-negative, not all zero, one per sample."""
    w = np.asarray(sample_weights, dtype=np.float64)
    if w.ndim != 1 or w.shape[0] != n:
        raise ValueError(f"sample_weights must hold one weight per training sample ({n}), got shape {w.shape}")
    if not np.all(np.isfinite(w)) or w.min() < 0:
        raise ValueError("sample_weights must be finite and non-negative")
    if not np.any(w > 0):
        raise ValueError("sample_weights are all zero: nothing would be learned")
    return w.astype(np.float32)


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


def check_whole(value: Any, name: str, minimum: int | None = None) -> int:
    """`value` as an int when it is a whole number (3, 3.0, "3"; not True, 2.5 or nan) of at least `minimum`."""
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        number = float("nan")
    if (isinstance(value, bool) or not np.isfinite(number) or number != int(number)
            or (minimum is not None and number < minimum)):
        raise ValueError(f"{name} must be a whole number{'' if minimum is None else f' >= {minimum}'}, got {value!r}")
    return int(number)


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


#: Largest feature magnitude accepted: squared distances and ridge sums of larger values overflow float64.
MAX_FEATURE_MAGNITUDE = 1e150


def check_features(features: Any, n: int, *, name: str = "features") -> np.ndarray:
    """Features as a finite 2-D float array with `n` rows and at least one column.

    Magnitudes above `MAX_FEATURE_MAGNITUDE` (1e150, only reachable in float64) are refused:
    distances and normal equations would overflow. Every float32 value is accepted; the
    methods compute distances so that they do not overflow.
    """
    arr = np.asarray(features)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (samples x dims), got shape {arr.shape}")
    if arr.shape[0] != n:
        raise ValueError(f"{name} has {arr.shape[0]} rows but labels has {n}: they must match one to one")
    if arr.shape[1] == 0:
        raise ValueError(f"{name} have 0 columns (shape {arr.shape}): every sample needs at least one feature; "
                         "extract them with `coreset features`")
    if not np.issubdtype(arr.dtype, np.floating):
        if not (np.issubdtype(arr.dtype, np.integer) or arr.dtype == np.bool_):
            raise ValueError(f"{name} must be numbers, got dtype {arr.dtype}")
        arr = arr.astype(np.float32)
    wide = float(np.finfo(arr.dtype).max) > MAX_FEATURE_MAGNITUDE
    peak = 0.0
    for _, block in row_blocks(arr):  # a memory-mapped array is read block by block, not kept resident
        if not np.all(np.isfinite(block)):
            raise ValueError(f"{name} contains NaN/inf values; re-extract the features (delete the cache entry)")
        if wide and block.size:
            peak = max(peak, float(np.max(np.abs(block))))
    if peak > MAX_FEATURE_MAGNITUDE:
        raise ValueError(f"{name} reach {peak:.3g} in magnitude; values above {MAX_FEATURE_MAGNITUDE:.0e} "
                         "overflow distance computations: rescale them (e.g. divide by their maximum)")
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


#: Where the backbone, the probes and fine-tuning run.
DEVICES = ("cpu", "cuda")


def check_device(device: Any, *, here: bool = True) -> str:
    """The one device check: 'cpu' or 'cuda'; with `here`, 'cuda' only where a CUDA GPU is visible (checked
    before any work starts). A run config checks the name only (`here=False`): it may run on another node."""
    if device not in DEVICES:
        raise ValueError(f"device must be one of {', '.join(DEVICES)}, got {device!r}")
    if device == "cuda" and here:
        import torch

        if not torch.cuda.is_available():
            raise ValueError("--device cuda was asked for but no CUDA GPU is visible here; use --device cpu")
    return device
