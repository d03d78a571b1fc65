"""Helpers of the browser tests: waiting for the studio to settle, reading charts and sliders."""
from __future__ import annotations

import os
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CORESET_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
#: The studio's sidebar defaults for the run. CORESET_E2E_DATASET / _LIMIT / _RESOLUTION switch the
#: data (e.g. cifar10, 2000, 128 to make README screenshots); CORESET_E2E_UMAP=1 also computes UMAP.
E2E_DATASET = os.environ.get("CORESET_E2E_DATASET", "digits")
E2E_LIMIT = int(os.environ.get("CORESET_E2E_LIMIT", "300"))
E2E_RESOLUTION = int(os.environ.get("CORESET_E2E_RESOLUTION", "64"))
E2E_UMAP = os.environ.get("CORESET_E2E_UMAP", "0") == "1"
STUDIO_ENV = {
    "CORESET_STUDIO_DATASET": E2E_DATASET,
    "CORESET_STUDIO_LIMIT": str(E2E_LIMIT),
    "CORESET_STUDIO_TEST_LIMIT": "200",
    "CORESET_STUDIO_RESOLUTION": str(E2E_RESOLUTION),
    "CORESET_STUDIO_SCORE_EPOCHS": "2",
    "CORESET_STUDIO_AUTO_UMAP": "0",
    "CORESET_STUDIO_TIMING": "1",
}

#: JS: the data (and shapes) of every plotly chart on the page, as one comparable string.
CHART_STATE = """() => JSON.stringify(Array.from(document.querySelectorAll('.js-plotly-plot')).map(el => ({
    data: (el.data || []).map(t => [t.name, t.x, t.y, t.z]),
    shapes: ((el.layout || {}).shapes || []).map(s => [s.x0, s.x1]),
    title: ((el.layout || {}).title || {}).text })))"""

#: JS: (is the script running or a spinner showing, are at least `n` charts drawn).
BUSY = """(n) => {
    const status = document.querySelector('[data-testid="stStatusWidget"]');
    const running = (status !== null && status.innerText.includes('Running'))
        || document.querySelector('[data-testid="stSpinner"]') !== null;
    const drawn = Array.from(document.querySelectorAll('.js-plotly-plot')).filter(el => el.querySelector('.main-svg'));
    return [running, drawn.length >= n];
}"""


def settle(pg, charts: int = 0, timeout: float = 120) -> None:
    """Wait until the script finished (no running indicator, no spinner) and `charts` charts are drawn."""
    deadline = time.monotonic() + timeout
    quiet_since = None
    while time.monotonic() < deadline:
        running, drawn = pg.evaluate(BUSY, charts)
        if not running and drawn:
            quiet_since = quiet_since or time.monotonic()
            if time.monotonic() - quiet_since > 1.0:
                return
        else:
            quiet_since = None
        pg.wait_for_timeout(200)
    raise TimeoutError(f"page {pg.url} did not settle in {timeout} s")


def no_exception(pg) -> None:
    assert pg.locator('[data-testid="stException"]').count() == 0, pg.locator(
        '[data-testid="stException"]').first.inner_text()
    body = pg.locator("body").inner_text()
    assert "Traceback" not in body and "Error:" not in body[:20000], body[:2000]


def chart_state(pg) -> str:
    return pg.evaluate(CHART_STATE)


def wait_changed(pg, before: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        settle(pg, timeout=timeout)
        now = chart_state(pg)
        if now != before:
            return now
        pg.wait_for_timeout(300)
    raise AssertionError("the chart did not change after moving the control")


def slider_box(pg, label: str):
    """The slider widget whose label contains `label`."""
    return pg.locator('[data-testid="stSlider"]').filter(has_text=label).first


def slider_thumb(pg, label: str):
    """The keyboard-operable thumb of the slider whose label contains `label`."""
    return slider_box(pg, label).locator('input[type="range"]').first


def slider_value(pg, label: str) -> str:
    """The value the slider shows on its thumb (as the user reads it)."""
    return slider_box(pg, label).locator('[data-testid="stSliderThumbValue"]').first.inner_text().strip()


def move(pg, label: str, key: str, presses: int) -> None:
    thumb = slider_thumb(pg, label)
    thumb.scroll_into_view_if_needed()
    thumb.focus()
    for _ in range(presses):
        thumb.press(key)
        pg.wait_for_timeout(60)


def click_sidebar_link(pg, title: str) -> None:
    """Navigate as a user does: click the page's link in the sidebar navigation."""
    pg.locator('[data-testid="stSidebarNav"] a').filter(has_text=title).first.click()
