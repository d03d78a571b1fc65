"""The SQLite results store: keys, concurrency, export, and the paper-layout table."""
from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
import time

import numpy as np
import pandas as pd
import pytest

from coreset_core.experiments.store import (COLUMNS, ResultsStore, accuracy_table, format_cell, rate_label, summary_frame,
                                to_markdown)


def make_row(run_id: str, *, method: str = "random", prune_rate: float = 0.9, seed: int = 0,
             accuracy: float = 0.5, dataset: str = "cifar10-lt", **extra) -> dict:
    config = {"dataset": dataset, "method": method, "prune_rate": prune_rate, "seed": seed}
    return {"run_id": run_id, "config_json": json.dumps(config, sort_keys=True), "dataset": dataset,
            "imbalance": 10.0, "backbone": "efficientnet_lite0", "mode": "linear", "epochs": 30,
            "method": method, "params_json": "{}", "prune_rate": prune_rate, "seed": seed,
            "accuracy": accuracy, "balanced_accuracy": accuracy - 0.1,
            "per_class_accuracy_json": [accuracy] * 3, "class_kept_json": np.array([5, 3, 1]),
            "selection_seconds": 0.25, "train_seconds": 1.5, **extra}


def test_add_is_idempotent_and_round_trips(tmp_path):
    store = ResultsStore(tmp_path / "r.sqlite")
    assert store.add(make_row("a", accuracy=np.float32(0.75)))
    assert not store.add(make_row("a", accuracy=0.1))  # same run id: the first row stays
    assert store.add(make_row("b"))
    assert len(store) == 2 and store.has("a") and not store.has("zzz")
    row = store.get("a")
    assert row["accuracy"] == pytest.approx(0.75)
    assert json.loads(row["class_kept_json"]) == [5, 3, 1]
    assert json.loads(row["per_class_accuracy_json"]) == pytest.approx([0.75] * 3)
    assert row["created_at"].endswith("Z")
    assert store.add_many([make_row("b"), make_row("c"), make_row("d")]) == 2
    assert store.run_ids() == {"a", "b", "c", "d"}
    # a second handle on the same file (e.g. another process) sees the same rows
    assert len(ResultsStore(tmp_path / "r.sqlite")) == 4
    with sqlite3.connect(tmp_path / "r.sqlite") as con:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_bad_rows_are_rejected_with_a_clear_message(tmp_path):
    store = ResultsStore(tmp_path / "r.sqlite")
    with pytest.raises(ValueError, match="run_id"):
        store.add({"config_json": "{}"})
    with pytest.raises(ValueError, match="unknown results column"):
        store.add({**make_row("x"), "acuracy": 0.3})
    assert len(store) == 0


def test_default_path_follows_the_cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("CORESET_CACHE_DIR", str(tmp_path / "cachehere"))
    store = ResultsStore()
    assert store.path == tmp_path / "cachehere" / "results.sqlite"
    assert store.path.exists()


def test_old_database_gains_new_columns(tmp_path):
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as con:
        con.execute("CREATE TABLE runs (run_id TEXT PRIMARY KEY, config_json TEXT NOT NULL, accuracy REAL)")
        con.execute("INSERT INTO runs VALUES ('old', '{}', 0.5)")
    store = ResultsStore(path)
    assert store.add(make_row("new"))
    frame = store.to_frame()
    assert set(COLUMNS) <= set(frame.columns) and len(frame) == 2


def test_export_csv_and_parquet(tmp_path):
    store = ResultsStore(tmp_path / "r.sqlite")
    store.add_many([make_row(f"r{i}", seed=i, accuracy=0.5 + i / 10) for i in range(3)])
    store.add(make_row("other", dataset="cifar10"))
    for name in ("out.csv", "out.parquet"):
        path = store.export(tmp_path / name, dataset="cifar10-lt")
        back = pd.read_csv(path) if name.endswith(".csv") else pd.read_parquet(path)
        assert sorted(back["run_id"]) == ["r0", "r1", "r2"]
        assert back["accuracy"].tolist() == pytest.approx([0.5, 0.6, 0.7])
    with pytest.raises(ValueError, match=r"\.csv or \.parquet"):
        store.export(tmp_path / "out.xlsx")


_WRITER = textwrap.dedent("""
    import sys, time
    from coreset_core.experiments.store import ResultsStore
    path, tag, start = sys.argv[1], sys.argv[2], float(sys.argv[3])
    store = ResultsStore(path)
    while time.time() < start:
        time.sleep(0.005)
    for i in range(200):
        row = {"run_id": f"{tag}-{i}", "config_json": "{}", "dataset": "d", "method": tag,
               "prune_rate": 0.5, "seed": i, "accuracy": i / 200}
        assert store.add(row)
    print("done", tag)
""")


def test_two_processes_writing_at_once_lose_nothing(tmp_path):
    path = tmp_path / "shared.sqlite"
    ResultsStore(path)
    start = time.time() + 1.5  # both start writing at the same moment
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, str(path), tag, str(start)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for tag in ("p1", "p2")]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        assert "done" in out
    store = ResultsStore(path)
    ids = store.run_ids()
    assert len(ids) == 400 and len(store) == 400
    assert ids == {f"{t}-{i}" for t in ("p1", "p2") for i in range(200)}
    assert store.integrity_check() == "ok"
    with sqlite3.connect(path) as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def _table_frame() -> pd.DataFrame:
    rows = []
    accs = {  # method, rate -> per-seed accuracies
        ("full", 0.0): [0.90, 0.92, 0.94],
        ("random", 0.9): [0.80, 0.82, 0.87],
        ("random", 0.95): [0.70, 0.74, 0.72],
        ("nucs", 0.9): [0.85, 0.86, 0.87],
        ("el2n", 0.9): [0.60],  # a single seed: no std
    }
    for (method, rate), values in accs.items():
        for seed, acc in enumerate(values):
            rows.append(make_row(f"{method}-{rate}-{seed}", method=method, prune_rate=rate, seed=seed, accuracy=acc))
    frame = pd.DataFrame(rows)
    for col in COLUMNS:
        if col not in frame:
            frame[col] = None
    return frame


def test_accuracy_table_matches_a_hand_computation(tmp_path):
    store = ResultsStore(tmp_path / "r.sqlite")
    store.add_many(_table_frame().drop(columns=[c for c in COLUMNS if c not in make_row("x")]).to_dict("records"))
    frame = store.to_frame()
    stats = summary_frame(frame, dataset="cifar10-lt")
    rnd = stats[(stats.method == "random") & (stats.prune_rate == 0.9)].iloc[0]
    # by hand: mean(80, 82, 87) = 83; sample std = sqrt(((-3)^2 + (-1)^2 + 4^2) / 2) = sqrt(13)
    assert rnd["mean"] == pytest.approx(83.0)
    assert rnd["std"] == pytest.approx(np.sqrt(13.0))
    assert rnd["n"] == 3

    table = accuracy_table(frame, dataset="cifar10-lt")
    assert list(table.columns) == ["0%", "90%", "95%"]
    assert list(table.index) == ["full", "random", "el2n", "nucs"]  # full data first, then the paper's order
    assert table.loc["full", "0%"] == "92.0 ± 2.0"                # std(90, 92, 94) = 2
    assert table.loc["random", "90%"] == f"83.0 ± {np.sqrt(13):.1f}"
    assert table.loc["random", "95%"] == "72.0 ± 2.0"
    assert table.loc["nucs", "90%"] == "86.0 ± 1.0"
    assert table.loc["el2n", "90%"] == "60.0"                      # one seed: mean only
    assert table.loc["nucs", "95%"] == "-" and table.loc["random", "0%"] == "-"

    bal = accuracy_table(frame, dataset="cifar10-lt", metric="balanced_accuracy")
    assert bal.loc["nucs", "90%"] == "76.0 ± 1.0"
    md = to_markdown(table)
    assert md.splitlines()[0] == "| method | 0% | 90% | 95% |"
    assert "| random | - | 83.0 ± 3.6 | 72.0 ± 2.0 |" in md


def test_accuracy_table_refuses_to_mix_settings():
    frame = _table_frame()
    frame.loc[frame.index[:3], "epochs"] = 10
    with pytest.raises(ValueError, match="epochs"):
        accuracy_table(frame, dataset="cifar10-lt")
    assert list(accuracy_table(frame, dataset="cifar10-lt", epochs=30).index) == ["random", "el2n", "nucs"]
    with pytest.raises(ValueError, match="metric"):
        accuracy_table(frame, metric="f1")


def test_methods_with_several_parameter_sets_get_separate_rows():
    frame = _table_frame()
    extra = frame[frame.method == "random"].copy()
    extra["method"], extra["params_json"] = "ccs", '{"beta": 0.1}'
    extra["run_id"] = extra["run_id"] + "-b"
    other = extra.copy()
    other["params_json"], other["run_id"] = '{"beta": 0.0}', other["run_id"] + "0"
    table = accuracy_table(pd.concat([frame, extra, other]), dataset="cifar10-lt")
    assert {"ccs (beta=0.1)", "ccs (beta=0.0)"} <= set(table.index)


def test_formatting_helpers():
    assert rate_label(0.95) == "95%" and rate_label(0.0) == "0%" and rate_label(0.985) == "98.5%"
    assert format_cell(81.234, 0.456) == "81.2 ± 0.5"
    assert format_cell(81.234, float("nan")) == "81.2"
    assert format_cell(float("nan"), 1.0) == "-"


# -- the row type and bad database paths (issue 9 item 4, issue 10 item 9) -----------------------
def test_columns_are_the_result_row_fields_and_rows_round_trip(tmp_path):
    import dataclasses

    from coreset_core.experiments.store import ResultRow

    assert list(COLUMNS) == [f.name for f in dataclasses.fields(ResultRow)]
    assert COLUMNS["run_id"] == "TEXT PRIMARY KEY" and COLUMNS["accuracy"] == "REAL"
    row = ResultRow(run_id="r1", config_json="{}", method="random", accuracy=float("nan"),
                    class_kept_json=np.array([2, 0, 1]), per_class_accuracy_json=[0.5, None, 1.0],
                    selection_info_json={"curve": np.arange(3.0), "k": np.int64(4)})
    store = ResultsStore(tmp_path / "r.sqlite")
    assert store.add(row)
    back = store.get_row("r1")
    assert isinstance(back, ResultRow) and back.method == "random"
    assert back.accuracy is None  # NaN is stored as NULL, never as invalid JSON/REAL
    assert back.class_kept_json == [2, 0, 1] and back.per_class_accuracy_json == [0.5, None, 1.0]
    assert back.selection_info_json == {"curve": [0.0, 1.0, 2.0], "k": 4}
    assert store.get_row("nope") is None


@pytest.mark.parametrize("kind", ["text", "random bytes", "directory", "foreign table"])
def test_a_path_that_is_not_a_results_database_is_refused_by_name(tmp_path, kind):
    path = tmp_path / "results.db"
    if kind == "text":
        path.write_text("run_id,accuracy\nabc,0.5\n")
    elif kind == "random bytes":
        path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    elif kind == "directory":
        path.mkdir()
    else:
        with sqlite3.connect(path) as con:
            con.execute("CREATE TABLE runs (name TEXT, value REAL)")
    before = path.read_bytes() if path.is_file() else None
    with pytest.raises(ValueError) as info:
        ResultsStore(path)
    message = str(info.value)
    assert str(path) in message and "--db" in message
    assert (path.read_bytes() if path.is_file() else None) == before  # the file was not touched
    if kind == "directory":
        assert str(path / "results.sqlite") in message


def test_cli_reports_a_bad_db_without_a_traceback(tmp_path, capsys):
    from coreset_core.cli import main

    bad = tmp_path / "notes.txt"
    bad.write_text("my notes\n")
    for argv in (["results", "--db", str(bad)], ["sweep", "--dataset", "digits", "--methods", "random",
                                                 "--db", str(bad), "--dry-run"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: results database") and str(bad) in err and "Traceback" not in err
