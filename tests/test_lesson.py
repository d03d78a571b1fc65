"""The Lesson's data, each step checked against an independent computation.

- e (toy model): a seeded Monte-Carlo brute force over (allocation, threshold) grids, and the
  eq. 5 point's derivatives from a closed form written here with math.erfc;
- c (label noise): numpy counts and hand-computed (winsorized) class means;
- a, b, d, f: numpy re-derivations on a small digits session and a hand-made results store.
"""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from references import winsorized_class_means

from coreset_studio.lesson import steps as lesson
from coreset_studio.lesson.label_noise import inject_label_noise
from coreset_core.session import Session
from coreset_core.spec import DataSpec
from coreset_studio.lesson.toy_model import ToyModel, analyse

#: The same small setting as tests/test_session.py (its features are extracted once per test run).
SPEC = DataSpec("digits", resolution=32, limit=300, test_limit=100)


@pytest.fixture(scope="module")
def session(session_cache_dir):
    return Session(SPEC, cache_dir=session_cache_dir)


# ----------------------------------------------------------------------------- e: toy model

MODEL = ToyModel(mu0=0.0, mu1=2.0, sigma0=0.5, sigma1=1.0, f=0.3, c=1.0)


@pytest.fixture(scope="module")
def analysis():
    return analyse(MODEL, f0_points=121, t_points=2001)


@pytest.fixture(scope="module")
def monte_carlo():
    """Empirical class accuracies on a threshold grid from 400k samples per class (two draws)."""
    rng = np.random.default_rng(12345)
    t = np.linspace(-6.0, 12.0, 1801)

    def accuracies():
        x0 = np.sort(rng.normal(MODEL.mu0, MODEL.sigma0, 400_000))
        x1 = np.sort(rng.normal(MODEL.mu1, MODEL.sigma1, 400_000))
        a0 = np.searchsorted(x0, t, side="right") / x0.size  # P(x <= t | C0)
        a1 = 1.0 - np.searchsorted(x1, t, side="right") / x1.size  # P(x > t | C1)
        return a0, a1

    f0 = np.linspace(0.0, 0.6, 61)
    return t, f0, accuracies(), accuracies()  # one draw to fit thresholds on, one to measure on


def test_toy_paper_objective_optimum_matches_monte_carlo(analysis, monte_carlo):
    t, f0, (a0, a1), _ = monte_carlo
    objective = 0.5 * MODEL.c * (f0[:, None] * a0[None, :] + (2 * MODEL.f - f0[:, None]) * a1[None, :])
    best = objective.max(axis=1)
    # the brute force's optimum: the ends of the range (all of the budget on one class), value c * f
    top = f0[best >= best.max() - 1e-3]
    assert set(np.round(top, 6)) <= {0.0, 0.6}
    assert best.max() == pytest.approx(MODEL.c * MODEL.f, abs=1e-3)
    assert sorted(analysis.paper_optima) == [0.0, 0.6]
    assert analysis.paper_max == pytest.approx(best.max(), abs=2e-3)
    np.testing.assert_allclose(np.interp(f0, analysis.f0, analysis.paper_best), best, atol=3e-3)
    # eq. 6's allocation is clearly worse than the optimum
    eq6 = 2 * MODEL.f * MODEL.sigma0 / (MODEL.sigma0 + MODEL.sigma1)
    assert analysis.model.eq6_f0 == pytest.approx(eq6)
    assert np.interp(eq6, f0, best) < best.max() - 0.02
    assert analysis.verdict["paper_agrees"] == "False"


def _phi(z):
    return 0.5 * math.erfc(-z / math.sqrt(2.0))


def test_toy_eq5_point_is_a_saddle_of_the_paper_objective(analysis):
    m = MODEL

    def objective(t, f0):  # eq. 3 averaged, with a normal CDF from math.erfc
        return 0.5 * m.c * (f0 * _phi((t - m.mu0) / m.sigma0) + (2 * m.f - f0) * _phi((m.mu1 - t) / m.sigma1))

    t_star = (m.sigma1 * m.mu0 + m.sigma0 * m.mu1) / (m.sigma0 + m.sigma1)
    f_star = 2 * m.f * m.sigma0 / (m.sigma0 + m.sigma1)
    assert analysis.stationary_point == pytest.approx((t_star, f_star))
    h = 1e-5
    grad = [(objective(t_star + h, f_star) - objective(t_star - h, f_star)) / (2 * h),
            (objective(t_star, f_star + h) - objective(t_star, f_star - h)) / (2 * h)]
    assert np.allclose(grad, 0.0, atol=1e-8)  # eq. 5 holds there ...
    # ... but it is no maximum: the objective rises along one diagonal and falls along the other
    d = 1e-2
    assert objective(t_star + d, f_star + d) > objective(t_star, f_star) > objective(t_star + d, f_star - d)
    lo, hi = analysis.stationary_hessian_eigs
    assert lo < 0 < hi


def test_toy_fitted_threshold_optima_match_monte_carlo(analysis, monte_carlo):
    t, f0, (a0, a1), (b0, b1) = monte_carlo
    fit = np.argmax(f0[:, None] * a0[None, :] + (2 * MODEL.f - f0[:, None]) * a1[None, :], axis=1)
    mean = 0.5 * (b0[fit] + b1[fit])
    worst = np.minimum(b0[fit], b1[fit])
    # away from the degenerate ends (a class with (almost) nothing kept: any far threshold ties)
    inner = (f0 >= 0.05) & (f0 <= 0.55)
    lib = {name: np.interp(f0, analysis.f0, getattr(analysis, name))[inner]
           for name in ("fitted_t", "fitted_mean", "fitted_worst")}
    # the brute force's threshold grid is 0.01 wide and its objective is flat near the top
    np.testing.assert_allclose(lib["fitted_t"], t[fit][inner], atol=0.03)
    np.testing.assert_allclose(lib["fitted_mean"], mean[inner], atol=0.006)
    np.testing.assert_allclose(lib["fitted_worst"], worst[inner], atol=0.012)
    # worst-class optimum: eq. 6 (f0/f1 = sigma0/sigma1 = 0.5 -> f0 = 0.2), within the brute force's grid step
    assert abs(f0[np.argmax(worst)] - analysis.worst_optimum) <= 0.011
    assert analysis.ratio(analysis.worst_optimum) == pytest.approx(MODEL.sigma0 / MODEL.sigma1, rel=1e-2)
    # average-accuracy optimum: uniform (equal priors give the balanced threshold)
    assert analysis.mean_optimum == pytest.approx(MODEL.f, abs=1e-3)
    assert mean.max() - np.interp(MODEL.f, f0, mean) < 2e-3
    assert analysis.verdict["fitted_worst_agrees"] == "True"


def test_toy_model_refuses_bad_parameters():
    with pytest.raises(ValueError, match="mu0 < mu1"):
        ToyModel(mu0=1.0, mu1=0.0)
    with pytest.raises(ValueError, match="sigma0 and sigma1"):
        ToyModel(sigma0=0.0)
    with pytest.raises(ValueError, match="f"):
        ToyModel(f=1.5)


# ----------------------------------------------------------------------------- c: label noise


def test_label_noise_flips_exactly_the_asked_share_of_one_class():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 5, 1000)
    n2 = int((labels == 2).sum())
    out = inject_label_noise(labels, 2, 0.3, seed=7, num_classes=5)
    changed = np.flatnonzero(out.labels != labels)
    assert changed.size == round(0.3 * n2) and np.array_equal(changed, out.flipped)
    assert np.all(labels[changed] == 2) and np.all(out.labels[changed] != 2)  # only class 2, to other classes
    assert set(out.labels[changed]) <= {0, 1, 3, 4}
    again = inject_label_noise(labels, 2, 0.3, seed=7, num_classes=5)
    assert np.array_equal(again.labels, out.labels)  # seeded
    assert not np.array_equal(inject_label_noise(labels, 2, 0.3, seed=8).flipped, out.flipped)
    targeted = inject_label_noise(labels, 2, 0.5, seed=1, target=4)
    assert np.all(targeted.labels[targeted.flipped] == 4) and targeted.flipped.size == round(0.5 * n2)
    assert inject_label_noise(labels, 2, 0.0).flipped.size == 0


@pytest.mark.parametrize("kwargs, match", [
    ({"cls": 9, "fraction": 0.1}, "class id"),
    ({"cls": 1, "fraction": 1.0}, "fraction"),
    ({"cls": 1, "fraction": 0.1, "target": 1}, "target must differ"),
])
def test_label_noise_refuses_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        inject_label_noise(np.arange(20) % 4, **kwargs)


def test_noisy_class_difficulty_is_recomputed_and_matches_hand_means(session):
    result = lesson.noisy_class_difficulty(session, 0, 0.2, seed=3, winsor=(0.1, 0.1))
    noisy, flipped = result.noise.labels, result.noise.flipped
    assert flipped.size == round(0.2 * session.class_sizes[0])
    assert np.array_equal(np.flatnonzero(noisy != session.labels), flipped)
    d, c = result.difficulty, session.num_classes
    t = result.table
    np.testing.assert_allclose(t["noisy_mean"], [d[noisy == k].mean() for k in range(c)])
    np.testing.assert_allclose(t["noisy_winsorized"], winsorized_class_means(d, noisy, 0.1, 0.1, num_classes=c))
    clean = session.difficulty()
    np.testing.assert_allclose(t["clean_mean"], [clean[session.labels == k].mean() for k in range(c)])
    np.testing.assert_allclose(t["clean_winsorized"],
                               winsorized_class_means(clean, session.labels, 0.1, 0.1, num_classes=c))
    np.testing.assert_array_equal(t["flipped_in"], np.bincount(noisy[flipped], minlength=c))
    # the scores were recomputed on the noisy labels: the mislabelled samples became hard
    assert d[flipped].mean() > clean[flipped].mean() + 0.2


# ----------------------------------------------------------------------------- a, b, d


def test_starvation_matches_a_global_easiest_first_cut(session):
    rates = (0.0, 0.5, 0.9)
    frame = lesson.starvation(session, rates)
    d, labels, sizes = session.difficulty(), session.labels, session.class_sizes
    for rate in rates:
        keep = max(1, round((1 - rate) * labels.size))
        kept = np.argsort(d, kind="stable")[:keep]
        expected = np.bincount(labels[kept], minlength=session.num_classes) / sizes
        got = frame[frame["prune_rate"] == rate].sort_values("class")
        np.testing.assert_allclose(got["kept_fraction"], expected)
        np.testing.assert_array_equal(got["class_size"], sizes)


def test_budget_comparison_uniform_and_proportional(session):
    rate = 0.7
    t = lesson.budget_comparison(session, rate)
    sizes, total = session.class_sizes, round(0.3 * session.labels.size)
    assert t["uniform"].sum() == total and t["nucs"].sum() == total
    assert np.all(np.abs(t["uniform"] - 0.3 * sizes) <= 1)
    d = session.difficulty()
    means = np.array([d[session.labels == k].mean() for k in range(session.num_classes)])
    np.testing.assert_allclose(t["difficulty"], means)
    proportional = total * means * sizes / np.sum(means * sizes)
    assert np.all(proportional < sizes)  # no class capped at this rate, so nucs is the rounded proportion
    assert np.all(np.abs(t["nucs"] - proportional) <= 1)


def _assert_windows_hold(session, windows, k: float, selected: np.ndarray) -> None:
    """Each class's window row is `[end - n_c, end)` of the class sorted by difficulty (SPEC 3, by hand)
    and holds exactly the selection's samples of that class."""
    d, labels = session.difficulty(), session.labels
    for _, row in windows.iterrows():
        cls, kept = int(row["class"]), int(row["kept"])
        members = np.flatnonzero(labels == cls)
        members = members[np.argsort(d[members], kind="stable")]
        end = min(max(int(np.rint(k * members.size)), kept), members.size)
        assert (row["start"], row["end"]) == (end - kept, end)
        assert set(members[end - kept:end]) == set(selected[labels[selected] == cls])


def test_windows_view_matches_the_nucs_selection(session):
    rate = 0.7
    curve, windows, k = lesson.windows_view(session, rate)
    best = curve["accuracy"].max()
    assert curve.loc[curve["endpoint"] == k, "accuracy"].iloc[0] == best
    assert k == curve.loc[curve["accuracy"] == best, "endpoint"].max()  # ties: the larger k
    selected = session.select("nucs", rate).indices
    _assert_windows_hold(session, windows, k, selected)


@pytest.mark.parametrize("mode", ["nucs", "uniform"])
def test_windows_view_without_the_search_is_the_window_at_the_slider(session, mode):
    """No search: no curve, no chosen k, and per class exactly the samples of the method's own window
    at the slider's k (its one-endpoint selection, which fits nothing)."""
    rate, k = 0.6, 0.35
    curve, windows, chosen = lesson.windows_view(session, rate, mode=mode, endpoint=k, search=False)
    assert curve is None and chosen is None
    method = {"nucs": "nucs", "uniform": "nucs-uniform"}[mode]
    selected = session.select(method, rate, endpoints=[k]).indices
    _assert_windows_hold(session, windows, k, selected)
    assert int(windows["kept"].sum()) == selected.size
    _, at_one, _ = lesson.windows_view(session, rate, mode=mode, search=False)
    assert (at_one["end"] == at_one["class_size"]).all()  # default k = 1: the hardest n_c of every class


# ----------------------------------------------------------------------------- b, f: results store


def _row(store_cls, **fields):
    base = {"config_json": "{}", "dataset": SPEC.dataset, "imbalance": SPEC.imbalance, "data_seed": 0,
            "backbone": SPEC.backbone, "resolution": 32, "limit_n": 300, "test_limit": 100, "params_json": "{}",
            "mode": "linear", "epochs": 30, "score": "el2n", "score_epochs": SPEC.score_epochs}
    base.update(fields)
    base["run_id"] = "|".join(f"{k}={base[k]}" for k in ("method", "prune_rate", "seed", "backbone"))
    return base


def test_outcome_curves_from_the_store(session, tmp_path):
    from coreset_core.experiments.store import ResultsStore

    store = ResultsStore(tmp_path / "results.sqlite")
    rng = np.random.default_rng(0)
    truth = {}
    for method in ("random", "el2n", "bws", "nucs"):
        for rate in (0.5, 0.9):
            acc = rng.uniform(0.5, 0.9, 3)
            truth[(method, rate)] = acc
            for seed, a in enumerate(acc):
                store.add(_row(store, method=method, prune_rate=rate, seed=seed, accuracy=float(a)))
    # another setting (another backbone) must not leak into the curves
    store.add(_row(store, method="nucs", prune_rate=0.5, seed=0, accuracy=0.01, backbone="efficientnet_lite1"))
    stats, setting = lesson.outcome_curves(store.to_frame(), session)
    assert setting["backbone"] == SPEC.backbone
    for (method, rate), acc in truth.items():
        row = stats[(stats["method"] == method) & (stats["prune_rate"] == rate)].iloc[0]
        assert row["mean"] == pytest.approx(100 * acc.mean())
        assert row["std"] == pytest.approx(100 * acc.std(ddof=1))
        assert row["n"] == 3
    assert lesson.missing_allocation_runs(store.to_frame(), session, 0.5) == ["nucs-uniform"]
    empty, _ = lesson.outcome_curves(pd.DataFrame(), session)
    assert empty.empty


def test_run_allocation_runs_stores_exactly_the_missing_runs(session, tmp_path):
    from coreset_core.experiments.store import ResultsStore

    store = ResultsStore(tmp_path / "results.sqlite")
    assert lesson.missing_allocation_runs(store.to_frame(), session, 0.7) == ["nucs-uniform", "nucs"]
    report = lesson.run_allocation_runs(session, store, 0.7, epochs=3)
    assert report.ok and report.completed == 2
    rows = store.to_frame()
    assert sorted(rows["method"]) == ["nucs", "nucs-uniform"] and set(rows["prune_rate"]) == {0.7}
    # the kept counts recorded with each run are the session's budgets (uniform and difficulty-proportional)
    for method, mode in (("nucs-uniform", "uniform"), ("nucs", "nucs")):
        kept = json.loads(rows.loc[rows["method"] == method, "class_kept_json"].iloc[0])
        np.testing.assert_array_equal(kept, session.budgets(0.7, mode=mode))
    assert lesson.missing_allocation_runs(rows, session, 0.7) == []
    again = lesson.run_allocation_runs(session, store, 0.7, epochs=3)
    assert again.completed == 0 and again.skipped == 2


def test_allocation_plan_winsorizes_only_the_method_that_takes_it(session):
    """At a nonzero winsorization step b's runs pass it to nucs only: nucs-uniform (BWS) has no winsor
    parameter, and planning it with one raised, which broke the whole Lesson page."""
    configs = lesson.allocation_plan(session, 0.7, winsor=(0.01, 0.0)).configs()
    params = {c.method: dict(c.request.params) for c in configs}
    assert params == {"nucs-uniform": {}, "nucs": {"winsor": (0.01, 0.0)}}


def test_noise_curve_work_is_one_head_run_per_flipped_level(session):
    """Step c's estimate against the linear head's work written out: per noisy level one run of
    `max(epochs, ceil(200 / steps_per_epoch))` epochs of 256-row steps (forward + weight gradient,
    4 b d C) plus a logit pass over all N rows per epoch (2 N d C)."""
    import math

    n, d = session.train.features.shape
    c, epochs = session.num_classes, session.spec.score_epochs
    per_epoch = math.ceil(n / 256)
    effective = max(epochs, math.ceil(200 / per_epoch))
    one_run = 4.0 * effective * per_epoch * 256 * d * c + 2.0 * effective * n * d * c
    assert lesson.noise_curve_work(session) == pytest.approx(4 * one_run)  # levels 0.1-0.4 flip labels
    assert lesson.noise_curve_work(session, levels=(0.0, 0.25)) == pytest.approx(one_run)


# ----------------------------------------------------------------------------- c: budgets under noise


def _hand_winsorized_mean(values: np.ndarray, lo: float, hi: float) -> float:
    a, b = np.quantile(values, lo), np.quantile(values, 1 - hi)
    return float(np.clip(values, a, b).mean())


def _hand_budget_error(d, labels, clean_budgets, total, winsor):
    from coreset_core.allocation import allocate_budgets_for_total

    c = 10
    means = [(_hand_winsorized_mean(d[labels == k], *winsor) if winsor != (0.0, 0.0) else d[labels == k].mean())
             for k in range(c)]
    b = allocate_budgets_for_total(np.array(means), np.bincount(labels, minlength=c), total)
    return 0.5 * np.abs(b - clean_budgets).sum() / total, b


def test_noise_budget_curve_and_its_text_against_a_hand_computation(session):
    from coreset_studio.lesson.label_noise import SAME_ERROR, budget_error_curve, noise_verdict, noisy_scores

    labels, cls, rate, winsor = session.labels, int(session.class_sizes.argmax()), 0.7, (0.1, 0.1)
    levels = (0.0, 0.1, 0.2, 0.3, 0.4)
    curve = budget_error_curve(session, cls, rate, levels=levels, winsor=winsor)
    total = round(0.3 * labels.size)
    clean_d = session.difficulty("el2n")
    hand = {}
    for name, w in (("mean", (0.0, 0.0)), ("winsorized", winsor)):
        _, clean = _hand_budget_error(clean_d, labels, np.zeros(10), total, w)
        for f in levels:
            noise = inject_label_noise(labels, cls, f, seed=0, num_classes=10)
            d = clean_d if f == 0 else np.asarray(noisy_scores(session, noise).difficulty("el2n"))
            hand[(f, name)], b = _hand_budget_error(d, noise.labels, clean, total, w)
            row = curve[(curve["fraction"] == f) & (curve["estimator"] == name)].iloc[0]
            assert row["budget_error"] == pytest.approx(hand[(f, name)])
            assert row["class_budget"] == b[cls] and row["clean_class_budget"] == clean[cls]
            assert row["largest_other_change"] == np.delete(np.abs(b - clean), cls).max()
    assert hand[(0.0, "mean")] == 0 and hand[(0.0, "winsorized")] == 0
    text = noise_verdict(curve, "the class")
    top = max(levels)
    assert f"mean move {100 * hand[(top, 'mean')]:.1f} %" in text[0]
    assert f"winsorized mean move {100 * hand[(top, 'winsorized')]:.1f} %" in text[0]
    helps = [f for f in levels[1:] if hand[(f, "winsorized")] < hand[(f, "mean")] - SAME_ERROR]
    hurts = [f for f in levels[1:] if hand[(f, "winsorized")] > hand[(f, "mean")] + SAME_ERROR]
    claim = text[1].lower()
    if helps:
        assert "moves less of the budget at " + ", ".join(f"{100 * f:g} %" for f in helps) + " flipped" in claim
    else:
        assert "moves less" not in claim
    if hurts:
        assert "moves more at " + ", ".join(f"{100 * f:g} %" for f in hurts) in claim
    else:
        assert "moves more" not in claim
    assert ("does not help" in text[-1]) == bool(hurts or len(helps) < len(levels) - 1)


def test_noise_verdict_says_where_winsorizing_does_not_help():
    from coreset_studio.lesson.label_noise import noise_verdict

    rows = [(0.0, 0, e, 0.0, 10, 10, 0) for e in ("mean", "winsorized")]
    rows += [(0.1, 5, "mean", 0.05, 12, 10, 3), (0.1, 5, "winsorized", 0.01, 11, 10, 1),
             (0.4, 20, "mean", 0.10, 20, 10, 2), (0.4, 20, "winsorized", 0.15, 25, 10, 4)]
    curve = pd.DataFrame(rows, columns=["fraction", "flipped", "estimator", "budget_error", "class_budget",
                                        "clean_class_budget", "largest_other_change"])
    text = noise_verdict(curve, "cat")
    assert "mean move 10.0 %" in text[0] and "winsorized mean move 15.0 %" in text[0]
    assert "moves less of the budget at 10 % flipped" in text[1] and "moves more at 40 %" in text[1]
    assert "from 10 to 20 samples under the mean and from 10 to 25 winsorized" in text[2]
    assert "more than any other class (at most 4 samples)" in text[2]
    assert "does not help" in text[3]


# ----------------------------------------------------------------------------- b, e, f: differences, labels, runs


def test_step_b_differences_are_paired_by_seed_with_worst_class_and_tail(session, tmp_path):
    from coreset_core.experiments.store import ResultsStore

    store = ResultsStore(tmp_path / "results.sqlite")
    rng = np.random.default_rng(1)
    sizes = session.class_sizes
    per = {}
    for method in ("nucs", "nucs-uniform"):
        per[method] = rng.uniform(0.3, 1.0, (3, 10))
        for seed in range(3):
            store.add(_row(store, method=method, prune_rate=0.7, seed=seed, accuracy=float(per[method][seed].mean()),
                           per_class_accuracy_json=per[method][seed].tolist(), class_sizes_json=sizes.tolist()))
    diffs = lesson.allocation_differences(store.to_frame(), session, 0.7).set_index("metric")
    rarest = sorted(range(10), key=lambda c: (sizes[c], c))[:3]
    for metric, f in (("accuracy", lambda a: a.mean(axis=1)), ("worst_class_accuracy", lambda a: a.min(axis=1)),
                      ("tail_accuracy", lambda a: a[:, rarest].mean(axis=1))):
        d = 100 * (f(per["nucs"]) - f(per["nucs-uniform"]))
        assert diffs.loc[metric, "mean"] == pytest.approx(d.mean())
        assert diffs.loc[metric, "std"] == pytest.approx(d.std(ddof=1))
        assert diffs.loc[metric, "n"] == 3
    assert lesson.allocation_differences(store.to_frame(), session, 0.9).empty


def test_step_e_markers_never_overlap_and_the_three_sentences():
    from coreset_studio.lesson.figures import marker_annotations, toy_chart

    a = analyse(ToyModel(sigma0=0.2, sigma1=1.0))  # eq. 6 and the worst-class optimum coincide (f0 = 0.1)
    notes = toy_chart(a)["layout"]["annotations"]
    assert [n["text"] for n in notes] == ["eq. 6 = worst-class optimum"]
    apart = marker_annotations([(0.1, "eq. 6"), (0.12, "worst-class optimum"), (0.5, "x")], span=0.6)
    assert [n["text"] for n in apart] == ["eq. 6", "worst-class optimum", "x"]
    assert apart[0]["y"] != apart[1]["y"]  # neighbours alternate height
    eq6 = 0.2 / 1.0
    assert f"f0/f1 = sigma0/sigma1 (eq. 6; here {eq6:.3g}" in a.verdict["claims"]
    assert a.verdict["paper_agrees"] == "False" and "saddle" in a.verdict["shows"]
    assert a.verdict["fitted_worst_agrees"] == "True"
    assert f"peaks at f0/f1 = {a.ratio(a.worst_optimum):.3g}, eq. 6's ratio" in a.verdict["optimises"]


def test_step_f_plans_bws_and_names_the_missing_runs(session, tmp_path):
    from coreset_core.experiments.store import ResultsStore

    configs = lesson.outcome_plan(session, seeds=(0,)).configs()
    assert {c.method for c in configs} == {"full", "random", "el2n", "bws", "nucs"}
    assert {c.prune_rate for c in configs if c.method == "bws"} == set(lesson.OUTCOME_RATES)
    store = ResultsStore(tmp_path / "results.sqlite")
    assert lesson.missing_outcome_runs(store.to_frame(), session, seeds=(0,)) == ["full", "random", "el2n", "bws",
                                                                                 "nucs"]
    for c in configs:
        if c.method != "bws":
            store.add({"run_id": c.run_id, "config_json": "{}"})
    assert lesson.missing_outcome_runs(store.to_frame(), session, seeds=(0,)) == ["bws"]
