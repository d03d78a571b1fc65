"""The local engine: runs in this process, or in N worker processes of this machine.

Workers are `spawn`ed children of the driver that die with it: each asks the kernel for
SIGKILL when its parent dies (Linux `prctl(PR_SET_PDEATHSIG)`) and also watches
`os.getppid()` from a thread (every platform), so a Ctrl-C'd or SIGKILL'd driver leaves
no worker, no forkserver and (once its last holder is gone) no resource tracker behind.
Workers ignore SIGINT: the driver decides, and terminates them on an interrupt.
"""
from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading
import time
from collections import deque
from multiprocessing.connection import wait
from typing import Any, Iterator, Sequence

from coreset_core.experiments.engines import Engine, RunOutcome, RunTask, preparation_phases

#: Seconds between a worker's checks that its driver is still alive.
PARENT_POLL_SECONDS = 0.5
#: A worker's first message: it started (a worker that dies before sending it never could).
READY = "ready"
SPAWN_HINT = ("sweep worker processes could not start (exit code {code}); a script that runs a sweep with "
              "workers > 1 must guard its code with `if __name__ == \"__main__\":` (processes are spawned)")


def _die_with_parent(parent_pid: int) -> None:
    """Exit this process as soon as `parent_pid` is no longer its parent."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG = 1
        except (OSError, AttributeError):
            pass  # the watchdog thread below still covers it

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(PARENT_POLL_SECONDS)
        os._exit(1)

    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)
    threading.Thread(target=watch, name="watch-parent", daemon=True).start()


def _limit_threads(threads: int) -> None:
    """At most `threads` BLAS/OpenMP/torch threads here (two workers on two cores must not run four)."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)  # for libraries loaded from now on
    try:  # and for those already loaded (numpy's BLAS, imported with the main module)
        from threadpoolctl import threadpool_limits

        threadpool_limits(threads)
    except ImportError:
        pass
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)


def _worker_main(conn: Any, parent_pid: int, threads: int) -> None:
    """A worker's loop: receive (task, config), send the outcome back; stop on None or EOF."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent(parent_pid)
    _limit_threads(threads)
    conn.send(READY)
    while True:
        try:
            item = conn.recv()
        except (EOFError, OSError):
            return
        if item is None:
            return
        task, config = item
        conn.send(task(config))


class _Worker:
    """One worker process and the pipe to it."""

    def __init__(self, ctx: Any, threads: int):
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_worker_main, args=(child, os.getpid(), threads), daemon=True,
                                   name="coreset-sweep-worker")
        self.process.start()
        child.close()
        self.config: Any = None  # the run in flight, if any
        self.started = False

    def submit(self, task: RunTask, config: Any) -> None:
        self.config = config
        try:
            self.conn.send((task, config))
        except OSError:
            pass  # the process is gone: `collect` reports it

    def collect(self, ready: list) -> RunOutcome | None:
        """The finished run's outcome, a failure if the process died, None if still busy."""
        if self.conn not in ready and self.process.sentinel not in ready:
            return None
        try:
            while self.conn.poll():
                message = self.conn.recv()
                if message != READY:
                    return message
                self.started = True
        except (EOFError, OSError):
            pass
        if self.process.is_alive():
            return None
        self.process.join(1)
        if not self.started:
            raise RuntimeError(SPAWN_HINT.format(code=self.process.exitcode))
        return RunOutcome(self.config.run_id, False, None,
                          f"worker process died (exit code {self.process.exitcode}; out of memory?)")

    def stop(self, now: bool) -> None:
        if not now and self.process.is_alive():
            try:
                self.conn.send(None)
            except OSError:
                pass
            self.process.join(1)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)
        self.conn.close()


class LocalEngine(Engine):
    """`workers` == 1: runs in this process, one after another; more: that many worker processes,
    each limited to `threads_per_worker` BLAS/torch threads (default cores // workers)."""

    name = "local"

    def __init__(self, workers: int = 1, threads_per_worker: int | None = None):
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ValueError(f"workers must be a positive whole number, got {workers!r}")
        self.workers = workers
        self.threads = int(threads_per_worker or max(1, (os.cpu_count() or 1) // workers))
        self._pool: list[_Worker] = []

    def start(self, configs: Sequence[Any], *, cache_dir: Any = None, data_dir: Any = None) -> None:
        from coreset_core.validation import check_device

        for device in sorted({c.device for c in configs}):
            check_device(device)  # once, here: not every run failing one by one

    def run(self, configs: Sequence[Any], task: RunTask) -> Iterator[tuple[Any, RunOutcome]]:
        if self.workers == 1:
            for config in configs:
                yield config, task(config)
            return
        ctx = multiprocessing.get_context("spawn")
        try:  # start every worker now: their start-up (imports) overlaps the first phase
            self._pool = [_Worker(ctx, self.threads) for _ in range(min(self.workers, len(configs)))]
            for phase in preparation_phases(configs):
                yield from self._run_phase(ctx, phase, task)
        finally:
            self.close()

    def _run_phase(self, ctx: Any, phase: list, task: RunTask) -> Iterator[tuple[Any, RunOutcome]]:
        queue = deque(phase)
        while queue or any(w.config is not None for w in self._pool):
            for worker in self._pool:
                if worker.config is None and queue:
                    worker.submit(task, queue.popleft())
            busy = [w for w in self._pool if w.config is not None]
            ready = wait([w.conn for w in busy] + [w.process.sentinel for w in busy])
            for worker in busy:
                outcome = worker.collect(ready)
                if outcome is None:
                    continue
                config, worker.config = worker.config, None
                if not worker.process.is_alive():  # replace a dead worker
                    worker.stop(now=True)
                    self._pool[self._pool.index(worker)] = _Worker(ctx, self.threads)
                yield config, outcome

    def close(self) -> None:
        pool, self._pool = self._pool, []
        for worker in pool:
            worker.stop(now=worker.config is not None)
