"""Page 5: a 2-D map of the training samples (UMAP, PCA while UMAP computes), chosen vs pruned."""
from __future__ import annotations

import os

import numpy as np
import streamlit as st

from coreset_core import app_state as S
from coreset_core import embedding as E
from coreset_core.config import default_cache_dir
from pages._studio import (MAGMA, SpecFigure, class_color, class_names, current_config, difficulty, export_buttons,
                           pca_coords, plotly, prepared, prune_slider, selection, selection_config, umap_coords)

AUTO_UMAP = os.environ.get("CORESET_STUDIO_AUTO_UMAP", "1") not in ("0", "false", "no")
AUTO_SELECT_MAX = 20_000  # default method: nucs up to this size, el2n above (nucs runs a KRR search)

cfg = current_config()
prep = prepared(cfg)
names = class_names(prep)
C = len(names)
labels = np.asarray(prep.train.labels)
N = labels.shape[0]
d = difficulty(cfg.key(), cfg.score, prep)
feats = prep.train.features
fkey = dict(getattr(prep.train, "key", None) or {}) or None
cache_dir = str(default_cache_dir())

st.title("Embedding")
st.caption("Every training sample placed by its frozen features (UMAP, or PCA's first two components). "
           "Hover a point for its image index and class; select points (box or lasso) to see their images.")

from coreset_core import list_methods  # noqa: E402

methods = list_methods()
c1, c2, c3, c4 = st.columns([1, 1, 1, 1])
projection = c1.radio("Projection", ["UMAP", "PCA"], horizontal=True, key="emb_projection")
color_by = c2.radio("Colour by", ["class", "difficulty", "kept / pruned"], key="emb_color")
default_method = "nucs" if N <= AUTO_SELECT_MAX else "el2n"
method = c3.selectbox("Selection method", methods, index=methods.index(default_method) if default_method in methods
                      else 0, key="emb_method")
max_points = c4.select_slider("Points drawn", options=[2000, 5000, 10000, 20000, 50000], value=10000,
                              key="emb_points", help="A stratified, seeded sample when the set is larger.")
rate = prune_slider()
show_pruned = st.toggle("Grey out pruned samples", value=True, key="emb_show_pruned")


coords = None
used = "PCA"
if projection == "UMAP":
    coords = umap_coords(cfg.key(), feats, fkey, cache_dir)
    if coords is None:
        job = E.job_for(feats, "umap", feature_key=fkey, cache_dir=cache_dir)
        if job is not None and job.state == "failed":
            st.error(f"UMAP failed: {job.error}. Showing PCA.")
        else:
            if job is None and (AUTO_UMAP or st.button("Compute UMAP in the background", key="emb_start_umap")):
                job = E.start_background(feats, "umap", feature_key=fkey, cache_dir=cache_dir)
            if job is None:
                st.info("UMAP has not been computed for this feature set yet; showing PCA. UMAP is computed once "
                        "and cached on disk.")
            else:
                @st.fragment(run_every=3)
                def _poll() -> None:
                    if job.state != "running":
                        st.rerun(scope="app")
                    st.info(f"Computing UMAP of {N:,} samples in the background ({job.seconds:.0f} s so far; the "
                            "first UMAP of a process also compiles for about a minute). Showing PCA meanwhile; the "
                            "map switches by itself when UMAP is ready.")
                _poll()
    if coords is not None:
        used = "UMAP"
if coords is None:
    coords = pca_coords(cfg.key(), feats, fkey, cache_dir)

sel_params = ()
sel = selection(cfg.key(), method, float(rate), cfg.score, 0, sel_params, prep)
kept_mask = np.zeros(N, dtype=bool)
kept_mask[sel.indices] = True

shown = S.stratified_subsample(labels, int(max_points), seed=0)
xy = coords[shown]
lab = labels[shown]
km = kept_mask[shown]
custom = np.column_stack([shown, np.round(d[shown], 4)])
cls_text = np.array(names, dtype=object)[lab]
hover = "image #%{customdata[0]:.0f}<br>class %{text}<br>difficulty %{customdata[1]:.4f}<extra>%{fullData.name}</extra>"
size = 8 if shown.size <= 2000 else (5 if shown.size <= 10000 else 3)


def points(mask: np.ndarray, name: str, marker: dict) -> dict:
    """One scattergl trace of the drawn points in `mask` (plain lists: no per-point validation)."""
    return {"type": "scattergl", "mode": "markers", "name": name, "x": xy[mask, 0].tolist(),
            "y": xy[mask, 1].tolist(), "customdata": custom[mask].tolist(), "text": cls_text[mask].tolist(),
            "hovertemplate": hover, "marker": marker}


traces = []
grey = show_pruned and color_by != "kept / pruned"
if grey:
    traces.append(points(~km, "pruned", {"size": max(2, size - 2), "color": "#cccccc", "opacity": 0.6}))
    base = km
else:
    base = np.ones(shown.size, dtype=bool)
if color_by == "class":
    for k in range(C):
        traces.append(points(base & (lab == k), names[k], {"size": size, "color": class_color(k), "opacity": 0.85}))
elif color_by == "difficulty":
    traces.append(points(base, "kept" if grey else "samples",
                         {"size": size, "color": d[shown][base].tolist(), "colorscale": MAGMA, "opacity": 0.85,
                          "colorbar": {"title": {"text": cfg.score}}}))
else:
    for name, m, col in (("pruned", ~km, "#cccccc"), ("kept", km, "#d62728")):
        traces.append(points(m, name, {"size": size, "color": col, "opacity": 0.8}))
fig = SpecFigure(traces, {
    "title": {"text": f"{used} of {N:,} samples ({shown.size:,} drawn); {method} keeps {sel.indices.size:,} "
                      f"at {100 * rate:g} % pruning"},
    "height": 620, "margin": {"t": 50, "b": 30}, "dragmode": "lasso", "legend": {"itemsizing": "constant"},
    "xaxis": {"showticklabels": False, "title": {"text": f"{used} 1"}},
    "yaxis": {"showticklabels": False, "title": {"text": f"{used} 2"}}})
event = plotly(fig, key="embedding_map", on_select="rerun", selection_mode=("points", "box", "lasso"))

picked = []
try:
    for p in (event.selection.points if event else [])[:24]:
        cd = p.get("customdata")
        if cd:
            picked.append(int(cd[0]))
except (AttributeError, TypeError, ValueError):
    picked = []
if picked:
    st.markdown(f"**{len(picked)} selected point(s)**")
    split = prep.dataset.train
    st.image([split.image(i).resize((72, 72)) for i in picked],
             caption=[f"#{i} {names[labels[i]]} ({'kept' if kept_mask[i] else 'pruned'})" for i in picked], width=72)

with st.expander(f"Export the {method} selection"):
    export_buttons(cfg, prep, sel.indices, selection_config(cfg, sel), key="embedding")
