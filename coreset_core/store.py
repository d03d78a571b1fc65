"""The results database: one SQLite row per training run.

A row holds everything needed to say how a number was made: the run's full config as
canonical JSON, the same fields as indexed columns (dataset, imbalance, backbone,
resolution, method, params, pruning rate, seed, training mode and hyper-parameters, code
version), how many samples each class kept, the metrics (accuracy, balanced accuracy,
per-class accuracy) and the timings.

`run_id` is a hash of the canonical config JSON and is the primary key, so storing the
same run twice keeps the first row (``INSERT ... ON CONFLICT DO NOTHING``): re-running a
sweep never duplicates rows. The database runs in WAL mode with a busy timeout, every
write is one short ``BEGIN IMMEDIATE`` transaction on its own connection, so several
processes (parallel sweep workers, two sweeps started by hand) can write at once
without losing or corrupting rows. `ResultsStore` holds only its path: it pickles, and
each worker opens its own connection.

`accuracy_table` turns the rows into the paper's layout: methods x pruning rates,
"mean ± std" over seeds, with the full-data accuracy in a 0 % column.
"""
from __future__ import annotations

import json
import math
import os
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

from .config import default_cache_dir

#: Schema of the `runs` table: column -> SQL type. Columns can be added later (the store
#: adds missing ones on open); never rename or remove one.
COLUMNS: dict[str, str] = {
    "run_id": "TEXT PRIMARY KEY",
    "config_json": "TEXT NOT NULL",
    # identity of the experiment (also inside config_json)
    "dataset": "TEXT",
    "imbalance": "REAL",
    "data_seed": "INTEGER",
    "backbone": "TEXT",
    "resolution": "INTEGER",
    "limit_n": "INTEGER",
    "test_limit": "INTEGER",
    "method": "TEXT",
    "params_json": "TEXT",
    "prune_rate": "REAL",
    "seed": "INTEGER",
    "mode": "TEXT",
    "epochs": "INTEGER",
    "lr": "REAL",
    "batch_size": "INTEGER",
    "score": "TEXT",
    "score_epochs": "INTEGER",
    "code_version": "TEXT",
    # what the run produced
    "num_train": "INTEGER",
    "num_kept": "INTEGER",
    "class_sizes_json": "TEXT",
    "class_kept_json": "TEXT",
    "accuracy": "REAL",
    "balanced_accuracy": "REAL",
    "per_class_accuracy_json": "TEXT",
    "selection_info_json": "TEXT",
    "train_config_json": "TEXT",
    "data_config_json": "TEXT",
    # timings (seconds) and provenance
    "prepare_seconds": "REAL",
    "selection_seconds": "REAL",
    "train_seconds": "REAL",
    "total_seconds": "REAL",
    "device": "TEXT",
    "host": "TEXT",
    "created_at": "TEXT",
}

_INDEXES = {
    "idx_runs_setting": ("dataset", "imbalance", "backbone", "mode"),
    "idx_runs_method": ("method", "prune_rate", "seed"),
}

#: Columns that must be present in every row handed to `add`.
REQUIRED = ("run_id", "config_json")

#: Columns that together identify one experimental *setting*: rows that differ only in
#: method, params, prune rate and seed are comparable in one table.
SETTING_COLUMNS = ("dataset", "imbalance", "data_seed", "backbone", "resolution", "limit_n", "test_limit", "mode",
                   "epochs", "lr", "batch_size", "score", "score_epochs", "code_version")

#: Order in which the paper's tables list the methods; others follow alphabetically.
PAPER_METHOD_ORDER = ("random", "el2n", "moderate", "ccs", "d2", "bws", "nucs", "nucs-o")

FULL_DATA = "full"


def default_db_path() -> Path:
    """`<cache dir>/results.sqlite` (`CORESET_CACHE_DIR` moves it)."""
    return default_cache_dir() / "results.sqlite"


def _to_sql(value: Any) -> Any:
    """Python/numpy values -> what sqlite3 stores (containers become JSON text)."""
    if value is None or isinstance(value, (str, bytes)):
        return value
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, sort_keys=True, default=_json_default)
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:  # numpy scalar
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (int, float)):
        return value
    return json.dumps(value, sort_keys=True, default=_json_default)


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    return str(value)


class ResultsStore:
    """A SQLite file of run results, safe for concurrent writers.

    `path` defaults to `<cache dir>/results.sqlite`. The object keeps no open
    connection (each call opens and closes one), so it can be pickled to worker
    processes and shared between threads.
    """

    def __init__(self, path: str | os.PathLike | None = None, *, timeout: float = 60.0):
        self.path = Path(path).expanduser() if path is not None else default_db_path()
        self.timeout = float(timeout)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._init_schema()

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
        with self._connect() as con:
            mode = _retry(lambda: con.execute("PRAGMA journal_mode=WAL").fetchone(), self.timeout)
            if not mode or str(mode[0]).lower() != "wal":
                raise RuntimeError(f"could not switch {self.path} to WAL mode (got {mode}); is it on a network drive?")
            con.execute("PRAGMA synchronous=NORMAL")
        with self._write() as con:
            cols = ",\n  ".join(f'"{name}" {kind}' for name, kind in COLUMNS.items())
            con.execute(f"CREATE TABLE IF NOT EXISTS runs (\n  {cols}\n)")
            present = {row[1] for row in con.execute("PRAGMA table_info(runs)")}
            for name, kind in COLUMNS.items():
                if name not in present:  # a store written by an older version
                    con.execute(f'ALTER TABLE runs ADD COLUMN "{name}" {kind.replace(" PRIMARY KEY", "")}')
            for index, columns in _INDEXES.items():
                con.execute(f"CREATE INDEX IF NOT EXISTS {index} ON runs ({', '.join(columns)})")

    # -- writing -------------------------------------------------------------------
    def add(self, row: Mapping[str, Any]) -> bool:
        """Store one run; False (and nothing written) if its `run_id` is already stored."""
        return self.add_many([row]) == 1

    def add_many(self, rows: Iterable[Mapping[str, Any]]) -> int:
        """Store several runs in one transaction; returns how many were new."""
        prepared = [self._prepare(row) for row in rows]
        if not prepared:
            return 0
        added = 0
        with self._write() as con:
            for values in prepared:
                names = ", ".join(f'"{k}"' for k in values)
                marks = ", ".join("?" for _ in values)
                cur = con.execute(f"INSERT INTO runs ({names}) VALUES ({marks}) ON CONFLICT(run_id) DO NOTHING",
                                  list(values.values()))
                added += cur.rowcount
        return added

    @staticmethod
    def _prepare(row: Mapping[str, Any]) -> dict[str, Any]:
        missing = [k for k in REQUIRED if row.get(k) in (None, "")]
        if missing:
            raise ValueError(f"a results row needs {missing}; build rows with coreset_core.sweep.run_one")
        unknown = sorted(set(row) - set(COLUMNS))
        if unknown:
            raise ValueError(f"unknown results column(s) {unknown}; known columns: {', '.join(COLUMNS)}")
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
        path = Path(path).expanduser()
        suffix = path.suffix.lower()
        if suffix not in (".csv", ".parquet", ".pq"):
            raise ValueError(f"cannot export to {path.name!r}: use a .csv or .parquet file name")
        frame = self.to_frame(**where)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        if suffix == ".csv":
            frame.to_csv(tmp, index=False)
        else:
            frame.to_parquet(tmp, index=False)
        os.replace(tmp, path)
        return path

    def integrity_check(self) -> str:
        """SQLite's `PRAGMA integrity_check` answer ("ok" when the file is sound)."""
        with self._connect() as con:
            return str(con.execute("PRAGMA integrity_check").fetchone()[0])


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

    `mean`/`std` are in percent; `std` is the sample standard deviation over seeds
    (ddof=1; NaN for a single seed). `filters` select rows by column value (None matches
    NULL), e.g. ``limit_n=None, mode="linear"``. Raises ValueError if the remaining rows
    mix several settings (different backbones, limits, epochs, ...): a table only
    compares methods under one setting.
    """
    import pandas as pd

    if metric not in ("accuracy", "balanced_accuracy"):
        raise ValueError(f"metric must be 'accuracy' or 'balanced_accuracy', got {metric!r}")
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
    rows["_value"] = rows[metric].astype(float) * 100.0
    stats = (rows.groupby(["method", "label", "prune_rate"])["_value"]
             .agg(mean="mean", std=lambda v: v.std(ddof=1) if len(v) > 1 else float("nan"), n="count")
             .reset_index())
    return stats


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
