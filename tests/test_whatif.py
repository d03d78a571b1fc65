"""What-if comparisons and the CW-ERM view, against Python set arithmetic and numpy brute force."""
from __future__ import annotations

import dataclasses
import itertools
from collections import Counter

import numpy as np
import pytest

from coreset_studio.views import whatif
from coreset_studio.views.reweighting import reweighting_view
from coreset_core.session import Session
from coreset_core.spec import DataSpec

SPEC = DataSpec("digits", resolution=32, limit=300, test_limit=100)


@pytest.fixture(scope="module")
def session(session_cache_dir):
    return Session(SPEC, cache_dir=session_cache_dir)


def _random_selections(n=200, seed=0):
    rng = np.random.default_rng(seed)
    return {"a": rng.choice(n, 120, replace=False), "b": rng.choice(n, 60, replace=False),
            "c": rng.choice(n, 150, replace=False), "empty": np.zeros(0, dtype=np.int64)}


def test_jaccard_matrix_against_set_arithmetic():
    sel = _random_selections()
    m = whatif.jaccard_matrix(sel)
    assert list(m.index) == list(m.columns) == list(sel)
    for x, y in itertools.product(sel, sel):
        a, b = set(sel[x].tolist()), set(sel[y].tolist())
        expected = len(a & b) / len(a | b) if a | b else 1.0
        assert m.loc[x, y] == pytest.approx(expected), (x, y)


def test_class_counts_and_histograms_against_counters():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 4, 200)
    labels[:4] = np.arange(4)
    d = rng.gamma(2.0, 0.3, 200)
    sel = _random_selections()
    counts = whatif.class_counts(sel, labels)
    for name, idx in sel.items():
        c = Counter(labels[idx].tolist())
        assert counts[name].tolist() == [c.get(k, 0) for k in range(4)]
    hist = whatif.difficulty_histograms(sel, d, bins=7)
    edges = np.linspace(d.min(), d.max(), 8)  # shared bins over all samples
    for name, idx in sel.items():
        part = hist[hist["selection"] == name]
        np.testing.assert_allclose(part["left"], edges[:-1])
        np.testing.assert_allclose(part["right"], edges[1:])
        # count by hand: bin b holds edges[b] <= x < edges[b+1], the last bin closed on the right
        by_hand = [int(np.sum((d[idx] >= edges[b]) & ((d[idx] < edges[b + 1]) if b < 6 else (d[idx] <= edges[7]))))
                   for b in range(7)]
        assert part["count"].tolist() == by_hand
        assert part["count"].sum() == idx.size


def test_whatif_refuses_bad_input():
    with pytest.raises(ValueError, match="at least 1"):
        whatif.jaccard_matrix({})
    with pytest.raises(ValueError, match="distinct"):
        whatif.jaccard_matrix({"a": [1, 1, 2]})
    with pytest.raises(ValueError, match="at least two"):
        whatif.across_settings({"only": None}, "random", 0.5)


def test_three_selections_on_a_session(session):
    choices = [("random", 0.5), ("el2n", 0.5), ("nucs", 0.5, {"winsor": (0.1, 0.1)})]
    sels = whatif.compare_selections(session, choices)
    assert list(sels) == ["random @ 50%", "el2n @ 50%", "nucs (winsor=(0.1, 0.1)) @ 50%"]
    for (method, rate, *params), sel in zip(choices, sels.values()):
        assert np.array_equal(sel.indices, session.select(method, rate, **(params[0] if params else {})).indices)
    counts = whatif.class_counts(sels, session.labels, session.num_classes)
    assert counts.sum().tolist() == [150, 150, 150]


def test_across_settings_kept_fractions(session, session_cache_dir):
    # another setting on the same features (another scoring seed): no second feature extraction in the tests
    other = Session(dataclasses.replace(SPEC, score_seeds=(1,)), cache_dir=session_cache_dir)
    frame = whatif.across_settings({"score seed 0": session, "score seed 1": other}, "el2n", 0.5)
    assert not np.array_equal(session.select("el2n", 0.5).indices, other.select("el2n", 0.5).indices)
    for label, s in (("score seed 0", session), ("score seed 1", other)):
        part = frame[frame["setting"] == label]
        kept = np.bincount(s.labels[s.select("el2n", 0.5).indices], minlength=s.num_classes)
        np.testing.assert_array_equal(part["kept"], kept)
        np.testing.assert_allclose(part["kept_fraction"], kept / np.bincount(s.labels, minlength=s.num_classes))


def test_cw_erm_view_broadcast_and_per_class_distribution(session):
    view = reweighting_view(session, steps=30)
    x = session.train.features.astype(np.float64)
    core = view.coreset["position"].to_numpy()
    weights = view.samples["weight"].to_numpy()
    # brute force 1-NN over the coreset (ties: the lower coreset position)
    dist = ((x[:, None, :] - x[None, core, :]) ** 2).sum(axis=2)
    nearest = core[np.argmin(dist, axis=1)]
    nearest[core] = core
    np.testing.assert_array_equal(view.samples["source"], nearest)
    np.testing.assert_array_equal(weights, weights[nearest])  # every weight is its source's
    np.testing.assert_array_equal(view.samples["source_id"], session.ids[nearest])
    assert view.coreset["copies"].sum() == session.labels.size
    assert set(view.coreset["role"]) == {"train", "meta"}
    labels = session.labels
    for _, row in view.per_class.iterrows():
        w = weights[labels == row["class"]]
        assert row["count"] == w.size
        assert [row[k] for k in ("mean", "min", "median", "max")] == pytest.approx(
            [w.mean(), w.min(), np.median(w), w.max()])
