"""The Session: prepared data and memoised derived results, on the small digits dataset."""
from __future__ import annotations

import threading

import numpy as np
import pytest

from coreset_core.session import STAGES, Session, prepare, selection_from_config
from coreset_core.spec import DataSpec

SPEC = DataSpec("digits", resolution=32, limit=300, test_limit=100)


@pytest.fixture(scope="module")
def cache_dir(session_cache_dir):
    # the session's temporary cache (tests/conftest.py): the digits features are extracted once
    return session_cache_dir


@pytest.fixture(scope="module")
def session_and_events(cache_dir):
    events = []
    session = Session(SPEC, cache_dir=cache_dir).prepare(lambda s, f: events.append((s, f)))
    return session, events


def test_prepare_loads_features_scores_and_reports_every_stage(session_and_events, cache_dir):
    session, events = session_and_events
    assert session.train.features.shape == (300, 1280) and session.test.features.shape == (100, 1280)
    assert len(session.scores) == 300 and set(session.scores.scores) >= {"el2n", "aum", "forgetting", "grand"}
    assert session.resolution == 32 and session.num_classes == 10
    stages = [s for s, _ in events]
    assert [s for i, s in enumerate(stages) if i == 0 or stages[i - 1] != s] == list(STAGES)
    for stage in STAGES:
        fractions = [f for s, f in events if s == stage]
        assert fractions[0] == 0.0 and fractions[-1] == 1.0 and fractions == sorted(fractions)
    again = prepare("digits", resolution=32, limit=300, test_limit=100, cache_dir=cache_dir, progress=False)
    assert again.train.from_cache and again.test.from_cache and again.scores.info["from_cache"]
    np.testing.assert_array_equal(again.scores.scores["el2n"], session.scores.scores["el2n"])


def test_selection_needs_no_test_features(cache_dir):
    session = Session(SPEC, cache_dir=cache_dir)
    session.select("random", 0.5)
    assert not session.has(("features", "train", SPEC.backbone))  # random needs only the labels
    session.select("el2n", 0.5)
    assert session.has(("features", "train", SPEC.backbone)) and not session.has(("features", "test", SPEC.backbone))


def test_class_sizes_difficulty_and_budgets_against_numpy(session_and_events):
    session, _ = session_and_events
    labels = session.labels
    np.testing.assert_array_equal(session.class_sizes, np.bincount(labels, minlength=10))
    d = session.difficulty("el2n")
    means = np.array([d[labels == c].mean() for c in range(10)])
    np.testing.assert_allclose(session.class_difficulty("el2n"), means)
    budgets = session.budgets(0.8, score="el2n", mode="uniform")
    assert budgets.sum() == round(0.2 * 300)
    # uniform: every class keeps (about) the same fraction, at most one sample off after rounding
    assert np.all(np.abs(budgets - 0.2 * session.class_sizes) <= 1)
    with pytest.raises(ValueError):
        d[0] = 1.0  # memoised arrays are read-only: nobody can corrupt the memo


def test_select_feeds_the_chosen_score_and_records_the_spec(session_and_events):
    session, _ = session_and_events
    sel = session.select("el2n", 0.5, score="aum")
    # el2n keeps the B hardest: recompute that set from the difficulty with a plain sort
    d = session.difficulty("aum")
    expected = np.sort(np.argsort(-d, kind="stable")[:150])
    np.testing.assert_array_equal(np.sort(sel.indices), expected)
    assert sel.config["score"] == "aum" and sel.config["data"]["spec"] == SPEC.to_dict()
    rnd = session.select("random", 0.5, seed=3)
    assert rnd.config["score"] is None and rnd.config["feature_backbones"] is None
    assert session.select("random", 0.5, seed=3) is rnd  # memoised
    with pytest.raises(ValueError, match="unknown score"):
        session.select("nucs", 0.5, score="nope")


def test_nucs_oracle_gets_the_test_split(session_and_events):
    session, _ = session_and_events
    sel = session.select("nucs-o", 0.8, endpoints=[0.5, 1.0], probe_epochs=5)
    assert sel.config["params"]["val_features"] == "<test split>"
    assert "oracle" in sel.config["held_out"]
    assert len(sel.info["accuracies"]) == 2


def test_ram_apl_uses_the_chosen_backbones(session_and_events):
    session, _ = session_and_events
    sel = session.select("ram-apl", 0.7, backbones=["efficientnet_lite0", "efficientnet_lite1"])
    assert sel.config["feature_backbones"] == ["efficientnet_lite0", "efficientnet_lite1"]
    assert session.features_of("train", "efficientnet_lite1").features.shape == (300, 1280)
    assert sel.indices.size == 90


def test_selection_from_config_reproduces(session_and_events, cache_dir):
    session, _ = session_and_events
    sel = session.select("nucs", 0.9, score="grand", winsor=(0.0, 0.1))
    again = selection_from_config(sel.config, cache_dir=cache_dir)
    np.testing.assert_array_equal(again.indices, sel.indices)
    assert again.config == sel.config
    with pytest.raises(ValueError, match="data"):
        selection_from_config({"method": "nucs"})


def test_memo_computes_once_under_concurrent_requests(cache_dir):
    session = Session(SPEC, cache_dir=cache_dir)
    calls = []

    def slow():
        calls.append(1)
        threading.Event().wait(0.2)
        return object()

    results = []
    threads = [threading.Thread(target=lambda: results.append(session.memoised(("k",), slow))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and len({id(r) for r in results}) == 1


def test_prepared_data_survives_memo_eviction(cache_dir):
    session = Session(SPEC, cache_dir=cache_dir, max_memo=2).prepare(test=False)
    assert session.is_prepared
    for rate in (0.1, 0.2, 0.3, 0.4):  # four selections through a memo of two
        session.select("random", rate)
    assert session.is_prepared and not session.has(("select", "random", 0.1, "el2n", 0, None, ()))


def test_long_tailed_dataset_shares_the_base_test_features(session_and_events, cache_dir):
    base, _ = session_and_events
    lt = Session(SPEC.replace(dataset="digits-lt", imbalance=2.0, data_seed=1), cache_dir=cache_dir).prepare()
    assert lt.dataset.identity != base.dataset.identity
    assert lt.test.from_cache and lt.test.path == base.test.path
    np.testing.assert_array_equal(lt.test.features, base.test.features)
    counts = np.bincount(lt.labels, minlength=10)
    assert counts[0] > counts[9]  # class 0 is the head of the long tail
    sel = lt.select("nucs", 0.8)
    assert sel.config["data"]["spec"]["imbalance"] == 2.0
    np.testing.assert_array_equal(selection_from_config(sel.config, cache_dir=cache_dir).indices, sel.indices)


def test_cuda_without_a_gpu_is_refused_up_front():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(ValueError, match="no CUDA GPU"):
        Session(SPEC, device="cuda")


def test_labels_ids_and_class_sizes_need_no_features(session_and_events, cache_dir):
    prepared, _ = session_and_events
    fresh = Session(SPEC, cache_dir=cache_dir)
    np.testing.assert_array_equal(fresh.labels, prepared.train.labels)
    assert fresh.ids.shape == (300,) and fresh.class_sizes.sum() == 300
    assert not fresh.has(("features", "train", SPEC.backbone)) and not fresh.is_prepared


def test_an_unaffordable_method_or_score_run_is_refused_before_the_scores(cache_dir, monkeypatch):
    session = Session(SPEC, cache_dir=cache_dir)
    session.train  # features are cached from the other tests; nothing else is computed yet
    monkeypatch.setenv("CORESET_MAX_FLOP", "1000")
    with pytest.raises(ValueError, match="flop"):
        session.select("nucs", 0.9)
    with pytest.raises(ValueError, match="flop"):
        session.scores
    assert not session.has(("scores",))
