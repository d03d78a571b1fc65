"""Page 1: the dataset, its class sizes, sample images per class, and the feature extraction."""
from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from coreset_core import app_state as S
from pages._studio import _registry, class_images, class_names, class_sizes, current_config, plotly, prepared

cfg = current_config()
prep = prepared(cfg)
names = class_names(prep)
ds = prep.dataset

st.title("Data & features")
st.caption(ds.description)

train_fs, test_fs = prep.train, prep.test
c1, c2, c3, c4 = st.columns(4)
c1.metric("Training images", f"{len(train_fs.labels):,}", help=f"of {len(ds.train):,} in the split")
c2.metric("Test images", f"{len(test_fs.labels):,}", help=f"of {len(ds.test):,} in the split")
c3.metric("Classes", len(names))
c4.metric("Feature dimension", int(train_fs.features.shape[1]))

sizes_df = S.class_sizes_frame(names, train_fs.labels, test_fs.labels)
fig = go.Figure([
    go.Bar(name="train", x=sizes_df["class"], y=sizes_df["train"], marker_color="#1f77b4"),
    go.Bar(name="test", x=sizes_df["class"], y=sizes_df["test"], marker_color="#aec7e8"),
])
imb = sizes_df["train"].max() / max(1, sizes_df["train"].min())
fig.update_layout(title=f"Class sizes (train imbalance: largest / smallest = {imb:.1f})", barmode="group",
                  xaxis_title="class", xaxis_type="category", yaxis_title="images", height=360, margin=dict(t=50, b=40))
plotly(fig, key="class_sizes")

with st.expander("Features and scores: where they come from", expanded=False):
    seconds = _registry()["seconds"].get(cfg.key())
    rows = []
    for split, fs in (("train", train_fs), ("test", test_fs)):
        rows.append({"split": split, "images": len(fs.labels),
                     "from disk cache": bool(getattr(fs, "from_cache", False)),
                     "seconds": round(float(getattr(fs, "seconds", 0.0)), 2), "file": str(getattr(fs, "path", ""))})
    st.dataframe(rows, hide_index=True)
    st.caption(f"Backbone {cfg.backbone} (frozen), input {cfg.resolution or ds.default_resolution} px. "
               + (f"This process prepared the data in {seconds:.1f} s. " if seconds is not None else "")
               + "Features and scores are cached on disk, keyed by dataset, backbone, resolution and code version: "
                 "a second start loads them in seconds.")
    st.json({k: v for k, v in (getattr(prep, "config", None) or {}).items()}, expanded=False)


st.subheader("Sample images per class")
cc1, cc2 = st.columns([3, 1])
per_class = cc1.slider("Images per class", 4, 16, 8, key="data_per_class")
seed = int(cc2.number_input("Sample seed", 0, 10_000, 0, key="data_seed"))
size = 56 if ds.native_size <= 64 else 80
cols = st.columns(2)
for k, name in enumerate(names):
    items = class_images(cfg.key(), k, per_class, seed, size, prep)
    with cols[k % 2]:
        st.markdown(f"**{name}** — {int(class_sizes(cfg.key(), prep)[k]):,} training images")
        st.image([png for _, png in items], caption=[f"#{i}" for i, _ in items], width=size)
