"""Experiment grids: one run is a pure function of its config; sweeps are resumable and engine-agnostic.

- `RunConfig` = a `DataSpec` (the data setting) + the run's own fields (method and its
  parameters, pruning rate, seed, training protocol). Its `run_id` hashes the spec's
  fields, the run fields and the code version: the results store's key.
- `run_one(config)` turns a config into a `ResultRow`: a `Session` on the spec (features
  and scores, cached), select (or reweight, or take everything), train through one
  trainer interface (linear probe on frozen features or full fine-tuning), time it. It
  reads no global state and writes nothing but caches, so an engine can ship it anywhere.
- `plan_sweep(...)` builds the grid methods x pruning rates x seeds, plus the full-data
  baseline (method ``"full"``, prune rate 0) for every seed; `SweepPlan` keeps its arguments
  as one value that also renders the equivalent `coreset sweep` command line.
- `run_sweep(configs, store, engine=...)` skips run ids the store already holds (so it
  resumes after a crash, Ctrl-C or SIGKILL), hands the rest to an engine
  (`coreset_core.experiments.engines`: ``local`` processes or ``ray`` tasks) and writes each finished
  row into the store at once, on the driver: a kill loses only the runs in flight.

Reweighting methods (``cw-erm``) keep every sample and train with per-sample weights; they
are planned at prune rate 0 like the full-data baseline.

Training budget (`RunConfig.train_budget`): ``"epochs"`` trains every subset for `epochs` epochs
(fewer optimiser steps on a smaller subset); ``"steps"`` gives the subset as many optimiser
steps as the full training set gets in `epochs` epochs (`train_budget_epochs`). Which of the two
is the fair comparison is debated in the coreset literature, so both are offered and the
choice is recorded with every result.
"""
from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from contextlib import closing
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from coreset_core.request import MULTI_BACKBONE_METHODS
from coreset_core.spec import EMBEDDINGS_PREFIX, FILE_SCORE, DataSpec
from coreset_core.experiments.run_config import (DATA_FIELDS, RUN_FIELDS, RunConfig, is_reweighting, run_field_args,
                                                 train_budget_epochs)
from coreset_core.jsonable import to_jsonable
from coreset_core.experiments.store import FULL_DATA, ResultRow, build_row

# -- one run -----------------------------------------------------------------------------
_SESSIONS: "OrderedDict[tuple, Any]" = OrderedDict()
_SESSIONS_LOCK = threading.Lock()
#: Sessions kept per process: consecutive runs on one data setting reuse its loaded data.
MAX_SESSIONS = 2


def _session_for(config: RunConfig, cache_dir: Any, data_dir: Any, progress: bool):
    """This process's `Session` for the config's spec (a small LRU, so a worker loads data once)."""
    from coreset_core.session import Session

    key = (config.spec, str(cache_dir), str(data_dir), config.device, progress)
    with _SESSIONS_LOCK:
        session = _SESSIONS.pop(key, None)
        if session is None:
            session = Session(config.spec, data_dir=data_dir, cache_dir=cache_dir, device=config.device,
                              progress=progress)
        _SESSIONS[key] = session
        while len(_SESSIONS) > MAX_SESSIONS:
            _SESSIONS.popitem(last=False)
    return session


def _choose(config: RunConfig, session) -> tuple[np.ndarray | None, np.ndarray | None, dict[str, Any]]:
    """(kept positions or None for all, per-sample weights or None, selection extras)."""
    if config.method == FULL_DATA:
        return None, None, {}
    if is_reweighting(config.method):
        rw = session.reweight(config.request)
        per_class = np.bincount(session.labels, weights=rw.weights, minlength=session.num_classes)
        return None, rw.weights, {"coreset_size": int(rw.coreset.size), "config": rw.config,
                                  "weight_sum_per_class": per_class}
    selection = session.select(config.request)
    return np.asarray(selection.indices, dtype=np.int64), None, {**selection.info,
                                                                 "selection_config": selection.config}


def train_epochs(config: RunConfig, n_full: int, n_kept: int) -> int:
    """The epochs `config` trains its `n_kept` samples for (its budget; the trainer's default batch size)."""
    if config.batch_size is not None:
        batch = config.batch_size
    elif config.mode == "linear":
        from coreset_core.training.linear import DEFAULT_BATCH_SIZE as batch
    else:
        from coreset_core.training.finetune import DEFAULT_BATCH_SIZE as batch
    return train_budget_epochs(config.epochs, n_full, n_kept, batch, config.train_budget)


def _train(config: RunConfig, session, indices: np.ndarray | None, weights: np.ndarray | None, progress: bool):
    """The one trainer call: same keyword arguments for the linear probe and for fine-tuning."""
    from coreset_core.training import finetune, train_linear_probe

    n_full = int(session.labels.shape[0])
    epochs = train_epochs(config, n_full, n_full if indices is None else int(np.asarray(indices).size))
    options: dict[str, Any] = dict(indices=indices, sample_weights=weights, seed=config.seed, epochs=epochs,
                                   device=config.device, progress=progress)
    options.update({k: v for k, v in (("lr", config.lr), ("batch_size", config.batch_size)) if v is not None})
    if config.mode == "linear":
        return train_linear_probe(session.train.features, session.labels, session.test.features,
                                  session.test.labels, num_classes=session.num_classes, **options)
    # `limit` keeps the first N training images, so positions in the limited split are positions
    # in the dataset's split too: the indices need no translation.
    return finetune(session.dataset, backbone=config.spec.backbone, resolution=session.resolution,
                    test_limit=config.spec.test_limit, **options)


def run_one(config: RunConfig, *, cache_dir: str | os.PathLike | None = None,
            data_dir: str | os.PathLike | None = None, session: Any = None, progress: bool = False) -> ResultRow:
    """Run one experiment and return its `ResultRow`.

    A pure function of `config` (paths only say where the caches are): a `Session` on the
    spec (features + difficulty scores, cached on disk; `session` passes one in), select the
    coreset (or compute CW-ERM weights, or take everything for "full"), train, test.
    """
    if not isinstance(config, RunConfig):
        raise ValueError(f"run_one needs a RunConfig, got {type(config).__name__}")
    t_start = time.perf_counter()
    session = session if session is not None else _session_for(config, cache_dir, data_dir, progress)
    session.prepare(test=config.mode == "linear")
    t_selection = time.perf_counter()
    indices, weights, info = _choose(config, session)
    t_train = time.perf_counter()
    result = _train(config, session, indices, weights, progress)
    t_end = time.perf_counter()
    kept = np.arange(session.labels.shape[0], dtype=np.int64) if indices is None else indices
    timings = {"prepare": t_selection - t_start, "selection": t_train - t_selection, "train": t_end - t_train,
               "total": t_end - t_start}
    return build_row(config, data=session.data_record(), labels=session.labels, indices=kept, result=result,
                     selection_info=info, timings=timings, class_names=session.class_names)


# -- planning ------------------------------------------------------------------------------
def _as_list(value: Any, cast: Callable[[Any], Any], what: str = "values") -> list[Any]:
    """A list or a comma-separated string (as typed in a form) as a list of `cast` values."""
    if isinstance(value, str):
        items = [v for v in value.split(",") if v.strip()]
    else:
        items = list(value) if isinstance(value, (list, tuple)) else [value]
    try:
        return [cast(v.strip() if isinstance(v, str) else v) for v in items]
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a comma-separated list of {cast.__name__} values, got {value!r}") from None


def _split_fields(spec: DataSpec | str, fields: dict[str, Any]) -> tuple[DataSpec, dict[str, Any]]:
    """(the DataSpec, the run fields) of `plan_sweep`'s arguments."""
    unknown = sorted(set(fields) - set(DATA_FIELDS) - set(RUN_FIELDS))
    if unknown:
        raise ValueError(f"unknown run setting(s) {unknown}; run settings: {list(RUN_FIELDS)}, "
                         f"data settings: {list(DATA_FIELDS)}")
    data = {k: fields.pop(k) for k in list(fields) if k in DATA_FIELDS}
    if isinstance(spec, DataSpec):
        if data:
            raise ValueError(f"data setting(s) {sorted(data)} given next to a DataSpec: put them in the spec")
        return spec, fields
    if isinstance(spec, str):
        return DataSpec(spec, **data), fields
    raise ValueError(f"plan_sweep needs a DataSpec (or a dataset name), got {type(spec).__name__}")


def plan_sweep(spec: DataSpec | str, methods: Sequence[str] | str, prune_rates: Sequence[float] | str,
               seeds: Sequence[int] | str = (0,), *, include_full: bool = True,
               method_params: Mapping[str, Mapping[str, Any]] | None = None,
               backbones: Sequence[str] | str | None = None, **fields: Any) -> list[RunConfig]:
    """The grid: every method at every pruning rate and seed, plus the full-data baseline per seed.

    `spec` is the data setting (a dataset name is a shortcut: the `DataSpec` fields then
    come in `fields`, e.g. ``limit=500``). `methods`, `prune_rates` and `seeds` accept lists
    or comma-separated strings; `method_params` maps a method name to its parameters;
    `backbones` are those of the multi-backbone methods in the sweep (RAM-APL); `fields` holds
    the run fields (mode, epochs, lr, batch_size, device, train_budget). Reweighting
    methods (cw-erm) and "full" are planned once per seed at prune rate 0. Order: per
    seed, full data first, then methods x rates, so early rows already fill a table.
    """
    spec, run_fields = _split_fields(spec, dict(fields))
    method_list, rates = _as_list(methods, str, "methods"), _as_list(prune_rates, float, "pruning rates")
    seed_list = _as_list(seeds, int, "seeds")
    if not method_list and not include_full:
        raise ValueError("nothing to plan: give at least one method (or include_full=True)")
    if not seed_list:
        raise ValueError("give at least one seed")
    method_params = dict(method_params or {})
    stray = set(method_params) - set(method_list)
    if stray:
        raise ValueError(f"method_params names method(s) not in the sweep: {sorted(stray)}")
    if not rates and any(m != FULL_DATA and not is_reweighting(m) for m in method_list):
        raise ValueError("give at least one pruning rate")
    if backbones is not None and not MULTI_BACKBONE_METHODS & set(method_list):
        raise ValueError(f"backbones apply to {', '.join(sorted(MULTI_BACKBONE_METHODS))}, which is not in the sweep")
    configs: list[RunConfig] = []
    for seed in seed_list:
        if include_full and FULL_DATA not in method_list:
            configs.append(RunConfig(spec, FULL_DATA, 0.0, seed, **run_fields))
        for method in method_list:
            params = method_params.get(method, {})
            at_zero = method == FULL_DATA or is_reweighting(method)
            chosen = backbones if method in MULTI_BACKBONE_METHODS else None
            configs += [RunConfig(spec, method, rate, seed, params, backbones=chosen, **run_fields)
                        for rate in ([0.0] if at_zero else rates)]
    configs = _dedupe(configs)
    check_runs(configs)
    return configs


@dataclass(frozen=True)
class SweepPlan:
    """A sweep as one value: `plan_sweep`'s arguments (data setting, grid, parameters, run fields).

    `configs()` plans its runs; `command(db)` renders the `coreset sweep` line that plans the same
    runs (same run ids), as `SelectionRequest.command` does for one selection, and the CLI reads
    that line back into a plan (`cli.experiments.sweep_plan_of`). Lists may be comma-separated
    strings, as typed in a form: they are kept as tuples (a bad number is refused here).
    """

    spec: DataSpec
    methods: Any
    prune_rates: Any
    seeds: Any = (0,)
    include_full: bool = True
    method_params: Any = None
    backbones: Any = None
    run_fields: Any = None

    def __post_init__(self) -> None:
        put = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731
        if not isinstance(self.spec, DataSpec):
            raise ValueError(f"a SweepPlan needs a DataSpec, got {type(self.spec).__name__}")
        put("methods", tuple(_as_list(self.methods, str, "methods")))
        put("prune_rates", tuple(_as_list(self.prune_rates, float, "pruning rates")))
        put("seeds", tuple(_as_list(self.seeds, int, "seeds")))
        put("method_params", {str(m): dict(p) for m, p in (self.method_params or {}).items()})
        put("backbones", None if self.backbones is None else tuple(_as_list(self.backbones, str, "backbones")))
        put("run_fields", dict(self.run_fields or {}))
        unknown = sorted(set(self.run_fields) - set(RUN_FIELDS))
        if unknown:
            raise ValueError(f"unknown run field(s) {unknown}; run fields: {list(RUN_FIELDS)}")

    def configs(self) -> list[RunConfig]:
        """The planned runs (`plan_sweep`: validated, full-data baseline first per seed)."""
        return plan_sweep(self.spec, list(self.methods), list(self.prune_rates), list(self.seeds),
                          include_full=self.include_full, method_params=self.method_params,
                          backbones=self.backbones, **self.run_fields)

    def command(self, db: str | os.PathLike | None = None) -> str:
        """The `coreset sweep ...` line that plans these runs (into the results database `db`)."""
        extra = ["--methods", ",".join(self.methods), "--prune-rates", ",".join(map(repr, self.prune_rates)),
                 "--seeds", ",".join(map(str, self.seeds))]
        extra += [] if self.include_full else ["--no-full"]
        extra += [item for method, params in self.method_params.items() for key, value in sorted(params.items())
                  for item in ("--param", f"{method}.{key}={json.dumps(to_jsonable(value))}")]
        extra += [] if self.backbones is None else ["--backbones", ",".join(self.backbones)]
        extra += run_field_args(self.run_fields) + ([] if db is None else ["--db", os.fspath(db)])
        return self.spec.command("sweep", *extra)


def check_runs(configs: Sequence[RunConfig]) -> None:
    """Refuse runs whose data cannot load (an unknown dataset, score 'file' without an embeddings file)
    before the first run; each `RunConfig` has already checked its method, parameters and rate."""
    from coreset_core.datasets import check_dataset_name

    for spec in dict.fromkeys(c.spec for c in configs):
        check_dataset_name(spec.dataset)
        if spec.score == FILE_SCORE and not spec.dataset.startswith(EMBEDDINGS_PREFIX):
            raise ValueError(f"score {FILE_SCORE!r} is the scores column of an embeddings file; {spec.dataset} has "
                             "none: choose el2n, aum, forgetting, grand or moderate")


def _dedupe(configs: Iterable[RunConfig]) -> list[RunConfig]:
    seen: set[str] = set()
    out = []
    for c in configs:
        if c.run_id not in seen:
            seen.add(c.run_id)
            out.append(c)
    return out


# -- running -------------------------------------------------------------------------------
@dataclass
class SweepReport:
    """What `run_sweep` did. `failed` holds (run_id, description, error) per failed run."""

    planned: int
    skipped: int
    completed: int = 0
    failed: list[tuple[str, str, str]] = field(default_factory=list)
    seconds: float = 0.0
    engine: str = "local"

    @property
    def ok(self) -> bool:
        return not self.failed

    def summary(self) -> str:
        return (f"{self.planned} runs planned, {self.skipped} already stored, {self.completed} completed, "
                f"{len(self.failed)} failed in {self.seconds:.1f} s ({self.engine} engine)")


def run_sweep(configs: Iterable[RunConfig], store: Any, *, engine: Any = "local", workers: int = 1,
              address: str | None = None, progress: bool = True,
              on_progress: Callable[[int, int, dict], None] | None = None,
              cache_dir: str | os.PathLike | None = None, data_dir: str | os.PathLike | None = None,
              runner: Callable[..., Any] = run_one, threads_per_worker: int | None = None) -> SweepReport:
    """Run every config whose `run_id` is not yet in `store`; each finished row is stored at once.

    `engine` is "local" (`workers` processes on this machine; 1 runs in this process),
    "ray" (one Ray task per run; `address` joins a running cluster, none starts a local
    instance) or an engine object (`coreset_core.experiments.engines`). The driver checks the devices
    up front, writes every row itself and survives failed runs: each is reported with the
    `coreset train` command that reproduces it, and the next run goes on.
    `on_progress(done, total, result)` is called after each run; `runner` replaces
    `run_one` (tests): a module-level function returning a row.
    """
    from coreset_core.experiments.engines import RunTask, make_engine

    start = time.perf_counter()
    configs = _dedupe(configs)
    for c in configs:
        if not isinstance(c, RunConfig):
            raise ValueError(f"run_sweep takes RunConfig objects (see plan_sweep), got {type(c).__name__}")
    check_runs(configs)
    eng = make_engine(engine, workers=workers, address=address, threads_per_worker=threads_per_worker)
    stored = store.run_ids()
    pending = [c for c in configs if c.run_id not in stored]
    report = SweepReport(planned=len(configs), skipped=len(configs) - len(pending), engine=eng.name)
    if not pending:
        report.seconds = time.perf_counter() - start
        return report
    from tqdm.auto import tqdm

    eng.start(pending, cache_dir=cache_dir, data_dir=data_dir)
    bar = tqdm(total=len(pending), desc=f"sweep ({eng.name})", unit="run", disable=not progress)
    try:
        with closing(eng.run(pending, RunTask(runner, cache_dir, data_dir))) as outcomes:
            for done, (config, outcome) in enumerate(outcomes, 1):
                result = _record(config, outcome, store, report, bar, progress)
                bar.update(1)
                if on_progress is not None:
                    on_progress(done, len(pending), {**result, "config": config})
    finally:
        bar.close()
        eng.close()
        report.seconds = time.perf_counter() - start
    return report


def _record(config: RunConfig, outcome: Any, store: Any, report: SweepReport, bar: Any, progress: bool) -> dict:
    """Store a finished run's row (or report its failure); returns the `on_progress` result dict."""
    result = {"run_id": config.run_id, "ok": outcome.ok, "error": outcome.error, "seconds": outcome.seconds,
              "worker": outcome.worker}
    if outcome.ok:
        try:
            store.add(outcome.row)
        except Exception as exc:  # a row the store refuses is this run's failure, not the sweep's
            result.update(ok=False, error=f"storing the row failed: {type(exc).__name__}: {exc}")
    if result["ok"]:
        report.completed += 1
        acc = outcome.accuracy
        result["accuracy"] = acc
        row = outcome.row if isinstance(outcome.row, dict) else getattr(outcome.row, "__dict__", {})
        result.update({k: row.get(k) for k in ("worst_class_accuracy", "tail_accuracy")})
        shown = "  ".join(f"{name} {'-' if v is None else f'{100 * v:.1f}%'}" for name, v in (
            ("acc", acc), ("worst", row.get("worst_class_accuracy")), ("tail", row.get("tail_accuracy"))))
        bar.set_postfix_str(f"{config.method}@{config.prune_rate:g} s{config.seed}: {shown}", refresh=False)
    else:
        report.failed.append((config.run_id, config.describe(), result["error"]))
        bar.write(f"FAILED {config.describe()} (run {config.run_id}): {result['error']}\n"
                  f"  reproduce with: {config.command()}", file=sys.stderr)
        if progress and outcome.traceback:
            bar.write(outcome.traceback, file=sys.stderr)
    return result
