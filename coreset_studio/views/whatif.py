"""What-if comparisons: several selections on one data setting, or one method across data settings.

On one setting (`compare_selections` -> named index arrays): a Jaccard overlap matrix, the
kept count per class, difficulty histograms on shared bins, and (optionally, it trains)
linear-probe accuracy. Across settings (`across_settings`): the same method and rate under
two or more `Session`s (e.g. two imbalance factors or two backbones), per-class kept
fractions side by side. The charts of these tables are `figures.overlap_heatmap` and
`figures.step_histograms`.
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from coreset_core.validation import check_indices, check_labels
from coreset_studio.views.selections import jaccard


def _check_named(selections: Mapping[str, Any], n: int | None = None, minimum: int = 2) -> dict[str, np.ndarray]:
    if not isinstance(selections, Mapping) or len(selections) < minimum:
        raise ValueError(f"give at least {minimum} named selections to compare (name -> kept indices)")
    out = {}
    for name, idx in selections.items():
        if hasattr(idx, "indices"):  # a library Selection: `run_method` checked its indices (distinct, in range)
            arr = np.asarray(idx.indices, dtype=np.int64)
            if n is not None and arr.size and not 0 <= arr.min() <= arr.max() < n:
                raise ValueError(f"selection {name!r} was made on another data setting (indices outside [0, {n}))")
        elif n is None:
            arr = np.asarray(idx, dtype=np.int64)
            if arr.ndim != 1 or np.unique(arr).size != arr.size:
                raise ValueError(f"selection {name!r} must be a 1-D array of distinct sample indices")
        else:
            arr = check_indices(idx, n, name=f"selection {name!r}", allow_empty=True)
        out[str(name)] = arr
    return out


def jaccard_matrix(selections: Mapping[str, Any]) -> pd.DataFrame:
    """`|A & B| / |A | B|` for every pair of selections (1.0 on the diagonal; two empty sets: 1.0)."""
    sel = _check_named(selections, minimum=1)
    names = list(sel)
    out = np.ones((len(names), len(names)))
    for i, a in enumerate(names):
        for j in range(i + 1, len(names)):
            b = names[j]
            out[i, j] = out[j, i] = jaccard(sel[a], sel[b])
    return pd.DataFrame(out, index=pd.Index(names, name="selection"), columns=names)


def class_counts(selections: Mapping[str, Any], labels: Any, num_classes: int | None = None) -> pd.DataFrame:
    """Kept samples per class (rows) and selection (columns)."""
    y = check_labels(labels, num_classes)
    c = int(y.max()) + 1 if num_classes is None else int(num_classes)
    sel = _check_named(selections, y.shape[0], minimum=1)
    return pd.DataFrame({name: np.bincount(y[idx], minlength=c) for name, idx in sel.items()},
                        index=pd.RangeIndex(c, name="class"))


def difficulty_histograms(selections: Mapping[str, Any], difficulty: Any, bins: int = 20) -> pd.DataFrame:
    """Counts of each selection's samples per difficulty bin; the bins are shared (over all samples).

    Long table: selection, bin (0..bins-1), left, right, count.
    """
    d = np.asarray(difficulty, dtype=np.float64)
    if d.ndim != 1 or not np.all(np.isfinite(d)):
        raise ValueError("difficulty must be a 1-D array of finite numbers, one per training sample")
    if int(bins) < 1:
        raise ValueError(f"bins must be >= 1, got {bins}")
    sel = _check_named(selections, d.shape[0], minimum=1)
    edges = np.histogram_bin_edges(d, bins=int(bins))
    frames = [pd.DataFrame({"selection": name, "bin": np.arange(int(bins)), "left": edges[:-1], "right": edges[1:],
                            "count": np.histogram(d[idx], bins=int(bins), range=(edges[0], edges[-1]))[0]})
              for name, idx in sel.items()]
    return pd.concat(frames, ignore_index=True)


def selection_name(method: str, prune_rate: float, params: Mapping[str, Any] | None = None) -> str:
    """A readable, unique-enough label: `nucs @ 70%` or `nucs (winsor=(0.1, 0.1)) @ 70%`."""
    inner = ", ".join(f"{k}={v}" for k, v in sorted((params or {}).items()))
    return f"{method}{f' ({inner})' if inner else ''} @ {float(prune_rate) * 100:g}%"


def compare_selections(session, choices: Sequence[tuple[str, float] | tuple[str, float, Mapping[str, Any]]], *,
                       seed: int = 0, score: str | None = None) -> dict[str, Any]:
    """`{name: Selection}` for each `(method, prune_rate[, params])` on the session (memoised there), with
    the difficulty `score` (default: the session's)."""
    if len(choices) < 2:
        raise ValueError("choose at least two (method, pruning rate) pairs to compare")
    out = {}
    for choice in choices:
        method, rate, params = (tuple(choice) + ({},))[:3]
        out[selection_name(method, rate, params)] = session.select(method, rate, seed=seed, score=score,
                                                                   **dict(params))
    return out


def selection_accuracy(session, selections: Mapping[str, Any], *, seeds: Iterable[int] = (0,),
                       epochs: int = 30) -> pd.DataFrame:
    """Linear-probe accuracy of each selection (trains; memoised by the session): selection, seed, accuracy."""
    sel = _check_named(selections, session.labels.shape[0], minimum=1)
    rows = []
    for name, idx in sel.items():
        for seed in seeds:
            m = session.probe(idx, seed=int(seed), epochs=epochs).metrics
            rows.append({"selection": name, "seed": int(seed), "accuracy": float(m["accuracy"]),
                         "balanced_accuracy": float(m["balanced_accuracy"])})
    return pd.DataFrame(rows)


def across_settings(sessions: Mapping[str, Any], method: str, prune_rate: float, *, seed: int = 0,
                    **params: Any) -> pd.DataFrame:
    """The same method and rate under several data settings: per-class kept fraction side by side.

    Long table: setting, class, class_name, class_size, kept, kept_fraction.
    """
    if not isinstance(sessions, Mapping) or len(sessions) < 2:
        raise ValueError("give at least two named sessions (data settings) to compare")
    frames = []
    for label, session in sessions.items():
        sel = session.select(method, prune_rate, seed=seed, **params)
        sizes = session.class_sizes
        kept = np.bincount(session.labels[sel.indices], minlength=session.num_classes)
        frames.append(pd.DataFrame({"setting": str(label), "class": np.arange(session.num_classes),
                                    "class_name": session.class_names, "class_size": sizes, "kept": kept,
                                    "kept_fraction": kept / sizes}))
    return pd.concat(frames, ignore_index=True)


__all__ = ["across_settings", "class_counts", "compare_selections", "difficulty_histograms", "jaccard_matrix",
           "selection_accuracy", "selection_name"]
