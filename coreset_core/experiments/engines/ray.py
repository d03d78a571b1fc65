"""The Ray engine: one Ray task per run, on a local Ray instance or an existing cluster.

Without an address the driver starts a private local instance (`ray.init(address="local")`)
whose processes die with the driver, also on SIGKILL (Ray's fate-sharing, plus `reaper` for
the agents that outlive it); with `address` it joins a running
cluster (`ray start --head` on one machine, `ray start --address HEAD:6379` on the others),
whose workers stop the driver's tasks when the driver dies. Each run is a task declaring
its resources (one CPU; one GPU for runs on `cuda`). The driver keeps at most a few tasks
per CPU in flight, so Ctrl-C cancels little, and writes every row itself.

A cluster needs one cache every node can read and write: before the first run, a probe
task on every node looks for a file the driver just wrote into the cache folder, and the
sweep stops with a message naming the node and the fix when one cannot see it.
"""
from __future__ import annotations

import os
import uuid
from collections import deque
from pathlib import Path
from typing import Any, Iterator, Sequence

from coreset_core.experiments.engines import Engine, RunOutcome, RunTask, preparation_phases
from coreset_core.experiments.engines.reaper import start_reaper, stop_reaper

INSTALL_HINT = "the ray engine needs Ray: pip install 'coreset-studio[ray]' (or pip install ray)"
#: Tasks in flight per CPU of the cluster (a short queue: Ctrl-C cancels little, workers stay busy).
IN_FLIGHT_PER_CPU = 2
PROBE_PREFIX = ".coreset-ray-probe-"


def import_ray():
    """The `ray` module, or a ValueError saying how to install it."""
    try:
        import ray
    except ImportError:
        raise ValueError(INSTALL_HINT) from None
    return ray


_REAPER: Any = None


def connect(address: str | None = None, *, num_cpus: int | None = None) -> bool:
    """Connect to Ray (an existing connection is reused); True when this call started it.

    No `address`: a new private local instance (never a stray cluster found in /tmp/ray),
    watched by `reaper` so that none of its processes outlives this one. Pair with `disconnect`.
    """
    global _REAPER
    ray = import_ray()
    if ray.is_initialized():
        return False
    options: dict[str, Any] = dict(log_to_driver=False, configure_logging=False)
    try:
        if address:
            ray.init(address=address, **options)
        else:
            _REAPER = start_reaper()
            ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, **options)
    except ConnectionError as exc:
        raise ValueError(f"could not reach the Ray cluster at {address!r} ({exc}); start it with "
                         "`ray start --head` and pass the address it prints, e.g. --address HEAD_IP:6379") from None
    return True


def disconnect() -> None:
    """Leave Ray (stopping a local instance `connect` started) and release its watchdog."""
    global _REAPER
    import_ray().shutdown()
    stop_reaper(_REAPER)
    _REAPER = None


def _probe(folder: str, token: str, data_dir: str | None) -> str | None:
    """On a worker: why this node cannot use the driver's cache (and data) folder, or None."""
    cache = Path(folder)
    if not (cache / f"{PROBE_PREFIX}{token}").is_file():
        return f"cannot see the cache folder {folder} (the driver's probe file is not there)"
    test = cache / f"{PROBE_PREFIX}{token}.{os.getpid()}"
    try:
        test.write_bytes(b"ok")
        test.unlink()
    except OSError as exc:
        return f"cannot write into the cache folder {folder} ({exc.strerror})"
    if data_dir is not None and not Path(data_dir).is_dir():
        return f"cannot see the data folder {data_dir}"
    return None


def check_shared_folders(cache_dir: str, data_dir: str | None = None) -> None:
    """Raise ValueError unless every alive Ray node sees (and can write) `cache_dir` and sees `data_dir`."""
    ray = import_ray()
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    token = uuid.uuid4().hex
    marker = Path(cache_dir) / f"{PROBE_PREFIX}{token}"
    try:
        Path(cache_dir).mkdir(parents=True, exist_ok=True)
        marker.write_bytes(b"probe")
    except OSError as exc:
        raise ValueError(f"cannot write the cache folder {cache_dir} ({exc.strerror}); choose a writable "
                         "--cache-dir") from None
    try:
        probe = ray.remote(_probe)
        nodes = [n for n in ray.nodes() if n.get("Alive")]
        refs = {n.get("NodeManagerAddress", "?"): probe.options(
            num_cpus=0, max_retries=0,
            scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False)).remote(
                cache_dir, token, data_dir) for n in nodes}
        problems = {node: ray.get(ref) for node, ref in refs.items()}
    finally:
        marker.unlink(missing_ok=True)
    bad = {node: why for node, why in problems.items() if why}
    if bad:
        node, why = next(iter(bad.items()))
        raise ValueError(f"the Ray worker on node {node} {why}. A cluster needs one cache every node can read and "
                         "write: put --cache-dir (and --data-dir) on a shared filesystem mounted at the same path "
                         "on every node (see docs/cluster.md)")


def _run_task(task: RunTask, config: Any) -> RunOutcome:
    """The Ray task body (module level: Ray ships it by reference)."""
    return task(config)


def resources_of(config: Any) -> dict[str, float]:
    """What one run asks the Ray scheduler for: a CPU, and a GPU when it runs on `cuda`."""
    return {"num_cpus": 1, "num_gpus": 1 if config.device == "cuda" else 0}


class RayEngine(Engine):
    """Runs each config as a Ray task; `address` None starts (and later stops) a local instance."""

    name = "ray"

    def __init__(self, address: str | None = None, *, num_cpus: int | None = None,
                 max_in_flight: int | None = None):
        self.address = address or None
        self.num_cpus = num_cpus
        self.max_in_flight = max_in_flight
        self._owned = False
        self._folders: tuple[str, str | None] = ("", None)

    def start(self, configs: Sequence[Any], *, cache_dir: Any = None, data_dir: Any = None) -> None:
        from coreset_core.config import default_cache_dir, resolve_dir

        self._owned = connect(self.address, num_cpus=self.num_cpus) or self._owned
        ray = import_ray()
        resources = ray.cluster_resources()
        if any(c.device == "cuda" for c in configs) and resources.get("GPU", 0) < 1:
            raise ValueError("runs on --device cuda were asked for but the Ray cluster has no GPU; add a GPU node "
                             "(`ray start --address HEAD:6379 --num-gpus 1`) or use --device cpu")
        if self.max_in_flight is None:
            self.max_in_flight = max(2, IN_FLIGHT_PER_CPU * int(resources.get("CPU", 1)))
        # Workers may run elsewhere, with another environment: send them absolute folders.
        cache = str(Path(resolve_dir(cache_dir, default_cache_dir())).resolve())
        data = None if data_dir is None else str(Path(data_dir).expanduser().resolve())
        check_shared_folders(cache, data)
        self._folders = (cache, data)

    def run(self, configs: Sequence[Any], task: RunTask) -> Iterator[tuple[Any, RunOutcome]]:
        ray = import_ray()
        task = RunTask(task.runner, *self._folders)
        remote = ray.remote(_run_task)
        in_flight: dict[Any, Any] = {}
        try:
            for phase in preparation_phases(configs):
                queue = deque(phase)
                while queue or in_flight:
                    while queue and len(in_flight) < self.max_in_flight:
                        config = queue.popleft()
                        ref = remote.options(max_retries=0, name=f"coreset run {config.run_id}",
                                             **resources_of(config)).remote(task, config)
                        in_flight[ref] = config
                    done, _ = ray.wait(list(in_flight), num_returns=1)
                    for ref in done:
                        config = in_flight.pop(ref)
                        yield config, self._outcome(ray, ref, config)
        finally:
            for ref in in_flight:
                ray.cancel(ref, force=True)

    @staticmethod
    def _outcome(ray: Any, ref: Any, config: Any) -> RunOutcome:
        try:
            return ray.get(ref)
        except Exception as exc:  # the worker died (OOM kill, node lost), the task was cancelled
            return RunOutcome(config.run_id, False, None, f"Ray task failed: {type(exc).__name__}: {exc}")

    def close(self) -> None:
        if self._owned:
            disconnect()
            self._owned = False
