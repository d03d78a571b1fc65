"""The shared settings survive navigation by clicking the sidebar links, and a browser reload.

A new user's path from issue 9: set the pruning rate to 90 % on Budgets and a winsorization
limit on Difficulty, then click Windows, Embedding and Budgets in the sidebar. Every page
must show the same values; the URL must hold them; a reload (a new server session) must
restore them from the URL.
"""
from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest
from studio_browser import click_sidebar_link, move, no_exception, settle, slider_value

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(600)]

RATE = "Pruning rate"
WINSOR_HI = "upper tail clipped"


def _open(pg, title: str, charts: int) -> None:
    click_sidebar_link(pg, title)
    pg.wait_for_url(f"**/{title.lower()}**", timeout=60_000)
    settle(pg, charts=charts, timeout=180)
    no_exception(pg)


def _query(pg) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(urlparse(pg.url).query).items()}


def test_settings_survive_sidebar_navigation_and_reload(fresh_page, server):
    pg = fresh_page
    pg.goto(server + "/budgets")
    settle(pg, charts=2, timeout=300)
    no_exception(pg)
    move(pg, RATE, "End", 1)  # the largest rate (95 %) ...
    settle(pg, charts=2)
    move(pg, RATE, "ArrowLeft", 1)  # ... then one step down: 90 %
    settle(pg, charts=2)
    assert slider_value(pg, RATE) == "90"

    _open(pg, "Difficulty", charts=2)
    winsor_before = slider_value(pg, WINSOR_HI)
    move(pg, WINSOR_HI, "End", 1)  # the largest upper winsorization limit
    settle(pg, charts=2)
    winsor = slider_value(pg, WINSOR_HI)
    assert winsor != winsor_before

    for title, charts in (("Windows", 2), ("Embedding", 1), ("Budgets", 2)):
        _open(pg, title, charts)
        assert slider_value(pg, RATE) == "90", title
    assert slider_value(pg, WINSOR_HI) == winsor  # Budgets shows the winsorization sliders too
    assert "90 %" in pg.locator('[data-testid="stMain"]').inner_text()

    query = _query(pg)
    assert query.get("prune") == "90", pg.url
    assert float(query.get("winsor_hi", "nan")) == float(winsor.split()[0]), pg.url

    pg.reload()
    settle(pg, charts=2, timeout=180)
    no_exception(pg)
    assert "/budgets" in pg.url
    assert slider_value(pg, RATE) == "90"
    assert slider_value(pg, WINSOR_HI) == winsor
    assert _query(pg).get("prune") == "90"


def test_any_imbalance_factor_can_be_typed(fresh_page, server):
    pg = fresh_page
    query = {"dataset": "digits-lt", "imbalance": "5", "limit": "100", "test_limit": "200", "res": "64",
             "score_epochs": "1"}  # small: two preparations (I = 5, then 37); the test split is the base's, cached
    pg.goto(server + "/?" + "&".join(f"{k}={v}" for k, v in query.items()))  # a shared link to the Data page
    settle(pg, charts=1, timeout=300)
    no_exception(pg)
    box = pg.locator('[data-testid="stSelectbox"]').filter(has_text="Imbalance factor").first
    box.locator("input").first.click()
    pg.keyboard.type("37")
    pg.keyboard.press("Enter")
    pg.wait_for_function("() => window.location.search.includes('imbalance=37')", timeout=120_000)
    settle(pg, charts=1, timeout=300)
    no_exception(pg)
    assert box.locator("input").first.input_value() == "37"
    assert "imbalance factor 37" in pg.locator('[data-testid="stMain"]').inner_text()  # the dataset's description
