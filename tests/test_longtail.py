"""Long-tail metrics (SPEC section 9) against values worked out by hand, and their life in the store."""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from coreset_core.experiments.longtail import (check_shots, longtail_metrics, shot_groups, tail_classes,
                                               with_metrics)
from coreset_core.experiments.store import ResultsStore, per_class_frame, summary_frame

# Seven classes. Sizes:      500   150   101   100    20    19     3
# group (many>100, few<20):  many  many  many  med   med   few   few
# accuracies:                0.9   0.8   0.7   0.6   0.5   None  0.1   (class 5 had no test sample)
SIZES = [500, 150, 101, 100, 20, 19, 3]
ACC = [0.9, 0.8, 0.7, 0.6, 0.5, None, 0.1]
KEPT = [50, 15, 10, 0, 2, 0, 1]


def test_every_metric_by_hand():
    m = longtail_metrics(ACC, SIZES, KEPT)
    assert m["worst_class_accuracy"] == pytest.approx(0.1)
    assert m["many_shot_accuracy"] == pytest.approx((0.9 + 0.8 + 0.7) / 3)
    assert m["medium_shot_accuracy"] == pytest.approx((0.6 + 0.5) / 2)
    assert m["few_shot_accuracy"] == pytest.approx(0.1)  # class 5 has no accuracy: left out, not 0
    # floor(7 / 3) = 2 rarest classes: 6 (3 images) and 5 (19, unmeasured) -> only class 6 counts
    assert m["tail_accuracy"] == pytest.approx(0.1)
    assert m["classes_nothing_kept"] == 2


def test_shot_thresholds_move_the_groups():
    m = longtail_metrics(ACC, SIZES, KEPT, shots="150,100")  # many: >150, few: <100
    assert m["many_shot_accuracy"] == pytest.approx(0.9)
    assert m["medium_shot_accuracy"] == pytest.approx((0.8 + 0.7 + 0.6) / 3)
    assert m["few_shot_accuracy"] == pytest.approx((0.5 + 0.1) / 2)
    assert list(shot_groups(SIZES, (150, 100))) == ["many", "medium", "medium", "medium", "few", "few", "few"]


def test_empty_group_is_missing_not_zero():
    m = longtail_metrics([0.5, 0.7, 0.9], [5000, 3000, 1000])  # every class is many-shot
    assert m["medium_shot_accuracy"] is None and m["few_shot_accuracy"] is None
    assert m["many_shot_accuracy"] == pytest.approx(0.7)
    assert m["classes_nothing_kept"] is None  # no kept counts given


def test_tail_ties_break_by_class_id_and_one_class_at_least():
    # sizes tie: classes 1, 2, 4 have 10 images; floor(6/3) = 2 -> classes 1 and 2 (lower ids first)
    assert tail_classes([50, 10, 10, 40, 10, 60]).tolist() == [1, 2]
    m = longtail_metrics([0.9, 0.2, 0.4, 0.8, 0.0, 0.7], [50, 10, 10, 40, 10, 60])
    assert m["tail_accuracy"] == pytest.approx(0.3)
    assert tail_classes([7, 3]).tolist() == [1]  # C = 2: max(1, floor(2/3)) = 1


def test_a_random_vector_against_a_brute_force():
    rng = np.random.default_rng(3)
    sizes = rng.integers(1, 400, 30)
    acc = rng.uniform(0, 1, 30)
    m = longtail_metrics(acc.tolist(), sizes.tolist(), shots=(100, 20))
    by_size = sorted(range(30), key=lambda c: (sizes[c], c))[:10]
    assert m["tail_accuracy"] == pytest.approx(sum(acc[c] for c in by_size) / 10)
    many = [acc[c] for c in range(30) if sizes[c] > 100]
    few = [acc[c] for c in range(30) if sizes[c] < 20]
    assert m["many_shot_accuracy"] == pytest.approx(sum(many) / len(many))
    assert m["few_shot_accuracy"] == pytest.approx(sum(few) / len(few))
    assert m["worst_class_accuracy"] == pytest.approx(min(acc))


@pytest.mark.parametrize("bad", ["100", "20,100", "a,b", (5, 0), "100,20,3"])
def test_bad_shots_are_refused(bad):
    with pytest.raises(ValueError, match="MANY"):
        check_shots(bad)


def _row(run_id, method, rate, seed, acc, sizes=SIZES, kept=KEPT, **extra):
    return {"run_id": run_id, "config_json": "{}", "dataset": "toy-lt", "backbone": "b", "mode": "linear",
            "epochs": 30, "method": method, "params_json": "{}", "prune_rate": rate, "seed": seed,
            "accuracy": 0.5, "per_class_accuracy_json": acc, "class_sizes_json": sizes, "class_kept_json": kept,
            **extra}


def test_old_rows_are_upgraded_when_the_store_opens(tmp_path):
    import sqlite3

    path = tmp_path / "old.sqlite"
    ResultsStore(path).add(_row("a", "random", 0.5, 0, ACC))
    with sqlite3.connect(path) as con:  # as a store written before the long-tail columns existed
        con.execute("UPDATE runs SET worst_class_accuracy = NULL, tail_accuracy = NULL, few_shot_accuracy = NULL, "
                    "many_shot_accuracy = NULL, medium_shot_accuracy = NULL, classes_nothing_kept = NULL")
    row = ResultsStore(path).get("a")
    assert row["worst_class_accuracy"] == pytest.approx(0.1)
    assert row["medium_shot_accuracy"] == pytest.approx(0.55)
    assert row["classes_nothing_kept"] == 2


def test_a_table_of_each_metric_and_counts_not_in_percent(tmp_path):
    store = ResultsStore(tmp_path / "r.sqlite")
    store.add_many([_row("a", "random", 0.5, 0, ACC), _row("b", "random", 0.5, 1, [0.9, 0.8, 0.7, 0.6, 0.5, None, 0.3],
                                                           kept=[1, 1, 1, 1, 1, 1, 0])])
    frame = store.to_frame()
    worst = summary_frame(frame, metric="worst_class_accuracy")
    assert worst["mean"].iloc[0] == pytest.approx(20.0) and worst["std"].iloc[0] == pytest.approx(
        math.sqrt(2) * 10, rel=1e-6)
    nothing = summary_frame(frame, metric="classes_nothing_kept")
    assert nothing["mean"].iloc[0] == pytest.approx(1.5)
    other = with_metrics(frame, shots=(150, 100))
    assert other["many_shot_accuracy"].tolist() == pytest.approx([0.9, 0.9])
    assert other["few_shot_accuracy"].tolist() == pytest.approx([0.3, 0.4])
    with pytest.raises(ValueError, match="unknown metric"):
        summary_frame(frame, metric="best")


def test_per_class_frame_one_row_per_run_and_class(tmp_path):
    store = ResultsStore(tmp_path / "r.sqlite")
    store.add(_row("a", "nucs", 0.9, 2, ACC, class_test_sizes_json=[10] * 7,
                   class_names_json=[f"n{c}" for c in range(7)]))
    store.add(_row("b", "full", 0.0, 0, [0.5] * 7))  # stored without test counts or names
    table = per_class_frame(store.to_frame(), class_names=[f"x{c}" for c in range(7)])
    assert len(table) == 14
    a = table[table["run_id"] == "a"].sort_values("class")
    assert a["class_name"].tolist() == [f"n{c}" for c in range(7)]
    assert a["n_train"].tolist() == SIZES and a["n_kept"].tolist() == KEPT and a["n_test"].tolist() == [10] * 7
    assert a["accuracy"].isna().tolist() == [v is None for v in ACC]
    b = table[table["run_id"] == "b"]
    assert b["class_name"].iloc[3] == "x3" and b["n_test"].isna().all()
    assert {"dataset", "backbone", "method", "prune_rate", "seed"} <= set(table.columns)
    assert json.loads(a["params_json"].iloc[0]) == {}
    assert isinstance(table, pd.DataFrame)
