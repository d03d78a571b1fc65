"""Fair training budgets (equal epochs or equal optimiser steps) and CW-ERM's weighted training in a sweep."""
from __future__ import annotations

import json
import math
import sqlite3

import numpy as np
import pytest
from sweep_helpers import write_digits_embeddings

from coreset_core.cli import main
from coreset_core.spec import DataSpec
from coreset_core.experiments.store import COLUMNS, ResultsStore, summary_frame
from coreset_core.experiments.run_config import RunConfig, train_budget_epochs
from coreset_core.experiments.sweep import plan_sweep, run_sweep

LT = DataSpec("cifar10-lt", limit=300)


@pytest.fixture(scope="module")
def digits_spec(tmp_path_factory) -> DataSpec:
    path = write_digits_embeddings(tmp_path_factory.mktemp("digits") / "digits.npz")
    return DataSpec(f"embeddings:{path}", score_epochs=2)


def _steps(n: int, batch: int, epochs: int) -> int:
    """Optimiser steps of `epochs` epochs over `n` samples, counted batch by batch (a last short batch is a step)."""
    steps = 0
    for _ in range(epochs):
        left = n
        while left > 0:
            left -= batch
            steps += 1
    return steps


@pytest.mark.parametrize("epochs,n_full,n_kept,batch,expected", [
    (15, 1438, 719, 256, 30),   # 6 batches per full epoch, 3 per subset epoch: 90 steps = 30 epochs
    (30, 50000, 5000, 256, 294),  # ceil(50000/256) = 196, ceil(5000/256) = 20: 30 * 196 / 20 = 294
    (10, 1000, 1000, 64, 10),   # nothing pruned: unchanged
    (7, 100, 30, 256, 7),       # one batch either way
    (3, 1000, 1, 100, 30),      # one sample: one step per epoch, 3 * 10 steps
    (4, 1000, 300, 128, 11),    # 8 vs 3 batches: 32 steps / 3 per epoch = 10.7 -> 11 epochs
])
def test_steps_budget_matches_a_hand_count(epochs, n_full, n_kept, batch, expected):
    got = train_budget_epochs(epochs, n_full, n_kept, batch, "steps")
    assert got == expected
    # the subset's steps reach the full set's, and one epoch fewer would not (counted batch by batch)
    assert _steps(n_kept, batch, got) >= _steps(n_full, batch, epochs)
    assert got == epochs or _steps(n_kept, batch, got - 1) < _steps(n_full, batch, epochs)
    assert train_budget_epochs(epochs, n_full, n_kept, batch, "epochs") == epochs


def test_budget_is_validated_and_enters_the_run_id_only_when_steps():
    with pytest.raises(ValueError, match="train_budget must be one of"):
        RunConfig(LT, "random", 0.5, train_budget="iterations")
    with pytest.raises(ValueError, match="n_kept"):
        train_budget_epochs(3, 10, 11, 4)
    with pytest.raises(ValueError, match="budget"):
        train_budget_epochs(3, 10, 5, 4, "time")
    base = RunConfig(LT, "random", 0.5)
    assert base.train_budget == "epochs" and "budget" not in base.identity()  # earlier runs keep their ids
    assert RunConfig(LT, "random", 0.5, train_budget="epochs").run_id == base.run_id
    steps = base.replace(train_budget="steps")
    assert steps.run_id != base.run_id and steps.identity()["budget"] == "steps"
    assert "--train-budget steps" in steps.command() and "--train-budget" not in base.command()
    assert "train_budget=steps" in steps.describe()
    planned = plan_sweep(LT, ["random"], [0.5], [0, 1], train_budget="steps")
    assert {c.train_budget for c in planned} == {"steps"} and len(planned) == 4


def test_a_steps_run_trains_the_hand_computed_epochs_and_the_row_records_it(digits_spec, session_cache_dir):
    from coreset_core.methods import run_method
    from coreset_core.session import Session
    from coreset_core.training import train_linear_probe

    configs = [RunConfig(digits_spec, "random", 0.5, 1, epochs=3, train_budget=b) for b in ("epochs", "steps")]
    configs.append(RunConfig(digits_spec, "full", 0.0, 1, epochs=3, train_budget="steps"))
    store = ResultsStore(session_cache_dir / "budget-rows.sqlite")
    report = run_sweep(configs, store, progress=False, cache_dir=session_cache_dir)
    assert report.ok, report.failed
    rows = {(r.method, r.train_budget): r for r in store.to_frame().itertuples()}
    # by hand: 1438 training digits, 719 kept, batch 256 -> 6 vs 3 batches per epoch; 3 * 6 / 3 = 6 epochs
    steps_row = rows[("random", "steps")]
    assert steps_row.num_kept == 719 and steps_row.epochs == 3 and steps_row.train_epochs == 6
    assert json.loads(steps_row.train_config_json)["epochs"] == 6
    assert rows[("random", "epochs")].train_epochs == 3 and rows[("full", "steps")].train_epochs == 3
    # independently: the same selection trained directly for 6 epochs gives the stored accuracy bit for bit
    fresh = Session(digits_spec, cache_dir=session_cache_dir)
    chosen = run_method("random", prune_rate=0.5, labels=fresh.labels, scores=fresh.difficulty("el2n"), seed=1)
    probe = train_linear_probe(fresh.train.features, fresh.labels, fresh.test.features, fresh.test.labels,
                               indices=chosen.indices, epochs=6, seed=1, num_classes=10)
    assert steps_row.accuracy == probe.metrics["accuracy"]
    # the two budgets are two settings: a table takes one of them
    frame = store.to_frame()
    with pytest.raises(ValueError, match="train_budget"):
        summary_frame(frame)
    steps_table = summary_frame(frame, train_budget="steps")
    assert set(steps_table["method"]) == {"full", "random"}


def test_a_store_written_before_budgets_reads_its_rows_as_equal_epochs(tmp_path):
    db = tmp_path / "old.sqlite"
    old = {k: v for k, v in COLUMNS.items() if k not in ("train_budget", "train_epochs")}
    with sqlite3.connect(db) as con:
        con.execute("CREATE TABLE runs (" + ", ".join(f'"{k}" {v}' for k, v in old.items()) + ")")
        con.execute("INSERT INTO runs (run_id, config_json, method, epochs) VALUES ('a', '{}', 'random', 30)")
    store = ResultsStore(db)
    frame = store.to_frame()
    assert frame.loc[0, "train_budget"] == "epochs" and frame.loc[0, "train_epochs"] is None
    assert len(store.to_frame(train_budget="epochs")) == 1


def test_a_store_with_the_earlier_budget_column_is_renamed_and_keeps_its_rows(tmp_path):
    db = tmp_path / "budget.sqlite"
    earlier = {("budget" if k == "train_budget" else k): v for k, v in COLUMNS.items()}
    with sqlite3.connect(db) as con:
        con.execute("CREATE TABLE runs (" + ", ".join(f'"{k}" {v}' for k, v in earlier.items()) + ")")
        con.execute("INSERT INTO runs (run_id, config_json, method, epochs, budget) "
                    "VALUES ('a', '{}', 'random', 3, 'steps')")
    store = ResultsStore(db)
    assert store.get_row("a").train_budget == "steps" and store.to_frame().loc[0, "train_budget"] == "steps"
    with sqlite3.connect(db) as con:
        names = {row[1] for row in con.execute("PRAGMA table_info(runs)")}
    assert "train_budget" in names and "budget" not in names
    assert ResultsStore(db).get_row("a").train_budget == "steps"  # opening again changes nothing


def test_cli_budget_flag_reaches_the_stored_row(digits_spec, tmp_path, session_cache_dir, capsys):
    db = tmp_path / "r.sqlite"
    argv = ["train", "--dataset", digits_spec.dataset, "--score-epochs", "2", "--method", "random",
            "--prune-rate", "0.5", "--seed", "1", "--epochs", "3", "--train-budget", "steps",
            "--cache-dir", str(session_cache_dir), "--db", str(db), "--quiet"]
    assert main(argv) == 0
    assert "trained 6 epochs (steps training budget)" in capsys.readouterr().out
    (row,) = ResultsStore(db).to_frame().itertuples()
    assert row.train_budget == "steps" and row.train_epochs == 6
    assert main(["sweep", "--dataset", digits_spec.dataset, "--methods", "random", "--prune-rates", "0.5",
                 "--seeds", "1", "--budget", "steps", "--epochs", "3", "--db", str(db), "--dry-run"]) == 0
    assert "train_budget=steps" in capsys.readouterr().out  # --budget: the option's earlier name still works


def test_a_cw_erm_row_was_trained_with_its_weights(digits_spec, session_cache_dir):
    from coreset_core.methods import reweight
    from coreset_core.session import Session
    from coreset_core.training import train_linear_probe

    configs = [RunConfig(digits_spec, m, 0.0, 2, {"steps": 30} if m == "cw-erm" else {}, epochs=5)
               for m in ("full", "cw-erm")]
    store = ResultsStore(session_cache_dir / "cw-erm-rows.sqlite")
    assert run_sweep(configs, store, progress=False, cache_dir=session_cache_dir).ok
    full, cw = (store.get_row(c.run_id) for c in configs)
    assert cw.train_config_json["sample_weighted"] and not full.train_config_json["sample_weighted"]
    fresh = Session(digits_spec, cache_dir=session_cache_dir)
    weights = np.asarray(reweight("cw-erm", labels=fresh.labels, features=fresh.train.features, seed=2,
                                  steps=30).weights, dtype=np.float64)
    assert np.ptp(weights) > 0  # not uniform: weighting changes the loss
    assert math.isclose(float(np.sum(cw.selection_info_json["weight_sum_per_class"])), float(weights.sum()),
                        rel_tol=1e-9)
    args = (fresh.train.features, fresh.labels, fresh.test.features, fresh.test.labels)
    weighted = train_linear_probe(*args, sample_weights=weights, epochs=5, seed=2, num_classes=10)
    plain = train_linear_probe(*args, epochs=5, seed=2, num_classes=10)
    assert cw.accuracy == weighted.metrics["accuracy"] and full.accuracy == plain.metrics["accuracy"]
    assert not np.allclose(weighted.head.weight, plain.head.weight)  # the weights changed the trained head
