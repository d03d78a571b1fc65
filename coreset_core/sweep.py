"""Experiment grids: one run is a pure function of its config; sweeps are resumable and engine-agnostic.

- `RunConfig` = a `DataSpec` (the data setting) + the run's own fields (method and its
  parameters, pruning rate, seed, training protocol). Its `run_id` hashes the spec's
  fields, the run fields and the code version: the results store's key.
- `run_one(config)` turns a config into a `ResultRow`: a `Session` on the spec (features
  and scores, cached), select (or reweight, or take everything), train through one
  trainer interface (linear probe on frozen features or full fine-tuning), time it. It
  reads no global state and writes nothing but caches, so an engine can ship it anywhere.
- `plan_sweep(...)` builds the grid methods x pruning rates x seeds, plus the full-data
  baseline (method ``"full"``, prune rate 0) for every seed.
- `run_sweep(configs, store, engine=...)` skips run ids the store already holds (so it
  resumes after a crash, Ctrl-C or SIGKILL), hands the rest to an engine
  (`coreset_core.engines`: ``local`` processes or ``ray`` tasks) and writes each finished
  row into the store at once, on the driver: a kill loses only the runs in flight.

Reweighting methods (``cw-erm``) keep every sample and train with per-sample weights; they
are planned at prune rate 0 like the full-data baseline.

Training budget (`RunConfig.budget`): ``"epochs"`` trains every subset for `epochs` epochs
(fewer optimiser steps on a smaller subset); ``"steps"`` gives the subset as many optimiser
steps as the full training set gets in `epochs` epochs (`budget_epochs`). Which of the two
is the fair comparison is debated in the coreset literature, so both are offered and the
choice is recorded with every result.
"""
from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
import math
import os
import shlex
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from contextlib import closing
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from .config import CODE_VERSION
from .jsonable import to_jsonable
from .spec import DataSpec
from .store import FULL_DATA, ResultRow, build_row
from .validation import check_prune_rate

#: Methods that reweight all samples instead of choosing a subset.
REWEIGHTING_METHODS = ("cw-erm",)
MODES = ("linear", "finetune")
#: Training budgets: equal epochs (the default, every earlier result) or equal optimiser steps.
BUDGETS = ("epochs", "steps")
#: Fields of `RunConfig` besides `spec`, `method`, `prune_rate`, `seed`, `params`.
RUN_FIELDS = ("mode", "epochs", "lr", "batch_size", "device", "budget")
_DATA_FIELDS = tuple(f.name for f in dataclasses.fields(DataSpec))


def _freeze(value: Any) -> Any:
    """JSON-compatible and hashable: dicts -> sorted tuples of pairs, lists -> tuples."""
    if isinstance(value, Mapping):
        return tuple(sorted((str(k), _freeze(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, (np.ndarray, np.generic)):
        return _freeze(value.tolist())
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise ValueError(f"parameter value {value!r} ({type(value).__name__}) is not a plain number/string/list; "
                     "a run config must be JSON-serialisable")


def _thaw(value: Any) -> Any:
    return [_thaw(v) for v in value] if isinstance(value, tuple) else value


def _registered_defaults(method: str) -> dict[str, Any] | None:
    """The registry's default parameters of `method`, or None for 'full' and unregistered names."""
    if method == FULL_DATA:
        return None
    if method in REWEIGHTING_METHODS:
        from .methods.cw_erm import reweighting_params

        return to_jsonable(dict(reweighting_params(method)))
    from .methods import get_method

    try:
        spec = get_method(method)
    except ValueError:
        return None
    return to_jsonable({k: v for k, v in spec.params.items() if v is not inspect.Parameter.empty})


def _whole(name: str, value: Any) -> int:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if isinstance(value, bool) or not math.isfinite(number) or number != int(number):
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    return int(number)


def _optional_positive(name: str, value: Any, cast: Callable[[Any], Any]) -> Any:
    if value is None:
        return None
    try:
        out = cast(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a positive number or None, got {value!r}") from None
    if isinstance(value, bool) or not out > 0:
        raise ValueError(f"{name} must be a positive number or None, got {value!r}")
    return out


def budget_epochs(epochs: int, n_full: int, n_kept: int, batch_size: int, budget: str = "steps") -> int:
    """Epochs to train a subset of `n_kept` samples under `budget`.

    ``"epochs"``: `epochs` unchanged. ``"steps"``: the fewest epochs whose optimiser steps
    reach those of `epochs` epochs on all `n_full` samples, one step per batch:
    ``ceil(epochs * ceil(n_full / batch_size) / ceil(n_kept / batch_size))``.
    """
    if budget not in BUDGETS:
        raise ValueError(f"budget must be one of {BUDGETS}, got {budget!r}")
    epochs, n_full, n_kept, batch_size = (_whole(name, v) for name, v in (
        ("epochs", epochs), ("n_full", n_full), ("n_kept", n_kept), ("batch_size", batch_size)))
    if min(epochs, n_full, n_kept, batch_size) < 1 or n_kept > n_full:
        raise ValueError(f"budget_epochs needs epochs, batch_size >= 1 and 1 <= n_kept <= n_full, got "
                         f"epochs={epochs}, n_full={n_full}, n_kept={n_kept}, batch_size={batch_size}")
    if budget == "epochs":
        return epochs
    full_steps = epochs * math.ceil(n_full / batch_size)
    return -(-full_steps // math.ceil(n_kept / batch_size))


@dataclass(frozen=True)
class RunConfig:
    """Everything that determines one training run's result: a `DataSpec` plus the run fields.

    `params` may be given as a dict; it is stored as a sorted tuple of pairs (hashable,
    picklable) with the method's registered defaults filled in, so "nucs" and "nucs with
    its default parameters" are the same run. `lr` / `batch_size` None mean the trainer's
    defaults (the effective values are recorded in the results row). `device` does not
    enter `run_id`. `budget` is "epochs" (train `epochs` epochs on the subset) or "steps"
    (as many optimiser steps as `epochs` epochs on the full set; see `budget_epochs`); it
    enters `run_id` only when it is "steps", so every earlier "epochs" run keeps its id.
    """

    spec: DataSpec
    method: str
    prune_rate: float = 0.0
    seed: int = 0
    params: Any = ()
    mode: str = "linear"
    epochs: int = 30
    lr: float | None = None
    batch_size: int | None = None
    device: str = "cpu"
    budget: str = "epochs"

    def __post_init__(self) -> None:
        put = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731
        if not isinstance(self.spec, DataSpec):
            raise ValueError(f"RunConfig.spec must be a DataSpec, got {type(self.spec).__name__}; "
                             "build one with DataSpec(dataset, limit=..., ...)")
        if not self.method or not isinstance(self.method, str):
            raise ValueError(f"method must be a method name, got {self.method!r}")
        put("prune_rate", check_prune_rate(self.prune_rate))
        if self.method == FULL_DATA and self.prune_rate != 0.0:
            raise ValueError(f"method 'full' trains on all data: its prune_rate must be 0, got {self.prune_rate}")
        if self.method in REWEIGHTING_METHODS and self.prune_rate != 0.0:
            raise ValueError(f"{self.method!r} reweights every sample instead of pruning: use prune_rate=0 "
                             f"(got {self.prune_rate})")
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        if self.budget not in BUDGETS:
            raise ValueError(f"budget must be one of {BUDGETS} (equal epochs or equal optimiser steps), "
                             f"got {self.budget!r}")
        if self.device not in ("cpu", "cuda"):
            raise ValueError(f"device must be 'cpu' or 'cuda', got {self.device!r}")
        put("seed", _whole("seed", self.seed))
        put("epochs", _whole("epochs", self.epochs))
        if self.epochs < 1 or self.seed < 0:
            raise ValueError(f"epochs must be >= 1 and seed >= 0, got {self.epochs} and {self.seed}")
        put("lr", _optional_positive("lr", self.lr, float))
        put("batch_size", _optional_positive("batch_size", self.batch_size, int))
        given = dict(self.params) if self.params else {}
        defaults = _registered_defaults(self.method)
        if defaults is not None:
            unknown = set(given) - set(defaults)
            if unknown:
                raise ValueError(f"method {self.method!r} has no parameter(s) {sorted(unknown)}; "
                                 f"its parameters are {sorted(defaults)}")
            given = {**defaults, **given}
        put("params", _freeze(given))

    @property
    def param_dict(self) -> dict[str, Any]:
        """The method parameters as a plain dict (lists for sequences)."""
        return {k: _thaw(v) for k, v in self.params}

    def call_params(self) -> dict[str, Any]:
        """The parameters that differ from the method's defaults (what the method is called with:
        an explicit default can change meaning, e.g. NUCS-O's val_features=None)."""
        defaults = _registered_defaults(self.method) or {}
        return {k: v for k, v in self.param_dict.items() if k not in defaults or v != defaults[k]}

    def identity(self) -> dict[str, Any]:
        """The fields that determine the result, plus the code version (what `run_id` hashes)."""
        out = {"data": self.spec.to_dict(), "method": self.method, "prune_rate": self.prune_rate,
               "seed": self.seed, "params": self.param_dict, "mode": self.mode, "epochs": self.epochs,
               "lr": self.lr, "batch_size": self.batch_size, "code_version": CODE_VERSION}
        if self.budget != "epochs":  # the default stays out: earlier runs keep their ids
            out["budget"] = self.budget
        return out

    def canonical_json(self) -> str:
        return json.dumps(self.identity(), sort_keys=True, separators=(",", ":"))

    @property
    def run_id(self) -> str:
        """Stable hash of `canonical_json()`: equal configs (and code version) share it."""
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()[:20]

    def prepare_key(self) -> str:
        """Runs sharing it share features and scores (the spec's `prepare_key`)."""
        return self.spec.prepare_key

    def replace(self, **changes: Any) -> "RunConfig":
        """A copy with run fields and/or data fields (forwarded to the spec) changed."""
        data = {k: changes.pop(k) for k in list(changes) if k in _DATA_FIELDS}
        if data:
            changes["spec"] = self.spec.replace(**data)
        return dataclasses.replace(self, **changes)

    def describe(self) -> str:
        """One line naming the run (parameters shown only where they differ from the defaults)."""
        params = ",".join(f"{k}={v}" for k, v in self.call_params().items())
        return (f"{self.spec.dataset} {self.method}{'(' + params + ')' if params else ''} "
                f"prune={self.prune_rate:g} seed={self.seed} {self.mode}"
                + ("" if self.budget == "epochs" else f" budget={self.budget}"))

    def command(self) -> str:
        """The `coreset train` line that runs this config alone (to reproduce a failure)."""
        extra = ["--method", self.method, "--prune-rate", f"{self.prune_rate:g}", "--seed", str(self.seed)]
        extra += [item for k, v in self.call_params().items() for item in ("--param", f"{k}={json.dumps(v)}")]
        pairs = (("--mode", self.mode, "linear"), ("--epochs", self.epochs, 30), ("--lr", self.lr, None),
                 ("--batch-size", self.batch_size, None), ("--device", self.device, "cpu"),
                 ("--budget", self.budget, "epochs"))
        extra += [item for flag, value, default in pairs if value != default for item in (flag, str(value))]
        return shlex.join(["coreset", "train", *self.spec.cli_args(), *extra])


# -- one run -----------------------------------------------------------------------------
_SESSIONS: "OrderedDict[tuple, Any]" = OrderedDict()
_SESSIONS_LOCK = threading.Lock()
#: Sessions kept per process: consecutive runs on one data setting reuse its loaded data.
MAX_SESSIONS = 2


def _session_for(config: RunConfig, cache_dir: Any, data_dir: Any, progress: bool):
    """This process's `Session` for the config's spec (a small LRU, so a worker loads data once)."""
    from .session import Session

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
    if config.method in REWEIGHTING_METHODS:
        from .methods.cw_erm import reweight

        rw = reweight(config.method, labels=session.labels, features=session.train.features, seed=config.seed,
                      **config.call_params())
        weights = np.asarray(rw.weights, dtype=np.float64)
        per_class = np.bincount(session.labels, weights=weights, minlength=session.num_classes)
        return None, weights, {"coreset_size": int(np.asarray(rw.coreset).size), "config": rw.config,
                               "weight_sum_per_class": per_class}
    selection = session.select(config.method, config.prune_rate, seed=config.seed, **config.call_params())
    return np.asarray(selection.indices, dtype=np.int64), None, {**selection.info,
                                                                 "selection_config": selection.config}


def train_epochs(config: RunConfig, n_full: int, n_kept: int) -> int:
    """The epochs `config` trains its `n_kept` samples for (its budget; the trainer's default batch size)."""
    if config.batch_size is not None:
        batch = config.batch_size
    elif config.mode == "linear":
        from .training.linear import DEFAULT_BATCH_SIZE as batch
    else:
        from .training.finetune import DEFAULT_BATCH_SIZE as batch
    return budget_epochs(config.epochs, n_full, n_kept, batch, config.budget)


def _train(config: RunConfig, session, indices: np.ndarray | None, weights: np.ndarray | None, progress: bool):
    """The one trainer call: same keyword arguments for the linear probe and for fine-tuning."""
    from .training import finetune, train_linear_probe

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
                     selection_info=info, timings=timings)


# -- planning ------------------------------------------------------------------------------
def _as_list(value: Any, cast: Callable[[Any], Any]) -> list[Any]:
    if isinstance(value, str):
        value = [v for v in value.split(",") if v.strip()]
    elif not isinstance(value, (list, tuple)):
        value = [value]
    return [cast(v.strip() if isinstance(v, str) else v) for v in value]


def _split_fields(spec: DataSpec | str, fields: dict[str, Any]) -> tuple[DataSpec, dict[str, Any]]:
    """(the DataSpec, the run fields) of `plan_sweep`'s arguments."""
    unknown = sorted(set(fields) - set(_DATA_FIELDS) - set(RUN_FIELDS))
    if unknown:
        raise ValueError(f"unknown run setting(s) {unknown}; run settings: {list(RUN_FIELDS)}, "
                         f"data settings: {list(_DATA_FIELDS)}")
    data = {k: fields.pop(k) for k in list(fields) if k in _DATA_FIELDS}
    if isinstance(spec, DataSpec):
        if data:
            raise ValueError(f"data setting(s) {sorted(data)} given next to a DataSpec: put them in the spec")
        return spec, fields
    if isinstance(spec, str):
        return DataSpec(spec, **data), fields
    raise ValueError(f"plan_sweep needs a DataSpec (or a dataset name), got {type(spec).__name__}")


def plan_sweep(spec: DataSpec | str, methods: Sequence[str] | str, prune_rates: Sequence[float] | str,
               seeds: Sequence[int] | str = (0,), *, include_full: bool = True,
               method_params: Mapping[str, Mapping[str, Any]] | None = None, **fields: Any) -> list[RunConfig]:
    """The grid: every method at every pruning rate and seed, plus the full-data baseline per seed.

    `spec` is the data setting (a dataset name is a shortcut: the `DataSpec` fields then
    come in `fields`, e.g. ``limit=500``). `methods`, `prune_rates` and `seeds` accept lists
    or comma-separated strings; `method_params` maps a method name to its parameters;
    `fields` holds the run fields (mode, epochs, lr, batch_size, device, budget). Reweighting
    methods (cw-erm) and "full" are planned once per seed at prune rate 0. Order: per
    seed, full data first, then methods x rates, so early rows already fill a table.
    """
    spec, run_fields = _split_fields(spec, dict(fields))
    method_list, rates, seed_list = _as_list(methods, str), _as_list(prune_rates, float), _as_list(seeds, int)
    if not method_list and not include_full:
        raise ValueError("nothing to plan: give at least one method (or include_full=True)")
    if not seed_list:
        raise ValueError("give at least one seed")
    method_params = dict(method_params or {})
    stray = set(method_params) - set(method_list)
    if stray:
        raise ValueError(f"method_params names method(s) not in the sweep: {sorted(stray)}")
    if not rates and any(m != FULL_DATA and m not in REWEIGHTING_METHODS for m in method_list):
        raise ValueError("give at least one pruning rate")
    configs: list[RunConfig] = []
    for seed in seed_list:
        if include_full and FULL_DATA not in method_list:
            configs.append(RunConfig(spec, FULL_DATA, 0.0, seed, **run_fields))
        for method in method_list:
            params = method_params.get(method, {})
            at_zero = method == FULL_DATA or method in REWEIGHTING_METHODS
            configs += [RunConfig(spec, method, rate, seed, params, **run_fields) for rate in ([0.0] if at_zero
                                                                                             else rates)]
    return _dedupe(configs)


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
    instance) or an engine object (`coreset_core.engines`). The driver checks the devices
    up front, writes every row itself and survives failed runs: each is reported with the
    `coreset train` command that reproduces it, and the next run goes on.
    `on_progress(done, total, result)` is called after each run; `runner` replaces
    `run_one` (tests): a module-level function returning a row.
    """
    from .engines import RunTask, make_engine

    start = time.perf_counter()
    configs = _dedupe(configs)
    for c in configs:
        if not isinstance(c, RunConfig):
            raise ValueError(f"run_sweep takes RunConfig objects (see plan_sweep), got {type(c).__name__}")
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
        bar.set_postfix_str(f"{config.method}@{config.prune_rate:g} s{config.seed}: "
                            f"{'-' if acc is None else f'{100 * acc:.1f}%'}", refresh=False)
    else:
        report.failed.append((config.run_id, config.describe(), result["error"]))
        bar.write(f"FAILED {config.describe()} (run {config.run_id}): {result['error']}\n"
                  f"  reproduce with: {config.command()}", file=sys.stderr)
        if progress and outcome.traceback:
            bar.write(outcome.traceback, file=sys.stderr)
    return result
