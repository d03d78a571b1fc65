"""D2 Pruning (Maharana et al., ICLR 2024): message passing on a k-NN graph of the features.

1. **Graph**: each sample's `k` nearest neighbours in feature space (Euclidean; brute
   force in float32 by blocked matrix products, never an `N x N` matrix), the sample
   itself excluded (with exact duplicates its own entry is still the one removed, or the
   farthest of the `k + 1` found when it is not among them). The distances `d_ij` of the
   neighbours found are then recomputed exactly in float64. Only the `N x k` neighbour
   table is kept.
2. **Forward message passing**: `s'_i = s_i + sum_{j in kNN(i)} exp(-d_ij) * s_j`.
3. **Reverse message passing (greedy)**: repeat `B` times: take `i* = argmax s'` over the
   samples not yet selected (ties: lower index), then for every `j` among **i*'s own k
   nearest neighbours** (its out-neighbours: the row of `i*` in the k-NN table, as the
   authors' `GraphDensitySampler` does with `indices[selected]`) that is not yet selected:
   `s'_j -= exp(-gamma * d(i*, j)) * s'_{i*}`. The argmax is kept in a heap with lazy
   deletion (an entry is live while its value equals the current `s'`), so the loop costs
   `O((N + B k) log N)`.

`mode="class"` (default, the paper's class-balanced setting) builds the graph inside each
class and selects `n_c` per class with the uniform allocation; `mode="global"` builds one
graph over all samples and selects `B` overall. `pca_dims` (default `None`: the full
features) optionally projects the features onto their top principal components (seeded
randomized subspace iteration, numpy) before the graph is built; the distances are then
those of the projection (faster graphs for `mode="global"` on large sets).
Deterministic given the inputs (`seed` only seeds the PCA).
"""
from __future__ import annotations

import heapq

import numpy as np

from .random import check_budget, class_members, uniform_class_counts
from .registry import register


def _knn_candidates(x: np.ndarray, kk: int, block: int = 1024) -> np.ndarray:
    """Indices of the `kk + 1` nearest rows of every row (itself normally included), nearest first.

    Blocked brute force in float32: `|x_j|^2 - 2 x_i.x_j` from one matrix product per block
    of rows, then `argpartition`; memory `block x n` floats. (About twice as fast here as
    scikit-learn's brute-force `NearestNeighbors`, which finds the same neighbours.)
    """
    n = x.shape[0]
    xf = np.ascontiguousarray(x, dtype=np.float32)
    sq = np.einsum("ij,ij->i", xf, xf)
    out = np.empty((n, kk + 1), dtype=np.int64)
    for a in range(0, n, block):
        b = min(n, a + block)
        g = xf[a:b] @ xf.T
        g *= -2.0
        g += sq[None, :]
        cand = np.argpartition(g, kk, axis=1)[:, :kk + 1] if kk + 1 < n else np.tile(np.arange(n), (b - a, 1))
        order = np.argsort(np.take_along_axis(g, cand, 1), axis=1, kind="stable")
        out[a:b] = np.take_along_axis(cand, order, 1)
    return out


def knn_graph(features: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """`(neighbours, distances)`, each `n x k'` with `k' = min(k, n - 1)`, self excluded.

    Rows are sorted by (exact float64 distance, index).
    """
    x = np.asarray(features)
    n = x.shape[0]
    kk = min(int(k), n - 1)
    if kk <= 0:
        return np.zeros((n, 0), dtype=np.int64), np.zeros((n, 0), dtype=np.float64)
    ind = _knn_candidates(x, kk)
    is_self = ind == np.arange(n)[:, None]
    keep = ~is_self
    no_self = ~is_self.any(axis=1)
    keep[no_self, -1] = False
    nbr = ind[keep].reshape(n, kk).astype(np.int64)
    dist = np.empty((n, kk), dtype=np.float64)
    step = max(1, 2_000_000 // max(1, kk * x.shape[1]))
    for a in range(0, n, step):
        b = min(n, a + step)
        diff = x[nbr[a:b]].astype(np.float64) - x[a:b, None, :].astype(np.float64)
        dist[a:b] = np.sqrt(np.einsum("ijk,ijk->ij", diff, diff))
    order = np.lexsort((nbr, dist), axis=1)
    return np.take_along_axis(nbr, order, 1), np.take_along_axis(dist, order, 1)


def forward_pass(scores: np.ndarray, nbr: np.ndarray, dist: np.ndarray) -> np.ndarray:
    """`s'_i = s_i + sum_{j in kNN(i)} exp(-d_ij) s_j`."""
    scores = np.asarray(scores, dtype=np.float64)
    if nbr.shape[1] == 0:
        return scores.copy()
    return scores + (np.exp(-dist) * scores[nbr]).sum(axis=1)


def reverse_greedy(s_prime: np.ndarray, nbr: np.ndarray, dist: np.ndarray, budget: int, gamma: float) -> np.ndarray:
    """Positions selected by the greedy reverse message passing, in selection order."""
    s = s_prime.astype(np.float64).tolist()
    n = len(s)
    nbr_l = nbr.tolist()
    w_l = np.exp(-float(gamma) * dist).tolist()
    selected = [False] * n
    heap = [(-v, i) for i, v in enumerate(s)]
    heapq.heapify(heap)
    out: list[int] = []
    while len(out) < budget:
        neg, i = heapq.heappop(heap)
        if selected[i] or -neg != s[i]:
            continue  # stale entry
        selected[i] = True
        out.append(i)
        si = s[i]
        for j, w in zip(nbr_l[i], w_l[i]):
            if not selected[j]:
                s[j] -= w * si
                heapq.heappush(heap, (-s[j], j))
    return np.asarray(out, dtype=np.int64)


def _reduce(features: np.ndarray, pca_dims: int | None, seed: int) -> np.ndarray:
    """Projection onto the top `pca_dims` principal components (randomized subspace iteration)."""
    x = np.asarray(features)
    if pca_dims is None or int(pca_dims) >= min(x.shape):
        return x
    dims = int(pca_dims)
    if dims < 1:
        raise ValueError(f"d2: pca_dims must be a positive integer or None, got {pca_dims}")
    xc = x.astype(np.float64) - x.mean(axis=0, dtype=np.float64)
    q = np.random.default_rng(seed).standard_normal((x.shape[1], min(x.shape[1], dims + 10)))
    for _ in range(4):
        q = np.linalg.qr(xc.T @ (xc @ q))[0]
    # exact PCA inside the found subspace
    _, _, vt = np.linalg.svd(xc @ q, full_matrices=False)
    return (xc @ (q @ vt[:dims].T)).astype(np.float32 if x.dtype == np.float32 else np.float64)


def d2_select(scores: np.ndarray, features: np.ndarray, budget: int, *, k: int, gamma: float) -> np.ndarray:
    """D2 on one set of samples: positions (into `scores`) of the `budget` selected, in selection order."""
    nbr, dist = knn_graph(features, k)
    return reverse_greedy(forward_pass(scores, nbr, dist), nbr, dist, budget, gamma)


@register(
    "d2",
    description="D2 pruning: k-NN graph message passing (difficulty + density), then greedy selection that "
                "lowers the neighbours of each pick; per class with equal fractions (mode='class') or global.",
    needs_scores=True,
    needs_features=True,
    allocation="classwise",
)
def d2(labels, budget, *, scores, features, seed=0, k=5, gamma=0.1, mode="class", pca_dims=None):
    labels = np.asarray(labels)
    n = labels.shape[0]
    budget = check_budget(budget, n)
    if int(k) < 1:
        raise ValueError(f"d2: k (neighbours in the graph) must be >= 1, got {k}")
    if mode not in ("class", "global"):
        raise ValueError(f"d2: mode must be 'class' or 'global', got {mode!r}")
    scores = np.asarray(scores, dtype=np.float64)
    x = _reduce(features, pca_dims, seed)
    if mode == "global":
        return np.sort(d2_select(scores, x, budget, k=k, gamma=gamma)), {"mode": mode}
    kept = []
    for members, n_c in zip(class_members(labels), uniform_class_counts(labels, budget)):
        if n_c:
            kept.append(members[d2_select(scores[members], x[members], int(n_c), k=k, gamma=gamma)])
    return np.sort(np.concatenate(kept)).astype(np.int64), {"mode": mode}
