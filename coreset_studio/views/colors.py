"""Colours of the studio's charts: one per class, and a sequential scale for difficulty."""
from __future__ import annotations

import colorsys

#: Sequential scale for difficulty (dark = easy, bright = hard) as explicit colours: the streamlit
#: theme rewrites some colours of named scales (Magma's near-black start came out pink).
MAGMA = [[i / 8, c] for i, c in enumerate(["#140e36", "#3b0f70", "#641a80", "#8c2981", "#b73779", "#de4968",
                                             "#f7705c", "#fe9f6d", "#fcfdbf"])]
CLASS_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                "#bcbd22", "#17becf"]
#: The two sides of a comparison (A, B) and the neutral grey of pruned / all samples.
SIDE_COLORS = ("#08519c", "#e6550d")
GREY = "#bbbbbb"


def class_color(k: int) -> str:
    """The colour of class `k` (ten distinct ones, then golden-ratio hues)."""
    if k < len(CLASS_COLORS):
        return CLASS_COLORS[k]
    r, g, b = colorsys.hsv_to_rgb((k * 0.618034) % 1.0, 0.65, 0.85)
    return f"rgb({int(255 * r)},{int(255 * g)},{int(255 * b)})"
