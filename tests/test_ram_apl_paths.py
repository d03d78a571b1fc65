"""RAM-APL's nearest class mean below `FEW_CLASSES` (one float64 product, exact re-check of near-ties)
against the definition computed by brute force, and the whole method against the general path."""
from __future__ import annotations

import numpy as np
import pytest

from coreset_core.methods import ram_apl as R
from coreset_core.methods.registry import run_method


def brute_nearest(features: np.ndarray, means: np.ndarray) -> np.ndarray:
    """argmin over classes of the float64 distance of the float64 difference; ties: the lower class."""
    out = np.empty(features.shape[0], dtype=np.int64)
    for i, row in enumerate(features.astype(np.float64)):
        dist = [np.sqrt(np.sum((m - row) ** 2)) for m in means]
        out[i] = min(range(len(means)), key=lambda c: (dist[c], c))
    return out


@pytest.mark.parametrize("scale", [1.0, 1e-3, 1e6])
def test_nearest_of_few_equals_the_definition_with_ties(scale):
    rng = np.random.default_rng(0)
    means = rng.standard_normal((7, 16)) * scale
    means[3] = means[1]  # a duplicated mean: every row nearer to it ties, the lower class wins
    feats = (rng.standard_normal((600, 16)) * scale).astype(np.float32)
    feats[:50] = means[rng.integers(0, 7, 50)]  # rows exactly on a mean (distance 0)
    mid = (means[0] + means[2]) / 2  # exactly between two means along their joining line: a tie
    feats[50] = mid.astype(np.float32)
    lattice = rng.integers(-2, 3, (200, 16)).astype(np.float32)  # integer data: many exact ties
    grid_means = np.array([[1.0] * 16, [-1.0] * 16, [0.0] * 16, [1.0] * 8 + [-1.0] * 8])
    np.testing.assert_array_equal(R._nearest_of_few(feats, means), brute_nearest(feats, means))
    np.testing.assert_array_equal(R._nearest_of_few(lattice, grid_means), brute_nearest(lattice, grid_means))


def test_few_class_path_selects_what_the_general_path_selects(monkeypatch):
    rng = np.random.default_rng(1)
    labels = np.repeat(np.arange(8), [300, 200, 150, 100, 80, 60, 40, 30])
    centers = rng.standard_normal((8, 32)) * 0.7
    feats = [(centers[labels] + rng.standard_normal((labels.size, 32))).astype(np.float32) for _ in range(2)]
    feats[0][10] = feats[0][11]  # duplicate rows: rank ties fall to the lower index
    fast = run_method("ram-apl", prune_rate=0.7, labels=labels, features=feats)
    monkeypatch.setattr(R, "FEW_CLASSES", 0)  # every class count through knn.nearest
    general = run_method("ram-apl", prune_rate=0.7, labels=labels, features=feats)
    np.testing.assert_array_equal(fast.indices, general.indices)
