"""Page 1: the dataset, its class sizes, sample images per class, and where features and scores come from."""
from __future__ import annotations

import streamlit as st

from coreset_studio.choices import format_duration
from coreset_studio.text import literal, sample_name
from coreset_studio.views import class_stats as V
from coreset_studio.views.figures import bar_chart
from coreset_studio.widgets import command_line, plotly
from coreset_studio.sidebar import page_session, preparation_seconds

s, session = page_session()
names, ds, train, test = session.class_names, session.dataset, session.train, session.test

st.title("Data & features")
st.caption(literal(ds.description))
c1, c2, c3, c4 = st.columns(4)
c1.metric("Training images", f"{len(train.labels):,}", help=f"of {len(ds.train):,} in the split")
c2.metric("Test images", f"{len(test.labels):,}", help=f"of {len(ds.test):,} in the split")
c3.metric("Classes", len(names))
c4.metric("Feature dimension", int(train.features.shape[1]))

sizes = V.class_sizes_frame(names, train.labels, test.labels)
imbalance = sizes["train"].max() / max(1, sizes["train"].min())
plotly(bar_chart(names, {"train": (sizes["train"], "#1f77b4"), "test": (sizes["test"], "#aec7e8")}, ytitle="images",
                 title=f"Class sizes (train imbalance: largest / smallest = {imbalance:.1f})"), key="class_sizes")

with st.expander("Features and scores: where they come from", expanded=False):
    st.dataframe([{"split": split, "images": len(fs.labels), "from disk cache": bool(getattr(fs, "from_cache", False)),
                   "seconds": round(float(getattr(fs, "seconds", 0.0)), 2), "file": str(getattr(fs, "path", ""))}
                  for split, fs in (("train", train), ("test", test))], hide_index=True)
    seconds = preparation_seconds(s.spec)
    st.caption(f"Backbone {s.spec.backbone} (frozen), input {session.resolution} px. "
               + (f"This process prepared the data in {format_duration(seconds)}. " if seconds is not None else "")
               + "Features and scores are cached on disk, keyed by dataset, backbone, resolution and code version: "
                 "a second start loads them in seconds.")
    st.json(session.data_record(), expanded=False)

st.subheader("Sample images per class")
if not ds.train.has_images:
    st.info("This data has no images to show: an embeddings file without a `paths` column holds features only. "
            "The class sizes are in the chart above.")
else:
    cc1, cc2 = st.columns([3, 1])
    per_class = cc1.slider("Images per class", 4, 16, 8, key="data_per_class")
    seed = int(cc2.number_input("Sample seed", 0, 10_000, 0, key="data_seed"))
    size = 56 if ds.native_size <= 64 else 80
    picks = V.sample_indices_per_class(session.labels, per_class, seed)
    cols = st.columns(2)
    for k, name in enumerate(names):
        with cols[k % 2]:
            st.markdown(f"**{literal(name)}**: {int(session.class_sizes[k]):,} training images")
            st.image(V.thumbnails(session, picks[k], size), width=size,
                     caption=[literal(sample_name(i)) for i in session.ids[picks[k]]])
command_line(s.spec.command("features", "--split", "all"), s.spec.command("score"))
