"""Studio pages under AppTest on the small digits set (see conftest.py): the one-sweep rule (start, a
second start refused, cancel), error bars over three seeds, the budget filter, the lesson's sweep in the
same slot, CW-ERM's weighted probe and RAM-APL's backbones on the Compare page, and the allowed folders
of an embeddings file typed in the sidebar.

Expected values come from the results store and the library called directly, never from the page.
"""
from __future__ import annotations

import json
import threading

import numpy as np
import pytest
from studio_helpers import assert_clean, chart, goto, shown, values

from coreset_studio.jobs import shared_slot
from coreset_core.experiments.store import ResultsStore

pytestmark = pytest.mark.timeout(900)


def _button(at, label: str):
    return next(b for b in at.button if b.label == label)


def _warnings(at) -> str:
    return " ".join(w.value for w in at.warning)


@pytest.fixture
def sweep_slot_free():
    """The process's sweep slot is idle before and after the test."""
    slot = shared_slot("sweep")
    slot.cancel()
    assert not slot.wait(60).running
    yield slot
    slot.cancel()
    slot.wait(60)


def _trace(spec, name):
    return next(t for t in spec["data"] if t.get("name") == name)


def test_one_sweep_at_a_time_cancel_and_error_bars(app, tmp_path, monkeypatch, sweep_slot_free):
    slot, db = sweep_slot_free, tmp_path / "results.sqlite"
    monkeypatch.setenv("CORESET_STUDIO_RESULTS_DB", str(db))
    release = threading.Event()

    def elsewhere(ctx):  # a sweep launched from another browser tab
        ctx.progress(2, 7, "another tab's sweep")
        while not release.wait(0.02):
            ctx.check()

    slot.start(elsewhere, name="another tab's sweep", total=7)
    goto(app, "accuracy")
    assert app.text_input(key="sweep_seeds").value == "0, 1, 2"  # three seeds by default
    bars = app.get("progress")
    assert bars and "another tab's sweep running: 2/7" in bars[0].proto.text
    app.multiselect(key="sweep_methods").set_value(["random"])
    app.text_input(key="sweep_rates").set_value("0.5")
    app.number_input(key="sweep_epochs").set_value(5)
    _button(app, "Run sweep").click().run()
    assert_clean(app)
    assert "already running" in _warnings(app) and "another tab's sweep" in _warnings(app)
    assert len(ResultsStore(db)) == 0 and slot.status().name == "another tab's sweep"
    app.button(key="sweep_cancel").click().run()
    assert slot.wait(10).state == "cancelled"
    release.set()

    # now the page's own sweep: full data + random at 50 %, three seeds each
    _button(app, "Run sweep").click().run()
    assert_clean(app)
    status = slot.wait(300)
    assert status.state == "done" and status.total == 6, status.details
    app.run()
    assert_clean(app)
    frame = ResultsStore(db).to_frame()
    rnd = 100 * frame[frame["method"] == "random"]["accuracy"].to_numpy()
    assert sorted(frame[frame["method"] == "random"]["seed"]) == [0, 1, 2]
    trace = _trace(chart(app, "accuracy_curves"), "random")
    assert values(trace, "x").tolist() == [50.0]
    assert values(trace, "y")[0] == pytest.approx(rnd.mean())
    assert trace["error_y"]["visible"] and values(trace["error_y"], "array")[0] == pytest.approx(rnd.std(ddof=1))
    assert any("Last sweep: sweep of 6 runs done" in shown(s.value) for s in app.success)
    bars = next(t for t in chart(app, "accuracy_per_class")["data"] if t["name"].startswith("random"))
    per_class = 100 * np.array([json.loads(x) for x in frame[frame["method"] == "random"]["per_class_accuracy_json"]],
                               dtype=float)
    np.testing.assert_allclose(values(bars, "y"), per_class.mean(axis=0))
    np.testing.assert_allclose(values(bars["error_y"], "array"), per_class.std(axis=0, ddof=1))

    # the same sweep under equal optimiser steps: the budget filter separates the two
    app.radio(key="sweep_budget").set_value("steps")
    _button(app, "Run sweep").click().run()
    assert slot.wait(300).state == "done"
    app.run()
    assert set(app.radio(key="acc_budget").options) >= {"equal epochs", "equal optimiser steps"}
    app.radio(key="acc_budget").set_value("steps").run()
    assert_clean(app)
    frame = ResultsStore(db).to_frame()
    steps = frame[(frame["train_budget"] == "steps") & (frame["method"] == "random")]
    # by hand: 300 training digits are 2 batches of 256, the 150 kept 1 batch: 5 epochs x 2 steps = 10 epochs x 1
    assert len(steps) == 3 and (steps["num_train"] == 300).all() and (steps["num_kept"] == 150).all()
    assert (steps["train_epochs"] == 10).all() and (steps["epochs"] == 5).all()
    trace = _trace(chart(app, "accuracy_curves"), "random")
    assert values(trace, "y")[0] == pytest.approx(100 * steps["accuracy"].mean())


def test_lesson_step_b_runs_three_seeds_in_the_sweep_slot(app, tmp_path, monkeypatch, sweep_slot_free):
    slot, db = sweep_slot_free, tmp_path / "results.sqlite"
    monkeypatch.setenv("CORESET_STUDIO_RESULTS_DB", str(db))
    goto(app, "lesson")
    app.button(key="lesson_b_run").click().run()
    assert_clean(app)
    status = slot.wait(600)
    assert status.state == "done" and status.total == 6, status.details  # nucs-uniform and nucs x 3 seeds
    app.run()
    assert_clean(app)
    frame = ResultsStore(db).to_frame()
    assert sorted(frame["seed"]) == [0, 0, 1, 1, 2, 2]
    rate = float(frame["prune_rate"].iloc[0])
    trace = chart(app, "lesson_b_accuracy")["data"][0]  # NUCS minus uniform, paired by seed
    by_seed = {m: frame[(frame["method"] == m) & (frame["prune_rate"] == rate)].set_index("seed").sort_index()
               for m in ("nucs", "nucs-uniform")}
    for metric, label in (("accuracy", "accuracy (3 seeds)"), ("worst_class_accuracy", "worst-class accuracy (3 seeds)"),
                          ("tail_accuracy", "tail accuracy (3 seeds)")):
        diff = 100 * (by_seed["nucs"][metric] - by_seed["nucs-uniform"][metric]).to_numpy()
        at = list(trace["x"]).index(label)
        assert values(trace, "y")[at] == pytest.approx(diff.mean())
        assert values(trace["error_y"], "array")[at] == pytest.approx(diff.std(ddof=1))
    assert not any(b.key == "lesson_b_run" for b in app.button)  # nothing is missing any more


def test_compare_page_cw_erm_weighted_probe_and_ram_apl_backbones(app, prepared_small):
    from coreset_core.methods import run_method
    from coreset_core.methods import reweight
    from coreset_core.training import train_linear_probe

    goto(app, "compare")
    app.number_input(key="cmp_epochs").set_value(5)
    app.number_input(key="cmp_cwerm_seed").set_value(1).run()
    app.button(key="cmp_cwerm").click().run()
    assert_clean(app)
    s = prepared_small
    weights = reweight("cw-erm", labels=s.labels, features=s.train.features, seed=1).weights
    args = (s.train.features, s.labels, s.test.features, s.test.labels)
    cw = train_linear_probe(*args, sample_weights=weights, epochs=5, seed=1, num_classes=s.num_classes)
    plain = train_linear_probe(*args, epochs=5, seed=1, num_classes=s.num_classes)
    shown = {m.label: m.value for m in app.metric}
    assert shown["CW-ERM (weighted): test accuracy"] == f"{100 * cw.metrics['accuracy']:.2f} %"
    assert shown["All data, unweighted: test accuracy"] == f"{100 * plain.metrics['accuracy']:.2f} %"
    per_class = _trace(chart(app, "compare_cwerm"), "CW-ERM (weighted)")
    expected = [np.nan if v is None else 100 * v for v in cw.metrics["per_class_accuracy"]]
    np.testing.assert_allclose(values(per_class, "y").astype(float), expected)

    # RAM-APL: the backbones chosen on the page are the ones its scores average over
    app.selectbox(key="cmp_method_A").set_value("ram-apl").run()
    assert_clean(app)
    picker = app.multiselect(key="cmp_backbones_A")
    assert picker.options == ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"]
    picker.set_value(["efficientnet_lite0"]).run()
    assert_clean(app)
    rate = app.session_state["_studio_settings"].prune_rate
    direct = run_method("ram-apl", prune_rate=rate, labels=s.labels, features=[s.train.features], seed=0)
    counts = app.dataframe[-1].value
    np.testing.assert_array_equal(counts["A"].to_numpy(), np.bincount(s.labels[direct.indices], minlength=10))
    assert any("--backbones efficientnet_lite0" in c.value for c in app.code)


def test_an_embeddings_file_typed_in_the_sidebar_must_lie_in_an_allowed_folder(app, tmp_path, monkeypatch):
    from sweep_helpers import write_digits_embeddings  # tests/ is on the path (its conftest.py)

    root, outside = tmp_path / "allowed", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    real = write_digits_embeddings(outside / "digits.npz")
    (root / "link.npz").symlink_to(real)  # inside the root, but it leads outside
    monkeypatch.setenv("CORESET_STUDIO_ROOTS", str(root))
    app.sidebar.selectbox(key="cfg_dataset").set_value("embeddings").run()
    for typed in (real, root / "link.npz", root / ".." / "outside" / "digits.npz"):
        app.sidebar.text_input(key="cfg_path").input(str(typed)).run()
        assert not app.exception
        errors = " ".join(shown(e.value) for e in app.sidebar.error)
        assert "CORESET_STUDIO_ROOTS" in errors and "outside the folders" in errors, typed
        assert app.session_state["_studio_settings"].spec.dataset == "digits"  # nothing was opened
    inside = write_digits_embeddings(root / "digits.npz")
    app.sidebar.text_input(key="cfg_path").input(str(inside)).run(timeout=300)
    assert_clean(app)
    assert app.session_state["_studio_settings"].spec.dataset == f"embeddings:{inside.resolve()}"
