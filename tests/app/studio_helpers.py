"""Helpers of the AppTest tests: page switching, error checks, decoding plotly specs."""
from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np

#: AppTest's main script: the studio's own app.py.
ENTRY = Path(__file__).resolve().parents[2] / "coreset_studio" / "app.py"

PAGE_FILES = {
    "data": "1_data", "difficulty": "2_difficulty", "budgets": "3_budgets", "windows": "4_windows",
    "embedding": "5_embedding", "accuracy": "6_accuracy", "compare": "7_compare", "lesson": "8_lesson",
    "gallery": "9_gallery",
}


def goto(at, page: str, timeout: float = 300):
    """Switch the AppTest to a studio page and run it."""
    at.switch_page(f"page_scripts/{PAGE_FILES[page]}.py")
    at.run(timeout=timeout)
    assert_clean(at)
    return at


@contextmanager
def started_studio(env: dict[str, str]) -> Iterator[Any]:
    """The studio's AppTest, run once with `env` set (and unset again afterwards)."""
    import pytest
    from streamlit.testing.v1 import AppTest

    mp = pytest.MonkeyPatch()
    for k, v in env.items():
        mp.setenv(k, v)
    try:
        at = AppTest.from_file(str(ENTRY), default_timeout=600)
        at.run()
        assert_clean(at)
        yield at
    finally:
        mp.undo()


def assert_clean(at) -> None:
    """No exception and no error box on the page."""
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def chart(at, key: str) -> dict:
    """The decoded plotly spec (data + layout) of the chart drawn with `key`."""
    for el in at.get("plotly_chart"):
        if el.proto.id.endswith(f"-{key}"):
            return json.loads(el.proto.spec)
    raise AssertionError(f"no plotly chart with key {key!r}; charts: {[e.proto.id for e in at.get('plotly_chart')]}")


def chart_keys(at) -> list[str]:
    return [el.proto.id.rsplit("-", 1)[-1] for el in at.get("plotly_chart")]


def values(trace: dict, axis: str) -> np.ndarray:
    """A trace's x or y values (plotly may ship arrays as typed-array dicts)."""
    v = trace[axis]
    if isinstance(v, dict) and "bdata" in v:
        import base64

        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"]))
    return np.asarray(v)


ROOT = ENTRY.parents[1]
#: The same environment as conftest.STUDIO_ENV (the app starts on the prepared digits setting).
PAGE_ENV = {"CORESET_STUDIO_DATASET": "digits", "CORESET_STUDIO_LIMIT": "300", "CORESET_STUDIO_TEST_LIMIT": "200",
       "CORESET_STUDIO_RESOLUTION": "64", "CORESET_STUDIO_SCORE_EPOCHS": "2", "CORESET_STUDIO_AUTO_UMAP": "0"}
PAGE_ENTRY = """
from pathlib import Path
import streamlit as st
from coreset_studio.widgets import start_settings, sync_url
from coreset_studio.sidebar import sidebar
ROOT = Path({root!r})
page = st.navigation([st.Page(ROOT / "coreset_studio/page_scripts/{page}.py", url_path="{url}", default=True)])
start_settings()
sidebar()
try:
    page.run()
finally:
    sync_url()
"""


def open_page(page, url, tmp_path, monkeypatch, cache_dir, db=None):
    """One studio page (with the sidebar) under AppTest on the small digits setting, results from `db`."""
    from streamlit.testing.v1 import AppTest

    for k, v in PAGE_ENV.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("CORESET_CACHE_DIR", str(cache_dir))
    monkeypatch.setenv("CORESET_STUDIO_RESULTS_DB", str(db or tmp_path / "none.sqlite"))
    entry = tmp_path / f"entry_{url}.py"
    entry.write_text(PAGE_ENTRY.format(root=str(ROOT), page=page, url=url))
    at = AppTest.from_file(str(entry), default_timeout=600)
    at.run()
    assert_clean(at)
    return at


def shown(markdown: str) -> str:
    """What a reader sees of escaped Markdown (`coreset_studio.text.literal`): backslash escapes and the
    invisible word joiners that break autolinks removed."""
    import re

    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", markdown).replace("\u2060", "")
