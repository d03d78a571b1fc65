"""allocate_budgets against an exact rational-arithmetic reference written from SPEC section 2."""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from coreset_core.allocation import allocate_budgets, allocate_budgets_for_total
from coreset_core.validation import budget_for


def reference(difficulty, sizes, total, mode="nucs", min_per_class=1):
    """SPEC section 2 step by step, in exact fractions and plain Python loops."""
    c = len(sizes)
    sizes = [int(v) for v in sizes]
    if mode == "nucs" and sum(Fraction(float(s)) * n for s, n in zip(difficulty, sizes)) > 0:
        w = [Fraction(float(s)) * n for s, n in zip(difficulty, sizes)]
    else:
        w = [Fraction(n) for n in sizes]
    x = [Fraction(0)] * c
    active = list(range(c))
    rem = Fraction(total)
    while active and rem > 0:  # water-filling
        ws = {i: w[i] for i in active}
        if sum(ws.values()) == 0:
            ws = {i: Fraction(sizes[i]) for i in active}
        tot = sum(ws.values())
        ideal = {i: rem * ws[i] / tot for i in active}
        over = [i for i in active if ideal[i] > sizes[i]]
        if not over:
            for i in active:
                x[i] = ideal[i]
            break
        for i in over:
            x[i] = Fraction(sizes[i])
            rem -= sizes[i]
            active.remove(i)
    n = [math.floor(v) for v in x]
    left = total - sum(n)
    for i in sorted(range(c), key=lambda i: (-(x[i] - n[i]), i)):  # largest fraction, ties lower index
        if left == 0:
            break
        if n[i] < sizes[i]:
            n[i] += 1
            left -= 1
    assert left == 0
    floors = [min(min_per_class, s) for s in sizes]
    if min_per_class > 0 and total >= sum(floors):
        for i in range(c):
            while n[i] < floors[i]:
                donor = max((j for j in range(c) if n[j] > floors[j]), key=lambda j: (n[j], -j))
                n[donor] -= 1
                n[i] += 1
    return n


RATES = [0.0, 0.01, 0.3, 0.5, 0.7, 0.9, 0.95, 0.99, 0.999]


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("mode", ["nucs", "uniform"])
def test_matches_reference_random(seed, mode):
    rng = np.random.default_rng(seed)
    c = int(rng.integers(1, 25))
    kind = seed % 3
    if kind == 0:  # balanced
        sizes = np.full(c, int(rng.integers(1, 200)))
    elif kind == 1:  # long-tailed (Cui et al.), down to tiny classes
        imb = float(rng.choice([10, 100, 500]))
        sizes = np.maximum(1, np.floor(500 * imb ** (-np.arange(c) / max(1, c - 1)))).astype(int)
    else:
        sizes = rng.integers(1, 300, size=c)
    diff = rng.gamma(0.5, size=c)  # heavy spread: hard classes overflow at low pruning rates
    diff[rng.random(c) < 0.15] = 0.0
    for rate in RATES:
        for mpc in (0, 1, 3):
            total = budget_for(rate, int(sizes.sum()))
            got = allocate_budgets(diff, sizes, rate, mode=mode, min_per_class=mpc)
            assert got.dtype == np.int64
            assert got.sum() == total
            assert np.all(got >= 0) and np.all(got <= sizes)
            assert got.tolist() == reference(diff, sizes, total, mode, mpc), (rate, mpc)


def test_hand_computed_rounding():
    # weights S*N = [3, 3, 8]; B = 5 -> x = [15/14, 15/14, 40/14]; floors [1, 1, 2]; the unit goes to class 2
    assert allocate_budgets([1, 1, 2], [3, 3, 4], 0.5).tolist() == [1, 1, 3]


def test_fractional_ties_go_to_lower_index():
    # uniform, 3 equal classes, B = 4: x = 4/3 each; one unit left, to class 0
    assert allocate_budgets_for_total([1, 1, 1], [10, 10, 10], 4, "uniform").tolist() == [2, 1, 1]


def test_capping_water_filling():
    # class 1 is 100x harder: its ideal 252.5 exceeds its 10 samples; the rest goes to class 0
    assert allocate_budgets([0.1, 10.0], [1000, 10], 0.5).tolist() == [495, 10]
    # two rounds of capping: class 2 overflows first (ideal 158.7 > 5); after re-splitting the leftover
    # class 1 overflows too (ideal 23.8 <= 30 at first, then 34.5 > 30)
    got = allocate_budgets_for_total([1.0, 2.5, 100.0], [1000, 30, 5], 500, "nucs", 0)
    assert got.tolist() == [465, 30, 5]
    assert got.tolist() == reference([1.0, 2.5, 100.0], [1000, 30, 5], 500, "nucs", 0)


def test_keep_everything_and_minimum():
    assert allocate_budgets([1, 2, 3], [5, 6, 7], 0.0).tolist() == [5, 6, 7]
    assert allocate_budgets_for_total([1, 2, 3], [5, 6, 7], 0, "nucs", 1).tolist() == [0, 0, 0]


def test_min_per_class_takes_from_largest():
    # x = [5, 5, 0]; class 2 gets one unit from the largest count (tie: lower index)
    assert allocate_budgets_for_total([1, 1, 0], [100, 100, 2], 10, "nucs", 1).tolist() == [4, 5, 1]
    assert allocate_budgets_for_total([1, 1, 0], [100, 100, 2], 10, "nucs", 0).tolist() == [5, 5, 0]
    # min_per_class larger than a class: that class keeps all it has
    assert allocate_budgets_for_total([1, 1, 0], [100, 100, 2], 10, "nucs", 3).tolist() == [4, 4, 2]
    # budget below C: not applied
    assert allocate_budgets_for_total([1, 0, 0, 0], [10, 10, 10, 10], 2, "nucs", 1).tolist() == [2, 0, 0, 0]


def test_zero_difficulty_falls_back_to_uniform():
    sizes = [50, 30, 20]
    np.testing.assert_array_equal(
        allocate_budgets([0, 0, 0], sizes, 0.6), allocate_budgets([5, 1, 2], sizes, 0.6, mode="uniform")
    )
    # leftover after capping goes to zero-weight classes by size
    assert allocate_budgets_for_total([1, 0, 0], [2, 30, 10], 22, "nucs", 0).tolist() == [2, 15, 5]


def test_uniform_is_the_same_fraction():
    sizes = np.array([500, 300, 100, 50, 10])
    got = allocate_budgets(np.ones(5), sizes, 0.8, mode="uniform")
    np.testing.assert_array_equal(got, [100, 60, 20, 10, 2])


def test_harder_classes_keep_larger_fraction():
    sizes = np.full(10, 1000)
    diff = np.linspace(0.1, 1.0, 10)
    got = allocate_budgets(diff, sizes, 0.9)
    assert np.all(np.diff(got) >= 0) and got[-1] > got[0]


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        (([1, 1], [5, 5], 1.0), {}, r"prune_rate must be in \[0, 1\)"),
        (([1, 1], [5, 5], -0.1), {}, "prune_rate"),
        (([1, 1], [5, 5], "x"), {}, "prune_rate must be a number"),
        (([1, 1], [5, 5], 0.5), {"mode": "global"}, "unknown allocation mode"),
        (([1, np.nan], [5, 5], 0.5), {}, "NaN"),
        (([1, -1], [5, 5], 0.5), {}, "non-negative"),
        (([1, 1, 1], [5, 5], 0.5), {}, "one value per class"),
        (([1, 1], [5, 0], 0.5), {}, r"class\(es\) \[1\] have no samples"),
        (([1, 1], [5, 2.5], 0.5), {}, "integer counts"),
        (([1, 1], [5, 5], 0.5), {"min_per_class": -1}, "min_per_class"),
    ],
)
def test_errors(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        allocate_budgets(*args, **kwargs)


def test_total_errors():
    with pytest.raises(ValueError, match=r"total budget must be in \[0, 10\]"):
        allocate_budgets_for_total([1, 1], [5, 5], 11)
    with pytest.raises(ValueError, match="integer count"):
        allocate_budgets_for_total([1, 1], [5, 5], 2.5)
