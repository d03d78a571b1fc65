"""The nucs, nucs-uniform and nucs-o methods through the registry."""
from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from references import ridge_accuracy

from coreset_core.allocation import allocate_budgets
from coreset_core.difficulty import class_difficulty
from coreset_core.methods import get_method, run_method
from coreset_core.validation import budget_for
from coreset_core.windows import window_select


def data(seed=0, n=500, d=10, c=5):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, c, n)
    labels[:c] = np.arange(c)
    features = (rng.standard_normal((c, d))[labels] * 0.8 + rng.standard_normal((n, d))).astype(np.float32)
    # class difficulty differs: class c's scores scaled by (1 + c)
    scores = rng.random(n) * (1.0 + labels)
    return features, labels, scores


@pytest.mark.parametrize("rate", [0.3, 0.9])
def test_nucs_pipeline(rate):
    features, labels, scores = data()
    sel = run_method("nucs", prune_rate=rate, labels=labels, scores=scores, features=features)
    b = budget_for(rate, labels.size)
    assert sel.indices.size == b
    info = sel.info
    assert set(info) >= {"budgets", "class_difficulty", "endpoints", "accuracies", "best_endpoint"}
    sizes = np.bincount(labels)
    np.testing.assert_allclose(info["class_difficulty"], [scores[labels == c].mean() for c in range(5)])
    np.testing.assert_array_equal(info["budgets"], allocate_budgets(info["class_difficulty"], sizes, rate))
    np.testing.assert_array_equal(sel.class_counts(labels), info["budgets"])
    assert info["budgets"][4] / sizes[4] > info["budgets"][0] / sizes[0]  # harder class keeps more
    ref = [ridge_accuracy(features, labels, window_select(scores, labels, info["budgets"], k), 5)
           for k in info["endpoints"]]
    np.testing.assert_allclose(info["accuracies"], ref, atol=1e-12)
    best = max(range(len(ref)), key=lambda i: (ref[i], i))
    assert info["best_endpoint"] == info["endpoints"][best]
    np.testing.assert_array_equal(sel.indices, window_select(scores, labels, info["budgets"], info["best_endpoint"]))


def test_nucs_uniform_and_params():
    features, labels, scores = data(1)
    sel = run_method("nucs-uniform", prune_rate=0.8, labels=labels, scores=scores, features=features)
    np.testing.assert_array_equal(sel.info["budgets"], allocate_budgets(np.ones(5), np.bincount(labels), 0.8,
                                                                        mode="uniform"))
    sel = run_method("nucs", prune_rate=0.8, labels=labels, scores=scores, features=features,
                     winsor=(0.1, 0.1), endpoints=[0.5, 1.0], ridge=3.0, min_per_class=2, eval_subsample=0.5)
    np.testing.assert_allclose(sel.info["class_difficulty"], class_difficulty(scores, labels, winsor=(0.1, 0.1)))
    assert sel.info["endpoints"].tolist() == [0.5, 1.0] and sel.info["eval_size"] == 250
    assert sel.config["params"]["winsor"] == [0.1, 0.1]
    spec = get_method("nucs")
    assert spec.needs_scores and spec.needs_features and spec.params["winsor"] == (0.0, 0.0)
    assert get_method("nucs-o").params["probe_epochs"] >= 1


def test_nucs_o_oracle():
    features, labels, scores = data(2)
    vx, vy = features[:200] + 0.1, labels[:200]
    sel = run_method("nucs-o", prune_rate=0.7, labels=labels, scores=scores, features=features,
                     val_features=vx, val_labels=vy, probe_epochs=30, endpoints=[0.0, 0.01, 0.6, 0.8, 1.0])
    acc = sel.info["accuracies"]
    assert acc.shape == (5,) and np.all((acc >= 0) & (acc <= 1))
    best = int(np.flatnonzero(acc == acc.max())[-1])
    assert sel.info["best_endpoint"] == sel.info["endpoints"][best]
    np.testing.assert_array_equal(sel.indices, window_select(scores, labels, sel.info["budgets"],
                                                             sel.info["best_endpoint"]))
    # k = 0 and 0.01 select the same (easiest, clamped) coreset: same probe accuracy
    assert acc[0] == acc[1]
    # the probe's accuracy is that of an independent logistic-regression fit on the chosen coreset
    from sklearn.linear_model import LogisticRegression
    x, y = features[sel.indices], labels[sel.indices]
    mu, sd = x.mean(0, dtype=np.float64), x.std(0, dtype=np.float64)
    clf = LogisticRegression(max_iter=30).fit((x - mu) / sd, y)
    assert acc[best] == pytest.approx(np.mean(clf.predict((vx - mu) / sd) == vy))
    sel_u = run_method("nucs-o", prune_rate=0.7, labels=labels, scores=scores, features=features,
                       val_features=vx, val_labels=vy, probe_epochs=5, budget_mode="uniform", endpoints=[1.0])
    np.testing.assert_array_equal(sel_u.info["budgets"], allocate_budgets(np.ones(5), np.bincount(labels), 0.7,
                                                                          mode="uniform"))


@pytest.mark.parametrize(
    ("method", "kwargs", "match"),
    [
        ("nucs-o", {}, "needs held-out data"),
        ("nucs-o", {"val_features": np.zeros((3, 10)), "val_labels": [0, 1, 9]}, r"0\.\.4"),
        ("nucs-o", {"val_features": np.zeros((3, 7)), "val_labels": [0, 1, 2]}, "7 dims"),
        ("nucs-o", {"val_features": np.zeros((2, 10)), "val_labels": [0, 1, 2]}, "rows but labels has"),
        ("nucs", {"winsor": (0.6, 0.0)}, "winsor"),
        ("nucs", {"ridge": -1.0}, "ridge"),
        ("nucs", {"device": "gpu0"}, "unknown device"),
        ("nucs", {"bogus": 1}, "has no parameter"),
    ],
)
def test_method_errors(method, kwargs, match):
    features, labels, scores = data(3, n=100)
    with pytest.raises(ValueError, match=match):
        run_method(method, prune_rate=0.5, labels=labels, scores=scores, features=features, **kwargs)


def test_input_errors():
    features, labels, scores = data(4, n=100)
    with pytest.raises(ValueError, match="non-negative"):
        run_method("nucs", prune_rate=0.5, labels=labels, scores=scores - 1.0, features=features)
    with pytest.raises(ValueError, match="NaN"):
        run_method("nucs", prune_rate=0.5, labels=labels, scores=np.full(100, np.nan), features=features)
    with pytest.raises(ValueError, match="prune_rate"):
        run_method("nucs", prune_rate=1.0, labels=labels, scores=scores, features=features)
    with pytest.raises(ValueError, match="needs features"):
        run_method("nucs", prune_rate=0.5, labels=labels, scores=scores)
    with pytest.raises(ValueError, match="one backbone"):
        run_method("nucs", prune_rate=0.5, labels=labels, scores=scores, features=[features, features])
    with pytest.raises(ValueError, match="must match"):
        run_method("nucs", prune_rate=0.5, labels=labels, scores=scores[:50], features=features)


def test_bws_and_nucs_uniform_are_one_method_under_two_names():
    from coreset_core.methods import list_methods

    features, labels, scores = data(5)
    assert {"bws", "nucs-uniform"} <= set(list_methods())
    alias = get_method("nucs-uniform")
    assert alias.alias_of == "bws" and alias.fn is get_method("bws").fn and "Alias of 'bws'" in alias.description
    for rate in (0.5, 0.9):
        a = run_method("bws", prune_rate=rate, labels=labels, scores=scores, features=features)
        b = run_method("nucs-uniform", prune_rate=rate, labels=labels, scores=scores, features=features)
        np.testing.assert_array_equal(a.indices, b.indices)
        # and both are the best uniform window of the ridge proxy, computed independently here
        budgets = allocate_budgets(np.ones(5), np.bincount(labels), rate, mode="uniform")
        ref = [ridge_accuracy(features, labels, window_select(scores, labels, budgets, k), 5)
               for k in a.info["endpoints"]]
        best = max(range(len(ref)), key=lambda i: (ref[i], i))
        np.testing.assert_array_equal(a.indices, window_select(scores, labels, budgets, a.info["endpoints"][best]))
        assert b.config["method"] == "nucs-uniform" and b.config["alias_of"] == "bws"


@pytest.mark.parametrize("method", ["nucs", "nucs-uniform", "bws"])
def test_info_is_deterministic_and_holds_no_timings(method):
    from coreset_core.jsonable import to_jsonable

    features, labels, scores = data(6)
    runs = [run_method(method, prune_rate=0.7, labels=labels, scores=scores, features=features) for _ in range(2)]
    docs = [json.dumps(to_jsonable({"info": r.info, "config": r.config}), sort_keys=True) for r in runs]
    assert docs[0] == docs[1]
    assert "timings" not in runs[0].info and "seconds" not in docs[0]
    assert runs[0].timings["select"] >= 0  # wall-clock time lives outside the record


def test_one_nucs_selection_validates_labels_and_scores_once():
    """scikit-learn's way: run_method validates; nothing under it validates the same arrays again."""
    import coreset_core.validation as v
    import coreset_core.windows as w

    watched = {f.__code__: name for name, f in [("check_labels", v.check_labels), ("check_scores", v.check_scores),
                                                ("check_features", v.check_features), ("_prepare", w._prepare)]}
    calls = {name: 0 for name in watched.values()}

    def profiler(frame, event, arg):
        if event == "call" and frame.f_code in watched:
            calls[watched[frame.f_code]] += 1

    features, labels, scores = data(7)
    sys.setprofile(profiler)
    try:
        run_method("nucs", prune_rate=0.8, labels=labels, scores=scores, features=features)
    finally:
        sys.setprofile(None)
    assert calls == {"check_labels": 1, "check_scores": 1, "check_features": 1, "_prepare": 0}


@pytest.mark.parametrize("method", ["nucs", "bws"])
def test_an_endpoint_set_by_hand_is_recorded_as_not_measured(method, monkeypatch):
    """One endpoint: the window itself, no ridge fit; its accuracy is recorded as not measured (NaN in
    info, null in the JSON document), the cost check never refuses it, and a document still reads back."""
    from coreset_core.selection_schema import check_document, selection_document
    from coreset_studio.views.windows import krr_accuracy_at, krr_measured

    features, labels, scores = data(3)
    monkeypatch.setenv("CORESET_MAX_FLOP", "1")  # any fitted search is refused
    sel = run_method(method, prune_rate=0.6, labels=labels, scores=scores, features=features, endpoints=[0.4])
    info = sel.info
    assert info["krr_evaluated"] is False and np.isnan(info["accuracies"]).all() and info["eval_size"] == 0
    assert info["best_endpoint"] == 0.4 and info["krr_form"] == "none"
    np.testing.assert_array_equal(sel.indices, window_select(scores, labels, info["budgets"], 0.4))
    assert not krr_measured(sel) and krr_accuracy_at(sel, 0.4) is None
    with pytest.raises(ValueError, match="CORESET_MAX_FLOP"):
        run_method(method, prune_rate=0.6, labels=labels, scores=scores, features=features, endpoints=[0.4, 1.0])
    doc = selection_document(sel, labels=labels, class_names=[str(c) for c in range(5)], ids=np.arange(500))
    text = json.dumps(doc, allow_nan=False)
    back = check_document(json.loads(text))
    assert back["info"]["accuracies"] == [None] and back["info"]["krr_evaluated"] is False
    assert back["indices"] == sel.indices.tolist()
