"""Comparing selections and reading the samples a user picked on a chart."""
from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd


def _masks(a: Any, b: Any) -> tuple[np.ndarray, np.ndarray]:
    """Membership masks of two index sets over `0..max` (no sorting: O(N), the studio's reruns at 500,000)."""
    a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
    n = int(max(a.max(initial=-1), b.max(initial=-1))) + 1
    mask_a, mask_b = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    mask_a[a], mask_b[b] = True, True
    return mask_a, mask_b


def both(a: Any, b: Any) -> np.ndarray:
    """The sorted indices in both index sets."""
    mask_a, mask_b = _masks(a, b)
    return np.flatnonzero(mask_a & mask_b)


def jaccard(a: Any, b: Any) -> float:
    """|A ∩ B| / |A ∪ B| of two index sets (1.0 for two empty sets)."""
    mask_a, mask_b = _masks(a, b)
    union = int(np.count_nonzero(mask_a | mask_b))
    return 1.0 if union == 0 else int(np.count_nonzero(mask_a & mask_b)) / union


def compare_counts_frame(a: Any, b: Any, labels: np.ndarray, class_names: Sequence[str],
                         names: tuple[str, str] = ("A", "B")) -> pd.DataFrame:
    """Per class: N_c, kept by A, kept by B, B - A, and the samples both keep."""
    labels = np.asarray(labels)
    c = len(class_names)
    a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
    count = lambda idx: np.bincount(labels[idx], minlength=c)[:c]  # noqa: E731
    ca, cb = count(a), count(b)
    return pd.DataFrame({"class": list(class_names), "N_c": np.bincount(labels, minlength=c)[:c], names[0]: ca,
                         names[1]: cb, f"{names[1]} - {names[0]}": cb - ca, "both": count(both(a, b))})


def shared_histogram(values: np.ndarray, groups: Mapping[str, Any], bins: int = 40,
                     normalize: bool = False) -> pd.DataFrame:
    """Histogram of `values[idx]` for every `{name: idx}` on one set of bins (of all values): columns
    bin_left, bin_right, bin_centre, then one per group with counts, or with `normalize` the share of
    the group in each bin (groups of different sizes become comparable)."""
    values = np.asarray(values, dtype=np.float64)
    edges = np.histogram_bin_edges(values, bins=bins)
    out = pd.DataFrame({"bin_left": edges[:-1], "bin_right": edges[1:], "bin_centre": (edges[:-1] + edges[1:]) / 2})
    for name, idx in groups.items():  # equal-width bins by count and range: numpy's no-sort path, same counts
        counts = np.histogram(values[np.asarray(idx, dtype=np.int64)], bins=bins, range=(edges[0], edges[-1]))[0]
        out[name] = counts / max(1, counts.sum()) if normalize else counts
    return out


def stratified_subsample(labels: np.ndarray, max_points: int, seed: int = 0) -> np.ndarray:
    """Sorted indices of about `max_points` samples, the same fraction of every class (all if fewer)."""
    labels = np.asarray(labels)
    n = labels.shape[0]
    if max_points >= n:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    keep = np.zeros(n, dtype=bool)
    order = np.argsort(labels, kind="stable")  # each class's positions, ascending: one sort, not one pass per class
    _, starts, sizes = np.unique(labels[order], return_index=True, return_counts=True)
    for start, size in zip(starts, sizes):
        idx = order[start:start + size]
        m = max(1, int(round(max_points / n * idx.size)))
        keep[rng.choice(idx, size=min(m, idx.size), replace=False)] = True
    return np.flatnonzero(keep)


def picked_indices(points: Iterable[Mapping[str, Any]]) -> np.ndarray:
    """Sample indices of the points a chart selection returned (`customdata[0]` of each point; every
    point of every trace, each sample once, in ascending order)."""
    out = []
    for p in points or ():
        cd = p.get("customdata") if isinstance(p, Mapping) else None
        if isinstance(cd, (list, tuple)) and cd:
            out.append(int(round(float(cd[0]))))
        elif isinstance(cd, (int, float)):
            out.append(int(round(float(cd))))
    return np.unique(np.asarray(out, dtype=np.int64))


def picked_frame(indices: np.ndarray, *, labels: np.ndarray, class_names: Sequence[str], kept: np.ndarray,
                 difficulty: np.ndarray, ids: np.ndarray | None = None) -> pd.DataFrame:
    """One row per picked sample: index, original id, class, kept/pruned (from the sorted kept indices)
    and difficulty."""
    idx = np.asarray(indices, dtype=np.int64)
    is_kept = np.isin(idx, np.asarray(kept, dtype=np.int64))
    frame = pd.DataFrame({"index": idx, "id": idx if ids is None else np.asarray(ids)[idx],
                          "class": np.asarray(class_names, dtype=object)[np.asarray(labels)[idx]],
                          "status": np.where(is_kept, "kept", "pruned"),
                          "difficulty": np.round(np.asarray(difficulty)[idx], 4)})
    return frame
