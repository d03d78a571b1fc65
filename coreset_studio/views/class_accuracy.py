"""Figures of the Accuracy page's per-class view: accuracy against class size, and who pays for pruning.

Both put the class's size in the full training set on a log x axis, one point per class and
run group, so 10 or 1,000 classes draw the same number of traces. Past `MANY_CLASSES` classes
the points fade and a line of means over log-spaced size bins (`accuracy.binned_means`) carries
the reading; with few classes the cost chart is bars per class (largest class first) with
error bars (the spread over seeds).
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from coreset_studio.views.accuracy import binned_means, size_bins
from coreset_studio.views.colors import class_color
from coreset_studio.views.figures import MANY_CLASSES, Spec

_MARGIN = {"t": 50, "b": 40}


def _points(table: pd.DataFrame, y: str, name: str, color: str, many: bool, group: str) -> dict:
    return {"type": "scattergl" if many else "scatter", "mode": "markers", "name": name, "legendgroup": group,
            "x": table["n_train"].astype(float).tolist(), "y": table[y].astype(float).tolist(),
            "text": table["class"].astype(str).tolist(),
            "marker": {"color": color, "size": 5 if many else 9, "opacity": 0.35 if many else 0.9},
            "hovertemplate": "%{text}<br>%{x:,} training images<br>%{y:.1f}<extra>%{fullData.name}</extra>"}


def _bin_line(table: pd.DataFrame, y: str, edges: np.ndarray, name: str, color: str, group: str) -> dict:
    means = binned_means(table["n_train"], table[y], edges)
    return {"type": "scatter", "mode": "lines+markers", "name": f"{name}: mean per size bin", "legendgroup": group,
            "x": means["size"].tolist(), "y": means["mean"].tolist(), "customdata": means["classes"].tolist(),
            "line": {"color": color, "width": 3},
            "hovertemplate": "%{customdata} classes around %{x:,.0f} images<br>mean %{y:.1f}<extra></extra>"}


def _layout(title: str, ytitle: str, **extra: Any) -> dict:
    return {"title": {"text": title}, "height": 420, "margin": _MARGIN,
            "xaxis": {"title": {"text": "class size in the full training set (log)"}, "type": "log"},
            "yaxis": {"title": {"text": ytitle}}, **extra}


def accuracy_vs_size(groups: dict[str, pd.DataFrame], *, title: str) -> Spec:
    """One point per class (x: training images, log; y: accuracy %) for every labelled group
    (`per_class_accuracy_frame` rows of one method and rate); many classes add a binned-mean line."""
    many = max((len(t) for t in groups.values()), default=0) > MANY_CLASSES
    edges = size_bins(pd.concat(list(groups.values()))["n_train"]) if many and groups else None
    data = []
    for j, (label, table) in enumerate(groups.items()):
        data.append(_points(table, "accuracy", label, class_color(j), many, label))
        if many:
            data.append(_bin_line(table, "accuracy", edges, label, class_color(j), label))
    return {"data": data, "layout": _layout(title, "test accuracy (%)")}


def cost_chart(costs: dict[str, pd.DataFrame], *, title: str) -> Spec:
    """Change against full data per class (percentage points): bars per class with error bars (few
    classes, largest first) or points against class size with binned means and a zero line (many)."""
    many = max((len(t) for t in costs.values()), default=0) > MANY_CLASSES
    if not many:
        data = []
        for j, (label, table) in enumerate(costs.items()):
            t = table.sort_values(["n_train", "class_id"], ascending=[False, True])
            data.append({"type": "bar", "name": label, "x": [f"{c} ({n:,})" for c, n in zip(t["class"], t["n_train"])],
                         "y": t["change"].tolist(), "marker": {"color": class_color(j)},
                         "error_y": {"type": "data", "array": t["std"].fillna(0.0).tolist(), "visible": True}})
        return {"data": data, "layout": {"title": {"text": title}, "height": 420, "margin": _MARGIN,
                                         "barmode": "group", "yaxis": {"title": {"text": "change (points)"}},
                                         "xaxis": {"title": {"text": "class (training images), largest first"},
                                                   "type": "category"}}}
    edges = size_bins(pd.concat(list(costs.values()))["n_train"])
    data = []
    for j, (label, table) in enumerate(costs.items()):
        data += [_points(table, "change", label, class_color(j), True, label),
                 _bin_line(table, "change", edges, label, class_color(j), label)]
    zero = {"type": "line", "x0": 0, "x1": 1, "xref": "paper", "y0": 0, "y1": 0, "line": {"color": "#444", "dash": "dash"}}
    return {"data": data, "layout": _layout(title, "change (points)", shapes=[zero])}


def shown_groups(per_class: pd.DataFrame, methods: Sequence[str], rate: float, full: str = "full"
                 ) -> dict[str, pd.DataFrame]:
    """`{label: rows}` of the full-data runs and of each method at `rate` (labels "nucs at 90 %")."""
    out = {}
    f = per_class[per_class["method"] == full]
    if not f.empty:
        out["full data"] = f
    for m in methods:
        rows = per_class[(per_class["method"] == m) & np.isclose(per_class["prune_rate"].astype(float), rate)]
        if not rows.empty:
            out[f"{m} at {100 * rate:g} %"] = rows
    return out


__all__ = ["accuracy_vs_size", "cost_chart", "shown_groups"]
