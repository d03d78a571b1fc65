"""Page 3: per-class selection ratio vs pruning rate for NUCS, uniform and a global method (SPEC 2)."""
from __future__ import annotations

import numpy as np
import streamlit as st

from coreset_core import app_state as S
from pages._studio import (SpecFigure, class_color, class_names, class_sizes, current_config, difficulty,
                           export_buttons, global_table, plotly, prepared, prune_slider, selection, selection_config,
                           uniform_table, winsor_sliders)

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


class_diff = S.difficulty_frame(d, labels, names, (lo, hi))["winsorized"].to_numpy()
nucs_counts = S.allocation_table(class_diff, sizes, rates, mode="nucs")
uni_counts = uniform_table(cfg.key(), tuple(rates), sizes)
tables = {
    "NUCS": S.counts_to_fractions(nucs_counts, sizes),
    "uniform": S.counts_to_fractions(uni_counts, sizes),
    gm: global_table(cfg.key(), gm, cfg.score, tuple(rates), prep),
}

titles = [f"NUCS (difficulty-proportional, winsor {100 * lo:g}/{100 * hi:g} %)", "uniform",
          f"{gm} (global ranking)"]
x = [round(100 * r, 6) for r in rates]
gap, width = 0.04, (1 - 2 * 0.04) / 3
traces: list[dict] = []
layout: dict = {"height": 430, "margin": {"t": 60, "b": 40}, "legend": {"title": {"text": "class"}},
                "annotations": [], "shapes": []}
for j, (label, tab) in enumerate(tables.items(), start=1):
    ax = "" if j == 1 else str(j)
    x0 = (j - 1) * (width + gap)
    layout[f"xaxis{ax}"] = {"domain": [x0, x0 + width], "anchor": f"y{ax}", "title": {"text": "pruning rate (%)"}}
    layout[f"yaxis{ax}"] = {"anchor": f"x{ax}", **({} if j == 1 else {"matches": "y", "showticklabels": False})}
    layout["annotations"].append({"text": titles[j - 1], "x": x0 + width / 2, "y": 1.0, "xref": "paper",
                                  "yref": "paper", "xanchor": "center", "yanchor": "bottom", "showarrow": False,
                                  "font": {"size": 14}})
    values = tab.to_numpy()
    if view == "lines":
        for k in range(C):
            traces.append({"type": "scatter", "x": x, "y": values[k].tolist(), "mode": "lines", "name": names[k],
                           "legendgroup": names[k], "showlegend": j == 1, "line": {"color": class_color(k)},
                           "xaxis": f"x{ax}", "yaxis": f"y{ax}",
                           "hovertemplate": f"{names[k]}<br>prune %{{x:.0f}} %<br>kept %{{y:.1%}}"
                                            f"<extra>{label}</extra>"})
        layout["shapes"].append({"type": "line", "x0": 100 * rate, "x1": 100 * rate, "xref": f"x{ax}", "y0": 0,
                                 "y1": 1, "yref": f"y{ax} domain", "line": {"dash": "dash", "color": "#444"}})
    else:
        traces.append({"type": "heatmap", "z": values.tolist(), "x": x, "y": list(names), "zmin": 0, "zmax": 1,
                       "colorscale": "Viridis", "showscale": j == 3, "colorbar": {"title": {"text": "kept"}},
                       "xaxis": f"x{ax}", "yaxis": f"y{ax}",
                       "hovertemplate": "class %{y}<br>prune %{x:.0f} %<br>kept %{z:.1%}<extra></extra>"})
        layout[f"yaxis{ax}"].update({"type": "category", "autorange": "reversed"})
layout["yaxis"]["title"] = {"text": "kept fraction of the class" if view == "lines" else "class"}
plotly(SpecFigure(traces, layout), key="budget_curves")

# --- at the chosen pruning rate
sel = selection(cfg.key(), gm, float(rate), cfg.score, 0, (), prep)
at_rate = {"NUCS": nucs_counts[float(rate)].to_numpy(), "uniform": uni_counts[float(rate)].to_numpy(),
           gm: np.bincount(labels[sel.indices], minlength=C)}
bars = [{"type": "bar", "name": label, "x": list(names), "y": (np.asarray(v) / sizes).tolist(),
         "marker": {"color": col}} for (label, v), col in zip(at_rate.items(), ["#08519c", "#9ecae1", "#e6550d"])]
plotly(SpecFigure(bars, {"title": {"text": f"Kept fraction per class at {100 * rate:g} % pruning"},
                         "barmode": "group", "height": 360, "xaxis": {"type": "category", "title": {"text": "class"}},
                         "yaxis": {"title": {"text": "kept fraction"}, "tickformat": ".0%"},
                         "margin": {"t": 50, "b": 40}}), key="budget_at_rate")

st.dataframe(S.budget_counts_frame(names, sizes, class_diff, at_rate), hide_index=True,
             height=min(36 * (C + 2) + 3, 600))
starved = [names[k] for k in range(C) if at_rate[gm][k] == 0]
if starved:
    st.warning(f"At {100 * rate:g} % pruning, {gm} keeps no sample at all of: {', '.join(starved)}.")

with st.expander(f"Export the {gm} selection at {100 * rate:g} % pruning"):
    export_buttons(cfg, prep, sel.indices, selection_config(cfg, sel), key="budget_global")
    st.caption("NUCS coresets (window chosen by the KRR search) are exported from the Windows page.")
