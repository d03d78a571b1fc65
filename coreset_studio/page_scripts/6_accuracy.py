"""Page 6: test accuracy vs pruning rate from the results database, and a small sweep launcher."""
from __future__ import annotations

import streamlit as st

from coreset_studio import choices as C
from coreset_studio.allowed_paths import check_allowed
from coreset_core.experiments.longtail import COUNT_METRICS, DEFAULT_SHOTS, METRIC_LABELS, metric_label, with_metrics
from coreset_core.experiments.store import FULL_DATA, ResultsStore, accuracy_table, settings_of, summary_frame
from coreset_studio.sweep_job import BUDGET_LABELS, DEFAULT_SEEDS, results_db_path, start_sweep, sweep_slot
from coreset_studio.views import accuracy as V
from coreset_studio.views import class_accuracy as CA
from coreset_studio.views import figures as F
from coreset_studio.views.colors import class_color
from coreset_studio.widgets import BUDGET_HELP, command_line, plotly, sweep_status
from coreset_studio.sidebar import page_session
from coreset_studio.text import literal

s, session = page_session(needs=("train features", "scores", "test features"))
names, sizes = session.class_names, session.class_sizes

st.title("Accuracy")
st.caption("Linear-probe (or fine-tuning) test accuracy of every stored run, one line per method, mean ± std over "
           "seeds, for the data settings chosen in the sidebar. Runs come from `coreset sweep` or the button below.")
default_db = results_db_path(session)
db_path = st.text_input("Results database", key="acc_db", value=default_db)
try:
    db_path = db_path if db_path == default_db else str(check_allowed(db_path))  # a typed path: allowed folders only
    frame = ResultsStore(db_path).to_frame()
except Exception as exc:  # unreadable path: say so, keep the page alive
    st.error(literal(f"Cannot open the results database {db_path}: {exc}"))
    st.stop()
rows = V.matching_runs(frame, s.spec, session.resolution)
st.caption(literal(f"{len(frame):,} runs stored; {len(rows):,} match "
                   f"{C.data_label(s.spec, session.labels.size, session.resolution)}."))

if rows.empty:
    st.info("No stored runs for these data settings yet: launch a small sweep below, or run the `coreset sweep` "
            "command shown at the bottom in a terminal.")
else:
    rows = rows.assign(train_budget=rows["train_budget"].fillna("epochs") if "train_budget" in rows else "epochs")
    have = [b for b in BUDGET_LABELS if (rows["train_budget"] == b).any()]
    budget = st.radio("Training budget of the runs", have, format_func=BUDGET_LABELS.get, horizontal=True,
                      key="acc_budget", help=BUDGET_HELP)
    rows = rows[rows["train_budget"] == budget]
    settings = settings_of(rows)
    shown_keys = ("mode", "epochs", "lr", "batch_size", "test_limit", "score_epochs", "resolution")
    labels_of = [", ".join(f"{k}={v}" for k, v in x.items() if k in shown_keys) for x in settings]
    pick = st.selectbox("Training setting", list(range(len(settings))), format_func=lambda i: labels_of[i],
                        key="acc_setting") if len(settings) > 1 else 0
    setting = settings[pick]
    m1, m2 = st.columns([4, 1])
    metric = m1.radio("Metric", list(METRIC_LABELS), horizontal=True, key="acc_metric", format_func=metric_label,
                      help="Long-tail metrics group classes by their size in the full training set: the worst "
                           "class, the rarest third of the classes (tail), many / medium / few-shot classes "
                           "(thresholds beside).")
    with m2.popover("Shot thresholds"):
        many = int(st.number_input("many-shot: more than (images)", 1, 1_000_000, DEFAULT_SHOTS[0],
                                   key="acc_shots_many"))
        few = int(st.number_input("few-shot: fewer than (images)", 1, 1_000_000, DEFAULT_SHOTS[1],
                                  key="acc_shots_few"))
    shots = (many, min(few, many))
    if shots != DEFAULT_SHOTS:  # the stored columns hold the default thresholds' values
        rows = with_metrics(rows, shots)
    chosen = V.rows_of_setting(rows, setting)
    test_limit = setting.get("test_limit")
    subset = C.subset_note(int(test_limit), len(session.dataset.test)) if test_limit else ""
    label = metric_label(metric)
    what = label[0].upper() + label[1:] + (f" ({subset})" if subset else "")
    plotly(F.accuracy_curves(summary_frame(rows, metric=metric, **setting), title=f"{what} vs pruning rate",
                             ytitle=label + ("" if metric in COUNT_METRICS else " (%)")), key="accuracy_curves")
    try:
        st.dataframe(accuracy_table(rows, metric=metric, **setting))
    except ValueError as exc:
        st.caption(literal(str(exc)))

    st.subheader("Per-class accuracy" + (f" ({subset})" if subset else ""))
    pc = V.per_class_accuracy_frame(chosen, names, sizes)
    if pc.empty:
        st.caption("No per-class accuracies stored.")
    else:
        rates_stored = sorted({float(r) for r in pc["prune_rate"] if r > 0})
        p1, p2 = st.columns([3, 1])
        pruned = [m for m in dict.fromkeys(pc["method"]) if m != FULL_DATA]
        shown = p1.multiselect("Methods", pruned, default=pruned[:3], key="acc_pc_methods")
        rate = p2.selectbox("At pruning rate", rates_stored, index=len(rates_stored) - 1 if rates_stored else 0,
                            format_func=lambda r: f"{100 * r:g} %", key="acc_pc_rate") if rates_stored else 0.0
        groups = CA.shown_groups(pc, shown, rate)
        plotly(CA.accuracy_vs_size(groups, title="Test accuracy per class against its size (mean over seeds)"),
               key="accuracy_vs_size")
        costs = {k: V.pruning_cost(pc, m, rate) for k, m in zip([g for g in groups if g != "full data"], shown)}
        costs = {k: v for k, v in costs.items() if not v.empty}
        if costs:
            plotly(CA.cost_chart(costs, title=f"Who pays for pruning: change against full data per class at "
                                              f"{100 * rate:g} % (mean over seeds ± spread)"), key="accuracy_cost")
        else:
            st.caption("Store full-data runs (method 'full') of this setting to see the change per class.")
        if session.num_classes > F.MANY_CLASSES:
            st.caption(f"{session.num_classes:,} classes: one faint point per class, and the mean over classes of "
                       "similar size (log-spaced size bins) as a line.")
        else:  # few classes: every run group's per-class bars with the spread over seeds
            combos = sorted({(m, r) for m, r in zip(pc["method"], pc["prune_rate"])},
                            key=lambda t: (t[0] != FULL_DATA, t))
            fmt = lambda t: f"{t[0]} at {100 * t[1]:g} %"  # noqa: E731
            default = [t for t in combos if t[0] == FULL_DATA][:1] + [t for t in combos if t[0] != FULL_DATA][:2]
            picked = st.multiselect("Runs", combos, default=default, format_func=fmt, key="acc_pc_runs")
            sub = {t: pc[(pc["method"] == t[0]) & (pc["prune_rate"] == t[1])] for t in picked}
            bars = F.bar_chart(names, {fmt(t): (sub[t]["accuracy"], class_color(j)) for j, t in enumerate(picked)},
                               title="Mean ± std over seeds", ytitle="accuracy (%)", height=380)
            for trace, t in zip(bars["data"], picked):  # the spread over seeds of every bar
                trace["error_y"] = {"type": "data", "array": sub[t]["std"].fillna(0.0).tolist(), "visible": True}
            plotly(bars, key="accuracy_per_class")

st.subheader("Run a small sweep")
slot = sweep_slot()
with st.form("sweep_form", enter_to_submit=False):  # Enter in a field must not start a sweep
    c1, c2, c3, c4 = st.columns([3, 2, 1, 1])
    methods = c1.multiselect("Methods", C.sweep_methods(), default=["random", "el2n", "nucs"], key="sweep_methods",
                             help=C.reweighting_note())
    rates_text = c2.text_input("Pruning rates", value="0.5, 0.7, 0.9", key="sweep_rates")
    seeds_text = c3.text_input("Seeds", value=", ".join(map(str, DEFAULT_SEEDS)), key="sweep_seeds",
                               help="Three seeds give every point of the charts a mean and a spread.")
    epochs = int(c4.number_input("Probe epochs", 1, 200, 30, key="sweep_epochs"))
    sweep_budget = st.radio("Training budget", list(BUDGET_LABELS), format_func=BUDGET_LABELS.get, horizontal=True,
                            key="sweep_budget", help=BUDGET_HELP)
    submitted = st.form_submit_button("Run sweep", type="primary")
try:
    plan = V.sweep_form_plan(s.spec, methods, rates_text, seeds_text, epochs=epochs, train_budget=sweep_budget)
except ValueError as exc:  # a typed value that is no number
    plan = None
    st.error(literal(str(exc)))
if submitted and plan is not None:
    from coreset_studio.jobs import JobBusy

    try:
        configs = plan.configs()
        start_sweep(configs, db_path, name=f"sweep of {len(configs)} runs", slot=slot)
    except JobBusy as exc:
        st.warning(literal(f"Not started: {exc}."))
    except ValueError as exc:
        st.error(literal(str(exc)))
sweep_status(slot)
if plan is not None:
    command_line(plan.command(db_path), caption="The same sweep from a terminal (it skips the runs already stored):")
