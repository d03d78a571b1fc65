"""K-Center Greedy (Sener & Savarese, ICLR 2018): farthest-point traversal of the features.

The first center is a seeded uniform draw (`numpy.random.default_rng(seed).integers(n)`);
each next center is the sample whose distance to its nearest chosen center is largest
(Euclidean; ties: lower index), until `B` centers are chosen.

- `kcenter`: one traversal over the whole set.
- `kcenter-classwise`: a traversal inside each class with the uniform per-class counts;
  the first center of each class is drawn from the same generator, classes in order.

Implementation (same result as the textbook loop, which updates all `N` nearest-center
distances after every pick, `O(N B d)` and memory-bound: about 20 min for 50,000 x 1280 at
`B` = 25,000 on 2 cores): when `d > proj_dims` (64), the features are also projected onto
an orthonormal basis `P` of their top principal subspace (randomized subspace
iteration), plus the norm of the residual. `|P(a - c)|^2 + (|r_a| - |r_c|)^2 <= |a - c|^2`
is a tight lower bound that costs one `N x 65` matrix-vector product per pick; a sample
whose bound already exceeds its current nearest-center distance (minus a small round-off
margin) cannot change, so only the few samples that pass get their exact distance
computed. Distances are squared Euclidean
from explicit differences (no `|a|^2 + |b|^2 - 2ab` cancellation) in the features' float
dtype (float32 stays float32, float64 stays float64).
"""
from __future__ import annotations

import numpy as np

from .random import check_budget, class_members, uniform_class_counts
from .registry import register


def _sq_dist_to(x: np.ndarray, c: np.ndarray, idx: np.ndarray | None = None, block: int = 8192) -> np.ndarray:
    """Squared distances of the rows `x[idx]` (default all) to the point `c`, float64."""
    m = x.shape[0] if idx is None else idx.shape[0]
    out = np.empty(m, dtype=np.float64)
    for a in range(0, m, block):
        rows = x[a:a + block] if idx is None else x[idx[a:a + block]]
        diff = rows - c
        out[a:a + block] = np.einsum("ij,ij->i", diff, diff)
    return out


def _bound_vectors(x: np.ndarray, dims: int, iters: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """`(v, nsq)` with `|a - b|^2 >= nsq_a + nsq_b - 2 v_a.v_b` for all rows `a`, `b`.

    `P` is an orthonormal basis (`d x dims`) of the approximate top principal subspace of
    the centred features (randomized subspace iteration). For `a` centred, `v_a = [P^T a,
    |a - P P^T a|]` (projection plus the norm of the residual) and `nsq_a = |a|^2`, so
    `nsq_a + nsq_b - 2 v_a.v_b = |P^T(a - b)|^2 + (|r_a| - |r_b|)^2 <= |a - b|^2`: the exact
    projected distance plus the reverse triangle inequality on the residual. Any orthonormal
    basis keeps the bound valid; a good one makes it tight. `v` is float32, `nsq` float64.
    """
    xf = x if x.dtype == np.float32 else x.astype(np.float32)
    mean32 = xf.mean(axis=0, dtype=np.float64).astype(np.float32)
    q = np.random.default_rng(0).standard_normal((x.shape[1], dims)).astype(np.float32)
    for _ in range(iters):
        y = xf @ q - mean32 @ q
        z = xf.T @ y - np.outer(mean32, y.sum(axis=0))
        q = np.linalg.qr(z.astype(np.float64))[0].astype(np.float32)
    q64 = np.linalg.qr(q.astype(np.float64))[0]
    mean = x.mean(axis=0, dtype=np.float64)
    n = x.shape[0]
    v = np.empty((n, dims + 1), dtype=np.float32)
    nsq = np.empty(n, dtype=np.float64)
    step = 4096
    for a in range(0, n, step):
        xc = x[a:a + step].astype(np.float64) - mean
        pc = xc @ q64
        res = xc - pc @ q64.T
        nsq[a:a + step] = np.einsum("ij,ij->i", xc, xc)
        v[a:a + step, :dims] = pc
        v[a:a + step, dims] = np.sqrt(np.einsum("ij,ij->i", res, res))
    return v, nsq


def _blas_single_thread():
    """Context limiting BLAS to one thread: the loop's matrix-vector products are tiny and
    memory-bound, and on a busy CPU a second BLAS thread makes them ~3x slower."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl ships with scikit-learn
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def farthest_point_order(features: np.ndarray, budget: int, first: int, *, proj_dims: int = 64) -> np.ndarray:
    """Positions of the `budget` centers chosen by farthest-point greedy from `first`, in order.

    `proj_dims` (0 disables) is the dimension of the projection used to skip updates that
    cannot change anything; it never changes the result.
    """
    x = np.asarray(features)
    if x.dtype not in (np.float32, np.float64):
        x = x.astype(np.float32)
    n, d = x.shape
    budget = int(budget)
    if budget >= n:
        # every sample is kept: the order does not matter for the kept set
        return np.concatenate([[first], np.delete(np.arange(n), first)]).astype(np.int64)
    mind = _sq_dist_to(x, x[first])  # squared distance to the nearest center
    mind[first] = -np.inf
    use_proj = 0 < proj_dims < d and proj_dims < n
    if use_proj:
        v, nsq = _bound_vectors(x, int(proj_dims))
        # Skip test for a new center c: if nsq_a + nsq_c - 2 v_a.v_c >= mind_a, the exact
        # distance is >= mind_a too and a's nearest-center distance cannot change. With a
        # relative margin `eps` for round-off, a is a candidate iff
        # v_a.v_c > h_a + nsq_c (1 - eps) / 2,  h_a = (nsq_a (1 - eps) - mind_a (1 + eps)) / 2,
        # h kept up to date as mind shrinks.
        eps = 1e-5
        h = (nsq * (1 - eps) - mind * (1 + eps)) / 2
        h[first] = np.inf
    with _blas_single_thread():
        return _greedy_loop(x, budget, first, mind, v if use_proj else None, nsq if use_proj else None,
                            h if use_proj else None, eps if use_proj else 0.0)


def _greedy_loop(x, budget, first, mind, v, nsq, h, eps):
    chosen = [first]
    for _ in range(1, budget):
        i = int(np.argmax(mind))
        chosen.append(i)
        mind[i] = -np.inf
        if v is not None:
            h[i] = np.inf
            cand = np.flatnonzero(v @ v[i] > h + nsq[i] * (1 - eps) / 2)
        else:
            cand = np.flatnonzero(mind > -np.inf)
        if cand.size:
            new = np.minimum(mind[cand], _sq_dist_to(x, x[i], cand))
            mind[cand] = new
            if v is not None:
                h[cand] = (nsq[cand] * (1 - eps) - new * (1 + eps)) / 2
    return np.asarray(chosen, dtype=np.int64)


@register(
    "kcenter",
    description="K-Center Greedy: farthest-point traversal of the features over the whole set "
                "(first center seeded random).",
    needs_features=True,
    allocation="global",
)
def kcenter_global(labels, budget, *, scores=None, features, seed=0):
    n = np.asarray(labels).shape[0]
    budget = check_budget(budget, n)
    rng = np.random.default_rng(seed)
    first = int(rng.integers(n))
    return np.sort(farthest_point_order(features, budget, first)).astype(np.int64)


@register(
    "kcenter-classwise",
    description="K-Center Greedy inside each class, the same fraction in every class (uniform allocation).",
    needs_features=True,
    allocation="classwise",
)
def kcenter_classwise(labels, budget, *, scores=None, features, seed=0):
    labels = np.asarray(labels)
    budget = check_budget(budget, labels.shape[0])
    rng = np.random.default_rng(seed)
    feats = np.asarray(features)
    kept = []
    for members, n_c in zip(class_members(labels), uniform_class_counts(labels, budget)):
        first = int(rng.integers(members.size))
        if n_c:
            kept.append(members[farthest_point_order(feats[members], int(n_c), first)])
    return np.sort(np.concatenate(kept)).astype(np.int64)
