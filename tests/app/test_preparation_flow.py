"""Preparation in the background, pages that wait only for what they need, expensive links that wait
for a click, and reruns that redo no selection work (issue 23; the link item of issue 21)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from studio_helpers import ENTRY, PAGE_FILES, assert_clean, chart, chart_keys, goto
from test_render_budget import _Counter

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def _selection_work(monkeypatch) -> _Counter:
    """Counts every selection a method runs and every kept-fraction column computed."""
    from coreset_core import analysis
    from coreset_core.methods import registry

    counter = _Counter(monkeypatch)
    counter.wrap(registry, "_run_validated")
    counter.wrap(analysis, "kept_fractions")
    return counter


def test_budgets_rerun_with_unchanged_value_does_no_selection_work(app, monkeypatch):
    goto(app, "budgets")
    app.slider(key="prune_pct").set_value(50).run()
    assert_clean(app)
    counter = _selection_work(monkeypatch)
    app.run()  # nothing changed
    app.slider(key="prune_pct").set_value(70).run()  # back to a value seen before
    app.slider(key="prune_pct").set_value(50).run()
    assert_clean(app)
    assert counter.calls == {"coreset_core.methods.registry._run_validated": 0,
                             "coreset_core.analysis.kept_fractions": 0}, counter.calls
    app.selectbox(key="budget_global").set_value("ccs").run()  # a new method: its table is computed once
    assert_clean(app)
    assert counter.calls["coreset_core.analysis.kept_fractions"] == 20  # one column per rate of the grid
    app.run()
    assert counter.calls["coreset_core.analysis.kept_fractions"] == 20


def _fresh_app(monkeypatch, env: dict[str, str], query: dict[str, str]):
    from streamlit.testing.v1 import AppTest

    for k, v in env.items():
        monkeypatch.setenv(k, v)
    at = AppTest.from_file(str(ENTRY), default_timeout=300)
    at.query_params.update(query)
    return at


def _preparation_work(monkeypatch) -> _Counter:
    from coreset_core import features, session
    from coreset_core import scores as scores_mod

    counter = _Counter(monkeypatch)
    counter.wrap(session.Session, "prepare")
    counter.wrap(features, "get_features")
    counter.wrap(scores_mod, "compute_scores")
    return counter


def test_a_link_to_an_expensive_setting_starts_nothing_without_a_click(monkeypatch, tmp_path):
    """All of CIFAR-10 at 260 px (60,000 images through the backbone, ~6e13 flop): the link opens the
    Data page with the estimate and a button; no page starts the preparation."""
    data_dir = Path(os.environ.get("CORESET_DATA_DIR") or SHARED_DATA)
    if not (data_dir / "cifar10_jpeg.npz").is_file():
        pytest.skip("the offline CIFAR-10 archive (cifar10_jpeg.npz in CORESET_DATA_DIR) is not on this machine")
    from coreset_studio import sidebar
    from coreset_studio.settings import defaults_from_env

    env = {"CORESET_DATA_DIR": str(data_dir), "CORESET_CACHE_DIR": str(tmp_path)}
    at = _fresh_app(monkeypatch, env, {"dataset": "cifar10", "limit": "all", "test_limit": "all", "res": "260"})
    counter = _preparation_work(monkeypatch)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    warning = " ".join(w.value for w in at.warning)
    assert "estimated at 6.2e+13 flop" in warning and "60,000 images" in warning, warning
    assert at.button(key="prepare_confirm").label == "Prepare this data setting"
    assert "class_sizes" in chart_keys(at)  # the Data page draws what needs no features
    for page in ("budgets", "accuracy"):
        at.switch_page(f"page_scripts/{PAGE_FILES[page]}.py").run()
        assert not at.exception and at.button(key="prepare_confirm") is not None
        assert not chart_keys(at)
    assert all(n == 0 for n in counter.calls.values()), counter.calls
    spec = at.session_state["_studio_settings"].spec
    assert (spec.limit, spec.resolution) == (None, 260)
    entry = sidebar._entry(spec.prepare_key, spec)
    assert entry.thread is None and not entry.session.has(("features", "train", spec.backbone))
    assert defaults_from_env({})[0].spec.prepare_key != spec.prepare_key


def test_a_click_starts_the_preparation_once(monkeypatch, session_cache_dir):
    """Above the threshold (lowered here to zero for a small real setting) a click starts the background
    preparation; each stage is computed once although several pages ask for it."""
    from conftest import STUDIO_ENV
    from coreset_studio import sidebar

    monkeypatch.setattr(sidebar, "CONFIRM_FLOP", 0.0)
    at = _fresh_app(monkeypatch, {**STUDIO_ENV, "CORESET_CACHE_DIR": str(session_cache_dir)},
                    {"limit": "500", "score_epochs": "3"})  # a setting no other test prepares
    counter = _preparation_work(monkeypatch)
    at.switch_page("page_scripts/3_budgets.py").run()
    assert at.button(key="prepare_confirm") is not None and counter.calls["Session.prepare"] == 0
    at.button(key="prepare_confirm").click().run()
    assert_clean(at)
    assert "budget_curves" in chart_keys(at)
    goto(at, "accuracy")
    goto(at, "difficulty")
    assert counter.calls["Session.prepare"] == 1
    assert counter.calls["coreset_core.features.get_features"] == 2  # train and test, once each
    assert counter.calls["coreset_core.scores.compute_scores"] == 1


def _ridge_work(monkeypatch) -> _Counter:
    """Counts the KRR search's ridge fits and its evaluations of the training set."""
    from coreset_core import windows

    counter = _Counter(monkeypatch)
    for name in ("_fit_primal", "_fit_dual", "_count_correct"):
        counter.wrap(windows, name)
    return counter


def _fits(counter: _Counter) -> int:
    return sum(counter.calls.values())


def test_a_large_krr_search_waits_for_one_click_on_the_windows_and_lesson_pages(app, monkeypatch):
    """Above the size limit the Windows page and the Lesson's step d show the window at the slider's k
    (one candidate: no ridge fit) until one click runs the search, which both pages then share."""
    from coreset_studio.views import windows as W

    goto(app, "windows")
    app.slider(key="prune_pct").set_value(0).run()  # every window is the whole class: nothing to choose
    assert_clean(app)
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["KRR accuracy (interpolated)"] == "not measured"
    assert any("every endpoint gives the same coreset" in i.value for i in app.info)
    assert "window_krr" not in chart_keys(app)

    monkeypatch.setattr(W, "AUTO_MAX_SAMPLES", 0)  # this small set now counts as large
    counter = _ridge_work(monkeypatch)
    app.slider(key="winsor_hi").set_value(3.5).run()  # a setting no other test selects
    app.slider(key="prune_pct").set_value(35).run()
    assert_clean(app)
    assert app.button(key="win_run_krr").label.startswith("Run the KRR endpoint search")
    assert "window_strips" in chart_keys(app) and "window_krr" not in chart_keys(app)
    assert {m.label: m.value for m in app.metric}["Endpoint k"] == "1.00"
    assert _fits(counter) == 0

    goto(app, "lesson")
    assert "lesson_windows" in chart_keys(app) and "lesson_krr" not in chart_keys(app)
    app.slider(key="lesson_d_k").set_value(0.3).run()
    assert_clean(app)
    assert "k = 0.30" in chart(app, "lesson_windows")["layout"]["title"]["text"]
    assert _fits(counter) == 0
    app.button(key="lesson_d_run").click().run()
    assert_clean(app)
    assert "lesson_krr" in chart_keys(app) and counter.calls["coreset_core.windows._count_correct"] == 1
    app.run()
    assert not [b for b in app.button if b.key == "lesson_d_run"]  # remembered: no button, no second search
    assert counter.calls["coreset_core.windows._count_correct"] == 1

    goto(app, "windows")  # the search is held: drawn without a click, not run again
    assert "window_krr" in chart_keys(app) and not [b for b in app.button if b.key == "win_run_krr"]
    assert counter.calls["coreset_core.windows._count_correct"] == 1


def test_a_large_label_noise_experiment_waits_for_one_click(app, monkeypatch):
    """Step c rescores the training set once per noise level: above the work limit it shows a button and
    rescores nothing until one click, after which a rerun neither asks again nor rescores again."""
    from coreset_studio.lesson import label_noise, steps
    from coreset_studio.views import windows as W

    monkeypatch.setattr(W, "AUTO_MAX_FLOP", 0.0)  # this small set's experiment now counts as large
    counter = _Counter(monkeypatch)
    counter.wrap(steps, "budget_error_curve")  # what the page calls
    counter.wrap(label_noise, "_budget_error_curve")  # the work behind it (memoised per setting)
    goto(app, "lesson")
    assert_clean(app)
    assert app.button(key="lesson_c_run").label.startswith("Run the label-noise experiment")
    assert "lesson_noise_curve" not in chart_keys(app)
    assert counter.calls["coreset_studio.lesson.steps.budget_error_curve"] == 0
    app.button(key="lesson_c_run").click().run()
    assert_clean(app)
    assert "lesson_noise_curve" in chart_keys(app)
    assert counter.calls["coreset_studio.lesson.steps.budget_error_curve"] == 1
    computed = counter.calls["coreset_studio.lesson.label_noise._budget_error_curve"]
    app.run()
    assert not [b for b in app.button if b.key == "lesson_c_run"]  # remembered for this browser session
    assert "lesson_noise_curve" in chart_keys(app)
    assert counter.calls["coreset_studio.lesson.label_noise._budget_error_curve"] == computed  # rerun: nothing new
