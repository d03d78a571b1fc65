"""Page 3: per-class selection ratio vs pruning rate for NUCS, uniform and a global method (SPEC 2)."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from coreset_core import app_state as S
from pages._studio import (class_color, class_names, class_sizes, current_config, difficulty, export_buttons,
                           plotly, prepared, prune_slider, selection, selection_config, winsor_sliders)

cfg = current_config()
prep = prepared(cfg)
names = class_names(prep)
C = len(names)
labels = np.asarray(prep.train.labels)
d = difficulty(cfg.key(), cfg.score, prep)
sizes = class_sizes(cfg.key(), prep)
rates = list(S.RATE_GRID)

st.title("Per-class budgets")
st.caption("How many samples of each class survive pruning. **NUCS** gives class c the fraction "
           "(1 - rate) * S_c * N / sum_j S_j N_j (harder classes keep more); **uniform** keeps the same fraction "
           "of every class; a **global** method ranks all samples together, so its class fractions are whatever the "
           "ranking implies (hard-first EL2N starves easy classes, and on long-tailed data the rare classes).")

from coreset_core import method_specs  # noqa: E402

global_methods = [s.name for s in method_specs() if s.allocation == "global"]
top = st.columns([2, 2, 1])
with top[0]:
    lo, hi = winsor_sliders()
rate = prune_slider(top[1])
with top[2]:
    gm = st.selectbox("Global method", global_methods,
                      index=global_methods.index("el2n") if "el2n" in global_methods else 0, key="budget_global")
    view = st.radio("View", ["lines", "heatmap"], horizontal=True, key="budget_view")


@st.cache_resource(show_spinner="Running the global method at every pruning rate...", max_entries=16)
def global_table(key: tuple, method: str, score: str, rates: tuple, _prep):
    from coreset_core import kept_fraction_table

    d_ = np.asarray(_prep.scores.difficulty(score), dtype=np.float64)
    return kept_fraction_table(method, list(rates), labels=_prep.train.labels, scores=d_,
                               features=_prep.train.features, seed=0)


class_diff = S.difficulty_frame(d, labels, names, (lo, hi))["winsorized"].to_numpy()
nucs_counts = S.allocation_table(class_diff, sizes, rates, mode="nucs")
uni_counts = S.allocation_table(class_diff, sizes, rates, mode="uniform")
tables = {
    "NUCS": S.counts_to_fractions(nucs_counts, sizes),
    "uniform": S.counts_to_fractions(uni_counts, sizes),
    gm: global_table(cfg.key(), gm, cfg.score, tuple(rates), prep),
}

titles = [f"NUCS (difficulty-proportional, winsor {100 * lo:g}/{100 * hi:g} %)", "uniform",
          f"{gm} (global ranking)"]
fig = make_subplots(rows=1, cols=3, shared_yaxes=True, subplot_titles=titles, horizontal_spacing=0.04)
x = [100 * r for r in rates]
for j, (label, tab) in enumerate(tables.items(), start=1):
    if view == "lines":
        for k in range(C):
            fig.add_trace(go.Scatter(x=x, y=tab.iloc[k].to_numpy(), mode="lines", name=names[k],
                                     legendgroup=names[k], showlegend=(j == 1), line=dict(color=class_color(k)),
                                     hovertemplate=f"{names[k]}<br>prune %{{x:.0f}} %<br>kept %{{y:.1%}}<extra>{label}</extra>"),
                          row=1, col=j)
        fig.add_vline(x=100 * rate, line_dash="dash", line_color="#444", row=1, col=j)
    else:
        fig.add_trace(go.Heatmap(z=tab.to_numpy(), x=x, y=names, zmin=0, zmax=1, colorscale="Viridis",
                                 showscale=(j == 3), colorbar=dict(title="kept"),
                                 hovertemplate="class %{y}<br>prune %{x:.0f} %<br>kept %{z:.1%}<extra></extra>"),
                      row=1, col=j)
fig.update_xaxes(title_text="pruning rate (%)")
fig.update_yaxes(title_text="kept fraction of the class" if view == "lines" else "class", row=1, col=1)
fig.update_layout(height=430, margin=dict(t=60, b=40), legend=dict(title="class"))
plotly(fig, key="budget_curves")

# --- at the chosen pruning rate
sel = selection(cfg.key(), gm, float(rate), cfg.score, 0, (), prep)
at_rate = {"NUCS": nucs_counts[float(rate)].to_numpy(), "uniform": uni_counts[float(rate)].to_numpy(),
           gm: np.bincount(labels[sel.indices], minlength=C)}
bars = go.Figure([go.Bar(name=label, x=names, y=np.asarray(v) / sizes, marker_color=col)
                  for (label, v), col in zip(at_rate.items(), ["#08519c", "#9ecae1", "#e6550d"])])
bars.update_layout(title=f"Kept fraction per class at {100 * rate:g} % pruning", barmode="group", height=360,
                   yaxis_title="kept fraction", yaxis_tickformat=".0%", margin=dict(t=50, b=40))
plotly(bars, key="budget_at_rate")

st.dataframe(S.budget_counts_frame(names, sizes, class_diff, at_rate), hide_index=True)
starved = [names[k] for k in range(C) if at_rate[gm][k] == 0]
if starved:
    st.warning(f"At {100 * rate:g} % pruning, {gm} keeps no sample at all of: {', '.join(starved)}.")

with st.expander(f"Export the {gm} selection at {100 * rate:g} % pruning"):
    export_buttons(cfg, prep, sel.indices, selection_config(cfg, sel), key="budget_global")
    st.caption("NUCS coresets (window chosen by the KRR search) are exported from the Windows page.")
