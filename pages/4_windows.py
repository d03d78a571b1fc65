"""Page 4: difficulty windows inside each class and the KRR endpoint search (SPEC 3-4)."""
from __future__ import annotations

import numpy as np
import streamlit as st

from coreset_core import app_state as S
from pages._studio import (MAGMA, SpecFigure, class_names, class_sizes, current_config, difficulty, export_buttons,
                           lst, plotly, prepared, prune_slider, result_store, shared_slider, strips, winsor_sliders)

AUTO_MAX_SAMPLES = 20_000  # above this the KRR search waits for a click (it takes tens of seconds)

cfg = current_config()
prep = prepared(cfg)
names = class_names(prep)
C = len(names)
labels = np.asarray(prep.train.labels)
N = labels.shape[0]
d = difficulty(cfg.key(), cfg.score, prep)
sizes = class_sizes(cfg.key(), prep)

st.title("Difficulty windows")
st.caption("Each class is sorted from easiest to hardest; the coreset keeps a window of n_c consecutive samples "
           "ending at the same relative position k in every class (k = 1: the hardest n_c, small k: the easiest). "
           "NUCS picks k by fitting ridge regression on the frozen features of each candidate coreset and "
           "scoring it on the whole training set.")

top = st.columns([2, 2, 1])
with top[0]:
    lo, hi = winsor_sliders()
rate = prune_slider(top[1])
mode = top[2].radio("Budgets", ["nucs", "uniform"], horizontal=True, key="win_mode",
                    help="nucs: per-class widths proportional to difficulty x size; uniform: the same fraction "
                         "in every class (Best Window Selection)")

from coreset_core import allocate_budgets, class_difficulty, krr_window_search, window_select  # noqa: E402

class_diff = class_difficulty(d, labels, winsor=(lo, hi), num_classes=C)
budgets = allocate_budgets(class_diff, sizes, rate, mode=mode, min_per_class=1)


setting = (cfg.key(), cfg.score, lo, hi, rate, mode)
store = result_store("krr")
result = store["results"].get(setting)
if result is None:
    run_now = N <= AUTO_MAX_SAMPLES or st.button(
        f"Run the KRR endpoint search ({N:,} samples: this takes a while)", key="win_run_krr", type="primary")
    if run_now:
        with st.spinner("KRR endpoint search: fitting ridge regression for every candidate window..."):
            with store["lock"]:
                result = store["results"].get(setting)
                if result is None:
                    result = krr_window_search(prep.train.features, labels, d, budgets)
                    store["results"][setting] = result
                    while len(store["results"]) > 64:
                        store["results"].popitem(last=False)
        if N > AUTO_MAX_SAMPLES:
            st.rerun()  # redraw without the button

krr_k = float(result.best_endpoint) if result is not None else 1.0
c1, c2 = st.columns([1, 3])
override = c1.toggle("Override the endpoint", value=False, key="win_override",
                     help="Move the window yourself and see the coreset change.")
manual = override or result is None
if not manual:  # the slider follows the KRR choice until overridden
    st.session_state["w_win_endpoint"] = st.session_state["_keep_win_endpoint"] = round(krr_k, 2)
with c2:
    k_user = shared_slider("Window endpoint k", "win_endpoint", round(krr_k, 2), min_value=0.0, max_value=1.0,
                           step=0.01, disabled=not manual)
k = float(k_user) if manual else krr_k

kept = window_select(d, labels, budgets, k)
bounds = S.window_bounds(sizes, budgets, k)

# --- strips: sorted difficulty per class with the window
img = strips(cfg.key(), cfg.score, d, labels, C)
xs = ((np.arange(img.shape[1]) + 0.5) / img.shape[1]).tolist()
shapes = [{"type": "rect", "x0": float(bounds["start_frac"][c]), "x1": float(bounds["end_frac"][c]), "y0": c - 0.42,
           "y1": c + 0.42, "line": {"color": "#00e5ff", "width": 3}, "fillcolor": "rgba(0,229,255,0.12)"}
          for c in range(C)]
if override and result is not None and abs(k - krr_k) > 1e-9:
    kb = S.window_bounds(sizes, budgets, krr_k)
    shapes += [{"type": "rect", "x0": float(kb["start_frac"][c]), "x1": float(kb["end_frac"][c]), "y0": c - 0.46,
                "y1": c + 0.46, "line": {"color": "#ffffff", "width": 1.5, "dash": "dot"}} for c in range(C)]
plotly(SpecFigure([{"type": "heatmap", "z": img.tolist(), "x": xs, "y": list(names), "colorscale": MAGMA,
                    "colorbar": {"title": {"text": cfg.score}},
                    "hovertemplate": "class %{y}<br>position %{x:.2f}<br>difficulty %{z:.3f}<extra></extra>"}],
                  {"title": {"text": "Sorted difficulty per class (easy → hard) with the kept window at "
                                     f"k = {k:.2f}"},
                   "xaxis": {"title": {"text": "position in the class, sorted by difficulty (fraction)"},
                             "range": [0, 1]},
                   "yaxis": {"autorange": "reversed", "type": "category"}, "shapes": shapes,
                   "height": 60 + 38 * C + 80, "margin": {"t": 50, "b": 40}}), key="window_strips")

# --- KRR accuracy vs endpoint
if result is not None:
    acc = 100 * np.asarray(result.accuracies, dtype=float)
    plotly(SpecFigure([
        {"type": "scatter", "x": lst(result.endpoints), "y": acc.tolist(), "mode": "lines+markers",
         "name": "KRR accuracy", "line": {"color": "#08519c"}},
        {"type": "scatter", "x": [krr_k], "y": [float(acc.max())], "mode": "markers",
         "name": f"KRR choice k = {krr_k:.2f}", "marker": {"size": 14, "color": "#e6550d", "symbol": "star"}},
    ], {"title": {"text": "KRR proxy accuracy (whole training set) vs window endpoint"},
        "xaxis": {"title": {"text": "endpoint k"}}, "yaxis": {"title": {"text": "accuracy (%)"}},
        "shapes": [{"type": "line", "x0": k, "x1": k, "y0": 0, "y1": 1, "yref": "paper",
                    "line": {"dash": "dash", "color": "#444"}}],
        "height": 340, "margin": {"t": 50, "b": 40}}), key="window_krr")
else:
    st.info("The KRR endpoint search has not run for these settings yet; the window above uses the endpoint "
            "from the slider.")

m1, m2, m3, m4 = st.columns(4)
m1.metric("Coreset size", f"{kept.size:,}", help=f"of {N:,}")
m2.metric("Endpoint k", f"{k:.2f}", delta=None if result is None or not override else f"{k - krr_k:+.2f} vs KRR")
if result is not None:
    krr_kept = window_select(d, labels, budgets, krr_k)
    m3.metric("Overlap with the KRR choice", f"{100 * S.jaccard(kept, krr_kept):.1f} %", help="Jaccard index")
    acc_at = np.interp(k, result.endpoints, result.accuracies)
    m4.metric("KRR accuracy (interpolated)", f"{100 * acc_at:.2f} %")

table = bounds.copy()
table.insert(0, "class", names)
table["difficulty"] = class_diff
table["mean score kept"] = [float(d[kept[labels[kept] == c]].mean()) if budgets[c] else np.nan for c in range(C)]
table["mean score class"] = [float(d[labels == c].mean()) for c in range(C)]
fmt = {c: st.column_config.NumberColumn(format=f) for c, f in (
    ("start_frac", "%.3f"), ("end_frac", "%.3f"), ("difficulty", "%.4f"), ("mean score kept", "%.4f"),
    ("mean score class", "%.4f"))}
st.dataframe(table, hide_index=True, height=min(36 * (C + 1) + 3, 600), column_config=fmt)

config = {"method": "nucs" if mode == "nucs" else "nucs-uniform", "prune_rate": rate, "seed": 0,
          "budget": int(budgets.sum()), "num_samples": int(N),
          "params": {"winsor": [lo, hi], "endpoints": None, "ridge": 1.0, "min_per_class": 1},
          "score": cfg.score, "endpoint": k, "endpoint_source": "slider (override)" if manual else "krr",
          "class_budgets": budgets.tolist(), "data": dict(getattr(prep, "config", {}) or {})}
export_buttons(cfg, prep, kept, config, key="window")
