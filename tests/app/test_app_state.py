"""The studio's pure logic (coreset_core.app_state, coreset_core.embedding), without streamlit."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from coreset_core import app_state as S


@pytest.fixture
def toy():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(4), [50, 30, 15, 5])
    scores = rng.gamma(2.0, 1.0, labels.size) * (1 + labels)
    scores[3] = 100.0  # an outlier in class 0
    return labels, scores


def test_config_from_env_defaults_and_overrides():
    cfg = S.config_from_env({})
    assert (cfg.dataset, cfg.limit, cfg.test_limit, cfg.score) == ("cifar10", 5000, 2000, "el2n")
    cfg = S.config_from_env({"CORESET_STUDIO_DATASET": "cifar10-lt", "CORESET_STUDIO_LIMIT": "all",
                             "CORESET_STUDIO_RESOLUTION": "96", "CORESET_STUDIO_SCORE": "aum"})
    assert cfg.imbalance == 10.0 and cfg.limit is None and cfg.test_limit is None and cfg.resolution == 96
    assert cfg.score == "aum"
    assert S.config_from_env({"CORESET_STUDIO_DATASET": "digits"}).limit is None
    with pytest.raises(ValueError):
        S.config_from_env({"CORESET_STUDIO_LIMIT": "-3"})
    # the score does not change the prepared data
    assert S.StudioConfig(score="el2n").key() == S.StudioConfig(score="aum").key()
    assert S.StudioConfig(dataset="cifar10", imbalance=5).imbalance is None


def test_difficulty_frame_matches_numpy(toy):
    labels, scores = toy
    f = S.difficulty_frame(scores, labels, ["a", "b", "c", "d"], (0.1, 0.05))
    for c in range(4):
        s = scores[labels == c]
        assert np.isclose(f["mean"][c], s.mean())
        assert np.isclose(f["winsorized"][c], np.clip(s, np.quantile(s, 0.1), np.quantile(s, 0.95)).mean())
    assert f["winsorized"][0] < f["mean"][0]  # the outlier is clipped
    assert sorted(f["rank"]) == [1, 2, 3, 4]
    low, high = S.winsor_limits(scores, labels, (0.1, 0.05), 4)
    assert np.isclose(high[2], np.quantile(scores[labels == 2], 0.95))


def test_box_stats_and_samples(toy):
    labels, scores = toy
    st = S.score_box_stats(scores, labels, ["a", "b", "c", "d"])
    s0 = scores[labels == 0]
    q1, med, q3 = np.quantile(s0, [0.25, 0.5, 0.75])
    assert np.isclose(st["median"][0], med) and np.isclose(st["q1"][0], q1) and np.isclose(st["q3"][0], q3)
    assert st["upperfence"][0] <= q3 + 1.5 * (q3 - q1) and st["max"][0] == 100.0
    pts = S.per_class_sample(labels, 10, seed=1)
    assert np.array_equal(np.bincount(labels[pts]), [10, 10, 10, 5])
    sub = S.stratified_subsample(labels, 50, seed=0)
    assert abs(sub.size - 50) <= 4 and set(labels[sub]) == {0, 1, 2, 3}
    hard, easy = S.extreme_examples(scores, labels, 0, 3)
    assert hard[0] == 3 and scores[easy[0]] == scores[labels == 0].min()
    assert np.all(np.diff(scores[hard]) <= 0) and np.all(np.diff(scores[easy]) >= 0)


def test_allocation_and_ranking_tables(toy):
    from coreset_core import allocate_budgets, select

    labels, scores = toy
    sizes = np.bincount(labels)
    diff = np.array([scores[labels == c].mean() for c in range(4)])
    rates = [0.0, 0.5, 0.9]
    tab = S.allocation_table(diff, sizes, rates, mode="nucs")
    for r in rates:
        assert np.array_equal(tab[r], allocate_budgets(diff, sizes, r, mode="nucs"))
    frac = S.counts_to_fractions(tab, sizes)
    assert np.allclose(frac[0.0], 1.0)
    order = np.lexsort((np.arange(labels.size), -scores))
    ranked = S.ranking_kept_counts(order, labels, rates, 4)
    for r in rates:
        kept = select("el2n", prune_rate=r, labels=labels, scores=scores)
        assert np.array_equal(ranked[r], np.bincount(labels[kept], minlength=4))
    long = S.long_fraction_frame({"nucs": frac}, ["a", "b", "c", "d"])
    assert len(long) == 12 and set(long["allocation"]) == {"nucs"}
    table = S.budget_counts_frame(["a", "b", "c", "d"], sizes, diff, {"nucs": tab[0.5].to_numpy()})
    assert table["nucs kept"].iloc[-1] == round(0.5 * labels.size)
    assert np.isclose(table["difficulty"].iloc[-1], scores.mean(), atol=1e-4)


def test_strips_and_window_bounds(toy):
    labels, scores = toy
    strips = S.sorted_strips(scores, labels, 4, bins=20)
    assert strips.shape == (4, 20) and np.all(np.diff(strips, axis=1) >= 0)
    sizes = np.bincount(labels)
    budgets = np.array([10, 10, 5, 2])
    for k in (0.0, 0.37, 1.0):
        b = S.window_bounds(sizes, budgets, k)
        ends = np.clip(np.rint(k * sizes), budgets, sizes)
        assert np.array_equal(b["end"], ends) and np.array_equal(b["start"], ends - budgets)


def test_selection_helpers_and_exports(toy):
    labels, _ = toy
    a, b = np.array([0, 1, 2, 60]), np.array([2, 60, 99])
    assert S.jaccard(a, b) == pytest.approx(2 / 5)
    assert S.jaccard([], []) == 1.0
    cmp = S.compare_counts_frame(a, b, labels, ["a", "b", "c", "d"])
    assert list(cmp["A"]) == [3, 1, 0, 0] and list(cmp["B"]) == [1, 1, 0, 1] and list(cmp["both"]) == [1, 1, 0, 0]
    hist = S.shared_histogram(np.arange(100.0), {"all": np.arange(100), "a": a}, bins=10)
    assert hist["all"].sum() == 100 and hist["a"].sum() == 4
    frac = S.shared_histogram(np.arange(100.0), {"all": np.arange(100), "a": a}, bins=10, normalize=True)
    assert np.isclose(frac["a"].sum(), 1.0) and np.isclose(frac["a"][0], 0.75)
    config = {"dataset": "toy", "method": "nucs", "prune_rate": 0.7, "seed": 0, "winsor": (0.0, 0.1),
              "budgets": np.array([1, 2])}
    csv_bytes, json_bytes = S.selection_exports(b, config, labels, ["a", "b", "c", "d"])
    payload = json.loads(json_bytes)
    assert payload["indices"] == [2, 60, 99] and payload["config"]["winsor"] == [0.0, 0.1]
    assert payload["class_counts"] == {"a": 1, "b": 1, "c": 0, "d": 1}
    lines = csv_bytes.decode().splitlines()
    assert json.loads(lines[0][2:])["method"] == "nucs"
    assert lines[1] == "index,label,class" and lines[2] == "2,0,a"
    assert S.selection_filename(config, "csv") == "toy-nucs-p70-s0.csv"
    assert S.coerce_param("[0.1, 0.2]", (0.0, 0.0)) == (0.1, 0.2)
    assert S.coerce_param("", None) is None and S.coerce_param("3", 1) == 3


def test_accuracy_frames():
    frame = pd.DataFrame({
        "method": ["full", "el2n", "el2n", "nucs"], "prune_rate": [0.0, 0.5, 0.5, 0.5],
        "accuracy": [0.9, 0.8, 0.7, 0.85],
        "per_class_accuracy_json": ["[0.9, 0.9]", "[0.8, 0.6]", "[0.6, 0.8]", "[1.0, null]"],
    })
    curves = S.accuracy_curves(frame)
    row = curves[curves["method"] == "el2n"].iloc[0]
    assert row["mean"] == pytest.approx(75.0) and row["std"] == pytest.approx(np.std([80, 70], ddof=1))
    pc = S.per_class_accuracy_frame(frame, ["x", "y"])
    el = pc[pc["method"] == "el2n"]
    assert list(el["accuracy"]) == pytest.approx([70.0, 70.0])


def test_render_log_and_timed():
    log = S.RenderLog()
    with S.timed("p", log) as t:
        sum(range(1000))
    assert t["ms"] >= 0 and log.last("p") == t["ms"] and log.summary("p")["n"] == 1


def test_embedding_cached_on_disk(tmp_path):
    from coreset_core import embedding as E

    x = np.random.default_rng(0).normal(size=(60, 12)).astype(np.float32)
    key = {"dataset": "toy", "split": "train", "backbone": "none", "limit": 60}
    assert E.load_cached(x, "pca", feature_key=key, cache_dir=tmp_path) is None
    pca = E.get_embedding(x, "pca", feature_key=key, cache_dir=tmp_path)
    assert pca.shape == (60, 2) and pca.dtype == np.float32
    np.testing.assert_array_equal(E.load_cached(x, "pca", feature_key=key, cache_dir=tmp_path), pca)
    assert list((tmp_path / "embeddings").glob("toy-train-none-*.npz"))
    # without a key the content hash identifies the features
    np.testing.assert_allclose(E.get_embedding(x, "pca", cache_dir=tmp_path), pca, atol=1e-5)
    with pytest.raises(ValueError):
        E.get_embedding(x, "tsne")
    with pytest.raises(ValueError):
        E.get_embedding(x, "umap", perplexity=3)


@pytest.mark.slow
def test_umap_in_background_then_cached(tmp_path):
    from coreset_core import embedding as E

    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0, 1, (60, 8)), rng.normal(6, 1, (60, 8))]).astype(np.float32)
    job = E.start_background(x, "umap", cache_dir=tmp_path, n_neighbors=10, nice=0)
    assert E.start_background(x, "umap", cache_dir=tmp_path, n_neighbors=10) is job  # one job per key
    job.thread.join(timeout=600)
    assert job.state == "done", job.error
    assert job.result.shape == (120, 2)
    np.testing.assert_array_equal(E.load_cached(x, "umap", cache_dir=tmp_path, n_neighbors=10), job.result)
    # the two blobs stay apart in the map
    a, b = job.result[:60].mean(0), job.result[60:].mean(0)
    spread = job.result[:60].std(0).max()
    assert np.linalg.norm(a - b) > 2 * spread
