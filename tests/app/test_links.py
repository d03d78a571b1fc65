"""Links are untrusted input (issue 21), in the running app (AppTest, the small digits set of conftest.py).

A crafted link sets every settings key at once to markup, out-of-range, huge, 5,000-character or unknown
values. The studio must end each in ONE sidebar note naming what was changed, fit the value to what its
widget offers, raise nothing, and show no value as markup: no Markdown link or image and no HTML tag from a
value in any note, caption, title, metric or tooltip, and no tag in any chart string. Expected values come
from the widgets' documented offers (choices.py), never from the page.
"""
from __future__ import annotations

import json
import re

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest
from studio_helpers import ENTRY, assert_clean, goto, shown

from coreset_studio.settings import to_query

pytestmark = pytest.mark.timeout(900)

EVIL = "[Session expired: log in again](https://evil.example/login) ![px](https://evil.example/p.png) <img src=x>"
#: Every key `to_query` writes, plus the optional ones.
KEYS = ["dataset", "imbalance", "data_seed", "backbone", "res", "limit", "test_limit", "score", "score_epochs",
        "score_seeds", "prune", "winsor_lo", "winsor_hi", "global", "a", "b", "budgets", "class", "k"]
#: Markdown-rendered proto fields (notes, captions, titles, labels, tooltips, image captions).
MARKDOWN_FIELDS = ("body", "label", "help", "caption")
#: A link, an image or an HTML tag that a renderer would draw (an escaped one is preceded by a backslash).
MARKUP = re.compile(r"(?<!\\)\]\((?:https?|www)|(?<!\\)!\[|(?<!\\)<(?:img|a|b)\b", re.IGNORECASE)


def _open(link: dict[str, str], *, page: str | None = None) -> AppTest:
    at = AppTest.from_file(str(ENTRY), default_timeout=300)
    at.query_params.update(link)
    at.run()
    assert_clean(at)
    return goto(at, page) if page else at


def _strings(proto, fields=MARKDOWN_FIELDS):
    """The markdown-rendered strings of an element's proto (recursively, widget options left out)."""
    from google.protobuf.message import Message

    for desc, value in proto.ListFields():
        items = [value] if isinstance(value, (Message, str, bytes)) else list(value) if hasattr(value, "__iter__") \
            else [value]
        for item in items:
            if isinstance(item, Message):
                yield from _strings(item, fields)
            elif desc.name in fields and isinstance(item, str):
                yield item


def _elements(node):
    yield node
    for child in getattr(node, "children", {}).values():
        yield from _elements(child)


def assert_no_markup(at) -> None:
    """No value drawn as markup anywhere on the page (sidebar included) or in any chart."""
    for el in _elements(at._tree):
        proto = getattr(el, "proto", None)
        if proto is None or el.type in ("code", "json"):
            continue
        if el.type == "plotly_chart":
            _assert_inert_chart(json.loads(proto.spec))
            continue
        for text in _strings(proto):
            assert not MARKUP.search(text), (el.type, text[:300])


def _assert_inert_chart(spec) -> None:
    def walk(value, key=""):
        if isinstance(value, dict):
            for k, v in value.items():
                if k not in ("hovertemplate", "texttemplate"):
                    walk(v, k)
        elif isinstance(value, list):
            for v in value:
                walk(v, key)
        elif isinstance(value, str):
            assert "<" not in value, (key, value[:200])
    walk(spec)


def _notes(at) -> list[str]:
    """The lines of the sidebar's one note box."""
    boxes = at.sidebar.warning
    assert len(boxes) <= 1, [b.value for b in boxes]
    return [line[2:] for line in boxes[0].value.split("\n")] if boxes else []


def _query(at) -> dict[str, str]:
    return {k: (v[-1] if isinstance(v, list) else v) for k, v in at.query_params.items()}


@pytest.mark.parametrize("kind", ["markup", "long", "unknown"])
def test_a_link_with_every_key_crafted_ends_in_one_note_per_key(app, studio_spec, kind):
    """Before: the markup came back inside a sidebar note rendered as Markdown (a clickable foreign link and a
    third-party pixel), a 5,000-character dataset path raised `OSError: File name too long`, and each refused
    value was its own warning box repeating the whole value."""
    value = {"markup": EVIL, "long": "embeddings:/" + "x" * 5000, "unknown": "definitely-not-a-value"}[kind]
    at = _open({**{k: value for k in KEYS}, "utm_source": value})
    notes = _notes(at)
    assert sorted(shown(n).split("=", 1)[0] for n in notes) == sorted(KEYS)  # one note per key, no more
    assert all(len(shown(n)) < 1200 for n in notes)  # a 5,000-character value is cut, not repeated
    assert _query(at) == to_query(at.session_state["_studio_settings"])  # the URL now says what is used
    assert at.session_state["_studio_settings"].spec == studio_spec  # nothing accepted: the defaults stay
    assert "utm_source" not in _query(at)  # an unknown key is dropped, silently
    assert_no_markup(at)
    for page in ("difficulty", "gallery", "compare"):
        assert_no_markup(goto(at, page))
        assert not at.sidebar.warning  # told once


def test_out_of_range_values_are_clamped_to_the_widgets(app, studio_spec, prepared_small):
    """Every value beyond its widget: view values at 1e308 become the slider's top, the class the last class;
    data values below the sidebar's smallest offers become them (here the app's own defaults, so nothing is
    prepared again). Before: a huge value was refused to the default or (score epochs, seeds) taken as it was."""
    link = {"prune": "1e308", "winsor_lo": "1e308", "winsor_hi": "-1e308", "k": "1e308", "class": "9" * 30,
            "res": "20", "limit": "1", "test_limit": "7", "score_epochs": "-5", "data_seed": "-3",
            "score_seeds": "-7", "imbalance": "1e308"}
    at = _open(link)
    settings = at.session_state["_studio_settings"]
    assert (settings.prune_pct, settings.winsor_lo, settings.winsor_hi, settings.endpoint) == (95, 25.0, 0.0, 1.0)
    # the sidebar's smallest offers: 64 px, 300 and 200 images, 1 epoch, seed 0
    assert settings.spec == studio_spec.replace(score_epochs=1)
    notes = [shown(n) for n in _notes(at)]
    changed = {n.split("=", 1)[0] for n in notes}
    assert changed == set(link) - {"class"} and len(notes) == len(changed)  # the class is checked by the page
    assert any(n.startswith("imbalance=") and "ignored" in n for n in notes)  # digits has no imbalance
    assert at.sidebar.selectbox(key="cfg_resolution").value == 64
    assert at.sidebar.number_input(key="cfg_score_epochs").value == 1
    goto(at, "gallery")  # class 999... is beyond the 10 digits: the last class, said on the page
    last = prepared_small.num_classes - 1
    assert at.selectbox(key="gal_class").value == last and _query(at)["class"] == str(last)
    assert any("is not a class of this data" in shown(c.value) for c in at.caption)


@pytest.mark.slow  # prepares digits at its default 128 px (about a minute on 2 cores)
def test_auto_and_all_are_chosen_not_blank(app, monkeypatch):
    """A link with `res=auto` and `test_limit=all`: the select boxes show "auto (...)" and "all". Before, the
    widget got None, which streamlit draws as a blank "Choose an option"."""
    at = _open({"res": "auto", "test_limit": "all"})
    res, test_limit = at.sidebar.selectbox(key="cfg_resolution"), at.sidebar.selectbox(key="cfg_test_limit")
    assert res.value == "auto" and res.format_func(res.value).startswith("auto (")
    assert test_limit.value == "all" and test_limit.format_func(test_limit.value) == "all"
    assert at.session_state["_studio_settings"].spec.resolution is None
    res.set_value(64).run()  # choosing a size still works, and back
    assert at.session_state["_studio_settings"].spec.resolution == 64


@pytest.fixture
def marked_up_embeddings(tmp_path, monkeypatch):
    """A real features file (scikit-learn digits, 64 pixel features, 300 rows, no `paths`) whose class names
    and string ids carry markup, inside an allowed folder."""
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    x, y = x[:300].astype(np.float32), y[:300].astype(np.int64)
    names = np.array([EVIL if c == 3 else f"<b>digit</b> {c}" for c in range(10)])
    ids = np.array([f"img-{i:04d}" if i % 7 else f"[id {i}](https://evil.example/{i})" for i in range(300)])
    path = tmp_path / "features.npz"
    np.savez(path, features=x, labels=y, class_names=names, ids=ids)
    monkeypatch.setenv("CORESET_STUDIO_ROOTS", str(tmp_path))
    return path, names, ids


def test_a_features_file_with_marked_up_names_and_string_ids(app, marked_up_embeddings):
    """Class names and ids from a file are shown as typed on every page; string ids are shown as they are
    (before: `#74`, the position); the Data page says images cannot be shown instead of drawing 400 grey
    tiles; "Training images" shows "all" (before: a blank "Choose an option")."""
    path, names, ids = marked_up_embeddings
    at = _open({"dataset": f"embeddings:{path}", "class": "3", "a": "random"})
    assert not at.sidebar.warning
    assert at.sidebar.selectbox(key="cfg_limit").value == "all"
    assert not at.get("image") and any("no images to show" in i.value for i in at.info)
    assert_no_markup(at)
    for page in ("difficulty", "budgets", "embedding", "gallery", "compare"):
        assert_no_markup(goto(at, page))
    goto(at, "embedding")
    from studio_helpers import chart

    traces = chart(at, "embedding_map")["data"]
    hover = {int(p): t for tr in traces for (p, _), t in zip(tr["customdata"], tr["text"])}
    from coreset_core.session import Session
    from coreset_core.spec import DataSpec

    truth = Session(DataSpec(f"embeddings:{path.resolve()}"))  # the library's training rows (a 20 % test split)
    assert set(truth.ids) <= set(ids) and set(hover) == set(range(truth.labels.size))
    for p, sample in enumerate(truth.ids):  # the file's own id, escaped for plotly, then the class name
        expected = f"{sample}, {names[truth.labels[p]]}"
        assert hover[p] == expected.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
