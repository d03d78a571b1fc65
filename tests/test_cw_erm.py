"""CW-ERM reweighting: coreset, Meta-Weight-Net weights, nearest-neighbour broadcast."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from coreset_core.methods import cw_erm, list_reweighting_methods, reweight  # noqa: E402
from coreset_core.methods.moderate import moderate_per_class  # noqa: E402


def make_data(seed=0, n_per_class=(150, 100, 60), d=12):
    rng = np.random.default_rng(seed)
    labels = np.concatenate([np.full(m, c) for c, m in enumerate(n_per_class)]).astype(np.int64)
    centers = rng.normal(scale=2.0, size=(len(n_per_class), d))
    features = (centers[labels] + rng.normal(size=(labels.size, d))).astype(np.float32)
    return labels, features


FAST = dict(steps=25, coreset_fraction=0.05)  # keeps each call well under a second


def test_weights_shape_range_and_coreset():
    labels, features = make_data()
    rw = reweight("cw-erm", labels=labels, features=features, seed=0, **FAST)
    assert rw.weights.shape == (labels.size,)
    assert rw.weights.dtype == np.float64
    assert np.all(np.isfinite(rw.weights)) and np.all((rw.weights > 0) & (rw.weights < 1))
    # coreset: class-wise Moderate with the uniform split of round(5 % of N), at least 5 per class
    counts = cw_erm.coreset_counts(labels, 0.05, 5)
    np.testing.assert_array_equal(np.bincount(labels[rw.coreset]), counts)
    assert counts.sum() >= round(0.05 * labels.size) and counts.min() >= 5
    np.testing.assert_array_equal(rw.coreset, moderate_per_class(labels, features, counts))
    assert rw.config["method"] == "cw-erm" and rw.config["params"]["steps"] == 25
    assert rw.config["coreset_size"] == rw.coreset.size


def test_default_coreset_is_about_one_percent_with_a_minimum_per_class():
    labels = np.repeat(np.arange(4), [2000, 1000, 700, 300])
    counts = cw_erm.coreset_counts(labels, 0.01, 5)
    # 1 % of 4000 = 40 split uniformly: 20, 10, 7, 3; the last class is raised to 5
    assert counts.tolist() == [20, 10, 7, 5]


def test_broadcast_gives_each_sample_its_nearest_coreset_weight():
    labels, features = make_data(seed=1)
    rw = reweight("cw-erm", labels=labels, features=features, seed=0, **FAST)
    core_w = rw.info["coreset_weights"]
    f = features.astype(np.float64)
    dmat = np.sqrt(((f[:, None, :] - f[None, rw.coreset, :]) ** 2).sum(-1))
    nearest = np.argmin(dmat, axis=1)
    np.testing.assert_allclose(rw.weights, core_w[nearest])
    np.testing.assert_allclose(rw.weights[rw.coreset], core_w)


def test_broadcast_function_on_a_hand_case():
    x = np.array([[0.0], [1.0], [4.0], [10.0], [6.0]])
    w = cw_erm.broadcast_weights(x, np.array([0, 3]), np.array([0.2, 0.9]))
    np.testing.assert_allclose(w, [0.2, 0.2, 0.2, 0.9, 0.9])


def test_meta_split_is_per_class_and_disjoint():
    labels, features = make_data()
    coreset = np.arange(0, labels.size, 7)
    train, meta = cw_erm.meta_split(labels, coreset, 0.25, seed=3)
    assert not set(train) & set(meta)
    assert set(train) | set(meta) == set(coreset)
    for c in range(3):
        assert (labels[meta] == c).sum() >= 1 and (labels[train] == c).sum() >= 1


def test_deterministic_and_seed_dependent():
    labels, features = make_data()
    a = reweight("cw-erm", labels=labels, features=features, seed=4, **FAST)
    b = reweight("cw-erm", labels=labels, features=features, seed=4, **FAST)
    c = reweight("cw-erm", labels=labels, features=features, seed=5, **FAST)
    np.testing.assert_array_equal(a.weights, b.weights)
    assert not np.array_equal(a.weights, c.weights)


def test_meta_weight_net_moves_the_weights():
    labels, features = make_data()
    rw = reweight("cw-erm", labels=labels, features=features, seed=0, steps=60, coreset_fraction=0.1)
    assert np.ptp(rw.info["coreset_weights"]) > 0  # not a constant map
    assert np.isfinite(rw.info["meta_loss_last"]) and rw.info["meta_loss_last"] < rw.info["meta_loss_first"]


def test_errors_name_the_known_methods_and_params():
    labels, features = make_data()
    assert list_reweighting_methods() == ["cw-erm"]
    with pytest.raises(ValueError, match="selection method, not a reweighting one"):
        reweight("random", labels=labels, features=features)
    with pytest.raises(ValueError, match="unknown method 'mw-net'"):
        reweight("mw-net", labels=labels, features=features)
    with pytest.raises(ValueError, match="no parameter"):
        reweight("cw-erm", labels=labels, features=features, bogus=1)
    with pytest.raises(ValueError, match="needs features"):
        reweight("cw-erm", labels=labels, features=None)
    with pytest.raises(ValueError, match="coreset_fraction"):
        reweight("cw-erm", labels=labels, features=features, coreset_fraction=0.0)
    with pytest.raises(ValueError, match="rows"):
        reweight("cw-erm", labels=labels, features=features[:10])
