"""Page 2: per-sample difficulty per class and the (winsorized) class difficulty of SPEC section 1."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from coreset_core import app_state as S
from pages._studio import (class_color, class_names, current_config, difficulty, plotly, prepared,
                           winsor_sliders)

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


@st.cache_resource(show_spinner=False, max_entries=16)
def box_stats(key: tuple, score: str, _d, _labels, _names):
    return S.score_box_stats(_d, _labels, _names)


@st.cache_resource(show_spinner=False, max_entries=16)
def violin_points(key: tuple, score: str, per_class: int, _labels):
    return S.per_class_sample(_labels, per_class, seed=0)


frame = S.difficulty_frame(d, labels, names, (lo, hi))
low_q, high_q = S.winsor_limits(d, labels, (lo, hi), C) if (lo or hi) else (None, None)

# --- class-difficulty bar chart: mean and winsorized mean side by side
fig = go.Figure([
    go.Bar(name="mean", x=frame["class"], y=frame["mean"], marker_color="#9ecae1"),
    go.Bar(name=f"winsorized mean ({100 * lo:g} % / {100 * hi:g} %)", x=frame["class"], y=frame["winsorized"],
           marker_color="#08519c"),
])
fig.update_layout(title="Class difficulty: mean vs winsorized mean", barmode="group", xaxis_title="class",
                  yaxis_title=f"class difficulty ({cfg.score})", height=380, margin=dict(t=50, b=40),
                  legend=dict(orientation="h", y=1.02, x=1, xanchor="right", yanchor="bottom"))
plotly(fig, key="difficulty_bars")

# --- per-sample distributions per class
left, right = st.columns([1, 3])
kind = left.radio("Distribution as", ["box", "violin"], horizontal=True, key="diff_kind")
left.caption("Box: quartiles and 1.5 IQR whiskers over every sample. Violin: a seeded sample of up to 1,000 "
             "per class. Markers: the winsorization clip limits of each class.")
stats = box_stats(cfg.key(), cfg.score, d, labels, tuple(names))
dist = go.Figure()
if kind == "box":
    dist.add_trace(go.Box(
        name="score", x=list(stats["class"]), q1=stats["q1"], median=stats["median"], q3=stats["q3"],
        lowerfence=stats["lowerfence"], upperfence=stats["upperfence"], mean=stats["mean"],
        marker_color="#6baed6", boxpoints=False, showlegend=False))
else:
    pts = violin_points(cfg.key(), cfg.score, 1000, labels)
    for k in range(C):
        sel = pts[labels[pts] == k]
        dist.add_trace(go.Violin(x=[names[k]] * sel.size, y=d[sel], name=names[k], line_color=class_color(k),
                                 box_visible=True, meanline_visible=True, points=False, showlegend=False))
if low_q is not None:
    dist.add_trace(go.Scatter(x=names, y=low_q, mode="markers", name="lower clip",
                              marker=dict(symbol="line-ew-open", size=28, color="#d62728", line=dict(width=3))))
    dist.add_trace(go.Scatter(x=names, y=high_q, mode="markers", name="upper clip",
                              marker=dict(symbol="line-ew-open", size=28, color="#d62728", line=dict(width=3))))
dist.update_layout(title="Per-sample difficulty by class", xaxis_title="class", yaxis_title=cfg.score, height=420,
                   margin=dict(t=50, b=40))
with right:
    plotly(dist, key="difficulty_dist")

shown = frame.rename(columns={"mean": "mean difficulty", "winsorized": "winsorized mean",
                              "change_%": "change (%)", "rank": "rank (1 = hardest)"})
st.dataframe(shown.style.format({"mean difficulty": "{:.4f}", "winsorized mean": "{:.4f}", "change (%)": "{:+.1f}"}),
             hide_index=True)

# --- hardest / easiest examples of one class
st.subheader("Hardest and easiest examples")
c1, c2 = st.columns([2, 1])
cls = c1.selectbox("Class", list(range(C)), format_func=lambda k: names[k], key="diff_class")
k = c2.slider("Examples", 4, 16, 8, key="diff_examples")


@st.cache_resource(show_spinner=False, max_entries=64)
def examples(key: tuple, score: str, cls: int, k: int, _d, _labels, _prep):
    hard, easy = S.extreme_examples(_d, _labels, cls, k)
    split = _prep.dataset.train
    return ([(int(i), split.image(int(i))) for i in hard], [(int(i), split.image(int(i))) for i in easy])


hard, easy = examples(cfg.key(), cfg.score, int(cls), int(k), d, labels, prep)
size = 72
for title, items in (("Hardest (highest score)", hard), ("Easiest (lowest score)", easy)):
    st.markdown(f"**{title}**")
    st.image([img.resize((size, size)) for _, img in items],
             caption=[f"#{i}: {d[i]:.3f}" for i, _ in items], width=size)
