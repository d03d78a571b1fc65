"""Helpers shared by the selection methods (inputs are already validated by `run_method`).

- `class_members`: each class's sample indices, ascending.
- `uniform_counts` / `uniform_class_counts`: the same fraction kept in every class, from the
  shared allocation (`coreset_core.allocation`, mode ``"uniform"``: ideal `B * N_c / N`,
  floor, then the leftover units to the largest fractional parts, at least one per class
  while `B >= C`), so that `sum(n_c) == B` exactly and every class-wise method agrees.
- `equal_counts`: equal counts water-filled from the smallest group (D2 Pruning's class
  counts and CCS's strata budgets; the authors' `bin_allocate`).
- `hardest_first`: indices by descending score, ties by ascending index.
- `sorted_indices`: the kept parts (per class, per stratum) as one selection: sorted int64 indices.
- `distance_ready`: features rescaled by a power of two when their magnitude would overflow
  (or underflow) the squared distances of float32 arithmetic.
"""
from __future__ import annotations

import math

import numpy as np

from ..allocation import _allocate


def class_members(labels: np.ndarray, num_classes: int | None = None) -> list[np.ndarray]:
    """Indices of each class's samples, ascending, for classes `0..C-1`."""
    labels = np.asarray(labels)
    c = int(labels.max()) + 1 if num_classes is None else int(num_classes)
    order = np.argsort(labels, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(np.bincount(labels, minlength=c))])
    return [order[bounds[k]:bounds[k + 1]] for k in range(c)]


def uniform_counts(sizes: np.ndarray, budget: int) -> np.ndarray:
    """Per-group counts keeping the same fraction of every group (sizes may be 0), summing to `budget`."""
    sizes = np.asarray(sizes, dtype=np.int64)
    return _allocate(np.ones(sizes.size), sizes, int(budget), "uniform", 1)


def uniform_class_counts(labels: np.ndarray, budget: int) -> np.ndarray:
    """Per-class counts with the same fraction kept in every class, summing to `budget` exactly."""
    return uniform_counts(np.bincount(np.asarray(labels)), budget)


def equal_counts(sizes: np.ndarray, budget: int) -> np.ndarray:
    """Equal counts water-filled from the smallest group: `budget` split as evenly as the sizes allow.

    Groups are visited by size ascending (ties: lower index first); each takes
    `min(size, remaining // groups_left)`, where `groups_left` counts the group being visited
    and those after it (an empty group takes 0). The last groups visited, the largest, take
    what the floors leave over, so the counts sum to `budget` whenever `budget <= sum(sizes)`.
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    out = np.zeros_like(sizes)
    remaining = int(budget)
    for i, g in enumerate(np.argsort(sizes, kind="stable")):
        take = min(int(sizes[g]), remaining // (sizes.size - i))
        out[g] = take
        remaining -= take
    if remaining != 0:
        raise ValueError(f"the groups hold {int(sizes.sum())} samples, fewer than the budget {budget}")
    return out


def sorted_indices(parts: list[np.ndarray]) -> np.ndarray:
    """The kept indices of every part (a class, a stratum) as one sorted int64 array (empty without parts)."""
    return np.sort(np.concatenate(parts)).astype(np.int64) if parts else np.zeros(0, dtype=np.int64)


def hardest_first(scores: np.ndarray, idx: np.ndarray | None = None) -> np.ndarray:
    """`idx` (default all) ordered by descending score, ties by ascending index."""
    scores = np.asarray(scores, dtype=np.float64)
    if idx is None:
        idx = np.arange(scores.shape[0])
    idx = np.asarray(idx)
    return idx[np.lexsort((idx, -scores[idx]))]


#: Features whose largest magnitude lies in this range are used as they are.
_SAFE_RANGE = (2.0 ** -40, 2.0 ** 40)


def distance_ready(features: np.ndarray) -> np.ndarray:
    """`features`, multiplied by a power of two when their magnitude is outside [2^-40, 2^40].

    Scaling by a power of two is exact, so nearest neighbours, farthest points and argmins
    are unchanged, while squared norms in float32 no longer overflow (finite features up to
    3.4e38 give `inf - inf = NaN` distances otherwise) or underflow.
    """
    x = np.asarray(features)
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if peak == 0.0 or _SAFE_RANGE[0] <= peak <= _SAFE_RANGE[1]:
        return x
    return x * np.asarray(2.0 ** -math.frexp(peak)[1], dtype=x.dtype)


def one_backbone(features, method: str) -> np.ndarray:
    """The features of a method that uses one backbone (a list of several is an error)."""
    if isinstance(features, (list, tuple)):
        raise ValueError(f"{method} uses the features of one backbone; pass a single (N, d) array, not a list")
    return features
