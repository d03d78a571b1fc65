"""Kept-fraction tables (classes x pruning rates)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from coreset_core.analysis import class_kept_fractions, kept_fraction_table
from coreset_core.methods.registry import run_method


def long_tailed(minority_harder: bool, seed: int = 0):
    """10 classes, class k has floor(5000 * 10^(-k/9)) // 10 samples (CIFAR-10-LT, I = 10, / 10).

    Scores: class k's difficulty level rises with k (minority harder) or falls with k
    (minority easier), plus per-sample noise.
    """
    rng = np.random.default_rng(seed)
    sizes = [int(np.floor(5000 * 10 ** (-k / 9))) // 10 for k in range(10)]
    labels = np.concatenate([np.full(m, k) for k, m in enumerate(sizes)]).astype(np.int64)
    level = labels / 9.0 if minority_harder else 1.0 - labels / 9.0
    scores = 0.2 + level + 0.25 * rng.random(labels.size)
    return labels, scores, sizes


def test_sizes_of_the_long_tailed_set():
    _, _, sizes = long_tailed(True)
    assert sizes == [500, 387, 299, 232, 179, 139, 107, 83, 64, 50]


def test_class_kept_fractions():
    labels = np.array([0, 0, 1, 1, 1, 2])
    np.testing.assert_allclose(class_kept_fractions([0, 2, 3], labels), [0.5, 2 / 3, 0.0])
    np.testing.assert_allclose(class_kept_fractions([], labels), [0, 0, 0])
    with pytest.raises(ValueError, match="duplicates"):
        class_kept_fractions([1, 1], labels)
    with pytest.raises(ValueError, match=r"\[0, 6\)"):
        class_kept_fractions([6], labels)


def test_table_shape_and_values_match_run_method():
    labels, scores, _ = long_tailed(True)
    rates = [0.3, 0.5, 0.9]
    table = kept_fraction_table("random", rates, labels=labels, seed=3)
    assert isinstance(table, pd.DataFrame)
    assert table.shape == (10, 3)
    assert table.index.name == "class" and list(table.index) == list(range(10))
    assert table.columns.name == "prune_rate" and list(table.columns) == rates
    for rate in rates:
        sel = run_method("random", prune_rate=rate, labels=labels, seed=3)
        np.testing.assert_allclose(table[rate].to_numpy(), class_kept_fractions(sel.indices, labels))
    # overall kept fraction = 1 - rate (class sizes weight the fractions)
    sizes = np.bincount(labels)
    for rate in rates:
        assert (table[rate] * sizes).sum() == pytest.approx(round((1 - rate) * labels.size))


def test_table_passes_params_and_validates():
    labels, scores, _ = long_tailed(True)
    t = kept_fraction_table("ccs", [0.5], labels=labels, scores=scores, beta=0.1)
    assert t.shape == (10, 1)
    with pytest.raises(ValueError, match="no parameter"):
        kept_fraction_table("el2n", [0.5], labels=labels, scores=scores, beta=0.1)
    with pytest.raises(ValueError, match="prune_rate"):
        kept_fraction_table("el2n", [1.0], labels=labels, scores=scores)
    with pytest.raises(ValueError, match="empty"):
        kept_fraction_table("el2n", [], labels=labels, scores=scores)


def test_global_el2n_starves_an_easy_minority_class():
    labels, scores, _ = long_tailed(minority_harder=False)
    features = np.random.default_rng(5).normal(size=(labels.size, 8)) + labels[:, None]
    el2n = kept_fraction_table("el2n", [0.5, 0.9], labels=labels, scores=scores)
    uniform = kept_fraction_table("el2n-classwise", [0.5, 0.9], labels=labels, scores=scores)
    rand_cw = kept_fraction_table("random-classwise", [0.9], labels=labels)
    nucs = kept_fraction_table("nucs", [0.9], labels=labels, scores=scores, features=features)
    minority = 9
    assert el2n.loc[minority, 0.9] == 0.0  # every kept sample comes from the hard head classes
    assert el2n.loc[minority, 0.9] < uniform.loc[minority, 0.9]
    assert el2n.loc[minority, 0.9] < rand_cw.loc[minority, 0.9]
    # NUCS gives the easy minority less than the uniform share, but never starves it
    assert 0.0 < nucs.loc[minority, 0.9] < uniform.loc[minority, 0.9]
    # the class-wise variants keep the same fraction everywhere (up to integer rounding)
    np.testing.assert_allclose(uniform[0.9].to_numpy(), 0.1, atol=0.02)


def test_global_el2n_overkeeps_a_hard_minority_class():
    # The other direction: when the minority class is the hard one, global ranking keeps far
    # more than its share and empties the easy head class; NUCS sits in between.
    labels, scores, _ = long_tailed(minority_harder=True)
    features = np.random.default_rng(5).normal(size=(labels.size, 8)) + labels[:, None]
    el2n = kept_fraction_table("el2n", [0.9], labels=labels, scores=scores)
    uniform = kept_fraction_table("el2n-classwise", [0.9], labels=labels, scores=scores)
    nucs = kept_fraction_table("nucs", [0.9], labels=labels, scores=scores, features=features)
    assert el2n.loc[9, 0.9] > 3 * uniform.loc[9, 0.9]
    assert el2n.loc[0, 0.9] == 0.0  # the easy head class is emptied
    assert uniform.loc[9, 0.9] < nucs.loc[9, 0.9] < el2n.loc[9, 0.9]
    assert 0.0 < nucs.loc[0, 0.9] < uniform.loc[0, 0.9]
