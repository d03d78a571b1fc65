"""Seeded synthetic embeddings with real class structure, in the `embeddings:` file format (SPEC section 7).

    python benchmarks/make_embeddings.py --n 50000 --classes 100 --dim 512 --imbalance 100 --seed 0 --out emb.npz

Each class c has a mean mu_c ~ N(0, (separation^2 / dim) I) and a spread sigma_c (log-normal
around 1, so some classes are harder than others); a sample is mu_c + sigma_c * N(0, I).
Training class sizes follow the long-tailed profile of Cui et al. 2019,
n_c proportional to I^(-c / (C - 1)), scaled to exactly `n` training rows (largest remainders,
at least one per class). The test split is balanced: `test_per_class` rows per class
(default: a fifth of the mean training class size). Rows are written in a seeded random
order with `is_test`, `class_names`, `ids` (row + id_offset) and, with `--scores`, a
difficulty score per row (distance to the class mean, higher = harder).

Import `make_embeddings(...)` for the arrays (tests, benchmarks) without writing a file.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

_CHUNK = 1 << 16


def long_tailed_sizes(n: int, classes: int, imbalance: float) -> np.ndarray:
    """Training rows per class: Cui et al.'s I^(-c/(C-1)) profile scaled to sum to `n` (each >= 1)."""
    if classes < 1 or n < classes:
        raise ValueError(f"need at least one training row per class: n={n}, classes={classes}")
    if not np.isfinite(imbalance) or imbalance < 1:
        raise ValueError(f"imbalance must be >= 1 (largest class / smallest class), got {imbalance}")
    weights = imbalance ** (-np.arange(classes) / max(classes - 1, 1))
    raw = n * weights / weights.sum()
    sizes = np.maximum(np.floor(raw).astype(np.int64), 1)
    diff = n - int(sizes.sum())
    if diff > 0:  # hand the rest out by largest remainder
        sizes[np.argsort(-(raw - np.floor(raw)), kind="stable")[:diff]] += 1
    while diff < 0:  # the at-least-one floor overshot: take from the largest classes
        take = min(-diff, classes)
        sizes[np.argsort(-sizes, kind="stable")[:take]] -= 1
        diff += take
    return sizes


def make_embeddings(n: int, classes: int, dim: int, *, imbalance: float = 1.0, seed: int = 0,
                    test_per_class: int | None = None, separation: float = 3.0, scores: bool = False,
                    id_offset: int = 0) -> dict[str, np.ndarray]:
    """The arrays of an embeddings file: `n` training rows (long-tailed) plus a balanced test split."""
    if dim < 1:
        raise ValueError(f"dim must be >= 1, got {dim}")
    sizes = long_tailed_sizes(n, classes, imbalance)
    per_test = max(1, round(0.2 * n / classes)) if test_per_class is None else int(test_per_class)
    rng = np.random.default_rng(seed)
    means = (rng.standard_normal((classes, dim), dtype=np.float32) * np.float32(separation / np.sqrt(dim)))
    spread = np.exp(rng.normal(0.0, 0.25, classes)).astype(np.float32)
    labels = np.concatenate([np.repeat(np.arange(classes), sizes), np.repeat(np.arange(classes), per_test)])
    is_test = np.concatenate([np.zeros(n, bool), np.ones(classes * per_test, bool)])
    order = rng.permutation(labels.size)
    labels, is_test = labels[order].astype(np.int64), is_test[order]
    features = np.empty((labels.size, dim), dtype=np.float32)
    dist = np.empty(labels.size, dtype=np.float64) if scores else None
    for start in range(0, labels.size, _CHUNK):
        y = labels[start:start + _CHUNK]
        block = features[start:start + y.size]
        rng.standard_normal(out=block, dtype=np.float32)
        block *= spread[y, None]
        if dist is not None:
            dist[start:start + y.size] = np.sqrt(np.einsum("ij,ij->i", block, block, dtype=np.float64))
        block += means[y]
    out = {"features": features, "labels": labels, "is_test": is_test,
           "class_names": np.array([f"class_{c:0{len(str(classes - 1))}d}" for c in range(classes)]),
           "ids": np.arange(labels.size, dtype=np.int64) + int(id_offset)}
    if dist is not None:
        out["scores"] = dist
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, required=True, help="training rows")
    ap.add_argument("--classes", type=int, required=True)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--imbalance", type=float, default=1.0, help="largest / smallest training class (Cui et al.)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--test-per-class", type=int, default=None)
    ap.add_argument("--separation", type=float, default=3.0, help="class-mean scale in noise units")
    ap.add_argument("--scores", action="store_true", help="also write a per-row difficulty score")
    ap.add_argument("--out", type=Path, required=True, help="output .npz")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    arrays = make_embeddings(args.n, args.classes, args.dim, imbalance=args.imbalance, seed=args.seed,
                             test_per_class=args.test_per_class, separation=args.separation, scores=args.scores)
    t1 = time.perf_counter()
    out = args.out if args.out.suffix == ".npz" else args.out.with_suffix(args.out.suffix + ".npz")
    np.savez(out, **arrays)
    print(f"{out}: {arrays['labels'].size} rows x {args.dim} ({int((~arrays['is_test']).sum())} train), "
          f"{args.classes} classes; generated in {t1 - t0:.1f} s, written in {time.perf_counter() - t1:.1f} s",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
