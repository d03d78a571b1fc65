"""Coreset Studio: the Streamlit app (`coreset-studio` runs `streamlit run` on this file).

This file sets the page, loads the shared settings (from the URL on a new session),
renders the sidebar and runs the chosen page from `page_scripts/`; afterwards it writes the
settings back to the URL and shows the page's server compute time in the sidebar
(`coreset_studio.render_log`; with CORESET_STUDIO_TIMING=1 also in the server log).

Environment defaults of a new session (demos, browser tests): CORESET_STUDIO_DATASET,
CORESET_STUDIO_IMBALANCE, CORESET_STUDIO_BACKBONE, CORESET_STUDIO_RESOLUTION,
CORESET_STUDIO_LIMIT, CORESET_STUDIO_TEST_LIMIT, CORESET_STUDIO_SCORE,
CORESET_STUDIO_SCORE_EPOCHS; CORESET_STUDIO_RESULTS_DB (the results database of the Accuracy and Lesson pages),
CORESET_STUDIO_AUTO_UMAP=0 (UMAP only on a click), CORESET_STUDIO_DEVICE (cpu or cuda),
CORESET_STUDIO_ROOTS (folders a typed path may lie in); CORESET_CACHE_DIR / CORESET_DATA_DIR.
CORESET_STUDIO_PROFILE=<folder> writes a cProfile file per page rerun (performance work).
"""
from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

from coreset_studio.choices import format_duration
from coreset_studio.render_log import profiled, timed
from coreset_studio.sidebar import sidebar
from coreset_studio.widgets import start_settings, sync_url

PAGE_SCRIPTS = Path(__file__).resolve().parent / "page_scripts"
PROFILE = "CORESET_STUDIO_PROFILE"  # a folder: one cProfile file per page rerun (performance work)
st.set_page_config(page_title="Coreset Studio", page_icon=":material/filter_alt:", layout="wide")
PAGES = [st.Page(PAGE_SCRIPTS / f"{file}.py", title=title, icon=f":material/{icon}:", url_path=path, default=i == 0)
         for i, (file, title, icon, path) in enumerate([
             ("1_data", "Data & features", "image", "data"), ("2_difficulty", "Difficulty", "bar_chart", "difficulty"),
             ("3_budgets", "Budgets", "pie_chart", "budgets"), ("4_windows", "Windows", "view_week", "windows"),
             ("5_embedding", "Embedding", "scatter_plot", "embedding"),
             ("6_accuracy", "Accuracy", "show_chart", "accuracy"), ("7_compare", "Compare", "compare", "compare"),
             ("8_lesson", "Lesson", "school", "lesson"), ("9_gallery", "Gallery", "photo_library", "gallery")])]


page = st.navigation(PAGES)
st.sidebar.title("Coreset Studio")
start_settings()
sidebar()
timing = st.sidebar.empty()
try:
    with timed(page.url_path or "data") as t, profiled(page.url_path or "data", os.environ.get(PROFILE)):
        page.run()
finally:
    sync_url()
timing.caption(f"server compute of this page: {format_duration(t['ms'] / 1000)}")
