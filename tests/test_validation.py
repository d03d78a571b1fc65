"""Bad inputs at the library's public edges (issue 10, items 1 and 16) and the JSON sanitiser."""
from __future__ import annotations

import json
import math
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from coreset_core.jsonable import to_jsonable
from coreset_core.methods import get_method, list_methods, run_method
from coreset_core.methods import reweight
from coreset_core.methods.cw_erm import nearest_coreset
from coreset_core.methods.moderate import moderate_distances
from coreset_core.validation import check_features, check_indices, check_label_ids, check_labels
from coreset_core.windows import krr_window_search

FEATURE_METHODS = [m for m in list_methods() if get_method(m).needs_features and m != "nucs-o"]


def make_data(n_per_class=(40, 25, 15), d=5, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(len(n_per_class)), n_per_class).astype(np.int64)
    features = rng.normal(scale=3.0, size=(len(n_per_class), d))[labels] + rng.normal(size=(labels.size, d))
    return labels, rng.gamma(2.0, 1.0, labels.size), features.astype(np.float32)


# ----------------------------------------------------------------------------- item 1: a stray huge label


@pytest.mark.parametrize("bad", [2_000_000, 10 ** 9, 10 ** 15])
def test_stray_huge_label_is_a_short_fast_error(bad):
    labels = np.arange(100_000) % 10
    labels[12_345] = bad
    tracemalloc.start()
    try:
        with pytest.raises(ValueError) as err:
            check_labels(labels)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20 * 2 ** 20  # no per-class array of `bad` entries was built (numpy reports to tracemalloc)
    msg = str(err.value)
    assert len(msg) < 500
    assert f"labels[12345] = {bad}" in msg and "numpy.unique" in msg  # value, position and the fix
    with pytest.raises(ValueError, match=r"labels\[12345\] = .* out of range for num_classes=10 \(class ids 0\.\.9\)"):
        check_labels(labels, num_classes=10)


def test_every_public_edge_bounds_a_stray_label():
    labels, scores, features = make_data()
    labels[3] = 10 ** 9
    calls = [
        lambda: run_method("nucs", prune_rate=0.5, labels=labels, scores=scores, features=features),
        lambda: run_method("random", prune_rate=0.5, labels=labels),
        lambda: krr_window_search(features, labels, scores, [10, 10, 10]),
        lambda: reweight("cw-erm", labels=labels, features=features),
    ]
    try:
        from coreset_core.training import fit_linear_head, train_linear_probe
    except ImportError:  # pragma: no cover
        pass
    else:
        calls += [lambda: fit_linear_head(features, labels, epochs=1),
                  lambda: train_linear_probe(features, labels, features, labels % 3, epochs=1)]
    for call in calls:
        with pytest.raises(ValueError) as err:
            call()
        assert "1000000000" in str(err.value) and len(str(err.value)) < 500


def test_empty_classes_are_listed_briefly():
    labels = np.arange(5000) % 4000  # every id 0..3999 present ...
    labels[labels % 2 == 1] = 0  # ... now C = 3999 and its 1999 odd classes are empty
    with pytest.raises(ValueError) as err:
        check_labels(labels)
    msg = str(err.value)
    assert msg.startswith("1999 class(es) have no samples (1, 3, 5,") and "and 1989 more" in msg and len(msg) < 500
    with pytest.raises(ValueError, match="exceeds the 3 samples"):
        check_labels([0, 1, 2], num_classes=10 ** 9)


def test_label_ids_allow_absent_classes_but_not_out_of_range():
    np.testing.assert_array_equal(check_label_ids([0, 2, 2], num_classes=5), [0, 2, 2])
    with pytest.raises(ValueError, match=r"val\[1\] = -3 is negative"):
        check_label_ids([0, -3], name="val")
    with pytest.raises(ValueError, match="integer"):
        check_label_ids([0.0, 1e20])  # a whole float beyond 2**53 is not a class id


def test_indices_checks():
    np.testing.assert_array_equal(check_indices([3, 1], 5), [3, 1])
    assert check_indices([], 5, allow_empty=True).size == 0
    for bad, match in [([0, 5], r"indices\[1\] = 5 is not a position in \[0, 5\)"), ([1, 1], "duplicates"),
                       ([], "non-empty"), ([0.5], "integer")]:
        with pytest.raises(ValueError, match=match):
            check_indices(bad, 5)


# ----------------------------------------------------------------------------- item 16: 0 columns, huge values


@pytest.mark.parametrize("method", FEATURE_METHODS)
def test_zero_feature_columns_stop_every_feature_method(method):
    labels, scores, features = make_data()
    with pytest.raises(ValueError, match="0 columns"):
        run_method(method, prune_rate=0.5, labels=labels, scores=scores, features=features[:, :0])


def test_zero_feature_columns_stop_the_other_public_edges():
    labels, scores, features = make_data()
    empty = features[:, :0]
    calls = [lambda: krr_window_search(empty, labels, scores, [10, 10, 10]),
             lambda: reweight("cw-erm", labels=labels, features=empty),
             lambda: run_method("ram-apl", prune_rate=0.5, labels=labels, features=[features, empty])]
    from coreset_core.training import fit_linear_head, train_linear_probe

    calls += [lambda: fit_linear_head(empty, labels, epochs=1),
              lambda: train_linear_probe(empty, labels, empty, labels, epochs=1)]
    for call in calls:
        with pytest.raises(ValueError, match="0 columns"):
            call()


def test_float64_features_beyond_1e150_are_refused_with_the_fix():
    x = np.ones((3, 2))
    x[1, 1] = 1e200
    with pytest.raises(ValueError, match=r"reach 1e\+200 .* rescale them"):
        check_features(x, 3)
    assert check_features(np.full((2, 2), 3e38, dtype=np.float32), 2).dtype == np.float32  # float32: all accepted


def _huge(x):
    return (x.astype(np.float64) * 1e20).astype(np.float32)


def test_kcenter_on_huge_float32_features_is_the_float64_farthest_point_order():
    rng = np.random.default_rng(2)
    x = _huge(rng.normal(size=(60, 7)))
    x64 = x.astype(np.float64)
    dist = np.sqrt(((x64[:, None, :] - x64[None, :, :]) ** 2).sum(-1))  # ~1e20: finite in float64
    chosen = [int(np.random.default_rng(0).integers(60))]  # kcenter's seeded first center
    for _ in range(19):
        nearest = dist[:, chosen].min(axis=1)
        nearest[chosen] = -1.0
        chosen.append(int(np.argmax(nearest)))
    sel = run_method("kcenter", prune_rate=1 - 20 / 60, labels=np.zeros(60, dtype=np.int64), features=x, seed=0)
    np.testing.assert_array_equal(sel.indices, np.sort(chosen))


def test_moderate_and_cw_erm_on_huge_float32_features_have_no_nan():
    labels, scores, features = make_data(seed=5)
    huge = _huge(features)
    dist = moderate_distances(labels, huge)
    assert np.all(np.isfinite(dist))
    ref = np.empty(labels.size)
    for c in range(3):
        rows = huge[labels == c].astype(np.float64)
        ref[labels == c] = np.sqrt(((rows - np.median(rows, axis=0)) ** 2).sum(axis=1))
    np.testing.assert_allclose(dist, ref, rtol=1e-6)  # the median itself is taken in float32
    small = run_method("moderate", prune_rate=0.6, labels=labels, features=features)
    big = run_method("moderate", prune_rate=0.6, labels=labels, features=huge)
    assert big.indices.size == small.indices.size
    core = np.arange(0, labels.size, 7)
    near = nearest_coreset(huge, core)
    h64 = huge.astype(np.float64)
    ref_near = np.argmin(((h64[:, None, :] - h64[core][None, :, :]) ** 2).sum(-1), axis=1)
    np.testing.assert_array_equal(near, ref_near)
    rw = reweight("cw-erm", labels=labels, features=huge, steps=10, coreset_fraction=0.2)
    assert np.all(np.isfinite(rw.weights))


@pytest.mark.parametrize("method", FEATURE_METHODS)
def test_every_feature_method_survives_huge_float32_features(method):
    labels, scores, features = make_data(seed=6)
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # an overflow to inf/NaN fails the test
        sel = run_method(method, prune_rate=0.6, labels=labels, scores=scores, features=_huge(features))
    assert sel.indices.size == round(0.4 * labels.size)
    accuracies = sel.info.get("accuracies")
    if accuracies is not None:
        assert np.all(np.isfinite(accuracies))


# ----------------------------------------------------------------------------- one JSON sanitiser


def test_to_jsonable():
    value = {
        1: np.arange(3),
        "f": np.float32(1.5),
        "i": np.int64(7),
        "b": np.bool_(True),
        "t": (1, (2.0, float("nan"))),
        "inf": [math.inf, -np.inf],
        "p": Path("/tmp/x"),
        "s": {3, 1},
        "nested": {"a": np.array([[1.0, np.nan]])},
        "other": object,
    }
    out = to_jsonable(value)
    assert out == {"1": [0, 1, 2], "f": 1.5, "i": 7, "b": True, "t": [1, [2.0, None]], "inf": [None, None],
                   "p": "/tmp/x", "s": [1, 3], "nested": {"a": [[1.0, None]]}, "other": str(object)}
    assert type(out["i"]) is int and type(out["b"]) is bool
    json.dumps(out, allow_nan=False)  # strict JSON
    short = to_jsonable({"x": np.zeros((100, 3), dtype=np.float32), "y": list(range(5))}, max_items=10)
    assert short == {"x": "<array shape=[100, 3] dtype=float32>", "y": [0, 1, 2, 3, 4]}


@pytest.mark.parametrize("value, expected", [(3, 3), ("3", 3), (3.0, 3), (np.int64(7), 7), (0, 0)])
def test_check_whole_reads_whole_numbers(value, expected):
    from coreset_core.validation import check_whole

    got = check_whole(value, "seed", 0)
    assert got == expected and type(got) is int


@pytest.mark.parametrize("value", [True, 2.5, float("nan"), float("inf"), "a", None, -1, 10**400])
def test_check_whole_refuses_the_rest_naming_the_field(value):
    """The run seed, epochs and a selection request's seed share this check."""
    from coreset_core.experiments.run_config import RunConfig
    from coreset_core.request import SelectionRequest
    from coreset_core.spec import DataSpec
    from coreset_core.validation import check_whole

    with pytest.raises(ValueError, match=r"^seed must be a whole number >= 0, got "):
        check_whole(value, "seed", 0)
    with pytest.raises(ValueError, match=r"^seed must be a whole number >= 0"):
        SelectionRequest("random", 0.5, seed=value)
    with pytest.raises(ValueError, match=r"^epochs must be"):
        RunConfig(DataSpec(), "random", 0.5, epochs=value if value != -1 else 0)
