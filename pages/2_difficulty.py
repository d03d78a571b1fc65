"""Page 2: per-sample difficulty per class and the (winsorized) class difficulty of SPEC section 1."""
from __future__ import annotations

import numpy as np
import streamlit as st

from coreset_core import app_state as S
from pages._studio import (SpecFigure, box_stats, class_color, class_names, current_config, difficulty,
                           extreme_images, lst, plotly, prepared, sorted_scores, violin_values, winsor_sliders)

cfg = current_config()
prep = prepared(cfg)
names = class_names(prep)
C = len(names)
labels = np.asarray(prep.train.labels)
d = difficulty(cfg.key(), cfg.score, prep)

st.title("Class difficulty")
st.caption(f"Score: **{S.SCORE_LABELS.get(cfg.score, cfg.score)}**, higher = harder. A class's difficulty is the "
           "mean of its samples' scores, each clipped to the class's own [q(lower), q(1 - upper)] quantiles "
           "(winsorized mean). Both limits 0 give the plain mean of the NUCS paper.")

lo, hi = winsor_sliders()


frame = S.difficulty_frame(d, labels, names, (lo, hi))
low_q, high_q = S.winsor_limits(d, labels, (lo, hi), C, presorted=sorted_scores(cfg.key(), cfg.score, d, labels, C)) \
    if (lo or hi) else (None, None)

# --- class-difficulty bar chart: mean and winsorized mean side by side
cats = list(names)
bars = [
    {"type": "bar", "name": "mean", "x": cats, "y": lst(frame["mean"]), "marker": {"color": "#9ecae1"}},
    {"type": "bar", "name": f"winsorized mean ({100 * lo:g} % / {100 * hi:g} %)", "x": cats,
     "y": lst(frame["winsorized"]), "marker": {"color": "#08519c"}},
]
plotly(SpecFigure(bars, {
    "title": {"text": "Class difficulty: mean vs winsorized mean"}, "barmode": "group", "height": 380,
    "xaxis": {"title": {"text": "class"}, "type": "category"},
    "yaxis": {"title": {"text": f"class difficulty ({cfg.score})"}}, "margin": {"t": 50, "b": 40},
    "legend": {"orientation": "h", "y": 1.02, "x": 1, "xanchor": "right", "yanchor": "bottom"}}),
    key="difficulty_bars")

# --- per-sample distributions per class
left, right = st.columns([1, 3])
kind = left.radio("Distribution as", ["box", "violin"], horizontal=True, key="diff_kind")
left.caption("Box: quartiles and 1.5 IQR whiskers over every sample. Violin: a seeded sample of up to 1,000 "
             "per class. Markers: the winsorization clip limits of each class.")
stats = box_stats(cfg.key(), cfg.score, d, labels, tuple(names))
traces: list[dict] = []
if kind == "box":
    traces.append({"type": "box", "name": "score", "x": cats, "q1": lst(stats["q1"]), "median": lst(stats["median"]),
                   "q3": lst(stats["q3"]), "lowerfence": lst(stats["lowerfence"]),
                   "upperfence": lst(stats["upperfence"]), "mean": lst(stats["mean"]),
                   "marker": {"color": "#6baed6"}, "boxpoints": False, "showlegend": False})
else:
    for k, y in enumerate(violin_values(cfg.key(), cfg.score, 1000, d, labels, C)):
        traces.append({"type": "violin", "x": [names[k]] * len(y), "y": y, "name": names[k],
                       "line": {"color": class_color(k)}, "box": {"visible": True},
                       "meanline": {"visible": True}, "points": False, "showlegend": False})
for name, q, on in (("lower clip", low_q, lo > 0), ("upper clip", high_q, hi > 0)):
    if q is not None and on:
        traces.append({"type": "scatter", "x": cats, "y": lst(q), "mode": "markers", "name": name,
                       "marker": {"symbol": "line-ew-open", "size": 28, "color": "#d62728", "line": {"width": 3}}})
with right:
    plotly(SpecFigure(traces, {
        "title": {"text": "Per-sample difficulty by class"}, "height": 420, "margin": {"t": 50, "b": 40},
        "xaxis": {"title": {"text": "class"}, "type": "category"}, "yaxis": {"title": {"text": cfg.score}}}),
        key="difficulty_dist")

shown = frame.rename(columns={"mean": "mean difficulty", "winsorized": "winsorized mean",
                              "change_%": "change (%)", "rank": "rank (1 = hardest)"})
st.dataframe(shown, hide_index=True, height=min(36 * (C + 1) + 3, 600), column_config={
    "mean difficulty": st.column_config.NumberColumn(format="%.4f"),
    "winsorized mean": st.column_config.NumberColumn(format="%.4f"),
    "change (%)": st.column_config.NumberColumn(format="%+.1f")})

# --- hardest / easiest examples of one class
st.subheader("Hardest and easiest examples")
c1, c2 = st.columns([2, 1])
cls = c1.selectbox("Class", list(range(C)), format_func=lambda k: names[k], key="diff_class")
k = c2.slider("Examples", 4, 16, 8, key="diff_examples")


size = 72
hard, easy = extreme_images(cfg.key(), cfg.score, int(cls), int(k), size, d, labels, prep)
for title, items in (("Hardest (highest score)", hard), ("Easiest (lowest score)", easy)):
    st.markdown(f"**{title}**")
    st.image([png for _, png in items], caption=[f"#{i}: {d[i]:.3f}" for i, _ in items], width=size)
