"""D2 Pruning (Maharana et al., ICLR 2024): message passing on a k-NN graph of the features.

Follows the authors' code on its README's CIFAR path (SPEC section 6):

1. **Graph**: each sample's `k` nearest neighbours (Euclidean, the sample itself excluded,
   ties to the lower index). Distances are exact float64 (`sqrt(sum((x_i - x_j)^2))`); the
   float32 matrix products that find the candidates carry a rigorous error bound, and every
   sample that could be among the `k` nearest within that bound is re-measured in float64,
   so the neighbours are those of the float64 distances. Memory: blocks of rows, never an
   `N x N` matrix. `graph="symmetric"` (default, the authors' `compute_graph_density`):
   every edge `i -> j` of the k-NN lists also counts as `j -> i`, so `N(i)` is the union of
   i's own list and the samples that list `i`. `graph="directed"` (their precomputed-graph
   path): `N(i)` is i's own k nearest only.
2. **Forward message passing**: `s'_i = s_i + sum_{j in N(i)} exp(-d_ij) * w(s_j)` with
   `w(s) = max(s, 1e-7)` on the symmetric graph (the authors clamp the score in the edge
   weight so that every edge counts) and `w(s) = s` on the directed one (their precomputed
   path has no clamp).
3. **Reverse message passing (greedy)**: repeat `B` times: take `i* = argmax s'` over the
   samples not yet selected (ties: lower index), then lower every not yet selected graph
   neighbour `j` of `i*`: `s'_j -= exp(-gamma * d(i*, j)) * s'_{i*}` (`gamma` = 0.1, the
   authors' CIFAR setting). A max-heap with lazy deletion makes it `O((N + B k) log N)`.

Optional hard cutoff `beta` (the authors' `--mis-ratio`): the `floor(beta * N)` hardest
samples (highest score; ties: lower index counts harder) are dropped first; the budget `B`
is unchanged.

`mode="class"` (default) builds the graph and runs the greedy loop inside each class; the
per-class counts are `class_budgets="equal"` (default: equal counts water-filled from the
smallest class, the authors' `bin_allocate`, see `common.equal_counts`) or
`"proportional"` (the same fraction in every class, the shared uniform allocation).
`mode="global"` builds one graph over all samples and selects `B` overall. A class with at
most `k` samples gets the complete graph on its members (the authors draw at random there).
`pca_dims` (default `None`) optionally projects the features onto their top principal
components first (seeded randomized subspace iteration); the distances are then those of the
projection. Deterministic given the inputs (`seed` only seeds the PCA).
"""
from __future__ import annotations

import heapq
import math
from dataclasses import dataclass

import numpy as np

from ..knn import knn
from .common import class_members, equal_counts, hardest_first, sorted_indices, uniform_counts
from .registry import register

SCORE_FLOOR = 1e-7  #: the authors' epsilon: scores are clamped below at this in symmetric edge weights


@dataclass(frozen=True)
class Graph:
    """Adjacency lists in CSR form: the neighbours of `i` are `nbr[ptr[i]:ptr[i+1]]` (ascending)."""

    ptr: np.ndarray
    nbr: np.ndarray
    dist: np.ndarray  #: float64 distance of every edge

    @property
    def src(self) -> np.ndarray:
        return np.repeat(np.arange(self.ptr.size - 1), np.diff(self.ptr))


def knn_graph(features: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """`(neighbours, distances)`, each `n x k'` with `k' = min(k, n - 1)`, self excluded.

    Rows are sorted by (float64 distance, index): the `k'` nearest of the exact float64
    distances (`coreset_core.knn.knn`: faiss's flat index where installed, verified; the
    blocked search otherwise).
    """
    return knn(features, k)


def build_graph(features: np.ndarray, k: int, graph: str) -> Graph:
    """The k-NN graph of `features`: `graph="directed"` (own lists) or `"symmetric"` (edges both ways)."""
    nbr, dist = knn_graph(features, k)
    n, kk = nbr.shape
    src = np.repeat(np.arange(n, dtype=np.int64), kk)
    dst, w = nbr.reshape(-1), dist.reshape(-1)
    if graph == "symmetric":
        key = np.concatenate([src * n + dst, dst * n + src])
        both = np.concatenate([w, w])
        key, first = np.unique(key, return_index=True)  # sorted by (source, neighbour)
        src, dst, w = key // n, key % n, both[first]
    else:
        order = np.lexsort((dst, src))
        src, dst, w = src[order], dst[order], w[order]
    ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(src, minlength=n), out=ptr[1:])
    return Graph(ptr, dst.astype(np.int64), w.astype(np.float64))


def forward_pass(scores: np.ndarray, g: Graph, floor: float | None) -> np.ndarray:
    """`s'_i = s_i + sum_{j in N(i)} exp(-d_ij) * max(s_j, floor)` (no clamp when `floor` is None)."""
    s = np.asarray(scores, dtype=np.float64)
    sj = s[g.nbr] if floor is None else np.maximum(s[g.nbr], floor)
    return s + np.bincount(g.src, weights=np.exp(-g.dist) * sj, minlength=s.size)


def reverse_greedy(s_prime: np.ndarray, g: Graph, budget: int, gamma: float) -> np.ndarray:
    """Positions selected by the greedy reverse message passing, in selection order."""
    s = np.asarray(s_prime, dtype=np.float64).tolist()
    n = len(s)
    bounds = g.ptr.tolist()
    nbr_l = g.nbr.tolist()
    w_l = np.exp(-float(gamma) * g.dist).tolist()
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
        for e in range(bounds[i], bounds[i + 1]):
            j = nbr_l[e]
            if not selected[j]:
                s[j] -= w_l[e] * si
                heapq.heappush(heap, (-s[j], j))
    return np.asarray(out, dtype=np.int64)


def _reduce(features: np.ndarray, pca_dims: int | None, seed: int) -> np.ndarray:
    """Projection onto the top `pca_dims` principal components (randomized subspace iteration)."""
    x = np.asarray(features)
    if pca_dims is None or int(pca_dims) >= min(x.shape):
        return x
    dims = int(pca_dims)
    xc = x.astype(np.float64) - x.mean(axis=0, dtype=np.float64)
    q = np.random.default_rng(seed).standard_normal((x.shape[1], min(x.shape[1], dims + 10)))
    for _ in range(4):
        q = np.linalg.qr(xc.T @ (xc @ q))[0]
    # exact PCA inside the found subspace
    _, _, vt = np.linalg.svd(xc @ q, full_matrices=False)
    return (xc @ (q @ vt[:dims].T)).astype(np.float32 if x.dtype == np.float32 else np.float64)


def d2_select(scores: np.ndarray, features: np.ndarray, budget: int, *, k: int = 5, gamma: float = 0.1,
              graph: str = "symmetric") -> np.ndarray:
    """D2 on one set of samples: positions (into `scores`) of the `budget` selected, in selection order."""
    g = build_graph(features, k, graph)
    s_prime = forward_pass(scores, g, SCORE_FLOOR if graph == "symmetric" else None)
    return reverse_greedy(s_prime, g, budget, gamma)


def _check_params(k, gamma, mode, graph, class_budgets, beta, pca_dims) -> None:
    if int(k) < 1:
        raise ValueError(f"d2: k (neighbours in the graph) must be >= 1, got {k}")
    if not (math.isfinite(float(gamma)) and float(gamma) >= 0):
        raise ValueError(f"d2: gamma must be a finite number >= 0, got {gamma}")
    for name, value, allowed in (("mode", mode, ("class", "global")), ("graph", graph, ("symmetric", "directed")),
                                 ("class_budgets", class_budgets, ("equal", "proportional"))):
        if value not in allowed:
            raise ValueError(f"d2: {name} must be one of {', '.join(map(repr, allowed))}, got {value!r}")
    if not (0.0 <= float(beta) < 1.0):
        raise ValueError(f"d2: beta (fraction of hardest samples dropped first) must be in [0, 1), got {beta}")
    if pca_dims is not None and int(pca_dims) < 1:
        raise ValueError(f"d2: pca_dims must be a positive integer or None, got {pca_dims}")


@register(
    "d2",
    description="D2 pruning: symmetric k-NN graph message passing (difficulty + density), then greedy selection "
                "that lowers the neighbours of each pick; per class with equal class counts (water-filled from "
                "the smallest class) by default, or global.",
    needs_scores=True,
    needs_features=True,
    allocation="classwise",
)
def d2(labels, budget, *, scores, features, seed=0, k=5, gamma=0.1, mode="class", graph="symmetric",
       class_budgets="equal", beta=0.0, pca_dims=None):
    _check_params(k, gamma, mode, graph, class_budgets, beta, pca_dims)
    n = labels.shape[0]
    dropped = int(math.floor(float(beta) * n))
    if budget > n - dropped:
        raise ValueError(f"d2: budget {budget} exceeds the {n - dropped} samples left after dropping the hardest "
                         f"floor(beta*N) = {dropped}; lower beta or the budget (raise the pruning rate)")
    pool = np.sort(hardest_first(scores)[dropped:])
    x = _reduce(features, pca_dims, seed)
    info = {"mode": mode, "graph": graph, "dropped": dropped}
    if mode == "global":
        kept = pool[d2_select(scores[pool], x[pool], budget, k=k, gamma=gamma, graph=graph)]
        return np.sort(kept), info
    members = [m[np.isin(m, pool, assume_unique=True)] for m in class_members(labels)]
    sizes = np.array([m.size for m in members], dtype=np.int64)
    counts = equal_counts(sizes, budget) if class_budgets == "equal" else uniform_counts(sizes, budget)
    kept = [m[d2_select(scores[m], x[m], int(n_c), k=k, gamma=gamma, graph=graph)]
            for m, n_c in zip(members, counts) if n_c]
    info.update(class_budgets=class_budgets, class_counts=counts.tolist())
    return sorted_indices(kept), info
