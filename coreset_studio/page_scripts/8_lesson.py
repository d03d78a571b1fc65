"""Page 8: the Lesson: the NUCS argument in six steps on the loaded data (issue 14)."""
from __future__ import annotations

import streamlit as st

from coreset_studio.lesson import figures as LF
from coreset_studio.lesson import steps as L
from coreset_studio.jobs import JobBusy
from coreset_core.experiments.longtail import metric_label
from coreset_studio.sweep_job import DEFAULT_SEEDS, read_results, results_db_path, start_sweep, sweep_slot
from coreset_studio.text import literal
from coreset_studio.views import figures as F
from coreset_studio.views.windows import AUTO_MAX_FLOP
from coreset_studio.views import many_classes as M
from coreset_studio.views.colors import class_color
from coreset_studio.widgets import krr_search_gate, plotly, prune_slider, sweep_status
from coreset_studio.sidebar import page_session

s, session = page_session()
names, sizes, score = session.class_names, session.class_sizes, s.spec.score
many = session.num_classes > F.MANY_CLASSES
db_path = results_db_path(session)
results = read_results(db_path)
slot = sweep_slot()


def run_button(missing: list[str], plan, key: str, what: str) -> None:
    """A button that trains and stores the runs of `plan` in the sweep slot (the sweep skips stored runs)."""
    if missing and st.button(f"Train and store the missing runs ({', '.join(missing)}, linear probe, "
                             f"{len(DEFAULT_SEEDS)} seeds)", key=key):
        try:
            start_sweep(plan.configs(), db_path, name=what, slot=slot, cache_dir=session.cache_dir,
                        data_dir=session.data_dir)
        except JobBusy as exc:
            st.warning(literal(f"Not started: {exc}."))


st.title("Lesson: why select non-uniformly, class by class")
st.caption("The argument of the NUCS paper, step by step, live on the data chosen in the sidebar. Every step has one "
           "**try this** control.")

st.header("a. Pruning the hardest samples starves the minority classes")
method = st.radio("Try this: who decides the class fractions?", ["el2n-easy", "el2n", "random"], horizontal=True,
                  key="lesson_a_method", format_func={"el2n-easy": "EL2N, hardest pruned first (paper's Figure 2)",
                                                      "el2n": "EL2N, easiest pruned first", "random": "random"}.get)
if many:
    a1, a2 = st.columns([1, 2])
    k_ext = a1.slider("Lines for the k largest and k smallest classes", 0, 6, 3, key="lesson_a_k")
    found = M.find_classes(names, a2.text_input("Also draw classes (name or id)", key="lesson_a_find"), limit=6)
    picked = list(dict.fromkeys([*L.size_extremes(session, k_ext), *found.tolist()]))
    table = session.memoised(("view", "lesson starvation table", method, score),
                             lambda: L.starvation_table(session, method=method, score=score))
    fig = F.budget_bands({method: table}, [f"Kept fraction per class under {method}"], names, 0.0, picked)
    fig["layout"]["shapes"] = []
    st.caption(f"{session.num_classes:,} classes: bands over classes (min-max, 10-90 %, median) plus the largest "
               "and smallest classes and those you search for.")
else:
    frame = session.memoised(("view", "lesson starvation", method, score),  # one pass per class
                             lambda: L.starvation(session, method=method, score=score))
    fig = F.line_chart([(100 * g["prune_rate"], g["kept_fraction"], f"{names[c]} ({sizes[c]:,})", class_color(c))
                        for c, g in frame.groupby("class")], title=f"Kept fraction per class under {method}",
                       xtitle="pruning rate (%)", ytitle="kept fraction of the class",
                       yaxis={"title": {"text": "kept fraction"}, "tickformat": ".0%"})
plotly(fig, key="lesson_starvation")
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
series = {"uniform (same fraction per class)": (budgets["uniform_fraction"], "#9ecae1"),
          "NUCS (proportional to class difficulty)": (budgets["nucs_fraction"], "#08519c")}
title = f"Kept fraction per class at {100 * rate:g} % pruning"
plotly(F.ranked_classes(names, series, M.by_difficulty(budgets["difficulty"]), title=title + " (hardest first)",
                        ytitle="kept fraction") if many else
       F.bar_chart(names, series, title=title, ytitle="kept fraction",
                   yaxis={"title": {"text": "kept fraction"}, "tickformat": ".0%"}), key="lesson_budgets")
st.markdown("Once selection is class-wise, someone has to decide how many samples each class keeps. Uniform keeps "
            "the same fraction everywhere; NUCS gives class c a share proportional to its mean difficulty S_c "
            "(Observation 1 of the paper: non-uniform budgets beat uniform ones). Move the pruning rate and watch "
            "the hard classes keep more.")
diffs = L.allocation_differences(results, session, rate)
if not diffs.empty:
    plotly(LF.difference_bars(diffs, rate), key="lesson_b_accuracy")
    shown = diffs.assign(metric=[metric_label(m) for m in diffs["metric"]])
    st.dataframe(shown.rename(columns={"mean": "NUCS - uniform (points)", "std": "std over seeds",
                                       "nucs": "NUCS (%)", "uniform": "uniform (%)"}), hide_index=True)
    st.caption("The argument is about classes, so the worst class and the rarest third of the classes (tail) stand "
               "beside the accuracy. Bars above zero: NUCS's budgets did better on that metric.")
run_button(L.missing_allocation_runs(results, session, rate),
           L.allocation_plan(session, rate, seeds=DEFAULT_SEEDS, winsor=s.winsor), "lesson_b_run",
           "the lesson's step b runs")
sweep_status(slot)

st.header("c. Class difficulty under label noise: mean against winsorized mean")
rescored = L.rescore_name(score)
c1, c2 = st.columns(2)
noisy_cls = c1.selectbox("Class whose labels are flipped", range(session.num_classes), key="lesson_c_class",
                         index=int(sizes.argmax()), format_func=names.__getitem__)
winsor = s.winsor if s.winsor != (0.0, 0.0) else (0.1, 0.1)
work = L.noise_curve_work(session)  # one scoring run per noise level: minutes at 500,000 x 1,000 classes
noise_key = (s.spec.prepare_key, int(noisy_cls), rescored)
asked = st.session_state.setdefault("_noise_requested", set())
if work > AUTO_MAX_FLOP and noise_key not in asked and st.button(
        f"Run the label-noise experiment ({session.labels.shape[0]:,} samples x {session.num_classes:,} classes, "
        f"~{work:.0e} flop of rescoring: this takes a while)", key="lesson_c_run", type="primary"):
    asked.add(noise_key)
if work > AUTO_MAX_FLOP and noise_key not in asked:
    st.info("This step rescores the training set once per noise level (0 to 40 % of a class's labels flipped); "
            "on this many samples and classes it waits for the button above.")
else:
    bar = st.progress(0.0, text=f"Rescoring ({rescored}) on labels with 0 to 40 % of "
                                f"{literal(names[noisy_cls])}'s flipped")
    curve = L.budget_error_curve(session, noisy_cls, rate, winsor=winsor, score=score,
                                 on_progress=lambda done, total: bar.progress(
                                     done / total, text=f"Rescoring ({rescored}): noise level {done} of {total}"))
    bar.empty()
    plotly(LF.noise_curve(curve, names[noisy_cls]), key="lesson_noise_curve")
    st.markdown(f"Flipped samples sit in other classes with the wrong label, so their {rescored} scores are high "
                "and pull those classes' difficulty up; NUCS then hands them budget. The winsorized mean clips each "
                "class's "
                f"scores at its {100 * winsor[0]:g} % and {100 * (1 - winsor[1]):g} % quantiles first (the newer NUCS "
                f"abstract uses it for this reason). The curve measures what that does to the budgets at "
                f"{100 * rate:g} % pruning (one noise draw, seed 0):")
    st.markdown("\n".join(f"- {line}" for line in L.noise_verdict(curve, literal(names[noisy_cls]))))
    if rescored != score:
        st.caption(f"The session's score is the embeddings file's own column, which cannot be recomputed on other "
                   f"labels: this step rescores with {rescored} on clean and on noisy labels alike.")
    if not many:
        fraction = c2.slider("Try this: share of its labels flipped, for the per-class view below", 0.0, 0.5, 0.2, 0.05,
                             key="lesson_c_fraction")
        with st.spinner("Rescoring on the noisy labels..."):
            noise = L.noisy_class_difficulty(session, noisy_cls, fraction, winsor=winsor, score=score)
        t = noise.table
        plotly(F.bar_chart(names, {"mean, clean": (t["clean_mean"], "#bdbdbd"),
                                   "mean, noisy": (t["noisy_mean"], "#e6550d"),
                                   "winsorized, clean": (t["clean_winsorized"], "#9ecae1"),
                                   "winsorized, noisy": (t["noisy_winsorized"], "#08519c")},
                           title=f"Class difficulty ({rescored}) with {noise.noise.flipped.size} labels of "
                                 f"{names[noisy_cls]} flipped", ytitle=rescored), key="lesson_noise")

st.header("d. Windows and the ridge endpoint")
search = krr_search_gate(session, rate, mode="nucs", score=score, winsor=s.winsor, key="lesson_d_run")
with st.spinner("KRR endpoint search: fitting ridge regression for every candidate window..."):
    curve, _, chosen = L.windows_view(session, rate, winsor=s.winsor, score=score, search=search)
k = st.slider("Try this: move the window endpoint k", 0.0, 1.0, 1.0 if chosen is None else float(chosen), 0.05,
              key="lesson_d_k")
_, windows, _ = L.windows_view(session, rate, winsor=s.winsor, score=score, endpoint=k, search=False)
if curve is None:
    st.info("The ridge search has not run at this pruning rate yet (it takes a while on this many samples and "
            "classes): the windows below follow the slider.")
elif curve["accuracy"].isna().all():
    st.info(f"At {100 * rate:g} % pruning every endpoint gives the same coreset: nothing to choose, so no ridge "
            "model was fitted.")
else:
    plotly(F.krr_curve(curve["endpoint"], curve["accuracy"], chosen, k), key="lesson_krr")
plotly(F.class_windows(names, windows["start_q"], windows["end_q"], k), key="lesson_windows")
st.markdown("Inside each class NUCS keeps a contiguous window of the difficulty ranking ending at the same relative "
            "position k. Which k? A ridge regression fitted on each candidate coreset's frozen features and "
            "measured on the whole training set picks it in seconds (the curve above). Small k keeps easy, "
            "typical samples; large k keeps hard, informative ones, and at high pruning rates easy wins.")

st.header("e. The paper's toy model (Section 3.2) and its eq. 6, checked numerically")
sigma0 = st.slider("Try this: spread of class 0 (class 1 has spread 1)", 0.2, 2.0, 0.5, 0.1, key="lesson_e_sigma")
a = session.memoised(("lesson toy model", sigma0), lambda: L.toy_analysis(L.ToyModel(sigma0=sigma0, sigma1=1.0)))
plotly(LF.toy_chart(a), key="lesson_toy")
st.markdown(f"1. {a.verdict['claims']}\n2. {a.verdict['shows']}\n3. {a.verdict['optimises']}")
with st.expander("The computation in detail"):
    st.markdown("The paper scales each class's accuracy by its kept ratio and sets both derivatives of the average "
                "to zero, which gives f0 / f1 = sigma0 / sigma1. Computed numerically:")
    st.markdown(f"- **The paper's objective:** {a.verdict['paper']}\n- **Fitted threshold:** {a.verdict['fitted']}")
    st.caption(a.verdict["note"])

st.header("f. The outcome: accuracy against pruning rate")
metric = st.radio("Try this: metric", ["accuracy", "balanced_accuracy", "worst_class_accuracy", "tail_accuracy"],
                  horizontal=True, key="lesson_f_metric", format_func=lambda m: metric_label(m).split(" (")[0])
stats, setting = L.outcome_curves(results, session, metric=metric)
missing = L.missing_outcome_runs(results, session, seeds=DEFAULT_SEEDS)
if stats.empty:
    st.info("No stored runs of Random, EL2N, BWS and NUCS for these data settings yet: train them with the button "
            "below, on the Accuracy page, or in a terminal:")
else:
    plotly(F.accuracy_curves(stats, title=f"Test {metric_label(metric)} (mean ± std over seeds)",
                             ytitle=f"{metric_label(metric).split(' (')[0]} (%)"), key="lesson_outcome")
    st.caption(literal("Training setting: " + ", ".join(f"{k}={v}" for k, v in setting.items() if v is not None)))
    absent = [m for m in L.OUTCOME_METHODS if m not in set(stats["method"])]
    if absent:
        st.caption(f"No line yet for {', '.join(absent)}: train the missing runs below.")
outcome = L.outcome_plan(session, seeds=DEFAULT_SEEDS)
run_button(missing, outcome, "lesson_f_run", "the lesson's step f runs")
st.code(outcome.command(db_path), language="bash")
st.markdown("Random keeps every class in proportion; EL2N keeps the hardest, which at high pruning rates are often "
            "noise; BWS slides a window with uniform budgets; NUCS adds difficulty-proportional budgets. The paper "
            "reports NUCS ahead at high pruning rates, most on long-tailed data: check whether your data agrees, on "
            "the worst class and the tail too.")
