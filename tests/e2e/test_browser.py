"""End-to-end: the studio in a real headless Chromium (Playwright), started as the README does.

Every page is visited; a slider (or another control) is moved; the test asserts that no
exception is shown and that the chart's data in the browser changed, and saves a screenshot
to test-results/screenshots/<page>.png (CORESET_E2E_SHOTS_DIR=docs/screenshots refreshes the
README's). The server and browser come from conftest.py (one per test session).
"""
from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pytest
from studio_browser import (E2E_UMAP, ROOT, chart_state, move, no_exception, settle, slider_value,
                            wait_changed)

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(600)]

SHOTS = Path(os.environ.get("CORESET_E2E_SHOTS_DIR") or ROOT / "test-results" / "screenshots")
#: JS: the drawn points inside a pixel box of the embedding map: [index, trace name] of each point
#: inside the box shrunk by `pad` pixels (pad < 0 grows it).
POINTS_IN_BOX = """([x0, y0, x1, y1, pad]) => {
    const el = document.querySelector('.js-plotly-plot');
    const r = el.querySelector('.main-svg').getBoundingClientRect();
    const xa = el._fullLayout.xaxis, ya = el._fullLayout.yaxis;
    const lo = (a, b) => Math.min(a, b), hi = (a, b) => Math.max(a, b);
    const xs = [xa.p2d(x0 + pad - r.left - xa._offset), xa.p2d(x1 - pad - r.left - xa._offset)];
    const ys = [ya.p2d(y0 + pad - r.top - ya._offset), ya.p2d(y1 - pad - r.top - ya._offset)];
    const out = [];
    for (const t of el.data) {
        for (let i = 0; i < t.x.length; i++) {
            if (t.x[i] >= lo(...xs) && t.x[i] <= hi(...xs) && t.y[i] >= lo(...ys) && t.y[i] <= hi(...ys)) {
                out.push([t.customdata[i][0], t.name, t.text[i].split(',')[0]]);
            }
        }
    }
    return out;
}"""


@pytest.fixture(scope="module")
def page(browser, server):
    ctx = browser.new_context(viewport={"width": 1500, "height": 1900})
    pg = ctx.new_page()
    pg.set_default_timeout(120_000)
    # The very first request of the fresh server is a deep link: streamlit's legacy `pages/` mode
    # would run the page file without app.py (no sidebar); the studio must still show the real app.
    # It also prepares the data (features + scores), which every later page reuses.
    pg.goto(server + "/difficulty")
    settle(pg, charts=2, timeout=240)
    no_exception(pg)
    sidebar = pg.locator('[data-testid="stSidebar"]').inner_text()
    assert "Coreset Studio" in sidebar and "Data & features" in sidebar, sidebar[:500]
    assert "Class difficulty" in pg.locator('[data-testid="stMain"]').inner_text()
    yield pg
    ctx.close()


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
    settle(pg, charts=charts, timeout=180)
    no_exception(pg)
    return chart_state(pg)


def test_data_page(page, server):
    _visit(page, server, "", 1)
    imgs = page.locator('[data-testid="stImage"] img').count()
    assert imgs >= 8 * 2 and imgs % 8 == 0  # 8 per class
    move(page, "Images per class", "ArrowLeft", 4)
    deadline = time.monotonic() + 60
    while page.locator('[data-testid="stImage"] img').count() == imgs and time.monotonic() < deadline:
        page.wait_for_timeout(300)
    settle(page)
    no_exception(page)
    assert page.locator('[data-testid="stImage"] img').count() == imgs // 2
    sidebar = page.locator('[data-testid="stSidebar"]').inner_text()
    assert re.search(r"server compute of this page: \d+(\.\d)? (ms|s)\b", sidebar), sidebar[-300:]
    _shot(page, "data")


def test_difficulty_page(page, server):
    before = _visit(page, server, "difficulty", 2)
    move(page, "upper tail clipped", "End", 1)  # 0 -> 25 %
    after = wait_changed(page, before)
    bars = json.loads(after)[0]["data"]
    assert bars[0][2] != bars[1][2]  # mean vs winsorized mean now differ
    no_exception(page)
    _shot(page, "difficulty")


def test_budgets_page(page, server):
    before = _visit(page, server, "budgets", 2)
    move(page, "Pruning rate", "ArrowRight", 3)  # 70 -> 85 % (a press can land during a rerun and be lost)
    wait_changed(page, before)
    settle(page)
    no_exception(page)
    value = slider_value(page, "Pruning rate")
    assert value in ("75", "80", "85"), value  # the slider moved right
    assert f"{value} %" in page.locator("body").inner_text()  # and the page shows the coreset at that rate
    _shot(page, "budgets")


def test_windows_page(page, server):
    before = _visit(page, server, "windows", 2)
    page.get_by_text("Override the endpoint", exact=True).click()
    settle(page)
    move(page, "Window endpoint", "Home", 1)  # k -> 0: the easiest window of every class
    after = wait_changed(page, before)
    assert json.loads(before)[0]["shapes"] != json.loads(after)[0]["shapes"]  # the windows moved
    main = page.locator('[data-testid="stMain"]').inner_text()
    assert "vs KRR" not in main and "the KRR choice" in main  # the deviation in words, no arrow
    no_exception(page)
    _shot(page, "windows")


def test_embedding_page_lists_every_box_selected_point(page, server):
    before = _visit(page, server, "embedding", 1)
    # PCA at once while UMAP was never computed for these features (UMAP when it is on disk)
    assert "PCA of" in before or "UMAP of" in before
    move(page, "Pruning rate", "ArrowRight", 2)
    before = wait_changed(page, before)
    no_exception(page)
    plot = page.locator(".js-plotly-plot").first
    plot.hover()
    page.locator('.modebar-btn[data-title="Box Select"]').first.click()
    drag = plot.locator(".nsewdrag").first.bounding_box()
    box = [drag["x"] + 0.2 * drag["width"], drag["y"] + 0.2 * drag["height"],
           drag["x"] + 0.8 * drag["width"], drag["y"] + 0.8 * drag["height"]]
    inner, outer = page.evaluate(POINTS_IN_BOX, [*box, 2]), page.evaluate(POINTS_IN_BOX, [*box, -2])
    page.mouse.move(box[0], box[1])
    page.mouse.down()
    page.mouse.move(box[2], box[3], steps=12)
    page.mouse.up()
    page.get_by_text(re.compile(r"\d+ selected points")).first.wait_for(timeout=60_000)
    settle(page)
    no_exception(page)
    line = page.get_by_text(re.compile(r"\d+ selected points")).first.inner_text()
    total, kept, pruned = (int(v.replace(",", "")) for v in re.findall(r"\d[\d,]*", line)[:3])
    assert len(inner) <= total <= len(outer) and len(inner) > 30, (line, len(inner), len(outer))
    kept_in = {int(i) for i, name, _ in outer if name != "pruned"}
    assert kept + pruned == total
    assert sum(1 for i, n, _ in inner if n != "pruned") <= kept <= len(kept_in)
    captions = page.locator('[data-testid="stImageCaption"]').all_inner_texts()
    assert len(captions) == min(total, 48)
    status = {sample: ("pruned" if n == "pruned" else "kept") for _, n, sample in outer}  # by original id
    for text in captions:  # "#1346 3 (kept)": the label agrees with the trace the point is drawn in
        sample, label = text.split()[0], text.rsplit("(", 1)[1].rstrip(")")
        assert status[sample] == label, text
    if E2E_UMAP and "UMAP of" not in before:
        page.get_by_role("button", name="Compute UMAP in the background").click()
        deadline = time.monotonic() + 600
        while "UMAP of" not in chart_state(page) and time.monotonic() < deadline:
            page.wait_for_timeout(2000)
        settle(page, charts=1)
        assert "UMAP of" in chart_state(page)
    _shot(page, "embedding")


def test_accuracy_page(page, server):
    before = _visit(page, server, "accuracy", 2)
    assert "random" in before and "el2n" in before
    page.locator('[data-testid="stRadio"]').filter(has_text="Metric").get_by_text("balanced accuracy", exact=True).click()
    wait_changed(page, before)
    no_exception(page)
    _shot(page, "accuracy")


def test_compare_page(page, server):
    before = _visit(page, server, "compare", 2)
    move(page, "Pruning rate", "ArrowRight", 3)
    wait_changed(page, before)
    no_exception(page)
    page.get_by_role("button", name="Train a linear probe on both selections").click()
    page.get_by_text("test accuracy").first.wait_for(timeout=120_000)
    settle(page, charts=3, timeout=120)
    no_exception(page)
    assert "test accuracy (on 200 of" in page.locator('[data-testid="stMain"]').inner_text()
    _shot(page, "compare")
