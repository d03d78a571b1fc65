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
#: "auto" uses faiss when queries x base rows reach this and the base has at least `FAISS_MIN_BASE`
#: rows. Measured on 2 shared cores, d = 512: a self search (k = 5) is 1.1-2.3x faster with faiss from
#: about 200 rows (0.6x at 50 rows); a nearest-of-C search (k = 1, N = 20,000-100,000) gains only from
#: about 1,000 base rows (1.2x at C = 1,000, 1.4x at 10,000 over the blocked search, whose float32
#: products are as fast but whose candidate passes are not), being slower below.
FAISS_MIN_WORK = 1 << 15
FAISS_MIN_BASE = 200
NEAREST_FAISS_MIN_BASE = 1000
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
        diff = np.subtract(base[cols[a:a + step]], queries[rows[a:a + step]], dtype=np.float64)
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
    """`(rows, cols)`: for every query row in `rows`, every base row that may be among its `kk` nearest.

    `g = |b|^2 - 2 q.b` (the squared distance less the row's constant) in float32, error below
    `tol(q, b)`. With `U` the largest `g + tol` among the `kk` smallest computed `g`, some `kk`
    base rows are truly within `U`, so every true neighbour has `g - tol <= U`. A first pass with
    the row's largest `tol` keeps the pairs whose own bound is checked few.
    """
    b32, sq = s.b32, np.einsum("ij,ij->i", s.b32, s.b32)
    n = b32.shape[0]
    loose = 2.0 * s.tol(s.qnorm, float(s.bnorm.max()))
    block = max(16, min(1024, (1 << 25) // max(n, 1)))  # query rows per product: a few block x n arrays
    rows_out, cols_out = [], []
    for a in range(0, rows.size, block):
        r = rows[a:a + block]
        g = s.q32[r] @ b32.T
        g *= -2.0
        g += sq[None, :]
        if self_search:
            g[np.arange(r.size), r] = np.inf  # never its own neighbour
        kth = np.partition(g, kk - 1, axis=1)[:, kk - 1].astype(np.float64)
        first = np.nextafter((kth + loose[r]).astype(np.float32), np.float32(np.inf))  # rounded up: a superset
        rr, cc = np.nonzero(g <= first[:, None])
        gv = g[rr, cc].astype(np.float64)
        tol = s.tol(s.qnorm[r[rr]], s.bnorm[cc])
        order = np.lexsort((gv, rr))  # rows stay in order; inside a row by computed g
        rr, cc, gv, tol = rr[order], cc[order], gv[order], tol[order]
        near = np.searchsorted(rr, np.arange(r.size))[:, None] + np.arange(kk)[None, :]
        upper = (gv[near] + tol[near]).max(axis=1)
        keep = gv - tol <= upper[rr]
        rows_out.append(r[rr[keep]])
        cols_out.append(cc[keep])
    return np.concatenate(rows_out), np.concatenate(cols_out)


def _faiss_candidates(s: _Scaled, kk: int, self_search: bool, base: np.ndarray, queries: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`(rows, cols, dist)`: faiss candidates verified row by row (their float64 distances, NaN where
    not computed yet); rows that fail get 4x the candidates, then the blocked search."""
    import faiss

    n = s.b32.shape[0]
    index = faiss.IndexFlatL2(s.b32.shape[1])
    index.add(s.b32)
    bmax = float(s.bnorm.max())
    todo = np.arange(s.q32.shape[0], dtype=np.int64)
    m = min(n, kk + int(self_search) + max(3, kk))
    out: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    while todo.size:
        _, cand = index.search(s.q32[todo], m)
        rr, cc = np.repeat(todo, m), cand.astype(np.int64).reshape(-1)
        bad = (cc < 0) | (cc == rr) if self_search else cc < 0
        if m >= n:  # every base row is a candidate
            ok, dist = np.ones(todo.size, dtype=bool), np.full(cc.size, np.nan)
        else:
            ok, dist = _verified(s, base, queries, rr, cc, bad, m, kk, bmax)
        take = np.repeat(ok, m) & ~bad
        out.append((rr[take], cc[take], dist[take]))
        todo = todo[~ok]
        if todo.size and (m >= n or m >= 16 * (kk + 4)):
            r, c = _blocked_candidates(s, kk, self_search, todo)
            out.append((r, c, np.full(r.size, np.nan)))
            break
        m = min(n, 4 * m)
    return tuple(np.concatenate(part) for part in zip(*out))  # type: ignore[return-value]


def _verified(s: _Scaled, base: np.ndarray, queries: np.ndarray, rr: np.ndarray, cc: np.ndarray, bad: np.ndarray,
              m: int, kk: int, bmax: float) -> tuple[np.ndarray, np.ndarray]:
    """`(ok, dist)`: the rows whose `m` faiss candidates provably hold their `kk` nearest (see the
    module docstring), and the float64 distance of every candidate pair."""
    c_safe = np.where(cc < 0, 0, cc)
    dist = pair_distances(base, queries, rr, c_safe)
    sq = (dist * s.scale).reshape(-1, m) ** 2
    rows, bad2 = rr[::m], bad.reshape(-1, m)
    last = sq[:, -1]
    last_tol = s.tol(s.qnorm[rows], s.bnorm[c_safe.reshape(-1, m)[:, -1]])
    kth = np.partition(np.where(bad2, np.inf, sq), kk - 1, axis=1)[:, kk - 1]
    slack = (kth + last) * (4 * s.b32.shape[1] + 8) * 2.0 ** -53  # float64 rounding of both sides
    # a left-out row with |b| > |q| + sqrt(kth) is farther than the kth by the triangle inequality; the
    # others have float32 errors of at most tol(q, that norm)
    reach = np.minimum(bmax, (s.qnorm[rows] + np.sqrt(kth + slack)) * (1 + 1e-9))
    ok = (last - last_tol - s.tol(s.qnorm[rows], reach) > kth + slack) & ~bad2[:, -1]
    return ok, dist


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


def _use_faiss(backend: str, nq: int, nb: int, min_base: int = FAISS_MIN_BASE) -> bool:
    if backend == "auto":
        return nq * nb >= FAISS_MIN_WORK and nb >= min_base and faiss_available()
    return backend == "faiss"


def _select(base: np.ndarray, queries: np.ndarray, rows: np.ndarray, cols: np.ndarray, dist: np.ndarray | None,
            nq: int, kk: int) -> tuple[np.ndarray, np.ndarray]:
    """The `kk` nearest of each row from candidate pairs, ordered by (float64 distance, index);
    `dist` holds the pairs' distances where already known (NaN or None: computed here)."""
    if dist is None:
        dist = pair_distances(base, queries, rows, cols)
    else:
        todo = np.isnan(dist)
        dist[todo] = pair_distances(base, queries, rows[todo], cols[todo])
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
        rows, cols, dist = _faiss_candidates(s, kk, True, x, x)
    else:
        (rows, cols), dist = _blocked_candidates(s, kk, True, np.arange(n, dtype=np.int64)), None
    return _select(x, x, rows, cols, dist, n, kk)


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
    if _use_faiss(backend, q.shape[0], b.shape[0], NEAREST_FAISS_MIN_BASE):
        rows, cols, dist = _faiss_candidates(s, kk, False, b, q)
    else:
        (rows, cols), dist = _blocked_candidates(s, kk, False, np.arange(q.shape[0], dtype=np.int64)), None
    return _select(b, q, rows, cols, dist, q.shape[0], kk)


__all__ = ["BACKENDS", "FAISS_MIN_BASE", "FAISS_MIN_WORK", "NEAREST_FAISS_MIN_BASE", "faiss_available", "knn", "nearest",
           "pair_distances"]
