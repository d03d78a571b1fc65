"""class_difficulty against a per-class loop written from SPEC section 1."""
from __future__ import annotations

import numpy as np
import pytest
from references import winsorized_class_means

from coreset_core.difficulty import class_difficulty


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("winsor", [(0.0, 0.0), (0.05, 0.05), (0.0, 0.1), (0.2, 0.0), (0.49, 0.3), (0.013, 0.27)])
def test_matches_per_class_loop(seed, winsor):
    rng = np.random.default_rng(seed)
    c = int(rng.integers(1, 12))
    sizes = rng.integers(1, 60, size=c)
    sizes[0] = 1  # a one-sample class
    if c > 1:
        sizes[1] = 2
    labels = rng.permutation(np.repeat(np.arange(c), sizes))
    scores = rng.exponential(size=labels.size)
    scores[rng.random(labels.size) < 0.1] = 0.0
    scores[: 3] = 50.0  # outliers
    scores[rng.random(labels.size) < 0.2] = 1.0  # ties
    got = class_difficulty(scores, labels, winsor=winsor)
    np.testing.assert_allclose(got, winsorized_class_means(scores, labels, *winsor), rtol=1e-12, atol=0)


def test_plain_mean_and_outlier_resistance():
    labels = np.array([0] * 20 + [1] * 20)
    scores = np.r_[np.full(19, 1.0), 100.0, np.full(20, 2.0)]
    np.testing.assert_allclose(class_difficulty(scores, labels), [(19 + 100) / 20, 2.0])
    got = class_difficulty(scores, labels, winsor=(0.0, 0.1))
    assert got[0] == pytest.approx(1.0)  # q(0.9) of class 0 is 1.0: the outlier is clipped away
    assert class_difficulty(scores, labels, winsor=0.1)[1] == pytest.approx(2.0)  # scalar = symmetric


def test_num_classes_and_dtypes():
    labels = np.array([0, 1, 1, 2], dtype=np.int32)
    got = class_difficulty([1, 2, 4, 3], labels, num_classes=3)
    np.testing.assert_allclose(got, [1, 3, 3])
    assert got.dtype == np.float64


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(scores=[1.0, np.nan, 1.0], labels=[0, 1, 1]), "NaN"),
        (dict(scores=[1.0, np.inf, 1.0], labels=[0, 1, 1]), "NaN/inf"),
        (dict(scores=[1.0, -0.5, 1.0], labels=[0, 1, 1]), "non-negative"),
        (dict(scores=[1.0, 1.0], labels=[0, 1, 1]), "must match"),
        (dict(scores=[1.0, 1.0, 1.0], labels=[0, 2, 2]), r"1 class\(es\) have no samples \(1\)"),
        (dict(scores=[1.0, 1.0, 1.0], labels=[0, 1, 1], num_classes=3), "no samples"),
        (dict(scores=[1.0, 1.0, 1.0], labels=[0.5, 1, 1]), "integer class ids"),
        (dict(scores=[1.0, 1.0, 1.0], labels=[0, -1, 1]), r"labels\[1\] = -1 is negative"),
        (dict(scores=[1.0, 1.0, 1.0], labels=[0, 1, 1], winsor=(0.5, 0.0)), r"winsor lo .*\[0, 0.5\)"),
        (dict(scores=[1.0, 1.0, 1.0], labels=[0, 1, 1], winsor=(0.0, -0.1)), "winsor hi"),
        (dict(scores=[1.0, 1.0, 1.0], labels=[0, 1, 1], winsor=(0.1, 0.1, 0.1)), "pair"),
        (dict(scores=[1.0, 1.0, 1.0], labels=[0, 1, 1], winsor="x"), "pair"),
    ],
)
def test_errors(kwargs, match):
    kwargs = dict(kwargs)
    with pytest.raises(ValueError, match=match):
        class_difficulty(kwargs.pop("scores"), kwargs.pop("labels"), **kwargs)
