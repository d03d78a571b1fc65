"""The Accuracy page's per-class figures at 10 and 1,000 classes, against numpy."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from coreset_studio.views.accuracy import binned_means, pruning_cost, size_bins
from coreset_studio.views.class_accuracy import accuracy_vs_size, cost_chart, shown_groups


def _per_class(c: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    sizes = np.round(5000 * 0.01 ** (np.arange(c) / max(c - 1, 1))).astype(int)  # imbalance 100
    rows = []
    for method, rate in (("full", 0.0), ("random", 0.9), ("nucs", 0.9)):
        acc = 100 * rng.uniform(0, 1, c)
        std = rng.uniform(0, 5, c)
        rows += [(method, rate, f"c{k}", k, int(sizes[k]), acc[k], std[k], 3) for k in range(c)]
    return pd.DataFrame(rows, columns=["method", "prune_rate", "class", "class_id", "n_train", "accuracy", "std", "n"])


def test_binned_means_against_a_loop():
    sizes = np.array([1, 2, 3, 10, 50, 100, 1000, 5000])
    values = np.array([1.0, 2.0, np.nan, 4.0, 5.0, 6.0, 7.0, 8.0])
    edges = size_bins(sizes, max_bins=3)
    assert edges[0] == 1 and edges[-1] >= 5000 and len(edges) == 4
    table = binned_means(sizes, values, edges)
    for rec in table.itertuples():
        i = int(np.searchsorted(edges, rec.size) - 1)
        inside = [v for n, v in zip(sizes, values) if edges[i] <= n < edges[i + 1] and not np.isnan(v)]
        assert rec.mean == pytest.approx(np.mean(inside)) and rec.classes == len(inside)
    assert table["classes"].sum() == 7  # the NaN class is left out


def test_the_cost_of_pruning_per_class():
    pc = _per_class(10)
    cost = pruning_cost(pc, "nucs", 0.9)
    a, f = pc[pc["method"] == "nucs"], pc[pc["method"] == "full"]
    assert cost["change"].to_numpy() == pytest.approx(a["accuracy"].to_numpy() - f["accuracy"].to_numpy())
    assert cost["std"].to_numpy() == pytest.approx(np.hypot(a["std"].to_numpy(), f["std"].to_numpy()))
    assert pruning_cost(pc, "nucs", 0.5).empty


@pytest.mark.parametrize("classes", [10, 1000])
def test_figures_stay_readable(classes):
    pc = _per_class(classes)
    groups = shown_groups(pc, ["random", "nucs"], 0.9)
    assert list(groups) == ["full data", "random at 90 %", "nucs at 90 %"]
    spec = accuracy_vs_size(groups, title="t")
    costs = {k: pruning_cost(pc, m, 0.9) for k, m in (("random at 90 %", "random"), ("nucs at 90 %", "nucs"))}
    cost = cost_chart(costs, title="t")
    many = classes > 40
    assert len(spec["data"]) == (6 if many else 3) and spec["layout"]["xaxis"]["type"] == "log"
    assert len(cost["data"]) == (4 if many else 2)
    if many:  # the binned line is the mean of the points in each size bin
        line = spec["data"][1]
        edges = size_bins(pc["n_train"])
        expected = binned_means(groups["full data"]["n_train"], groups["full data"]["accuracy"], edges)
        assert line["y"] == pytest.approx(expected["mean"].tolist()) and len(line["y"]) <= 10
    else:  # bars by class, largest class first
        assert cost["data"][0]["x"][0].startswith("c0 (5,000)")
