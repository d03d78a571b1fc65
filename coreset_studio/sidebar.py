"""The studio's sidebar (the data setting) and its prepared `Session`s.

One `Session` per data setting (`DataSpec.prepare_key`) is kept in `st.cache_resource`
for every browser session of the process (at most `MAX_SESSIONS`); the Session memoises
everything derived from the data. Its first preparation shows a status box with progress.
"""
from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import streamlit as st

from coreset_studio import choices as C
from coreset_core.session import Session
from coreset_core.spec import DEFAULT_SCORE, DataSpec
from coreset_core.features import FILE_BACKBONE
from coreset_studio.link_values import MAX_SCORE_EPOCHS
from coreset_studio.settings import checked_dataset, default_limits
from coreset_studio.text import literal

from coreset_studio.widgets import NOTES, bound, settings, update

MAX_SESSIONS = 3  # prepared data settings kept in memory per process
PATH_ERROR = "_path_error"  # the refusal of the last typed data path, shown once in the sidebar


@dataclass
class _Entry:
    session: Session
    lock: threading.Lock = field(default_factory=threading.Lock)
    ready: bool = False
    seconds: float | None = None


@st.cache_resource(show_spinner=False, max_entries=MAX_SESSIONS)
def _entry(prepare_key: str, _spec: DataSpec) -> _Entry:
    device = os.environ.get("CORESET_STUDIO_DEVICE", "cpu")
    return _Entry(Session(_spec.replace(score=DEFAULT_SCORE), device=device, max_memo=512))


def prepared_session(spec: DataSpec) -> Session:
    """The Session of `spec`, prepared (features and scores), with a progress box the first time."""
    entry = _entry(spec.prepare_key, spec)
    if entry.ready:
        return entry.session
    with entry.lock:
        if not entry.ready:
            _prepare(entry, spec)
    return entry.session


def _prepare(entry: _Entry, spec: DataSpec) -> None:
    start, last = time.perf_counter(), [0.0]
    with st.status(f"Preparing {spec.dataset}: features and difficulty scores", expanded=True) as box:
        bar = st.progress(0.0, text="loading the dataset")

        def on_progress(stage: str, fraction: float) -> None:
            if time.perf_counter() - last[0] >= 0.2 or fraction >= 1.0:  # throttle the websocket traffic
                last[0] = time.perf_counter()
                bar.progress(fraction, text=f"{stage}: {100 * fraction:.0f} %")

        try:
            entry.session.prepare(on_progress)
        except Exception as exc:  # shown with the library's explanation
            box.update(label="Preparation failed", state="error", expanded=True)
            st.error(f"{type(exc).__name__}: {exc}")
            st.stop()
        entry.seconds = time.perf_counter() - start
        n = int(entry.session.labels.shape[0])
        box.update(label=f"Prepared {n:,} training images of {spec.dataset} in {C.format_duration(entry.seconds)}",
                   state="complete", expanded=False)
    entry.ready = True


def preparation_seconds(spec: DataSpec) -> float | None:
    """How long this process took to prepare `spec` (None when it has not)."""
    return _entry(spec.prepare_key, spec).seconds


def page_session() -> tuple[Any, Session]:
    """The shared settings and the prepared Session of this run (a page asks for them first)."""
    if st.session_state.get("_path_choice"):
        st.info("Type the path of your data in the sidebar to start.")
        st.stop()
    s = settings()
    return s, prepared_session(s.spec)


# ----------------------------------------------------------------------------- sidebar


def _pick_dataset() -> None:
    choice = st.session_state["cfg_dataset"]
    st.session_state["_path_choice"] = choice if choice in C.PATH_CHOICES else None
    if choice not in C.PATH_CHOICES:
        update(spec_changes=_dataset_change(choice))


def _dataset_change(dataset: str) -> dict[str, Any]:
    """The spec changes of a new dataset: its default image limits unless the user chose others."""
    spec, changes = settings().spec, {"dataset": dataset}
    if (spec.limit, spec.test_limit) == default_limits(spec.dataset):
        changes["limit"], changes["test_limit"] = default_limits(dataset)
    return changes


def _set_path(prefix: str) -> None:
    try:
        update(spec_changes=_dataset_change(checked_dataset(f"{prefix}:{st.session_state['cfg_path'].strip()}")))
        st.session_state["_path_choice"] = None
    except ValueError as exc:  # outside the allowed folders (names CORESET_STUDIO_ROOTS), or not a dataset
        st.session_state[PATH_ERROR] = str(exc)


_PATH_LABELS = {"imagefolder": "Folder of class sub-folders", "embeddings": "Features file (.npz / .parquet)",
                "hf": "Dataset folder (save_to_disk; ?split=...&label=... options may follow)"}


def _dataset_widgets(sb: Any, spec: DataSpec) -> None:
    options = C.dataset_choices()
    choice = st.session_state.get("_path_choice") or spec.dataset.split(":", 1)[0]
    options += [] if choice in options else [choice]
    st.session_state["cfg_dataset"] = choice
    sb.selectbox("Dataset", options, key="cfg_dataset", on_change=_pick_dataset,
                 format_func=lambda v: C.DATASET_LABELS.get(v, v))
    if choice in C.PATH_CHOICES:
        current = spec.dataset.split(":", 1)[1] if spec.dataset.startswith(choice + ":") else ""
        st.session_state["cfg_path"] = current
        sb.text_input(_PATH_LABELS[choice],
                      key="cfg_path", on_change=_set_path, args=(choice,), placeholder="/path/to/data")
        if st.session_state.get(PATH_ERROR):
            sb.error(literal(st.session_state.pop(PATH_ERROR)))
        elif not current:
            sb.info("Type the path and press Enter (it must lie in an allowed folder: CORESET_STUDIO_ROOTS).")
    if spec.imbalance is not None:
        bound(sb.selectbox, "Imbalance factor (largest / smallest class)", "spec", key="cfg_imbalance",
              options=C.imbalance_choices(spec.imbalance), accept_new_options=True, format_func=C.number_label,
              to_widget=lambda s: s.imbalance,
              from_widget=lambda v: settings().spec.replace(imbalance=C.parse_imbalance(v)),
              help="Pick a usual value or type any number >= 1 and press Enter.")
    if C.dataset_caveat(spec.dataset):
        sb.caption(C.dataset_caveat(spec.dataset))


def _spec_select(sb: Any, label: str, name: str, options: list, key: str, *, none_as: str | None = None,
                 format_func: Any = str, **kwargs: Any) -> None:
    """A select box of one data field. `None` ("all", "auto") is shown as the token `none_as`: streamlit
    reads a None widget value as "nothing chosen" and would show a blank "Choose an option"."""
    value = getattr(settings().spec, name)
    options = options + ([] if value in options else [value])
    token = (lambda v: none_as if v is None else v) if none_as else (lambda v: v)
    untoken = (lambda v: None if v == none_as else v) if none_as else (lambda v: v)
    bound(sb.selectbox, label, "spec", key=key, options=[token(o) for o in options],
          to_widget=lambda s: token(getattr(s, name)), format_func=lambda v: format_func(untoken(v)),
          from_widget=lambda v: settings().spec.replace(**{name: untoken(v)}), **kwargs)


def sidebar() -> None:
    """The data setting (a DataSpec, shared like every other setting) and notes on refused values."""
    sb = st.sidebar
    sb.markdown("### Data")
    spec = settings().spec
    _dataset_widgets(sb, spec)
    if spec.backbone == FILE_BACKBONE:
        sb.caption("Features: the file's own (no backbone or input resolution applies).")
    else:
        _spec_select(sb, "Backbone (frozen, ImageNet weights)", "backbone", C.backbone_choices(), "cfg_backbone")
        entry = _entry(spec.prepare_key, spec)
        default_res = entry.session.resolution if entry.ready else None
        _spec_select(sb, "Input resolution", "resolution", list(C.RESOLUTIONS), "cfg_resolution", none_as="auto",
                     format_func=lambda r: C.resolution_label(r, default_res))
    _spec_select(sb, "Training images", "limit", list(C.LIMITS), "cfg_limit", none_as="all", format_func=C.limit_label,
                 help="The first N training images (a representative sample; features are cached on disk).")
    _spec_select(sb, "Difficulty score", "score", C.score_choices(), "cfg_score",
                 format_func=lambda v: C.SCORE_LABELS.get(v, v))
    with sb.expander("More settings"):
        _spec_select(st, "Test images (linear probe)", "test_limit", list(C.TEST_LIMITS), "cfg_test_limit",
                     none_as="all", format_func=C.limit_label)
        bound(st.number_input, "Scoring epochs (linear head)", "spec", key="cfg_score_epochs", min_value=1,
              max_value=MAX_SCORE_EPOCHS, to_widget=lambda s: s.score_epochs,
              from_widget=lambda v: settings().spec.replace(score_epochs=int(v)))
    notes = st.session_state.get(NOTES, [])
    if notes:  # one box; every note is shown as text (it repeats values from the link or a typed path)
        sb.warning("\n".join(f"- {literal(message)}" for message in notes))
    st.session_state[NOTES] = []
