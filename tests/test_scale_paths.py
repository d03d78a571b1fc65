"""The selection path at scale (issue 12): up-front cost refusals, bounded memory, exact fast paths.

Costs are checked against the closed forms written out here from the sizes; memory bounds
with tracemalloc (numpy reports its allocations to it) against the size of an N x C float64
matrix, which no step may build.
"""
from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from coreset_core.methods import cost


def long_tail_labels(n: int, c: int, imbalance: float = 100.0) -> np.ndarray:
    w = imbalance ** (-np.arange(c) / max(c - 1, 1))
    sizes = np.maximum(1, np.floor(n * w / w.sum()).astype(np.int64))
    sizes[0] += n - sizes.sum()
    return np.repeat(np.arange(c), sizes)


def shape_only(n: int, d: int) -> np.ndarray:
    """An (n, d) float32 array that takes no memory (cost checks only read its shape)."""
    return np.broadcast_to(np.zeros((1, d), dtype=np.float32), (n, d))


def test_estimates_match_the_closed_forms():
    y = long_tail_labels(500_000, 1000)
    sizes = np.bincount(y).astype(float)
    n, b, d = y.size, 50_000, 512
    assert cost.estimate("kcenter", y, b, d, {}).flop == 2.0 * n * b * d
    assert cost.estimate("kcenter-classwise", y, b, d, {}).flop == pytest.approx(2.0 * (sizes * sizes * b / n).sum() * d)
    assert cost.estimate("d2", y, b, d, {"mode": "global"}).flop == 2.0 * n * n * d
    assert cost.estimate("d2", y, b, d, {"mode": "class", "pca_dims": 64}).flop == 2.0 * (sizes ** 2).sum() * 64
    assert cost.estimate("ram-apl", y, b, d, {}, num_backbones=3).flop == 2.0 * n * 1000 * d * 3
    assert cost.estimate("nucs", y, b, d, {"eval_subsample": None}).flop == 2.0 * 21 * n * d * 1000 + 2.0 * n * d * d
    assert cost.estimate("bws", y, b, d, {"eval_subsample": 0.1, "endpoints": [0.1, 0.5, 0.5]}).flop == \
        2.0 * 2 * 50_000 * d * 1000 + 2.0 * n * d * d
    for cheap in ("random", "el2n", "ccs", "moderate", "moderate-classwise", "random-classwise"):
        assert cost.estimate(cheap, y, b, d, {}) is None


def test_what_runs_and_what_is_refused_at_500k_by_1000_classes(monkeypatch):
    monkeypatch.delenv(cost.MAX_FLOP_ENV, raising=False)
    y = long_tail_labels(500_000, 1000)
    x = shape_only(y.size, 512)
    for ok in ("nucs", "bws", "d2", "kcenter-classwise", "ram-apl", "moderate", "ccs"):
        cost.check_affordable(ok, y, 50_000, x, {"mode": "class"} if ok == "d2" else {})
    with pytest.raises(ValueError, match=r"kcenter on 500,000 samples would take about .* minutes.*kcenter-classwise"):
        cost.check_affordable("kcenter", y, 250_000, x, {})
    with pytest.raises(ValueError, match="mode=class"):
        cost.check_affordable("d2", y, 50_000, x, {"mode": "global"})
    with pytest.raises(ValueError, match=r"nucs \(the ridge proxy"):
        cost.check_affordable("nucs-o", y, 50_000, x, {"probe_epochs": 100})


def test_ten_thousand_classes_offer_the_evaluation_subsample(monkeypatch):
    monkeypatch.delenv(cost.MAX_FLOP_ENV, raising=False)
    y = long_tail_labels(500_000, 10_000)
    x = shape_only(y.size, 512)
    with pytest.raises(ValueError) as err:
        cost.check_affordable("nucs", y, 50_000, x, {"eval_subsample": None})
    msg = str(err.value)
    assert "eval_subsample=0.1" in msg and "1.1e+14 flop" in msg and "CORESET_MAX_FLOP=1e+15" in msg
    cost.check_affordable("nucs", y, 50_000, x, {"eval_subsample": 0.1})  # the offered route runs
    monkeypatch.setenv(cost.MAX_FLOP_ENV, "1e15")
    cost.check_affordable("nucs", y, 50_000, x, {"eval_subsample": None})  # asked for explicitly


def test_a_bad_limit_is_refused(monkeypatch):
    monkeypatch.setenv(cost.MAX_FLOP_ENV, "lots")
    with pytest.raises(ValueError, match="CORESET_MAX_FLOP='lots' is not a number"):
        cost.max_flop()
    monkeypatch.setenv(cost.MAX_FLOP_ENV, "-1")
    with pytest.raises(ValueError, match="must be > 0"):
        cost.max_flop()


def test_the_ridge_search_never_builds_an_n_by_c_float64_matrix():
    from coreset_core.allocation import allocate_budgets
    from coreset_core.difficulty import class_difficulty
    from coreset_core.windows import krr_window_search

    rng = np.random.default_rng(0)
    n, c, d = 60_000, 1000, 8
    y = rng.integers(0, c, n)
    y[:c] = np.arange(c)
    x = rng.standard_normal((n, d)).astype(np.float32)
    s = rng.random(n)
    budgets = allocate_budgets(class_difficulty(s, y), np.bincount(y), 0.9)
    tracemalloc.start()
    krr_window_search(x, y, s, budgets, endpoints=[0.2, 0.6, 1.0])
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < n * c * 8 / 3, f"peak {peak / 1e6:.0f} MB vs N x C float64 {n * c * 8 / 1e6:.0f} MB"


def test_run_method_refuses_before_any_work(monkeypatch):
    from coreset_core.methods import run_method

    rng = np.random.default_rng(1)
    y = np.repeat(np.arange(4), 250)
    x = rng.standard_normal((1000, 16)).astype(np.float32)
    monkeypatch.setenv(cost.MAX_FLOP_ENV, "1e6")  # 2 N B d = 2 x 1000 x 500 x 16 = 1.6e7 is above it
    with pytest.raises(ValueError, match=r"kcenter on 1,000 samples .* 1\.6e\+07 flop .*kcenter-classwise"):
        run_method("kcenter", prune_rate=0.5, labels=y, features=x)
    with pytest.raises(ValueError, match="nucs-uniform|bws"):  # an alias is estimated as its method
        run_method("nucs-uniform", prune_rate=0.5, labels=y, features=x, scores=rng.random(1000))
    assert run_method("random", prune_rate=0.5, labels=y).indices.size == 500  # O(N) methods always run
    monkeypatch.setenv(cost.MAX_FLOP_ENV, "1e8")
    assert run_method("kcenter", prune_rate=0.5, labels=y, features=x).indices.size == 500


def test_scoring_cost_is_the_head_run_and_refuses_at_ten_thousand_classes(monkeypatch):
    monkeypatch.delenv(cost.MAX_FLOP_ENV, raising=False)
    n, d, c, steps, epochs = 500_000, 512, 10_000, 3 * 1954, 3
    est = cost.scoring_cost(n, d, c, steps, epochs)
    assert est.flop == 4.0 * steps * 256 * d * c + 2.0 * epochs * n * d * c
    with pytest.raises(ValueError, match=r"scoring .* minutes .*score 'file'"):
        cost.refuse_if_over(est, "scoring")
    cost.refuse_if_over(cost.scoring_cost(n, d, 1000, steps, epochs), "scoring")  # 1,000 classes run
