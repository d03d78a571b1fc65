"""Up-front cost of a selection: refuse what would run for hours, and say what to run instead.

`run_method` calls `check_affordable` after validating the inputs and before any work. The
estimate counts the dominant floating-point work of the method (multiply-adds x 2) from
the sizes alone; the time is that work at this machine's float32 GEMM rate, measured once
per process (a ~50 ms product), so it is a lower bound of the real run time. Work above
`CORESET_MAX_FLOP` (environment; default `DEFAULT_MAX_FLOP`, about ten minutes at 40
GFLOP/s) is refused with a ValueError naming the estimate and the cheaper alternative;
raise the variable to run it anyway.

Dominant work per method (N samples, d dims, C classes, B kept, N_c / n_c per class):

* nucs, bws: prediction of the evaluation set by every endpoint's ridge solution,
  `2 E N_eval d C` (E endpoints, N_eval = N or the `eval_subsample`), plus one `X^T X`
  `N d^2` (float64, counted twice); with a single endpoint nothing is fitted: never refused;
* nucs-o: a logistic-regression probe per endpoint, `2 x 2 x probe_epochs x B d C` each;
* kcenter: `2 N B d`; kcenter-classwise: `2 sum_c N_c n_c d`;
* d2: the exact k-NN graph, `2 sum_c N_c^2 d` (mode class) or `2 N^2 d` (mode global),
  with d the `pca_dims` when given;
* ram-apl: the nearest class mean, `2 N C d` per backbone;
* the rest (random, el2n*, ccs, moderate*) are O(N d) or O(N log N): never refused.

Memory: kcenter, kcenter-classwise and d2 hold every feature row at once (farthest points and
k-NN graphs are pairwise work); `memory_estimate` counts what they would allocate (a
memory-mapped matrix in full: they make every page resident) and `check_affordable` refuses
above the memory available, naming the estimate. The other methods read memory-mapped
features in row blocks (`coreset_core.row_blocks`), so their memory does not grow with N x d.
"""
from __future__ import annotations

import functools
import os
import time
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from ..row_blocks import available_memory, format_bytes, is_mapped

MAX_FLOP_ENV = "CORESET_MAX_FLOP"
DEFAULT_MAX_FLOP = 2.5e13


@dataclass(frozen=True)
class Cost:
    """Estimated dominant work of one selection and the cheaper route."""

    flop: float
    what: str  #: the formula with the sizes filled in
    alternative: str  #: what to run instead when it is too much


@functools.lru_cache(maxsize=1)
def gemm_flops() -> float:
    """This machine's float32 matrix-product rate (flop/s), measured once per process."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((512, 512), dtype=np.float32)
    b = rng.standard_normal((512, 2048), dtype=np.float32)
    a @ b  # warm-up
    reps, t0 = 0, time.perf_counter()
    while reps < 3 or time.perf_counter() - t0 < 0.05:
        a @ b
        reps += 1
    return 2.0 * 512 * 512 * 2048 * reps / (time.perf_counter() - t0)


def max_flop() -> float:
    """The refusal threshold: `$CORESET_MAX_FLOP` or `DEFAULT_MAX_FLOP`."""
    raw = os.environ.get(MAX_FLOP_ENV, "").strip()
    if not raw:
        return DEFAULT_MAX_FLOP
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{MAX_FLOP_ENV}={raw!r} is not a number; use e.g. {MAX_FLOP_ENV}=1e14") from None
    if not value > 0:
        raise ValueError(f"{MAX_FLOP_ENV} must be > 0, got {raw!r}")
    return value


def _eval_rows(n: int, sub: Any) -> int:
    if sub is None or isinstance(sub, bool):
        return n
    return min(n, int(sub)) if isinstance(sub, (int, np.integer)) else min(n, max(1, round(float(sub) * n)))


def _fmt(x: float) -> str:
    return f"{x:,.0f}"


def _search(n: int, d: int, c: int, params: Mapping[str, Any], method: str) -> Cost | None:
    e = 21 if params.get("endpoints") is None else int(np.unique(np.asarray(params["endpoints"])).size)
    if e == 1:  # one endpoint: its window is the answer, no ridge model is fitted (windows.py)
        return None
    rows = _eval_rows(n, params.get("eval_subsample"))
    flop = 2.0 * e * rows * d * c + 2.0 * n * d * d
    fast = 2.0 * e * _eval_rows(n, 0.1) * d * c + 2.0 * n * d * d
    return Cost(flop, f"{e} endpoints x {_fmt(rows)} evaluated rows x {d} dims x {_fmt(c)} classes of ridge predictions",
                f"evaluate on a seeded stratified 10 % subsample: --param eval_subsample=0.1 (in a sweep "
                f"--param {method}.eval_subsample=0.1; in Python eval_subsample=0.1), ~{fast:.1e} flop; the documented approximation, see docs/scale.md for how "
                "often it picks the exact endpoint")


def estimate(method: str, labels: np.ndarray, budget: int, d: int, params: Mapping[str, Any],
             num_backbones: int = 1) -> Cost | None:
    """The `Cost` of `method` on these sizes, or None for methods whose work is O(N d) or less."""
    n = int(labels.shape[0])
    sizes = np.bincount(labels).astype(np.float64)
    c = sizes.size
    per_class_kept = sizes * (budget / n)
    if method in ("nucs", "bws", "nucs-uniform"):
        return _search(n, d, c, params, method)
    if method == "nucs-o":
        epochs = int(params.get("probe_epochs", 100))
        flop = 21 * 4.0 * epochs * budget * d * c
        return Cost(flop, f"21 endpoints x a {epochs}-iteration logistic-regression probe on {_fmt(budget)} x {d} "
                          f"x {_fmt(c)} classes", "nucs (the ridge proxy of the same candidates), or fewer "
                                                  "probe_epochs, or a smaller --limit")
    if method == "kcenter":
        cls = 2.0 * float((sizes * per_class_kept).sum()) * d
        return Cost(2.0 * n * budget * d, f"{_fmt(n)} samples x {_fmt(budget)} centers x {d} dims",
                    f"kcenter-classwise (~{cls:.1e} flop), or a smaller --limit")
    if method == "kcenter-classwise":
        return Cost(2.0 * float((sizes * per_class_kept).sum()) * d, f"sum over classes of N_c x n_c x {d} dims",
                    "a smaller --limit")
    if method == "d2":
        dd = d if params.get("pca_dims") is None else min(d, int(params["pca_dims"]))
        if params.get("mode", "class") == "global":
            cls = 2.0 * float((sizes ** 2).sum()) * dd
            return Cost(2.0 * n * n * dd, f"a k-NN graph over all {_fmt(n)} samples x {dd} dims",
                        f"mode=class (per-class graphs, ~{cls:.1e} flop), or pca_dims=64")
        return Cost(2.0 * float((sizes ** 2).sum()) * dd, f"per-class k-NN graphs (sum of N_c^2) x {dd} dims",
                    f"pca_dims=64 (~{2.0 * float((sizes ** 2).sum()) * min(dd, 64):.1e} flop), or a smaller --limit")
    if method == "ram-apl":
        return Cost(2.0 * n * c * d * num_backbones, f"{num_backbones} backbone(s) x {_fmt(n)} samples x "
                                                     f"{_fmt(c)} class means x {d} dims", "fewer backbones")
    return None


def scoring_cost(n: int, d: int, c: int, steps: int, epochs: int, seeds: int = 1, batch_size: int = 256) -> Cost:
    """The linear head's score run: per seed `steps` SGD steps (forward + weight gradient, `4 b d C`
    each) plus the logits of all `N` rows at every epoch end (`2 N d C`)."""
    flop = seeds * (4.0 * steps * batch_size * d * c + 2.0 * epochs * n * d * c)
    return Cost(flop, f"{seeds} seed(s) x ({steps:,} steps of a {batch_size} x {d} x {c:,} head + {epochs} passes over "
                      f"{n:,} rows)", "score 'file' (an embeddings file's own scores column), or a smaller --limit")


def refuse_if_over(cost_: Cost, subject: str) -> None:
    """ValueError naming the estimate, the time at this machine's GEMM rate and `cost_.alternative`
    when `cost_.flop` is above `max_flop()`."""
    limit = max_flop()
    if cost_.flop <= limit:
        return
    rate = gemm_flops()
    raise ValueError(
        f"{subject} would take about {cost_.flop / rate / 60.0:,.0f} minutes or more: {cost_.flop:.1e} flop "
        f"({cost_.what}) at the {rate / 1e9:.0f} GFLOP/s measured on this machine, above the limit of "
        f"{limit:.1e} flop. Instead: {cost_.alternative}. To run it anyway set {MAX_FLOP_ENV}="
        f"{10 ** np.ceil(np.log10(cost_.flop)):.0e}."
    )


#: Python bytes per sample of k-center's heap entry (a tuple of a float and an int) and its per-sample
#: arrays, and per graph edge of D2 (int64/float64 arrays while the graph is built, Python lists in the greedy).
_HEAP_BYTES = 124
_EDGE_BYTES = 120
_STREAMING = "a method that reads the features in row blocks (nucs, bws, ram-apl, moderate, el2n, random)"


@dataclass(frozen=True)
class MemoryNeed:
    """Estimated memory of a selection that holds every feature row at once, and the way out."""

    nbytes: float
    what: str  #: what the bytes hold, with the sizes filled in
    alternative: str  #: what to run instead when it is more than the memory available


def memory_estimate(method: str, labels: np.ndarray, features: Any, params: Mapping[str, Any]) -> MemoryNeed | None:
    """The `MemoryNeed` of a method that holds every feature row at once
    (kcenter, kcenter-classwise, d2) would allocate, or None for the others (they read memory-mapped
    features in row blocks, `coreset_core.row_blocks`). Memory-mapped features count in full: these
    methods make every page resident."""
    if method not in ("kcenter", "kcenter-classwise", "d2"):
        return None
    x = np.asarray(features)
    n, d, item = x.shape[0], x.shape[1], x.dtype.itemsize
    matrix = n * d * item
    held = matrix if is_mapped(x) else 0
    largest = int(np.bincount(labels).max())
    if method == "d2":
        k, dims = int(params.get("k", 5)), min(d, int(params.get("pca_dims") or d))
        group = n if params.get("mode", "class") == "global" else largest
        pca = 2 * n * d * 8 if dims < d else 0
        need = held + pca + group * (dims * item + 2 * k * _EDGE_BYTES)
        what = (f"the {n:,} x {d} features in memory{' (memory-mapped: every page read)' if held else ''}, "
                f"{'a float64 PCA copy, ' if pca else ''}a {group:,}-sample k-NN graph ({k} neighbours)")
    else:
        group = n if method == "kcenter" else largest
        need = held + matrix + group * _HEAP_BYTES + (0 if method == "kcenter" else largest * d * item)
        what = (f"the {n:,} x {d} features in memory{' (memory-mapped: every page read)' if held else ''} and "
                f"their absolute values (the scale check), a heap entry per sample of the largest group ({group:,})")
    return MemoryNeed(float(need), what, f"{_STREAMING}, or a smaller --limit, or a machine with more memory")


def refuse_if_over_memory(need: MemoryNeed, subject: str) -> None:
    """ValueError naming the estimate, the memory available (`row_blocks.available_memory`) and
    `need.alternative` when the estimate is above the memory this process can still allocate."""
    free = available_memory()
    if need.nbytes > free:
        raise ValueError(f"{subject} would need about {format_bytes(need.nbytes)} of memory ({need.what}), more than "
                         f"the {format_bytes(free)} available: it cannot stream the features. Instead: "
                         f"{need.alternative}.")


def check_affordable(method: str, labels: np.ndarray, budget: int, features: Any, params: Mapping[str, Any]) -> None:
    """ValueError before any work when `method` is estimated above `max_flop()` or above the memory available."""
    if features is None:
        return
    feats = list(features) if isinstance(features, (list, tuple)) else [features]
    d = max(int(np.shape(f)[1]) for f in feats)
    subject = f"{method} on {labels.shape[0]:,} samples"
    cost_ = estimate(method, labels, budget, d, params, num_backbones=len(feats))
    if cost_ is not None:
        refuse_if_over(cost_, subject)
    need = memory_estimate(method, labels, feats[0], params)
    if need is not None:
        refuse_if_over_memory(need, subject)


__all__ = ["Cost", "DEFAULT_MAX_FLOP", "MAX_FLOP_ENV", "check_affordable", "estimate", "gemm_flops", "max_flop",
           "MemoryNeed", "memory_estimate", "refuse_if_over", "refuse_if_over_memory", "scoring_cost"]
