"""Moderate coreset (Xia et al., ICLR 2023).

Every sample's *moderate distance* is the Euclidean distance of its feature to its own
class's coordinate-wise **median** feature (SPEC 5). The coreset is the band of samples
whose distance is closest to the median distance:

- `moderate`: one band over the whole set: the `B` samples with the smallest
  `|d_i - median(d)|`, the median taken over all `N` distances.
- `moderate-classwise`: a band per class: the `n_c` samples of class `c` with the smallest
  `|d_i - median(d over class c)|`, `n_c` from the uniform allocation.

Ties in `|d_i - m|` are broken by the lower sample index. Choice: the band is centred on
the median distance *value* (`numpy.median`, i.e. the mean of the two middle values for
an even count), which is what "closest to the median distance" says; the authors' code
takes the sorted positions `[round(N(1-r)/2), round(N(1+r)/2))`, the band centred on the
median *rank*. Both are contiguous runs of the distance order and differ by at most a
shift of the band when the distance distribution is skewed around the median. The
result depends only on the features; `seed` is unused.
"""
from __future__ import annotations

import numpy as np

from ..scores.moderate import moderate_distance
from .common import class_members, sorted_indices, uniform_class_counts
from .registry import register


def moderate_distances(labels: np.ndarray, features: np.ndarray) -> np.ndarray:
    """Distance of each sample's feature to its class's coordinate-wise median feature (float64;
    `scores.moderate.moderate_distance`, which reads memory-mapped features one class at a time)."""
    return moderate_distance(features, labels)


def band_around_median(dist: np.ndarray, idx: np.ndarray, count: int) -> np.ndarray:
    """The `count` entries of `idx` whose `dist` is closest to the median of `dist[idx]`."""
    idx = np.asarray(idx)
    if count <= 0:
        return idx[:0]
    d = dist[idx]
    gap = np.abs(d - np.median(d))
    return idx[np.lexsort((idx, gap))][:count]


def moderate_per_class(labels: np.ndarray, features: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Class-wise Moderate with explicit per-class `counts` (used by CW-ERM too); sorted indices."""
    dist = moderate_distances(labels, features)
    kept = [band_around_median(dist, members, int(n_c))
            for members, n_c in zip(class_members(labels, len(counts)), counts)]
    return sorted_indices(kept)


@register(
    "moderate",
    description="Moderate coreset: the B samples whose distance to their class median feature is closest "
                "to the median distance (one band over the whole set).",
    needs_features=True,
    allocation="global",
)
def moderate_global(labels, budget, *, scores=None, features, seed=0):
    dist = moderate_distances(labels, features)
    return np.sort(band_around_median(dist, np.arange(labels.shape[0]), budget)).astype(np.int64)


@register(
    "moderate-classwise",
    description="Moderate coreset per class: in each class the samples whose distance to the class median "
                "feature is closest to that class's median distance; same fraction per class.",
    needs_features=True,
    allocation="classwise",
)
def moderate_classwise(labels, budget, *, scores=None, features, seed=0):
    return moderate_per_class(labels, features, uniform_class_counts(labels, budget))
