"""Time every registered selection method at pruning rates 0.5 and 0.9.

    python benchmarks/methods.py            # CIFAR-10 train (50,000 x 1280) if its features are cached
    python benchmarks/methods.py --quick    # a seeded random subset of 10,000 samples

Data: the cached EfficientNet-Lite0 features of CIFAR-10's training split
(`coreset_core.features.get_features(load_dataset("cifar10"), "train")`). The benchmark never
extracts features itself (hours on a CPU) unless `--extract` is given; without a cache entry
it falls back to synthetic data of the same shape (50,000 x 1280, 10 classes, float32),
and says so. Scores: EL2N from `coreset_core.scores.compute_scores` (a short linear-head
run on the features) when available, else a synthetic score (distance to the class mean
plus noise), and the table says which.

Output: one table (method, seconds at each rate, and the ratio to `random` measured in the
same run), as Markdown on stdout; `--json PATH` also writes the raw numbers.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from coreset_core.methods import list_methods, run_method  # noqa: E402


def cifar10_features(extract: bool, cache_dir: str | None):
    """`(features, labels, key, source)` of CIFAR-10 train, or None when not cached (and not extracting)."""
    try:
        from coreset_core import features as feat
        from coreset_core import cache
        from coreset_core.datasets import load_dataset

        ds = load_dataset("cifar10")
        backbone = feat.DEFAULT_BACKBONE
        resolution = int(ds.default_resolution)
        if not extract:
            key = feat.feature_key(ds, "train", backbone, resolution, None)
            if cache.load(cache.entry_path("features", key, cache_dir), key, ("features",)) is None:
                return None
        fs = feat.get_features(ds, "train", backbone=backbone, resolution=resolution, cache_dir=cache_dir,
                               progress=extract)
        return np.asarray(fs.features), np.asarray(fs.labels), fs.key, f"CIFAR-10 train, {backbone} features"
    except Exception as exc:  # noqa: BLE001 - any failure means: use the synthetic fallback
        print(f"(CIFAR-10 features unavailable: {type(exc).__name__}: {exc})", file=sys.stderr)
        return None


def synthetic(n: int = 50_000, d: int = 1280, c: int = 10, seed: int = 0):
    """Clustered non-negative features shaped like pooled CNN features."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(c), n // c)
    labels = np.concatenate([labels, rng.integers(0, c, n - labels.size)])
    basis = rng.standard_normal((64, d)).astype(np.float32)
    centers = rng.standard_normal((c, 64)).astype(np.float32) * 1.5
    latent = centers[labels] + rng.standard_normal((n, 64)).astype(np.float32)
    feats = np.maximum(latent @ basis, 0) / 8 + 0.1 * rng.standard_normal((n, d)).astype(np.float32)
    return feats.astype(np.float32), labels.astype(np.int64)


def get_scores(features, labels, key):
    try:
        from coreset_core.scores import compute_scores
    except ImportError:
        compute_scores = None
    if compute_scores is not None:
        try:
            t = time.perf_counter()
            ss = compute_scores(features, labels, cache_key=key, progress=False)
            return np.asarray(ss.difficulty("el2n")), f"EL2N (linear head, {time.perf_counter() - t:.0f} s)"
        except Exception as exc:  # noqa: BLE001
            print(f"(compute_scores failed: {type(exc).__name__}: {exc})", file=sys.stderr)
    rng = np.random.default_rng(1)
    means = np.stack([features[labels == k].mean(axis=0) for k in range(int(labels.max()) + 1)])
    dist = np.linalg.norm(features - means[labels], axis=1)
    return dist / dist.mean() + 0.2 * rng.random(labels.size), "synthetic (distance to class mean + noise)"


def seeded_subset(n, size, seed=0):
    return np.sort(np.random.default_rng(seed).permutation(n)[:size])


def _fmt_ratio(x: float) -> str:
    if not np.isfinite(x):
        return "-"
    return f"{x:,.0f}" if x >= 100 else f"{x:.3g}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a seeded random subset of 10,000 samples")
    ap.add_argument("--n", type=int, default=None, help="use a seeded subset of this many samples")
    ap.add_argument("--rates", type=float, nargs="+", default=[0.5, 0.9])
    ap.add_argument("--methods", nargs="+", default=None, help="default: every registered method")
    ap.add_argument("--skip", nargs="+", default=[], help="methods to leave out")
    ap.add_argument("--synthetic", action="store_true", help="use synthetic data even if CIFAR-10 is cached")
    ap.add_argument("--extract", action="store_true", help="extract CIFAR-10 features if not cached (slow)")
    ap.add_argument("--cache-dir", default=None)
    ap.add_argument("--json", default=None, help="also write the numbers to this file")
    args = ap.parse_args(argv)

    data = None if args.synthetic else cifar10_features(args.extract, args.cache_dir)
    if data is None:
        feats, labels = synthetic()
        key, source = None, "SYNTHETIC 50,000 x 1280, 10 classes (CIFAR-10 features not cached)"
    else:
        feats, labels, key, source = data
    n_sub = args.n if args.n is not None else (10_000 if args.quick else None)
    if n_sub is not None and n_sub < labels.size:
        sub = seeded_subset(labels.size, n_sub)
        feats, labels, key = feats[sub], labels[sub], None
        source += f", seeded random subset of {n_sub:,}"
    scores, score_source = get_scores(feats, labels, key)
    methods = args.methods or list_methods()
    methods = [m for m in methods if m not in set(args.skip)]
    if "random" in methods:
        methods = ["random"] + [m for m in methods if m != "random"]

    print(f"data: {source} ({labels.size:,} x {feats.shape[1]}, {int(labels.max()) + 1} classes)")
    print(f"scores: {score_source}")
    print(f"machine: {platform.processor() or platform.machine()}, python {platform.python_version()}")
    times: dict[str, dict[float, float]] = {}
    errors: dict[str, str] = {}
    for m in methods:
        times[m] = {}
        for rate in args.rates:
            best, spent, runs = float("inf"), 0.0, 0
            try:
                # fast methods are repeated (best of up to 20 runs, ~0.3 s) so their ratios are not noise
                while runs == 0 or (spent < 0.3 and runs < 20):
                    t = time.perf_counter()
                    run_method(m, prune_rate=rate, labels=labels, scores=scores, features=feats, seed=0)
                    dt = time.perf_counter() - t
                    best, spent, runs = min(best, dt), spent + dt, runs + 1
            except Exception as exc:  # noqa: BLE001 - report and go on
                errors[m] = f"{type(exc).__name__}: {exc}"
                times[m][rate] = float("nan")
                continue
            times[m][rate] = best
            print(f"  {m} @ {rate}: {times[m][rate]:.2f} s", file=sys.stderr, flush=True)

    head = "| method | " + " | ".join(f"t@{r} (s)" for r in args.rates) + " | " + \
           " | ".join(f"x random @{r}" for r in args.rates) + " |"
    print()
    print(head)
    print("|" + "---|" * (1 + 2 * len(args.rates)))
    base = times.get("random", {})
    for m in methods:
        ts = [times[m][r] for r in args.rates]
        ratios = [t / base[r] if base.get(r) else float("nan") for t, r in zip(ts, args.rates)]
        cells = ["failed" if not np.isfinite(t) else f"{t:.3f}" for t in ts] + [_fmt_ratio(x) for x in ratios]
        print(f"| {m} | " + " | ".join(cells) + " |")
    for m, e in errors.items():
        print(f"\n{m} failed: {e}")
    if args.json:
        raw = {m: {str(r): t for r, t in v.items()} for m, v in times.items()}
        Path(args.json).write_text(json.dumps({"data": source, "scores": score_source, "n": int(labels.size),
                                               "times": raw, "errors": errors}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
