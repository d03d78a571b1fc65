"""Page 7: two selections side by side (overlap, per-class counts, difficulty, linear-probe accuracy), then
any number of selections together (the N-way what-if)."""
from __future__ import annotations

import numpy as np
import streamlit as st

from coreset_studio import method_params as P
from coreset_studio import choices as C
from coreset_studio.text import literal
from coreset_studio.views import figures as F
from coreset_studio.views import reweighting as R
from coreset_studio.views import selections as V
from coreset_studio.views import whatif as W
from coreset_studio.views.colors import GREY, SIDE_COLORS, class_color
from coreset_studio.widgets import backbone_choice, bound, command_line, downloads, plotly, prune_slider
from coreset_studio.sidebar import page_session

s, session = page_session(needs=("train features", "scores", "test features"))
score, names, labels = s.spec.score, session.class_names, session.labels
d = session.difficulty(score)

st.title("Compare selections")
st.caption("Pick a method and its parameters on each side, at the shared pruning rate. Every selection is cached, "
           "downloadable, and can be evaluated with a linear probe on the frozen features (trained on the coreset, "
           "tested on the test split). " + C.reweighting_note())
rate = prune_slider()


def param_inputs(method: str, key: str) -> dict:
    """Inputs for a method's parameters (the shared winsorization prefilled); returns those that differ."""
    defaults = P.editable_params(method)
    start = {**defaults, **s.method_params(method)}
    values = {}
    for name, default in defaults.items():
        wkey, value = f"{key}_{method}_{name}", start[name]
        if isinstance(default, bool):
            values[name] = st.checkbox(name, value=value, key=wkey)
        elif isinstance(default, (int, float)):
            values[name] = type(default)(st.number_input(name, value=value, key=wkey, format="%g"
                                                         if isinstance(default, float) else "%d"))
        else:
            text = st.text_input(name, value="" if value is None else P.as_text(value), key=wkey,
                                 help="JSON, e.g. [0.0, 0.05] for a pair; empty for None")
            try:
                values[name] = P.coerce_param(text, default)
            except ValueError as exc:
                st.warning(literal(f"{name}: {exc}; using the default"))
                values[name] = default
    return P.changed(values, defaults)


sides, cols = {}, st.columns(2)
for side, col in zip("AB", cols):
    with col:
        st.markdown(f"#### Selection {side}")
        method = bound(st.selectbox, "Method", f"method_{side.lower()}", key=f"cmp_method_{side}",
                       options=C.selection_methods())
        seed = int(st.number_input("Seed", 0, 10_000, 0, key=f"cmp_seed_{side}"))
        with st.expander("Parameters"):
            params = param_inputs(method, f"cmp_{side}")
        extra = backbone_choice(method, f"cmp_backbones_{side}")
        try:
            request = s.request(method, seed=seed, params=params, **extra)
            sel = session.select(request)
        except ValueError as exc:  # invalid parameters: explain, keep the page
            st.error(literal(f"Selection {side} ({method}) failed: {exc}"))
            st.stop()
        sides[side] = dict(method=method, seed=seed, params=params, sel=sel, label=f"{side}: {method} {100 * rate:g} %",
                           command=request.command(s.spec))

a, b = sides["A"]["sel"].indices, sides["B"]["sel"].indices
m1, m2, m3, m4 = st.columns(4)
m1.metric("Jaccard overlap", f"{V.jaccard(a, b):.3f}")
m2.metric("|A ∩ B|", f"{V.both(a, b).size:,}")
m3.metric("|A|", f"{a.size:,}")
m4.metric("|B|", f"{b.size:,}")

epochs = int(st.number_input("Linear probe epochs", 1, 200, 30, key="cmp_epochs"))
probe_keys = {side: (s.spec.prepare_key, x["method"], rate, x["seed"], P.as_text(x["params"]), epochs,
                     tuple(x["sel"].config.get("feature_backbones") or ()))
              for side, x in sides.items()}
trained = st.session_state.setdefault("_cmp_trained", set())
if st.button("Train a linear probe on both selections", key="cmp_train", type="primary"):
    trained.update(probe_keys.values())
subset = C.subset_note(len(session.test.labels), len(session.dataset.test))
results = {}
for side, x in sides.items():
    if probe_keys[side] in trained:
        with st.spinner(f"Training a linear probe on {side} ({x['sel'].indices.size:,} samples)..."):
            results[side] = session.probe(x["sel"].indices, seed=x["seed"], epochs=epochs).metrics
if results:
    for col, (side, x) in zip(st.columns(2), sides.items()):
        if side in results:
            col.metric(f"{x['label']}: test accuracy" + (f" ({subset})" if subset else ""),
                       f"{100 * results[side]['accuracy']:.2f} %",
                       help=f"balanced accuracy {100 * results[side].get('balanced_accuracy', float('nan')):.2f} %")
    if len(results) == 2:
        plotly(F.bar_chart(names, {sides[x]["label"]: ([None if v is None else 100 * float(v) for v in
                                                         results[x]["per_class_accuracy"]], color)
                                   for x, color in zip("AB", SIDE_COLORS)}, height=340, ytitle="accuracy (%)",
                           title="Per-class test accuracy" + (f" ({subset})" if subset else "")), key="compare_probe")

st.subheader("CW-ERM: weighted training on every sample")
st.caption("CW-ERM keeps every sample and learns a loss weight for each (on a small class-wise coreset, broadcast to "
           "the nearest neighbours; the Gallery page shows where each weight comes from). A linear probe trained with "
           "those weights is compared here with the unweighted probe on all data, same seed and epochs.")
cw_seed = int(st.number_input("CW-ERM seed", 0, 10_000, 0, key="cmp_cwerm_seed"))
cw_key = (s.spec.prepare_key, cw_seed, epochs)
if st.button("Train the CW-ERM weighted probe", key="cmp_cwerm"):
    trained.add(("cw-erm", *cw_key))
if ("cw-erm", *cw_key) in trained:
    with st.spinner("Learning CW-ERM's weights and training both probes..."):
        probes = R.weighted_probes(session, seed=cw_seed, epochs=epochs)
    cw, plain, weights = probes.weighted, probes.plain, probes.weights
    k1, k2, k3 = st.columns(3)
    k1.metric("CW-ERM (weighted): test accuracy", f"{100 * cw['accuracy']:.2f} %",
              help=f"balanced accuracy {100 * cw['balanced_accuracy']:.2f} %")
    k2.metric("All data, unweighted: test accuracy", f"{100 * plain['accuracy']:.2f} %",
              help=f"balanced accuracy {100 * plain['balanced_accuracy']:.2f} %")
    k3.metric("Weights: min / max", f"{weights.min():.3g} / {weights.max():.3g}")
    plotly(F.bar_chart(names, {label: ([None if v is None else 100 * float(v) for v in m["per_class_accuracy"]], c)
                               for label, m, c in (("CW-ERM (weighted)", cw, SIDE_COLORS[0]),
                                                   ("all data, unweighted", plain, SIDE_COLORS[1]))},
                       height=340, ytitle="accuracy (%)", title="Per-class test accuracy" +
                       (f" ({subset})" if subset else "")), key="compare_cwerm")
    command_line(probes.command)

counts = V.compare_counts_frame(a, b, labels, names, names=("A", "B"))
diff = counts["B - A"].to_numpy()
c1, c2 = st.columns([3, 2])
with c1:
    plotly(F.bar_chart(names, {sides[x]["label"]: (counts[x], color) for x, color in zip("AB", SIDE_COLORS)},
                       title="Kept samples per class", ytitle="kept samples"), key="compare_counts")
with c2:
    plotly(F.bar_chart(names, {"B - A": (diff, [SIDE_COLORS[int(v >= 0)] for v in diff])}, title="B − A per class",
                       ytitle="samples"), key="compare_diff")
hist = V.shared_histogram(d, {"all": np.arange(labels.size), "A": a, "B": b}, bins=40, normalize=True)
plotly(F.histogram_overlay(hist, {"all": ("all samples", GREY), "A": (sides["A"]["label"], SIDE_COLORS[0]),
                                  "B": (sides["B"]["label"], SIDE_COLORS[1])}, xtitle=score,
                           title=f"Difficulty ({score}) of the kept samples (share of each set per bin)"),
       key="compare_hist")
st.dataframe(counts, hide_index=True)

st.header("More than two selections")
st.caption("Overlap, per-class counts and difficulty of several selections at the shared pruning rate (each with "
           "the shared winsorization where it applies, seed 0).")
picked = st.multiselect("Methods", C.selection_methods(), default=list(dict.fromkeys(
    [sides["A"]["method"], sides["B"]["method"], "random"])), key="cmp_nway")
if len(picked) >= 2:
    chosen = [(m, rate, {**s.method_params(m), **backbone_choice(m, f"nway_backbones_{m}")}) for m in picked]
    sels = W.compare_selections(session, chosen, score=score)
    w1, w2 = st.columns(2)
    with w1:
        plotly(F.overlap_heatmap(W.jaccard_matrix(sels)), key="whatif_jaccard")
    with w2:
        nway = W.class_counts(sels, labels, session.num_classes)
        plotly(F.bar_chart(names, {n: (nway[n], class_color(j)) for j, n in enumerate(nway)},
                           title="Kept samples per class", ytitle="kept samples"), key="whatif_counts")
    plotly(F.step_histograms(W.difficulty_histograms(sels, d, bins=30), score=score,
                              title=f"Difficulty ({score}) of the kept samples (shared bins)"), key="whatif_hist")
else:
    st.caption("Pick at least two methods.")

st.subheader("Download")
for col, (side, x) in zip(st.columns(2), sides.items()):
    with col:
        st.caption(x["label"])
        downloads(session, x["sel"], x["command"], key=f"cmp_{side}")
command_line(sides["A"]["command"], sides["B"]["command"])
