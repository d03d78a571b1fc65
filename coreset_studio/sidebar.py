"""The studio's sidebar (the data setting) and its prepared `Session`s.

One `Session` per data setting (`DataSpec.prepare_key`) is kept in `st.cache_resource`
for every browser session of the process (at most `MAX_SESSIONS`); the Session memoises
everything derived from the data. Its preparation (train features, scores, test features)
runs in a background thread started by the first page that opens the setting, so a page
that needs none of it (the Data page) draws at once; a page that needs a stage shows the
preparation's progress and what it waits for until that stage is ready. The page thread
never computes a stage itself while the background thread is on it (the Session's per-key
locks make a second request wait for the first computation).

A setting whose estimated preparation work (`Session.preparation_cost`) is above
`CONFIRM_FLOP` is not started by opening a page (a link can carry any setting): the page
shows the estimate and a button, and preparation starts on the click.
"""
from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import streamlit as st

from coreset_studio import choices as C
from coreset_core.session import STAGES, Session
from coreset_core.spec import DEFAULT_SCORE, FILE_SCORE, DataSpec
from coreset_core.features import FILE_BACKBONE
from coreset_studio.link_values import MAX_SCORE_EPOCHS
from coreset_studio.settings import checked_dataset, default_limits
from coreset_studio.text import literal

from coreset_studio.widgets import NOTES, bound, settings, update

MAX_SESSIONS = 3  # prepared data settings kept in memory per process
PATH_ERROR = "_path_error"  # the refusal of the last typed data path, shown once in the sidebar
#: Preparations estimated above this work (flop) start only on a click: about 4 minutes at 40 GFLOP/s
#: (lower bound). The default setting (CIFAR-10, 5,000 + 1,000 images at 128 px) is 1.5e12.
CONFIRM_FLOP = 1e13
#: What most pages wait for; the Data page needs none of it, Accuracy and Compare also the test features.
PAGE_NEEDS = ("train features", "scores")


@dataclass
class _Entry:
    session: Session
    lock: threading.Lock = field(default_factory=threading.Lock)
    thread: threading.Thread | None = None
    progress: dict[str, float] = field(default_factory=dict)  #: stage -> fraction done
    error: str | None = None
    seconds: float | None = None
    approved: bool = False  #: a click started an expensive preparation
    cost: Any = None  #: the `methods.cost.Cost` of the preparation, estimated once

    @property
    def ready(self) -> bool:
        """Whether every stage is prepared."""
        return all(self.session.stage_ready(stage) for stage in STAGES)


@st.cache_resource(show_spinner=False, max_entries=MAX_SESSIONS)
def _entry(prepare_key: str, _spec: DataSpec) -> _Entry:
    device = os.environ.get("CORESET_STUDIO_DEVICE", "cpu")
    return _Entry(Session(_spec.replace(score=DEFAULT_SCORE), device=device, max_memo=512))


def _stages_for(spec: DataSpec, needs: tuple[str, ...]) -> tuple[str, ...]:
    """The stages a page on `spec` waits for: no scoring head for the embeddings file's own scores."""
    return tuple(stage for stage in needs if not (stage == "scores" and spec.score == FILE_SCORE))


def _background(entry: _Entry, stages: tuple[str, ...]) -> None:
    """Prepare `stages` of the entry's Session (thread body); failures are kept for the pages to show."""
    start = time.perf_counter()

    def on_progress(stage: str, fraction: float) -> None:
        entry.progress[stage] = fraction

    try:
        entry.session.prepare(on_progress, test="test features" in stages, scores="scores" in stages)
    except Exception as exc:  # shown by every page that waits for it, with the library's explanation
        entry.error = f"{type(exc).__name__}: {exc}"
    entry.seconds = time.perf_counter() - start


def _ensure_started(entry: _Entry, spec: DataSpec) -> None:
    """Start the background preparation of every stage `spec`'s pages use, unless it is running."""
    with entry.lock:
        if entry.thread is not None and entry.thread.is_alive() or entry.error:
            return
        stages = _stages_for(spec, STAGES)
        if all(entry.session.stage_ready(stage) for stage in stages):
            return
        entry.thread = threading.Thread(target=_background, args=(entry, stages), daemon=True,
                                        name=f"prepare {spec.dataset}")
        entry.thread.start()


def _cost(entry: _Entry):
    if entry.cost is None:
        entry.cost = entry.session.preparation_cost()
    return entry.cost


def _needs_click(entry: _Entry) -> bool:
    """Whether preparation waits for a click: estimated above `CONFIRM_FLOP` and not started yet."""
    if entry.approved or entry.thread is not None or entry.ready:
        return False
    return _cost(entry).flop > CONFIRM_FLOP


def _confirm_box(entry: _Entry, spec: DataSpec) -> None:
    """The estimate of an expensive preparation and the button that starts it."""
    from coreset_core.methods.cost import gemm_flops

    cost = _cost(entry)
    minutes = cost.flop / gemm_flops() / 60.0
    st.warning(f"Preparing this data setting is estimated at {cost.flop:.1e} flop, at least "
               f"{C.format_duration(60 * minutes)} on this machine: {literal(cost.what)}. It starts only when you ask. "
               f"Cheaper: {literal(cost.alternative)}.", icon=":material/hourglass_top:")
    if st.button("Prepare this data setting", key="prepare_confirm", type="primary"):
        entry.approved = True
        _ensure_started(entry, spec)
        st.rerun()


def _wait_for(entry: _Entry, spec: DataSpec, stages: tuple[str, ...]) -> None:
    """Show the background preparation's progress until `stages` are ready (or stop on its error)."""
    missing = [stage for stage in stages if not entry.session.stage_ready(stage)]
    if not missing:
        return
    box = st.status(f"Preparing {literal(spec.dataset)}: this page waits for the {' and the '.join(missing)}",
                    expanded=True)
    with box:
        bar = st.progress(0.0, text="starting")
    while missing:
        if entry.error:
            box.update(label="Preparation failed", state="error", expanded=True)
            st.error(literal(entry.error))
            if st.button("Try again", key="prepare_retry"):
                entry.error = None
                st.rerun()
            st.stop()
        if entry.thread is None or not entry.thread.is_alive():
            _ensure_started(entry, spec.replace(score=DEFAULT_SCORE) if "scores" in missing else spec)
        stage = next((s for s in STAGES if s in entry.progress and entry.progress[s] < 1.0), missing[0])
        fraction = entry.progress.get(stage, 0.0)
        bar.progress(fraction, text=f"{stage}: {100 * fraction:.0f} %")
        if entry.thread is not None and entry.thread.is_alive():
            entry.thread.join(0.25)
        else:
            time.sleep(0.25)
        missing = [stage for stage in stages if not entry.session.stage_ready(stage)]
    box.update(label=f"Prepared {int(entry.session.labels.shape[0]):,} training images of {literal(spec.dataset)}"
                     + (f" in {C.format_duration(entry.seconds)}" if entry.seconds is not None else ""),
               state="complete", expanded=False)


def prepared_session(spec: DataSpec, needs: tuple[str, ...] = PAGE_NEEDS) -> Session:
    """The Session of `spec` with the stages in `needs` ready; starts the background preparation of the
    rest (or shows the estimate and a button when it is expensive) and shows progress while it waits."""
    entry = _entry(spec.prepare_key, spec)
    stages = _stages_for(spec, needs)
    if _needs_click(entry):
        _confirm_box(entry, spec)
        if stages:
            st.stop()
        return entry.session
    _ensure_started(entry, spec)
    _wait_for(entry, spec, stages)
    return entry.session


def preparation_seconds(spec: DataSpec) -> float | None:
    """How long this process took to prepare `spec` in the background (None until it has)."""
    return _entry(spec.prepare_key, spec).seconds


def page_session(needs: tuple[str, ...] = PAGE_NEEDS) -> tuple[Any, Session]:
    """The shared settings and the Session of this run with `needs` (stages of `STAGES`) prepared
    (a page asks for them first)."""
    if st.session_state.get("_path_choice"):
        st.info("Type the path of your data in the sidebar to start.")
        st.stop()
    s = settings()
    return s, prepared_session(s.spec, needs)


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
        default_res = entry.session.resolution if entry.session.stage_ready("train features") else None
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
