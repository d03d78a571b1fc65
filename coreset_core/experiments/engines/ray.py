"""The Ray engine: one Ray task per run, on a local Ray instance or an existing cluster.

Without an address the driver starts a private local instance (`ray.init(address="local")`)
whose processes die with the driver, also on SIGKILL (Ray's fate-sharing, plus `reaper` for
the agents that outlive it); with `address` it joins a running
cluster (`ray start --head` on one machine, `ray start --address HEAD:6379` on the others),
whose workers stop the driver's tasks when the driver dies. Each run is a task declaring
its resources (one CPU; one GPU for runs on `cuda`). The driver keeps at most a few tasks
per CPU in flight, so Ctrl-C cancels little, and writes every row itself.

Joining a cluster: an address where nothing listens is refused at once, one that does not
let the driver in within `CONNECT_TIMEOUT_S` (a wrong port, a missing auth token) after that,
both naming the address; the connection is made in a helper thread so that SIGTERM and
Ctrl-C stop the driver at once even then. Tasks are spread over the nodes, each stored row
records the node that ran it, and a task whose node dies is run again elsewhere.

A cluster needs one cache every node can read and write: before the first run, a probe
task on every node looks for a file the driver just wrote into the cache folder, and the
sweep stops with a message naming the node and the fix when one cannot see it.
"""
from __future__ import annotations

import logging
import os
import time
import uuid
from collections import deque
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

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
#: How long a driver waits for a cluster that accepted the TCP connection to answer as Ray
#: (Ray itself retries for minutes); a port where nothing listens is refused at once.
CONNECT_TIMEOUT_S = 15.0
#: Seconds the TCP check of `--address` waits for the head node to accept.
TCP_TIMEOUT_S = 5.0
#: Retries of a task whose worker or node died (the run goes to another node); errors inside
#: a run never raise (`RunTask` returns them), so they are never retried.
SYSTEM_RETRIES = 2
AUTH_HINT = ("if the cluster uses Ray's token authentication (`ray start` turns it on when a token exists), the "
             "driver needs the same token: export RAY_AUTH_MODE=token and RAY_AUTH_TOKEN_PATH=<the token file> "
             "(default ~/.ray/auth_token; see docs/cluster.md)")


def _host_port(address: str) -> tuple[str, int] | None:
    """(host, port) of a `--address`, or None for the names Ray resolves itself ("auto")."""
    text = address.strip()
    if text == "auto":
        return None
    default_port = 10001 if text.startswith("ray://") else None
    text = text.removeprefix("ray://")
    host, sep, port = text.rpartition(":")
    if not sep and default_port is not None:
        host, port = text, str(default_port)
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"--address {address!r} must read HOST:PORT (e.g. 127.0.0.1:6379, what `ray start --head` "
                         "prints) or ray://HOST:10001")
    return host.strip("[]"), int(port)


def check_reachable(address: str, timeout: float = TCP_TIMEOUT_S) -> None:
    """Raise ValueError naming `address` unless something accepts a TCP connection there."""
    import socket

    target = _host_port(address)
    if target is None:
        return
    try:
        socket.create_connection(target, timeout=timeout).close()
    except OSError as exc:
        why = "connection refused: nothing listens there" if isinstance(exc, ConnectionRefusedError) else \
            f"{type(exc).__name__}: {exc.strerror or exc}"
        raise ValueError(f"no Ray cluster at {address} ({why}); start the head node with `ray start --head "
                         f"--port {target[1]}` and pass the address it prints, or fix --address") from None


def _init_in_thread(init: Callable[[], Any], address: str, timeout: float) -> None:
    """Run `init` (a `ray.init` call) in a helper thread while this thread waits.

    Ray's connection loop runs in C++ and holds the driver for minutes; waiting here keeps
    the main thread responsive, so SIGTERM (default action) and Ctrl-C stop the driver at
    once while it connects, and a cluster that never answers is given up after `timeout`.
    Only for joining a cluster: a local instance must be started in the thread that lives on.
    """
    import threading

    outcome: dict[str, BaseException] = {}

    def attempt() -> None:
        try:
            init()
        except BaseException as exc:  # handed to the waiting thread
            outcome["error"] = exc

    thread = threading.Thread(target=attempt, name="ray-connect", daemon=True)
    worker_log = logging.getLogger("ray._private.worker")
    worker_log.addFilter(_not_main_thread_note)
    try:
        thread.start()
        _wait(thread, address, timeout)
    finally:
        worker_log.removeFilter(_not_main_thread_note)
    if "error" in outcome:
        raise outcome["error"]


def _not_main_thread_note(record: logging.LogRecord) -> bool:
    """Drop Ray's note that it sets no SIGTERM handler off the main thread (intended: see `_init_in_thread`)."""
    return "SIGTERM handler is not set" not in record.getMessage()


def _wait(thread: Any, address: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while thread.is_alive():
        thread.join(0.1)
        if time.monotonic() > deadline:
            raise ValueError(f"the Ray cluster at {address} did not let this driver in within {timeout:.0f} s: "
                             f"{AUTH_HINT}; otherwise check that {address} is the head node's port (the address "
                             "`ray start --head` prints)")


def connect(address: str | None = None, *, num_cpus: int | None = None) -> bool:
    """Connect to Ray (an existing connection is reused); True when this call started it.

    No `address`: a new private local instance (never a stray cluster found in /tmp/ray),
    watched by `reaper` so that none of its processes outlives this one. With `address`: a
    port where nothing listens is refused at once, a cluster that does not answer within
    `CONNECT_TIMEOUT_S`, or refuses the driver (a missing token), with the address named.
    Pair with `disconnect`.
    """
    global _REAPER
    ray = import_ray()
    if ray.is_initialized():
        return False
    options: dict[str, Any] = dict(log_to_driver=False, configure_logging=False)
    try:
        if address:
            check_reachable(address)
            _init_in_thread(lambda: ray.init(address=address, **options), address, CONNECT_TIMEOUT_S)
        else:
            _REAPER = start_reaper()
            # In this thread: Ray ties the processes it starts to the starting thread's life (PR_SET_PDEATHSIG).
            ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, **options)
    except ConnectionError as exc:
        raise ValueError(f"could not connect to the Ray cluster at {address!r} ({exc}); {AUTH_HINT}. Is the head "
                         "node running (`ray status --address ...`)?") from None
    except Exception as exc:
        if type(exc).__name__ == "AuthenticationError":
            raise ValueError(f"the Ray cluster at {address!r} refused the driver's authentication ({exc}); "
                             f"{AUTH_HINT}") from None
        raise
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
    """The Ray task body (module level: Ray ships it by reference): the row says which node ran it."""
    outcome = task(config)
    node = this_node()
    outcome.worker = f"{node}:{outcome.worker}"
    if isinstance(outcome.row, dict):
        outcome.row["node"] = node
    elif outcome.row is not None and hasattr(outcome.row, "node"):
        outcome.row.node = node
    return outcome


def this_node() -> str:
    """The Ray node id (hex) of the worker this runs in."""
    return import_ray().get_runtime_context().get_node_id()


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
                        ref = remote.options(max_retries=SYSTEM_RETRIES, scheduling_strategy="SPREAD",
                                             name=f"coreset run {config.run_id}",
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
