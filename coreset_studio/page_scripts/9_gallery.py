"""Page 9: what a method keeps and drops in one class, and where CW-ERM's weights come from (issue 14).
(The N-way comparison of several selections is on the Compare page.)"""
from __future__ import annotations

import streamlit as st

from coreset_studio.views import gallery as G
from coreset_studio import choices as C
from coreset_studio.views.reweighting import reweighting_view
from coreset_studio.views import figures as F
from coreset_studio.text import literal
from coreset_studio.widgets import backbone_choice, bound, class_select, command_line, plotly, prune_slider
from coreset_studio.sidebar import page_session

s, session = page_session()
names, K, score = session.class_names, session.num_classes, s.spec.score
has_images = session.dataset.train.has_images


st.title("Gallery: what a method keeps and drops")
st.caption("Every sample of one class under one selection, ordered by difficulty (easiest first), with its original "
           "id or file name and score. The kept and the dropped lists together are the whole class.")
c1, c2, c3 = st.columns([2, 2, 3])
with c1:
    cls = class_select("Class", "gal_class", names)
with c2:
    method = bound(st.selectbox, "Method", "method_a", key="gal_method", options=C.selection_methods())
with c3:
    rate = prune_slider()
o1, o2, o3 = st.columns(3)
per_side = o1.slider("Images per side", 4, 96, 24, 4, key="gal_per_side")
hardest = o2.toggle("Hardest first", key="gal_hardest")
with_probe = o3.toggle("Predictions (linear probe on the kept samples)", key="gal_probe")
params = s.method_params(method)
extra = backbone_choice(method, "gal_backbones")
try:
    request = s.request(method, params=params, **extra)
    selection = session.select(request)
except ValueError as exc:
    st.error(literal(f"{method} cannot select here: {exc}"))
    st.stop()
probe = None
if with_probe:
    with st.spinner("Training a linear probe on the kept samples..."):
        probe = session.probe(selection.indices)
g = G.class_gallery(session, cls, method, rate, score=score, probe=probe, **params, **extra)
st.markdown(f"**{literal(names[cls])}**: {method} keeps **{len(g.kept):,}** of {g.size:,} samples "
            f"({len(g.kept) / max(g.size, 1):.0%}) at {100 * rate:g} % pruning.")

for col, (title, part) in zip(st.columns(2), (("Kept", g.kept), ("Dropped", g.dropped))):
    with col:
        st.subheader(f"{title} ({len(part):,})")
        shown = (part.iloc[::-1] if hardest else part).head(per_side)
        if shown.empty:
            st.caption("none")
        elif has_images:
            st.image(G.images(session, shown["position"], size=72),
                     caption=[literal(G.caption(row)) for _, row in shown.iterrows()], width=72)
        st.dataframe(shown.drop(columns=["kept", "label", "class_name", "prediction"]), hide_index=True, height=240,
                     key=f"gal_table_{title}")
command_line(request.command(s.spec))

st.header("CW-ERM: where every sample's weight comes from")
st.caption("CW-ERM does not drop samples: it learns loss weights on a small class-wise coreset (Meta-Weight-Net) "
           "and gives every training sample the weight of its nearest coreset sample.")
if st.button("Compute CW-ERM weights (seconds)", key="gal_cwerm") or st.session_state.get("gal_cwerm_done"):
    st.session_state["gal_cwerm_done"] = True
    with st.spinner("Learning the weights on the coreset..."):
        view = reweighting_view(session, seed=0)
    plotly(F.weight_boxes(view.per_class, names), key="cwerm_weights")
    core = view.coreset
    plotly(F.coreset_copies(core), key="cwerm_broadcast")
    st.dataframe(core, hide_index=True, height=240, key="cwerm_coreset")
    mine = view.samples[view.samples["class"] == cls]
    st.caption(f"{literal(names[cls])}: each sample and the coreset sample it took its weight from (`source_id`).")
    st.dataframe(mine, hide_index=True, height=240, key="cwerm_samples")
