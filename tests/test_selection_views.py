"""Set arithmetic of the Compare page (masks, no sorting) against Python sets, and the Embedding page's
stratified point sample against its definition."""
from __future__ import annotations

import numpy as np

from coreset_studio.views.selections import both, compare_counts_frame, jaccard, stratified_subsample


def test_overlap_equals_python_sets():
    rng = np.random.default_rng(0)
    for _ in range(50):
        a = rng.choice(3000, rng.integers(0, 2000), replace=False)
        b = rng.choice(3000, rng.integers(0, 2000), replace=False)
        sa, sb = set(a.tolist()), set(b.tolist())
        assert both(a, b).tolist() == sorted(sa & sb)
        assert jaccard(a, b) == (len(sa & sb) / len(sa | sb) if sa | sb else 1.0)
    labels = rng.integers(0, 4, 3000)
    frame = compare_counts_frame(a, b, labels, ["w", "x", "y", "z"])
    assert frame["both"].tolist() == [sum(labels[i] == k for i in sa & sb) for k in range(4)]


def test_stratified_subsample_keeps_the_share_of_every_class():
    rng = np.random.default_rng(1)
    labels = np.repeat(np.arange(5), [1000, 500, 200, 20, 3])
    rng.shuffle(labels)
    picked = stratified_subsample(labels, 300, seed=2)
    assert np.all(np.diff(picked) > 0)
    for c, size in enumerate([1000, 500, 200, 20, 3]):
        assert np.sum(labels[picked] == c) == max(1, round(300 / labels.size * size))
    np.testing.assert_array_equal(picked, stratified_subsample(labels, 300, seed=2))
