"""Values shown as text, never as markup: the one place that escapes what came from a link, a typed
path or a file (class names, ids, paths, dataset and method names).

Streamlit renders notes, captions, titles, metric labels and tooltips as Markdown, and plotly
renders a subset of HTML (`<a href>`, `<b>`, ...) in chart labels; a value placed there unescaped
can draw a link to a foreign site or load a third-party image inside the studio. `literal` makes a
value inert Markdown, `plot_text` inert plotly text, `sample_name` names a sample by its original id.
No streamlit import.
"""
from __future__ import annotations

import html
import numbers
import re
from typing import Any

#: Characters that start Markdown constructs Streamlit renders: emphasis, code, links and images,
#: raw HTML, headings, lists, tables, strike-through, LaTeX (`$`), colour and icon directives (`:`),
#: autolinks (`www.`, `http:`, `a@b`), entities (`&`).
_MARKDOWN = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~$:@&])")
#: Where GFM's autolink literals start (`https://`, `www.`, `name@host`): a word joiner is put there.
_AUTOLINK = re.compile(r"(?<=:)(?=//)|(?<=www)(?=\.)|(?<=@)", re.IGNORECASE)
WORD_JOINER = "\u2060"
_NEWLINES = re.compile(r"[\r\n\t\v\f\u2028\u2029]+")
#: Longest value a message repeats in full (a 5,000-character path is cut, with its length said).
MAX_SHOWN = 120


def shorten(value: Any, limit: int = MAX_SHOWN) -> str:
    """`str(value)` on one line, cut to `limit` characters with its full length said when longer."""
    text = _NEWLINES.sub(" ", str(value))
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text):,} characters)"


def literal(value: Any) -> str:
    """`value` as Markdown that displays exactly its text (one line): every markup character escaped, and
    an invisible word joiner inside `://`, `www.` and after `@`, because GitHub-flavoured Markdown turns a
    bare URL or e-mail address in the TEXT into a link after escapes are resolved."""
    text = _AUTOLINK.sub(WORD_JOINER, _NEWLINES.sub(" ", str(value)))
    return _MARKDOWN.sub(r"\\\1", text)


def plot_text(value: Any) -> str:
    """`value` as plotly text that displays exactly its text (`<a href=...>` shows as typed, no link)."""
    return html.escape(str(value), quote=False)


#: Plotly keys whose strings are our own templates (`%{x}<br>...`): their interpolated values are escaped
#: where the template is written, the tags are meant.
_TEMPLATES = frozenset({"hovertemplate", "texttemplate"})


def inert_plot(spec: Any) -> Any:
    """A plotly spec (`{"data", "layout"}` dicts and lists) with every string but the templates passed
    through `plot_text`: class names on axes, legend names, hover texts and titles show as typed."""
    if isinstance(spec, str):
        return plot_text(spec)
    if isinstance(spec, dict):
        return {k: v if k in _TEMPLATES else inert_plot(v) for k, v in spec.items()}
    if isinstance(spec, (list, tuple)) and any(isinstance(v, (str, list, tuple, dict)) for v in spec):
        return [inert_plot(v) for v in spec]
    return spec


def sample_name(sample_id: Any) -> str:
    """How a sample is named on every page: its original id, `#1157` for a number, a string id as it is."""
    if isinstance(sample_id, numbers.Integral):
        return f"#{int(sample_id)}"
    return str(sample_id)


__all__ = ["MAX_SHOWN", "inert_plot", "literal", "plot_text", "sample_name", "shorten"]
