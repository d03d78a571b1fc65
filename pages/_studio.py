"""Streamlit glue shared by the studio's pages: sidebar, cached data, shared sliders, exports.

Computation lives in `coreset_core` (`coreset_core.app_state` builds every chart's data);
this module only caches it per sidebar configuration and lays it out. Caching levels:

- prepared data (features + scores) per sidebar config: a process-wide registry (like
  `st.cache_resource`, but the first computation shows a progress box, which a cached
  function could not do without replaying it); on disk by the library.
- derived data that does not depend on the sliders (box-plot statistics, global methods'
  kept fractions, selections, KRR searches, image grids): `st.cache_resource` keyed by the
  config key plus the arguments (the prepared object itself is passed unhashed).
- slider-dependent numbers (winsorized difficulty, budgets) are recomputed per rerun; they
  take milliseconds.
"""
from __future__ import annotations

import runpy
import threading
import time
from collections import OrderedDict
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import streamlit as st

from coreset_core import app_state as S

_MAX_PREPARED = 3  # prepared configs kept in memory per process


# ----------------------------------------------------------------------------- sidebar


def _index(options: list, value: Any) -> int:
    return options.index(value) if value in options else 0


def sidebar() -> S.StudioConfig | None:
    """Render the shared sidebar and return the chosen config (None while it is incomplete)."""
    env = S.config_from_env()
    env_folder = env.dataset.split(":", 1)[1] if env.dataset.startswith("imagefolder:") else ""
    env_choice = S.IMAGEFOLDER if env_folder else env.dataset
    options = list(S.DATASETS) + [S.IMAGEFOLDER]
    if env_choice not in options:
        options.insert(0, env_choice)
    sb = st.sidebar
    sb.markdown("### Data")
    choice = sb.selectbox("Dataset", options, index=_index(options, env_choice),
                          format_func=lambda v: S.DATASET_LABELS.get(v, v), key="cfg_dataset")
    dataset = choice
    if choice == S.IMAGEFOLDER:
        folder = sb.text_input("Image folder (one sub-folder per class)", value=env_folder, key="cfg_folder",
                               placeholder="/path/to/images")
        if not folder.strip():
            sb.info("Enter the path of a folder with one sub-folder of images per class.")
            return None
        dataset = f"imagefolder:{folder.strip()}"
    imbalance = None
    if choice.endswith("-lt"):
        imbalance = float(sb.select_slider("Imbalance factor (largest / smallest class)",
                                           options=[1, 2, 5, 10, 20, 50, 100, 200],
                                           value=int(env.imbalance or 10), key="cfg_imbalance"))
    caveat = S.DATASET_CAVEATS.get(choice)
    if caveat:
        sb.caption(caveat)
    backbones = list(S.BACKBONES)
    backbone = sb.selectbox("Backbone (frozen, ImageNet weights)", backbones,
                            index=_index(backbones, env.backbone), key="cfg_backbone")
    resolutions = list(S.RESOLUTIONS)
    if env.resolution not in resolutions:
        resolutions.append(env.resolution)
    resolution = sb.selectbox("Input resolution", resolutions, index=_index(resolutions, env.resolution),
                              format_func=S.resolution_label, key="cfg_resolution")
    limits = list(S.LIMITS)
    if env.limit not in limits:
        limits.insert(0, env.limit)
    limit = sb.selectbox("Training images", limits, index=_index(limits, env.limit), format_func=S.limit_label,
                         key="cfg_limit", help="The first N training images (features are cached on disk; "
                                               "'all' on CIFAR-10 takes a while on a CPU the first time).")
    scores = list(S.SCORES)
    score = sb.selectbox("Difficulty score", scores, index=_index(scores, env.score),
                         format_func=lambda v: S.SCORE_LABELS.get(v, v), key="cfg_score")
    with sb.expander("More settings"):
        test_limits = [None, 500, 1000, 2000, 5000]
        if env.test_limit not in test_limits:
            test_limits.append(env.test_limit)
        test_limit = st.selectbox("Test images (linear probe)", test_limits, index=_index(test_limits, env.test_limit),
                                  format_func=S.limit_label, key="cfg_test_limit")
        score_epochs = int(st.number_input("Scoring epochs (linear head)", min_value=1, max_value=20,
                                           value=int(env.score_epochs), key="cfg_score_epochs"))
    return S.StudioConfig(dataset=dataset, imbalance=imbalance, backbone=backbone, resolution=resolution, limit=limit,
                          test_limit=test_limit, score=score, score_epochs=score_epochs)


ROOT = Path(__file__).resolve().parents[1]
_APP = threading.local()  # per script thread: is app.py running this page?


@contextmanager
def app_run() -> Iterator[None]:
    """Marks the body of app.py (the page runs inside it)."""
    _APP.active = True
    try:
        yield
    finally:
        _APP.active = False


def ensure_app() -> None:
    """Run app.py if this page script was started without it, then stop.

    Streamlit keeps a legacy mode for apps with a `pages/` folder: until the entry script
    has called `st.navigation` once in a server process, a first request for a deep link
    such as `/windows` runs `pages/4_windows.py` directly, without the sidebar. Running
    app.py here registers the real navigation (which then renders the requested page
    inside it) and switches the server to it for good.
    """
    if getattr(_APP, "active", False):
        return
    runpy.run_path(str(ROOT / "app.py"), run_name="__main__")
    st.stop()


def current_config() -> S.StudioConfig:
    """The config the sidebar chose this rerun (stops the page while it is incomplete)."""
    ensure_app()
    cfg = st.session_state.get("_studio_config")
    if cfg is None:
        st.info("Choose a dataset in the sidebar to start.")
        st.stop()
    return cfg


# ----------------------------------------------------------------------------- prepared data


@st.cache_resource(show_spinner=False)
def _registry() -> dict[str, Any]:
    return {"data": OrderedDict(), "locks": {}, "lock": threading.Lock(), "seconds": {}}


def prepared(cfg: S.StudioConfig):
    """Features and scores of `cfg` (computed once per process and config, with a progress box)."""
    reg = _registry()
    key = cfg.key()
    hit = reg["data"].get(key)
    if hit is not None:
        return hit
    with reg["lock"]:
        lock = reg["locks"].setdefault(key, threading.Lock())
    with lock:
        hit = reg["data"].get(key)
        if hit is not None:
            return hit
        from coreset_core import pipeline

        start = time.perf_counter()
        with st.status(f"Preparing {cfg.describe()}: features and difficulty scores", expanded=True) as box:
            bar = st.progress(0.0, text="loading the dataset")
            last = {"t": 0.0}

            def on_progress(stage: str, fraction: float) -> None:
                now = time.perf_counter()
                if now - last["t"] < 0.2 and fraction < 1.0:
                    return  # throttle the websocket traffic
                last["t"] = now
                frac = float(min(max(fraction, 0.0), 1.0))
                bar.progress(frac, text=f"{stage}: {100 * frac:.0f} %")

            try:
                prep = pipeline.prepare(cfg.dataset, **cfg.prepare_kwargs(), progress=False, on_progress=on_progress)
            except Exception as exc:  # shown to the user with the library's explanation
                box.update(label="Preparation failed", state="error", expanded=True)
                st.error(f"{type(exc).__name__}: {exc}")
                st.stop()
            seconds = time.perf_counter() - start
            bar.progress(1.0, text=f"ready in {seconds:.1f} s")
            box.update(label=f"Prepared {cfg.describe()} in {seconds:.1f} s", state="complete", expanded=False)
        reg["data"][key] = prep
        reg["seconds"][key] = seconds
        while len(reg["data"]) > _MAX_PREPARED:
            reg["data"].popitem(last=False)
        return prep


def num_classes(prep) -> int:
    return len(prep.dataset.class_names)


def class_names(prep) -> list[str]:
    return list(prep.dataset.class_names)


@st.cache_resource(show_spinner=False, max_entries=32)
def difficulty(key: tuple, score: str, _prep) -> np.ndarray:
    """Per-sample non-negative difficulty (higher = harder) of a score type."""
    d = np.asarray(_prep.scores.difficulty(score), dtype=np.float64)
    d.setflags(write=False)
    return d


@st.cache_resource(show_spinner=False, max_entries=16)
def class_sizes(key: tuple, _prep) -> np.ndarray:
    labels = np.asarray(_prep.train.labels)
    return np.bincount(labels, minlength=num_classes(_prep))


@st.cache_resource(show_spinner=False, max_entries=32)
def selection(key: tuple, method: str, prune_rate: float, score: str, seed: int, params: tuple, _prep):
    """`pipeline.run_selection` result, cached per config and arguments."""
    from coreset_core import pipeline

    return pipeline.run_selection(_prep, method, prune_rate=float(prune_rate), score=score, seed=int(seed),
                                  **dict(params))


def _png(img, size: int) -> str:
    """The image resized to `size` as a PNG data URI (st.image passes URIs through untouched, so a
    cached image costs nothing per rerun)."""
    import base64
    import io

    buf = io.BytesIO()
    img.resize((size, size)).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


@st.cache_resource(show_spinner=False, max_entries=256)
def class_images(key: tuple, cls: int, per_class: int, seed: int, size: int, _prep) -> list[tuple[int, str]]:
    """`(index, PNG data URI)` of a seeded sample of training images of class `cls`, resized to `size`."""
    idx = S.sample_indices_per_class(_prep.train.labels, per_class, seed)[cls]
    split = _prep.dataset.train
    return [(int(i), _png(split.image(int(i)), size)) for i in idx]


@st.cache_resource(show_spinner=False, max_entries=256)
def extreme_images(key: tuple, score: str, cls: int, k: int, size: int, _d, _labels, _prep):
    """Hardest and easiest images of class `cls`: two lists of `(index, PNG data URI)`."""
    hard, easy = S.extreme_examples(_d, _labels, cls, k)
    split = _prep.dataset.train
    return ([(int(i), _png(split.image(int(i)), size)) for i in hard],
            [(int(i), _png(split.image(int(i)), size)) for i in easy])


@st.cache_resource(show_spinner=False, max_entries=16)
def sorted_scores(key: tuple, score: str, _d, _labels, c: int) -> tuple[np.ndarray, np.ndarray]:
    """The scores sorted inside each class, once per config and score (`app_state.class_sorted`)."""
    return S.class_sorted(_d, _labels, c)


@st.cache_resource(show_spinner=False, max_entries=16)
def box_stats(key: tuple, score: str, _d, _labels, _names) -> Any:
    return S.score_box_stats(_d, _labels, _names)


@st.cache_resource(show_spinner=False, max_entries=16)
def violin_values(key: tuple, score: str, per_class: int, _d, _labels, c: int) -> list[list[float]]:
    pts = S.per_class_sample(_labels, per_class, seed=0)
    return [_d[pts[_labels[pts] == k]].tolist() for k in range(c)]


@st.cache_resource(show_spinner="Running the global method at every pruning rate...", max_entries=16)
def global_table(key: tuple, method: str, score: str, rates: tuple, _prep):
    """Kept fraction per class (classes x rates) of a method at every rate of the grid."""
    from coreset_core import kept_fraction_table

    d_ = np.asarray(_prep.scores.difficulty(score), dtype=np.float64)
    return kept_fraction_table(method, list(rates), labels=_prep.train.labels, scores=d_,
                               features=_prep.train.features, seed=0)


@st.cache_resource(show_spinner=False, max_entries=16)
def uniform_table(key: tuple, rates: tuple, _sizes) -> Any:
    """Uniform allocation counts (classes x rates): independent of the difficulty, so computed once."""
    return S.allocation_table(np.ones(len(_sizes)), _sizes, list(rates), mode="uniform")


@st.cache_resource(show_spinner=False, max_entries=8)
def strips(key: tuple, score: str, _d, _labels, c: int) -> np.ndarray:
    return S.sorted_strips(_d, _labels, c, bins=200)


@st.cache_resource(show_spinner=False)
def result_store(name: str) -> dict:
    """A process-wide dict for results computed on request (KRR searches, linear probes)."""
    return {"results": OrderedDict(), "lock": threading.Lock()}


@st.cache_resource(show_spinner="PCA projection...", max_entries=8)
def pca_coords(key: tuple, _feats, _fkey, cache_dir: str) -> np.ndarray:
    """2-D PCA of the training features (cached on disk by `coreset_core.embedding`)."""
    from coreset_core import embedding as E

    return E.get_embedding(_feats, "pca", feature_key=_fkey, cache_dir=cache_dir)


def umap_coords(key: tuple, feats, fkey, cache_dir: str) -> np.ndarray | None:
    """The UMAP of the training features if it was computed (disk cache or a finished job), else None."""
    from coreset_core import embedding as E

    memo = result_store("umap")
    hit = memo["results"].get((key, cache_dir))
    if hit is None:
        hit = E.load_cached(feats, "umap", feature_key=fkey, cache_dir=cache_dir)
        if hit is None:
            job = E.job_for(feats, "umap", feature_key=fkey, cache_dir=cache_dir)
            hit = job.result if job is not None and job.state == "done" else None
        if hit is not None:
            with memo["lock"]:
                memo["results"][(key, cache_dir)] = hit
                while len(memo["results"]) > 8:
                    memo["results"].popitem(last=False)
    return hit


def selection_config(cfg: S.StudioConfig, sel) -> dict[str, Any]:
    """A selection's full provenance: the method's recorded config (with its "data" section, which
    `pipeline.selection_from_config` rebuilds it from) plus the sidebar's dataset name on top."""
    out = {"dataset": cfg.dataset}
    out.update(dict(getattr(sel, "config", {}) or {}))
    return out


# ----------------------------------------------------------------------------- shared widgets


def persistent(name: str, default: Any) -> Any:
    """The last value of a shared control (kept when the page holding its widget is not shown)."""
    return st.session_state.get(f"_keep_{name}", default)


def shared_slider(label: str, name: str, default: Any, **kwargs: Any) -> Any:
    """A slider whose value is shared by every page that shows it (e.g. the pruning rate)."""
    store, wkey = f"_keep_{name}", f"w_{name}"
    if store not in st.session_state:
        st.session_state[store] = default
    if wkey not in st.session_state:
        st.session_state[wkey] = st.session_state[store]
    value = st.slider(label, key=wkey, **kwargs)
    st.session_state[store] = value
    return value


def winsor_sliders() -> tuple[float, float]:
    """Lower and upper winsorization limits (fractions clipped at each tail of every class)."""
    col1, col2 = st.columns(2)
    with col1:
        lo = shared_slider("Winsorize: lower tail clipped (%)", "winsor_lo", 0.0, min_value=0.0, max_value=25.0,
                           step=0.5, help="Scores below this per-class quantile are raised to it before averaging.")
    with col2:
        hi = shared_slider("Winsorize: upper tail clipped (%)", "winsor_hi", 0.0, min_value=0.0, max_value=25.0,
                           step=0.5, help="Scores above the (1 - limit) per-class quantile are lowered to it "
                                          "(e.g. mislabelled samples with huge scores).")
    return round(lo / 100.0, 6), round(hi / 100.0, 6)


def prune_slider(container=None) -> float:
    """The pruning rate (fraction removed), shared by the pages that show it."""
    def draw():
        return shared_slider("Pruning rate (% of training images removed)", "prune_pct", 70, min_value=0,
                             max_value=95, step=5)
    if container is None:
        pct = draw()
    else:
        with container:
            pct = draw()
    return round(pct / 100.0, 4)


def export_buttons(cfg: S.StudioConfig, prep, indices: np.ndarray, config: dict[str, Any], key: str,
                   container=None) -> None:
    """CSV and JSON download buttons for a selection (indices plus its full config).

    The files are made when a button is clicked (deferred downloads), not on every rerun:
    encoding tens of thousands of indices would otherwise cost a slider move ~100 ms.
    """
    c = container or st
    labels, names = prep.train.labels, class_names(prep)
    idx = np.array(indices, copy=True)
    cfg_copy = dict(config)

    def make(which: int) -> bytes:
        return S.selection_exports(idx, cfg_copy, labels, names)[which]

    col1, col2 = c.columns(2)
    col1.download_button("Download indices (CSV)", lambda: make(0), file_name=S.selection_filename(config, "csv"),
                         mime="text/csv", key=f"dl_csv_{key}", on_click="ignore")
    col2.download_button("Download selection (JSON)", lambda: make(1),
                         file_name=S.selection_filename(config, "json"), mime="application/json",
                         key=f"dl_json_{key}", on_click="ignore")


def method_param_inputs(method: str, key: str, container=None, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """Input widgets for a method's documented parameters; returns the values that differ from defaults."""
    from coreset_core.methods import get_method

    c = container or st
    spec = get_method(method)
    out: dict[str, Any] = {}
    for name, default in spec.params.items():
        if name in skip or name in ("device", "val_features", "val_labels"):
            continue
        wkey = f"{key}_{method}_{name}"
        if isinstance(default, bool):
            v = c.checkbox(name, value=default, key=wkey)
        elif isinstance(default, int):
            v = int(c.number_input(name, value=default, step=1, key=wkey))
        elif isinstance(default, float):
            v = float(c.number_input(name, value=default, format="%g", key=wkey))
        else:
            text = c.text_input(name, value="" if default is None else _to_text(default), key=wkey,
                                help="JSON, e.g. [0.0, 0.05] for a pair; empty for None")
            try:
                v = S.coerce_param(text, default)
            except (ValueError, TypeError) as exc:
                c.warning(f"{name}: cannot read {text!r} ({exc}); using the default")
                v = default
        if _to_text(v) != _to_text(default):
            out[name] = v
    return out


def _to_text(value: Any) -> str:
    import json

    if isinstance(value, tuple):
        value = list(value)
    try:
        return json.dumps(value)
    except TypeError:
        return str(value)


def freeze(params: dict[str, Any]) -> tuple:
    """Hashable form of a parameter dict (for cache keys)."""
    def f(v):
        if isinstance(v, (list, tuple)):
            return tuple(f(x) for x in v)
        return v
    return tuple(sorted((k, f(v)) for k, v in params.items()))


def thaw(params: tuple) -> dict[str, Any]:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in params}


def plotly(fig, key: str, **kwargs: Any):
    """Draw a plotly figure (a `go.Figure` or a `SpecFigure`) full width."""
    return st.plotly_chart(fig, key=key, config={"displaylogo": False}, **kwargs)


try:
    import plotly.graph_objects as _go

    class SpecFigure(_go.Figure):
        """A finished plotly spec (`data` list and `layout` dict) that `st.plotly_chart` sends as is.

        Building a figure with `plotly.graph_objects` validates every property as it is set
        (1-3 ms per trace, tens of ms for subplots and `add_vline`), which dominated the
        rerun time of the slider-driven pages. Those pages build plain dict specs instead;
        streamlit takes a figure object's `to_dict()` without validating it again. The
        AppTest tests decode these specs and check their numbers.
        """

        def __init__(self, data: list[dict], layout: dict):  # noqa: D107 (no BaseFigure.__init__ on purpose)
            object.__setattr__(self, "_spec", {"data": data, "layout": layout})

        def to_dict(self) -> dict:
            return self._spec

        def to_plotly_json(self) -> dict:
            return self._spec
except ImportError:  # pragma: no cover
    SpecFigure = None  # type: ignore[assignment,misc]


def lst(values) -> list:
    """A JSON-ready list from an array or sequence."""
    return np.asarray(values).tolist() if not isinstance(values, list) else values


#: Sequential scale for difficulty (dark = easy, bright = hard), as explicit colours: the streamlit theme
#: rewrites some colours of named scales (Magma's near-black start came out pink).
MAGMA = [[i / 8, c] for i, c in enumerate(["#140e36", "#3b0f70", "#641a80", "#8c2981", "#b73779", "#de4968",
                                             "#f7705c", "#fe9f6d", "#fcfdbf"])]

CLASS_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                "#bcbd22", "#17becf"]


def class_color(k: int) -> str:
    if k < len(CLASS_COLORS):
        return CLASS_COLORS[k]
    import colorsys

    r, g, b = colorsys.hsv_to_rgb((k * 0.618034) % 1.0, 0.65, 0.85)
    return f"rgb({int(255 * r)},{int(255 * g)},{int(255 * b)})"
