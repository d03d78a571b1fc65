"""The studio's shared settings in streamlit, and the widgets every page uses.

One `StudioSettings` per browser session lives under `st.session_state[SETTINGS]`; it is
read from the URL when a session starts (a reload or a shared link) and written back to
the URL after every run. A widget bound to a setting (`bound`) is set from the settings
before it is drawn and writes its value back in its `on_change` callback, which runs
before the page script: so every page shows the same value, whichever page changed it,
and a page switch cannot reset it.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence, TypeVar

import streamlit as st

from coreset_studio.settings import (PRUNE_MAX_PCT, PRUNE_STEP_PCT, WINSOR_MAX_PCT, WINSOR_STEP_PCT,
                                          StudioSettings, defaults_from_env, from_query, to_query)
from coreset_studio.text import inert_plot, literal
from coreset_studio.views import downloads as D
from coreset_studio.views import windows as W
from coreset_studio.views.figures import as_figure

SETTINGS, NOTES = "_studio_settings", "_studio_notes"


def start_settings() -> list[str]:
    """Load the settings once per session (URL over the environment's defaults); the notes on bad values."""
    if SETTINGS not in st.session_state:
        defaults, notes = defaults_from_env()
        settings, url_notes = from_query(st.query_params.to_dict(), defaults)
        st.session_state[SETTINGS], st.session_state[NOTES] = settings, notes + url_notes
    return st.session_state[NOTES]


def settings() -> StudioSettings:
    return st.session_state[SETTINGS]


def note(message: str) -> None:
    """A note for the sidebar's next run (a refused value and why)."""
    st.session_state[NOTES] = [*st.session_state.get(NOTES, []), message]


def update(**changes: Any) -> None:
    """Change shared settings (validated); a refused value is reported in the sidebar."""
    try:
        st.session_state[SETTINGS] = settings().replace(**changes)
    except ValueError as exc:
        note(str(exc))


def sync_url() -> None:
    """Mirror the settings in the URL query string (only when they differ: no needless messages)."""
    query = to_query(settings())
    if st.query_params.to_dict() != query:
        st.query_params.from_dict(query)


def _write_back(key: str, field: str, from_widget: Callable[[Any], Any]) -> None:
    try:
        update(**{field: from_widget(st.session_state[key])})
    except ValueError as exc:
        note(str(exc))


def bound(widget: Callable[..., Any], label: str, field: str, *, key: str, to_widget: Callable = lambda v: v,
          from_widget: Callable = lambda v: v, **kwargs: Any) -> Any:
    """Draw `widget` showing the shared setting `field`; a change goes back to the settings."""
    st.session_state[key] = to_widget(getattr(settings(), field))
    widget(label, key=key, on_change=_write_back, args=(key, field, from_widget), **kwargs)
    return getattr(settings(), field)


def class_select(label: str, key: str, names: Sequence[str]) -> int:
    """The shared class as a select box of `names`; a class number beyond them (a link made on other
    data) becomes the last class, with a note saying so."""
    last = len(names) - 1
    if settings().class_index > last:
        st.caption(literal(f"class={settings().class_index} is not a class of this data (0 to {last}); "
                           f"showing class {last}"))
        update(class_index=last)
    return bound(st.selectbox, label, "class_index", key=key, options=list(range(last + 1)),
                 format_func=lambda k: str(names[k]))


def prune_slider() -> float:
    """The shared pruning rate (fraction removed)."""
    bound(st.slider, "Pruning rate (% of training images removed)", "prune_pct", key="prune_pct", min_value=0,
          max_value=PRUNE_MAX_PCT, step=PRUNE_STEP_PCT)
    return settings().prune_rate


def winsor_sliders() -> tuple[float, float]:
    """The shared winsorization limits (fractions clipped at each tail of every class)."""
    col1, col2 = st.columns(2)
    kw = dict(min_value=0.0, max_value=WINSOR_MAX_PCT, step=WINSOR_STEP_PCT, format="%.1f")
    with col1:
        bound(st.slider, "Winsorize: lower tail clipped (%)", "winsor_lo", key="winsor_lo",
              help="Scores below this per-class quantile are raised to it before averaging.", **kw)
    with col2:
        bound(st.slider, "Winsorize: upper tail clipped (%)", "winsor_hi", key="winsor_hi",
              help="Scores above the (1 - limit) per-class quantile are lowered to it "
                   "(e.g. mislabelled samples with huge scores).", **kw)
    return settings().winsor


T = TypeVar("T")


def selection_header(third: Callable[[], T]) -> tuple[tuple[float, float], float, T]:
    """The top row of the selection pages: the winsorization sliders, the pruning rate, and the page's
    own control(s) drawn by `third` in a narrow third column; `(winsor, prune rate, third())`."""
    top = st.columns([2, 2, 1])
    with top[0]:
        winsor = winsor_sliders()
    with top[1]:
        rate = prune_slider()
    with top[2]:
        extra = third()
    return winsor, rate, extra


#: The KRR searches asked for by a click, per browser session (shared by the pages that gate the search).
KRR_REQUESTED = "_krr_requested"


def krr_search_gate(session: Any, prune_rate: float, *, mode: str, score: str, winsor: tuple[float, float],
                    key: str) -> bool:
    """Whether the KRR endpoint search runs now (`views.windows.search_gate`): by itself when small or held
    already, else after a click on the button drawn here (remembered for the session, on every page)."""
    requested = st.session_state.setdefault(KRR_REQUESTED, set())
    gate = W.search_gate(session, prune_rate, data_key=settings().spec.prepare_key, mode=mode, score=score,
                         winsor=winsor, requested=requested)
    if not gate.runs and st.button(gate.button_label, key=key, type="primary"):
        requested.add(gate.key)
        return True
    return gate.runs


def command_line(*lines: str, caption: str = "The same selection from a terminal (the JSON download holds its "
                                            "full config):") -> None:
    """The equivalent `coreset` command line(s) of what the page shows."""
    with st.expander("Command line", expanded=False):
        st.caption(caption)
        st.code("\n".join(lines), language="bash")


def downloads(session: Any, selection: Any, command: str, key: str, container: Any = None) -> None:
    """CSV and JSON download buttons of a selection (original ids and paths, and its config).

    The files are made when a button is clicked, not on every rerun."""
    c = container or st
    doc: dict[str, Any] = {}

    def make(fmt: str) -> bytes:
        if not doc:
            doc.update(D.document(session, selection, command))
        return D.file_bytes(doc, fmt)

    dataset = settings().spec.dataset
    col1, col2 = c.columns(2)
    col1.download_button("Download selection (CSV)", lambda: make("csv"), key=f"dl_csv_{key}", mime="text/csv",
                         file_name=D.file_name(selection.config, dataset, "csv"), on_click="ignore",
                         help="One row per training sample: original id, path, class, score, kept")
    col2.download_button("Download selection (JSON)", lambda: make("json"), key=f"dl_json_{key}",
                         mime="application/json", file_name=D.file_name(selection.config, dataset, "json"),
                         on_click="ignore", help="Kept ids and paths, class counts, and the config that rebuilds it")


def plotly(fig: Any, key: str, **kwargs: Any) -> Any:
    """Draw a figure full width: a `go.Figure`, or a spec dict `{"data", "layout"}` (sent unvalidated, its
    strings made inert: a class name from a file shows as typed, never as a link)."""
    return st.plotly_chart(as_figure(inert_plot(fig)) if isinstance(fig, dict) else fig, key=key,
                           config={"displaylogo": False}, **kwargs)


BUDGET_HELP = ("Equal epochs: every subset trains the chosen number of epochs, so a smaller subset gets fewer "
               "optimiser steps. Equal optimiser steps: a subset trains as many steps as the full training set gets "
               "in those epochs. Which of the two is fair is debated; runs of each are stored and shown apart.")


def sweep_status(slot: Any) -> None:
    """The studio's one sweep (`coreset_studio.sweep_job`): a progress bar and a Cancel button while it
    runs (polled every second), its outcome afterwards; the page is redrawn once when it ends."""
    watching = slot.running

    @st.fragment(run_every=1.0 if watching else None)
    def panel() -> None:
        status = slot.status()
        if status.running:
            st.progress(status.fraction or 0.0, text=status.describe())
            if st.button("Cancel the sweep", key="sweep_cancel", disabled=status.cancel_requested,
                         help="Stops after the run in flight; the finished runs stay stored."):
                slot.cancel()
        elif watching:
            st.rerun()  # it ended while this page watched: redraw the charts with the new rows
        elif status.state != "idle":
            report = status.result
            lines = [f"Last sweep: {status.describe()}"]
            lines += [report.summary()] + [f"failed: {d}: {e}" for _, d, e in report.failed[:10]] if report else []
            {"done": st.success, "cancelled": st.info}.get(status.state, st.warning)(
                "  \n".join(literal(line) for line in lines))

    panel()


def backbone_choice(method: str, key: str, container: Any = None) -> dict[str, Any]:
    """`{"backbones": [...]}` from a multiselect when `method` averages over several backbones
    (RAM-APL; `SelectionRequest.backbones`), else `{}`."""
    from coreset_core.backbones import list_backbones
    from coreset_core.request import MULTI_BACKBONE_METHODS, RAM_APL_BACKBONES

    if method not in MULTI_BACKBONE_METHODS:
        return {}
    options = list_backbones()
    chosen = (container or st).multiselect(
        f"{method} backbones", options, default=[b for b in RAM_APL_BACKBONES if b in options], key=key,
        help="RAM-APL averages its scores over the features of these backbones (each is extracted once and cached).")
    if not chosen:
        (container or st).warning("Choose at least one backbone; using the data's backbone.")
        chosen = [settings().spec.backbone]
    return {"backbones": chosen}
