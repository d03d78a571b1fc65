"""Page 6: test accuracy vs pruning rate from the results database, and a small sweep launcher."""
from __future__ import annotations

import os

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from coreset_core import app_state as S
from coreset_core.store import ResultsStore, default_db_path, settings_of, summary_frame
from pages._studio import class_color, class_names, current_config, plotly, prepared

cfg = current_config()
prep = prepared(cfg)
names = class_names(prep)

st.title("Accuracy")
st.caption("Linear-probe (or fine-tuning) test accuracy of every stored run, one line per method, mean ± std over "
           "seeds, for the data settings chosen in the sidebar. Runs come from `coreset sweep` or the button below.")

db_path = st.text_input("Results database", key="acc_db",
                        value=os.environ.get("CORESET_STUDIO_RESULTS_DB") or str(default_db_path()))
try:
    store = ResultsStore(db_path)
    frame = store.to_frame()
except Exception as exc:  # unreadable path: say so, keep the page alive
    st.error(f"Cannot open the results database {db_path}: {exc}")
    st.stop()

effective_res = cfg.resolution or (getattr(prep, "config", None) or {}).get("resolution") or \
    prep.dataset.default_resolution


def matching(frame):
    """Rows of the sidebar's data setting (the other setting columns are chosen below)."""
    if frame.empty:
        return frame
    m = frame["dataset"] == cfg.dataset
    m &= frame["backbone"] == cfg.backbone
    m &= frame["score"] == cfg.score
    m &= (frame["imbalance"].isna() if cfg.imbalance is None else np.isclose(frame["imbalance"].astype(float),
                                                                              cfg.imbalance))
    m &= frame["limit_n"].isna() if cfg.limit is None else frame["limit_n"] == cfg.limit
    m &= frame["resolution"].isna() | (frame["resolution"] == effective_res)
    return frame[m]


rows = matching(frame)
st.caption(f"{len(frame):,} runs stored; {len(rows):,} match {cfg.describe()}.")

if rows.empty:
    st.info("No stored runs for these data settings yet: launch a small sweep below, or run "
            f"`coreset sweep --dataset {cfg.dataset} ...` in a terminal.")
else:
    settings = settings_of(rows)
    labels_of = [", ".join(f"{k}={v}" for k, v in s.items() if k in ("mode", "epochs", "lr", "batch_size",
                                                                          "test_limit", "score_epochs", "resolution"))
                 for s in settings]
    pick = st.selectbox("Training setting", list(range(len(settings))), format_func=lambda i: labels_of[i],
                        key="acc_setting") if len(settings) > 1 else 0
    setting = settings[pick]
    metric = st.radio("Metric", ["accuracy", "balanced_accuracy"], horizontal=True, key="acc_metric")
    stats = summary_frame(rows, metric=metric, **setting)
    fig = go.Figure()
    full = stats[stats["method"] == "full"]
    others = stats[stats["method"] != "full"]
    for j, (label, grp) in enumerate(others.groupby("label", sort=False)):
        grp = grp.sort_values("prune_rate")
        fig.add_trace(go.Scatter(x=100 * grp["prune_rate"], y=grp["mean"], mode="lines+markers", name=label,
                                 line=dict(color=class_color(j)),
                                 error_y=dict(type="data", array=grp["std"].fillna(0.0), visible=True),
                                 customdata=grp["n"], hovertemplate="%{y:.2f} % (n=%{customdata})"))
    if not full.empty:
        v = float(full["mean"].iloc[0])
        fig.add_hline(y=v, line_dash="dash", line_color="#444", annotation_text=f"full data {v:.1f} %")
    fig.update_layout(title=f"Test {metric.replace('_', ' ')} vs pruning rate", xaxis_title="pruning rate (%)",
                      yaxis_title=f"{metric.replace('_', ' ')} (%)", height=420, margin=dict(t=50, b=40))
    plotly(fig, key="accuracy_curves")

    from coreset_core.store import accuracy_table

    try:
        st.dataframe(accuracy_table(rows, metric=metric, **setting))
    except ValueError as exc:
        st.caption(str(exc))

    st.subheader("Per-class accuracy")
    chosen = rows
    for col, value in setting.items():
        chosen = chosen[chosen[col].isna()] if value is None else chosen[chosen[col] == value]
    pc = S.per_class_accuracy_frame(chosen, names)
    if pc.empty:
        st.caption("No per-class accuracies stored.")
    else:
        combos = sorted({(m, r) for m, r in zip(pc["method"], pc["prune_rate"])}, key=lambda t: (t[0] != "full", t))
        fmt = lambda t: f"{t[0]} at {100 * t[1]:g} %"  # noqa: E731
        default = [t for t in combos if t[0] == "full"][:1] + [t for t in combos if t[0] != "full"][:2]
        shown = st.multiselect("Runs", combos, default=default, format_func=fmt, key="acc_pc_runs")
        pfig = go.Figure()
        for j, (m, r) in enumerate(shown):
            sub = pc[(pc["method"] == m) & (pc["prune_rate"] == r)]
            pfig.add_trace(go.Bar(x=sub["class"], y=sub["accuracy"], name=fmt((m, r)), marker_color=class_color(j)))
        pfig.update_layout(barmode="group", height=380, yaxis_title="accuracy (%)", xaxis_type="category",
                           margin=dict(t=30, b=40))
        plotly(pfig, key="accuracy_per_class")

st.subheader("Run a small sweep")
from coreset_core import list_methods  # noqa: E402

with st.form("sweep_form"):
    c1, c2, c3, c4 = st.columns([3, 2, 1, 1])
    methods = c1.multiselect("Methods", list_methods(), default=[m for m in ("random", "el2n", "nucs")
                                                                   if m in list_methods()], key="sweep_methods")
    rates_text = c2.text_input("Pruning rates", value="0.5, 0.7, 0.9", key="sweep_rates")
    seeds_text = c3.text_input("Seeds", value="0", key="sweep_seeds")
    epochs = int(c4.number_input("Probe epochs", 1, 200, 30, key="sweep_epochs"))
    submitted = st.form_submit_button("Run sweep", type="primary")

if submitted:
    from coreset_core.sweep import plan_sweep, run_sweep

    try:
        configs = plan_sweep(cfg.dataset, methods, rates_text, seeds_text, imbalance=cfg.imbalance,
                             data_seed=cfg.data_seed, backbone=cfg.backbone, resolution=cfg.resolution,
                             limit=cfg.limit, test_limit=cfg.test_limit, score=cfg.score,
                             score_epochs=cfg.score_epochs, mode="linear", epochs=epochs)
    except ValueError as exc:
        st.error(str(exc))
        st.stop()
    bar = st.progress(0.0, text=f"{len(configs)} runs planned")
    log = st.empty()

    def on_progress(done: int, total: int, result: dict) -> None:
        c = result.get("config")
        acc = result.get("accuracy")
        what = c.describe() if c is not None else ""
        bar.progress(done / max(total, 1), text=f"{done}/{total} runs: {what}"
                     + (f" → {100 * acc:.1f} %" if isinstance(acc, float) else ""))
        if not result.get("ok", True):
            log.warning(f"failed: {what}: {result.get('error')}")

    report = run_sweep(configs, store, workers=1, progress=False, on_progress=on_progress)
    st.session_state["sweep_report"] = (report.ok, report.summary(), [f"{d}: {e}" for _, d, e in report.failed])
    st.rerun()  # redraw the charts with the new rows

last = st.session_state.get("sweep_report")
if last is not None:
    ok, summary, failures = last
    (st.success if ok else st.warning)(f"Last sweep: {summary}")
    for line in failures[:10]:
        st.caption(line)
