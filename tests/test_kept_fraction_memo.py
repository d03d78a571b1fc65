"""`Session.kept_fraction_table` is memoised: the memoised table equals one computed afresh (brute force
from `run_method`), a second call does no selection work, and callers cannot change the memo."""
from __future__ import annotations

import numpy as np
import pytest

from coreset_core.analysis import class_kept_fractions, kept_fraction_table, kept_fractions
from coreset_core.methods import registry
from coreset_core.methods.registry import run_method
from coreset_core.session import Session
from coreset_core.spec import DataSpec

SPEC = DataSpec("digits", resolution=32, limit=300, test_limit=100)
RATES = [0.1, 0.5, 0.9]


@pytest.fixture(scope="module")
def session(session_cache_dir):
    return Session(SPEC, cache_dir=session_cache_dir).prepare(test=False)


def brute_force(method: str, session: Session, rates) -> np.ndarray:
    """classes x rates: kept count / class size, counted sample by sample."""
    labels, scores = session.labels.tolist(), session.difficulty()
    out = np.zeros((session.num_classes, len(rates)))
    for j, rate in enumerate(rates):
        kept = run_method(method, prune_rate=rate, labels=session.labels, scores=scores).indices
        for k in range(session.num_classes):
            out[k, j] = sum(labels[i] == k for i in kept) / labels.count(k)
    return out


@pytest.mark.parametrize("method", ["el2n", "ccs", "el2n-classwise"])
def test_memoised_table_equals_a_fresh_computation(session, method, monkeypatch):
    table = session.kept_fraction_table(method, RATES)
    np.testing.assert_allclose(table.to_numpy(), brute_force(method, session, RATES), rtol=0, atol=1e-15)
    fresh = kept_fraction_table(method, RATES, labels=session.labels, scores=session.difficulty())
    np.testing.assert_array_equal(table.to_numpy(), fresh.to_numpy())
    assert list(table.columns) == RATES and table.index.name == "class"
    calls = []
    original = registry._run_validated
    monkeypatch.setattr(registry, "_run_validated", lambda *a, **k: calls.append(a) or original(*a, **k))
    table.iloc[:, :] = -1.0  # the caller's copy
    again = session.kept_fraction_table(method, RATES)
    assert not calls  # memoised: no selection ran
    np.testing.assert_array_equal(again.to_numpy(), fresh.to_numpy())  # the memo was not changed


def test_trusted_kept_fractions_equal_the_checked_ones(session):
    sel = session.select("el2n", 0.7)
    np.testing.assert_array_equal(kept_fractions(sel.indices, session.labels, session.class_sizes),
                                  class_kept_fractions(sel.indices, session.labels, session.num_classes))
