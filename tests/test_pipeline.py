"""The orchestration layer: prepare() and run_selection() on the small digits dataset."""
from __future__ import annotations

import numpy as np
import pytest

from coreset_core import pipeline
from coreset_core.pipeline import PreparedData, prepare, run_selection, selection_from_config

SETTINGS = dict(resolution=32, limit=300, test_limit=100, progress=False)


@pytest.fixture(scope="module")
def cache_dir(session_cache_dir):
    # the session's temporary cache (tests/conftest.py): the digits features are extracted once
    return session_cache_dir


@pytest.fixture(scope="module")
def prepared_and_events(cache_dir):
    events = []
    prep = prepare("digits", cache_dir=cache_dir, on_progress=lambda s, f: events.append((s, f)), **SETTINGS)
    return prep, events


def test_prepare_features_scores_config_and_progress(prepared_and_events, cache_dir):
    prep, events = prepared_and_events
    assert isinstance(prep, PreparedData)
    assert prep.train.features.shape == (300, 1280) and prep.test.features.shape == (100, 1280)
    assert len(prep.scores) == 300 and set(prep.scores.scores) >= {"el2n", "aum", "forgetting", "grand", "moderate"}
    cfg = prep.config
    assert cfg["dataset"] == "digits" and cfg["backbone"] == "efficientnet_lite0" and cfg["resolution"] == 32
    assert cfg["limit"] == 300 and cfg["test_limit"] == 100 and cfg["imbalance"] is None
    assert cfg["score_epochs"] == 3 and cfg["score_seeds"] == [0]
    stages = [s for s, _ in events]
    assert [s for i, s in enumerate(stages) if i == 0 or stages[i - 1] != s] == list(pipeline.STAGES)
    for stage in pipeline.STAGES:
        fractions = [f for s, f in events if s == stage]
        assert fractions[0] == 0.0 and fractions[-1] == 1.0 and fractions == sorted(fractions)
    # everything is cached now
    again = prepare("digits", cache_dir=cache_dir, **SETTINGS)
    assert again.train.from_cache and again.test.from_cache and again.scores.info["from_cache"]
    np.testing.assert_array_equal(again.scores.scores["el2n"], prep.scores.scores["el2n"])


def test_run_selection_feeds_scores_and_features(prepared_and_events):
    from coreset_core.methods import run_method

    prep, _ = prepared_and_events
    sel = run_selection(prep, "nucs", prune_rate=0.8, score="el2n", winsor=(0.05, 0.05))
    direct = run_method("nucs", prune_rate=0.8, labels=prep.train.labels, scores=prep.scores.difficulty("el2n"),
                        features=prep.train.features, winsor=(0.05, 0.05))
    np.testing.assert_array_equal(sel.indices, direct.indices)
    assert sel.indices.size == round(0.2 * 300)
    assert sel.config["data"] == prep.config and sel.config["score"] == "el2n"
    assert sel.config["feature_backbones"] == ["efficientnet_lite0"]
    assert sel.config["params"]["winsor"] == [0.05, 0.05]
    assert "best_endpoint" in sel.info

    # a signed score is converted to a non-negative difficulty before it reaches the method
    aum = run_selection(prep, "el2n", prune_rate=0.5, score="aum")
    hardest = run_method("el2n", prune_rate=0.5, labels=prep.train.labels, scores=prep.scores.difficulty("aum"))
    np.testing.assert_array_equal(aum.indices, hardest.indices)
    assert aum.config["score"] == "aum"

    # a method without scores records no score
    rnd = run_selection(prep, "random", prune_rate=0.5, seed=3)
    assert rnd.config["score"] is None and rnd.config["feature_backbones"] is None
    with pytest.raises(ValueError, match="unknown score"):
        run_selection(prep, "nucs", prune_rate=0.5, score="nope")


def test_nucs_oracle_gets_the_test_split(prepared_and_events):
    prep, _ = prepared_and_events
    sel = run_selection(prep, "nucs-o", prune_rate=0.8, endpoints=[0.5, 1.0], probe_epochs=5)
    assert sel.config["params"]["val_features"] == "<test split>"
    assert "oracle" in sel.config["held_out"]
    assert len(sel.info["accuracies"]) == 2


def test_ram_apl_gets_three_backbones(prepared_and_events, monkeypatch):
    prep, _ = prepared_and_events
    calls = []

    def fake_get_features(dataset, split, *, backbone, resolution, limit, cache_dir, progress):
        calls.append((split, backbone, resolution, limit))
        rng = np.random.default_rng(len(calls))
        return type("FS", (), {"features": rng.normal(size=(300, 8)).astype(np.float32)})()

    monkeypatch.setattr(pipeline, "get_features", fake_get_features)
    sel = run_selection(prep, "ram-apl", prune_rate=0.7)
    assert calls == [("train", "efficientnet_lite1", 32, 300), ("train", "efficientnet_lite2", 32, 300)]
    assert sel.config["feature_backbones"] == list(pipeline.RAM_APL_BACKBONES)
    assert sel.indices.size == 90


def test_selection_from_config_reproduces(prepared_and_events, cache_dir):
    prep, _ = prepared_and_events
    sel = run_selection(prep, "nucs", prune_rate=0.9, score="grand", winsor=(0.0, 0.1))
    again = selection_from_config(sel.config, cache_dir=cache_dir)
    np.testing.assert_array_equal(again.indices, sel.indices)
    assert again.config == sel.config
    with pytest.raises(ValueError, match="data"):
        selection_from_config({"method": "nucs"})


def test_long_tailed_dataset_shares_the_base_test_features(prepared_and_events, cache_dir):
    base, _ = prepared_and_events
    lt = prepare("digits-lt", imbalance=2.0, data_seed=1, cache_dir=cache_dir, **SETTINGS)
    assert lt.config["imbalance"] == 2.0 and lt.config["data_seed"] == 1
    assert lt.dataset.identity != base.dataset.identity
    # the test split of a long-tailed variant is the base's: same cached features, no re-extraction
    assert lt.test.from_cache and lt.test.path == base.test.path
    np.testing.assert_array_equal(lt.test.features, base.test.features)
    counts = np.bincount(lt.train.labels, minlength=10)
    assert counts[0] > counts[9]  # class 0 is the head of the long tail
    sel = run_selection(lt, "nucs", prune_rate=0.8)
    assert sel.config["data"]["imbalance"] == 2.0 and sel.config["data"]["dataset"] == "digits-lt"
    np.testing.assert_array_equal(selection_from_config(sel.config, cache_dir=cache_dir).indices, sel.indices)
