"""Page 2: per-sample difficulty per class and the (winsorized) class difficulty of SPEC section 1."""
from __future__ import annotations

import numpy as np
import streamlit as st

from coreset_studio.views import many_classes as M
from coreset_studio.choices import SCORE_LABELS
from coreset_studio.views import class_stats as V
from coreset_studio.views import figures as F
from coreset_studio.text import literal, sample_name
from coreset_studio.widgets import class_select, command_line, plotly, winsor_sliders
from coreset_studio.sidebar import page_session

s, session = page_session()
score, names, C = s.spec.score, session.class_names, session.num_classes
d = session.difficulty(score)

st.title("Class difficulty")
st.caption(f"Score: **{SCORE_LABELS.get(score, score)}**, higher = harder. A class's difficulty is the mean of its "
           "samples' scores, each clipped to the class's own [q(lower), q(1 - upper)] quantiles (winsorized mean). "
           "Both limits 0 give the plain mean of the NUCS paper.")
for warning in session.scores.warnings(session.labels, C, class_names=names):
    st.warning(literal(f"Scores: {warning}."))
lo, hi = winsor = winsor_sliders()
frame = V.difficulty_frame(session, score, winsor)
many = C > F.MANY_CLASSES
query = st.text_input("Find classes (name or id)", key="diff_find", placeholder="e.g. cat, 17") if many else ""
found = M.find_classes(names, query)
wlabel = f"winsorized mean ({100 * lo:g} % / {100 * hi:g} %)"
series = {"mean": (frame["mean"], "#9ecae1"), wlabel: (frame["winsorized"], "#08519c")}
if many:
    order = M.by_difficulty(frame["winsorized"])
    plotly(F.ranked_classes(names, series, order, title=f"Class difficulty of {C:,} classes, hardest first (drag the "
                            "slider below to zoom)", ytitle=f"class difficulty ({score})", highlight=found),
           key="difficulty_bars")
else:
    plotly(F.bar_chart(names, series, title="Class difficulty: mean vs winsorized mean",
                       ytitle=f"class difficulty ({score})", height=380,
                       legend={"orientation": "h", "y": 1.02, "x": 1, "xanchor": "right", "yanchor": "bottom"}),
           key="difficulty_bars")
shown = np.arange(C)
if many:
    hard, easy = M.extreme_classes(frame["winsorized"], 8)
    shown = np.unique(np.concatenate([hard, easy, found[:16]]))
    st.caption(f"Distributions of {shown.size} of {C:,} classes: the 8 hardest, the 8 easiest and the classes found "
               "above.")

left, right = st.columns([1, 3])
kind = left.radio("Distribution as", ["box", "violin"], horizontal=True, key="diff_kind")
left.caption("Box: quartiles and 1.5 IQR whiskers over every sample. Violin: a seeded sample of up to 1,000 per "
             "class. Markers: the winsorization clip limits of each class.")
clips = dict(zip(("lower clip", "upper clip"), V.winsor_limits(session, score, winsor))) if lo or hi else {}
clips = {name: np.asarray(q)[shown] for name, q, on in zip(clips, clips.values(), (lo > 0, hi > 0)) if on}
with right:
    box = V.score_box_stats(session, score).iloc[shown] if kind == "box" else None
    violins = [V.violin_values(session, score)[k] for k in shown] if kind == "violin" else ()
    plotly(F.score_distribution([names[k] for k in shown], score, box=box, violins=violins, clips=clips),
           key="difficulty_dist")

if found.size:
    frame = frame.iloc[found]
st.dataframe(frame.rename(columns={"mean": "mean difficulty", "winsorized": "winsorized mean",
                                   "change_%": "change (%)", "rank": "rank (1 = hardest)"}),
             hide_index=True, height=min(36 * (len(frame) + 1) + 3, 600), column_config={
                 "mean difficulty": st.column_config.NumberColumn(format="%.4f"),
                 "winsorized mean": st.column_config.NumberColumn(format="%.4f"),
                 "change (%)": st.column_config.NumberColumn(format="%+.1f")})

st.subheader("Hardest and easiest examples")
c1, c2 = st.columns([2, 1])
with c1:
    cls = class_select("Class", "diff_class", names)
k = c2.slider("Examples", 4, 16, 8, key="diff_examples")
hard, easy = V.extreme_examples(d, session.labels, cls, k)
for title, idx in (("Hardest (highest score)", hard), ("Easiest (lowest score)", easy)):
    st.markdown(f"**{title}**")
    if session.dataset.train.has_images:
        st.image(V.thumbnails(session, idx, 72), width=72,
                 caption=[literal(f"{sample_name(session.ids[i])}: {d[i]:.3f}") for i in idx])
    else:  # an embeddings file without paths: the samples by id and score
        st.dataframe({"id": [str(session.ids[i]) for i in idx], score: d[idx]}, hide_index=True)
command_line(s.spec.command("score"), s.command("nucs", params={"winsor": winsor}))
