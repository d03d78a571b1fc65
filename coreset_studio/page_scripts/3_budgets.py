"""Page 3: per-class selection ratio vs pruning rate for NUCS, uniform and a global method (SPEC 2)."""
from __future__ import annotations

import numpy as np
import streamlit as st

from coreset_studio.views import many_classes as M
from coreset_studio import choices as C
from coreset_studio.views import budgets as V
from coreset_studio.views import figures as F
from coreset_studio.text import literal
from coreset_studio.widgets import bound, command_line, downloads, plotly, selection_header
from coreset_studio.sidebar import page_session

s, session = page_session()
score, names, K, sizes = s.spec.score, session.class_names, session.num_classes, np.asarray(session.class_sizes)
rates = list(C.RATE_GRID)

st.title("Per-class budgets")
st.caption("How many samples of each class survive pruning. **NUCS** gives class c the fraction (1 - rate) * S_c * N "
           "/ sum_j S_j N_j (harder classes keep more); **uniform** keeps the same fraction of every class; a "
           "**global** method ranks all samples together, so its class fractions are whatever the ranking implies "
           "(hard-first EL2N starves easy classes, and on long-tailed data the rare classes).")
winsor, rate, (gm, view) = selection_header(lambda: (
    bound(st.selectbox, "Global method", "global_method", key="budget_global", options=C.global_methods()),
    st.radio("View", ["lines", "heatmap"], horizontal=True, key="budget_view")))

counts = {"NUCS": V.allocation_counts(session, rates, mode="nucs", score=score, winsor=winsor),
          "uniform": V.allocation_counts(session, rates, mode="uniform")}
tables = {**{k: V.fractions(v, sizes) for k, v in counts.items()}, gm: session.kept_fraction_table(gm, rates, score=score)}
titles = [f"NUCS (difficulty-proportional, winsor {100 * winsor[0]:g}/{100 * winsor[1]:g} %)", "uniform",
          f"{gm} (global ranking)"]
difficulty = np.asarray(session.class_difficulty(score, winsor))
many = K > F.MANY_CLASSES
if many:
    p1, p2 = st.columns([1, 2])
    k_ext = p1.slider("Lines for the k hardest and k easiest classes", 0, 6, 3, key="budget_k")
    query = p2.text_input("Also draw classes (name or id)", key="budget_find", placeholder="e.g. class_0042")
    found = M.find_classes(names, query, limit=6)
    hard, easy = M.extreme_classes(difficulty, k_ext)
    picked = list(dict.fromkeys([*hard.tolist(), *easy.tolist(), *found.tolist()]))
    order = M.by_difficulty(difficulty)
    fig = F.budget_bands(tables, titles, names, rate, picked) if view == "lines" else \
        F.aggregated_heatmaps(tables, titles, order)
    st.caption(f"{K:,} classes: bands over classes (min-max, 10-90 %, median) plus the picked classes"
               if view == "lines" else f"{K:,} classes sorted by difficulty (hardest on top), averaged in runs of "
                                        "consecutive classes down to at most 200 rows")
else:
    found, fig = np.zeros(0, dtype=np.int64), F.budget_curves(tables, titles, names, rate, view)
plotly(fig, key="budget_curves")

sel = session.select(gm, rate, score=score)
at_rate = {"NUCS": counts["NUCS"][rate].to_numpy(), "uniform": counts["uniform"][rate].to_numpy(),
           gm: sel.class_counts(session.labels, K)}
series = {k: (np.asarray(v) / sizes, c) for (k, v), c in zip(at_rate.items(), F.SERIES_COLORS)}
title = f"Kept fraction per class at {100 * rate:g} % pruning"
plotly(F.ranked_classes(names, series, order, title=title + " (classes by difficulty, hardest first)",
                        ytitle="kept fraction", highlight=found) if many else
       F.bar_chart(names, series, title=title, ytitle="kept fraction",
                   yaxis={"title": {"text": "kept fraction"}, "tickformat": ".0%"}), key="budget_at_rate")
table = V.budget_counts_frame(names, sizes, difficulty, at_rate)
if found.size:
    table = table.iloc[list(found) + [K]]
st.dataframe(table, hide_index=True, height=min(36 * (len(table) + 1) + 3, 600))
starved = [names[k] for k in range(K) if at_rate[gm][k] == 0]
if starved:
    more = f" and {len(starved) - 20:,} more" if len(starved) > 20 else ""
    st.warning(literal(f"At {100 * rate:g} % pruning, {gm} keeps no sample at all of {len(starved):,} classes: "
                       f"{', '.join(starved[:20])}{more}."))
command = s.command(gm)
with st.expander(f"Download the {gm} selection at {100 * rate:g} % pruning"):
    downloads(session, sel, command, key="budget_global")
    st.caption("NUCS coresets (window chosen by the KRR search) are downloaded from the Windows page. "
               + C.reweighting_note())
command_line(command, s.command("nucs", params={"winsor": winsor}))
