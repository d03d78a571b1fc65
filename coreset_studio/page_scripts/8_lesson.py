"""Page 8: the Lesson: the NUCS argument in six steps on the loaded data (issue 14)."""
from __future__ import annotations

import streamlit as st

from coreset_studio.lesson import steps as L
from coreset_studio.jobs import JobBusy
from coreset_studio.sweep_job import DEFAULT_SEEDS, read_results, results_db_path, start_sweep, sweep_slot
from coreset_studio.views import figures as F
from coreset_studio.views.colors import class_color
from coreset_studio.widgets import plotly, prune_slider, sweep_status
from coreset_studio.sidebar import page_session

s, session = page_session()
names, sizes, score = session.class_names, session.class_sizes, s.spec.score
db_path = results_db_path(session)
results = read_results(db_path)


st.title("Lesson: why select non-uniformly, class by class")
st.caption("The argument of the NUCS paper, step by step, live on the data chosen in the sidebar. Every step has one "
           "**try this** control.")

st.header("a. Pruning the hardest samples starves the minority classes")
method = st.radio("Try this: who decides the class fractions?", ["el2n-easy", "el2n", "random"], horizontal=True,
                  key="lesson_a_method", format_func={"el2n-easy": "EL2N, hardest pruned first (paper's Figure 2)",
                                                      "el2n": "EL2N, easiest pruned first", "random": "random"}.get)
series = session.memoised(("view", "lesson starvation", method, score), lambda: [  # one pass per class: memoised
    (100 * g["prune_rate"], g["kept_fraction"], f"{names[c]} ({sizes[c]:,})", class_color(c))
    for c, g in L.starvation(session, method=method, score=score).groupby("class")])
plotly(F.line_chart(series, title=f"Kept fraction per class under {method}",
                    xtitle="pruning rate (%)", ytitle="kept fraction of the class",
                    yaxis={"title": {"text": "kept fraction"}, "tickformat": ".0%"}), key="lesson_starvation")
st.markdown("A global ranking never looks at classes: it keeps the samples that score best over the whole set. "
            "Rare classes are usually the hard ones (fewer examples to learn from), so pruning the hardest first "
            "removes them first: at high pruning rates whole minority classes vanish. Random pruning keeps every "
            "class in proportion, whatever its difficulty.")
if not L.is_long_tailed(session):
    st.info("This dataset is (nearly) balanced: choose a long-tailed one (e.g. CIFAR-10-LT) in the sidebar to see "
            "the minority classes starve.")

st.header("b. Uniform against difficulty-proportional budgets")
rate = prune_slider()
budgets = L.budget_comparison(session, rate, winsor=s.winsor, score=score)
plotly(F.bar_chart(names, {"uniform (same fraction per class)": (budgets["uniform_fraction"], "#9ecae1"),
                           "NUCS (proportional to class difficulty)": (budgets["nucs_fraction"], "#08519c")},
                   title=f"Kept fraction per class at {100 * rate:g} % pruning", ytitle="kept fraction",
                   yaxis={"title": {"text": "kept fraction"}, "tickformat": ".0%"}), key="lesson_budgets")
st.markdown("Once selection is class-wise, someone has to decide how many samples each class keeps. Uniform keeps "
            "the same fraction everywhere; NUCS gives class c a share proportional to its mean difficulty S_c "
            "(Observation 1 of the paper: non-uniform budgets beat uniform ones). Move the pruning rate and watch "
            "the hard classes keep more.")
stats = L.allocation_accuracy(results, session, [rate])
if not stats.empty:
    runs = [f"{m} ({n} seed{'s' * (n > 1)})" for m, n in zip(stats["method"], stats["n"])]
    plotly(F.mean_std_bars(runs, stats["mean"], stats["std"], xtitle="budgets", ytitle="accuracy (%)",
                           title=f"Test accuracy at {100 * rate:g} % pruning (mean ± std over seeds)"),
           key="lesson_b_accuracy")
    st.dataframe(stats, hide_index=True)
missing = L.missing_allocation_runs(results, session, rate)
slot = sweep_slot()
if missing and st.button(f"Train and store the missing runs ({', '.join(missing)}, linear probe, "
                         f"{len(DEFAULT_SEEDS)} seeds)", key="lesson_b_run"):
    try:
        start_sweep(L.allocation_configs(session, rate, seeds=DEFAULT_SEEDS, winsor=s.winsor), db_path,
                    name="the lesson's step b runs", slot=slot, cache_dir=session.cache_dir,
                    data_dir=session.data_dir)
    except JobBusy as exc:
        st.warning(f"Not started: {exc}.")
sweep_status(slot)

st.header("c. Class difficulty under label noise: mean against winsorized mean")
c1, c2 = st.columns(2)
noisy_cls = c1.selectbox("Class whose labels are flipped", range(session.num_classes), key="lesson_c_class",
                         index=int(sizes.argmax()), format_func=names.__getitem__)
fraction = c2.slider("Try this: share of its labels flipped to other classes", 0.0, 0.5, 0.2, 0.05,
                     key="lesson_c_fraction")
winsor = s.winsor if s.winsor != (0.0, 0.0) else (0.1, 0.1)
try:
    with st.spinner("Rescoring on the noisy labels..."):
        noise = L.noisy_class_difficulty(session, noisy_cls, fraction, winsor=winsor, score=score)
except ValueError as exc:  # e.g. an embeddings file's own scores: nothing to recompute
    noise = None
    st.info(str(exc))
if noise is not None:
    t = noise.table
    plotly(F.bar_chart(names, {"mean, clean": (t["clean_mean"], "#bdbdbd"), "mean, noisy": (t["noisy_mean"], "#e6550d"),
                               "winsorized, clean": (t["clean_winsorized"], "#9ecae1"),
                               "winsorized, noisy": (t["noisy_winsorized"], "#08519c")},
                       title=f"Class difficulty ({score}) with {noise.noise.flipped.size} labels of {names[noisy_cls]} "
                             f"flipped", ytitle=score), key="lesson_noise")
    st.markdown(f"The flipped samples now sit in other classes with the wrong label, so their {score} scores are huge "
                f"and pull those classes' plain means up. The winsorized mean clips each class's scores at its "
                f"{100 * winsor[0]:g} % and {100 * (1 - winsor[1]):g} % quantiles first, so a few mislabelled samples "
                "move it much less; the newer NUCS abstract uses it for exactly this reason. With many flips in one "
                "small class the outliers are no longer a tail and clipping cannot help.")

st.header("d. Windows and the ridge endpoint")
curve, windows, chosen = L.windows_view(session, rate, winsor=s.winsor, score=score)
k = st.slider("Try this: move the window endpoint k", 0.0, 1.0, float(chosen), 0.05, key="lesson_d_k")
_, windows, _ = L.windows_view(session, rate, winsor=s.winsor, score=score, endpoint=k)
plotly(F.krr_curve(curve["endpoint"], curve["accuracy"], chosen, k), key="lesson_krr")
plotly(F.class_windows(names, windows["start_q"], windows["end_q"], k), key="lesson_windows")
st.markdown("Inside each class NUCS keeps a contiguous window of the difficulty ranking ending at the same relative "
            "position k. Which k? A ridge regression fitted on each candidate coreset's frozen features and "
            "measured on the whole training set picks it in seconds (the curve above). Small k keeps easy, "
            "typical samples; large k keeps hard, informative ones, and at high pruning rates easy wins.")

st.header("e. The paper's toy model (Section 3.2) and its eq. 6, checked numerically")
sigma0 = st.slider("Try this: spread of class 0 (class 1 has spread 1)", 0.2, 2.0, 0.5, 0.1, key="lesson_e_sigma")
a = session.memoised(("lesson toy model", sigma0), lambda: L.toy_analysis(L.ToyModel(sigma0=sigma0, sigma1=1.0)))
plotly(F.line_chart([(a.f0, a.paper_best, "paper's objective (eq. 4), best t", "#e6550d"),
                     (a.f0, a.fitted_mean, "fitted t: average accuracy", "#08519c"),
                     (a.f0, a.fitted_worst, "fitted t: worst-class accuracy", "#31a354")], mode="lines",
                    marks=[(a.model.eq6_f0, "eq. 6", "#444"), (a.worst_optimum, "worst-class optimum", "#31a354")],
                    title=f"Two Gaussian classes (means 0 and 2), f = {a.model.f:g}: accuracy against the allocation",
                    xtitle="f0 (kept ratio of class 0; f1 = 2f - f0)", ytitle="accuracy"), key="lesson_toy")
st.markdown("The paper scales each class's accuracy by its kept ratio and sets both derivatives of the average to "
            "zero, which gives f0 / f1 = sigma0 / sigma1. Computed numerically:")
st.markdown(f"- **The paper's objective:** {a.verdict['paper']}\n- **Fitted threshold:** {a.verdict['fitted']}")
st.caption(a.verdict["note"])

st.header("f. The outcome: accuracy against pruning rate")
metric = st.radio("Try this: metric", ["accuracy", "balanced_accuracy"], horizontal=True, key="lesson_f_metric",
                  format_func=lambda m: m.replace("_", " "))
stats, setting = L.outcome_curves(results, session, metric=metric)
if stats.empty:
    st.info("No stored runs of Random, EL2N, BWS and NUCS for these data settings yet. Run them on the Accuracy "
            "page or in a terminal:")
    st.code(s.spec.command("sweep", "--methods", ",".join(L.OUTCOME_METHODS), "--prune-rates", "0.5,0.7,0.9",
                           "--seeds", "0,1,2"), language="bash")
else:
    plotly(F.accuracy_curves(stats, title=f"Test {metric.replace('_', ' ')} (mean ± std over seeds)",
                             ytitle=f"{metric.replace('_', ' ')} (%)"), key="lesson_outcome")
    st.caption("Training setting: " + ", ".join(f"{k}={v}" for k, v in setting.items() if v is not None))
st.markdown("Random keeps every class in proportion; EL2N keeps the hardest, which at high pruning rates are often "
            "noise; BWS slides a window with uniform budgets; NUCS adds difficulty-proportional budgets. The paper "
            "reports NUCS ahead at high pruning rates, most on long-tailed data: check whether your data agrees.")
