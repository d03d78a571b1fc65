"""Chart and table data of the studio's pages, computed from a `Session` (no streamlit here).

One module per kind of view: `class_stats` (class sizes, score distributions, class
difficulty, sorted strips), `budgets` (kept fractions per class and rate), `windows` (the
window and endpoint of NUCS), `selections` (comparing and picking samples), `embedding_map`
(2-D maps), `accuracy` (stored results), `downloads` (exported selections), `memo` (per-session
memo of cheap-but-repeated view data). Pages lay out what these return.
"""
