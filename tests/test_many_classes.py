"""Class-level summaries for many classes, against plain-Python references."""
from __future__ import annotations

import math

import numpy as np
import pytest

from coreset_studio.views import many_classes as M


def linear_quantile(values, q):
    """numpy's default ('linear') quantile written out: virtual index (n - 1) q."""
    v = sorted(values)
    pos = (len(v) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (pos - lo)


def test_order_and_extremes_break_ties_by_class_id():
    d = [0.3, 0.9, 0.3, 0.1, 0.9, 0.5]
    assert M.by_difficulty(d).tolist() == sorted(range(6), key=lambda c: (-d[c], c)) == [1, 4, 5, 0, 2, 3]
    hard, easy = M.extreme_classes(d, 2)
    assert hard.tolist() == [1, 4] and easy.tolist() == [3, 2]
    hard, easy = M.extreme_classes(d, 10)  # at most half the classes each
    assert len(hard) == len(easy) == 3
    with pytest.raises(ValueError):
        M.extreme_classes(d, -1)


def test_quantile_bands_match_the_definition():
    rng = np.random.default_rng(0)
    table = rng.random((1001, 7))
    bands = M.quantile_bands(table)
    for j in range(7):
        for i, q in enumerate(M.BAND_QUANTILES):
            assert bands[i, j] == pytest.approx(linear_quantile(table[:, j].tolist(), q), rel=1e-12)
    assert (np.diff(bands, axis=0) >= 0).all()
    with pytest.raises(ValueError, match="classes x columns"):
        M.quantile_bands(np.zeros((0, 3)))


@pytest.mark.parametrize("c,max_rows", [(10, 200), (1000, 200), (10_000, 200), (1003, 7)])
def test_aggregate_rows_averages_runs_in_the_given_order(c, max_rows):
    rng = np.random.default_rng(c)
    m = rng.random((c, 3))
    order = rng.permutation(c)
    rows, starts = M.aggregate_rows(m, order, max_rows)
    assert rows.shape == (min(c, max_rows), 3) and starts[0] == 0 and starts[-1] == c
    sizes = np.diff(starts)
    assert sizes.max() - sizes.min() <= 1 and list(sizes) == sorted(sizes, reverse=True)
    for i in range(rows.shape[0]):
        members = order[starts[i]:starts[i + 1]]
        ref = [sum(m[k, j] for k in members) / len(members) for j in range(3)]
        np.testing.assert_allclose(rows[i], ref, rtol=1e-12)
    with pytest.raises(ValueError, match="each of the"):
        M.aggregate_rows(m, order[:-1])


def test_find_classes_by_name_or_id():
    names = ["cat", "Wildcat", "dog", "catfish", "bird"] + [f"class_{i:05d}" for i in range(5, 12)]
    assert M.find_classes(names, "CAT").tolist() == [0, 1, 3]
    assert M.find_classes(names, "cat", limit=2).tolist() == [0, 1]
    assert M.find_classes(names, "10").tolist() == [10]  # the id first, then names containing "10"
    assert M.find_classes(names, "  ").size == 0


@pytest.mark.parametrize("c", [10, 1000])
def test_point_subsample_is_seeded_bounded_and_covers_every_class(c):
    rng = np.random.default_rng(1)
    labels = np.concatenate([np.arange(c), rng.integers(0, c, 50_000)])
    idx = M.point_subsample(labels, 5_000, seed=3)
    assert idx.size == 5_000 and (np.diff(idx) > 0).all()
    assert np.unique(labels[idx]).size == c
    np.testing.assert_array_equal(idx, M.point_subsample(labels, 5_000, seed=3))
    assert not np.array_equal(idx, M.point_subsample(labels, 5_000, seed=4))
    assert M.point_subsample(labels[:100], 5_000).tolist() == list(range(100))
    assert M.shown_caption(5_000, 50_010) == "A seeded sample of 5,000 of 50,010 points" and M.shown_caption(9, 9) == "All 9 points"


def test_legend_fits():
    assert M.legend_fits(3) and M.legend_fits(M.MAX_LEGEND) and not M.legend_fits(M.MAX_LEGEND + 1)
    assert not M.legend_fits(0)
