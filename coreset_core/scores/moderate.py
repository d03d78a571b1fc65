"""Moderate distance (Xia et al. 2023): distance of a sample's feature to its class's median feature.

The centre of class `c` is the coordinate-wise median of the features of its samples; the
score is the Euclidean distance to it (far from the centre = atypical = harder). It does
not depend on any training run: it is computed once from the frozen backbone features.
"""
from __future__ import annotations

from typing import Iterator

import numpy as np

from ..row_blocks import gather_rows


def _class_rows(features: np.ndarray, labels: np.ndarray, num_classes: int | None = None
                ) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """`(class, member indices, their feature rows)` of every non-empty class; the rows of a
    memory-mapped array are gathered (`row_blocks.gather_rows`), one class in memory at a time."""
    c = int(labels.max()) + 1 if num_classes is None else int(num_classes)
    for k in range(c):
        members = np.flatnonzero(labels == k)
        if members.size:
            yield k, members, gather_rows(features, members)


def class_medians(features: np.ndarray, labels: np.ndarray, num_classes: int | None = None) -> np.ndarray:
    """Coordinate-wise median feature of every class (C x d, float64); NaN rows for empty classes."""
    f = np.asarray(features)
    y = np.asarray(labels, dtype=np.int64)
    c = int(y.max()) + 1 if num_classes is None else int(num_classes)
    out = np.full((c, f.shape[1]), np.nan)
    for k, _, rows in _class_rows(f, y, c):
        out[k] = np.median(rows, axis=0)
    return out


def moderate_distance(features: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Euclidean distance of every sample's feature to its class's coordinate-wise median (float64)."""
    f = np.asarray(features)
    y = np.asarray(labels, dtype=np.int64)
    out = np.empty(f.shape[0], dtype=np.float64)
    for _, members, rows in _class_rows(f, y):
        diff = rows.astype(np.float64) - np.median(rows, axis=0).astype(np.float64)
        out[members] = np.sqrt(np.einsum("ij,ij->i", diff, diff))
    return out
