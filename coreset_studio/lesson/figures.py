"""Plotly specs of the Lesson's charts (plain dicts, as `views.figures`), built from `lesson.steps` tables.

Each function takes the step's table and returns `{"data": [...], "layout": {...}}`, so the
page only lays charts out and a test can read every number without a browser.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from coreset_core.experiments.longtail import metric_label
from coreset_studio.views.figures import Spec

#: Colours of the plain and the winsorized mean in step c.
ESTIMATOR_COLORS = {"mean": "#e6550d", "winsorized": "#08519c"}
#: Two vertical markers closer than this share of the x range get one joint label.
SAME_SPOT = 0.03


def layout(title: str, xtitle: str, ytitle: str, **extra: Any) -> dict:
    """The lesson's common layout: title, axis titles, height."""
    return {"title": {"text": title}, "height": 380, "margin": {"t": 50, "b": 40},
            "xaxis": {"title": {"text": xtitle}}, "yaxis": {"title": {"text": ytitle}}, **extra}


def noise_curve(curve: pd.DataFrame, class_name: str) -> Spec:
    """Step c: share of the coreset the noisy budgets move, against the share of labels flipped."""
    data = [{"type": "scatter", "mode": "lines+markers", "name": f"{name} difficulty",
             "x": (100 * g["fraction"]).tolist(), "y": (100 * g["budget_error"]).tolist(),
             "customdata": g["flipped"].tolist(), "line": {"color": ESTIMATOR_COLORS.get(name, "#444")},
             "hovertemplate": "%{x:g} % flipped (%{customdata} labels)<br>%{y:.2f} % of the coreset moved"
                              "<extra>%{fullData.name}</extra>"}
            for name, g in curve.groupby("estimator", sort=False)]
    return {"data": data, "layout": layout(f"NUCS budgets on noisy labels against the clean budgets ({class_name}'s "
                                           "labels flipped)", f"share of {class_name}'s labels flipped (%)",
                                           "coreset moved between classes (%)")}


def difference_bars(diffs: pd.DataFrame, rate: float) -> Spec:
    """Step b: NUCS minus uniform budgets per metric (points), error bars the spread over seeds."""
    labels = [f"{metric_label(m).split(' (')[0]} ({n} seed{'s' * (n > 1)})" for m, n in zip(diffs["metric"],
                                                                                          diffs["n"])]
    colors = ["#31a354" if v >= 0 else "#d62728" for v in diffs["mean"]]
    data = [{"type": "bar", "x": labels, "y": diffs["mean"].tolist(), "marker": {"color": colors},
             "name": "NUCS - uniform", "customdata": np.column_stack([diffs["nucs"], diffs["uniform"]]).tolist(),
             "error_y": {"type": "data", "array": diffs["std"].fillna(0.0).tolist(), "visible": True},
             "hovertemplate": "%{y:+.2f} points<br>NUCS %{customdata[0]:.2f} %, uniform %{customdata[1]:.2f} %"
                              "<extra></extra>"}]
    zero = {"type": "line", "x0": 0, "x1": 1, "xref": "paper", "y0": 0, "y1": 0, "line": {"color": "#444"}}
    return {"data": data, "layout": layout(f"NUCS minus uniform budgets at {100 * rate:g} % pruning (mean ± std of "
                                           "the per-seed differences)", "metric", "difference (points)",
                                           shapes=[zero])}


def marker_annotations(marks: Sequence[tuple[float, str]], span: float) -> list[dict]:
    """Labels of vertical markers `(x, text)` above the plot: markers closer than `SAME_SPOT * span`
    share one label ("a = b"); the others alternate height so neighbouring labels never overlap."""
    groups: list[list[tuple[float, str]]] = []
    for x, text in sorted(marks):
        if groups and abs(x - groups[-1][0][0]) <= SAME_SPOT * span:
            groups[-1].append((x, text))
        else:
            groups.append([(x, text)])
    return [{"x": g[0][0], "y": 1.02 + 0.08 * (i % 2), "yref": "paper", "showarrow": False, "yanchor": "bottom",
             "text": " = ".join(t for _, t in g)} for i, g in enumerate(groups)]


def toy_chart(a: Any) -> Spec:
    """Step e: the toy model's three accuracy curves over f0, with eq. 6 and the worst-class optimum marked."""
    curves = [(a.paper_best, "paper's objective (eq. 4), best t", "#e6550d"),
              (a.fitted_mean, "fitted t: average accuracy", "#08519c"),
              (a.fitted_worst, "fitted t: worst-class accuracy", "#31a354")]
    data = [{"type": "scatter", "mode": "lines", "x": list(a.f0), "y": list(y), "name": name, "line": {"color": c}}
            for y, name, c in curves]
    marks = [(a.model.eq6_f0, "eq. 6", "#444"), (a.worst_optimum, "worst-class optimum", "#31a354")]
    span = float(a.f0[-1] - a.f0[0]) or 1.0
    shapes = [{"type": "line", "x0": x, "x1": x, "y0": 0, "y1": 1, "yref": "paper", "line": {"dash": "dash",
                                                                                            "color": c}}
              for x, _, c in marks]
    return {"data": data, "layout": layout(f"Two Gaussian classes (means 0 and 2), f = {a.model.f:g}: accuracy "
                                           "against the allocation", "f0 (kept ratio of class 0; f1 = 2f - f0)",
                                           "accuracy", shapes=shapes,
                                           annotations=marker_annotations([(x, t) for x, t, _ in marks], span),
                                           margin={"t": 80, "b": 40})}


__all__ = ["difference_bars", "layout", "marker_annotations", "noise_curve", "toy_chart"]
