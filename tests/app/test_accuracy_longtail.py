"""The Accuracy page's long-tail metrics and per-class view under AppTest, against numpy on the stored rows.

The store is filled with rows of the app's own data setting (digits, 300 training images)
whose per-class accuracies are seeded random numbers, so every chart value has a known answer.
"""
from __future__ import annotations

import types

import numpy as np
import pytest
from studio_helpers import assert_clean, chart, chart_keys, open_page, values

pytestmark = pytest.mark.timeout(900)

METHODS = {"full": 0.0, "random": 0.5, "el2n": 0.5}


def _fill(store, spec, sizes, rng):
    acc = {}
    for method, rate in METHODS.items():
        acc[method] = rng.uniform(0.2, 1.0, (3, sizes.size))
        for seed in range(3):
            store.add({"run_id": f"{method}-{seed}", "config_json": "{}", "dataset": spec.dataset, "imbalance": None,
                       "data_seed": 0, "backbone": spec.backbone, "resolution": 64, "limit_n": 300,
                       "test_limit": 200, "method": method, "params_json": "{}", "prune_rate": rate, "seed": seed,
                       "mode": "linear", "epochs": 30, "score": "el2n", "score_epochs": 2,
                       "accuracy": float(acc[method][seed].mean()),
                       "per_class_accuracy_json": acc[method][seed].tolist(), "class_sizes_json": sizes.tolist(),
                       "class_kept_json": (sizes // 2).tolist()})
    return acc


def _form_blocks(node):
    for child in getattr(node, "children", {}).values():
        if getattr(child, "type", None) == "form":
            yield child
        yield from _form_blocks(child)


def test_metrics_by_label_per_class_view_and_enter_does_not_submit(tmp_path, monkeypatch, prepared_small,
                                                                   session_cache_dir, studio_spec):
    from coreset_core.experiments.store import ResultsStore

    sizes = np.asarray(prepared_small.class_sizes)
    acc = _fill(ResultsStore(tmp_path / "r.sqlite"), studio_spec, sizes, np.random.default_rng(0))
    at = open_page("6_accuracy", "accuracy", tmp_path, monkeypatch, session_cache_dir, db=tmp_path / "r.sqlite")
    radio = at.radio(key="acc_metric")
    assert "balanced accuracy" in radio.options and "worst-class accuracy" in radio.options
    assert not any("_" in o for o in radio.options)  # labels, not the raw keys
    # worst-class accuracy: per run the minimum over classes, then mean over seeds
    radio.set_value("worst_class_accuracy").run()
    assert_clean(at)
    line = next(t for t in chart(at, "accuracy_curves")["data"] if t["name"] == "random")
    assert values(line, "y")[0] == pytest.approx(100 * acc["random"].min(axis=1).mean())
    at.radio(key="acc_metric").set_value("tail_accuracy").run()
    rarest = np.argsort(sizes, kind="stable")[:sizes.size // 3]
    line = next(t for t in chart(at, "accuracy_curves")["data"] if t["name"] == "el2n")
    assert values(line, "y")[0] == pytest.approx(100 * acc["el2n"][:, rarest].mean(axis=1).mean())
    # per class: accuracy against class size, and the change against full data
    assert {"accuracy_vs_size", "accuracy_cost"} <= set(chart_keys(at))
    points = next(t for t in chart(at, "accuracy_vs_size")["data"] if t["name"] == "random at 50 %")
    assert values(points, "x").tolist() == sizes.tolist()
    assert values(points, "y") == pytest.approx(100 * acc["random"].mean(axis=0))
    bars = next(t for t in chart(at, "accuracy_cost")["data"] if t["name"] == "random at 50 %")
    order = sorted(range(sizes.size), key=lambda c: (-sizes[c], c))  # largest class first
    change = 100 * (acc["random"].mean(axis=0) - acc["full"].mean(axis=0))
    assert values(bars, "y") == pytest.approx(change[order])
    spread = 100 * np.sqrt(acc["random"].std(axis=0, ddof=1) ** 2 + acc["full"].std(axis=0, ddof=1) ** 2)
    assert values(bars["error_y"], "array") == pytest.approx(spread[order])
    # Enter in "Pruning rates" must not submit the sweep form (the browser submits forms on Enter by default)
    forms = list(_form_blocks(at._tree))
    assert forms and all(not f.proto.form.enter_to_submit for f in forms)


def test_an_embeddings_file_is_described_without_a_resolution():
    from coreset_studio.choices import data_label
    from coreset_core.features import FILE_BACKBONE

    spec = types.SimpleNamespace(dataset="embeddings:/data/emb.npz", imbalance=None, backbone=FILE_BACKBONE,
                                 score="file")
    assert " px" not in data_label(spec, 1000, 128)
    spec.backbone = "efficientnet_lite0"
    assert ", 128 px," in data_label(spec, 1000, 128)
