"""Moderate distance (Xia et al. 2023): distance of a sample's feature to its class's median feature.

The centre of class `c` is the coordinate-wise median of the features of its samples; the
score is the Euclidean distance to it (far from the centre = atypical = harder). It does
not depend on any training run: it is computed once from the frozen backbone features.
"""
from __future__ import annotations

import numpy as np


def class_medians(features: np.ndarray, labels: np.ndarray, num_classes: int | None = None) -> np.ndarray:
    """Coordinate-wise median feature of every class (C x d, float64); NaN rows for empty classes."""
    f = np.asarray(features)
    y = np.asarray(labels, dtype=np.int64)
    c = int(y.max()) + 1 if num_classes is None else int(num_classes)
    out = np.full((c, f.shape[1]), np.nan)
    for k in range(c):
        members = np.flatnonzero(y == k)
        if members.size:
            out[k] = np.median(f[members], axis=0)
    return out


def moderate_distance(features: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Euclidean distance of every sample's feature to its class's coordinate-wise median (float64)."""
    f = np.asarray(features)
    y = np.asarray(labels, dtype=np.int64)
    medians = class_medians(f, y)
    out = np.empty(f.shape[0], dtype=np.float64)
    for k in range(medians.shape[0]):
        members = np.flatnonzero(y == k)
        if members.size:
            diff = f[members].astype(np.float64) - medians[k]
            out[members] = np.sqrt(np.einsum("ij,ij->i", diff, diff))
    return out
