"""window_select and krr_window_search against brute-force references written from SPEC sections 3-4."""
from __future__ import annotations

import numpy as np
import pytest
from references import ridge_accuracy, window_positions

import coreset_core.windows as windows
from coreset_core.windows import krr_window_search, stratified_subsample, window_select

GRID = [i / 20 for i in range(21)]


def make_data(seed, n=400, d=12, c=4, sep=1.0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, c, n)
    labels[:c] = np.arange(c)
    means = rng.standard_normal((c, d)) * sep
    features = (means[labels] + rng.standard_normal((n, d))).astype(dtype)
    scores = rng.random(n)
    return features, labels, scores


def random_budgets(rng, labels, frac):
    sizes = np.bincount(labels)
    return np.minimum(sizes, np.maximum(0, np.round(frac * sizes * rng.uniform(0.5, 1.5, sizes.size)))).astype(int)


# ----------------------------------------------------------------------------- window_select


@pytest.mark.parametrize("seed", range(5))
def test_window_select_matches_explicit_sort(seed):
    rng = np.random.default_rng(seed)
    c = int(rng.integers(1, 7))
    labels = rng.integers(0, c, 300)
    labels[:c] = np.arange(c)
    scores = rng.integers(0, 8, 300).astype(float)  # many ties: broken by sample index
    sizes = np.bincount(labels)
    budgets = rng.integers(0, sizes + 1)
    budgets[0] = sizes[0]  # whole class
    for k in [0.0, 1e-9, 0.01, 0.05, 0.25, 0.5, 0.7777, 0.95, 0.99, 1.0]:
        got = window_select(scores, labels, budgets, k)
        np.testing.assert_array_equal(got, window_positions(scores, labels, budgets, k))
        assert got.size == budgets.sum()


def test_window_ends_and_easy_hard():
    labels = np.zeros(10, dtype=int)
    scores = np.arange(10, dtype=float)[::-1]  # sample 9 easiest, sample 0 hardest
    assert window_select(scores, labels, [3], 1.0).tolist() == [0, 1, 2]  # hardest 3
    assert window_select(scores, labels, [3], 0.0).tolist() == [7, 8, 9]  # easiest 3
    assert window_select(scores, labels, [3], 0.5).tolist() == [5, 6, 7]  # end = round(5) = 5 -> sorted [2, 5)
    assert window_select(scores, labels, [3], 0.25).tolist() == [7, 8, 9]  # round(2.5) = 2 (half to even) -> clamp 3
    assert window_select(-scores, labels, [2], 1.0).tolist() == [8, 9]  # signed scores are fine for windows


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (([1.0, 2.0], [0, 0], [3], 0.5), r"budget of class 0 is 3 but the class has 2"),
        (([1.0, 2.0], [0, 0], [-1], 0.5), "budget of class 0"),
        (([1.0, 2.0], [0, 0], [1], 1.5), r"endpoints must lie in \[0, 1\]"),
        (([1.0, 2.0], [0, 0], [1], np.nan), "endpoints"),
        (([1.0, np.nan], [0, 0], [1], 0.5), "NaN"),
        (([1.0, 2.0, 3.0], [0, 0], [1], 0.5), "must match"),
        (([1.0, 2.0], [0, 2], [1, 0, 1], 0.5), "no samples"),
        (([1.0, 2.0], [0, 1], [1], 0.5), "out of range"),
        (([1.0, 2.0], [0, 0], [1.5], 0.5), "integer counts"),
    ],
)
def test_window_select_errors(args, match):
    with pytest.raises(ValueError, match=match):
        window_select(*args)


# ----------------------------------------------------------------------------- krr_window_search


@pytest.mark.parametrize(
    ("seed", "n", "d", "c", "frac"),
    [
        (0, 400, 12, 4, 0.7),  # primal, heavy window overlap
        (1, 400, 12, 4, 0.3),  # primal
        (2, 300, 40, 3, 0.1),  # dual: m = 30 < d + 1
        (3, 500, 8, 6, 0.05),  # primal, narrow windows (runs alive at a single endpoint)
        (4, 600, 30, 10, 0.5),
    ],
)
def test_krr_search_matches_refit_per_endpoint(seed, n, d, c, frac):
    features, labels, scores = make_data(seed, n, d, c, sep=0.6)
    rng = np.random.default_rng(seed)
    budgets = random_budgets(rng, labels, frac)
    res = krr_window_search(features, labels, scores, budgets)
    assert res.form == ("dual" if budgets.sum() < d + 1 else "primal")
    np.testing.assert_allclose(res.endpoints, GRID)
    ref = np.array([ridge_accuracy(features, labels, window_positions(scores, labels, budgets, k), c) for k in GRID])
    np.testing.assert_allclose(res.accuracies, ref, rtol=0, atol=1e-12)
    best = max(range(len(GRID)), key=lambda i: (ref[i], i))  # ties: larger k
    assert res.best_endpoint == GRID[best]
    np.testing.assert_array_equal(res.indices, window_positions(scores, labels, budgets, GRID[best]))
    assert res.num_eval == n
    assert set(res.timings) >= {"gram", "solve", "predict", "total"}


def test_dedup_identical_coresets():
    features, labels, scores = make_data(7, 400, 10, 4)
    budgets = np.round(0.6 * np.bincount(labels)).astype(int)
    res = krr_window_search(features, labels, scores, budgets)
    distinct = {tuple(window_positions(scores, labels, budgets, k)) for k in GRID}
    assert res.num_distinct == len(distinct) < len(GRID)  # k <= 0.6 all clamp to the easiest window
    for k in GRID:
        np.testing.assert_array_equal(window_select(scores, labels, budgets, k),
                                      window_positions(scores, labels, budgets, k))


def test_ties_go_to_larger_endpoint():
    features, labels, scores = make_data(8, 200, 5, 1)  # one class: every endpoint is 100 % accurate
    res = krr_window_search(features, labels, scores, [50])
    assert np.all(res.accuracies == 1.0) and res.best_endpoint == 1.0
    features, labels, scores = make_data(9, 300, 6, 3)
    budgets = np.bincount(labels) // 2
    # two endpoints with the same coreset (both clamp to the easiest window) tie: the larger wins
    res = krr_window_search(features, labels, scores, budgets, endpoints=[0.1, 0.0])
    assert res.endpoints.tolist() == [0.0, 0.1] and res.num_distinct == 1 and res.best_endpoint == 0.1


def test_custom_grid_ridge_and_float64_features():
    features, labels, scores = make_data(10, 300, 9, 3, dtype=np.float64)
    budgets = np.bincount(labels) // 3
    ks = [0.9, 0.33, 0.5]
    res = krr_window_search(features, labels, scores, budgets, endpoints=ks, ridge=5.0)
    ref = [ridge_accuracy(features, labels, window_positions(scores, labels, budgets, k), 3, lam=5.0)
           for k in sorted(ks)]
    np.testing.assert_allclose(res.accuracies, ref, atol=1e-12)


def test_float64_recheck_path_is_exact(monkeypatch):
    """Force every prediction through the float64 re-check: results must not change."""
    features, labels, scores = make_data(11, 400, 12, 5, sep=0.3)
    budgets = np.bincount(labels) // 2
    normal = krr_window_search(features, labels, scores, budgets)
    assert normal.stats["rechecked"] < 400 * normal.num_distinct
    monkeypatch.setattr(windows, "_U32", 1.0)  # absurd error bound: nothing is certain in float32
    forced = krr_window_search(features, labels, scores, budgets)
    assert forced.stats["rechecked"] == 400 * forced.num_distinct
    np.testing.assert_array_equal(forced.correct, normal.correct)


def test_blocked_prediction_and_gram(monkeypatch):
    """Tiny blocks: many GEMM row blocks, endpoint groups and X^T X chunks give the same answer."""
    features, labels, scores = make_data(12, 500, 10, 7, sep=0.5)
    budgets = np.bincount(labels) * 2 // 3
    ref = krr_window_search(features, labels, scores, budgets)
    monkeypatch.setattr(windows, "_PRED_FLOATS", 1)
    monkeypatch.setattr(windows, "_MAX_COLS", 15)
    monkeypatch.setattr(windows, "_GATHER_BYTES", 1)  # 256-row chunks
    small = krr_window_search(features, labels, scores, budgets)
    np.testing.assert_array_equal(small.correct, ref.correct)


def test_eval_subsample():
    features, labels, scores = make_data(13, 600, 10, 4, sep=0.5)
    budgets = np.bincount(labels) // 4
    rows = stratified_subsample(labels, 0.25, seed=3)
    sizes = np.bincount(labels)
    counts = np.bincount(labels[rows], minlength=4)
    assert rows.size == 150 and np.all(np.abs(counts - 0.25 * sizes) < 1.0)
    np.testing.assert_array_equal(rows, stratified_subsample(labels, 150, seed=3))  # int == fraction
    assert not np.array_equal(rows, stratified_subsample(labels, 150, seed=4))
    res = krr_window_search(features, labels, scores, budgets, eval_subsample=0.25, seed=3)
    assert res.num_eval == 150
    ref = [ridge_accuracy(features, labels, window_positions(scores, labels, budgets, k), 4, eval_rows=rows)
           for k in GRID]
    np.testing.assert_allclose(res.accuracies, ref, atol=1e-12)
    full = krr_window_search(features, labels, scores, budgets, eval_subsample=1.0)
    assert full.num_eval == 600


def test_torch_backend_matches():
    pytest.importorskip("torch")
    features, labels, scores = make_data(14, 400, 12, 5, sep=0.4)
    for frac in (0.6, 0.05):  # primal and dual
        budgets = np.round(frac * np.bincount(labels)).astype(int)
        a = krr_window_search(features, labels, scores, budgets)
        b = krr_window_search(features, labels, scores, budgets, device="torch")
        np.testing.assert_array_equal(a.correct, b.correct)
        np.testing.assert_array_equal(a.indices, b.indices)
    c = krr_window_search(features, labels, scores, budgets, device="torch", eval_subsample=100)
    d = krr_window_search(features, labels, scores, budgets, eval_subsample=100)
    np.testing.assert_array_equal(c.correct, d.correct)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(ridge=0.0), "ridge"),
        (dict(ridge=-1), "ridge"),
        (dict(endpoints=[]), "endpoints is empty"),
        (dict(endpoints=[0.5, 1.2]), r"endpoints must lie in \[0, 1\]"),
        (dict(eval_subsample=0), "eval_subsample"),
        (dict(eval_subsample=1.5), "eval_subsample"),
        (dict(eval_subsample="all"), "eval_subsample"),
        (dict(eval_subsample=True), "eval_subsample"),
        (dict(device="tpu"), "unknown device"),
    ],
)
@pytest.mark.parametrize("one_endpoint", [False, True])
def test_search_argument_errors(kwargs, match, one_endpoint):
    """Refused alike whether or not the search has anything to choose (one endpoint fits nothing)."""
    features, labels, scores = make_data(15, 100, 4, 2)
    if one_endpoint and "endpoints" in kwargs:
        pytest.skip("the endpoints are the argument under test")
    extra = {"endpoints": [0.5]} if one_endpoint else {}
    with pytest.raises(ValueError, match=match):
        krr_window_search(features, labels, scores, [10, 10], **{**extra, **kwargs})


def _count_ridge_work(monkeypatch) -> dict[str, int]:
    """Counts the calls of the search's fitting and evaluation functions."""
    calls = {name: 0 for name in ("_make_backend", "_fit_primal", "_fit_dual", "_count_correct")}
    for name in calls:
        original = getattr(windows, name)

        def counted(*args, _name=name, _original=original, **kwargs):
            calls[_name] += 1
            return _original(*args, **kwargs)

        monkeypatch.setattr(windows, name, counted)
    return calls


@pytest.mark.parametrize("small", [False, True])  # primal and dual form
def test_one_candidate_is_the_full_search_at_that_endpoint_without_a_fit(monkeypatch, small):
    features, labels, scores = make_data(18, 300, 8, 3)
    sizes = np.bincount(labels)
    budgets = np.round((0.02 if small else 0.4) * sizes).astype(int)
    calls = _count_ridge_work(monkeypatch)
    full = krr_window_search(features, labels, scores, budgets)  # fits every distinct endpoint
    assert full.evaluated and calls["_count_correct"] == 1
    assert calls["_fit_dual" if small else "_fit_primal"] == 1
    for k in (0.0, 0.35, 0.5, 0.8, 1.0):
        before = dict(calls)
        one = krr_window_search(features, labels, scores, budgets, endpoints=[k])
        assert calls == before  # no backend, no fit, no evaluation
        np.testing.assert_array_equal(one.indices, window_positions(scores, labels, budgets, k))
        assert one.best_endpoint == k and one.endpoints.tolist() == [k]
        assert not one.evaluated and np.isnan(one.accuracies).all() and one.correct is None
        assert one.num_eval == 0 and one.form == "none" and one.num_distinct == 1
    # the full search restricted to its chosen endpoint is that endpoint's one-candidate search
    np.testing.assert_array_equal(
        krr_window_search(features, labels, scores, budgets, endpoints=[full.best_endpoint]).indices, full.indices)


def test_endpoints_that_all_clamp_alike_are_one_candidate(monkeypatch):
    features, labels, scores = make_data(19, 300, 6, 3)
    budgets = np.bincount(labels) // 2
    calls = _count_ridge_work(monkeypatch)
    res = krr_window_search(features, labels, scores, budgets, endpoints=[0.0, 0.1, 0.2])  # all the easiest window
    assert sum(calls.values()) == 0
    assert res.best_endpoint == 0.2 and res.num_distinct == 1 and np.isnan(res.accuracies).all()  # ties: larger k
    np.testing.assert_array_equal(res.indices, window_positions(scores, labels, budgets, 0.0))
    full = krr_window_search(features, labels, scores, budgets, endpoints=[0.0, 0.1, 0.2, 1.0])
    assert full.evaluated and calls["_count_correct"] == 1 and full.num_distinct == 2


def test_search_input_errors():
    features, labels, scores = make_data(16, 100, 4, 2)
    bad = features.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        krr_window_search(bad, labels, scores, [10, 10])
    with pytest.raises(ValueError, match="rows but labels has"):
        krr_window_search(features[:50], labels, scores, [10, 10])
    with pytest.raises(ValueError, match="NaN/inf"):
        krr_window_search(features, labels, np.full(100, np.inf), [10, 10])
    with pytest.raises(ValueError, match="all zero"):
        krr_window_search(features, labels, scores, [0, 0])
    with pytest.raises(ValueError, match="one count per class"):
        krr_window_search(features, labels, scores, [[10, 10]])


def test_solver_fallback_when_cholesky_fails(monkeypatch):
    """If Cholesky reports an indefinite system, the symmetric solver gives the same answer."""
    import numpy.linalg
    import scipy.linalg

    features, labels, scores = make_data(17, 300, 8, 3)
    budgets = np.bincount(labels) // 2
    small = np.round(0.02 * np.bincount(labels)).astype(int)  # m < d + 1: dual form
    ref = krr_window_search(features, labels, scores, budgets)
    ref_dual = krr_window_search(features, labels, scores, small)
    assert ref.form == "primal" and ref_dual.form == "dual"

    def broken(*args, **kwargs):
        raise numpy.linalg.LinAlgError("forced")

    monkeypatch.setattr(scipy.linalg, "cho_factor", broken)
    got = krr_window_search(features, labels, scores, budgets)
    np.testing.assert_array_equal(got.correct, ref.correct)
    np.testing.assert_array_equal(krr_window_search(features, labels, scores, small).correct, ref_dual.correct)
