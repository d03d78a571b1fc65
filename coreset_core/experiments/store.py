"""The results database: one SQLite row per training run, and the row type itself.

A row (`ResultRow`, built by `build_row` and nowhere else) holds everything needed to
say how a number was made: the run's full config as canonical JSON, the same fields as
indexed columns (the data setting, method, params, pruning rate, seed, training mode and
hyper-parameters, code version), how many samples each class kept, the metrics
(accuracy, balanced accuracy, per-class accuracy) and the timings. The schema `COLUMNS`
is derived from `ResultRow`'s fields, so the two cannot drift apart.

`run_id` is a hash of the canonical config JSON and is the primary key, so storing the
same run twice keeps the first row (``INSERT ... ON CONFLICT DO NOTHING``): re-running a
sweep never duplicates rows. The database runs in WAL mode with a busy timeout, every
write is one short ``BEGIN IMMEDIATE`` transaction on its own connection, so several
processes can write at once without losing or corrupting rows. `ResultsStore` holds only
its path: it pickles. A path that is not a results database (a directory, a text file,
random bytes) is refused up front with a message naming the file and the fix.

`accuracy_table` turns the rows into the paper's layout: methods x pruning rates,
"mean ± std" over seeds, with the full-data accuracy in a 0 % column.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import socket
import sqlite3
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

import numpy as np

from coreset_core.config import CODE_VERSION, default_cache_dir
from coreset_core.experiments.longtail import COUNT_METRICS, METRIC_LABELS, METRICS, row_metrics
from coreset_core.jsonable import to_jsonable

#: The full-data baseline's method name: train on every sample (prune rate 0).
FULL_DATA = "full"
#: Arrays and lists longer than this are summarised (shape and dtype) in a row's JSON extras.
MAX_JSON_ITEMS = 64
#: The first 16 bytes of every SQLite 3 database file.
SQLITE_MAGIC = b"SQLite format 3\x00"


def _col(sql: str, default: Any = None) -> Any:
    return field(default=default, metadata={"sql": sql})


@dataclass
class ResultRow:
    """One training run's row of the `runs` table (the field names are the column names).

    Fields ending in `_json` hold lists or dicts (stored as JSON text); the others are
    plain numbers and strings. Build rows with `build_row`; `ResultRow.from_record` reads
    a stored row back (JSON decoded).
    """

    run_id: str = field(metadata={"sql": "TEXT PRIMARY KEY"})
    config_json: str = field(metadata={"sql": "TEXT NOT NULL"})
    # identity of the experiment (also inside config_json)
    dataset: str | None = _col("TEXT")
    imbalance: float | None = _col("REAL")
    data_seed: int | None = _col("INTEGER")
    backbone: str | None = _col("TEXT")
    resolution: int | None = _col("INTEGER")
    limit_n: int | None = _col("INTEGER")
    test_limit: int | None = _col("INTEGER")
    method: str | None = _col("TEXT")
    params_json: Any = _col("TEXT")
    prune_rate: float | None = _col("REAL")
    seed: int | None = _col("INTEGER")
    mode: str | None = _col("TEXT")
    epochs: int | None = _col("INTEGER")
    lr: float | None = _col("REAL")
    batch_size: int | None = _col("INTEGER")
    #: the training budget: "epochs" (equal epochs) or "steps" (equal optimiser steps); rows stored before
    #: it read "epochs". Stores written when the column was called `budget` are renamed on open.
    train_budget: str | None = _col("TEXT DEFAULT 'epochs'", "epochs")
    #: the epochs actually trained (`epochs` under the "epochs" budget, more on a subset under "steps").
    train_epochs: int | None = _col("INTEGER")
    score: str | None = _col("TEXT")
    score_epochs: int | None = _col("INTEGER")
    code_version: str | None = _col("TEXT")
    # what the run produced
    num_train: int | None = _col("INTEGER")
    num_kept: int | None = _col("INTEGER")
    class_sizes_json: Any = _col("TEXT")
    class_kept_json: Any = _col("TEXT")
    accuracy: float | None = _col("REAL")
    balanced_accuracy: float | None = _col("REAL")
    per_class_accuracy_json: Any = _col("TEXT")
    #: test samples per class and the class names (rows stored before them read NULL)
    class_test_sizes_json: Any = _col("TEXT")
    class_names_json: Any = _col("TEXT")
    # long-tail metrics (`longtail.py`, default shots 100,20), filled for older rows when the store opens
    worst_class_accuracy: float | None = _col("REAL")
    tail_accuracy: float | None = _col("REAL")
    many_shot_accuracy: float | None = _col("REAL")
    medium_shot_accuracy: float | None = _col("REAL")
    few_shot_accuracy: float | None = _col("REAL")
    classes_nothing_kept: int | None = _col("INTEGER")
    selection_info_json: Any = _col("TEXT")
    train_config_json: Any = _col("TEXT")
    data_config_json: Any = _col("TEXT")
    # timings (seconds) and provenance
    prepare_seconds: float | None = _col("REAL")
    selection_seconds: float | None = _col("REAL")
    train_seconds: float | None = _col("REAL")
    total_seconds: float | None = _col("REAL")
    device: str | None = _col("TEXT")
    host: str | None = _col("TEXT")
    #: the Ray node id that ran the run (`--engine ray`); None under the local engine.
    node: str | None = _col("TEXT")
    created_at: str | None = _col("TEXT")

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> "ResultRow":
        """A row from a stored record (`ResultsStore.get`): JSON text columns decoded."""
        values = {}
        for f in dataclasses.fields(cls):
            value = record.get(f.name)
            if f.name.endswith("_json") and isinstance(value, str):
                value = json.loads(value)
            values[f.name] = value
        return cls(**values)


#: Schema of the `runs` table: column -> SQL type, in `ResultRow`'s field order. Columns can be
#: added later (the store adds missing ones on open); a renamed one goes in `RENAMED_COLUMNS`.
COLUMNS: dict[str, str] = {f.name: f.metadata["sql"] for f in dataclasses.fields(ResultRow)}

#: Columns renamed since stores were first written: old name -> new name (renamed on open).
RENAMED_COLUMNS = {"budget": "train_budget"}

_INDEXES = {
    "idx_runs_setting": ("dataset", "imbalance", "backbone", "mode"),
    "idx_runs_method": ("method", "prune_rate", "seed"),
}

#: Columns that must be present in every row handed to `add`.
REQUIRED = ("run_id", "config_json")

#: Columns that together identify one experimental *setting*: rows that differ only in
#: method, params, prune rate and seed are comparable in one table.
SETTING_COLUMNS = ("dataset", "imbalance", "data_seed", "backbone", "resolution", "limit_n", "test_limit", "mode",
                   "epochs", "train_budget", "lr", "batch_size", "score", "score_epochs", "code_version")

#: Order in which the paper's tables list the methods; others follow alphabetically.
PAPER_METHOD_ORDER = ("random", "el2n", "moderate", "ccs", "d2", "bws", "nucs", "nucs-o")


def _finite_or_none(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def build_row(config: Any, *, data: Mapping[str, Any], labels: np.ndarray, indices: np.ndarray, result: Any,
              selection_info: Mapping[str, Any], timings: Mapping[str, float],
              class_names: Sequence[str] | None = None) -> ResultRow:
    """The one place a `ResultRow` is made.

    `config` is a `coreset_core.experiments.run_config.RunConfig`; `data` the session's `data_record()`
    (resolution, number of classes, ...); `labels` the training labels and `indices` the
    kept positions; `result` the trainer's result (`metrics`, `config`); `timings` the
    `prepare`, `selection`, `train` and `total` seconds; `class_names` the names by class id.
    """
    spec = config.spec
    num_classes = int(data.get("num_classes") or int(labels.max()) + 1)
    metrics = dict(result.metrics or {})
    train_config = to_jsonable(dict(result.config or {}), max_items=MAX_JSON_ITEMS)
    identity = config.identity()
    sizes = np.bincount(labels, minlength=num_classes)
    kept = np.bincount(labels[indices], minlength=num_classes)
    per_class = to_jsonable(metrics.get("per_class_accuracy"))
    longtail = row_metrics({"per_class_accuracy_json": per_class, "class_sizes_json": sizes.tolist(),
                            "class_kept_json": kept.tolist()})
    return ResultRow(
        run_id=config.run_id, config_json=config.canonical_json(), dataset=spec.dataset, imbalance=spec.imbalance,
        data_seed=spec.data_seed, backbone=spec.backbone, resolution=data.get("resolution", spec.resolution),
        limit_n=spec.limit, test_limit=spec.test_limit, method=config.method,
        params_json=identity["params"], prune_rate=config.prune_rate, seed=config.seed, mode=config.mode,
        epochs=config.epochs, train_budget=config.train_budget,
        train_epochs=train_config.get("epochs", config.epochs),
        lr=config.lr if config.lr is not None else train_config.get("lr"),
        batch_size=config.batch_size if config.batch_size is not None else train_config.get("batch_size"),
        score=spec.score, score_epochs=spec.score_epochs, code_version=CODE_VERSION,
        num_train=int(labels.shape[0]), num_kept=int(indices.size),
        class_sizes_json=sizes.tolist(), class_kept_json=kept.tolist(),
        accuracy=_finite_or_none(metrics.get("accuracy")),
        balanced_accuracy=_finite_or_none(metrics.get("balanced_accuracy")),
        per_class_accuracy_json=per_class, class_test_sizes_json=to_jsonable(metrics.get("per_class_count")),
        class_names_json=None if class_names is None else [str(n) for n in class_names],
        **longtail,
        selection_info_json=to_jsonable(dict(selection_info), max_items=MAX_JSON_ITEMS),
        train_config_json=train_config, data_config_json=to_jsonable(dict(data), max_items=MAX_JSON_ITEMS),
        prepare_seconds=float(timings["prepare"]), selection_seconds=float(timings["selection"]),
        train_seconds=float(getattr(result, "train_seconds", None) or timings["train"]),
        total_seconds=float(timings["total"]), device=config.device, host=socket.gethostname(),
        created_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))


def default_db_path() -> Path:
    """`<cache dir>/results.sqlite` (`CORESET_CACHE_DIR` moves it)."""
    return default_cache_dir() / "results.sqlite"


def _to_sql(value: Any) -> Any:
    """Python/numpy values -> what sqlite3 stores (containers become JSON text, NaN/inf NULL)."""
    if value is None or isinstance(value, (str, bytes)):
        return value
    value = to_jsonable(value)
    if isinstance(value, bool):
        return int(value)
    if value is None or isinstance(value, (int, float, str)):
        return value
    return json.dumps(value, sort_keys=True, allow_nan=False)


def _not_a_store(path: Path, problem: str) -> ValueError:
    return ValueError(f"results database {path}: {problem}; point --db at a new file name (it is created) or at "
                      "a results database written by `coreset train` / `coreset sweep`")


def check_db_path(path: str | os.PathLike) -> Path:
    """`path` as a Path, refused (ValueError naming the file and the fix) unless it is a new file or SQLite."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise ValueError(f"results database {path} is a directory; give a file name inside it, e.g. "
                         f"--db {path / 'results.sqlite'}")
    if path.is_file() and path.stat().st_size > 0:
        try:
            with open(path, "rb") as fh:
                head = fh.read(len(SQLITE_MAGIC))
        except OSError as exc:
            raise _not_a_store(path, f"cannot be read ({exc.strerror})") from None
        if head != SQLITE_MAGIC:
            kind = "a text file" if _looks_like_text(head) else "not an SQLite file"
            raise _not_a_store(path, f"this is {kind}, not an SQLite database")
    elif path.exists() and not path.is_file():
        raise _not_a_store(path, "this is not a regular file")
    if path.parent.exists() and not path.parent.is_dir():
        raise ValueError(f"results database {path}: its folder {path.parent} is a file; choose another --db path")
    return path


def _looks_like_text(head: bytes) -> bool:
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(ch >= 32 or ch in (9, 10, 13) for ch in head)


class ResultsStore:
    """A SQLite file of run results, safe for concurrent writers.

    `path` defaults to `<cache dir>/results.sqlite`. The object keeps no open
    connection (each call opens and closes one), so it can be pickled to worker
    processes and shared between threads.
    """

    def __init__(self, path: str | os.PathLike | None = None, *, timeout: float = 60.0):
        self.path = check_db_path(path if path is not None else default_db_path())
        self.timeout = float(timeout)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ValueError(f"results database {self.path}: cannot create its folder ({exc.strerror}); "
                             "choose a --db path in a writable folder") from None
        try:
            self._init_schema()
        except sqlite3.DatabaseError as exc:  # corrupt beyond the header, or an unrelated `runs` table
            raise _not_a_store(self.path, f"SQLite could not use it ({exc})") from None

    def __repr__(self) -> str:
        return f"ResultsStore({str(self.path)!r})"

    # -- connections ---------------------------------------------------------------
    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        con = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
        try:
            con.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
            yield con
        finally:
            con.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction that takes the write lock up front (no lock upgrade deadlocks)."""
        with self._connect() as con:
            _retry(lambda: con.execute("BEGIN IMMEDIATE"), self.timeout)
            try:
                yield con
                _retry(lambda: con.execute("COMMIT"), self.timeout)
            except BaseException:
                try:
                    con.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
                raise

    def _init_schema(self) -> None:
        with self._connect() as con:  # read-only look first: a foreign database is left untouched
            present = {row[1] for row in con.execute("PRAGMA table_info(runs)")}
            if present and "run_id" not in present:
                raise sqlite3.DatabaseError("its `runs` table has no run_id column (another program's table)")
            mode = _retry(lambda: con.execute("PRAGMA journal_mode=WAL").fetchone(), self.timeout)
            if not mode or str(mode[0]).lower() != "wal":
                raise RuntimeError(f"could not switch {self.path} to WAL mode (got {mode}); is it on a network drive?")
            con.execute("PRAGMA synchronous=NORMAL")
        with self._write() as con:
            cols = ",\n  ".join(f'"{name}" {kind}' for name, kind in COLUMNS.items())
            con.execute(f"CREATE TABLE IF NOT EXISTS runs (\n  {cols}\n)")
            present = {row[1] for row in con.execute("PRAGMA table_info(runs)")}
            for old, new in RENAMED_COLUMNS.items():
                if old in present and new not in present:  # a store written before the rename
                    con.execute(f'ALTER TABLE runs RENAME COLUMN "{old}" TO "{new}"')
                    present = (present - {old}) | {new}
            for name, kind in COLUMNS.items():
                if name not in present:  # a store written by an older version
                    con.execute(f'ALTER TABLE runs ADD COLUMN "{name}" {kind.replace(" PRIMARY KEY", "")}')
            for index, columns in _INDEXES.items():
                con.execute(f"CREATE INDEX IF NOT EXISTS {index} ON runs ({', '.join(columns)})")
            _upgrade_longtail(con)

    # -- writing -------------------------------------------------------------------
    def add(self, row: ResultRow | Mapping[str, Any], *, replace: bool = False) -> bool:
        """Store one run; False (and nothing written) if its `run_id` is already stored, unless `replace`
        (then the stored row is replaced: `coreset train --force`)."""
        return self.add_many([row], replace=replace) == 1

    def add_many(self, rows: Iterable[ResultRow | Mapping[str, Any]], *, replace: bool = False) -> int:
        """Store several runs in one transaction; returns how many were written (new, or replaced)."""
        prepared = [self._prepare(row) for row in rows]
        if not prepared:
            return 0
        added = 0
        with self._write() as con:
            for values in prepared:
                names = ", ".join(f'"{k}"' for k in values)
                marks = ", ".join("?" for _ in values)
                verb = "INSERT OR REPLACE" if replace else "INSERT"
                conflict = "" if replace else " ON CONFLICT(run_id) DO NOTHING"
                cur = con.execute(f"{verb} INTO runs ({names}) VALUES ({marks}){conflict}", list(values.values()))
                added += cur.rowcount
        return added

    @staticmethod
    def _prepare(row: ResultRow | Mapping[str, Any]) -> dict[str, Any]:
        if isinstance(row, ResultRow):
            row = row.to_dict()
        missing = [k for k in REQUIRED if row.get(k) in (None, "")]
        if missing:
            raise ValueError(f"a results row needs {missing}; build rows with coreset_core.experiments.store.build_row")
        unknown = sorted(set(row) - set(COLUMNS))
        if unknown:
            raise ValueError(f"unknown results column(s) {unknown}; known columns: {', '.join(COLUMNS)}")
        if all(row.get(m) is None for m in METRICS):  # a row made without build_row: derive them here
            row = {**row, **{k: v for k, v in row_metrics(row).items() if v is not None}}
        values = {k: _to_sql(v) for k, v in row.items()}
        values.setdefault("created_at", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        return values

    # -- reading -------------------------------------------------------------------
    def has(self, run_id: str) -> bool:
        """Whether a run with this id is stored."""
        with self._connect() as con:
            return con.execute("SELECT 1 FROM runs WHERE run_id = ?", (run_id,)).fetchone() is not None

    def run_ids(self) -> set[str]:
        """Ids of every stored run."""
        with self._connect() as con:
            return {r[0] for r in con.execute("SELECT run_id FROM runs")}

    def __len__(self) -> int:
        with self._connect() as con:
            return int(con.execute("SELECT COUNT(*) FROM runs").fetchone()[0])

    def get(self, run_id: str) -> dict[str, Any] | None:
        """One stored row as a dict, or None."""
        with self._connect() as con:
            con.row_factory = sqlite3.Row
            row = con.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone()
            return dict(row) if row is not None else None

    def get_row(self, run_id: str) -> ResultRow | None:
        """One stored row as a `ResultRow` (JSON columns decoded), or None."""
        record = self.get(run_id)
        return None if record is None else ResultRow.from_record(record)

    def to_frame(self, **where: Any):
        """All rows (optionally only those whose columns equal `where`) as a pandas DataFrame."""
        import pandas as pd

        clauses, args = [], []
        for name, value in where.items():
            if name not in COLUMNS:
                raise ValueError(f"unknown results column {name!r}; known columns: {', '.join(COLUMNS)}")
            if value is None:
                clauses.append(f'"{name}" IS NULL')
            else:
                clauses.append(f'"{name}" = ?')
                args.append(_to_sql(value))
        sql = "SELECT * FROM runs" + (" WHERE " + " AND ".join(clauses) if clauses else "") + \
              " ORDER BY dataset, method, prune_rate, seed, created_at"
        with self._connect() as con:
            frame = pd.read_sql_query(sql, con, params=args)
        return frame

    def export(self, path: str | os.PathLike, **where: Any) -> Path:
        """Write the rows to CSV (`.csv`) or Parquet (`.parquet`/`.pq`), chosen by extension."""
        check_table_path(path)  # refused before reading the rows
        return write_table(self.to_frame(**where), path)

    def integrity_check(self) -> str:
        """SQLite's `PRAGMA integrity_check` answer ("ok" when the file is sound)."""
        with self._connect() as con:
            return str(con.execute("PRAGMA integrity_check").fetchone()[0])


def _upgrade_longtail(con: sqlite3.Connection) -> int:
    """Fill the long-tail metric columns of rows stored before they existed, from each row's stored
    per-class accuracies and class sizes (no re-training); returns how many rows changed."""
    pending = con.execute("SELECT run_id, per_class_accuracy_json, class_sizes_json, class_kept_json FROM runs "
                          "WHERE worst_class_accuracy IS NULL AND tail_accuracy IS NULL "
                          "AND per_class_accuracy_json IS NOT NULL AND class_sizes_json IS NOT NULL").fetchall()
    names = ", ".join(f'"{m}" = ?' for m in METRICS)
    changed = 0
    for run_id, accuracies, sizes, kept in pending:
        values = row_metrics({"per_class_accuracy_json": accuracies, "class_sizes_json": sizes,
                              "class_kept_json": kept})
        if any(v is not None for v in values.values()):
            con.execute(f"UPDATE runs SET {names} WHERE run_id = ?", [values[m] for m in METRICS] + [run_id])
            changed += 1
    return changed


def _retry(fn, timeout: float):
    """Call `fn`, retrying while SQLite reports the database busy/locked (beyond busy_timeout)."""
    deadline = time.monotonic() + timeout
    delay = 0.01
    while True:
        try:
            return fn()
        except sqlite3.OperationalError as exc:
            msg = str(exc).lower()
            if ("locked" not in msg and "busy" not in msg) or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.5)


# -- tables ----------------------------------------------------------------------------
def _method_label(method: str, params_json: str | None, multi: bool) -> str:
    if not multi or not params_json:
        return method
    try:
        params = json.loads(params_json)
    except ValueError:
        return f"{method} ({params_json})"
    inner = ", ".join(f"{k}={v}" for k, v in sorted(params.items()))
    return f"{method} ({inner})" if inner else method


def _settings(frame) -> list[dict[str, Any]]:
    cols = [c for c in SETTING_COLUMNS if c in frame.columns]
    if frame.empty:
        return []
    keys = frame[cols].astype(object).where(frame[cols].notna(), None).drop_duplicates()
    return [dict(zip(cols, row)) for row in keys.itertuples(index=False, name=None)]


def _select_setting(frame, setting: Mapping[str, Any]):
    mask = None
    for col, value in setting.items():
        m = frame[col].isna() if value is None else frame[col] == value
        mask = m if mask is None else (mask & m)
    return frame[mask] if mask is not None else frame


def settings_of(frame, dataset: str | None = None) -> list[dict[str, Any]]:
    """The distinct experimental settings (see `SETTING_COLUMNS`) present in `frame`."""
    if dataset is not None:
        frame = frame[frame["dataset"] == dataset]
    return _settings(frame)


def summary_frame(frame, *, dataset: str | None = None, metric: str = "accuracy", **filters: Any):
    """Long-form statistics per method and pruning rate: `method, prune_rate, mean, std, n`.

    `metric` is any of `longtail.METRIC_LABELS` (a stored column; `longtail.with_metrics` recomputes the
    long-tail ones at other shot thresholds). `mean`/`std` are in percent (counts, e.g.
    `classes_nothing_kept`, as they are); `std` is the sample standard deviation over seeds
    (ddof=1; NaN for a single seed). `filters` select rows by column value (None matches
    NULL), e.g. ``limit_n=None, mode="linear"``. Raises ValueError if the remaining rows
    mix several settings (different backbones, limits, epochs, ...): a table only
    compares methods under one setting.
    """
    import pandas as pd

    if metric not in METRIC_LABELS:
        raise ValueError(f"unknown metric {metric!r}; choose one of {', '.join(METRIC_LABELS)}")
    rows = frame
    if dataset is not None:
        rows = rows[rows["dataset"] == dataset]
    for col, value in filters.items():
        if col not in rows.columns:
            raise ValueError(f"unknown results column {col!r} to filter on")
        rows = rows[rows[col].isna()] if value is None else rows[rows[col] == value]
    settings = _settings(rows)
    if len(settings) > 1:
        differing = sorted({c for c in settings[0] if len({repr(s[c]) for s in settings}) > 1})
        raise ValueError(
            f"the selected rows mix {len(settings)} settings differing in {differing}; "
            f"filter on them (e.g. {differing[0]}=...) to get one comparable table"
        )
    rows = rows[rows[metric].notna()]
    if rows.empty:
        return pd.DataFrame(columns=["method", "label", "prune_rate", "mean", "std", "n"])
    rows = rows.copy()
    multi = rows.groupby("method")["params_json"].nunique(dropna=False)
    rows["label"] = [_method_label(m, p, bool(multi.get(m, 1) > 1)) for m, p in zip(rows["method"], rows["params_json"])]
    rows["_value"] = rows[metric].astype(float) * (1.0 if metric in COUNT_METRICS else 100.0)
    stats = (rows.groupby(["method", "label", "prune_rate"])["_value"]
             .agg(mean="mean", std=lambda v: v.std(ddof=1) if len(v) > 1 else float("nan"), n="count")
             .reset_index())
    return stats


#: Columns of `per_class_frame` after the setting columns.
PER_CLASS_COLUMNS = ("run_id", "method", "params_json", "prune_rate", "seed", "class", "class_name", "n_train",
                     "n_kept", "n_test", "accuracy")


def _json_list(value: Any) -> list | None:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    return value if isinstance(value, list) else None


def per_class_frame(frame, class_names: Sequence[str] | None = None):
    """One row per run and class: the setting columns, then `PER_CLASS_COLUMNS`.

    `n_train` is the class's size in the full training set, `n_kept` what the run kept,
    `n_test` its test samples (empty for rows stored before they were recorded) and
    `accuracy` its test accuracy (a fraction; empty when the class had no test sample).
    Class names come from the row, else from `class_names`, else the class id.
    """
    import pandas as pd

    setting = [c for c in SETTING_COLUMNS if c in frame.columns]
    out: list[tuple] = []
    for rec in frame.to_dict("records"):
        sizes = _json_list(rec.get("class_sizes_json")) or []
        columns = {k: _json_list(rec.get(f"{k}_json")) or [] for k in ("class_kept", "per_class_accuracy",
                                                                       "class_test_sizes", "class_names")}
        names = columns["class_names"] or list(class_names or [])
        head = tuple(rec.get(c) for c in setting) + (rec["run_id"], rec.get("method"), rec.get("params_json"),
                                                     rec.get("prune_rate"), rec.get("seed"))
        for c, n in enumerate(sizes):
            cell = lambda key: columns[key][c] if c < len(columns[key]) else None  # noqa: E731
            out.append(head + (c, str(names[c]) if c < len(names) else str(c), n, cell("class_kept"),
                               cell("class_test_sizes"), cell("per_class_accuracy")))
    table = pd.DataFrame(out, columns=[*setting, *PER_CLASS_COLUMNS])
    for col in ("n_train", "n_kept", "n_test"):
        table[col] = table[col].astype("Int64")
    table["accuracy"] = pd.to_numeric(table["accuracy"], errors="coerce")
    return table


def check_table_path(path: str | os.PathLike) -> Path:
    """`path` as a Path, refused (ValueError) unless it names a .csv or .parquet/.pq file."""
    path = Path(path).expanduser()
    if path.suffix.lower() not in (".csv", ".parquet", ".pq"):
        raise ValueError(f"cannot export to {path.name!r}: use a .csv or .parquet file name")
    return path


def write_table(table, path: str | os.PathLike) -> Path:
    """Write a DataFrame to CSV (`.csv`) or Parquet (`.parquet`/`.pq`), chosen by extension, atomically."""
    path = check_table_path(path)
    suffix = path.suffix.lower()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        if suffix == ".csv":
            table.to_csv(tmp, index=False)
        else:
            table.to_parquet(tmp, index=False)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _method_rank(method: str) -> tuple[int, str]:
    if method == FULL_DATA:
        return (-1, method)
    if method in PAPER_METHOD_ORDER:
        return (PAPER_METHOD_ORDER.index(method), method)
    return (len(PAPER_METHOD_ORDER), method)


def format_cell(mean: float, std: float, decimals: int = 1) -> str:
    """`"mean ± std"` (just the mean when the std is undefined, one seed)."""
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "-"
    if std is None or (isinstance(std, float) and math.isnan(std)):
        return f"{mean:.{decimals}f}"
    return f"{mean:.{decimals}f} ± {std:.{decimals}f}"


def rate_label(rate: float) -> str:
    """0.95 -> "95%"."""
    pct = round(float(rate) * 100, 6)
    return f"{pct:g}%"


def accuracy_table(frame, *, dataset: str | None = None, metric: str = "accuracy", decimals: int = 1,
                   **filters: Any):
    """Methods x pruning rates, each cell "mean ± std" (percent) over seeds: the paper's layout.

    The first row is the full-data run ("full", trained on every sample) whose value sits
    in the 0 % column; the selection methods fill the other columns. Cells without runs
    read "-". `filters` and the one-setting rule as in `summary_frame`.
    """
    import pandas as pd

    stats = summary_frame(frame, dataset=dataset, metric=metric, **filters)
    if stats.empty:
        return pd.DataFrame()
    rates = sorted(set(stats["prune_rate"].astype(float)) | {0.0})
    labels = sorted(stats[["method", "label"]].drop_duplicates().itertuples(index=False, name=None),
                    key=lambda ml: (_method_rank(ml[0]), ml[1]))
    table = pd.DataFrame("-", index=[lbl for _, lbl in labels], columns=[rate_label(r) for r in rates])
    for rec in stats.itertuples(index=False):
        table.loc[rec.label, rate_label(rec.prune_rate)] = format_cell(rec.mean, rec.std, decimals)
    table.index.name = "method"
    return table


def to_markdown(table) -> str:
    """A DataFrame from `accuracy_table` as a GitHub Markdown table (no tabulate needed)."""
    if table.empty:
        return "(no results)"
    head = [table.index.name or ""] + [str(c) for c in table.columns]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] + ["---:"] * len(table.columns)) + "|"]
    for idx, row in table.iterrows():
        lines.append("| " + " | ".join([str(idx)] + [str(v) for v in row.tolist()]) + " |")
    return "\n".join(lines)
