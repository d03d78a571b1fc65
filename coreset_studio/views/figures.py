"""Plotly figure specs of the studio's charts, as plain dicts `{"data": [...], "layout": {...}}`.

Plain dicts instead of `plotly.graph_objects`: building a validated figure costs
milliseconds per trace, which dominated the slider-driven pages; the studio sends these
specs as they are. Every function is pure, so a chart's numbers can be tested without a
browser.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from coreset_studio.text import plot_text, sample_name
from coreset_studio.views.colors import MAGMA, class_color

Spec = dict[str, Any]

#: Colours of up to three compared series (e.g. NUCS, uniform, a global method).
SERIES_COLORS = ("#08519c", "#9ecae1", "#e6550d")
_MARGIN = {"t": 50, "b": 40}


class SpecFigure(go.Figure):
    """A plotly figure that hands a finished spec over as it is: `st.plotly_chart` takes a figure's
    `to_dict()` without validating it again, and no property is validated on the way in."""

    def __init__(self, spec: Spec):  # noqa: D107 (no BaseFigure.__init__ on purpose: no validation)
        object.__setattr__(self, "_spec", spec)

    def to_dict(self) -> Spec:
        return self._spec

    def to_plotly_json(self) -> Spec:
        return self._spec


def as_figure(spec: Spec) -> SpecFigure:
    """`spec` (`{"data": [...], "layout": {...}}`) as a figure object for `st.plotly_chart`."""
    return SpecFigure(spec)


def _list(values: Any) -> list:
    return values if isinstance(values, list) else np.asarray(values).tolist()


def bar_chart(x: Sequence[Any], series: Mapping[str, tuple[Any, str]], *, title: str, ytitle: str,
              xtitle: str = "class", height: int = 360, **layout: Any) -> Spec:
    """Grouped bars: `series` maps a legend label to `(values, colour)`; `layout` adds layout keys."""
    data = [{"type": "bar", "name": label, "x": list(x), "y": _list(values), "marker": {"color": color}}
            for label, (values, color) in series.items()]
    return {"data": data, "layout": {"title": {"text": title}, "barmode": "group", "height": height,
                                     "xaxis": {"title": {"text": xtitle}, "type": "category"},
                                     "yaxis": {"title": {"text": ytitle}}, "margin": _MARGIN, **layout}}


def budget_curves(tables: Mapping[str, Any], titles: Sequence[str], class_names: Sequence[str], rate: float,
                  view: str = "lines") -> Spec:
    """Side-by-side panels (one per table: classes x rates of kept fractions) as lines or heatmaps,
    with the chosen `rate` marked on every line panel."""
    width = (1 - 2 * 0.04) / len(tables)
    data: list[dict] = []
    layout: dict = {"height": 430, "margin": {"t": 60, "b": 40}, "legend": {"title": {"text": "class"}},
                    "annotations": [], "shapes": []}
    for j, (label, table) in enumerate(tables.items(), start=1):
        ax, x0 = ("" if j == 1 else str(j)), (j - 1) * (width + 0.04)
        x, values, axes = [round(100 * float(r), 6) for r in table.columns], table.to_numpy(), {"xaxis": f"x{ax}",
                                                                                             "yaxis": f"y{ax}"}
        layout[f"xaxis{ax}"] = {"domain": [x0, x0 + width], "anchor": f"y{ax}", "title": {"text": "pruning rate (%)"}}
        layout[f"yaxis{ax}"] = {"anchor": f"x{ax}", **({} if j == 1 else {"matches": "y", "showticklabels": False})}
        layout["annotations"].append({"text": titles[j - 1], "x": x0 + width / 2, "y": 1.0, "xref": "paper",
                                      "yref": "paper", "xanchor": "center", "yanchor": "bottom", "showarrow": False})
        if view == "lines":
            data += [{"type": "scatter", "x": x, "y": values[k].tolist(), "mode": "lines", "name": name, **axes,
                      "legendgroup": name, "showlegend": j == 1, "line": {"color": class_color(k)},
                      "hovertemplate": f"{plot_text(name)}<br>prune %{{x:.0f}} %<br>kept %{{y:.1%}}"
                                       f"<extra>{label}</extra>"}
                     for k, name in enumerate(class_names)]
            layout["shapes"].append({"type": "line", "x0": 100 * rate, "x1": 100 * rate, "xref": f"x{ax}", "y0": 0,
                                     "y1": 1, "yref": f"y{ax} domain", "line": {"dash": "dash", "color": "#444"}})
        else:
            data.append({"type": "heatmap", "z": values.tolist(), "x": x, "y": list(class_names), "zmin": 0, "zmax": 1,
                         "colorscale": "Viridis", "showscale": j == len(tables), **axes,
                         "colorbar": {"title": {"text": "kept"}},
                         "hovertemplate": "class %{y}<br>prune %{x:.0f} %<br>kept %{z:.1%}<extra></extra>"})
            layout[f"yaxis{ax}"].update({"type": "category", "autorange": "reversed"})
    layout["yaxis"]["title"] = {"text": "kept fraction of the class" if view == "lines" else "class"}
    return {"data": data, "layout": layout}


def _window_rects(bounds: Any, half: float, line: dict, fill: str | None = None) -> list[dict]:
    rects = []
    for c, (x0, x1) in enumerate(zip(bounds["start_frac"], bounds["end_frac"])):
        rect = {"type": "rect", "x0": float(x0), "x1": float(x1), "y0": c - half, "y1": c + half, "line": line}
        rects.append({**rect, "fillcolor": fill} if fill else rect)
    return rects


def window_strips(strips: np.ndarray, class_names: Sequence[str], bounds: Any, endpoint: float, score: str,
                  krr_bounds: Any = None) -> Spec:
    """Each class's sorted difficulty as a strip, the kept window as a box (and the KRR choice dotted)."""
    shapes = _window_rects(bounds, 0.42, {"color": "#00e5ff", "width": 3}, "rgba(0,229,255,0.12)")
    if krr_bounds is not None:
        shapes += _window_rects(krr_bounds, 0.46, {"color": "#ffffff", "width": 1.5, "dash": "dot"})
    bins = strips.shape[1]
    return {"data": [{"type": "heatmap", "z": strips.tolist(), "x": ((np.arange(bins) + 0.5) / bins).tolist(),
                      "y": list(class_names), "colorscale": MAGMA, "colorbar": {"title": {"text": score}},
                      "hovertemplate": "class %{y}<br>position %{x:.2f}<br>difficulty %{z:.3f}<extra></extra>"}],
            "layout": {"title": {"text": f"Sorted difficulty per class (easy → hard) with the kept window at "
                                         f"k = {endpoint:.2f}"},
                       "xaxis": {"title": {"text": "position in the class, sorted by difficulty (fraction)"},
                                 "range": [0, 1]}, "yaxis": {"autorange": "reversed", "type": "category"},
                       "shapes": shapes, "height": 60 + 38 * len(class_names) + 80, "margin": _MARGIN}}


def krr_curve(endpoints: Any, accuracies: Any, chosen: float, shown: float) -> Spec:
    """The KRR proxy accuracy (percent) against the endpoint, the KRR choice starred, `shown` dashed."""
    acc = 100 * np.asarray(accuracies, dtype=float)
    return {"data": [{"type": "scatter", "x": _list(endpoints), "y": acc.tolist(), "mode": "lines+markers",
                      "name": "KRR accuracy", "line": {"color": "#08519c"}},
                     {"type": "scatter", "x": [chosen], "y": [float(acc.max())], "mode": "markers",
                      "name": f"KRR choice k = {chosen:.2f}",
                      "marker": {"size": 14, "color": "#e6550d", "symbol": "star"}}],
            "layout": {"title": {"text": "KRR proxy accuracy (whole training set) vs window endpoint"},
                       "xaxis": {"title": {"text": "endpoint k"}}, "yaxis": {"title": {"text": "accuracy (%)"}},
                       "shapes": [{"type": "line", "x0": shown, "x1": shown, "y0": 0, "y1": 1, "yref": "paper",
                                   "line": {"dash": "dash", "color": "#444"}}], "height": 340, "margin": _MARGIN}}


#: The difficulty colour bar of the embedding map: the lower 70 % of the right edge, its title beside it,
#: so the kept / pruned legend above it (top right) never covers the title.
EMBEDDING_COLORBAR = {"len": 0.7, "y": 0.0, "yanchor": "bottom"}


def embedding_traces(xy: np.ndarray, indices: np.ndarray, labels: np.ndarray, kept: np.ndarray,
                     difficulty: np.ndarray, class_names: Sequence[str], *, color_by: str, grey_pruned: bool,
                     score: str, ids: Sequence[Any] | None = None) -> list[dict]:
    """Scattergl traces of drawn points (`indices` into the training set, `xy` their coordinates,
    `kept` a mask): coloured by class, difficulty or kept/pruned; each point's `customdata` is
    `[sample index, difficulty]` (what a chart selection reports back); its hover names the sample
    by its original id (`ids`, one per drawn point; the index when not given) and its class."""
    size = 8 if indices.size <= 2000 else (5 if indices.size <= 10000 else 3)
    custom = np.column_stack([indices, np.round(difficulty, 4)])
    names = [sample_name(i) for i in (indices if ids is None else ids)]
    text = np.asarray([f"{n}, {c}" for n, c in zip(names, np.asarray(class_names, dtype=object)[labels])], dtype=object)
    hover = "image %{text}<br>difficulty %{customdata[1]:.4f}<extra>%{fullData.name}</extra>"

    def points(mask: np.ndarray, name: str, marker: dict) -> dict:
        return {"type": "scattergl", "mode": "markers", "name": name, "x": xy[mask, 0].tolist(),
                "y": xy[mask, 1].tolist(), "customdata": custom[mask].tolist(), "text": text[mask].tolist(),
                "hovertemplate": hover, "marker": marker}

    grey = grey_pruned and color_by != "kept / pruned"
    traces = [points(~kept, "pruned", {"size": max(2, size - 2), "color": "#cccccc", "opacity": 0.6})] if grey else []
    base = kept if grey else np.ones(indices.size, dtype=bool)
    if color_by == "class" and len(class_names) > 20:  # one trace, class as a colour (legend: names on hover)
        return traces + [points(base, "samples", {"size": size, "color": labels[base].tolist(), "colorscale": "Turbo",
                                                  "opacity": 0.85, "showscale": False})]
    if color_by == "class":
        return traces + [points(base & (labels == k), name, {"size": size, "color": class_color(k), "opacity": 0.85})
                         for k, name in enumerate(class_names)]
    if color_by == "difficulty":
        return traces + [points(base, "kept" if grey else "samples", {
            "size": size, "color": difficulty[base].tolist(), "colorscale": MAGMA, "opacity": 0.85,
            "colorbar": EMBEDDING_COLORBAR | {"title": {"text": score, "side": "right"}}})]
    return [points(m, name, {"size": size, "color": col, "opacity": 0.8})
            for name, m, col in (("pruned", ~kept, "#cccccc"), ("kept", kept, "#d62728"))]


def histogram_overlay(hist: Any, series: Mapping[str, tuple[str, str]], *, title: str, xtitle: str) -> Spec:
    """Overlaid bars of `shared_histogram` columns: `series` maps a column to `(legend label, colour)`;
    the first series is drawn faint (the reference, e.g. all samples)."""
    width = _list(hist["bin_right"] - hist["bin_left"])
    data = [{"type": "bar", "x": _list(hist["bin_centre"]), "y": _list(hist[column]), "name": label, "width": width,
             "marker": {"color": color}, "opacity": 0.45 if j == 0 else 0.7}
            for j, (column, (label, color)) in enumerate(series.items())]
    return {"data": data, "layout": {"title": {"text": title}, "barmode": "overlay", "height": 360,
                                     "xaxis": {"title": {"text": xtitle}}, "margin": _MARGIN,
                                     "yaxis": {"title": {"text": "fraction of the set"}, "tickformat": ".0%"}}}


def score_distribution(names: Sequence[str], score: str, *, box: Any = None, violins: Sequence[Sequence[float]] = (),
                       clips: Mapping[str, Any] | None = None) -> Spec:
    """Per-class distribution of a score: a box per class from precomputed statistics (`box`, a frame with
    q1, median, q3, lowerfence, upperfence, mean), or violins of sampled values; `clips` adds markers
    (`{name: per-class values}`, e.g. the winsorization limits)."""
    if box is not None:
        data = [{"type": "box", "name": "score", "x": list(names), "showlegend": False, "boxpoints": False,
                 "marker": {"color": "#6baed6"},
                 **{f: _list(box[f]) for f in ("q1", "median", "q3", "lowerfence", "upperfence", "mean")}}]
    else:
        data = [{"type": "violin", "x": [names[k]] * len(y), "y": list(y), "name": names[k], "showlegend": False,
                 "line": {"color": class_color(k)}, "box": {"visible": True}, "meanline": {"visible": True},
                 "points": False} for k, y in enumerate(violins)]
    data += [{"type": "scatter", "x": list(names), "y": _list(q), "mode": "markers", "name": name,
              "marker": {"symbol": "line-ew-open", "size": 28, "color": "#d62728", "line": {"width": 3}}}
             for name, q in (clips or {}).items()]
    return {"data": data, "layout": {"title": {"text": "Per-sample difficulty by class"}, "height": 420,
                                     "margin": _MARGIN, "xaxis": {"title": {"text": "class"}, "type": "category"},
                                     "yaxis": {"title": {"text": score}}}}


def accuracy_curves(stats: Any, *, title: str, ytitle: str, full_label: str = "full") -> Spec:
    """One line per method label (mean ± std over seeds, percent) against the pruning rate; the full-data
    runs as a dashed reference line. `stats` is `store.summary_frame` output."""
    full, others = stats[stats["method"] == full_label], stats[stats["method"] != full_label]
    data = [{"type": "scatter", "x": _list(100 * g["prune_rate"]), "y": _list(g["mean"]), "mode": "lines+markers",
             "name": label, "line": {"color": class_color(j)}, "customdata": _list(g["n"]),
             "error_y": {"type": "data", "array": _list(g["std"].fillna(0.0)), "visible": True},
             "hovertemplate": "%{y:.2f} % (n=%{customdata})"}
            for j, (label, g) in enumerate((lab, g.sort_values("prune_rate"))
                                           for lab, g in others.groupby("label", sort=False))]
    if not full.empty:
        v = float(full["mean"].iloc[0])
        data.append({"type": "scatter", "x": [0, 95], "y": [v, v], "mode": "lines", "name": f"full data {v:.1f} %",
                     "line": {"dash": "dash", "color": "#444"}})
    return {"data": data, "layout": {"title": {"text": title}, "height": 420, "margin": _MARGIN,
                                     "xaxis": {"title": {"text": "pruning rate (%)"}},
                                     "yaxis": {"title": {"text": ytitle}}}}


# ----------------------------------------------------------------------------- many classes (issue 12)

#: Above this many classes the per-class charts switch to their many-class forms.
MANY_CLASSES = 40


def ranked_classes(class_names: Sequence[str], series: Mapping[str, tuple[Any, str]], order: Sequence[int], *,
                   title: str, ytitle: str, highlight: Sequence[int] = (), height: int = 380) -> Spec:
    """Per-class values as lines over the classes ranked by `order` (hardest first): one point per
    class per series, a range slider to zoom, names on hover, `highlight`ed classes as labelled markers."""
    order = np.asarray(order, dtype=np.int64)
    names = np.asarray(class_names, dtype=object)[order].tolist()
    rank = (np.arange(order.size) + 1).tolist()
    data = [{"type": "scattergl", "mode": "lines", "name": label, "x": rank, "y": np.asarray(v, float)[order].tolist(),
             "text": names, "line": {"color": color}, "hovertemplate": "#%{x}: %{text}<br>%{y:.4f}<extra>%{fullData.name}"
                                                                       "</extra>"} for label, (v, color) in series.items()]
    if len(highlight):
        pos = np.flatnonzero(np.isin(order, np.asarray(highlight)))
        first = np.asarray(next(iter(series.values()))[0], float)[order]
        data.append({"type": "scatter", "mode": "markers+text", "name": "found", "x": (pos + 1).tolist(),
                     "y": first[pos].tolist(), "text": [names[p] for p in pos], "textposition": "top center",
                     "marker": {"size": 10, "color": "#e6550d", "symbol": "diamond"}})
    return {"data": data, "layout": {"title": {"text": title}, "height": height, "margin": _MARGIN,
                                     "xaxis": {"title": {"text": "class rank (1 = hardest)"},
                                               "rangeslider": {"visible": True, "thickness": 0.08}},
                                     "yaxis": {"title": {"text": ytitle}},
                                     "legend": {"orientation": "h", "y": 1.02, "x": 1, "xanchor": "right",
                                                "yanchor": "bottom"}}}


def _band_traces(x: list, bands: np.ndarray, axes: dict, color: str, show: bool) -> list[dict]:
    """min-max and 10-90 % filled bands plus the median line (bands: 5 x len(x))."""
    out = []
    for lo, hi, name, alpha in ((0, 4, "min - max", 0.15), (1, 3, "10 - 90 %", 0.3)):
        out.append({"type": "scatter", "x": x, "y": bands[lo].tolist(), "mode": "lines", "line": {"width": 0},
                    "showlegend": False, "hoverinfo": "skip", "legendgroup": name, **axes})
        out.append({"type": "scatter", "x": x, "y": bands[hi].tolist(), "mode": "lines", "line": {"width": 0},
                    "fill": "tonexty", "fillcolor": f"rgba(8,81,156,{alpha})", "name": f"classes {name}",
                    "legendgroup": name, "showlegend": show, **axes,
                    "hovertemplate": f"{name}: %{{y:.1%}}<extra></extra>"})
    out.append({"type": "scatter", "x": x, "y": bands[2].tolist(), "mode": "lines", "name": "median class",
                "line": {"color": color, "width": 2}, "legendgroup": "median", "showlegend": show, **axes,
                "hovertemplate": "median: %{y:.1%}<extra></extra>"})
    return out


def budget_bands(tables: Mapping[str, Any], titles: Sequence[str], class_names: Sequence[str], rate: float,
                 picked: Sequence[int]) -> Spec:
    """`budget_curves` for many classes: per panel the quantile bands over classes (min, 10 %, median,
    90 %, max) of the kept fraction against the pruning rate, plus one line per `picked` class."""
    from coreset_studio.views.many_classes import quantile_bands

    spec = budget_curves({k: t.iloc[:0] for k, t in tables.items()}, titles, [], rate, "lines")
    data: list[dict] = []
    for j, (label, table) in enumerate(tables.items(), start=1):
        ax = "" if j == 1 else str(j)
        axes = {"xaxis": f"x{ax}", "yaxis": f"y{ax}"}
        x, values = [round(100 * float(r), 6) for r in table.columns], table.to_numpy()
        data += _band_traces(x, quantile_bands(values), axes, "#08519c", j == 1)
        data += [{"type": "scatter", "x": x, "y": values[k].tolist(), "mode": "lines", "name": class_names[k],
                  "legendgroup": f"c{k}", "showlegend": j == 1, "line": {"color": class_color(i), "width": 1.5},
                  "hovertemplate": f"{plot_text(class_names[k])}<br>prune %{{x:.0f}} %<br>kept %{{y:.1%}}"
                                   f"<extra>{label}</extra>",
                  **axes} for i, k in enumerate(picked)]
    spec["data"] = data
    spec["layout"]["legend"] = {"title": {"text": f"{len(class_names):,} classes"}}
    return spec


def aggregated_heatmaps(tables: Mapping[str, Any], titles: Sequence[str], order: Sequence[int],
                        max_rows: int = 200) -> Spec:
    """`budget_curves(view="heatmap")` for many classes: rows in `order` (hardest first), consecutive
    classes averaged down to at most `max_rows` rows (labelled by their rank range)."""
    from coreset_studio.views.many_classes import aggregate_rows

    first = next(iter(tables.values()))
    rows, starts = aggregate_rows(first.to_numpy(), order, max_rows)
    labels = [f"#{a + 1}" if b - a == 1 else f"#{a + 1}-{b}" for a, b in zip(starts[:-1], starts[1:])]
    spec = budget_curves({k: t.iloc[:len(labels)] for k, t in tables.items()}, titles, labels, 0.0, "heatmap")
    for trace, table in zip(spec["data"], tables.values()):
        trace["z"] = aggregate_rows(table.to_numpy(), order, max_rows)[0].tolist()
        trace["hovertemplate"] = "classes %{y} (by difficulty)<br>prune %{x:.0f} %<br>kept %{z:.1%}<extra></extra>"
    spec["layout"]["yaxis"]["title"] = {"text": "classes by difficulty rank (hardest first)"}
    return spec


def _layout(title: str, xtitle: str, ytitle: str, height: int = 380, **extra: Any) -> dict[str, Any]:
    return {"title": {"text": title}, "height": height, "margin": _MARGIN, "xaxis": {"title": {"text": xtitle}},
            "yaxis": {"title": {"text": ytitle}}, **extra}


def line_chart(series: Sequence[tuple[Any, Any, str, str]], *, title: str, xtitle: str, ytitle: str,
               mode: str = "lines+markers", marks: Sequence[tuple[float, str, str]] = (), **layout: Any) -> Spec:
    """Lines from `(x, y, name, colour)` tuples; `marks` are dashed vertical lines `(x, label, colour)`."""
    data = [{"type": "scatter", "mode": mode, "x": _list(x), "y": _list(y), "name": name, "line": {"color": color}}
            for x, y, name, color in series]
    if marks:
        layout["shapes"] = [{"type": "line", "x0": x, "x1": x, "y0": 0, "y1": 1, "yref": "paper",
                             "line": {"dash": "dash", "color": c}} for x, _, c in marks]
        layout["annotations"] = [{"x": x, "y": 1.02, "yref": "paper", "text": t, "showarrow": False}
                                 for x, t, _ in marks]
    return {"data": data, "layout": _layout(title, xtitle, ytitle, **layout)}


def mean_std_bars(labels: Sequence[str], means: Any, stds: Any, *, title: str, xtitle: str, ytitle: str,
                  color: str = SERIES_COLORS[0]) -> Spec:
    """One bar per label with its standard deviation as an error bar (a missing std draws none)."""
    spread = np.nan_to_num(np.asarray(stds, dtype=np.float64), nan=0.0)
    return {"data": [{"type": "bar", "x": list(labels), "y": _list(means), "marker": {"color": color},
                      "error_y": {"type": "data", "array": spread.tolist(), "visible": True}}],
            "layout": _layout(title, xtitle, ytitle)}


def class_windows(class_names: Sequence[str], start: Any, end: Any, endpoint: float) -> Spec:
    """Each class's kept window `[start, end)` as a horizontal bar over its difficulty ranking (fractions)."""
    start, end = np.asarray(start, dtype=np.float64), np.asarray(end, dtype=np.float64)
    return {"data": [{"type": "bar", "orientation": "h", "y": list(class_names), "x": (end - start).tolist(),
                      "base": start.tolist(), "marker": {"color": SERIES_COLORS[0]}, "name": "kept window"}],
            "layout": _layout(f"Kept window of every class at k = {endpoint:.2f} (0 = easiest, 1 = hardest)",
                              "position in the class, sorted by difficulty", "class",
                              xaxis={"title": {"text": "position in the class, sorted by difficulty"},
                                     "range": [0, 1], "tickformat": ".0%"},
                              yaxis={"title": {"text": "class"}, "type": "category"})}


def overlap_heatmap(matrix: Any, *, title: str = "Jaccard overlap", height: int = 380) -> Spec:
    """A square selections x selections table (a DataFrame, values in [0, 1]) as an annotated heatmap."""
    z = np.asarray(matrix, dtype=np.float64)
    return {"data": [{"type": "heatmap", "z": z.tolist(), "x": list(matrix.columns), "y": list(matrix.index),
                      "zmin": 0, "zmax": 1, "colorscale": "Blues", "text": np.round(z, 2).tolist(),
                      "texttemplate": "%{text}"}],
            "layout": {"title": {"text": title}, "height": height, "margin": _MARGIN}}


def step_histograms(hist: Any, *, score: str, title: str, height: int = 340) -> Spec:
    """Step lines of binned counts per selection: `hist` has columns selection, left, right, count."""
    data = [{"type": "scatter", "mode": "lines", "line": {"shape": "hvh", "color": class_color(j)},
             "x": ((h["left"] + h["right"]) / 2).tolist(), "y": _list(h["count"]), "name": name}
            for j, (name, h) in enumerate(hist.groupby("selection", sort=False))]
    return {"data": data, "layout": _layout(title, score, "samples", height=height)}


def weight_boxes(per_class: Any, class_names: Sequence[str]) -> Spec:
    """Per-class boxes of per-sample weights from precomputed quartiles (`ReweightingView.per_class`)."""
    pc = per_class
    return {"data": [{"type": "box", "x": [class_names[c] for c in pc["class"]], "q1": _list(pc["q25"]),
                      "median": _list(pc["median"]), "q3": _list(pc["q75"]), "lowerfence": _list(pc["min"]),
                      "upperfence": _list(pc["max"]), "mean": _list(pc["mean"]), "name": "weights",
                      "marker": {"color": "#6baed6"}}],
            "layout": _layout("Per-sample weights by class", "class", "weight", height=360,
                              xaxis={"title": {"text": "class"}, "type": "category"})}


def coreset_copies(coreset: Any) -> Spec:
    """How many samples took each coreset sample's weight (`ReweightingView.coreset`), coloured by class."""
    return {"data": [{"type": "bar", "x": [str(i) for i in coreset["id"]], "y": _list(coreset["copies"]),
                      "marker": {"color": [class_color(int(c)) for c in coreset["class"]]},
                      "customdata": _list(coreset["weight"]),
                      "hovertemplate": "id %{x}: weight %{customdata:.3f}, %{y} samples"}],
            "layout": _layout(f"The coreset ({len(coreset)} samples): how many samples took each one's weight "
                              "(colour = class)", "coreset sample (original id)", "samples", height=340,
                              xaxis={"title": {"text": "coreset sample (original id)"}, "type": "category"})}


def embedding_map(traces: list[dict], *, projection: str, title: str) -> Spec:
    """The Embedding page's map: `embedding_traces` in a lasso-ready layout without tick labels."""
    return {"data": traces, "layout": {
        "title": {"text": title}, "height": 620, "margin": {"t": 50, "b": 30}, "dragmode": "lasso",
        "legend": {"itemsizing": "constant"},
        "xaxis": {"showticklabels": False, "title": {"text": f"{projection} 1"}},
        "yaxis": {"showticklabels": False, "title": {"text": f"{projection} 2"}}}}
