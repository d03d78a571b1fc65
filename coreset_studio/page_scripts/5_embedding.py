"""Page 5: a 2-D map of the training samples (UMAP, PCA while UMAP computes), kept vs pruned."""
from __future__ import annotations

import os

import numpy as np
import streamlit as st

from coreset_studio import choices as C
from coreset_studio.views import embedding_map as E
from coreset_studio.views import selections as V
from coreset_studio.views.class_stats import thumbnails
from coreset_studio.views import figures as F
from coreset_studio.text import literal, sample_name
from coreset_studio.widgets import bound, command_line, downloads, plotly, prune_slider
from coreset_studio.sidebar import page_session

AUTO_UMAP = os.environ.get("CORESET_STUDIO_AUTO_UMAP", "1") not in ("0", "false", "no")
MAX_IMAGES = 48  # images shown of a picked group (the table lists every picked sample)

s, session = page_session()
score, names, K, labels = s.spec.score, session.class_names, session.num_classes, session.labels
N, d = int(labels.shape[0]), session.difficulty(s.spec.score)

st.title("Embedding")
st.caption("Every training sample placed by its frozen features (UMAP, or PCA's first two components). Hover a point "
           "for its original id and class; select points (box or lasso) to list them and see their images.")
c1, c2, c3, c4 = st.columns(4)
projection = c1.radio("Projection", ["UMAP", "PCA"], horizontal=True, key="emb_projection")
color_by = c2.radio("Colour by", ["class", "difficulty", "kept / pruned"], key="emb_color")
with c3:
    method = bound(st.selectbox, "Selection method", "method_a", key="emb_method", options=C.selection_methods(),
                   help=C.reweighting_note())
choices = C.point_choices(N)
max_points = c4.select_slider("Points drawn", options=choices, value=min(10_000, N) if min(10_000, N) in choices
                              else choices[-1], key=f"emb_points_{N}", format_func=lambda p: f"all ({p:,})"
                              if p == N else f"{p:,}", help="A stratified, seeded sample of larger sets.")
rate = prune_slider()
show_pruned = st.toggle("Grey out pruned samples", value=True, key="emb_show_pruned")

coords, used = None, "PCA"
if projection == "UMAP":
    coords = E.umap_coords(session)
    job = E.umap_job(session)
    if coords is None and job is not None and job.state == "failed":
        st.error(literal(f"UMAP failed: {job.error}. Showing PCA."))
    elif coords is None:
        if job is None and (AUTO_UMAP or st.button("Compute UMAP in the background", key="emb_start_umap")):
            job = E.start_umap(session)
        if job is None:
            st.info("UMAP has not been computed for these features yet; showing PCA. It is computed once and cached.")
        else:
            @st.fragment(run_every=3)
            def _poll() -> None:
                now = E.umap_job(session)
                if now is None or now.state != "running":
                    st.rerun(scope="app")
                st.info(f"Computing UMAP of {N:,} samples in the background ({now.elapsed:.0f} s so far; the first "
                        "UMAP of a process also compiles for about a minute). Showing PCA until it is ready.")
            _poll()
    used = "UMAP" if coords is not None else "PCA"
coords = E.pca_coords(session) if coords is None else coords

params = s.method_params(method)
sel = session.select(method, rate, score=score, **params)
kept_mask = np.zeros(N, dtype=bool)
kept_mask[sel.indices] = True
shown = V.stratified_subsample(labels, int(max_points), seed=0)
traces = F.embedding_traces(coords[shown], shown, labels[shown], kept_mask[shown], d[shown], names,
                            color_by=color_by, grey_pruned=show_pruned, score=score, ids=session.ids[shown])
title = (f"{used} of {N:,} samples ({shown.size:,} drawn); {method} keeps {sel.indices.size:,} at "
         f"{100 * rate:g} % pruning")
event = plotly(F.embedding_map(traces, projection=used, title=title), key="embedding_map", on_select="rerun",
               selection_mode=("points", "box", "lasso"))

picked = V.picked_indices(getattr(getattr(event, "selection", None), "points", None) or [])
if picked.size:
    table = V.picked_frame(picked, labels=labels, class_names=names, kept=sel.indices, difficulty=d, ids=session.ids)
    n_kept = int((table["status"] == "kept").sum())
    st.markdown(f"**{picked.size:,} selected points: {n_kept:,} kept, {picked.size - n_kept:,} pruned**")
    st.dataframe(table, hide_index=True, height=min(36 * (picked.size + 1) + 3, 320), key="emb_picked")
    first = table.head(MAX_IMAGES)
    if session.dataset.train.has_images:
        st.image(thumbnails(session, first["index"], 72), width=72, caption=[
            literal(f"{sample_name(session.ids[i])} {c} ({t})") for i, c, t in zip(first["index"], first["class"],
                                                                                   first["status"])])
    else:
        st.caption("This data has no images (an embeddings file without paths): the table names the samples.")
    if session.dataset.train.has_images and picked.size > MAX_IMAGES:
        st.caption(f"Images of the first {MAX_IMAGES} of the {picked.size:,} selected points (the table lists all).")
command = s.command(method, params=params)
with st.expander(f"Download the {method} selection"):
    downloads(session, sel, command, key="embedding")
command_line(command)
