"""Coreset Studio: the Streamlit app (`coreset-studio` runs `streamlit run app.py`).

This file sets the page, renders the shared sidebar (dataset, backbone, resolution,
number of training images, score type) and runs the chosen page from `pages/`. Every
page rerun is timed (server compute of the page script, see `coreset_core.app_state.timed`);
the figure is shown at the bottom of the sidebar and, with CORESET_STUDIO_TIMING=1,
printed to the server log.

Environment defaults for the sidebar (demos, browser tests): CORESET_STUDIO_DATASET,
CORESET_STUDIO_IMBALANCE, CORESET_STUDIO_BACKBONE, CORESET_STUDIO_RESOLUTION,
CORESET_STUDIO_LIMIT, CORESET_STUDIO_TEST_LIMIT, CORESET_STUDIO_SCORE,
CORESET_STUDIO_SCORE_EPOCHS, CORESET_STUDIO_RESULTS_DB (the Accuracy page's database; default
<cache>/results.sqlite), CORESET_STUDIO_AUTO_UMAP=0 (compute UMAP only on a click);
CORESET_CACHE_DIR / CORESET_DATA_DIR move the caches and data.
CORESET_STUDIO_PROFILE=<folder> writes a cProfile file per page rerun (for performance work).
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import streamlit as st

ROOT = Path(__file__).resolve().parent
if str(ROOT) not in sys.path:  # `pages._studio` is imported by the pages
    sys.path.insert(0, str(ROOT))

from coreset_core.app_state import timed  # noqa: E402
from pages._studio import app_run, sidebar  # noqa: E402

st.set_page_config(page_title="Coreset Studio", page_icon=":material/filter_alt:", layout="wide")

PAGES = [
    st.Page(ROOT / "pages/1_data.py", title="Data & features", icon=":material/image:", url_path="data", default=True),
    st.Page(ROOT / "pages/2_difficulty.py", title="Difficulty", icon=":material/bar_chart:", url_path="difficulty"),
    st.Page(ROOT / "pages/3_budgets.py", title="Budgets", icon=":material/pie_chart:", url_path="budgets"),
    st.Page(ROOT / "pages/4_windows.py", title="Windows", icon=":material/view_week:", url_path="windows"),
    st.Page(ROOT / "pages/5_embedding.py", title="Embedding", icon=":material/scatter_plot:", url_path="embedding"),
    st.Page(ROOT / "pages/6_accuracy.py", title="Accuracy", icon=":material/show_chart:", url_path="accuracy"),
    st.Page(ROOT / "pages/7_compare.py", title="Compare", icon=":material/compare:", url_path="compare"),
]

with app_run():
    page = st.navigation(PAGES)
    st.sidebar.title("Coreset Studio")
    st.session_state["_studio_config"] = sidebar()
    timing = st.sidebar.empty()

    with timed(page.url_path or "data") as t:
        if os.environ.get("CORESET_STUDIO_PROFILE"):  # developer aid: cProfile every rerun into this folder
            import cProfile

            with cProfile.Profile() as prof:
                page.run()
            out = Path(os.environ["CORESET_STUDIO_PROFILE"])
            out.mkdir(parents=True, exist_ok=True)
            prof.dump_stats(out / f"{page.url_path or 'data'}-{time.time():.3f}.prof")
        else:
            page.run()
    timing.caption(f"server compute of this page: {t['ms']:.0f} ms")
