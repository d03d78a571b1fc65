"""Benchmark: the incremental KRR window search vs a per-endpoint refit.

    python benchmarks/window_search.py            # full: CIFAR-10-sized + 500k x 512 x 1000 classes
    python benchmarks/window_search.py --quick    # CI smoke run, under a minute

For every pruning rate it times

* ``search``: :func:`coreset_core.windows.krr_window_search` (shared X^T X runs, identical
  coresets merged, one fused float32 prediction pass with an exact float64 re-check);
* ``refit``: the straightforward method, every endpoint of the 21-point grid solved from
  scratch: window indices, float64 ``X_c^T X_c`` (BLAS syrk) and ``X_c^T Y_c``, Cholesky solve,
  float32 prediction of all N samples, argmax. (Float32 prediction makes this baseline
  *faster* than a naive float64 one, so the ratios are conservative.)

and prints the ratio, plus the "floor": one float64 ``X^T X`` over all N training rows
(with the bias column), the least any exact refit-based search must spend, and
search / floor. The accuracy curves of both are compared (max |difference|; the search is
exact in float64, the refit baseline uses plain float32 argmax, so a near-tie can differ).

(a) CIFAR-10: the cached EfficientNet-Lite0 train features when `coreset features
--dataset cifar10` has been run (never extracted here), else a synthetic 50,000 x 1280,
10-class set shaped like them. Scores: distance to the class mean feature (a cheap,
realistic difficulty; the timings do not depend on which score is used).
(b) Synthetic 500,000 x 512, 1,000 classes: the refit baseline is timed on a few endpoints
and extrapolated to 21 (marked "~"). The search is also timed with ``eval_subsample``
(the documented fast route for very large N x C).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import scipy.linalg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from coreset_core.allocation import allocate_budgets  # noqa: E402
from coreset_core.difficulty import class_difficulty  # noqa: E402
from coreset_core.windows import DEFAULT_ENDPOINTS, _one_blas_thread, krr_window_search, window_select  # noqa: E402

RATES = [0.3, 0.5, 0.7, 0.9, 0.95, 0.99]


def floor_time(features: np.ndarray) -> float:
    """One float64 [F, 1]^T [F, 1] over all rows (chunked like the search)."""
    n, d = features.shape
    t = time.perf_counter()
    g = np.zeros((d + 1, d + 1))
    step = max(256, (1 << 26) // (8 * (d + 1)))
    buf = np.empty((min(step, n), d + 1))
    for s in range(0, n, step):
        rows = buf[: min(step, n - s)]
        rows[:, :d] = features[s: s + step]
        rows[:, d] = 1.0
        g += rows.T @ rows
    return time.perf_counter() - t


def refit(features, labels, scores, budgets, endpoints, lam=1.0):
    """Per-endpoint refit from scratch; returns (accuracies, seconds per endpoint)."""
    n, d = features.shape
    c = budgets.shape[0]
    accs, secs = [], []
    for k in endpoints:
        t = time.perf_counter()
        idx = window_select(scores, labels, budgets, k)
        xc = np.empty((idx.size, d + 1))
        xc[:, :d] = features[idx]
        xc[:, d] = 1.0
        a = xc.T @ xc
        a.flat[:: d + 2] += lam
        bt = np.zeros((c, d + 1))
        _class_sums(bt, xc, labels[idx])
        with _one_blas_thread(d + 1):  # same solver settings as the search
            w = scipy.linalg.cho_solve(scipy.linalg.cho_factor(a, lower=True, overwrite_a=True, check_finite=False),
                                       bt.T, check_finite=False)
        w32, b32 = w[:d].astype(np.float32), w[d].astype(np.float32)
        correct = 0
        step = max(64, (1 << 24) // c)
        for s in range(0, n, step):
            p = features[s: s + step] @ w32
            p += b32
            correct += int((p.argmax(axis=1) == labels[s: s + step]).sum())
        accs.append(correct / n)
        secs.append(time.perf_counter() - t)
    return np.array(accs), np.array(secs)


def _class_sums(bt, xc, lab):
    order = np.argsort(lab, kind="stable")
    lab = lab[order]
    cut = np.flatnonzero(np.concatenate(([True], lab[1:] != lab[:-1])))
    bt[lab[cut]] += np.add.reduceat(xc[order], cut, axis=0)


def synthetic(n, d, c, seed=0, sep=0.25):
    """Non-negative, pooled-CNN-like features with class structure; int64 labels; long-ish tail."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / (1.0 + np.arange(c)) ** 0.3
    labels = rng.choice(c, size=n, p=weights / weights.sum())
    labels[:c] = np.arange(c)
    means = rng.standard_normal((c, d), dtype=np.float32)
    x = rng.standard_normal((n, d), dtype=np.float32)
    x += sep * means[labels]
    np.maximum(x, 0.0, out=x)
    return x, labels.astype(np.int64)


def distance_scores(features, labels):
    """Distance of each sample to its class mean (a moderate-style difficulty)."""
    c = int(labels.max()) + 1
    sums = np.zeros((c, features.shape[1]))
    _class_sums(sums, features, labels)
    means = (sums / np.bincount(labels, minlength=c)[:, None]).astype(np.float32)
    out = np.empty(features.shape[0])
    step = 65536
    for s in range(0, features.shape[0], step):
        out[s: s + step] = np.linalg.norm(features[s: s + step] - means[labels[s: s + step]], axis=1)
    return out


def cifar_features(limit=None):
    """Cached CIFAR-10 train features, or None (with the reason) without extracting anything."""
    try:
        from coreset_core import cache
        from coreset_core.backbones import DEFAULT_BACKBONE
        from coreset_core.datasets import load_dataset
        from coreset_core.features import feature_key, get_features

        ds = load_dataset("cifar10")
        key = feature_key(ds, "train", DEFAULT_BACKBONE, int(ds.default_resolution), None)
        if cache.load(cache.entry_path("features", key, None), key, ("features",)) is None:
            return None, "no cached CIFAR-10 features (run `coreset features --dataset cifar10`)"
        fs = get_features(ds, "train", progress=False)
        x, y = np.ascontiguousarray(fs.features, dtype=np.float32), np.asarray(fs.labels, dtype=np.int64)
        if limit:
            x, y = x[:limit], y[:limit]
        return (x, y), f"real CIFAR-10 features ({DEFAULT_BACKBONE}, {x.shape[0]} x {x.shape[1]})"
    except Exception as exc:  # noqa: BLE001 - any failure means: use the synthetic stand-in
        return None, f"CIFAR-10 features unavailable ({type(exc).__name__}: {exc})"


def run_case(title, x, y, rates, *, refit_endpoints=None, subsample=None, device="cpu"):
    scores = distance_scores(x, y)
    sizes = np.bincount(y)
    diff = class_difficulty(scores, y)
    fl = floor_time(x)
    n, d = x.shape
    print(f"\n## {title}: N={n:,} d={d} C={sizes.size}  |  floor (one float64 X^T X over all N): {fl:.2f} s  "
          f"|  load average {os.getloadavg()[0]:.1f}")
    head = f"{'rate':>5} {'form':>6} {'fits':>4} {'search s':>9} {'refit s':>9} {'ratio':>7} {'search/floor':>12} " \
           f"{'max|dacc|':>9} {'best k':>6}"
    if subsample:
        head += f" {'subsample s':>11} {'best k (sub)':>12}"
    print(head)
    for rate in rates:
        budgets = allocate_budgets(diff, sizes, rate)
        if refit_endpoints is not None:  # sampled refit endpoints: half timed before the search, half after,
            half = len(refit_endpoints) // 2  # so that a change in machine load affects both sides alike
            acc_a, secs_a = refit(x, y, scores, budgets, DEFAULT_ENDPOINTS[refit_endpoints[:half]])
        res = krr_window_search(x, y, scores, budgets, device=device)
        ts = res.timings["total"]
        if refit_endpoints is None:
            acc_ref, secs = refit(x, y, scores, budgets, DEFAULT_ENDPOINTS)
            tr, mark = secs.sum(), ""
            dacc = f"{np.abs(acc_ref - res.accuracies).max():.1e}"
        else:
            acc_b, secs_b = refit(x, y, scores, budgets, DEFAULT_ENDPOINTS[refit_endpoints[half:]])
            acc_ref, secs = np.concatenate([acc_a, acc_b]), np.concatenate([secs_a, secs_b])
            tr, mark = secs.mean() * DEFAULT_ENDPOINTS.size, "~"
            dacc = f"{np.abs(acc_ref - res.accuracies[refit_endpoints]).max():.1e}"
        line = f"{rate:>5.2f} {res.form:>6} {res.num_distinct:>4} {ts:>9.2f} {mark + format(tr, '.2f'):>9} " \
               f"{mark + format(tr / ts, '.1f') + 'x':>7} {ts / fl:>12.2f} {dacc:>9} {res.best_endpoint:>6.2f}"
        if subsample:
            sub = krr_window_search(x, y, scores, budgets, eval_subsample=subsample, device=device)
            line += f" {sub.timings['total']:>11.2f} {sub.best_endpoint:>12.2f}"
        print(line, flush=True)
        phases = ", ".join(f"{k} {v:.2f}" for k, v in res.timings.items() if k != "total")
        print(f"      search phases (s): {phases}; rows through X^T X {res.stats.get('gram_rows', 0):,}, "
              f"float64 re-checks {res.stats.get('rechecked', 0):,}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes for a CI smoke run (< 1 min)")
    ap.add_argument("--only", choices=["cifar", "large"], help="run one of the two cases")
    ap.add_argument("--rates", type=float, nargs="+", help=f"pruning rates (default {RATES})")
    ap.add_argument("--large-rates", type=float, nargs="+", help="pruning rates of the large case")
    ap.add_argument("--device", default="cpu", help="search device: cpu (numpy), torch, cuda")
    args = ap.parse_args(argv)
    rates = args.rates or RATES
    print(f"# KRR window search benchmark  ({os.cpu_count()} CPUs, numpy {np.__version__}, "
          f"load average {os.getloadavg()[0]:.1f} at start)")
    if args.only in (None, "cifar"):
        if args.quick:
            got, note = cifar_features(limit=5_000)
            x, y = got if got else synthetic(5_000, 1280, 10)
            title = "(a) CIFAR-10, first 5,000" if got else "(a) synthetic CIFAR-10-like, 5,000 x 1280"
            run_case(title, x, y, args.rates or [0.3, 0.9])
        else:
            got, note = cifar_features()
            print(f"note: {note}" + ("" if got else "; using a synthetic 50,000 x 1280 stand-in"))
            x, y = got if got else synthetic(50_000, 1280, 10)
            run_case("(a) CIFAR-10" if got else "(a) synthetic CIFAR-10-like", x, y, rates)
    if args.only in (None, "large"):
        if args.quick:
            x, y = synthetic(8_000, 128, 100, seed=1)
            run_case("(b) synthetic, small stand-in for 500k x 512 x 1000", x, y, args.large_rates or [0.5, 0.9],
                     refit_endpoints=[0, 10, 20], subsample=2_000, device=args.device)
        else:
            t = time.perf_counter()
            x, y = synthetic(500_000, 512, 1000, seed=1)
            print(f"\n(generated 500,000 x 512 in {time.perf_counter() - t:.1f} s)")
            run_case("(b) synthetic 500k x 512 x 1000 classes", x, y, args.large_rates or rates,
                     refit_endpoints=[4, 16], subsample=50_000, device=args.device)


if __name__ == "__main__":
    main()
