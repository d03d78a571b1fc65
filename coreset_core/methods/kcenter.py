"""K-Center Greedy (Sener & Savarese, ICLR 2018): farthest-point traversal of the features.

The first center is a seeded uniform draw (`numpy.random.default_rng(seed).integers(n)`);
each next center is the sample whose distance to its nearest chosen center is largest
(Euclidean; ties: lower index), until `B` centers are chosen.

- `kcenter`: one traversal over the whole set.
- `kcenter-classwise`: a traversal inside each class with the uniform per-class counts;
  the first center of each class is drawn from the same generator, classes in order.

Implementation (the result is the textbook loop's, which updates all `N` nearest-center
distances after every pick: `O(N B d)` as `B` memory-bound matrix-vector passes, tens of
minutes for 50,000 x 1280 at `B` = 25,000 on 2 cores). Here the same `O(N B d)` work is
done as blocked matrix products, plus a lazy max-heap:

- every `block` (64) picks, the nearest-center distances of all samples are updated
  against the block's centers with one `N x d x 64` matrix product (compute-bound);
- between two such updates, a max-heap holds each sample's distance as of its last
  update, an upper bound of the current one (distances only shrink). The top of the heap
  is refreshed against just the block's centers added since (at most 64); once the top is
  up to date it is the exact argmax (ties: lower index), since every other entry is an
  upper bound. A few dozen samples are refreshed per pick on real CNN features.

Squared distances are `|a|^2 + |c|^2 - 2 a.c`, the product in the features' dtype
(float32 stays float32, float64 stays float64), norms and sums in float64.
"""
from __future__ import annotations

import heapq

import numpy as np

from .common import class_members, distance_ready, sorted_indices, uniform_class_counts
from .registry import register


def _sq_dists(x: np.ndarray, sq: np.ndarray, centers: np.ndarray, csq: np.ndarray, step: int = 4096) -> np.ndarray:
    """`min` over `centers` of the squared distance of every row of `x` (float64, >= 0)."""
    out = np.empty(x.shape[0], dtype=np.float64)
    for a in range(0, x.shape[0], step):
        t = (x[a:a + step] @ centers.T).astype(np.float64)
        t *= -2.0
        t += csq[None, :]
        out[a:a + step] = t.min(axis=1)  # |a|^2 is the same for every center: added after the min
    out += sq
    return np.maximum(out, 0.0)


def farthest_point_order(features: np.ndarray, budget: int, first: int, *, block: int = 64) -> np.ndarray:
    """Positions of the `budget` centers chosen by farthest-point greedy from `first`, in order."""
    x = np.asarray(features)
    if x.dtype not in (np.float32, np.float64):
        x = x.astype(np.float32)
    x = np.ascontiguousarray(x)
    n = x.shape[0]
    budget = int(budget)
    if budget >= n:
        # every sample is kept: the order does not matter for the kept set
        return np.concatenate([[first], np.delete(np.arange(n), first)]).astype(np.int64)
    sq = np.einsum("ij,ij->i", x, x).astype(np.float64)
    centers = np.empty((budget, x.shape[1]), dtype=x.dtype)
    csq = np.empty(budget, dtype=np.float64)
    centers[0], csq[0] = x[first], sq[first]
    val = _sq_dists(x, sq, centers[:1], csq[:1])  # nearest-center distance, as of `synced[i]` centers
    synced = np.ones(n, dtype=np.int64)
    val[first] = -np.inf
    heap = [(-v, i) for i, v in enumerate(val.tolist()) if i != first]
    heapq.heapify(heap)
    chosen = [first]
    m = 1  # centers chosen
    done = 1  # centers every sample has been updated against
    while m < budget:
        while True:
            neg, i = heapq.heappop(heap)
            r = synced[i]
            if r < m:  # refresh against the centers added since
                g = (centers[r:m] @ x[i]).astype(np.float64)
                v = min(val[i], max(0.0, float((sq[i] + csq[r:m] - 2.0 * g).min())))
                val[i] = v
                synced[i] = m
            else:
                v = val[i]
            if heap and (-v, i) > heap[0]:
                heapq.heappush(heap, (-v, i))  # no longer the top: put back with its current value
                continue
            break
        chosen.append(i)
        centers[m], csq[m] = x[i], sq[i]
        val[i] = -np.inf
        m += 1
        if m - done >= block and m < budget:  # bring every sample up to date with one product
            val = np.minimum(val, _sq_dists(x, sq, centers[done:m], csq[done:m]))
            synced[:] = m
            done = m
    return np.asarray(chosen, dtype=np.int64)


@register(
    "kcenter",
    description="K-Center Greedy: farthest-point traversal of the features over the whole set "
                "(first center seeded random).",
    needs_features=True,
    allocation="global",
)
def kcenter_global(labels, budget, *, scores=None, features, seed=0):
    rng = np.random.default_rng(seed)
    first = int(rng.integers(labels.shape[0]))
    return np.sort(farthest_point_order(distance_ready(features), budget, first)).astype(np.int64)


@register(
    "kcenter-classwise",
    description="K-Center Greedy inside each class, the same fraction in every class (uniform allocation).",
    needs_features=True,
    allocation="classwise",
)
def kcenter_classwise(labels, budget, *, scores=None, features, seed=0):
    rng = np.random.default_rng(seed)
    feats = distance_ready(features)
    kept = []
    for members, n_c in zip(class_members(labels), uniform_class_counts(labels, budget)):
        first = int(rng.integers(members.size))
        if n_c:
            kept.append(members[farthest_point_order(feats[members], int(n_c), first)])
    return sorted_indices(kept)
