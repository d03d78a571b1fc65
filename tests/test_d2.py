"""D2 Pruning against a brute-force reference written from SPEC section 6 (plain Python loops)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from coreset_core.allocation import allocate_budgets_for_total
from coreset_core.methods import d2, run_method
from coreset_core.methods.common import equal_counts
from coreset_core.validation import budget_for


def brute_d2(scores, x, budget, k=5, gamma=0.1, graph="symmetric"):
    """Selection order of D2 on one set of samples, every step written out."""
    n, dims = len(scores), len(x[0])
    dist = [[math.sqrt(sum((x[i][t] - x[j][t]) ** 2 for t in range(dims))) for j in range(n)] for i in range(n)]
    knn = [[j for _, j in sorted((dist[i][j], j) for j in range(n) if j != i)[:min(k, n - 1)]] for i in range(n)]
    nbrs = [set(row) for row in knn]
    if graph == "symmetric":
        for i in range(n):
            for j in knn[i]:
                nbrs[j].add(i)
    weight = (lambda s: max(s, 1e-7)) if graph == "symmetric" else (lambda s: s)
    s = [scores[i] + sum(math.exp(-dist[i][j]) * weight(scores[j]) for j in sorted(nbrs[i])) for i in range(n)]
    picked = [False] * n
    order = []
    for _ in range(budget):
        best = None
        for j in range(n):
            if not picked[j] and (best is None or s[j] > s[best]):
                best = j
        picked[best] = True
        order.append(best)
        for j in nbrs[best]:
            if not picked[j]:
                s[j] -= math.exp(-gamma * dist[best][j]) * s[best]
    return order


def bin_allocate_by_hand(sizes, total):
    """Equal class counts: classes by size ascending (ties: lower index), min(size, left // classes_left)."""
    counts = [0] * len(sizes)
    left = total
    visit = sorted(range(len(sizes)), key=lambda c: (sizes[c], c))
    for pos, c in enumerate(visit):
        counts[c] = min(sizes[c], left // (len(sizes) - pos))
        left -= counts[c]
    return counts


def make_data(n_per_class=(30, 14, 9, 4), d=4, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.concatenate([np.full(m, c) for c, m in enumerate(n_per_class)])
    labels = labels[rng.permutation(labels.size)].astype(np.int64)
    features = rng.normal(scale=2.0, size=(len(n_per_class), d))[labels] + rng.normal(size=(labels.size, d))
    scores = rng.gamma(2.0, 1.0, size=labels.size)
    return labels, scores, features


# ----------------------------------------------------------------------------- graph and greedy


@pytest.mark.parametrize("graph", ["symmetric", "directed"])
@pytest.mark.parametrize("gamma", [0.1, 1.0])
def test_one_set_matches_brute_force(graph, gamma):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(70, 3))
    scores = rng.gamma(2.0, 1.0, size=70)
    scores[::9] = 0.0  # zero scores: the symmetric graph's 1e-7 clamp is exercised
    order = d2.d2_select(scores, x, 30, k=5, gamma=gamma, graph=graph)
    assert order.tolist() == brute_d2(scores, x.tolist(), 30, 5, gamma, graph)
    labels = np.zeros(70, dtype=np.int64)
    sel = run_method("d2", prune_rate=1 - 30 / 70, labels=labels, scores=scores, features=x, gamma=gamma,
                     graph=graph, mode="global")
    np.testing.assert_array_equal(sel.indices, np.sort(brute_d2(scores, x.tolist(), 30, 5, gamma, graph)))


def test_symmetric_and_directed_graphs_differ_as_defined():
    # k=1: 0 -> 1, 1 -> 0, 2 -> 0, 3 -> 1, 4 -> 2; the symmetric graph adds the reverse edges
    x = np.array([[0.0], [1.0], [-1.1], [2.2], [-3.5]])
    g_dir = d2.build_graph(x, 1, "directed")
    g_sym = d2.build_graph(x, 1, "symmetric")
    nb = lambda g, i: g.nbr[g.ptr[i]:g.ptr[i + 1]].tolist()  # noqa: E731
    assert nb(g_dir, 0) == [1]
    assert nb(g_sym, 0) == [1, 2]  # 2 lists 0 as its nearest
    assert nb(g_sym, 3) == [1] and nb(g_sym, 1) == [0, 3]


def test_all_zero_scores_rank_by_density_on_the_symmetric_graph():
    """With the 1e-7 clamp every edge still carries weight: the densest sample is picked first."""
    x = np.array([[10.0], [0.0], [0.1], [0.2], [5.0], [0.15]])
    scores = np.zeros(6)
    first_sym = d2.d2_select(scores, x, 1, k=2, graph="symmetric")[0]
    assert first_sym == brute_d2(scores.tolist(), x.tolist(), 1, 2, 0.1, "symmetric")[0]
    assert first_sym in (2, 3, 5)  # inside the tight cluster, not the lowest index
    assert d2.d2_select(scores, x, 1, k=2, graph="directed")[0] == 0  # no clamp: all zero, lowest index


def test_knn_ties_go_to_the_lower_index_and_self_is_excluded():
    x = np.array([[0.0], [0.0], [1.0], [-1.0], [0.0], [3.0]])
    nbr, dist = d2.knn_graph(x, 3)
    assert all(i not in nbr[i] for i in range(6))
    assert nbr[0].tolist() == [1, 4, 2] and nbr[4].tolist() == [0, 1, 2]  # 1 and -1 tie: index 2 first
    np.testing.assert_allclose(dist[5], [2.0, 3.0, 3.0])


@pytest.mark.parametrize("d", [2, 64, 300])
def test_knn_graph_is_exact_against_float64_brute_force(d):
    rng = np.random.default_rng(d)
    # near-duplicates stress the float32 candidate search
    base = rng.normal(size=(40, d)).astype(np.float32)
    x = np.concatenate([base, base + rng.normal(scale=1e-4, size=base.shape).astype(np.float32)])
    nbr, dist = d2.knn_graph(x, 4)
    x64 = x.astype(np.float64)
    for i in range(x.shape[0]):
        dd = np.sqrt(((x64 - x64[i]) ** 2).sum(axis=1))
        dd[i] = np.inf
        expected = sorted(range(x.shape[0]), key=lambda j: (dd[j], j))[:4]
        assert nbr[i].tolist() == expected
        np.testing.assert_allclose(dist[i], dd[expected], rtol=1e-12)


def test_knn_graph_is_exact_where_float32_products_cancel():
    """Points far from the origin and close together: |x|^2 - 2 x.y loses every digit of their
    distances in float32, so the float64 re-measurement must decide."""
    rng = np.random.default_rng(11)
    x = 1000.0 + rng.normal(scale=1e-3, size=(120, 16))
    nbr, _ = d2.knn_graph(x, 5)
    for i in range(x.shape[0]):
        dd = np.sqrt(((x - x[i]) ** 2).sum(axis=1))
        dd[i] = np.inf
        assert nbr[i].tolist() == sorted(range(x.shape[0]), key=lambda j: (dd[j], j))[:5]


# ----------------------------------------------------------------------------- class mode


def test_equal_counts_hand_computed():
    # sizes 2, 10, 5, 30 and B = 20: visit 2 (takes 2, 18 left), 5 (18 // 3 = 6 -> 5, 13 left),
    # 10 (13 // 2 = 6, 7 left), 30 (7)
    assert equal_counts(np.array([2, 10, 5, 30]), 20).tolist() == [2, 6, 5, 7]
    # equal sizes: visited by index, the floors leave the extra unit to the last visited
    assert equal_counts(np.array([4, 4, 4]), 10).tolist() == [3, 3, 4]
    assert equal_counts(np.array([0, 3, 8]), 9).tolist() == [0, 3, 6]  # an empty group takes nothing
    assert equal_counts(np.array([5, 5]), 10).tolist() == [5, 5]
    with pytest.raises(ValueError, match="fewer than the budget"):
        equal_counts(np.array([1, 2]), 4)


@pytest.mark.parametrize("budget", [3, 20, 31, 57])
def test_equal_counts_is_bin_allocate(budget):
    sizes = [30, 14, 9, 4, 9]
    assert equal_counts(np.array(sizes), budget).tolist() == bin_allocate_by_hand(sizes, budget)


@pytest.mark.parametrize("graph", ["symmetric", "directed"])
@pytest.mark.parametrize("class_budgets", ["equal", "proportional"])
@pytest.mark.parametrize("rate", [0.5, 0.8])
def test_class_mode_matches_brute_force(graph, class_budgets, rate):
    labels, scores, features = make_data()
    sizes = np.bincount(labels)
    budget = budget_for(rate, labels.size)
    if class_budgets == "equal":
        counts = bin_allocate_by_hand(sizes.tolist(), budget)
    else:
        counts = allocate_budgets_for_total(np.ones(4), sizes, budget, mode="uniform").tolist()
    sel = run_method("d2", prune_rate=rate, labels=labels, scores=scores, features=features, graph=graph,
                     class_budgets=class_budgets, k=4, gamma=0.5)
    np.testing.assert_array_equal(sel.class_counts(labels), counts)
    assert sel.info["class_counts"] == counts
    for c, n_c in enumerate(counts):
        members = np.flatnonzero(labels == c)
        expected = members[brute_d2(scores[members], features[members].tolist(), n_c, 4, 0.5, graph)]
        assert set(sel.indices[labels[sel.indices] == c]) == set(expected)


def test_defaults_are_the_authors_readme_path():
    labels, scores, features = make_data()
    spec_params = run_method("d2", prune_rate=0.5, labels=labels, scores=scores, features=features).config["params"]
    assert spec_params["graph"] == "symmetric" and spec_params["class_budgets"] == "equal"
    assert spec_params["mode"] == "class" and spec_params["k"] == 5 and spec_params["gamma"] == 0.1
    assert spec_params["beta"] == 0.0


def test_long_tail_class_counts_are_equal_not_proportional():
    sizes = [500, 300, 180, 110, 65, 40, 24, 15, 9, 5]
    labels = np.repeat(np.arange(10), sizes)
    rng = np.random.default_rng(1)
    scores, features = rng.random(labels.size), rng.normal(size=(labels.size, 3))
    sel = run_method("d2", prune_rate=0.5, labels=labels, scores=scores, features=features)
    counts = sel.class_counts(labels)
    assert counts.tolist() == bin_allocate_by_hand(sizes, budget_for(0.5, labels.size))
    # small classes are kept whole, the large ones share the rest equally
    assert counts[5:].tolist() == sizes[5:] and counts[:3].max() - counts[:3].min() <= 1


@pytest.mark.parametrize("mode", ["class", "global"])
def test_beta_drops_the_hardest_first(mode):
    labels, scores, features = make_data(seed=4)
    n, beta = labels.size, 0.15
    dropped = int(math.floor(beta * n))
    hardest = sorted(range(n), key=lambda i: (-scores[i], i))[:dropped]
    sel = run_method("d2", prune_rate=0.6, labels=labels, scores=scores, features=features, beta=beta, mode=mode,
                     k=3)
    assert not set(sel.indices.tolist()) & set(hardest) and sel.info["dropped"] == dropped
    pool = np.setdiff1d(np.arange(n), hardest)
    budget = budget_for(0.6, n)
    if mode == "global":
        expected = pool[brute_d2(scores[pool], features[pool].tolist(), budget, 3)]
        assert set(sel.indices.tolist()) == set(expected.tolist())
    else:
        sizes = [int(np.sum(labels[pool] == c)) for c in range(4)]
        assert sel.class_counts(labels).tolist() == bin_allocate_by_hand(sizes, budget)


def test_parameter_errors():
    labels, scores, features = make_data()
    for params, match in [({"graph": "both"}, "graph"), ({"class_budgets": "fair"}, "class_budgets"),
                          ({"mode": "bogus"}, "mode"), ({"k": 0}, "k"), ({"beta": 1.0}, "beta"),
                          ({"beta": 0.9}, "exceeds"), ({"pca_dims": 0}, "pca_dims")]:
        with pytest.raises(ValueError, match=match):
            run_method("d2", prune_rate=0.5, labels=labels, scores=scores, features=features, **params)


def test_pca_option_and_huge_features():
    labels, scores, features = make_data(d=12)
    assert run_method("d2", prune_rate=0.5, labels=labels, scores=scores, features=features,
                      pca_dims=4).indices.size == budget_for(0.5, labels.size)
    # 1e20 in float32 is finite: distances are ~1e20, every exp(-d) is 0 and no NaN appears, so
    # D2 keeps the highest scores of each class (equal class counts)
    huge = (features * 1e20).astype(np.float32)
    sel = run_method("d2", prune_rate=0.5, labels=labels, scores=scores, features=huge)
    for c, n_c in enumerate(sel.info["class_counts"]):
        members = np.flatnonzero(labels == c)
        top = sorted(members.tolist(), key=lambda i: (-scores[i], i))[:n_c]
        assert set(sel.indices[labels[sel.indices] == c].tolist()) == set(top)
