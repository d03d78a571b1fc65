"""Page 7: two selections side by side: overlap, per-class counts, difficulty, linear-probe accuracy."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from coreset_core import app_state as S
from pages._studio import (class_names, current_config, difficulty, export_buttons, freeze, method_param_inputs,
                           persistent, plotly, prepared, result_store, selection, selection_config)

cfg = current_config()
prep = prepared(cfg)
names = class_names(prep)
C = len(names)
labels = np.asarray(prep.train.labels)
N = labels.shape[0]
d = difficulty(cfg.key(), cfg.score, prep)

st.title("Compare two selections")
st.caption("Pick a method and its parameters on each side. Every selection is cached, exportable, and can be "
           "evaluated with a linear probe on the frozen features (trained on the coreset, tested on the test split).")

from coreset_core import list_methods  # noqa: E402

methods = list_methods()
default_rate = int(persistent("prune_pct", 70))
sides = {}
cols = st.columns(2)
for side, col, default_method in (("A", cols[0], "nucs"), ("B", cols[1], "el2n")):
    with col:
        st.markdown(f"#### Selection {side}")
        method = st.selectbox("Method", methods, index=methods.index(default_method) if default_method in methods
                              else 0, key=f"cmp_method_{side}")
        rate = st.slider("Pruning rate (%)", 0, 95, default_rate, step=5, key=f"cmp_rate_{side}") / 100.0
        seed = int(st.number_input("Seed", 0, 10_000, 0, key=f"cmp_seed_{side}"))
        with st.expander("Parameters"):
            params = method_param_inputs(method, key=f"cmp_{side}")
        sides[side] = dict(method=method, rate=round(rate, 4), seed=seed, params=freeze(params))

sels = {}
for side, s in sides.items():
    with st.spinner(f"Selecting {side}: {s['method']} at {100 * s['rate']:g} %..."):
        try:
            sels[side] = selection(cfg.key(), s["method"], s["rate"], cfg.score, s["seed"], s["params"], prep)
        except Exception as exc:  # invalid parameters: explain, keep the page
            st.error(f"Selection {side} ({s['method']}) failed: {type(exc).__name__}: {exc}")
            st.stop()

a, b = sels["A"].indices, sels["B"].indices
lab_a = f"A: {sides['A']['method']} {100 * sides['A']['rate']:g} %"
lab_b = f"B: {sides['B']['method']} {100 * sides['B']['rate']:g} %"
m1, m2, m3, m4 = st.columns(4)
m1.metric("Jaccard overlap", f"{S.jaccard(a, b):.3f}")
m2.metric("|A ∩ B|", f"{np.intersect1d(a, b).size:,}")
m3.metric("|A|", f"{a.size:,}")
m4.metric("|B|", f"{b.size:,}")

probes = result_store("probe")
epochs = int(st.number_input("Linear probe epochs", 1, 200, 30, key="cmp_epochs"))
pkeys = {side: (cfg.key(), cfg.score, s["method"], s["rate"], s["seed"], s["params"], epochs)
         for side, s in sides.items()}
if st.button("Train a linear probe on both selections", key="cmp_train", type="primary"):
    from coreset_core.training.probe import train_linear_probe

    for side in ("A", "B"):
        if pkeys[side] in probes["results"]:
            continue
        with st.spinner(f"Training a linear probe on {side} ({sels[side].indices.size:,} samples)..."):
            res = train_linear_probe(prep.train.features, labels, prep.test.features, prep.test.labels,
                                     indices=sels[side].indices, epochs=epochs, seed=sides[side]["seed"],
                                     num_classes=C)
            with probes["lock"]:
                probes["results"][pkeys[side]] = res.metrics

done = {side: probes["results"].get(pkeys[side]) for side in ("A", "B")}
if any(v is not None for v in done.values()):
    p1, p2 = st.columns(2)
    for col, side, lab in ((p1, "A", lab_a), (p2, "B", lab_b)):
        mtr = done[side]
        if mtr is None:
            col.caption(f"{lab}: not trained yet")
            continue
        col.metric(f"{lab}: test accuracy", f"{100 * mtr['accuracy']:.2f} %",
                   help=f"balanced accuracy {100 * mtr.get('balanced_accuracy', float('nan')):.2f} %")
    if all(v is not None for v in done.values()):
        pfig = go.Figure()
        for side, lab, col in (("A", lab_a, "#08519c"), ("B", lab_b, "#e6550d")):
            pcs = [np.nan if v is None else 100 * float(v) for v in done[side].get("per_class_accuracy", [])]
            pfig.add_trace(go.Bar(x=names[:len(pcs)], y=pcs, name=lab, marker_color=col))
        pfig.update_layout(title="Per-class test accuracy", barmode="group", height=340, yaxis_title="accuracy (%)",
                           xaxis_type="category",
                           margin=dict(t=50, b=40))
        plotly(pfig, key="compare_probe")


counts = S.compare_counts_frame(a, b, labels, names, names=("A", "B"))
diff = counts["B - A"].to_numpy()
cfig = go.Figure([go.Bar(name=lab_a, x=names, y=counts["A"], marker_color="#08519c"),
                  go.Bar(name=lab_b, x=names, y=counts["B"], marker_color="#e6550d")])
cfig.update_layout(title="Kept samples per class", barmode="group", height=360, margin=dict(t=50, b=40),
                   xaxis_type="category", yaxis_title="kept samples")
dfig = go.Figure(go.Bar(x=names, y=diff, marker_color=np.where(diff >= 0, "#e6550d", "#08519c"), name="B - A",
                        hovertemplate="class %{x}: B - A = %{y}<extra></extra>"))
dfig.update_layout(title="B − A per class", height=360, margin=dict(t=50, b=40), xaxis_type="category",
                   yaxis_title="samples")
c1, c2 = st.columns([3, 2])
with c1:
    plotly(cfig, key="compare_counts")
with c2:
    plotly(dfig, key="compare_diff")

hist = S.shared_histogram(d, {"all": np.arange(N), "A": a, "B": b}, bins=40, normalize=True)
hfig = go.Figure()
for name, col in (("all", "#bbbbbb"), ("A", "#08519c"), ("B", "#e6550d")):
    label = {"all": "all samples", "A": lab_a, "B": lab_b}[name]
    hfig.add_trace(go.Bar(x=hist["bin_centre"], y=hist[name], name=label, marker_color=col,
                          opacity=0.45 if name == "all" else 0.7, width=(hist["bin_right"] - hist["bin_left"])))
hfig.update_layout(title=f"Difficulty ({cfg.score}) of the kept samples (share of each set per bin)",
                   barmode="overlay", height=360, xaxis_title=cfg.score, yaxis_title="fraction of the set",
                   yaxis_tickformat=".0%", margin=dict(t=50, b=40))
plotly(hfig, key="compare_hist")

st.dataframe(counts, hide_index=True)


st.subheader("Export")
e1, e2 = st.columns(2)
with e1:
    st.caption(lab_a)
    export_buttons(cfg, prep, a, selection_config(cfg, sels["A"]), key="cmp_A")
with e2:
    st.caption(lab_b)
    export_buttons(cfg, prep, b, selection_config(cfg, sels["B"]), key="cmp_B")
