"""Class-level summaries that keep charts readable at 100 to 10,000 classes (issue 12).

One line, bar, strip or legend entry per class stops being readable somewhere past a few
dozen classes. These pure functions turn per-class arrays into what a page can draw at any
class count; the pages only lay them out.

* `by_difficulty`: classes ordered hardest first (ties: lower class id).
* `extreme_classes`: the k hardest and k easiest classes.
* `quantile_bands`: per column (e.g. pruning rate), the min / 10 % / median / 90 % / max over
  classes of a classes x columns table (numpy's linear quantile).
* `aggregate_rows`: a classes x columns matrix in a given class order, averaged over
  consecutive runs of classes down to at most `max_rows` rows (a heatmap's rows).
* `find_classes`: class ids whose name contains a text (case-insensitive), or an exact id.
* `point_subsample`: a seeded subsample of at most `max_points` points, every class kept
  where possible, and the "m of n" it shows.
* `legend_fits`: whether a legend with that many entries stays readable.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

#: The quantiles of `quantile_bands` (min, 10 %, median, 90 %, max).
BAND_QUANTILES: tuple[float, ...] = (0.0, 0.1, 0.5, 0.9, 1.0)
#: Most legend entries drawn; past this, series are named on hover only.
MAX_LEGEND = 12
#: Default most rows of an aggregated heatmap.
MAX_HEATMAP_ROWS = 200


def by_difficulty(difficulty: Sequence[float]) -> np.ndarray:
    """Class ids ordered hardest first (descending difficulty; ties: lower id first)."""
    d = np.asarray(difficulty, dtype=np.float64)
    return np.lexsort((np.arange(d.size), -d))


def extreme_classes(difficulty: Sequence[float], k: int) -> tuple[np.ndarray, np.ndarray]:
    """`(hardest, easiest)`: the `min(k, C // 2)` hardest (hardest first) and easiest (easiest first) ids."""
    if int(k) < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    order = by_difficulty(difficulty)
    k = min(int(k), order.size // 2)
    easiest = order[::-1][:k] if k else order[:0]
    return order[:k], easiest


def quantile_bands(table: np.ndarray, quantiles: Sequence[float] = BAND_QUANTILES) -> np.ndarray:
    """`len(quantiles) x columns`: each column's quantiles over the rows (classes) of `table`."""
    t = np.asarray(table, dtype=np.float64)
    if t.ndim != 2 or t.shape[0] == 0:
        raise ValueError(f"table must be classes x columns with at least one class, got shape {t.shape}")
    return np.quantile(t, np.asarray(quantiles, dtype=np.float64), axis=0)


def aggregate_rows(matrix: np.ndarray, order: Sequence[int], max_rows: int = MAX_HEATMAP_ROWS
                   ) -> tuple[np.ndarray, np.ndarray]:
    """`(rows, starts)`: `matrix[order]` averaged over consecutive runs of classes.

    With `C <= max_rows` every class is its own row. Otherwise the `C` classes (in `order`) are
    cut into `max_rows` runs of sizes differing by at most one (the first runs take the extra
    class), and each row is its run's mean. `starts[i]` is the position in `order` where row `i`'s
    run begins (`starts[-1] == C`), so a page can label a row "classes starts[i]+1 .. starts[i+1]".
    """
    m = np.asarray(matrix, dtype=np.float64)
    order = np.asarray(order, dtype=np.int64)
    if m.ndim != 2 or order.shape != (m.shape[0],):
        raise ValueError(f"order must list each of the {m.shape[0]} rows once; got {order.shape[0]} entries")
    if int(max_rows) < 1:
        raise ValueError(f"max_rows must be >= 1, got {max_rows}")
    c = m.shape[0]
    rows = min(c, int(max_rows))
    base, extra = divmod(c, rows)
    sizes = np.full(rows, base, dtype=np.int64)
    sizes[:extra] += 1
    starts = np.concatenate([[0], np.cumsum(sizes)])
    sums = np.add.reduceat(m[order], starts[:-1], axis=0)
    return sums / sizes[:, None], starts


def find_classes(names: Sequence[str], query: str, limit: int = 50) -> np.ndarray:
    """Class ids whose name contains `query` (case-insensitive), in id order, at most `limit`.

    A query that is a class id (digits) also matches that id, listed first.
    """
    q = str(query).strip().lower()
    if not q:
        return np.zeros(0, dtype=np.int64)
    hits = [i for i, name in enumerate(names) if q in str(name).lower()]
    if q.isdigit() and int(q) < len(names):
        hits = [int(q)] + [i for i in hits if i != int(q)]
    return np.asarray(hits[: max(0, int(limit))], dtype=np.int64)


def point_subsample(labels: np.ndarray, max_points: int, seed: int = 0) -> np.ndarray:
    """Sorted indices of at most `max_points` points: all when there are fewer, else a seeded
    draw that first takes one point of every class (while `max_points >= C`), then the rest uniformly."""
    y = np.asarray(labels)
    n = y.shape[0]
    if int(max_points) < 1:
        raise ValueError(f"max_points must be >= 1, got {max_points}")
    if n <= max_points:
        return np.arange(n, dtype=np.int64)
    rng = np.random.default_rng(seed)
    perm = rng.permutation(n)
    first = np.zeros(n, dtype=bool)
    _, where = np.unique(y[perm], return_index=True)  # first occurrence of each class in a random order
    if where.size <= max_points:
        first[perm[where]] = True
    rest = perm[~first[perm]][: int(max_points) - int(first.sum())]
    return np.sort(np.concatenate([np.flatnonzero(first), rest])).astype(np.int64)


def shown_caption(shown: int, total: int, what: str = "points") -> str:
    """'All 1,234 points' or 'A seeded sample of 20,000 of 500,000 points'."""
    return f"All {total:,} {what}" if shown >= total else f"A seeded sample of {shown:,} of {total:,} {what}"


def legend_fits(entries: int, max_entries: int = MAX_LEGEND) -> bool:
    """True when a legend of `entries` items stays readable."""
    return 0 < int(entries) <= int(max_entries)


__all__ = ["BAND_QUANTILES", "MAX_HEATMAP_ROWS", "MAX_LEGEND", "aggregate_rows", "by_difficulty", "extreme_classes",
           "find_classes", "legend_fits", "point_subsample", "quantile_bands", "shown_caption"]
