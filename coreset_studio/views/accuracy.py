"""The Accuracy page's data: the stored runs of one data setting and their per-class accuracies."""
from __future__ import annotations

import json
from typing import Any, Sequence

import numpy as np
import pandas as pd


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


def per_class_accuracy_frame(frame: pd.DataFrame, class_names: Sequence[str]) -> pd.DataFrame:
    """Mean per-class accuracy (percent) over the runs of each (method, prune_rate), with its sample std
    (`std`, NaN under two runs) and run count `n`; a class a run did not measure (null) is left out."""
    columns = ["method", "prune_rate", "class", "accuracy", "std", "n"]
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
        out += [(method, float(rate), class_names[k] if k < len(class_names) else str(k), 100.0 * float(m),
                 100.0 * float(sd), int(n)) for k, (m, sd, n) in enumerate(zip(mean, std, counts))]
    return pd.DataFrame(out, columns=columns)
