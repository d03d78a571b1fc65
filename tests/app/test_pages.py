"""Every studio page under streamlit's AppTest on a small real dataset (digits, 300 images).

Each test checks that the page runs without an exception, that its charts are there, and
that moving a widget changes the chart data to what an independent numpy computation in
the test predicts.
"""
from __future__ import annotations

import shlex

import numpy as np
import pytest
from studio_helpers import assert_clean, chart, chart_keys, goto, shown, values
from references import winsorized_class_means

pytestmark = pytest.mark.timeout(900)


def _truth(session, score="el2n"):
    """Labels and difficulty from the test's own Session (the same data and disk cache as the app's)."""
    return np.asarray(session.labels), np.asarray(session.difficulty(score), dtype=np.float64)



def test_every_page_renders_and_is_timed(app):
    from coreset_studio.render_log import RENDER_LOG

    expected = {
        "data": {"class_sizes"},
        "difficulty": {"difficulty_bars", "difficulty_dist"},
        "budgets": {"budget_curves", "budget_at_rate"},
        "windows": {"window_strips", "window_krr"},
        "embedding": {"embedding_map"},
        "accuracy": set(),
        "compare": {"compare_counts", "compare_hist"},
    }
    for page, keys in expected.items():
        goto(app, page)
        assert keys <= set(chart_keys(app)), (page, chart_keys(app))
        assert app.sidebar.selectbox(key="cfg_dataset").value == "digits"
        assert RENDER_LOG.last(page) is not None, page


def test_data_page_class_sizes_and_images(app, prepared_small):
    labels, _ = _truth(prepared_small)
    spec = chart(app, "class_sizes")
    train = next(t for t in spec["data"] if t["name"] == "train")
    np.testing.assert_array_equal(values(train, "y"), np.bincount(labels, minlength=10))
    test = next(t for t in spec["data"] if t["name"] == "test")
    np.testing.assert_array_equal(values(test, "y"), np.bincount(prepared_small.test.labels, minlength=10))
    rows = app.get("image")
    assert len(rows) == 10 and all(len(r.value) == 8 for r in rows)  # one row of 8 images per class
    first = int(shown(rows[0].captions[0]).lstrip("#"))  # an original id (escaped Markdown)
    assert labels[list(prepared_small.ids).index(first)] == 0
    app.slider(key="data_per_class").set_value(4).run()
    assert_clean(app)
    assert all(len(r.value) == 4 for r in app.get("image"))


def test_difficulty_winsorization_sliders_change_the_bars(app, prepared_small):
    labels, d = _truth(prepared_small)
    goto(app, "difficulty")
    spec = chart(app, "difficulty_bars")
    mean, wins = spec["data"][0], spec["data"][1]
    expected_mean = np.array([d[labels == c].mean() for c in range(10)])
    np.testing.assert_allclose(values(mean, "y"), expected_mean, rtol=1e-9)
    np.testing.assert_allclose(values(wins, "y"), expected_mean, rtol=1e-9)  # limits 0: the plain mean

    app.slider(key="winsor_lo").set_value(5.0)
    app.slider(key="winsor_hi").set_value(10.0)
    app.run()
    assert_clean(app)
    spec = chart(app, "difficulty_bars")
    np.testing.assert_allclose(values(spec["data"][0], "y"), expected_mean, rtol=1e-9)
    got = values(spec["data"][1], "y")
    np.testing.assert_allclose(got, winsorized_class_means(d, labels, 0.05, 0.10), rtol=1e-9)
    assert not np.allclose(got, expected_mean)
    # the clip limits are drawn on the distribution chart
    dist = chart(app, "difficulty_dist")
    upper = next(t for t in dist["data"] if t.get("name") == "upper clip")
    np.testing.assert_allclose(values(upper, "y"), [np.quantile(d[labels == c], 0.9) for c in range(10)])

    # violin view and the hardest/easiest examples of another class
    app.radio(key="diff_kind").set_value("violin")
    app.selectbox(key="diff_class").set_value(3)
    app.run()
    assert_clean(app)
    captions = [shown(c) for img in app.get("image") for c in img.captions]
    hardest = np.flatnonzero(labels == 3)[np.argsort(-d[labels == 3], kind="stable")][:8]
    assert f"#{prepared_small.ids[hardest[0]]}: {d[hardest[0]]:.3f}" in captions


def test_budgets_follow_the_pruning_and_winsor_sliders(app, prepared_small):
    labels, d = _truth(prepared_small)
    sizes = np.bincount(labels, minlength=10)
    n = labels.size
    goto(app, "budgets")
    app.slider(key="prune_pct").set_value(80).run()
    assert_clean(app)
    spec = chart(app, "budget_at_rate")
    by_name = {t["name"]: values(t, "y") for t in spec["data"]}
    budget = round(0.2 * n)
    # uniform: the same fraction of every class, up to one sample of rounding
    assert np.all(np.abs(by_name["uniform"] * sizes - 0.2 * sizes) <= 1.0 + 1e-9)
    # el2n (global): the `budget` highest scores over the whole set
    order = np.lexsort((np.arange(n), -d))
    np.testing.assert_allclose(by_name["el2n"], np.bincount(labels[order[:budget]], minlength=10) / sizes)
    # nucs: counts sum to the budget, proportional to difficulty x size (up to rounding/min-per-class)
    nucs = np.rint(by_name["NUCS"] * sizes)
    assert nucs.sum() == budget
    s = np.array([d[labels == c].mean() for c in range(10)])
    ideal = budget * s * sizes / np.sum(s * sizes)
    assert np.all(np.abs(nucs - np.minimum(ideal, sizes)) <= 1.0 + 1e-9)

    # the curves chart: at 80 % (a grid column), the NUCS line of class 0 reads the same value
    curves = chart(app, "budget_curves")
    first = curves["data"][0]
    x = values(first, "x")
    assert np.isclose(values(first, "y")[np.flatnonzero(np.isclose(x, 80))[0]], by_name["NUCS"][0])

    # winsorizing the upper tail changes the NUCS allocation to the winsorized difficulty
    app.slider(key="winsor_hi").set_value(20.0).run()
    assert_clean(app)
    by_name2 = {t["name"]: values(t, "y") for t in chart(app, "budget_at_rate")["data"]}
    sw = winsorized_class_means(d, labels, 0.0, 0.2)
    ideal_w = budget * sw * sizes / np.sum(sw * sizes)
    nucs_w = np.rint(by_name2["NUCS"] * sizes)
    assert nucs_w.sum() == budget
    assert np.all(np.abs(nucs_w - np.minimum(ideal_w, sizes)) <= 1.0 + 1e-9)
    np.testing.assert_allclose(by_name2["el2n"], by_name["el2n"])  # a global method ignores the allocation

    app.radio(key="budget_view").set_value("heatmap").run()
    assert_clean(app)
    heat = chart(app, "budget_curves")["data"]
    assert [t["type"] for t in heat] == ["heatmap"] * 3


def test_windows_override_moves_the_window(app, prepared_small):
    from coreset_core import allocate_budgets

    labels, d = _truth(prepared_small)
    sizes = np.bincount(labels, minlength=10)
    goto(app, "windows")
    krr = chart(app, "window_krr")
    acc = values(krr["data"][0], "y")
    assert acc.size == 21 and np.all((acc >= 0) & (acc <= 100))
    best = values(krr["data"][1], "x")[0]
    # the KRR choice is the best endpoint (ties: larger k)
    ks = values(krr["data"][0], "x")
    assert np.isclose(best, ks[np.flatnonzero(acc == acc.max())[-1]])

    assert app.slider(key="win_endpoint").disabled  # follows the KRR choice until overridden
    assert np.isclose(app.slider(key="win_endpoint").value, best)
    app.toggle(key="win_override").set_value(True).run()
    app.slider(key="win_endpoint").set_value(0.3).run()
    assert_clean(app)
    budgets = allocate_budgets(np.array([d[labels == c].mean() for c in range(10)]), sizes, 0.7)
    ends = np.clip(np.rint(0.3 * sizes), budgets, sizes)
    starts = ends - budgets
    shapes = [s for s in chart(app, "window_strips")["layout"]["shapes"] if s.get("line", {}).get("width") == 3]
    np.testing.assert_allclose([s["x0"] for s in shapes], starts / sizes)
    np.testing.assert_allclose([s["x1"] for s in shapes], ends / sizes)
    assert app.metric[0].value == f"{int(budgets.sum()):,}"
    # the deviation from the KRR choice is told in words, not as a green "improvement" arrow
    assert app.metric[1].value == "0.30" and not app.metric[1].proto.delta
    assert any("below the KRR choice" in c.value or "above the KRR choice" in c.value for c in app.caption)
    # the selection shown (and downloaded) says honestly how it was made: nucs with endpoints=[0.3]
    assert any("--method nucs" in c.value and "endpoints=[0.3]" in c.value for c in app.code)


def test_embedding_hover_and_kept_pruned(app, prepared_small):
    labels, _ = _truth(prepared_small)
    goto(app, "embedding")
    app.radio(key="emb_color").set_value("kept / pruned")
    app.selectbox(key="emb_method").set_value("el2n")
    app.run()
    assert_clean(app)
    traces = {t["name"]: t for t in chart(app, "embedding_map")["data"]}
    kept = traces["kept"]["customdata"]
    assert len(kept) == round(0.3 * labels.size)
    names = [str(c) for c in range(10)]
    for trace in (traces["kept"], traces["pruned"]):  # hover: original id and class agree with the data
        for row, text in zip(trace["customdata"][:50], trace["text"][:50]):
            assert text == f"#{prepared_small.ids[int(row[0])]}, {names[labels[int(row[0])]]}"
    assert "PCA" in chart(app, "embedding_map")["layout"]["title"]["text"]  # UMAP not computed yet (auto off)


def test_compare_selections_and_probe(app, prepared_small):
    labels, d = _truth(prepared_small)
    goto(app, "compare")
    app.selectbox(key="cmp_method_A").set_value("el2n")
    app.selectbox(key="cmp_method_B").set_value("el2n-easy")
    app.slider(key="prune_pct").set_value(50)
    app.run()
    assert_clean(app)
    budget = round(0.5 * labels.size)
    order = np.lexsort((np.arange(labels.size), -d))  # hardest first, ties: lower index
    a, b = np.sort(order[:budget]), np.sort(order[::-1][:budget])  # el2n keeps the hardest, el2n-easy the easiest
    jac = np.intersect1d(a, b).size / np.union1d(a, b).size
    assert app.metric[0].value == f"{jac:.3f}"
    bars = {t["name"].split(":")[0]: values(t, "y") for t in chart(app, "compare_counts")["data"]}
    np.testing.assert_array_equal(bars["A"], np.bincount(labels[a], minlength=10))
    np.testing.assert_array_equal(bars["B"], np.bincount(labels[b], minlength=10))

    app.number_input(key="cmp_epochs").set_value(3)
    app.button(key="cmp_train").click().run()
    assert_clean(app)
    assert "compare_probe" in chart_keys(app)
    subset = f"on 200 of {len(prepared_small.dataset.test):,} test images"
    assert any(m.label.endswith(f"test accuracy ({subset})") for m in app.metric), [m.label for m in app.metric]
    assert {b.key for b in app.get("download_button")} >= {"dl_csv_cmp_A", "dl_json_cmp_B"}
    assert any("--method el2n-easy" in c.value and "--prune-rate 0.5" in c.value for c in app.code)


def test_accuracy_page_runs_a_small_sweep(app, tmp_path, monkeypatch):
    goto(app, "accuracy")
    app.text_input(key="acc_db").set_value(str(tmp_path / "results.sqlite")).run()
    assert "CORESET_STUDIO_ROOTS" in shown(app.error[0].value)  # a typed path must lie in an allowed folder
    monkeypatch.setenv("CORESET_STUDIO_ROOTS", str(tmp_path))
    app.run()
    assert_clean(app)
    assert "accuracy_curves" not in chart_keys(app)
    app.multiselect(key="sweep_methods").set_value(["random", "el2n"])
    app.text_input(key="sweep_rates").set_value("0.5, half")  # refused before anything starts
    app.button(key="FormSubmitter:sweep_form-Run sweep").click().run()
    assert [shown(e.value) for e in app.error] == ["pruning rates must be a comma-separated list of float values, "
                                                   "got '0.5, half'"]
    assert not any(c.value.startswith("coreset sweep") for c in app.code)
    app.text_input(key="sweep_rates").set_value("0.5")
    app.number_input(key="sweep_epochs").set_value(2)
    app.button(key="FormSubmitter:sweep_form-Run sweep").click().run(timeout=600)
    assert_clean(app)
    from coreset_studio.jobs import shared_slot
    from coreset_core.experiments.store import ResultsStore

    assert shared_slot("sweep").wait(600).state == "done"  # the sweep runs in the background (issue 16)
    app.run()

    frame = ResultsStore(tmp_path / "results.sqlite").to_frame()
    assert set(frame["method"]) == {"full", "random", "el2n"}
    from coreset_core.cli import build_parser
    from coreset_core.cli.experiments import sweep_plan_of

    (command,) = [c.value for c in app.code if c.value.startswith("coreset sweep")]  # the page's command line
    args = build_parser().parse_args(shlex.split(command)[1:])
    assert args.db == str(tmp_path / "results.sqlite")
    assert {c.run_id for c in sweep_plan_of(args).configs()} == set(frame["run_id"])  # plans what the button ran
    spec = chart(app, "accuracy_curves")
    lines = {t["name"]: values(t, "y") for t in spec["data"]}
    for method in ("random", "el2n"):
        assert np.isclose(lines[method][0], 100 * float(frame.loc[frame["method"] == method, "accuracy"].mean()))
    assert "accuracy_per_class" in chart_keys(app)
