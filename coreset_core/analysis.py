"""Kept-fraction tables: which share of every class a method keeps, across pruning rates.

Global methods (EL2N, CCS, Moderate, ...) decide the class fractions implicitly; on
long-tailed data this is where they differ most from class-aware allocations (NUCS,
uniform). `kept_fraction_table` makes that visible: rows are classes, columns pruning
rates, values the fraction of the class that survives.
"""
from __future__ import annotations

from typing import Any, Iterable

import numpy as np
import pandas as pd

from .validation import check_labels, check_prune_rate


def class_kept_fractions(indices: Any, labels: Any, num_classes: int | None = None) -> np.ndarray:
    """Fraction of each class `0..C-1` present in `indices` (kept count / class size)."""
    labels = check_labels(labels, num_classes)
    idx = np.asarray(indices, dtype=np.int64)
    if idx.ndim != 1:
        raise ValueError(f"indices must be a 1-D array of sample indices, got shape {idx.shape}")
    if idx.size and (idx.min() < 0 or idx.max() >= labels.shape[0]):
        raise ValueError(f"indices must lie in [0, {labels.shape[0]}), found {int(idx.min())}..{int(idx.max())}")
    if np.unique(idx).size != idx.size:
        raise ValueError("indices contain duplicates: a kept sample can only be counted once")
    c = int(labels.max()) + 1 if num_classes is None else int(num_classes)
    sizes = np.bincount(labels, minlength=c)
    kept = np.bincount(labels[idx], minlength=c)
    return kept / sizes


def kept_fraction_table(method: str, prune_rates: Iterable[float], *, labels: Any, scores: Any = None,
                        features: Any = None, seed: int = 0, **params: Any) -> pd.DataFrame:
    """Classes x pruning rates table of the fraction of each class that `method` keeps.

    Every cell comes from `coreset_core.methods.registry.run_method(method, prune_rate=...)`
    with the same inputs, seed and parameters. The index is named ``"class"`` (0..C-1), the
    columns ``"prune_rate"`` (the rates as given, as floats, in the given order).
    """
    from .methods import run_method  # importing the package registers every method

    rates = [check_prune_rate(r) for r in prune_rates]
    if not rates:
        raise ValueError("prune_rates is empty: give at least one pruning rate, e.g. [0.5, 0.9]")
    labels = check_labels(labels)
    c = int(labels.max()) + 1
    cols = {}
    for rate in rates:
        sel = run_method(method, prune_rate=rate, labels=labels, scores=scores, features=features, seed=seed,
                         **params)
        cols[rate] = class_kept_fractions(sel.indices, labels, c)
    table = pd.DataFrame(cols, index=pd.RangeIndex(c, name="class"))
    table.columns = pd.Index(list(cols), name="prune_rate", dtype=np.float64)
    return table
