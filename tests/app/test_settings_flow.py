"""The shared settings in the running app (AppTest): one value on every page, in the URL, after a reload.

A reload is a new AppTest (a new server session) started with the URL query the previous one
wrote; a shared link is the same thing.
"""
from __future__ import annotations

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest
from studio_helpers import ENTRY, assert_clean, chart, goto, shown

pytestmark = pytest.mark.timeout(900)


def _reload(at) -> AppTest:
    """A new session opened on the URL `at` shows now."""
    fresh = AppTest.from_file(str(ENTRY), default_timeout=300)
    for key, value in at.query_params.items():
        fresh.query_params[key] = value[-1] if isinstance(value, list) else value
    fresh.run()
    assert_clean(fresh)
    return fresh


def _query(at) -> dict[str, str]:
    return {k: (v[-1] if isinstance(v, list) else v) for k, v in at.query_params.items()}


def test_settings_persist_across_pages_and_reloads(app, prepared_small):
    labels = prepared_small.labels
    goto(app, "budgets")
    app.slider(key="prune_pct").set_value(90).run()
    goto(app, "difficulty")
    assert app.slider(key="winsor_hi").value == 0.0
    app.slider(key="winsor_hi").set_value(10.0).run()
    app.selectbox(key="diff_class").set_value(3).run()
    assert_clean(app)
    for page in ("windows", "embedding", "budgets", "compare"):
        goto(app, page)
        assert app.slider(key="prune_pct").value == 90, page
    goto(app, "embedding")
    title = chart(app, "embedding_map")["layout"]["title"]["text"]
    assert f"keeps {round(0.1 * labels.size)} at 90 % pruning" in title, title
    goto(app, "windows")
    assert app.slider(key="winsor_hi").value == 10.0 and app.slider(key="winsor_lo").value == 0.0
    query = _query(app)
    assert (query["prune"], query["winsor_hi"], query["class"]) == ("90", "10", "3")

    again = _reload(app)
    assert again.sidebar.selectbox(key="cfg_dataset").value == "digits"
    goto(again, "budgets")
    assert again.slider(key="prune_pct").value == 90 and again.slider(key="winsor_hi").value == 10.0
    goto(again, "difficulty")
    assert again.selectbox(key="diff_class").value == 3


def test_sidebar_and_endpoint_settings_travel_in_the_link(app):
    app.sidebar.selectbox(key="cfg_score").set_value("aum").run()
    assert_clean(app)
    goto(app, "windows")
    app.toggle(key="win_override").set_value(True).run()
    app.slider(key="win_endpoint").set_value(0.25).run()
    assert_clean(app)
    query = _query(app)
    assert query["score"] == "aum" and query["k"] == "0.25"
    assert any("--score aum" in c.value and "endpoints=[0.25]" in c.value for c in app.code)

    again = _reload(app)
    assert again.sidebar.selectbox(key="cfg_score").value == "aum"
    goto(again, "windows")
    assert again.toggle(key="win_override").value is True
    assert again.slider(key="win_endpoint").value == 0.25 and not again.slider(key="win_endpoint").disabled
    again.toggle(key="win_override").set_value(False).run()
    assert "k" not in _query(again)


def test_bad_values_in_a_link_fall_back_with_a_note(app):
    shared = dict(_query(app), prune="97", a="no-such-method", winsor_hi="12.5")
    app.query_params.clear()
    app.query_params.update(shared)
    opened = _reload(app)
    assert len(opened.sidebar.warning) == 1  # one box, a line per changed value
    notes = shown(opened.sidebar.warning[0].value)  # as the reader sees the escaped Markdown
    assert "prune='97'" in notes and "a='no-such-method'" in notes
    goto(opened, "budgets")
    assert opened.slider(key="prune_pct").value == 95  # the slider's top
    assert opened.slider(key="winsor_hi").value == 12.5  # the good value of the same link is kept
    goto(opened, "data")
    assert not opened.sidebar.warning  # told once, not on every page


def test_labels_say_what_they_count(app, prepared_small):
    n = prepared_small.labels.size
    goto(app, "embedding")
    assert f"({n:,} drawn)" in chart(app, "embedding_map")["layout"]["title"]["text"]
    points = app.select_slider(key=f"emb_points_{n}")
    assert points.value == n and points.options == [f"all ({n})"]  # never more points offered than there are
    assert "server compute of this page" in " ".join(c.value for c in app.sidebar.caption)
    assert " ms" in app.sidebar.caption[-1].value or " s" in app.sidebar.caption[-1].value
    resolution = app.sidebar.selectbox(key="cfg_resolution")
    assert resolution.value == 64 and resolution.options[0].startswith("auto (")  # never "Choose an option"
    assert app.sidebar.selectbox(key="cfg_limit").value == 300


def test_an_image_folder_typed_in_the_sidebar(app, tmp_path, monkeypatch):
    from PIL import Image

    folder = tmp_path / "pets"
    rng = np.random.default_rng(0)
    for cls in ("cat", "dog"):
        (folder / cls).mkdir(parents=True)
        for i in range(10):
            Image.fromarray(rng.integers(0, 255, (24, 24, 3), dtype=np.uint8)).save(folder / cls / f"{i}.png")
    app.sidebar.selectbox(key="cfg_dataset").set_value("imagefolder").run()
    assert_clean(app)
    assert "Type the path" in " ".join(i.value for i in app.info)
    assert app.sidebar.selectbox(key="cfg_dataset").value == "imagefolder"  # the choice is kept while typing
    app.sidebar.text_input(key="cfg_path").input(str(folder)).run()
    notes = " ".join(shown(w.value) for w in app.sidebar.error)  # a refused path is an error (issue 16)
    assert "CORESET_STUDIO_ROOTS" in notes and _query(app)["dataset"] == "digits"  # refused: outside the roots
    monkeypatch.setenv("CORESET_STUDIO_ROOTS", str(tmp_path))
    app.sidebar.text_input(key="cfg_path").input(str(folder)).run()
    assert_clean(app)
    assert _query(app)["dataset"] == f"imagefolder:{folder.resolve()}"
    train = int(app.metric[0].value.replace(",", ""))
    assert train == 16 and app.metric[1].value == "4"  # a stratified 20 % test split of 20 images
    labels = [box.label for box in app.status]
    assert any(f"Prepared {train} training images" in label for label in labels), labels
    assert app.sidebar.selectbox(key="cfg_resolution").options[0].startswith("auto (")


def test_imbalance_factor_offers_the_usual_values(app):
    """(A typed value, which AppTest cannot enter, is tried in the browser test.)"""
    app.query_params.clear()
    app.query_params.update(dict(_query(app), dataset="digits-lt", imbalance="5"))
    lt = _reload(app)
    box = lt.sidebar.selectbox(key="cfg_imbalance")
    assert box.value == 5.0 and box.options == ["1", "2", "5", "10", "20", "50", "100", "200"]
    sizes = _class_sizes(lt)
    assert sizes.max() / sizes.min() == pytest.approx(5, rel=0.1)
    box.set_value(20.0).run()
    assert_clean(lt)
    assert _query(lt)["imbalance"] == "20" and lt.sidebar.selectbox(key="cfg_imbalance").value == 20.0
    sizes = _class_sizes(lt)
    assert sizes.max() / sizes.min() == pytest.approx(20, rel=0.1)


def _class_sizes(at) -> np.ndarray:
    """The training class sizes the Data page draws."""
    from studio_helpers import values

    bars = chart(at, "class_sizes")["data"]
    return values(next(t for t in bars if t["name"] == "train"), "y")
