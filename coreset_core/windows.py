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
  every class) are evaluated once; when all endpoints give one coreset (an endpoint set by
  hand) nothing is fitted or evaluated at all: the coreset is the answer, its accuracy NaN.
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
for the duration so that the float32 error bound holds). On the CPU, memory-mapped features
(`embeddings:<folder>`) are read through `coreset_core.row_blocks` (gathers and blocks with
`pread`): the search never holds the N x d matrix, and none of its pages stays resident.
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
from .row_blocks import gather_rows, read_rows
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
    """Validated `(scores, labels, class_sizes, budgets)`: the public functions' edge."""
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
    return _window_candidates(scores, labels, sizes, budgets, _check_endpoints([endpoint])).indices(0)


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


def _window_candidates(scores: np.ndarray, labels: np.ndarray, sizes: np.ndarray, budgets: np.ndarray,
                       ks: np.ndarray) -> WindowCandidates:
    """All window coresets of the grid `ks` (ascending, unique), identical ones merged (validated inputs).

    Windows move monotonically with `k`, so identical coresets are always neighbours.
    """
    order, offsets = class_sorted_order(scores, labels, sizes.shape[0])
    starts = window_starts(sizes, budgets, ks)
    new = np.ones(ks.shape[0], dtype=bool)
    new[1:] = np.any(starts[1:] != starts[:-1], axis=1)
    return WindowCandidates(ks, starts, np.flatnonzero(new), np.cumsum(new) - 1, order, offsets, budgets, sizes)


def _subsample_size(size: Any, n: int) -> int:
    """The number of evaluation samples `eval_subsample` asks for (int, or a fraction of `n`); checked."""
    if isinstance(size, (int, np.integer)) and not isinstance(size, (bool, np.bool_)):
        if int(size) < 1:
            raise ValueError(f"eval_subsample must be >= 1 samples or a fraction in (0, 1], got {size!r}")
        return int(size)
    if isinstance(size, (float, np.floating)) and np.isfinite(size) and 0.0 < size <= 1.0:
        return max(1, int(round(float(size) * n)))
    raise ValueError(f"eval_subsample must be a number of samples (int >= 1) or a fraction in (0, 1], got {size!r}")


def stratified_subsample(labels: np.ndarray, size: Any, seed: int) -> np.ndarray:
    """Seeded stratified subsample (sorted indices): `size` samples (int) or fraction (float in (0, 1]),
    split over the classes like a uniform allocation (at least one per class when possible)."""
    from .allocation import allocate_budgets_for_total

    n = labels.shape[0]
    c = int(labels.max()) + 1
    total = _subsample_size(size, n)
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
        out[:, : self.d] = gather_rows(self.x, idx)  # a memory-mapped array: read, not kept resident
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

    # -- prediction (driven by `_count_correct`)
    def pack(self, ws: list[np.ndarray]) -> tuple[tuple[np.ndarray, int, dict], np.ndarray, np.ndarray]:
        """float32 `[W_1 ... W_g]` with the biases as a last row (the product adds them: one pass over
        the scores less), plus each one's largest column norm and largest |bias| (float64) for the
        error bound, and a scratch dict for the score blocks (reused: no fresh 64 MB per block)."""
        d, c = self.d, self.c
        w32 = np.empty((d + 1, len(ws) * c), dtype=np.float32)
        for j, w in enumerate(ws):
            w32[:, j * c: (j + 1) * c] = w
        wn = np.array([np.sqrt((w[:d] ** 2).sum(axis=0)).max() for w in ws])
        bm = np.array([np.abs(w[d]).max() for w in ws])
        return (w32, len(ws), {}), wn, bm

    def margins(self, packed: tuple[np.ndarray, int, dict], rows: np.ndarray | None, s: int, e: int,
                y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """float32 top-2 margins `score_y - max_{j != y} score_j` (k x g, as float64) of the
        evaluation rows `s:e`, and the float64 norms of those rows.

        The bias is the product's `(d+1)`-th term (`[x, 1] @ [W; b]`): its float32 error stays
        within the `(d + 8) u (||x|| ||w|| + |b|)` bound of `_count_correct`."""
        w32, ge, scratch = packed
        c, d, k = self.c, self.d, e - s
        if scratch.get("rows", 0) < k:
            scratch.update(rows=k, x1=np.empty((k, d + 1), dtype=np.float32),
                           out=np.empty((k, w32.shape[1]), dtype=np.float32))
        x1, out = scratch["x1"][:k], scratch["out"][:k]
        x1[:, :d] = read_rows(self.x, s, e) if rows is None else gather_rows(self.x, rows[s:e])
        x1[:, d] = 1.0
        o3 = np.matmul(x1, w32, out=out).reshape(k, ge, c)
        ri, ei, yi = np.arange(k)[:, None], np.arange(ge)[None, :], y[:, None]
        ty = o3[ri, ei, yi].astype(np.float64)
        o3[ri, ei, yi] = -np.inf
        xb = x1[:, :d]
        return ty - o3.max(axis=2), np.sqrt(np.einsum("ij,ij->i", xb, xb, dtype=np.float64))

    def predict64(self, src: np.ndarray, w: np.ndarray) -> np.ndarray:
        """float64 argmax predictions of the rows `src`."""
        return np.argmax(gather_rows(self.x, src).astype(np.float64) @ w[: self.d] + w[self.d], axis=1)


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

    def pack(self, ws):
        t = self.torch
        d = self.d
        w32 = t.cat([w[:d] for w in ws], dim=1).to(t.float32)
        b32 = t.stack([w[d] for w in ws]).to(t.float32)
        wn = t.stack([w[:d].pow(2).sum(0).sqrt().max() for w in ws]).cpu().numpy()
        bm = t.stack([w[d].abs().max() for w in ws]).cpu().numpy()
        return (w32, b32), wn, bm

    def margins(self, packed, rows, s, e, y):
        t = self.torch
        w32, b32 = packed
        ge, c = b32.shape
        xb = self.x[s:e] if rows is None else self.x.index_select(0, self._t(rows[s:e]))
        xb = xb.to(t.float32)
        k = xb.shape[0]
        with _exact_float32(t):
            o3 = (xb @ w32).view(k, ge, c)
        o3 += b32
        yi = self._t(y).view(k, 1, 1).expand(k, ge, 1)
        ty = o3.gather(2, yi).squeeze(2).to(t.float64)
        o3.scatter_(2, yi, float("-inf"))
        margin = ty - o3.amax(dim=2).to(t.float64)
        return margin.cpu().numpy(), xb.to(t.float64).pow(2).sum(1).sqrt().cpu().numpy()

    def predict64(self, src, w):
        x = self.x.index_select(0, self._t(src)).to(self.torch.float64)
        return (x @ w[: self.d] + w[self.d]).argmax(1).cpu().numpy()

    def sync(self):
        if self.dev.type == "cuda":
            self.torch.cuda.synchronize(self.dev)


@contextlib.contextmanager
def _exact_float32(torch):
    """True float32 products (no TF32) for the duration, so that the float32 error bound holds."""
    prev_prec = torch.get_float32_matmul_precision()
    prev_tf32 = torch.backends.cuda.matmul.allow_tf32
    torch.set_float32_matmul_precision("highest")
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(prev_prec)
        torch.backends.cuda.matmul.allow_tf32 = prev_tf32


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


def _check_device(device: Any) -> str:
    """`device` as text if this machine can run the search there; a ValueError naming the fix otherwise."""
    dev = str(device)
    if dev == "cpu":
        return dev
    if dev in ("torch", "torch:cpu") or dev.startswith("cuda"):
        try:
            import torch
        except ImportError:
            raise ValueError(f"device={device!r} needs torch, which is not installed; use device='cpu'") from None
        if dev.startswith("cuda") and not torch.cuda.is_available():
            raise ValueError(f"device={device!r} but no CUDA GPU is available; use device='cpu'")
        return dev
    raise ValueError(f"unknown device {device!r}; use 'cpu', 'torch' (torch on the CPU), 'cuda' or 'cuda:N'")


def _make_backend(dev: str, features: np.ndarray, num_classes: int, lam: float):
    """The backend of a checked device (`_check_device`)."""
    if dev == "cpu":
        return _NumpyBackend(features, num_classes, lam)
    return _TorchBackend(features, num_classes, lam, "cpu" if dev.startswith("torch") else dev)


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
    num_eval: int = 0  #: size of the evaluation set (N, or the subsample; 0 when not evaluated)
    form: str = "primal"  #: "primal" ((d+1) x (d+1) system), "dual" (m x m) or "none" (not fitted)
    num_distinct: int = 0  #: distinct coresets (fitted when there are two or more)
    stats: dict[str, int] = field(default_factory=dict)  #: rows through X^T X, re-checked predictions
    #: False when every endpoint gives the same coreset: nothing to choose, so no ridge model was fitted
    #: or evaluated and `accuracies` are NaN (not measured); `correct` is then None.
    evaluated: bool = True

    def info(self, budgets: np.ndarray, allocation_mode: str) -> dict[str, Any]:
        """What a window method (NUCS, BWS) records about this search next to its class `budgets`."""
        return {"budgets": budgets, "endpoints": self.endpoints, "accuracies": self.accuracies,
                "best_endpoint": float(self.best_endpoint), "allocation_mode": allocation_mode,
                "krr_form": self.form, "eval_size": self.num_eval, "krr_evaluated": self.evaluated}


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
    :class:`WindowSearchResult`. When every endpoint gives the same coreset (one endpoint, or a
    budget that clamps every window alike) there is nothing to choose: no ridge model is fitted
    or evaluated, `evaluated` is False and the accuracies are NaN (not measured).
    """
    scores, labels, sizes, budgets = _prepare(scores, labels, budgets)
    features = check_features(features, labels.shape[0])
    return _krr_window_search(features, labels, scores, sizes, budgets, endpoints=endpoints, ridge=ridge,
                              eval_subsample=eval_subsample, seed=seed, device=device, progress=progress)


def _krr_window_search(features: np.ndarray, labels: np.ndarray, scores: np.ndarray, sizes: np.ndarray,
                       budgets: np.ndarray, *, endpoints: Any = None, ridge: float = 1.0, eval_subsample: Any = None,
                       seed: int = 0, device: str = "cpu", progress: bool = False) -> WindowSearchResult:
    """`krr_window_search` on validated arrays (the selection methods' entry; parameters are checked here)."""
    t_start = time.perf_counter()
    lam = _check_ridge(ridge)
    ks = _check_endpoints(endpoints)
    if int(budgets.sum()) == 0:
        raise ValueError("budgets are all zero: the coreset would be empty")
    if eval_subsample is not None:
        _subsample_size(eval_subsample, labels.shape[0])
    dev = _check_device(device)
    cand = _window_candidates(scores, labels, sizes, budgets, ks)
    if cand.distinct.shape[0] == 1:
        return _only_candidate(cand, t_start)
    rows = None if eval_subsample is None else stratified_subsample(labels, eval_subsample, seed)
    if rows is not None and rows.shape[0] == labels.shape[0]:
        rows = None
    backend = _make_backend(dev, features, sizes.shape[0], lam)
    form = "dual" if int(budgets.sum()) < features.shape[1] + 1 else "primal"
    timings: dict[str, float] = {"plan": time.perf_counter() - t_start}
    stats: dict[str, int] = {}
    fit = _fit_dual if form == "dual" else _fit_primal
    ws = fit(backend, cand, labels, timings, stats, progress)
    if hasattr(backend, "sync"):
        backend.sync()
    y_eval = labels if rows is None else labels[rows]
    correct = _count_correct(backend, ws, rows, y_eval, timings, stats, progress)[cand.group]
    best = int(np.flatnonzero(correct == correct.max())[-1])  # ties: larger k
    timings["total"] = time.perf_counter() - t_start
    return WindowSearchResult(best_endpoint=float(ks[best]), endpoints=ks, accuracies=correct / float(y_eval.shape[0]),
                              indices=cand.indices(best), timings=timings, correct=correct,
                              num_eval=int(y_eval.shape[0]), form=form, num_distinct=int(cand.distinct.shape[0]),
                              stats=stats)


def _only_candidate(cand: WindowCandidates, t_start: float) -> WindowSearchResult:
    """The search when every endpoint gives the same coreset: that coreset, with no fit and no evaluation.

    The full search would pick the same coreset at the same endpoint (equal accuracies, ties to the
    larger `k`: the last of the grid); its accuracies are not measured, so they are NaN."""
    ks = cand.endpoints
    seconds = time.perf_counter() - t_start
    return WindowSearchResult(best_endpoint=float(ks[-1]), endpoints=ks, accuracies=np.full(ks.shape[0], np.nan),
                              indices=cand.indices(ks.shape[0] - 1), timings={"plan": seconds, "total": seconds},
                              correct=None, num_eval=0, form="none", num_distinct=1, stats={"gram_rows": 0},
                              evaluated=False)


def _fit_dual(backend, cand: WindowCandidates, labels: np.ndarray, timings: dict[str, float],
              stats: dict[str, int], progress: bool) -> list[Any]:
    """`W` of every distinct coreset from its own `m x m` system (coreset smaller than `d + 1`)."""
    t0 = time.perf_counter()
    lab_sorted = labels[cand.order]
    ws = []
    bar = _bar(progress, cand.distinct.shape[0], "KRR fit (dual)")
    for i in cand.distinct:
        pos = _window_positions(cand.offsets, cand.starts[i], cand.budgets)
        ws.append(backend.solve_dual(cand.order[pos], lab_sorted[pos]))
        bar.update(1)
    bar.close()
    stats["gram_rows"] = int(cand.budgets.sum()) * int(cand.distinct.shape[0])
    timings["gram"], timings["solve"] = 0.0, time.perf_counter() - t0
    return ws


def _runs(cand: WindowCandidates, lab_sorted: np.ndarray) -> tuple[np.ndarray, dict[int, list[tuple[int, int, int]]]]:
    """Samples grouped by the run `[a, b)` of distinct endpoints whose windows hold them.

    Returns `(live, groups)`: `live` the positions (in `cand.order`) of samples in at least
    one window, sorted by run (class grouping kept inside a run), and `groups[a]` the list of
    `(b, start, stop)` slices of `live` whose run starts at `a`.
    """
    e_all = cand.distinct.shape[0]
    starts_d = cand.starts[cand.distinct]  # (E, C)
    ends_d = starts_d + cand.budgets[None, :]
    pos_in_class = np.arange(lab_sorted.shape[0], dtype=np.int64) - cand.offsets[lab_sorted]
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
    return live, groups


def _fit_primal(backend, cand: WindowCandidates, labels: np.ndarray, timings: dict[str, float],
                stats: dict[str, int], progress: bool) -> list[Any]:
    """`W` of every distinct coreset from running normal-equation sums (see the module docstring)."""
    t0 = time.perf_counter()
    e_all = cand.distinct.shape[0]
    lab_sorted = labels[cand.order]
    live, groups = _runs(cand, lab_sorted)
    stats["gram_rows"] = int(live.size)
    g_run, bt_run = backend.zeros_gram()
    pending: dict[int, tuple[Any, Any]] = {}  # sums to subtract when their run ends
    t_solve = 0.0
    ws = []
    bar = _bar(progress, e_all, "KRR fit (primal)")
    for e in range(e_all):
        if e in pending:
            backend.gram_sub(g_run, bt_run, *pending.pop(e))
        scratch = None  # runs alive at this endpoint only: summed aside, never subtracted
        for gb, g0, g1 in groups.get(e, []):  # runs [e, gb)
            sel = live[g0:g1]
            idx, lab = cand.order[sel], lab_sorted[sel]
            if gb >= e_all:  # stays to the last endpoint
                backend.gram_into(g_run, bt_run, idx, lab)
            elif gb == e + 1:
                scratch = scratch or backend.zeros_gram()
                backend.gram_into(scratch[0], scratch[1], idx, lab)
            else:  # add now, subtract at gb
                g_new, bt_new = backend.zeros_gram()
                backend.gram_into(g_new, bt_new, idx, lab)
                g_run += g_new
                bt_run += bt_new
                if gb in pending:
                    g_pend, bt_pend = pending[gb]
                    g_pend += g_new  # in place
                    bt_pend += bt_new
                else:
                    pending[gb] = (g_new, bt_new)
        t1 = time.perf_counter()
        ws.append(backend.solve(g_run, bt_run, scratch))
        t_solve += time.perf_counter() - t1
        bar.update(1)
    bar.close()
    timings["solve"] = t_solve
    timings["gram"] = time.perf_counter() - t0 - t_solve
    return ws


def _count_correct(backend, ws: list[Any], rows: np.ndarray | None, y: np.ndarray, timings: dict[str, float],
                   stats: dict[str, int], progress: bool) -> np.ndarray:
    """Correct float64 argmax predictions of every `W` on the evaluation rows (both backends).

    All endpoints of a group are predicted by one fused float32 product per block of rows.
    The float32 error of every score is at most `(d + 8) u (||x|| ||w_j|| + |b_j|)`; a top-2
    margin within twice that bound is re-predicted in float64, any other decides in float32.
    """
    d, c = backend.d, backend.c
    e_all, n_eval = len(ws), y.shape[0]
    correct = np.zeros(e_all, dtype=np.int64)
    per_group = max(1, min(e_all, _MAX_COLS // c))
    uncertain: list[list[np.ndarray]] = [[] for _ in range(e_all)]
    tolfac = 2.0 * (d + 8) * _U32 * 1.001
    t0 = time.perf_counter()
    bar = _bar(progress, -(-e_all // per_group) * n_eval, "KRR predict")
    for g0 in range(0, e_all, per_group):
        packed, wn, bm = backend.pack(ws[g0: g0 + per_group])
        step = int(np.clip(_PRED_FLOATS // (wn.shape[0] * c), 64, 16384))
        for s in range(0, n_eval, step):
            e = min(n_eval, s + step)
            margin, xn = backend.margins(packed, rows, s, e, y[s:e])
            tol = tolfac * (xn[:, None] * wn[None, :] + bm[None, :])
            correct[g0: g0 + wn.shape[0]] += (margin > tol).sum(axis=0)
            ur, ue = np.nonzero(np.abs(margin) <= tol)
            for j in np.unique(ue):
                uncertain[g0 + j].append(s + ur[ue == j])
            bar.update(e - s)
    bar.close()
    t1 = time.perf_counter()
    n_unc = 0
    for j, parts in enumerate(uncertain):
        if parts:
            loc = np.concatenate(parts)
            n_unc += loc.size
            correct[j] += int((backend.predict64(loc if rows is None else rows[loc], ws[j]) == y[loc]).sum())
    timings["predict"], timings["recheck"] = t1 - t0, time.perf_counter() - t1
    stats["rechecked"] = n_unc
    return correct


__all__ = [
    "DEFAULT_ENDPOINTS",
    "WindowCandidates",
    "WindowSearchResult",
    "class_sorted_order",
    "krr_window_search",
    "stratified_subsample",
    "window_select",
    "window_starts",
]
