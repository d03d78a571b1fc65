"""The Difficulty page's per-class clip limits for all classes at once equal numpy.quantile per class."""
from __future__ import annotations

import numpy as np
import pytest

from coreset_studio.views.class_stats import sorted_quantiles


@pytest.mark.parametrize("q", [0.0, 0.01, 0.025, 0.1, 0.333, 0.5, 0.875, 0.95, 0.975, 1.0])
def test_sorted_quantiles_equal_numpy_per_segment(q):
    rng = np.random.default_rng(0)
    for _ in range(50):
        sizes = rng.integers(1, 60, rng.integers(1, 40))
        x = np.concatenate([np.sort(rng.standard_normal(k) * 10.0 ** rng.integers(-6, 6)) for k in sizes])
        offsets = np.concatenate([[0], np.cumsum(sizes)])
        expected = np.array([np.quantile(x[offsets[k]:offsets[k + 1]], q) for k in range(sizes.size)])
        np.testing.assert_array_equal(sorted_quantiles(x, offsets, q), expected)
