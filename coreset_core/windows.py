"""Window selection inside each class and the fast KRR endpoint search (SPEC sections 3-4).

Window selection
----------------
Each class is sorted ascending by difficulty (stable: ties by sample index). For a common
endpoint `k` in `[0, 1]` class `c` keeps sorted positions `[start, end)` with
`end = clamp(round(k * N_c), n_c, N_c)` and `start = end - n_c` (`round` is round-half-to-even,
as Python's `round` and `numpy.rint`).

KRR endpoint search
-------------------
For every candidate endpoint the coreset's ridge regression `W = argmin ||Y - X W||^2 +
lambda ||W||^2` (`X = [F, 1]`, the bias row of `W` is regularised too, one-hot `{0, 1}`
targets) is fitted and scored by its argmax accuracy on the whole training set (or a seeded
stratified subsample); the best endpoint wins, ties going to the larger `k`.

How it is made fast, exactly (no approximation anywhere):

* Identical coresets (neighbouring endpoints whose windows clamp to the same positions in
  every class) are evaluated once.
* Normal equations without refitting: windows move monotonically with `k`, so every sample
  belongs to the windows of a contiguous run `[a, b)` of the (distinct) endpoints. Samples
  are grouped by their run; each group's `X^T X` and `X^T Y` are computed exactly once
  (float64, BLAS `syrk`), added to the running sums when the run starts and subtracted when it
  ends. In total at most `N` rows pass through `X^T X` (never more than the single full
  `X^T X`), whatever the number of endpoints. Each endpoint then costs one Cholesky solve of
  the `(d+1) x (d+1)` system (`scipy.linalg.cho_factor`).
* Dual form when the coreset is smaller than `d + 1`: `W = X_c^T (X_c X_c^T + lambda I)^{-1} Y_c`
  (the same `W`, an `m x m` system).
* Prediction of the evaluation set for all endpoints in one fused float32 GEMM pass
  (`X @ [W_1 ... W_E]`, the features are read once). Float32 is made exact: the float32
  error of every score is bounded rigorously (`|err| <= (d + 8) u (||x|| ||w_j|| + |b_j|)`,
  `u = 2^-24`), and every sample whose top-2 margin is within twice that bound is
  re-predicted in float64. The accuracies are therefore those of float64 predictions.

Cost model (`N` samples, `d` dims, `C` classes, `E` distinct endpoints, `m` coreset size):
normal equations `<= N d^2 / 2` multiply-adds in total (one full `X^T X` at most) plus
`E d^3 / 3` for the Cholesky solves (dual: `E (m^2 d / 2 + m^3 / 3)`); prediction
`E N d C` in float32. With few classes (CIFAR-10) the normal equations dominate and the
whole search costs about one or two full `X^T X`; with many classes prediction dominates
(500k x 512 x 1000 classes x 20 endpoints is 5e12 multiply-adds, minutes on two CPU cores):
there, exact full-set evaluation is bound by float32 GEMM throughput, and `eval_subsample`
(a seeded stratified subsample of the training set) is the route to interactive speed.

`device`: ``"cpu"`` (numpy/scipy, default), ``"torch"`` (the same algorithm in torch on
the CPU, mainly for testing), ``"cuda"`` / ``"cuda:N"`` (torch on the GPU; TF32 is switched off
for the duration so that the float32 error bound holds).
"""
from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.linalg
import scipy.linalg.blas

from .difficulty import _class_grouped_argsort
from .validation import check_class_budgets, check_features, check_labels, check_scores

#: Default endpoint grid: 0, 0.05, ..., 1.0 (21 points).
DEFAULT_ENDPOINTS = np.arange(21, dtype=np.float64) / 20.0

_U32 = 2.0 ** -24
_PRED_FLOATS = 1 << 24  # float32 elements of one prediction block (64 MB)
_MAX_COLS = 1 << 15  # at most this many score columns (endpoints x classes) per fused GEMM pass
_GATHER_BYTES = 1 << 26  # float64 rows gathered at once for X^T X


# ----------------------------------------------------------------------------- helpers


def class_sorted_order(scores: np.ndarray, labels: np.ndarray, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """`(order, offsets)`: sample indices grouped by class, ascending score inside a class
    (ties by sample index), and the start of each class in `order` (length `C + 1`)."""
    order = _class_grouped_argsort(scores, labels, num_classes, stable=True)
    counts = np.bincount(labels, minlength=num_classes)
    offsets = np.zeros(num_classes + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return order, offsets


def window_starts(class_sizes: np.ndarray, budgets: np.ndarray, endpoints: np.ndarray) -> np.ndarray:
    """Window start positions, shape `(len(endpoints), C)`: `clamp(round(k N_c), n_c, N_c) - n_c`."""
    ends = np.rint(np.asarray(endpoints, dtype=np.float64)[:, None] * class_sizes[None, :]).astype(np.int64)
    ends = np.clip(ends, budgets[None, :], class_sizes[None, :])
    return ends - budgets[None, :]


def _window_positions(offsets: np.ndarray, starts: np.ndarray, budgets: np.ndarray) -> np.ndarray:
    """Positions in `order` of the windows `[start_c, start_c + n_c)` of all classes."""
    m = int(budgets.sum())
    first = np.zeros(budgets.shape[0], dtype=np.int64)
    np.cumsum(budgets[:-1], out=first[1:])
    return np.repeat(offsets[:-1] + starts - first, budgets) + np.arange(m, dtype=np.int64)


def _check_endpoints(endpoints: Any) -> np.ndarray:
    if endpoints is None:
        return DEFAULT_ENDPOINTS.copy()
    arr = np.asarray(endpoints, dtype=np.float64).reshape(-1)
    if arr.size == 0:
        raise ValueError("endpoints is empty: give at least one endpoint in [0, 1]")
    if not np.all(np.isfinite(arr)) or arr.min() < 0.0 or arr.max() > 1.0:
        raise ValueError(f"endpoints must lie in [0, 1] (the window end as a fraction of each class), got {arr}")
    return np.unique(arr)


def _check_ridge(ridge: Any) -> float:
    try:
        lam = float(ridge)
    except (TypeError, ValueError):
        lam = float("nan")
    if not np.isfinite(lam) or lam <= 0.0:
        raise ValueError(f"ridge (lambda) must be a positive number, got {ridge!r}")
    return lam


def _prepare(scores: Any, labels: Any, budgets: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    b = np.asarray(budgets)
    if b.ndim != 1 or b.size == 0:
        raise ValueError(f"budgets must be a 1-D array with one count per class, got shape {b.shape}")
    labels = check_labels(labels, b.shape[0])
    scores = check_scores(scores, labels.shape[0])
    sizes = np.bincount(labels, minlength=b.shape[0])
    budgets = check_class_budgets(b, sizes)
    return scores, labels, sizes, budgets


def window_select(scores: Any, labels: Any, budgets: Any, endpoint: float) -> np.ndarray:
    """Sorted indices of the window coreset at `endpoint` (SPEC section 3).

    `scores` are per-sample difficulties (higher = harder, any sign); `budgets` the per-class
    counts `n_c` (e.g. from :func:`coreset_core.allocation.allocate_budgets`); `endpoint` the
    common window end `k` in `[0, 1]` (1 keeps the hardest `n_c` of every class, 0 the easiest).
    """
    scores, labels, sizes, budgets = _prepare(scores, labels, budgets)
    k = _check_endpoints([endpoint])
    order, offsets = class_sorted_order(scores, labels, sizes.shape[0])
    starts = window_starts(sizes, budgets, k)[0]
    return np.sort(order[_window_positions(offsets, starts, budgets)])


@dataclass
class WindowCandidates:
    """The candidate coresets of an endpoint grid, identical ones merged."""

    endpoints: np.ndarray  #: the grid, ascending
    starts: np.ndarray  #: (len(endpoints), C) window starts
    distinct: np.ndarray  #: grid index of the first endpoint of every distinct coreset
    group: np.ndarray  #: for each grid endpoint, the index of its distinct coreset
    order: np.ndarray  #: class-sorted sample order
    offsets: np.ndarray  #: class starts in `order`
    budgets: np.ndarray
    class_sizes: np.ndarray

    def indices(self, i: int) -> np.ndarray:
        """Sorted sample indices of the coreset at grid endpoint `i`."""
        return np.sort(self.order[_window_positions(self.offsets, self.starts[i], self.budgets)])


def window_candidates(scores: Any, labels: Any, budgets: Any, endpoints: Any = None) -> WindowCandidates:
    """All window coresets of the endpoint grid (default 0, 0.05, ..., 1), identical ones merged.

    Windows move monotonically with `k`, so identical coresets are always neighbours.
    """
    scores, labels, sizes, budgets = _prepare(scores, labels, budgets)
    ks = _check_endpoints(endpoints)
    order, offsets = class_sorted_order(scores, labels, sizes.shape[0])
    starts = window_starts(sizes, budgets, ks)
    new = np.ones(ks.shape[0], dtype=bool)
    new[1:] = np.any(starts[1:] != starts[:-1], axis=1)
    return WindowCandidates(ks, starts, np.flatnonzero(new), np.cumsum(new) - 1, order, offsets, budgets, sizes)


def stratified_subsample(labels: np.ndarray, size: Any, seed: int) -> np.ndarray:
    """Seeded stratified subsample (sorted indices): `size` samples (int) or fraction (float in (0, 1]),
    split over the classes like a uniform allocation (at least one per class when possible)."""
    from .allocation import allocate_budgets_for_total

    n = labels.shape[0]
    c = int(labels.max()) + 1
    if isinstance(size, (bool, np.bool_)):
        size = None
    if isinstance(size, (int, np.integer)):
        total = int(size)
        if total < 1:
            raise ValueError(f"eval_subsample must be >= 1 samples or a fraction in (0, 1], got {size!r}")
    elif isinstance(size, (float, np.floating)) and np.isfinite(size) and 0.0 < size <= 1.0:
        total = max(1, int(round(float(size) * n)))
    else:
        raise ValueError(f"eval_subsample must be a number of samples (int >= 1) or a fraction in (0, 1], "
                         f"got {size!r}")
    if total >= n:
        return np.arange(n, dtype=np.int64)
    sizes = np.bincount(labels, minlength=c)
    counts = allocate_budgets_for_total(np.ones(c), sizes, total, "uniform", 1)
    rng = np.random.default_rng(seed)
    order = np.lexsort((rng.random(n), labels))  # random order inside each class
    offsets = np.zeros(c, dtype=np.int64)
    np.cumsum(sizes[:-1], out=offsets[1:])
    pos = np.repeat(offsets - np.concatenate(([0], np.cumsum(counts)[:-1])), counts) + np.arange(total)
    return np.sort(order[pos])


# ----------------------------------------------------------------------------- backends

_SMALL_SOLVE = 2048  # systems up to this size are solved on one BLAS thread


def _one_blas_thread(size: int):
    """Single-threaded BLAS for a small dense solve.

    A (d+1)-sized Cholesky is too small to gain from threads, and multi-threaded OpenBLAS
    degrades badly (5-10x here) when the cores are shared with other processes.
    """
    if size > _SMALL_SOLVE:
        return contextlib.nullcontext()
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")


class _NumpyBackend:
    """numpy / scipy: float64 normal equations, float32 fused prediction with float64 re-check."""

    name = "cpu"

    def __init__(self, features: np.ndarray, num_classes: int, lam: float):
        self.x = features
        self.n, self.d = features.shape
        self.c = num_classes
        self.lam = lam

    # -- normal equations
    def zeros_gram(self) -> tuple[np.ndarray, np.ndarray]:
        dd = self.d + 1
        return np.zeros((dd, dd)), np.zeros((self.c, dd))

    def _gather(self, idx: np.ndarray, buf: np.ndarray | None = None) -> np.ndarray:
        k = idx.shape[0]
        out = np.empty((k, self.d + 1)) if buf is None else buf[:k]
        out[:, : self.d] = self.x[idx]
        out[:, self.d] = 1.0
        return out

    def gram_into(self, g: np.ndarray, bt: np.ndarray, idx: np.ndarray, lab: np.ndarray) -> None:
        """`g += X^T X` (lower triangle only, BLAS dsyrk in place), `bt += Y^T X` over rows `idx`
        (labels `lab`, non-decreasing), float64."""
        step = max(256, _GATHER_BYTES // (8 * (self.d + 1)))
        buf = np.empty((min(step, idx.shape[0]), self.d + 1))
        for s in range(0, idx.shape[0], step):
            rows = self._gather(idx[s: s + step], buf)
            # g is C-ordered: its lower triangle is the upper triangle of the Fortran-ordered g.T
            out = scipy.linalg.blas.dsyrk(1.0, rows.T, beta=1.0, c=g.T, trans=0, lower=0, overwrite_c=1)
            if not np.may_share_memory(out, g):  # pragma: no cover - f2py copied: write back
                g[...] = out.T
            lb = lab[s: s + step]
            cut = np.flatnonzero(np.concatenate(([True], lb[1:] != lb[:-1], [True])))
            for c0, c1 in zip(cut[:-1].tolist(), cut[1:].tolist()):  # much faster than np.add.reduceat here
                bt[lb[c0]] += rows[c0:c1].sum(axis=0)

    def gram_sub(self, g: np.ndarray, bt: np.ndarray, g2: np.ndarray, bt2: np.ndarray) -> None:
        g -= g2
        bt -= bt2

    def solve(self, g: np.ndarray, bt: np.ndarray, extra: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
        """`W = (G + lambda I)^{-1} B` from the lower triangle of `G` (+ `extra` sums if given)."""
        with _one_blas_thread(g.shape[0]):
            a = g.copy() if extra is None else g + extra[0]
            if extra is not None:
                bt = bt + extra[1]
            a.flat[:: a.shape[0] + 1] += self.lam
            try:
                cf = scipy.linalg.cho_factor(a, lower=True, overwrite_a=False, check_finite=False)
                return scipy.linalg.cho_solve(cf, bt.T, check_finite=False)
            except np.linalg.LinAlgError:  # numerically indefinite (absurd feature scales): fall back
                return scipy.linalg.solve(np.tril(a) + np.tril(a, -1).T, bt.T, assume_a="sym")

    def solve_dual(self, idx: np.ndarray, lab: np.ndarray) -> np.ndarray:
        xc = self._gather(idx)
        k = xc @ xc.T
        k.flat[:: k.shape[0] + 1] += self.lam
        y = np.zeros((idx.shape[0], self.c))
        y[np.arange(idx.shape[0]), lab] = 1.0
        with _one_blas_thread(k.shape[0]):
            try:
                cf = scipy.linalg.cho_factor(k, lower=True, overwrite_a=False, check_finite=False)
                alpha = scipy.linalg.cho_solve(cf, y, check_finite=False)
            except np.linalg.LinAlgError:
                alpha = scipy.linalg.solve(k, y, assume_a="sym")
        return xc.T @ alpha

    # -- prediction
    def count_correct(self, ws: list[np.ndarray], rows: np.ndarray | None, y: np.ndarray,
                      progress: bool, timings: dict[str, float], stats: dict[str, int]) -> np.ndarray:
        d, c = self.d, self.c
        e_all = len(ws)
        correct = np.zeros(e_all, dtype=np.int64)
        n_eval = y.shape[0]
        per_group = max(1, min(e_all, _MAX_COLS // c))
        uncertain: list[list[np.ndarray]] = [[] for _ in range(e_all)]
        t0 = time.perf_counter()
        bar = _bar(progress, -(-e_all // per_group) * n_eval, "KRR predict")
        for g0 in range(0, e_all, per_group):
            grp = list(range(g0, min(e_all, g0 + per_group)))
            ge = len(grp)
            w32 = np.empty((d, ge * c), dtype=np.float32)
            for j, e in enumerate(grp):
                w32[:, j * c: (j + 1) * c] = ws[e][:d]
            b32 = np.stack([ws[e][d] for e in grp]).astype(np.float32)  # (ge, c)
            wn = np.array([np.sqrt((ws[e][:d] ** 2).sum(axis=0)).max() for e in grp])
            bm = np.array([np.abs(ws[e][d]).max() for e in grp])
            tolfac = 2.0 * (d + 8) * _U32 * 1.001
            step = int(np.clip(_PRED_FLOATS // (ge * c), 64, 16384))
            out = np.empty((min(step, n_eval), ge * c), dtype=np.float32)
            ei = np.arange(ge)[None, :]
            for s in range(0, n_eval, step):
                sl_rows = slice(s, min(n_eval, s + step))
                xb = self.x[sl_rows] if rows is None else self.x[rows[sl_rows]]
                if xb.dtype != np.float32:
                    xb = xb.astype(np.float32)
                k = xb.shape[0]
                o = out[:k]
                np.matmul(xb, w32, out=o)
                o3 = o.reshape(k, ge, c)
                o3 += b32
                yb = y[sl_rows]
                ri = np.arange(k)[:, None]
                ty = o3[ri, ei, yb[:, None]].astype(np.float64)
                o3[ri, ei, yb[:, None]] = -np.inf
                margin = ty - o3.max(axis=2)
                xn = np.sqrt(np.einsum("ij,ij->i", xb, xb, dtype=np.float64))
                tol = tolfac * (xn[:, None] * wn[None, :] + bm[None, :])
                correct[g0: g0 + ge] += (margin > tol).sum(axis=0)
                ur, ue = np.nonzero(np.abs(margin) <= tol)
                for j in np.unique(ue):
                    uncertain[g0 + j].append(s + ur[ue == j])
                bar.update(k)
        bar.close()
        t1 = time.perf_counter()
        n_unc = 0
        for e in range(e_all):
            if not uncertain[e]:
                continue
            loc = np.concatenate(uncertain[e])
            n_unc += loc.size
            src = loc if rows is None else rows[loc]
            p = self.x[src].astype(np.float64) @ ws[e][:d] + ws[e][d]
            correct[e] += int((np.argmax(p, axis=1) == y[loc]).sum())
        timings["predict"] = timings.get("predict", 0.0) + (t1 - t0)
        timings["recheck"] = timings.get("recheck", 0.0) + (time.perf_counter() - t1)
        stats["rechecked"] = stats.get("rechecked", 0) + n_unc
        return correct


class _TorchBackend:
    """The same algorithm in torch (CPU or CUDA)."""

    def __init__(self, features: np.ndarray, num_classes: int, lam: float, device: str):
        import torch

        self.torch = torch
        self.dev = torch.device(device)
        self.name = str(self.dev)
        self.x = torch.as_tensor(features).to(self.dev)
        self.n, self.d = features.shape
        self.c = num_classes
        self.lam = lam

    def _t(self, a: np.ndarray):
        return self.torch.as_tensor(a).to(self.dev)

    def zeros_gram(self):
        dd = self.d + 1
        t = self.torch
        return (t.zeros((dd, dd), dtype=t.float64, device=self.dev),
                t.zeros((self.c, dd), dtype=t.float64, device=self.dev))

    def _gather(self, idx):
        t = self.torch
        rows = self.x.index_select(0, self._t(idx)).to(t.float64)
        return t.cat([rows, t.ones((rows.shape[0], 1), dtype=t.float64, device=self.dev)], dim=1)

    def gram_into(self, g, bt, idx, lab):
        step = max(256, _GATHER_BYTES // (8 * (self.d + 1)))
        for s in range(0, idx.shape[0], step):
            rows = self._gather(idx[s: s + step])
            g += rows.T @ rows  # full symmetric matrix here
            bt.index_add_(0, self._t(lab[s: s + step]), rows)

    def gram_sub(self, g, bt, g2, bt2):
        g -= g2
        bt -= bt2

    def solve(self, g, bt, extra=None):
        t = self.torch
        a = g.clone() if extra is None else g + extra[0]
        if extra is not None:
            bt = bt + extra[1]
        a.diagonal().add_(self.lam)
        chol, info = t.linalg.cholesky_ex(a)
        if int(info) == 0:
            return t.cholesky_solve(bt.T.contiguous(), chol)
        return t.linalg.solve(a, bt.T)

    def solve_dual(self, idx, lab):
        t = self.torch
        xc = self._gather(idx)
        k = xc @ xc.T
        k.diagonal().add_(self.lam)
        y = t.zeros((idx.shape[0], self.c), dtype=t.float64, device=self.dev)
        y[t.arange(idx.shape[0], device=self.dev), self._t(lab)] = 1.0
        chol, info = t.linalg.cholesky_ex(k)
        alpha = t.cholesky_solve(y, chol) if int(info) == 0 else t.linalg.solve(k, y)
        return xc.T @ alpha

    def count_correct(self, ws, rows, y, progress, timings, stats):
        t = self.torch
        prev_prec = t.get_float32_matmul_precision()
        prev_tf32 = t.backends.cuda.matmul.allow_tf32
        t.set_float32_matmul_precision("highest")
        t.backends.cuda.matmul.allow_tf32 = False
        try:
            return self._count(ws, rows, y, progress, timings, stats)
        finally:
            t.set_float32_matmul_precision(prev_prec)
            t.backends.cuda.matmul.allow_tf32 = prev_tf32

    def _count(self, ws, rows, y, progress, timings, stats):
        t = self.torch
        d, c = self.d, self.c
        e_all = len(ws)
        n_eval = y.shape[0]
        correct = np.zeros(e_all, dtype=np.int64)
        per_group = max(1, min(e_all, _MAX_COLS // c))
        uncertain: list[list[Any]] = [[] for _ in range(e_all)]
        y_t = self._t(y)
        rows_t = None if rows is None else self._t(rows)
        t0 = time.perf_counter()
        bar = _bar(progress, -(-e_all // per_group) * n_eval, "KRR predict")
        for g0 in range(0, e_all, per_group):
            grp = list(range(g0, min(e_all, g0 + per_group)))
            ge = len(grp)
            w32 = t.cat([ws[e][:d] for e in grp], dim=1).to(t.float32)
            b32 = t.stack([ws[e][d] for e in grp]).to(t.float32)
            wn = t.stack([ws[e][:d].pow(2).sum(0).sqrt().max() for e in grp])
            bm = t.stack([ws[e][d].abs().max() for e in grp])
            tolfac = 2.0 * (d + 8) * _U32 * 1.001
            step = int(np.clip(_PRED_FLOATS // (ge * c), 64, 16384))
            acc = t.zeros(ge, dtype=t.int64, device=self.dev)
            for s in range(0, n_eval, step):
                e_ = min(n_eval, s + step)
                xb = self.x[s:e_] if rows_t is None else self.x.index_select(0, rows_t[s:e_])
                xb = xb.to(t.float32)
                k = xb.shape[0]
                o3 = (xb @ w32).view(k, ge, c)
                o3 += b32
                yi = y_t[s:e_].view(k, 1, 1).expand(k, ge, 1)
                ty = o3.gather(2, yi).squeeze(2).to(t.float64)
                o3.scatter_(2, yi, float("-inf"))
                margin = ty - o3.amax(dim=2).to(t.float64)
                xn = xb.to(t.float64).pow(2).sum(1).sqrt()
                tol = tolfac * (xn[:, None] * wn[None, :] + bm[None, :])
                acc += (margin > tol).sum(0)
                unc = (margin.abs() <= tol).nonzero()
                if unc.shape[0]:
                    unc = unc.cpu().numpy()
                    for j in np.unique(unc[:, 1]):
                        uncertain[g0 + j].append(s + unc[unc[:, 1] == j, 0])
                bar.update(k)
            correct[g0: g0 + ge] += acc.cpu().numpy()
        bar.close()
        t1 = time.perf_counter()
        n_unc = 0
        for e in range(e_all):
            if not uncertain[e]:
                continue
            loc = np.concatenate(uncertain[e])
            n_unc += loc.size
            src = loc if rows is None else rows[loc]
            p = self.x.index_select(0, self._t(src)).to(t.float64) @ ws[e][:d] + ws[e][d]
            correct[e] += int((p.argmax(1) == self._t(y[loc])).sum())
        timings["predict"] = timings.get("predict", 0.0) + (t1 - t0)
        timings["recheck"] = timings.get("recheck", 0.0) + (time.perf_counter() - t1)
        stats["rechecked"] = stats.get("rechecked", 0) + n_unc
        return correct

    def sync(self):
        if self.dev.type == "cuda":
            self.torch.cuda.synchronize(self.dev)


class _NullBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _bar(progress: bool, total: int, desc: str):
    if not progress:
        return _NullBar()
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover
        return _NullBar()
    return tqdm(total=total, desc=desc, unit="sample", unit_scale=True, leave=False)


def _make_backend(device: str, features: np.ndarray, num_classes: int, lam: float):
    dev = str(device)
    if dev == "cpu":
        return _NumpyBackend(features, num_classes, lam)
    if dev in ("torch", "torch:cpu") or dev.startswith("cuda"):
        try:
            import torch
        except ImportError:
            raise ValueError(f"device={device!r} needs torch, which is not installed; use device='cpu'") from None
        if dev.startswith("cuda") and not torch.cuda.is_available():
            raise ValueError(f"device={device!r} but no CUDA GPU is available; use device='cpu'")
        return _TorchBackend(features, num_classes, lam, "cpu" if dev.startswith("torch") else dev)
    raise ValueError(f"unknown device {device!r}; use 'cpu', 'torch' (torch on the CPU), 'cuda' or 'cuda:N'")


# ----------------------------------------------------------------------------- search


@dataclass
class WindowSearchResult:
    """Outcome of :func:`krr_window_search`."""

    best_endpoint: float  #: the chosen `k` (highest accuracy, ties: larger `k`)
    endpoints: np.ndarray  #: the grid, ascending
    accuracies: np.ndarray  #: KRR accuracy on the evaluation set, one per endpoint
    indices: np.ndarray  #: the chosen coreset (sorted sample indices)
    timings: dict[str, float] = field(default_factory=dict)  #: seconds per phase
    correct: np.ndarray | None = None  #: number of correctly predicted evaluation samples per endpoint
    num_eval: int = 0  #: size of the evaluation set (N, or the subsample)
    form: str = "primal"  #: "primal" ((d+1) x (d+1) system) or "dual" (m x m)
    num_distinct: int = 0  #: distinct coresets actually fitted
    stats: dict[str, int] = field(default_factory=dict)  #: rows through X^T X, re-checked predictions


def krr_window_search(features: Any, labels: Any, scores: Any, budgets: Any, *, endpoints: Any = None,
                      ridge: float = 1.0, eval_subsample: Any = None, seed: int = 0, device: str = "cpu",
                      progress: bool = False) -> WindowSearchResult:
    """Choose the common window endpoint by ridge regression on frozen features (SPEC section 4).

    Parameters
    ----------
    features:
        `(N, d)` frozen features (float32 recommended; used as given, float64 for the
        normal equations).
    labels, scores, budgets:
        Class ids, per-sample difficulties (higher = harder) and per-class counts `n_c`.
    endpoints:
        Candidate endpoints in `[0, 1]` (sorted, duplicates dropped); default
        `0, 0.05, ..., 1.0`.
    ridge:
        `lambda` (> 0), applied to the whole `W` including the bias row.
    eval_subsample:
        `None` (default) evaluates on the whole training set, exactly as the SPEC says.
        An int (samples) or a float in (0, 1] (fraction) evaluates on a seeded stratified
        subsample instead: the route for very large `N x C` (prediction costs
        `N * d * C` per distinct endpoint).
    seed:
        Seed of the evaluation subsample (the search itself is deterministic).
    device:
        ``"cpu"`` (numpy), ``"torch"`` (torch on the CPU), ``"cuda"`` / ``"cuda:N"``.
    progress:
        Show tqdm progress bars.

    Returns
    -------
    :class:`WindowSearchResult`.
    """
    t_start = time.perf_counter()
    scores, labels, sizes, budgets = _prepare(scores, labels, budgets)
    n = labels.shape[0]
    c = sizes.shape[0]
    features = check_features(features, n)
    lam = _check_ridge(ridge)
    m = int(budgets.sum())
    if m == 0:
        raise ValueError("budgets are all zero: the coreset would be empty")
    cand = window_candidates(scores, labels, budgets, endpoints)
    ks, dist = cand.endpoints, cand.distinct
    e_all = dist.shape[0]
    backend = _make_backend(device, features, c, lam)
    d = features.shape[1]
    form = "dual" if m < d + 1 else "primal"
    timings: dict[str, float] = {}
    stats: dict[str, int] = {}

    if eval_subsample is None:
        rows = None
        y_eval = labels
    else:
        rows = stratified_subsample(labels, eval_subsample, seed)
        if rows.shape[0] == n:
            rows = None
            y_eval = labels
        else:
            y_eval = labels[rows]
    n_eval = n if rows is None else rows.shape[0]
    timings["plan"] = time.perf_counter() - t_start

    ws: list[Any] = []
    t_gram = t_solve = 0.0
    order, offsets = cand.order, cand.offsets
    lab_sorted = labels[order]
    bar = _bar(progress, e_all, f"KRR fit ({form})")
    if form == "dual":
        for e in range(e_all):
            t0 = time.perf_counter()
            pos = _window_positions(offsets, cand.starts[dist[e]], budgets)
            ws.append(backend.solve_dual(order[pos], lab_sorted[pos]))
            t_solve += time.perf_counter() - t0
            bar.update(1)
        stats["gram_rows"] = m * e_all
    else:
        # every sample is in the windows of the distinct endpoints a <= e < b
        t0 = time.perf_counter()
        starts_d = cand.starts[dist]  # (E, C)
        ends_d = starts_d + budgets[None, :]
        pos_in_class = np.arange(n, dtype=np.int64) - offsets[lab_sorted]
        a = (ends_d[:, lab_sorted] <= pos_in_class[None, :]).sum(axis=0)
        b = (starts_d[:, lab_sorted] <= pos_in_class[None, :]).sum(axis=0)
        live = np.flatnonzero(a < b)
        key = a[live] * (e_all + 1) + b[live]
        srt = np.argsort(key, kind="stable")  # stable: keeps the class grouping inside a run
        live, key = live[srt], key[srt]
        cut = np.flatnonzero(np.concatenate(([True], key[1:] != key[:-1], [True])))
        groups: dict[int, list[tuple[int, int, int]]] = {}
        for g0, g1 in zip(cut[:-1], cut[1:]):
            ga, gb = divmod(int(key[g0]), e_all + 1)
            groups.setdefault(ga, []).append((gb, int(g0), int(g1)))
        stats["gram_rows"] = int(live.size)
        g_run, bt_run = backend.zeros_gram()
        pending: dict[int, tuple[Any, Any]] = {}
        t_gram += time.perf_counter() - t0
        for e in range(e_all):
            t0 = time.perf_counter()
            if e in pending:
                g2, bt2 = pending.pop(e)
                backend.gram_sub(g_run, bt_run, g2, bt2)
            scratch = None  # runs alive at this endpoint only: summed aside, never subtracted
            for gb, g0, g1 in groups.get(e, []):  # runs [e, gb)
                sel = live[g0:g1]
                idx, lab = order[sel], lab_sorted[sel]
                if gb >= e_all:  # stays to the last endpoint
                    backend.gram_into(g_run, bt_run, idx, lab)
                elif gb == e + 1:
                    if scratch is None:
                        scratch = backend.zeros_gram()
                    backend.gram_into(scratch[0], scratch[1], idx, lab)
                else:  # add now, subtract at gb
                    g_new, bt_new = backend.zeros_gram()
                    backend.gram_into(g_new, bt_new, idx, lab)
                    g_run += g_new
                    bt_run += bt_new
                    if gb in pending:
                        gp, btp = pending[gb]
                        gp += g_new  # in place
                        btp += bt_new
                    else:
                        pending[gb] = (g_new, bt_new)
            t1 = time.perf_counter()
            ws.append(backend.solve(g_run, bt_run, scratch))
            t2 = time.perf_counter()
            t_gram += t1 - t0
            t_solve += t2 - t1
            bar.update(1)
    bar.close()
    if hasattr(backend, "sync"):
        backend.sync()
    timings["gram"] = t_gram
    timings["solve"] = t_solve

    correct_d = backend.count_correct(ws, rows, y_eval, progress, timings, stats)
    correct = correct_d[cand.group]
    best = int(np.flatnonzero(correct == correct.max())[-1])  # ties: larger k
    timings["total"] = time.perf_counter() - t_start
    return WindowSearchResult(
        best_endpoint=float(ks[best]),
        endpoints=ks,
        accuracies=correct / float(n_eval),
        indices=cand.indices(best),
        timings=timings,
        correct=correct,
        num_eval=n_eval,
        form=form,
        num_distinct=e_all,
        stats=stats,
    )


__all__ = [
    "DEFAULT_ENDPOINTS",
    "WindowCandidates",
    "WindowSearchResult",
    "class_sorted_order",
    "krr_window_search",
    "stratified_subsample",
    "window_candidates",
    "window_select",
    "window_starts",
]
