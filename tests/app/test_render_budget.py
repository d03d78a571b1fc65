"""Slider moves re-render from memory: no feature, score or embedding recomputation (counted
calls, not seconds: the 300 ms target is measured by `benchmarks/scale.py --stages pages`).

The small-data test always runs. The CIFAR-10 measurement runs when CORESET_BENCH_CACHE_DIR
points to a cache holding the features (e.g. `CORESET_BENCH_CACHE_DIR=cache pytest -s -k cifar`);
CORESET_BENCH_LIMIT (default all) sets the number of training images. It prints the figures.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from studio_helpers import ENTRY, PAGE_FILES, assert_clean, goto

class _Counter:
    """Wraps module attributes and counts their calls."""

    def __init__(self, monkeypatch):
        self.calls: dict[str, int] = {}
        self.mp = monkeypatch

    def wrap(self, module, name: str) -> None:
        original = getattr(module, name)
        label = f"{module.__name__}.{name}"
        self.calls[label] = 0

        def counted(*args, **kwargs):
            self.calls[label] += 1
            return original(*args, **kwargs)

        self.mp.setattr(module, name, counted)


def _watch_heavy_work(monkeypatch) -> _Counter:
    from coreset_core import embedding, features, session
    from coreset_core import scores as scores_mod

    counter = _Counter(monkeypatch)
    counter.wrap(session.Session, "prepare")
    counter.wrap(features, "get_features")
    counter.wrap(features, "extract")
    counter.wrap(scores_mod, "compute_scores")
    counter.wrap(embedding, "umap_2d")
    counter.wrap(embedding, "_compute")
    return counter


def _moves(at, page: str, key: str, values) -> list[float]:
    from coreset_studio.render_log import RENDER_LOG

    out = []
    for v in values:
        at.slider(key=key).set_value(v).run()
        assert_clean(at)
        out.append(RENDER_LOG.last(page))
    return out


def test_slider_moves_reuse_cached_data(app):
    """After the first visit, slider moves on every page recompute no features, scores or embeddings."""
    import _pytest.monkeypatch

    for page in ("difficulty", "budgets", "windows", "embedding"):  # warm every page's caches
        goto(app, page)
    mp = _pytest.monkeypatch.MonkeyPatch()
    try:
        counter = _watch_heavy_work(mp)
        goto(app, "difficulty")
        _moves(app, "difficulty", "winsor_lo", [1.0, 2.5])
        _moves(app, "difficulty", "winsor_hi", [5.0, 10.0])
        goto(app, "budgets")
        _moves(app, "budgets", "prune_pct", [50, 60, 90])
        goto(app, "windows")
        app.toggle(key="win_override").set_value(True).run()
        _moves(app, "windows", "win_endpoint", [0.2, 0.8])
        goto(app, "embedding")
        _moves(app, "embedding", "prune_pct", [40, 85])
        assert all(n == 0 for n in counter.calls.values()), counter.calls
    finally:
        mp.undo()


@pytest.mark.slow
def test_cifar10_render_times(monkeypatch, capsys):
    cache = os.environ.get("CORESET_BENCH_CACHE_DIR")
    if not cache:
        pytest.skip("set CORESET_BENCH_CACHE_DIR to a cache with CIFAR-10 features to measure on CIFAR-10")
    from streamlit.testing.v1 import AppTest

    limit = os.environ.get("CORESET_BENCH_LIMIT", "all")
    env = {"CORESET_STUDIO_DATASET": os.environ.get("CORESET_BENCH_DATASET", "cifar10"),
           "CORESET_STUDIO_LIMIT": limit, "CORESET_STUDIO_AUTO_UMAP": "0",
           "CORESET_CACHE_DIR": str(Path(cache).resolve())}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    at = AppTest.from_file(str(ENTRY), default_timeout=3600)
    at.run()
    assert_clean(at)
    counter = _watch_heavy_work(monkeypatch)
    results = {}
    at.switch_page(f"page_scripts/{PAGE_FILES['difficulty']}.py").run(timeout=600)
    assert_clean(at)
    results["difficulty: winsor lower"] = _moves(at, "difficulty", "winsor_lo", [0.5, 1.0, 2.0, 5.0, 0.0])
    results["difficulty: winsor upper"] = _moves(at, "difficulty", "winsor_hi", [0.5, 1.0, 2.0, 5.0, 10.0])
    at.switch_page(f"page_scripts/{PAGE_FILES['budgets']}.py").run(timeout=600)
    assert_clean(at)
    results["budgets: pruning rate"] = _moves(at, "budgets", "prune_pct", [50, 60, 80, 90, 95])
    results["budgets: winsor upper"] = _moves(at, "budgets", "winsor_hi", [0.5, 1.0, 2.0, 5.0, 0.0])
    n = at.session_state["_studio_settings"].spec.limit
    with capsys.disabled():
        print(f"\nserver compute per rerun on {env['CORESET_STUDIO_DATASET']} (limit={n or 'all'}):")
        for name, ms in results.items():
            print(f"  {name:28s} median {np.median(ms):7.1f} ms  max {np.max(ms):7.1f} ms  ({len(ms)} moves)")
    assert all(v == 0 for v in counter.calls.values()), counter.calls
