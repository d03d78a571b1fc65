"""The Accuracy page's data: the stored runs of one data setting and their per-class accuracies.

`per_class_accuracy_frame` averages each class's accuracy over the seeds of a (method, rate);
`pruning_cost` subtracts the full-data accuracy per class ("who pays for pruning");
`size_bins` / `binned_means` summarise per-class points over log-spaced class-size bins so a
chart stays readable at 1,000 classes. `sweep_form_plan` turns the page's sweep form into a
`SweepPlan` (its runs for the button, its `coreset sweep` line for the terminal).
"""
from __future__ import annotations

import json
from typing import Any, Sequence

import numpy as np
import pandas as pd

from coreset_core.experiments.sweep import SweepPlan


def _equal_or_null(column: pd.Series, value: Any) -> pd.Series:
    if value is None:
        return column.isna()
    if isinstance(value, float):
        return pd.Series(np.isclose(column.astype(float).fillna(np.nan), value), index=column.index)
    return column == value


def matching_runs(frame: pd.DataFrame, spec: Any, resolution: int | None = None) -> pd.DataFrame:
    """The rows of `frame` (a results store's `to_frame()`) made on the data setting `spec`.

    Dataset, imbalance, data seed, backbone, score and training-image limit must match;
    `resolution` (the effective input size) matches rows that stored it or left it empty.
    Test limit, scoring epochs and the training settings are left for the caller to choose.
    """
    if frame is None or frame.empty:
        return frame
    m = (frame["dataset"] == spec.dataset) & (frame["backbone"] == spec.backbone) & (frame["score"] == spec.score)
    m &= _equal_or_null(frame["imbalance"], None if spec.imbalance is None else float(spec.imbalance))
    m &= _equal_or_null(frame["limit_n"], spec.limit)
    if "data_seed" in frame:
        m &= frame["data_seed"].isna() | (frame["data_seed"] == spec.data_seed)
    if resolution is not None:
        m &= frame["resolution"].isna() | (frame["resolution"] == resolution)
    return frame[m]


def rows_of_setting(rows: pd.DataFrame, setting: dict[str, Any]) -> pd.DataFrame:
    """The rows whose columns equal `setting` (None matches an empty cell)."""
    for column, value in setting.items():
        rows = rows[rows[column].isna()] if value is None else rows[rows[column] == value]
    return rows


def per_class_accuracy_frame(frame: pd.DataFrame, class_names: Sequence[str],
                             class_sizes: Sequence[int] | None = None) -> pd.DataFrame:
    """Mean per-class accuracy (percent) over the runs of each (method, prune_rate), with its sample std
    (`std`, NaN under two runs) and run count `n`; a class a run did not measure (null) is left out.
    `class` is the class name, `class_id` its id, `n_train` its size in the full training set
    (`class_sizes`; empty when not given)."""
    columns = ["method", "prune_rate", "class", "class_id", "n_train", "accuracy", "std", "n"]
    sizes = None if class_sizes is None else np.asarray(class_sizes)
    if frame is None or frame.empty or "per_class_accuracy_json" not in frame.columns:
        return pd.DataFrame(columns=columns)
    out = []
    for (method, rate), group in frame.groupby(["method", "prune_rate"]):
        rows = []
        for text in group["per_class_accuracy_json"].dropna():
            try:
                values = json.loads(text) if isinstance(text, str) else text
                rows.append([np.nan if v is None else float(v) for v in values])
            except (TypeError, ValueError):
                continue
        if not rows:
            continue
        mat = np.full((len(rows), max(len(r) for r in rows)), np.nan)
        for i, r in enumerate(rows):
            mat[i, :len(r)] = r
        counts = np.sum(~np.isnan(mat), axis=0)
        mean = np.where(counts > 0, np.nansum(mat, axis=0) / np.maximum(counts, 1), np.nan)
        squares = np.nansum((mat - mean) ** 2, axis=0)
        std = np.where(counts > 1, np.sqrt(squares / np.maximum(counts - 1, 1)), np.nan)
        out += [(method, float(rate), class_names[k] if k < len(class_names) else str(k), k,
                 int(sizes[k]) if sizes is not None and k < sizes.size else None, 100.0 * float(m),
                 100.0 * float(sd), int(n)) for k, (m, sd, n) in enumerate(zip(mean, std, counts))]
    return pd.DataFrame(out, columns=columns)


def pruning_cost(per_class: pd.DataFrame, method: str, rate: float, full: str = "full") -> pd.DataFrame:
    """Per class: `method` at `rate` minus the full-data accuracy (percentage points), with the spread
    `std = sqrt(std_run^2 + std_full^2)` (0 where a side has one run); empty without full-data runs."""
    a = per_class[(per_class["method"] == method) & np.isclose(per_class["prune_rate"].astype(float), rate)]
    f = per_class[per_class["method"] == full]
    if a.empty or f.empty:
        return pd.DataFrame(columns=["class", "class_id", "n_train", "change", "std"])
    both = a.merge(f[["class_id", "accuracy", "std"]], on="class_id", suffixes=("", "_full"))
    spread = np.sqrt(both["std"].fillna(0.0) ** 2 + both["std_full"].fillna(0.0) ** 2)
    return pd.DataFrame({"class": both["class"], "class_id": both["class_id"], "n_train": both["n_train"],
                         "change": both["accuracy"] - both["accuracy_full"], "std": spread})


def size_bins(sizes: Sequence[int], max_bins: int = 10) -> np.ndarray:
    """At most `max_bins + 1` log-spaced edges covering the class sizes (one bin when all sizes are equal)."""
    n = np.asarray(sizes, dtype=np.float64)
    lo, hi = float(n.min()), float(n.max())
    if hi <= lo:
        return np.array([lo, hi + 1.0])
    return np.geomspace(lo, hi * (1 + 1e-9), int(max_bins) + 1)


def binned_means(sizes: Sequence[int], values: Sequence[float], edges: np.ndarray) -> pd.DataFrame:
    """Per non-empty bin `[edges[i], edges[i+1])`: the geometric centre, the mean of `values` (NaN ignored)
    and how many classes fall in it."""
    n, v = np.asarray(sizes, dtype=np.float64), np.asarray(values, dtype=np.float64)
    where = np.clip(np.searchsorted(edges, n, side="right") - 1, 0, edges.size - 2)
    out = []
    for b in np.unique(where):
        in_bin = (where == b) & np.isfinite(v)
        if in_bin.any():
            out.append((float(np.sqrt(edges[b] * edges[b + 1])), float(v[in_bin].mean()), int(in_bin.sum())))
    return pd.DataFrame(out, columns=["size", "mean", "classes"])


def sweep_form_plan(spec: Any, methods: Sequence[str], prune_rates: str, seeds: str, *, epochs: int,
                    train_budget: str) -> SweepPlan:
    """The sweep form's `SweepPlan`: linear probes of `methods` at the typed, comma-separated pruning
    rates and seeds, plus the full-data baseline per seed (ValueError names a bad value)."""
    return SweepPlan(spec, list(methods), prune_rates, seeds,
                     run_fields={"mode": "linear", "epochs": int(epochs), "train_budget": train_budget})
