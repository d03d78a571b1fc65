"""Sweep engines: where the runs of a sweep execute.

An engine takes the pending `RunConfig`s of a sweep and yields `(config, RunOutcome)` pairs
as runs finish; the driver (`coreset_core.experiments.sweep.run_sweep`) stores the rows, shows the
progress and reports failures, so every engine writes the same rows into the same store.

| engine  | where runs execute                                   | needs              |
|---------|------------------------------------------------------|--------------------|
| `local` | this process (`workers=1`) or N worker processes     | nothing extra      |
| `ray`   | one Ray task per run, on a local or remote cluster   | `pip install ray`  |

Both leave no process behind when the driver dies (Ctrl-C or SIGKILL): local workers
watch their parent, and a Ray instance started by the driver shares its fate.

The engine protocol: `start(configs, cache_dir=, data_dir=)` checks up front what every
run needs (devices, a cache the workers can see), `run(configs, task)` yields outcomes
in completion order, `close()` releases the workers.
"""
from __future__ import annotations

import os
import socket
import time
import traceback
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

if TYPE_CHECKING:  # pragma: no cover
    from coreset_core.experiments.run_config import RunConfig

ENGINES = ("local", "ray")


@dataclass
class RunOutcome:
    """What one run gave back: its row, or the error (and traceback) that stopped it."""

    run_id: str
    ok: bool
    row: Any = None
    error: str | None = None
    traceback: str | None = None
    seconds: float = 0.0
    worker: str = ""

    @property
    def accuracy(self) -> float | None:
        row = self.row
        return getattr(row, "accuracy", None) if not isinstance(row, dict) else row.get("accuracy")


@dataclass(frozen=True)
class RunTask:
    """The work an engine ships to its workers: `runner(config, cache_dir=, data_dir=)` -> a row."""

    runner: Callable[..., Any]
    cache_dir: str | None = None
    data_dir: str | None = None

    def __call__(self, config: "RunConfig") -> RunOutcome:
        """Run one config; any exception becomes a failed outcome (the sweep goes on)."""
        t0 = time.perf_counter()
        worker = f"{socket.gethostname()}:{os.getpid()}"
        try:
            row = self.runner(config, cache_dir=self.cache_dir, data_dir=self.data_dir)
            row_id = row.get("run_id") if isinstance(row, dict) else getattr(row, "run_id", None)
            if row_id != config.run_id:
                raise RuntimeError(f"runner returned a row for run {row_id!r}, expected {config.run_id!r}")
            return RunOutcome(config.run_id, True, row, seconds=time.perf_counter() - t0, worker=worker)
        except Exception as exc:
            return RunOutcome(config.run_id, False, None, f"{type(exc).__name__}: {exc}", traceback.format_exc(),
                              time.perf_counter() - t0, worker)


def preparation_phases(configs: Sequence["RunConfig"]) -> list[list["RunConfig"]]:
    """[one run per data setting, the rest]: the first phase fills the shared feature/score
    caches, so parallel workers do not all compute the same features at once."""
    leaders: dict[str, RunConfig] = {}
    for c in configs:
        leaders.setdefault(c.prepare_key(), c)
    ids = {c.run_id for c in leaders.values()}
    return [p for p in (list(leaders.values()), [c for c in configs if c.run_id not in ids]) if p]


class Engine:
    """Base class: the protocol every engine follows (see the module docstring)."""

    name = "engine"

    def start(self, configs: Sequence["RunConfig"], *, cache_dir: Any = None, data_dir: Any = None) -> None:
        """Check, before any run starts, what the runs need (raise ValueError naming the fix)."""

    def run(self, configs: Sequence["RunConfig"], task: RunTask) -> Iterator[tuple["RunConfig", RunOutcome]]:
        raise NotImplementedError

    def close(self) -> None:
        """Release workers (also after an interrupt); safe to call twice."""


def check_engine_options(engine: Any, *, workers: int | None = None, address: str | None = None) -> None:
    """The one check of an engine name and its options (`coreset sweep`, `coreset features`, `make_engine`)."""
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    if engine != "ray" and address:
        raise ValueError("--address names a Ray cluster: add --engine ray")
    if engine == "ray" and workers not in (None, 1):
        raise ValueError("--workers is the local engine's; Ray uses the cluster's CPUs (start it with "
                         "`ray start --head --num-cpus N`, or leave --workers out)")


def make_engine(engine: Any = "local", *, workers: int = 1, address: str | None = None,
                threads_per_worker: int | None = None) -> Engine:
    """An engine by name ("local" or "ray") with its options, or `engine` itself if it is one."""
    if isinstance(engine, Engine):
        return engine
    check_engine_options(engine, workers=workers, address=address)
    if engine == "local":
        from coreset_core.experiments.engines.local import LocalEngine

        return LocalEngine(workers=workers, threads_per_worker=threads_per_worker)
    from coreset_core.experiments.engines.ray import RayEngine

    return RayEngine(address=address)
