"""End-to-end: crafted links in a real headless Chromium (issue 21). Streamlit's own renderer decides what
a value becomes, so this is where "no link or image from a value" is checked for real: a link with markup,
huge, 5,000-character and unknown values for every settings key, and a features file whose class names and
ids carry markup. Also: the health endpoint keeps answering, and the Embedding page's kept / pruned legend
does not cover the colour bar's title.
"""
from __future__ import annotations

import urllib.parse
import urllib.request

import numpy as np
import pytest
from studio_browser import click_sidebar_link, no_exception, settle

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(900)]

EVIL = "[Session expired: log in again](https://evil.example/login) ![px](https://evil.example/p.png) <img src=x>"
KEYS = ["dataset", "imbalance", "data_seed", "backbone", "res", "limit", "test_limit", "score", "score_epochs",
        "score_seeds", "prune", "winsor_lo", "winsor_hi", "global", "a", "b", "budgets", "class", "k"]
#: JS: links and images anywhere in the document that point at the crafted host or come from `<img src=x>`,
#: and any link or bold text (`<b>` in a class name) inside a chart outside its (theme-bold) title.
FOREIGN = """() => [
    ...Array.from(document.querySelectorAll('a[href]')).map(a => a.href).filter(h => h.includes('evil.example')),
    ...Array.from(document.querySelectorAll('img')).map(i => i.getAttribute('src') || '')
        .filter(s => s.includes('evil.example') || s === 'x'),
    ...Array.from(document.querySelectorAll('.js-plotly-plot a')).map(e => e.outerHTML),
    ...Array.from(document.querySelectorAll('.js-plotly-plot tspan[style*="bold"]'))
        .filter(e => !e.closest('.g-gtitle, .gtitle')).map(e => e.outerHTML)]"""


def _health(server: str) -> None:
    with urllib.request.urlopen(server + "/_stcore/health", timeout=10) as r:
        assert r.status == 200 and r.read().strip() == b"ok"


def _check(pg, charts: int) -> str:
    settle(pg, charts=charts, timeout=300)
    no_exception(pg)
    assert pg.evaluate(FOREIGN) == []
    return pg.locator("body").inner_text().replace("\u2060", "")


def _open(pg, server: str, path: str, query: dict[str, str], charts: int = 1) -> str:
    """Open a link (a new studio session) and check the page."""
    pg.goto(f"{server}/{path}?{urllib.parse.urlencode(query)}")
    return _check(pg, charts)


def _visit(pg, title: str) -> str:
    """Go to another page of the same session, as a user does (the sidebar link), and check it."""
    click_sidebar_link(pg, title)
    pg.wait_for_timeout(500)
    return _check(pg, 0 if title == "Gallery" else 1)


def _sidebar_notes(pg) -> str:
    boxes = pg.locator('[data-testid="stSidebar"] [data-testid="stAlert"]')
    assert boxes.count() <= 1
    # (a word joiner, invisible, splits `://` so the renderer cannot autolink the text)
    return boxes.first.inner_text().replace("\u2060", "") if boxes.count() else ""


@pytest.mark.parametrize("kind", ["markup", "huge", "long", "unknown"])
def test_crafted_links_render_as_text(fresh_page, server, kind):
    """Before: the markup was drawn as a clickable "Session expired" link and a third-party image inside the
    sidebar note, and a 5,000-character path raised `OSError: File name too long` on the page."""
    value = {"markup": EVIL, "huge": "1e308", "long": "embeddings:/" + "x" * 5000, "unknown": "no-such-value"}[kind]
    query = {key: value for key in KEYS} | {"utm_source": value}
    if kind == "huge":  # keep the data setting cheap: the data keys are out of range only below their offers
        query |= {"res": "20", "limit": "1", "test_limit": "1", "score_seeds": "-1", "data_seed": "-1"}
    _open(fresh_page, server, "", query)
    notes = _sidebar_notes(fresh_page)
    assert notes.count("in the link") >= len(KEYS) - 2, notes[:3000]  # one line per key (class: on its page)
    if kind == "markup":
        assert "[Session expired: log in again](https://evil.example/login)" in notes  # shown as typed
    if kind == "long":
        assert "5,012 characters" in notes and len(notes) < 20 * 1200
    if kind == "huge":
        assert "prune='1e308'" in notes and "using '95'" in notes and "score_epochs='1e308'" in notes
    _health(server)
    for title in ("Difficulty", "Gallery"):
        _visit(fresh_page, title)
        assert _sidebar_notes(fresh_page) == ""  # told once
    _health(server)


@pytest.fixture(scope="module")
def marked_up_file(e2e_cache_dir):
    """A features file (real scikit-learn digits pixels, 300 rows, no paths) inside the cache folder (an
    allowed root) whose class names and string ids carry markup."""
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    names = np.array([EVIL if c == 3 else f"<b>digit</b> {c}" for c in range(10)])
    ids = np.array([f"img-{i:04d}" if i % 7 else f"[id {i}](https://evil.example/{i})" for i in range(300)])
    path = e2e_cache_dir / "marked-up.npz"
    np.savez(path, features=x[:300].astype(np.float32), labels=y[:300], class_names=names, ids=ids)
    return path


def test_names_and_ids_from_a_file_render_as_text(fresh_page, server, marked_up_file):
    """Class names and ids from a file: as typed in notes, titles, tables and chart labels, never a link,
    an image or bold text; the Data page says the file has no images instead of drawing grey tiles."""
    link = {"dataset": f"embeddings:{marked_up_file}", "class": "3", "a": "random"}
    text = _open(fresh_page, server, "", link)
    assert "no images to show" in text and fresh_page.locator('[data-testid="stImage"]').count() == 0
    ticks = fresh_page.evaluate("() => Array.from(document.querySelectorAll('.xtick text')).map(t => t.textContent)")
    assert "<b>digit</b> 0" in ticks and EVIL in ticks  # chart labels as typed
    for title in ("Difficulty", "Budgets", "Embedding", "Gallery", "Compare"):
        text = _visit(fresh_page, title)
        if title == "Gallery":
            assert EVIL in text  # the class's name as typed, above its kept and dropped samples
    _health(server)


def _boxes_overlap(a: dict, b: dict) -> bool:
    return a["x"] < b["x"] + b["width"] and b["x"] < a["x"] + a["width"] and \
        a["y"] < b["y"] + b["height"] and b["y"] < a["y"] + a["height"]


def test_embedding_legend_clears_the_colour_bar_title(fresh_page, server):
    """Coloured by difficulty with pruned samples greyed: the kept / pruned legend (top right) and the colour
    bar's title. Before, plotly put both at the top of the right edge and the legend covered the title."""
    _open(fresh_page, server, "embedding", {})
    radio = fresh_page.locator('[data-testid="stRadio"]').filter(has_text="Colour by")
    radio.get_by_text("difficulty", exact=True).click()
    settle(fresh_page, charts=1)
    legend = fresh_page.locator(".js-plotly-plot .legend").first.bounding_box()
    title = fresh_page.locator(".js-plotly-plot .colorbar .cbtitle").first.bounding_box()
    assert legend and title and not _boxes_overlap(legend, title), (legend, title)
