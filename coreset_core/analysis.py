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

from .validation import check_indices, check_labels, check_prune_rate


def class_kept_fractions(indices: Any, labels: Any, num_classes: int | None = None) -> np.ndarray:
    """Fraction of each class `0..C-1` present in `indices` (kept count / class size)."""
    labels = check_labels(labels, num_classes)
    idx = check_indices(indices, labels.shape[0], allow_empty=True)
    c = int(labels.max()) + 1 if num_classes is None else int(num_classes)
    sizes = np.bincount(labels, minlength=c)
    kept = np.bincount(labels[idx], minlength=c)
    return kept / sizes


def kept_fraction_table(method: str, prune_rates: Iterable[float], *, labels: Any, scores: Any = None,
                        features: Any = None, seed: int = 0, **params: Any) -> pd.DataFrame:
    """Classes x pruning rates table of the fraction of each class that `method` keeps.

    Every cell is what `coreset_core.methods.run_method(method, prune_rate=...)` keeps with the
    same inputs, seed and parameters (the inputs are validated once for all rates). The index
    is named ``"class"`` (0..C-1), the columns ``"prune_rate"`` (the rates as given, as
    floats, in the given order).
    """
    from .methods import get_method  # importing the package registers every method
    from .methods.registry import _run_validated, check_cost, check_params, validated_inputs

    spec = get_method(method)
    check_params(spec, params)
    rates = [check_prune_rate(r) for r in prune_rates]
    if not rates:
        raise ValueError("prune_rates is empty: give at least one pruning rate, e.g. [0.5, 0.9]")
    labels = check_labels(labels)  # validated once for every rate
    scores, features = validated_inputs(spec, labels.shape[0], scores, features)
    c = int(labels.max()) + 1
    sizes = np.bincount(labels, minlength=c)
    cols = {}
    for rate in rates:
        check_cost(spec, rate, labels, features, params)
        sel = _run_validated(spec, rate, labels, scores, features, int(seed), params)
        cols[rate] = np.bincount(labels[sel.indices], minlength=c) / sizes
    table = pd.DataFrame(cols, index=pd.RangeIndex(c, name="class"))
    table.columns = pd.Index(list(cols), name="prune_rate", dtype=np.float64)
    return table
