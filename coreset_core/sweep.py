"""Experiment grids: one run is a pure function of its config; sweeps are resumable and parallel.

- `RunConfig` fixes everything that determines a result (data, backbone, method and its
  parameters, pruning rate, seed, training protocol, score). Its `run_id` is a hash of
  the canonical JSON of those fields plus the code version: the results store's key.
- `run_one(config)` turns a config into a results row: prepare the data (features and
  scores, cached), select (or reweight), train (linear probe on frozen features, or full
  fine-tuning on a GPU), measure wall times, return the row. It reads no global state and
  writes nothing but caches, so a cluster engine can ship it to any machine.
- `plan_sweep(...)` builds the grid methods x pruning rates x seeds, plus the full-data
  baseline (method ``"full"``, prune rate 0) for every seed.
- `run_sweep(configs, store)` skips run ids the store already holds (so it resumes after a
  crash or Ctrl-C), runs the rest in worker processes (``spawn``/``forkserver``), and every
  worker stores its own row as soon as it finishes: a kill loses only the runs in flight.

Reweighting methods (``cw-erm``) keep every sample and train with per-sample weights; they
are planned at prune rate 0 like the full-data baseline.
"""
from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
import multiprocessing
import os
import socket
import sys
import time
import traceback
from collections.abc import Mapping
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from .config import CODE_VERSION
from .validation import check_prune_rate

#: The full-data baseline: train on every sample (prune rate 0).
FULL = "full"
#: Methods that reweight all samples instead of choosing a subset.
REWEIGHTING_METHODS = ("cw-erm",)
MODES = ("linear", "finetune")

#: Fields that do not change a result and so are left out of `run_id`.
_NOT_IN_ID = ("device",)


def _freeze(value: Any) -> Any:
    """JSON-compatible and hashable: dicts -> sorted tuples of pairs, lists -> tuples."""
    if isinstance(value, Mapping):
        return tuple(sorted((str(k), _freeze(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, np.ndarray):
        return tuple(_freeze(v) for v in value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise ValueError(f"parameter value {value!r} ({type(value).__name__}) is not a plain number/string/list; "
                     "a run config must be JSON-serialisable")


def _thaw(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_thaw(v) for v in value]
    return value


def _registered_defaults(method: str) -> dict[str, Any] | None:
    """The registry's default parameters of `method`, or None for unregistered names."""
    if method == FULL:
        return None
    if method in REWEIGHTING_METHODS:
        from .methods.cw_erm import reweighting_params
        from .methods.registry import _jsonable

        return {k: _jsonable(v) for k, v in reweighting_params(method).items()}
    from . import methods  # noqa: F401  (registers every method)
    from .methods.registry import get_method

    try:
        spec = get_method(method)
    except ValueError:
        return None
    from .methods.registry import _jsonable

    return {k: _jsonable(v) for k, v in spec.params.items() if v is not inspect.Parameter.empty}


@dataclass(frozen=True)
class RunConfig:
    """Everything that determines one training run's result.

    `params` may be given as a dict; it is stored as a sorted tuple of pairs (hashable,
    picklable) with the method's registered defaults filled in, so "nucs" and
    "nucs with its default parameters" are the same run. `lr`/`batch_size` None mean the
    trainer's defaults (the effective values are recorded in the results row).
    `device` does not enter `run_id`.
    """

    dataset: str
    method: str
    prune_rate: float = 0.0
    seed: int = 0
    params: Any = ()
    imbalance: float | None = None
    data_seed: int = 0
    backbone: str = "efficientnet_lite0"
    resolution: int | None = None
    limit: int | None = None
    test_limit: int | None = None
    mode: str = "linear"
    epochs: int = 30
    lr: float | None = None
    batch_size: int | None = None
    score: str = "el2n"
    score_epochs: int = 3
    score_seeds: tuple[int, ...] = (0,)
    device: str = "cpu"

    def __post_init__(self) -> None:
        set_ = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731
        if not self.dataset or not isinstance(self.dataset, str):
            raise ValueError(f"dataset must be a dataset name, got {self.dataset!r}")
        if not self.method or not isinstance(self.method, str):
            raise ValueError(f"method must be a method name, got {self.method!r}")
        set_("prune_rate", check_prune_rate(self.prune_rate))
        if self.method == FULL and self.prune_rate != 0.0:
            raise ValueError(f"method 'full' trains on all data: its prune_rate must be 0, got {self.prune_rate}")
        if self.method in REWEIGHTING_METHODS and self.prune_rate != 0.0:
            raise ValueError(f"{self.method!r} reweights every sample instead of pruning: use prune_rate=0 "
                             f"(got {self.prune_rate})")
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        for name in ("seed", "data_seed", "epochs", "score_epochs"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer, float, str)):
                raise ValueError(f"{name} must be an integer, got {value!r}")
            set_(name, int(value))
        if self.epochs < 1 or self.score_epochs < 1:
            raise ValueError(f"epochs and score_epochs must be >= 1, got {self.epochs} and {self.score_epochs}")
        for name in ("resolution", "limit", "test_limit", "batch_size"):
            value = getattr(self, name)
            if value is not None:
                if int(value) < 1:
                    raise ValueError(f"{name} must be a positive integer or None, got {value!r}")
                set_(name, int(value))
        if self.lr is not None:
            if not float(self.lr) > 0:
                raise ValueError(f"lr must be > 0, got {self.lr!r}")
            set_("lr", float(self.lr))
        imbalance = self.imbalance
        if imbalance is None and self.dataset.endswith("-lt"):
            from .datasets import DEFAULT_IMBALANCE

            imbalance = DEFAULT_IMBALANCE
        set_("imbalance", None if imbalance is None else float(imbalance))
        seeds = self.score_seeds
        seeds = (seeds,) if isinstance(seeds, (int, np.integer)) else tuple(int(s) for s in seeds)
        if not seeds:
            raise ValueError("score_seeds must name at least one seed")
        set_("score_seeds", seeds)
        given = dict(self.params) if self.params else {}
        defaults = _registered_defaults(self.method)
        if defaults is not None:
            unknown = set(given) - set(defaults)
            if unknown:
                raise ValueError(f"method {self.method!r} has no parameter(s) {sorted(unknown)}; "
                                 f"its parameters are {sorted(defaults)}")
            given = {**defaults, **given}
        set_("params", _freeze(given))

    @property
    def param_dict(self) -> dict[str, Any]:
        """The method parameters as a plain dict (lists for sequences)."""
        return {k: _thaw(v) for k, v in self.params}

    def identity(self) -> dict[str, Any]:
        """The fields that determine the result, plus the code version (what `run_id` hashes)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in _NOT_IN_ID}
        out["params"] = self.param_dict
        out["score_seeds"] = list(self.score_seeds)
        out["code_version"] = CODE_VERSION
        return out

    def canonical_json(self) -> str:
        return json.dumps(self.identity(), sort_keys=True, separators=(",", ":"))

    @property
    def run_id(self) -> str:
        """Stable hash of `canonical_json()`: equal configs (and code version) share it."""
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()[:20]

    def prepare_key(self) -> tuple:
        """What `pipeline.prepare` depends on: runs sharing it share features and scores."""
        return (self.dataset, self.imbalance, self.data_seed, self.backbone, self.resolution, self.limit,
                self.test_limit, self.score_epochs, self.score_seeds)

    def replace(self, **changes: Any) -> "RunConfig":
        return dataclasses.replace(self, **changes)

    def describe(self) -> str:
        """One line naming the run (parameters shown only where they differ from the defaults)."""
        defaults = _registered_defaults(self.method) or {}
        params = ",".join(f"{k}={v}" for k, v in self.param_dict.items() if k not in defaults or v != defaults[k])
        return (f"{self.dataset} {self.method}{'(' + params + ')' if params else ''} "
                f"prune={self.prune_rate:g} seed={self.seed} {self.mode}")


# -- one run -----------------------------------------------------------------------------
def _supported_kwargs(fn: Callable[..., Any], kwargs: dict[str, Any]) -> dict[str, Any]:
    """`kwargs` minus None values `fn` does not accept; a non-None one it does not accept is an error."""
    sig = inspect.signature(fn)
    if any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values()):
        return {k: v for k, v in kwargs.items() if v is not None}
    out = {}
    for k, v in kwargs.items():
        if k in sig.parameters:
            if v is not None:
                out[k] = v
        elif v is not None:
            raise ValueError(f"{fn.__module__}.{fn.__name__} has no parameter {k!r} (value {v!r})")
    return out


def _json_safe(value: Any, depth: int = 0) -> Any:
    """A small JSON-able summary of selection extras (arrays shortened, depth bounded)."""
    if depth > 4:
        return str(value)[:200]
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v, depth + 1) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        if value.size <= 64:
            return _json_safe(value.tolist(), depth + 1)
        return f"<array shape={list(value.shape)} dtype={value.dtype}>"
    if isinstance(value, (list, tuple)):
        if len(value) > 64:
            return f"<{type(value).__name__} len={len(value)}>"
        return [_json_safe(v, depth + 1) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _json_safe(dataclasses.asdict(value), depth + 1)
    return str(value)[:200]


def _metrics_of(result: Any) -> dict[str, Any]:
    metrics = getattr(result, "metrics", None)
    if metrics is None and isinstance(result, Mapping):
        metrics = result.get("metrics", result)
    return dict(metrics or {})


def run_one(config: RunConfig, *, cache_dir: str | os.PathLike | None = None,
            data_dir: str | os.PathLike | None = None) -> dict[str, Any]:
    """Run one experiment and return its results row (see `coreset_core.store.COLUMNS`).

    A pure function of `config` (paths only say where the caches are): prepare the data
    (features + difficulty scores, cached on disk), select the coreset (or compute
    CW-ERM weights, or take everything for "full"), train, evaluate on the test split.
    """
    from .pipeline import prepare, run_selection

    if not isinstance(config, RunConfig):
        raise ValueError(f"run_one needs a RunConfig, got {type(config).__name__}")
    t_start = time.perf_counter()
    prepared = prepare(config.dataset, imbalance=config.imbalance, data_seed=config.data_seed,
                       backbone=config.backbone, resolution=config.resolution, limit=config.limit,
                       test_limit=config.test_limit, device=config.device, score_epochs=config.score_epochs,
                       score_seeds=config.score_seeds, data_dir=data_dir, cache_dir=cache_dir, progress=False)
    prepare_seconds = time.perf_counter() - t_start
    train, test = prepared.train, prepared.test
    labels = np.asarray(train.labels, dtype=np.int64)
    n = labels.shape[0]
    num_classes = int(getattr(prepared, "config", {}).get("num_classes")
                      or max(labels.max(), np.asarray(test.labels).max()) + 1)
    params = config.param_dict
    defaults = _registered_defaults(config.method) or {}
    # pass only what differs from the method's defaults: an explicit default can change meaning
    # downstream (NUCS-O's val_features=None would block the pipeline from filling in its held-out data)
    call_params = {k: v for k, v in params.items() if k not in defaults or v != defaults[k]}

    weights = None
    info: dict[str, Any] = {}
    t_sel = time.perf_counter()
    if config.method == FULL:
        indices = np.arange(n, dtype=np.int64)
    elif config.method in REWEIGHTING_METHODS:
        from .methods.cw_erm import reweight

        rw = reweight(config.method, labels=labels, features=train.features, seed=config.seed, **call_params)
        weights = np.asarray(rw.weights, dtype=np.float64)
        indices = np.arange(n, dtype=np.int64)
        info = {"coreset_size": int(np.asarray(rw.coreset).size), "config": _json_safe(getattr(rw, "config", {})),
                "weight_sum_per_class": np.bincount(labels, weights=weights, minlength=num_classes).tolist()}
    else:
        sel = run_selection(prepared, config.method, prune_rate=config.prune_rate, score=config.score,
                            seed=config.seed, **call_params)
        indices = np.asarray(sel.indices, dtype=np.int64)
        info = _json_safe({**(getattr(sel, "info", {}) or {}), "selection_config": getattr(sel, "config", {})})
    selection_seconds = time.perf_counter() - t_sel

    if config.mode == "linear":
        from .training.probe import train_linear_probe

        kwargs = _supported_kwargs(train_linear_probe, dict(
            indices=indices if config.method != FULL else None, sample_weights=weights, epochs=config.epochs,
            lr=config.lr, batch_size=config.batch_size, seed=config.seed, device=config.device))
        result = train_linear_probe(train.features, labels, test.features, test.labels, **kwargs)
    else:
        from .training.finetune import finetune

        kwargs = _supported_kwargs(finetune, dict(
            backbone=config.backbone, resolution=config.resolution, epochs=config.epochs, lr=config.lr,
            batch_size=config.batch_size, seed=config.seed, device=config.device, sample_weights=weights,
            test_limit=config.test_limit, progress=False))
        # `limit` keeps the first N training images, so positions in the limited split are
        # positions in the dataset's split too: the indices need no translation.
        result = finetune(prepared.dataset, indices, **kwargs)
    metrics = _metrics_of(result)
    train_seconds = float(getattr(result, "train_seconds", None) or metrics.get("train_seconds") or 0.0)
    train_config = _json_safe(getattr(result, "config", {}) or {})
    data_config = _json_safe(getattr(prepared, "config", {}) or {})

    kept = np.bincount(labels[indices], minlength=num_classes)
    sizes = np.bincount(labels, minlength=num_classes)
    resolution = config.resolution
    if resolution is None and isinstance(data_config, dict):
        resolution = data_config.get("resolution")
    per_class = metrics.get("per_class", metrics.get("per_class_accuracy"))
    identity = config.identity()
    return {
        "run_id": config.run_id,
        "config_json": config.canonical_json(),
        "dataset": config.dataset,
        "imbalance": config.imbalance,
        "data_seed": config.data_seed,
        "backbone": config.backbone,
        "resolution": resolution,
        "limit_n": config.limit,
        "test_limit": config.test_limit,
        "method": config.method,
        "params_json": json.dumps(identity["params"], sort_keys=True),
        "prune_rate": config.prune_rate,
        "seed": config.seed,
        "mode": config.mode,
        "epochs": config.epochs,
        "lr": config.lr if config.lr is not None else (train_config.get("lr") if isinstance(train_config, dict)
                                                       else None),
        "batch_size": config.batch_size if config.batch_size is not None else (
            train_config.get("batch_size") if isinstance(train_config, dict) else None),
        "score": config.score,
        "score_epochs": config.score_epochs,
        "code_version": CODE_VERSION,
        "num_train": int(n),
        "num_kept": int(indices.size),
        "class_sizes_json": sizes.tolist(),
        "class_kept_json": kept.tolist(),
        "accuracy": _float_or_none(metrics.get("accuracy")),
        "balanced_accuracy": _float_or_none(metrics.get("balanced_accuracy")),
        "per_class_accuracy_json": _json_safe(list(per_class)) if per_class is not None else None,
        "selection_info_json": info,
        "train_config_json": train_config,
        "data_config_json": data_config,
        "prepare_seconds": prepare_seconds,
        "selection_seconds": selection_seconds,
        "train_seconds": train_seconds,
        "total_seconds": time.perf_counter() - t_start,
        "device": config.device,
        "host": socket.gethostname(),
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def _float_or_none(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if np.isfinite(value) else None


# -- planning ------------------------------------------------------------------------------
def _as_list(value: Any, cast: Callable[[Any], Any]) -> list[Any]:
    if isinstance(value, str):
        value = [v for v in value.split(",") if v.strip()]
    elif not isinstance(value, (list, tuple)):
        value = [value]
    return [cast(v.strip() if isinstance(v, str) else v) for v in value]


def plan_sweep(dataset: str, methods: Sequence[str] | str, prune_rates: Sequence[float] | str,
               seeds: Sequence[int] | str = (0,), *, include_full: bool = True,
               method_params: Mapping[str, Mapping[str, Any]] | None = None, **common: Any) -> list[RunConfig]:
    """The grid: every method at every pruning rate and seed, plus the full-data baseline per seed.

    `methods`, `prune_rates` and `seeds` accept lists or comma-separated strings.
    `method_params` maps a method name to its parameters; `common` holds the other
    `RunConfig` fields (imbalance, backbone, limit, mode, epochs, ...). Reweighting methods
    (cw-erm) and "full" are planned once per seed at prune rate 0. Order: per seed, full
    data first, then methods x rates, so early rows already fill a table.
    """
    method_list = _as_list(methods, str)
    rates = _as_list(prune_rates, float)
    seed_list = _as_list(seeds, int)
    if not method_list and not include_full:
        raise ValueError("nothing to plan: give at least one method (or include_full=True)")
    if not seed_list:
        raise ValueError("give at least one seed")
    unknown_fields = set(common) - {f.name for f in dataclasses.fields(RunConfig)}
    if unknown_fields:
        raise ValueError(f"unknown run setting(s) {sorted(unknown_fields)}; "
                         f"known: {[f.name for f in dataclasses.fields(RunConfig)]}")
    for key in ("dataset", "method", "prune_rate", "seed", "params"):
        if key in common:
            raise ValueError(f"pass {key} through plan_sweep's own arguments, not as a common setting")
    method_params = dict(method_params or {})
    stray = set(method_params) - set(method_list)
    if stray:
        raise ValueError(f"method_params names method(s) not in the sweep: {sorted(stray)}")
    configs: list[RunConfig] = []
    for seed in seed_list:
        if include_full and FULL not in method_list:
            configs.append(RunConfig(dataset, FULL, 0.0, seed, **common))
        for method in method_list:
            params = method_params.get(method, {})
            if method == FULL or method in REWEIGHTING_METHODS:
                configs.append(RunConfig(dataset, method, 0.0, seed, params, **common))
                continue
            if not rates:
                raise ValueError("give at least one pruning rate")
            for rate in rates:
                configs.append(RunConfig(dataset, method, rate, seed, params, **common))
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
    """What `run_sweep` did."""

    planned: int
    skipped: int
    completed: int = 0
    failed: list[tuple[str, str, str]] = field(default_factory=list)  # (run_id, description, error)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed

    def summary(self) -> str:
        s = (f"{self.planned} runs planned, {self.skipped} already stored, {self.completed} completed, "
             f"{len(self.failed)} failed in {self.seconds:.1f} s")
        return s


def _execute(config: RunConfig, store: Any, cache_dir: Any, data_dir: Any, runner: Callable[..., dict]) -> dict:
    """Worker body: run one config and store its row (the worker writes, so a kill loses only this run)."""
    t0 = time.perf_counter()
    try:
        row = runner(config, cache_dir=cache_dir, data_dir=data_dir)
        if row.get("run_id") != config.run_id:
            raise RuntimeError(f"runner returned a row for run {row.get('run_id')!r}, expected {config.run_id!r}")
        added = store.add(row)
        return {"run_id": config.run_id, "ok": True, "added": added, "accuracy": row.get("accuracy"),
                "seconds": time.perf_counter() - t0}
    except Exception as exc:  # reported by the parent; the sweep goes on
        return {"run_id": config.run_id, "ok": False, "error": f"{type(exc).__name__}: {exc}",
                "traceback": traceback.format_exc(), "seconds": time.perf_counter() - t0}


def _init_worker(threads: int) -> None:
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)


def _mp_context():
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


def run_sweep(configs: Iterable[RunConfig], store: Any, *, workers: int = 1, progress: bool = True,
              on_progress: Callable[[int, int, dict], None] | None = None,
              cache_dir: str | os.PathLike | None = None, data_dir: str | os.PathLike | None = None,
              runner: Callable[..., dict] = run_one, threads_per_worker: int | None = None) -> SweepReport:
    """Run every config whose `run_id` is not yet in `store`; each finished run's row is stored at once.

    `workers` > 1 runs independent configs in that many processes (each limited to
    `threads_per_worker` BLAS/torch threads, default cores // workers). Runs sharing data
    preparation start one per group first, so the cached features/scores are computed once
    rather than by every worker. Failures are collected in the report (with tracebacks
    logged to stderr) without stopping the sweep. `on_progress(done, total, result)` is
    called after each run. `runner` replaces `run_one` (tests, cluster shims); it must be
    a picklable module-level function when `workers` > 1.
    """
    start = time.perf_counter()
    if isinstance(workers, bool) or int(workers) < 1:
        raise ValueError(f"workers must be a positive integer, got {workers!r}")
    workers = int(workers)
    configs = _dedupe(configs)
    for c in configs:
        if not isinstance(c, RunConfig):
            raise ValueError(f"run_sweep takes RunConfig objects (see plan_sweep), got {type(c).__name__}")
    stored = store.run_ids()
    pending = [c for c in configs if c.run_id not in stored]
    report = SweepReport(planned=len(configs), skipped=len(configs) - len(pending))
    if not pending:
        report.seconds = time.perf_counter() - start
        return report

    from tqdm.auto import tqdm

    bar = tqdm(total=len(pending), desc="sweep", unit="run", disable=not progress)
    done = 0

    def finish(config: RunConfig, result: dict) -> None:
        nonlocal done
        done += 1
        if result["ok"]:
            report.completed += 1
            acc = result.get("accuracy")
            bar.set_postfix_str(f"{config.method}@{config.prune_rate:g} s{config.seed}: "
                                f"{'-' if acc is None else f'{100 * acc:.1f}%'}", refresh=False)
        else:
            report.failed.append((config.run_id, config.describe(), result["error"]))
            bar.write(f"FAILED {config.describe()}: {result['error']}", file=sys.stderr)
            if progress:
                bar.write(result.get("traceback", ""), file=sys.stderr)
        bar.update(1)
        if on_progress is not None:
            on_progress(done, len(pending), {**result, "config": config})

    try:
        if workers == 1:
            for config in pending:
                finish(config, _execute(config, store, cache_dir, data_dir, runner))
        else:
            _run_parallel(pending, store, workers, cache_dir, data_dir, runner, finish, threads_per_worker)
    finally:
        bar.close()
        report.seconds = time.perf_counter() - start
    return report


def _run_parallel(pending: list[RunConfig], store: Any, workers: int, cache_dir: Any, data_dir: Any,
                  runner: Callable[..., dict], finish: Callable[[RunConfig, dict], None],
                  threads_per_worker: int | None) -> None:
    # One run per data-preparation group first: it fills the shared feature/score caches.
    first_of_group: dict[tuple, RunConfig] = {}
    for c in pending:
        first_of_group.setdefault(c.prepare_key(), c)
    leaders = list(first_of_group.values())
    leader_ids = {c.run_id for c in leaders}
    followers = [c for c in pending if c.run_id not in leader_ids]
    threads = threads_per_worker or max(1, (os.cpu_count() or 1) // workers)

    def new_pool() -> ProcessPoolExecutor:
        return ProcessPoolExecutor(max_workers=workers, mp_context=_mp_context(), initializer=_init_worker,
                                   initargs=(threads,))

    pool = new_pool()
    try:
        for batch in (leaders, followers):
            queue = list(batch)
            futures: dict[Any, RunConfig] = {}
            while queue or futures:
                while queue and len(futures) < 2 * workers:  # a short queue: Ctrl-C cancels little
                    config = queue.pop(0)
                    try:
                        futures[pool.submit(_execute, config, store, cache_dir, data_dir, runner)] = config
                    except BrokenProcessPool:  # a worker died earlier: start a fresh pool
                        pool.shutdown(wait=False, cancel_futures=True)
                        pool = new_pool()
                        futures[pool.submit(_execute, config, store, cache_dir, data_dir, runner)] = config
                finished, _ = wait(futures, return_when=FIRST_COMPLETED)
                for fut in finished:
                    config = futures.pop(fut)
                    try:
                        result = fut.result()
                    except Exception as exc:  # the worker process died (OOM kill, segfault)
                        result = {"run_id": config.run_id, "ok": False,
                                  "error": f"worker died: {type(exc).__name__}: {exc}"}
                    finish(config, result)
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
