"""Page 4: difficulty windows inside each class and the KRR endpoint search (SPEC 3-4)."""
from __future__ import annotations

import numpy as np
import streamlit as st

from coreset_studio.views import many_classes as M
from coreset_studio.views import windows as V
from coreset_studio.views.class_stats import sorted_strips
from coreset_studio.views import figures as F
from coreset_studio.views.selections import jaccard
from coreset_studio.widgets import (bound, command_line, downloads, krr_search_gate, plotly,
                                    selection_header)
from coreset_studio.sidebar import page_session

MAX_STRIPS = 40  # classes drawn as strips at once

s, session = page_session()
score, names, C, N = s.spec.score, session.class_names, session.num_classes, int(session.labels.shape[0])

st.title("Difficulty windows")
st.caption("Each class is sorted from easiest to hardest; the coreset keeps a window of n_c consecutive samples "
           "ending at the same relative position k in every class (k = 1: the hardest n_c, small k: the easiest). "
           "NUCS picks k by fitting ridge regression on the frozen features of each candidate coreset and "
           "scoring it on the whole training set.")
winsor, rate, mode = selection_header(lambda: bound(
    st.radio, "Budgets", "budget_mode", key="win_mode", options=["nucs", "uniform"], horizontal=True,
    help="nucs: per-class widths proportional to difficulty x size; uniform: the same fraction in every class "
         "(Best Window Selection)"))

search = krr_search_gate(session, rate, mode=mode, score=score, winsor=winsor, key="win_run_krr")
with st.spinner("KRR endpoint search: fitting ridge regression for every candidate window..."):
    krr = V.krr_selection(session, rate, score=score, winsor=winsor, mode=mode) if search else None
krr_k = None if krr is None else float(krr.info["best_endpoint"])

c1, c2 = st.columns([1, 3])
with c1:
    override = bound(st.toggle, "Override the endpoint", "endpoint", key="win_override",
                     to_widget=lambda e: e is not None, help="Move the window yourself and see the coreset change.",
                     from_widget=lambda on: (1.0 if krr_k is None else krr_k) if on else None) is not None \
        or krr is None
with c2:
    bound(st.slider, "Window endpoint k", "endpoint", key="win_endpoint", min_value=0.0, max_value=1.0, step=0.01,
          to_widget=lambda e: round(e if e is not None else (krr_k if krr_k is not None else 1.0), 2),
          disabled=not override)
view = V.window_view(session, rate, score=score, winsor=winsor, mode=mode, endpoint=s.endpoint if override else None,
                     search=search)
k, kept = view.endpoint, view.selection.indices
bounds = V.window_bounds(session.class_sizes, view.budgets, k)

krr_bounds = V.window_bounds(session.class_sizes, view.budgets, krr_k) \
    if krr_k is not None and abs(k - krr_k) > 1e-9 else None
strips, shown = sorted_strips(session, score), np.arange(C)
if C > MAX_STRIPS:
    w1, w2 = st.columns([1, 2])
    k_ext = w1.slider("Strips of the k hardest and k easiest classes", 1, MAX_STRIPS // 2, 10, key="win_k")
    found = M.find_classes(names, w2.text_input("Also show classes (name or id)", key="win_find"), limit=10)
    hard, easy = M.extreme_classes(session.class_difficulty(score, winsor), k_ext)
    shown = np.array(list(dict.fromkeys([*hard.tolist(), *found.tolist(), *easy[::-1].tolist()])), dtype=np.int64)
    st.caption(f"Strips of {shown.size} of {C:,} classes (hardest on top); the table below lists every class.")
sub = lambda b: None if b is None else b.iloc[shown].reset_index(drop=True)  # noqa: E731
plotly(F.window_strips(strips[shown], [names[i] for i in shown], sub(bounds), k, score, sub(krr_bounds)),
       key="window_strips")
if krr is not None and V.krr_measured(krr):
    plotly(F.krr_curve(krr.info["endpoints"], krr.info["accuracies"], krr_k, k), key="window_krr")
elif krr is not None:
    st.info(f"At {100 * rate:g} % pruning every endpoint gives the same coreset: there is nothing to choose, "
            "so no ridge model was fitted and the KRR accuracy is not measured.")
else:
    st.info("The KRR endpoint search has not run for these settings yet; the window above uses the endpoint "
            "from the slider.")

m1, m2, m3, m4 = st.columns(4)
m1.metric("Coreset size", f"{kept.size:,}", help=f"of {N:,}")
m2.metric("Endpoint k", f"{k:.2f}")
if krr is not None:
    if abs(k - krr_k) > 1e-9:
        m2.caption(f"set by hand: {abs(k - krr_k):.2f} {'above' if k > krr_k else 'below'} the KRR choice "
                   f"k = {krr_k:.2f}")
    m3.metric("Overlap with the KRR choice", f"{100 * jaccard(kept, krr.indices):.1f} %", help="Jaccard index")
    acc = V.krr_accuracy_at(krr, k)
    m4.metric("KRR accuracy (interpolated)", "not measured" if acc is None else f"{100 * acc:.2f} %",
              help=None if acc is not None else "one candidate coreset: no ridge model was fitted")
fmt = {c: st.column_config.NumberColumn(format=f) for c, f in (
    ("start_frac", "%.3f"), ("end_frac", "%.3f"), ("difficulty", "%.4f"), ("mean score kept", "%.4f"),
    ("mean score class", "%.4f"))}
st.dataframe(V.window_table(session, view, score, winsor), hide_index=True, height=min(36 * (C + 1) + 3, 600),
             column_config=fmt)
command = s.command(view.method, params=view.params)
downloads(session, view.selection, command, key="window")
command_line(command)
