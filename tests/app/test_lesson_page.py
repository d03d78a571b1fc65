"""The Lesson and Gallery pages under streamlit's AppTest on the small digits set (see conftest.py).

The pages run inside a minimal entry script with the studio's own settings and sidebar (the
pages are registered in app.py separately). Chart data are checked against independent
computations: the toy model's optimum against a brute force written here, the noise step
against numpy, the galleries against the selection's indices and ids, the what-if overlap
against Python sets.
"""
from __future__ import annotations

import itertools
import math
import shlex

import numpy as np
import pytest
from studio_helpers import assert_clean, chart, chart_keys, open_page, values

pytestmark = pytest.mark.timeout(900)

def _trace(spec, name):
    return next(t for t in spec["data"] if t.get("name") == name)


def _phi(z):
    return 0.5 * math.erfc(-z / math.sqrt(2.0))


def test_lesson_walks_every_step(tmp_path, monkeypatch, prepared_small, session_cache_dir):
    at = open_page("8_lesson", "lesson", tmp_path, monkeypatch, session_cache_dir)
    assert {"lesson_starvation", "lesson_budgets", "lesson_noise", "lesson_krr", "lesson_windows",
            "lesson_toy"} <= set(chart_keys(at))
    session, labels = prepared_small, prepared_small.labels
    # a: el2n-easy keeps the globally easiest samples
    d = session.difficulty()
    spec = chart(at, "lesson_starvation")
    kept = np.argsort(d, kind="stable")[:round(0.1 * labels.size)]  # at 90 % pruning
    frac = np.bincount(labels[kept], minlength=10) / np.bincount(labels, minlength=10)
    assert [values(t, "y")[-1] for t in spec["data"]] == pytest.approx(frac.tolist())
    # e: the toy model's optimum against a brute force (fitted threshold, worst-class accuracy)
    toy = chart(at, "lesson_toy")
    worst = _trace(toy, "fitted t: worst-class accuracy")
    f0_chart = values(worst, "x")
    t_grid = np.linspace(-8, 12, 4001)
    a0 = np.array([_phi((t - 0.0) / 0.5) for t in t_grid])  # the page's default: spreads 0.5 and 1, means 0, 2
    a1 = np.array([_phi((2.0 - t) / 1.0) for t in t_grid])
    brute = []
    for f0 in np.linspace(0.01, 0.59, 59):
        t = t_grid[np.argmax(f0 * a0 + (0.6 - f0) * a1)]
        brute.append(min(_phi(t / 0.5), _phi(2.0 - t)))
    best_f0 = np.linspace(0.01, 0.59, 59)[int(np.argmax(brute))]
    assert f0_chart[int(np.argmax(values(worst, "y")))] == pytest.approx(best_f0, abs=0.011)
    paper = _trace(toy, "paper's objective (eq. 4), best t")
    assert f0_chart[int(np.argmax(values(paper, "y")))] in (0.0, pytest.approx(0.6))
    assert any("Does not agree" in m.value for m in at.markdown)
    # c: move the noise slider; the chart's noisy means against numpy on the rescored labels
    from coreset_studio.lesson.label_noise import inject_label_noise, noisy_scores

    cls = int(at.selectbox(key="lesson_c_class").value)
    at.slider(key="lesson_c_fraction").set_value(0.3).run()
    assert_clean(at)
    noise = inject_label_noise(labels, cls, 0.3, seed=0, num_classes=10)
    assert noise.flipped.size == round(0.3 * np.sum(labels == cls))
    nd = np.asarray(noisy_scores(session, noise).difficulty("el2n"))
    spec = chart(at, "lesson_noise")
    assert f"{noise.flipped.size} labels" in spec["layout"]["title"]["text"]
    expected = [nd[noise.labels == k].mean() for k in range(10)]
    assert values(_trace(spec, "mean, noisy"), "y") == pytest.approx(expected)
    # e: equal spreads put eq. 6 at the uniform allocation; the paper's optimum stays at the ends
    at.slider(key="lesson_e_sigma").set_value(1.0).run()
    assert_clean(at)
    assert any("Does not agree" in m.value for m in at.markdown)


def test_lesson_outcome_from_the_store(tmp_path, monkeypatch, prepared_small, session_cache_dir, studio_spec):
    from coreset_core.experiments.store import ResultsStore

    store = ResultsStore(tmp_path / "results.sqlite")
    rng = np.random.default_rng(0)
    accs = {}
    for method in ("random", "el2n", "bws", "nucs"):
        accs[method] = rng.uniform(0.5, 0.9, 2)
        for seed, acc in enumerate(accs[method]):
            store.add({"run_id": f"{method}-{seed}", "config_json": "{}", "dataset": studio_spec.dataset,
                       "imbalance": None, "data_seed": 0, "backbone": studio_spec.backbone, "resolution": 64,
                       "limit_n": 300, "test_limit": 200, "method": method, "params_json": "{}", "prune_rate": 0.7,
                       "seed": seed, "mode": "linear", "epochs": 30, "score": "el2n", "score_epochs": 2,
                       "accuracy": float(acc)})
    at = open_page("8_lesson", "lesson", tmp_path, monkeypatch, session_cache_dir, db=tmp_path / "results.sqlite")
    spec = chart(at, "lesson_outcome")
    for method, acc in accs.items():
        assert values(_trace(spec, method), "y") == pytest.approx([100 * acc.mean()])
    # the step's command line, read by the real CLI, plans the grid the button trains, into this database
    from coreset_core.cli import build_parser
    from coreset_core.cli.experiments import sweep_plan_of

    (command,) = [c.value for c in at.code if c.value.startswith("coreset sweep")]
    args = build_parser().parse_args(shlex.split(command)[1:])
    assert args.db == str(tmp_path / "results.sqlite")
    grid = {("full", 0.0, seed) for seed in (0, 1, 2)} | set(itertools.product(
        ("random", "el2n", "bws", "nucs"), (0.5, 0.7, 0.9), (0, 1, 2)))
    configs = sweep_plan_of(args).configs()
    assert {(c.method, c.prune_rate, c.seed) for c in configs} == grid and len(configs) == len(grid)
    assert all(c.spec == studio_spec and c.mode == "linear" and c.epochs == 30 for c in configs)


def test_gallery_kept_and_dropped_make_the_class(tmp_path, monkeypatch, prepared_small, session_cache_dir):
    at = open_page("9_gallery", "gallery", tmp_path, monkeypatch, session_cache_dir)
    at.slider(key="gal_per_side").set_value(96).run()
    assert_clean(at)
    session, labels = prepared_small, prepared_small.labels
    cls = int(at.selectbox(key="gal_class").value)
    method, rate = at.selectbox(key="gal_method").value, at.slider(key="prune_pct").value / 100
    kept, dropped = (df.value for df in at.dataframe[:2])
    assert len(kept) + len(dropped) == np.sum(labels == cls)
    sel = session.select(method, rate).indices
    assert sorted(kept["id"]) == sorted(session.ids[sel[labels[sel] == cls]].tolist())
    assert not set(kept["id"]) & set(dropped["id"])
    assert np.all(np.diff(kept["score"].to_numpy()) >= 0)
    # (the N-way what-if moved to the Compare page: tests/app/test_rough_edges.py)
    # CW-ERM: every sample took the weight of one coreset sample
    at.button(key="gal_cwerm").click().run()
    assert_clean(at)
    copies = values(chart(at, "cwerm_broadcast")["data"][0], "y")
    assert copies.sum() == labels.size
    assert "cwerm_weights" in chart_keys(at)
