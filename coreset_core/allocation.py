"""Per-class budgets (SPEC section 2): how many samples each class keeps.

Modes
-----
- ``"nucs"``: ideal count `x_c = B * S_c * N_c / sum_j(S_j * N_j)`: harder classes keep a
  larger fraction (`S_c` from :func:`coreset_core.difficulty.class_difficulty`).
- ``"uniform"``: the same fraction in every class, `x_c = B * N_c / N` (this is
  `(1 - alpha) * N_c` with `B` the already-rounded total, so that the counts add up to `B`).

Then, in this order:

1. Capping (water-filling): a class whose ideal exceeds its size gets `N_c`; the leftover
   budget is re-split over the remaining classes in the same proportions; repeat until no
   class overflows.
2. Integer rounding: floor, then the remaining units one by one to the largest fractional
   parts (ties: lower class index), never above `N_c`, so that `sum(n_c) == B` exactly.
   Values within 1e-9 of an integer count as that integer and fractional parts are
   compared at 1e-9 resolution, so float noise does not break exact ties.
3. `min_per_class` (default 1): while `B >= sum_c min(min_per_class, N_c)`, no class keeps
   fewer than `min(min_per_class, N_c)`; the units are taken one at a time from the class
   with the currently largest count (ties: lower class index). When the budget is too small
   for that, the floor is not applied.

Zero difficulties: if every class has difficulty 0 (`sum_j S_j N_j == 0`) the nucs weights
are undefined; the allocation falls back to uniform proportions (`N_c`). Likewise, if the
budget left after capping must go to classes that all have zero weight, it is split over
them in proportion to their sizes.
"""
from __future__ import annotations

import heapq
from typing import Any

import numpy as np

from .validation import as_int_array, budget_for, check_prune_rate

MODES = ("nucs", "uniform")
_EPS = 1e-9


def _check_class_sizes(class_sizes: Any) -> np.ndarray:
    arr = np.asarray(class_sizes)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"class_sizes must be a non-empty 1-D array of per-class counts, got shape {arr.shape}")
    arr = as_int_array(arr, "class_sizes", "counts")
    empty = np.flatnonzero(arr <= 0)
    if empty.size:
        raise ValueError(
            f"class(es) {empty.tolist()} have no samples (class_sizes <= 0); relabel the classes to 0..C-1 "
            "without gaps"
        )
    return arr


def _check_difficulty(difficulty: Any, c: int) -> np.ndarray:
    arr = np.asarray(difficulty, dtype=np.float64)
    if arr.ndim != 1 or arr.shape[0] != c:
        raise ValueError(
            f"difficulty must hold one value per class ({c} classes, from class_sizes), got shape {arr.shape}"
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError("difficulty contains NaN/inf values; recompute the scores")
    if arr.min() < 0:
        raise ValueError(
            f"class difficulty must be non-negative, found {arr.min():.4g}; convert signed scores "
            "(AUM, margins) with d = max(s) - s first"
        )
    return arr


def _water_fill(total: int, weights: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Real-valued counts proportional to `weights`, capped at `sizes`, summing to `total`."""
    x = np.zeros(sizes.shape[0], dtype=np.float64)
    active = np.ones(sizes.shape[0], dtype=bool)
    remaining = int(total)
    while active.any() and remaining > 0:
        w = np.where(active, weights, 0.0)
        sw = w.sum()
        if sw <= 0.0:  # only zero-weight classes are left: split by size
            w = np.where(active, sizes, 0).astype(np.float64)
            sw = w.sum()
        ideal = remaining * w / sw
        over = active & (ideal > sizes)
        if not over.any():
            x[active] = ideal[active]
            break
        x[over] = sizes[over]
        remaining -= int(sizes[over].sum())
        active &= ~over
    return x


def _round_exact(x: np.ndarray, sizes: np.ndarray, total: int) -> np.ndarray:
    """Floor, then hand the leftover units to the largest fractional parts (ties: lower index)."""
    near = np.rint(x)
    x = np.where(np.abs(x - near) <= _EPS * np.maximum(1.0, np.abs(x)), near, x)
    n = np.minimum(np.floor(x).astype(np.int64), sizes)
    frac = np.round(x - n, 9)
    left = int(total - n.sum())
    order = np.argsort(-frac, kind="stable")  # largest fraction first, ties: lower index
    while left > 0:  # one pass suffices in exact arithmetic; loop guards against float noise
        room = order[n[order] < sizes[order]]
        if room.size == 0:
            raise ValueError(f"budget {total} exceeds the number of samples {int(sizes.sum())}")
        take = room[:left]
        n[take] += 1
        left -= take.size
    if left < 0:  # only reachable through float noise: give back from the smallest fractions
        for i in order[::-1]:
            if left == 0:
                break
            if n[i] > 0:
                n[i] -= 1
                left += 1
    return n


def _apply_min_per_class(n: np.ndarray, sizes: np.ndarray, total: int, min_per_class: int) -> np.ndarray:
    floor = np.minimum(min_per_class, sizes)
    if min_per_class <= 0 or total < int(floor.sum()):
        return n
    need = int(np.maximum(floor - n, 0).sum())
    if need == 0:
        return n
    n = np.maximum(n, floor)
    heap = [(-int(n[i]), int(i)) for i in np.flatnonzero(n > floor)]
    heapq.heapify(heap)
    for _ in range(need):  # one unit at a time from the currently largest class (ties: lower index)
        neg, i = heapq.heappop(heap)
        n[i] -= 1
        if n[i] > floor[i]:
            heapq.heappush(heap, (neg + 1, i))
    return n


def allocate_budgets_for_total(difficulty: Any, class_sizes: Any, total: int, mode: str = "nucs",
                               min_per_class: int = 1) -> np.ndarray:
    """Per-class counts summing exactly to `total` (see the module docstring for the rules).

    This is the form selection methods use: they receive the total budget `B` directly.
    `difficulty` is ignored for `mode="uniform"` (but must still have one entry per class).
    """
    if mode not in MODES:
        raise ValueError(f"unknown allocation mode {mode!r}; choose one of {', '.join(MODES)}")
    sizes = _check_class_sizes(class_sizes)
    diff = _check_difficulty(difficulty, sizes.shape[0])
    n_total = int(sizes.sum())
    try:
        ok = not isinstance(total, (bool, np.bool_)) and float(total).is_integer()
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"total budget must be an integer count, got {total!r}")
    total = int(total)
    if total < 0 or total > n_total:
        raise ValueError(f"total budget must be in [0, {n_total}] (the number of samples), got {total}")
    if isinstance(min_per_class, (bool, np.bool_)) or int(min_per_class) != min_per_class or min_per_class < 0:
        raise ValueError(f"min_per_class must be a non-negative integer, got {min_per_class!r}")
    return _allocate(diff, sizes, total, mode, int(min_per_class))


def _allocate(difficulty: np.ndarray, sizes: np.ndarray, total: int, mode: str, min_per_class: int) -> np.ndarray:
    """`allocate_budgets_for_total` on validated inputs (a class of size 0 simply gets 0)."""
    if mode == "nucs":
        weights = difficulty * sizes
        if weights.sum() <= 0.0:  # all classes have zero difficulty: uniform proportions
            weights = sizes.astype(np.float64)
    else:
        weights = sizes.astype(np.float64)
    x = _water_fill(total, weights, sizes)
    n = _round_exact(x, sizes, total)
    n = _apply_min_per_class(n, sizes, total, min_per_class)
    if int(n.sum()) != total or np.any(n < 0) or np.any(n > sizes):
        raise RuntimeError(f"allocation returned counts {n.tolist()} for total {total} and sizes {sizes.tolist()}")
    return n


def allocate_budgets(difficulty: Any, class_sizes: Any, prune_rate: float, *, mode: str = "nucs",
                     min_per_class: int = 1) -> np.ndarray:
    """Per-class kept counts `n_c` for pruning rate `prune_rate` (SPEC section 2).

    Parameters
    ----------
    difficulty:
        One non-negative class difficulty `S_c` per class (`class_difficulty(...)`).
    class_sizes:
        `N_c`, the number of samples of each class (all >= 1).
    prune_rate:
        Fraction removed, in `[0, 1)`; the total kept is `B = round((1 - prune_rate) * N)`
        (:func:`coreset_core.validation.budget_for`).
    mode:
        ``"nucs"`` (difficulty-proportional) or ``"uniform"`` (same fraction per class).
    min_per_class:
        Minimum count per class while the budget allows it (0 disables).

    Returns
    -------
    int64 array of shape `(C,)` with `0 <= n_c <= N_c` and `sum(n_c) == B`.
    """
    rate = check_prune_rate(prune_rate)
    sizes = _check_class_sizes(class_sizes)
    return allocate_budgets_for_total(difficulty, sizes, budget_for(rate, int(sizes.sum())), mode,
                                      min_per_class)


__all__ = ["MODES", "allocate_budgets", "allocate_budgets_for_total"]
