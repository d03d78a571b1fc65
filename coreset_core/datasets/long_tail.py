"""Long-tailed variants (Cui et al. 2019): class k keeps floor(N_max * I^(-k / (C - 1))) training samples."""
from __future__ import annotations

import math

import numpy as np

from .base import Dataset


def long_tail_counts(class_sizes: np.ndarray, imbalance: float) -> np.ndarray:
    """Per-class sample counts of the long-tailed variant (never more than a class has)."""
    c = len(class_sizes)
    n_max = int(np.max(class_sizes))
    wanted = np.array([math.floor(n_max * imbalance ** (-k / (c - 1))) if c > 1 else n_max for k in range(c)])
    return np.minimum(np.maximum(wanted, 1), class_sizes)


def make_long_tailed(base: Dataset, imbalance: float, seed: int = 0) -> Dataset:
    """The long-tailed variant of `base`: a seeded choice of training samples per class; test set unchanged."""
    if not (isinstance(imbalance, (int, float)) and math.isfinite(imbalance)) or imbalance < 1:
        raise ValueError(f"imbalance factor must be >= 1 (largest class / smallest class), got {imbalance!r}; "
                         "use e.g. 10 or 100")
    labels = base.train.labels
    counts = long_tail_counts(np.bincount(labels, minlength=base.num_classes), imbalance)
    rng = np.random.default_rng(seed)
    keep = np.sort(np.concatenate([
        rng.choice(np.flatnonzero(labels == k), size=int(n), replace=False) for k, n in enumerate(counts)
    ]))
    name = f"{base.name}-lt"
    return Dataset(
        name=name,
        identity=f"{base.identity}-lt{imbalance:g}-seed{seed}",
        class_names=base.class_names,
        train=base.train.subset(keep, source=f"{name} train (I={imbalance:g}, seed={seed})"),
        test=base.test,
        description=f"Long-tailed {base.name} with imbalance factor {imbalance:g} (class k keeps "
                    f"N_max * I^(-k/(C-1)) training images, seed {seed}); test set unchanged. {base.description}",
        native_size=base.native_size,
        config={**base.config, "name": name, "imbalance": float(imbalance), "lt_seed": int(seed),
                "class_counts": counts.tolist()},
        base=base,
        base_train_positions=keep,
    )
