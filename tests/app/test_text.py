"""Values shown as text: Markdown escaping, inert plotly labels, sample names (coreset_studio.text)."""
from __future__ import annotations

import re

import numpy as np

from studio_helpers import shown

from coreset_studio.text import inert_plot, literal, plot_text, sample_name, shorten

ATTACK = "[Session expired](https://evil.example/login) ![px](https://evil.example/p.png) <b>x</b> www.evil.example"


def test_literal_shows_the_value_and_leaves_no_markup():
    for value in (ATTACK, "see https://evil.example/x or WWW.evil.example", "a_b*c*", "$x$ and :red[text]",
                  "line\nbreak # heading", "1. item", "mail a@b.example"):
        md = literal(value)
        assert shown(md) == value.replace("\n", " ")  # the reader sees exactly the text (on one line)
        assert re.search(r"(?<!\\)[\[\]()<>!*_`$:#@]", md) is None, md  # no construct can start
        # GFM autolinks the text left after escapes: the scheme, www. and @ are split by a word joiner
        assert re.search(r"(?i)https?:/|www\.|@[a-z]", md.replace("\\", "")) is None, md


def test_plot_text_and_inert_plot():
    assert plot_text("<a href='https://x.example'>x</a> & co") == "&lt;a href='https://x.example'&gt;x&lt;/a&gt; &amp; co"
    spec = {"data": [{"x": ["<a href=x>cat</a>", "dog"], "y": [1, 2], "name": "<b>n</b>",
                      "customdata": [[1, "<i>id</i>"]], "hovertemplate": "%{x}<br>%{y}<extra></extra>"}],
            "layout": {"title": {"text": "A <img>"}}}
    out = inert_plot(spec)
    trace = out["data"][0]
    assert trace["x"] == ["&lt;a href=x&gt;cat&lt;/a&gt;", "dog"] and trace["y"] == [1, 2]
    assert trace["name"] == "&lt;b&gt;n&lt;/b&gt;" and trace["customdata"] == [[1, "&lt;i&gt;id&lt;/i&gt;"]]
    assert trace["hovertemplate"] == "%{x}<br>%{y}<extra></extra>"  # our own template keeps its tags
    assert out["layout"]["title"]["text"] == "A &lt;img&gt;"
    assert spec["data"][0]["name"] == "<b>n</b>"  # the input is not changed


def test_sample_name_and_shorten():
    assert sample_name(1157) == "#1157" and sample_name(np.int64(7)) == "#7"
    assert sample_name("img-0042") == "img-0042" and sample_name(np.str_("a/b.png")) == "a/b.png"
    assert shorten("x" * 10, 20) == "x" * 10
    assert shorten("x" * 5000, 20) == "x" * 20 + "… (5,000 characters)"
