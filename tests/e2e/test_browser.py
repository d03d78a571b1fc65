"""End-to-end: the studio in a real headless Chromium (Playwright), started as the README does.

`coreset-studio --server.port <free port>` runs with a small default dataset from the
environment (digits, 300 training images at 64 px) and the test session's temporary cache.
Every page is visited; a slider (or another control) is moved; the test asserts that no
exception is shown and that the chart's data in the browser changed, and saves a screenshot
to docs/screenshots/<page>.png (used by the README).
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[2]
#: Where the page screenshots go (git-ignored test-results/); CORESET_E2E_SHOTS_DIR=docs/screenshots refreshes the README's.
SHOTS = Path(os.environ.get("CORESET_E2E_SHOTS_DIR") or ROOT / "test-results" / "screenshots")
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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"{url} did not answer within {timeout} s")


@pytest.fixture(scope="module")
def cache_dir(session_cache_dir) -> Path:
    """The server's cache: the session's temporary one, or CORESET_E2E_CACHE_DIR (reuse extracted features)."""
    return Path(os.environ.get("CORESET_E2E_CACHE_DIR") or session_cache_dir)


@pytest.fixture(scope="module")
def results_db(cache_dir, tmp_path_factory):
    """A small results database (two methods, two seeds) so the Accuracy page has lines to draw
    (always a temporary file: the e2e runs never write into a real results database)."""
    from coreset_core.store import ResultsStore
    from coreset_core.sweep import plan_sweep, run_sweep

    store = ResultsStore(tmp_path_factory.mktemp("e2e-results") / "results.sqlite")
    configs = plan_sweep(E2E_DATASET, ["random", "el2n"], [0.5, 0.8], [0, 1], limit=E2E_LIMIT, test_limit=200,
                         resolution=E2E_RESOLUTION, score_epochs=2, epochs=5)
    run_sweep(configs, store, progress=False, cache_dir=cache_dir)
    return store


@pytest.fixture(scope="module")
def server(cache_dir, results_db):
    exe = shutil.which("coreset-studio")
    cmd = [exe] if exe else [sys.executable, "-m", "coreset_core.studio"]
    port = _free_port()
    env = {**os.environ, **STUDIO_ENV, "CORESET_CACHE_DIR": str(cache_dir),
           "CORESET_STUDIO_RESULTS_DB": str(results_db.path)}
    log = open(results_db.path.parent / "studio-e2e.log", "w")
    args = ["--server.port", str(port), "--server.address", "127.0.0.1", "--server.fileWatcherType", "none",
            "--server.runOnSave", "false"]
    proc = subprocess.Popen(cmd + args, env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_http(f"http://127.0.0.1:{port}/_stcore/health", 90)
        yield f"http://127.0.0.1:{port}"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture(scope="module")
def page(browser, server):
    ctx = browser.new_context(viewport={"width": 1500, "height": 1900})
    pg = ctx.new_page()
    pg.set_default_timeout(120_000)
    # The very first request of the fresh server is a deep link: streamlit's legacy `pages/` mode
    # would run the page file without app.py (no sidebar); the studio must still show the real app.
    # It also prepares the data (features + scores), which every later page reuses.
    pg.goto(server + "/difficulty")
    _settle(pg, charts=2, timeout=240)
    _no_exception(pg)
    sidebar = pg.locator('[data-testid="stSidebar"]').inner_text()
    assert "Coreset Studio" in sidebar and "Data & features" in sidebar, sidebar[:500]
    assert "Class difficulty" in pg.locator('[data-testid="stMain"]').inner_text()
    yield pg
    ctx.close()


def _settle(pg, charts: int = 0, timeout: float = 120) -> None:
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


def _no_exception(pg) -> None:
    assert pg.locator('[data-testid="stException"]').count() == 0, pg.locator(
        '[data-testid="stException"]').first.inner_text()
    body = pg.locator("body").inner_text()
    assert "Traceback" not in body and "Error:" not in body[:20000], body[:2000]


def _state(pg) -> str:
    return pg.evaluate(CHART_STATE)


def _wait_changed(pg, before: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _settle(pg, timeout=timeout)
        now = _state(pg)
        if now != before:
            return now
        pg.wait_for_timeout(300)
    raise AssertionError("the chart did not change after moving the control")


def _slider(pg, label: str):
    """The thumb of the slider whose label contains `label`."""
    box = pg.locator('[data-testid="stSlider"]').filter(has_text=label).first
    return box.locator('input[type="range"]').first


def _move(pg, label: str, key: str, presses: int) -> None:
    thumb = _slider(pg, label)
    thumb.scroll_into_view_if_needed()
    thumb.focus()
    for _ in range(presses):
        thumb.press(key)
        pg.wait_for_timeout(60)


def _shot(pg, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    pg.evaluate("() => window.scrollTo(0, 0)")
    main = pg.locator('[data-testid="stMain"]')
    if main.count():
        main.evaluate("el => el.scrollTo(0, 0)")
    pg.wait_for_timeout(400)
    pg.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _visit(pg, server: str, path: str, charts: int) -> str:
    pg.goto(f"{server}/{path}")
    _settle(pg, charts=charts, timeout=180)
    _no_exception(pg)
    return _state(pg)


def test_data_page(page, server):
    _visit(page, server, "", 1)
    imgs = page.locator('[data-testid="stImage"] img').count()
    assert imgs >= 8 * 2 and imgs % 8 == 0  # 8 per class
    _move(page, "Images per class", "ArrowLeft", 4)
    deadline = time.monotonic() + 60
    while page.locator('[data-testid="stImage"] img').count() == imgs and time.monotonic() < deadline:
        page.wait_for_timeout(300)
    _settle(page)
    _no_exception(page)
    assert page.locator('[data-testid="stImage"] img').count() == imgs // 2
    _shot(page, "data")


def test_difficulty_page(page, server):
    before = _visit(page, server, "difficulty", 2)
    _move(page, "upper tail clipped", "End", 1)  # 0 -> 25 %
    after = _wait_changed(page, before)
    bars = json.loads(after)[0]["data"]
    assert bars[0][2] != bars[1][2]  # mean vs winsorized mean now differ
    _no_exception(page)
    _shot(page, "difficulty")


def test_budgets_page(page, server):
    before = _visit(page, server, "budgets", 2)
    _move(page, "Pruning rate", "ArrowRight", 3)  # 70 -> 85 %
    _wait_changed(page, before)
    _no_exception(page)
    assert "85 %" in page.locator("body").inner_text()
    _shot(page, "budgets")


def test_windows_page(page, server):
    before = _visit(page, server, "windows", 2)
    page.get_by_text("Override the endpoint", exact=True).click()
    _settle(page)
    _move(page, "Window endpoint", "Home", 1)  # k -> 0: the easiest window of every class
    after = _wait_changed(page, before)
    shapes_before = json.loads(before)[0]["shapes"]
    shapes_after = json.loads(after)[0]["shapes"]
    assert shapes_before != shapes_after  # the windows moved
    _no_exception(page)
    _shot(page, "windows")


def test_embedding_page(page, server):
    before = _visit(page, server, "embedding", 1)
    # PCA at once while UMAP was never computed for these features (UMAP when it is on disk)
    assert "PCA of" in before or "UMAP of" in before
    _move(page, "Pruning rate", "ArrowRight", 2)
    before = _wait_changed(page, before)
    _no_exception(page)
    if E2E_UMAP and "UMAP of" not in before:
        page.get_by_role("button", name="Compute UMAP in the background").click()
        deadline = time.monotonic() + 600
        while "UMAP of" not in _state(page) and time.monotonic() < deadline:
            page.wait_for_timeout(2000)
        _settle(page, charts=1)
        assert "UMAP of" in _state(page)
    _shot(page, "embedding")


def test_accuracy_page(page, server):
    before = _visit(page, server, "accuracy", 2)
    assert "random" in before and "el2n" in before
    page.locator('[data-testid="stRadio"]').filter(has_text="Metric").get_by_text("balanced_accuracy").click()
    _wait_changed(page, before)
    _no_exception(page)
    _shot(page, "accuracy")


def test_compare_page(page, server):
    before = _visit(page, server, "compare", 2)
    _move(page, "Pruning rate (%)", "ArrowRight", 3)
    _wait_changed(page, before)
    _no_exception(page)
    page.get_by_role("button", name="Train a linear probe on both selections").click()
    page.get_by_text("test accuracy").first.wait_for(timeout=120_000)
    _settle(page, charts=3, timeout=120)
    _no_exception(page)
    _shot(page, "compare")
