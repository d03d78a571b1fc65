"""The studio's view data (coreset_studio.views, studio_choices, method_params, render_log), without
streamlit: every number is checked against an independent numpy computation of its definition."""
from __future__ import annotations

import csv
import io
import json

import numpy as np
import pandas as pd
import pytest
from references import window_positions, winsorized_class_means

from coreset_studio import method_params as P
from coreset_studio import choices as C
from coreset_studio.views import accuracy as A
from coreset_studio.views import budgets as B
from coreset_studio.views import class_stats as S
from coreset_studio.views import downloads as D
from coreset_studio.views import selections as V
from coreset_studio.views import windows as W




def _water_filled(s, sizes, budget):
    """Budgets proportional to difficulty x size; a class that would get more than it has keeps all and
    the rest is shared again among the others (SPEC 2, before integer rounding)."""
    out, free = np.zeros(sizes.size), np.ones(sizes.size, dtype=bool)
    while True:
        left = budget - out[~free].sum()
        share = np.where(free, left * s * sizes / np.sum((s * sizes)[free]), out)
        over = free & (share > sizes)
        if not over.any():
            return share
        out[over], free[over] = sizes[over], False


def test_class_statistics_match_numpy(prepared_small):
    session = prepared_small
    d, labels = session.difficulty("el2n"), session.labels
    frame = S.difficulty_frame(session, "el2n", (0.1, 0.05))
    np.testing.assert_allclose(frame["mean"], [d[labels == c].mean() for c in range(10)], rtol=1e-12)
    np.testing.assert_allclose(frame["winsorized"], winsorized_class_means(d, labels, 0.1, 0.05), rtol=1e-12)
    assert sorted(frame["rank"]) == list(range(1, 11))
    assert frame["rank"][int(np.argmax(frame["winsorized"]))] == 1
    low, high = S.winsor_limits(session, "el2n", (0.1, 0.05))
    np.testing.assert_allclose(high, [np.quantile(d[labels == c], 0.95) for c in range(10)])
    np.testing.assert_allclose(low, [np.quantile(d[labels == c], 0.1) for c in range(10)])
    box = S.score_box_stats(session, "el2n")
    q1, med, q3 = np.quantile(d[labels == 2], [0.25, 0.5, 0.75])
    assert np.isclose(box["q1"][2], q1) and np.isclose(box["median"][2], med) and np.isclose(box["q3"][2], q3)
    assert box["upperfence"][2] <= q3 + 1.5 * (q3 - q1) and box["max"][2] == d[labels == 2].max()
    strips = S.sorted_strips(session, "el2n", bins=20)
    assert strips.shape == (10, 20) and np.all(np.diff(strips, axis=1) >= 0)
    c3 = np.sort(d[labels == 3])
    np.testing.assert_allclose(strips[3], c3[np.minimum(((np.arange(20) + 0.5) / 20 * c3.size).astype(int),
                                                        c3.size - 1)])


def test_samples_and_extremes():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(4), [50, 30, 15, 5])
    scores = rng.gamma(2.0, 1.0, labels.size)
    scores[3] = 100.0
    pts = S.per_class_sample(labels, 10, seed=1)
    assert np.array_equal(np.bincount(labels[pts]), [10, 10, 10, 5])
    sub = V.stratified_subsample(labels, 50, seed=0)
    assert abs(sub.size - 50) <= 4 and set(labels[sub]) == {0, 1, 2, 3}
    assert np.array_equal(V.stratified_subsample(labels, 500), np.arange(labels.size))
    hard, easy = S.extreme_examples(scores, labels, 0, 3)
    assert hard[0] == 3 and scores[easy[0]] == scores[labels == 0].min()
    assert np.all(np.diff(scores[hard]) <= 0) and np.all(np.diff(scores[easy]) >= 0)
    picks = S.sample_indices_per_class(labels, 8, seed=0)
    assert [len(p) for p in picks.values()] == [8, 8, 8, 5] and all(np.all(labels[p] == c) for c, p in picks.items())


def test_budget_tables_follow_the_nucs_definition(prepared_small):
    session = prepared_small
    d, labels = session.difficulty("el2n"), session.labels
    sizes, n = np.bincount(labels, minlength=10), labels.size
    rates = [0.0, 0.5, 0.8]
    nucs = B.allocation_counts(session, rates, mode="nucs", score="el2n", winsor=(0.0, 0.2))
    uniform = B.allocation_counts(session, rates, mode="uniform")
    s = winsorized_class_means(d, labels, 0.0, 0.2)
    for r in rates:
        budget = round((1 - r) * n)
        assert nucs[r].sum() == budget and uniform[r].sum() == budget
        ideal = _water_filled(s, sizes, budget)
        assert np.all(np.abs(nucs[r].to_numpy() - ideal) <= 1.0 + 1e-9), (r, nucs[r].to_numpy(), ideal)
        assert np.all(np.abs(uniform[r].to_numpy() - (1 - r) * sizes) <= 1.0 + 1e-9)
    np.testing.assert_allclose(B.fractions(uniform, sizes)[0.0], 1.0)
    table = B.budget_counts_frame(session.class_names, sizes, s, {"nucs": nucs[0.5].to_numpy()})
    assert table["nucs kept"].iloc[-1] == round(0.5 * n) and table["N_c"].iloc[-1] == n
    assert np.isclose(table["difficulty"].iloc[-1], np.sum(s * sizes) / n, atol=1e-4)


def test_windows_view_override_is_honest_and_reproducible(prepared_small):
    from coreset_core.session import Session

    session = prepared_small
    d, labels = session.difficulty("el2n"), session.labels
    krr = W.window_view(session, 0.7, score="el2n", winsor=(0.0, 0.1))
    acc = np.asarray(krr.selection.info["accuracies"])
    ks = np.asarray(krr.selection.info["endpoints"])
    assert not krr.overridden and krr.endpoint == ks[np.flatnonzero(acc == acc.max())[-1]]  # ties: larger k
    np.testing.assert_array_equal(krr.selection.indices, window_positions(d, labels, krr.budgets, krr.endpoint))
    view = W.window_view(session, 0.7, score="el2n", winsor=(0.0, 0.1), endpoint=0.3)
    assert view.overridden and view.endpoint == 0.3 and view.krr_endpoint == krr.endpoint
    np.testing.assert_array_equal(view.budgets, krr.budgets)
    np.testing.assert_array_equal(view.selection.indices, window_positions(d, labels, view.budgets, 0.3))
    config = view.selection.config
    assert config["method"] == "nucs" and config["params"]["endpoints"] == [0.3]
    assert config["params"]["winsor"] == [0.0, 0.1]
    rebuilt = Session.from_config(config).reselect(config)  # a fresh session: from the config alone
    np.testing.assert_array_equal(rebuilt.indices, view.selection.indices)
    bounds = W.window_bounds(session.class_sizes, view.budgets, 0.3)
    ends = np.clip(np.rint(0.3 * session.class_sizes), view.budgets, session.class_sizes)
    assert np.array_equal(bounds["end"], ends) and np.array_equal(bounds["start"], ends - view.budgets)
    table = W.window_table(session, view, "el2n", (0.0, 0.1))
    kept = view.selection.indices
    assert np.isclose(table["mean score kept"][4], d[kept[labels[kept] == 4]].mean())
    uniform = W.window_view(session, 0.7, score="el2n", winsor=(0.0, 0.1), mode="uniform", endpoint=1.0)
    assert uniform.selection.config["method"] in ("nucs-uniform", "bws")  # one method under two names
    assert "winsor" not in uniform.params and uniform.params["endpoints"] == [1.0]
    assert np.all(np.abs(uniform.budgets - 0.3 * session.class_sizes) <= 1.0)


def test_selection_comparisons():
    labels = np.repeat(np.arange(4), [50, 30, 15, 5])
    a, b = np.array([0, 1, 2, 60]), np.array([2, 60, 99])
    assert V.jaccard(a, b) == pytest.approx(2 / 5) and V.jaccard([], []) == 1.0
    cmp = V.compare_counts_frame(a, b, labels, ["a", "b", "c", "d"])
    assert list(cmp["A"]) == [3, 1, 0, 0] and list(cmp["B"]) == [1, 1, 0, 1] and list(cmp["both"]) == [1, 1, 0, 0]
    hist = V.shared_histogram(np.arange(100.0), {"all": np.arange(100), "a": a}, bins=10, normalize=True)
    assert np.isclose(hist["a"].sum(), 1.0) and np.isclose(hist["a"][0], 0.75) and np.isclose(hist["all"][9], 0.1)


def test_picked_points_list_every_sample_with_its_status(prepared_small):
    session = prepared_small
    labels, d = session.labels, session.difficulty("el2n")
    kept = session.select("el2n", 0.5, score="el2n").indices
    # a box selection over two traces (pruned first, then kept), as plotly reports it: floats, no order
    rng = np.random.default_rng(1)
    chosen = rng.choice(labels.size, size=120, replace=False)
    points = [{"curve_number": int(i in kept), "customdata": [float(i), float(d[i])]} for i in chosen]
    points.append({"curve_number": 0, "customdata": [float(chosen[0]), 0.0]})  # a duplicate report
    points.append({"curve_number": 0})  # a point without customdata is skipped
    idx = V.picked_indices(points)
    np.testing.assert_array_equal(idx, np.sort(chosen))
    frame = V.picked_frame(idx, labels=labels, class_names=session.class_names, kept=kept, difficulty=d,
                           ids=session.ids)
    kept_set = set(kept.tolist())
    assert len(frame) == 120
    assert list(frame["status"]) == ["kept" if i in kept_set else "pruned" for i in idx]
    assert (frame["status"] == "kept").sum() == len(kept_set & set(chosen.tolist()))
    assert list(frame["class"]) == [session.class_names[labels[i]] for i in idx]
    assert list(frame["id"]) == list(np.asarray(session.ids)[idx])


def test_downloads_list_original_ids(prepared_small):
    session = prepared_small
    sel = session.select("el2n", 0.8, score="el2n")
    doc = D.document(session, sel, command="coreset select --method el2n")
    assert doc["ids"] == np.asarray(session.ids)[sel.indices].tolist()
    assert doc["command"] == "coreset select --method el2n" and doc["config"]["method"] == "el2n"
    payload = json.loads(D.file_bytes(doc, "json"))
    assert payload["ids"] == doc["ids"] and payload["num_selected"] == sel.indices.size
    rows = list(csv.DictReader(io.StringIO(D.file_bytes(doc, "csv").decode())))
    assert len(rows) == session.labels.size
    kept_ids = [r["id"] for r in rows if r["kept"] == "true"]
    assert kept_ids == [str(i) for i in np.asarray(session.ids)[sel.indices]]
    assert rows[0]["class"] == session.class_names[session.labels[0]]
    assert D.file_name(sel.config, "imagefolder:/data/my pets", "csv") == "my_pets-el2n-p80-s0.csv"
    with pytest.raises(ValueError):
        D.file_bytes(doc, "xml")


def test_accuracy_rows_of_one_data_setting():
    from coreset_core.spec import DataSpec

    frame = pd.DataFrame({
        "dataset": ["digits", "digits", "digits", "cifar10"], "backbone": ["efficientnet_lite0"] * 4,
        "score": ["el2n", "el2n", "aum", "el2n"], "imbalance": [np.nan] * 4, "limit_n": [300, np.nan, 300, 300],
        "data_seed": [0, 0, 0, 0], "resolution": [64, 64, 64, np.nan], "method": ["el2n", "el2n", "nucs", "full"],
        "prune_rate": [0.5, 0.5, 0.5, 0.0], "accuracy": [0.8, 0.7, 0.9, 0.95],
        "per_class_accuracy_json": ["[0.8, 0.6]", "[0.6, 0.8]", "[1.0, null]", None]})
    rows = A.matching_runs(frame, DataSpec("digits", limit=300), resolution=64)
    assert rows.index.tolist() == [0]
    assert A.matching_runs(frame, DataSpec("digits"), resolution=64).index.tolist() == [1]
    pc = A.per_class_accuracy_frame(frame.iloc[:3], ["x", "y"])
    assert pc[pc["method"] == "el2n"]["accuracy"].tolist() == pytest.approx([70.0, 70.0])
    assert pc[pc["method"] == "nucs"]["accuracy"].iloc[0] == pytest.approx(100.0)
    assert A.rows_of_setting(frame, {"limit_n": None}).index.tolist() == [1]


def test_choices_and_labels():
    assert C.format_duration(179.681) == "3 min 00 s"
    assert (C.format_duration(0.085), C.format_duration(4.24), C.format_duration(3725)) == ("85 ms", "4.2 s",
                                                                                             "1 h 02 min")
    assert C.point_choices(5000) == [2000, 5000] and C.point_choices(300) == [300]
    assert C.point_choices(60000)[-1] == 60000 and 50000 in C.point_choices(60000)
    assert C.parse_imbalance("50") == 50.0 and C.parse_imbalance(" 7.5 ") == 7.5
    for bad in ("0.5", "abc", "inf", ""):
        with pytest.raises(ValueError):
            C.parse_imbalance(bad)
    assert C.imbalance_choices(37.0) == [1, 2, 5, 10, 20, 37, 50, 100, 200]
    from coreset_core.datasets import list_datasets

    registry = [i.name for i in list_datasets() if ":" not in i.name]
    assert C.dataset_choices() == registry + ["imagefolder", "embeddings", "hf"]
    assert "cw-erm" in C.sweep_methods() and "cw-erm" not in C.selection_methods()
    assert "cw-erm" in C.reweighting_note() and "reweighting" in C.reweighting_note()
    assert set(C.global_methods()) >= {"el2n", "random", "ccs"} and "nucs" not in C.global_methods()
    assert C.resolution_label(None, 224) == "auto (224 px, the dataset's default)"
    assert C.resolution_label(None) == "auto (dataset default)" and C.resolution_label(96) == "96 px"
    from coreset_core.spec import DataSpec

    assert C.data_label(DataSpec("imagefolder:/x", limit=5000), 240, 224) == \
        "imagefolder:/x, efficientnet_lite0, 224 px, 240 train images, score el2n"
    assert C.subset_note(200, 360) == "on 200 of 360 test images" and C.subset_note(360, 360) == ""


def test_method_parameters_from_text():
    assert P.coerce_param("[0.1, 0.2]", (0.0, 0.0)) == (0.1, 0.2)
    assert P.coerce_param("", None) is None and P.coerce_param("3", 1) == 3 and P.coerce_param("0.5", 1.0) == 0.5
    assert P.coerce_param("true", False) is True and P.coerce_param("cosine", None) == "cosine"
    with pytest.raises(ValueError):
        P.coerce_param("x", 1)
    with pytest.raises(ValueError):
        P.coerce_param("3", [0.0])
    assert "val_features" not in P.editable_params("nucs-o") and "winsor" in P.editable_params("nucs")
    assert P.changed({"ridge": 1.0, "winsor": (0.0, 0.1)}, {"ridge": 1.0, "winsor": (0.0, 0.0)}) == \
        {"winsor": (0.0, 0.1)}


def test_render_log_and_timed():
    from coreset_studio.render_log import RenderLog, timed

    log = RenderLog()
    with timed("p", log) as t:
        sum(range(1000))
    assert t["ms"] >= 0 and log.last("p") == t["ms"] and log.summary("p")["n"] == 1 and log.last("q") is None


def test_embedding_cached_on_disk(tmp_path):
    from coreset_core import embedding as E

    x = np.random.default_rng(0).normal(size=(60, 12)).astype(np.float32)
    key = {"dataset": "toy", "split": "train", "backbone": "none", "limit": 60}
    assert E.load_cached(x, "pca", feature_key=key, cache_dir=tmp_path) is None
    pca = E.get_embedding(x, "pca", feature_key=key, cache_dir=tmp_path)
    assert pca.shape == (60, 2) and pca.dtype == np.float32
    np.testing.assert_array_equal(E.load_cached(x, "pca", feature_key=key, cache_dir=tmp_path), pca)
    centred = x - x.mean(0)  # PCA by SVD: the same plane up to the sign of each component
    ref = centred @ np.linalg.svd(centred, full_matrices=False)[2][:2].T
    np.testing.assert_allclose(np.abs(pca), np.abs(ref), atol=1e-4)
    np.testing.assert_allclose(E.get_embedding(x, "pca", cache_dir=tmp_path), pca, atol=1e-5)
    with pytest.raises(ValueError):
        E.get_embedding(x, "tsne")
    with pytest.raises(ValueError):
        E.get_embedding(x, "umap", perplexity=3)


@pytest.mark.slow
def test_umap_in_background_then_cached(session_cache_dir):
    from coreset_core import embedding as E
    from coreset_core.session import Session
    from coreset_core.spec import DataSpec
    from coreset_studio.views import embedding_map as M

    session = Session(DataSpec("digits", resolution=32, limit=120, test_limit=50), cache_dir=session_cache_dir)
    assert M.umap_job(session) is None and M.umap_coords(session) is None
    M.start_umap(session, nice=0)
    assert M.start_umap(session) is not None and M._umap_slot(session) is M._umap_slot(session)  # one job per key
    status = M._umap_slot(session).wait(timeout=600)
    assert status.state == "done", status.error
    coords = M.umap_coords(session)
    assert coords.shape == (120, 2)
    np.testing.assert_array_equal(E.load_cached(session.train.features, "umap", feature_key=dict(session.train.key),
                                                cache_dir=session.cache_root), coords)
    labels = session.labels  # the map keeps class structure: far more points sit nearest their own class's
    # centroid than the 10 % of chance (0.44 with 120 digits at 32 px)
    centres = np.stack([coords[labels == c].mean(0) for c in range(10)])
    nearest = np.argmin(((coords[:, None, :] - centres[None]) ** 2).sum(-1), axis=1)
    assert (nearest == labels).mean() > 0.25


def test_per_class_accuracy_frame_has_the_spread_over_runs():
    import pandas as pd

    from coreset_studio.views import accuracy as A

    frame = pd.DataFrame({"method": ["el2n"] * 3, "prune_rate": [0.5] * 3,
                          "per_class_accuracy_json": ["[0.8, 0.6]", "[0.6, null]", "[0.7, 0.9]"]})
    pc = A.per_class_accuracy_frame(frame, ["x", "y"])
    # by hand: class x: 80, 60, 70 -> mean 70, std 10; class y: 60, 90 -> mean 75, std sqrt(450) = 21.21
    assert pc["accuracy"].tolist() == pytest.approx([70.0, 75.0])
    assert pc["std"].tolist() == pytest.approx([10.0, 450 ** 0.5]) and pc["n"].tolist() == [3, 2]


def test_the_windows_page_search_cost_is_the_refusal_estimate(prepared_small):
    session = prepared_small
    n, d = session.train.features.shape
    c = session.num_classes
    # SPEC 4 by hand: 21 endpoints x 2 N d C ridge predictions on every row, plus one X^T X (2 N d^2)
    assert W.search_cost(session, 0.8) == 2.0 * 21 * n * d * c + 2.0 * n * d * d
    assert W.search_cost(session, 0.8, "uniform") == W.search_cost(session, 0.5)


def test_the_krr_search_gate(prepared_small, monkeypatch):
    """Runs by itself when small or held already, else once its key was requested (a click)."""
    session, winsor = prepared_small, (0.0, 0.035)  # a setting no other test selects
    n, c = session.labels.shape[0], session.num_classes
    gate = W.search_gate(session, 0.35, data_key="d", mode="nucs", score="el2n", winsor=winsor, requested=set())
    assert gate.auto and gate.runs and n <= W.AUTO_MAX_SAMPLES and gate.flop == W.search_cost(session, 0.35)
    monkeypatch.setattr(W, "AUTO_MAX_SAMPLES", n - 1)
    gate = W.search_gate(session, 0.35, data_key="d", mode="nucs", score="el2n", winsor=winsor, requested=set())
    assert not gate.runs and gate.key == ("d", "nucs", 0.35, "el2n", winsor)
    assert f"{n:,} samples x {c:,} classes" in gate.button_label
    assert W.search_gate(session, 0.35, data_key="d", mode="nucs", score="el2n", winsor=winsor,
                         requested={gate.key}).runs
    assert not W.search_gate(session, 0.35, data_key="other data", mode="nucs", score="el2n", winsor=winsor,
                             requested={gate.key}).runs
    monkeypatch.setattr(W, "AUTO_MAX_SAMPLES", n)
    monkeypatch.setattr(W, "AUTO_MAX_FLOP", gate.flop / 2)
    assert not W.search_gate(session, 0.35, data_key="d", mode="nucs", score="el2n", winsor=winsor,
                             requested=set()).runs
    W.krr_selection(session, 0.35, score="el2n", winsor=winsor)  # held now: shown without a click
    assert W.search_gate(session, 0.35, data_key="d", mode="nucs", score="el2n", winsor=winsor,
                         requested=set()).auto


def test_a_search_with_nothing_to_choose_shows_no_accuracy(prepared_small):
    """At 0 % pruning every window is the whole class: one candidate, no fit, no accuracy."""
    session = prepared_small
    view = W.window_view(session, 0.0, score="el2n", winsor=(0.0, 0.0))
    assert view.selection.indices.size == session.labels.size and view.endpoint == 1.0
    assert not W.krr_measured(view.search) and W.krr_accuracy_at(view.search, 0.5) is None
    krr = W.window_view(session, 0.7, score="el2n", winsor=(0.0, 0.0))
    info = krr.search.info
    assert W.krr_measured(krr.search)
    assert W.krr_accuracy_at(krr.search, info["endpoints"][3]) == pytest.approx(info["accuracies"][3])


def test_layout_only_figures_carry_the_numbers_they_are_given():
    from coreset_studio.views import figures as F

    spec = F.class_windows(["a", "b"], [0.1, 0.5], [0.3, 1.0], 0.7)
    (bar,) = spec["data"]
    assert bar["base"] == [0.1, 0.5] and np.allclose(bar["x"], [0.2, 0.5])
    assert "k = 0.70" in spec["layout"]["title"]["text"]
    jac = pd.DataFrame([[1.0, 0.25], [0.25, 1.0]], index=["x", "y"], columns=["x", "y"])
    heat = F.overlap_heatmap(jac)["data"][0]
    assert heat["z"] == [[1.0, 0.25], [0.25, 1.0]] and heat["x"] == ["x", "y"] and heat["text"][0][1] == 0.25
    hist = pd.DataFrame({"selection": ["x", "x", "y", "y"], "bin": [0, 1, 0, 1], "left": [0.0, 0.5, 0.0, 0.5],
                         "right": [0.5, 1.0, 0.5, 1.0], "count": [3, 1, 0, 4]})
    steps = F.step_histograms(hist, score="el2n", title="t")
    assert [(t["name"], t["x"], t["y"]) for t in steps["data"]] == [("x", [0.25, 0.75], [3, 1]),
                                                                     ("y", [0.25, 0.75], [0, 4])]
    assert steps["layout"]["xaxis"]["title"]["text"] == "el2n" and steps["data"][0]["line"]["shape"] == "hvh"
    bars = F.mean_std_bars(["m"], [80.0], [np.nan], title="t", xtitle="x", ytitle="y")["data"][0]
    assert bars["y"] == [80.0] and bars["error_y"]["array"] == [0.0]
    marks = F.line_chart([([0, 1], [2, 3], "l", "#000")], title="t", xtitle="x", ytitle="y",
                         marks=[(0.5, "half", "#444")])["layout"]
    assert marks["shapes"][0]["x0"] == 0.5 and marks["annotations"][0]["text"] == "half"
