"""Exact Euclidean nearest neighbours: faiss's flat index where installed, a blocked numpy search otherwise.

Definition (both paths return exactly this): for every query row, the `k` rows of `base`
with the smallest float64 distance `sqrt(sum((b - q)^2))` (the difference formed in
float64), ordered by (distance, base index): **equal distances go to the lower index**. In a
self search (`knn(x, k)`) a row is never its own neighbour; its exact duplicates are (at
distance 0, lower index first).

Exact with float32 arithmetic: candidates come from float32 squared distances (faiss's
`IndexFlatL2`, or the blocked product `|b|^2 - 2 q.b`). Their error is at most
`tol(q, b) = 2 (d + 8) u (|q| + |b|)^2 + d 2^-140` (`u = 2^-24`; the features are first
scaled by a power of two when their magnitude would overflow float32 squares, which changes
no distance order). The candidates' distances are then recomputed in float64 and sorted.

* Blocked search: every base row whose float32 value is within the bound of the k-th
  smallest is a candidate, so nothing can be missed.
* faiss returns a fixed number `m` of candidates per row (more than `k`). A base row it left
  out ranks after the `m`-th candidate in float32, so its true squared distance is at least
  `true_m - tol_m - tol(q, r)` (`r` the largest norm a row closer than the k-th can have, by the
  triangle inequality `|b| <= |q| + kth distance`); when that exceeds the k-th smallest candidate distance nothing
  was missed. Rows where it does not (near-ties, duplicates) are searched again with 4x the
  candidates, then by the blocked search.

`backend`: "auto" (faiss when installed and the search is large enough to gain from it,
see `FAISS_MIN_WORK`), "faiss" or "blocked".
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

_U32 = 2.0 ** -24
#: Features whose largest magnitude lies in this range are searched as they are.
_SAFE_RANGE = (2.0 ** -40, 2.0 ** 40)
#: faiss is used by "auto" when queries x base rows reach this (below it, index set-up and the
#: extra candidate checks cost more than they save: measured in benchmarks/scale.py's knn check).
FAISS_MIN_WORK = 1 << 15
BACKENDS = ("auto", "faiss", "blocked")


def faiss_available() -> bool:
    """True when the `faiss` package (faiss-cpu) imports."""
    try:
        import faiss  # noqa: F401
    except ImportError:
        return False
    return True


def pair_distances(base: np.ndarray, queries: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """float64 `|base[cols] - queries[rows]|` for every pair (the definition's distance), in chunks."""
    out = np.empty(rows.size, dtype=np.float64)
    step = max(1, 4_000_000 // max(1, base.shape[1]))
    for a in range(0, rows.size, step):
        diff = base[cols[a:a + step]].astype(np.float64) - queries[rows[a:a + step]].astype(np.float64)
        out[a:a + step] = np.sqrt(np.einsum("ij,ij->i", diff, diff))
    return out


class _Scaled:
    """float32 copies (power-of-two scaled), float64 norms and the error-bound factors of a search."""

    def __init__(self, base: np.ndarray, queries: np.ndarray | None):
        peak = max((float(np.max(np.abs(x))) for x in (base, queries) if x is not None and x.size), default=0.0)
        scale = 1.0 if peak == 0.0 or _SAFE_RANGE[0] <= peak <= _SAFE_RANGE[1] else 2.0 ** -math.frexp(peak)[1]
        d = base.shape[1]

        def prep(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            xs = x * np.asarray(scale, dtype=x.dtype) if scale != 1.0 else x
            return (np.ascontiguousarray(xs, dtype=np.float32),
                    np.sqrt(np.einsum("ij,ij->i", xs, xs, dtype=np.float64)))

        self.b32, self.bnorm = prep(base)
        self.q32, self.qnorm = (self.b32, self.bnorm) if queries is None else prep(queries)
        self.tol_factor = 2.0 * (d + 8) * _U32 * 1.001
        self.floor = d * 2.0 ** -140
        self.scale = scale

    def tol(self, qn: np.ndarray, bn: np.ndarray) -> np.ndarray:
        """Bound on the float32 error of a squared distance (in the scaled units)."""
        return self.tol_factor * (qn + bn) ** 2 + self.floor


def _blocked_candidates(s: _Scaled, kk: int, self_search: bool, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`(rows, cols)`: for every query row in `rows`, every base row that may be among its `kk` nearest."""
    b32, sq = s.b32, np.einsum("ij,ij->i", s.b32, s.b32)
    n = b32.shape[0]
    block = max(16, min(512, (1 << 24) // max(n, 1)))
    tol_factor, floor = np.float32(s.tol_factor), np.float32(s.floor)
    rows_out, cols_out = [], []
    for a in range(0, rows.size, block):
        r = rows[a:a + block]
        g = s.q32[r] @ b32.T  # |b|^2 - 2 q.b: the squared distance less the row's constant |q|^2
        g *= -2.0
        g += sq[None, :]
        if self_search:
            g[np.arange(r.size), r] = np.inf
        tol = (s.qnorm[r, None] + s.bnorm[None, :]).astype(np.float32)
        tol *= tol
        tol *= tol_factor
        tol += floor
        near = np.argpartition(g, kk - 1, axis=1)[:, :kk]
        upper = (np.take_along_axis(g, near, 1) + np.take_along_axis(tol, near, 1)).max(axis=1)
        g -= tol
        rr, cc = np.nonzero(g <= upper[:, None])
        rows_out.append(r[rr])
        cols_out.append(cc)
    return np.concatenate(rows_out), np.concatenate(cols_out)


def _faiss_candidates(s: _Scaled, kk: int, self_search: bool, base: np.ndarray, queries: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray]:
    """faiss candidates, verified row by row; unverified rows go to the blocked search."""
    import faiss

    n = s.b32.shape[0]
    index = faiss.IndexFlatL2(s.b32.shape[1])
    index.add(s.b32)
    bmax = float(s.bnorm.max())
    todo = np.arange(s.q32.shape[0], dtype=np.int64)
    m = min(n, kk + int(self_search) + max(8, kk))
    rows_out, cols_out = [], []
    while todo.size:
        _, cand = index.search(s.q32[todo], m)
        cand = cand.astype(np.int64)
        if m >= n:  # every base row is a candidate
            ok = np.ones(todo.size, dtype=bool)
        else:
            ok = _verified(s, base, queries, todo, cand, kk, self_search, bmax)
        keep = cand[ok]
        rr = np.repeat(todo[ok], m)
        cc = keep.reshape(-1)
        valid = cc >= 0
        if self_search:
            valid &= cc != rr
        rows_out.append(rr[valid])
        cols_out.append(cc[valid])
        todo = todo[~ok]
        if not todo.size:
            break
        if m >= n or m >= 16 * (kk + 9):
            r, c = _blocked_candidates(s, kk, self_search, todo)
            rows_out.append(r)
            cols_out.append(c)
            break
        m = min(n, 4 * m)
    return np.concatenate(rows_out), np.concatenate(cols_out)


def _verified(s: _Scaled, base: np.ndarray, queries: np.ndarray, todo: np.ndarray, cand: np.ndarray, kk: int,
              self_search: bool, bmax: float) -> np.ndarray:
    """Rows whose `m` faiss candidates provably hold their `kk` nearest (see the module docstring)."""
    r_idx = np.repeat(todo, cand.shape[1])
    c_idx = cand.reshape(-1)
    bad = c_idx < 0
    if self_search:
        bad |= c_idx == r_idx
    c_safe = np.where(c_idx < 0, 0, c_idx)
    d64 = pair_distances(base, queries, r_idx, c_safe).reshape(cand.shape) * s.scale
    sq = d64 * d64
    last = sq[:, -1]
    last_tol = s.tol(s.qnorm[todo], s.bnorm[c_safe.reshape(cand.shape)[:, -1]])
    sq_kth = np.where(bad.reshape(cand.shape), np.inf, sq)
    kth = np.partition(sq_kth, kk - 1, axis=1)[:, kk - 1]
    slack = (kth + last) * (4 * s.b32.shape[1] + 8) * 2.0 ** -53  # float64 rounding of both sides
    # a left-out row with |b| > |q| + sqrt(kth) is farther than the kth by the triangle inequality; the
    # others have float32 errors of at most tol(q, that norm)
    reach = np.minimum(bmax, (s.qnorm[todo] + np.sqrt(kth + slack)) * (1 + 1e-9))
    return (last - last_tol - s.tol(s.qnorm[todo], reach) > kth + slack) & ~bad.reshape(cand.shape)[:, -1]


def _check_k(k: Any) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or int(k) < 1:
        raise ValueError(f"k (number of neighbours) must be a whole number >= 1, got {k!r}")
    return int(k)


def _check_backend(backend: str) -> str:
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if backend == "faiss" and not faiss_available():
        raise ValueError("backend='faiss' needs the faiss package: pip install faiss-cpu (or use backend='auto')")
    return backend


def _use_faiss(backend: str, nq: int, nb: int) -> bool:
    if backend == "auto":
        return nq * nb >= FAISS_MIN_WORK and faiss_available()
    return backend == "faiss"


def _select(base: np.ndarray, queries: np.ndarray, rows: np.ndarray, cols: np.ndarray, nq: int, kk: int
            ) -> tuple[np.ndarray, np.ndarray]:
    """The `kk` nearest of each row from candidate pairs, ordered by (float64 distance, index)."""
    dist = pair_distances(base, queries, rows, cols)
    order = np.lexsort((cols, dist, rows))
    rows, cols, dist = rows[order], cols[order], dist[order]
    first = np.searchsorted(rows, np.arange(nq))
    pick = (first[:, None] + np.arange(kk)[None, :]).reshape(-1)
    return cols[pick].reshape(nq, kk).astype(np.int64), dist[pick].reshape(nq, kk)


def _as_float(x: Any, name: str) -> np.ndarray:
    arr = np.asarray(x)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (rows x dims), got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(np.float32)
    return arr


def knn(features: Any, k: int, *, backend: str = "auto") -> tuple[np.ndarray, np.ndarray]:
    """Each row's `k' = min(k, n - 1)` nearest other rows: `(neighbours int64, distances float64)`, n x k'.

    Rows are ordered by (float64 distance, index); see the module docstring.
    """
    x = _as_float(features, "features")
    kk, backend = min(_check_k(k), x.shape[0] - 1), _check_backend(backend)
    n = x.shape[0]
    if kk <= 0:
        return np.zeros((n, 0), dtype=np.int64), np.zeros((n, 0), dtype=np.float64)
    s = _Scaled(x, None)
    if _use_faiss(backend, n, n):
        rows, cols = _faiss_candidates(s, kk, True, x, x)
    else:
        rows, cols = _blocked_candidates(s, kk, True, np.arange(n, dtype=np.int64))
    return _select(x, x, rows, cols, n, kk)


def nearest(queries: Any, base: Any, k: int = 1, *, backend: str = "auto") -> tuple[np.ndarray, np.ndarray]:
    """The `min(k, len(base))` nearest rows of `base` for every query row (e.g. the nearest class
    mean): `(indices int64, distances float64)`, ordered by (float64 distance, base index)."""
    q, b = _as_float(queries, "queries"), _as_float(base, "base")
    if q.shape[1] != b.shape[1]:
        raise ValueError(f"queries have {q.shape[1]} dims but base has {b.shape[1]}: they must match")
    if b.shape[0] == 0:
        raise ValueError("base has no rows: there is nothing to be near")
    kk, backend = min(_check_k(k), b.shape[0]), _check_backend(backend)
    s = _Scaled(b, q)
    if _use_faiss(backend, q.shape[0], b.shape[0]):
        rows, cols = _faiss_candidates(s, kk, False, b, q)
    else:
        rows, cols = _blocked_candidates(s, kk, False, np.arange(q.shape[0], dtype=np.int64))
    return _select(b, q, rows, cols, q.shape[0], kk)


__all__ = ["BACKENDS", "FAISS_MIN_WORK", "faiss_available", "knn", "nearest", "pair_distances"]
