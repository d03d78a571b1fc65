"""RAM-APL (Wan et al., ICML 2025): multi-backbone representativeness + pseudo-label hardness.

`features` is a list of `N x d_m` arrays, one per backbone (a single array is one
backbone). For each backbone `m`, with `mu_c` the mean feature of class `c`:

- **RAM** (RAnking Mean): `d_i = |f_i - mu_{y_i}|` (Euclidean); `rank_i` is the 1-based
  rank of `d_i` among the distances of class `y_i` (1 = closest to the mean, ties by the
  lower sample index), and `RAM_i = rank_i / N_c` lies in `(0, 1]`.
- **APL** (Accuracy of Pseudo Labels, used as an error): `1` if the nearest-class-mean
  prediction `argmin_c |f_i - mu_c|` (ties: lower class) differs from `y_i`, else `0`.

Both are averaged over the `M` backbones from integer sums, divided once
(`RAM_i = sum_m rank_m,i / (M N_c)`, `APL_i = sum_m err_m,i / M`), so that equal rank sums
give bit-identical scores and exact ties fall to the lower index (summing per-backbone
floats `r1 / N_c + r2 / N_c` breaks such ties by rounding). With `p = B / N`:
`W1 = a + (1 - a) / (1 + exp(b * (p - 0.5)))` (`a = 0.2`, `b = 1`), `W2 = 1 - W1`, and
`score = W1 * RAM + W2 * APL`. Each class keeps its `n_c` lowest scores (ties: lower
index): representative, correctly pseudo-labelled samples first, with hardness mattering
more as `p` grows. `n_c` is `round(p * N_c)` made exact by the shared uniform allocation
(floor plus largest remainders, so `sum(n_c) == B`). Deterministic; `seed` is unused.
"""
from __future__ import annotations

import numpy as np

from ..knn import nearest, pair_distances
from ..row_blocks import gather_rows, row_blocks
from .common import class_members, sorted_indices, uniform_class_counts
from .registry import register

#: Below this many classes the nearest class mean is one float64 product per row block plus an
#: exact re-check of the rows whose best two classes are within the product's rounding bound
#: (`_nearest_of_few`); from it, `knn.nearest` (float32 candidates, faiss when installed). Measured
#: at 50,000 x 512 on the shared 2-core machine: 10 classes ~8.6 s through `knn.nearest` (its
#: float32 bound keeps nearly every class a candidate, each re-checked in float64).
FEW_CLASSES = 100
_U64 = 2.0 ** -53


def _backbone_terms(labels: np.ndarray, members: list[np.ndarray], features: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
    """`(rank, error)` of one backbone: the integer rank of the distance to the class mean
    (1 = closest, ties: lower index) and 1 where the nearest class mean is another class.

    The features are read in row blocks and per-class gathers (`row_blocks`): a memory-mapped
    array is never held whole."""
    f = np.asarray(features)
    n = labels.shape[0]
    means = np.stack([gather_rows(f, m).mean(axis=0, dtype=np.float64) for m in members])
    d = np.empty(n, dtype=np.float64)
    pred = np.empty(n, dtype=np.int64)
    step = max(256, (1 << 22) // max(f.shape[1], means.shape[0]))
    for s, block in row_blocks(f, step):  # no per-class copies of the features
        diff = block.astype(np.float64) - means[labels[s:s + step]]
        d[s:s + step] = np.einsum("ij,ij->i", diff, diff)
        pred[s:s + step] = (_nearest_of_few(block, means) if means.shape[0] < FEW_CLASSES
                            else nearest(block, means, 1)[0][:, 0])
    order = np.lexsort((np.arange(n), d, labels))  # by class, then distance, then index
    sizes = np.array([m.size for m in members])
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n) - np.repeat(np.cumsum(sizes) - sizes, sizes) + 1
    return rank, (pred != labels).astype(np.int64)


def _nearest_of_few(features: np.ndarray, means: np.ndarray) -> np.ndarray:
    """The nearest row of `means` for every feature row (a block in memory) by `knn`'s definition
    (float64 distance of the float64 difference, ties: lower index), for few means.

    `g_c = |mu_c|^2 - 2 f.mu_c` (float64 product) orders the classes like the squared distance; its
    rounding and the definition's own are below `tol = 4 (d + 8) u (|f| + |mu_c|)^2` (u = 2^-53).
    A row whose best class beats every other by more than the bounds is decided; the rest
    (near-ties, duplicates) compare their candidates' distances computed as the definition says.
    """
    d = features.shape[1]
    mu_sq = np.einsum("ij,ij->i", means, means)
    mu_norm = np.sqrt(mu_sq)
    x = np.asarray(features, dtype=np.float64)
    g = mu_sq[None, :] - 2.0 * (x @ means.T)
    tol = 4.0 * (d + 8) * _U64 * (np.sqrt(np.einsum("ij,ij->i", x, x))[:, None] + mu_norm[None, :]) ** 2
    best = np.argmin(g, axis=1)
    rows = np.arange(x.shape[0])
    cand = g - tol <= (g[rows, best] + tol[rows, best])[:, None]
    out = best.astype(np.int64)
    open_rows = np.flatnonzero(cand.sum(axis=1) > 1)
    if open_rows.size:
        rr, cc = np.nonzero(cand[open_rows])
        dist = pair_distances(means, x, open_rows[rr], cc)
        order = np.lexsort((cc, dist, rr))  # per row: smallest distance, then lower class
        first = order[np.searchsorted(rr[order], np.arange(open_rows.size))]
        out[open_rows] = cc[first]
    return out


def ram_apl_weights(p: float, a: float = 0.2, b: float = 1.0) -> tuple[float, float]:
    """`(W1, W2)` for the selection ratio `p`."""
    w1 = a + (1.0 - a) / (1.0 + np.exp(b * (p - 0.5)))
    return float(w1), float(1.0 - w1)


def ram_apl_scores(labels: np.ndarray, features, p: float, *, a: float = 0.2, b: float = 1.0) -> np.ndarray:
    """Per-sample RAM-APL score (lower = kept first) at selection ratio `p`."""
    labels = np.asarray(labels)
    feats = list(features) if isinstance(features, (list, tuple)) else [features]
    members = class_members(labels)
    rank_sum = np.zeros(labels.shape[0], dtype=np.int64)
    err_sum = np.zeros(labels.shape[0], dtype=np.int64)
    for f in feats:
        r, e = _backbone_terms(labels, members, f)
        rank_sum += r
        err_sum += e
    m = len(feats)
    sizes = np.bincount(labels)[labels]
    w1, w2 = ram_apl_weights(p, a, b)
    return w1 * (rank_sum / (m * sizes)) + w2 * (err_sum / m)


@register(
    "ram-apl",
    description="RAM-APL: rank of the distance to the class mean (representativeness) plus nearest-class-mean "
                "error (hardness), averaged over one or more backbones; lowest scores per class, same fraction.",
    needs_features=True,
    allocation="classwise",
)
def ram_apl(labels, budget, *, scores=None, features, seed=0, a=0.2, b=1.0):
    n = labels.shape[0]
    p = budget / n
    score = ram_apl_scores(labels, features, p, a=a, b=b)
    counts = uniform_class_counts(labels, budget)
    kept = [idx[np.lexsort((idx, score[idx]))][:n_c] for idx, n_c in zip(class_members(labels), counts)]
    w1, w2 = ram_apl_weights(p, a, b)
    info = {"w1": w1, "w2": w2, "selection_ratio": p,
            "num_backbones": len(features) if isinstance(features, (list, tuple)) else 1}
    return sorted_indices(kept), info
