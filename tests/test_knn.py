"""Exact k-NN (coreset_core.knn): faiss and the blocked search against a float64 brute force, ties included.

The reference is written here from the definition: all pairwise float64 distances
`sqrt(sum((b - q)^2))`, each row sorted by (distance, index) in plain Python.
"""
from __future__ import annotations

import numpy as np
import pytest

from coreset_core import knn as knn_mod
from coreset_core.knn import knn, nearest

BACKENDS = ["blocked"] + (["faiss"] if knn_mod.faiss_available() else [])
needs_faiss = pytest.mark.skipif(not knn_mod.faiss_available(), reason="faiss-cpu is not installed")


def brute(base, queries, k, self_search):
    """Reference: per query, (distance, index) pairs sorted, self excluded in a self search."""
    b = np.asarray(base, dtype=np.float64)
    q = np.asarray(queries, dtype=np.float64)
    idx, dist = [], []
    for i, row in enumerate(q):
        d = np.sqrt(((b - row) ** 2).sum(axis=1))
        pairs = sorted((float(d[j]), j) for j in range(b.shape[0]) if not (self_search and j == i))[:k]
        idx.append([j for _, j in pairs])
        dist.append([v for v, _ in pairs])
    return np.array(idx, dtype=np.int64), np.array(dist)


def tied_data(rng, n, d):
    """Random rows plus exact duplicates and an integer lattice (many exactly equal distances)."""
    x = rng.normal(size=(n, d)).astype(np.float32)
    x[5] = x[2]
    x[7] = x[2]
    x[20:32] = x[40]  # a block of 13 identical rows: more duplicates than faiss's first candidates
    lattice = rng.integers(0, 3, size=(n // 4, d)).astype(np.float32)  # equal distances everywhere
    return np.concatenate([x, lattice])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("n,d,k", [(120, 3, 4), (300, 16, 5), (260, 200, 7)])
def test_knn_matches_brute_force_with_ties(backend, n, d, k):
    x = tied_data(np.random.default_rng(n + d), n, d)
    nbr, dist = knn(x, k, backend=backend)
    ref_i, ref_d = brute(x, x, k, True)
    np.testing.assert_array_equal(nbr, ref_i)
    np.testing.assert_allclose(dist, ref_d, rtol=1e-14)  # float64 sums in another order: last-bit differences


@needs_faiss
@pytest.mark.parametrize("twins", [31, 301])
def test_faiss_and_blocked_give_identical_neighbours_and_distances(monkeypatch, twins):
    rng = np.random.default_rng(7)
    x = np.concatenate([rng.normal(size=(400, 64)), rng.normal(size=(400, 64)) * 1e-3], axis=0).astype(np.float32)
    x[100:100 + twins - 1] = x[99]  # duplicates: faiss must widen its candidate list (31), then fall back (301)
    fallback_rows = []
    blocked = knn_mod._blocked_candidates

    def spy(s, kk, self_search, rows):
        fallback_rows.append(rows.size)
        return blocked(s, kk, self_search, rows)

    monkeypatch.setattr(knn_mod, "_blocked_candidates", spy)
    a = knn(x, 6, backend="faiss")
    assert bool(fallback_rows) == (twins > 60)
    b = knn(x, 6, backend="blocked")
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    # a duplicate's neighbours are its twins at distance 0, lowest index first, never itself
    assert a[0][100].tolist() == [99, 101, 102, 103, 104, 105] and not a[1][100].any()


def test_ties_go_to_the_lower_index_and_self_is_excluded():
    x = np.array([[0.0], [0.0], [1.0], [-1.0], [0.0], [3.0]])
    for backend in BACKENDS:
        nbr, dist = knn(x, 3, backend=backend)
        assert nbr[0].tolist() == [1, 4, 2] and nbr[4].tolist() == [0, 1, 2]  # 1 and -1 tie: index 2 first
        np.testing.assert_array_equal(dist[5], [2.0, 3.0, 3.0])


@pytest.mark.parametrize("backend", BACKENDS)
def test_nearest_class_mean_matches_brute_force(backend):
    rng = np.random.default_rng(3)
    means = rng.normal(size=(40, 32))
    means[17] = means[4]  # two identical means: the lower class wins
    queries = np.concatenate([rng.normal(size=(500, 32)), means[[4, 17, 9]]])
    idx, dist = nearest(queries, means, 3, backend=backend)
    ref_i, ref_d = brute(means, queries, 3, False)
    np.testing.assert_array_equal(idx, ref_i)
    np.testing.assert_allclose(dist, ref_d, rtol=1e-14)
    assert idx[-3, 0] == 4 and idx[-2, 0] == 4 and idx[-2, 1] == 17


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("scale", [1e30, 1e-30])
def test_extreme_magnitudes_are_exact(backend, scale):
    rng = np.random.default_rng(11)
    x = (rng.normal(size=(150, 10)) * scale).astype(np.float32)
    nbr, dist = knn(x, 3, backend=backend)
    ref_i, ref_d = brute(x, x, 3, True)
    np.testing.assert_array_equal(nbr, ref_i)
    np.testing.assert_allclose(dist, ref_d, rtol=1e-12)


def test_k_larger_than_the_set_and_tiny_sets():
    x = np.arange(4, dtype=np.float32).reshape(4, 1)
    nbr, _ = knn(x, 10)
    assert nbr.shape == (4, 3) and nbr[0].tolist() == [1, 2, 3]
    assert knn(x[:1], 3)[0].shape == (1, 0)
    assert nearest(x, x[:2], 5)[0].shape == (4, 2)


def test_bad_input_is_refused():
    x = np.zeros((5, 2))
    for k in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="k "):
            knn(x, k)
    with pytest.raises(ValueError, match="2-D"):
        knn(np.zeros(5), 2)
    with pytest.raises(ValueError, match="backend"):
        knn(x, 2, backend="annoy")
    with pytest.raises(ValueError, match="dims"):
        nearest(np.zeros((3, 2)), np.zeros((4, 3)))
    with pytest.raises(ValueError, match="no rows"):
        nearest(np.zeros((3, 2)), np.zeros((0, 2)))


def test_faiss_backend_without_faiss_names_the_install(monkeypatch):
    monkeypatch.setattr(knn_mod, "faiss_available", lambda: False)
    with pytest.raises(ValueError, match="pip install faiss-cpu"):
        knn(np.zeros((5, 2)), 2, backend="faiss")
    # "auto" falls back to the blocked search
    assert knn(np.arange(10.0).reshape(5, 2), 1, backend="auto")[0][:, 0].tolist() == [1, 0, 1, 2, 3]
