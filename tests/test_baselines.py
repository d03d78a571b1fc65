"""Baseline selection methods: each one's defining property, checked against an independent
brute force or a hand computation, plus the contract every method shares."""
from __future__ import annotations

import math

import numpy as np
import pytest

from coreset_core.allocation import allocate_budgets_for_total
from coreset_core.methods import common, kcenter, moderate, ram_apl
from coreset_core.methods.registry import get_method, run_method
from coreset_core.validation import budget_for

MINE = ["random", "random-classwise", "el2n", "el2n-classwise", "moderate", "moderate-classwise", "ccs", "d2",
        "kcenter", "kcenter-classwise", "ram-apl", "bws"]
SEEDED = ["random", "random-classwise", "ccs", "kcenter", "kcenter-classwise"]
# d2 keeps the same fraction per class with class_budgets="proportional" (tests/test_d2.py covers its default)
CLASSWISE = ["random-classwise", "el2n-classwise", "moderate-classwise", "kcenter-classwise", "ram-apl", "bws"]


def make_data(n_per_class=(60, 35, 20, 9), d=6, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.concatenate([np.full(m, c) for c, m in enumerate(n_per_class)])
    labels = labels[rng.permutation(labels.size)]
    centers = rng.normal(scale=3.0, size=(len(n_per_class), d))
    features = centers[labels] + rng.normal(size=(labels.size, d))
    scores = rng.gamma(2.0, 1.0, size=labels.size)
    return labels.astype(np.int64), scores, features


def uniform_counts(labels, budget):
    sizes = np.bincount(labels)
    return np.asarray(allocate_budgets_for_total(np.ones(sizes.size), sizes, budget, mode="uniform"))


def call(method, labels, scores, features, budget, seed=0, **params):
    """The raw registered function (not run_method), so its own output format is checked."""
    out = get_method(method).fn(labels, budget, scores=scores, features=features, seed=seed, **params)
    return out[0] if isinstance(out, tuple) else out


# ----------------------------------------------------------------------------- shared contract


@pytest.mark.parametrize("method", MINE)
@pytest.mark.parametrize("rate", [0.0, 0.3, 0.9])
def test_contract_exact_budget_sorted_unique(method, rate):
    labels, scores, features = make_data()
    n = labels.size
    budget = budget_for(rate, n)
    idx = np.asarray(call(method, labels, scores, features, budget))
    assert idx.shape == (budget,)
    assert np.issubdtype(idx.dtype, np.integer)
    assert np.all(np.diff(idx) > 0), "sorted and unique"
    assert idx.min() >= 0 and idx.max() < n
    sel = run_method(method, prune_rate=rate, labels=labels, scores=scores, features=features, seed=3)
    assert sel.indices.size == budget


@pytest.mark.parametrize("method", MINE)
def test_deterministic_for_a_seed(method):
    labels, scores, features = make_data()
    a = call(method, labels, scores, features, 40, seed=7)
    b = call(method, labels, scores, features, 40, seed=7)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("method", SEEDED)
def test_seed_changes_random_methods(method):
    labels, scores, features = make_data()
    outs = {tuple(call(method, labels, scores, features, 40, seed=s)) for s in range(4)}
    assert len(outs) > 1


@pytest.mark.parametrize("method", CLASSWISE)
@pytest.mark.parametrize("budget", [4, 37, 100])
def test_classwise_counts_are_the_uniform_allocation(method, budget):
    labels, scores, features = make_data()
    idx = call(method, labels, scores, features, budget)
    np.testing.assert_array_equal(np.bincount(labels[idx], minlength=4), uniform_counts(labels, budget))


@pytest.mark.parametrize("method", MINE)
def test_bad_inputs_stop_at_the_public_edge(method):
    """run_method validates once; the registered functions trust their (validated) inputs."""
    labels, scores, features = make_data()
    with pytest.raises(ValueError, match="prune_rate"):
        run_method(method, prune_rate=1.0, labels=labels, scores=scores, features=features)
    bad = labels.copy()
    bad[7] = 10 ** 9
    with pytest.raises(ValueError, match=r"labels\[7\] = 1000000000"):
        run_method(method, prune_rate=0.5, labels=bad, scores=scores, features=features)
    spec = get_method(method)
    if spec.needs_scores:
        with pytest.raises(ValueError, match="must match"):
            run_method(method, prune_rate=0.5, labels=labels, scores=scores[:-1], features=features)
    if spec.needs_features:
        with pytest.raises(ValueError, match="0 columns"):
            run_method(method, prune_rate=0.5, labels=labels, scores=scores, features=features[:, :0])


# ----------------------------------------------------------------------------- random


def test_random_is_numpy_choice_without_replacement():
    labels, scores, features = make_data()
    idx = call("random", labels, scores, features, 50, seed=11)
    expected = np.sort(np.random.default_rng(11).choice(labels.size, 50, replace=False))
    np.testing.assert_array_equal(idx, expected)


# ----------------------------------------------------------------------------- EL2N


def test_el2n_keeps_exactly_the_top_scores():
    labels, scores, features = make_data()
    for budget in [1, 17, 90, labels.size]:
        idx = call("el2n", labels, scores, features, budget)
        threshold = np.sort(scores)[::-1][budget - 1]
        assert set(idx) == set(np.flatnonzero(scores >= threshold))  # scores are distinct here


def test_el2n_ties_go_to_the_lower_index():
    labels = np.array([0, 0, 1, 1, 0, 1])
    scores = np.array([1.0, 5.0, 5.0, 2.0, 5.0, 0.0])
    np.testing.assert_array_equal(call("el2n", labels, scores, None, 2), [1, 2])


def test_el2n_classwise_keeps_the_hardest_of_each_class():
    labels, scores, features = make_data()
    idx = call("el2n-classwise", labels, scores, features, 37)
    for c, n_c in enumerate(uniform_counts(labels, 37)):
        members = np.flatnonzero(labels == c)
        hardest = members[np.argsort(-scores[members])][:n_c]
        assert set(idx[labels[idx] == c]) == set(hardest)


# ----------------------------------------------------------------------------- Moderate


def brute_moderate_distance(labels, features):
    dist = np.zeros(labels.size)
    for c in np.unique(labels):
        rows = [i for i in range(labels.size) if labels[i] == c]
        med = np.array([np.median([features[i, j] for i in rows]) for j in range(features.shape[1])])
        for i in rows:
            dist[i] = math.sqrt(sum((features[i, j] - med[j]) ** 2 for j in range(features.shape[1])))
    return dist


def test_moderate_keeps_the_band_around_the_median_distance():
    labels, scores, features = make_data()
    dist = brute_moderate_distance(labels, features)
    np.testing.assert_allclose(moderate.moderate_distances(labels, features), dist, rtol=1e-12)
    m = np.median(dist)
    for budget in [1, 30, 111]:
        expected = sorted(range(labels.size), key=lambda i: (abs(dist[i] - m), i))[:budget]
        idx = call("moderate", labels, scores, features, budget)
        assert set(idx) == set(expected)
        # a band: every kept distance is at least as close to the median as every dropped one
        gap = np.abs(dist - m)
        dropped = np.setdiff1d(np.arange(labels.size), idx)
        assert gap[idx].max() <= gap[dropped].min()


def test_moderate_classwise_is_a_band_per_class():
    labels, scores, features = make_data()
    dist = brute_moderate_distance(labels, features)
    idx = call("moderate-classwise", labels, scores, features, 50)
    for c, n_c in enumerate(uniform_counts(labels, 50)):
        members = np.flatnonzero(labels == c)
        m = np.median(dist[members])
        expected = sorted(members, key=lambda i: (abs(dist[i] - m), i))[:n_c]
        assert set(idx[labels[idx] == c]) == set(expected)


# ----------------------------------------------------------------------------- CCS


def brute_ccs_strata(scores, pool, strata):
    s = scores[pool]
    lo, hi = s.min(), s.max()
    width = (hi - lo) / strata
    out = {}
    for i in pool:
        b = 0 if hi == lo else min(int((scores[i] - lo) // width), strata - 1)
        out.setdefault(b, []).append(i)
    return out


@pytest.mark.parametrize("beta", [0.0, 0.1, 0.3])
@pytest.mark.parametrize("budget", [10, 60, 80])
def test_ccs_drops_the_hardest_and_follows_the_stratum_rule(beta, budget):
    labels, scores, features = make_data()
    n = labels.size
    strata = 8
    dropped = int(math.floor(beta * n))
    if budget > n - dropped:
        with pytest.raises(ValueError, match="exceeds"):
            call("ccs", labels, scores, features, budget, beta=beta, strata=strata)
        return
    idx = call("ccs", labels, scores, features, budget, seed=5, beta=beta, strata=strata)
    hardest = np.argsort(-scores)[:dropped]
    assert not set(idx) & set(hardest)
    pool = np.setdiff1d(np.arange(n), hardest)
    bins = brute_ccs_strata(scores, pool, strata)
    sizes = [len(bins.get(b, [])) for b in range(strata)]
    # the rule, written out: smallest stratum first, each min(size, remaining // strata_left)
    expected = [0] * strata
    remaining = budget
    for pos, b in enumerate(sorted(range(strata), key=lambda b: (sizes[b], b))):
        expected[b] = min(sizes[b], remaining // (strata - pos))
        remaining -= expected[b]
    got = [len(set(idx) & set(bins.get(b, []))) for b in range(strata)]
    assert got == expected


def test_ccs_too_large_budget_and_bad_params():
    labels, scores, features = make_data()
    with pytest.raises(ValueError, match="exceeds"):
        call("ccs", labels, scores, features, labels.size, beta=0.05)
    with pytest.raises(ValueError, match="beta"):
        call("ccs", labels, scores, features, 10, beta=1.0)
    with pytest.raises(ValueError, match="strata"):
        call("ccs", labels, scores, features, 10, strata=0)


def test_ccs_equal_scores_is_one_stratum():
    labels = np.zeros(30, dtype=np.int64)
    idx = call("ccs", labels, np.ones(30), None, 12)
    assert idx.size == 12


# ----------------------------------------------------------------------------- k-Center


def brute_farthest_point(x, budget, first):
    dmat = np.sqrt(((x[:, None, :] - x[None, :, :]) ** 2).sum(-1))
    chosen = [first]
    for _ in range(1, budget):
        nearest = dmat[:, chosen].min(axis=1)
        nearest[chosen] = -1.0
        chosen.append(int(np.argmax(nearest)))
    return chosen


@pytest.mark.parametrize("d", [5, 90])
def test_kcenter_is_the_farthest_point_sequence(d):
    rng = np.random.default_rng(d)
    x = rng.normal(size=(150, d)) * rng.gamma(1.0, 1.0, size=(150, 1))
    for first in [0, 77]:
        np.testing.assert_array_equal(kcenter.farthest_point_order(x, 60, first), brute_farthest_point(x, 60, first))
    np.testing.assert_array_equal(kcenter.farthest_point_order(x, 60, 3, block=7),
                                  brute_farthest_point(x, 60, 3))
    labels = np.zeros(150, dtype=np.int64)
    first = int(np.random.default_rng(4).integers(150))
    idx = call("kcenter", labels, None, x, 25, seed=4)
    np.testing.assert_array_equal(idx, np.sort(brute_farthest_point(x, 25, first)))


def test_kcenter_float32_features_match_brute_force():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(120, 80)).astype(np.float32)
    np.testing.assert_array_equal(kcenter.farthest_point_order(x, 40, 5),
                                  brute_farthest_point(x.astype(np.float64), 40, 5))


def test_kcenter_classwise_is_farthest_point_per_class():
    labels, scores, features = make_data()
    idx = call("kcenter-classwise", labels, scores, features, 37, seed=2)
    rng = np.random.default_rng(2)
    for c, n_c in enumerate(uniform_counts(labels, 37)):
        members = np.flatnonzero(labels == c)
        first = int(rng.integers(members.size))
        expected = members[brute_farthest_point(features[members], n_c, first)]
        assert set(idx[labels[idx] == c]) == set(expected)


# ----------------------------------------------------------------------------- RAM-APL


def test_ram_apl_by_hand():
    # class 0: 1-D features 0, 2, 5, 9.5 (mean 4.125); class 1: 10, 12, 20 (mean 14)
    x = np.array([0.0, 2.0, 5.0, 9.5, 10.0, 12.0, 20.0])[:, None]
    labels = np.array([0, 0, 0, 0, 1, 1, 1])
    # distances to the own mean: 4.125, 2.125, 0.875, 5.375 | 4, 2, 6 -> 1-based ranks / N_c
    ram = np.array([3 / 4, 2 / 4, 1 / 4, 4 / 4, 2 / 3, 1 / 3, 3 / 3])
    # nearest class mean: 9.5 is 4.5 from 14 but 5.375 from 4.125 -> wrong; all others right
    apl = np.array([0, 0, 0, 1, 0, 0, 0.0])
    p = 4 / 7
    w1 = 0.2 + 0.8 / (1 + math.exp(p - 0.5))
    np.testing.assert_allclose(ram_apl.ram_apl_scores(labels, x, p), w1 * ram + (1 - w1) * apl)
    # budget 4 over sizes (4, 3): uniform allocation (2, 2); lowest scores: x=5, 2 | 12, 10
    sel = run_method("ram-apl", prune_rate=3 / 7, labels=labels, features=x)
    np.testing.assert_array_equal(sel.indices, [1, 2, 4, 5])
    assert sel.info["w1"] == pytest.approx(w1)


def test_ram_apl_averages_backbones():
    labels, scores, f1 = make_data()
    f2 = np.random.default_rng(9).normal(size=(labels.size, 3)) + labels[:, None]
    p = 0.3
    both = ram_apl.ram_apl_scores(labels, [f1, f2], p)
    w1, w2 = ram_apl.ram_apl_weights(p)
    a1 = (ram_apl.ram_apl_scores(labels, f1, p))
    a2 = (ram_apl.ram_apl_scores(labels, f2, p))
    np.testing.assert_allclose(both, (a1 + a2) / 2)
    sel = run_method("ram-apl", prune_rate=0.5, labels=labels, features=[f1, f2])
    assert sel.info["num_backbones"] == 2


def _ranks_by_hand(x):
    """1-based rank of each |x_i - mean| in plain Python (ties: lower index)."""
    mean = sum(x) / len(x)
    order = sorted(range(len(x)), key=lambda i: ((x[i] - mean) ** 2, i))
    ranks = [0] * len(x)
    for r, i in enumerate(order, start=1):
        ranks[i] = r
    return ranks


def test_ram_apl_exact_ties_in_rank_sums_go_to_the_lower_index():
    # one class, three 1-D backbones: APL is 0 everywhere and the score orders by the rank sum
    rng = np.random.default_rng(3)
    n, m = 50, 3
    feats = [rng.normal(size=n) for _ in range(m)]
    ranks = [_ranks_by_hand(f.tolist()) for f in feats]
    rank_sum = [sum(r[i] for r in ranks) for i in range(n)]
    labels = np.zeros(n, dtype=np.int64)
    per_backbone_floats = [sum(r[i] / n for r in ranks) for i in range(n)]  # the old, rounding-prone sum
    tie_values = sorted({v for v in rank_sum if rank_sum.count(v) > 1})
    old_would_break = 0
    for v in tie_values:
        tied = [i for i in range(n) if rank_sum[i] == v]
        budget = sum(1 for w in rank_sum if w < v) + 1  # keeps exactly one of the tied samples
        expected = sorted(range(n), key=lambda i: (rank_sum[i], i))[:budget]
        sel = run_method("ram-apl", prune_rate=1 - budget / n, labels=labels, features=[f[:, None] for f in feats])
        assert sel.indices.size == budget
        assert sorted(sel.indices.tolist()) == sorted(expected), f"tie at rank sum {v} between {tied}"
        old_would_break += min(per_backbone_floats[i] for i in tied) < per_backbone_floats[tied[0]]
    assert old_would_break > 0  # the case exercises ties that per-backbone float sums break wrongly


def test_ram_apl_weights_formula():
    w1, w2 = ram_apl.ram_apl_weights(0.5)
    assert w1 == pytest.approx(0.6) and w2 == pytest.approx(0.4)
    assert ram_apl.ram_apl_weights(0.1)[0] > ram_apl.ram_apl_weights(0.9)[0]


# ----------------------------------------------------------------------------- BWS


def test_bws_is_the_krr_best_uniform_window():
    from coreset_core.windows import window_select

    labels, scores, features = make_data()
    budget = 40
    out = get_method("bws").fn(labels, budget, scores=scores, features=features, seed=0)
    idx, info = out
    assert set(info) >= {"endpoints", "accuracies", "best_endpoint"}
    assert len(info["endpoints"]) == len(info["accuracies"]) == 21
    best = info["best_endpoint"]
    acc = np.asarray(info["accuracies"])
    assert acc[np.isclose(info["endpoints"], best)][0] == acc.max()
    expected = window_select(scores, labels, uniform_counts(labels, budget), best)
    np.testing.assert_array_equal(idx, np.sort(expected))


# ----------------------------------------------------------------------------- helpers


def test_class_members_and_uniform_counts():
    labels = np.array([2, 0, 1, 2, 2, 0])
    members = common.class_members(labels)
    assert [m.tolist() for m in members] == [[1, 5], [2], [0, 3, 4]]
    np.testing.assert_array_equal(common.uniform_class_counts(labels, 3), uniform_counts(labels, 3))


def test_hardest_first_ties_by_lower_index():
    scores = np.array([1.0, 3.0, 3.0, 0.5, 3.0])
    assert common.hardest_first(scores).tolist() == [1, 2, 4, 0, 3]
    assert common.hardest_first(scores, np.array([4, 3, 2])).tolist() == [2, 4, 3]


def test_el2n_easy_keeps_exactly_the_lowest_scores():
    from coreset_core.methods import select

    rng = np.random.default_rng(5)
    scores = rng.random(200)
    labels = np.arange(200) % 4
    kept = select("el2n-easy", prune_rate=0.75, labels=labels, scores=scores)
    assert np.array_equal(kept, np.sort(np.argsort(scores)[:50]))
